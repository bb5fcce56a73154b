/*
 * roster.h - what the roster module (RFC 6121) tells other modules.
 *
 * PEP (access model 'presence', notifications to subscribers), last
 * activity (XEP-0012 §4: only for contacts with a subscription) and
 * blocking ask the roster about subscriptions through this header and
 * never read roster storage themselves.  When the roster module is not
 * enabled on a host every query answers SUB_NONE.
 */
#ifndef PARLEY_MODULES_ROSTER_H
#define PARLEY_MODULES_ROSTER_H

#include <stdbool.h>
#include <stddef.h>

struct server;

/* The subscription state of one roster item (RFC 6121 §2.1.2.5). */
enum roster_sub {
    ROSTER_SUB_NONE = 0,
    ROSTER_SUB_TO = 1,          /* the user sees the contact's presence */
    ROSTER_SUB_FROM = 2,        /* the contact sees the user's presence */
    ROSTER_SUB_BOTH = 3,        /* TO | FROM */
};

/* Completion of roster_subscription(): 'sub' is the item's state
 * (ROSTER_SUB_NONE when the contact is not in the roster), or -1 when
 * storage failed.  Runs on the loop, possibly before roster_subscription()
 * returns (when the roster is in memory). */
typedef void (*roster_sub_cb)(struct server *srv, int sub, void *ud);

/* The subscription of 'contact' (a bare JID) in the roster of the local
 * account 'user' (a bare JID), from memory when the user is online, from
 * storage otherwise. */
void roster_subscription(struct server *srv, const char *user, const char *contact,
                         roster_sub_cb cb, void *ud);

/* Calls cb once the roster of 'user' (a local bare JID with a bound
 * session) is loaded and every change queued before this call has been
 * applied: cb(srv, 1, ud) then, cb(srv, 0, ud) when the roster is not in
 * memory (no session, or no roster module on the host), cb(srv, -1, ud)
 * when loading failed.  May run before roster_when_ready() returns.  A
 * client can send presence before its roster finished loading: code that
 * reacts to that presence with roster_foreach() waits here first. */
void roster_when_ready(struct server *srv, const char *user, roster_sub_cb cb, void *ud);

/* Synchronous, for users with a bound session (their roster is loaded
 * at bind, before the client can publish or send presence): calls fn for
 * every contact (bare JID) whose subscription has all the bits of 'mask'
 * (ROSTER_SUB_FROM: the contacts who may see the user's presence).
 * Returns false when the roster is not in memory (no session). */
typedef void (*roster_contact_fn)(const char *contact, enum roster_sub sub, void *ud);
bool roster_foreach(struct server *srv, const char *user, enum roster_sub mask,
                    roster_contact_fn fn, void *ud);

/* Is the roster module enabled on host?  Without it there are no
 * subscriptions to consult (the router then skips the presence-sharing
 * check of RFC 6121 §8.5.3.1). */
bool roster_enabled(struct server *srv, const char *host);

#endif
