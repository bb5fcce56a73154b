/*
 * push.c - Push Notifications (XEP-0357), the user's server side.
 *
 * §5/§6: a client registers or removes a push service (an app server's
 * JID and node, with optional publish options) with an IQ set to its own
 * account (no 'to': the router dispatches it to IQ_TO_BARE handlers).
 * Registrations are stored per user in the kv area "push", key
 * "jid\nnode" (push_rules.h), value the <enable/> element as given (jid
 * prepared), so the publish options come back with it.
 * §4.1: disco feature urn:xmpp:push:0 on the account.
 * §7: when a message for the user goes to offline storage
 * (HOOK_OFFLINE_MESSAGE, before the offline module stores it) or is
 * queued for a hibernated XEP-0198 session (HOOK_MESSAGE_HIBERNATED),
 * each registered service gets a pubsub publish from the user's bare JID
 * with the urn:xmpp:push:summary form.  The body goes in only when the
 * 'include_body' option says so (§9: bodies leave the server through
 * third parties), and each registration is rate-limited ('min_interval').
 * §7.1: an IQ error in answer to a publish that is permanent (anything
 * but type 'wait', push_rules.h) disables that registration: it is
 * deleted from storage and the removal is logged.  A temporary error, or
 * no answer within 'publish_timeout', is retried ('retries' times, with
 * the delay doubling from 'retry_delay'); once the retries are spent the
 * notification is dropped (logged) and the registration kept - a service
 * that is down for a while is not a service that refused the user.
 * §8: an affiliation change to 'none' sent by the service to the user's
 * bare JID removes the registrations of that service and node too.
 * The answers are addressed to the user's bare JID, so they are caught
 * by id in HOOK_STANZA_IN before the router would drop them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "modules/push_rules.h"
#include "modules/xmldoc.h"
#include "storage/store.h"
#include "xml/xml.h"

#define AREA "push"
/* Bytes of a stored <enable/> (publish options included): credentials
 * for an app server are small; this bounds what a client makes us keep. */
#define ENABLE_MAX_BYTES 4096
/* Publishes awaiting an answer or a retry; beyond this, new ones are
 * sent untracked (an error then does not disable, nothing is retried). */
#define PENDING_MAX 4096
/* The longest delay between two attempts, whatever the backoff says. */
#define RETRY_DELAY_CAP 3600
/* Rate-limit entries kept before stale ones are pruned. */
#define RATES_MAX 8192

struct push_conf {
    bool include_body;          /* last-message-body in summaries */
    unsigned min_interval;      /* seconds between notifications per registration */
    unsigned max_registrations; /* per user */
    unsigned publish_timeout;   /* seconds an answer is waited for */
    unsigned retries;           /* further attempts after a temporary failure */
    unsigned retry_delay;       /* seconds before the first retry (then doubled) */
};

struct push;

/* A publish IQ we sent, by the id of its latest attempt.  It stays in
 * the table while a retry is scheduled, so that a late answer to the
 * attempt that timed out still counts. */
struct pending {
    struct push *p;             /* not a reference: freed at unload */
    char *id;                   /* key: the latest attempt's id */
    char *user;                 /* the user's local part */
    char *jid;                  /* the service JID the answer must come from */
    char *key;                  /* the registration's kv key */
    struct stanza *iq;          /* the publish, copied with a fresh id per attempt */
    unsigned attempts;          /* attempts sent */
    bool waiting;               /* failed; the timer is the retry's delay */
    struct event *timer;        /* the answer's deadline, or the retry's delay */
};

struct rate {
    char *key;                  /* "user@host\nregistration key" */
    long long last;             /* monotonic seconds of the last publish */
};

/* Messages that went unseen since the user was last online. */
struct count {
    char *bare;                 /* key */
    unsigned long n;
};

struct push {
    int refs;                   /* the instance + storage callbacks in flight */
    bool dead;                  /* the instance was unloaded */
    struct server *srv;
    char *host;
    struct push_conf conf;      /* a copy: the config may be replaced on reload */
    struct hashmap pending;     /* id -> struct pending */
    struct hashmap rates;       /* key -> struct rate */
    struct hashmap counts;      /* bare JID -> struct count */
    unsigned long long next_id;
};

static long long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec + 1;    /* never 0: 0 means "never" */
}

static struct push *push_ref(struct push *p)
{
    p->refs++;
    return p;
}

static void pending_free(struct pending *pd)
{
    if (pd->timer)
        event_free(pd->timer);
    if (pd->iq)
        stanza_unref(pd->iq);
    free(pd->id);
    free(pd->user);
    free(pd->jid);
    free(pd->key);
    free(pd);
}

static void push_unref(struct push *p)
{
    if (--p->refs > 0)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&p->pending, &i, &k, &v);)
        pending_free(v);
    hashmap_release(&p->pending);
    for (size_t i = 0; hashmap_next(&p->rates, &i, &k, &v);) {
        free(((struct rate *)v)->key);
        free(v);
    }
    hashmap_release(&p->rates);
    for (size_t i = 0; hashmap_next(&p->counts, &i, &k, &v);) {
        free(((struct count *)v)->bare);
        free(v);
    }
    hashmap_release(&p->counts);
    free(p->host);
    free(p);
}

static struct push *state_of(void *ud)
{
    return ((struct pl_module_ctx *)ud)->data;
}

/* --- §5, §6: enable / disable ---------------------------------------------- */

/* One IQ being answered after storage work. */
struct op {
    struct push *p;
    struct stanza *req;         /* referenced and held */
    char *user;
    char *key;                  /* enable: the key written */
    char *value;                /* enable: the value to write */
    size_t value_len;
    char *jid;                  /* disable without node: the service */
    unsigned outstanding;       /* disable: deletes not yet completed */
    bool failed;
};

static struct op *op_new(struct push *p, struct stanza *req, const char *user)
{
    struct op *o = pl_calloc(1, sizeof(*o));
    o->p = push_ref(p);
    o->req = stanza_ref(req);
    stanza_hold(req);           /* durability: acks wait for the write */
    o->user = pl_strdup(user);
    return o;
}

/* Answers the request (a result when type is NULL, else the error) and
 * frees the operation. */
static void op_finish(struct op *o, const char *type, const char *cond, const char *text)
{
    struct server *srv = o->p->srv;
    if (!srv->stopping) {
        if (type) {
            router_bounce(srv, o->req, type, cond, text);
        } else {
            struct stanza *r;
            iq_reply_result(o->req, NULL, NULL, &r);
            router_route(srv, r);
            stanza_unref(r);
        }
    }
    stanza_unhold(o->req);
    stanza_unref(o->req);
    push_unref(o->p);
    free(o->user);
    free(o->key);
    free(o->value);
    free(o->jid);
    free(o);
}

static void enable_written(const struct store_result *res, void *ud)
{
    struct op *o = ud;
    if (res->status != STORE_OK)
        op_finish(o, "wait", "internal-server-error", "the registration could not be stored");
    else
        op_finish(o, NULL, NULL, NULL);
}

static void enable_listed(const struct store_result *res, void *ud)
{
    struct op *o = ud;
    struct push *p = o->p;
    if (p->srv->stopping || res->status != STORE_OK) {
        op_finish(o, "wait", "internal-server-error", "push registrations are unavailable");
        return;
    }
    /* §5: the same JID and node again replaces the options; a new one
     * counts against the limit. */
    size_t others = 0;
    for (size_t i = 0; i < res->nitems; i++)
        if (strcmp(res->items[i].key, o->key) != 0)
            others++;
    if (others >= p->conf.max_registrations) {
        op_finish(o, "cancel", "policy-violation",
                  "too many push registrations for this account");
        return;
    }
    store_kv_set(p->srv->store, o->user, p->host, AREA, o->key, o->value, o->value_len,
                 enable_written, o);
}

static void disable_deleted(const struct store_result *res, void *ud)
{
    struct op *o = ud;
    if (res->status != STORE_OK)
        o->failed = true;
    if (--o->outstanding > 0)
        return;
    if (o->failed)
        op_finish(o, "wait", "internal-server-error", "the registration could not be removed");
    else
        op_finish(o, NULL, NULL, NULL);
}

static void disable_listed(const struct store_result *res, void *ud)
{
    struct op *o = ud;
    struct push *p = o->p;
    if (p->srv->stopping || res->status != STORE_OK) {
        op_finish(o, "wait", "internal-server-error", "push registrations are unavailable");
        return;
    }
    /* §6: without a node, every node of that service. */
    o->outstanding = 1;         /* held until every delete is submitted */
    for (size_t i = 0; i < res->nitems; i++) {
        if (!push_key_has_jid(res->items[i].key, o->jid))
            continue;
        o->outstanding++;
        store_kv_set(p->srv->store, o->user, p->host, AREA, res->items[i].key, NULL, 0,
                     disable_deleted, o);
    }
    struct store_result done = { .status = STORE_OK };
    disable_deleted(&done, o);
}

/* Is the optional publish-options form (§5) what it says it is? */
static bool form_ok(const struct xml_node *form)
{
    for (struct xml_node *f = xml_child(form, NS_XDATA, "field"); f;
         f = xml_next(f, NS_XDATA, "field")) {
        const char *var = xml_attr(f, "var");
        struct xml_node *v = xml_child(f, NS_XDATA, "value");
        if (var && strcmp(var, "FORM_TYPE") == 0) {
            if (!v)
                return false;
            struct arena *a = arena_new(256);
            bool ok = strcmp(xml_text(a, v), PUSH_PUBLISH_OPTIONS) == 0;
            arena_free(a);
            return ok;
        }
    }
    return false;
}

/* The stored form of a registration: <enable jid=prepared [node]> plus
 * the publish options.  NULL (and len 0) when it is too large. */
static char *encode_enable(const char *jid, const char *node,
                           const struct xml_node *form, size_t *len_out)
{
    struct arena *a = arena_new(1024);
    struct xml_node *e = xml_new(a, NS_PUSH, "enable");
    xml_set_attr(a, e, "jid", jid);
    if (node)
        xml_set_attr(a, e, "node", node);
    if (form)
        xml_append(e, xml_copy(a, form));
    struct buf b = BUF_INIT;
    xmldoc_encode(e, &b);
    arena_free(a);
    if (b.len > ENABLE_MAX_BYTES) {
        buf_release(&b);
        *len_out = 0;
        return NULL;
    }
    *len_out = b.len;
    return buf_detach(&b);
}

static void push_iq(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    struct push *p = state_of(ud);
    if (strcmp(xml_attr(req->root, "type"), "set") != 0) {
        router_bounce(srv, req, "modify", "bad-request",
                      "push notifications are enabled or disabled with an IQ set");
        return;
    }
    bool enable = strcmp(q->name, "enable") == 0;
    if (!enable && strcmp(q->name, "disable") != 0) {
        router_bounce(srv, req, "cancel", "feature-not-implemented",
                      "expected <enable/> or <disable/>");
        return;
    }
    struct jid *from = jid_parse(xml_attr(req->root, "from"));
    const char *to = xml_attr(req->root, "to");
    const char *jid_s = xml_attr(q, "jid");
    const char *node = xml_attr(q, "node");
    struct jid *service = jid_s ? jid_parse(jid_s) : NULL;
    struct xml_node *form = enable ? xml_child(q, NS_XDATA, "x") : NULL;
    char *value = NULL;
    size_t value_len = 0;
    if (!from || !from->local || (to && strcmp(to, from->bare) != 0)) {
        /* Only the account's own clients manage its registrations. */
        router_bounce(srv, req, "auth", "forbidden",
                      "push notifications are managed by the account's own clients");
    } else if (!jid_s) {
        router_bounce(srv, req, "modify", "bad-request", "the 'jid' attribute is required");
    } else if (!service) {
        router_bounce(srv, req, "modify", "jid-malformed", "invalid push service 'jid'");
    } else if (node && (!*node || strlen(node) > JID_PART_MAX)) {
        router_bounce(srv, req, "modify", "bad-request", "invalid 'node'");
    } else if (form && !form_ok(form)) {
        router_bounce(srv, req, "modify", "bad-request",
                      "publish options need FORM_TYPE " PUSH_PUBLISH_OPTIONS);
    } else if (enable && !(value = encode_enable(service->full, node, form, &value_len))) {
        router_bounce(srv, req, "modify", "not-acceptable", "publish options are too large");
    } else {
        struct op *o = op_new(p, req, from->local);
        if (enable) {
            o->key = push_key(service->full, node);
            o->value = value;
            o->value_len = value_len;
            store_kv_list(srv->store, from->local, p->host, AREA, enable_listed, o);
        } else if (node) {
            o->key = push_key(service->full, node);
            o->outstanding = 1;
            store_kv_set(srv->store, from->local, p->host, AREA, o->key, NULL, 0,
                         disable_deleted, o);
        } else {
            o->jid = pl_strdup(service->full);
            store_kv_list(srv->store, from->local, p->host, AREA, disable_listed, o);
        }
    }
    jid_free(service);
    jid_free(from);
}

/* --- §7: notifications ------------------------------------------------------ */

/* What a notification needs of the message, copied: the message itself
 * goes on to the offline module (or the SM queue) and is not waited for.
 * No stanza_hold(): reading the registrations decides nothing about the
 * message's own durability. */
struct notify {
    struct push *p;
    char *user;                 /* local part */
    char *bare;
    char *sender;
    char *body;                 /* NULL unless include_body */
};

static void notify_free(struct notify *n)
{
    push_unref(n->p);
    free(n->user);
    free(n->bare);
    free(n->sender);
    free(n->body);
    free(n);
}

static void prune_rates(struct push *p, long long now)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&p->rates, &i, &k, &v);) {
        struct rate *r = v;
        if (push_rate_allows(r->last, now, p->conf.min_interval)) {
            hashmap_del(&p->rates, k);
            free(r->key);
            free(r);
        }
    }
}

/* Rate limit of one registration: true (and the time recorded) when it
 * may notify now. */
static bool rate_take(struct push *p, const char *bare, const char *key, long long now)
{
    if (p->conf.min_interval == 0)
        return true;
    size_t bl = strlen(bare), kl = strlen(key);
    char *rk = pl_malloc(bl + kl + 2);
    memcpy(rk, bare, bl);
    rk[bl] = '\n';
    memcpy(rk + bl + 1, key, kl + 1);
    struct rate *r = hashmap_get(&p->rates, rk);
    if (r) {
        free(rk);
        if (!push_rate_allows(r->last, now, p->conf.min_interval))
            return false;
        r->last = now;
        return true;
    }
    if (p->rates.count >= RATES_MAX)
        prune_rates(p, now);
    r = pl_malloc(sizeof(*r));
    r->key = rk;
    r->last = now;
    hashmap_put(&p->rates, r->key, r);
    return true;
}

static void timer_in(struct pending *pd, unsigned seconds)
{
    struct timeval tv = { (time_t)seconds, 0 };
    evtimer_add(pd->timer, &tv);
}

/* Sends one attempt: a copy of the publish with a fresh id (the stream
 * may keep what it was given, e.g. an XEP-0198 queue of the service). */
static void attempt_send(struct pending *pd)
{
    struct push *p = pd->p;
    char id[48];
    snprintf(id, sizeof(id), "push-%llu", ++p->next_id);
    if (pd->id) {
        hashmap_del(&p->pending, pd->id);
        free(pd->id);
    }
    pd->id = pl_strdup(id);
    hashmap_put(&p->pending, pd->id, pd);
    pd->attempts++;
    pd->waiting = false;
    struct stanza *iq = stanza_copy(pd->iq);
    xml_set_attr(iq->arena, iq->root, "id", pd->id);
    timer_in(pd, p->conf.publish_timeout);
    router_route(p->srv, iq);
    stanza_unref(iq);
}

static void pending_done(struct pending *pd)
{
    hashmap_del(&pd->p->pending, pd->id);
    pending_free(pd);
}

/* A temporary failure of the latest attempt (§7.1: "recoverable or
 * transient"): retry after a delay that doubles, a bounded number of
 * times; then give up on this notification but keep the registration. */
static void attempt_failed(struct pending *pd, const char *why)
{
    struct push *p = pd->p;
    evtimer_del(pd->timer);
    if (pd->attempts > p->conf.retries) {
        log_warn("push: publish to '%s' for '%s' failed %u times (last: %s); notification "
                 "dropped, registration kept", pd->jid, pd->user, pd->attempts, why);
        pending_done(pd);
        return;
    }
    unsigned delay = push_retry_delay(p->conf.retry_delay, pd->attempts, RETRY_DELAY_CAP);
    log_info("push: publish to '%s' for '%s' failed (%s); retry %u in %us",
             pd->jid, pd->user, why, pd->attempts, delay);
    pd->waiting = true;
    timer_in(pd, delay);
}

static void pending_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct pending *pd = ud;
    if (pd->p->srv->stopping) {
        pending_done(pd);
        return;
    }
    if (pd->waiting)
        attempt_send(pd);
    else
        attempt_failed(pd, "no answer");
}

static void publish_one(struct push *p, struct notify *n, const struct store_item *it,
                        unsigned long count, long long now)
{
    struct stanza *reg = xmldoc_decode(it->value, it->value_len);
    const char *jid = reg ? xml_attr(reg->root, "jid") : NULL;
    if (!jid) {
        log_warn("push: damaged registration '%s' of '%s' ignored", it->key, n->bare);
        if (reg)
            stanza_unref(reg);
        return;
    }
    if (!rate_take(p, n->bare, it->key, now)) {
        /* The next notification's message-count includes this one. */
        log_debug("push: notification to '%s' for '%s' rate-limited", jid, n->bare);
        stanza_unref(reg);
        return;
    }
    char id[48];
    snprintf(id, sizeof(id), "push-%llu", ++p->next_id);
    struct push_summary sum = { .message_count = count, .sender = n->sender, .body = n->body };
    struct stanza *iq = push_publish_new(n->bare, jid, xml_attr(reg->root, "node"), id, &sum,
                                         xml_child(reg->root, NS_XDATA, "x"));
    log_debug("push: notifying '%s' for '%s' (%lu messages)", jid, n->bare, count);
    if (p->pending.count < PENDING_MAX) {
        struct pending *pd = pl_calloc(1, sizeof(*pd));
        pd->p = p;
        pd->user = pl_strdup(n->user);
        pd->jid = pl_strdup(jid);
        pd->key = pl_strdup(it->key);
        pd->iq = iq;
        pd->timer = evtimer_new(p->srv->base, pending_timer, pd);
        attempt_send(pd);
    } else {
        log_warn("push: too many unanswered publishes; '%s' is sent untracked", id);
        router_route(p->srv, iq);
        stanza_unref(iq);
    }
    stanza_unref(reg);
}

static void registrations_listed(const struct store_result *res, void *ud)
{
    struct notify *n = ud;
    struct push *p = n->p;
    if (!p->dead && !p->srv->stopping) {
        if (res->status != STORE_OK) {
            log_warn("push: cannot read the registrations of '%s'", n->bare);
        } else {
            struct count *c = hashmap_get(&p->counts, n->bare);
            long long now = now_s();
            for (size_t i = 0; i < res->nitems; i++)
                publish_one(p, n, &res->items[i], c ? c->n : 1, now);
        }
    }
    notify_free(n);
}

/* A message for 'bare' that no session saw: count it, notify. */
static void notify(struct push *p, const struct stanza *st, const char *bare_s)
{
    /* A carbon went to a hibernated resource: another resource of the
     * user got the message itself, no device needs waking. */
    if (!push_is_notable(st->root) || xml_child(st->root, "urn:xmpp:carbons:2", NULL))
        return;
    struct jid *bare = jid_parse(bare_s);
    if (!bare || !bare->local) {
        jid_free(bare);
        return;
    }
    struct count *c = hashmap_get(&p->counts, bare->bare);
    if (!c) {
        /* One entry per account that has missed messages: bounded by the
         * accounts of the host, dropped at the account's next login. */
        c = pl_calloc(1, sizeof(*c));
        c->bare = pl_strdup(bare->bare);
        hashmap_put(&p->counts, c->bare, c);
    }
    c->n++;
    struct notify *n = pl_calloc(1, sizeof(*n));
    n->p = push_ref(p);
    n->user = pl_strdup(bare->local);
    n->bare = pl_strdup(bare->bare);
    const char *from = xml_attr(st->root, "from");
    n->sender = from ? pl_strdup(from) : NULL;
    struct xml_node *body = xml_child(st->root, XML_NS_CLIENT, "body");
    if (body && p->conf.include_body) {
        struct arena *a = arena_new(256);
        n->body = pl_strdup(xml_text(a, body));
        arena_free(a);
    }
    store_kv_list(p->srv->store, bare->local, p->host, AREA, registrations_listed, n);
    jid_free(bare);
}

static enum hook_result on_offline(struct hook_event *ev, void *ud)
{
    const char *to = xml_attr(ev->stanza->root, "to");
    if (to) {
        struct jid *j = jid_parse(to);
        if (j)
            notify(state_of(ud), ev->stanza, j->bare);
        jid_free(j);
    }
    /* The offline module (later in the chain) stores it. */
    return HOOK_CONTINUE;
}

static enum hook_result on_hibernated(struct hook_event *ev, void *ud)
{
    if (ev->session && ev->stanza && strcmp(ev->stanza->root->name, "message") == 0)
        notify(state_of(ud), ev->stanza, ev->session->jid->bare);
    return HOOK_CONTINUE;
}

/* The user is back: the count of missed messages starts again. */
static enum hook_result on_bound(struct hook_event *ev, void *ud)
{
    struct push *p = state_of(ud);
    struct count *c = hashmap_del(&p->counts, ev->session->jid->bare);
    if (c) {
        free(c->bare);
        free(c);
    }
    return HOOK_CONTINUE;
}

/* --- §7.1: answers to our publishes ----------------------------------------- */

static void disabled_done(const struct store_result *res, void *ud)
{
    struct push *p = ud;
    if (res->status != STORE_OK)
        log_warn("push: a failed registration could not be removed");
    push_unref(p);
}

/* §8: the service removed the user's publish affiliation.  Only the
 * registrations of that service (the sender's JID exactly) and node go. */
static void affiliation_revoked(struct push *p, struct hook_event *ev, const char *node)
{
    struct jid *user = jid_parse(ev->user);
    struct jid *from = jid_parse(xml_attr(ev->stanza->root, "from"));
    if (user && user->local && from) {
        char *key = push_key(from->full, node);
        log_info("push: '%s' revoked the publish affiliation of '%s' (node '%s'); "
                 "registration removed", from->full, ev->user, node);
        store_kv_set(ev->srv->store, user->local, p->host, AREA, key, NULL, 0,
                     disabled_done, push_ref(p));
        free(key);
    }
    jid_free(user);
    jid_free(from);
}

static enum hook_result on_in(struct hook_event *ev, void *ud)
{
    struct push *p = state_of(ud);
    struct xml_node *root = ev->stanza->root;
    if (strcmp(root->name, "message") == 0 && ev->user) {
        const char *node = push_affiliation_revoked(root, ev->user);
        if (node)
            affiliation_revoked(p, ev, node);
        /* Delivered as usual: the user's clients may want to know. */
        return HOOK_CONTINUE;
    }
    if (strcmp(root->name, "iq") != 0)
        return HOOK_CONTINUE;
    const char *type = xml_attr(root, "type");
    const char *id = xml_attr(root, "id");
    if (!type || !id || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return HOOK_CONTINUE;
    struct pending *pd = hashmap_get(&p->pending, id);
    if (!pd)
        return HOOK_CONTINUE;
    /* The answer must come from the service we published to (and be for
     * the user we published for): anyone else could guess an id. */
    struct jid *from = jid_parse(xml_attr(root, "from"));
    struct jid *svc = jid_parse(pd->jid);
    bool ok = from && svc && jid_equal(from, svc) && ev->user;
    if (ok) {
        struct jid *user = jid_parse(ev->user);
        ok = user && user->local && strcmp(user->local, pd->user) == 0;
        jid_free(user);
    }
    jid_free(from);
    jid_free(svc);
    if (!ok)
        return HOOK_CONTINUE;
    if (strcmp(type, "result") == 0) {
        /* Also a late result to an attempt that timed out: the retry
         * scheduled since is not needed. */
        pending_done(pd);
    } else if (push_error_kind(root) == PUSH_FAIL_PERMANENT) {
        /* §7.1: "the server SHOULD consider the particular JID and node
         * combination to be disabled". */
        log_info("push: '%s' answered a publish for '%s' with a permanent error; "
                 "registration removed", pd->jid, ev->user);
        store_kv_set(ev->srv->store, pd->user, p->host, AREA, pd->key, NULL, 0,
                     disabled_done, push_ref(p));
        pending_done(pd);
    } else if (!pd->waiting) {
        attempt_failed(pd, "temporary error");
    }
    /* (A temporary error to an attempt that already timed out: its retry
     * is scheduled.)  An answer to the server's own request: nothing else
     * wants it. */
    return HOOK_HANDLED;
}

/* --- lifecycle ---------------------------------------------------------------- */

static int push_load(struct pl_module_ctx *m)
{
    struct push *p = pl_calloc(1, sizeof(*p));
    p->refs = 1;
    p->srv = m->srv;
    p->host = pl_strdup(m->host);
    p->conf = *(const struct push_conf *)m->conf;
    hashmap_init(&p->pending);
    hashmap_init(&p->rates);
    hashmap_init(&p->counts);
    m->data = p;
    pl_iq_handle(m, IQ_TO_BARE, NS_PUSH, push_iq);
    /* §4.1: advertised on the account's bare JID. */
    pl_disco_feature(m, IQ_TO_BARE, NS_PUSH);
    pl_hook(m, HOOK_OFFLINE_MESSAGE, on_offline, PRIO_PUSH);
    pl_hook(m, HOOK_MESSAGE_HIBERNATED, on_hibernated, PRIO_PUSH);
    pl_hook(m, HOOK_SESSION_BOUND, on_bound, PRIO_PUSH);
    pl_hook(m, HOOK_STANZA_IN, on_in, PRIO_PUSH);
    return 0;
}

static void push_unload(struct pl_module_ctx *m)
{
    struct push *p = m->data;
    if (!p)
        return;
    p->dead = true;
    m->data = NULL;
    /* Their timers must not fire into an unloaded instance. */
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&p->pending, &i, &k, &v);)
        pending_free(v);
    hashmap_release(&p->pending);
    hashmap_init(&p->pending);
    push_unref(p);
}

static const struct conf_option push_options[] = {
    { "include_body", CONF_BOOL, offsetof(struct push_conf, include_body), "false", 0, 0,
      NULL, 0, "put the message body in notifications (it then passes through the "
      "app server and its push service, XEP-0357 §9)" },
    { "min_interval", CONF_SECONDS, offsetof(struct push_conf, min_interval), "5s", 0, 86400,
      NULL, 0, "least time between two notifications to one registration" },
    { "max_registrations", CONF_UINT, offsetof(struct push_conf, max_registrations), "8",
      1, 100, NULL, 0, "push services one account may register" },
    { "publish_timeout", CONF_SECONDS, offsetof(struct push_conf, publish_timeout), "30s", 1,
      3600, NULL, 0, "how long the app server's answer to a publish is waited for before "
      "the attempt counts as failed (XEP-0357 §7.1)" },
    { "retries", CONF_UINT, offsetof(struct push_conf, retries), "3", 0, 10, NULL, 0,
      "further attempts after a temporary failure (a 'wait' error or no answer)" },
    { "retry_delay", CONF_SECONDS, offsetof(struct push_conf, retry_delay), "5s", 1, 3600,
      NULL, 0, "delay before the first retry; it doubles for each further one" },
    CONF_END
};

const struct pl_module pl_module_push = {
    .name = "push",
    .doc = "Push notifications (XEP-0357).",
    .conf_size = sizeof(struct push_conf),
    .options = push_options,
    .load = push_load,
    .unload = push_unload,
};
