/*
 * private.c - Private XML Storage (XEP-0049).
 *
 * A user stores any element (by name and namespace) in jabber:iq:private
 * and reads it back: kv area "private", one row per element, keyed
 * "{namespace}name" (Clark notation: a name never contains '}').
 *
 *   §2.3  get: one child, returned as stored or empty when nothing is;
 *         set: one or more children, each stored (all committed before
 *         the result is sent); only the account's own resources (§4),
 *         others get <forbidden/>; no child: <not-acceptable/> for a set,
 *         <bad-request/> (the XEP's "Bad Format") for a get; reserved
 *         namespaces ("jabber:", "http://jabber.org/", vcard-temp; §2.3
 *         makes refusing them optional, we refuse) <not-acceptable/>.
 *
 * Namespaces beginning with "urn:xmpp:parley:" belong to the server (ban
 * records, issue 5): no client may read or write them here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "modules/xmldoc.h"
#include "storage/store.h"
#include "xml/xml.h"

#define NS_PRIVATE      "jabber:iq:private"
#define NS_PARLEY_PREFIX "urn:xmpp:parley:"
#define KV_AREA         "private"
/* Elements one set may store: a set is answered once all are committed,
 * so this bounds the work one stanza starts. */
#define MAX_PER_SET     16

struct private_conf {
    size_t max_size;            /* bytes of one stored element */
};

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* NULL when the element may be stored, else the refusal's text (the
 * condition is <not-acceptable/>, or <bad-request/> when *bad_out). */
static const char *ns_refusal(const char *ns, bool *bad_out)
{
    *bad_out = false;
    if (!ns || !*ns) {
        *bad_out = true;
        return "the stored element needs a namespace of its own";
    }
    if (starts_with(ns, NS_PARLEY_PREFIX))
        return "this namespace is reserved for the server";
    if (starts_with(ns, "jabber:") || starts_with(ns, "http://jabber.org/") ||
        strcmp(ns, "vcard-temp") == 0)
        return "reserved namespace (XEP-0049 §2.3)";
    return NULL;
}

static char *key_of(const struct xml_node *el)
{
    size_t n = strlen(el->ns) + strlen(el->name) + 3;
    char *k = pl_malloc(n);
    snprintf(k, n, "{%s}%s", el->ns, el->name);
    return k;
}

/* --- set ---------------------------------------------------------------- */

struct set_req {
    struct server *srv;
    struct stanza *iq;          /* referenced and held */
    unsigned pending;           /* writes not yet completed */
    int status;                 /* the first failure, else STORE_OK */
};

static void set_done(const struct store_result *res, void *ud)
{
    struct set_req *r = ud;
    if (res->status != STORE_OK && r->status == STORE_OK)
        r->status = res->status;
    if (--r->pending > 0)
        return;
    if (!r->srv->stopping) {
        if (r->status == STORE_OK) {
            struct stanza *ok;
            iq_reply_result(r->iq, NULL, NULL, &ok);
            router_route(r->srv, ok);
            stanza_unref(ok);
        } else {
            log_error("private: cannot store for %s (status %d)",
                      xml_attr(r->iq->root, "from"), r->status);
            router_bounce(r->srv, r->iq, "wait", "internal-server-error",
                          "the private data could not be stored");
        }
    }
    stanza_unhold(r->iq);
    stanza_unref(r->iq);
    free(r);
}

static void do_set(struct server *srv, const struct private_conf *c, struct stanza *req,
                   const struct jid *user, struct xml_node *q)
{
    size_t n = xml_child_count(q);
    if (n == 0) {
        router_bounce(srv, req, "modify", "not-acceptable",
                      "a set needs the element to store (XEP-0049 §2.3)");
        return;
    }
    if (n > MAX_PER_SET) {
        router_bounce(srv, req, "modify", "not-acceptable",
                      arena_printf(req->arena, "at most %d elements per set", MAX_PER_SET));
        return;
    }
    /* Check everything before writing anything. */
    for (struct xml_node *el = xml_child(q, NULL, NULL); el; el = xml_next(el, NULL, NULL)) {
        bool bad;
        const char *why = ns_refusal(el->ns, &bad);
        if (why) {
            router_bounce(srv, req, "modify", bad ? "bad-request" : "not-acceptable", why);
            return;
        }
        if (xmldoc_size(el) > c->max_size) {
            router_bounce(srv, req, "modify", "not-acceptable",
                          arena_printf(req->arena, "a stored element is limited to %zu bytes",
                                       c->max_size));
            return;
        }
    }
    struct set_req *r = pl_calloc(1, sizeof(*r));
    r->srv = srv;
    r->iq = stanza_ref(req);
    stanza_hold(req);
    r->pending = (unsigned)n;
    r->status = STORE_OK;
    for (struct xml_node *el = xml_child(q, NULL, NULL); el; el = xml_next(el, NULL, NULL)) {
        char *key = key_of(el);
        struct buf v = BUF_INIT;
        xmldoc_encode(el, &v);
        store_kv_set(srv->store, user->local, user->domain, KV_AREA, key, v.data, v.len,
                     set_done, r);
        buf_release(&v);
        free(key);
    }
}

/* --- get ---------------------------------------------------------------- */

struct get_req {
    struct server *srv;
    struct stanza *iq;          /* referenced */
};

static void get_done(const struct store_result *res, void *ud)
{
    struct get_req *r = ud;
    struct server *srv = r->srv;
    if (srv->stopping)
        goto out;
    if (res->status != STORE_OK && res->status != STORE_NOT_FOUND) {
        router_bounce(srv, r->iq, "wait", "internal-server-error",
                      "the private data could not be read");
        goto out;
    }
    struct stanza *ok;
    struct xml_node *q = iq_reply_result(r->iq, NS_PRIVATE, "query", &ok);
    struct xml_node *asked = xml_child(xml_child(r->iq->root, NS_PRIVATE, "query"), NULL, NULL);
    struct stanza *doc = res->status == STORE_OK ? xmldoc_decode(res->value, res->value_len)
                                                 : NULL;
    if (res->status == STORE_OK && !doc)
        log_error("private: unreadable stored element for %s", xml_attr(r->iq->root, "from"));
    if (doc) {
        xml_append(q, xml_copy(ok->arena, doc->root));
        stanza_unref(doc);
    } else {
        /* Nothing stored: the element asked for, empty (as in §2.3's
         * examples, a result always names what was asked). */
        xml_add_child(ok->arena, q, asked->ns, asked->name);
    }
    router_route(srv, ok);
    stanza_unref(ok);
out:
    stanza_unref(r->iq);
    free(r);
}

static void do_get(struct server *srv, struct stanza *req, const struct jid *user,
                   struct xml_node *q)
{
    size_t n = xml_child_count(q);
    if (n != 1) {
        /* §2.3: "Bad Format" without a child (XEP-0086 maps it to
         * bad-request); one namespace per get. */
        router_bounce(srv, req, "modify", "bad-request",
                      n ? "a get names exactly one element"
                        : "a get names the element to retrieve");
        return;
    }
    struct xml_node *el = xml_child(q, NULL, NULL);
    bool bad;
    const char *why = ns_refusal(el->ns, &bad);
    if (why) {
        router_bounce(srv, req, "modify", bad ? "bad-request" : "not-acceptable", why);
        return;
    }
    struct get_req *r = pl_malloc(sizeof(*r));
    r->srv = srv;
    r->iq = stanza_ref(req);
    char *key = key_of(el);
    store_kv_get(srv->store, user->local, user->domain, KV_AREA, key, get_done, r);
    free(key);
}

static void private_iq(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    const struct pl_module_ctx *m = ud;
    const char *from_s = xml_attr(req->root, "from");
    const char *to_s = xml_attr(req->root, "to");
    struct jid *from = from_s ? jid_parse(from_s) : NULL;
    struct jid *to = to_s ? jid_parse(to_s) : NULL;
    if (!from || !from->local || (to && strcmp(to->bare, from->bare) != 0)) {
        /* §2.3 / §4: only the user's own resources; <forbidden/> is the
         * preferred answer. */
        router_bounce(srv, req, "cancel", "forbidden",
                      "private data belongs to its account only");
        goto out;
    }
    if (strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "modify", "bad-request", "expected <query/>");
        goto out;
    }
    if (strcmp(xml_attr(req->root, "type"), "set") == 0)
        do_set(srv, m->conf, req, from, q);
    else
        do_get(srv, req, from, q);
out:
    jid_free(from);
    jid_free(to);
}

static int private_load(struct pl_module_ctx *m)
{
    pl_iq_handle(m, IQ_TO_BARE, NS_PRIVATE, private_iq);
    pl_disco_feature(m, IQ_TO_BARE, NS_PRIVATE);
    return 0;
}

static const struct conf_option private_options[] = {
    { "max_size", CONF_SIZE, offsetof(struct private_conf, max_size), "64KiB", 256,
      16 * 1024 * 1024, NULL, 0,
      "Largest element a user may store, in bytes as stored (more are refused with not-acceptable)" },
    CONF_END
};

const struct pl_module pl_module_private = {
    .name = "private",
    .doc = "Private XML storage (XEP-0049).",
    .conf_size = sizeof(struct private_conf),
    .options = private_options,
    .load = private_load,
};
