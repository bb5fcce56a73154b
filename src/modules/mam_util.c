/*
 * mam_util.c - pure logic of message archiving (XEP-0313, XEP-0441,
 * XEP-0359) and offline storage (XEP-0160): see mam_util.h.  Depends on
 * the xml and util libraries only.
 */
#include "modules/mam_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/jid.h"
#include "core/mem.h"
#include "storage/store.h"

/* --- XEP-0082 §3.2 DateTime ---------------------------------------------- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil), so no timegm() and no TZ games. */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

/* n decimal digits at s; -1 if any is not a digit. */
static long digits(const char *s, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int mam_parse_datetime(const char *s, long long *us_out)
{
    static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (!s || strlen(s) < 20)
        return -1;
    long y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    long h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59
        || se < 0 || se > 60)
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if ((unsigned)d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return -1;
    if (se == 60)
        se = 59;                /* a leap second: as its predecessor */
    const char *p = s + 19;
    long long frac = 0;
    if (*p == '.') {
        /* Any number of digits; microseconds are kept. */
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 6)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return -1;
        for (; n < 6; n++)
            frac *= 10;
    }
    long long off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        long oh = digits(p + 1, 2);
        if (oh < 0 || p[3] != ':')
            return -1;
        long om = digits(p + 4, 2);
        if (om < 0 || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60;
        if (*p == '-')
            off = -off;
        p += 6;
    } else {
        return -1;              /* XEP-0082 §3.2: the TZD is required */
    }
    if (*p)
        return -1;
    long long secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400
        + h * 3600 + mi * 60 + se - off;
    if (secs < 0)
        return -1;
    *us_out = secs * 1000000 + frac;
    return 0;
}

void mam_format_datetime(long long us, char out[MAM_STAMP_MAX])
{
    if (us < 0)
        us = 0;
    long long secs = us / 1000000;
    long long days = secs / 86400, rem = secs % 86400;
    long long y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* Years past 9999 do not fit the field: clamp (the compiler cannot
     * see that the other fields are small, so give them int types). */
    int year = y > 9999 ? 9999 : (int)y;
    snprintf(out, MAM_STAMP_MAX, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", year, m % 100,
             d % 100, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
             (int)(us % 1000000));
}

/* --- queries --------------------------------------------------------------- */

static int fail(struct mam_error *err, const char *type, const char *cond, const char *text)
{
    err->type = type;
    err->cond = cond;
    err->text = text;
    return -1;
}

/* The single <value/> of a field, NULL when it has none or several. */
static const char *single_value(struct arena *a, const struct xml_node *field)
{
    struct xml_node *v = xml_child(field, NS_XDATA, "value");
    if (!v || xml_next(v, NS_XDATA, "value"))
        return NULL;
    return xml_text(a, v);
}

/* Sets *slot to id, refusing two different values for one bound (the
 * form's 'after-id' and RSM <after/> at once, XEP-0313 §4.3.2 points to
 * the form for ranges: one of them is enough). */
static int set_id(const char **slot, const char *id, struct mam_error *err)
{
    if (!*id)
        return fail(err, "modify", "bad-request", "an empty message id");
    if (*slot && strcmp(*slot, id) != 0)
        return fail(err, "modify", "bad-request",
                    "conflicting ids in the form and in <set/>");
    *slot = id;
    return 0;
}

static int parse_form(struct arena *a, const struct xml_node *x,
                      struct mam_query *q, struct mam_error *err)
{
    const char *type = xml_attr(x, "type");
    if (type && strcmp(type, "submit") != 0)
        return fail(err, "modify", "bad-request", "the query form must be of type 'submit'");
    for (struct xml_node *f = xml_child(x, NS_XDATA, "field"); f;
         f = xml_next(f, NS_XDATA, "field")) {
        const char *var = xml_attr(f, "var");
        if (!var)
            return fail(err, "modify", "bad-request", "a form field without 'var'");
        if (strcmp(var, "ids") == 0) {
            for (struct xml_node *v = xml_child(f, NS_XDATA, "value"); v;
                 v = xml_next(v, NS_XDATA, "value")) {
                if (q->nids == MAM_MAX_IDS)
                    return fail(err, "modify", "policy-violation",
                                "too many ids in one query (100 at most)");
                const char *id = xml_text(a, v);
                if (!*id)
                    return fail(err, "modify", "bad-request", "an empty message id");
                q->ids[q->nids++] = id;
            }
            q->ids[q->nids] = NULL;
            continue;
        }
        const char *val = single_value(a, f);
        if (strcmp(var, "FORM_TYPE") == 0) {
            if (!val || strcmp(val, NS_MAM) != 0)
                return fail(err, "modify", "bad-request", "FORM_TYPE must be urn:xmpp:mam:2");
            continue;
        }
        bool known = strcmp(var, "with") == 0 || strcmp(var, "start") == 0
            || strcmp(var, "end") == 0 || strcmp(var, "after-id") == 0
            || strcmp(var, "before-id") == 0;
        if (!known)
            return fail(err, "cancel", "feature-not-implemented",
                        "unknown query field");   /* XEP-0313 §4.1.5 */
        if (!val)
            return fail(err, "modify", "bad-request", "a query field needs exactly one value");
        if (strcmp(var, "with") == 0) {
            struct jid *j = jid_parse(val);
            if (!j)
                return fail(err, "modify", "jid-malformed", "'with' is not a valid JID");
            /* The store matches the bare JID of the other party
             * (store.h); a full JID (§4.1.1) is then matched exactly on
             * the stored message (mam_item_with_full()). */
            size_t n = strlen(j->bare);
            q->with = arena_alloc(a, n + 1);
            memcpy(q->with, j->bare, n + 1);
            if (j->resource) {
                n = strlen(j->full);
                q->with_full = arena_alloc(a, n + 1);
                memcpy(q->with_full, j->full, n + 1);
            }
            jid_free(j);
        } else if (strcmp(var, "start") == 0) {
            if (mam_parse_datetime(val, &q->start) < 0)
                return fail(err, "modify", "bad-request", "'start' is not an XEP-0082 DateTime");
            if (q->start == 0)
                q->start = 1;   /* 0 means open */
        } else if (strcmp(var, "end") == 0) {
            if (mam_parse_datetime(val, &q->end) < 0)
                return fail(err, "modify", "bad-request", "'end' is not an XEP-0082 DateTime");
            if (q->end == 0)
                q->end = 1;
        } else if (strcmp(var, "after-id") == 0) {
            if (set_id(&q->after_id, val, err) < 0)
                return -1;
        } else {
            if (set_id(&q->before_id, val, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int parse_rsm(struct arena *a, const struct xml_node *set,
                     struct mam_query *q, struct mam_error *err)
{
    if (xml_child(set, NS_RSM, "index"))
        return fail(err, "cancel", "feature-not-implemented",
                    "RSM <index/> is not supported: page with <after/> and <before/>");
    struct xml_node *n = xml_child(set, NS_RSM, "max");
    if (n) {
        const char *t = xml_text(a, n);
        char *end;
        long long v = strtoll(t, &end, 10);
        if (!*t || *end || v < 0 || t[0] == '-' || t[0] == '+')
            return fail(err, "modify", "bad-request", "RSM <max/> must be a non-negative integer");
        /* XEP-0059 §2.1: the server MAY return fewer; the page limit. */
        q->max = v > MAM_MAX_PAGE ? MAM_MAX_PAGE : v;
    }
    if ((n = xml_child(set, NS_RSM, "after"))) {
        if (set_id(&q->after_id, xml_text(a, n), err) < 0)
            return -1;
    }
    if ((n = xml_child(set, NS_RSM, "before"))) {
        const char *t = xml_text(a, n);
        /* XEP-0059 §2.5: an empty <before/> asks for the last page. */
        if (*t && set_id(&q->before_id, t, err) < 0)
            return -1;
        q->reverse = true;
    }
    return 0;
}

int mam_query_parse(struct arena *a, const struct xml_node *query,
                    struct mam_query *q, struct mam_error *err)
{
    memset(q, 0, sizeof(*q));
    q->max = MAM_MAX_PAGE;
    q->queryid = xml_attr(query, "queryid");
    if (xml_attr(query, "node"))
        return fail(err, "cancel", "feature-not-implemented",
                    "pubsub archives (XEP-0442) are not supported");
    struct xml_node *x = NULL, *set = NULL;
    for (struct xml_node *c = xml_child(query, NULL, NULL); c; c = xml_next(c, NULL, NULL)) {
        if (xml_is(c, NS_XDATA, "x")) {
            if (x)
                return fail(err, "modify", "bad-request", "more than one query form");
            x = c;
        } else if (xml_is(c, NS_RSM, "set")) {
            if (set)
                return fail(err, "modify", "bad-request", "more than one <set/>");
            set = c;
        } else if (xml_is(c, NS_MAM, "flip-page")) {
            q->flip = true;
        }
        /* Other children are ignored (extensibility). */
    }
    if (x && parse_form(a, x, q, err) < 0)
        return -1;
    if (set && parse_rsm(a, set, q, err) < 0)
        return -1;
    if (q->start && q->end && q->start > q->end)
        return fail(err, "modify", "bad-request", "'start' is after 'end'");
    return 0;
}

/* --- preferences ----------------------------------------------------------- */

static const char *const default_names[] = { "always", "roster", "never" };

static int parse_list(const struct xml_node *list, char ***v, size_t *n,
                      size_t *total, struct mam_error *err)
{
    if (!list)
        return 0;
    struct arena *a = arena_new(256);
    int rc = 0;
    for (struct xml_node *j = xml_child(list, NS_MAM, "jid"); j; j = xml_next(j, NS_MAM, "jid")) {
        if (++*total > MAM_MAX_PREF_JIDS) {
            rc = fail(err, "modify", "policy-violation", "too many JIDs in the preferences");
            break;
        }
        struct jid *jj = jid_parse(xml_text(a, j));
        if (!jj) {
            rc = fail(err, "modify", "jid-malformed", "a preference <jid/> is not a valid JID");
            break;
        }
        *v = pl_realloc(*v, (*n + 1) * sizeof(char *));
        (*v)[(*n)++] = pl_strdup(jj->full);
        jid_free(jj);
    }
    arena_free(a);
    return rc;
}

int mam_prefs_parse(const struct xml_node *prefs, struct mam_prefs *out,
                    struct mam_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *def = xml_attr(prefs, "default");
    if (!def)
        return fail(err, "modify", "bad-request", "<prefs/> needs a 'default'");
    size_t i = 0;
    while (i < 3 && strcmp(default_names[i], def) != 0)
        i++;
    if (i == 3)
        return fail(err, "modify", "bad-request",
                    "'default' must be always, roster or never");
    out->def = (enum mam_default)i;
    size_t total = 0;
    if (parse_list(xml_child(prefs, NS_MAM, "always"), &out->always, &out->nalways,
                   &total, err) < 0
        || parse_list(xml_child(prefs, NS_MAM, "never"), &out->never, &out->nnever,
                      &total, err) < 0) {
        mam_prefs_release(out);
        return -1;
    }
    return 0;
}

void mam_prefs_release(struct mam_prefs *p)
{
    for (size_t i = 0; i < p->nalways; i++)
        free(p->always[i]);
    for (size_t i = 0; i < p->nnever; i++)
        free(p->never[i]);
    free(p->always);
    free(p->never);
    memset(p, 0, sizeof(*p));
}

static void put_list(struct buf *out, const char *name, char *const *v, size_t n)
{
    if (n == 0) {
        buf_printf(out, "<%s/>", name);
        return;
    }
    buf_printf(out, "<%s>", name);
    for (size_t i = 0; i < n; i++) {
        buf_append(out, "<jid>", 5);
        xml_escape_text(out, v[i], strlen(v[i]));
        buf_append(out, "</jid>", 6);
    }
    buf_printf(out, "</%s>", name);
}

void mam_prefs_serialize(const struct mam_prefs *p, struct buf *out)
{
    buf_printf(out, "<prefs xmlns='%s' default='%s'>", NS_MAM, default_names[p->def]);
    put_list(out, "always", p->always, p->nalways);
    put_list(out, "never", p->never, p->nnever);
    buf_append(out, "</prefs>", 8);
}

/* XEP-0441 §2.3.1: a listed bare JID matches the target's bare JID, a
 * listed full JID the target as it is. */
static bool listed(char *const *v, size_t n, const struct jid *target)
{
    for (size_t i = 0; i < n; i++) {
        bool full = strchr(v[i], '/') != NULL;
        if (strcmp(v[i], full ? target->full : target->bare) == 0)
            return true;
    }
    return false;
}

enum mam_decision mam_prefs_decide(const struct mam_prefs *p, const struct jid *target)
{
    if (listed(p->never, p->nnever, target))
        return MAM_SKIP;
    if (listed(p->always, p->nalways, target))
        return MAM_ARCHIVE;
    switch (p->def) {
    case MAM_DEFAULT_ALWAYS:
        return MAM_ARCHIVE;
    case MAM_DEFAULT_NEVER:
        return MAM_SKIP;
    case MAM_DEFAULT_ROSTER:
        break;
    }
    return MAM_ASK_ROSTER;
}

/* --- messages -------------------------------------------------------------- */

static const char *msg_type(const struct xml_node *msg)
{
    const char *t = xml_attr(msg, "type");
    return t ? t : "normal";
}

bool mam_is_archivable(const struct xml_node *msg)
{
    if (strcmp(msg->name, "message") != 0)
        return false;
    const char *t = msg_type(msg);
    if (strcmp(t, "normal") != 0 && strcmp(t, "chat") != 0)
        return false;
    return xml_child(msg, XML_NS_CLIENT, "body") != NULL;
}

bool mam_offline_storable(const struct xml_node *msg)
{
    const char *t = msg_type(msg);
    if (strcmp(t, "normal") == 0)
        return true;
    if (strcmp(t, "chat") != 0)
        return false;
    /* XEP-0160 §3: a chat message with only chat states is not stored.
     * <thread/> and our own <stanza-id/> do not make it content. */
    for (struct xml_node *c = xml_child(msg, NULL, NULL); c; c = xml_next(c, NULL, NULL)) {
        if (strcmp(c->ns, NS_CHATSTATES) == 0 || strcmp(c->ns, NS_SID) == 0
            || xml_is(c, XML_NS_CLIENT, "thread"))
            continue;
        return true;
    }
    return false;
}

static bool is_sid_by(const struct xml_node *c, const char *by)
{
    if (!xml_is(c, NS_SID, "stanza-id"))
        return false;
    const char *b = xml_attr(c, "by");
    return b && strcmp(b, by) == 0;
}

size_t mam_strip_stanza_ids(struct xml_node *msg, const char *by)
{
    size_t removed = 0;
    struct xml_node *prev = NULL;
    for (struct xml_node *c = msg->children; c;) {
        struct xml_node *next = c->next;
        if (c->kind == XML_ELEMENT && is_sid_by(c, by)) {
            if (prev)
                prev->next = next;
            else
                msg->children = next;
            if (msg->last == c)
                msg->last = prev;
            removed++;
        } else {
            prev = c;
        }
        c = next;
    }
    return removed;
}

bool mam_has_stanza_id(const struct xml_node *msg, const char *by)
{
    for (struct xml_node *c = xml_child(msg, NS_SID, "stanza-id"); c;
         c = xml_next(c, NS_SID, "stanza-id"))
        if (is_sid_by(c, by))
            return true;
    return false;
}

void mam_new_id(char out[MAM_ID_LEN + 1])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[12];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        PL_ASSERT(n > 0);       /* the kernel's CSPRNG does not fail once seeded */
        got += (size_t)n;
    }
    for (size_t i = 0, o = 0; i < sizeof(r); i += 3) {
        unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    out[MAM_ID_LEN] = '\0';
}

/* --- stored stanzas -------------------------------------------------------- */

struct one {
    struct stanza *st;
    bool failed;
};

static void one_stanza(void *ud, struct stanza *st)
{
    struct one *o = ud;
    if (o->st)
        stanza_unref(st);       /* only the first element counts */
    else
        o->st = st;
}

static void one_error(void *ud, enum xml_error e, const char *text)
{
    (void)e;
    (void)text;
    ((struct one *)ud)->failed = true;
}

struct stanza *mam_parse_stored(const char *s, size_t len)
{
    /* The value was written by our own serializer, so the limits only
     * need to let it through. */
    struct xml_limits lim = { len + 128, 256, 1024 };
    struct xml_stream_cb cb = { .stanza = one_stanza, .error = one_error };
    struct one o = { NULL, false };
    struct xml_stream *xs = xml_stream_new(&lim, &cb, &o);
    /* The parser wants a stream root; its default namespace is the one
     * the value was serialized against. */
    static const char head[] = "<stream:stream xmlns='jabber:client' "
                               "xmlns:stream='http://etherx.jabber.org/streams'>";
    if (xml_stream_feed(xs, head, sizeof(head) - 1) == 0 && !o.failed)
        xml_stream_feed(xs, s, len);
    xml_stream_free(xs);
    if (o.failed && o.st) {
        stanza_unref(o.st);
        o.st = NULL;
    }
    return o.st;
}

void mam_fill_query_form(struct arena *a, struct xml_node *query)
{
    static const struct { const char *type, *var; } fields[] = {
        { "jid-single", "with" }, { "text-single", "start" }, { "text-single", "end" },
        { "text-single", "before-id" }, { "text-single", "after-id" },
    };
    struct xml_node *x = xml_add_child(a, query, NS_XDATA, "x");
    xml_set_attr(a, x, "type", "form");
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "type", "hidden");
    xml_set_attr(a, f, "var", "FORM_TYPE");
    xml_add_text_child(a, f, NULL, "value", NS_MAM);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        f = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, f, "type", fields[i].type);
        xml_set_attr(a, f, "var", fields[i].var);
    }
    f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "type", "list-multi");
    xml_set_attr(a, f, "var", "ids");
    struct xml_node *v = xml_add_child(a, f, "http://jabber.org/protocol/xdata-validate",
                                       "validate");
    xml_set_attr(a, v, "datatype", "xs:string");
    xml_add_child(a, v, NULL, "open");
}

void mam_fill_fin(struct arena *a, struct xml_node *fin, const struct store_item *items,
                  size_t n, long long count, bool complete)
{
    xml_set_attr(a, fin, "complete", complete ? "true" : "false");
    struct xml_node *set = xml_add_child(a, fin, NS_RSM, "set");
    if (n > 0) {
        xml_add_text_child(a, set, NULL, "first", items[0].key);
        xml_add_text_child(a, set, NULL, "last", items[n - 1].key);
    }
    char num[24];
    snprintf(num, sizeof(num), "%lld", count);
    xml_add_text_child(a, set, NULL, "count", num);
}

void mam_query_store_args(const struct mam_query *q, const char *user, const char *host,
                          const char *area, struct store_log_query_args *out)
{
    *out = (struct store_log_query_args){
        .user = user, .host = host, .area = area,
        .with = q->with, .start = q->start, .end = q->end,
        .after_id = q->after_id, .before_id = q->before_id,
        .ids = q->nids ? q->ids : NULL,
        .limit = q->max == 0 ? 1 : q->max, .reverse = q->reverse,
    };
}

struct stanza *mam_result_message(const struct store_item *it, const char *from,
                                  const char *to, const char *queryid)
{
    struct stanza *fwd = mam_parse_stored(it->value, it->value_len);
    if (!fwd)
        return NULL;
    struct stanza *msg = stanza_new(XML_NS_CLIENT, "message");
    struct arena *a = msg->arena;
    char id[MAM_ID_LEN + 1];
    mam_new_id(id);
    xml_set_attr(a, msg->root, "to", to);
    xml_set_attr(a, msg->root, "from", from);
    xml_set_attr(a, msg->root, "id", id);
    struct xml_node *res = xml_add_child(a, msg->root, NS_MAM, "result");
    if (queryid)
        xml_set_attr(a, res, "queryid", queryid);
    xml_set_attr(a, res, "id", it->key);
    struct xml_node *f = xml_add_child(a, res, NS_FORWARD, "forwarded");
    struct xml_node *d = xml_add_child(a, f, NS_DELAY, "delay");
    char stamp[MAM_STAMP_MAX];
    mam_format_datetime(it->stamp, stamp);
    xml_set_attr(a, d, "stamp", stamp);
    xml_append(f, xml_copy(a, fwd->root));
    stanza_unref(fwd);
    return msg;
}

bool mam_item_with_full(const struct store_item *it, const char *owner, const char *with_full)
{
    struct stanza *st = mam_parse_stored(it->value, it->value_len);
    if (!st)
        return false;
    const char *from_s = xml_attr(st->root, "from");
    const char *to_s = xml_attr(st->root, "to");
    struct jid *from = from_s ? jid_parse(from_s) : NULL;
    struct jid *to = to_s ? jid_parse(to_s) : NULL;
    bool outgoing = from && strcmp(from->bare, owner) == 0;
    const struct jid *other = outgoing ? to : from;
    bool match = other && strcmp(other->full, with_full) == 0;
    jid_free(from);
    jid_free(to);
    stanza_unref(st);
    return match;
}

void mam_page_window(size_t n, long long limit, bool reverse, size_t *off, size_t *len,
                     bool *more)
{
    if (limit <= 0 || (unsigned long long)limit >= n) {
        *off = 0;
        *len = n;
        *more = false;
        return;
    }
    *len = (size_t)limit;
    *off = reverse ? n - *len : 0;
    *more = true;
}
