/* test_scram.c - server side of SCRAM-SHA-1/256/512(-PLUS): the RFC 5802
 * §5 and RFC 7677 §3 examples, round trips against a client written here,
 * channel binding (RFC 5802 §6, RFC 5929, RFC 9266), and failure cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/base64.h"
#include "stream/sasl/sasl.h"

static const struct sasl_channel no_tls = { 0 };

static struct sasl_channel cb_channel(bool exporter, bool endpoint)
{
    struct sasl_channel ch = { .tls = true };
    if (exporter) {
        ch.has_exporter = true;
        for (size_t i = 0; i < sizeof(ch.exporter); i++)
            ch.exporter[i] = (uint8_t)(0xa0 + i);
    }
    if (endpoint) {
        ch.has_endpoint = true;
        ch.endpoint_len = 32;
        for (size_t i = 0; i < ch.endpoint_len; i++)
            ch.endpoint[i] = (uint8_t)(0x10 + 3 * i);
    }
    return ch;
}

static void reply_init(struct sasl_reply *r)
{
    buf_init(&r->data);
    r->condition = NULL;
    r->text = NULL;
}

static enum sasl_status step_str(struct sasl_ctx *ctx, const char *msg, struct sasl_reply *r)
{
    return sasl_step(ctx, (const uint8_t *)msg, strlen(msg), r);
}

static void b64_decode_str(const char *s, size_t len, struct buf *out)
{
    assert_int_equal(base64_decode(out, s, len), 0);
}

static struct sasl_creds creds_for(enum sasl_hash h, const char *password,
                                   const char *salt_b64, unsigned iter)
{
    struct sasl_creds c;
    memset(&c, 0, sizeof(c));
    struct buf salt = BUF_INIT;
    b64_decode_str(salt_b64, strlen(salt_b64), &salt);
    assert_int_equal(scram_keys_derive(h, password, (const uint8_t *)salt.data,
                                       salt.len, iter, &c.keys[h]), 0);
    buf_release(&salt);
    return c;
}

/* ---- RFC test vectors --------------------------------------------------- */

static void rfc5802_example(void **state)
{
    (void)state;
    struct sasl_creds c = creds_for(SASL_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096);
    struct sasl_reply r;
    reply_init(&r);
    struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_non_null(ctx);
    assert_string_equal(sasl_mech_name(ctx), "SCRAM-SHA-1");
    assert_false(sasl_is_plain(ctx));
    sasl_set_server_nonce(ctx, "3rfcNHYJY1ZVvWVs7j");

    assert_int_equal(step_str(ctx, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &r),
                     SASL_NEED_CREDS);
    assert_string_equal(sasl_username(ctx), "user");
    assert_null(sasl_authzid(ctx));
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_CHALLENGE);
    assert_string_equal(r.data.data,
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    assert_int_equal(step_str(ctx, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                                   "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r), SASL_SUCCESS);
    assert_string_equal(r.data.data, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    /* Anything after the outcome is out of sequence. */
    assert_int_equal(step_str(ctx, "c=biws", &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);

    /* The same exchange against keys for another password fails with the
     * generic text. */
    struct sasl_creds wrong = creds_for(SASL_SHA1, "pencil2", "QSXCR+Q6sek8bf92", 4096);
    ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    sasl_set_server_nonce(ctx, "3rfcNHYJY1ZVvWVs7j");
    assert_int_equal(step_str(ctx, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &r),
                     SASL_NEED_CREDS);
    assert_int_equal(sasl_creds(ctx, &wrong, &r), SASL_CHALLENGE);
    assert_int_equal(step_str(ctx, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                                   "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &r), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    assert_string_equal(r.text, "invalid credentials");
    assert_int_equal(r.data.len, 0);
    sasl_free(ctx);
    buf_release(&r.data);
}

static void rfc7677_example(void **state)
{
    (void)state;
    struct sasl_creds c = creds_for(SASL_SHA256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096);
    struct sasl_reply r;
    reply_init(&r);
    struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-256", &no_tls, false);
    assert_non_null(ctx);
    sasl_set_server_nonce(ctx, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    assert_int_equal(step_str(ctx, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &r), SASL_NEED_CREDS);
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_CHALLENGE);
    assert_string_equal(r.data.data,
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    assert_int_equal(step_str(ctx, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                   "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &r),
                     SASL_SUCCESS);
    assert_string_equal(r.data.data, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    sasl_free(ctx);
    buf_release(&r.data);
}

/* ---- A SCRAM client, written from RFC 5802 §3 ----------------------------- */

static const EVP_MD *md_of(enum sasl_hash h)
{
    return h == SASL_SHA1 ? EVP_sha1() : h == SASL_SHA256 ? EVP_sha256() : EVP_sha512();
}

struct exchange {
    const char *mech;
    enum sasl_hash hash;
    const struct sasl_channel *ch;
    const struct sasl_creds *creds;     /* NULL: unknown user */
    const char *password;               /* what the client types */
    const char *gs2;                    /* gs2 header the client sends */
    const char *user;                   /* encoded saslname */
    const uint8_t *cb;                  /* cb data the client binds to */
    size_t cb_len;
    const char *final_ext;              /* inserted before ",p=" or NULL */
};

/* Runs a whole exchange; on success checks v= against the client's own
 * ServerSignature.  Returns the status of the last step. */
static enum sasl_status run(const struct exchange *x, struct sasl_reply *r)
{
    char first[512], final[1200], auth[2048];
    const char *cnonce = "clientNONCE+/!~ok";
    struct sasl_ctx *ctx = sasl_new(x->mech, x->ch, false);
    assert_non_null(ctx);
    snprintf(first, sizeof(first), "%sn=%s,r=%s", x->gs2, x->user, cnonce);
    enum sasl_status st = step_str(ctx, first, r);
    if (st != SASL_NEED_CREDS) {
        sasl_free(ctx);
        return st;
    }
    assert_int_equal(sasl_creds(ctx, x->creds, r), SASL_CHALLENGE);
    char server_first[512];
    snprintf(server_first, sizeof(server_first), "%s", r->data.data);

    /* Parse r=, s=, i= from the server-first message. */
    assert_memory_equal(server_first, "r=", 2);
    assert_memory_equal(server_first + 2, cnonce, strlen(cnonce));
    const char *s_attr = strstr(server_first, ",s=");
    const char *i_attr = strstr(server_first, ",i=");
    assert_non_null(s_attr);
    assert_non_null(i_attr);
    assert_true(i_attr > s_attr);
    char nonce[256];
    snprintf(nonce, sizeof(nonce), "%.*s", (int)(s_attr - server_first - 2), server_first + 2);
    assert_true(strlen(nonce) > strlen(cnonce));
    struct buf salt = BUF_INIT;
    b64_decode_str(s_attr + 3, (size_t)(i_attr - s_attr - 3), &salt);
    int iter = atoi(i_attr + 3);
    assert_true(iter > 0);

    /* client-final-message-without-proof */
    struct buf cbind = BUF_INIT, cb64 = BUF_INIT;
    buf_puts(&cbind, x->gs2);
    if (x->cb)
        buf_append(&cbind, x->cb, x->cb_len);
    base64_encode(&cb64, cbind.data, cbind.len);
    char without[1024];
    snprintf(without, sizeof(without), "c=%s,r=%s%s%s", cb64.data, nonce,
             x->final_ext ? "," : "", x->final_ext ? x->final_ext : "");
    snprintf(auth, sizeof(auth), "n=%s,r=%s,%s,%s", x->user, cnonce, server_first, without);

    const EVP_MD *md = md_of(x->hash);
    int kl = EVP_MD_get_size(md);
    uint8_t salted[64], ckey[64], skey[64], stored[64], csig[64], proof[64], ssig[64];
    unsigned int ol;
    assert_int_equal(PKCS5_PBKDF2_HMAC(x->password, (int)strlen(x->password),
                                       (const uint8_t *)salt.data, (int)salt.len,
                                       iter, md, kl, salted), 1);
    HMAC(md, salted, kl, (const uint8_t *)"Client Key", 10, ckey, &ol);
    HMAC(md, salted, kl, (const uint8_t *)"Server Key", 10, skey, &ol);
    EVP_Digest(ckey, (size_t)kl, stored, &ol, md, NULL);
    HMAC(md, stored, kl, (const uint8_t *)auth, strlen(auth), csig, &ol);
    HMAC(md, skey, kl, (const uint8_t *)auth, strlen(auth), ssig, &ol);
    for (int i = 0; i < kl; i++)
        proof[i] = ckey[i] ^ csig[i];
    struct buf p64 = BUF_INIT, v64 = BUF_INIT;
    base64_encode(&p64, proof, (size_t)kl);
    buf_puts(&v64, "v=");
    base64_encode(&v64, ssig, (size_t)kl);
    snprintf(final, sizeof(final), "%s,p=%s", without, p64.data);

    st = step_str(ctx, final, r);
    if (st == SASL_SUCCESS)
        assert_string_equal(r->data.data, v64.data);
    buf_release(&salt);
    buf_release(&cbind);
    buf_release(&cb64);
    buf_release(&p64);
    buf_release(&v64);
    sasl_free(ctx);
    return st;
}

static void sha512_round_trip(void **state)
{
    (void)state;
    struct sasl_creds c;
    /* A non-ASCII password: the server SASLpreps it (U+00A0 -> space). */
    assert_int_equal(sasl_creds_derive("p\xc3\xa4ss\xc2\xa0word", 4096, &c), 0);
    struct sasl_reply r;
    reply_init(&r);
    struct exchange x = {
        .mech = "SCRAM-SHA-512", .hash = SASL_SHA512, .ch = &no_tls, .creds = &c,
        .password = "p\xc3\xa4ss word", .gs2 = "n,,", .user = "juliet",
    };
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    /* Optional extensions after r= are ignored (RFC 5802 §5.1). */
    x.final_ext = "x=anything,z=1";
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    x.final_ext = NULL;
    x.password = "p\xc3\xa4ss word!";
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    assert_string_equal(r.text, "invalid credentials");
    /* The same credentials serve the other hashes. */
    x.password = "p\xc3\xa4ss word";
    x.mech = "SCRAM-SHA-1";
    x.hash = SASL_SHA1;
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    x.mech = "SCRAM-SHA-256";
    x.hash = SASL_SHA256;
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    buf_release(&r.data);
}

static void authzid_decoding(void **state)
{
    (void)state;
    struct sasl_reply r;
    reply_init(&r);
    struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-256", &no_tls, false);
    assert_int_equal(step_str(ctx, "n,a=juliet=2Cx=3Dy@example.com,n=us=3Der=2C,r=abc", &r),
                     SASL_NEED_CREDS);
    assert_string_equal(sasl_authzid(ctx), "juliet,x=y@example.com");
    assert_string_equal(sasl_username(ctx), "us=er,");
    sasl_free(ctx);

    /* And a whole exchange with an authzid: c= must carry it. */
    struct sasl_creds c = creds_for(SASL_SHA256, "pw", "c2FsdHNhbHQ=", 4096);
    struct exchange x = {
        .mech = "SCRAM-SHA-256", .hash = SASL_SHA256, .ch = &no_tls, .creds = &c,
        .password = "pw", .gs2 = "n,a=admin@example.com,", .user = "r=3Dmeo",
    };
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    buf_release(&r.data);
}

/* ---- Channel binding ------------------------------------------------------ */

static void plus_exporter_and_endpoint(void **state)
{
    (void)state;
    struct sasl_channel both = cb_channel(true, true);
    struct sasl_channel ep_only = cb_channel(false, true);
    struct sasl_creds c;
    assert_int_equal(sasl_creds_derive("secret", 4096, &c), 0);
    struct sasl_reply r;
    reply_init(&r);
    uint8_t wrong[32];
    memcpy(wrong, both.exporter, 32);
    wrong[31] ^= 1;

    struct exchange x = {
        .mech = "SCRAM-SHA-256-PLUS", .hash = SASL_SHA256, .ch = &both, .creds = &c,
        .password = "secret", .gs2 = "p=tls-exporter,,", .user = "romeo",
        .cb = both.exporter, .cb_len = 32,
    };
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    x.cb = wrong;                       /* a man in the middle's binding */
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    x.cb = NULL;                        /* binding data left out */
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");

    x.mech = "SCRAM-SHA-512-PLUS";
    x.hash = SASL_SHA512;
    x.gs2 = "p=tls-server-end-point,a=romeo@example.com,";
    x.cb = both.endpoint;
    x.cb_len = both.endpoint_len;
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    x.cb = both.exporter;               /* bound to the wrong type's data */
    x.cb_len = 32;
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");

    /* Endpoint-only channel (TLS 1.2): tls-exporter is not available. */
    x.ch = &ep_only;
    x.mech = "SCRAM-SHA-1-PLUS";
    x.hash = SASL_SHA1;
    x.gs2 = "p=tls-exporter,,";
    x.cb = both.exporter;
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    assert_string_equal(r.text, "unsupported channel binding type");
    x.gs2 = "p=tls-unique,,";
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.text, "unsupported channel binding type");
    x.gs2 = "p=tls-server-end-point,,";
    x.cb = ep_only.endpoint;
    x.cb_len = ep_only.endpoint_len;
    assert_int_equal(run(&x, &r), SASL_SUCCESS);

    /* -PLUS without p=, and p= without -PLUS. */
    x.gs2 = "n,,";
    x.cb = NULL;
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    x.gs2 = "y,,";
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    x.mech = "SCRAM-SHA-1";
    x.gs2 = "p=tls-server-end-point,,";
    x.cb = ep_only.endpoint;
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");

    /* -PLUS is not even offered without channel-binding data. */
    assert_null(sasl_new("SCRAM-SHA-256-PLUS", &no_tls, true));
    buf_release(&r.data);
}

static void downgrade_detected(void **state)
{
    (void)state;
    struct sasl_channel ch = cb_channel(true, false);
    struct sasl_channel tls_no_cb = { .tls = true };
    struct sasl_creds c;
    assert_int_equal(sasl_creds_derive("secret", 4096, &c), 0);
    struct sasl_reply r;
    reply_init(&r);
    struct exchange x = {
        .mech = "SCRAM-SHA-256", .hash = SASL_SHA256, .ch = &ch, .creds = &c,
        .password = "secret", .gs2 = "y,,", .user = "romeo",
    };
    /* RFC 5802 §6: 'y' while we do offer -PLUS means the offer was cut. */
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    assert_string_equal(r.text, "channel binding downgrade");
    /* Without channel binding on our side, 'y' is honest and fine... */
    x.ch = &tls_no_cb;
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    /* ...and 'n' is always fine. */
    x.ch = &ch;
    x.gs2 = "n,,";
    assert_int_equal(run(&x, &r), SASL_SUCCESS);
    buf_release(&r.data);
}

/* ---- Failures --------------------------------------------------------------- */

static void unknown_user_fails_at_end(void **state)
{
    (void)state;
    struct sasl_reply r;
    reply_init(&r);
    struct sasl_creds sha1_only = creds_for(SASL_SHA1, "pw", "c2FsdHNhbHQ=", 4096);
    const struct sasl_creds *cases[] = { NULL, &sha1_only };
    for (size_t i = 0; i < 2; i++) {
        struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-256", &no_tls, false);
        assert_int_equal(step_str(ctx, "n,,n=nobody,r=abcdef", &r), SASL_NEED_CREDS);
        assert_int_equal(sasl_creds(ctx, cases[i], &r), SASL_CHALLENGE);
        /* Plausible: our nonce appended, a 16-byte salt, 4096 rounds. */
        const char *sf = r.data.data;
        assert_memory_equal(sf, "r=abcdef", 8);
        const char *s = strstr(sf, ",s=");
        assert_non_null(s);
        assert_true(s - sf > 8 + 16);
        const char *it = strstr(sf, ",i=");
        assert_non_null(it);
        assert_int_equal(it - s - 3, 24);       /* base64 of 16 bytes */
        assert_string_equal(it, ",i=4096");
        sasl_free(ctx);
    }

    struct exchange x = {
        .mech = "SCRAM-SHA-256", .hash = SASL_SHA256, .ch = &no_tls, .creds = NULL,
        .password = "pw", .gs2 = "n,,", .user = "nobody",
    };
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    assert_string_equal(r.text, "invalid credentials");
    x.creds = &sha1_only;               /* account without SHA-256 keys */
    assert_int_equal(run(&x, &r), SASL_FAILURE);
    assert_string_equal(r.text, "invalid credentials");
    buf_release(&r.data);
}

static const char *const bad_first[] = {
    "x,,n=user,r=abc",              /* flag must be n, y or p= */
    "n,n=user,r=abc",               /* gs2 header needs two commas */
    "n=user,r=abc",
    ",,n=user,r=abc",
    "p,,n=user,r=abc",
    "p=,,n=user,r=abc",
    "p=tls_exporter,,n=user,r=abc", /* cb-name charset */
    "n,a=,n=user,r=abc",            /* empty authzid */
    "n,a=x=2,n=user,r=abc",         /* bad escape in authzid */
    "n,b=x,n=user,r=abc",
    "n,,m=ext,n=user,r=abc",        /* reserved mandatory extension */
    "n,,n=,r=abc",                  /* empty user */
    "n,,n=us=er,r=abc",             /* '=' not followed by 2C/3D */
    "n,,n=us=2c,r=abc",             /* escapes are upper case */
    "n,,n=user=",
    "n,,n=user",
    "n,,n=user,",
    "n,,n=user,r=",                 /* empty nonce */
    "n,,n=user,r=a b",              /* nonce is printable without space */
    "n,,n=user,r=abc,",             /* dangling comma */
    "n,,n=user,r=abc,1=x",          /* extension name must be a letter */
    "n,,n=user,r=abc,m=x",
    "n,,r=abc,n=user",              /* order is fixed */
    "n,,n=us\xff" "er,r=abc",       /* bad UTF-8 */
    "n,,n=user,r=abc\x7f",
};

static void malformed_client_first(void **state)
{
    (void)state;
    struct sasl_reply r;
    reply_init(&r);
    for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
        struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
        enum sasl_status st = step_str(ctx, bad_first[i], &r);
        if (st != SASL_FAILURE)
            fail_msg("accepted malformed client-first #%zu '%s'", i, bad_first[i]);
        assert_string_equal(r.condition, "malformed-request");
        assert_null(sasl_username(ctx));
        sasl_free(ctx);
    }
    /* Embedded NUL. */
    struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(sasl_step(ctx, (const uint8_t *)"n,,n=u\0x,r=abc", 15, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);
    /* Extensions after the nonce are allowed. */
    ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(step_str(ctx, "n,,n=user,r=abc,x=1,y=z=", &r), SASL_NEED_CREDS);
    sasl_free(ctx);
    buf_release(&r.data);
}

/* client-final messages after "n,,n=user,r=abc" and server nonce "XYZ"
 * (so the combined nonce is abcXYZ and c= is biws). */
static const struct {
    const char *msg;
    const char *condition;
} bad_final[] = {
    { "", "malformed-request" },
    { "c=biws", "malformed-request" },
    { "c=biws,r=abcXYZ", "malformed-request" },
    { "c=biws,r=abcXYZ,p=", "malformed-request" },
    { "c=biws,r=abcXYZ,p=AAAA", "malformed-request" },            /* proof too short */
    { "c=biws,r=abcXYZ,p=AAAAAAAAAAAAAAAAAAAAAAAAAA=", "malformed-request" }, /* bad b64 */
    { "r=abcXYZ,c=biws,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "malformed-request" },
    { "c=biws,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "malformed-request" },
    { "c=biws,r=abcXYZ,m=x,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "malformed-request" },
    { "c=biws,r=abcXYZ,,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "malformed-request" },
    { "c=biws,r=abcXYZ,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=,x=1", "malformed-request" },
    { "c=eSws,r=abcXYZ,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "not-authorized" }, /* y,, */
    { "c=biws,r=abcXYZW,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "not-authorized" },
    { "c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "not-authorized" },
    { "c=biws,r=abcXYZ,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "not-authorized" },
};

static void malformed_client_final(void **state)
{
    (void)state;
    struct sasl_creds c = creds_for(SASL_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096);
    struct sasl_reply r;
    reply_init(&r);
    for (size_t i = 0; i < sizeof(bad_final) / sizeof(bad_final[0]); i++) {
        struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
        sasl_set_server_nonce(ctx, "XYZ");
        assert_int_equal(step_str(ctx, "n,,n=user,r=abc", &r), SASL_NEED_CREDS);
        assert_int_equal(sasl_creds(ctx, &c, &r), SASL_CHALLENGE);
        enum sasl_status st = step_str(ctx, bad_final[i].msg, &r);
        if (st != SASL_FAILURE)
            fail_msg("accepted bad client-final #%zu '%s'", i, bad_final[i].msg);
        if (strcmp(r.condition, bad_final[i].condition) != 0)
            fail_msg("client-final #%zu: got %s", i, r.condition);
        sasl_free(ctx);
    }
    buf_release(&r.data);
}

static void sequence_errors(void **state)
{
    (void)state;
    struct sasl_reply r;
    reply_init(&r);
    struct sasl_creds c = creds_for(SASL_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096);

    /* Empty initial response: empty challenge, then the real message. */
    struct sasl_ctx *ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    sasl_set_server_nonce(ctx, "3rfcNHYJY1ZVvWVs7j");
    buf_puts(&r.data, "stale");
    assert_int_equal(sasl_step(ctx, NULL, 0, &r), SASL_CHALLENGE);
    assert_int_equal(r.data.len, 0);
    assert_int_equal(step_str(ctx, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &r),
                     SASL_NEED_CREDS);
    /* A message while waiting for the lookup is out of sequence. */
    assert_int_equal(step_str(ctx, "c=biws", &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);

    /* Two empty responses in a row. */
    ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(sasl_step(ctx, NULL, 0, &r), SASL_CHALLENGE);
    assert_int_equal(sasl_step(ctx, NULL, 0, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);

    /* sasl_creds before any message, and twice. */
    ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);
    ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(step_str(ctx, "n,,n=user,r=abc", &r), SASL_NEED_CREDS);
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_CHALLENGE);
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);

    /* After a failure everything fails. */
    ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(step_str(ctx, "bogus", &r), SASL_FAILURE);
    assert_int_equal(step_str(ctx, "n,,n=user,r=abc", &r), SASL_FAILURE);
    sasl_free(ctx);

    /* Oversized message. */
    size_t big = 100000;
    char *msg = malloc(big + 1);
    memset(msg, 'a', big);
    memcpy(msg, "n,,n=", 5);
    msg[big] = '\0';
    ctx = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(step_str(ctx, msg, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);
    free(msg);
    sasl_free(NULL);
    buf_release(&r.data);
}

static void random_server_nonce(void **state)
{
    (void)state;
    struct sasl_reply r1, r2;
    reply_init(&r1);
    reply_init(&r2);
    struct sasl_creds c = creds_for(SASL_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096);
    struct sasl_ctx *a = sasl_new("SCRAM-SHA-1", &no_tls, false);
    struct sasl_ctx *b = sasl_new("SCRAM-SHA-1", &no_tls, false);
    assert_int_equal(step_str(a, "n,,n=user,r=abc", &r1), SASL_NEED_CREDS);
    assert_int_equal(step_str(b, "n,,n=user,r=abc", &r2), SASL_NEED_CREDS);
    assert_int_equal(sasl_creds(a, &c, &r1), SASL_CHALLENGE);
    assert_int_equal(sasl_creds(b, &c, &r2), SASL_CHALLENGE);
    /* r=abc + 32 base64 characters (24 random bytes), different each time. */
    const char *s1 = strstr(r1.data.data, ",s=");
    assert_int_equal(s1 - r1.data.data, 2 + 3 + 32);
    assert_string_not_equal(r1.data.data, r2.data.data);
    sasl_free(a);
    sasl_free(b);
    buf_release(&r1.data);
    buf_release(&r2.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc5802_example),
        cmocka_unit_test(rfc7677_example),
        cmocka_unit_test(sha512_round_trip),
        cmocka_unit_test(authzid_decoding),
        cmocka_unit_test(plus_exporter_and_endpoint),
        cmocka_unit_test(downgrade_detected),
        cmocka_unit_test(unknown_user_fails_at_end),
        cmocka_unit_test(malformed_client_first),
        cmocka_unit_test(malformed_client_final),
        cmocka_unit_test(sequence_errors),
        cmocka_unit_test(random_server_nonce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
