/*
 * test_mam_util.c - the pure logic of mod_mam and mod_offline
 * (src/modules/mam_util.c): XEP-0082 DateTime, XEP-0313 query forms and
 * RSM, XEP-0441 preferences, message eligibility, XEP-0359 stanza ids.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "core/jid.h"
#include "modules/mam_util.h"

static struct stanza *parse(const char *xml)
{
    struct stanza *st = mam_parse_stored(xml, strlen(xml));
    assert_non_null(st);
    return st;
}

/* --- XEP-0082 ------------------------------------------------------------ */

static void test_datetime_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        long long us;           /* -1: must fail */
    } cases[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "2010-07-10T23:08:25Z", 1278803305LL * 1000000 },
        { "2010-07-10T23:08:25.5Z", 1278803305LL * 1000000 + 500000 },
        { "2010-07-10T23:08:25.123456789Z", 1278803305LL * 1000000 + 123456 },
        { "2010-07-11T01:08:25+02:00", 1278803305LL * 1000000 },
        { "2010-07-10T20:38:25-02:30", 1278803305LL * 1000000 },
        { "2000-02-29T00:00:00Z", 951782400LL * 1000000 },
        { "2001-02-29T00:00:00Z", -1 },        /* not a leap year */
        { "2010-07-10T23:08:25", -1 },         /* TZD required */
        { "2010-07-10 23:08:25Z", -1 },
        { "2010-13-10T23:08:25Z", -1 },
        { "2010-07-10T24:00:00Z", -1 },
        { "2010-07-10T23:08:25.Z", -1 },
        { "2010-07-10T23:08:25Zjunk", -1 },
        { "1969-12-31T23:59:59Z", -1 },
        { "", -1 },
        { "20100710T23:08:25Z", -1 },          /* legacy XEP-0091 form */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long us = -2;
        int rc = mam_parse_datetime(cases[i].in, &us);
        if (cases[i].us < 0) {
            if (rc != -1)
                fail_msg("'%s' should be rejected", cases[i].in);
        } else {
            if (rc != 0 || us != cases[i].us)
                fail_msg("'%s': rc %d us %lld, want %lld", cases[i].in, rc, us, cases[i].us);
        }
    }
}

static void test_datetime_roundtrip(void **state)
{
    (void)state;
    static const long long v[] = { 0, 1, 999999, 1278803305123456LL, 951782400000000LL,
                                   4102444799999999LL };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char s[MAM_STAMP_MAX];
        long long back = -1;
        mam_format_datetime(v[i], s);
        assert_int_equal(mam_parse_datetime(s, &back), 0);
        assert_true(back == v[i]);
    }
    char s[MAM_STAMP_MAX];
    mam_format_datetime(1278803305123456LL, s);
    assert_string_equal(s, "2010-07-10T23:08:25.123456Z");
}

/* --- queries ------------------------------------------------------------- */

#define FORM(fields) \
    "<query xmlns='urn:xmpp:mam:2' queryid='q1'><x xmlns='jabber:x:data' type='submit'>" \
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>" fields \
    "</x></query>"
#define RSM(inner) "<set xmlns='http://jabber.org/protocol/rsm'>" inner "</set>"

static void test_query_ok(void **state)
{
    (void)state;
    struct stanza *st = parse(
        "<query xmlns='urn:xmpp:mam:2' queryid='f27'>"
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>"
        "<field var='with'><value>Juliet@Capulet.lit/balcony</value></field>"
        "<field var='start'><value>2010-06-07T00:00:00Z</value></field>"
        "<field var='end'><value>2010-07-07T13:23:54Z</value></field>"
        "<field var='after-id'><value>a1</value></field>"
        "<field var='ids'><value>i1</value><value>i2</value></field>"
        "</x>" RSM("<max>10</max><after>a1</after>") "<flip-page/></query>");
    struct mam_query q;
    struct mam_error err;
    assert_int_equal(mam_query_parse(st->arena, st->root, &q, &err), 0);
    assert_string_equal(q.queryid, "f27");
    assert_string_equal(q.with, "juliet@capulet.lit");
    assert_true(q.start == 1275868800LL * 1000000);
    assert_true(q.end == 1278509034LL * 1000000);
    assert_string_equal(q.after_id, "a1");
    assert_null(q.before_id);
    assert_int_equal(q.nids, 2);
    assert_string_equal(q.ids[1], "i2");
    assert_null(q.ids[2]);
    assert_true(q.max == 10);
    assert_false(q.reverse);
    assert_true(q.flip);
    stanza_unref(st);
}

static void test_query_rsm(void **state)
{
    (void)state;
    struct mam_query q;
    struct mam_error err;
    struct stanza *st = parse("<query xmlns='urn:xmpp:mam:2'/>");
    assert_int_equal(mam_query_parse(st->arena, st->root, &q, &err), 0);
    assert_true(q.max == MAM_MAX_PAGE);     /* server limit when absent */
    assert_null(q.with);
    assert_null(q.queryid);
    stanza_unref(st);

    st = parse("<query xmlns='urn:xmpp:mam:2'>" RSM("<max>100000</max><before/>") "</query>");
    assert_int_equal(mam_query_parse(st->arena, st->root, &q, &err), 0);
    assert_true(q.max == MAM_MAX_PAGE);     /* clamped */
    assert_true(q.reverse);
    assert_null(q.before_id);
    stanza_unref(st);

    st = parse("<query xmlns='urn:xmpp:mam:2'>" RSM("<max>0</max><before>b9</before>") "</query>");
    assert_int_equal(mam_query_parse(st->arena, st->root, &q, &err), 0);
    assert_true(q.max == 0);
    assert_true(q.reverse);
    assert_string_equal(q.before_id, "b9");
    stanza_unref(st);
}

static void test_query_errors(void **state)
{
    (void)state;
    static const struct {
        const char *xml;
        const char *cond;
    } cases[] = {
        { FORM("<field var='start'><value>yesterday</value></field>"), "bad-request" },
        { FORM("<field var='end'><value>2010-07-07</value></field>"), "bad-request" },
        { FORM("<field var='with'><value>a@b@c</value></field>"), "jid-malformed" },
        { FORM("<field var='with'/>"), "bad-request" },
        { FORM("<field var='with'><value>a@b</value><value>c@d</value></field>"), "bad-request" },
        { FORM("<field var='{urn:x}search'><value>x</value></field>"), "feature-not-implemented" },
        { FORM("<field var='include-groupchat'><value>true</value></field>"),
          "feature-not-implemented" },
        { FORM("<field var='after-id'><value></value></field>"), "bad-request" },
        { FORM("<field var='after-id'><value>a</value></field>") , NULL },
        { FORM("<field var='start'><value>2011-01-01T00:00:00Z</value></field>"
               "<field var='end'><value>2010-01-01T00:00:00Z</value></field>"), "bad-request" },
        { "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>",
          "bad-request" },
        { "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'/></query>",
          "bad-request" },
        { "<query xmlns='urn:xmpp:mam:2'>" RSM("<max>-1</max>") "</query>", "bad-request" },
        { "<query xmlns='urn:xmpp:mam:2'>" RSM("<max>ten</max>") "</query>", "bad-request" },
        { "<query xmlns='urn:xmpp:mam:2'>" RSM("<index>3</index>") "</query>",
          "feature-not-implemented" },
        { "<query xmlns='urn:xmpp:mam:2'>" RSM("<after></after>") "</query>", "bad-request" },
        { FORM("<field var='after-id'><value>a</value></field>") , NULL },
        { "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='after-id'><value>a</value></field></x>" RSM("<after>b</after>")
          "</query>", "bad-request" },
        { "<query xmlns='urn:xmpp:mam:2' node='n'/>", "feature-not-implemented" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stanza *st = parse(cases[i].xml);
        struct mam_query q;
        struct mam_error err = { 0 };
        int rc = mam_query_parse(st->arena, st->root, &q, &err);
        if (!cases[i].cond) {
            if (rc != 0)
                fail_msg("case %zu should parse: %s", i, err.text);
        } else if (rc != -1 || strcmp(err.cond, cases[i].cond) != 0) {
            fail_msg("case %zu: rc %d cond %s, want %s", i, rc,
                     err.cond ? err.cond : "(none)", cases[i].cond);
        } else {
            assert_non_null(err.text);
            assert_non_null(err.type);
        }
        stanza_unref(st);
    }
}

static void test_query_too_many_ids(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
                 "<field var='ids'>");
    for (int i = 0; i <= MAM_MAX_IDS; i++)
        buf_printf(&b, "<value>id%d</value>", i);
    buf_puts(&b, "</field></x></query>");
    struct stanza *st = mam_parse_stored(b.data, b.len);
    assert_non_null(st);
    struct mam_query q;
    struct mam_error err;
    assert_int_equal(mam_query_parse(st->arena, st->root, &q, &err), -1);
    buf_release(&b);
    assert_string_equal(err.cond, "policy-violation");
    stanza_unref(st);
}

/* --- preferences --------------------------------------------------------- */

static void test_prefs_roundtrip(void **state)
{
    (void)state;
    struct stanza *st = parse(
        "<prefs xmlns='urn:xmpp:mam:2' default='roster'>"
        "<always><jid>Romeo@Montague.lit</jid><jid>a@b/Res</jid></always>"
        "<never><jid>montague@montague.lit</jid></never></prefs>");
    struct mam_prefs p;
    struct mam_error err;
    assert_int_equal(mam_prefs_parse(st->root, &p, &err), 0);
    assert_int_equal(p.def, MAM_DEFAULT_ROSTER);
    assert_int_equal(p.nalways, 2);
    assert_string_equal(p.always[0], "romeo@montague.lit");
    assert_int_equal(p.nnever, 1);
    struct buf b;
    buf_init(&b);
    mam_prefs_serialize(&p, &b);
    assert_string_equal(b.data,
        "<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>romeo@montague.lit</jid>"
        "<jid>a@b/Res</jid></always><never><jid>montague@montague.lit</jid></never></prefs>");
    /* What we store parses back to the same preferences. */
    struct stanza *st2 = mam_parse_stored(b.data, b.len);
    struct mam_prefs p2;
    assert_int_equal(mam_prefs_parse(st2->root, &p2, &err), 0);
    assert_int_equal(p2.nalways, 2);
    assert_string_equal(p2.never[0], "montague@montague.lit");
    mam_prefs_release(&p2);
    stanza_unref(st2);
    buf_release(&b);
    mam_prefs_release(&p);
    stanza_unref(st);

    st = parse("<prefs xmlns='urn:xmpp:mam:2' default='always'/>");
    assert_int_equal(mam_prefs_parse(st->root, &p, &err), 0);
    buf_init(&b);
    mam_prefs_serialize(&p, &b);
    assert_string_equal(b.data, "<prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never/></prefs>");
    buf_release(&b);
    mam_prefs_release(&p);
    stanza_unref(st);
}

static void test_prefs_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "<prefs xmlns='urn:xmpp:mam:2'/>",
        "<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>",
        "<prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>@@</jid></always></prefs>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stanza *st = parse(bad[i]);
        struct mam_prefs p;
        struct mam_error err = { 0 };
        assert_int_equal(mam_prefs_parse(st->root, &p, &err), -1);
        assert_non_null(err.cond);
        stanza_unref(st);
    }
}

static void test_prefs_decide(void **state)
{
    (void)state;
    char *always[] = { "friend@x", "other@x/phone" };
    char *never[] = { "spam@x", "friend@x/secret" };
    struct mam_prefs p = { MAM_DEFAULT_ROSTER, always, 2, never, 2 };
    static const struct {
        const char *target;
        enum mam_default def;
        enum mam_decision want;
    } cases[] = {
        { "friend@x/laptop", MAM_DEFAULT_NEVER, MAM_ARCHIVE },   /* bare entry */
        { "friend@x/secret", MAM_DEFAULT_ALWAYS, MAM_SKIP },     /* never wins */
        { "spam@x/a", MAM_DEFAULT_ALWAYS, MAM_SKIP },
        { "other@x/phone", MAM_DEFAULT_NEVER, MAM_ARCHIVE },     /* full entry */
        { "other@x/tablet", MAM_DEFAULT_NEVER, MAM_SKIP },
        { "other@x/tablet", MAM_DEFAULT_ALWAYS, MAM_ARCHIVE },
        { "stranger@x", MAM_DEFAULT_ROSTER, MAM_ASK_ROSTER },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jid *j = jid_parse(cases[i].target);
        p.def = cases[i].def;
        if (mam_prefs_decide(&p, j) != cases[i].want)
            fail_msg("case %zu (%s)", i, cases[i].target);
        jid_free(j);
    }
}

/* --- messages -------------------------------------------------------------- */

static void test_eligibility(void **state)
{
    (void)state;
    static const struct {
        const char *xml;
        bool archive, offline;
    } cases[] = {
        { "<message><body>x</body></message>", true, true },
        { "<message type='chat'><body>x</body></message>", true, true },
        { "<message type='normal'/>", false, true },
        { "<message type='groupchat'><body>x</body></message>", false, false },
        { "<message type='headline'><body>x</body></message>", false, false },
        { "<message type='error'><body>x</body></message>", false, false },
        { "<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>"
          "</message>", false, false },
        { "<message type='chat'><thread>t</thread><active xmlns='http://jabber.org/protocol/chatstates'/>"
          "</message>", false, false },
        { "<message type='chat'><received xmlns='urn:xmpp:receipts' id='1'/></message>",
          false, true },
        { "<message type='chat'><body>x</body><active xmlns='http://jabber.org/protocol/chatstates'/>"
          "</message>", true, true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stanza *st = parse(cases[i].xml);
        if (mam_is_archivable(st->root) != cases[i].archive)
            fail_msg("case %zu: archivable", i);
        if (mam_offline_storable(st->root) != cases[i].offline)
            fail_msg("case %zu: offline", i);
        stanza_unref(st);
    }
}

static void test_stanza_ids(void **state)
{
    (void)state;
    struct stanza *st = parse(
        "<message><stanza-id xmlns='urn:xmpp:sid:0' by='a@x' id='forged1'/><body>x</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc' id='keep'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='a@x' id='forged2'/></message>");
    assert_true(mam_has_stanza_id(st->root, "a@x"));
    assert_int_equal(mam_strip_stanza_ids(st->root, "a@x"), 2);
    assert_false(mam_has_stanza_id(st->root, "a@x"));
    assert_true(mam_has_stanza_id(st->root, "room@muc"));
    struct buf b;
    buf_init(&b);
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    assert_string_equal(b.data,
        "<message><body>x</body><stanza-id xmlns='urn:xmpp:sid:0' by='room@muc' id='keep'/></message>");
    /* Appending after stripping the last child still works (last fixed). */
    xml_add_child(st->arena, st->root, NS_SID, "stanza-id");
    assert_int_equal(xml_child_count(st->root), 3);
    buf_release(&b);
    stanza_unref(st);

    char a[MAM_ID_LEN + 1], c[MAM_ID_LEN + 1];
    mam_new_id(a);
    mam_new_id(c);
    assert_int_equal(strlen(a), MAM_ID_LEN);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     MAM_ID_LEN);
    assert_string_not_equal(a, c);
}

static void test_parse_stored(void **state)
{
    (void)state;
    assert_null(mam_parse_stored("<message><body>x</message>", 26));
    assert_null(mam_parse_stored("", 0));
    struct stanza *st = parse("<message to='a@b' type='chat'><body>&lt;hi&gt;</body>"
                              "<x xmlns='urn:y'/></message>");
    assert_string_equal(st->root->ns, XML_NS_CLIENT);
    assert_string_equal(xml_attr(st->root, "to"), "a@b");
    struct xml_node *x = xml_child(st->root, "urn:y", "x");
    assert_non_null(x);
    stanza_unref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datetime_parse),
        cmocka_unit_test(test_datetime_roundtrip),
        cmocka_unit_test(test_query_ok),
        cmocka_unit_test(test_query_rsm),
        cmocka_unit_test(test_query_errors),
        cmocka_unit_test(test_query_too_many_ids),
        cmocka_unit_test(test_prefs_roundtrip),
        cmocka_unit_test(test_prefs_errors),
        cmocka_unit_test(test_prefs_decide),
        cmocka_unit_test(test_eligibility),
        cmocka_unit_test(test_stanza_ids),
        cmocka_unit_test(test_parse_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
