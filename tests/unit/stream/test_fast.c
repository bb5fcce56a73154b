/*
 * test_fast.c - SASL2/Bind2/FAST pure logic (src/stream/fast.c): user-agent
 * ids (XEP-0388 §2.3), Bind2 resources (XEP-0386 §3.2.1), the HT-SHA-256
 * exchange and FAST token records and verdicts (XEP-0484 §3.4, §5.1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "stream/fast.h"

static void test_ua_id(void **state)
{
    (void)state;
    static const struct { const char *id; bool ok; } t[] = {
        { "d4565fa7-4d72-4749-b3d3-740edbf87770", true },
        { "D4565FA7-4D72-4749-B3D3-740EDBF87770", true },
        { "d4565fa7-4d72-4749-b3d3-740edbf8777", false },
        { "d4565fa7-4d72-4749-b3d3-740edbf877700", false },
        { "d4565fa7x4d72-4749-b3d3-740edbf87770", false },
        { "g4565fa7-4d72-4749-b3d3-740edbf87770", false },
        { "", false },
        { NULL, false },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(sasl2_ua_id_valid(t[i].id), t[i].ok);
}

static void test_b64(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(sasl2_b64_decode(&b, "  aGVs\n bG8=\n"), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    buf_clear(&b);
    assert_int_equal(sasl2_b64_decode(&b, ""), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(sasl2_b64_decode(&b, "=="), -1);
    assert_int_equal(sasl2_b64_decode(&b, "a!b="), -1);
    buf_release(&b);
}

static void test_bind2_resource(void **state)
{
    (void)state;
    static const uint8_t r[4] = { 0xde, 0xad, 0xbe, 0xef };
    static const struct { const char *tag; const char *want; } t[] = {
        { "AwesomeXMPP", "AwesomeXMPP/deadbeef" },
        { NULL, "parley/deadbeef" },
        { "", "parley/deadbeef" },
        { "  ", "parley/deadbeef" },
        { "a/b<c>", "abc/deadbeef" },
        { " Con versations ", "Con versations/deadbeef" },
        { "0123456789012345678901234567890123456789", "01234567890123456789012345678901/deadbeef" },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char out[BIND2_TAG_MAX + 2 + 8 + 1];
        bind2_resource(t[i].tag, r, sizeof(r), out, sizeof(out));
        assert_string_equal(out, t[i].want);
    }
}

/* XEP-0386 §3.2: the same client of the same account gets the same
 * part; another client, account or server secret another one. */
static void test_bind2_stable_part(void **state)
{
    (void)state;
    uint8_t key[32], other_key[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)i;
        other_key[i] = (uint8_t)(i + 1);
    }
    static const char ua[] = "d4565fa7-4d72-4749-b3d3-740edbf87770";
    /* HMAC-SHA-256(key, "bind2\0alice\0example.org\0" ua), computed apart */
    static const uint8_t want[6] = { 0x90, 0x54, 0xb9, 0xb8, 0xc9, 0x28 };
    uint8_t a[6], b[6];
    bind2_stable_part(key, "alice", "example.org", ua, a, sizeof(a));
    assert_memory_equal(a, want, sizeof(a));
    bind2_stable_part(key, "alice", "example.org", "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
                      b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    bind2_stable_part(key, "alic", "eexample.org", ua, b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    bind2_stable_part(other_key, "alice", "example.org", ua, b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
}

static void test_mechs(void **state)
{
    (void)state;
    assert_int_equal(fast_mech_cb("HT-SHA-256-NONE"), FAST_CB_NONE);
    assert_int_equal(fast_mech_cb("HT-SHA-256-EXPR"), FAST_CB_EXPORTER);
    assert_int_equal(fast_mech_cb("HT-SHA-256-ENDP"), FAST_CB_ENDPOINT);
    assert_int_equal(fast_mech_cb("HT-SHA-256-UNIQ"), FAST_CB_INVALID);
    assert_int_equal(fast_mech_cb("SCRAM-SHA-1"), FAST_CB_INVALID);
    assert_int_equal(fast_mech_cb(NULL), FAST_CB_INVALID);
    assert_string_equal(fast_mech_name(FAST_CB_ENDPOINT), "HT-SHA-256-ENDP");
}

static void test_ht_parse(void **state)
{
    (void)state;
    uint8_t msg[64], mac[FAST_HMAC_LEN];
    memcpy(msg, "alice", 5);
    msg[5] = 0;
    for (int i = 0; i < FAST_HMAC_LEN; i++)
        msg[6 + i] = (uint8_t)i;
    char *user;
    assert_int_equal(fast_ht_parse(msg, 6 + FAST_HMAC_LEN, &user, mac), 0);
    assert_string_equal(user, "alice");
    assert_int_equal(mac[31], 31);
    free(user);
    /* Too short, no NUL where it belongs, empty authcid, NUL inside. */
    assert_int_equal(fast_ht_parse(msg, 5 + FAST_HMAC_LEN, &user, mac), -1);
    msg[5] = 'x';
    assert_int_equal(fast_ht_parse(msg, 6 + FAST_HMAC_LEN, &user, mac), -1);
    uint8_t e[1 + FAST_HMAC_LEN] = { 0 };
    assert_int_equal(fast_ht_parse(e, sizeof(e), &user, mac), -1);
    msg[5] = 0;
    msg[2] = 0;
    assert_int_equal(fast_ht_parse(msg, 6 + FAST_HMAC_LEN, &user, mac), -1);
    assert_null(user);
}

/* HMAC-SHA-256(key="token", "Initiator"): computed with Python's hmac
 * module, so the label and the concatenation are the draft's. */
static void test_ht_hmac_vector(void **state)
{
    (void)state;
    uint8_t out[FAST_HMAC_LEN];
    fast_ht_hmac("token", "Initiator", NULL, 0, out);
    static const char want[] =
        "\xd2\x4d\x95\x48\x2f\x0d\x6e\x03\x5c\x56\xe7\x87\xda\xc4\xed\x83"
        "\x2b\xdd\x84\xee\x3e\xa2\x42\xaa\xad\xd9\x82\x27\x0c\x33\x00\x06";
    assert_memory_equal(out, want, FAST_HMAC_LEN);
    uint8_t cb[FAST_HMAC_LEN];
    fast_ht_hmac("token", "Initiator", (const uint8_t *)"x", 1, cb);
    assert_memory_not_equal(out, cb, FAST_HMAC_LEN);
    fast_ht_hmac("token", "Responder", NULL, 0, cb);
    assert_memory_not_equal(out, cb, FAST_HMAC_LEN);
}

static const uint8_t secret[32] = { 1, 2, 3 };

static struct fast_slot mk_slot(uint8_t seed, enum fast_cb mech, int64_t expiry,
                                const uint8_t fp[FAST_FP_LEN])
{
    struct fast_slot s;
    memset(&s, 0, sizeof(s));
    s.present = true;
    s.mech = mech;
    s.expiry = expiry;
    memset(s.nonce, seed, sizeof(s.nonce));
    memcpy(s.fp, fp, FAST_FP_LEN);
    s.count = 5;
    return s;
}

static void test_rec_roundtrip(void **state)
{
    (void)state;
    uint8_t fp[FAST_FP_LEN];
    fast_creds_fp("sha1:4096:abc", fp);
    struct fast_rec r = { mk_slot(7, FAST_CB_ENDPOINT, 1700000000, fp),
                          mk_slot(9, FAST_CB_NONE, 1800000000, fp) };
    char *s = fast_rec_encode(&r);
    struct fast_rec d;
    assert_int_equal(fast_rec_decode(s, &d), 0);
    assert_memory_equal(&d, &r, sizeof(r));
    free(s);
    struct fast_rec empty;
    memset(&empty, 0, sizeof(empty));
    s = fast_rec_encode(&empty);
    assert_string_equal(s, "");
    assert_int_equal(fast_rec_decode(s, &d), 0);
    assert_false(d.slot_new.present || d.slot_cur.present);
    free(s);
    static const char *const bad[] = {
        "x:0:1:0:00000000000000000000000000000000:00000000000000000000000000000000",
        "n:7:1:0:00000000000000000000000000000000:00000000000000000000000000000000",
        "n:0:1:0:0000000000000000000000000000000:00000000000000000000000000000000",
        "n:0:1:0:00000000000000000000000000000000:00000000000000000000000000000000;",
        "n:0:1:0:00000000000000000000000000000000:00000000000000000000000000000000;"
        "n:0:1:0:00000000000000000000000000000000:00000000000000000000000000000000",
        "n:0:-1:0:00000000000000000000000000000000:00000000000000000000000000000000",
        "n:0:1:99999999999:00000000000000000000000000000000:00000000000000000000000000000000",
        "n:0:1:0:00000000000000000000000000000000:00000000000000000000000000000000:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fast_rec_decode(bad[i], &d), -1);
}

static void client_hmac(uint8_t seed, const char *bare, const uint8_t *cb, size_t cblen,
                        uint8_t out[FAST_HMAC_LEN])
{
    uint8_t nonce[FAST_NONCE_LEN];
    memset(nonce, seed, sizeof(nonce));
    char tok[FAST_TOKEN_MAX];
    fast_token_derive(secret, sizeof(secret), bare, nonce, tok);
    assert_int_equal(strlen(tok), 43);
    assert_null(strpbrk(tok, "+/="));
    fast_ht_hmac(tok, "Initiator", cb, cblen, out);
}

static void test_check(void **state)
{
    (void)state;
    uint8_t fp[FAST_FP_LEN], fp2[FAST_FP_LEN];
    fast_creds_fp("creds-1", fp);
    fast_creds_fp("creds-2", fp2);
    const char *bare = "alice@localhost";
    struct fast_rec r = { mk_slot(1, FAST_CB_NONE, 1000, fp), mk_slot(2, FAST_CB_NONE, 1000, fp) };
    uint8_t h_new[FAST_HMAC_LEN], h_cur[FAST_HMAC_LEN], h_other[FAST_HMAC_LEN],
        h_wronguser[FAST_HMAC_LEN], h_cb[FAST_HMAC_LEN];
    client_hmac(1, bare, NULL, 0, h_new);
    client_hmac(2, bare, NULL, 0, h_cur);
    client_hmac(3, bare, NULL, 0, h_other);
    client_hmac(1, "bob@localhost", NULL, 0, h_wronguser);
    client_hmac(1, bare, (const uint8_t *)"cb", 2, h_cb);
    static const struct {
        int which;              /* 0 new, 1 cur, 2 other, 3 other user, 4 cb mismatch */
        enum fast_cb mech;
        int64_t now;
        int fp2;
        bool has_count;
        uint32_t count;
        enum fast_verdict want;
    } t[] = {
        { 0, FAST_CB_NONE, 10, 0, false, 0, FAST_OK_NEW },
        { 1, FAST_CB_NONE, 10, 0, false, 0, FAST_OK_CUR },
        { 2, FAST_CB_NONE, 10, 0, false, 0, FAST_BAD },
        { 3, FAST_CB_NONE, 10, 0, false, 0, FAST_BAD },
        { 4, FAST_CB_NONE, 10, 0, false, 0, FAST_BAD },
        { 0, FAST_CB_ENDPOINT, 10, 0, false, 0, FAST_BAD },
        { 0, FAST_CB_NONE, 1000, 0, false, 0, FAST_EXPIRED },
        { 0, FAST_CB_NONE, 10, 1, false, 0, FAST_EXPIRED },
        { 0, FAST_CB_NONE, 10, 0, true, 5, FAST_REPLAY },
        { 0, FAST_CB_NONE, 10, 0, true, 6, FAST_OK_NEW },
    };
    const uint8_t *hm[] = { h_new, h_cur, h_other, h_wronguser, h_cb };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum fast_verdict v = fast_check(&r, secret, sizeof(secret), bare, t[i].mech, NULL, 0,
                                         hm[t[i].which], t[i].fp2 ? fp2 : fp, t[i].now,
                                         t[i].has_count, t[i].count);
        assert_int_equal(v, t[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ua_id),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_bind2_resource),
        cmocka_unit_test(test_bind2_stable_part),
        cmocka_unit_test(test_mechs),
        cmocka_unit_test(test_ht_parse),
        cmocka_unit_test(test_ht_hmac_vector),
        cmocka_unit_test(test_rec_roundtrip),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
