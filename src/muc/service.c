/*
 * service.c - the MUC service's entry point and its rooms table
 * (XEP-0045 §6: service discovery of the service §6.1-§6.3, of rooms
 * §6.4 and of occupants §6.5; §6.2 hidden rooms are not listed; §7.12
 * the 'x-roomuser-item' node is register.c's), the affiliations table
 * with the registered nicknames of §7.10 (by_regnick).
 *
 * The router hands every stanza addressed to the service domain to
 * muc_route() (router_service_register): presence goes to presence.c,
 * messages to message.c, IQs to the room or service handlers here.
 */
#include "muc/muc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/mam_util.h"
#include "router/router.h"
#include "stream/c2s.h"
#include "stream/frame.h"
#include "xml/xml.h"

/* --- lifecycle --------------------------------------------------------------- */

struct muc_service *muc_service_new(struct server *srv, const struct muc_opts *opts,
                                    const char *domain, const char *host, const void *owner)
{
    struct muc_service *svc = pl_calloc(1, sizeof(*svc));
    svc->srv = srv;
    svc->opts = opts;
    svc->owner = owner;
    svc->domain = pl_strdup(domain);
    svc->host = pl_strdup(host);
    svc->refs = 1;
    hashmap_init(&svc->rooms);
    router_service_register(srv->router, domain, muc_route, svc, owner);
    muc_persist_load(svc);
    return svc;
}

struct muc_service *muc_service_ref(struct muc_service *svc)
{
    svc->refs++;
    return svc;
}

void muc_service_unref(struct muc_service *svc)
{
    PL_ASSERT(svc->refs > 0);
    if (--svc->refs > 0)
        return;
    free(svc->domain);
    free(svc->host);
    free(svc);
}

void muc_service_stop(struct muc_service *svc)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&svc->rooms, &i, &k, &v);) {
        struct muc_room *room = v;
        if (!svc->srv->stopping) {
            /* A reload: tell occupants the room went away (status 332,
             * §15.6.2 "the room is shutting down"); persistent rooms come
             * back from storage and clients may rejoin. */
            static const int shut[] = { 332 };
            while (room->occupants)
                muc_remove_occupant(room, room->occupants, shut, 1, NULL, NULL);
        }
        muc_room_free(room);
    }
    hashmap_release(&svc->rooms);
    svc->dead = true;
    muc_service_unref(svc);
}

/* --- rooms ----------------------------------------------------------------- */

struct muc_room *muc_room_find(struct muc_service *svc, const char *name)
{
    return hashmap_get(&svc->rooms, name);
}

struct muc_room *muc_room_new(struct muc_service *svc, const char *name)
{
    struct muc_room *room = pl_calloc(1, sizeof(*room));
    room->svc = svc;
    room->name = pl_strdup(name);
    size_t jl = strlen(name) + strlen(svc->domain) + 2;
    room->jid = pl_malloc(jl);
    snprintf(room->jid, jl, "%s@%s", name, svc->domain);
    muc_config_init(&room->cfg);
    room->cfg.persistent = svc->opts->default_persistent;
    hashmap_init(&room->by_nick);
    hashmap_init(&room->by_real);
    hashmap_init(&room->affils);
    hashmap_init(&room->by_regnick);
    if (svc->opts->history_size)
        room->history = pl_calloc(svc->opts->history_size, sizeof(*room->history));
    hashmap_put(&svc->rooms, room->name, room);
    return room;
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

void muc_room_free(struct muc_room *room)
{
    hashmap_del(&room->svc->rooms, room->name);
    muc_iq_pending_release(room);
    while (room->occupants) {
        struct muc_occupant *o = room->occupants;
        room->occupants = o->next;
        occupant_free(o);
    }
    hashmap_release(&room->by_nick);
    hashmap_release(&room->by_real);
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&room->affils, &i, &k, &v);) {
        struct muc_affiliation *af = v;
        free(af->jid);
        free(af->reason);
        free(af->nick);
        free(af);
    }
    hashmap_release(&room->affils);
    hashmap_release(&room->by_regnick);
    for (size_t i = 0; i < room->hist_len; i++) {
        size_t at = (room->hist_start + i) % room->svc->opts->history_size;
        stanza_unref(room->history[at].st);
    }
    free(room->history);
    muc_config_release(&room->cfg);
    free(room->subject);
    free(room->subject_by);
    free(room->creator);
    free(room->name);
    free(room->jid);
    free(room);
}

bool muc_room_gc(struct muc_room *room)
{
    if (room->noccupants > 0 || (room->cfg.persistent && !room->locked))
        return false;
    muc_room_free(room);
    return true;
}

size_t muc_rooms_owned_by(struct muc_service *svc, const char *bare)
{
    size_t n = 0;
    void *v;
    for (size_t i = 0; hashmap_next(&svc->rooms, &i, NULL, &v);) {
        struct muc_room *room = v;
        if (room->creator && strcmp(room->creator, bare) == 0)
            n++;
    }
    return n;
}

/* --- affiliations ------------------------------------------------------------ */

enum muc_affil muc_affil_of(const struct muc_room *room, const char *bare)
{
    struct muc_affiliation *af = hashmap_get(&room->affils, bare);
    if (af)
        return af->affil;
    /* A ban of a whole server (§9.1 allows a domain as the JID). */
    const char *at = strchr(bare, '@');
    if (at && (af = hashmap_get(&room->affils, at + 1)))
        return af->affil;
    return MUC_AFFIL_NONE;
}

void muc_affil_set(struct muc_room *room, const char *bare, enum muc_affil a,
                   const char *reason)
{
    struct muc_affiliation *af = hashmap_get(&room->affils, bare);
    if (a == MUC_AFFIL_NONE) {
        if (af) {
            if (af->nick)
                hashmap_del(&room->by_regnick, af->nick);
            hashmap_del(&room->affils, bare);
            free(af->jid);
            free(af->reason);
            free(af->nick);
            free(af);
        }
        return;
    }
    if (!af) {
        af = pl_calloc(1, sizeof(*af));
        af->jid = pl_strdup(bare);
        hashmap_put(&room->affils, af->jid, af);
    }
    af->affil = a;
    free(af->reason);
    af->reason = reason && *reason ? pl_strdup(reason) : NULL;
}

void muc_affil_set_nick(struct muc_room *room, const char *bare, const char *nick)
{
    struct muc_affiliation *af = hashmap_get(&room->affils, bare);
    PL_ASSERT(af);
    if (af->nick) {
        hashmap_del(&room->by_regnick, af->nick);
        free(af->nick);
        af->nick = NULL;
    }
    if (nick) {
        af->nick = pl_strdup(nick);
        hashmap_put(&room->by_regnick, af->nick, af);
    }
}

const struct muc_affiliation *muc_nick_registrant(const struct muc_room *room,
                                                  const char *nick)
{
    return hashmap_get(&room->by_regnick, nick);
}

bool muc_nick_reserved_for_other(const struct muc_room *room, const char *nick,
                                 const char *bare)
{
    const struct muc_affiliation *af = muc_nick_registrant(room, nick);
    return af && strcmp(af->jid, bare) != 0;
}

size_t muc_owner_count(const struct muc_room *room)
{
    size_t n = 0;
    void *v;
    for (size_t i = 0; hashmap_next(&room->affils, &i, NULL, &v);)
        if (((struct muc_affiliation *)v)->affil == MUC_AFFIL_OWNER)
            n++;
    return n;
}

/* --- occupants ----------------------------------------------------------------- */

struct muc_occupant *muc_occupant_by_real(const struct muc_room *room, const char *full)
{
    return hashmap_get(&room->by_real, full);
}

struct muc_occupant *muc_occupant_by_nick(const struct muc_room *room, const char *nick)
{
    return hashmap_get(&room->by_nick, nick);
}

/* --- helpers ------------------------------------------------------------------- */

void muc_error(struct server *srv, const struct stanza *orig, const char *type,
               const char *cond, const char *text)
{
    router_bounce(srv, orig, type, cond, text);
}

void muc_deliver(struct muc_service *svc, const struct muc_occupant *occ, struct stanza *st)
{
    struct session *s = sm_find(svc->srv, occ->real);
    if (s)
        sm_deliver(svc->srv, s, st);
    else
        router_route(svc->srv, st);
}

void muc_deliver_frame(struct muc_service *svc, const struct muc_occupant *occ,
                       struct frame *f)
{
    struct session *s = sm_find(svc->srv, occ->real);
    if (s) {
        c2s_send_frame(s->c2s, f, occ->real->full);
        return;
    }
    struct stanza *st = frame_stanza(f, occ->real->full);
    router_route(svc->srv, st);
    stanza_unref(st);
}

long long muc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

long long muc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* --- disco ------------------------------------------------------------------- */

static void add_identity(struct arena *a, struct xml_node *q, const char *name)
{
    struct xml_node *id = xml_add_child(a, q, NULL, "identity");
    xml_set_attr(a, id, "category", "conference");
    xml_set_attr(a, id, "type", "text");
    xml_set_attr(a, id, "name", name);
}

static void add_feature(struct arena *a, struct xml_node *q, const char *var)
{
    xml_set_attr(a, xml_add_child(a, q, NULL, "feature"), "var", var);
}

/* §6.1: the service's identity and features. */
static void service_info(struct muc_service *svc, struct stanza *st, struct xml_node *q)
{
    if (xml_attr(q, "node")) {
        muc_error(svc->srv, st, "cancel", "item-not-found", "no such node");
        return;
    }
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(st, NS_DISCO_INFO, "query", &r);
    add_identity(r->arena, rq, "Chatrooms");
    add_feature(r->arena, rq, NS_DISCO_INFO);
    add_feature(r->arena, rq, NS_DISCO_ITEMS);
    add_feature(r->arena, rq, NS_MUC);
    add_feature(r->arena, rq, NS_PING_MUC);
    add_feature(r->arena, rq, NS_OCCUPANT_ID);
    router_route(svc->srv, r);
    stanza_unref(r);
}

/* §6.3: public rooms (§6.2: hidden rooms are not listed; locked rooms
 * do not exist yet for others). */
static void service_items(struct muc_service *svc, struct stanza *st, struct xml_node *q)
{
    (void)q;
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(st, NS_DISCO_ITEMS, "query", &r);
    void *v;
    for (size_t i = 0; hashmap_next(&svc->rooms, &i, NULL, &v);) {
        struct muc_room *room = v;
        if (!room->cfg.public_room || room->locked)
            continue;
        struct xml_node *it = xml_add_child(r->arena, rq, NULL, "item");
        xml_set_attr(r->arena, it, "jid", room->jid);
        xml_set_attr(r->arena, it, "name", *room->cfg.name ? room->cfg.name : room->name);
    }
    router_route(svc->srv, r);
    stanza_unref(r);
}

static void roominfo_field(struct arena *a, struct xml_node *x, const char *var,
                           const char *label, const char *val)
{
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "var", var);
    if (label)
        xml_set_attr(a, f, "label", label);
    xml_add_text_child(a, f, NULL, "value", val);
}

/* §6.4: a room's identity, features (§15.3 muc_*) and muc#roominfo. */
static void room_info(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                      struct xml_node *q, const struct jid *from)
{
    const char *node = xml_attr(q, "node");
    if (node && strcmp(node, MUC_NODE_ROOMUSER) == 0) {
        muc_roomuser_item(svc, room, st, from);
        return;
    }
    if (node) {
        muc_error(svc->srv, st, "cancel", "item-not-found", "no such node");
        return;
    }
    const struct muc_config *c = &room->cfg;
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(st, NS_DISCO_INFO, "query", &r);
    struct arena *a = r->arena;
    add_identity(a, rq, *c->name ? c->name : room->name);
    add_feature(a, rq, NS_MUC);
    add_feature(a, rq, NS_DISCO_INFO);
    add_feature(a, rq, NS_DISCO_ITEMS);
    add_feature(a, rq, c->public_room ? "muc_public" : "muc_hidden");
    add_feature(a, rq, c->persistent ? "muc_persistent" : "muc_temporary");
    add_feature(a, rq, c->members_only ? "muc_membersonly" : "muc_open");
    add_feature(a, rq, c->moderated ? "muc_moderated" : "muc_unmoderated");
    add_feature(a, rq, c->whois == MUC_WHOIS_ANYONE ? "muc_nonanonymous" : "muc_semianonymous");
    add_feature(a, rq, c->password_protected ? "muc_passwordprotected" : "muc_unsecured");
    if (c->logging)
        add_feature(a, rq, NS_MAM);
    add_feature(a, rq, NS_SID);
    add_feature(a, rq, NS_OCCUPANT_ID);
    add_feature(a, rq, NS_PING_MUC);
    add_feature(a, rq, NS_MUC_SELFPING);   /* XEP-0410 §3.3, message.c */
    add_feature(a, rq, NS_CONFERENCE);
    add_feature(a, rq, NS_MUC_REQUEST);
    if (c->allow_register)
        add_feature(a, rq, NS_REGISTER);    /* §7.10 */

    struct xml_node *x = xml_add_child(a, rq, NS_XDATA, "x");
    xml_set_attr(a, x, "type", "result");
    struct xml_node *ft = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, ft, "var", "FORM_TYPE");
    xml_set_attr(a, ft, "type", "hidden");
    xml_add_text_child(a, ft, NULL, "value", NS_MUC_ROOMINFO);
    roominfo_field(a, x, "muc#roominfo_description", "Description", c->desc);
    roominfo_field(a, x, "muc#roominfo_subject", "Subject", room->subject ? room->subject : "");
    char n[24];
    snprintf(n, sizeof(n), "%zu", room->noccupants);
    roominfo_field(a, x, "muc#roominfo_occupants", "Number of occupants", n);
    roominfo_field(a, x, "muc#roominfo_lang", "Language", c->lang);
    roominfo_field(a, x, "muc#roomconfig_roomname", "Name", c->name);
    roominfo_field(a, x, "muc#roominfo_subjectmod", "Occupants may change the subject",
                   c->change_subject ? "1" : "0");
    router_route(svc->srv, r);
    stanza_unref(r);
}

/* §6.5: occupants are listed to occupants only: in a semi-anonymous room
 * the list must not help outsiders map nicknames to people, and an empty
 * list is what the XEP allows ("MAY return an empty <query/>"). */
static void room_items(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                       const struct jid *from)
{
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(st, NS_DISCO_ITEMS, "query", &r);
    if (muc_occupant_by_real(room, from->full)) {
        const char *last = NULL;
        for (struct muc_occupant *o = room->occupants; o; o = o->next) {
            if (last && strcmp(last, o->nick) == 0)
                continue;
            last = o->nick;
            xml_set_attr(r->arena, xml_add_child(r->arena, rq, NULL, "item"), "jid", o->room_jid);
        }
    }
    router_route(svc->srv, r);
    stanza_unref(r);
}

static void iq_result_empty(struct server *srv, struct stanza *st)
{
    struct stanza *r;
    iq_reply_result(st, NULL, NULL, &r);
    router_route(srv, r);
    stanza_unref(r);
}

static bool is_req(const struct stanza *st)
{
    const char *t = xml_attr(st->root, "type");
    return t && (strcmp(t, "get") == 0 || strcmp(t, "set") == 0);
}

static void service_iq(struct muc_service *svc, struct stanza *st)
{
    if (!is_req(st))
        return;                 /* answers are never answered (RFC 6120 §8.2.3) */
    struct xml_node *q = xml_child(st->root, NULL, NULL);
    const char *type = xml_attr(st->root, "type");
    bool get = strcmp(type, "get") == 0;
    if (!q) {
        muc_error(svc->srv, st, "modify", "bad-request", "IQ get/set needs one child element");
    } else if (get && xml_is(q, NS_DISCO_INFO, "query")) {
        service_info(svc, st, q);
    } else if (get && xml_is(q, NS_DISCO_ITEMS, "query")) {
        service_items(svc, st, q);
    } else if (get && xml_is(q, NS_PING_MUC, "ping")) {
        iq_result_empty(svc->srv, st);
    } else {
        muc_error(svc->srv, st, "cancel", "service-unavailable", NULL);
    }
}

static void room_iq(struct muc_service *svc, struct stanza *st, const struct jid *to,
                    const struct jid *from)
{
    if (!is_req(st))
        return;
    struct xml_node *q = xml_child(st->root, NULL, NULL);
    if (!q) {
        muc_error(svc->srv, st, "modify", "bad-request", "IQ get/set needs one child element");
        return;
    }
    struct muc_room *room = muc_room_find(svc, to->local);
    bool get = strcmp(xml_attr(st->root, "type"), "get") == 0;
    /* A locked room exists only for its owner (§10.1.1: others get
     * <item-not-found/> until it is configured). */
    if (room && room->locked && muc_affil_of(room, from->bare) != MUC_AFFIL_OWNER)
        room = NULL;
    if (!room) {
        muc_error(svc->srv, st, "cancel", "item-not-found", "no such room");
        return;
    }
    if (get && xml_is(q, NS_DISCO_INFO, "query"))
        room_info(svc, room, st, q, from);
    else if (get && xml_is(q, NS_DISCO_ITEMS, "query"))
        room_items(svc, room, st, from);
    else if (xml_is(q, NS_MUC_ADMIN, "query"))
        muc_iq_admin(svc, room, st, q, from);
    else if (xml_is(q, NS_MUC_OWNER, "query"))
        muc_iq_owner(svc, room, st, q, from);
    else if (xml_is(q, NS_MAM, "query"))
        muc_iq_mam(svc, room, st, q, from);
    else if (xml_is(q, NS_REGISTER, "query"))
        muc_iq_register(svc, room, st, q, from);
    else if (get && xml_is(q, NS_PING_MUC, "ping"))
        iq_result_empty(svc->srv, st);
    else
        muc_error(svc->srv, st, "cancel", "service-unavailable", NULL);
}

void muc_route(struct server *srv, struct stanza *st, const struct jid *to, void *ud)
{
    struct muc_service *svc = ud;
    const char *from_s = xml_attr(st->root, "from");
    struct jid *from = from_s ? jid_parse(from_s) : NULL;
    /* Only stanzas from users (full JIDs: a session) are served; the
     * router stamps 'from' on everything a client sends. */
    if (!from || !from->local || !from->resource) {
        if (from && strcmp(st->root->name, "presence") != 0)
            muc_error(srv, st, "cancel", "service-unavailable", "only users talk to this service");
        jid_free(from);
        return;
    }
    if (!svc->loaded) {
        if (strcmp(st->root->name, "presence") != 0 || !xml_attr(st->root, "type"))
            muc_error(srv, st, "wait", "resource-constraint", "the service is starting");
        jid_free(from);
        return;
    }
    const char *name = st->root->name;
    if (!to->local) {
        if (strcmp(name, "iq") == 0)
            service_iq(svc, st);
        else if (strcmp(name, "message") == 0)
            muc_error(srv, st, "cancel", "service-unavailable", "messages to the service are not handled");
        /* presence to the service: nothing lives there (ignored, RFC 6121 §8.5.1 style) */
    } else if (strlen(to->local) > MUC_ROOM_NAME_MAX) {
        muc_error(srv, st, "modify", "jid-malformed", "room name too long");
    } else if (strcmp(name, "presence") == 0) {
        muc_presence(svc, st, to, from);
    } else if (strcmp(name, "message") == 0) {
        muc_message(svc, st, to, from);
    } else if (strcmp(name, "iq") == 0) {
        if (to->resource)
            muc_iq_occupant(svc, st, to, from);
        else
            room_iq(svc, st, to, from);
    }
    jid_free(from);
}
