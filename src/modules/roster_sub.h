/*
 * roster_sub.h - the presence subscription state machine of RFC 6121
 * (§3, §3.4 pre-approval, Appendix A), as a pure function.
 *
 * Library-like: no server header, so tests/unit/modules/test_roster_sub.c
 * links only roster_sub.c.  The roster module (roster.c) owns storage,
 * routing and pushes; this file only decides, for one subscription
 * stanza and one roster item, what happens: route/deliver or not, the new
 * state, roster push, automatic replies and the presence side effects.
 *
 * States are seen from the user whose roster holds the item ("the user"),
 * the other party is "the contact" (RFC 6121 Appendix A.1).
 */
#ifndef PARLEY_MODULES_ROSTER_SUB_H
#define PARLEY_MODULES_ROSTER_SUB_H

#include <stdbool.h>

/* One item's subscription state.  Appendix A.1's nine states are the
 * valid combinations of to/from/pending_out/pending_in (pending_out
 * implies !to, pending_in implies !from); 'approved' (§3.4) and
 * 'in_roster' ride along. */
struct rsub_state {
    bool to;                    /* the user sees the contact's presence */
    bool from;                  /* the contact sees the user's presence */
    bool pending_out;           /* ask='subscribe': the user asked, no answer yet */
    bool pending_in;            /* the contact asked, the user did not answer yet */
    bool approved;              /* §3.4: pre-approved (the contact's subscribe
                                   will be answered automatically) */
    bool in_roster;             /* the user has an item for the contact; false
                                   for a bare inbound request (§3.1.3: the
                                   server MUST NOT create an item for it) */
};

/* Appendix A.1's names, for tables, tests and logs. */
enum rsub_name {
    RSUB_NONE,                  /* "None" */
    RSUB_NONE_PO,               /* "None + Pending Out" */
    RSUB_NONE_PI,               /* "None + Pending In" */
    RSUB_NONE_POPI,             /* "None + Pending Out+In" */
    RSUB_TO,                    /* "To" */
    RSUB_TO_PI,                 /* "To + Pending In" */
    RSUB_FROM,                  /* "From" */
    RSUB_FROM_PO,               /* "From + Pending Out" */
    RSUB_BOTH,                  /* "Both" */
    RSUB_NAME_COUNT,
};

enum rsub_dir {
    RSUB_OUT,                   /* sent by the user (Appendix A.2) */
    RSUB_IN,                    /* received for the user (Appendix A.3) */
};

enum rsub_type {
    RSUB_SUBSCRIBE,
    RSUB_SUBSCRIBED,
    RSUB_UNSUBSCRIBE,
    RSUB_UNSUBSCRIBED,
};

enum rsub_reply {
    RSUB_REPLY_NONE,
    RSUB_REPLY_SUBSCRIBED,      /* auto-reply 'subscribed' from the user's bare JID */
    RSUB_REPLY_UNSUBSCRIBED,    /* auto-reply 'unsubscribed' */
};

/* What to do with one subscription stanza. */
struct rsub_result {
    bool pass;                  /* OUT: route it to the contact; IN: deliver it to the user */
    bool changed;               /* the state changed (store it) */
    bool push;                  /* the visible item changed: roster push (§2.1.6) */
    enum rsub_reply reply;      /* IN only: answer on the user's behalf */
    bool send_presence;         /* the contact just gained 'from': send it the
                                   user's current presence (§3.1.5) */
    bool send_unavailable;      /* the contact just lost 'from': send it
                                   unavailable from each available resource,
                                   before the stanza (§3.2.2, §3.3.3) */
    bool store_request;         /* IN subscribe: keep the request stanza to
                                   re-deliver it at the next available
                                   resource (§3.1.3 rule 4) */
    bool drop_request;          /* the pending inbound request is settled:
                                   forget the stored stanza */
};

/* Applies one stanza to *st (updated in place) and fills *out. */
void rsub_apply(struct rsub_state *st, enum rsub_dir dir, enum rsub_type type,
                struct rsub_result *out);

/* What removing the item (§2.5.2) sends to the contact; *st is cleared
 * (a removed item keeps no subscription, pre-approval or request).
 * Besides §2.5.2's two rules a pending request of ours is withdrawn
 * (unsubscribe) and a pending request of theirs denied (unsubscribed):
 * removing a contact ends every relation with it. */
void rsub_remove(struct rsub_state *st, bool *unsubscribe_out, bool *unsubscribed_out);

/* The Appendix A.1 name of a state (approved/in_roster ignored). */
enum rsub_name rsub_name_of(const struct rsub_state *st);
/* A state with that name (approved false, in_roster true unless the
 * state is RSUB_NONE_PI, where the item may not exist). */
struct rsub_state rsub_state_of(enum rsub_name n);
const char *rsub_name_str(enum rsub_name n);

/* The roster's 'subscription' attribute: "none", "to", "from", "both". */
const char *rsub_subscription_str(const struct rsub_state *st);
/* Parses "subscribe" ... "unsubscribed"; false for anything else. */
bool rsub_type_parse(const char *s, enum rsub_type *out);

#endif
