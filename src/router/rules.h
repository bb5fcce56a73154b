/*
 * rules.h - the pure decisions of RFC 6121 §8.5 for messages to a local
 * account, separated from delivery so they are tested table by table.
 */
#ifndef PARLEY_ROUTER_RULES_H
#define PARLEY_ROUTER_RULES_H

#include <stdbool.h>
#include <stddef.h>

enum msg_action {
    MSG_DELIVER,        /* to the resources marked in pick[] */
    MSG_OFFLINE,        /* store offline (or bounce when nothing stores it) */
    MSG_BOUNCE,         /* <service-unavailable/> to the sender */
    MSG_IGNORE,         /* silently ignored, as the RFC demands */
};

/* One resource of the account as the rules see it. */
struct rule_resource {
    bool available;     /* has sent available presence */
    int priority;
};

/* Decides what happens to a message of 'type' ("normal", "chat",
 * "groupchat", "headline", "error") for an account that exists
 * (exists=false: §8.5.1) with resources res[0..n).  For MSG_DELIVER,
 * pick[i] is set for each resource that gets the message:
 * chat and normal go to every resource of the highest non-negative
 * priority, headline to all non-negative ones (§8.5.2.1.1).  A message to
 * a full JID whose resource is not bound follows these bare-JID rules. */
enum msg_action rules_message(const char *type, bool exists,
                              const struct rule_resource *res, size_t n, bool *pick);

#endif
