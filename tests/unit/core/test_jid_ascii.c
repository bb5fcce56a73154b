/* test_jid_ascii.c - the ASCII fast paths of jid.c (issue 7) give exactly
 * the answer of the full paths: every ASCII character in several
 * positions is compared with references that call the full preparations
 * directly (PRECIS UsernameCaseMapped plus RFC 7622 §3.3.1, OpaqueString,
 * IDNA2008 lookup through libidn2), and with libidn's stringprep
 * (Nodeprep, Resourceprep, Nameprep + IDNA2003 ToASCII), the rules jid.c
 * applied before PRECIS: for ASCII nothing changed but A-labels (now
 * turned into U-labels, RFC 7622 §3.2.1) and other "xx--" labels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Both libidn2 (the new rules) and libidn (the old ones) are used. */
#define IDN2_SKIP_LIBIDN_COMPAT
#include <idn2.h>
#include <idna.h>
#include <stringprep.h>

#include "core/jid.h"
#include "core/precis.h"

/* The PRECIS full path of one part: 0 and the prepared text, or -1. */
static int ref_precis(const char *in, enum precis_profile p, bool local,
                      char out[JID_PART_MAX + 1])
{
    if (precis_enforce(p, in, strlen(in), out, JID_PART_MAX + 1) < 0)
        return -1;
    return local && strpbrk(out, "\"&'/:<>@") ? -1 : 0;
}

/* IDNA2008 lookup with the STD 3 rules, trailing dot dropped, back to
 * U-labels (short ASCII names only: no 255-octet DNS limit to avoid). */
static int ref_domain(const char *in, char out[JID_PART_MAX + 1])
{
    char tmp[256];
    size_t n = strlen(in);
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, in, n + 1);
    if (tmp[n - 1] == '.')
        tmp[--n] = '\0';
    if (n == 0 || tmp[0] == '.' || tmp[n - 1] == '.' || strstr(tmp, ".."))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = tmp[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return -1;
    }
    uint8_t *ace = NULL;
    char *u = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)tmp, &ace, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc == IDN2_OK)
        rc = idn2_to_unicode_8z8z((const char *)ace, &u, 0);
    if (rc == IDN2_OK)
        snprintf(out, JID_PART_MAX + 1, "%s", u);
    idn2_free(ace);
    idn2_free(u);
    return rc == IDN2_OK ? 0 : -1;
}

/* libidn's verdict on one part: 0 and the prepared text, or -1. */
static int old_prep(const char *in, const Stringprep_profile *p, char out[JID_PART_MAX + 1])
{
    char tmp[4 * (JID_PART_MAX + 1)];
    size_t n = strlen(in);
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, in, n + 1);
    if (stringprep(tmp, sizeof(tmp), 0, p) != STRINGPREP_OK)
        return -1;
    size_t m = strlen(tmp);
    if (m == 0 || m > JID_PART_MAX)
        return -1;
    memcpy(out, tmp, m + 1);
    return 0;
}

/* jid.c's old full domain path for ASCII: Nameprep, then IDNA2003
 * ToASCII with the STD 3 rules as the verdict.  ToASCII did not look at
 * hyphens in positions 3-4, and kept A-labels; names with such labels
 * are left out of this comparison. */
static int old_domain(const char *in, char out[JID_PART_MAX + 1])
{
    char tmp[JID_PART_MAX + 1];
    if (old_prep(in, stringprep_nameprep, tmp) < 0)
        return -1;
    size_t w = strlen(tmp);
    if (w > 0 && tmp[w - 1] == '.')
        tmp[--w] = '\0';
    if (w == 0 || tmp[0] == '.' || tmp[w - 1] == '.' || strstr(tmp, ".."))
        return -1;
    char *ace = NULL;
    int rc = idna_to_ascii_8z(tmp, &ace, IDNA_USE_STD3_ASCII_RULES);
    free(ace);
    if (rc != IDNA_SUCCESS)
        return -1;
    for (size_t i = 0; i < w; i++)
        if (tmp[i] >= 'A' && tmp[i] <= 'Z')
            tmp[i] = (char)(tmp[i] - 'A' + 'a');
    memcpy(out, tmp, w + 1);
    return 0;
}

static bool has_rldh_label(const char *s)
{
    for (const char *l = s; l; l = strchr(l, '.') ? strchr(l, '.') + 1 : NULL) {
        if (strlen(l) >= 4 && l[2] == '-' && l[3] == '-')
            return true;
    }
    return false;
}

static void expect_same(const char *what, const char *s, int g, const char *got,
                        int w, const char *want)
{
    if (g != w || (g == 0 && strcmp(got, want) != 0))
        fail_msg("%s '%s': fast path %d '%s', reference %d '%s'", what, s, g,
                 g ? "" : got, w, w ? "" : want);
}

static void check_one(const char *s)
{
    char got[JID_PART_MAX + 1], want[JID_PART_MAX + 1];
    int g = jid_prep_local(s, got);
    expect_same("localpart/PRECIS", s, g, got,
                ref_precis(s, PRECIS_USERNAME_CASEMAPPED, true, want), want);
    expect_same("localpart/Nodeprep", s, g, got,
                old_prep(s, stringprep_xmpp_nodeprep, want), want);
    g = jid_prep_resource(s, got);
    expect_same("resourcepart/PRECIS", s, g, got,
                ref_precis(s, PRECIS_OPAQUE_STRING, false, want), want);
    expect_same("resourcepart/Resourceprep", s, g, got,
                old_prep(s, stringprep_xmpp_resourceprep, want), want);
    g = jid_prep_domain(s, got);
    expect_same("domainpart/IDNA2008", s, g, got, ref_domain(s, want), want);
    if (!has_rldh_label(s))
        expect_same("domainpart/Nameprep", s, g, got, old_domain(s, want), want);
}

/* Every ASCII character alone, first, inside and last, in a label of a
 * dotted name, and next to a hyphen. */
static void every_ascii_char(void **state)
{
    (void)state;
    static const char *const patterns[] = {
        "#", "#x", "x#", "aB#c", "Ab#.Example", "ex.#y.org",
        "-#", "#-", "a.#", "x#.", "ab#-d.test",
    };
    for (int c = 1; c < 128; c++) {
        for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
            char s[32];
            snprintf(s, sizeof(s), "%s", patterns[p]);
            *strchr(s, '#') = (char)c;     /* '#' itself too: c == '#' */
            check_one(s);
        }
    }
}

/* Names at the edges of the fast paths' rules. */
static void edge_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "localhost", "Example.ORG", "a.b.c", "127.0.0.1", "1.2.3.4.5", "x--y.test",
        "xn--bcher-kva.ch", "XN--BCHER-KVA.CH", "ab--c", "a-b", "-ab", "ab-", "a..b",
        ".a", "a.", "a.b.", "under_score.test", "bench123", "a b", "Bench-User.42",
        /* 63 and 64 octet labels */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
        "a.b.c.d.e.f.g.h", "0", "0.0", "A-1.B-2", "a-.b", "a.-b", "z", "Z.", "~", "\\",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        check_one(names[i]);
}

/* The part length limit (RFC 7622 §3.2-3.4: 1023 octets) holds on the
 * fast paths too. */
static void length_limit(void **state)
{
    (void)state;
    char s[JID_PART_MAX + 2], out[JID_PART_MAX + 1];
    memset(s, 'a', JID_PART_MAX);
    s[JID_PART_MAX] = '\0';
    assert_int_equal(jid_prep_local(s, out), 0);
    assert_int_equal(jid_prep_resource(s, out), 0);
    s[JID_PART_MAX] = 'a';
    s[JID_PART_MAX + 1] = '\0';
    assert_int_equal(jid_prep_local(s, out), -1);
    assert_int_equal(jid_prep_resource(s, out), -1);
    assert_int_equal(jid_prep_domain(s, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_ascii_char),
        cmocka_unit_test(edge_names),
        cmocka_unit_test(length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
