/*
 * token.h - HTTP API bearer tokens (docs/http-api.md): generation, the
 * stored record, and matching a presented token against the records.
 *
 * A token is "plt_" followed by 43 base64url characters (32 random bytes
 * from the OpenSSL CSPRNG).  It is shown once, by api_token_create; the
 * server keeps only its SHA-256 (the token has 256 bits of entropy, so a
 * fast unsalted hash is enough: there is nothing to brute-force) in the
 * server-level store (area "api_token", key = the token's name), with its
 * creation time and the commands it may call (empty: every command).
 * Presented tokens are hashed and compared with every record in constant
 * time (CRYPTO_memcmp), without stopping at the first match.
 */
#ifndef PARLEY_HTTP_TOKEN_H
#define PARLEY_HTTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TOKEN_STORE_AREA "api_token"
#define TOKEN_PREFIX "plt_"
#define TOKEN_HASH_LEN 32           /* SHA-256 */
#define TOKEN_NAME_MAX 64
#define TOKEN_MAX 1000              /* tokens the server keeps */

struct token_record {
    uint8_t hash[TOKEN_HASH_LEN];
    long long created;              /* seconds since the epoch */
    char *commands;                 /* comma-separated names; "" = all */
};

/* Is 'name' a valid token name: 1..TOKEN_NAME_MAX of [A-Za-z0-9._-]? */
bool token_name_valid(const char *name);
/* A new random token into out (appended); its hash into hash. */
void token_generate(struct buf *out, uint8_t hash[TOKEN_HASH_LEN]);
void token_hash(const char *token, uint8_t hash[TOKEN_HASH_LEN]);

/* Record <-> stored value "v1 HASHHEX CREATED COMMANDS". */
void token_record_encode(const struct token_record *r, struct buf *out);
int token_record_decode(const char *value, struct token_record *out);
void token_record_release(struct token_record *r);

/* Does the comma-separated 'commands' ("" = all) allow 'cmd'? */
bool token_allows(const char *commands, const char *cmd);

#endif
