/*
 * hashmap.h - string-keyed hash map with open addressing.
 *
 * Keys are borrowed: the caller keeps each key alive while it is in the
 * map (typically the key points into the value, e.g. a session's JID).
 */
#ifndef PARLEY_CORE_HASHMAP_H
#define PARLEY_CORE_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap_slot {
    const char *key;            /* NULL = empty; HASHMAP_TOMB = deleted */
    uint32_t hash;
    void *value;
};

struct hashmap {
    struct hashmap_slot *slots;
    size_t cap;                 /* power of two, 0 before first insert */
    size_t count;               /* live entries */
    size_t used;                /* live + tombstones */
};

void hashmap_init(struct hashmap *m);
void hashmap_release(struct hashmap *m);
void *hashmap_get(const struct hashmap *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *hashmap_put(struct hashmap *m, const char *key, void *value);
/* Removes; returns the value or NULL. */
void *hashmap_del(struct hashmap *m, const char *key);
uint32_t hashmap_hash(const char *key);

/* Iteration: for (size_t i = 0; hashmap_next(m, &i, &k, &v); ) ...
 * Do not insert while iterating; deleting the current key is allowed. */
int hashmap_next(const struct hashmap *m, size_t *iter, const char **key_out,
                 void **value_out);

#endif
