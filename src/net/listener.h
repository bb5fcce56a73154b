/*
 * listener.h - accepting sockets for the c2s and http listen entries
 * (the control socket is admin/ctl.c's).
 */
#ifndef PARLEY_NET_LISTENER_H
#define PARLEY_NET_LISTENER_H

#include "core/buf.h"
#include "core/conf.h"

struct server;
struct evconnlistener;
struct http_server;

struct listener {
    struct listener *next;
    struct server *srv;
    struct evconnlistener *evl;     /* c2s */
    struct http_server *http;       /* http (http/http.h) */
    struct conf_listen cfg;     /* copy: the conf may be replaced by a reload */
};

/* Binds every c2s and http listener of srv->conf.  -1 with a message naming the
 * address on failure (nothing stays bound). */
int listeners_start(struct server *srv, struct buf *err);
void listeners_stop(struct server *srv);

#endif
