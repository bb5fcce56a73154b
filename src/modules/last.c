/* last.c - Last activity (XEP-0012).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int last_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option last_options[] = { CONF_END };

const struct pl_module pl_module_last = {
    .name = "last",
    .doc = "Last activity (XEP-0012).",
    .options = last_options,
    .load = last_load,
};
