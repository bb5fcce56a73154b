/*
 * test_api.c - the pure half of the HTTP API (src/http/api.c, token.c):
 * JSON arguments to argv with the faulty argument named, replies to JSON
 * and HTTP statuses, the listing schema, Authorization header parsing
 * (RFC 7617, RFC 6750), token records and matching.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "http/api.h"
#include "http/token.h"

static const struct cmd_arg reg_args[] = {
    { "user", CMD_ARG_USER, "user", false },
    { "host", CMD_ARG_HOST, "host", false },
    { "password", CMD_ARG_PASSWORD, "password", false },
};
static const struct admin_command cmd_reg = {
    .name = "register", .args = reg_args, .nargs = 3, .result = CMD_RESULT_NONE,
    .doc = "Registers. More text.", .example = "register a b c",
};
static const struct cmd_arg opt_args[] = {
    { "name", CMD_ARG_STRING, "name", false },
    { "count", CMD_ARG_INT, "count", true },
    { "reason", CMD_ARG_STRING, "reason", true },
};
static const struct admin_command cmd_opt = {
    .name = "opt", .args = opt_args, .nargs = 3, .result = CMD_RESULT_LIST,
    .doc = "Optional ones.", .example = "opt x",
};
static const struct admin_command cmd_none = {
    .name = "status", .args = NULL, .nargs = 0, .result = CMD_RESULT_TEXT,
    .doc = "Status.", .example = "status",
};

static void free_argv(char **argv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
}

static void test_args_ok(void **state)
{
    (void)state;
    static const struct {
        const struct admin_command *cmd;
        const char *json;           /* NULL: no body */
        size_t argc;
        const char *argv[3];
    } cases[] = {
        { &cmd_reg, "{\"user\":\"alice\",\"host\":\"localhost\",\"password\":\"pw\"}", 3,
          { "alice", "localhost", "pw" } },
        /* order of keys does not matter */
        { &cmd_reg, "{\"password\":\"pw\",\"host\":\"h\",\"user\":\"u\"}", 3, { "u", "h", "pw" } },
        { &cmd_opt, "{\"name\":\"x\"}", 1, { "x" } },
        { &cmd_opt, "{\"name\":\"x\",\"count\":42}", 2, { "x", "42" } },
        { &cmd_opt, "{\"name\":\"x\",\"count\":-7}", 2, { "x", "-7" } },
        { &cmd_opt, "{\"name\":\"x\",\"count\":\"42\",\"reason\":\"r\"}", 3, { "x", "42", "r" } },
        /* null is absent */
        { &cmd_opt, "{\"name\":\"x\",\"count\":null}", 1, { "x" } },
        { &cmd_none, "{}", 0, { NULL } },
        { &cmd_none, NULL, 0, { NULL } },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = cases[i].json ? json_loads(cases[i].json, 0, NULL) : NULL;
        char **argv = NULL;
        size_t argc = 99;
        struct buf err = BUF_INIT;
        const char *bad = NULL;
        if (api_args_from_json(cases[i].cmd, j, &argv, &argc, &err, &bad) != 0)
            fail_msg("case %zu: %s", i, err.data);
        assert_int_equal(argc, cases[i].argc);
        for (size_t k = 0; k < argc; k++)
            assert_string_equal(argv[k], cases[i].argv[k]);
        assert_null(argv[argc]);
        free_argv(argv, argc);
        buf_release(&err);
        json_decref(j);
    }
}

static void test_args_errors(void **state)
{
    (void)state;
    static const struct {
        const struct admin_command *cmd;
        const char *json;
        const char *bad;            /* NULL: no argument named */
        const char *err;
    } cases[] = {
        { &cmd_reg, "[]", NULL, "the request body must be a JSON object of arguments" },
        { &cmd_reg, "{\"user\":\"a\",\"host\":\"h\"}", "password", "argument 'password' is required" },
        { &cmd_reg, "{\"user\":\"a\",\"host\":\"h\",\"password\":\"p\",\"pasword\":\"p\"}",
          "pasword", "register takes no argument 'pasword'" },
        { &cmd_reg, "{\"user\":5,\"host\":\"h\",\"password\":\"p\"}", "user",
          "argument 'user': expected a string" },
        { &cmd_reg, "{\"user\":\"a\",\"host\":[\"h\"],\"password\":\"p\"}", "host",
          "argument 'host': expected a string" },
        { &cmd_opt, "{\"name\":\"x\",\"count\":1.5}", "count",
          "argument 'count': expected an integer (a number or a string)" },
        { &cmd_opt, "{\"name\":\"x\",\"count\":true}", "count",
          "argument 'count': expected an integer (a number or a string)" },
        { &cmd_opt, "{\"name\":\"x\",\"reason\":\"r\"}", "count",
          "argument 'count' is required when 'reason' is given" },
        { &cmd_opt, "{\"name\":\"a\\u0000b\"}", "name", "argument 'name': contains a NUL character" },
        { &cmd_none, "{\"x\":1}", "x", "status takes no argument 'x'" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *j = json_loads(cases[i].json, JSON_ALLOW_NUL, &jerr);
        if (!j)
            fail_msg("case %zu: bad test JSON: %s", i, jerr.text);
        char **argv = NULL;
        size_t argc = 0;
        struct buf err = BUF_INIT;
        const char *bad = NULL;
        if (api_args_from_json(cases[i].cmd, j, &argv, &argc, &err, &bad) != -1)
            fail_msg("case %zu accepted", i);
        assert_string_equal(err.data, cases[i].err);
        if (cases[i].bad)
            assert_string_equal(bad, cases[i].bad);
        else
            assert_null(bad);
        buf_release(&err);
        json_decref(j);
    }
}

static void test_arg_too_long(void **state)
{
    (void)state;
    char *big = malloc(API_ARG_MAX + 2);
    memset(big, 'a', API_ARG_MAX + 1);
    big[API_ARG_MAX + 1] = '\0';
    json_t *j = json_pack("{s:s}", "name", big);
    char **argv = NULL;
    size_t argc = 0;
    struct buf err = BUF_INIT;
    const char *bad = NULL;
    assert_int_equal(api_args_from_json(&cmd_opt, j, &argv, &argc, &err, &bad), -1);
    assert_string_equal(bad, "name");
    assert_string_equal(err.data, "argument 'name': longer than 4096 bytes");
    buf_release(&err);
    json_decref(j);
    free(big);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static void test_replies(void **state)
{
    (void)state;
    static const struct {
        enum cmd_status st;
        int http;
    } statuses[] = {
        { CMD_OK, 200 }, { CMD_E_USAGE, 400 }, { CMD_E_NOT_FOUND, 404 },
        { CMD_E_CONFLICT, 409 }, { CMD_E_FORBIDDEN, 403 }, { CMD_E_INTERNAL, 500 },
        { CMD_E_UNKNOWN_COMMAND, 404 },
    };
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        assert_int_equal(api_http_status(statuses[i].st), statuses[i].http);

    struct buf text = BUF_INIT;
    buf_puts(&text, "uptime 5 s");
    char *s = dump(api_reply_json(CMD_OK, &text, NULL, 0));
    assert_string_equal(s, "{\"result\":\"uptime 5 s\"}");
    free(s);

    char *items[] = { "alice", "bob" };
    s = dump(api_reply_json(CMD_OK, NULL, items, 2));
    assert_string_equal(s, "{\"result\":[\"alice\",\"bob\"]}");
    free(s);
    s = dump(api_reply_json(CMD_OK, NULL, items, 0));
    assert_string_equal(s, "{\"result\":[]}");
    free(s);
    s = dump(api_reply_json(CMD_OK, NULL, NULL, 0));
    assert_string_equal(s, "{\"result\":\"ok\"}");
    free(s);

    /* Errors: the first line, and the argument named by the message. */
    struct buf err = BUF_INIT;
    buf_puts(&err, "argument 'user': invalid JID localpart 'a b'\nusage: register USER HOST PASSWORD");
    s = dump(api_reply_json(CMD_E_USAGE, &err, NULL, 0));
    assert_string_equal(s, "{\"argument\":\"user\",\"error\":\"argument 'user': invalid JID localpart 'a b'\"}");
    free(s);
    buf_release(&err);
    buf_puts(&err, "user alice@localhost already exists");
    s = dump(api_reply_json(CMD_E_CONFLICT, &err, NULL, 0));
    assert_string_equal(s, "{\"error\":\"user alice@localhost already exists\"}");
    free(s);
    buf_release(&err);
    /* Invalid UTF-8 cannot go into JSON as is: still a reply. */
    s = dump(api_error_json("bad \xff byte", NULL));
    assert_string_equal(s, "{\"error\":\"(message not valid UTF-8)\"}");
    free(s);
    buf_release(&text);

    char name[8];
    assert_false(api_error_argument("argument 'averylongname': x", name, sizeof(name)));
    assert_false(api_error_argument("unknown host 'x'", name, sizeof(name)));
    assert_true(api_error_argument("argument 'host': x", name, sizeof(name)));
    assert_string_equal(name, "host");
}

static void test_listing(void **state)
{
    (void)state;
    const struct admin_command *all[] = { &cmd_opt, &cmd_none, NULL };
    char *s = dump(api_listing_json(all));
    assert_string_equal(s,
        "{\"commands\":["
        "{\"args\":["
        "{\"doc\":\"name\",\"name\":\"name\",\"optional\":false,\"type\":\"string\"},"
        "{\"doc\":\"count\",\"name\":\"count\",\"optional\":true,\"type\":\"integer\"},"
        "{\"doc\":\"reason\",\"name\":\"reason\",\"optional\":true,\"type\":\"string\"}],"
        "\"doc\":\"Optional ones.\",\"name\":\"opt\",\"result\":\"list\"},"
        "{\"args\":[],\"doc\":\"Status.\",\"name\":\"status\",\"result\":\"text\"}]}");
    free(s);
}

static void test_auth_header(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        enum api_auth_kind kind;
        const char *a, *b;          /* token, or user and password */
    } cases[] = {
        { NULL, API_AUTH_NONE, NULL, NULL },
        { "Bearer plt_abc-_DEF123", API_AUTH_BEARER, "plt_abc-_DEF123", NULL },
        { "bearer   tok==", API_AUTH_BEARER, "tok==", NULL },
        { "Bearer", API_AUTH_INVALID, NULL, NULL },
        { "Bearer a b", API_AUTH_INVALID, NULL, NULL },
        { "Bearer a=b", API_AUTH_INVALID, NULL, NULL },
        /* "admin@localhost:pa:ss" - the password may hold ':' */
        { "Basic YWRtaW5AbG9jYWxob3N0OnBhOnNz", API_AUTH_BASIC, "admin@localhost", "pa:ss" },
        { "BASIC YWRtaW5AbG9jYWxob3N0Og==", API_AUTH_BASIC, "admin@localhost", "" },
        { "Basic bm9jb2xvbg==", API_AUTH_INVALID, NULL, NULL },      /* "nocolon" */
        { "Basic OnB3", API_AUTH_INVALID, NULL, NULL },              /* ":pw" */
        { "Basic !!!!", API_AUTH_INVALID, NULL, NULL },
        { "Basic YQBiOmM=", API_AUTH_INVALID, NULL, NULL },          /* "a\0b:c" */
        { "Digest x", API_AUTH_INVALID, NULL, NULL },
        { "", API_AUTH_INVALID, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct api_auth a;
        api_auth_parse(cases[i].header, &a);
        if (a.kind != cases[i].kind)
            fail_msg("case %zu (%s): kind %d, expected %d", i, cases[i].header ? cases[i].header : "-",
                     a.kind, cases[i].kind);
        if (a.kind == API_AUTH_BEARER)
            assert_string_equal(a.token, cases[i].a);
        if (a.kind == API_AUTH_BASIC) {
            assert_string_equal(a.user, cases[i].a);
            assert_string_equal(a.password, cases[i].b);
        }
        api_auth_release(&a);
    }
}

static void test_tokens(void **state)
{
    (void)state;
    struct buf t1 = BUF_INIT, t2 = BUF_INIT;
    uint8_t h1[TOKEN_HASH_LEN], h2[TOKEN_HASH_LEN], again[TOKEN_HASH_LEN];
    token_generate(&t1, h1);
    token_generate(&t2, h2);
    assert_int_equal(t1.len, strlen(TOKEN_PREFIX) + 43);
    assert_memory_equal(t1.data, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
    assert_string_not_equal(t1.data, t2.data);
    token_hash(t1.data, again);
    assert_memory_equal(h1, again, TOKEN_HASH_LEN);
    assert_memory_not_equal(h1, h2, TOKEN_HASH_LEN);
    /* The token is a valid RFC 6750 b64token: it parses as a bearer. */
    struct buf hdr = BUF_INIT;
    buf_printf(&hdr, "Bearer %s", t1.data);
    struct api_auth a;
    api_auth_parse(hdr.data, &a);
    assert_int_equal(a.kind, API_AUTH_BEARER);
    api_auth_release(&a);

    /* SHA-256("abc"), FIPS 180-2 appendix B.1 */
    token_hash("abc", again);
    static const uint8_t abc[TOKEN_HASH_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
        0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
        0xf2, 0x00, 0x15, 0xad,
    };
    assert_memory_equal(again, abc, TOKEN_HASH_LEN);

    struct token_record r = { .created = 1700000000, .commands = "status,register" };
    memcpy(r.hash, abc, TOKEN_HASH_LEN);
    struct buf v = BUF_INIT;
    token_record_encode(&r, &v);
    assert_string_equal(v.data, "v1 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad "
                                "1700000000 status,register");
    struct token_record d;
    assert_int_equal(token_record_decode(v.data, &d), 0);
    assert_memory_equal(d.hash, abc, TOKEN_HASH_LEN);
    assert_int_equal(d.created, 1700000000);
    assert_string_equal(d.commands, "status,register");
    token_record_release(&d);
    assert_int_equal(token_record_decode("v2 00", &d), -1);
    assert_int_equal(token_record_decode("v1 zz", &d), -1);
    assert_int_equal(token_record_decode("v1 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad x y", &d), -1);

    assert_true(token_allows("", "stop"));
    assert_true(token_allows("status,register", "register"));
    assert_true(token_allows("status,register", "status"));
    assert_false(token_allows("status,register", "stat"));
    assert_false(token_allows("status,register", "registered_users"));
    assert_true(token_name_valid("deploy-1.a_b"));
    assert_false(token_name_valid(""));
    assert_false(token_name_valid("a b"));
    assert_false(token_name_valid("a/b"));
    buf_release(&v);
    buf_release(&hdr);
    buf_release(&t1);
    buf_release(&t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_ok),
        cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_arg_too_long),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_auth_header),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
