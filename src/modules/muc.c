/*
 * muc.c - the module descriptor of the Multi-User Chat service
 * (XEP-0045, with XEP-0313 room archives, XEP-0359 stanza ids, XEP-0410
 * self-ping, XEP-0421 occupant ids).  The service itself is src/muc/;
 * this file holds its options and starts one service per virtual host,
 * on the domain 'host' (with @HOST@ replaced by the virtual host).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "core/jid.h"
#include "modules/modules.h"
#include "muc/muc.h"

static const struct conf_option muc_options[] = {
    { "host", CONF_STRING, offsetof(struct muc_opts, host), "conference.@HOST@", 0, 0,
      NULL, 0, "domain of the MUC service; @HOST@ is replaced by the virtual host" },
    { "max_rooms_per_user", CONF_UINT, offsetof(struct muc_opts, max_rooms_per_user), "10",
      0, 100000, NULL, 0, "rooms one user may have created at once (0 = no limit)" },
    { "max_occupants", CONF_UINT, offsetof(struct muc_opts, max_occupants), "2000",
      1, 100000, NULL, 0, "maximum occupants of a room (rooms may set a lower maximum)" },
    { "history_size", CONF_UINT, offsetof(struct muc_opts, history_size), "20",
      0, 1000, NULL, 0, "groupchat messages a room keeps for newcomers (XEP-0045 §7.2.14)" },
    { "messages_per_second", CONF_UINT, offsetof(struct muc_opts, msg_rate), "10",
      0, 10000, NULL, 0, "messages per second per occupant before <resource-constraint/> (0 = no limit)" },
    { "access_create", CONF_STRING, offsetof(struct muc_opts, access_create), "all", 0, 0,
      NULL, 0, "access rule (access_rules) deciding who may create rooms" },
    { "default_persistent", CONF_BOOL, offsetof(struct muc_opts, default_persistent), "false",
      0, 0, NULL, 0, "new rooms are persistent unless their owner says otherwise" },
    CONF_END
};

/* "conference.@HOST@" -> "conference.example.org" (heap). */
static char *service_domain(const char *pattern, const char *host)
{
    const char *at = strstr(pattern, "@HOST@");
    if (!at)
        return pl_strdup(pattern);
    size_t pre = (size_t)(at - pattern), hl = strlen(host), post = strlen(at + 6);
    char *d = pl_malloc(pre + hl + post + 1);
    memcpy(d, pattern, pre);
    memcpy(d + pre, host, hl);
    memcpy(d + pre + hl, at + 6, post + 1);
    return d;
}

static int muc_load(struct pl_module_ctx *m)
{
    const struct muc_opts *o = m->conf;
    char *domain = service_domain(o->host, m->host);
    char prepped[JID_PART_MAX + 1];
    if (jid_prep_domain(domain, prepped) < 0) {
        log_error("muc: host '%s' is not a valid domain", domain);
        free(domain);
        return -1;
    }
    if (router_is_local_host(m->srv, prepped)) {
        log_error("muc: host '%s' is a virtual host; the MUC service needs a domain of its own",
                  prepped);
        free(domain);
        return -1;
    }
    m->data = muc_service_new(m->srv, o, prepped, m->host, m);
    free(domain);
    return 0;
}

static void muc_unload(struct pl_module_ctx *m)
{
    if (m->data)
        muc_service_stop(m->data);
    m->data = NULL;
}

const struct pl_module pl_module_muc = {
    .name = "muc",
    .doc = "Multi-user chat service (XEP-0045) with room archives (XEP-0313).",
    .conf_size = sizeof(struct muc_opts),
    .options = muc_options,
    .load = muc_load,
    .unload = muc_unload,
};
