/*
 * test_store.c - the store.h contract on the SQLite backend: accounts,
 * kv (get/set/list/clear), completion order, group commit, the worker
 * thread, durability across close/reopen, migrations, close with requests
 * in flight, a batch that cannot commit, and the per-user logs: append
 * (account check, quota, duplicate ids), XEP-0313/XEP-0059 queries (a
 * table of filters and RSM pages, full walks in both directions), delete
 * by ids and by seq, expiry, seqs that never go back, account deletion,
 * and the barrier.  Real SQLite in a temporary directory and a real
 * event_base.
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
    struct store_item *items;   /* deep copies */
    size_t nitems;
    long long seq;
    bool more;
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
    sl->seq = res->seq;
    sl->more = res->more;
    if (res->nitems) {
        assert_non_null(res->items);
        sl->items = pl_calloc(res->nitems, sizeof(*sl->items));
        for (size_t i = 0; i < res->nitems; i++) {
            const struct store_item *in = &res->items[i];
            struct store_item *out = &sl->items[i];
            *out = *in;
            out->key = in->key ? pl_strdup(in->key) : NULL;
            out->with = in->with ? pl_strdup(in->with) : NULL;
            out->value = NULL;
            if (in->value) {
                assert_int_equal(in->value[in->value_len], '\0');
                out->value = pl_malloc(in->value_len + 1);
                memcpy(out->value, in->value, in->value_len + 1);
            }
        }
        sl->nitems = res->nitems;
    } else {
        assert_null(res->items);
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
        for (size_t j = 0; j < t->slots[i].nitems; j++) {
            free(t->slots[i].items[j].key);
            free(t->slots[i].items[j].value);
            free(t->slots[i].items[j].with);
        }
        free(t->slots[i].items);
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

/* --- kv lists ------------------------------------------------------------- */

/* Keys joined with ',' (for comparing a whole list at once). */
static void keys_of(const struct slot *sl, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < sl->nitems; i++) {
        if (i)
            strncat(out, ",", size - strlen(out) - 1);
        strncat(out, sl->items[i].key, size - strlen(out) - 1);
    }
}

static void assert_keys(const struct slot *sl, const char *want)
{
    char got[512];
    assert_int_equal(sl->status, STORE_OK);
    keys_of(sl, got, sizeof(got));
    assert_string_equal(got, want);
}

static void kv_list_and_clear(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", NULL, NULL);
    store_account_create(f->s, "v", H, "c", NULL, NULL);
    store_account_create(f->s, "u", "b.example", "c", NULL, NULL);
    /* Inserted out of order; bytewise order puts "B" before "a". */
    static const char *const keys[] = { "b", "a", "c", "B", "aa" };
    for (size_t i = 0; i < PL_ARRAY_LEN(keys); i++)
        store_kv_set(f->s, "u", H, "private", keys[i], keys[i], strlen(keys[i]),
                     NULL, NULL);
    store_kv_set(f->s, "u", H, "private", "bin", "x\0y", 3, NULL, NULL);
    store_kv_set(f->s, "u", H, "vcard", "", "card", 4, NULL, NULL);
    store_kv_set(f->s, "v", H, "private", "k", "v's", 3, NULL, NULL);
    store_kv_set(f->s, "u", "b.example", "private", "k", "other host", 10, NULL, NULL);

    struct slot *priv = slot_next(t), *vcard = slot_next(t), *none = slot_next(t),
        *nobody = slot_next(t);
    store_kv_list(f->s, "u", H, "private", on_result, priv);
    store_kv_list(f->s, "u", H, "vcard", on_result, vcard);
    store_kv_list(f->s, "u", H, "roster", on_result, none);
    store_kv_list(f->s, "nobody", H, "private", on_result, nobody);
    struct slot *clear = slot_next(t), *clear_again = slot_next(t),
        *clear_nobody = slot_next(t);
    store_kv_clear(f->s, "u", H, "private", on_result, clear);
    store_kv_clear(f->s, "u", H, "private", on_result, clear_again);
    store_kv_clear(f->s, "nobody", H, "private", on_result, clear_nobody);
    struct slot *after = slot_next(t), *vcard_after = slot_next(t),
        *v_after = slot_next(t), *b_after = slot_next(t);
    store_kv_list(f->s, "u", H, "private", on_result, after);
    store_kv_list(f->s, "u", H, "vcard", on_result, vcard_after);
    store_kv_list(f->s, "v", H, "private", on_result, v_after);
    store_kv_list(f->s, "u", "b.example", "private", on_result, b_after);
    run_until(f, t, t->nslots);

    assert_keys(priv, "B,a,aa,b,bin,c");
    for (size_t i = 0; i < priv->nitems; i++) {
        const struct store_item *it = &priv->items[i];
        if (strcmp(it->key, "bin") == 0) {
            assert_int_equal(it->value_len, 3);
            assert_memory_equal(it->value, "x\0y", 3);
        } else {
            assert_string_equal(it->value, it->key);
            assert_int_equal(it->value_len, strlen(it->key));
        }
        assert_null(it->with);
    }
    assert_keys(vcard, "");
    assert_int_equal(vcard->nitems, 1);
    assert_string_equal(vcard->items[0].value, "card");
    assert_keys(none, "");
    assert_int_equal(none->nitems, 0);
    assert_keys(nobody, "");
    assert_int_equal(nobody->nitems, 0);
    assert_int_equal(clear->status, STORE_OK);
    assert_int_equal(clear_again->status, STORE_OK);
    assert_int_equal(clear_nobody->status, STORE_OK);
    assert_int_equal(after->nitems, 0);
    /* Only that area of that user. */
    assert_keys(vcard_after, "");
    assert_int_equal(vcard_after->nitems, 1);
    assert_keys(v_after, "k");
    assert_keys(b_after, "k");
    assert_string_equal(b_after->items[0].value, "other host");
    tally_free(t);
}

/* --- logs ----------------------------------------------------------------- */

struct append {
    const char *user, *host, *area, *id, *with;
    long long stamp, max_rows;
    bool need_account;
    int status;                 /* expected */
};

/* The value stored for an id: "<v id/>", so values are checkable. */
static void value_for(const char *id, char *out, size_t size)
{
    snprintf(out, size, "<v %s/>", id);
}

static struct slot *append_one(struct fx *f, struct tally *t, const struct append *ap)
{
    char value[128];
    value_for(ap->id, value, sizeof(value));
    struct store_log_append_args a = {
        .user = ap->user, .host = ap->host ? ap->host : H, .area = ap->area,
        .id = ap->id, .with = ap->with, .stamp = ap->stamp,
        .value = value, .value_len = strlen(value),
        .max_rows = ap->max_rows, .need_account = ap->need_account,
    };
    struct slot *sl = slot_next(t);
    store_log_append(f->s, &a, on_result, sl);
    return sl;
}

static struct slot *count_of(struct fx *f, struct tally *t, const char *user,
                             const char *host, const char *area)
{
    struct slot *sl = slot_next(t);
    store_log_count(f->s, user, host, area, on_result, sl);
    return sl;
}

static void assert_count(const struct slot *sl, long long n)
{
    assert_int_equal(sl->status, STORE_OK);
    assert_int_equal(sl->seq, n);
}

/* Appends the steps one at a time or in one batch and checks statuses and
 * that successful appends got increasing sequence numbers. */
static void run_appends(struct fx *f, const struct append *aps, size_t n, bool batched)
{
    struct tally *t = tally_new();
    struct gate g;
    if (batched)
        gate_hold(f, &g);
    for (size_t i = 0; i < n; i++) {
        append_one(f, t, &aps[i]);
        if (!batched)
            run_until(f, t, (int)i + 1);
    }
    if (batched) {
        gate_release(&g);
        run_until(f, t, (int)n);
        gate_destroy(&g);
    }
    long long last = 0;
    for (size_t i = 0; i < n; i++) {
        const struct slot *sl = &t->slots[i];
        if (sl->status != aps[i].status)
            fail_msg("append %zu (%s): status %d, expected %d", i, aps[i].id,
                     sl->status, aps[i].status);
        if (sl->status == STORE_OK) {
            assert_true(sl->seq > last);
            last = sl->seq;
        } else {
            assert_int_equal(sl->seq, 0);
        }
    }
    tally_free(t);
}

static const struct append append_steps[] = {
    { "u", NULL, "offline", "m1", "a@x", 1, .need_account = true, .status = STORE_OK },
    { "u", NULL, "offline", "m2", NULL, 2, .need_account = true, .status = STORE_OK },
    /* the id is unique per (host, user, area) */
    { "u", NULL, "offline", "m1", "a@x", 3, .need_account = true, .status = STORE_EXISTS },
    { "u", NULL, "mam", "m1", "a@x", 3, .need_account = true, .status = STORE_OK },
    { "v", NULL, "offline", "m1", "a@x", 3, .need_account = true, .status = STORE_OK },
    { "u", "b.example", "offline", "m1", NULL, 3, .need_account = true,
      .status = STORE_OK },
    /* no account */
    { "nobody", NULL, "offline", "m1", NULL, 4, .need_account = true,
      .status = STORE_NOT_FOUND },
    /* a room archive needs none */
    { "room", "muc.a.example", "muc", "m1", "n@x", 4, .status = STORE_OK },
    /* quota: 3 rows */
    { "u", NULL, "q", "q1", NULL, 5, .max_rows = 3, .need_account = true, .status = STORE_OK },
    { "u", NULL, "q", "q2", NULL, 5, .max_rows = 3, .need_account = true, .status = STORE_OK },
    { "u", NULL, "q", "q3", NULL, 5, .max_rows = 3, .need_account = true, .status = STORE_OK },
    { "u", NULL, "q", "q4", NULL, 5, .max_rows = 3, .need_account = true,
      .status = STORE_LIMIT },
    /* a retry of a stored row is EXISTS even when the area is full */
    { "u", NULL, "q", "q3", NULL, 5, .max_rows = 3, .need_account = true,
      .status = STORE_EXISTS },
    /* the quota is per area and per call */
    { "u", NULL, "q", "q4", NULL, 5, .max_rows = 4, .need_account = true, .status = STORE_OK },
    { "u", NULL, "q", "q5", NULL, 5, .need_account = true, .status = STORE_OK },
    { "u", NULL, "q", "q6", NULL, 5, .max_rows = 5, .need_account = true,
      .status = STORE_LIMIT },
    { "v", NULL, "q", "q1", NULL, 5, .max_rows = 1, .need_account = true, .status = STORE_OK },
    { "v", NULL, "q", "q2", NULL, 5, .max_rows = 1, .need_account = true,
      .status = STORE_LIMIT },
};

static void check_append_counts(struct fx *f)
{
    struct tally *t = tally_new();
    struct slot *off = count_of(f, t, "u", H, "offline"),
        *mam = count_of(f, t, "u", H, "mam"),
        *q = count_of(f, t, "u", H, "q"),
        *vq = count_of(f, t, "v", H, "q"),
        *nobody = count_of(f, t, "nobody", H, "offline"),
        *room = count_of(f, t, "room", "muc.a.example", "muc"),
        *other = count_of(f, t, "u", "b.example", "offline");
    run_until(f, t, t->nslots);
    assert_count(off, 2);
    assert_count(mam, 1);
    assert_count(q, 5);         /* the refused appends left nothing */
    assert_count(vq, 1);
    assert_count(nobody, 0);
    assert_count(room, 1);
    assert_count(other, 1);
    tally_free(t);
}

static void log_append_one_by_one(void **state)
{
    run_appends(*state, append_steps, PL_ARRAY_LEN(append_steps), false);
    check_append_counts(*state);
}

static void log_append_in_one_batch(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", on_result, slot_next(t));
    store_account_create(f->s, "v", H, "c", on_result, slot_next(t));
    store_account_create(f->s, "u", "b.example", "c", on_result, slot_next(t));
    run_until(f, t, 3);
    tally_free(t);
    struct store_stats before, after;
    store_stats(f->s, &before);
    run_appends(f, append_steps, PL_ARRAY_LEN(append_steps), true);
    store_stats(f->s, &after);
    /* Group commit: one transaction though requests failed in it. */
    assert_int_equal(after.batches - before.batches, 1);
    assert_int_equal(after.commits - before.commits, 1);
    assert_int_equal(after.requests - before.requests, PL_ARRAY_LEN(append_steps));
    check_append_counts(f);
    /* What was committed in one batch survives a restart. */
    reopen(f);
    check_append_counts(f);
}

static int log_append_setup(void **state)
{
    setup(state);
    struct fx *f = *state;
    store_account_create(f->s, "u", H, "c", NULL, NULL);
    store_account_create(f->s, "v", H, "c", NULL, NULL);
    store_account_create(f->s, "u", "b.example", "c", NULL, NULL);
    return 0;
}

/* A log append queued behind the account's deletion must not resurrect
 * rows; deletion removes the user's log rows and nobody else's. */
static void log_rows_go_with_the_account(void **state, bool batched)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    struct gate g;
    if (batched)
        gate_hold(f, &g);
    struct slot *cu = slot_next(t), *cv = slot_next(t);
    store_account_create(f->s, "u", H, "c", on_result, cu);
    store_account_create(f->s, "v", H, "c", on_result, cv);
    static const struct append before[] = {
        { "u", NULL, "offline", "m1", "a@x", 1, .need_account = true },
        { "u", NULL, "mam", "m1", "a@x", 1, .need_account = true },
        { "v", NULL, "offline", "m1", "a@x", 1, .need_account = true },
        /* a room of the same name on the MUC service is not the user */
        { "u", "muc.a.example", "muc", "m1", "a@x", 1, .need_account = false },
    };
    struct slot *ok[PL_ARRAY_LEN(before)];
    for (size_t i = 0; i < PL_ARRAY_LEN(before); i++)
        ok[i] = append_one(f, t, &before[i]);
    struct slot *del = slot_next(t);
    store_account_delete(f->s, "u", H, on_result, del);
    static const struct append late = {
        "u", NULL, "offline", "m2", "a@x", 2, .need_account = true,
    };
    struct slot *late_sl = append_one(f, t, &late);
    struct slot *recreate = slot_next(t);
    store_account_create(f->s, "u", H, "c", on_result, recreate);
    struct slot *off = count_of(f, t, "u", H, "offline"),
        *mam = count_of(f, t, "u", H, "mam"),
        *v = count_of(f, t, "v", H, "offline"),
        *room = count_of(f, t, "u", "muc.a.example", "muc");
    struct slot *q = slot_next(t);
    struct store_log_query_args qa = { .user = "u", .host = H, .area = "offline" };
    store_log_query(f->s, &qa, on_result, q);
    if (batched) {
        gate_release(&g);
        run_until(f, t, t->nslots);
        gate_destroy(&g);
    } else {
        run_until(f, t, t->nslots);
    }
    assert_int_equal(cu->status, STORE_OK);
    assert_int_equal(cv->status, STORE_OK);
    for (size_t i = 0; i < PL_ARRAY_LEN(before); i++)
        assert_int_equal(ok[i]->status, STORE_OK);
    assert_int_equal(del->status, STORE_OK);
    assert_int_equal(late_sl->status, STORE_NOT_FOUND);
    assert_int_equal(recreate->status, STORE_OK);
    assert_count(off, 0);
    assert_count(mam, 0);
    assert_count(v, 1);
    assert_count(room, 1);
    assert_int_equal(q->status, STORE_OK);
    assert_int_equal(q->nitems, 0);
    assert_int_equal(q->seq, 0);
    tally_free(t);
}

static void log_delete_account(void **state)
{
    log_rows_go_with_the_account(state, false);
}

static void log_delete_account_in_one_batch(void **state)
{
    log_rows_go_with_the_account(state, true);
}

/* --- log queries: a table of XEP-0313 / RSM queries ------------------------ */

#define NMSG 10

/* u's "mam" area holds m0..m9: stamp 1000 + 10 i, with "a@x" for even i
 * and "b@x" for odd i.  Other users and areas get rows with the same ids
 * in between, so u's seqs have gaps and the filters must select by area. */
static void fill_paging(struct fx *f)
{
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", NULL, NULL);
    store_account_create(f->s, "v", H, "c", NULL, NULL);
    for (int i = 0; i < NMSG; i++) {
        char id[8];
        snprintf(id, sizeof(id), "m%d", i);
        struct append ap = {
            "u", NULL, "mam", id, i % 2 ? "b@x" : "a@x", 1000 + 10 * i,
            .need_account = true,
        };
        append_one(f, t, &ap);
        ap.user = "v";
        append_one(f, t, &ap);
        ap.user = "u";
        ap.area = "offline";
        append_one(f, t, &ap);
    }
    /* ids only in other places */
    static const struct append elsewhere[] = {
        { "v", NULL, "mam", "v-only", "a@x", 1000, .need_account = true },
        { "u", NULL, "offline", "off-only", "a@x", 1000, .need_account = true },
    };
    append_one(f, t, &elsewhere[0]);
    append_one(f, t, &elsewhere[1]);
    run_until(f, t, t->nslots);
    for (int i = 0; i < t->nslots; i++)
        assert_int_equal(t->slots[i].status, STORE_OK);
    tally_free(t);
}

struct qcase {
    const char *with;
    long long start, end;
    const char *after, *before;
    const char *ids;            /* comma-separated */
    long long limit;
    bool reverse;
    int status;
    const char *want;           /* ids of the page, comma-separated */
    long long count;            /* res->seq */
    bool more;
};

static const struct qcase qcases[] = {
    /* everything, oldest first */
    { .want = "m0,m1,m2,m3,m4,m5,m6,m7,m8,m9", .count = 10 },
    { .reverse = true, .want = "m0,m1,m2,m3,m4,m5,m6,m7,m8,m9", .count = 10 },
    /* forward paging (XEP-0059 §2.2) */
    { .limit = 3, .want = "m0,m1,m2", .count = 10, .more = true },
    { .after = "m2", .limit = 3, .want = "m3,m4,m5", .count = 10, .more = true },
    { .after = "m5", .limit = 3, .want = "m6,m7,m8", .count = 10, .more = true },
    /* exactly the last 'limit' rows: nothing was cut */
    { .after = "m6", .limit = 3, .want = "m7,m8,m9", .count = 10, .more = false },
    { .after = "m7", .limit = 3, .want = "m8,m9", .count = 10, .more = false },
    { .after = "m9", .limit = 3, .want = "", .count = 10, .more = false },
    { .limit = 10, .want = "m0,m1,m2,m3,m4,m5,m6,m7,m8,m9", .count = 10 },
    { .limit = 9, .want = "m0,m1,m2,m3,m4,m5,m6,m7,m8", .count = 10, .more = true },
    { .limit = 1, .after = "m8", .want = "m9", .count = 10 },
    /* the last page (XEP-0059 §2.5) and backwards (§2.3) */
    { .reverse = true, .limit = 3, .want = "m7,m8,m9", .count = 10, .more = true },
    { .reverse = true, .before = "m7", .limit = 3, .want = "m4,m5,m6", .count = 10,
      .more = true },
    { .reverse = true, .before = "m4", .limit = 3, .want = "m1,m2,m3", .count = 10,
      .more = true },
    { .reverse = true, .before = "m3", .limit = 3, .want = "m0,m1,m2", .count = 10,
      .more = false },
    { .reverse = true, .before = "m2", .limit = 3, .want = "m0,m1", .count = 10 },
    { .reverse = true, .before = "m0", .limit = 3, .want = "", .count = 10 },
    { .reverse = true, .limit = 10, .want = "m0,m1,m2,m3,m4,m5,m6,m7,m8,m9", .count = 10 },
    /* before without reverse: the first rows before it */
    { .before = "m7", .limit = 3, .want = "m0,m1,m2", .count = 10, .more = true },
    { .before = "m3", .want = "m0,m1,m2", .count = 10 },
    /* between two ids (XEP-0313 §4.1.3), both exclusive */
    { .after = "m2", .before = "m7", .want = "m3,m4,m5,m6", .count = 10 },
    { .after = "m2", .before = "m7", .limit = 2, .want = "m3,m4", .count = 10, .more = true },
    { .after = "m2", .before = "m7", .limit = 2, .reverse = true, .want = "m5,m6",
      .count = 10, .more = true },
    { .after = "m2", .before = "m7", .limit = 4, .want = "m3,m4,m5,m6", .count = 10 },
    { .after = "m2", .before = "m7", .limit = 4, .reverse = true, .want = "m3,m4,m5,m6",
      .count = 10 },
    { .after = "m3", .before = "m4", .want = "", .count = 10 },
    { .after = "m5", .before = "m2", .want = "", .count = 10 },
    /* with (XEP-0313 §4.1.1): the count is of the filtered set */
    { .with = "b@x", .want = "m1,m3,m5,m7,m9", .count = 5 },
    { .with = "b@x", .limit = 2, .want = "m1,m3", .count = 5, .more = true },
    { .with = "b@x", .after = "m3", .limit = 2, .want = "m5,m7", .count = 5, .more = true },
    /* the position is by seq, even for an id the filter excludes */
    { .with = "b@x", .after = "m4", .limit = 2, .want = "m5,m7", .count = 5, .more = true },
    { .with = "b@x", .before = "m4", .limit = 5, .reverse = true, .want = "m1,m3",
      .count = 5 },
    { .with = "a@x", .reverse = true, .limit = 2, .want = "m6,m8", .count = 5, .more = true },
    { .with = "c@x", .want = "", .count = 0 },
    { .with = "a@", .want = "", .count = 0 },   /* exact match only */
    /* start/end (XEP-0313 §4.1.2), inclusive */
    { .start = 1030, .end = 1050, .want = "m3,m4,m5", .count = 3 },
    { .start = 1031, .end = 1049, .want = "m4", .count = 1 },
    { .start = 1070, .want = "m7,m8,m9", .count = 3 },
    { .end = 1010, .want = "m0,m1", .count = 2 },
    { .start = 1050, .end = 1040, .want = "", .count = 0 },
    { .start = 1020, .limit = 2, .reverse = true, .want = "m8,m9", .count = 8, .more = true },
    { .start = 1020, .with = "a@x", .limit = 2, .after = "m2", .want = "m4,m6", .count = 4,
      .more = true },
    /* ids */
    { .ids = "m8,m2,m5", .want = "m2,m5,m8", .count = 3 },
    { .ids = "m2,m2", .want = "m2", .count = 1 },
    { .ids = "m8,m2,m5", .with = "b@x", .want = "m5", .count = 1 },
    { .ids = "m8,m2,m5", .limit = 2, .want = "m2,m5", .count = 3, .more = true },
    { .ids = "m8,m2,m5", .limit = 2, .reverse = true, .want = "m5,m8", .count = 3,
      .more = true },
    { .ids = "m8,m2,m5", .after = "m2", .want = "m5,m8", .count = 3 },
    { .ids = "m8,m2,m5", .start = 1030, .want = "m5,m8", .count = 2 },
    { .ids = "m1", .want = "m1", .count = 1 },
    /* unknown ids: item-not-found (XEP-0313 §4.1.3, XEP-0059 §2.4) */
    { .after = "nope", .status = STORE_NOT_FOUND },
    { .before = "nope", .reverse = true, .status = STORE_NOT_FOUND },
    { .after = "m1", .before = "nope", .status = STORE_NOT_FOUND },
    { .ids = "m1,nope", .status = STORE_NOT_FOUND },
    /* ids of other users or areas are not in this log */
    { .after = "v-only", .status = STORE_NOT_FOUND },
    { .before = "off-only", .status = STORE_NOT_FOUND },
    { .ids = "off-only", .status = STORE_NOT_FOUND },
};

/* Splits "a,b,c" into buf and a NULL-terminated array. */
static const char *const *split_ids(const char *s, char *buf, size_t size,
                                    const char **arr, size_t max)
{
    if (!s)
        return NULL;
    snprintf(buf, size, "%s", s);
    size_t n = 0;
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        assert_true(n + 1 < max);
        arr[n++] = p;
    }
    arr[n] = NULL;
    return arr;
}

/* Every item must be what fill_paging() stored under its id. */
static void check_paging_item(const struct store_item *it)
{
    assert_true(it->key[0] == 'm');
    int i = atoi(it->key + 1);
    assert_int_equal(it->stamp, 1000 + 10 * i);
    assert_string_equal(it->with, i % 2 ? "b@x" : "a@x");
    char value[128];
    value_for(it->key, value, sizeof(value));
    assert_string_equal(it->value, value);
    assert_int_equal(it->value_len, strlen(value));
}

static void run_qcases(struct fx *f, bool batched)
{
    struct tally *t = tally_new();
    size_t n = PL_ARRAY_LEN(qcases);
    struct gate g;
    if (batched)
        gate_hold(f, &g);
    for (size_t i = 0; i < n; i++) {
        const struct qcase *c = &qcases[i];
        char buf[128];
        const char *arr[16];
        struct store_log_query_args q = {
            .user = "u", .host = H, .area = "mam", .with = c->with,
            .start = c->start, .end = c->end,
            .after_id = c->after, .before_id = c->before,
            .ids = split_ids(c->ids, buf, sizeof(buf), arr, PL_ARRAY_LEN(arr)),
            .limit = c->limit, .reverse = c->reverse,
        };
        /* The request copies everything: clobber the caller's copy. */
        store_log_query(f->s, &q, on_result, slot_next(t));
        memset(buf, 'X', sizeof(buf) - 1);
        if (!batched)
            run_until(f, t, (int)i + 1);
    }
    if (batched) {
        gate_release(&g);
        run_until(f, t, (int)n);
        gate_destroy(&g);
    }
    for (size_t i = 0; i < n; i++) {
        const struct qcase *c = &qcases[i];
        const struct slot *sl = &t->slots[i];
        if (sl->status != c->status)
            fail_msg("query %zu: status %d, expected %d", i, sl->status, c->status);
        if (c->status != STORE_OK) {
            assert_int_equal(sl->nitems, 0);
            continue;
        }
        char got[256];
        keys_of(sl, got, sizeof(got));
        if (strcmp(got, c->want) != 0)
            fail_msg("query %zu: got '%s', expected '%s'", i, got, c->want);
        if (sl->seq != c->count)
            fail_msg("query %zu: count %lld, expected %lld", i, sl->seq, c->count);
        if (sl->more != c->more)
            fail_msg("query %zu: more %d, expected %d", i, sl->more, c->more);
        for (size_t j = 0; j < sl->nitems; j++) {
            check_paging_item(&sl->items[j]);
            if (j)
                assert_true(sl->items[j].seq > sl->items[j - 1].seq);
        }
    }
    tally_free(t);
}

static void log_query_table(void **state)
{
    fill_paging(*state);
    run_qcases(*state, false);
}

static void log_query_table_in_one_batch(void **state)
{
    fill_paging(*state);
    run_qcases(*state, true);
}

/* Walks the whole log page by page in both directions, as a MAM client
 * would, and checks that the pages join up exactly. */
static void log_query_walk(void **state)
{
    struct fx *f = *state;
    fill_paging(f);
    for (int reverse = 0; reverse < 2; reverse++) {
        for (long long limit = 1; limit <= NMSG + 1; limit++) {
            char seen[256] = "", last[8] = "";
            int pages = 0;
            for (;;) {
                struct tally *t = tally_new();
                struct slot *sl = slot_next(t);
                struct store_log_query_args q = {
                    .user = "u", .host = H, .area = "mam", .limit = limit,
                    .reverse = reverse,
                };
                if (last[0] && reverse)
                    q.before_id = last;
                else if (last[0])
                    q.after_id = last;
                store_log_query(f->s, &q, on_result, sl);
                run_until(f, t, 1);
                assert_int_equal(sl->status, STORE_OK);
                assert_int_equal(sl->seq, NMSG);
                pages++;
                char page[256];
                keys_of(sl, page, sizeof(page));
                if (sl->nitems) {
                    char joined[600];
                    if (reverse)
                        snprintf(joined, sizeof(joined), "%s%s%s", page,
                                 seen[0] ? "," : "", seen);
                    else
                        snprintf(joined, sizeof(joined), "%s%s%s", seen,
                                 seen[0] ? "," : "", page);
                    assert_true(strlen(joined) < sizeof(seen));
                    memcpy(seen, joined, strlen(joined) + 1);
                    snprintf(last, sizeof(last), "%s",
                             sl->items[reverse ? 0 : sl->nitems - 1].key);
                }
                bool more = sl->more;
                /* 'more' is false exactly on the page that ends the log. */
                assert_true(sl->nitems == (size_t)limit || !more);
                tally_free(t);
                if (!more)
                    break;
                assert_true(pages <= NMSG);
            }
            assert_string_equal(seen, "m0,m1,m2,m3,m4,m5,m6,m7,m8,m9");
            assert_int_equal(pages, (NMSG + limit - 1) / limit);
        }
    }
}

/* Ids are arbitrary strings (XEP-0359): quotes, backslashes, control
 * characters and non-ASCII go through the ids filter intact. */
static void log_query_odd_ids(void **state)
{
    struct fx *f = *state;
    static const char *const ids[] = {
        "q\"uote", "back\\slash", "new\nline", "tab\t", "\xc3\xa9t\xc3\xa9",
        "[\"json\"]", "plain",
    };
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", NULL, NULL);
    for (size_t i = 0; i < PL_ARRAY_LEN(ids); i++) {
        struct append ap = { "u", NULL, "mam", ids[i], NULL, 1, .need_account = true };
        append_one(f, t, &ap);
    }
    const char *want[] = { ids[4], ids[0], ids[1], ids[2], ids[3], ids[5], NULL };
    struct slot *all = slot_next(t);
    struct store_log_query_args q = { .user = "u", .host = H, .area = "mam", .ids = want };
    store_log_query(f->s, &q, on_result, all);
    const char *one[] = { "plain\"", NULL };
    struct slot *missing = slot_next(t);
    q.ids = one;
    store_log_query(f->s, &q, on_result, missing);
    struct slot *after = slot_next(t);
    struct store_log_query_args qa = {
        .user = "u", .host = H, .area = "mam", .after_id = "new\nline",
    };
    store_log_query(f->s, &qa, on_result, after);
    run_until(f, t, t->nslots);
    for (size_t i = 0; i < PL_ARRAY_LEN(ids); i++)
        assert_int_equal(t->slots[i].status, STORE_OK);
    assert_int_equal(all->status, STORE_OK);
    assert_int_equal(all->nitems, 6);
    assert_int_equal(all->seq, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(all->items[i].key, ids[i]);     /* seq order */
        assert_null(all->items[i].with);
        assert_int_equal(all->items[i].stamp, 1);
    }
    assert_int_equal(missing->status, STORE_NOT_FOUND);
    assert_int_equal(after->status, STORE_OK);
    assert_int_equal(after->nitems, 4);
    assert_string_equal(after->items[0].key, "tab\t");
    tally_free(t);
}

/* Values are bytes; the item carries the append's fields and seq. */
static void log_item_fields(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", NULL, NULL);
    struct store_log_append_args a = {
        .user = "u", .host = H, .area = "offline", .id = "bin",
        .with = "juliet@capulet.lit", .stamp = 1700000000123456LL,
        .value = "a\0b<", .value_len = 4, .need_account = true,
    };
    struct slot *s1 = slot_next(t);
    store_log_append(f->s, &a, on_result, s1);
    a.id = "empty";
    a.with = NULL;
    a.value = "";
    a.value_len = 0;
    a.stamp = -5;
    struct slot *s2 = slot_next(t);
    store_log_append(f->s, &a, on_result, s2);
    struct slot *q = slot_next(t);
    struct store_log_query_args qa = { .user = "u", .host = H, .area = "offline" };
    store_log_query(f->s, &qa, on_result, q);
    run_until(f, t, 3);
    assert_int_equal(s1->status, STORE_OK);
    assert_int_equal(s2->status, STORE_OK);
    assert_true(s2->seq > s1->seq);
    assert_int_equal(q->nitems, 2);
    assert_false(q->more);
    const struct store_item *i1 = &q->items[0], *i2 = &q->items[1];
    assert_string_equal(i1->key, "bin");
    assert_int_equal(i1->seq, s1->seq);
    assert_string_equal(i1->with, "juliet@capulet.lit");
    assert_int_equal(i1->stamp, 1700000000123456LL);
    assert_int_equal(i1->value_len, 4);
    assert_memory_equal(i1->value, "a\0b<", 5);
    assert_string_equal(i2->key, "empty");
    assert_int_equal(i2->seq, s2->seq);
    assert_null(i2->with);
    assert_int_equal(i2->stamp, -5);
    assert_int_equal(i2->value_len, 0);
    assert_string_equal(i2->value, "");
    tally_free(t);
}

/* --- log delete, expire, seq ---------------------------------------------- */

static struct slot *delete_ids(struct fx *f, struct tally *t, const char *user,
                               const char *area, const char *const *ids, long long upto)
{
    struct slot *sl = slot_next(t);
    store_log_delete(f->s, user, H, area, ids, upto, on_result, sl);
    return sl;
}

static struct slot *query_all(struct fx *f, struct tally *t, const char *user,
                              const char *area)
{
    struct slot *sl = slot_next(t);
    struct store_log_query_args q = { .user = user, .host = H, .area = area };
    store_log_query(f->s, &q, on_result, sl);
    return sl;
}

static void log_delete_by_ids_and_seq(void **state)
{
    struct fx *f = *state;
    fill_paging(f);
    struct tally *t = tally_new();
    /* Seqs of u's mam rows, to delete up to one of them. */
    struct slot *all = query_all(f, t, "u", "mam");
    run_until(f, t, 1);
    assert_int_equal(all->nitems, NMSG);
    long long seq_m4 = all->items[4].seq;

    static const char *const some[] = { "m1", "m3", "nope", "m3", "v-only", NULL };
    static const char *const none[] = { NULL };
    struct slot *d1 = delete_ids(f, t, "u", "mam", some, 0);
    struct slot *d_empty = delete_ids(f, t, "u", "mam", none, 0);
    struct slot *q1 = query_all(f, t, "u", "mam");
    /* up to m4's seq: m0, m2, m4 are left of those */
    struct slot *d2 = delete_ids(f, t, "u", "mam", NULL, seq_m4);
    struct slot *q2 = query_all(f, t, "u", "mam");
    struct slot *d3 = delete_ids(f, t, "u", "mam", NULL, seq_m4);
    /* 0: everything */
    struct slot *d4 = delete_ids(f, t, "u", "mam", NULL, 0);
    struct slot *c_u = count_of(f, t, "u", H, "mam"),
        *c_off = count_of(f, t, "u", H, "offline"),
        *c_v = count_of(f, t, "v", H, "mam");
    /* nobody's rows: nothing to do, still OK */
    struct slot *d5 = delete_ids(f, t, "nobody", "mam", NULL, 0);
    run_until(f, t, t->nslots);

    assert_int_equal(d1->status, STORE_OK);
    assert_int_equal(d1->seq, 2);
    assert_int_equal(d_empty->status, STORE_OK);
    assert_int_equal(d_empty->seq, 0);
    assert_keys(q1, "m0,m2,m4,m5,m6,m7,m8,m9");
    assert_int_equal(d2->status, STORE_OK);
    assert_int_equal(d2->seq, 3);
    assert_keys(q2, "m5,m6,m7,m8,m9");
    assert_int_equal(d3->seq, 0);
    assert_int_equal(d4->seq, 5);
    assert_count(c_u, 0);
    assert_count(c_off, NMSG + 1);
    assert_count(c_v, NMSG + 1);
    assert_int_equal(d5->status, STORE_OK);
    assert_int_equal(d5->seq, 0);
    tally_free(t);
}

/* Consumers remember seqs: deleting the newest rows, even all of them,
 * and restarting must not make seqs go back or be reused. */
static void log_seq_never_goes_back(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", NULL, NULL);
    static const struct append a1[] = {
        { "u", NULL, "offline", "a", NULL, 1, .need_account = true },
        { "u", NULL, "offline", "b", NULL, 1, .need_account = true },
    };
    append_one(f, t, &a1[0]);
    struct slot *b = append_one(f, t, &a1[1]);
    static const char *const del_b[] = { "b", NULL };
    delete_ids(f, t, "u", "offline", del_b, 0);
    static const struct append c1 = { "u", NULL, "offline", "c", NULL, 1,
                                      .need_account = true };
    struct slot *c = append_one(f, t, &c1);
    delete_ids(f, t, "u", "offline", NULL, 0);
    run_until(f, t, t->nslots);
    assert_true(c->seq > b->seq);
    long long last = c->seq;
    reopen(f);
    static const struct append d1 = { "u", NULL, "offline", "d", NULL, 1,
                                      .need_account = true };
    /* a refused append (quota) does not use up a seq for later */
    static const struct append full = { "u", NULL, "offline", "e", NULL, 1,
                                        .max_rows = 1, .need_account = true };
    static const struct append e1 = { "u", NULL, "offline", "e", NULL, 1,
                                      .need_account = true };
    struct slot *d = append_one(f, t, &d1);
    struct slot *refused = append_one(f, t, &full);
    struct slot *e = append_one(f, t, &e1);
    run_until(f, t, t->nslots);
    assert_int_equal(d->status, STORE_OK);
    assert_true(d->seq > last);
    assert_int_equal(refused->status, STORE_LIMIT);
    assert_int_equal(e->status, STORE_OK);
    assert_true(e->seq > d->seq);
    tally_free(t);
}

static void log_expire_by_host_and_area(void **state)
{
    struct fx *f = *state;
    fill_paging(f);             /* stamps 1000..1090 */
    struct tally *t = tally_new();
    store_account_create(f->s, "u", "b.example", "c", NULL, NULL);
    static const struct append other = {
        "u", "b.example", "mam", "old", NULL, 0, .need_account = true,
    };
    append_one(f, t, &other);
    struct slot *e1 = slot_next(t);
    store_log_expire(f->s, H, "mam", 1030, on_result, e1);   /* m0..m2 of u and v */
    struct slot *u = query_all(f, t, "u", "mam"), *v = query_all(f, t, "v", "mam");
    struct slot *off = count_of(f, t, "u", H, "offline"),
        *b = count_of(f, t, "u", "b.example", "mam");
    struct slot *e2 = slot_next(t);
    store_log_expire(f->s, H, "mam", 1030, on_result, e2);
    struct slot *e3 = slot_next(t);
    store_log_expire(f->s, H, "mam", 1091, on_result, e3);
    struct slot *u2 = count_of(f, t, "u", H, "mam");
    run_until(f, t, t->nslots);
    assert_int_equal(e1->status, STORE_OK);
    /* u: m0..m2; v: m0..m2 and v-only (stamp 1000) */
    assert_int_equal(e1->seq, 7);
    assert_keys(u, "m3,m4,m5,m6,m7,m8,m9");
    assert_keys(v, "m3,m4,m5,m6,m7,m8,m9");
    assert_count(off, NMSG + 1);
    assert_count(b, 1);
    assert_int_equal(e2->seq, 0);
    assert_int_equal(e3->seq, 14);
    assert_count(u2, 0);
    tally_free(t);
}

/* --- barrier -------------------------------------------------------------- */

struct barrier_check {
    struct slot *sl;
    const char *path;
    long long rows_seen;        /* log rows another connection sees */
};

static void on_barrier(void *ud)
{
    struct barrier_check *bc = ud;
    slot_fire(bc->sl);
    /* Committed means visible to another connection, now. */
    bc->rows_seen = raw_query(bc->path, "SELECT count(*) FROM log");
}

/* The barrier completes after every request submitted before it, from
 * the batch in flight and the one queued, and after their commit. */
static void barrier_orders_after_writes(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", NULL, NULL);
    struct gate g;
    /* 1st batch: 50 appends the worker is running when the rest arrive. */
    for (int i = 0; i < 50; i++) {
        char id[8];
        snprintf(id, sizeof(id), "a%d", i);
        struct append ap = { "u", NULL, "mam", id, NULL, i, .need_account = true };
        append_one(f, t, &ap);
    }
    gate_hold(f, &g);
    for (int i = 0; i < 50; i++) {
        char id[8];
        snprintf(id, sizeof(id), "b%d", i);
        struct append ap = { "u", NULL, "mam", id, NULL, i, .need_account = true };
        append_one(f, t, &ap);
    }
    struct barrier_check bc = { .sl = slot_next(t), .path = f->path, .rows_seen = -1 };
    store_barrier(f->s, on_barrier, &bc);
    static const struct append after = { "u", NULL, "mam", "z", NULL, 0,
                                         .need_account = true };
    struct slot *late = append_one(f, t, &after);
    gate_release(&g);
    run_until(f, t, t->nslots); /* asserts completion order */
    gate_destroy(&g);
    assert_true(bc.sl->fired);
    /* 100, or 101 if 'late' was in the barrier's batch (it was, here,
     * but the barrier does not promise it). */
    assert_true(bc.rows_seen >= 100);
    assert_int_equal(late->status, STORE_OK);
    /* A barrier with nothing before it completes too. */
    struct barrier_check idle = { .sl = slot_next(t), .path = f->path };
    store_barrier(f->s, on_barrier, &idle);
    run_until(f, t, t->nslots);
    assert_int_equal(idle.rows_seen, 101);
    assert_true(idle.sl->fired);
    tally_free(t);
}

/* Every new kind of request in one batch: one transaction, one commit,
 * and each request sees the effects of those before it. */
static void log_and_kv_mixed_batch(void **state)
{
    struct fx *f = *state;
    struct tally *t = tally_new();
    store_account_create(f->s, "u", H, "c", on_result, slot_next(t));
    run_until(f, t, 1);
    struct store_stats before, after;
    store_stats(f->s, &before);
    struct gate g;
    gate_hold(f, &g);
    static const struct append aps[] = {
        { "u", NULL, "offline", "o1", "a@x", 10, .max_rows = 2, .need_account = true },
        { "u", NULL, "offline", "o2", "a@x", 20, .max_rows = 2, .need_account = true },
        { "u", NULL, "offline", "o3", "a@x", 30, .max_rows = 2, .need_account = true },
    };
    struct slot *a1 = append_one(f, t, &aps[0]), *a2 = append_one(f, t, &aps[1]),
        *a3 = append_one(f, t, &aps[2]);
    struct slot *c1 = count_of(f, t, "u", H, "offline");
    struct slot *q1 = query_all(f, t, "u", "offline");
    store_kv_set(f->s, "u", H, "private", "k", "v", 1, on_result, slot_next(t));
    struct slot *kl = slot_next(t);
    store_kv_list(f->s, "u", H, "private", on_result, kl);
    struct slot *kc = slot_next(t);
    store_kv_clear(f->s, "u", H, "private", on_result, kc);
    struct slot *kl2 = slot_next(t);
    store_kv_list(f->s, "u", H, "private", on_result, kl2);
    static const char *const o1[] = { "o1", NULL };
    struct slot *d = delete_ids(f, t, "u", "offline", o1, 0);
    /* the quota has room again */
    struct slot *a4 = append_one(f, t, &aps[2]);
    struct slot *e = slot_next(t);
    store_log_expire(f->s, H, "offline", 25, on_result, e);    /* o2 */
    struct slot *q2 = query_all(f, t, "u", "offline");
    struct barrier_check bc = { .sl = slot_next(t), .path = f->path };
    store_barrier(f->s, on_barrier, &bc);
    gate_release(&g);
    run_until(f, t, t->nslots);
    gate_destroy(&g);
    store_stats(f->s, &after);
    assert_int_equal(after.batches - before.batches, 1);
    assert_int_equal(after.commits - before.commits, 1);
    assert_int_equal(after.requests - before.requests, t->nslots - 2);

    assert_int_equal(a1->status, STORE_OK);
    assert_int_equal(a2->status, STORE_OK);
    assert_int_equal(a3->status, STORE_LIMIT);
    assert_count(c1, 2);
    assert_keys(q1, "o1,o2");
    assert_int_equal(q1->seq, 2);
    assert_keys(kl, "k");
    assert_int_equal(kc->status, STORE_OK);
    assert_int_equal(kl2->nitems, 0);
    assert_int_equal(d->seq, 1);
    assert_int_equal(a4->status, STORE_OK);
    assert_true(a4->seq > a2->seq);
    assert_int_equal(e->seq, 1);
    assert_keys(q2, "o3");
    assert_int_equal(bc.rows_seen, 1);
    tally_free(t);
}

/* Requests with rows in flight at close complete and free their rows
 * (ASan's leak check); a barrier submitted then completes in order. */
static void close_with_log_requests(void **state)
{
    struct fx *f = *state;
    fill_paging(f);
    struct tally *t = tally_new();
    struct slot *q = query_all(f, t, "u", "mam");
    struct slot *kv = slot_next(t);
    store_kv_list(f->s, "u", H, "private", on_result, kv);
    struct barrier_check bc = { .sl = slot_next(t), .path = f->path };
    store_barrier(f->s, on_barrier, &bc);
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(t->fired, 3);
    assert_false(t->out_of_order);
    assert_int_equal(q->nitems, NMSG);
    assert_int_equal(kv->status, STORE_OK);
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
        cmocka_unit_test_setup_teardown(kv_list_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(log_append_one_by_one, log_append_setup, teardown),
        cmocka_unit_test_setup_teardown(log_append_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(log_delete_account, setup, teardown),
        cmocka_unit_test_setup_teardown(log_delete_account_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(log_query_table, setup, teardown),
        cmocka_unit_test_setup_teardown(log_query_table_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(log_query_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(log_query_odd_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(log_item_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(log_delete_by_ids_and_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(log_seq_never_goes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(log_expire_by_host_and_area, setup, teardown),
        cmocka_unit_test_setup_teardown(log_and_kv_mixed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(barrier_orders_after_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(close_with_log_requests, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
