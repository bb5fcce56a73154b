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
