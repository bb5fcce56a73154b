/*
 * sqlite.c - the SQLite storage backend (ARCHITECTURE.md principles 1 and 5;
 * the store.h contract).
 *
 * open() runs at start-up on the loop thread; everything else runs on the
 * storage worker thread (store.c), inside the batch transaction store.c
 * opens with begin() and closes with commit().  The connection is opened
 * SQLITE_OPEN_NOMUTEX: after open only the worker touches it, and
 * pthread_create() orders open() before the worker's first use, so SQLite's
 * per-call connection mutex would buy nothing.
 *
 * Durability: journal_mode=WAL with synchronous=FULL.  WAL with NORMAL only
 * syncs the WAL at checkpoints, so a committed transaction survives a
 * process crash but may vanish on power loss; principle 5 says a completion
 * with STORE_OK (and thus a client ack) means durable, so every commit
 * syncs the WAL.  Group commit in store.c makes that one fsync per batch.
 *
 * Schema: the numbered files under src/storage/schema/sqlite/, embedded at
 * build time (embed_schema.py), applied in order, each in its own
 * transaction together with its row in schema_version.
 */
#include "storage/sqlite/sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/mem.h"

/* Another process (a backup, the sqlite3 shell) may hold the write lock for
 * a moment; wait rather than fail the batch.  Only the worker waits. */
#define SQLITE_BUSY_TIMEOUT_MS 5000

/*
 * Every table that holds per-user rows, keyed by leading (host, user)
 * columns.  store_account_delete removes the user's rows from each of them
 * in the same savepoint as the account row: EVERY MIGRATION THAT ADDS A
 * PER-USER TABLE MUST ADD IT HERE, or deleting an account leaves data that
 * a later account of the same name would inherit.
 */
static const char *const per_user_tables[] = {
    "kv",                       /* 0002_kv.sql */
};

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_ACCOUNT_INSERT,
    ST_ACCOUNT_GET,
    ST_ACCOUNT_SET_CREDS,
    ST_ACCOUNT_DELETE,
    ST_ACCOUNT_LIST,
    ST_KV_GET,
    ST_KV_SET,
    ST_KV_DELETE,
    ST_COUNT,
};

/* Prepared once after the migrations, reset after every use. */
static const char *const stmt_sql[ST_COUNT] = {
    /* IMMEDIATE takes the write lock up front: a deferred transaction that
     * reads first and writes later can fail with SQLITE_BUSY mid-batch. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT req",
    [ST_RELEASE] = "RELEASE req",
    [ST_ROLLBACK_TO] = "ROLLBACK TO req",
    [ST_ACCOUNT_INSERT] =
        "INSERT INTO accounts (host, user, creds, created) VALUES (?1, ?2, ?3, ?4)",
    [ST_ACCOUNT_GET] = "SELECT creds FROM accounts WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_SET_CREDS] =
        "UPDATE accounts SET creds = ?3 WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_DELETE] = "DELETE FROM accounts WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_LIST] = "SELECT user FROM accounts WHERE host = ?1 ORDER BY user",
    [ST_KV_GET] =
        "SELECT value FROM kv WHERE host = ?1 AND user = ?2 AND area = ?3 AND key = ?4",
    /* Only for an existing account: a write queued behind the account's
     * deletion must not resurrect rows a new account of that name would
     * then see. */
    [ST_KV_SET] =
        "INSERT INTO kv (host, user, area, key, value)"
        " SELECT ?1, ?2, ?3, ?4, ?5"
        " WHERE EXISTS (SELECT 1 FROM accounts WHERE host = ?1 AND user = ?2)"
        " ON CONFLICT (host, user, area, key) DO UPDATE SET value = excluded.value",
    [ST_KV_DELETE] =
        "DELETE FROM kv WHERE host = ?1 AND user = ?2 AND area = ?3 AND key = ?4",
};

struct sqlite_db {
    sqlite3 *db;
    int version;                /* schema version after migrations */
    sqlite3_stmt *stmt[ST_COUNT];
    sqlite3_stmt *delete_user[PL_ARRAY_LEN(per_user_tables)];  /* per table */
};

/* --- open, migrations ----------------------------------------------------- */

/* Runs SQL text (possibly several statements) with no results. */
static int exec_sql(sqlite3 *db, const char *sql, struct buf *err, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    buf_printf(err, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* Reads one integer from a single-row query; -1 on error. */
static int query_int(sqlite3 *db, const char *sql, long long *out, struct buf *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *out = sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_ROW)
        buf_printf(err, "cannot read schema version: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int set_pragmas(sqlite3 *db, struct buf *err)
{
    /* journal_mode answers with the mode in effect: a database on a
     * filesystem without shared memory support stays in its old mode. */
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        buf_printf(err, "cannot set WAL mode: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -1;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    bool wal = mode && strcmp(mode, "wal") == 0;
    if (!wal)
        buf_printf(err, "cannot set WAL mode: the database stays in '%s' mode",
                   mode ? mode : "?");
    sqlite3_finalize(st);
    if (!wal)
        return -1;
    /* trusted_schema=OFF: the file is data, never a source of code to run
     * (views or triggers calling side-effecting functions). */
    return exec_sql(db,
                    "PRAGMA synchronous = FULL;"
                    "PRAGMA foreign_keys = ON;"
                    "PRAGMA trusted_schema = OFF;",
                    err, "cannot configure database");
}

/* Applies each embedded migration above the database's version, each in
 * its own transaction with its schema_version row, so a crash mid-way
 * leaves a consistent, resumable version. */
static int migrate(sqlite3 *db, int *version_out, struct buf *err)
{
    if (exec_sql(db,
                 "CREATE TABLE IF NOT EXISTS schema_version ("
                 " version INTEGER PRIMARY KEY,"
                 " name TEXT NOT NULL,"
                 " applied INTEGER NOT NULL)",
                 err, "cannot create schema_version") < 0)
        return -1;
    long long cur = 0;
    if (query_int(db, "SELECT coalesce(max(version), 0) FROM schema_version",
                  &cur, err) < 0)
        return -1;
    long long known = (long long)store_sqlite_migrations_count;
    if (cur > known) {
        buf_printf(err, "database schema version %lld is newer than this "
                   "parleyd supports (%lld)", cur, known);
        return -1;
    }

    for (size_t i = 0; i < store_sqlite_migrations_count; i++) {
        const struct store_migration *m = &store_sqlite_migrations[i];
        if (m->version <= cur)
            continue;
        struct buf what = BUF_INIT;
        buf_printf(&what, "schema migration %04d_%s failed", m->version, m->name);
        char *record = sqlite3_mprintf(
            "INSERT INTO schema_version (version, name, applied)"
            " VALUES (%d, %Q, %lld)", m->version, m->name, (long long)time(NULL));
        int rc = exec_sql(db, "BEGIN IMMEDIATE", err, what.data);
        if (rc == 0)
            rc = exec_sql(db, m->sql, err, what.data);
        if (rc == 0)
            rc = exec_sql(db, record, err, what.data);
        if (rc == 0)
            rc = exec_sql(db, "COMMIT", err, what.data);
        if (rc < 0 && !sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_free(record);
        buf_release(&what);
        if (rc < 0)
            return -1;
        log_info("store: applied schema migration %04d_%s", m->version, m->name);
        cur = m->version;
    }
    *version_out = (int)cur;
    return 0;
}

static int prepare_all(struct sqlite_db *d, struct buf *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(d->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &d->stmt[i], NULL) != SQLITE_OK) {
            buf_printf(err, "cannot prepare '%s': %s", stmt_sql[i],
                       sqlite3_errmsg(d->db));
            return -1;
        }
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(per_user_tables); i++) {
        /* Table names come from the static list above, never from input. */
        char *sql = sqlite3_mprintf("DELETE FROM \"%w\" WHERE host = ?1 AND user = ?2",
                                    per_user_tables[i]);
        int rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &d->delete_user[i], NULL);
        if (rc != SQLITE_OK)
            buf_printf(err, "cannot prepare '%s': %s", sql, sqlite3_errmsg(d->db));
        sqlite3_free(sql);
        if (rc != SQLITE_OK)
            return -1;
    }
    return 0;
}

static void sqlite_close(void *db)
{
    struct sqlite_db *d = db;
    if (!d)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(d->stmt[i]);
    for (size_t i = 0; i < PL_ARRAY_LEN(per_user_tables); i++)
        sqlite3_finalize(d->delete_user[i]);
    /* Every statement is finalized, so close cannot be deferred; it
     * checkpoints the WAL into the database file. */
    if (d->db && sqlite3_close(d->db) != SQLITE_OK)
        log_error("store: cannot close database: %s", sqlite3_errmsg(d->db));
    free(d);
}

static void *sqlite_open(const struct conf_storage *cfg, struct buf *err)
{
    if (!cfg->path || !cfg->path[0]) {
        buf_puts(err, "storage.path is not set");
        return NULL;
    }
    if (!sqlite3_threadsafe()) {
        buf_puts(err, "the SQLite library was built without thread support");
        return NULL;
    }
    /* Create the file ourselves so that it is 0600: it holds SCRAM keys.
     * SQLite gives the -wal and -shm files the database file's mode. */
    int fd = open(cfg->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        buf_printf(err, "cannot open database '%s': %s", cfg->path, strerror(errno));
        return NULL;
    }
    close(fd);

    struct sqlite_db *d = pl_calloc(1, sizeof(*d));
    if (sqlite3_open_v2(cfg->path, &d->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        buf_printf(err, "cannot open database '%s': %s", cfg->path,
                   d->db ? sqlite3_errmsg(d->db) : "out of memory");
        goto fail_close;
    }
    sqlite3_extended_result_codes(d->db, 1);
    sqlite3_busy_timeout(d->db, SQLITE_BUSY_TIMEOUT_MS);

    struct buf why = BUF_INIT;
    if (set_pragmas(d->db, &why) < 0 || migrate(d->db, &d->version, &why) < 0
        || prepare_all(d, &why) < 0) {
        /* The steps name what failed; say which file. */
        buf_printf(err, "database '%s': %s", cfg->path, why.data);
        buf_release(&why);
        goto fail_close;
    }
    buf_release(&why);
    return d;

fail_close:
    sqlite_close(d);
    return NULL;
}

static int sqlite_schema_version(const void *db)
{
    const struct sqlite_db *d = db;
    return d->version;
}

/* --- execution (worker thread) -------------------------------------------- */

/* Steps a statement that returns no rows and resets it; the step's code. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Binds host and user as ?1 and ?2; SQLITE_STATIC because the request
 * outlives the statement's use. */
static void bind_user(sqlite3_stmt *st, const struct store_args *a)
{
    sqlite3_bind_text(st, 1, a->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->user, -1, SQLITE_STATIC);
}

static int fail(struct sqlite_db *d, const char *what, int rc)
{
    /* Only the operation: the arguments include credentials. */
    log_error("store: sqlite: %s failed: %s (%d)", what, sqlite3_errstr(rc), rc);
    (void)d;
    return STORE_ERROR;
}

/* Copies a column into a NUL-terminated heap string (text or blob). */
static char *copy_column(sqlite3_stmt *st, int col, size_t *len_out)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *v = pl_malloc(n + 1);
    if (n)
        memcpy(v, p, n);
    v[n] = '\0';
    *len_out = n;
    return v;
}

static int account_create(struct sqlite_db *d, const struct store_args *a)
{
    sqlite3_stmt *st = d->stmt[ST_ACCOUNT_INSERT];
    bind_user(st, a);
    sqlite3_bind_text(st, 3, a->creds, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    int rc = run(st);
    if (rc == SQLITE_DONE)
        return STORE_OK;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return STORE_EXISTS;
    return fail(d, "account_create", rc);
}

/* Steps a bound one-row query: its first column becomes res->value.
 * STORE_OK, STORE_NOT_FOUND when there is no row, or STORE_ERROR. */
static int step_value(struct sqlite_db *d, sqlite3_stmt *st, const char *what,
                      struct store_result *res)
{
    int rc = sqlite3_step(st);
    int status;
    if (rc == SQLITE_ROW) {
        res->value = copy_column(st, 0, &res->value_len);
        status = STORE_OK;
    } else if (rc == SQLITE_DONE) {
        status = STORE_NOT_FOUND;
    } else {
        status = fail(d, what, rc);
    }
    finish(st);
    return status;
}

static int account_get(struct sqlite_db *d, const struct store_args *a,
                       struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_ACCOUNT_GET];
    bind_user(st, a);
    return step_value(d, st, "account_get", res);
}

static int account_set_creds(struct sqlite_db *d, const struct store_args *a)
{
    sqlite3_stmt *st = d->stmt[ST_ACCOUNT_SET_CREDS];
    bind_user(st, a);
    sqlite3_bind_text(st, 3, a->creds, -1, SQLITE_STATIC);
    int rc = run(st);
    if (rc != SQLITE_DONE)
        return fail(d, "account_set_creds", rc);
    return sqlite3_changes(d->db) ? STORE_OK : STORE_NOT_FOUND;
}

static int account_delete(struct sqlite_db *d, const struct store_args *a)
{
    sqlite3_stmt *st = d->stmt[ST_ACCOUNT_DELETE];
    bind_user(st, a);
    int rc = run(st);
    if (rc != SQLITE_DONE)
        return fail(d, "account_delete", rc);
    if (!sqlite3_changes(d->db))
        return STORE_NOT_FOUND;
    for (size_t i = 0; i < PL_ARRAY_LEN(per_user_tables); i++) {
        bind_user(d->delete_user[i], a);
        rc = run(d->delete_user[i]);
        if (rc != SQLITE_DONE)
            return fail(d, "account_delete", rc);
    }
    return STORE_OK;
}

static int account_list(struct sqlite_db *d, const struct store_args *a,
                        struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_ACCOUNT_LIST];
    sqlite3_bind_text(st, 1, a->host, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (res->nrows == cap) {
            cap = cap ? cap * 2 : 16;
            res->rows = pl_realloc(res->rows, cap * sizeof(*res->rows));
        }
        size_t len;
        res->rows[res->nrows++] = copy_column(st, 0, &len);
    }
    finish(st);
    if (rc != SQLITE_DONE) {
        /* store.c frees rows; it needs nothing half-filled. */
        return fail(d, "account_list", rc);
    }
    return STORE_OK;
}

static int kv_get(struct sqlite_db *d, const struct store_args *a,
                  struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_KV_GET];
    bind_user(st, a);
    sqlite3_bind_text(st, 3, a->area, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->key, -1, SQLITE_STATIC);
    return step_value(d, st, "kv_get", res);
}

static int kv_set(struct sqlite_db *d, const struct store_args *a)
{
    sqlite3_stmt *st = d->stmt[a->value ? ST_KV_SET : ST_KV_DELETE];
    bind_user(st, a);
    sqlite3_bind_text(st, 3, a->area, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->key, -1, SQLITE_STATIC);
    if (a->value) {
        /* A non-NULL pointer with length 0 binds an empty blob, not NULL. */
        sqlite3_bind_blob64(st, 5, a->value, a->value_len, SQLITE_STATIC);
    }
    int rc = run(st);
    if (rc != SQLITE_DONE)
        return fail(d, "kv_set", rc);
    /* Deleting is idempotent; a set touches no row only when the account
     * does not exist. */
    if (a->value && !sqlite3_changes(d->db))
        return STORE_NOT_FOUND;
    return STORE_OK;
}

static bool is_write(enum store_op op)
{
    return op == STORE_OP_ACCOUNT_CREATE || op == STORE_OP_ACCOUNT_SET_CREDS
        || op == STORE_OP_ACCOUNT_DELETE || op == STORE_OP_KV_SET;
}

static void sqlite_exec(void *db, enum store_op op, const struct store_args *a,
                        struct store_result *res)
{
    struct sqlite_db *d = db;
    res->status = STORE_ERROR;
    /* Some errors (SQLITE_FULL, SQLITE_IOERR) make SQLite roll the whole
     * transaction back.  Running this request now would commit it on its
     * own while commit() reports the batch failed: refuse instead. */
    if (sqlite3_get_autocommit(d->db))
        return;
    /* A savepoint per write: a request that fails on its own (EXISTS,
     * NOT_FOUND, a half-done delete) is undone without touching the rest
     * of the batch. */
    bool write = is_write(op);
    if (write) {
        int rc = run(d->stmt[ST_SAVEPOINT]);
        if (rc != SQLITE_DONE) {
            fail(d, "savepoint", rc);
            return;
        }
    }
    int status = STORE_ERROR;
    switch (op) {
    case STORE_OP_ACCOUNT_CREATE:    status = account_create(d, a); break;
    case STORE_OP_ACCOUNT_GET:       status = account_get(d, a, res); break;
    case STORE_OP_ACCOUNT_SET_CREDS: status = account_set_creds(d, a); break;
    case STORE_OP_ACCOUNT_DELETE:    status = account_delete(d, a); break;
    case STORE_OP_ACCOUNT_LIST:      status = account_list(d, a, res); break;
    case STORE_OP_KV_GET:            status = kv_get(d, a, res); break;
    case STORE_OP_KV_SET:            status = kv_set(d, a); break;
    default:
        PL_ASSERT(!"store op without a backend implementation");
    }
    if (write) {
        if (status != STORE_OK && run(d->stmt[ST_ROLLBACK_TO]) != SQLITE_DONE)
            status = STORE_ERROR;
        int rc = run(d->stmt[ST_RELEASE]);
        if (rc != SQLITE_DONE)
            status = fail(d, "release savepoint", rc);
    }
    res->status = status;
}

static int sqlite_begin(void *db)
{
    struct sqlite_db *d = db;
    int rc = run(d->stmt[ST_BEGIN]);
    if (rc != SQLITE_DONE) {
        fail(d, "begin", rc);
        return -1;
    }
    return 0;
}

static int sqlite_commit(void *db)
{
    struct sqlite_db *d = db;
    if (sqlite3_get_autocommit(d->db)) {
        log_error("store: sqlite: batch transaction was rolled back by an error");
        return -1;
    }
    int rc = run(d->stmt[ST_COMMIT]);
    if (rc == SQLITE_DONE)
        return 0;
    fail(d, "commit", rc);
    /* A failed COMMIT (SQLITE_BUSY, I/O error) can leave the transaction
     * open; roll it back so that the next batch starts clean. */
    if (!sqlite3_get_autocommit(d->db))
        run(d->stmt[ST_ROLLBACK]);
    return -1;
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .schema_version = sqlite_schema_version,
    .begin = sqlite_begin,
    .exec = sqlite_exec,
    .commit = sqlite_commit,
    .close = sqlite_close,
};
