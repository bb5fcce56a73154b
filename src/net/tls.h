/*
 * tls.h - server TLS: certificates per virtual host, SNI, channel binding.
 *
 * Every PEM file in 'certfiles' holds a certificate chain and its private
 * key.  Each configured host is served the certificate whose subjectAltName
 * dNSName (or, lacking SANs, CN) matches it, wildcards per RFC 6125 §6.4.3
 * (one left-most label).  A client that sends no SNI, an IP address or an
 * unknown name gets the default certificate (the first host's) instead of
 * an aborted handshake.  TLS 1.2 is the minimum (RFC 7590, RFC 7525);
 * SSL_MODE_RELEASE_BUFFERS keeps idle connections small.
 */
#ifndef PARLEY_NET_TLS_H
#define PARLEY_NET_TLS_H

#include <stdbool.h>
#include <openssl/ssl.h>

#include "core/buf.h"

struct conf;
struct sasl_channel;
struct tls;

/* Loads every certfile and checks that each host has a certificate.
 * NULL with a message naming the file or host in err. */
struct tls *tls_new(const struct conf *conf, struct buf *err);
void tls_free(struct tls *t);
/* A new server-side SSL object (SNI handled).  Never NULL. */
SSL *tls_ssl_new(struct tls *t);
/* After the handshake: fills ch->tls, tls-exporter (TLS 1.3 only, RFC
 * 9266: label "EXPORTER-Channel-Binding", empty context, 32 bytes) and
 * tls-server-end-point (RFC 5929 §4.1: hash of our certificate, SHA-256
 * when its signature uses MD5 or SHA-1). */
void tls_channel_binding(SSL *ssl, struct sasl_channel *ch);
/* Only which bindings tls_channel_binding() would give (ch->tls,
 * has_exporter, has_endpoint and the end-point hash), without computing
 * the exporter: enough for offering mechanisms in stream features. */
void tls_channel_binding_types(SSL *ssl, struct sasl_channel *ch);
/* The host name the client asked for with SNI, or NULL. */
const char *tls_sni(SSL *ssl);

#endif
