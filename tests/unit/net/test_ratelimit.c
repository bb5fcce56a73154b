/* test_ratelimit.c - failure windows, lockouts, connection counts and the
 * table bound of src/net/ratelimit.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "net/ratelimit.h"

enum op { FAIL, LOCKED, FAILURES, CLEAR, INC, DEC, COUNT };

struct step {
    enum op op;
    const char *key;
    time_t now;
    unsigned expect;            /* return value, or table size for COUNT */
};

static void run_steps(struct ratelimit *rl, const struct step *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned got = 0;
        switch (s[i].op) {
        case FAIL: got = ratelimit_fail(rl, s[i].key, s[i].now); break;
        case LOCKED: got = ratelimit_locked(rl, s[i].key, s[i].now); break;
        case FAILURES: got = ratelimit_failures(rl, s[i].key, s[i].now); break;
        case CLEAR: ratelimit_clear(rl, s[i].key); got = s[i].expect; break;
        case INC: got = ratelimit_conn_inc(rl, s[i].key); break;
        case DEC: ratelimit_conn_dec(rl, s[i].key); got = s[i].expect; break;
        case COUNT: got = (unsigned)ratelimit_count(rl); break;
        }
        if (got != s[i].expect) {
            print_error("step %zu: op %d key %s now %lld: got %u, expected %u\n",
                        i, (int)s[i].op, s[i].key ? s[i].key : "-",
                        (long long)s[i].now, got, s[i].expect);
            fail();
        }
    }
}

/* max 3, window 60 s, lockout 300 s */
static const struct step window_steps[] = {
    { FAIL, "192.0.2.1", 1000, 1 },
    { FAIL, "192.0.2.1", 1010, 2 },
    { FAILURES, "192.0.2.1", 1059, 2 },
    { LOCKED, "192.0.2.1", 1059, 0 },
    { FAILURES, "192.0.2.2", 1059, 0 },       /* other keys are separate */
    { COUNT, NULL, 0, 1 },
    /* the window opened at 1000 and closes at 1060, not 60 s after the
     * last failure */
    { FAILURES, "192.0.2.1", 1060, 0 },
    { COUNT, NULL, 0, 0 },                    /* expired entry is dropped */
    { FAIL, "192.0.2.1", 1061, 1 },
    { FAIL, "192.0.2.1", 1120, 2 },
    { FAIL, "192.0.2.1", 1121, 1 },           /* new window from 1121 */
};

static const struct step lockout_steps[] = {
    { FAIL, "2001:db8::1", 1000, 1 },
    { FAIL, "2001:db8::1", 1001, 2 },
    { LOCKED, "2001:db8::1", 1001, 0 },
    { FAIL, "2001:db8::1", 1002, 3 },
    { LOCKED, "2001:db8::1", 1002, 300 },
    { LOCKED, "2001:db8::1", 1100, 202 },
    /* the window (60 s) does not expire under a lock */
    { FAILURES, "2001:db8::1", 1100, 3 },
    /* failing while locked counts but does not extend the lock */
    { FAIL, "2001:db8::1", 1200, 4 },
    { LOCKED, "2001:db8::1", 1301, 1 },
    { LOCKED, "2001:db8::1", 1302, 0 },
    /* a lock's end gives a full new allowance */
    { FAILURES, "2001:db8::1", 1302, 0 },
    { COUNT, NULL, 0, 0 },
    { FAIL, "2001:db8::1", 1303, 1 },
    { LOCKED, "2001:db8::1", 1303, 0 },
};

static const struct step clear_steps[] = {
    { FAIL, "a", 10, 1 },
    { FAIL, "a", 11, 2 },
    { FAIL, "a", 12, 3 },
    { LOCKED, "a", 12, 300 },
    { FAIL, "b", 12, 1 },
    { CLEAR, "a", 0, 0 },
    { LOCKED, "a", 13, 0 },
    { FAILURES, "a", 13, 0 },
    { FAILURES, "b", 13, 1 },                 /* untouched */
    { COUNT, NULL, 0, 1 },
    { CLEAR, "nope", 0, 0 },
    { COUNT, NULL, 0, 1 },
};

static const struct step conn_steps[] = {
    { INC, "a", 0, 1 },
    { INC, "a", 0, 2 },
    { INC, "b", 0, 1 },
    { COUNT, NULL, 0, 2 },
    { DEC, "a", 0, 0 },
    { COUNT, NULL, 0, 2 },
    { INC, "a", 0, 2 },
    { DEC, "a", 0, 0 },
    { DEC, "a", 0, 0 },
    { COUNT, NULL, 0, 1 },                    /* a held nothing: removed */
    { DEC, "a", 0, 0 },                       /* unknown: no-op */
    { DEC, "b", 0, 0 },
    { COUNT, NULL, 0, 0 },
    /* an entry with a connection and a failure survives either alone */
    { INC, "c", 5, 1 },
    { FAIL, "c", 5, 1 },
    { CLEAR, "c", 0, 0 },
    { COUNT, NULL, 0, 1 },
    { INC, "c", 5, 2 },
    { FAIL, "c", 6, 1 },
    { DEC, "c", 0, 0 },
    { DEC, "c", 0, 0 },
    { COUNT, NULL, 0, 1 },                    /* failure still counted */
    { FAILURES, "c", 6, 1 },
    { FAILURES, "c", 66, 0 },
    { COUNT, NULL, 0, 0 },
};

static void window(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 300);
    run_steps(rl, window_steps, sizeof(window_steps) / sizeof(window_steps[0]));
    ratelimit_free(rl);
}

static void lockout(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 300);
    run_steps(rl, lockout_steps, sizeof(lockout_steps) / sizeof(lockout_steps[0]));
    ratelimit_free(rl);
}

static void clear(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 300);
    run_steps(rl, clear_steps, sizeof(clear_steps) / sizeof(clear_steps[0]));
    ratelimit_free(rl);
}

static void conns(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 300);
    run_steps(rl, conn_steps, sizeof(conn_steps) / sizeof(conn_steps[0]));
    ratelimit_free(rl);
}

static void configure(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(0, 60, 300);
    /* max 0: count, never lock */
    for (unsigned i = 1; i <= 10; i++)
        assert_int_equal(ratelimit_fail(rl, "k", 100), i);
    assert_int_equal(ratelimit_locked(rl, "k", 100), 0);
    ratelimit_configure(rl, 2, 10, 50);
    ratelimit_clear(rl, "k");
    assert_int_equal(ratelimit_fail(rl, "k", 200), 1);
    assert_int_equal(ratelimit_fail(rl, "k", 201), 2);
    assert_int_equal(ratelimit_locked(rl, "k", 201), 50);
    /* a lockout shorter than the window: its end still resets the count,
     * so the next failure does not re-lock at once */
    ratelimit_configure(rl, 2, 600, 30);
    assert_int_equal(ratelimit_fail(rl, "s", 1000), 1);
    assert_int_equal(ratelimit_fail(rl, "s", 1001), 2);
    assert_int_equal(ratelimit_locked(rl, "s", 1030), 1);
    assert_int_equal(ratelimit_locked(rl, "s", 1031), 0);
    assert_int_equal(ratelimit_failures(rl, "s", 1031), 0);
    assert_int_equal(ratelimit_fail(rl, "s", 1032), 1);
    assert_int_equal(ratelimit_locked(rl, "s", 1032), 0);
    ratelimit_free(rl);
}

/* Deletion shifts entries back; check every key stays findable with its
 * own count through a long random mix, against a reference array. */
static void many_inserts_and_deletes(void **state)
{
    (void)state;
    enum { NKEYS = 3000, NOPS = 200000 };
    struct ratelimit *rl = ratelimit_new(3, 60, 300);
    static unsigned ref[NKEYS];
    memset(ref, 0, sizeof(ref));
    uint32_t x = 12345;
    size_t live = 0;
    for (int op = 0; op < NOPS; op++) {
        x = x * 1103515245u + 12345u;
        unsigned k = (x >> 8) % NKEYS;
        char key[32];
        snprintf(key, sizeof(key), "10.0.%u.%u", k / 256, k % 256);
        if ((x >> 30) & 1) {
            unsigned n = ratelimit_conn_inc(rl, key);
            if (ref[k]++ == 0)
                live++;
            assert_int_equal(n, ref[k]);
        } else {
            ratelimit_conn_dec(rl, key);
            if (ref[k] > 0 && --ref[k] == 0)
                live--;
        }
        if (op % 1000 == 0)
            assert_int_equal(ratelimit_count(rl), live);
    }
    assert_int_equal(ratelimit_count(rl), live);
    /* One more connection each reports the reference count + 1. */
    for (unsigned k = 0; k < NKEYS; k++) {
        char key[32];
        snprintf(key, sizeof(key), "10.0.%u.%u", k / 256, k % 256);
        assert_int_equal(ratelimit_conn_inc(rl, key), ref[k] + 1);
    }
    ratelimit_free(rl);
}

/* A flood of addresses cannot grow the table past its cap, entries
 * holding connections survive the eviction, and expired entries are
 * swept when the table fills up. */
static void table_bound(void **state)
{
    (void)state;
    enum { CAP = 65536, NCONN = 100 };
    struct ratelimit *rl = ratelimit_new(5, 60, 300);
    char key[64];
    for (int i = 0; i < NCONN; i++) {
        snprintf(key, sizeof(key), "conn-%d", i);
        assert_int_equal(ratelimit_conn_inc(rl, key), 1);
    }
    for (int i = 0; i < 3 * CAP; i++) {
        snprintf(key, sizeof(key), "2001:db8::%x:%x", i >> 16, i & 0xffff);
        assert_int_equal(ratelimit_fail(rl, key, 1000), 1);
        assert_true(ratelimit_count(rl) <= CAP);
    }
    assert_int_equal(ratelimit_count(rl), CAP);
    /* the newest key is still there */
    assert_int_equal(ratelimit_failures(rl, key, 1000), 1);
    for (int i = 0; i < NCONN; i++) {
        snprintf(key, sizeof(key), "conn-%d", i);
        assert_int_equal(ratelimit_conn_inc(rl, key), 2);
    }
    /* Later, every failure entry has expired: the next new key sweeps
     * them and only the connection holders and the new key remain. */
    assert_int_equal(ratelimit_fail(rl, "198.51.100.7", 2000), 1);
    assert_int_equal(ratelimit_count(rl), NCONN + 1);
    ratelimit_free(rl);
}

/* Keys are bounded to 128 bytes; longer ones must not overflow. */
static void long_keys(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 300);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ratelimit_fail(rl, big, 1), 1);
    assert_int_equal(ratelimit_fail(rl, big, 2), 2);
    assert_int_equal(ratelimit_failures(rl, big, 2), 2);
    assert_int_equal(ratelimit_count(rl), 1);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window),
        cmocka_unit_test(lockout),
        cmocka_unit_test(clear),
        cmocka_unit_test(conns),
        cmocka_unit_test(configure),
        cmocka_unit_test(many_inserts_and_deletes),
        cmocka_unit_test(table_bound),
        cmocka_unit_test(long_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
