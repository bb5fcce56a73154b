/*
 * roster_sub.c - RFC 6121 subscription states (Appendix A) and
 * pre-approval (§3.4) as a pure function; see roster_sub.h.
 *
 * Each branch below is one group of rows of the Appendix A tables; the
 * unit test (tests/unit/modules/test_roster_sub.c) walks every row.
 * Where the tables say S.N. ("SHOULD NOT") we do not route or deliver.
 */
#include "modules/roster_sub.h"

#include <string.h>

static void out_subscribe(struct rsub_state *st, struct rsub_result *r)
{
    /* A.2.1: always routed; "pending out" is set unless the user already
     * is subscribed or already asked.  §3.1.2: the item is created if it
     * did not exist (the roster push shows it with ask='subscribe'). */
    r->pass = true;
    if (!st->to && !st->pending_out) {
        st->pending_out = true;
        st->in_roster = true;
        r->changed = r->push = true;
    }
}

static void out_unsubscribe(struct rsub_state *st, struct rsub_result *r)
{
    /* A.2.2: always routed; drops 'to' and any pending request of ours. */
    r->pass = true;
    if (st->to || st->pending_out) {
        st->to = false;
        st->pending_out = false;
        r->changed = r->push = true;
    }
}

static void out_subscribed(struct rsub_state *st, struct rsub_result *r)
{
    if (st->from) {
        /* A.2.3 From, From + Pending Out, Both: M.N. route, no change
         * (§3.4.2 rule 1: silently ignored). */
        return;
    }
    if (st->pending_in) {
        /* A.2.3 None + Pending In -> From, None + Pending Out+In -> From +
         * Pending Out, To + Pending In -> Both: an approval (§3.1.5).
         * The item is created now if the request came from a stranger. */
        r->pass = true;
        st->from = true;
        st->pending_in = false;
        st->approved = false;
        st->in_roster = true;
        r->changed = r->push = true;
        r->send_presence = true;
        r->drop_request = true;
        return;
    }
    /* A.2.3 None, None + Pending Out, To: pre-approval (§3.4.2 rules 3
     * and 4), never routed. */
    if (!st->approved || !st->in_roster) {
        st->approved = true;
        st->in_roster = true;
        r->changed = r->push = true;
    }
}

static void out_unsubscribed(struct rsub_state *st, struct rsub_result *r)
{
    if (st->from) {
        /* A.2.4 From -> None, From + Pending Out -> None + Pending Out,
         * Both -> To.  §3.2.2: unavailable from each available resource
         * first, while the contact is still subscribed. */
        r->pass = true;
        st->from = false;
        r->changed = r->push = true;
        r->send_unavailable = true;
        return;
    }
    if (st->pending_in) {
        /* A.2.4 None + Pending In -> None, None + Pending Out+In -> None +
         * Pending Out, To + Pending In -> To: a denial.  Nothing the
         * roster shows changes, so no push. */
        r->pass = true;
        st->pending_in = false;
        r->changed = true;
        r->drop_request = true;
        return;
    }
    /* A.2.4 None, None + Pending Out, To: S.N. route; [1] cancels a
     * pre-approval (§3.2.2 rule 2), which the roster shows. */
    if (st->approved) {
        st->approved = false;
        r->changed = r->push = true;
    }
}

static void in_subscribe(struct rsub_state *st, struct rsub_result *r)
{
    if (st->from) {
        /* A.3.1 From, From + Pending Out, Both: S.N. deliver, [2]
         * auto-reply (§3.1.3 rule 2: MUST). */
        r->reply = RSUB_REPLY_SUBSCRIBED;
        return;
    }
    if (st->approved) {
        /* A.3.1 [1] and §3.4.2: pre-approved, so answered for the user and
         * the state becomes "From" (keeping a pending request of ours).
         * The record of the pre-approval ends with it. */
        r->reply = RSUB_REPLY_SUBSCRIBED;
        st->from = true;
        st->approved = false;
        st->in_roster = true;
        r->changed = r->push = true;
        r->send_presence = true;
        return;
    }
    if (st->pending_in) {
        /* A.3.1 None + Pending In, None + Pending Out+In, To + Pending In:
         * S.N. deliver; §3.1.3 rule 4 keeps one request per contact. */
        return;
    }
    /* A.3.1 None -> None + Pending In, None + Pending Out -> None +
     * Pending Out+In, To -> To + Pending In.  No item is created
     * (§3.1.3 security warning), so nothing to push. */
    r->pass = true;
    st->pending_in = true;
    r->changed = true;
    r->store_request = true;
}

static void in_unsubscribe(struct rsub_state *st, struct rsub_result *r)
{
    if (st->from) {
        /* A.3.2 From -> None, From + Pending Out -> None + Pending Out,
         * Both -> To; §3.3.3: deliver, push, unavailable to the contact;
         * [1] auto-reply. */
        r->pass = true;
        st->from = false;
        r->changed = r->push = true;
        r->reply = RSUB_REPLY_UNSUBSCRIBED;
        r->send_unavailable = true;
        return;
    }
    if (st->pending_in) {
        /* A.3.2 None + Pending In -> None, None + Pending Out+In -> None
         * + Pending Out, To + Pending In -> To: the request is withdrawn
         * (§3.3.3 last paragraph); nothing visible changes. */
        r->pass = true;
        st->pending_in = false;
        r->changed = true;
        r->reply = RSUB_REPLY_UNSUBSCRIBED;
        r->drop_request = true;
        return;
    }
    /* A.3.2 None, None + Pending Out, To: S.N. deliver, no change. */
}

static void in_subscribed(struct rsub_state *st, struct rsub_result *r)
{
    /* A.3.3 / §3.1.6: only an answer to our pending request counts. */
    if (st->pending_out) {
        r->pass = true;
        st->to = true;
        st->pending_out = false;
        r->changed = r->push = true;
    }
}

static void in_unsubscribed(struct rsub_state *st, struct rsub_result *r)
{
    /* A.3.4 / §3.2.3: a denial of our request or the end of our
     * subscription.  A pre-approval we gave stays (§4.3.2 rule 1). */
    if (st->pending_out || st->to) {
        r->pass = true;
        st->to = false;
        st->pending_out = false;
        r->changed = r->push = true;
    }
}

void rsub_apply(struct rsub_state *st, enum rsub_dir dir, enum rsub_type type,
                struct rsub_result *out)
{
    memset(out, 0, sizeof(*out));
    static void (*const fns[2][4])(struct rsub_state *, struct rsub_result *) = {
        [RSUB_OUT] = {
            [RSUB_SUBSCRIBE] = out_subscribe,
            [RSUB_SUBSCRIBED] = out_subscribed,
            [RSUB_UNSUBSCRIBE] = out_unsubscribe,
            [RSUB_UNSUBSCRIBED] = out_unsubscribed,
        },
        [RSUB_IN] = {
            [RSUB_SUBSCRIBE] = in_subscribe,
            [RSUB_SUBSCRIBED] = in_subscribed,
            [RSUB_UNSUBSCRIBE] = in_unsubscribe,
            [RSUB_UNSUBSCRIBED] = in_unsubscribed,
        },
    };
    fns[dir][type](st, out);
    /* A push shows an item: nothing to push for a bare request. */
    if (!st->in_roster)
        out->push = false;
}

void rsub_remove(struct rsub_state *st, bool *unsubscribe_out, bool *unsubscribed_out)
{
    *unsubscribe_out = st->to || st->pending_out;
    *unsubscribed_out = st->from || st->pending_in;
    memset(st, 0, sizeof(*st));
}

enum rsub_name rsub_name_of(const struct rsub_state *st)
{
    if (st->to && st->from)
        return RSUB_BOTH;
    if (st->to)
        return st->pending_in ? RSUB_TO_PI : RSUB_TO;
    if (st->from)
        return st->pending_out ? RSUB_FROM_PO : RSUB_FROM;
    if (st->pending_out)
        return st->pending_in ? RSUB_NONE_POPI : RSUB_NONE_PO;
    return st->pending_in ? RSUB_NONE_PI : RSUB_NONE;
}

struct rsub_state rsub_state_of(enum rsub_name n)
{
    struct rsub_state s = { .in_roster = true };
    switch (n) {
    case RSUB_NONE:
        break;
    case RSUB_NONE_PO:
        s.pending_out = true;
        break;
    case RSUB_NONE_PI:
        s.pending_in = true;
        s.in_roster = false;
        break;
    case RSUB_NONE_POPI:
        s.pending_out = s.pending_in = true;
        break;
    case RSUB_TO:
        s.to = true;
        break;
    case RSUB_TO_PI:
        s.to = s.pending_in = true;
        break;
    case RSUB_FROM:
        s.from = true;
        break;
    case RSUB_FROM_PO:
        s.from = s.pending_out = true;
        break;
    case RSUB_BOTH:
    case RSUB_NAME_COUNT:
        s.to = s.from = true;
        break;
    }
    return s;
}

const char *rsub_name_str(enum rsub_name n)
{
    static const char *const names[RSUB_NAME_COUNT] = {
        "None", "None + Pending Out", "None + Pending In", "None + Pending Out+In",
        "To", "To + Pending In", "From", "From + Pending Out", "Both",
    };
    return (unsigned)n < RSUB_NAME_COUNT ? names[n] : "?";
}

const char *rsub_subscription_str(const struct rsub_state *st)
{
    if (st->to && st->from)
        return "both";
    if (st->to)
        return "to";
    if (st->from)
        return "from";
    return "none";
}

bool rsub_type_parse(const char *s, enum rsub_type *out)
{
    static const struct { const char *s; enum rsub_type t; } types[] = {
        { "subscribe", RSUB_SUBSCRIBE },
        { "subscribed", RSUB_SUBSCRIBED },
        { "unsubscribe", RSUB_UNSUBSCRIBE },
        { "unsubscribed", RSUB_UNSUBSCRIBED },
    };
    if (!s)
        return false;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(s, types[i].s) == 0) {
            *out = types[i].t;
            return true;
        }
    }
    return false;
}
