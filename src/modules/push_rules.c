/*
 * push_rules.c - the pure parts of Push Notifications (XEP-0357 §5, §7,
 * §11.3.1).  See push_rules.h.
 */
#include "modules/push_rules.h"

#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "xml/xml.h"

char *push_key(const char *jid, const char *node)
{
    size_t jl = strlen(jid), nl = node ? strlen(node) : 0;
    char *k = pl_malloc(jl + nl + 2);
    memcpy(k, jid, jl);
    k[jl] = '\n';
    if (nl)
        memcpy(k + jl + 1, node, nl);
    k[jl + 1 + nl] = '\0';
    return k;
}

bool push_key_has_jid(const char *key, const char *jid)
{
    size_t jl = strlen(jid);
    return strncmp(key, jid, jl) == 0 && key[jl] == '\n';
}

bool push_is_notable(const struct xml_node *msg)
{
    static const char *const quiet[] = {
        "http://jabber.org/protocol/chatstates",    /* XEP-0085 */
        "urn:xmpp:receipts",                        /* XEP-0184 */
        "urn:xmpp:chat-markers:0",                  /* XEP-0333 */
        "urn:xmpp:hints",                           /* XEP-0334 */
        "urn:xmpp:sid:0",                           /* XEP-0359 ids */
        "urn:xmpp:delay",                           /* XEP-0203 */
        NULL,
    };
    for (const struct xml_node *c = msg->children; c; c = c->next) {
        if (c->kind != XML_ELEMENT)
            continue;
        if (strcmp(c->ns, XML_NS_CLIENT) == 0) {
            if (strcmp(c->name, "body") == 0)
                return true;
            continue;           /* thread, subject alone: no */
        }
        bool is_quiet = false;
        for (size_t i = 0; quiet[i] && !is_quiet; i++)
            is_quiet = strcmp(c->ns, quiet[i]) == 0;
        if (!is_quiet)
            return true;
    }
    return false;
}

bool push_rate_allows(long long last, long long now, long long interval)
{
    return last == 0 || now - last >= interval || now < last;
}

static void add_field(struct arena *a, struct xml_node *x, const char *var,
                      const char *type, const char *value)
{
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "var", var);
    if (type)
        xml_set_attr(a, f, "type", type);
    xml_add_text_child(a, f, NULL, "value", value);
}

/* The longest prefix of s of at most max bytes that does not split a
 * UTF-8 sequence (s is valid UTF-8: it came through the parser). */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

struct stanza *push_publish_new(const char *from, const char *to, const char *node,
                                const char *id, const struct push_summary *sum,
                                const struct xml_node *options)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
    struct arena *a = st->arena;
    xml_set_attr(a, st->root, "type", "set");
    xml_set_attr(a, st->root, "from", from);
    xml_set_attr(a, st->root, "to", to);
    xml_set_attr(a, st->root, "id", id);
    struct xml_node *ps = xml_add_child(a, st->root, NS_PUBSUB, "pubsub");
    struct xml_node *pub = xml_add_child(a, ps, NULL, "publish");
    if (node)
        xml_set_attr(a, pub, "node", node);
    struct xml_node *item = xml_add_child(a, pub, NULL, "item");
    struct xml_node *n = xml_add_child(a, item, NS_PUSH, "notification");
    struct xml_node *x = xml_add_child(a, n, NS_XDATA, "x");
    xml_set_attr(a, x, "type", "submit");
    add_field(a, x, "FORM_TYPE", "hidden", PUSH_SUMMARY);
    char count[24];
    snprintf(count, sizeof(count), "%lu", sum->message_count);
    add_field(a, x, "message-count", NULL, count);
    if (sum->sender)
        add_field(a, x, "last-message-sender", NULL, sum->sender);
    if (sum->body) {
        size_t len = utf8_cut(sum->body, PUSH_BODY_MAX);
        struct xml_node *f = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, f, "var", "last-message-body");
        struct xml_node *v = xml_add_child(a, f, NULL, "value");
        xml_add_text(a, v, sum->body, len);
    }
    if (options) {
        /* §7: "the publish request SHOULD include the data as publish
         * options". */
        struct xml_node *po = xml_add_child(a, ps, NULL, "publish-options");
        xml_append(po, xml_copy(a, options));
    }
    return st;
}

/* RFC 6120 §8.3.3: the defined conditions whose type is 'wait'. */
static bool wait_condition(const char *name)
{
    return strcmp(name, "remote-server-timeout") == 0
        || strcmp(name, "resource-constraint") == 0;
}

enum push_failure push_error_kind(const struct xml_node *iq)
{
    const struct xml_node *err = xml_child(iq, NULL, "error");
    if (!err)
        return PUSH_FAIL_PERMANENT;     /* an error without <error/>: nothing to wait for */
    const char *type = xml_attr(err, "type");
    if (type)
        return strcmp(type, "wait") == 0 ? PUSH_FAIL_TEMPORARY : PUSH_FAIL_PERMANENT;
    for (const struct xml_node *c = xml_child(err, "urn:ietf:params:xml:ns:xmpp-stanzas", NULL);
         c; c = xml_next(c, "urn:ietf:params:xml:ns:xmpp-stanzas", NULL))
        if (strcmp(c->name, "text") != 0)
            return wait_condition(c->name) ? PUSH_FAIL_TEMPORARY : PUSH_FAIL_PERMANENT;
    return PUSH_FAIL_PERMANENT;
}

unsigned push_retry_delay(unsigned base, unsigned attempt, unsigned cap)
{
    if (base == 0)
        base = 1;
    if (cap < base)
        cap = base;
    unsigned d = base;
    for (unsigned i = 1; i < attempt && d < cap; i++)
        d = d > cap / 2 ? cap : d * 2;
    return d < cap ? d : cap;
}

const char *push_affiliation_revoked(const struct xml_node *msg, const char *user)
{
    if (strcmp(msg->name, "message") != 0)
        return NULL;
    const char *type = xml_attr(msg, "type");
    if (type && strcmp(type, "error") == 0)
        return NULL;
    const struct xml_node *ps = xml_child(msg, NS_PUBSUB, "pubsub");
    const char *node = ps ? xml_attr(ps, "node") : NULL;
    if (!node)
        return NULL;
    for (const struct xml_node *af = xml_child(ps, NS_PUBSUB, "affiliation"); af;
         af = xml_next(af, NS_PUBSUB, "affiliation")) {
        const char *jid = xml_attr(af, "jid");
        const char *aff = xml_attr(af, "affiliation");
        if (jid && aff && strcmp(jid, user) == 0 && strcmp(aff, "none") == 0)
            return node;
    }
    return NULL;
}
