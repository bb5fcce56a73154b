/* ping.c - XMPP Ping (XEP-0199 §4.2 client-to-server, §4.3 to an account's
 * bare JID, answered by the server on the account's behalf). */
#include <string.h>

#include "core/conf.h"
#include "modules/modules.h"
#include "xml/xml.h"

#define NS_PING "urn:xmpp:ping"

static void ping(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "ping") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        return;
    }
    struct stanza *r;
    iq_reply_result(req, NULL, NULL, &r);
    router_route(srv, r);
    stanza_unref(r);
}

static int ping_load(struct pl_module_ctx *m)
{
    pl_iq_handle(m, IQ_TO_HOST, NS_PING, ping);
    pl_iq_handle(m, IQ_TO_BARE, NS_PING, ping);
    pl_disco_feature(m, IQ_TO_HOST, NS_PING);
    return 0;
}

static const struct conf_option ping_options[] = { CONF_END };

const struct pl_module pl_module_ping = {
    .name = "ping",
    .doc = "Answers XMPP pings (XEP-0199) to the server and to accounts.",
    .options = ping_options,
    .load = ping_load,
};
