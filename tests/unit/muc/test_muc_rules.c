/* test_muc_rules.c - XEP-0045 permission checks (§8-§10), default roles
 * (§5.1.2), history limits (§7.2.14), the flood bucket and the
 * muc#roomconfig form (§10.2).  Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "muc/muc_config.h"
#include "muc/muc_rules.h"

#define O MUC_AFFIL_OUTCAST
#define N MUC_AFFIL_NONE
#define M MUC_AFFIL_MEMBER
#define A MUC_AFFIL_ADMIN
#define W MUC_AFFIL_OWNER
#define RN MUC_ROLE_NONE
#define V MUC_ROLE_VISITOR
#define P MUC_ROLE_PARTICIPANT
#define MOD MUC_ROLE_MODERATOR

static void test_roles(void **state)
{
    (void)state;
    static const struct {
        enum muc_affil aa;
        enum muc_role ar;
        enum muc_affil ta;
        enum muc_role tr, nr;
        enum muc_verdict want;
    } t[] = {
        { N, P, N, P, RN, MUC_FORBIDDEN },      /* §8.2 a participant cannot kick */
        { N, MOD, N, P, RN, MUC_OK },           /* moderator kicks */
        { N, MOD, W, MOD, RN, MUC_NOT_ALLOWED },/* §8.2 lower affiliation */
        { M, MOD, A, MOD, RN, MUC_NOT_ALLOWED },
        { W, MOD, A, MOD, RN, MUC_OK },         /* owner kicks an admin */
        { N, MOD, N, P, V, MUC_OK },            /* §8.4 revoke voice */
        { N, MOD, A, MOD, V, MUC_FORBIDDEN },   /* revoking a moderator needs admin */
        { A, MOD, W, MOD, P, MUC_NOT_ALLOWED }, /* §9.7 an owner's moderator status */
        { N, MOD, M, P, V, MUC_NOT_ALLOWED },   /* §8.4 higher affiliation */
        { M, MOD, M, P, V, MUC_NOT_ALLOWED },   /* §8.4 equal affiliation */
        { M, MOD, N, P, V, MUC_OK },            /* §8.4 lower affiliation */
        { A, MOD, A, MOD, V, MUC_NOT_ALLOWED }, /* §8.4 an admin's voice: no one */
        { W, MOD, M, P, V, MUC_OK },
        { M, MOD, M, P, RN, MUC_OK },           /* §8.2 kicking an equal is allowed */
        { M, MOD, M, V, P, MUC_OK },            /* §8.3 granting voice to an equal */
        { N, MOD, N, V, P, MUC_OK },            /* §8.3 grant voice */
        { N, MOD, N, P, MOD, MUC_FORBIDDEN },   /* §9.6 needs admin */
        { A, MOD, N, P, MOD, MUC_OK },
        { A, MOD, N, MOD, P, MUC_OK },          /* §9.7 */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum muc_verdict v = muc_check_role_change(t[i].aa, t[i].ar, t[i].ta, t[i].tr, t[i].nr);
        if (v != t[i].want)
            fail_msg("row %zu: got %d want %d", i, v, t[i].want);
    }
}

static void test_affiliations(void **state)
{
    (void)state;
    static const struct {
        enum muc_affil aa, ta, na;
        size_t owners;
        bool self;
        enum muc_verdict want;
    } t[] = {
        { M, N, O, 1, false, MUC_FORBIDDEN },   /* members do not ban */
        { M, M, O, 1, true, MUC_FORBIDDEN },    /* ... not even themselves */
        { A, N, O, 1, false, MUC_OK },          /* §9.1 ban */
        { A, W, O, 2, false, MUC_NOT_ALLOWED }, /* §9.1 admin cannot ban an owner */
        { A, A, O, 2, false, MUC_NOT_ALLOWED }, /* nor an equal admin */
        { A, A, O, 1, true, MUC_SELF_BAN },     /* §9.1 admin bans himself */
        { W, W, O, 2, true, MUC_SELF_BAN },     /* §9.1 owner too, other owners or not */
        { W, W, O, 1, true, MUC_SELF_BAN },
        { W, W, O, 2, false, MUC_OK },          /* an owner bans another owner */
        { A, W, A, 2, false, MUC_FORBIDDEN },   /* §10.4 only owners revoke owners */
        { A, W, M, 2, false, MUC_FORBIDDEN },
        { A, W, N, 2, false, MUC_FORBIDDEN },
        { A, A, M, 1, false, MUC_FORBIDDEN },   /* §10.7 only owners revoke admins */
        { A, A, N, 1, false, MUC_FORBIDDEN },
        { A, A, N, 1, true, MUC_FORBIDDEN },    /* §10.8 an admin's own entry too */
        { A, N, A, 1, false, MUC_FORBIDDEN },   /* §10.6 granting admin is an owner's */
        { A, M, W, 1, false, MUC_FORBIDDEN },   /* §10.3 granting owner too */
        { A, N, M, 1, false, MUC_OK },          /* §9.3 */
        { A, M, N, 1, false, MUC_OK },          /* §9.4 */
        { W, N, W, 1, false, MUC_OK },          /* §10.3 */
        { W, W, A, 1, true, MUC_CONFLICT },     /* §10.4 the last owner steps down */
        { W, W, M, 1, true, MUC_CONFLICT },
        { W, W, N, 1, true, MUC_CONFLICT },
        { W, W, A, 2, true, MUC_OK },           /* §10.4 another owner remains */
        { W, W, N, 2, true, MUC_OK },
        { W, W, A, 2, false, MUC_OK },          /* §10.4 revoking another owner */
        { W, A, N, 1, false, MUC_OK },          /* §10.7 */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum muc_verdict v = muc_check_affil_change(t[i].aa, t[i].ta, t[i].na, t[i].owners,
                                                    t[i].self);
        if (v != t[i].want)
            fail_msg("row %zu: got %d want %d", i, v, t[i].want);
    }
}

static void test_names_and_defaults(void **state)
{
    (void)state;
    assert_int_equal(muc_role_parse("moderator"), MOD);
    assert_int_equal(muc_affil_parse("outcast"), O);
    assert_int_equal(muc_affil_parse("king"), -1);
    assert_string_equal(muc_affil_name(W), "owner");
    assert_int_equal(muc_default_role(N, true), V);
    assert_int_equal(muc_default_role(N, false), P);
    assert_int_equal(muc_default_role(M, true), P);
    assert_int_equal(muc_default_role(A, false), MOD);
    assert_int_equal(muc_default_role(O, false), RN);
    assert_true(muc_can_read_list(A, MOD, -1, O));
    assert_false(muc_can_read_list(A, MOD, -1, W));
    assert_true(muc_can_read_list(N, MOD, P, -1));
    assert_false(muc_can_read_list(N, P, P, -1));
}

static void test_history(void **state)
{
    (void)state;
    const long long s = 1000000;
    struct muc_history_entry e[5] = {
        { 10 * s, 100 }, { 20 * s, 100 }, { 30 * s, 100 }, { 40 * s, 100 }, { 50 * s, 100 },
    };
    static const struct {
        struct muc_history_limits lim;
        long max_fetch;
        size_t want;
    } t[] = {
        { { -1, -1, -1, 0 }, -1, 0 },           /* no limits: everything */
        { { -1, 2, -1, 0 }, -1, 3 },            /* maxstanzas */
        { { -1, 0, -1, 0 }, -1, 5 },            /* none */
        { { 250, -1, -1, 0 }, -1, 3 },          /* maxchars: two fit */
        { { -1, -1, 25, 0 }, -1, 3 },           /* seconds: now=60 -> after 35 */
        { { -1, -1, -1, 25 * 1000000LL }, -1, 2 }, /* since */
        { { -1, 4, -1, 0 }, 1, 4 },             /* the room's maximum wins */
        { { 1000, 3, 25, 0 }, -1, 3 },          /* most restrictive */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t got = muc_history_start(e, 5, &t[i].lim, 60 * s, t[i].max_fetch);
        if (got != t[i].want)
            fail_msg("row %zu: got %zu want %zu", i, got, t[i].want);
    }
}

static void test_bucket(void **state)
{
    (void)state;
    struct muc_bucket b = { 0, 0 };
    for (int i = 0; i < 3; i++)
        assert_true(muc_bucket_take(&b, 3, 1000));
    assert_false(muc_bucket_take(&b, 3, 1000));     /* burst spent */
    assert_true(muc_bucket_take(&b, 3, 1400));      /* 1.2 tokens back */
    assert_false(muc_bucket_take(&b, 3, 1400));
    assert_true(muc_bucket_take(&b, 0, 1400));      /* 0 = unlimited */
}

static struct xml_node *submit(struct arena *a, const char *const *kv)
{
    struct xml_node *x = xml_new(a, NS_XDATA_MUC, "x");
    xml_set_attr(a, x, "type", "submit");
    for (size_t i = 0; kv[i]; i += 2) {
        struct xml_node *f = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, f, "var", kv[i]);
        xml_add_text_child(a, f, NULL, "value", kv[i + 1]);
    }
    return x;
}

static void test_config_form(void **state)
{
    (void)state;
    struct arena *a = arena_new(4096);
    struct muc_config c;
    muc_config_init(&c);
    struct muc_config_jids j;
    const char *err;
    bool badreq;
    const char *ok[] = { "FORM_TYPE", MUC_FORM_ROOMCONFIG, "muc#roomconfig_roomname", "Room",
                         "muc#roomconfig_persistentroom", "1", "muc#roomconfig_whois", "anyone",
                         "muc#roomconfig_maxusers", "20", "muc#roomconfig_roomowners", "a@b",
                         "x-unknown", "ignored", NULL };
    assert_int_equal(muc_config_submit(&c, submit(a, ok), 100, &j, &err, &badreq), 0);
    assert_string_equal(c.name, "Room");
    assert_true(c.persistent);
    assert_int_equal(c.whois, MUC_WHOIS_ANYONE);
    assert_int_equal(c.max_users, 20);
    assert_true(j.owners_given);
    assert_int_equal(j.nowners, 1);
    assert_string_equal(j.owners[0], "a@b");

    static const char *const bad[][5] = {
        { "muc#roomconfig_maxusers", "101", NULL },            /* above the service */
        { "muc#roomconfig_moderatedroom", "maybe", NULL },
        { "muc#roomconfig_whois", "everyone", NULL },
        { "muc#roomconfig_passwordprotectedroom", "1", NULL }, /* no password */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        assert_int_equal(muc_config_submit(&c, submit(a, bad[i]), 100, &j, &err, &badreq), -1);
        assert_non_null(err);
        assert_false(badreq);
    }
    assert_string_equal(c.name, "Room");        /* unchanged by failures */
    const char *wrong[] = { "FORM_TYPE", "urn:other", NULL };
    assert_int_equal(muc_config_submit(&c, submit(a, wrong), 100, &j, &err, &badreq), -1);
    assert_true(badreq);

    /* The stored form round-trips. */
    struct xml_node *parent = xml_new(a, "", "room");
    muc_config_store(a, parent, &c);
    struct muc_config d;
    muc_config_init(&d);
    muc_config_load(&d, xml_child(parent, NULL, "config"));
    assert_string_equal(d.name, "Room");
    assert_true(d.persistent);
    assert_int_equal(d.max_users, 20);
    assert_int_equal(d.whois, MUC_WHOIS_ANYONE);
    muc_config_release(&d);

    /* The form offers every field with its value. */
    struct xml_node *q = xml_new(a, "q", "query");
    const char *owners[] = { "a@b" };
    muc_config_form(a, q, &c, 100, owners, 1, NULL, 0);
    struct xml_node *x = xml_child(q, NS_XDATA_MUC, "x");
    size_t nf = 0;
    for (struct xml_node *f = xml_child(x, NULL, "field"); f; f = xml_next(f, NULL, "field"))
        nf++;
    assert_int_equal(nf, 22);   /* + presencebroadcast, getmemberlist, allowregister */
    muc_config_release(&c);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_affiliations),
        cmocka_unit_test(test_names_and_defaults),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_config_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
