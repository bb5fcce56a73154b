/*
 * http.c - the HTTP admin API listener (http.h, docs/http-api.md).
 *
 * Every command of the registry (admin/command.h) is served as
 * POST /api/COMMAND with a JSON object of arguments; GET /api lists the
 * commands and their argument schemas.  A request goes through, in order:
 * route (404 unknown path, 405 wrong method), authentication (401: RFC
 * 6750 Bearer token or RFC 7617 Basic with an account's JID and password),
 * command lookup (404), authorization (403: the token's commands and the
 * 'api_token' rule, or the 'api_COMMAND' / 'api' access rule for a Basic
 * user), body checks (415 not JSON, 400 malformed or bad arguments; 413 is
 * sent by evhttp before the body is read), then cmd_dispatch() with origin
 * "http".  The reply may come later (storage); it is JSON either way.
 *
 * Nothing blocks the loop: token records and accounts are read through
 * the asynchronous store, and the PBKDF2 of a Basic password runs on the
 * storage worker (store_work).  Request size and time are bounded by
 * evhttp (max_body_size, a header limit, request_timeout), so a slow or
 * huge request only costs its own connection.
 *
 * Lifetime: each request in progress is a struct api_req on the server's
 * pending list.  evhttp keeps a request whose connection dies while we
 * still owe a reply (req->evcon becomes NULL and evhttp_send_reply frees
 * it), but evhttp_free() frees requests outright, so http_server_free()
 * first detaches every pending api_req; their storage callbacks then see
 * req == NULL and only free them.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "admin/command.h"
#include "core/acl.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "http/api.h"
#include "http/token.h"
#include "net/ratelimit.h"
#include "net/tls.h"
#include "storage/store.h"
#include "stream/sasl/sasl.h"

/* Request line plus headers; an API call needs a few hundred bytes. */
#define HTTP_MAX_HEADERS 8192
#define HTTP_REALM "parley"

struct http_server {
    struct server *srv;
    struct evhttp *http;
    char *ip;
    unsigned port;
    bool tls;
    struct api_req *pending;        /* requests we still owe a reply */
};

enum api_target {
    TARGET_LISTING,                 /* GET /api */
    TARGET_COMMAND,                 /* POST /api/NAME */
};

struct api_req {
    struct api_req *prev, *next;
    struct http_server *hs;         /* NULL once detached */
    struct evhttp_request *req;     /* NULL once detached */
    struct server *srv;
    enum api_target target;
    char *name;                     /* TARGET_COMMAND: the command as requested */
    char ip[INET6_ADDRSTRLEN + 1];
    struct api_auth auth;

    /* Who authenticated. */
    bool by_token;
    char *token_name;
    char *token_commands;
    struct jid *jid;                /* Basic: the account */

    /* Basic: verification on the storage worker. */
    struct sasl_creds creds;
    bool have_creds;
    unsigned dummy_iterations;      /* unknown account: same work, no keys */
    bool password_ok;

    struct cmd_call call;           /* TARGET_COMMAND, once dispatched */
};

/* --- replies -------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

static void areq_unlink(struct api_req *a)
{
    if (a->hs) {
        if (a->prev)
            a->prev->next = a->next;
        else
            a->hs->pending = a->next;
        if (a->next)
            a->next->prev = a->prev;
    }
    a->prev = a->next = NULL;
    a->hs = NULL;
}

static void areq_free(struct api_req *a)
{
    areq_unlink(a);
    free(a->name);
    api_auth_release(&a->auth);
    free(a->token_name);
    free(a->token_commands);
    jid_free(a->jid);
    OPENSSL_cleanse(&a->creds, sizeof(a->creds));
    if (a->call.argv) {
        for (size_t i = 0; i < a->call.argc; i++) {
            if (a->call.argv[i] && a->call.cmd && i < a->call.cmd->nargs
                && a->call.cmd->args[i].type == CMD_ARG_PASSWORD)
                OPENSSL_cleanse(a->call.argv[i], strlen(a->call.argv[i]));
            free(a->call.argv[i]);
        }
        free(a->call.argv);
    }
    free(a);
}

/* Sends 'body' (stolen) with 'status' and frees the request state. */
static void reply_json(struct api_req *a, int status, json_t *body)
{
    if (a->req) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(a->req);
        evhttp_add_header(h, "Content-Type", "application/json");
        evhttp_add_header(h, "Cache-Control", "no-store");
        if (status == 401) {
            /* RFC 7235 §4.1: one challenge per scheme we accept. */
            evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"" HTTP_REALM "\"");
            evhttp_add_header(h, "WWW-Authenticate",
                              "Basic realm=\"" HTTP_REALM "\", charset=\"UTF-8\"");
        }
        if (status == 405)
            evhttp_add_header(h, "Allow", a->target == TARGET_LISTING ? "GET" : "POST");
        char *text = json_dumps(body, JSON_COMPACT);
        struct evbuffer *out = evbuffer_new();
        PL_ASSERT(out && text);
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
        evhttp_send_reply(a->req, status, reason(status), out);
        evbuffer_free(out);
        free(text);
    }
    json_decref(body);
    areq_free(a);
}

static void reply_error(struct api_req *a, int status, const char *msg, const char *argument)
{
    reply_json(a, status, api_error_json(msg, argument));
}

/* A failed authentication: counted per address like failed XMPP logins. */
static void reply_unauthorized(struct api_req *a, const char *msg)
{
    if (a->srv->auth_limit && a->req)
        ratelimit_fail(a->srv->auth_limit, a->ip, time(NULL));
    reply_error(a, 401, msg, NULL);
}

/* A completion arriving after the server or the connection went away. */
static bool detached(struct api_req *a)
{
    if (a->req && !a->srv->stopping)
        return false;
    areq_free(a);
    return true;
}

/* --- running the command -------------------------------------------------- */

static void call_done(struct cmd_call *call, enum cmd_status st, struct buf *out,
                      char **list, size_t nlist)
{
    struct api_req *a = call->transport;
    if (!a->req) {
        areq_free(a);
        return;
    }
    reply_json(a, api_http_status(st), api_reply_json(st, out, list, nlist));
}

/* Is the authenticated client allowed to call cmd?  'rule' receives the
 * access rule consulted, for the message. */
static bool authorized(struct api_req *a, const struct admin_command *cmd,
                       char *rule, size_t n)
{
    const struct conf *c = a->srv->conf;
    if (a->by_token) {
        if (cmd && !token_allows(a->token_commands, cmd->name))
            return false;
        /* Tokens are issued by the operator over the control socket; the
         * optional 'api_token' rule restricts where they may be used from. */
        snprintf(rule, n, "api_token");
        if (!acl_rule_exists(&c->acl, "api_token"))
            return true;
        struct acl_subject who = { NULL, NULL, a->ip };
        return acl_allowed(c, "api_token", &who);
    }
    struct acl_subject who = { a->jid->local, a->jid->domain, a->ip };
    if (cmd) {
        snprintf(rule, n, "api_%s", cmd->name);
        if (acl_rule_exists(&c->acl, rule))
            return acl_allowed(c, rule, &who);
    }
    snprintf(rule, n, "api");
    return acl_allowed(c, "api", &who);
}

/* Is the request's Content-Type application/json (parameters allowed)? */
static bool is_json(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    char next = ct[sizeof(want) - 1];
    return next == '\0' || next == ';' || next == ' ';
}

static void run_authenticated(struct api_req *a)
{
    if (a->target == TARGET_LISTING) {
        reply_json(a, 200, api_listing_json(cmd_all()));
        return;
    }
    const struct admin_command *cmd = cmd_find(a->name);
    if (!cmd) {
        struct buf msg = BUF_INIT;
        buf_puts(&msg, "unknown command '");
        cmd_quote(&msg, a->name);
        buf_puts(&msg, "'; GET /api lists the commands");
        reply_error(a, 404, msg.data, NULL);
        buf_release(&msg);
        return;
    }
    char rule[128];
    if (!authorized(a, cmd, rule, sizeof(rule))) {
        struct buf msg = BUF_INIT;
        if (a->by_token && !token_allows(a->token_commands, cmd->name))
            buf_printf(&msg, "token '%s' may not call %s", a->token_name, cmd->name);
        else if (a->by_token)
            buf_printf(&msg, "token '%s' may not be used from %s (access rule '%s')",
                       a->token_name, a->ip, rule);
        else
            buf_printf(&msg, "%s may not call %s (access rule '%s')", a->jid->bare, cmd->name,
                       rule);
        log_notice("http %s: %s", a->ip, msg.data);
        reply_error(a, 403, msg.data, NULL);
        buf_release(&msg);
        return;
    }

    struct evbuffer *in = evhttp_request_get_input_buffer(a->req);
    size_t len = evbuffer_get_length(in);
    json_t *args = NULL;
    if (len > 0) {
        if (!is_json(a->req)) {
            reply_error(a, 415, "the request body must be JSON (Content-Type: application/json)",
                        NULL);
            return;
        }
        json_error_t jerr;
        const char *data = (const char *)evbuffer_pullup(in, -1);
        args = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!args) {
            char msg[300];
            snprintf(msg, sizeof(msg), "malformed JSON at line %d, column %d: %s",
                     jerr.line, jerr.column, jerr.text);
            reply_error(a, 400, msg, NULL);
            return;
        }
    }
    struct buf err = BUF_INIT;
    const char *bad = NULL;
    char **argv = NULL;
    size_t argc = 0;
    if (api_args_from_json(cmd, args, &argv, &argc, &err, &bad) < 0) {
        reply_json(a, 400, api_error_json(err.data, bad));
        buf_release(&err);
        json_decref(args);
        return;
    }
    buf_release(&err);
    json_decref(args);

    a->call.srv = a->srv;
    a->call.cmd = cmd;
    a->call.argv = argv;
    a->call.argc = argc;
    a->call.done = call_done;
    a->call.transport = a;
    a->call.origin = "http";
    cmd_dispatch(&a->call);         /* may reply (and free a) at once */
}

/* --- authentication ------------------------------------------------------- */

static void on_tokens(const struct store_result *res, void *ud)
{
    struct api_req *a = ud;
    if (detached(a))
        return;
    if (res->status != STORE_OK) {
        reply_error(a, 500, "cannot read the API tokens", NULL);
        return;
    }
    uint8_t hash[TOKEN_HASH_LEN];
    token_hash(a->auth.token, hash);
    /* Compare with every record, without stopping at a match, so that the
     * time taken says nothing about which record (if any) matched. */
    const struct store_item *match = NULL;
    struct token_record found = { 0 };
    for (size_t i = 0; i < res->nitems; i++) {
        struct token_record r;
        if (token_record_decode(res->items[i].value, &r) < 0) {
            log_warn("http: API token '%s' has a malformed record: ignored", res->items[i].key);
            continue;
        }
        if (CRYPTO_memcmp(r.hash, hash, TOKEN_HASH_LEN) == 0 && !match) {
            match = &res->items[i];
            found = r;
        } else {
            token_record_release(&r);
        }
    }
    if (!match) {
        reply_unauthorized(a, "invalid or revoked token");
        return;
    }
    a->by_token = true;
    a->token_name = pl_strdup(match->key);
    a->token_commands = found.commands;     /* taken */
    run_authenticated(a);
}

/* Storage worker: the PBKDF2 of the presented password. */
static void verify_work(void *ud)
{
    struct api_req *a = ud;
    struct scram_keys k;
    if (!a->have_creds) {
        /* An unknown account costs the same work as a known one. */
        static const uint8_t salt[16] = { 0 };
        (void)scram_keys_derive(SASL_SHA256, "x", salt, sizeof(salt),
                                a->dummy_iterations, &k);
        a->password_ok = false;
        return;
    }
    for (int h = SASL_SHA512; h >= SASL_SHA1; h--) {
        const struct scram_keys *s = &a->creds.keys[h];
        if (!s->present)
            continue;
        a->password_ok = scram_keys_derive((enum sasl_hash)h, a->auth.password, s->salt,
                                           s->salt_len, s->iterations, &k) == 0
            && CRYPTO_memcmp(k.stored_key, s->stored_key, sasl_hash_len((enum sasl_hash)h)) == 0;
        OPENSSL_cleanse(&k, sizeof(k));
        return;
    }
    a->password_ok = false;
}

static void verify_done(void *ud)
{
    struct api_req *a = ud;
    if (detached(a))
        return;
    if (!a->password_ok) {
        reply_unauthorized(a, "invalid user or password");
        return;
    }
    if (a->srv->auth_limit)
        ratelimit_clear(a->srv->auth_limit, a->ip);
    run_authenticated(a);
}

static void on_account(const struct store_result *res, void *ud)
{
    struct api_req *a = ud;
    if (detached(a))
        return;
    if (res->status == STORE_OK) {
        a->have_creds = sasl_creds_decode(res->value, &a->creds) == 0;
        if (!a->have_creds)
            log_warn("http: stored credentials of %s are malformed", a->jid->bare);
    } else if (res->status != STORE_NOT_FOUND) {
        reply_error(a, 500, "cannot read the account", NULL);
        return;
    }
    a->dummy_iterations = a->srv->conf->auth.scram_iterations;
    store_work(a->srv->store, verify_work, verify_done, a);
}

static void authenticate(struct api_req *a)
{
    if (a->srv->auth_limit) {
        unsigned locked = ratelimit_locked(a->srv->auth_limit, a->ip, time(NULL));
        if (locked) {
            char msg[128], secs[24];
            snprintf(msg, sizeof(msg), "too many failed authentications; retry in %u s", locked);
            snprintf(secs, sizeof(secs), "%u", locked);
            evhttp_add_header(evhttp_request_get_output_headers(a->req), "Retry-After", secs);
            reply_error(a, 429, msg, NULL);
            return;
        }
    }
    switch (a->auth.kind) {
    case API_AUTH_NONE:
        reply_error(a, 401, "authentication required (Bearer token or Basic)", NULL);
        return;
    case API_AUTH_INVALID:
        reply_unauthorized(a, "malformed Authorization header (expected Bearer or Basic)");
        return;
    case API_AUTH_BEARER:
        store_server_kv_list(a->srv->store, TOKEN_STORE_AREA, on_tokens, a);
        return;
    case API_AUTH_BASIC:
        break;
    }
    a->jid = jid_parse(a->auth.user);
    if (!a->jid || !a->jid->local || a->jid->resource
        || !conf_has_host(a->srv->conf, a->jid->domain)) {
        reply_unauthorized(a, "invalid user or password (the user is a bare JID of this server)");
        return;
    }
    store_account_get(a->srv->store, a->jid->local, a->jid->domain, on_account, a);
}

/* --- routing -------------------------------------------------------------- */

static void on_request(struct evhttp_request *req, void *arg)
{
    struct http_server *hs = arg;
    struct api_req *a = pl_calloc(1, sizeof(*a));
    a->req = req;
    a->srv = hs->srv;
    a->hs = hs;
    a->next = hs->pending;
    if (hs->pending)
        hs->pending->prev = a;
    hs->pending = a;

    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (evcon)
        evhttp_connection_get_peer(evcon, &peer, &port);
    snprintf(a->ip, sizeof(a->ip), "%s", peer ? peer : "");

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (!path) {
        reply_error(a, 400, "malformed request", NULL);
        return;
    }
    if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0) {
        a->target = TARGET_LISTING;
        if (method != EVHTTP_REQ_GET) {
            reply_error(a, 405, "GET /api lists the commands; call one with POST /api/COMMAND",
                        NULL);
            return;
        }
    } else if (strncmp(path, "/api/", 5) == 0 && path[5] && !strchr(path + 5, '/')) {
        a->target = TARGET_COMMAND;
        a->name = pl_strdup(path + 5);
        if (method != EVHTTP_REQ_POST) {
            reply_error(a, 405, "commands are called with POST", NULL);
            return;
        }
    } else {
        reply_error(a, 404, "not found; the API is under /api", NULL);
        return;
    }
    api_auth_parse(evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"),
                   &a->auth);
    authenticate(a);
}

/* evhttp_set_bevcb: direct TLS from the first byte. */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
    struct http_server *hs = arg;
    return bufferevent_openssl_socket_new(base, -1, tls_ssl_new(hs->srv->tls),
                                          BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

struct http_server *http_server_new(struct server *srv, const struct conf_listen *cl,
                                    struct buf *err)
{
    const struct conf *c = srv->conf;
    if (cl->tls && !srv->tls) {
        buf_printf(err, "%s:%d: an http listener with tls needs certfiles", c->file, cl->line);
        return NULL;
    }
    struct http_server *hs = pl_calloc(1, sizeof(*hs));
    hs->srv = srv;
    hs->ip = pl_strdup(cl->ip);
    hs->port = cl->port;
    hs->tls = cl->tls;
    hs->http = evhttp_new(srv->base);
    PL_ASSERT(hs->http);
    /* Every method reaches on_request, which answers 405 in JSON itself
     * (evhttp would answer 501 for a method not in this set). */
    evhttp_set_allowed_methods(hs->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD
                               | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS
                               | EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    evhttp_set_max_headers_size(hs->http, HTTP_MAX_HEADERS);
    evhttp_set_max_body_size(hs->http, (ev_ssize_t)cl->max_body_size);
    evhttp_set_timeout(hs->http, (int)cl->request_timeout);
    evhttp_set_gencb(hs->http, on_request, hs);
    if (cl->tls)
        evhttp_set_bevcb(hs->http, tls_bev, hs);
    if (!evhttp_bind_socket_with_handle(hs->http, cl->ip, (ev_uint16_t)cl->port)) {
        buf_printf(err, "%s:%d: cannot listen on %s:%u (http): %s", c->file, cl->line,
                   cl->ip, cl->port, strerror(errno));
        http_server_free(hs);
        return NULL;
    }
    log_info("listening on %s:%u (http API%s)", cl->ip, cl->port, cl->tls ? ", direct TLS" : "");
    return hs;
}

void http_server_free(struct http_server *hs)
{
    if (!hs)
        return;
    /* evhttp_free frees the requests: detach ours first (see the top). */
    while (hs->pending) {
        struct api_req *a = hs->pending;
        hs->pending = a->next;
        a->prev = a->next = NULL;
        a->hs = NULL;
        a->req = NULL;
    }
    if (hs->http)
        evhttp_free(hs->http);
    free(hs->ip);
    free(hs);
}
