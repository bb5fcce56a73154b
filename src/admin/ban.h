/*
 * ban.h - account bans (issue 5): the ban record and the questions the
 * rest of the server asks about it.
 *
 * A ban lives in the account's private XML storage (XEP-0049's kv area
 * "private", key "{urn:xmpp:parley:ban}ban", the same keying as
 * modules/private.c), under a namespace private.c refuses to clients, so a
 * user can neither read, forge nor lift it.  The stored element:
 *
 *   <ban xmlns='urn:xmpp:parley:ban'>
 *     <state>banned</state>              banned | lifted (history kept)
 *     <reason>spam</reason>              the current ban's reason
 *     <since>2024-05-01T10:00:00Z</since>     XEP-0082 DateTime, UTC
 *     <last-activity>...</last-activity> last activity before the ban
 *     <last-reason>...</last-reason>     the previous ban's reason
 *     <mac>hex</mac>                     HMAC-SHA-256, see below
 *   </ban>
 *
 * The MAC is keyed with srv->secret (data_dir/secret, 0600) and covers the
 * account's bare JID and every field, each as a netstring, so a record
 * can neither be edited in the database nor copied to another account.  A
 * record whose MAC does not verify is ignored (the account counts as not
 * banned) and logged.
 *
 * Two halves: the record (encode, decode, verify) is pure logic in ban.c,
 * a library of its own (tests/unit/admin/test_ban.c); the asynchronous
 * lookups and the commands are in commands_ban.c, with the server.
 */
#ifndef PARLEY_ADMIN_BAN_H
#define PARLEY_ADMIN_BAN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "xml/xml.h"

#define NS_PARLEY_BAN   "urn:xmpp:parley:ban"
#define BAN_KV_AREA     "private"           /* XEP-0049's area (private.c) */
#define BAN_KV_KEY      "{" NS_PARLEY_BAN "}ban"
#define BAN_KEY_LEN     32                  /* bytes of srv->secret */
/* A reason is shown to the user in a stream error and a SASL failure
 * <text/>: longer helps nobody, and it bounds what a stored row holds. */
#define BAN_REASON_MAX  1024

/* --- the record (ban.c, pure) ------------------------------------------- */

struct ban_record {
    bool banned;                /* false: a lifted ban (history only) */
    char *reason;               /* current ban's reason (heap); NULL when lifted */
    long long since;            /* unix seconds the ban started; 0 when lifted */
    long long last_activity;    /* unix seconds the account was last active
                                   before the ban; 0 = unknown */
    char *last_reason;          /* the previous ban's reason (heap), or NULL */
};

enum ban_decode_status {
    BAN_OK = 0,
    BAN_E_MALFORMED = -1,       /* not a ban element, field missing, repeated,
                                   too long or unparsable */
    BAN_E_MAC = -2,             /* well formed, but the MAC does not verify
                                   (edited, copied from another account, or
                                   a different server secret) */
};

/* Frees the strings; the struct itself is the caller's. */
void ban_record_release(struct ban_record *r);

/* The <ban/> element for r, MAC included, built in arena a (the caller
 * serializes it).  'bare' is the account's bare JID (prepared).  Empty
 * strings are stored as absent fields. */
struct xml_node *ban_record_to_xml(struct arena *a, const struct ban_record *r,
                                   const char *bare,
                                   const unsigned char key[BAN_KEY_LEN]);

/* Reads and verifies a <ban/> element.  On BAN_OK fills *out (release it);
 * on failure *out is zeroed and holds nothing. */
enum ban_decode_status ban_record_from_xml(const struct xml_node *el, const char *bare,
                                           const unsigned char key[BAN_KEY_LEN],
                                           struct ban_record *out);

/* XEP-0082 DateTime "YYYY-MM-DDThh:mm:ssZ" of unix seconds t (out: 21+
 * bytes), and back (-1 if s is not exactly that form). */
void ban_time_format(long long t, char out[32]);
int ban_time_parse(const char *s, long long *t_out);

/* --- lookups and commands (commands_ban.c, needs the server) ------------- */

struct server;
struct hook_event;
struct pl_module_ctx;

/*
 * Is user@host banned, and why?  For the login path (c2s SASL, SASL1 and
 * SASL2): call it only AFTER the credentials were verified, so that the
 * ban tells nothing to someone who does not know the password; when
 * 'banned' is true, fail the authentication with
 *   <failure><account-disabled/><text>REASON</text></failure>
 * (RFC 6120 §6.5.1: "the account ... has been temporarily disabled";
 * XEP-0388 likewise for SASL2) instead of succeeding.  A wrong password
 * keeps getting <not-authorized/>, banned or not.
 *
 * cb runs exactly once, later on the loop (never inside ban_check), also
 * while the server stops (check srv->stopping before touching sessions);
 * 'reason' is borrowed for the call (NULL when not banned).  A record that
 * fails verification, and a storage error, count as not banned (both are
 * logged): a ban is an operator's decision the operator can repeat, while
 * refusing every login on a storage hiccup would lock everyone out.
 */
typedef void (*ban_check_cb)(void *ud, bool banned, const char *reason);
void ban_check(struct server *srv, const char *user, const char *host,
               ban_check_cb cb, void *ud);

/*
 * Enforcement on stanzas (messages to a banned account are bounced with
 * <service-unavailable/>): a per-host cache of the ban state of accounts,
 * filled lazily from storage and kept current by ban_account and
 * unban_account.  The module that enforces bans (modules/adhoc.c, the
 * administration module) owns one per host.  Without it the rule still
 * holds: a banned account has no session, so its messages reach the
 * offline store, which calls ban_check() before storing and bounces them.
 */
struct ban_cache;
struct ban_cache *ban_cache_new(struct server *srv, const char *host);
/* Releases the cache; lookups still in flight finish harmlessly and route
 * the stanzas they held again. */
void ban_cache_free(struct ban_cache *bc);
/* The HOOK_STANZA_IN handler's body.  A message for an account known to
 * be banned is bounced (HANDLED); for an account not known yet the
 * message is held while the record is read, then bounced or routed
 * again (HANDLED); otherwise CONTINUE. */
int ban_cache_stanza_in(struct ban_cache *bc, struct hook_event *ev);
/* HOOK_ACCOUNT_DELETED: the ban record went with the account (private XML
 * storage is per user), so an account created again under the same name
 * starts unbanned. */
void ban_cache_forget(struct ban_cache *bc, const char *bare);
/* Implemented by the enforcing module: its cache for host, or NULL when
 * it is not enabled there. */
struct ban_cache *ban_cache_of(struct server *srv, const char *host);

#endif
