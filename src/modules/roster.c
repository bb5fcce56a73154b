/* roster.c - Rosters and presence subscriptions (RFC 6121).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int roster_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option roster_options[] = { CONF_END };

const struct pl_module pl_module_roster = {
    .name = "roster",
    .doc = "Rosters and presence subscriptions (RFC 6121).",
    .options = roster_options,
    .load = roster_load,
};
