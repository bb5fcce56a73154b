/*
 * mam_query.c - libFuzzer target for the parsers of src/modules/mam_util.c:
 * the XEP-0313 §4 query form with XEP-0059 RSM paging, XEP-0441 §2
 * preferences, XEP-0082 §3.2 DateTimes and the stored-stanza reader
 * (mam_parse_stored: archive rows are disk input).
 *
 * The input is one serialized element, parsed as a stored row is.  When
 * it is (or contains) <query xmlns='urn:xmpp:mam:2'/>, the query parser
 * runs; <prefs/> likewise.  Checks:
 *   - a query either parses within the bounds (ids, page size) or fails
 *     with a type, condition and text for the stanza error;
 *   - prefs serialize to a form that parses back to the same text;
 *   - after stripping stanza-ids by a JID, none by that JID remain;
 *   - a DateTime that parses formats to one that parses to the same time.
 */
#include "fuzz.h"

#include "core/arena.h"
#include "core/buf.h"
#include "modules/mam_util.h"
#include "xml/xml.h"

static const struct xml_node *find(const struct xml_node *root, const char *name)
{
    if (strcmp(root->name, name) == 0 && strcmp(root->ns, NS_MAM) == 0)
        return root;
    return xml_child(root, NS_MAM, name);
}

static void check_error(const struct mam_error *e)
{
    FZ_CHECK(e->type && (strcmp(e->type, "modify") == 0 || strcmp(e->type, "cancel") == 0));
    FZ_CHECK(e->cond && e->cond[0]);
    FZ_CHECK(e->text && e->text[0]);
}

static void fuzz_query(const struct xml_node *query)
{
    struct arena *a = arena_new(1024);
    struct mam_query q;
    struct mam_error err = { NULL, NULL, NULL };
    if (mam_query_parse(a, query, &q, &err) == 0) {
        FZ_CHECK(q.nids <= MAM_MAX_IDS && q.ids[q.nids] == NULL);
        for (size_t i = 0; i < q.nids; i++)
            FZ_CHECK(q.ids[i] != NULL);
        FZ_CHECK(q.max >= 0 && q.max <= MAM_MAX_PAGE);
        FZ_CHECK(q.start >= 0 && q.end >= 0);
    } else {
        check_error(&err);
    }
    arena_free(a);
}

static void fuzz_prefs(const struct xml_node *prefs)
{
    struct mam_prefs p;
    struct mam_error err = { NULL, NULL, NULL };
    if (mam_prefs_parse(prefs, &p, &err) < 0) {
        check_error(&err);
        return;
    }
    FZ_CHECK(p.nalways + p.nnever <= MAM_MAX_PREF_JIDS);
    struct buf first = BUF_INIT, second = BUF_INIT;
    mam_prefs_serialize(&p, &first);
    mam_prefs_release(&p);

    struct stanza *st = mam_parse_stored(first.data, first.len);
    FZ_CHECK(st != NULL);
    struct mam_prefs p2;
    FZ_CHECK(mam_prefs_parse(st->root, &p2, &err) == 0);
    mam_prefs_serialize(&p2, &second);
    FZ_CHECK(first.len == second.len && memcmp(first.data, second.data, first.len) == 0);
    mam_prefs_release(&p2);
    stanza_unref(st);
    buf_release(&first);
    buf_release(&second);
}

static void fuzz_datetime(const char *s)
{
    long long us;
    if (mam_parse_datetime(s, &us) < 0)
        return;
    char out[MAM_STAMP_MAX];
    mam_format_datetime(us, out);
    long long again;
    FZ_CHECK(mam_parse_datetime(out, &again) == 0);
    FZ_CHECK(again == us);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_strndup(data, size);
    fuzz_datetime(s);

    struct stanza *st = mam_parse_stored(s, size);
    if (st) {
        struct xml_node *root = st->root;
        const struct xml_node *query = find(root, "query");
        if (query)
            fuzz_query(query);
        const struct xml_node *prefs = find(root, "prefs");
        if (prefs)
            fuzz_prefs(prefs);
        (void)mam_is_archivable(root);
        (void)mam_offline_storable(root);
        const char *by = "user@example.org";
        (void)mam_strip_stanza_ids(root, by);
        FZ_CHECK(!mam_has_stanza_id(root, by));
        stanza_unref(st);
    }
    free(s);
    return 0;
}
