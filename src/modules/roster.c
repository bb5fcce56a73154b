/*
 * roster.c - rosters and presence subscriptions (RFC 6121 §2, §3, §4).
 *
 *   §2      roster get/set/push (jabber:iq:roster), limits and errors
 *   §2.6    roster versioning (XEP-0237): a per-user counter; each item
 *           keeps the version of its last change, removed items stay as
 *           tombstones so a client with an older version gets only pushes
 *   §3      subscription presence in both directions; the decisions are
 *           roster_sub.c's (Appendix A), this file applies them
 *   §3.4    pre-approval; §3.1.3 stored inbound requests, re-delivered at
 *           each new available resource
 *   §4.2-4.5 broadcast to subscribers (HOOK_PRESENCE_OUT), probes at the
 *           first available presence, probe answers (§4.3.2) including the
 *           last unavailable presence with its XEP-0203 <delay/> stamp
 *
 * Every user's roster that is needed (a bound session, or a stanza for an
 * offline user) is loaded into memory; work for it is queued until it is
 * loaded and runs one operation at a time (an operation may route stanzas
 * that come back to the same roster: they wait their turn, so pushes go
 * out in the order of the changes).  Rosters without sessions and without
 * work are freed by a deferred sweep.
 *
 * Account deletion (XEP-0077 §3.2, HOOK_ACCOUNT_DELETING/DELETED): the
 * roster is read before storage forgets it, and once the account is gone
 * every contact gets the unsubscribe/unsubscribed removing the item would
 * send (§2.5.2), so local contacts' rosters update and their clients get
 * pushes.
 *
 * Storage (store.h, per user): area "roster" holds one record per contact
 * (item_encode()); area "roster_meta" holds "ver" ("<version> <horizon>")
 * and "last" (the last unavailable presence and its time).
 */
#include "modules/roster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>

#include "core/arena.h"
#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "modules/roster_sub.h"
#include "storage/store.h"
#include "xml/xml.h"

#define NS_ROSTER       "jabber:iq:roster"
#define NS_DELAY        "urn:xmpp:delay"
#define AREA_ROSTER     "roster"
#define AREA_META       "roster_meta"

/* Removed items are remembered so that versioned clients learn about the
 * removal with a push; beyond this many the oldest are forgotten and
 * clients older than the forgotten version get the whole roster. */
#define MAX_TOMBSTONES  256
/* A stored inbound request larger than this (it comes from a peer) is
 * kept without its extended content. */
#define MAX_REQUEST_BYTES 8192

struct roster_conf {
    unsigned max_items;         /* items per roster */
    unsigned max_name_length;   /* bytes of an item's 'name' */
    unsigned max_group_length;  /* bytes of one <group/> */
    unsigned max_groups;        /* <group/> elements per item */
    unsigned max_pending;       /* stored inbound requests per user */
};

static const struct conf_option roster_options[] = {
    { "max_items", CONF_UINT, offsetof(struct roster_conf, max_items), "1000", 1, 100000,
      NULL, 0, "Most items in one roster (RFC 6121 §2.3.3: larger sets are refused)" },
    { "max_name_length", CONF_UINT, offsetof(struct roster_conf, max_name_length), "1023",
      1, 65536, NULL, 0, "Longest item name in bytes (longer: <not-acceptable/>, §2.3.3)" },
    { "max_group_length", CONF_UINT, offsetof(struct roster_conf, max_group_length), "1023",
      1, 65536, NULL, 0, "Longest group name in bytes (longer: <not-acceptable/>, §2.3.3)" },
    { "max_groups", CONF_UINT, offsetof(struct roster_conf, max_groups), "64", 1, 10000,
      NULL, 0, "Most groups per item" },
    { "max_pending", CONF_UINT, offsetof(struct roster_conf, max_pending), "200", 1, 100000,
      NULL, 0, "Most stored inbound subscription requests per user (RFC 6121 §3.1.3 warning)" },
    CONF_END
};

/* One record of a user's roster: an item, a bare inbound request
 * (s.in_roster false, s.pending_in true) or a tombstone (removed). */
struct item {
    char *jid;                  /* key: the contact's JID, owned */
    struct rsub_state s;
    bool removed;               /* tombstone: removed at version 'ver' */
    long long ver;              /* roster version of the last visible change */
    char *name;                 /* NULL = none ("" is stored as none, §2.4.1) */
    char **groups;
    size_t ngroups;
    char *request;              /* the pending inbound subscribe, serialized */
};

struct roster;
struct op;
typedef void (*op_fn)(struct roster *r, struct op *op);

/* Work for one roster, queued until it is loaded and idle. */
struct op {
    op_fn fn;
    struct stanza *st;          /* referenced and held, or NULL */
    struct stanza *orig;        /* the client's stanza st was copied from:
                                   referenced and held until the op's
                                   writes are submitted (XEP-0198 acks) */
    char *arg;                  /* contact or session JID, per op */
    bool bounce;                /* load failure: bounce st to its sender */
    roster_sub_cb cb;           /* op_query */
    void *ud;
    struct op *next;
};

struct rmod;

struct roster {
    struct rmod *mod;
    char *user;                 /* bare JID, key of mod->rosters; this
                                   and 'local' live after the struct */
    char *local;                /* its localpart (for store.h) */
    bool ready;                 /* loaded */
    bool failed;                /* a load request failed */
    bool running;               /* an op is running */
    int loading;                /* load requests outstanding */
    struct hashmap items;       /* contact JID -> struct item */
    long long ver;              /* current roster version */
    long long horizon;          /* changes at or below it may be forgotten */
    char *last;                 /* last unavailable presence, serialized */
    long long last_stamp;       /* its time, seconds since the epoch */
    struct op *ops;
    struct op **ops_tail;
};

struct rmod {
    struct pl_module_ctx *m;
    struct server *srv;
    const struct roster_conf *conf;
    struct hashmap rosters;     /* bare JID -> struct roster */
    struct event *sweep;        /* frees rosters nobody needs (deferred) */
    struct hashmap farewells;   /* bare JID of an account being deleted ->
                                   struct farewell (HOOK_ACCOUNT_DELETING) */
    unsigned long long next_id;
    int refs;                   /* the module + outstanding loads */
    bool dead;                  /* unloaded: loads in flight find nothing */
};

/* What an account being deleted must tell its contacts (XEP-0077 §3.2:
 * every subscription is cancelled, as if each item were removed,
 * RFC 6121 §2.5.2), taken from its roster before storage forgets it. */
struct farewell {
    size_t n;
    char **jid;                 /* contacts, owned */
    unsigned char *what;        /* FW_* per contact */
};

#define FW_UNSUBSCRIBE   1      /* our subscription to them, or our request */
#define FW_UNSUBSCRIBED  2      /* theirs to us, or their request */
#define FW_UNAVAILABLE   4      /* they saw our presence (§3.2.2) */

/* Frees the contacts and, after them, the map key (jid[n], or NULL). */
static void farewell_free(struct farewell *f)
{
    for (size_t i = 0; i <= f->n; i++)
        free(f->jid[i]);
    free(f->jid);
    free(f->what);
    free(f);
}

/* --- small helpers --------------------------------------------------------- */

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static const char *type_of(const struct stanza *st)
{
    return xml_attr(st->root, "type");
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void item_free(struct item *it)
{
    free(it->jid);
    free(it->name);
    free_strv(it->groups, it->ngroups);
    free(it->request);
    free(it);
}

static struct item *item_get(struct roster *r, const char *jid)
{
    return hashmap_get(&r->items, jid);
}

static struct item *item_get_or_new(struct roster *r, const char *jid)
{
    struct item *it = item_get(r, jid);
    if (!it) {
        it = pl_calloc(1, sizeof(*it));
        it->jid = pl_strdup(jid);
        hashmap_put(&r->items, it->jid, it);
    }
    return it;
}

static char *next_id(struct rmod *mod, const char *what)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s-%llu", what, ++mod->next_id);
    return pl_strdup(buf);
}

static struct stanza *presence_new(const char *from, const char *to, const char *type,
                                   const char *id)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "presence");
    xml_set_attr(st->arena, st->root, "from", from);
    xml_set_attr(st->arena, st->root, "to", to);
    if (type)
        xml_set_attr(st->arena, st->root, "type", type);
    if (id)
        xml_set_attr(st->arena, st->root, "id", id);
    return st;
}

/* Sends a stanza generated on the user's behalf: through HOOK_STANZA_OUT
 * (blocking sees it), then the router.  Takes the caller's reference. */
static void send_out(struct rmod *mod, struct stanza *st)
{
    router_route_out(mod->srv, NULL, st);
    stanza_unref(st);
}

/* --- stored records ----------------------------------------------------------- */

static void put_escaped(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            buf_puts(b, "\\\\");
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *s);
    }
    buf_putc(b, '\n');
}

/* Reads one escaped line from *p (bounded by end); NULL when malformed. */
static char *get_escaped(const char **p, const char *end)
{
    struct buf b = BUF_INIT;
    const char *s = *p;
    while (s < end && *s != '\n') {
        if (*s == '\\') {
            if (s + 1 >= end || (s[1] != '\\' && s[1] != 'n')) {
                buf_release(&b);
                return NULL;
            }
            buf_putc(&b, s[1] == 'n' ? '\n' : '\\');
            s += 2;
        } else {
            buf_putc(&b, *s++);
        }
    }
    if (s >= end) {
        buf_release(&b);
        return NULL;
    }
    *p = s + 1;
    buf_putc(&b, '\0');
    return buf_detach(&b);
}

/* "1 <flags> <ver> <ngroups>\n<name>\n<group>\n...<request>\n" with flags
 * from "tfoiarx" (to, from, pending out, pending in, approved, in roster,
 * removed) or "-". */
static void item_encode(const struct item *it, struct buf *b)
{
    char flags[8];
    size_t n = 0;
    if (it->s.to) flags[n++] = 't';
    if (it->s.from) flags[n++] = 'f';
    if (it->s.pending_out) flags[n++] = 'o';
    if (it->s.pending_in) flags[n++] = 'i';
    if (it->s.approved) flags[n++] = 'a';
    if (it->s.in_roster) flags[n++] = 'r';
    if (it->removed) flags[n++] = 'x';
    if (!n) flags[n++] = '-';
    flags[n] = '\0';
    buf_printf(b, "1 %s %lld %zu\n", flags, it->ver, it->ngroups);
    put_escaped(b, it->name);
    for (size_t i = 0; i < it->ngroups; i++)
        put_escaped(b, it->groups[i]);
    put_escaped(b, it->request);
}

/* Parses a stored record (storage is input too: bounded, checked). */
static struct item *item_decode(const char *key, const char *v, size_t len)
{
    const char *end = v + len, *p = memchr(v, '\n', len);
    if (!p)
        return NULL;
    char head[96];
    size_t hl = (size_t)(p - v);
    if (hl >= sizeof(head))
        return NULL;
    memcpy(head, v, hl);
    head[hl] = '\0';
    char flags[16];
    long long ver;
    size_t ngroups;
    if (sscanf(head, "1 %15s %lld %zu", flags, &ver, &ngroups) != 3 || ngroups > 100000)
        return NULL;
    struct item *it = pl_calloc(1, sizeof(*it));
    it->jid = pl_strdup(key);
    it->ver = ver;
    it->s.to = strchr(flags, 't');
    it->s.from = strchr(flags, 'f');
    it->s.pending_out = strchr(flags, 'o');
    it->s.pending_in = strchr(flags, 'i');
    it->s.approved = strchr(flags, 'a');
    it->s.in_roster = strchr(flags, 'r');
    it->removed = strchr(flags, 'x');
    p++;
    char *name = get_escaped(&p, end);
    if (!name)
        goto fail;
    if (*name)
        it->name = name;
    else
        free(name);
    it->groups = pl_calloc(ngroups ? ngroups : 1, sizeof(char *));
    for (size_t i = 0; i < ngroups; i++) {
        it->groups[i] = get_escaped(&p, end);
        if (!it->groups[i])
            goto fail;
        it->ngroups++;
    }
    char *req = get_escaped(&p, end);
    if (!req)
        goto fail;
    if (*req)
        it->request = req;
    else
        free(req);
    return it;
fail:
    log_warn("roster: ignoring a malformed stored item '%s'", key);
    item_free(it);
    return NULL;
}

/* A stored stanza back into a tree: the parser wants a root element. */
struct parse_one {
    struct stanza *st;
};

static void p_open(void *ud, const struct xml_node *root)
{
    (void)ud, (void)root;
}

static void p_stanza(void *ud, struct stanza *st)
{
    struct parse_one *p = ud;
    if (p->st)
        stanza_unref(st);
    else
        p->st = st;
}

static void p_close(void *ud)
{
    (void)ud;
}

static void p_error(void *ud, enum xml_error err, const char *text)
{
    (void)ud, (void)err, (void)text;
}

static struct stanza *stanza_parse(const char *xml)
{
    static const struct xml_stream_cb cb = { p_open, p_stanza, p_close, p_error };
    struct xml_limits lim = { 65536, 64, 64 };
    struct parse_one p = { NULL };
    struct xml_stream *xs = xml_stream_new(&lim, &cb, &p);
    static const char head[] = "<stream:stream xmlns='" XML_NS_CLIENT
                               "' xmlns:stream='" XML_NS_STREAM "'>";
    int rc = xml_stream_feed(xs, head, sizeof(head) - 1);
    if (rc == 0)
        rc = xml_stream_feed(xs, xml, strlen(xml));
    xml_stream_free(xs);
    if (rc != 0 && p.st) {
        stanza_unref(p.st);
        return NULL;
    }
    return p.st;
}

static char *stanza_serialize(const struct stanza *st)
{
    struct buf b = BUF_INIT;
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    buf_putc(&b, '\0');
    return buf_detach(&b);
}

/* --- storage writes (durability: the stanza is held until committed) --------- */

static void write_done(const struct store_result *res, void *ud)
{
    struct stanza *st = ud;
    if (res->status != STORE_OK && res->status != STORE_NOT_FOUND)
        log_error("roster: storage write failed (%d)", res->status);
    if (st) {
        stanza_unhold(st);
        stanza_unref(st);
    }
}

static void kv_write(struct roster *r, const char *area, const char *key,
                     const char *value, size_t len, struct stanza *cause)
{
    if (cause) {
        stanza_ref(cause);
        stanza_hold(cause);
    }
    store_kv_set(r->mod->srv->store, r->local, r->mod->m->host, area, key, value, len,
                 write_done, cause);
}

static bool item_is_empty(const struct item *it)
{
    return !it->s.in_roster && !it->s.pending_in && !it->removed;
}

/* Stores the item (or deletes its record when nothing is left). */
static void item_save(struct roster *r, struct item *it, struct stanza *cause)
{
    if (item_is_empty(it)) {
        kv_write(r, AREA_ROSTER, it->jid, NULL, 0, cause);
        hashmap_del(&r->items, it->jid);
        item_free(it);
        return;
    }
    struct buf b = BUF_INIT;
    item_encode(it, &b);
    kv_write(r, AREA_ROSTER, it->jid, b.data, b.len, cause);
    buf_release(&b);
}

static void meta_save(struct roster *r, struct stanza *cause)
{
    char v[64];
    int n = snprintf(v, sizeof(v), "%lld %lld", r->ver, r->horizon);
    kv_write(r, AREA_META, "ver", v, (size_t)n, cause);
}

/* Forgets the oldest tombstones beyond MAX_TOMBSTONES (raising the
 * horizon: clients older than it get the full roster, §2.6.3). */
static void prune_tombstones(struct roster *r, struct stanza *cause)
{
    for (;;) {
        size_t n = 0;
        struct item *oldest = NULL;
        const char *k;
        void *v;
        for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);) {
            struct item *it = v;
            if (it->removed && !it->s.in_roster) {
                n++;
                if (!oldest || it->ver < oldest->ver)
                    oldest = it;
            }
        }
        if (n <= MAX_TOMBSTONES || !oldest)
            return;
        if (oldest->ver > r->horizon)
            r->horizon = oldest->ver;
        oldest->removed = false;
        item_save(r, oldest, cause);
    }
}

/* A visible change: the item gets the next version (§2.6.3: unique and
 * increasing), stored with the roster's counter. */
static void bump(struct roster *r, struct item *it, struct stanza *cause)
{
    it->ver = ++r->ver;
    meta_save(r, cause);
}

/* --- roster pushes (§2.1.6) ------------------------------------------------------- */

static void item_xml(struct arena *a, struct xml_node *query, const struct item *it)
{
    struct xml_node *x = xml_add_child(a, query, NS_ROSTER, "item");
    xml_set_attr(a, x, "jid", it->jid);
    if (!it->s.in_roster) {
        xml_set_attr(a, x, "subscription", "remove");
        return;
    }
    if (it->name)
        xml_set_attr(a, x, "name", it->name);
    xml_set_attr(a, x, "subscription", rsub_subscription_str(&it->s));
    if (it->s.pending_out)
        xml_set_attr(a, x, "ask", "subscribe");     /* §2.1.2.2 */
    if (it->s.approved)
        xml_set_attr(a, x, "approved", "true");     /* §2.1.2.1 */
    for (size_t i = 0; i < it->ngroups; i++)
        xml_add_text_child(a, x, NS_ROSTER, "group", it->groups[i]);
}

static struct stanza *push_new(struct roster *r, const struct item *it, const char *to)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
    struct arena *a = st->arena;
    char *id = next_id(r->mod, "push");
    xml_set_attr(a, st->root, "from", r->user);
    xml_set_attr(a, st->root, "to", to);
    xml_set_attr(a, st->root, "id", id);
    xml_set_attr(a, st->root, "type", "set");
    free(id);
    struct xml_node *q = xml_add_child(a, st->root, NS_ROSTER, "query");
    char ver[32];
    snprintf(ver, sizeof(ver), "%lld", it->ver);
    xml_set_attr(a, q, "ver", ver);
    item_xml(a, q, it);
    return st;
}

/* To every interested resource (§2.2: those that requested the roster). */
static void push(struct roster *r, const struct item *it)
{
    struct account *acc = sm_account(r->mod->srv, r->user);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next) {
        if (!s->roster_interested)
            continue;
        struct stanza *st = push_new(r, it, s->jid->full);
        sm_deliver(r->mod->srv, s, st);
        stanza_unref(st);
    }
}

/* --- presence on the user's behalf ------------------------------------------------ */

/* §3.1.5: the user's current presence, from each available resource. */
static void send_current_presence(struct roster *r, const char *contact)
{
    struct account *acc = sm_account(r->mod->srv, r->user);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next) {
        if (!s->presence)
            continue;
        struct stanza *c = stanza_copy(s->presence);
        xml_set_attr(c->arena, c->root, "from", s->jid->full);  /* router.h */
        xml_set_attr(c->arena, c->root, "to", contact);
        send_out(r->mod, c);
    }
}

/* §3.2.2, §3.3.3: unavailable from each available resource. */
static void send_unavailable(struct roster *r, const char *contact)
{
    struct account *acc = sm_account(r->mod->srv, r->user);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next)
        if (s->presence)
            send_out(r->mod, presence_new(s->jid->full, contact, "unavailable", NULL));
}

/* Delivers st to the user's available resources, and with 'interested'
 * also to the resources that requested the roster (§3.1.6, §3.2.3,
 * §3.3.3 name the interested resources for those notifications). */
static void deliver_user(struct roster *r, struct stanza *st, bool interested)
{
    struct account *acc = sm_account(r->mod->srv, r->user);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next)
        if (s->presence || (interested && s->roster_interested))
            sm_deliver(r->mod->srv, s, st);
}

/* --- loading and the op queue ------------------------------------------------------ */

static void rmod_unref(struct rmod *mod)
{
    if (--mod->refs == 0)
        free(mod);
}

static void op_free(struct op *op)
{
    if (op->st) {
        stanza_unhold(op->st);
        stanza_unref(op->st);
    }
    if (op->orig) {
        stanza_unhold(op->orig);
        stanza_unref(op->orig);
    }
    free(op->arg);
    free(op);
}

/* The roster could not be loaded: every waiting op learns it. */
static void op_fail(struct rmod *mod, struct op *op)
{
    if (op->cb)
        op->cb(mod->srv, -1, op->ud);
    else if (op->st && op->bounce && !mod->srv->stopping)
        router_bounce(mod->srv, op->st, "wait", "internal-server-error",
                      "the roster could not be loaded");
    op_free(op);
}

static void roster_free(struct roster *r)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);)
        item_free(v);
    hashmap_release(&r->items);
    while (r->ops) {
        struct op *op = r->ops;
        r->ops = op->next;
        op_fail(r->mod, op);
    }
    free(r->last);
    free(r);
}

static void schedule_sweep(struct rmod *mod)
{
    event_active(mod->sweep, EV_TIMEOUT, 0);
}

static void run_ops(struct roster *r)
{
    if (r->running || !r->ready)
        return;
    r->running = true;
    while (r->ops) {
        struct op *op = r->ops;
        r->ops = op->next;
        if (!r->ops)
            r->ops_tail = &r->ops;
        op->fn(r, op);
        op_free(op);
    }
    r->running = false;
    schedule_sweep(r->mod);
}

static void enqueue(struct roster *r, struct op *op)
{
    op->next = NULL;
    *r->ops_tail = op;
    r->ops_tail = &op->next;
    run_ops(r);
}

struct load {
    struct rmod *mod;
    char *user;
    bool meta;
};

static void load_finish(struct roster *r)
{
    struct rmod *mod = r->mod;
    if (r->failed) {
        log_error("roster: cannot load the roster of %s", r->user);
        hashmap_del(&mod->rosters, r->user);
        roster_free(r);     /* fails the waiting ops */
        return;
    }
    r->ready = true;
    run_ops(r);
}

static void load_done(const struct store_result *res, void *ud)
{
    struct load *l = ud;
    struct rmod *mod = l->mod;
    struct roster *r = mod->dead ? NULL : hashmap_get(&mod->rosters, l->user);
    if (r) {
        if (res->status != STORE_OK) {
            r->failed = true;
        } else if (l->meta) {
            for (size_t i = 0; i < res->nitems; i++) {
                const struct store_item *si = &res->items[i];
                if (streq(si->key, "ver")) {
                    if (sscanf(si->value, "%lld %lld", &r->ver, &r->horizon) != 2)
                        r->ver = r->horizon = 0;
                } else if (streq(si->key, "last")) {
                    char *nl = strchr(si->value, '\n');
                    if (nl) {
                        r->last_stamp = strtoll(si->value, NULL, 10);
                        free(r->last);
                        r->last = pl_strdup(nl + 1);
                    }
                }
            }
        } else {
            for (size_t i = 0; i < res->nitems; i++) {
                const struct store_item *si = &res->items[i];
                struct item *it = item_decode(si->key, si->value, si->value_len);
                if (it)
                    hashmap_put(&r->items, it->jid, it);    /* keys are unique */
            }
        }
        if (--r->loading == 0)
            load_finish(r);
    }
    free(l->user);
    free(l);
    rmod_unref(mod);
}

/* The user's roster, loading it if needed (ops queue meanwhile). */
static struct roster *roster_get(struct rmod *mod, const char *user)
{
    struct roster *r = hashmap_get(&mod->rosters, user);
    if (r)
        return r;
    struct jid *j = jid_parse(user);
    if (!j || !j->local) {
        jid_free(j);
        return NULL;
    }
    /* One allocation with both strings: a roster stays for as long as
     * the account has a session (principle 4). */
    size_t ulen = strlen(j->bare) + 1, llen = strlen(j->local) + 1;
    r = pl_calloc(1, sizeof(*r) + ulen + llen);
    r->mod = mod;
    r->user = memcpy((char *)(r + 1), j->bare, ulen);
    r->local = memcpy(r->user + ulen, j->local, llen);
    jid_free(j);
    hashmap_init(&r->items);
    r->ops_tail = &r->ops;
    r->loading = 2;
    hashmap_put(&mod->rosters, r->user, r);
    /* A store may answer at once (and a failure frees r): keep copies. */
    char *local = pl_strdup(r->local), *bare = pl_strdup(r->user);
    for (int meta = 0; meta < 2; meta++) {
        struct load *l = pl_calloc(1, sizeof(*l));
        l->mod = mod;
        l->user = pl_strdup(bare);
        l->meta = meta;
        mod->refs++;
        store_kv_list(mod->srv->store, local, mod->m->host,
                      meta ? AREA_META : AREA_ROSTER, load_done, l);
    }
    free(local);
    free(bare);
    return hashmap_get(&mod->rosters, user);
}

static struct op *op_new(op_fn fn, struct stanza *st, const char *arg, bool bounce)
{
    struct op *op = pl_calloc(1, sizeof(*op));
    op->fn = fn;
    if (st) {
        op->st = stanza_ref(st);
        stanza_hold(st);
    }
    op->arg = arg ? pl_strdup(arg) : NULL;
    op->bounce = bounce;
    return op;
}

/* The stanza whose acknowledgement waits for the op's writes. */
static struct stanza *cause_of(const struct op *op)
{
    return op->orig ? op->orig : op->st;
}

/* Drops a record made only to look at it; stores a changed one. */
static void item_settle(struct roster *r, struct item *it, bool changed, bool fresh,
                        struct stanza *cause)
{
    if (fresh && item_is_empty(it)) {
        hashmap_del(&r->items, it->jid);
        item_free(it);
        return;
    }
    if (changed || item_is_empty(it))
        item_save(r, it, cause);
}

/* Queues op on user's roster; fails it when the roster cannot exist. */
static void submit(struct rmod *mod, const char *user, struct op *op)
{
    struct roster *r = roster_get(mod, user);
    if (!r) {
        op_fail(mod, op);
        return;
    }
    enqueue(r, op);
}

static void sweep(evutil_socket_t fd, short what, void *ud)
{
    (void)fd, (void)what;
    struct rmod *mod = ud;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&mod->rosters, &i, &k, &v);) {
        struct roster *r = v;
        if (!r->ready || r->running || r->ops)
            continue;
        struct account *acc = sm_account(mod->srv, r->user);
        if (acc && acc->sessions)
            continue;
        hashmap_del(&mod->rosters, k);
        roster_free(r);
    }
}

/* --- roster get / set (§2.1.3-§2.5) ------------------------------------------------- */

static bool parse_ver(const char *s, long long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < 0)
        return false;
    *out = v;
    return true;
}

static int cmp_ver(const void *a, const void *b)
{
    const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;
    return x->ver < y->ver ? -1 : x->ver > y->ver;
}

static void op_get(struct roster *r, struct op *op)
{
    struct server *srv = r->mod->srv;
    struct stanza *req = op->st;
    const char *from = xml_attr(req->root, "from");
    struct jid *fj = jid_parse(from);
    struct session *s = fj ? sm_find(srv, fj) : NULL;
    jid_free(fj);
    /* §2.2: the resource is interested from now on (struct session
     * holds the flag: it goes with the session). */
    if (s)
        s->roster_interested = true;
    struct xml_node *q = xml_child(req->root, NS_ROSTER, "query");
    const char *cver = q ? xml_attr(q, "ver") : NULL;
    long long v;
    struct stanza *res;
    if (cver && parse_ver(cver, &v) && v >= r->horizon && v <= r->ver) {
        /* §2.6.3: an empty result, then one push per item changed since
         * the client's version, in the order of the changes. */
        iq_reply_result(req, NULL, NULL, &res);
        router_route(srv, res);
        stanza_unref(res);
        size_t n = 0, cap = 16;
        struct item **changed = pl_malloc(cap * sizeof(*changed));
        const char *k;
        void *val;
        for (size_t i = 0; hashmap_next(&r->items, &i, &k, &val);) {
            struct item *it = val;
            if (it->ver > v && (it->s.in_roster || it->removed)) {
                if (n == cap)
                    changed = pl_realloc(changed, (cap *= 2) * sizeof(*changed));
                changed[n++] = it;
            }
        }
        qsort(changed, n, sizeof(*changed), cmp_ver);
        for (size_t i = 0; s && i < n; i++) {
            struct stanza *p = push_new(r, changed[i], s->jid->full);
            sm_deliver(srv, s, p);
            stanza_unref(p);
        }
        free(changed);
        return;
    }
    /* §2.1.4: the whole roster, with the current version (§2.6.3 SHOULD
     * include 'ver' even for clients that did not ask). */
    struct xml_node *rq = iq_reply_result(req, NS_ROSTER, "query", &res);
    char ver[32];
    snprintf(ver, sizeof(ver), "%lld", r->ver);
    xml_set_attr(res->arena, rq, "ver", ver);
    const char *k;
    void *val;
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &val);) {
        struct item *it = val;
        if (it->s.in_roster)
            item_xml(res->arena, rq, it);
    }
    router_route(srv, res);
    stanza_unref(res);
}

static size_t count_items(struct roster *r)
{
    size_t n = 0;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);)
        n += ((struct item *)v)->s.in_roster;
    return n;
}

static void contact_removed(struct roster *r, struct item *it, struct stanza *cause)
{
    /* §2.5.2 (and roster_sub.h on pending requests). */
    bool unsub, unsubd;
    bool had_from = it->s.from;
    rsub_remove(&it->s, &unsub, &unsubd);
    free(it->request);
    it->request = NULL;
    it->removed = true;
    bump(r, it, cause);
    push(r, it);
    char *jid = pl_strdup(it->jid);
    item_save(r, it, cause);
    prune_tombstones(r, cause);
    if (unsub) {
        char *id = next_id(r->mod, "unsub");
        send_out(r->mod, presence_new(r->user, jid, "unsubscribe", id));
        free(id);
    }
    if (unsubd) {
        if (had_from)
            send_unavailable(r, jid);   /* §3.2.2 */
        char *id = next_id(r->mod, "unsubd");
        send_out(r->mod, presence_new(r->user, jid, "unsubscribed", id));
        free(id);
    }
    free(jid);
}

/* The item of a roster set, checked before it is queued (§2.3.3). */
static void op_set(struct roster *r, struct op *op)
{
    struct server *srv = r->mod->srv;
    struct stanza *req = op->st;
    struct xml_node *x = xml_child(xml_child(req->root, NS_ROSTER, "query"), NS_ROSTER, "item");
    const char *jid = op->arg;
    struct item *it = item_get(r, jid);
    struct stanza *res;
    if (streq(xml_attr(x, "subscription"), "remove")) {
        if (!it || !it->s.in_roster) {
            router_bounce(srv, req, "modify", "item-not-found",   /* §2.5.3 */
                          "no such item in the roster");
            return;
        }
        iq_reply_result(req, NULL, NULL, &res);
        router_route(srv, res);
        stanza_unref(res);
        contact_removed(r, it, req);
        return;
    }
    if ((!it || !it->s.in_roster) && count_items(r) >= r->mod->conf->max_items) {
        char text[96];
        snprintf(text, sizeof(text), "the roster is limited to %u items",
                 r->mod->conf->max_items);
        router_bounce(srv, req, "cancel", "not-allowed", text);
        return;
    }
    it = item_get_or_new(r, jid);
    /* §2.4.1: the item is replaced exactly as given. */
    free(it->name);
    const char *name = xml_attr(x, "name");
    it->name = name && *name ? pl_strdup(name) : NULL;
    free_strv(it->groups, it->ngroups);
    it->groups = NULL;
    it->ngroups = 0;
    size_t ng = 0;
    for (struct xml_node *g = xml_child(x, NS_ROSTER, "group"); g;
         g = xml_next(g, NS_ROSTER, "group"))
        ng++;
    it->groups = pl_calloc(ng ? ng : 1, sizeof(char *));
    struct arena *a = arena_new(256);
    for (struct xml_node *g = xml_child(x, NS_ROSTER, "group"); g;
         g = xml_next(g, NS_ROSTER, "group"))
        it->groups[it->ngroups++] = pl_strdup(xml_text(a, g));
    arena_free(a);
    it->s.in_roster = true;
    it->removed = false;
    bump(r, it, req);
    item_save(r, it, req);
    /* §2.3.2: the result to the sender, the push to every interested
     * resource (the sender included). */
    iq_reply_result(req, NULL, NULL, &res);
    router_route(srv, res);
    stanza_unref(res);
    push(r, it);
}

/* Checks a roster set (§2.1.5, §2.3.3); returns the item's prepared JID
 * (caller frees) or NULL after bouncing the request. */
static char *check_set(struct rmod *mod, struct stanza *req, struct xml_node *q,
                       const char *user)
{
    struct server *srv = mod->srv;
    const struct roster_conf *c = mod->conf;
    struct xml_node *x = xml_child(q, NS_ROSTER, "item");
    if (!x || xml_next(x, NS_ROSTER, "item") || xml_child_count(q) != 1) {
        router_bounce(srv, req, "modify", "bad-request",
                      "a roster set holds exactly one <item/>");
        return NULL;
    }
    const char *js = xml_attr(x, "jid");
    if (!js) {
        router_bounce(srv, req, "modify", "bad-request", "the item has no 'jid'");
        return NULL;
    }
    struct jid *j = jid_parse(js);
    if (!j) {
        router_bounce(srv, req, "modify", "jid-malformed", "the item's 'jid' is not a valid JID");
        return NULL;
    }
    char *jid = pl_strdup(j->full);
    jid_free(j);
    if (strcmp(jid, user) == 0) {
        /* §2.3.3 interoperability note: the user's own account is
         * implicitly subscribed to itself (§4.2.2). */
        router_bounce(srv, req, "modify", "not-allowed",
                      "your own account cannot be a roster item");
        goto fail;
    }
    if (streq(xml_attr(x, "subscription"), "remove"))
        return jid;
    const char *name = xml_attr(x, "name");
    if (name && strlen(name) > c->max_name_length) {
        char text[96];
        snprintf(text, sizeof(text), "the name is longer than %u bytes", c->max_name_length);
        router_bounce(srv, req, "modify", "not-acceptable", text);
        goto fail;
    }
    size_t ng = 0;
    struct arena *a = arena_new(1024);
    const char *prepped[256];
    for (struct xml_node *g = xml_child(x, NS_ROSTER, "group"); g;
         g = xml_next(g, NS_ROSTER, "group"), ng++) {
        const char *text = xml_text(a, g);
        const char *why = NULL, *cond = "not-acceptable";
        char msg[96];
        if (ng >= c->max_groups || ng >= sizeof(prepped) / sizeof(prepped[0])) {
            snprintf(msg, sizeof(msg), "an item has at most %u groups",
                     c->max_groups < 256 ? c->max_groups : 256);
            why = msg;
        } else if (!*text) {
            why = "a group name is empty";      /* §2.3.3 not-acceptable 2 */
        } else if (strlen(text) > c->max_group_length) {
            snprintf(msg, sizeof(msg), "a group name is longer than %u bytes",
                     c->max_group_length);
            why = msg;
        } else {
            /* §2.3.3 bad-request 2: duplicates, compared like resourceparts. */
            char out[JID_PART_MAX + 1];
            prepped[ng] = jid_prep_resource(text, out) == 0 ? arena_strdup(a, out) : text;
            for (size_t i = 0; i < ng && !why; i++) {
                if (strcmp(prepped[i], prepped[ng]) == 0) {
                    why = "the item lists a group twice";
                    cond = "bad-request";
                }
            }
        }
        if (why) {
            router_bounce(srv, req, "modify", cond, why);
            arena_free(a);
            goto fail;
        }
    }
    arena_free(a);
    return jid;
fail:
    free(jid);
    return NULL;
}

static void iq_roster(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct rmod *mod = m->data;
    const char *type = type_of(req);
    const char *from = xml_attr(req->root, "from");
    const char *to = xml_attr(req->root, "to");
    struct jid *fj = from ? jid_parse(from) : NULL;
    struct jid *tj = to ? jid_parse(to) : NULL;
    if (!fj || !fj->local || (tj && !jid_bare_equal(fj, tj))) {
        /* §2.1.5 security warning / §2.3.3: only the account itself. */
        router_bounce(srv, req, "auth", "forbidden", "only the account may use its roster");
        goto out;
    }
    if (strcmp(q->name, "query") != 0) {
        router_bounce(srv, req, "modify", "bad-request", "expected <query/>");
        goto out;
    }
    if (streq(type, "get")) {
        if (xml_child(q, NULL, NULL)) {
            /* §2.1.3: a roster get has no items. */
            router_bounce(srv, req, "modify", "bad-request", "a roster get has no children");
            goto out;
        }
        submit(mod, fj->bare, op_new(op_get, req, NULL, true));
        goto out;
    }
    char *jid = check_set(mod, req, q, fj->bare);
    if (jid) {
        submit(mod, fj->bare, op_new(op_set, req, jid, true));
        free(jid);
    }
out:
    jid_free(fj);
    jid_free(tj);
}

/* --- subscriptions (§3, Appendix A) ------------------------------------------------ */

static void send_reply(struct roster *r, const char *contact, enum rsub_reply reply)
{
    if (reply == RSUB_REPLY_NONE)
        return;
    char *id = next_id(r->mod, "auto");
    send_out(r->mod, presence_new(r->user, contact,
                                  reply == RSUB_REPLY_SUBSCRIBED ? "subscribed" : "unsubscribed",
                                  id));
    free(id);
}

static size_t count_requests(struct roster *r)
{
    size_t n = 0;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);)
        n += ((struct item *)v)->request != NULL;
    return n;
}

/* An outbound subscription stanza from one of the user's resources;
 * op->st has the contact's bare JID as 'to' already. */
static void op_out(struct roster *r, struct op *op)
{
    struct stanza *st = op->st;
    enum rsub_type t;
    if (!rsub_type_parse(type_of(st), &t))
        return;
    const char *contact = op->arg;
    struct stanza *cause = cause_of(op);
    bool fresh = !item_get(r, contact);
    struct item *it = item_get_or_new(r, contact);
    struct rsub_result res;
    rsub_apply(&it->s, RSUB_OUT, t, &res);
    if (res.drop_request) {
        free(it->request);
        it->request = NULL;
    }
    if (res.changed && it->s.in_roster)
        it->removed = false;
    if (res.send_unavailable)
        send_unavailable(r, contact);
    if (res.pass)
        router_route(r->mod->srv, st);
    if (res.send_presence)
        send_current_presence(r, contact);
    if (res.push) {
        bump(r, it, cause);
        push(r, it);
    }
    item_settle(r, it, res.changed, fresh, cause);
}

/* An inbound subscription stanza for the user (§3.1.3, §3.1.6, §3.2.3,
 * §3.3.3). */
static void op_in(struct roster *r, struct op *op)
{
    struct stanza *st = op->st;
    enum rsub_type t;
    if (!rsub_type_parse(type_of(st), &t))
        return;
    const char *contact = op->arg;
    struct item *it = item_get(r, contact);
    bool fresh = !it;
    if (t == RSUB_SUBSCRIBE && fresh && count_requests(r) >= r->mod->conf->max_pending) {
        /* §3.1.3 security warning: bounded per user. */
        router_bounce(r->mod->srv, st, "wait", "resource-constraint",
                      "too many pending subscription requests for this user");
        return;
    }
    it = item_get_or_new(r, contact);
    struct rsub_result res;
    rsub_apply(&it->s, RSUB_IN, t, &res);
    if (res.store_request) {
        free(it->request);
        char *xml = stanza_serialize(st);
        if (strlen(xml) > MAX_REQUEST_BYTES) {
            free(xml);
            struct stanza *bare = presence_new(contact, r->user, "subscribe",
                                               xml_attr(st->root, "id"));
            xml = stanza_serialize(bare);
            stanza_unref(bare);
        }
        it->request = xml;
    }
    if (res.drop_request) {
        free(it->request);
        it->request = NULL;
    }
    /* §3.1.6, §3.2.3, §3.3.3: the notification before the push. */
    if (res.pass)
        deliver_user(r, st, t != RSUB_SUBSCRIBE);
    if (res.push) {
        bump(r, it, st);
        push(r, it);
    }
    if (res.send_unavailable)
        send_unavailable(r, contact);
    char *c = pl_strdup(contact);
    enum rsub_reply reply = res.reply;
    bool send_presence = res.send_presence;
    item_settle(r, it, res.changed, fresh, st);     /* may free it */
    send_reply(r, c, reply);
    if (send_presence)
        send_current_presence(r, c);
    free(c);
}

/* §4.3.2: a probe of the user by 'arg' (the prober's bare JID). */
static void op_probe(struct roster *r, struct op *op)
{
    struct server *srv = r->mod->srv;
    struct stanza *st = op->st;
    const char *prober = xml_attr(st->root, "from");
    const char *id = xml_attr(st->root, "id");
    struct item *it = item_get(r, op->arg);
    bool allowed = strcmp(op->arg, r->user) == 0 || (it && it->s.from);
    if (!allowed) {
        /* §4.3.2 rule 1: "unsubscribed" (mirroring the id, §4.3.2.1) -
         * except to a contact whose request is pending here: that would
         * deny a request the user has not answered yet. */
        if (!(it && it->s.pending_in))
            send_out(r->mod, presence_new(r->user, prober, "unsubscribed", id));
        return;
    }
    const char *to = xml_attr(st->root, "to");
    struct jid *tj = to ? jid_parse(to) : NULL;
    struct account *acc = sm_account(srv, r->user);
    bool any = false;
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next) {
        if (!s->presence)
            continue;
        if (tj && tj->resource) {
            /* A full-JID probe: only that resource, and only the fact
             * that it is available. */
            if (strcmp(tj->resource, s->jid->resource) != 0)
                continue;
            send_out(r->mod, presence_new(s->jid->full, prober, NULL, id));
        } else {
            /* Rule 4: the full XML of the last broadcast, its own id. */
            struct stanza *c = stanza_copy(s->presence);
            xml_set_attr(c->arena, c->root, "from", s->jid->full);  /* router.h */
            xml_set_attr(c->arena, c->root, "to", prober);
            send_out(r->mod, c);
        }
        any = true;
    }
    jid_free(tj);
    if (any)
        return;
    /* Rule 3: unavailable from the bare JID, with the last unavailable
     * presence's content and its time (XEP-0203). */
    struct stanza *last = r->last ? stanza_parse(r->last) : NULL;
    struct stanza *u = last ? last : presence_new(r->user, prober, "unavailable", id);
    struct arena *a = u->arena;
    xml_set_attr(a, u->root, "from", r->user);
    xml_set_attr(a, u->root, "to", prober);
    xml_set_attr(a, u->root, "id", id);
    xml_set_attr(a, u->root, "type", "unavailable");
    if (r->last_stamp > 0) {
        time_t t = (time_t)r->last_stamp;
        struct tm tm;
        char stamp[32];
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        struct xml_node *d = xml_add_child(a, u->root, NS_DELAY, "delay");
        xml_set_attr(a, d, "from", r->mod->m->host);
        xml_set_attr(a, d, "stamp", stamp);
    }
    send_out(r->mod, u);
}

/* HOOK_USER_AVAILABLE: probes (§4.2.2 last paragraph, §4.3.1) and the
 * stored requests for the new resource (§3.1.3 rule 4). */
static void op_available(struct roster *r, struct op *op)
{
    struct server *srv = r->mod->srv;
    struct jid *j = jid_parse(op->arg);
    struct session *s = j ? sm_find(srv, j) : NULL;
    jid_free(j);
    if (!s || !s->presence)
        return;
    const char *k;
    void *v;
    /* Collected first: routing may change the map (local contacts). */
    size_t n = 0;
    char **probes = pl_calloc(r->items.count + 1, sizeof(char *));
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);) {
        struct item *it = v;
        if (it->s.in_roster && it->s.to)
            probes[n++] = pl_strdup(it->jid);
        if (it->s.pending_in && it->request) {
            struct stanza *req = stanza_parse(it->request);
            if (req) {
                sm_deliver(srv, s, req);
                stanza_unref(req);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        char *id = next_id(r->mod, "probe");
        send_out(r->mod, presence_new(r->user, probes[i], "probe", id));
        free(id);
    }
    free_strv(probes, n);
}

/* HOOK_PRESENCE_OUT: a broadcast to every subscriber (§4.2.2, §4.4.2,
 * §4.5.2); the last unavailable one is kept for probes (§4.3.2 rule 3). */
static void op_broadcast(struct roster *r, struct op *op)
{
    struct server *srv = r->mod->srv;
    struct stanza *st = op->st;
    const char *k;
    void *v;
    size_t n = 0;
    char **to = pl_calloc(r->items.count + 1, sizeof(char *));
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);) {
        struct item *it = v;
        if (it->s.in_roster && it->s.from)
            to[n++] = pl_strdup(it->jid);
    }
    for (size_t i = 0; i < n; i++) {
        struct stanza *c = stanza_copy(st);
        xml_set_attr(c->arena, c->root, "to", to[i]);
        send_out(r->mod, c);
    }
    free_strv(to, n);
    if (!streq(type_of(st), "unavailable"))
        return;
    struct account *acc = sm_account(srv, r->user);
    for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next)
        if (s->presence)
            return;     /* another resource is still available */
    struct stanza *c = stanza_copy(st);
    xml_set_attr(c->arena, c->root, "to", NULL);
    free(r->last);
    r->last = stanza_serialize(c);
    stanza_unref(c);
    r->last_stamp = (long long)time(NULL);
    /* Only a contact with a "from" subscription is ever served the stored
     * copy (§4.3.2 rules 1 and 3; the user's own probes aside, which the
     * copy in memory answers while the roster is loaded).  Without one
     * nobody can ask for it, and gaining one takes a "subscribed" sent by
     * an online resource of the user (§3.1.5, §3.4), whose own
     * unavailable presence then stores it.  So a user without
     * subscribers writes nothing at logout (issue 7: this write and its
     * fsync were the only storage write of a plain login). */
    if (n == 0)
        return;
    struct buf b = BUF_INIT;
    buf_printf(&b, "%lld\n%s", r->last_stamp, r->last);
    kv_write(r, AREA_META, "last", b.data, b.len, st);
    buf_release(&b);
}

/* --- hooks ----------------------------------------------------------------------------- */

static struct rmod *mod_of(void *ud)
{
    return ((struct pl_module_ctx *)ud)->data;
}

static char *bare_of(const char *s)
{
    struct jid *j = s ? jid_parse(s) : NULL;
    char *b = j ? pl_strdup(j->bare) : NULL;
    jid_free(j);
    return b;
}

static enum hook_result on_stanza_out(struct hook_event *ev, void *ud)
{
    struct rmod *mod = mod_of(ud);
    struct stanza *st = ev->stanza;
    enum rsub_type t;
    if (!ev->session || strcmp(st->root->name, "presence") != 0 ||
        !rsub_type_parse(type_of(st), &t))
        return HOOK_CONTINUE;
    const char *user = ev->session->jid->bare;
    char *contact = bare_of(xml_attr(st->root, "to"));
    if (!contact)
        return HOOK_CONTINUE;       /* no 'to': the router's business */
    if (strcmp(contact, user) == 0) {
        router_bounce(mod->srv, st, "cancel", "not-allowed",
                      "an account is always subscribed to itself");
        free(contact);
        return HOOK_HANDLED;
    }
    /* §3.1.2 rule 1: addressed to the bare JID (a copy: stanzas are
     * immutable once handed to us). */
    struct stanza *c = stanza_copy(st);
    xml_set_attr(c->arena, c->root, "to", contact);
    xml_set_attr(c->arena, c->root, "from", user);
    struct op *op = op_new(op_out, c, contact, true);
    stanza_unref(c);
    op->orig = stanza_ref(st);
    stanza_hold(st);
    submit(mod, user, op);
    free(contact);
    return HOOK_HANDLED;
}

static enum hook_result on_stanza_in(struct hook_event *ev, void *ud)
{
    struct rmod *mod = mod_of(ud);
    struct stanza *st = ev->stanza;
    if (!ev->user || strcmp(st->root->name, "presence") != 0)
        return HOOK_CONTINUE;
    const char *type = type_of(st);
    enum rsub_type t;
    bool probe = streq(type, "probe");
    if (!probe && !rsub_type_parse(type, &t))
        return HOOK_CONTINUE;
    char *contact = bare_of(xml_attr(st->root, "from"));
    if (!contact)
        return HOOK_CONTINUE;
    submit(mod, ev->user, op_new(probe ? op_probe : op_in, st, contact, !probe));
    free(contact);
    return HOOK_HANDLED;
}

static enum hook_result on_session_bound(struct hook_event *ev, void *ud)
{
    /* Loaded now, so it is ready before the client asks (§2.2). */
    roster_get(mod_of(ud), ev->session->jid->bare);
    return HOOK_CONTINUE;
}

static enum hook_result on_session_closed(struct hook_event *ev, void *ud)
{
    struct rmod *mod = mod_of(ud);
    /* The unavailable broadcast still follows (sm_unbind); the sweep
     * runs after this turn of the loop. */
    schedule_sweep(mod);
    return HOOK_CONTINUE;
}

static enum hook_result on_user_available(struct hook_event *ev, void *ud)
{
    submit(mod_of(ud), ev->session->jid->bare,
           op_new(op_available, NULL, ev->session->jid->full, false));
    return HOOK_CONTINUE;
}

static enum hook_result on_presence_out(struct hook_event *ev, void *ud)
{
    if (ev->stanza && ev->session)
        submit(mod_of(ud), ev->session->jid->bare,
               op_new(op_broadcast, ev->stanza, NULL, false));
    return HOOK_CONTINUE;
}

/* --- account deletion (XEP-0077 §3.2) ---------------------------------------------------- */

/* HOOK_ACCOUNT_DELETING: what the contacts must be told, read while the
 * roster still exists (the loads were queued ahead of the deletion). */
static void op_farewell(struct roster *r, struct op *op)
{
    (void)op;
    struct farewell *f = pl_calloc(1, sizeof(*f));
    f->jid = pl_calloc(r->items.count + 1, sizeof(char *));
    f->what = pl_calloc(r->items.count + 1, 1);
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);) {
        const struct item *it = v;
        struct rsub_state st = it->s;
        bool unsub = false, unsubd = false;
        rsub_remove(&st, &unsub, &unsubd);
        unsigned char w = (unsigned char)((unsub ? FW_UNSUBSCRIBE : 0) |
                                          (unsubd ? FW_UNSUBSCRIBED : 0) |
                                          (unsubd && it->s.from ? FW_UNAVAILABLE : 0));
        if (!w)
            continue;
        f->jid[f->n] = pl_strdup(it->jid);
        f->what[f->n++] = w;
    }
    struct farewell *old = hashmap_get(&r->mod->farewells, r->user);
    if (old) {
        /* An earlier deletion of the same account that failed. */
        hashmap_del(&r->mod->farewells, r->user);
        farewell_free(old);
    }
    if (!f->n) {
        farewell_free(f);
        return;
    }
    /* The key lives after the last contact. */
    f->jid[f->n] = pl_strdup(r->user);
    hashmap_put(&r->mod->farewells, f->jid[f->n], f);
}

static enum hook_result on_account_deleting(struct hook_event *ev, void *ud)
{
    submit(mod_of(ud), ev->user, op_new(op_farewell, NULL, NULL, false));
    return HOOK_CONTINUE;
}

/* HOOK_ACCOUNT_DELETED: the subscriptions end, each contact's server
 * (here or, later, remote) updates its roster and pushes it (RFC 6121
 * §3.2.3, §3.3.3); the roster in memory, read before the deletion, goes. */
static enum hook_result on_account_deleted(struct hook_event *ev, void *ud)
{
    struct rmod *mod = mod_of(ud);
    struct roster *r = hashmap_get(&mod->rosters, ev->user);
    if (r && r->ready && !r->running) {
        /* Read before the deletion: it goes.  (Ready and idle, it has no
         * ops queued: run_ops() drains them at once.)  A roster not ready
         * yet was asked for after the deletion was queued: it reads what
         * is left, nothing, and may stay. */
        hashmap_del(&mod->rosters, ev->user);
        roster_free(r);
    }
    struct farewell *f = hashmap_get(&mod->farewells, ev->user);
    if (!f)
        return HOOK_CONTINUE;
    hashmap_del(&mod->farewells, ev->user);
    struct account *acc = sm_account(mod->srv, ev->user);
    for (size_t i = 0; i < f->n; i++) {
        const char *contact = f->jid[i];
        if (f->what[i] & FW_UNSUBSCRIBE) {
            char *id = next_id(mod, "gone");
            send_out(mod, presence_new(ev->user, contact, "unsubscribe", id));
            free(id);
        }
        if (f->what[i] & FW_UNAVAILABLE) {
            /* §3.2.2: unavailable from each available resource first. */
            for (struct session *s = acc ? acc->sessions : NULL; s; s = s->next)
                if (s->presence)
                    send_out(mod, presence_new(s->jid->full, contact, "unavailable", NULL));
        }
        if (f->what[i] & FW_UNSUBSCRIBED) {
            char *id = next_id(mod, "gone");
            send_out(mod, presence_new(ev->user, contact, "unsubscribed", id));
            free(id);
        }
    }
    farewell_free(f);
    return HOOK_CONTINUE;
}

/* --- roster.h -------------------------------------------------------------------------- */

static struct rmod *mod_for(struct server *srv, const char *user)
{
    struct jid *j = jid_parse(user);
    const struct pl_module_ctx *m = j ? modules_instance(srv, j->domain, "roster") : NULL;
    jid_free(j);
    return m ? m->data : NULL;
}

bool roster_enabled(struct server *srv, const char *host)
{
    return modules_instance(srv, host, "roster") != NULL;
}

static int sub_of(const struct item *it)
{
    if (!it || !it->s.in_roster)
        return ROSTER_SUB_NONE;
    return (it->s.to ? ROSTER_SUB_TO : 0) | (it->s.from ? ROSTER_SUB_FROM : 0);
}

static void op_query(struct roster *r, struct op *op)
{
    roster_sub_cb cb = op->cb;
    op->cb = NULL;
    cb(r->mod->srv, sub_of(item_get(r, op->arg)), op->ud);
}

struct query {
    struct server *srv;
    char *contact;
    roster_sub_cb cb;
    void *ud;
};

static void query_done(const struct store_result *res, void *ud)
{
    struct query *q = ud;
    int sub = -1;
    if (res->status == STORE_NOT_FOUND) {
        sub = ROSTER_SUB_NONE;
    } else if (res->status == STORE_OK) {
        struct item *it = item_decode(q->contact, res->value, res->value_len);
        sub = sub_of(it);
        if (it)
            item_free(it);
    }
    q->cb(q->srv, sub, q->ud);
    free(q->contact);
    free(q);
}

void roster_subscription(struct server *srv, const char *user, const char *contact,
                         roster_sub_cb cb, void *ud)
{
    struct rmod *mod = mod_for(srv, user);
    if (!mod) {
        cb(srv, ROSTER_SUB_NONE, ud);
        return;
    }
    struct roster *r = hashmap_get(&mod->rosters, user);
    if (r && r->ready) {
        cb(srv, sub_of(item_get(r, contact)), ud);
        return;
    }
    if (r) {
        struct op *op = op_new(op_query, NULL, contact, false);
        op->cb = cb;
        op->ud = ud;
        enqueue(r, op);
        return;
    }
    /* Not in memory: one record from storage. */
    struct jid *j = jid_parse(user);
    if (!j || !j->local) {
        jid_free(j);
        cb(srv, ROSTER_SUB_NONE, ud);
        return;
    }
    struct query *q = pl_calloc(1, sizeof(*q));
    q->srv = srv;
    q->contact = pl_strdup(contact);
    q->cb = cb;
    q->ud = ud;
    store_kv_get(srv->store, j->local, j->domain, AREA_ROSTER, contact, query_done, q);
    jid_free(j);
}

static void op_ready(struct roster *r, struct op *op)
{
    roster_sub_cb cb = op->cb;
    op->cb = NULL;
    cb(r->mod->srv, 1, op->ud);
}

void roster_when_ready(struct server *srv, const char *user, roster_sub_cb cb, void *ud)
{
    struct rmod *mod = mod_for(srv, user);
    struct roster *r = mod ? hashmap_get(&mod->rosters, user) : NULL;
    if (!r) {
        cb(srv, 0, ud);
        return;
    }
    if (r->ready && !r->running && !r->ops) {
        cb(srv, 1, ud);
        return;
    }
    struct op *op = op_new(op_ready, NULL, NULL, false);
    op->cb = cb;
    op->ud = ud;
    enqueue(r, op);
}

bool roster_foreach(struct server *srv, const char *user, enum roster_sub mask,
                    roster_contact_fn fn, void *ud)
{
    struct rmod *mod = mod_for(srv, user);
    struct roster *r = mod ? hashmap_get(&mod->rosters, user) : NULL;
    if (!r || !r->ready)
        return false;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&r->items, &i, &k, &v);) {
        int sub = sub_of(v);
        if (((struct item *)v)->s.in_roster && (sub & (int)mask) == (int)mask)
            fn(k, (enum roster_sub)sub, ud);
    }
    return true;
}

/* --- module ----------------------------------------------------------------------------- */

static int roster_load(struct pl_module_ctx *m)
{
    struct rmod *mod = pl_calloc(1, sizeof(*mod));
    mod->m = m;
    mod->srv = m->srv;
    mod->conf = m->conf;
    mod->refs = 1;
    hashmap_init(&mod->rosters);
    hashmap_init(&mod->farewells);
    mod->sweep = event_new(m->srv->base, -1, 0, sweep, mod);
    m->data = mod;
    pl_iq_handle(m, IQ_TO_BARE, NS_ROSTER, iq_roster);
    pl_stream_feature(m, SF_POSTAUTH, "<ver xmlns='urn:xmpp:features:rosterver'/>");
    pl_stream_feature(m, SF_POSTAUTH, "<sub xmlns='urn:xmpp:features:pre-approval'/>");
    pl_hook(m, HOOK_STANZA_OUT, on_stanza_out, PRIO_ROSTER);
    pl_hook(m, HOOK_STANZA_IN, on_stanza_in, PRIO_ROSTER);
    pl_hook(m, HOOK_SESSION_BOUND, on_session_bound, PRIO_ROSTER);
    pl_hook(m, HOOK_SESSION_CLOSED, on_session_closed, PRIO_ROSTER);
    pl_hook(m, HOOK_USER_AVAILABLE, on_user_available, PRIO_ROSTER);
    pl_hook(m, HOOK_PRESENCE_OUT, on_presence_out, PRIO_ROSTER);
    pl_hook(m, HOOK_ACCOUNT_DELETING, on_account_deleting, PRIO_ROSTER);
    pl_hook(m, HOOK_ACCOUNT_DELETED, on_account_deleted, PRIO_ROSTER);
    return 0;
}

static void roster_unload(struct pl_module_ctx *m)
{
    struct rmod *mod = m->data;
    if (!mod)
        return;
    event_free(mod->sweep);
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&mod->rosters, &i, &k, &v);)
        roster_free(v);
    hashmap_release(&mod->rosters);
    for (size_t i = 0; hashmap_next(&mod->farewells, &i, &k, &v);) {
        farewell_free(v);
    }
    hashmap_release(&mod->farewells);
    mod->dead = true;
    m->data = NULL;
    rmod_unref(mod);
}

const struct pl_module pl_module_roster = {
    .name = "roster",
    .doc = "Rosters, presence subscriptions and presence broadcast (RFC 6121).",
    .conf_size = sizeof(struct roster_conf),
    .options = roster_options,
    .load = roster_load,
    .unload = roster_unload,
};
