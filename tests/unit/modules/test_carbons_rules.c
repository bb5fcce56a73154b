/*
 * test_carbons_rules.c - XEP-0280 eligibility (§6.1, §9, XEP-0334
 * <no-copy/>), forged-carbon detection (§11) and the forwarded wrapper
 * (§7, §8) in src/modules/carbons_rules.c.
 *
 * Each case is a message as a client would send it, parsed by the real
 * stream parser, with the expected verdict for both directions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "modules/carbons_rules.h"
#include "xml/xml.h"

#define HDR "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

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

/* Parses one stanza (caller unrefs). */
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

struct eligible_case {
    const char *name;
    const char *xml;
    bool sent;                  /* expected for CARBONS_SENT */
    bool received;              /* expected for CARBONS_RECEIVED */
};

#define B "<body>hi</body>"

static const struct eligible_case eligible_cases[] = {
    { "chat with body", "<message type='chat'>" B "</message>", true, true },
    { "chat without body (chat state)",
      "<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
      true, true },
    { "bare chat", "<message type='chat'/>", true, true },
    { "normal with body (no type)", "<message>" B "</message>", true, true },
    { "normal with body (type=normal)", "<message type='normal'>" B "</message>", true, true },
    { "normal without body", "<message><x xmlns='urn:example'/></message>", false, false },
    { "normal with receipt", "<message><received xmlns='urn:xmpp:receipts' id='a'/></message>",
      true, true },
    { "normal with displayed marker",
      "<message><displayed xmlns='urn:xmpp:chat-markers:0' id='a'/></message>", true, true },
    { "normal with chat state",
      "<message><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
      true, true },
    { "headline with body", "<message type='headline'>" B "</message>", false, false },
    { "groupchat", "<message type='groupchat'>" B "</message>", false, false },
    { "groupchat invitation still groupchat",
      "<message type='groupchat'><x xmlns='jabber:x:conference' jid='r@muc'/></message>",
      false, false },
    { "error with the original body", "<message type='error'>" B
      "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
      "</error></message>", true, true },
    { "error without payload", "<message type='error'><error type='cancel'>"
      "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
      false, false },
    { "private", "<message type='chat'>" B "<private xmlns='urn:xmpp:carbons:2'/></message>",
      false, false },
    { "private and no-copy", "<message type='chat'>" B
      "<private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>",
      false, false },
    { "no-copy hint", "<message type='chat'>" B "<no-copy xmlns='urn:xmpp:hints'/></message>",
      false, false },
    { "private in another namespace does not count",
      "<message type='chat'>" B "<private xmlns='urn:example'/></message>", true, true },
    { "a sent carbon", "<message type='chat'><sent xmlns='urn:xmpp:carbons:2'>"
      "<forwarded xmlns='urn:xmpp:forward:0'><message type='chat'>" B "</message>"
      "</forwarded></sent></message>", false, false },
    { "a received carbon", "<message type='chat'><received xmlns='urn:xmpp:carbons:2'>"
      "<forwarded xmlns='urn:xmpp:forward:0'><message type='chat'>" B "</message>"
      "</forwarded></received></message>", false, false },
    { "direct invitation", "<message><x xmlns='jabber:x:conference' jid='r@muc'/></message>",
      true, true },
    { "mediated invitation", "<message from='r@muc'><x xmlns='http://jabber.org/protocol/muc#user'>"
      "<invite from='a@example.com'/></x></message>", true, true },
    { "MUC private message", "<message type='chat'>" B
      "<x xmlns='http://jabber.org/protocol/muc#user'/></message>", true, false },
    { "unknown type", "<message type='bogus'>" B "</message>", false, false },
    { "not a message", "<presence/>", false, false },
};

static void eligibility(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(eligible_cases) / sizeof(eligible_cases[0]); i++) {
        const struct eligible_case *c = &eligible_cases[i];
        struct stanza *st = parse(c->xml);
        bool s = carbons_is_eligible(st->root, CARBONS_SENT);
        bool r = carbons_is_eligible(st->root, CARBONS_RECEIVED);
        if (s != c->sent || r != c->received)
            fail_msg("%s: sent %d (want %d), received %d (want %d)", c->name, s, c->sent,
                     r, c->received);
        stanza_unref(st);
    }
}

struct forged_case {
    const char *name;
    const char *xml;
    bool forged;
};

static const struct forged_case forged_cases[] = {
    { "plain message from a contact", "<message from='t@example.com/h'>" B "</message>", false },
    { "received wrapper from a contact", "<message from='t@example.com/h'>"
      "<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'/></received>"
      "</message>", true },
    { "sent wrapper from a contact", "<message from='t@example.com/h'>"
      "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'/></sent>"
      "</message>", true },
    { "wrapper from the user's own full JID", "<message from='r@example.com/home'>"
      "<sent xmlns='urn:xmpp:carbons:2'/></message>", true },
    { "wrapper without from", "<message><sent xmlns='urn:xmpp:carbons:2'/></message>", true },
    { "wrapper from the user's bare JID", "<message from='r@example.com'>"
      "<received xmlns='urn:xmpp:carbons:2'/></message>", false },
    { "other namespace", "<message from='t@example.com/h'>"
      "<received xmlns='urn:xmpp:receipts' id='x'/></message>", false },
};

static void forged(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(forged_cases) / sizeof(forged_cases[0]); i++) {
        const struct forged_case *c = &forged_cases[i];
        struct stanza *st = parse(c->xml);
        if (carbons_is_forged(st->root, "r@example.com") != c->forged)
            fail_msg("%s: want forged=%d", c->name, c->forged);
        stanza_unref(st);
    }
}

static char *serialize(const struct stanza *st)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    return buf_detach(&b);
}

static void wrapper(void **state)
{
    (void)state;
    struct stanza *orig = parse("<message from='j@example.org/b' to='r@example.com/g' "
                                "type='chat'><body>a &amp; b</body></message>");
    struct stanza *c = carbons_wrap(orig, CARBONS_RECEIVED, "r@example.com", "r@example.com/h");
    char *s = serialize(c);
    assert_string_equal(s,
        "<message from='r@example.com' to='r@example.com/h' type='chat'>"
        "<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
        "<message xmlns='jabber:client' from='j@example.org/b' to='r@example.com/g' "
        "type='chat'><body>a &amp; b</body></message></forwarded></received></message>");
    free(s);
    stanza_unref(c);
    stanza_unref(orig);

    /* No type on the original: none on the wrapper (§8 "SHOULD maintain
     * the same 'type'"). */
    orig = parse("<message from='r@example.com/g' to='j@example.org'><body>x</body></message>");
    c = carbons_wrap(orig, CARBONS_SENT, "r@example.com", "r@example.com/h");
    s = serialize(c);
    assert_string_equal(s,
        "<message from='r@example.com' to='r@example.com/h'>"
        "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
        "<message xmlns='jabber:client' from='r@example.com/g' to='j@example.org'>"
        "<body>x</body></message></forwarded></sent></message>");
    free(s);
    stanza_unref(c);
    stanza_unref(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eligibility),
        cmocka_unit_test(forged),
        cmocka_unit_test(wrapper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
