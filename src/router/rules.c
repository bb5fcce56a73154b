/* rules.c - RFC 6121 §8.5 message decisions; see rules.h. */
#include "router/rules.h"

#include <string.h>

enum msg_action rules_message(const char *type, bool exists,
                              const struct rule_resource *res, size_t n, bool *pick)
{
    bool error = strcmp(type, "error") == 0;
    bool headline = strcmp(type, "headline") == 0;
    bool groupchat = strcmp(type, "groupchat") == 0;

    if (!exists) {
        /* §8.5.1 / §8.5.4 table: bounce, but never answer an error, and
         * headlines are ignored. */
        return error || headline ? MSG_IGNORE : MSG_BOUNCE;
    }
    if (error)
        return MSG_IGNORE;      /* §8.5.2.1.1, §8.5.2.2.1 */
    if (groupchat)
        return MSG_BOUNCE;      /* never to an account's resources */

    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (res[i].available && res[i].priority > best)
            best = res[i].priority;
    if (best < 0) {
        /* No available resource, or only negative ones: §8.5.2.2.1. */
        return headline ? MSG_IGNORE : MSG_OFFLINE;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok = res[i].available && res[i].priority >= 0;
        pick[i] = ok && (headline || res[i].priority == best);
    }
    return MSG_DELIVER;
}
