/*
 * arena.h - bump allocator freed in one call.
 *
 * Every stanza's nodes, attributes and text live in one arena
 * (ARCHITECTURE.md principle 3), so freeing a stanza is one call and
 * parsing does a handful of malloc()s however many nodes it builds.
 */
#ifndef PARLEY_CORE_ARENA_H
#define PARLEY_CORE_ARENA_H

#include <stddef.h>

struct arena;

/* First chunk of 'first' bytes (0 = a small default).  Never NULL. */
struct arena *arena_new(size_t first);
void arena_free(struct arena *a);
/* 8-byte aligned, never NULL (aborts on OOM). Memory is not zeroed. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bytes handed out so far (for limits and statistics). */
size_t arena_used(const struct arena *a);

#endif
