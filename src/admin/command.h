/*
 * command.h - the one admin command registry (ARCHITECTURE.md principle 7).
 *
 * Each admin command is declared once: name, typed arguments, result kind,
 * doc, handler.  parleyctl (over the control socket), the HTTP API and
 * XEP-0133 ad-hoc commands are transports over this table; docs/admin.md
 * is generated from it (parleyd --commands-reference).
 *
 * Handlers run on the loop thread and may complete asynchronously (storage
 * calls): they finish by calling exactly one cmd_reply_*() on the call,
 * possibly later.  The transport owns the call and frees it after the reply.
 */
#ifndef PARLEY_ADMIN_COMMAND_H
#define PARLEY_ADMIN_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct server;

enum cmd_arg_type {
    CMD_ARG_STRING,             /* free text (a reason) */
    CMD_ARG_USER,               /* JID localpart, prepared before the handler runs */
    CMD_ARG_HOST,               /* a configured virtual host, prepared and checked */
    CMD_ARG_JID,                /* a JID (bare or full), prepared */
    CMD_ARG_PASSWORD,           /* never logged */
    CMD_ARG_INT,
};

struct cmd_arg {
    const char *name;
    enum cmd_arg_type type;
    const char *doc;
    bool optional;              /* may be omitted; only trailing args may be */
};

enum cmd_result_kind {
    CMD_RESULT_NONE,            /* success says nothing */
    CMD_RESULT_TEXT,            /* one string */
    CMD_RESULT_LIST,            /* a list of strings, one per line */
};

/* Error classes; each transport maps them (parleyctl exit code, HTTP
 * status, ad-hoc note type). */
enum cmd_status {
    CMD_OK = 0,
    CMD_E_USAGE,                /* wrong argument count or value (HTTP 400) */
    CMD_E_NOT_FOUND,            /* no such user/session/host (404) */
    CMD_E_CONFLICT,             /* already exists (409) */
    CMD_E_FORBIDDEN,            /* (403) */
    CMD_E_INTERNAL,             /* storage or other failure (500) */
    CMD_E_UNKNOWN_COMMAND,      /* (404) */
};

struct cmd_call;

struct admin_command {
    const char *name;
    const struct cmd_arg *args;         /* array of nargs */
    size_t nargs;
    enum cmd_result_kind result;
    const char *doc;                    /* one paragraph */
    const char *example;                /* "register alice localhost s3cret" */
    void (*run)(struct cmd_call *call);
};

/* A call in progress. */
struct cmd_call {
    struct server *srv;
    const struct admin_command *cmd;
    char **argv;                        /* nargs values, prepared per type */
    /* transport side: */
    void (*done)(struct cmd_call *call, enum cmd_status st, struct buf *out,
                 char **list, size_t nlist);
    void *transport;                    /* the transport's own state */
    /* Added fields: */
    size_t argc;                        /* values in argv: nargs, or fewer
                                           when trailing args are optional */
    const char *origin;                 /* "ctl", "http", ...: for the log; may be NULL */
};

/* How done() is called (the cmd_reply_* helpers do it):
 *   success, result NONE:  st CMD_OK, out NULL, list NULL
 *   success, TEXT:         st CMD_OK, out = the text
 *   success, LIST:         st CMD_OK, out NULL, list non-NULL (nlist may be 0)
 *   error:                 st CMD_E_*, out = the message
 * out and list are borrowed for the duration of done().  done() may free
 * the call (argv included): the helpers touch nothing after it, and a
 * handler must not touch the call after its cmd_reply_*().
 * argv[i] are heap strings (free()) owned by the call; cmd_dispatch may
 * replace one with its prepared form (freeing the old one). */

/* The registry. */
const struct admin_command *cmd_find(const char *name);
/* NULL-terminated array of all commands, sorted by name. */
const struct admin_command *const *cmd_all(void);

/* Validates and prepares argv (count, types: user/host/jid prepared in
 * place, host must be configured) and runs the handler.  On a validation
 * error, replies with CMD_E_USAGE/CMD_E_NOT_FOUND naming the argument. */
void cmd_dispatch(struct cmd_call *call);

void cmd_reply_ok(struct cmd_call *call);
void cmd_reply_text(struct cmd_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes the strings (not the array) by copy. */
void cmd_reply_list(struct cmd_call *call, char *const *items, size_t n);
void cmd_reply_error(struct cmd_call *call, enum cmd_status st,
                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends the usage line: "register USER HOST PASSWORD", "help [COMMAND]". */
void cmd_usage(const struct admin_command *cmd, struct buf *out);
/* Appends a user-supplied value quoted into a message or log line:
 * control characters become '?', and it is clipped to 80 bytes + "...". */
void cmd_quote(struct buf *out, const char *s);
/* The first sentence of cmd->doc, for one-line listings. */
void cmd_summary(const struct admin_command *cmd, struct buf *out);

/* Markdown reference of every command (docs/admin.md). */
void cmd_reference(struct buf *out);

#endif
