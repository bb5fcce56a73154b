/*
 * muc_rules.c - roles, affiliations and their permission checks, history
 * limits and flood control of XEP-0045 (see muc_rules.h for the sections).
 * Pure logic: no server header, so tests/unit/muc/test_muc_rules.c links
 * only this file.
 */
#include "muc/muc_rules.h"

#include <string.h>

static const char *const role_names[] = { "none", "visitor", "participant", "moderator" };
static const char *const affil_names[] = { "outcast", "none", "member", "admin", "owner" };

static int lookup(const char *const *names, int n, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int muc_role_parse(const char *s)
{
    return lookup(role_names, 4, s);
}

int muc_affil_parse(const char *s)
{
    return lookup(affil_names, 5, s);
}

const char *muc_role_name(enum muc_role r)
{
    return (unsigned)r < 4 ? role_names[r] : "none";
}

const char *muc_affil_name(enum muc_affil a)
{
    return (unsigned)a < 5 ? affil_names[a] : "none";
}

enum muc_role muc_default_role(enum muc_affil a, bool moderated)
{
    switch (a) {
    case MUC_AFFIL_OWNER:
    case MUC_AFFIL_ADMIN:
        return MUC_ROLE_MODERATOR;
    case MUC_AFFIL_MEMBER:
        return MUC_ROLE_PARTICIPANT;
    case MUC_AFFIL_NONE:
        return moderated ? MUC_ROLE_VISITOR : MUC_ROLE_PARTICIPANT;
    case MUC_AFFIL_OUTCAST:
        break;
    }
    return MUC_ROLE_NONE;
}

enum muc_verdict muc_check_role_change(enum muc_affil actor_affil, enum muc_role actor_role,
                                       enum muc_affil target_affil, enum muc_role target_role,
                                       enum muc_role new_role)
{
    /* §8: role changes are a moderator's; §9.6/§9.7: the moderator role
     * itself is granted and revoked by admins and owners only. */
    if (actor_role != MUC_ROLE_MODERATOR)
        return MUC_FORBIDDEN;
    if (new_role == MUC_ROLE_NONE) {
        /* §8.2: "A user cannot be kicked by a moderator with a lower
         * affiliation." (checked first: kicking a moderator is a kick,
         * not a revocation of moderator status) */
        if (target_affil > actor_affil)
            return MUC_NOT_ALLOWED;
        return MUC_OK;
    }
    bool touches_moderator = new_role == MUC_ROLE_MODERATOR ||
                             (target_role == MUC_ROLE_MODERATOR && new_role != MUC_ROLE_MODERATOR);
    if (touches_moderator && actor_affil < MUC_AFFIL_ADMIN) {
        /* §9.7: an admin revoking an owner's/admin's moderator status is
         * not-allowed; anyone below admin lacks the privilege. */
        return MUC_FORBIDDEN;
    }
    if (new_role < target_role) {
        /* §8.4: voice (and §9.7 moderator status) of an admin or owner
         * cannot be removed by anyone, and "a moderator MUST NOT be able
         * to revoke voice from a user whose affiliation is at or above the
         * moderator's level": a member-moderator cannot silence another
         * member.  "none" is the absence of an affiliation, not a level:
         * a moderator without affiliation still revokes voice from
         * unaffiliated occupants (§5.1 table: moderators revoke voice). */
        if (target_affil >= MUC_AFFIL_ADMIN || target_affil > actor_affil ||
            (target_affil == actor_affil && target_affil > MUC_AFFIL_NONE))
            return MUC_NOT_ALLOWED;
    }
    return MUC_OK;
}

enum muc_verdict muc_check_affil_change(enum muc_affil actor_affil, enum muc_affil target_affil,
                                        enum muc_affil new_affil, size_t owners, bool self)
{
    if (actor_affil < MUC_AFFIL_ADMIN)
        return MUC_FORBIDDEN;           /* §9: admin use cases */
    /* §9.1: "If an admin or owner attempts to ban himself, the service
     * MUST deny the request and return a <conflict/>" -- even an owner
     * while other owners remain (stepping down is done otherwise). */
    if (self && new_affil == MUC_AFFIL_OUTCAST)
        return MUC_SELF_BAN;
    if (actor_affil < MUC_AFFIL_OWNER) {
        if (target_affil >= MUC_AFFIL_ADMIN) {
            /* §9.1: "a user cannot be banned by an admin with a lower
             * affiliation" (<not-allowed/>); §9.2 keeps that for a ban of
             * an equal admin.  Any other change of an owner's or admin's
             * affiliation edits the owner or admin list, which only
             * owners may do (§10.4, §10.7, §10.8: <forbidden/>), the
             * admin's own included. */
            return new_affil == MUC_AFFIL_OUTCAST ? MUC_NOT_ALLOWED : MUC_FORBIDDEN;
        }
        /* §10.3/§10.6: granting admin or owner is an owner use case. */
        if (new_affil >= MUC_AFFIL_ADMIN)
            return MUC_FORBIDDEN;
    }
    /* §10.2, §10.4, §10.5: an owner may not revoke their own (or the
     * last remaining) owner status when no other owner remains
     * (<conflict/>); every room keeps an owner. */
    if (target_affil == MUC_AFFIL_OWNER && new_affil != MUC_AFFIL_OWNER && owners <= 1)
        return MUC_CONFLICT;
    return MUC_OK;
}

bool muc_can_read_list(enum muc_affil actor_affil, enum muc_role actor_role,
                       int role, int affil)
{
    if (role >= 0) {
        if (role == MUC_ROLE_MODERATOR)
            return actor_affil >= MUC_AFFIL_ADMIN;   /* §9.8 */
        if (role == MUC_ROLE_PARTICIPANT || role == MUC_ROLE_VISITOR)
            return actor_role == MUC_ROLE_MODERATOR; /* §8.5 */
        return false;
    }
    switch (affil) {
    case MUC_AFFIL_OUTCAST:
    case MUC_AFFIL_MEMBER:
        return actor_affil >= MUC_AFFIL_ADMIN;       /* §9.2, §9.5 */
    case MUC_AFFIL_ADMIN:
    case MUC_AFFIL_OWNER:
        return actor_affil == MUC_AFFIL_OWNER;       /* §10.5, §10.8 */
    default:
        return false;
    }
}

size_t muc_history_start(const struct muc_history_entry *e, size_t n,
                         const struct muc_history_limits *lim, long long now_us,
                         long max_fetch)
{
    size_t start = 0;
    long stanzas = lim->maxstanzas;
    if (max_fetch >= 0 && (stanzas < 0 || stanzas > max_fetch))
        stanzas = max_fetch;
    if (stanzas >= 0 && (size_t)stanzas < n)
        start = n - (size_t)stanzas;
    long long after = 0;
    if (lim->seconds >= 0)
        after = now_us - lim->seconds * 1000000LL;
    if (lim->since_us > after)
        after = lim->since_us;
    if (lim->seconds >= 0 || lim->since_us > 0) {
        while (start < n && e[start].stamp_us < after)
            start++;
    }
    if (lim->maxchars >= 0) {
        /* The newest messages that fit in maxchars in total. */
        size_t total = 0, i = n;
        while (i > start && total + e[i - 1].chars <= (size_t)lim->maxchars) {
            total += e[i - 1].chars;
            i--;
        }
        start = i;
    }
    return start;
}

bool muc_bucket_take(struct muc_bucket *b, unsigned rate, long long now_ms)
{
    if (rate == 0)
        return true;            /* 0 = unlimited */
    double cap = rate;
    if (b->last_ms == 0) {
        b->tokens = cap;
    } else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > cap)
            b->tokens = cap;
    }
    b->last_ms = now_ms;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}
