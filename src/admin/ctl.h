/*
 * ctl.h - the control socket server: the parleyctl transport of the admin
 * command registry (ARCHITECTURE.md principle 7), over a Unix stream
 * socket of mode 0600 (only the server's user, or root, may administer).
 *
 * Wire format: admin/ctl_proto.h.  Requests on one connection may be
 * pipelined; replies come back in request order.
 */
#ifndef PARLEY_ADMIN_CTL_H
#define PARLEY_ADMIN_CTL_H

#include "core/buf.h"

struct server;
struct ctl;

/* Binds a SOCK_STREAM Unix socket at 'path' (mode 0600) and listens on
 * srv->base.  A socket file left by a dead server is removed (connecting
 * to it is refused); if a live server answers there, or path exists and
 * is not a socket, fails.  Returns NULL with a message in err. */
struct ctl *ctl_new(struct server *srv, const char *path, struct buf *err);

/* Closes the listener and every client connection (flushing replies
 * already queued, best effort), and unlinks the socket.  Calls still in
 * flight stay valid: their replies are discarded and the calls freed when
 * they complete.  Must not be called from inside a command handler
 * (commands that tear the server down defer to the next loop turn). */
void ctl_free(struct ctl *ctl);

#endif
