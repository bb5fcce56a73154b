/*
 * offline.c - offline message storage (XEP-0160, RFC 6121 §8.5.2.2.1).
 *
 * A message for an existing account with no available resource of
 * non-negative priority reaches HOOK_OFFLINE_MESSAGE.  Normal and chat
 * messages are stored, as a copy stamped with XEP-0203 <delay/>, in the
 * per-user log area "offline"; everything the XEP says not to store is left
 * to the router, which bounces it (<service-unavailable/>, RFC 6121
 * §8.5.2.2.1 option b) or has already ignored it (headline, error).
 *
 * Durability (ARCHITECTURE.md principle 5): the message is held
 * (stanza_hold) until the append is committed, so that an XEP-0198 ack
 * covers a durable copy; a failed append is bounced to the sender, so a
 * message is either stored or its sender learns that it was not.
 *
 * Delivery (XEP-0160 §2 step 5): when a session becomes available with a
 * non-negative priority (initial presence, or a later presence raising a
 * negative priority), the stored messages go to it in order, in batches;
 * each batch is deleted only after it was written to a session that still
 * exists after the query.  One flush per account runs at a time, so a
 * message is delivered once.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/ban.h"
#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/mam_util.h"
#include "modules/modules.h"
#include "storage/store.h"
#include "xml/xml.h"

#define AREA "offline"
/* Rows per delivery round: bounds the memory one flush holds. */
#define FLUSH_BATCH 100

struct offline_conf {
    long long max_messages;     /* per-user quota (store_log_append max_rows) */
};

/* Module state.  Storage callbacks may outlive the instance (reload), so
 * it is reference counted: each pending flush holds a reference, and
 * 'dead' tells them the instance is gone. */
struct offline_state {
    int refs;
    bool dead;
    struct hashmap flushing;    /* bare JID -> struct flush (one per account) */
    struct hashmap waiting;     /* full JID -> key: available with a negative
                                   priority, flush when it turns non-negative */
};

struct flush {
    struct offline_state *os;   /* a reference */
    struct server *srv;
    struct jid *to;             /* the session that triggered the flush */
    bool more;                  /* the last query was cut by the batch size */
    bool again;                 /* a message was stored after a query began */
};

static void state_unref(struct offline_state *os)
{
    if (--os->refs > 0)
        return;
    PL_ASSERT(os->flushing.count == 0);
    hashmap_release(&os->flushing);
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&os->waiting, &i, &k, &v);)
        free(v);
    hashmap_release(&os->waiting);
    free(os);
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- storing ---------------------------------------------------------------- */

struct pending_store {
    struct server *srv;
    struct offline_state *os;   /* a reference */
    struct stanza *st;          /* the message as routed: referenced and held */
    struct jid *to;             /* the recipient (bare) */
    char *with;                 /* the sender's bare JID, or NULL */
    char id[MAM_ID_LEN + 1];
    long long stamp;
    long long max_rows;
    struct buf value;           /* the stored copy, with <delay/> */
    bool gate;                  /* the recipient's gate is still held */
};

static void flush_start(struct offline_state *os, struct server *srv, struct session *s);
static struct session *target_session(struct server *srv, const struct jid *to);

static void pending_free(struct pending_store *p)
{
    state_unref(p->os);
    stanza_unhold(p->st);
    stanza_unref(p->st);
    jid_free(p->to);
    free(p->with);
    buf_release(&p->value);
    free(p);
}

static void stored(const struct store_result *res, void *ud)
{
    struct pending_store *p = ud;
    /* Also while the server stops: a message that could not be stored
     * is bounced, never dropped (docs/message-delivery.md). */
    switch (res->status) {
    case STORE_OK:
        /* The recipient may have come online between the router's
         * decision and this commit, its flush having read the store
         * before the row was there: deliver now, not at the next
         * login (XEP-0160 §2 step 5).  A stopping server has no
         * sessions left to flush to. */
        if (!p->os->dead && !p->srv->stopping) {
            struct session *s = target_session(p->srv, p->to);
            if (s)
                flush_start(p->os, p->srv, s);
        }
        break;
    case STORE_LIMIT:
        /* XEP-0160 §2 step 3: a full queue is answered with
         * <service-unavailable/> (not <resource-constraint/>, which
         * would tell the sender to retry: the recipient must act). */
        router_bounce(p->srv, p->st, "cancel", "service-unavailable",
                      "the recipient's offline message storage is full");
        break;
    case STORE_NOT_FOUND:
        /* The account was deleted while the message was in flight:
         * RFC 6121 §8.5.1. */
        router_bounce(p->srv, p->st, "cancel", "service-unavailable",
                      "no such user");
        break;
    default:
        /* RFC 6120 §8.3.3.8 <internal-server-error/>, type 'wait': the
         * failure is ours, not the recipient's, and the sender may try
         * again later - also when it happened because the server is
         * stopping (storage answers errors once it has closed). */
        if (p->srv->stopping)
            log_error("offline: storing a message failed during shutdown (status %d)",
                      res->status);
        router_bounce(p->srv, p->st, "wait", "internal-server-error",
                      "the message could not be stored");
        break;
    }
    /* Later messages to the recipient may go on (a flush started above
     * holds them back as it needs: on_stanza_in()). */
    if (p->gate)
        router_gate_release(p->srv, p->to->bare);
    pending_free(p);
}

/* Issue 5: a banned account's messages are bounced, not stored (whether or
 * not the module that caches ban states for the router is enabled).  The
 * recipient's gate (router.h) keeps its messages in arrival order through
 * the check and the append, whether the check answers at once (cached)
 * or after a storage read: the next one reaches us only once it opens. */
static void ban_checked(void *ud, bool banned, const char *reason)
{
    (void)reason;               /* the operator's reason is not the sender's business */
    struct pending_store *p = ud;
    struct server *srv = p->srv;
    if (banned) {
        router_bounce(srv, p->st, "cancel", "service-unavailable",
                      "the recipient cannot receive messages");
        router_gate_release(srv, p->to->bare);
        pending_free(p);
        return;
    }
    struct store_log_append_args a = {
        .user = p->to->local, .host = p->to->domain, .area = AREA, .id = p->id,
        .with = p->with, .stamp = p->stamp,
        .value = p->value.data, .value_len = p->value.len,
        .max_rows = p->max_rows, .need_account = true,
    };
    store_log_append(srv->store, &a, stored, p);
    /* Storage runs requests in submission order, so a flush that starts
     * from now on reads this row: unless the recipient is available
     * already (its flush may have read the store before this append),
     * later messages need not wait for the commit, and a burst to an
     * offline account is committed in batches.  p lives until stored(). */
    if (!target_session(srv, p->to)) {
        p->gate = false;
        router_gate_release(srv, p->to->bare);
    }
}

static enum hook_result on_offline_message(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    const struct offline_conf *conf = m->conf;
    struct stanza *st = ev->stanza;
    if (!mam_offline_storable(st->root))
        return HOOK_CONTINUE;   /* the router bounces (or ignores) it */
    const char *to_s = xml_attr(st->root, "to");
    const char *from_s = xml_attr(st->root, "from");
    struct jid *to = to_s ? jid_parse(to_s) : NULL;
    struct jid *from = from_s ? jid_parse(from_s) : NULL;
    if (!to || !to->local) {
        jid_free(to);
        jid_free(from);
        return HOOK_CONTINUE;
    }
    long long stamp = now_us();
    char stamp_s[MAM_STAMP_MAX];
    mam_format_datetime(stamp, stamp_s);

    /* XEP-0160 §2, XEP-0203 §3: the stored copy says when and where it
     * was delayed. */
    struct stanza *copy = stanza_copy(st);
    struct xml_node *d = xml_add_text_child(copy->arena, copy->root, NS_DELAY, "delay",
                                            "Offline Storage");
    xml_set_attr(copy->arena, d, "from", to->domain);
    xml_set_attr(copy->arena, d, "stamp", stamp_s);
    struct pending_store *p = pl_calloc(1, sizeof(*p));
    p->srv = ev->srv;
    p->os = m->data;
    p->os->refs++;
    p->st = stanza_ref(st);
    stanza_hold(st);
    buf_init(&p->value);
    xml_serialize(copy->root, XML_NS_CLIENT, &p->value);
    stanza_unref(copy);
    mam_new_id(p->id);
    p->stamp = stamp;
    p->max_rows = conf->max_messages;
    p->with = from ? pl_strdup(from->bare) : NULL;
    p->to = to;
    jid_free(from);
    /* Until the append is submitted, or committed when the recipient is
     * available (ban_checked(), stored()), later messages to the
     * recipient wait in the router: one that found the recipient online
     * meanwhile would overtake this one (RFC 6120 §10.1). */
    router_gate_hold(ev->srv, to->bare);
    p->gate = true;
    ban_check(p->srv, p->to->local, p->to->domain, ban_checked, p);
    return HOOK_HANDLED;
}

/* --- delivering ------------------------------------------------------------- */

static bool eligible(const struct session *s)
{
    return s->presence && s->priority >= 0;
}

/*
 * RFC 6120 §10.1 at login: while a flush delivers the stored messages, a
 * message to the bare JID that would go straight to the session is newer
 * than those rows, so it is stored behind them and the flush, told so by
 * stored(), delivers it after them.  Messages arriving later wait in the
 * router until the row is committed (the gate on_offline_message()
 * holds).  Not when another session of the account was already eligible:
 * it had the messages live, and rows exist only by a race.
 */
static enum hook_result on_stanza_in(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct offline_state *os = m->data;
    struct stanza *st = ev->stanza;
    if (!ev->user || strcmp(st->root->name, "message") != 0)
        return HOOK_CONTINUE;
    struct flush *f = hashmap_get(&os->flushing, ev->user);
    const char *to = xml_attr(st->root, "to");
    if (!f || !to || strchr(to, '/') || !mam_offline_storable(st->root))
        return HOOK_CONTINUE;
    struct account *acc = sm_account(ev->srv, ev->user);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next)
        if (eligible(s) && strcmp(s->jid->full, f->to->full) != 0)
            return HOOK_CONTINUE;
    return on_offline_message(ev, ud);
}

/* The session to deliver to: the one that asked if it is still there and
 * available, else any other available non-negative one of the account. */
static struct session *target_session(struct server *srv, const struct jid *to)
{
    struct session *s = sm_find(srv, to);
    if (s && eligible(s))
        return s;
    struct account *acc = sm_account(srv, to->bare);
    for (s = acc ? acc->sessions : NULL; s; s = s->next)
        if (eligible(s))
            return s;
    return NULL;
}

static void flush_end(struct flush *f)
{
    hashmap_del(&f->os->flushing, f->to->bare);
    state_unref(f->os);
    jid_free(f->to);
    free(f);
}

static void flush_queried(const struct store_result *res, void *ud);

static void flush_query(struct flush *f)
{
    struct store_log_query_args q = {
        .user = f->to->local, .host = f->to->domain, .area = AREA, .limit = FLUSH_BATCH,
    };
    store_log_query(f->srv->store, &q, flush_queried, f);
}

static void flush_deleted(const struct store_result *res, void *ud)
{
    struct flush *f = ud;
    if (res->status != STORE_OK) {
        /* They were delivered; they will be delivered again next time. */
        log_error("offline: cannot delete delivered messages of %s (status %d)",
                  f->to->bare, res->status);
        flush_end(f);
        return;
    }
    if ((f->more || f->again) && !f->os->dead && !f->srv->stopping) {
        f->again = false;
        flush_query(f);
        return;
    }
    flush_end(f);
}

static void flush_queried(const struct store_result *res, void *ud)
{
    struct flush *f = ud;
    struct server *srv = f->srv;
    if (res->status == STORE_OK && res->nitems == 0 && f->again && !f->os->dead &&
        !srv->stopping) {
        f->again = false;       /* a row committed after this query began */
        flush_query(f);
        return;
    }
    if (f->os->dead || srv->stopping || res->status != STORE_OK || res->nitems == 0) {
        if (res->status != STORE_OK)
            log_error("offline: cannot read stored messages of %s (status %d)",
                      f->to->bare, res->status);
        flush_end(f);
        return;
    }
    /* Sessions may have gone while we waited: look again (nobody left
     * means the messages stay stored for the next login). */
    struct session *s = target_session(srv, f->to);
    if (!s) {
        flush_end(f);
        return;
    }
    long long last = 0;
    for (size_t i = 0; i < res->nitems; i++) {
        const struct store_item *it = &res->items[i];
        struct stanza *st = mam_parse_stored(it->value, it->value_len);
        if (st) {
            sm_deliver(srv, s, st);
            stanza_unref(st);
        } else {
            log_error("offline: stored message %s of %s is corrupt, dropping it",
                      it->key, f->to->bare);
        }
        last = it->seq;
    }
    f->more = res->more;
    store_log_delete(srv->store, f->to->local, f->to->domain, AREA, NULL, last,
                     flush_deleted, f);
}

/* Starts delivering the account's stored messages to s, or, if a flush
 * of the account is running, makes it query once more when done: it
 * delivers to an available session, and may have read the store before a
 * row just committed. */
static void flush_start(struct offline_state *os, struct server *srv, struct session *s)
{
    struct flush *running = hashmap_get(&os->flushing, s->jid->bare);
    if (running) {
        running->again = true;
        return;
    }
    struct flush *f = pl_calloc(1, sizeof(*f));
    f->os = os;
    os->refs++;
    f->srv = srv;
    f->to = jid_dup(s->jid);
    hashmap_put(&os->flushing, f->to->bare, f);
    flush_query(f);
}

static void waiting_del(struct offline_state *os, const char *full)
{
    void *k = hashmap_del(&os->waiting, full);
    free(k);
}

static enum hook_result on_available(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct session *s = ev->session;
    if (s->priority >= 0) {
        flush_start(m->data, ev->srv, s);
    } else {
        /* XEP-0160 §2: only non-negative presence gets the messages. */
        struct offline_state *os = m->data;
        if (!hashmap_get(&os->waiting, s->jid->full)) {
            char *k = pl_strdup(s->jid->full);
            hashmap_put(&os->waiting, k, k);
        }
    }
    return HOOK_CONTINUE;
}

/* A later broadcast presence of a session that was waiting with a
 * negative priority. */
static enum hook_result on_presence_out(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct offline_state *os = m->data;
    struct session *s = ev->session;
    if (!s || !hashmap_get(&os->waiting, s->jid->full) || !eligible(s))
        return HOOK_CONTINUE;
    waiting_del(os, s->jid->full);
    flush_start(m->data, ev->srv, s);
    return HOOK_CONTINUE;
}

static enum hook_result on_gone(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    waiting_del(m->data, ev->session->jid->full);
    return HOOK_CONTINUE;
}

static int offline_load(struct pl_module_ctx *m)
{
    struct offline_state *os = pl_calloc(1, sizeof(*os));
    os->refs = 1;
    hashmap_init(&os->flushing);
    hashmap_init(&os->waiting);
    m->data = os;
    pl_hook(m, HOOK_OFFLINE_MESSAGE, on_offline_message, PRIO_OFFLINE);
    pl_hook(m, HOOK_STANZA_IN, on_stanza_in, PRIO_OFFLINE);
    pl_hook(m, HOOK_USER_AVAILABLE, on_available, PRIO_OFFLINE);
    pl_hook(m, HOOK_PRESENCE_OUT, on_presence_out, PRIO_OFFLINE);
    pl_hook(m, HOOK_USER_UNAVAILABLE, on_gone, PRIO_OFFLINE);
    pl_hook(m, HOOK_SESSION_CLOSED, on_gone, PRIO_OFFLINE);
    pl_disco_feature(m, IQ_TO_HOST, "msgoffline");    /* XEP-0160 §4 */
    return 0;
}

static void offline_unload(struct pl_module_ctx *m)
{
    struct offline_state *os = m->data;
    os->dead = true;
    m->data = NULL;
    state_unref(os);
}

static const struct conf_option offline_options[] = {
    { "max_messages", CONF_INT, offsetof(struct offline_conf, max_messages), "1000",
      1, 1000000, NULL, 0,
      "messages stored per user; further ones are bounced with <service-unavailable/>" },
    CONF_END
};

const struct pl_module pl_module_offline = {
    .name = "offline",
    .doc = "Offline message storage (XEP-0160).",
    .conf_size = sizeof(struct offline_conf),
    .options = offline_options,
    .load = offline_load,
    .unload = offline_unload,
};
