/* blocking.c - Blocking command (XEP-0191).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int blocking_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option blocking_options[] = { CONF_END };

const struct pl_module pl_module_blocking = {
    .name = "blocking",
    .doc = "Blocking command (XEP-0191).",
    .options = blocking_options,
    .load = blocking_load,
};
