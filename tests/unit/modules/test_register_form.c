/*
 * test_register_form.c - jabber:iq:register query parsing and checks
 * (src/modules/register_form.c): XEP-0077 §3.1 fields, §3.2 <remove/> as
 * the only child, §3.3 password change, §4 data forms (never together
 * with the legacy fields), preparation of usernames (RFC 7622 §3.3) and
 * SASLprep plus a minimum length in code points for passwords.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "modules/register_form.h"
#include "xml/xml.h"

#define HDR "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
#define Q "<query xmlns='jabber:iq:register'>"
#define XF "<x xmlns='jabber:x:data' type='submit'>"
#define FT(v) "<field var='FORM_TYPE' type='hidden'><value>" v "</value></field>"
#define FIELD(var, v) "<field var='" var "'><value>" v "</value></field>"

/* --- parsing an IQ from text ------------------------------------------------ */

static void on_stanza(void *ud, struct stanza *st)
{
    struct stanza **out = ud;
    assert_null(*out);
    *out = st;
}

static void on_error(void *ud, enum xml_error err, const char *text)
{
    (void)ud;
    fail_msg("parse error %d: %s", (int)err, text);
}

static struct stanza *parse(const char *xml)
{
    static const struct xml_stream_cb cb = { .stanza = on_stanza, .error = on_error };
    struct xml_limits lim = { 65536, 32, 32 };
    struct stanza *st = NULL;
    struct xml_stream *xs = xml_stream_new(&lim, &cb, &st);
    assert_int_equal(xml_stream_feed(xs, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(xs, xml, strlen(xml)), 0);
    xml_stream_free(xs);
    assert_non_null(st);
    return st;
}

/* --- reg_parse --------------------------------------------------------------- */

struct parse_case {
    const char *name;
    const char *type;
    const char *payload;        /* the IQ's child */
    int rc;
    enum reg_op op;
    const char *cond;           /* on failure */
    const char *username;       /* expected, NULL = absent */
    const char *password;
    bool form;
};

static const struct parse_case parse_cases[] = {
    { "get, empty", "get", Q "</query>", 0, REG_OP_GET, NULL, NULL, NULL, false },
    { "get with children", "get", Q "<username/></query>", 0, REG_OP_GET, NULL, NULL, NULL, false },
    { "legacy fields", "set", Q "<username>bill</username><password>Calliope</password></query>",
      0, REG_OP_SUBMIT, NULL, "bill", "Calliope", false },
    { "extra legacy field ignored", "set",
      Q "<username>bill</username><password>pw</password><email>b@x</email></query>",
      0, REG_OP_SUBMIT, NULL, "bill", "pw", false },
    { "only username", "set", Q "<username>bill</username></query>",
      0, REG_OP_SUBMIT, NULL, "bill", NULL, false },
    { "empty password element", "set", Q "<username>bill</username><password/></query>",
      0, REG_OP_SUBMIT, NULL, "bill", "", false },
    { "empty set", "set", Q "</query>", 0, REG_OP_SUBMIT, NULL, NULL, NULL, false },
    { "two usernames", "set", Q "<username>a</username><username>b</username></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "two passwords", "set", Q "<password>a</password><password>b</password></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "remove alone", "set", Q "<remove/></query>", 0, REG_OP_REMOVE, NULL, NULL, NULL, false },
    { "remove with username (§3.2)", "set", Q "<remove/><username>bill</username></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "form", "set", Q XF FT("jabber:iq:register") FIELD("username", "juliet")
      FIELD("password", "balcony1") "</x></query>",
      0, REG_OP_SUBMIT, NULL, "juliet", "balcony1", true },
    { "form without FORM_TYPE", "set", Q XF FIELD("username", "juliet") "</x></query>",
      0, REG_OP_SUBMIT, NULL, "juliet", NULL, true },
    { "change-password form, bare JID (§3.3)", "set",
      Q XF FT("jabber:iq:register:changepassword") FIELD("username", "bill@shakespeare.lit")
      FIELD("old_password", "theglobe") FIELD("password", "groundlings") "</x></query>",
      0, REG_OP_SUBMIT, NULL, "bill@shakespeare.lit", "groundlings", true },
    { "form password without value", "set",
      Q XF FIELD("username", "j") "<field var='password'/></x></query>",
      0, REG_OP_SUBMIT, NULL, "j", "", true },
    { "form and legacy fields (§4 rule 5)", "set",
      Q "<username>x</username>" XF FIELD("username", "juliet") "</x></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "form of type form", "set",
      Q "<x xmlns='jabber:x:data' type='form'>" FIELD("username", "j") "</x></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "form of no type", "set",
      Q "<x xmlns='jabber:x:data'>" FIELD("username", "j") "</x></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "foreign FORM_TYPE", "set", Q XF FT("urn:example:other") FIELD("username", "j") "</x></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "username field twice", "set",
      Q XF FIELD("username", "a") FIELD("username", "b") "</x></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "two values", "set",
      Q XF "<field var='username'><value>a</value><value>b</value></field></x></query>",
      -1, 0, "bad-request", NULL, NULL, false },
    { "two forms", "set", Q XF "</x>" XF "</x></query>", -1, 0, "bad-request", NULL, NULL, false },
    { "not a query", "set", "<foo xmlns='jabber:iq:register'/>", -1, 0, "bad-request",
      NULL, NULL, false },
    { "query of another namespace", "get", "<query xmlns='jabber:iq:version'/>", -1, 0,
      "bad-request", NULL, NULL, false },
};

static void check_str(const char *what, const char *want, const char *got)
{
    if (!want) {
        if (got)
            fail_msg("%s: expected absent, got '%s'", what, got);
        return;
    }
    if (!got)
        fail_msg("%s: expected '%s', got absent", what, want);
    assert_string_equal(want, got);
}

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        char xml[2048];
        snprintf(xml, sizeof(xml), "<iq type='%s' id='x'>%s</iq>", c->type, c->payload);
        struct stanza *st = parse(xml);
        struct reg_request r;
        struct reg_error err = { 0 };
        print_message("case: %s\n", c->name);
        int rc = reg_parse(st->arena, c->type, xml_child(st->root, NULL, NULL), &r, &err);
        assert_int_equal(rc, c->rc);
        if (rc < 0) {
            assert_string_equal(err.cond, c->cond);
            assert_string_equal(err.type, "modify");
            assert_true(strlen(err.text) > 0);
        } else {
            assert_int_equal(r.op, c->op);
            check_str("username", c->username, r.username);
            check_str("password", c->password, r.password);
            assert_int_equal(r.form, c->form);
        }
        stanza_unref(st);
    }
}

/* --- reg_check_username ----------------------------------------------------- */

static void test_username(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;        /* NULL: refused */
    } cases[] = {
        { "bill", "bill" },
        { "Bill", "bill" },                     /* UsernameCaseMapped lower-cases */
        { "\xc3\x84lice", "\xc3\xa4lice" },     /* Älice -> älice */
        { "", NULL },
        { NULL, NULL },
        { "a@b", NULL },                        /* RFC 7622 §3.3.1 prohibits @ */
        { "a/b", NULL },
        { "a b", NULL },                        /* space */
        { "o'brien", NULL },                    /* ' is excluded (RFC 7622 §3.3.1) */
        { "\xff\xfe", NULL },                   /* not UTF-8 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[JID_PART_MAX + 1];
        struct reg_error err = { 0 };
        int rc = reg_check_username(cases[i].in, out, &err);
        print_message("username case %zu\n", i);
        if (cases[i].out) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, cases[i].out);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(err.cond, "not-acceptable");
            assert_string_equal(err.type, "modify");
        }
    }
    /* Longer than a localpart may be (RFC 7622 §3.3: 1023 bytes). */
    char longname[1100];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    char out[JID_PART_MAX + 1];
    struct reg_error err = { 0 };
    assert_int_equal(reg_check_username(longname, out, &err), -1);
    longname[JID_PART_MAX] = '\0';
    assert_int_equal(reg_check_username(longname, out, &err), 0);
}

/* --- reg_check_password ----------------------------------------------------- */

static void test_password(void **state)
{
    (void)state;
    static const struct {
        const char *pw;
        unsigned min;
        int rc;
    } cases[] = {
        { NULL, 1, -1 },
        { "", 1, -1 },
        { "x", 1, 0 },
        { "short", 8, -1 },
        { "seven77", 8, -1 },
        { "eight888", 8, 0 },
        /* Code points, not bytes: six 2-byte characters are 12 bytes. */
        { "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4", 8, -1 },
        { "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4xy", 8, 0 },
        /* SASLprep: no-break space maps to space (allowed), a control
         * character is prohibited (RFC 4013 §2.3). */
        { "pass\xc2\xa0word", 8, 0 },
        { "pass\x01word", 8, -1 },
        { "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", 1, -1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct reg_error err = { 0 };
        print_message("password case %zu\n", i);
        assert_int_equal(reg_check_password(cases[i].pw, cases[i].min, &err), cases[i].rc);
        if (cases[i].rc < 0) {
            assert_string_equal(err.cond, "not-acceptable");
            assert_string_equal(err.type, "modify");
        }
    }
    struct reg_error err = { 0 };
    assert_int_equal(reg_check_password("abc", 12, &err), -1);
    assert_non_null(strstr(err.text, "at least 12 characters"));

    /* SASLprep's bound: 1023 bytes. */
    char pw[1100];
    memset(pw, 'p', sizeof(pw) - 1);
    pw[sizeof(pw) - 1] = '\0';
    assert_int_equal(reg_check_password(pw, 8, &err), -1);
    pw[1023] = '\0';
    assert_int_equal(reg_check_password(pw, 8, &err), 0);
}

/* --- reg_fields -------------------------------------------------------------- */

static char *fields_xml(const char *user)
{
    struct stanza *st = stanza_new(NS_REGISTER, "query");
    reg_fields(st->arena, st->root, user, 8);
    struct buf b = BUF_INIT;
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    stanza_unref(st);
    return buf_detach(&b);
}

static void test_fields(void **state)
{
    (void)state;
    char *s = fields_xml(NULL);
    assert_non_null(strstr(s, "<username/><password/>"));
    assert_non_null(strstr(s, "at least 8 characters"));
    assert_null(strstr(s, "<registered/>"));
    /* §4: a form of the same fields, FORM_TYPE first (XEP-0068). */
    assert_non_null(strstr(s, "<x xmlns='jabber:x:data' type='form'>"));
    assert_non_null(strstr(s, "<field type='hidden' var='FORM_TYPE'><value>jabber:iq:register</value></field>"));
    assert_non_null(strstr(s, "var='username'><required/></field>"));
    assert_non_null(strstr(s, "type='text-private' label='Password' var='password'><required/>"));
    free(s);

    s = fields_xml("juliet");
    assert_non_null(strstr(s, "<registered/><username>juliet</username><password/>"));
    assert_null(strstr(s, "jabber:x:data"));
    free(s);

    /* What reg_fields writes, reg_parse reads back as a get. */
    struct stanza *st = parse("<iq type='get' id='a'><query xmlns='jabber:iq:register'/></iq>");
    struct reg_request r;
    struct reg_error err;
    assert_int_equal(reg_parse(st->arena, "get", xml_child(st->root, NULL, NULL), &r, &err), 0);
    assert_int_equal(r.op, REG_OP_GET);
    stanza_unref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_username),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
