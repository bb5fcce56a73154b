/*
 * ctl_proto.c - encoder and incremental decoder of the control socket
 * wire format (netstring lists; the grammar and bounds are in ctl_proto.h).
 *
 * The decoder is a byte-level state machine so that input split at any
 * byte decodes the same as input in one piece, and every length is checked
 * against its bound as its digits arrive, before any allocation.
 */
#include "admin/ctl_proto.h"
#include "core/mem.h"

#include <string.h>

enum {
    ST_STATUS,                  /* reply: the status digit */
    ST_KIND,                    /* reply: N, T or L */
    ST_COUNT,                   /* digits of the item count, then ':' */
    ST_LEN,                     /* digits of an item length, then ':' */
    ST_DATA,                    /* the item's bytes */
    ST_COMMA,                   /* the ',' closing the item */
    ST_DONE,                    /* a message is complete, waiting for take */
    ST_ERROR,                   /* framing lost: sticky */
};

/* --- encoding ------------------------------------------------------------ */

static size_t digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static size_t item_len(const char *const *items, const size_t *lens, size_t i)
{
    return lens ? lens[i] : strlen(items[i]);
}

static void put_list(struct buf *out, size_t n, const char *const *items,
                     const size_t *lens)
{
    buf_printf(out, "%zu:", n);
    for (size_t i = 0; i < n; i++) {
        size_t len = item_len(items, lens, i);
        buf_printf(out, "%zu:", len);
        buf_append(out, items[i], len);
        buf_putc(out, ',');
    }
}

int ctl_encode_request(struct buf *out, size_t argc, const char *const *argv,
                       const size_t *lens)
{
    if (argc == 0 || argc > CTL_MAX_ARGS)
        return -1;
    for (size_t i = 0; i < argc; i++)
        if (item_len(argv, lens, i) > CTL_MAX_ARG_LEN)
            return -1;
    put_list(out, argc, argv, lens);
    return 0;
}

size_t ctl_reply_size(size_t n, const char *const *items, const size_t *lens)
{
    size_t size = 2 + digits(n) + 1;    /* STATUS KIND COUNT ':' */
    for (size_t i = 0; i < n; i++) {
        size_t len = item_len(items, lens, i);
        size += digits(len) + 1 + len + 1;
    }
    return size;
}

int ctl_encode_reply(struct buf *out, int status, char kind, size_t n,
                     const char *const *items, const size_t *lens)
{
    if (status < 0 || status > 9)
        return -1;
    if ((kind == CTL_KIND_NONE && n != 0) || (kind == CTL_KIND_TEXT && n != 1) ||
        (kind != CTL_KIND_NONE && kind != CTL_KIND_TEXT && kind != CTL_KIND_LIST))
        return -1;
    if (ctl_reply_size(n, items, lens) > CTL_MAX_REPLY)
        return -1;
    buf_putc(out, (char)('0' + status));
    buf_putc(out, kind);
    put_list(out, n, items, lens);
    return 0;
}

/* --- decoding ------------------------------------------------------------ */

void ctl_msg_release(struct ctl_msg *m)
{
    for (size_t i = 0; i < m->nitems; i++)
        free(m->items[i]);
    free(m->items);
    free(m->lens);
    memset(m, 0, sizeof(*m));
}

static void reset(struct ctl_decoder *d)
{
    enum ctl_msg_type type = d->type;
    memset(d, 0, sizeof(*d));
    d->type = type;
    d->state = type == CTL_MSG_REPLY ? ST_STATUS : ST_COUNT;
}

void ctl_decoder_init(struct ctl_decoder *d, enum ctl_msg_type type)
{
    memset(d, 0, sizeof(*d));
    d->type = type;
    reset(d);
}

void ctl_decoder_release(struct ctl_decoder *d)
{
    ctl_msg_release(&d->msg);
    reset(d);
}

void ctl_decoder_take(struct ctl_decoder *d, struct ctl_msg *out)
{
    PL_ASSERT(d->state == ST_DONE);
    *out = d->msg;
    memset(&d->msg, 0, sizeof(d->msg));
    reset(d);
}

static enum ctl_decode_rc fail(struct ctl_decoder *d, const char *why)
{
    d->state = ST_ERROR;
    d->error = why;
    return CTL_DECODE_ERROR;
}

/* Accumulates one digit of a length or count; the bound is checked at
 * every digit so a long run of digits cannot overflow. */
static int add_digit(struct ctl_decoder *d, char c, size_t max)
{
    if (d->ndigits == 1 && d->num == 0)
        return -1;                      /* leading zero */
    d->num = d->num * 10 + (size_t)(c - '0');
    d->ndigits++;
    return d->num > max ? -1 : 0;
}

/* Makes room for one more item, growing geometrically up to the announced
 * count (which is bounded), so a peer announcing many items but sending
 * few costs nothing. */
static void grow(struct ctl_decoder *d)
{
    if (d->msg.nitems < d->cap)
        return;
    size_t cap = d->cap ? d->cap * 2 : 8;
    if (cap > d->count)
        cap = d->count;
    d->msg.items = pl_realloc(d->msg.items, cap * sizeof(*d->msg.items));
    d->msg.lens = pl_realloc(d->msg.lens, cap * sizeof(*d->msg.lens));
    d->cap = cap;
}

static enum ctl_decode_rc after_count(struct ctl_decoder *d)
{
    d->count = d->num;
    if (d->type == CTL_MSG_REQUEST && d->count == 0)
        return fail(d, "empty request: no command");
    if (d->type == CTL_MSG_REPLY) {
        if (d->msg.kind == CTL_KIND_NONE && d->count != 0)
            return fail(d, "reply of kind N must have no items");
        if (d->msg.kind == CTL_KIND_TEXT && d->count != 1)
            return fail(d, "reply of kind T must have exactly one item");
    }
    d->state = d->count ? ST_LEN : ST_DONE;
    return CTL_DECODE_MORE;
}

static enum ctl_decode_rc after_len(struct ctl_decoder *d)
{
    size_t len = d->num;
    /* Reply: the item and its ',' must fit in what is left of the bound. */
    if (d->type == CTL_MSG_REPLY && len + 1 > CTL_MAX_REPLY - d->total)
        return fail(d, "reply too large");
    grow(d);
    char *item = pl_malloc(len + 1);
    item[len] = '\0';
    d->msg.items[d->msg.nitems] = item;
    d->msg.lens[d->msg.nitems] = len;
    d->msg.nitems++;
    d->need = len;
    d->state = len ? ST_DATA : ST_COMMA;
    return CTL_DECODE_MORE;
}

enum ctl_decode_rc ctl_decode(struct ctl_decoder *d, const void *data,
                              size_t len, size_t *used)
{
    const char *p = data;
    size_t i = 0;
    enum ctl_decode_rc rc = CTL_DECODE_MORE;

    *used = 0;
    if (d->state == ST_ERROR)
        return CTL_DECODE_ERROR;
    while (i < len && d->state != ST_DONE) {
        if (d->state == ST_DATA) {
            size_t n = len - i < d->need ? len - i : d->need;
            size_t cur = d->msg.nitems - 1;
            memcpy(d->msg.items[cur] + (d->msg.lens[cur] - d->need), p + i, n);
            d->need -= n;
            d->total += n;
            i += n;
            if (d->need == 0)
                d->state = ST_COMMA;
            continue;
        }
        char c = p[i++];
        d->total++;
        if (d->type == CTL_MSG_REPLY && d->total > CTL_MAX_REPLY) {
            rc = fail(d, "reply too large");
            break;
        }
        switch (d->state) {
        case ST_STATUS:
            if (c < '0' || c > '9') {
                rc = fail(d, "malformed reply: bad status");
                goto out;
            }
            d->msg.status = c - '0';
            d->state = ST_KIND;
            break;
        case ST_KIND:
            if (c != CTL_KIND_NONE && c != CTL_KIND_TEXT && c != CTL_KIND_LIST) {
                rc = fail(d, "malformed reply: bad kind");
                goto out;
            }
            d->msg.kind = c;
            d->state = ST_COUNT;
            break;
        case ST_COUNT:
        case ST_LEN: {
            bool is_count = d->state == ST_COUNT;
            if (c >= '0' && c <= '9') {
                /* Replies: each item takes at least "0:," (3 bytes). */
                size_t max = is_count
                    ? (d->type == CTL_MSG_REQUEST ? CTL_MAX_ARGS : CTL_MAX_REPLY / 3)
                    : (d->type == CTL_MSG_REQUEST ? CTL_MAX_ARG_LEN : CTL_MAX_REPLY);
                if (add_digit(d, c, max) < 0) {
                    if (d->ndigits == 1 && d->num == 0)
                        rc = fail(d, "malformed length: leading zero");
                    else if (is_count)
                        rc = fail(d, d->type == CTL_MSG_REQUEST
                                  ? "too many arguments (at most 64)"
                                  : "reply too large");
                    else
                        rc = fail(d, d->type == CTL_MSG_REQUEST
                                  ? "argument too long (at most 65536 bytes)"
                                  : "reply too large");
                    goto out;
                }
                break;
            }
            if (c != ':' || d->ndigits == 0) {
                rc = fail(d, is_count ? "malformed item count"
                                      : "malformed item length");
                goto out;
            }
            d->ndigits = 0;
            rc = is_count ? after_count(d) : after_len(d);
            d->num = 0;
            if (rc == CTL_DECODE_ERROR)
                goto out;
            break;
        }
        case ST_COMMA:
            if (c != ',') {
                rc = fail(d, "malformed item: missing ','");
                goto out;
            }
            d->state = d->msg.nitems == d->count ? ST_DONE : ST_LEN;
            break;
        default:
            PL_ASSERT(0);
        }
    }
out:
    *used = i;
    if (rc == CTL_DECODE_ERROR)
        return rc;
    return d->state == ST_DONE ? CTL_DECODE_DONE : CTL_DECODE_MORE;
}
