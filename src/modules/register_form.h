/*
 * register_form.h - reading and checking a jabber:iq:register query
 * (XEP-0077 §3.1-§3.3, §4 data forms, §6 precedence).
 *
 * Pure logic with no server behind it, so that the unit test links only
 * this file, the XML trees, JID preparation and SASLprep: which operation
 * a query asks for, the username and password it carries (legacy fields
 * or a submitted XEP-0004 form, never both), the checks on both, and the
 * fields a client is asked for.
 */
#ifndef PARLEY_MODULES_REGISTER_FORM_H
#define PARLEY_MODULES_REGISTER_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/jid.h"

struct xml_node;

#define NS_REGISTER      "jabber:iq:register"
#define NS_REGISTER_FEAT "http://jabber.org/features/iq-register"
#define NS_XDATA         "jabber:x:data"

enum reg_op {
    REG_OP_GET,                 /* IQ get: which fields are needed (§3.1) */
    REG_OP_SUBMIT,              /* IQ set with fields: create (§3.1) or
                                   change the password (§3.3) */
    REG_OP_REMOVE,              /* IQ set with <remove/> (§3.2) */
};

/* A refusal: RFC 6120 §8.3 error type, condition and a human text. */
struct reg_error {
    const char *type;           /* "modify", "cancel", "wait" */
    const char *cond;           /* stanza error condition element name */
    char text[160];
};

struct reg_request {
    enum reg_op op;
    const char *username;       /* as sent (not prepared); NULL when absent.
                                   Borrowed from the arena given to reg_parse */
    const char *password;       /* as sent; NULL when absent; same arena */
    bool form;                  /* the values came from a data form */
};

/* Reads 'query' (the <query xmlns='jabber:iq:register'/> child of an IQ
 * of type 'type', "get" or "set").  Strings are copied into 'a'.
 * Returns 0, or -1 with *err filled (always <bad-request/>: the request
 * itself is malformed; missing values are the caller's to judge, since
 * creation and password change answer them differently). */
int reg_parse(struct arena *a, const char *type, const struct xml_node *query,
              struct reg_request *out, struct reg_error *err);

/* Prepares a requested username as a JID localpart into out.  0, or -1 with
 * *err (<not-acceptable/>, XEP-0077 §3.1) when it is missing, empty or
 * not a valid localpart (RFC 7622 §3.3). */
int reg_check_username(const char *in, char out[JID_PART_MAX + 1],
                       struct reg_error *err);

/* Checks a new password: present, valid under SASLprep (RFC 4013, the
 * form SCRAM keys are derived from) and at least min_chars characters
 * (Unicode code points after SASLprep).  0, or -1 with *err
 * (<not-acceptable/>). */
int reg_check_password(const char *pw, unsigned min_chars, struct reg_error *err);

/* Fills a result <query/> for a get (§3.1): instructions, the legacy
 * fields and the same fields as a data form (§6: "x:data form +
 * iq:register fields").  With 'user' set the entity is already
 * registered: <registered/> and its username instead (§3.1). */
void reg_fields(struct arena *a, struct xml_node *query, const char *user,
                unsigned min_chars);

#endif
