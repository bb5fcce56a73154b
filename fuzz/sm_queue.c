/*
 * sm_queue.c - libFuzzer target for the XEP-0198 counters, queues and the
 * ended-session registry (src/stream/sm_queue.c; XEP-0198 §4-§6).
 *
 * The input is a program: four bytes of start value (so the 2^32 wrap of
 * h is reached), then one opcode byte (plus an operand byte) per step.  A
 * simple model runs beside the real queue and every result is compared:
 *   - outbound: sequence numbers, the unacked items in order, what an
 *     <a h=N/> acknowledges and the refusal of an h beyond what was sent
 *     (XEP-0198 §6 handled-count-too-high);
 *   - inbound: h is always the count of leading settled stanzas, so an
 *     ack never covers a stanza still in flight (ARCHITECTURE.md
 *     principle 5), whatever order they settle in;
 *   - registry: an id is only ever found under the account that ended it,
 *     with the h it ended with.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "stream/sm_queue.h"

#define FZ_OUT_MAX  512         /* model bounds: the program is short anyway */
#define FZ_IN_MAX   512
#define FZ_USERS    3
#define FZ_IDS      4

struct reg_model {
    bool ever;                  /* some session of this account had this id */
    uint32_t h;                 /* the h it was last added with */
};

struct model {
    uintptr_t out[FZ_OUT_MAX];  /* ids of the unacked items, oldest first */
    size_t out_len;
    uintptr_t next_id;
    uint32_t out_sent;
    bool settled[FZ_IN_MAX];    /* for seqs h+1 .. h+pending */
    uint32_t in_h, in_pending;
    struct reg_model reg[FZ_USERS][FZ_IDS];
};

static const char *const users[FZ_USERS] = { "a@example.org", "b@example.org", "c@x" };
static const char *const ids[FZ_IDS] = { "id-1", "id-2", "id-3", "a@example.org" };

static uint8_t next_byte(const uint8_t **data, size_t *size)
{
    if (*size == 0)
        return 0;
    uint8_t b = **data;
    (*data)++;
    (*size)--;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t start = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                     (uint32_t)data[2] << 8 | data[3];
    data += 4;
    size -= 4;

    struct model *m = calloc(1, sizeof(*m));
    FZ_CHECK(m != NULL);
    struct sm_queue q;
    smq_init(&q, start);
    m->out_sent = start;
    m->in_h = start;
    struct sm_registry *reg = sm_registry_new();
    time_t now = 1000000;

    while (size > 0) {
        uint8_t op = next_byte(&data, &size);
        uint8_t arg = next_byte(&data, &size);
        switch (op % 7) {
        case 0:
        case 1: {               /* a stanza is sent to the client */
            if (m->out_len == FZ_OUT_MAX)
                break;
            uintptr_t id = ++m->next_id;
            uint32_t seq = smq_out_push(&q, (void *)id, (int64_t)id);
            m->out_sent++;
            FZ_CHECK(seq == m->out_sent);
            m->out[m->out_len++] = id;
            break;
        }
        case 2: {               /* <a h=N/>: N in last-acked - 8 .. last-acked + 247 */
            uint32_t acked = m->out_sent - (uint32_t)m->out_len;
            FZ_CHECK(smq_out_acked(&q) == acked);
            uint32_t h = acked + (uint32_t)arg - 8;
            long n = smq_out_ack_count(&q, h);
            uint32_t k = h - acked;
            if (k <= m->out_len) {
                FZ_CHECK(n == (long)k);
                for (uint32_t i = 0; i < k; i++) {
                    int64_t t = -1;
                    void *p = smq_out_pop(&q, &t);
                    FZ_CHECK((uintptr_t)p == m->out[i] && t == (int64_t)m->out[i]);
                }
                memmove(m->out, m->out + k, (m->out_len - k) * sizeof(m->out[0]));
                m->out_len -= k;
            } else {
                FZ_CHECK(n == -1);
            }
            break;
        }
        case 3: {               /* a stanza is read from the client */
            if (m->in_pending == FZ_IN_MAX)
                break;
            uint32_t seq = smq_in_begin(&q);
            FZ_CHECK(seq == m->in_h + m->in_pending + 1);
            m->settled[m->in_pending++] = false;
            break;
        }
        case 4: {               /* stanza seq's effects are durable */
            uint32_t off = arg % (m->in_pending + 2);   /* sometimes out of range */
            uint32_t seq = m->in_h + 1 + off;
            bool moved = smq_in_settle(&q, seq);
            bool expect = false;
            if (off < m->in_pending) {
                m->settled[off] = true;
                size_t k = 0;
                while (k < m->in_pending && m->settled[k])
                    k++;
                if (k) {
                    memmove(m->settled, m->settled + k,
                            (m->in_pending - k) * sizeof(m->settled[0]));
                    m->in_pending -= (uint32_t)k;
                    m->in_h += (uint32_t)k;
                    expect = true;
                }
            }
            FZ_CHECK(moved == expect);
            break;
        }
        case 5: {               /* a session ends */
            size_t u = arg % FZ_USERS, i = (arg / FZ_USERS) % FZ_IDS;
            sm_registry_add(reg, users[u], ids[i], m->in_h + arg, now, 8, 3600);
            m->reg[u][i].ever = true;
            m->reg[u][i].h = m->in_h + arg;
            break;
        }
        case 6: {               /* a <resume/> arrives; time passes */
            size_t u = arg % FZ_USERS, i = (arg / FZ_USERS) % FZ_IDS;
            uint32_t h = 0;
            bool found = sm_registry_find(reg, users[u], ids[i], &h, now, 3600);
            if (found)
                FZ_CHECK(m->reg[u][i].ever && h == m->reg[u][i].h);
            FZ_CHECK(sm_registry_count(reg, users[u]) <= 8);
            now += arg;
            break;
        }
        }
        FZ_CHECK(smq_out_len(&q) == m->out_len);
        for (size_t i = 0; i < m->out_len; i++)
            FZ_CHECK((uintptr_t)smq_out_at(&q, i)->p == m->out[i]);
        FZ_CHECK(smq_in_h(&q) == m->in_h);
        FZ_CHECK(smq_in_pending(&q) == m->in_pending);
    }

    while (smq_out_pop(&q, NULL) != NULL)
        ;
    smq_release(&q);
    sm_registry_free(reg);
    free(m);
    return 0;
}
