/*
 * disco.c - service discovery (XEP-0030) for the server and for accounts.
 *
 * disco#info on the domain lists the server identity and every feature
 * the enabled modules registered for the host; on an account's bare JID
 * (answered by the server on its behalf, RFC 6121 §8.5.2.1.3) the account
 * identity and the features registered for accounts.
 *
 * A query with a 'node' goes to the module that registered that node
 * (pl_disco_node: the ad-hoc commands of XEP-0050 §2), else gets
 * <item-not-found/>.
 *
 * disco#items on the domain lists the local services that are its
 * subdomains (router_service_register(): the XEP-0045 service
 * conference.<host>), so clients find the MUC service (XEP-0045 §6.1,
 * XEP-0030 §4).  An account's items are empty.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "router/router.h"
#include "xml/xml.h"

#define NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

/* A query with a 'node': handed to the module that registered the node
 * (pl_disco_node), else <item-not-found/> (XEP-0030 §3.2 / §4.2: "If the
 * node does not exist ...").  True when the query had a node. */
static bool to_node(struct server *srv, struct stanza *req, struct xml_node *q,
                    enum iq_target t, const char *ns)
{
    const char *node = xml_attr(q, "node");
    if (!node)
        return false;
    /* The host whose nodes apply: the one addressed, or for an IQ without
     * 'to' (RFC 6120 §10.3) the sender's own. */
    const char *addr = xml_attr(req->root, "to");
    struct jid *j = jid_parse(addr ? addr : xml_attr(req->root, "from"));
    struct buf key = BUF_INIT;
    disco_node_ns(&key, ns, node);
    const struct iq_handler *h = j ? router_iq_find(srv->router, j->domain, t, key.data) : NULL;
    buf_release(&key);
    jid_free(j);
    if (h)
        h->fn(srv, req, q, h->ud);
    else
        router_bounce(srv, req, "cancel", "item-not-found", NULL);
    return true;
}

static void answer_info(struct server *srv, struct stanza *req, struct xml_node *q,
                        enum iq_target t, const char *category, const char *type)
{
    if (to_node(srv, req, q, t, NS_DISCO_INFO))
        return;
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(req, NS_DISCO_INFO, "query", &r);
    struct arena *a = r->arena;
    struct xml_node *id = xml_add_child(a, rq, NULL, "identity");
    xml_set_attr(a, id, "category", category);
    xml_set_attr(a, id, "type", type);
    if (t == IQ_TO_HOST)
        xml_set_attr(a, id, "name", "Parley");
    /* The host whose features apply: the one addressed, or for an IQ
     * without 'to' (RFC 6120 §10.3) the sender's own. */
    const char *addr = xml_attr(req->root, "to");
    struct jid *j = jid_parse(addr ? addr : xml_attr(req->root, "from"));
    size_t n = 0;
    const char *const *vars = router_features(srv->router, j ? j->domain : "", t, &n);
    size_t plen = strlen(DISCO_IDENTITY_PREFIX);
    /* Identities other modules added (PEP's pubsub/pep): "category type". */
    for (size_t i = 0; i < n; i++) {
        if (strncmp(vars[i], DISCO_IDENTITY_PREFIX, plen) != 0)
            continue;
        const char *ct = vars[i] + plen;
        const char *sp = strchr(ct, ' ');
        if (!sp)
            continue;
        struct xml_node *mid = xml_add_child(a, rq, NULL, "identity");
        xml_set_attr(a, mid, "category", arena_strndup(a, ct, (size_t)(sp - ct)));
        xml_set_attr(a, mid, "type", sp + 1);
    }
    for (size_t i = 0; i < n; i++)
        if (strncmp(vars[i], DISCO_IDENTITY_PREFIX, plen) != 0)
            xml_set_attr(a, xml_add_child(a, rq, NULL, "feature"), "var", vars[i]);
    jid_free(j);
    router_route(srv, r);
    stanza_unref(r);
}

static void host_info(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        return;
    }
    answer_info(srv, req, q, IQ_TO_HOST, "server", "im");
}

static void bare_info(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        return;
    }
    answer_info(srv, req, q, IQ_TO_BARE, "account", "registered");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The local services under host (domains ending in ".host"), sorted so
 * that the answer is stable. */
static void list_services(struct server *srv, struct arena *a, struct xml_node *q,
                          const char *host)
{
    const struct hashmap *m = &srv->router->services;
    size_t hl = strlen(host), n = 0, cap = 0;
    const char **v = NULL;
    const char *k;
    void *val;
    for (size_t i = 0; hashmap_next(m, &i, &k, &val);) {
        size_t kl = strlen(k);
        if (kl <= hl + 1 || k[kl - hl - 1] != '.' || strcmp(k + kl - hl, host) != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            v = pl_realloc(v, cap * sizeof(*v));
        }
        v[n++] = k;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++)
        xml_set_attr(a, xml_add_child(a, q, NULL, "item"), "jid", v[i]);
    free(v);
}

static void items(struct server *srv, struct stanza *req, struct xml_node *q,
                  enum iq_target t)
{
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        return;
    }
    if (to_node(srv, req, q, t, NS_DISCO_ITEMS))
        return;
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(req, NS_DISCO_ITEMS, "query", &r);
    const char *to = xml_attr(req->root, "to");
    if (to && !strchr(to, '@') && !strchr(to, '/'))
        list_services(srv, r->arena, rq, to);
    router_route(srv, r);
    stanza_unref(r);
}

static void host_items(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    items(srv, req, q, IQ_TO_HOST);
}

static void bare_items(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    items(srv, req, q, IQ_TO_BARE);
}

static int disco_load(struct pl_module_ctx *m)
{
    pl_iq_handle(m, IQ_TO_HOST, NS_DISCO_INFO, host_info);
    pl_iq_handle(m, IQ_TO_HOST, NS_DISCO_ITEMS, host_items);
    pl_iq_handle(m, IQ_TO_BARE, NS_DISCO_INFO, bare_info);
    pl_iq_handle(m, IQ_TO_BARE, NS_DISCO_ITEMS, bare_items);
    for (int t = 0; t < IQ_TARGET_COUNT; t++) {
        pl_disco_feature(m, (enum iq_target)t, NS_DISCO_INFO);
        pl_disco_feature(m, (enum iq_target)t, NS_DISCO_ITEMS);
    }
    return 0;
}

static const struct conf_option disco_options[] = { CONF_END };

const struct pl_module pl_module_disco = {
    .name = "disco",
    .doc = "Service discovery (XEP-0030) of the server and of accounts.",
    .options = disco_options,
    .load = disco_load,
};
