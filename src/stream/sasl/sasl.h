/*
 * sasl.h - server side of the SASL mechanisms (RFC 6120 §6, RFC 4422).
 *
 * Pure protocol logic, no I/O: the stream layer feeds decoded client data
 * and gets back what to send.  Mechanisms: PLAIN (RFC 4616), SCRAM-SHA-1,
 * SCRAM-SHA-256, SCRAM-SHA-512 (RFC 5802, RFC 7677) and their -PLUS
 * variants with channel binding tls-exporter (RFC 9266) and
 * tls-server-end-point (RFC 5929).  Used by SASL1 now and SASL2 later.
 *
 * Credentials are only ever SCRAM keys: for each hash a salt, an iteration
 * count, StoredKey and ServerKey (RFC 5802 §3).  PLAIN is verified by
 * deriving the keys from the given password with the stored salt.
 */
#ifndef PARLEY_STREAM_SASL_SASL_H
#define PARLEY_STREAM_SASL_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum sasl_hash {
    SASL_SHA1,
    SASL_SHA256,
    SASL_SHA512,
    SASL_HASH_COUNT,
};

#define SASL_KEY_MAX 64         /* SHA-512 output */
#define SASL_SALT_MAX 64

struct scram_keys {
    bool present;
    uint8_t salt[SASL_SALT_MAX];
    size_t salt_len;
    unsigned iterations;
    uint8_t stored_key[SASL_KEY_MAX];
    uint8_t server_key[SASL_KEY_MAX];
};

/* What the account store keeps: one key set per hash. */
struct sasl_creds {
    struct scram_keys keys[SASL_HASH_COUNT];
};

size_t sasl_hash_len(enum sasl_hash h);
const char *sasl_hash_name(enum sasl_hash h);       /* "SHA-1", ... */

/* SASLprep (RFC 4013) of a password; returns a malloc'd string or NULL if
 * the password is invalid (prohibited characters, bad UTF-8, empty). */
char *sasl_prep_password(const char *password);

/* Derives full credentials for a new password: a random 16-byte salt per
 * hash and 'iterations' PBKDF2 rounds (CPU heavy: call off the loop).
 * Returns 0, or -1 if the password fails SASLprep. */
int sasl_creds_derive(const char *password, unsigned iterations,
                      struct sasl_creds *out);
/* Derives one key set with a given salt (used by tests and PLAIN). */
int scram_keys_derive(enum sasl_hash h, const char *password,
                      const uint8_t *salt, size_t salt_len,
                      unsigned iterations, struct scram_keys *out);

/* Serialized form for storage: a printable ASCII string
 * "sha1:ITER:SALT64:STORED64:SERVER64;sha256:...;sha512:..." (hashes
 * without keys are left out).  decode returns 0 or -1 on a malformed
 * string. */
char *sasl_creds_encode(const struct sasl_creds *c);
int sasl_creds_decode(const char *s, struct sasl_creds *out);

/* Channel-binding data of the TLS connection, filled by the stream layer. */
struct sasl_channel {
    bool tls;                           /* the stream is encrypted */
    bool has_exporter;                  /* TLS 1.3: tls-exporter available */
    uint8_t exporter[32];
    bool has_endpoint;                  /* tls-server-end-point available */
    uint8_t endpoint[SASL_KEY_MAX];
    size_t endpoint_len;
};

/* Names of the mechanisms offered on a stream with this channel, in order
 * of preference, written to names[] (at most max); returns the count.
 * PLAIN only when tls; -PLUS only when some channel binding is available. */
size_t sasl_mechanisms(const struct sasl_channel *ch, bool allow_plain,
                       const char **names, size_t max);

enum sasl_status {
    SASL_CHALLENGE,             /* send reply->data as a challenge */
    SASL_NEED_CREDS,            /* look up sasl_username(); then sasl_creds() */
    SASL_SUCCESS,               /* send success with reply->data (may be empty) */
    SASL_FAILURE,               /* send failure with reply->condition/text */
};

struct sasl_reply {
    struct buf data;            /* raw bytes (the caller base64-encodes) */
    const char *condition;      /* RFC 6120 §6.5 element name, e.g. "not-authorized" */
    const char *text;           /* human-readable, static */
};

struct sasl_ctx;

/* NULL if 'mech' is not offered on this channel (caller answers
 * <invalid-mechanism/>).  The channel is copied. */
struct sasl_ctx *sasl_new(const char *mech, const struct sasl_channel *ch,
                          bool allow_plain);
void sasl_free(struct sasl_ctx *ctx);
/* Feeds one client message (already base64-decoded; the initial response
 * of <auth/> may be empty).  reply->data is cleared first. */
enum sasl_status sasl_step(struct sasl_ctx *ctx, const uint8_t *in, size_t len,
                           struct sasl_reply *reply);
/* After SASL_NEED_CREDS: the authentication identity as sent (UTF-8, not
 * yet prepared: the caller applies jid_prep_local) and the authorization
 * identity (NULL when absent).  The caller must refuse an authzid that is
 * not the authenticated account's own bare JID with <invalid-authzid/>
 * (RFC 6120 §6.3.8). */
const char *sasl_username(const struct sasl_ctx *ctx);
const char *sasl_authzid(const struct sasl_ctx *ctx);
/* Continues after the lookup; creds NULL means "no such account" (SCRAM
 * then still answers with a plausible challenge and fails at the end, so
 * accounts cannot be enumerated).  For PLAIN this runs PBKDF2: call it off
 * the loop. */
enum sasl_status sasl_creds(struct sasl_ctx *ctx, const struct sasl_creds *creds,
                            struct sasl_reply *reply);
bool sasl_is_plain(const struct sasl_ctx *ctx);
const char *sasl_mech_name(const struct sasl_ctx *ctx);

/* Keys fake salts for unknown users with a server-wide secret, so an
 * unknown user's salt is as stable across logins as a real one's and the
 * two cannot be told apart.  Without it a per-context random key is used. */
void sasl_set_secret(struct sasl_ctx *ctx, const uint8_t *key, size_t len);

/* Test hook: fix the server nonce part (RFC 5802 test vectors). */
void sasl_set_server_nonce(struct sasl_ctx *ctx, const char *nonce);

#endif
