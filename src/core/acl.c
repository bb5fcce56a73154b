/*
 * acl.c - matching subjects against 'acl' sets and evaluating
 * 'access_rules' (acl.h).  Pure: the sets are parsed and validated by
 * conf.c at load; nothing here allocates or reads the clock, so a rule is
 * evaluated in time proportional to its entries.
 *
 * CIDR notation per RFC 4632 §3.1 (IPv4) and RFC 4291 §2.3 (IPv6);
 * IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2) are matched as IPv4,
 * since a dual-stack listener on :: reports IPv4 clients that way.
 */
#include "core/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"

/* Longest textual address we accept: INET6_ADDRSTRLEN plus "/128". */
#define CIDR_MAX (INET6_ADDRSTRLEN + 4)

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int acl_parse_cidr(const char *s, struct acl_net *out, const char **why)
{
    char addr[CIDR_MAX + 1];
    size_t len = strlen(s);
    if (len == 0 || len > CIDR_MAX) {
        *why = "expected an IPv4 or IPv6 address or CIDR range such as 10.0.0.0/8 or ::1/128";
        return -1;
    }
    memcpy(addr, s, len + 1);
    char *slash = strchr(addr, '/');
    if (slash)
        *slash = '\0';

    memset(out, 0, sizeof(*out));
    unsigned max;
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        *why = "expected an IPv4 or IPv6 address or CIDR range such as 10.0.0.0/8 or ::1/128";
        return -1;
    }

    out->prefix = max;
    if (slash) {
        const char *p = slash + 1;
        unsigned v = 0;
        if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 3) {
            *why = "expected a prefix length after '/'";
            return -1;
        }
        for (; *p; p++)
            v = v * 10 + (unsigned)(*p - '0');
        if (v > max) {
            *why = max == 32 ? "prefix length must be 0..32 for IPv4"
                             : "prefix length must be 0..128 for IPv6";
            return -1;
        }
        out->prefix = v;
    }
    /* Host bits set ("10.1.2.3/8") is almost always a typo for a narrower
     * range: refuse rather than guess which was meant. */
    for (unsigned bit = out->prefix; bit < max; bit++) {
        if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
            *why = "host bits are set after the prefix (write the network address)";
            return -1;
        }
    }
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool acl_net_match(const struct acl_net *net, const char *ip)
{
    uint8_t a[16];
    if (!ip)
        return false;
    if (inet_pton(AF_INET, ip, a) == 1) {
        if (net->family == AF_INET)
            return prefix_equal(a, net->addr, net->prefix);
        /* An IPv4 client against an IPv6 range: compare its mapped form. */
        uint8_t m[16];
        memcpy(m, v4mapped_prefix, 12);
        memcpy(m + 12, a, 4);
        return prefix_equal(m, net->addr, net->prefix);
    }
    if (inet_pton(AF_INET6, ip, a) != 1)
        return false;
    if (net->family == AF_INET6)
        return prefix_equal(a, net->addr, net->prefix);
    if (memcmp(a, v4mapped_prefix, 12) != 0)
        return false;
    return prefix_equal(a + 12, net->addr, net->prefix);
}

static bool acl_match(const struct acl_def *d, const struct acl_subject *who)
{
    if (who->user) {
        for (size_t i = 0; i < d->nusers; i++) {
            const struct acl_user *u = &d->users[i];
            if (strcmp(u->user, who->user) != 0)
                continue;
            if (!u->server || (who->server && strcmp(u->server, who->server) == 0))
                return true;
        }
    }
    if (who->server)
        for (size_t i = 0; i < d->nservers; i++)
            if (strcmp(d->servers[i], who->server) == 0)
                return true;
    for (size_t i = 0; i < d->nnets; i++)
        if (acl_net_match(&d->nets[i], who->ip))
            return true;
    return false;
}

static const struct access_rule *find_rule(const struct acl_config *ac, const char *rule)
{
    for (size_t i = 0; ac && i < ac->nrules; i++)
        if (strcmp(ac->rules[i].name, rule) == 0)
            return &ac->rules[i];
    return NULL;
}

bool acl_rule_exists(const struct acl_config *ac, const char *rule)
{
    return strcmp(rule, "all") == 0 || strcmp(rule, "none") == 0 || find_rule(ac, rule);
}

bool acl_config_allowed(const struct acl_config *ac, const char *rule,
                        const struct acl_subject *who)
{
    static const struct acl_subject nobody = { NULL, NULL, NULL };
    if (!who)
        who = &nobody;
    const struct access_rule *r = find_rule(ac, rule);
    if (!r)
        return strcmp(rule, "all") == 0;    /* "none" and unknown rules deny */
    for (size_t i = 0; i < r->nentries; i++) {
        const struct access_entry *e = &r->entries[i];
        bool match = e->acl == ACL_ALL ? true
                   : e->acl == ACL_NONE ? false
                   : acl_match(&ac->acls[e->acl], who);
        if (match)
            return e->allow;                /* first match wins */
    }
    return false;
}

bool acl_allowed(const struct conf *c, const char *rule, const struct acl_subject *who)
{
    return acl_config_allowed(c ? &c->acl : NULL, rule, who);
}

void acl_config_release(struct acl_config *ac)
{
    for (size_t i = 0; i < ac->nacls; i++) {
        struct acl_def *d = &ac->acls[i];
        free(d->name);
        for (size_t j = 0; j < d->nusers; j++) {
            free(d->users[j].user);
            free(d->users[j].server);
        }
        free(d->users);
        for (size_t j = 0; j < d->nservers; j++)
            free(d->servers[j]);
        free(d->servers);
        free(d->nets);
    }
    free(ac->acls);
    for (size_t i = 0; i < ac->nrules; i++) {
        free(ac->rules[i].name);
        free(ac->rules[i].entries);
    }
    free(ac->rules);
    memset(ac, 0, sizeof(*ac));
}
