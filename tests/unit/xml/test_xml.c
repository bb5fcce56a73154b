/*
 * test_xml.c - element trees, the serializer and stanzas (src/xml/xml.c).
 *
 * Serializer cases are a table of (tree builder, parent_ns, expected text);
 * they pin the escaping of RFC 6120 §11 / XML 1.0 §2.4 and the rule that
 * xmlns= appears only where an element's namespace differs from its
 * parent's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/mem.h"
#include "xml/xml.h"

static char *ser(const struct xml_node *n, const char *parent_ns)
{
    struct buf b = BUF_INIT;
    xml_serialize(n, parent_ns, &b);
    return buf_detach(&b);
}

/* --- building and reading ---------------------------------------------- */

static void build_and_read(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct xml_node *iq = xml_new(a, XML_NS_CLIENT, "iq");
    xml_set_attr(a, iq, "type", "get");
    xml_set_attr(a, iq, "id", "1");
    xml_set_attr(a, iq, "to", "x@y");
    xml_set_attr(a, iq, "type", "result");     /* replace keeps position */
    xml_set_attr(a, iq, "id", NULL);           /* remove */
    xml_set_attr(a, iq, "nope", NULL);         /* remove absent: no-op */
    assert_string_equal(xml_attr(iq, "type"), "result");
    assert_null(xml_attr(iq, "id"));
    assert_string_equal(iq->attrs->name, "type");
    assert_string_equal(iq->attrs->next->name, "to");
    assert_null(iq->attrs->next->next);

    struct xml_node *q = xml_add_child(a, iq, "jabber:iq:roster", "query");
    struct xml_node *i1 = xml_add_child(a, q, NULL, "item");
    xml_add_text(a, q, "between", 7);
    struct xml_node *i2 = xml_add_child(a, q, NULL, "item");
    struct xml_node *g = xml_add_child(a, q, "urn:other", "group");
    assert_string_equal(i1->ns, "jabber:iq:roster");
    assert_ptr_equal(i1->ns, q->ns);            /* inherited, shared */
    assert_ptr_equal(i1->parent, q);
    assert_ptr_equal(q->last, g);

    assert_ptr_equal(xml_child(iq, "jabber:iq:roster", "query"), q);
    assert_null(xml_child(iq, XML_NS_CLIENT, "query"));
    assert_ptr_equal(xml_child(q, NULL, "item"), i1);
    assert_ptr_equal(xml_next(i1, NULL, "item"), i2);   /* skips text */
    assert_null(xml_next(i2, NULL, "item"));
    assert_ptr_equal(xml_next(i2, "urn:other", NULL), g);
    assert_ptr_equal(xml_child(q, "urn:other", NULL), g);
    assert_int_equal(xml_child_count(q), 3);
    assert_int_equal(xml_child_count(i1), 0);
    assert_true(xml_is(q, "jabber:iq:roster", "query"));
    assert_false(xml_is(q, "jabber:iq:roster", "item"));
    assert_false(xml_is(NULL, NULL, NULL));

    xml_add_text(a, i1, "ab", 2);
    xml_add_text(a, i1, "cd", 2);               /* not merged */
    assert_ptr_not_equal(i1->children, i1->last);
    assert_string_equal(xml_text(a, i1), "abcd");
    assert_string_equal(xml_text(a, i2), "");
    assert_string_equal(xml_text(a, q), "between");

    struct xml_node *b = xml_add_text_child(a, iq, NULL, "body", "hi");
    assert_string_equal(b->ns, XML_NS_CLIENT);
    assert_string_equal(xml_text(a, b), "hi");
    struct xml_node *e = xml_add_text_child(a, iq, "urn:e", "empty", "");
    assert_null(e->children);
    assert_string_equal(e->ns, "urn:e");

    /* xml_new with NULL ns gives "" */
    struct xml_node *bare = xml_new(a, NULL, "x");
    assert_string_equal(bare->ns, "");
    arena_free(a);
}

/* Appending must stay O(1): 200k siblings would take minutes if each
 * append walked the list. */
static void many_siblings(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct xml_node *r = xml_new(a, "urn:r", "r");
    for (int i = 0; i < 200000; i++)
        xml_add_child(a, r, NULL, "i");
    assert_int_equal(xml_child_count(r), 200000);
    struct buf b = BUF_INIT;
    xml_serialize(r, "urn:r", &b);
    assert_int_equal(b.len, strlen("<r>") + 200000 * 4 + strlen("</r>"));
    buf_release(&b);
    arena_free(a);
}

/* Walks are iterative: a very deep tree must not overflow the stack. */
static void deep_tree(void **state)
{
    (void)state;
    enum { DEPTH = 200000 };
    struct arena *a = arena_new(0);
    struct xml_node *r = xml_new(a, "", "d");
    struct xml_node *n = r;
    for (int i = 0; i < DEPTH; i++)
        n = xml_add_child(a, n, NULL, "d");
    xml_add_text(a, n, "x", 1);
    struct arena *a2 = arena_new(0);
    struct xml_node *c = xml_copy(a2, r);
    arena_free(a);
    struct buf b = BUF_INIT;
    xml_serialize(c, "", &b);
    assert_int_equal(b.len, (size_t)DEPTH * 7 + 3 + 1 + 4);
    assert_memory_equal(b.data + DEPTH * 3 + 3, "x</d>", 5);
    buf_release(&b);
    arena_free(a2);
}

/* --- serializing ------------------------------------------------------- */

static void escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *text;
        const char *attr;
    } cases[] = {
        { "plain", "plain", "plain" },
        { "", "", "" },
        { "a&b<c>d", "a&amp;b&lt;c&gt;d", "a&amp;b&lt;c&gt;d" },
        { "it's \"q\"", "it's \"q\"", "it&apos;s &quot;q&quot;" },
        { "]]>", "]]&gt;", "]]&gt;" },
        { "l1\nl2\tt\r", "l1\nl2\tt&#13;", "l1&#10;l2&#9;t&#13;" },
        { "&amp;", "&amp;amp;", "&amp;amp;" },
        { "\xc3\xa9\xf0\x9f\x8e\x89", "\xc3\xa9\xf0\x9f\x8e\x89",
          "\xc3\xa9\xf0\x9f\x8e\x89" },
        { "<<&&>>", "&lt;&lt;&amp;&amp;&gt;&gt;", "&lt;&lt;&amp;&amp;&gt;&gt;" },
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        struct buf b = BUF_INIT;
        buf_puts(&b, "[");
        xml_escape_text(&b, cases[i].in, strlen(cases[i].in));
        buf_puts(&b, "]");
        char want[128];
        snprintf(want, sizeof(want), "[%s]", cases[i].text);
        assert_string_equal(b.data, want);
        buf_clear(&b);
        xml_escape_attr(&b, cases[i].in, strlen(cases[i].in));
        assert_string_equal(b.data ? b.data : "", cases[i].attr);
        buf_release(&b);
    }
    /* embedded NUL-free length handling: only 'len' bytes are read */
    struct buf b = BUF_INIT;
    xml_escape_text(&b, "a<bc", 2);
    assert_string_equal(b.data, "a&lt;");
    buf_release(&b);
}

static struct xml_node *t_message(struct arena *a)
{
    struct xml_node *m = xml_new(a, XML_NS_CLIENT, "message");
    xml_set_attr(a, m, "to", "a@b");
    xml_set_attr(a, m, "type", "chat");
    xml_add_text_child(a, m, NULL, "body", "1 < 2 & 'x'");
    return m;
}

static struct xml_node *t_nested_ns(struct arena *a)
{
    struct xml_node *iq = xml_new(a, XML_NS_CLIENT, "iq");
    struct xml_node *q = xml_add_child(a, iq, "jabber:iq:roster", "query");
    struct xml_node *it = xml_add_child(a, q, NULL, "item");
    xml_set_attr(a, it, "jid", "c@d");
    xml_add_child(a, it, "urn:x", "x");
    xml_add_child(a, q, XML_NS_CLIENT, "back");
    xml_add_child(a, iq, "", "nons");
    return iq;
}

static struct xml_node *t_attr_ns(struct arena *a)
{
    struct xml_node *m = xml_new(a, XML_NS_CLIENT, "m");
    xml_set_attr(a, m, "xml:lang", "en");
    xml_set_attr(a, m, "urn:a x", "1");
    xml_set_attr(a, m, "urn:b y", "<'>");
    xml_set_attr(a, m, XML_NS_XML " space", "preserve");
    xml_set_attr(a, m, "plain", "p");
    return m;
}

static struct xml_node *t_text_only(struct arena *a)
{
    struct xml_node *m = xml_new(a, "urn:q", "q");
    xml_add_text(a, m, "a", 1);
    xml_add_text(a, m, "&", 1);
    return m;
}

static struct xml_node *t_subtree(struct arena *a)
{
    /* serializing a subtree: scope comes from parent_ns, not ->parent */
    struct xml_node *r = xml_new(a, "urn:outer", "r");
    return xml_add_child(a, r, NULL, "inner");
}

static void serialize_table(void **state)
{
    (void)state;
    static const struct {
        struct xml_node *(*build)(struct arena *);
        const char *parent_ns;
        const char *want;
    } cases[] = {
        { t_message, XML_NS_CLIENT,
          "<message to='a@b' type='chat'><body>1 &lt; 2 &amp; 'x'</body>"
          "</message>" },
        { t_message, XML_NS_SERVER,
          "<message xmlns='jabber:client' to='a@b' type='chat'><body>"
          "1 &lt; 2 &amp; 'x'</body></message>" },
        { t_message, NULL,
          "<message xmlns='jabber:client' to='a@b' type='chat'><body>"
          "1 &lt; 2 &amp; 'x'</body></message>" },
        { t_nested_ns, XML_NS_CLIENT,
          "<iq><query xmlns='jabber:iq:roster'><item jid='c@d'>"
          "<x xmlns='urn:x'/></item><back xmlns='jabber:client'/></query>"
          "<nons xmlns=''/></iq>" },
        { t_attr_ns, XML_NS_CLIENT,
          "<m xml:lang='en' xmlns:ns1='urn:a' ns1:x='1' xmlns:ns2='urn:b' "
          "ns2:y='&lt;&apos;&gt;' xml:space='preserve' plain='p'/>" },
        { t_text_only, "urn:q", "<q>a&amp;</q>" },
        { t_subtree, "urn:outer", "<inner/>" },
        { t_subtree, "", "<inner xmlns='urn:outer'/>" },
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        struct arena *a = arena_new(0);
        struct xml_node *n = cases[i].build(a);
        struct buf b = BUF_INIT;
        buf_puts(&b, "pre:");               /* appends, never overwrites */
        xml_serialize(n, cases[i].parent_ns, &b);
        if (strcmp(b.data + 4, cases[i].want) != 0)
            fail_msg("case %zu:\n got %s\nwant %s", i, b.data + 4,
                     cases[i].want);
        assert_memory_equal(b.data, "pre:", 4);
        buf_release(&b);
        arena_free(a);
    }
}

static void serialize_text_node(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct xml_node *m = xml_new(a, "", "m");
    xml_add_text(a, m, "x<y", 3);
    char *s = ser(m->children, "");
    assert_string_equal(s, "x&lt;y");
    free(s);
    arena_free(a);
}

/* --- copy and stanzas -------------------------------------------------- */

static void copy_is_deep(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct xml_node *orig = t_nested_ns(a);
    xml_set_attr(a, orig, "id", "i1");
    xml_add_text(a, orig, "tail", 4);
    char *before = ser(orig, XML_NS_CLIENT);

    struct arena *b = arena_new(0);
    struct xml_node *c = xml_copy(b, orig);
    char *copied = ser(c, XML_NS_CLIENT);
    assert_string_equal(copied, before);
    assert_null(c->parent);
    assert_ptr_not_equal(c->attrs, orig->attrs);
    assert_ptr_not_equal(c->attrs->value, orig->attrs->value);
    assert_ptr_not_equal(c->children, orig->children);
    assert_ptr_equal(c->last->parent, c);
    assert_int_equal(c->last->kind, XML_TEXT);

    /* changing the copy leaves the original alone */
    xml_set_attr(b, c, "id", "i2");
    xml_add_child(b, xml_child(c, NULL, "query"), NULL, "new");
    char *after = ser(orig, XML_NS_CLIENT);
    assert_string_equal(after, before);
    /* and the copy survives the original's arena */
    arena_free(a);
    char *still = ser(c, XML_NS_CLIENT);
    assert_non_null(strstr(still, "<new/>"));
    assert_non_null(strstr(still, "id='i2'"));
    free(before);
    free(copied);
    free(after);
    free(still);
    arena_free(b);
}

static void stanza_refcount_and_copy(void **state)
{
    (void)state;
    struct stanza *s = stanza_new(XML_NS_CLIENT, "presence");
    assert_int_equal(s->refs, 1);
    assert_true(xml_is(s->root, XML_NS_CLIENT, "presence"));
    xml_set_attr(s->arena, s->root, "type", "unavailable");
    assert_ptr_equal(stanza_ref(s), s);
    assert_int_equal(s->refs, 2);

    struct stanza *c = stanza_copy(s);
    assert_int_equal(c->refs, 1);
    assert_ptr_not_equal(c->arena, s->arena);
    assert_ptr_not_equal(c->root, s->root);
    xml_set_attr(c->arena, c->root, "type", NULL);
    assert_string_equal(xml_attr(s->root, "type"), "unavailable");
    assert_null(xml_attr(c->root, "type"));

    stanza_unref(s);
    assert_int_equal(s->refs, 1);
    stanza_unref(s);                    /* freed: ASan checks no leak */
    stanza_unref(c);
    stanza_unref(NULL);

    struct arena *a = arena_new(0);
    struct xml_node *r = xml_new(a, "urn:w", "w");
    struct stanza *w = stanza_wrap(a, r);
    assert_ptr_equal(w->arena, a);
    assert_ptr_equal(w->root, r);
    assert_int_equal(w->refs, 1);
    stanza_unref(w);                    /* frees 'a' */
}

/* An unref below zero must abort (PL_ASSERT), not corrupt memory. */
static void unref_below_zero_aborts(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* silence the expected assertion message */
        if (!freopen("/dev/null", "w", stderr))
            _exit(2);
        struct stanza fake = { .refs = 0 };
        stanza_unref(&fake);
        _exit(0);                       /* not reached if it works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_and_read),
        cmocka_unit_test(many_siblings),
        cmocka_unit_test(deep_tree),
        cmocka_unit_test(escaping),
        cmocka_unit_test(serialize_table),
        cmocka_unit_test(serialize_text_node),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(stanza_refcount_and_copy),
        cmocka_unit_test(unref_below_zero_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
