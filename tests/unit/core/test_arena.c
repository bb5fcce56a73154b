/* test_arena.c - the stanza arena and the growable buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"

static void alloc_is_aligned_and_grows(void **state)
{
    (void)state;
    struct arena *a = arena_new(16);
    for (int i = 0; i < 1000; i++) {
        char *p = arena_alloc(a, (size_t)(i % 37) + 1);
        assert_int_equal((uintptr_t)p % 8, 0);
        memset(p, 'x', (size_t)(i % 37) + 1);
    }
    char *big = arena_alloc(a, 100000);
    memset(big, 0, 100000);
    assert_true(arena_used(a) >= 100000);
    arena_free(a);
}

static void strings(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_string_equal(arena_strdup(a, "hello"), "hello");
    assert_string_equal(arena_strndup(a, "hello", 3), "hel");
    assert_string_equal(arena_printf(a, "%d-%s", 42, "x"), "42-x");
    arena_free(a);
}

static void buf_basics(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_puts(&b, "abc");
    buf_putc(&b, 'd');
    buf_printf(&b, "%05d", 7);
    assert_string_equal(b.data, "abcd00007");
    assert_int_equal(b.len, 9);
    buf_clear(&b);
    assert_int_equal(b.len, 0);
    for (int i = 0; i < 10000; i++)
        buf_putc(&b, 'z');
    assert_int_equal(b.len, 10000);
    char *s = buf_detach(&b);
    assert_int_equal(strlen(s), 10000);
    assert_null(b.data);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alloc_is_aligned_and_grows),
        cmocka_unit_test(strings),
        cmocka_unit_test(buf_basics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
