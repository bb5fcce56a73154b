/*
 * http.h - the HTTP listener serving the admin API (docs/http-api.md):
 * POST /api/COMMAND and GET /api over libevent's evhttp, with optional
 * direct TLS.  Started by listener.c for each 'listen' entry with
 * module: http.
 */
#ifndef PARLEY_HTTP_HTTP_H
#define PARLEY_HTTP_HTTP_H

#include "core/buf.h"
#include "core/conf.h"

struct server;
struct http_server;

/* Binds cl->ip:cl->port.  NULL with a message naming the address. */
struct http_server *http_server_new(struct server *srv, const struct conf_listen *cl,
                                    struct buf *err);
/* Closes the socket and every connection.  Calls still running (storage,
 * PBKDF2) complete later and are then discarded. */
void http_server_free(struct http_server *hs);

#endif
