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
