/*
 * acl.h - access control: 'acl' (named sets of users, servers, IP ranges)
 * and 'access_rules' (ordered allow/deny lists over those sets) from the
 * configuration, in ejabberd's shape:
 *
 *   acl:
 *     admin:
 *       user: [admin@example.org]
 *     local:
 *       server: [example.org]
 *     lan:
 *       ip: [10.0.0.0/8, "::1/128"]
 *   access_rules:
 *     register:
 *       - allow: lan
 *       - deny: all
 *     api_admin:
 *       - allow: admin
 *
 * Rules are read in order; the first entry whose ACL matches decides;
 * no match denies.  'all' and 'none' are built-in ACLs.  Used for: who is
 * an admin (rule "admin": XEP-0133 ad-hoc commands, HTTP API by Basic
 * auth), who may register in-band (rule "register"), which API tokens or
 * users may call which commands, who may create MUC rooms.
 */
#ifndef PARLEY_CORE_ACL_H
#define PARLEY_CORE_ACL_H

#include <stdbool.h>

struct conf;

/* Who is asking: any field may be NULL when unknown (an HTTP client has
 * no JID until it authenticates; a c2s peer before SASL has no user). */
struct acl_subject {
    const char *user;           /* localpart, prepared */
    const char *server;         /* domainpart, prepared */
    const char *ip;             /* textual IPv4 or IPv6 address */
};

/* Does 'rule' (a name under access_rules) allow the subject?  An unknown
 * rule name denies, except the built-in rules "all" (allow) and "none"
 * (deny). */
bool acl_allowed(const struct conf *c, const char *rule, const struct acl_subject *who);

#endif
