/*
 * buf.h - growable byte buffer, used to serialize XML and build replies.
 */
#ifndef PARLEY_CORE_BUF_H
#define PARLEY_CORE_BUF_H

#include <stddef.h>

struct buf {
    char *data;                 /* NUL-terminated when len < cap */
    size_t len;
    size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_release(struct buf *b);
void buf_clear(struct buf *b);              /* len = 0, keeps memory */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the heap string to the caller (who frees it); b is left empty. */
char *buf_detach(struct buf *b);

#endif
