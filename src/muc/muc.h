/*
 * muc.h - the Multi-User Chat service (XEP-0045) inside the server: one
 * service per virtual host (conference.<host>), its rooms, occupants and
 * affiliations.  Internal to src/muc/ and the module descriptor
 * src/modules/muc.c.
 *
 *   service.c   routing entry, service discovery (§6.1-§6.3), rooms table
 *   presence.c  entering, exiting, nickname and status changes (§7.1-§7.7)
 *   message.c   groupchat fan-out, subject, private messages, invitations,
 *               voice requests, IQs to occupants and self-ping (XEP-0410)
 *   admin.c     muc#admin and muc#owner: roles, affiliations, config,
 *               destruction (§8-§10)
 *   register.c  registering with a room (§7.10) and the reserved nickname
 *               (§7.12)
 *   persist.c   persistent rooms in storage
 *   archive.c   the room archive (XEP-0313 §5) and stanza ids (XEP-0359)
 */
#ifndef PARLEY_MUC_MUC_H
#define PARLEY_MUC_MUC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/hashmap.h"
#include "muc/muc_config.h"
#include "muc/muc_rules.h"

struct server;
struct stanza;
struct jid;
struct xml_node;
struct arena;

#define NS_MUC          "http://jabber.org/protocol/muc"
#define NS_MUC_USER     "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN    "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER    "http://jabber.org/protocol/muc#owner"
#define NS_MUC_REQUEST  "http://jabber.org/protocol/muc#request"
#define NS_MUC_ROOMINFO "http://jabber.org/protocol/muc#roominfo"
#define NS_DISCO_INFO   "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS  "http://jabber.org/protocol/disco#items"
#define NS_OCCUPANT_ID  "urn:xmpp:occupant-id:0"
#define NS_CONFERENCE   "jabber:x:conference"
#define NS_PING_MUC     "urn:xmpp:ping"
#define NS_REGISTER     "jabber:iq:register"
#define NS_MUC_REGISTER "http://jabber.org/protocol/muc#register"
#define MUC_NODE_ROOMUSER "x-roomuser-item"
#define NS_MUC_SELFPING "http://jabber.org/protocol/muc#self-ping-optimization"

/* Bounds on what peers control. */
#define MUC_NICK_MAX        256     /* bytes of a nickname (a resourcepart) */
#define MUC_REASON_MAX      1024    /* bytes of a kick/ban/invite reason */
#define MUC_SUBJECT_MAX     4096
#define MUC_AFFILS_MAX      10000   /* affiliations of one room */
#define MUC_ITEMS_PER_IQ    100     /* <item/>s in one admin set */
#define MUC_ROOM_NAME_MAX   256
#define MUC_IQ_PENDING_MAX  256     /* IQs forwarded to occupants awaiting an
                                       answer, per room (message.c) */

/* The module's options (src/modules/muc.c). */
struct muc_opts {
    char *host;                 /* "conference.@HOST@" */
    unsigned max_rooms_per_user;/* rooms a user may own at once; 0 = no limit */
    unsigned max_occupants;     /* per room */
    unsigned history_size;      /* groupchat messages kept for new occupants */
    unsigned msg_rate;          /* messages per second per occupant; 0 = no limit */
    char *access_create;        /* access rule for creating rooms */
    bool default_persistent;    /* new rooms are persistent */
};

/* A real session in a room under one nickname.  Several resources of the
 * same bare JID may share a nickname (§7.2.9: multi-session nick);
 * each is one entry, adjacent in the room's list, sharing the role. */
struct muc_occupant {
    struct jid *real;           /* full JID, owned */
    char *nick;                 /* owned */
    char *room_jid;             /* room@service/nick, owned */
    enum muc_role role;
    struct stanza *presence;    /* the occupant's last presence as sent by
                                   the client (owned ref) */
    char occupant_id[48];       /* XEP-0421: stable per (room, bare JID) */
    struct muc_bucket bucket;   /* flood control */
    struct muc_occupant *next;  /* in the room's list */
};

struct muc_affiliation {
    char *jid;                  /* bare JID (or domain), key, owned */
    enum muc_affil affil;
    char *reason;               /* owned, may be NULL */
    char *nick;                 /* registered nickname (§7.10), may be NULL;
                                   key of room->by_regnick when set */
};

struct muc_history_item {
    struct stanza *st;          /* the groupchat message as fanned out (no 'to') */
    long long stamp_us;
    size_t chars;
};

struct muc_room {
    struct muc_service *svc;
    char *name;                 /* localpart, owned */
    char *jid;                  /* name@service, owned */
    struct muc_config cfg;
    bool locked;                /* created, not configured yet (§10.1.1) */
    bool destroyed;             /* being torn down */
    char *creator;              /* bare JID of the creator (rooms-per-user limit) */
    struct muc_occupant *occupants;   /* list, in order of entering */
    size_t noccupants;          /* occupants (nicks), not sessions: the
                                   number §7.2.9 max users limits */
    struct hashmap by_nick;     /* nick -> first struct muc_occupant with it */
    struct hashmap by_real;     /* real full JID -> struct muc_occupant */
    struct hashmap affils;      /* bare JID -> struct muc_affiliation */
    struct hashmap by_regnick;  /* registered nick -> struct muc_affiliation */
    char *subject;              /* owned, NULL = never set */
    char *subject_by;           /* nick of who set it ("" for the room) */
    struct muc_history_item *history;   /* ring of svc->opts->history_size */
    size_t hist_start, hist_len;
    unsigned char salt[16];     /* occupant-id key, per room */
    struct muc_iq_pending *iq_pending;  /* forwarded IQs, oldest first */
    size_t niq_pending;
};

struct muc_service {
    struct server *srv;
    const struct muc_opts *opts;
    const void *owner;          /* the module instance */
    char *domain;               /* conference.example.org */
    char *host;                 /* the virtual host it serves */
    struct hashmap rooms;       /* name -> struct muc_room */
    bool loaded;                /* persistent rooms read from storage */
    bool dead;                  /* unloaded; storage callbacks still pending */
    int refs;                   /* one for the module, one per pending callback */
};

/* --- service.c --------------------------------------------------------------- */

struct muc_service *muc_service_new(struct server *srv, const struct muc_opts *opts,
                                    const char *domain, const char *host, const void *owner);
/* Unload: rooms are torn down (occupants get status 332 unless the server
 * stops); the service is freed when its last pending callback returns. */
void muc_service_stop(struct muc_service *svc);
struct muc_service *muc_service_ref(struct muc_service *svc);
void muc_service_unref(struct muc_service *svc);
/* The router's entry for every stanza to the service's domain. */
void muc_route(struct server *srv, struct stanza *st, const struct jid *to, void *ud);

struct muc_room *muc_room_find(struct muc_service *svc, const char *name);
struct muc_room *muc_room_new(struct muc_service *svc, const char *name);
/* Frees the room and removes it from the table (occupants must be gone or
 * are dropped silently: callers tell them first). */
void muc_room_free(struct muc_room *room);
/* A temporary room with no occupants goes (§10.1.3 "destroyed when the
 * last occupant exits"); returns true when it went. */
bool muc_room_gc(struct muc_room *room);
size_t muc_rooms_owned_by(struct muc_service *svc, const char *bare);

enum muc_affil muc_affil_of(const struct muc_room *room, const char *bare);
/* Sets (or with MUC_AFFIL_NONE, removes, with its registered nick: off the
 * member list, no reservation, §7.2.8) an affiliation. */
void muc_affil_set(struct muc_room *room, const char *bare, enum muc_affil a,
                   const char *reason);
/* Registers (§7.10) 'nick' (NULL: none) for the affiliated 'bare'. */
void muc_affil_set_nick(struct muc_room *room, const char *bare, const char *nick);
/* The affiliation that registered 'nick', NULL when nobody did. */
const struct muc_affiliation *muc_nick_registrant(const struct muc_room *room,
                                                  const char *nick);
/* Is 'nick' registered in the room by someone other than 'bare'?  §7.2.8
 * and §7.12: entering (or changing to) it is a <conflict/>. */
bool muc_nick_reserved_for_other(const struct muc_room *room, const char *nick,
                                 const char *bare);
size_t muc_owner_count(const struct muc_room *room);

struct muc_occupant *muc_occupant_by_real(const struct muc_room *room, const char *full);
struct muc_occupant *muc_occupant_by_nick(const struct muc_room *room, const char *nick);

/* Sends a stanza error for 'orig' (RFC 6120 §8.3) with the XEP's condition. */
void muc_error(struct server *srv, const struct stanza *orig, const char *type,
               const char *cond, const char *text);
/* Delivers st (which must carry 'to' = occ->real) to the occupant's session,
 * or routes it when the session is not local anymore. */
void muc_deliver(struct muc_service *svc, const struct muc_occupant *occ, struct stanza *st);
/* The same for a shared serialization (stream/frame.h, without 'to'):
 * written to the occupant's local session as is, or rebuilt into a
 * stanza addressed to occ->real when it must be routed. */
struct frame;
void muc_deliver_frame(struct muc_service *svc, const struct muc_occupant *occ,
                       struct frame *f);
/* Microseconds since the epoch / milliseconds of the monotonic clock. */
long long muc_now_us(void);
long long muc_mono_ms(void);

/* --- presence.c ------------------------------------------------------------ */

void muc_presence(struct muc_service *svc, struct stanza *st, const struct jid *to,
                  const struct jid *from);
/* Builds the occupant's presence as 'viewer' sees it (§7.2.3: <item/> with
 * affiliation, role and, for those allowed, the real JID), plus status
 * codes.  New stanza; caller unrefs. 'type' NULL = available. */
struct stanza *muc_occupant_presence(struct muc_room *room, const struct muc_occupant *occ,
                                     const char *type, bool with_jid,
                                     const int *codes, size_t ncodes);
/* Sends occ's current presence to every occupant (role/affiliation change,
 * status change), adding 'codes' to everyone's copy and 110 to occ's own. */
void muc_broadcast_presence(struct muc_room *room, struct muc_occupant *occ,
                            const int *codes, size_t ncodes,
                            const char *actor_nick, const char *reason);
/* Removes the occupant with all of its sessions under that nick (§7.2.9),
 * telling everyone with unavailable presence carrying 'codes' (307 kick,
 * 301 ban, 321/322 affiliation/members-only).  Loops over the occupant
 * list step with muc_next_nick() taken before the call. */
void muc_remove_occupant(struct muc_room *room, struct muc_occupant *occ,
                         const int *codes, size_t ncodes,
                         const char *actor_nick, const char *reason);
/* Multi-session nicks (§7.2.9): the sessions of one nick are adjacent in
 * room->occupants and by_nick points at the first.  muc_next_nick() is
 * the first occupant after occ's nick (to visit each nick once);
 * muc_set_role() sets the role of every session of occ's nick. */
struct muc_occupant *muc_next_nick(const struct muc_occupant *occ);
void muc_set_role(struct muc_room *room, struct muc_occupant *occ, enum muc_role role);
/* May 'viewer' see real JIDs in this room? */
bool muc_sees_jids(const struct muc_room *room, const struct muc_occupant *viewer);

/* --- message.c ------------------------------------------------------------- */

void muc_message(struct muc_service *svc, struct stanza *st, const struct jid *to,
                 const struct jid *from);
/* IQs to room@service/nick (§17.4, XEP-0410): a request goes to one
 * session of the nick under a fresh id remembered in room->iq_pending,
 * the answer comes back to the exact session that asked. */
void muc_iq_occupant(struct muc_service *svc, struct stanza *st, const struct jid *to,
                     const struct jid *from);
/* A session leaves the room: the IQs it was asked and has not answered
 * are answered with an error on its behalf (nothing is lost). */
void muc_iq_session_gone(struct muc_room *room, const struct muc_occupant *occ);
/* Frees the pending IQs without answering (the room goes at shutdown). */
void muc_iq_pending_release(struct muc_room *room);
/* Sends st (a stanza from the room or an occupant without 'to') to every
 * occupant: one serialization per room message (see the comment there). */
void muc_fanout(struct muc_room *room, struct stanza *st);
/* Sends a message from the room itself with a <x muc#user><status/> list
 * (§10.2.1 config change 104 ...) to every occupant. */
void muc_room_status_message(struct muc_room *room, const int *codes, size_t ncodes);
/* The subject message for one occupant (§7.2.15). */
void muc_send_subject(struct muc_room *room, struct muc_occupant *occ);
void muc_send_history(struct muc_room *room, struct muc_occupant *occ,
                      const struct xml_node *history);

/* --- admin.c --------------------------------------------------------------- */

void muc_iq_admin(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                  struct xml_node *q, const struct jid *from);
void muc_iq_owner(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                  struct xml_node *q, const struct jid *from);
/* §10.9: destroys the room, telling occupants (alternate venue optional);
 * 'cause' (may be NULL) is held until a persistent room's row is gone. */
void muc_room_destroy(struct muc_room *room, const char *alt_jid, const char *reason,
                      const char *password, struct stanza *cause);

/* --- register.c ------------------------------------------------------------ */

/* §7.10: <query xmlns='jabber:iq:register'/> to the room (get and set). */
void muc_iq_register(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                     struct xml_node *q, const struct jid *from);
/* §7.12: disco#info node 'x-roomuser-item' (the asker's reserved nick). */
void muc_roomuser_item(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                       const struct jid *from);

/* --- persist.c ------------------------------------------------------------- */

/* Writes a persistent room's state (config, affiliations, subject).
 * 'cause' (may be NULL) is the stanza that changed it: held (stanza_hold)
 * until the write completed, so that XEP-0198 acks wait for it. */
void muc_persist_save(struct muc_room *room, struct stanza *cause);
/* Deletes a room's stored state (no longer persistent, or destroyed);
 * 'cause' as above. */
void muc_persist_forget(struct muc_service *svc, const char *name, struct stanza *cause);
/* Reads every persistent room of the service (at load). */
void muc_persist_load(struct muc_service *svc);

/* --- archive.c ------------------------------------------------------------- */

/* Stores a groupchat message (already stamped with its stanza id). */
void muc_archive_store(struct muc_room *room, struct stanza *st, const char *id,
                       const char *with);
void muc_iq_mam(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                struct xml_node *q, const struct jid *from);

#endif
