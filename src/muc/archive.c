/*
 * archive.c - the room's message archive (XEP-0313 §5.1.2 "MUC archives":
 * queries to the room's bare JID; §6.1.2 only groupchat messages with a
 * body, stored with the room's XEP-0359 stanza id, which becomes the
 * archive id).  Rows live in the log store, area "muc", user = room name,
 * host = the service domain (need_account=false: a room is no account).
 * Forms and RSM parsing are mod_mam's (mam_util.h).  An IQ get of the
 * <query/> is the query form retrieval (XEP-0313 §4.1.1 / §4.1.5): the
 * same fields mam_query_parse() accepts, for anyone who may read.
 */
#include "muc/muc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/mam_util.h"
#include "router/router.h"
#include "storage/store.h"
#include "xml/xml.h"

#define AREA "muc"

static void appended(const struct store_result *res, void *ud)
{
    (void)ud;
    if (res->status != STORE_OK && res->status != STORE_EXISTS)
        log_error("muc: cannot archive a room message (status %d)", res->status);
}

void muc_archive_store(struct muc_room *room, struct stanza *st, const char *id,
                       const char *with)
{
    struct buf b = BUF_INIT;
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    struct store_log_append_args a = {
        .user = room->name, .host = room->svc->domain, .area = AREA,
        .id = id, .with = with, .stamp = muc_now_us(),
        .value = b.data, .value_len = b.len, .need_account = false,
    };
    store_log_append(room->svc->srv->store, &a, appended, NULL);
    buf_release(&b);
}

struct room_q {
    struct muc_service *svc;    /* referenced */
    struct stanza *req;         /* referenced */
    char *room_jid;
    char *queryid;
    size_t nids;
    bool flip, count_only;
};

static void rq_free(struct room_q *q)
{
    stanza_unhold(q->req);
    stanza_unref(q->req);
    muc_service_unref(q->svc);
    free(q->room_jid);
    free(q->queryid);
    free(q);
}

static void send_result(struct server *srv, const struct room_q *q, const char *to,
                        const struct store_item *it)
{
    struct stanza *msg = mam_result_message(it, q->room_jid, to, q->queryid);
    if (!msg) {
        log_error("muc: archived message %s of %s is corrupt", it->key, q->room_jid);
        return;
    }
    router_route(srv, msg);
    stanza_unref(msg);
}

static void query_done(const struct store_result *res, void *ud)
{
    struct room_q *q = ud;
    struct server *srv = q->svc->srv;
    if (srv->stopping || q->svc->dead)
        goto out;
    if (res->status == STORE_NOT_FOUND) {
        router_bounce(srv, q->req, "cancel", "item-not-found", "no message with that id in the archive");
        goto out;
    }
    if (res->status != STORE_OK) {
        router_bounce(srv, q->req, "wait", "internal-server-error", "archive unavailable");
        goto out;
    }
    if (q->nids && res->nitems != q->nids) {
        router_bounce(srv, q->req, "cancel", "item-not-found", "a requested id is not in the archive");
        goto out;
    }
    const char *to = xml_attr(q->req->root, "from");
    size_t n = q->count_only ? 0 : res->nitems;
    for (size_t i = 0; i < n; i++)
        send_result(srv, q, to, &res->items[q->flip ? n - 1 - i : i]);
    struct stanza *r;
    struct xml_node *fin = iq_reply_result(q->req, NS_MAM, "fin", &r);
    bool complete = q->count_only ? res->seq == 0 : !res->more;
    mam_fill_fin(r->arena, fin, res->items, n, res->seq, complete);
    router_route(srv, r);
    stanza_unref(r);
out:
    rq_free(q);
}

void muc_iq_mam(struct muc_service *svc, struct muc_room *room, struct stanza *st,
                struct xml_node *q, const struct jid *from)
{
    struct server *srv = svc->srv;
    enum muc_affil af = muc_affil_of(room, from->bare);
    /* XEP-0313 §5.1.2: the archive is for those who may enter the room. */
    if (af == MUC_AFFIL_OUTCAST || (room->cfg.members_only && af < MUC_AFFIL_MEMBER)) {
        muc_error(srv, st, "auth", "forbidden", "you may not read this room's archive");
        return;
    }
    if (strcmp(xml_attr(st->root, "type"), "get") == 0) {
        struct stanza *r;
        struct xml_node *rq = iq_reply_result(st, NS_MAM, "query", &r);
        mam_fill_query_form(r->arena, rq);
        router_route(srv, r);
        stanza_unref(r);
        return;
    }
    struct arena *a = arena_new(1024);
    struct mam_query mq;
    struct mam_error err;
    if (mam_query_parse(a, q, &mq, &err) < 0) {
        muc_error(srv, st, err.type, err.cond, err.text);
        arena_free(a);
        return;
    }
    struct room_q *rq = pl_calloc(1, sizeof(*rq));
    rq->svc = muc_service_ref(svc);
    rq->req = stanza_ref(st);
    stanza_hold(st);
    rq->room_jid = pl_strdup(room->jid);
    rq->queryid = mq.queryid ? pl_strdup(mq.queryid) : NULL;
    rq->nids = mq.nids;
    rq->flip = mq.flip;
    rq->count_only = mq.max == 0;
    struct store_log_query_args args;
    mam_query_store_args(&mq, room->name, svc->domain, AREA, &args);
    store_log_query(srv->store, &args, query_done, rq);
    arena_free(a);
}
