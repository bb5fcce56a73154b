/* commands_ban.c - account moderation commands (issue 5): ban_account,
 * unban_account, get_ban_details, and announce.  (stubs: being written) */
#include "admin/command.h"

static const struct cmd_arg args_ban[] = {
    { "user", CMD_ARG_USER, "the account's localpart", false },
    { "host", CMD_ARG_HOST, "a configured virtual host", false },
    { "reason", CMD_ARG_STRING, "why, shown to the user", false },
};

static const struct cmd_arg args_user_host[] = {
    { "user", CMD_ARG_USER, "the account's localpart", false },
    { "host", CMD_ARG_HOST, "a configured virtual host", false },
};

static const struct cmd_arg args_announce[] = {
    { "host", CMD_ARG_HOST, "a configured virtual host", false },
    { "text", CMD_ARG_STRING, "the message body", false },
};

static void not_yet(struct cmd_call *call)
{
    cmd_reply_error(call, CMD_E_INTERNAL, "%s is not implemented yet", call->cmd->name);
}

const struct admin_command cmd_ban_account = {
    .name = "ban_account", .args = args_ban, .nargs = 3, .result = CMD_RESULT_NONE,
    .doc = "Bans an account.", .example = "ban_account alice localhost spam", .run = not_yet,
};
const struct admin_command cmd_unban_account = {
    .name = "unban_account", .args = args_user_host, .nargs = 2, .result = CMD_RESULT_NONE,
    .doc = "Lifts a ban.", .example = "unban_account alice localhost", .run = not_yet,
};
const struct admin_command cmd_get_ban_details = {
    .name = "get_ban_details", .args = args_user_host, .nargs = 2, .result = CMD_RESULT_TEXT,
    .doc = "Shows a ban.", .example = "get_ban_details alice localhost", .run = not_yet,
};
const struct admin_command cmd_announce = {
    .name = "announce", .args = args_announce, .nargs = 2, .result = CMD_RESULT_NONE,
    .doc = "Sends a message to every online user of a host.",
    .example = "announce localhost \"maintenance at 22:00\"", .run = not_yet,
};
