/*
 * stream_management.c - Stream management (XEP-0198 urn:xmpp:sm:3).
 *
 * The protocol itself lives in the stream (src/stream/c2s.c: <enable/>,
 * <r/>/<a/>, hibernation, <resume/>), because it is about the stream's
 * bytes.  This module is what makes it a per-host feature: it offers
 * <sm xmlns='urn:xmpp:sm:3'/> after authentication (§2), carries the
 * options (struct sm_options, read by c2s), and owns the registry of ended
 * sessions ("old sessions": the SM-IDs of sessions whose hibernation
 * expired or that ended otherwise, with their final inbound h, kept so that
 * a late <resume/> is answered <failed h='N'><item-not-found/></failed>
 * (§5) and the client knows which of its stanzas to resend).  The registry
 * is m->data; a reload starts an empty one (a late resume then gets
 * <failed/> without 'h', which the XEP allows).
 */
#include <stddef.h>

#include "core/conf.h"
#include "modules/modules.h"
#include "stream/sm_queue.h"
#include "stream/stream_opts.h"

#define NS_SM "urn:xmpp:sm:3"

static int stream_management_load(struct pl_module_ctx *m)
{
    m->data = sm_registry_new();
    pl_stream_feature(m, SF_POSTAUTH, "<sm xmlns='" NS_SM "'/>");
    return 0;
}

static void stream_management_unload(struct pl_module_ctx *m)
{
    sm_registry_free(m->data);
    m->data = NULL;
}

static const struct conf_option stream_management_options[] = {
    { "resume_timeout", CONF_SECONDS, offsetof(struct sm_options, resume_timeout), "600",
      1, 86400, NULL, 0,
      "how long a broken stream with resumption enabled stays hibernated (its session "
      "bound, stanzas queued) waiting for <resume/>" },
    { "max_hibernated", CONF_UINT, offsetof(struct sm_options, max_hibernated), "10",
      0, 1000, NULL, 0,
      "hibernated sessions per account; the oldest ends (its queue re-routed) when a "
      "new one would exceed it; 0 disables resumption" },
    { "max_old_sessions", CONF_UINT, offsetof(struct sm_options, max_old_sessions), "10",
      0, 1000, NULL, 0,
      "ended stream-management sessions remembered per account so that a late resume "
      "gets <failed h='...'/>" },
    { "old_session_lifetime", CONF_SECONDS,
      offsetof(struct sm_options, old_session_lifetime), "86400", 1, 2592000, NULL, 0,
      "how long an ended session's id and count are remembered" },
    { "max_unacked", CONF_UINT, offsetof(struct sm_options, max_unacked), "10000",
      16, 1000000, NULL, 0,
      "unacknowledged stanzas on a live stream; beyond it the client counts as not "
      "reading and the stream hibernates (or ends, its queue re-routed); a hibernated "
      "session queues up to twice this, then ends" },
    CONF_END
};

const struct pl_module pl_module_stream_management = {
    .name = "stream_management",
    .doc = "Stream management (XEP-0198): acks, resumption, hibernation.",
    .conf_size = sizeof(struct sm_options),
    .options = stream_management_options,
    .load = stream_management_load,
    .unload = stream_management_unload,
};
