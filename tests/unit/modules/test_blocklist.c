/*
 * test_blocklist.c - XEP-0191 §6 JID matching (table-driven), the set
 * operations behind §3.3-§3.5, and the stored form (blocklist.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/jid.h"
#include "modules/blocklist.h"

struct match_row {
    const char *item;           /* the blocked item */
    const char *addr;           /* a stanza's address */
    bool blocked;
};

/* XEP-0191 §6, each kind of item against each kind of address. */
static const struct match_row match_rows[] = {
    /* 1. user@domain/resource: only that resource */
    { "romeo@montague.net/orchard", "romeo@montague.net/orchard", true },
    { "romeo@montague.net/orchard", "romeo@montague.net/garden", false },
    { "romeo@montague.net/orchard", "romeo@montague.net", false },
    { "romeo@montague.net/orchard", "montague.net", false },
    /* 2. user@domain: any resource */
    { "romeo@montague.net", "romeo@montague.net", true },
    { "romeo@montague.net", "romeo@montague.net/orchard", true },
    { "romeo@montague.net", "juliet@montague.net/orchard", false },
    { "romeo@montague.net", "montague.net", false },
    { "romeo@montague.net", "romeo@capulet.com", false },
    /* 3. domain/resource: only that resource of the domain itself */
    { "montague.net/bot", "montague.net/bot", true },
    { "montague.net/bot", "romeo@montague.net/bot", false },
    { "montague.net/bot", "montague.net", false },
    /* 4. domain: the domain and everything at it */
    { "montague.net", "montague.net", true },
    { "montague.net", "montague.net/bot", true },
    { "montague.net", "romeo@montague.net", true },
    { "montague.net", "romeo@montague.net/orchard", true },
    { "montague.net", "romeo@sub.montague.net", false },
    { "montague.net", "capulet.com", false },
    /* Items are prepared JIDs: the address is prepared before matching. */
    { "romeo@montague.net", "Romeo@MONTAGUE.net/x", true },
};

static void matching_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(match_rows) / sizeof(match_rows[0]); i++) {
        const struct match_row *r = &match_rows[i];
        struct blocklist b;
        blocklist_init(&b);
        blocklist_add(&b, r->item);
        blocklist_add(&b, "unrelated@example.org");
        struct jid *j = jid_parse(r->addr);
        assert_non_null(j);
        if (blocklist_blocks(&b, j) != r->blocked)
            fail_msg("item '%s' vs '%s': want %d", r->item, r->addr, r->blocked);
        /* The single-item predicate (for presence effects) agrees. */
        if (blocklist_item_matches(r->item, j) != r->blocked)
            fail_msg("item_matches '%s' vs '%s': want %d", r->item, r->addr, r->blocked);
        assert_int_equal(blocklist_blocks_str(&b, r->addr), r->blocked);
        jid_free(j);
        blocklist_release(&b);
    }
}

static void empty_and_invalid(void **state)
{
    (void)state;
    struct blocklist b;
    blocklist_init(&b);
    assert_false(blocklist_blocks_str(&b, "a@b"));
    blocklist_add(&b, "b");
    assert_false(blocklist_blocks_str(&b, "not a jid@@"));
    assert_false(blocklist_blocks_str(&b, NULL));
    blocklist_release(&b);
}

static void add_remove_keeps_order(void **state)
{
    (void)state;
    struct blocklist b;
    blocklist_init(&b);
    assert_true(blocklist_add(&b, "a@x"));
    assert_true(blocklist_add(&b, "b@x"));
    assert_true(blocklist_add(&b, "c@x"));
    assert_false(blocklist_add(&b, "b@x"));      /* already there */
    assert_int_equal(b.n, 3);
    assert_true(blocklist_remove(&b, "a@x"));
    assert_false(blocklist_remove(&b, "a@x"));
    assert_int_equal(b.n, 2);
    assert_string_equal(b.items[0], "b@x");
    assert_string_equal(b.items[1], "c@x");
    /* The index map was renumbered: removing the new first still works. */
    assert_true(blocklist_remove(&b, "b@x"));
    assert_true(blocklist_has(&b, "c@x"));
    assert_string_equal(b.items[0], "c@x");
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof(k), "u%d@x", i);
        assert_true(blocklist_add(&b, k));
    }
    assert_int_equal(b.n, 101);
    assert_true(blocklist_remove(&b, "u50@x"));
    assert_true(blocklist_has(&b, "u99@x"));
    assert_true(blocklist_remove(&b, "u99@x"));
    assert_false(blocklist_has(&b, "u99@x"));
    blocklist_clear(&b);
    assert_int_equal(b.n, 0);
    assert_false(blocklist_has(&b, "c@x"));
    blocklist_release(&b);
}

static void encode_decode(void **state)
{
    (void)state;
    struct blocklist b, d;
    blocklist_init(&b);
    blocklist_init(&d);
    blocklist_add(&b, "romeo@montague.net");
    blocklist_add(&b, "montague.net/bot");
    blocklist_add(&b, "x@y/z w");
    struct buf out = BUF_INIT;
    blocklist_encode(&b, &out);
    assert_string_equal(out.data, "romeo@montague.net\nmontague.net/bot\nx@y/z w\n");
    assert_int_equal(blocklist_decode(&d, out.data, out.len, 1000), 0);
    assert_int_equal(d.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(d.items[i], b.items[i]);
    /* Damaged rows: bad lines are skipped and counted, the limit holds,
     * a missing final newline is fine, duplicates collapse. */
    const char *bad = "a@b\n@@\n\nc@d\na@b\ne@f";
    assert_int_equal(blocklist_decode(&d, bad, strlen(bad), 1000), 1);
    assert_int_equal(d.n, 3);
    assert_string_equal(d.items[2], "e@f");
    assert_int_equal(blocklist_decode(&d, bad, strlen(bad), 2), 2);
    assert_int_equal(d.n, 2);
    assert_int_equal(blocklist_decode(&d, "", 0, 10), 0);
    assert_int_equal(d.n, 0);
    buf_release(&out);
    blocklist_release(&b);
    blocklist_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matching_table),
        cmocka_unit_test(empty_and_invalid),
        cmocka_unit_test(add_remove_keeps_order),
        cmocka_unit_test(encode_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
