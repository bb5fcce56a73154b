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
#include <stdint.h>
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
    "log",                      /* 0003_log.sql */
};

enum stmt {
    ST_BEGIN,
    ST_BEGIN_READ,
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
    ST_KV_LIST,
    ST_KV_CLEAR,
    ST_ACCOUNT_EXISTS,
    ST_LOG_INSERT,
    ST_LOG_OVER_QUOTA,
    ST_LOG_SEQ_OF,
    ST_LOG_MISSING_IDS,
    ST_LOG_DELETE_ID,
    ST_LOG_DELETE_UPTO,
    ST_LOG_EXPIRE,
    ST_LOG_COUNT,
    ST_SKV_GET,
    ST_SKV_ADD,
    ST_SKV_DELETE,
    ST_SKV_LIST,
    ST_COUNT,
};

/* Prepared once after the migrations, reset after every use. */
static const char *const stmt_sql[ST_COUNT] = {
    /* IMMEDIATE takes the write lock up front: a deferred transaction that
     * reads first and writes later can fail with SQLITE_BUSY mid-batch. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    /* A batch of reads only: a snapshot (WAL read lock), not the write
     * lock (issue 7: two fcntl() calls fewer per read-only batch, and a
     * reader never waits for another process's writer). */
    [ST_BEGIN_READ] = "BEGIN DEFERRED",
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
    /* The primary key's order: sorted by key without a sort step. */
    [ST_KV_LIST] =
        "SELECT key, value FROM kv WHERE host = ?1 AND user = ?2 AND area = ?3"
        " ORDER BY key",
    [ST_KV_CLEAR] = "DELETE FROM kv WHERE host = ?1 AND user = ?2 AND area = ?3",
    [ST_SKV_GET] = "SELECT value FROM server_kv WHERE area = ?1 AND key = ?2",
    [ST_SKV_ADD] = "INSERT INTO server_kv (area, key, value) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (area, key) DO NOTHING",
    [ST_SKV_DELETE] = "DELETE FROM server_kv WHERE area = ?1 AND key = ?2",
    [ST_SKV_LIST] = "SELECT key, value FROM server_kv WHERE area = ?1 ORDER BY key",
    [ST_ACCOUNT_EXISTS] = "SELECT 1 FROM accounts WHERE host = ?1 AND user = ?2",
    [ST_LOG_INSERT] =
        "INSERT INTO log (host, user, area, id, peer, stamp, value)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* A row at offset ?4 exists iff the area holds more than ?4 rows; the
     * scan stops there instead of counting a whole archive. */
    [ST_LOG_OVER_QUOTA] =
        "SELECT 1 FROM log WHERE host = ?1 AND user = ?2 AND area = ?3"
        " LIMIT 1 OFFSET ?4",
    [ST_LOG_SEQ_OF] =
        "SELECT seq FROM log WHERE host = ?1 AND user = ?2 AND area = ?3 AND id = ?4",
    /* ?4 is a JSON array of ids (json_array_of()): how many distinct ids of
     * it are not in the area. */
    [ST_LOG_MISSING_IDS] =
        "SELECT count(*) FROM (SELECT DISTINCT value AS id FROM json_each(?4)) AS j"
        " WHERE NOT EXISTS (SELECT 1 FROM log WHERE host = ?1 AND user = ?2"
        " AND area = ?3 AND log.id = j.id)",
    [ST_LOG_DELETE_ID] =
        "DELETE FROM log WHERE host = ?1 AND user = ?2 AND area = ?3 AND id = ?4",
    [ST_LOG_DELETE_UPTO] =
        "DELETE FROM log WHERE host = ?1 AND user = ?2 AND area = ?3 AND seq <= ?4",
    [ST_LOG_EXPIRE] = "DELETE FROM log WHERE host = ?1 AND area = ?2 AND stamp < ?3",
    [ST_LOG_COUNT] =
        "SELECT count(*) FROM log WHERE host = ?1 AND user = ?2 AND area = ?3",
};

/*
 * log_query's statements depend on which filters are set: a fixed
 * statement with "(?6 IS NULL OR peer = ?6)" would be planned once, for
 * the general case, and could not use the (host, user, area, peer) index.
 * So each combination of QF_* flags has its own statement, built by
 * log_query_sql() and prepared on first use.  Parameters: ?1 host, ?2 user,
 * ?3 area, ?4/?5 the stamp bounds, ?6 peer, ?7 ids as a JSON array, ?8/?9
 * the exclusive seq bounds (after_id/before_id, or the extreme integers),
 * ?10 the limit (-1: none).
 */
enum {
    QF_WITH = 1,                /* peer = ?6 */
    QF_IDS = 2,                 /* id IN json_each(?7) */
    QF_DESC = 4,                /* newest first (reverse: the last page) */
    QF_COUNT = 8,               /* count(*), no seq bounds, no order */
    QF_START = 16,              /* stamp >= ?4 */
    QF_END = 32,                /* stamp <= ?5 */
    QF_ALL = 64,
};

struct sqlite_db {
    sqlite3 *db;
    int version;                /* schema version after migrations */
    sqlite3_stmt *stmt[ST_COUNT];
    sqlite3_stmt *delete_user[PL_ARRAY_LEN(per_user_tables)];  /* per table */
    sqlite3_stmt *log_query[QF_ALL];    /* by QF_* flags, prepared lazily */
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
    for (size_t i = 0; i < PL_ARRAY_LEN(d->log_query); i++)
        sqlite3_finalize(d->log_query[i]);
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

/* --- kv lists ------------------------------------------------------------- */

static void bind_area(sqlite3_stmt *st, const struct store_args *a)
{
    bind_user(st, a);
    sqlite3_bind_text(st, 3, a->area, -1, SQLITE_STATIC);
}

/* Frees what a failed read had put in res->items: a completion with an
 * error carries no rows. */
static void items_clear(struct store_result *res)
{
    for (size_t i = 0; i < res->nitems; i++) {
        free(res->items[i].key);
        free(res->items[i].value);
        free(res->items[i].with);
    }
    PL_FREE(res->items);
    res->nitems = 0;
}

/* Appends a zeroed item to res->items, growing it by doubling. */
static struct store_item *item_add(struct store_result *res, size_t *cap)
{
    if (res->nitems == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        res->items = pl_realloc(res->items, *cap * sizeof(*res->items));
    }
    struct store_item *it = &res->items[res->nitems++];
    memset(it, 0, sizeof(*it));
    return it;
}

/* Steps a bound statement whose rows are (key, value) into res->items. */
static int collect_pairs(struct sqlite_db *d, sqlite3_stmt *st, const char *what,
                         struct store_result *res)
{
    size_t cap = 0, len;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_item *it = item_add(res, &cap);
        it->key = copy_column(st, 0, &len);
        it->value = copy_column(st, 1, &it->value_len);
    }
    finish(st);
    if (rc != SQLITE_DONE) {
        items_clear(res);
        return fail(d, what, rc);
    }
    return STORE_OK;
}

static int kv_list(struct sqlite_db *d, const struct store_args *a,
                   struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_KV_LIST];
    bind_area(st, a);
    return collect_pairs(d, st, "kv_list", res);
}

static int kv_clear(struct sqlite_db *d, const struct store_args *a)
{
    sqlite3_stmt *st = d->stmt[ST_KV_CLEAR];
    bind_area(st, a);
    int rc = run(st);
    return rc == SQLITE_DONE ? STORE_OK : fail(d, "kv_clear", rc);
}

/* --- server-level kv ------------------------------------------------------ */

static void bind_area_key(sqlite3_stmt *st, const struct store_args *a)
{
    sqlite3_bind_text(st, 1, a->area, -1, SQLITE_STATIC);
    if (a->key)
        sqlite3_bind_text(st, 2, a->key, -1, SQLITE_STATIC);
}

static int skv_get(struct sqlite_db *d, const struct store_args *a, struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_SKV_GET];
    bind_area_key(st, a);
    return step_value(d, st, "server_kv_get", res);
}

static int skv_add(struct sqlite_db *d, const struct store_args *a)
{
    sqlite3_stmt *st = d->stmt[ST_SKV_ADD];
    bind_area_key(st, a);
    sqlite3_bind_blob64(st, 3, a->value, a->value_len, SQLITE_STATIC);
    int rc = run(st);
    if (rc != SQLITE_DONE)
        return fail(d, "server_kv_add", rc);
    return sqlite3_changes(d->db) ? STORE_OK : STORE_EXISTS;
}

static int skv_delete(struct sqlite_db *d, const struct store_args *a)
{
    sqlite3_stmt *st = d->stmt[ST_SKV_DELETE];
    bind_area_key(st, a);
    int rc = run(st);
    if (rc != SQLITE_DONE)
        return fail(d, "server_kv_delete", rc);
    return sqlite3_changes(d->db) ? STORE_OK : STORE_NOT_FOUND;
}

static int skv_list(struct sqlite_db *d, const struct store_args *a, struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_SKV_LIST];
    bind_area_key(st, a);
    return collect_pairs(d, st, "server_kv_list", res);
}

/* --- logs ----------------------------------------------------------------- */

/* Steps a bound single-integer query into *out and resets it. */
static int step_int(struct sqlite_db *d, sqlite3_stmt *st, const char *what,
                    long long *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    finish(st);
    return rc == SQLITE_ROW ? STORE_OK : fail(d, what, rc);
}

/* Steps a bound query: STORE_OK if it has a row, STORE_NOT_FOUND if not. */
static int step_exists(struct sqlite_db *d, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    finish(st);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(d, what, rc);
}

/*
 * Appends with the checks in this order: the account (NOT_FOUND), the id
 * (EXISTS, from the unique constraint), then the quota (LIMIT).  The quota
 * is checked after the insert, inside the request's savepoint that
 * sqlite_exec() rolls back on failure, so that a retried append of a row
 * that is already stored reports EXISTS (the caller may treat it as done)
 * rather than LIMIT.
 */
static int log_append(struct sqlite_db *d, const struct store_args *a,
                      struct store_result *res)
{
    if (a->need_account) {
        sqlite3_stmt *st = d->stmt[ST_ACCOUNT_EXISTS];
        bind_user(st, a);
        int status = step_exists(d, st, "log_append");
        if (status != STORE_OK)
            return status;
    }
    sqlite3_stmt *st = d->stmt[ST_LOG_INSERT];
    bind_area(st, a);
    sqlite3_bind_text(st, 4, a->id, -1, SQLITE_STATIC);
    if (a->with)
        sqlite3_bind_text(st, 5, a->with, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, a->stamp);
    sqlite3_bind_blob64(st, 7, a->value, a->value_len, SQLITE_STATIC);
    int rc = run(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return STORE_EXISTS;
    if (rc != SQLITE_DONE)
        return fail(d, "log_append", rc);
    res->seq = sqlite3_last_insert_rowid(d->db);
    if (a->max_rows > 0) {
        st = d->stmt[ST_LOG_OVER_QUOTA];
        bind_area(st, a);
        sqlite3_bind_int64(st, 4, a->max_rows);
        int status = step_exists(d, st, "log_append");
        if (status != STORE_NOT_FOUND) {
            res->seq = 0;
            return status == STORE_OK ? STORE_LIMIT : status;
        }
    }
    return STORE_OK;
}

/* The ids as a JSON array of strings, for json_each() (RFC 8259 §7: '"',
 * '\' and control characters escaped; the ids are UTF-8 from the XML
 * parser, passed through). */
static char *json_array_of(const char *const *ids)
{
    struct buf b = BUF_INIT;
    buf_putc(&b, '[');
    for (size_t i = 0; ids[i]; i++) {
        buf_puts(&b, i ? ",\"" : "\"");
        for (const unsigned char *p = (const unsigned char *)ids[i]; *p; p++) {
            if (*p == '"' || *p == '\\') {
                buf_putc(&b, '\\');
                buf_putc(&b, (char)*p);
            } else if (*p < 0x20) {
                buf_printf(&b, "\\u%04x", *p);
            } else {
                buf_putc(&b, (char)*p);
            }
        }
        buf_putc(&b, '"');
    }
    buf_putc(&b, ']');
    return buf_detach(&b);
}

/*
 * Without statistics SQLite's planner needs help (checked with EXPLAIN
 * QUERY PLAN on SQLite 3.40):
 * - the stamp terms carry a unary '+', which keeps them from being index
 *   terms: otherwise the planner takes the (host, area, stamp) index meant
 *   for expiry and scans every user of the host;
 * - with 'ids' every other term but the area's is '+'-ed too, and the
 *   order is by '+seq', so that the few listed ids are looked up in the
 *   unique (host, user, area, id) index and sorted, rather than the whole
 *   area walked in seq order;
 * - otherwise the seq bounds and the order use the seq order of the
 *   (host, user, area[, peer]) indexes: a page reads about 'limit' rows;
 * - the count with no stamp bounds is covered by the index alone.
 */
static void log_query_sql(struct buf *b, int flags)
{
    const char *plus = flags & QF_IDS ? "+" : "";
    buf_puts(b, flags & QF_COUNT ? "SELECT count(*)"
             : "SELECT seq, id, peer, stamp, value");
    buf_puts(b, " FROM log WHERE host = ?1 AND user = ?2 AND area = ?3");
    if (flags & QF_START)
        buf_puts(b, " AND +stamp >= ?4");
    if (flags & QF_END)
        buf_puts(b, " AND +stamp <= ?5");
    if (flags & QF_WITH)
        buf_printf(b, " AND %speer = ?6", plus);
    if (flags & QF_IDS)
        buf_puts(b, " AND id IN (SELECT value FROM json_each(?7))");
    if (!(flags & QF_COUNT)) {
        buf_printf(b, " AND %sseq > ?8 AND %sseq < ?9 ORDER BY %sseq%s LIMIT ?10",
                   plus, plus, plus, flags & QF_DESC ? " DESC" : "");
    }
}

/* The statement for 'flags', bound with everything but the seq bounds and
 * the limit; NULL (logged) if it cannot be prepared. */
static sqlite3_stmt *log_query_stmt(struct sqlite_db *d, int flags,
                                    const struct store_args *a, const char *ids_json)
{
    sqlite3_stmt **slot = &d->log_query[flags];
    if (!*slot) {
        struct buf sql = BUF_INIT;
        log_query_sql(&sql, flags);
        int rc = sqlite3_prepare_v3(d->db, sql.data, -1, SQLITE_PREPARE_PERSISTENT,
                                    slot, NULL);
        if (rc != SQLITE_OK)
            log_error("store: sqlite: cannot prepare '%s': %s", sql.data,
                      sqlite3_errmsg(d->db));
        buf_release(&sql);
        if (rc != SQLITE_OK)
            return NULL;
    }
    sqlite3_stmt *st = *slot;
    bind_area(st, a);
    /* XEP-0313 §4.1.2: both bounds inclusive. */
    if (flags & QF_START)
        sqlite3_bind_int64(st, 4, a->start);
    if (flags & QF_END)
        sqlite3_bind_int64(st, 5, a->end);
    if (flags & QF_WITH)
        sqlite3_bind_text(st, 6, a->with, -1, SQLITE_STATIC);
    if (flags & QF_IDS)
        sqlite3_bind_text(st, 7, ids_json, -1, SQLITE_STATIC);
    return st;
}

/* The seq of row 'id' of the user's area in *seq: STORE_OK, or
 * STORE_NOT_FOUND (XEP-0313 §4.1.3, XEP-0059 §2.4: item-not-found). */
static int seq_of(struct sqlite_db *d, const struct store_args *a, const char *id,
                  long long *seq)
{
    sqlite3_stmt *st = d->stmt[ST_LOG_SEQ_OF];
    bind_area(st, a);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    finish(st);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : fail(d, "log_query", rc);
}

/* Reverses res->items in place (a reverse page is read newest first). */
static void items_reverse(struct store_result *res)
{
    for (size_t i = 0, j = res->nitems; i + 1 < j; i++, j--) {
        struct store_item t = res->items[i];
        res->items[i] = res->items[j - 1];
        res->items[j - 1] = t;
    }
}

/*
 * XEP-0313 §4 with XEP-0059 paging.  The filters (with, start/end, ids)
 * define the result set; res->seq is its size (RSM <count/>, which
 * ignores the page: XEP-0059 §2.7).  after_id/before_id narrow it to the
 * rows strictly between them by seq.  Of those, the first 'limit' rows
 * are the page, or with 'reverse' the last 'limit' (RSM <before/>: the
 * page just before, XEP-0059 §2.3, or the last page, §2.5), read newest
 * first and turned around so that pages always come oldest first.  One
 * row more than the limit is read: if it exists, the limit cut rows off
 * in the paging direction (res->more; the MAM <fin/> is then not
 * complete='true', XEP-0313 §4.3).
 */
static int log_query(struct sqlite_db *d, const struct store_args *a,
                     struct store_result *res)
{
    long long after = INT64_MIN, before = INT64_MAX;
    int status;
    if (a->after_id && (status = seq_of(d, a, a->after_id, &after)) != STORE_OK)
        return status;
    if (a->before_id && (status = seq_of(d, a, a->before_id, &before)) != STORE_OK)
        return status;

    int flags = (a->with ? QF_WITH : 0) | (a->ids ? QF_IDS : 0)
        | (a->start ? QF_START : 0) | (a->end ? QF_END : 0);
    char *ids_json = a->ids ? json_array_of(a->ids) : NULL;
    if (ids_json && !a->skip_unknown_ids) {
        /* XEP-0313 §4.1.3: an unknown id in 'ids' is item-not-found. */
        sqlite3_stmt *st = d->stmt[ST_LOG_MISSING_IDS];
        bind_area(st, a);
        sqlite3_bind_text(st, 4, ids_json, -1, SQLITE_STATIC);
        long long missing = 0;
        status = step_int(d, st, "log_query", &missing);
        if (status == STORE_OK && missing > 0)
            status = STORE_NOT_FOUND;
        if (status != STORE_OK)
            goto out;
    }

    sqlite3_stmt *st = log_query_stmt(d, flags | QF_COUNT, a, ids_json);
    status = st ? step_int(d, st, "log_query", &res->seq) : STORE_ERROR;
    if (status != STORE_OK)
        goto out;

    st = log_query_stmt(d, flags | (a->reverse ? QF_DESC : 0), a, ids_json);
    if (!st) {
        status = STORE_ERROR;
        goto out;
    }
    sqlite3_bind_int64(st, 8, after);
    sqlite3_bind_int64(st, 9, before);
    /* limit + 1 detects a cut; a limit that large is no limit at all. */
    bool limited = a->limit > 0 && a->limit < INT64_MAX;
    sqlite3_bind_int64(st, 10, limited ? a->limit + 1 : -1);
    size_t cap = 0, len;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (limited && (long long)res->nitems == a->limit) {
            res->more = true;
            continue;           /* the extra row: SQLITE_DONE comes next */
        }
        struct store_item *it = item_add(res, &cap);
        it->seq = sqlite3_column_int64(st, 0);
        it->key = copy_column(st, 1, &len);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            it->with = copy_column(st, 2, &len);
        it->stamp = sqlite3_column_int64(st, 3);
        it->value = copy_column(st, 4, &it->value_len);
    }
    finish(st);
    if (rc != SQLITE_DONE) {
        status = fail(d, "log_query", rc);
        goto out;
    }
    if (a->reverse)
        items_reverse(res);
    status = STORE_OK;

out:
    free(ids_json);
    if (status != STORE_OK) {
        items_clear(res);
        res->seq = 0;
        res->more = false;
    }
    return status;
}

static int log_delete(struct sqlite_db *d, const struct store_args *a,
                      struct store_result *res)
{
    if (!a->ids) {
        sqlite3_stmt *st = d->stmt[ST_LOG_DELETE_UPTO];
        bind_area(st, a);
        /* 0 is "all"; a negative bound matches nothing. */
        sqlite3_bind_int64(st, 4, a->upto_seq != 0 ? a->upto_seq : INT64_MAX);
        int rc = run(st);
        if (rc != SQLITE_DONE)
            return fail(d, "log_delete", rc);
        res->seq = sqlite3_changes64(d->db);
        return STORE_OK;
    }
    sqlite3_stmt *st = d->stmt[ST_LOG_DELETE_ID];
    for (size_t i = 0; a->ids[i]; i++) {
        bind_area(st, a);
        sqlite3_bind_text(st, 4, a->ids[i], -1, SQLITE_STATIC);
        int rc = run(st);
        if (rc != SQLITE_DONE) {
            res->seq = 0;
            return fail(d, "log_delete", rc);
        }
        res->seq += sqlite3_changes64(d->db);
    }
    return STORE_OK;
}

static int log_expire(struct sqlite_db *d, const struct store_args *a,
                      struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_LOG_EXPIRE];
    sqlite3_bind_text(st, 1, a->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->area, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, a->before);
    int rc = run(st);
    if (rc != SQLITE_DONE)
        return fail(d, "log_expire", rc);
    res->seq = sqlite3_changes64(d->db);
    return STORE_OK;
}

static int log_count(struct sqlite_db *d, const struct store_args *a,
                     struct store_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_LOG_COUNT];
    bind_area(st, a);
    return step_int(d, st, "log_count", &res->seq);
}

bool store_op_is_write(enum store_op op)
{
    return op == STORE_OP_ACCOUNT_CREATE || op == STORE_OP_ACCOUNT_SET_CREDS
        || op == STORE_OP_ACCOUNT_DELETE || op == STORE_OP_KV_SET
        || op == STORE_OP_KV_CLEAR || op == STORE_OP_LOG_APPEND
        || op == STORE_OP_LOG_DELETE || op == STORE_OP_LOG_EXPIRE
        || op == STORE_OP_SKV_ADD || op == STORE_OP_SKV_DELETE;
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
    bool write = store_op_is_write(op);
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
    case STORE_OP_KV_LIST:           status = kv_list(d, a, res); break;
    case STORE_OP_KV_CLEAR:          status = kv_clear(d, a); break;
    case STORE_OP_LOG_APPEND:        status = log_append(d, a, res); break;
    case STORE_OP_LOG_QUERY:         status = log_query(d, a, res); break;
    case STORE_OP_LOG_DELETE:        status = log_delete(d, a, res); break;
    case STORE_OP_LOG_EXPIRE:        status = log_expire(d, a, res); break;
    case STORE_OP_LOG_COUNT:         status = log_count(d, a, res); break;
    case STORE_OP_SKV_GET:           status = skv_get(d, a, res); break;
    case STORE_OP_SKV_ADD:           status = skv_add(d, a); break;
    case STORE_OP_SKV_DELETE:        status = skv_delete(d, a); break;
    case STORE_OP_SKV_LIST:          status = skv_list(d, a, res); break;
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

static int sqlite_begin(void *db, bool write)
{
    struct sqlite_db *d = db;
    int rc = run(d->stmt[write ? ST_BEGIN : ST_BEGIN_READ]);
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
