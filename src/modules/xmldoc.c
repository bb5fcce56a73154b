/*
 * xmldoc.c - an XML element stored as text and parsed back (storage for
 * XEP-0049 private XML and XEP-0054 vCards).  See xmldoc.h.
 *
 * The text is parsed with the same restricted parser as client streams
 * (RFC 6120 §11.1: no DTD, comments or PIs), wrapped in a synthetic stream
 * header, so a stored row can never bring in anything a client could not
 * have sent.
 */
#include "modules/xmldoc.h"

#include <stdbool.h>
#include <string.h>

/* Encoded under a jabber:client default namespace, decoded under the same
 * header: an element in the empty namespace gets xmlns='' written and so
 * survives the round trip. */
#define DOC_HEADER "<stream:stream xmlns='" XML_NS_CLIENT "' xmlns:stream='" \
                   XML_NS_STREAM "'>"
#define DOC_TRAILER "</stream:stream>"

void xmldoc_encode(const struct xml_node *el, struct buf *out)
{
    xml_serialize(el, XML_NS_CLIENT, out);
}

size_t xmldoc_size(const struct xml_node *el)
{
    struct buf b = BUF_INIT;
    xmldoc_encode(el, &b);
    size_t n = b.len;
    buf_release(&b);
    return n;
}

struct decode_state {
    struct stanza *got;
    unsigned count;             /* top-level elements seen */
    bool failed;
};

static void on_open(void *ud, const struct xml_node *root)
{
    (void)ud, (void)root;
}

static void on_stanza(void *ud, struct stanza *st)
{
    struct decode_state *d = ud;
    d->count++;
    if (!d->got) {
        d->got = st;
        return;
    }
    stanza_unref(st);
}

static void on_close(void *ud)
{
    (void)ud;
}

static void on_error(void *ud, enum xml_error err, const char *text)
{
    (void)err, (void)text;
    ((struct decode_state *)ud)->failed = true;
}

struct stanza *xmldoc_decode(const char *text, size_t len)
{
    /* The row was accepted within the stanza limits when it was stored;
     * these only keep a damaged row from costing more than it weighs. */
    const struct xml_limits lim = {
        .max_stanza_bytes = len + 1,
        .max_depth = 256,
        .max_attrs = 256,
    };
    static const struct xml_stream_cb cb = {
        .open = on_open, .stanza = on_stanza, .close = on_close, .error = on_error,
    };
    struct decode_state d = { 0 };
    struct xml_stream *xs = xml_stream_new(&lim, &cb, &d);
    if (xml_stream_feed(xs, DOC_HEADER, sizeof(DOC_HEADER) - 1) == 0 &&
        xml_stream_feed(xs, text, len) == 0)
        xml_stream_feed(xs, DOC_TRAILER, sizeof(DOC_TRAILER) - 1);
    xml_stream_free(xs);
    if (d.failed || d.count != 1) {
        if (d.got)
            stanza_unref(d.got);
        return NULL;
    }
    return d.got;
}
