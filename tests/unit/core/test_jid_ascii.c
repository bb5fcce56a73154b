/* test_jid_ascii.c - the ASCII fast paths of jid.c (issue 7) give exactly
 * libidn's answer: every ASCII character in several positions, through
 * Nodeprep, Resourceprep and Nameprep + IDNA ToASCII (STD 3 rules), is
 * compared with a reference that calls libidn directly, as jid.c did for
 * every part before the fast paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <idna.h>
#include <stringprep.h>

#include "core/jid.h"

/* libidn's verdict on one part: 0 and the prepared text, or -1. */
static int ref_prep(const char *in, const Stringprep_profile *p, char out[JID_PART_MAX + 1])
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

/* jid_prep_domain()'s full path for ASCII input (no U+3002 possible). */
static int ref_domain(const char *in, char out[JID_PART_MAX + 1])
{
    char tmp[JID_PART_MAX + 1];
    if (ref_prep(in, stringprep_nameprep, tmp) < 0)
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

static void check_one(const char *s)
{
    char got[JID_PART_MAX + 1], want[JID_PART_MAX + 1];
    int g = jid_prep_local(s, got), w = ref_prep(s, stringprep_xmpp_nodeprep, want);
    if (g != w || (g == 0 && strcmp(got, want) != 0))
        fail_msg("nodeprep '%s': got %d '%s', libidn %d '%s'", s, g, g ? "" : got, w,
                 w ? "" : want);
    g = jid_prep_resource(s, got);
    w = ref_prep(s, stringprep_xmpp_resourceprep, want);
    if (g != w || (g == 0 && strcmp(got, want) != 0))
        fail_msg("resourceprep '%s': got %d, libidn %d", s, g, w);
    g = jid_prep_domain(s, got);
    w = ref_domain(s, want);
    if (g != w || (g == 0 && strcmp(got, want) != 0))
        fail_msg("domain '%s': got %d '%s', reference %d '%s'", s, g, g ? "" : got, w,
                 w ? "" : want);
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
        "stra\xc3\x9f" "e", "caf\xc3\xa9.example",
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
