/*
 * blocking.c - Blocking Command (XEP-0191).
 *
 *   §3.2  blocklist get            §3.3  block (items), pushes, unavailable
 *   §3.4  unblock (items)          §3.5  unblock all
 *   §6    JID matching (blocklist.c)
 *
 * Enforcement, §3.3: stanzas from a blocked entity are not delivered
 * (HOOK_STANZA_IN: presence dropped without an answer, messages and IQ
 * get/set bounced <service-unavailable/>, other IQs dropped); stanzas the
 * user's client sends to one are refused with <not-acceptable/> and
 * <blocked xmlns='urn:xmpp:blocking:errors'/>; presence the server sends
 * on the user's behalf (HOOK_STANZA_OUT with no session) is suppressed.
 * Both hooks run at PRIO_BLOCKING, before anything else sees the stanza.
 *
 * The hooks need the list synchronously.  Lists of accounts with sessions
 * stay in memory (read at bind).  Any other list is read on first need:
 * the stanza is referenced and held (ARCHITECTURE.md principle 5), the
 * hook answers HANDLED, and once the list is in memory the stanza is
 * refused or routed again (the hooks run again and now find the list).
 * Lists of accounts without sessions are kept in an LRU of 'cache_size'
 * entries, and forgotten when the account is deleted
 * (HOOK_ACCOUNT_DELETED).  Storage: kv area "blocklist", one row "list" holding every
 * item (blocklist_encode), so a block of several items commits at once.
 *
 * Storage completions can outlive the module instance (reload): pending
 * requests hold a reference on the state; after unload they only release
 * what they hold, and stanzas that waited are routed again for whatever
 * instance runs then.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/blocklist.h"
#include "modules/modules.h"
#include "modules/roster.h"
#include "storage/store.h"
#include "xml/xml.h"

#define NS_BLOCKING        "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define KV_AREA            "blocklist"
#define KV_KEY             "list"
/* Entries examined from the LRU tail per eviction: busy ones (reading,
 * writing, stanzas waiting) are skipped, and a bound keeps one eviction
 * cheap even if many are busy. */
#define EVICT_SCAN         64

struct blocking_conf {
    unsigned max_items;         /* items per user */
    unsigned cache_size;        /* lists kept for accounts without sessions */
};

enum waiter_kind {
    WAIT_IN,                    /* HOOK_STANZA_IN: a stanza for the user */
    WAIT_OUT,                   /* HOOK_STANZA_OUT: a stanza from the user */
    WAIT_IQ,                    /* a blocking command of the user */
};

/* A stanza waiting for its list to be read (referenced and held). */
struct waiter {
    struct waiter *next;
    enum waiter_kind kind;
    struct stanza *st;
    bool from_client;           /* WAIT_OUT: sent by a session, not the server */
    struct server *gate_srv;    /* WAIT_IN: the user's gate is held (router.h) */
    char *gate;                 /* WAIT_IN: the user's bare JID */
};

/* One user's list, in memory. */
struct entry {
    struct jid *jid;            /* the account (bare); jid->bare is the map key */
    struct blocklist list;
    bool loaded;                /* list holds what storage holds */
    unsigned reads;             /* reads in flight */
    unsigned writes;            /* writes in flight */
    unsigned resolving;         /* waiters being judged right now */
    unsigned long gen;          /* bumped by every change made here: a read
                                   submitted before a change is stale */
    struct waiter *waiters;
    struct waiter **wtail;
    struct hashmap requested;   /* full JIDs that fetched the list (§3.3
                                   pushes go to them) -> owned copy */
    struct entry *prev, *next;  /* LRU, most recent first (only if in_lru) */
    bool in_lru;                /* the account has no session */
};

struct blocking {
    struct server *srv;
    unsigned refs;              /* the instance, plus one per storage request */
    bool dead;                  /* unloaded: only pending requests remain */
    unsigned max_items;         /* copied from the conf, which a reload frees */
    unsigned cache_size;
    struct hashmap users;       /* bare JID -> struct entry */
    struct entry *lru_head, *lru_tail;
    size_t nlru;
    unsigned long long next_id; /* push IQ ids */
};

/* A storage request in flight (read or write of one user's row). */
struct request {
    struct blocking *b;         /* referenced */
    char *bare;                 /* the entry is looked up again on completion */
    unsigned long gen;          /* reads: e->gen when submitted */
    struct stanza *iq;          /* writes: the command to answer (ref + hold) */
    struct stanza *push;        /* writes: <block/> or <unblock/> to push */
    struct blocklist changed;   /* writes: items newly blocked / unblocked */
    bool blocked;               /* writes: block (true) or unblock */
};

/* --- state, entries, LRU ------------------------------------------------ */

static void waiter_release(struct waiter *w)
{
    if (w->gate) {
        /* After the stanza was resumed (resolve()): later ones follow. */
        router_gate_release(w->gate_srv, w->gate);
        free(w->gate);
    }
    stanza_unhold(w->st);
    stanza_unref(w->st);
    free(w);
}

static void requested_clear(struct hashmap *h)
{
    void *v;
    for (size_t i = 0; hashmap_next(h, &i, NULL, &v);)
        free(v);
    hashmap_release(h);
}

static void entry_free(struct entry *e)
{
    while (e->waiters) {
        struct waiter *w = e->waiters;
        e->waiters = w->next;
        waiter_release(w);
    }
    requested_clear(&e->requested);
    blocklist_release(&e->list);
    jid_free(e->jid);
    free(e);
}

static void lru_unlink(struct blocking *b, struct entry *e)
{
    if (!e->in_lru)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        b->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        b->lru_tail = e->prev;
    e->prev = e->next = NULL;
    e->in_lru = false;
    b->nlru--;
}

static void lru_push(struct blocking *b, struct entry *e)
{
    e->prev = NULL;
    e->next = b->lru_head;
    if (b->lru_head)
        b->lru_head->prev = e;
    b->lru_head = e;
    if (!b->lru_tail)
        b->lru_tail = e;
    e->in_lru = true;
    b->nlru++;
}

static bool entry_busy(const struct entry *e)
{
    return e->reads || e->writes || e->resolving || e->waiters;
}

static void entry_drop(struct blocking *b, struct entry *e)
{
    lru_unlink(b, e);
    hashmap_del(&b->users, e->jid->bare);
    entry_free(e);
}

static void lru_evict(struct blocking *b)
{
    struct entry *e = b->lru_tail;
    for (unsigned n = 0; b->nlru > b->cache_size && e && n < EVICT_SCAN; n++) {
        struct entry *prev = e->prev;
        if (!entry_busy(e))
            entry_drop(b, e);
        e = prev;
    }
}

static void state_free(struct blocking *b)
{
    void *v;
    for (size_t i = 0; hashmap_next(&b->users, &i, NULL, &v);)
        entry_free(v);
    hashmap_release(&b->users);
    free(b);
}

static void state_unref(struct blocking *b)
{
    PL_ASSERT(b->refs > 0);
    if (--b->refs == 0)
        state_free(b);
}

static void read_done(const struct store_result *res, void *ud);

static void start_read(struct blocking *b, struct entry *e)
{
    struct request *r = pl_calloc(1, sizeof(*r));
    r->b = b;
    b->refs++;
    r->bare = pl_strdup(e->jid->bare);
    r->gen = e->gen;
    blocklist_init(&r->changed);
    e->reads++;
    store_kv_get(b->srv->store, e->jid->local, e->jid->domain, KV_AREA, KV_KEY,
                 read_done, r);
}

/* The entry of a local account (bare JID, prepared), created and read
 * from storage when absent.  NULL only if 'bare' does not parse. */
static struct entry *entry_get(struct blocking *b, const char *bare)
{
    struct entry *e = hashmap_get(&b->users, bare);
    if (e) {
        if (e->in_lru) {
            lru_unlink(b, e);
            lru_push(b, e);
        }
        return e;
    }
    struct jid *j = jid_parse(bare);
    if (!j || !j->local) {
        jid_free(j);
        return NULL;
    }
    e = pl_calloc(1, sizeof(*e));
    e->jid = j;
    blocklist_init(&e->list);
    hashmap_init(&e->requested);
    e->wtail = &e->waiters;
    hashmap_put(&b->users, e->jid->bare, e);
    if (!sm_account(b->srv, e->jid->bare))
        lru_push(b, e);
    start_read(b, e);
    lru_evict(b);
    return e;
}

static struct waiter *wait_for_list(struct entry *e, enum waiter_kind kind,
                                    struct stanza *st, bool from_client)
{
    struct waiter *w = pl_calloc(1, sizeof(*w));
    w->kind = kind;
    w->st = stanza_ref(st);
    stanza_hold(st);
    w->from_client = from_client;
    *e->wtail = w;
    e->wtail = &w->next;
    return w;
}

/* --- refusals ----------------------------------------------------------- */

static bool has_type(const struct stanza *st, const char *type)
{
    const char *t = xml_attr(st->root, "type");
    return t && strcmp(t, type) == 0;
}

static bool is_named(const struct stanza *st, const char *name)
{
    return strcmp(st->root->name, name) == 0;
}

/* §3.3, inbound: the user appears offline to the blocked entity. */
static void refuse_in(struct server *srv, struct stanza *st)
{
    if (is_named(st, "presence")) {
        /* "MUST NOT respond and MUST NOT return an error" */
        log_debug("blocking: presence from %s to %s dropped (blocked)",
                  xml_attr(st->root, "from"), xml_attr(st->root, "to"));
        return;
    }
    if (is_named(st, "iq") && !has_type(st, "get") && !has_type(st, "set")) {
        /* "IQ stanzas of other types MUST be silently dropped" */
        log_debug("blocking: IQ %s from %s dropped (blocked)",
                  xml_attr(st->root, "type"), xml_attr(st->root, "from"));
        return;
    }
    /* Errors are never answered (router_bounce): dropped likewise.  The
     * text is the router's for an offline recipient: a block must look
     * like absence (§3.3), not announce itself. */
    router_bounce(srv, st, "cancel", "service-unavailable", "the recipient is not available");
}

/* §3.3, outbound from a client: <not-acceptable/> with the application
 * condition <blocked/> (RFC 6120 §8.3.2 order: condition, text,
 * application condition), written straight to the sending session: routed
 * normally, the error would come "from" the blocked JID and be dropped by
 * the inbound check. */
static void refuse_out(struct server *srv, struct session *s, struct stanza *st)
{
    if (has_type(st, "error"))
        return;                 /* never answer an error (RFC 6120 §8.3.1) */
    if (!s)
        return;
    const char *to = xml_attr(st->root, "to");
    if (is_named(st, "presence") && to) {
        /* Remembered as a directed-presence recipient before routing
         * (sm_presence_directed): it was not delivered, so the unavailable
         * presence at logout must not go there either. */
        free(hashmap_del(&s->directed, to));
    }
    struct stanza *e = stanza_copy(st);
    struct arena *a = e->arena;
    xml_set_attr(a, e->root, "to", xml_attr(st->root, "from"));
    xml_set_attr(a, e->root, "from", to);
    xml_set_attr(a, e->root, "type", "error");
    struct xml_node *err = xml_add_child(a, e->root, XML_NS_CLIENT, "error");
    xml_set_attr(a, err, "type", "cancel");
    xml_add_child(a, err, NS_STANZAS, "not-acceptable");
    struct xml_node *t = xml_add_text_child(a, err, NS_STANZAS, "text",
                                            "you have blocked this address; unblock it first");
    xml_set_attr(a, t, "xml:lang", "en");
    xml_add_child(a, err, NS_BLOCKING_ERRORS, "blocked");
    sm_deliver(srv, s, e);
    stanza_unref(e);
}

/* The list could not be read: the stanza cannot be judged.  Fail closed. */
static void refuse_unknown(struct server *srv, struct stanza *st)
{
    if (is_named(st, "presence")) {
        log_warn("blocking: presence from %s to %s dropped: blocklist unavailable",
                 xml_attr(st->root, "from"), xml_attr(st->root, "to"));
        return;
    }
    router_bounce(srv, st, "wait", "internal-server-error",
                  "the blocklist could not be read; try again later");
}

/* Stanzas between a user and its own account or its own server are never
 * subject to the user's list (blocking one's own domain must not cut the
 * server's answers to the user). */
static bool exempt(const char *user_bare, const char *addr)
{
    struct jid *j = jid_parse(addr);
    struct jid *u = jid_parse(user_bare);
    bool r = !j || !u || strcmp(j->bare, u->bare) == 0 ||
             (!j->local && !j->resource && strcmp(j->domain, u->domain) == 0);
    jid_free(j);
    jid_free(u);
    return r;
}

/* --- the commands ------------------------------------------------------- */

static void send_error(struct server *srv, struct stanza *req, const char *type,
                       const char *cond, const char *text)
{
    router_bounce(srv, req, type, cond, text);
}

static struct stanza *presence_to(const struct session *s, const char *to,
                                  const struct stanza *like)
{
    struct stanza *p = like ? stanza_copy(like) : stanza_new(XML_NS_CLIENT, "presence");
    xml_set_attr(p->arena, p->root, "from", s->jid->full);
    xml_set_attr(p->arena, p->root, "to", to);
    if (!like)
        xml_set_attr(p->arena, p->root, "type", "unavailable");
    return p;
}

struct contact_scan {
    const struct blocklist *items;
    struct hashmap *out;        /* contact -> owned copy */
};

static void contact_match(const char *contact, enum roster_sub sub, void *ud)
{
    (void)sub;
    struct contact_scan *cs = ud;
    struct jid *j = jid_parse(contact);
    if (!j)
        return;
    for (size_t i = 0; i < cs->items->n; i++) {
        if (blocklist_item_matches(cs->items->items[i], j) && !hashmap_get(cs->out, j->bare)) {
            char *k = pl_strdup(j->bare);
            hashmap_put(cs->out, k, k);
            break;
        }
    }
    jid_free(j);
}

/* §3.3 (block): each available resource of the user sends unavailable
 * presence to the newly blocked entities allowed to see its presence:
 * roster contacts with a 'from' subscription and directed-presence
 * recipients.  §3.4 (unblock): the current presence goes to the contacts
 * again.  Sent with router_route(): the outbound check would stop it. */
static void presence_effects(struct server *srv, const struct jid *user,
                             const struct blocklist *changed, bool blocked)
{
    struct account *acc = sm_account(srv, user->bare);
    if (!acc || changed->n == 0)
        return;
    struct hashmap contacts;
    hashmap_init(&contacts);
    struct contact_scan cs = { changed, &contacts };
    roster_foreach(srv, user->bare, ROSTER_SUB_FROM, contact_match, &cs);
    for (struct session *s = acc->sessions; s; s = s->next) {
        if (!s->presence)
            continue;
        const char *k;
        void *v;
        for (size_t i = 0; hashmap_next(&contacts, &i, &k, &v);) {
            struct stanza *p = presence_to(s, k, blocked ? NULL : s->presence);
            router_route(srv, p);
            stanza_unref(p);
        }
        if (!blocked)
            continue;
        for (size_t i = 0; hashmap_next(&s->directed, &i, &k, &v);) {
            struct jid *j = jid_parse(k);
            bool hit = false;
            for (size_t n = 0; j && n < changed->n && !hit; n++)
                hit = blocklist_item_matches(changed->items[n], j);
            jid_free(j);
            if (!hit)
                continue;
            if (!hashmap_get(&contacts, k)) {
                struct stanza *p = presence_to(s, k, NULL);
                router_route(srv, p);
                stanza_unref(p);
            }
            /* Deleting the current key while iterating is allowed. */
            hashmap_del(&s->directed, k);
            free(v);
        }
    }
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&contacts, &i, &k, &v);)
        free(v);
    hashmap_release(&contacts);
}

/* §3.3 / §3.4 / §3.5: an IQ-set with the change to every resource that
 * fetched the list. */
static void send_pushes(struct blocking *b, struct entry *e, const struct stanza *push)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&e->requested, &i, &k, &v);) {
        struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
        struct arena *a = st->arena;
        xml_set_attr(a, st->root, "from", e->jid->bare);
        xml_set_attr(a, st->root, "to", k);
        xml_set_attr(a, st->root, "type", "set");
        xml_set_attr(a, st->root, "id", arena_printf(a, "block-push-%llu", ++b->next_id));
        xml_append(st->root, xml_copy(a, push->root));
        router_route(b->srv, st);
        stanza_unref(st);
    }
}

static void write_done(const struct store_result *res, void *ud)
{
    struct request *r = ud;
    struct blocking *b = r->b;
    struct server *srv = b->srv;
    struct entry *e = hashmap_get(&b->users, r->bare);
    if (e)
        e->writes--;
    if (!srv->stopping) {
        if (res->status == STORE_OK) {
            struct stanza *ok;
            iq_reply_result(r->iq, NULL, NULL, &ok);
            router_route(srv, ok);
            stanza_unref(ok);
            if (e && !b->dead) {
                send_pushes(b, e, r->push);
                presence_effects(srv, e->jid, &r->changed, r->blocked);
            }
        } else {
            log_error("blocking: cannot store the blocklist of %s (status %d)",
                      r->bare, res->status);
            send_error(srv, r->iq, "wait", "internal-server-error",
                       res->status == STORE_NOT_FOUND ? "the account no longer exists"
                                                      : "the blocklist could not be stored");
            if (e && !b->dead) {
                /* Memory ran ahead of storage: read back the truth; the
                 * stanzas that come meanwhile wait for it. */
                e->gen++;
                e->loaded = false;
                start_read(b, e);
            }
        }
    }
    if (e && !b->dead && e->in_lru)
        lru_evict(b);
    stanza_unhold(r->iq);
    stanza_unref(r->iq);
    stanza_unref(r->push);
    blocklist_release(&r->changed);
    free(r->bare);
    free(r);
    state_unref(b);
}

static void start_write(struct blocking *b, struct entry *e, struct stanza *req,
                        struct stanza *push, struct request *r)
{
    r->b = b;
    b->refs++;
    r->bare = pl_strdup(e->jid->bare);
    r->iq = stanza_ref(req);
    stanza_hold(req);
    r->push = push;
    e->writes++;
    e->gen++;
    struct buf v = BUF_INIT;
    blocklist_encode(&e->list, &v);
    /* An empty list deletes the row (value NULL). */
    store_kv_set(b->srv->store, e->jid->local, e->jid->domain, KV_AREA, KV_KEY,
                 v.len ? v.data : NULL, v.len, write_done, r);
    buf_release(&v);
}

/* Parses the <item jid=.../> children into prepared JIDs (in 'out'),
 * or answers the error and returns false. */
static bool parse_items(struct blocking *b, struct stanza *req, struct xml_node *cmd,
                        struct blocklist *out)
{
    size_t n = 0;
    for (struct xml_node *it = xml_child(cmd, NS_BLOCKING, "item"); it;
         it = xml_next(it, NS_BLOCKING, "item")) {
        if (++n > b->max_items) {
            send_error(b->srv, req, "cancel", "not-acceptable",
                       arena_printf(req->arena, "at most %u items per command",
                                    b->max_items));
            return false;
        }
        const char *s = xml_attr(it, "jid");
        struct jid *j = s ? jid_parse(s) : NULL;
        if (!j) {
            send_error(b->srv, req, "modify", "jid-malformed",
                       s ? "an <item/> 'jid' is not a valid JID"
                         : "an <item/> needs a 'jid' attribute");
            return false;
        }
        blocklist_add(out, j->full);
        jid_free(j);
    }
    return true;
}

static struct stanza *push_of(const char *name, const struct blocklist *items)
{
    struct stanza *p = stanza_new(NS_BLOCKING, name);
    for (size_t i = 0; i < items->n; i++)
        xml_set_attr(p->arena, xml_add_child(p->arena, p->root, NULL, "item"), "jid",
                     items->items[i]);
    return p;
}

static void cmd_block(struct blocking *b, struct entry *e, struct stanza *req,
                      struct xml_node *cmd)
{
    struct blocklist items;
    blocklist_init(&items);
    if (!parse_items(b, req, cmd, &items))
        goto out;
    if (items.n == 0) {
        /* §3.3: MUST return <bad-request/> */
        send_error(b->srv, req, "modify", "bad-request",
                   "a <block/> needs at least one <item/>");
        goto out;
    }
    struct request *r = pl_calloc(1, sizeof(*r));
    blocklist_init(&r->changed);
    r->blocked = true;
    for (size_t i = 0; i < items.n; i++)
        if (!blocklist_has(&e->list, items.items[i]))
            blocklist_add(&r->changed, items.items[i]);
    if (e->list.n + r->changed.n > b->max_items) {
        send_error(b->srv, req, "cancel", "not-acceptable",
                   arena_printf(req->arena, "a blocklist holds at most %u items",
                                b->max_items));
        blocklist_release(&r->changed);
        free(r);
        goto out;
    }
    for (size_t i = 0; i < r->changed.n; i++)
        blocklist_add(&e->list, r->changed.items[i]);
    start_write(b, e, req, push_of("block", &items), r);
out:
    blocklist_release(&items);
}

static void cmd_unblock(struct blocking *b, struct entry *e, struct stanza *req,
                        struct xml_node *cmd)
{
    struct blocklist items;
    blocklist_init(&items);
    if (!parse_items(b, req, cmd, &items))
        goto out;
    struct request *r = pl_calloc(1, sizeof(*r));
    blocklist_init(&r->changed);
    r->blocked = false;
    if (items.n == 0) {
        /* §3.5: an empty <unblock/> unblocks everything. */
        for (size_t i = 0; i < e->list.n; i++)
            blocklist_add(&r->changed, e->list.items[i]);
        blocklist_clear(&e->list);
    } else {
        for (size_t i = 0; i < items.n; i++)
            if (blocklist_remove(&e->list, items.items[i]))
                blocklist_add(&r->changed, items.items[i]);
    }
    start_write(b, e, req, push_of("unblock", &items), r);
out:
    blocklist_release(&items);
}

static void cmd_get(struct blocking *b, struct entry *e, struct stanza *req)
{
    struct stanza *r;
    struct xml_node *q = iq_reply_result(req, NS_BLOCKING, "blocklist", &r);
    for (size_t i = 0; i < e->list.n; i++)
        xml_set_attr(r->arena, xml_add_child(r->arena, q, NULL, "item"), "jid",
                     e->list.items[i]);
    /* §3.3: pushes go to "the user's resources that have requested the
     * blocklist". */
    const char *from = xml_attr(req->root, "from");
    if (from && !hashmap_get(&e->requested, from)) {
        char *k = pl_strdup(from);
        hashmap_put(&e->requested, k, k);
    }
    router_route(b->srv, r);
    stanza_unref(r);
}

/* Runs a command once the user's list is in memory. */
static void run_command(struct blocking *b, struct entry *e, struct stanza *req)
{
    struct xml_node *cmd = xml_child(req->root, NULL, NULL);
    bool get = has_type(req, "get");
    if (get && xml_is(cmd, NS_BLOCKING, "blocklist"))
        cmd_get(b, e, req);
    else if (!get && xml_is(cmd, NS_BLOCKING, "block"))
        cmd_block(b, e, req, cmd);
    else if (!get && xml_is(cmd, NS_BLOCKING, "unblock"))
        cmd_unblock(b, e, req, cmd);
    else
        send_error(b->srv, req, "modify", "bad-request",
                   get ? "an IQ-get takes <blocklist/>"
                       : "an IQ-set takes <block/> or <unblock/>");
}

static void blocking_iq(struct server *srv, struct stanza *req, struct xml_node *payload,
                        void *ud)
{
    (void)payload;
    struct pl_module_ctx *m = ud;
    struct blocking *b = m->data;
    const char *from_s = xml_attr(req->root, "from");
    const char *to_s = xml_attr(req->root, "to");
    struct jid *from = from_s ? jid_parse(from_s) : NULL;
    struct jid *to = to_s ? jid_parse(to_s) : NULL;
    if (!from || !from->local || (to && strcmp(to->bare, from->bare) != 0)) {
        /* §3.2-§3.5: the commands have no 'to'; nobody else's list is
         * readable or writable. */
        send_error(srv, req, "auth", "forbidden",
                   "only the account's owner can use its blocklist");
        goto out;
    }
    struct entry *e = entry_get(b, from->bare);
    if (!e) {
        send_error(srv, req, "modify", "bad-request", "invalid sender");
        goto out;
    }
    if (!e->loaded) {
        wait_for_list(e, WAIT_IQ, req, false);
        goto out;
    }
    run_command(b, e, req);
out:
    jid_free(from);
    jid_free(to);
}

/* --- reading lists ------------------------------------------------------ */

/* A stanza that waited for the list: judge it now. */
static void resolve(struct blocking *b, struct entry *e, struct waiter *w)
{
    struct server *srv = b->srv;
    struct stanza *st = w->st;
    if (b->dead) {
        /* The instance is gone: whatever runs now decides. */
        if (w->kind == WAIT_OUT)
            router_route_out(srv, NULL, st);
        else
            router_resume(srv, st);     /* it holds the gate */
        return;
    }
    if (!e->loaded) {
        refuse_unknown(srv, st);
        return;
    }
    const char *from = xml_attr(st->root, "from");
    switch (w->kind) {
    case WAIT_IQ:
        run_command(b, e, st);
        break;
    case WAIT_IN:
        if (blocklist_blocks_str(&e->list, from))
            refuse_in(srv, st);
        else
            router_resume(srv, st); /* the hooks run again and find the list */
        break;
    case WAIT_OUT: {
        struct jid *fj = from ? jid_parse(from) : NULL;
        struct session *s = w->from_client && fj ? sm_find(srv, fj) : NULL;
        jid_free(fj);
        if (blocklist_blocks_str(&e->list, xml_attr(st->root, "to"))) {
            if (w->from_client)
                refuse_out(srv, s, st);
        } else {
            router_route_out(srv, s, st);
        }
        break;
    }
    }
}

static void read_done(const struct store_result *res, void *ud)
{
    struct request *r = ud;
    struct blocking *b = r->b;
    struct entry *e = hashmap_get(&b->users, r->bare);
    PL_ASSERT(e != NULL);           /* busy entries are never evicted */
    e->reads--;
    bool settle = false;
    if (res->status == STORE_OK || res->status == STORE_NOT_FOUND) {
        if (r->gen == e->gen) {
            size_t bad = 0;
            if (res->status == STORE_OK)
                bad = blocklist_decode(&e->list, res->value, res->value_len, b->max_items);
            else
                blocklist_clear(&e->list);
            if (bad)
                log_warn("blocking: %zu unreadable or excess items in the blocklist of %s",
                         bad, r->bare);
            e->loaded = true;
            settle = true;
        }
        /* else: a change was made here after this read was submitted; a
         * later read (or the change itself) is the truth. */
    } else {
        log_error("blocking: cannot read the blocklist of %s", r->bare);
        settle = e->reads == 0 && !e->loaded;
    }
    if (settle) {
        struct waiter *w = e->waiters;
        e->waiters = NULL;
        e->wtail = &e->waiters;
        /* Routing them again re-enters the hooks, which may evict from
         * the LRU: keep this entry.  Also while the server stops: this is
         * a storage completion, so storage is still open (server.c drains
         * it before store_close()) and the stanza is delivered, stored
         * offline or bounced like any other; releasing it unrouted would
         * drop a stanza the server accepted. */
        e->resolving++;
        while (w) {
            struct waiter *next = w->next;
            resolve(b, e, w);
            waiter_release(w);
            w = next;
        }
        e->resolving--;
    }
    /* A list that could not be read is forgotten, so that the next stanza
     * tries again; and the LRU may have grown while this was busy.  The
     * map may have changed under resolve(): look the entry up again. */
    e = hashmap_get(&b->users, r->bare);
    if (e && !e->loaded && !entry_busy(e))
        entry_drop(b, e);
    else if (!b->dead)
        lru_evict(b);
    blocklist_release(&r->changed);
    free(r->bare);
    free(r);
    state_unref(b);
}

/* --- hooks -------------------------------------------------------------- */

static enum hook_result on_stanza_in(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct blocking *b = m->data;
    struct stanza *st = ev->stanza;
    const char *from = xml_attr(st->root, "from");
    if (!from || !ev->user)
        return HOOK_CONTINUE;
    struct entry *e = hashmap_get(&b->users, ev->user);
    if (e && e->loaded && e->list.n == 0)
        return HOOK_CONTINUE;       /* the common case, without parsing */
    if (exempt(ev->user, from))
        return HOOK_CONTINUE;
    e = entry_get(b, ev->user);
    if (!e)
        return HOOK_CONTINUE;
    if (!e->loaded) {
        /* Later stanzas to the user wait behind this one (RFC 6120 §10.1). */
        struct waiter *w = wait_for_list(e, WAIT_IN, st, false);
        w->gate_srv = ev->srv;
        w->gate = pl_strdup(ev->user);
        router_gate_hold(ev->srv, ev->user);
        return HOOK_HANDLED;
    }
    if (!blocklist_blocks_str(&e->list, from))
        return HOOK_CONTINUE;
    refuse_in(ev->srv, st);
    return HOOK_HANDLED;
}

static enum hook_result on_stanza_out(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct blocking *b = m->data;
    struct stanza *st = ev->stanza;
    const char *from = xml_attr(st->root, "from");
    const char *to = xml_attr(st->root, "to");
    if (!from || !to)
        return HOOK_CONTINUE;
    struct jid *fj = jid_parse(from);
    if (!fj || !fj->local) {
        jid_free(fj);
        return HOOK_CONTINUE;
    }
    enum hook_result r = HOOK_CONTINUE;
    struct entry *e = hashmap_get(&b->users, fj->bare);
    if (e && e->loaded && e->list.n == 0)
        goto out;
    if (exempt(fj->bare, to))
        goto out;
    e = entry_get(b, fj->bare);
    if (!e)
        goto out;
    if (!e->loaded) {
        wait_for_list(e, WAIT_OUT, st, ev->session != NULL);
        r = HOOK_HANDLED;
        goto out;
    }
    if (blocklist_blocks_str(&e->list, to)) {
        /* From a client: refused.  Generated by the server for the user
         * (presence broadcast to contacts, probe answers): suppressed,
         * that is the point of the block. */
        if (ev->session)
            refuse_out(ev->srv, ev->session, st);
        else
            log_debug("blocking: %s to %s suppressed (blocked)", st->root->name, to);
        r = HOOK_HANDLED;
    }
out:
    jid_free(fj);
    return r;
}

static enum hook_result on_session_bound(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct blocking *b = m->data;
    struct entry *e = hashmap_get(&b->users, ev->session->jid->bare);
    if (e) {
        lru_unlink(b, e);
        /* The cached copy may be older than storage (the account was
         * deleted and made again meanwhile): read it again.  Stanzas do
         * not wait for this; a change made here meanwhile wins. */
        if (e->loaded && e->reads == 0)
            start_read(b, e);
        return HOOK_CONTINUE;
    }
    entry_get(b, ev->session->jid->bare);  /* not in the LRU: it has a session */
    return HOOK_CONTINUE;
}

static enum hook_result on_session_closed(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct blocking *b = m->data;
    struct session *s = ev->session;
    struct entry *e = hashmap_get(&b->users, s->jid->bare);
    if (!e)
        return HOOK_CONTINUE;
    free(hashmap_del(&e->requested, s->jid->full));
    /* The hook runs before the session leaves the account. */
    if (s->account->nsessions <= 1 && !e->in_lru) {
        lru_push(b, e);
        lru_evict(b);
    }
    return HOOK_CONTINUE;
}

/* HOOK_ACCOUNT_DELETED: the account's list went with it.  An account
 * created again under the same name must not be judged by the old list
 * (cached while it had no session).  A busy entry (a read, write or
 * judgement in progress) stays, but forgets: reads submitted before the
 * deletion are stale (gen), and a new read - queued after the deletion,
 * storage runs requests in order - gives the truth to the waiters. */
static enum hook_result on_account_deleted(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct blocking *b = m->data;
    struct entry *e = hashmap_get(&b->users, ev->user);
    if (!e)
        return HOOK_CONTINUE;
    if (!entry_busy(e)) {
        entry_drop(b, e);
        return HOOK_CONTINUE;
    }
    e->gen++;
    e->loaded = false;
    blocklist_release(&e->list);
    blocklist_init(&e->list);
    start_read(b, e);
    return HOOK_CONTINUE;
}

/* --- module ------------------------------------------------------------- */

static int blocking_load(struct pl_module_ctx *m)
{
    const struct blocking_conf *c = m->conf;
    struct blocking *b = pl_calloc(1, sizeof(*b));
    b->srv = m->srv;
    b->refs = 1;
    b->max_items = c->max_items;
    b->cache_size = c->cache_size;
    hashmap_init(&b->users);
    m->data = b;
    pl_iq_handle(m, IQ_TO_BARE, NS_BLOCKING, blocking_iq);
    /* §3.1: the server answers for the feature; accounts too, since the
     * commands are handled on the account's behalf. */
    pl_disco_feature(m, IQ_TO_HOST, NS_BLOCKING);
    pl_disco_feature(m, IQ_TO_BARE, NS_BLOCKING);
    pl_hook(m, HOOK_STANZA_IN, on_stanza_in, PRIO_BLOCKING);
    pl_hook(m, HOOK_STANZA_OUT, on_stanza_out, PRIO_BLOCKING);
    pl_hook(m, HOOK_SESSION_BOUND, on_session_bound, PRIO_BLOCKING);
    pl_hook(m, HOOK_SESSION_CLOSED, on_session_closed, PRIO_BLOCKING);
    pl_hook(m, HOOK_ACCOUNT_DELETED, on_account_deleted, PRIO_BLOCKING);
    return 0;
}

static void blocking_unload(struct pl_module_ctx *m)
{
    struct blocking *b = m->data;
    m->data = NULL;
    b->dead = true;
    state_unref(b);
}

static const struct conf_option blocking_options[] = {
    { "max_items", CONF_UINT, offsetof(struct blocking_conf, max_items), "1000", 1, 100000,
      NULL, 0, "Most JIDs one user may block (more are refused with not-acceptable)" },
    { "cache_size", CONF_UINT, offsetof(struct blocking_conf, cache_size), "4096", 0, 1000000,
      NULL, 0, "Blocklists kept in memory for accounts without a session (LRU)" },
    CONF_END
};

const struct pl_module pl_module_blocking = {
    .name = "blocking",
    .doc = "Blocking command (XEP-0191): block lists, enforced on every stanza.",
    .conf_size = sizeof(struct blocking_conf),
    .options = blocking_options,
    .load = blocking_load,
    .unload = blocking_unload,
};
