/*
 * muc_config.h - a room's configuration (XEP-0045 §10.2, §15.5.3 the
 * muc#roomconfig FORM_TYPE): the settings, the owner's data form
 * (XEP-0004) in both directions, and the stored form of the settings.
 * Pure logic over xml trees; tested by tests/unit/muc/test_muc_config.c.
 *
 * Two list-multi fields of role names: muc#roomconfig_presencebroadcast
 * (roles whose presence is broadcast, §7.2.2 / §7.2.4) and
 * muc#roomconfig_getmemberlist (roles whose occupants may retrieve the
 * member list, §7.11 / §9.5).  Beyond the §15.5.3 fields, the room's own
 * x-parley#roomconfig_allowregister (may users register with the room,
 * §7.10; no registered field says so).
 */
#ifndef PARLEY_MUC_MUC_CONFIG_H
#define PARLEY_MUC_MUC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "muc/muc_rules.h"
#include "xml/xml.h"

#define NS_XDATA_MUC        "jabber:x:data"
#define MUC_FORM_ROOMCONFIG "http://jabber.org/protocol/muc#roomconfig"
/* Bounds on what a peer may set. */
#define MUC_CONFIG_TEXT_MAX 1024    /* name, description, password, lang */
#define MUC_CONFIG_JIDS_MAX 100     /* roomowners / roomadmins values */
#define MUC_FIELD_ALLOWREGISTER "x-parley#roomconfig_allowregister"

/* muc#roomconfig_presencebroadcast: a set of roles, bit (1u << role). */
#define MUC_BCAST_ALL ((1u << MUC_ROLE_VISITOR) | (1u << MUC_ROLE_PARTICIPANT) | \
                       (1u << MUC_ROLE_MODERATOR))

/* muc#roomconfig_getmemberlist default: moderators only.  The XEP's
 * example forms (§10.1.3, §10.2) show all three roles, but they are one
 * room's values, not defaults; our rooms are semi-anonymous by default,
 * where §5.2.1 (note ***) says members SHOULD NOT retrieve the member list
 * (it carries every member's JID).  Owners widen it per room. */
#define MUC_GETMEMBERLIST_DEFAULT (1u << MUC_ROLE_MODERATOR)

enum muc_whois {
    MUC_WHOIS_MODERATORS,       /* semi-anonymous (§4.2) */
    MUC_WHOIS_ANYONE,           /* non-anonymous */
};

/* muc#roomconfig_allowpm: who may send private messages. */
enum muc_allowpm {
    MUC_PM_ANYONE,
    MUC_PM_PARTICIPANTS,
    MUC_PM_MODERATORS,
    MUC_PM_NONE,
};

struct muc_config {
    char *name;                 /* heap, "" when unset */
    char *desc;                 /* heap */
    char *lang;                 /* heap */
    char *password;             /* heap, "" = none */
    bool logging;               /* enablelogging: archived (XEP-0313), status 170 */
    bool change_subject;        /* participants may change the subject */
    bool allow_invites;         /* participants may invite (members-only rooms) */
    bool public_room;           /* listed in disco#items of the service */
    bool persistent;            /* survives being empty and restarts */
    bool moderated;             /* visitors need voice */
    bool members_only;
    bool password_protected;
    enum muc_whois whois;
    enum muc_allowpm allowpm;
    bool allow_register;        /* §7.10 registration with the room */
    unsigned presence_broadcast;/* roles whose presence others see (bits) */
    unsigned get_member_list;   /* roles whose occupants may retrieve the
                                   member list (bits, §7.11 / §9.5) */
    unsigned max_users;         /* 0: the service maximum */
    long max_history;           /* muc#maxhistoryfetch, -1 = service's size */
};

/* Defaults for a new room (instant room: §10.1.2). */
void muc_config_init(struct muc_config *c);
void muc_config_release(struct muc_config *c);
void muc_config_copy(struct muc_config *dst, const struct muc_config *src);
/* Is the presence of an occupant with this role broadcast to others? */
bool muc_config_broadcasts(const struct muc_config *c, enum muc_role role);
/* muc#roomconfig_getmemberlist: may an occupant with this role retrieve the
 * member list (§7.11)?  MUC_ROLE_NONE (not an occupant) never may by this
 * rule; admins and owners may anyway (muc_can_read_list, §9.5). */
bool muc_config_may_get_member_list(const struct muc_config *c, enum muc_role role);

/* The owner's form (§10.2): <x xmlns='jabber:x:data' type='form'> with
 * every field, current values filled in, appended to 'parent'.  owners and
 * admins are the current lists (bare JIDs) for roomowners/roomadmins. */
void muc_config_form(struct arena *a, struct xml_node *parent, const struct muc_config *c,
                     unsigned service_max_users,
                     const char *const *owners, size_t nowners,
                     const char *const *admins, size_t nadmins);

/* What a submitted form asks besides the settings. */
struct muc_config_jids {
    bool owners_given, admins_given;
    const char *owners[MUC_CONFIG_JIDS_MAX];   /* borrowed from the form tree */
    size_t nowners;
    const char *admins[MUC_CONFIG_JIDS_MAX];
    size_t nadmins;
};

/* Applies a submitted form (type='submit') onto *c; fields absent keep
 * their value, unknown fields are ignored (XEP-0004 §3.2 leaves them to
 * the processing entity).  0, or -1 with *err_text set (static) when a
 * value is invalid: the caller answers <not-acceptable/> (§10.2) or, for
 * a wrong FORM_TYPE, <bad-request/> (*bad_request set).  On failure *c is
 * unchanged. */
int muc_config_submit(struct muc_config *c, const struct xml_node *x,
                      unsigned service_max_users, struct muc_config_jids *jids_out,
                      const char **err_text, bool *bad_request);

/* The stored form: <config .../> appended to parent, and back.  Reading
 * tolerates missing attributes (defaults). */
void muc_config_store(struct arena *a, struct xml_node *parent, const struct muc_config *c);
void muc_config_load(struct muc_config *c, const struct xml_node *cfg);

#endif
