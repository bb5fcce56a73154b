/*
 * c2s.c - client-to-server streams: RFC 6120 §4 (streams), §5 (STARTTLS),
 * §6 (SASL), §7 (resource binding), §8.1.2.1 ('from' stamping), XEP-0368
 * (direct TLS), XEP-0440 (channel-binding types as a stream feature),
 * XEP-0198 (stream management: acks, hibernation, resumption), XEP-0352
 * (client state indication), XEP-0388 (SASL2), XEP-0386 (Bind2, with
 * inline SM enable/resume and carbons) and XEP-0484 (FAST tokens).
 *
 * Logins end with the ban check (admin/ban.h) once the credentials are
 * verified, SASL1 and SASL2 alike: a banned account gets <account-disabled/>
 * and the ban's reason instead of <success/> (RFC 6120 §6.5.1).
 *
 * SASL2 (XEP-0388) shares the mechanisms, the sasl_ctx and the failed-login
 * limits with SASL1; what differs is the framing, the <success/> (no
 * stream restart, §2.6.1: the post-authentication features follow at
 * once) and the inline requests of <authenticate/>, processed in the order
 * XEP-0386 §3.2 gives: SM <resume/> first; if it fails (its <failed/> goes
 * into <success/>) or is absent, Bind2 binds a resource and enables SM and
 * carbons inline; then a FAST token if one was asked for or is due.
 *
 * The Bind2 rule (issue 4): XEP-0386 §3.2 says to clear the offline
 * messages at bind "as they will be provided by MAM".  Parley never does:
 * with MAM disabled, or a message MAM did not archive (preferences), that
 * purge loses mail.  A Bind2 session is bound like any other and gets its
 * offline messages at its first available presence (modules/offline.c,
 * HOOK_USER_AVAILABLE), whatever MAM holds.
 *
 * FAST (XEP-0484): tokens for the HT-SHA-256-NONE/-ENDP/-EXPR mechanisms,
 * stored per user-agent id in the kv area "fast" as described in
 * stream/fast.h (nonces, never tokens; bound to the current credentials,
 * so any password change invalidates them).
 *
 * Life of a connection:
 *   accept -> [direct TLS handshake] -> header -> features
 *          -> STARTTLS -> header -> features (mechanisms)
 *          -> SASL (credentials fetched from storage off the loop)
 *          -> header -> features (bind) -> bind -> stanzas to the router.
 * A connection is never freed inside one of its own callbacks: c2s_close()
 * marks it closing and the free happens from a timer once the output is
 * written (or a deadline passes) and no asynchronous call holds a reference.
 * A bound stream quiet for limits.detach_after is detached: it keeps its
 * socket and TLS state but not its bufferevent, until it is used again
 * (conn(); principle 4).
 *
 * Stream management (XEP-0198), for streams that enabled it (the state is
 * a separate allocation, struct sm_state, so plain streams stay small):
 *   - outbound: every stanza written after <enabled/> is queued (a stanza
 *     reference, serialized again only if it must be resent) until the
 *     client's <a h/> covers it;
 *   - inbound: every stanza read after <enable/> is tracked until it is
 *     settled (stanza_on_settled(): modules hold it while their storage
 *     write is in flight); the h we report counts the leading settled ones
 *     (ARCHITECTURE.md principle 5), and an <r/> is answered once the
 *     stanzas before it have settled;
 *   - a resumable stream that breaks without </stream:stream> hibernates:
 *     its socket, TLS state and parser are freed (principle 4), the
 *     session stays bound and stanzas for it are queued, until a
 *     <resume/> on a new stream takes the session over or the timeout ends
 *     it;
 *   - when an SM session ends (timeout, clean close, error), what the
 *     client never acknowledged is re-routed: messages to the bare JID
 *     (other resources or offline storage) with a <delay/> (XEP-0203),
 *     IQ requests bounced with <recipient-unavailable/>, presence dropped
 *     (it is state, re-sent by the next broadcast).  This runs on the first
 *     close-polling tick, outside whatever delivery loop closed the stream.
 */
#include "stream/c2s.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "admin/ban.h"
#include "core/base64.h"
#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "net/ratelimit.h"
#include "net/tls.h"
#include "router/router.h"
#include "storage/store.h"
#include "stream/fast.h"
#include "stream/frame.h"
#include "stream/sasl/sasl.h"
#include "stream/sasl2.h"
#include "stream/sm_queue.h"
#include "stream/stream_opts.h"
#include "xml/xml.h"

#define NS_TLS      "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL     "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND     "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION  "urn:ietf:params:xml:ns:xmpp-session"
#define NS_SASL_CB  "urn:xmpp:sasl-cb:0"
#define NS_SM       "urn:xmpp:sm:3"
#define NS_CSI      "urn:xmpp:csi:0"
#define NS_DELAY    "urn:xmpp:delay"
#define NS_SASL2    "urn:xmpp:sasl:2"
#define NS_BIND2    "urn:xmpp:bind:0"
#define NS_FAST     "urn:xmpp:fast:0"
#define NS_CARBONS  "urn:xmpp:carbons:2"

/* RFC 6120 §6.4.5 lets a server limit SASL retries per stream, and §7.6.2.1
 * asks for 5..10 bind retries; both end with <policy-violation/>. */
#define MAX_SASL_ATTEMPTS 5
#define MAX_BIND_ATTEMPTS 5
/* How long a closing stream may take to flush before it is cut. */
#define CLOSE_LINGER_MS 3000
#define CLOSE_POLL_MS 20
/* A reader that lets this much output pile up is not reading: cut it. */
#define MAX_OUTPUT_BYTES (8u << 20)
/* Inbound stanzas read but not settled (storage writes in flight): beyond
 * this, reading pauses until some settle. */
#define SM_MAX_INFLIGHT 1024
/* We ask for an ack (<r/>) once this many stanzas are unacknowledged. */
#define SM_REQUEST_EVERY 16
/* A frame's tail at least this long is queued by reference (one libevent
 * chain, no copy); a shorter one is copied, which for the usual chat
 * line is cheaper than the chain libevent allocates for a reference. */
#define FRAME_REF_MIN 1024

enum c2s_state {
    C2S_WAIT_HEADER,            /* before a stream header (first or restarted) */
    C2S_OPEN,                   /* header exchanged, negotiating or bound */
};

struct c2s {
    struct server *srv;
    struct c2s *prev, *next;    /* srv->conns */
    unsigned long long id;
    struct bufferevent *bev;    /* socket, TLS on the socket, or TLS filter over
                                 * the socket (with the read shaper); NULL while
                                 * detached: reach it through conn() */
    struct event *watch;        /* detached: EV_READ on fd, see detach() */
    SSL *ssl;                   /* TLS on the socket (not a filter's): owned */
    evutil_socket_t fd;         /* the socket, owned; -1 once closed */
    uint32_t last_read;         /* loop clock (s) of the last bytes read */
    uint32_t last_active;       /* ... of the last read or write */
    uint32_t close_started;     /* loop clock (ms) when closing began */
    struct xml_stream *xs;
    struct event *tmo;          /* negotiation deadline, then close polling */
    struct c2s_neg *neg;        /* negotiation state, until bound: neg_of() */
    struct session *sess;       /* once bound */
    struct sm_state *sm;        /* XEP-0198, once enabled (or resumed) */
    struct csi_state *csi;      /* XEP-0352, only while inactive */
    char *host;                 /* the stream's domain (prepared) */
    char *user;                 /* authenticated localpart */
    enum c2s_state state;
    int refs;                   /* 1 for the connection + 1 per async call */
    bool direct_tls;
    bool starttls_required;
    bool tls;                   /* TLS is active */
    bool tls_pending;           /* <proceed/> sent, start TLS after this read */
    bool header_sent;
    bool authed;
    bool closing;
    bool busy;                  /* async SASL step in flight: reading paused */
    bool counted;               /* holds a slot in srv->conn_limit */
    bool hibernating;           /* SM: connection gone, session kept for <resume/> */
    bool overflow;              /* output cap hit: nothing more is written */
    bool sm_paused;             /* reading paused: too many unsettled stanzas */
    bool tls_filter;            /* bev is a TLS filter over a socket bufferevent */
    /* "ip" (the key for per-address limits) NUL "ip:port" (for logs):
     * one allocation of their size rather than two arrays sized for
     * IPv6 (principle 4); see c2s_addr() and c2s_peer(). */
    char *names;
};

/* XEP-0198 state of one stream-management session.  It moves to the new
 * c2s when a session is resumed. */
struct sm_rec;
struct sm_state {
    struct c2s *c;              /* the stream that owns it now */
    struct sm_queue q;          /* counters, unacked outbound stanzas */
    struct sm_rec *recs;        /* inbound stanzas not settled yet */
    struct event *timer;        /* hibernation deadline */
    unsigned timeout;           /* resumption window in s; 0 = not resumable */
    unsigned max_unacked;
    unsigned pending_r;         /* <r/>s waiting for holds to be released */
    uint32_t r_target;          /* ... the inbound count they must report */
    bool r_sent;                /* we sent <r/> and got no <a/> yet */
    int64_t hibernated_at;      /* us since the epoch: orders hibernations */
    char *to;                   /* the session's full JID: the 'to' of queued frames */
    char id[24];                /* SM-ID, "" when not resumable */
};

/* An inbound stanza waiting to settle: the stanza's settled callback
 * finds the state through it, and it outlives the state if need be. */
struct sm_rec {
    struct sm_state *sm;        /* NULL once the state is gone */
    struct sm_rec *prev, *next;
    uint32_t seq;
};

/* XEP-0352 buffer of an inactive client: presence stanzas, the latest
 * per sender, oldest first. */
struct csi_state {
    struct stanza **v;
    size_t n, cap, max;
};

/* What only stream negotiation needs (SASL, SASL2, FAST, Bind2, retry
 * counts): a separate allocation, made on first use and freed once the
 * stream is bound and no asynchronous step is in flight, so an idle bound
 * stream does not carry it (principle 4; ~130 bytes).  A late use (a
 * client re-sending <auth/> after bind, to be refused) makes it again. */
struct c2s_neg {
    struct event *delay;        /* delayed SASL failure (slowing brute force) */
    struct sasl_ctx *sasl;
    char *pending_failure;      /* serialized SASL failure waiting for 'delay' */
    struct stanza *s2req;       /* SASL2: the <authenticate/> being served */
    char *ok_user;              /* verified, waiting for the ban check */
    struct buf ok_data;         /* ... and the mechanism's success data */
    char *fast_token;           /* FAST token to hand out in <success/> */
    int64_t fast_expiry;
    uint8_t creds_fp[FAST_FP_LEN]; /* fingerprint of the credentials used */
    unsigned sasl_attempts;
    unsigned bind_attempts;
    bool have_fp;
    bool fast_rotate;           /* FAST: the token used is due for rotation */
    bool sasl2;                 /* the exchange in progress is SASL2 */
    char *stream_from;          /* bare JID of the client's header 'from',
                                 * normalized; NULL when it sent none */
    char stream_id[20];         /* the 'id' of our stream header (§4.7.3) */
};

static struct c2s_neg *neg_of(struct c2s *c)
{
    if (!c->neg)
        c->neg = pl_calloc(1, sizeof(*c->neg));
    return c->neg;
}

static void neg_free(struct c2s *c)
{
    struct c2s_neg *n = c->neg;
    if (!n)
        return;
    c->neg = NULL;
    if (n->delay)
        event_free(n->delay);
    sasl_free(n->sasl);
    free(n->pending_failure);
    if (n->s2req)
        stanza_unref(n->s2req);
    free(n->ok_user);
    buf_release(&n->ok_data);
    free(n->fast_token);
    free(n->stream_from);
    free(n);
}

static void c2s_unref(struct c2s *c);
static void start_close_polling(struct c2s *c);
static void resume_reading(struct c2s *c);
static void out_stanza(struct c2s *c, const struct stanza *st);
static void out_frame(struct c2s *c, struct frame *f, const char *to);
static bool csi_hold(struct c2s *c, const struct stanza *st);
static void csi_free(struct c2s *c);
static void sm_free(struct sm_state *sm, bool log_lost);
static void sm_finish(struct c2s *c);
static void sm_hibernate(struct c2s *c, const char *why);
static bool sm_try_hibernate(struct c2s *c, const char *why);
static void close_stream(struct c2s *c, const char *cond, const char *app,
                         const char *text);
static const struct sm_options *sm_opts(struct c2s *c);

const char *c2s_peer(const struct c2s *c)
{
    return c->names + strlen(c->names) + 1;
}

/* --- the connection -------------------------------------------------------- */

/*
 * The connection is a bufferevent on the socket (plain, or TLS on the
 * socket), or a TLS filter over a plaintext one when the read shaper is
 * on (see tls_on_socket()).  The c2s owns the socket (fd) and the TLS
 * state on it (ssl): bufferevents made on the socket never own them (no
 * BEV_OPT_CLOSE_ON_FREE), because both outlive the bufferevent of a
 * detached stream.  A filter owns its SSL and the plaintext bufferevent
 * under it, as a filter is never detached; the fd is still the c2s's.
 *
 * Detached (principle 4): a bound stream quiet for limits.detach_after
 * keeps its socket, its TLS state (whose buffers SSL_MODE_RELEASE_BUFFERS
 * has released) and one read event on the socket, not the bufferevent
 * and its two evbuffers (~1.1 KiB).  Any use re-attaches it: bytes or EOF
 * from the client (the watch fires), and every write, close, hibernation
 * or takeover, which all reach the bufferevent through conn().
 */

/* Clocks for stamps that only ever meet in differences (so they may
 * wrap): the loop's cached time, in s and in ms. */
static uint32_t clock_s(struct server *srv)
{
    struct timeval tv;
    event_base_gettimeofday_cached(srv->base, &tv);
    return (uint32_t)tv.tv_sec;
}

static uint32_t clock_ms(struct server *srv)
{
    struct timeval tv;
    event_base_gettimeofday_cached(srv->base, &tv);
    return (uint32_t)tv.tv_sec * 1000u + (uint32_t)(tv.tv_usec / 1000);
}

static void on_read(struct bufferevent *bev, void *ud);
static void on_event(struct bufferevent *bev, short what, void *ud);

/* A plaintext bufferevent on the socket, with the read shaper if any. */
static struct bufferevent *socket_bev_new(struct c2s *c)
{
    struct bufferevent *bev = bufferevent_socket_new(c->srv->base, c->fd,
                                                     BEV_OPT_DEFER_CALLBACKS);
    PL_ASSERT(bev != NULL);     /* only fails on out-of-memory */
    if (c->srv->shaper)
        bufferevent_set_rate_limit(bev, c->srv->shaper);
    return bev;
}

/* TLS (c->ssl) on the socket: BUFFEREVENT_SSL_ACCEPTING for the
 * handshake, BUFFEREVENT_SSL_OPEN to re-attach an established session
 * (libevent reuses the socket BIO the SSL already has on c->fd).
 *
 * With read-ahead, OpenSSL reads whatever the socket holds into its
 * record buffer in one read() instead of each record's 5-byte header
 * and then its body in two: one system call less per stanza received
 * and about ten less per login.  The price is that whole records may
 * then wait inside OpenSSL where no socket event announces them (libevent
 * 2.1 stops reading when SSL_pending() is 0, which does not count records
 * not yet decrypted): read_buffered_tls() reads them. */
static struct bufferevent *tls_bev_new(struct c2s *c, enum bufferevent_ssl_state state)
{
    SSL_set_read_ahead(c->ssl, 1);
    struct bufferevent *bev = bufferevent_openssl_socket_new(c->srv->base, c->fd, c->ssl,
                                                             state, BEV_OPT_DEFER_CALLBACKS);
    PL_ASSERT(bev != NULL);     /* only fails on out-of-memory */
    return bev;
}

/* bev becomes the stream's connection (the caller enables it). */
static void conn_use(struct c2s *c, struct bufferevent *bev)
{
    c->bev = bev;
    bufferevent_setcb(bev, on_read, NULL, on_event, c);
}

/* Releases the connection for good: the bufferevent (a filter takes the
 * plaintext one under it and its SSL along) or the watch of a detached
 * stream, then the socket and the TLS state on it.  libevent finalizes a
 * freed bufferevent later in the loop turn, but without
 * BEV_OPT_CLOSE_ON_FREE it touches neither the fd nor the SSL then. */
static void conn_free(struct c2s *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->watch) {
        event_free(c->watch);
        c->watch = NULL;
    }
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        evutil_closesocket(c->fd);
        c->fd = -1;
    }
}

/* A detached stream gets its bufferevent back, set up as at accept. */
static void attach(struct c2s *c)
{
    event_free(c->watch);
    c->watch = NULL;
    conn_use(c, c->ssl ? tls_bev_new(c, BUFFEREVENT_SSL_OPEN) : socket_bev_new(c));
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Records that TLS read-ahead took off the socket but libevent did not
 * read (see tls_bev_new()) get a read in this loop turn, when reading is
 * on; whoever turns reading back on calls this again.  A partial record
 * costs one read() that finds the socket empty. */
static void read_buffered_tls(struct c2s *c)
{
    if (c->ssl && c->bev && !c->closing && (bufferevent_get_enabled(c->bev) & EV_READ) &&
        SSL_has_pending(c->ssl))
        event_active(&c->bev->ev_read, EV_READ, 1);
}

/* Bytes or EOF from a detached client: re-attach and read them in this
 * loop turn, as the bufferevent's own read event would have (making its
 * read event active, as out_kick() does for writes). */
static void on_watch(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    attach(c);
    event_active(&c->bev->ev_read, EV_READ, 1);
}

/* Only a stream at rest detaches: bound, nothing asynchronous in flight
 * (a reference held, a negotiation step), reading not paused, the parser
 * released at a stanza boundary, nothing buffered either way, and TLS, if
 * any, on the socket with its handshake done and no record half read. */
static bool is_detachable(struct c2s *c)
{
    if (!c->bev || !c->sess || c->closing || c->hibernating || c->overflow || c->busy ||
        c->sm_paused || c->tls_pending || c->tls_filter || c->neg || c->refs != 1 ||
        xml_stream_has_parser(c->xs))
        return false;
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return false;
    return !c->ssl || (SSL_is_init_finished(c->ssl) && !SSL_has_pending(c->ssl));
}

/* The bufferevent goes; the socket and the TLS state stay (conn_free()
 * releases them), watched for the client's next bytes. */
static void detach(struct c2s *c)
{
    bufferevent_free(c->bev);
    c->bev = NULL;
    c->watch = event_new(c->srv->base, c->fd, EV_READ, on_watch, c);
    PL_ASSERT(c->watch != NULL);
    event_add(c->watch, NULL);
    log_debug("c2s %llu (%s): detached", c->id, c2s_peer(c));
}

/* The stream's bufferevent, for any use that reads or writes it: a
 * detached stream is re-attached first.  NULL when the stream has no
 * connection (hibernating, or closed).  Counts as activity. */
static struct bufferevent *conn(struct c2s *c)
{
    if (c->watch)
        attach(c);
    c->last_active = clock_s(c->srv);
    return c->bev;
}

/* --- output ---------------------------------------------------------------- */

/*
 * Output leaves in the loop turn that wrote it.  A socket bufferevent (plain
 * or TLS) writes when its write event fires; left to itself, output added
 * to an empty buffer adds that event to epoll, the next epoll_wait reports
 * the socket writable, the write empties the buffer and the event is
 * removed again: two epoll_ctl calls and a loop turn per delivered
 * stanza.  Making the write event active instead runs the same callback
 * after the callbacks already queued in this turn (so everything written
 * for this stream in the turn goes in one write); when that empties the
 * buffer, the add and the removal meet in libevent's epoll changelist
 * and no system call is made.  A socket that is not writable answers
 * EAGAIN and the bufferevent waits for it as before.  A TLS filter has no
 * socket event of its own (its underlying bufferevent writes).
 */
static void out_kick(struct c2s *c, struct bufferevent *bev, size_t before)
{
    if (before == 0 && !c->tls_filter)
        event_active(&bev->ev_write, EV_WRITE, 1);
}

static void write_raw(struct c2s *c, const char *data, size_t len)
{
    struct bufferevent *bev = conn(c);
    if (!bev)
        return;
    size_t before = evbuffer_get_length(bufferevent_get_output(bev));
    bufferevent_write(bev, data, len);
    out_kick(c, bev, before);
}

static void write_str(struct c2s *c, const char *s)
{
    write_raw(c, s, strlen(s));
}

/* The output cap was hit (or the SM queue is full): a client that does
 * not read.  Handled from the loop, not inside the delivery that noticed
 * it: a resumable session hibernates (nothing is lost, the queue waits for
 * <resume/>), any other stream is closed (an SM session's queue is then
 * re-routed). */
static void on_overflow(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    if (c->closing || c->hibernating)
        return;
    if (c->sm && c->sm->id[0] && c->sess) {
        sm_hibernate(c, "the client is not reading");
        return;
    }
    c2s_close(c, "policy-violation", "output buffer overflow: the client is not reading");
}

/* c->tmo is the negotiation deadline until the stream is bound, then it
 * is freed (principle 4: an idle bound stream keeps no timer) and made
 * again only for the rare overflow or for close polling. */
static void tmo_assign(struct c2s *c, event_callback_fn cb)
{
    if (!c->tmo) {
        c->tmo = event_new(c->srv->base, -1, 0, cb, c);
        return;
    }
    event_del(c->tmo);
    event_assign(c->tmo, c->srv->base, -1, 0, cb, c);
}

/* Negotiation is over (bound or resumed): the deadline goes. */
static void tmo_drop(struct c2s *c)
{
    if (c->tmo) {
        event_free(c->tmo);
        c->tmo = NULL;
    }
}

static void overflowed(struct c2s *c, const char *what)
{
    if (c->overflow || c->closing)
        return;
    log_warn("c2s %llu (%s): %s, the client is not reading", c->id, c2s_peer(c), what);
    c->overflow = true;
    tmo_assign(c, on_overflow);
    event_active(c->tmo, 0, 0);
}

static void overflow_check(struct c2s *c)
{
    if (c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > MAX_OUTPUT_BYTES)
        overflowed(c, "output buffer over 8 MiB");
}

static void write_stanza(struct c2s *c, const struct stanza *st)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    xml_serialize(st->root, XML_NS_CLIENT, b);
    write_raw(c, b->data, b->len);
    overflow_check(c);
}

/* evbuffer_add_reference() cleanup: libevent is done with a frame's tail. */
static void frame_chain_done(const void *data, size_t len, void *ud)
{
    (void)data;
    (void)len;
    frame_unref(ud);
}

/* A frame addressed to 'to': head + " to='...'" + tail (stream/frame.h).
 * Nothing is allocated here but what libevent needs for its chains: the
 * head and the escaped 'to' are assembled in the server's scratch buffer
 * and copied; a long tail is referenced (the frame lives until libevent
 * has written it), a short one copied. */
static void write_frame(struct c2s *c, struct frame *f, const char *to)
{
    struct bufferevent *bev = conn(c);
    if (!bev)
        return;
    struct evbuffer *out = bufferevent_get_output(bev);
    size_t before = evbuffer_get_length(out);
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    buf_append(b, f->data, f->split);
    frame_put_to(b, to);
    size_t tail = f->len - f->split;
    if (tail >= FRAME_REF_MIN) {
        evbuffer_add(out, b->data, b->len);
        if (evbuffer_add_reference(out, f->data + f->split, tail, frame_chain_done,
                                   frame_ref(f)) != 0) {
            frame_unref(f);
            evbuffer_add(out, f->data + f->split, tail);
        }
    } else {
        buf_append(b, f->data + f->split, tail);
        evbuffer_add(out, b->data, b->len);
    }
    out_kick(c, bev, before);
    overflow_check(c);
}

/*
 * XEP-0198 queue items are opaque pointers: a stanza reference, or a
 * frame reference tagged with the low bit (allocations are aligned, so the
 * bit is free).  A tagged frame is addressed to the session's own full JID
 * (sm->to): queuing it allocates nothing per recipient.  A frame for any
 * other 'to' is queued as a stanza built from it (never the case for MUC,
 * which addresses each occupant's session).
 */
static bool item_is_frame(const void *p)
{
    return ((uintptr_t)p & 1u) != 0;
}

static struct frame *item_frame(const void *p)
{
    return (struct frame *)((uintptr_t)p & ~(uintptr_t)1u);
}

static void *frame_item(struct frame *f)
{
    return (void *)((uintptr_t)f | 1u);
}

static void item_unref(void *p)
{
    if (item_is_frame(p))
        frame_unref(item_frame(p));
    else
        stanza_unref(p);
}

/* The item as a stanza (a new reference): only on the rare paths
 * (hibernation hook, re-routing when the session ends). */
static struct stanza *item_stanza(const struct sm_state *sm, void *p)
{
    if (item_is_frame(p))
        return frame_stanza(item_frame(p), sm->to);
    return stanza_ref(p);
}

static const char *item_name(const void *p)
{
    if (item_is_frame(p))
        return item_frame(p)->st->root->name;
    return ((const struct stanza *)p)->root->name;
}

static void write_item(struct c2s *c, const struct sm_state *sm, void *p)
{
    if (item_is_frame(p))
        write_frame(c, item_frame(p), sm->to);
    else
        write_stanza(c, p);
}

void c2s_send(struct c2s *c, const struct stanza *st)
{
    /* XEP-0352: an inactive client's presence may wait. */
    if (c->csi && !c->closing && !c->hibernating && csi_hold(c, st))
        return;
    out_stanza(c, st);
}

void c2s_send_frame(struct c2s *c, struct frame *f, const char *to)
{
    if (c->csi && !c->closing && !c->hibernating) {
        if (strcmp(f->st->root->name, "message") != 0) {
            /* XEP-0352 may keep presence for later: it keeps stanzas. */
            struct stanza *st = frame_stanza(f, to);
            c2s_send(c, st);
            stanza_unref(st);
            return;
        }
        /* A message is never held; it flushes what was (csi_hold()). */
        csi_hold(c, f->st);
    }
    out_frame(c, f, to);
}

/* XEP-0198 §4: an outbound stanza (item) is counted and kept until
 * acknowledged, whether it can be written now or not (hibernating,
 * closing: the queue is resent on <resume/> or re-routed when the session
 * ends).  Takes over the item's reference.  True when it is to be written
 * now. */
static bool sm_out(struct c2s *c, void *item)
{
    struct sm_state *sm = c->sm;
    smq_out_push(&sm->q, item, (int64_t)time(NULL));
    if (c->hibernating && c->sess && strcmp(item_name(item), "message") == 0) {
        struct stanza *st = item_stanza(sm, item);
        struct hook_event ev = { .srv = c->srv, .host = c->host,
                                 .stanza = st, .session = c->sess };
        hooks_run(&c->srv->router->hooks, HOOK_MESSAGE_HIBERNATED, &ev);
        stanza_unref(st);
    }
    /* A live stream with max_unacked stanzas unacknowledged has a
     * client that does not read: it hibernates.  A hibernated session
     * may queue twice that, then it ends (its queue is re-routed)
     * rather than grow without bound. */
    size_t unacked = smq_out_len(&sm->q);
    if (c->hibernating && unacked > 2 * (size_t)sm->max_unacked) {
        if (!c->closing)
            event_active(sm->timer, 0, 0);
    } else if (!c->hibernating && unacked > sm->max_unacked) {
        overflowed(c, "too many unacknowledged stanzas");
    }
    return !(c->closing || c->hibernating || c->overflow);
}

/* After a write on an SM stream: ask for an ack now and then. */
static void sm_maybe_request(struct c2s *c)
{
    struct sm_state *sm = c->sm;
    if (!sm->r_sent && smq_out_len(&sm->q) >= SM_REQUEST_EVERY) {
        write_str(c, "<r xmlns='" NS_SM "'/>");
        sm->r_sent = true;
    }
}

static void out_stanza(struct c2s *c, const struct stanza *st)
{
    if (c->sm) {
        if (!sm_out(c, stanza_ref((struct stanza *)st)))
            return;
        write_stanza(c, st);
        sm_maybe_request(c);
        return;
    }
    if (c->closing || c->overflow) {
        /* The stream is going away; the session was unbound first, so
         * this only happens for stanzas raced with the close. */
        log_debug("c2s %llu: dropping %s written after close", c->id, st->root->name);
        return;
    }
    write_stanza(c, st);
}

static void out_frame(struct c2s *c, struct frame *f, const char *to)
{
    struct sm_state *sm = c->sm;
    if (sm) {
        if (!sm->to)
            sm->to = pl_strdup(c->sess ? c->sess->jid->full : to);
        void *item = strcmp(sm->to, to) == 0 ? frame_item(frame_ref(f))
                                             : (void *)frame_stanza(f, to);
        if (!sm_out(c, item))
            return;
        write_item(c, sm, item);
        sm_maybe_request(c);
        return;
    }
    if (c->closing || c->overflow) {
        log_debug("c2s %llu: dropping %s written after close", c->id, f->st->root->name);
        return;
    }
    write_frame(c, f, to);
}

static void send_header(struct c2s *c, const char *client_from)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    buf_puts(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' id='");
    buf_puts(b, neg_of(c)->stream_id);
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
    struct c2s_neg *n = neg_of(c);
    snprintf(n->stream_id, sizeof(n->stream_id), "%s", b.data);
    buf_release(&b);
}

void c2s_close(struct c2s *c, const char *cond, const char *text)
{
    close_stream(c, cond, NULL, text);
}

/* 'app' is an application-specific condition element, serialized
 * (RFC 6120 §4.9.4), or NULL. */
static void close_stream(struct c2s *c, const char *cond, const char *app,
                         const char *text)
{
    if (c->closing)
        return;
    c->closing = true;
    /* XEP-0352: buffered presence is state; the stream ends, it goes. */
    csi_free(c);
    if (conn(c)) {
        if (!c->header_sent) {
            /* RFC 6120 §4.9.1.2: open a stream before the error. */
            if (!neg_of(c)->stream_id[0])
                new_stream_id(c);
            send_header(c, NULL);
        }
        if (cond) {
            struct buf *b = &c->srv->scratch;
            buf_clear(b);
            buf_printf(b, "<stream:error><%s xmlns='" NS_STREAMS "'/>", cond);
            if (app)
                buf_puts(b, app);
            if (text) {
                buf_puts(b, "<text xmlns='" NS_STREAMS "' xml:lang='en'>");
                xml_escape_text(b, text, strlen(text));
                buf_puts(b, "</text>");
            }
            buf_puts(b, "</stream:error>");
            write_raw(c, b->data, b->len);
            log_info("c2s %llu (%s): stream error <%s/>%s%s", c->id, c2s_peer(c), cond,
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
        ratelimit_conn_dec(srv->conn_limit, c2s_addr(c));
    conn_free(c);
    if (c->xs)
        xml_stream_free(c->xs);
    if (c->tmo)
        event_free(c->tmo);
    neg_free(c);
    if (c->sm)
        sm_free(c->sm, true);
    csi_free(c);
    free(c->host);
    free(c->user);
    log_debug("c2s %llu (%s): freed", c->id, c2s_peer(c));
    free(c->names);
    free(c);
}

static void c2s_unref(struct c2s *c)
{
    PL_ASSERT(c->refs > 0);
    if (--c->refs == 0)
        free_c2s(c);
}

/* A detached stream has none (it detached with nothing buffered). */
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

static void on_close_poll(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    /* The session is unbound by now: what the client did not acknowledge
     * goes elsewhere (once, on the first tick). */
    if (c->sm)
        sm_finish(c);
    if (pending_output(c) > 0 && clock_ms(c->srv) - c->close_started < CLOSE_LINGER_MS) {
        struct timeval tv = { 0, CLOSE_POLL_MS * 1000 };
        event_add(c->tmo, &tv);
        return;
    }
    conn_free(c);
    c2s_unref(c);               /* the connection's own reference */
}

static void start_close_polling(struct c2s *c)
{
    c->close_started = clock_ms(c->srv);
    if (c->neg && c->neg->delay)
        event_del(c->neg->delay);
    tmo_assign(c, on_close_poll);
    struct timeval tv = { 0, 0 };
    event_add(c->tmo, &tv);
}

/* --- quiet streams ---------------------------------------------------------- */

/*
 * One timer per server walks the streams every few seconds: a stream
 * that read nothing for limits.idle_timeout ends (or hibernates, XEP-0198
 * §7), and a bound stream with no traffic either way for
 * limits.detach_after detaches (see conn()).  Stamps on every read and
 * write make this cheaper than a timeout per stream, re-armed by libevent
 * on every read; the price is up to one period of lateness.
 */
#define SWEEP_PERIOD_MAX 5      /* s: bounds that lateness */

static unsigned sweep_period(const struct conf_limits *l)
{
    unsigned p = SWEEP_PERIOD_MAX;
    if (l->detach_after && l->detach_after < p)
        p = l->detach_after;
    if (l->idle_timeout && l->idle_timeout < p)
        p = l->idle_timeout;
    return p;
}

/* Reading is paused while an asynchronous step runs: the client is
 * waiting for us, not idle (as a bufferevent's read timeout stops while
 * reading is disabled). */
static bool is_waiting_for_us(const struct c2s *c)
{
    return c->busy || c->sm_paused || c->tls_pending || (c->neg && c->neg->pending_failure);
}

static void sweep_one(struct c2s *c, const struct conf_limits *l, uint32_t now)
{
    if (c->closing || c->hibernating)
        return;
    if (l->idle_timeout && now - c->last_read >= l->idle_timeout && !is_waiting_for_us(c)) {
        if (!sm_try_hibernate(c, "idle for too long"))
            c2s_close(c, "connection-timeout", "idle for too long");
        return;
    }
    if (l->detach_after && !c->watch && now - c->last_active >= l->detach_after &&
        is_detachable(c))
        detach(c);
}

/* Closing, hibernating or detaching a stream frees none (close polling
 * does, from its own timer), so the walk may go on past it. */
static void on_sweep(evutil_socket_t fd, short what, void *ud)
{
    struct server *srv = ud;
    (void)fd;
    (void)what;
    const struct conf_limits *l = &srv->conf->limits;   /* reload: read anew */
    uint32_t now = clock_s(srv);
    for (struct c2s *c = srv->conns; c; c = c->next)
        sweep_one(c, l, now);
    struct timeval tv = { sweep_period(l), 0 };
    evtimer_add(srv->c2s_sweep, &tv);
}

void c2s_sweep_start(struct server *srv)
{
    srv->c2s_sweep = evtimer_new(srv->base, on_sweep, srv);
    struct timeval tv = { sweep_period(&srv->conf->limits), 0 };
    evtimer_add(srv->c2s_sweep, &tv);
}

void c2s_close_all(struct server *srv, const char *cond, const char *text)
{
    for (struct c2s *c = srv->conns; c; c = c->next)
        c2s_close(c, cond, text);
}

void c2s_free_all(struct server *srv)
{
    if (srv->c2s_sweep) {
        event_free(srv->c2s_sweep);
        srv->c2s_sweep = NULL;
    }
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

/* channel_of() for stream features: which bindings exist, without the
 * tls-exporter computation (an HKDF expansion per <stream:features/>;
 * issue 7).  The SASL exchange itself uses channel_of(). */
static struct sasl_channel channel_types_of(struct c2s *c)
{
    struct sasl_channel ch;
    memset(&ch, 0, sizeof(ch));
    if (c->tls) {
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl)
            tls_channel_binding_types(ssl, &ch);
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

/* The FAST mechanisms usable on this channel (XEP-0484 §3.1: only over
 * TLS; -ENDP and -EXPR only with their channel-binding data). */
static size_t fast_mechanisms(const struct sasl_channel *ch, const char **names)
{
    size_t n = 0;
    if (!ch->tls)
        return 0;
    if (ch->has_endpoint)
        names[n++] = fast_mech_name(FAST_CB_ENDPOINT);
    if (ch->has_exporter)
        names[n++] = fast_mech_name(FAST_CB_EXPORTER);
    names[n++] = fast_mech_name(FAST_CB_NONE);
    return n;
}

/* XEP-0388 §2.1: the same mechanisms as SASL1, and in <inline/> what
 * <authenticate/> may carry: SM resumption (XEP-0198 §inline), Bind2
 * with the features it enables (XEP-0386 §2), FAST (XEP-0484 §3.1). */
static void put_sasl2_feature(struct c2s *c, struct buf *b, const struct sasl_channel *ch,
                              const char *const *mechs, size_t n)
{
    bool sm = sm_opts(c) != NULL;
    bool carbons = modules_instance(c->srv, c->host, "carbons") != NULL;
    buf_puts(b, "<authentication xmlns='" NS_SASL2 "'>");
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "<mechanism>%s</mechanism>", mechs[i]);
    buf_puts(b, "<inline>");
    if (sm)
        buf_puts(b, "<sm xmlns='" NS_SM "'/>");
    buf_puts(b, "<bind xmlns='" NS_BIND2 "'><inline>");
    if (carbons)
        buf_puts(b, "<feature var='" NS_CARBONS "'/>");
    if (sm)
        buf_puts(b, "<feature var='" NS_SM "'/>");
    buf_puts(b, "</inline></bind>");
    const char *fm[3];
    size_t nf = fast_mechanisms(ch, fm);
    if (nf) {
        buf_puts(b, "<fast xmlns='" NS_FAST "'>");
        for (size_t i = 0; i < nf; i++)
            buf_printf(b, "<mechanism>%s</mechanism>", fm[i]);
        buf_puts(b, "</fast>");
    }
    buf_puts(b, "</inline></authentication>");
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
            struct sasl_channel ch = channel_types_of(c);
            const char *mechs[16];
            size_t n = sasl_mechanisms(&ch, c->srv->conf->auth.allow_plain, mechs, 16);
            buf_puts(b, "<mechanisms xmlns='" NS_SASL "'>");
            for (size_t i = 0; i < n; i++)
                buf_printf(b, "<mechanism>%s</mechanism>", mechs[i]);
            buf_puts(b, "</mechanisms>");
            put_sasl2_feature(c, b, &ch, mechs, n);
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
        /* After SASL2 with Bind2 or an inline resume the session exists
         * already: no binding to offer. */
        if (!c->sess) {
            buf_puts(b, "<bind xmlns='" NS_BIND "'/>");
            /* RFC 6121 §1.4 / draft-cridland-xmpp-session: kept for old
             * clients, marked optional so new ones skip it. */
            buf_puts(b, "<session xmlns='" NS_SESSION "'><optional/></session>");
        }
        put_module_features(c, b, SF_POSTAUTH);
    }
    buf_puts(b, "</stream:features>");
    write_raw(c, b->data, b->len);
}

/* --- stream management (XEP-0198) ------------------------------------------- */

static const struct sm_options *sm_opts(struct c2s *c)
{
    const struct pl_module_ctx *m =
        c->host ? modules_instance(c->srv, c->host, "stream_management") : NULL;
    return m ? m->conf : NULL;
}

static struct sm_registry *sm_registry(struct c2s *c)
{
    const struct pl_module_ctx *m =
        c->host ? modules_instance(c->srv, c->host, "stream_management") : NULL;
    return m ? m->data : NULL;
}

static void sm_free(struct sm_state *sm, bool log_lost)
{
    for (struct sm_rec *r = sm->recs; r; r = r->next)
        r->sm = NULL;           /* their stanzas settle later: nobody to tell */
    size_t n = smq_out_len(&sm->q);
    if (n && log_lost)
        log_warn("sm %s: %zu unacknowledged stanzas discarded at shutdown", sm->id, n);
    void *p;
    while ((p = smq_out_pop(&sm->q, NULL)))
        item_unref(p);
    smq_release(&sm->q);
    free(sm->to);
    if (sm->timer)
        event_free(sm->timer);
    free(sm);
}

/* <failed/> (XEP-0198 §6): a stanza error condition, a text, and for a
 * known but ended session the count of stanzas we handled (§5). */
static void sm_failed_to(struct buf *b, const char *cond, const char *text,
                         const uint32_t *h)
{
    buf_puts(b, "<failed xmlns='" NS_SM "'");
    if (h)
        buf_printf(b, " h='%u'", (unsigned)*h);
    buf_printf(b, "><%s xmlns='" NS_STANZAS "'/>", cond);
    buf_puts(b, "<text xmlns='" NS_STANZAS "' xml:lang='en'>");
    xml_escape_text(b, text, strlen(text));
    buf_puts(b, "</text></failed>");
}

static void sm_failed(struct c2s *c, const char *cond, const char *text, const uint32_t *h)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    sm_failed_to(b, cond, text, h);
    write_raw(c, b->data, b->len);
}

static void send_a(struct c2s *c, uint32_t h)
{
    char a[64];
    snprintf(a, sizeof(a), "<a xmlns='" NS_SM "' h='%u'/>", (unsigned)h);
    write_str(c, a);
}

/* An unsignedInt (XEP-0198 §4): decimal digits, at most 2^32-1. */
static bool parse_h(const char *s, uint32_t *out)
{
    if (!s || !*s || strlen(s) > 10)
        return false;
    unsigned long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* <r/> answers that waited for holds, once the count reached them. */
static void sm_answer_waiting(struct sm_state *sm)
{
    struct c2s *c = sm->c;
    if (!sm->pending_r || (int32_t)(sm->r_target - smq_in_h(&sm->q)) > 0)
        return;
    unsigned n = sm->pending_r;
    sm->pending_r = 0;
    if (c->closing || c->hibernating)
        return;
    while (n--)
        send_a(c, smq_in_h(&sm->q));
}

static void on_settled(struct stanza *st, void *ud)
{
    struct sm_rec *r = ud;
    struct sm_state *sm = r->sm;
    (void)st;
    if (sm) {
        if (r->prev)
            r->prev->next = r->next;
        else
            sm->recs = r->next;
        if (r->next)
            r->next->prev = r->prev;
        if (smq_in_settle(&sm->q, r->seq))
            sm_answer_waiting(sm);
        struct c2s *c = sm->c;
        if (c->sm_paused && smq_in_pending(&sm->q) < SM_MAX_INFLIGHT / 2 && c->bev &&
            !c->closing) {
            c->sm_paused = false;
            bufferevent_enable(c->bev, EV_READ);
            /* Bytes already buffered raise no new read event. */
            bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
                                                  BEV_TRIG_DEFER_CALLBACKS);
            read_buffered_tls(c);
        }
    }
    free(r);
}

/* Counts an inbound stanza and learns when it is settled: the caller
 * routes it, then calls stanza_unhold(st). */
static void sm_track(struct sm_state *sm, struct stanza *st)
{
    struct sm_rec *r = pl_malloc(sizeof(*r));
    r->sm = sm;
    r->seq = smq_in_begin(&sm->q);
    r->prev = NULL;
    r->next = sm->recs;
    if (sm->recs)
        sm->recs->prev = r;
    sm->recs = r;
    stanza_on_settled(st, on_settled, r);
}

/* XEP-0203 stamp of when a stanza was first queued. */
static void add_delay(struct stanza *st, const char *from, int64_t t)
{
    if (xml_child(st->root, NS_DELAY, "delay"))
        return;
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct xml_node *d = xml_add_child(st->arena, st->root, NS_DELAY, "delay");
    xml_set_attr(st->arena, d, "from", from);
    xml_set_attr(st->arena, d, "stamp", stamp);
}

/* XEP-0198 §4: an unacknowledged stanza of an ended session is treated
 * like one sent to an unavailable resource. */
static void sm_reroute(struct c2s *c, struct stanza *st, int64_t t)
{
    const char *name = st->root->name;
    const char *type = xml_attr(st->root, "type");
    if (strcmp(name, "message") == 0) {
        /* The session is unbound: routing to its full JID follows the
         * bare-JID rules (other resources, or offline storage). */
        struct stanza *cp = stanza_copy(st);
        add_delay(cp, c->host, t);
        /* Delivered once already: archives have it (router.h). */
        router_redeliver(c->srv, cp);
        stanza_unref(cp);
        return;
    }
    if (strcmp(name, "iq") == 0 && type &&
        (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
        router_bounce(c->srv, st, "wait", "recipient-unavailable",
                      "the recipient's session ended before it received this request");
        return;
    }
    /* Presence is state (the next broadcast carries it again); IQ results
     * and errors answer nothing (RFC 6120 §8.2.3). */
    log_debug("c2s %llu: not re-routing unacknowledged %s", c->id, name);
}

/* The SM session ends: remember its id for <failed h/>, re-route what was
 * not acknowledged. */
static void sm_finish(struct c2s *c)
{
    struct sm_state *sm = c->sm;
    c->sm = NULL;
    if (sm->id[0] && c->user && c->host) {
        const struct sm_options *o = sm_opts(c);
        struct sm_registry *reg = sm_registry(c);
        if (o && reg) {
            char bare[2 * JID_PART_MAX + 2];
            snprintf(bare, sizeof(bare), "%s@%s", c->user, c->host);
            sm_registry_add(reg, bare, sm->id, smq_in_h(&sm->q), time(NULL),
                            o->max_old_sessions, o->old_session_lifetime);
        }
    }
    size_t n = smq_out_len(&sm->q);
    if (n)
        log_info("c2s %llu: session ended with %zu unacknowledged stanzas, re-routing",
                 c->id, n);
    int64_t t;
    void *p;
    while ((p = smq_out_pop(&sm->q, &t))) {
        struct stanza *st = item_stanza(sm, p);    /* a frame is rebuilt */
        sm_reroute(c, st, t);
        stanza_unref(st);
        item_unref(p);
    }
    sm_free(sm, false);
}

static void on_hibernation_end(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    if (c->closing)
        return;
    log_info("c2s %llu: hibernated session %s ended (not resumed)", c->id,
             c->sess ? c->sess->jid->full : "?");
    c2s_close(c, NULL, NULL);
}

/* XEP-0198 §7: a stream that ended without </stream:stream> keeps its
 * session for the resumption window.  The connection's memory goes now. */
static void sm_hibernate(struct c2s *c, const char *why)
{
    struct sm_state *sm = c->sm;
    const struct sm_options *o = sm_opts(c);
    unsigned max = o ? o->max_hibernated : 0;
    /* Per-account limit: the oldest hibernated session ends first. */
    for (;;) {
        size_t n = 0;
        struct c2s *oldest = NULL;
        for (struct session *s = c->sess->account->sessions; s; s = s->next) {
            struct c2s *h = s->c2s;
            if (!h->hibernating || h->closing)
                continue;
            n++;
            if (!oldest || h->sm->hibernated_at < oldest->sm->hibernated_at)
                oldest = h;
        }
        if (n < max || !oldest)
            break;
        log_info("c2s %llu: too many hibernated sessions for %s, ending the oldest",
                 oldest->id, c->sess->jid->bare);
        c2s_close(oldest, NULL, NULL);
    }
    if (max == 0) {
        c2s_close(c, NULL, NULL);
        return;
    }
    log_info("c2s %llu (%s): %s; hibernating %s for %u s", c->id, c2s_peer(c), why,
             c->sess->jid->full, sm->timeout);
    c->hibernating = true;
    c->overflow = false;
    /* Buffered presence joins the queue (resent on resume). */
    if (c->csi) {
        struct csi_state *cs = c->csi;
        c->csi = NULL;
        for (size_t i = 0; i < cs->n; i++) {
            out_stanza(c, cs->v[i]);
            stanza_unref(cs->v[i]);
        }
        free(cs->v);
        free(cs);
    }
    conn_free(c);
    if (c->xs) {
        xml_stream_free(c->xs);
        c->xs = NULL;
    }
    if (c->neg && c->neg->delay)
        event_del(c->neg->delay);
    if (c->tmo)
        event_del(c->tmo);
    sm->pending_r = 0;
    sm->r_sent = false;
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    sm->hibernated_at = (int64_t)now.tv_sec * 1000000 + now.tv_usec;
    if (!sm->timer)
        sm->timer = evtimer_new(c->srv->base, on_hibernation_end, c);
    struct timeval tv = { sm->timeout, 0 };
    evtimer_add(sm->timer, &tv);
}

/* The connection broke (EOF, error, idle): hibernate when resumable. */
static bool sm_try_hibernate(struct c2s *c, const char *why)
{
    if (!c->sm || !c->sm->id[0] || !c->sess || c->closing || c->hibernating)
        return false;
    sm_hibernate(c, why);
    return true;
}

static void sm_new_id(char *out, size_t len)
{
    unsigned char r[15];
    RAND_bytes(r, sizeof(r));
    struct buf b = BUF_INIT;
    base64_encode(&b, r, sizeof(r));
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '+' || b.data[i] == '/')
            b.data[i] = b.data[i] == '+' ? '-' : '_';
    snprintf(out, len, "%s", b.data);
    buf_release(&b);
}

static bool attr_true(const char *v)
{
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Starts stream management for the bound session of c, appending
 * <enabled/> to out (XEP-0198 §3; or inside Bind2's <bound/>, XEP-0386
 * §3.2).  §4: both counters start here. */
static void sm_enable_to(struct c2s *c, const struct xml_node *el, struct buf *out)
{
    const struct sm_options *o = sm_opts(c);
    struct sm_state *sm = pl_calloc(1, sizeof(*sm));
    sm->c = c;
    smq_init(&sm->q, 0);
    sm->max_unacked = o->max_unacked;
    bool resume = attr_true(xml_attr(el, "resume")) && o->max_hibernated > 0;
    if (resume) {
        sm->timeout = o->resume_timeout;
        uint32_t want;
        if (parse_h(xml_attr(el, "max"), &want) && want > 0 && want < sm->timeout)
            sm->timeout = want;     /* §3: the client's preferred maximum */
        sm_new_id(sm->id, sizeof(sm->id));
        buf_printf(out, "<enabled xmlns='" NS_SM "' id='%s' resume='true' max='%u'/>",
                   sm->id, sm->timeout);
    } else {
        buf_puts(out, "<enabled xmlns='" NS_SM "'/>");
    }
    c->sm = sm;
    log_debug("c2s %llu: stream management enabled%s", c->id, resume ? " (resumable)" : "");
}

static void handle_enable(struct c2s *c, struct stanza *st)
{
    if (!c->sess) {
        /* §3: only after resource binding. */
        sm_failed(c, "unexpected-request", "bind a resource before enabling stream management",
                  NULL);
        return;
    }
    if (c->sm) {
        /* §3: a second <enable/> SHOULD end the stream. */
        sm_failed(c, "unexpected-request", "stream management is already enabled", NULL);
        c2s_close(c, "policy-violation", "stream management was enabled twice");
        return;
    }
    /* §4: stanzas written before <enabled/> are not counted (nothing is
     * written between the state's creation and this write). */
    struct buf b = BUF_INIT;
    sm_enable_to(c, st->root, &b);
    write_raw(c, b.data, b.len);
    buf_release(&b);
}

/* Writes the unacknowledged queue again (after <resumed/>). */
static void sm_resend(struct c2s *c)
{
    struct sm_state *sm = c->sm;
    size_t n = smq_out_len(&sm->q);
    for (size_t i = 0; i < n && !c->overflow; i++)
        write_item(c, sm, smq_out_at(&sm->q, i)->p);
}

static bool sm_ack(struct c2s *c, struct sm_state *sm, uint32_t h)
{
    long n = smq_out_ack_count(&sm->q, h);
    if (n < 0) {
        /* §6: the peer acknowledged more than we sent. */
        uint32_t sent = sm->q.out_sent;
        char app[128], text[160];
        snprintf(app, sizeof(app),
                 "<handled-count-too-high xmlns='" NS_SM "' h='%u' send-count='%u'/>",
                 (unsigned)h, (unsigned)sent);
        snprintf(text, sizeof(text),
                 "You acknowledged %u stanzas, but I only sent you %u so far.",
                 (unsigned)h, (unsigned)sent);
        close_stream(c, "undefined-condition", app, text);
        return false;
    }
    while (n-- > 0)
        item_unref(smq_out_pop(&sm->q, NULL));
    return true;
}

/* XEP-0198 §5 resumption, standalone or inline in SASL2 (XEP-0388
 * §2.6.1): appends <resumed/> or <failed/> to out; true when the session
 * was taken over (the caller writes out, then sm_resend()).  False with
 * c->closing set when the stream ended (§6 count too high). */
static bool sm_resume_to(struct c2s *c, const struct xml_node *el, struct buf *out)
{
    if (!c->authed || c->sess || c->sm) {
        sm_failed_to(out, "unexpected-request",
                  c->authed ? "resume instead of binding a resource, not after"
                            : "authenticate first", NULL);
        return false;
    }
    const struct sm_options *opts = sm_opts(c);
    if (opts && opts->max_hibernated == 0) {
        /* §5: resumption is switched off on this host. */
        sm_failed_to(out, "feature-not-implemented", "stream resumption is disabled here",
                     NULL);
        return false;
    }
    const char *previd = xml_attr(el, "previd");
    uint32_t h;
    if (!previd || !parse_h(xml_attr(el, "h"), &h)) {
        sm_failed_to(out, "bad-request", "<resume/> needs 'previd' and a numeric 'h'", NULL);
        return false;
    }
    char bare[2 * JID_PART_MAX + 2];
    snprintf(bare, sizeof(bare), "%s@%s", c->user, c->host);
    /* Only the authenticated account's own sessions are candidates: an
     * id of another account is simply unknown. */
    struct c2s *old = NULL;
    struct account *acc = sm_account(c->srv, bare);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next) {
        struct c2s *o = s->c2s;
        if (o->sm && o->sm->id[0] && !o->closing && strcmp(o->sm->id, previd) == 0) {
            old = o;
            break;
        }
    }
    if (!old) {
        struct sm_registry *reg = sm_registry(c);
        uint32_t oh;
        if (reg && opts && sm_registry_find(reg, bare, previd, &oh, time(NULL),
                                            opts->old_session_lifetime))
            sm_failed_to(out, "item-not-found", "that session has ended", &oh);
        else
            sm_failed_to(out, "item-not-found", "no such session to resume", NULL);
        return false;
    }
    struct sm_state *sm = old->sm;
    if (smq_out_ack_count(&sm->q, h) < 0) {
        sm_ack(c, sm, h);       /* the §6 stream error, on this stream */
        return false;
    }
    /* Take the session over.  A stream still open for it gets <conflict/>
     * (§5); it must neither unbind the session nor re-route the queue. */
    struct session *s = old->sess;
    if (old->csi && !old->hibernating) {
        struct csi_state *cs = old->csi;
        old->csi = NULL;
        for (size_t i = 0; i < cs->n; i++) {
            out_stanza(old, cs->v[i]);
            stanza_unref(cs->v[i]);
        }
        free(cs->v);
        free(cs);
    }
    old->sm = NULL;
    old->sess = NULL;
    if (sm->timer)
        event_del(sm->timer);
    if (old->hibernating) {
        old->hibernating = false;
        c2s_close(old, NULL, NULL);
    } else {
        c2s_close(old, "conflict", "the session was resumed on another stream");
    }
    c->sess = s;
    s->c2s = c;
    c->sm = sm;
    sm->c = c;
    sm->pending_r = 0;
    sm->r_sent = false;
    if (sm->timer) {
        /* The timer's argument was the old stream. */
        event_free(sm->timer);
        sm->timer = NULL;
    }
    tmo_drop(c);                /* negotiation is over */
    sm_ack(c, sm, h);
    buf_printf(out, "<resumed xmlns='" NS_SM "' previd='%s' h='%u'/>", sm->id,
               (unsigned)smq_in_h(&sm->q));
    log_info("c2s %llu (%s): resumed %s, resending %zu stanzas", c->id, c2s_peer(c),
             s->jid->full, smq_out_len(&sm->q));
    return true;
}

static void handle_resume(struct c2s *c, struct stanza *st)
{
    struct buf b = BUF_INIT;
    bool ok = sm_resume_to(c, st->root, &b);
    if (!c->closing) {
        write_raw(c, b.data, b.len);
        /* §5: what the client has not handled goes again, in order. */
        if (ok)
            sm_resend(c);
    }
    buf_release(&b);
}

static void handle_sm(struct c2s *c, struct stanza *st)
{
    const char *name = st->root->name;
    if (strcmp(name, "enable") == 0) {
        if (!c->authed) {
            sm_failed(c, "unexpected-request", "authenticate first", NULL);
            return;
        }
        handle_enable(c, st);
        return;
    }
    if (strcmp(name, "resume") == 0) {
        handle_resume(c, st);
        return;
    }
    struct sm_state *sm = c->sm;
    if (!sm || (strcmp(name, "r") != 0 && strcmp(name, "a") != 0)) {
        c2s_close(c, "unsupported-stanza-type",
                  sm ? "unknown stream management element"
                     : "stream management is not enabled on this stream");
        return;
    }
    if (strcmp(name, "r") == 0) {
        /* §4: h counts only settled stanzas; with storage writes in
         * flight the answer waits for them. */
        if (smq_in_pending(&sm->q) == 0) {
            send_a(c, smq_in_h(&sm->q));
        } else {
            sm->pending_r++;
            sm->r_target = sm->q.in_recv;
        }
        return;
    }
    uint32_t h;
    if (!parse_h(xml_attr(st->root, "h"), &h)) {
        c2s_close(c, "bad-format", "<a/> needs a numeric 'h' (XEP-0198 §4)");
        return;
    }
    if (sm_ack(c, sm, h))
        sm->r_sent = false;
}

/* --- client state indication (XEP-0352) ------------------------------------ */

static void csi_free(struct c2s *c)
{
    struct csi_state *cs = c->csi;
    if (!cs)
        return;
    c->csi = NULL;
    for (size_t i = 0; i < cs->n; i++)
        stanza_unref(cs->v[i]);
    free(cs->v);
    free(cs);
}

/* Writes what was buffered, oldest first. */
static void csi_flush(struct c2s *c)
{
    struct csi_state *cs = c->csi;
    size_t n = cs->n;
    cs->n = 0;
    for (size_t i = 0; i < n; i++) {
        out_stanza(c, cs->v[i]);
        stanza_unref(cs->v[i]);
    }
}

/* While inactive: available/unavailable presence from others waits (only
 * the latest per sender full JID); anything else first flushes it, so the
 * client never sees a message before a presence change that preceded it.
 * IQs (roster pushes, requests) do not reorder against presence in any
 * way a client cares about, and go at once without flushing. */
static bool csi_hold(struct c2s *c, const struct stanza *st)
{
    struct csi_state *cs = c->csi;
    const char *name = st->root->name;
    if (strcmp(name, "iq") == 0)
        return false;
    if (strcmp(name, "presence") == 0) {
        const char *type = xml_attr(st->root, "type");
        const char *from = xml_attr(st->root, "from");
        bool state = !type || strcmp(type, "unavailable") == 0;
        bool own = from && c->sess && strcmp(from, c->sess->jid->full) == 0;
        if (state && from && !own) {
            for (size_t i = 0; i < cs->n; i++) {
                const char *f = xml_attr(cs->v[i]->root, "from");
                if (f && strcmp(f, from) == 0) {
                    stanza_unref(cs->v[i]);
                    memmove(&cs->v[i], &cs->v[i + 1], (cs->n - i - 1) * sizeof(cs->v[0]));
                    cs->n--;
                    break;
                }
            }
            if (cs->n >= cs->max)
                csi_flush(c);   /* bounded: everything goes rather than grow */
            if (cs->n == cs->cap) {
                cs->cap = cs->cap ? cs->cap * 2 : 8;
                cs->v = pl_realloc(cs->v, cs->cap * sizeof(cs->v[0]));
            }
            cs->v[cs->n++] = stanza_ref((struct stanza *)st);
            return true;
        }
    }
    csi_flush(c);
    return false;
}

static void handle_csi(struct c2s *c, struct stanza *st)
{
    const char *name = st->root->name;
    if (!c->sess) {
        c2s_close(c, "not-authorized", "bind a resource before client state indication");
        return;
    }
    if (strcmp(name, "inactive") == 0) {
        if (!c->csi) {
            const struct pl_module_ctx *m = modules_instance(c->srv, c->host, "csi");
            const struct csi_options *o = m ? m->conf : NULL;
            c->csi = pl_calloc(1, sizeof(*c->csi));
            c->csi->max = o ? o->max_buffered : 100;
        }
        return;
    }
    if (strcmp(name, "active") == 0) {
        /* §5.1: the flush happens before anything read after <active/>. */
        if (c->csi) {
            csi_flush(c);
            csi_free(c);
        }
        return;
    }
    c2s_close(c, "unsupported-stanza-type", "unknown client state indication element");
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
    if (!c->authed) {
        /* For the authorization string's check (sasl_need_creds()). */
        PL_FREE(neg_of(c)->stream_from);
        if (fj)
            neg_of(c)->stream_from = pl_strdup(fj->bare);
    }
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
    log_debug("c2s %llu (%s): client closed the stream", c->id, c2s_peer(c));
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
    /* RFC 6120 §6.4.6: after <success/> the client opens a new stream.  A
     * stanza it pipelined behind its last SASL message instead was sent on
     * the unauthenticated stream: refused as any stanza before
     * authentication is (§4.9.3.12), not as a wrong stream header. */
    const struct xml_node *root = xml_stream_root(c->xs);
    if (err == XML_ERR_INVALID_NAMESPACE && c->authed && c->state == C2S_WAIT_HEADER &&
        root && strcmp(root->name, "stream") != 0) {
        c2s_close(c, "not-authorized", "a stanza was sent before the stream restart");
        return;
    }
    c2s_close(c, cond[err], text);
}

/* --- STARTTLS (RFC 6120 §5) ----------------------------------------------- */

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

/* The TLS layer straight on the socket, as for direct TLS, instead of a
 * filter over the plaintext bufferevent: one bufferevent and two evbuffers
 * per session instead of two and four (issue 7: ~1 KiB per idle TLS
 * session).  Only when the plaintext bufferevent holds nothing more: its
 * output (<proceed/>) is written here, synchronously, and its input was
 * just emptied.  RFC 6120 §5.4.3.3: after <proceed/> the next bytes on the
 * wire are the client's ClientHello, which is still in the socket and is
 * read by the new bufferevent.  Returns NULL (nothing changed but some of
 * the output possibly written, which the filter then continues) when the
 * socket takes no more right now or failed: the caller falls back to the
 * filter, which sends the rest first.  Takes ssl over (as c->ssl) when it
 * succeeds. */
static struct bufferevent *tls_on_socket(struct c2s *c, SSL *ssl)
{
    struct bufferevent *pb = c->bev;
    evutil_socket_t fd = c->fd;
    struct evbuffer *out = bufferevent_get_output(pb);
    /* With the read shaper (limits.shaper_rate) the filter stays: the
     * socket-mode TLS bufferevent of libevent 2.1, stopped by its rate
     * limit in the middle of a TLS record, only waits for the socket when
     * the bucket refills, and the rest of the record, already inside
     * OpenSSL, would wait for the client's next bytes.  A filter reads
     * what OpenSSL holds whenever reading resumes, and the shaper on the
     * plaintext bufferevent under it counts the bytes on the wire. */
    if (c->srv->shaper || fd < 0 || evbuffer_get_length(bufferevent_get_input(pb)) > 0)
        return NULL;
    /* A socket bufferevent keeps the start of its output frozen except
     * while its own write callback drains it: do as that callback does. */
    bool flushed = true;
    evbuffer_unfreeze(out, 1);
    while (flushed && evbuffer_get_length(out) > 0)
        flushed = evbuffer_write(out, fd) > 0;  /* EAGAIN, or an error the filter reports */
    evbuffer_freeze(out, 1);
    if (!flushed)
        return NULL;
    c->ssl = ssl;
    struct bufferevent *tb = tls_bev_new(c, BUFFEREVENT_SSL_ACCEPTING);
    /* The plaintext bufferevent does not own the socket (see conn()). */
    bufferevent_disable(pb, EV_READ | EV_WRITE);
    bufferevent_free(pb);
    return tb;
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
    struct bufferevent *tb = tls_on_socket(c, ssl);
    if (!tb) {
        tb = bufferevent_openssl_filter_new(c->srv->base, c->bev, ssl,
                                            BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        c->tls_filter = tb != NULL;
    }
    if (!tb) {
        SSL_free(ssl);
        c2s_close(c, "internal-server-error", "cannot start TLS");
        return;
    }
    conn_use(c, tb);
    c->tls = true;
    bufferevent_enable(tb, EV_READ | EV_WRITE);
}

/* --- SASL (RFC 6120 §6) --------------------------------------------------- */

static void sasl_send(struct c2s *c, const char *elem, const struct buf *data)
{
    struct buf *b = &c->srv->scratch;
    buf_clear(b);
    buf_printf(b, "<%s xmlns='%s'>", elem, neg_of(c)->sasl2 ? NS_SASL2 : NS_SASL);
    if (data && data->len)
        base64_encode(b, data->data, data->len);
    buf_printf(b, "</%s>", elem);
    write_raw(c, b->data, b->len);
}

/* RFC 6120 §6.4.5; XEP-0388 §2.6.2 wraps the same condition (in the SASL
 * namespace) and a <text/> in its own <failure/>. */
static void format_failure(struct buf *b, bool sasl2, const char *cond, const char *text)
{
    if (sasl2)
        buf_printf(b, "<failure xmlns='" NS_SASL2 "'><%s xmlns='" NS_SASL "'/>", cond);
    else
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
    format_failure(b, neg_of(c)->sasl2, cond, text);
    write_raw(c, b->data, b->len);
}

/* Drops what a SASL2 exchange kept (the request, a token being issued). */
static void sasl2_reset(struct c2s *c)
{
    neg_of(c)->sasl2 = false;
    if (neg_of(c)->s2req) {
        stanza_unref(neg_of(c)->s2req);
        neg_of(c)->s2req = NULL;
    }
    neg_of(c)->fast_rotate = false;
    neg_of(c)->have_fp = false;
    if (neg_of(c)->fast_token) {
        OPENSSL_cleanse(neg_of(c)->fast_token, strlen(neg_of(c)->fast_token));
        PL_FREE(neg_of(c)->fast_token);
    }
}

static void after_failure(struct c2s *c)
{
    sasl_free(neg_of(c)->sasl);
    neg_of(c)->sasl = NULL;
    sasl2_reset(c);
    if (++neg_of(c)->sasl_attempts >= MAX_SASL_ATTEMPTS)
        c2s_close(c, "policy-violation", "too many failed authentication attempts");
}

static void on_delay(evutil_socket_t fd, short what, void *ud)
{
    struct c2s *c = ud;
    (void)fd;
    (void)what;
    if (c->closing || !neg_of(c)->pending_failure)
        return;
    write_str(c, neg_of(c)->pending_failure);
    PL_FREE(neg_of(c)->pending_failure);
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
        unsigned n = ratelimit_fail(c->srv->auth_limit, c2s_addr(c), time(NULL));
        if (n > 2)
            delay_ms = (n - 2) * 500 > 4000 ? 4000 : (n - 2) * 500;
        log_notice("c2s %llu (%s): authentication failed (%u recent failures)",
                   c->id, c2s_peer(c), n);
    }
    if (delay_ms == 0) {
        send_failure(c, cond, text);
        after_failure(c);
        return;
    }
    struct buf b = BUF_INIT;
    format_failure(&b, neg_of(c)->sasl2, cond, text);
    neg_of(c)->pending_failure = buf_detach(&b);
    bufferevent_disable(c->bev, EV_READ);
    if (!neg_of(c)->delay)
        neg_of(c)->delay = evtimer_new(c->srv->base, on_delay, c);
    struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
    evtimer_add(neg_of(c)->delay, &tv);
}

static void sasl2_success(struct c2s *c);
static void fast_issue(struct c2s *c);

static void sasl1_success(struct c2s *c)
{
    sasl_send(c, "success", &neg_of(c)->ok_data);
    /* §6.4.6: the stream restarts; the client sends a new header. */
    xml_stream_reset(c->xs);
    c->state = C2S_WAIT_HEADER;
}

/* Does the SASL2 request want a FAST token (XEP-0484 §3.2, §3.5)? */
static bool fast_wanted(struct c2s *c)
{
    if (!neg_of(c)->sasl2 || !neg_of(c)->s2req || !neg_of(c)->have_fp || !c->tls)
        return false;
    const struct xml_node *ua = xml_child(neg_of(c)->s2req->root, NS_SASL2, "user-agent");
    if (!ua || !sasl2_ua_id_valid(xml_attr(ua, "id")))
        return false;               /* §4.1: tokens are per client */
    const struct xml_node *rt = xml_child(neg_of(c)->s2req->root, NS_FAST, "request-token");
    if (rt) {
        struct sasl_channel ch = channel_of(c);
        const char *fm[3];
        size_t n = fast_mechanisms(&ch, fm);
        const char *want = xml_attr(rt, "mechanism");
        for (size_t i = 0; want && i < n; i++)
            if (strcmp(fm[i], want) == 0)
                return true;
        return false;               /* not one we offered: no token */
    }
    /* §3.6: an invalidation gets no new token unless one is requested. */
    const struct xml_node *f = xml_child(neg_of(c)->s2req->root, NS_FAST, "fast");
    if (f && attr_true(xml_attr(f, "invalidate")))
        return false;
    return neg_of(c)->fast_rotate;
}

/* The credentials are verified and the account is not banned. */
static void login_ok(struct c2s *c)
{
    log_info("c2s %llu (%s): authenticated as %s@%s (%s%s)", c->id, c2s_peer(c), neg_of(c)->ok_user,
             c->host, neg_of(c)->sasl2 ? "SASL2 " : "", neg_of(c)->sasl ? sasl_mech_name(neg_of(c)->sasl) : "FAST");
    sasl_free(neg_of(c)->sasl);
    neg_of(c)->sasl = NULL;
    c->user = neg_of(c)->ok_user;
    neg_of(c)->ok_user = NULL;
    c->authed = true;
    ratelimit_clear(c->srv->auth_limit, c2s_addr(c));
    if (!neg_of(c)->sasl2) {
        sasl1_success(c);
        buf_release(&neg_of(c)->ok_data);
        return;
    }
    if (fast_wanted(c)) {
        fast_issue(c);              /* stores the token, then sasl2_success() */
        return;
    }
    sasl2_success(c);
}

static void on_ban_checked(void *ud, bool banned, const char *reason)
{
    struct c2s *c = ud;
    if (!c->closing && !c->srv->stopping) {
        c->busy = false;
        if (banned) {
            log_notice("c2s %llu (%s): %s@%s is banned, login refused", c->id, c2s_peer(c),
                       neg_of(c)->ok_user, c->host);
            PL_FREE(neg_of(c)->ok_user);
            buf_release(&neg_of(c)->ok_data);
            /* RFC 6120 §6.5.1 (XEP-0388 §2.6.2 the same); the reason is
             * the operator's, meant for the user (admin/ban.h). */
            sasl_fail(c, "account-disabled",
                      reason && *reason ? reason : "this account is disabled", false);
        } else {
            login_ok(c);
        }
        resume_reading(c);
    }
    c2s_unref(c);
}

/* The mechanism verified the credentials: before <success/>, the ban
 * check (admin/ban.h: only now, so a ban tells nothing to someone without
 * the password).  Reading stays paused until it answers. */
static void sasl_succeed(struct c2s *c, const char *user, const struct buf *data)
{
    free(neg_of(c)->ok_user);
    neg_of(c)->ok_user = pl_strdup(user);
    buf_clear(&neg_of(c)->ok_data);
    if (data && data->len)
        buf_append(&neg_of(c)->ok_data, data->data, data->len);
    c->busy = true;
    bufferevent_disable(c->bev, EV_READ);
    c->refs++;
    ban_check(c->srv, neg_of(c)->ok_user, c->host, on_ban_checked, c);
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
    /* A step that went asynchronous again (the ban check after the
     * credentials) keeps reading paused: it resumes later. */
    if (c->closing || neg_of(c)->pending_failure || c->busy)
        return;
    struct bufferevent *bev = conn(c);
    bufferevent_enable(bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        process_input(c);
    read_buffered_tls(c);
}

/* PLAIN: PBKDF2 on the worker thread. */
static void plain_work(void *ud)
{
    /* c->neg stays while c->busy: the main thread does not free it */
    struct auth_job *j = ud;
    j->st = sasl_creds(j->c->neg->sasl, j->have_creds ? &j->creds : NULL, &j->reply);
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
    if (c->closing || !neg_of(c)->sasl) {
        c2s_unref(c);
        free(j);
        return;
    }
    if (res->status == STORE_OK && sasl_creds_decode(res->value, &j->creds) == 0) {
        j->have_creds = true;
        /* FAST tokens are bound to these credentials (stream/fast.h). */
        fast_creds_fp(res->value, neg_of(c)->creds_fp);
        neg_of(c)->have_fp = true;
    } else if (res->status != STORE_NOT_FOUND) {
        log_error("c2s %llu: cannot load credentials of %s@%s", c->id, j->user, c->host);
        c->busy = false;
        sasl_fail(c, "temporary-auth-failure", "the account store is unavailable", false);
        resume_reading(c);
        c2s_unref(c);
        free(j);
        return;
    }
    if (sasl_is_plain(neg_of(c)->sasl)) {
        store_work(c->srv->store, plain_work, plain_done, j);
        return;                 /* j and the reference go to plain_done */
    }
    c->busy = false;
    j->st = sasl_creds(neg_of(c)->sasl, j->have_creds ? &j->creds : NULL, &j->reply);
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
    const char *authzid = sasl_authzid(neg_of(c)->sasl);
    if (jid_prep_local(sasl_username(neg_of(c)->sasl), j->user) < 0) {
        free(j);
        sasl_fail(c, "not-authorized", "invalid credentials", true);
        return;
    }
    if (authzid && *authzid) {
        /* RFC 6120 §6.3.8: only the account's own bare JID may be asked.
         * XEP-0388 §4.4: in SASL2 it MUST also match the stream header's
         * 'from', if there was one (both compared normalized, RFC 7622). */
        struct jid *az = jid_parse(authzid);
        bool own = az && !az->resource && az->local &&
                   strcmp(az->local, j->user) == 0 && strcmp(az->domain, c->host) == 0;
        const char *sfrom = neg_of(c)->stream_from;
        if (own && neg_of(c)->sasl2 && sfrom && strcmp(sfrom, az->bare) != 0)
            own = false;
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
        if (jid_prep_local(sasl_username(neg_of(c)->sasl), user) < 0) {
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

/* The address is locked out after too many failed logins: answers
 * <temporary-auth-failure/> (SASL1 or SASL2, whichever is under way) and
 * returns true. */
static bool refuse_if_locked_out(struct c2s *c)
{
    unsigned locked = ratelimit_locked(c->srv->auth_limit, c2s_addr(c), time(NULL));
    if (!locked)
        return false;
    char text[128];
    snprintf(text, sizeof(text),
             "too many failed authentication attempts; try again in %u seconds", locked);
    send_failure(c, "temporary-auth-failure", text);
    after_failure(c);
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
        if (neg_of(c)->sasl) {
            sasl_free(neg_of(c)->sasl);
            neg_of(c)->sasl = NULL;
        }
        sasl2_reset(c);
        if (refuse_if_locked_out(c))
            return;
        const char *mech = xml_attr(st->root, "mechanism");
        struct sasl_channel ch = channel_of(c);
        neg_of(c)->sasl = mech ? sasl_new(mech, &ch, c->srv->conf->auth.allow_plain) : NULL;
        if (!neg_of(c)->sasl) {
            sasl_fail(c, "invalid-mechanism", "that mechanism is not offered here", false);
            return;
        }
        sasl_set_secret(neg_of(c)->sasl, c->srv->secret, sizeof(c->srv->secret));
    } else if (strcmp(name, "response") == 0) {
        if (!neg_of(c)->sasl || neg_of(c)->sasl2) {
            sasl_fail(c, "malformed-request", "no SASL1 authentication in progress", false);
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
    enum sasl_status s = sasl_step(neg_of(c)->sasl, (const uint8_t *)in.data, in.len, &r);
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
        if (++neg_of(c)->bind_attempts >= MAX_BIND_ATTEMPTS)
            c2s_close(c, "policy-violation", "too many failed bind attempts");
        return;
    }
    c->sess = sm_bind(c->srv, c, jid);
    tmo_drop(c);                /* negotiation is over */
    log_info("c2s %llu (%s): bound %s", c->id, c2s_peer(c), c->sess->jid->full);

    struct stanza *reply = iq_result_to_self(st);
    struct arena *ra = reply->arena;
    struct xml_node *b = xml_add_child(ra, reply->root, NS_BIND, "bind");
    xml_add_text_child(ra, b, NS_BIND, "jid", c->sess->jid->full);
    c2s_send(c, reply);
    stanza_unref(reply);
}

/* --- SASL2 (XEP-0388), Bind2 (XEP-0386), FAST (XEP-0484) -------------------- */

/* XEP-0386 §3.2: binds a resource "[tag]/[hex]" (stable per client, see
 * below) and enables what the <bind/> asks for inline; appends <bound/>
 * to out.  Offline messages are NOT purged here (the Bind2 rule, see the
 * top of this file). */
static void bind2(struct c2s *c, const struct xml_node *bind, struct buf *out)
{
    struct arena *a = neg_of(c)->s2req->arena;
    const struct xml_node *tn = xml_child(bind, NS_BIND2, "tag");
    const char *tag = tn ? xml_text(a, tn) : NULL;
    /* §3.2: a client that says who it is (its SASL2 user-agent id) gets
     * the same resource every time, so this bind ends its earlier session
     * (sm_bind(): the newer one wins); others get a random one. */
    const struct xml_node *uan = xml_child(neg_of(c)->s2req->root, NS_SASL2, "user-agent");
    const char *ua = uan ? xml_attr(uan, "id") : NULL;
    uint8_t r[6];
    if (sasl2_ua_id_valid(ua))
        bind2_stable_part(c->srv->secret, c->user, c->host, ua, r, sizeof(r));
    else
        RAND_bytes(r, sizeof(r));
    char res[BIND2_TAG_MAX + 2 + 2 * sizeof(r) + 1];
    bind2_resource(tag, r, sizeof(r), res, sizeof(res));
    struct jid *jid = jid_make(c->user, c->host, res);
    if (!jid) {
        /* A tag the OpaqueString profile refuses: the random part alone. */
        bind2_resource(NULL, r, sizeof(r), res, sizeof(res));
        jid = jid_make(c->user, c->host, res);
    }
    PL_ASSERT(jid);
    c->sess = sm_bind(c->srv, c, jid);
    tmo_drop(c);                /* negotiation is over */
    log_info("c2s %llu (%s): bound %s (Bind2)", c->id, c2s_peer(c), c->sess->jid->full);
    buf_puts(out, "<bound xmlns='" NS_BIND2 "'>");
    for (const struct xml_node *ch = bind->children; ch; ch = ch->next) {
        if (ch->kind != XML_ELEMENT)
            continue;
        if (xml_is(ch, NS_SM, "enable") && sm_opts(c) && !c->sm) {
            sm_enable_to(c, ch, out);
        } else if (xml_is(ch, NS_CARBONS, "enable")) {
            const struct pl_module_ctx *m = modules_instance(c->srv, c->host, "carbons");
            if (m)
                carbons_enable_session(m, c->sess->jid->full);
        }
        /* Other features were not offered in <inline/>: §3.2 gives no
         * answer for those, they are simply not enabled. */
    }
    buf_puts(out, "</bound>");
}

/* XEP-0388 §2.6.1: <success/> with the mechanism's data, the identity,
 * the inline results; then the features, with no stream restart. */
static void sasl2_success(struct c2s *c)
{
    struct buf out = BUF_INIT, inl = BUF_INIT;
    const struct xml_node *req = neg_of(c)->s2req->root;
    bool resumed = false;
    const struct xml_node *resume = xml_child(req, NS_SM, "resume");
    if (resume && sm_opts(c)) {
        resumed = sm_resume_to(c, resume, &inl);
        if (c->closing)
            goto done;
    }
    const struct xml_node *bind = xml_child(req, NS_BIND2, "bind");
    /* XEP-0386 §3.2: a successful resume skips the bind; a failed one is
     * reported (above) and the bind proceeds. */
    if (!resumed && bind)
        bind2(c, bind, &inl);
    buf_puts(&out, "<success xmlns='" NS_SASL2 "'>");
    if (neg_of(c)->ok_data.len) {
        buf_puts(&out, "<additional-data>");
        base64_encode(&out, neg_of(c)->ok_data.data, neg_of(c)->ok_data.len);
        buf_puts(&out, "</additional-data>");
    }
    char bare[2 * JID_PART_MAX + 2];
    snprintf(bare, sizeof(bare), "%s@%s", c->user, c->host);
    buf_puts(&out, "<authorization-identifier>");
    const char *id = c->sess ? c->sess->jid->full : bare;
    xml_escape_text(&out, id, strlen(id));
    buf_puts(&out, "</authorization-identifier>");
    if (inl.len)
        buf_append(&out, inl.data, inl.len);
    if (neg_of(c)->fast_token) {
        char when[32];
        ban_time_format(neg_of(c)->fast_expiry, when);
        buf_printf(&out, "<token xmlns='" NS_FAST "' expiry='%s' token='%s'/>", when,
                   neg_of(c)->fast_token);
    }
    buf_puts(&out, "</success>");
    write_raw(c, out.data, out.len);
    OPENSSL_cleanse(out.data, out.len);
    send_features(c);
    if (resumed)
        sm_resend(c);           /* XEP-0198 §5, after <success/> */
done:
    buf_release(&out);
    buf_release(&inl);
    buf_release(&neg_of(c)->ok_data);
    sasl2_reset(c);
}

/* A FAST job: token storage round trips, holding a c2s reference. */
struct fast_job {
    struct c2s *c;
    char user[JID_PART_MAX + 1];
    char ua[UA_ID_MAX + 1];
    enum fast_cb mech;          /* auth: the mechanism used; issue: requested */
    uint8_t cb[SASL_KEY_MAX];
    size_t cblen;
    uint8_t hmac[FAST_HMAC_LEN];
    bool has_count, invalidate, issue;
    uint32_t count;
    struct fast_rec rec;
    char token[FAST_TOKEN_MAX];
};

static void fast_job_end(struct fast_job *j)
{
    struct c2s *c = j->c;
    OPENSSL_cleanse(j, sizeof(*j));
    free(j);
    c2s_unref(c);
}

static void fast_issue_stored(const struct store_result *res, void *ud)
{
    struct fast_job *j = ud;
    struct c2s *c = j->c;
    if (!c->closing && !c->srv->stopping) {
        c->busy = false;
        if (res->status == STORE_OK) {
            neg_of(c)->fast_token = pl_strdup(j->token);
            neg_of(c)->fast_expiry = j->rec.slot_new.expiry;
        } else {
            /* The login stands; only the token is missing (the client
             * keeps its password path). */
            log_error("c2s %llu: cannot store a FAST token for %s@%s", c->id, c->user,
                      c->host);
        }
        sasl2_success(c);
        resume_reading(c);
    }
    fast_job_end(j);
}

/* The user's FAST record arrived for job j: false (and the job ended) when
 * its stream is gone; else j->rec holds the record, empty when there was
 * none or it did not decode. */
static bool fast_job_loaded(struct fast_job *j, const struct store_result *res)
{
    if (j->c->closing || j->c->srv->stopping) {
        fast_job_end(j);
        return false;
    }
    if (res->status != STORE_OK || fast_rec_decode(res->value, &j->rec) < 0)
        memset(&j->rec, 0, sizeof(j->rec));
    return true;
}

static void fast_issue_loaded(const struct store_result *res, void *ud)
{
    struct fast_job *j = ud;
    struct c2s *c = j->c;
    if (!fast_job_loaded(j, res))
        return;
    /* §3.5: a new token goes to the 'new' slot; one issued before and
     * never used is replaced (SHOULD invalidate). */
    struct fast_slot *s = &j->rec.slot_new;
    memset(s, 0, sizeof(*s));
    s->present = true;
    s->mech = j->mech;
    RAND_bytes(s->nonce, sizeof(s->nonce));
    s->expiry = (int64_t)time(NULL) + c->srv->conf->auth.fast_lifetime;
    memcpy(s->fp, neg_of(c)->creds_fp, FAST_FP_LEN);
    char bare[2 * JID_PART_MAX + 2];
    snprintf(bare, sizeof(bare), "%s@%s", c->user, c->host);
    fast_token_derive(c->srv->secret, sizeof(c->srv->secret), bare, s->nonce, j->token);
    char *v = fast_rec_encode(&j->rec);
    store_kv_set(c->srv->store, c->user, c->host, FAST_KV_AREA, j->ua, v, strlen(v),
                 fast_issue_stored, j);
    free(v);
}

/* Mints a token (after a successful login, XEP-0484 §3.3) and stores it
 * before <success/> carries it. */
static void fast_issue(struct c2s *c)
{
    struct fast_job *j = pl_calloc(1, sizeof(*j));
    j->c = c;
    const struct xml_node *req = neg_of(c)->s2req->root;
    snprintf(j->ua, sizeof(j->ua), "%s",
             xml_attr(xml_child(req, NS_SASL2, "user-agent"), "id"));
    const struct xml_node *rt = xml_child(req, NS_FAST, "request-token");
    const char *mech = rt ? xml_attr(rt, "mechanism") : xml_attr(req, "mechanism");
    j->mech = fast_mech_cb(mech);
    PL_ASSERT(j->mech != FAST_CB_INVALID);
    c->refs++;
    c->busy = true;
    bufferevent_disable(c->bev, EV_READ);
    store_kv_get(c->srv->store, c->user, c->host, FAST_KV_AREA, j->ua, fast_issue_loaded, j);
}

static void fast_auth_stored(const struct store_result *res, void *ud)
{
    struct fast_job *j = ud;
    struct c2s *c = j->c;
    if (!c->closing && !c->srv->stopping) {
        c->busy = false;
        if (res->status != STORE_OK) {
            sasl_fail(c, "temporary-auth-failure", "the token store is unavailable", false);
        } else {
            struct buf data = BUF_INIT;
            uint8_t mac[FAST_HMAC_LEN];
            /* The draft's mutual authentication: the server proves it
             * knows the token too. */
            fast_ht_hmac(j->token, "Responder", j->cb, j->cblen, mac);
            buf_append(&data, mac, sizeof(mac));
            sasl_succeed(c, j->user, &data);
            buf_release(&data);
        }
        resume_reading(c);
    }
    fast_job_end(j);
}

static void fast_rec_loaded(const struct store_result *res, void *ud)
{
    struct fast_job *j = ud;
    struct c2s *c = j->c;
    if (!fast_job_loaded(j, res))
        return;
    char bare[2 * JID_PART_MAX + 2];
    snprintf(bare, sizeof(bare), "%s@%s", j->user, c->host);
    int64_t now = (int64_t)time(NULL);
    enum fast_verdict v = fast_check(&j->rec, c->srv->secret, sizeof(c->srv->secret), bare,
                                     j->mech, j->cb, j->cblen, j->hmac, neg_of(c)->creds_fp, now,
                                     j->has_count, j->count);
    if (v == FAST_BAD || v == FAST_REPLAY || v == FAST_EXPIRED) {
        c->busy = false;
        if (v == FAST_EXPIRED)
            /* §4.2: the client falls back to its password. */
            sasl_fail(c, "credentials-expired", "the token has expired or was revoked",
                      true);
        else
            sasl_fail(c, "not-authorized", "invalid token", true);
        resume_reading(c);
        fast_job_end(j);
        return;
    }
    /* §5.1: a 'new' token used becomes 'cur' (the older one dies). */
    if (v == FAST_OK_NEW) {
        j->rec.slot_cur = j->rec.slot_new;
        memset(&j->rec.slot_new, 0, sizeof(j->rec.slot_new));
    }
    struct fast_slot *s = &j->rec.slot_cur;
    if (j->has_count)
        s->count = j->count;
    fast_token_derive(c->srv->secret, sizeof(c->srv->secret), bare, s->nonce, j->token);
    if (j->invalidate)
        memset(s, 0, sizeof(*s));      /* §3.6 */
    else if (s->expiry - now < (int64_t)c->srv->conf->auth.fast_lifetime / 2)
        neg_of(c)->fast_rotate = true;         /* §3.5: auth.fast_lifetime */
    char *val = fast_rec_encode(&j->rec);
    store_kv_set(c->srv->store, j->user, c->host, FAST_KV_AREA, j->ua, val, strlen(val),
                 fast_auth_stored, j);
    free(val);
}

static void fast_creds_loaded(const struct store_result *res, void *ud)
{
    struct fast_job *j = ud;
    struct c2s *c = j->c;
    if (c->closing || c->srv->stopping) {
        fast_job_end(j);
        return;
    }
    if (res->status != STORE_OK) {
        c->busy = false;
        if (res->status == STORE_NOT_FOUND)
            sasl_fail(c, "not-authorized", "invalid token", true);
        else
            sasl_fail(c, "temporary-auth-failure", "the account store is unavailable", false);
        resume_reading(c);
        fast_job_end(j);
        return;
    }
    fast_creds_fp(res->value, neg_of(c)->creds_fp);
    neg_of(c)->have_fp = true;
    store_kv_get(c->srv->store, j->user, c->host, FAST_KV_AREA, j->ua, fast_rec_loaded, j);
}

/* XEP-0484 §3.4: <authenticate mechanism='HT-SHA-256-*'> with the token's
 * HMAC as initial response (one round trip, no challenge). */
static void fast_auth(struct c2s *c, const struct xml_node *req, enum fast_cb mech)
{
    struct sasl_channel ch = channel_of(c);
    const char *fm[3];
    size_t n = fast_mechanisms(&ch, fm), i;
    for (i = 0; i < n && strcmp(fm[i], fast_mech_name(mech)) != 0; i++)
        ;
    if (i == n) {
        sasl_fail(c, "invalid-mechanism", "that mechanism is not offered here", false);
        return;
    }
    const struct xml_node *ua = xml_child(req, NS_SASL2, "user-agent");
    const char *uaid = ua ? xml_attr(ua, "id") : NULL;
    if (!sasl2_ua_id_valid(uaid)) {
        sasl_fail(c, "not-authorized",
                  "FAST needs the <user-agent/> id the token was issued to (XEP-0484 §4.1)",
                  false);
        return;
    }
    const struct xml_node *ir = xml_child(req, NS_SASL2, "initial-response");
    struct buf in = BUF_INIT;
    char *authcid = NULL;
    struct fast_job *j = pl_calloc(1, sizeof(*j));
    if (!ir || sasl2_b64_decode(&in, xml_text(neg_of(c)->s2req->arena, ir)) < 0 ||
        fast_ht_parse((const uint8_t *)in.data, in.len, &authcid, j->hmac) < 0 ||
        jid_prep_local(authcid, j->user) < 0) {
        buf_release(&in);
        free(authcid);
        free(j);
        sasl_fail(c, "malformed-request", "an HT initial response is authcid NUL HMAC",
                  false);
        return;
    }
    buf_release(&in);
    free(authcid);
    j->c = c;
    j->mech = mech;
    snprintf(j->ua, sizeof(j->ua), "%s", uaid);
    if (mech == FAST_CB_ENDPOINT) {
        memcpy(j->cb, ch.endpoint, ch.endpoint_len);
        j->cblen = ch.endpoint_len;
    } else if (mech == FAST_CB_EXPORTER) {
        memcpy(j->cb, ch.exporter, sizeof(ch.exporter));
        j->cblen = sizeof(ch.exporter);
    }
    const struct xml_node *f = xml_child(req, NS_FAST, "fast");
    j->invalidate = f && attr_true(xml_attr(f, "invalidate"));
    j->has_count = f && xml_attr(f, "count") && parse_h(xml_attr(f, "count"), &j->count);
    if (f && xml_attr(f, "count") && !j->has_count) {
        free(j);
        sasl_fail(c, "malformed-request", "'count' must be an unsigned integer", false);
        return;
    }
    c->refs++;
    c->busy = true;
    bufferevent_disable(c->bev, EV_READ);
    store_account_get(c->srv->store, j->user, c->host, fast_creds_loaded, j);
}

static void handle_sasl2(struct c2s *c, struct stanza *st)
{
    const char *name = st->root->name;
    if (c->authed) {
        c2s_close(c, "unsupported-stanza-type", "already authenticated");
        return;
    }
    neg_of(c)->sasl2 = true;            /* failures below use XEP-0388 framing */
    if (!sasl_allowed(c)) {
        send_failure(c, "encryption-required", "STARTTLS is required on this port");
        neg_of(c)->sasl2 = false;
        return;
    }
    if (strcmp(name, "abort") == 0) {
        send_failure(c, "aborted", NULL);
        after_failure(c);
        return;
    }
    struct buf in = BUF_INIT;
    if (strcmp(name, "authenticate") == 0) {
        if (neg_of(c)->sasl) {
            sasl_free(neg_of(c)->sasl);
            neg_of(c)->sasl = NULL;
        }
        sasl2_reset(c);
        neg_of(c)->sasl2 = true;
        neg_of(c)->s2req = stanza_ref(st);
        if (refuse_if_locked_out(c))
            return;
        const char *mech = xml_attr(st->root, "mechanism");
        enum fast_cb fm = fast_mech_cb(mech);
        if (fm != FAST_CB_INVALID) {
            fast_auth(c, st->root, fm);
            return;
        }
        struct sasl_channel ch = channel_of(c);
        neg_of(c)->sasl = mech ? sasl_new(mech, &ch, c->srv->conf->auth.allow_plain) : NULL;
        if (!neg_of(c)->sasl) {
            /* §2.3: a mechanism not announced fails the authentication. */
            sasl_fail(c, "invalid-mechanism", "that mechanism is not offered here", false);
            return;
        }
        sasl_set_secret(neg_of(c)->sasl, c->srv->secret, sizeof(c->srv->secret));
        const struct xml_node *ir = xml_child(st->root, NS_SASL2, "initial-response");
        if (ir && sasl2_b64_decode(&in, xml_text(st->arena, ir)) < 0) {
            buf_release(&in);
            sasl_fail(c, "incorrect-encoding", "invalid base64", false);
            return;
        }
    } else if (strcmp(name, "response") == 0) {
        if (!neg_of(c)->sasl || !neg_of(c)->s2req) {
            sasl_fail(c, "malformed-request", "no SASL2 authentication in progress", false);
            return;
        }
        if (sasl2_b64_decode(&in, xml_text(st->arena, st->root)) < 0) {
            buf_release(&in);
            sasl_fail(c, "incorrect-encoding", "invalid base64", false);
            return;
        }
    } else {
        /* §2.4: anything else during authentication ends the stream. */
        c2s_close(c, "unsupported-stanza-type", "unknown SASL2 element");
        return;
    }
    struct sasl_reply r;
    memset(&r, 0, sizeof(r));
    enum sasl_status s = sasl_step(neg_of(c)->sasl, (const uint8_t *)in.data, in.len, &r);
    buf_release(&in);
    sasl_result(c, s, &r);
    buf_release(&r.data);
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
    return c->names;
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
    if (strcmp(ns, NS_SASL2) == 0) {
        handle_sasl2(c, st);
        goto out;
    }
    /* XEP-0198 and XEP-0352 elements, where the modules are enabled
     * (elsewhere they are unknown: unsupported-stanza-type below). */
    if (strcmp(ns, NS_SM) == 0 && sm_opts(c)) {
        handle_sm(c, st);
        goto out;
    }
    if (strcmp(ns, NS_CSI) == 0 && c->host && modules_instance(c->srv, c->host, "csi")) {
        handle_csi(c, st);
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
    /* XEP-0198: counted; settled once every hold (storage writes started
     * while routing it) is released.  The hold taken here ends below. */
    bool tracked = c->sm != NULL;
    if (tracked)
        sm_track(c->sm, st);
    struct xml_node *child = xml_child(root, NULL, NULL);
    if (strcmp(root->name, "iq") == 0 && child && xml_is(child, NS_SESSION, "session"))
        send_session_result(c, st);
    else if (strcmp(root->name, "iq") == 0 && child && xml_is(child, NS_BIND, "bind"))
        send_iq_error(c, st, "cancel", "not-allowed", "a resource is already bound");
    else
        handle_stanza(c, st);
    if (tracked)
        stanza_unhold(st);
out:
    /* An asynchronous SASL step started (c->busy, or a failure waiting for
     * its delay): what the client pipelined behind this element stays in
     * the input buffer until the step has answered (resume_reading()), to
     * be read by the restarted stream after <success/> (RFC 6120 §6.4.6,
     * a pipelined stream header as in XEP-0305), else by this one. */
    if (!c->closing && (c->busy || (c->neg && c->neg->pending_failure)))
        xml_stream_pause(c->xs);
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
    char chunk[16384];
    c->refs++;                  /* c2s_close() inside must not free us */
    while (!c->closing && !c->tls_pending && !c->busy &&
           !(c->neg && c->neg->pending_failure)) {
        if (c->sm && smq_in_pending(&c->sm->q) >= SM_MAX_INFLIGHT) {
            /* Storage is behind: stop reading until stanzas settle. */
            c->sm_paused = true;
            bufferevent_disable(c->bev, EV_READ);
            break;
        }
        struct evbuffer *in = bufferevent_get_input(c->bev);
        size_t n = evbuffer_get_length(in);
        if (n == 0)
            break;
        if (n > sizeof(chunk))
            n = sizeof(chunk);
        evbuffer_copyout(in, chunk, n);
        /* Only what the parser used goes: after a pause (on_stanza()) the
         * rest waits in the buffer for the end of the asynchronous step. */
        size_t used = n;
        xml_stream_feed_some(c->xs, chunk, n, &used);
        if (!c->bev)
            break;
        evbuffer_drain(bufferevent_get_input(c->bev), used);
    }
    if (c->tls_pending && !c->closing)
        start_tls(c);
    /* Principle 4: an idle bound session keeps no parser and no
     * negotiation state (nothing asynchronous may still use it). */
    if (c->sess && !c->closing) {
        xml_stream_compact(c->xs);
        if (!c->busy)
            neg_free(c);
    }
    c2s_unref(c);
}

/* Nothing but whitespace: a keepalive (RFC 6120 §4.6.1). */
static bool only_whitespace(struct evbuffer *in)
{
    struct evbuffer_iovec v[4];
    int n = evbuffer_peek(in, -1, NULL, v, 4);
    if (n <= 0 || n > 4)
        return false;
    for (int i = 0; i < n; i++) {
        const char *p = v[i].iov_base;
        for (size_t j = 0; j < v[i].iov_len; j++)
            if (p[j] != ' ' && p[j] != '\t' && p[j] != '\r' && p[j] != '\n')
                return false;
    }
    return true;
}

static void on_read(struct bufferevent *bev, void *ud)
{
    struct c2s *c = ud;
    /* A keepalive says the client is there, not that the stream is busy:
     * it keeps the idle timeout away but not detaching, and a stream that
     * was at rest before it goes back to rest at once instead of holding
     * a bufferevent until the next sweep (with keepalives every 30 s and
     * detach_after 10 s, a third of idle streams would hold one). */
    bool keepalive = only_whitespace(bufferevent_get_input(bev));
    uint32_t now = clock_s(c->srv);
    c->last_read = now;
    if (!keepalive)
        c->last_active = now;
    process_input(c);
    unsigned after = c->srv->conf->limits.detach_after;
    if (keepalive && after && c->bev && now - c->last_active >= after && is_detachable(c))
        detach(c);
    read_buffered_tls(c);
}

static void on_event(struct bufferevent *bev, short what, void *ud)
{
    struct c2s *c = ud;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        /* The handshake is done; the client's first bytes may have come
         * with its last handshake record. */
        read_buffered_tls(c);
        return;
    }
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
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (what & BEV_EVENT_ERROR) {
            unsigned long e = bufferevent_get_openssl_error(c->bev);
            if (e) {
                char msg[256];
                ERR_error_string_n(e, msg, sizeof(msg));
                log_info("c2s %llu (%s): TLS error: %s", c->id, c2s_peer(c), msg);
            }
        }
        log_debug("c2s %llu (%s): connection closed by peer", c->id, c2s_peer(c));
        /* XEP-0198 §7: no </stream:stream>, the session may resume. */
        if (sm_try_hibernate(c, "connection lost"))
            return;
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
    char peer[INET6_ADDRSTRLEN + 8];
    snprintf(peer, sizeof(peer), "%s:%u", ip, port);
    size_t il = strlen(ip) + 1, pl = strlen(peer) + 1;
    c->names = pl_malloc(il + pl);
    memcpy(c->names, ip, il);
    memcpy(c->names + il, peer, pl);
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
    c->fd = fd;
    c->last_read = c->last_active = clock_s(srv);

    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;

    if (c->direct_tls && !srv->shaper) {
        c->ssl = tls_ssl_new(srv->tls);
        conn_use(c, tls_bev_new(c, BUFFEREVENT_SSL_ACCEPTING));
        c->tls = true;
    } else {
        /* The read shaper goes on the plaintext socket bufferevent: TLS
         * over it is a filter (see tls_on_socket() for why). */
        struct bufferevent *bev = socket_bev_new(c);
        if (c->direct_tls) {
            SSL *ssl = tls_ssl_new(srv->tls);
            struct bufferevent *tb = bufferevent_openssl_filter_new(
                srv->base, bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
            /* Only fails on out-of-memory (ssl is then freed). */
            PL_ASSERT(tb != NULL);
            bev = tb;
            c->tls = true;
            c->tls_filter = true;
        }
        conn_use(c, bev);
    }
    c->xs = xml_stream_new(&(struct xml_limits){ conf->limits.max_stanza_size,
                                                 conf->limits.max_depth,
                                                 conf->limits.max_attrs },
                           &parser_cb, c);
    xml_stream_use_pool(c->xs, srv->xml_pool);
    c->tmo = evtimer_new(srv->base, on_negotiation_timeout, c);
    struct timeval tv = { conf->limits.negotiation_timeout, 0 };
    evtimer_add(c->tmo, &tv);
    log_debug("c2s %llu: connection from %s", c->id, c2s_peer(c));

    unsigned max = conf->limits.max_connections_per_ip;
    /* With no limit there is nothing to count: the per-address entry
     * (its key and table slot, ~200 bytes per client address) is only
     * kept when max_connections_per_ip is set (principle 4). */
    unsigned n = 0;
    if (max) {
        n = ratelimit_conn_inc(srv->conn_limit, c2s_addr(c));
        c->counted = true;
    }
    if (max && n > max) {
        log_notice("c2s %llu: refusing %s: %u connections from that address", c->id,
                   c2s_peer(c), n);
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
