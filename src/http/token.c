/*
 * token.c - HTTP API bearer tokens (token.h).  RFC 6750 §2.1 b64token
 * syntax: base64url (RFC 4648 §5) without padding is a subset of it.
 */
#include "http/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/mem.h"

#define TOKEN_RANDOM 32

bool token_name_valid(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= TOKEN_NAME_MAX
        && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

void token_hash(const char *token, uint8_t hash[TOKEN_HASH_LEN])
{
    unsigned len = 0;
    PL_ASSERT(EVP_Digest(token, strlen(token), hash, &len, EVP_sha256(), NULL) == 1);
    PL_ASSERT(len == TOKEN_HASH_LEN);
}

void token_generate(struct buf *out, uint8_t hash[TOKEN_HASH_LEN])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[TOKEN_RANDOM + 2] = { 0 };
    PL_ASSERT(RAND_bytes(raw, TOKEN_RANDOM) == 1);
    struct buf t = BUF_INIT;
    buf_puts(&t, TOKEN_PREFIX);
    /* 32 bytes = 256 bits = 43 characters of 6 bits (the last one holds 4
     * bits and two zero bits of the padding bytes). */
    for (size_t bit = 0; bit < TOKEN_RANDOM * 8; bit += 6) {
        size_t i = bit / 8, off = bit % 8;
        unsigned v = ((unsigned)raw[i] << 8 | raw[i + 1]) >> (10 - off);
        buf_putc(&t, b64url[v & 0x3f]);
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    token_hash(t.data, hash);
    buf_append(out, t.data, t.len);
    OPENSSL_cleanse(t.data, t.len);
    buf_release(&t);
}

void token_record_encode(const struct token_record *r, struct buf *out)
{
    buf_puts(out, "v1 ");
    for (size_t i = 0; i < TOKEN_HASH_LEN; i++)
        buf_printf(out, "%02x", r->hash[i]);
    buf_printf(out, " %lld %s", r->created, r->commands ? r->commands : "");
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int token_record_decode(const char *value, struct token_record *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(value, "v1 ", 3) != 0)
        return -1;
    const char *p = value + 3;
    for (size_t i = 0; i < TOKEN_HASH_LEN; i++) {
        int hi = hexval(p[2 * i]), lo = hi < 0 ? -1 : hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out->hash[i] = (uint8_t)(hi << 4 | lo);
    }
    p += 2 * TOKEN_HASH_LEN;
    if (*p++ != ' ')
        return -1;
    char *end;
    out->created = strtoll(p, &end, 10);
    if (end == p || *end != ' ')
        return -1;
    out->commands = pl_strdup(end + 1);
    return 0;
}

void token_record_release(struct token_record *r)
{
    PL_FREE(r->commands);
}

bool token_allows(const char *commands, const char *cmd)
{
    if (!commands || !*commands)
        return true;
    size_t n = strlen(cmd);
    for (const char *p = commands; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, cmd, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}
