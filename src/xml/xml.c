/*
 * xml.c - element trees, the serializer and reference-counted stanzas.
 *
 * Implements the tree half of xml.h: every node, attribute and string of a
 * tree comes from one arena (ARCHITECTURE.md principle 3), so building a
 * stanza costs a few chunk allocations and freeing it one call.  The
 * serializer follows RFC 6120 §11 (XML usage: namespaces, escaping; no
 * comments, PIs or DTDs are ever produced) and writes straight into the
 * caller's struct buf.  Tree walks (copy, serialize) are iterative so that
 * a deep tree built in code cannot overflow the C stack.
 */
#include "xml/xml.h"

#include <string.h>

#include "core/mem.h"

/* Default first chunk of a stanza arena: a typical stanza with its tree
 * fits, so building it needs one malloc() beside the arena header. */
#define STANZA_ARENA_FIRST 1024

static struct xml_node *node_new(struct arena *a, enum xml_node_kind kind)
{
    struct xml_node *n = arena_zalloc(a, sizeof(*n));
    n->kind = kind;
    return n;
}

struct xml_node *xml_new(struct arena *a, const char *ns, const char *name)
{
    struct xml_node *n = node_new(a, XML_ELEMENT);
    n->name = arena_strdup(a, name);
    n->ns = (ns && *ns) ? arena_strdup(a, ns) : "";
    return n;
}

void xml_append(struct xml_node *parent, struct xml_node *child)
{
    child->parent = parent;
    child->next = NULL;
    /* 'last' keeps appends O(1): a stanza with thousands of siblings
     * (a roster, a MAM page) must not cost a quadratic walk */
    if (parent->last)
        parent->last->next = child;
    else
        parent->children = child;
    parent->last = child;
}

struct xml_node *xml_add_child(struct arena *a, struct xml_node *parent,
                               const char *ns, const char *name)
{
    struct xml_node *n = node_new(a, XML_ELEMENT);
    n->name = arena_strdup(a, name);
    /* share the parent's string when the namespace is inherited: most
     * children are, and it saves a copy per node */
    if (!ns || strcmp(ns, parent->ns) == 0)
        n->ns = parent->ns;
    else
        n->ns = *ns ? arena_strdup(a, ns) : "";
    xml_append(parent, n);
    return n;
}

void xml_add_text(struct arena *a, struct xml_node *parent,
                  const char *text, size_t len)
{
    struct xml_node *t = node_new(a, XML_TEXT);
    t->text = arena_strndup(a, text, len);
    t->text_len = len;
    xml_append(parent, t);
}

void xml_set_attr(struct arena *a, struct xml_node *n,
                  const char *name, const char *value)
{
    struct xml_attr **pp = &n->attrs;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) != 0)
            continue;
        if (value)
            (*pp)->value = arena_strdup(a, value);
        else
            *pp = (*pp)->next;  /* the arena reclaims it with the tree */
        return;
    }
    if (!value)
        return;
    struct xml_attr *at = arena_alloc(a, sizeof(*at));
    at->name = arena_strdup(a, name);
    at->value = arena_strdup(a, value);
    at->next = NULL;
    *pp = at;                   /* appended: document order is kept */
}

const char *xml_attr(const struct xml_node *n, const char *name)
{
    for (const struct xml_attr *at = n->attrs; at; at = at->next)
        if (strcmp(at->name, name) == 0)
            return at->value;
    return NULL;
}

static bool matches(const struct xml_node *n, const char *ns,
                    const char *name)
{
    return n->kind == XML_ELEMENT &&
           (!name || strcmp(n->name, name) == 0) &&
           (!ns || strcmp(n->ns, ns) == 0);
}

bool xml_is(const struct xml_node *n, const char *ns, const char *name)
{
    return n && matches(n, ns, name);
}

struct xml_node *xml_child(const struct xml_node *n, const char *ns,
                           const char *name)
{
    for (struct xml_node *c = n->children; c; c = c->next)
        if (matches(c, ns, name))
            return c;
    return NULL;
}

struct xml_node *xml_next(const struct xml_node *prev, const char *ns,
                          const char *name)
{
    for (struct xml_node *c = prev->next; c; c = c->next)
        if (matches(c, ns, name))
            return c;
    return NULL;
}

size_t xml_child_count(const struct xml_node *n)
{
    size_t k = 0;
    for (const struct xml_node *c = n->children; c; c = c->next)
        k += c->kind == XML_ELEMENT;
    return k;
}

const char *xml_text(struct arena *a, const struct xml_node *n)
{
    size_t len = 0;
    for (const struct xml_node *c = n->children; c; c = c->next)
        if (c->kind == XML_TEXT)
            len += c->text_len;
    char *s = arena_alloc(a, len + 1);
    char *p = s;
    for (const struct xml_node *c = n->children; c; c = c->next) {
        if (c->kind == XML_TEXT) {
            memcpy(p, c->text, c->text_len);
            p += c->text_len;
        }
    }
    *p = '\0';
    return s;
}

/* Copies one node without its children and appends it under 'parent'
 * (when not NULL). */
static struct xml_node *copy_one(struct arena *a, const struct xml_node *s,
                                 struct xml_node *parent)
{
    struct xml_node *d = node_new(a, s->kind);
    if (s->kind == XML_TEXT) {
        d->text = arena_strndup(a, s->text, s->text_len);
        d->text_len = s->text_len;
    } else {
        d->name = arena_strdup(a, s->name);
        const char *ns = s->ns ? s->ns : "";
        if (parent && strcmp(ns, parent->ns) == 0)
            d->ns = parent->ns;
        else
            d->ns = *ns ? arena_strdup(a, ns) : "";
        struct xml_attr **tail = &d->attrs;
        for (const struct xml_attr *at = s->attrs; at; at = at->next) {
            struct xml_attr *c = arena_alloc(a, sizeof(*c));
            c->name = arena_strdup(a, at->name);
            c->value = arena_strdup(a, at->value);
            c->next = NULL;
            *tail = c;
            tail = &c->next;
        }
    }
    if (parent)
        xml_append(parent, d);
    return d;
}

struct xml_node *xml_copy(struct arena *a, const struct xml_node *n)
{
    struct xml_node *root = copy_one(a, n, NULL);
    const struct xml_node *s = n;   /* source cursor */
    struct xml_node *d = root;      /* its copy */
    for (;;) {
        if (s->children) {
            s = s->children;
            d = copy_one(a, s, d);
            continue;
        }
        for (;;) {
            if (s == n)
                return root;
            if (s->next) {
                s = s->next;
                d = copy_one(a, s, d->parent);
                break;
            }
            s = s->parent;
            d = d->parent;
        }
    }
}

struct xml_node *xml_add_text_child(struct arena *a, struct xml_node *parent,
                                    const char *ns, const char *name,
                                    const char *text)
{
    struct xml_node *n = xml_add_child(a, parent, ns, name);
    if (text && *text)
        xml_add_text(a, n, text, strlen(text));
    return n;
}

/* --- serializing -------------------------------------------------------- */

/* One pass, copying unescaped runs in bulk.  Besides the mandatory & < >
 * (and ' " in attributes), CR is written as a character reference because
 * a literal CR would be turned into LF by the reader's end-of-line
 * handling (XML 1.0 §2.11), and TAB/LF in attributes likewise because
 * attribute-value normalisation (§3.3.3) would turn them into spaces: the
 * tree must survive a round trip unchanged. */
static const unsigned char special_text[256] = {
    ['&'] = 1, ['<'] = 1, ['>'] = 1, ['\r'] = 1,
};
static const unsigned char special_attr[256] = {
    ['&'] = 1, ['<'] = 1, ['>'] = 1, ['\r'] = 1,
    ['\''] = 1, ['"'] = 1, ['\n'] = 1, ['\t'] = 1,
};

static void escape(struct buf *out, const char *s, size_t len,
                   const unsigned char *special)
{
    size_t run = 0;
    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        if (!special[(unsigned char)s[i]])
            continue;
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\r': rep = "&#13;"; break;
        case '\'': rep = "&apos;"; break;
        case '"': rep = "&quot;"; break;
        case '\n': rep = "&#10;"; break;
        default: rep = "&#9;"; break;
        }
        buf_append(out, s + run, i - run);
        buf_puts(out, rep);
        run = i + 1;
    }
    buf_append(out, s + run, len - run);
}

void xml_escape_text(struct buf *out, const char *s, size_t len)
{
    escape(out, s, len, special_text);
}

void xml_escape_attr(struct buf *out, const char *s, size_t len)
{
    escape(out, s, len, special_attr);
}

static void put_attr(struct buf *out, const char *name, size_t name_len,
                     const char *value)
{
    buf_putc(out, ' ');
    buf_append(out, name, name_len);
    buf_append(out, "='", 2);
    xml_escape_attr(out, value, strlen(value));
    buf_putc(out, '\'');
}

/* Attributes named "URI local" get a prefix declared on the same element
 * (ns1, ns2, ...: one per attribute, so no lookup is needed; binding two
 * prefixes to one URI is legal).  The XML namespace must not be bound to
 * another prefix (Namespaces in XML §3), so it is always written xml:. */
static void put_attrs(struct buf *out, const struct xml_attr *at)
{
    static const char xml_ns[] = XML_NS_XML;
    unsigned k = 0;
    for (; at; at = at->next) {
        const char *sp = strrchr(at->name, ' ');
        if (!sp) {
            put_attr(out, at->name, strlen(at->name), at->value);
            continue;
        }
        size_t ulen = (size_t)(sp - at->name);
        const char *local = sp + 1;
        if (ulen == sizeof(xml_ns) - 1 && memcmp(at->name, xml_ns, ulen) == 0) {
            buf_append(out, " xml:", 5);
            buf_puts(out, local);
        } else {
            k++;
            buf_printf(out, " xmlns:ns%u='", k);
            xml_escape_attr(out, at->name, ulen);
            buf_printf(out, "' ns%u:", k);
            buf_puts(out, local);
        }
        buf_append(out, "='", 2);
        xml_escape_attr(out, at->value, strlen(at->value));
        buf_putc(out, '\'');
    }
}

void xml_serialize(const struct xml_node *n, const char *parent_ns,
                   struct buf *out)
{
    const struct xml_node *top = n;
    const struct xml_node *cur = n;
    if (!parent_ns)
        parent_ns = "";
    for (;;) {
        if (cur->kind == XML_TEXT) {
            xml_escape_text(out, cur->text, cur->text_len);
        } else {
            /* every element is written unprefixed, so the default
             * namespace in scope is exactly the parent's ns */
            const char *scope = cur == top ? parent_ns : cur->parent->ns;
            const char *ns = cur->ns ? cur->ns : "";
            buf_putc(out, '<');
            buf_puts(out, cur->name);
            if (strcmp(ns, scope) != 0) {
                buf_append(out, " xmlns='", 8);
                xml_escape_attr(out, ns, strlen(ns));
                buf_putc(out, '\'');
            }
            put_attrs(out, cur->attrs);
            if (cur->children) {
                buf_putc(out, '>');
                cur = cur->children;
                continue;
            }
            buf_append(out, "/>", 2);
        }
        /* done with cur: move to its next sibling, closing the parents
         * that have none left */
        for (;;) {
            if (cur == top)
                return;
            if (cur->next) {
                cur = cur->next;
                break;
            }
            cur = cur->parent;
            buf_append(out, "</", 2);
            buf_puts(out, cur->name);
            buf_putc(out, '>');
        }
    }
}

/* --- stanzas ------------------------------------------------------------ */

/* The struct stanza itself lives in its own arena: one allocation less,
 * and arena_free() releases everything at once. */
struct stanza *stanza_wrap(struct arena *a, struct xml_node *root)
{
    struct stanza *s = arena_alloc(a, sizeof(*s));
    s->arena = a;
    s->root = root;
    s->refs = 1;
    s->holds = 0;
    s->settled = NULL;
    s->settled_ud = NULL;
    return s;
}

struct stanza *stanza_new(const char *ns, const char *name)
{
    struct arena *a = arena_new(STANZA_ARENA_FIRST);
    return stanza_wrap(a, xml_new(a, ns, name));
}

struct stanza *stanza_ref(struct stanza *s)
{
    PL_ASSERT(s->refs > 0);
    s->refs++;
    return s;
}

void stanza_unref(struct stanza *s)
{
    if (!s)
        return;
    /* an unref without a matching ref is a use-after-free waiting to
     * happen: crash here, where the culprit is on the stack */
    PL_ASSERT(s->refs > 0);
    if (--s->refs == 0)
        arena_free(s->arena);
}

void stanza_hold(struct stanza *s)
{
    PL_ASSERT(s->refs > 0);
    s->holds++;
}

void stanza_unhold(struct stanza *s)
{
    PL_ASSERT(s->holds > 0);
    if (--s->holds == 0 && s->settled) {
        void (*fn)(struct stanza *, void *) = s->settled;
        s->settled = NULL;
        fn(s, s->settled_ud);
    }
}

void stanza_on_settled(struct stanza *s, void (*fn)(struct stanza *st, void *ud), void *ud)
{
    s->holds++;
    s->settled = fn;
    s->settled_ud = ud;
}

/* Arena bytes copy_one() takes for s (arena_alloc rounds to 8). */
static size_t al8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t copy_one_size(const struct xml_node *s, const struct xml_node *sparent)
{
    size_t n = al8(sizeof(struct xml_node));
    if (s->kind == XML_TEXT)
        return n + al8(s->text_len + 1);
    n += al8(strlen(s->name) + 1);
    const char *ns = s->ns ? s->ns : "";
    const char *pns = sparent ? (sparent->ns ? sparent->ns : "") : NULL;
    if (*ns && !(pns && strcmp(ns, pns) == 0))
        n += al8(strlen(ns) + 1);
    for (const struct xml_attr *at = s->attrs; at; at = at->next)
        n += al8(sizeof(*at)) + al8(strlen(at->name) + 1) + al8(strlen(at->value) + 1);
    return n;
}

/* What xml_copy(a, n) takes from a, walking the tree as it does. */
static size_t copy_size(const struct xml_node *n)
{
    size_t total = copy_one_size(n, NULL);
    const struct xml_node *s = n;
    for (;;) {
        if (s->children) {
            s = s->children;
            total += copy_one_size(s, s->parent);
            continue;
        }
        for (;;) {
            if (s == n)
                return total;
            if (s->next) {
                s = s->next;
                total += copy_one_size(s, s->parent);
                break;
            }
            s = s->parent;
        }
    }
}

struct stanza *stanza_copy(const struct stanza *s)
{
    /* Exactly the size of the copy: copies are what sm keeps per session
     * (the last presence), for the session's lifetime (principle 4). */
    size_t need = copy_size(s->root) + al8(sizeof(struct stanza));
    struct arena *a = arena_new(need);
    struct stanza *c = stanza_wrap(a, xml_copy(a, s->root));
    PL_ASSERT(arena_used(a) == need);   /* one chunk, nothing to spare */
    return c;
}
