/*
 * jid.c - XMPP addresses: parsing, preparation and comparison (RFC 7622).
 *
 * Implements the split rules of RFC 7622 §3.1 (resource from the first '/',
 * local part up to the first '@' before it), the per-part size limit of
 * §3.2-3.4 (1-1023 bytes after preparation) and the domain rules of §3.2
 * (IP literals, a single trailing dot removed, DNS label syntax).  The
 * string preparation itself is libidn's stringprep: Nodeprep and
 * Resourceprep (RFC 3920 Appendix A/B, as kept by RFC 6122) and Nameprep
 * (RFC 3491); see docs/dependencies.md for why not PRECIS yet.  Unassigned
 * code points are allowed (the "query" mode of RFC 3454 §7), as other
 * servers do, so that addresses with newer characters still route.
 */
#include "core/jid.h"
#include "core/utf8.h"
#include "core/mem.h"

#include <arpa/inet.h>
#include <idna.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

/* Largest raw part we even try to prepare.  Mapping can shrink a string
 * (soft hyphens and zero-width characters map to nothing), so the limit on
 * input is looser than JID_PART_MAX; it exists to bound the CPU and stack a
 * peer can make us spend. */
#define PREP_IN_MAX (4 * (JID_PART_MAX + 1) - 1)
/* A whole address: three raw parts and two separators. */
#define JID_IN_MAX (3 * PREP_IN_MAX + 2)

/* Strict UTF-8 (RFC 3629 §4): no overlong forms, no surrogates, nothing
 * above U+10FFFF.  libidn rejects most bad input itself, but the exact
 * rules here do not depend on its version. */

/* Runs one stringprep profile on 'in' into tmp (PREP_IN_MAX+1 bytes).
 * Returns the prepared length (possibly 0), or -1. */
static int prep_raw(const char *in, const Stringprep_profile *profile,
                    char tmp[PREP_IN_MAX + 1])
{
    if (!in)
        return -1;
    size_t n = strlen(in);
    if (n == 0 || n > PREP_IN_MAX || !utf8_valid(in, n))
        return -1;
    /* stringprep works in place; an output that would not fit this
     * buffer is far over the limit anyway (TOO_SMALL_BUFFER -> invalid). */
    memcpy(tmp, in, n + 1);
    if (stringprep(tmp, PREP_IN_MAX + 1, 0, profile) != STRINGPREP_OK)
        return -1;
    return (int)strlen(tmp);
}

/*
 * ASCII fast paths (issue 7: every routed stanza prepares its 'to', and
 * libidn's stringprep costs some 10 µs per part even for "alice").  For
 * input made of ASCII alone the three profiles reduce to a few rules, so
 * the result below is exactly libidn's: B.1 (mapped to nothing) and NFKC
 * change no ASCII character, the bidi rules (RFC 3454 §6) only fire on
 * RandALCat characters, none of which is ASCII, and what is left is
 *   Nodeprep      B.2 lower-casing; prohibits C.1.1 (space), C.2.1
 *                 (U+0001-001F, U+007F) and " & ' / : < > @
 *                 (RFC 3920 Appendix A.5)
 *   Resourceprep  no mapping of ASCII; prohibits C.2.1 (Appendix B.5)
 *   Nameprep      B.2 lower-casing; prohibits no ASCII (RFC 3491 §5)
 * A fast path only ever accepts: anything it is not sure of (non-ASCII,
 * a prohibited character) goes to libidn, which gives the verdict and
 * the error.  tests/unit/core/test_jid.c checks every ASCII character
 * against libidn itself.
 */
enum prep_fast { FAST_NODE, FAST_RESOURCE, FAST_NAME };

/* The prepared length of 'in' (n bytes, 1..JID_PART_MAX) into out, or -1
 * when libidn must decide. */
static int prep_fast(const char *in, size_t n, enum prep_fast kind,
                     char out[JID_PART_MAX + 1])
{
    if (n == 0 || n > JID_PART_MAX)
        return -1;
    /* Check all first: 'out' is left alone when libidn is to decide. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x7f || c == 0 || (c < 0x20 && kind != FAST_NAME))
            return -1;
        if (kind == FAST_NODE) {
            switch (c) {
            case ' ': case '"': case '&': case '\'': case '/':
            case ':': case '<': case '>': case '@':
                return -1;
            default:
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (kind != FAST_RESOURCE && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
    }
    out[n] = '\0';
    return (int)n;
}

/* A host name that IDNA ToASCII with the STD 3 rules (RFC 3490 §4.1
 * steps 3 and 8) surely accepts unchanged: labels of 1-63 letters (lower
 * case here), digits and inner hyphens, no "xx--" ACE-like label (left to
 * libidn).  Anything else is not rejected here, only not fast. */
static bool ldh_host(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return false;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-' ||
            (len >= 4 && s[start + 2] == '-' && s[start + 3] == '-'))
            return false;
        start = i + 1;
    }
    return true;
}

/* prep_raw() plus the 1..JID_PART_MAX limit, into 'out'. */
static int prep(const char *in, const Stringprep_profile *profile,
                char out[JID_PART_MAX + 1])
{
    char tmp[PREP_IN_MAX + 1];
    int m = prep_raw(in, profile, tmp);
    if (m <= 0 || m > JID_PART_MAX)
        return -1;
    memcpy(out, tmp, (size_t)m + 1);
    return m;
}

int jid_prep_local(const char *in, char out[JID_PART_MAX + 1])
{
    if (in && prep_fast(in, strlen(in), FAST_NODE, out) >= 0)
        return 0;
    /* Nodeprep's prohibited table covers " & ' / : < > @ and space
     * (RFC 3920 Appendix A.5, RFC 7622 §3.3.1). */
    return prep(in, stringprep_xmpp_nodeprep, out) < 0 ? -1 : 0;
}

int jid_prep_resource(const char *in, char out[JID_PART_MAX + 1])
{
    if (in && prep_fast(in, strlen(in), FAST_RESOURCE, out) >= 0)
        return 0;
    return prep(in, stringprep_xmpp_resourceprep, out) < 0 ? -1 : 0;
}

/* "[v6]" literal (RFC 7622 §3.2 via RFC 3986 IP-literal).  Written in the
 * canonical form of RFC 5952 so that equal addresses compare equal. */
static int prep_ipv6_literal(const char *in, size_t n, char out[JID_PART_MAX + 1])
{
    char inner[INET6_ADDRSTRLEN + 1];
    struct in6_addr a;
    if (n < 3 || in[n - 1] != ']' || n - 2 >= sizeof(inner))
        return -1;
    memcpy(inner, in + 1, n - 2);
    inner[n - 2] = '\0';
    if (inet_pton(AF_INET6, inner, &a) != 1)
        return -1;
    char canon[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, &a, canon, sizeof(canon)))
        return -1;
    size_t m = strlen(canon);
    out[0] = '[';
    memcpy(out + 1, canon, m);
    out[m + 1] = ']';
    out[m + 2] = '\0';
    return 0;
}

int jid_prep_domain(const char *in, char out[JID_PART_MAX + 1])
{
    if (!in)
        return -1;
    size_t n = strlen(in);
    if (n > 0 && in[0] == '[')
        return prep_ipv6_literal(in, n, out);
    /* The common case, "example.org": ASCII LDH labels, no trailing dot
     * (that one and everything unusual take the full path below). */
    char fast[JID_PART_MAX + 1];
    if (prep_fast(in, n, FAST_NAME, fast) >= 0 && ldh_host(fast, n)) {
        memcpy(out, fast, n + 1);
        return 0;
    }
    char tmp[PREP_IN_MAX + 1];
    int m = prep_raw(in, stringprep_nameprep, tmp);
    if (m < 0)
        return -1;
    /* Nameprep keeps U+3002 IDEOGRAPHIC FULL STOP, which IDNA treats as a
     * label separator (RFC 3490 §3.1); map it to '.' so that both spellings
     * name the same domain.  (U+FF0E and U+FF61 were already folded to
     * '.' and U+3002 by NFKC.) */
    size_t w = 0;
    for (size_t r = 0; r < (size_t)m; ) {
        if ((size_t)m - r >= 3 && (unsigned char)tmp[r] == 0xe3 &&
            (unsigned char)tmp[r + 1] == 0x80 && (unsigned char)tmp[r + 2] == 0x82) {
            tmp[w++] = '.';
            r += 3;
        } else {
            tmp[w++] = tmp[r++];
        }
    }
    tmp[w] = '\0';
    /* §3.2: one trailing dot is dropped, and the size limit applies to
     * what is left. */
    if (w > 0 && tmp[w - 1] == '.')
        tmp[--w] = '\0';
    if (w == 0 || w > JID_PART_MAX)
        return -1;
    /* Every label must be non-empty; ToASCII below accepts "." alone. */
    if (tmp[0] == '.' || tmp[w - 1] == '.' || strstr(tmp, ".."))
        return -1;
    /* Nameprep lets through anything that is not a control or similar, so
     * apply the DNS label rules (STD 3 LDH, labels of at most 63 octets in
     * ACE form) through IDNA ToASCII; its output is only a verdict here,
     * the JID keeps the Unicode form.  Dotted-quad IPv4 literals pass as
     * ordinary labels. */
    char *ace = NULL;
    int rc = idna_to_ascii_8z(tmp, &ace, IDNA_USE_STD3_ASCII_RULES);
    free(ace);
    if (rc != IDNA_SUCCESS)
        return -1;
    memcpy(out, tmp, w + 1);
    /* Nameprep has already case-folded; ASCII lower-casing again is a
     * cheap guarantee of the contract. */
    for (size_t i = 0; i < w; i++) {
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
    }
    return 0;
}

/* Builds the single heap block from already prepared parts:
 * "local\0" "bare\0" "full\0".  The domain is the tail of the bare JID
 * and the resource the tail of the full one, so neither is stored twice
 * (a session keeps its JID for its lifetime; principle 4). */
static struct jid *build(const char *local, const char *domain, const char *resource)
{
    size_t ll = local ? strlen(local) : 0;
    size_t dl = strlen(domain);
    size_t rl = resource ? strlen(resource) : 0;
    size_t bare_len = (local ? ll + 1 : 0) + dl;
    size_t full_len = bare_len + (resource ? rl + 1 : 0);
    size_t size = sizeof(struct jid) + (local ? ll + 1 : 0) + (bare_len + 1) +
                  (full_len + 1);
    struct jid *j = pl_malloc(size);
    char *p = (char *)(j + 1);

    j->local = NULL;
    if (local) {
        memcpy(p, local, ll + 1);
        j->local = p;
        p += ll + 1;
    }
    char *bare = p;
    if (local) {
        memcpy(p, local, ll);
        p += ll;
        *p++ = '@';
    }
    memcpy(p, domain, dl + 1);
    j->domain = p;
    p += dl + 1;
    j->bare = bare;
    char *full = p;
    memcpy(p, bare, bare_len);
    p += bare_len;
    j->resource = NULL;
    if (resource) {
        *p++ = '/';
        memcpy(p, resource, rl);
        j->resource = p;
        p += rl;
    }
    *p = '\0';
    j->full = full;
    return j;
}

struct jid *jid_make(const char *local, const char *domain, const char *resource)
{
    char l[JID_PART_MAX + 1], d[JID_PART_MAX + 1], r[JID_PART_MAX + 1];
    if (local && jid_prep_local(local, l) < 0)
        return NULL;
    if (jid_prep_domain(domain, d) < 0)
        return NULL;
    if (resource && jid_prep_resource(resource, r) < 0)
        return NULL;
    return build(local ? l : NULL, d, resource ? r : NULL);
}

struct jid *jid_parse(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n == 0 || n > JID_IN_MAX)
        return NULL;
    /* RFC 7622 §3.1: the resource starts at the first '/', and the local
     * part ends at the first '@' before that; a separator present with an
     * empty part on either side makes the address invalid. */
    const char *slash = strchr(s, '/');
    size_t pre = slash ? (size_t)(slash - s) : n;
    const char *at = memchr(s, '@', pre);
    char *local = NULL, *domain, *resource = NULL;
    struct jid *j = NULL;

    if (at) {
        local = pl_strndup(s, (size_t)(at - s));
        domain = pl_strndup(at + 1, pre - (size_t)(at - s) - 1);
    } else {
        domain = pl_strndup(s, pre);
    }
    if (slash)
        resource = pl_strdup(slash + 1);
    /* Empty parts fail in the prep functions (length 0 is invalid). */
    j = jid_make(local, domain, resource);
    free(local);
    free(domain);
    free(resource);
    return j;
}

struct jid *jid_dup(const struct jid *j)
{
    return build(j->local, j->domain, j->resource);
}

struct jid *jid_bare(const struct jid *j)
{
    return build(j->local, j->domain, NULL);
}

void jid_free(struct jid *j)
{
    free(j);
}

bool jid_equal(const struct jid *a, const struct jid *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a->full, b->full) == 0;
}

bool jid_bare_equal(const struct jid *a, const struct jid *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a->bare, b->bare) == 0;
}
