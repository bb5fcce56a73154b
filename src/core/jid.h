/*
 * jid.h - XMPP addresses (RFC 7622).
 *
 * Preparation follows RFC 7622 §3: localparts with the PRECIS
 * UsernameCaseMapped profile minus " & ' / : < > @, resourceparts with
 * OpaqueString (RFC 8265, core/precis.h), domainparts with IDNA2008
 * (libidn2; A-labels become U-labels).  Unassigned code points are
 * refused in every part.  Each part is limited to 1023 bytes after
 * preparation (§3.2-3.4).  Domain parts are lower-cased, a single
 * trailing dot is removed (§3.2), and IPv4/IPv6 literals ([::1]) are
 * accepted as domains.
 */
#ifndef PARLEY_CORE_JID_H
#define PARLEY_CORE_JID_H

#include <stdbool.h>
#include <stddef.h>

#define JID_PART_MAX 1023

/* A prepared JID: one heap block holding the three parts and the full
 * string.  All pointers point into that block; local and resource are
 * NULL when absent. */
struct jid {
    const char *local;          /* NULL if none */
    const char *domain;         /* never NULL */
    const char *resource;       /* NULL if none */
    const char *full;           /* "local@domain/resource" */
    const char *bare;           /* "local@domain" (or "domain") */
};

/* Parses and prepares 's'.  Returns a new jid (free with jid_free) or NULL
 * if 's' is not a valid JID.  */
struct jid *jid_parse(const char *s);
/* Builds from separate parts (local/resource may be NULL), preparing each. */
struct jid *jid_make(const char *local, const char *domain, const char *resource);
struct jid *jid_dup(const struct jid *j);
/* The bare form of j (no resource), new allocation. */
struct jid *jid_bare(const struct jid *j);
void jid_free(struct jid *j);

/* Preparation of single parts into caller buffers of JID_PART_MAX+1 bytes.
 * Return 0, or -1 when the input is invalid (empty, too long, prohibited
 * characters, bad UTF-8). */
int jid_prep_local(const char *in, char out[JID_PART_MAX + 1]);
int jid_prep_domain(const char *in, char out[JID_PART_MAX + 1]);
int jid_prep_resource(const char *in, char out[JID_PART_MAX + 1]);

bool jid_equal(const struct jid *a, const struct jid *b);       /* full */
bool jid_bare_equal(const struct jid *a, const struct jid *b);

#endif
