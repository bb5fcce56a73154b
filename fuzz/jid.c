/*
 * jid.c - libFuzzer target for JID parsing and preparation (src/core/jid.c;
 * RFC 7622 §3: PRECIS localparts and resourceparts, IDNA2008 domainparts).
 *
 * The input is one JID as a peer would send it in a 'to'/'from' attribute.
 * Besides memory safety it checks what the router relies on:
 *   - a parsed JID reparses to itself (full and bare forms), so comparing
 *     prepared strings is comparing addresses;
 *   - each part is at most JID_PART_MAX bytes and the domain is never empty;
 *   - jid_make from the parts gives the same JID, jid_bare drops the resource;
 *   - preparing a part twice changes nothing (idempotence).
 */
#include "fuzz.h"

#include "core/jid.h"

static void check_idempotent(int (*prep)(const char *, char *), const char *in)
{
    char once[JID_PART_MAX + 1], twice[JID_PART_MAX + 1];
    if (prep(in, once) < 0)
        return;
    FZ_CHECK(strlen(once) <= JID_PART_MAX);
    FZ_CHECK(prep(once, twice) == 0);
    FZ_CHECK(strcmp(once, twice) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_strndup(data, size);

    struct jid *j = jid_parse(s);
    if (j) {
        FZ_CHECK(j->domain && j->domain[0] != '\0');
        FZ_CHECK(strlen(j->domain) <= JID_PART_MAX);
        FZ_CHECK(!j->local || (j->local[0] && strlen(j->local) <= JID_PART_MAX));
        FZ_CHECK(!j->resource || (j->resource[0] && strlen(j->resource) <= JID_PART_MAX));

        struct jid *again = jid_parse(j->full);
        FZ_CHECK(again != NULL);
        FZ_CHECK(jid_equal(j, again));
        FZ_CHECK(strcmp(again->full, j->full) == 0);
        jid_free(again);

        struct jid *made = jid_make(j->local, j->domain, j->resource);
        FZ_CHECK(made != NULL);
        FZ_CHECK(jid_equal(j, made));
        jid_free(made);

        struct jid *bare = jid_bare(j);
        FZ_CHECK(bare->resource == NULL);
        FZ_CHECK(jid_bare_equal(j, bare));
        FZ_CHECK(strcmp(bare->full, j->bare) == 0);
        struct jid *bare2 = jid_parse(j->bare);
        FZ_CHECK(bare2 != NULL && jid_equal(bare, bare2));
        jid_free(bare2);
        jid_free(bare);

        struct jid *dup = jid_dup(j);
        FZ_CHECK(jid_equal(j, dup));
        jid_free(dup);
        jid_free(j);
    }

    check_idempotent(jid_prep_local, s);
    check_idempotent(jid_prep_domain, s);
    check_idempotent(jid_prep_resource, s);
    free(s);
    return 0;
}
