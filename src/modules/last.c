/*
 * last.c - Last Activity (XEP-0012).
 *
 *   §5  to the server: seconds since it started (srv->started);
 *   §3  to an account's bare JID, answered by the server: seconds since
 *       the account's last session ended and the status of its last
 *       unavailable presence; 0 while it has a session; only for the
 *       user itself and for contacts allowed to see its presence (a
 *       'from' or 'both' subscription, RFC 6121 §2.1.2.5, asked through
 *       roster.h), everyone else <forbidden/> (§3, §8: no presence leak);
 *   §4  to a full JID: the router delivers it to the client.
 *
 * Storage: kv area "last", key "last", value "<unix seconds>\n<status>",
 * written when an account's last session closes.  The status comes from
 * the session's last unavailable broadcast (HOOK_PRESENCE_OUT), kept in
 * memory per full JID until the session closes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "modules/roster.h"
#include "storage/store.h"
#include "xml/xml.h"

#define NS_LAST "jabber:iq:last"
#define KV_AREA "last"
#define KV_KEY  "last"
/* A status is free text from the client: keep a bounded prefix. */
#define MAX_STATUS 1024

struct last {
    struct hashmap status;      /* full JID -> struct status (key inside it) */
};

/* The <status/> of a session's last unavailable broadcast. */
struct status {
    char *text;                 /* owned */
    char full[];                /* the session's full JID: the map key */
};

static void reply_seconds(struct server *srv, struct stanza *req, long long secs,
                          const char *status)
{
    struct stanza *ok;
    struct xml_node *q = iq_reply_result(req, NS_LAST, "query", &ok);
    xml_set_attr(ok->arena, q, "seconds", arena_printf(ok->arena, "%lld", secs < 0 ? 0 : secs));
    if (status && *status)
        xml_add_text(ok->arena, q, status, strlen(status));
    router_route(srv, ok);
    stanza_unref(ok);
}

/* --- to the server ------------------------------------------------------ */

static void host_last(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "modify", "bad-request", "expected an IQ-get with <query/>");
        return;
    }
    reply_seconds(srv, req, (long long)(time(NULL) - srv->started), NULL);
}

/* --- to an account ------------------------------------------------------ */

struct query {
    struct server *srv;
    struct stanza *iq;          /* referenced */
    struct jid *user;           /* the account asked about */
};

static void query_free(struct query *qr)
{
    stanza_unref(qr->iq);
    jid_free(qr->user);
    free(qr);
}

static void stored_done(const struct store_result *res, void *ud)
{
    struct query *qr = ud;
    struct server *srv = qr->srv;
    if (srv->stopping)
        goto out;
    if (sm_account(srv, qr->user->bare)) {
        /* It logged in meanwhile. */
        reply_seconds(srv, qr->iq, 0, NULL);
    } else if (res->status == STORE_OK) {
        char *nl = memchr(res->value, '\n', res->value_len);
        long long when = strtoll(res->value, NULL, 10);
        reply_seconds(srv, qr->iq, (long long)time(NULL) - when, nl ? nl + 1 : NULL);
    } else if (res->status == STORE_NOT_FOUND) {
        router_bounce(srv, qr->iq, "cancel", "service-unavailable",
                      "no activity recorded for this account");
    } else {
        router_bounce(srv, qr->iq, "wait", "internal-server-error",
                      "last activity could not be read");
    }
out:
    query_free(qr);
}

static void answer(struct query *qr)
{
    struct server *srv = qr->srv;
    /* §3: "at least one connected or available resource": 0. */
    if (sm_account(srv, qr->user->bare)) {
        reply_seconds(srv, qr->iq, 0, NULL);
        query_free(qr);
        return;
    }
    store_kv_get(srv->store, qr->user->local, qr->user->domain, KV_AREA, KV_KEY,
                 stored_done, qr);
}

static void permission_done(struct server *srv, int sub, void *ud)
{
    struct query *qr = ud;
    if (srv->stopping) {
        query_free(qr);
    } else if (sub < 0) {
        router_bounce(srv, qr->iq, "wait", "internal-server-error",
                      "the roster could not be read");
        query_free(qr);
    } else if (!(sub & ROSTER_SUB_FROM)) {
        /* §3: MUST NOT return the information; <forbidden/>. */
        router_bounce(srv, qr->iq, "auth", "forbidden",
                      "only contacts allowed to see this account's presence may ask");
        query_free(qr);
    } else {
        answer(qr);
    }
}

static void bare_last(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    if (strcmp(xml_attr(req->root, "type"), "get") != 0 || strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "modify", "bad-request", "expected an IQ-get with <query/>");
        return;
    }
    const char *from_s = xml_attr(req->root, "from");
    const char *to_s = xml_attr(req->root, "to");
    struct jid *from = from_s ? jid_parse(from_s) : NULL;
    struct jid *user = jid_parse(to_s ? to_s : from_s ? from_s : "");
    if (!from || !user || !user->local) {
        router_bounce(srv, req, "modify", "bad-request", "invalid address");
        jid_free(from);
        jid_free(user);
        return;
    }
    struct query *qr = pl_malloc(sizeof(*qr));
    qr->srv = srv;
    qr->iq = stanza_ref(req);
    qr->user = jid_bare(user);
    jid_free(user);
    if (strcmp(from->bare, qr->user->bare) == 0) {
        answer(qr);             /* the user itself */
    } else {
        /* The roster answers from memory or storage; without the roster
         * module it answers ROSTER_SUB_NONE, and so <forbidden/>. */
        roster_subscription(srv, qr->user->bare, from->bare, permission_done, qr);
    }
    jid_free(from);
}

/* --- recording ---------------------------------------------------------- */

static void stored(const struct store_result *res, void *ud)
{
    char *who = ud;
    if (res->status != STORE_OK && res->status != STORE_NOT_FOUND)
        log_error("last: cannot record the last activity of %s", who);
    free(who);
}

static void forget_status(struct last *l, const char *full)
{
    struct status *st = hashmap_del(&l->status, full);
    if (st) {
        free(st->text);
        free(st);
    }
}

/* Remembers the <status/> of an unavailable broadcast, forgets it when
 * the session becomes available again. */
static enum hook_result on_presence_out(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct last *l = m->data;
    if (!ev->session || !ev->stanza)
        return HOOK_CONTINUE;
    const char *full = ev->session->jid->full;
    if (!hashmap_get(&l->status, full) && !xml_attr(ev->stanza->root, "type"))
        return HOOK_CONTINUE;
    forget_status(l, full);
    const char *type = xml_attr(ev->stanza->root, "type");
    struct xml_node *st = xml_child(ev->stanza->root, XML_NS_CLIENT, "status");
    if (!type || strcmp(type, "unavailable") != 0 || !st)
        return HOOK_CONTINUE;
    struct arena *a = arena_new(256);
    const char *text = xml_text(a, st);
    size_t n = strlen(text);
    if (n > MAX_STATUS) {
        n = MAX_STATUS;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;            /* cut at a UTF-8 character boundary */
    }
    if (n > 0) {
        size_t fl = strlen(full) + 1;
        struct status *rec = pl_malloc(sizeof(*rec) + fl);
        rec->text = pl_strndup(text, n);
        memcpy(rec->full, full, fl);
        hashmap_put(&l->status, rec->full, rec);
    }
    arena_free(a);
    return HOOK_CONTINUE;
}

static enum hook_result on_session_closed(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct last *l = m->data;
    struct session *s = ev->session;
    const struct status *rec = hashmap_get(&l->status, s->jid->full);
    const char *status = rec ? rec->text : NULL;
    /* The hook runs before the session leaves its account: the account's
     * last session is the one that sets its "last logout". */
    if (s->account->nsessions <= 1) {
        struct buf b = BUF_INIT;
        buf_printf(&b, "%lld\n%s", (long long)time(NULL), status ? status : "");
        store_kv_set(ev->srv->store, s->jid->local, s->jid->domain, KV_AREA, KV_KEY,
                     b.data, b.len, stored, pl_strdup(s->jid->bare));
        buf_release(&b);
    }
    forget_status(l, s->jid->full);
    return HOOK_CONTINUE;
}

static int last_load(struct pl_module_ctx *m)
{
    struct last *l = pl_calloc(1, sizeof(*l));
    hashmap_init(&l->status);
    m->data = l;
    pl_iq_handle(m, IQ_TO_HOST, NS_LAST, host_last);
    pl_iq_handle(m, IQ_TO_BARE, NS_LAST, bare_last);
    pl_disco_feature(m, IQ_TO_HOST, NS_LAST);
    pl_disco_feature(m, IQ_TO_BARE, NS_LAST);
    pl_hook(m, HOOK_PRESENCE_OUT, on_presence_out, PRIO_ARCHIVE);
    pl_hook(m, HOOK_SESSION_CLOSED, on_session_closed, PRIO_ARCHIVE);
    return 0;
}

static void last_unload(struct pl_module_ctx *m)
{
    struct last *l = m->data;
    void *v;
    for (size_t i = 0; hashmap_next(&l->status, &i, NULL, &v);) {
        free(((struct status *)v)->text);
        free(v);
    }
    hashmap_release(&l->status);
    free(l);
    m->data = NULL;
}

static const struct conf_option last_options[] = { CONF_END };

const struct pl_module pl_module_last = {
    .name = "last",
    .doc = "Last activity (XEP-0012): server uptime and accounts' last logout.",
    .options = last_options,
    .load = last_load,
    .unload = last_unload,
};
