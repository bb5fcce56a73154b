/*
 * sqlite.h - the storage backend interface and the SQLite backend
 * (ARCHITECTURE.md principles 1 and 5).  Internal to src/storage/: modules
 * use store.h.
 *
 * store.c owns what every backend shares: the request queue, the worker
 * thread, group commit and the hand-back of completions to the loop.  A
 * backend only executes requests, inside a transaction that store.c opens
 * and commits around each batch, so all backends get group commit the same
 * way.  The interface types live here because SQLite is the only backend
 * so far; when PostgreSQL arrives they move to src/storage/backend.h
 * unchanged.
 */
#ifndef PARLEY_STORAGE_SQLITE_SQLITE_H
#define PARLEY_STORAGE_SQLITE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "storage/store.h"

struct conf_storage;

/* What a request asks for.  STORE_OP_WORK never reaches a backend. */
enum store_op {
    STORE_OP_ACCOUNT_CREATE,
    STORE_OP_ACCOUNT_GET,
    STORE_OP_ACCOUNT_SET_CREDS,
    STORE_OP_ACCOUNT_DELETE,
    STORE_OP_ACCOUNT_LIST,
    STORE_OP_KV_GET,
    STORE_OP_KV_SET,            /* value NULL: delete */
    STORE_OP_KV_LIST,
    STORE_OP_KV_CLEAR,
    STORE_OP_LOG_APPEND,
    STORE_OP_LOG_QUERY,
    STORE_OP_LOG_DELETE,
    STORE_OP_LOG_EXPIRE,
    STORE_OP_LOG_COUNT,
    STORE_OP_SKV_GET,
    STORE_OP_SKV_ADD,
    STORE_OP_SKV_DELETE,
    STORE_OP_SKV_LIST,
    STORE_OP_WORK,
};

/* A request's arguments; the strings are borrowed from the request (one
 * allocation made by store.c) and live until its completion has run. */
struct store_args {
    const char *user;
    const char *host;
    const char *creds;          /* account_create, account_set_creds */
    const char *area;           /* kv, log */
    const char *key;            /* kv */
    const char *value;          /* kv_set (NULL deletes), log_append */
    size_t value_len;

    /* log_append */
    const char *id;
    const char *with;           /* also log_query; NULL: none / any */
    long long stamp;
    long long max_rows;         /* > 0: quota */
    bool need_account;

    /* log_query */
    long long start, end;       /* 0: open */
    const char *after_id, *before_id;
    long long limit;            /* 0: none */
    bool reverse;

    /* log_query, log_delete: NULL-terminated, NULL when unset */
    const char *const *ids;
    bool skip_unknown_ids;      /* log_query: no NOT_FOUND for unknown ids */
    long long upto_seq;         /* log_delete without ids; 0: all */
    long long before;           /* log_expire: stamps below this go */
};

/*
 * A backend.  All functions but open() run on the storage worker thread,
 * one at a time; open() runs on the caller's thread before the worker
 * starts.  'db' is the backend's own handle.
 */
struct store_backend {
    const char *name;
    /* Opens the database and applies pending migrations; NULL with a
     * message appended to err on failure. */
    void *(*open)(const struct conf_storage *cfg, struct buf *err);
    int (*schema_version)(const void *db);
    /* Opens the batch transaction.  0, or -1 (logged). */
    /* 'write': some request of the batch may write.  A read-only batch
     * may take a lighter transaction (no write lock). */
    int (*begin)(void *db, bool write);
    /* Executes one request inside the batch; fills res->status and, for
     * reads, res->value / res->rows / res->items (heap, freed by store.c
     * with free(): each item's key, value and with, then the array).
     * A request that fails on its own (constraint, not found) must leave
     * the batch's other writes intact. */
    void (*exec)(void *db, enum store_op op, const struct store_args *a,
                 struct store_result *res);
    /* Commits the batch: 0 when it is durable, -1 (logged) when it is not,
     * in which case the backend has rolled it back. */
    int (*commit)(void *db);
    void (*close)(void *db);
};

extern const struct store_backend store_sqlite_backend;

/* Whether a request of this op may change the database (any backend:
 * the ops' meaning, not SQLite's). */
bool store_op_is_write(enum store_op op);

/* One schema migration, generated at build time from
 * src/storage/schema/sqlite/NNNN_<name>.sql by src/storage/embed_schema.py. */
struct store_migration {
    int version;                /* NNNN: 1, 2, ... without gaps */
    const char *name;           /* <name> */
    const char *sql;            /* the file's text */
};

extern const struct store_migration store_sqlite_migrations[];
extern const size_t store_sqlite_migrations_count;

#endif
