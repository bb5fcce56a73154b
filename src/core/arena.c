/* arena.c - bump allocator; see arena.h. */
#include "core/arena.h"
#include "core/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

struct chunk {
    struct chunk *next;
    size_t size;                /* usable bytes in data[] */
    size_t used;
    _Alignas(8) unsigned char data[];
};

struct arena {
    struct chunk *head;         /* current chunk, the others hang off next */
    size_t total;               /* bytes handed out */
    struct chunk first;         /* must be last: its data[] follows */
};

#define ARENA_DEFAULT 512

struct arena *arena_new(size_t first)
{
    if (first == 0)
        first = ARENA_DEFAULT;
    struct arena *a = pl_malloc(sizeof(*a) + first);
    a->first.next = NULL;
    a->first.size = first;
    a->first.used = 0;
    a->head = &a->first;
    a->total = 0;
    return a;
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c != &a->first) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    struct chunk *c = a->head;
    if (c->size - c->used < n) {
        size_t size = c->size * 2;
        if (size < n)
            size = n;
        struct chunk *nc = pl_malloc(sizeof(*nc) + size);
        nc->size = size;
        nc->used = 0;
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    PL_ASSERT(n >= 0);
    char *d = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

size_t arena_used(const struct arena *a)
{
    return a->total;
}
