/*
 * presence.c - occupants coming, going and changing (XEP-0045 §7.1-§7.7,
 * §7.14): entering a room (§7.2: the order of §7.2.3 - others' presence,
 * then the new occupant's own with status 110, then history §7.2.14, then
 * the subject §7.2.15), the entry errors (§7.2.5 password, §7.2.6
 * members-only, §7.2.7 banned, §7.2.8 nickname conflict (in use, or
 * registered by another user, §7.10/§7.12), §7.2.9/§7.2.10
 * maximum occupants, §10.1.1 locked room, §7.2.1 no nickname), room
 * creation (§10.1: locked until configured, or instant for clients that
 * do not speak MUC), nickname changes (§7.6, status 303), presence
 * updates (§7.7) and exit (§7.14), multi-session nicks (§7.2.9: several
 * resources of one bare JID under one nick, one occupant that leaves with
 * its last session).  Broadcasts share one serialization per variant of
 * the presence (stream/frame.h), as groupchat fan-out does, and honour
 * muc#roomconfig_presencebroadcast (§15.5.3: roles whose presence others
 * see).  noccupants counts occupants (nicks), not sessions (§7.2.9).
 */
#include "muc/muc.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "core/acl.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "router/router.h"
#include "stream/frame.h"
#include "xml/xml.h"

bool muc_sees_jids(const struct muc_room *room, const struct muc_occupant *viewer)
{
    return room->cfg.whois == MUC_WHOIS_ANYONE || viewer->role == MUC_ROLE_MODERATOR;
}

/* XEP-0421 §4: the same user gets the same id in a room, others cannot
 * derive the JID from it: a hash keyed with the server secret. */
static void occupant_id(struct muc_room *room, const char *bare, char out[48])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    PL_ASSERT(c);
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, room->svc->srv->secret, sizeof(room->svc->srv->secret));
    EVP_DigestUpdate(c, room->jid, strlen(room->jid) + 1);
    EVP_DigestUpdate(c, bare, strlen(bare));
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

static void add_status(struct arena *a, struct xml_node *x, int code)
{
    char buf[8];
    snprintf(buf, sizeof(buf), "%d", code);
    xml_set_attr(a, xml_add_child(a, x, NULL, "status"), "code", buf);
}

/* The <item/> describing occ (§7.2.3). */
static struct xml_node *add_item(struct muc_room *room, struct arena *a, struct xml_node *x,
                                 const struct muc_occupant *occ, enum muc_role role,
                                 bool with_jid)
{
    struct xml_node *it = xml_add_child(a, x, NULL, "item");
    xml_set_attr(a, it, "affiliation", muc_affil_name(muc_affil_of(room, occ->real->bare)));
    xml_set_attr(a, it, "role", muc_role_name(role));
    if (with_jid)
        xml_set_attr(a, it, "jid", occ->real->full);
    return it;
}

struct stanza *muc_occupant_presence(struct muc_room *room, const struct muc_occupant *occ,
                                     const char *type, bool with_jid,
                                     const int *codes, size_t ncodes)
{
    struct stanza *st;
    if (occ->presence && !type) {
        st = stanza_copy(occ->presence);
    } else {
        st = stanza_new(XML_NS_CLIENT, "presence");
        if (type && occ->presence) {
            /* Exit keeps the occupant's status text (§7.14). */
            struct xml_node *s = xml_child(occ->presence->root, NULL, "status");
            if (s)
                xml_append(st->root, xml_copy(st->arena, s));
        }
    }
    struct arena *a = st->arena;
    xml_set_attr(a, st->root, "from", occ->room_jid);
    xml_set_attr(a, st->root, "to", NULL);
    xml_set_attr(a, st->root, "id", NULL);
    xml_set_attr(a, st->root, "type", type);
    struct xml_node *x = xml_add_child(a, st->root, NS_MUC_USER, "x");
    add_item(room, a, x, occ, type ? MUC_ROLE_NONE : occ->role, with_jid);
    for (size_t i = 0; i < ncodes; i++)
        add_status(a, x, codes[i]);
    struct xml_node *oid = xml_add_child(a, st->root, NS_OCCUPANT_ID, "occupant-id");
    xml_set_attr(a, oid, "id", occ->occupant_id);
    return st;
}

/* The <x muc#user/> of a presence copy, to add codes or actor to. */
static struct xml_node *user_x(struct stanza *st)
{
    return xml_child(st->root, NS_MUC_USER, "x");
}

static void add_actor_reason(struct stanza *st, const char *actor_nick, const char *reason)
{
    struct xml_node *x = user_x(st);
    struct xml_node *it = xml_child(x, NULL, "item");
    if (actor_nick)
        xml_set_attr(st->arena, xml_add_child(st->arena, it, NULL, "actor"), "nick", actor_nick);
    if (reason && *reason)
        xml_add_text_child(st->arena, it, NULL, "reason", reason);
}

/* --- multi-session nicks (§7.2.9) ------------------------------------------ */

static bool same_nick(const struct muc_occupant *a, const struct muc_occupant *b)
{
    return a == b || strcmp(a->nick, b->nick) == 0;
}

struct muc_occupant *muc_next_nick(const struct muc_occupant *occ)
{
    struct muc_occupant *o = occ->next;
    while (o && same_nick(o, occ))
        o = o->next;
    return o;
}

void muc_set_role(struct muc_room *room, struct muc_occupant *occ, enum muc_role role)
{
    for (struct muc_occupant *o = muc_occupant_by_nick(room, occ->nick); o && same_nick(o, occ);
         o = o->next)
        o->role = role;
}

/* --- broadcasting ------------------------------------------------------------ */

/*
 * Sends occ's presence (available, or 'type') to every occupant in the
 * view each one is entitled to.  The payload does not depend on the
 * recipient beyond three variants - without the real JID, with it, and
 * the occupant's own (110) - so each variant is serialized once into a
 * frame (stream/frame.h) that every recipient's stream shares, as
 * groupchat fan-out does (message.c muc_fanout).  occ's session gets the
 * own variant plus 'self_codes' (201 on creation ...); the other sessions
 * of its nick (§7.2.9) get the own variant: the occupant is theirs too.
 * When 'only_self', nobody else is told (one session of several leaving).
 * Nor are others told when occ's role is not in the room's
 * muc#roomconfig_presencebroadcast (§7.2.2, §15.5.3): the occupant's own
 * sessions still get their presence (110), everybody else nothing.
 */
static void broadcast(struct muc_room *room, struct muc_occupant *occ, const char *type,
                      const int *codes, size_t ncodes, const int *self_codes,
                      size_t nself, const char *actor_nick, const char *reason,
                      const char *new_nick, bool only_self)
{
    struct stanza *v[2];        /* without, with real JID */
    for (int j = 0; j < 2; j++) {
        v[j] = muc_occupant_presence(room, occ, type, j == 1, codes, ncodes);
        add_actor_reason(v[j], actor_nick, reason);
        if (new_nick)
            xml_set_attr(v[j]->arena, xml_child(user_x(v[j]), NULL, "item"), "nick", new_nick);
    }
    /* Self: always with the real JID (it is their own), plus 110. */
    struct stanza *self = stanza_copy(v[1]);
    add_status(self->arena, user_x(self), 110);
    struct frame *fself = frame_new(self);
    struct frame *fjoin = frame_ref(fself);
    if (nself) {
        for (size_t i = 0; i < nself; i++)
            add_status(self->arena, user_x(self), self_codes[i]);
        frame_unref(fjoin);
        fjoin = frame_new(self);
    }
    stanza_unref(self);
    if (only_self) {
        muc_deliver_frame(room->svc, occ, fjoin);
    } else {
        struct frame *f[2] = { NULL, NULL };
        bool to_others = muc_config_broadcasts(&room->cfg, occ->role);
        for (struct muc_occupant *o = room->occupants; o; o = o->next) {
            if (o == occ) {
                muc_deliver_frame(room->svc, o, fjoin);
            } else if (same_nick(o, occ)) {
                muc_deliver_frame(room->svc, o, fself);
            } else if (to_others) {
                int j = muc_sees_jids(room, o) ? 1 : 0;
                if (!f[j])
                    f[j] = frame_new(v[j]);   /* only the variants someone gets */
                muc_deliver_frame(room->svc, o, f[j]);
            }
        }
        for (int j = 0; j < 2; j++)
            if (f[j])
                frame_unref(f[j]);
    }
    frame_unref(fjoin);
    frame_unref(fself);
    stanza_unref(v[0]);
    stanza_unref(v[1]);
}

void muc_broadcast_presence(struct muc_room *room, struct muc_occupant *occ,
                            const int *codes, size_t ncodes,
                            const char *actor_nick, const char *reason)
{
    broadcast(room, occ, NULL, codes, ncodes, NULL, 0, actor_nick, reason, NULL, false);
}

static void unlink_occupant(struct muc_room *room, struct muc_occupant *occ)
{
    for (struct muc_occupant **p = &room->occupants; *p; p = &(*p)->next) {
        if (*p == occ) {
            *p = occ->next;
            break;
        }
    }
    /* by_nick points at the nick's first session: the next one (adjacent,
     * see join()) takes over when that one goes. */
    if (muc_occupant_by_nick(room, occ->nick) == occ) {
        if (occ->next && same_nick(occ->next, occ))
            hashmap_put(&room->by_nick, occ->next->nick, occ->next);
        else
            hashmap_del(&room->by_nick, occ->nick);
    }
    hashmap_del(&room->by_real, occ->real->full);
    /* noccupants counts occupants (nicks), not sessions: the slot of a
     * multi-session nick (§7.2.8) is freed with its last session only. */
    if (!muc_occupant_by_nick(room, occ->nick))
        room->noccupants--;
    /* IQs forwarded to this session will not be answered by it. */
    muc_iq_session_gone(room, occ);
}

static void occupant_free(struct muc_occupant *o)
{
    jid_free(o->real);
    free(o->nick);
    free(o->room_jid);
    if (o->presence)
        stanza_unref(o->presence);
    free(o);
}

void muc_remove_occupant(struct muc_room *room, struct muc_occupant *occ,
                         const int *codes, size_t ncodes,
                         const char *actor_nick, const char *reason)
{
    broadcast(room, occ, "unavailable", codes, ncodes, NULL, 0, actor_nick, reason, NULL, false);
    /* Every session under the nick goes (a kick or ban is of the
     * occupant, §8.2 / §9.1). */
    char *nick = pl_strdup(occ->nick);     /* occ goes in the loop */
    struct muc_occupant *o = muc_occupant_by_nick(room, nick);
    while (o && strcmp(o->nick, nick) == 0) {
        struct muc_occupant *next = o->next;
        unlink_occupant(room, o);
        occupant_free(o);
        o = next;
    }
    free(nick);
}

/* §7.14 for one session of a multi-session nick (§7.2.9): the occupant
 * stays while another session remains.  The leaving session gets its
 * unavailable presence (110); everyone else sees the nick's presence as
 * the remaining session has it. */
static void leave_session(struct muc_room *room, struct muc_occupant *occ,
                          const int *codes, size_t ncodes)
{
    struct muc_occupant *head = muc_occupant_by_nick(room, occ->nick);
    struct muc_occupant *other = head != occ ? head
                               : (occ->next && same_nick(occ->next, occ) ? occ->next : NULL);
    if (!other) {
        muc_remove_occupant(room, occ, codes, ncodes, NULL, NULL);
        return;
    }
    broadcast(room, occ, "unavailable", codes, ncodes, NULL, 0, NULL, NULL, NULL, true);
    unlink_occupant(room, occ);
    occupant_free(occ);
    broadcast(room, other, NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, false);
}

/* The client's presence as the room re-broadcasts it: without the MUC
 * join element, 'to' or 'id'. */
static struct stanza *stored_presence(const struct stanza *st)
{
    struct stanza *c = stanza_copy(st);
    for (struct xml_node **p = &c->root->children; *p;) {
        struct xml_node *n = *p;
        if (n->kind == XML_ELEMENT &&
            (strcmp(n->ns, NS_MUC) == 0 || strcmp(n->ns, NS_MUC_USER) == 0 ||
             strcmp(n->ns, NS_OCCUPANT_ID) == 0)) {
            *p = n->next;
            if (c->root->last == n) {
                c->root->last = NULL;
                for (struct xml_node *m = c->root->children; m; m = m->next)
                    c->root->last = m;
            }
            continue;
        }
        p = &n->next;
    }
    xml_set_attr(c->arena, c->root, "to", NULL);
    xml_set_attr(c->arena, c->root, "id", NULL);
    return c;
}

/* An error to a join attempt comes from room@service/nick (§7.2.6 ...),
 * which router_bounce() does by swapping the addresses. */
static void join_error(struct muc_service *svc, struct stanza *st, const char *type,
                       const char *cond, const char *text)
{
    muc_error(svc->srv, st, type, cond, text);
}

static unsigned room_max(const struct muc_room *room)
{
    unsigned m = room->svc->opts->max_occupants;
    if (room->cfg.max_users && room->cfg.max_users < m)
        m = room->cfg.max_users;
    return m;
}

static void join(struct muc_service *svc, struct stanza *st, const struct jid *to,
                 const struct jid *from)
{
    struct xml_node *x = xml_child(st->root, NS_MUC, "x");
    struct muc_room *room = muc_room_find(svc, to->local);
    bool created = false;
    if (!room) {
        struct acl_subject who = { from->local, from->domain, NULL };
        if (!acl_allowed(svc->srv->conf, svc->opts->access_create, &who)) {
            join_error(svc, st, "cancel", "not-allowed", "you may not create rooms here");
            return;
        }
        if (svc->opts->max_rooms_per_user &&
            muc_rooms_owned_by(svc, from->bare) >= svc->opts->max_rooms_per_user) {
            join_error(svc, st, "cancel", "not-allowed",
                       "you have created as many rooms as this service allows");
            return;
        }
        room = muc_room_new(svc, to->local);
        room->creator = pl_strdup(from->bare);
        muc_affil_set(room, from->bare, MUC_AFFIL_OWNER, NULL);
        /* §10.1.1: a MUC client gets a locked room to configure (201);
         * a client without <x/> (groupchat 1.0) gets an instant room. */
        room->locked = x != NULL;
        created = true;
    } else {
        enum muc_affil af = muc_affil_of(room, from->bare);
        const char *pw = NULL;
        struct xml_node *pwn = x ? xml_child(x, NULL, "password") : NULL;
        struct arena *tmp = NULL;
        if (pwn) {
            tmp = arena_new(256);
            pw = xml_text(tmp, pwn);
        }
        const char *cond = NULL, *type = NULL, *text = NULL;
        struct muc_occupant *holder = muc_occupant_by_nick(room, to->resource);
        /* §7.2.9: the nick's holder with the same bare JID is the same
         * user on another resource: a second session of the occupant
         * (it is already counted against the room's maximum). */
        bool same_user = holder && strcmp(holder->real->bare, from->bare) == 0;
        if (room->locked && af != MUC_AFFIL_OWNER) {
            type = "cancel", cond = "item-not-found", text = "the room is being configured";
        } else if (af == MUC_AFFIL_OUTCAST) {
            type = "auth", cond = "forbidden", text = "you are banned from this room";
        } else if (holder && !same_user) {
            type = "cancel", cond = "conflict", text = "that nickname is in use";
        } else if (muc_nick_reserved_for_other(room, to->resource, from->bare)) {
            /* §7.2.8 "or if the nickname is reserved by another user on
             * the member list", §7.12 registered nicknames (§7.10). */
            type = "cancel", cond = "conflict", text = "that nickname is reserved by another user";
        } else if (room->cfg.members_only && af < MUC_AFFIL_MEMBER) {
            type = "auth", cond = "registration-required", text = "this room is members-only";
        } else if (!same_user && room->noccupants >= room_max(room) && af < MUC_AFFIL_ADMIN) {
            type = "wait", cond = "service-unavailable", text = "the room is full";
        } else if (room->cfg.password_protected && af < MUC_AFFIL_OWNER &&
                   (!pw || strcmp(pw, room->cfg.password) != 0)) {
            type = "auth", cond = "not-authorized", text = "a password is required";
        }
        if (tmp)
            arena_free(tmp);
        if (cond) {
            join_error(svc, st, type, cond, text);
            return;
        }
    }

    struct muc_occupant *occ = pl_calloc(1, sizeof(*occ));
    occ->real = jid_dup(from);
    occ->nick = pl_strdup(to->resource);
    occ->room_jid = pl_strdup(to->full);
    enum muc_affil af = muc_affil_of(room, from->bare);
    struct muc_occupant *sibling = muc_occupant_by_nick(room, occ->nick);
    /* A further session shares the occupant's role (a voice granted
     * stays granted). */
    occ->role = sibling ? sibling->role : muc_default_role(af, room->cfg.moderated);
    occ->presence = stored_presence(st);
    occupant_id(room, from->bare, occ->occupant_id);

    /* §7.2.3: first the presence of everyone already there, once per
     * nick, not the user's own nick (the 110 presence below is that). */
    for (struct muc_occupant *o = room->occupants; o; o = muc_next_nick(o)) {
        if (sibling && same_nick(o, occ))
            continue;
        if (!muc_config_broadcasts(&room->cfg, o->role))
            continue;           /* §15.5.3 presencebroadcast: not shown */
        struct stanza *p = muc_occupant_presence(room, o, NULL, muc_sees_jids(room, occ), NULL, 0);
        xml_set_attr(p->arena, p->root, "to", occ->real->full);
        muc_deliver(svc, occ, p);
        stanza_unref(p);
    }
    /* Then in: the list, the maps, and everyone's view.  The sessions of
     * one nick stay adjacent in the list (a new one goes after the last
     * of its nick), which muc_next_nick() and disco#items rely on. */
    struct muc_occupant **tail = &room->occupants;
    if (sibling) {
        struct muc_occupant *last = sibling;
        while (last->next && same_nick(last->next, occ))
            last = last->next;
        tail = &last->next;
    } else {
        while (*tail)
            tail = &(*tail)->next;
    }
    occ->next = *tail;
    *tail = occ;
    if (!sibling) {
        /* A new occupant takes a slot; a further session of one does not
         * (§7.2.9 counts occupants, §7.2.8 makes the sessions one). */
        room->noccupants++;
        hashmap_put(&room->by_nick, occ->nick, occ);
    }
    hashmap_put(&room->by_real, occ->real->full, occ);

    int self[4];
    size_t nself = 0;
    if (room->cfg.whois == MUC_WHOIS_ANYONE)
        self[nself++] = 100;    /* §7.2.4 non-anonymous */
    if (room->cfg.logging)
        self[nself++] = 170;    /* §7.2.12 room is logged */
    if (created)
        self[nself++] = 201;    /* §10.1.1 new room */
    broadcast(room, occ, NULL, NULL, 0, self, nself, NULL, NULL, NULL, false);
    if (created && !room->locked && room->cfg.persistent)
        muc_persist_save(room, st);

    /* §7.2.14, §7.2.15: history, then the subject. */
    struct xml_node *h = x ? xml_child(x, NULL, "history") : NULL;
    muc_send_history(room, occ, h);
    muc_send_subject(room, occ);
}

/* §7.6: a nickname change.  The nick is the occupant: with several
 * sessions under it (§7.2.9) all of them move to the new nick (each one
 * is told, with 110, as its own). */
static void change_nick(struct muc_room *room, struct muc_occupant *occ, struct stanza *st,
                        const struct jid *to)
{
    struct muc_occupant *holder = muc_occupant_by_nick(room, to->resource);
    if (holder) {
        muc_error(room->svc->srv, st, "cancel", "conflict", "that nickname is in use");
        return;
    }
    if (muc_nick_reserved_for_other(room, to->resource, occ->real->bare)) {
        /* §7.6 refers to §7.2.8: a nick registered by another (§7.10). */
        muc_error(room->svc->srv, st, "cancel", "conflict", "that nickname is reserved by another user");
        return;
    }
    static const int nick_code[] = { 303 };
    broadcast(room, occ, "unavailable", nick_code, 1, NULL, 0, NULL, NULL, to->resource, false);
    struct muc_occupant *head = muc_occupant_by_nick(room, occ->nick);
    hashmap_del(&room->by_nick, occ->nick);
    char *old = pl_strdup(occ->nick);
    for (struct muc_occupant *o = head; o && strcmp(o->nick, old) == 0; o = o->next) {
        free(o->nick);
        free(o->room_jid);
        o->nick = pl_strdup(to->resource);
        o->room_jid = pl_strdup(to->full);
    }
    free(old);
    hashmap_put(&room->by_nick, head->nick, head);
    if (occ->presence)
        stanza_unref(occ->presence);
    occ->presence = stored_presence(st);
    broadcast(room, occ, NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, false);
}

void muc_presence(struct muc_service *svc, struct stanza *st, const struct jid *to,
                  const struct jid *from)
{
    const char *type = xml_attr(st->root, "type");
    struct muc_room *room = muc_room_find(svc, to->local);
    struct muc_occupant *occ = room ? muc_occupant_by_real(room, from->full) : NULL;
    if (type && (strcmp(type, "unavailable") == 0 || strcmp(type, "error") == 0)) {
        /* §7.14 exit; a presence error from an occupant means its client
         * is gone (§18.1 "ghost" occupants): it leaves too (333). */
        if (occ) {
            /* Only this session leaves; the occupant stays while another
             * session shares its nick (§7.2.9). */
            static const int tech[] = { 333 };
            if (strcmp(type, "error") == 0) {
                leave_session(room, occ, tech, 1);
            } else {
                if (occ->presence)
                    stanza_unref(occ->presence);
                occ->presence = stored_presence(st);
                leave_session(room, occ, NULL, 0);
            }
            /* §10.1.1: an owner leaving a room still locked destroys it. */
            if (room->locked && room->noccupants == 0)
                muc_room_free(room);
            else
                muc_room_gc(room);
        }
        return;
    }
    if (type)
        return;                 /* subscriptions and probes: nothing here */
    if (!to->resource) {
        muc_error(svc->srv, st, "modify", "jid-malformed", "a nickname is required to enter a room");
        return;
    }
    if (strlen(to->resource) > MUC_NICK_MAX) {
        muc_error(svc->srv, st, "modify", "jid-malformed", "nickname too long");
        return;
    }
    if (occ) {
        if (strcmp(occ->nick, to->resource) != 0) {
            change_nick(room, occ, st, to);
            return;
        }
        /* §7.7: a status change. */
        if (occ->presence)
            stanza_unref(occ->presence);
        occ->presence = stored_presence(st);
        broadcast(room, occ, NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, false);
        return;
    }
    join(svc, st, to, from);
}
