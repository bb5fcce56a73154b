/*
 * parser.c - the XMPP stream parser: expat push parser -> stanza trees.
 *
 * Implements, for one XML stream (RFC 6120 §4 and §11):
 *  - the stream header (§4.7) handed to open() with its attributes, and the
 *    check that the root is <stream> in the streams namespace (§4.9.3.10);
 *  - each child of the root built in a fresh arena and handed to stanza();
 *  - restricted XML (§11.1): comments, processing instructions, DOCTYPE and
 *    entity declarations are rejected; input is read as UTF-8 (§11.6);
 *  - limits on stanza size, depth and attribute count (§13.12 item 3),
 *    enforced while the bytes arrive, not when the stanza is complete;
 *  - a stream header where a stanza belongs is an error at once (the peer
 *    restarted the stream on its own: nothing would ever end it);
 *  - stream restarts (§4.3.3, §5.4.3.3, §6.4.6) from inside a callback,
 *    with pipelined bytes parsed as the new document;
 *  - pausing from inside a callback, so that bytes pipelined behind a
 *    stanza answered asynchronously (a SASL step) are parsed only once the
 *    answer is out: by the new document after a restart, else by a parser
 *    re-primed for the same one;
 *  - dropping the expat parser of an idle stream (ARCHITECTURE.md
 *    principle 4) and re-priming a new one with a synthetic header.
 *
 * Callbacks are never run from inside expat: the handlers queue the event
 * and suspend the parser (XML_StopParser resumable), and the feed loop
 * delivers it once XML_Parse has returned.  A callback may therefore reset
 * the stream, which frees the expat parser, with no expat frame above it.
 */
#include "xml/xml.h"

#include <expat.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "core/buf.h"
#include "core/mem.h"

/* Bytes handed to expat per XML_Parse call.  XML_Parse copies its input
 * into its own buffer, so a peer sending 10 MB in one read must not make
 * expat copy 10 MB before the size limit is looked at: the limit is
 * checked after each slice, bounding the overshoot to one slice. */
#define FEED_SLICE 8192

/* First chunk of a stanza arena (see STANZA_ARENA_FIRST in xml.c). */
#define PARSE_ARENA_FIRST 1024

/* Events of one token at most (an empty root gives open and close). */
#define MAX_EVENTS 4

enum event_kind {
    EV_OPEN,
    EV_STANZA,
    EV_CLOSE,
};

struct event {
    enum event_kind kind;
    struct stanza *st;          /* EV_STANZA: owned until delivered */
    XML_Index end;              /* parser index just past the event's token */
};

struct nsdecl {
    const char *prefix;         /* NULL for the default namespace */
    const char *uri;
    struct nsdecl *next;
};

struct xml_stream {
    XML_Parser p;               /* NULL before the first feed, after
                                   compaction, close and errors */
    struct xml_limits lim;
    struct xml_parser_pool *pool;   /* NULL: parsers are created and freed */
    struct xml_stream_cb cb;
    void *ud;

    /* --- document state, forgotten by xml_stream_reset() --- */
    unsigned depth;             /* 0 outside the root, 1 inside it, 2 in a
                                   stanza's top element, ... */
    uint32_t use_start;         /* 'fed' when this stream took the parser
                                   (a parked one has read other streams'
                                   bytes; see parked_take()) */
    bool opened;                /* root seen (so a new parser needs priming) */
    bool closed;                /* </stream> seen: later bytes are ignored */
    bool failed;                /* error reported: feeds return -1 */
    bool primed;                /* current parser's root is our synthetic
                                   header: swallow it */
    bool idle;                  /* the last byte fed ended an event at depth
                                   1, so expat holds no partial token */
    struct arena *doc;          /* root node, its attributes, ns decls;
                                   NULL once compacted (see 'packed') */
    struct xml_node *root;
    const char *default_ns;     /* into doc or packed */
    struct nsdecl *decls;       /* namespace declarations of the root */
    const char *packed;         /* after compaction, all that is kept of
                                   the root: default ns "\0" synthetic
                                   header "\0" (see pack_doc()); owned
                                   unless one of common_packed[] */

    /* --- byte accounting, in the current expat parser's index space --- */
    XML_Index fed;              /* bytes given to the current parser */
    XML_Index mark;             /* start of the current stanza, or end of
                                   the last stream-level event: bytes past
                                   it belong to one stanza (or header) */
    XML_Index last_end;         /* end of the last event at depth <= 1 */

    /* --- the stanza being built --- */
    struct arena *sa;
    struct xml_node *st_root;
    struct xml_node *cur;
    struct buf text;            /* character data not yet put in a node:
                                   expat splits text at newlines, entities
                                   and feed boundaries; one node per run
                                   makes trees independent of the split */

    /* --- events and error gathered during one expat call --- */
    struct event *ev;           /* MAX_EVENTS, on xml_stream_feed()'s stack:
                                   none are pending between feeds, so an
                                   idle stream does not carry the array */
    unsigned nev;
    enum xml_error err;
    const char *err_text;       /* static */

    unsigned gen;               /* bumped by reset: a callback reset us */
    bool in_feed;
    bool pause_req;             /* a callback called xml_stream_pause() */
};

static const char *const known_ns[] = {
    XML_NS_CLIENT, XML_NS_SERVER, XML_NS_STREAM,
    "urn:ietf:params:xml:ns:xmpp-tls",
    "urn:ietf:params:xml:ns:xmpp-sasl",
    "urn:ietf:params:xml:ns:xmpp-bind",
    "urn:ietf:params:xml:ns:xmpp-stanzas",
    "urn:xmpp:sm:3",
    "jabber:iq:roster",
};

/* The packed roots (see pack_doc()) of the stream headers nearly every
 * stream has: RFC 6120 §4.8's content namespace by default and the
 * streams namespace on the "stream" prefix, declared in either order.  A
 * stream whose root packs to one of these points here instead of keeping
 * a copy of its own (~100 bytes per idle session, principle 4). */
#define PACKED_ROOT(ns, first, second) \
    ns "\0<stream:stream " first " " second ">"
#define PACKED_DEFAULT(ns) "xmlns='" ns "'"
#define PACKED_STREAM "xmlns:stream='" XML_NS_STREAM "'"
static const struct {
    const char *s;
    size_t len;                 /* both strings and their NULs */
} common_packed[] = {
#define PACKED_ENTRY(ns, first, second) \
    { PACKED_ROOT(ns, first, second), sizeof(PACKED_ROOT(ns, first, second)) }
    PACKED_ENTRY(XML_NS_CLIENT, PACKED_DEFAULT(XML_NS_CLIENT), PACKED_STREAM),
    PACKED_ENTRY(XML_NS_CLIENT, PACKED_STREAM, PACKED_DEFAULT(XML_NS_CLIENT)),
    PACKED_ENTRY(XML_NS_SERVER, PACKED_DEFAULT(XML_NS_SERVER), PACKED_STREAM),
    PACKED_ENTRY(XML_NS_SERVER, PACKED_STREAM, PACKED_DEFAULT(XML_NS_SERVER)),
#undef PACKED_ENTRY
};
#undef PACKED_ROOT
#undef PACKED_DEFAULT
#undef PACKED_STREAM

/* --- small helpers ------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* expat's names are "URI local" (separator ' ') or just "local"; a URI
 * cannot contain a space but a hostile one might, so split at the last. */
static const char *split_name(const char *name, size_t *uri_len_out)
{
    const char *sp = strrchr(name, ' ');
    if (!sp) {
        *uri_len_out = 0;
        return name;
    }
    *uri_len_out = (size_t)(sp - name);
    return sp + 1;
}

/* Namespace string for a new element: the parent's pointer when it is
 * inherited (the common case), a static string for well-known ones, else
 * a copy.  Avoids a copy per node. */
static const char *intern_ns(struct arena *a, const struct xml_node *parent,
                             const char *uri, size_t len)
{
    if (len == 0)
        return "";
    if (parent && strlen(parent->ns) == len &&
        memcmp(parent->ns, uri, len) == 0)
        return parent->ns;
    for (size_t i = 0; i < PL_ARRAY_LEN(known_ns); i++)
        if (strlen(known_ns[i]) == len && memcmp(known_ns[i], uri, len) == 0)
            return known_ns[i];
    return arena_strndup(a, uri, len);
}

/* Builds an element from expat's name and attribute array (no children). */
static struct xml_node *build_element(struct arena *a,
                                      const struct xml_node *parent,
                                      const char *name, const char **atts)
{
    static const char xml_ns[] = XML_NS_XML;
    struct xml_node *n = arena_zalloc(a, sizeof(*n));
    size_t ulen;
    const char *local = split_name(name, &ulen);
    n->kind = XML_ELEMENT;
    n->name = arena_strdup(a, local);
    n->ns = intern_ns(a, parent, name, ulen);
    struct xml_attr **tail = &n->attrs;
    for (; atts[0]; atts += 2) {
        struct xml_attr *at = arena_alloc(a, sizeof(*at));
        const char *alocal = split_name(atts[0], &ulen);
        if (ulen == sizeof(xml_ns) - 1 && memcmp(atts[0], xml_ns, ulen) == 0)
            at->name = arena_printf(a, "xml:%s", alocal);
        else
            at->name = arena_strdup(a, atts[0]);
        at->value = arena_strdup(a, atts[1]);
        at->next = NULL;
        *tail = at;
        tail = &at->next;
    }
    return n;
}

static XML_Index event_end(const struct xml_stream *xs)
{
    return XML_GetCurrentByteIndex(xs->p) +
           (XML_Index)XML_GetCurrentByteCount(xs->p);
}

/* Records an error from inside an expat handler and aborts the parse; it
 * is reported once XML_Parse has returned.  The first error wins. */
static void fail_in_handler(struct xml_stream *xs, enum xml_error err,
                            const char *text)
{
    if (xs->err != XML_ERR_NONE)
        return;
    xs->err = err;
    xs->err_text = text;
    XML_StopParser(xs->p, XML_FALSE);
}

static void push_event(struct xml_stream *xs, enum event_kind kind,
                       struct stanza *st, XML_Index end)
{
    PL_ASSERT(xs->nev < MAX_EVENTS);
    xs->ev[xs->nev].kind = kind;
    xs->ev[xs->nev].st = st;
    xs->ev[xs->nev].end = end;
    xs->nev++;
    /* suspend so that the feed loop delivers it outside expat; an empty
     * element may still call the end handler, hence the status check */
    XML_ParsingStatus ps;
    XML_GetParsingStatus(xs->p, &ps);
    if (ps.parsing == XML_PARSING)
        XML_StopParser(xs->p, XML_TRUE);
}

static void drop_events(struct xml_stream *xs)
{
    for (unsigned i = 0; i < xs->nev; i++)
        if (xs->ev[i].st)
            stanza_unref(xs->ev[i].st);
    xs->nev = 0;
}

static bool over_limit(size_t limit, XML_Index bytes)
{
    return limit != 0 && bytes > (XML_Index)limit;
}

/* Puts pending character data into a text node of the current element. */
static void flush_text(struct xml_stream *xs)
{
    if (xs->text.len == 0)
        return;
    xml_add_text(xs->sa, xs->cur, xs->text.data, xs->text.len);
    buf_clear(&xs->text);
}

/* --- expat handlers ---------------------------------------------------- */

static void on_root(struct xml_stream *xs, const char *name,
                    const char **atts)
{
    if (xs->primed) {
        /* our own synthetic header after compaction: the caller saw the
         * real one already */
        xs->primed = false;
        xs->depth = 1;
        xs->mark = xs->last_end = event_end(xs);
        return;
    }
    if (!xs->doc)
        xs->doc = arena_new(0);
    xs->root = build_element(xs->doc, NULL, name, atts);
    if (strcmp(xs->root->ns, XML_NS_STREAM) != 0 ||
        strcmp(xs->root->name, "stream") != 0) {
        fail_in_handler(xs, XML_ERR_INVALID_NAMESPACE,
                        "root element is not stream in namespace "
                        XML_NS_STREAM);
        return;
    }
    xs->depth = 1;
    xs->opened = true;
    xs->mark = xs->last_end = event_end(xs);
    push_event(xs, EV_OPEN, NULL, xs->last_end);
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
    struct xml_stream *xs = ud;
    if (xs->err != XML_ERR_NONE)
        return;
    if (xs->lim.max_attrs) {
        unsigned n = 0;
        for (const char **a = atts; *a; a += 2)
            n++;
        if (n > xs->lim.max_attrs) {
            fail_in_handler(xs, XML_ERR_POLICY,
                            "too many attributes (max_attrs)");
            return;
        }
    }
    if (xs->depth == 0) {
        on_root(xs, name, atts);
        return;
    }
    if (xs->depth == 1) {
        /* A stream header where a stanza belongs: the peer restarted a
         * stream we did not (a restart pipelined behind a SASL exchange
         * that failed).  Waiting for it to end would wait forever. */
        if (strcmp(name, XML_NS_STREAM " stream") == 0) {
            fail_in_handler(xs, XML_ERR_NOT_WELL_FORMED,
                            "stream header inside the stream");
            return;
        }
        xs->sa = arena_new(PARSE_ARENA_FIRST);
        xs->mark = XML_GetCurrentByteIndex(xs->p);
        xs->st_root = xs->cur = build_element(xs->sa, NULL, name, atts);
        xs->depth = 2;
    } else {
        if (over_limit(xs->lim.max_depth, xs->depth)) {
            fail_in_handler(xs, XML_ERR_POLICY,
                            "stanza nested too deep (max_depth)");
            return;
        }
        flush_text(xs);
        struct xml_node *n = build_element(xs->sa, xs->cur, name, atts);
        xml_append(xs->cur, n);
        xs->cur = n;
        xs->depth++;
    }
    if (over_limit(xs->lim.max_stanza_bytes, event_end(xs) - xs->mark))
        fail_in_handler(xs, XML_ERR_POLICY,
                        "stanza too large (max_stanza_bytes)");
}

static void XMLCALL on_end(void *ud, const char *name)
{
    struct xml_stream *xs = ud;
    (void)name;                 /* expat has matched it already */
    if (xs->err != XML_ERR_NONE)
        return;
    if (xs->depth == 1) {
        xs->depth = 0;
        xs->closed = true;
        xs->last_end = event_end(xs);
        push_event(xs, EV_CLOSE, NULL, xs->last_end);
        return;
    }
    flush_text(xs);
    if (xs->depth > 2) {
        xs->cur = xs->cur->parent;
        xs->depth--;
        return;
    }
    XML_Index end = event_end(xs);
    if (over_limit(xs->lim.max_stanza_bytes, end - xs->mark)) {
        fail_in_handler(xs, XML_ERR_POLICY,
                        "stanza too large (max_stanza_bytes)");
        return;
    }
    struct stanza *st = stanza_wrap(xs->sa, xs->st_root);
    xs->sa = NULL;
    xs->st_root = xs->cur = NULL;
    xs->depth = 1;
    xs->mark = xs->last_end = end;
    push_event(xs, EV_STANZA, st, end);
}

static void XMLCALL on_chars(void *ud, const XML_Char *s, int len)
{
    struct xml_stream *xs = ud;
    if (xs->err != XML_ERR_NONE)
        return;
    if (xs->depth >= 2) {
        buf_append(&xs->text, s, (size_t)len);
        if (over_limit(xs->lim.max_stanza_bytes, event_end(xs) - xs->mark))
            fail_in_handler(xs, XML_ERR_POLICY,
                            "stanza too large (max_stanza_bytes)");
        return;
    }
    /* only whitespace keepalives may sit between stanzas (RFC 6120 §4.6.1) */
    for (int i = 0; i < len; i++) {
        if (!is_space(s[i])) {
            fail_in_handler(xs, XML_ERR_NOT_WELL_FORMED,
                            "character data at stream level");
            return;
        }
    }
    xs->mark = xs->last_end = event_end(xs);
}

static void XMLCALL on_ns_start(void *ud, const XML_Char *prefix,
                                const XML_Char *uri)
{
    struct xml_stream *xs = ud;
    /* declarations inside stanzas are resolved into each node's ns; only
     * the root's matter, to re-prime a parser after compaction */
    if (xs->err != XML_ERR_NONE || xs->depth != 0 || xs->primed)
        return;
    if (!xs->doc)
        xs->doc = arena_new(0);
    struct nsdecl *d = arena_alloc(xs->doc, sizeof(*d));
    d->prefix = prefix ? arena_strdup(xs->doc, prefix) : NULL;
    d->uri = arena_strdup(xs->doc, uri ? uri : "");
    d->next = xs->decls;
    xs->decls = d;
    if (!prefix)
        xs->default_ns = d->uri;
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    fail_in_handler(ud, XML_ERR_RESTRICTED, "comments are not allowed");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target,
                          const XML_Char *data)
{
    (void)target;
    (void)data;
    fail_in_handler(ud, XML_ERR_RESTRICTED,
                    "processing instructions are not allowed");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail_in_handler(ud, XML_ERR_RESTRICTED, "DOCTYPE is not allowed");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name,
                                   int is_param, const XML_Char *value,
                                   int value_len, const XML_Char *base,
                                   const XML_Char *sysid,
                                   const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name; (void)is_param; (void)value; (void)value_len; (void)base;
    (void)sysid; (void)pubid; (void)notation;
    fail_in_handler(ud, XML_ERR_RESTRICTED,
                    "entity declarations are not allowed");
}

/* Called for a reference to an entity that is not expanded; with the
 * DOCTYPE refused it cannot normally happen, but no entity other than the
 * predefined five may ever reach the tree (RFC 6120 §11.1). */
static void XMLCALL on_skipped_entity(void *ud, const XML_Char *name,
                                      int is_param)
{
    (void)name;
    (void)is_param;
    fail_in_handler(ud, XML_ERR_RESTRICTED, "entity references are not allowed");
}

/* --- parser stock ----------------------------------------------------------- */

/*
 * Creating an expat parser costs a dozen allocations, two getenv() calls
 * and a getrandom() for its hash salt; with idle streams releasing their
 * parsers (ARCHITECTURE.md principle 4), a server would pay that for
 * nearly every stanza it reads.  A released parser is instead reset
 * (XML_ParserReset keeps its buffers, pools and the namespace mode) and
 * kept for the next stream that needs one.  The stock is small - a
 * parser is only out between a stream's first byte and the end of its
 * read - and a parser that took in more than KEEP_MAX_FED bytes (its
 * buffer may have grown with a large stanza) is freed, not kept.
 *
 * Hash salts (expat's defence against hash flooding): a reset parser
 * would draw a new one from getrandom() at its first parse.  Each use
 * gets one derived from a per-stock secret instead, by a bijective mix
 * of the secret and a counter, so salts stay unpredictable to peers and
 * distinct between parsers.
 */
#define KEEP_MAX_FED 16384

/*
 * Parked parsers.  Re-priming a reset parser for a stream that reads one
 * stanza at a time costs more than parsing the stanza: expat builds its
 * namespace bindings and name tables anew from the synthetic header, and
 * XML_ParserReset frees them again (~28 k of the ~62 k instructions a
 * delivered message cost, by callgrind).  Yet nearly every stream's root
 * packs to one of common_packed[], and a parser left inside such a root at
 * a stanza boundary is in exactly the state a re-primed one would be in.
 * So a stream that compacts parks its parser there instead of resetting
 * it, and the next stream with the same root (pointer-equal packed root)
 * takes it and goes on from its byte index.  Idle sessions still hold no
 * parser (principle 4); the server holds at most 'max' parked ones.
 *
 * What a parked parser carries over is harmless: expat's tables of the
 * element and attribute names it has seen (no DTD, so no defaults), and
 * its input buffer, which nothing of ours reads back.  To bound both, a
 * parser that has taken in PARK_MAX_FED bytes in all is reset instead of
 * parked, as is one that took more than KEEP_MAX_FED in its last use.
 */
#define PARK_MAX_FED (64 * 1024)

struct parked {
    XML_Parser p;
    const char *packed;         /* the root it is inside (common_packed[]) */
    XML_Index fed;              /* its byte index: bytes taken in so far */
};

struct xml_parser_pool {
    unsigned n, max, nparked;
    uint64_t key, uses;
    struct parked *parked;      /* 'max' slots */
    XML_Parser p[];
};

struct xml_parser_pool *xml_parser_pool_new(unsigned max)
{
    struct xml_parser_pool *pool = pl_calloc(1, sizeof(*pool) + max * sizeof(XML_Parser));
    pool->max = max;
    pool->parked = pl_calloc(max ? max : 1, sizeof(*pool->parked));
    if (getrandom(&pool->key, sizeof(pool->key), 0) != (ssize_t)sizeof(pool->key))
        pool->key = 0;          /* then salts fall back to expat's own draw */
    return pool;
}

void xml_parser_pool_free(struct xml_parser_pool *pool)
{
    if (!pool)
        return;
    for (unsigned i = 0; i < pool->n; i++)
        XML_ParserFree(pool->p[i]);
    for (unsigned i = 0; i < pool->nparked; i++)
        XML_ParserFree(pool->parked[i].p);
    free(pool->parked);
    free(pool);
}

unsigned xml_parser_pool_parked(const struct xml_parser_pool *pool)
{
    return pool ? pool->nparked : 0;
}

/* Takes parked parser i out of the stock (order is not kept). */
static struct parked unpark(struct xml_parser_pool *pool, unsigned i)
{
    struct parked k = pool->parked[i];
    pool->parked[i] = pool->parked[--pool->nparked];
    return k;
}

/* splitmix64's finaliser: a bijection that scatters consecutive inputs. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static XML_Parser pool_take(struct xml_parser_pool *pool)
{
    XML_Parser p = NULL;
    if (pool->n) {
        p = pool->p[--pool->n];
    } else if (pool->nparked) {
        /* No reset parser left (bound streams park theirs): reset a
         * parked one rather than create a parser.  In a login storm every
         * new stream needs one, and creating them while others are freed
         * when the stock is full scatters expat's blocks among the
         * sessions' long-lived ones: 19,000 idle TLS sessions measured
         * 16.1 KiB each that way, 15.5 with parsers recycled. */
        struct parked k = unpark(pool, 0);
        if (XML_ParserReset(k.p, "UTF-8"))
            p = k.p;
        else
            XML_ParserFree(k.p);
    }
    if (!p)
        p = XML_ParserCreateNS("UTF-8", ' ');
    PL_ASSERT(p != NULL);
    if (pool->key) {
        unsigned long salt = (unsigned long)mix64(pool->key + pool->uses++);
        XML_SetHashSalt(p, salt ? salt : 1);    /* 0 means "draw one" */
    }
    return p;
}

/* --- parser lifecycle ---------------------------------------------------- */

/* Whether the stream's current use of its parser stayed small enough for
 * the parser to be kept (reset or parked): see KEEP_MAX_FED. */
static bool use_was_small(const struct xml_stream *xs)
{
    return xs->fed - xs->use_start <= KEEP_MAX_FED;
}

static void free_parser(struct xml_stream *xs)
{
    if (!xs->p)
        return;
    struct xml_parser_pool *pool = xs->pool;
    if (pool && pool->n < pool->max && use_was_small(xs) &&
        XML_ParserReset(xs->p, "UTF-8"))
        pool->p[pool->n++] = xs->p;
    else
        XML_ParserFree(xs->p);
    xs->p = NULL;
}

static bool is_common_packed(const char *packed)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(common_packed); i++)
        if (packed == common_packed[i].s)
            return true;
    return false;
}

/* Called at compaction only: the stream is inside its root at a stanza
 * boundary, with nothing pending in expat (see xml_stream_compact()). */
static void park_parser(struct xml_stream *xs)
{
    struct xml_parser_pool *pool = xs->pool;
    XML_ParsingStatus ps;
    XML_GetParsingStatus(xs->p, &ps);
    if (!pool || pool->nparked >= pool->max || !is_common_packed(xs->packed) ||
        ps.parsing != XML_PARSING || xs->fed > PARK_MAX_FED || !use_was_small(xs)) {
        free_parser(xs);
        return;
    }
    pool->parked[pool->nparked++] = (struct parked){ xs->p, xs->packed, xs->fed };
    xs->p = NULL;
}

/* A parked parser inside the same root as this compacted stream's, taken
 * as if it had just been primed: depth 1, at a stanza boundary. */
static bool parked_take(struct xml_stream *xs)
{
    struct xml_parser_pool *pool = xs->pool;
    if (!pool || !xs->packed)
        return false;
    for (unsigned i = pool->nparked; i-- > 0;) {
        if (pool->parked[i].packed != xs->packed)
            continue;
        struct parked k = unpark(pool, i);
        XML_SetUserData(k.p, xs);   /* the handlers are everyone's */
        xs->p = k.p;
        xs->fed = xs->mark = xs->last_end = k.fed;
        xs->use_start = (uint32_t)k.fed;
        xs->depth = 1;
        xs->primed = false;
        return true;
    }
    return false;
}

/* Synthetic header for a re-primed parser: the root's namespace
 * declarations are all the later bytes depend on (the root's other
 * attributes do not change how children are parsed). */
static void synthetic_header(const struct xml_stream *xs, struct buf *out)
{
    const char *prefix = NULL;
    bool by_default = false;
    for (const struct nsdecl *d = xs->decls; d; d = d->next) {
        if (strcmp(d->uri, XML_NS_STREAM) != 0)
            continue;
        if (d->prefix)
            prefix = d->prefix;
        else
            by_default = true;
    }
    buf_putc(out, '<');
    if (prefix && !by_default) {
        buf_puts(out, prefix);
        buf_putc(out, ':');
    }
    buf_puts(out, "stream");
    for (const struct nsdecl *d = xs->decls; d; d = d->next) {
        if (d->prefix) {
            buf_puts(out, " xmlns:");
            buf_puts(out, d->prefix);
            buf_puts(out, "='");
        } else {
            buf_puts(out, " xmlns='");
        }
        xml_escape_attr(out, d->uri, strlen(d->uri));
        buf_putc(out, '\'');
    }
    buf_putc(out, '>');
}

static void new_parser(struct xml_stream *xs)
{
    /* an idle stream (compacted) has no parser and no document arena */
    if (xs->opened && parked_take(xs))
        return;
    /* "UTF-8" overrides any encoding declaration: RFC 6120 §11.6 allows
     * nothing else, and a UTF-16 BOM or Latin-1 bytes become errors */
    if (xs->pool) {
        xs->p = pool_take(xs->pool);
    } else {
        xs->p = XML_ParserCreateNS("UTF-8", ' ');
        PL_ASSERT(xs->p != NULL);
    }
    XML_SetUserData(xs->p, xs);
    XML_SetElementHandler(xs->p, on_start, on_end);
    XML_SetCharacterDataHandler(xs->p, on_chars);
    XML_SetStartNamespaceDeclHandler(xs->p, on_ns_start);
    XML_SetCommentHandler(xs->p, on_comment);
    XML_SetProcessingInstructionHandler(xs->p, on_pi);
    XML_SetStartDoctypeDeclHandler(xs->p, on_doctype);
    XML_SetEntityDeclHandler(xs->p, on_entity_decl);
    XML_SetSkippedEntityHandler(xs->p, on_skipped_entity);
    XML_SetParamEntityParsing(xs->p, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
    /* expat >= 2.6 may hold back a complete token until more bytes come:
     * a stanza could then wait for the client's next keepalive.  Without
     * deferral a huge partial token is re-scanned per feed, which the
     * stanza size limit bounds. */
    XML_SetReparseDeferralEnabled(xs->p, XML_FALSE);
#endif
    xs->fed = 0;
    xs->mark = 0;
    xs->last_end = 0;
    xs->use_start = 0;
    if (!xs->opened)
        return;

    struct buf hdr = BUF_INIT;
    const char *h;
    size_t hlen;
    if (xs->packed) {
        h = xs->packed + strlen(xs->packed) + 1;
        hlen = strlen(h);
    } else {
        synthetic_header(xs, &hdr);
        h = hdr.data;
        hlen = hdr.len;
    }
    xs->primed = true;
    xs->depth = 0;
    xs->fed = (XML_Index)hlen;
    enum XML_Status st = XML_Parse(xs->p, h, (int)hlen, XML_FALSE);
    buf_release(&hdr);
    /* our own header: any failure is a bug, not the peer's doing */
    PL_ASSERT(st == XML_STATUS_OK && !xs->primed && xs->depth == 1);
}

static const char *find_common_packed(const char *p, size_t len)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(common_packed); i++)
        if (len == common_packed[i].len && memcmp(p, common_packed[i].s, len) == 0)
            return common_packed[i].s;
    return NULL;
}

static void release_packed(struct xml_stream *xs)
{
    if (!is_common_packed(xs->packed))
        free((char *)xs->packed);   /* ours: pack_doc() allocated it */
    xs->packed = NULL;
}

static void clear_document(struct xml_stream *xs)
{
    free_parser(xs);
    drop_events(xs);
    arena_free(xs->sa);
    arena_free(xs->doc);
    release_packed(xs);
    xs->sa = NULL;
    xs->doc = NULL;
    xs->st_root = xs->cur = NULL;
    xs->root = NULL;
    xs->decls = NULL;
    xs->default_ns = NULL;
    xs->depth = 0;
    xs->opened = xs->closed = xs->failed = xs->primed = xs->idle = false;
    xs->fed = xs->mark = xs->last_end = 0;
    xs->use_start = 0;
    xs->err = XML_ERR_NONE;
    xs->err_text = NULL;
    buf_release(&xs->text);
}

struct xml_stream *xml_stream_new(const struct xml_limits *limits,
                                  const struct xml_stream_cb *cb, void *ud)
{
    struct xml_stream *xs = pl_calloc(1, sizeof(*xs));
    if (limits)
        xs->lim = *limits;
    xs->cb = *cb;
    xs->ud = ud;
    buf_init(&xs->text);
    return xs;
}

void xml_stream_use_pool(struct xml_stream *xs, struct xml_parser_pool *pool)
{
    PL_ASSERT(!xs->p);
    xs->pool = pool;
}

void xml_stream_free(struct xml_stream *xs)
{
    if (!xs)
        return;
    PL_ASSERT(!xs->in_feed);    /* callbacks must not free the stream */
    clear_document(xs);
    buf_release(&xs->text);
    free(xs);
}

void xml_stream_reset(struct xml_stream *xs)
{
    /* callbacks run outside expat (see the file comment), so the parser
     * can go at once; the feed loop notices the new generation */
    clear_document(xs);
    xs->gen++;
}

static void report_error(struct xml_stream *xs, enum xml_error err,
                         const char *text)
{
    xs->failed = true;
    drop_events(xs);
    free_parser(xs);
    arena_free(xs->sa);
    xs->sa = NULL;
    xs->st_root = xs->cur = NULL;
    buf_release(&xs->text);
    if (xs->cb.error)
        xs->cb.error(xs->ud, err, text);
}

static void deliver(struct xml_stream *xs, const struct event *e)
{
    switch (e->kind) {
    case EV_OPEN:
        if (xs->cb.open)
            xs->cb.open(xs->ud, xs->root);
        break;
    case EV_STANZA:
        if (xs->cb.stanza)
            xs->cb.stanza(xs->ud, e->st);
        else
            stanza_unref(e->st);
        break;
    case EV_CLOSE:
        if (xs->cb.close)
            xs->cb.close(xs->ud);
        break;
    }
}

/* A callback paused the stream after an event at stream level (the parser
 * is at depth 1, just past the event's last byte): forget the parser and
 * whatever it read beyond the event, so that those bytes can be fed again
 * later.  Parsing them then is the compaction case: a new parser primed
 * with the synthetic header (new_parser(), 'opened' is set). */
static void stop_after_event(struct xml_stream *xs)
{
    PL_ASSERT(xs->opened && !xs->closed);
    drop_events(xs);
    free_parser(xs);
    /* expat suspends after the event's token, so no stanza is under way;
     * cleared all the same so that nothing read past it can leak in */
    arena_free(xs->sa);
    xs->sa = NULL;
    xs->st_root = xs->cur = NULL;
    buf_clear(&xs->text);
    xs->depth = 1;
    xs->idle = false;
}

/* Parses one slice with the current document's parser.  Sets *used_out to
 * the bytes of it that belonged to this document: all of them, unless a
 * callback reset the stream, in which case the rest start the new one, or
 * paused it, in which case the rest are the caller's to feed again.
 * Returns 0, 1 after a pause, or -1 after the error callback. */
static int parse_slice(struct xml_stream *xs, const char *data, size_t n,
                       size_t *used_out)
{
    unsigned gen = xs->gen;
    if (!xs->p)
        new_parser(xs);
    XML_Index base = xs->fed;
    xs->fed += (XML_Index)n;
    enum XML_Status st = XML_Parse(xs->p, data, (int)n, XML_FALSE);
    for (;;) {
        if (xs->err != XML_ERR_NONE) {
            report_error(xs, xs->err, xs->err_text);
            return -1;
        }
        if (st == XML_STATUS_ERROR) {
            report_error(xs, XML_ERR_NOT_WELL_FORMED,
                         XML_ErrorString(XML_GetErrorCode(xs->p)));
            return -1;
        }
        /* deliver one at a time: a callback may reset the stream */
        while (xs->nev > 0) {
            struct event e = xs->ev[0];
            memmove(&xs->ev[0], &xs->ev[1], (xs->nev - 1) * sizeof(e));
            xs->nev--;
            deliver(xs, &e);
            /* a pause after </stream> (or an empty root, whose close is
             * still queued) has nothing to stop: the document is over */
            bool paused = xs->pause_req && xs->gen == gen &&
                          e.kind != EV_CLOSE && !xs->closed;
            xs->pause_req = false;
            if (xs->gen != gen || paused) {
                /* Every event ends with a '>' in this slice: expat (with
                 * no reparse deferral) handles all complete tokens of a
                 * call before returning, so a token delivered now was
                 * completed by this slice. */
                PL_ASSERT(e.end > base && e.end <= base + (XML_Index)n);
                *used_out = (size_t)(e.end - base);
                if (!paused)
                    return 0;
                stop_after_event(xs);
                return 1;
            }
        }
        if (xs->closed || st != XML_STATUS_SUSPENDED)
            break;
        st = XML_ResumeParser(xs->p);
    }
    *used_out = n;
    if (xs->closed) {
        /* </stream> read: nothing the peer sends afterwards matters */
        free_parser(xs);
        return 0;
    }
    /* Bytes past 'mark' are all part of one stanza (or of the header):
     * cutting it off here, mid-stanza, is what keeps a peer from making
     * us buffer more than the limit. */
    if (over_limit(xs->lim.max_stanza_bytes, xs->fed - xs->mark)) {
        report_error(xs, XML_ERR_POLICY, xs->depth == 0
                     ? "stream header too large (max_stanza_bytes)"
                     : "stanza too large (max_stanza_bytes)");
        return -1;
    }
    xs->idle = xs->depth == 1 && xs->last_end == xs->fed;
    return 0;
}

/* 'stop': return at a pause (xml_stream_feed_some()); else a pause only
 * costs a re-primed parser and the rest is parsed at once. */
static int feed(struct xml_stream *xs, const char *data, size_t len,
                bool stop, size_t *used_out)
{
    PL_ASSERT(!xs->in_feed);    /* a callback must not feed the stream */
    *used_out = len;
    if (xs->failed)
        return -1;
    struct event ev[MAX_EVENTS];
    xs->ev = ev;
    xs->in_feed = true;
    xs->pause_req = false;
    int rc = 0;
    size_t done = 0;
    while (done < len && !xs->closed) {
        size_t n = len - done < FEED_SLICE ? len - done : FEED_SLICE;
        size_t used;
        rc = parse_slice(xs, data + done, n, &used);
        if (rc < 0)
            break;
        done += used;
        if (rc > 0 && stop) {
            /* bytes after </stream> or an error are not kept: nothing
             * would parse them; those after a pause are */
            *used_out = done;
            break;
        }
    }
    PL_ASSERT(xs->nev == 0);
    xs->ev = NULL;
    xs->in_feed = false;
    xs->pause_req = false;
    return rc < 0 ? -1 : 0;
}

int xml_stream_feed(struct xml_stream *xs, const char *data, size_t len)
{
    size_t used;
    return feed(xs, data, len, false, &used);
}

int xml_stream_feed_some(struct xml_stream *xs, const char *data, size_t len,
                         size_t *used)
{
    return feed(xs, data, len, true, used);
}

void xml_stream_pause(struct xml_stream *xs)
{
    if (xs->in_feed)
        xs->pause_req = true;
}

/* An idle stream keeps its root for the whole session, and all that the
 * later bytes depend on is the root's namespace declarations (RFC 6120
 * §4.8: the default namespace and the streams prefix).  At compaction the
 * document arena (root element, attributes, declarations: ~390 bytes) is
 * replaced by one string of its size holding the default namespace and
 * the synthetic header a new parser is primed with (principle 4), or by
 * the shared constant of common_packed[] it equals.  The root element
 * itself is gone then (xml_stream_root() returns NULL). */
static void pack_doc(struct xml_stream *xs)
{
    if (xs->packed || !xs->doc)
        return;
    struct buf b = BUF_INIT;
    bool has_default = xs->default_ns != NULL;
    if (has_default)
        buf_puts(&b, xs->default_ns);
    buf_putc(&b, '\0');
    synthetic_header(xs, &b);
    buf_putc(&b, '\0');
    const char *p = find_common_packed(b.data, b.len);
    if (!p) {
        char *own = pl_malloc(b.len);
        memcpy(own, b.data, b.len);
        p = own;
    }
    buf_release(&b);
    arena_free(xs->doc);
    xs->doc = NULL;
    xs->root = NULL;
    xs->decls = NULL;
    xs->packed = p;
    xs->default_ns = has_default ? p : NULL;
}

bool xml_stream_compact(struct xml_stream *xs)
{
    /* refused from a callback: the feed loop still uses the parser */
    if (!xs->p || xs->in_feed || xs->failed || xs->closed ||
        xs->depth != 1 || !xs->idle || xs->nev != 0)
        return false;
    pack_doc(xs);               /* first: parking looks at the packed root */
    park_parser(xs);
    buf_release(&xs->text);     /* may have grown to a big stanza's text */
    return true;
}

bool xml_stream_has_parser(const struct xml_stream *xs)
{
    return xs->p != NULL;
}

const char *xml_stream_default_ns(const struct xml_stream *xs)
{
    return xs->default_ns;
}

const struct xml_node *xml_stream_root(const struct xml_stream *xs)
{
    return xs->root;
}
