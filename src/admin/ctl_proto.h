/*
 * ctl_proto.h - the control socket wire format, shared by parleyd
 * (admin/ctl.c) and parleyctl (tools/parleyctl.c).
 *
 * Built on netstrings (D. J. Bernstein, https://cr.yp.to/proto/netstrings.txt):
 * binary-safe, trivially framed, and every length is known before the
 * bytes arrive, so a reader can bound its memory up front.
 *
 *   netstring = LEN ":" BYTES ","          LEN = decimal byte count of BYTES
 *   list      = COUNT ":" COUNT*netstring   COUNT = decimal item count
 *
 *   request   = list                       item 0 = command name, then its
 *                                          arguments, e.g.
 *               3:5:check,5:alice,9:localhost,   (check alice localhost)
 *
 *   reply     = STATUS KIND list
 *     STATUS  = one ASCII digit: the enum cmd_status value ('0' = success)
 *     KIND    = 'N' (no payload: list of 0 items)
 *             | 'T' (text: list of exactly 1 item; also every error message)
 *             | 'L' (list: any number of items)
 *               e.g. "0N0:"  "0T1:5:hello,"  "2T1:10:no such...,"  "0L2:1:a,1:b,"
 *
 * Decimal numbers have no sign, no leading zeros ("0" itself is fine) and
 * no spaces.  A request has at least one item (the command).
 *
 * Bounds (a peer controls every length; each is checked while the digits
 * arrive, before anything is allocated):
 *   CTL_MAX_ARGS      items per request (the command name included)
 *   CTL_MAX_ARG_LEN   bytes per request item
 *   CTL_MAX_REPLY     bytes of a whole encoded reply, framing included
 *
 * Several requests may be written back to back without waiting
 * (pipelining); replies come back in request order.  There is no
 * handshake and no version byte: the socket is local and parleyd and
 * parleyctl ship together.
 *
 * Pure functions, no I/O, no server headers: unit-tested alone
 * (tests/unit/admin/test_ctl_proto.c).
 */
#ifndef PARLEY_ADMIN_CTL_PROTO_H
#define PARLEY_ADMIN_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define CTL_MAX_ARGS 64                 /* the longest command takes 3 */
#define CTL_MAX_ARG_LEN (64 * 1024)     /* far above any JID, password or reason */
#define CTL_MAX_REPLY (1024 * 1024)     /* keeps one reply from pinning memory */

/* Reply payload kinds (the KIND byte). */
#define CTL_KIND_NONE 'N'
#define CTL_KIND_TEXT 'T'
#define CTL_KIND_LIST 'L'

/* Appends one request to out.  lens may be NULL (then strlen(argv[i])).
 * Returns 0, or -1 with out unchanged when argc is 0 or above CTL_MAX_ARGS
 * or an item is longer than CTL_MAX_ARG_LEN. */
int ctl_encode_request(struct buf *out, size_t argc, const char *const *argv,
                       const size_t *lens);

/* Appends one reply to out.  status is 0..9; kind is a CTL_KIND_*; n must
 * be 0 for NONE and 1 for TEXT; lens may be NULL (strlen).  Returns 0, or
 * -1 with out unchanged when the arguments are inconsistent or the encoded
 * reply would exceed CTL_MAX_REPLY. */
int ctl_encode_reply(struct buf *out, int status, char kind, size_t n,
                     const char *const *items, const size_t *lens);

/* Size in bytes that ctl_encode_reply() would append (callers use it to
 * report how far over the bound a reply is). */
size_t ctl_reply_size(size_t n, const char *const *items, const size_t *lens);

enum ctl_msg_type {
    CTL_MSG_REQUEST,
    CTL_MSG_REPLY,
};

/* A decoded message.  Each item is a heap copy, NUL-terminated after
 * lens[i] bytes (an item may itself contain NUL bytes: check lens). */
struct ctl_msg {
    int status;                 /* reply: 0..9 */
    char kind;                  /* reply: CTL_KIND_*; request: 0 */
    char **items;               /* nitems heap strings (caller frees: ctl_msg_release) */
    size_t *lens;
    size_t nitems;
};

void ctl_msg_release(struct ctl_msg *m);

enum ctl_decode_rc {
    CTL_DECODE_MORE,            /* all input consumed, message incomplete */
    CTL_DECODE_DONE,            /* one message complete: ctl_decoder_take() it */
    CTL_DECODE_ERROR,           /* malformed or over a bound: see d->error */
};

/* Incremental decoder: bytes may arrive split anywhere.  Private fields. */
struct ctl_decoder {
    enum ctl_msg_type type;
    int state;                  /* where in the grammar we are */
    size_t num;                 /* the number whose digits are arriving */
    size_t ndigits;             /* digits seen of it (leading-zero check) */
    size_t count;               /* items announced */
    size_t cap;                 /* slots allocated in msg.items/lens */
    size_t need;                /* bytes of the current item still to come */
    size_t total;               /* bytes consumed of this message (reply bound) */
    struct ctl_msg msg;         /* being filled */
    const char *error;          /* static message after CTL_DECODE_ERROR */
};

void ctl_decoder_init(struct ctl_decoder *d, enum ctl_msg_type type);
void ctl_decoder_release(struct ctl_decoder *d);

/* Feeds len bytes.  Consumes at most up to the end of one message and
 * stores how many bytes it consumed in *used (the rest belongs to the
 * next message: feed it again after taking this one).  After
 * CTL_DECODE_ERROR the decoder stays in error: the stream has lost its
 * framing and must be closed. */
enum ctl_decode_rc ctl_decode(struct ctl_decoder *d, const void *data,
                              size_t len, size_t *used /* OUT */);

/* Moves the completed message to *out (caller releases it) and resets the
 * decoder for the next message. */
void ctl_decoder_take(struct ctl_decoder *d, struct ctl_msg *out);

#endif
