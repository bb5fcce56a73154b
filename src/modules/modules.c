/* modules.c - compiled-in module list and per-host instances. */
#include "modules/modules.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"

extern const struct pl_module pl_module_disco;
extern const struct pl_module pl_module_ping;
extern const struct pl_module pl_module_version;
extern const struct pl_module pl_module_time;
extern const struct pl_module pl_module_roster;
extern const struct pl_module pl_module_blocking;
extern const struct pl_module pl_module_private;
extern const struct pl_module pl_module_vcard;
extern const struct pl_module pl_module_last;
extern const struct pl_module pl_module_pep;
extern const struct pl_module pl_module_register;
extern const struct pl_module pl_module_offline;
extern const struct pl_module pl_module_mam;
extern const struct pl_module pl_module_carbons;
extern const struct pl_module pl_module_push;
extern const struct pl_module pl_module_stream_management;
extern const struct pl_module pl_module_csi;
extern const struct pl_module pl_module_muc;
extern const struct pl_module pl_module_adhoc;

static const struct pl_module *const all_modules[] = {
    &pl_module_disco,
    &pl_module_ping,
    &pl_module_time,
    &pl_module_version,
    &pl_module_roster,
    &pl_module_blocking,
    &pl_module_private,
    &pl_module_vcard,
    &pl_module_last,
    &pl_module_pep,
    &pl_module_register,
    &pl_module_offline,
    &pl_module_mam,
    &pl_module_carbons,
    &pl_module_push,
    &pl_module_stream_management,
    &pl_module_csi,
    &pl_module_muc,
    &pl_module_adhoc,
    NULL,
};

const struct pl_module *const *modules_all(void)
{
    return all_modules;
}

struct modules {
    struct pl_module_ctx *instances;
};

int modules_start(struct server *srv, struct buf *err)
{
    const struct conf *c = srv->conf;
    if (!srv->modules)
        srv->modules = pl_calloc(1, sizeof(*srv->modules));
    for (size_t h = 0; h < c->hosts.count; h++) {
        /* disco first: modules that answer disco requests of their own
         * (PEP's node list) register after it, and the later handler wins
         * whatever the order in the config. */
        for (size_t k = 0; k < 2 * c->nmodules; k++) {
            const struct conf_module *cm = &c->modules[k % c->nmodules];
            bool is_disco = strcmp(cm->mod->name, "disco") == 0;
            if ((k < c->nmodules) != is_disco)
                continue;
            struct pl_module_ctx *m = pl_calloc(1, sizeof(*m));
            m->srv = srv;
            m->mod = cm->mod;
            m->host = c->hosts.items[h];
            m->conf = cm->conf;
            m->next = srv->modules->instances;
            srv->modules->instances = m;
            if (cm->mod->load && cm->mod->load(m) < 0) {
                buf_printf(err, "%s:%d: module '%s' failed to start for host '%s'",
                           c->file, cm->line, cm->mod->name, m->host);
                modules_stop(srv);
                return -1;
            }
        }
    }
    return 0;
}

void modules_stop(struct server *srv)
{
    if (!srv->modules)
        return;
    while (srv->modules->instances) {
        struct pl_module_ctx *m = srv->modules->instances;
        srv->modules->instances = m->next;
        if (m->mod->unload)
            m->mod->unload(m);
        router_unregister_owner(srv->router, m);
        free(m);
    }
    free(srv->modules);
    srv->modules = NULL;
}

void pl_iq_handle(struct pl_module_ctx *m, enum iq_target t, const char *ns,
                  iq_handler_fn fn)
{
    router_iq_register(m->srv->router, m->host, t, ns, fn, m, m);
}

void pl_disco_feature(struct pl_module_ctx *m, enum iq_target t, const char *var)
{
    router_feature_add(m->srv->router, m->host, t, var, m);
}

void disco_node_ns(struct buf *out, const char *ns, const char *node)
{
    buf_printf(out, "%s\x1e%s", ns, node);
}

void pl_disco_node(struct pl_module_ctx *m, enum iq_target t, const char *ns,
                   const char *node, iq_handler_fn fn)
{
    struct buf key = BUF_INIT;
    disco_node_ns(&key, ns, node);
    router_iq_register(m->srv->router, m->host, t, key.data, fn, m, m);
    buf_release(&key);
}

void pl_hook(struct pl_module_ctx *m, enum hook_id id, hook_fn fn, int prio)
{
    hooks_add(&m->srv->router->hooks, id, m->host, fn, m, prio, m);
}

void pl_stream_feature(struct pl_module_ctx *m, enum stream_stage stage, const char *xml)
{
    router_stream_feature_add(m->srv->router, m->host, stage, xml, m);
}

void pl_preauth_iq(struct pl_module_ctx *m, const char *ns, preauth_iq_fn fn)
{
    router_preauth_register(m->srv->router, m->host, ns, fn, m, m);
}

const struct pl_module_ctx *modules_instance(struct server *srv, const char *host,
                                             const char *name)
{
    if (!srv->modules)
        return NULL;
    for (struct pl_module_ctx *m = srv->modules->instances; m; m = m->next)
        if (strcmp(m->host, host) == 0 && strcmp(m->mod->name, name) == 0)
            return m;
    return NULL;
}

void pl_disco_identity(struct pl_module_ctx *m, enum iq_target t, const char *category,
                       const char *type)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, DISCO_IDENTITY_PREFIX "%s %s", category, type);
    router_feature_add(m->srv->router, m->host, t, b.data, m);
    buf_release(&b);
}
