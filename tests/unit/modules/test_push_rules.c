/*
 * test_push_rules.c - XEP-0357 §7.1 and §8 in src/modules/push_rules.c:
 * which publish errors are temporary (retried) or permanent (the
 * registration is removed), the retry backoff, and the §8 affiliation
 * notice.  Table-driven; links only pl_push_rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "modules/push_rules.h"
#include "xml/xml.h"

#define HDR "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
#define STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

static void got_stanza(void *ud, struct stanza *st)
{
    struct stanza **out = ud;
    assert_null(*out);
    *out = st;
}

static void got_error(void *ud, enum xml_error err, const char *text)
{
    (void)ud;
    fail_msg("parse error %d: %s", (int)err, text);
}

static const struct xml_stream_cb cb = { .stanza = got_stanza, .error = got_error };

static struct stanza *parse(const char *xml)
{
    struct xml_limits lim = { 65536, 32, 32 };
    struct stanza *st = NULL;
    struct xml_stream *xs = xml_stream_new(&lim, &cb, &st);
    assert_int_equal(xml_stream_feed(xs, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(xs, xml, strlen(xml)), 0);
    xml_stream_free(xs);
    assert_non_null(st);
    return st;
}

static const struct {
    const char *xml;
    enum push_failure kind;
} error_cases[] = {
    /* RFC 6120 §8.3.2: 'wait' is the temporary type. */
    { "<iq type='error' id='1'><error type='wait'><resource-constraint xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_TEMPORARY },
    { "<iq type='error' id='1'><error type='wait'><internal-server-error xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_TEMPORARY },
    /* Every other type is permanent, whatever the condition. */
    { "<iq type='error' id='1'><error type='cancel'><item-not-found xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_PERMANENT },
    { "<iq type='error' id='1'><error type='auth'><forbidden xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_PERMANENT },
    { "<iq type='error' id='1'><error type='modify'><not-acceptable xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_PERMANENT },
    { "<iq type='error' id='1'><error type='cancel'><remote-server-not-found xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_PERMANENT },
    { "<iq type='error' id='1'><error type='cancel'><resource-constraint xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_PERMANENT },
    /* No type: the condition's defined type (§8.3.3) decides. */
    { "<iq type='error' id='1'><error><remote-server-timeout xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_TEMPORARY },
    { "<iq type='error' id='1'><error><text xmlns='" STANZAS "'>busy</text>"
      "<resource-constraint xmlns='" STANZAS "'/></error></iq>", PUSH_FAIL_TEMPORARY },
    { "<iq type='error' id='1'><error><item-not-found xmlns='" STANZAS
      "'/></error></iq>", PUSH_FAIL_PERMANENT },
    /* Nothing to go by: §7.1's SHOULD (disable). */
    { "<iq type='error' id='1'><error/></iq>", PUSH_FAIL_PERMANENT },
    { "<iq type='error' id='1'/>", PUSH_FAIL_PERMANENT },
};

static void error_kinds(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        struct stanza *st = parse(error_cases[i].xml);
        if (push_error_kind(st->root) != error_cases[i].kind)
            fail_msg("case %zu: %s", i, error_cases[i].xml);
        stanza_unref(st);
    }
}

static void backoff(void **state)
{
    (void)state;
    static const struct { unsigned base, attempt, cap, want; } cases[] = {
        { 5, 1, 3600, 5 }, { 5, 2, 3600, 10 }, { 5, 3, 3600, 20 }, { 5, 4, 3600, 40 },
        { 1, 1, 3600, 1 }, { 1, 10, 3600, 512 },
        { 5, 20, 3600, 3600 },          /* capped */
        { 5, 4000000000u, 3600, 3600 }, /* no overflow, no endless loop */
        { 3000, 2, 3600, 3600 },
        { 0, 1, 3600, 1 },              /* never 0: no busy retry */
        { 10, 1, 5, 10 },               /* a cap below the base is the base */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned got = push_retry_delay(cases[i].base, cases[i].attempt, cases[i].cap);
        if (got != cases[i].want)
            fail_msg("case %zu: delay %u, want %u", i, got, cases[i].want);
    }
}

static const struct {
    const char *xml;
    const char *node;           /* NULL: not a revocation for u@example.com */
} revoke_cases[] = {
    { "<message from='push.example' to='u@example.com'><pubsub xmlns="
      "'http://jabber.org/protocol/pubsub' node='n1'><affiliation jid='u@example.com' "
      "affiliation='none'/></pubsub></message>", "n1" },
    /* Another affiliation, another user, no node, an error, another ns. */
    { "<message from='push.example'><pubsub xmlns='http://jabber.org/protocol/pubsub' "
      "node='n1'><affiliation jid='u@example.com' affiliation='publish-only'/></pubsub>"
      "</message>", NULL },
    { "<message from='push.example'><pubsub xmlns='http://jabber.org/protocol/pubsub' "
      "node='n1'><affiliation jid='v@example.com' affiliation='none'/></pubsub>"
      "</message>", NULL },
    { "<message from='push.example'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
      "<affiliation jid='u@example.com' affiliation='none'/></pubsub></message>", NULL },
    { "<message type='error' from='push.example'><pubsub xmlns="
      "'http://jabber.org/protocol/pubsub' node='n1'><affiliation jid='u@example.com' "
      "affiliation='none'/></pubsub></message>", NULL },
    { "<message from='push.example'><pubsub xmlns='urn:other' node='n1'><affiliation "
      "jid='u@example.com' affiliation='none'/></pubsub></message>", NULL },
    { "<iq type='set' id='x' from='push.example'><pubsub xmlns="
      "'http://jabber.org/protocol/pubsub' node='n1'><affiliation jid='u@example.com' "
      "affiliation='none'/></pubsub></iq>", NULL },
};

static void revocations(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(revoke_cases) / sizeof(revoke_cases[0]); i++) {
        struct stanza *st = parse(revoke_cases[i].xml);
        const char *node = push_affiliation_revoked(st->root, "u@example.com");
        if (revoke_cases[i].node ? !node || strcmp(node, revoke_cases[i].node) != 0 : !!node)
            fail_msg("case %zu: got %s", i, node ? node : "(null)");
        stanza_unref(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_kinds),
        cmocka_unit_test(backoff),
        cmocka_unit_test(revocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
