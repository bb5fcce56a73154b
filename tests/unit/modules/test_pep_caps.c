/*
 * test_pep_caps.c - XEP-0115 §5 verification strings and hashes, with
 * the XEP's own examples (§5.2 simple, §5.3 complex) and the §5.4
 * ill-formed cases that must never be cached.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "modules/pep_caps.h"
#include "xml/xml.h"

struct parsed {
    struct stanza *st;
};

static void on_open(void *ud, const struct xml_node *root)
{
    (void)ud;
    (void)root;
}

static void on_stanza(void *ud, struct stanza *st)
{
    struct parsed *p = ud;
    assert_null(p->st);
    p->st = st;
}

static void on_close(void *ud)
{
    (void)ud;
}

static void on_error(void *ud, enum xml_error err, const char *text)
{
    (void)ud;
    (void)err;
    fail_msg("parse error: %s", text);
}

/* Parses one element (the disco#info <query/>). */
static struct stanza *parse(const char *xml)
{
    static const struct xml_stream_cb cb = { on_open, on_stanza, on_close, on_error };
    struct xml_limits lim = { 1 << 20, 32, 32 };
    struct parsed p = { NULL };
    struct xml_stream *xs = xml_stream_new(&lim, &cb, &p);
    const char *head = "<stream:stream xmlns='jabber:client' "
                       "xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_int_equal(xml_stream_feed(xs, head, strlen(head)), 0);
    assert_int_equal(xml_stream_feed(xs, xml, strlen(xml)), 0);
    xml_stream_free(xs);
    assert_non_null(p.st);
    return p.st;
}

#define SIMPLE \
    "<query xmlns='http://jabber.org/protocol/disco#info'>" \
    "<identity category='client' name='Exodus 0.9.1' type='pc'/>" \
    "<feature var='http://jabber.org/protocol/disco#info'/>" \
    "<feature var='http://jabber.org/protocol/disco#items'/>" \
    "<feature var='http://jabber.org/protocol/muc'/>" \
    "<feature var='http://jabber.org/protocol/caps'/>" \
    "</query>"

/* §5.3, identities and fields deliberately out of order. */
#define COMPLEX \
    "<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>" \
    "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>" \
    "<identity xml:lang='el' category='client' name='\xce\xa8 0.11' type='pc'/>" \
    "<feature var='http://jabber.org/protocol/caps'/>" \
    "<feature var='http://jabber.org/protocol/disco#info'/>" \
    "<feature var='http://jabber.org/protocol/disco#items'/>" \
    "<feature var='http://jabber.org/protocol/muc'/>" \
    "<x xmlns='jabber:x:data' type='result'>" \
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>" \
    "<field var='ip_version' type='text-multi'><value>ipv6</value><value>ipv4</value></field>" \
    "<field var='os'><value>Mac</value></field>" \
    "<field var='software_version'><value>0.11</value></field>" \
    "<field var='os_version'><value>10.5.1</value></field>" \
    "<field var='software'><value>Psi</value></field>" \
    "</x></query>"

static void test_simple_string(void **state)
{
    (void)state;
    struct stanza *st = parse(SIMPLE);
    struct buf b = BUF_INIT;
    assert_int_equal(caps_ver_string(st->root, &b), CAPS_OK);
    buf_putc(&b, '\0');
    assert_string_equal(b.data,
        "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
        "http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<"
        "http://jabber.org/protocol/muc<");
    buf_release(&b);
    stanza_unref(st);
}

static void test_complex_string(void **state)
{
    (void)state;
    struct stanza *st = parse(COMPLEX);
    struct buf b = BUF_INIT;
    assert_int_equal(caps_ver_string(st->root, &b), CAPS_OK);
    buf_putc(&b, '\0');
    assert_string_equal(b.data,
        "client/pc/el/\xce\xa8 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<"
        "http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<"
        "http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<"
        "ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<");
    buf_release(&b);
    stanza_unref(st);
}

struct hash_case {
    const char *xml;
    const char *hash;
    const char *ver;
    bool valid;
};

static const struct hash_case hash_cases[] = {
    { SIMPLE, "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=", true },
    { COMPLEX, "sha-1", "q07IKJEyjvHSyhy//CH0CxmKi8w=", true },
    /* One bit off: invalid, never cached (§5.4 3.9). */
    { SIMPLE, "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu1=", false },
    /* The right digest under another hash name. */
    { SIMPLE, "sha-256", "QgayPKawpkPSDYmwT/WM94uAlu0=", false },
    /* Unsupported hash (§5.4 2): not verifiable. */
    { SIMPLE, "md5", "QgayPKawpkPSDYmwT/WM94uAlu0=", false },
    /* Duplicate feature: ill-formed (§5.4 3.4). */
    { "<query xmlns='http://jabber.org/protocol/disco#info'>"
      "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
      "<feature var='http://jabber.org/protocol/caps'/>"
      "<feature var='http://jabber.org/protocol/caps'/>"
      "<feature var='http://jabber.org/protocol/disco#info'/>"
      "<feature var='http://jabber.org/protocol/disco#items'/>"
      "<feature var='http://jabber.org/protocol/muc'/></query>",
      "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=", false },
    /* A form without a hidden FORM_TYPE is ignored (§5.4 3.6). */
    { "<query xmlns='http://jabber.org/protocol/disco#info'>"
      "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
      "<feature var='http://jabber.org/protocol/disco#info'/>"
      "<feature var='http://jabber.org/protocol/disco#items'/>"
      "<feature var='http://jabber.org/protocol/muc'/>"
      "<feature var='http://jabber.org/protocol/caps'/>"
      "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>urn:x</value></field>"
      "<field var='a'><value>b</value></field></x></query>",
      "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=", true },
};

static void test_hashes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hash_cases) / sizeof(hash_cases[0]); i++) {
        const struct hash_case *c = &hash_cases[i];
        struct stanza *st = parse(c->xml);
        if (caps_verify(c->hash, c->ver, st->root) != c->valid)
            fail_msg("case %zu: expected %s", i, c->valid ? "valid" : "invalid");
        stanza_unref(st);
    }
}

static void test_ill_formed(void **state)
{
    (void)state;
    /* Duplicate identity (§5.4 3.3) and two forms of one FORM_TYPE (3.5). */
    const char *cases[] = {
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='client' type='pc' name='A'/>"
        "<identity category='client' type='pc' name='A'/></query>",
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value></field></x>"
        "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value></field></x>"
        "</query>",
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>"
        "<value>u</value><value>v</value></field></x></query>",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stanza *st = parse(cases[i]);
        struct buf b = BUF_INIT;
        assert_int_equal(caps_ver_string(st->root, &b), CAPS_ILL_FORMED);
        buf_release(&b);
        stanza_unref(st);
    }
    assert_true(caps_hash_supported("sha-1"));
    assert_false(caps_hash_supported("md5"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_string),
        cmocka_unit_test(test_complex_string),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_ill_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
