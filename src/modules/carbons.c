/* carbons.c - Message carbons (XEP-0280).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int carbons_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option carbons_options[] = { CONF_END };

const struct pl_module pl_module_carbons = {
    .name = "carbons",
    .doc = "Message carbons (XEP-0280).",
    .options = carbons_options,
    .load = carbons_load,
};
