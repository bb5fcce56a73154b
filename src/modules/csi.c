/*
 * csi.c - Client state indication (XEP-0352 urn:xmpp:csi:0).
 *
 * The stream (src/stream/c2s.c) handles <active/> and <inactive/> and does
 * the buffering, since it decides what is written to the socket; this
 * module offers <csi xmlns='urn:xmpp:csi:0'/> after authentication (§4.1)
 * and carries the option (struct csi_options).  What is buffered while a
 * client is inactive (§3.2 leaves it to the server): available and
 * unavailable presence from others, only the latest per sender full JID;
 * everything else goes out at once, messages and non-buffered presence
 * after the buffer is flushed so the client never sees a message before
 * a presence update that preceded it.
 */
#include <stddef.h>

#include "core/conf.h"
#include "modules/modules.h"
#include "stream/stream_opts.h"

#define NS_CSI "urn:xmpp:csi:0"

static int csi_load(struct pl_module_ctx *m)
{
    pl_stream_feature(m, SF_POSTAUTH, "<csi xmlns='" NS_CSI "'/>");
    return 0;
}

static const struct conf_option csi_options[] = {
    { "max_buffered", CONF_UINT, offsetof(struct csi_options, max_buffered), "100",
      1, 10000, NULL, 0,
      "presence senders buffered while a client is inactive; when more arrive the "
      "buffer is flushed" },
    CONF_END
};

const struct pl_module pl_module_csi = {
    .name = "csi",
    .doc = "Client state indication (XEP-0352).",
    .conf_size = sizeof(struct csi_options),
    .options = csi_options,
    .load = csi_load,
};
