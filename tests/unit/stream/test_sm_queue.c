/* test_sm_queue.c - XEP-0198 counters and queues (§4 counting and the
 * 2^32 wrap, §6 handled-count-too-high), in-order settling of inbound
 * stanzas (ARCHITECTURE.md principle 5) and the ended-session registry
 * behind <failed h/> (§5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "stream/sm_queue.h"

/* Outbound: push n items starting at 'start', ack h, expect 'acked'
 * items popped (or -1 = too high) and 'left' remaining. */
static const struct {
    uint32_t start;
    unsigned push;
    uint32_t h;
    long acked;
    size_t left;
} out_cases[] = {
    { 0, 0, 0, 0, 0 },
    { 0, 3, 0, 0, 3 },
    { 0, 3, 2, 2, 1 },
    { 0, 3, 3, 3, 0 },
    { 0, 3, 4, -1, 3 },                 /* more than sent */
    { 10, 2, 9, -1, 2 },                /* below the last ack: broken peer */
    { 0xFFFFFFFEu, 4, 0xFFFFFFFFu, 1, 3 },
    { 0xFFFFFFFEu, 4, 0, 2, 2 },        /* h wrapped to 0 (§4) */
    { 0xFFFFFFFEu, 4, 2, 4, 0 },
    { 0xFFFFFFFEu, 4, 3, -1, 4 },
    { 0xFFFFFFFFu, 1, 0, 1, 0 },
    { 0, 100, 37, 37, 63 },             /* ring growth */
};

static void outbound_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(out_cases) / sizeof(out_cases[0]); i++) {
        struct sm_queue q;
        smq_init(&q, out_cases[i].start);
        static int tokens[100];
        uint32_t last = out_cases[i].start;
        for (unsigned k = 0; k < out_cases[i].push; k++) {
            last = smq_out_push(&q, &tokens[k], k);
            assert_int_equal(last, (uint32_t)(out_cases[i].start + k + 1));
        }
        long n = smq_out_ack_count(&q, out_cases[i].h);
        assert_int_equal(n, out_cases[i].acked);
        for (long k = 0; k < n; k++) {
            int64_t t;
            assert_ptr_equal(smq_out_pop(&q, &t), &tokens[k]);
            assert_int_equal(t, k);
        }
        assert_int_equal(smq_out_len(&q), out_cases[i].left);
        if (n >= 0)
            assert_int_equal(smq_out_acked(&q), out_cases[i].h);
        /* The rest are still there, oldest first (what a resume resends). */
        for (size_t k = 0; k < smq_out_len(&q); k++)
            assert_ptr_equal(smq_out_at(&q, k)->p, &tokens[(n < 0 ? 0 : n) + (long)k]);
        while (smq_out_pop(&q, NULL))
            ;
        smq_release(&q);
    }
}

static void outbound_interleaved_wrap(void **state)
{
    (void)state;
    struct sm_queue q;
    smq_init(&q, 0xFFFFFFF0u);
    int x;
    uint32_t acked = 0xFFFFFFF0u;
    for (int round = 0; round < 40; round++) {
        for (int k = 0; k < 3; k++)
            smq_out_push(&q, &x, 0);
        acked += 2;
        assert_int_equal(smq_out_ack_count(&q, acked), 2);
        smq_out_pop(&q, NULL);
        smq_out_pop(&q, NULL);
    }
    assert_int_equal(smq_out_len(&q), 40);
    assert_int_equal(q.out_sent, (uint32_t)(0xFFFFFFF0u + 120));
    assert_int_equal(smq_out_ack_count(&q, q.out_sent), 40);
    assert_int_equal(smq_out_ack_count(&q, q.out_sent + 1), -1);
    while (smq_out_pop(&q, NULL))
        ;
    smq_release(&q);
}

/* Inbound: begin n, settle in the given order; h after each settle. */
static const struct {
    uint32_t start;
    unsigned n;
    unsigned order[6];          /* 1-based offsets */
    uint32_t h_after[6];        /* relative to start */
} in_cases[] = {
    { 0, 3, { 1, 2, 3 }, { 1, 2, 3 } },
    { 0, 3, { 3, 2, 1 }, { 0, 0, 3 } },
    { 0, 4, { 2, 1, 4, 3 }, { 0, 2, 2, 4 } },
    { 0xFFFFFFFEu, 4, { 1, 3, 2, 4 }, { 1, 1, 3, 4 } },  /* h wraps to 2 */
    { 0, 2, { 2, 2, 1 }, { 0, 0, 2 } },                  /* settled twice */
};

static void inbound_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(in_cases) / sizeof(in_cases[0]); i++) {
        struct sm_queue q;
        uint32_t s = in_cases[i].start;
        smq_init(&q, s);
        for (unsigned k = 0; k < in_cases[i].n; k++)
            assert_int_equal(smq_in_begin(&q), (uint32_t)(s + k + 1));
        assert_int_equal(smq_in_pending(&q), in_cases[i].n);
        for (unsigned k = 0; k < 6 && in_cases[i].order[k]; k++) {
            smq_in_settle(&q, s + in_cases[i].order[k]);
            assert_int_equal(smq_in_h(&q), (uint32_t)(s + in_cases[i].h_after[k]));
        }
        assert_int_equal(smq_in_pending(&q), 0);
        smq_release(&q);
    }
}

static void inbound_many_pending(void **state)
{
    (void)state;
    struct sm_queue q;
    smq_init(&q, 0xFFFFFF00u);
    /* 1000 stanzas, the first held longest (a slow storage write). */
    for (int k = 0; k < 1000; k++)
        smq_in_begin(&q);
    for (uint32_t k = 2; k <= 1000; k++)
        smq_in_settle(&q, 0xFFFFFF00u + k);
    assert_int_equal(smq_in_h(&q), 0xFFFFFF00u);
    assert_true(smq_in_settle(&q, 0xFFFFFF01u));
    assert_int_equal(smq_in_h(&q), (uint32_t)(0xFFFFFF00u + 1000));
    assert_false(smq_in_settle(&q, 5));    /* unknown seq: ignored */
    smq_release(&q);
}

static void registry(void **state)
{
    (void)state;
    struct sm_registry *r = sm_registry_new();
    uint32_t h = 0;
    assert_false(sm_registry_find(r, "a@x", "id1", &h, 100, 3600));
    sm_registry_add(r, "a@x", "id1", 7, 100, 2, 3600);
    sm_registry_add(r, "a@x", "id2", 8, 101, 2, 3600);
    assert_true(sm_registry_find(r, "a@x", "id1", &h, 102, 3600));
    assert_int_equal(h, 7);
    /* Another account never sees a@x's ids. */
    assert_false(sm_registry_find(r, "b@x", "id1", &h, 102, 3600));
    /* The limit drops the oldest. */
    sm_registry_add(r, "a@x", "id3", 9, 103, 2, 3600);
    assert_int_equal(sm_registry_count(r, "a@x"), 2);
    assert_false(sm_registry_find(r, "a@x", "id1", &h, 104, 3600));
    assert_true(sm_registry_find(r, "a@x", "id3", &h, 104, 3600));
    assert_int_equal(h, 9);
    /* Expiry. */
    assert_false(sm_registry_find(r, "a@x", "id3", &h, 103 + 3601, 3600));
    assert_int_equal(sm_registry_count(r, "a@x"), 0);
    sm_registry_add(r, "a@x", "id4", 0xFFFFFFFFu, 200, 2, 3600);
    assert_true(sm_registry_find(r, "a@x", "id4", &h, 200, 3600));
    assert_int_equal(h, 0xFFFFFFFFu);
    sm_registry_add(r, "c@x", "z", 1, 200, 0, 3600);     /* 0 = keep none */
    assert_int_equal(sm_registry_count(r, "c@x"), 0);
    sm_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outbound_table),
        cmocka_unit_test(outbound_interleaved_wrap),
        cmocka_unit_test(inbound_table),
        cmocka_unit_test(inbound_many_pending),
        cmocka_unit_test(registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
