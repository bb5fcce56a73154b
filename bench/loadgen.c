/*
 * loadgen.c - an XMPP load generator for Parley, ejabberd and Prosody
 * (issue 7).  A real client on libevent: TCP, STARTTLS or direct TLS,
 * SASL SCRAM-SHA-1, resource binding, roster get, initial presence, then a
 * scenario.  One process, one loop; run several processes (one per core)
 * for more load.  Source addresses are spread over 127.0.0.0/8 so that
 * ephemeral ports never run out at tens of thousands of connections.
 *
 * Scenarios (--scenario):
 *   register  XEP-0077 in-band registration of the users (bench setup)
 *   login     full logins, --rate per second, each connection closed once
 *             online; prints logins/s and login latency percentiles
 *   idle      --conns sessions logged in and kept with whitespace
 *             keepalives until --duration ends (memory per session)
 *   chat      --conns sessions in pairs send each other messages at a
 *             total of --rate per second; prints delivered/s and latency;
 *             sending stops after --duration, then the run drains (up to
 *             5 s) so that received can be compared with sent
 *   roster    bench setup for the presence storm: --users sessions in
 *             cliques of --contacts + 1 subscribe to each other (RFC 6121
 *             §3.1: subscribe, auto-approved with subscribed) so that each
 *             roster holds --contacts items with subscription 'both'; at
 *             most --window requests await their approval at once; 30 s
 *             without a new approval ends the run ('stalled'), and so does
 *             a rate at which the setup would not finish within --duration
 *             ('projected_s', judged after 30 s of it)
 *   storm     --users sessions with those rosters log in together (at
 *             --rate, --concurrency in flight at most); counts the available
 *             presences they receive from their contacts
 *   send      --conns senders send --messages messages in total to the
 *             offline accounts --to-first .. --to-first + --to-count - 1
 *             (bare JIDs: the server stores them, XEP-0160)
 *   recv      --conns recipients log in and count delivered messages until
 *             --expect arrived or --duration ended
 *   muc       MUC fan-out (XEP-0045): --conns occupants join one room
 *             (--room); the first creates it (§10.1: status 201, then the
 *             owner's configuration form unlocks it) and the others join
 *             once it is configured, asking for no history (§7.2.14
 *             maxstanzas='0'); once every occupant has its self-presence
 *             (status 110) and the presence broadcasts have settled,
 *             --senders occupants send --rate groupchat messages/s in total
 *             for --duration s, then the run drains (up to 60 s).  Every
 *             occupant counts the messages and their latency; the sender's
 *             own reflected copy is counted apart ('echoes').
 *
 * The result is one JSON object on stdout (--json) or a short table.
 * Parsing uses Parley's own stream parser (pl_xml): the load generator
 * links no server code beyond it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/mem.h"
#include "xml/xml.h"

#define NS_TLS      "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL     "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND     "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_REGISTER "jabber:iq:register"
#define NS_MUC      "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define MUC_SETTLE_S 2.0        /* after the last join, before sending */
#define MUC_DRAIN_S 60.0        /* at most, after sending stopped: a server
                                 * that falls behind gets time to catch up */

enum scenario { SC_REGISTER, SC_LOGIN, SC_IDLE, SC_CHAT, SC_ROSTER, SC_STORM, SC_SEND, SC_RECV,
                SC_MUC, SC_RELAY };
/* chat: which half of the traffic this process does (see --role). */
enum role { ROLE_BOTH, ROLE_SEND, ROLE_RECV };
#define CHAT_DRAIN_S 5.0        /* chat: at most, after sending stopped */
#define VERIFY_WAIT_S 30.0      /* idle: at most, for the final ping answers */
#define ROSTER_STALL_S 30.0     /* roster: no approval for this long ends the run */
#define ROSTER_PROJECT_S 30.0   /* roster: setup time after which the rate is judged */
enum tls_mode { TLS_NONE, TLS_STARTTLS, TLS_DIRECT };

enum conn_state {
    CS_CONNECTING,
    CS_FEATURES1,           /* first features: starttls or mechanisms */
    CS_PROCEED,
    CS_FEATURES2,           /* after TLS: mechanisms (and register) */
    CS_REGISTER,
    CS_CHALLENGE,
    CS_SUCCESS,
    CS_FEATURES3,           /* after SASL: bind */
    CS_BIND,
    CS_ROSTER,
    CS_ONLINE,
    CS_DONE,
};

struct opts {
    const char *ip;
    int port;
    const char *domain;
    const char *user_prefix;    /* accounts are <prefix><number> */
    const char *password;
    int first_user;
    int users;                  /* number of distinct accounts */
    int conns;                  /* idle/chat: simultaneous sessions */
    double rate;                /* login: logins/s; chat, send: messages/s total;
                                 * roster: subscriptions/s */
    double login_rate;          /* session scenarios: logins/s while coming up */
    double duration;            /* seconds of the measured phase */
    int concurrency;            /* login/register: connections in flight at most */
    enum scenario sc;
    enum tls_mode tls;
    int src_base;               /* spread sources over 127.<x>.<y>.<z> */
    bool json;
    int body_len;
    int contacts;               /* roster/storm: roster size (clique - 1) */
    int window;                 /* roster: requests awaiting approval at most */
    const char *to_prefix;      /* send: recipients are <to_prefix><number> */
    int to_first, to_count;     /* send: offline recipients */
    long long messages;         /* send: total messages */
    long long expect;           /* recv: messages expected in total */
    const char *room;           /* muc: bare JID of the room */
    int senders;                /* muc: occupants that send */
    bool room_instant;          /* muc: empty form (§10.1.2), not 'nolog' */
    enum role role;             /* chat: both, send only, receive only */
    bool sync;                  /* chat: wait for "go" (and "stop N") on stdin */
    const char *samples;        /* chat: write the latency samples (uint32 us) here */
    double keepalive;           /* seconds between whitespace keepalives */
    bool no_login;              /* chat against the relay: TLS only, no XMPP login */
    double pace_gap;            /* chat: s between pacing wake-ups at least */
    const char *cert;           /* relay: PEM with key and certificate */
};

struct lg;

struct conn {
    struct lg *lg;
    int user;
    evutil_socket_t fd;         /* owned here, not by the bufferevents on it */
    SSL *ssl;                   /* owned here; NULL before TLS */
    struct bufferevent *bev;    /* plain socket, then TLS on the same socket */
    struct xml_stream *xs;
    enum conn_state st;
    double t0;                  /* connect time (login latency) */
    char cnonce[25];
    struct buf cfb;             /* client-first-message-bare */
    unsigned char server_sig[EVP_MAX_MD_SIZE];
    unsigned server_sig_len;
    int peer;                   /* chat: index of the partner connection */
    bool tls_on;
    bool tcp_up;
    bool join_sent;             /* muc: join presence sent */
    bool joined;                /* muc: self-presence (110) received */
    double cpu0;                /* generator thread CPU s at connect (login) */
    int target;                 /* chat: the account this one sends to, -1 none */
    struct buf chat_msg;        /* chat: this sender's message, built once */
    size_t chat_stamp;          /* chat: offset of the stamp's 20 digits in it */
};

/* Latency samples in microseconds. */
struct samples {
    uint32_t *v;
    size_t n, cap;
};

struct lg {
    struct opts o;
    struct event_base *base;
    SSL_CTX *ssl_ctx;
    struct xml_limits limits;
    struct conn **conns;
    size_t nconns;
    int next_user;              /* login/register: next account to use */
    int in_flight;
    int online;
    unsigned long long ok, failed, sent, received;
    unsigned long long presences;       /* available presence from a contact */
    unsigned long long subscribed;      /* roster: approvals received */
    unsigned long long subs_expected;   /* roster: approvals to wait for */
    double t_approved;                  /* roster: last approval (or start) */
    bool stalled;                       /* roster: ended without progress */
    double projected_s;                 /* roster: setup time at the rate so far */
    unsigned long long errors;          /* message/presence type='error' */
    double t_all_online;                /* seconds from start; 0 = never */
    double t_draining;                  /* chat/send: when sending stopped */
    bool all_online;
    struct samples login_lat, msg_lat;
    double t_start, t_measure, t_end;
    bool measuring, stopping;
    struct event *tick;
    double send_credit;
    double login_credit;
    size_t up_next;             /* session scenarios: next conn to start */
    double t_login_deadline;    /* give up waiting for all sessions */
    double t_progress;          /* last time a session came online */
    double last_tick;           /* credit grows with real elapsed time */
    size_t send_rr;
    unsigned src_next;
    struct buf scratch;
    /* SCRAM: SaltedPassword per salt (each account has its own salt, but
     * logins repeat accounts: PBKDF2 once per account per run). */
    struct salt_cache { char *salt; unsigned iter; unsigned char sp[20]; } *salts;
    size_t nsalts, capsalts;
    /* muc */
    int joined;                         /* occupants with their self-presence */
    bool room_created;                  /* the first join got status 201 */
    bool room_ready;                    /* configured: the others may join */
    const char *room_config;            /* "nolog", "instant" or "existing" */
    unsigned long long echoes;          /* senders' own reflected messages */
    unsigned long long muc_presences;   /* other occupants' presences */
    double t_settled;                   /* all joined + settle: measuring */
    double cpu_at_measure;              /* generator CPU s when measuring began */
    /* chat pacing: message k is due at t_measure + k / rate (absolute
     * deadlines on a precise timer, no bursts); pace_lat is how late each
     * one actually went out (the generator's own share on the send side). */
    struct event *pace;
    unsigned long long pace_k;
    struct samples pace_lat;
    uint64_t t_read_ns;                 /* monotonic ns when the current read began */
    /* login: generator thread CPU per login, and latency minus it. */
    struct samples login_cpu, login_rest;
    /* chat --sync: run.py says "go" and, to receivers, "stop N". */
    struct event *ctl;
    bool go, stop_told;
    unsigned long long expect_total;
    /* idle: the final ping round trip on every session. */
    double t_verify;
    bool verify_sent;
    int alive;
    /* relay (--scenario relay): connections by user number. */
    struct relay_conn **relay;
    size_t nrelay;
    unsigned long long relayed, relay_dropped;
};

/* This process's CPU seconds (user + system). */
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Monotonic nanoseconds: the chat timestamps.  CLOCK_MONOTONIC is one
 * clock for every process on the machine, so a sender process and a
 * receiver process can compare them. */
static uint64_t now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This thread's CPU seconds (user + system): what the generator itself
 * spent, as opposed to the time it waited for the server. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_us_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sample_add(struct samples *s, double seconds)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = pl_realloc(s->v, s->cap * sizeof(*s->v));
    }
    double us = seconds * 1e6;
    s->v[s->n++] = us > 4e9 ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile p (0..100) in milliseconds; samples must be sorted. */
static double pct_ms(const struct samples *s, double p)
{
    if (!s->n)
        return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)s->n);
    if (i > 0)
        i--;
    if (i >= s->n)
        i = s->n - 1;
    return s->v[i] / 1000.0;
}

/* --- connection plumbing ------------------------------------------------- */

static void conn_start(struct lg *lg, struct conn *c);
static void conn_finish(struct conn *c, bool ok);

static void put(struct conn *c, const char *s)
{
    bufferevent_write(c->bev, s, strlen(s));
}

static void send_header(struct conn *c)
{
    struct buf *b = &c->lg->scratch;
    buf_clear(b);
    buf_printf(b, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
               "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
               c->lg->o.domain);
    bufferevent_write(c->bev, b->data, b->len);
}

static void user_name(const struct lg *lg, int user, char *out, size_t len)
{
    snprintf(out, len, "%s%d", lg->o.user_prefix, user);
}

static void fail(struct conn *c, const char *why)
{
    /* The first few failures say why; the count says how many. */
    if (c->lg->failed < 5)
        fprintf(stderr, "loadgen: user %d: %s\n", c->user, why);
    conn_finish(c, false);
}

/* SCRAM-SHA-1 (RFC 5802) client side. */
static void send_auth(struct conn *c)
{
    unsigned char rnd[18];
    RAND_bytes(rnd, sizeof(rnd));
    struct buf nb = BUF_INIT;
    base64_encode(&nb, rnd, sizeof(rnd));
    snprintf(c->cnonce, sizeof(c->cnonce), "%s", nb.data);
    buf_release(&nb);
    char u[128];
    user_name(c->lg, c->user, u, sizeof(u));
    buf_clear(&c->cfb);
    buf_printf(&c->cfb, "n=%s,r=%s", u, c->cnonce);
    struct buf msg = BUF_INIT, b64 = BUF_INIT;
    buf_printf(&msg, "n,,%s", c->cfb.data);
    base64_encode(&b64, msg.data, msg.len);
    struct buf *b = &c->lg->scratch;
    buf_clear(b);
    buf_printf(b, "<auth xmlns='" NS_SASL "' mechanism='SCRAM-SHA-1'>%s</auth>", b64.data);
    bufferevent_write(c->bev, b->data, b->len);
    buf_release(&msg);
    buf_release(&b64);
    c->st = CS_CHALLENGE;
}

static const unsigned char *salted_password(struct lg *lg, const char *salt_b64,
                                            unsigned iter)
{
    for (size_t i = 0; i < lg->nsalts; i++)
        if (lg->salts[i].iter == iter && strcmp(lg->salts[i].salt, salt_b64) == 0)
            return lg->salts[i].sp;
    struct buf salt = BUF_INIT;
    if (base64_decode(&salt, salt_b64, strlen(salt_b64)) < 0) {
        buf_release(&salt);
        return NULL;
    }
    if (lg->nsalts == lg->capsalts) {
        lg->capsalts = lg->capsalts ? lg->capsalts * 2 : 256;
        lg->salts = pl_realloc(lg->salts, lg->capsalts * sizeof(*lg->salts));
    }
    struct salt_cache *e = &lg->salts[lg->nsalts++];
    e->salt = pl_strdup(salt_b64);
    e->iter = iter;
    PKCS5_PBKDF2_HMAC(lg->o.password, (int)strlen(lg->o.password),
                      (const unsigned char *)salt.data, (int)salt.len, (int)iter,
                      EVP_sha1(), 20, e->sp);
    buf_release(&salt);
    return e->sp;
}

/* Returns the value of attribute k in a SCRAM message, copied into out. */
static bool scram_attr(const char *msg, char k, char *out, size_t len)
{
    for (const char *p = msg; p && *p;) {
        if (p[0] == k && p[1] == '=') {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p - 2) : strlen(p + 2);
            if (n >= len)
                return false;
            memcpy(out, p + 2, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return false;
}

static void handle_challenge(struct conn *c, struct stanza *st)
{
    struct arena *a = st->arena;
    const char *text = xml_text(a, st->root);
    struct buf sfm = BUF_INIT;
    if (base64_decode(&sfm, text, strlen(text)) < 0) {
        buf_release(&sfm);
        fail(c, "bad challenge");
        return;
    }
    char nonce[256], salt[256], iters[16];
    if (!scram_attr(sfm.data, 'r', nonce, sizeof(nonce)) ||
        !scram_attr(sfm.data, 's', salt, sizeof(salt)) ||
        !scram_attr(sfm.data, 'i', iters, sizeof(iters)) ||
        strncmp(nonce, c->cnonce, strlen(c->cnonce)) != 0) {
        buf_release(&sfm);
        fail(c, "bad server-first-message");
        return;
    }
    const unsigned char *sp = salted_password(c->lg, salt, (unsigned)atoi(iters));
    if (!sp) {
        buf_release(&sfm);
        fail(c, "bad salt");
        return;
    }
    unsigned char ck[20], sk[20], stored[20], sig[20], proof[20];
    unsigned l;
    HMAC(EVP_sha1(), sp, 20, (const unsigned char *)"Client Key", 10, ck, &l);
    HMAC(EVP_sha1(), sp, 20, (const unsigned char *)"Server Key", 10, sk, &l);
    SHA1(ck, 20, stored);
    struct buf wo = BUF_INIT;       /* client-final-message-without-proof */
    buf_printf(&wo, "c=biws,r=%s", nonce);
    struct buf am = BUF_INIT;       /* AuthMessage */
    buf_printf(&am, "%s,%s,%s", c->cfb.data, sfm.data, wo.data);
    HMAC(EVP_sha1(), stored, 20, (const unsigned char *)am.data, am.len, sig, &l);
    for (int i = 0; i < 20; i++)
        proof[i] = ck[i] ^ sig[i];
    HMAC(EVP_sha1(), sk, 20, (const unsigned char *)am.data, am.len, c->server_sig,
         &c->server_sig_len);
    struct buf p64 = BUF_INIT;
    base64_encode(&p64, proof, 20);
    buf_printf(&wo, ",p=%s", p64.data);
    struct buf out = BUF_INIT;
    base64_encode(&out, wo.data, wo.len);
    struct buf *b = &c->lg->scratch;
    buf_clear(b);
    buf_printf(b, "<response xmlns='" NS_SASL "'>%s</response>", out.data);
    bufferevent_write(c->bev, b->data, b->len);
    buf_release(&sfm);
    buf_release(&wo);
    buf_release(&am);
    buf_release(&p64);
    buf_release(&out);
    c->st = CS_SUCCESS;
}

static bool check_success(struct conn *c, struct stanza *st)
{
    const char *text = xml_text(st->arena, st->root);
    struct buf sfm = BUF_INIT;
    bool ok = base64_decode(&sfm, text, strlen(text)) == 0;
    char v[128];
    ok = ok && scram_attr(sfm.data, 'v', v, sizeof(v));
    struct buf want = BUF_INIT;
    if (ok) {
        base64_encode(&want, c->server_sig, c->server_sig_len);
        ok = strcmp(want.data, v) == 0;
    }
    buf_release(&sfm);
    buf_release(&want);
    return ok;
}

static void send_register(struct conn *c)
{
    char u[128];
    user_name(c->lg, c->user, u, sizeof(u));
    struct buf *b = &c->lg->scratch;
    buf_clear(b);
    buf_printf(b, "<iq type='set' id='reg'><query xmlns='" NS_REGISTER "'>"
               "<username>%s</username><password>%s</password></query></iq>",
               u, c->lg->o.password);
    bufferevent_write(c->bev, b->data, b->len);
    c->st = CS_REGISTER;
}

static void restart_stream(struct conn *c)
{
    xml_stream_reset(c->xs);
    send_header(c);
}

/* Chat runs its bufferevents without deferred callbacks: a message read
 * is handed to on_read in the same loop iteration as the read(2) (the
 * TLS record decrypted on the way), not queued behind the iteration's
 * other events.  The other scenarios keep deferred callbacks (their
 * figures are throughput, not latency).  No bufferevent closes the
 * socket or frees the SSL: the connection owns both (conn_free()), so
 * that STARTTLS can replace the plain bufferevent on the same socket. */
static int bev_options(const struct lg *lg)
{
    return lg->o.sc == SC_CHAT ? 0 : BEV_OPT_DEFER_CALLBACKS;
}

static void on_read(struct bufferevent *bev, void *ud);
static void on_event(struct bufferevent *bev, short what, void *ud);

/* TLS goes straight on the socket, as parleyd does it (stream/c2s.c
 * tls_bev_new()): the plain bufferevent is freed (the socket stays) and a
 * TLS bufferevent takes its place, rather than a TLS filter stacked on
 * it, which costs a second pair of buffers, a copy and a callback per
 * record each way.  Read-ahead lets OpenSSL take all the socket holds in
 * one read(); read_buffered_tls() reads the records that leaves behind.
 * Called from the plain bufferevent's own callback: libevent keeps it
 * alive until that returns. */
static void start_tls(struct conn *c)
{
    struct lg *lg = c->lg;
    c->ssl = SSL_new(lg->ssl_ctx);
    SSL_set_tlsext_host_name(c->ssl, lg->o.domain);
    SSL_set_read_ahead(c->ssl, 1);
    bufferevent_free(c->bev);
    c->bev = bufferevent_openssl_socket_new(lg->base, c->fd, c->ssl,
                                            BUFFEREVENT_SSL_CONNECTING, bev_options(lg));
    if (!c->bev) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->tls_on = true;
}

/* libevent 2.1's TLS bufferevent reads again only while SSL_pending() is
 * non-zero, which does not count the whole records read-ahead left inside
 * OpenSSL: without this they would wait for the next bytes on the socket
 * (as c2s.c read_buffered_tls()).  Called after each read callback and
 * once the handshake is done. */
static void read_buffered_tls(struct conn *c)
{
    if (c->ssl && c->bev && c->st != CS_DONE && SSL_has_pending(c->ssl))
        event_active(&c->bev->ev_read, EV_READ, 1);
}

/* --- muc ------------------------------------------------------------------ */

static void muc_join(struct conn *c)
{
    /* XEP-0045 §7.2.2 enter with <x/>; §7.2.14 maxstanzas='0': no history,
     * so every message an occupant counts was sent during the run. */
    struct buf *b = &c->lg->scratch;
    buf_clear(b);
    buf_printf(b, "<presence to='%s/n%d'><x xmlns='" NS_MUC "'><history maxstanzas='0'/>"
               "</x></presence>", c->lg->o.room, c->user);
    bufferevent_write(c->bev, b->data, b->len);
    c->join_sent = true;
}

/* The room's configuration: 'nolog' submits XEP-0045 §10.2
 * muc#roomconfig_enablelogging = 0 (no archive); 'instant' is the §10.1.2
 * instant room (the server's defaults), for servers whose defaults have
 * no archive already and that refuse the field (ejabberd 23.01 answers
 * <not-acceptable/> without mod_muc_log), and the fallback when a server
 * refuses the form. */
static void muc_configure(struct conn *c, bool instant)
{
    struct buf *b = &c->lg->scratch;
    buf_clear(b);
    buf_printf(b, "<iq type='set' to='%s' id='%s'><query xmlns='" NS_MUC_OWNER "'>"
               "<x xmlns='jabber:x:data' type='submit'>", c->lg->o.room,
               instant ? "cfg-instant" : "cfg-nolog");
    if (!instant)
        buf_printf(b, "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
                   "</value></field><field var='muc#roomconfig_enablelogging'><value>0</value>"
                   "</field>");
    buf_printf(b, "</x></query></iq>");
    bufferevent_write(c->bev, b->data, b->len);
}

static void muc_room_ready(struct lg *lg, const char *how)
{
    lg->room_ready = true;
    lg->room_config = how;
    for (size_t i = 1; i < lg->nconns; i++) {
        struct conn *o = lg->conns[i];
        if (o->st == CS_ONLINE && !o->join_sent)
            muc_join(o);
    }
}

/* The owner's answer to the configuration form. */
static void muc_config_result(struct conn *c, struct stanza *st, const char *id, bool ok)
{
    struct lg *lg = c->lg;
    if (ok) {
        muc_room_ready(lg, strcmp(id, "cfg-nolog") == 0 ? "nolog" : "instant");
        return;
    }
    struct xml_node *e = xml_child(st->root, NULL, "error");
    struct xml_node *cond = e ? xml_child(e, "urn:ietf:params:xml:ns:xmpp-stanzas", NULL) : NULL;
    struct xml_node *text = e ? xml_child(e, "urn:ietf:params:xml:ns:xmpp-stanzas", "text") : NULL;
    if (lg->errors++ < 5)
        fprintf(stderr, "loadgen: room configuration %s refused: <%s/> %s\n", id,
                cond ? cond->name : "?", text ? xml_text(st->arena, text) : "");
    if (strcmp(id, "cfg-nolog") == 0)
        muc_configure(c, true);         /* at least unlock it */
    else
        fail(c, "the room could not be configured");
}

/* Presence from the room: ours (status 110) or another occupant's. */
static void muc_presence(struct conn *c, struct stanza *st, const char *type)
{
    struct lg *lg = c->lg;
    if (type && strcmp(type, "error") == 0) {
        struct xml_node *e = xml_child(st->root, NULL, "error");
        struct xml_node *cond = e ? xml_child(e, "urn:ietf:params:xml:ns:xmpp-stanzas", NULL) : NULL;
        lg->errors++;
        char why[160];
        snprintf(why, sizeof(why), "join refused <%s/>", cond ? cond->name : "?");
        fail(c, why);
        return;
    }
    if (type)
        return;                         /* unavailable: nobody leaves here */
    struct xml_node *x = xml_child(st->root, NS_MUC_USER, "x");
    bool self = false, created = false;
    for (struct xml_node *s = x ? xml_child(x, NULL, "status") : NULL; s;
         s = xml_next(s, NULL, "status")) {
        const char *code = xml_attr(s, "code");
        self |= code && strcmp(code, "110") == 0;
        created |= code && strcmp(code, "201") == 0;
    }
    if (!self) {
        lg->muc_presences++;
        return;
    }
    if (c->joined)
        return;                         /* a later self-presence (a change) */
    c->joined = true;
    lg->joined++;
    lg->t_progress = now_s();
    if (c == lg->conns[0] && !lg->room_ready) {
        /* §10.1: 201 = we created it, locked until configured.  Configure
         * it in any case so that archiving is off on every server (the
         * owner of a room left over would still be us). */
        lg->room_created = created;
        muc_configure(c, lg->o.room_instant);
    }
}

/* True when 'from' is an occupant of the bench room (room/nick). */
static bool from_room(const struct lg *lg, const char *from)
{
    size_t n = strlen(lg->o.room);
    return from && strncmp(from, lg->o.room, n) == 0 && (from[n] == '/' || from[n] == '\0');
}

static void go_online(struct conn *c)
{
    struct lg *lg = c->lg;
    c->st = CS_ONLINE;
    lg->online++;
    lg->t_progress = now_s();
    lg->ok++;
    double lat = now_s() - c->t0;
    sample_add(&lg->login_lat, lat);
    /* With one login at a time (--concurrency 1) this thread did nothing
     * else meanwhile: its CPU time is the generator's own share (TLS,
     * SCRAM's PBKDF2, parsing) and the rest is the server's turns plus
     * the loopback and scheduling in between. */
    double cpu = thread_cpu_s() - c->cpu0;
    sample_add(&lg->login_cpu, cpu);
    sample_add(&lg->login_rest, lat > cpu ? lat - cpu : 0);
    if (lg->o.sc == SC_LOGIN) {
        put(c, "</stream:stream>");
        conn_finish(c, true);
    }
    /* The first occupant creates the room; the others wait for it. */
    if (lg->o.sc == SC_MUC && (c == lg->conns[0] || lg->room_ready))
        muc_join(c);
}

static void handle_features(struct conn *c, struct stanza *st)
{
    struct lg *lg = c->lg;
    struct xml_node *root = st->root;
    if (c->st == CS_FEATURES1 && lg->o.tls == TLS_STARTTLS && !c->tls_on) {
        if (!xml_child(root, NS_TLS, "starttls")) {
            fail(c, "no starttls offered");
            return;
        }
        put(c, "<starttls xmlns='" NS_TLS "'/>");
        c->st = CS_PROCEED;
        return;
    }
    if (c->st == CS_FEATURES1 || c->st == CS_FEATURES2) {
        if (lg->o.sc == SC_REGISTER)
            send_register(c);
        else
            send_auth(c);
        return;
    }
    if (c->st == CS_FEATURES3) {
        put(c, "<iq type='set' id='b'><bind xmlns='" NS_BIND "'><resource>lg</resource></bind></iq>");
        c->st = CS_BIND;
    }
}

/* True when 'from' is this connection's own account (a reflected presence
 * or a message to self is not traffic from a contact). */
static bool from_self(const struct conn *c, const char *from)
{
    char me[160];
    int n = snprintf(me, sizeof(me), "%s%d@%s", c->lg->o.user_prefix, c->user,
                     c->lg->o.domain);
    return from && strncmp(from, me, (size_t)n) == 0 &&
           (from[n] == '\0' || from[n] == '/');
}

static void handle_presence(struct conn *c, struct stanza *st)
{
    struct lg *lg = c->lg;
    const char *type = xml_attr(st->root, "type");
    const char *from = xml_attr(st->root, "from");
    if (lg->o.sc == SC_MUC && from_room(lg, from)) {
        muc_presence(c, st, type);
        return;
    }
    if (!type) {
        if (!from_self(c, from))
            lg->presences++;
    } else if (strcmp(type, "subscribe") == 0 && from) {
        /* RFC 6121 §3.1.5: approve every request (bench rosters only). */
        struct buf *b = &lg->scratch;
        buf_clear(b);
        buf_printf(b, "<presence type='subscribed' to='%s'/>", from);
        bufferevent_write(c->bev, b->data, b->len);
    } else if (strcmp(type, "subscribed") == 0) {
        lg->subscribed++;
        lg->t_approved = now_s();
    } else if (strcmp(type, "error") == 0) {
        if (lg->errors++ < 5)
            fprintf(stderr, "loadgen: user %d: presence error from %s\n", c->user,
                    from ? from : "?");
    }
}

static void handle_message(struct conn *c, struct stanza *st)
{
    struct lg *lg = c->lg;
    const char *mtype = xml_attr(st->root, "type");
    if (mtype && strcmp(mtype, "error") == 0) {
        /* A bounce is a lost message: count it, say why for the first few. */
        struct xml_node *e = xml_child(st->root, NULL, "error");
        struct xml_node *cond = e ? xml_child(e, "urn:ietf:params:xml:ns:xmpp-stanzas", NULL) : NULL;
        if (lg->errors++ < 5)
            fprintf(stderr, "loadgen: user %d: message bounced <%s/>\n", c->user,
                    cond ? cond->name : "?");
        return;
    }
    struct xml_node *body = xml_child(st->root, NULL, "body");
    if (!body)
        return;
    const char *t = xml_text(st->arena, body);
    unsigned long long us = strtoull(t, NULL, 10);
    if (lg->o.sc == SC_CHAT) {
        /* The body is the sender's CLOCK_MONOTONIC ns just before the
         * write; t_read_ns was taken when on_read began, before any of
         * this read's parsing. */
        lg->received++;
        if (lg->measuring && us)
            sample_add(&lg->msg_lat, lg->t_read_ns > us ? (double)(lg->t_read_ns - us) / 1e9
                                                        : 0);
        return;
    }
    if (lg->o.sc == SC_MUC) {
        /* Groupchat from room/nick.  XEP-0045 §7.4: the room reflects a
         * message to every occupant, the sender included; the copy from
         * our own nick is counted apart from the fan-out. */
        const char *from = xml_attr(st->root, "from");
        if (!mtype || strcmp(mtype, "groupchat") != 0 || !from_room(lg, from))
            return;
        char nick[32];
        snprintf(nick, sizeof(nick), "/n%d", c->user);
        const char *slash = strchr(from, '/');
        if (slash && strcmp(slash, nick) == 0) {
            lg->echoes++;
            return;
        }
        lg->received++;
        if (lg->measuring && us) {
            uint64_t n = now_us_wall();
            sample_add(&lg->msg_lat, n > us ? (double)(n - us) / 1e6 : 0);
        }
        return;
    }
    lg->received++;
    if (lg->measuring && us && lg->o.sc == SC_CHAT) {
        uint64_t n = now_us_wall();
        sample_add(&lg->msg_lat, n > us ? (double)(n - us) / 1e6 : 0);
    }
}

static void on_stanza(void *ud, struct stanza *st)
{
    struct conn *c = ud;
    struct xml_node *root = st->root;
    const char *name = root->name;
    if (strcmp(name, "error") == 0) {
        struct xml_node *cond = xml_child(root, "urn:ietf:params:xml:ns:xmpp-streams", NULL);
        char why[160];
        snprintf(why, sizeof(why), "stream error <%s/>", cond ? cond->name : "?");
        fail(c, why);
    } else if (strcmp(name, "features") == 0) {
        handle_features(c, st);
    } else if (c->st == CS_PROCEED && strcmp(name, "proceed") == 0) {
        start_tls(c);
        xml_stream_reset(c->xs);
        send_header(c);
        c->st = CS_FEATURES2;
    } else if (c->st == CS_CHALLENGE && strcmp(name, "challenge") == 0) {
        handle_challenge(c, st);
    } else if (c->st == CS_SUCCESS && strcmp(name, "success") == 0) {
        if (!check_success(c, st)) {
            fail(c, "server signature mismatch");
        } else {
            c->st = CS_FEATURES3;
            restart_stream(c);
        }
    } else if (strcmp(name, "failure") == 0) {
        fail(c, "SASL failure");
    } else if (strcmp(name, "iq") == 0) {
        const char *type = xml_attr(root, "type");
        bool ok = type && strcmp(type, "result") == 0;
        if (c->st == CS_REGISTER) {
            struct xml_node *e = xml_child(root, NULL, "error");
            bool conflict = e && xml_child(e, NULL, "conflict");
            if (ok || conflict) {
                c->lg->ok++;
                put(c, "</stream:stream>");
                conn_finish(c, true);
            } else {
                fail(c, "registration refused");
            }
        } else if (c->st == CS_BIND) {
            if (!ok) {
                fail(c, "bind failed");
            } else {
                put(c, "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>");
                c->st = CS_ROSTER;
            }
        } else if (c->st == CS_ROSTER) {
            put(c, "<presence/>");
            go_online(c);
        } else if (xml_attr(root, "id") && strcmp(xml_attr(root, "id"), "alive") == 0) {
            /* idle: the answer to the final ping (XEP-0199 §4.2); an
             * error answer is a round trip too: the session is alive. */
            c->lg->alive++;
        } else if (c->lg->o.sc == SC_MUC && xml_attr(root, "id") &&
                   strncmp(xml_attr(root, "id"), "cfg-", 4) == 0 &&
                   (ok || (type && strcmp(type, "error") == 0))) {
            muc_config_result(c, st, xml_attr(root, "id"), ok);
        } else if (type && strcmp(type, "set") == 0 &&
                   xml_child(root, "jabber:iq:roster", "query")) {
            /* RFC 6121 §2.1.6: acknowledge roster pushes. */
            const char *id = xml_attr(root, "id");
            struct buf *b = &c->lg->scratch;
            buf_clear(b);
            buf_printf(b, "<iq type='result' id='%s'/>", id ? id : "");
            bufferevent_write(c->bev, b->data, b->len);
        } else if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
            /* Answer server pings and the like: an unanswered IQ is rude. */
            struct buf *b = &c->lg->scratch;
            buf_clear(b);
            const char *id = xml_attr(root, "id");
            const char *from = xml_attr(root, "from");
            buf_printf(b, "<iq type='error' id='%s'%s%s%s><error type='cancel'>"
                       "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                       "</error></iq>", id ? id : "", from ? " to='" : "",
                       from ? from : "", from ? "'" : "");
            bufferevent_write(c->bev, b->data, b->len);
        }
    } else if (strcmp(name, "message") == 0) {
        handle_message(c, st);
    } else if (strcmp(name, "presence") == 0) {
        handle_presence(c, st);
    }
    stanza_unref(st);
}

static void on_open(void *ud, const struct xml_node *root)
{
    struct conn *c = ud;
    (void)root;
    /* --no-login: the relay's header says it knows this connection (and
     * the TLS handshake is done): the session is "online". */
    if (c->lg->o.no_login && c->st == CS_FEATURES2)
        go_online(c);
}

static void on_close(void *ud)
{
    struct conn *c = ud;
    if (c->st != CS_DONE)
        fail(c, "stream closed by the server");
}

static void on_parse_error(void *ud, enum xml_error err, const char *text)
{
    struct conn *c = ud;
    (void)err;
    (void)text;
    fail(c, "XML error");
}

static const struct xml_stream_cb parser_cb = {
    .open = on_open,
    .stanza = on_stanza,
    .close = on_close,
    .error = on_parse_error,
};

/* Feeds what the input holds to the parser where libevent keeps it (no
 * copy: expat copies what it must keep), chunk by chunk, until the input
 * is empty, the connection ended, or STARTTLS replaced its bufferevent
 * (whose input is then left to be freed with it). */
static void on_read(struct bufferevent *bev, void *ud)
{
    struct conn *c = ud;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->lg->t_read_ns = now_mono_ns();
    bool more = true;
    while (more && c->bev == bev && c->st != CS_DONE) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        more = xml_stream_feed(c->xs, v.iov_base, v.iov_len) == 0 && v.iov_len > 0;
        evbuffer_drain(in, v.iov_len);
    }
    if (c->bev == bev)
        read_buffered_tls(c);
}

static void on_event(struct bufferevent *bev, short what, void *ud)
{
    struct conn *c = ud;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->tcp_up) {
            /* The TLS handshake finished; read-ahead may have taken the
             * server's first records with its last flight. */
            read_buffered_tls(c);
            return;
        }
        c->tcp_up = true;
        if (c->lg->o.tls == TLS_DIRECT && !c->tls_on)
            start_tls(c);
        if (c->lg->o.no_login) {
            /* Against the relay: "<user> <peer>" names this connection
             * and where its bytes go; the relay answers with a stream
             * header and then forwards the peer's messages verbatim. */
            char line[64];
            int len = snprintf(line, sizeof(line), "%d %d\n", c->user, c->target);
            bufferevent_write(c->bev, line, (size_t)len);
            c->st = CS_FEATURES2;       /* online at the relay's header */
            return;
        }
        send_header(c);
        c->st = c->tls_on ? CS_FEATURES2 : CS_FEATURES1;
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (c->st != CS_DONE)
            fail(c, (what & BEV_EVENT_EOF) ? "connection closed" : "connection error");
    }
}

/* --- lifecycle ------------------------------------------------------------- */

/* libevent finalizes a freed bufferevent later in the loop turn, but
 * without BEV_OPT_CLOSE_ON_FREE it touches neither the socket nor the SSL
 * then, so both go now. */
static void conn_free(struct conn *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        evutil_closesocket(c->fd);
    c->fd = -1;
    if (c->xs)
        xml_stream_free(c->xs);
    c->xs = NULL;
    buf_release(&c->cfb);
    buf_release(&c->chat_msg);
}

/* A connection reached its end: online (login scenario), registered, or
 * failed.  The struct is reused for the next login of the scenario. */
static void conn_finish(struct conn *c, bool ok)
{
    struct lg *lg = c->lg;
    if (c->st == CS_DONE)
        return;
    bool was_online = c->st == CS_ONLINE;
    c->st = CS_DONE;
    if (!ok)
        lg->failed++;
    if (was_online && lg->o.sc != SC_LOGIN)
        lg->online--;
    lg->in_flight--;
    /* Freed by the next conn_start (from the timer): we may be inside
     * this bufferevent's or this parser's callback now. */
    if (c->bev) {
        bufferevent_disable(c->bev, EV_READ);
        bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    }
}

static void set_source(struct lg *lg, evutil_socket_t fd)
{
    /* 127.<base>.<hi>.<lo> with lo in 1..254: each source address has its
     * own 28k ephemeral ports. */
    unsigned n = lg->src_next++;
    struct sockaddr_in sin = { .sin_family = AF_INET };
    unsigned hi = (n / 254) % 256, lo = n % 254 + 1;
    sin.sin_addr.s_addr = htonl((127u << 24) | ((unsigned)lg->o.src_base << 16) | (hi << 8) | lo);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && !lg->o.json)
        perror("bind source");
}

static void conn_start(struct lg *lg, struct conn *c)
{
    conn_free(c);
    c->lg = lg;
    c->st = CS_CONNECTING;
    c->tls_on = false;
    c->tcp_up = false;
    c->t0 = now_s();
    c->cpu0 = thread_cpu_s();
    c->xs = xml_stream_new(&lg->limits, &parser_cb, c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_source(lg, c->fd);
    c->bev = bufferevent_socket_new(lg->base, c->fd, bev_options(lg));
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)lg->o.port) };
    inet_pton(AF_INET, lg->o.ip, &sin.sin_addr);
    lg->in_flight++;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        fail(c, "connect failed");
}

/* Registration: keep up to 'concurrency' connections going, each for
 * the next account, until every account had its turn. */
static void launch_more(struct lg *lg)
{
    if (lg->stopping)
        return;
    if (lg->o.sc == SC_REGISTER) {
        for (size_t i = 0; i < lg->nconns && lg->in_flight < lg->o.concurrency; i++) {
            struct conn *c = lg->conns[i];
            if (c->st != CS_DONE && c->bev)
                continue;
            if (lg->next_user >= lg->o.first_user + lg->o.users)
                break;
            c->user = lg->next_user++;
            conn_start(lg, c);
        }
        if (lg->in_flight == 0)
            event_base_loopexit(lg->base, NULL);
    }
}

/* The account user 'u' subscribes to as its k-th contact, or -1: accounts
 * form cliques of contacts + 1 consecutive numbers (the last one may be
 * smaller), so every roster is known without storing it. */
static int contact_of(const struct lg *lg, int u, int k)
{
    int size = lg->o.contacts + 1;
    int rel = u - lg->o.first_user;
    int base = rel / size * size;
    int other = base + k;
    if (other >= rel)
        other++;                /* skip self */
    if (other >= base + size || other >= lg->o.users)
        return -1;
    return lg->o.first_user + other;
}

static int contacts_in_clique(const struct lg *lg, int u)
{
    int n = 0;
    for (int k = 0; k < lg->o.contacts; k++)
        n += contact_of(lg, u, k) >= 0;
    return n;
}

/* Brings the scenario's sessions up at --login-rate with at most
 * --concurrency negotiating at once.  A session that failed stays down
 * (and is counted in 'failed'). */
static void bring_up(struct lg *lg, double dt)
{
    lg->login_credit += lg->o.login_rate * dt;
    int negotiating = lg->in_flight - lg->online;
    for (; lg->up_next < lg->nconns && lg->login_credit >= 1 &&
           negotiating < lg->o.concurrency; lg->up_next++) {
        conn_start(lg, lg->conns[lg->up_next]);
        lg->login_credit -= 1;
        negotiating++;
    }
    if (lg->login_credit > lg->o.login_rate)
        lg->login_credit = lg->o.login_rate;
}

static void stop_at(struct lg *lg, double t)
{
    if (lg->t_end > t)
        lg->t_end = t;
}

/* Writes what the bufferevent holds to the socket now.  Adding output
 * only arms the bufferevent's write event, which libevent would run when
 * epoll next reports the socket writable, after the rest of this batch
 * of messages was stamped and queued; the stamp must be the last thing
 * before its own write(2), so that event's handler runs here: libevent's
 * own write (SSL_write on a TLS bufferevent, evbuffer_write on a plain
 * one), which disarms the event once the output is empty.  Chat's base
 * has the epoll changelist, so arming and disarming within one callback
 * cost no epoll_ctl. */
static void flush_now(struct conn *c)
{
    struct event *ev = &c->bev->ev_write;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        event_get_callback(ev)(event_get_fd(ev), EV_WRITE, event_get_callback_arg(ev));
}

/* A sender's messages differ only in the stamp: the text is formatted
 * once per connection, and each message writes its 20 digits in place. */
static struct buf *chat_message(struct lg *lg, struct conn *c)
{
    struct buf *b = &c->chat_msg;
    if (b->len == 0) {
        const char *prefix = lg->o.to_prefix && lg->o.role == ROLE_SEND ? lg->o.to_prefix
                                                                         : lg->o.user_prefix;
        buf_printf(b, "<message type='chat' to='%s%d@%s/lg'><body>", prefix, c->target,
                   lg->o.domain);
        c->chat_stamp = b->len;
        buf_printf(b, "%020llu%*s</body></message>", 0ULL, lg->o.body_len, "");
    }
    return b;
}

/* The stamp's 20 decimal digits, zero-padded, in place. */
static void put_stamp(char *at, uint64_t ns)
{
    for (int i = 19; i >= 0; i--, ns /= 10)
        at[i] = (char)('0' + ns % 10);
}

/* One chat message from the next sending connection (round robin),
 * stamped with the monotonic clock just before it is written. */
static void send_chat_one(struct lg *lg)
{
    for (size_t tries = 0; tries < lg->nconns; tries++) {
        struct conn *c = lg->conns[lg->send_rr++ % lg->nconns];
        if (c->st != CS_ONLINE || c->target < 0)
            continue;
        struct buf *b = chat_message(lg, c);
        /* The stamp goes in last: nothing but the write after it. */
        put_stamp(b->data + c->chat_stamp, now_mono_ns());
        bufferevent_write(c->bev, b->data, b->len);
        flush_now(c);
        lg->sent++;
        return;
    }
}

static void stop_at(struct lg *lg, double t);

/* The chat pacing timer: sends every message whose deadline has come,
 * then sleeps until the next one is due, but at least --pace-gap.  A
 * wake-up costs the sender more than a message does (a timerfd re-arm,
 * a VM exit on this machine, and two context switches), so above
 * 1 / gap messages/s the messages that fell due since the last wake-up
 * go out together, each stamped right before its own write (the latency
 * stays the server's; how late each went is pace_lat); below that rate,
 * one message per wake-up, on time. */
static void on_pace(evutil_socket_t fd, short what, void *ud)
{
    struct lg *lg = ud;
    (void)fd;
    (void)what;
    double end = lg->t_measure + lg->o.duration;
    double woke = now_s(), t = woke;
    for (;;) {
        double due = lg->t_measure + (double)lg->pace_k / lg->o.rate;
        if (due >= end) {
            lg->t_draining = t;
            /* A sender alone has nothing to wait for but its last writes. */
            stop_at(lg, lg->o.role == ROLE_SEND ? t + 0.5 : t + CHAT_DRAIN_S);
            return;
        }
        if (due > t) {
            double next = due > woke + lg->o.pace_gap ? due : woke + lg->o.pace_gap;
            double d = next - t;
            struct timeval tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
            event_add(lg->pace, &tv);
            return;
        }
        sample_add(&lg->pace_lat, t - due);
        send_chat_one(lg);
        lg->pace_k++;
        t = now_s();
    }
}

/* Chat: the measured phase begins (all online, and "go" if --sync). */
static void chat_start(struct lg *lg, double t)
{
    lg->measuring = true;
    lg->t_measure = t;
    lg->sent = lg->received = 0;
    lg->msg_lat.n = 0;
    lg->cpu_at_measure = self_cpu_s();
    if (lg->o.role == ROLE_RECV) {
        stop_at(lg, t + 3600);          /* until "stop N" (bounded) */
        return;
    }
    stop_at(lg, t + lg->o.duration + CHAT_DRAIN_S + 60);
    lg->pace_k = 0;
    on_pace(-1, 0, lg);
}

/* MUC: --rate groupchat messages/s in total, round robin over the first
 * --senders occupants, each carrying its send time. */
static void send_muc(struct lg *lg, double dt)
{
    lg->send_credit += lg->o.rate * dt;
    struct buf *b = &lg->scratch;
    size_t senders = (size_t)lg->o.senders < lg->nconns ? (size_t)lg->o.senders : lg->nconns;
    while (lg->send_credit >= 1) {
        struct conn *c = lg->conns[lg->send_rr++ % senders];
        lg->send_credit -= 1;
        if (c->st != CS_ONLINE || !c->joined)
            continue;
        buf_clear(b);
        buf_printf(b, "<message type='groupchat' to='%s'><body>%llu%*s</body></message>",
                   lg->o.room, (unsigned long long)now_us_wall(), lg->o.body_len, "");
        bufferevent_write(c->bev, b->data, b->len);
        lg->sent++;
    }
}

/* Roster setup: walk the (user, contact) pairs at --rate subscriptions/s,
 * with at most --window requests awaiting their approval.  The window is
 * what keeps the setup moving on a server that handles subscriptions
 * slower than they are offered: sent open-loop, every request would queue
 * in the server's input ahead of the approvals the contacts send back, so
 * no approval would complete until the whole backlog of requests had been
 * worked off (Prosody 0.12: 31 of 20,200 in 300 s).  Closed-loop, the
 * server only ever holds a window's worth, approvals complete at the rate
 * it can sustain, and that rate is what the harness reports. */
static void send_subscribes(struct lg *lg, double dt)
{
    lg->send_credit += lg->o.rate * dt;
    if (lg->send_credit > lg->o.rate)
        lg->send_credit = lg->o.rate;   /* window-bound: no burst once it opens */
    size_t pairs = lg->nconns * (size_t)lg->o.contacts;
    struct buf *b = &lg->scratch;
    while (lg->send_credit >= 1 && lg->send_rr < pairs &&
           lg->sent < lg->subscribed + (unsigned long long)lg->o.window) {
        struct conn *c = lg->conns[lg->send_rr / (size_t)lg->o.contacts];
        int other = contact_of(lg, c->user, (int)(lg->send_rr % (size_t)lg->o.contacts));
        lg->send_rr++;
        if (other < 0 || c->st != CS_ONLINE)
            continue;
        char u[128];
        user_name(lg, other, u, sizeof(u));
        buf_clear(b);
        buf_printf(b, "<presence type='subscribe' to='%s@%s'/>", u, lg->o.domain);
        bufferevent_write(c->bev, b->data, b->len);
        lg->sent++;
        lg->send_credit -= 1;
    }
}

/* Roster setup: true once the approvals' rate so far says the setup would
 * not finish within --duration.  Judged only after ROSTER_PROJECT_S, when
 * the rate is steady; it can only fall as rosters grow (a server's cost
 * per change may grow with the roster), so the projection is a lower
 * bound.  Stopping then saves the budget for the scenarios after it. */
static bool roster_too_slow(struct lg *lg, double t)
{
    double busy = t - (lg->t_start + lg->t_all_online);
    if (busy < ROSTER_PROJECT_S || lg->subscribed == 0)
        return false;
    lg->projected_s = busy * (double)lg->subs_expected / (double)lg->subscribed;
    return lg->projected_s > lg->o.duration;
}

/* Offline store: --messages in total to bare JIDs of accounts that are
 * not online, spread over the senders and the recipients. */
static void send_offline(struct lg *lg, double dt)
{
    lg->send_credit += lg->o.rate * dt;
    struct buf *b = &lg->scratch;
    while (lg->send_credit >= 1 && (long long)lg->sent < lg->o.messages) {
        struct conn *c = lg->conns[lg->send_rr % lg->nconns];
        int to = lg->o.to_first + (int)(lg->sent % (unsigned long long)lg->o.to_count);
        lg->send_rr++;
        lg->send_credit -= 1;
        if (c->st != CS_ONLINE)
            continue;
        char u[128];
        snprintf(u, sizeof(u), "%s%d", lg->o.to_prefix ? lg->o.to_prefix : lg->o.user_prefix, to);
        buf_clear(b);
        buf_printf(b, "<message type='chat' to='%s@%s'><body>%llu offline%*s</body></message>",
                   u, lg->o.domain, lg->sent, lg->o.body_len, "");
        bufferevent_write(c->bev, b->data, b->len);
        lg->sent++;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *ud)
{
    struct lg *lg = ud;
    (void)fd;
    (void)what;
    double t = now_s();
    double dt = lg->last_tick > 0 ? t - lg->last_tick : 0.001;
    lg->last_tick = t;
    enum scenario sc = lg->o.sc;
    if (t >= lg->t_end) {
        lg->stopping = true;
        event_base_loopexit(lg->base, NULL);
        return;
    }
    if (sc == SC_REGISTER) {
        launch_more(lg);
        return;
    }
    if (sc == SC_LOGIN) {
        if (!lg->measuring && t >= lg->t_measure) {
            lg->measuring = true;
            lg->ok = lg->failed = 0;
            lg->login_lat.n = 0;
            lg->t_measure = t;
        }
        /* Open-loop arrivals at --rate, bounded by --concurrency. */
        lg->send_credit += lg->o.rate * dt;
        for (size_t i = 0; i < lg->nconns && lg->send_credit >= 1; i++) {
            struct conn *c = lg->conns[(lg->send_rr + i) % lg->nconns];
            if (c->st != CS_DONE && c->bev)
                continue;
            c->user = lg->o.first_user + lg->next_user++ % lg->o.users;
            conn_start(lg, c);
            lg->send_credit -= 1;
        }
        if (lg->send_credit > lg->o.rate)
            lg->send_credit = lg->o.rate;   /* saturated: don't build a backlog */
        return;
    }

    /* Session scenarios: bring everyone up, then act. */
    bring_up(lg, dt);
    if (sc == SC_MUC && !lg->all_online && lg->joined == (int)lg->nconns) {
        /* Everyone is in the room; the last joins' presence broadcasts may
         * still be on their way: let them settle before measuring (the
         * "all-online" mark is printed then, see SC_MUC below). */
        lg->all_online = true;
        lg->t_all_online = t - lg->t_start;
        lg->t_settled = t + MUC_SETTLE_S;
    }
    if (sc != SC_MUC && !lg->all_online && lg->online == (int)lg->nconns) {
        lg->all_online = true;
        lg->t_all_online = t - lg->t_start;
        /* run.py waits for this line to sample the server's memory. */
        printf("all-online %d %.3f\n", lg->online, lg->t_all_online);
        fflush(stdout);
        if (sc == SC_ROSTER || sc == SC_SEND || sc == SC_RECV)
            stop_at(lg, t + lg->o.duration);
        lg->t_approved = t;             /* roster: the stall clock starts now */
        if (sc == SC_IDLE)
            lg->t_verify = t + lg->o.duration;
        if (sc == SC_CHAT && !lg->o.sync)
            chat_start(lg, t);
        if (sc == SC_CHAT && lg->o.sync && lg->go)
            chat_start(lg, t);          /* "go" came before all were up */
    }
    if (!lg->all_online) {
        /* A slow server gets its time as long as sessions keep coming up;
         * 30 s without one ends the wait. */
        if (t >= lg->t_login_deadline && t - lg->t_progress >= 30 && sc != SC_STORM) {
            fprintf(stderr, "loadgen: only %d of %zu sessions online (%d in the room) "
                    "after %.0f s\n", lg->online, lg->nconns, lg->joined, t - lg->t_start);
            static const char *const stn[] = {
                "connecting", "features1", "proceed", "features2", "register",
                "challenge", "success", "features3", "bind", "roster", "online", "done" };
            int shown = 0;
            for (size_t i = 0; i < lg->nconns && shown < 5; i++) {
                const struct conn *c = lg->conns[i];
                if (c->st != CS_ONLINE && c->st != CS_DONE && c->bev) {
                    fprintf(stderr, "loadgen:   user %d stuck in state %s\n", c->user,
                            stn[c->st]);
                    shown++;
                }
            }
            lg->t_login_deadline = 1e18;
            /* Memory and delivery figures need everyone: report and stop. */
            stop_at(lg, t);
        }
        if (sc != SC_STORM)
            return;
    }
    switch (sc) {
    case SC_CHAT:
        /* Sending is on_pace's; here only the end of the drain. */
        if (!lg->measuring)
            break;
        if (lg->o.role == ROLE_BOTH && lg->t_draining > 0 && lg->received >= lg->sent)
            stop_at(lg, t);
        if (lg->o.role == ROLE_RECV && lg->stop_told && lg->received >= lg->expect_total)
            stop_at(lg, t);
        break;
    case SC_IDLE:
        if (lg->all_online && !lg->verify_sent && t >= lg->t_verify) {
            /* The hold is over: one ping round trip on every session
             * (XEP-0199 §4.2, to the server) shows it is still alive. */
            lg->verify_sent = true;
            struct buf *b = &lg->scratch;
            buf_clear(b);
            buf_printf(b, "<iq type='get' id='alive' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>",
                       lg->o.domain);
            for (size_t i = 0; i < lg->nconns; i++)
                if (lg->conns[i]->st == CS_ONLINE)
                    bufferevent_write(lg->conns[i]->bev, b->data, b->len);
            stop_at(lg, t + VERIFY_WAIT_S);
        }
        if (lg->verify_sent && lg->alive >= lg->online)
            stop_at(lg, t);
        break;
    case SC_ROSTER:
        send_subscribes(lg, dt);
        if (lg->subscribed >= lg->subs_expected)
            stop_at(lg, t + 1);     /* let the last roster writes land */
        else if (t - lg->t_approved >= ROSTER_STALL_S) {
            /* Requests are out and none was approved for this long: the
             * server is not working them off; report, don't wait for
             * --duration. */
            lg->stalled = true;
            stop_at(lg, t);
        } else if (roster_too_slow(lg, t)) {
            stop_at(lg, t);
        }
        break;
    case SC_STORM:
        if (lg->all_online && lg->presences >= lg->subs_expected)
            stop_at(lg, t + 0.5);   /* duplicates would show up now */
        break;
    case SC_SEND:
        send_offline(lg, dt);
        if ((long long)lg->sent >= lg->o.messages) {
            if (lg->t_draining == 0)
                lg->t_draining = t;
            stop_at(lg, lg->t_draining + 2);    /* bounces, if any */
        }
        break;
    case SC_RECV:
        if ((long long)lg->received >= lg->o.expect)
            stop_at(lg, t + 0.5);
        break;
    case SC_MUC:
        if (t < lg->t_settled)
            break;
        if (!lg->measuring) {
            lg->measuring = true;
            lg->t_measure = t;
            lg->sent = lg->received = lg->echoes = 0;
            lg->msg_lat.n = 0;
            lg->cpu_at_measure = self_cpu_s();
            printf("all-online %d %.3f\n", lg->online, lg->t_all_online);
            fflush(stdout);
            stop_at(lg, t + lg->o.duration + MUC_DRAIN_S);
        }
        if (t < lg->t_measure + lg->o.duration) {
            send_muc(lg, dt);
        } else {
            if (lg->t_draining == 0)
                lg->t_draining = t;
            if (lg->received + lg->echoes >= lg->sent * lg->nconns)
                stop_at(lg, t);
        }
        break;
    default:
        break;
    }
}

/* --sync: run.py's lines on stdin.  "go" starts the measured phase in
 * every generator process at once; "stop N" tells a receiver that its
 * senders sent N messages in all (it ends when they arrived, or after
 * CHAT_DRAIN_S). */
static void on_ctl(evutil_socket_t fd, short what, void *ud)
{
    struct lg *lg = ud;
    (void)what;
    char line[128];
    ssize_t n = read(fd, line, sizeof(line) - 1);
    if (n <= 0) {
        event_del(lg->ctl);             /* run.py went away: the bounds end us */
        return;
    }
    line[n] = '\0';
    double t = now_s();
    for (char *l = strtok(line, "\n"); l; l = strtok(NULL, "\n")) {
        if (strcmp(l, "go") == 0 && !lg->go) {
            lg->go = true;
            if (lg->all_online)
                chat_start(lg, t);
        } else if (strncmp(l, "stop ", 5) == 0 && !lg->stop_told) {
            lg->stop_told = true;
            lg->expect_total = strtoull(l + 5, NULL, 10);
            lg->t_draining = t;
            stop_at(lg, t + CHAT_DRAIN_S);
        }
    }
}

/* --- relay: the generator's own latency -------------------------------------
 * A stand-in for the server that does the least a server must: TLS in,
 * TLS out.  Each connection first sends "<user> <peer>\n"; the relay
 * answers with a stream header and from then on forwards every byte it
 * reads to the connection of <peer>, verbatim.  The chat scenario with
 * --no-login --tls direct against it runs the generator's exact send and
 * receive path, so its latency is the generator's own (plus two loopback
 * hops and one TLS decrypt + encrypt): the part of a server's figure that
 * is not the server's. */

struct relay_conn {
    struct lg *lg;
    struct bufferevent *bev;
    SSL *ssl;                           /* owned by bev */
    int user, peer;                     /* -1 until the first line came */
};

static void relay_free(struct relay_conn *r)
{
    struct lg *lg = r->lg;
    if (r->user >= 0 && (size_t)r->user < lg->nrelay && lg->relay[r->user] == r)
        lg->relay[r->user] = NULL;
    bufferevent_free(r->bev);
    free(r);
}

/* The relay is the floor under every server's CPU per message (run.py's
 * self-test, floor.py), so it moves bytes as cheaply as parleyd does:
 * TLS read-ahead with the records OpenSSL holds read at once (as
 * stream/c2s.c read_buffered_tls()), and output written in the loop turn
 * that produced it (as c2s.c out_kick()).  Returns false once r is freed. */
static bool relay_take(struct relay_conn *r, struct bufferevent *bev)
{
    struct lg *lg = r->lg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (r->user < 0) {
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
        if (!line)
            return true;
        int u = -1, p = -1;
        if (sscanf(line, "%d %d", &u, &p) != 2 || u < 0 || u >= 1000000) {
            free(line);
            relay_free(r);
            return false;
        }
        free(line);
        if ((size_t)u >= lg->nrelay) {
            size_t n = (size_t)u + 1024;
            lg->relay = pl_realloc(lg->relay, n * sizeof(*lg->relay));
            memset(lg->relay + lg->nrelay, 0, (n - lg->nrelay) * sizeof(*lg->relay));
            lg->nrelay = n;
        }
        r->user = u;
        r->peer = p;
        lg->relay[u] = r;
        static const char hdr[] = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
        bufferevent_write(bev, hdr, sizeof(hdr) - 1);
    }
    size_t n = evbuffer_get_length(in);
    if (!n)
        return true;
    struct relay_conn *to = r->peer >= 0 && (size_t)r->peer < lg->nrelay ? lg->relay[r->peer]
                                                                          : NULL;
    if (!to) {
        lg->relay_dropped += n;
        evbuffer_drain(in, n);
        return true;
    }
    lg->relayed += n;
    size_t before = evbuffer_get_length(bufferevent_get_output(to->bev));
    bufferevent_write_buffer(to->bev, in);
    if (before == 0)
        event_active(&to->bev->ev_write, EV_WRITE, 1);
    return true;
}

static void relay_read(struct bufferevent *bev, void *ud)
{
    struct relay_conn *r = ud;
    if (relay_take(r, bev) && SSL_has_pending(r->ssl))
        event_active(&bev->ev_read, EV_READ, 1);
}

static void relay_event(struct bufferevent *bev, short what, void *ud)
{
    struct relay_conn *r = ud;
    if ((what & BEV_EVENT_CONNECTED) && SSL_has_pending(r->ssl))
        event_active(&bev->ev_read, EV_READ, 1);
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        relay_free(ud);
}

static void relay_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *ud)
{
    struct lg *lg = ud;
    (void)l;
    (void)sa;
    (void)salen;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct relay_conn *r = pl_calloc(1, sizeof(*r));
    r->lg = lg;
    r->user = r->peer = -1;
    r->ssl = SSL_new(lg->ssl_ctx);
    SSL_set_read_ahead(r->ssl, 1);
    r->bev = bufferevent_openssl_socket_new(lg->base, fd, r->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(r->bev, relay_read, NULL, relay_event, r);
    bufferevent_enable(r->bev, EV_READ | EV_WRITE);
}

/* Runs the relay until --duration ends (or SIGTERM). */
static int relay_main(struct lg *lg)
{
    const struct opts *o = &lg->o;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!o->cert || SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o->cert, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "loadgen: relay needs --cert PEM (key and certificate)\n");
        return 2;
    }
    SSL_CTX_free(lg->ssl_ctx);
    lg->ssl_ctx = ctx;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
    inet_pton(AF_INET, o->ip, &sin.sin_addr);
    struct evconnlistener *l = evconnlistener_new_bind(
        lg->base, relay_accept, lg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
        (struct sockaddr *)&sin, sizeof(sin));
    if (!l) {
        perror("loadgen: relay listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    struct timeval tv = { (time_t)o->duration, 0 };
    event_base_loopexit(lg->base, &tv);
    event_base_dispatch(lg->base);
    printf("{\"scenario\":\"relay\",\"relayed_bytes\":%llu,\"dropped_bytes\":%llu,"
           "\"cpu_s\":%.3f}\n", lg->relayed, lg->relay_dropped, self_cpu_s());
    for (size_t i = 0; i < lg->nrelay; i++)
        if (lg->relay[i])
            relay_free(lg->relay[i]);
    free(lg->relay);
    evconnlistener_free(l);
    SSL_CTX_free(lg->ssl_ctx);
    event_base_free(lg->base);
    return 0;
}

static void on_keepalive(evutil_socket_t fd, short what, void *ud)
{
    struct lg *lg = ud;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < lg->nconns; i++)
        if (lg->conns[i]->st == CS_ONLINE)
            put(lg->conns[i], " ");
}

/* Precise timers (a timerfd under epoll): the chat pacing deadlines are
 * microseconds apart and epoll_wait's own timeout is in milliseconds.
 * They cost a timerfd_settime() per loop turn, which a chat receiver,
 * woken by its reads, has no use for.  Chat has the epoll changelist too
 * (see flush_now()); the other scenarios, which close and open sockets
 * by the thousand, keep libevent's plain epoll calls. */
static int base_flags(const struct opts *o)
{
    /* The relay stands in for a server (the floor under every server's
     * figure): parleyd's settings (core/server.c), no timer per turn. */
    if (o->sc == SC_RELAY)
        return EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST;
    if (o->sc != SC_CHAT)
        return EVENT_BASE_FLAG_PRECISE_TIMER;
    return EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST |
           (o->role == ROLE_RECV ? 0 : EVENT_BASE_FLAG_PRECISE_TIMER);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --scenario register|login|idle|chat|roster|storm|send|recv|muc "
            "[options]\n"
            "  --ip A --port N --domain D --tls none|starttls|direct\n"
            "  --user-prefix P (accounts P0, P1, ...) --password P --first-user N --users N\n"
            "  --conns N --rate R --duration S --warmup S --concurrency N\n"
            "  --login-rate R (sessions/s while coming up) --contacts N (roster, storm)\n"
            "  --window N (roster: subscription requests awaiting approval, default 200)\n"
            "  --to-prefix P --to-first N --to-count N --messages N (send) --expect N (recv)\n"
            "  --room JID (muc; default bench@conference.DOMAIN) --senders N (muc, default 2)\n"
            "  --room-config nolog|instant (muc: the owner's form; default nolog)\n"
            "  --src-base B (127.B.x.y source addresses) --body N --json\n"
            "  --keepalive S (whitespace keepalive interval, default 30)\n"
            "  chat: --role both|send|recv (send: connection i sends to account\n"
            "        --to-prefix/--to-first + i; recv: only receives) --sync (wait for\n"
            "        'go' and, receivers, 'stop N' on stdin) --samples FILE (latencies,\n"
            "        uint32 us) --no-login (against --scenario relay, with --tls direct)\n"
            "        --pace-gap US (sender wake-ups at least this far apart, default 250;\n"
            "        0 wakes for every message)\n"
            "  relay: --cert PEM; TLS relay on --ip/--port for --duration s\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct lg lg;
    memset(&lg, 0, sizeof(lg));
    struct opts *o = &lg.o;
    o->ip = "127.0.0.1";
    o->port = 5222;
    o->domain = "localhost";
    o->user_prefix = "bench";
    o->password = "benchpass";
    o->users = 100;
    o->conns = 100;
    o->rate = 100;
    o->duration = 10;
    o->concurrency = 200;
    o->tls = TLS_STARTTLS;
    o->src_base = 1;
    o->body_len = 0;
    o->login_rate = 500;
    o->contacts = 100;
    o->window = 200;
    o->senders = 2;
    o->keepalive = 30;
    o->pace_gap = 250e-6;
    double warmup = 0;
    o->sc = SC_LOGIN;
    static const struct option lo[] = {
        {"scenario", 1, 0, 's'}, {"ip", 1, 0, 'a'}, {"port", 1, 0, 'p'},
        {"domain", 1, 0, 'd'}, {"tls", 1, 0, 't'}, {"user-prefix", 1, 0, 'u'},
        {"password", 1, 0, 'w'}, {"first-user", 1, 0, 'f'}, {"users", 1, 0, 'n'},
        {"conns", 1, 0, 'c'}, {"rate", 1, 0, 'r'}, {"duration", 1, 0, 'D'},
        {"warmup", 1, 0, 'W'}, {"concurrency", 1, 0, 'C'}, {"src-base", 1, 0, 'B'},
        {"body", 1, 0, 'b'}, {"json", 0, 0, 'j'}, {"login-rate", 1, 0, 'L'},
        {"contacts", 1, 0, 'K'}, {"to-first", 1, 0, 'T'}, {"to-prefix", 1, 0, 'P'}, {"to-count", 1, 0, 'N'},
        {"messages", 1, 0, 'M'}, {"expect", 1, 0, 'E'}, {"room", 1, 0, 'R'},
        {"senders", 1, 0, 'S'}, {"room-config", 1, 0, 'G'}, {"role", 1, 0, 'o'},
        {"sync", 0, 0, 'y'}, {"samples", 1, 0, 'F'}, {"keepalive", 1, 0, 'k'},
        {"no-login", 0, 0, 'l'}, {"cert", 1, 0, 'x'}, {"window", 1, 0, 'O'},
        {"pace-gap", 1, 0, 'g'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (!strcmp(optarg, "register")) o->sc = SC_REGISTER;
            else if (!strcmp(optarg, "login")) o->sc = SC_LOGIN;
            else if (!strcmp(optarg, "idle")) o->sc = SC_IDLE;
            else if (!strcmp(optarg, "chat")) o->sc = SC_CHAT;
            else if (!strcmp(optarg, "roster")) o->sc = SC_ROSTER;
            else if (!strcmp(optarg, "storm")) o->sc = SC_STORM;
            else if (!strcmp(optarg, "send")) o->sc = SC_SEND;
            else if (!strcmp(optarg, "recv")) o->sc = SC_RECV;
            else if (!strcmp(optarg, "muc")) o->sc = SC_MUC;
            else if (!strcmp(optarg, "relay")) o->sc = SC_RELAY;
            else usage();
            break;
        case 'a': o->ip = optarg; break;
        case 'p': o->port = atoi(optarg); break;
        case 'd': o->domain = optarg; break;
        case 't':
            if (!strcmp(optarg, "none")) o->tls = TLS_NONE;
            else if (!strcmp(optarg, "starttls")) o->tls = TLS_STARTTLS;
            else if (!strcmp(optarg, "direct")) o->tls = TLS_DIRECT;
            else usage();
            break;
        case 'u': o->user_prefix = optarg; break;
        case 'w': o->password = optarg; break;
        case 'f': o->first_user = atoi(optarg); break;
        case 'n': o->users = atoi(optarg); break;
        case 'c': o->conns = atoi(optarg); break;
        case 'r': o->rate = atof(optarg); break;
        case 'D': o->duration = atof(optarg); break;
        case 'W': warmup = atof(optarg); break;
        case 'C': o->concurrency = atoi(optarg); break;
        case 'B': o->src_base = atoi(optarg); break;
        case 'b': o->body_len = atoi(optarg); break;
        case 'j': o->json = true; break;
        case 'L': o->login_rate = atof(optarg); break;
        case 'K': o->contacts = atoi(optarg); break;
        case 'O': o->window = atoi(optarg); break;
        case 'T': o->to_first = atoi(optarg); break;
        case 'P': o->to_prefix = optarg; break;
        case 'N': o->to_count = atoi(optarg); break;
        case 'M': o->messages = atoll(optarg); break;
        case 'E': o->expect = atoll(optarg); break;
        case 'R': o->room = optarg; break;
        case 'S': o->senders = atoi(optarg); break;
        case 'o':
            if (!strcmp(optarg, "both")) o->role = ROLE_BOTH;
            else if (!strcmp(optarg, "send")) o->role = ROLE_SEND;
            else if (!strcmp(optarg, "recv")) o->role = ROLE_RECV;
            else usage();
            break;
        case 'y': o->sync = true; break;
        case 'F': o->samples = optarg; break;
        case 'k': o->keepalive = atof(optarg); break;
        case 'l': o->no_login = true; break;
        case 'g': o->pace_gap = atof(optarg) / 1e6; break;
        case 'x': o->cert = optarg; break;
        case 'G':
            if (!strcmp(optarg, "nolog")) o->room_instant = false;
            else if (!strcmp(optarg, "instant")) o->room_instant = true;
            else usage();
            break;
        default: usage();
        }
    }
    if (o->users <= 0 || o->conns <= 0 || o->rate <= 0 || o->concurrency <= 0 ||
        o->login_rate <= 0 || o->contacts <= 0 || o->window <= 0 || o->duration <= 0 ||
        (o->sc == SC_SEND && (o->to_count <= 0 || o->messages <= 0)) ||
        (o->sc == SC_MUC && o->senders <= 0) || o->keepalive <= 0 || o->pace_gap < 0 ||
        (o->no_login && (o->sc != SC_CHAT || o->tls != TLS_DIRECT)))
        usage();
    char room[300];
    if (!o->room) {
        snprintf(room, sizeof(room), "bench@conference.%s", o->domain);
        o->room = room;
    }
    /* roster and storm run one session per account. */
    if (o->sc == SC_ROSTER || o->sc == SC_STORM)
        o->conns = o->users;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct event_config *ecfg = event_config_new();
    event_config_set_flag(ecfg, base_flags(o));
    lg.base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    lg.ssl_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(lg.ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(lg.ssl_ctx, SSL_VERIFY_NONE, NULL);   /* self-signed test certs */
    SSL_CTX_set_mode(lg.ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    lg.limits = (struct xml_limits){ 1u << 20, 64, 64 };
    if (o->sc == SC_RELAY)
        return relay_main(&lg);

    size_t n = o->sc == SC_LOGIN || o->sc == SC_REGISTER ? (size_t)o->concurrency
                                                         : (size_t)o->conns;
    if (o->sc == SC_CHAT && o->role == ROLE_BOTH && n % 2)
        n++;
    lg.nconns = n;
    lg.conns = pl_calloc(n, sizeof(*lg.conns));
    for (size_t i = 0; i < n; i++) {
        struct conn *c = pl_calloc(1, sizeof(*c));
        c->lg = &lg;
        c->st = CS_DONE;
        c->user = o->first_user + (int)(i % (size_t)o->users);
        c->fd = -1;
        c->peer = (int)(i ^ 1u);
        /* chat: both = the pair partner in this process; send = account
         * to_first + i (held by a receiver process); recv = nobody. */
        c->target = o->role == ROLE_SEND ? o->to_first + (int)i
                  : o->role == ROLE_RECV ? -1
                  : o->first_user + (int)((i ^ 1u) % (size_t)o->users);
        lg.conns[i] = c;
    }
    lg.next_user = o->sc == SC_REGISTER ? o->first_user : 0;
    lg.t_start = now_s();
    lg.t_measure = lg.t_start + warmup;
    lg.t_end = lg.t_measure + o->duration;
    if (o->sc != SC_LOGIN && o->sc != SC_REGISTER) {
        /* Bounded: sessions must be up within n / login-rate + 30 s; each
         * scenario then shortens t_end once it is done. */
        lg.t_login_deadline = lg.t_start + (double)n / o->login_rate + 30;
        lg.t_progress = lg.t_start;
        lg.t_end = lg.t_login_deadline + 900 + o->duration;     /* hard bound */
        lg.measuring = o->sc != SC_CHAT && o->sc != SC_MUC;
        if (o->sc == SC_STORM)
            lg.t_end = lg.t_start + o->duration;
    }
    if (o->sc == SC_ROSTER || o->sc == SC_STORM)
        for (size_t i = 0; i < n; i++)
            lg.subs_expected += (unsigned long long)contacts_in_clique(&lg, lg.conns[i]->user);
    if (o->sc == SC_REGISTER) {
        lg.t_end = lg.t_start + 1e9;
        lg.t_measure = lg.t_start + 1e9;     /* count from the start */
    }
    struct timeval ms = { 0, 1000 };
    lg.tick = event_new(lg.base, -1, EV_PERSIST, on_tick, &lg);
    event_add(lg.tick, &ms);
    struct timeval ka = { (time_t)o->keepalive,
                          (suseconds_t)((o->keepalive - (double)(time_t)o->keepalive) * 1e6) };
    struct event *kev = event_new(lg.base, -1, EV_PERSIST, on_keepalive, &lg);
    event_add(kev, &ka);
    lg.pace = evtimer_new(lg.base, on_pace, &lg);
    if (o->sync) {
        lg.ctl = event_new(lg.base, 0, EV_READ | EV_PERSIST, on_ctl, &lg);
        event_add(lg.ctl, NULL);
    }

    event_base_dispatch(lg.base);
    /* run.py reads the server's CPU time at all-online and here. */
    printf("end\n");
    fflush(stdout);
    double elapsed = now_s() - lg.t_measure;
    if (o->sc == SC_REGISTER || (o->sc != SC_LOGIN && o->sc != SC_CHAT))
        elapsed = now_s() - lg.t_start;
    if (o->sc == SC_CHAT || o->sc == SC_MUC)    /* rates over the sending window */
        elapsed = (lg.t_draining > 0 ? lg.t_draining : now_s()) - lg.t_measure;

    qsort(lg.login_lat.v, lg.login_lat.n, sizeof(uint32_t), cmp_u32);
    if (o->samples) {
        /* Raw, unsorted: run.py merges several processes' samples. */
        FILE *f = fopen(o->samples, "wb");
        if (!f || fwrite(lg.msg_lat.v, sizeof(uint32_t), lg.msg_lat.n, f) != lg.msg_lat.n)
            perror("loadgen: samples");
        if (f)
            fclose(f);
    }
    qsort(lg.msg_lat.v, lg.msg_lat.n, sizeof(uint32_t), cmp_u32);
    qsort(lg.pace_lat.v, lg.pace_lat.n, sizeof(uint32_t), cmp_u32);
    qsort(lg.login_cpu.v, lg.login_cpu.n, sizeof(uint32_t), cmp_u32);
    qsort(lg.login_rest.v, lg.login_rest.n, sizeof(uint32_t), cmp_u32);
    static const char *const names[] = { "register", "login", "idle", "chat", "roster",
                                         "storm", "send", "recv", "muc", "relay" };
    /* The generator's own CPU: near 1 s per s, it (not the server) was
     * the bottleneck. */
    double lg_cpu = self_cpu_s();
    /* Over the measured window (muc): compare with its length. */
    double lg_cpu_window = lg.cpu_at_measure > 0 ? lg_cpu - lg.cpu_at_measure : 0;
    if (o->json) {
        printf("{\"scenario\":\"%s\",\"elapsed\":%.3f,\"ok\":%llu,\"failed\":%llu,"
               "\"online\":%d,\"ok_per_s\":%.1f,"
               "\"login_p50_ms\":%.3f,\"login_p99_ms\":%.3f,"
               "\"sent\":%llu,\"received\":%llu,\"received_per_s\":%.1f,"
               "\"msg_p50_ms\":%.3f,\"msg_p99_ms\":%.3f,\"msg_p999_ms\":%.3f,"
               "\"conns\":%zu,\"all_online_s\":%.3f,\"presences\":%llu,"
               "\"subscribed\":%llu,\"expected\":%llu,\"errors\":%llu,"
               "\"send_s\":%.3f,\"loadgen_cpu_s\":%.3f,\"joined\":%d,\"echoes\":%llu,"
               "\"muc_presences\":%llu,\"room_created\":%s,\"room_config\":\"%s\","
               "\"drain_s\":%.3f,\"loadgen_window_cpu_s\":%.3f,"
               "\"pace_p50_ms\":%.4f,\"pace_p99_ms\":%.4f,\"pace_max_ms\":%.4f,"
               "\"login_cpu_p50_ms\":%.3f,\"login_rest_p50_ms\":%.3f,"
               "\"login_rest_p99_ms\":%.3f,\"alive\":%d,\"verified\":%s,"
               "\"samples\":%zu,\"stalled\":%s,\"projected_s\":%.1f,"
               "\"approve_s\":%.3f}\n",
               names[o->sc], elapsed, lg.ok, lg.failed, lg.online,
               elapsed > 0 ? (double)lg.ok / elapsed : 0,
               pct_ms(&lg.login_lat, 50), pct_ms(&lg.login_lat, 99),
               lg.sent, lg.received, elapsed > 0 ? (double)lg.received / elapsed : 0,
               pct_ms(&lg.msg_lat, 50), pct_ms(&lg.msg_lat, 99), pct_ms(&lg.msg_lat, 99.9),
               n, lg.t_all_online, lg.presences, lg.subscribed, lg.subs_expected, lg.errors,
               lg.t_draining > 0 ? lg.t_draining - lg.t_measure : elapsed, lg_cpu, lg.joined,
               lg.echoes, lg.muc_presences, lg.room_created ? "true" : "false",
               lg.room_config ? lg.room_config : "",
               lg.t_draining > 0 ? now_s() - lg.t_draining : 0, lg_cpu_window,
               pct_ms(&lg.pace_lat, 50), pct_ms(&lg.pace_lat, 99), pct_ms(&lg.pace_lat, 100),
               pct_ms(&lg.login_cpu, 50), pct_ms(&lg.login_rest, 50),
               pct_ms(&lg.login_rest, 99), lg.alive, lg.verify_sent ? "true" : "false",
               lg.msg_lat.n, lg.stalled ? "true" : "false", lg.projected_s,
               /* roster: from the first request to the last approval */
               lg.t_approved > 0 ? lg.t_approved - lg.t_start - lg.t_all_online : 0);
    } else {
        printf("%s: %.1f s, ok %llu (%.1f/s), failed %llu, online %d\n", names[o->sc],
               elapsed, lg.ok, elapsed > 0 ? (double)lg.ok / elapsed : 0, lg.failed,
               lg.online);
        if (lg.login_lat.n)
            printf("  login latency p50 %.3f ms, p99 %.3f ms; generator CPU p50 %.3f ms, "
                   "latency - generator CPU p50 %.3f ms\n", pct_ms(&lg.login_lat, 50),
                   pct_ms(&lg.login_lat, 99), pct_ms(&lg.login_cpu, 50),
                   pct_ms(&lg.login_rest, 50));
        if (o->sc == SC_IDLE && lg.verify_sent)
            printf("  %d of %d sessions answered the final ping\n", lg.alive, lg.online);
        if (lg.pace_lat.n)
            printf("  pacing: sent p50 %.4f ms, p99 %.4f ms after the deadline\n",
                   pct_ms(&lg.pace_lat, 50), pct_ms(&lg.pace_lat, 99));
        if (o->sc == SC_MUC)
            printf("  room %s (%s): %d joined, sent %llu, delivered to others %llu, "
                   "echoes %llu, errors %llu\n", o->room, lg.room_config ? lg.room_config : "-",
                   lg.joined, lg.sent, lg.received, lg.echoes, lg.errors);
        if (o->sc == SC_CHAT || o->sc == SC_MUC)
            printf("  messages sent %llu, received %llu (%.1f/s), latency p50 %.3f ms, "
                   "p99 %.3f ms, p99.9 %.3f ms\n", lg.sent, lg.received,
                   elapsed > 0 ? (double)lg.received / elapsed : 0, pct_ms(&lg.msg_lat, 50),
                   pct_ms(&lg.msg_lat, 99), pct_ms(&lg.msg_lat, 99.9));
    }
    for (size_t i = 0; i < n; i++) {
        conn_free(lg.conns[i]);
        free(lg.conns[i]);
    }
    free(lg.conns);
    for (size_t i = 0; i < lg.nsalts; i++)
        free(lg.salts[i].salt);
    free(lg.salts);
    free(lg.login_lat.v);
    free(lg.msg_lat.v);
    free(lg.pace_lat.v);
    free(lg.login_cpu.v);
    free(lg.login_rest.v);
    event_free(lg.pace);
    if (lg.ctl)
        event_free(lg.ctl);
    buf_release(&lg.scratch);
    event_free(lg.tick);
    event_free(kev);
    SSL_CTX_free(lg.ssl_ctx);
    event_base_free(lg.base);
    return lg.failed && o->sc == SC_REGISTER ? 1 : 0;
}
