/* register.c - In-band registration (XEP-0077).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int register_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option register_options[] = { CONF_END };

const struct pl_module pl_module_register = {
    .name = "register",
    .doc = "In-band registration (XEP-0077).",
    .options = register_options,
    .load = register_load,
};
