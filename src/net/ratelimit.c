/*
 * ratelimit.c - per-source-address counters of failed logins and open
 * connections (the limits behind auth.max_failures / failure_window /
 * lockout and limits.max_connections_per_ip).
 *
 * A bounded open-addressing hash table (linear probing, deletion by
 * backward shift, so there are no tombstones to clean up) keyed by the
 * address string.  Average O(1) per call.
 *
 * Failures use a fixed window that opens with the first failure: the
 * count resets once 'window' seconds have passed.  Reaching 'max' locks
 * the key for 'lockout' seconds; while locked the window does not expire,
 * and when the lock ends the count starts from zero, so every lockout is
 * followed by a full new allowance rather than an instant re-lock.
 *
 * Peers choose how many addresses they come from, so the table is capped
 * at RL_MAX_ENTRIES.  An entry that holds nothing (no connection, no
 * failure, no lock) is removed at once.  When the table is full, expired
 * entries are swept (once per RL_MAX_ENTRIES / 8 insertions, which keeps
 * the sweep amortized O(1), or when the clock moved since the last sweep,
 * which is at most once a second); if that is not enough, one entry near
 * the new key's slot is evicted, preferring idle and old ones.  Evicting
 * an entry forgets its counts: the limit becomes more lenient for that
 * address, never stricter.
 *
 * Addresses are attacker-chosen (an IPv6 /64 gives 2^64 of them), so the
 * hash is SipHash-2-4 with a per-table random key: nobody can aim many
 * keys at one probe chain.
 */
#include "net/ratelimit.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "core/mem.h"

#define RL_MAX_ENTRIES 65536u           /* live keys at most */
#define RL_MAX_SLOTS (2 * RL_MAX_ENTRIES) /* load factor <= 1/2 */
#define RL_MIN_SLOTS 64u
#define RL_KEY_MAX 128                  /* longer keys are cut (addresses are < 64) */
#define RL_EVICT_SAMPLE 16              /* slots looked at to choose a victim */

struct rl_entry {
    char *key;                  /* heap; NULL marks an empty slot */
    uint64_t hash;
    unsigned conns;             /* open connections */
    unsigned failures;          /* in the current window */
    bool locked;                /* locked_until is meaningful */
    time_t window_start;        /* first failure of the window */
    time_t locked_until;
    time_t last;                /* last touched, for choosing a victim */
};

struct ratelimit {
    struct rl_entry *slots;
    size_t mask;                /* slot count - 1 (a power of two) */
    size_t count;               /* occupied slots */
    size_t inserts_since_sweep;
    time_t sweep_time;          /* rl->now at the last sweep */
    time_t now;                 /* latest time seen; conn calls carry none */
    unsigned max, window, lockout;
    uint8_t seed[16];           /* SipHash key */
};

/* --- SipHash-2-4 (Aumasson, Bernstein 2012) ------------------------------ */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
    do {                                                                \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);        \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                          \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                          \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);        \
    } while (0)

static uint64_t siphash24(const uint8_t key[16], const uint8_t *in, size_t len)
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    const uint8_t *end = in + (len & ~(size_t)7);
    for (; in != end; in += 8) {
        uint64_t m = le64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* --- table --------------------------------------------------------------- */

static size_t key_len(const char *key)
{
    return strnlen(key, RL_KEY_MAX);
}

static uint64_t key_hash(const struct ratelimit *rl, const char *key)
{
    return siphash24(rl->seed, (const uint8_t *)key, key_len(key));
}

static bool key_eq(const struct rl_entry *e, uint64_t h, const char *key)
{
    return e->hash == h && strncmp(e->key, key, RL_KEY_MAX) == 0;
}

/* The slot holding key, or NULL. */
static struct rl_entry *find(struct ratelimit *rl, const char *key)
{
    uint64_t h = key_hash(rl, key);
    for (size_t i = h & rl->mask;; i = (i + 1) & rl->mask) {
        struct rl_entry *e = &rl->slots[i];
        if (e->key == NULL)
            return NULL;
        if (key_eq(e, h, key))
            return e;
    }
}

/* Puts a moved-in entry (key set) into its first free slot. */
static void place(struct ratelimit *rl, const struct rl_entry *src)
{
    size_t i = src->hash & rl->mask;
    while (rl->slots[i].key != NULL)
        i = (i + 1) & rl->mask;
    rl->slots[i] = *src;
}

static void grow(struct ratelimit *rl)
{
    struct rl_entry *old = rl->slots;
    size_t n = rl->mask + 1;
    rl->slots = pl_calloc(n * 2, sizeof(*rl->slots));
    rl->mask = n * 2 - 1;
    for (size_t i = 0; i < n; i++)
        if (old[i].key != NULL)
            place(rl, &old[i]);
    free(old);
}

/* Removes slots[i], shifting later members of its probe run back so that
 * every entry stays reachable from its home slot (Knuth 6.4 Algorithm R). */
static void remove_at(struct ratelimit *rl, size_t i)
{
    free(rl->slots[i].key);
    size_t hole = i;
    for (size_t j = (i + 1) & rl->mask; rl->slots[j].key != NULL; j = (j + 1) & rl->mask) {
        size_t home = rl->slots[j].hash & rl->mask;
        /* j may fill the hole when the hole lies on its probe path,
         * i.e. within [home, j) cyclically. */
        if (((j - home) & rl->mask) >= ((j - hole) & rl->mask)) {
            rl->slots[hole] = rl->slots[j];
            hole = j;
        }
    }
    memset(&rl->slots[hole], 0, sizeof(rl->slots[hole]));
    rl->count--;
}

static void remove_entry(struct ratelimit *rl, struct rl_entry *e)
{
    remove_at(rl, (size_t)(e - rl->slots));
}

/* Ends an expired lock or window. */
static void refresh(const struct ratelimit *rl, struct rl_entry *e, time_t now)
{
    if (e->locked) {
        if (now < e->locked_until)
            return;
        e->locked = false;
        e->failures = 0;
    }
    /* A clock stepping back keeps the window open rather than resetting. */
    if (e->failures > 0 && now >= e->window_start &&
        (unsigned long long)(now - e->window_start) >= rl->window)
        e->failures = 0;
}

static bool is_idle(const struct rl_entry *e)
{
    return e->conns == 0 && e->failures == 0 && !e->locked;
}

/* Removes every entry that holds nothing any more at rl->now. */
static void sweep(struct ratelimit *rl)
{
    rl->inserts_since_sweep = 0;
    rl->sweep_time = rl->now;
    for (size_t i = 0; i <= rl->mask;) {
        struct rl_entry *e = &rl->slots[i];
        if (e->key != NULL) {
            refresh(rl, e, rl->now);
            if (is_idle(e)) {
                remove_at(rl, i);       /* a later entry may now sit at i */
                continue;
            }
        }
        i++;
    }
}

/* Lower is a better victim: entries holding connections last, then
 * locked ones, then by age. */
static bool better_victim(const struct rl_entry *a, const struct rl_entry *b)
{
    if ((a->conns > 0) != (b->conns > 0))
        return a->conns == 0;
    if (a->locked != b->locked)
        return !a->locked;
    return a->last < b->last;
}

/* Frees one slot of a full table. */
static void make_room(struct ratelimit *rl, uint64_t h)
{
    /* A sweep costs a pass over the table: only when enough insertions
     * have happened to pay for it, or when time moved on since the last
     * one (so at most once a second under a flood). */
    if (rl->inserts_since_sweep >= RL_MAX_ENTRIES / 8 || rl->now != rl->sweep_time) {
        sweep(rl);
        if (rl->count < RL_MAX_ENTRIES)
            return;
    }
    struct rl_entry *victim = NULL;
    size_t seen = 0;
    for (size_t i = h & rl->mask; seen < RL_EVICT_SAMPLE; i = (i + 1) & rl->mask) {
        struct rl_entry *e = &rl->slots[i];
        if (e->key == NULL)
            continue;
        seen++;
        if (victim == NULL || better_victim(e, victim))
            victim = e;
    }
    remove_entry(rl, victim);
}

/* The entry for key, created if absent. */
static struct rl_entry *get(struct ratelimit *rl, const char *key)
{
    struct rl_entry *e = find(rl, key);
    if (e != NULL)
        return e;
    uint64_t h = key_hash(rl, key);
    if (rl->count >= RL_MAX_ENTRIES)
        make_room(rl, h);
    else if ((rl->count + 1) * 2 > rl->mask + 1 && rl->mask + 1 < RL_MAX_SLOTS)
        grow(rl);
    struct rl_entry ne = {
        .key = pl_strndup(key, key_len(key)),
        .hash = h,
        .last = rl->now,
    };
    place(rl, &ne);
    rl->count++;
    rl->inserts_since_sweep++;
    return find(rl, key);
}

/* --- API ----------------------------------------------------------------- */

struct ratelimit *ratelimit_new(unsigned max, unsigned window, unsigned lockout)
{
    struct ratelimit *rl = pl_calloc(1, sizeof(*rl));
    rl->slots = pl_calloc(RL_MIN_SLOTS, sizeof(*rl->slots));
    rl->mask = RL_MIN_SLOTS - 1;
    rl->inserts_since_sweep = RL_MAX_ENTRIES;  /* the first full table sweeps */
    ratelimit_configure(rl, max, window, lockout);
    /* Without randomness the hash is still SipHash, just predictable:
     * degrade rather than refuse to start. */
    if (getrandom(rl->seed, sizeof(rl->seed), 0) != (ssize_t)sizeof(rl->seed))
        memset(rl->seed, 0x5a, sizeof(rl->seed));
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i <= rl->mask; i++)
        free(rl->slots[i].key);
    free(rl->slots);
    free(rl);
}

void ratelimit_configure(struct ratelimit *rl, unsigned max, unsigned window,
                         unsigned lockout)
{
    rl->max = max;
    rl->window = window;
    rl->lockout = lockout;
}

static void see_time(struct ratelimit *rl, time_t now)
{
    if (now > rl->now)
        rl->now = now;
}

unsigned ratelimit_fail(struct ratelimit *rl, const char *key, time_t now)
{
    see_time(rl, now);
    struct rl_entry *e = get(rl, key);
    refresh(rl, e, now);
    if (e->failures == 0)
        e->window_start = now;
    if (e->failures < UINT_MAX)
        e->failures++;
    e->last = now;
    /* max 0 counts without ever locking; lockout 0 likewise. */
    if (!e->locked && rl->max > 0 && rl->lockout > 0 && e->failures >= rl->max) {
        e->locked = true;
        e->locked_until = now + (time_t)rl->lockout;
    }
    return e->failures;
}

unsigned ratelimit_locked(struct ratelimit *rl, const char *key, time_t now)
{
    see_time(rl, now);
    struct rl_entry *e = find(rl, key);
    if (e == NULL)
        return 0;
    refresh(rl, e, now);
    if (is_idle(e)) {
        remove_entry(rl, e);
        return 0;
    }
    if (!e->locked)
        return 0;
    unsigned long long left = (unsigned long long)(e->locked_until - now);
    return left > UINT_MAX ? UINT_MAX : (unsigned)left;
}

unsigned ratelimit_failures(struct ratelimit *rl, const char *key, time_t now)
{
    see_time(rl, now);
    struct rl_entry *e = find(rl, key);
    if (e == NULL)
        return 0;
    refresh(rl, e, now);
    unsigned n = e->failures;
    if (is_idle(e))
        remove_entry(rl, e);
    return n;
}

void ratelimit_clear(struct ratelimit *rl, const char *key)
{
    struct rl_entry *e = find(rl, key);
    if (e == NULL)
        return;
    e->failures = 0;
    e->locked = false;
    if (is_idle(e))
        remove_entry(rl, e);
}

unsigned ratelimit_conn_inc(struct ratelimit *rl, const char *key)
{
    struct rl_entry *e = get(rl, key);
    if (e->conns < UINT_MAX)
        e->conns++;
    e->last = rl->now;
    return e->conns;
}

void ratelimit_conn_dec(struct ratelimit *rl, const char *key)
{
    struct rl_entry *e = find(rl, key);
    if (e == NULL)
        return;         /* evicted from a full table: nothing to undo */
    if (e->conns > 0)
        e->conns--;
    refresh(rl, e, rl->now);
    if (is_idle(e))
        remove_entry(rl, e);
}

size_t ratelimit_count(const struct ratelimit *rl)
{
    return rl->count;
}
