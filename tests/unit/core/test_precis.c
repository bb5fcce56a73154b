/* test_precis.c - the PRECIS derived property (RFC 8264 §8), the context
 * rules (RFC 5892 Appendix A), the Bidi Rule (RFC 5893) and the
 * UsernameCaseMapped and OpaqueString profiles (RFC 8265). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/precis.h"

static const struct {
    uint32_t cp;
    enum precis_prop prop;
} props[] = {
    { 'a', PRECIS_PVALID },             /* ASCII7 */
    { '~', PRECIS_PVALID },
    { ' ', PRECIS_ID_DIS },             /* Spaces */
    { 0x00, PRECIS_DISALLOWED },        /* Controls */
    { 0x7F, PRECIS_DISALLOWED },
    { 0x00DF, PRECIS_PVALID },          /* Exceptions: PVALID */
    { 0x03C2, PRECIS_PVALID },
    { 0x0640, PRECIS_DISALLOWED },      /* Exceptions: DISALLOWED */
    { 0x3031, PRECIS_DISALLOWED },
    { 0x00B7, PRECIS_CONTEXTO },        /* Exceptions: CONTEXTO */
    { 0x0663, PRECIS_CONTEXTO },
    { 0x06F3, PRECIS_CONTEXTO },
    { 0x200C, PRECIS_CONTEXTJ },        /* JoinControl */
    { 0x200D, PRECIS_CONTEXTJ },
    { 0x0378, PRECIS_UNASSIGNED },      /* Unassigned */
    { 0xE0080, PRECIS_UNASSIGNED },
    { 0xFDD0, PRECIS_DISALLOWED },      /* noncharacters are not "Unassigned" */
    { 0xFFFF, PRECIS_DISALLOWED },
    { 0x10FFFF, PRECIS_DISALLOWED },
    { 0x1100, PRECIS_DISALLOWED },      /* OldHangulJamo */
    { 0xD7FB, PRECIS_DISALLOWED },
    { 0xAC00, PRECIS_PVALID },          /* a Hangul syllable: NFKC-stable */
    { 0x00AD, PRECIS_DISALLOWED },      /* Default_Ignorable_Code_Point */
    { 0x200B, PRECIS_DISALLOWED },
    { 0x2163, PRECIS_ID_DIS },          /* HasCompat: ROMAN NUMERAL FOUR */
    { 0xFF21, PRECIS_ID_DIS },          /* FULLWIDTH A */
    { 0x212B, PRECIS_ID_DIS },          /* ANGSTROM SIGN: canonical singleton */
    { 0x0958, PRECIS_ID_DIS },          /* composition exclusion */
    { 0x00E9, PRECIS_PVALID },          /* canonical, but NFC restores it */
    { 0x03C0, PRECIS_PVALID },          /* LetterDigits */
    { 0x0301, PRECIS_PVALID },          /* Mn */
    { 0x265A, PRECIS_ID_DIS },          /* Symbols */
    { 0x2014, PRECIS_ID_DIS },          /* Punctuation */
    { 0x2070, PRECIS_ID_DIS },          /* SUPERSCRIPT ZERO: HasCompat */
    { 0x16EE, PRECIS_ID_DIS },          /* RUNIC ARLAUG SYMBOL: Nl */
    { 0xE000, PRECIS_DISALLOWED },      /* private use: none of the above */
    { 0x2028, PRECIS_DISALLOWED },      /* LINE SEPARATOR (Zl) */
};

static void derived_property(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        enum precis_prop p = precis_property(props[i].cp);
        if (p != props[i].prop)
            fail_msg("U+%04X: property %d, expected %d", (unsigned)props[i].cp,
                     (int)p, (int)props[i].prop);
    }
}

#define U PRECIS_USERNAME_CASEMAPPED
#define O PRECIS_OPAQUE_STRING

static const struct {
    enum precis_profile profile;
    const char *in;
    const char *out;            /* NULL: rejected */
} cases[] = {
    /* RFC 8265 §3.6 (userparts) and §4.3 (passwords). */
    { U, "juliet@example.com", "juliet@example.com" },              /* 1 */
    { U, "fu\xc3\x9f" "ball", "fu\xc3\x9f" "ball" },                /* 3 */
    { U, "\xcf\x80", "\xcf\x80" },                                /* 4 */
    { U, "\xce\xa3", "\xcf\x83" },                                /* 5 */
    { U, "\xcf\x82", "\xcf\x82" },                                /* 7 */
    { U, "foo bar", NULL },                                         /* 8 */
    { U, "henry\xe2\x85\xa3", NULL },                             /* 10 */
    { U, "\xe2\x88\x9e", NULL },                                  /* 11 */
    { O, "Correct Horse Battery Staple", "Correct Horse Battery Staple" },  /* 13 */
    { O, "\xcf\x80\xc3\x9f\xc3\xa5", "\xcf\x80\xc3\x9f\xc3\xa5" },   /* 14 */
    { O, "Jack of \xe2\x99\xa6s", "Jack of \xe2\x99\xa6s" },        /* 15 */
    { O, "foo\xe1\x9a\x80" "bar", "foo bar" },                     /* 16 */
    { O, "", NULL },                                                /* 17 */
    { O, "my cat is a \tby", NULL },                                /* 18 */
    /* Case mapping (toLowerCase, no Final_Sigma, no tailoring). */
    { U, "HeLLo", "hello" },
    { O, "HeLLo", "HeLLo" },
    { U, "\xce\xa3\xce\xa3", "\xcf\x83\xcf\x83" },
    { U, "\xc4\xb0", "i\xcc\x87" },                 /* U+0130 -> i U+0307 */
    { U, "\xe2\x84\xa6", "\xcf\x89" },              /* OHM SIGN: case-mapped first */
    { U, "\xc8\xba", "\xe2\xb1\xa5" },              /* U+023A -> U+2C65: 2 -> 3 bytes */
    /* Width mapping: fullwidth to ASCII, halfwidth katakana to katakana. */
    { U, "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", "abc" },
    { U, "\xef\xbd\xb1", "\xe3\x82\xa2" },          /* U+FF71 -> U+30A2 */
    { O, "\xef\xbc\xa1", "\xef\xbc\xa1" },          /* OpaqueString: not mapped */
    /* NFC, not NFKC. */
    { U, "e\xcc\x81", "\xc3\xa9" },
    { O, "e\xcc\x81", "\xc3\xa9" },
    { O, "\xe2\x85\xa3", "\xe2\x85\xa3" },
    { U, "\xe2\x85\xa3", NULL },
    /* Additional mapping of OpaqueString: non-ASCII spaces to U+0020. */
    { O, "a\xc2\xa0" "b", "a b" },
    { O, "a\xe3\x80\x80" "b", "a b" },
    { U, "a b", NULL },
    { U, "a\xc2\xa0" "b", NULL },
    /* Symbols: FreeformClass only. */
    { U, "\xe2\x99\x9a", NULL },
    { O, "\xe2\x99\x9a", "\xe2\x99\x9a" },
    { O, "I \xe2\x99\xa5 XMPP", "I \xe2\x99\xa5 XMPP" },
    /* Controls, ignorables, unassigned: neither class. */
    { O, "a\tb", NULL },
    { O, "a\xc2\xad" "b", NULL },
    { O, "a\xcd\xb8", NULL },
    { U, "", NULL },
    { O, "\xc3", NULL },                            /* bad UTF-8 */
    /* Bidi Rule (UsernameCaseMapped only). */
    { U, "\xd7\x90\xd7\x91", "\xd7\x90\xd7\x91" },  /* R R */
    { U, "\xd7\x90" "1", "\xd7\x90" "1" },          /* R EN: ends with EN */
    { U, "1\xd7\x90", NULL },                       /* 1: starts with EN */
    { U, "\xd7\x90" "a", NULL },                    /* 2: L in an RTL string */
    { U, "a\xd7\x90", NULL },                       /* 5: R in an LTR string */
    { U, "\xd8\xa8" "1\xd9\xa1", NULL },            /* 4: EN and AN together */
    { U, "\xd7\x90-", NULL },                       /* 3: ends with ES */
    { U, "abc1", "abc1" },                          /* no RTL: not checked */
    { O, "a\xd7\x90", "a\xd7\x90" },                /* OpaqueString: none */
    /* CONTEXTJ (RFC 5892 A.1, A.2). */
    { U, "\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7",   /* KA VIRAMA ZWJ SSA */
      "\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7" },
    { U, "a\xe2\x80\x8d" "b", NULL },               /* ZWJ without a virama */
    { O, "\xe2\x80\x8d", NULL },
    { U, "\xd8\xa8\xe2\x80\x8c\xd8\xa8", "\xd8\xa8\xe2\x80\x8c\xd8\xa8" },  /* BEH ZWNJ BEH */
    { U, "\xd8\xa8\xd9\x8e\xe2\x80\x8c\xd8\xa8",   /* BEH FATHA(T) ZWNJ BEH */
      "\xd8\xa8\xd9\x8e\xe2\x80\x8c\xd8\xa8" },
    { U, "\xd8\xa7\xe2\x80\x8c\xd8\xa8", NULL },    /* ALEF is R-joining only */
    { U, "a\xe2\x80\x8c" "b", NULL },
    /* CONTEXTO (A.3-A.9). */
    { U, "l\xc2\xb7l", "l\xc2\xb7l" },
    { U, "a\xc2\xb7" "b", NULL },
    { U, "\xcd\xb5\xce\xb1", "\xcd\xb5\xce\xb1" },  /* KERAIA alpha */
    { U, "\xcd\xb5" "a", NULL },
    { U, "\xd7\x90\xd7\xb3", "\xd7\x90\xd7\xb3" },  /* ALEF GERESH */
    { U, "a\xd7\xb3", NULL },
    { U, "\xe3\x82\xa2\xe3\x83\xbb\xe3\x82\xa2", "\xe3\x82\xa2\xe3\x83\xbb\xe3\x82\xa2" },
    { U, "a\xe3\x83\xbb" "b", NULL },
    { O, "\xd9\xa1\xd9\xa2", "\xd9\xa1\xd9\xa2" },  /* Arabic-Indic 1 2 */
    { O, "\xd9\xa1\xdb\xb2", NULL },                /* mixed with extended */
    { O, "\xdb\xb1\xdb\xb2", "\xdb\xb1\xdb\xb2" },
};

static void profiles(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        int n = precis_enforce(cases[i].profile, cases[i].in, strlen(cases[i].in),
                               out, sizeof(out));
        const char *want = cases[i].out;
        if (!want && n >= 0)
            fail_msg("#%zu '%s': accepted as '%s'", i, cases[i].in, out);
        if (want && (n < 0 || strcmp(out, want) != 0 || (size_t)n != strlen(want)))
            fail_msg("#%zu '%s': got %d '%s', expected '%s'", i, cases[i].in, n,
                     n < 0 ? "" : out, want);
    }
}

/* The result must fit in cap-1 bytes; the input is bounded. */
static void limits(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(precis_enforce(U, "abc", 3, out, sizeof(out)), 3);
    assert_int_equal(precis_enforce(U, "abcd", 4, out, sizeof(out)), -1);
    /* U+0130 grows to three bytes: two of them need six. */
    assert_int_equal(precis_enforce(U, "\xc4\xb0\xc4\xb0", 4, out, sizeof(out)), -1);
    assert_int_equal(precis_enforce(U, NULL, 0, out, sizeof(out)), -1);
    static char big[PRECIS_IN_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    static char res[2 * PRECIS_IN_MAX];
    assert_int_equal(precis_enforce(O, big, PRECIS_IN_MAX, res, sizeof(res)), PRECIS_IN_MAX);
    assert_int_equal(precis_enforce(O, big, PRECIS_IN_MAX + 1, res, sizeof(res)), -1);
    /* The worst growth of the mapping (all U+0130, 2 -> 3 bytes). */
    for (size_t i = 0; i + 1 < PRECIS_IN_MAX; i += 2)
        memcpy(big + i, "\xc4\xb0", 2);
    assert_int_equal(precis_enforce(U, big, PRECIS_IN_MAX - 1, res, sizeof(res)),
                     3 * (PRECIS_IN_MAX - 1) / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(derived_property),
        cmocka_unit_test(profiles),
        cmocka_unit_test(limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
