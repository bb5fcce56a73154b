/*
 * tls.c - server TLS contexts: one SSL_CTX per certificate, SNI selection,
 * channel-binding data for SCRAM-*-PLUS.
 *
 * Specs:
 *   RFC 7590 / RFC 7525  TLS 1.2 minimum, no compression, no renegotiation,
 *                        ECDHE + AEAD suites only on TLS 1.2
 *   RFC 6066 §3          server_name (SNI); an unknown name is not fatal
 *   RFC 6125 §6.4        matching a host against dNSName (§6.4.1 exact,
 *                        case-insensitive; §6.4.3 "*" as the whole left-most
 *                        label matches exactly one label; §6.4.4 CN only when
 *                        the certificate has no dNSName)
 *   RFC 5929 §4          tls-server-end-point
 *   RFC 9266             tls-exporter (TLS 1.3 only here, see below)
 *   XEP-0368             ALPN "xmpp-client" for direct TLS
 *
 * Every certfile becomes its own SSL_CTX.  All its dNSNames go into one
 * name table, split into exact names and wildcard suffixes, both sorted so
 * that the SNI callback is a binary search, not a scan.  New connections
 * start on the default context, whose servername callback moves them to
 * the matching one with SSL_set_SSL_CTX().
 *
 * A configured host without a matching certificate does not stop the
 * server: it is served the default certificate and a warning names it.
 * This is what a development setup with one self-signed "localhost"
 * certificate and a host "example.test" needs; in production the warning
 * shows up at start-up and clients will reject the certificate anyway.
 *
 * No globals: the servername and ALPN callbacks get the struct tls as
 * their argument.
 */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/mem.h"
#include "stream/sasl/sasl.h"

/* RFC 1035 §2.3.4: 255 octets on the wire, 253 as dotted text. */
#define TLS_NAME_MAX 253

/* ALPN protocol list in wire format (XEP-0368 §3). */
static const unsigned char alpn_xmpp_client[] = "\x0bxmpp-client";

/* RFC 9266 §2. */
static const char exporter_label[] = "EXPORTER-Channel-Binding";

/* TLS 1.2 only: forward secrecy and AEAD (RFC 7525 §4.2).  TLS 1.3
 * suites are all AEAD and keep OpenSSL's default list. */
static const char cipher_list_tls12[] = "ECDHE+AESGCM:ECDHE+CHACHA20";

/* TLS 1.3: OpenSSL's default set, but AES-128-GCM-SHA256 first (it is the
 * suite every TLS 1.3 implementation must have, RFC 8446 §9.1).  With
 * SSL_OP_CIPHER_SERVER_PREFERENCE the default order would pick
 * AES-256-GCM-SHA384, whose key schedule runs on SHA-384 (twice the
 * compression work of SHA-256 per HKDF step: ~17 % of a login's CPU in
 * HKDF, issue 7) for no security a 128-bit ECDHE group does not already
 * cap. */
static const char ciphersuites_tls13[] =
    "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384";

/* One certificate file. */
struct tls_cert {
    SSL_CTX *ctx;               /* owns the chain and key; app data: this */
    char *file;                 /* as configured, for messages */
    /* RFC 5929 §4.1 tls-server-end-point of this certificate, hashed once
     * at load rather than re-encoding the certificate to DER and hashing
     * it on every login (issue 7).  endpoint_len 0: undefined. */
    uint8_t endpoint[EVP_MAX_MD_SIZE];
    size_t endpoint_len;
};

/* One name a certificate is valid for. */
struct tls_name {
    char *name;                 /* lower case; wildcards stored without "*." */
    size_t cert;                /* index into tls->certs */
};

/* Reference counted: the server holds one reference and every SSL made
 * by tls_ssl_new() another, released when OpenSSL frees the SSL (ex_data
 * free callback).  A reload replaces the server's set, and connections
 * made before it still reach theirs: the SNI callback's argument and the
 * certificate record each SSL_CTX points at (its channel-binding hash)
 * live until the last such connection is gone. */
struct tls {
    unsigned refs;
    int ex_idx;                 /* SSL ex_data index holding a reference */
    struct tls_cert *certs;
    size_t ncerts;
    size_t def;                 /* index of the default certificate */
    struct tls_name *exact;     /* sorted by name, unique */
    size_t nexact;
    struct tls_name *wild;      /* "*.w.test" as "w.test"; sorted, unique */
    size_t nwild;
};

/* --- helpers ------------------------------------------------------------- */

/* Appends the oldest queued OpenSSL error (usually the root cause, e.g.
 * "No such file or directory" before "system lib") and clears the queue. */
static void put_ssl_error(struct buf *err)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        buf_puts(err, "unknown OpenSSL error");
    } else {
        char s[256];
        ERR_error_string_n(e, s, sizeof(s));
        buf_puts(err, s);
    }
    ERR_clear_error();
}

/* Lower-cases 'in' into 'out' (TLS_NAME_MAX + 1 bytes), dropping one
 * trailing dot.  Returns false for an empty or over-long name. */
static bool name_normalize(const char *in, size_t len, char *out)
{
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > TLS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[len] = '\0';
    return true;
}

/* A dNSName we can serve: LDH labels and dots only (no NUL smuggled in
 * an ASN.1 string, no spaces), after the optional "*." prefix. */
static bool name_is_ldh(const char *s)
{
    if (*s == '\0' || *s == '.')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (c == '.' && (p[1] == '.' || p[1] == '\0')))
            return false;
    }
    return true;
}

/* An IPv4 or IPv6 literal: SNI must not carry one (RFC 6066 §3), and a
 * dNSName that looks like one is never matched. */
static bool name_is_ip(const char *s)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

static int name_cmp(const void *a, const void *b)
{
    const struct tls_name *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    /* Earlier certfiles win a tie: sort them first, dedup keeps the first. */
    return (x->cert > y->cert) - (x->cert < y->cert);
}

static const struct tls_name *name_find(const struct tls_name *v, size_t n,
                                        const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, v[mid].name);
        if (c == 0)
            return &v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Sorts and removes duplicate names (keeping the earliest certfile). */
static size_t names_finish(struct tls_name *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), name_cmp);
    size_t out = 1;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i].name, v[out - 1].name) == 0) {
            free(v[i].name);
            continue;
        }
        v[out++] = v[i];
    }
    return out;
}

/* A growable vector of names under construction. */
struct name_vec {
    struct tls_name *v;
    size_t n, cap;
};

static void name_vec_push(struct name_vec *nv, const char *name, size_t cert)
{
    if (nv->n == nv->cap) {
        nv->cap = nv->cap ? nv->cap * 2 : 16;
        nv->v = pl_realloc(nv->v, nv->cap * sizeof(*nv->v));
    }
    nv->v[nv->n].name = pl_strdup(name);
    nv->v[nv->n].cert = cert;
    nv->n++;
}

/* Files one certificate name (raw ASN.1 bytes) as exact or wildcard.
 * Names we cannot match safely are skipped with a debug line rather than
 * failing the load: a certificate may carry names for other services. */
static void add_cert_name(const unsigned char *data, int len, size_t cert,
                          const char *file, struct name_vec *exact,
                          struct name_vec *wild)
{
    char name[TLS_NAME_MAX + 1];
    if (len <= 0 || memchr(data, '\0', (size_t)len) != NULL ||
        !name_normalize((const char *)data, (size_t)len, name)) {
        log_debug("certfile '%s': ignoring an empty, over-long or binary name", file);
        return;
    }
    if (name[0] == '*') {
        /* RFC 6125 §6.4.3: only a whole left-most "*" label; partial
         * wildcards ("f*.example.org") are not supported. */
        if (name[1] != '.' || !name_is_ldh(name + 2) || strchr(name + 2, '.') == NULL) {
            log_debug("certfile '%s': ignoring unsupported wildcard '%s'", file, name);
            return;
        }
        name_vec_push(wild, name + 2, cert);
        return;
    }
    if (!name_is_ldh(name) || name_is_ip(name)) {
        log_debug("certfile '%s': ignoring name '%s'", file, name);
        return;
    }
    name_vec_push(exact, name, cert);
}

/* Collects the names of the certificate in ctx: every dNSName, or the
 * (last, most specific) CN when there is none (RFC 6125 §6.4.4).
 * Returns how many names were added. */
static size_t collect_names(SSL_CTX *ctx, size_t cert, const char *file,
                            struct name_vec *exact, struct name_vec *wild)
{
    size_t before = exact->n + wild->n;
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (x == NULL)
        return 0;
    bool had_dns = false;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (gens != NULL) {
        for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type != GEN_DNS)
                continue;
            had_dns = true;
            add_cert_name(ASN1_STRING_get0_data(g->d.dNSName),
                          ASN1_STRING_length(g->d.dNSName), cert, file, exact, wild);
        }
        GENERAL_NAMES_free(gens);
    }
    if (!had_dns) {
        const X509_NAME *subj = X509_get_subject_name(x);
        int idx = -1, last = -1;
        while ((idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0)
            last = idx;
        if (last >= 0) {
            const ASN1_STRING *cn =
                X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last));
            unsigned char *utf8 = NULL;
            int n = ASN1_STRING_to_UTF8(&utf8, cn);
            if (n > 0)
                add_cert_name(utf8, n, cert, file, exact, wild);
            OPENSSL_free(utf8);
        }
    }
    return exact->n + wild->n - before;
}

/* The certificate for 'name' (already normalized): exact match first
 * (RFC 6125 §6.4.1), then a wildcard covering exactly the left-most label
 * (§6.4.3).  Returns its index, or -1. */
static long lookup(const struct tls *t, const char *name)
{
    const struct tls_name *hit = name_find(t->exact, t->nexact, name);
    if (hit != NULL)
        return (long)hit->cert;
    const char *dot = strchr(name, '.');
    if (dot == NULL || dot == name)
        return -1;
    hit = name_find(t->wild, t->nwild, dot + 1);
    return hit != NULL ? (long)hit->cert : -1;
}

/* --- callbacks ----------------------------------------------------------- */

/* SNI (RFC 6066 §3).  Never aborts the handshake: no name, an IP literal
 * or an unknown name keeps the default certificate, and the client decides
 * whether it trusts it. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct tls *t = arg;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char name[TLS_NAME_MAX + 1];
    if (sni == NULL || !name_normalize(sni, strlen(sni), name) || name_is_ip(name))
        return SSL_TLSEXT_ERR_OK;
    long i = lookup(t, name);
    if (i >= 0 && (size_t)i != t->def)
        SSL_set_SSL_CTX(ssl, t->certs[i].ctx);
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN (RFC 7301, XEP-0368): pick "xmpp-client" when offered; otherwise
 * go on without ALPN instead of failing with no_application_protocol, so
 * that clients sending other lists still connect. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, alpn_xmpp_client,
                              sizeof(alpn_xmpp_client) - 1, in, inlen)
            == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* --- loading ------------------------------------------------------------- */

/* A context with the common settings, or NULL with err filled. */
static SSL_CTX *ctx_new(struct tls *t, const char *file, struct buf *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        buf_printf(err, "certfile '%s': cannot create TLS context: ", file);
        put_ssl_error(err);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* No compression (CRIME), no renegotiation (a DoS lever and never
     * needed by XMPP), our cipher order rather than the client's. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle connections hold no read/write buffers; bufferevent_openssl may
     * hand SSL_write a different pointer on retry. */
    /* SSL_MODE_NO_AUTO_CHAIN: the chain sent is the one in the certfile,
     * as configured.  Without it OpenSSL tries to build a chain from its
     * verify store on every handshake when the file has no intermediates
     * (issue 7: an X509_STORE_CTX per login), and that store is empty
     * here (we never verify client certificates), so it only cost CPU. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_NO_AUTO_CHAIN);
    if (SSL_CTX_set_cipher_list(ctx, cipher_list_tls12) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, ciphersuites_tls13) != 1) {
        buf_printf(err, "certfile '%s': cannot set cipher list: ", file);
        put_ssl_error(err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* TLS 1.3 (RFC 8446 §4.6.1): one session ticket per handshake instead
     * of OpenSSL's default two.  Each ticket is an encoded, encrypted and
     * MACed session (issue 7: ~4 % of a login's CPU each); one is enough
     * for a client to resume once, and a resumed handshake is issued a
     * fresh one. */
    SSL_CTX_set_num_tickets(ctx, 1);
    /* The same session id context everywhere, so that a session cached
     * before SSL_set_SSL_CTX() still resumes after it. */
    static const unsigned char sid_ctx[] = "parley";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    /* Only the initial (default) context's servername callback runs, but
     * the ALPN callback is read from the context switched to. */
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
    return ctx;
}

static size_t server_end_point(X509 *cert, uint8_t *out, size_t max);

/* Loads one certfile into t->certs[t->ncerts].  Returns 0 or -1 with err
 * naming the file and the OpenSSL reason. */
static int load_cert(struct tls *t, const char *file, struct buf *err)
{
    /* Check readability first: "No such file or directory" beats the
     * OpenSSL queue's "system lib". */
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        buf_printf(err, "cannot open certfile '%s': %s", file, strerror(errno));
        return -1;
    }
    fclose(f);

    ERR_clear_error();
    SSL_CTX *ctx = ctx_new(t, file, err);
    if (ctx == NULL)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, file) != 1) {
        buf_printf(err, "certfile '%s': cannot load the certificate chain: ", file);
        goto fail_ssl;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, file, SSL_FILETYPE_PEM) != 1) {
        /* Also where a key of another certificate is found (OpenSSL
         * checks the pair here): "key values mismatch". */
        buf_printf(err, "certfile '%s': cannot load the private key of the certificate "
                   "(both must be in this file): ", file);
        goto fail_ssl;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        buf_printf(err, "certfile '%s': the private key does not match the certificate: ",
                   file);
        goto fail_ssl;
    }
    struct tls_cert *tc = &t->certs[t->ncerts];   /* t->certs never moves */
    tc->ctx = ctx;
    tc->file = pl_strdup(file);
    tc->endpoint_len = server_end_point(SSL_CTX_get0_certificate(ctx), tc->endpoint,
                                        sizeof(tc->endpoint));
    ERR_clear_error();
    SSL_CTX_set_app_data(ctx, tc);
    t->ncerts++;
    return 0;

fail_ssl:
    put_ssl_error(err);
    SSL_CTX_free(ctx);
    return -1;
}

static void tls_unref(struct tls *t);

/* OpenSSL frees an SSL: the reference tls_ssl_new() gave it goes (called
 * for every SSL and every index; 'ptr' is NULL where we set nothing). */
static void ssl_released(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr)
        tls_unref(ptr);
}

struct tls *tls_new(const struct conf *conf, struct buf *err)
{
    size_t nfiles = conf->certfiles.count;
    if (nfiles == 0) {
        buf_puts(err, "no certfiles configured");
        return NULL;
    }
    struct tls *t = pl_calloc(1, sizeof(*t));
    t->refs = 1;
    t->ex_idx = -1;
    t->certs = pl_calloc(nfiles, sizeof(*t->certs));
    struct name_vec exact = { 0 }, wild = { 0 };

    for (size_t i = 0; i < nfiles; i++) {
        const char *file = conf->certfiles.items[i];
        if (load_cert(t, file, err) < 0)
            goto fail;
        if (collect_names(t->certs[t->ncerts - 1].ctx, t->ncerts - 1, file,
                          &exact, &wild) == 0)
            log_warn("certfile '%s': the certificate names no DNS host", file);
    }
    t->exact = exact.v;
    t->nexact = names_finish(exact.v, exact.n);
    t->wild = wild.v;
    t->nwild = names_finish(wild.v, wild.n);
    exact.v = wild.v = NULL;

    /* The default is the first host's certificate, else the first file's. */
    t->def = 0;
    for (size_t i = 0; i < conf->hosts.count; i++) {
        const char *host = conf->hosts.items[i];
        char name[TLS_NAME_MAX + 1];
        long c = -1;
        if (name_normalize(host, strlen(host), name))
            c = lookup(t, name);
        if (c < 0) {
            /* t->def is final here: only i == 0 changes it, and then
             * from 0 to the first host's own certificate. */
            log_warn("no certificate for host '%s' in certfiles: serving '%s' instead",
                     host, t->certs[t->def].file);
            continue;
        }
        if (i == 0)
            t->def = (size_t)c;
        log_debug("host '%s': certificate '%s'", host, t->certs[c].file);
    }
    t->ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_released);
    if (t->ex_idx < 0) {
        put_ssl_error(err);
        tls_free(t);
        return NULL;
    }
    return t;

fail:
    for (size_t i = 0; i < exact.n; i++)
        free(exact.v[i].name);
    for (size_t i = 0; i < wild.n; i++)
        free(wild.v[i].name);
    free(exact.v);
    free(wild.v);
    tls_free(t);
    return NULL;
}

static void tls_unref(struct tls *t)
{
    PL_ASSERT(t->refs > 0);
    if (--t->refs > 0)
        return;
    /* No SSL of ours refers to the index any more. */
    if (t->ex_idx >= 0)
        CRYPTO_free_ex_index(CRYPTO_EX_INDEX_SSL, t->ex_idx);
    for (size_t i = 0; i < t->ncerts; i++) {
        SSL_CTX_free(t->certs[i].ctx);
        free(t->certs[i].file);
    }
    for (size_t i = 0; i < t->nexact; i++)
        free(t->exact[i].name);
    for (size_t i = 0; i < t->nwild; i++)
        free(t->wild[i].name);
    free(t->exact);
    free(t->wild);
    free(t->certs);
    free(t);
}

void tls_free(struct tls *t)
{
    if (t != NULL)
        tls_unref(t);
}

SSL *tls_ssl_new(struct tls *t)
{
    SSL *ssl = SSL_new(t->certs[t->def].ctx);
    PL_ASSERT(ssl != NULL);     /* only fails on out-of-memory */
    PL_ASSERT(SSL_set_ex_data(ssl, t->ex_idx, t) == 1);
    t->refs++;
    return ssl;
}

/* --- channel binding ----------------------------------------------------- */

/* RFC 5929 §4.1: the hash of our certificate's DER, with the hash of its
 * signature algorithm, SHA-256 when that is MD5 or SHA-1.  A signature
 * with no single hash (Ed25519, Ed448) leaves the binding undefined, so
 * it is not offered.  Returns the length, 0 when undefined. */
static size_t server_end_point(X509 *cert, uint8_t *out, size_t max)
{
    if (cert == NULL)
        return 0;
    int mdnid = NID_undef, pknid = NID_undef;
    if (X509_get_signature_info(cert, &mdnid, &pknid, NULL, NULL) != 1)
        return 0;
    if (mdnid == NID_md5 || mdnid == NID_sha1)
        mdnid = NID_sha256;
    if (mdnid == NID_undef)
        return 0;
    const EVP_MD *md = EVP_get_digestbynid(mdnid);
    if (md == NULL || (size_t)EVP_MD_get_size(md) > max)
        return 0;
    unsigned int len = 0;
    if (X509_digest(cert, md, out, &len) != 1)
        return 0;
    return len;
}

/* What both entry points below share: ch->tls and the end-point hash
 * (cached per certificate at load); false before the handshake. */
static bool channel_common(SSL *ssl, struct sasl_channel *ch)
{
    ch->tls = false;
    ch->has_exporter = false;
    ch->has_endpoint = false;
    ch->endpoint_len = 0;
    /* Before the handshake there is neither encryption nor keying
     * material: leave everything unset rather than bind to nothing. */
    if (!SSL_is_init_finished(ssl))
        return false;
    ch->tls = true;
    /* The context the connection ended up on (after SNI), whose
     * certificate was sent; its hash was taken at load. */
    const struct tls_cert *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (tc != NULL && tc->endpoint_len <= sizeof(ch->endpoint)) {
        memcpy(ch->endpoint, tc->endpoint, tc->endpoint_len);
        ch->endpoint_len = tc->endpoint_len;
    } else {
        ch->endpoint_len = server_end_point(SSL_get_certificate(ssl), ch->endpoint,
                                            sizeof(ch->endpoint));
    }
    ch->has_endpoint = ch->endpoint_len > 0;
    return true;
}

void tls_channel_binding(SSL *ssl, struct sasl_channel *ch)
{
    if (!channel_common(ssl, ch))
        return;
    /* RFC 9266 §3: on TLS 1.2 tls-exporter is only safe with the extended
     * master secret, and implementations disagree on "no context" versus
     * "empty context" there; TLS 1.3 treats both alike.  So: 1.3 only. */
    if (SSL_version(ssl) == TLS1_3_VERSION &&
        SSL_export_keying_material(ssl, ch->exporter, sizeof(ch->exporter),
                                   exporter_label, sizeof(exporter_label) - 1,
                                   NULL, 0, 0) == 1)
        ch->has_exporter = true;
    ERR_clear_error();
}

void tls_channel_binding_types(SSL *ssl, struct sasl_channel *ch)
{
    if (!channel_common(ssl, ch))
        return;
    /* The same rule as above without running the exporter (an HKDF
     * expansion: issue 7, a stream-features element needs to know only
     * whether -PLUS can be offered).  ch->exporter stays unset. */
    ch->has_exporter = SSL_version(ssl) == TLS1_3_VERSION;
    memset(ch->exporter, 0, sizeof(ch->exporter));
}

const char *tls_sni(SSL *ssl)
{
    return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}
