/*
 * server.c - building, running, reloading and stopping the server context.
 */
#include "core/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "admin/ctl.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/mem.h"
#include "modules/modules.h"
#include "net/listener.h"
#include "net/ratelimit.h"
#include "net/tls.h"
#include "xml/xml.h"
#include "router/router.h"
#include "storage/store.h"
#include "stream/c2s.h"

#define STOP_LINGER_MS 3000
/* Longest wait for storage work submitted while stopping (drain()). */
#define STOP_DRAIN_MS 5000

static void on_signal(evutil_socket_t sig, short what, void *ud)
{
    struct server *srv = ud;
    (void)what;
    if (sig == SIGHUP) {
        struct buf err = BUF_INIT;
        if (server_reload(srv, &err) < 0)
            log_error("reload failed, keeping the running configuration: %s", err.data);
        buf_release(&err);
        return;
    }
    log_notice("received signal %d, stopping", (int)sig);
    server_stop(srv);
}

static const struct conf_listen *control_listener(const struct conf *c)
{
    for (size_t i = 0; i < c->nlisten; i++)
        if (c->listen[i].module == LISTEN_CONTROL)
            return &c->listen[i];
    return NULL;
}

/* The server secret: 32 random bytes made at first start in
 * data_dir/secret, mode 0600.  It keys HMACs that must survive restarts
 * (fake SCRAM salts now, ban records later). */
static int load_secret(struct server *srv, struct buf *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/secret", srv->conf->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (RAND_bytes(srv->secret, sizeof(srv->secret)) != 1) {
            buf_puts(err, "cannot generate the server secret");
            return -1;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, srv->secret, sizeof(srv->secret)) != (ssize_t)sizeof(srv->secret) ||
            fsync(fd) < 0) {
            buf_printf(err, "cannot write the server secret '%s': %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
        log_notice("created the server secret '%s'", path);
        return 0;
    }
    if (fd < 0) {
        buf_printf(err, "cannot read the server secret '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        log_warn("the server secret '%s' is readable by others: chmod 600 it", path);
    ssize_t n = read(fd, srv->secret, sizeof(srv->secret));
    close(fd);
    if (n != (ssize_t)sizeof(srv->secret)) {
        buf_printf(err, "the server secret '%s' is damaged: expected %zu bytes", path,
                   sizeof(srv->secret));
        return -1;
    }
    return 0;
}

struct server *server_new(struct conf *conf, struct buf *err)
{
    signal(SIGPIPE, SIG_IGN);

    struct server *srv = pl_calloc(1, sizeof(*srv));
    srv->conf = conf;
    srv->started = time(NULL);
    buf_init(&srv->scratch);
    /* A parser is out only while a stream reads: a few serve the loop. */
    srv->xml_pool = xml_parser_pool_new(8);
    log_set_level((enum log_level)conf->loglevel);

    /* One thread runs the loop; the storage worker hands results back
     * through its own pipe (store.c) and never touches libevent, so the
     * base needs no lock (issue 7: evthread_use_pthreads() made every
     * event_add/del/active take and release a mutex).
     * The epoll changelist applies event changes once per loop turn
     * rather than one epoll_ctl each: a read disabled and enabled again
     * in the same turn, or a write event added and removed, costs no
     * syscall.  Its one caveat, a dup()ed descriptor that stays in the
     * epoll set after close, does not arise: nothing here dups or forks
     * with descriptors in the loop. */
    struct event_config *ecfg = event_config_new();
    if (ecfg) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK |
                                    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        srv->base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (!srv->base) {
        buf_puts(err, "cannot create the event loop");
        goto fail;
    }
    if (load_secret(srv, err) < 0)
        goto fail;
    srv->tls = tls_new(conf, err);
    if (!srv->tls)
        goto fail;
    srv->store = store_open(&conf->storage, srv->base, err);
    if (!srv->store)
        goto fail;
    srv->router = router_new();
    if (modules_start(srv, err) < 0)
        goto fail;
    srv->auth_limit = ratelimit_new(conf->auth.max_failures, conf->auth.failure_window,
                                    conf->auth.lockout);
    srv->conn_limit = ratelimit_new(0, 1, 0);
    if (conf->limits.shaper_rate) {
        size_t r = conf->limits.shaper_rate;
        srv->shaper = ev_token_bucket_cfg_new(r, r * 2, EV_RATE_LIMIT_MAX,
                                              EV_RATE_LIMIT_MAX, NULL);
    }
    if (listeners_start(srv, err) < 0)
        goto fail;
    c2s_sweep_start(srv);
    const struct conf_listen *cl = control_listener(conf);
    if (cl) {
        srv->ctl = ctl_new(srv, cl->path, err);
        if (!srv->ctl)
            goto fail;
    }
    srv->sig_int = evsignal_new(srv->base, SIGINT, on_signal, srv);
    srv->sig_term = evsignal_new(srv->base, SIGTERM, on_signal, srv);
    srv->sig_hup = evsignal_new(srv->base, SIGHUP, on_signal, srv);
    evsignal_add(srv->sig_int, NULL);
    evsignal_add(srv->sig_term, NULL);
    evsignal_add(srv->sig_hup, NULL);
    return srv;
fail:
    server_free(srv);
    return NULL;
}

int server_run(struct server *srv)
{
    log_notice("parleyd %s started, serving %zu host(s)",
#ifdef PARLEY_VERSION
               PARLEY_VERSION,
#else
               "dev",
#endif
               srv->conf->hosts.count);
    return event_base_dispatch(srv->base) < 0 ? -1 : 0;
}

struct stop_state {
    struct server *srv;
    struct event *ev;
    struct timeval started;
};

static void on_stop_poll(evutil_socket_t fd, short what, void *ud)
{
    struct stop_state *s = ud;
    (void)fd;
    (void)what;
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    long ms = (now.tv_sec - s->started.tv_sec) * 1000 +
              (now.tv_usec - s->started.tv_usec) / 1000;
    if (s->srv->conns && ms < STOP_LINGER_MS) {
        struct timeval tv = { 0, 20000 };
        event_add(s->ev, &tv);
        return;
    }
    event_base_loopexit(s->srv->base, NULL);
    event_free(s->ev);
    free(s);
}

void server_stop(struct server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    listeners_stop(srv);
    c2s_close_all(srv, "system-shutdown", "the server is stopping");
    struct stop_state *s = pl_calloc(1, sizeof(*s));
    s->srv = srv;
    evutil_gettimeofday(&s->started, NULL);
    s->ev = evtimer_new(srv->base, on_stop_poll, s);
    struct timeval tv = { 0, 0 };
    evtimer_add(s->ev, &tv);
}

static void on_drain_deadline(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    *(bool *)ud = true;
}

/*
 * The last turns of the loop, before storage closes.  Sessions still
 * bound (the loop ended without server_stop(), or one outlived its
 * linger) are unbound here, so their hooks (the roster's last
 * unavailable presence, last activity, offline storage) find storage
 * open; the closing streams' first tick re-routes what XEP-0198 clients
 * did not acknowledge; and what all of that submitted to storage
 * completes on the loop, where completions may submit more (a lookup,
 * then the offline write).  Bounded by STOP_DRAIN_MS: store_close()
 * still runs whatever is left, answering later submissions with errors.
 */
static void drain(struct server *srv)
{
    if (!srv->router || !srv->store)
        return;
    srv->stopping = true;
    c2s_close_all(srv, "system-shutdown", "the server is stopping");
    bool expired = false;
    struct event *deadline = evtimer_new(srv->base, on_drain_deadline, &expired);
    struct timeval tv = { STOP_DRAIN_MS / 1000, (STOP_DRAIN_MS % 1000) * 1000 };
    evtimer_add(deadline, &tv);
    /* Two passes without waiting run the zero-delay timers (close
     * polling) and what they make active; then wait for storage. */
    for (int pass = 0; !expired; pass++) {
        if (pass >= 2 && store_pending(srv->store) == 0)
            break;
        event_base_loop(srv->base, pass < 2 ? EVLOOP_NONBLOCK : EVLOOP_ONCE);
    }
    if (expired)
        log_warn("stopping: %zu storage requests still pending after %d ms",
                 store_pending(srv->store), STOP_DRAIN_MS);
    event_free(deadline);
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    listeners_stop(srv);
    drain(srv);
    /* Completions still queued run now, while the control socket can
     * still answer for them; connections waiting on them are released by
     * their callbacks.  No session is bound any more (drain()): nothing
     * that runs session hooks comes after this. */
    if (srv->store)
        store_close(srv->store);
    if (srv->ctl)
        ctl_free(srv->ctl);
    /* Streams that outlived the linger are cut without ceremony (their
     * sessions were unbound by drain(), before storage closed). */
    if (srv->router)
        c2s_free_all(srv);
    if (srv->router)
        modules_stop(srv);
    router_free(srv->router);
    if (srv->sig_int)
        event_free(srv->sig_int);
    if (srv->sig_term)
        event_free(srv->sig_term);
    if (srv->sig_hup)
        event_free(srv->sig_hup);
    if (srv->shaper)
        ev_token_bucket_cfg_free(srv->shaper);
    ratelimit_free(srv->auth_limit);
    ratelimit_free(srv->conn_limit);
    tls_free(srv->tls);
    if (srv->base)
        event_base_free(srv->base);
    buf_release(&srv->scratch);
    xml_parser_pool_free(srv->xml_pool);
    conf_free(srv->conf);
    free(srv);
}

int server_reload(struct server *srv, struct buf *err)
{
    struct conf *old = srv->conf;
    struct conf *nc = conf_load(old->file, modules_all(), err);
    if (!nc)
        return -1;
    /* Options that need a restart keep their running values (conf.h). */
    conf_keep_restart(nc, old, true);
    struct tls *nt = tls_new(nc, err);
    if (!nt) {
        conf_keep_restart(old, nc, false);      /* undone: old runs on */
        conf_free(nc);
        return -1;
    }
    /* Listeners, storage and the control socket keep running as they
     * are, and their options their running values. */
    modules_stop(srv);
    srv->conf = nc;
    if (modules_start(srv, err) < 0) {
        conf_keep_restart(old, nc, false);
        srv->conf = old;
        struct buf e2 = BUF_INIT;
        if (modules_start(srv, &e2) < 0)
            log_error("cannot restart the old modules: %s", e2.data);
        buf_release(&e2);
        tls_free(nt);
        conf_free(nc);
        return -1;
    }
    tls_free(srv->tls);
    srv->tls = nt;
    log_set_level((enum log_level)nc->loglevel);
    ratelimit_configure(srv->auth_limit, nc->auth.max_failures, nc->auth.failure_window,
                        nc->auth.lockout);
    conf_free(old);
    log_notice("configuration reloaded from %s", nc->file);
    return 0;
}
