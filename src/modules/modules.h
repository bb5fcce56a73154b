/*
 * modules.h - the module registry and the API modules use to hook in.
 *
 * Modules are compiled in (modules.c lists them) and instantiated per
 * virtual host when named under 'modules:' in the config.  Everything a
 * module registers is recorded against its instance, so stopping an
 * instance (reload, shutdown) removes it with no module code.
 */
#ifndef PARLEY_MODULES_MODULES_H
#define PARLEY_MODULES_MODULES_H

#include "parley/module.h"
#include "core/buf.h"
#include "router/hook.h"
#include "router/router.h"

struct server;

struct pl_module_ctx {
    struct server *srv;
    const struct pl_module *mod;
    const char *host;           /* the virtual host of this instance */
    const void *conf;           /* the module's option struct */
    void *data;                 /* the module's own state */
    struct pl_module_ctx *next;
};

/* NULL-terminated list of every compiled-in module. */
const struct pl_module *const *modules_all(void);

/* Loads every enabled module for every host.  -1 with a message. */
int modules_start(struct server *srv, struct buf *err);
/* Unloads every instance and its registrations. */
void modules_stop(struct server *srv);

/* The instance of module 'name' on host, NULL when it is not enabled
 * there (a module asking for another's state, c2s asking for options). */
const struct pl_module_ctx *modules_instance(struct server *srv, const char *host,
                                             const char *name);

/* --- for modules --------------------------------------------------------- */

void pl_iq_handle(struct pl_module_ctx *m, enum iq_target t, const char *ns,
                  iq_handler_fn fn);
void pl_disco_feature(struct pl_module_ctx *m, enum iq_target t, const char *var);
void pl_hook(struct pl_module_ctx *m, enum hook_id id, hook_fn fn, int prio);
/* A disco identity (XEP-0030 §3.1) of the server (IQ_TO_HOST) or of every
 * account (IQ_TO_BARE), besides the one disco.c always lists.  Stored in the
 * router's feature list under the DISCO_IDENTITY_PREFIX, which no feature
 * 'var' (a URI) starts with; disco.c renders them as <identity/>. */
#define DISCO_IDENTITY_PREFIX "@identity "
void pl_disco_identity(struct pl_module_ctx *m, enum iq_target t, const char *category,
                       const char *type);
/* A node of the host's (IQ_TO_HOST) or every account's (IQ_TO_BARE) service
 * discovery: disco.c hands a query of namespace ns (disco#info or
 * disco#items) whose 'node' attribute equals node to fn (XEP-0030 §3.2,
 * §4.2); a node nobody registered gets <item-not-found/>.  Kept in the
 * router's IQ table under disco_node_ns(ns, node), so it goes with the
 * instance like any other registration. */
void pl_disco_node(struct pl_module_ctx *m, enum iq_target t, const char *ns,
                   const char *node, iq_handler_fn fn);
/* The IQ table key for a disco node: "ns#node" with '\x1e' as separator,
 * which neither a namespace URI nor a registered node contains.  Written
 * into out (released by the caller). */
void disco_node_ns(struct buf *out, const char *ns, const char *node);
/* A serialized stream feature element offered on this host's streams. */
void pl_stream_feature(struct pl_module_ctx *m, enum stream_stage stage, const char *xml);
/* A handler for IQs (payload namespace ns) sent before authentication. */
void pl_preauth_iq(struct pl_module_ctx *m, const char *ns, preauth_iq_fn fn);

/* Hook priorities: lower runs first.  Modules that may consume a stanza
 * (blocking) run before those that observe or store it. */
enum {
    PRIO_BLOCKING = 10,         /* privacy first: blocked stanzas stop here */
    PRIO_ROSTER = 20,           /* subscriptions and probes */
    PRIO_CARBONS = 40,
    PRIO_ARCHIVE = 50,          /* MAM: records what is delivered */
    PRIO_PUSH = 60,
    PRIO_OFFLINE = 90,          /* last: stores what nobody else took */
};

#endif
