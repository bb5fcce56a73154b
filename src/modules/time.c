/* time.c - Entity Time (XEP-0202) of the server, in UTC (XEP-0082). */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/conf.h"
#include "modules/modules.h"
#include "xml/xml.h"

#define NS_TIME "urn:xmpp:time"

static void entity_time(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "time") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char utc[64];
    snprintf(utc, sizeof(utc), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));
    struct stanza *r;
    struct xml_node *rt = iq_reply_result(req, NS_TIME, "time", &r);
    /* The server runs on UTC whatever the host's zone: no local offset. */
    xml_add_text_child(r->arena, rt, NULL, "tzo", "+00:00");
    xml_add_text_child(r->arena, rt, NULL, "utc", utc);
    router_route(srv, r);
    stanza_unref(r);
}

static int time_load(struct pl_module_ctx *m)
{
    pl_iq_handle(m, IQ_TO_HOST, NS_TIME, entity_time);
    pl_disco_feature(m, IQ_TO_HOST, NS_TIME);
    return 0;
}

static const struct conf_option time_options[] = { CONF_END };

const struct pl_module pl_module_time = {
    .name = "time",
    .doc = "Entity Time (XEP-0202) of the server.",
    .options = time_options,
    .load = time_load,
};
