/*
 * router.c - stanza routing (RFC 6120 §10, RFC 6121 §8).
 *
 * router_route() looks at 'to':
 *   absent / own bare JID   -> handled on behalf of the sender (§10.3)
 *   a configured host       -> the server: IQ handlers (§10.3, §8.5 for accounts)
 *   local account bare/full -> RFC 6121 §8.5 delivery rules
 *   a local service domain  -> the service's handler (MUC, XEP-0045)
 *   anything else           -> remote: <remote-server-not-found/> until s2s exists
 * Accounts with no session need a storage lookup to tell "no such user"
 * (§8.5.1) from "offline" (§8.5.2.2); the stanza is referenced across it.
 */
#include "router/router.h"
#include "router/rules.h"

#include <stdlib.h>
#include <string.h>

#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "core/conf.h"
#include "modules/roster.h"
#include "storage/store.h"
#include "stream/c2s.h"
#include "xml/xml.h"

struct feature_list {
    char **vars;                /* sorted, NULL-terminated */
    const void **owners;
    size_t n;
};

struct router *router_new(void)
{
    struct router *r = pl_calloc(1, sizeof(*r));
    hashmap_init(&r->accounts);
    for (int t = 0; t < IQ_TARGET_COUNT; t++) {
        hashmap_init(&r->iq[t]);
        hashmap_init(&r->features[t]);
    }
    for (int t = 0; t < SF_STAGE_COUNT; t++)
        hashmap_init(&r->stream_features[t]);
    hashmap_init(&r->preauth);
    hashmap_init(&r->services);
    hashmap_init(&r->gates);
    r->empty_presence = stanza_new(XML_NS_CLIENT, "presence");
    return r;
}

static void free_iq_map(struct hashmap *m)
{
    void *v;
    for (size_t i = 0; hashmap_next(m, &i, NULL, &v);)
        free(v);                /* the key is inside the handler */
    hashmap_release(m);
}

static void free_feature_list(struct feature_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        free(fl->vars[i]);
    free(fl->vars);
    free(fl->owners);
    free(fl);
}

static void free_feature_map(struct hashmap *m)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(m, &i, &k, &v);) {
        free((char *)k);
        free_feature_list(v);
    }
    hashmap_release(m);
}

static void free_service_map(struct hashmap *m)
{
    void *v;
    for (size_t i = 0; hashmap_next(m, &i, NULL, &v);)
        free(v);                /* the key is inside the route */
    hashmap_release(m);
}

void router_free(struct router *r)
{
    if (!r)
        return;
    /* Sessions are gone by now: c2s_close_all() ran before. */
    PL_ASSERT(r->accounts.count == 0);
    hashmap_release(&r->accounts);
    for (int t = 0; t < IQ_TARGET_COUNT; t++) {
        free_iq_map(&r->iq[t]);
        free_feature_map(&r->features[t]);
    }
    for (int t = 0; t < SF_STAGE_COUNT; t++)
        free_feature_map(&r->stream_features[t]);
    free_iq_map(&r->preauth);
    free_service_map(&r->services);
    /* Every hold is released once storage has drained (router.h). */
    PL_ASSERT(r->gates.count == 0);
    hashmap_release(&r->gates);
    hooks_release(&r->hooks);
    stanza_unref(r->empty_presence);
    free(r);
}

/* --- registration ------------------------------------------------------ */

/* Writes "host\x1fns" into k, which has room for iq_key_len() bytes. */
static size_t iq_key_len(const char *host, const char *ns)
{
    return strlen(host) + strlen(ns) + 2;
}

static void iq_key(char *k, const char *host, const char *ns)
{
    size_t hl = strlen(host), nl = strlen(ns);
    memcpy(k, host, hl);
    k[hl] = '\x1f';
    memcpy(k + hl + 1, ns, nl + 1);
}

void router_iq_register(struct router *r, const char *host, enum iq_target t,
                        const char *ns, iq_handler_fn fn, void *ud,
                        const void *owner)
{
    struct iq_handler *h = pl_malloc(sizeof(*h) + iq_key_len(host, ns));
    h->fn = fn;
    h->ud = ud;
    h->owner = owner;
    iq_key(h->key, host, ns);
    /* The later registration wins (a module reloaded). */
    free(hashmap_put(&r->iq[t], h->key, h));
}

static void feature_add(struct hashmap *map, const char *host, const char *var,
                        const void *owner)
{
    struct feature_list *fl = hashmap_get(map, host);
    if (!fl) {
        fl = pl_calloc(1, sizeof(*fl));
        fl->vars = pl_calloc(1, sizeof(char *));
        hashmap_put(map, pl_strdup(host), fl);
    }
    for (size_t i = 0; i < fl->n; i++)
        if (strcmp(fl->vars[i], var) == 0)
            return;
    fl->vars = pl_realloc(fl->vars, (fl->n + 2) * sizeof(char *));
    fl->owners = pl_realloc(fl->owners, (fl->n + 1) * sizeof(void *));
    fl->vars[fl->n] = pl_strdup(var);
    fl->owners[fl->n] = owner;
    fl->n++;
    fl->vars[fl->n] = NULL;
    /* Keep owners aligned with vars while sorting: sort pairs. */
    for (size_t i = fl->n - 1; i > 0 && strcmp(fl->vars[i - 1], fl->vars[i]) > 0; i--) {
        char *tv = fl->vars[i];
        fl->vars[i] = fl->vars[i - 1];
        fl->vars[i - 1] = tv;
        const void *to = fl->owners[i];
        fl->owners[i] = fl->owners[i - 1];
        fl->owners[i - 1] = to;
    }
}

void router_feature_add(struct router *r, const char *host, enum iq_target t,
                        const char *var, const void *owner)
{
    feature_add(&r->features[t], host, var, owner);
}

void router_stream_feature_add(struct router *r, const char *host,
                               enum stream_stage stage, const char *xml,
                               const void *owner)
{
    feature_add(&r->stream_features[stage], host, xml, owner);
}

static const char *const *feature_list_of(struct hashmap *map, const char *host,
                                          size_t *n_out)
{
    static const char *const none[] = { NULL };
    struct feature_list *fl = hashmap_get(map, host);
    if (!fl) {
        *n_out = 0;
        return none;
    }
    *n_out = fl->n;
    return (const char *const *)fl->vars;
}

const char *const *router_stream_features(struct router *r, const char *host,
                                          enum stream_stage stage, size_t *n_out)
{
    return feature_list_of(&r->stream_features[stage], host, n_out);
}

void router_preauth_register(struct router *r, const char *host, const char *ns,
                             preauth_iq_fn fn, void *ud, const void *owner)
{
    struct iq_handler *h = pl_malloc(sizeof(*h) + iq_key_len(host, ns));
    /* Stored as an iq_handler; the caller of router_preauth_find() knows
     * the real type. */
    h->fn = (iq_handler_fn)(void (*)(void))fn;
    h->ud = ud;
    h->owner = owner;
    iq_key(h->key, host, ns);
    free(hashmap_put(&r->preauth, h->key, h));
}

/* The handler under "host\x1fns" in map, or NULL. */
static struct iq_handler *handler_find(const struct hashmap *map, const char *host,
                                       const char *ns)
{
    char stack_key[512];
    size_t klen = iq_key_len(host, ns);
    char *key = klen <= sizeof(stack_key) ? stack_key : pl_malloc(klen);
    iq_key(key, host, ns);
    struct iq_handler *h = hashmap_get(map, key);
    if (key != stack_key)
        free(key);
    return h;
}

const struct iq_handler *router_preauth_find(struct router *r, const char *host,
                                             const char *ns)
{
    return handler_find(&r->preauth, host, ns);
}

const struct iq_handler *router_iq_find(struct router *r, const char *host,
                                        enum iq_target t, const char *ns)
{
    return handler_find(&r->iq[t], host, ns);
}

static void unregister_iq(struct hashmap *m, const void *owner)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(m, &i, &k, &v);) {
        if (((struct iq_handler *)v)->owner == owner) {
            hashmap_del(m, k);
            free(v);
        }
    }
}

static void unregister_features(struct hashmap *m, const void *owner)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(m, &i, &k, &v);) {
        struct feature_list *fl = v;
        size_t w = 0;
        for (size_t j = 0; j < fl->n; j++) {
            if (fl->owners[j] == owner) {
                free(fl->vars[j]);
                continue;
            }
            fl->vars[w] = fl->vars[j];
            fl->owners[w] = fl->owners[j];
            w++;
        }
        fl->n = w;
        fl->vars[w] = NULL;
    }
}

void router_service_register(struct router *r, const char *domain,
                             service_route_fn fn, void *ud, const void *owner)
{
    size_t len = strlen(domain) + 1;
    struct service_route *sr = pl_malloc(sizeof(*sr) + len);
    sr->fn = fn;
    sr->ud = ud;
    sr->owner = owner;
    memcpy(sr->domain, domain, len);
    free(hashmap_put(&r->services, sr->domain, sr));
}

bool router_is_local_service(const struct server *srv, const char *domain)
{
    return hashmap_get(&srv->router->services, domain) != NULL;
}

static void unregister_services(struct hashmap *m, const void *owner)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(m, &i, &k, &v);) {
        if (((struct service_route *)v)->owner == owner) {
            hashmap_del(m, k);
            free(v);
        }
    }
}

void router_unregister_owner(struct router *r, const void *owner)
{
    unregister_services(&r->services, owner);
    for (int t = 0; t < IQ_TARGET_COUNT; t++) {
        unregister_iq(&r->iq[t], owner);
        unregister_features(&r->features[t], owner);
    }
    for (int t = 0; t < SF_STAGE_COUNT; t++)
        unregister_features(&r->stream_features[t], owner);
    unregister_iq(&r->preauth, owner);
    hooks_remove_owner(&r->hooks, owner);
}

const char *const *router_features(struct router *r, const char *host,
                                   enum iq_target t, size_t *n_out)
{
    return feature_list_of(&r->features[t], host, n_out);
}

bool router_is_local_host(const struct server *srv, const char *host)
{
    return conf_has_host(srv->conf, host);
}

/* --- replies ------------------------------------------------------------ */

void router_bounce(struct server *srv, const struct stanza *orig,
                   const char *type, const char *cond, const char *text)
{
    const char *otype = xml_attr(orig->root, "type");
    if (otype && strcmp(otype, "error") == 0)
        return;                 /* RFC 6120 §8.3.1: never answer an error */
    const char *from = xml_attr(orig->root, "from");
    if (!from)
        return;                 /* nobody to tell (server-generated) */

    /* RFC 6120 §8.3.1: the error stanza SHOULD carry the original payload. */
    struct stanza *st = stanza_copy(orig);
    struct arena *a = st->arena;
    const char *to = xml_attr(orig->root, "to");
    xml_set_attr(a, st->root, "to", from);
    xml_set_attr(a, st->root, "from", to);
    xml_set_attr(a, st->root, "type", "error");
    struct xml_node *err = xml_add_child(a, st->root, XML_NS_CLIENT, "error");
    xml_set_attr(a, err, "type", type);
    xml_add_child(a, err, NS_STANZAS, cond);
    if (text) {
        struct xml_node *t = xml_add_text_child(a, err, NS_STANZAS, "text", text);
        xml_set_attr(a, t, "xml:lang", "en");
    }
    router_route(srv, st);
    stanza_unref(st);
}

struct xml_node *iq_reply_result(const struct stanza *req, const char *ns,
                                 const char *name, struct stanza **out)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
    struct arena *a = st->arena;
    const char *from = xml_attr(req->root, "from");
    const char *to = xml_attr(req->root, "to");
    if (from)
        xml_set_attr(a, st->root, "to", from);
    if (to)
        xml_set_attr(a, st->root, "from", to);
    xml_set_attr(a, st->root, "id", xml_attr(req->root, "id"));
    xml_set_attr(a, st->root, "type", "result");
    *out = st;
    if (!name)
        return NULL;
    return xml_add_child(a, st->root, ns, name);
}

/* --- delivery ------------------------------------------------------------ */

enum stanza_kind { ST_MESSAGE, ST_PRESENCE, ST_IQ, ST_OTHER };

static enum stanza_kind kind_of(const struct stanza *st)
{
    const char *n = st->root->name;
    if (strcmp(n, "message") == 0)
        return ST_MESSAGE;
    if (strcmp(n, "presence") == 0)
        return ST_PRESENCE;
    if (strcmp(n, "iq") == 0)
        return ST_IQ;
    return ST_OTHER;
}

static const char *type_of(const struct stanza *st, const char *def)
{
    const char *t = xml_attr(st->root, "type");
    return t ? t : def;
}

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* IQ addressed to a host (server) or account (bare): dispatch by payload
 * namespace to a module's handler. */
static void dispatch_iq(struct server *srv, struct stanza *st,
                        const char *host, enum iq_target t)
{
    const char *type = type_of(st, "");
    if (!is(type, "get") && !is(type, "set")) {
        /* Results and errors addressed to the server: answers to IQs the
         * server sent.  Nothing waits for them yet; they end here (an
         * answer is never answered, RFC 6120 §8.2.3). */
        return;
    }
    struct xml_node *payload = xml_child(st->root, NULL, NULL);
    if (!payload) {
        router_bounce(srv, st, "modify", "bad-request", "IQ get/set needs one child element");
        return;
    }
    struct iq_handler *h = handler_find(&srv->router->iq[t], host, payload->ns);
    if (!h) {
        router_bounce(srv, st, "cancel", "service-unavailable", NULL);
        return;
    }
    h->fn(srv, st, payload, h->ud);
}

/* A message for an account with no available resource: the offline
 * hook may store it (issue 4); otherwise the sender learns, the message
 * is not lost silently. */
static void message_offline(struct server *srv, struct stanza *st, const char *host)
{
    struct hook_event ev = { .srv = srv, .host = host, .stanza = st };
    if (hooks_run(&srv->router->hooks, HOOK_OFFLINE_MESSAGE, &ev) == HOOK_HANDLED)
        return;
    router_bounce(srv, st, "cancel", "service-unavailable",
                  "the recipient is not available");
}

static void message_delivered(struct server *srv, struct stanza *st, const char *host,
                              struct session *const *got, size_t ngot)
{
    struct hook_event ev = {
        .srv = srv, .host = host, .stanza = st, .targets = got, .ntargets = ngot,
    };
    hooks_run(&srv->router->hooks, HOOK_MESSAGE_DELIVERED, &ev);
}

/* RFC 6121 §8.5 for messages, decided by rules_message(). */
static void route_message(struct server *srv, struct stanza *st, const struct jid *to,
                          struct account *acc, bool exists)
{
    struct rule_resource res[64];
    bool pick[64] = { false };
    struct session *sess[64];
    size_t n = 0;
    /* More than 64 resources of one account: the first 64 decide. */
    for (struct session *s = acc ? acc->sessions : NULL; s && n < 64; s = s->next) {
        res[n] = (struct rule_resource){ s->presence != NULL, s->priority };
        sess[n++] = s;
    }
    switch (rules_message(type_of(st, "normal"), exists, res, n, pick)) {
    case MSG_DELIVER: {
        struct session *got[64];
        size_t ngot = 0;
        for (size_t i = 0; i < n; i++)
            if (pick[i])
                got[ngot++] = sess[i];
        for (size_t i = 0; i < ngot; i++)
            sm_deliver(srv, got[i], st);
        message_delivered(srv, st, to->domain, got, ngot);
        break;
    }
    case MSG_OFFLINE:
        message_offline(srv, st, to->domain);
        break;
    case MSG_BOUNCE:
        router_bounce(srv, st, "cancel", "service-unavailable", NULL);
        break;
    case MSG_IGNORE:
        break;
    }
}

static void deliver_to_account(struct server *srv, struct stanza *st,
                               const struct jid *to, struct account *acc,
                               enum stanza_kind k);

/*
 * RFC 6121 §8.5.3.1: an IQ get/set to a full JID is delivered only when
 * the recipient shares presence with the requester: the same account, a
 * directed presence the resource sent it, or a subscription 'from'/'both'
 * in the roster.  Entities without a localpart (the server, services)
 * are trusted.  Without the roster module on the host there are no
 * subscriptions to consult and the check is skipped.  Otherwise the
 * roster answers (maybe after a storage round trip) and the IQ gets
 * <service-unavailable/> (§11: no presence leak).
 */
static bool iq_shares_presence_now(struct server *srv, const struct stanza *st,
                                   const struct session *s, struct jid **from_out)
{
    *from_out = NULL;
    const char *type = type_of(st, "");
    if (!is(type, "get") && !is(type, "set"))
        return true;
    const char *from = xml_attr(st->root, "from");
    struct jid *fj = from ? jid_parse(from) : NULL;
    /* A local service (a MUC room forwarding an occupant's IQ, XEP-0045
     * §7.5) is trusted like the server. */
    if (!fj || !fj->local || router_is_local_service(srv, fj->domain) ||
        strcmp(fj->bare, s->jid->bare) == 0 ||
        hashmap_get(&s->directed, fj->full) || hashmap_get(&s->directed, fj->bare) ||
        !roster_enabled(srv, s->jid->domain)) {
        jid_free(fj);
        return true;
    }
    *from_out = fj;
    return false;
}

struct share_check {
    struct stanza *st;
    struct jid *to;
};

static void share_checked(struct server *srv, int sub, void *ud)
{
    struct share_check *c = ud;
    /* Also while the server stops (the answer comes from the roster's
     * storage, which is drained before it closes): the session is gone
     * by then, so the sender learns it, as below. */
    struct session *s = sm_find(srv, c->to);
    if (sub < 0)
        router_bounce(srv, c->st, "wait", "internal-server-error", "storage failure");
    else if (!(sub & ROSTER_SUB_FROM))
        router_bounce(srv, c->st, "cancel", "service-unavailable", NULL);
    else if (s)
        sm_deliver(srv, s, c->st);
    else
        router_bounce(srv, c->st, "cancel", "service-unavailable", NULL); /* §8.5.3.2.3 */
    stanza_unhold(c->st);
    stanza_unref(c->st);
    jid_free(c->to);
    free(c);
}

static void iq_check_sharing(struct server *srv, struct stanza *st, const struct jid *to,
                             struct jid *from)
{
    struct share_check *c = pl_malloc(sizeof(*c));
    c->st = stanza_ref(st);
    stanza_hold(st);
    c->to = jid_dup(to);
    roster_subscription(srv, to->bare, from->bare, share_checked, c);
    jid_free(from);
}

/* An account that exists (it has sessions, or storage said so). */
static void route_to_account(struct server *srv, struct stanza *st,
                             const struct jid *to, struct account *acc, bool redelivery)
{
    enum stanza_kind k = kind_of(st);
    struct hook_event ev = {
        .srv = srv, .host = to->domain, .stanza = st, .user = to->bare,
        .redelivery = redelivery,
    };
    if (hooks_run(&srv->router->hooks, HOOK_STANZA_IN, &ev) == HOOK_HANDLED) {
        if (ev.stanza != st)
            stanza_unref(ev.stanza);
        return;
    }
    if (ev.stanza != st) {
        /* A hook delivered a changed copy (MAM's <stanza-id/>). */
        deliver_to_account(srv, ev.stanza, to, acc, k);
        stanza_unref(ev.stanza);
        return;
    }
    deliver_to_account(srv, st, to, acc, k);
}

static void deliver_to_account(struct server *srv, struct stanza *st,
                               const struct jid *to, struct account *acc,
                               enum stanza_kind k)
{
    if (to->resource) {
        struct session *s = acc ? sm_find(srv, to) : NULL;
        if (s) {
            /* §8.5.3.1: the resource matches. */
            if (k == ST_PRESENCE) {
                const char *pt = type_of(st, "available");
                if (is(pt, "probe"))
                    return; /* probes are the roster module's (STANZA_IN) */
            }
            struct jid *from;
            if (k == ST_IQ && !iq_shares_presence_now(srv, st, s, &from)) {
                iq_check_sharing(srv, st, to, from);
                return;
            }
            sm_deliver(srv, s, st);
            if (k == ST_MESSAGE) {
                struct session *one[1] = { s };
                message_delivered(srv, st, to->domain, one, 1);
            }
            return;
        }
        /* §8.5.3.2: no resource matches. */
        if (k == ST_IQ) {
            router_bounce(srv, st, "cancel", "service-unavailable", NULL);
            return;
        }
        if (k == ST_PRESENCE)
            return; /* available/unavailable/probe to a gone resource: ignored */
        /* Messages fall back to the bare JID rules (issue 2). */
    }
    if (k == ST_IQ) {
        /* §8.5.2.1.3 / §8.5.2.2.3: the server answers for the account. */
        dispatch_iq(srv, st, to->domain, IQ_TO_BARE);
        return;
    }
    if (k == ST_PRESENCE) {
        const char *pt = type_of(st, "available");
        if (!acc)
            return; /* §8.5.2.2.2: ignored, not stored */
        if (is(pt, "available") || is(pt, "unavailable")) {
            for (struct session *s = acc->sessions; s; s = s->next)
                if (s->presence)
                    sm_deliver(srv, s, st);
            return;
        }
        if (is(pt, "probe") || is(pt, "error"))
            return;
        /* Subscription presence the roster module did not take (it is not
         * enabled): to the available resources, not stored. */
        for (struct session *s = acc->sessions; s; s = s->next)
            if (s->presence)
                sm_deliver(srv, s, st);
        return;
    }
    route_message(srv, st, to, acc, true);
}

/* --- per-recipient order (router.h, "Per-recipient order") ------------- */

/* How a stanza enters route_local_user(). */
enum route_mode {
    ROUTE_NEW,                  /* from a sender: queues behind a held gate */
    ROUTE_RESUME,               /* held by a module or the gate: passes it */
    ROUTE_REDELIVER,            /* archiving already decided: passes it */
};

struct gated {
    struct stanza *st;          /* referenced and held */
    struct jid *to;
    struct gated *next;
};

struct gate {
    unsigned holds;
    bool draining;              /* gate_drain() is on the stack */
    bool exists;                /* a lookup found the account meanwhile */
    struct gated *head, **tail;
    char bare[];                /* the map key */
};

static struct gate *gate_get(struct router *r, const char *bare)
{
    struct gate *g = hashmap_get(&r->gates, bare);
    if (!g) {
        size_t n = strlen(bare) + 1;
        g = pl_calloc(1, sizeof(*g) + n);
        memcpy(g->bare, bare, n);
        g->tail = &g->head;
        hashmap_put(&r->gates, g->bare, g);
    }
    return g;
}

void router_gate_hold(struct server *srv, const char *bare)
{
    gate_get(srv->router, bare)->holds++;
}

static void route_local_user(struct server *srv, struct stanza *st, struct jid *to,
                             enum route_mode mode);

/* Routes the waiting stanzas while nothing holds the gate; forgets the
 * gate once it is open and empty.  A stanza routed here may take a hold
 * again (a lookup, MAM, offline storage): the rest wait for its release. */
static void gate_drain(struct server *srv, struct gate *g)
{
    if (g->draining)
        return;                 /* the outer call goes on */
    g->draining = true;
    while (g->holds == 0 && g->head) {
        struct gated *w = g->head;
        g->head = w->next;
        if (!g->head)
            g->tail = &g->head;
        route_local_user(srv, w->st, w->to, ROUTE_RESUME);
        stanza_unhold(w->st);
        stanza_unref(w->st);
        free(w);
    }
    g->draining = false;
    if (g->holds == 0 && !g->head) {
        hashmap_del(&srv->router->gates, g->bare);
        free(g);
    }
}

void router_gate_release(struct server *srv, const char *bare)
{
    struct gate *g = hashmap_get(&srv->router->gates, bare);
    PL_ASSERT(g && g->holds > 0);
    if (--g->holds == 0)
        gate_drain(srv, g);
}

/* Waits behind the gate's holders; takes 'to'. */
static void gate_wait(struct gate *g, struct stanza *st, struct jid *to)
{
    struct gated *w = pl_malloc(sizeof(*w));
    w->st = stanza_ref(st);
    stanza_hold(st);            /* an XEP-0198 ack waits for its turn too */
    w->to = to;
    w->next = NULL;
    *g->tail = w;
    g->tail = &w->next;
}

struct lookup {
    struct server *srv;
    struct stanza *st;
    struct jid *to;
};

static void lookup_done(const struct store_result *res, void *ud)
{
    struct lookup *l = ud;
    struct server *srv = l->srv;
    /* Also while the server stops: the messages stream management
     * re-routes when the sessions end (XEP-0198 §4) come this way, and
     * storage still runs what is submitted until store_close() (the
     * server drains it first), so they reach offline storage or are
     * bounced - never dropped here.  Sessions may have appeared (or, when
     * stopping, gone) while we waited: look the account up again. */
    struct account *acc = sm_account(srv, l->to->bare);
    if (res->status == STORE_OK)
        gate_get(srv->router, l->to->bare)->exists = true;   /* held: it is there */
    if (acc || res->status == STORE_OK) {
        route_to_account(srv, l->st, l->to, acc, false);
    } else if (res->status == STORE_NOT_FOUND) {
        /* §8.5.1: no such user. */
        if (kind_of(l->st) == ST_IQ)
            router_bounce(srv, l->st, "cancel", "service-unavailable", NULL);
        else if (kind_of(l->st) == ST_MESSAGE)
            route_message(srv, l->st, l->to, NULL, false);
    } else {
        if (srv->stopping && kind_of(l->st) == ST_MESSAGE)
            log_warn("router: storage failed while stopping; bouncing a message for %s",
                     l->to->bare);
        router_bounce(srv, l->st, "wait", "internal-server-error",
                      "storage failure");
    }
    router_gate_release(srv, l->to->bare);
    stanza_unhold(l->st);
    stanza_unref(l->st);
    jid_free(l->to);
    free(l);
}

static void route_local_user(struct server *srv, struct stanza *st, struct jid *to,
                             enum route_mode mode)
{
    struct gate *g = hashmap_get(&srv->router->gates, to->bare);
    if (mode == ROUTE_NEW && g && (g->holds || g->head)) {
        gate_wait(g, st, to);
        return;
    }
    struct account *acc = sm_account(srv, to->bare);
    /* A redelivery's account is known to exist (it had a session, or MAM
     * held the message after the lookup), as is one a lookup found while
     * this stanza waited at the gate: no second lookup. */
    if (acc || mode == ROUTE_REDELIVER || (g && g->exists)) {
        route_to_account(srv, st, to, acc, mode == ROUTE_REDELIVER);
        jid_free(to);
        return;
    }
    /* Available and unavailable presence to an account without sessions
     * is ignored either way (§8.5.1, §8.5.2.2.2); subscription presence
     * and probes need to know whether the account exists (the roster
     * module stores or answers them through HOOK_STANZA_IN). */
    if (kind_of(st) == ST_PRESENCE) {
        const char *pt = type_of(st, "available");
        if (is(pt, "available") || is(pt, "unavailable") || is(pt, "error")) {
            jid_free(to);
            return;
        }
    }
    router_gate_hold(srv, to->bare);
    struct lookup *l = pl_malloc(sizeof(*l));
    l->srv = srv;
    l->st = stanza_ref(st);
    stanza_hold(st);
    l->to = to;
    store_account_get(srv->store, to->local, to->domain, lookup_done, l);
}

static void route(struct server *srv, struct stanza *st, enum route_mode mode)
{
    const char *to_s = xml_attr(st->root, "to");
    const char *from_s = xml_attr(st->root, "from");
    if (!to_s) {
        /* RFC 6120 §10.3: no 'to' means the sender's own account. */
        struct jid *from = from_s ? jid_parse(from_s) : NULL;
        if (!from)
            return;
        if (kind_of(st) == ST_IQ && from->local) {
            dispatch_iq(srv, st, from->domain, IQ_TO_BARE);
        } else if (kind_of(st) == ST_MESSAGE && from->local) {
            struct jid *bare = jid_bare(from);
            xml_set_attr(st->arena, st->root, "to", bare->bare);
            route_local_user(srv, st, bare, mode);
        }
        jid_free(from);
        return;
    }
    struct jid *to = jid_parse(to_s);
    if (!to) {
        router_bounce(srv, st, "modify", "jid-malformed", "invalid 'to' address");
        return;
    }
    struct service_route *sr = hashmap_get(&srv->router->services, to->domain);
    if (sr) {
        /* A local service (XEP-0045 MUC) owns the whole domain. */
        sr->fn(srv, st, to, sr->ud);
        jid_free(to);
        return;
    }
    if (!router_is_local_host(srv, to->domain)) {
        router_bounce(srv, st, "cancel", "remote-server-not-found",
                      "federation is not enabled on this server");
        jid_free(to);
        return;
    }
    if (!to->local) {
        if (to->resource) {
            /* host/resource: nothing lives there. */
            if (kind_of(st) != ST_PRESENCE)
                router_bounce(srv, st, "cancel", "service-unavailable", NULL);
        } else if (kind_of(st) == ST_IQ) {
            dispatch_iq(srv, st, to->domain, IQ_TO_HOST);
        } else if (kind_of(st) == ST_MESSAGE) {
            /* Messages to the server itself: nothing consumes them yet. */
            if (!is(type_of(st, "normal"), "error") && !is(type_of(st, "normal"), "headline"))
                router_bounce(srv, st, "cancel", "service-unavailable", NULL);
        }
        jid_free(to);
        return;
    }
    route_local_user(srv, st, to, mode);
}

void router_route(struct server *srv, struct stanza *st)
{
    route(srv, st, ROUTE_NEW);
}

void router_redeliver(struct server *srv, struct stanza *st)
{
    route(srv, st, ROUTE_REDELIVER);
}

void router_resume(struct server *srv, struct stanza *st)
{
    route(srv, st, ROUTE_RESUME);
}

void router_route_out(struct server *srv, struct session *sender, struct stanza *st)
{
    /* A session's stanzas carry its own address as 'from' (c2s stamps
     * it), so its domain is the host; only stanzas the server writes on
     * a user's behalf need theirs parsed. */
    const char *from = xml_attr(st->root, "from");
    struct jid *fj = !sender && from ? jid_parse(from) : NULL;
    const char *host = sender ? sender->jid->domain : fj ? fj->domain : NULL;
    struct hook_event ev = {
        .srv = srv, .host = host, .stanza = st, .session = sender,
    };
    enum hook_result r = hooks_run(&srv->router->hooks, HOOK_STANZA_OUT, &ev);
    jid_free(fj);
    if (r != HOOK_HANDLED)
        router_route(srv, st);
}
