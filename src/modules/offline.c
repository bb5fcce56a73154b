/* offline.c - Offline message storage (XEP-0160).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int offline_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option offline_options[] = { CONF_END };

const struct pl_module pl_module_offline = {
    .name = "offline",
    .doc = "Offline message storage (XEP-0160).",
    .options = offline_options,
    .load = offline_load,
};
