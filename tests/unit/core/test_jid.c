/* test_jid.c - JID parsing and preparation (RFC 7622 §3: PRECIS
 * UsernameCaseMapped and OpaqueString, IDNA2008), with the examples of
 * RFC 7622 §3.5. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/jid.h"

static const struct {
    const char *in;
    const char *local;      /* expected prepared parts; NULL = absent */
    const char *domain;
    const char *resource;
    const char *full;
    const char *bare;
} valid[] = {
    { "example.com", NULL, "example.com", NULL, "example.com", "example.com" },
    { "juliet@example.com", "juliet", "example.com", NULL,
      "juliet@example.com", "juliet@example.com" },
    { "juliet@example.com/foo", "juliet", "example.com", "foo",
      "juliet@example.com/foo", "juliet@example.com" },
    /* Case folding: local and domain fold, the resource keeps its case. */
    { "Juliet@Example.COM/Balcony", "juliet", "example.com", "Balcony",
      "juliet@example.com/Balcony", "juliet@example.com" },
    /* §3.1: resource from the first '/', '@' only counts before it. */
    { "example.com/foo@bar", NULL, "example.com", "foo@bar",
      "example.com/foo@bar", "example.com" },
    { "juliet@example.com/foo/bar@baz", "juliet", "example.com", "foo/bar@baz",
      "juliet@example.com/foo/bar@baz", "juliet@example.com" },
    { "a@b/ spaced  res ", "a", "b", " spaced  res ", "a@b/ spaced  res ", "a@b" },
    /* §3.2: one trailing dot removed. */
    { "juliet@example.com.", "juliet", "example.com", NULL,
      "juliet@example.com", "juliet@example.com" },
    { "example.com./r", NULL, "example.com", "r", "example.com/r", "example.com" },
    /* IP literals. */
    { "[::1]", NULL, "[::1]", NULL, "[::1]", "[::1]" },
    { "u@[0:0::0:1]/r", "u", "[::1]", "r", "u@[::1]/r", "u@[::1]" },
    { "u@[2001:DB8::1]", "u", "[2001:db8::1]", NULL, "u@[2001:db8::1]", "u@[2001:db8::1]" },
    { "u@127.0.0.1/r", "u", "127.0.0.1", "r", "u@127.0.0.1/r", "u@127.0.0.1" },
    /* Unicode: UsernameCaseMapped lower-cases, width-maps and applies NFC,
     * but keeps U+00DF (an IDNA2008/PRECIS exception, PVALID). */
    { "Stra\xc3\x9f" "e@example.com", "stra\xc3\x9f" "e", "example.com", NULL,
      "stra\xc3\x9f" "e@example.com", "stra\xc3\x9f" "e@example.com" },
    { "\xc3\x89LOISE@example.com", "\xc3\xa9loise", "example.com", NULL,
      "\xc3\xa9loise@example.com", "\xc3\xa9loise@example.com" },
    { "E\xcc\x81loise@example.com", "\xc3\xa9loise", "example.com", NULL,  /* NFC */
      "\xc3\xa9loise@example.com", "\xc3\xa9loise@example.com" },
    { "\xef\xbc\xa2ob@example.com", "bob", "example.com", NULL,  /* U+FF22 FULLWIDTH B */
      "bob@example.com", "bob@example.com" },
    /* OpaqueString: no case or width mapping, no NFKC; NFC only. */
    { "a@b/\xe2\x85\xa0X", "a", "b", "\xe2\x85\xa0X", "a@b/\xe2\x85\xa0X", "a@b" },
    { "a@b/\xef\xbc\xa2", "a", "b", "\xef\xbc\xa2", "a@b/\xef\xbc\xa2", "a@b" },
    { "a@b/x\xe3\x80\x80y", "a", "b", "x y", "a@b/x y", "a@b" },  /* U+3000 -> space */
    /* RFC 7622 §3.5.1, Table 1 (examples 1-2, 4, 13-15 are above). */
    { "juliet@example.com/foo bar", "juliet", "example.com", "foo bar",
      "juliet@example.com/foo bar", "juliet@example.com" },                  /* 3 */
    { "foo\\20bar@example.com", "foo\\20bar", "example.com", NULL,
      "foo\\20bar@example.com", "foo\\20bar@example.com" },                 /* 5 */
    { "fussball@example.com", "fussball", "example.com", NULL,
      "fussball@example.com", "fussball@example.com" },                      /* 6 */
    { "fu\xc3\x9f" "ball@example.com", "fu\xc3\x9f" "ball", "example.com", NULL,
      "fu\xc3\x9f" "ball@example.com", "fu\xc3\x9f" "ball@example.com" },   /* 7 */
    { "\xcf\x80@example.com", "\xcf\x80", "example.com", NULL,
      "\xcf\x80@example.com", "\xcf\x80@example.com" },                     /* 8 */
    { "\xce\xa3@example.com/foo", "\xcf\x83", "example.com", "foo",
      "\xcf\x83@example.com/foo", "\xcf\x83@example.com" },                 /* 9 */
    { "\xcf\x83@example.com/foo", "\xcf\x83", "example.com", "foo",
      "\xcf\x83@example.com/foo", "\xcf\x83@example.com" },                 /* 10 */
    { "\xcf\x82@example.com/foo", "\xcf\x82", "example.com", "foo",
      "\xcf\x82@example.com/foo", "\xcf\x82@example.com" },                 /* 11 */
    { "king@example.com/\xe2\x99\x9a", "king", "example.com", "\xe2\x99\x9a",
      "king@example.com/\xe2\x99\x9a", "king@example.com" },                 /* 12 */
    { "example.com/foobar", NULL, "example.com", "foobar",
      "example.com/foobar", "example.com" },                                 /* 14 */
    { "a.example.com/b@example.net", NULL, "a.example.com", "b@example.net",
      "a.example.com/b@example.net", "a.example.com" },                      /* 15 */
    /* Example 18 of Table 2 ("juliet@example.com/ foo") contradicts the
     * normative OpaqueString profile, which allows a leading space (RFC
     * 8265 §4.2 has no such rule); the profile wins. */
    { "juliet@example.com/ foo", "juliet", "example.com", " foo",
      "juliet@example.com/ foo", "juliet@example.com" },
    /* Final sigma is not special in PRECIS (RFC 7622 §3.5, 9-11): a
     * capital sigma at the end maps to U+03C3, not U+03C2. */
    { "\xce\x9f\xce\xa3@example.com", "\xce\xbf\xcf\x83", "example.com", NULL,
      "\xce\xbf\xcf\x83@example.com", "\xce\xbf\xcf\x83@example.com" },
    /* IDN domains stay in Unicode, folded. */
    { "B\xc3\x9c" "CHER.example", NULL, "b\xc3\xbc" "cher.example", NULL,
      "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example" },
    /* A-labels become U-labels (RFC 7622 §3.2.1), so both spellings are
     * one domain. */
    { "a@xn--bcher-kva.ch", "a", "b\xc3\xbc" "cher.ch", NULL,
      "a@b\xc3\xbc" "cher.ch", "a@b\xc3\xbc" "cher.ch" },
    { "a@XN--BCHER-KVA.CH", "a", "b\xc3\xbc" "cher.ch", NULL,
      "a@b\xc3\xbc" "cher.ch", "a@b\xc3\xbc" "cher.ch" },
    /* UTS #46 maps width and case; U+00DF stays (non-transitional). */
    { "\xef\xbc\xa5xample.ORG", NULL, "example.org", NULL, "example.org", "example.org" },
    { "fa\xc3\x9f.de", NULL, "fa\xc3\x9f.de", NULL, "fa\xc3\x9f.de", "fa\xc3\x9f.de" },
    /* U+3002 ideographic full stop separates labels. */
    { "a@example\xe3\x80\x82" "com", "a", "example.com", NULL,
      "a@example.com", "a@example.com" },
    { "a-b.c_d@sub-domain.example/x", "a-b.c_d", "sub-domain.example", "x",
      "a-b.c_d@sub-domain.example/x", "a-b.c_d@sub-domain.example" },
};

static void parses_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        struct jid *j = jid_parse(valid[i].in);
        if (!j)
            fail_msg("rejected valid JID #%zu '%s'", i, valid[i].in);
        if (valid[i].local)
            assert_string_equal(j->local, valid[i].local);
        else
            assert_null(j->local);
        assert_string_equal(j->domain, valid[i].domain);
        if (valid[i].resource)
            assert_string_equal(j->resource, valid[i].resource);
        else
            assert_null(j->resource);
        assert_string_equal(j->full, valid[i].full);
        assert_string_equal(j->bare, valid[i].bare);
        /* One heap block: every string lives right after the struct. */
        const char *lo = (const char *)(j + 1);
        const char *hi = lo + 6 * strlen(valid[i].full) + 16;
        assert_true(j->domain >= lo && j->domain < hi);
        assert_true(j->full >= lo && j->full < hi);
        assert_true(j->bare >= lo && j->bare < hi);
        jid_free(j);
    }
}

static const char *const invalid[] = {
    "",
    "@",
    "/",
    "@d",                       /* empty local with '@' */
    "l@",                       /* empty domain */
    "d/",                       /* empty resource with '/' */
    "/r",
    "l@/r",
    "@d/r",
    "l@d/",
    "a@b@c",                    /* '@' in the domain */
    "a b@c",                    /* Nodeprep prohibits space... */
    "a&b@c",                    /* ...and " & ' / : < > @ */
    "a'b@c",
    "a:b@c",
    "a<b@c",
    "a>b@c",
    "a\"b@c",
    "a\x01" "b@c",              /* ASCII control */
    "a@b/c\x7f",                /* control in the resource */
    "example com",              /* domain label syntax */
    "a@exa<mple.com",
    "a@exa:mple.com",
    "a@exa_mple.com",
    "a@-example.com",
    "a@.",
    "a@..",
    "a@example..com",
    "a@.example.com",
    "a@example.com..",
    "a@[::1",
    "a@[zz::1]",
    "a@[::1]x",
    "a@[]",
    "a@[127.0.0.1]",            /* brackets are for IPv6 only */
    "\xff@example.com",         /* bad UTF-8 */
    "a@\xc3",
    "a@b/\xc0\xaf",             /* overlong '/' */
    "\xed\xa0\x80@example.com", /* UTF-16 surrogate */
    "a@b/\xf4\x90\x80\x80",     /* above U+10FFFF */
    "a@xn--.com",
    "\xc2\xad@example.com",     /* default ignorable: disallowed */
    "x\xc2\xad" "y@example.com",
    "\xe2\x85\xa0@example.com", /* U+2160: has a compatibility mapping */
    "a@b/\xe2\x80\x8b",          /* U+200B: default ignorable */
    "a@b/x\xcd\xb8",              /* U+0378: unassigned */
    "\xcd\xb8@example.com",
    "a@ex\xcd\xb8.com",
    "a@ab--c.example",          /* "--" in positions 3-4 (UTS #46) */
    "a@exa\xef\xbc\xbfmple.com", /* FULLWIDTH LOW LINE maps to '_' */
    "a@exa\xe2\x80\x80mple.com", /* EN QUAD maps to space */
    "\xef\xbc\xa0x@example.com", /* FULLWIDTH COMMERCIAL AT maps to '@' */
    /* RFC 7622 §3.5.2, Table 2 (18: see the valid table). */
    "\"juliet\"@example.com",   /* 16 */
    "foo bar@example.com",      /* 17 */
    "@example.com/",            /* 19 */
    "henry\xe2\x85\xa3@example.com", /* 20 ROMAN NUMERAL FOUR */
    "\xe2\x99\x9a@example.com", /* 21 BLACK CHESS KING */
    "juliet@",                  /* 22 */
    "/foobar",                  /* 23 */
};

static void rejects_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct jid *j = jid_parse(invalid[i]);
        if (j) {
            fail_msg("accepted invalid JID #%zu '%s' as '%s'", i, invalid[i], j->full);
        }
    }
    assert_null(jid_parse(NULL));
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A domain of exactly n bytes (n > 1000) made of valid DNS labels. */
static char *long_domain(size_t n)
{
    char *s = malloc(n + 1);
    size_t o = 0;
    for (int k = 0; k < 20; k++) {
        memset(s + o, 'a', 49);
        o += 49;
        s[o++] = '.';
    }
    memset(s + o, 'b', n - o);
    s[n] = '\0';
    return s;
}

static void length_limits(void **state)
{
    (void)state;
    char buf[4200];
    char *l1023 = repeat('x', 1023), *l1024 = repeat('x', 1024);
    char *d1023 = long_domain(1023), *d1024 = long_domain(1024);
    struct jid *j;

    snprintf(buf, sizeof(buf), "%s@example.com", l1023);
    j = jid_parse(buf);
    assert_non_null(j);
    assert_int_equal(strlen(j->local), 1023);
    jid_free(j);
    snprintf(buf, sizeof(buf), "%s@example.com", l1024);
    assert_null(jid_parse(buf));

    snprintf(buf, sizeof(buf), "a@example.com/%s", l1023);
    j = jid_parse(buf);
    assert_non_null(j);
    assert_int_equal(strlen(j->resource), 1023);
    jid_free(j);
    snprintf(buf, sizeof(buf), "a@example.com/%s", l1024);
    assert_null(jid_parse(buf));

    j = jid_parse(d1023);
    assert_non_null(j);
    assert_int_equal(strlen(j->domain), 1023);
    jid_free(j);
    assert_null(jid_parse(d1024));
    /* The limit applies after the trailing dot is removed. */
    snprintf(buf, sizeof(buf), "%s.", d1023);
    j = jid_parse(buf);
    assert_non_null(j);
    assert_int_equal(strlen(j->domain), 1023);
    jid_free(j);

    /* The limit is on the prepared form: U+FF41 FULLWIDTH a (3 bytes)
     * width-maps to "a" (1 byte), so 400 of them (1200 bytes raw) are
     * fine, while U+0130 (2 bytes) lower-cases to "i" U+0307 (3 bytes),
     * so 342 of them (684 raw) are too long. */
    char *p = buf;
    for (int k = 0; k < 400; k++) {
        memcpy(p, "\xef\xbd\x81", 3);
        p += 3;
    }
    memcpy(p, "@example.com", sizeof("@example.com"));
    j = jid_parse(buf);
    assert_non_null(j);
    assert_int_equal(strlen(j->local), 400);
    jid_free(j);
    p = buf;
    for (int k = 0; k < 341; k++) {         /* 1023 bytes prepared */
        memcpy(p, "\xc4\xb0", 2);
        p += 2;
    }
    memcpy(p, "@example.com", sizeof("@example.com"));
    j = jid_parse(buf);
    assert_non_null(j);
    assert_int_equal(strlen(j->local), 1023);
    jid_free(j);
    p = buf;
    for (int k = 0; k < 342; k++) {         /* 1026 bytes prepared */
        memcpy(p, "\xc4\xb0", 2);
        p += 2;
    }
    memcpy(p, "@example.com", sizeof("@example.com"));
    assert_null(jid_parse(buf));

    /* Very long input is refused without preparing it. */
    char *huge = repeat('a', 100000);
    assert_null(jid_parse(huge));
    free(huge);

    free(l1023);
    free(l1024);
    free(d1023);
    free(d1024);
}

static void prep_parts(void **state)
{
    (void)state;
    char out[JID_PART_MAX + 1];
    assert_int_equal(jid_prep_local("Romeo", out), 0);
    assert_string_equal(out, "romeo");
    assert_int_equal(jid_prep_local("ro meo", out), -1);
    assert_int_equal(jid_prep_local("", out), -1);
    assert_int_equal(jid_prep_local(NULL, out), -1);
    assert_int_equal(jid_prep_domain("EXAMPLE.org.", out), 0);
    assert_string_equal(out, "example.org");
    assert_int_equal(jid_prep_domain("exa mple.org", out), -1);
    assert_int_equal(jid_prep_domain("a@b", out), -1);
    assert_int_equal(jid_prep_domain("a/b", out), -1);
    assert_int_equal(jid_prep_domain("[::FFFF:1.2.3.4]", out), 0);
    assert_string_equal(out, "[::ffff:1.2.3.4]");
    assert_int_equal(jid_prep_resource("Orchard", out), 0);
    assert_string_equal(out, "Orchard");
    assert_int_equal(jid_prep_resource("a\xc3", out), -1);
}

static void make_dup_bare_equal(void **state)
{
    (void)state;
    struct jid *a = jid_make("Juliet", "Example.COM", "Balcony");
    assert_non_null(a);
    assert_string_equal(a->full, "juliet@example.com/Balcony");
    struct jid *b = jid_parse("juliet@example.com./Balcony");
    struct jid *c = jid_parse("JULIET@example.com/balcony");
    assert_true(jid_equal(a, b));
    assert_false(jid_equal(a, c));          /* resource case matters */
    assert_true(jid_bare_equal(a, c));

    struct jid *d = jid_dup(a);
    assert_true(d != a);
    assert_true(jid_equal(a, d));
    assert_string_equal(d->resource, "Balcony");
    struct jid *e = jid_bare(a);
    assert_null(e->resource);
    assert_string_equal(e->full, "juliet@example.com");
    assert_string_equal(e->bare, "juliet@example.com");
    assert_false(jid_equal(a, e));
    assert_true(jid_bare_equal(a, e));

    struct jid *f = jid_make(NULL, "example.com", NULL);
    assert_non_null(f);
    assert_string_equal(f->full, "example.com");
    assert_false(jid_bare_equal(e, f));
    assert_null(jid_make("", "example.com", NULL));
    assert_null(jid_make("a", "example.com", ""));
    assert_null(jid_make("a", NULL, NULL));
    assert_null(jid_make("a@b", "example.com", NULL));

    jid_free(a);
    jid_free(b);
    jid_free(c);
    jid_free(d);
    jid_free(e);
    jid_free(f);
    jid_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_valid),
        cmocka_unit_test(rejects_invalid),
        cmocka_unit_test(length_limits),
        cmocka_unit_test(prep_parts),
        cmocka_unit_test(make_dup_bare_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
