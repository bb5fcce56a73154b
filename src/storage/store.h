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
