/*
 * sm.h - the session directory, as seen by admin commands.
 * (The delivery side lives in router.h.)
 */
#ifndef PARLEY_ROUTER_SM_H
#define PARLEY_ROUTER_SM_H

#include <stddef.h>
#include <time.h>

#include "storage/store.h"

struct server;
struct jid;

/* Calls fn for every bound session (full JID, peer address, bind time). */
typedef void (*sm_session_fn)(const char *full_jid, const char *peer,
                              time_t since, void *ud);
void sm_foreach(struct server *srv, sm_session_fn fn, void *ud);
size_t sm_count(const struct server *srv);
/* Closes the sessions of 'jid' (a full JID: that resource; a bare JID:
 * all of the account's) with a stream error <condition/> and 'text'.
 * Returns how many were closed. */
size_t sm_kick(struct server *srv, const struct jid *jid,
               const char *condition, const char *text);

/*
 * Deletes the account user@host ('user' and 'host' prepared) from
 * storage, the one way every deletion path goes (XEP-0077 cancel,
 * parleyctl unregister, XEP-0133 delete-user): HOOK_ACCOUNT_DELETING
 * runs first, then store_account_delete(); when it succeeded
 * HOOK_ACCOUNT_DELETED runs, then cb gets the store's result (OK |
 * NOT_FOUND | an error).  Closing the account's sessions is the caller's
 * choice (the stream error differs per path).
 */
void sm_account_delete(struct server *srv, const char *user, const char *host,
                       store_cb cb, void *ud);

#endif
