/*
 * c2s.h - client-to-server streams (RFC 6120 §4-§7).
 *
 * A c2s owns its connection (a socket and a bufferevent on it, with TLS
 * once negotiated; a quiet bound stream lets the bufferevent go until it
 * is used again), its XML stream parser and its negotiation state: STARTTLS, SASL,
 * resource binding.  Once bound, stanzas go to the router.
 */
#ifndef PARLEY_STREAM_C2S_H
#define PARLEY_STREAM_C2S_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <event2/util.h>

struct server;
struct stanza;
struct conf_listen;
struct c2s;
struct frame;

/* Takes over an accepted socket. */
void c2s_accept(struct server *srv, evutil_socket_t fd,
                const struct sockaddr *sa, int salen,
                const struct conf_listen *lcfg);
/* Serializes st onto the stream (st is borrowed). */
void c2s_send(struct c2s *c, const struct stanza *st);
/* Writes a stanza serialized once for many recipients (stream/frame.h),
 * addressed to 'to' (the session's full JID): the frame's bytes with the
 * escaped 'to' inserted, no per-recipient stanza.  XEP-0198 queues a
 * reference to the frame; XEP-0352 treats it like the stanza it carries.
 * f is borrowed (referenced for as long as it is needed). */
void c2s_send_frame(struct c2s *c, struct frame *f, const char *to);
/* Ends the stream: with a stream error when cond is non-NULL (RFC 6120
 * §4.9: error, then </stream:stream>, then the TCP close once written). */
void c2s_close(struct c2s *c, const char *cond, const char *text);
const char *c2s_peer(const struct c2s *c);
/* The peer's IP address (the key of per-address limits). */
const char *c2s_addr(const struct c2s *c);
/* Keeps the c2s allocated across asynchronous work (a pre-auth IQ handler
 * waiting for storage); check c2s_is_closing() before writing. */
void c2s_hold(struct c2s *c);
void c2s_release(struct c2s *c);
bool c2s_is_closing(const struct c2s *c);
/* Starts the server's sweep of quiet streams (limits.idle_timeout,
 * limits.detach_after); c2s_free_all() stops it. */
void c2s_sweep_start(struct server *srv);
/* Closes every stream (server shutdown). */
void c2s_close_all(struct server *srv, const char *cond, const char *text);
/* Frees every stream now, whatever is pending (after the loop ended),
 * and the sweep. */
void c2s_free_all(struct server *srv);

#endif
