/*
 * frame.h - a stanza serialized once for many recipients (issue 6: a
 * groupchat message fanned out to 1,000 occupants in one serialization).
 *
 * Pure logic (xml and core only, no server header; unit-tested alone).
 *
 * A frame holds the bytes of a stanza written without its 'to' attribute,
 * split right after the element name: head = "<message", tail = the rest
 * (" from='...' type='groupchat'>...</message>").  A recipient's copy is
 * head + " to='<escaped to>'" + tail: attribute order is not significant
 * (XML 1.0 §3.1), so inserting 'to' first yields the same stanza as
 * setting 'to' and serializing again.  c2s writes the three parts without
 * building a per-recipient stanza (c2s_send_frame()).
 *
 * The frame also keeps the stanza itself (a private copy, 'to' removed),
 * read-only: c2s looks at its name/type for XEP-0352 and, on the rare
 * path where an XEP-0198 session ends with the frame unacknowledged,
 * rebuilds a real stanza with frame_stanza() to re-route it.
 */
#ifndef PARLEY_STREAM_FRAME_H
#define PARLEY_STREAM_FRAME_H

#include <stddef.h>

#include "core/buf.h"
#include "xml/xml.h"

struct frame {
    int refs;
    struct stanza *st;          /* the template: a copy without 'to' */
    char *data;                 /* head + tail, NUL-terminated */
    size_t len;                 /* bytes of data */
    size_t split;               /* head = data[0..split), tail = data[split..len) */
};

/* Serializes st (borrowed; any 'to' is left out) for a jabber:client
 * stream.  Refcount 1. */
struct frame *frame_new(const struct stanza *st);
struct frame *frame_ref(struct frame *f);
void frame_unref(struct frame *f);     /* frees at zero; panics below zero */
/* Appends " to='...'" with the value escaped as an attribute. */
void frame_put_to(struct buf *out, const char *to);
/* Appends the whole stanza as addressed to 'to' (head, to, tail). */
void frame_write(const struct frame *f, const char *to, struct buf *out);
/* A new stanza: the template with 'to' set (caller unrefs). */
struct stanza *frame_stanza(const struct frame *f, const char *to);

#endif
