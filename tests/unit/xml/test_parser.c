/*
 * test_parser.c - the XMPP stream parser (src/xml/parser.c).
 *
 * Every callback is recorded as one line of a transcript; a test feeds a
 * stream in some way (whole, byte by byte, split at each offset, compacted
 * between stanzas) and compares transcripts, so any difference in what the
 * parser reports shows up as a string mismatch.  Covers RFC 6120 §4.7
 * (header), §4.9.3.10 (invalid-namespace), §11.1 (restricted XML), the
 * size/depth/attribute limits, stream restarts, compaction and pausing
 * (bytes pipelined behind a stanza answered asynchronously, RFC 6120 §6.4.6).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"
#include "xml/xml.h"

#define HDR "<?xml version='1.0'?>" \
    "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' " \
    "version='1.0' xml:lang='en' id='s1'>"

/* --- the recorder -------------------------------------------------------- */

struct rec {
    struct buf log;
    struct xml_stream *xs;
    const char *reset_on;       /* reset the stream after this stanza name */
    struct stanza *keep[8];     /* first stanzas, kept for inspection */
    unsigned nkeep;
    unsigned stanzas;
    unsigned errors;
    enum xml_error last_err;
    bool compact_in_cb;         /* try xml_stream_compact() in stanza() */
    unsigned compacted_in_cb;   /* times it wrongly succeeded */
    const char *pause_on;       /* xml_stream_pause() after this stanza */
    bool pause_on_open;         /* xml_stream_pause() in open() */
    unsigned pauses;
    size_t log_at_pause;        /* log length right after the pause */
};

static void r_open(void *ud, const struct xml_node *root)
{
    struct rec *r = ud;
    const char *dns = xml_stream_default_ns(r->xs);
    buf_printf(&r->log, "open {%s}%s dns=%s", root->ns, root->name,
               dns ? dns : "(none)");
    assert_null(root->children);
    for (const struct xml_attr *a = root->attrs; a; a = a->next)
        buf_printf(&r->log, " %s=%s", a->name, a->value);
    buf_putc(&r->log, '\n');
    if (r->pause_on_open) {
        xml_stream_pause(r->xs);
        r->pauses++;
        r->log_at_pause = r->log.len;
    }
}

static void r_stanza(void *ud, struct stanza *st)
{
    struct rec *r = ud;
    assert_int_equal(st->refs, 1);
    buf_puts(&r->log, "stanza ");
    xml_serialize(st->root, XML_NS_CLIENT, &r->log);
    buf_putc(&r->log, '\n');
    r->stanzas++;
    if (r->compact_in_cb && xml_stream_compact(r->xs))
        r->compacted_in_cb++;
    bool reset = r->reset_on && strcmp(st->root->name, r->reset_on) == 0;
    if (r->pause_on && strcmp(st->root->name, r->pause_on) == 0) {
        xml_stream_pause(r->xs);
        r->pauses++;
        r->log_at_pause = r->log.len;
    }
    if (r->nkeep < 8)
        r->keep[r->nkeep++] = st;
    else
        stanza_unref(st);
    if (reset)
        xml_stream_reset(r->xs);
}

static void r_close(void *ud)
{
    struct rec *r = ud;
    buf_puts(&r->log, "close\n");
}

static void r_error(void *ud, enum xml_error err, const char *text)
{
    struct rec *r = ud;
    buf_printf(&r->log, "error %d %s\n", (int)err, text);
    r->errors++;
    r->last_err = err;
}

static const struct xml_stream_cb rec_cb = {
    r_open, r_stanza, r_close, r_error,
};

static void rec_init(struct rec *r, const struct xml_limits *lim)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->log);
    r->xs = xml_stream_new(lim, &rec_cb, r);
}

static void rec_release(struct rec *r)
{
    xml_stream_free(r->xs);
    for (unsigned i = 0; i < r->nkeep; i++)
        stanza_unref(r->keep[i]);
    buf_release(&r->log);
}

enum feed_mode {
    FEED_WHOLE,
    FEED_BYTES,                 /* one byte per feed */
    FEED_BYTES_COMPACT,         /* one byte per feed, compact after each */
};

/* Feeds 's' and returns the transcript (caller frees). */
static char *run(const char *s, size_t len, const struct xml_limits *lim,
                 enum feed_mode mode, const char *reset_on)
{
    struct rec r;
    rec_init(&r, lim);
    r.reset_on = reset_on;
    if (mode == FEED_WHOLE) {
        xml_stream_feed(r.xs, s, len);
    } else {
        for (size_t i = 0; i < len; i++) {
            xml_stream_feed(r.xs, s + i, 1);
            if (mode == FEED_BYTES_COMPACT && xml_stream_compact(r.xs))
                assert_false(xml_stream_has_parser(r.xs));
        }
    }
    char *out = buf_detach(&r.log);
    rec_release(&r);
    return out;
}

static char *run_split(const char *s, size_t len, size_t at,
                       const struct xml_limits *lim, const char *reset_on)
{
    struct rec r;
    rec_init(&r, lim);
    r.reset_on = reset_on;
    xml_stream_feed(r.xs, s, at);
    xml_stream_feed(r.xs, s + at, len - at);
    char *out = buf_detach(&r.log);
    rec_release(&r);
    return out;
}

/* Checks that every way of cutting 's' gives the transcript 'want'. */
static void check_all_splits(const char *s, const struct xml_limits *lim,
                             const char *reset_on, const char *want)
{
    size_t len = strlen(s);
    char *got = run(s, len, lim, FEED_WHOLE, reset_on);
    assert_string_equal(got, want);
    free(got);
    got = run(s, len, lim, FEED_BYTES, reset_on);
    assert_string_equal(got, want);
    free(got);
    for (size_t at = 0; at <= len; at++) {
        got = run_split(s, len, at, lim, reset_on);
        if (strcmp(got, want) != 0)
            fail_msg("split at %zu:\n%s\nwant:\n%s", at, got, want);
        free(got);
    }
}

#define OPEN_LINE "open {http://etherx.jabber.org/streams}stream " \
    "dns=jabber:client to=example.com version=1.0 xml:lang=en id=s1\n"

/* --- tests --------------------------------------------------------------- */

static void splits_with_utf8(void **state)
{
    (void)state;
    static const char in[] =
        HDR " \n"
        "<message to='j\xc3\xbcrgen@example.com' type='chat'>"
        "<body>h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89"
        " &amp; &lt;&#x263A;&#65;\nline2<![CDATA[<raw>&]]></body>"
        "</message>\t"
        "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"
        "\r\n</stream:stream>";
    check_all_splits(in, NULL, NULL,
        OPEN_LINE
        "stanza <message to='j\xc3\xbcrgen@example.com' type='chat'><body>"
        "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89 &amp; "
        "&lt;\xe2\x98\xba" "A\nline2&lt;raw&gt;&amp;</body></message>\n"
        "stanza <iq type='get' id='1'><query xmlns='jabber:iq:roster'/>"
        "</iq>\n"
        "close\n");
}

static void text_is_one_node_whatever_the_split(void **state)
{
    (void)state;
    static const char in[] = HDR "<message><body>ab&amp;c\nd</body></message>";
    struct rec r;
    rec_init(&r, NULL);
    for (size_t i = 0; i < strlen(in); i++)
        assert_int_equal(xml_stream_feed(r.xs, in + i, 1), 0);
    assert_int_equal(r.nkeep, 1);
    struct xml_node *body = xml_child(r.keep[0]->root, XML_NS_CLIENT, "body");
    assert_non_null(body);
    assert_non_null(body->children);
    assert_ptr_equal(body->children, body->last);
    assert_int_equal(body->children->kind, XML_TEXT);
    assert_int_equal(body->children->text_len, 6);
    assert_string_equal(body->children->text, "ab&c\nd");
    rec_release(&r);
}

static void namespaces(void **state)
{
    (void)state;
    static const char in[] =
        "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
        "xmlns='jabber:client' xmlns:db='jabber:server:dialback' "
        "to='example.com'>"
        "<message xml:lang='fr' xmlns:a='urn:a' a:x='1' y='2'>"
        "<p:foo xmlns:p='urn:p'><p:bar/><baz xmlns=''/></p:foo>"
        "<db:result/></message>"
        "<s:features/>";
    struct rec r;
    rec_init(&r, NULL);
    assert_int_equal(xml_stream_feed(r.xs, in, strlen(in)), 0);
    assert_int_equal(r.errors, 0);
    assert_string_equal(xml_stream_default_ns(r.xs), XML_NS_CLIENT);
    const struct xml_node *root = xml_stream_root(r.xs);
    assert_non_null(root);
    assert_string_equal(root->ns, XML_NS_STREAM);
    assert_string_equal(root->name, "stream");
    assert_string_equal(xml_attr(root, "to"), "example.com");
    assert_null(root->attrs->next);     /* namespace decls are not attrs */
    assert_int_equal(r.nkeep, 2);

    struct xml_node *m = r.keep[0]->root;
    assert_true(xml_is(m, XML_NS_CLIENT, "message"));
    assert_string_equal(xml_attr(m, "xml:lang"), "fr");
    assert_string_equal(xml_attr(m, "urn:a x"), "1");
    assert_string_equal(xml_attr(m, "y"), "2");
    assert_null(xml_attr(m, "xmlns:a"));
    int nattrs = 0;
    for (struct xml_attr *a = m->attrs; a; a = a->next)
        nattrs++;
    assert_int_equal(nattrs, 3);
    struct xml_node *foo = xml_child(m, "urn:p", "foo");
    assert_non_null(foo);
    assert_true(xml_is(xml_child(foo, NULL, NULL), "urn:p", "bar"));
    assert_true(xml_is(xml_child(foo, "", "baz"), "", "baz"));
    assert_true(xml_is(xml_next(foo, NULL, NULL), "jabber:server:dialback",
                       "result"));
    assert_true(xml_is(r.keep[1]->root, XML_NS_STREAM, "features"));

    /* no default namespace on the root */
    rec_release(&r);
    static const char in2[] =
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
        "<foo/>";
    rec_init(&r, NULL);
    assert_int_equal(xml_stream_feed(r.xs, in2, strlen(in2)), 0);
    assert_null(xml_stream_default_ns(r.xs));
    assert_int_equal(r.nkeep, 1);
    assert_string_equal(r.keep[0]->root->ns, "");
    rec_release(&r);
}

struct err_case {
    const char *in;
    enum xml_error err;
};

static void check_error_cases(const struct err_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int mode = FEED_WHOLE; mode <= FEED_BYTES; mode++) {
            struct rec r;
            rec_init(&r, NULL);
            const char *in = cases[i].in;
            int rc = 0;
            if (mode == FEED_WHOLE) {
                rc = xml_stream_feed(r.xs, in, strlen(in));
            } else {
                for (size_t k = 0; k < strlen(in) && rc == 0; k++)
                    rc = xml_stream_feed(r.xs, in + k, 1);
            }
            if (r.errors != 1 || r.last_err != cases[i].err)
                fail_msg("case %zu (%s): got %u errors, last %d:\n%s", i, in,
                         r.errors, (int)r.last_err, r.log.data);
            assert_int_equal(rc, -1);
            /* no more callbacks after an error, until reset */
            size_t loglen = r.log.len;
            assert_int_equal(xml_stream_feed(r.xs, "<a/>", 4), -1);
            assert_int_equal(r.log.len, loglen);
            assert_false(xml_stream_has_parser(r.xs));
            /* and the stream is usable again after a reset */
            xml_stream_reset(r.xs);
            assert_int_equal(xml_stream_feed(r.xs, HDR "<a/>",
                                             strlen(HDR "<a/>")), 0);
            assert_int_equal(r.errors, 1);
            rec_release(&r);
        }
    }
}

static void restricted_xml(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        { HDR "<message><!-- hi --></message>", XML_ERR_RESTRICTED },
        { HDR "<!-- between stanzas -->", XML_ERR_RESTRICTED },
        { "<!-- prolog -->" HDR, XML_ERR_RESTRICTED },
        { HDR "<message><?php echo 1; ?></message>", XML_ERR_RESTRICTED },
        { "<?xml version='1.0'?><?pi data?>" HDR, XML_ERR_RESTRICTED },
        { "<!DOCTYPE stream:stream>" HDR, XML_ERR_RESTRICTED },
        { "<!DOCTYPE x [<!ENTITY e 'boom'>]><x>&e;</x>", XML_ERR_RESTRICTED },
        { "<!DOCTYPE x SYSTEM 'http://evil/x.dtd'><x/>", XML_ERR_RESTRICTED },
    };
    check_error_cases(cases, PL_ARRAY_LEN(cases));
}

static void not_well_formed(void **state)
{
    (void)state;
    char *got_ok;
    static const struct err_case cases[] = {
        { HDR "<message></iq>", XML_ERR_NOT_WELL_FORMED },
        { HDR "<message><body>\xff</body></message>", XML_ERR_NOT_WELL_FORMED },
        { HDR "<message><body>\xc3(</body></message>", XML_ERR_NOT_WELL_FORMED },
        { HDR "hello", XML_ERR_NOT_WELL_FORMED },
        { HDR "<a/> x <b/>", XML_ERR_NOT_WELL_FORMED },
        { HDR "<a b='1' b='2'/>", XML_ERR_NOT_WELL_FORMED },
        { HDR "<x:a/>", XML_ERR_NOT_WELL_FORMED },
        { HDR "<a>&undefined;</a>", XML_ERR_NOT_WELL_FORMED },
        { HDR "<a>&#0;</a>", XML_ERR_NOT_WELL_FORMED },
        { "junk<a/>", XML_ERR_NOT_WELL_FORMED },
        { "\xff\xfe<stream:stream>", XML_ERR_NOT_WELL_FORMED }, /* UTF-16 */
        { HDR "<?xml version='1.0'?>", XML_ERR_NOT_WELL_FORMED },
        /* a second header where a stanza belongs, even unfinished */
        { HDR "<stream:stream to='example.com'><iq/>", XML_ERR_NOT_WELL_FORMED },
        { HDR "<stream xmlns='http://etherx.jabber.org/streams'/>",
          XML_ERR_NOT_WELL_FORMED },
    };
    check_error_cases(cases, PL_ARRAY_LEN(cases));
    /* ... but other elements of the streams namespace are stanzas */
    got_ok = run(HDR "<stream:features/>", strlen(HDR "<stream:features/>"),
                 NULL, FEED_WHOLE, NULL);
    assert_string_equal(got_ok, OPEN_LINE "stanza <features "
                        "xmlns='http://etherx.jabber.org/streams'/>\n");
    free(got_ok);

    /* the text of a character-data error says what happened */
    char *got = run(HDR "hi", strlen(HDR "hi"), NULL, FEED_WHOLE, NULL);
    assert_string_equal(got, OPEN_LINE
                        "error 1 character data at stream level\n");
    free(got);
    got = run(HDR "<a></b>", strlen(HDR "<a></b>"), NULL, FEED_WHOLE, NULL);
    assert_string_equal(got, OPEN_LINE "error 1 mismatched tag\n");
    free(got);
}

static void invalid_namespace(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        { "<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>",
          XML_ERR_INVALID_NAMESPACE },
        { "<stream xmlns='jabber:client'>", XML_ERR_INVALID_NAMESPACE },
        { "<stream:foo xmlns:stream='http://etherx.jabber.org/streams'>",
          XML_ERR_INVALID_NAMESPACE },
        { "<message/>", XML_ERR_INVALID_NAMESPACE },
    };
    check_error_cases(cases, PL_ARRAY_LEN(cases));

    /* open() is not called, but the root is available for the reply */
    struct rec r;
    rec_init(&r, NULL);
    static const char in[] = "<stream:stream xmlns:stream='urn:wrong' "
                             "to='example.com'>";
    assert_int_equal(xml_stream_feed(r.xs, in, strlen(in)), -1);
    assert_null(strstr(r.log.data, "open"));
    assert_string_equal(xml_attr(xml_stream_root(r.xs), "to"), "example.com");
    rec_release(&r);

    /* a root in the streams namespace by default is still fine (the
     * content namespace is for the caller to judge) */
    static const char in3[] =
        "<stream xmlns='http://etherx.jabber.org/streams'><a/>";
    char *got = run(in3, strlen(in3), NULL, FEED_WHOLE, NULL);
    assert_string_equal(got, "open {http://etherx.jabber.org/streams}stream "
                        "dns=http://etherx.jabber.org/streams\n"
                        "stanza <a xmlns='http://etherx.jabber.org/streams'/>\n");
    free(got);
}

/* "<message>" + k 'x' + "</message>": 19 + k bytes */
static char *stanza_of(size_t bytes)
{
    size_t k = bytes - 19;
    char *s = malloc(bytes + 1);
    memcpy(s, "<message>", 9);
    memset(s + 9, 'x', k);
    memcpy(s + 9 + k, "</message>", 11);
    return s;
}

static void limit_stanza_bytes(void **state)
{
    (void)state;
    /* (the header, 159 bytes, is bounded by the same limit) */
    static const size_t sizes[] = { 160, 1000, 20000 };
    for (size_t i = 0; i < PL_ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        char *st = stanza_of(n);
        struct buf in = BUF_INIT;
        buf_puts(&in, HDR "\n  ");
        buf_puts(&in, st);
        buf_puts(&in, " ");
        for (int mode = FEED_WHOLE; mode <= FEED_BYTES_COMPACT; mode++) {
            if (n > 1000 && mode != FEED_WHOLE)
                continue;
            struct xml_limits at = { n, 0, 0 };
            struct xml_limits under = { n - 1, 0, 0 };
            char *got = run(in.data, in.len, &at, mode, NULL);
            assert_null(strstr(got, "error"));
            assert_non_null(strstr(got, "stanza <message>"));
            free(got);
            got = run(in.data, in.len, &under, mode, NULL);
            assert_non_null(strstr(got, "error 3 stanza too large"));
            assert_null(strstr(got, "stanza <message>"));
            free(got);
        }
        buf_release(&in);
        free(st);
    }
}

/* A peer streaming a huge stanza is cut off as soon as it passes the
 * limit, not when (if ever) the stanza ends. */
static void limit_cuts_off_while_feeding(void **state)
{
    (void)state;
    struct xml_limits lim = { 4096, 0, 0 };
    struct rec r;
    rec_init(&r, &lim);
    assert_int_equal(xml_stream_feed(r.xs, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(r.xs, "<message><body>", 15), 0);
    char chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    size_t fed = 15;
    int rc = 0;
    while (rc == 0 && fed < 64 * 1024) {
        rc = xml_stream_feed(r.xs, chunk, sizeof(chunk));
        fed += sizeof(chunk);
    }
    assert_int_equal(rc, -1);
    assert_int_equal(r.last_err, XML_ERR_POLICY);
    assert_true(fed > 4096 && fed <= 4096 + sizeof(chunk));
    rec_release(&r);

    /* even inside one start tag (expat buffers it whole) */
    rec_init(&r, &lim);
    assert_int_equal(xml_stream_feed(r.xs, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(r.xs, "<message to='", 13), 0);
    fed = 13;
    rc = 0;
    while (rc == 0 && fed < 64 * 1024) {
        rc = xml_stream_feed(r.xs, chunk, sizeof(chunk));
        fed += sizeof(chunk);
    }
    assert_int_equal(rc, -1);
    assert_true(fed > 4096 && fed <= 4096 + sizeof(chunk));
    rec_release(&r);

    /* and a 10 MB stanza in a single feed */
    size_t big = 10 * 1024 * 1024;
    char *s = stanza_of(big);
    rec_init(&r, &lim);
    assert_int_equal(xml_stream_feed(r.xs, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(r.xs, s, big), -1);
    assert_int_equal(r.last_err, XML_ERR_POLICY);
    rec_release(&r);
    free(s);

    /* the stream header is bounded too */
    rec_init(&r, &lim);
    assert_int_equal(xml_stream_feed(r.xs, "<stream:stream to='", 19), 0);
    rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = xml_stream_feed(r.xs, chunk, sizeof(chunk));
    assert_int_equal(rc, -1);
    assert_int_equal(r.last_err, XML_ERR_POLICY);
    rec_release(&r);
}

static void limit_depth_and_attrs(void **state)
{
    (void)state;
    static const struct {
        struct xml_limits lim;
        const char *stanza;
        bool ok;
    } cases[] = {
        { { 0, 3, 0 }, "<a><b><c/></b></a>", true },
        { { 0, 3, 0 }, "<a><b><c><d/></c></b></a>", false },
        { { 0, 1, 0 }, "<a>text</a>", true },
        { { 0, 1, 0 }, "<a><b/></a>", false },
        { { 0, 0, 0 }, "<a><b><c><d><e><f/></e></d></c></b></a>", true },
        /* (the header has 4 attributes: the root is bounded too) */
        { { 0, 0, 4 }, "<a x='1' y='2' z='3' w='4'><b v='5'/></a>", true },
        { { 0, 0, 4 }, "<a x='1'><b z='3' w='4' v='5' u='6' t='7'/></a>",
          false },
        { { 0, 0, 4 }, "<a x='1' y='2' z='3' w='4' xml:lang='en'/>", false },
        /* namespace declarations are not attributes */
        { { 0, 0, 4 }, "<a xmlns='urn:x' xmlns:p='urn:p' p:x='1' b='2' "
          "c='3' d='4'/>", true },
        { { 0, 0, 0 }, "<a a='1' b='2' c='3' d='4' e='5' f='6'/>", true },
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        for (int mode = FEED_WHOLE; mode <= FEED_BYTES_COMPACT; mode++) {
            struct buf in = BUF_INIT;
            buf_puts(&in, HDR "<ok/>");
            buf_puts(&in, cases[i].stanza);
            char *got = run(in.data, in.len, &cases[i].lim, mode, NULL);
            bool ok = cases[i].ok ? !strstr(got, "error")
                                  : strstr(got, "stanza <ok/>\nerror 3 ") != NULL;
            if (!ok)
                fail_msg("case %zu mode %d:\n%s", i, mode, got);
            free(got);
            buf_release(&in);
        }
    }
}

/* STARTTLS / SASL success: the callback resets, and bytes already fed
 * after the stanza are the new stream's header (RFC 6120 §5.4.3.3). */
static void reset_inside_callback(void **state)
{
    (void)state;
    static const char in[] =
        HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        "<?xml version='1.0'?>"
        "<stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='other.org'>"
        "<message><body>\xc3\xa9</body></message>"
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
        "to='third.org'><x/>";
    check_all_splits(in, NULL, "starttls",
        OPEN_LINE
        "stanza <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
        "open {http://etherx.jabber.org/streams}stream dns=jabber:client "
        "to=other.org\n"
        "stanza <message><body>\xc3\xa9</body></message>\n"
        "stanza <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
        "open {http://etherx.jabber.org/streams}stream dns=(none) "
        "to=third.org\n"
        "stanza <x xmlns=''/>\n");

    /* the common case: reset, then a later feed brings the new header */
    struct rec r;
    rec_init(&r, NULL);
    r.reset_on = "success";
    static const char a[] = HDR "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
    assert_int_equal(xml_stream_feed(r.xs, a, strlen(a)), 0);
    assert_false(xml_stream_has_parser(r.xs));
    assert_null(xml_stream_root(r.xs));
    assert_int_equal(xml_stream_feed(r.xs, HDR "<m/>", strlen(HDR "<m/>")), 0);
    assert_int_equal(r.stanzas, 2);
    assert_int_equal(r.errors, 0);
    rec_release(&r);
}

/* The size limit of the new document counts from its own start. */
static void reset_keeps_limits_exact(void **state)
{
    (void)state;
    char *st = stanza_of(200);
    struct buf in = BUF_INIT;
    buf_puts(&in, HDR "<proceed/>" HDR);
    buf_puts(&in, st);
    struct xml_limits at = { 200, 0, 0 }, under = { 199, 0, 0 };
    char *got = run(in.data, in.len, &at, FEED_WHOLE, "proceed");
    assert_null(strstr(got, "error"));
    assert_non_null(strstr(got, "stanza <message>"));
    free(got);
    got = run(in.data, in.len, &under, FEED_WHOLE, "proceed");
    assert_non_null(strstr(got, "error 3"));
    free(got);
    buf_release(&in);
    free(st);
}

static void compact_is_transparent(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        HDR "<message to='a@b'><body>\xe6\x97\xa5</body></message>  \n"
        "<iq type='get'><q xmlns='urn:q'/></iq><presence/>\t"
        "<db:result xmlns:db='jabber:server:dialback'/></stream:stream>",
        "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
        "xmlns='jabber:server' xmlns:db='jabber:server:dialback'>"
        "<db:verify id='1'>k</db:verify> <s:features/><message/>",
        "<stream xmlns='http://etherx.jabber.org/streams'><a/><b/> <c/>",
        /* the common headers a packed root shares (parser.c common_packed[]),
         * declarations in the other order */
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
        "xmlns='jabber:client'><message to='a@b'><body>x</body></message> "
        "<stream:features/><presence/></stream:stream>",
        "<stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams'><message/> <iq/>",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(inputs); i++) {
        size_t len = strlen(inputs[i]);
        char *want = run(inputs[i], len, NULL, FEED_BYTES, NULL);
        char *got = run(inputs[i], len, NULL, FEED_BYTES_COMPACT, NULL);
        assert_string_equal(got, want);
        assert_null(strstr(want, "error"));
        free(got);
        free(want);
    }

    /* compaction happens between stanzas only, and the next feed brings a
     * parser back */
    struct xml_limits lim = { 200, 2, 0 };
    struct rec r;
    rec_init(&r, &lim);
    assert_false(xml_stream_compact(r.xs));             /* no parser yet */
    assert_int_equal(xml_stream_feed(r.xs, HDR, strlen(HDR)), 0);
    assert_non_null(xml_stream_root(r.xs));
    assert_true(xml_stream_compact(r.xs));
    assert_false(xml_stream_has_parser(r.xs));
    /* a compacted stream keeps its namespace declarations, not the root */
    assert_null(xml_stream_root(r.xs));
    assert_string_equal(xml_stream_default_ns(r.xs), XML_NS_CLIENT);
    assert_false(xml_stream_compact(r.xs));
    assert_int_equal(xml_stream_feed(r.xs, "<message><bo", 12), 0);
    assert_true(xml_stream_has_parser(r.xs));
    assert_false(xml_stream_compact(r.xs));             /* mid-stanza */
    assert_int_equal(xml_stream_feed(r.xs, "dy/></message>", 14), 0);
    assert_true(xml_stream_compact(r.xs));
    assert_int_equal(xml_stream_feed(r.xs, " \r", 2), 0);
    assert_false(xml_stream_compact(r.xs));     /* CR may start a CRLF */
    assert_int_equal(xml_stream_feed(r.xs, "\n", 1), 0);
    assert_true(xml_stream_compact(r.xs));
    assert_int_equal(xml_stream_feed(r.xs, "<a", 2), 0);
    assert_false(xml_stream_compact(r.xs));
    assert_int_equal(xml_stream_feed(r.xs, "/>", 2), 0);
    assert_true(xml_stream_compact(r.xs));
    /* limits still hold after re-priming: depth 3 fails */
    assert_int_equal(xml_stream_feed(r.xs, "<a><b><c/></b></a>", 18), -1);
    assert_int_equal(r.last_err, XML_ERR_POLICY);
    assert_int_equal(r.stanzas, 2);
    assert_string_equal(xml_stream_default_ns(r.xs), XML_NS_CLIENT);
    rec_release(&r);

    /* and the size limit is exact after compaction */
    char *st = stanza_of(200);
    for (size_t limit = 199; limit <= 200; limit++) {
        struct xml_limits l2 = { limit, 0, 0 };
        rec_init(&r, &l2);
        assert_int_equal(xml_stream_feed(r.xs, HDR " ", strlen(HDR) + 1), 0);
        assert_true(xml_stream_compact(r.xs));
        int rc = xml_stream_feed(r.xs, st, 200);
        assert_int_equal(rc, limit == 200 ? 0 : -1);
        assert_int_equal(r.stanzas, limit == 200 ? 1 : 0);
        rec_release(&r);
    }
    free(st);
}

/* Streams sharing a parser stock: each compaction gives the parser back
 * (reset), each feed takes one (perhaps the other stream's last one), and
 * the transcripts are those of streams with parsers of their own - also
 * after a stream failed, since a failed parser goes back to the stock. */
static void pooled_parsers_are_transparent(void **state)
{
    (void)state;
    static const char a_in[] = HDR "<message to='a@b'><body>x</body></message> <iq/>"
                               "<presence><show>away</show></presence></stream:stream>";
    static const char b_in[] = "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
                               "xmlns='jabber:server'><db:r xmlns:db='urn:db'>k</db:r> <a/>";
    static const char bad[] = HDR "<a></b>";
    char *a_want = run(a_in, strlen(a_in), NULL, FEED_BYTES, NULL);
    char *b_want = run(b_in, strlen(b_in), NULL, FEED_BYTES, NULL);
    struct xml_parser_pool *pool = xml_parser_pool_new(1);

    struct rec f;
    rec_init(&f, NULL);
    xml_stream_use_pool(f.xs, pool);
    assert_int_equal(xml_stream_feed(f.xs, bad, strlen(bad)), -1);
    rec_release(&f);            /* its parser, in error, goes to the stock */

    struct rec a, b;
    rec_init(&a, NULL);
    rec_init(&b, NULL);
    xml_stream_use_pool(a.xs, pool);
    xml_stream_use_pool(b.xs, pool);
    size_t na = strlen(a_in), nb = strlen(b_in);
    for (size_t i = 0; i < na || i < nb; i++) {
        if (i < na) {
            assert_int_equal(xml_stream_feed(a.xs, a_in + i, 1), 0);
            xml_stream_compact(a.xs);
        }
        if (i < nb) {
            assert_int_equal(xml_stream_feed(b.xs, b_in + i, 1), 0);
            xml_stream_compact(b.xs);
        }
    }
    assert_string_equal(a.log.data, a_want);
    assert_string_equal(b.log.data, b_want);
    rec_release(&a);
    rec_release(&b);
    xml_parser_pool_free(pool);
    free(a_want);
    free(b_want);
}

#define SERVER_HDR "<stream:stream xmlns='jabber:server' " \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

/* Parked parsers: two client streams and a server stream share a stock,
 * fed a byte at a time and compacted after each byte.  A compacted
 * client stream parks its parser inside its root, and the other client
 * stream goes on with it; the server stream, whose root differs, never
 * gets one of theirs.  Every transcript is that of a stream on its own. */
static void parked_parsers_move_between_streams(void **state)
{
    (void)state;
    static const char *const in[3] = {
        HDR "<message to='a@b'><body>x</body></message> <iq type='get' id='1'/>"
            "<presence><show>away</show></presence>\n<m xmlns='urn:x'>&amp;</m></stream:stream>",
        HDR "<iq id='q'><query xmlns='jabber:iq:roster'/></iq><message><body>y&lt;"
            "</body></message> <presence/>",
        SERVER_HDR "<message to='c@d'><body>z</body></message><db:r xmlns:db='urn:db'>k</db:r>",
    };
    char *want[3];
    struct rec r[3];
    struct xml_parser_pool *pool = xml_parser_pool_new(2);
    size_t len[3], longest = 0;
    for (int k = 0; k < 3; k++) {
        len[k] = strlen(in[k]);
        longest = len[k] > longest ? len[k] : longest;
        want[k] = run(in[k], len[k], NULL, FEED_BYTES, NULL);
        rec_init(&r[k], NULL);
        xml_stream_use_pool(r[k].xs, pool);
    }
    unsigned taken = 0;
    for (size_t i = 0; i < longest; i++) {
        for (int k = 0; k < 3; k++) {
            if (i >= len[k])
                continue;
            unsigned before = xml_parser_pool_parked(pool);
            assert_int_equal(xml_stream_feed(r[k].xs, in[k] + i, 1), 0);
            taken += xml_parser_pool_parked(pool) < before;
            xml_stream_compact(r[k].xs);
            assert_true(xml_parser_pool_parked(pool) <= 2);
        }
    }
    /* after each stanza boundary but the first few, the next byte went
     * to a parked parser instead of a primed one (13 times here) */
    assert_true(taken >= 10);
    for (int k = 0; k < 3; k++) {
        assert_string_equal(r[k].log.data, want[k]);
        rec_release(&r[k]);
        free(want[k]);
    }
    xml_parser_pool_free(pool);
}

/* A new stream finds no reset parser in the stock but a parked one: the
 * parked one is reset and serves the new stream's own header (parsers
 * are recycled, not created while others are freed). */
static void new_streams_reset_parked_parsers(void **state)
{
    (void)state;
    static const char a_in[] = HDR "<message><body>x</body></message>";
    static const char b_in[] = "<stream:stream xmlns='jabber:server' "
                               "xmlns:stream='http://etherx.jabber.org/streams'>"
                               "<message><body>y</body></message>";
    char *b_want = run(b_in, strlen(b_in), NULL, FEED_WHOLE, NULL);
    struct xml_parser_pool *pool = xml_parser_pool_new(1);
    struct rec a, b;
    rec_init(&a, NULL);
    rec_init(&b, NULL);
    xml_stream_use_pool(a.xs, pool);
    xml_stream_use_pool(b.xs, pool);
    assert_int_equal(xml_stream_feed(a.xs, a_in, strlen(a_in)), 0);
    assert_true(xml_stream_compact(a.xs));
    assert_int_equal(xml_parser_pool_parked(pool), 1);
    assert_int_equal(xml_stream_feed(b.xs, b_in, strlen(b_in)), 0);
    assert_int_equal(xml_parser_pool_parked(pool), 0);
    assert_string_equal(b.log.data, b_want);
    rec_release(&a);
    rec_release(&b);
    xml_parser_pool_free(pool);
    free(b_want);
}

/* A parked parser's byte index goes on from where its last stream left
 * it: the size limit still counts one stanza's bytes, the header's
 * included in none, across the 64 KiB after which a parked parser is
 * retired (reset) and the next stream's is primed anew. */
static void parked_parsers_keep_the_limits(void **state)
{
    (void)state;
    struct xml_limits lim = { .max_stanza_bytes = 48, .max_depth = 8, .max_attrs = 8 };
    static const char fits[] = "<message><body>0123456789012345</body></message>";  /* 48 */
    static const char big[] = "<message><body>01234567890123456</body></message>";  /* 49 */
    struct xml_parser_pool *pool = xml_parser_pool_new(1);
    struct rec a, b;
    rec_init(&a, &lim);
    rec_init(&b, &lim);
    xml_stream_use_pool(a.xs, pool);
    xml_stream_use_pool(b.xs, pool);
    assert_int_equal(xml_stream_feed(a.xs, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(b.xs, HDR, strlen(HDR)), 0);
    for (unsigned i = 0; i < 2000; i++) {       /* 80 KB through one parser */
        /* split inside the start tag: the limit is checked on bytes
         * counted from the stanza's start before expat has seen it */
        struct rec *r = i % 2 ? &b : &a;
        assert_int_equal(xml_stream_feed(r->xs, fits, 4), 0);
        assert_int_equal(xml_stream_feed(r->xs, fits + 4, sizeof(fits) - 5), 0);
        assert_true(xml_stream_compact(r->xs));
    }
    assert_int_equal(a.stanzas + b.stanzas, 2000);
    assert_int_equal(a.errors + b.errors, 0);
    /* a limit that counted the parser's bytes before this stanza would
     * have failed the first stanza after the header or the retirement */
    assert_int_equal(xml_stream_feed(a.xs, big, sizeof(big) - 1), -1);
    assert_int_equal(a.last_err, XML_ERR_POLICY);
    rec_release(&a);
    rec_release(&b);
    xml_parser_pool_free(pool);
}

static void compact_refused_inside_callback(void **state)
{
    (void)state;
    /* a stanza callback that compacts must not pull the parser away from
     * under the feed loop */
    struct rec r;
    rec_init(&r, NULL);
    r.compact_in_cb = true;
    static const char in[] = HDR "<a/><b/> ";
    assert_int_equal(xml_stream_feed(r.xs, in, strlen(in)), 0);
    assert_int_equal(r.stanzas, 2);
    assert_int_equal(r.compacted_in_cb, 0);
    assert_true(xml_stream_compact(r.xs));      /* but fine afterwards */
    rec_release(&r);
}

static void close_and_after(void **state)
{
    (void)state;
    static const char in1[] = HDR "<a/></stream:stream><junk";
    char *got = run(in1, strlen(in1), NULL, FEED_WHOLE, NULL);
    assert_string_equal(got, OPEN_LINE "stanza <a/>\nclose\n");
    free(got);
    struct rec r;
    rec_init(&r, NULL);
    static const char in[] = HDR "</stream:stream>";
    assert_int_equal(xml_stream_feed(r.xs, in, strlen(in)), 0);
    assert_false(xml_stream_has_parser(r.xs));
    assert_int_equal(xml_stream_feed(r.xs, "more", 4), 0);
    assert_string_equal(r.log.data, OPEN_LINE "close\n");
    rec_release(&r);
}

/* --- pausing ------------------------------------------------------------- */

/* Drives a paused stream the way c2s does: the input arrives in two reads
 * (split at 'at'), unconsumed bytes stay in a buffer, and after a pause
 * the "asynchronous step" ends at once: the stream is reset (SASL success)
 * when 'restart', and the kept bytes are fed again.  Checks that a feed
 * that paused delivered nothing after the pausing event. */
static char *run_paused(const char *s, size_t len, size_t at,
                        const struct xml_limits *lim, const char *pause_on,
                        bool restart, unsigned *pauses)
{
    struct rec r;
    rec_init(&r, lim);
    r.pause_on = pause_on;
    struct buf pending = BUF_INIT;
    size_t cuts[2] = { at, len };
    size_t from = 0;
    for (int k = 0; k < 2; k++) {
        buf_append(&pending, s + from, cuts[k] - from);
        from = cuts[k];
        while (pending.len > 0) {
            unsigned before = r.pauses;
            size_t used = 0;
            int rc = xml_stream_feed_some(r.xs, pending.data, pending.len, &used);
            if (rc < 0) {
                buf_clear(&pending);
                break;
            }
            assert_true(used <= pending.len);
            if (r.pauses != before) {
                /* nothing after the pausing event was delivered */
                assert_int_equal(r.log.len, r.log_at_pause);
                assert_false(xml_stream_has_parser(r.xs));
                if (restart)
                    xml_stream_reset(r.xs);
            } else {
                assert_int_equal(used, pending.len);
            }
            memmove(pending.data, pending.data + used, pending.len - used);
            pending.len -= used;
        }
    }
    buf_release(&pending);
    *pauses = r.pauses;
    char *out = buf_detach(&r.log);
    rec_release(&r);
    return out;
}

/* Whatever the read boundaries, pausing changes nothing in what is
 * reported, only when: the events after the pause come with a later feed,
 * parsed by a re-primed parser (SASL failure or challenge: the old stream
 * goes on). */
static void pause_resumes_where_it_stopped(void **state)
{
    (void)state;
    static const char in[] =
        HDR "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
        "mechanism='PLAIN'>AGEAYg==</auth>"
        "<message to='a@b'><body>h\xc3\xa9 &amp; \xf0\x9f\x8e\x89</body></message> "
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><iq type='set' id='b1'/>"
        "</stream:stream>";
    size_t len = strlen(in);
    char *want = run(in, len, NULL, FEED_WHOLE, NULL);
    assert_null(strstr(want, "error"));
    assert_non_null(strstr(want, "close\n"));
    for (size_t at = 0; at <= len; at++) {
        unsigned pauses;
        char *got = run_paused(in, len, at, NULL, "auth", false, &pauses);
        if (strcmp(got, want) != 0)
            fail_msg("split at %zu:\n%s\nwant:\n%s", at, got, want);
        assert_int_equal(pauses, 2);
        free(got);
    }
    free(want);
}

/* SASL success: the bytes pipelined behind <auth/> are the new stream's
 * header and its first stanza (XEP-0305 style), whatever the splits. */
static void pause_then_restart(void **state)
{
    (void)state;
    static const char in[] =
        HDR "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AGEAYg==</auth>"
        "<stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='other.org' "
        "version='1.0'><iq type='set' id='b1'><bind "
        "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
    static const char want[] =
        OPEN_LINE
        "stanza <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AGEAYg==</auth>\n"
        "open {http://etherx.jabber.org/streams}stream dns=jabber:client "
        "to=other.org version=1.0\n"
        "stanza <iq type='set' id='b1'><bind "
        "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>\n";
    size_t len = strlen(in);
    for (size_t at = 0; at <= len; at++) {
        unsigned pauses;
        char *got = run_paused(in, len, at, NULL, "auth", true, &pauses);
        if (strcmp(got, want) != 0)
            fail_msg("split at %zu:\n%s\nwant:\n%s", at, got, want);
        assert_int_equal(pauses, 1);
        free(got);
    }

    /* without the pause the pipelined header is read by the old document,
     * where it is an error (not a stanza that never ends) */
    struct rec r;
    rec_init(&r, NULL);
    assert_int_equal(xml_stream_feed(r.xs, in, len), -1);
    assert_int_equal(r.last_err, XML_ERR_NOT_WELL_FORMED);
    assert_int_equal(r.stanzas, 1);
    rec_release(&r);
}

/* The bytes consumed end exactly with the pausing event, including a
 * partial stanza after it and a pause in open(). */
static void pause_reports_bytes_used(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, NULL);
    r.pause_on = "auth";
    static const char a[] = HDR " <auth/>\n<message><bo";
    size_t used = 0;
    assert_int_equal(xml_stream_feed_some(r.xs, a, strlen(a), &used), 0);
    assert_int_equal(used, strlen(HDR " <auth/>"));
    assert_int_equal(r.pauses, 1);
    assert_string_equal(r.log.data, OPEN_LINE "stanza <auth/>\n");
    /* paused: no parser held, nothing to compact */
    assert_false(xml_stream_has_parser(r.xs));
    assert_false(xml_stream_compact(r.xs));
    /* the namespace declarations of the root still apply */
    assert_string_equal(xml_stream_default_ns(r.xs), XML_NS_CLIENT);
    static const char b[] = "\n<message><body>x</body></message>";
    assert_int_equal(xml_stream_feed_some(r.xs, b, strlen(b), &used), 0);
    assert_int_equal(used, strlen(b));
    assert_int_equal(r.stanzas, 2);
    assert_non_null(strstr(r.log.data, "stanza <message><body>x</body></message>\n"));
    assert_true(xml_stream_compact(r.xs));
    rec_release(&r);

    /* in open(): the stanzas wait for the next feed */
    rec_init(&r, NULL);
    r.pause_on_open = true;
    static const char c[] = HDR "<a/><b/>";
    assert_int_equal(xml_stream_feed_some(r.xs, c, strlen(c), &used), 0);
    assert_int_equal(used, strlen(HDR));
    assert_int_equal(r.stanzas, 0);
    r.pause_on_open = false;
    assert_int_equal(xml_stream_feed_some(r.xs, c + used, strlen(c) - used, &used), 0);
    assert_int_equal(used, strlen("<a/><b/>"));
    assert_string_equal(r.log.data, OPEN_LINE "stanza <a/>\nstanza <b/>\n");
    rec_release(&r);

    /* a pause outside a callback does nothing */
    rec_init(&r, NULL);
    static const char d[] = HDR "<a/><z/></stream:stream>";
    xml_stream_pause(r.xs);
    assert_int_equal(xml_stream_feed_some(r.xs, d, strlen(HDR), &used), 0);
    assert_int_equal(used, strlen(HDR));
    xml_stream_pause(r.xs);
    assert_int_equal(xml_stream_feed_some(r.xs, d + used, strlen(d) - used, &used), 0);
    assert_int_equal(used, strlen(d) - strlen(HDR));
    assert_string_equal(r.log.data, OPEN_LINE "stanza <a/>\nstanza <z/>\nclose\n");
    rec_release(&r);

    /* xml_stream_feed() parses on after a pause, losing nothing */
    rec_init(&r, NULL);
    r.pause_on = "a";
    static const char e[] = HDR "<a/><b/><a/><c>t</c>";
    assert_int_equal(xml_stream_feed(r.xs, e, strlen(e)), 0);
    assert_int_equal(r.pauses, 2);
    assert_string_equal(r.log.data, OPEN_LINE "stanza <a/>\nstanza <b/>\n"
                        "stanza <a/>\nstanza <c>t</c>\n");
    rec_release(&r);
}

/* The limits are exact for the stanza after a pause (its bytes counted
 * from the re-primed parser), and errors after a pause are reported. */
static void pause_keeps_limits_exact(void **state)
{
    (void)state;
    char *st = stanza_of(200);
    struct buf in = BUF_INIT;
    buf_puts(&in, HDR "<auth/>");
    buf_puts(&in, st);
    for (size_t limit = 199; limit <= 200; limit++) {
        struct xml_limits lim = { limit, 0, 0 };
        unsigned pauses;
        char *got = run_paused(in.data, in.len, in.len, &lim, "auth", false, &pauses);
        assert_int_equal(pauses, 1);
        if (limit == 200)
            assert_non_null(strstr(got, "stanza <message>"));
        else
            assert_non_null(strstr(got, "stanza <auth/>\nerror 3 "));
        free(got);
    }
    buf_release(&in);
    free(st);

    static const char bad[] = HDR "<auth/><a><!-- c --></a>";
    unsigned pauses;
    char *got = run_paused(bad, strlen(bad), strlen(bad), NULL, "auth", false, &pauses);
    assert_non_null(strstr(got, "stanza <auth/>\nerror 2 "));
    free(got);
}

/* parse -> serialize -> parse gives the same tree (as text) */
static void round_trip(void **state)
{
    (void)state;
    static const char in[] = HDR
        "<message xmlns:a='urn:a' a:x='&apos;&quot;&lt;&amp;&#10;&#9;' "
        "to='a@b' xml:lang='de'>"
        "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2&#13;\xe2\x82\xac</body>"
        "<x xmlns='urn:x'><y/><z xmlns='jabber:client'/>t</x>"
        "<e xmlns=''/></message>";
    char *first = run(in, strlen(in), NULL, FEED_WHOLE, NULL);
    const char *ser = strstr(first, "stanza ");
    assert_non_null(ser);
    ser += 7;
    size_t ser_len = strcspn(ser, "\n");
    struct buf again = BUF_INIT;
    buf_puts(&again, HDR);
    buf_append(&again, ser, ser_len);
    char *second = run(again.data, again.len, NULL, FEED_WHOLE, NULL);
    assert_string_equal(first, second);
    assert_null(strstr(first, " a:x"));
    assert_non_null(strstr(first, "ns1:x='&apos;&quot;&lt;&amp;&#10;&#9;'"));
    assert_non_null(strstr(first, "&#13;"));
    buf_release(&again);
    free(first);
    free(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(splits_with_utf8),
        cmocka_unit_test(text_is_one_node_whatever_the_split),
        cmocka_unit_test(namespaces),
        cmocka_unit_test(restricted_xml),
        cmocka_unit_test(not_well_formed),
        cmocka_unit_test(invalid_namespace),
        cmocka_unit_test(limit_stanza_bytes),
        cmocka_unit_test(limit_cuts_off_while_feeding),
        cmocka_unit_test(limit_depth_and_attrs),
        cmocka_unit_test(reset_inside_callback),
        cmocka_unit_test(reset_keeps_limits_exact),
        cmocka_unit_test(compact_is_transparent),
        cmocka_unit_test(compact_refused_inside_callback),
        cmocka_unit_test(pooled_parsers_are_transparent),
        cmocka_unit_test(parked_parsers_move_between_streams),
        cmocka_unit_test(parked_parsers_keep_the_limits),
        cmocka_unit_test(new_streams_reset_parked_parsers),
        cmocka_unit_test(close_and_after),
        cmocka_unit_test(pause_resumes_where_it_stopped),
        cmocka_unit_test(pause_then_restart),
        cmocka_unit_test(pause_reports_bytes_used),
        cmocka_unit_test(pause_keeps_limits_exact),
        cmocka_unit_test(round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
