/*
 * command.c - the admin command registry: lookup, argument validation and
 * preparation, reply helpers, and the markdown reference
 * (ARCHITECTURE.md principle 7; the commands themselves are in commands.c).
 *
 * Every transport (control socket, HTTP API, XEP-0133 ad-hoc commands)
 * goes through cmd_dispatch(), so an argument is checked and prepared
 * (RFC 7622 §3.2-3.3 for user and host) in exactly one place and every
 * mistake gets the same message naming the argument.
 */
#include "admin/command.h"
#include "core/conf.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Longest piece of a user-supplied value quoted back in a message or the
 * log: enough to recognize it, short enough to keep lines readable. */
#define QUOTE_MAX 80

const struct admin_command *cmd_find(const char *name)
{
    for (const struct admin_command *const *c = cmd_all(); *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}

/* Appends s with control characters replaced and clipped to QUOTE_MAX
 * bytes, so a value cannot forge log lines or flood a message. */
void cmd_quote(struct buf *out, const char *s)
{
    size_t n = strnlen(s, QUOTE_MAX + 1);
    bool clipped = n > QUOTE_MAX;
    if (clipped) {
        n = QUOTE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;                        /* do not cut a UTF-8 sequence */
    }
    buf_reserve(out, n + 3);            /* "" still yields a C string */
    out->data[out->len] = '\0';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf_putc(out, c < 0x20 || c == 0x7f ? '?' : (char)c);
    }
    if (clipped)
        buf_puts(out, "...");
}

static size_t required_args(const struct admin_command *cmd)
{
    size_t n = 0;
    while (n < cmd->nargs && !cmd->args[n].optional)
        n++;
    return n;
}

void cmd_usage(const struct admin_command *cmd, struct buf *out)
{
    buf_puts(out, cmd->name);
    for (size_t i = 0; i < cmd->nargs; i++) {
        buf_puts(out, cmd->args[i].optional ? " [" : " ");
        for (const char *p = cmd->args[i].name; *p; p++)
            buf_putc(out, (char)toupper((unsigned char)*p));
        if (cmd->args[i].optional)
            buf_putc(out, ']');
    }
}

void cmd_summary(const struct admin_command *cmd, struct buf *out)
{
    const char *doc = cmd->doc;
    const char *end = strstr(doc, ". ");
    buf_append(out, doc, end ? (size_t)(end - doc) : strlen(doc));
    if (out->len && out->data[out->len - 1] == '.')
        out->len--, out->data[out->len] = '\0';
}

/* --- replies ------------------------------------------------------------- */

/* buf_printf() has no va_list form; this is it. */
__attribute__((format(printf, 2, 0)))
static void vformat(struct buf *out, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    PL_ASSERT(n >= 0);
    buf_reserve(out, (size_t)n);
    vsnprintf(out->data + out->len, (size_t)n + 1, fmt, ap);
    out->len += (size_t)n;
}

/* Each helper builds the payload locally, calls done() and touches nothing
 * afterwards: done() may free the call. */

void cmd_reply_ok(struct cmd_call *call)
{
    call->done(call, CMD_OK, NULL, NULL, 0);
}

void cmd_reply_text(struct cmd_call *call, const char *fmt, ...)
{
    struct buf out = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    vformat(&out, fmt, ap);
    va_end(ap);
    call->done(call, CMD_OK, &out, NULL, 0);
    buf_release(&out);
}

void cmd_reply_list(struct cmd_call *call, char *const *items, size_t n)
{
    /* Always a non-NULL array, so that an empty list is told apart from a
     * result of kind NONE. */
    char **copy = pl_calloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = pl_strdup(items[i]);
    call->done(call, CMD_OK, NULL, copy, n);
    for (size_t i = 0; i < n; i++)
        free(copy[i]);
    free(copy);
}

void cmd_reply_error(struct cmd_call *call, enum cmd_status st,
                     const char *fmt, ...)
{
    PL_ASSERT(st != CMD_OK);
    struct buf out = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    vformat(&out, fmt, ap);
    va_end(ap);
    /* First line only: a usage line follows on the next one. */
    int first = (int)strcspn(out.data, "\n");
    if (call->cmd)
        log_info("admin: %s failed: %.*s", call->cmd->name, first, out.data);
    else
        log_info("admin: request failed: %.*s", first, out.data);
    call->done(call, st, &out, NULL, 0);
    buf_release(&out);
}

/* --- dispatch ------------------------------------------------------------ */

static void replace_arg(struct cmd_call *call, size_t i, const char *prepared)
{
    free(call->argv[i]);
    call->argv[i] = pl_strdup(prepared);
}

/* Checks and prepares argument i.  Returns 0, or replies and returns -1. */
static int prepare_arg(struct cmd_call *call, size_t i)
{
    const struct cmd_arg *a = &call->cmd->args[i];
    const char *v = call->argv[i];
    char part[JID_PART_MAX + 1];
    struct buf q = BUF_INIT;
    int rc = 0;

    cmd_quote(&q, v);
    switch (a->type) {
    case CMD_ARG_STRING:
    case CMD_ARG_PASSWORD:      /* SASLprep happens where the keys are derived */
        break;
    case CMD_ARG_USER:
        if (jid_prep_local(v, part) < 0) {
            cmd_reply_error(call, CMD_E_USAGE,
                            "argument '%s': invalid JID localpart '%s'",
                            a->name, q.data);
            rc = -1;
            break;
        }
        replace_arg(call, i, part);
        break;
    case CMD_ARG_HOST:
        if (jid_prep_domain(v, part) < 0) {
            cmd_reply_error(call, CMD_E_USAGE,
                            "argument '%s': invalid domain '%s'", a->name, q.data);
            rc = -1;
            break;
        }
        if (!call->srv->conf || !conf_has_host(call->srv->conf, part)) {
            cmd_reply_error(call, CMD_E_NOT_FOUND, "unknown host '%s'", part);
            rc = -1;
            break;
        }
        replace_arg(call, i, part);
        break;
    case CMD_ARG_JID: {
        struct jid *j = jid_parse(v);
        if (!j) {
            cmd_reply_error(call, CMD_E_USAGE, "argument '%s': invalid JID '%s'",
                            a->name, q.data);
            rc = -1;
            break;
        }
        replace_arg(call, i, j->full);
        jid_free(j);
        break;
    }
    case CMD_ARG_INT: {
        char *end;
        errno = 0;
        (void)strtoll(v, &end, 10);
        if (!*v || *end || errno == ERANGE) {
            cmd_reply_error(call, CMD_E_USAGE,
                            "argument '%s': expected an integer, got '%s'",
                            a->name, q.data);
            rc = -1;
        }
        break;
    }
    }
    buf_release(&q);
    return rc;
}

/* One info line per command; PASSWORD values are replaced, the rest are
 * clipped and stripped of control characters. */
static void log_call(const struct cmd_call *call)
{
    if (LOG_INFO < log_get_level())
        return;
    struct buf line = BUF_INIT;
    buf_puts(&line, call->cmd->name);
    for (size_t i = 0; i < call->argc; i++) {
        buf_putc(&line, ' ');
        if (call->cmd->args[i].type == CMD_ARG_PASSWORD)
            buf_puts(&line, "(password)");
        else
            cmd_quote(&line, call->argv[i]);
    }
    log_info("admin: %s%s%s", call->origin ? call->origin : "",
             call->origin ? ": " : "", line.data);
    buf_release(&line);
}

void cmd_dispatch(struct cmd_call *call)
{
    const struct admin_command *cmd = call->cmd;
    PL_ASSERT(cmd);
    size_t min = required_args(cmd);

    if (call->argc < min || call->argc > cmd->nargs) {
        struct buf usage = BUF_INIT;
        cmd_usage(cmd, &usage);
        if (min == 0)
            cmd_reply_error(call, CMD_E_USAGE,
                            "%s: expected at most %zu argument%s, got %zu\nusage: %s",
                            cmd->name, cmd->nargs, cmd->nargs == 1 ? "" : "s",
                            call->argc, usage.data);
        else if (min == cmd->nargs)
            cmd_reply_error(call, CMD_E_USAGE,
                            "%s: expected %zu argument%s, got %zu\nusage: %s",
                            cmd->name, min, min == 1 ? "" : "s", call->argc,
                            usage.data);
        else
            cmd_reply_error(call, CMD_E_USAGE,
                            "%s: expected %zu to %zu arguments, got %zu\nusage: %s",
                            cmd->name, min, cmd->nargs, call->argc, usage.data);
        buf_release(&usage);
        return;
    }
    for (size_t i = 0; i < call->argc; i++)
        if (prepare_arg(call, i) < 0)
            return;
    log_call(call);
    cmd->run(call);
}

/* --- reference ----------------------------------------------------------- */

static const char *type_name(enum cmd_arg_type t)
{
    switch (t) {
    case CMD_ARG_STRING: return "string";
    case CMD_ARG_USER: return "user (JID localpart)";
    case CMD_ARG_HOST: return "host (a configured virtual host)";
    case CMD_ARG_JID: return "JID";
    case CMD_ARG_PASSWORD: return "password (never logged)";
    case CMD_ARG_INT: return "integer";
    }
    return "?";
}

static const char *result_name(enum cmd_result_kind k)
{
    switch (k) {
    case CMD_RESULT_NONE: return "nothing (exit status only)";
    case CMD_RESULT_TEXT: return "text";
    case CMD_RESULT_LIST: return "a list, one item per line";
    }
    return "?";
}

/* The example's words after the command name, shell-style: 'quoted'
 * and "quoted" words keep their spaces.  Returns how many were found. */
static size_t example_words(const char *ex, struct buf *words, size_t *starts, size_t max)
{
    size_t n = 0;
    const char *p = ex;
    bool first = true;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char q = (*p == '"' || *p == '\'') ? *p++ : 0;
        size_t start = words->len;
        while (*p && (q ? *p != q : *p != ' '))
            buf_putc(words, *p++);
        if (q && *p)
            p++;
        buf_putc(words, '\0');
        if (first) {
            first = false;          /* the command name */
            continue;
        }
        if (n < max)
            starts[n++] = start;
    }
    return n;
}

/* The same example as an HTTP API call (docs/http-api.md): the words
 * become the named JSON arguments, integers as numbers. */
static void curl_example(const struct admin_command *cmd, struct buf *out)
{
    struct buf words = BUF_INIT;
    size_t starts[16];
    size_t n = example_words(cmd->example, &words, starts, 16);
    buf_puts(out, "$ curl -s -H \"Authorization: Bearer $TOKEN\" -H \"Content-Type: application/json\" ");
    if (n > cmd->nargs)
        n = cmd->nargs;
    buf_puts(out, "-d '{");
    for (size_t i = 0; i < n; i++) {
        const char *w = words.data + starts[i];
        const struct cmd_arg *a = &cmd->args[i];
        buf_printf(out, "%s\"%s\": ", i ? ", " : "", a->name);
        if (a->type == CMD_ARG_INT) {
            buf_puts(out, w);
        } else {
            buf_putc(out, '"');
            for (const char *c = w; *c; c++) {
                if (*c == '"' || *c == '\\')
                    buf_putc(out, '\\');
                buf_putc(out, *c);
            }
            buf_putc(out, '"');
        }
    }
    buf_printf(out, "}' http://127.0.0.1:5280/api/%s\n", cmd->name);
    buf_release(&words);
}

void cmd_reference(struct buf *out)
{
    buf_puts(out,
             "# Admin commands\n\n"
             "<!-- Generated by `parleyd --commands-reference` from "
             "src/admin/commands.c: do not edit. -->\n\n"
             "Each command is declared once and served by every admin "
             "transport: `parleyctl` over the control socket (see "
             "[parleyctl.md](parleyctl.md)), the HTTP API and XEP-0133 ad-hoc "
             "commands.  Arguments of type *user* and *host* are prepared "
             "(RFC 7622) before the command runs; a *host* must be one of the "
             "configured `hosts`.\n\n");
    for (const struct admin_command *const *c = cmd_all(); *c; c++) {
        buf_printf(out, "- [`%s`](#%s)\n", (*c)->name, (*c)->name);
    }
    for (const struct admin_command *const *c = cmd_all(); *c; c++) {
        const struct admin_command *cmd = *c;
        buf_printf(out, "\n## %s\n\n```\n", cmd->name);
        cmd_usage(cmd, out);
        buf_printf(out, "\n```\n\n%s\n\n", cmd->doc);
        if (cmd->nargs) {
            buf_puts(out, "| Argument | Type | Description |\n|---|---|---|\n");
            for (size_t i = 0; i < cmd->nargs; i++) {
                const struct cmd_arg *a = &cmd->args[i];
                buf_puts(out, "| `");
                for (const char *p = a->name; *p; p++)
                    buf_putc(out, (char)toupper((unsigned char)*p));
                buf_printf(out, "` | %s%s | %s |\n", type_name(a->type),
                           a->optional ? ", optional" : "", a->doc);
            }
            buf_putc(out, '\n');
        }
        buf_printf(out, "Result: %s.\n\nExamples:\n\n```\n$ parleyctl %s\n",
                   result_name(cmd->result), cmd->example);
        curl_example(cmd, out);
        buf_puts(out, "```\n");
    }
}
