/*
 * jid.c - XMPP addresses: parsing, preparation and comparison (RFC 7622).
 *
 * Implements the split rules of RFC 7622 §3.1 (resource from the first '/',
 * local part up to the first '@' before it), the per-part size limit of
 * §3.2-3.4 (1-1023 bytes after preparation) and the preparation of each
 * part: localparts with the PRECIS UsernameCaseMapped profile plus the
 * excluded characters of §3.3.1, resourceparts with OpaqueString (both in
 * precis.c), domainparts with IDNA2008 through libidn2 (§3.2: UTS #46
 * non-transitional mapping, STD 3 label syntax, A-labels turned into
 * U-labels, IP literals, a single trailing dot removed).  Unassigned code
 * points are disallowed in all three parts, as PRECIS and IDNA2008
 * require (RFC 6122's stringprep profiles, used before, allowed them).
 */
#include "core/jid.h"
#include "core/precis.h"
#include "core/utf8.h"
#include "core/mem.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest raw part we even try to prepare.  Mapping can shrink a string
 * (fullwidth letters become ASCII, NFC composes), so the limit on input
 * is looser than JID_PART_MAX; it exists to bound the CPU and stack a
 * peer can make us spend. */
#define PREP_IN_MAX (4 * (JID_PART_MAX + 1) - 1)
/* A whole address: three raw parts and two separators. */
#define JID_IN_MAX (3 * PREP_IN_MAX + 2)

_Static_assert(PREP_IN_MAX <= PRECIS_IN_MAX, "precis_enforce() must take any part");

/*
 * ASCII fast paths (issue 7: every routed stanza prepares its 'to', and
 * the general preparation costs microseconds per part even for "alice").
 * For input made of ASCII alone the profiles reduce to a few rules, so
 * the result below is exactly that of the full paths: width mapping, NFC
 * and the Bidi Rule change or refuse no ASCII string (no ASCII character
 * is fullwidth, decomposes or is right-to-left), and what is left is
 *   UsernameCaseMapped  lower-casing; U+0021-007E are PVALID (ASCII7),
 *                       space is ID_DIS and controls are DISALLOWED
 *                       (RFC 8264 §9.11, §9.12, §9.14); RFC 7622 §3.3.1
 *                       excludes " & ' / : < > @ on top
 *   OpaqueString        no mapping of ASCII; space is FREE_PVAL, controls
 *                       DISALLOWED
 *   IDNA2008            UTS #46 lower-casing; STD 3 LDH labels
 * A fast path only ever accepts: anything it is not sure of (non-ASCII,
 * a prohibited character) goes to the full path, which gives the verdict.
 * tests/unit/core/test_jid_ascii.c checks every ASCII character against
 * the full paths (and against libidn's stringprep, the rules before).
 */
enum prep_fast { FAST_NODE, FAST_RESOURCE, FAST_NAME };

/* The prepared length of 'in' (n bytes, 1..JID_PART_MAX) into out, or -1
 * when the full path must decide. */
static int prep_fast(const char *in, size_t n, enum prep_fast kind,
                     char out[JID_PART_MAX + 1])
{
    if (n == 0 || n > JID_PART_MAX)
        return -1;
    /* Check all first: 'out' is left alone when the full path decides. */
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

/* A host name that IDNA2008 lookup surely accepts unchanged: labels of
 * 1-63 letters (lower case here), digits and inner hyphens, no "xx--"
 * label (A-labels and the reserved R-LDH labels are left to libidn2).
 * Anything else is not rejected here, only not fast. */
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

/* The full path of a PRECIS profile, with the 1..JID_PART_MAX limit. */
static int prep_precis(const char *in, enum precis_profile profile,
                       char out[JID_PART_MAX + 1])
{
    if (!in)
        return -1;
    size_t n = strlen(in);
    if (n == 0 || n > PREP_IN_MAX)
        return -1;
    return precis_enforce(profile, in, n, out, JID_PART_MAX + 1) < 0 ? -1 : 0;
}

int jid_prep_local(const char *in, char out[JID_PART_MAX + 1])
{
    if (in && prep_fast(in, strlen(in), FAST_NODE, out) >= 0)
        return 0;
    if (prep_precis(in, PRECIS_USERNAME_CASEMAPPED, out) < 0)
        return -1;
    /* RFC 7622 §3.3.1, checked on the enforced string so that a mapped
     * form (FULLWIDTH COMMERCIAL AT) is caught too. */
    return strpbrk(out, "\"&'/:<>@") ? -1 : 0;
}

int jid_prep_resource(const char *in, char out[JID_PART_MAX + 1])
{
    if (in && prep_fast(in, strlen(in), FAST_RESOURCE, out) >= 0)
        return 0;
    return prep_precis(in, PRECIS_OPAQUE_STRING, out);
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

/* The STD 3 rules (RFC 1123 §2.1) on the ASCII form: letters, digits,
 * hyphens and dots only.  libidn2 2.3's IDN2_USE_STD3_ASCII_RULES would
 * do this but silently drops some characters ("a b" -> "ab") instead of
 * refusing them, so the check is ours; hyphen placement and label length
 * are already libidn2's (UTS #46 CheckHyphens, IDNA2008 63 octets). */
static bool ace_ldh(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.'))
            return false;
    }
    return true;
}

/* One dot-free piece of a domain (usually a label; UTS #46 maps the
 * ideographic and fullwidth full stops into more) through IDNA2008
 * lookup: the UTS #46 non-transitional mapping (lower case, width, NFC:
 * the mapping RFC 7622 §3.2.2 asks for, RFC 5895) and the IDNA2008
 * validity rules (RFC 5891 §5.4: code points, hyphens, CONTEXTJ/O, Bidi),
 * then back to U-labels (§3.2.1).  It is done per piece, not on the whole
 * name, because libidn2 also applies DNS's 255-octet name limit, which
 * RFC 7622 does not (1023 octets).  Appends to out at *w; -1 on failure. */
static int idna_piece(const char *piece, char out[JID_PART_MAX + 1], size_t *w)
{
    /* The ASCII labels of a mixed name ("example" in "bücher.example")
     * need no library either: the fast path's rule, per label. */
    size_t n = strlen(piece);
    if (*w + n <= JID_PART_MAX && prep_fast(piece, n, FAST_NAME, out + *w) >= 0 &&
        ldh_host(out + *w, n)) {
        *w += n;
        return 0;
    }
    uint8_t *ace = NULL;
    char *u = NULL;
    int rc = -1;
    /* No IDN2_NFC_INPUT: UTS #46 processing ends with NFC itself. */
    if (idn2_lookup_u8((const uint8_t *)piece, &ace, IDN2_NONTRANSITIONAL) != IDN2_OK ||
        !ace_ldh((const char *)ace))
        goto done;
    /* Without an A-label the lookup result is already the U-form. */
    const char *res = (const char *)ace;
    if (strstr(res, "xn--")) {
        if (idn2_to_unicode_8z8z(res, &u, 0) != IDN2_OK)
            goto done;
        res = u;
    }
    size_t m = strlen(res);
    if (*w + m <= JID_PART_MAX) {
        memcpy(out + *w, res, m + 1);
        *w += m;
        rc = 0;
    }
done:
    idn2_free(ace);
    idn2_free(u);
    return rc;
}

/* The full domain path: each piece between ASCII dots through
 * idna_piece(), joined by dots. */
static int prep_idna(const char *in, size_t n, char out[JID_PART_MAX + 1])
{
    char tmp[PREP_IN_MAX + 1];
    memcpy(tmp, in, n + 1);
    /* §3.2: one trailing dot is dropped before anything else... */
    bool dropped = tmp[n - 1] == '.';
    if (dropped)
        tmp[n - 1] = '\0';
    size_t w = 0;
    out[0] = '\0';
    for (char *p = tmp; ; ) {
        char *dot = strchr(p, '.');
        if (dot)
            *dot = '\0';
        if (*p == '\0' || idna_piece(p, out, &w) < 0)
            return -1;                          /* "", "..", ".x" */
        if (!dot)
            break;
        if (w + 1 > JID_PART_MAX)
            return -1;
        out[w++] = '.';
        out[w] = '\0';
        p = dot + 1;
    }
    /* ...or, failing that, one that mapping made (a final U+3002), as
     * UTS #46 treats it as a label separator. */
    if (!dropped && w > 0 && out[w - 1] == '.')
        out[--w] = '\0';
    /* Every label non-empty, also those that mapped full stops made. */
    if (w == 0 || out[0] == '.' || out[w - 1] == '.' || strstr(out, ".."))
        return -1;
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
    if (n == 0 || n > PREP_IN_MAX || !utf8_valid(in, n))
        return -1;
    /* Dotted-quad IPv4 literals pass as ordinary labels. */
    return prep_idna(in, n, out);
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
    /* The parts are cut in a copy on the stack (one per stanza address
     * on the routing path: no allocation but the jid's own). */
    char copy[JID_IN_MAX + 1];
    memcpy(copy, s, n + 1);
    char *slash = strchr(copy, '/');
    size_t pre = slash ? (size_t)(slash - copy) : n;
    char *at = memchr(copy, '@', pre);
    char *local = NULL, *domain = copy, *resource = NULL;
    if (slash) {
        *slash = '\0';
        resource = slash + 1;
    }
    if (at) {
        *at = '\0';
        local = copy;
        domain = at + 1;
    }
    /* Empty parts fail in the prep functions (length 0 is invalid). */
    return jid_make(local, domain, resource);
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
