/*
 * blocklist.c - one user's blocked JIDs (XEP-0191 §3, §6): the set, the
 * JID matching and the stored text form.  See blocklist.h.
 */
#include "modules/blocklist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jid.h"
#include "core/mem.h"

void blocklist_init(struct blocklist *b)
{
    memset(b, 0, sizeof(*b));
    hashmap_init(&b->set);
}

void blocklist_clear(struct blocklist *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i]);
    b->n = 0;
    hashmap_release(&b->set);
    hashmap_init(&b->set);
}

void blocklist_release(struct blocklist *b)
{
    blocklist_clear(b);
    free(b->items);
    b->items = NULL;
    b->cap = 0;
    hashmap_release(&b->set);
}

bool blocklist_has(const struct blocklist *b, const char *item)
{
    return hashmap_get(&b->set, item) != NULL;
}

bool blocklist_add(struct blocklist *b, const char *item)
{
    if (blocklist_has(b, item))
        return false;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->items = pl_realloc(b->items, b->cap * sizeof(*b->items));
    }
    char *copy = pl_strdup(item);
    b->items[b->n++] = copy;
    hashmap_put(&b->set, copy, (void *)(uintptr_t)b->n);
    return true;
}

bool blocklist_remove(struct blocklist *b, const char *item)
{
    uintptr_t pos = (uintptr_t)hashmap_get(&b->set, item);
    if (!pos)
        return false;
    size_t i = pos - 1;
    hashmap_del(&b->set, item);
    free(b->items[i]);
    /* Keep the order the user built (it is what a blocklist get shows):
     * shift the tail and renumber it. */
    memmove(&b->items[i], &b->items[i + 1], (b->n - i - 1) * sizeof(*b->items));
    b->n--;
    for (size_t k = i; k < b->n; k++)
        hashmap_put(&b->set, b->items[k], (void *)(uintptr_t)(k + 1));
    return true;
}

bool blocklist_blocks(const struct blocklist *b, const struct jid *j)
{
    if (b->n == 0)
        return false;
    /* XEP-0191 §6, in its order: user@domain/resource and domain/resource
     * items match exactly that address (j->full), user@domain any of its
     * resources, domain everything at it.  (ejabberd also lets a
     * domain/resource item match user@domain/resource; §6 says "only that
     * resource", which we read as the domain's own resource.) */
    if (j->resource && blocklist_has(b, j->full))
        return true;
    if (j->local && blocklist_has(b, j->bare))
        return true;
    return blocklist_has(b, j->domain);
}

bool blocklist_blocks_str(const struct blocklist *b, const char *addr)
{
    if (b->n == 0 || !addr)
        return false;
    struct jid *j = jid_parse(addr);
    if (!j)
        return false;
    bool r = blocklist_blocks(b, j);
    jid_free(j);
    return r;
}

bool blocklist_item_matches(const char *item, const struct jid *j)
{
    struct jid *it = jid_parse(item);
    if (!it)
        return false;
    bool r;
    if (strcmp(it->domain, j->domain) != 0)
        r = false;
    else if (it->local && (!j->local || strcmp(it->local, j->local) != 0))
        r = false;
    else if (it->resource)
        r = j->resource && strcmp(it->resource, j->resource) == 0 &&
            /* domain/resource matches only the domain's own resource */
            (it->local != NULL || j->local == NULL);
    else
        r = true;
    jid_free(it);
    return r;
}

void blocklist_encode(const struct blocklist *b, struct buf *out)
{
    for (size_t i = 0; i < b->n; i++) {
        buf_puts(out, b->items[i]);
        buf_putc(out, '\n');
    }
}

size_t blocklist_decode(struct blocklist *b, const char *text, size_t len,
                        size_t max_items)
{
    blocklist_clear(b);
    size_t bad = 0;
    const char *end = text + len;
    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t l = nl ? (size_t)(nl - text) : (size_t)(end - text);
        if (l > 0) {
            char *line = pl_strndup(text, l);
            /* Prepared when stored; parsed again so that a damaged row
             * never becomes an item that matches something else. */
            struct jid *j = jid_parse(line);
            if (!j || (!blocklist_has(b, j->full) && b->n >= max_items))
                bad++;
            else
                blocklist_add(b, j->full);  /* a duplicate is harmless */
            jid_free(j);
            free(line);
        }
        text += l + (nl ? 1 : 0);
    }
    return bad;
}
