/*
 * mem.h - allocation wrappers and assertions.
 *
 * pl_malloc() and friends abort on out-of-memory, so callers never check
 * them (the policy of redis' zmalloc).  pl_try_malloc() is for sizes a peer
 * controls; such sizes are bounded before the call and the result checked.
 */
#ifndef PARLEY_CORE_MEM_H
#define PARLEY_CORE_MEM_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

void *pl_malloc(size_t n);
void *pl_calloc(size_t nmemb, size_t size);
void *pl_realloc(void *p, size_t n);
char *pl_strdup(const char *s);
char *pl_strndup(const char *s, size_t n);
void *pl_try_malloc(size_t n);

/* Free and NULL in one step. */
#define PL_FREE(p) do { free(p); (p) = NULL; } while (0)

/* Stays on in release builds: a broken invariant is worse than a crash. */
#define PL_ASSERT(e) \
    ((e) ? (void)0 : pl_assert_fail(#e, __FILE__, __LINE__))
_Noreturn void pl_assert_fail(const char *expr, const char *file, int line);

#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
