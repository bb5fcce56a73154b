/*
 * fast.h - pure logic behind SASL2 (XEP-0388), Bind2 (XEP-0386) and FAST
 * (XEP-0484), kept out of c2s.c so unit tests link only this:
 *   - XEP-0388 §2.3 user-agent ids and whitespace-tolerant base64;
 *   - XEP-0386 §3.2.1 resource identifiers "[tag]/[random]";
 *   - the HT-SHA-256-* mechanisms (draft-schmaus-kitten-sasl-ht, which
 *     XEP-0484 §3.1 points to): one round trip, initial response
 *     authcid NUL HMAC-SHA-256(token, "Initiator" || cb-data), server
 *     data HMAC-SHA-256(token, "Responder" || cb-data);
 *   - the stored form of FAST tokens.
 *
 * How tokens are stored ("hashed"): the database never holds a token.
 * A token is T = base64url(HMAC-SHA-256(server secret, label || bare JID
 * || nonce)); the per-user kv area "fast" keeps, per user-agent id, the
 * nonce, the mechanism, the expiry, the replay counter and a fingerprint
 * of the account's SCRAM credentials.  Verifying re-derives T from the
 * nonce, so a copy of the database alone yields no usable token, and a
 * token minted for one account cannot be used for another.  The
 * credential fingerprint makes every token die with the password it was
 * issued under, whatever path changed it (XEP-0077, parleyctl, ...).
 *
 * Two slots per user-agent id, XEP-0484 §5.1: 'new' (issued, not yet
 * used) and 'cur' (the last one used).  So at most two tokens per client.
 */
#ifndef PARLEY_STREAM_FAST_H
#define PARLEY_STREAM_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define FAST_KV_AREA      "fast"
#define FAST_NONCE_LEN    16
#define FAST_FP_LEN       16            /* bytes of SHA-256(creds) kept */
#define FAST_HMAC_LEN     32
#define FAST_TOKEN_MAX    64            /* base64url of 32 bytes is 43 */
#define UA_ID_MAX         64            /* a UUID is 36 */
#define BIND2_TAG_MAX     32            /* bytes of the client's tag kept */

/* XEP-0388 §2.3: the id "MUST be a UUID v4"; we accept any UUID
 * spelling (8-4-4-4-12 hex digits) and nothing else, as it keys storage. */
bool sasl2_ua_id_valid(const char *id);

/* Base64 that may carry whitespace (XEP-0388 §2.2 says SHOULD NOT, its
 * own examples wrap lines).  An empty string decodes to nothing.
 * Returns 0 or -1. */
int sasl2_b64_decode(struct buf *out, const char *text);

/* XEP-0386 §3.2.1: "[tag]/[random hex]".  The tag is cut to characters
 * safe in any resourcepart (ASCII letters, digits, '-', '_', '.', ' ')
 * and BIND2_TAG_MAX bytes; without one, "parley".  out needs
 * BIND2_TAG_MAX + 2 + 2*rlen + 1 bytes. */
void bind2_resource(const char *tag, const uint8_t *rnd, size_t rlen,
                    char *out, size_t outlen);

/* XEP-0386 §3.2: the identifier part of the resource for a client that
 * named itself with a SASL2 <user-agent id/>: the first outlen (<= 32)
 * bytes of HMAC-SHA-256(secret, "bind2" NUL local NUL domain NUL ua_id).  The same
 * client gets the same resource each time it binds (§3.2.1's stability),
 * so binding again replaces its earlier session (RFC 6120 §7.7.2.2), as
 * §3.2 asks; the id itself never shows (§3.2.1 MUST NOT). */
void bind2_stable_part(const uint8_t secret[32], const char *local, const char *domain,
                       const char *ua_id, uint8_t *out, size_t outlen);

/* --- HT-SHA-256 ------------------------------------------------------------ */

enum fast_cb {
    FAST_CB_NONE,               /* HT-SHA-256-NONE */
    FAST_CB_EXPORTER,           /* HT-SHA-256-EXPR: tls-exporter (RFC 9266) */
    FAST_CB_ENDPOINT,           /* HT-SHA-256-ENDP: tls-server-end-point */
    FAST_CB_INVALID,
};

/* FAST_CB_INVALID when the name is not one of ours. */
enum fast_cb fast_mech_cb(const char *mech);
const char *fast_mech_name(enum fast_cb cb);

/* HMAC-SHA-256(key=token, label || cb) into out[32]. */
void fast_ht_hmac(const char *token, const char *label, const uint8_t *cb, size_t cblen,
                  uint8_t out[FAST_HMAC_LEN]);

/* Splits an HT initial response: authcid (1..255 bytes, no NUL) NUL
 * 32 bytes.  Returns 0 and a heap copy of the authcid, or -1. */
int fast_ht_parse(const uint8_t *in, size_t len, char **authcid,
                  uint8_t hmac[FAST_HMAC_LEN]);

/* T for (secret, bare JID, nonce), NUL-terminated base64url. */
void fast_token_derive(const uint8_t *secret, size_t slen, const char *bare,
                       const uint8_t nonce[FAST_NONCE_LEN], char out[FAST_TOKEN_MAX]);

/* Fingerprint of the stored credential string. */
void fast_creds_fp(const char *creds, uint8_t out[FAST_FP_LEN]);

/* --- stored records ------------------------------------------------------- */

struct fast_slot {
    bool present;
    enum fast_cb mech;
    uint8_t nonce[FAST_NONCE_LEN];
    int64_t expiry;             /* unix seconds */
    uint8_t fp[FAST_FP_LEN];
    uint32_t count;             /* highest <fast count/> seen */
};

struct fast_rec {
    struct fast_slot slot_new;  /* issued, not used yet */
    struct fast_slot slot_cur;  /* the one in use */
};

/* "n:MECH:EXPIRY:COUNT:NONCEHEX:FPHEX;c:..." (absent slots left out).
 * encode returns a heap string; decode returns 0 or -1 (all-or-nothing). */
char *fast_rec_encode(const struct fast_rec *r);
int fast_rec_decode(const char *s, struct fast_rec *out);

enum fast_verdict {
    FAST_OK_NEW,                /* matched the 'new' slot */
    FAST_OK_CUR,                /* matched the 'cur' slot */
    FAST_BAD,                   /* no match: not-authorized */
    FAST_EXPIRED,               /* matched but expired or the password
                                   changed: credentials-expired (§4.2) */
    FAST_REPLAY,                /* matched, count not above the last */
};

/* Checks the client's HMAC against both slots (constant time), the
 * mechanism, expiry, credentials and the counter (has_count: the client
 * sent <fast count/>). */
enum fast_verdict fast_check(const struct fast_rec *r, const uint8_t *secret, size_t slen,
                             const char *bare, enum fast_cb mech, const uint8_t *cb,
                             size_t cblen, const uint8_t hmac[FAST_HMAC_LEN],
                             const uint8_t fp[FAST_FP_LEN], int64_t now, bool has_count,
                             uint32_t count);

#endif
