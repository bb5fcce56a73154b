/*
 * api.c - JSON <-> command registry mapping and the Authorization header
 * for the HTTP API (api.h, docs/http-api.md).
 *
 * Authorization schemes: RFC 7617 (Basic: base64 of "user-id:password",
 * the user-id may not contain ':' but the password may) and RFC 6750 §2.1
 * (Bearer b64token).  Scheme names are case-insensitive (RFC 7235 §2.1).
 * JSON per RFC 8259, decoded by jansson.
 */
#include "http/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/mem.h"

/* Longest Authorization header value we decode (a JID, a password and the
 * base64 overhead fit easily). */
#define AUTH_MAX 4096

static const char *arg_type_name(enum cmd_arg_type t)
{
    switch (t) {
    case CMD_ARG_STRING: return "string";
    case CMD_ARG_USER: return "user";
    case CMD_ARG_HOST: return "host";
    case CMD_ARG_JID: return "jid";
    case CMD_ARG_PASSWORD: return "password";
    case CMD_ARG_INT: return "integer";
    }
    return "string";
}

static const char *result_kind_name(enum cmd_result_kind k)
{
    switch (k) {
    case CMD_RESULT_NONE: return "none";
    case CMD_RESULT_TEXT: return "text";
    case CMD_RESULT_LIST: return "list";
    }
    return "none";
}

static void free_argv(char **argv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
}

int api_args_from_json(const struct admin_command *cmd, json_t *args,
                       char ***argv_out, size_t *argc_out, struct buf *err,
                       const char **bad_arg)
{
    *bad_arg = NULL;
    if (args && !json_is_object(args)) {
        buf_puts(err, "the request body must be a JSON object of arguments");
        return -1;
    }
    /* Every key must name an argument: a misspelt optional one would
     * otherwise be silently ignored. */
    const char *key;
    json_t *val;
    if (args) {
        json_object_foreach(args, key, val) {
            bool known = false;
            for (size_t i = 0; i < cmd->nargs && !known; i++)
                known = strcmp(cmd->args[i].name, key) == 0;
            if (!known) {
                *bad_arg = key;
                buf_printf(err, "%s takes no argument '", cmd->name);
                for (const char *p = key; *p && p - key < 64; p++)
                    buf_putc(err, (unsigned char)*p < 0x20 ? '?' : *p);
                buf_puts(err, "'");
                return -1;
            }
        }
    }

    char **argv = pl_calloc(cmd->nargs + 1, sizeof(*argv));
    size_t argc = 0;
    const char *missing = NULL;     /* first absent argument so far */
    for (size_t i = 0; i < cmd->nargs; i++) {
        const struct cmd_arg *a = &cmd->args[i];
        val = args ? json_object_get(args, a->name) : NULL;
        if (!val || json_is_null(val)) {
            if (!a->optional) {
                *bad_arg = a->name;
                buf_printf(err, "argument '%s' is required", a->name);
                goto fail;
            }
            if (!missing)
                missing = a->name;
            continue;
        }
        if (missing) {
            /* The registry's optional arguments are positional: a later
             * one cannot be given without the earlier ones. */
            *bad_arg = missing;
            buf_printf(err, "argument '%s' is required when '%s' is given", missing, a->name);
            goto fail;
        }
        char *v;
        if (json_is_string(val)) {
            size_t len = json_string_length(val);
            if (len > API_ARG_MAX || strlen(json_string_value(val)) != len) {
                *bad_arg = a->name;
                buf_printf(err, len > API_ARG_MAX
                           ? "argument '%s': longer than %d bytes"
                           : "argument '%s': contains a NUL character", a->name, API_ARG_MAX);
                goto fail;
            }
            v = pl_strdup(json_string_value(val));
        } else if (a->type == CMD_ARG_INT && json_is_integer(val)) {
            char num[32];
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(val));
            v = pl_strdup(num);
        } else {
            *bad_arg = a->name;
            buf_printf(err, "argument '%s': expected %s", a->name,
                       a->type == CMD_ARG_INT ? "an integer (a number or a string)" : "a string");
            goto fail;
        }
        argv[argc++] = v;
    }
    *argv_out = argv;
    *argc_out = argc;
    return 0;

fail:
    free_argv(argv, argc);
    return -1;
}

int api_http_status(enum cmd_status st)
{
    switch (st) {
    case CMD_OK: return 200;
    case CMD_E_USAGE: return 400;
    case CMD_E_NOT_FOUND: return 404;
    case CMD_E_CONFLICT: return 409;
    case CMD_E_FORBIDDEN: return 403;
    case CMD_E_INTERNAL: return 500;
    case CMD_E_UNKNOWN_COMMAND: return 404;
    }
    return 500;
}

json_t *api_error_json(const char *message, const char *argument)
{
    json_t *o = json_object();
    /* jansson refuses invalid UTF-8; a message quoting a client's bytes
     * must still produce a reply. */
    json_t *m = json_string(message);
    if (!m)
        m = json_string("(message not valid UTF-8)");
    json_object_set_new(o, "error", m);
    if (argument) {
        json_t *a = json_string(argument);
        if (a)
            json_object_set_new(o, "argument", a);
    }
    return o;
}

bool api_error_argument(const char *message, char *name, size_t n)
{
    static const char prefix[] = "argument '";
    if (!message || strncmp(message, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *start = message + sizeof(prefix) - 1;
    const char *end = strchr(start, '\'');
    if (!end || end == start || (size_t)(end - start) >= n)
        return false;
    memcpy(name, start, (size_t)(end - start));
    name[end - start] = '\0';
    return true;
}

json_t *api_reply_json(enum cmd_status st, const struct buf *out, char *const *list,
                       size_t nlist)
{
    if (st != CMD_OK) {
        const char *msg = out && out->data ? out->data : "error";
        size_t first = strcspn(msg, "\n");
        char *line = pl_strndup(msg, first);
        char arg[128];
        json_t *o = api_error_json(line, api_error_argument(line, arg, sizeof(arg)) ? arg : NULL);
        free(line);
        return o;
    }
    json_t *o = json_object();
    if (list) {
        json_t *arr = json_array();
        for (size_t i = 0; i < nlist; i++) {
            json_t *s = json_string(list[i]);
            json_array_append_new(arr, s ? s : json_string("?"));
        }
        json_object_set_new(o, "result", arr);
    } else if (out) {
        json_t *s = json_string(out->data ? out->data : "");
        json_object_set_new(o, "result", s ? s : json_string("(result not valid UTF-8)"));
    } else {
        json_object_set_new(o, "result", json_string("ok"));
    }
    return o;
}

json_t *api_command_json(const struct admin_command *cmd)
{
    json_t *args = json_array();
    for (size_t i = 0; i < cmd->nargs; i++) {
        const struct cmd_arg *a = &cmd->args[i];
        json_array_append_new(args, json_pack("{s:s, s:s, s:b, s:s}",
                                              "name", a->name,
                                              "type", arg_type_name(a->type),
                                              "optional", (int)a->optional,
                                              "doc", a->doc ? a->doc : ""));
    }
    return json_pack("{s:s, s:s, s:s, s:o}", "name", cmd->name,
                     "doc", cmd->doc ? cmd->doc : "",
                     "result", result_kind_name(cmd->result), "args", args);
}

json_t *api_listing_json(const struct admin_command *const *all)
{
    json_t *arr = json_array();
    for (; *all; all++)
        json_array_append_new(arr, api_command_json(*all));
    return json_pack("{s:o}", "commands", arr);
}

/* --- Authorization -------------------------------------------------------- */

/* Matches "scheme " case-insensitively; returns what follows the spaces. */
static const char *scheme(const char *h, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(h, name, n) != 0 || h[n] != ' ')
        return NULL;
    h += n;
    while (*h == ' ')
        h++;
    return h;
}

void api_auth_parse(const char *header, struct api_auth *out)
{
    memset(out, 0, sizeof(*out));
    if (!header) {
        out->kind = API_AUTH_NONE;
        return;
    }
    out->kind = API_AUTH_INVALID;
    size_t len = strlen(header);
    if (len > AUTH_MAX)
        return;
    const char *v;
    if ((v = scheme(header, "Bearer"))) {
        /* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
         * "~" / "+" / "/" ) *"=" */
        size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789-._~+/");
        n += strspn(v + n, "=");
        if (n == 0 || v[n] != '\0')
            return;
        out->token = pl_strdup(v);
        out->kind = API_AUTH_BEARER;
        return;
    }
    if ((v = scheme(header, "Basic"))) {
        struct buf dec = BUF_INIT;
        if (base64_decode(&dec, v, strlen(v)) < 0 || !dec.data
            || memchr(dec.data, '\0', dec.len)) {
            buf_release(&dec);
            return;
        }
        char *colon = strchr(dec.data, ':');
        if (!colon || colon == dec.data) {
            buf_release(&dec);
            return;
        }
        out->user = pl_strndup(dec.data, (size_t)(colon - dec.data));
        out->password = pl_strdup(colon + 1);
        out->kind = API_AUTH_BASIC;
        /* The password was in this buffer: wipe it before freeing. */
        memset(dec.data, 0, dec.len);
        buf_release(&dec);
    }
}

void api_auth_release(struct api_auth *a)
{
    free(a->token);
    free(a->user);
    if (a->password) {
        memset(a->password, 0, strlen(a->password));
        free(a->password);
    }
    memset(a, 0, sizeof(*a));
}
