/*
 * ratelimit.h - per-source-address counters: failed logins and open
 * connections (issue: limits on connection rate and failed logins).
 * Keys are address strings; tables are bounded and expire old entries.
 */
#ifndef PARLEY_NET_RATELIMIT_H
#define PARLEY_NET_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct ratelimit;

/* Failures: after 'max' failures within 'window' seconds, the key is
 * locked for 'lockout' seconds. */
struct ratelimit *ratelimit_new(unsigned max, unsigned window, unsigned lockout);
void ratelimit_free(struct ratelimit *rl);
void ratelimit_configure(struct ratelimit *rl, unsigned max, unsigned window,
                         unsigned lockout);
/* Records one failure; returns the number of failures in the window. */
unsigned ratelimit_fail(struct ratelimit *rl, const char *key, time_t now);
/* Seconds left of a lockout, 0 when the key may try. */
unsigned ratelimit_locked(struct ratelimit *rl, const char *key, time_t now);
/* Failures currently counted for key (0 if none). */
unsigned ratelimit_failures(struct ratelimit *rl, const char *key, time_t now);
void ratelimit_clear(struct ratelimit *rl, const char *key);

/* Open connections per key. */
unsigned ratelimit_conn_inc(struct ratelimit *rl, const char *key);   /* new count */
void ratelimit_conn_dec(struct ratelimit *rl, const char *key);

/* Keys currently tracked (bounded; for metrics and tests). */
size_t ratelimit_count(const struct ratelimit *rl);

#endif
