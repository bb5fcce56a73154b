/*
 * base64.c - strict base64 (RFC 4648 §4) for SASL (RFC 6120 §6.4.2).
 *
 * SASL payloads must be canonical base64: no whitespace or line breaks, a
 * length that is a multiple of 4, '=' only as final padding, and (RFC 4648
 * §3.5, which lets decoders be strict) zero pad bits, so that every byte
 * string has exactly one accepted encoding.  That last point matters to
 * SCRAM: the server compares the client's c= attribute with its own
 * encoding, and a canonical alphabet makes text and byte comparison agree.
 * An empty SASL response is sent as "=" on the wire; mapping that is the
 * caller's job, here "=" is simply invalid and "" decodes to nothing.
 */
#include "core/base64.h"

#include <stdint.h>

static const char alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(struct buf *out, const void *data, size_t len)
{
    const uint8_t *p = data;
    /* Reserve the whole output once: 4 characters per started 3 bytes. */
    buf_reserve(out, (len + 2) / 3 * 4);
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        *o++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
}

/* Value of one alphabet character, or -1 (this includes '='). */
static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int base64_decode(struct buf *out, const char *s, size_t len)
{
    if (len % 4 != 0)
        return -1;
    if (len == 0)
        return 0;
    /* Decode straight into the buffer's spare room and only commit the
     * length at the end, so that a failure leaves 'out' as it was. */
    buf_reserve(out, len / 4 * 3);
    uint8_t *o = (uint8_t *)out->data + out->len;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        const unsigned char *q = (const unsigned char *)s + i;
        int last = (i + 4 == len);
        int a = value_of(q[0]), b = value_of(q[1]);
        if (a < 0 || b < 0)
            goto fail;
        int c, d;
        if (last && q[2] == '=' && q[3] == '=') {
            /* One byte; the 4 low bits of b are padding and must be 0. */
            if (b & 0x0f)
                goto fail;
            o[n++] = (uint8_t)(a << 2 | b >> 4);
            break;
        }
        c = value_of(q[2]);
        if (c < 0)
            goto fail;
        if (last && q[3] == '=') {
            if (c & 0x03)
                goto fail;
            o[n++] = (uint8_t)(a << 2 | b >> 4);
            o[n++] = (uint8_t)((b & 0x0f) << 4 | c >> 2);
            break;
        }
        d = value_of(q[3]);
        if (d < 0)
            goto fail;
        o[n++] = (uint8_t)(a << 2 | b >> 4);
        o[n++] = (uint8_t)((b & 0x0f) << 4 | c >> 2);
        o[n++] = (uint8_t)((c & 0x03) << 6 | d);
    }
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
fail:
    out->data[out->len] = '\0';
    return -1;
}
