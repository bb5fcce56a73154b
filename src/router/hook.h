/*
 * hook.h - named events modules hook into (ARCHITECTURE.md principle 6).
 *
 * Handlers run in ascending priority order.  A filter hook's handler
 * returns HOOK_CONTINUE to let the next one run, HOOK_HANDLED when it took
 * care of the event (the core does nothing more), HOOK_STOP to end the
 * chain without handling.  Notify hooks ignore the return value.
 */
#ifndef PARLEY_ROUTER_HOOK_H
#define PARLEY_ROUTER_HOOK_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct stanza;
struct session;

enum hook_id {
    HOOK_OFFLINE_MESSAGE,   /* filter: a message for an existing account with no
                               available resource (RFC 6121 §8.5.2.2.1); HANDLED
                               means stored. Unhandled: bounced <service-unavailable/> */
    HOOK_SESSION_BOUND,     /* notify: a resource was bound (ev.session) */
    HOOK_SESSION_CLOSED,    /* notify: a session is going away (ev.session) */
    HOOK_USER_AVAILABLE,    /* notify: first available presence of a session */
    HOOK_USER_UNAVAILABLE,  /* notify: a session became unavailable */
    HOOK_STANZA_OUT,        /* filter: a stanza leaving a user for someone else:
                               sent by a bound session (ev.session set; 'from'
                               stamped and checked) or generated for the user
                               by the server (ev.session NULL: presence to
                               contacts, probe answers), before routing.
                               HANDLED: the module consumed it (answered,
                               bounced or re-routed it itself). Blocking,
                               roster (outbound subscriptions), carbons
                               'sent', MAM (outgoing). See router_route_out(). */
    HOOK_STANZA_IN,         /* filter: a stanza for an existing local account
                               (ev.user = its bare JID), before the delivery
                               rules of RFC 6121 §8.5 run. Subscription
                               presence and probes come here even when the
                               account has no session.  HANDLED: consumed.
                               Blocking, roster (inbound subscriptions,
                               probes), MAM (incoming), PEP (caps).
                               A hook may deliver a changed copy instead
                               (MAM adds <stanza-id/>): it sets ev->stanza
                               to a new stanza whose reference passes to
                               the router; the hooks after it see the copy.
                               Only one hook may replace (MAM, today): a
                               second replacer would have to unref the
                               first copy, and nothing tells it that
                               ev->stanza is a copy. */
    HOOK_PRESENCE_OUT,      /* notify: a session's broadcast presence
                               (available or unavailable, no 'to') after its
                               own resources got it (ev.stanza, ev.session;
                               also at unbind with a generated unavailable):
                               the roster sends it to subscribers. */
    HOOK_MESSAGE_DELIVERED, /* notify: a message was written to the sessions
                               in ev.targets (carbons 'received'). */
    HOOK_MESSAGE_HIBERNATED,/* notify: a message was queued for a session
                               whose stream is gone but may resume
                               (XEP-0198; push notifications). ev.session */
    HOOK_ACCOUNT_DELETING,  /* notify: an account's deletion is about to be
                               submitted to storage (ev.user = its bare JID,
                               ev.host).  Storage runs requests in order, so
                               reads a handler submits now still see the
                               account's data (the roster loads the contacts
                               it must notify).  It may fail afterwards:
                               ACCOUNT_DELETED then does not follow. */
    HOOK_ACCOUNT_DELETED,   /* notify: the account is gone from storage
                               (ev.user = its bare JID, ev.host).  Fired
                               once per deletion by sm_account_delete(),
                               whatever asked for it (XEP-0077 cancel,
                               parleyctl unregister, XEP-0133 delete-user):
                               modules drop what they cache for the account
                               and the roster cancels its subscriptions
                               (XEP-0077 §3.2). */
    HOOK_COUNT,
};

enum hook_result {
    HOOK_CONTINUE,
    HOOK_HANDLED,
    HOOK_STOP,
};

struct hook_event {
    struct server *srv;
    const char *host;           /* the virtual host concerned */
    struct stanza *stanza;      /* may be NULL */
    struct session *session;    /* may be NULL */
    const char *user;           /* STANZA_IN: the recipient account's bare JID;
                                   ACCOUNT_*: the account's bare JID */
    bool redelivery;            /* STANZA_IN: archiving was decided already
                                   (router_redeliver(): XEP-0198 unacked
                                   messages of an ended session, or a message
                                   MAM held for the recipient's preferences);
                                   archives must not store it again */
    struct session *const *targets;   /* MESSAGE_DELIVERED */
    size_t ntargets;
};

typedef enum hook_result (*hook_fn)(struct hook_event *ev, void *ud);

struct hook_entry {
    hook_fn fn;
    void *ud;
    int prio;
    const char *host;           /* NULL = every host */
    const void *owner;
};

struct hooks {
    struct hook_entry *v[HOOK_COUNT];
    size_t n[HOOK_COUNT];
};

void hooks_add(struct hooks *h, enum hook_id id, const char *host, hook_fn fn,
               void *ud, int prio, const void *owner);
void hooks_remove_owner(struct hooks *h, const void *owner);
void hooks_release(struct hooks *h);
/* Runs the chain for ev->host; returns HOOK_HANDLED if a handler did. */
enum hook_result hooks_run(struct hooks *h, enum hook_id id, struct hook_event *ev);

#endif
