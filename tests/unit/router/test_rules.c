/*
 * test_rules.c - RFC 6121 §8.5 message delivery decisions, row by row of
 * the §8.5.4 summary table, plus the priority rules of §8.5.2.1.1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "router/rules.h"

#define R(a, p) { (a), (p) }

struct row {
    const char *what;
    const char *type;
    bool exists;
    size_t n;
    struct rule_resource res[4];
    enum msg_action want;
    bool pick[4];
};

static const struct row rows[] = {
    /* §8.5.1: the account does not exist. */
    { "no account, normal", "normal", false, 0, {{0}}, MSG_BOUNCE, {0} },
    { "no account, chat", "chat", false, 0, {{0}}, MSG_BOUNCE, {0} },
    { "no account, groupchat", "groupchat", false, 0, {{0}}, MSG_BOUNCE, {0} },
    { "no account, headline", "headline", false, 0, {{0}}, MSG_IGNORE, {0} },
    { "no account, error", "error", false, 0, {{0}}, MSG_IGNORE, {0} },
    /* §8.5.2.2.1: exists, no active resources. */
    { "offline, normal", "normal", true, 0, {{0}}, MSG_OFFLINE, {0} },
    { "offline, chat", "chat", true, 0, {{0}}, MSG_OFFLINE, {0} },
    { "offline, groupchat", "groupchat", true, 0, {{0}}, MSG_BOUNCE, {0} },
    { "offline, headline", "headline", true, 0, {{0}}, MSG_IGNORE, {0} },
    { "offline, error", "error", true, 0, {{0}}, MSG_IGNORE, {0} },
    /* Connected but not available (no initial presence yet) = no active resource. */
    { "connected only, chat", "chat", true, 1, { R(false, 5) }, MSG_OFFLINE, {0} },
    /* Only one resource, negative priority: as if none (§8.5.2.1.1 last para). */
    { "negative only, normal", "normal", true, 1, { R(true, -1) }, MSG_OFFLINE, {0} },
    { "negative only, chat", "chat", true, 1, { R(true, -5) }, MSG_OFFLINE, {0} },
    { "negative only, headline", "headline", true, 1, { R(true, -1) }, MSG_IGNORE, {0} },
    { "negative only, groupchat", "groupchat", true, 1, { R(true, -1) }, MSG_BOUNCE, {0} },
    /* One non-negative resource. */
    { "one, normal", "normal", true, 1, { R(true, 0) }, MSG_DELIVER, { true } },
    { "one, chat", "chat", true, 1, { R(true, 0) }, MSG_DELIVER, { true } },
    { "one, headline", "headline", true, 1, { R(true, 3) }, MSG_DELIVER, { true } },
    { "one, groupchat", "groupchat", true, 1, { R(true, 3) }, MSG_BOUNCE, {0} },
    { "one, error", "error", true, 1, { R(true, 3) }, MSG_IGNORE, {0} },
    /* Several: chat/normal to the highest priority (all of equal highest). */
    { "several, chat, one best", "chat", true, 3, { R(true, 1), R(true, 5), R(true, 0) },
      MSG_DELIVER, { false, true, false } },
    { "several, chat, tie", "chat", true, 3, { R(true, 5), R(true, 5), R(true, 0) },
      MSG_DELIVER, { true, true, false } },
    { "several, normal, tie", "normal", true, 3, { R(true, 2), R(true, 2), R(true, 2) },
      MSG_DELIVER, { true, true, true } },
    { "several, chat, negative skipped", "chat", true, 3, { R(true, -1), R(true, 0), R(false, 9) },
      MSG_DELIVER, { false, true, false } },
    /* Headline to every non-negative resource. */
    { "several, headline", "headline", true, 4,
      { R(true, 1), R(true, 5), R(true, -3), R(false, 7) },
      MSG_DELIVER, { true, true, false, false } },
    /* Unavailable resources never count, whatever their priority. */
    { "unavailable high ignored", "normal", true, 2, { R(false, 100), R(true, 1) },
      MSG_DELIVER, { false, true } },
};

static void table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        bool pick[4] = { false, false, false, false };
        enum msg_action got = rules_message(r->type, r->exists, r->res, r->n, pick);
        if (got != r->want)
            fail_msg("%s: action %d, want %d", r->what, got, r->want);
        if (got == MSG_DELIVER) {
            for (size_t k = 0; k < r->n; k++)
                if (pick[k] != r->pick[k])
                    fail_msg("%s: resource %zu picked=%d, want %d", r->what, k, pick[k],
                             r->pick[k]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
