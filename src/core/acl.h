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
 * An ACL matches a subject when any of its entries does: a 'user' entry
 * is a bare JID (that account) or a bare localpart (that user name on any
 * host); a 'server' entry a domain; an 'ip' entry an IPv4 or IPv6 CIDR
 * range (a bare address is a /32 or /128).  IPv4-mapped IPv6 client
 * addresses (::ffff:a.b.c.d) match IPv4 ranges.
 *
 * Rules are read in order; the first entry whose ACL matches decides;
 * no match denies.  'all' and 'none' are built-in ACLs.  Used for: who is
 * an admin (rule "admin": XEP-0133 ad-hoc commands), who may register
 * in-band (rule "register"), who may call which HTTP API commands (rules
 * "api" and "api_COMMAND", see docs/http-api.md), who may create MUC rooms.
 *
 * conf.c parses the sections into struct acl_config (validated at load:
 * unknown ACL names in a rule, malformed JIDs and CIDRs are file:line
 * errors); the matching below is pure and unit-tested on its own.
 */
#ifndef PARLEY_CORE_ACL_H
#define PARLEY_CORE_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;

/* One 'ip' entry: network address (host bits cleared) and prefix length. */
struct acl_net {
    int family;                 /* AF_INET or AF_INET6 */
    uint8_t addr[16];           /* network byte order; 4 bytes used for IPv4 */
    unsigned prefix;            /* 0..32 or 0..128 */
};

/* One 'user' entry: user@server, or a localpart on any host (server NULL). */
struct acl_user {
    char *user;                 /* prepared localpart */
    char *server;               /* prepared domain, or NULL for any */
};

struct acl_def {
    char *name;
    struct acl_user *users;
    size_t nusers;
    char **servers;             /* prepared domains */
    size_t nservers;
    struct acl_net *nets;
    size_t nnets;
    int line;
};

/* Index of the built-in ACLs in access_entry.acl (others index acls[]). */
#define ACL_ALL  ((size_t)-1)
#define ACL_NONE ((size_t)-2)

struct access_entry {
    bool allow;
    size_t acl;                 /* index into acl_config.acls, or ACL_ALL/ACL_NONE */
};

struct access_rule {
    char *name;
    struct access_entry *entries;
    size_t nentries;
    int line;
};

struct acl_config {
    struct acl_def *acls;
    size_t nacls;
    struct access_rule *rules;
    size_t nrules;
};

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
/* The same over a bare acl_config (what acl_allowed uses; for tests). */
bool acl_config_allowed(const struct acl_config *ac, const char *rule,
                        const struct acl_subject *who);
/* Is 'rule' defined under access_rules (or built in)? */
bool acl_rule_exists(const struct acl_config *ac, const char *rule);

/* Parses "10.0.0.0/8", "::1/128", "192.0.2.1" into *out.  Returns 0, or
 * -1 with a static reason in *why (bad address, prefix out of range, host
 * bits set). */
int acl_parse_cidr(const char *s, struct acl_net *out, const char **why);
/* Does textual address 'ip' fall in 'net'? */
bool acl_net_match(const struct acl_net *net, const char *ip);

void acl_config_release(struct acl_config *ac);

#endif
