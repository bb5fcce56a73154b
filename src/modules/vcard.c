/* vcard.c - vcard-temp (XEP-0054).  (stub: being written) */
#include "core/conf.h"
#include "modules/modules.h"

static int vcard_load(struct pl_module_ctx *m)
{
    (void)m;
    return 0;
}

static const struct conf_option vcard_options[] = { CONF_END };

const struct pl_module pl_module_vcard = {
    .name = "vcard",
    .doc = "vcard-temp (XEP-0054).",
    .options = vcard_options,
    .load = vcard_load,
};
