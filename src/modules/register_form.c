/*
 * register_form.c - reading and checking jabber:iq:register queries
 * (XEP-0077 §3.1 registration, §3.2 cancellation, §3.3 password change,
 * §4 data-form extensibility, §6 precedence).  See register_form.h.
 *
 * The values a peer sends are bounded before they get here: the whole
 * stanza by limits.max_stanza_size, a username by the localpart's 1023 bytes
 * (RFC 7622 §3.3), a password by SASLprep's 1023 (sasl.c).
 */
#include "modules/register_form.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/sasl/sasl.h"
#include "xml/xml.h"

/* Field values of the form (XEP-0068 FORM_TYPE) that we accept: the
 * registration form, and the password-change form of XEP-0077 §3.3. */
#define FORM_TYPE_REGISTER "jabber:iq:register"
#define FORM_TYPE_CHANGEPW "jabber:iq:register:changepassword"

static int fail(struct reg_error *err, const char *type, const char *cond,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct reg_error *err, const char *type, const char *cond,
                const char *fmt, ...)
{
    err->type = type;
    err->cond = cond;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return -1;
}

/* The single <value/> of a form field: NULL when it has none, and
 * *dup_out set when it has several (a text field carries one,
 * XEP-0004 §3.3). */
static const char *field_value(struct arena *a, const struct xml_node *field,
                               bool *dup_out)
{
    struct xml_node *v = xml_child(field, NS_XDATA, "value");
    if (!v)
        return NULL;
    if (xml_next(v, NS_XDATA, "value"))
        *dup_out = true;
    return xml_text(a, v);
}

/* XEP-0004 §3.5: a submitted form.  Only FORM_TYPE, username and password
 * mean something here; other fields are accepted and ignored, as the
 * legacy fields we do not ask for are. */
static int parse_form(struct arena *a, const struct xml_node *x,
                      struct reg_request *out, struct reg_error *err)
{
    const char *ftype = xml_attr(x, "type");
    if (!ftype || strcmp(ftype, "submit") != 0)
        return fail(err, "modify", "bad-request",
                    "the data form must be of type 'submit' (XEP-0004 §3.5)");
    bool seen_user = false, seen_pass = false;
    for (struct xml_node *f = xml_child(x, NS_XDATA, "field"); f;
         f = xml_next(f, NS_XDATA, "field")) {
        const char *var = xml_attr(f, "var");
        if (!var)
            continue;
        bool dup = false;
        const char *v = field_value(a, f, &dup);
        if (dup)
            return fail(err, "modify", "bad-request",
                        "field '%.40s' has more than one value", var);
        if (strcmp(var, "FORM_TYPE") == 0) {
            if (!v || (strcmp(v, FORM_TYPE_REGISTER) != 0 &&
                       strcmp(v, FORM_TYPE_CHANGEPW) != 0))
                return fail(err, "modify", "bad-request",
                            "FORM_TYPE must be " FORM_TYPE_REGISTER " or "
                            FORM_TYPE_CHANGEPW);
        } else if (strcmp(var, "username") == 0) {
            if (seen_user)
                return fail(err, "modify", "bad-request",
                            "field 'username' appears twice");
            seen_user = true;
            out->username = v;
        } else if (strcmp(var, "password") == 0) {
            if (seen_pass)
                return fail(err, "modify", "bad-request",
                            "field 'password' appears twice");
            seen_pass = true;
            /* A field without a value is an empty password: §3.3 says an
             * empty one keeps the old password, so the caller must see
             * "present but empty" rather than "absent". */
            out->password = v ? v : "";
        }
    }
    out->form = true;
    return 0;
}

int reg_parse(struct arena *a, const char *type, const struct xml_node *query,
              struct reg_request *out, struct reg_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!xml_is(query, NS_REGISTER, "query"))
        return fail(err, "modify", "bad-request",
                    "expected <query xmlns='" NS_REGISTER "'/>");
    if (type && strcmp(type, "get") == 0) {
        /* §3.1: a get asks for the fields; whatever it carries is moot. */
        out->op = REG_OP_GET;
        return 0;
    }
    if (xml_child(query, NS_REGISTER, "remove")) {
        if (xml_child_count(query) != 1)
            return fail(err, "modify", "bad-request",
                        "<remove/> must be the only child of <query/> (XEP-0077 §3.2)");
        out->op = REG_OP_REMOVE;
        return 0;
    }
    out->op = REG_OP_SUBMIT;
    struct xml_node *user = xml_child(query, NS_REGISTER, "username");
    struct xml_node *pass = xml_child(query, NS_REGISTER, "password");
    struct xml_node *x = xml_child(query, NS_XDATA, "x");
    if (x) {
        if (xml_next(x, NS_XDATA, "x"))
            return fail(err, "modify", "bad-request", "more than one data form");
        /* §4 rule 5: a client MUST NOT submit both. */
        if (user || pass)
            return fail(err, "modify", "bad-request",
                        "send the data form or the <username/> and <password/> "
                        "fields, not both (XEP-0077 §4)");
        return parse_form(a, x, out, err);
    }
    if ((user && xml_next(user, NS_REGISTER, "username")) ||
        (pass && xml_next(pass, NS_REGISTER, "password")))
        return fail(err, "modify", "bad-request",
                    "<username/> and <password/> may appear once each");
    out->username = user ? xml_text(a, user) : NULL;
    out->password = pass ? xml_text(a, pass) : NULL;
    return 0;
}

int reg_check_username(const char *in, char out[JID_PART_MAX + 1],
                       struct reg_error *err)
{
    if (!in || !*in)
        return fail(err, "modify", "not-acceptable", "a <username/> is required");
    if (jid_prep_local(in, out) < 0)
        return fail(err, "modify", "not-acceptable",
                    "the username is not a valid XMPP localpart (RFC 7622 §3.3)");
    return 0;
}

/* Unicode code points of a valid UTF-8 string: every byte that is not a
 * continuation byte starts one. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

int reg_check_password(const char *pw, unsigned min_chars, struct reg_error *err)
{
    if (!pw || !*pw)
        return fail(err, "modify", "not-acceptable", "a non-empty <password/> is required");
    char *prepped = sasl_prep_password(pw);
    if (!prepped)
        return fail(err, "modify", "not-acceptable",
                    "the password is too long or has characters that SASLprep "
                    "(RFC 4013) does not allow");
    size_t n = utf8_chars(prepped);
    explicit_bzero(prepped, strlen(prepped));
    free(prepped);
    if (n < min_chars)
        return fail(err, "modify", "not-acceptable",
                    "the password must have at least %u characters", min_chars);
    return 0;
}

void reg_fields(struct arena *a, struct xml_node *query, const char *user,
                unsigned min_chars)
{
    if (user) {
        /* §3.1: <registered/>, what is on file (the password MAY be
         * empty: we only keep SCRAM keys, so it must be) and how to act. */
        xml_add_text_child(a, query, NULL, "instructions",
                           "You are registered. Send <username/> and a new "
                           "<password/> to change your password, or <remove/> "
                           "to delete your account.");
        xml_add_child(a, query, NULL, "registered");
        xml_add_text_child(a, query, NULL, "username", user);
        xml_add_child(a, query, NULL, "password");
        return;
    }
    const char *instr = arena_printf(
        a, "Choose a username and a password of at least %u characters.", min_chars);
    xml_add_text_child(a, query, NULL, "instructions", instr);
    xml_add_child(a, query, NULL, "username");
    xml_add_child(a, query, NULL, "password");
    /* §4 rule 3: the form carries the same fields as the legacy ones,
     * so clients that prefer forms (§6) ask for nothing more. */
    struct xml_node *x = xml_add_child(a, query, NS_XDATA, "x");
    xml_set_attr(a, x, "type", "form");
    xml_add_text_child(a, x, NULL, "title", "Account registration");
    xml_add_text_child(a, x, NULL, "instructions", instr);
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "type", "hidden");
    xml_set_attr(a, f, "var", "FORM_TYPE");
    xml_add_text_child(a, f, NULL, "value", FORM_TYPE_REGISTER);
    f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "type", "text-single");
    xml_set_attr(a, f, "label", "Username");
    xml_set_attr(a, f, "var", "username");
    xml_add_child(a, f, NULL, "required");
    f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "type", "text-private");
    xml_set_attr(a, f, "label", "Password");
    xml_set_attr(a, f, "var", "password");
    xml_add_child(a, f, NULL, "required");
}
