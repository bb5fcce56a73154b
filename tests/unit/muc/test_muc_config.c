/* test_muc_config.c - the room configuration form (XEP-0045 §10.2,
 * §15.5.3): muc#roomconfig_presencebroadcast (list-multi of roles whose
 * presence is broadcast, §7.2.2) and muc#roomconfig_getmemberlist
 * (list-multi of roles that may retrieve the member list, §7.11 / §9.5)
 * in the form, on submit, in the stored form and in
 * muc_config_broadcasts() / muc_config_may_get_member_list(); the room's
 * allow-register boolean (§7.10).  Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "muc/muc_config.h"
#include "muc/muc_rules.h"

#define BV (1u << MUC_ROLE_VISITOR)
#define BP (1u << MUC_ROLE_PARTICIPANT)
#define BM (1u << MUC_ROLE_MODERATOR)
#define PB "muc#roomconfig_presencebroadcast"
#define GML "muc#roomconfig_getmemberlist"

/* A submitted form with one field 'var' carrying 'vals' (NULL-terminated);
 * with_field false leaves the field out. */
static struct xml_node *roles_form(struct arena *a, const char *var, const char *const *vals,
                                   bool with_field)
{
    struct xml_node *x = xml_new(a, NS_XDATA_MUC, "x");
    xml_set_attr(a, x, "type", "submit");
    struct xml_node *ft = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, ft, "var", "FORM_TYPE");
    xml_add_text_child(a, ft, NULL, "value", MUC_FORM_ROOMCONFIG);
    if (with_field) {
        struct xml_node *f = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, f, "var", var);
        for (size_t i = 0; vals[i]; i++)
            xml_add_text_child(a, f, NULL, "value", vals[i]);
    }
    return x;
}

static struct xml_node *bcast_form(struct arena *a, const char *const *vals, bool with_field)
{
    return roles_form(a, PB, vals, with_field);
}

/* The list-multi field 'var' of a form, NULL when absent. */
static struct xml_node *form_field(struct xml_node *x, const char *var)
{
    struct xml_node *f = xml_child(x, NULL, "field");
    while (f && strcmp(xml_attr(f, "var"), var) != 0)
        f = xml_next(f, NULL, "field");
    return f;
}

/* The roles given as <value/>s of a field, as bits. */
static unsigned field_roles(struct arena *a, const struct xml_node *f)
{
    unsigned got = 0;
    for (struct xml_node *v = xml_child(f, NULL, "value"); v; v = xml_next(v, NULL, "value")) {
        int r = muc_role_parse(xml_text(a, v));
        assert_true(r > MUC_ROLE_NONE);
        got |= 1u << r;
    }
    return got;
}

static void test_getmemberlist_submit(void **state)
{
    (void)state;
    static const struct {
        const char *vals[5];
        bool with_field;
        int rc;
        unsigned want;          /* bits after the submit (from the default, BM) */
    } t[] = {
        { { NULL }, false, 0, BM },                                 /* absent: kept */
        { { "moderator", "participant", "visitor", NULL }, true, 0, BV | BP | BM },
        { { "participant", NULL }, true, 0, BP },
        { { "visitor", "moderator", NULL }, true, 0, BV | BM },     /* any order */
        { { NULL }, true, 0, 0 },                                   /* empty: admins only */
        { { "participant", "participant", NULL }, true, 0, BP },    /* repeated */
        { { "none", NULL }, true, -1, BM },                         /* not a listed role */
        { { "member", NULL }, true, -1, BM },                       /* an affiliation */
        { { "admin", "moderator", NULL }, true, -1, BM },
        { { "Participant", NULL }, true, -1, BM },                  /* case matters */
        { { "", NULL }, true, -1, BM },
        { { "moderator", "participant", "visitor", "visitor", NULL }, true, -1, BM },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct arena *a = arena_new(1024);
        struct muc_config c;
        muc_config_init(&c);
        assert_int_equal(c.get_member_list, BM);    /* default: moderators only */
        struct muc_config_jids j;
        const char *err = NULL;
        bool badreq = true;
        int rc = muc_config_submit(&c, roles_form(a, GML, t[i].vals, t[i].with_field), 100, &j,
                                   &err, &badreq);
        if (rc != t[i].rc || c.get_member_list != t[i].want)
            fail_msg("row %zu: rc %d bits %#x", i, rc, c.get_member_list);
        assert_int_equal(c.presence_broadcast, BV | BP | BM);       /* untouched */
        if (rc < 0) {
            assert_non_null(err);
            assert_non_null(strstr(err, GML));
            assert_false(badreq);                   /* <not-acceptable/> */
        }
        muc_config_release(&c);
        arena_free(a);
    }
}

static void test_may_get_member_list(void **state)
{
    (void)state;
    static const struct {
        unsigned bits;
        enum muc_role role;
        bool want;
    } t[] = {
        { BM, MUC_ROLE_MODERATOR, true },
        { BM, MUC_ROLE_PARTICIPANT, false },
        { BM, MUC_ROLE_VISITOR, false },
        { BM | BP, MUC_ROLE_PARTICIPANT, true },
        { BM | BP, MUC_ROLE_VISITOR, false },
        { BV, MUC_ROLE_VISITOR, true },
        { BV, MUC_ROLE_MODERATOR, false },          /* no implied hierarchy */
        { 0, MUC_ROLE_MODERATOR, false },
        { BV | BP | BM, MUC_ROLE_NONE, false },     /* not an occupant */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct muc_config c;
        muc_config_init(&c);
        c.get_member_list = t[i].bits;
        assert_int_equal(muc_config_may_get_member_list(&c, t[i].role), t[i].want);
        muc_config_release(&c);
    }
}

static void test_presencebroadcast_submit(void **state)
{
    (void)state;
    static const struct {
        const char *vals[5];
        bool with_field;
        int rc;
        unsigned want;          /* bits after the submit (from MUC_BCAST_ALL) */
    } t[] = {
        { { NULL }, false, 0, BV | BP | BM },                       /* absent: kept */
        { { "moderator", "participant", "visitor", NULL }, true, 0, BV | BP | BM },
        { { "moderator", NULL }, true, 0, BM },
        { { "participant", "moderator", NULL }, true, 0, BP | BM }, /* any order */
        { { NULL }, true, 0, 0 },                                   /* empty list: nobody */
        { { "visitor", "visitor", NULL }, true, 0, BV },            /* repeated */
        { { "none", NULL }, true, -1, BV | BP | BM },               /* not a listed role */
        { { "owner", NULL }, true, -1, BV | BP | BM },              /* an affiliation */
        { { "moderator", "", NULL }, true, -1, BV | BP | BM },
        { { "moderator", "participant", "visitor", "moderator", NULL }, true, -1,
          BV | BP | BM },                                           /* more values than roles */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct arena *a = arena_new(1024);
        struct muc_config c;
        muc_config_init(&c);
        assert_int_equal(c.presence_broadcast, BV | BP | BM);      /* §10.1.3 example default */
        struct muc_config_jids j;
        const char *err = NULL;
        bool badreq = true;
        int rc = muc_config_submit(&c, bcast_form(a, t[i].vals, t[i].with_field), 100, &j,
                                   &err, &badreq);
        assert_int_equal(rc, t[i].rc);
        assert_int_equal(c.presence_broadcast, t[i].want);
        if (rc < 0) {
            assert_non_null(err);
            assert_false(badreq);                   /* <not-acceptable/> */
        }
        muc_config_release(&c);
        arena_free(a);
    }
}

static void test_broadcasts(void **state)
{
    (void)state;
    static const struct {
        unsigned bits;
        enum muc_role role;
        bool want;
    } t[] = {
        { BV | BP | BM, MUC_ROLE_VISITOR, true },
        { BP | BM, MUC_ROLE_VISITOR, false },
        { BP | BM, MUC_ROLE_PARTICIPANT, true },
        { BM, MUC_ROLE_PARTICIPANT, false },
        { BM, MUC_ROLE_MODERATOR, true },
        { 0, MUC_ROLE_MODERATOR, false },
        { BV | BP | BM, MUC_ROLE_NONE, false },     /* no role: never "present" */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct muc_config c;
        muc_config_init(&c);
        c.presence_broadcast = t[i].bits;
        assert_int_equal(muc_config_broadcasts(&c, t[i].role), t[i].want);
        muc_config_release(&c);
    }
}

/* The form shows the current roles as values and all three as options;
 * the stored form round-trips every subset. */
static void test_form_and_store(void **state)
{
    (void)state;
    for (unsigned bits = 0; bits <= (BV | BP | BM); bits++) {
        if (bits & ~(BV | BP | BM))
            continue;
        struct arena *a = arena_new(4096);
        struct muc_config c;
        muc_config_init(&c);
        /* getmemberlist gets the complement, so the two fields differ. */
        unsigned gbits = (BV | BP | BM) & ~bits;
        c.presence_broadcast = bits;
        c.get_member_list = gbits;
        c.allow_register = bits & 1;
        struct xml_node *q = xml_new(a, "q", "query");
        muc_config_form(a, q, &c, 100, NULL, 0, NULL, 0);
        struct xml_node *x = xml_child(q, NS_XDATA_MUC, "x");
        struct xml_node *f = form_field(x, PB);
        struct xml_node *g = form_field(x, GML);
        assert_non_null(f);
        assert_non_null(g);
        assert_string_equal(xml_attr(f, "type"), "list-multi");
        assert_string_equal(xml_attr(g, "type"), "list-multi");
        assert_int_equal(field_roles(a, f), bits);
        assert_int_equal(field_roles(a, g), gbits);
        size_t nopt = 0;
        for (struct xml_node *o = xml_child(f, NULL, "option"); o; o = xml_next(o, NULL, "option"))
            nopt++;
        assert_int_equal(nopt, 3);
        nopt = 0;
        for (struct xml_node *o = xml_child(g, NULL, "option"); o; o = xml_next(o, NULL, "option"))
            nopt++;
        assert_int_equal(nopt, 3);
        /* The form submitted back as it is changes nothing. */
        struct muc_config back;
        muc_config_init(&back);
        back.presence_broadcast = BV | BP | BM;
        struct xml_node *sub = bcast_form(a, (const char *const[]){ NULL }, false);
        xml_append(sub, xml_copy(a, f));
        xml_append(sub, xml_copy(a, g));
        struct muc_config_jids j;
        const char *err;
        bool badreq;
        assert_int_equal(muc_config_submit(&back, sub, 100, &j, &err, &badreq), 0);
        assert_int_equal(back.presence_broadcast, bits);
        assert_int_equal(back.get_member_list, gbits);
        muc_config_release(&back);

        struct xml_node *parent = xml_new(a, "", "room");
        muc_config_store(a, parent, &c);
        struct muc_config d;
        muc_config_init(&d);
        muc_config_load(&d, xml_child(parent, NULL, "config"));
        assert_int_equal(d.presence_broadcast, bits);
        assert_int_equal(d.get_member_list, gbits);
        assert_int_equal(d.allow_register, c.allow_register);
        muc_config_release(&d);
        muc_config_release(&c);
        arena_free(a);
    }
    /* A stored form from before the fields existed: everyone broadcast,
     * moderators may retrieve the member list (the defaults). */
    struct arena *a = arena_new(512);
    struct xml_node *cfg = xml_new(a, "", "config");
    xml_set_attr(a, cfg, "name", "old");
    struct muc_config c;
    muc_config_init(&c);
    muc_config_load(&c, cfg);
    assert_int_equal(c.presence_broadcast, BV | BP | BM);
    assert_int_equal(c.get_member_list, BM);
    assert_false(c.allow_register);
    muc_config_release(&c);
    /* A corrupt stored value keeps the default too; an empty one is the
     * empty set (admins and owners only). */
    xml_set_attr(a, cfg, "getmemberlist", "moderator owner");
    muc_config_init(&c);
    muc_config_load(&c, cfg);
    assert_int_equal(c.get_member_list, BM);
    muc_config_release(&c);
    xml_set_attr(a, cfg, "getmemberlist", "");
    muc_config_init(&c);
    muc_config_load(&c, cfg);
    assert_int_equal(c.get_member_list, 0);
    muc_config_release(&c);
    arena_free(a);
}

static void test_allow_register_field(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int rc;
        bool want;
    } t[] = {
        { "1", 0, true }, { "true", 0, true }, { "0", 0, false }, { "yes", -1, false },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct arena *a = arena_new(1024);
        struct xml_node *x = bcast_form(a, (const char *const[]){ NULL }, false);
        struct xml_node *f = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, f, "var", MUC_FIELD_ALLOWREGISTER);
        xml_add_text_child(a, f, NULL, "value", t[i].v);
        struct muc_config c;
        muc_config_init(&c);
        struct muc_config_jids j;
        const char *err;
        bool badreq;
        assert_int_equal(muc_config_submit(&c, x, 100, &j, &err, &badreq), t[i].rc);
        assert_int_equal(c.allow_register, t[i].want);
        muc_config_release(&c);
        arena_free(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presencebroadcast_submit),
        cmocka_unit_test(test_broadcasts),
        cmocka_unit_test(test_getmemberlist_submit),
        cmocka_unit_test(test_may_get_member_list),
        cmocka_unit_test(test_form_and_store),
        cmocka_unit_test(test_allow_register_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
