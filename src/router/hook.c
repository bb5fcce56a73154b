/* hook.c - hook chains; see hook.h. */
#include "router/hook.h"
#include "core/mem.h"

#include <string.h>

void hooks_add(struct hooks *h, enum hook_id id, const char *host, hook_fn fn,
               void *ud, int prio, const void *owner)
{
    size_t n = h->n[id];
    h->v[id] = pl_realloc(h->v[id], (n + 1) * sizeof(*h->v[id]));
    /* Keep the chain sorted; equal priorities run in registration order. */
    size_t i = n;
    while (i > 0 && h->v[id][i - 1].prio > prio) {
        h->v[id][i] = h->v[id][i - 1];
        i--;
    }
    h->v[id][i] = (struct hook_entry){ fn, ud, prio, host, owner };
    h->n[id] = n + 1;
}

void hooks_remove_owner(struct hooks *h, const void *owner)
{
    for (int id = 0; id < HOOK_COUNT; id++) {
        size_t k = 0;
        for (size_t i = 0; i < h->n[id]; i++)
            if (h->v[id][i].owner != owner)
                h->v[id][k++] = h->v[id][i];
        h->n[id] = k;
    }
}

void hooks_release(struct hooks *h)
{
    for (int id = 0; id < HOOK_COUNT; id++)
        free(h->v[id]);
    memset(h, 0, sizeof(*h));
}

enum hook_result hooks_run(struct hooks *h, enum hook_id id, struct hook_event *ev)
{
    for (size_t i = 0; i < h->n[id]; i++) {
        const struct hook_entry *e = &h->v[id][i];
        if (e->host && ev->host && strcmp(e->host, ev->host) != 0)
            continue;
        enum hook_result r = e->fn(ev, e->ud);
        if (r != HOOK_CONTINUE)
            return r;
    }
    return HOOK_CONTINUE;
}
