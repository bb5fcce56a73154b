/*
 * sm_queue.c - XEP-0198 counters (§4, wrap-around at 2^32), the unacked
 * outbound queue, in-order settling of inbound stanzas, and the registry
 * of ended sessions for <failed h/> (§5).  Pure logic: see sm_queue.h.
 */
#include "stream/sm_queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void smq_init(struct sm_queue *q, uint32_t start)
{
    memset(q, 0, sizeof(*q));
    q->out_sent = start;
    q->in_recv = start;
    q->in_handled = start;
}

void smq_release(struct sm_queue *q)
{
    free(q->items);
    free(q->done);
    q->items = NULL;
    q->done = NULL;
    q->cap = q->len = q->head = 0;
    q->in_cap = q->in_head = 0;
}

/* --- outbound ------------------------------------------------------------ */

uint32_t smq_out_push(struct sm_queue *q, void *p, int64_t t)
{
    if (q->len == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 8;
        struct smq_item *n = pl_malloc(ncap * sizeof(*n));
        for (size_t i = 0; i < q->len; i++)
            n[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = n;
        q->cap = ncap;
        q->head = 0;
    }
    q->items[(q->head + q->len) % q->cap] = (struct smq_item){ p, t };
    q->len++;
    return ++q->out_sent;       /* unsigned: wraps from 2^32-1 to 0 */
}

size_t smq_out_len(const struct sm_queue *q)
{
    return q->len;
}

const struct smq_item *smq_out_at(const struct sm_queue *q, size_t i)
{
    return i < q->len ? &q->items[(q->head + i) % q->cap] : NULL;
}

uint32_t smq_out_acked(const struct sm_queue *q)
{
    return q->out_sent - (uint32_t)q->len;
}

long smq_out_ack_count(const struct sm_queue *q, uint32_t h)
{
    /* Modulo 2^32: h may have wrapped past 0 while the last ack did not. */
    uint32_t n = h - smq_out_acked(q);
    if (n > q->len)
        return -1;
    return (long)n;
}

void *smq_out_pop(struct sm_queue *q, int64_t *t)
{
    if (q->len == 0)
        return NULL;
    struct smq_item *it = &q->items[q->head];
    void *p = it->p;
    if (t)
        *t = it->t;
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return p;
}

/* --- inbound ------------------------------------------------------------- */

uint32_t smq_in_pending(const struct sm_queue *q)
{
    return q->in_recv - q->in_handled;
}

uint32_t smq_in_begin(struct sm_queue *q)
{
    size_t pending = smq_in_pending(q);
    if (pending == q->in_cap) {
        size_t ncap = q->in_cap ? q->in_cap * 2 : 16;
        bool *n = pl_malloc(ncap * sizeof(*n));
        for (size_t i = 0; i < pending; i++)
            n[i] = q->done[(q->in_head + i) % q->in_cap];
        free(q->done);
        q->done = n;
        q->in_cap = ncap;
        q->in_head = 0;
    }
    q->done[(q->in_head + pending) % q->in_cap] = false;
    return ++q->in_recv;
}

bool smq_in_settle(struct sm_queue *q, uint32_t seq)
{
    uint32_t pending = smq_in_pending(q);
    /* seq is in_handled+1 .. in_recv (mod 2^32); offset 0 is the oldest. */
    uint32_t off = seq - q->in_handled - 1;
    if (off >= pending)
        return false;           /* not ours, or settled twice */
    q->done[(q->in_head + off) % q->in_cap] = true;
    bool moved = false;
    while (smq_in_pending(q) > 0 && q->done[q->in_head]) {
        q->in_head = (q->in_head + 1) % q->in_cap;
        q->in_handled++;
        moved = true;
    }
    return moved;
}

uint32_t smq_in_h(const struct sm_queue *q)
{
    return q->in_handled;
}

/* --- ended sessions ------------------------------------------------------ */

struct sm_old {
    struct sm_old *next;
    time_t ended;
    uint32_t h;
    char id[];
};

/* One account's ended sessions; the map's key is 'bare' (hashmap keys are
 * borrowed, so the key lives in the value). */
struct sm_user {
    struct sm_old *list;        /* newest first */
    char bare[];
};

struct sm_registry *sm_registry_new(void)
{
    struct sm_registry *r = pl_calloc(1, sizeof(*r));
    hashmap_init(&r->users);
    return r;
}

static void free_user(struct sm_user *u)
{
    struct sm_old *o = u->list;
    while (o) {
        struct sm_old *n = o->next;
        free(o);
        o = n;
    }
    free(u);
}

void sm_registry_free(struct sm_registry *r)
{
    if (!r)
        return;
    void *v;
    for (size_t i = 0; hashmap_next(&r->users, &i, NULL, &v);)
        free_user(v);
    hashmap_release(&r->users);
    free(r);
}

/* Drops entries older than 'lifetime' and those beyond 'keep'; removes the
 * account when none is left.  Returns the user or NULL. */
static struct sm_user *prune(struct sm_registry *r, struct sm_user *u, size_t keep,
                             time_t now, unsigned lifetime)
{
    size_t n = 0;
    struct sm_old **pp = &u->list;
    while (*pp) {
        struct sm_old *o = *pp;
        bool old = lifetime && now - o->ended > (time_t)lifetime;
        if (old || n >= keep) {
            *pp = o->next;
            free(o);
            continue;
        }
        n++;
        pp = &o->next;
    }
    if (u->list)
        return u;
    hashmap_del(&r->users, u->bare);
    free_user(u);
    return NULL;
}

void sm_registry_add(struct sm_registry *r, const char *bare, const char *id,
                     uint32_t h, time_t now, unsigned max_per_user, unsigned lifetime)
{
    if (max_per_user == 0)
        return;
    size_t idlen = strlen(id);
    struct sm_old *o = pl_malloc(sizeof(*o) + idlen + 1);
    memcpy(o->id, id, idlen + 1);
    o->h = h;
    o->ended = now;
    struct sm_user *u = hashmap_get(&r->users, bare);
    if (!u) {
        size_t bl = strlen(bare);
        u = pl_malloc(sizeof(*u) + bl + 1);
        memcpy(u->bare, bare, bl + 1);
        u->list = NULL;
        hashmap_put(&r->users, u->bare, u);
    }
    o->next = u->list;
    u->list = o;
    prune(r, u, max_per_user, now, lifetime);
}

bool sm_registry_find(struct sm_registry *r, const char *bare, const char *id,
                      uint32_t *h, time_t now, unsigned lifetime)
{
    struct sm_user *u = hashmap_get(&r->users, bare);
    if (!u || !(u = prune(r, u, SIZE_MAX, now, lifetime)))
        return false;
    for (struct sm_old *o = u->list; o; o = o->next)
        if (strcmp(o->id, id) == 0) {
            *h = o->h;
            return true;
        }
    return false;
}

size_t sm_registry_count(struct sm_registry *r, const char *bare)
{
    size_t n = 0;
    struct sm_user *u = hashmap_get(&r->users, bare);
    for (struct sm_old *o = u ? u->list : NULL; o; o = o->next)
        n++;
    return n;
}
