/* listener.c - c2s listening sockets (plain with STARTTLS, or direct TLS
 * per XEP-0368; per-address connection limits are applied at accept) and
 * the HTTP API listeners (http/http.c, optionally direct TLS). */
#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/listener.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "http/http.h"
#include "stream/c2s.h"

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *ud)
{
    struct listener *l = ud;
    (void)evl;
    /* No Nagle: XMPP is request/response, and c2s writes what a turn of
     * the loop produced at once (write-through, issue 7).  With Nagle a
     * second small write in the same round trip (a TLS session ticket,
     * then the stream features) would wait for the client's delayed ACK,
     * tens of milliseconds.  Failure only costs latency: ignored. */
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c2s_accept(l->srv, fd, sa, salen, &l->cfg);
}

static void on_accept_error(struct evconnlistener *evl, void *ud)
{
    struct listener *l = ud;
    (void)evl;
    /* EMFILE and friends: keep the listener, the next accept may work. */
    log_warn("listener %s:%u: accept failed: %s", l->cfg.ip, l->cfg.port,
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static int parse_addr(const char *ip, unsigned port, struct sockaddr_storage *ss,
                      int *len_out)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len_out = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len_out = sizeof(*s6);
        return 0;
    }
    return -1;
}

int listeners_start(struct server *srv, struct buf *err)
{
    const struct conf *c = srv->conf;
    for (size_t i = 0; i < c->nlisten; i++) {
        const struct conf_listen *cl = &c->listen[i];
        if (cl->module == LISTEN_HTTP) {
            struct http_server *hs = http_server_new(srv, cl, err);
            if (!hs)
                goto fail;
            struct listener *l = pl_calloc(1, sizeof(*l));
            l->srv = srv;
            l->http = hs;
            l->cfg = *cl;
            l->cfg.ip = pl_strdup(cl->ip);
            l->cfg.path = NULL;
            l->next = srv->listeners;
            srv->listeners = l;
            continue;
        }
        if (cl->module != LISTEN_C2S)
            continue;
        struct sockaddr_storage ss;
        int sl;
        if (parse_addr(cl->ip, cl->port, &ss, &sl) < 0) {
            buf_printf(err, "%s:%d: listen address '%s' is not an IP address",
                       c->file, cl->line, cl->ip);
            goto fail;
        }
        struct listener *l = pl_calloc(1, sizeof(*l));
        l->srv = srv;
        l->cfg = *cl;
        l->cfg.ip = pl_strdup(cl->ip);
        l->cfg.path = NULL;
        l->evl = evconnlistener_new_bind(srv->base, on_accept, l,
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                         LEV_OPT_CLOSE_ON_EXEC,
                                         1024, (struct sockaddr *)&ss, sl);
        if (!l->evl) {
            buf_printf(err, "%s:%d: cannot listen on %s:%u: %s", c->file, cl->line,
                       cl->ip, cl->port, strerror(errno));
            free(l->cfg.ip);
            free(l);
            goto fail;
        }
        evconnlistener_set_error_cb(l->evl, on_accept_error);
        l->next = srv->listeners;
        srv->listeners = l;
        log_info("listening on %s:%u (c2s, %s)", cl->ip, cl->port,
                 cl->tls ? "direct TLS" : cl->starttls_required ? "STARTTLS required"
                                                                : "STARTTLS optional");
    }
    return 0;
fail:
    listeners_stop(srv);
    return -1;
}

void listeners_stop(struct server *srv)
{
    while (srv->listeners) {
        struct listener *l = srv->listeners;
        srv->listeners = l->next;
        if (l->evl)
            evconnlistener_free(l->evl);
        http_server_free(l->http);
        free(l->cfg.ip);
        free(l);
    }
}
