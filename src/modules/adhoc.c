/*
 * adhoc.c - Ad-Hoc Commands (XEP-0050) on the server's JID, carrying the
 * Service Administration commands of XEP-0133 over the one admin command
 * registry (admin/command.h, ARCHITECTURE.md principle 7), and the
 * enforcement of account bans on stanzas.
 *
 *   XEP-0050 §2.1  disco#info on the host lists the commands feature;
 *            §2.2  disco#items node='http://jabber.org/protocol/commands'
 *                  lists the commands (to admins; others get an empty
 *                  list); disco#info on a command node gives its identity;
 *            §2.4  execute -> form (status 'executing', a sessionid,
 *                  <actions execute='complete'><complete/></actions>) ->
 *                  submit -> 'completed'; a request that already carries
 *                  the submitted form completes at once; §2.4.3 cancel;
 *            §3.3  sessions belong to one requester (full JID) and node,
 *                  end at completion or cancel, expire after
 *                  SESSION_TTL; §3.6 a failed command completes with
 *                  <note type='error'/>; §4.4 errors: bad-action,
 *                  malformed-action, bad-sessionid, bad-payload (missing
 *                  or invalid fields), forbidden (not an admin),
 *                  item-not-found (unknown node).
 *   XEP-0133 §4.1 add-user, §4.2 delete-user, §4.3 disable-user (a ban:
 *                  ban_account, with an extra optional 'reason' field),
 *            §4.4 reenable-user (unban_account), §4.7 change-user-password,
 *            §4.15 get-online-users-num, §4.20 get-online-users-list,
 *            §4.23 announce.  §6: only admins, i.e. the access rule
 *                  "admin" (core/acl.h) allows the requester.
 *   Each command runs registry commands through cmd_dispatch() with origin
 *   "adhoc", so arguments are checked and logged exactly as for parleyctl.
 *
 * Disco: the commands node and each command's node are registered with
 * pl_disco_node(); disco.c hands queries about them here.
 *
 * Bans (admin/ban.h): a HOOK_STANZA_IN handler bounces messages to banned
 * accounts with <service-unavailable/>, from a per-host cache owned here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "admin/ban.h"
#include "admin/command.h"
#include "core/acl.h"
#include "core/conf.h"
#include "core/hashmap.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/modules.h"
#include "stream/c2s.h"
#include "xml/xml.h"

#define NS_COMMANDS     "http://jabber.org/protocol/commands"
#define NS_ADMIN        "http://jabber.org/protocol/admin"
#define NS_XDATA        "jabber:x:data"
#define NS_DISCO_INFO   "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS  "http://jabber.org/protocol/disco#items"
#define ADMIN_RULE      "admin"
/* Sessions waiting for their form: one admin's client open forms are few;
 * the bound keeps a misbehaving one from growing the map. */
#define MAX_SESSIONS    256
#define SESSION_TTL     600     /* seconds a form stays valid (§3.3) */
/* JIDs one delete/disable/reenable may name: each is one registry call. */
#define MAX_JIDS        50
#define MAX_FIELD_VALUE 16384   /* bytes of one submitted value */
#define DEFAULT_REASON  "disabled by an administrator"

/* --- the command table ----------------------------------------------------- */

struct form_field {
    const char *var;
    const char *type;           /* XEP-0004 §3.3 field type */
    const char *label;
    bool required;
};

enum adhoc_kind {
    K_ADD_USER, K_DELETE_USER, K_DISABLE_USER, K_REENABLE_USER,
    K_CHANGE_PASSWORD, K_ONLINE_NUM, K_ONLINE_LIST, K_ANNOUNCE,
};

struct adhoc_cmd {
    enum adhoc_kind kind;
    const char *node;
    const char *name;           /* disco item name and form title */
    const struct form_field *fields;    /* NULL: single stage, no form */
};

static const struct form_field f_add[] = {
    { "accountjid", "jid-single", "The Jabber ID for the account to be added", true },
    { "password", "text-private", "The password for this account", true },
    { "password-verify", "text-private", "Retype password", true },
    { NULL, NULL, NULL, false },
};
static const struct form_field f_jids[] = {
    { "accountjids", "jid-multi", "The Jabber ID(s)", true },
    { NULL, NULL, NULL, false },
};
static const struct form_field f_disable[] = {
    { "accountjids", "jid-multi", "The Jabber ID(s) to disable", true },
    { "reason", "text-single", "Reason, shown to the user", false },
    { NULL, NULL, NULL, false },
};
static const struct form_field f_password[] = {
    { "accountjid", "jid-single", "The Jabber ID for this account", true },
    { "password", "text-private", "The new password for this account", true },
    { NULL, NULL, NULL, false },
};
static const struct form_field f_list[] = {
    { "max_items", "list-single", "Maximum number of items to show", false },
    { NULL, NULL, NULL, false },
};
static const struct form_field f_announce[] = {
    { "announcement", "text-multi", "Announcement", true },
    { NULL, NULL, NULL, false },
};

static const struct adhoc_cmd commands[] = {
    { K_ADD_USER, NS_ADMIN "#add-user", "Add a User", f_add },
    { K_DELETE_USER, NS_ADMIN "#delete-user", "Delete a User", f_jids },
    { K_DISABLE_USER, NS_ADMIN "#disable-user", "Disable a User", f_disable },
    { K_REENABLE_USER, NS_ADMIN "#reenable-user", "Re-Enable a User", f_jids },
    { K_CHANGE_PASSWORD, NS_ADMIN "#change-user-password", "Change User Password", f_password },
    { K_ONLINE_NUM, NS_ADMIN "#get-online-users-num", "Get Number of Online Users", NULL },
    { K_ONLINE_LIST, NS_ADMIN "#get-online-users-list", "Get List of Online Users", f_list },
    { K_ANNOUNCE, NS_ADMIN "#announce", "Send Announcement to Online Users", f_announce },
};

static const struct adhoc_cmd *find_command(const char *node)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].node, node) == 0)
            return &commands[i];
    return NULL;
}

/* --- module state ------------------------------------------------------------ */

struct session_rec {
    const struct adhoc_cmd *cmd;
    char *requester;            /* full JID that started it */
    time_t expires;
    char id[];                  /* sessionid: the map key */
};

struct adhoc {
    struct pl_module_ctx *m;
    struct ban_cache *bans;
    struct hashmap sessions;    /* sessionid -> struct session_rec */
    unsigned long long next_session;
};

struct ban_cache *ban_cache_of(struct server *srv, const char *host)
{
    const struct pl_module_ctx *m = modules_instance(srv, host, "adhoc");
    return m && m->data ? ((struct adhoc *)m->data)->bans : NULL;
}

static void session_free(struct session_rec *s)
{
    free(s->requester);
    free(s);
}

static void sessions_expire(struct adhoc *ad, time_t now)
{
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&ad->sessions, &i, &k, &v);) {
        struct session_rec *s = v;
        if (s->expires <= now) {
            hashmap_del(&ad->sessions, k);
            session_free(s);
        }
    }
}

/* --- stanzas out ---------------------------------------------------------------- */

/* An IQ error with an XEP-0050 §4.4 specific condition (RFC 6120 §8.3.2:
 * defined condition, text, then the application condition). */
static void send_error(struct server *srv, const struct stanza *req, const char *type,
                       const char *cond, const char *app_cond, const char *text)
{
    if (!app_cond) {
        router_bounce(srv, req, type, cond, text);
        return;
    }
    struct stanza *e = stanza_copy(req);
    struct arena *a = e->arena;
    const char *from = xml_attr(req->root, "from"), *to = xml_attr(req->root, "to");
    xml_set_attr(a, e->root, "from", to);
    xml_set_attr(a, e->root, "to", from);
    xml_set_attr(a, e->root, "type", "error");
    struct xml_node *err = xml_add_child(a, e->root, XML_NS_CLIENT, "error");
    xml_set_attr(a, err, "type", type);
    xml_add_child(a, err, NS_STANZAS, cond);
    if (text)
        xml_add_text_child(a, err, NS_STANZAS, "text", text);
    xml_add_child(a, err, NS_COMMANDS, app_cond);
    router_route(srv, e);
    stanza_unref(e);
}

static struct xml_node *command_reply(const struct stanza *req, const struct adhoc_cmd *cmd,
                                      const char *sid, const char *status,
                                      struct stanza **out)
{
    struct xml_node *c = iq_reply_result(req, NS_COMMANDS, "command", out);
    struct arena *a = (*out)->arena;
    xml_set_attr(a, c, "node", cmd->node);
    xml_set_attr(a, c, "sessionid", sid);
    xml_set_attr(a, c, "status", status);
    return c;
}

static struct xml_node *add_field(struct arena *a, struct xml_node *x, const char *var,
                                  const char *type, const char *label)
{
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    if (type)
        xml_set_attr(a, f, "type", type);
    if (label)
        xml_set_attr(a, f, "label", label);
    xml_set_attr(a, f, "var", var);
    return f;
}

static void add_form_type(struct arena *a, struct xml_node *x)
{
    xml_add_text_child(a, add_field(a, x, "FORM_TYPE", "hidden", NULL), NULL, "value", NS_ADMIN);
}

/* The stage-1 form (XEP-0133 §4.x examples). */
static void add_form(struct arena *a, struct xml_node *c, const struct adhoc_cmd *cmd)
{
    struct xml_node *acts = xml_add_child(a, c, NULL, "actions");
    xml_set_attr(a, acts, "execute", "complete");
    xml_add_child(a, acts, NULL, "complete");
    struct xml_node *x = xml_add_child(a, c, NS_XDATA, "x");
    xml_set_attr(a, x, "type", "form");
    xml_add_text_child(a, x, NULL, "title", cmd->name);
    xml_add_text_child(a, x, NULL, "instructions", "Fill out this form to run the command.");
    add_form_type(a, x);
    for (const struct form_field *f = cmd->fields; f->var; f++) {
        struct xml_node *fl = add_field(a, x, f->var, f->type, f->label);
        if (f->required)
            xml_add_child(a, fl, NULL, "required");
        if (cmd->kind == K_ONLINE_LIST) {
            static const char *const opts[] = { "25", "50", "75", "100", "150", "200", "none" };
            for (size_t i = 0; i < PL_ARRAY_LEN(opts); i++) {
                struct xml_node *o = xml_add_child(a, fl, NULL, "option");
                xml_set_attr(a, o, "label", opts[i]);
                xml_add_text_child(a, o, NULL, "value", opts[i]);
            }
        }
    }
}

/* --- submitted forms ------------------------------------------------------------- */

/* The values of field 'var' (NULL-terminated array from arena a), or NULL
 * when the field is absent.  *n_out counts them; -1 in *n_out when the
 * field is repeated or a value is over-long. */
static const char **field_values(struct arena *a, const struct xml_node *x, const char *var,
                                 long *n_out)
{
    *n_out = 0;
    const struct xml_node *found = NULL;
    for (const struct xml_node *f = xml_child(x, NS_XDATA, "field"); f;
         f = xml_next(f, NS_XDATA, "field")) {
        const char *v = xml_attr(f, "var");
        if (v && strcmp(v, var) == 0) {
            if (found) {
                *n_out = -1;
                return NULL;
            }
            found = f;
        }
    }
    if (!found)
        return NULL;
    size_t n = 0;
    for (const struct xml_node *v = xml_child(found, NS_XDATA, "value"); v;
         v = xml_next(v, NS_XDATA, "value"))
        n++;
    const char **vals = arena_zalloc(a, (n + 1) * sizeof(*vals));
    size_t i = 0;
    for (const struct xml_node *v = xml_child(found, NS_XDATA, "value"); v;
         v = xml_next(v, NS_XDATA, "value")) {
        const char *t = xml_text(a, v);
        if (strlen(t) > MAX_FIELD_VALUE) {
            *n_out = -1;
            return NULL;
        }
        vals[i++] = t;
    }
    *n_out = (long)n;
    return vals;
}

/* The first value of a field, NULL when absent or empty. */
static const char *field_value(struct arena *a, const struct xml_node *x, const char *var,
                               bool *bad)
{
    long n;
    const char **v = field_values(a, x, var, &n);
    if (n < 0 || n > 1)
        *bad = true;
    return v && v[0] && *v[0] ? v[0] : NULL;
}

/* --- running registry commands ------------------------------------------------- */

struct planned {
    const char *cmd;            /* registry name */
    char *argv[3];
    size_t argc;
    char *subject;              /* the JID it concerns, for notes; or NULL */
};

struct exec {
    struct server *srv;
    char *host;                 /* copied: the instance may be unloaded
                                   (reload) while the calls run */
    struct stanza *req;         /* referenced and held */
    const struct adhoc_cmd *cmd;
    char *sid;
    struct planned *calls;
    size_t ncalls, next;
    bool in_dispatch, pending;
    struct buf errors;          /* notes for failures, one per line */
    struct buf infos;
    size_t failed;
    char **list;                /* connected_users result */
    size_t nlist;
    long max_items;             /* get-online-users-list: < 0 = none */
};

static void exec_next(struct exec *x);

static void exec_free(struct exec *x)
{
    for (size_t i = 0; i < x->ncalls; i++) {
        for (size_t j = 0; j < x->calls[i].argc; j++)
            free(x->calls[i].argv[j]);
        free(x->calls[i].subject);
    }
    free(x->calls);
    for (size_t i = 0; i < x->nlist; i++)
        free(x->list[i]);
    free(x->list);
    buf_release(&x->errors);
    buf_release(&x->infos);
    stanza_unhold(x->req);
    stanza_unref(x->req);
    free(x->sid);
    free(x->host);
    free(x);
}

static void call_done(struct cmd_call *call, enum cmd_status st, struct buf *out,
                      char **list, size_t nlist)
{
    struct exec *x = call->transport;
    const struct planned *p = &x->calls[x->next - 1];
    if (st != CMD_OK) {
        x->failed++;
        buf_printf(&x->errors, "%s%s%s%s", x->errors.len ? "\n" : "",
                   p->subject ? p->subject : "", p->subject ? ": " : "",
                   out && out->data ? out->data : "failed");
    } else if (out && out->data && out->len) {
        buf_printf(&x->infos, "%s%s", x->infos.len ? "\n" : "", out->data);
    }
    if (list) {
        x->list = pl_calloc(nlist + 1, sizeof(*x->list));
        for (size_t i = 0; i < nlist; i++)
            x->list[i] = pl_strdup(list[i]);
        x->nlist = nlist;
    }
    for (size_t i = 0; i < call->argc; i++)
        free(call->argv[i]);
    free(call->argv);
    free(call);
    x->pending = false;
    if (!x->in_dispatch)
        exec_next(x);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The online accounts of the host: bare JIDs, sorted and unique. */
static size_t online_bare(struct exec *x, char ***out)
{
    char **v = pl_calloc(x->nlist + 1, sizeof(*v));
    size_t n = 0, hl = strlen(x->host);
    for (size_t i = 0; i < x->nlist; i++) {
        const char *full = x->list[i];
        const char *at = strchr(full, '@');
        const char *slash = strchr(full, '/');
        if (!at || !slash || (size_t)(slash - at - 1) != hl ||
            strncmp(at + 1, x->host, hl) != 0)
            continue;
        v[n++] = pl_strndup(full, (size_t)(slash - full));
    }
    qsort(v, n, sizeof(*v), cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        if (u && strcmp(v[u - 1], v[i]) == 0)
            free(v[i]);
        else
            v[u++] = v[i];
    }
    *out = v;
    return u;
}

static void exec_finish(struct exec *x)
{
    struct server *srv = x->srv;
    if (srv->stopping)
        goto out;
    struct stanza *r;
    struct xml_node *c = command_reply(x->req, x->cmd, x->sid, "completed", &r);
    struct arena *a = r->arena;
    if (x->failed) {
        /* §3.6: completed, but failed: a note of type error. */
        xml_set_attr(a, xml_add_text_child(a, c, NULL, "note", x->errors.data), "type", "error");
    } else if (x->cmd->kind == K_ONLINE_NUM || x->cmd->kind == K_ONLINE_LIST) {
        char **bare;
        size_t n = online_bare(x, &bare);
        struct xml_node *form = xml_add_child(a, c, NS_XDATA, "x");
        xml_set_attr(a, form, "type", "result");
        add_form_type(a, form);
        if (x->cmd->kind == K_ONLINE_NUM) {
            struct xml_node *f = add_field(a, form, "onlineusersnum", NULL,
                                           "The number of online users");
            xml_add_text_child(a, f, NULL, "value", arena_printf(a, "%zu", n));
        } else {
            struct xml_node *f = add_field(a, form, "onlineuserjids", "jid-multi",
                                           "The list of all online users");
            for (size_t i = 0; i < n && (x->max_items < 0 || (long)i < x->max_items); i++)
                xml_add_text_child(a, f, NULL, "value", bare[i]);
        }
        for (size_t i = 0; i < n; i++)
            free(bare[i]);
        free(bare);
    } else {
        xml_set_attr(a, xml_add_text_child(a, c, NULL, "note",
                                           x->infos.len ? x->infos.data : "Done."),
                     "type", "info");
    }
    router_route(srv, r);
    stanza_unref(r);
out:
    exec_free(x);
}

static void exec_next(struct exec *x)
{
    while (x->next < x->ncalls && !x->srv->stopping) {
        struct planned *p = &x->calls[x->next++];
        const struct admin_command *cmd = cmd_find(p->cmd);
        PL_ASSERT(cmd);
        struct cmd_call *call = pl_calloc(1, sizeof(*call));
        call->srv = x->srv;
        call->cmd = cmd;
        call->argv = pl_calloc(p->argc + 1, sizeof(*call->argv));
        for (size_t i = 0; i < p->argc; i++)
            call->argv[i] = pl_strdup(p->argv[i]);
        call->argc = p->argc;
        call->origin = "adhoc";
        call->done = call_done;
        call->transport = x;
        x->pending = true;
        x->in_dispatch = true;
        cmd_dispatch(call);
        x->in_dispatch = false;
        if (x->pending)
            return;             /* call_done continues */
    }
    exec_finish(x);
}

static void plan(struct exec *x, const char *cmd, const char *subject, size_t argc,
                 const char *a0, const char *a1, const char *a2)
{
    x->calls = pl_realloc(x->calls, (x->ncalls + 1) * sizeof(*x->calls));
    struct planned *p = &x->calls[x->ncalls++];
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
    p->subject = subject ? pl_strdup(subject) : NULL;
    p->argc = argc;
    const char *args[3] = { a0, a1, a2 };
    for (size_t i = 0; i < argc; i++)
        p->argv[i] = pl_strdup(args[i]);
}

/* Parses an account JID field value: a bare JID of this host.  NULL with
 * *why set otherwise. */
static struct jid *account_jid(struct arena *a, const char *host, const char *v,
                               const char **why)
{
    struct jid *j = v ? jid_parse(v) : NULL;
    if (!j || !j->local || j->resource) {
        *why = arena_printf(a, "'%s' is not a bare account JID", v ? v : "");
        jid_free(j);
        return NULL;
    }
    if (strcmp(j->domain, host) != 0) {
        *why = arena_printf(a, "'%s' is not an account of %s", j->bare, host);
        jid_free(j);
        return NULL;
    }
    return j;
}

/* Turns the submitted form into registry calls.  NULL on success, else
 * the bad-payload text (XEP-0050 §4.4). */
static const char *build_calls(struct exec *x, struct arena *a, const struct xml_node *form)
{
    const char *why = NULL;
    bool bad = false;
    switch (x->cmd->kind) {
    case K_ADD_USER:
    case K_CHANGE_PASSWORD: {
        const char *jid = field_value(a, form, "accountjid", &bad);
        const char *pw = field_value(a, form, "password", &bad);
        if (bad)
            return "a field has more than one value";
        if (!jid || !pw)
            return "the fields 'accountjid' and 'password' are required";
        if (x->cmd->kind == K_ADD_USER) {
            const char *again = field_value(a, form, "password-verify", &bad);
            if (!again || strcmp(again, pw) != 0)
                return "the passwords do not match";
        }
        struct jid *j = account_jid(a, x->host, jid, &why);
        if (!j)
            return why;
        plan(x, x->cmd->kind == K_ADD_USER ? "register" : "change_password",
             arena_strdup(a, j->bare), 3, j->local, j->domain, pw);
        jid_free(j);
        return NULL;
    }
    case K_DELETE_USER:
    case K_DISABLE_USER:
    case K_REENABLE_USER: {
        long n;
        const char **jids = field_values(a, form, "accountjids", &n);
        if (n < 0)
            return "the field 'accountjids' is repeated or too long";
        if (!jids || n == 0)
            return "the field 'accountjids' is required";
        if (n > MAX_JIDS)
            return arena_printf(a, "at most %d JIDs at a time", MAX_JIDS);
        const char *reason = field_value(a, form, "reason", &bad);
        if (bad)
            return "the field 'reason' has more than one value";
        for (long i = 0; i < n; i++) {
            struct jid *j = account_jid(a, x->host, jids[i], &why);
            if (!j)
                return why;
            const char *subject = arena_strdup(a, j->bare);
            if (x->cmd->kind == K_DELETE_USER)
                plan(x, "unregister", subject, 2, j->local, j->domain, NULL);
            else if (x->cmd->kind == K_DISABLE_USER)
                plan(x, "ban_account", subject, 3, j->local, j->domain,
                     reason ? reason : DEFAULT_REASON);
            else
                plan(x, "unban_account", subject, 2, j->local, j->domain, NULL);
            jid_free(j);
        }
        return NULL;
    }
    case K_ONLINE_LIST: {
        const char *max = field_value(a, form, "max_items", &bad);
        x->max_items = -1;
        if (max && strcmp(max, "none") != 0) {
            char *end;
            long v = strtol(max, &end, 10);
            if (*end || v <= 0 || v > 100000)
                return "'max_items' must be a positive number or 'none'";
            x->max_items = v;
        }
        plan(x, "connected_users", NULL, 0, NULL, NULL, NULL);
        return NULL;
    }
    case K_ONLINE_NUM:
        plan(x, "connected_users", NULL, 0, NULL, NULL, NULL);
        return NULL;
    case K_ANNOUNCE: {
        long n;
        const char **lines = field_values(a, form, "announcement", &n);
        if (n < 0)
            return "the field 'announcement' is repeated or too long";
        if (!lines || n == 0)
            return "the field 'announcement' is required";
        struct buf text = BUF_INIT;
        for (long i = 0; i < n; i++)
            buf_printf(&text, "%s%s", i ? "\n" : "", lines[i]);   /* XEP-0004 text-multi */
        plan(x, "announce", NULL, 2, x->host, text.data ? text.data : "", NULL);
        buf_release(&text);
        return NULL;
    }
    }
    return "unknown command";
}

/* --- the IQ handler --------------------------------------------------------------- */

static bool is_admin(struct server *srv, const struct jid *from)
{
    struct acl_subject who = { from->local, from->domain, NULL };
    struct session *s = from->resource ? sm_find(srv, from) : NULL;
    if (s && s->c2s)
        who.ip = c2s_addr(s->c2s);
    return from->local && acl_allowed(srv->conf, ADMIN_RULE, &who);
}

static char *new_sid(struct adhoc *ad)
{
    unsigned char r[8];
    if (RAND_bytes(r, sizeof(r)) != 1)
        memset(r, 0, sizeof(r));   /* uniqueness comes from the counter */
    char *sid = pl_malloc(64);
    snprintf(sid, 64, "%llu-%02x%02x%02x%02x%02x%02x%02x%02x", ++ad->next_session, r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    return sid;
}

/* Starts the registry calls for a submitted form; answers when done. */
static void run_form(struct adhoc *ad, struct stanza *req, const struct adhoc_cmd *cmd,
                     char *sid /* taken */, const struct xml_node *form)
{
    struct server *srv = ad->m->srv;
    struct exec *x = pl_calloc(1, sizeof(*x));
    x->srv = srv;
    x->host = pl_strdup(ad->m->host);
    x->cmd = cmd;
    x->sid = sid;
    x->req = stanza_ref(req);
    stanza_hold(req);           /* ARCHITECTURE.md principle 5: the writes */
    struct arena *a = arena_new(1024);
    const char *why = form ? build_calls(x, a, form) : NULL;
    if (!form) {
        struct xml_node empty = { 0 };
        empty.kind = XML_ELEMENT;
        why = build_calls(x, a, &empty);
    }
    if (why) {
        send_error(srv, req, "modify", "bad-request", "bad-payload", why);
        arena_free(a);
        exec_free(x);
        return;
    }
    arena_free(a);
    exec_next(x);
}

static void commands_iq(struct server *srv, struct stanza *req, struct xml_node *c, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct adhoc *ad = m->data;
    struct jid *from = jid_parse(xml_attr(req->root, "from"));
    const char *type = xml_attr(req->root, "type");
    if (!from || strcmp(type, "set") != 0 || strcmp(c->name, "command") != 0) {
        router_bounce(srv, req, "modify", "bad-request", "expected an IQ-set with <command/>");
        goto out;
    }
    const char *node = xml_attr(c, "node");
    const struct adhoc_cmd *cmd = node ? find_command(node) : NULL;
    if (!cmd) {
        router_bounce(srv, req, "cancel", "item-not-found", "no such command");
        goto out;
    }
    if (!is_admin(srv, from)) {
        /* XEP-0133 §6, XEP-0050 §4.4. */
        router_bounce(srv, req, "cancel", "forbidden",
                      "service administration is for administrators only");
        goto out;
    }
    const char *action = xml_attr(c, "action");
    if (!action)
        action = "execute";
    bool known = false;
    static const char *const actions[] = { "execute", "cancel", "prev", "next", "complete" };
    for (size_t i = 0; i < PL_ARRAY_LEN(actions); i++)
        known = known || strcmp(action, actions[i]) == 0;
    if (!known) {
        send_error(srv, req, "modify", "bad-request", "malformed-action",
                   "action must be execute, cancel, prev, next or complete");
        goto out;
    }
    /* XEP-0050 §3.5.1: <x type='cancel'/> counts as a submission. */
    const struct xml_node *form = xml_child(c, NS_XDATA, "x");
    if (form && !(xml_attr(form, "type") && (strcmp(xml_attr(form, "type"), "submit") == 0 ||
                                             strcmp(xml_attr(form, "type"), "cancel") == 0)))
        form = NULL;
    const char *sid = xml_attr(c, "sessionid");
    time_t now = time(NULL);
    sessions_expire(ad, now);

    if (!sid) {
        /* A new session: only execute (or complete with the form). */
        if (strcmp(action, "execute") != 0 && !(strcmp(action, "complete") == 0 && form)) {
            send_error(srv, req, "modify", "bad-request", "bad-action",
                       arena_printf(req->arena, "'%s' needs a session", action));
            goto out;
        }
        if (form || !cmd->fields) {
            run_form(ad, req, cmd, new_sid(ad), form);
            goto out;
        }
        if (ad->sessions.count >= MAX_SESSIONS) {
            router_bounce(srv, req, "wait", "resource-constraint",
                          "too many command sessions are open; try again later");
            goto out;
        }
        char *id = new_sid(ad);
        size_t idlen = strlen(id) + 1;
        struct session_rec *s = pl_malloc(sizeof(*s) + idlen);
        memcpy(s->id, id, idlen);
        free(id);
        s->cmd = cmd;
        s->requester = pl_strdup(from->full);
        s->expires = now + SESSION_TTL;
        hashmap_put(&ad->sessions, s->id, s);
        struct stanza *r;
        struct xml_node *rc = command_reply(req, cmd, s->id, "executing", &r);
        add_form(r->arena, rc, cmd);
        router_route(srv, r);
        stanza_unref(r);
        goto out;
    }

    /* A continuing session: it must be this requester's, for this node
     * (§3.3: valid only between one requester/responder pair). */
    struct session_rec *s = hashmap_get(&ad->sessions, sid);
    if (!s || s->cmd != cmd || strcmp(s->requester, from->full) != 0) {
        send_error(srv, req, "modify", "bad-request", "bad-sessionid",
                   "no such command session (finished, canceled, expired or not yours)");
        goto out;
    }
    if (strcmp(action, "cancel") == 0) {
        hashmap_del(&ad->sessions, s->id);
        struct stanza *r;
        command_reply(req, cmd, sid, "canceled", &r);
        session_free(s);
        router_route(srv, r);
        stanza_unref(r);
        goto out;
    }
    if (strcmp(action, "prev") == 0 || strcmp(action, "next") == 0) {
        /* One form per command: only complete (or execute) is allowed. */
        send_error(srv, req, "modify", "bad-request", "bad-action",
                   arena_printf(req->arena, "'%s' is not allowed here: this command has "
                                "one stage", action));
        goto out;
    }
    if (!form) {
        send_error(srv, req, "modify", "bad-request", "bad-payload",
                   "submit the form (<x xmlns='jabber:x:data' type='submit'/>)");
        goto out;
    }
    hashmap_del(&ad->sessions, s->id);
    char *keep = pl_strdup(s->id);
    session_free(s);
    run_form(ad, req, cmd, keep, form);
out:
    jid_free(from);
}

/* --- disco -------------------------------------------------------------------- */

static void disco_items(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)q;
    struct pl_module_ctx *m = ud;
    struct jid *from = jid_parse(xml_attr(req->root, "from"));
    struct stanza *r;
    struct xml_node *rq = iq_reply_result(req, NS_DISCO_ITEMS, "query", &r);
    xml_set_attr(r->arena, rq, "node", NS_COMMANDS);
    /* XEP-0050 §2.2: the list may differ per requester; non-admins see
     * none of the administration commands. */
    if (from && is_admin(srv, from)) {
        for (size_t i = 0; i < PL_ARRAY_LEN(commands); i++) {
            struct xml_node *it = xml_add_child(r->arena, rq, NULL, "item");
            xml_set_attr(r->arena, it, "jid", m->host);
            xml_set_attr(r->arena, it, "node", commands[i].node);
            xml_set_attr(r->arena, it, "name", commands[i].name);
        }
    }
    jid_free(from);
    router_route(srv, r);
    stanza_unref(r);
}

static void disco_info(struct server *srv, struct stanza *req, struct xml_node *q, void *ud)
{
    (void)ud;
    /* disco.c calls this only for the nodes registered below */
    const char *node = xml_attr(q, "node");
    const struct adhoc_cmd *cmd = find_command(node);
    struct jid *from = jid_parse(xml_attr(req->root, "from"));
    bool admin = from && is_admin(srv, from);
    jid_free(from);
    if (cmd && !admin) {
        /* §2.2: "If the command is not available to the requester, the
         * responder SHOULD respond with a 403 Forbidden error." */
        router_bounce(srv, req, "cancel", "forbidden",
                      "service administration is for administrators only");
        return;
    }
    struct stanza *r;
    struct arena *a;
    struct xml_node *rq = iq_reply_result(req, NS_DISCO_INFO, "query", &r);
    a = r->arena;
    xml_set_attr(a, rq, "node", node);
    struct xml_node *id = xml_add_child(a, rq, NULL, "identity");
    xml_set_attr(a, id, "category", "automation");
    xml_set_attr(a, id, "type", cmd ? "command-node" : "command-list");
    if (cmd)
        xml_set_attr(a, id, "name", cmd->name);
    xml_set_attr(a, xml_add_child(a, rq, NULL, "feature"), "var", NS_COMMANDS);
    if (cmd)
        xml_set_attr(a, xml_add_child(a, rq, NULL, "feature"), "var", NS_XDATA);
    router_route(srv, r);
    stanza_unref(r);
}

/* --- bans ------------------------------------------------------------------------ */

static enum hook_result on_stanza_in(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct adhoc *ad = m->data;
    return (enum hook_result)ban_cache_stanza_in(ad->bans, ev);
}

/* HOOK_ACCOUNT_DELETED: the ban record went with the account. */
static enum hook_result on_account_deleted(struct hook_event *ev, void *ud)
{
    struct pl_module_ctx *m = ud;
    struct adhoc *ad = m->data;
    if (ev->user)
        ban_cache_forget(ad->bans, ev->user);
    return HOOK_CONTINUE;
}

/* --- load / unload ------------------------------------------------------------------ */

static int adhoc_load(struct pl_module_ctx *m)
{
    struct adhoc *ad = pl_calloc(1, sizeof(*ad));
    ad->m = m;
    ad->bans = ban_cache_new(m->srv, m->host);
    hashmap_init(&ad->sessions);
    m->data = ad;
    pl_iq_handle(m, IQ_TO_HOST, NS_COMMANDS, commands_iq);
    pl_disco_feature(m, IQ_TO_HOST, NS_COMMANDS);
    /* Before blocking (PRIO_BLOCKING), archive and offline storage: a
     * message to a banned account is refused before anything keeps it. */
    pl_hook(m, HOOK_STANZA_IN, on_stanza_in, PRIO_BLOCKING - 5);
    pl_hook(m, HOOK_ACCOUNT_DELETED, on_account_deleted, PRIO_BLOCKING - 5);
    /* XEP-0050 §2.2 the command list, §2.3 each command's node */
    pl_disco_node(m, IQ_TO_HOST, NS_DISCO_ITEMS, NS_COMMANDS, disco_items);
    pl_disco_node(m, IQ_TO_HOST, NS_DISCO_INFO, NS_COMMANDS, disco_info);
    for (size_t i = 0; i < PL_ARRAY_LEN(commands); i++)
        pl_disco_node(m, IQ_TO_HOST, NS_DISCO_INFO, commands[i].node, disco_info);
    return 0;
}

static void adhoc_unload(struct pl_module_ctx *m)
{
    struct adhoc *ad = m->data;
    if (!ad)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; hashmap_next(&ad->sessions, &i, &k, &v);)
        session_free(v);
    hashmap_release(&ad->sessions);
    ban_cache_free(ad->bans);
    free(ad);
    m->data = NULL;
}

static const struct conf_option adhoc_options[] = { CONF_END };

const struct pl_module pl_module_adhoc = {
    .name = "adhoc",
    .doc = "Ad-hoc commands (XEP-0050) with service administration (XEP-0133) "
           "for admins (access rule 'admin'); bounces messages to banned accounts.",
    .options = adhoc_options,
    .load = adhoc_load,
    .unload = adhoc_unload,
};
