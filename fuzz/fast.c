/*
 * fast.c - libFuzzer target for the pure logic of SASL2, Bind2 and FAST
 * (src/stream/fast.c; XEP-0388 §2.2/§2.3, XEP-0386 §3.2.1, XEP-0484 and
 * draft-schmaus-kitten-sasl-ht).
 *
 * Every input goes through each peer-facing parser:
 *   - the stored FAST record (disk input): decode -> encode -> decode ->
 *     encode is stable, and fast_check against it never matches an HMAC
 *     that was not derived from one of its slots;
 *   - the HT initial response: authcid 1..255 bytes without NUL, then
 *     exactly 32 bytes;
 *   - whitespace-tolerant base64, user-agent ids (only the 8-4-4-4-12 hex
 *     form is valid), the Bind2 resource (tag characters are safe ones and
 *     the result fits the documented size).
 */
#include "fuzz.h"

#include <ctype.h>
#include <stdint.h>

#include "core/buf.h"
#include "stream/fast.h"

static const uint8_t secret[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static const char bare[] = "user@example.org";

static void fuzz_record(const char *s, const uint8_t *data, size_t size)
{
    struct fast_rec r;
    if (fast_rec_decode(s, &r) < 0)
        return;
    char *enc = fast_rec_encode(&r);
    struct fast_rec r2;
    FZ_CHECK(fast_rec_decode(enc, &r2) == 0);
    char *enc2 = fast_rec_encode(&r2);
    FZ_CHECK(strcmp(enc, enc2) == 0);
    free(enc2);
    free(enc);

    /* An HMAC taken from the input itself (not derived from a token of the
     * record) must not verify, whatever the record says; the chance that
     * the fuzzer finds a real one is 2^-256. */
    uint8_t hmac[FAST_HMAC_LEN] = { 0 };
    memcpy(hmac, data, size < sizeof(hmac) ? size : sizeof(hmac));
    uint8_t fp[FAST_FP_LEN] = { 0 };
    enum fast_verdict v = fast_check(&r, secret, sizeof(secret), bare, FAST_CB_NONE,
                                     NULL, 0, hmac, fp, 0, size & 1, (uint32_t)size);
    FZ_CHECK(v == FAST_BAD);

    /* and the genuine HMAC of the 'new' slot's token does verify, with its
     * mechanism and credentials, before it expires and without a count */
    if (r.slot_new.present && r.slot_new.expiry > INT64_MIN) {
        char token[FAST_TOKEN_MAX];
        fast_token_derive(secret, sizeof(secret), bare, r.slot_new.nonce, token);
        fast_ht_hmac(token, "Initiator", NULL, 0, hmac);
        v = fast_check(&r, secret, sizeof(secret), bare, r.slot_new.mech, NULL, 0, hmac,
                       r.slot_new.fp, r.slot_new.expiry - 1, false, 0);
        FZ_CHECK(v == FAST_OK_NEW);
    }
}

static void fuzz_ht(const uint8_t *data, size_t size)
{
    char *authcid = NULL;
    uint8_t hmac[FAST_HMAC_LEN];
    if (fast_ht_parse(data, size, &authcid, hmac) == 0) {
        size_t n = strlen(authcid);
        FZ_CHECK(n >= 1 && n <= 255);
        FZ_CHECK(size == n + 1 + FAST_HMAC_LEN);
        FZ_CHECK(memcmp(authcid, data, n) == 0 && data[n] == 0);
        FZ_CHECK(memcmp(hmac, data + n + 1, FAST_HMAC_LEN) == 0);
        free(authcid);
    }
}

static void fuzz_ua_id(const char *s)
{
    if (!sasl2_ua_id_valid(s))
        return;
    FZ_CHECK(strlen(s) == 36);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            FZ_CHECK(s[i] == '-');
        else
            FZ_CHECK(isxdigit((unsigned char)s[i]));
    }
}

static void fuzz_resource(const char *tag, const uint8_t *data, size_t size)
{
    size_t rlen = size < 16 ? size : 16;
    size_t outlen = BIND2_TAG_MAX + 2 + 2 * rlen + 1;
    char *out = malloc(outlen);
    FZ_CHECK(out != NULL);
    bind2_resource(tag, data, rlen, out, outlen);
    const char *slash = strchr(out, '/');
    FZ_CHECK(slash != NULL && slash > out && (size_t)(slash - out) <= BIND2_TAG_MAX);
    FZ_CHECK(out[0] != ' ' && slash[-1] != ' ');
    for (const char *p = out; p < slash; p++)
        FZ_CHECK(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.' ||
                 *p == ' ');
    FZ_CHECK(strlen(slash + 1) == 2 * rlen);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_strndup(data, size);
    fuzz_record(s, data, size);
    fuzz_ht(data, size);
    fuzz_ua_id(s);
    fuzz_resource(s, data, size);
    struct buf out = BUF_INIT;
    if (sasl2_b64_decode(&out, s) == 0)
        FZ_CHECK(out.len <= strlen(s) / 4 * 3 + 3);
    buf_release(&out);
    free(s);
    return 0;
}
