/*
 * commands_api.c - HTTP API token commands (issue 5, docs/http-api.md):
 * api_token_create, api_token_list, api_token_revoke.
 *
 * A token is shown once, in api_token_create's reply; the server keeps
 * only its SHA-256 in the server-level store (http/token.h), so neither a
 * database dump nor api_token_list reveals a usable token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/command.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "http/token.h"
#include "storage/store.h"

static const struct cmd_arg args_create[] = {
    { "name", CMD_ARG_STRING, "the token's name: 1 to 64 letters, digits, '.', '_' or '-'", false },
    { "commands", CMD_ARG_STRING,
      "comma-separated commands the token may call (default: every command)", true },
};

static const struct cmd_arg args_name[] = {
    { "name", CMD_ARG_STRING, "the token's name", false },
};

static bool check_name(struct cmd_call *call)
{
    if (token_name_valid(call->argv[0]))
        return true;
    struct buf q = BUF_INIT;
    cmd_quote(&q, call->argv[0]);
    cmd_reply_error(call, CMD_E_USAGE, "argument 'name': invalid token name '%s' "
                    "(1 to %d letters, digits, '.', '_' or '-')", q.data, TOKEN_NAME_MAX);
    buf_release(&q);
    return false;
}

/* --- api_token_create ------------------------------------------------------ */

struct create {
    struct cmd_call *call;
    char *token;                    /* shown once, wiped after */
    char *commands;                 /* normalized list, for the log */
};

static void created(const struct store_result *res, void *ud)
{
    struct create *cr = ud;
    struct cmd_call *call = cr->call;
    char *token = cr->token;
    if (res->status == STORE_OK) {
        log_notice("admin: API token '%s' created (%s)", call->argv[0],
                   cr->commands[0] ? cr->commands : "all commands");
        cmd_reply_text(call, "%s", token);
    } else if (res->status == STORE_EXISTS) {
        cmd_reply_error(call, CMD_E_CONFLICT, "an API token named '%s' already exists",
                        call->argv[0]);
    } else {
        cmd_reply_error(call, CMD_E_INTERNAL, "cannot store the API token");
    }
    memset(token, 0, strlen(token));
    free(token);
    free(cr->commands);
    free(cr);
}

static void run_create(struct cmd_call *call)
{
    if (!check_name(call))
        return;
    /* Normalize the command list ("a, b" -> "a,b") and check each name,
     * so that a typo fails now rather than with 403s later. */
    struct buf cmds = BUF_INIT;
    buf_reserve(&cmds, 0);
    cmds.data[0] = '\0';
    if (call->argc > 1) {
        const char *p = call->argv[1];
        while (*p) {
            p += strspn(p, " ,");
            size_t len = strcspn(p, " ,");
            if (!len)
                break;
            char *name = pl_strndup(p, len);
            if (!cmd_find(name)) {
                struct buf q = BUF_INIT;
                cmd_quote(&q, name);
                cmd_reply_error(call, CMD_E_USAGE, "argument 'commands': unknown command '%s'",
                                q.data);
                buf_release(&q);
                free(name);
                buf_release(&cmds);
                return;
            }
            buf_printf(&cmds, "%s%s", cmds.len ? "," : "", name);
            free(name);
            p += len;
        }
    }
    struct token_record r = { .created = (long long)time(NULL), .commands = cmds.data };
    struct buf token = BUF_INIT;
    token_generate(&token, r.hash);
    struct buf value = BUF_INIT;
    token_record_encode(&r, &value);

    struct create *cr = pl_calloc(1, sizeof(*cr));
    cr->call = call;
    cr->token = buf_detach(&token);
    cr->commands = buf_detach(&cmds);
    store_server_kv_add(call->srv->store, TOKEN_STORE_AREA, call->argv[0], value.data,
                        value.len, created, cr);
    buf_release(&value);
}

/* --- api_token_list -------------------------------------------------------- */

static void listed(const struct store_result *res, void *ud)
{
    struct cmd_call *call = ud;
    if (res->status != STORE_OK) {
        cmd_reply_error(call, CMD_E_INTERNAL, "cannot read the API tokens");
        return;
    }
    char **lines = pl_calloc(res->nitems + 1, sizeof(*lines));
    size_t n = 0;
    for (size_t i = 0; i < res->nitems; i++) {
        struct token_record r;
        struct buf line = BUF_INIT;
        if (token_record_decode(res->items[i].value, &r) < 0) {
            buf_printf(&line, "%s (malformed record)", res->items[i].key);
        } else {
            char when[32] = "?";
            time_t t = (time_t)r.created;
            struct tm tm;
            if (gmtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            buf_printf(&line, "%s created %s commands %s", res->items[i].key, when,
                       r.commands[0] ? r.commands : "all");
            token_record_release(&r);
        }
        lines[n++] = buf_detach(&line);
    }
    cmd_reply_list(call, lines, n);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

static void run_list(struct cmd_call *call)
{
    store_server_kv_list(call->srv->store, TOKEN_STORE_AREA, listed, call);
}

/* --- api_token_revoke ------------------------------------------------------ */

static void revoked(const struct store_result *res, void *ud)
{
    struct cmd_call *call = ud;
    if (res->status == STORE_OK) {
        log_notice("admin: API token '%s' revoked", call->argv[0]);
        cmd_reply_ok(call);
    } else if (res->status == STORE_NOT_FOUND) {
        cmd_reply_error(call, CMD_E_NOT_FOUND, "no API token named '%s'", call->argv[0]);
    } else {
        cmd_reply_error(call, CMD_E_INTERNAL, "cannot revoke the API token");
    }
}

static void run_revoke(struct cmd_call *call)
{
    if (!check_name(call))
        return;
    store_server_kv_delete(call->srv->store, TOKEN_STORE_AREA, call->argv[0], revoked, call);
}

const struct admin_command cmd_api_token_create = {
    .name = "api_token_create", .args = args_create, .nargs = 2, .result = CMD_RESULT_TEXT,
    .doc = "Creates an HTTP API bearer token and prints it; it is shown only this once "
           "(the server keeps its SHA-256). With COMMANDS the token may call only those "
           "commands. See docs/http-api.md.",
    .example = "api_token_create deploy registered_users,check_account", .run = run_create,
};
const struct admin_command cmd_api_token_list = {
    .name = "api_token_list", .args = NULL, .nargs = 0, .result = CMD_RESULT_LIST,
    .doc = "Lists HTTP API tokens: name, creation time and the commands each may call.",
    .example = "api_token_list", .run = run_list,
};
const struct admin_command cmd_api_token_revoke = {
    .name = "api_token_revoke", .args = args_name, .nargs = 1, .result = CMD_RESULT_NONE,
    .doc = "Revokes an HTTP API token: requests presenting it fail with 401 from now on.",
    .example = "api_token_revoke deploy", .run = run_revoke,
};
