/*
 * pep.c - Personal Eventing Protocol (XEP-0163): every account is a
 * pubsub service (XEP-0060) at its bare JID.
 *
 *   XEP-0060 §7.1 publish (§7.1.4 auto-create, §7.1.5 publish-options
 *            with XEP-0223 preconditions), §7.2 retract (+notify),
 *            §6.5 items (all, max_items, by id), §8.1 create (+configure),
 *            §8.2 configure get/set, §8.3 default, §8.4 delete, §8.5 purge
 *   XEP-0060 §4.5 access models presence (default), open, whitelist
 *            (owner only: affiliation editing is not implemented)
 *   XEP-0163 §4 notifications to the owner's available resources and to
 *            contacts with subscription from/both, filtered by their
 *            XEP-0115 "+notify" features (§4.2); §4.3.4 the last item to
 *            a newly available resource (send_last_published_item
 *            on_sub_and_presence)
 *   XEP-0115 §5.4 caps: an unknown 'ver' is asked for with disco#info
 *            (from the user's bare JID: results to a bare JID pass
 *            HOOK_STANZA_IN), verified (pep_caps.c), cached server-wide
 *
 * State: a user's nodes and items are loaded from storage on first need
 * (kv area "pep": one key per node holding its configuration; log area
 * "pep:<node>": one row per item, id = item id) and kept while the
 * account has sessions or requests are running.  Writes go to storage
 * first; the reply and the notifications follow the commit (principle 5).
 * Notifications go to local contacts only (there is no s2s yet).
 *
 * Storage and roster completions can outlive the module instance (a
 * reload): the state is reference counted, and after unload completions
 * only answer and release what they hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "modules/pep_caps.h"
#include "modules/pep_config.h"
#include "modules/roster.h"
#include "modules/xmldoc.h"
#include "storage/store.h"
#include "xml/xml.h"

#define NS_PUBSUB        "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER  "http://jabber.org/protocol/pubsub#owner"
#define NS_PUBSUB_EVENT  "http://jabber.org/protocol/pubsub#event"
#define NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define NS_CAPS          "http://jabber.org/protocol/caps"
#define NS_DISCO_INFO    "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS   "http://jabber.org/protocol/disco#items"
#define NS_DATA          "jabber:x:data"
#define NS_DELAY         "urn:xmpp:delay"
#define KV_AREA          "pep"

/* Node names and item ids are peer-chosen keys of memory and storage. */
#define MAX_NAME         256
/* Caps queries in flight; a client that never answers frees its slot
 * after CAPS_QUERY_TIMEOUT seconds. */
#define MAX_CAPS_QUERIES 256
#define CAPS_QUERY_TIMEOUT 60
/* Resources waiting for one caps query to deliver their last items. */
#define MAX_CAPS_WAITERS 8

struct pep_conf {
    unsigned max_nodes;         /* per account */
    unsigned max_items;         /* per node: the 'max' of pubsub#max_items */
    size_t max_item_size;       /* bytes of one stored item */
    size_t max_bytes;           /* bytes of all items of an account */
    unsigned max_caps;          /* verified caps hashes cached server-wide */
};

static const struct conf_option pep_options[] = {
    { "max_nodes", CONF_UINT, offsetof(struct pep_conf, max_nodes), "64", 1, 10000,
      NULL, 0, "PEP nodes per account" },
    { "max_items", CONF_UINT, offsetof(struct pep_conf, max_items), "256", 1, 100000,
      NULL, 0, "items kept per node (pubsub#max_items 'max')" },
    { "max_item_size", CONF_SIZE, offsetof(struct pep_conf, max_item_size), "128KiB",
      64, 16777216, NULL, 0, "largest item accepted, serialized" },
    { "max_bytes", CONF_SIZE, offsetof(struct pep_conf, max_bytes), "4MiB", 1024,
      1073741824, NULL, 0, "bytes of items per account" },
    { "max_caps", CONF_UINT, offsetof(struct pep_conf, max_caps), "4096", 16, 1000000,
      NULL, 0, "verified entity capabilities (XEP-0115) cached" },
    CONF_END
};

struct pep_item {
    char *id;
    struct stanza *st;          /* root: <item xmlns=pubsub id=...>payload</item> */
    size_t bytes;               /* stored size */
    long long stamp;            /* microseconds, for <delay/> */
};

struct pep_node {
    char *name;                 /* map key */
    struct pep_config cfg;
    struct pep_item *items;     /* oldest first */
    size_t nitems;
};

enum user_state { USER_LOADING, USER_READY };

struct pep;
struct pep_user;
typedef void (*user_fn)(struct pep *p, struct pep_user *u, void *ud);

struct user_waiter {
    user_fn fn;                 /* u NULL: loading failed */
    void *ud;
    struct user_waiter *next;
};

struct pep_user {
    char *bare;                 /* map key */
    struct jid *jid;
    struct hashmap nodes;       /* name -> struct pep_node */
    enum user_state state;
    unsigned loads;             /* storage reads outstanding while loading */
    bool load_failed;
    bool stale;                 /* a write failed: reload before trusting */
    unsigned busy;              /* requests using this state */
    size_t bytes;               /* items' stored size */
    struct user_waiter *waiters, **wtail;
};

struct caps_entry {
    char *key;                  /* "hash ver" */
    char **features;            /* sorted */
    size_t n;
};

struct caps_query {
    char *id;                   /* map key: the IQ id */
    char *key;                  /* "hash ver" */
    char *hash, *ver;
    char *from;                 /* bare JID the query was sent from */
    char *to;                   /* full JID asked */
    time_t sent;
    char *waiters[MAX_CAPS_WAITERS];    /* full JIDs to get last items */
    size_t nwaiters;
};

struct pep {
    int refs;                   /* the instance + outstanding completions */
    bool dead;                  /* unloaded: completions only release */
    struct server *srv;
    const struct pep_conf *conf;
    struct hashmap users;       /* bare -> struct pep_user */
    struct hashmap caps;        /* "hash ver" -> struct caps_entry */
    struct hashmap queries;     /* IQ id -> struct caps_query */
    unsigned long long next_id;
};

/* --- small helpers ------------------------------------------------------ */

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void pep_unref(struct pep *p);

static bool is_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static char *area_of(const char *node)
{
    size_t n = strlen(node) + 5;
    char *a = pl_malloc(n);
    snprintf(a, n, "pep:%s", node);
    return a;
}

static const char *new_id(struct pep *p, char *buf, size_t len)
{
    snprintf(buf, len, "pep%llx", ++p->next_id);
    return buf;
}

/* An error reply with an optional pubsub#errors condition (XEP-0060
 * §7.1.3 etc.).  Unlike router_bounce() it does not echo the request:
 * a publish may carry a large item (RFC 6120 §8.3.1 says SHOULD). */
static void reply_error(struct server *srv, const struct stanza *req, const char *type,
                        const char *cond, const char *pcond, const char *feature,
                        const char *text)
{
    const char *from = xml_attr(req->root, "from");
    if (!from)
        return;
    struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
    struct arena *a = st->arena;
    xml_set_attr(a, st->root, "to", from);
    const char *to = xml_attr(req->root, "to");
    if (to)
        xml_set_attr(a, st->root, "from", to);
    xml_set_attr(a, st->root, "id", xml_attr(req->root, "id"));
    xml_set_attr(a, st->root, "type", "error");
    struct xml_node *err = xml_add_child(a, st->root, NULL, "error");
    xml_set_attr(a, err, "type", type);
    xml_add_child(a, err, NS_STANZAS, cond);
    if (pcond) {
        struct xml_node *pc = xml_add_child(a, err, NS_PUBSUB_ERRORS, pcond);
        if (feature)
            xml_set_attr(a, pc, "feature", feature);
    }
    if (text) {
        struct xml_node *t = xml_add_text_child(a, err, NS_STANZAS, "text", text);
        xml_set_attr(a, t, "xml:lang", "en");
    }
    router_route(srv, st);
    stanza_unref(st);
}

/* --- caps cache ------------------------------------------------------------ */

static void caps_entry_free(struct caps_entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->features[i]);
    free(e->features);
    free(e->key);
    free(e);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool caps_has(const struct caps_entry *e, const char *feature)
{
    return e && bsearch(&feature, e->features, e->n, sizeof(char *), cmp_strp);
}

/* Does the caps entry ask for notifications of 'node' (XEP-0163 §4.2)? */
static bool wants_notify(const struct caps_entry *e, const char *node)
{
    if (!e)
        return false;
    char stack[MAX_NAME + 16];
    snprintf(stack, sizeof(stack), "%s+notify", node);
    return caps_has(e, stack);
}

/* The caps entry of a session's current presence, NULL if unknown. */
static const struct caps_entry *session_caps(struct pep *p, const struct session *s)
{
    if (!s->presence)
        return NULL;
    struct xml_node *c = xml_child(s->presence->root, NS_CAPS, "c");
    const char *hash = c ? xml_attr(c, "hash") : NULL;
    const char *ver = c ? xml_attr(c, "ver") : NULL;
    if (!hash || !ver || strlen(hash) + strlen(ver) > 2 * MAX_NAME)
        return NULL;
    /* Lengths are checked above; built by hand because the compiler
     * cannot see that bound through snprintf. */
    char key[2 * MAX_NAME + 2];
    size_t hl = strlen(hash), vl = strlen(ver);
    memcpy(key, hash, hl);
    key[hl] = ' ';
    memcpy(key + hl + 1, ver, vl + 1);
    return hashmap_get(&p->caps, key);
}

static void caps_store(struct pep *p, const char *key, const struct xml_node *query)
{
    if (hashmap_get(&p->caps, key))
        return;
    if (p->caps.count >= p->conf->max_caps) {
        /* Bounded: drop one entry (whichever the map yields first); it is
         * asked again if a client still uses it. */
        const char *k;
        void *v;
        size_t i = 0;
        if (hashmap_next(&p->caps, &i, &k, &v)) {
            hashmap_del(&p->caps, k);
            caps_entry_free(v);
        }
    }
    struct caps_entry *e = pl_calloc(1, sizeof(*e));
    e->key = pl_strdup(key);
    size_t n = 0;
    for (struct xml_node *f = xml_child(query, NS_DISCO_INFO, "feature"); f;
         f = xml_next(f, NS_DISCO_INFO, "feature"))
        n++;
    e->features = pl_calloc(n ? n : 1, sizeof(char *));
    for (struct xml_node *f = xml_child(query, NS_DISCO_INFO, "feature"); f;
         f = xml_next(f, NS_DISCO_INFO, "feature")) {
        const char *var = xml_attr(f, "var");
        if (var)
            e->features[e->n++] = pl_strdup(var);
    }
    qsort(e->features, e->n, sizeof(char *), cmp_strp);
    hashmap_put(&p->caps, e->key, e);
}

static void query_free(struct caps_query *q)
{
    free(q->id);
    free(q->key);
    free(q->hash);
    free(q->ver);
    free(q->from);
    free(q->to);
    for (size_t i = 0; i < q->nwaiters; i++)
        free(q->waiters[i]);
    free(q);
}

static struct caps_query *query_for_key(struct pep *p, const char *key)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&p->queries, &i, &k, &v);)
        if (strcmp(((struct caps_query *)v)->key, key) == 0)
            return v;
    return NULL;
}

static void expire_queries(struct pep *p)
{
    time_t now = time(NULL);
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&p->queries, &i, &k, &v);) {
        struct caps_query *q = v;
        if (now - q->sent > CAPS_QUERY_TIMEOUT) {
            hashmap_del(&p->queries, k);
            query_free(q);
        }
    }
}

static void deliver_last_items(struct pep *p, const char *full);

/*
 * Learns the caps of 'full' from its presence <c/> (XEP-0115 §6.2).  A
 * known hash needs nothing; an unknown one is asked for once, from
 * 'from_bare' (a local account: its bare JID receives the answer through
 * HOOK_STANZA_IN).  With 'deliver', 'full' gets its last items once the
 * caps are known (now, or when the answer arrives).
 */
static void learn_caps(struct pep *p, const char *from_bare, const char *full,
                       const struct xml_node *c, bool deliver)
{
    const char *hash = xml_attr(c, "hash");
    const char *ver = xml_attr(c, "ver");
    const char *node = xml_attr(c, "node");
    /* §5.4 1-2: no 'hash' is the legacy format, an unknown hash cannot be
     * verified: neither is cached (so such clients get no notifications). */
    if (!hash || !ver || !node || !caps_hash_supported(hash) ||
        strlen(ver) > MAX_NAME || strlen(node) > MAX_NAME) {
        if (deliver)
            deliver_last_items(p, full);    /* still the owner's forced paths */
        return;
    }
    char key[2 * MAX_NAME + 2];
    snprintf(key, sizeof(key), "%s %s", hash, ver);
    if (hashmap_get(&p->caps, key)) {
        if (deliver)
            deliver_last_items(p, full);
        return;
    }
    struct caps_query *q = query_for_key(p, key);
    if (!q) {
        if (p->queries.count >= MAX_CAPS_QUERIES)
            expire_queries(p);
        if (p->queries.count >= MAX_CAPS_QUERIES) {
            log_warn("pep: too many caps queries in flight, not asking %s", full);
            return;
        }
        char idb[32];
        q = pl_calloc(1, sizeof(*q));
        q->id = pl_strdup(new_id(p, idb, sizeof(idb)));
        q->key = pl_strdup(key);
        q->hash = pl_strdup(hash);
        q->ver = pl_strdup(ver);
        q->from = pl_strdup(from_bare);
        q->to = pl_strdup(full);
        q->sent = time(NULL);
        hashmap_put(&p->queries, q->id, q);
        struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
        struct arena *a = st->arena;
        xml_set_attr(a, st->root, "type", "get");
        xml_set_attr(a, st->root, "id", q->id);
        xml_set_attr(a, st->root, "from", from_bare);
        xml_set_attr(a, st->root, "to", full);
        struct xml_node *qn = xml_add_child(a, st->root, NS_DISCO_INFO, "query");
        /* §6.2: ask for the node#ver the entity advertised. */
        xml_set_attr(a, qn, "node", arena_printf(a, "%s#%s", node, ver));
        router_route(p->srv, st);
        stanza_unref(st);
    }
    if (deliver && q->nwaiters < MAX_CAPS_WAITERS) {
        for (size_t i = 0; i < q->nwaiters; i++)
            if (strcmp(q->waiters[i], full) == 0)
                return;
        q->waiters[q->nwaiters++] = pl_strdup(full);
    }
}

/* A disco#info answer to one of our caps queries. */
static void caps_answer(struct pep *p, struct caps_query *q, const struct stanza *st)
{
    const char *type = xml_attr(st->root, "type");
    struct xml_node *query = xml_child(st->root, NS_DISCO_INFO, "query");
    if (type && strcmp(type, "result") == 0 && query) {
        if (caps_verify(q->hash, q->ver, query))
            caps_store(p, q->key, query);
        else
            log_info("pep: caps of %s do not match ver '%s', not cached", q->to, q->ver);
    }
    /* Delivered whether or not the caps verified: an unknown filter
     * delivers the forced paths only. */
    for (size_t i = 0; i < q->nwaiters; i++)
        deliver_last_items(p, q->waiters[i]);
}

/* --- user state ------------------------------------------------------------ */

static void node_free(struct pep_node *n)
{
    for (size_t i = 0; i < n->nitems; i++) {
        free(n->items[i].id);
        stanza_unref(n->items[i].st);
    }
    free(n->items);
    free(n->name);
    free(n);
}

static void user_free(struct pep_user *u)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&u->nodes, &i, &k, &v);)
        node_free(v);
    hashmap_release(&u->nodes);
    jid_free(u->jid);
    free(u->bare);
    free(u);
}

/* Forgets a user's state when nothing needs it: no sessions (or only the
 * one closing), no request running, not loading. */
static void user_maybe_evict(struct pep *p, struct pep_user *u, bool closing)
{
    if (u->busy || u->state == USER_LOADING)
        return;
    struct account *acc = sm_account(p->srv, u->bare);
    bool online = acc && acc->nsessions > (closing ? 1u : 0u);
    if (online && !u->stale)
        return;
    hashmap_del(&p->users, u->bare);
    user_free(u);
}

static struct pep_node *node_new(struct pep_user *u, const char *name,
                                 const struct pep_config *cfg)
{
    struct pep_node *n = pl_calloc(1, sizeof(*n));
    n->name = pl_strdup(name);
    n->cfg = *cfg;
    hashmap_put(&u->nodes, n->name, n);
    return n;
}

static void item_remove_at(struct pep_user *u, struct pep_node *n, size_t i)
{
    u->bytes -= n->items[i].bytes;
    free(n->items[i].id);
    stanza_unref(n->items[i].st);
    memmove(&n->items[i], &n->items[i + 1], (n->nitems - i - 1) * sizeof(n->items[0]));
    n->nitems--;
}

static void item_append(struct pep_user *u, struct pep_node *n, const char *id,
                        struct stanza *st, size_t bytes, long long stamp)
{
    n->items = pl_realloc(n->items, (n->nitems + 1) * sizeof(n->items[0]));
    n->items[n->nitems++] = (struct pep_item){ pl_strdup(id), st, bytes, stamp };
    u->bytes += bytes;
}

static ssize_t item_find(const struct pep_node *n, const char *id)
{
    for (size_t i = 0; i < n->nitems; i++)
        if (strcmp(n->items[i].id, id) == 0)
            return (ssize_t)i;
    return -1;
}

struct load_op {
    struct pep *p;
    char *bare;
    char *node;                 /* log reads: the node */
};

static void load_finish(struct pep *p, struct pep_user *u)
{
    if (--u->loads > 0)
        return;
    u->state = USER_READY;
    bool failed = u->load_failed;
    struct user_waiter *w = u->waiters;
    u->waiters = NULL;
    u->wtail = &u->waiters;
    /* Waiters run with the user busy so that none of them evicts it
     * under the next one. */
    u->busy++;
    while (w) {
        struct user_waiter *next = w->next;
        w->fn(p, failed ? NULL : u, w->ud);
        free(w);
        w = next;
    }
    u->busy--;
    if (failed)
        u->stale = true;
    user_maybe_evict(p, u, false);
}

static void load_items_done(const struct store_result *res, void *ud)
{
    struct load_op *op = ud;
    struct pep *p = op->p;
    struct pep_user *u = p->dead ? NULL : hashmap_get(&p->users, op->bare);
    if (u) {
        struct pep_node *n = hashmap_get(&u->nodes, op->node);
        if (res->status != STORE_OK) {
            u->load_failed = true;
        } else if (n) {
            for (size_t i = 0; i < res->nitems; i++) {
                const struct store_item *it = &res->items[i];
                struct stanza *st = xmldoc_decode(it->value, it->value_len);
                if (!st) {
                    log_warn("pep: damaged item '%s' of node '%s' of %s skipped",
                             it->key, op->node, op->bare);
                    continue;
                }
                item_append(u, n, it->key, st, it->value_len, it->stamp);
            }
        }
        load_finish(p, u);
    }
    free(op->bare);
    free(op->node);
    free(op);
    pep_unref(p);
}

static void load_nodes_done(const struct store_result *res, void *ud)
{
    struct load_op *op = ud;
    struct pep *p = op->p;
    struct pep_user *u = p->dead ? NULL : hashmap_get(&p->users, op->bare);
    if (u) {
        if (res->status != STORE_OK) {
            u->load_failed = true;
        } else {
            for (size_t i = 0; i < res->nitems; i++) {
                const struct store_item *it = &res->items[i];
                struct pep_config cfg;
                pep_config_decode(&cfg, it->value, p->conf->max_items);
                struct pep_node *n = node_new(u, it->key, &cfg);
                /* Non-persistent nodes keep no rows (their last item
                 * lives in memory only). */
                if (!cfg.persist_items)
                    continue;
                struct load_op *lo = pl_calloc(1, sizeof(*lo));
                lo->p = p;
                p->refs++;
                lo->bare = pl_strdup(op->bare);
                lo->node = pl_strdup(n->name);
                char *area = area_of(n->name);
                struct store_log_query_args q = {
                    .user = u->jid->local, .host = u->jid->domain, .area = area,
                    .limit = cfg.max_items, .reverse = true,
                };
                u->loads++;
                store_log_query(p->srv->store, &q, load_items_done, lo);
                free(area);
            }
        }
        load_finish(p, u);
    }
    free(op->bare);
    free(op);
    pep_unref(p);
}

/* Calls fn with the user's state, loaded (now or after storage), or
 * with u NULL when it cannot be read.  fn may run before this returns. */
static void user_get(struct pep *p, const char *bare, user_fn fn, void *ud)
{
    struct pep_user *u = hashmap_get(&p->users, bare);
    if (u && u->stale && !u->busy && u->state == USER_READY) {
        hashmap_del(&p->users, u->bare);
        user_free(u);
        u = NULL;
    }
    if (u && u->state == USER_READY) {
        u->busy++;
        fn(p, u, ud);
        u->busy--;
        user_maybe_evict(p, u, false);
        return;
    }
    if (!u) {
        struct jid *j = jid_parse(bare);
        if (!j || !j->local) {
            jid_free(j);
            fn(p, NULL, ud);
            return;
        }
        u = pl_calloc(1, sizeof(*u));
        u->bare = pl_strdup(bare);
        u->jid = j;
        hashmap_init(&u->nodes);
        u->state = USER_LOADING;
        u->wtail = &u->waiters;
        u->loads = 1;
        hashmap_put(&p->users, u->bare, u);
        struct load_op *op = pl_calloc(1, sizeof(*op));
        op->p = p;
        p->refs++;
        op->bare = pl_strdup(bare);
        store_kv_list(p->srv->store, j->local, j->domain, KV_AREA, load_nodes_done, op);
    }
    struct user_waiter *w = pl_calloc(1, sizeof(*w));
    w->fn = fn;
    w->ud = ud;
    *u->wtail = w;
    u->wtail = &w->next;
}

/* --- notifications --------------------------------------------------------- */

/* A headline from the owner's bare JID (XEP-0163 §4.3.1) carrying 'event'
 * (a <event xmlns=pubsub#event/> tree, copied) to 'to'. */
static void send_event(struct pep *p, const char *owner, const char *to,
                       const struct xml_node *event, long long delay_us)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "message");
    struct arena *a = st->arena;
    char idb[32];
    xml_set_attr(a, st->root, "from", owner);
    xml_set_attr(a, st->root, "to", to);
    xml_set_attr(a, st->root, "type", "headline");
    xml_set_attr(a, st->root, "id", new_id(p, idb, sizeof(idb)));
    xml_append(st->root, xml_copy(a, event));
    if (delay_us > 0) {
        /* XEP-0163 §4.3.4: the last item carries when it was published. */
        time_t t = (time_t)(delay_us / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        struct xml_node *d = xml_add_child(a, st->root, NS_DELAY, "delay");
        xml_set_attr(a, d, "stamp", stamp);
        xml_set_attr(a, d, "from", owner);
    }
    /* Generated for the owner: blocking (XEP-0191) may stop it
     * (XEP-0163 §4.3.3's exception). */
    struct session *none = NULL;
    router_route_out(p->srv, none, st);
    stanza_unref(st);
}

/* <event><items node=N><item id=..>payload</item></items></event> */
static struct xml_node *event_items(struct arena *a, const char *node,
                                    const struct pep_item *it, bool payload)
{
    struct xml_node *ev = xml_new(a, NS_PUBSUB_EVENT, "event");
    struct xml_node *items = xml_add_child(a, ev, NULL, "items");
    xml_set_attr(a, items, "node", node);
    struct xml_node *item = xml_add_child(a, items, NULL, "item");
    xml_set_attr(a, item, "id", it->id);
    if (payload)
        for (struct xml_node *c = it->st->root->children; c; c = c->next)
            if (c->kind == XML_ELEMENT)
                xml_append(item, xml_copy(a, c));
    return ev;
}

struct notify_ctx {
    struct pep *p;
    const char *owner;
    const char *node;
    const struct xml_node *event;
};

static void notify_sessions(struct notify_ctx *nc, const char *bare)
{
    struct account *acc = sm_account(nc->p->srv, bare);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next)
        if (s->presence && wants_notify(session_caps(nc->p, s), nc->node))
            send_event(nc->p, nc->owner, s->jid->full, nc->event, 0);
}

static void notify_contact(const char *contact, enum roster_sub sub, void *ud)
{
    (void)sub;
    struct notify_ctx *nc = ud;
    if (strcmp(contact, nc->owner) != 0)
        notify_sessions(nc, contact);
}

/*
 * XEP-0163 §4: the owner's available resources and, unless the node is
 * whitelisted, contacts with a subscription from/both (the presence
 * model; 'open' notifies the same set: nobody else is subscribed), each
 * available resource whose caps ask for NODE+notify (§4.3.2).
 */
static void notify(struct pep *p, const char *owner, const char *node,
                   const struct pep_config *cfg, const struct xml_node *event)
{
    if (!cfg->deliver_notifications)
        return;
    struct notify_ctx nc = { p, owner, node, event };
    notify_sessions(&nc, owner);
    if (cfg->access != PEP_ACCESS_WHITELIST)
        roster_foreach(p->srv, owner, ROSTER_SUB_FROM, notify_contact, &nc);
}

/* The last item of every node of u that 'full' asks for (§4.3.4). */
static void send_last_of(struct pep *p, struct pep_user *u, const char *full,
                         const struct caps_entry *caps, bool is_owner)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&u->nodes, &i, &k, &v);) {
        struct pep_node *n = v;
        if (n->nitems == 0 || n->cfg.send_last != PEP_SEND_ON_SUB_AND_PRESENCE ||
            !n->cfg.deliver_notifications || !wants_notify(caps, n->name))
            continue;
        if (!is_owner && n->cfg.access == PEP_ACCESS_WHITELIST)
            continue;
        struct pep_item *it = &n->items[n->nitems - 1];
        struct arena *a = arena_new(0);
        struct xml_node *ev = event_items(a, n->name, it, n->cfg.deliver_payloads);
        send_event(p, u->bare, full, ev, it->stamp);
        arena_free(a);
    }
}

struct last_ctx {
    char *full;                 /* the newly available resource */
    char *owner;                /* whose nodes */
};

static void last_user_ready(struct pep *p, struct pep_user *u, void *ud)
{
    struct last_ctx *lc = ud;
    struct jid *j = jid_parse(lc->full);
    struct session *s = j ? sm_find(p->srv, j) : NULL;
    /* The resource may have gone while storage was read. */
    if (u && s && s->presence)
        send_last_of(p, u, lc->full, session_caps(p, s), strcmp(lc->owner, j->bare) == 0);
    jid_free(j);
    free(lc->full);
    free(lc->owner);
    free(lc);
}

static void last_from(struct pep *p, const char *owner, const char *full)
{
    struct last_ctx *lc = pl_malloc(sizeof(*lc));
    lc->full = pl_strdup(full);
    lc->owner = pl_strdup(owner);
    user_get(p, owner, last_user_ready, lc);
}

static void last_contact(const char *contact, enum roster_sub sub, void *ud)
{
    (void)sub;
    void **args = ud;
    struct pep *p = args[0];
    const char *full = args[1];
    struct jid *j = jid_parse(contact);
    /* Local contacts only: remote PEP services send their own. */
    if (j && j->local && router_is_local_host(p->srv, j->domain) &&
        strcmp(j->bare, ((struct jid *)args[2])->bare) != 0)
        last_from(p, j->bare, full);
    jid_free(j);
}

struct contacts_wait {
    struct pep *p;              /* a reference */
    char *full;                 /* the newly available resource */
    struct jid *j;              /* its parsed JID */
};

static void contacts_ready(struct server *srv, int ok, void *ud)
{
    (void)srv;
    struct contacts_wait *w = ud;
    struct pep *p = w->p;
    if (ok > 0 && !p->dead) {
        void *args[3] = { p, w->full, w->j };
        roster_foreach(p->srv, w->j->bare, ROSTER_SUB_TO, last_contact, args);
    }
    free(w->full);
    jid_free(w->j);
    free(w);
    pep_unref(p);
}

/*
 * A resource of a local account became available (or its caps became
 * known): its own account's last items, and those of the local contacts
 * it has a presence subscription to (subscription to/both in its roster,
 * i.e. from/both in theirs: RFC 6121 keeps the two sides in step).
 */
static void deliver_last_items(struct pep *p, const char *full)
{
    struct jid *j = jid_parse(full);
    if (!j || !j->local || !j->resource || !router_is_local_host(p->srv, j->domain)) {
        jid_free(j);
        return;
    }
    last_from(p, j->bare, full);
    /* The client may announce itself before its roster finished loading
     * (it is loaded at bind): wait for it rather than miss contacts. */
    struct contacts_wait *w = pl_malloc(sizeof(*w));
    w->p = p;
    p->refs++;
    w->full = pl_strdup(full);
    w->j = j;
    roster_when_ready(p->srv, j->bare, contacts_ready, w);
}

/* --- requests ---------------------------------------------------------------- */

enum req_kind { REQ_PUBSUB, REQ_OWNER, REQ_ITEMS_DISCO };

struct req {
    struct pep *p;
    struct stanza *st;          /* referenced and held until answered */
    enum req_kind kind;
    char *owner;                /* the account addressed (bare) */
    char *requester;            /* the sender's bare JID */
    int sub;                    /* the owner's subscription to requester */
};

static void req_free(struct req *r)
{
    stanza_unhold(r->st);
    stanza_unref(r->st);
    free(r->owner);
    free(r->requester);
    struct pep *p = r->p;
    free(r);
    pep_unref(p);
}

static bool req_is_owner(const struct req *r)
{
    return strcmp(r->owner, r->requester) == 0;
}

/* XEP-0060 §6.5.1 / §4.5: may the requester read this node? */
static bool may_read(const struct req *r, const struct pep_node *n)
{
    if (req_is_owner(r))
        return true;
    switch (n->cfg.access) {
    case PEP_ACCESS_OPEN:
        return true;
    case PEP_ACCESS_PRESENCE:
        return r->sub >= 0 && (r->sub & ROSTER_SUB_FROM);
    case PEP_ACCESS_WHITELIST:
        return false;
    }
    return false;
}

static void deny_read(struct server *srv, const struct req *r, const struct pep_node *n)
{
    if (n->cfg.access == PEP_ACCESS_PRESENCE)       /* §6.5.9.6 */
        reply_error(srv, r->st, "auth", "not-authorized", "presence-subscription-required",
                    NULL, "the node is shared with the owner's presence subscribers");
    else                                            /* §6.5.9.8 */
        reply_error(srv, r->st, "cancel", "not-allowed", "closed-node", NULL,
                    "the node is restricted to its whitelist");
}

/* A write batch: storage requests for one stanza, answered when the last
 * completes (they complete in order, so the last means all committed). */
struct batch {
    struct req *r;
    unsigned pending;
    bool failed;
    struct stanza *reply;       /* the result to send on success */
    struct arena *ev_arena;     /* the notification, if any */
    struct xml_node *event;
    char *node;
    struct pep_config cfg;
};

static void batch_finish(struct batch *b)
{
    struct req *r = b->r;
    struct pep *p = r->p;
    struct pep_user *u = p->dead ? NULL : hashmap_get(&p->users, r->owner);
    if (b->failed) {
        reply_error(p->srv, r->st, "wait", "internal-server-error", NULL, NULL,
                    "storage failure");
        if (u)
            u->stale = true;    /* memory is ahead of storage: reload */
    } else if (!p->srv->stopping) {
        router_route(p->srv, b->reply);
        if (b->event && !p->dead)
            notify(p, r->owner, b->node, &b->cfg, b->event);
    }
    if (u) {
        u->busy--;
        user_maybe_evict(p, u, false);
    }
    stanza_unref(b->reply);
    if (b->ev_arena)
        arena_free(b->ev_arena);
    free(b->node);
    free(b);
    req_free(r);
}

static void batch_done(const struct store_result *res, void *ud)
{
    struct batch *b = ud;
    if (res->status != STORE_OK)
        b->failed = true;
    if (--b->pending == 0)
        batch_finish(b);
}

static struct batch *batch_new(struct req *r, struct pep_user *u, struct stanza *reply)
{
    struct batch *b = pl_calloc(1, sizeof(*b));
    b->r = r;
    b->reply = reply;
    b->pending = 1;             /* the submitter's own count, see batch_run */
    u->busy++;
    return b;
}

/* Ends submission: answers now if nothing was written. */
static void batch_run(struct batch *b)
{
    if (--b->pending == 0)
        batch_finish(b);
}

static void batch_kv(struct batch *b, struct pep_user *u, const char *node,
                     const struct pep_config *cfg)
{
    struct buf enc = BUF_INIT;
    if (cfg)
        pep_config_encode(cfg, &enc);
    b->pending++;
    store_kv_set(b->r->p->srv->store, u->jid->local, u->jid->domain, KV_AREA, node,
                 cfg ? (enc.data ? enc.data : "") : NULL, enc.len, batch_done, b);
    buf_release(&enc);
}

/* Deletes rows: the ids listed, or all when ids is NULL. */
static void batch_delete(struct batch *b, struct pep_user *u, const char *node,
                         const char *const *ids)
{
    char *area = area_of(node);
    b->pending++;
    store_log_delete(b->r->p->srv->store, u->jid->local, u->jid->domain, area, ids, 0,
                     batch_done, b);
    free(area);
}

static void batch_append(struct batch *b, struct pep_user *u, const char *node,
                         const struct pep_item *it)
{
    char *area = area_of(node);
    struct buf enc = BUF_INIT;
    xmldoc_encode(it->st->root, &enc);
    struct store_log_append_args a = {
        .user = u->jid->local, .host = u->jid->domain, .area = area, .id = it->id,
        .with = u->bare, .stamp = it->stamp, .value = enc.data, .value_len = enc.len,
        .need_account = true,
    };
    b->pending++;
    store_log_append(b->r->p->srv->store, &a, batch_done, b);
    buf_release(&enc);
    free(area);
}

/* Drops the oldest items beyond max_items (memory, and rows if stored). */
static void trim_node(struct batch *b, struct pep_user *u, struct pep_node *n)
{
    unsigned max = n->cfg.persist_items ? n->cfg.max_items : 1;
    if (n->nitems <= max)
        return;
    size_t drop = n->nitems - max;
    const char **ids = pl_calloc(drop + 1, sizeof(char *));
    for (size_t i = 0; i < drop; i++)
        ids[i] = n->items[i].id;
    if (n->cfg.persist_items)
        batch_delete(b, u, n->name, ids);
    free(ids);
    for (size_t i = 0; i < drop; i++)
        item_remove_at(u, n, 0);
}

static const char *node_attr(struct server *srv, const struct req *r,
                             const struct xml_node *el)
{
    const char *node = xml_attr(el, "node");
    if (!node || !*node) {
        reply_error(srv, r->st, "modify", "bad-request", "nodeid-required", NULL,
                    "the 'node' attribute is required");
        return NULL;
    }
    if (strlen(node) > MAX_NAME) {
        reply_error(srv, r->st, "modify", "not-acceptable", NULL, NULL,
                    "node name too long");
        return NULL;
    }
    return node;
}

static bool need_owner(struct server *srv, const struct req *r)
{
    if (req_is_owner(r))
        return true;
    /* XEP-0060 §7.1.3.1 etc.; PEP has one publisher (XEP-0163 §2.2). */
    reply_error(srv, r->st, "auth", "forbidden", NULL, NULL,
                "only the account owner may do this");
    return false;
}

static void random_id(char *out, size_t len)
{
    unsigned char b[8];
    if (RAND_bytes(b, sizeof(b)) != 1)
        PL_ASSERT(!"RAND_bytes failed");
    snprintf(out, len, "%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
             b[5], b[6], b[7]);
}

/* XEP-0060 §7.1 publish, §7.1.4 auto-create, §7.1.5 publish-options. */
static void do_publish(struct pep *p, struct pep_user *u, struct req *r,
                       const struct xml_node *ps, const struct xml_node *pub)
{
    struct server *srv = p->srv;
    const struct pep_conf *conf = p->conf;
    const char *name = node_attr(srv, r, pub);
    if (!name || !need_owner(srv, r))
        goto out;
    struct xml_node *item = xml_child(pub, NS_PUBSUB, "item");
    if (!item) {    /* §7.1.3.7: PEP nodes are persistent */
        reply_error(srv, r->st, "modify", "bad-request", "item-required", NULL,
                    "publish needs an <item/>");
        goto out;
    }
    if (xml_next(item, NS_PUBSUB, "item")) {
        reply_error(srv, r->st, "modify", "bad-request", "invalid-payload", NULL,
                    "one item per publish");
        goto out;
    }
    size_t npayload = xml_child_count(item);
    if (npayload != 1) {
        reply_error(srv, r->st, "modify", "bad-request",
                    npayload ? "invalid-payload" : "payload-required", NULL,
                    "an item carries exactly one payload element");
        goto out;
    }
    char idbuf[32];
    const char *id = xml_attr(item, "id");
    if (!id || !*id) {      /* §7.1.3.7: generated when absent */
        random_id(idbuf, sizeof(idbuf));
        id = idbuf;
    }
    if (strlen(id) > MAX_NAME) {
        reply_error(srv, r->st, "modify", "not-acceptable", NULL, NULL, "item id too long");
        goto out;
    }

    /* The stored item: <item id=...>payload</item>, whatever the client
     * wrote besides. */
    struct stanza *ist = stanza_new(NS_PUBSUB, "item");
    xml_set_attr(ist->arena, ist->root, "id", id);
    xml_append(ist->root, xml_copy(ist->arena, xml_child(item, NULL, NULL)));
    size_t bytes = xmldoc_size(ist->root);
    if (bytes > conf->max_item_size) {              /* §7.1.3.5 */
        reply_error(srv, r->st, "modify", "not-acceptable", "payload-too-big", NULL,
                    "the item is larger than this server stores");
        stanza_unref(ist);
        goto out;
    }

    struct pep_node *n = hashmap_get(&u->nodes, name);
    struct xml_node *po = xml_child(ps, NS_PUBSUB, "publish-options");
    struct xml_node *form = po ? xml_child(po, NS_DATA, "x") : NULL;
    if (po && !form) {
        reply_error(srv, r->st, "modify", "bad-request", "invalid-options", NULL,
                    "<publish-options/> needs a data form");
        stanza_unref(ist);
        goto out;
    }
    struct pep_config cfg;
    const char *bad = NULL;
    if (n && form) {
        int rc = pep_config_check_preconditions(&n->cfg, form, conf->max_items, &bad);
        if (rc != PEP_FORM_OK) {
            char text[MAX_NAME + 64];
            snprintf(text, sizeof(text), rc == PEP_FORM_BAD ? "invalid option '%s'"
                     : "the node's '%s' differs", bad ? bad : "FORM_TYPE");
            if (rc == PEP_FORM_BAD)
                reply_error(srv, r->st, "modify", "bad-request", "invalid-options", NULL, text);
            else    /* §7.1.5 rule 1 */
                reply_error(srv, r->st, "cancel", "conflict", "precondition-not-met", NULL,
                            text);
            stanza_unref(ist);
            goto out;
        }
    }
    if (!n) {
        if (u->nodes.count >= conf->max_nodes) {
            reply_error(srv, r->st, "wait", "resource-constraint", NULL, NULL,
                        "too many PEP nodes");
            stanza_unref(ist);
            goto out;
        }
        pep_config_default(&cfg, conf->max_items);
        /* §7.1.5 rule 3: the preconditions configure the new node. */
        int rc = form ? pep_config_apply_form(&cfg, form, NS_PUBSUB_PUBLISH_OPTIONS,
                                              conf->max_items, &bad)
                      : PEP_FORM_OK;
        if (rc != PEP_FORM_OK) {
            char text[MAX_NAME + 64];
            snprintf(text, sizeof(text), "cannot create the node with '%s'",
                     bad ? bad : "FORM_TYPE");
            if (rc == PEP_FORM_BAD)
                reply_error(srv, r->st, "modify", "bad-request", "invalid-options", NULL, text);
            else
                reply_error(srv, r->st, "modify", "not-acceptable", NULL, NULL, text);
            stanza_unref(ist);
            goto out;
        }
    }
    ssize_t old = n ? item_find(n, id) : -1;
    size_t freed = old >= 0 ? n->items[old].bytes : 0;
    if (u->bytes - freed + bytes > conf->max_bytes) {
        reply_error(srv, r->st, "wait", "resource-constraint", NULL, NULL,
                    "the account's PEP storage is full");
        stanza_unref(ist);
        goto out;
    }

    /* From here the change is made in memory and written. */
    struct stanza *reply;
    struct xml_node *rps = iq_reply_result(r->st, NS_PUBSUB, "pubsub", &reply);
    struct xml_node *rpub = xml_add_child(reply->arena, rps, NULL, "publish");
    xml_set_attr(reply->arena, rpub, "node", name);
    xml_set_attr(reply->arena, xml_add_child(reply->arena, rpub, NULL, "item"), "id", id);
    struct batch *b = batch_new(r, u, reply);
    if (!n) {
        n = node_new(u, name, &cfg);
        batch_kv(b, u, name, &n->cfg);
    }
    if (old >= 0) {
        /* §7.1.2: the same id overwrites (and moves to the newest). */
        if (n->cfg.persist_items) {
            const char *ids[] = { id, NULL };
            batch_delete(b, u, name, ids);
        }
        item_remove_at(u, n, (size_t)old);
    }
    item_append(u, n, id, ist, bytes, now_us());
    if (n->cfg.persist_items)
        batch_append(b, u, name, &n->items[n->nitems - 1]);
    trim_node(b, u, n);
    b->node = pl_strdup(name);
    b->cfg = n->cfg;
    b->ev_arena = arena_new(0);
    b->event = event_items(b->ev_arena, name, &n->items[n->nitems - 1],
                           n->cfg.deliver_payloads);
    batch_run(b);
    return;
out:
    req_free(r);
}

/* XEP-0060 §7.2 retract. */
static void do_retract(struct pep *p, struct pep_user *u, struct req *r,
                       const struct xml_node *el)
{
    struct server *srv = p->srv;
    const char *name = node_attr(srv, r, el);
    if (!name || !need_owner(srv, r))
        goto out;
    struct xml_node *item = xml_child(el, NS_PUBSUB, "item");
    const char *id = item ? xml_attr(item, "id") : NULL;
    if (!id || !*id) {                              /* §7.2.3.4 */
        reply_error(srv, r->st, "modify", "bad-request", "item-required", NULL,
                    "retract needs <item id=.../>");
        goto out;
    }
    struct pep_node *n = hashmap_get(&u->nodes, name);
    ssize_t at = n ? item_find(n, id) : -1;
    if (at < 0) {
        reply_error(srv, r->st, "cancel", "item-not-found", NULL, NULL,
                    n ? "no such item" : "no such node");
        goto out;
    }
    struct stanza *reply;
    iq_reply_result(r->st, NULL, NULL, &reply);
    struct batch *b = batch_new(r, u, reply);
    if (n->cfg.persist_items) {
        const char *ids[] = { id, NULL };
        batch_delete(b, u, name, ids);
    }
    /* §7.2.2.1: notify when asked to. */
    if (is_true(xml_attr(el, "notify"))) {
        b->node = pl_strdup(name);
        b->cfg = n->cfg;
        b->ev_arena = arena_new(0);
        b->event = xml_new(b->ev_arena, NS_PUBSUB_EVENT, "event");
        struct xml_node *items = xml_add_child(b->ev_arena, b->event, NULL, "items");
        xml_set_attr(b->ev_arena, items, "node", name);
        xml_set_attr(b->ev_arena, xml_add_child(b->ev_arena, items, NULL, "retract"), "id",
                     id);
    }
    item_remove_at(u, n, (size_t)at);
    batch_run(b);
    return;
out:
    req_free(r);
}

/* XEP-0060 §6.5 items: all, the newest max_items, or by id. */
static void do_items(struct pep *p, struct pep_user *u, struct req *r,
                     const struct xml_node *el)
{
    struct server *srv = p->srv;
    const char *name = node_attr(srv, r, el);
    if (!name)
        return;
    struct pep_node *n = hashmap_get(&u->nodes, name);
    if (!n) {                                       /* §6.5.9.11 */
        reply_error(srv, r->st, "cancel", "item-not-found", NULL, NULL, "no such node");
        return;
    }
    if (!may_read(r, n)) {
        deny_read(srv, r, n);
        return;
    }
    size_t first = 0;
    const char *mi = xml_attr(el, "max_items");
    if (mi) {
        char *end;
        unsigned long v = strtoul(mi, &end, 10);
        if (!*mi || *end || *mi == '-' || v == 0) {
            reply_error(srv, r->st, "modify", "bad-request", NULL, NULL,
                        "max_items must be a positive integer");
            return;
        }
        if (v < n->nitems)
            first = n->nitems - v;                  /* §6.5.7: the newest */
    }
    struct stanza *reply;
    struct xml_node *rps = iq_reply_result(r->st, NS_PUBSUB, "pubsub", &reply);
    struct arena *a = reply->arena;
    struct xml_node *items = xml_add_child(a, rps, NULL, "items");
    xml_set_attr(a, items, "node", name);
    bool by_id = xml_child(el, NS_PUBSUB, "item") != NULL;
    for (size_t i = by_id ? 0 : first; i < n->nitems; i++) {
        if (by_id) {                                /* §6.5.8 */
            bool want = false;
            for (struct xml_node *w = xml_child(el, NS_PUBSUB, "item"); w && !want;
                 w = xml_next(w, NS_PUBSUB, "item")) {
                const char *wid = xml_attr(w, "id");
                want = wid && strcmp(wid, n->items[i].id) == 0;
            }
            if (!want)
                continue;
        }
        xml_append(items, xml_copy(a, n->items[i].st->root));
    }
    /* §6.5.9.12: unknown ids give an empty <items/>. */
    router_route(srv, reply);
    stanza_unref(reply);
}

/* XEP-0060 §8.1 create (with §8.1.3 configure). */
static void do_create(struct pep *p, struct pep_user *u, struct req *r,
                      const struct xml_node *ps, const struct xml_node *el)
{
    struct server *srv = p->srv;
    const char *name = xml_attr(el, "node");
    if (!need_owner(srv, r))
        goto out;
    if (!name || !*name) {  /* §8.1.2: instant nodes make no sense in PEP */
        reply_error(srv, r->st, "modify", "not-acceptable", "nodeid-required", NULL,
                    "PEP nodes need a name");
        goto out;
    }
    if (!(name = node_attr(srv, r, el)))
        goto out;
    if (hashmap_get(&u->nodes, name)) {             /* §8.1.1 */
        reply_error(srv, r->st, "cancel", "conflict", NULL, NULL, "the node exists");
        goto out;
    }
    if (u->nodes.count >= p->conf->max_nodes) {
        reply_error(srv, r->st, "wait", "resource-constraint", NULL, NULL,
                    "too many PEP nodes");
        goto out;
    }
    struct pep_config cfg;
    pep_config_default(&cfg, p->conf->max_items);
    struct xml_node *conf_el = xml_child(ps, NS_PUBSUB, "configure");
    struct xml_node *form = conf_el ? xml_child(conf_el, NS_DATA, "x") : NULL;
    if (form) {
        const char *bad;
        int rc = pep_config_apply_form(&cfg, form, NS_PUBSUB_NODE_CONFIG,
                                       p->conf->max_items, &bad);
        if (rc != PEP_FORM_OK) {
            char text[MAX_NAME + 64];
            snprintf(text, sizeof(text), "cannot configure '%s'", bad ? bad : "FORM_TYPE");
            reply_error(srv, r->st, "modify", rc == PEP_FORM_BAD ? "bad-request"
                        : "not-acceptable", NULL, NULL, text);
            goto out;
        }
    }
    struct stanza *reply;
    iq_reply_result(r->st, NULL, NULL, &reply);
    struct batch *b = batch_new(r, u, reply);
    struct pep_node *n = node_new(u, name, &cfg);
    batch_kv(b, u, name, &n->cfg);
    batch_run(b);
    return;
out:
    req_free(r);
}

/* XEP-0060 §8.2 configure (get, set), §8.3 default, §8.4 delete, §8.5 purge. */
static void do_owner(struct pep *p, struct pep_user *u, struct req *r,
                     const struct xml_node *el, bool set)
{
    struct server *srv = p->srv;
    const struct pep_conf *conf = p->conf;
    if (!need_owner(srv, r))
        goto out;
    if (!set && strcmp(el->name, "default") == 0) {
        struct stanza *reply;
        struct xml_node *rps = iq_reply_result(r->st, NS_PUBSUB_OWNER, "pubsub", &reply);
        struct pep_config cfg;
        pep_config_default(&cfg, conf->max_items);
        pep_config_form(&cfg, reply->arena, xml_add_child(reply->arena, rps, NULL, "default"),
                        conf->max_items);
        router_route(srv, reply);
        stanza_unref(reply);
        goto out;
    }
    const char *name = node_attr(srv, r, el);
    if (!name)
        goto out;
    bool known = strcmp(el->name, "configure") == 0 || strcmp(el->name, "delete") == 0 ||
                 strcmp(el->name, "purge") == 0;
    if (!known || (!set && strcmp(el->name, "configure") != 0)) {
        reply_error(srv, r->st, "cancel", "feature-not-implemented", "unsupported",
                    strcmp(el->name, "affiliations") == 0 ? "modify-affiliations"
                    : strcmp(el->name, "subscriptions") == 0 ? "manage-subscriptions"
                    : NULL, "not supported by this PEP service");
        goto out;
    }
    struct pep_node *n = hashmap_get(&u->nodes, name);
    if (!n) {
        reply_error(srv, r->st, "cancel", "item-not-found", NULL, NULL, "no such node");
        goto out;
    }
    struct stanza *reply;
    if (!set) {                                     /* §8.2.2 */
        struct xml_node *rps = iq_reply_result(r->st, NS_PUBSUB_OWNER, "pubsub", &reply);
        struct xml_node *c = xml_add_child(reply->arena, rps, NULL, "configure");
        xml_set_attr(reply->arena, c, "node", name);
        pep_config_form(&n->cfg, reply->arena, c, conf->max_items);
        router_route(srv, reply);
        stanza_unref(reply);
        goto out;
    }
    iq_reply_result(r->st, NULL, NULL, &reply);
    if (strcmp(el->name, "configure") == 0) {       /* §8.2.4 */
        struct xml_node *form = xml_child(el, NS_DATA, "x");
        const char *ftype = form ? xml_attr(form, "type") : NULL;
        if (ftype && strcmp(ftype, "cancel") == 0) {
            router_route(srv, reply);
            stanza_unref(reply);
            goto out;
        }
        struct pep_config cfg = n->cfg;
        const char *bad = NULL;
        int rc = form ? pep_config_apply_form(&cfg, form, NS_PUBSUB_NODE_CONFIG,
                                              conf->max_items, &bad)
                      : PEP_FORM_BAD;
        if (rc != PEP_FORM_OK) {                    /* §8.2.5.2 */
            char text[MAX_NAME + 64];
            snprintf(text, sizeof(text), "cannot configure '%s'", bad ? bad : "the form");
            reply_error(srv, r->st, "modify", rc == PEP_FORM_BAD ? "bad-request"
                        : "not-acceptable", NULL, NULL, text);
            stanza_unref(reply);
            goto out;
        }
        struct batch *b = batch_new(r, u, reply);
        bool was_persistent = n->cfg.persist_items;
        n->cfg = cfg;
        batch_kv(b, u, name, &n->cfg);
        if (was_persistent && !cfg.persist_items) {
            batch_delete(b, u, name, NULL);
        } else if (!was_persistent && cfg.persist_items) {
            for (size_t i = 0; i < n->nitems; i++)
                batch_append(b, u, name, &n->items[i]);
        }
        trim_node(b, u, n);
        batch_run(b);
        return;
    }
    struct batch *b = batch_new(r, u, reply);
    bool del = strcmp(el->name, "delete") == 0;
    if (del ? n->cfg.notify_delete : n->cfg.notify_retract) {
        /* §8.4.2 <delete/>, §8.5.2 <purge/> to those notified. */
        b->node = pl_strdup(name);
        b->cfg = n->cfg;
        b->ev_arena = arena_new(0);
        b->event = xml_new(b->ev_arena, NS_PUBSUB_EVENT, "event");
        xml_set_attr(b->ev_arena, xml_add_child(b->ev_arena, b->event, NULL,
                                                del ? "delete" : "purge"), "node", name);
    }
    batch_delete(b, u, name, NULL);
    while (n->nitems)
        item_remove_at(u, n, n->nitems - 1);
    if (del) {
        batch_kv(b, u, name, NULL);
        hashmap_del(&u->nodes, name);
        node_free(n);
    }
    batch_run(b);
    return;
out:
    req_free(r);
}

/* disco#items on the bare JID (XEP-0030 §4; XEP-0163 §6.2: only the
 * nodes the requester may read; XEP-0060 §5.5 the items of one node). */
static void do_disco_items(struct pep *p, struct pep_user *u, struct req *r,
                           const struct xml_node *q)
{
    struct stanza *reply;
    struct xml_node *rq = iq_reply_result(r->st, NS_DISCO_ITEMS, "query", &reply);
    struct arena *a = reply->arena;
    const char *node = xml_attr(q, "node");
    if (node) {
        struct pep_node *n = hashmap_get(&u->nodes, node);
        if (!n || !may_read(r, n)) {
            reply_error(p->srv, r->st, "cancel", "item-not-found", NULL, NULL, "no such node");
            stanza_unref(reply);
            return;
        }
        xml_set_attr(a, rq, "node", node);
        for (size_t i = 0; i < n->nitems; i++) {
            struct xml_node *it = xml_add_child(a, rq, NULL, "item");
            xml_set_attr(a, it, "jid", r->owner);
            xml_set_attr(a, it, "name", n->items[i].id);
        }
    } else {
        const char *k;
        void *v;
        for (size_t i = 0; hashmap_next(&u->nodes, &i, &k, &v);) {
            if (!may_read(r, v))
                continue;
            struct xml_node *it = xml_add_child(a, rq, NULL, "item");
            xml_set_attr(a, it, "jid", r->owner);
            xml_set_attr(a, it, "node", k);
        }
    }
    router_route(p->srv, reply);
    stanza_unref(reply);
}

static void run_request(struct pep *p, struct pep_user *u, struct req *r)
{
    struct server *srv = p->srv;
    struct stanza *st = r->st;
    bool set = strcmp(xml_attr(st->root, "type"), "set") == 0;
    struct xml_node *top = xml_child(st->root, NULL, NULL);
    if (r->kind == REQ_ITEMS_DISCO) {
        do_disco_items(p, u, r, top);
        req_free(r);
        return;
    }
    const char *ns = r->kind == REQ_OWNER ? NS_PUBSUB_OWNER : NS_PUBSUB;
    /* The action: the first child of <pubsub/> other than the option
     * companions (<publish-options/>, <configure/> after <create/>). */
    struct xml_node *el = NULL;
    for (struct xml_node *c = top->children; c && !el; c = c->next)
        if (c->kind == XML_ELEMENT && strcmp(c->ns, ns) == 0 &&
            strcmp(c->name, "publish-options") != 0 &&
            !(strcmp(c->name, "configure") == 0 && xml_child(top, NS_PUBSUB, "create")))
            el = c;
    if (!el) {
        reply_error(srv, st, "modify", "bad-request", NULL, NULL, "no pubsub action");
        req_free(r);
        return;
    }
    if (r->kind == REQ_OWNER) {
        do_owner(p, u, r, el, set);
        return;
    }
    if (set && strcmp(el->name, "publish") == 0) {
        do_publish(p, u, r, top, el);
        return;
    }
    if (set && strcmp(el->name, "retract") == 0) {
        do_retract(p, u, r, el);
        return;
    }
    if (set && strcmp(el->name, "create") == 0) {
        do_create(p, u, r, top, el);
        return;
    }
    if (!set && strcmp(el->name, "items") == 0) {
        do_items(p, u, r, el);
        req_free(r);
        return;
    }
    /* Subscriptions are implicit in PEP (XEP-0163 §4.1, presence); the
     * explicit use cases are not offered. */
    static const char *const features[][2] = {
        { "subscribe", "subscribe" },
        { "unsubscribe", "subscribe" },
        { "subscriptions", "retrieve-subscriptions" },
        { "affiliations", "retrieve-affiliations" },
        { "options", "subscription-options" },
        { "default", "retrieve-default" },
    };
    const char *feature = NULL;
    for (size_t i = 0; i < PL_ARRAY_LEN(features); i++)
        if (strcmp(el->name, features[i][0]) == 0)
            feature = features[i][1];
    if (feature)
        reply_error(srv, st, "cancel", "feature-not-implemented", "unsupported", feature,
                    "not supported by this PEP service");
    else
        reply_error(srv, st, "modify", "bad-request", NULL, NULL, "unknown pubsub action");
    req_free(r);
}

static void sub_known(struct server *srv, int sub, void *ud)
{
    (void)srv;
    struct req *r = ud;
    struct pep *p = r->p;
    struct pep_user *u = p->dead ? NULL : hashmap_get(&p->users, r->owner);
    r->sub = sub;
    if (!u) {
        reply_error(p->srv, r->st, "wait", "internal-server-error", NULL, NULL,
                    p->dead ? "the PEP service restarted" : "storage failure");
        req_free(r);
        return;
    }
    /* u stayed busy (request_ready) while the roster answered. */
    run_request(p, u, r);
    u->busy--;
    user_maybe_evict(p, u, false);
}

static void request_ready(struct pep *p, struct pep_user *u, void *ud)
{
    struct req *r = ud;
    if (!u) {
        reply_error(p->srv, r->st, "wait", "internal-server-error", NULL, NULL,
                    "cannot read PEP storage");
        req_free(r);
        return;
    }
    /* Non-owners need the owner's roster for the presence access model
     * (XEP-0060 §4.5); the answer may come later. */
    if (req_is_owner(r)) {
        r->sub = ROSTER_SUB_BOTH;
        run_request(p, u, r);
        return;
    }
    u->busy++;
    roster_subscription(p->srv, r->owner, r->requester, sub_known, r);
}

static void start_request(struct pl_module_ctx *m, struct stanza *req,
                          struct xml_node *payload, enum req_kind kind)
{
    struct pep *p = m->data;
    struct server *srv = m->srv;
    const char *type = xml_attr(req->root, "type");
    if (kind == REQ_ITEMS_DISCO &&
        (strcmp(type, "get") != 0 || strcmp(payload->name, "query") != 0)) {
        router_bounce(srv, req, "cancel", "feature-not-implemented", NULL);
        return;
    }
    if (kind != REQ_ITEMS_DISCO && strcmp(payload->name, "pubsub") != 0) {
        router_bounce(srv, req, "modify", "bad-request", "expected <pubsub/>");
        return;
    }
    const char *to = xml_attr(req->root, "to");
    struct jid *from = jid_parse(xml_attr(req->root, "from"));
    struct jid *owner = to ? jid_parse(to) : (from ? jid_bare(from) : NULL);
    if (!from || !owner) {
        jid_free(from);
        jid_free(owner);
        router_bounce(srv, req, "modify", "jid-malformed", NULL);
        return;
    }
    struct req *r = pl_calloc(1, sizeof(*r));
    r->p = p;
    p->refs++;
    r->st = stanza_ref(req);
    stanza_hold(req);
    r->kind = kind;
    r->owner = pl_strdup(owner->bare);
    r->requester = pl_strdup(from->bare);
    jid_free(from);
    jid_free(owner);
    user_get(p, r->owner, request_ready, r);
}

static void on_pubsub(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)srv;
    start_request(ud, req, q, REQ_PUBSUB);
}

static void on_pubsub_owner(struct server *srv, struct stanza *req, struct xml_node *q,
                            void *ud)
{
    (void)srv;
    start_request(ud, req, q, REQ_OWNER);
}

static void on_disco_items(struct server *srv, struct stanza *req, struct xml_node *q,
                           void *ud)
{
    (void)srv;
    start_request(ud, req, q, REQ_ITEMS_DISCO);
}

/* --- hooks ----------------------------------------------------------------- */

static bool is_available(const struct stanza *st)
{
    return strcmp(st->root->name, "presence") == 0 && !xml_attr(st->root, "type");
}

/* Presence reaching a local account (caps of its contacts), and answers
 * to our caps queries, which come to the asking account's bare JID. */
static enum hook_result on_stanza_in(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct pep *p = m->data;
    struct stanza *st = ev->stanza;
    const char *name = st->root->name;
    if (strcmp(name, "iq") == 0) {
        const char *type = xml_attr(st->root, "type");
        const char *id = xml_attr(st->root, "id");
        if (!type || !id || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
            return HOOK_CONTINUE;
        struct caps_query *q = hashmap_get(&p->queries, id);
        const char *from = xml_attr(st->root, "from");
        const char *to = xml_attr(st->root, "to");
        if (!q || !from || !to || strcmp(from, q->to) != 0 || strcmp(to, q->from) != 0)
            return HOOK_CONTINUE;
        hashmap_del(&p->queries, id);
        caps_answer(p, q, st);
        query_free(q);
        return HOOK_HANDLED;    /* an answer to the server, not the user */
    }
    if (strcmp(name, "presence") == 0 && is_available(st)) {
        struct xml_node *c = xml_child(st->root, NS_CAPS, "c");
        const char *from = xml_attr(st->root, "from");
        if (c && from && ev->user)
            learn_caps(p, ev->user, from, c, false);
    }
    return HOOK_CONTINUE;
}

/* The owner's own resources: their caps from their broadcast presence. */
static enum hook_result on_presence_out(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct pep *p = m->data;
    if (!ev->session || !ev->stanza || !is_available(ev->stanza))
        return HOOK_CONTINUE;
    struct xml_node *c = xml_child(ev->stanza->root, NS_CAPS, "c");
    if (c)
        learn_caps(p, ev->session->jid->bare, ev->session->jid->full, c, false);
    return HOOK_CONTINUE;
}

/* Initial presence (XEP-0163 §4.3.3): last items once the caps are known. */
static enum hook_result on_available(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct pep *p = m->data;
    struct session *s = ev->session;
    struct xml_node *c = s && s->presence ? xml_child(s->presence->root, NS_CAPS, "c") : NULL;
    if (c)
        learn_caps(p, s->jid->bare, s->jid->full, c, true);
    return HOOK_CONTINUE;
}

static enum hook_result on_session_closed(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct pep *p = m->data;
    struct pep_user *u = ev->session ? hashmap_get(&p->users, ev->session->jid->bare) : NULL;
    if (u)
        user_maybe_evict(p, u, true);
    return HOOK_CONTINUE;
}

/* --- module ----------------------------------------------------------------- */

static void pep_free(struct pep *p)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&p->caps, &i, &k, &v);)
        caps_entry_free(v);
    hashmap_release(&p->caps);
    hashmap_release(&p->users);
    hashmap_release(&p->queries);
    free(p);
}

static void pep_unref(struct pep *p)
{
    if (--p->refs == 0)
        pep_free(p);
}

static const char *const pep_features[] = {
    NS_PUBSUB "#access-open",
    NS_PUBSUB "#access-presence",
    NS_PUBSUB "#access-whitelist",
    NS_PUBSUB "#auto-create",
    NS_PUBSUB "#auto-subscribe",
    NS_PUBSUB "#config-node",
    NS_PUBSUB "#create-and-configure",
    NS_PUBSUB "#create-nodes",
    NS_PUBSUB "#delete-items",
    NS_PUBSUB "#delete-nodes",
    NS_PUBSUB "#filtered-notifications",
    NS_PUBSUB "#last-published",
    NS_PUBSUB "#persistent-items",
    NS_PUBSUB "#publish",
    NS_PUBSUB "#publish-options",
    NS_PUBSUB "#purge-nodes",
    NS_PUBSUB "#retract-items",
    NS_PUBSUB "#retrieve-default",
    NS_PUBSUB "#retrieve-items",
};

static int pep_load(struct pl_module_ctx *m)
{
    struct pep *p = pl_calloc(1, sizeof(*p));
    p->refs = 1;
    p->srv = m->srv;
    p->conf = m->conf;
    hashmap_init(&p->users);
    hashmap_init(&p->caps);
    hashmap_init(&p->queries);
    m->data = p;
    pl_iq_handle(m, IQ_TO_BARE, NS_PUBSUB, on_pubsub);
    pl_iq_handle(m, IQ_TO_BARE, NS_PUBSUB_OWNER, on_pubsub_owner);
    /* Replaces disco.c's empty list for accounts (the later registration
     * wins, and modules_start() loads disco before every other module). */
    pl_iq_handle(m, IQ_TO_BARE, NS_DISCO_ITEMS, on_disco_items);
    pl_disco_identity(m, IQ_TO_BARE, "pubsub", "pep");   /* XEP-0163 §6.1 */
    pl_disco_feature(m, IQ_TO_BARE, NS_PUBSUB);
    for (size_t i = 0; i < PL_ARRAY_LEN(pep_features); i++)
        pl_disco_feature(m, IQ_TO_BARE, pep_features[i]);
    pl_hook(m, HOOK_STANZA_IN, on_stanza_in, PRIO_ROSTER + 5);
    pl_hook(m, HOOK_PRESENCE_OUT, on_presence_out, PRIO_ROSTER + 5);
    pl_hook(m, HOOK_USER_AVAILABLE, on_available, PRIO_ROSTER + 5);
    pl_hook(m, HOOK_SESSION_CLOSED, on_session_closed, PRIO_ROSTER + 5);
    return 0;
}

static void pep_unload(struct pl_module_ctx *m)
{
    struct pep *p = m->data;
    p->dead = true;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&p->users, &i, &k, &v);) {
        struct pep_user *u = v;
        /* Requests waiting for a load are answered when it completes
         * (they find the instance dead); the user state goes now. */
        for (struct user_waiter *w = u->waiters, *next; w; w = next) {
            next = w->next;
            w->fn(p, NULL, w->ud);
            free(w);
        }
        user_free(u);
    }
    hashmap_release(&p->users);
    hashmap_init(&p->users);
    for (size_t i = 0; hashmap_next(&p->queries, &i, &k, &v);)
        query_free(v);
    hashmap_release(&p->queries);
    hashmap_init(&p->queries);
    m->data = NULL;
    pep_unref(p);
}

const struct pl_module pl_module_pep = {
    .name = "pep",
    .doc = "Personal eventing via pubsub (XEP-0163) on every account's bare JID.",
    .conf_size = sizeof(struct pep_conf),
    .options = pep_options,
    .load = pep_load,
    .unload = pep_unload,
};
