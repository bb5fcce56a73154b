/*
 * api.h - the pure half of the HTTP API (docs/http-api.md): JSON
 * arguments to a command's argv, replies to JSON and HTTP statuses, the
 * GET /api listing generated from the registry, and the Authorization
 * header (RFC 7617 Basic, RFC 6750 Bearer).  No I/O, no server: unit
 * tested on its own (tests/unit/http/test_api.c).
 */
#ifndef PARLEY_HTTP_API_H
#define PARLEY_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "admin/command.h"
#include "core/buf.h"

/* Longest argument value accepted from JSON (a reason, a password...). */
#define API_ARG_MAX 4096

/*
 * Maps the JSON object 'args' (NULL: no arguments) to the command's argv
 * in declaration order.  Keys are the registry's cmd_arg names; values are
 * strings, or for CMD_ARG_INT also integers; null counts as absent.
 * Returns 0 with a heap argv (argc entries, NULL-terminated; free each and
 * the array) or -1 with a message in err and, when one argument is at
 * fault, its name in *bad_arg (static, from the registry or the request:
 * valid until 'args' is freed).
 */
int api_args_from_json(const struct admin_command *cmd, json_t *args,
                       char ***argv_out, size_t *argc_out, struct buf *err,
                       const char **bad_arg);

/* HTTP status for a command outcome. */
int api_http_status(enum cmd_status st);

/* The JSON body of a command's reply (new reference):
 *   success: {"result": "text"} | {"result": ["a", ...]} | {"result": "ok"}
 *   error:   {"error": "first line of the message", "argument": "name"?} */
json_t *api_reply_json(enum cmd_status st, const struct buf *out, char *const *list,
                       size_t nlist);
json_t *api_error_json(const char *message, const char *argument);

/* The argument a command's error message names ("argument 'user': ..."),
 * copied into name (at most n bytes), or false. */
bool api_error_argument(const char *message, char *name, size_t n);

/* {"name", "doc", "result", "args": [{"name", "type", "optional", "doc"}]} */
json_t *api_command_json(const struct admin_command *cmd);
/* {"commands": [...]} over a NULL-terminated command list. */
json_t *api_listing_json(const struct admin_command *const *all);

/* The Authorization header. */
enum api_auth_kind {
    API_AUTH_NONE,              /* no header */
    API_AUTH_BEARER,
    API_AUTH_BASIC,
    API_AUTH_INVALID,           /* malformed or another scheme */
};

struct api_auth {
    enum api_auth_kind kind;
    char *token;                /* bearer */
    char *user;                 /* basic: the user-id (a JID), not prepared */
    char *password;             /* basic */
};

/* Parses 'header' (NULL: none) into out; free with api_auth_release. */
void api_auth_parse(const char *header, struct api_auth *out);
void api_auth_release(struct api_auth *a);

#endif
