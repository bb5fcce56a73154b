/* version.c - Software Version (XEP-0092) of the server. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/utsname.h>

#include "core/conf.h"
#include "modules/modules.h"
#include "xml/xml.h"

#define NS_VERSION "jabber:iq:version"
#ifndef PARLEY_VERSION
#define PARLEY_VERSION "dev"
#endif

struct version_conf {
    bool show_os;               /* reveal the operating system */
};

static void version(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    const struct pl_module_ctx *m = ud;
    const struct version_conf *vc = m->conf;
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        return;
    }
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(req, NS_VERSION, "query", &r);
    xml_add_text_child(r->arena, rq, NULL, "name", "Parley");
    xml_add_text_child(r->arena, rq, NULL, "version", PARLEY_VERSION);
    if (vc && vc->show_os) {
        struct utsname u;
        if (uname(&u) == 0)
            xml_add_text_child(r->arena, rq, NULL, "os",
                               arena_printf(r->arena, "%s %s", u.sysname, u.release));
    }
    router_route(srv, r);
    stanza_unref(r);
}

static int version_load(struct pl_module_ctx *m)
{
    pl_iq_handle(m, IQ_TO_HOST, NS_VERSION, version);
    pl_disco_feature(m, IQ_TO_HOST, NS_VERSION);
    return 0;
}

static const struct conf_option version_options[] = {
    { "show_os", CONF_BOOL, offsetof(struct version_conf, show_os), "false", 0, 0, NULL, 0,
      "include the operating system name and release in the answer" },
    CONF_END
};

const struct pl_module pl_module_version = {
    .name = "version",
    .doc = "Software Version (XEP-0092) of the server.",
    .conf_size = sizeof(struct version_conf),
    .options = version_options,
    .load = version_load,
};
