/*
 * carbons.c - Message Carbons (XEP-0280).
 *
 * §4/§5: a client enables or disables carbons for its own session with an
 * IQ set (no 'to': the router dispatches it to the account's handlers).
 * Whether a session enabled carbons is a flag of the session (struct
 * session in router.h), so it survives a reload of this module and goes
 * with the session.
 * §7: after the router delivered a message (HOOK_MESSAGE_DELIVERED), every
 * other carbons-enabled, available resource of the recipient gets a
 * <received/> copy.
 * §8: a message a client sends (HOOK_STANZA_OUT with a session) gives the
 * sender's other enabled, available resources a <sent/> copy; the
 * original is then routed as usual (this hook never consumes it).
 * §11: a message reaching an account with a carbons wrapper not from the
 * account's own bare JID is forged and refused (HOOK_STANZA_IN).
 * The eligibility rules (§6.1, §9) are in carbons_rules.c.
 *
 */
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/carbons_rules.h"
#include "modules/modules.h"
#include "stream/sasl2.h"
#include "xml/xml.h"

/* --- §4, §5: enable / disable ------------------------------------------- */

static void toggle(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    if (strcmp(xml_attr(req->root, "type"), "set") != 0) {
        router_bounce(srv, req, "modify", "bad-request",
                      "carbons are enabled or disabled with an IQ set");
        return;
    }
    bool on = strcmp(q->name, "enable") == 0;
    if (!on && strcmp(q->name, "disable") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented",
                      "expected <enable/> or <disable/>");
        return;
    }
    struct jid *from = jid_parse(xml_attr(req->root, "from"));
    const char *to = xml_attr(req->root, "to");
    struct session *s = from ? sm_find(srv, from) : NULL;
    /* §4.1, §5.1: only a session of this account, for itself. */
    if (!s || (to && strcmp(to, from->bare) != 0)) {
        router_bounce(srv, req, "cancel", "not-allowed",
                      "carbons can only be changed by a session for itself");
        jid_free(from);
        return;
    }
    /* §10.1: enabling twice, or disabling twice, is no error. */
    s->carbons = on;
    jid_free(from);
    struct stanza *r;
    iq_reply_result(req, NULL, NULL, &r);
    router_route(srv, r);
    stanza_unref(r);
}

/* XEP-0386 §3.2: Bind2's inline enable (c2s calls it while binding). */
void carbons_enable_session(const struct pl_module_ctx *m, const char *full)
{
    struct jid *j = jid_parse(full);
    struct session *s = j ? sm_find(m->srv, j) : NULL;
    if (s)
        s->carbons = true;
    jid_free(j);
}

/* --- copies -------------------------------------------------------------- */

/* Sends a carbon of st in direction dir to every resource of acc that has
 * carbons enabled and is available, except the ones in skip[]. */
static void copy_to(struct server *srv, struct account *acc,
                    const struct stanza *st, enum carbons_dir dir,
                    struct session *const *skip, size_t nskip)
{
    for (struct session *o = acc->sessions; o; o = o->next) {
        if (!o->presence || !o->carbons)
            continue;
        bool skipped = false;
        for (size_t i = 0; i < nskip && !skipped; i++)
            skipped = skip[i] == o;
        if (skipped)
            continue;
        struct stanza *c = carbons_wrap(st, dir, acc->bare, o->jid->full);
        sm_deliver(srv, o, c);
        stanza_unref(c);
    }
}

/* §8: a message one of the user's clients sent. */
static enum hook_result on_out(struct hook_event *ev, void *ud)
{
    struct session *sender = ev->session;
    if (!sender || !carbons_is_eligible(ev->stanza->root, CARBONS_SENT))
        return HOOK_CONTINUE;
    /* §8: "excluding the sending client", whether it has carbons or not. */
    struct session *const skip[1] = { sender };
    (void)ud;
    copy_to(ev->srv, sender->account, ev->stanza, CARBONS_SENT, skip, 1);
    /* Never consumed: the original still goes to its recipient. */
    return HOOK_CONTINUE;
}

/* §7: a message the router wrote to ev->targets. */
static enum hook_result on_delivered(struct hook_event *ev, void *ud)
{
    (void)ud;
    const struct stanza *st = ev->stanza;
    if (!carbons_is_eligible(st->root, CARBONS_RECEIVED))
        return HOOK_CONTINUE;
    struct jid *to = jid_parse(xml_attr(st->root, "to"));
    struct jid *from = jid_parse(xml_attr(st->root, "from"));
    struct account *acc = to ? sm_account(ev->srv, to->bare) : NULL;
    /* A message between two resources of the same account: its <sent/>
     * copies already reached the other resources (§8), a <received/> copy
     * as well would show it twice. */
    bool self = from && to && strcmp(from->bare, to->bare) == 0;
    if (acc && !self)
        copy_to(ev->srv, acc, st, CARBONS_RECEIVED, ev->targets, ev->ntargets);
    jid_free(to);
    jid_free(from);
    return HOOK_CONTINUE;
}

/* §11: only the user's own server makes carbons, and it never routes
 * them; a message that arrives through the router with a wrapper is an
 * impersonation attempt (the XEP's "Tybalt" example).  Clients MUST
 * ignore such copies; refusing them here protects clients that do not. */
static enum hook_result on_in(struct hook_event *ev, void *ud)
{
    (void)ud;
    struct xml_node *root = ev->stanza->root;
    if (strcmp(root->name, "message") != 0 || !carbons_is_forged(root, ev->user))
        return HOOK_CONTINUE;
    const char *from = xml_attr(root, "from");
    log_info("carbons: refused a forged carbon from '%s' to '%s'",
             from ? from : "(none)", ev->user);
    /* An error message is never answered (RFC 6120 §8.3.1); it is
     * refused all the same, and logged above. */
    const char *type = xml_attr(root, "type");
    if (type && strcmp(type, "error") == 0)
        return HOOK_HANDLED;
    /* Not router_bounce(): its reply carries the original payload (RFC
     * 6120 §8.3.1 SHOULD), so the forged wrapper would travel on to the
     * forger's account, where it would be refused in turn and the forger
     * would never learn why.  The error names the condition only. */
    struct stanza *e = stanza_new(XML_NS_CLIENT, "message");
    struct arena *a = e->arena;
    xml_set_attr(a, e->root, "from", xml_attr(root, "to"));
    xml_set_attr(a, e->root, "to", from);
    xml_set_attr(a, e->root, "id", xml_attr(root, "id"));
    xml_set_attr(a, e->root, "type", "error");
    struct xml_node *err = xml_add_child(a, e->root, XML_NS_CLIENT, "error");
    xml_set_attr(a, err, "type", "auth");
    xml_add_child(a, err, NS_STANZAS, "forbidden");
    struct xml_node *t = xml_add_text_child(a, err, NS_STANZAS, "text",
                                            "carbon copies come only from the account's own server");
    xml_set_attr(a, t, "xml:lang", "en");
    if (from)
        router_route(ev->srv, e);
    stanza_unref(e);
    return HOOK_HANDLED;
}

/* --- lifecycle ------------------------------------------------------------ */

static int carbons_load(struct pl_module_ctx *m)
{
    pl_iq_handle(m, IQ_TO_BARE, NS_CARBONS, toggle);
    /* §3: the server advertises it (to='domain'). */
    pl_disco_feature(m, IQ_TO_HOST, NS_CARBONS);
    pl_hook(m, HOOK_STANZA_OUT, on_out, PRIO_CARBONS);
    pl_hook(m, HOOK_MESSAGE_DELIVERED, on_delivered, PRIO_CARBONS);
    pl_hook(m, HOOK_STANZA_IN, on_in, PRIO_CARBONS);
    return 0;
}

static const struct conf_option carbons_options[] = { CONF_END };

const struct pl_module pl_module_carbons = {
    .name = "carbons",
    .doc = "Message carbons (XEP-0280).",
    .options = carbons_options,
    .load = carbons_load,
};
