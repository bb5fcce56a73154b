/*
 * sm_queue.h - the counters and queues of XEP-0198 stream management, as
 * pure logic (no server header, no I/O; unit-tested alone).
 *
 * Outbound (server -> client): every stanza written after <enabled/> is
 * pushed with its sequence number (XEP-0198 §4: the sent counter starts
 * at <enabled/>); the client's <a h=N/> pops the ones it handled.  Items
 * are opaque pointers (c2s keeps stanza references in them).
 *
 * Inbound (client -> server): every stanza read after <enable/> gets a
 * sequence number; it is "settled" when its effects are durable
 * (ARCHITECTURE.md principle 5).  The 'h' the server reports is the count
 * of leading settled stanzas, so an ack never covers a stanza whose
 * storage write is still in flight, even if later ones finished first.
 *
 * All counters are uint32_t: h is an xs:unsignedInt and wraps from
 * 2^32-1 to 0 (XEP-0198 §4); differences are taken modulo 2^32.
 *
 * The old-session registry keeps the SM-IDs of ended sessions with their
 * final inbound h, per account, so that a late <resume/> gets
 * <failed h='N'/> (XEP-0198 §5) and the client knows which of its stanzas
 * it must resend.
 */
#ifndef PARLEY_STREAM_SM_QUEUE_H
#define PARLEY_STREAM_SM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/hashmap.h"

struct smq_item {
    void *p;                    /* the caller's (a stanza reference) */
    int64_t t;                  /* when it was queued (for <delay/>) */
};

struct sm_queue {
    /* outbound: items[] is a ring of the unacked stanzas */
    uint32_t out_sent;          /* stanzas sent (queued) since <enabled/>, mod 2^32 */
    struct smq_item *items;
    size_t cap, head, len;
    /* inbound: done[] is a ring of flags for seqs in_handled+1 .. in_recv */
    uint32_t in_recv;           /* stanzas received since <enable/> */
    uint32_t in_handled;        /* h: leading settled stanzas */
    bool *done;
    size_t in_cap, in_head;
};

/* Both counters start at 'start' (0 in the protocol; tests use values
 * near 2^32 to check the wrap). */
void smq_init(struct sm_queue *q, uint32_t start);
/* Frees the rings; the caller pops (and releases) its items first. */
void smq_release(struct sm_queue *q);

/* --- outbound ------------------------------------------------------------ */

/* Queues p; returns its sequence number (the h that acknowledges it). */
uint32_t smq_out_push(struct sm_queue *q, void *p, int64_t t);
size_t smq_out_len(const struct sm_queue *q);
/* The i-th unacked item, oldest first (i < smq_out_len()). */
const struct smq_item *smq_out_at(const struct sm_queue *q, size_t i);
/* The last h the peer acknowledged (out_sent - unacked). */
uint32_t smq_out_acked(const struct sm_queue *q);
/* How many queued items an <a h=h/> acknowledges, or -1 when h is more
 * than was sent (XEP-0198 §6 handled-count-too-high; an h below the last
 * one is treated the same way: it can only be a broken peer). */
long smq_out_ack_count(const struct sm_queue *q, uint32_t h);
/* Removes the oldest item; NULL when empty. */
void *smq_out_pop(struct sm_queue *q, int64_t *t);

/* --- inbound ------------------------------------------------------------- */

/* A stanza was read: returns its sequence number. */
uint32_t smq_in_begin(struct sm_queue *q);
/* Stanza 'seq' is settled.  Returns true when h moved. */
bool smq_in_settle(struct sm_queue *q, uint32_t seq);
uint32_t smq_in_h(const struct sm_queue *q);
/* Stanzas read but not settled yet (in_recv - h). */
uint32_t smq_in_pending(const struct sm_queue *q);

/* --- ended sessions ------------------------------------------------------ */

struct sm_registry {
    struct hashmap users;       /* bare JID -> struct sm_old list (newest first) */
};

struct sm_registry *sm_registry_new(void);
void sm_registry_free(struct sm_registry *r);
/* Remembers that session 'id' of 'bare' ended with inbound count h.  At
 * most max_per_user ids are kept per account (the oldest go first);
 * entries older than 'lifetime' seconds are forgotten. */
void sm_registry_add(struct sm_registry *r, const char *bare, const char *id,
                     uint32_t h, time_t now, unsigned max_per_user, unsigned lifetime);
/* Looks 'id' up among the ended sessions of 'bare' (another account's ids
 * are never found).  Returns true and sets *h when known. */
bool sm_registry_find(struct sm_registry *r, const char *bare, const char *id,
                      uint32_t *h, time_t now, unsigned lifetime);
/* Ids kept for 'bare' (tests). */
size_t sm_registry_count(struct sm_registry *r, const char *bare);

#endif
