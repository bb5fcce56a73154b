/*
 * ban.c - the ban record (issue 5): <ban xmlns='urn:xmpp:parley:ban'/>
 * to and from an XML element, with an HMAC-SHA-256 (RFC 2104, FIPS 180-4)
 * over the account's bare JID and every field.  Times are XEP-0082
 * DateTimes in UTC.
 *
 * Pure logic over the XML library and OpenSSL: no server header, so the
 * unit test (tests/unit/admin/test_ban.c) links only this file.  The
 * format and its reasons are described in ban.h.
 */
#include "admin/ban.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/buf.h"
#include "core/mem.h"

#define STATE_BANNED "banned"
#define STATE_LIFTED "lifted"
/* Domain separation: a MAC made for something else with the same secret
 * (srv->secret also keys fake SCRAM salts) never verifies as a ban. */
#define MAC_CONTEXT  "parley ban record v1"
#define MAC_HEX_LEN  64

void ban_record_release(struct ban_record *r)
{
    free(r->reason);
    free(r->last_reason);
    memset(r, 0, sizeof(*r));
}

/* --- times --------------------------------------------------------------- */

void ban_time_format(long long t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "1970-01-01T00:00:00Z");
}

int ban_time_parse(const char *s, long long *t_out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strlen(s) != 20)
        return -1;
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return -1;
    *t_out = (long long)timegm(&tm);
    return 0;
}

/* --- the MAC ------------------------------------------------------------- */

/* Appends a netstring "LEN:BYTES," (NULL as the empty string): fields can
 * then hold any byte without one field's end being forged as another's. */
static void put_field(struct buf *b, const char *s)
{
    if (!s)
        s = "";
    buf_printf(b, "%zu:", strlen(s));
    buf_puts(b, s);
    buf_putc(b, ',');
}

static void mac_hex(const struct ban_record *r, const char *bare,
                    const unsigned char key[BAN_KEY_LEN], char hex[MAC_HEX_LEN + 1])
{
    struct buf in = BUF_INIT;
    char since[32] = "", last[32] = "";
    if (r->banned)
        ban_time_format(r->since, since);
    if (r->last_activity)
        ban_time_format(r->last_activity, last);
    put_field(&in, MAC_CONTEXT);
    put_field(&in, bare);
    put_field(&in, r->banned ? STATE_BANNED : STATE_LIFTED);
    put_field(&in, r->banned ? r->reason : NULL);
    put_field(&in, since);
    put_field(&in, last);
    put_field(&in, r->last_reason);

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    PL_ASSERT(HMAC(EVP_sha256(), key, BAN_KEY_LEN, (const unsigned char *)in.data, in.len,
                   md, &mdlen) != NULL);
    PL_ASSERT(mdlen * 2 == MAC_HEX_LEN);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[MAC_HEX_LEN] = '\0';
    buf_release(&in);
}

/* --- encode -------------------------------------------------------------- */

static bool empty(const char *s)
{
    return !s || !*s;
}

struct xml_node *ban_record_to_xml(struct arena *a, const struct ban_record *in,
                                   const char *bare,
                                   const unsigned char key[BAN_KEY_LEN])
{
    /* Normalize first, so that what is stored is what the MAC covers. */
    struct ban_record r = *in;
    if (empty(r.reason) || !r.banned)
        r.reason = NULL;
    if (empty(r.last_reason))
        r.last_reason = NULL;
    if (!r.banned)
        r.since = 0;

    struct xml_node *ban = xml_new(a, NS_PARLEY_BAN, "ban");
    char t[32], hex[MAC_HEX_LEN + 1];
    xml_add_text_child(a, ban, NULL, "state", r.banned ? STATE_BANNED : STATE_LIFTED);
    if (r.reason)
        xml_add_text_child(a, ban, NULL, "reason", r.reason);
    if (r.banned) {
        ban_time_format(r.since, t);
        xml_add_text_child(a, ban, NULL, "since", t);
    }
    if (r.last_activity) {
        ban_time_format(r.last_activity, t);
        xml_add_text_child(a, ban, NULL, "last-activity", t);
    }
    if (r.last_reason)
        xml_add_text_child(a, ban, NULL, "last-reason", r.last_reason);
    mac_hex(&r, bare, key, hex);
    xml_set_attr(a, xml_add_text_child(a, ban, NULL, "mac", hex), "alg", "hmac-sha256");
    return ban;
}

/* --- decode -------------------------------------------------------------- */

/* The text of the only child named 'name', "" -> NULL.  Returns -1 when
 * it is repeated, has element children or is longer than max. */
static int field(struct arena *a, const struct xml_node *ban, const char *name,
                 size_t max, const char **out)
{
    *out = NULL;
    const struct xml_node *el = xml_child(ban, NS_PARLEY_BAN, name);
    if (!el)
        return 0;
    if (xml_next(el, NS_PARLEY_BAN, name) || xml_child(el, NULL, NULL))
        return -1;
    const char *s = xml_text(a, el);
    if (strlen(s) > max)
        return -1;
    *out = *s ? s : NULL;
    return 0;
}

enum ban_decode_status ban_record_from_xml(const struct xml_node *el, const char *bare,
                                           const unsigned char key[BAN_KEY_LEN],
                                           struct ban_record *out)
{
    memset(out, 0, sizeof(*out));
    if (!el || !xml_is(el, NS_PARLEY_BAN, "ban"))
        return BAN_E_MALFORMED;
    /* Scratch for the texts; the record copies what it keeps. */
    struct arena *a = arena_new(1024);
    enum ban_decode_status st = BAN_E_MALFORMED;
    const char *state, *reason, *since, *last, *last_reason, *mac;
    if (field(a, el, "state", 16, &state) < 0 || field(a, el, "reason", BAN_REASON_MAX, &reason) < 0 ||
        field(a, el, "since", 32, &since) < 0 || field(a, el, "last-activity", 32, &last) < 0 ||
        field(a, el, "last-reason", BAN_REASON_MAX, &last_reason) < 0 ||
        field(a, el, "mac", MAC_HEX_LEN, &mac) < 0)
        goto out;
    if (!state || !mac || strlen(mac) != MAC_HEX_LEN)
        goto out;

    struct ban_record r = { 0 };
    if (strcmp(state, STATE_BANNED) == 0) {
        /* A ban has a date; a ban without a reason is allowed (the
         * operator gave none). */
        r.banned = true;
        if (!since || ban_time_parse(since, &r.since) < 0)
            goto out;
    } else if (strcmp(state, STATE_LIFTED) == 0) {
        if (reason || since)
            goto out;
    } else {
        goto out;
    }
    if (last && ban_time_parse(last, &r.last_activity) < 0)
        goto out;
    r.reason = (char *)reason;          /* borrowed from the arena for the MAC */
    r.last_reason = (char *)last_reason;

    char want[MAC_HEX_LEN + 1];
    mac_hex(&r, bare, key, want);
    /* Constant time: the comparison must not tell a forger how many
     * leading characters were right. */
    if (CRYPTO_memcmp(want, mac, MAC_HEX_LEN) != 0) {
        st = BAN_E_MAC;
        goto out;
    }
    out->banned = r.banned;
    out->since = r.since;
    out->last_activity = r.last_activity;
    out->reason = reason ? pl_strdup(reason) : NULL;
    out->last_reason = last_reason ? pl_strdup(last_reason) : NULL;
    st = BAN_OK;
out:
    arena_free(a);
    return st;
}
