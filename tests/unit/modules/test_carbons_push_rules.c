/*
 * test_carbons_push_rules.c - the pure parts of XEP-0357 in
 * src/modules/push_rules.c: registration keys (§5/§6), which messages
 * are notable, the rate limit, and the exact publish IQ (§7, §11.3.1).
 * (Named with the carbons_ prefix: issue 4's carbons and push work share
 * one owner.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "modules/push_rules.h"
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

static void keys(void **state)
{
    (void)state;
    char *k = push_key("push.example/r", "node 1");
    assert_string_equal(k, "push.example/r\nnode 1");
    assert_true(push_key_has_jid(k, "push.example/r"));
    assert_false(push_key_has_jid(k, "push.example"));      /* a prefix, not the JID */
    assert_false(push_key_has_jid(k, "push.example/r2"));
    free(k);
    k = push_key("push.example", NULL);
    assert_string_equal(k, "push.example\n");
    assert_true(push_key_has_jid(k, "push.example"));
    free(k);
}

static const struct {
    const char *xml;
    bool notable;
} notable_cases[] = {
    { "<message><body>hi</body></message>", true },
    { "<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
      false },
    { "<message><received xmlns='urn:xmpp:receipts' id='a'/></message>", false },
    { "<message><displayed xmlns='urn:xmpp:chat-markers:0' id='a'/>"
      "<store xmlns='urn:xmpp:hints'/></message>", false },
    { "<message><thread>t</thread><subject>s</subject></message>", false },
    { "<message><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>", true },
    { "<message/>", false },
};

static void notable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(notable_cases) / sizeof(notable_cases[0]); i++) {
        struct stanza *st = parse(notable_cases[i].xml);
        if (push_is_notable(st->root) != notable_cases[i].notable)
            fail_msg("%s: want %d", notable_cases[i].xml, notable_cases[i].notable);
        stanza_unref(st);
    }
}

static void rate(void **state)
{
    (void)state;
    assert_true(push_rate_allows(0, 100, 5));           /* never sent */
    assert_false(push_rate_allows(100, 104, 5));
    assert_true(push_rate_allows(100, 105, 5));
    assert_true(push_rate_allows(100, 100, 0));         /* no limit */
    assert_true(push_rate_allows(100, 50, 5));          /* clock went back: allow */
}

static char *serialize(const struct stanza *st)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    return buf_detach(&b);
}

static void publish(void **state)
{
    (void)state;
    struct stanza *opts = parse("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
                                "<value>http://jabber.org/protocol/pubsub#publish-options</value>"
                                "</field><field var='secret'><value>s</value></field></x>");
    struct push_summary sum = { 2, "j@example.org/b", "a<b" };
    struct stanza *iq = push_publish_new("r@example.com", "push.example", "n1", "push-1",
                                         &sum, opts->root);
    char *s = serialize(iq);
    assert_string_equal(s,
        "<iq type='set' from='r@example.com' to='push.example' id='push-1'>"
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n1'><item>"
        "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>"
        "<field var='message-count'><value>2</value></field>"
        "<field var='last-message-sender'><value>j@example.org/b</value></field>"
        "<field var='last-message-body'><value>a&lt;b</value></field>"
        "</x></notification></item></publish>"
        "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
        "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
        "<field var='secret'><value>s</value></field></x></publish-options>"
        "</pubsub></iq>");
    free(s);
    stanza_unref(iq);
    stanza_unref(opts);

    /* No node, no sender, no body, no options: only what is known. */
    struct push_summary bare = { 1, NULL, NULL };
    iq = push_publish_new("r@example.com", "push.example", NULL, "push-2", &bare, NULL);
    s = serialize(iq);
    assert_string_equal(s,
        "<iq type='set' from='r@example.com' to='push.example' id='push-2'>"
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish><item>"
        "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>"
        "<field var='message-count'><value>1</value></field>"
        "</x></notification></item></publish></pubsub></iq>");
    free(s);
    stanza_unref(iq);
}

static void body_cut_at_utf8_boundary(void **state)
{
    (void)state;
    /* PUSH_BODY_MAX - 1 ASCII bytes then a 2-byte character straddling the
     * limit: the character is dropped whole. */
    char body[PUSH_BODY_MAX + 8];
    memset(body, 'a', PUSH_BODY_MAX - 1);
    memcpy(body + PUSH_BODY_MAX - 1, "\xc3\xa9zz", 5);
    struct push_summary sum = { 1, NULL, body };
    struct stanza *iq = push_publish_new("r@example.com", "p", NULL, "i", &sum, NULL);
    char *s = serialize(iq);
    const char *v = strstr(s, "last-message-body'><value>");
    assert_non_null(v);
    v += strlen("last-message-body'><value>");
    const char *end = strstr(v, "</value>");
    assert_int_equal((size_t)(end - v), PUSH_BODY_MAX - 1);
    free(s);
    stanza_unref(iq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys),
        cmocka_unit_test(notable),
        cmocka_unit_test(rate),
        cmocka_unit_test(publish),
        cmocka_unit_test(body_cut_at_utf8_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
