/*
 * mam.c - message archive management (XEP-0313 urn:xmpp:mam:2 with the
 * #extended features, XEP-0059 RSM paging, XEP-0359 stanza ids, XEP-0441
 * preferences).
 *
 * Archiving.  Messages a user receives (HOOK_STANZA_IN) or sends from a
 * session (HOOK_STANZA_OUT) that XEP-0313 §6.1.1 calls archivable go to
 * the user's log area "mam".  An incoming one is delivered as a copy that
 * carries <stanza-id by=user id=.../> (XEP-0313 §3.5); any stanza-id by the
 * user that the sender put in is removed first (XEP-0359 §3 rule 2).  The
 * stanza is held (stanza_hold) until the row is committed, so an XEP-0198
 * ack covers it; for an incoming copy the original stays held until the
 * copy settles too (its own offline write, if it went offline).
 *
 * Preferences (XEP-0441) are cached in memory for users with a session
 * (loaded at bind, kv area "mam" key "prefs").  The decision is always
 * made before an incoming message is stamped, so a <stanza-id/> by the
 * user always names an archived row (XEP-0313 §3.5).  When the
 * preferences are not cached (the recipient has no session) or
 * default='roster' needs the roster, the message waits for the decision
 * (held: XEP-0198 acks wait too) and is then routed again with
 * router_redeliver(), which the hook recognises as already decided.
 *
 * Queries (XEP-0313 §4) are answered for the user's own archive only.
 * Retention: rows older than the 'retention' option are expired by a
 * periodic timer (XEP-0313 §3.2: only the oldest rows go).
 */
#include "modules/mam.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/mam_util.h"
#include "modules/modules.h"
#include "modules/roster.h"
#include "storage/store.h"
#include "xml/xml.h"

#define AREA "mam"
#define PREFS_AREA "mam"
#define PREFS_KEY "prefs"

struct mam_conf {
    unsigned retention;         /* seconds, 0 = keep forever */
};

/* Reference counted: storage callbacks may outlive a reload. */
struct mam_state {
    int refs;
    bool dead;
    char *host;
    struct hashmap prefs;       /* bare JID -> struct mam_prefs * (bound users) */
    struct event *expire;       /* retention timer, NULL when off */
    unsigned retention;
    struct server *srv;
};

static void state_unref(struct mam_state *ms)
{
    if (--ms->refs > 0)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&ms->prefs, &i, &k, &v);) {
        mam_prefs_release(v);
        free(v);
        free((char *)k);
    }
    hashmap_release(&ms->prefs);
    free(ms->host);
    free(ms);
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Stored preferences (NULL value or unreadable: the defaults). */
static struct mam_prefs *prefs_from_stored(const struct store_result *res)
{
    struct mam_prefs *p = pl_calloc(1, sizeof(*p));
    p->def = MAM_DEFAULT_ALWAYS;
    if (res->status != STORE_OK || !res->value)
        return p;
    struct stanza *st = mam_parse_stored(res->value, res->value_len);
    struct mam_error err;
    if (!st || mam_prefs_parse(st->root, p, &err) < 0) {
        log_error("mam: stored preferences are unreadable, using the defaults");
        p->def = MAM_DEFAULT_ALWAYS;
    }
    if (st)
        stanza_unref(st);
    return p;
}

static void cache_put(struct mam_state *ms, const char *bare, struct mam_prefs *p)
{
    char *k = NULL;
    struct mam_prefs *old = NULL;
    const char *key;
    void *v;
    for (size_t i = 0; hashmap_next(&ms->prefs, &i, &key, &v);) {
        if (strcmp(key, bare) == 0) {
            k = (char *)key;
            old = v;
            break;
        }
    }
    if (old) {
        hashmap_put(&ms->prefs, k, p);
        mam_prefs_release(old);
        free(old);
        return;
    }
    k = pl_strdup(bare);
    hashmap_put(&ms->prefs, k, p);
}

static void cache_del(struct mam_state *ms, const char *bare)
{
    struct mam_prefs *p = hashmap_get(&ms->prefs, bare);
    if (!p)
        return;
    const char *key;
    void *v;
    char *k = NULL;
    for (size_t i = 0; hashmap_next(&ms->prefs, &i, &key, &v);)
        if (v == p)
            k = (char *)key;
    hashmap_del(&ms->prefs, bare);
    free(k);
    mam_prefs_release(p);
    free(p);
}

/* --- archiving -------------------------------------------------------------- */

struct arch {
    struct mam_state *ms;       /* a reference */
    struct server *srv;
    struct stanza *held;        /* held and referenced until the write is done */
    struct jid *user;           /* the archive's owner (bare) */
    struct jid *target;         /* the other party, as XEP-0441 §2.3 matches it */
    char id[MAM_ID_LEN + 1];
    long long stamp;
    struct buf value;           /* the serialized message */
};

static void arch_free(struct arch *a)
{
    stanza_unhold(a->held);
    stanza_unref(a->held);
    state_unref(a->ms);
    jid_free(a->user);
    jid_free(a->target);
    buf_release(&a->value);
    free(a);
}

static void appended(const struct store_result *res, void *ud)
{
    struct arch *a = ud;
    if (res->status != STORE_OK && res->status != STORE_NOT_FOUND)
        log_error("mam: archiving a message for %s failed (status %d)",
                  a->user->bare, res->status);
    arch_free(a);
}

static void arch_write(struct arch *a)
{
    struct store_log_append_args args = {
        .user = a->user->local, .host = a->user->domain, .area = AREA, .id = a->id,
        .with = a->target->bare, .stamp = a->stamp,
        .value = a->value.data, .value_len = a->value.len,
        .need_account = true,
    };
    store_log_append(a->srv->store, &args, appended, a);
}

static void roster_answer(struct server *srv, int sub, void *ud)
{
    (void)srv;
    struct arch *a = ud;
    /* XEP-0441 §2.1.1 'roster': archived if the contact is in the roster
     * (any subscription state counts as "in the roster" only when the
     * roster knows it: ROSTER_SUB_NONE also means absent). */
    if (sub > ROSTER_SUB_NONE)
        arch_write(a);
    else
        arch_free(a);
}

static void arch_decide(struct arch *a, const struct mam_prefs *p)
{
    switch (mam_prefs_decide(p, a->target)) {
    case MAM_ARCHIVE:
        arch_write(a);
        return;
    case MAM_SKIP:
        arch_free(a);
        return;
    case MAM_ASK_ROSTER:
        break;
    }
    roster_subscription(a->srv, a->user->bare, a->target->bare, roster_answer, a);
}

static void prefs_loaded(const struct store_result *res, void *ud)
{
    struct arch *a = ud;
    struct mam_prefs *p = prefs_from_stored(res);
    if (a->srv->stopping)
        arch_write(a);          /* keep what was accepted */
    else
        arch_decide(a, p);
    mam_prefs_release(p);
    free(p);
}

/* Starts archiving 'msg' (already serialized into a->value by the
 * caller) for a->user; 'held' is held and referenced until done. */
static struct arch *arch_new(struct mam_state *ms, struct server *srv,
                             struct stanza *held, struct jid *user, struct jid *target)
{
    struct arch *a = pl_calloc(1, sizeof(*a));
    a->ms = ms;
    ms->refs++;
    a->srv = srv;
    a->held = stanza_ref(held);
    stanza_hold(held);
    a->user = user;
    a->target = target;
    mam_new_id(a->id);
    a->stamp = now_us();
    buf_init(&a->value);
    return a;
}

/* The sync part of the decision: MAM_ARCHIVE/MAM_SKIP when the prefs
 * are cached and enough, else -1 (ask storage or the roster). */
static int quick_decision(struct mam_state *ms, const struct jid *user, const struct jid *target)
{
    struct mam_prefs *p = hashmap_get(&ms->prefs, user->bare);
    if (!p)
        return -1;
    enum mam_decision d = mam_prefs_decide(p, target);
    return d == MAM_ASK_ROSTER ? -1 : (int)d;
}

static void arch_start(struct pl_module_ctx *m, struct arch *a, int quick)
{
    struct mam_state *ms = m->data;
    if (quick == MAM_ARCHIVE) {
        arch_write(a);
    } else {
        struct mam_prefs *p = hashmap_get(&ms->prefs, a->user->bare);
        if (p)
            arch_decide(a, p);          /* the roster decides */
        else
            store_kv_get(a->srv->store, a->user->local, a->user->domain, PREFS_AREA,
                         PREFS_KEY, prefs_loaded, a);
    }
}

/* The original stays held until the copy delivered in its place settled
 * (its archive write and any offline write are committed). */
static void copy_settled(struct stanza *copy, void *ud)
{
    (void)copy;
    struct stanza *orig = ud;
    stanza_unhold(orig);
    stanza_unref(orig);
}

/*
 * The copy of incoming 'st' that is delivered in its place, once the
 * archiving decision is made: stanza ids by the user that the sender put
 * in are removed (XEP-0359 §3 rule 2) and, only when 'archive', the row
 * is written and the copy carries <stanza-id by=user id=row/> (XEP-0313
 * §3.5): a stanza id never names a row that is not archived.  Takes
 * 'user' and 'target' (either may be NULL when not archiving).
 */
static struct stanza *incoming_copy(struct mam_state *ms, struct server *srv,
                                    struct stanza *st, const char *by, struct jid *user,
                                    struct jid *target, bool archive)
{
    struct stanza *copy = stanza_copy(st);
    mam_strip_stanza_ids(copy->root, by);
    if (!archive || !user || !target) {
        jid_free(user);
        jid_free(target);
        return copy;
    }
    struct arch *a = arch_new(ms, srv, copy, user, target);
    xml_serialize(copy->root, XML_NS_CLIENT, &a->value);
    struct xml_node *sid = xml_add_child(copy->arena, copy->root, NS_SID, "stanza-id");
    xml_set_attr(copy->arena, sid, "by", a->user->bare);
    xml_set_attr(copy->arena, sid, "id", a->id);
    /* Hold the original until the copy settles. */
    stanza_hold(st);
    stanza_ref(st);
    stanza_on_settled(copy, copy_settled, st);
    /* stanza_on_settled() took a hold of its own; arch_new's hold
     * (released when the row is committed) is the one that counts. */
    stanza_unhold(copy);
    arch_write(a);
    return copy;
}

/*
 * An incoming message whose decision needs storage (preferences not
 * cached: the recipient has no session) or the roster (default='roster').
 * The message waits for it - held (ARCHITECTURE.md principle 5) and
 * referenced - because its stanza id must agree with the decision; then
 * the stamped (or not) copy is routed once more with router_redeliver(),
 * which runs the other hooks and the delivery rules but tells this
 * module (ev->redelivery) that the archiving is already done.  The
 * recipient's gate is held meanwhile (router.h): later messages to the
 * recipient wait in the router, so none can be decided at once and
 * overtake this one (RFC 6120 §10.1).
 */
struct pending_in {
    struct mam_state *ms;       /* a reference */
    struct server *srv;
    struct stanza *st;          /* referenced and held */
    struct jid *user;           /* bare; its gate is held */
    struct jid *target;
};

static void pending_in_done(struct pending_in *pi, bool archive)
{
    struct stanza *copy = incoming_copy(pi->ms, pi->srv, pi->st, pi->user->bare,
                                        jid_dup(pi->user), pi->target, archive);
    router_redeliver(pi->srv, copy);
    stanza_unref(copy);
    router_gate_release(pi->srv, pi->user->bare);
    stanza_unhold(pi->st);
    stanza_unref(pi->st);
    jid_free(pi->user);
    state_unref(pi->ms);
    free(pi);
}

static void pending_in_roster(struct server *srv, int sub, void *ud)
{
    (void)srv;
    /* XEP-0441 §2.1.1 'roster' (ROSTER_SUB_NONE also means absent; -1,
     * a storage failure, archives nothing rather than guess). */
    pending_in_done(ud, sub > ROSTER_SUB_NONE);
}

static void pending_in_decide(struct pending_in *pi, const struct mam_prefs *p)
{
    switch (mam_prefs_decide(p, pi->target)) {
    case MAM_ARCHIVE:
        pending_in_done(pi, true);
        return;
    case MAM_SKIP:
        pending_in_done(pi, false);
        return;
    case MAM_ASK_ROSTER:
        break;
    }
    if (pi->srv->stopping) {
        pending_in_done(pi, false);     /* deliver; the roster may be gone */
        return;
    }
    roster_subscription(pi->srv, pi->user->bare, pi->target->bare, pending_in_roster, pi);
}

static void pending_in_prefs(const struct store_result *res, void *ud)
{
    struct pending_in *pi = ud;
    struct mam_prefs *p = prefs_from_stored(res);
    pending_in_decide(pi, p);
    mam_prefs_release(p);
    free(p);
}

static enum hook_result on_stanza_in(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct mam_state *ms = m->data;
    struct stanza *st = ev->stanza;
    /* A redelivery was archived, or decided not to be, and got its
     * <stanza-id/> the first time: XEP-0198 unacked messages of an ended
     * session (router.h) and messages that waited for their decision
     * here (struct pending_in). */
    if (strcmp(st->root->name, "message") != 0 || !ev->user || ev->redelivery)
        return HOOK_CONTINUE;
    const char *type = xml_attr(st->root, "type");
    if (type && strcmp(type, "error") == 0)
        return HOOK_CONTINUE;
    bool forged = mam_has_stanza_id(st->root, ev->user);
    bool archivable = mam_is_archivable(st->root);
    if (!forged && !archivable)
        return HOOK_CONTINUE;
    struct jid *user = jid_parse(ev->user);
    const char *from_s = xml_attr(st->root, "from");
    struct jid *target = from_s ? jid_parse(from_s) : NULL;
    if (!user || !target)
        archivable = false;
    int quick = archivable ? quick_decision(ms, user, target) : MAM_SKIP;
    if (quick < 0) {
        /* Decide first, stamp after (XEP-0313 §3.5 with XEP-0441 §2). */
        struct pending_in *pi = pl_calloc(1, sizeof(*pi));
        pi->ms = ms;
        ms->refs++;
        pi->srv = ev->srv;
        pi->st = stanza_ref(st);
        stanza_hold(st);
        pi->user = user;
        pi->target = target;
        router_gate_hold(ev->srv, user->bare);
        struct mam_prefs *p = hashmap_get(&ms->prefs, user->bare);
        if (p)
            pending_in_decide(pi, p);       /* the roster decides */
        else
            store_kv_get(ev->srv->store, user->local, user->domain, PREFS_AREA, PREFS_KEY,
                         pending_in_prefs, pi);
        return HOOK_HANDLED;
    }
    /* The copy the router delivers instead of st (hook.h); the reference
     * passes to the router. */
    ev->stanza = incoming_copy(ms, ev->srv, st, ev->user, user, target, quick == MAM_ARCHIVE);
    return HOOK_CONTINUE;
}

static enum hook_result on_stanza_out(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct mam_state *ms = m->data;
    struct stanza *st = ev->stanza;
    if (!ev->session || strcmp(st->root->name, "message") != 0 || !mam_is_archivable(st->root))
        return HOOK_CONTINUE;
    const char *to_s = xml_attr(st->root, "to");
    struct jid *target = to_s ? jid_parse(to_s) : NULL;
    if (!target)
        return HOOK_CONTINUE;
    struct jid *user = jid_bare(ev->session->jid);
    int quick = quick_decision(ms, user, target);
    if (quick == MAM_SKIP) {
        jid_free(user);
        jid_free(target);
        return HOOK_CONTINUE;
    }
    struct arch *a = arch_new(ms, ev->srv, st, user, target);
    xml_serialize(st->root, XML_NS_CLIENT, &a->value);
    arch_start(m, a, quick);
    return HOOK_CONTINUE;
}

/* --- preferences cache --------------------------------------------------- */

struct prefs_load {
    struct mam_state *ms;
    struct server *srv;
    char *bare;
};

static void cache_loaded(const struct store_result *res, void *ud)
{
    struct prefs_load *l = ud;
    /* Cache only for a user still bound, and never over a newer set. */
    if (!l->ms->dead && !l->srv->stopping && sm_account(l->srv, l->bare)
        && !hashmap_get(&l->ms->prefs, l->bare))
        cache_put(l->ms, l->bare, prefs_from_stored(res));
    state_unref(l->ms);
    free(l->bare);
    free(l);
}

static enum hook_result on_bound(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct mam_state *ms = m->data;
    struct session *s = ev->session;
    if (hashmap_get(&ms->prefs, s->jid->bare))
        return HOOK_CONTINUE;
    struct prefs_load *l = pl_malloc(sizeof(*l));
    l->ms = ms;
    ms->refs++;
    l->srv = ev->srv;
    l->bare = pl_strdup(s->jid->bare);
    store_kv_get(ev->srv->store, s->jid->local, s->jid->domain, PREFS_AREA, PREFS_KEY,
                 cache_loaded, l);
    return HOOK_CONTINUE;
}

static enum hook_result on_closed(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct session *s = ev->session;
    if (s->account->nsessions <= 1)
        cache_del(m->data, s->jid->bare);
    return HOOK_CONTINUE;
}

/* The account is gone (HOOK_ACCOUNT_DELETED): its cached preferences
 * must not apply to an account created later under the same name. */
static enum hook_result on_account_deleted(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    cache_del(m->data, ev->user);
    return HOOK_CONTINUE;
}

/* --- IQ handlers ---------------------------------------------------------- */

static void bounce_err(struct server *srv, struct stanza *req, const struct mam_error *e)
{
    router_bounce(srv, req, e->type, e->cond, e->text);
}

/* The owner of the archive addressed ('to', or the sender's own account). */
static struct jid *archive_of(const struct stanza *req)
{
    const char *to = xml_attr(req->root, "to");
    const char *from = xml_attr(req->root, "from");
    struct jid *j = jid_parse(to ? to : from);
    if (!j)
        return NULL;
    struct jid *b = jid_bare(j);
    jid_free(j);
    return b;
}

/* XEP-0313 §4.1.5: the fields we support. */
static void answer_form(struct server *srv, struct stanza *req)
{
    struct stanza *r;
    struct xml_node *q = iq_reply_result(req, NS_MAM, "query", &r);
    mam_fill_query_form(r->arena, q);
    router_route(srv, r);
    stanza_unref(r);
}

/* A full-JID 'with' (XEP-0313 §4.1.1) is filtered here, over every row
 * of the conversation with the bare JID: a conversation longer than this
 * is refused rather than read whole into memory. */
#define FULL_WITH_SCAN_MAX 20000

struct mam_q {
    struct server *srv;
    struct stanza *req;         /* referenced */
    struct jid *owner;          /* bare */
    char *queryid;
    size_t nids;
    bool flip, count_only;
    /* Full-JID 'with' only: */
    char *with_full;
    long long max;
    bool reverse;
    bool paged;                 /* after/before: a second query counts */
    struct store_log_query_args count_args;     /* strings owned below */
    char *with, **ids, *after_id, *before_id;
    long long count;            /* filtered size of the whole result set */
};

static void mq_free(struct mam_q *mq)
{
    stanza_unref(mq->req);
    jid_free(mq->owner);
    free(mq->queryid);
    free(mq->with_full);
    free(mq->with);
    free(mq->after_id);
    free(mq->before_id);
    for (size_t i = 0; mq->ids && mq->ids[i]; i++)
        free(mq->ids[i]);
    free(mq->ids);
    free(mq);
}

static void send_result(struct server *srv, struct session *s, const struct mam_q *mq,
                        const struct store_item *it)
{
    struct stanza *msg = mam_result_message(it, mq->owner->bare, s->jid->full, mq->queryid);
    if (!msg) {
        log_error("mam: archived message %s of %s is corrupt", it->key, mq->owner->bare);
        return;
    }
    sm_deliver(srv, s, msg);
    stanza_unref(msg);
}

/* The rows of res that match the full JID, shallow copies (the strings
 * stay res's); *n_out their number. */
static struct store_item *filter_full(const struct mam_q *mq, const struct store_result *res,
                                      size_t *n_out)
{
    struct store_item *v = pl_calloc(res->nitems ? res->nitems : 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < res->nitems; i++)
        if (mam_item_with_full(&res->items[i], mq->owner->bare, mq->with_full))
            v[n++] = res->items[i];
    *n_out = n;
    return v;
}

/* Common answers to a failed query; true when one was sent (or nobody
 * is to be answered). */
static bool query_failed(struct mam_q *mq, const struct store_result *res)
{
    struct server *srv = mq->srv;
    if (srv->stopping)
        return true;
    if (res->status == STORE_NOT_FOUND) {
        router_bounce(srv, mq->req, "cancel", "item-not-found",
                      "no message with that id in the archive");
        return true;
    }
    if (res->status != STORE_OK) {
        router_bounce(srv, mq->req, "wait", "internal-server-error", "archive unavailable");
        return true;
    }
    if (res->more) {
        router_bounce(srv, mq->req, "cancel", "policy-violation",
                      "too many messages with that bare JID to filter by full JID; "
                      "narrow the query with 'start' and 'end'");
        return true;
    }
    return false;
}

/* Sends the result messages and the <fin/> for rows (oldest first). */
static void query_answer(struct mam_q *mq, const struct store_item *rows, size_t n,
                         long long count, bool complete)
{
    struct server *srv = mq->srv;
    struct jid *from = jid_parse(xml_attr(mq->req->root, "from"));
    struct session *s = from ? sm_find(srv, from) : NULL;
    jid_free(from);
    if (!s)
        return;                 /* the querier left: nobody to answer */
    for (size_t i = 0; i < n; i++)
        send_result(srv, s, mq, &rows[mq->flip ? n - 1 - i : i]);
    /* XEP-0313 §4: the IQ result comes after the last result message. */
    struct stanza *r;
    struct xml_node *fin = iq_reply_result(mq->req, NS_MAM, "fin", &r);
    mam_fill_fin(r->arena, fin, rows, n, count, complete);
    router_route(srv, r);
    stanza_unref(r);
}

/* Full-JID 'with', the page query (after its count when paged). */
static void full_page_done(const struct store_result *res, void *ud)
{
    struct mam_q *mq = ud;
    if (!query_failed(mq, res)) {
        size_t n, off, len;
        bool more;
        /* (Unknown ids, after-id and before-id were NOT_FOUND: the
         * store checks them whatever 'with' says.) */
        struct store_item *rows = filter_full(mq, res, &n);
        long long count = mq->paged ? mq->count : (long long)n;
        mam_page_window(n, mq->count_only ? 0 : mq->max, mq->reverse, &off, &len, &more);
        if (mq->count_only)
            query_answer(mq, rows, 0, count, count == 0);
        else
            query_answer(mq, rows + off, len, count, !more);
        free(rows);
    }
    mq_free(mq);
}

static void full_count_done(const struct store_result *res, void *ud)
{
    struct mam_q *mq = ud;
    if (query_failed(mq, res)) {
        mq_free(mq);
        return;
    }
    size_t n;
    free(filter_full(mq, res, &n));
    mq->count = (long long)n;
    mq->count_args.after_id = mq->after_id;
    mq->count_args.before_id = mq->before_id;
    /* The page: the same query between the after/before rows. */
    store_log_query(mq->srv->store, &mq->count_args, full_page_done, mq);
}

static void query_done(const struct store_result *res, void *ud)
{
    struct mam_q *mq = ud;
    struct server *srv = mq->srv;
    if (srv->stopping)
        goto out;
    if (res->status == STORE_NOT_FOUND) {
        /* XEP-0313 §4.1.3, §4.3.2: an unknown before/after id. */
        router_bounce(srv, mq->req, "cancel", "item-not-found",
                      "no message with that id in the archive");
        goto out;
    }
    if (res->status != STORE_OK) {
        router_bounce(srv, mq->req, "wait", "internal-server-error", "archive unavailable");
        goto out;
    }
    if (mq->nids && res->nitems != mq->nids) {
        router_bounce(srv, mq->req, "cancel", "item-not-found",
                      "a requested id is not in the archive");
        goto out;
    }
    struct jid *from = jid_parse(xml_attr(mq->req->root, "from"));
    struct session *s = from ? sm_find(srv, from) : NULL;
    jid_free(from);
    if (!s)
        goto out;               /* the querier left: nobody to answer */
    size_t n = mq->count_only ? 0 : res->nitems;
    for (size_t i = 0; i < n; i++)
        send_result(srv, s, mq, &res->items[mq->flip ? n - 1 - i : i]);
    /* XEP-0313 §4: the IQ result comes after the last result message. */
    struct stanza *r;
    struct xml_node *fin = iq_reply_result(mq->req, NS_MAM, "fin", &r);
    bool complete = mq->count_only ? res->seq == 0 : !res->more;
    mam_fill_fin(r->arena, fin, res->items, n, res->seq, complete);
    router_route(srv, r);
    stanza_unref(r);
out:
    mq_free(mq);
}

static void run_query(struct server *srv, struct stanza *req, struct xml_node *payload,
                      struct jid *owner)
{
    struct arena *a = arena_new(1024);
    struct mam_query q;
    struct mam_error err;
    if (mam_query_parse(a, payload, &q, &err) < 0) {
        bounce_err(srv, req, &err);
        arena_free(a);
        jid_free(owner);
        return;
    }
    struct mam_q *mq = pl_calloc(1, sizeof(*mq));
    mq->srv = srv;
    mq->req = stanza_ref(req);
    mq->owner = owner;
    mq->queryid = q.queryid ? pl_strdup(q.queryid) : NULL;
    mq->nids = q.nids;
    mq->flip = q.flip;
    mq->count_only = q.max == 0;
    struct store_log_query_args args;
    mam_query_store_args(&q, owner->local, owner->domain, AREA, &args);
    if (!q.with_full) {
        store_log_query(srv->store, &args, query_done, mq);
        arena_free(a);
        return;
    }
    /* XEP-0313 §4.1.1: only messages to/from that full JID.  The store
     * matches the bare JID; the rows are filtered and paged here. */
    mq->with_full = pl_strdup(q.with_full);
    mq->max = q.max;
    mq->reverse = q.reverse;
    mq->paged = q.after_id || q.before_id;
    mq->with = pl_strdup(q.with);
    if (q.nids) {
        mq->ids = pl_calloc(q.nids + 1, sizeof(char *));
        for (size_t i = 0; i < q.nids; i++)
            mq->ids[i] = pl_strdup(q.ids[i]);
    }
    args.with = mq->with;
    args.ids = (const char *const *)mq->ids;
    args.limit = FULL_WITH_SCAN_MAX;
    args.reverse = false;
    if (mq->paged) {
        /* First the whole result set for the RSM count (XEP-0059 §2.6),
         * then (full_count_done) the page between the after/before rows.
         * The strings of the args are kept by mq: 'owner' and copies. */
        mq->after_id = q.after_id ? pl_strdup(q.after_id) : NULL;
        mq->before_id = q.before_id ? pl_strdup(q.before_id) : NULL;
        mq->count_args = args;
        mq->count_args.user = mq->owner->local;
        mq->count_args.host = mq->owner->domain;
        mq->count_args.after_id = mq->count_args.before_id = NULL;
        store_log_query(srv->store, &mq->count_args, full_count_done, mq);
    } else {
        store_log_query(srv->store, &args, full_page_done, mq);
    }
    arena_free(a);
}

/* --- metadata (XEP-0313 §5) --- */

struct meta {
    struct server *srv;
    struct stanza *req;
    struct jid *owner;
    struct stanza *reply;
    struct xml_node *md;
};

static void meta_free(struct meta *mt)
{
    stanza_unref(mt->req);
    if (mt->reply)
        stanza_unref(mt->reply);
    jid_free(mt->owner);
    free(mt);
}

static void meta_add(struct meta *mt, const char *name, const struct store_item *it)
{
    struct arena *a = mt->reply->arena;
    struct xml_node *n = xml_add_child(a, mt->md, NULL, name);
    char stamp[MAM_STAMP_MAX];
    mam_format_datetime(it->stamp, stamp);
    xml_set_attr(a, n, "id", it->key);
    xml_set_attr(a, n, "timestamp", stamp);
}

static void meta_last(const struct store_result *res, void *ud)
{
    struct meta *mt = ud;
    if (!mt->srv->stopping) {
        if (res->status != STORE_OK) {
            router_bounce(mt->srv, mt->req, "wait", "internal-server-error", "archive unavailable");
        } else {
            if (res->nitems > 0)
                meta_add(mt, "end", &res->items[res->nitems - 1]);
            router_route(mt->srv, mt->reply);
        }
    }
    meta_free(mt);
}

static void meta_first(const struct store_result *res, void *ud)
{
    struct meta *mt = ud;
    if (mt->srv->stopping || res->status != STORE_OK || res->nitems == 0) {
        if (!mt->srv->stopping && res->status != STORE_OK)
            router_bounce(mt->srv, mt->req, "wait", "internal-server-error", "archive unavailable");
        else if (!mt->srv->stopping)
            router_route(mt->srv, mt->reply);   /* empty archive: empty <metadata/> */
        meta_free(mt);
        return;
    }
    meta_add(mt, "start", &res->items[0]);
    struct store_log_query_args q = {
        .user = mt->owner->local, .host = mt->owner->domain, .area = AREA,
        .limit = 1, .reverse = true,
    };
    store_log_query(mt->srv->store, &q, meta_last, mt);
}

static void answer_metadata(struct server *srv, struct stanza *req, struct jid *owner)
{
    struct meta *mt = pl_calloc(1, sizeof(*mt));
    mt->srv = srv;
    mt->req = stanza_ref(req);
    mt->owner = owner;
    mt->md = iq_reply_result(req, NS_MAM, "metadata", &mt->reply);
    struct store_log_query_args q = {
        .user = owner->local, .host = owner->domain, .area = AREA, .limit = 1,
    };
    store_log_query(srv->store, &q, meta_first, mt);
}

/* --- prefs (XEP-0441 §2.1) --- */

struct prefs_op {
    struct mam_state *ms;
    struct server *srv;
    struct stanza *req;
    struct jid *owner;
    struct mam_prefs *set;      /* NULL for a get */
};

static void prefs_op_free(struct prefs_op *po)
{
    state_unref(po->ms);
    stanza_unref(po->req);
    jid_free(po->owner);
    if (po->set) {
        mam_prefs_release(po->set);
        free(po->set);
    }
    free(po);
}

static void reply_prefs(struct server *srv, struct stanza *req, const struct mam_prefs *p)
{
    struct buf b;
    buf_init(&b);
    mam_prefs_serialize(p, &b);
    struct stanza *doc = mam_parse_stored(b.data, b.len);
    buf_release(&b);
    struct stanza *r;
    iq_reply_result(req, NULL, NULL, &r);
    xml_append(r->root, xml_copy(r->arena, doc->root));
    stanza_unref(doc);
    router_route(srv, r);
    stanza_unref(r);
}

static void prefs_got(const struct store_result *res, void *ud)
{
    struct prefs_op *po = ud;
    if (!po->srv->stopping) {
        if (res->status != STORE_OK && res->status != STORE_NOT_FOUND) {
            router_bounce(po->srv, po->req, "wait", "internal-server-error",
                          "preferences unavailable");
        } else {
            struct mam_prefs *p = prefs_from_stored(res);
            reply_prefs(po->srv, po->req, p);
            mam_prefs_release(p);
            free(p);
        }
    }
    prefs_op_free(po);
}

static void prefs_stored(const struct store_result *res, void *ud)
{
    struct prefs_op *po = ud;
    if (!po->srv->stopping) {
        if (res->status != STORE_OK) {
            router_bounce(po->srv, po->req, "wait", "internal-server-error",
                          "preferences could not be saved");
        } else {
            if (!po->ms->dead && sm_account(po->srv, po->owner->bare)) {
                cache_put(po->ms, po->owner->bare, po->set);
                reply_prefs(po->srv, po->req, po->set);
                po->set = NULL;     /* owned by the cache now */
            } else {
                reply_prefs(po->srv, po->req, po->set);
            }
        }
    }
    prefs_op_free(po);
}

static void handle_prefs(struct pl_module_ctx *m, struct server *srv, struct stanza *req,
                         struct xml_node *payload, struct jid *owner, bool set)
{
    struct mam_state *ms = m->data;
    struct prefs_op *po = pl_calloc(1, sizeof(*po));
    po->ms = ms;
    ms->refs++;
    po->srv = srv;
    po->req = stanza_ref(req);
    po->owner = owner;
    if (!set) {
        struct mam_prefs *p = hashmap_get(&ms->prefs, owner->bare);
        if (p) {
            reply_prefs(srv, req, p);
            prefs_op_free(po);
            return;
        }
        store_kv_get(srv->store, owner->local, owner->domain, PREFS_AREA, PREFS_KEY,
                     prefs_got, po);
        return;
    }
    struct mam_error err;
    po->set = pl_calloc(1, sizeof(*po->set));
    if (mam_prefs_parse(payload, po->set, &err) < 0) {
        bounce_err(srv, req, &err);
        prefs_op_free(po);
        return;
    }
    struct buf b;
    buf_init(&b);
    mam_prefs_serialize(po->set, &b);
    store_kv_set(srv->store, owner->local, owner->domain, PREFS_AREA, PREFS_KEY,
                 b.data, b.len, prefs_stored, po);
    buf_release(&b);
}

static void mam_iq(struct server *srv, struct stanza *req, struct xml_node *payload, void *ud)
{
    struct pl_module_ctx *m = ud;
    const char *type = xml_attr(req->root, "type");
    bool set = strcmp(type, "set") == 0;
    struct jid *owner = archive_of(req);
    struct jid *from = jid_parse(xml_attr(req->root, "from"));
    bool own = owner && from && strcmp(owner->bare, from->bare) == 0;
    jid_free(from);
    if (!own) {
        /* XEP-0313 §3.3.1: a user archive is its owner's. */
        router_bounce(srv, req, "auth", "forbidden", "only the owner may access an archive");
        jid_free(owner);
        return;
    }
    if (strcmp(payload->name, "query") == 0) {
        if (set)
            run_query(srv, req, payload, owner);
        else {
            answer_form(srv, req);
            jid_free(owner);
        }
    } else if (strcmp(payload->name, "prefs") == 0) {
        handle_prefs(m, srv, req, payload, owner, set);
    } else if (strcmp(payload->name, "metadata") == 0 && !set) {
        answer_metadata(srv, req, owner);
    } else {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        jid_free(owner);
    }
}

/* --- retention ------------------------------------------------------------ */

static void expired(const struct store_result *res, void *ud)
{
    (void)ud;
    if (res->status != STORE_OK)
        log_error("mam: expiring old archive rows failed (status %d)", res->status);
    else if (res->seq > 0)
        log_info("mam: expired %lld archived messages", res->seq);
}

static void on_expire(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct mam_state *ms = ud;
    if (ms->srv->stopping)
        return;
    store_log_expire(ms->srv->store, ms->host, AREA,
                     now_us() - (long long)ms->retention * 1000000, expired, NULL);
}

/* --- for other modules (mam.h) ---------------------------------------------- */

struct ids_q {
    struct server *srv;
    mam_ids_cb cb;
    void *ud;
    char **ids;
    size_t n;
};

static void ids_done(const struct store_result *res, void *ud)
{
    struct ids_q *iq = ud;
    bool *present = pl_calloc(iq->n ? iq->n : 1, sizeof(bool));
    bool ok = res->status == STORE_OK;
    for (size_t i = 0; ok && i < res->nitems; i++)
        for (size_t j = 0; j < iq->n; j++)
            if (strcmp(res->items[i].key, iq->ids[j]) == 0)
                present[j] = true;
    iq->cb(iq->srv, ok, present, iq->n, iq->ud);
    free(present);
    for (size_t i = 0; i < iq->n; i++)
        free(iq->ids[i]);
    free(iq->ids);
    free(iq);
}

void mam_archived_ids(struct server *srv, const char *user, const char *const *ids,
                      size_t n, mam_ids_cb cb, void *ud)
{
    struct jid *j = jid_parse(user);
    if (!j || !j->local || n == 0 || !modules_instance(srv, j->domain, "mam")) {
        bool *none = pl_calloc(n ? n : 1, sizeof(bool));
        cb(srv, n == 0, none, n, ud);
        free(none);
        jid_free(j);
        return;
    }
    struct ids_q *iq = pl_calloc(1, sizeof(*iq));
    iq->srv = srv;
    iq->cb = cb;
    iq->ud = ud;
    iq->n = n;
    iq->ids = pl_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        iq->ids[i] = pl_strdup(ids[i]);
    struct store_log_query_args q = {
        .user = j->local, .host = j->domain, .area = AREA,
        .ids = (const char *const *)iq->ids,
        .skip_unknown_ids = true,   /* the question is which ones exist */
    };
    store_log_query(srv->store, &q, ids_done, iq);
    jid_free(j);
}

/* --- module -------------------------------------------------------------- */

static int mam_load(struct pl_module_ctx *m)
{
    const struct mam_conf *conf = m->conf;
    struct mam_state *ms = pl_calloc(1, sizeof(*ms));
    ms->refs = 1;
    ms->host = pl_strdup(m->host);
    ms->srv = m->srv;
    ms->retention = conf->retention;
    hashmap_init(&ms->prefs);
    m->data = ms;
    pl_hook(m, HOOK_STANZA_IN, on_stanza_in, PRIO_ARCHIVE);
    pl_hook(m, HOOK_STANZA_OUT, on_stanza_out, PRIO_ARCHIVE);
    pl_hook(m, HOOK_SESSION_BOUND, on_bound, PRIO_ARCHIVE);
    pl_hook(m, HOOK_SESSION_CLOSED, on_closed, PRIO_ARCHIVE);
    pl_hook(m, HOOK_ACCOUNT_DELETED, on_account_deleted, PRIO_ARCHIVE);
    pl_iq_handle(m, IQ_TO_BARE, NS_MAM, mam_iq);
    pl_disco_feature(m, IQ_TO_BARE, NS_MAM);
    pl_disco_feature(m, IQ_TO_BARE, NS_MAM_EXTENDED);
    pl_disco_feature(m, IQ_TO_BARE, NS_SID);
    if (conf->retention > 0) {
        /* Often enough that rows outlive the limit by a quarter of it at
         * most (an hour at most for long limits). */
        unsigned every = conf->retention / 4;
        if (every < 1)
            every = 1;
        if (every > 3600)
            every = 3600;
        ms->expire = event_new(m->srv->base, -1, EV_PERSIST, on_expire, ms);
        struct timeval tv = { (time_t)every, 0 };
        event_add(ms->expire, &tv);
    }
    return 0;
}

static void mam_unload(struct pl_module_ctx *m)
{
    struct mam_state *ms = m->data;
    if (ms->expire)
        event_free(ms->expire);
    ms->expire = NULL;
    ms->dead = true;
    m->data = NULL;
    state_unref(ms);
}

static const struct conf_option mam_options[] = {
    { "retention", CONF_SECONDS, offsetof(struct mam_conf, retention), "0", 0, 3153600000LL,
      NULL, 0, "archived messages older than this are deleted (e.g. 365d); 0 keeps them forever" },
    CONF_END
};

const struct pl_module pl_module_mam = {
    .name = "mam",
    .doc = "Message archive management (XEP-0313) with stanza ids (XEP-0359).",
    .conf_size = sizeof(struct mam_conf),
    .options = mam_options,
    .load = mam_load,
    .unload = mam_unload,
};
