/*
 * c2s.c - client-to-server streams: RFC 6120 §4 (streams), §5 (STARTTLS),
 * §6 (SASL), §7 (resource binding), §8.1.2.1 ('from' stamping), XEP-0368
 * (direct TLS), XEP-0440 (channel-binding types as a stream feature).
 *
 * Life of a connection:
 *   accept -> [direct TLS handshake] -> header -> features
 *          -> STARTTLS -> header -> features (mechanisms)
 *          -> SASL (credentials fetched from storage off the loop)
 *          -> header -> features (bind) -> bind -> stanzas to the router.
 * A connection is never freed inside one of its own callbacks: c2s_close()
 * marks it closing and the free happens from a timer once the output is
 * written (or a deadline passes) and no asynchronous call holds a reference.
 */
#include "stream/c2s.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "core/base64.h"
#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "net/ratelimit.h"
#include "net/tls.h"
#include "router/router.h"
#include "storage/store.h"
#include "stream/sasl/sasl.h"
#include "xml/xml.h"

#define NS_TLS      "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL     "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND     "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION  "urn:ietf:params:xml:ns:xmpp-session"
#define NS_SASL_CB  "urn:xmpp:sasl-cb:0"

/* RFC 6120 §6.4.5 lets a server limit SASL retries per stream, and §7.6.2.1
 * asks for 5..10 bind retries; both end with <policy-violation/>. */
#define MAX_SASL_ATTEMPTS 5
#define MAX_BIND_ATTEMPTS 5
/* How long a closing stream may take to flush before it is cut. */
#define CLOSE_LINGER_MS 3000
#define CLOSE_POLL_MS 20
/* A reader that lets this much output pile up is not reading: cut it. */
#define MAX_OUTPUT_BYTES (8u << 20)

enum c2s_state {
    C2S_WAIT_HEADER,            /* before a stream header (first or restarted) */
    C2S_OPEN,                   /* header exchanged, negotiating or bound */
};

struct c2s {
    struct server *srv;
    struct c2s *prev, *next;    /* srv->conns */
    unsigned long long id;
    struct bufferevent *bev;    /* socket, or the TLS filter over it */
    struct xml_stream *xs;
    struct event *tmo;          /* negotiation deadline, then close polling */
    struct event *delay;        /* delayed SASL failure (slowing brute force) */
    struct sasl_ctx *sasl;
    struct session *sess;       /* once bound */
    char *host;                 /* the stream's domain (prepared) */
    char *user;                 /* authenticated localpart */
    char *pending_failure;      /* serialized SASL failure waiting for 'delay' */
    struct timeval close_started;
    enum c2s_state state;
    int refs;                   /* 1 for the connection + 1 per async call */
    unsigned sasl_attempts;
    unsigned bind_attempts;
    bool direct_tls;
    bool starttls_required;
    bool tls;                   /* TLS is active */
    bool tls_pending;           /* <proceed/> sent, start TLS after this read */
    bool header_sent;
    bool authed;
    bool closing;
    bool busy;                  /* async SASL step in flight: reading paused */
    bool counted;               /* holds a slot in srv->conn_limit */
    char stream_id[20];
    char addr[48];              /* peer IP, the key for rate limits */
    char peer[64];              /* "ip:port" for logs */
};

static void c2s_unref(struct c2s *c);
static void start_close_polling(struct c2s *c);
static void resume_reading(struct c2s *c);

const char *c2s_peer(const struct c2s *c)
{
    return c->peer;
}

/* --- output ---------------------------------------------------------------- */

static void write_raw(struct c2s *c, const char *data, size_t len)
{
    if (!c->bev)
        return;
    bufferevent_write(c->bev, data, len);
}

static void write_str(struct c2s *c, const char *s)
{
    write_raw(c, s, strlen(s));
}

void c2s_send(struct c2s *c, const struct stanza *st)
{
    if (c->closing) {
        /* The stream is going away; the session was unbound first, so
         * this only happens for stanzas raced with the close. */
        log_debug("c2s %llu: dropping %s written after close", c->id, st->root->name);
        return;
    }
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    xml_serialize(st->root, XML_NS_CLIENT, b);
    write_raw(c, b->data, b->len);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > MAX_OUTPUT_BYTES) {
        log_warn("c2s %llu (%s): output buffer over %u bytes, closing", c->id,
                 c->peer, MAX_OUTPUT_BYTES);
        c2s_close(c, "policy-violation", "output buffer overflow: the client is not reading");
    }
}

static void send_header(struct c2s *c, const char *client_from)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    buf_puts(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' id='");
    buf_puts(b, c->stream_id);
    buf_puts(b, "'");
    if (c->host) {
        buf_puts(b, " from='");
        xml_escape_attr(b, c->host, strlen(c->host));
        buf_puts(b, "'");
    }
    if (client_from) {
        /* RFC 6120 §4.7.2: echo the initiator's 'from' as our 'to'. */
        buf_puts(b, " to='");
        xml_escape_attr(b, client_from, strlen(client_from));
        buf_puts(b, "'");
    }
    buf_puts(b, " version='1.0' xml:lang='en'>");
    write_raw(c, b->data, b->len);
    c->header_sent = true;
}

static void new_stream_id(struct c2s *c)
{
    unsigned char r[9];
    RAND_bytes(r, sizeof(r));
    struct buf b = BUF_INIT;
    base64_encode(&b, r, sizeof(r));
    /* base64 of 9 bytes is 12 characters, no padding; make it attribute-
     * and URL-friendly. */
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '+' || b.data[i] == '/')
            b.data[i] = 'x';
    snprintf(c->stream_id, sizeof(c->stream_id), "%s", b.data);
    buf_release(&b);
}

void c2s_close(struct c2s *c, const char *cond, const char *text)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->bev) {
        if (!c->header_sent) {
            /* RFC 6120 §4.9.1.2: open a stream before the error. */
            if (!c->stream_id[0])
                new_stream_id(c);
            send_header(c, NULL);
        }
        if (cond) {
            struct buf *b = &c->srv->scratch;
            buf_clear(b);
            buf_printf(b, "<stream:error><%s xmlns='" NS_STREAMS "'/>", cond);
            if (text) {
                buf_puts(b, "<text xmlns='" NS_STREAMS "' xml:lang='en'>");
                xml_escape_text(b, text, strlen(text));
                buf_puts(b, "</text>");
            }
            buf_puts(b, "</stream:error>");
            write_raw(c, b->data, b->len);
            log_info("c2s %llu (%s): stream error <%s/>%s%s", c->id, c->peer, cond,
                     text ? ": " : "", text ? text : "");
        }
        write_str(c, "</stream:stream>");
        bufferevent_disable(c->bev, EV_READ);
    }
    /* Unbind now: from here on, stanzas for this resource go elsewhere
     * (other resources, offline storage, or a bounce). */
    if (c->sess) {
        struct session *s = c->sess;
        c->sess = NULL;
        sm_unbind(c->srv, s);
    }
    start_close_polling(c);
}

static void free_c2s(struct c2s *c)
{
    struct server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    if (c->counted)
        ratelimit_conn_dec(srv->conn_limit, c->addr);
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->xs)
        xml_stream_free(c->xs);
    if (c->tmo)
        event_free(c->tmo);
    if (c->delay)
        event_free(c->delay);
    sasl_free(c->sasl);
    free(c->host);
    free(c->user);
    free(c->pending_failure);
    log_debug("c2s %llu (%s): freed", c->id, c->peer);
    free(c);
}

static void c2s_unref(struct c2s *c)
{
    PL_ASSERT(c->refs > 0);
    if (--c->refs == 0)
        free_c2s(c);
}

static size_t pending_output(struct c2s *c)
{
    if (!c->bev)
        return 0;
    size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
    struct bufferevent *under = bufferevent_get_underlying(c->bev);
    if (under)
        n += evbuffer_get_length(bufferevent_get_output(under));
    return n;
}

static long ms_since(const struct timeval *t0)
{
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_usec - t0->tv_usec) / 1000;
}

static void on_close_poll(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    if (pending_output(c) > 0 && ms_since(&c->close_started) < CLOSE_LINGER_MS) {
        struct timeval tv = { 0, CLOSE_POLL_MS * 1000 };
        event_add(c->tmo, &tv);
        return;
    }
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c2s_unref(c);               /* the connection's own reference */
}

static void start_close_polling(struct c2s *c)
{
    evutil_gettimeofday(&c->close_started, NULL);
    if (c->delay)
        event_del(c->delay);
    event_del(c->tmo);
    event_assign(c->tmo, c->srv->base, -1, 0, on_close_poll, c);
    struct timeval tv = { 0, 0 };
    event_add(c->tmo, &tv);
}

void c2s_close_all(struct server *srv, const char *cond, const char *text)
{
    for (struct c2s *c = srv->conns; c; c = c->next)
        c2s_close(c, cond, text);
}

void c2s_free_all(struct server *srv)
{
    while (srv->conns) {
        struct c2s *c = srv->conns;
        if (c->sess) {
            struct session *s = c->sess;
            c->sess = NULL;
            c->closing = true;
            sm_unbind(srv, s);
        }
        free_c2s(c);
    }
}

/* --- stream features ---------------------------------------------------- */

static bool sasl_allowed(const struct c2s *c)
{
    return c->tls || !c->starttls_required;
}

static struct sasl_channel channel_of(struct c2s *c)
{
    struct sasl_channel ch;
    memset(&ch, 0, sizeof(ch));
    if (c->tls) {
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl)
            tls_channel_binding(ssl, &ch);
    }
    return ch;
}

/* Features modules registered for this host and stage (rosterver,
 * pre-approval, in-band registration, ...). */
static void put_module_features(struct c2s *c, struct buf *b, enum stream_stage stage)
{
    if (!c->host)
        return;
    size_t n;
    const char *const *v = router_stream_features(c->srv->router, c->host, stage, &n);
    for (size_t i = 0; i < n; i++)
        buf_puts(b, v[i]);
}

static void send_features(struct c2s *c)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    buf_puts(b, "<stream:features>");
    if (!c->authed) {
        if (!c->tls) {
            buf_puts(b, "<starttls xmlns='" NS_TLS "'>");
            if (c->starttls_required)
                buf_puts(b, "<required/>");
            buf_puts(b, "</starttls>");
        }
        if (sasl_allowed(c)) {
            struct sasl_channel ch = channel_of(c);
            const char *mechs[16];
            size_t n = sasl_mechanisms(&ch, c->srv->conf->auth.allow_plain, mechs, 16);
            buf_puts(b, "<mechanisms xmlns='" NS_SASL "'>");
            for (size_t i = 0; i < n; i++)
                buf_printf(b, "<mechanism>%s</mechanism>", mechs[i]);
            buf_puts(b, "</mechanisms>");
            if (ch.has_exporter || ch.has_endpoint) {
                /* XEP-0440: which channel-binding types -PLUS may use. */
                buf_puts(b, "<sasl-channel-binding xmlns='" NS_SASL_CB "'>");
                if (ch.has_exporter)
                    buf_puts(b, "<channel-binding type='tls-exporter'/>");
                if (ch.has_endpoint)
                    buf_puts(b, "<channel-binding type='tls-server-end-point'/>");
                buf_puts(b, "</sasl-channel-binding>");
            }
            put_module_features(c, b, SF_PREAUTH);
        }
    } else {
        buf_puts(b, "<bind xmlns='" NS_BIND "'/>");
        /* RFC 6121 §1.4 / draft-cridland-xmpp-session: kept for old
         * clients, marked optional so new ones skip it. */
        buf_puts(b, "<session xmlns='" NS_SESSION "'><optional/></session>");
        put_module_features(c, b, SF_POSTAUTH);
    }
    buf_puts(b, "</stream:features>");
    write_raw(c, b->data, b->len);
}

/* --- parser callbacks ---------------------------------------------------- */

static void on_open(void *ud, const struct xml_node *root)
{
    struct c2s *c = ud;
    if (c->closing)
        return;
    if (c->state != C2S_WAIT_HEADER) {
        c2s_close(c, "not-well-formed", "unexpected stream header");
        return;
    }
    new_stream_id(c);
    const char *dns = xml_stream_default_ns(c->xs);
    if (!dns || strcmp(dns, XML_NS_CLIENT) != 0) {
        c2s_close(c, "invalid-namespace", "the default namespace must be jabber:client");
        return;
    }
    const char *to = xml_attr(root, "to");
    char host[JID_PART_MAX + 1];
    if (!to) {
        /* RFC 6120 §4.7.2 says clients SHOULD send 'to'; serve the
         * default host to those that do not. */
        snprintf(host, sizeof(host), "%s", c->srv->conf->hosts.items[0]);
    } else if (jid_prep_domain(to, host) < 0 || !router_is_local_host(c->srv, host)) {
        c2s_close(c, "host-unknown", "this server does not serve that domain");
        return;
    }
    if (c->host && strcmp(c->host, host) != 0) {
        /* A restarted stream must stay on the same domain. */
        c2s_close(c, "host-unknown", "the domain changed on stream restart");
        return;
    }
    if (!c->host)
        c->host = pl_strdup(host);
    const char *from = xml_attr(root, "from");
    struct jid *fj = from ? jid_parse(from) : NULL;
    send_header(c, fj ? fj->full : NULL);
    jid_free(fj);
    const char *version = xml_attr(root, "version");
    if (!version || strtol(version, NULL, 10) < 1) {
        /* RFC 6120 §4.7.5: we speak 1.0 only. */
        c2s_close(c, "unsupported-version", "XMPP 1.0 is required");
        return;
    }
    c->state = C2S_OPEN;
    send_features(c);
}

static void on_close_tag(void *ud)
{
    struct c2s *c = ud;
    log_debug("c2s %llu (%s): client closed the stream", c->id, c->peer);
    c2s_close(c, NULL, NULL);
}

static void on_parse_error(void *ud, enum xml_error err, const char *text)
{
    struct c2s *c = ud;
    static const char *const cond[] = {
        [XML_ERR_NONE] = "undefined-condition",
        [XML_ERR_NOT_WELL_FORMED] = "not-well-formed",
        [XML_ERR_RESTRICTED] = "restricted-xml",
        [XML_ERR_POLICY] = "policy-violation",
        [XML_ERR_INVALID_NAMESPACE] = "invalid-namespace",
    };
    c2s_close(c, cond[err], text);
}

/* --- STARTTLS (RFC 6120 §5) ----------------------------------------------- */

static void on_read(struct bufferevent *bev, void *ud);
static void on_event(struct bufferevent *bev, short what, void *ud);

static void handle_starttls(struct c2s *c)
{
    if (c->tls || c->authed || c->direct_tls) {
        /* §5.4.2.2: failure, then close. */
        write_str(c, "<failure xmlns='" NS_TLS "'/>");
        c2s_close(c, NULL, NULL);
        return;
    }
    write_str(c, "<proceed xmlns='" NS_TLS "'/>");
    c->tls_pending = true;
}

/* Runs after the read that carried <starttls/>: bytes that followed it in
 * plaintext are discarded (they could be an injection attack), the parser
 * starts over and TLS takes over the socket. */
static void start_tls(struct c2s *c)
{
    c->tls_pending = false;
    evbuffer_drain(bufferevent_get_input(c->bev),
                   evbuffer_get_length(bufferevent_get_input(c->bev)));
    xml_stream_reset(c->xs);
    c->state = C2S_WAIT_HEADER;
    SSL *ssl = tls_ssl_new(c->srv->tls);
    struct bufferevent *tb = bufferevent_openssl_filter_new(
        c->srv->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!tb) {
        SSL_free(ssl);
        c2s_close(c, "internal-server-error", "cannot start TLS");
        return;
    }
    c->bev = tb;
    c->tls = true;
    bufferevent_setcb(tb, on_read, NULL, on_event, c);
    unsigned idle = c->srv->conf->limits.idle_timeout;
    if (idle) {
        struct timeval tv = { idle, 0 };
        bufferevent_set_timeouts(tb, &tv, NULL);
    }
    bufferevent_enable(tb, EV_READ | EV_WRITE);
}

/* --- SASL (RFC 6120 §6) --------------------------------------------------- */

static void sasl_send(struct c2s *c, const char *elem, const struct buf *data)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    buf_printf(b, "<%s xmlns='" NS_SASL "'>", elem);
    if (data && data->len)
        base64_encode(b, data->data, data->len);
    buf_printf(b, "</%s>", elem);
    write_raw(c, b->data, b->len);
}

static void format_failure(struct buf *b, const char *cond, const char *text)
{
    buf_printf(b, "<failure xmlns='" NS_SASL "'><%s/>", cond);
    if (text) {
        buf_puts(b, "<text xml:lang='en'>");
        xml_escape_text(b, text, strlen(text));
        buf_puts(b, "</text>");
    }
    buf_puts(b, "</failure>");
}

static void send_failure(struct c2s *c, const char *cond, const char *text)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    format_failure(b, cond, text);
    write_raw(c, b->data, b->len);
}

static void after_failure(struct c2s *c)
{
    sasl_free(c->sasl);
    c->sasl = NULL;
    if (++c->sasl_attempts >= MAX_SASL_ATTEMPTS)
        c2s_close(c, "policy-violation", "too many failed authentication attempts");
}

static void on_delay(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    if (c->closing || !c->pending_failure)
        return;
    write_str(c, c->pending_failure);
    PL_FREE(c->pending_failure);
    after_failure(c);
    resume_reading(c);
}

/* A failed attempt.  Credential failures count against the address and,
 * past a couple, are answered more and more slowly (at most 4 s), which
 * caps online guessing; the lockout itself is checked at <auth/>. */
static void sasl_fail(struct c2s *c, const char *cond, const char *text, bool credentials)
{
    unsigned delay_ms = 0;
    if (credentials && c->srv->conf->auth.max_failures) {
        unsigned n = ratelimit_fail(c->srv->auth_limit, c->addr, time(NULL));
        if (n > 2)
            delay_ms = (n - 2) * 500 > 4000 ? 4000 : (n - 2) * 500;
        log_notice("c2s %llu (%s): authentication failed (%u recent failures)",
                   c->id, c->peer, n);
    }
    if (delay_ms == 0) {
        send_failure(c, cond, text);
        after_failure(c);
        return;
    }
    struct buf b = BUF_INIT;
    format_failure(&b, cond, text);
    c->pending_failure = buf_detach(&b);
    bufferevent_disable(c->bev, EV_READ);
    if (!c->delay)
        c->delay = evtimer_new(c->srv->base, on_delay, c);
    struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
    evtimer_add(c->delay, &tv);
}

static void sasl_succeed(struct c2s *c, const char *user, const struct buf *data)
{
    log_info("c2s %llu (%s): authenticated as %s@%s (%s)", c->id, c->peer, user,
             c->host, sasl_mech_name(c->sasl));
    sasl_send(c, "success", data);
    sasl_free(c->sasl);
    c->sasl = NULL;
    c->user = pl_strdup(user);
    c->authed = true;
    ratelimit_clear(c->srv->auth_limit, c->addr);
    /* §6.4.6: the stream restarts; the client sends a new header. */
    xml_stream_reset(c->xs);
    c->state = C2S_WAIT_HEADER;
}

static void sasl_result(struct c2s *c, enum sasl_status st, struct sasl_reply *r);

struct auth_job {
    struct c2s *c;
    char user[JID_PART_MAX + 1];
    struct sasl_creds creds;
    bool have_creds;
    bool storage_error;
    enum sasl_status st;
    struct sasl_reply reply;
};

static void process_input(struct c2s *c);

/* After an asynchronous step: read again, starting with whatever the
 * client pipelined while we waited (no new read event would come for
 * bytes already buffered). */
static void resume_reading(struct c2s *c)
{
    c->busy = false;
    if (c->closing || c->pending_failure)
        return;
    bufferevent_enable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        process_input(c);
}

/* PLAIN: PBKDF2 on the worker thread. */
static void plain_work(void *ud)
{
    struct auth_job *j = ud;
    j->st = sasl_creds(j->c->sasl, j->have_creds ? &j->creds : NULL, &j->reply);
}

static void plain_done(void *ud)
{
    struct auth_job *j = ud;
    struct c2s *c = j->c;
    if (!c->closing) {
        c->busy = false;
        sasl_result(c, j->st, &j->reply);
        resume_reading(c);
    }
    buf_release(&j->reply.data);
    c2s_unref(c);
    free(j);
}

static void creds_loaded(const struct store_result *res, void *ud)
{
    struct auth_job *j = ud;
    struct c2s *c = j->c;
    if (c->closing || !c->sasl) {
        c2s_unref(c);
        free(j);
        return;
    }
    if (res->status == STORE_OK && sasl_creds_decode(res->value, &j->creds) == 0) {
        j->have_creds = true;
    } else if (res->status != STORE_NOT_FOUND) {
        log_error("c2s %llu: cannot load credentials of %s@%s", c->id, j->user, c->host);
        c->busy = false;
        sasl_fail(c, "temporary-auth-failure", "the account store is unavailable", false);
        resume_reading(c);
        c2s_unref(c);
        free(j);
        return;
    }
    if (sasl_is_plain(c->sasl)) {
        store_work(c->srv->store, plain_work, plain_done, j);
        return;                 /* j and the reference go to plain_done */
    }
    c->busy = false;
    j->st = sasl_creds(c->sasl, j->have_creds ? &j->creds : NULL, &j->reply);
    sasl_result(c, j->st, &j->reply);
    resume_reading(c);
    buf_release(&j->reply.data);
    c2s_unref(c);
    free(j);
}

static void sasl_need_creds(struct c2s *c)
{
    struct auth_job *j = pl_calloc(1, sizeof(*j));
    j->c = c;
    const char *authzid = sasl_authzid(c->sasl);
    if (jid_prep_local(sasl_username(c->sasl), j->user) < 0) {
        free(j);
        sasl_fail(c, "not-authorized", "invalid credentials", true);
        return;
    }
    if (authzid && *authzid) {
        /* RFC 6120 §6.3.8: only the account's own bare JID may be asked. */
        struct jid *az = jid_parse(authzid);
        bool own = az && !az->resource && az->local &&
                   strcmp(az->local, j->user) == 0 && strcmp(az->domain, c->host) == 0;
        jid_free(az);
        if (!own) {
            free(j);
            sasl_fail(c, "invalid-authzid", "you may only act as yourself", false);
            return;
        }
    }
    c->refs++;
    c->busy = true;
    bufferevent_disable(c->bev, EV_READ);
    store_account_get(c->srv->store, j->user, c->host, creds_loaded, j);
}

static void sasl_result(struct c2s *c, enum sasl_status st, struct sasl_reply *r)
{
    switch (st) {
    case SASL_CHALLENGE:
        sasl_send(c, "challenge", &r->data);
        break;
    case SASL_NEED_CREDS:
        sasl_need_creds(c);
        break;
    case SASL_SUCCESS: {
        char user[JID_PART_MAX + 1];
        if (jid_prep_local(sasl_username(c->sasl), user) < 0) {
            sasl_fail(c, "not-authorized", "invalid credentials", true);
            break;
        }
        sasl_succeed(c, user, &r->data);
        break;
    }
    case SASL_FAILURE: {
        bool cred = strcmp(r->condition, "not-authorized") == 0;
        sasl_fail(c, r->condition, r->text, cred);
        break;
    }
    }
}

static bool decode_payload(struct c2s *c, const struct stanza *st, struct buf *out)
{
    struct arena *a = st->arena;
    const char *text = xml_text(a, st->root);
    /* "=" is an empty response (§6.4.2); whitespace is not allowed. */
    if (strcmp(text, "=") == 0)
        return true;
    if (base64_decode(out, text, strlen(text)) < 0)
        return false;
    return true;
}

static void handle_sasl(struct c2s *c, struct stanza *st)
{
    const char *name = st->root->name;
    if (c->authed) {
        c2s_close(c, "unsupported-stanza-type", "already authenticated");
        return;
    }
    if (!sasl_allowed(c)) {
        /* §5.3.1: STARTTLS first on this port. */
        send_failure(c, "encryption-required", "STARTTLS is required on this port");
        return;
    }
    if (strcmp(name, "abort") == 0) {
        send_failure(c, "aborted", NULL);
        after_failure(c);
        return;
    }
    if (strcmp(name, "auth") == 0) {
        if (c->sasl) {
            sasl_free(c->sasl);
            c->sasl = NULL;
        }
        unsigned locked = ratelimit_locked(c->srv->auth_limit, c->addr, time(NULL));
        if (locked) {
            char text[128];
            snprintf(text, sizeof(text),
                     "too many failed authentication attempts; try again in %u seconds",
                     locked);
            send_failure(c, "temporary-auth-failure", text);
            after_failure(c);
            return;
        }
        const char *mech = xml_attr(st->root, "mechanism");
        struct sasl_channel ch = channel_of(c);
        c->sasl = mech ? sasl_new(mech, &ch, c->srv->conf->auth.allow_plain) : NULL;
        if (!c->sasl) {
            sasl_fail(c, "invalid-mechanism", "that mechanism is not offered here", false);
            return;
        }
        sasl_set_secret(c->sasl, c->srv->secret, sizeof(c->srv->secret));
    } else if (strcmp(name, "response") == 0) {
        if (!c->sasl) {
            sasl_fail(c, "malformed-request", "no authentication in progress", false);
            return;
        }
    } else {
        c2s_close(c, "unsupported-stanza-type", NULL);
        return;
    }
    struct buf in = BUF_INIT;
    if (!decode_payload(c, st, &in)) {
        buf_release(&in);
        sasl_fail(c, "incorrect-encoding", "invalid base64", false);
        return;
    }
    struct sasl_reply r;
    memset(&r, 0, sizeof(r));
    enum sasl_status s = sasl_step(c->sasl, (const uint8_t *)in.data, in.len, &r);
    buf_release(&in);
    sasl_result(c, s, &r);
    buf_release(&r.data);
}

/* --- resource binding (RFC 6120 §7) ----------------------------------------- */

static void send_iq_error(struct c2s *c, const struct stanza *req, const char *type,
                          const char *cond, const char *text)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
    struct arena *a = st->arena;
    const char *id = xml_attr(req->root, "id");
    if (id)
        xml_set_attr(a, st->root, "id", id);
    xml_set_attr(a, st->root, "type", "error");
    struct xml_node *e = xml_add_child(a, st->root, XML_NS_CLIENT, "error");
    xml_set_attr(a, e, "type", type);
    xml_add_child(a, e, NS_STANZAS, cond);
    if (text)
        xml_set_attr(a, xml_add_text_child(a, e, NS_STANZAS, "text", text), "xml:lang", "en");
    c2s_send(c, st);
    stanza_unref(st);
}

/* A result to an IQ the stream answers itself, before or outside the
 * router (bind, session): no 'to' or 'from', RFC 6120 §8.1.2.1 rule 3. */
static struct stanza *iq_result_to_self(const struct stanza *req)
{
    struct stanza *r = stanza_new(XML_NS_CLIENT, "iq");
    xml_set_attr(r->arena, r->root, "id", xml_attr(req->root, "id"));
    xml_set_attr(r->arena, r->root, "type", "result");
    return r;
}

/* RFC 3921 session establishment: a no-op that succeeds. */
static void send_session_result(struct c2s *c, const struct stanza *req)
{
    struct stanza *r = iq_result_to_self(req);
    c2s_send(c, r);
    stanza_unref(r);
}

static void handle_bind(struct c2s *c, struct stanza *st, struct xml_node *bind)
{
    struct arena *a = st->arena;
    struct xml_node *rn = xml_child(bind, NS_BIND, "resource");
    const char *res = rn ? xml_text(a, rn) : "";
    char gen[40];
    if (!*res) {
        /* §7.6.2.1: server-generated resource. */
        unsigned char r[12];
        RAND_bytes(r, sizeof(r));
        int n = snprintf(gen, sizeof(gen), "parley-");
        for (size_t i = 0; i < sizeof(r); i++)
            n += snprintf(gen + n, sizeof(gen) - (size_t)n, "%02x", r[i]);
        res = gen;
    }
    struct jid *jid = jid_make(c->user, c->host, res);
    if (!jid) {
        send_iq_error(c, st, "modify", "bad-request", "invalid resource");
        if (++c->bind_attempts >= MAX_BIND_ATTEMPTS)
            c2s_close(c, "policy-violation", "too many failed bind attempts");
        return;
    }
    c->sess = sm_bind(c->srv, c, jid);
    if (c->tmo)
        event_del(c->tmo);      /* negotiation is over */
    log_info("c2s %llu (%s): bound %s", c->id, c->peer, c->sess->jid->full);

    struct stanza *reply = iq_result_to_self(st);
    struct arena *ra = reply->arena;
    struct xml_node *b = xml_add_child(ra, reply->root, NS_BIND, "bind");
    xml_add_text_child(ra, b, NS_BIND, "jid", c->sess->jid->full);
    c2s_send(c, reply);
    stanza_unref(reply);
}

/* --- stanzas from a bound session --------------------------------------------- */

static bool one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

/* RFC 6120 §8.2.3: IQ semantics; §8.1.4/§8.2: type values.  Returns an
 * error text or NULL when the stanza is well formed. */
static const char *check_stanza(const struct stanza *st)
{
    static const char *const iq_types[] = { "get", "set", "result", "error", NULL };
    static const char *const msg_types[] = { "normal", "chat", "groupchat", "headline",
                                             "error", NULL };
    static const char *const pres_types[] = { "unavailable", "subscribe", "subscribed",
                                              "unsubscribe", "unsubscribed", "probe",
                                              "error", NULL };
    const char *name = st->root->name;
    const char *type = xml_attr(st->root, "type");
    if (strcmp(name, "iq") == 0) {
        if (!xml_attr(st->root, "id"))
            return "an IQ needs an 'id'";
        if (!type || !one_of(type, iq_types))
            return "an IQ needs a type of get, set, result or error";
        size_t n = xml_child_count(st->root);
        if ((strcmp(type, "get") == 0 || strcmp(type, "set") == 0) && n != 1)
            return "an IQ get or set needs exactly one child element";
        if (strcmp(type, "result") == 0 && n > 1)
            return "an IQ result has at most one child element";
        return NULL;
    }
    if (strcmp(name, "message") == 0)
        return type && !one_of(type, msg_types) ? "unknown message type" : NULL;
    return type && !one_of(type, pres_types) ? "unknown presence type" : NULL;
}

static bool is_subscription(const char *type)
{
    return type && (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
                    strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0);
}

static void handle_stanza(struct c2s *c, struct stanza *st)
{
    struct arena *a = st->arena;
    struct xml_node *root = st->root;
    const char *type = xml_attr(root, "type");
    bool is_error = type && strcmp(type, "error") == 0;
    bool presence = strcmp(root->name, "presence") == 0;

    /* RFC 6120 §8.1.2.1: the server stamps 'from' (bare for subscription
     * presence, RFC 6121 §3). */
    xml_set_attr(a, root, "from", presence && is_subscription(type) ? c->sess->jid->bare
                                                                    : c->sess->jid->full);
    const char *err = check_stanza(st);
    if (err) {
        router_bounce(c->srv, st, "modify", "bad-request", err);
        return;
    }
    const char *to = xml_attr(root, "to");
    if (to) {
        struct jid *tj = jid_parse(to);
        if (!tj) {
            if (!is_error) {
                /* The reply goes straight back: the bad 'to' cannot be
                 * its 'from'. */
                xml_set_attr(a, root, "to", NULL);
                router_bounce(c->srv, st, "modify", "jid-malformed", "invalid 'to' address");
            }
            return;
        }
        xml_set_attr(a, root, "to", tj->full);
        jid_free(tj);
    }
    if (presence && !xml_attr(root, "to")) {
        sm_presence_broadcast(c->srv, c->sess, st);
        return;
    }
    if (presence)
        sm_presence_directed(c->srv, c->sess, st);
    router_route_out(c->srv, c->sess, st);
}

/* An IQ before authentication that a module takes (XEP-0077), on a stream
 * where authentication may already proceed (after STARTTLS if required). */
static bool preauth_iq(struct c2s *c, struct stanza *st)
{
    struct xml_node *root = st->root;
    if (strcmp(root->name, "iq") != 0 || !c->host || !sasl_allowed(c) || c->busy)
        return false;
    struct xml_node *child = xml_child(root, NULL, NULL);
    if (!child)
        return false;
    const struct iq_handler *h = router_preauth_find(c->srv->router, c->host, child->ns);
    if (!h)
        return false;
    /* No 'from' yet: the reply goes back on this stream. */
    xml_set_attr(st->arena, root, "from", NULL);
    preauth_iq_fn fn = (preauth_iq_fn)(void (*)(void))h->fn;
    fn(c->srv, c, st, child, h->ud);
    return true;
}

void c2s_hold(struct c2s *c)
{
    c->refs++;
}

void c2s_release(struct c2s *c)
{
    c2s_unref(c);
}

bool c2s_is_closing(const struct c2s *c)
{
    return c->closing;
}

const char *c2s_addr(const struct c2s *c)
{
    return c->addr;
}

static void on_stanza(void *ud, struct stanza *st)
{
    struct c2s *c = ud;
    struct xml_node *root = st->root;
    if (c->closing || c->tls_pending)
        goto out;
    const char *ns = root->ns;
    if (strcmp(ns, NS_TLS) == 0 && strcmp(root->name, "starttls") == 0) {
        handle_starttls(c);
        goto out;
    }
    if (strcmp(ns, NS_SASL) == 0) {
        handle_sasl(c, st);
        goto out;
    }
    bool stanza = strcmp(ns, XML_NS_CLIENT) == 0 &&
                  (strcmp(root->name, "message") == 0 || strcmp(root->name, "presence") == 0 ||
                   strcmp(root->name, "iq") == 0);
    if (!stanza) {
        c2s_close(c, "unsupported-stanza-type", NULL);
        goto out;
    }
    if (!c->authed) {
        if (preauth_iq(c, st))
            goto out;
        c2s_close(c, "not-authorized", "authenticate first");
        goto out;
    }
    if (!c->sess) {
        /* Authenticated, not bound: only bind and session IQs. */
        struct xml_node *child = xml_child(root, NULL, NULL);
        const char *type = xml_attr(root, "type");
        if (strcmp(root->name, "iq") == 0 && type && strcmp(type, "set") == 0 && child) {
            if (xml_is(child, NS_BIND, "bind")) {
                handle_bind(c, st, child);
                goto out;
            }
            if (xml_is(child, NS_SESSION, "session")) {
                send_session_result(c, st);
                goto out;
            }
        }
        c2s_close(c, "not-authorized", "bind a resource first");
        goto out;
    }
    struct xml_node *child = xml_child(root, NULL, NULL);
    if (strcmp(root->name, "iq") == 0 && child && xml_is(child, NS_SESSION, "session")) {
        send_session_result(c, st);
        goto out;
    }
    if (strcmp(root->name, "iq") == 0 && child && xml_is(child, NS_BIND, "bind")) {
        send_iq_error(c, st, "cancel", "not-allowed", "a resource is already bound");
        goto out;
    }
    handle_stanza(c, st);
out:
    stanza_unref(st);
}

static const struct xml_stream_cb parser_cb = {
    .open = on_open,
    .stanza = on_stanza,
    .close = on_close_tag,
    .error = on_parse_error,
};

/* --- socket events -------------------------------------------------------------- */

static void process_input(struct c2s *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    char chunk[16384];
    c->refs++;                  /* c2s_close() inside must not free us */
    while (!c->closing && !c->tls_pending && !c->busy && !c->pending_failure) {
        int n = evbuffer_remove(in, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        xml_stream_feed(c->xs, chunk, (size_t)n);
    }
    if (c->tls_pending && !c->closing)
        start_tls(c);
    /* Principle 4: an idle bound session keeps no parser. */
    if (c->sess && !c->closing)
        xml_stream_compact(c->xs);
    c2s_unref(c);
}

static void on_read(struct bufferevent *bev, void *ud)
{
    (void)bev;
    process_input(ud);
}

static void on_event(struct bufferevent *bev, short what, void *ud)
{
    struct c2s *c = ud;
    (void)bev;
    if (c->closing) {
        /* The peer went away while we flushed: nothing left to write. */
        if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
            evbuffer_drain(bufferevent_get_output(c->bev),
                           evbuffer_get_length(bufferevent_get_output(c->bev)));
            struct bufferevent *under = bufferevent_get_underlying(c->bev);
            if (under)
                evbuffer_drain(bufferevent_get_output(under),
                               evbuffer_get_length(bufferevent_get_output(under)));
        }
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        c2s_close(c, "connection-timeout", "idle for too long");
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (what & BEV_EVENT_ERROR) {
            unsigned long e = bufferevent_get_openssl_error(c->bev);
            if (e) {
                char msg[256];
                ERR_error_string_n(e, msg, sizeof(msg));
                log_info("c2s %llu (%s): TLS error: %s", c->id, c->peer, msg);
            }
        }
        log_debug("c2s %llu (%s): connection closed by peer", c->id, c->peer);
        /* No stream close to write: unbind and free. */
        c->closing = true;
        if (c->sess) {
            struct session *s = c->sess;
            c->sess = NULL;
            sm_unbind(c->srv, s);
        }
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        evbuffer_drain(bufferevent_get_output(c->bev),
                       evbuffer_get_length(bufferevent_get_output(c->bev)));
        start_close_polling(c);
    }
}

static void on_negotiation_timeout(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    if (!c->sess && !c->closing)
        c2s_close(c, "connection-timeout", "stream negotiation took too long");
}

static void format_peer(struct c2s *c, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
    }
    snprintf(c->addr, sizeof(c->addr), "%s", ip);
    snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, port);
}

void c2s_accept(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
                int salen, const struct conf_listen *lcfg)
{
    (void)salen;
    const struct conf *conf = srv->conf;
    struct c2s *c = pl_calloc(1, sizeof(*c));
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->refs = 1;
    c->direct_tls = lcfg->tls;
    c->starttls_required = lcfg->starttls_required;
    format_peer(c, sa);
    evutil_make_socket_nonblocking(fd);

    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;

    if (c->direct_tls) {
        SSL *ssl = tls_ssl_new(srv->tls);
        c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        c->tls = true;
    } else {
        c->bev = bufferevent_socket_new(srv->base, fd,
                                        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    }
    c->xs = xml_stream_new(&(struct xml_limits){ conf->limits.max_stanza_size,
                                                 conf->limits.max_depth,
                                                 conf->limits.max_attrs },
                           &parser_cb, c);
    c->tmo = evtimer_new(srv->base, on_negotiation_timeout, c);
    struct timeval tv = { conf->limits.negotiation_timeout, 0 };
    evtimer_add(c->tmo, &tv);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    if (conf->limits.idle_timeout) {
        struct timeval it = { conf->limits.idle_timeout, 0 };
        bufferevent_set_timeouts(c->bev, &it, NULL);
    }
    if (srv->shaper)
        bufferevent_set_rate_limit(c->bev, srv->shaper);
    log_debug("c2s %llu: connection from %s", c->id, c->peer);

    unsigned max = conf->limits.max_connections_per_ip;
    unsigned n = ratelimit_conn_inc(srv->conn_limit, c->addr);
    c->counted = true;
    if (max && n > max) {
        log_notice("c2s %llu: refusing %s: %u connections from that address", c->id,
                   c->peer, n);
        if (c->direct_tls) {
            /* No stream to speak in before the handshake. */
            c->closing = true;
            start_close_polling(c);
        } else {
            c2s_close(c, "policy-violation", "too many connections from your address");
        }
        return;
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}
