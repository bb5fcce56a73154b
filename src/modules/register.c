/*
 * register.c - In-band registration (XEP-0077), per host:
 *
 *   before authentication, only with allow_new (XEP-0077 §11: a policy
 *   matter; off by default):
 *     - the stream feature (§8) next to the SASL mechanisms;
 *     - the fields (§3.1 get) and account creation (§3.1 set, §3.1.1),
 *       limited per source address;
 *   after authentication, whenever the module is loaded:
 *     - <registered/> with the username (§3.1);
 *     - password change (§3.3): new SCRAM keys, other sessions go on;
 *     - cancellation (§3.2): the account and all its data are deleted, the
 *       result is sent, then every session of the account is closed with
 *       <not-authorized/>;
 *   and the disco feature (§10).
 *
 * Passwords become SCRAM keys exactly as with the admin 'register' command
 * (sasl_creds_derive with auth.scram_iterations rounds); PBKDF2 runs on the
 * storage worker through store_work() so that the loop never blocks
 * (ARCHITECTURE.md principle 1).  Query parsing and the checks on usernames
 * and passwords live in register_form.c.
 *
 * Asynchronous jobs never point at the module instance: a reload frees it
 * while a job may still wait for storage.  They share the instance's
 * state (rate limiter, jobs in flight) by reference count instead.
 * Pre-authentication jobs keep their stream with c2s_hold();
 * post-authentication ones reach sessions only through the router when
 * they complete.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/acl.h"
#include "core/conf.h"
#include "core/hashmap.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "modules/register_form.h"
#include "net/ratelimit.h"
#include "router/sm.h"
#include "storage/store.h"
#include "stream/c2s.h"
#include "stream/sasl/sasl.h"
#include "xml/xml.h"

struct register_conf {
    bool allow_new;             /* in-band account creation before login */
    unsigned min_password_length;   /* code points, after SASLprep */
    unsigned max_per_address;   /* creation attempts per window, 0 = no limit */
    unsigned per_address_window;    /* seconds */
};

/* Key derivations one peer may have queued at once.  PBKDF2 runs on the
 * storage worker, so a peer that pipelines requests would otherwise delay
 * every storage request of the server: creations are bounded per source
 * address (on top of the rate limit, which may be off), password changes
 * and removals per account (one at a time also keeps a change and a
 * removal of one account from racing). */
#define MAX_CREATIONS_IN_FLIGHT 4
#define MAX_ACCOUNT_JOBS_IN_FLIGHT 1

/* Per host instance (m->data), shared with the jobs it started: a reload
 * unloads the instance while jobs may still wait for storage, so the
 * state is reference counted and outlives the instance if it must. */
struct register_state {
    int refs;                   /* the instance + one per job */
    struct ratelimit *creations;    /* creation attempts per source address;
                                       NULL when max_per_address is 0.  Lost
                                       on reload, like the module. */
    struct hashmap inflight;    /* "a:ADDRESS" or "u:BARE" -> struct inflight */
};

struct inflight {
    unsigned n;                 /* jobs holding this key */
    char key[];                 /* the map's key lives here */
};

static void state_unref(struct register_state *rs)
{
    PL_ASSERT(rs->refs > 0);
    if (--rs->refs > 0)
        return;
    PL_ASSERT(rs->inflight.count == 0);
    hashmap_release(&rs->inflight);
    ratelimit_free(rs->creations);
    free(rs);
}

/* Takes one of at most 'max' slots of key; false when all are taken. */
static bool inflight_take(struct register_state *rs, const char *key, unsigned max)
{
    struct inflight *f = hashmap_get(&rs->inflight, key);
    if (f && f->n >= max)
        return false;
    if (!f) {
        size_t len = strlen(key) + 1;
        f = pl_calloc(1, sizeof(*f) + len);
        memcpy(f->key, key, len);
        hashmap_put(&rs->inflight, f->key, f);
    }
    f->n++;
    return true;
}

static void inflight_release(struct register_state *rs, const char *key)
{
    struct inflight *f = hashmap_get(&rs->inflight, key);
    PL_ASSERT(f && f->n > 0);
    if (--f->n == 0) {
        hashmap_del(&rs->inflight, key);
        free(f);
    }
}

/* --- replies ------------------------------------------------------------- */

/* An error reply to req (RFC 6120 §8.3) with to/from swapped.  Unlike
 * router_bounce() it does not echo the request: XEP-0077 §3.3 says not to
 * send a password back, and a creation request carries one too. */
static struct stanza *error_reply(const struct stanza *req, const char *type,
                                  const char *cond, const char *text)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "iq");
    struct arena *a = st->arena;
    const char *from = xml_attr(req->root, "from");
    const char *to = xml_attr(req->root, "to");
    const char *id = xml_attr(req->root, "id");
    if (from)
        xml_set_attr(a, st->root, "to", from);
    if (to)
        xml_set_attr(a, st->root, "from", to);
    if (id)
        xml_set_attr(a, st->root, "id", id);
    xml_set_attr(a, st->root, "type", "error");
    struct xml_node *e = xml_add_child(a, st->root, XML_NS_CLIENT, "error");
    xml_set_attr(a, e, "type", type);
    xml_add_child(a, e, NS_STANZAS, cond);
    if (text)
        xml_set_attr(a, xml_add_text_child(a, e, NS_STANZAS, "text", text), "xml:lang", "en");
    return st;
}

/* Before authentication the reply goes back on the stream itself: the
 * client has no address yet (c2s removed 'from'). */
static void preauth_error(struct c2s *c, const struct stanza *req, const char *type,
                          const char *cond, const char *text)
{
    struct stanza *st = error_reply(req, type, cond, text);
    c2s_send(c, st);
    stanza_unref(st);
}

static void routed_error(struct server *srv, const struct stanza *req, const char *type,
                         const char *cond, const char *text)
{
    struct stanza *st = error_reply(req, type, cond, text);
    router_route(srv, st);
    stanza_unref(st);
}

/* --- key derivation and storage jobs -------------------------------------- */

enum job_kind {
    JOB_CREATE,                 /* pre-auth account creation (§3.1) */
    JOB_CHANGE,                 /* password change (§3.3) */
    JOB_REMOVE,                 /* cancellation (§3.2) */
};

struct reg_job {
    enum job_kind kind;
    struct server *srv;
    struct register_state *rs;  /* referenced until the end */
    char *inflight_key;         /* the slot this job holds in rs->inflight */
    struct c2s *c;              /* JOB_CREATE: held (c2s_hold) until the end */
    struct stanza *req;         /* referenced and held (principle 5) */
    char *password;             /* wiped once derived; NULL for JOB_REMOVE */
    char *creds;                /* sasl_creds_encode() output, wiped at the end */
    unsigned iterations;
    char user[JID_PART_MAX + 1];    /* prepared localpart */
    char host[JID_PART_MAX + 1];
};

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* A job, or NULL when the peer already has as many in flight as it may
 * (inflight_key names the peer: its address or its account). */
static struct reg_job *job_new(enum job_kind kind, struct server *srv,
                               struct register_state *rs, const char *inflight_key,
                               struct c2s *c, struct stanza *req, const char *user,
                               const char *host)
{
    unsigned max = kind == JOB_CREATE ? MAX_CREATIONS_IN_FLIGHT : MAX_ACCOUNT_JOBS_IN_FLIGHT;
    if (!inflight_take(rs, inflight_key, max))
        return NULL;
    struct reg_job *j = pl_calloc(1, sizeof(*j));
    j->kind = kind;
    j->srv = srv;
    j->rs = rs;
    rs->refs++;
    j->inflight_key = pl_strdup(inflight_key);
    j->c = c;
    if (c)
        c2s_hold(c);
    j->req = stanza_ref(req);
    stanza_hold(req);
    snprintf(j->user, sizeof(j->user), "%s", user);
    snprintf(j->host, sizeof(j->host), "%s", host);
    j->iterations = srv->conf->auth.scram_iterations;
    return j;
}

static void job_free(struct reg_job *j)
{
    stanza_unhold(j->req);
    stanza_unref(j->req);
    if (j->c)
        c2s_release(j->c);
    inflight_release(j->rs, j->inflight_key);
    free(j->inflight_key);
    state_unref(j->rs);
    wipe_free(j->password);
    wipe_free(j->creds);
    free(j);
}

/* Nobody is left to answer: the stream closed while we waited, or the
 * server is stopping (store_close() runs the last completions). */
static bool job_orphaned(const struct reg_job *j)
{
    if (j->c)
        return c2s_is_closing(j->c);
    return j->srv->stopping;
}

static void job_send(struct reg_job *j, struct stanza *st)
{
    if (j->c)
        c2s_send(j->c, st);
    else
        router_route(j->srv, st);
    stanza_unref(st);
}

static void job_error(struct reg_job *j, const char *type, const char *cond, const char *text)
{
    job_send(j, error_reply(j->req, type, cond, text));
}

static void job_result(struct reg_job *j)
{
    struct stanza *r;
    iq_reply_result(j->req, NULL, NULL, &r);
    job_send(j, r);
}

/* Worker thread: touches only the job. */
static void derive_work(void *ud)
{
    struct reg_job *j = ud;
    struct sasl_creds c;
    if (sasl_creds_derive(j->password, j->iterations, &c) == 0)
        j->creds = sasl_creds_encode(&c);
    explicit_bzero(&c, sizeof(c));
    explicit_bzero(j->password, strlen(j->password));
}

static void creds_stored(const struct store_result *res, void *ud)
{
    struct reg_job *j = ud;
    if (job_orphaned(j))
        goto out;
    switch (res->status) {
    case STORE_OK:
        if (j->kind == JOB_CREATE)
            log_info("register: created %s@%s in-band for %s", j->user, j->host,
                     c2s_peer(j->c));
        else
            log_info("register: %s@%s changed its password in-band", j->user, j->host);
        job_result(j);
        break;
    case STORE_EXISTS:
        /* §3.1: the username is taken. */
        job_error(j, "cancel", "conflict", "that username is already taken");
        break;
    case STORE_NOT_FOUND:
        /* The account was deleted while we derived its keys. */
        job_error(j, "auth", "registration-required", "the account no longer exists");
        break;
    default:
        log_error("register: storage failed (status %d) for %s@%s", res->status,
                  j->user, j->host);
        job_error(j, "wait", "internal-server-error", "the account store is unavailable");
        break;
    }
out:
    job_free(j);
}

/* Loop thread, after derive_work. */
static void derived(void *ud)
{
    struct reg_job *j = ud;
    if (job_orphaned(j)) {
        job_free(j);
        return;
    }
    if (!j->creds) {
        /* reg_check_password() ran SASLprep already: not expected. */
        job_error(j, "modify", "not-acceptable", "the password is not acceptable");
        job_free(j);
        return;
    }
    if (j->kind == JOB_CREATE)
        store_account_create(j->srv->store, j->user, j->host, j->creds, creds_stored, j);
    else
        store_account_set_creds(j->srv->store, j->user, j->host, j->creds, creds_stored, j);
}

static void start_derive(struct reg_job *j, const char *password)
{
    j->password = pl_strdup(password);
    store_work(j->srv->store, derive_work, derived, j);
}

static void removed(const struct store_result *res, void *ud)
{
    struct reg_job *j = ud;
    if (job_orphaned(j))
        goto out;
    if (res->status == STORE_NOT_FOUND) {
        job_error(j, "auth", "registration-required", "the account no longer exists");
        goto out;
    }
    if (res->status != STORE_OK) {
        log_error("register: storage failed (status %d) removing %s@%s", res->status,
                  j->user, j->host);
        job_error(j, "wait", "internal-server-error", "the account store is unavailable");
        goto out;
    }
    /* §3.2: the result first (it reaches the requesting session before its
     * stream error, both being queued on that stream in order), then the
     * account's sessions must not outlive it. */
    job_result(j);
    struct jid *bare = jid_make(j->user, j->host, NULL);
    size_t n = bare ? sm_kick(j->srv, bare, "not-authorized", "the account was removed") : 0;
    log_info("register: %s@%s removed its account in-band (%zu session%s closed)",
             j->user, j->host, n, n == 1 ? "" : "s");
    jid_free(bare);
out:
    job_free(j);
}

/* --- before authentication (§3.1, §3.1.1) -------------------------------- */

static bool is_type(const char *t, const char *v)
{
    return t && strcmp(t, v) == 0;
}

static void preauth_register(struct server *srv, struct c2s *c, struct stanza *req,
                             struct xml_node *payload, void *ud)
{
    const struct pl_module_ctx *m = ud;
    const struct register_conf *rc = m->conf;
    struct register_state *rs = m->data;
    const char *type = xml_attr(req->root, "type");

    if (is_type(type, "result") || is_type(type, "error")) {
        /* RFC 6120 §8.2.3: an answer is never answered, and we asked
         * nothing before authentication. */
        log_debug("register: ignoring a pre-auth IQ %s from %s", type, c2s_peer(c));
        return;
    }
    if (!is_type(type, "get") && !is_type(type, "set")) {
        preauth_error(c, req, "modify", "bad-request",
                      "an IQ needs a type of get, set, result or error");
        return;
    }
    if (!xml_attr(req->root, "id")) {
        preauth_error(c, req, "modify", "bad-request", "an IQ needs an 'id'");
        return;
    }
    if (xml_child_count(req->root) != 1) {
        preauth_error(c, req, "modify", "bad-request",
                      "an IQ get or set needs exactly one child element");
        return;
    }
    const char *to = xml_attr(req->root, "to");
    if (to) {
        /* Before authentication only this host's registration answers. */
        struct jid *tj = jid_parse(to);
        bool ours = tj && !tj->local && !tj->resource && strcmp(tj->domain, m->host) == 0;
        jid_free(tj);
        if (!ours) {
            preauth_error(c, req, "cancel", "service-unavailable",
                          "authenticate first to reach other addresses");
            return;
        }
    }
    if (!rc->allow_new) {
        /* XEP-0077 §3.2's table defines <not-allowed/> as "no sender is
         * allowed" to do this in-band: the policy (§11) says no. */
        preauth_error(c, req, "cancel", "not-allowed",
                      "in-band registration of new accounts is disabled on this server");
        return;
    }
    /* The operator's access rule "register", when defined, says from
     * where (core/acl.h: ip and server entries; there is no user yet). */
    const struct conf *cf = m->srv->conf;
    if (acl_rule_exists(&cf->acl, "register")) {
        struct acl_subject who = { .server = m->host, .ip = c2s_addr(c) };
        if (!acl_allowed(cf, "register", &who)) {
            preauth_error(c, req, "cancel", "not-allowed",
                          "in-band registration is not allowed from this address");
            return;
        }
    }
    struct reg_request r;
    struct reg_error err;
    if (reg_parse(req->arena, type, payload, &r, &err) < 0) {
        preauth_error(c, req, err.type, err.cond, err.text);
        return;
    }
    if (r.op == REG_OP_GET) {
        struct stanza *res;
        struct xml_node *q = iq_reply_result(req, NS_REGISTER, "query", &res);
        reg_fields(res->arena, q, NULL, rc->min_password_length);
        c2s_send(c, res);
        stanza_unref(res);
        return;
    }
    if (r.op == REG_OP_REMOVE) {
        /* §3.2's table: <unexpected-request/> when the entity is not
         * registered (it has not authenticated). */
        preauth_error(c, req, "cancel", "unexpected-request",
                      "log in first to remove your account");
        return;
    }
    char user[JID_PART_MAX + 1];
    if (reg_check_username(r.username, user, &err) < 0 ||
        reg_check_password(r.password, rc->min_password_length, &err) < 0) {
        preauth_error(c, req, err.type, err.cond, err.text);
        return;
    }
    if (rs->creations) {
        /* §3.1.1 lets a server refuse too many registrations.  Counting
         * attempts (not only successes) also bounds the PBKDF2 work a
         * peer can ask for.  RFC 6120 §8.3.3.18: the server will not
         * spend more on this sender now; 'wait' says it may retry. */
        time_t now = time(NULL);
        unsigned left = ratelimit_locked(rs->creations, c2s_addr(c), now);
        if (left) {
            char text[128];
            snprintf(text, sizeof(text),
                     "too many registrations from your address; try again in %u seconds",
                     left);
            log_notice("register: refusing a registration from %s (rate limit)",
                       c2s_peer(c));
            preauth_error(c, req, "wait", "resource-constraint", text);
            return;
        }
        ratelimit_fail(rs->creations, c2s_addr(c), now);
    }
    char key[80];
    snprintf(key, sizeof(key), "a:%s", c2s_addr(c));
    struct reg_job *j = job_new(JOB_CREATE, srv, rs, key, c, req, user, m->host);
    if (!j) {
        preauth_error(c, req, "wait", "resource-constraint",
                      "other registrations from your address are in progress; "
                      "wait for their answers");
        return;
    }
    start_derive(j, r.password);
}

/* --- after authentication (§3.1 registered, §3.2, §3.3) ------------------- */

/* Is the username a client sent for a password change its own?  The
 * §3.3 form example sends the bare JID, the legacy fields the localpart. */
static bool is_own_username(const char *name, const struct jid *self)
{
    if (strchr(name, '@')) {
        struct jid *j = jid_parse(name);
        bool own = j && !j->resource && j->local && strcmp(j->bare, self->bare) == 0;
        jid_free(j);
        return own;
    }
    char prepped[JID_PART_MAX + 1];
    return jid_prep_local(name, prepped) == 0 && strcmp(prepped, self->local) == 0;
}

/* A password change or removal of the sender's account, one at a time per
 * account; NULL (and the request answered) when one is under way. */
static struct reg_job *account_job(struct server *srv, const struct pl_module_ctx *m,
                                   struct stanza *req, enum job_kind kind,
                                   const struct jid *self)
{
    char *key = arena_printf(req->arena, "u:%s", self->bare);
    struct reg_job *j = job_new(kind, srv, m->data, key, NULL, req, self->local,
                                self->domain);
    if (!j)
        routed_error(srv, req, "wait", "resource-constraint",
                     "a change of this account is already in progress; "
                     "wait for its answer");
    return j;
}

static void change_password(struct server *srv, const struct pl_module_ctx *m,
                            struct stanza *req, const struct reg_request *r,
                            const struct jid *self)
{
    const struct register_conf *rc = m->conf;
    struct reg_error err;
    if (!r->password || !*r->password) {
        /* §3.3: an empty password MUST NOT replace the existing one. */
        routed_error(srv, req, "modify", "bad-request",
                     "a non-empty <password/> is required; the password is unchanged");
        return;
    }
    if (!r->username || !*r->username) {
        routed_error(srv, req, "modify", "bad-request",
                     "a password change must include your <username/> (XEP-0077 §3.3)");
        return;
    }
    if (!is_own_username(r->username, self)) {
        /* A second identity while logged in (§3.1.1), or someone else's. */
        routed_error(srv, req, "cancel", "not-allowed",
                     "you can only change your own password; register other "
                     "accounts before logging in");
        return;
    }
    if (reg_check_password(r->password, rc->min_password_length, &err) < 0) {
        routed_error(srv, req, err.type, err.cond, err.text);
        return;
    }
    struct reg_job *j = account_job(srv, m, req, JOB_CHANGE, self);
    if (j)
        start_derive(j, r->password);
}

static void account_register(struct server *srv, struct stanza *req,
                             struct xml_node *payload, void *ud)
{
    const struct pl_module_ctx *m = ud;
    const struct register_conf *rc = m->conf;
    const char *type = xml_attr(req->root, "type");
    const char *to = xml_attr(req->root, "to");
    struct jid *self = jid_parse(xml_attr(req->root, "from"));

    /* §3.2: the account is the one of the session the request came on;
     * it is addressed with no 'to' (the router hands those to IQ_TO_BARE
     * of the sender's domain), to the server (§3.3's example) or to the
     * account itself. */
    bool own = self && self->local && strcmp(self->domain, m->host) == 0;
    if (own && to) {
        struct jid *tj = jid_parse(to);
        own = tj && !tj->resource &&
              (tj->local ? strcmp(tj->bare, self->bare) == 0
                         : strcmp(tj->domain, self->domain) == 0);
        jid_free(tj);
    }
    if (!own) {
        routed_error(srv, req, "cancel", "forbidden",
                     "you can only manage your own account, on your own server");
        goto out;
    }
    struct reg_request r;
    struct reg_error err;
    if (reg_parse(req->arena, type, payload, &r, &err) < 0) {
        routed_error(srv, req, err.type, err.cond, err.text);
        goto out;
    }
    switch (r.op) {
    case REG_OP_GET: {
        struct stanza *res;
        struct xml_node *q = iq_reply_result(req, NS_REGISTER, "query", &res);
        reg_fields(res->arena, q, self->local, rc->min_password_length);
        router_route(srv, res);
        stanza_unref(res);
        break;
    }
    case REG_OP_REMOVE: {
        struct reg_job *j = account_job(srv, m, req, JOB_REMOVE, self);
        if (j)
            sm_account_delete(srv, j->user, j->host, removed, j);   /* hooks: sm.h */
        break;
    }
    case REG_OP_SUBMIT:
        change_password(srv, m, req, &r, self);
        break;
    }
out:
    jid_free(self);
}

/* --- module --------------------------------------------------------------- */

static int register_load(struct pl_module_ctx *m)
{
    const struct register_conf *rc = m->conf;
    struct register_state *rs = pl_calloc(1, sizeof(*rs));
    rs->refs = 1;
    hashmap_init(&rs->inflight);
    if (rc->max_per_address)
        rs->creations = ratelimit_new(rc->max_per_address, rc->per_address_window,
                                      rc->per_address_window);
    m->data = rs;

    /* Always taken, so that a disabled registration is refused with a
     * stanza error rather than c2s's "authenticate first" stream close. */
    pl_preauth_iq(m, NS_REGISTER, preauth_register);
    if (rc->allow_new)
        pl_stream_feature(m, SF_PREAUTH, "<register xmlns='" NS_REGISTER_FEAT "'/>");
    pl_iq_handle(m, IQ_TO_HOST, NS_REGISTER, account_register);
    pl_iq_handle(m, IQ_TO_BARE, NS_REGISTER, account_register);
    pl_disco_feature(m, IQ_TO_HOST, NS_REGISTER);
    return 0;
}

static void register_unload(struct pl_module_ctx *m)
{
    struct register_state *rs = m->data;
    if (!rs)
        return;
    m->data = NULL;
    state_unref(rs);            /* jobs still waiting keep it alive */
}

static const struct conf_option register_options[] = {
    { "allow_new", CONF_BOOL, offsetof(struct register_conf, allow_new), "false", 0, 0,
      NULL, 0,
      "let anyone create an account in-band before logging in (XEP-0077 §3.1); "
      "password change and account removal by logged-in users work either way" },
    { "min_password_length", CONF_UINT,
      offsetof(struct register_conf, min_password_length), "8", 1, 1023, NULL, 0,
      "shortest password, in characters, accepted for a new account or a password change" },
    { "max_per_address", CONF_UINT, offsetof(struct register_conf, max_per_address),
      "5", 0, 1000000, NULL, 0,
      "account creations one source address may attempt within per_address_window, "
      "refused ones included (further ones get <resource-constraint/> until the "
      "window ends; counts restart on reload); 0 = no limit" },
    { "per_address_window", CONF_SECONDS,
      offsetof(struct register_conf, per_address_window), "1h", 1, 604800, NULL, 0,
      "the window of max_per_address, e.g. 1h: '5 per hour' is max_per_address 5, "
      "per_address_window 1h" },
    CONF_END
};

const struct pl_module pl_module_register = {
    .name = "register",
    .doc = "In-band registration (XEP-0077): account creation (off by default), "
           "password change and account removal.",
    .conf_size = sizeof(struct register_conf),
    .options = register_options,
    .load = register_load,
    .unload = register_unload,
};
