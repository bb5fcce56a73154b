/* test_base64.c - strict base64 (RFC 4648 §4, §10 test vectors; RFC 6120
 * §6.4.2 strictness). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/base64.h"
#include "core/buf.h"

/* RFC 4648 §10 plus a few binary values. */
static const struct {
    const char *plain;
    size_t len;
    const char *enc;
} vectors[] = {
    { "", 0, "" },
    { "f", 1, "Zg==" },
    { "fo", 2, "Zm8=" },
    { "foo", 3, "Zm9v" },
    { "foob", 4, "Zm9vYg==" },
    { "fooba", 5, "Zm9vYmE=" },
    { "foobar", 6, "Zm9vYmFy" },
    { "\0", 1, "AA==" },
    { "\xff\xfe\xfd", 3, "//79" },
    { "\xfb\xff", 2, "+/8=" },
    { "n,,", 3, "biws" },
    { "\0\0\0\0", 4, "AAAAAA==" },
};

static void encode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        struct buf b = BUF_INIT;
        buf_puts(&b, "x");          /* encode appends */
        base64_encode(&b, vectors[i].plain, vectors[i].len);
        assert_int_equal(b.len, 1 + strlen(vectors[i].enc));
        assert_string_equal(b.data + 1, vectors[i].enc);
        buf_release(&b);
    }
}

static void decode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        struct buf b = BUF_INIT;
        buf_puts(&b, "pre");        /* decode appends */
        assert_int_equal(base64_decode(&b, vectors[i].enc, strlen(vectors[i].enc)), 0);
        assert_int_equal(b.len, 3 + vectors[i].len);
        assert_memory_equal(b.data, "pre", 3);
        if (vectors[i].len)
            assert_memory_equal(b.data + 3, vectors[i].plain, vectors[i].len);
        buf_release(&b);
    }
}

static void round_trip_all_lengths(void **state)
{
    (void)state;
    uint8_t data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof(data); n++) {
        struct buf e = BUF_INIT, d = BUF_INIT;
        base64_encode(&e, data, n);
        assert_int_equal(e.len % 4, 0);
        assert_int_equal(base64_decode(&d, e.data ? e.data : "", e.len), 0);
        assert_int_equal(d.len, n);
        if (n)
            assert_memory_equal(d.data, data, n);
        buf_release(&e);
        buf_release(&d);
    }
}

static const char *const invalid[] = {
    "=",            /* SASL's empty response marker is not base64 */
    "==",
    "====",
    "A",
    "AB",
    "ABC",
    "ABCDE",
    "Zg=",          /* missing padding */
    "Zg",
    "Z===",
    "=Zg=",
    "Zg==Zg==",     /* padding in the middle */
    "Zm9v\n",       /* no line breaks (RFC 6120 §6.4.2) */
    "Zm 9",
    " Zm9",
    "Zm9v ",
    "Zm9-",         /* base64url alphabet is not accepted */
    "Zm9_",
    "Zm9\x80",
    "Zh==",         /* non-zero pad bits: canonical form is Zg== */
    "Zm9=",         /* canonical is Zm8= */
    "Zg=a",
};

static void rejects_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct buf b = BUF_INIT;
        buf_puts(&b, "keep");
        int rc = base64_decode(&b, invalid[i], strlen(invalid[i]));
        if (rc != -1)
            fail_msg("accepted invalid base64 '%s'", invalid[i]);
        /* A failed decode leaves the buffer as it was. */
        assert_int_equal(b.len, 4);
        assert_string_equal(b.data, "keep");
        buf_release(&b);
    }
}

static void embedded_nul_rejected(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(base64_decode(&b, "Zg\0=", 4), -1);
    assert_int_equal(base64_decode(&b, "Zm9v\0\0\0\0", 8), -1);
    assert_int_equal(b.len, 0);
    buf_release(&b);
}

static void length_bounds_input(void **state)
{
    (void)state;
    /* Only len bytes are read: a valid prefix of a longer string. */
    struct buf b = BUF_INIT;
    assert_int_equal(base64_decode(&b, "Zm9vYmFy!!!!", 8), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "foobar", 6);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_vectors),
        cmocka_unit_test(decode_vectors),
        cmocka_unit_test(round_trip_all_lengths),
        cmocka_unit_test(rejects_invalid),
        cmocka_unit_test(embedded_nul_rejected),
        cmocka_unit_test(length_bounds_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
