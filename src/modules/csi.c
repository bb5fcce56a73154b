/* csi.c - Client state indication (XEP-0352).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int csi_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option csi_options[] = { CONF_END };

const struct pl_module pl_module_csi = {
    .name = "csi",
    .doc = "Client state indication (XEP-0352).",
    .options = csi_options,
    .load = csi_load,
};
