/* test_plain.c - SASL PLAIN (RFC 4616), the offered mechanism list
 * (RFC 6120 §6.3.3), SASLprep (RFC 4013) and the stored credential
 * format of sasl.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stream/sasl/sasl.h"

static const struct sasl_channel tls = { .tls = true };
static const struct sasl_channel no_tls = { 0 };

static void reply_init(struct sasl_reply *r)
{
    buf_init(&r->data);
    r->condition = NULL;
    r->text = NULL;
}

/* ---- Mechanism list ------------------------------------------------------- */

static void mechanism_order(void **state)
{
    (void)state;
    const char *names[16];
    struct sasl_channel exp = { .tls = true, .has_exporter = true };
    struct sasl_channel ep = { .tls = true, .has_endpoint = true, .endpoint_len = 32 };
    static const char *const full[] = {
        "SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
    };

    size_t n = sasl_mechanisms(&exp, true, names, 16);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], full[i]);
    assert_int_equal(sasl_mechanisms(&ep, true, names, 16), 7);

    /* No channel binding: no -PLUS. */
    n = sasl_mechanisms(&tls, true, names, 16);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], full[i + 3]);
    /* PLAIN needs TLS and the policy flag. */
    assert_int_equal(sasl_mechanisms(&tls, false, names, 16), 3);
    assert_string_equal(names[2], "SCRAM-SHA-1");
    assert_int_equal(sasl_mechanisms(&no_tls, true, names, 16), 3);
    /* max is respected. */
    assert_int_equal(sasl_mechanisms(&exp, true, names, 2), 2);
    assert_string_equal(names[1], "SCRAM-SHA-256-PLUS");

    assert_null(sasl_new("PLAIN", &no_tls, true));
    assert_null(sasl_new("PLAIN", &tls, false));
    assert_null(sasl_new("SCRAM-SHA-1-PLUS", &tls, true));
    assert_null(sasl_new("DIGEST-MD5", &exp, true));
    assert_null(sasl_new("scram-sha-1", &exp, true));       /* names are case-sensitive */
    struct sasl_ctx *ctx = sasl_new("PLAIN", &tls, true);
    assert_non_null(ctx);
    assert_true(sasl_is_plain(ctx));
    assert_string_equal(sasl_mech_name(ctx), "PLAIN");
    sasl_free(ctx);
}

/* ---- PLAIN ------------------------------------------------------------------ */

static enum sasl_status plain(const char *msg, size_t len, const struct sasl_creds *creds,
                              struct sasl_reply *r, char *user_out, char *authz_out)
{
    struct sasl_ctx *ctx = sasl_new("PLAIN", &tls, true);
    assert_non_null(ctx);
    enum sasl_status st = sasl_step(ctx, (const uint8_t *)msg, len, r);
    if (st == SASL_NEED_CREDS) {
        if (user_out)
            snprintf(user_out, 300, "%s", sasl_username(ctx));
        if (authz_out)
            snprintf(authz_out, 300, "%s", sasl_authzid(ctx) ? sasl_authzid(ctx) : "(null)");
        st = sasl_creds(ctx, creds, r);
    }
    sasl_free(ctx);
    return st;
}

#define MSG(s) s, sizeof(s) - 1

static void plain_good_and_bad(void **state)
{
    (void)state;
    struct sasl_creds c;
    assert_int_equal(sasl_creds_derive("pencil", 4096, &c), 0);
    struct sasl_reply r;
    reply_init(&r);
    char user[300], authz[300];

    assert_int_equal(plain(MSG("\0user\0pencil"), &c, &r, user, authz), SASL_SUCCESS);
    assert_int_equal(r.data.len, 0);
    assert_null(r.condition);
    assert_string_equal(user, "user");
    assert_string_equal(authz, "(null)");

    assert_int_equal(plain(MSG("juliet@example.com\0Juliet\0pencil"), &c, &r, user, authz),
                     SASL_SUCCESS);
    assert_string_equal(user, "Juliet");                 /* as sent, not prepared */
    assert_string_equal(authz, "juliet@example.com");

    assert_int_equal(plain(MSG("\0user\0Pencil"), &c, &r, NULL, NULL), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    assert_string_equal(r.text, "invalid credentials");
    assert_int_equal(plain(MSG("\0user\0pencil "), &c, &r, NULL, NULL), SASL_FAILURE);

    /* Unknown user: same answer. */
    assert_int_equal(plain(MSG("\0nobody\0pencil"), NULL, &r, NULL, NULL), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    assert_string_equal(r.text, "invalid credentials");
    struct sasl_creds none;
    memset(&none, 0, sizeof(none));
    assert_int_equal(plain(MSG("\0nobody\0pencil"), &none, &r, NULL, NULL), SASL_FAILURE);
    assert_string_equal(r.text, "invalid credentials");
    buf_release(&r.data);
}

static void plain_uses_best_hash(void **state)
{
    (void)state;
    struct sasl_creds good, bad, mixed;
    assert_int_equal(sasl_creds_derive("pencil", 4096, &good), 0);
    assert_int_equal(sasl_creds_derive("other", 4096, &bad), 0);
    struct sasl_reply r;
    reply_init(&r);

    /* Only SHA-1 keys: they are used. */
    memset(&mixed, 0, sizeof(mixed));
    mixed.keys[SASL_SHA1] = good.keys[SASL_SHA1];
    assert_int_equal(plain(MSG("\0u\0pencil"), &mixed, &r, NULL, NULL), SASL_SUCCESS);
    /* SHA-512 is preferred over SHA-1 when both exist. */
    mixed.keys[SASL_SHA512] = bad.keys[SASL_SHA512];
    assert_int_equal(plain(MSG("\0u\0pencil"), &mixed, &r, NULL, NULL), SASL_FAILURE);
    assert_int_equal(plain(MSG("\0u\0other"), &mixed, &r, NULL, NULL), SASL_SUCCESS);
    /* SHA-256 over SHA-1. */
    memset(&mixed, 0, sizeof(mixed));
    mixed.keys[SASL_SHA1] = bad.keys[SASL_SHA1];
    mixed.keys[SASL_SHA256] = good.keys[SASL_SHA256];
    assert_int_equal(plain(MSG("\0u\0pencil"), &mixed, &r, NULL, NULL), SASL_SUCCESS);
    buf_release(&r.data);
}

static void plain_saslprep(void **state)
{
    (void)state;
    struct sasl_creds c;
    /* "I<soft hyphen>X" is stored as "IX" (RFC 4013 §3 example 1). */
    assert_int_equal(sasl_creds_derive("I\xc2\xadX", 4096, &c), 0);
    struct sasl_reply r;
    reply_init(&r);
    assert_int_equal(plain(MSG("\0u\0IX"), &c, &r, NULL, NULL), SASL_SUCCESS);
    assert_int_equal(plain(MSG("\0u\0I\xc2\xadX"), &c, &r, NULL, NULL), SASL_SUCCESS);
    assert_int_equal(plain(MSG("\0u\0ix"), &c, &r, NULL, NULL), SASL_FAILURE);
    /* Non-ASCII space maps to SPACE (RFC 4013 §2.1). */
    assert_int_equal(sasl_creds_derive("a b", 4096, &c), 0);
    assert_int_equal(plain(MSG("\0u\0a\xc2\xa0" "b"), &c, &r, NULL, NULL), SASL_SUCCESS);
    /* A password SASLprep prohibits never matches (U+0007). */
    assert_int_equal(plain(MSG("\0u\0a\x07"), &c, &r, NULL, NULL), SASL_FAILURE);
    assert_string_equal(r.condition, "not-authorized");
    buf_release(&r.data);
}

static const struct {
    const char *msg;
    size_t len;
} bad_plain[] = {
    { MSG("user") },                    /* no NUL */
    { MSG("user\0pencil") },            /* one NUL */
    { MSG("\0user\0pencil\0") },        /* three NULs */
    { MSG("a\0user\0pen\0cil") },
    { MSG("\0\0pencil") },              /* empty authcid */
    { MSG("\0user\0") },                /* empty password */
    { MSG("\0\0") },
    { MSG("\0us\xff" "er\0pencil") },   /* bad UTF-8 */
    { MSG("\0user\0pen\xc0\xaf" "cil") },
    { MSG("\xed\xa0\x80\0user\0pencil") },
};

static void plain_malformed(void **state)
{
    (void)state;
    struct sasl_creds c;
    assert_int_equal(sasl_creds_derive("pencil", 4096, &c), 0);
    struct sasl_reply r;
    reply_init(&r);
    for (size_t i = 0; i < sizeof(bad_plain) / sizeof(bad_plain[0]); i++) {
        struct sasl_ctx *ctx = sasl_new("PLAIN", &tls, true);
        enum sasl_status st = sasl_step(ctx, (const uint8_t *)bad_plain[i].msg,
                                        bad_plain[i].len, &r);
        if (st != SASL_FAILURE)
            fail_msg("accepted malformed PLAIN #%zu", i);
        assert_string_equal(r.condition, "malformed-request");
        sasl_free(ctx);
    }

    /* Field length limit: 255 bytes each. */
    char msg[1000];
    memset(msg, 0, sizeof(msg));
    msg[0] = '\0';
    memset(msg + 1, 'u', 255);
    msg[256] = '\0';
    memcpy(msg + 257, "pencil", 6);
    struct sasl_ctx *ctx = sasl_new("PLAIN", &tls, true);
    assert_int_equal(sasl_step(ctx, (const uint8_t *)msg, 263, &r), SASL_NEED_CREDS);
    assert_int_equal(strlen(sasl_username(ctx)), 255);
    sasl_free(ctx);
    memset(msg + 1, 'u', 256);
    msg[257] = '\0';
    memcpy(msg + 258, "pencil", 6);
    ctx = sasl_new("PLAIN", &tls, true);
    assert_int_equal(sasl_step(ctx, (const uint8_t *)msg, 264, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);
    memset(msg, 0, sizeof(msg));
    memcpy(msg + 1, "u", 1);
    memset(msg + 3, 'p', 256);
    ctx = sasl_new("PLAIN", &tls, true);
    assert_int_equal(sasl_step(ctx, (const uint8_t *)msg, 259, &r), SASL_FAILURE);
    sasl_free(ctx);
    buf_release(&r.data);
}

static void plain_sequence(void **state)
{
    (void)state;
    struct sasl_creds c;
    assert_int_equal(sasl_creds_derive("pencil", 4096, &c), 0);
    struct sasl_reply r;
    reply_init(&r);
    /* Empty initial response -> empty challenge -> the real response. */
    struct sasl_ctx *ctx = sasl_new("PLAIN", &tls, true);
    assert_int_equal(sasl_step(ctx, NULL, 0, &r), SASL_CHALLENGE);
    assert_int_equal(r.data.len, 0);
    assert_int_equal(sasl_step(ctx, (const uint8_t *)"\0u\0pencil", 9, &r), SASL_NEED_CREDS);
    /* A second message before the lookup is out of sequence. */
    assert_int_equal(sasl_step(ctx, (const uint8_t *)"\0u\0pencil", 9, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_FAILURE);
    sasl_free(ctx);

    ctx = sasl_new("PLAIN", &tls, true);
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_FAILURE);
    assert_string_equal(r.condition, "malformed-request");
    sasl_free(ctx);

    ctx = sasl_new("PLAIN", &tls, true);
    assert_int_equal(sasl_step(ctx, NULL, 0, &r), SASL_CHALLENGE);
    assert_int_equal(sasl_step(ctx, NULL, 0, &r), SASL_FAILURE);
    sasl_free(ctx);

    ctx = sasl_new("PLAIN", &tls, true);
    assert_int_equal(sasl_step(ctx, (const uint8_t *)"\0u\0pencil", 9, &r), SASL_NEED_CREDS);
    assert_int_equal(sasl_creds(ctx, &c, &r), SASL_SUCCESS);
    assert_int_equal(sasl_step(ctx, (const uint8_t *)"\0u\0pencil", 9, &r), SASL_FAILURE);
    sasl_free(ctx);
    buf_release(&r.data);
}

/* ---- SASLprep and key derivation ------------------------------------------- */

static void prep_password(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;                /* NULL: rejected */
    } cases[] = {
        { "pencil", "pencil" },
        { "I\xc2\xadX", "IX" },                 /* RFC 4013 §3 examples */
        { "user", "user" },
        { "USER", "USER" },
        { "\xc2\xaa", "a" },
        { "\xe2\x85\xa8", "IX" },
        { "\x07", NULL },
        { "\xd8\xa7" "1", NULL },               /* bidi: RAL then L/EN */
        { "", NULL },
        { "\xc2\xad", NULL },                   /* empty after mapping */
        { "a\xff", NULL },
        { "a\xc2\xa0" "b", "a b" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = sasl_prep_password(cases[i].in);
        if (cases[i].out) {
            if (!p)
                fail_msg("rejected password #%zu", i);
            assert_string_equal(p, cases[i].out);
        } else if (p) {
            fail_msg("accepted password #%zu as '%s'", i, p);
        }
        free(p);
    }
    assert_null(sasl_prep_password(NULL));
    struct sasl_creds c;
    assert_int_equal(sasl_creds_derive("\x07", 4096, &c), -1);
}

static void derive_keys(void **state)
{
    (void)state;
    struct sasl_creds a, b;
    assert_int_equal(sasl_creds_derive("pencil", 4096, &a), 0);
    assert_int_equal(sasl_creds_derive("pencil", 4096, &b), 0);
    for (int h = 0; h < SASL_HASH_COUNT; h++) {
        assert_true(a.keys[h].present);
        assert_int_equal(a.keys[h].salt_len, 16);
        assert_int_equal(a.keys[h].iterations, 4096);
        /* Random salts: two derivations differ. */
        assert_memory_not_equal(a.keys[h].salt, b.keys[h].salt, 16);
        assert_memory_not_equal(a.keys[h].stored_key, b.keys[h].stored_key,
                                sasl_hash_len((enum sasl_hash)h));
        /* And the same salt gives the same keys. */
        struct scram_keys k;
        assert_int_equal(scram_keys_derive((enum sasl_hash)h, "pencil", a.keys[h].salt,
                                           16, 4096, &k), 0);
        assert_memory_equal(k.stored_key, a.keys[h].stored_key, sasl_hash_len((enum sasl_hash)h));
        assert_memory_equal(k.server_key, a.keys[h].server_key, sasl_hash_len((enum sasl_hash)h));
    }
    assert_int_equal(sasl_hash_len(SASL_SHA1), 20);
    assert_int_equal(sasl_hash_len(SASL_SHA256), 32);
    assert_int_equal(sasl_hash_len(SASL_SHA512), 64);
    assert_string_equal(sasl_hash_name(SASL_SHA256), "SHA-256");
    struct scram_keys k;
    uint8_t salt[4] = { 1, 2, 3, 4 };
    assert_int_equal(scram_keys_derive(SASL_SHA1, "pw", salt, 4, 0, &k), -1);
    assert_int_equal(scram_keys_derive(SASL_SHA1, "pw", salt, 0, 1, &k), -1);
}

/* ---- Stored form --------------------------------------------------------------- */

static void creds_round_trip(void **state)
{
    (void)state;
    struct sasl_creds c, d;
    assert_int_equal(sasl_creds_derive("pencil", 4096, &c), 0);
    char *s = sasl_creds_encode(&c);
    assert_memory_equal(s, "sha1:4096:", 10);
    assert_non_null(strstr(s, ";sha256:4096:"));
    assert_non_null(strstr(s, ";sha512:4096:"));
    assert_int_equal(sasl_creds_decode(s, &d), 0);
    assert_memory_equal(&c, &d, sizeof(c));
    free(s);

    /* Hashes without keys are left out. */
    c.keys[SASL_SHA1].present = false;
    c.keys[SASL_SHA512].present = false;
    s = sasl_creds_encode(&c);
    assert_memory_equal(s, "sha256:4096:", 12);
    assert_null(strchr(s, ';'));
    assert_int_equal(sasl_creds_decode(s, &d), 0);
    assert_false(d.keys[SASL_SHA1].present);
    assert_true(d.keys[SASL_SHA256].present);
    assert_false(d.keys[SASL_SHA512].present);
    assert_memory_equal(&c.keys[SASL_SHA256], &d.keys[SASL_SHA256], sizeof(d.keys[0]));
    free(s);

    /* A known value decodes to the RFC 5802 example's keys. */
    struct scram_keys k;
    static const uint8_t salt[] = { 0x41, 0x25, 0xc2, 0x47, 0xe4, 0x3a, 0xb1, 0xe9,
                                    0x3c, 0x6d, 0xff, 0x76 };   /* QSXCR+Q6sek8bf92 */
    assert_int_equal(scram_keys_derive(SASL_SHA1, "pencil", salt, sizeof(salt), 4096, &k), 0);
    memset(&c, 0, sizeof(c));
    c.keys[SASL_SHA1] = k;
    s = sasl_creds_encode(&c);
    assert_memory_equal(s, "sha1:4096:QSXCR+Q6sek8bf92:", 27);
    free(s);

    /* Empty credentials encode to "" and back. */
    memset(&c, 0, sizeof(c));
    s = sasl_creds_encode(&c);
    assert_string_equal(s, "");
    assert_int_equal(sasl_creds_decode(s, &d), 0);
    assert_false(d.keys[SASL_SHA1].present || d.keys[SASL_SHA256].present ||
                 d.keys[SASL_SHA512].present);
    free(s);
}

#define K20 "AAAAAAAAAAAAAAAAAAAAAAAAAAA="                          /* 20 bytes */
#define K32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="          /* 32 bytes */

static const char *const bad_creds[] = {
    "sha1",
    "sha1:4096",
    "sha1:4096:c2FsdA==",
    "sha1:4096:c2FsdA==:" K20,
    "sha1:4096:c2FsdA==:" K20 ":" K20 ":" K20,      /* six fields */
    "sha1:4096:c2FsdA==:" K20 ":" K20 ":",
    "sha1:0:c2FsdA==:" K20 ":" K20,                  /* iteration 0 */
    "sha1:10000001:c2FsdA==:" K20 ":" K20,           /* too many */
    "sha1:99999999999:c2FsdA==:" K20 ":" K20,
    "sha1:-1:c2FsdA==:" K20 ":" K20,
    "sha1:+4096:c2FsdA==:" K20 ":" K20,
    "sha1:04096:c2FsdA==:" K20 ":" K20,
    "sha1::c2FsdA==:" K20 ":" K20,
    "sha1:4096x:c2FsdA==:" K20 ":" K20,
    "sha1:4096::" K20 ":" K20,                       /* empty salt */
    "sha1:4096:c2FsdA=:" K20 ":" K20,                /* bad base64 */
    "sha1:4096:c2Fsd A=:" K20 ":" K20,
    "sha1:4096:c2FsdA==:" K32 ":" K20,               /* key length != hash */
    "sha1:4096:c2FsdA==:" K20 ":" K32,
    "sha256:4096:c2FsdA==:" K20 ":" K20,
    "sha1:4096:"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ":" K20 ":" K20,                             /* 66-byte salt */
    "md5:4096:c2FsdA==:" K20 ":" K20,
    "SHA1:4096:c2FsdA==:" K20 ":" K20,
    "sha1:4096:c2FsdA==:" K20 ":" K20 ";",           /* empty entry */
    ";sha1:4096:c2FsdA==:" K20 ":" K20,
    "sha1:4096:c2FsdA==:" K20 ":" K20 ";sha1:4096:c2FsdA==:" K20 ":" K20, /* duplicate */
    "sha1:4096:c2FsdA==:" K20 ":" K20 ";sha256:4096:c2FsdA==:" K32,
};

static void creds_rejects_malformed(void **state)
{
    (void)state;
    struct sasl_creds d;
    /* The valid base the table mutates. */
    assert_int_equal(sasl_creds_decode("sha1:4096:c2FsdA==:" K20 ":" K20, &d), 0);
    assert_int_equal(d.keys[SASL_SHA1].salt_len, 4);
    assert_int_equal(sasl_creds_decode("sha1:10000000:c2FsdA==:" K20 ":" K20
                                       ";sha256:1:c2FsdA==:" K32 ":" K32, &d), 0);
    assert_int_equal(d.keys[SASL_SHA1].iterations, 10000000);
    assert_int_equal(d.keys[SASL_SHA256].iterations, 1);
    for (size_t i = 0; i < sizeof(bad_creds) / sizeof(bad_creds[0]); i++) {
        if (sasl_creds_decode(bad_creds[i], &d) != -1)
            fail_msg("accepted malformed creds #%zu '%s'", i, bad_creds[i]);
        /* Nothing half-decoded is left behind. */
        for (int h = 0; h < SASL_HASH_COUNT; h++)
            assert_false(d.keys[h].present);
    }
    assert_int_equal(sasl_creds_decode(NULL, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mechanism_order),
        cmocka_unit_test(plain_good_and_bad),
        cmocka_unit_test(plain_uses_best_hash),
        cmocka_unit_test(plain_saslprep),
        cmocka_unit_test(plain_malformed),
        cmocka_unit_test(plain_sequence),
        cmocka_unit_test(prep_password),
        cmocka_unit_test(derive_keys),
        cmocka_unit_test(creds_round_trip),
        cmocka_unit_test(creds_rejects_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
