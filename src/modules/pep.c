/* pep.c - Personal eventing via pubsub (XEP-0163).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int pep_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option pep_options[] = { CONF_END };

const struct pl_module pl_module_pep = {
    .name = "pep",
    .doc = "Personal eventing via pubsub (XEP-0163).",
    .options = pep_options,
    .load = pep_load,
};
