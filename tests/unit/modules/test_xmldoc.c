/*
 * test_xmldoc.c - stored elements (XEP-0049 private XML, XEP-0054 vCards)
 * survive encode/decode with their namespaces, and damaged or hostile
 * rows are refused (xmldoc.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "modules/xmldoc.h"
#include "xml/xml.h"

/* Parses 'xml' as a client would have sent it inside an IQ (default
 * namespace jabber:client), encodes its first child and decodes it back:
 * the serialization of both must be the same. */
static void round_trip_one(const char *inner, const char *want_ns, const char *want_name)
{
    struct buf src = BUF_INIT;
    buf_printf(&src, "<iq xmlns='jabber:client'>%s</iq>", inner);
    struct stanza *iq = xmldoc_decode(src.data, src.len);
    assert_non_null(iq);
    struct xml_node *el = xml_child(iq->root, NULL, NULL);
    assert_non_null(el);
    struct buf enc = BUF_INIT;
    xmldoc_encode(el, &enc);
    assert_int_equal(xmldoc_size(el), enc.len);
    struct stanza *back = xmldoc_decode(enc.data, enc.len);
    if (!back)
        fail_msg("cannot decode '%s'", enc.data);
    assert_string_equal(back->root->ns, want_ns);
    assert_string_equal(back->root->name, want_name);
    struct buf a = BUF_INIT, b = BUF_INIT;
    xml_serialize(el, "", &a);
    xml_serialize(back->root, "", &b);
    assert_string_equal(a.data, b.data);
    buf_release(&a);
    buf_release(&b);
    buf_release(&enc);
    buf_release(&src);
    stanza_unref(back);
    stanza_unref(iq);
}

static void round_trips(void **state)
{
    (void)state;
    round_trip_one("<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>",
                   "exodus:prefs", "exodus");
    round_trip_one("<vCard xmlns='vcard-temp'><FN>A &amp; B &lt;x&gt;</FN><N><GIVEN>é</GIVEN>"
                   "</N></vCard>", "vcard-temp", "vCard");
    /* Children in other namespaces, in no namespace, namespaced attributes. */
    round_trip_one("<s xmlns='urn:a' xmlns:p='urn:p' p:attr='v' plain=\"'q'\">"
                   "<c xmlns='urn:b'><d/></c><e xmlns=''/></s>", "urn:a", "s");
    /* An element in jabber:client itself. */
    round_trip_one("<body>text</body>", "jabber:client", "body");
}

static void damaged_rows(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                                     /* nothing */
        "<a xmlns='x'>",                        /* unclosed */
        "<a xmlns='x'/><b xmlns='x'/>",         /* two elements */
        "just text",
        "<!-- c --><a xmlns='x'/>",             /* restricted XML (RFC 6120 §11.1) */
        "<?pi x?><a xmlns='x'/>",
        "</stream:stream><a/>",                 /* escaping the wrapper */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stanza *st = xmldoc_decode(bad[i], strlen(bad[i]));
        if (st) {
            stanza_unref(st);
            fail_msg("decoded a damaged row: '%s'", bad[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips),
        cmocka_unit_test(damaged_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
