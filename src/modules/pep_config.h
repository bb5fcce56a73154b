/*
 * pep_config.h - PEP node configuration: the XEP-0060 §16.4.4
 * pubsub#node_config fields PEP uses, their data forms (XEP-0004),
 * publish-options preconditions (XEP-0060 §7.1.5, XEP-0223) and the
 * stored encoding.
 *
 * Pure logic (no server header), so tests link only pl_pep.
 */
#ifndef PARLEY_MODULES_PEP_CONFIG_H
#define PARLEY_MODULES_PEP_CONFIG_H

#include <stdbool.h>

#include "core/buf.h"

struct arena;
struct xml_node;

#define NS_PUBSUB_NODE_CONFIG    "http://jabber.org/protocol/pubsub#node_config"
#define NS_PUBSUB_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"

/* XEP-0060 §4.5 access models PEP implements (XEP-0163 §5 also names
 * 'roster', which needs roster groups: refused as not-acceptable). */
enum pep_access {
    PEP_ACCESS_PRESENCE,        /* owner + contacts with subscription from/both (default) */
    PEP_ACCESS_OPEN,            /* anyone may retrieve; contacts are notified */
    PEP_ACCESS_WHITELIST,       /* the owner only (no affiliation editing yet) */
};

enum pep_send_last {
    PEP_SEND_NEVER,
    PEP_SEND_ON_SUB,
    PEP_SEND_ON_SUB_AND_PRESENCE,   /* XEP-0163 §5 default */
};

struct pep_config {
    enum pep_access access;
    enum pep_send_last send_last;
    bool persist_items;         /* XEP-0223 nodes set it true */
    bool deliver_notifications;
    bool deliver_payloads;
    bool notify_retract;
    bool notify_delete;
    bool notify_config;
    unsigned max_items;         /* 1..limit; "max" means the limit */
    char title[128];            /* pubsub#title, truncated */
};

enum pep_form_status {
    PEP_FORM_OK = 0,
    PEP_FORM_BAD = -1,          /* unknown field, malformed value: <bad-request/> */
    PEP_FORM_REFUSED = -2,      /* valid but unsupported value: <not-acceptable/> */
};

/* XEP-0163 §5 defaults; 'limit' is the server's cap on max_items. */
void pep_config_default(struct pep_config *c, unsigned limit);

/* Sets one field (var as in the form, "pubsub#max_items").  Returns an
 * enum pep_form_status. */
int pep_config_set(struct pep_config *c, const char *var, const char *value,
                   unsigned limit);

/* Applies a submitted jabber:x:data form whose FORM_TYPE must be
 * 'form_type' (XEP-0060 §8.2.4, §7.1.5).  On failure *bad_var_out
 * names the offending field (borrowed from the form; may be NULL) and c
 * is unchanged. */
int pep_config_apply_form(struct pep_config *c, const struct xml_node *x,
                          const char *form_type, unsigned limit,
                          const char **bad_var_out);

/* XEP-0060 §7.1.5 preconditions: is every field of the publish-options
 * form equal to the node's configuration?  Returns PEP_FORM_OK when met,
 * PEP_FORM_REFUSED when a precondition is not met (<conflict/> +
 * <precondition-not-met/>), PEP_FORM_BAD for an unknown field or a
 * malformed form. */
int pep_config_check_preconditions(const struct pep_config *c,
                                   const struct xml_node *x, unsigned limit,
                                   const char **bad_var_out);

bool pep_config_equal(const struct pep_config *a, const struct pep_config *b);

/* Appends a <x xmlns='jabber:x:data' type='form'/> describing c under
 * parent (XEP-0060 §8.2.2). */
void pep_config_form(const struct pep_config *c, struct arena *a,
                     struct xml_node *parent, unsigned limit);

/* Stored form: "var=value\n" lines.  decode starts from the defaults and
 * ignores lines it does not know (written by a later version). */
void pep_config_encode(const struct pep_config *c, struct buf *out);
void pep_config_decode(struct pep_config *c, const char *s, unsigned limit);

const char *pep_access_name(enum pep_access a);

#endif
