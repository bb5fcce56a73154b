/* private.c - Private XML storage (XEP-0049).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int private_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option private_options[] = { CONF_END };

const struct pl_module pl_module_private = {
    .name = "private",
    .doc = "Private XML storage (XEP-0049).",
    .options = private_options,
    .load = private_load,
};
