/* stream_management.c - Stream management (XEP-0198): acks, resumption, hibernation.  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int stream_management_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option stream_management_options[] = { CONF_END };

const struct pl_module pl_module_stream_management = {
    .name = "stream_management",
    .doc = "Stream management (XEP-0198): acks, resumption, hibernation.",
    .options = stream_management_options,
    .load = stream_management_load,
};
