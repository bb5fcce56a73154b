/*
 * muc_rules.h - the pure rules of XEP-0045 (Multi-User Chat), kept apart
 * from the server so that unit tests link only them:
 *
 *   §5.1   roles: names, and the default role an affiliation gets (§5.1.2
 *          for moderated rooms, visitors)
 *   §5.2   affiliations: names and their order (owner > admin > member >
 *          none > outcast)
 *   §8-§10 who may change a role or an affiliation, and the error a
 *          refused change gets (§8.2 kick, §8.3/8.4 voice, §9.1 ban and
 *          self-ban, §9.3/9.4 membership, §9.6/9.7 moderator, §10.3-10.8
 *          owner/admin lists, the last owner)
 *   §7.2.14 discussion history limits on entry (maxchars, maxstanzas,
 *          seconds, since)
 */
#ifndef PARLEY_MUC_MUC_RULES_H
#define PARLEY_MUC_MUC_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* Ordered: a higher value has more privileges. */
enum muc_role {
    MUC_ROLE_NONE,
    MUC_ROLE_VISITOR,
    MUC_ROLE_PARTICIPANT,
    MUC_ROLE_MODERATOR,
};

/* Ordered: a higher value has more privileges. */
enum muc_affil {
    MUC_AFFIL_OUTCAST,
    MUC_AFFIL_NONE,
    MUC_AFFIL_MEMBER,
    MUC_AFFIL_ADMIN,
    MUC_AFFIL_OWNER,
};

/* Parses "moderator" ...; -1 when unknown. */
int muc_role_parse(const char *s);
int muc_affil_parse(const char *s);
const char *muc_role_name(enum muc_role r);
const char *muc_affil_name(enum muc_affil a);

/* §5.1.2 / Table 4: the role an occupant of this affiliation gets on
 * entering (owners and admins moderate; in a moderated room people without
 * affiliation are visitors).  Outcasts get MUC_ROLE_NONE (not admitted). */
enum muc_role muc_default_role(enum muc_affil a, bool moderated);

/* The verdict on a requested change: what the XEP says to answer. */
enum muc_verdict {
    MUC_OK,
    MUC_FORBIDDEN,          /* <forbidden/> type auth: actor lacks the privilege */
    MUC_NOT_ALLOWED,        /* <not-allowed/> type cancel: target is protected
                               (§8.2 an admin/owner cannot be kicked, §9.1
                               an admin cannot ban an admin/owner) */
    MUC_CONFLICT,           /* <conflict/> type cancel: the last owner (§10.4) */
    MUC_SELF_BAN,           /* <conflict/> type cancel: §9.1 an admin or owner
                               banning themselves */
};

/* May an occupant (actor_affil, actor_role) set the role of an occupant
 * (target_affil, target_role) to new_role?  §8.2-§8.5, §9.6-§9.7. */
enum muc_verdict muc_check_role_change(enum muc_affil actor_affil, enum muc_role actor_role,
                                       enum muc_affil target_affil, enum muc_role target_role,
                                       enum muc_role new_role);

/* May a user with actor_affil change target's affiliation from
 * target_affil to new_affil?  'owners' is the number of owners of the
 * room now (the last one cannot go, §10.4/§10.5: <conflict/>).  'self'
 * when the actor changes their own affiliation: a ban of oneself is a
 * <conflict/> (§9.1); an owner may step down if another owner remains
 * (§10.4); an admin may not (only owners edit the admin list, §10.7). */
enum muc_verdict muc_check_affil_change(enum muc_affil actor_affil, enum muc_affil target_affil,
                                        enum muc_affil new_affil, size_t owners, bool self);

/* May an actor with this affiliation/role read the list of items with
 * this role (role >= 0) or affiliation (affil >= 0)? (§8.5 voice list,
 * §9.5 member list, §9.8 moderator list, §10.5 owner list, §10.8 admin
 * list).  'members_only' lets members read the member list (§9.5). */
bool muc_can_read_list(enum muc_affil actor_affil, enum muc_role actor_role,
                       int role, int affil);

/* --- discussion history (§7.2.14) ------------------------------------------ */

struct muc_history_limits {
    long maxchars;              /* < 0: not given */
    long maxstanzas;            /* < 0: not given */
    long long seconds;          /* < 0: not given */
    long long since_us;         /* 0: not given; microseconds since the epoch */
};

/* One stored history entry as the limits see it. */
struct muc_history_entry {
    long long stamp_us;         /* when the room received it */
    size_t chars;               /* length of its serialized XML */
};

/* Of n entries (oldest first), the index of the first one to send: every
 * limit given is applied, and the most restrictive wins (§7.2.14: "the
 * room MUST send the smaller of the two" applies among all limits).
 * 'now_us' is the current time; 'max_fetch' is the room's own maximum
 * (muc#maxhistoryfetch, < 0 = none).  Returns n when nothing is sent. */
size_t muc_history_start(const struct muc_history_entry *e, size_t n,
                         const struct muc_history_limits *lim, long long now_us,
                         long max_fetch);

/* --- flood control ------------------------------------------------------------- */

/* A token bucket per occupant: 'rate' messages per second, bursts of
 * 'rate' (at least 1).  Returns true and takes a token when one is
 * available at now_ms. */
struct muc_bucket {
    double tokens;
    long long last_ms;
};
bool muc_bucket_take(struct muc_bucket *b, unsigned rate, long long now_ms);

#endif
