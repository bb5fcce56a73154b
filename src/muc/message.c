/*
 * message.c - what occupants say (XEP-0045 §7.4 groupchat, §7.5 private
 * messages, §7.8 invitations (mediated, §7.8.2, with §7.9 <continue/>)
 * and declines (§7.8.3),
 * §7.13 / §8.6 voice requests and their approval, §8.1 subject changes,
 * §7.2.14 history and §7.2.15 subject on entering), IQs to occupants
 * (§17.4: forwarded to one session of the nick under a fresh id and the
 * answer routed back to the asking session; see the comment there; §6.6
 * disco from non-occupants is a <bad-request/>) and
 * XEP-0410 self-ping (§3.3 answered by the room), XEP-0359 stanza ids set
 * by the room and XEP-0421 occupant ids.
 * Direct invitations (XEP-0249) travel user to user and never reach here.
 */
#include "muc/muc.h"

#include <stdlib.h>
#include <string.h>

#include "core/jid.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/mam_util.h"
#include "router/router.h"
#include "stream/frame.h"
#include "xml/xml.h"

#define MUC_INVITES_MAX 10      /* <invite/>s in one message */
#define MUC_THREAD_MAX  256     /* bytes of a <continue thread=''/> (§7.9) */

/*
 * Fan-out (issue 6 performance requirement): the stanza is serialized
 * once into a frame (stream/frame.h) whose bytes every occupant's stream
 * shares; each connection writes them with its occupant's 'to' inserted.
 * No stanza is built per occupant: XEP-0198 queues a frame reference, and
 * only the rare paths (an occupant whose session is not local, a session
 * ending with the message unacknowledged) rebuild a stanza.
 */
void muc_fanout(struct muc_room *room, struct stanza *st)
{
    if (!room->occupants)
        return;
    struct frame *f = frame_new(st);
    for (struct muc_occupant *o = room->occupants; o; o = o->next)
        muc_deliver_frame(room->svc, o, f);
    frame_unref(f);
}

static void add_status(struct arena *a, struct xml_node *x, int code)
{
    char buf[8];
    snprintf(buf, sizeof(buf), "%d", code);
    xml_set_attr(a, xml_add_child(a, x, NULL, "status"), "code", buf);
}

void muc_room_status_message(struct muc_room *room, const int *codes, size_t ncodes)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "message");
    xml_set_attr(st->arena, st->root, "from", room->jid);
    xml_set_attr(st->arena, st->root, "type", "groupchat");
    char id[MAM_ID_LEN + 1];
    mam_new_id(id);
    xml_set_attr(st->arena, st->root, "id", id);
    struct xml_node *x = xml_add_child(st->arena, st->root, NS_MUC_USER, "x");
    for (size_t i = 0; i < ncodes; i++)
        add_status(st->arena, x, codes[i]);
    muc_fanout(room, st);
    stanza_unref(st);
}

/* --- history and subject --------------------------------------------------- */

static void history_push(struct muc_room *room, struct stanza *st, long long now)
{
    size_t cap = room->svc->opts->history_size;
    if (!cap)
        return;
    struct buf b = BUF_INIT;
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    size_t at;
    if (room->hist_len == cap) {
        at = room->hist_start;
        stanza_unref(room->history[at].st);
        room->hist_start = (room->hist_start + 1) % cap;
    } else {
        at = (room->hist_start + room->hist_len) % cap;
        room->hist_len++;
    }
    room->history[at] = (struct muc_history_item){ stanza_ref(st), now, b.len };
    buf_release(&b);
}

static long attr_long(const struct xml_node *n, const char *name, long def)
{
    const char *v = xml_attr(n, name);
    if (!v || !*v)
        return def;
    char *end;
    long r = strtol(v, &end, 10);
    return *end || r < 0 ? def : r;
}

void muc_send_history(struct muc_room *room, struct muc_occupant *occ,
                      const struct xml_node *h)
{
    size_t n = room->hist_len, cap = room->svc->opts->history_size;
    if (!n)
        return;
    struct muc_history_limits lim = { -1, -1, -1, 0 };
    if (h) {
        lim.maxchars = attr_long(h, "maxchars", -1);
        lim.maxstanzas = attr_long(h, "maxstanzas", -1);
        lim.seconds = attr_long(h, "seconds", -1);
        const char *since = xml_attr(h, "since");
        long long us;
        if (since && mam_parse_datetime(since, &us) == 0)
            lim.since_us = us;
    }
    struct muc_history_entry *e = pl_malloc(n * sizeof(*e));
    for (size_t i = 0; i < n; i++) {
        const struct muc_history_item *it = &room->history[(room->hist_start + i) % cap];
        e[i] = (struct muc_history_entry){ it->stamp_us, it->chars };
    }
    size_t start = muc_history_start(e, n, &lim, muc_now_us(), room->cfg.max_history);
    free(e);
    for (size_t i = start; i < n; i++) {
        const struct muc_history_item *it = &room->history[(room->hist_start + i) % cap];
        struct stanza *c = stanza_copy(it->st);
        xml_set_attr(c->arena, c->root, "to", occ->real->full);
        /* §7.2.14: delayed delivery (XEP-0203) with the room as 'from'. */
        struct xml_node *d = xml_add_child(c->arena, c->root, NS_DELAY, "delay");
        char stamp[MAM_STAMP_MAX];
        mam_format_datetime(it->stamp_us, stamp);
        xml_set_attr(c->arena, d, "from", room->jid);
        xml_set_attr(c->arena, d, "stamp", stamp);
        muc_deliver(room->svc, occ, c);
        stanza_unref(c);
    }
}

void muc_send_subject(struct muc_room *room, struct muc_occupant *occ)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "message");
    struct arena *a = st->arena;
    /* §7.2.15: from the occupant who set it, or the room; an empty
     * <subject/> when there is none, so the client knows entry is done. */
    const char *from = room->jid;
    char *tmp = NULL;
    if (room->subject_by && *room->subject_by) {
        tmp = arena_printf(a, "%s/%s", room->jid, room->subject_by);
        from = tmp;
    }
    xml_set_attr(a, st->root, "from", from);
    xml_set_attr(a, st->root, "to", occ->real->full);
    xml_set_attr(a, st->root, "type", "groupchat");
    char id[MAM_ID_LEN + 1];
    mam_new_id(id);
    xml_set_attr(a, st->root, "id", id);
    xml_add_text_child(a, st->root, NULL, "subject", room->subject ? room->subject : "");
    muc_deliver(room->svc, occ, st);
    stanza_unref(st);
}

/* --- groupchat ----------------------------------------------------------------- */

/* The message as the room reflects it: from the occupant's room JID, no
 * 'to', and only the room's own stanza-id and occupant-id (XEP-0359 §3
 * rule 2, XEP-0421 §4: those a client put there are removed). */
static struct stanza *reflect(struct muc_room *room, const struct stanza *st,
                              const struct muc_occupant *occ)
{
    struct stanza *c = stanza_copy(st);
    struct arena *a = c->arena;
    xml_set_attr(a, c->root, "from", occ->room_jid);
    xml_set_attr(a, c->root, "to", NULL);
    for (struct xml_node **p = &c->root->children; *p;) {
        struct xml_node *n = *p;
        if (n->kind == XML_ELEMENT &&
            ((xml_is(n, NS_SID, "stanza-id") && xml_attr(n, "by") &&
              strcmp(xml_attr(n, "by"), room->jid) == 0) ||
             xml_is(n, NS_OCCUPANT_ID, "occupant-id") || xml_is(n, NS_DELAY, "delay"))) {
            *p = n->next;
            continue;
        }
        p = &n->next;
    }
    c->root->last = NULL;
    for (struct xml_node *m = c->root->children; m; m = m->next)
        c->root->last = m;
    xml_set_attr(a, xml_add_child(a, c->root, NS_OCCUPANT_ID, "occupant-id"), "id",
                 occ->occupant_id);
    return c;
}

static void groupchat(struct muc_room *room, struct stanza *st, struct muc_occupant *occ)
{
    struct server *srv = room->svc->srv;
    struct xml_node *subject = xml_child(st->root, NULL, "subject");
    struct xml_node *body = xml_child(st->root, NULL, "body");
    if (occ->role < MUC_ROLE_PARTICIPANT) {
        /* §7.4 / §5.1.1: visitors of a moderated room have no voice. */
        muc_error(srv, st, "auth", "forbidden", "you have no voice in this room");
        return;
    }
    if (!muc_bucket_take(&occ->bucket, room->svc->opts->msg_rate, muc_mono_ms())) {
        muc_error(srv, st, "wait", "resource-constraint", "you are sending messages too fast");
        return;
    }
    struct arena *tmp = arena_new(256);
    if (subject && !body) {
        /* §8.1: moderators, or participants where the room allows it. */
        if (occ->role != MUC_ROLE_MODERATOR && !room->cfg.change_subject) {
            muc_error(srv, st, "auth", "forbidden", "you may not change the subject");
            arena_free(tmp);
            return;
        }
        const char *text = xml_text(tmp, subject);
        if (strlen(text) > MUC_SUBJECT_MAX) {
            muc_error(srv, st, "modify", "not-acceptable", "subject too long");
            arena_free(tmp);
            return;
        }
        free(room->subject);
        free(room->subject_by);
        room->subject = pl_strdup(text);
        room->subject_by = pl_strdup(occ->nick);
        if (room->cfg.persistent)
            muc_persist_save(room, st);
    }
    arena_free(tmp);
    struct stanza *c = reflect(room, st, occ);
    char id[MAM_ID_LEN + 1];
    mam_new_id(id);
    struct xml_node *sid = xml_add_child(c->arena, c->root, NS_SID, "stanza-id");
    xml_set_attr(c->arena, sid, "id", id);
    xml_set_attr(c->arena, sid, "by", room->jid);
    if (body) {
        history_push(room, c, muc_now_us());
        if (room->cfg.logging)
            muc_archive_store(room, c, id, occ->room_jid);
    }
    muc_fanout(room, c);
    stanza_unref(c);
}

/* --- private messages (§7.5) ----------------------------------------------- */

static bool may_pm(const struct muc_room *room, const struct muc_occupant *occ)
{
    switch (room->cfg.allowpm) {
    case MUC_PM_ANYONE:
        return true;
    case MUC_PM_PARTICIPANTS:
        return occ->role >= MUC_ROLE_PARTICIPANT;
    case MUC_PM_MODERATORS:
        return occ->role == MUC_ROLE_MODERATOR;
    case MUC_PM_NONE:
        break;
    }
    return false;
}

static void private_message(struct muc_room *room, struct stanza *st, const struct jid *to,
                            struct muc_occupant *occ)
{
    struct server *srv = room->svc->srv;
    struct muc_occupant *target = muc_occupant_by_nick(room, to->resource);
    if (!target) {
        muc_error(srv, st, "cancel", "item-not-found", "no occupant with that nickname");
        return;
    }
    if (!may_pm(room, occ)) {
        muc_error(srv, st, "cancel", "not-allowed", "private messages are not allowed in this room");
        return;
    }
    if (!muc_bucket_take(&occ->bucket, room->svc->opts->msg_rate, muc_mono_ms())) {
        muc_error(srv, st, "wait", "resource-constraint", "you are sending messages too fast");
        return;
    }
    struct stanza *c = stanza_copy(st);
    xml_set_attr(c->arena, c->root, "from", occ->room_jid);
    xml_set_attr(c->arena, c->root, "to", NULL);
    /* XEP-0045 §7.5: marks the message as a MUC private message
     * (so that clients and carbons know). */
    if (!xml_child(c->root, NS_MUC_USER, "x"))
        xml_add_child(c->arena, c->root, NS_MUC_USER, "x");
    /* §7.2.9: to every session of a multi-session nick ("RECOMMENDED to
     * route to all resources"), the sessions being adjacent.  Routed, not
     * written to the session: the recipient's hooks (blocking, carbons,
     * archive) see a private message like any other chat message. */
    for (struct muc_occupant *o = target; o && strcmp(o->nick, target->nick) == 0; o = o->next) {
        struct stanza *one = o->next && strcmp(o->next->nick, target->nick) == 0
                           ? stanza_copy(c) : stanza_ref(c);
        xml_set_attr(one->arena, one->root, "to", o->real->full);
        router_route(srv, one);
        stanza_unref(one);
    }
    stanza_unref(c);
}

/* --- invitations, declines, voice requests ---------------------------------- */

static const char *child_text(struct arena *a, const struct xml_node *n, const char *name)
{
    struct xml_node *c = xml_child(n, NULL, name);
    return c ? xml_text(a, c) : NULL;
}

/* §7.8.2 mediated invitation. */
static void invite(struct muc_room *room, struct stanza *st, struct xml_node *x,
                   const struct jid *from, struct muc_occupant *occ)
{
    struct server *srv = room->svc->srv;
    if (!occ) {
        muc_error(srv, st, "modify", "not-acceptable", "only occupants may invite");
        return;
    }
    enum muc_affil af = muc_affil_of(room, from->bare);
    if (room->cfg.members_only && !room->cfg.allow_invites && af < MUC_AFFIL_ADMIN) {
        muc_error(srv, st, "auth", "forbidden", "only admins may invite to this room");
        return;
    }
    size_t n = 0;
    for (struct xml_node *inv = xml_child(x, NULL, "invite"); inv;
         inv = xml_next(inv, NULL, "invite"))
        n++;
    if (n > MUC_INVITES_MAX) {
        muc_error(srv, st, "modify", "policy-violation", "too many invitations in one message");
        return;
    }
    for (struct xml_node *inv = xml_child(x, NULL, "invite"); inv;
         inv = xml_next(inv, NULL, "invite")) {
        struct xml_node *cont = xml_child(inv, NULL, "continue");
        const char *thread = cont ? xml_attr(cont, "thread") : NULL;
        if (thread && strlen(thread) > MUC_THREAD_MAX) {
            muc_error(srv, st, "modify", "not-acceptable", "the <continue/> thread id is too long");
            return;
        }
    }
    struct arena *tmp = arena_new(512);
    bool members_added = false;
    for (struct xml_node *inv = xml_child(x, NULL, "invite"); inv;
         inv = xml_next(inv, NULL, "invite")) {
        const char *to_s = xml_attr(inv, "to");
        struct jid *to = to_s ? jid_parse(to_s) : NULL;
        if (!to) {
            muc_error(srv, st, "modify", "jid-malformed", "invitation without a valid 'to'");
            break;
        }
        const char *reason = child_text(tmp, inv, "reason");
        if (reason && strlen(reason) > MUC_REASON_MAX)
            reason = NULL;
        /* §9.3: an invitation into a members-only room by someone allowed
         * to invite makes the invitee a member. */
        if (room->cfg.members_only && muc_affil_of(room, to->bare) == MUC_AFFIL_NONE) {
            muc_affil_set(room, to->bare, MUC_AFFIL_MEMBER, NULL);
            members_added = true;
        }
        struct stanza *m = stanza_new(XML_NS_CLIENT, "message");
        struct arena *a = m->arena;
        xml_set_attr(a, m->root, "from", room->jid);
        xml_set_attr(a, m->root, "to", to->full);
        const char *id = xml_attr(st->root, "id");
        if (id)
            xml_set_attr(a, m->root, "id", id);
        struct xml_node *ux = xml_add_child(a, m->root, NS_MUC_USER, "x");
        struct xml_node *i2 = xml_add_child(a, ux, NULL, "invite");
        xml_set_attr(a, i2, "from", from->bare);
        if (reason)
            xml_add_text_child(a, i2, NULL, "reason", reason);
        /* §7.9: <continue/> (with the ThreadID of the one-to-one chat, if
         * given) tells the invitee's client to turn that chat into this
         * room; the invitations delivered carry it as sent. */
        struct xml_node *cont = xml_child(inv, NULL, "continue");
        if (cont) {
            struct xml_node *c2 = xml_add_child(a, i2, NULL, "continue");
            const char *thread = xml_attr(cont, "thread");
            if (thread)
                xml_set_attr(a, c2, "thread", thread);
        }
        if (room->cfg.password_protected)
            xml_add_text_child(a, ux, NULL, "password", room->cfg.password);
        xml_add_text_child(a, m->root, NULL, "body",
                           arena_printf(a, "%s invites you to the room %s%s%s", from->bare,
                                        room->jid, reason ? ": " : "", reason ? reason : ""));
        router_route(srv, m);
        stanza_unref(m);
        jid_free(to);
    }
    arena_free(tmp);
    /* One write for every member added by this message. */
    if (members_added && room->cfg.persistent)
        muc_persist_save(room, st);
}

/* §7.8.3: the invitee declines; the room tells the inviter. */
static void decline(struct muc_room *room, struct stanza *st, struct xml_node *x,
                    const struct jid *from)
{
    struct server *srv = room->svc->srv;
    struct xml_node *d = xml_child(x, NULL, "decline");
    const char *to_s = xml_attr(d, "to");
    struct jid *to = to_s ? jid_parse(to_s) : NULL;
    if (!to) {
        muc_error(srv, st, "modify", "jid-malformed", "decline without a valid 'to'");
        return;
    }
    struct arena *tmp = arena_new(256);
    const char *reason = child_text(tmp, d, "reason");
    struct stanza *m = stanza_new(XML_NS_CLIENT, "message");
    struct arena *a = m->arena;
    xml_set_attr(a, m->root, "from", room->jid);
    xml_set_attr(a, m->root, "to", to->full);
    struct xml_node *d2 = xml_add_child(a, xml_add_child(a, m->root, NS_MUC_USER, "x"), NULL, "decline");
    xml_set_attr(a, d2, "from", from->bare);
    if (reason && strlen(reason) <= MUC_REASON_MAX)
        xml_add_text_child(a, d2, NULL, "reason", reason);
    router_route(srv, m);
    stanza_unref(m);
    arena_free(tmp);
    jid_free(to);
}

static const char *form_value(struct arena *a, const struct xml_node *form, const char *var)
{
    for (struct xml_node *f = xml_child(form, NULL, "field"); f; f = xml_next(f, NULL, "field")) {
        const char *v = xml_attr(f, "var");
        if (v && strcmp(v, var) == 0) {
            struct xml_node *val = xml_child(f, NULL, "value");
            return val ? xml_text(a, val) : "";
        }
    }
    return NULL;
}

static void form_field(struct arena *a, struct xml_node *x, const char *var, const char *type,
                       const char *label, const char *val)
{
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "var", var);
    if (type)
        xml_set_attr(a, f, "type", type);
    if (label)
        xml_set_attr(a, f, "label", label);
    xml_add_text_child(a, f, NULL, "value", val);
}

/* §7.13 a visitor asks for voice; §8.6 a moderator answers with the same
 * form and muc#request_allow. */
static void voice_form(struct muc_room *room, struct stanza *st, struct xml_node *form,
                       struct muc_occupant *occ)
{
    struct server *srv = room->svc->srv;
    if (!occ) {
        muc_error(srv, st, "modify", "not-acceptable", "only occupants may request voice");
        return;
    }
    struct arena *tmp = arena_new(512);
    const char *allow = form_value(tmp, form, "muc#request_allow");
    bool has_allow = allow != NULL;     /* allow lives in tmp */
    if (occ->role == MUC_ROLE_MODERATOR && allow) {
        /* §8.6 approval. */
        const char *nick = form_value(tmp, form, "muc#roomnick");
        struct muc_occupant *target = nick ? muc_occupant_by_nick(room, nick) : NULL;
        if (!target) {
            muc_error(srv, st, "cancel", "item-not-found", "no occupant with that nickname");
        } else if ((strcmp(allow, "1") == 0 || strcmp(allow, "true") == 0) &&
                   target->role == MUC_ROLE_VISITOR) {
            muc_set_role(room, target, MUC_ROLE_PARTICIPANT);
            muc_broadcast_presence(room, target, NULL, 0, occ->nick, NULL);
        }
        arena_free(tmp);
        return;
    }
    arena_free(tmp);
    if (occ->role != MUC_ROLE_VISITOR) {
        /* §8.6: approving is the moderators' privilege; anyone else with
         * voice has nothing to request. */
        if (has_allow)
            muc_error(srv, st, "auth", "forbidden", "only moderators approve voice requests");
        else
            muc_error(srv, st, "modify", "bad-request", "you already have voice");
        return;
    }
    if (!muc_bucket_take(&occ->bucket, room->svc->opts->msg_rate, muc_mono_ms())) {
        muc_error(srv, st, "wait", "resource-constraint", "you are sending requests too fast");
        return;
    }
    for (struct muc_occupant *o = room->occupants; o; o = o->next) {
        if (o->role != MUC_ROLE_MODERATOR)
            continue;
        struct stanza *m = stanza_new(XML_NS_CLIENT, "message");
        struct arena *a = m->arena;
        xml_set_attr(a, m->root, "from", room->jid);
        xml_set_attr(a, m->root, "to", o->real->full);
        struct xml_node *x = xml_add_child(a, m->root, NS_XDATA, "x");
        xml_set_attr(a, x, "type", "form");
        xml_add_text_child(a, x, NULL, "title", "Voice request");
        form_field(a, x, "FORM_TYPE", "hidden", NULL, NS_MUC_REQUEST);
        form_field(a, x, "muc#role", "list-single", "Requested role", "participant");
        if (muc_sees_jids(room, o))
            form_field(a, x, "muc#jid", "jid-single", "User ID", occ->real->bare);
        form_field(a, x, "muc#roomnick", "text-single", "Room Nickname", occ->nick);
        form_field(a, x, "muc#request_allow", "boolean", "Grant voice to this person?", "false");
        muc_deliver(room->svc, o, m);
        stanza_unref(m);
    }
}

static bool is_request_form(const struct xml_node *x)
{
    struct arena *a = arena_new(128);
    const char *ft = form_value(a, x, "FORM_TYPE");
    bool r = ft && strcmp(ft, NS_MUC_REQUEST) == 0;
    arena_free(a);
    return r;
}

void muc_message(struct muc_service *svc, struct stanza *st, const struct jid *to,
                 const struct jid *from)
{
    struct server *srv = svc->srv;
    const char *type = xml_attr(st->root, "type");
    if (!type)
        type = "normal";
    if (strcmp(type, "error") == 0)
        return;                 /* never answered (RFC 6120 §8.3.1) */
    struct muc_room *room = muc_room_find(svc, to->local);
    if (room && room->locked && muc_affil_of(room, from->bare) != MUC_AFFIL_OWNER)
        room = NULL;
    if (!room) {
        muc_error(srv, st, "cancel", "item-not-found", "no such room");
        return;
    }
    struct muc_occupant *occ = muc_occupant_by_real(room, from->full);
    if (to->resource) {
        if (strcmp(type, "groupchat") == 0) {
            /* §7.5: groupchat to an occupant is a mistake. */
            muc_error(srv, st, "modify", "bad-request", "groupchat messages go to the room");
            return;
        }
        if (!occ) {
            muc_error(srv, st, "modify", "not-acceptable", "only occupants may send private messages");
            return;
        }
        private_message(room, st, to, occ);
        return;
    }
    if (strcmp(type, "groupchat") == 0) {
        if (!occ) {
            /* §7.4: only occupants talk in the room. */
            muc_error(srv, st, "modify", "not-acceptable", "you are not in the room");
            return;
        }
        groupchat(room, st, occ);
        return;
    }
    struct xml_node *ux = xml_child(st->root, NS_MUC_USER, "x");
    if (ux && xml_child(ux, NULL, "invite")) {
        invite(room, st, ux, from, occ);
        return;
    }
    if (ux && xml_child(ux, NULL, "decline")) {
        decline(room, st, ux, from);
        return;
    }
    struct xml_node *form = xml_child(st->root, NS_XDATA, "x");
    if (form && is_request_form(form)) {
        voice_form(room, st, form, occ);
        return;
    }
    muc_error(srv, st, "modify", "bad-request",
              "messages to a room are groupchat, invitations, declines or voice requests");
}

/* --- IQs to occupants (§17.4, XEP-0410) ------------------------------------ */

/*
 * §17.4: in a semi-anonymous room an IQ to an occupant JID is forwarded
 * to the occupant's real JID without revealing either real JID.  With a
 * multi-session nick (§7.2.8) the XEP says nothing on IQs (§7.2.8 covers
 * messages; the glossary leaves multi-session nicks undefined) and
 * XEP-0410 §3.2 has the request "forwarded to any one of [the user's]
 * joined clients".  An IQ has exactly one answer (RFC 6120 §8.2.3), so
 * it goes to ONE session: the nick's first (longest joined) one, under a
 * fresh id remembered here, and the answer goes back to the very session
 * that asked with its own id (an answer to a copy sent to every session
 * would have to be merged or dropped).  Never silently lost: if that
 * session leaves the room before answering, the asker gets
 * <item-not-found/> (the answer it would get asking now: XEP-0410 §4
 * names it for an occupant gone under that nick), and when too many
 * IQs wait in one room the oldest gets <resource-constraint/>.
 */
struct muc_iq_pending {
    char id[MAM_ID_LEN + 5];    /* "muc-" + random: the forwarded IQ's id */
    struct stanza *req;         /* the asker's IQ (ref): 'from' and 'id' */
    char *target;               /* full JID of the session asked, owned */
    struct muc_iq_pending *next;
};

static void pending_free(struct muc_iq_pending *p)
{
    stanza_unref(p->req);
    free(p->target);
    free(p);
}

/* Unlinks and returns the entry 'prev_next' points at. */
static struct muc_iq_pending *pending_take(struct muc_room *room,
                                           struct muc_iq_pending **prev_next)
{
    struct muc_iq_pending *p = *prev_next;
    *prev_next = p->next;
    room->niq_pending--;
    return p;
}

static void pending_add(struct muc_room *room, struct stanza *req, const char *target,
                        char id_out[MAM_ID_LEN + 5])
{
    struct server *srv = room->svc->srv;
    if (room->niq_pending >= MUC_IQ_PENDING_MAX) {
        struct muc_iq_pending *old = pending_take(room, &room->iq_pending);
        muc_error(srv, old->req, "wait", "resource-constraint",
                  "too many IQs to occupants of this room await an answer");
        pending_free(old);
    }
    struct muc_iq_pending *p = pl_calloc(1, sizeof(*p));
    memcpy(p->id, "muc-", 4);
    mam_new_id(p->id + 4);
    p->req = stanza_ref(req);
    p->target = pl_strdup(target);
    struct muc_iq_pending **tail = &room->iq_pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    room->niq_pending++;
    memcpy(id_out, p->id, sizeof(p->id));
}

void muc_iq_session_gone(struct muc_room *room, const struct muc_occupant *occ)
{
    for (struct muc_iq_pending **pp = &room->iq_pending; *pp;) {
        if (strcmp((*pp)->target, occ->real->full) != 0) {
            pp = &(*pp)->next;
            continue;
        }
        struct muc_iq_pending *p = pending_take(room, pp);
        if (!room->svc->srv->stopping)
            muc_error(room->svc->srv, p->req, "cancel", "item-not-found",
                      "the occupant left the room before answering");
        pending_free(p);
    }
}

void muc_iq_pending_release(struct muc_room *room)
{
    while (room->iq_pending)
        pending_free(pending_take(room, &room->iq_pending));
}

/* An answer (result or error) from the session an IQ was forwarded to:
 * back to the asker, from the answerer's occupant JID, with the asker's
 * id.  Only the session asked may answer (the id alone is no proof). */
static void iq_answer(struct muc_room *room, struct stanza *st, const struct jid *from,
                      struct muc_occupant *occ)
{
    const char *id = xml_attr(st->root, "id");
    struct muc_iq_pending **pp = &room->iq_pending;
    while (*pp && !(id && strcmp((*pp)->id, id) == 0 &&
                    strcmp((*pp)->target, from->full) == 0))
        pp = &(*pp)->next;
    if (!*pp)
        return;     /* no request of ours: answers are never answered (RFC 6120 §8.2.3) */
    struct muc_iq_pending *p = pending_take(room, pp);
    struct stanza *c = stanza_copy(st);
    struct arena *a = c->arena;
    /* The answerer is still an occupant (its leaving removes the entry);
     * without a session in the room (an error bounced by its server),
     * the address the asker used stands in. */
    xml_set_attr(a, c->root, "from", occ ? occ->room_jid : xml_attr(p->req->root, "to"));
    xml_set_attr(a, c->root, "to", xml_attr(p->req->root, "from"));
    xml_set_attr(a, c->root, "id", xml_attr(p->req->root, "id"));
    router_route(room->svc->srv, c);
    stanza_unref(c);
    pending_free(p);
}

void muc_iq_occupant(struct muc_service *svc, struct stanza *st, const struct jid *to,
                     const struct jid *from)
{
    struct server *srv = svc->srv;
    const char *type = xml_attr(st->root, "type");
    bool req = type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
    struct muc_room *room = muc_room_find(svc, to->local);
    if (room && room->locked && muc_affil_of(room, from->bare) != MUC_AFFIL_OWNER)
        room = NULL;
    struct muc_occupant *occ = room ? muc_occupant_by_real(room, from->full) : NULL;
    if (!req) {
        if (room && type && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0))
            iq_answer(room, st, from, occ);
        return;
    }
    struct xml_node *q = xml_child(st->root, NULL, NULL);
    if (!occ) {
        if (q && (xml_is(q, NS_DISCO_INFO, "query") || xml_is(q, NS_DISCO_ITEMS, "query"))) {
            /* XEP-0045 §6.6: "If a non-occupant attempts to send a disco
             * request to an address of the form room@service/nick, a MUC
             * service MUST return a <bad-request/> error" (type modify,
             * RFC 6120 §8.3.3.1). */
            muc_error(srv, st, "modify", "bad-request",
                      "only occupants may query an occupant");
            return;
        }
        /* XEP-0410 §3.2: a client that is not joined (or whose room is
         * gone) pinging its occupant JID learns it by <not-acceptable/>
         * and rejoins; the same answer for every other IQ a non-occupant
         * sends to an occupant JID (§17.4: only occupants talk to
         * occupants through the room).  Disco is the exception above. */
        muc_error(srv, st, "cancel", "not-acceptable", "you are not an occupant of this room");
        return;
    }
    struct muc_occupant *target = muc_occupant_by_nick(room, to->resource);
    if (target && strcmp(target->nick, occ->nick) == 0 && q && xml_is(q, NS_PING_MUC, "ping")) {
        /* XEP-0410 §3.3: self-ping answered by the service (for each
         * session of a multi-session nick), advertised as
         * muc#self-ping-optimization on the room. */
        struct stanza *r;
        iq_reply_result(st, NULL, NULL, &r);
        router_route(srv, r);
        stanza_unref(r);
        return;
    }
    if (!target) {
        muc_error(srv, st, "cancel", "item-not-found", "no occupant with that nickname");
        return;
    }
    if (!xml_attr(st->root, "id")) {
        muc_error(srv, st, "modify", "bad-request", "an IQ needs an id (RFC 6120 §8.2.3)");
        return;
    }
    char id[MAM_ID_LEN + 5];
    pending_add(room, st, target->real->full, id);
    struct stanza *c = stanza_copy(st);
    xml_set_attr(c->arena, c->root, "from", occ->room_jid);
    xml_set_attr(c->arena, c->root, "to", target->real->full);
    xml_set_attr(c->arena, c->root, "id", id);
    router_route(srv, c);
    stanza_unref(c);
}
