/*
 * commands_ban.c - account moderation (issue 5): the ban_account,
 * unban_account, get_ban_details and announce commands of the registry,
 * ban_check() for the login path, and the ban cache that lets a
 * HOOK_STANZA_IN handler bounce messages to banned accounts.
 *
 * The record format (ban.h, ban.c) is stored in the account's private XML
 * storage; ban/unban write it and complete only once it is committed.  A
 * ban then closes every session of the account with a <policy-violation/>
 * stream error carrying the reason (RFC 6120 §4.9.3.14: the condition for
 * "an administrator decided"); later logins fail at SASL with
 * <account-disabled/> (RFC 6120 §6.5.1), reported by the c2s code only
 * after the credentials were verified (ban_check()).  Unban rewrites the
 * record as "lifted", keeping the lifted ban's reason as history; the
 * password was never touched, so the old one works again.
 *
 * Audit log: every ban and unban is logged at notice level with the fixed
 * prefix "audit: " (account, origin of the command, reason), so operators
 * can grep or route those lines; the registry's own info line records
 * every call, successful or not.
 *
 * Messages to a banned account are bounced with <service-unavailable/>
 * (the same answer as for an account that cannot receive, RFC 6121
 * §8.5.2.2.1; the ban is not disclosed).  Presence and IQs are left to the
 * normal rules: the account's roster and data stay as they were.  A
 * deleted account's cache entry is forgotten (HOOK_ACCOUNT_DELETED): the
 * record was deleted with it.
 */
#include "admin/ban.h"
#include "admin/command.h"
#include "admin/commands_ext.h"
#include "core/conf.h"
#include "core/hashmap.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "core/utf8.h"
#include "modules/xmldoc.h"
#include "router/hook.h"
#include "router/router.h"
#include "router/sm.h"
#include "storage/store.h"
#include "xml/xml.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* mod_last's row (modules/last.c): "<unix seconds>\n<status>". */
#define LAST_KV_AREA "last"
#define LAST_KV_KEY  "last"
/* An announcement is one message body: bounded like a large stanza. */
#define ANNOUNCE_MAX 16384
/* Accounts whose ban state the cache keeps per host; when full, entries
 * no stanza waits on are dropped (they are read again when needed). */
#define BAN_CACHE_MAX 4096
/* Hook priority: before blocking (PRIO_BLOCKING), archiving and offline
 * storage, so a message to a banned account is neither archived nor
 * stored before it is refused. */
#define PRIO_BAN 5

/* --- reading a record ------------------------------------------------------ */

enum rec_status {
    REC_NONE,                   /* no record stored */
    REC_OK,                     /* a verified record */
    REC_INVALID,                /* a record that failed verification: ignored */
    REC_ERROR,                  /* storage failure */
};

typedef void (*record_cb)(struct server *srv, enum rec_status st,
                          const struct ban_record *rec, void *ud);

struct record_read {
    struct server *srv;
    char *bare;
    record_cb cb;
    void *ud;
};

static void record_read_done(const struct store_result *res, void *ud)
{
    struct record_read *rr = ud;
    struct ban_record rec = { 0 };
    enum rec_status st = REC_NONE;
    if (res->status == STORE_OK) {
        struct stanza *doc = xmldoc_decode(res->value, res->value_len);
        enum ban_decode_status ds =
            doc ? ban_record_from_xml(doc->root, rr->bare, rr->srv->secret, &rec)
                : BAN_E_MALFORMED;
        if (doc)
            stanza_unref(doc);
        if (ds == BAN_OK) {
            st = REC_OK;
        } else {
            /* Someone wrote the row behind the server's back, or the
             * secret changed: the record proves nothing. */
            log_warn("ban: ignoring the ban record of %s: %s", rr->bare,
                     ds == BAN_E_MAC ? "its HMAC does not verify" : "it is malformed");
            st = REC_INVALID;
        }
    } else if (res->status != STORE_NOT_FOUND) {
        log_error("ban: cannot read the ban record of %s (status %d)", rr->bare,
                  res->status);
        st = REC_ERROR;
    }
    rr->cb(rr->srv, st, st == REC_OK ? &rec : NULL, rr->ud);
    ban_record_release(&rec);
    free(rr->bare);
    free(rr);
}

/* user/host prepared.  cb runs later, exactly once. */
static void read_record(struct server *srv, const char *user, const char *host,
                        record_cb cb, void *ud)
{
    struct record_read *rr = pl_malloc(sizeof(*rr));
    rr->srv = srv;
    size_t n = strlen(user) + strlen(host) + 2;
    rr->bare = pl_malloc(n);
    snprintf(rr->bare, n, "%s@%s", user, host);
    rr->cb = cb;
    rr->ud = ud;
    store_kv_get(srv->store, user, host, BAN_KV_AREA, BAN_KV_KEY, record_read_done, rr);
}

/* --- ban_check ------------------------------------------------------------- */

struct check {
    ban_check_cb cb;
    void *ud;
};

static void check_done(struct server *srv, enum rec_status st,
                       const struct ban_record *rec, void *ud)
{
    struct check *c = ud;
    bool banned = st == REC_OK && rec->banned;
    c->cb(c->ud, banned, banned ? (rec->reason ? rec->reason : "") : NULL);
    free(c);
}

void ban_check(struct server *srv, const char *user, const char *host,
               ban_check_cb cb, void *ud)
{
    struct check *c = pl_malloc(sizeof(*c));
    c->cb = cb;
    c->ud = ud;
    read_record(srv, user, host, check_done, c);
}

/* --- the cache (enforcement on stanzas) ------------------------------------- */

enum entry_state {
    ENTRY_LOADING,              /* a read is in flight; stanzas wait */
    ENTRY_BANNED,
    ENTRY_CLEAR,
};

struct waiter {
    struct waiter *next;
    struct stanza *st;          /* referenced and held */
};

struct entry {
    enum entry_state state;
    bool forget;                /* LOADING, and the account was deleted
                                   meanwhile: dropped once the read is in */
    struct waiter *waiters;     /* LOADING only */
    char bare[];                /* the map key */
};

struct ban_cache {
    struct server *srv;
    char *host;
    unsigned refs;              /* the owner, plus one per read in flight */
    bool dead;                  /* the owner freed it: reads only release */
    struct hashmap entries;     /* bare JID -> struct entry */
};

struct ban_cache *ban_cache_new(struct server *srv, const char *host)
{
    struct ban_cache *bc = pl_calloc(1, sizeof(*bc));
    bc->srv = srv;
    bc->host = pl_strdup(host);
    bc->refs = 1;
    hashmap_init(&bc->entries);
    return bc;
}

static void cache_unref(struct ban_cache *bc)
{
    if (--bc->refs > 0)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&bc->entries, &i, &k, &v);)
        free(v);                /* no waiters: reads in flight held refs */
    hashmap_release(&bc->entries);
    free(bc->host);
    free(bc);
}

void ban_cache_free(struct ban_cache *bc)
{
    if (!bc)
        return;
    bc->dead = true;
    cache_unref(bc);
}

/* Routes or bounces a stanza that waited, and releases it and the
 * recipient's gate it held (router.h).  Also while the server stops: this
 * runs from a storage completion, so storage is still open (server.c
 * drains it before store_close()) and the message reaches its recipient,
 * the offline store or a bounce, never nothing. */
static void waiter_finish(struct server *srv, struct waiter *w, bool banned,
                          const char *bare)
{
    if (banned)
        router_bounce(srv, w->st, "cancel", "service-unavailable",
                      "the recipient cannot receive messages");
    else
        router_resume(srv, w->st);  /* the hooks run again and find the state */
    router_gate_release(srv, bare);
    stanza_unhold(w->st);
    stanza_unref(w->st);
    free(w);
}

/* Drops every entry no stanza waits on, to bound the map. */
static void cache_trim(struct ban_cache *bc)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&bc->entries, &i, &k, &v);) {
        struct entry *e = v;
        if (e->state != ENTRY_LOADING) {
            hashmap_del(&bc->entries, k);
            free(e);
        }
    }
}

static void cache_read_done_bare(struct ban_cache *bc, const char *bare, bool banned)
{
    struct entry *e = hashmap_get(&bc->entries, bare);
    if (!e || e->state != ENTRY_LOADING)
        return;
    struct waiter *w = e->waiters;
    e->waiters = NULL;
    e->state = banned ? ENTRY_BANNED : ENTRY_CLEAR;
    if (e->forget) {
        /* The record read was the deleted account's: the waiters (sent
         * before the deletion) get its answer, nothing later does. */
        hashmap_del(&bc->entries, bare);
        free(e);
    }
    while (w) {
        struct waiter *next = w->next;
        waiter_finish(bc->srv, w, banned, bare);
        w = next;
    }
}

/* The read carries the bare JID through read_record(): the completion
 * finds the entry again by it. */
struct cache_req {
    struct ban_cache *bc;       /* referenced */
    char *bare;
};

static void cache_read_done(struct server *srv, enum rec_status st,
                            const struct ban_record *rec, void *ud)
{
    struct cache_req *cr = ud;
    struct ban_cache *bc = cr->bc;
    bool banned = st == REC_OK && rec->banned;
    /* Also when the owner is gone (a reload): the waiters hold their
     * stanzas and the recipients' gates, and the answer is known. */
    cache_read_done_bare(bc, cr->bare, banned);
    free(cr->bare);
    free(cr);
    cache_unref(bc);
}

static bool is_message(const struct stanza *st)
{
    return strcmp(st->root->name, "message") == 0;
}

void ban_cache_forget(struct ban_cache *bc, const char *bare)
{
    struct entry *e = hashmap_get(&bc->entries, bare);
    if (!e)
        return;
    if (e->state == ENTRY_LOADING) {
        e->forget = true;
        return;
    }
    hashmap_del(&bc->entries, bare);
    free(e);
}

int ban_cache_stanza_in(struct ban_cache *bc, struct hook_event *ev)
{
    struct stanza *st = ev->stanza;
    if (!st || !ev->user || !is_message(st))
        return HOOK_CONTINUE;
    struct entry *e = hashmap_get(&bc->entries, ev->user);
    if (e && e->state == ENTRY_CLEAR)
        return HOOK_CONTINUE;
    if (e && e->state == ENTRY_BANNED) {
        router_bounce(ev->srv, st, "cancel", "service-unavailable",
                      "the recipient cannot receive messages");
        return HOOK_HANDLED;
    }
    struct jid *j = jid_parse(ev->user);
    if (!j || !j->local) {
        jid_free(j);
        return HOOK_CONTINUE;
    }
    struct waiter *w = pl_malloc(sizeof(*w));
    w->st = stanza_ref(st);
    stanza_hold(st);            /* ARCHITECTURE.md principle 5 */
    w->next = NULL;
    /* Later stanzas to the user wait in the router (RFC 6120 §10.1). */
    router_gate_hold(ev->srv, ev->user);
    if (e) {
        struct waiter **tail = &e->waiters;
        while (*tail)
            tail = &(*tail)->next;
        *tail = w;
        jid_free(j);
        return HOOK_HANDLED;
    }
    if (bc->entries.count >= BAN_CACHE_MAX)
        cache_trim(bc);
    size_t n = strlen(ev->user) + 1;
    e = pl_malloc(sizeof(*e) + n);
    memcpy(e->bare, ev->user, n);
    e->state = ENTRY_LOADING;
    e->forget = false;
    e->waiters = w;
    hashmap_put(&bc->entries, e->bare, e);
    struct cache_req *cr = pl_malloc(sizeof(*cr));
    cr->bc = bc;
    bc->refs++;
    cr->bare = pl_strdup(ev->user);
    read_record(ev->srv, j->local, j->domain, cache_read_done, cr);
    jid_free(j);
    return HOOK_HANDLED;
}

/* ban/unban committed: the cache (if the enforcing module runs on host)
 * learns it.  An entry still loading was read after the write was
 * submitted (completions come in submission order) and will see it. */
static void cache_note(struct server *srv, const char *host, const char *bare, bool banned)
{
    struct ban_cache *bc = ban_cache_of(srv, host);
    if (!bc)
        return;
    struct entry *e = hashmap_get(&bc->entries, bare);
    if (e && e->state != ENTRY_LOADING)
        e->state = banned ? ENTRY_BANNED : ENTRY_CLEAR;
}

/* --- ban_account / unban_account ------------------------------------------ */

struct ban_job {
    struct cmd_call *call;      /* borrowed until we reply */
    char *bare;
    struct ban_record rec;      /* what is written */
    bool lift;                  /* unban */
};

static void ban_job_free(struct ban_job *job)
{
    ban_record_release(&job->rec);
    free(job->bare);
    free(job);
}

static const char *origin_of(const struct cmd_call *call)
{
    return call->origin ? call->origin : "unknown";
}

static void written(const struct store_result *res, void *ud)
{
    struct ban_job *job = ud;
    struct cmd_call *call = job->call;
    struct server *srv = call->srv;
    const char *host = call->argv[1];

    if (res->status == STORE_NOT_FOUND) {
        cmd_reply_error(call, CMD_E_NOT_FOUND, "user %s does not exist", job->bare);
        goto out;
    }
    if (res->status != STORE_OK) {
        cmd_reply_error(call, CMD_E_INTERNAL,
                        "storage error (status %d): see the server log", res->status);
        goto out;
    }
    struct buf q = BUF_INIT;
    cmd_quote(&q, job->rec.reason ? job->rec.reason : "");
    if (job->lift) {
        log_notice("audit: unban_account %s by %s", job->bare, origin_of(call));
    } else {
        log_notice("audit: ban_account %s by %s: reason '%s'", job->bare,
                   origin_of(call), q.data);
    }
    buf_release(&q);
    /* Also while stopping: messages still routed while storage drains
     * must find the committed state (only sessions are gone by then). */
    cache_note(srv, host, job->bare, !job->lift);
    if (job->lift) {
        cmd_reply_ok(call);
        goto out;
    }
    size_t n = 0;
    struct jid *bare = srv->stopping ? NULL : jid_parse(job->bare);
    if (bare) {
        n = sm_kick(srv, bare, "policy-violation", job->rec.reason ? job->rec.reason : "");
        jid_free(bare);
    }
    cmd_reply_text(call, "banned %s; closed %zu session%s", job->bare, n, n == 1 ? "" : "s");
out:
    ban_job_free(job);
}

static void write_record(struct ban_job *job)
{
    struct cmd_call *call = job->call;
    struct arena *a = arena_new(1024);
    struct buf v = BUF_INIT;
    xmldoc_encode(ban_record_to_xml(a, &job->rec, job->bare, call->srv->secret), &v);
    store_kv_set(call->srv->store, call->argv[0], call->argv[1], BAN_KV_AREA, BAN_KV_KEY,
                 v.data, v.len, written, job);
    buf_release(&v);
    arena_free(a);
}

/* mod_last's row: when the account's last session ended. */
static void last_read(const struct store_result *res, void *ud)
{
    struct ban_job *job = ud;
    if (res->status == STORE_OK) {
        long long t = strtoll(res->value, NULL, 10);
        if (t > 0)
            job->rec.last_activity = t;
    }
    write_record(job);
}

static void ban_old_read(struct server *srv, enum rec_status st,
                         const struct ban_record *old, void *ud)
{
    struct ban_job *job = ud;
    struct cmd_call *call = job->call;
    if (st == REC_ERROR) {
        cmd_reply_error(call, CMD_E_INTERNAL, "storage error: see the server log");
        ban_job_free(job);
        return;
    }
    if (job->lift) {
        if (st != REC_OK || !old->banned) {
            cmd_reply_error(call, CMD_E_NOT_FOUND, "%s is not banned%s", job->bare,
                            st == REC_INVALID ? " (a ban record that failed "
                                                "verification was ignored: see the log)"
                                              : "");
            ban_job_free(job);
            return;
        }
        /* Lifted: the reason becomes history, the activity date stays. */
        job->rec.banned = false;
        job->rec.last_activity = old->last_activity;
        job->rec.last_reason = old->reason ? pl_strdup(old->reason) : NULL;
        write_record(job);
        return;
    }
    /* History: a ban replacing a ban keeps the replaced reason; else the
     * previous ban's reason stays. */
    if (st == REC_OK) {
        const char *prev = old->banned ? old->reason : old->last_reason;
        job->rec.last_reason = prev ? pl_strdup(prev) : NULL;
    }
    const struct account *acc = sm_account(srv, job->bare);
    if (acc && acc->nsessions) {
        job->rec.last_activity = job->rec.since;    /* active right now */
        write_record(job);
        return;
    }
    store_kv_get(srv->store, call->argv[0], call->argv[1], LAST_KV_AREA, LAST_KV_KEY,
                 last_read, job);
}

/* A reason is shown in stream errors and SASL failures: it must be text
 * XML can carry. */
static bool reason_ok(struct cmd_call *call, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        cmd_reply_error(call, CMD_E_USAGE, "argument '%s': longer than %zu bytes",
                        call->cmd->args[call->cmd->nargs - 1].name, max);
        return false;
    }
    bool ctl = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            ctl = true;
    }
    if (ctl || !utf8_valid(s, n)) {
        cmd_reply_error(call, CMD_E_USAGE,
                        "argument '%s': must be UTF-8 text without control characters",
                        call->cmd->args[call->cmd->nargs - 1].name);
        return false;
    }
    return true;
}

static struct ban_job *job_new(struct cmd_call *call, bool lift)
{
    struct ban_job *job = pl_calloc(1, sizeof(*job));
    job->call = call;
    job->lift = lift;
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s@%s", call->argv[0], call->argv[1]);
    job->bare = buf_detach(&b);
    return job;
}

static void run_ban_account(struct cmd_call *call)
{
    if (!reason_ok(call, call->argv[2], BAN_REASON_MAX))
        return;
    struct ban_job *job = job_new(call, false);
    job->rec.banned = true;
    job->rec.reason = *call->argv[2] ? pl_strdup(call->argv[2]) : NULL;
    job->rec.since = (long long)time(NULL);
    read_record(call->srv, call->argv[0], call->argv[1], ban_old_read, job);
}

static void run_unban_account(struct cmd_call *call)
{
    read_record(call->srv, call->argv[0], call->argv[1], ban_old_read, job_new(call, true));
}

/* --- get_ban_details ------------------------------------------------------- */

static void details_read(struct server *srv, enum rec_status st,
                         const struct ban_record *rec, void *ud)
{
    struct cmd_call *call = ud;
    const char *user = call->argv[0], *host = call->argv[1];
    if (st == REC_ERROR) {
        cmd_reply_error(call, CMD_E_INTERNAL, "storage error: see the server log");
        return;
    }
    struct buf out = BUF_INIT;
    char t[32];
    if (st == REC_OK && rec->banned) {
        buf_printf(&out, "%s@%s is banned\nreason: %s", user, host,
                   rec->reason ? rec->reason : "");
        ban_time_format(rec->since, t);
        buf_printf(&out, "\nsince: %s", t);
    } else {
        buf_printf(&out, "%s@%s is not banned", user, host);
        if (st == REC_INVALID)
            buf_puts(&out, "\n(a ban record that failed verification was ignored: "
                           "see the server log)");
    }
    if (st == REC_OK && rec->last_activity) {
        ban_time_format(rec->last_activity, t);
        buf_printf(&out, "\nlast activity: %s", t);
    }
    if (st == REC_OK && rec->last_reason)
        buf_printf(&out, "\nlast reason: %s", rec->last_reason);
    cmd_reply_text(call, "%s", out.data);
    buf_release(&out);
}

static void details_account(const struct store_result *res, void *ud)
{
    struct cmd_call *call = ud;
    /* res->value holds credentials: never echoed. */
    if (res->status == STORE_NOT_FOUND) {
        cmd_reply_error(call, CMD_E_NOT_FOUND, "user %s@%s does not exist",
                        call->argv[0], call->argv[1]);
        return;
    }
    if (res->status != STORE_OK) {
        cmd_reply_error(call, CMD_E_INTERNAL,
                        "storage error (status %d): see the server log", res->status);
        return;
    }
    read_record(call->srv, call->argv[0], call->argv[1], details_read, call);
}

static void run_get_ban_details(struct cmd_call *call)
{
    store_account_get(call->srv->store, call->argv[0], call->argv[1], details_account, call);
}

/* --- announce -------------------------------------------------------------- */

struct announce_targets {
    const char *host;
    char **jids;
    size_t n, cap;
};

static void collect(const char *full_jid, const char *peer, time_t since, void *ud)
{
    struct announce_targets *t = ud;
    const char *at = strchr(full_jid, '@');
    const char *slash = strchr(full_jid, '/');
    if (!at || !slash || slash < at)
        return;
    size_t hl = strlen(t->host);
    if ((size_t)(slash - at - 1) != hl || strncmp(at + 1, t->host, hl) != 0)
        return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->jids = pl_realloc(t->jids, t->cap * sizeof(*t->jids));
    }
    t->jids[t->n++] = pl_strdup(full_jid);
}

static void run_announce(struct cmd_call *call)
{
    struct server *srv = call->srv;
    const char *host = call->argv[0], *text = call->argv[1];
    if (!reason_ok(call, text, ANNOUNCE_MAX))
        return;
    if (!*text) {
        cmd_reply_error(call, CMD_E_USAGE, "argument 'text': empty");
        return;
    }
    /* The JIDs first, then one lookup each: a delivery may close a
     * session (its output buffer full), which must not happen while the
     * directory is being walked. */
    struct announce_targets t = { host, NULL, 0, 0 };
    sm_foreach(srv, collect, &t);
    size_t sent = 0;
    for (size_t i = 0; i < t.n; i++) {
        struct jid *j = jid_parse(t.jids[i]);
        struct session *s = j ? sm_find(srv, j) : NULL;
        if (s) {
            /* A headline (RFC 6121 §5.2.2: "no reply is expected"), from
             * the server itself. */
            struct stanza *m = stanza_new(XML_NS_CLIENT, "message");
            xml_set_attr(m->arena, m->root, "from", host);
            xml_set_attr(m->arena, m->root, "to", j->full);
            xml_set_attr(m->arena, m->root, "type", "headline");
            xml_add_text_child(m->arena, m->root, NULL, "subject", "Announcement");
            xml_add_text_child(m->arena, m->root, NULL, "body", text);
            sm_deliver(srv, s, m);
            stanza_unref(m);
            sent++;
        }
        jid_free(j);
        free(t.jids[i]);
    }
    free(t.jids);
    log_notice("audit: announce to %s by %s: %zu session%s", host, origin_of(call), sent,
               sent == 1 ? "" : "s");
    cmd_reply_text(call, "sent to %zu session%s", sent, sent == 1 ? "" : "s");
}

/* --- the table rows ---------------------------------------------------------- */

static const struct cmd_arg args_ban[] = {
    { "user", CMD_ARG_USER, "the account's localpart", false },
    { "host", CMD_ARG_HOST, "a configured virtual host", false },
    { "reason", CMD_ARG_STRING, "why, shown to the user (at most 1024 bytes)", false },
};

static const struct cmd_arg args_user_host[] = {
    { "user", CMD_ARG_USER, "the account's localpart", false },
    { "host", CMD_ARG_HOST, "a configured virtual host", false },
};

static const struct cmd_arg args_announce[] = {
    { "host", CMD_ARG_HOST, "a configured virtual host", false },
    { "text", CMD_ARG_STRING, "the message body (at most 16384 bytes)", false },
};

const struct admin_command cmd_ban_account = {
    .name = "ban_account", .args = args_ban, .nargs = 3, .result = CMD_RESULT_TEXT,
    .doc = "Bans an account without touching its password or data. The ban is "
           "stored (with an HMAC) in the account's private storage, every "
           "session is closed with a `<policy-violation/>` stream error "
           "carrying the reason, later logins fail with `<account-disabled/>` "
           "and the reason (after a correct password only), and messages to "
           "the account are bounced with `<service-unavailable/>`. Banning a "
           "banned account replaces the reason. Logged with the prefix "
           "\"audit:\".",
    .example = "ban_account alice localhost \"spam\"", .run = run_ban_account,
};
const struct admin_command cmd_unban_account = {
    .name = "unban_account", .args = args_user_host, .nargs = 2, .result = CMD_RESULT_NONE,
    .doc = "Lifts a ban: the account logs in again with its unchanged "
           "password. The lifted ban's reason is kept as history (shown by "
           "get_ban_details as the last reason). Fails when the account is "
           "not banned. Logged with the prefix \"audit:\".",
    .example = "unban_account alice localhost", .run = run_unban_account,
};
const struct admin_command cmd_get_ban_details = {
    .name = "get_ban_details", .args = args_user_host, .nargs = 2, .result = CMD_RESULT_TEXT,
    .doc = "Shows whether an account is banned, with the reason, the ban date, "
           "the last activity before the ban and the previous ban's reason. A "
           "ban record whose HMAC does not verify is ignored (and logged).",
    .example = "get_ban_details alice localhost", .run = run_get_ban_details,
};
const struct admin_command cmd_announce = {
    .name = "announce", .args = args_announce, .nargs = 2, .result = CMD_RESULT_TEXT,
    .doc = "Sends a message to every online user of a host: a headline "
           "from the host to each bound session. Replies with the number of "
           "sessions reached.",
    .example = "announce localhost \"maintenance at 22:00\"", .run = run_announce,
};
