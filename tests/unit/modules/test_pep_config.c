/*
 * test_pep_config.c - PEP node configuration forms: XEP-0060 §8.2.4
 * configure submissions, §7.1.5 publish-options preconditions (the
 * XEP-0223 and XEP-0402 option sets clients send), the stored encoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "modules/pep_config.h"
#include "xml/xml.h"

#define LIMIT 256

/* Builds <x type='submit'> with FORM_TYPE ft and var=value pairs
 * (NULL-terminated; a NULL value makes a field without <value/>). */
static struct xml_node *form(struct arena *a, const char *type, const char *ft,
                             const char *const *kv)
{
    struct xml_node *x = xml_new(a, "jabber:x:data", "x");
    xml_set_attr(a, x, "type", type);
    if (ft) {
        struct xml_node *f = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, f, "var", "FORM_TYPE");
        xml_set_attr(a, f, "type", "hidden");
        xml_add_text_child(a, f, NULL, "value", ft);
    }
    for (size_t i = 0; kv && kv[i]; i += 2) {
        struct xml_node *f = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, f, "var", kv[i]);
        if (kv[i + 1])
            xml_add_text_child(a, f, NULL, "value", kv[i + 1]);
    }
    return x;
}

static void test_defaults(void **state)
{
    (void)state;
    struct pep_config c;
    pep_config_default(&c, LIMIT);
    /* XEP-0163 §5. */
    assert_int_equal(c.access, PEP_ACCESS_PRESENCE);
    assert_int_equal(c.send_last, PEP_SEND_ON_SUB_AND_PRESENCE);
    assert_true(c.deliver_notifications);
    assert_true(c.deliver_payloads);
    assert_int_equal(c.max_items, 1);
}

struct set_case {
    const char *var, *value;
    int rc;
};

static const struct set_case set_cases[] = {
    { "pubsub#access_model", "open", PEP_FORM_OK },
    { "pubsub#access_model", "whitelist", PEP_FORM_OK },
    { "pubsub#access_model", "roster", PEP_FORM_REFUSED },
    { "pubsub#access_model", "bogus", PEP_FORM_BAD },
    { "pubsub#persist_items", "true", PEP_FORM_OK },
    { "pubsub#persist_items", "0", PEP_FORM_OK },
    { "pubsub#persist_items", "yes", PEP_FORM_BAD },
    { "pubsub#max_items", "max", PEP_FORM_OK },
    { "pubsub#max_items", "10", PEP_FORM_OK },
    { "pubsub#max_items", "0", PEP_FORM_REFUSED },
    { "pubsub#max_items", "257", PEP_FORM_REFUSED },
    { "pubsub#max_items", "-1", PEP_FORM_BAD },
    { "pubsub#max_items", "10x", PEP_FORM_BAD },
    { "pubsub#send_last_published_item", "never", PEP_FORM_OK },
    { "pubsub#send_last_published_item", "on_sub_and_presence", PEP_FORM_OK },
    { "pubsub#send_last_published_item", "sometimes", PEP_FORM_BAD },
    { "pubsub#notification_type", "headline", PEP_FORM_OK },
    { "pubsub#notification_type", "normal", PEP_FORM_REFUSED },
    { "pubsub#publish_model", "open", PEP_FORM_REFUSED },
    { "pubsub#unknown_option", "1", PEP_FORM_BAD },
};

static void test_set(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
        struct pep_config c;
        pep_config_default(&c, LIMIT);
        int rc = pep_config_set(&c, set_cases[i].var, set_cases[i].value, LIMIT);
        if (rc != set_cases[i].rc)
            fail_msg("%s=%s: got %d want %d", set_cases[i].var, set_cases[i].value, rc,
                     set_cases[i].rc);
    }
    struct pep_config c;
    pep_config_default(&c, LIMIT);
    assert_int_equal(pep_config_set(&c, "pubsub#max_items", "max", LIMIT), PEP_FORM_OK);
    assert_int_equal(c.max_items, LIMIT);
}

/* XEP-0402 §3.4's publish-options, as Conversations and Gajim send them. */
static const char *const bookmarks_opts[] = {
    "pubsub#persist_items", "true",
    "pubsub#max_items", "max",
    "pubsub#send_last_published_item", "never",
    "pubsub#access_model", "whitelist",
    NULL,
};

static void test_preconditions(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct pep_config c;
    const char *bad;
    pep_config_default(&c, LIMIT);

    /* A default node does not meet the bookmarks preconditions; the
     * first differing field is named. */
    struct xml_node *x = form(a, "submit", NS_PUBSUB_PUBLISH_OPTIONS, bookmarks_opts);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_REFUSED);
    assert_string_equal(bad, "pubsub#max_items");

    /* Configured as asked (the auto-create path), it does. */
    struct xml_node *cx = form(a, "submit", NS_PUBSUB_NODE_CONFIG, bookmarks_opts);
    assert_int_equal(pep_config_apply_form(&c, cx, NS_PUBSUB_NODE_CONFIG, LIMIT, &bad),
                     PEP_FORM_OK);
    assert_int_equal(c.access, PEP_ACCESS_WHITELIST);
    assert_int_equal(c.max_items, LIMIT);
    assert_int_equal(c.send_last, PEP_SEND_NEVER);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_OK);

    /* Only access_model differs (OMEMO asks for 'open'). */
    static const char *const open_opts[] = { "pubsub#access_model", "open", NULL };
    x = form(a, "submit", NS_PUBSUB_PUBLISH_OPTIONS, open_opts);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_REFUSED);
    assert_string_equal(bad, "pubsub#access_model");

    /* An unsupported value can never be met. */
    static const char *const roster_opts[] = { "pubsub#access_model", "roster", NULL };
    x = form(a, "submit", NS_PUBSUB_PUBLISH_OPTIONS, roster_opts);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_REFUSED);

    /* §7.1.5: unknown fields are rejected; so are forms without the
     * right FORM_TYPE, fields without a value, non-submit forms. */
    static const char *const unknown[] = { "pubsub#frobnicate", "1", NULL };
    x = form(a, "submit", NS_PUBSUB_PUBLISH_OPTIONS, unknown);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_BAD);
    assert_string_equal(bad, "pubsub#frobnicate");
    x = form(a, "submit", NS_PUBSUB_NODE_CONFIG, open_opts);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_BAD);
    x = form(a, "submit", NULL, open_opts);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_BAD);
    static const char *const novalue[] = { "pubsub#access_model", NULL, NULL };
    x = form(a, "submit", NS_PUBSUB_PUBLISH_OPTIONS, novalue);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_BAD);
    x = form(a, "form", NS_PUBSUB_PUBLISH_OPTIONS, open_opts);
    assert_int_equal(pep_config_check_preconditions(&c, x, LIMIT, &bad), PEP_FORM_BAD);

    /* A failed apply leaves the configuration unchanged. */
    struct pep_config before = c;
    static const char *const half[] = {
        "pubsub#access_model", "open", "pubsub#max_items", "nope", NULL,
    };
    x = form(a, "submit", NS_PUBSUB_NODE_CONFIG, half);
    assert_int_equal(pep_config_apply_form(&c, x, NS_PUBSUB_NODE_CONFIG, LIMIT, &bad),
                     PEP_FORM_BAD);
    assert_string_equal(bad, "pubsub#max_items");
    assert_true(pep_config_equal(&c, &before));
    arena_free(a);
}

static void test_encode_decode(void **state)
{
    (void)state;
    struct pep_config c, d;
    pep_config_default(&c, LIMIT);
    c.access = PEP_ACCESS_OPEN;
    c.max_items = 42;
    c.persist_items = false;
    c.send_last = PEP_SEND_NEVER;
    strcpy(c.title, "My = node");
    struct buf b = BUF_INIT;
    pep_config_encode(&c, &b);
    buf_putc(&b, '\0');
    pep_config_decode(&d, b.data, LIMIT);
    assert_true(pep_config_equal(&c, &d));
    /* A lowered limit clamps; unknown lines are skipped. */
    pep_config_decode(&d, b.data, 10);
    assert_int_equal(d.max_items, 10);
    pep_config_decode(&d, "pubsub#future=1\npubsub#access_model=whitelist", LIMIT);
    assert_int_equal(d.access, PEP_ACCESS_WHITELIST);
    buf_release(&b);
}

static void test_form_roundtrip(void **state)
{
    (void)state;
    /* The form we hand out, turned into a submission, applies cleanly. */
    struct arena *a = arena_new(0);
    struct pep_config c, d;
    pep_config_default(&c, LIMIT);
    c.access = PEP_ACCESS_WHITELIST;
    c.max_items = 7;
    struct xml_node *parent = xml_new(a, "http://jabber.org/protocol/pubsub#owner", "configure");
    pep_config_form(&c, a, parent, LIMIT);
    struct xml_node *x = xml_child(parent, "jabber:x:data", "x");
    assert_non_null(x);
    xml_set_attr(a, x, "type", "submit");
    pep_config_default(&d, LIMIT);
    const char *bad;
    assert_int_equal(pep_config_apply_form(&d, x, NS_PUBSUB_NODE_CONFIG, LIMIT, &bad),
                     PEP_FORM_OK);
    assert_true(pep_config_equal(&c, &d));
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_preconditions),
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_form_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
