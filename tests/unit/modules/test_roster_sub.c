/*
 * test_roster_sub.c - RFC 6121 Appendix A, row by row: the outbound
 * tables A.2.1-A.2.4 (Tables 2-5) and the inbound tables A.3.1-A.3.4
 * (Tables 6-9), then pre-approval (§3.4), the footnotes (auto-replies,
 * presence side effects) and item removal (§2.5.2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "modules/roster_sub.h"

/* Short names for the nine states of A.1. */
#define NONE   RSUB_NONE
#define N_PO   RSUB_NONE_PO
#define N_PI   RSUB_NONE_PI
#define N_POPI RSUB_NONE_POPI
#define TO     RSUB_TO
#define TO_PI  RSUB_TO_PI
#define FROM   RSUB_FROM
#define F_PO   RSUB_FROM_PO
#define BOTH   RSUB_BOTH

#define OUT RSUB_OUT
#define IN  RSUB_IN

#define R0 RSUB_REPLY_NONE
#define RS RSUB_REPLY_SUBSCRIBED
#define RU RSUB_REPLY_UNSUBSCRIBED

struct row {
    const char *table;
    enum rsub_dir dir;
    enum rsub_type type;
    enum rsub_name before;
    bool pass;                  /* ROUTE? / DELIVER? = MUST */
    enum rsub_name after;
    bool approved;              /* the pre-approval flag afterwards */
    enum rsub_reply reply;      /* footnotes: auto-replies */
    bool push;
};

static const struct row rows[] = {
    /* A.2.1 Table 2: outbound "subscribe" (always routed). */
    { "A.2.1", OUT, RSUB_SUBSCRIBE, NONE,   true, N_PO,   false, R0, true },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, N_PO,   true, N_PO,   false, R0, false },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, N_PI,   true, N_POPI, false, R0, true },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, N_POPI, true, N_POPI, false, R0, false },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, TO,     true, TO,     false, R0, false },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, TO_PI,  true, TO_PI,  false, R0, false },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, FROM,   true, F_PO,   false, R0, true },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, F_PO,   true, F_PO,   false, R0, false },
    { "A.2.1", OUT, RSUB_SUBSCRIBE, BOTH,   true, BOTH,   false, R0, false },
    /* A.2.2 Table 3: outbound "unsubscribe" (always routed). */
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, NONE,   true, NONE, false, R0, false },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, N_PO,   true, NONE, false, R0, true },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, N_PI,   true, N_PI, false, R0, false },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, N_POPI, true, N_PI, false, R0, true },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, TO,     true, NONE, false, R0, true },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, TO_PI,  true, N_PI, false, R0, true },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, FROM,   true, FROM, false, R0, false },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, F_PO,   true, FROM, false, R0, true },
    { "A.2.2", OUT, RSUB_UNSUBSCRIBE, BOTH,   true, FROM, false, R0, true },
    /* A.2.3 Table 4: outbound "subscribed"; M.N. rows of None, None +
     * Pending Out and To are pre-approvals [1]. */
    { "A.2.3", OUT, RSUB_SUBSCRIBED, NONE,   false, NONE, true,  R0, true },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, N_PO,   false, N_PO, true,  R0, true },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, N_PI,   true,  FROM, false, R0, true },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, N_POPI, true,  F_PO, false, R0, true },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, TO,     false, TO,   true,  R0, true },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, TO_PI,  true,  BOTH, false, R0, true },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, FROM,   false, FROM, false, R0, false },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, F_PO,   false, F_PO, false, R0, false },
    { "A.2.3", OUT, RSUB_SUBSCRIBED, BOTH,   false, BOTH, false, R0, false },
    /* A.2.4 Table 5: outbound "unsubscribed" (S.N. rows not routed). */
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, NONE,   false, NONE, false, R0, false },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, N_PO,   false, N_PO, false, R0, false },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, N_PI,   true,  NONE, false, R0, false },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, N_POPI, true,  N_PO, false, R0, false },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, TO,     false, TO,   false, R0, false },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, TO_PI,  true,  TO,   false, R0, false },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, FROM,   true,  NONE, false, R0, true },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, F_PO,   true,  N_PO, false, R0, true },
    { "A.2.4", OUT, RSUB_UNSUBSCRIBED, BOTH,   true,  TO,   false, R0, true },
    /* A.3.1 Table 6: inbound "subscribe"; [2] auto-reply "subscribed". */
    { "A.3.1", IN, RSUB_SUBSCRIBE, NONE,   true,  N_PI,   false, R0, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, N_PO,   true,  N_POPI, false, R0, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, N_PI,   false, N_PI,   false, R0, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, N_POPI, false, N_POPI, false, R0, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, TO,     true,  TO_PI,  false, R0, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, TO_PI,  false, TO_PI,  false, R0, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, FROM,   false, FROM,   false, RS, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, F_PO,   false, F_PO,   false, RS, false },
    { "A.3.1", IN, RSUB_SUBSCRIBE, BOTH,   false, BOTH,   false, RS, false },
    /* A.3.2 Table 7: inbound "unsubscribe"; [1] auto-reply "unsubscribed". */
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, NONE,   false, NONE, false, R0, false },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, N_PO,   false, N_PO, false, R0, false },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, N_PI,   true,  NONE, false, RU, false },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, N_POPI, true,  N_PO, false, RU, false },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, TO,     false, TO,   false, R0, false },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, TO_PI,  true,  TO,   false, RU, false },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, FROM,   true,  NONE, false, RU, true },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, F_PO,   true,  N_PO, false, RU, true },
    { "A.3.2", IN, RSUB_UNSUBSCRIBE, BOTH,   true,  TO,   false, RU, true },
    /* A.3.3 Table 8: inbound "subscribed". */
    { "A.3.3", IN, RSUB_SUBSCRIBED, NONE,   false, NONE,  false, R0, false },
    { "A.3.3", IN, RSUB_SUBSCRIBED, N_PO,   true,  TO,    false, R0, true },
    { "A.3.3", IN, RSUB_SUBSCRIBED, N_PI,   false, N_PI,  false, R0, false },
    { "A.3.3", IN, RSUB_SUBSCRIBED, N_POPI, true,  TO_PI, false, R0, true },
    { "A.3.3", IN, RSUB_SUBSCRIBED, TO,     false, TO,    false, R0, false },
    { "A.3.3", IN, RSUB_SUBSCRIBED, TO_PI,  false, TO_PI, false, R0, false },
    { "A.3.3", IN, RSUB_SUBSCRIBED, FROM,   false, FROM,  false, R0, false },
    { "A.3.3", IN, RSUB_SUBSCRIBED, F_PO,   true,  BOTH,  false, R0, true },
    { "A.3.3", IN, RSUB_SUBSCRIBED, BOTH,   false, BOTH,  false, R0, false },
    /* A.3.4 Table 9: inbound "unsubscribed". */
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, NONE,   false, NONE, false, R0, false },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, N_PO,   true,  NONE, false, R0, true },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, N_PI,   false, N_PI, false, R0, false },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, N_POPI, true,  N_PI, false, R0, true },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, TO,     true,  NONE, false, R0, true },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, TO_PI,  true,  N_PI, false, R0, true },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, FROM,   false, FROM, false, R0, false },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, F_PO,   true,  FROM, false, R0, true },
    { "A.3.4", IN, RSUB_UNSUBSCRIBED, BOTH,   true,  FROM, false, R0, true },
};

static const char *const type_names[] = {
    "subscribe", "subscribed", "unsubscribe", "unsubscribed",
};

static void test_appendix_a(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        struct rsub_state st = rsub_state_of(r->before);
        bool was_in_roster = st.in_roster;
        struct rsub_result res;
        rsub_apply(&st, r->dir, r->type, &res);
        enum rsub_name got = rsub_name_of(&st);
        bool ok = res.pass == r->pass && got == r->after && st.approved == r->approved &&
                  res.reply == r->reply && res.push == r->push;
        /* A state change is reported exactly when the name or the
         * pre-approval flag or the item's existence changed. */
        bool changed = got != r->before || st.approved || st.in_roster != was_in_roster;
        ok = ok && res.changed == changed;
        if (!ok) {
            fprintf(stderr,
                    "%s %s %s from \"%s\": pass %d (want %d), state \"%s\" (want \"%s\"), "
                    "approved %d (want %d), reply %d (want %d), push %d (want %d), "
                    "changed %d (want %d)\n",
                    r->table, r->dir == OUT ? "outbound" : "inbound", type_names[r->type],
                    rsub_name_str(r->before), res.pass, r->pass, rsub_name_str(got),
                    rsub_name_str(r->after), st.approved, r->approved, res.reply, r->reply,
                    res.push, r->push, res.changed, changed);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Every state round-trips through its name. */
static void test_names(void **state)
{
    (void)state;
    for (int n = 0; n < RSUB_NAME_COUNT; n++) {
        struct rsub_state st = rsub_state_of((enum rsub_name)n);
        assert_int_equal(rsub_name_of(&st), n);
    }
    struct rsub_state b = rsub_state_of(BOTH), t = rsub_state_of(TO_PI),
                      f = rsub_state_of(F_PO), n = rsub_state_of(N_POPI);
    assert_string_equal(rsub_subscription_str(&b), "both");
    assert_string_equal(rsub_subscription_str(&t), "to");
    assert_string_equal(rsub_subscription_str(&f), "from");
    assert_string_equal(rsub_subscription_str(&n), "none");
    enum rsub_type ty;
    assert_true(rsub_type_parse("unsubscribed", &ty));
    assert_int_equal(ty, RSUB_UNSUBSCRIBED);
    assert_false(rsub_type_parse("probe", &ty));
    assert_false(rsub_type_parse(NULL, &ty));
}

/* §3.4.2 rule 4: pre-approving a stranger creates an item in "None". */
static void test_preapproval_creates_item(void **state)
{
    (void)state;
    struct rsub_state st = { 0 };
    struct rsub_result r;
    rsub_apply(&st, OUT, RSUB_SUBSCRIBED, &r);
    assert_false(r.pass);
    assert_true(st.in_roster && st.approved && r.push && r.changed);
    assert_int_equal(rsub_name_of(&st), NONE);
    /* Sending it again changes nothing and pushes nothing. */
    rsub_apply(&st, OUT, RSUB_SUBSCRIBED, &r);
    assert_false(r.pass || r.changed || r.push);
}

/* §3.4.2 last paragraph / A.3.1 [1]: a pre-approved subscribe is not
 * delivered but answered "subscribed", and the state becomes "From"
 * (with our own pending request kept); the contact gets our presence. */
static void test_preapproval_used(void **state)
{
    (void)state;
    static const struct { enum rsub_name before, after; } cases[] = {
        { NONE, FROM }, { N_PO, F_PO }, { TO, BOTH },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rsub_state st = rsub_state_of(cases[i].before);
        st.approved = true;
        struct rsub_result r;
        rsub_apply(&st, IN, RSUB_SUBSCRIBE, &r);
        assert_false(r.pass);
        assert_int_equal(r.reply, RSUB_REPLY_SUBSCRIBED);
        assert_int_equal(rsub_name_of(&st), cases[i].after);
        assert_false(st.approved);
        assert_true(r.push && r.changed && r.send_presence);
        assert_false(r.store_request);
    }
}

/* §3.2.2 rule 2 / A.2.4 [1]: "unsubscribed" cancels a pre-approval
 * without routing; §4.3.2 rule 1: an inbound "unsubscribed" does not. */
static void test_preapproval_cancel(void **state)
{
    (void)state;
    static const enum rsub_name states[] = { NONE, N_PO, TO };
    for (size_t i = 0; i < 3; i++) {
        struct rsub_state st = rsub_state_of(states[i]);
        st.approved = true;
        struct rsub_result r;
        rsub_apply(&st, OUT, RSUB_UNSUBSCRIBED, &r);
        assert_false(r.pass);
        assert_false(st.approved);
        assert_true(r.push && r.changed);
        assert_int_equal(rsub_name_of(&st), states[i]);

        st = rsub_state_of(states[i]);
        st.approved = true;
        rsub_apply(&st, IN, RSUB_UNSUBSCRIBED, &r);
        assert_true(st.approved);
    }
}

/* The presence side effects named by §3.1.5, §3.2.2 and §3.3.3, and the
 * stored request of §3.1.3 rule 4. */
static void test_side_effects(void **state)
{
    (void)state;
    struct rsub_state st = rsub_state_of(N_PI);
    struct rsub_result r;
    rsub_apply(&st, OUT, RSUB_SUBSCRIBED, &r);
    assert_true(r.send_presence && r.drop_request && !r.send_unavailable);
    assert_true(st.in_roster);  /* approving a stranger creates the item */

    st = rsub_state_of(BOTH);
    rsub_apply(&st, OUT, RSUB_UNSUBSCRIBED, &r);
    assert_true(r.send_unavailable && !r.send_presence);

    st = rsub_state_of(F_PO);
    rsub_apply(&st, IN, RSUB_UNSUBSCRIBE, &r);
    assert_true(r.send_unavailable);

    st = rsub_state_of(TO);
    rsub_apply(&st, IN, RSUB_SUBSCRIBE, &r);
    assert_true(r.store_request && !r.drop_request && !r.send_presence);

    st = rsub_state_of(N_POPI);
    rsub_apply(&st, IN, RSUB_UNSUBSCRIBE, &r);
    assert_true(r.drop_request && !r.send_unavailable);
    rsub_apply(&st, IN, RSUB_SUBSCRIBE, &r);
    assert_true(r.store_request);
    rsub_apply(&st, OUT, RSUB_UNSUBSCRIBED, &r);
    assert_true(r.drop_request && r.pass);

    /* A bare inbound request never produces a roster push. */
    struct rsub_state stranger = { 0 };
    stranger.in_roster = false;
    rsub_apply(&stranger, IN, RSUB_SUBSCRIBE, &r);
    assert_false(r.push);
    assert_false(stranger.in_roster);
}

/* §2.5.2: removal cancels both ways. */
static void test_remove(void **state)
{
    (void)state;
    static const struct { enum rsub_name n; bool unsub, unsubd; } cases[] = {
        { NONE, false, false }, { N_PO, true, false }, { N_PI, false, true },
        { N_POPI, true, true }, { TO, true, false }, { TO_PI, true, true },
        { FROM, false, true }, { F_PO, true, true }, { BOTH, true, true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rsub_state st = rsub_state_of(cases[i].n);
        st.approved = cases[i].n == NONE;
        bool a, b;
        rsub_remove(&st, &a, &b);
        assert_int_equal(a, cases[i].unsub);
        assert_int_equal(b, cases[i].unsubd);
        assert_false(st.to || st.from || st.pending_in || st.pending_out || st.approved ||
                     st.in_roster);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appendix_a),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_preapproval_creates_item),
        cmocka_unit_test(test_preapproval_used),
        cmocka_unit_test(test_preapproval_cancel),
        cmocka_unit_test(test_side_effects),
        cmocka_unit_test(test_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
