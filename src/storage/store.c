/*
 * store.c - the backend-neutral half of store.h: request queue, storage
 * worker thread, group commit, completions back on the loop
 * (ARCHITECTURE.md principles 1 and 5).
 *
 * The loop thread copies each request's arguments into one allocation and
 * appends it to 'queue'.  The worker takes everything queued at once (a
 * batch), runs the storage requests of the batch in one transaction and
 * commits it: one fsync for the whole batch however many requests it holds
 * (group commit).  Only then are the batch's requests moved to 'done' and
 * the loop woken through a pipe, so a STORE_OK completion always means
 * "committed and durable"; if the commit fails every storage request of the
 * batch completes with STORE_ERROR.  store_work() jobs run on the worker
 * after the batch's commit, so a long job (PBKDF2) never holds the write
 * transaction open, and the commit's completions are handed back before
 * the job starts.
 *
 * One FIFO in, one worker, one FIFO out: completions run on the loop in
 * submission order.
 *
 * Waking the worker: storage requests are queued at once but the worker is
 * signalled once per turn of the loop (on_kick), so that what one turn's
 * callbacks submit forms one batch; work jobs signal at once.  A batch
 * without writes runs in a read transaction (no write lock).
 *
 * Wake-up: a pipe watched by an EV_READ|EV_PERSIST event rather than
 * event_active() from the worker, which would need evthread_use_pthreads()
 * called before the event_base was created; the pipe needs nothing from the
 * caller and costs the same one write per wake-up.  The worker writes only
 * when 'done' goes from empty to non-empty, so at most a byte or two is
 * ever in the pipe.
 */
#include "storage/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/sqlite/sqlite.h"

/* Indexed by conf_storage.backend: the order of the CONF_ENUM choices for
 * storage.backend in conf.c ("sqlite" first). */
static const struct store_backend *const backends[] = {
    &store_sqlite_backend,
};

struct store_req {
    struct store_req *next;
    enum store_op op;
    struct store_args args;     /* strings point into data[] */
    struct store_result res;    /* filled on the worker, read on the loop */
    store_cb cb;                /* storage requests; may be NULL */
    void (*work)(void *ud);     /* STORE_OP_WORK: runs on the worker */
    void (*done)(void *ud);     /* STORE_OP_WORK: runs on the loop */
    void *ud;
    char data[];                /* the copied argument strings and value */
};

/* A FIFO of requests. */
struct req_list {
    struct store_req *head;
    struct store_req **tail;
};

struct store {
    const struct store_backend *be;
    void *db;                   /* the backend's; worker thread only after open */
    int version;                /* schema version, read-only after open */
    struct event_base *base;
    struct event *wake_ev;      /* EV_READ on wake_fd[0] */
    struct event *kick_ev;      /* made active on submit: signals the worker */
    int wake_fd[2];             /* worker writes [1], loop reads [0] */
    pthread_t worker;

    pthread_mutex_t lock;       /* guards queue, done, stopping */
    pthread_cond_t cond;        /* signalled when queue grows or stopping */
    struct req_list queue;      /* submitted, not yet taken by the worker */
    struct req_list done;       /* executed, completion not yet run */
    bool stopping;              /* store_close: finish the queue and exit */

    /* Loop thread only. */
    size_t pending;             /* submitted, completion not yet run */
    bool dispatching;           /* running completions: no store_close */
    bool worker_gone;           /* joined: new requests fail at once */
    bool kick_armed;            /* kick_ev is active */

    /* Written by the worker, read by store_stats() on the loop. */
    atomic_ullong n_batches;
    atomic_ullong n_commits;
    atomic_ullong n_requests;
};

static void list_init(struct req_list *l)
{
    l->head = NULL;
    l->tail = &l->head;
}

static void list_push(struct req_list *l, struct store_req *r)
{
    r->next = NULL;
    *l->tail = r;
    l->tail = &r->next;
}

/* Moves all of 'from' to the end of 'to'. */
static void list_splice(struct req_list *to, struct req_list *from)
{
    if (!from->head)
        return;
    *to->tail = from->head;
    to->tail = from->tail;
    list_init(from);
}

static void result_clear(struct store_result *res)
{
    PL_FREE(res->value);
    res->value_len = 0;
    for (size_t i = 0; i < res->nrows; i++)
        free(res->rows[i]);
    PL_FREE(res->rows);
    res->nrows = 0;
    for (size_t i = 0; i < res->nitems; i++) {
        free(res->items[i].key);
        free(res->items[i].value);
        free(res->items[i].with);
    }
    PL_FREE(res->items);
    res->nitems = 0;
    res->seq = 0;
    res->more = false;
}

/* --- loop side: completions ----------------------------------------------- */

/* Runs the completions the worker has handed back, in order.  Returns how
 * many ran. */
static size_t dispatch_done(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    struct store_req *r = s->done.head;
    list_init(&s->done);
    pthread_mutex_unlock(&s->lock);

    size_t n = 0;
    bool outer = s->dispatching;
    s->dispatching = true;
    while (r) {
        struct store_req *next = r->next;
        s->pending--;
        if (r->op == STORE_OP_WORK) {
            if (r->done)
                r->done(r->ud);
        } else if (r->cb) {
            r->cb(&r->res, r->ud);
        }
        result_clear(&r->res);
        free(r);
        r = next;
        n++;
    }
    s->dispatching = outer;
    return n;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    char drain[64];
    /* Drain before taking 'done': a byte written after this read belongs
     * to a request this dispatch may or may not see, and a later wake-up
     * with nothing to do is harmless.  The worker writes a byte only when
     * 'done' becomes non-empty, so one short read empties the pipe; a
     * second read just to hear EAGAIN would be a syscall per wake-up. */
    ssize_t n;
    do
        n = read(fd, drain, sizeof(drain));
    while (n == (ssize_t)sizeof(drain) || (n < 0 && errno == EINTR));
    (void)what;
    dispatch_done(s);
}

/* --- worker side ---------------------------------------------------------- */

/* Hands executed requests to the loop. */
static void deliver(struct store *s, struct req_list *ready)
{
    if (!ready->head)
        return;
    pthread_mutex_lock(&s->lock);
    bool was_empty = s->done.head == NULL;
    list_splice(&s->done, ready);
    pthread_mutex_unlock(&s->lock);
    if (was_empty) {
        /* EAGAIN means the pipe already holds a wake-up: enough. */
        ssize_t w;
        do
            w = write(s->wake_fd[1], "", 1);
        while (w < 0 && errno == EINTR);
    }
}

static void run_batch(struct store *s, struct store_req *batch)
{
    bool has_db = false, writes = false;
    for (struct store_req *r = batch; r; r = r->next) {
        has_db = has_db || r->op != STORE_OP_WORK;
        writes = writes || (r->op != STORE_OP_WORK && store_op_is_write(r->op));
    }

    if (has_db) {
        atomic_fetch_add_explicit(&s->n_batches, 1, memory_order_relaxed);
        bool ok = s->be->begin(s->db, writes) == 0;
        for (struct store_req *r = batch; ok && r; r = r->next) {
            if (r->op == STORE_OP_WORK)
                continue;
            s->be->exec(s->db, r->op, &r->args, &r->res);
            atomic_fetch_add_explicit(&s->n_requests, 1, memory_order_relaxed);
        }
        if (ok)
            ok = s->be->commit(s->db) == 0;
        if (ok) {
            atomic_fetch_add_explicit(&s->n_commits, 1, memory_order_relaxed);
        } else {
            /* Nothing of the batch is durable, whatever each request
             * reported on its own. */
            for (struct store_req *r = batch; r; r = r->next) {
                if (r->op == STORE_OP_WORK)
                    continue;
                result_clear(&r->res);
                r->res.status = STORE_ERROR;
            }
        }
    }

    /* Completions go back in order; everything before a work job is
     * handed back before the job runs, so a slow job delays only what was
     * submitted after it. */
    struct req_list ready;
    list_init(&ready);
    struct store_req *r = batch;
    while (r) {
        struct store_req *next = r->next;
        if (r->op == STORE_OP_WORK) {
            deliver(s, &ready);
            if (r->work)
                r->work(r->ud);
        }
        list_push(&ready, r);
        r = next;
    }
    deliver(s, &ready);
}

static void *worker_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->queue.head && !s->stopping)
            pthread_cond_wait(&s->cond, &s->lock);
        if (!s->queue.head)
            break;              /* stopping, and the queue is finished */
        struct store_req *batch = s->queue.head;
        list_init(&s->queue);
        pthread_mutex_unlock(&s->lock);
        run_batch(s, batch);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- submission (loop thread) --------------------------------------------- */

static size_t str_size(const char *p)
{
    return p ? strlen(p) + 1 : 0;
}

/* Copies 'src' (n bytes plus a NUL) to *cursor; returns the copy. */
static const char *copy_out(char **cursor, const char *src, size_t n)
{
    if (!src)
        return NULL;
    char *dst = *cursor;
    memcpy(dst, src, n);
    dst[n] = '\0';
    *cursor += n + 1;
    return dst;
}

static size_t ids_count(const char *const *ids)
{
    size_t n = 0;
    if (ids)
        while (ids[n])
            n++;
    return n;
}

/* The id array goes first in data[]: it must be pointer-aligned. */
static_assert(offsetof(struct store_req, data) % _Alignof(const char *) == 0,
              "store_req.data must be able to hold pointers");

/* One allocation for the request and all its arguments: the request, then
 * the NULL-terminated copy of 'ids' (if any), then every string. */
static struct store_req *req_new(enum store_op op, const struct store_args *a)
{
    size_t nids = ids_count(a->ids);
    size_t size = sizeof(struct store_req)
        + (a->ids ? (nids + 1) * sizeof(const char *) : 0)
        + str_size(a->user) + str_size(a->host)
        + str_size(a->creds) + str_size(a->area) + str_size(a->key)
        + (a->value ? a->value_len + 1 : 0)
        + str_size(a->id) + str_size(a->with)
        + str_size(a->after_id) + str_size(a->before_id);
    for (size_t i = 0; i < nids; i++)
        size += str_size(a->ids[i]);
    struct store_req *r = pl_calloc(1, size);
    r->op = op;
    r->args = *a;               /* the numbers and flags; strings below */
    char *cur = r->data;
    const char **ids = NULL;
    if (a->ids) {
        ids = (const char **)(void *)cur;
        cur += (nids + 1) * sizeof(const char *);
    }
#define COPY_STR(field) \
    r->args.field = copy_out(&cur, a->field, a->field ? strlen(a->field) : 0)
    COPY_STR(user);
    COPY_STR(host);
    COPY_STR(creds);
    COPY_STR(area);
    COPY_STR(key);
    COPY_STR(id);
    COPY_STR(with);
    COPY_STR(after_id);
    COPY_STR(before_id);
#undef COPY_STR
    r->args.value = copy_out(&cur, a->value, a->value_len);
    r->args.value_len = a->value ? a->value_len : 0;
    if (ids) {
        for (size_t i = 0; i < nids; i++)
            ids[i] = copy_out(&cur, a->ids[i], strlen(a->ids[i]));
        ids[nids] = NULL;       /* calloc'd already; said for the reader */
    }
    r->args.ids = ids;
    PL_ASSERT(cur == (char *)r + size);
    return r;
}

/* The worker is woken once per turn of the loop, not once per request:
 * everything submitted by the callbacks of one turn (a login asks for the
 * roster and its metadata together; a completion submits the next step)
 * then goes into one batch, one transaction and one hand-back, instead of
 * the worker waking for the first request alone while the loop is still
 * queueing the rest (issue 7: each extra batch is a futex wake, two
 * context switches, a pipe write and a loop wake-up). */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct store *s = arg;
    s->kick_armed = false;
    pthread_mutex_lock(&s->lock);
    bool work = s->queue.head != NULL;
    pthread_mutex_unlock(&s->lock);
    /* Signalled after the unlock: the woken worker does not then block
     * on the mutex we still hold (a futex wait and wake more).  Safe: it
     * tests the queue under the lock before it sleeps again. */
    if (work)
        pthread_cond_signal(&s->cond);
}

static void submit(struct store *s, struct store_req *r)
{
    s->pending++;
    pthread_mutex_lock(&s->lock);
    if (s->worker_gone) {
        /* Submitted by a completion that store_close() is running: there
         * is no worker any more.  It completes in the same close. */
        log_warn("store: request submitted while the store is closing");
        r->res.status = STORE_ERROR;
        list_push(&s->done, r);
    } else {
        list_push(&s->queue, r);
        /* A work job (PBKDF2, a barrier) goes at once: it is rare, may be
         * long, and its submitter may wait for it to start. */
        if (r->op == STORE_OP_WORK)
            pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    if (!s->worker_gone && r->op != STORE_OP_WORK && !s->kick_armed) {
        s->kick_armed = true;
        event_active(s->kick_ev, EV_TIMEOUT, 0);
    }
}

static void submit_db(struct store *s, enum store_op op, const struct store_args *a,
                      store_cb cb, void *ud)
{
    PL_ASSERT(a->host);
    struct store_req *r = req_new(op, a);
    r->cb = cb;
    r->ud = ud;
    submit(s, r);
}

void store_account_create(struct store *s, const char *user, const char *host,
                          const char *creds, store_cb cb, void *ud)
{
    PL_ASSERT(user && creds);
    struct store_args a = { .user = user, .host = host, .creds = creds };
    submit_db(s, STORE_OP_ACCOUNT_CREATE, &a, cb, ud);
}

void store_account_get(struct store *s, const char *user, const char *host,
                       store_cb cb, void *ud)
{
    PL_ASSERT(user);
    struct store_args a = { .user = user, .host = host };
    submit_db(s, STORE_OP_ACCOUNT_GET, &a, cb, ud);
}

void store_account_set_creds(struct store *s, const char *user, const char *host,
                             const char *creds, store_cb cb, void *ud)
{
    PL_ASSERT(user && creds);
    struct store_args a = { .user = user, .host = host, .creds = creds };
    submit_db(s, STORE_OP_ACCOUNT_SET_CREDS, &a, cb, ud);
}

void store_account_delete(struct store *s, const char *user, const char *host,
                          store_cb cb, void *ud)
{
    PL_ASSERT(user);
    struct store_args a = { .user = user, .host = host };
    submit_db(s, STORE_OP_ACCOUNT_DELETE, &a, cb, ud);
}

void store_account_list(struct store *s, const char *host, store_cb cb, void *ud)
{
    struct store_args a = { .host = host };
    submit_db(s, STORE_OP_ACCOUNT_LIST, &a, cb, ud);
}

void store_kv_get(struct store *s, const char *user, const char *host,
                  const char *area, const char *key, store_cb cb, void *ud)
{
    PL_ASSERT(user && area && key);
    struct store_args a = { .user = user, .host = host, .area = area, .key = key };
    submit_db(s, STORE_OP_KV_GET, &a, cb, ud);
}

void store_kv_set(struct store *s, const char *user, const char *host,
                  const char *area, const char *key,
                  const char *value, size_t len, store_cb cb, void *ud)
{
    PL_ASSERT(user && area && key);
    struct store_args a = {
        .user = user, .host = host, .area = area, .key = key,
        .value = value, .value_len = len,
    };
    submit_db(s, STORE_OP_KV_SET, &a, cb, ud);
}

void store_kv_list(struct store *s, const char *user, const char *host,
                   const char *area, store_cb cb, void *ud)
{
    PL_ASSERT(user && area);
    struct store_args a = { .user = user, .host = host, .area = area };
    submit_db(s, STORE_OP_KV_LIST, &a, cb, ud);
}

void store_kv_clear(struct store *s, const char *user, const char *host,
                    const char *area, store_cb cb, void *ud)
{
    PL_ASSERT(user && area);
    struct store_args a = { .user = user, .host = host, .area = area };
    submit_db(s, STORE_OP_KV_CLEAR, &a, cb, ud);
}

/* Server-level rows have no host: the empty string stands in for it, so
 * that submit_db's check (every per-user request names its host) holds. */
void store_server_kv_get(struct store *s, const char *area, const char *key,
                         store_cb cb, void *ud)
{
    PL_ASSERT(area && key);
    struct store_args a = { .host = "", .area = area, .key = key };
    submit_db(s, STORE_OP_SKV_GET, &a, cb, ud);
}

void store_server_kv_add(struct store *s, const char *area, const char *key,
                         const char *value, size_t len, store_cb cb, void *ud)
{
    PL_ASSERT(area && key && value);
    struct store_args a = { .host = "", .area = area, .key = key,
                            .value = value, .value_len = len };
    submit_db(s, STORE_OP_SKV_ADD, &a, cb, ud);
}

void store_server_kv_delete(struct store *s, const char *area, const char *key,
                            store_cb cb, void *ud)
{
    PL_ASSERT(area && key);
    struct store_args a = { .host = "", .area = area, .key = key };
    submit_db(s, STORE_OP_SKV_DELETE, &a, cb, ud);
}

void store_server_kv_list(struct store *s, const char *area, store_cb cb, void *ud)
{
    PL_ASSERT(area);
    struct store_args a = { .host = "", .area = area };
    submit_db(s, STORE_OP_SKV_LIST, &a, cb, ud);
}

void store_log_append(struct store *s, const struct store_log_append_args *la,
                      store_cb cb, void *ud)
{
    PL_ASSERT(la->user && la->area && la->id && la->value);
    struct store_args a = {
        .user = la->user, .host = la->host, .area = la->area,
        .id = la->id, .with = la->with, .stamp = la->stamp,
        .value = la->value, .value_len = la->value_len,
        .max_rows = la->max_rows, .need_account = la->need_account,
    };
    submit_db(s, STORE_OP_LOG_APPEND, &a, cb, ud);
}

void store_log_query(struct store *s, const struct store_log_query_args *q,
                     store_cb cb, void *ud)
{
    PL_ASSERT(q->user && q->area);
    struct store_args a = {
        .user = q->user, .host = q->host, .area = q->area,
        .with = q->with, .start = q->start, .end = q->end,
        .after_id = q->after_id, .before_id = q->before_id, .ids = q->ids,
        .skip_unknown_ids = q->skip_unknown_ids,
        .limit = q->limit, .reverse = q->reverse,
    };
    submit_db(s, STORE_OP_LOG_QUERY, &a, cb, ud);
}

void store_log_delete(struct store *s, const char *user, const char *host,
                      const char *area, const char *const *ids,
                      long long upto_seq, store_cb cb, void *ud)
{
    PL_ASSERT(user && area);
    struct store_args a = {
        .user = user, .host = host, .area = area, .ids = ids, .upto_seq = upto_seq,
    };
    submit_db(s, STORE_OP_LOG_DELETE, &a, cb, ud);
}

void store_log_expire(struct store *s, const char *host, const char *area,
                      long long before, store_cb cb, void *ud)
{
    PL_ASSERT(area);
    struct store_args a = { .host = host, .area = area, .before = before };
    submit_db(s, STORE_OP_LOG_EXPIRE, &a, cb, ud);
}

void store_log_count(struct store *s, const char *user, const char *host,
                     const char *area, store_cb cb, void *ud)
{
    PL_ASSERT(user && area);
    struct store_args a = { .user = user, .host = host, .area = area };
    submit_db(s, STORE_OP_LOG_COUNT, &a, cb, ud);
}

void store_work(struct store *s, void (*work)(void *ud), void (*done)(void *ud),
                void *ud)
{
    struct store_args none = { 0 };
    struct store_req *r = req_new(STORE_OP_WORK, &none);
    r->work = work;
    r->done = done;
    r->ud = ud;
    submit(s, r);
}

/* --- barrier -------------------------------------------------------------- */

static void barrier_work(void *ud)
{
    (void)ud;
}

/*
 * A no-op work job is a barrier because of how the worker treats the queue:
 * - the worker takes the whole queue at once, so a request submitted
 *   before the barrier is either in an earlier batch or in the barrier's
 *   own batch, ahead of it (one FIFO);
 * - an earlier batch was committed and all its requests handed back
 *   before the worker took the next one;
 * - in the barrier's batch, run_batch() executes and commits every
 *   storage request before it looks at work jobs, and hands back what
 *   precedes a job before the job runs;
 * - completions run on the loop in the order they were handed back.
 * So done(ud) runs after the completion of every request submitted
 * before it, each of which was committed.  (If the store is closing, the
 * barrier completes in close, still in order.)
 */
void store_barrier(struct store *s, void (*done)(void *ud), void *ud)
{
    store_work(s, barrier_work, done, ud);
}

/* --- lifecycle ------------------------------------------------------------ */

/* The worker must not take process signals: the loop's signal events
 * (libevent's evsig) belong to the loop thread. */
static int start_worker(struct store *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->worker, NULL, worker_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        pthread_setname_np(s->worker, "parley-store");
    return rc;
}

struct store *store_open(const struct conf_storage *cfg, struct event_base *base,
                         struct buf *err)
{
    if (cfg->backend < 0 || (size_t)cfg->backend >= PL_ARRAY_LEN(backends)) {
        buf_printf(err, "unknown storage backend %d", cfg->backend);
        return NULL;
    }
    struct store *s = pl_calloc(1, sizeof(*s));
    s->be = backends[cfg->backend];
    s->base = base;
    s->wake_fd[0] = s->wake_fd[1] = -1;
    list_init(&s->queue);
    list_init(&s->done);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);

    s->db = s->be->open(cfg, err);
    if (!s->db)
        goto fail_free;
    s->version = s->be->schema_version(s->db);

    if (pipe2(s->wake_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        buf_printf(err, "store: cannot create wake-up pipe: %s", strerror(errno));
        goto fail_close_db;
    }
    s->wake_ev = event_new(base, s->wake_fd[0], EV_READ | EV_PERSIST, on_wake, s);
    s->kick_ev = event_new(base, -1, 0, on_kick, s);
    if (!s->wake_ev || !s->kick_ev || event_add(s->wake_ev, NULL) < 0) {
        buf_puts(err, "store: cannot add the wake-up event");
        goto fail_close_pipe;
    }
    int rc = start_worker(s);
    if (rc != 0) {
        buf_printf(err, "store: cannot start the storage thread: %s", strerror(rc));
        goto fail_close_pipe;
    }
    log_info("store: %s backend ready, schema version %d", s->be->name, s->version);
    return s;

fail_close_pipe:
    if (s->wake_ev)
        event_free(s->wake_ev);
    if (s->kick_ev)
        event_free(s->kick_ev);
    close(s->wake_fd[0]);
    close(s->wake_fd[1]);
fail_close_db:
    s->be->close(s->db);
fail_free:
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    /* From a completion, the dispatch loop would go on with a freed store. */
    PL_ASSERT(!s->dispatching);

    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->worker, NULL);
    s->worker_gone = true;

    /* The worker finished the queue before it exited; run the completions
     * here, including those of anything they submit (STORE_ERROR). */
    while (dispatch_done(s) > 0)
        ;
    PL_ASSERT(s->pending == 0);

    event_free(s->wake_ev);
    event_free(s->kick_ev);
    close(s->wake_fd[0]);
    close(s->wake_fd[1]);
    s->be->close(s->db);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int store_schema_version(const struct store *s)
{
    return s->version;
}

size_t store_pending(const struct store *s)
{
    return s->pending;
}

void store_stats(const struct store *s, struct store_stats *out)
{
    out->batches = atomic_load_explicit(&s->n_batches, memory_order_relaxed);
    out->commits = atomic_load_explicit(&s->n_commits, memory_order_relaxed);
    out->requests = atomic_load_explicit(&s->n_requests, memory_order_relaxed);
}

