/*
 * test_ban.c - the ban record (admin/ban.c): records survive encoding to
 * XML text and back; any change to a stored field, a record copied to
 * another account, a different key and malformed elements are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "admin/ban.h"
#include "core/buf.h"
#include "xml/xml.h"

static const unsigned char KEY[BAN_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char OTHER_KEY[BAN_KEY_LEN] = "0123456789abcdef0123456789abcdeF";
#define BARE "alice@localhost"

/* --- parsing text back, as the server reads a stored row ----------------- */

struct parsed {
    struct stanza *st;
    bool failed;
};

static void p_open(void *ud, const struct xml_node *root) { (void)ud; (void)root; }
static void p_close(void *ud) { (void)ud; }
static void p_stanza(void *ud, struct stanza *st)
{
    struct parsed *p = ud;
    if (p->st)
        stanza_unref(p->st);
    p->st = st;
}
static void p_error(void *ud, enum xml_error err, const char *text)
{
    (void)err;
    (void)text;
    ((struct parsed *)ud)->failed = true;
}

/* The element in 'xml' (wrapped in a root so the stream parser takes it). */
static struct stanza *parse(const char *xml)
{
    static const struct xml_stream_cb cb = { p_open, p_stanza, p_close, p_error };
    struct xml_limits lim = { 65536, 16, 16 };
    struct parsed p = { NULL, false };
    struct xml_stream *xs = xml_stream_new(&lim, &cb, &p);
    struct buf b = BUF_INIT;
    buf_printf(&b, "<stream:stream xmlns='jabber:client' "
               "xmlns:stream='http://etherx.jabber.org/streams'>%s</stream:stream>", xml);
    xml_stream_feed(xs, b.data, b.len);
    xml_stream_free(xs);
    buf_release(&b);
    assert_false(p.failed);
    assert_non_null(p.st);
    return p.st;
}

/* Encodes r for BARE with KEY and returns the serialized element. */
static char *encode(const struct ban_record *r)
{
    struct arena *a = arena_new(1024);
    struct buf out = BUF_INIT;
    xml_serialize(ban_record_to_xml(a, r, BARE, KEY), "", &out);
    arena_free(a);
    return buf_detach(&out);
}

static enum ban_decode_status decode(const char *xml, const char *bare,
                                     const unsigned char *key, struct ban_record *out)
{
    struct stanza *st = parse(xml);
    enum ban_decode_status s = ban_record_from_xml(st->root, bare, key, out);
    stanza_unref(st);
    return s;
}

/* --- round trips ------------------------------------------------------------ */

static const struct ban_record round_trip_cases[] = {
    { true, "spam", 1714557600, 1714550000, NULL },
    { true, "spam", 1714557600, 0, "the previous ban" },
    /* Characters that need escaping, and multi-byte UTF-8. */
    { true, "<b>\"quoted\" & 'apos'</b> é ✓", 1, 0, "a]]>b" },
    /* No reason given. */
    { true, NULL, 1714557600, 0, NULL },
    /* Lifted: history only. */
    { false, NULL, 0, 1714550000, "spam" },
    { false, NULL, 0, 0, NULL },
};

static void round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(round_trip_cases) / sizeof(round_trip_cases[0]); i++) {
        const struct ban_record *in = &round_trip_cases[i];
        char *xml = encode(in);
        struct ban_record out;
        if (decode(xml, BARE, KEY, &out) != BAN_OK)
            fail_msg("case %zu: '%s' does not decode", i, xml);
        assert_int_equal(out.banned, in->banned);
        assert_int_equal(out.since, in->since);
        assert_int_equal(out.last_activity, in->last_activity);
        if (in->reason)
            assert_string_equal(out.reason, in->reason);
        else
            assert_null(out.reason);
        if (in->last_reason)
            assert_string_equal(out.last_reason, in->last_reason);
        else
            assert_null(out.last_reason);
        ban_record_release(&out);
        free(xml);
    }
}

/* Empty strings are stored as absent fields, and a lifted record drops
 * the reason and date it was given: what is stored is what the MAC covers. */
static void normalizes(void **state)
{
    (void)state;
    struct ban_record in = { false, "ignored", 12345, 0, "" };
    char *xml = encode(&in);
    assert_null(strstr(xml, "ignored"));
    assert_null(strstr(xml, "<since>"));
    assert_null(strstr(xml, "last-reason"));
    struct ban_record out;
    assert_int_equal(decode(xml, BARE, KEY, &out), BAN_OK);
    assert_false(out.banned);
    assert_null(out.reason);
    assert_int_equal(out.since, 0);
    ban_record_release(&out);
    free(xml);
}

/* --- tampering ----------------------------------------------------------------- */

/* Replaces the first occurrence of 'from' in s by 'to' (test fixture). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (!p)
        fail_msg("'%s' not in '%s'", from, s);
    struct buf b = BUF_INIT;
    buf_append(&b, s, (size_t)(p - s));
    buf_puts(&b, to);
    buf_puts(&b, p + strlen(from));
    return buf_detach(&b);
}

struct tamper_case {
    const char *from, *to;
    enum ban_decode_status want;
};

static const struct tamper_case tamper_cases[] = {
    /* Each field edited: the MAC no longer verifies. */
    { "<reason>spam</reason>", "<reason>spam!</reason>", BAN_E_MAC },
    { "<reason>spam</reason>", "", BAN_E_MAC },
    { "2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z", BAN_E_MAC },
    { "<last-activity>2024-05-01T07:53:20Z</last-activity>", "", BAN_E_MAC },
    { "<last-reason>old</last-reason>", "<last-reason>older</last-reason>", BAN_E_MAC },
    { "<last-reason>old</last-reason>", "", BAN_E_MAC },
    /* A user (with database access) lifting their own ban. */
    { "<state>banned</state><reason>spam</reason><since>2024-05-01T10:00:00Z</since>",
      "<state>lifted</state>", BAN_E_MAC },
    /* One hex digit of the MAC changed, or its case. */
    { "<mac alg='hmac-sha256'>", "<mac alg='hmac-sha256'>0", BAN_E_MALFORMED },
    /* Malformed: unknown state, repeated field, child elements, bad date,
     * a lifted ban with a date, missing MAC or state. */
    { "<state>banned</state>", "<state>maybe</state>", BAN_E_MALFORMED },
    { "<reason>spam</reason>", "<reason>spam</reason><reason>x</reason>", BAN_E_MALFORMED },
    { "<reason>spam</reason>", "<reason><b/>spam</reason>", BAN_E_MALFORMED },
    { "2024-05-01T10:00:00Z", "2024-05-01 10:00:00", BAN_E_MALFORMED },
    { "<state>banned</state><reason>spam</reason>", "<state>lifted</state>", BAN_E_MALFORMED },
    { "<state>banned</state>", "", BAN_E_MALFORMED },
};

static void tampered(void **state)
{
    (void)state;
    struct ban_record in = { true, "spam", 1714557600, 1714550000, "old" };
    char *xml = encode(&in);
    for (size_t i = 0; i < sizeof(tamper_cases) / sizeof(tamper_cases[0]); i++) {
        const struct tamper_case *tc = &tamper_cases[i];
        char *bad = replace(xml, tc->from, tc->to);
        struct ban_record out;
        enum ban_decode_status got = decode(bad, BARE, KEY, &out);
        if (got != tc->want)
            fail_msg("case %zu: '%s' gave %d, want %d", i, bad, (int)got, (int)tc->want);
        assert_int_equal(out.banned, false);
        assert_null(out.reason);
        free(bad);
    }
    free(xml);
}

/* The MAC's last digit changed: the length check passes, the MAC fails. */
static void mac_digit(void **state)
{
    (void)state;
    struct ban_record in = { true, "spam", 1714557600, 0, NULL };
    char *xml = encode(&in);
    char *end = strstr(xml, "</mac>");
    assert_non_null(end);
    end[-1] = end[-1] == '0' ? '1' : '0';
    struct ban_record out;
    assert_int_equal(decode(xml, BARE, KEY, &out), BAN_E_MAC);
    free(xml);
}

static void wrong_key_or_account(void **state)
{
    (void)state;
    struct ban_record in = { true, "spam", 1714557600, 0, NULL };
    char *xml = encode(&in);
    struct ban_record out;
    assert_int_equal(decode(xml, BARE, OTHER_KEY, &out), BAN_E_MAC);
    /* Copied to another account's row. */
    assert_int_equal(decode(xml, "bob@localhost", KEY, &out), BAN_E_MAC);
    assert_int_equal(decode(xml, BARE, KEY, &out), BAN_OK);
    ban_record_release(&out);
    free(xml);
}

static void not_a_ban(void **state)
{
    (void)state;
    struct ban_record out;
    assert_int_equal(decode("<ban xmlns='urn:other'/>", BARE, KEY, &out), BAN_E_MALFORMED);
    assert_int_equal(decode("<x xmlns='urn:xmpp:parley:ban'/>", BARE, KEY, &out),
                     BAN_E_MALFORMED);
    assert_int_equal(ban_record_from_xml(NULL, BARE, KEY, &out), BAN_E_MALFORMED);
    /* An over-long reason is refused before anything is computed. */
    struct buf b = BUF_INIT;
    buf_puts(&b, "<ban xmlns='urn:xmpp:parley:ban'><state>banned</state><reason>");
    for (int i = 0; i <= BAN_REASON_MAX; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "</reason><since>2024-05-01T10:00:00Z</since><mac>");
    for (int i = 0; i < 64; i++)
        buf_putc(&b, '0');
    buf_puts(&b, "</mac></ban>");
    assert_int_equal(decode(b.data, BARE, KEY, &out), BAN_E_MALFORMED);
    buf_release(&b);
}

static void times(void **state)
{
    (void)state;
    static const struct { const char *s; long long t; int rc; } cases[] = {
        { "1970-01-01T00:00:00Z", 0, 0 },
        { "2024-05-01T10:00:00Z", 1714557600, 0 },
        { "2024-05-01T10:00:00", 0, -1 },
        { "2024-05-01T10:00:00+02:00", 0, -1 },
        { "2024-05-01T10:00:00Zx", 0, -1 },
        { "", 0, -1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long t = -5;
        assert_int_equal(ban_time_parse(cases[i].s, &t), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(t, cases[i].t);
            char back[32];
            ban_time_format(t, back);
            assert_string_equal(back, cases[i].s);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips),
        cmocka_unit_test(normalizes),
        cmocka_unit_test(tampered),
        cmocka_unit_test(mac_digit),
        cmocka_unit_test(wrong_key_or_account),
        cmocka_unit_test(not_a_ban),
        cmocka_unit_test(times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
