/*
 * base64.c - libFuzzer target for strict base64 (src/core/base64.c;
 * RFC 4648 §4 as SASL uses it, RFC 6120 §6.4.2).
 *
 * The input is what a peer puts in <auth/> or <response/>.  Checks: decoding
 * accepts exactly canonical base64 (what it accepts re-encodes to the same
 * text, so there is only one spelling of a payload), the decoded length is
 * 3/4 of the input minus padding, and it appends after what the buffer
 * held; plus encode -> decode round trips the raw input bytes.
 */
#include "fuzz.h"

#include "core/base64.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT, again = BUF_INIT;

    /* decode the input as text */
    buf_puts(&out, "x");        /* decode appends: keep a prefix to check that */
    if (base64_decode(&out, (const char *)data, size) == 0) {
        FZ_CHECK(size % 4 == 0);
        FZ_CHECK(out.len >= 1 && out.data[0] == 'x');
        size_t dec = out.len - 1;
        FZ_CHECK(dec <= size / 4 * 3 && dec + 2 >= size / 4 * 3);
        base64_encode(&again, out.data + 1, dec);
        FZ_CHECK(again.len == size && (size == 0 || memcmp(again.data, data, size) == 0));
    }
    buf_release(&out);
    buf_release(&again);

    /* encode the input as bytes and decode it back */
    struct buf enc = BUF_INIT, dec = BUF_INIT;
    base64_encode(&enc, data, size);
    FZ_CHECK(enc.len == (size + 2) / 3 * 4);
    FZ_CHECK(base64_decode(&dec, enc.data, enc.len) == 0);
    FZ_CHECK(dec.len == size && (size == 0 || memcmp(dec.data, data, size) == 0));
    buf_release(&enc);
    buf_release(&dec);
    return 0;
}
