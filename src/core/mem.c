/* mem.c - allocation wrappers that abort on out-of-memory. */
#include "core/mem.h"

#include <string.h>

static _Noreturn void oom(size_t n)
{
    fprintf(stderr, "parley: out of memory allocating %zu bytes\n", n);
    abort();
}

void *pl_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *pl_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *pl_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *pl_strdup(const char *s)
{
    return pl_strndup(s, strlen(s));
}

char *pl_strndup(const char *s, size_t n)
{
    char *d = pl_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *pl_try_malloc(size_t n)
{
    return malloc(n ? n : 1);
}

void pl_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "parley: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
