/*
 * router.h - "where does this address live?" (ARCHITECTURE.md, router/)
 *
 * Every stanza a session sends, and every stanza the server generates,
 * goes through router_route().  Local accounts are served by the session
 * manager (sm.c) with the delivery rules of RFC 6121 §8.5; the server's
 * own addresses by IQ handlers registered by modules; anything else is a
 * remote domain (<remote-server-not-found/> until federation lands).
 *
 * Modules extend the path with IQ handlers keyed by (host, target kind,
 * payload namespace) and with hooks (router/hook.h).
 */
#ifndef PARLEY_ROUTER_ROUTER_H
#define PARLEY_ROUTER_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/hashmap.h"
#include "router/hook.h"

struct server;
struct stanza;
struct xml_node;
struct jid;
struct c2s;

#define NS_STANZAS  "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAMS  "urn:ietf:params:xml:ns:xmpp-streams"

/* Who an IQ handler answers for. */
enum iq_target {
    IQ_TO_HOST,                 /* the server itself: to='example.org' */
    IQ_TO_BARE,                 /* an account, on its behalf: to='user@example.org'
                                   (RFC 6121 §8.5.2.1.3); the account exists */
    IQ_TARGET_COUNT,
};

/* A handler receives the request (borrowed: stanza_ref() to keep it) and
 * must eventually answer with router_route() of a result or error, e.g.
 * via iq_reply_result()/router_bounce().  'payload' is the IQ's child. */
typedef void (*iq_handler_fn)(struct server *srv, struct stanza *req,
                              struct xml_node *payload, void *ud);

struct iq_handler {
    iq_handler_fn fn;
    void *ud;
    const void *owner;          /* module instance, for unregistering */
    char key[];                 /* "host\x1fns": the map's key lives here */
};

/* One bound resource of an account. */
struct session {
    struct c2s *c2s;            /* the stream; NULL never while in the directory */
    struct jid *jid;            /* full JID, owned */
    struct account *account;
    struct session *next;       /* sibling resources */
    struct stanza *presence;    /* last broadcast presence, NULL = unavailable;
                                   'from' may be missing (sm.c presence_keep()):
                                   whoever sends it on sets s->jid->full */
    int priority;               /* from that presence, -128..127 */
    bool roster_interested;     /* requested the roster: an "interested
                                   resource" (RFC 6121 §2.2), gets pushes;
                                   a flag, not a per-roster map of full
                                   JIDs (principle 4: small sessions) */
    bool carbons;               /* XEP-0280 enabled: a flag of the session,
                                   so a module reload keeps it */
    struct hashmap directed;    /* full JIDs we sent directed available presence to -> jid string (owned) */
    time_t since;
};

/* The sessions of one bare JID. */
struct account {
    struct session *sessions;
    size_t nsessions;
    char bare[];                /* key; in the same allocation */
};

/* When a stream feature is offered (RFC 6120 §4.3.2). */
enum stream_stage {
    SF_PREAUTH,                 /* with the SASL mechanisms (after TLS) */
    SF_POSTAUTH,                /* with <bind/> */
    SF_STAGE_COUNT,
};

/* An IQ a client may send before it authenticates (XEP-0077 in-band
 * registration).  The handler answers with c2s_send(c, ...) and may keep
 * the stream with c2s_hold()/c2s_release() across asynchronous work. */
typedef void (*preauth_iq_fn)(struct server *srv, struct c2s *c, struct stanza *req,
                              struct xml_node *payload, void *ud);

struct router {
    struct hashmap accounts;    /* bare JID -> struct account */
    struct hashmap iq[IQ_TARGET_COUNT];   /* "host\x1fns" -> struct iq_handler */
    struct hashmap features[IQ_TARGET_COUNT]; /* host -> struct feature_list */
    struct hashmap stream_features[SF_STAGE_COUNT]; /* host -> struct feature_list
                                                       (serialized elements) */
    struct hashmap preauth;     /* "host\x1fns" -> struct iq_handler (fn is a preauth_iq_fn) */
    struct hooks hooks;
    size_t nsessions;
    struct hashmap services;    /* domain -> struct service_route (local services) */
    struct hashmap gates;       /* bare JID -> struct gate (router.c): stanzas
                                   to that account in order (RFC 6120 §10.1) */
    struct stanza *empty_presence; /* <presence/>, shared by every session
                                      whose last presence has no content */
};

struct router *router_new(void);
void router_free(struct router *r);

/* Routes a stanza whose 'from' and 'to' are set and valid ('to' may be
 * absent for presence broadcast).  Borrows st; takes a reference when it
 * needs the stanza after returning (asynchronous account lookups). */
void router_route(struct server *srv, struct stanza *st);

/* Routes a stanza once more whose archiving was already decided: one that
 * was delivered to a session and comes back because the session ended
 * before it acknowledged it (XEP-0198 §4 unacknowledged messages), or one
 * MAM held while it loaded the recipient's preferences and now releases.
 * Like router_route(), but HOOK_STANZA_IN sees ev.redelivery set, so
 * archives (MAM) do not store it, or stamp it, a second time. */
void router_redeliver(struct server *srv, struct stanza *st);

/*
 * Per-recipient order (RFC 6120 §10.1: stanzas from one entity to another
 * are delivered in the order sent).  Whoever processes a stanza for a
 * local account asynchronously - the router's account lookup, MAM waiting
 * for the recipient's preferences, blocking waiting for its list, offline
 * storage until the row is committed, the offline flush at login - holds
 * the account's gate meanwhile.  While a gate is held, every later stanza
 * to that account (bare or full JID) waits in the router, in arrival
 * order, and is routed when the last hold is released.  The holder itself
 * continues its stanza with router_resume() or router_redeliver(), which
 * pass the gate: that stanza is older than everything waiting.
 *
 * Every hold must be released exactly once, also when the server stops
 * or the module is unloaded: a gate never released stops the account's
 * mail.  'bare' is the account's bare JID.
 */
void router_gate_hold(struct server *srv, const char *bare);
void router_gate_release(struct server *srv, const char *bare);

/* Routes a stanza once more from the start (all hooks), past its
 * recipient's gate: for a module that held the stanza, and the gate,
 * while it waited (blocking's list load). */
void router_resume(struct server *srv, struct stanza *st);

/* Routes a stanza leaving a local user: runs HOOK_STANZA_OUT (blocking,
 * roster, carbons, archive), then router_route() unless a hook handled it.
 * 'sender' is the session that sent it, NULL when the server generates it
 * on the user's behalf.  Every stanza from a client goes this way. */
void router_route_out(struct server *srv, struct session *sender, struct stanza *st);

/* Sends an error reply for 'orig' back to its sender (RFC 6120 §8.3):
 * a copy of the original with to/from swapped, type='error' and
 * <error type=TYPE><COND xmlns=stanzas/><text>TEXT</text></error>.
 * Never answers an error with an error. */
void router_bounce(struct server *srv, const struct stanza *orig,
                   const char *type, const char *cond, const char *text);
/* An IQ result to 'req' with an optional payload element named
 * (ns, name); returns the payload so the caller can fill it, then the
 * caller calls router_route() and stanza_unref() on *out. */
struct xml_node *iq_reply_result(const struct stanza *req, const char *ns,
                                 const char *name, struct stanza **out);

/* Registration (by modules, through modules.c). */
void router_iq_register(struct router *r, const char *host, enum iq_target t,
                        const char *ns, iq_handler_fn fn, void *ud,
                        const void *owner);
void router_feature_add(struct router *r, const char *host, enum iq_target t,
                        const char *var, const void *owner);
/* A stream feature element, serialized ("<ver xmlns='...'/>"), offered
 * on streams to host at the given stage. */
void router_stream_feature_add(struct router *r, const char *host,
                               enum stream_stage stage, const char *xml,
                               const void *owner);
const char *const *router_stream_features(struct router *r, const char *host,
                                          enum stream_stage stage, size_t *n_out);
void router_preauth_register(struct router *r, const char *host, const char *ns,
                             preauth_iq_fn fn, void *ud, const void *owner);
/* The pre-authentication handler for (host, ns), or NULL. */
const struct iq_handler *router_preauth_find(struct router *r, const char *host,
                                             const char *ns);
/* The handler registered for IQs of namespace ns to target t on host, or
 * NULL (disco.c looks up node handlers registered by pl_disco_node). */
const struct iq_handler *router_iq_find(struct router *r, const char *host,
                                        enum iq_target t, const char *ns);
/*
 * Local services: a module serves a whole domain that is not a virtual
 * host (the XEP-0045 service conference.example.org).  Every stanza whose
 * 'to' domain is 'domain' goes to fn (st borrowed: stanza_ref() to keep
 * it; 'to' is the parsed address, borrowed for the call), ahead of the
 * remote-domain bounce.  A later registration of the same domain wins.
 */
typedef void (*service_route_fn)(struct server *srv, struct stanza *st,
                                 const struct jid *to, void *ud);
struct service_route {
    service_route_fn fn;
    void *ud;
    const void *owner;          /* module instance, for unregistering */
    char domain[];              /* the map's key lives here */
};
void router_service_register(struct router *r, const char *domain,
                             service_route_fn fn, void *ud, const void *owner);
/* Is domain served by a local service (router_service_register)? */
bool router_is_local_service(const struct server *srv, const char *domain);

void router_unregister_owner(struct router *r, const void *owner);
/* The disco features of host for target t, sorted, NULL-terminated
 * (borrowed until the next registration). */
const char *const *router_features(struct router *r, const char *host,
                                   enum iq_target t, size_t *n_out);

/* Is host one of ours?  (virtual hosts of the current config) */
bool router_is_local_host(const struct server *srv, const char *host);

/* --- session directory (sm.c) ---------------------------------------- */

/* Binds c2s as full JID 'jid' (takes ownership of jid).  An existing
 * session with the same full JID is replaced: that stream gets a
 * <conflict/> stream error (RFC 6120 §7.7.2.2).  Never fails. */
struct session *sm_bind(struct server *srv, struct c2s *c2s, struct jid *jid);
/* Removes the session: if it was available, unavailable presence goes to
 * the account's other resources and to its directed-presence
 * recipients.  Frees the session. */
void sm_unbind(struct server *srv, struct session *s);
struct account *sm_account(struct server *srv, const char *bare);
struct session *sm_find(struct server *srv, const struct jid *full);

/* Presence sent by a session without 'to' (broadcast, RFC 6121 §4.2,
 * §4.4) or with 'to' (directed, §4.6). */
void sm_presence_broadcast(struct server *srv, struct session *s, struct stanza *st);
void sm_presence_directed(struct server *srv, struct session *s, const struct stanza *st);

/* Writes st to the session's stream. */
void sm_deliver(struct server *srv, struct session *s, struct stanza *st);

#endif
