/*
 * sm.c - the session manager: the bound resources of each account, their
 * presence, and delivery to them (RFC 6120 §7, RFC 6121 §4, §8.5); and
 * account deletion, so that every path to it tells the modules
 * (HOOK_ACCOUNT_DELETING/DELETED, XEP-0077 §3.2).
 */
#include "router/sm.h"
#include "router/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "stream/c2s.h"
#include "xml/xml.h"

struct account *sm_account(struct server *srv, const char *bare)
{
    return hashmap_get(&srv->router->accounts, bare);
}

struct session *sm_find(struct server *srv, const struct jid *full)
{
    struct account *acc = sm_account(srv, full->bare);
    if (!acc || !full->resource)
        return NULL;
    for (struct session *s = acc->sessions; s; s = s->next)
        if (strcmp(s->jid->resource, full->resource) == 0)
            return s;
    return NULL;
}

void sm_deliver(struct server *srv, struct session *s, struct stanza *st)
{
    (void)srv;
    c2s_send(s->c2s, st);
}

static void run_session_hook(struct server *srv, enum hook_id id, struct session *s)
{
    struct hook_event ev = { .srv = srv, .host = s->jid->domain, .session = s };
    hooks_run(&srv->router->hooks, id, &ev);
}

struct session *sm_bind(struct server *srv, struct c2s *c2s, struct jid *jid)
{
    struct router *r = srv->router;
    struct session *old = sm_find(srv, jid);
    if (old) {
        /* RFC 6120 §7.7.2.2: the newer session wins; the older stream is
         * closed with <conflict/>, which unbinds it right away. */
        log_info("sm: %s bound again from %s, closing the older session",
                 jid->full, c2s_peer(c2s));
        c2s_close(old->c2s, "conflict", "replaced by a new connection");
        PL_ASSERT(sm_find(srv, jid) == NULL);
    }
    struct account *acc = sm_account(srv, jid->bare);
    if (!acc) {
        size_t len = strlen(jid->bare) + 1;
        acc = pl_calloc(1, sizeof(*acc) + len);
        memcpy(acc->bare, jid->bare, len);
        hashmap_put(&r->accounts, acc->bare, acc);
    }
    struct session *s = pl_calloc(1, sizeof(*s));
    s->c2s = c2s;
    s->jid = jid;
    s->account = acc;
    s->since = time(NULL);
    hashmap_init(&s->directed);
    s->next = acc->sessions;
    acc->sessions = s;
    acc->nsessions++;
    r->nsessions++;
    run_session_hook(srv, HOOK_SESSION_BOUND, s);
    return s;
}

/* Presence 'unavailable' from s, addressed to 'to' (NULL: no 'to'). */
/* The roster's part of a broadcast: the user's contacts (HOOK_PRESENCE_OUT). */
static void presence_out(struct server *srv, struct session *s, struct stanza *st)
{
    struct hook_event ev = {
        .srv = srv, .host = s->jid->domain, .stanza = st, .session = s,
    };
    hooks_run(&srv->router->hooks, HOOK_PRESENCE_OUT, &ev);
}

static struct stanza *unavailable_from(const struct session *s, const char *to)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "presence");
    xml_set_attr(st->arena, st->root, "from", s->jid->full);
    if (to)
        xml_set_attr(st->arena, st->root, "to", to);
    xml_set_attr(st->arena, st->root, "type", "unavailable");
    return st;
}

/* Sends st to the account's available resources (optionally skipping
 * one).  The 'to' stays as it is (RFC 6121 §4.2.2 writes the broadcast
 * with the bare JID of each resource's own account). */
static void to_own_resources(struct server *srv, struct session *from,
                             struct stanza *st, bool include_self)
{
    for (struct session *o = from->account->sessions; o; o = o->next) {
        if (!o->presence && o != from)
            continue;
        if (o == from && !include_self)
            continue;
        sm_deliver(srv, o, st);
    }
}

static void directed_clear(struct session *s)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&s->directed, &i, &k, &v);)
        free(v);
    hashmap_release(&s->directed);
    hashmap_init(&s->directed);
}

/* RFC 6121 §4.6.3: directed-presence recipients learn that we left. */
static void directed_unavailable(struct server *srv, struct session *s)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&s->directed, &i, &k, &v);) {
        struct stanza *st = unavailable_from(s, k);
        router_route(srv, st);
        stanza_unref(st);
    }
    directed_clear(s);
}

void sm_unbind(struct server *srv, struct session *s)
{
    struct router *r = srv->router;
    struct account *acc = s->account;
    run_session_hook(srv, HOOK_SESSION_CLOSED, s);
    if (s->presence) {
        stanza_unref(s->presence);
        s->presence = NULL;
        struct stanza *st = unavailable_from(s, NULL);
        for (struct session *o = acc->sessions; o; o = o->next)
            if (o != s && o->presence)
                sm_deliver(srv, o, st);
        presence_out(srv, s, st);
        stanza_unref(st);
        run_session_hook(srv, HOOK_USER_UNAVAILABLE, s);
    }
    directed_unavailable(srv, s);
    for (struct session **pp = &acc->sessions; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    acc->nsessions--;
    r->nsessions--;
    if (!acc->sessions) {
        hashmap_del(&r->accounts, acc->bare);
        free(acc);
    }
    hashmap_release(&s->directed);
    jid_free(s->jid);
    free(s);
}

static int parse_priority(const struct stanza *st)
{
    struct xml_node *p = xml_child(st->root, XML_NS_CLIENT, "priority");
    if (!p)
        return 0;
    struct arena *a = arena_new(64);
    const char *t = xml_text(a, p);
    char *end;
    long v = strtol(t, &end, 10);
    bool ok = *t && *end == '\0';
    arena_free(a);
    /* RFC 6121 §4.7.2.3: an integer in -128..127. */
    if (!ok || v < -128 || v > 127)
        return 0;
    return (int)v;
}

/* What a session keeps of its available presence for its lifetime (to
 * answer probes, tell new contacts, read its caps).  Principle 4: a copy
 * sized to what the presence holds, not the parsed stanza's arena sized
 * for any stanza (over 1 KiB).  Most clients send <presence/> with nothing
 * in it but the 'from' c2s stamped, which the session's JID gives back:
 * those sessions share the router's one empty presence and keep no
 * allocation at all. */
static struct stanza *presence_keep(struct server *srv, const struct stanza *st)
{
    bool empty = st->root->children == NULL;
    for (const struct xml_attr *a = st->root->attrs; a && empty; a = a->next)
        empty = strcmp(a->name, "from") == 0;
    if (empty)
        return stanza_ref(srv->router->empty_presence);
    return stanza_copy(st);
}

void sm_presence_broadcast(struct server *srv, struct session *s, struct stanza *st)
{
    const char *type = xml_attr(st->root, "type");
    if (!type) {
        bool initial = s->presence == NULL;
        if (s->presence)
            stanza_unref(s->presence);
        s->presence = presence_keep(srv, st);
        s->priority = parse_priority(st);
        /* RFC 6121 §4.2.2 / §4.4.2: to all of the account's available
         * resources, the sender included. */
        to_own_resources(srv, s, st, true);
        presence_out(srv, s, st);
        if (initial)
            run_session_hook(srv, HOOK_USER_AVAILABLE, s);
        return;
    }
    if (strcmp(type, "unavailable") == 0) {
        bool was = s->presence != NULL;
        if (s->presence) {
            stanza_unref(s->presence);
            s->presence = NULL;
        }
        to_own_resources(srv, s, st, true);
        if (was)
            presence_out(srv, s, st);
        directed_unavailable(srv, s);
        if (was)
            run_session_hook(srv, HOOK_USER_UNAVAILABLE, s);
        return;
    }
    /* Other types without 'to' (probe, subscribe, ...) make no sense as a
     * broadcast; RFC 6121 leaves them to the roster (its own issue). */
}

void sm_presence_directed(struct server *srv, struct session *s, const struct stanza *st)
{
    const char *type = xml_attr(st->root, "type");
    const char *to = xml_attr(st->root, "to");
    if (!type || strcmp(type, "unavailable") == 0) {
        /* RFC 6121 §4.6: remember who saw us, to tell them when we leave. */
        void *old = hashmap_get(&s->directed, to);
        if (!type && !old) {
            char *k = pl_strdup(to);
            hashmap_put(&s->directed, k, k);
        } else if (type && old) {
            hashmap_del(&s->directed, to);
            free(old);
        }
    }
}

/* --- admin view (sm.h) ------------------------------------------------- */

void sm_foreach(struct server *srv, sm_session_fn fn, void *ud)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&srv->router->accounts, &i, &k, &v);) {
        struct account *acc = v;
        for (struct session *s = acc->sessions; s; s = s->next)
            fn(s->jid->full, c2s_peer(s->c2s), s->since, ud);
    }
}

size_t sm_count(const struct server *srv)
{
    return srv->router->nsessions;
}

size_t sm_kick(struct server *srv, const struct jid *jid, const char *condition,
               const char *text)
{
    struct account *acc = sm_account(srv, jid->bare);
    if (!acc)
        return 0;
    size_t n = 0;
    if (jid->resource) {
        struct session *s = sm_find(srv, jid);
        if (s) {
            c2s_close(s->c2s, condition, text);
            n = 1;
        }
        return n;
    }
    /* c2s_close unbinds, which may free the account: count first. */
    n = acc->nsessions;
    while ((acc = sm_account(srv, jid->bare)) && acc->sessions)
        c2s_close(acc->sessions->c2s, condition, text);
    return n;
}

/* --- account deletion (sm.h) ---------------------------------------------- */

struct acct_delete {
    struct server *srv;
    char *user;
    char *host;
    store_cb cb;
    void *ud;
};

static void run_account_hook(struct server *srv, enum hook_id id, const char *user,
                             const char *host)
{
    char bare[2 * JID_PART_MAX + 2];
    snprintf(bare, sizeof(bare), "%s@%s", user, host);
    struct hook_event ev = { .srv = srv, .host = host, .user = bare };
    hooks_run(&srv->router->hooks, id, &ev);
}

static void account_deleted(const struct store_result *res, void *ud)
{
    struct acct_delete *d = ud;
    /* Also while stopping: modules are loaded until storage is closed,
     * and what they cache for the account must go with it. */
    if (res->status == STORE_OK && d->srv->router)
        run_account_hook(d->srv, HOOK_ACCOUNT_DELETED, d->user, d->host);
    d->cb(res, d->ud);
    free(d->user);
    free(d->host);
    free(d);
}

void sm_account_delete(struct server *srv, const char *user, const char *host,
                       store_cb cb, void *ud)
{
    struct acct_delete *d = pl_malloc(sizeof(*d));
    d->srv = srv;
    d->user = pl_strdup(user);
    d->host = pl_strdup(host);
    d->cb = cb;
    d->ud = ud;
    run_account_hook(srv, HOOK_ACCOUNT_DELETING, user, host);
    store_account_delete(srv->store, user, host, account_deleted, d);
}
