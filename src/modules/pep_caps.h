/*
 * pep_caps.h - Entity Capabilities verification (XEP-0115 §5).
 *
 * Pure logic (no server header): PEP learns which nodes a client wants
 * notifications for (XEP-0163 §4.2 "+notify" features) from the disco#info
 * behind a caps 'ver' hash.  Before a hash -> features mapping may be
 * cached server-wide it must be verified (XEP-0115 §5.4), or one client
 * could poison what every other client with that hash receives (§9.3).
 */
#ifndef PARLEY_MODULES_PEP_CAPS_H
#define PARLEY_MODULES_PEP_CAPS_H

#include <stdbool.h>

#include "core/buf.h"

struct xml_node;

enum caps_status {
    CAPS_OK = 0,
    CAPS_ILL_FORMED = -1,       /* §5.4 3.3-3.5: duplicates; never cache */
    CAPS_UNSUPPORTED_HASH = -2, /* §5.4 2: a hash we do not implement */
    CAPS_TOO_BIG = -3,          /* more entries than we are willing to sort */
};

/* Appends the verification string S of §5.1 for a disco#info <query/>
 * (its identities, features and XEP-0128 forms) to 'out'.  Forms whose
 * FORM_TYPE is missing or not hidden are ignored (§5.4 3.6). */
int caps_ver_string(const struct xml_node *query, struct buf *out);

/* Appends base64(hash(S)) for the named hash ("sha-1", "sha-256", ...,
 * the IANA Hash Function Textual Names XEP-0115 §5.1 step 9 uses). */
int caps_ver(const char *hash, const struct xml_node *query, struct buf *out);

/* Does 'query' hash to 'ver' with 'hash'?  (§5.4 3.7-3.9) */
bool caps_verify(const char *hash, const char *ver, const struct xml_node *query);

/* Is 'hash' a function caps_ver() implements? */
bool caps_hash_supported(const char *hash);

#endif
