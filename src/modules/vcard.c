/*
 * vcard.c - vcard-temp (XEP-0054).
 *
 *   §3.1  a user reads its own vCard: the stored one, or an empty
 *         <vCard/> when there is none (one of the two answers allowed);
 *   §3.2  a user replaces its own vCard (whole, no partial update);
 *         setting anyone else's: <forbidden/>;
 *   §3.3  anyone reads another account's vCard at its bare JID, answered
 *         by the server (IQ_TO_BARE); none stored: <service-unavailable/>,
 *         the same answer as for an account that does not exist (the
 *         router's), so a vCard query cannot probe for accounts;
 *   §4    disco feature "vcard-temp".
 *
 * Storage: kv area "vcard", key "vcard", the element as text (xmldoc.c).
 * A vCard larger than the module's max_size is refused <not-acceptable/>.
 */
#include <stdbool.h>
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

#define NS_VCARD "vcard-temp"
#define KV_AREA  "vcard"
#define KV_KEY   "vcard"

struct vcard_conf {
    size_t max_size;            /* bytes of one stored vCard */
};

struct vcard_req {
    struct server *srv;
    struct stanza *iq;          /* referenced (and held for a set) */
    bool own;                   /* get: the requester's own vCard */
};

static void set_done(const struct store_result *res, void *ud)
{
    struct vcard_req *r = ud;
    if (!r->srv->stopping) {
        if (res->status == STORE_OK) {
            struct stanza *ok;
            iq_reply_result(r->iq, NULL, NULL, &ok);
            router_route(r->srv, ok);
            stanza_unref(ok);
        } else {
            log_error("vcard: cannot store the vCard of %s (status %d)",
                      xml_attr(r->iq->root, "from"), res->status);
            router_bounce(r->srv, r->iq, "wait", "internal-server-error",
                          "the vCard could not be stored");
        }
    }
    stanza_unhold(r->iq);
    stanza_unref(r->iq);
    free(r);
}

static void get_done(const struct store_result *res, void *ud)
{
    struct vcard_req *r = ud;
    struct server *srv = r->srv;
    if (srv->stopping)
        goto out;
    if (res->status != STORE_OK && res->status != STORE_NOT_FOUND) {
        router_bounce(srv, r->iq, "wait", "internal-server-error",
                      "the vCard could not be read");
        goto out;
    }
    struct stanza *doc = res->status == STORE_OK ? xmldoc_decode(res->value, res->value_len)
                                                 : NULL;
    if (res->status == STORE_OK && !doc)
        log_error("vcard: unreadable stored vCard for %s", xml_attr(r->iq->root, "to"));
    if (!doc && !r->own) {
        router_bounce(srv, r->iq, "cancel", "service-unavailable", "no vCard");
        goto out;
    }
    struct stanza *ok;
    iq_reply_result(r->iq, NULL, NULL, &ok);
    if (doc) {
        xml_append(ok->root, xml_copy(ok->arena, doc->root));
        stanza_unref(doc);
    } else {
        xml_add_child(ok->arena, ok->root, NS_VCARD, "vCard");
    }
    router_route(srv, ok);
    stanza_unref(ok);
out:
    stanza_unref(r->iq);
    free(r);
}

static void vcard_iq(struct server *srv, struct stanza *req, struct xml_node *v, void *ud)
{
    const struct pl_module_ctx *m = ud;
    const struct vcard_conf *c = m->conf;
    const char *from_s = xml_attr(req->root, "from");
    const char *to_s = xml_attr(req->root, "to");
    struct jid *from = from_s ? jid_parse(from_s) : NULL;
    /* No 'to': the sender's own account (RFC 6120 §10.3). */
    struct jid *target = jid_parse(to_s ? to_s : from_s ? from_s : "");
    bool set = strcmp(xml_attr(req->root, "type"), "set") == 0;
    if (!from || !target || !target->local) {
        router_bounce(srv, req, "modify", "bad-request", "invalid address");
        goto out;
    }
    if (strcmp(v->name, "vCard") != 0) {
        router_bounce(srv, req, "modify", "bad-request", "expected <vCard/>");
        goto out;
    }
    bool own = from->local && strcmp(from->bare, target->bare) == 0;
    struct vcard_req *r = pl_calloc(1, sizeof(*r));
    r->srv = srv;
    r->own = own;
    if (!set) {
        r->iq = stanza_ref(req);
        store_kv_get(srv->store, target->local, target->domain, KV_AREA, KV_KEY, get_done, r);
        goto out;
    }
    if (!own) {
        /* §3.2: "SHOULD be <forbidden/> or <not-allowed/>" */
        router_bounce(srv, req, "auth", "forbidden", "a vCard is set by its owner only");
        free(r);
        goto out;
    }
    struct buf b = BUF_INIT;
    xmldoc_encode(v, &b);
    if (b.len > c->max_size) {
        router_bounce(srv, req, "modify", "not-acceptable",
                      arena_printf(req->arena, "a vCard is limited to %zu bytes", c->max_size));
        buf_release(&b);
        free(r);
        goto out;
    }
    r->iq = stanza_ref(req);
    stanza_hold(req);
    store_kv_set(srv->store, target->local, target->domain, KV_AREA, KV_KEY, b.data, b.len,
                 set_done, r);
    buf_release(&b);
out:
    jid_free(from);
    jid_free(target);
}

static int vcard_load(struct pl_module_ctx *m)
{
    pl_iq_handle(m, IQ_TO_BARE, NS_VCARD, vcard_iq);
    pl_disco_feature(m, IQ_TO_HOST, NS_VCARD);
    pl_disco_feature(m, IQ_TO_BARE, NS_VCARD);
    return 0;
}

static const struct conf_option vcard_options[] = {
    { "max_size", CONF_SIZE, offsetof(struct vcard_conf, max_size), "64KiB", 256,
      16 * 1024 * 1024, NULL, 0,
      "Largest vCard a user may store, in bytes as stored (more are refused with not-acceptable)" },
    CONF_END
};

const struct pl_module pl_module_vcard = {
    .name = "vcard",
    .doc = "vcard-temp (XEP-0054): users' vCards, stored by the server.",
    .conf_size = sizeof(struct vcard_conf),
    .options = vcard_options,
    .load = vcard_load,
};
