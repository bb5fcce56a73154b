/* commands_api.c - HTTP API token commands (issue 5): api_token_create,
 * api_token_list, api_token_revoke.  (stubs: being written) */
#include "admin/command.h"

static const struct cmd_arg args_name[] = {
    { "name", CMD_ARG_STRING, "the token's name", false },
};

static void not_yet(struct cmd_call *call)
{
    cmd_reply_error(call, CMD_E_INTERNAL, "%s is not implemented yet", call->cmd->name);
}

const struct admin_command cmd_api_token_create = {
    .name = "api_token_create", .args = args_name, .nargs = 1, .result = CMD_RESULT_TEXT,
    .doc = "Creates an HTTP API token.", .example = "api_token_create deploy", .run = not_yet,
};
const struct admin_command cmd_api_token_list = {
    .name = "api_token_list", .args = NULL, .nargs = 0, .result = CMD_RESULT_LIST,
    .doc = "Lists HTTP API tokens.", .example = "api_token_list", .run = not_yet,
};
const struct admin_command cmd_api_token_revoke = {
    .name = "api_token_revoke", .args = args_name, .nargs = 1, .result = CMD_RESULT_NONE,
    .doc = "Revokes an HTTP API token.", .example = "api_token_revoke deploy", .run = not_yet,
};
