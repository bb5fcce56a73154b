/*
 * xml_stream.c - libFuzzer target for the XMPP stream parser
 * (src/xml/parser.c, RFC 6120 §4 and §11).  Built by fuzz/meson.build
 * with -Dfuzz=enabled (docs/fuzzing.md), linked with pl_xml only.
 *
 * The first input byte picks the feeding pattern (chunk size, whether to
 * compact between feeds, whether stanza() restarts the stream), so the
 * fuzzer also explores split points, re-priming and restarts.  Each stanza
 * is serialized, re-parsed inside a fresh stream and serialized again: the
 * two texts must match (the round trip the server relies on when it
 * forwards what it parsed).  With compaction, two more streams share a
 * parser stock and are fed the same chunks in turn, so their parsers are
 * parked and taken by each other: all three transcripts (stanzas and
 * errors) must be the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RT_HDR "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

struct fz {
    struct xml_stream *xs;
    bool restart;               /* reset on every 3rd stanza */
    unsigned n;
    struct buf *capture;        /* round trip: collects the re-parse */
    struct buf log;             /* transcript: stanzas and errors */
};

static void fz_open(void *ud, const struct xml_node *root)
{
    (void)ud;
    (void)xml_attr(root, "to");
}

static void roundtrip_stanza(void *ud, struct stanza *st)
{
    struct fz *f = ud;
    xml_serialize(st->root, XML_NS_CLIENT, f->capture);
    stanza_unref(st);
}

static void fz_error(void *ud, enum xml_error err, const char *text)
{
    struct fz *f = ud;
    PL_ASSERT(text != NULL);
    buf_printf(&f->log, "error %d %s\n", (int)err, text);
}

static void fz_stanza(void *ud, struct stanza *st)
{
    struct fz *f = ud;
    struct stanza *c = stanza_copy(st);
    stanza_unref(st);

    struct buf first = BUF_INIT, second = BUF_INIT;
    xml_serialize(c->root, XML_NS_CLIENT, &first);
    buf_append(&f->log, first.data, first.len);
    buf_putc(&f->log, '\n');
    const struct xml_stream_cb cb = { NULL, roundtrip_stanza, NULL, NULL };
    struct fz g = { NULL, false, 0, &second, BUF_INIT };
    g.xs = xml_stream_new(NULL, &cb, &g);
    int rc = xml_stream_feed(g.xs, RT_HDR, strlen(RT_HDR));
    if (rc == 0)
        rc = xml_stream_feed(g.xs, first.data, first.len);
    /* the stanza was in jabber:client scope when serialized; the text we
     * produce must always parse back to the same text */
    PL_ASSERT(rc == 0);
    PL_ASSERT(second.len == first.len &&
              memcmp(second.data, first.data, first.len) == 0);
    xml_stream_free(g.xs);
    buf_release(&first);
    buf_release(&second);
    stanza_unref(c);

    if (f->restart && ++f->n % 3 == 0)
        xml_stream_reset(f->xs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    size_t chunk = (size_t)(mode & 0x1f) + 1;
    if (mode & 0x20)
        chunk = size ? size : 1;
    bool compact = mode & 0x40;

    const struct xml_limits lim = { 4096, 16, 16 };
    const struct xml_stream_cb cb = { fz_open, fz_stanza, NULL, fz_error };
    /* f alone; with compaction also a and b, sharing a stock of 2 */
    struct fz f = { NULL, (mode & 0x80) != 0, 0, NULL, BUF_INIT };
    struct fz a = f, b = f;
    struct fz *s[3] = { &f, &a, &b };
    size_t ns = compact ? 3 : 1;
    struct xml_parser_pool *pool = compact ? xml_parser_pool_new(2) : NULL;
    bool failed[3] = { false, false, false };
    for (size_t i = 0; i < ns; i++) {
        buf_init(&s[i]->log);
        s[i]->xs = xml_stream_new(&lim, &cb, s[i]);
        if (i > 0)
            xml_stream_use_pool(s[i]->xs, pool);
    }
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        for (size_t i = 0; i < ns; i++) {
            if (failed[i])
                continue;
            failed[i] = xml_stream_feed(s[i]->xs, (const char *)data + off, n) < 0;
            if (compact && !failed[i])
                (void)xml_stream_compact(s[i]->xs);
        }
        if (failed[0])
            break;
    }
    for (size_t i = 0; i < ns; i++) {
        PL_ASSERT(s[i]->log.len == f.log.len &&
                  memcmp(s[i]->log.data, f.log.data, f.log.len) == 0);
        xml_stream_free(s[i]->xs);
    }
    for (size_t i = 0; i < ns; i++)
        buf_release(&s[i]->log);
    xml_parser_pool_free(pool);
    return 0;
}
