/*
 * fast.c - pure logic for SASL2 (XEP-0388 §2.2, §2.3), Bind2 resource
 * names (XEP-0386 §3.2.1) and FAST tokens with the HT-SHA-256-*
 * mechanisms (XEP-0484 §3, §5.1; draft-schmaus-kitten-sasl-ht).  See
 * fast.h for the storage design.  Nothing here logs (tokens are secrets).
 */
#include "stream/fast.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/fields.h"
#include "core/mem.h"

/* Longest stored record we parse: two slots of ~110 bytes. */
#define FAST_REC_MAX 512
/* HT authcid limit, as for PLAIN (RFC 4616 §2). */
#define AUTHCID_MAX 255

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool sasl2_ua_id_valid(const char *id)
{
    static const size_t groups[] = { 8, 4, 4, 4, 12 };
    if (!id || strlen(id) != 36)
        return false;
    const char *p = id;
    for (size_t g = 0; g < 5; g++) {
        for (size_t i = 0; i < groups[g]; i++, p++)
            if (!is_hex(*p))
                return false;
        if (g < 4 && *p++ != '-')
            return false;
    }
    return *p == '\0';
}

int sasl2_b64_decode(struct buf *out, const char *text)
{
    struct buf clean = BUF_INIT;
    for (const char *p = text; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            buf_putc(&clean, *p);
    int rc = 0;
    if (clean.len > 0 && !(clean.len == 1 && clean.data[0] == '='))
        rc = base64_decode(out, clean.data, clean.len);
    buf_release(&clean);
    return rc < 0 ? -1 : 0;
}

void bind2_resource(const char *tag, const uint8_t *rnd, size_t rlen, char *out,
                    size_t outlen)
{
    char t[BIND2_TAG_MAX + 1];
    size_t n = 0;
    for (const char *p = tag ? tag : ""; *p && n < BIND2_TAG_MAX; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == ' ')
            t[n++] = c;
    }
    /* No leading or trailing space: a resourcepart may not be empty of
     * meaning, and trimming keeps "  " from becoming the tag. */
    while (n > 0 && t[n - 1] == ' ')
        n--;
    size_t start = 0;
    while (start < n && t[start] == ' ')
        start++;
    t[n] = '\0';
    const char *tg = start < n ? t + start : "parley";
    int w = snprintf(out, outlen, "%s/", tg);
    for (size_t i = 0; i < rlen && w > 0 && (size_t)w < outlen; i++)
        w += snprintf(out + w, outlen - (size_t)w, "%02x", rnd[i]);
}

void bind2_stable_part(const uint8_t secret[32], const char *local, const char *domain,
                       const char *ua_id, uint8_t *out, size_t outlen)
{
    struct buf m = BUF_INIT;
    buf_append(&m, "bind2", 6);                 /* with its NUL */
    buf_append(&m, local, strlen(local) + 1);
    buf_append(&m, domain, strlen(domain) + 1);
    buf_puts(&m, ua_id);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    PL_ASSERT(HMAC(EVP_sha256(), secret, 32, (const uint8_t *)m.data, m.len, mac, &n));
    PL_ASSERT(outlen <= n);
    memcpy(out, mac, outlen);
    buf_release(&m);
}

/* --- HT-SHA-256 -------------------------------------------------------------- */

static const char *const mech_names[] = {
    [FAST_CB_NONE] = "HT-SHA-256-NONE",
    [FAST_CB_EXPORTER] = "HT-SHA-256-EXPR",
    [FAST_CB_ENDPOINT] = "HT-SHA-256-ENDP",
};

enum fast_cb fast_mech_cb(const char *mech)
{
    for (size_t i = 0; mech && i < PL_ARRAY_LEN(mech_names); i++)
        if (strcmp(mech, mech_names[i]) == 0)
            return (enum fast_cb)i;
    return FAST_CB_INVALID;
}

const char *fast_mech_name(enum fast_cb cb)
{
    return cb < FAST_CB_INVALID ? mech_names[cb] : "?";
}

void fast_ht_hmac(const char *token, const char *label, const uint8_t *cb, size_t cblen,
                  uint8_t out[FAST_HMAC_LEN])
{
    size_t ll = strlen(label);
    uint8_t *msg = pl_malloc(ll + cblen + 1);
    memcpy(msg, label, ll);
    if (cblen)
        memcpy(msg + ll, cb, cblen);
    unsigned int n = FAST_HMAC_LEN;
    HMAC(EVP_sha256(), token, (int)strlen(token), msg, ll + cblen, out, &n);
    free(msg);
}

int fast_ht_parse(const uint8_t *in, size_t len, char **authcid,
                  uint8_t hmac[FAST_HMAC_LEN])
{
    *authcid = NULL;
    if (len < 1 + 1 + FAST_HMAC_LEN || len > AUTHCID_MAX + 1 + FAST_HMAC_LEN)
        return -1;
    size_t ul = len - 1 - FAST_HMAC_LEN;
    if (in[ul] != 0 || memchr(in, 0, ul))
        return -1;
    *authcid = pl_strndup((const char *)in, ul);
    memcpy(hmac, in + ul + 1, FAST_HMAC_LEN);
    return 0;
}

void fast_token_derive(const uint8_t *secret, size_t slen, const char *bare,
                       const uint8_t nonce[FAST_NONCE_LEN], char out[FAST_TOKEN_MAX])
{
    static const char label[] = "parley FAST token";
    struct buf m = BUF_INIT;
    buf_append(&m, label, sizeof(label));          /* with its NUL: a separator */
    buf_append(&m, bare, strlen(bare) + 1);
    buf_append(&m, nonce, FAST_NONCE_LEN);
    uint8_t mac[32];
    unsigned int n = sizeof(mac);
    HMAC(EVP_sha256(), secret, (int)slen, (const uint8_t *)m.data, m.len, mac, &n);
    buf_release(&m);
    struct buf b = BUF_INIT;
    base64_encode(&b, mac, sizeof(mac));
    size_t o = 0;
    for (size_t i = 0; i < b.len && o + 1 < FAST_TOKEN_MAX; i++) {
        char c = b.data[i];
        if (c == '=')
            break;
        out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[o] = '\0';
    OPENSSL_cleanse(mac, sizeof(mac));
    OPENSSL_cleanse(b.data, b.len);
    buf_release(&b);
}

void fast_creds_fp(const char *creds, uint8_t out[FAST_FP_LEN])
{
    uint8_t d[32];
    unsigned int n = sizeof(d);
    EVP_Digest(creds, strlen(creds), d, &n, EVP_sha256(), NULL);
    memcpy(out, d, FAST_FP_LEN);
}

/* --- records ------------------------------------------------------------------ */

static void put_hex(struct buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%02x", p[i]);
}

static int get_hex(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char h[3] = { s[2 * i], s[2 * i + 1], 0 };
        if (!is_hex(h[0]) || !is_hex(h[1]))
            return -1;
        out[i] = (uint8_t)strtoul(h, NULL, 16);
    }
    return 0;
}

static void put_slot(struct buf *b, char tag, const struct fast_slot *s)
{
    if (!s->present)
        return;
    if (b->len)
        buf_putc(b, ';');
    buf_printf(b, "%c:%d:%lld:%u:", tag, (int)s->mech, (long long)s->expiry,
               (unsigned)s->count);
    put_hex(b, s->nonce, FAST_NONCE_LEN);
    buf_putc(b, ':');
    put_hex(b, s->fp, FAST_FP_LEN);
}

char *fast_rec_encode(const struct fast_rec *r)
{
    struct buf b = BUF_INIT;
    put_slot(&b, 'n', &r->slot_new);
    put_slot(&b, 'c', &r->slot_cur);
    if (!b.data)
        return pl_strdup("");
    return buf_detach(&b);
}

/* Decimal without sign, at most 'digits' digits. */
static int get_num(const char *s, size_t len, size_t digits, long long *out)
{
    if (len == 0 || len > digits)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int decode_slot(const char *e, size_t len, struct fast_rec *out)
{
    const char *f[6];
    size_t fl[6];
    if (!fields_split(e, len, ':', 6, f, fl) || fl[0] != 1)
        return -1;
    struct fast_slot *s = f[0][0] == 'n' ? &out->slot_new
                          : f[0][0] == 'c' ? &out->slot_cur : NULL;
    if (!s || s->present)
        return -1;
    long long mech, expiry, count;
    if (get_num(f[1], fl[1], 1, &mech) < 0 || mech >= FAST_CB_INVALID ||
        get_num(f[2], fl[2], 18, &expiry) < 0 || get_num(f[3], fl[3], 10, &count) < 0 ||
        count > UINT32_MAX || get_hex(f[4], fl[4], s->nonce, FAST_NONCE_LEN) < 0 ||
        get_hex(f[5], fl[5], s->fp, FAST_FP_LEN) < 0)
        return -1;
    s->mech = (enum fast_cb)mech;
    s->expiry = expiry;
    s->count = (uint32_t)count;
    s->present = true;
    return 0;
}

int fast_rec_decode(const char *s, struct fast_rec *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return -1;
    size_t n = strnlen(s, FAST_REC_MAX + 1);
    if (n > FAST_REC_MAX)
        return -1;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        size_t el = semi ? (size_t)(semi - p) : (size_t)(end - p);
        if (decode_slot(p, el, out) < 0) {
            memset(out, 0, sizeof(*out));
            return -1;
        }
        if (!semi)
            break;
        p = semi + 1;
        if (p == end) {             /* trailing ';' */
            memset(out, 0, sizeof(*out));
            return -1;
        }
    }
    return 0;
}

static bool slot_matches(const struct fast_slot *s, const uint8_t *secret, size_t slen,
                         const char *bare, const uint8_t *cb, size_t cblen,
                         const uint8_t hmac[FAST_HMAC_LEN])
{
    if (!s->present)
        return false;
    char tok[FAST_TOKEN_MAX];
    fast_token_derive(secret, slen, bare, s->nonce, tok);
    uint8_t want[FAST_HMAC_LEN];
    fast_ht_hmac(tok, "Initiator", cb, cblen, want);
    bool ok = CRYPTO_memcmp(want, hmac, FAST_HMAC_LEN) == 0;
    OPENSSL_cleanse(tok, sizeof(tok));
    return ok;
}

enum fast_verdict fast_check(const struct fast_rec *r, const uint8_t *secret, size_t slen,
                             const char *bare, enum fast_cb mech, const uint8_t *cb,
                             size_t cblen, const uint8_t hmac[FAST_HMAC_LEN],
                             const uint8_t fp[FAST_FP_LEN], int64_t now, bool has_count,
                             uint32_t count)
{
    /* §5.1: the 'new' slot first, then 'cur'. */
    const struct fast_slot *s = NULL;
    enum fast_verdict ok = FAST_BAD;
    if (slot_matches(&r->slot_new, secret, slen, bare, cb, cblen, hmac)) {
        s = &r->slot_new;
        ok = FAST_OK_NEW;
    } else if (slot_matches(&r->slot_cur, secret, slen, bare, cb, cblen, hmac)) {
        s = &r->slot_cur;
        ok = FAST_OK_CUR;
    }
    if (!s)
        return FAST_BAD;
    /* §3.4: a token is bound to the mechanism it was requested for. */
    if (s->mech != mech)
        return FAST_BAD;
    if (s->expiry <= now || CRYPTO_memcmp(s->fp, fp, FAST_FP_LEN) != 0)
        return FAST_EXPIRED;
    if (has_count && count <= s->count)
        return FAST_REPLAY;
    return ok;
}
