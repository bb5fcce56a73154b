/*
 * ctl.c - the control socket server (ARCHITECTURE.md principle 7): the
 * parleyctl transport of the admin command registry, on libevent.
 *
 * One Unix stream socket, mode 0600: file permissions are the
 * authentication (as for ejabberdctl/prosodyctl and haproxy's stats
 * socket), and SO_PEERCRED double-checks the peer's uid.
 *
 * Each connection may pipeline requests (admin/ctl_proto.h): the client
 * writes many without waiting, we parse ahead into a per-connection FIFO
 * and write replies from its head, so replies leave in request order.
 * Calls of one connection *run* one at a time, each starting when the
 * previous one has replied: a batch then means what it says ("register
 * bob" then "change_password bob" works), which running them concurrently
 * would not guarantee, because a register's store write is only submitted
 * after its key derivation, behind any later read.  What pipelining buys
 * is no round trip per command.  Memory per connection is bounded: at
 * most CTL_MAX_QUEUE requests queued, and reading pauses while more than
 * CTL_OUT_HIGH bytes of replies wait to be sent.
 *
 * A call outlives its connection if it must: when a connection closes
 * with calls in flight, those calls lose their transport (req->conn =
 * NULL) and free themselves when their reply arrives.
 */
#include "admin/ctl.h"
#include "admin/command.h"
#include "admin/ctl_proto.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define CTL_MAX_CONNS 32                /* admins, not clients: a handful at most */
#define CTL_MAX_QUEUE 128               /* enough to keep PBKDF2 and storage busy in a batch */
#define CTL_OUT_HIGH (4 * CTL_MAX_REPLY)/* unsent replies before reading pauses */
#define CTL_BACKLOG 16

struct ctl_conn;

/* One request: the registry call plus its place in the connection's FIFO. */
struct ctl_req {
    struct cmd_call call;       /* call.transport points back here */
    struct ctl_conn *conn;      /* NULL once the connection is gone */
    bool started;               /* dispatched (or answered at parse time) */
    bool done;                  /* reply encoded in 'reply' */
    char *name;                 /* the command name until dispatch */
    struct buf reply;           /* the encoded reply */
    struct ctl_req *next;       /* FIFO order = request order */
};

struct ctl_conn {
    struct ctl *ctl;
    struct bufferevent *bev;
    struct ctl_decoder dec;
    struct ctl_req *head, *tail;        /* calls in request order */
    size_t queued;                      /* length of that FIFO */
    bool closing;                       /* read no more; close once flushed */
    bool reading;                       /* EV_READ is enabled */
    struct ctl_req *running;            /* the call started and not yet done */
    bool in_run;                        /* conn_run() is on the stack */
    unsigned long id;                   /* for log lines */
    struct ctl_conn *prev, *next;       /* ctl->conns */
};

struct ctl {
    struct server *srv;
    struct evconnlistener *lev;
    char *path;
    struct ctl_conn *conns;
    size_t nconns;
    unsigned long next_id;
};

/* --- calls ----------------------------------------------------------------- */

static void req_free(struct ctl_req *req)
{
    for (size_t i = 0; i < req->call.argc; i++) {
        /* Arguments may hold a password: wipe before free. */
        explicit_bzero(req->call.argv[i], strlen(req->call.argv[i]));
        free(req->call.argv[i]);
    }
    free(req->call.argv);
    free(req->name);
    buf_release(&req->reply);
    free(req);
}

static void conn_flush(struct ctl_conn *conn);
static void conn_run(struct ctl_conn *conn);

/* cmd_call.done: encodes the reply, then writes every finished call at
 * the head of the FIFO.  May run inside cmd_dispatch() (synchronous
 * replies) or later from a storage callback; never frees the connection,
 * so it is safe in both. */
static void req_done(struct cmd_call *call, enum cmd_status st, struct buf *out,
                     char **list, size_t nlist)
{
    struct ctl_req *req = call->transport;
    int rc;

    PL_ASSERT(!req->done);
    if (st != CMD_OK || out) {
        const char *text = out ? out->data : "";
        size_t len = out ? out->len : 0;
        rc = ctl_encode_reply(&req->reply, (int)st, CTL_KIND_TEXT, 1, &text, &len);
    } else if (list) {
        rc = ctl_encode_reply(&req->reply, CMD_OK, CTL_KIND_LIST, nlist,
                              (const char *const *)list, NULL);
    } else {
        rc = ctl_encode_reply(&req->reply, CMD_OK, CTL_KIND_NONE, 0, NULL, NULL);
    }
    if (rc < 0) {
        /* Only a reply over CTL_MAX_REPLY can fail: say so instead. */
        size_t size = list ? ctl_reply_size(nlist, (const char *const *)list, NULL)
                           : (out ? out->len : 0);
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "reply too large for the control socket: %zu bytes "
                 "(at most %d)", size, CTL_MAX_REPLY);
        const char *text = msg;
        PL_ASSERT(ctl_encode_reply(&req->reply, CMD_E_INTERNAL, CTL_KIND_TEXT,
                                   1, &text, NULL) == 0);
        log_warn("ctl: %s", msg);
    }
    req->done = true;
    struct ctl_conn *conn = req->conn;
    if (!conn) {
        req_free(req);          /* the connection went away: discard */
        return;
    }
    if (conn->running == req)
        conn->running = NULL;
    conn_flush(conn);           /* may free req */
    conn_run(conn);             /* the next call, unless already looping */
}

static struct ctl_req *req_new(struct ctl_conn *conn)
{
    struct ctl_req *req = pl_calloc(1, sizeof(*req));
    req->conn = conn;
    req->call.srv = conn->ctl->srv;
    req->call.done = req_done;
    req->call.transport = req;
    req->call.origin = "ctl";
    /* Queue first, so that even a synchronous reply keeps its place. */
    if (conn->tail)
        conn->tail->next = req;
    else
        conn->head = req;
    conn->tail = req;
    conn->queued++;
    return req;
}

/* Queues a parsed request; it runs when the calls before it are done.
 * Takes ownership of the message's items (m is left empty); the caller
 * has checked there is no NUL byte in them. */
static void queue_call(struct ctl_conn *conn, struct ctl_msg *m)
{
    struct ctl_req *req = req_new(conn);
    size_t argc = m->nitems - 1;

    req->call.argv = pl_calloc(argc + 1, sizeof(*req->call.argv));
    for (size_t i = 0; i < argc; i++)
        req->call.argv[i] = m->items[i + 1];
    req->call.argc = argc;
    req->name = m->items[0];
    free(m->items);
    free(m->lens);
    memset(m, 0, sizeof(*m));
}

static void start_call(struct ctl_req *req)
{
    char *name = req->name;     /* req may be freed by a synchronous reply */
    req->name = NULL;
    req->started = true;
    req->conn->running = req;
    req->call.cmd = cmd_find(name);
    if (!req->call.cmd) {
        struct buf q = BUF_INIT;
        cmd_quote(&q, name);
        cmd_reply_error(&req->call, CMD_E_UNKNOWN_COMMAND,
                        "unknown command '%s'; 'help' lists the commands", q.data);
        buf_release(&q);
    } else {
        cmd_dispatch(&req->call);
    }
    free(name);
}

/* Starts queued calls one at a time.  A loop, not recursion, when calls
 * reply synchronously (help, status, usage errors): req_done() calls us
 * back and the in_run flag turns that into one more turn of this loop. */
static void conn_run(struct ctl_conn *conn)
{
    if (conn->in_run)
        return;
    conn->in_run = true;
    while (!conn->running) {
        struct ctl_req *req = conn->head;
        while (req && req->started)
            req = req->next;
        if (!req)
            break;
        start_call(req);
    }
    conn->in_run = false;
}

/* --- connections ------------------------------------------------------ */

static void conn_free(struct ctl_conn *conn)
{
    struct ctl *ctl = conn->ctl;
    struct ctl_req *req = conn->head;
    while (req) {
        struct ctl_req *next = req->next;
        if (req->done || !req->started) {
            req_free(req);
        } else {
            /* Still running: it frees itself when it completes. */
            req->conn = NULL;
            req->next = NULL;
        }
        req = next;
    }
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        ctl->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    ctl->nconns--;
    bufferevent_free(conn->bev);
    ctl_decoder_release(&conn->dec);
    free(conn);
}

/* Enables reading iff the connection has room for more calls and its
 * unsent output is below the bound; input already buffered while paused
 * is processed from a deferred read callback. */
static void conn_update_read(struct ctl_conn *conn)
{
    struct evbuffer *output = bufferevent_get_output(conn->bev);
    bool want = !conn->closing && conn->queued < CTL_MAX_QUEUE &&
                evbuffer_get_length(output) < CTL_OUT_HIGH;
    if (want == conn->reading)
        return;
    conn->reading = want;
    if (!want) {
        bufferevent_disable(conn->bev, EV_READ);
        return;
    }
    bufferevent_enable(conn->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(conn->bev)))
        bufferevent_trigger(conn->bev, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void conn_flush(struct ctl_conn *conn)
{
    while (conn->head && conn->head->done) {
        struct ctl_req *req = conn->head;
        conn->head = req->next;
        if (!conn->head)
            conn->tail = NULL;
        conn->queued--;
        bufferevent_write(conn->bev, req->reply.data, req->reply.len);
        req_free(req);
    }
    conn_update_read(conn);
}

/* Closes a connection that will send nothing more.  Only called from the
 * connection's own libevent callbacks, never from req_done(), so nothing
 * up the stack still uses it (libevent allows freeing a bufferevent from
 * its own callback). */
static bool conn_maybe_close(struct ctl_conn *conn)
{
    if (!conn->closing || conn->head ||
        evbuffer_get_length(bufferevent_get_output(conn->bev)))
        return false;
    conn_free(conn);
    return true;
}

/* A framing error: answer it after the replies already due, then close
 * (the byte stream has no resynchronization point). */
static void conn_protocol_error(struct ctl_conn *conn, const char *why)
{
    log_warn("ctl: connection %lu: protocol error: %s", conn->id, why);
    conn->closing = true;
    struct ctl_req *req = req_new(conn);
    req->started = true;
    cmd_reply_error(&req->call, CMD_E_USAGE, "protocol error: %s", why);
}

static void conn_read(struct bufferevent *bev, void *ud)
{
    struct ctl_conn *conn = ud;
    struct evbuffer *input = bufferevent_get_input(bev);

    struct evbuffer *output = bufferevent_get_output(bev);

    /* Same limits as conn_update_read(): synchronous replies (help,
     * status) can fill the output while we parse. */
    while (!conn->closing && conn->queued < CTL_MAX_QUEUE &&
           evbuffer_get_length(output) < CTL_OUT_HIGH) {
        size_t n = evbuffer_get_contiguous_space(input);
        if (n == 0)
            break;
        const unsigned char *p = evbuffer_pullup(input, (ev_ssize_t)n);
        size_t used;
        enum ctl_decode_rc rc = ctl_decode(&conn->dec, p, n, &used);
        evbuffer_drain(input, used);
        if (rc == CTL_DECODE_MORE)
            continue;
        if (rc == CTL_DECODE_ERROR) {
            conn_protocol_error(conn, conn->dec.error);
            break;
        }
        struct ctl_msg m;
        ctl_decoder_take(&conn->dec, &m);
        /* Reject NUL bytes here, where the lengths are known: commands
         * take C strings and a NUL would silently cut an argument. */
        bool nul = false;
        for (size_t i = 0; i < m.nitems; i++)
            nul = nul || memchr(m.items[i], '\0', m.lens[i]) != NULL;
        if (nul) {
            ctl_msg_release(&m);
            struct ctl_req *req = req_new(conn);
            req->started = true;
            cmd_reply_error(&req->call, CMD_E_USAGE,
                            "an argument contains a NUL byte");
            continue;
        }
        queue_call(conn, &m);
    }
    conn_run(conn);
    if (conn->closing && conn->reading) {
        conn->reading = false;
        bufferevent_disable(bev, EV_READ);
    }
    conn_update_read(conn);
    conn_maybe_close(conn);
}

/* Output drained to the low watermark (0): resume reading, or close. */
static void conn_write(struct bufferevent *bev, void *ud)
{
    struct ctl_conn *conn = ud;
    if (!conn_maybe_close(conn))
        conn_update_read(conn);
}

static void conn_event(struct bufferevent *bev, short what, void *ud)
{
    struct ctl_conn *conn = ud;
    if (what & BEV_EVENT_ERROR) {
        log_debug("ctl: connection %lu: %s", conn->id,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(conn);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        /* The client sent everything (it may have only shut down its
         * writing side): finish the calls in flight, send their replies,
         * then close. */
        conn->closing = true;
        conn->reading = false;
        bufferevent_disable(bev, EV_READ);
        conn_maybe_close(conn);
    }
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int socklen, void *ud)
{
    struct ctl *ctl = ud;
    struct ucred cred;
    socklen_t len = sizeof(cred);

    /* The socket's mode already keeps other users out; this also holds if
     * someone loosens it by hand. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        (cred.uid != 0 && cred.uid != geteuid())) {
        log_warn("ctl: refusing a connection from uid %ld",
                 len == sizeof(cred) ? (long)cred.uid : -1L);
        evutil_closesocket(fd);
        return;
    }
    if (ctl->nconns >= CTL_MAX_CONNS) {
        log_warn("ctl: refusing a connection: %d already open", CTL_MAX_CONNS);
        evutil_closesocket(fd);
        return;
    }
    struct ctl_conn *conn = pl_calloc(1, sizeof(*conn));
    conn->ctl = ctl;
    conn->id = ++ctl->next_id;
    conn->bev = bufferevent_socket_new(ctl->srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!conn->bev) {
        log_error("ctl: cannot set up a connection");
        evutil_closesocket(fd);
        free(conn);
        return;
    }
    ctl_decoder_init(&conn->dec, CTL_MSG_REQUEST);
    conn->next = ctl->conns;
    if (ctl->conns)
        ctl->conns->prev = conn;
    ctl->conns = conn;
    ctl->nconns++;
    bufferevent_setcb(conn->bev, conn_read, conn_write, conn_event, conn);
    conn->reading = true;
    bufferevent_enable(conn->bev, EV_READ);
    log_debug("ctl: connection %lu opened (uid %ld)", conn->id, (long)cred.uid);
}

static void on_accept_error(struct evconnlistener *lev, void *ud)
{
    /* EMFILE and friends: log and keep listening; the next accept may work. */
    log_error("ctl: accept failed: %s",
              evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* --- the listener ------------------------------------------------------ */

/* Checks what lies at 'sa'.  Returns 0 when the path is free (nothing
 * there, or a stale socket just removed), -1 with err set otherwise. */
static int clear_stale(const struct sockaddr_un *sa, struct buf *err)
{
    const char *path = sa->sun_path;
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        buf_printf(err, "cannot stat control socket '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        buf_printf(err, "control socket path '%s' exists and is not a socket", path);
        return -1;
    }
    /* Non-blocking probe: a live server with a full backlog answers
     * EAGAIN instead of blocking us. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        buf_printf(err, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
        buf_printf(err, "control socket '%s' is in use by another running server",
                   path);
        return -1;
    }
    if (e != ECONNREFUSED) {
        buf_printf(err, "cannot probe control socket '%s': %s", path, strerror(e));
        return -1;
    }
    log_notice("ctl: removing stale control socket '%s'", path);
    if (unlink(path) < 0 && errno != ENOENT) {
        buf_printf(err, "cannot remove stale control socket '%s': %s", path,
                   strerror(errno));
        return -1;
    }
    return 0;
}

struct ctl *ctl_new(struct server *srv, const char *path, struct buf *err)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
        buf_printf(err, "control socket path '%s' is empty or too long "
                   "(at most %zu bytes)", path ? path : "", sizeof(sa.sun_path) - 1);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (clear_stale(&sa, err) < 0)
        return NULL;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        buf_printf(err, "cannot create a socket: %s", strerror(errno));
        return NULL;
    }
    /* umask around bind(): the socket is created 0600, with no window in
     * which another user could connect (chmod afterwards alone would leave
     * one).  The process umask is shared, but this runs on the loop thread
     * at start-up or reload, when no other thread creates files. */
    mode_t old = umask(077);
    int rc = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (rc < 0) {
        buf_printf(err, "cannot bind control socket '%s': %s", path, strerror(e));
        goto fail_close;
    }
    /* From here on the socket file exists: failures remove it. */
    if (chmod(path, 0600) < 0) {
        buf_printf(err, "cannot chmod control socket '%s': %s", path, strerror(errno));
        goto fail_unlink;
    }
    if (listen(fd, CTL_BACKLOG) < 0) {
        buf_printf(err, "cannot listen on control socket '%s': %s", path,
                   strerror(errno));
        goto fail_unlink;
    }
    struct ctl *ctl = pl_calloc(1, sizeof(*ctl));
    ctl->srv = srv;
    ctl->path = pl_strdup(path);
    /* backlog 0: listen() was called above. */
    ctl->lev = evconnlistener_new(srv->base, on_accept, ctl,
                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!ctl->lev) {
        buf_printf(err, "cannot listen on control socket '%s'", path);
        free(ctl->path);
        free(ctl);
        goto fail_unlink;
    }
    evconnlistener_set_error_cb(ctl->lev, on_accept_error);
    log_info("ctl: listening on '%s'", path);
    return ctl;

fail_unlink:
    unlink(path);
fail_close:
    close(fd);
    return NULL;
}

void ctl_free(struct ctl *ctl)
{
    if (!ctl)
        return;
    evconnlistener_free(ctl->lev);
    while (ctl->conns) {
        struct ctl_conn *conn = ctl->conns;
        /* Best effort, non-blocking: e.g. the reply to 'stop' is queued
         * but maybe not yet written when the server closes us. */
        struct evbuffer *output = bufferevent_get_output(conn->bev);
        if (evbuffer_get_length(output))
            (void)evbuffer_write(output, bufferevent_getfd(conn->bev));
        conn_free(conn);
    }
    if (unlink(ctl->path) < 0 && errno != ENOENT)
        log_warn("ctl: cannot remove control socket '%s': %s", ctl->path,
                 strerror(errno));
    free(ctl->path);
    free(ctl);
}
