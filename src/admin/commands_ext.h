/* commands_ext.h - commands defined outside commands.c, listed in its
 * sorted table: moderation (commands_ban.c) and API tokens (commands_api.c). */
#ifndef PARLEY_ADMIN_COMMANDS_EXT_H
#define PARLEY_ADMIN_COMMANDS_EXT_H

#include "admin/command.h"

extern const struct admin_command cmd_announce;
extern const struct admin_command cmd_api_token_create;
extern const struct admin_command cmd_api_token_list;
extern const struct admin_command cmd_api_token_revoke;
extern const struct admin_command cmd_ban_account;
extern const struct admin_command cmd_get_ban_details;
extern const struct admin_command cmd_unban_account;

#endif
