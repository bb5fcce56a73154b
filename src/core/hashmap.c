/* hashmap.c - open addressing, linear probing, FNV-1a; see hashmap.h. */
#include "core/hashmap.h"
#include "core/mem.h"

#include <string.h>

static const char tomb_marker;
#define HASHMAP_TOMB (&tomb_marker)

uint32_t hashmap_hash(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

void hashmap_init(struct hashmap *m)
{
    memset(m, 0, sizeof(*m));
}

void hashmap_release(struct hashmap *m)
{
    free(m->slots);
    hashmap_init(m);
}

static struct hashmap_slot *find(const struct hashmap *m, const char *key,
                                 uint32_t h)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hashmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != HASHMAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static void grow(struct hashmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    /* Only tombstones made it full: rehash at the same size. */
    if (m->cap && m->count * 2 < m->cap)
        ncap = m->cap;
    struct hashmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = pl_calloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    m->used = m->count;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].key || old[i].key == HASHMAP_TOMB)
            continue;
        size_t j = old[i].hash & (ncap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

void *hashmap_get(const struct hashmap *m, const char *key)
{
    struct hashmap_slot *s = find(m, key, hashmap_hash(key));
    return s ? s->value : NULL;
}

void *hashmap_put(struct hashmap *m, const char *key, void *value)
{
    uint32_t h = hashmap_hash(key);
    struct hashmap_slot *s = find(m, key, h);
    if (s) {
        void *old = s->value;
        s->key = key;
        s->value = value;
        return old;
    }
    if ((m->used + 1) * 4 > m->cap * 3)
        grow(m);
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != HASHMAP_TOMB)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = key;
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->count++;
    return NULL;
}

void *hashmap_del(struct hashmap *m, const char *key)
{
    struct hashmap_slot *s = find(m, key, hashmap_hash(key));
    if (!s)
        return NULL;
    void *v = s->value;
    s->key = HASHMAP_TOMB;
    s->value = NULL;
    m->count--;
    return v;
}

int hashmap_next(const struct hashmap *m, size_t *iter, const char **key_out,
                 void **value_out)
{
    for (size_t i = *iter; i < m->cap; i++) {
        const struct hashmap_slot *s = &m->slots[i];
        if (s->key && s->key != HASHMAP_TOMB) {
            if (key_out)
                *key_out = s->key;
            if (value_out)
                *value_out = s->value;
            *iter = i + 1;
            return 1;
        }
    }
    return 0;
}
