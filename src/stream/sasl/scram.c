/*
 * scram.c - server side of SCRAM-SHA-1/-256/-512 and their -PLUS variants
 * (RFC 5802 §3, §5-§7, §9; RFC 7677; SHA-512 by the same construction),
 * channel binding types tls-exporter (RFC 9266) and tls-server-end-point
 * (RFC 5929 §4), and the key derivation (PBKDF2, HMAC, H) behind both
 * SCRAM and PLAIN verification.
 *
 * Failures map to RFC 6120 §6.5 conditions: syntax errors are
 * <malformed-request/>, everything about the identity or the proof is
 * <not-authorized/> with one text for "no such user" and "wrong password"
 * (RFC 5802 §9: no account enumeration).  An unknown user gets a
 * server-first message like any other, with a salt derived from the name,
 * and fails only at the proof.
 */
#include "stream/sasl/sasl_internal.h"
#include "core/utf8.h"

#include "core/base64.h"
#include "core/mem.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

/* Random bytes in the server nonce: 192 bits (RFC 5802 §5.1 asks for a
 * value unique per exchange; RFC 4086 §3 for unpredictable). */
#define SERVER_NONCE_BYTES 24
#define FAKE_SALT_LEN 16
#define FAKE_ITERATIONS 4096
/* Longest channel-binding type name we parse ("tls-server-end-point" is
 * 20); anything longer is not a type we know. */
#define CB_NAME_MAX 64

static const EVP_MD *hash_md(enum sasl_hash h)
{
    switch (h) {
    case SASL_SHA1:
        return EVP_sha1();
    case SASL_SHA256:
        return EVP_sha256();
    case SASL_SHA512:
        return EVP_sha512();
    default:
        break;
    }
    PL_ASSERT(!"bad sasl_hash");
    return NULL;
}

size_t sasl_hash_len(enum sasl_hash h)
{
    switch (h) {
    case SASL_SHA1:
        return 20;
    case SASL_SHA256:
        return 32;
    case SASL_SHA512:
        return 64;
    default:
        break;
    }
    PL_ASSERT(!"bad sasl_hash");
    return 0;
}

const char *sasl_hash_name(enum sasl_hash h)
{
    switch (h) {
    case SASL_SHA1:
        return "SHA-1";
    case SASL_SHA256:
        return "SHA-256";
    case SASL_SHA512:
        return "SHA-512";
    default:
        break;
    }
    return "?";
}

static void hmac(enum sasl_hash h, const uint8_t *key, size_t key_len,
                 const void *data, size_t len, uint8_t *out)
{
    unsigned int ol = 0;
    PL_ASSERT(HMAC(hash_md(h), key, (int)key_len, data, len, out, &ol) != NULL);
    PL_ASSERT(ol == sasl_hash_len(h));
}

static void digest(enum sasl_hash h, const uint8_t *data, size_t len, uint8_t *out)
{
    unsigned int ol = 0;
    PL_ASSERT(EVP_Digest(data, len, out, &ol, hash_md(h), NULL) == 1);
}

int scram_keys_derive(enum sasl_hash h, const char *password,
                      const uint8_t *salt, size_t salt_len,
                      unsigned iterations, struct scram_keys *out)
{
    memset(out, 0, sizeof(*out));
    if (salt_len == 0 || salt_len > SASL_SALT_MAX || iterations == 0 ||
        iterations > INT_MAX)
        return -1;
    /* RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i),
     * where Normalize is SASLprep and Hi is PBKDF2 with HMAC-H. */
    char *prepped = sasl_prep_password(password);
    if (!prepped)
        return -1;
    size_t kl = sasl_hash_len(h);
    uint8_t salted[SASL_KEY_MAX], client_key[SASL_KEY_MAX];
    int rc = PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt, (int)salt_len,
                               (int)iterations, hash_md(h), (int)kl, salted);
    OPENSSL_cleanse(prepped, strlen(prepped));
    free(prepped);
    PL_ASSERT(rc == 1);
    hmac(h, salted, kl, "Client Key", 10, client_key);
    digest(h, client_key, kl, out->stored_key);
    hmac(h, salted, kl, "Server Key", 10, out->server_key);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    out->present = true;
    return 0;
}

void scram_fake_salt(const struct sasl_ctx *ctx, const char *name,
                     uint8_t *salt_out, size_t salt_len)
{
    uint8_t mac[32];
    PL_ASSERT(salt_len <= sizeof(mac));
    hmac(SASL_SHA256, ctx->fake_key, sizeof(ctx->fake_key), name, strlen(name), mac);
    memcpy(salt_out, mac, salt_len);
}

/* ---- client-first-message ---------------------------------------------- */

/* Decodes a saslname (RFC 5802 §7: '=' only as "=2C" or "=3D") of len
 * bytes; returns a new string or NULL when malformed or empty. */
static char *saslname_decode(const char *s, size_t len)
{
    if (len == 0)
        return NULL;
    char *out = pl_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '=') {
            out[o++] = s[i];
        } else if (len - i >= 3 && s[i + 1] == '2' && s[i + 2] == 'C') {
            out[o++] = ',';
            i += 2;
        } else if (len - i >= 3 && s[i + 1] == '3' && s[i + 2] == 'D') {
            out[o++] = '=';
            i += 2;
        } else {
            free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    return out;
}

/* printable = %x21-2B / %x2D-7E (RFC 5802 §7), at least one. */
static bool is_printable_nonce(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
            return false;
    }
    return true;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One optional extension: ALPHA "=" 1*value-char, and not the reserved
 * "m" (RFC 5802 §5.1: a mandatory extension we do not know must fail). */
static bool is_extension(const char *s, size_t len)
{
    return len >= 3 && is_alpha(s[0]) && s[0] != 'm' && s[1] == '=';
}

/* Checks a comma-separated run of extensions [p, end). */
static bool extensions_ok(const char *p, const char *end)
{
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        if (!is_extension(p, (size_t)(e - p)))
            return false;
        if (!c)
            break;
        p = c + 1;
        if (p == end)
            return false;           /* trailing comma */
    }
    return true;
}

/* Returns the position of the next ',' in [p, end) or end. */
static const char *next_comma(const char *p, const char *end)
{
    const char *c = memchr(p, ',', (size_t)(end - p));
    return c ? c : end;
}

static enum sasl_status malformed(struct sasl_ctx *ctx, struct sasl_reply *reply)
{
    return sasl_fail(ctx, reply, "malformed-request", "malformed SCRAM message");
}

static enum sasl_status client_first(struct sasl_ctx *ctx, const char *s, size_t len,
                                     struct sasl_reply *reply)
{
    const char *p = s, *end = s + len;
    char flag;
    const char *cb_name = NULL;
    size_t cb_len = 0;

    /* gs2-cbind-flag (RFC 5802 §7): anything but n, y, p= must fail. */
    if (p < end && (*p == 'n' || *p == 'y')) {
        flag = *p++;
    } else if (end - p >= 2 && p[0] == 'p' && p[1] == '=') {
        flag = 'p';
        p += 2;
        cb_name = p;
        while (p < end && (is_alpha(*p) || (*p >= '0' && *p <= '9') ||
                           *p == '.' || *p == '-'))
            p++;
        cb_len = (size_t)(p - cb_name);
        if (cb_len == 0 || cb_len > CB_NAME_MAX)
            return malformed(ctx, reply);
    } else {
        return malformed(ctx, reply);
    }
    if (p >= end || *p != ',')
        return malformed(ctx, reply);
    p++;
    char *authzid = NULL;
    if (end - p >= 2 && p[0] == 'a' && p[1] == '=') {
        const char *e = next_comma(p + 2, end);
        authzid = saslname_decode(p + 2, (size_t)(e - p - 2));
        if (!authzid)
            return malformed(ctx, reply);
        p = e;
    }
    if (p >= end || *p != ',') {
        free(authzid);
        return malformed(ctx, reply);
    }
    p++;
    const char *bare = p;

    /* client-first-message-bare = [reserved-mext ","] username "," nonce
     * ["," extensions].  A reserved m= is refused outright (§5.1). */
    char *user = NULL;
    if (end - p < 2 || p[0] != 'n' || p[1] != '=')
        goto fail_malformed;
    const char *e = next_comma(p + 2, end);
    user = saslname_decode(p + 2, (size_t)(e - p - 2));
    if (!user || e == end)
        goto fail_malformed;
    p = e + 1;
    if (end - p < 2 || p[0] != 'r' || p[1] != '=')
        goto fail_malformed;
    const char *nonce = p + 2;
    e = next_comma(nonce, end);
    if (!is_printable_nonce(nonce, (size_t)(e - nonce)))
        goto fail_malformed;
    if (e < end && (e + 1 == end || !extensions_ok(e + 1, end)))
        goto fail_malformed;

    /* Channel-binding negotiation (RFC 5802 §6). */
    bool server_cb = ctx->ch.has_exporter || ctx->ch.has_endpoint;
    enum scram_cb cb = SCRAM_CB_NONE;
    if (ctx->mech->plus) {
        if (flag != 'p') {
            free(user);
            free(authzid);
            return sasl_fail(ctx, reply, "malformed-request",
                             "channel binding required by this mechanism");
        }
        if (cb_len == 12 && memcmp(cb_name, "tls-exporter", 12) == 0 &&
            ctx->ch.has_exporter) {
            cb = SCRAM_CB_EXPORTER;
        } else if (cb_len == 20 && memcmp(cb_name, "tls-server-end-point", 20) == 0 &&
                   ctx->ch.has_endpoint) {
            cb = SCRAM_CB_ENDPOINT;
        } else {
            free(user);
            free(authzid);
            return sasl_fail(ctx, reply, "malformed-request",
                             "unsupported channel binding type");
        }
    } else if (flag == 'p') {
        free(user);
        free(authzid);
        return sasl_fail(ctx, reply, "malformed-request",
                         "channel binding needs a -PLUS mechanism");
    } else if (flag == 'y' && server_cb) {
        /* The client supports channel binding but believed we do not:
         * someone stripped -PLUS from our offer. */
        free(user);
        free(authzid);
        return sasl_fail(ctx, reply, "not-authorized", "channel binding downgrade");
    }

    ctx->cb = cb;
    buf_clear(&ctx->gs2_header);
    buf_append(&ctx->gs2_header, s, (size_t)(bare - s));
    buf_clear(&ctx->client_first_bare);
    buf_append(&ctx->client_first_bare, bare, (size_t)(end - bare));
    buf_clear(&ctx->nonce);
    buf_append(&ctx->nonce, nonce, (size_t)(e - nonce));
    ctx->username = user;
    ctx->authzid = authzid;
    ctx->state = SASL_ST_NEED_CREDS;
    return SASL_NEED_CREDS;

fail_malformed:
    free(user);
    free(authzid);
    return malformed(ctx, reply);
}

/* ---- server-first-message ---------------------------------------------- */

enum sasl_status scram_creds(struct sasl_ctx *ctx, const struct sasl_creds *creds,
                             struct sasl_reply *reply)
{
    enum sasl_hash h = ctx->mech->hash;
    const struct scram_keys *k = creds ? &creds->keys[h] : NULL;
    if (k && (!k->present || k->salt_len == 0 || k->salt_len > SASL_SALT_MAX ||
              k->iterations == 0))
        k = NULL;
    if (k) {
        ctx->keys = *k;
        ctx->unknown_user = false;
    } else {
        /* No account, or none with keys for this hash: answer as if it
         * existed so the reply does not reveal that (RFC 5802 §9).  The
         * salt is stable per name within this context; the keys are
         * random, and unknown_user makes the proof fail regardless. */
        memset(&ctx->keys, 0, sizeof(ctx->keys));
        scram_fake_salt(ctx, ctx->username, ctx->keys.salt, FAKE_SALT_LEN);
        ctx->keys.salt_len = FAKE_SALT_LEN;
        ctx->keys.iterations = FAKE_ITERATIONS;
        PL_ASSERT(RAND_bytes(ctx->keys.stored_key, SASL_KEY_MAX) == 1);
        PL_ASSERT(RAND_bytes(ctx->keys.server_key, SASL_KEY_MAX) == 1);
        ctx->unknown_user = true;
    }

    if (ctx->test_nonce) {
        buf_puts(&ctx->nonce, ctx->test_nonce);
    } else {
        uint8_t rnd[SERVER_NONCE_BYTES];
        PL_ASSERT(RAND_bytes(rnd, sizeof(rnd)) == 1);
        /* base64 is printable and has no ',', as r= requires. */
        base64_encode(&ctx->nonce, rnd, sizeof(rnd));
    }

    buf_clear(&ctx->server_first);
    buf_puts(&ctx->server_first, "r=");
    buf_append(&ctx->server_first, ctx->nonce.data, ctx->nonce.len);
    buf_puts(&ctx->server_first, ",s=");
    base64_encode(&ctx->server_first, ctx->keys.salt, ctx->keys.salt_len);
    buf_printf(&ctx->server_first, ",i=%u", ctx->keys.iterations);

    buf_append(&reply->data, ctx->server_first.data, ctx->server_first.len);
    ctx->state = SASL_ST_WAIT_FINAL;
    return SASL_CHALLENGE;
}

/* ---- client-final-message ---------------------------------------------- */

static enum sasl_status client_final(struct sasl_ctx *ctx, const char *s, size_t len,
                                     struct sasl_reply *reply)
{
    const char *end = s + len;
    enum sasl_hash h = ctx->mech->hash;
    size_t kl = sasl_hash_len(h);

    /* client-final-message = "c=" base64 "," "r=" nonce ["," extensions]
     * "," "p=" base64; the proof is always last, and everything before
     * its comma is client-final-message-without-proof. */
    const char *proof_attr = NULL;
    for (const char *q = end; q > s; q--) {
        if (q[-1] == ',') {
            proof_attr = q;
            break;
        }
    }
    if (!proof_attr || end - proof_attr < 3 || proof_attr[0] != 'p' || proof_attr[1] != '=')
        return malformed(ctx, reply);
    const char *without_proof_end = proof_attr - 1;

    if (len < 2 || s[0] != 'c' || s[1] != '=')
        return malformed(ctx, reply);
    const char *c_val = s + 2;
    const char *c_end = next_comma(c_val, without_proof_end);
    if (c_end == without_proof_end)
        return malformed(ctx, reply);
    const char *r_attr = c_end + 1;
    if (without_proof_end - r_attr < 3 || r_attr[0] != 'r' || r_attr[1] != '=')
        return malformed(ctx, reply);
    const char *r_val = r_attr + 2;
    const char *r_end = next_comma(r_val, without_proof_end);
    /* Optional extensions between r= and p= are ignored (§5.1). */
    if (r_end < without_proof_end &&
        (r_end + 1 == without_proof_end || !extensions_ok(r_end + 1, without_proof_end)))
        return malformed(ctx, reply);

    struct buf proof = BUF_INIT;
    if (base64_decode(&proof, proof_attr + 2, (size_t)(end - proof_attr - 2)) < 0 ||
        proof.len != kl) {
        buf_release(&proof);
        return malformed(ctx, reply);
    }

    /* §6: the server MUST validate c= by constructing it itself:
     * base64(gs2-header || cbind-data). */
    struct buf cbind = BUF_INIT, expect = BUF_INIT;
    buf_append(&cbind, ctx->gs2_header.data, ctx->gs2_header.len);
    if (ctx->cb == SCRAM_CB_EXPORTER)
        buf_append(&cbind, ctx->ch.exporter, sizeof(ctx->ch.exporter));
    else if (ctx->cb == SCRAM_CB_ENDPOINT)
        buf_append(&cbind, ctx->ch.endpoint, ctx->ch.endpoint_len);
    base64_encode(&expect, cbind.data, cbind.len);
    bool cb_ok = expect.len == (size_t)(c_end - c_val) &&
                 memcmp(expect.data, c_val, expect.len) == 0;
    buf_release(&cbind);
    buf_release(&expect);
    bool nonce_ok = ctx->nonce.len == (size_t)(r_end - r_val) &&
                    memcmp(ctx->nonce.data, r_val, ctx->nonce.len) == 0;
    enum sasl_status st;
    if (!cb_ok) {
        st = sasl_fail(ctx, reply, "not-authorized", "channel binding mismatch");
        goto out;
    }
    if (!nonce_ok) {
        st = sasl_fail(ctx, reply, "not-authorized", "nonce mismatch");
        goto out;
    }

    /* §3: AuthMessage = client-first-message-bare "," server-first-message
     * "," client-final-message-without-proof. */
    struct buf auth = BUF_INIT;
    buf_append(&auth, ctx->client_first_bare.data, ctx->client_first_bare.len);
    buf_putc(&auth, ',');
    buf_append(&auth, ctx->server_first.data, ctx->server_first.len);
    buf_putc(&auth, ',');
    buf_append(&auth, s, (size_t)(without_proof_end - s));

    uint8_t sig[SASL_KEY_MAX], client_key[SASL_KEY_MAX], stored[SASL_KEY_MAX];
    hmac(h, ctx->keys.stored_key, kl, auth.data, auth.len, sig);
    for (size_t i = 0; i < kl; i++)
        client_key[i] = (uint8_t)proof.data[i] ^ sig[i];
    digest(h, client_key, kl, stored);
    /* Constant time, and computed for unknown users too, so neither the
     * reply nor its timing separates "no user" from "bad password". */
    bool ok = CRYPTO_memcmp(stored, ctx->keys.stored_key, kl) == 0 && !ctx->unknown_user;
    OPENSSL_cleanse(client_key, sizeof(client_key));
    if (ok) {
        uint8_t server_sig[SASL_KEY_MAX];
        hmac(h, ctx->keys.server_key, kl, auth.data, auth.len, server_sig);
        buf_puts(&reply->data, "v=");
        base64_encode(&reply->data, server_sig, kl);
        ctx->state = SASL_ST_DONE;
        st = SASL_SUCCESS;
    } else {
        st = sasl_fail(ctx, reply, "not-authorized", "invalid credentials");
    }
    buf_release(&auth);
out:
    buf_release(&proof);
    OPENSSL_cleanse(&ctx->keys, sizeof(ctx->keys));
    return st;
}

enum sasl_status scram_step(struct sasl_ctx *ctx, const uint8_t *in, size_t len,
                            struct sasl_reply *reply)
{
    /* Every SCRAM message is UTF-8 text without NUL (RFC 5802 §7
     * value-char); checking once here keeps the parsers on C strings'
     * assumptions. */
    if (!utf8_valid(in, len))
        return malformed(ctx, reply);
    const char *s = (const char *)in;
    if (ctx->state == SASL_ST_WAIT_FINAL)
        return client_final(ctx, s, len, reply);
    return client_first(ctx, s, len, reply);
}
