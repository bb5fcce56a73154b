/* test_tls.c - src/net/tls.c: certificate loading and its errors, SNI
 * selection (RFC 6125 §6.4 exact/wildcard/CN), the TLS 1.2 floor and the
 * cipher list (RFC 7590), ALPN (XEP-0368), and channel bindings
 * tls-exporter (RFC 9266) and tls-server-end-point (RFC 5929 §4.1).
 *
 * Certificates are generated at test time with the openssl command line
 * tool in a temporary directory; handshakes run in memory over a BIO pair
 * between a plain OpenSSL client and tls_ssl_new(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/log.h"
#include "net/tls.h"
#include "stream/sasl/sasl.h"

struct fixture {
    char dir[64];               /* temp dir holding the generated files */
};

/* key spec for "openssl req -newkey", digest option ("" for EdDSA) */
struct certspec {
    const char *name;           /* file stem: <dir>/<name>.pem */
    const char *newkey;
    const char *digest;
    const char *subj;
    const char *san;            /* NULL: no subjectAltName */
};

static const struct certspec certs[] = {
    { "a", "ec -pkeyopt ec_paramgen_curve:P-256", "-sha256", "/CN=a.test",
      "DNS:a.test,DNS:conference.a.test" },
    { "b", "rsa:2048", "-sha256", "/CN=b.test",
      "DNS:b.test,DNS:*.w.test,DNS:127.0.0.1,DNS:f*.b.test,DNS:*.test" },
    { "c", "ec -pkeyopt ec_paramgen_curve:P-384", "-sha384", "/CN=c-cn.test",
      "DNS:c.test,DNS:x.w.test" },
    /* no SAN: the CN is used (and "ignored.test" is not a dNSName) */
    { "cn", "ec -pkeyopt ec_paramgen_curve:P-256", "-sha256",
      "/O=ignored.test/CN=cn.test", NULL },
    /* EdDSA: the signature has no separate hash (RFC 5929 §4.1) */
    { "ed", "ed25519", "", "/CN=ed.test", "DNS:ed.test" },
    { "sha1", "rsa:2048", "-sha1", "/CN=sha1.test", "DNS:sha1.test" },
};

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

static void path_of(const struct fixture *f, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.pem", f->dir, name);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/parley-tls-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    char cmd[1024];
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
        const struct certspec *c = &certs[i];
        char san[256] = "";
        if (c->san)
            snprintf(san, sizeof(san), "-addext 'subjectAltName=%s'", c->san);
        snprintf(cmd, sizeof(cmd),
                 "cd %s && openssl req -x509 -newkey %s %s -nodes -days 30 "
                 "-keyout %s.key -out %s.crt -subj '%s' %s 2>/dev/null && "
                 "cat %s.crt %s.key > %s.pem",
                 f->dir, c->newkey, c->digest, c->name, c->name, c->subj, san,
                 c->name, c->name, c->name);
        if (run(cmd) != 0)
            return -1;
    }
    /* a's certificate with b's key; a certificate alone; no PEM at all */
    snprintf(cmd, sizeof(cmd),
             "cd %s && cat a.crt b.key > mismatch.pem && cp a.crt nokey.pem && "
             "echo hello > garbage.pem",
             f->dir);
    if (run(cmd) != 0)
        return -1;
    log_set_level(LOG_ERROR);   /* the fallback warnings are expected */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    run(cmd);
    free(f);
    return 0;
}

/* --- helpers ------------------------------------------------------------- */

#define MAXN 8

/* A hand-built struct conf: conf.c is not linked. */
struct test_conf {
    struct conf conf;
    char *hosts[MAXN];
    char *files[MAXN];
};

/* hosts and file stems are NULL-terminated lists. */
static void conf_make(const struct fixture *f, struct test_conf *tc,
                      const char *const *hosts, const char *const *stems)
{
    memset(tc, 0, sizeof(*tc));
    size_t n = 0;
    for (; hosts[n]; n++)
        tc->hosts[n] = strdup(hosts[n]);
    tc->conf.hosts.items = tc->hosts;
    tc->conf.hosts.count = n;
    for (n = 0; stems[n]; n++) {
        char p[256];
        path_of(f, stems[n], p, sizeof(p));
        tc->files[n] = strdup(p);
    }
    tc->conf.certfiles.items = tc->files;
    tc->conf.certfiles.count = n;
}

static void conf_done(struct test_conf *tc)
{
    for (size_t i = 0; i < MAXN; i++) {
        free(tc->hosts[i]);
        free(tc->files[i]);
    }
}

static struct tls *tls_make(const struct fixture *f, const char *const *hosts,
                            const char *const *stems)
{
    struct test_conf tc;
    conf_make(f, &tc, hosts, stems);
    struct buf err = BUF_INIT;
    struct tls *t = tls_new(&tc.conf, &err);
    if (t == NULL)
        fprintf(stderr, "tls_new: %s\n", err.data);
    assert_non_null(t);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    conf_done(&tc);
    return t;
}

static X509 *load_x509(const struct fixture *f, const char *stem)
{
    char p[256];
    path_of(f, stem, p, sizeof(p));
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    return x;
}

struct client_opts {
    const char *sni;            /* NULL: no SNI */
    int max_version;            /* 0: library default */
    const char *ciphers;        /* TLS 1.2 cipher list, NULL: default */
    const unsigned char *alpn;  /* wire-format list, NULL: none */
    unsigned alpn_len;
};

struct conn {
    SSL_CTX *cctx;
    SSL *client;
    SSL *server;
};

/* Runs a handshake between a fresh client and 'server' (taken over).
 * Returns true when both sides completed it. */
static bool handshake(struct conn *c, SSL *server, const struct client_opts *o)
{
    memset(c, 0, sizeof(*c));
    c->server = server;
    c->cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->cctx);
    if (o->max_version) {
        if (o->max_version < TLS1_2_VERSION) {
            /* let the client offer old versions at all, so that it is
             * the server that refuses */
            SSL_CTX_set_security_level(c->cctx, 0);
            SSL_CTX_set_min_proto_version(c->cctx, TLS1_VERSION);
            assert_int_equal(SSL_CTX_set_cipher_list(c->cctx, "DEFAULT:@SECLEVEL=0"), 1);
        }
        SSL_CTX_set_max_proto_version(c->cctx, o->max_version);
    }
    if (o->ciphers)
        assert_int_equal(SSL_CTX_set_cipher_list(c->cctx, o->ciphers), 1);
    if (o->alpn)
        assert_int_equal(SSL_CTX_set_alpn_protos(c->cctx, o->alpn, o->alpn_len), 0);
    c->client = SSL_new(c->cctx);
    assert_non_null(c->client);
    if (o->sni)
        assert_int_equal(SSL_set_tlsext_host_name(c->client, o->sni), 1);

    BIO *bc = NULL, *bs = NULL;
    assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    SSL_set_bio(c->client, bc, bc);
    SSL_set_bio(c->server, bs, bs);
    SSL_set_connect_state(c->client);
    SSL_set_accept_state(c->server);

    bool cdone = false, sdone = false;
    for (int i = 0; i < 50 && !(cdone && sdone); i++) {
        SSL *sides[2] = { c->client, c->server };
        bool *done[2] = { &cdone, &sdone };
        for (int k = 0; k < 2; k++) {
            if (*done[k])
                continue;
            int r = SSL_do_handshake(sides[k]);
            if (r == 1) {
                *done[k] = true;
                continue;
            }
            int e = SSL_get_error(sides[k], r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                ERR_clear_error();
                return false;
            }
        }
    }
    return cdone && sdone;
}

static void conn_free(struct conn *c)
{
    SSL_free(c->client);
    SSL_free(c->server);
    SSL_CTX_free(c->cctx);
}

/* digest of the certificate the client saw */
static size_t peer_digest(SSL *client, const EVP_MD *md, uint8_t *out)
{
    X509 *peer = SSL_get0_peer_certificate(client);
    assert_non_null(peer);
    unsigned char *der = NULL;
    int n = i2d_X509(peer, &der);
    assert_true(n > 0);
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(der, (size_t)n, out, &len, md, NULL), 1);
    OPENSSL_free(der);
    return len;
}

/* --- loading ------------------------------------------------------------- */

static void loads_valid_files(void **state)
{
    const struct fixture *f = *state;
    struct tls *t = tls_make(f, (const char *const[]){ "a.test", "b.test", NULL },
                             (const char *const[]){ "a", "b", "c", "cn", "ed", NULL });
    SSL *ssl = tls_ssl_new(t);
    assert_non_null(ssl);
    /* RFC 7590 floor and the hardening options (RFC 7525 §3) */
    assert_int_equal(SSL_get_min_proto_version(ssl), TLS1_2_VERSION);
    assert_true(SSL_get_options(ssl) & SSL_OP_NO_RENEGOTIATION);
    assert_true(SSL_get_options(ssl) & SSL_OP_NO_COMPRESSION);
    assert_true(SSL_get_options(ssl) & SSL_OP_CIPHER_SERVER_PREFERENCE);
    assert_true(SSL_get_mode(ssl) & SSL_MODE_RELEASE_BUFFERS);
    /* before a handshake there is nothing to bind to */
    struct sasl_channel ch;
    memset(&ch, 0xff, sizeof(ch));
    tls_channel_binding(ssl, &ch);
    assert_false(ch.tls);
    assert_false(ch.has_exporter);
    assert_false(ch.has_endpoint);
    SSL_free(ssl);
    tls_free(t);
}

struct load_error_case {
    const char *stems[4];       /* NULL-terminated */
    const char *bad;            /* the stem the message must name, or NULL */
    const char *text;           /* also in the message */
};

static const struct load_error_case load_errors[] = {
    { { "missing", NULL }, "missing", "No such file or directory" },
    { { "mismatch", NULL }, "mismatch", "key" },
    { { "nokey", NULL }, "nokey", "private key" },
    { { "garbage", NULL }, "garbage", "certificate chain" },
    /* a good file first: the message still names the bad one */
    { { "a", "mismatch", NULL }, "mismatch", "key" },
    { { "a", "b", "missing", NULL }, "missing", "cannot open" },
    { { NULL }, NULL, "no certfiles" },
};

static void load_error_messages(void **state)
{
    const struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(load_errors) / sizeof(load_errors[0]); i++) {
        const struct load_error_case *tc = &load_errors[i];
        struct test_conf c;
        conf_make(f, &c, (const char *const[]){ "a.test", NULL }, tc->stems);
        struct buf err = BUF_INIT;
        struct tls *t = tls_new(&c.conf, &err);
        if (t != NULL || err.data == NULL || strstr(err.data, tc->text) == NULL)
            fail_msg("case %zu: got '%s'", i, err.data ? err.data : "(nothing)");
        if (tc->bad) {
            char p[256];
            path_of(f, tc->bad, p, sizeof(p));
            char quoted[300];
            snprintf(quoted, sizeof(quoted), "'%s'", p);
            if (strstr(err.data, quoted) == NULL)
                fail_msg("case %zu: '%s' does not name %s", i, err.data, quoted);
        }
        buf_release(&err);
        conf_done(&c);
    }
}

/* --- SNI ----------------------------------------------------------------- */

struct sni_case {
    const char *sni;
    const char *cert;           /* stem of the certificate presented */
};

static const struct sni_case sni_cases[] = {
    { "a.test", "a" },
    { "A.Test", "a" },                  /* case-insensitive, §6.4.1 */
    { "a.test.", "a" },                 /* trailing dot tolerated */
    { "conference.a.test", "a" },
    { "b.test", "b" },
    { "y.w.test", "b" },                /* wildcard, §6.4.3 */
    { "x.w.test", "c" },                /* exact beats wildcard */
    { "a.b.w.test", "a" },              /* "*" covers one label only */
    { "w.test", "a" },                  /* ... and not zero */
    { "fo.b.test", "a" },               /* partial wildcard ignored */
    { "cn.test", "cn" },                /* CN when there are no SANs */
    { "c-cn.test", "a" },               /* ... and only then, §6.4.4 */
    { "zz.test", "a" },                 /* "*.test" spans a TLD: ignored */
    { "ignored.test", "a" },            /* other subject fields: never */
    { "ed.test", "ed" },
    { "unknown.test", "a" },            /* default, handshake still works */
    { NULL, "a" },                      /* no SNI */
    { "127.0.0.1", "a" },               /* IP literal, even if a cert lists it */
    { "::1", "a" },
};

static void sni_selects_certificate(void **state)
{
    const struct fixture *f = *state;
    struct tls *t = tls_make(f, (const char *const[]){ "a.test", "b.test", "c.test", NULL },
                             (const char *const[]){ "a", "b", "c", "cn", "ed", NULL });
    for (size_t i = 0; i < sizeof(sni_cases) / sizeof(sni_cases[0]); i++) {
        const struct sni_case *sc = &sni_cases[i];
        struct client_opts o = { .sni = sc->sni };
        struct conn c;
        if (!handshake(&c, tls_ssl_new(t), &o))
            fail_msg("SNI '%s': handshake failed", sc->sni ? sc->sni : "(none)");
        X509 *want = load_x509(f, sc->cert);
        if (X509_cmp(SSL_get0_peer_certificate(c.client), want) != 0)
            fail_msg("SNI '%s': expected the certificate of %s.pem",
                     sc->sni ? sc->sni : "(none)", sc->cert);
        X509_free(want);
        if (sc->sni)
            assert_string_equal(tls_sni(c.server), sc->sni);
        else
            assert_null(tls_sni(c.server));
        conn_free(&c);
    }
    tls_free(t);
}

struct default_case {
    const char *hosts[4];
    const char *stems[4];
    const char *def;            /* certificate served without SNI */
};

static const struct default_case default_cases[] = {
    { { "b.test", "a.test", NULL }, { "a", "b", NULL }, "b" },  /* first host's */
    { { "zzz.test", NULL }, { "c", "a", NULL }, "c" },          /* first file's */
    { { "y.w.test", NULL }, { "a", "b", NULL }, "b" },          /* by wildcard */
    { { "zzz.test", "a.test", NULL }, { "b", "a", NULL }, "b" },
};

static void default_certificate(void **state)
{
    const struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(default_cases) / sizeof(default_cases[0]); i++) {
        const struct default_case *dc = &default_cases[i];
        struct tls *t = tls_make(f, dc->hosts, dc->stems);
        struct client_opts o = { .sni = NULL };
        struct conn c;
        assert_true(handshake(&c, tls_ssl_new(t), &o));
        X509 *want = load_x509(f, dc->def);
        if (X509_cmp(SSL_get0_peer_certificate(c.client), want) != 0)
            fail_msg("case %zu: expected %s.pem as the default", i, dc->def);
        X509_free(want);
        conn_free(&c);
        tls_free(t);
    }
}

/* --- protocol limits ----------------------------------------------------- */

static void refuses_old_versions_and_weak_ciphers(void **state)
{
    const struct fixture *f = *state;
    struct tls *t = tls_make(f, (const char *const[]){ "a.test", "b.test", NULL },
                             (const char *const[]){ "a", "b", NULL });
    struct conn c;
    struct client_opts tls11 = { .sni = "a.test", .max_version = TLS1_1_VERSION };
    assert_false(handshake(&c, tls_ssl_new(t), &tls11));
    conn_free(&c);
    struct client_opts tls10 = { .sni = "b.test", .max_version = TLS1_VERSION };
    assert_false(handshake(&c, tls_ssl_new(t), &tls10));
    conn_free(&c);
    /* TLS 1.2 without forward secrecy (static RSA key exchange) */
    struct client_opts rsa_kx = { .sni = "b.test", .max_version = TLS1_2_VERSION,
                                  .ciphers = "AES128-GCM-SHA256:AES256-SHA" };
    assert_false(handshake(&c, tls_ssl_new(t), &rsa_kx));
    conn_free(&c);
    /* ... and CBC with ECDHE */
    struct client_opts cbc = { .sni = "b.test", .max_version = TLS1_2_VERSION,
                               .ciphers = "ECDHE-RSA-AES128-SHA" };
    assert_false(handshake(&c, tls_ssl_new(t), &cbc));
    conn_free(&c);
    /* the same client with an acceptable suite gets through */
    struct client_opts ok = { .sni = "b.test", .max_version = TLS1_2_VERSION,
                              .ciphers = "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256" };
    assert_true(handshake(&c, tls_ssl_new(t), &ok));
    assert_string_equal(SSL_get_cipher_name(c.client), "ECDHE-RSA-AES128-GCM-SHA256");
    conn_free(&c);
    tls_free(t);
}

/* Issue 7: TLS 1.3 prefers AES-128-GCM-SHA256 (SHA-256 key schedule) and
 * sends one session ticket, not OpenSSL's default two. */
static void tls13_suite_and_tickets(void **state)
{
    const struct fixture *f = *state;
    struct tls *t = tls_make(f, (const char *const[]){ "a.test", NULL },
                             (const char *const[]){ "a", NULL });
    struct conn c;
    struct client_opts o = { .sni = "a.test" };
    SSL *server = tls_ssl_new(t);
    assert_int_equal(SSL_get_num_tickets(server), 1);
    assert_true(SSL_get_mode(server) & SSL_MODE_NO_AUTO_CHAIN);
    assert_true(handshake(&c, server, &o));
    assert_int_equal(SSL_version(c.client), TLS1_3_VERSION);
    assert_string_equal(SSL_get_cipher_name(c.client), "TLS_AES_128_GCM_SHA256");
    conn_free(&c);
    tls_free(t);
}

static void alpn(void **state)
{
    const struct fixture *f = *state;
    struct tls *t = tls_make(f, (const char *const[]){ "a.test", NULL },
                             (const char *const[]){ "a", NULL });
    static const unsigned char xmpp[] = "\x02h2\x0bxmpp-client";
    static const unsigned char h2[] = "\x02h2";
    struct conn c;
    const unsigned char *sel = NULL;
    unsigned len = 0;

    struct client_opts o1 = { .sni = "a.test", .alpn = xmpp, .alpn_len = sizeof(xmpp) - 1 };
    assert_true(handshake(&c, tls_ssl_new(t), &o1));
    SSL_get0_alpn_selected(c.client, &sel, &len);
    assert_int_equal(len, 11);
    assert_memory_equal(sel, "xmpp-client", 11);
    conn_free(&c);

    /* not offered: no ALPN, but no failure either */
    struct client_opts o2 = { .sni = "a.test", .alpn = h2, .alpn_len = sizeof(h2) - 1 };
    assert_true(handshake(&c, tls_ssl_new(t), &o2));
    SSL_get0_alpn_selected(c.client, &sel, &len);
    assert_int_equal(len, 0);
    conn_free(&c);
    tls_free(t);
}

/* --- channel binding ----------------------------------------------------- */

struct cb_case {
    const char *sni;
    int max_version;
    bool exporter;
    const char *endpoint_md;    /* NULL: no tls-server-end-point */
};

static const struct cb_case cb_cases[] = {
    { "a.test", 0, true, "SHA256" },                    /* ECDSA-SHA256, TLS 1.3 */
    { "a.test", TLS1_2_VERSION, false, "SHA256" },      /* no exporter on 1.2 */
    { "b.test", 0, true, "SHA256" },                    /* RSA-SHA256 */
    { "c.test", 0, true, "SHA384" },                    /* ECDSA-SHA384 */
    { "c.test", TLS1_2_VERSION, false, "SHA384" },
    { "ed.test", 0, true, NULL },                       /* Ed25519: no hash */
};

static void channel_binding(void **state)
{
    const struct fixture *f = *state;
    struct tls *t = tls_make(f, (const char *const[]){ "a.test", "b.test", "c.test", NULL },
                             (const char *const[]){ "a", "b", "c", "ed", NULL });
    uint8_t prev[32] = { 0 };
    for (size_t i = 0; i < sizeof(cb_cases) / sizeof(cb_cases[0]); i++) {
        const struct cb_case *cc = &cb_cases[i];
        struct client_opts o = { .sni = cc->sni, .max_version = cc->max_version };
        struct conn c;
        assert_true(handshake(&c, tls_ssl_new(t), &o));
        assert_int_equal(SSL_version(c.server),
                         cc->max_version ? cc->max_version : TLS1_3_VERSION);
        struct sasl_channel ch;
        memset(&ch, 0, sizeof(ch));
        ch.has_exporter = ch.has_endpoint = true;       /* must be reset */
        tls_channel_binding(c.server, &ch);
        assert_true(ch.tls);
        assert_int_equal(ch.has_exporter, cc->exporter);
        /* the features-only variant agrees on what is available */
        struct sasl_channel types;
        memset(&types, 0xff, sizeof(types));
        tls_channel_binding_types(c.server, &types);
        assert_true(types.tls);
        assert_int_equal(types.has_exporter, ch.has_exporter);
        assert_int_equal(types.has_endpoint, ch.has_endpoint);
        assert_int_equal(types.endpoint_len, ch.endpoint_len);
        assert_memory_equal(types.endpoint, ch.endpoint, ch.endpoint_len);
        if (cc->exporter) {
            /* RFC 9266: what the client computes from its side */
            uint8_t want[32];
            assert_int_equal(SSL_export_keying_material(c.client, want, sizeof(want),
                                                        "EXPORTER-Channel-Binding", 24,
                                                        NULL, 0, 0), 1);
            assert_memory_equal(ch.exporter, want, sizeof(want));
            /* fresh per connection */
            assert_memory_not_equal(ch.exporter, prev, sizeof(prev));
            memcpy(prev, ch.exporter, sizeof(prev));
        }
        if (cc->endpoint_md) {
            const EVP_MD *md = EVP_get_digestbyname(cc->endpoint_md);
            uint8_t want[EVP_MAX_MD_SIZE];
            size_t n = peer_digest(c.client, md, want);
            assert_true(ch.has_endpoint);
            assert_int_equal(ch.endpoint_len, n);
            assert_memory_equal(ch.endpoint, want, n);
        } else {
            assert_false(ch.has_endpoint);
            assert_int_equal(ch.endpoint_len, 0);
        }
        conn_free(&c);
    }
    tls_free(t);
}

/* RFC 5929 §4.1: a SHA-1 signed certificate binds with SHA-256.  Such a
 * certificate only loads at security level 0, which tls.c never uses, so
 * this runs tls_channel_binding() on a server SSL of our own. */
static void endpoint_sha1_uses_sha256(void **state)
{
    const struct fixture *f = *state;
    char p[256];
    path_of(f, "sha1", p, sizeof(p));
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_security_level(sctx, 0);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(sctx, p), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(sctx, p, SSL_FILETYPE_PEM), 1);
    struct conn c;
    struct client_opts o = { .sni = "sha1.test", .max_version = TLS1_2_VERSION,
                             .ciphers = "DEFAULT:@SECLEVEL=0" };
    assert_true(handshake(&c, SSL_new(sctx), &o));
    struct sasl_channel ch;
    memset(&ch, 0, sizeof(ch));
    tls_channel_binding(c.server, &ch);
    assert_true(ch.tls);
    assert_false(ch.has_exporter);
    assert_true(ch.has_endpoint);
    uint8_t want[EVP_MAX_MD_SIZE];
    size_t n = peer_digest(c.client, EVP_sha256(), want);
    assert_int_equal(n, 32);
    assert_int_equal(ch.endpoint_len, 32);
    assert_memory_equal(ch.endpoint, want, 32);
    conn_free(&c);
    SSL_CTX_free(sctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_valid_files),
        cmocka_unit_test(load_error_messages),
        cmocka_unit_test(sni_selects_certificate),
        cmocka_unit_test(default_certificate),
        cmocka_unit_test(refuses_old_versions_and_weak_ciphers),
        cmocka_unit_test(tls13_suite_and_tickets),
        cmocka_unit_test(alpn),
        cmocka_unit_test(channel_binding),
        cmocka_unit_test(endpoint_sha1_uses_sha256),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
