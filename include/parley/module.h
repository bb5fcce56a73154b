/*
 * module.h - the module descriptor (ARCHITECTURE.md principle 6).
 *
 * A module is one const struct pl_module named pl_module_<name>.  The core
 * instantiates it per virtual host; load() registers IQ handlers, hooks,
 * stream and disco features through the pl_module_ctx, which records each
 * registration so that unload/reload undo them without module code.
 */
#ifndef PARLEY_MODULE_H
#define PARLEY_MODULE_H

#include <stddef.h>

struct conf_option;
struct pl_module_ctx;

struct pl_module {
    const char *name;                   /* as written under 'modules:' */
    const char *doc;                    /* one line, for the reference */
    size_t conf_size;                   /* size of the option struct */
    const struct conf_option *options;  /* rows into that struct, CONF_END-terminated */
    int (*load)(struct pl_module_ctx *m);   /* per host; 0 or -1 */
    void (*unload)(struct pl_module_ctx *m);/* optional: registrations are undone by the core */
};

#endif
