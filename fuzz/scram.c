/*
 * scram.c - libFuzzer target for the server side of SASL (src/stream/sasl/:
 * SCRAM-SHA-1/256/512 and -PLUS of RFC 5802, RFC 7677, RFC 9266 and
 * RFC 5929; PLAIN of RFC 4616) and the stored credential string.
 *
 * Input: one mode byte, then up to four client messages (already
 * base64-decoded, as c2s passes them) separated by "\xff\xff":
 *   client-first-message, client-final-message, ...
 * Mode bits 0-2 pick the mechanism, bit 3 makes the account unknown, bits
 * 4/5 offer tls-exporter / tls-server-end-point data, bit 6 turns TLS off,
 * bit 7 sets a server secret.  The stored credentials are fixed: account
 * "user", password "pencil", a fixed salt and 16 iterations (cheap, so the
 * fuzzer stays fast; the count is data to the code under test), and the
 * server nonce is fixed so a seed can carry a valid proof
 * (fuzz/mkseeds.py computes them).
 *
 * Checks: success only for the existing account "user" with its keys;
 * every failure names an RFC 6120 §6.5 condition and a text; the
 * credential string round trips (decode -> encode -> decode -> encode).
 */
#include "fuzz.h"

#include "stream/sasl/sasl.h"

#define FZ_USER     "user"
#define FZ_PASSWORD "pencil"
#define FZ_ITER     16
#define FZ_SNONCE   "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define FZ_MSG_MAX  4

static const char *const mechs[8] = {
    "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS", "PLAIN", "X-NOT-A-MECH",
};

static const uint8_t salt[16] = {
    0x41, 0x25, 0xc2, 0x47, 0xe4, 0x3a, 0xb1, 0xe9,
    0x3c, 0x6d, 0xff, 0x76, 0x0e, 0x11, 0x22, 0x33,
};

static void make_channel(uint8_t mode, struct sasl_channel *ch)
{
    memset(ch, 0, sizeof(*ch));
    ch->tls = !(mode & 0x40);
    if (mode & 0x10) {
        ch->has_exporter = true;
        for (size_t i = 0; i < sizeof(ch->exporter); i++)
            ch->exporter[i] = (uint8_t)(0xa0 + i);
    }
    if (mode & 0x20) {
        ch->has_endpoint = true;
        ch->endpoint_len = 32;
        for (size_t i = 0; i < ch->endpoint_len; i++)
            ch->endpoint[i] = (uint8_t)(0x10 + 3 * i);
    }
}

/* The stored blob of a peer's account row is disk input too. */
static void fuzz_creds_string(const uint8_t *data, size_t size)
{
    char *s = fz_strndup(data, size);
    struct sasl_creds c;
    if (sasl_creds_decode(s, &c) == 0) {
        char *enc = sasl_creds_encode(&c);
        struct sasl_creds c2;
        FZ_CHECK(sasl_creds_decode(enc, &c2) == 0);
        char *enc2 = sasl_creds_encode(&c2);
        FZ_CHECK(strcmp(enc, enc2) == 0);
        free(enc2);
        free(enc);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_creds_string(data + 1, size - 1);

    uint8_t mode = data[0];
    data++;
    size--;
    struct sasl_channel ch;
    make_channel(mode, &ch);
    struct sasl_ctx *ctx = sasl_new(mechs[mode & 7], &ch, true);
    if (!ctx)
        return 0;
    bool is_plain = sasl_is_plain(ctx);
    sasl_set_server_nonce(ctx, FZ_SNONCE);
    if (mode & 0x80) {
        static const uint8_t secret[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        sasl_set_secret(ctx, secret, sizeof(secret));
    }

    struct sasl_reply r = { BUF_INIT, NULL, NULL };
    bool gave_creds = false;
    const uint8_t *msg = NULL;
    size_t len = 0;
    for (int i = 0; i < FZ_MSG_MAX && fz_next(&data, &size, &msg, &len); i++) {
        enum sasl_status st = sasl_step(ctx, msg, len, &r);
        if (st == SASL_NEED_CREDS) {
            const char *user = sasl_username(ctx);
            FZ_CHECK(user != NULL);
            /* the store lookup: only "user" exists (and not in mode bit 3) */
            struct sasl_creds creds;
            memset(&creds, 0, sizeof(creds));
            bool exists = !(mode & 0x08) && strcmp(user, FZ_USER) == 0;
            if (exists) {
                for (int h = 0; h < SASL_HASH_COUNT; h++)
                    FZ_CHECK(scram_keys_derive((enum sasl_hash)h, FZ_PASSWORD, salt,
                                               sizeof(salt), FZ_ITER, &creds.keys[h]) == 0);
            }
            gave_creds = exists;
            st = sasl_creds(ctx, exists ? &creds : NULL, &r);
        }
        if (st == SASL_SUCCESS) {
            FZ_CHECK(gave_creds);
            FZ_CHECK(strcmp(sasl_username(ctx), FZ_USER) == 0);
            break;
        }
        if (st == SASL_FAILURE) {
            FZ_CHECK(r.condition != NULL && r.condition[0] != '\0');
            FZ_CHECK(r.text != NULL);
            break;
        }
        FZ_CHECK(st == SASL_CHALLENGE);
        /* PLAIN answers its data at once; only an empty initial response
         * gets an empty challenge first (RFC 6120 §6.4.2, RFC 4616 §2) */
        if (is_plain)
            FZ_CHECK(i == 0 && len == 0 && r.data.len == 0);
    }
    buf_release(&r.data);
    sasl_free(ctx);
    return 0;
}
