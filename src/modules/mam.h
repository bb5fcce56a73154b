/*
 * mam.h - what the message archive (XEP-0313) tells other modules.
 *
 * Bind2 (XEP-0386) may skip the delivery of offline messages at bind when
 * the client catches up through MAM instead.  The rule (ARCHITECTURE.md
 * principle 5): an offline message is purged at bind ONLY IF it is
 * provably in the user's archive, i.e. its <stanza-id by=user/> (which
 * mod_mam adds before the message reaches offline storage) is answered
 * 'present' by mam_archived_ids() below.  Anything else (no stanza-id,
 * MAM not enabled, storage failure, an id not found) is delivered as
 * usual.  A message is never lost because it was assumed archived.
 */
#ifndef PARLEY_MODULES_MAM_H
#define PARLEY_MODULES_MAM_H

#include <stdbool.h>
#include <stddef.h>

struct server;

/* present[i] tells whether ids[i] is in the archive; all false when MAM
 * is not enabled on the user's host or storage failed ('ok' false then).
 * 'present' is valid during the call only. */
typedef void (*mam_ids_cb)(struct server *srv, bool ok, const bool *present,
                           size_t n, void *ud);

/* Asks, asynchronously, which of ids[0..n) (XEP-0359 stanza ids) are in
 * the archive of the local account 'user' (a bare JID).  The strings are
 * copied.  cb runs on the loop, possibly before the function returns
 * (MAM not enabled, n == 0). */
void mam_archived_ids(struct server *srv, const char *user, const char *const *ids,
                      size_t n, mam_ids_cb cb, void *ud);

#endif
