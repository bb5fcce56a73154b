/*
 * test_acl.c - access control (src/core/acl.c) and the 'acl' /
 * 'access_rules' sections of parley.yml (src/core/conf.c): CIDR parsing and
 * matching for IPv4, IPv6 and IPv4-mapped addresses, user/server entries,
 * first-match-wins evaluation, unknown rules denying, and every load-time
 * error with its exact "file:line:col: message".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/acl.h"
#include "core/buf.h"
#include "core/conf.h"
#include "core/mem.h"

/* --- CIDR ----------------------------------------------------------------- */

static void test_cidr_match(void **state)
{
    (void)state;
    static const struct {
        const char *net, *ip;
        bool match;
    } cases[] = {
        { "10.0.0.0/8", "10.1.2.3", true },
        { "10.0.0.0/8", "11.0.0.1", false },
        { "192.168.1.0/24", "192.168.1.255", true },
        { "192.168.1.0/24", "192.168.2.0", false },
        { "192.168.1.128/25", "192.168.1.127", false },
        { "192.168.1.128/25", "192.168.1.200", true },
        { "0.0.0.0/0", "203.0.113.9", true },
        { "127.0.0.1", "127.0.0.1", true },         /* bare address: /32 */
        { "127.0.0.1", "127.0.0.2", false },
        { "::1/128", "::1", true },
        { "::1", "::2", false },
        { "2001:db8::/32", "2001:db8:ffff::1", true },
        { "2001:db8::/32", "2001:db9::1", false },
        { "2001:db8::/33", "2001:db8:8000::1", false },   /* odd bit boundary */
        { "2001:db8::/33", "2001:db8:7fff::1", true },
        { "::/0", "fe80::1", true },
        { "::/0", "10.0.0.1", true },               /* matched as ::ffff:10.0.0.1 */
        { "10.0.0.0/8", "::ffff:10.9.9.9", true },  /* IPv4-mapped client */
        { "10.0.0.0/8", "::ffff:11.9.9.9", false },
        { "10.0.0.0/8", "::10.9.9.9", false },      /* not mapped: IPv6 */
        { "::ffff:0:0/96", "1.2.3.4", true },
        { "10.0.0.0/8", "not-an-ip", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct acl_net net;
        const char *why = NULL;
        assert_int_equal(acl_parse_cidr(cases[i].net, &net, &why), 0);
        if (acl_net_match(&net, cases[i].ip) != cases[i].match)
            fail_msg("%s against %s: expected %s", cases[i].ip, cases[i].net,
                     cases[i].match ? "match" : "no match");
    }
}

static void test_cidr_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        { "10.0.0.0/33", "prefix length must be 0..32 for IPv4" },
        { "::/129", "prefix length must be 0..128 for IPv6" },
        { "10.0.0.1/8", "host bits are set after the prefix (write the network address)" },
        { "2001:db8::1/32", "host bits are set after the prefix (write the network address)" },
        { "10.0.0.0/", "expected a prefix length after '/'" },
        { "10.0.0.0/-1", "expected a prefix length after '/'" },
        { "10.0.0.0/8x", "expected a prefix length after '/'" },
        { "10.0.0/8", "expected an IPv4 or IPv6 address or CIDR range such as 10.0.0.0/8 or ::1/128" },
        { "example.org", "expected an IPv4 or IPv6 address or CIDR range such as 10.0.0.0/8 or ::1/128" },
        { "", "expected an IPv4 or IPv6 address or CIDR range such as 10.0.0.0/8 or ::1/128" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct acl_net net;
        const char *why = NULL;
        if (acl_parse_cidr(cases[i].text, &net, &why) != -1)
            fail_msg("'%s' was accepted", cases[i].text);
        assert_string_equal(why, cases[i].why);
    }
}

/* --- loading and evaluating ----------------------------------------------- */

struct fixture {
    char dir[PATH_MAX];
    char file[PATH_MAX + 16];
    struct buf err;
};

static int setup(void **state)
{
    struct fixture *f = pl_calloc(1, sizeof(*f));
    char tmpl[] = "/tmp/parley-acl-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->dir));
    snprintf(f->file, sizeof(f->file), "%s/parley.yml", f->dir);
    buf_init(&f->err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->file);
    rmdir(f->dir);
    buf_release(&f->err);
    free(f);
    return 0;
}

#define HEAD "hosts: [example.org, other.org]\n" \
             "listen:\n  - {module: c2s, port: 5222}\n"

/* Writes HEAD + body and loads it; NULL and f->err set on an error. */
static struct conf *load(struct fixture *f, const char *body)
{
    FILE *fp = fopen(f->file, "w");
    assert_non_null(fp);
    fputs(HEAD, fp);
    fputs(body, fp);
    assert_int_equal(fclose(fp), 0);
    buf_release(&f->err);
    buf_init(&f->err);
    return conf_load(f->file, NULL, &f->err);
}

static const char rules_yml[] =
    "acl:\n"
    "  admin:\n"
    "    user: [boss@example.org, root]\n"
    "  local:\n"
    "    server: example.org\n"
    "  lan:\n"
    "    ip: [10.0.0.0/8, \"fd00::/8\"]\n"
    "  blocked:\n"
    "    ip: 10.6.6.6\n"
    "access_rules:\n"
    "  api:\n"
    "    - deny: blocked\n"
    "    - allow: admin\n"
    "    - allow: lan\n"
    "  register:\n"
    "    - allow: local\n"
    "    - deny: all\n"
    "  first_allow:\n"
    "    - allow: all\n"
    "    - deny: admin\n"
    "  empty: []\n"
    "  never:\n"
    "    - allow: none\n";

static void test_rules(void **state)
{
    struct fixture *f = *state;
    struct conf *c = load(f, rules_yml);
    if (!c)
        fail_msg("load failed: %s", f->err.data);
    static const struct {
        const char *rule, *user, *server, *ip;
        bool allowed;
    } cases[] = {
        /* user entries: a bare JID is that account only ... */
        { "api", "boss", "example.org", NULL, true },
        { "api", "boss", "other.org", NULL, false },
        /* ... a localpart matches on every host */
        { "api", "root", "other.org", NULL, true },
        { "api", "root", "example.org", NULL, true },
        { "api", "alice", "example.org", NULL, false },
        /* ip entries, IPv4 and IPv6 */
        { "api", NULL, NULL, "10.1.1.1", true },
        { "api", NULL, NULL, "fd12::5", true },
        { "api", NULL, NULL, "fe80::1", false },
        { "api", NULL, NULL, "192.0.2.1", false },
        /* first match wins: the deny comes before admin and lan */
        { "api", "boss", "example.org", "10.6.6.6", false },
        { "api", NULL, NULL, "10.6.6.6", false },
        { "first_allow", "boss", "example.org", NULL, true },
        /* server entries */
        { "register", "anyone", "example.org", NULL, true },
        { "register", "anyone", "other.org", NULL, false },
        { "register", NULL, NULL, NULL, false },
        /* no entry matches: deny */
        { "empty", "boss", "example.org", "10.0.0.1", false },
        { "never", "boss", "example.org", "10.0.0.1", false },
        /* unknown rules deny; built-ins */
        { "no_such_rule", "boss", "example.org", "10.0.0.1", false },
        { "all", NULL, NULL, NULL, true },
        { "none", "boss", "example.org", "10.0.0.1", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct acl_subject who = { cases[i].user, cases[i].server, cases[i].ip };
        if (acl_allowed(c, cases[i].rule, &who) != cases[i].allowed)
            fail_msg("case %zu: rule %s for %s@%s from %s: expected %s", i, cases[i].rule,
                     cases[i].user ? cases[i].user : "-", cases[i].server ? cases[i].server : "-",
                     cases[i].ip ? cases[i].ip : "-", cases[i].allowed ? "allow" : "deny");
    }
    assert_true(acl_rule_exists(&c->acl, "api"));
    assert_true(acl_rule_exists(&c->acl, "all"));
    assert_false(acl_rule_exists(&c->acl, "api_register"));
    assert_false(acl_allowed(c, "api", NULL));
    conf_free(c);
}

/* Users and servers are prepared at load: case does not matter. */
static void test_prepared(void **state)
{
    struct fixture *f = *state;
    struct conf *c = load(f, "acl:\n  a:\n    user: [Boss@Example.ORG]\n"
                             "access_rules:\n  r:\n    - allow: a\n");
    if (!c)
        fail_msg("load failed: %s", f->err.data);
    struct acl_subject who = { "boss", "example.org", NULL };
    assert_true(acl_allowed(c, "r", &who));
    conf_free(c);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    /* HEAD is 3 lines: the body starts on line 4. */
    static const struct {
        const char *body, *err;
    } cases[] = {
        { "access_rules:\n  api:\n    - allow: admins\n",
          ":6:14: option 'access_rules.api[0].allow': unknown acl 'admins' (define it under 'acl', or use all or none)" },
        { "acl:\n  lan:\n    ip: [10.0.0.0/8, 10.0.0.1/8]\n",
          ":6:22: option 'acl.lan.ip[1]': '10.0.0.1/8': host bits are set after the prefix (write the network address)" },
        { "acl:\n  lan:\n    ip: 1.2.3.4/40\n",
          ":6:9: option 'acl.lan.ip': '1.2.3.4/40': prefix length must be 0..32 for IPv4" },
        { "acl:\n  lan:\n    ip: [\"fe80::/200\"]\n",
          ":6:10: option 'acl.lan.ip[0]': 'fe80::/200': prefix length must be 0..128 for IPv6" },
        { "acl:\n  a:\n    user: [a@b@c]\n",
          ":6:12: option 'acl.a.user[0]': 'a@b@c' is not a bare JID or a JID localpart" },
        { "acl:\n  a:\n    user: [a@example.org/res]\n",
          ":6:12: option 'acl.a.user[0]': 'a@example.org/res' is not a bare JID or a JID localpart" },
        { "acl:\n  a:\n    users: [a]\n",
          ":6:5: option 'acl.a': unknown key 'users' (expected user, server or ip)" },
        { "acl:\n  all:\n    user: [a]\n",
          ":5:3: option 'acl.all': 'all' is built in and cannot be redefined" },
        { "acl:\n  a:\n    user: [a]\n  a:\n    user: [b]\n",
          ":7:3: option 'acl.a': given twice (first on line 5)" },
        { "acl:\n  a: [x]\n",
          ":5:6: option 'acl.a': expected a map with user, server or ip, got a list" },
        { "access_rules:\n  api:\n    allow: all\n",
          ":6:5: option 'access_rules.api': expected a list of allow: ACL or deny: ACL entries, got a map" },
        { "access_rules:\n  api:\n    - permit: all\n",
          ":6:7: option 'access_rules.api[0]': expected 'allow' or 'deny'" },
        { "access_rules:\n  api:\n    - {allow: all, deny: none}\n",
          ":6:7: option 'access_rules.api[0]': expected one 'allow: ACL' or 'deny: ACL', got a map" },
        { "access_rules:\n  none:\n    - allow: all\n",
          ":5:3: option 'access_rules.none': 'none' is built in and cannot be redefined" },
        { "access_rules:\n  \"a b\":\n    - allow: all\n",
          ":5:3: option 'access_rules': 'a b' is not a valid name (letters, digits, '_', '-', '.'; at most 64)" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf *c = load(f, cases[i].body);
        if (c) {
            conf_free(c);
            fail_msg("case %zu loaded: %s", i, cases[i].body);
        }
        char want[PATH_MAX + 1024];
        snprintf(want, sizeof(want), "%s%s", f->file, cases[i].err);
        if (strcmp(f->err.data, want) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, f->err.data, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_match),
        cmocka_unit_test(test_cidr_invalid),
        cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
