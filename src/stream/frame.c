/*
 * frame.c - one serialization of a stanza shared by many recipients,
 * split around the 'to' attribute (see frame.h; issue 6 performance
 * requirement for XEP-0045 groupchat fan-out).
 */
#include "stream/frame.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct frame *frame_new(const struct stanza *st)
{
    struct frame *f = pl_calloc(1, sizeof(*f));
    f->refs = 1;
    /* A private copy: the caller may go on changing its stanza (history,
     * archive) while recipients still hold the frame. */
    f->st = stanza_copy(st);
    xml_set_attr(f->st->arena, f->st->root, "to", NULL);
    struct buf b = BUF_INIT;
    xml_serialize(f->st->root, XML_NS_CLIENT, &b);
    /* The serializer starts every element with '<' and its local name,
     * then (maybe) xmlns and the attributes: the head ends there. */
    size_t nl = strlen(f->st->root->name);
    PL_ASSERT(b.len > nl && b.data[0] == '<' && memcmp(b.data + 1, f->st->root->name, nl) == 0);
    f->split = 1 + nl;
    f->len = b.len;
    f->data = pl_malloc(b.len + 1);
    memcpy(f->data, b.data, b.len);
    f->data[b.len] = '\0';
    buf_release(&b);
    return f;
}

struct frame *frame_ref(struct frame *f)
{
    f->refs++;
    return f;
}

void frame_unref(struct frame *f)
{
    PL_ASSERT(f->refs > 0);
    if (--f->refs > 0)
        return;
    stanza_unref(f->st);
    free(f->data);
    free(f);
}

void frame_put_to(struct buf *out, const char *to)
{
    buf_append(out, " to='", 5);
    xml_escape_attr(out, to, strlen(to));
    buf_putc(out, '\'');
}

void frame_write(const struct frame *f, const char *to, struct buf *out)
{
    buf_append(out, f->data, f->split);
    frame_put_to(out, to);
    buf_append(out, f->data + f->split, f->len - f->split);
}

struct stanza *frame_stanza(const struct frame *f, const char *to)
{
    struct stanza *st = stanza_copy(f->st);
    /* First, as in the bytes frame_write() produced (the template has no
     * 'to'): a resent or re-routed copy is the stanza that was sent. */
    struct xml_attr *a = arena_alloc(st->arena, sizeof(*a));
    a->name = arena_strdup(st->arena, "to");
    a->value = arena_strdup(st->arena, to);
    a->next = st->root->attrs;
    st->root->attrs = a;
    return st;
}
