/* push.c - Push notifications (XEP-0357).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int push_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option push_options[] = { CONF_END };

const struct pl_module pl_module_push = {
    .name = "push",
    .doc = "Push notifications (XEP-0357).",
    .options = push_options,
    .load = push_load,
};
