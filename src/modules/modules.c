/* modules.c - compiled-in module list and per-host instances. */
#include "modules/modules.h"

#include <stdlib.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"

extern const struct pl_module pl_module_disco;
extern const struct pl_module pl_module_ping;
extern const struct pl_module pl_module_version;
extern const struct pl_module pl_module_time;

static const struct pl_module *const all_modules[] = {
    &pl_module_disco,
    &pl_module_ping,
    &pl_module_time,
    &pl_module_version,
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
        for (size_t i = 0; i < c->nmodules; i++) {
            const struct conf_module *cm = &c->modules[i];
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

void pl_hook(struct pl_module_ctx *m, enum hook_id id, hook_fn fn, int prio)
{
    hooks_add(&m->srv->router->hooks, id, m->host, fn, m, prio, m);
}
