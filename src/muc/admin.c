/*
 * admin.c - the moderator, admin and owner use cases (XEP-0045 §8-§10)
 * over IQs in the muc#admin and muc#owner namespaces:
 *
 *   muc#admin get   role lists (§8.5 voice, §9.8 moderators) and
 *                   affiliation lists (§9.2 ban, §9.5 members, §10.5
 *                   owners, §10.8 admins); the member list also to the
 *                   roles in muc#roomconfig_getmemberlist (§7.11)
 *   muc#admin set   kick (§8.2, 307), voice (§8.3/§8.4), ban (§9.1, 301),
 *                   membership (§9.3/§9.4, 321 in members-only rooms),
 *                   moderator (§9.6/§9.7), owner/admin (§10.3-§10.9)
 *   muc#owner       configuration form (§10.1.2 instant room, §10.1.3
 *                   reserved room, §10.2 later changes with status codes
 *                   104, 170-173, §9.x 322 when a room becomes members-only)
 *                   and destruction (§10.9, alternate venue)
 *
 * The permission checks are muc_rules.c's; a request with several items
 * is checked whole before any is applied.
 */
#include "muc/muc.h"

#include <stdlib.h>
#include <string.h>

#include "core/jid.h"
#include "core/mem.h"
#include "core/server.h"
#include "router/router.h"
#include "xml/xml.h"

static void reply_empty(struct server *srv, struct stanza *st)
{
    struct stanza *r;
    iq_reply_result(st, NULL, NULL, &r);
    router_route(srv, r);
    stanza_unref(r);
}

static void verdict_error(struct server *srv, struct stanza *st, enum muc_verdict v)
{
    switch (v) {
    case MUC_FORBIDDEN:
        muc_error(srv, st, "auth", "forbidden", "you lack the privilege for this change");
        break;
    case MUC_NOT_ALLOWED:
        muc_error(srv, st, "cancel", "not-allowed", "that user's affiliation protects them");
        break;
    case MUC_CONFLICT:
        muc_error(srv, st, "cancel", "conflict", "a room must keep at least one owner");
        break;
    case MUC_SELF_BAN:
        muc_error(srv, st, "cancel", "conflict", "you cannot ban yourself");
        break;
    case MUC_OK:
        break;
    }
}

/* The actor's standing: affiliation from the bare JID, role from the
 * occupant if the actor is in the room. */
static void actor_of(struct muc_room *room, const struct jid *from, enum muc_affil *af,
                     enum muc_role *role, struct muc_occupant **occ)
{
    *af = muc_affil_of(room, from->bare);
    *occ = muc_occupant_by_real(room, from->full);
    *role = *occ ? (*occ)->role : MUC_ROLE_NONE;
}

/* --- muc#admin get --------------------------------------------------------- */

/* §9.5 notes: in a non-anonymous room, where everyone sees real JIDs
 * anyway, any occupant of a members-only room and any member, in the room
 * or not, SHOULD get the member list (to see whom to invite). */
static bool nonanonymous_member_list(const struct muc_room *room, enum muc_affil aaf,
                                     const struct muc_occupant *aocc, int affil)
{
    if (affil != MUC_AFFIL_MEMBER || room->cfg.whois != MUC_WHOIS_ANYONE)
        return false;
    return aaf >= MUC_AFFIL_MEMBER || (aocc && room->cfg.members_only);
}
static void admin_get(struct muc_room *room, struct stanza *st, struct xml_node *q,
                      const struct jid *from)
{
    struct server *srv = room->svc->srv;
    struct xml_node *item = xml_child(q, NULL, "item");
    if (!item || xml_next(item, NULL, "item")) {
        muc_error(srv, st, "modify", "bad-request", "one <item/> with a role or an affiliation");
        return;
    }
    int role = muc_role_parse(xml_attr(item, "role"));
    int affil = muc_affil_parse(xml_attr(item, "affiliation"));
    if ((role < 0) == (affil < 0) || (affil == MUC_AFFIL_NONE)) {
        muc_error(srv, st, "modify", "bad-request", "one <item/> with a role or an affiliation");
        return;
    }
    enum muc_affil aaf;
    enum muc_role arole;
    struct muc_occupant *aocc;
    actor_of(room, from, &aaf, &arole, &aocc);
    /* §7.11 / §9.5: besides admins and owners, occupants whose role the
     * room lists in muc#roomconfig_getmemberlist may read the member list
     * (moderators only by default: muc_config.h). */
    bool may = muc_can_read_list(aaf, arole, role, affil) ||
               (affil == MUC_AFFIL_MEMBER && aocc &&
                muc_config_may_get_member_list(&room->cfg, arole)) ||
               nonanonymous_member_list(room, aaf, aocc, affil);
    if (!may) {
        muc_error(srv, st, "auth", "forbidden",
                  affil == MUC_AFFIL_MEMBER ? "your role may not retrieve the member list"
                                            : "you may not read this list");
        return;
    }
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(st, NS_MUC_ADMIN, "query", &r);
    struct arena *a = r->arena;
    if (role >= 0) {
        /* One item per occupant: a multi-session nick (§7.2.9) once. */
        for (struct muc_occupant *o = room->occupants; o; o = muc_next_nick(o)) {
            if ((int)o->role != role)
                continue;
            struct xml_node *it = xml_add_child(a, rq, NULL, "item");
            xml_set_attr(a, it, "affiliation", muc_affil_name(muc_affil_of(room, o->real->bare)));
            xml_set_attr(a, it, "role", muc_role_name(o->role));
            xml_set_attr(a, it, "nick", o->nick);
            if (muc_sees_jids(room, aocc ? aocc : o) || aaf >= MUC_AFFIL_ADMIN)
                xml_set_attr(a, it, "jid", o->real->full);
        }
    } else {
        void *v;
        for (size_t i = 0; hashmap_next(&room->affils, &i, NULL, &v);) {
            struct muc_affiliation *af = v;
            if ((int)af->affil != affil)
                continue;
            struct xml_node *it = xml_add_child(a, rq, NULL, "item");
            xml_set_attr(a, it, "affiliation", muc_affil_name(af->affil));
            xml_set_attr(a, it, "jid", af->jid);
            if (af->nick)
                xml_set_attr(a, it, "nick", af->nick);
            if (af->reason)
                xml_add_text_child(a, it, NULL, "reason", af->reason);
        }
    }
    router_route(srv, r);
    stanza_unref(r);
}

/* --- muc#admin set --------------------------------------------------------- */

struct change {
    struct xml_node *item;
    bool is_role;
    int value;                  /* enum muc_role or enum muc_affil */
    struct muc_occupant *target;/* role changes */
    char *bare;                 /* affiliation changes: the JID (heap) */
    const char *reason;         /* arena */
};

/* Applies an affiliation change to the occupants with that bare JID. */
static void affil_effects(struct muc_room *room, const char *bare, enum muc_affil na,
                          const char *actor_nick, const char *reason)
{
    /* Per nick: a removal takes all of the nick's sessions (§7.2.9). */
    for (struct muc_occupant *o = room->occupants, *next; o; o = next) {
        next = muc_next_nick(o);
        if (strcmp(o->real->bare, bare) != 0)
            continue;
        if (na == MUC_AFFIL_OUTCAST) {
            static const int ban[] = { 301 };
            muc_remove_occupant(room, o, ban, 1, actor_nick, reason);
        } else if (room->cfg.members_only && na < MUC_AFFIL_MEMBER) {
            static const int gone[] = { 321 };
            muc_remove_occupant(room, o, gone, 1, actor_nick, reason);
        } else {
            enum muc_role def = muc_default_role(na, room->cfg.moderated);
            /* A role granted by a moderator survives unless the new
             * affiliation demands more (admin/owner moderate) or
             * no longer allows it (moderator without admin). */
            if (def == MUC_ROLE_MODERATOR || o->role == MUC_ROLE_MODERATOR || o->role < def)
                muc_set_role(room, o, def);
            muc_broadcast_presence(room, o, NULL, 0, actor_nick, reason);
        }
    }
}

static void admin_set(struct muc_room *room, struct stanza *st, struct xml_node *q,
                      const struct jid *from)
{
    struct server *srv = room->svc->srv;
    enum muc_affil aaf;
    enum muc_role arole;
    struct muc_occupant *aocc;
    actor_of(room, from, &aaf, &arole, &aocc);
    struct change ch[MUC_ITEMS_PER_IQ];
    size_t n = 0;
    struct arena *tmp = arena_new(1024);
    size_t owners = muc_owner_count(room);
    const char *etype = NULL, *econd = NULL, *etext = NULL;
    enum muc_verdict bad = MUC_OK;

    for (struct xml_node *it = xml_child(q, NULL, "item"); it; it = xml_next(it, NULL, "item")) {
        if (n == MUC_ITEMS_PER_IQ) {
            etype = "modify", econd = "policy-violation", etext = "too many items";
            break;
        }
        struct change *c = &ch[n];
        memset(c, 0, sizeof(*c));
        c->item = it;
        struct xml_node *rn = xml_child(it, NULL, "reason");
        c->reason = rn ? xml_text(tmp, rn) : NULL;
        if (c->reason && strlen(c->reason) > MUC_REASON_MAX)
            c->reason = NULL;
        const char *role_s = xml_attr(it, "role"), *affil_s = xml_attr(it, "affiliation");
        const char *nick = xml_attr(it, "nick"), *jid_s = xml_attr(it, "jid");
        if ((role_s != NULL) == (affil_s != NULL)) {
            etype = "modify", econd = "bad-request", etext = "an item changes a role or an affiliation";
            break;
        }
        n++;
        if (role_s) {
            c->is_role = true;
            c->value = muc_role_parse(role_s);
            if (c->value < 0 || !nick) {
                etype = "modify", econd = "bad-request", etext = "a role change needs a known role and a nick";
                break;
            }
            c->target = muc_occupant_by_nick(room, nick);
            if (!c->target) {
                etype = "cancel", econd = "item-not-found", etext = "no occupant with that nickname";
                break;
            }
            bad = muc_check_role_change(aaf, arole, muc_affil_of(room, c->target->real->bare),
                                        c->target->role, (enum muc_role)c->value);
            if (bad != MUC_OK)
                break;
        } else {
            c->value = muc_affil_parse(affil_s);
            if (c->value < 0) {
                etype = "modify", econd = "bad-request", etext = "unknown affiliation";
                break;
            }
            struct jid *j = NULL;
            if (jid_s) {
                j = jid_parse(jid_s);
            } else if (nick) {
                struct muc_occupant *o = muc_occupant_by_nick(room, nick);
                if (!o) {
                    etype = "cancel", econd = "item-not-found", etext = "no occupant with that nickname";
                    break;
                }
                j = jid_dup(o->real);
            }
            if (!j) {
                etype = "modify", econd = "jid-malformed", etext = "an affiliation change needs a valid jid";
                break;
            }
            c->bare = pl_strdup(j->bare);
            jid_free(j);
            enum muc_affil cur = muc_affil_of(room, c->bare);
            bad = muc_check_affil_change(aaf, cur, (enum muc_affil)c->value, owners,
                                         strcmp(c->bare, from->bare) == 0);
            if (bad != MUC_OK)
                break;
            if (cur == MUC_AFFIL_OWNER && c->value != MUC_AFFIL_OWNER)
                owners--;
            else if (cur != MUC_AFFIL_OWNER && c->value == MUC_AFFIL_OWNER)
                owners++;
            if (hashmap_get(&room->affils, c->bare) == NULL && room->affils.count >= MUC_AFFILS_MAX) {
                etype = "wait", econd = "resource-constraint", etext = "too many affiliations";
                break;
            }
        }
    }
    if (!etype && bad == MUC_OK && n == 0)
        etype = "modify", econd = "bad-request", etext = "no <item/>";

    if (etype) {
        muc_error(srv, st, etype, econd, etext);
    } else if (bad != MUC_OK) {
        verdict_error(srv, st, bad);
    } else {
        const char *actor = aocc ? aocc->nick : NULL;
        bool affil_changed = false;
        for (size_t i = 0; i < n; i++) {
            struct change *c = &ch[i];
            if (c->is_role) {
                /* The target may have left through an earlier item. */
                struct muc_occupant *t = muc_occupant_by_nick(room, xml_attr(c->item, "nick"));
                if (!t)
                    continue;
                if (c->value == MUC_ROLE_NONE) {
                    static const int kick[] = { 307 };
                    muc_remove_occupant(room, t, kick, 1, actor, c->reason);
                } else if ((int)t->role != c->value) {
                    muc_set_role(room, t, (enum muc_role)c->value);
                    muc_broadcast_presence(room, t, NULL, 0, actor, c->reason);
                }
            } else {
                muc_affil_set(room, c->bare, (enum muc_affil)c->value, c->reason);
                affil_effects(room, c->bare, (enum muc_affil)c->value, actor, c->reason);
                affil_changed = true;
            }
        }
        if (affil_changed && room->cfg.persistent)
            muc_persist_save(room, st);
        reply_empty(srv, st);
    }
    for (size_t i = 0; i < n; i++)
        free(ch[i].bare);
    arena_free(tmp);
    muc_room_gc(room);
}

void muc_iq_admin(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                  struct xml_node *q, const struct jid *from)
{
    (void)svc;
    if (strcmp(xml_attr(st->root, "type"), "get") == 0)
        admin_get(room, st, q, from);
    else
        admin_set(room, st, q, from);
}

/* --- muc#owner -------------------------------------------------------------- */

static void config_get(struct muc_room *room, struct stanza *st)
{
    const char *owners[MUC_CONFIG_JIDS_MAX], *admins[MUC_CONFIG_JIDS_MAX];
    size_t no = 0, na = 0;
    void *v;
    for (size_t i = 0; hashmap_next(&room->affils, &i, NULL, &v);) {
        struct muc_affiliation *af = v;
        if (af->affil == MUC_AFFIL_OWNER && no < MUC_CONFIG_JIDS_MAX)
            owners[no++] = af->jid;
        else if (af->affil == MUC_AFFIL_ADMIN && na < MUC_CONFIG_JIDS_MAX)
            admins[na++] = af->jid;
    }
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(st, NS_MUC_OWNER, "query", &r);
    muc_config_form(r->arena, rq, &room->cfg, room->svc->opts->max_occupants,
                    owners, no, admins, na);
    router_route(room->svc->srv, r);
    stanza_unref(r);
}

/* Makes the listed JIDs exactly the holders of affiliation 'a'. */
static int replace_list(struct muc_room *room, enum muc_affil a, const char *const *list,
                        size_t n, const char *actor)
{
    char *bares[MUC_CONFIG_JIDS_MAX];
    size_t nb = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct jid *j = jid_parse(list[i]);
        if (!j) {
            rc = -1;
            break;
        }
        bares[nb++] = pl_strdup(j->bare);
        jid_free(j);
    }
    if (rc == 0 && a == MUC_AFFIL_OWNER && nb == 0)
        rc = -1;                /* §10.2: never without an owner */
    if (rc == 0) {
        const char *k;
        void *v;
        char *drop[MUC_AFFILS_MAX > 64 ? 64 : MUC_AFFILS_MAX];
        size_t nd;
        do {    /* drop the current holders not listed, 64 at a time */
            nd = 0;
            for (size_t i = 0; hashmap_next(&room->affils, &i, &k, &v) && nd < 64;) {
                struct muc_affiliation *af = v;
                if (af->affil != a)
                    continue;
                bool keep = false;
                for (size_t j = 0; j < nb && !keep; j++)
                    keep = strcmp(bares[j], af->jid) == 0;
                if (!keep)
                    drop[nd++] = pl_strdup(af->jid);
            }
            for (size_t i = 0; i < nd; i++) {
                muc_affil_set(room, drop[i], MUC_AFFIL_NONE, NULL);
                affil_effects(room, drop[i], MUC_AFFIL_NONE, actor, NULL);
                free(drop[i]);
            }
        } while (nd == 64);
        for (size_t i = 0; i < nb; i++) {
            if (muc_affil_of(room, bares[i]) != a) {
                muc_affil_set(room, bares[i], a, NULL);
                affil_effects(room, bares[i], a, actor, NULL);
            }
        }
    }
    for (size_t i = 0; i < nb; i++)
        free(bares[i]);
    return rc;
}

static void config_set(struct muc_room *room, struct stanza *st, struct xml_node *x,
                       struct muc_occupant *actor)
{
    struct server *srv = room->svc->srv;
    const char *xt = xml_attr(x, "type");
    if (xt && strcmp(xt, "cancel") == 0) {
        /* §10.1.3: cancelling the initial configuration destroys the room. */
        reply_empty(srv, st);
        if (room->locked)
            muc_room_destroy(room, NULL, NULL, NULL, st);
        return;
    }
    if (!xt || strcmp(xt, "submit") != 0) {
        muc_error(srv, st, "modify", "bad-request", "expected a submitted data form");
        return;
    }
    struct muc_config old;
    muc_config_copy(&old, &room->cfg);
    struct muc_config_jids jids;
    const char *err = NULL;
    bool bad_request;
    if (muc_config_submit(&room->cfg, x, room->svc->opts->max_occupants, &jids, &err,
                          &bad_request) < 0) {
        muc_error(srv, st, "modify", bad_request ? "bad-request" : "not-acceptable", err);
        muc_config_release(&old);
        return;
    }
    const char *actor_nick = actor ? actor->nick : NULL;
    if ((jids.owners_given && replace_list(room, MUC_AFFIL_OWNER, jids.owners, jids.nowners, actor_nick) < 0) ||
        (jids.admins_given && replace_list(room, MUC_AFFIL_ADMIN, jids.admins, jids.nadmins, actor_nick) < 0)) {
        muc_config_release(&room->cfg);
        room->cfg = old;
        muc_error(srv, st, "modify", "not-acceptable", "invalid owner or admin list");
        return;
    }
    bool was_locked = room->locked;
    room->locked = false;
    reply_empty(srv, st);

    /* §10.2.1: occupants learn what changed. */
    int codes[6];
    size_t nc = 0;
    if (!was_locked)
        codes[nc++] = 104;
    if (old.logging != room->cfg.logging)
        codes[nc++] = room->cfg.logging ? 170 : 171;
    if (old.whois != room->cfg.whois)
        codes[nc++] = room->cfg.whois == MUC_WHOIS_ANYONE ? 172 : 173;
    if (nc && room->noccupants)
        muc_room_status_message(room, codes, nc);

    /* Becoming members-only removes non-members (status 322). */
    if (!old.members_only && room->cfg.members_only) {
        static const int gone[] = { 322 };
        for (struct muc_occupant *o = room->occupants, *next; o; o = next) {
            next = muc_next_nick(o);
            if (muc_affil_of(room, o->real->bare) < MUC_AFFIL_MEMBER)
                muc_remove_occupant(room, o, gone, 1, NULL, NULL);
        }
    }
    /* Moderation switched: visitors gain or lose their default voice. */
    if (old.moderated != room->cfg.moderated) {
        for (struct muc_occupant *o = room->occupants; o; o = muc_next_nick(o)) {
            enum muc_role def = muc_default_role(muc_affil_of(room, o->real->bare), room->cfg.moderated);
            if (o->role != MUC_ROLE_MODERATOR && o->role != def) {
                muc_set_role(room, o, def);
                muc_broadcast_presence(room, o, NULL, 0, NULL, NULL);
            }
        }
    }
    if (room->cfg.persistent)
        muc_persist_save(room, st);
    else if (old.persistent)
        muc_persist_forget(room->svc, room->name, st);
    muc_config_release(&old);
    muc_room_gc(room);
}

void muc_room_destroy(struct muc_room *room, const char *alt_jid, const char *reason,
                      const char *password, struct stanza *cause)
{
    /* §10.9: each occupant gets one unavailable presence of their own
     * with <destroy/>, not everyone's. */
    room->destroyed = true;
    for (struct muc_occupant *o = room->occupants; o; o = o->next) {
        struct stanza *p = stanza_new(XML_NS_CLIENT, "presence");
        struct arena *a = p->arena;
        xml_set_attr(a, p->root, "from", o->room_jid);
        xml_set_attr(a, p->root, "to", o->real->full);
        xml_set_attr(a, p->root, "type", "unavailable");
        struct xml_node *x = xml_add_child(a, p->root, NS_MUC_USER, "x");
        struct xml_node *it = xml_add_child(a, x, NULL, "item");
        xml_set_attr(a, it, "affiliation", "none");
        xml_set_attr(a, it, "role", "none");
        struct xml_node *d = xml_add_child(a, x, NULL, "destroy");
        if (alt_jid)
            xml_set_attr(a, d, "jid", alt_jid);
        if (reason && *reason)
            xml_add_text_child(a, d, NULL, "reason", reason);
        if (password && *password)
            xml_add_text_child(a, d, NULL, "password", password);
        xml_set_attr(a, xml_add_child(a, x, NULL, "status"), "code", "110");
        muc_deliver(room->svc, o, p);
        stanza_unref(p);
    }
    if (room->cfg.persistent)
        muc_persist_forget(room->svc, room->name, cause);
    muc_room_free(room);
}

void muc_iq_owner(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                  struct xml_node *q, const struct jid *from)
{
    struct server *srv = svc->srv;
    if (muc_affil_of(room, from->bare) != MUC_AFFIL_OWNER) {
        /* §10.1.2 / §10.2: only owners configure or destroy. */
        muc_error(srv, st, "auth", "forbidden", "only room owners may do this");
        return;
    }
    bool get = strcmp(xml_attr(st->root, "type"), "get") == 0;
    if (get) {
        config_get(room, st);
        return;
    }
    struct xml_node *x = xml_child(q, NS_XDATA_MUC, "x");
    struct xml_node *d = xml_child(q, NULL, "destroy");
    if (x) {
        config_set(room, st, x, muc_occupant_by_real(room, from->full));
    } else if (d) {
        struct arena *tmp = arena_new(512);
        const char *alt = xml_attr(d, "jid");
        struct jid *altj = alt ? jid_parse(alt) : NULL;
        if (alt && !altj) {
            muc_error(srv, st, "modify", "jid-malformed", "invalid alternate venue");
        } else {
            struct xml_node *r = xml_child(d, NULL, "reason"), *p = xml_child(d, NULL, "password");
            const char *reason = r ? xml_text(tmp, r) : NULL;
            if (reason && strlen(reason) > MUC_REASON_MAX)
                reason = NULL;
            reply_empty(srv, st);
            muc_room_destroy(room, altj ? altj->full : NULL, reason, p ? xml_text(tmp, p) : NULL,
                             st);
        }
        jid_free(altj);
        arena_free(tmp);
    } else {
        muc_error(srv, st, "modify", "bad-request", "expected a data form or <destroy/>");
    }
}
