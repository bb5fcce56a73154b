/*
 * server.h - the server context (ARCHITECTURE.md principle 2).
 *
 * All mutable state hangs off one struct server: loop, config, TLS
 * contexts, listeners, storage, router and sessions, modules, control
 * socket.  There are no mutable globals besides the log level (log.h).
 */
#ifndef PARLEY_CORE_SERVER_H
#define PARLEY_CORE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

struct event_base;
struct event;
struct conf;
struct store;
struct tls;
struct router;
struct ctl;
struct listener;
struct modules;
struct ratelimit;
struct c2s;
struct ev_token_bucket_cfg;

struct server {
    struct event_base *base;
    struct conf *conf;              /* current configuration (replaced on reload) */
    struct store *store;
    struct tls *tls;                /* certificates and SSL_CTX, see net/tls.h */
    struct router *router;          /* hosts, sessions, IQ handlers, hooks */
    struct modules *modules;        /* module instances per host */
    struct listener *listeners;     /* linked list */
    struct ctl *ctl;                /* control socket server (admin/ctl.h) */
    struct ratelimit *auth_limit;   /* failed logins per source address */
    struct ratelimit *conn_limit;   /* open connections per source address */
    struct event *sig_int, *sig_term, *sig_hup;
    time_t started;
    bool stopping;
    unsigned long long next_conn_id;
    struct c2s *conns;              /* every client stream, for shutdown */
    size_t nconns;
    struct event *c2s_sweep;        /* idle timeouts and detaching (stream/c2s.c) */
    unsigned char secret[32];       /* data_dir/secret: keys HMACs (fake salts, ban records) */
    struct buf scratch;             /* serialization scratch (loop thread only) */
    struct xml_parser_pool *xml_pool;    /* expat parsers for reuse (xml/parser.c) */
    struct ev_token_bucket_cfg *shaper;  /* per-connection read rate, NULL = none */
};

/* Builds everything from a loaded config (takes ownership of it): TLS,
 * storage, modules, listeners, control socket.  NULL with a message. */
struct server *server_new(struct conf *conf, struct buf *err);
/* Runs the loop until server_stop(). */
int server_run(struct server *srv);
/* Asks the loop to stop: listeners close, sessions get a stream close
 * (<system-shutdown/>), storage drains.  Safe from any callback. */
void server_stop(struct server *srv);
void server_free(struct server *srv);
/* Re-reads the config file.  On any error the old config stays in force
 * and err names the problem (file:line: ...); sessions are never dropped. */
int server_reload(struct server *srv, struct buf *err);

#endif
