/*
 * mam_util.h - the pure logic of message archiving and offline storage,
 * kept apart from the server so that unit tests link only it (and the xml
 * and util libraries).
 *
 *   XEP-0082 §3.2   DateTime parsing and formatting (stamps of XEP-0203
 *                   <delay/>, XEP-0313 'start'/'end')
 *   XEP-0313 §4     the query: data form fields (§4.1) and RSM paging
 *                   (XEP-0059 §2, XEP-0313 §4.3)
 *   XEP-0441 §2     archiving preferences: parse, serialize, decide
 *   XEP-0313 §6.1.1 which messages a user archive stores
 *   XEP-0160 §3     which messages offline storage keeps
 *   XEP-0359 §3     stanza ids: generation and the 'by' stripping rule
 */
#ifndef PARLEY_MODULES_MAM_UTIL_H
#define PARLEY_MODULES_MAM_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "xml/xml.h"

struct jid;

#define NS_MAM          "urn:xmpp:mam:2"
#define NS_MAM_EXTENDED "urn:xmpp:mam:2#extended"
#define NS_RSM          "http://jabber.org/protocol/rsm"
#define NS_XDATA        "jabber:x:data"
#define NS_FORWARD      "urn:xmpp:forward:0"
#define NS_DELAY        "urn:xmpp:delay"
#define NS_SID          "urn:xmpp:sid:0"
#define NS_CHATSTATES   "http://jabber.org/protocol/chatstates"

/* "2010-07-10T23:08:25.123456Z" and its NUL. */
#define MAM_STAMP_MAX   32
/* Archive and offline row ids: base64url of 12 random bytes. */
#define MAM_ID_LEN      16
/* A peer-controlled list ('ids' field) is bounded. */
#define MAM_MAX_IDS     100
/* Server page limit (XEP-0313 §4.3.1: a server MAY limit a page). */
#define MAM_MAX_PAGE    250
/* Bound on the <always/> + <never/> lists of a user's preferences. */
#define MAM_MAX_PREF_JIDS 500

/* --- XEP-0082 ------------------------------------------------------------ */

/* Parses a DateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD, TZD = Z or +hh:mm /
 * -hh:mm) into microseconds since the epoch.  0, or -1 when malformed or
 * out of range (years 1970..9999). */
int mam_parse_datetime(const char *s, long long *us_out /* OUT */);
/* Formats microseconds since the epoch in UTC with microseconds. */
void mam_format_datetime(long long us, char out[MAM_STAMP_MAX]);

/* --- queries (XEP-0313 §4, XEP-0059) ------------------------------------- */

/* A stanza error: what the query handler answers. Strings are static. */
struct mam_error {
    const char *type;           /* "modify", "cancel" */
    const char *cond;           /* RFC 6120 §8.3.3 condition */
    const char *text;
};

struct mam_query {
    const char *queryid;        /* borrowed from the tree, NULL if absent */
    char *with;                 /* prepared bare JID (arena), NULL = any */
    char *with_full;            /* the prepared full JID when 'with' has a
                                   resource (arena), else NULL: XEP-0313
                                   §4.1.1, only messages to/from that full
                                   JID (mam_item_with_full()) */
    long long start, end;       /* microseconds, 0 = open */
    const char *after_id;       /* form 'after-id' or RSM <after/> */
    const char *before_id;      /* form 'before-id' or RSM <before>id</before> */
    const char *ids[MAM_MAX_IDS + 1];   /* form 'ids', NULL-terminated */
    size_t nids;
    long long max;              /* RSM <max/>, clamped; MAM_MAX_PAGE when absent */
    bool reverse;               /* RSM <before/>: the last page (newest rows) */
    bool flip;                  /* <flip-page/>: send the page newest first */
};

/* Parses <query xmlns='urn:xmpp:mam:2'> (a 'set').  Text is copied into
 * 'a'.  0, or -1 with *err filled: bad-request for malformed values,
 * feature-not-implemented for unknown fields (XEP-0313 §4.1.5) and RSM
 * <index/> (index-based paging is not supported). */
int mam_query_parse(struct arena *a, const struct xml_node *query,
                    struct mam_query *q /* OUT */, struct mam_error *err /* OUT */);

/* --- preferences (XEP-0441 §2) ------------------------------------------- */

enum mam_default {
    MAM_DEFAULT_ALWAYS,
    MAM_DEFAULT_ROSTER,
    MAM_DEFAULT_NEVER,
};

struct mam_prefs {
    enum mam_default def;
    char **always;              /* prepared JIDs (heap), bare or full */
    size_t nalways;
    char **never;
    size_t nnever;
};

enum mam_decision {
    MAM_ARCHIVE,
    MAM_SKIP,
    MAM_ASK_ROSTER,             /* default='roster' and no list matched:
                                   archive if the contact is in the roster */
};

/* Parses <prefs/>.  0, or -1 with *err (bad-request).  On success the
 * caller releases *out with mam_prefs_release(). */
int mam_prefs_parse(const struct xml_node *prefs, struct mam_prefs *out /* OUT */,
                    struct mam_error *err /* OUT */);
void mam_prefs_release(struct mam_prefs *p);
/* Appends <prefs xmlns='urn:xmpp:mam:2' default=...><always>...</always>
 * <never>...</never></prefs> (the reply, and the stored form). */
void mam_prefs_serialize(const struct mam_prefs *p, struct buf *out);
/* XEP-0441 §2.3: target is the 'to' of an outgoing message or the 'from'
 * of an incoming one.  A JID in both lists is not archived (privacy wins). */
enum mam_decision mam_prefs_decide(const struct mam_prefs *p, const struct jid *target);

/* --- messages ------------------------------------------------------------ */

/* XEP-0313 §6.1.1: a message of type normal or chat with a <body/>. */
bool mam_is_archivable(const struct xml_node *msg);
/* XEP-0160 §3 / RFC 6121 §8.5.2.2.1: normal and chat messages, except chat
 * messages carrying nothing but chat state notifications (XEP-0085). */
bool mam_offline_storable(const struct xml_node *msg);
/* XEP-0359 §3 rule 2: removes every direct <stanza-id xmlns='urn:xmpp:sid:0'
 * by=BY/> child.  Returns how many were removed. */
size_t mam_strip_stanza_ids(struct xml_node *msg, const char *by);
/* Does msg carry a <stanza-id by=BY/>? */
bool mam_has_stanza_id(const struct xml_node *msg, const char *by);
/* A fresh unpredictable id (XEP-0359 §3 rule 1, XEP-0313 §3): 16 base64url
 * characters from 12 bytes of getrandom(). */
void mam_new_id(char out[MAM_ID_LEN + 1]);

/* Parses one serialized element (a stored stanza or document, written by
 * xml_serialize() with parent_ns "jabber:client") into a new stanza.
 * NULL when it is not well-formed. */
struct stanza *mam_parse_stored(const char *s, size_t len);

/* Adds to a <query/> result the query form (XEP-0313 §4.1.1 "Retrieving
 * the form"): FORM_TYPE, with, start, end, before-id, after-id and ids,
 * the same for user archives and room archives. */
void mam_fill_query_form(struct arena *a, struct xml_node *query);

/* Fills an IQ result's <fin/> (XEP-0313 §4.1.2 with XEP-0059 §2.6):
 * complete='true|false', and <set/> with the ids of the first and last of
 * the n rows returned (none when n is 0) and the total count. */
struct store_item;
void mam_fill_fin(struct arena *a, struct xml_node *fin, const struct store_item *items,
                  size_t n, long long count, bool complete);

/* The store query a parsed MAM query asks for, in (user, host, area):
 * RSM <max>0</max> (XEP-0059 §2.7) asks for the count only, so one row
 * is enough.  Strings stay borrowed from q. */
struct store_log_query_args;
void mam_query_store_args(const struct mam_query *q, const char *user, const char *host,
                          const char *area, struct store_log_query_args *out);

/* XEP-0313 §4.1.1 full-JID 'with': is archived row 'it' of 'owner'
 * (bare) a message to (outgoing: its 'from' is the owner) or from
 * (incoming) exactly the full JID 'with_full'?  The store keeps the bare
 * JID of the other party (store.h), the stored message the full one. */
bool mam_item_with_full(const struct store_item *it, const char *owner, const char *with_full);

/* XEP-0059 paging over n rows (oldest first) already filtered: the first
 * 'limit' rows, or with 'reverse' the last 'limit' (limit <= 0: all).
 * *off and *len give the page; *more says rows were cut off on the
 * paging side (as store_log_query's res->more). */
void mam_page_window(size_t n, long long limit, bool reverse, size_t *off /* OUT */,
                     size_t *len /* OUT */, bool *more /* OUT */);

/* One XEP-0313 §4.2 result message for archived row 'it': from the
 * archive's JID to the querier, <result queryid id><forwarded><delay/>
 * <message/></forwarded></result>.  NULL when the stored value does not
 * parse (the caller logs it). */
struct stanza *mam_result_message(const struct store_item *it, const char *from,
                                  const char *to, const char *queryid);

#endif
