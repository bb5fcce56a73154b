/*
 * xml.h - element trees, the stream parser and the serializer.
 *
 * Library-like: includes no server header, so it is tested alone.
 *
 * A stanza is a tree of struct xml_node whose memory all comes from one
 * arena (ARCHITECTURE.md principle 3).  Names are local names; every element
 * carries its namespace URI in 'ns' (resolved by expat), so code compares
 * (ns, name) pairs and never sees prefixes.  Attributes without a namespace
 * keep their plain name; namespaced attributes are stored with the name
 * "URI local" (expat's form), except xml:lang which is stored as "xml:lang".
 * Namespace declarations are never stored as attributes: the serializer
 * writes xmlns= wherever an element's ns differs from its parent's.
 */
#ifndef PARLEY_XML_XML_H
#define PARLEY_XML_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"

#define XML_NS_STREAM   "http://etherx.jabber.org/streams"
#define XML_NS_CLIENT   "jabber:client"
#define XML_NS_SERVER   "jabber:server"
#define XML_NS_XML      "http://www.w3.org/XML/1998/namespace"

struct xml_attr {
    const char *name;           /* "to", or "xml:lang", or "URI local" */
    const char *value;          /* unescaped */
    struct xml_attr *next;
};

enum xml_node_kind {
    XML_ELEMENT,
    XML_TEXT,
};

struct xml_node {
    enum xml_node_kind kind;
    const char *name;           /* element: local name; text: NULL */
    const char *ns;             /* element: namespace URI ("" if none) */
    struct xml_attr *attrs;     /* element: in document order */
    struct xml_node *parent;
    struct xml_node *children;  /* first child (elements and text) */
    struct xml_node *last;      /* last child, for O(1) append */
    struct xml_node *next;      /* next sibling */
    const char *text;           /* text: unescaped bytes, NUL-terminated */
    size_t text_len;            /* text: length of text */
};

/* --- building and reading trees (all memory from 'a') ------------------- */

struct xml_node *xml_new(struct arena *a, const char *ns, const char *name);
/* Appends a new element child; ns NULL means "same as parent". */
struct xml_node *xml_add_child(struct arena *a, struct xml_node *parent,
                               const char *ns, const char *name);
/* Appends 'child' (a tree from the same or a longer-lived arena). */
void xml_append(struct xml_node *parent, struct xml_node *child);
/* Appends text (copied); adjacent text nodes are not merged. */
void xml_add_text(struct arena *a, struct xml_node *parent,
                  const char *text, size_t len);
/* Sets or replaces an attribute (name and value copied); value NULL removes. */
void xml_set_attr(struct arena *a, struct xml_node *n,
                  const char *name, const char *value);
const char *xml_attr(const struct xml_node *n, const char *name);
/* First child element with this ns and name; ns or name NULL match any. */
struct xml_node *xml_child(const struct xml_node *n, const char *ns,
                           const char *name);
/* Next sibling element after 'prev' with this ns and name (NULL = any). */
struct xml_node *xml_next(const struct xml_node *prev, const char *ns,
                          const char *name);
/* Number of child elements. */
size_t xml_child_count(const struct xml_node *n);
/* Concatenated text of the direct text children, copied into 'a'
 * ("" when there is none). */
const char *xml_text(struct arena *a, const struct xml_node *n);
/* Deep copy of a tree into another arena. */
struct xml_node *xml_copy(struct arena *a, const struct xml_node *n);
/* Convenience: <name xmlns=ns>text</name> under parent. */
struct xml_node *xml_add_text_child(struct arena *a, struct xml_node *parent,
                                    const char *ns, const char *name,
                                    const char *text);
bool xml_is(const struct xml_node *n, const char *ns, const char *name);

/* --- serializing -------------------------------------------------------- */

/* Appends the tree to 'out'.  'parent_ns' is the default namespace in scope
 * where the tree is written (e.g. "jabber:client" for a stanza on a c2s
 * stream): an element whose ns equals its parent's (or parent_ns at the top)
 * gets no xmlns attribute.  Text and attribute values are escaped
 * (& < > and in attributes also ' " ; control characters are not valid XML
 * and are never produced by the parser).  Empty elements are written <x/>. */
void xml_serialize(const struct xml_node *n, const char *parent_ns,
                   struct buf *out);
/* Appends text escaped for character data / for an attribute value. */
void xml_escape_text(struct buf *out, const char *s, size_t len);
void xml_escape_attr(struct buf *out, const char *s, size_t len);

/* --- stanzas: a tree plus its arena, reference counted ------------------ */

struct stanza {
    struct arena *arena;        /* owns root and everything below it */
    struct xml_node *root;
    int refs;
    /* Durability (ARCHITECTURE.md principle 5): asynchronous work whose
     * result must be durable before the sender is told the stanza was
     * handled (an XEP-0198 <a/>) holds the stanza; 'settled' runs when the
     * last hold is released.  See stanza_hold(). */
    unsigned holds;
    void (*settled)(struct stanza *st, void *ud);
    void *settled_ud;
};

/* New stanza with a fresh arena and root element <name xmlns=ns/>. */
struct stanza *stanza_new(const char *ns, const char *name);
/* Wraps an existing arena+root; takes ownership of the arena. */
struct stanza *stanza_wrap(struct arena *a, struct xml_node *root);
struct stanza *stanza_ref(struct stanza *s);
void stanza_unref(struct stanza *s);   /* frees at zero; panics below zero */
/* Holds: code that starts asynchronous work on a stanza it was given
 * (an account lookup, an offline or archive write) calls stanza_hold()
 * before and stanza_unhold() when the work has completed (committed).  A
 * hold is not a reference: keep one with stanza_ref() as well.  The
 * originator (c2s) holds the stanza while router_route() runs and sets
 * 'settled' to learn when every hold is released. */
void stanza_hold(struct stanza *s);
void stanza_unhold(struct stanza *s);
/* Takes one hold for the caller and sets the callback that runs when the
 * last hold is released (the caller releases its own with stanza_unhold()
 * after router_route() returned). */
void stanza_on_settled(struct stanza *s, void (*fn)(struct stanza *st, void *ud), void *ud);
/* Deep copy into a new arena (to modify a shared stanza).  Holds are not copied. */
struct stanza *stanza_copy(const struct stanza *s);

/* --- the stream parser --------------------------------------------------- */

enum xml_error {
    XML_ERR_NONE,
    XML_ERR_NOT_WELL_FORMED,    /* expat error, bad UTF-8, ... */
    XML_ERR_RESTRICTED,         /* comment, PI, DOCTYPE, entity decl (RFC 6120 §11.1) */
    XML_ERR_POLICY,             /* stanza too big, too deep, too many attributes */
    XML_ERR_INVALID_NAMESPACE,  /* root is not stream:stream in XML_NS_STREAM */
};

/* A stock of expat parsers ready for reuse, shared by the streams of one
 * server (parser.c explains why).  Loop thread only. */
struct xml_parser_pool;
struct xml_parser_pool *xml_parser_pool_new(unsigned max);
void xml_parser_pool_free(struct xml_parser_pool *pool);
/* Parsers parked inside a stream root, waiting for the next stream with
 * the same root (for tests and statistics). */
unsigned xml_parser_pool_parked(const struct xml_parser_pool *pool);

struct xml_limits {
    size_t max_stanza_bytes;    /* bytes of one top-level child, tags included */
    unsigned max_depth;         /* element depth inside a stanza (stanza = 1) */
    unsigned max_attrs;         /* attributes per element */
};

struct xml_stream_cb {
    /* The root element (<stream:stream> or anything else: the caller
     * decides).  'root' and its attributes live until the next
     * xml_stream_reset() or xml_stream_free(); it has no children. */
    void (*open)(void *ud, const struct xml_node *root);
    /* A complete top-level child.  Ownership passes to the callee. */
    void (*stanza)(void *ud, struct stanza *st);
    /* </stream:stream> was read. */
    void (*close)(void *ud);
    /* Parsing failed; no more callbacks follow until reset.  'text' is a
     * human-readable reason (static or valid during the call). */
    void (*error)(void *ud, enum xml_error err, const char *text);
};

struct xml_stream;

struct xml_stream *xml_stream_new(const struct xml_limits *limits,
                                  const struct xml_stream_cb *cb, void *ud);
/* Takes its expat parsers from 'pool' and gives them back to it (the
 * pool must outlive the stream).  Call before the first feed. */
void xml_stream_use_pool(struct xml_stream *xs, struct xml_parser_pool *pool);
void xml_stream_free(struct xml_stream *xs);
/* Feeds bytes; callbacks run inside.  Returns 0, or -1 after an error
 * callback.  A callback may call xml_stream_reset() (stream restart after
 * STARTTLS or SASL success): the remaining bytes of this feed are then
 * parsed as the start of a new document.  A callback must not free the
 * stream; the caller marks its connection closing instead. */
int xml_stream_feed(struct xml_stream *xs, const char *data, size_t len);
/* Like xml_stream_feed(), but honours xml_stream_pause(): *used is set to
 * the bytes consumed, which is 'len' unless a callback paused the stream
 * (or the stream failed); the caller keeps data[*used..len) and feeds it
 * again when it is ready.  After an error *used is unspecified. */
int xml_stream_feed_some(struct xml_stream *xs, const char *data, size_t len,
                         size_t *used);
/* From inside the stanza() or open() callback: stop after this event.
 * xml_stream_feed_some() returns with *used just past the event's bytes;
 * no later event of this feed is delivered, and what the parser had read
 * beyond the event is forgotten (the next feed primes a new parser at
 * stream level, as after xml_stream_compact(), without calling open()).
 * For a server that answers a stanza asynchronously (a SASL step) and
 * must not parse what the peer pipelined behind it until the answer is
 * out: after a stream reset those bytes start the new stream.  Ignored
 * outside a callback and by xml_stream_feed(), which parses on. */
void xml_stream_pause(struct xml_stream *xs);
/* Forgets the document: the next bytes start a new one (a new stream
 * header).  Safe to call from inside a callback. */
void xml_stream_reset(struct xml_stream *xs);
/* Memory saving for idle sessions (ARCHITECTURE.md principle 4): when the
 * parser sits between stanzas (depth 1, no partial token buffered), frees
 * the expat parser and the root element (keeping its namespace
 * declarations) and returns true.  The next feed transparently creates a
 * new parser primed with a synthetic header carrying the namespace
 * declarations of the original root, without calling open() again. */
bool xml_stream_compact(struct xml_stream *xs);
/* Bytes of parser state held (0 after a successful compact). */
bool xml_stream_has_parser(const struct xml_stream *xs);
/* The default namespace declared on the stream root ("jabber:client" ...),
 * "" for xmlns='', NULL when the root declared none or was not read yet.
 * Borrowed: valid until the next xml_stream_reset(), xml_stream_compact()
 * or xml_stream_free() (it stays available after compaction, but the
 * pointer changes). */
const char *xml_stream_default_ns(const struct xml_stream *xs);
/* The root element read so far, NULL before it.  Also set when the root
 * was rejected with XML_ERR_INVALID_NAMESPACE (open() is not called then),
 * so the caller can still address its stream header and error.  Borrowed,
 * same lifetime as in open(), and NULL again after a successful
 * xml_stream_compact(): an idle stream keeps only its namespace
 * declarations (read what you need of the root in open()). */
const struct xml_node *xml_stream_root(const struct xml_stream *xs);

#endif
