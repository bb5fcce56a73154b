/* test_frame.c - the shared serialization of fanned-out stanzas (issue 6,
 * XEP-0045 groupchat fan-out): the head/tail split around 'to', the
 * escaping of the inserted 'to' (XML 1.0 §2.4/§3.1 attribute values), a
 * 'to' already on the stanza being left out, and that every recipient's
 * bytes parse back (RFC 6120 §4 stream) into the stanza addressed to it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "stream/frame.h"

static const struct {
    const char *ns;             /* the stanza's namespace */
    const char *to_before;      /* 'to' on the stanza given (left out) */
    const char *body;           /* NULL: no child */
    const char *to;             /* the recipient */
    const char *head;           /* expected */
    const char *bytes;          /* expected frame_write() */
} cases[] = {
    { XML_NS_CLIENT, NULL, "hi", "a@b/c", "<message",
      "<message to='a@b/c' from='room@conf.b/nick' type='groupchat'><body>hi</body></message>" },
    { XML_NS_CLIENT, "old@b/x", "hi", "a@b/c", "<message",
      "<message to='a@b/c' from='room@conf.b/nick' type='groupchat'><body>hi</body></message>" },
    { XML_NS_CLIENT, NULL, NULL, "a@b/c", "<message",
      "<message to='a@b/c' from='room@conf.b/nick' type='groupchat'/>" },
    /* resources may hold any character: all five XML specials escaped */
    { XML_NS_CLIENT, NULL, "<&>", "a@b/'q\"&<>", "<message",
      "<message to='a@b/&apos;q&quot;&amp;&lt;&gt;' from='room@conf.b/nick' "
      "type='groupchat'><body>&lt;&amp;&gt;</body></message>" },
    /* a namespace other than the stream's: xmlns lands in the tail */
    { "jabber:server", NULL, "x", "a@b", "<message",
      "<message to='a@b' xmlns='jabber:server' from='room@conf.b/nick' "
      "type='groupchat'><body xmlns='jabber:client'>x</body></message>" },
};

static struct stanza *make(size_t i)
{
    struct stanza *st = stanza_new(cases[i].ns, "message");
    if (cases[i].to_before)
        xml_set_attr(st->arena, st->root, "to", cases[i].to_before);
    xml_set_attr(st->arena, st->root, "from", "room@conf.b/nick");
    xml_set_attr(st->arena, st->root, "type", "groupchat");
    if (cases[i].body)
        xml_add_text_child(st->arena, st->root, XML_NS_CLIENT, "body", cases[i].body);
    return st;
}

static void split_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stanza *st = make(i);
        struct frame *f = frame_new(st);
        /* the frame owns a copy: changing the original changes nothing */
        xml_set_attr(st->arena, st->root, "type", "chat");
        stanza_unref(st);
        assert_int_equal(f->split, strlen(cases[i].head));
        assert_memory_equal(f->data, cases[i].head, f->split);
        assert_null(strstr(f->data, " to="));
        struct buf b = BUF_INIT;
        frame_write(f, cases[i].to, &b);
        assert_int_equal(b.len, strlen(cases[i].bytes));
        assert_memory_equal(b.data, cases[i].bytes, b.len);
        buf_release(&b);
        frame_unref(f);
    }
}

/* --- parse-back: what a client reads is the stanza addressed to it ------ */

struct got {
    struct stanza *st;
    int errors;
};

static void p_open(void *ud, const struct xml_node *root)
{
    (void)ud;
    (void)root;
}

static void p_stanza(void *ud, struct stanza *st)
{
    struct got *g = ud;
    if (g->st)
        stanza_unref(g->st);
    g->st = st;
}

static void p_close(void *ud)
{
    (void)ud;
}

static void p_error(void *ud, enum xml_error err, const char *text)
{
    struct got *g = ud;
    (void)err;
    (void)text;
    g->errors++;
}

static const struct xml_stream_cb pcb = { p_open, p_stanza, p_close, p_error };

static void parse_back(void **state)
{
    (void)state;
    static const char hdr[] = "<stream:stream xmlns='jabber:client' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>";
    const struct xml_limits lim = { 65536, 32, 32 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stanza *st = make(i);
        struct frame *f = frame_new(st);
        struct got g = { 0 };
        struct xml_stream *xs = xml_stream_new(&lim, &pcb, &g);
        assert_int_equal(xml_stream_feed(xs, hdr, strlen(hdr)), 0);
        struct buf b = BUF_INIT;
        frame_write(f, cases[i].to, &b);
        assert_int_equal(xml_stream_feed(xs, b.data, b.len), 0);
        assert_int_equal(g.errors, 0);
        assert_non_null(g.st);
        assert_string_equal(xml_attr(g.st->root, "to"), cases[i].to);
        assert_string_equal(g.st->root->ns, cases[i].ns);
        assert_string_equal(xml_attr(g.st->root, "type"), "groupchat");
        /* the rebuilt stanza (SM re-routing) says the same */
        struct stanza *r = frame_stanza(f, cases[i].to);
        assert_string_equal(xml_attr(r->root, "to"), cases[i].to);
        struct buf b1 = BUF_INIT, b2 = BUF_INIT;
        xml_serialize(r->root, XML_NS_CLIENT, &b1);
        xml_serialize(g.st->root, XML_NS_CLIENT, &b2);
        assert_int_equal(b1.len, b2.len);
        assert_memory_equal(b1.data, b2.data, b1.len);
        buf_release(&b1);
        buf_release(&b2);
        stanza_unref(r);
        buf_release(&b);
        stanza_unref(g.st);
        xml_stream_free(xs);
        frame_unref(f);
        stanza_unref(st);
    }
}

static void refcount(void **state)
{
    (void)state;
    struct stanza *st = make(0);
    struct frame *f = frame_new(st);
    stanza_unref(st);
    assert_ptr_equal(frame_ref(f), f);
    assert_int_equal(f->refs, 2);
    frame_unref(f);
    assert_int_equal(f->refs, 1);
    frame_unref(f);             /* ASan: nothing leaks, nothing freed twice */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_table),
        cmocka_unit_test(parse_back),
        cmocka_unit_test(refcount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
