/*
 * push_rules.h - the pure parts of Push Notifications (XEP-0357): the
 * storage key of a registration (§5: one per JID and node), which
 * messages warrant a notification, the rate limit, and the publish IQ
 * with its urn:xmpp:push:summary form (§7, §11.3.1).
 *
 * Library-like: depends only on core/ and xml/, unit-tested alone
 * (tests/unit/modules/test_carbons_push_rules.c).
 */
#ifndef PARLEY_MODULES_PUSH_RULES_H
#define PARLEY_MODULES_PUSH_RULES_H

#include <stdbool.h>
#include <stddef.h>

struct stanza;
struct xml_node;

#define NS_PUSH         "urn:xmpp:push:0"
#define NS_PUBSUB       "http://jabber.org/protocol/pubsub"
#define NS_XDATA        "jabber:x:data"
#define PUSH_SUMMARY    "urn:xmpp:push:summary"
#define PUSH_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"

/* Longest last-message-body put in a summary, in bytes: a push carries a
 * preview, not the message (and app servers forward it over channels with
 * small payload limits). */
#define PUSH_BODY_MAX   256

/* The kv key of a registration: "jid\nnode" (caller frees).  A prepared
 * JID never contains a control character (PRECIS disallows them), so the
 * first '\n' always separates the two. */
char *push_key(const char *jid, const char *node);
/* Does key belong to this push service JID (any node)? */
bool push_key_has_jid(const char *key, const char *jid);

/* Does this message warrant a notification?  Messages with a body, or
 * with any payload other than chat states, receipts, markers and hints
 * (an end-to-end encrypted message may have no body). */
bool push_is_notable(const struct xml_node *msg);

/* Rate limit: may a registration last notified at 'last' (seconds, 0 =
 * never) notify again at 'now' with at least 'interval' seconds between
 * notifications? */
bool push_rate_allows(long long last, long long now, long long interval);

struct push_summary {
    unsigned long message_count;    /* messages since the user was last online */
    const char *sender;             /* last-message-sender, NULL to omit */
    const char *body;               /* last-message-body, NULL to omit
                                       (cut to PUSH_BODY_MAX bytes) */
};

/* The XEP-0357 §7 publish IQ (caller unrefs):
 *   <iq type='set' from=from to=to id=id><pubsub xmlns=pubsub>
 *     <publish node=node><item><notification xmlns=push:0>
 *       <x xmlns=data type=submit> FORM_TYPE push:summary + fields </x>
 *     </notification></item></publish>
 *     [<publish-options> copy of options </publish-options>]
 *   </pubsub></iq>
 * 'node' may be NULL (no 'node' attribute); 'options' is the data form the
 * client gave at enable time, or NULL.  All borrowed. */
struct stanza *push_publish_new(const char *from, const char *to, const char *node,
                                const char *id, const struct push_summary *sum,
                                const struct xml_node *options);

/*
 * §7.1 publish errors.  "If a publish request is returned with an
 * IQ-error, then the server SHOULD consider the particular JID and node
 * combination to be disabled.  However, a server MAY choose to keep a
 * service enabled if the error is deemed recoverable or transient".
 * Transient is what RFC 6120 §8.3.2 calls type='wait' ("retry after
 * waiting (the error is temporary)"), and, when the type is missing, the
 * conditions that are defined as wait errors (§8.3.3.12
 * <remote-server-timeout/>, §8.3.3.13 <resource-constraint/>): these
 * are retried.  Everything else (cancel, auth, modify; e.g.
 * <item-not-found/> for a node the app server deleted, <forbidden/> when
 * it revoked the user's publish affiliation, §8) is permanent: the
 * registration is removed.
 */
enum push_failure {
    PUSH_FAIL_TEMPORARY,
    PUSH_FAIL_PERMANENT,
};
/* Classifies an <iq type='error'/> answering a publish. */
enum push_failure push_error_kind(const struct xml_node *iq);

/* Backoff before retry number 'attempt' (1 for the first retry):
 * base * 2^(attempt-1) seconds, at most 'cap' (and never 0). */
unsigned push_retry_delay(unsigned base, unsigned attempt, unsigned cap);

/*
 * §8: a push service that stops accepting notifications MAY tell the
 * user's bare JID with <message><pubsub xmlns=pubsub node=NODE>
 * <affiliation jid=USER affiliation='none'/></pubsub></message>.
 * Returns the node (borrowed from msg) when msg is such a notice about
 * 'user' (a bare JID), else NULL.
 */
const char *push_affiliation_revoked(const struct xml_node *msg, const char *user);

#endif
