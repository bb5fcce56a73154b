/*
 * test_store.c - the store.h contract on the SQLite backend: accounts,
 * kv, completion order, group commit, the worker thread, durability
 * across close/reopen, migrations, close with requests in flight, and a
 * batch that cannot commit.  Real SQLite in a temporary directory and a
 * real event_base.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/mem.h"
#include "storage/store.h"

#define MAX_SLOTS 1200

/* --- fixture -------------------------------------------------------------- */

struct fx {
    char dir[64];
    char path[128];
    struct event_base *base;
    struct store *s;
};

static struct store *open_store(struct fx *f)
{
    struct conf_storage cfg = { .backend = 0, .path = f->path };
    struct buf err = BUF_INIT;
    struct store *s = store_open(&cfg, f->base, &err);
    if (!s)
        fail_msg("store_open: %s", err.data ? err.data : "?");
    buf_release(&err);
    return s;
}

/* NULL, with the error message (caller frees). */
static char *open_fails(struct fx *f)
{
    struct conf_storage cfg = { .backend = 0, .path = f->path };
    struct buf err = BUF_INIT;
    struct store *s = store_open(&cfg, f->base, &err);
    assert_null(s);
    assert_non_null(err.data);
    return buf_detach(&err);
}

static int setup(void **state)
{
    struct fx *f = pl_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/parley-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/parley.db", f->dir);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->s = open_store(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    event_base_free(f->base);
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < PL_ARRAY_LEN(suffixes); i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    store_close(f->s);
    f->s = open_store(f);
}

/* --- completions ---------------------------------------------------------- */

struct tally;

struct slot {
    struct tally *t;
    int index;                  /* submission order */
    bool fired;
    int status;
    char *value;
    size_t value_len;
    char **rows;
    size_t nrows;
    pthread_t work_thread;      /* store_work: where work() ran */
    pthread_t done_thread;      /* where the completion ran */
};

struct tally {
    struct slot slots[MAX_SLOTS];
    int nslots;
    int fired;
    bool out_of_order;
};

static struct slot *slot_next(struct tally *t)
{
    assert_true(t->nslots < MAX_SLOTS);
    struct slot *sl = &t->slots[t->nslots];
    sl->t = t;
    sl->index = t->nslots++;
    return sl;
}

static void slot_fire(struct slot *sl)
{
    assert_false(sl->fired);
    if (sl->index != sl->t->fired)
        sl->t->out_of_order = true;
    sl->t->fired++;
    sl->fired = true;
    sl->done_thread = pthread_self();
}

static void on_result(const struct store_result *res, void *ud)
{
    struct slot *sl = ud;
    slot_fire(sl);
    sl->status = res->status;
    if (res->value) {
        sl->value = pl_malloc(res->value_len + 1);
        memcpy(sl->value, res->value, res->value_len + 1);
        sl->value_len = res->value_len;
    }
    if (res->nrows) {
        sl->rows = pl_calloc(res->nrows, sizeof(*sl->rows));
        for (size_t i = 0; i < res->nrows; i++)
            sl->rows[i] = pl_strdup(res->rows[i]);
        sl->nrows = res->nrows;
    }
}

static void on_work(void *ud)
{
    struct slot *sl = ud;
    sl->work_thread = pthread_self();
}

static void on_work_done(void *ud)
{
    slot_fire(ud);
}

static struct tally *tally_new(void)
{
    return pl_calloc(1, sizeof(struct tally));
}

static void tally_free(struct tally *t)
{
    for (int i = 0; i < t->nslots; i++) {
        free(t->slots[i].value);
        for (size_t j = 0; j < t->slots[i].nrows; j++)
            free(t->slots[i].rows[j]);
        free(t->slots[i].rows);
    }
    free(t);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Runs the loop until 'want' completions have fired (20 s at most). */
static void run_until(struct fx *f, struct tally *t, int want)
{
    bool timed_out = false;
    struct event *tm = evtimer_new(f->base, on_timeout, &timed_out);
    struct timeval tv = { 20, 0 };
    evtimer_add(tm, &tv);
    while (t->fired < want && !timed_out)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(tm);
    assert_false(timed_out);
    assert_int_equal(t->fired, want);
    assert_false(t->out_of_order);
}

/* A store_work job that holds the worker until released, so that the
 * requests submitted meanwhile are all queued when it next looks. */
struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool entered;
    bool open;
    bool done;
};

static void gate_work(void *ud)
{
    struct gate *g = ud;
    pthread_mutex_lock(&g->m);
    g->entered = true;
    pthread_cond_broadcast(&g->c);
    while (!g->open)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

static void gate_done(void *ud)
{
    ((struct gate *)ud)->done = true;
}

static void gate_hold(struct fx *f, struct gate *g)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->c, NULL);
    store_work(f->s, gate_work, gate_done, g);
    pthread_mutex_lock(&g->m);
    while (!g->entered)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

static void gate_release(struct gate *g)
{
    pthread_mutex_lock(&g->m);
    g->open = true;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
}

static void gate_destroy(struct gate *g)
{
    assert_true(g->done);
    pthread_mutex_destroy(&g->m);
    pthread_cond_destroy(&g->c);
}

/* --- table-driven steps --------------------------------------------------- */

enum op { CREATE, GET, SET, DEL, LIST, KV_GET, KV_SET };

struct step {
    enum op op;
    const char *user;
    const char *host;
    const char *area;
    const char *key;
    const char *arg;            /* creds, or the kv value (NULL deletes) */
    size_t arg_len;             /* kv value length */
    int status;                 /* expected */
    const char *want;           /* expected value; NULL: none */
    size_t want_len;
};

#define H "a.example"

static void submit_step(struct fx *f, struct tally *t, const struct step *st)
{
    struct slot *sl = slot_next(t);
    switch (st->op) {
    case CREATE: store_account_create(f->s, st->user, st->host, st->arg, on_result, sl); break;
    case GET:    store_account_get(f->s, st->user, st->host, on_result, sl); break;
    case SET:    store_account_set_creds(f->s, st->user, st->host, st->arg, on_result, sl); break;
    case DEL:    store_account_delete(f->s, st->user, st->host, on_result, sl); break;
    case LIST:   store_account_list(f->s, st->host, on_result, sl); break;
    case KV_GET: store_kv_get(f->s, st->user, st->host, st->area, st->key, on_result, sl); break;
    case KV_SET:
        store_kv_set(f->s, st->user, st->host, st->area, st->key, st->arg, st->arg_len,
                     on_result, sl);
        break;
    }
}

static void check_step(const struct step *st, const struct slot *sl, size_t i)
{
    if (sl->status != st->status)
        fail_msg("step %zu: status %d, expected %d", i, sl->status, st->status);
    if (st->want) {
        assert_non_null(sl->value);
        if (sl->value_len != st->want_len || memcmp(sl->value, st->want, st->want_len))
            fail_msg("step %zu: value '%s', expected '%s'", i, sl->value, st->want);
        assert_int_equal(sl->value[sl->value_len], '\0');
    } else {
        assert_null(sl->value);
    }
}

/* Runs the steps either one at a time (each waits for the previous
 * completion) or all in one batch; results must be the same. */
static void run_steps(struct fx *f, const struct step *steps, size_t n, bool batched)
{
    struct tally *t = tally_new();
    struct store_stats before, after;
    store_stats(f->s, &before);
    struct gate g;
    if (batched)
        gate_hold(f, &g);
    for (size_t i = 0; i < n; i++) {
        submit_step(f, t, &steps[i]);
        if (!batched)
            run_until(f, t, (int)i + 1);
    }
    if (batched) {
        assert_int_equal(store_pending(f->s), n + 1);
        gate_release(&g);
        run_until(f, t, (int)n);
        gate_destroy(&g);
    }
    assert_int_equal(store_pending(f->s), 0);
    for (size_t i = 0; i < n; i++)
        check_step(&steps[i], &t->slots[i], i);
    store_stats(f->s, &after);
    assert_int_equal(after.requests - before.requests, n);
    if (batched) {
        /* One transaction for everything, though several requests in it
         * failed on their own. */
        assert_int_equal(after.batches - before.batches, 1);
        assert_int_equal(after.commits - before.commits, 1);
    } else {
        assert_int_equal(after.commits - before.commits, n);
    }
    tally_free(t);
}

#define V(s) .arg = (s), .arg_len = sizeof(s) - 1
#define W(s) .want = (s), .want_len = sizeof(s) - 1

static const struct step account_steps[] = {
    { CREATE, "alice", H, .arg = "c1", .status = STORE_OK },
    { CREATE, "alice", H, .arg = "c2", .status = STORE_EXISTS },
    /* the failed create changed nothing */
    { GET, "alice", H, .status = STORE_OK, W("c1") },
    { CREATE, "bob", H, .arg = "b1", .status = STORE_OK },
    { GET, "carol", H, .status = STORE_NOT_FOUND },
    /* same user, other host: another account */
    { GET, "alice", "b.example", .status = STORE_NOT_FOUND },
    { CREATE, "alice", "b.example", .arg = "other", .status = STORE_OK },
    { SET, "alice", H, .arg = "c3", .status = STORE_OK },
    { GET, "alice", H, .status = STORE_OK, W("c3") },
    { SET, "carol", H, .arg = "x", .status = STORE_NOT_FOUND },
    { DEL, "alice", H, .status = STORE_OK },
    { GET, "alice", H, .status = STORE_NOT_FOUND },
    { DEL, "alice", H, .status = STORE_NOT_FOUND },
    { SET, "alice", H, .arg = "c9", .status = STORE_NOT_FOUND },
    { GET, "alice", "b.example", .status = STORE_OK, W("other") },
    { GET, "bob", H, .status = STORE_OK, W("b1") },
    /* a deleted name can be registered again */
    { CREATE, "alice", H, .arg = "c4", .status = STORE_OK },
    { GET, "alice", H, .status = STORE_OK, W("c4") },
};

static void accounts_one_by_one(void **state)
{
    run_steps(*state, account_steps, PL_ARRAY_LEN(account_steps), false);
}

static void accounts_in_one_batch(void **state)
{
    struct fx *f = *state;
    run_steps(f, account_steps, PL_ARRAY_LEN(account_steps), true);
    /* What the batch committed is what a new process sees. */
    reopen(f);
    static const struct step after[] = {
        { GET, "alice", H, .status = STORE_OK, W("c4") },
        { GET, "bob", H, .status = STORE_OK, W("b1") },
        { GET, "carol", H, .status = STORE_NOT_FOUND },
        { GET, "alice", "b.example", .status = STORE_OK, W("other") },
    };
    run_steps(f, after, PL_ARRAY_LEN(after), false);
}

static const struct step kv_steps[] = {
    { CREATE, "u", H, .arg = "c", .status = STORE_OK },
    { KV_GET, "u", H, "private", "k1", .status = STORE_NOT_FOUND },
    { KV_SET, "u", H, "private", "k1", V("v1"), .status = STORE_OK },
    { KV_GET, "u", H, "private", "k1", .status = STORE_OK, W("v1") },
    { KV_SET, "u", H, "private", "k1", V("<longer value/>"), .status = STORE_OK },
    { KV_GET, "u", H, "private", "k1", .status = STORE_OK, W("<longer value/>") },
    /* area and key both select */
    { KV_GET, "u", H, "vcard", "k1", .status = STORE_NOT_FOUND },
    { KV_GET, "u", H, "private", "k2", .status = STORE_NOT_FOUND },
    /* values are bytes: embedded NUL, empty */
    { KV_SET, "u", H, "private", "bin", V("a\0b"), .status = STORE_OK },
    { KV_GET, "u", H, "private", "bin", .status = STORE_OK, W("a\0b") },
    { KV_SET, "u", H, "vcard", "", V(""), .status = STORE_OK },
    { KV_GET, "u", H, "vcard", "", .status = STORE_OK, W("") },
    /* NULL deletes, idempotently */
    { KV_SET, "u", H, "private", "k1", .arg = NULL, .status = STORE_OK },
    { KV_GET, "u", H, "private", "k1", .status = STORE_NOT_FOUND },
    { KV_SET, "u", H, "private", "k1", .arg = NULL, .status = STORE_OK },
    { KV_GET, "u", H, "private", "bin", .status = STORE_OK, W("a\0b") },
    /* no account, no documents */
    { KV_SET, "nobody", H, "private", "k1", V("v"), .status = STORE_NOT_FOUND },
    { KV_GET, "nobody", H, "private", "k1", .status = STORE_NOT_FOUND },
};

static void kv_one_by_one(void **state)
{
    run_steps(*state, kv_steps, PL_ARRAY_LEN(kv_steps), false);
}

static void kv_in_one_batch(void **state)
{
    run_steps(*state, kv_steps, PL_ARRAY_LEN(kv_steps), true);
}

static const struct step delete_steps[] = {
    { CREATE, "u", H, .arg = "c", .status = STORE_OK },
    { CREATE, "v", H, .arg = "c", .status = STORE_OK },
    { CREATE, "u", "b.example", .arg = "c", .status = STORE_OK },
    { KV_SET, "u", H, "private", "k", V("secret"), .status = STORE_OK },
    { KV_SET, "u", H, "vcard", "", V("card"), .status = STORE_OK },
    { KV_SET, "v", H, "private", "k", V("v's"), .status = STORE_OK },
    { KV_SET, "u", "b.example", "private", "k", V("b's"), .status = STORE_OK },
    { DEL, "u", H, .status = STORE_OK },
    { KV_GET, "u", H, "private", "k", .status = STORE_NOT_FOUND },
    /* a new account of the same name inherits nothing */
    { CREATE, "u", H, .arg = "new", .status = STORE_OK },
    { KV_GET, "u", H, "private", "k", .status = STORE_NOT_FOUND },
    { KV_GET, "u", H, "vcard", "", .status = STORE_NOT_FOUND },
    /* other users' rows stay */
    { KV_GET, "v", H, "private", "k", .status = STORE_OK, W("v's") },
    { KV_GET, "u", "b.example", "private", "k", .status = STORE_OK, W("b's") },
};

static void delete_removes_kv(void **state)
{
    run_steps(*state, delete_steps, PL_ARRAY_LEN(delete_steps), false);
}

static void delete_removes_kv_in_one_batch(void **state)
{
    run_steps(*state, delete_steps, PL_ARRAY_LEN(delete_steps), true);
}

static void assert_rows(const struct slot *sl, const char *const *want, size_t n)
{
    assert_int_equal(sl->status, STORE_OK);
    assert_int_equal(sl->nrows, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(sl->rows[i], want[i]);
}

static void list_sorted_per_host(void **state)
{
    struct fx *f = *state;
    static const char *const users[] = { "carol", "alice", "dave", "bob" };
    for (size_t i = 0; i < PL_ARRAY_LEN(users); i++)
        store_account_create(f->s, users[i], H, "c", NULL, NULL);  /* no callback */
    store_account_create(f->s, "zed", "b.example", "c", NULL, NULL);
    struct tally *t = tally_new();
    struct slot *a = slot_next(t), *b = slot_next(t), *c = slot_next(t);
    store_account_list(f->s, H, on_result, a);
    store_account_list(f->s, "b.example", on_result, b);
    store_account_list(f->s, "c.example", on_result, c);
    run_until(f, t, 3);
    static const char *const want_a[] = { "alice", "bob", "carol", "dave" };
    static const char *const want_b[] = { "zed" };
    assert_rows(a, want_a, PL_ARRAY_LEN(want_a));
    assert_rows(b, want_b, 1);
    assert_rows(c, NULL, 0);
    assert_null(c->rows);
    tally_free(t);
}

/* --- ordering, threads, group commit -------------------------------------- */

static void completions_in_submission_order(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    /* Mixed kinds, so that batches split at work jobs and at whatever the
     * worker happens to take at once. */
    for (int i = 0; i < 300; i++) {
        char user[16];
        /* each run of five shares a user; ten users in turn */
        snprintf(user, sizeof(user), "u%02d", (i / 5) % 10);
        struct slot *sl = slot_next(t);
        switch (i % 5) {
        case 0: store_account_create(f->s, user, H, "c", on_result, sl); break;
        case 1: store_account_get(f->s, user, H, on_result, sl); break;
        case 2: store_work(f->s, on_work, on_work_done, sl); break;
        case 3: store_kv_set(f->s, user, H, "a", "k", "v", 1, on_result, sl); break;
        case 4: store_account_list(f->s, H, on_result, sl); break;
        }
    }
    assert_int_equal(store_pending(f->s), 300);
    run_until(f, t, 300);       /* asserts the order */
    assert_int_equal(store_pending(f->s), 0);
    /* Each request saw the ones before it: the first round of creates
     * succeeds, later ones find the account. */
    for (int i = 0; i < 300; i += 5) {
        assert_int_equal(t->slots[i].status, i < 50 ? STORE_OK : STORE_EXISTS);
        assert_int_equal(t->slots[i + 1].status, STORE_OK);
        assert_int_equal(t->slots[i + 3].status, STORE_OK);
    }
    tally_free(t);
}

static void work_runs_off_the_loop(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    struct slot *create = slot_next(t), *w = slot_next(t), *get = slot_next(t);
    store_account_create(f->s, "x", H, "c", on_result, create);
    store_work(f->s, on_work, on_work_done, w);
    store_account_get(f->s, "x", H, on_result, get);
    run_until(f, t, 3);
    assert_false(pthread_equal(w->work_thread, pthread_self()));
    assert_true(pthread_equal(w->done_thread, pthread_self()));
    assert_true(pthread_equal(create->done_thread, pthread_self()));
    assert_int_equal(get->status, STORE_OK);
    tally_free(t);
}

static void thousand_creates_group_commit(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    struct store_stats before, after;
    store_stats(f->s, &before);
    struct gate g;
    gate_hold(f, &g);           /* all 1000 are queued when the worker looks */
    for (int i = 0; i < 1000; i++) {
        char user[16];
        snprintf(user, sizeof(user), "user%04d", 999 - i);
        store_account_create(f->s, user, H, "creds", on_result, slot_next(t));
    }
    struct slot *list = slot_next(t);
    store_account_list(f->s, H, on_result, list);
    assert_int_equal(store_pending(f->s), 1002);
    gate_release(&g);
    run_until(f, t, 1001);
    gate_destroy(&g);
    store_stats(f->s, &after);
    assert_int_equal(after.requests - before.requests, 1001);
    assert_int_equal(after.batches - before.batches, 1);
    assert_int_equal(after.commits - before.commits, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(t->slots[i].status, STORE_OK);
    assert_int_equal(list->nrows, 1000);
    for (size_t i = 1; i < list->nrows; i++)
        assert_true(strcmp(list->rows[i - 1], list->rows[i]) < 0);
    assert_string_equal(list->rows[0], "user0000");
    tally_free(t);
}

/* --- lifecycle ------------------------------------------------------------ */

static int count_sql_files(void)
{
    DIR *d = opendir(PARLEY_SOURCE_DIR "/src/storage/schema/sqlite");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static long long raw_query(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void survives_reopen_and_migrates_once(void **state)
{
    struct fx *f = *state;
    int nfiles = count_sql_files();
    assert_true(nfiles >= 2);
    /* Every .sql file is embedded and applied. */
    assert_int_equal(store_schema_version(f->s), nfiles);

    static const struct step write[] = {
        { CREATE, "p", H, .arg = "pc", .status = STORE_OK },
        { KV_SET, "p", H, "private", "k", V("kept"), .status = STORE_OK },
    };
    run_steps(f, write, PL_ARRAY_LEN(write), false);
    for (int round = 0; round < 2; round++) {
        reopen(f);
        assert_int_equal(store_schema_version(f->s), nfiles);
        static const struct step read[] = {
            { GET, "p", H, .status = STORE_OK, W("pc") },
            { KV_GET, "p", H, "private", "k", .status = STORE_OK, W("kept") },
        };
        run_steps(f, read, PL_ARRAY_LEN(read), false);
    }
    store_close(f->s);
    f->s = NULL;
    /* Three opens, each migration recorded once. */
    assert_int_equal(raw_query(f->path, "SELECT count(*) FROM schema_version"), nfiles);
    assert_int_equal(raw_query(f->path, "SELECT max(version) FROM schema_version"), nfiles);
    assert_int_equal(raw_query(f->path, "SELECT count(*) FROM accounts"), 1);
    /* WAL is persistent in the file; the file holds keys: 0600. */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void refuses_newer_schema(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    f->s = NULL;
    raw_exec(f->path, "INSERT INTO schema_version VALUES (999, 'future', 0)");
    char *msg = open_fails(f);
    assert_non_null(strstr(msg, "newer"));
    assert_non_null(strstr(msg, f->path));
    free(msg);
}

static void refuses_bad_files(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    f->s = NULL;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", fp);
    fclose(fp);
    char *msg = open_fails(f);
    assert_non_null(strstr(msg, f->path));
    free(msg);

    snprintf(f->path, sizeof(f->path), "%s/missing/dir/parley.db", f->dir);
    msg = open_fails(f);
    assert_non_null(strstr(msg, "cannot open database"));
    free(msg);
    snprintf(f->path, sizeof(f->path), "%s/parley.db", f->dir);

    struct conf_storage cfg = { .backend = 7, .path = f->path };
    struct buf err = BUF_INIT;
    assert_null(store_open(&cfg, f->base, &err));
    assert_non_null(strstr(err.data, "backend"));
    buf_release(&err);
}

static void close_completes_pending(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    for (int i = 0; i < 100; i++) {
        char user[16];
        snprintf(user, sizeof(user), "c%03d", i);
        store_account_create(f->s, user, H, "c", on_result, slot_next(t));
    }
    struct slot *w = slot_next(t);
    store_work(f->s, on_work, on_work_done, w);
    struct slot *list = slot_next(t);
    store_account_list(f->s, H, on_result, list);
    assert_int_equal(store_pending(f->s), 102);
    /* No loop turn: close itself runs every completion, in order. */
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(t->fired, 102);
    assert_false(t->out_of_order);
    for (int i = 0; i < 100; i++)
        assert_int_equal(t->slots[i].status, STORE_OK);
    assert_false(pthread_equal(w->work_thread, pthread_self()));
    assert_int_equal(list->nrows, 100);
    tally_free(t);

    f->s = open_store(f);
    t = tally_new();
    list = slot_next(t);
    store_account_list(f->s, H, on_result, list);
    run_until(f, t, 1);
    assert_int_equal(list->nrows, 100);
    tally_free(t);
}

/* A batch that cannot commit reports STORE_ERROR for every request in it,
 * reads included, and the next batch works.  Another connection holds the
 * write lock past the busy timeout (5 s). */
static void failed_batch_is_all_errors(void **state)
{
    struct fx *f = *state;
    sqlite3 *other;
    assert_int_equal(sqlite3_open_v2(f->path, &other, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    struct tally *t = tally_new();
    struct gate g;
    gate_hold(f, &g);
    struct slot *create = slot_next(t), *get = slot_next(t);
    store_account_create(f->s, "e", H, "c", on_result, create);
    store_account_get(f->s, "e", H, on_result, get);
    gate_release(&g);
    run_until(f, t, 2);
    gate_destroy(&g);
    assert_int_equal(create->status, STORE_ERROR);
    assert_int_equal(get->status, STORE_ERROR);
    assert_null(get->value);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    static const struct step retry[] = {
        { GET, "e", H, .status = STORE_NOT_FOUND },
        { CREATE, "e", H, .arg = "c", .status = STORE_OK },
        { GET, "e", H, .status = STORE_OK, W("c") },
    };
    run_steps(f, retry, PL_ARRAY_LEN(retry), true);
    tally_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(accounts_one_by_one, setup, teardown),
        cmocka_unit_test_setup_teardown(accounts_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(kv_one_by_one, setup, teardown),
        cmocka_unit_test_setup_teardown(kv_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_removes_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_removes_kv_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(list_sorted_per_host, setup, teardown),
        cmocka_unit_test_setup_teardown(completions_in_submission_order, setup, teardown),
        cmocka_unit_test_setup_teardown(work_runs_off_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(thousand_creates_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(survives_reopen_and_migrates_once, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(close_completes_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_batch_is_all_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
