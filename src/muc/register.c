/*
 * register.c - registering with a room (XEP-0045 §7.10, over XEP-0077
 * In-Band Registration with the muc#register FORM_TYPE of §15.5.2) and
 * discovering one's reserved nickname (§7.12, disco#info node
 * 'x-roomuser-item').
 *
 * Registration is the room's choice (§7.10 "An implementation MAY allow"):
 * the owner allows it with the room's allow-register field
 * (muc_config.h); otherwise <not-allowed/>.  A registrant becomes a member
 * (§7.10 "MAY immediately add the user to the member list"; in a
 * members-only room this is what lets them in) unless already more, and
 * its nickname is reserved: another user entering with it, or changing to
 * it, gets <conflict/> (§7.2.8, §7.12; presence.c).  The registration is
 * an affiliation with a nick (service.c by_regnick), so it is stored with
 * the room's affiliations (persist.c), and leaving the member list drops
 * the reservation.
 */
#include "muc/muc.h"

#include <stdlib.h>
#include <string.h>

#include "core/jid.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/mam_util.h"
#include "router/router.h"
#include "xml/xml.h"

static void reply_empty(struct server *srv, struct stanza *st)
{
    struct stanza *r;
    iq_reply_result(st, NULL, NULL, &r);
    router_route(srv, r);
    stanza_unref(r);
}

static void add_field(struct arena *a, struct xml_node *x, const char *var, const char *type,
                      const char *label, const char *val, bool required)
{
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "var", var);
    xml_set_attr(a, f, "type", type);
    if (label)
        xml_set_attr(a, f, "label", label);
    if (val)
        xml_add_text_child(a, f, NULL, "value", val);
    if (required)
        xml_add_child(a, f, NULL, "required");
}

/* §7.10: the registration requirements, or <registered/> with the nick. */
static void register_get(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                         const struct jid *from)
{
    const struct muc_affiliation *af = hashmap_get(&room->affils, from->bare);
    struct stanza *r;
    struct xml_node *q = iq_reply_result(st, NS_REGISTER, "query", &r);
    struct arena *a = r->arena;
    if (af && af->nick) {
        xml_add_child(a, q, NULL, "registered");
        xml_add_text_child(a, q, NULL, "username", af->nick);
    } else {
        xml_add_text_child(a, q, NULL, "instructions",
                           "Choose the nickname to reserve in this room; you become a member.");
        struct xml_node *x = xml_add_child(a, q, NS_XDATA, "x");
        xml_set_attr(a, x, "type", "form");
        xml_add_text_child(a, x, NULL, "title", "Room registration");
        add_field(a, x, "FORM_TYPE", "hidden", NULL, NS_MUC_REGISTER, false);
        add_field(a, x, "muc#register_roomnick", "text-single", "Desired Nickname", NULL, true);
    }
    router_route(svc->srv, r);
    stanza_unref(r);
}

/* The submitted form's FORM_TYPE and roomnick (text in 'a'); -1 when the
 * form is not a muc#register submission (§7.10 <bad-request/>). */
static int parse_submission(struct arena *a, const struct xml_node *q, const char **nick)
{
    struct xml_node *x = xml_child(q, NS_XDATA, "x");
    if (!x)
        return -1;
    const char *type = xml_attr(x, "type");
    if (!type || strcmp(type, "submit") != 0)
        return -1;
    const char *form_type = NULL;
    *nick = NULL;
    for (struct xml_node *f = xml_child(x, NULL, "field"); f; f = xml_next(f, NULL, "field")) {
        const char *var = xml_attr(f, "var");
        struct xml_node *v = xml_child(f, NULL, "value");
        if (!var || !v)
            continue;
        if (strcmp(var, "FORM_TYPE") == 0)
            form_type = xml_text(a, v);
        else if (strcmp(var, "muc#register_roomnick") == 0)
            *nick = xml_text(a, v);
    }
    return form_type && strcmp(form_type, NS_MUC_REGISTER) == 0 && *nick ? 0 : -1;
}

static void register_set(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                         struct xml_node *q, const struct jid *from)
{
    struct server *srv = svc->srv;
    struct arena *a = arena_new(512);
    const char *raw;
    char nick[JID_PART_MAX + 1];
    if (parse_submission(a, q, &raw) < 0) {
        muc_error(srv, st, "modify", "bad-request",
                  "submit a " NS_MUC_REGISTER " form with muc#register_roomnick");
        arena_free(a);
        return;
    }
    /* The nick is a resourcepart of the occupant JID (RFC 7622 §3.4),
     * prepared like the one in a join so that both compare equal. */
    if (!*raw || strlen(raw) > MUC_NICK_MAX || jid_prep_resource(raw, nick) < 0) {
        muc_error(srv, st, "modify", "bad-request", "muc#register_roomnick is not a valid nickname");
        arena_free(a);
        return;
    }
    arena_free(a);
    /* §7.10: "If the desired room nickname is already reserved for that
     * room, the room MUST return a <conflict/>"; a nick another user is
     * in the room with is taken too (§7.2.8). */
    struct muc_occupant *holder = muc_occupant_by_nick(room, nick);
    if (muc_nick_reserved_for_other(room, nick, from->bare) ||
        (holder && strcmp(holder->real->bare, from->bare) != 0)) {
        muc_error(srv, st, "cancel", "conflict", "that nickname is reserved by someone else");
        return;
    }
    enum muc_affil before = muc_affil_of(room, from->bare);
    if (!hashmap_get(&room->affils, from->bare) || before < MUC_AFFIL_MEMBER)
        muc_affil_set(room, from->bare, MUC_AFFIL_MEMBER, NULL);
    muc_affil_set_nick(room, from->bare, nick);
    if (room->cfg.persistent)
        muc_persist_save(room, st);
    reply_empty(srv, st);
    /* §7.10: "If the service changes the user's affiliation and the user
     * is in the room, it MUST send updated presence ... to all occupants"
     * (each nick the user is in the room under, once). */
    if (before < MUC_AFFIL_MEMBER) {
        for (struct muc_occupant *o = room->occupants; o;) {
            struct muc_occupant *next = muc_next_nick(o);
            if (strcmp(o->real->bare, from->bare) == 0) {
                /* A member of a moderated room has voice (§5.1.2). */
                enum muc_role r = muc_default_role(MUC_AFFIL_MEMBER, room->cfg.moderated);
                if (o->role < r)
                    muc_set_role(room, o, r);
                muc_broadcast_presence(room, o, NULL, 0, NULL, NULL);
            }
            o = next;
        }
    }
}

void muc_iq_register(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                     struct xml_node *q, const struct jid *from)
{
    bool get = strcmp(xml_attr(st->root, "type"), "get") == 0;
    enum muc_affil af = muc_affil_of(room, from->bare);
    /* §7.10: "If the user ... is not allowed to register with the room
     * (e.g., because that privilege has been restricted), the room MUST
     * return a <not-allowed/> error"; an outcast is not allowed either. */
    if (!room->cfg.allow_register) {
        muc_error(svc->srv, st, "cancel", "not-allowed", "this room does not take registrations");
        return;
    }
    if (af == MUC_AFFIL_OUTCAST) {
        muc_error(svc->srv, st, "cancel", "not-allowed", "you are banned from this room");
        return;
    }
    if (get)
        register_get(svc, room, st, from);
    else
        register_set(svc, room, st, q, from);
}

void muc_roomuser_item(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                       const struct jid *from)
{
    /* §7.12: the nick as the name of a conference/text identity; an
     * empty <query/> (with the node) when the user has none. */
    const struct muc_affiliation *af = hashmap_get(&room->affils, from->bare);
    struct stanza *r;
    struct xml_node *q = iq_reply_result(st, NS_DISCO_INFO, "query", &r);
    struct arena *a = r->arena;
    xml_set_attr(a, q, "node", MUC_NODE_ROOMUSER);
    if (af && af->nick) {
        struct xml_node *id = xml_add_child(a, q, NULL, "identity");
        xml_set_attr(a, id, "category", "conference");
        xml_set_attr(a, id, "type", "text");
        xml_set_attr(a, id, "name", af->nick);
    }
    router_route(svc->srv, r);
    stanza_unref(r);
}
