/* mam.c - Message archive management (XEP-0313).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int mam_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option mam_options[] = { CONF_END };

const struct pl_module pl_module_mam = {
    .name = "mam",
    .doc = "Message archive management (XEP-0313).",
    .options = mam_options,
    .load = mam_load,
};
