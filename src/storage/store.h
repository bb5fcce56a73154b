/*
 * store.h - the one asynchronous storage interface (ARCHITECTURE.md
 * principles 1 and 5).
 *
 * Callers on the event loop submit requests; a backend executes them off
 * the loop (SQLite: a storage thread; PostgreSQL later: libpq's async API)
 * and the completion callback runs back on the loop thread, in submission
 * order.  The SQLite backend groups all requests queued at one time into
 * one transaction (group commit): a completion with status STORE_OK means
 * the write is committed and durable.
 *
 * Modules never include sqlite3.h or libpq-fe.h: they use this header.
 * Schema changes are numbered SQL files per backend under
 * src/storage/schema/<backend>/NNNN_<what>.sql, applied in order at start.
 */
#ifndef PARLEY_STORAGE_STORE_H
#define PARLEY_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct event_base;
struct conf_storage;
struct store;

enum store_status {
    STORE_OK = 0,
    STORE_ERROR = -1,           /* backend failure; details in the log */
    STORE_NOT_FOUND = -2,
    STORE_EXISTS = -3,
    STORE_LIMIT = -4,           /* a quota is full (log_append max_rows) */
};

/* Result handed to completion callbacks; valid only during the callback
 * (copy what you keep). */
struct store_result {
    int status;                 /* enum store_status */
    char *value;                /* account_get: encoded credentials;
                                   kv_get: the stored value (NUL-terminated) */
    size_t value_len;
    char **rows;                /* account_list: user names, sorted */
    size_t nrows;
    struct store_item *items;   /* kv_list, log_query: the rows, in order */
    size_t nitems;
    long long seq;              /* log_append: the new row's sequence number;
                                   log_query: rows matching before the limit
                                   was applied (for RSM <count/>) */
    bool more;                  /* log_query: the limit cut the result */
};

/* One row of kv_list or log_query (heap, freed by store.c after the
 * callback).  Fields a request does not produce are NULL / 0. */
struct store_item {
    char *key;                  /* kv: the key; log: the row's id */
    char *value;                /* NUL-terminated; value_len without the NUL */
    size_t value_len;
    char *with;                 /* log: the bare JID of the other party */
    long long stamp;            /* log: microseconds since the epoch */
    long long seq;              /* log: per-store increasing sequence number */
};

typedef void (*store_cb)(const struct store_result *res, void *ud);

/* Opens the backend, applies pending schema migrations (synchronously: this
 * is start-up, before the loop runs) and starts the worker.  NULL with a
 * message in err on failure. */
struct store *store_open(const struct conf_storage *cfg, struct event_base *base,
                         struct buf *err);
/* Finishes every queued request (their callbacks run), stops the worker,
 * closes the database.  Call from the loop thread. */
void store_close(struct store *s);
/* Schema version after migrations (for status and tests). */
int store_schema_version(const struct store *s);

/* Accounts.  'user' and 'host' are prepared JID parts; 'creds' is the
 * sasl_creds_encode() string (only SCRAM keys are ever stored). */
void store_account_create(struct store *s, const char *user, const char *host,
                          const char *creds, store_cb cb, void *ud);      /* OK | EXISTS */
void store_account_get(struct store *s, const char *user, const char *host,
                       store_cb cb, void *ud);    /* OK (value=creds) | NOT_FOUND */
void store_account_set_creds(struct store *s, const char *user, const char *host,
                             const char *creds, store_cb cb, void *ud);   /* OK | NOT_FOUND */
/* Deletes the account and every per-user row of every table (kv too). */
void store_account_delete(struct store *s, const char *user, const char *host,
                          store_cb cb, void *ud);  /* OK | NOT_FOUND */
void store_account_list(struct store *s, const char *host,
                        store_cb cb, void *ud);    /* OK (rows) */

/* Per-user key/value documents for modules (private XML, vCard, ...):
 * 'area' names the module's store ("private", "vcard"), 'key' the item. */
void store_kv_get(struct store *s, const char *user, const char *host,
                  const char *area, const char *key, store_cb cb, void *ud); /* OK | NOT_FOUND */
/* value NULL deletes (OK even if absent).  OK | NOT_FOUND: no such account
 * (a write queued behind the account's deletion must not resurrect rows). */
void store_kv_set(struct store *s, const char *user, const char *host,
                  const char *area, const char *key,
                  const char *value, size_t len, store_cb cb, void *ud);

/* Every (key, value) of one area of a user, sorted by key (bytewise).
 * OK (items; none if the user or area has none). */
void store_kv_list(struct store *s, const char *user, const char *host,
                   const char *area, store_cb cb, void *ud);
/* Deletes every key of one area of a user (OK even if none). */
void store_kv_clear(struct store *s, const char *user, const char *host,
                    const char *area, store_cb cb, void *ud);

/* Server-level key/value rows that belong to no account (HTTP API tokens).
 * 'area' names the user of the rows ("api_token"), 'key' the item. */
void store_server_kv_get(struct store *s, const char *area, const char *key,
                         store_cb cb, void *ud);    /* OK (value) | NOT_FOUND */
/* Inserts a new row.  OK | EXISTS (the key is taken; nothing changed). */
void store_server_kv_add(struct store *s, const char *area, const char *key,
                         const char *value, size_t len, store_cb cb, void *ud);
void store_server_kv_delete(struct store *s, const char *area, const char *key,
                            store_cb cb, void *ud); /* OK | NOT_FOUND */
/* Every (key, value) of the area, sorted by key.  OK (items). */
void store_server_kv_list(struct store *s, const char *area, store_cb cb, void *ud);

/*
 * Per-user append-only logs: offline messages ("offline"), the message
 * archive ("mam"), MUC room archives (user = room localpart, host = the
 * MUC service).  A row has a sequence number (increasing across the whole
 * store, so it orders rows), a unique 'id' (XEP-0359 stanza id, chosen by
 * the caller), the bare JID of the other party, a timestamp and a value
 * (the serialized stanza).
 *
 * Appends to a user that does not exist fail with NOT_FOUND unless the
 * area is a room archive (store_log_append's 'need_account' false).
 */
struct store_log_append_args {
    const char *user, *host, *area;
    const char *id;             /* unique within (host, user, area) */
    const char *with;           /* bare JID of the other party; may be NULL */
    long long stamp;            /* microseconds since the epoch */
    const char *value;
    size_t value_len;
    long long max_rows;         /* > 0: fail with STORE_LIMIT if the area
                                   already holds this many rows (quota) */
    bool need_account;
};
/* OK (res->seq) | NOT_FOUND (no account) | EXISTS (id) | LIMIT (quota).
 * Checked in that order: a retried append of a row already stored gets
 * EXISTS even when the area is full. */
void store_log_append(struct store *s, const struct store_log_append_args *a,
                      store_cb cb, void *ud);

/* A query.  Unset bounds are 0 / NULL.  Rows come back oldest first;
 * with 'reverse' the limit takes the newest rows (RSM <before/>), still
 * returned oldest first. */
struct store_log_query_args {
    const char *user, *host, *area;
    const char *with;           /* exact match on the bare JID */
    long long start, end;       /* stamp bounds, inclusive; 0 = open */
    const char *after_id;       /* rows after this id (RSM <after/>) */
    const char *before_id;      /* rows before this id (RSM <before/>) */
    const char *const *ids;     /* only these ids (XEP-0313 <ids/>); NULL-terminated */
    bool skip_unknown_ids;      /* with ids: unknown ones are left out of the
                                   result instead of failing it with NOT_FOUND
                                   (which is XEP-0313 §4.1.3's answer) */
    long long limit;            /* <= 0: no limit */
    bool reverse;
};
/* OK (items, seq = total matching, more) | NOT_FOUND: after_id, before_id
 * or one of 'ids' is not in the user's area (XEP-0313 §4.1.3, XEP-0059
 * §2.4: <item-not-found/>).
 *
 * The filters with/start/end/ids make the result set: res->seq is its size
 * whatever the page (RSM <count/>).  after_id/before_id keep the rows
 * strictly between those rows (by seq).  Of these, the page is the first
 * 'limit' rows, or with 'reverse' the last 'limit'; res->more says rows
 * were cut off on the paging side (after the page, or with 'reverse'
 * before it): the MAM <fin/> is then not complete. */
void store_log_query(struct store *s, const struct store_log_query_args *a,
                     store_cb cb, void *ud);
/* Deletes rows of a user's area: the ids listed (NULL-terminated; ids not
 * there are skipped), or, with ids NULL, every row with seq <= upto_seq
 * (upto_seq 0: all rows).  OK (res->seq = rows deleted). */
void store_log_delete(struct store *s, const char *user, const char *host,
                      const char *area, const char *const *ids,
                      long long upto_seq, store_cb cb, void *ud);
/* Retention: deletes the rows of 'area' of every user of 'host' with a
 * stamp < 'before' (microseconds).  OK (res->seq = rows deleted). */
void store_log_expire(struct store *s, const char *host, const char *area,
                      long long before, store_cb cb, void *ud);
/* OK (res->seq = rows in the user's area). */
void store_log_count(struct store *s, const char *user, const char *host,
                     const char *area, store_cb cb, void *ud);

/* Runs nothing, but completes after everything submitted before it has
 * completed (and so been committed): a barrier, e.g. for an XEP-0198 <a/>
 * that must not be sent before the writes it covers are durable. */
void store_barrier(struct store *s, void (*done)(void *ud), void *ud);

/* Runs work(ud) on the worker thread (CPU-heavy jobs such as PBKDF2 that
 * must not block the loop), then done(ud) on the loop, in queue order with
 * the other requests. */
void store_work(struct store *s, void (*work)(void *ud), void (*done)(void *ud),
                void *ud);

/* Requests submitted but not yet completed (for status and tests). */
size_t store_pending(const struct store *s);

/* Counters since store_open (for status, metrics and tests).  Group commit
 * shows as requests much larger than commits under load. */
struct store_stats {
    unsigned long long batches;     /* transactions begun (one per batch) */
    unsigned long long commits;     /* ... of which committed */
    unsigned long long requests;    /* storage requests executed (not work) */
};
void store_stats(const struct store *s, struct store_stats *out);

#endif
