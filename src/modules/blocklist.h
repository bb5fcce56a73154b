/*
 * blocklist.h - one user's blocked JIDs (XEP-0191), as a set, with the
 * JID matching of XEP-0191 §6 and the stored text form.
 *
 * Pure logic: no server header, so a unit test links only this file and
 * the core utilities (tests/unit/modules/test_blocklist.c).
 */
#ifndef PARLEY_MODULES_BLOCKLIST_H
#define PARLEY_MODULES_BLOCKLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/hashmap.h"

struct jid;

struct blocklist {
    char **items;               /* prepared JIDs (owned), in the order added */
    size_t n;
    size_t cap;
    struct hashmap set;         /* item -> its index + 1 (keys borrowed from items) */
};

void blocklist_init(struct blocklist *b);
void blocklist_release(struct blocklist *b);
/* Empties the list (unblock all, XEP-0191 §3.5). */
void blocklist_clear(struct blocklist *b);

/* Is this exact (prepared) JID an item? */
bool blocklist_has(const struct blocklist *b, const char *item);
/* Adds a prepared JID: true if added, false if it was already there. */
bool blocklist_add(struct blocklist *b, const char *item);
/* Removes an item: true if it was there. */
bool blocklist_remove(struct blocklist *b, const char *item);

/* XEP-0191 §6 (the XEP-0016 order): does any item match this address?
 * An item user@domain/resource matches only that full JID, user@domain
 * any resource of it, domain/resource only that, and domain the domain
 * itself and every JID at it. */
bool blocklist_blocks(const struct blocklist *b, const struct jid *j);
/* The same question for an address given as a string (false when it
 * does not parse: nothing to match). */
bool blocklist_blocks_str(const struct blocklist *b, const char *addr);
/* Does item (a prepared JID) cover address j by the rules above? */
bool blocklist_item_matches(const char *item, const struct jid *j);

/* Stored form: the items in order, each followed by '\n' (prepared JIDs
 * never contain control characters: RFC 7622 §3.3.1 / §3.4.1, so '\n'
 * cannot occur inside one). */
void blocklist_encode(const struct blocklist *b, struct buf *out);
/* Replaces b's items with the decoded ones.  Lines that are not valid
 * JIDs are skipped (returns how many were); at most max_items are kept. */
size_t blocklist_decode(struct blocklist *b, const char *text, size_t len,
                        size_t max_items);

#endif
