/*
 * roster_sub.c - libFuzzer target for the presence subscription state
 * machine (src/modules/roster_sub.c; RFC 6121 §3, §3.4, Appendix A).
 *
 * Two users, A and B, each with a roster item for the other.  The input
 * is a sequence of actions: one of them sends subscribe / subscribed /
 * unsubscribe / unsubscribed, or removes the item (§2.5.2).  What passes
 * is delivered to the other side at once, and the automatic replies are
 * delivered back, until nothing is in flight.  Some opcodes forge an
 * inbound stanza (a remote server that does not follow the rules); from
 * then on only the per-item invariants are checked.
 *
 * Per item, after every step:
 *   - the state is one of Appendix A.1's nine: pending out implies not
 *     'to', pending in implies not 'from' (so never 'both' with a pending
 *     request);
 *   - a changed state is reported as changed (else it is not stored);
 *   - 'from' gained <=> send_presence, 'from' lost <=> send_unavailable
 *     (§3.1.5, §3.2.2, §3.3.3);
 *   - a pending inbound request that is settled is dropped from storage
 *     and a stored one is pending (§3.1.3 rule 4);
 *   - item removal clears everything and sends what §2.5.2 says.
 * Across A and B while every stanza followed the rules and nothing is in
 * flight: A sees B's presence exactly when B lets A see it (A.to ==
 * B.from) and A has a request pending exactly when B has it to answer.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "modules/roster_sub.h"

#define FZ_FLIGHT_MAX 16        /* auto-replies must settle quickly: a loop is a bug */

struct delivery {
    int to;                     /* 0 = A, 1 = B */
    enum rsub_type type;
};

struct flight {
    struct delivery q[FZ_FLIGHT_MAX];
    size_t head, len;
    unsigned total;             /* deliveries made for this action */
};

static bool same_state(const struct rsub_state *a, const struct rsub_state *b)
{
    return a->to == b->to && a->from == b->from && a->pending_out == b->pending_out &&
           a->pending_in == b->pending_in && a->approved == b->approved &&
           a->in_roster == b->in_roster;
}

static void check_state(const struct rsub_state *st)
{
    FZ_CHECK(!(st->pending_out && st->to));
    FZ_CHECK(!(st->pending_in && st->from));
    enum rsub_name n = rsub_name_of(st);
    FZ_CHECK((unsigned)n < RSUB_NAME_COUNT);
    struct rsub_state canon = rsub_state_of(n);
    FZ_CHECK(canon.to == st->to && canon.from == st->from &&
             canon.pending_out == st->pending_out && canon.pending_in == st->pending_in);
    FZ_CHECK(rsub_name_str(n) != NULL);
    const char *sub = rsub_subscription_str(st);
    FZ_CHECK(strcmp(sub, st->to ? (st->from ? "both" : "to") : (st->from ? "from" : "none"))
             == 0);
}

static void check_step(const struct rsub_state *before, const struct rsub_state *after,
                       enum rsub_dir dir, enum rsub_type type, const struct rsub_result *r)
{
    check_state(after);
    if (!same_state(before, after))
        FZ_CHECK(r->changed);
    FZ_CHECK(r->send_presence == (!before->from && after->from));
    FZ_CHECK(r->send_unavailable == (before->from && !after->from));
    FZ_CHECK(!r->push || before->in_roster || after->in_roster);
    if (dir == RSUB_OUT)
        FZ_CHECK(r->reply == RSUB_REPLY_NONE);
    if (r->store_request)
        FZ_CHECK(dir == RSUB_IN && type == RSUB_SUBSCRIBE && after->pending_in);
    FZ_CHECK(r->drop_request == (before->pending_in && !after->pending_in));
}

static void push(struct flight *f, int to, enum rsub_type type)
{
    FZ_CHECK(f->len < FZ_FLIGHT_MAX);
    f->q[(f->head + f->len++) % FZ_FLIGHT_MAX] = (struct delivery){ to, type };
}

/* Delivers everything in flight, with the automatic replies. */
static void drain(struct rsub_state st[2], struct flight *f)
{
    while (f->len > 0) {
        struct delivery d = f->q[f->head];
        f->head = (f->head + 1) % FZ_FLIGHT_MAX;
        f->len--;
        FZ_CHECK(++f->total <= FZ_FLIGHT_MAX);     /* no reply ping-pong */
        struct rsub_state before = st[d.to];
        struct rsub_result r;
        memset(&r, 0xa5, sizeof(r));                /* every field must be set */
        rsub_apply(&st[d.to], RSUB_IN, d.type, &r);
        check_step(&before, &st[d.to], RSUB_IN, d.type, &r);
        if (r.reply == RSUB_REPLY_SUBSCRIBED)
            push(f, !d.to, RSUB_SUBSCRIBED);
        else if (r.reply == RSUB_REPLY_UNSUBSCRIBED)
            push(f, !d.to, RSUB_UNSUBSCRIBED);
        else
            FZ_CHECK(r.reply == RSUB_REPLY_NONE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rsub_state st[2];
    memset(st, 0, sizeof(st));
    bool honest = true;

    for (size_t i = 0; i < size; i++) {
        uint8_t op = data[i];
        int who = op & 1;
        unsigned action = (op >> 1) % 7;
        enum rsub_type type = (enum rsub_type)(action & 3);
        struct flight f = { .head = 0, .len = 0, .total = 0 };
        struct rsub_state before = st[who];

        if (action < 4) {       /* the user sends a subscription stanza */
            struct rsub_result r;
            memset(&r, 0xa5, sizeof(r));
            rsub_apply(&st[who], RSUB_OUT, type, &r);
            check_step(&before, &st[who], RSUB_OUT, type, &r);
            if (r.pass)
                push(&f, !who, type);
        } else if (action == 4) {   /* the user removes the item (§2.5.2) */
            bool unsub = false, unsubd = false;
            rsub_remove(&st[who], &unsub, &unsubd);
            struct rsub_state none;
            memset(&none, 0, sizeof(none));
            FZ_CHECK(same_state(&st[who], &none));
            FZ_CHECK(unsub == (before.to || before.pending_out));
            FZ_CHECK(unsubd == (before.from || before.pending_in));
            if (unsub)
                push(&f, !who, RSUB_UNSUBSCRIBE);
            if (unsubd)
                push(&f, !who, RSUB_UNSUBSCRIBED);
        } else {                /* a forged inbound stanza: next byte is its type */
            honest = false;
            type = (enum rsub_type)(i + 1 < size ? data[++i] & 3 : 0);
            push(&f, who, type);
        }
        drain(st, &f);

        if (honest) {
            FZ_CHECK(st[0].to == st[1].from && st[1].to == st[0].from);
            FZ_CHECK(st[0].pending_out == st[1].pending_in);
            FZ_CHECK(st[1].pending_out == st[0].pending_in);
        }
    }
    return 0;
}
