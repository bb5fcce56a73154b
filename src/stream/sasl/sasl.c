/*
 * sasl.c - server-side SASL framework (RFC 6120 §6, RFC 4422): the
 * mechanism table and its offer order, PLAIN (RFC 4616), SASLprep
 * (RFC 4013, via libidn's "SASLprep" profile), and the storage form of
 * SCRAM credentials.  The SCRAM exchange itself is in scram.c.
 *
 * Nothing here logs: the inputs are passwords and SASL payloads
 * (STYLE.md §8).  Secrets held in a context are wiped when it is freed.
 */
#include "stream/sasl/sasl_internal.h"

#include "core/base64.h"
#include "core/fields.h"
#include "core/utf8.h"
#include "core/mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

/* Offer order of RFC 6120 §6.3.3 ("in order of preference"): channel
 * binding first (it defeats a TLS man in the middle), stronger hashes
 * first, PLAIN last. */
static const struct sasl_mech mechs[] = {
    { "SCRAM-SHA-512-PLUS", SASL_MECH_SCRAM, SASL_SHA512, true },
    { "SCRAM-SHA-256-PLUS", SASL_MECH_SCRAM, SASL_SHA256, true },
    { "SCRAM-SHA-1-PLUS", SASL_MECH_SCRAM, SASL_SHA1, true },
    { "SCRAM-SHA-512", SASL_MECH_SCRAM, SASL_SHA512, false },
    { "SCRAM-SHA-256", SASL_MECH_SCRAM, SASL_SHA256, false },
    { "SCRAM-SHA-1", SASL_MECH_SCRAM, SASL_SHA1, false },
    { "PLAIN", SASL_MECH_PLAIN, SASL_SHA256, false },
};

/* RFC 4616 §2: each of authzid, authcid and passwd is at most 255 octets
 * (the RFC's limit for what a server must accept; we also refuse more). */
#define PLAIN_FIELD_MAX 255
/* Stored credential strings: three entries of well under 300 bytes each. */
#define CREDS_STR_MAX 2048
/* Iteration counts accepted from storage.  10 million rounds of
 * SHA-512 take seconds; more is a corrupted record, not a policy. */
#define CREDS_ITER_MAX 10000000u
/* Passwords we are willing to SASLprep and hash (bytes).  Bounds the work
 * a PLAIN client or an admin request can cause. */
#define PASSWORD_MAX 1023
/* Salt length for new credentials: 128 bits, as RFC 5802 §5.1 example
 * and NIST SP 800-132 recommend. */
#define NEW_SALT_LEN 16
/* Iterations used for unknown users so their cost looks real (RFC 5802
 * §5.1 "at least 4096"). */
#define FAKE_ITERATIONS 4096

static bool is_offered(const struct sasl_mech *m, const struct sasl_channel *ch,
                       bool allow_plain)
{
    if (m->kind == SASL_MECH_PLAIN)
        return ch->tls && allow_plain;      /* RFC 6120 §13.8: never in clear */
    if (m->plus)
        return ch->has_exporter || ch->has_endpoint;
    return true;
}

size_t sasl_mechanisms(const struct sasl_channel *ch, bool allow_plain,
                       const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < PL_ARRAY_LEN(mechs) && n < max; i++) {
        if (is_offered(&mechs[i], ch, allow_plain))
            names[n++] = mechs[i].name;
    }
    return n;
}


char *sasl_prep_password(const char *password)
{
    if (!password)
        return NULL;
    size_t n = strlen(password);
    if (n == 0 || n > PASSWORD_MAX ||
        !utf8_valid((const uint8_t *)password, n))
        return NULL;
    /* Flags 0: unassigned code points allowed, the "query" mode RFC 5802
     * §5.1 asks for, so a password keeps working across Unicode versions.
     * SASLprep rather than PRECIS OpaqueString (RFC 8265, which obsoletes
     * it): SCRAM clients salt the password the way RFC 5802/7677 say, with
     * SASLprep, and stored credentials were derived with it, so a switch
     * would lock out users whose passwords the two prepare differently. */
    char *out = NULL;
    if (stringprep_profile(password, &out, "SASLprep", 0) != STRINGPREP_OK) {
        free(out);
        return NULL;
    }
    size_t m = strlen(out);
    if (m == 0) {
        free(out);
        return NULL;
    }
    /* Hand back our allocator's copy, wiping libidn's. */
    char *r = pl_strdup(out);
    OPENSSL_cleanse(out, m);
    free(out);
    return r;
}

int sasl_creds_derive(const char *password, unsigned iterations,
                      struct sasl_creds *out)
{
    memset(out, 0, sizeof(*out));
    for (int h = 0; h < SASL_HASH_COUNT; h++) {
        uint8_t salt[NEW_SALT_LEN];
        PL_ASSERT(RAND_bytes(salt, sizeof(salt)) == 1);
        if (scram_keys_derive((enum sasl_hash)h, password, salt, sizeof(salt),
                              iterations, &out->keys[h]) < 0) {
            OPENSSL_cleanse(out, sizeof(*out));
            return -1;
        }
    }
    return 0;
}

/* ---- Storage form ------------------------------------------------------ */

static const char *const creds_names[SASL_HASH_COUNT] = {
    [SASL_SHA1] = "sha1",
    [SASL_SHA256] = "sha256",
    [SASL_SHA512] = "sha512",
};

char *sasl_creds_encode(const struct sasl_creds *c)
{
    struct buf b = BUF_INIT;
    for (int h = 0; h < SASL_HASH_COUNT; h++) {
        const struct scram_keys *k = &c->keys[h];
        if (!k->present)
            continue;
        size_t kl = sasl_hash_len((enum sasl_hash)h);
        if (b.len > 0)
            buf_putc(&b, ';');
        buf_printf(&b, "%s:%u:", creds_names[h], k->iterations);
        base64_encode(&b, k->salt, k->salt_len);
        buf_putc(&b, ':');
        base64_encode(&b, k->stored_key, kl);
        buf_putc(&b, ':');
        base64_encode(&b, k->server_key, kl);
    }
    return buf_detach(&b);
}

/* Decodes one base64 field into dst (exactly want bytes, or 1..want when
 * exact is false); returns the length or -1. */
static int decode_field(const char *s, size_t len, uint8_t *dst, size_t want,
                        bool exact)
{
    struct buf b = BUF_INIT;
    int r = -1;
    if (base64_decode(&b, s, len) == 0 && b.len > 0 &&
        (exact ? b.len == want : b.len <= want)) {
        memcpy(dst, b.data, b.len);
        r = (int)b.len;
    }
    if (b.data)
        OPENSSL_cleanse(b.data, b.cap);
    buf_release(&b);
    return r;
}

/* Parses one "name:ITER:SALT:STORED:SERVER" entry of len bytes. */
static int decode_entry(const char *e, size_t len, struct sasl_creds *out)
{
    const char *f[5];
    size_t fl[5];
    if (!fields_split(e, len, ':', 5, f, fl))
        return -1;

    int h = -1;
    for (int i = 0; i < SASL_HASH_COUNT; i++) {
        if (fl[0] == strlen(creds_names[i]) && memcmp(f[0], creds_names[i], fl[0]) == 0)
            h = i;
    }
    if (h < 0 || out->keys[h].present)
        return -1;                      /* unknown or duplicate hash */

    /* Decimal without sign or leading zero, 1..CREDS_ITER_MAX. */
    if (fl[1] == 0 || fl[1] > 8 || f[1][0] == '0')
        return -1;
    unsigned long iter = 0;
    for (size_t i = 0; i < fl[1]; i++) {
        if (f[1][i] < '0' || f[1][i] > '9')
            return -1;
        iter = iter * 10 + (unsigned long)(f[1][i] - '0');
    }
    if (iter > CREDS_ITER_MAX)
        return -1;

    struct scram_keys *k = &out->keys[h];
    size_t kl = sasl_hash_len((enum sasl_hash)h);
    int sl = decode_field(f[2], fl[2], k->salt, SASL_SALT_MAX, false);
    if (sl < 0 ||
        decode_field(f[3], fl[3], k->stored_key, kl, true) < 0 ||
        decode_field(f[4], fl[4], k->server_key, kl, true) < 0)
        return -1;
    k->salt_len = (size_t)sl;
    k->iterations = (unsigned)iter;
    k->present = true;
    return 0;
}

int sasl_creds_decode(const char *s, struct sasl_creds *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return -1;
    size_t n = strnlen(s, CREDS_STR_MAX + 1);
    if (n > CREDS_STR_MAX)
        return -1;
    /* "" is the encoding of credentials without any key set. */
    const char *p = s, *end = s + n;
    while (n > 0) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        size_t el = semi ? (size_t)(semi - p) : (size_t)(end - p);
        if (el == 0 || decode_entry(p, el, out) < 0) {
            OPENSSL_cleanse(out, sizeof(*out));
            return -1;
        }
        if (!semi)
            break;
        p = semi + 1;
    }
    return 0;
}

/* ---- Context ----------------------------------------------------------- */

struct sasl_ctx *sasl_new(const char *mech, const struct sasl_channel *ch,
                          bool allow_plain)
{
    const struct sasl_mech *m = NULL;
    for (size_t i = 0; mech && i < PL_ARRAY_LEN(mechs); i++) {
        if (strcmp(mechs[i].name, mech) == 0)
            m = &mechs[i];
    }
    if (!m || !is_offered(m, ch, allow_plain))
        return NULL;
    struct sasl_ctx *ctx = pl_calloc(1, sizeof(*ctx));
    ctx->mech = m;
    ctx->ch = *ch;
    ctx->state = SASL_ST_START;
    PL_ASSERT(RAND_bytes(ctx->fake_key, sizeof(ctx->fake_key)) == 1);
    buf_init(&ctx->gs2_header);
    buf_init(&ctx->client_first_bare);
    buf_init(&ctx->server_first);
    buf_init(&ctx->nonce);
    return ctx;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void sasl_free(struct sasl_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->username);
    free(ctx->authzid);
    free_secret(ctx->password);
    free(ctx->test_nonce);
    buf_release(&ctx->gs2_header);
    buf_release(&ctx->client_first_bare);
    buf_release(&ctx->server_first);
    buf_release(&ctx->nonce);
    OPENSSL_cleanse(ctx, sizeof(*ctx));
    free(ctx);
}

enum sasl_status sasl_fail(struct sasl_ctx *ctx, struct sasl_reply *reply,
                           const char *condition, const char *text)
{
    ctx->state = SASL_ST_DONE;
    buf_clear(&reply->data);
    reply->condition = condition;
    reply->text = text;
    return SASL_FAILURE;
}

/* RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd. */
static enum sasl_status plain_step(struct sasl_ctx *ctx, const uint8_t *in,
                                   size_t len, struct sasl_reply *reply)
{
    if (len > 3 * PLAIN_FIELD_MAX + 2)
        return sasl_fail(ctx, reply, "malformed-request", "message too long");
    const uint8_t *nul1 = memchr(in, 0, len);
    if (!nul1)
        return sasl_fail(ctx, reply, "malformed-request", "malformed PLAIN message");
    const uint8_t *nul2 = memchr(nul1 + 1, 0, len - (size_t)(nul1 + 1 - in));
    if (!nul2 || memchr(nul2 + 1, 0, len - (size_t)(nul2 + 1 - in)))
        return sasl_fail(ctx, reply, "malformed-request", "malformed PLAIN message");
    size_t zl = (size_t)(nul1 - in);
    size_t cl = (size_t)(nul2 - nul1 - 1);
    size_t pl = len - (size_t)(nul2 + 1 - in);
    if (cl == 0 || pl == 0 || zl > PLAIN_FIELD_MAX || cl > PLAIN_FIELD_MAX ||
        pl > PLAIN_FIELD_MAX || !utf8_valid(in, zl) ||
        !utf8_valid(nul1 + 1, cl) || !utf8_valid(nul2 + 1, pl))
        return sasl_fail(ctx, reply, "malformed-request", "malformed PLAIN message");
    ctx->authzid = zl ? pl_strndup((const char *)in, zl) : NULL;
    ctx->username = pl_strndup((const char *)nul1 + 1, cl);
    ctx->password = pl_strndup((const char *)nul2 + 1, pl);
    ctx->state = SASL_ST_NEED_CREDS;
    return SASL_NEED_CREDS;
}

static enum sasl_status plain_creds(struct sasl_ctx *ctx, const struct sasl_creds *creds,
                                    struct sasl_reply *reply)
{
    static const enum sasl_hash order[] = { SASL_SHA512, SASL_SHA256, SASL_SHA1 };
    const struct scram_keys *k = NULL;
    for (size_t i = 0; creds && !k && i < PL_ARRAY_LEN(order); i++) {
        if (creds->keys[order[i]].present)
            k = &creds->keys[order[i]];
    }
    enum sasl_hash h = k ? (enum sasl_hash)(k - creds->keys) : SASL_SHA256;
    /* An unknown user still costs one derivation, so the response time
     * does not tell which accounts exist. */
    uint8_t fake_salt[NEW_SALT_LEN];
    if (!k)
        scram_fake_salt(ctx, ctx->username, fake_salt, sizeof(fake_salt));
    struct scram_keys got;
    int rc = scram_keys_derive(h, ctx->password, k ? k->salt : fake_salt,
                               k ? k->salt_len : sizeof(fake_salt),
                               k ? k->iterations : FAKE_ITERATIONS, &got);
    free_secret(ctx->password);
    ctx->password = NULL;
    bool ok = rc == 0 && k &&
              CRYPTO_memcmp(got.stored_key, k->stored_key, sasl_hash_len(h)) == 0;
    OPENSSL_cleanse(&got, sizeof(got));
    if (!ok)
        return sasl_fail(ctx, reply, "not-authorized", "invalid credentials");
    ctx->state = SASL_ST_DONE;
    return SASL_SUCCESS;
}

enum sasl_status sasl_step(struct sasl_ctx *ctx, const uint8_t *in, size_t len,
                           struct sasl_reply *reply)
{
    buf_clear(&reply->data);
    reply->condition = NULL;
    reply->text = NULL;
    if (ctx->state != SASL_ST_START && ctx->state != SASL_ST_SENT_EMPTY &&
        !(ctx->state == SASL_ST_WAIT_FINAL && ctx->mech->kind == SASL_MECH_SCRAM))
        return sasl_fail(ctx, reply, "malformed-request", "unexpected message");
    if (len == 0) {
        /* Both mechanisms are client-first; an empty initial response asks
         * for an empty challenge (RFC 6120 §6.4.2), once. */
        if (ctx->state != SASL_ST_START)
            return sasl_fail(ctx, reply, "malformed-request", "empty response");
        ctx->state = SASL_ST_SENT_EMPTY;
        return SASL_CHALLENGE;
    }
    if (len > SASL_MSG_MAX)
        return sasl_fail(ctx, reply, "malformed-request", "message too long");
    if (ctx->mech->kind == SASL_MECH_PLAIN)
        return plain_step(ctx, in, len, reply);
    return scram_step(ctx, in, len, reply);
}

enum sasl_status sasl_creds(struct sasl_ctx *ctx, const struct sasl_creds *creds,
                            struct sasl_reply *reply)
{
    buf_clear(&reply->data);
    reply->condition = NULL;
    reply->text = NULL;
    if (ctx->state != SASL_ST_NEED_CREDS)
        return sasl_fail(ctx, reply, "malformed-request", "unexpected message");
    if (ctx->mech->kind == SASL_MECH_PLAIN)
        return plain_creds(ctx, creds, reply);
    return scram_creds(ctx, creds, reply);
}

const char *sasl_username(const struct sasl_ctx *ctx)
{
    return ctx->username;
}

const char *sasl_authzid(const struct sasl_ctx *ctx)
{
    return ctx->authzid;
}

bool sasl_is_plain(const struct sasl_ctx *ctx)
{
    return ctx->mech->kind == SASL_MECH_PLAIN;
}

const char *sasl_mech_name(const struct sasl_ctx *ctx)
{
    return ctx->mech->name;
}

void sasl_set_server_nonce(struct sasl_ctx *ctx, const char *nonce)
{
    /* The nonce goes into r= unquoted: printable ASCII except ','
     * (RFC 5802 §7). */
    PL_ASSERT(nonce && *nonce);
    for (const char *p = nonce; *p; p++)
        PL_ASSERT(*p >= 0x21 && *p <= 0x7e && *p != ',');
    free(ctx->test_nonce);
    ctx->test_nonce = pl_strdup(nonce);
}

void sasl_set_secret(struct sasl_ctx *ctx, const uint8_t *key, size_t len)
{
    /* HMAC-SHA-256 of the secret under a fixed label: the fake-salt key
     * is then tied to this use only. */
    static const char label[] = "parley fake SCRAM salt";
    unsigned int n = sizeof(ctx->fake_key);
    HMAC(EVP_sha256(), key, (int)len, (const unsigned char *)label, sizeof(label) - 1,
         ctx->fake_key, &n);
}
