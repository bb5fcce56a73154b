/*
 * test_ctl_proto.c - the control socket wire format (admin/ctl_proto.h):
 * exact bytes of the encoders, round trips split at every byte, pipelined
 * messages, every bound and malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "admin/ctl_proto.h"
#include "core/buf.h"
#include "core/mem.h"

/* Feeds 'wire' to a fresh decoder in two pieces split at 'split'; returns
 * the final rc, the message (when DONE) and the bytes consumed. */
static enum ctl_decode_rc decode_split(enum ctl_msg_type type, const char *wire,
                                       size_t len, size_t split,
                                       struct ctl_msg *msg, size_t *consumed,
                                       const char **error)
{
    struct ctl_decoder d;
    ctl_decoder_init(&d, type);
    size_t used = 0, total = 0;
    enum ctl_decode_rc rc = ctl_decode(&d, wire, split, &used);
    total += used;
    if (rc == CTL_DECODE_MORE) {
        assert_int_equal(used, split);   /* MORE means everything was eaten */
        rc = ctl_decode(&d, wire + split, len - split, &used);
        total += used;
    }
    if (rc == CTL_DECODE_DONE)
        ctl_decoder_take(&d, msg);
    if (error)
        *error = d.error;
    *consumed = total;
    ctl_decoder_release(&d);
    return rc;
}

/* Feeds one byte at a time. */
static enum ctl_decode_rc decode_bytewise(enum ctl_msg_type type,
                                          const char *wire, size_t len,
                                          struct ctl_msg *msg)
{
    struct ctl_decoder d;
    ctl_decoder_init(&d, type);
    enum ctl_decode_rc rc = CTL_DECODE_MORE;
    for (size_t i = 0; i < len; i++) {
        size_t used;
        rc = ctl_decode(&d, wire + i, 1, &used);
        if (rc == CTL_DECODE_ERROR)
            break;
        assert_int_equal(used, 1);
        if (rc == CTL_DECODE_DONE) {
            assert_int_equal(i, len - 1);   /* done exactly at the end */
            ctl_decoder_take(&d, msg);
            break;
        }
    }
    ctl_decoder_release(&d);
    return rc;
}

static void assert_items(const struct ctl_msg *m, size_t n,
                         const char *const *items, const size_t *lens)
{
    assert_int_equal(m->nitems, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(items[i]);
        assert_int_equal(m->lens[i], len);
        assert_memory_equal(m->items[i], items[i], len);
        assert_int_equal(m->items[i][len], '\0');
    }
}

/* --- exact encodings ------------------------------------------------------ */

static void request_bytes(void **state)
{
    (void)state;
    static const struct {
        size_t argc;
        const char *argv[4];
        const char *wire;
    } cases[] = {
        { 1, { "status" }, "1:6:status," },
        { 3, { "check_account", "alice", "localhost" },
          "3:13:check_account,5:alice,9:localhost," },
        { 2, { "help", "" }, "2:4:help,0:," },
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        struct buf b = BUF_INIT;
        assert_int_equal(ctl_encode_request(&b, cases[i].argc, cases[i].argv, NULL), 0);
        assert_int_equal(b.len, strlen(cases[i].wire));
        assert_memory_equal(b.data, cases[i].wire, b.len);
        buf_release(&b);
    }
}

static void reply_bytes(void **state)
{
    (void)state;
    static const struct {
        int status;
        char kind;
        size_t n;
        const char *items[3];
        const char *wire;
    } cases[] = {
        { 0, CTL_KIND_NONE, 0, { NULL }, "0N0:" },
        { 0, CTL_KIND_TEXT, 1, { "hello" }, "0T1:5:hello," },
        { 2, CTL_KIND_TEXT, 1, { "unknown host 'x'" }, "2T1:16:unknown host 'x'," },
        { 0, CTL_KIND_LIST, 0, { NULL }, "0L0:" },
        { 0, CTL_KIND_LIST, 3, { "a", "", "ccc" }, "0L3:1:a,0:,3:ccc," },
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        struct buf b = BUF_INIT;
        assert_int_equal(ctl_encode_reply(&b, cases[i].status, cases[i].kind,
                                          cases[i].n, cases[i].items, NULL), 0);
        assert_int_equal(b.len, strlen(cases[i].wire));
        assert_memory_equal(b.data, cases[i].wire, b.len);
        assert_int_equal(ctl_reply_size(cases[i].n, cases[i].items, NULL), b.len);
        buf_release(&b);
    }
}

static void encoder_rejects(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_puts(&b, "keep");
    const char *one[] = { "x" };
    /* no command */
    assert_int_equal(ctl_encode_request(&b, 0, one, NULL), -1);
    /* too many arguments */
    const char *many[CTL_MAX_ARGS + 1];
    for (size_t i = 0; i < PL_ARRAY_LEN(many); i++)
        many[i] = "a";
    assert_int_equal(ctl_encode_request(&b, CTL_MAX_ARGS + 1, many, NULL), -1);
    assert_int_equal(ctl_encode_request(&b, CTL_MAX_ARGS, many, NULL), 0);
    buf_clear(&b);
    buf_puts(&b, "keep");
    /* argument too long */
    char *big = pl_malloc(CTL_MAX_ARG_LEN + 2);
    memset(big, 'x', CTL_MAX_ARG_LEN + 1);
    big[CTL_MAX_ARG_LEN + 1] = '\0';
    const char *bigv[] = { "register", big };
    assert_int_equal(ctl_encode_request(&b, 2, bigv, NULL), -1);
    size_t lens[] = { 8, CTL_MAX_ARG_LEN };
    assert_int_equal(ctl_encode_request(&b, 2, bigv, lens), 0);
    buf_clear(&b);
    buf_puts(&b, "keep");
    /* inconsistent replies */
    assert_int_equal(ctl_encode_reply(&b, 10, CTL_KIND_NONE, 0, NULL, NULL), -1);
    assert_int_equal(ctl_encode_reply(&b, -1, CTL_KIND_NONE, 0, NULL, NULL), -1);
    assert_int_equal(ctl_encode_reply(&b, 0, CTL_KIND_NONE, 1, one, NULL), -1);
    assert_int_equal(ctl_encode_reply(&b, 0, CTL_KIND_TEXT, 0, one, NULL), -1);
    assert_int_equal(ctl_encode_reply(&b, 0, 'X', 1, one, NULL), -1);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "keep", 4);
    free(big);
    buf_release(&b);
}

/* A reply of exactly CTL_MAX_REPLY bytes encodes and decodes; one byte
 * more is refused by both ends. */
static void reply_bound(void **state)
{
    (void)state;
    /* "0T1:" + digits(len) + ":" + len + "," = CTL_MAX_REPLY with a 7-digit len */
    size_t len = CTL_MAX_REPLY - 4 - 7 - 1 - 1;
    char *text = pl_malloc(len + 2);
    memset(text, 'y', len + 1);
    text[len + 1] = '\0';
    const char *items[] = { text };
    size_t lens[] = { len };
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_encode_reply(&b, 0, CTL_KIND_TEXT, 1, items, lens), 0);
    assert_int_equal(b.len, CTL_MAX_REPLY);
    struct ctl_msg m = { 0 };
    size_t used;
    assert_int_equal(decode_split(CTL_MSG_REPLY, b.data, b.len, b.len / 2, &m,
                                  &used, NULL), CTL_DECODE_DONE);
    assert_int_equal(used, CTL_MAX_REPLY);
    assert_items(&m, 1, items, lens);
    ctl_msg_release(&m);

    buf_clear(&b);
    lens[0] = len + 1;
    assert_int_equal(ctl_encode_reply(&b, 0, CTL_KIND_TEXT, 1, items, lens), -1);
    assert_int_equal(b.len, 0);
    /* Hand-made oversize reply: refused when the length arrives, before
     * its bytes. */
    buf_printf(&b, "0T1:%zu:", len + 1);
    const char *err;
    assert_int_equal(decode_split(CTL_MSG_REPLY, b.data, b.len, 0, &m, &used, &err),
                     CTL_DECODE_ERROR);
    assert_string_equal(err, "reply too large");
    /* Many small items adding up past the bound. */
    buf_clear(&b);
    buf_puts(&b, "0L300000:");
    for (int i = 0; i < 300000; i++)
        buf_puts(&b, "2:ab,");
    assert_int_equal(decode_split(CTL_MSG_REPLY, b.data, b.len, 7, &m, &used, &err),
                     CTL_DECODE_ERROR);
    assert_string_equal(err, "reply too large");
    assert_true(used <= CTL_MAX_REPLY + 1);
    free(text);
    buf_release(&b);
}

/* --- round trips, split at every byte ---------------------------------- */

static void request_roundtrip(void **state)
{
    (void)state;
    static const char binary[] = { 'a', '\0', ',', ':', '\n', 'z' };
    struct {
        size_t argc;
        const char *argv[5];
        size_t lens[5];
    } cases[] = {
        { 1, { "status" }, { 6 } },
        { 4, { "register", "alice", "localhost", "s3 cr:et," }, { 8, 5, 9, 9 } },
        { 2, { "x", binary }, { 1, sizeof(binary) } },
        { 3, { "", "", "" }, { 0, 0, 0 } },
        { 5, { "kick_session", "alice@localhost/phone", "bye", "1234567890", "," },
          { 12, 21, 3, 10, 1 } },
    };
    for (size_t c = 0; c < PL_ARRAY_LEN(cases); c++) {
        struct buf b = BUF_INIT;
        assert_int_equal(ctl_encode_request(&b, cases[c].argc, cases[c].argv,
                                            cases[c].lens), 0);
        for (size_t split = 0; split <= b.len; split++) {
            struct ctl_msg m = { 0 };
            size_t used;
            assert_int_equal(decode_split(CTL_MSG_REQUEST, b.data, b.len, split,
                                          &m, &used, NULL), CTL_DECODE_DONE);
            assert_int_equal(used, b.len);
            assert_int_equal(m.kind, 0);
            assert_items(&m, cases[c].argc, cases[c].argv, cases[c].lens);
            ctl_msg_release(&m);
        }
        struct ctl_msg m = { 0 };
        assert_int_equal(decode_bytewise(CTL_MSG_REQUEST, b.data, b.len, &m),
                         CTL_DECODE_DONE);
        assert_items(&m, cases[c].argc, cases[c].argv, cases[c].lens);
        ctl_msg_release(&m);
        buf_release(&b);
    }
}

static void reply_roundtrip(void **state)
{
    (void)state;
    /* A list long enough to make the decoder grow its item array. */
    const char *users[40];
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "u%02d", i);
        users[i] = names[i];
    }
    const struct {
        int status;
        char kind;
        size_t n;
        const char *const *items;
    } cases[] = {
        { 0, CTL_KIND_NONE, 0, NULL },
        { 0, CTL_KIND_TEXT, 1, (const char *const[]){ "alice@localhost exists" } },
        { 3, CTL_KIND_TEXT, 1, (const char *const[]){ "user alice@localhost already exists" } },
        { 0, CTL_KIND_LIST, 0, NULL },
        { 0, CTL_KIND_LIST, 40, users },
        { 9, CTL_KIND_TEXT, 1, (const char *const[]){ "" } },
    };
    for (size_t c = 0; c < PL_ARRAY_LEN(cases); c++) {
        struct buf b = BUF_INIT;
        assert_int_equal(ctl_encode_reply(&b, cases[c].status, cases[c].kind,
                                          cases[c].n, cases[c].items, NULL), 0);
        for (size_t split = 0; split <= b.len; split++) {
            struct ctl_msg m = { 0 };
            size_t used;
            assert_int_equal(decode_split(CTL_MSG_REPLY, b.data, b.len, split,
                                          &m, &used, NULL), CTL_DECODE_DONE);
            assert_int_equal(used, b.len);
            assert_int_equal(m.status, cases[c].status);
            assert_int_equal(m.kind, cases[c].kind);
            assert_items(&m, cases[c].n, cases[c].items, NULL);
            ctl_msg_release(&m);
        }
        struct ctl_msg m = { 0 };
        assert_int_equal(decode_bytewise(CTL_MSG_REPLY, b.data, b.len, &m),
                         CTL_DECODE_DONE);
        assert_int_equal(m.status, cases[c].status);
        ctl_msg_release(&m);
        buf_release(&b);
    }
}

/* Back-to-back messages: the decoder stops at the end of each one and
 * the rest decodes after take(). */
static void pipelined(void **state)
{
    (void)state;
    const char *wire = "1:6:status,2:4:help,8:register,2:2:a,,1:b,";
    size_t len = strlen(wire);
    struct ctl_decoder d;
    ctl_decoder_init(&d, CTL_MSG_REQUEST);
    const char *expect[][2] = { { "status", NULL }, { "help", "register" },
                                { "a,", "b" } };
    size_t off = 0, nmsg = 0;
    while (off < len) {
        size_t used;
        enum ctl_decode_rc rc = ctl_decode(&d, wire + off, len - off, &used);
        assert_int_equal(rc, CTL_DECODE_DONE);
        /* Feeding again before take() consumes nothing. */
        size_t again;
        assert_int_equal(ctl_decode(&d, wire + off + used, len - off - used, &again),
                         CTL_DECODE_DONE);
        assert_int_equal(again, 0);
        off += used;
        struct ctl_msg m;
        ctl_decoder_take(&d, &m);
        assert_string_equal(m.items[0], expect[nmsg][0]);
        if (expect[nmsg][1])
            assert_string_equal(m.items[1], expect[nmsg][1]);
        assert_int_equal(m.nitems, expect[nmsg][1] ? 2 : 1);
        ctl_msg_release(&m);
        nmsg++;
    }
    assert_int_equal(nmsg, 3);
    ctl_decoder_release(&d);
}

/* --- malformed and oversize input -------------------------------------- */

static void malformed(void **state)
{
    (void)state;
    static const struct {
        enum ctl_msg_type type;
        const char *wire;
        size_t error_at;        /* bytes consumed when the error is seen */
        const char *error;
    } cases[] = {
        { CTL_MSG_REQUEST, "0:", 2, "empty request: no command" },
        { CTL_MSG_REQUEST, ":", 1, "malformed item count" },
        { CTL_MSG_REQUEST, "x", 1, "malformed item count" },
        { CTL_MSG_REQUEST, "01:1:a,", 2, "malformed length: leading zero" },
        { CTL_MSG_REQUEST, "1:01:a,", 4, "malformed length: leading zero" },
        { CTL_MSG_REQUEST, "1:-1:a,", 3, "malformed item length" },
        { CTL_MSG_REQUEST, "1: 1:a,", 3, "malformed item length" },
        { CTL_MSG_REQUEST, "1:1:ab", 6, "malformed item: missing ','" },
        { CTL_MSG_REQUEST, "1:1;a,", 4, "malformed item length" },
        { CTL_MSG_REQUEST, "2:1:a,1:b;", 10, "malformed item: missing ','" },
        { CTL_MSG_REQUEST, "65:", 2, "too many arguments (at most 64)" },
        { CTL_MSG_REQUEST, "99999999999999999999999:", 2,
          "too many arguments (at most 64)" },
        { CTL_MSG_REQUEST, "1:65537:", 7, "argument too long (at most 65536 bytes)" },
        { CTL_MSG_REQUEST, "1:99999999999999999999999999:", 7,
          "argument too long (at most 65536 bytes)" },
        { CTL_MSG_REPLY, "xN0:", 1, "malformed reply: bad status" },
        { CTL_MSG_REPLY, "0X0:", 2, "malformed reply: bad kind" },
        { CTL_MSG_REPLY, "0N1:1:a,", 4, "reply of kind N must have no items" },
        { CTL_MSG_REPLY, "0T0:", 4, "reply of kind T must have exactly one item" },
        { CTL_MSG_REPLY, "0T2:1:a,1:b,", 4, "reply of kind T must have exactly one item" },
        { CTL_MSG_REPLY, "0L1:2:ab.", 9, "malformed item: missing ','" },
        { CTL_MSG_REPLY, "0L1048577:", 9, "reply too large" },
    };
    for (size_t c = 0; c < PL_ARRAY_LEN(cases); c++) {
        size_t len = strlen(cases[c].wire);
        for (size_t split = 0; split <= len; split++) {
            struct ctl_msg m = { 0 };
            size_t used;
            const char *err = NULL;
            assert_int_equal(decode_split(cases[c].type, cases[c].wire, len, split,
                                          &m, &used, &err), CTL_DECODE_ERROR);
            assert_string_equal(err, cases[c].error);
            assert_int_equal(used, cases[c].error_at);
        }
    }
}

/* An error is sticky: the framing is lost, so nothing more decodes. */
static void error_is_sticky(void **state)
{
    (void)state;
    struct ctl_decoder d;
    ctl_decoder_init(&d, CTL_MSG_REQUEST);
    size_t used;
    assert_int_equal(ctl_decode(&d, "1:1:ab", 6, &used), CTL_DECODE_ERROR);
    assert_int_equal(ctl_decode(&d, "1:6:status,", 11, &used), CTL_DECODE_ERROR);
    assert_int_equal(used, 0);
    ctl_decoder_release(&d);
}

/* Incomplete input is not an error, and a half-received message is freed
 * by release (ASan checks the leak). */
static void incomplete(void **state)
{
    (void)state;
    static const char *const prefixes[] = {
        "", "1", "1:", "1:6", "1:6:", "1:6:sta", "1:6:status", "3:1:a,",
    };
    for (size_t c = 0; c < PL_ARRAY_LEN(prefixes); c++) {
        struct ctl_decoder d;
        ctl_decoder_init(&d, CTL_MSG_REQUEST);
        size_t used;
        assert_int_equal(ctl_decode(&d, prefixes[c], strlen(prefixes[c]), &used),
                         CTL_DECODE_MORE);
        assert_int_equal(used, strlen(prefixes[c]));
        ctl_decoder_release(&d);
    }
}

/* The largest legal request: 64 arguments of 64 KiB each. */
static void largest_request(void **state)
{
    (void)state;
    char *arg = pl_malloc(CTL_MAX_ARG_LEN + 1);
    memset(arg, 'q', CTL_MAX_ARG_LEN);
    arg[CTL_MAX_ARG_LEN] = '\0';
    const char *argv[CTL_MAX_ARGS];
    for (size_t i = 0; i < CTL_MAX_ARGS; i++)
        argv[i] = arg;
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_encode_request(&b, CTL_MAX_ARGS, argv, NULL), 0);
    struct ctl_msg m = { 0 };
    size_t used;
    assert_int_equal(decode_split(CTL_MSG_REQUEST, b.data, b.len, 12345, &m,
                                  &used, NULL), CTL_DECODE_DONE);
    assert_int_equal(used, b.len);
    assert_items(&m, CTL_MAX_ARGS, argv, NULL);
    ctl_msg_release(&m);
    buf_release(&b);
    free(arg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_bytes),
        cmocka_unit_test(reply_bytes),
        cmocka_unit_test(encoder_rejects),
        cmocka_unit_test(reply_bound),
        cmocka_unit_test(request_roundtrip),
        cmocka_unit_test(reply_roundtrip),
        cmocka_unit_test(pipelined),
        cmocka_unit_test(malformed),
        cmocka_unit_test(error_is_sticky),
        cmocka_unit_test(incomplete),
        cmocka_unit_test(largest_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
