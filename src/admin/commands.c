/*
 * commands.c - the admin commands (ARCHITECTURE.md principle 7): accounts,
 * sessions, server control and help.  Each is one table row with typed
 * arguments, a doc paragraph and an example; command.c validates and
 * prepares the arguments before a handler runs, so handlers see prepared
 * user/host/JID values and a configured host.
 *
 * Handlers run on the loop thread and never block it: storage is
 * asynchronous (store.h) and SCRAM key derivation (RFC 5802 §3, PBKDF2,
 * deliberately slow) runs on the storage worker through store_work().
 * Passwords are copied out of the call, wiped from it at once, and wiped
 * again after derivation; they are never logged.
 */
#include "admin/command.h"
#include "admin/commands_ext.h"
#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "router/sm.h"
#include "storage/store.h"
#include "stream/sasl/sasl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

/* A stream error text longer than this helps nobody and bloats the
 * <text/> element every kicked client receives. */
#define KICK_REASON_MAX 1024

/* --- helpers ------------------------------------------------------------- */

static void reply_store_error(struct cmd_call *call, int status)
{
    cmd_reply_error(call, CMD_E_INTERNAL,
                    "storage error (status %d): see the server log", status);
}

/* --- register / change_password: derive keys off the loop ---------------- */

struct creds_job {
    struct cmd_call *call;      /* borrowed: lives until we reply */
    char *password;             /* wiped and freed after derivation */
    unsigned iterations;
    char *creds;                /* sasl_creds_encode() output; NULL if SASLprep refused */
    bool create;                /* register (true) or change_password */
};

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void creds_job_free(struct creds_job *job)
{
    wipe_free(job->password);
    wipe_free(job->creds);
    free(job);
}

/* Worker thread: touches only the job. */
static void creds_work(void *ud)
{
    struct creds_job *job = ud;
    struct sasl_creds c;
    if (sasl_creds_derive(job->password, job->iterations, &c) == 0)
        job->creds = sasl_creds_encode(&c);
    explicit_bzero(&c, sizeof(c));
    explicit_bzero(job->password, strlen(job->password));
}

static void creds_stored(const struct store_result *res, void *ud)
{
    struct creds_job *job = ud;
    struct cmd_call *call = job->call;
    const char *user = call->argv[0], *host = call->argv[1];

    creds_job_free(job);
    switch (res->status) {
    case STORE_OK:
        cmd_reply_ok(call);
        break;
    case STORE_EXISTS:
        cmd_reply_error(call, CMD_E_CONFLICT, "user %s@%s already exists",
                        user, host);
        break;
    case STORE_NOT_FOUND:
        cmd_reply_error(call, CMD_E_NOT_FOUND, "user %s@%s does not exist",
                        user, host);
        break;
    default:
        reply_store_error(call, res->status);
        break;
    }
}

/* Loop thread, after creds_work. */
static void creds_derived(void *ud)
{
    struct creds_job *job = ud;
    struct cmd_call *call = job->call;

    if (!job->creds) {
        creds_job_free(job);
        cmd_reply_error(call, CMD_E_USAGE,
                        "argument 'password': invalid password (empty, or "
                        "characters that SASLprep prohibits)");
        return;
    }
    if (job->create)
        store_account_create(call->srv->store, call->argv[0], call->argv[1],
                             job->creds, creds_stored, job);
    else
        store_account_set_creds(call->srv->store, call->argv[0], call->argv[1],
                                job->creds, creds_stored, job);
}

static void start_creds_job(struct cmd_call *call, bool create)
{
    struct creds_job *job = pl_calloc(1, sizeof(*job));
    job->call = call;
    job->create = create;
    job->iterations = call->srv->conf->auth.scram_iterations;
    job->password = pl_strdup(call->argv[2]);
    /* The transport's copy is no longer needed: do not leave it around. */
    explicit_bzero(call->argv[2], strlen(call->argv[2]));
    store_work(call->srv->store, creds_work, creds_derived, job);
}

static void run_register(struct cmd_call *call)
{
    start_creds_job(call, true);
}

static void run_change_password(struct cmd_call *call)
{
    start_creds_job(call, false);
}

/* --- unregister ---------------------------------------------------------- */

static void deleted(const struct store_result *res, void *ud)
{
    struct cmd_call *call = ud;
    const char *user = call->argv[0], *host = call->argv[1];

    if (res->status == STORE_NOT_FOUND) {
        cmd_reply_error(call, CMD_E_NOT_FOUND, "user %s@%s does not exist",
                        user, host);
        return;
    }
    if (res->status != STORE_OK) {
        reply_store_error(call, res->status);
        return;
    }
    /* The account is gone: its sessions must not outlive it. */
    struct jid *bare = jid_make(user, host, NULL);
    if (bare) {
        size_t n = sm_kick(call->srv, bare, "not-authorized", "account deleted");
        if (n)
            log_info("admin: closed %zu session%s of deleted account %s", n,
                     n == 1 ? "" : "s", bare->bare);
        jid_free(bare);
    }
    cmd_reply_ok(call);
}

static void run_unregister(struct cmd_call *call)
{
    /* Through the session manager: modules learn (HOOK_ACCOUNT_DELETED). */
    sm_account_delete(call->srv, call->argv[0], call->argv[1], deleted, call);
}

/* --- check_account ------------------------------------------------------- */

static void checked(const struct store_result *res, void *ud)
{
    struct cmd_call *call = ud;
    const char *user = call->argv[0], *host = call->argv[1];

    /* res->value holds the credentials: never echo or log it. */
    if (res->status == STORE_OK)
        cmd_reply_text(call, "%s@%s exists", user, host);
    else if (res->status == STORE_NOT_FOUND)
        cmd_reply_error(call, CMD_E_NOT_FOUND, "user %s@%s does not exist",
                        user, host);
    else
        reply_store_error(call, res->status);
}

static void run_check_account(struct cmd_call *call)
{
    store_account_get(call->srv->store, call->argv[0], call->argv[1],
                      checked, call);
}

/* --- registered_users ---------------------------------------------------- */

static void listed(const struct store_result *res, void *ud)
{
    struct cmd_call *call = ud;
    if (res->status != STORE_OK) {
        reply_store_error(call, res->status);
        return;
    }
    cmd_reply_list(call, res->rows, res->nrows);
}

static void run_registered_users(struct cmd_call *call)
{
    store_account_list(call->srv->store, call->argv[0], listed, call);
}

/* --- connected_users ----------------------------------------------------- */

struct jid_list {
    char **items;
    size_t n, cap;
};

static void collect_session(const char *full_jid, const char *peer,
                            time_t since, void *ud)
{
    struct jid_list *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = pl_realloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->n++] = pl_strdup(full_jid);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_connected_users(struct cmd_call *call)
{
    struct jid_list l = { NULL, 0, 0 };
    sm_foreach(call->srv, collect_session, &l);
    if (l.n)
        qsort(l.items, l.n, sizeof(*l.items), cmp_str);
    cmd_reply_list(call, l.items, l.n);
    for (size_t i = 0; i < l.n; i++)
        free(l.items[i]);
    free(l.items);
}

/* --- kick_session -------------------------------------------------------- */

static void run_kick_session(struct cmd_call *call)
{
    const char *reason = call->argv[1];
    if (strlen(reason) > KICK_REASON_MAX) {
        cmd_reply_error(call, CMD_E_USAGE,
                        "argument 'reason': longer than %d bytes", KICK_REASON_MAX);
        return;
    }
    struct jid *j = jid_parse(call->argv[0]);   /* prepared by cmd_dispatch */
    if (!j) {
        cmd_reply_error(call, CMD_E_USAGE, "argument 'jid': invalid JID");
        return;
    }
    /* policy-violation (RFC 6120 §4.9.3.14) is the condition for "an
     * administrator decided"; the reason goes in <text/>. */
    size_t n = sm_kick(call->srv, j, "policy-violation", reason);
    if (n == 0)
        cmd_reply_error(call, CMD_E_NOT_FOUND, "no session of '%s'", j->full);
    else
        cmd_reply_text(call, "closed %zu session%s of %s", n, n == 1 ? "" : "s",
                       j->full);
    jid_free(j);
}

/* --- status -------------------------------------------------------------- */

static void run_status(struct cmd_call *call)
{
    const struct server *srv = call->srv;
    struct buf hosts = BUF_INIT;
    long long up = (long long)(time(NULL) - srv->started);
    if (up < 0)
        up = 0;

    for (size_t i = 0; srv->conf && i < srv->conf->hosts.count; i++)
        buf_printf(&hosts, "%s%s", i ? " " : "", srv->conf->hosts.items[i]);
    cmd_reply_text(call,
                   "version: %s\n"
                   "uptime: %lldd %lldh %lldm %llds\n"
                   "sessions: %zu\n"
                   "hosts: %s\n"
                   "storage pending: %zu",
#ifdef PARLEY_VERSION
                   PARLEY_VERSION,
#else
                   "unknown",
#endif
                   up / 86400, up / 3600 % 24, up / 60 % 60, up % 60,
                   sm_count(srv), hosts.len ? hosts.data : "(none)",
                   srv->store ? store_pending(srv->store) : (size_t)0);
    buf_release(&hosts);
}

/* --- reload and stop: run on the next loop turn ------------------------- */

/* Both can tear down and rebuild what the transport itself lives in (the
 * control socket moves if its path changed; stop closes it), so they run
 * from a fresh loop callback rather than inside the transport's read
 * callback.  A transport that went away meanwhile discards the reply. */

static const struct timeval next_turn = { 0, 0 };

static void reload_now(evutil_socket_t fd, short what, void *ud)
{
    struct cmd_call *call = ud;
    struct buf err = BUF_INIT;
    if (server_reload(call->srv, &err) == 0)
        cmd_reply_text(call, "configuration reloaded from '%s'",
                       call->srv->conf && call->srv->conf->file
                       ? call->srv->conf->file : "?");
    else
        cmd_reply_error(call, CMD_E_INTERNAL, "reload failed: %s",
                        err.len ? err.data : "(no message)");
    buf_release(&err);
}

static void run_reload(struct cmd_call *call)
{
    if (event_base_once(call->srv->base, -1, EV_TIMEOUT, reload_now, call,
                        &next_turn) < 0)
        cmd_reply_error(call, CMD_E_INTERNAL, "cannot schedule the reload");
}

static void stop_now(evutil_socket_t fd, short what, void *ud)
{
    server_stop(ud);
}

static void run_stop(struct cmd_call *call)
{
    struct server *srv = call->srv;     /* the call may be gone after the reply */
    if (event_base_once(srv->base, -1, EV_TIMEOUT, stop_now, srv, &next_turn) < 0) {
        cmd_reply_error(call, CMD_E_INTERNAL, "cannot schedule the stop");
        return;
    }
    /* Reply first: the reply is queued before the stop runs, and the
     * control server flushes queued replies when it closes. */
    log_notice("admin: stop requested");
    cmd_reply_text(call, "parleyd is stopping");
}

/* --- help ---------------------------------------------------------------- */

static void run_help(struct cmd_call *call)
{
    if (call->argc == 0) {
        size_t n = 0;
        for (const struct admin_command *const *c = cmd_all(); *c; c++)
            n++;
        char **lines = pl_calloc(n + 1, sizeof(*lines));
        for (size_t i = 0; i < n; i++) {
            struct buf line = BUF_INIT, summary = BUF_INIT;
            cmd_summary(cmd_all()[i], &summary);
            buf_printf(&line, "%-17s %s", cmd_all()[i]->name, summary.data);
            buf_release(&summary);
            lines[i] = buf_detach(&line);
        }
        cmd_reply_list(call, lines, n);
        for (size_t i = 0; i < n; i++)
            free(lines[i]);
        free(lines);
        return;
    }
    const struct admin_command *cmd = cmd_find(call->argv[0]);
    if (!cmd) {
        struct buf q = BUF_INIT;
        cmd_quote(&q, call->argv[0]);
        cmd_reply_error(call, CMD_E_NOT_FOUND,
                        "unknown command '%s'; 'help' lists the commands", q.data);
        buf_release(&q);
        return;
    }
    struct buf out = BUF_INIT;
    buf_puts(&out, "usage: ");
    cmd_usage(cmd, &out);
    buf_printf(&out, "\n\n%s\n", cmd->doc);
    for (size_t i = 0; i < cmd->nargs; i++) {
        const struct cmd_arg *a = &cmd->args[i];
        char name[32];
        size_t k;
        for (k = 0; a->name[k] && k < sizeof(name) - 1; k++)
            name[k] = (char)toupper((unsigned char)a->name[k]);
        name[k] = '\0';
        buf_printf(&out, "%s%-9s %s%s", i ? "\n  " : "\narguments:\n  ", name,
                   a->doc, a->optional ? " (optional)" : "");
    }
    buf_printf(&out, "%s\nexample: %s", cmd->nargs ? "\n" : "", cmd->example);
    cmd_reply_text(call, "%s", out.data);
    buf_release(&out);
}

/* --- the table ------------------------------------------------------------ */

static const struct cmd_arg args_register[] = {
    { "user", CMD_ARG_USER, "the account's localpart, e.g. alice", false },
    { "host", CMD_ARG_HOST, "one of the configured hosts", false },
    { "password", CMD_ARG_PASSWORD, "the password (SASLprep applies)", false },
};

static const struct cmd_arg args_change_password[] = {
    { "user", CMD_ARG_USER, "the account's localpart, e.g. alice", false },
    { "host", CMD_ARG_HOST, "one of the configured hosts", false },
    { "password", CMD_ARG_PASSWORD, "the new password (SASLprep applies)", false },
};

static const struct cmd_arg args_user_host[] = {
    { "user", CMD_ARG_USER, "the account's localpart, e.g. alice", false },
    { "host", CMD_ARG_HOST, "one of the configured hosts", false },
};

static const struct cmd_arg args_host[] = {
    { "host", CMD_ARG_HOST, "one of the configured hosts", false },
};

static const struct cmd_arg args_kick[] = {
    { "jid", CMD_ARG_JID, "a full JID (that session) or a bare JID (all of the account's)", false },
    { "reason", CMD_ARG_STRING, "text sent to the client with the stream error", false },
};

static const struct cmd_arg args_help[] = {
    { "command", CMD_ARG_STRING, "the command to describe", true },
};

static const struct admin_command cmd_change_password = {
    .name = "change_password",
    .args = args_change_password, .nargs = 3,
    .result = CMD_RESULT_NONE,
    .doc = "Sets a new password for an existing account. Only SCRAM keys "
           "derived from it are stored (auth.scram_iterations rounds); "
           "sessions already open stay open.",
    .example = "change_password alice localhost n3w-s3cret",
    .run = run_change_password,
};

static const struct admin_command cmd_check_account = {
    .name = "check_account",
    .args = args_user_host, .nargs = 2,
    .result = CMD_RESULT_TEXT,
    .doc = "Tells whether an account exists. Fails with \"does not exist\" "
           "(parleyctl exit status 1) when it does not.",
    .example = "check_account alice localhost",
    .run = run_check_account,
};

static const struct admin_command cmd_connected_users = {
    .name = "connected_users",
    .args = NULL, .nargs = 0,
    .result = CMD_RESULT_LIST,
    .doc = "Lists the full JIDs of all bound sessions, sorted.",
    .example = "connected_users",
    .run = run_connected_users,
};

static const struct admin_command cmd_help = {
    .name = "help",
    .args = args_help, .nargs = 1,
    .result = CMD_RESULT_TEXT,
    .doc = "Lists the commands, or describes one. Without an argument, "
           "prints each command with a one-line summary; with a command "
           "name, its usage, arguments and an example.",
    .example = "help register",
    .run = run_help,
};

static const struct admin_command cmd_kick_session = {
    .name = "kick_session",
    .args = args_kick, .nargs = 2,
    .result = CMD_RESULT_TEXT,
    .doc = "Closes sessions with a `<policy-violation/>` stream error carrying "
           "the reason as text. A full JID closes that session, a bare JID "
           "every session of the account. Fails when there is no such "
           "session.",
    .example = "kick_session alice@localhost/phone \"please upgrade\"",
    .run = run_kick_session,
};

static const struct admin_command cmd_register = {
    .name = "register",
    .args = args_register, .nargs = 3,
    .result = CMD_RESULT_NONE,
    .doc = "Creates an account. Only SCRAM keys derived from the password "
           "are stored (auth.scram_iterations rounds, computed off the event "
           "loop). Fails when the account already exists.",
    .example = "register alice localhost s3cret",
    .run = run_register,
};

static const struct admin_command cmd_registered_users = {
    .name = "registered_users",
    .args = args_host, .nargs = 1,
    .result = CMD_RESULT_LIST,
    .doc = "Lists the user names (localparts) of the accounts of a host, sorted.",
    .example = "registered_users localhost",
    .run = run_registered_users,
};

static const struct admin_command cmd_reload = {
    .name = "reload",
    .args = NULL, .nargs = 0,
    .result = CMD_RESULT_TEXT,
    .doc = "Re-reads the configuration file. On any error the running "
           "configuration stays in force and the error names the file and "
           "line; sessions are never dropped.",
    .example = "reload",
    .run = run_reload,
};

static const struct admin_command cmd_status = {
    .name = "status",
    .args = NULL, .nargs = 0,
    .result = CMD_RESULT_TEXT,
    .doc = "Shows the version, uptime, number of sessions, configured hosts "
           "and storage requests in flight.",
    .example = "status",
    .run = run_status,
};

static const struct admin_command cmd_stop = {
    .name = "stop",
    .args = NULL, .nargs = 0,
    .result = CMD_RESULT_TEXT,
    .doc = "Stops the server: listeners close, sessions receive "
           "`<system-shutdown/>`, storage drains. The reply is sent before "
           "the shutdown starts.",
    .example = "stop",
    .run = run_stop,
};

static const struct admin_command cmd_unregister = {
    .name = "unregister",
    .args = args_user_host, .nargs = 2,
    .result = CMD_RESULT_NONE,
    .doc = "Deletes an account with all its stored data, then closes its "
           "sessions with a `<not-authorized/>` stream error. Fails when the "
           "account does not exist.",
    .example = "unregister alice localhost",
    .run = run_unregister,
};

/* Sorted by name (cmd_all() promises it; help and the reference list in
 * this order). */
static const struct admin_command *const commands[] = {
    &cmd_announce,
    &cmd_api_token_create,
    &cmd_api_token_list,
    &cmd_api_token_revoke,
    &cmd_ban_account,
    &cmd_change_password,
    &cmd_check_account,
    &cmd_connected_users,
    &cmd_get_ban_details,
    &cmd_help,
    &cmd_kick_session,
    &cmd_register,
    &cmd_registered_users,
    &cmd_reload,
    &cmd_status,
    &cmd_stop,
    &cmd_unban_account,
    &cmd_unregister,
    NULL,
};

const struct admin_command *const *cmd_all(void)
{
    return commands;
}
