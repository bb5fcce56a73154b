/*
 * muc_config.c - room configuration: defaults, the muc#roomconfig data form
 * of XEP-0045 §10.2 / §15.5.3 (XEP-0004 §3), and the stored form;
 * muc#roomconfig_presencebroadcast and muc#roomconfig_getmemberlist are
 * list-multi fields of role names (§15.5.3, examples in §10.1.3 and §10.2),
 * and the room's own allow-register boolean (§7.10).
 */
#include "muc/muc_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"

static const char *const pm_names[] = { "anyone", "participants", "moderators", "none" };
static const char *const whois_names[] = { "moderators", "anyone" };
/* The roles muc#roomconfig_presencebroadcast and muc#roomconfig_getmemberlist
 * list, in the XEP's order. */
static const enum muc_role bcast_roles[] = {
    MUC_ROLE_MODERATOR, MUC_ROLE_PARTICIPANT, MUC_ROLE_VISITOR,
};
#define NBCAST (sizeof(bcast_roles) / sizeof(bcast_roles[0]))

void muc_config_init(struct muc_config *c)
{
    memset(c, 0, sizeof(*c));
    c->name = pl_strdup("");
    c->desc = pl_strdup("");
    c->lang = pl_strdup("");
    c->password = pl_strdup("");
    c->logging = true;
    c->change_subject = false;
    c->allow_invites = false;
    c->public_room = true;
    c->persistent = false;
    c->moderated = false;
    c->members_only = false;
    c->password_protected = false;
    c->whois = MUC_WHOIS_MODERATORS;
    c->allowpm = MUC_PM_ANYONE;
    c->allow_register = false;  /* members-only rooms stay closed unless the owner opens them */
    c->presence_broadcast = MUC_BCAST_ALL;
    c->get_member_list = MUC_GETMEMBERLIST_DEFAULT;
    c->max_users = 0;
    c->max_history = -1;
}

bool muc_config_broadcasts(const struct muc_config *c, enum muc_role role)
{
    return role != MUC_ROLE_NONE && (c->presence_broadcast & (1u << role)) != 0;
}

bool muc_config_may_get_member_list(const struct muc_config *c, enum muc_role role)
{
    return role != MUC_ROLE_NONE && (c->get_member_list & (1u << role)) != 0;
}

void muc_config_release(struct muc_config *c)
{
    free(c->name);
    free(c->desc);
    free(c->lang);
    free(c->password);
    memset(c, 0, sizeof(*c));
}

void muc_config_copy(struct muc_config *dst, const struct muc_config *src)
{
    *dst = *src;
    dst->name = pl_strdup(src->name);
    dst->desc = pl_strdup(src->desc);
    dst->lang = pl_strdup(src->lang);
    dst->password = pl_strdup(src->password);
}

/* --- the form ---------------------------------------------------------------- */

static struct xml_node *field(struct arena *a, struct xml_node *x, const char *var,
                              const char *type, const char *label)
{
    struct xml_node *f = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, f, "var", var);
    if (type)
        xml_set_attr(a, f, "type", type);
    if (label)
        xml_set_attr(a, f, "label", label);
    return f;
}

static void value(struct arena *a, struct xml_node *f, const char *v)
{
    xml_add_text_child(a, f, NULL, "value", v);
}

static void option(struct arena *a, struct xml_node *f, const char *label, const char *v)
{
    struct xml_node *o = xml_add_child(a, f, NULL, "option");
    xml_set_attr(a, o, "label", label);
    value(a, o, v);
}

static void bool_field(struct arena *a, struct xml_node *x, const char *var,
                       const char *label, bool v)
{
    value(a, field(a, x, var, "boolean", label), v ? "1" : "0");
}

static void text_field(struct arena *a, struct xml_node *x, const char *var,
                       const char *type, const char *label, const char *v)
{
    value(a, field(a, x, var, type, label), v);
}

/* A list-multi of roles (bits): the set ones as values, all as options. */
static void roles_field(struct arena *a, struct xml_node *x, const char *var,
                        const char *label, unsigned bits)
{
    static const char *const labels[] = { "Moderator", "Participant", "Visitor" };
    struct xml_node *f = field(a, x, var, "list-multi", label);
    for (size_t i = 0; i < NBCAST; i++)
        if (bits & (1u << bcast_roles[i]))
            value(a, f, muc_role_name(bcast_roles[i]));
    for (size_t i = 0; i < NBCAST; i++)
        option(a, f, labels[i], muc_role_name(bcast_roles[i]));
}

void muc_config_form(struct arena *a, struct xml_node *parent, const struct muc_config *c,
                     unsigned service_max_users,
                     const char *const *owners, size_t nowners,
                     const char *const *admins, size_t nadmins)
{
    struct xml_node *x = xml_add_child(a, parent, NS_XDATA_MUC, "x");
    xml_set_attr(a, x, "type", "form");
    xml_add_text_child(a, x, NULL, "title", "Room configuration");
    text_field(a, x, "FORM_TYPE", "hidden", NULL, MUC_FORM_ROOMCONFIG);
    text_field(a, x, "muc#roomconfig_roomname", "text-single", "Natural-language room name", c->name);
    text_field(a, x, "muc#roomconfig_roomdesc", "text-single", "Short description of the room", c->desc);
    text_field(a, x, "muc#roomconfig_lang", "text-single", "Natural language of the discussions", c->lang);
    bool_field(a, x, "muc#roomconfig_enablelogging", "Archive the discussion (XEP-0313)", c->logging);
    bool_field(a, x, "muc#roomconfig_changesubject", "Allow participants to change the subject", c->change_subject);
    bool_field(a, x, "muc#roomconfig_allowinvites", "Allow participants to invite others", c->allow_invites);
    bool_field(a, x, MUC_FIELD_ALLOWREGISTER, "Allow users to register with the room (reserving a nickname)",
               c->allow_register);

    struct xml_node *f = field(a, x, "muc#roomconfig_allowpm", "list-single", "Who may send private messages");
    value(a, f, pm_names[c->allowpm]);
    for (int i = 0; i < 4; i++)
        option(a, f, pm_names[i], pm_names[i]);

    f = field(a, x, "muc#roomconfig_maxusers", "list-single", "Maximum number of occupants");
    char buf[32];
    unsigned cur = c->max_users ? c->max_users : service_max_users;
    snprintf(buf, sizeof(buf), "%u", cur);
    value(a, f, buf);
    static const unsigned choices[] = { 10, 20, 30, 50, 100, 200, 500, 1000, 5000, 10000 };
    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        if (choices[i] > service_max_users)
            break;
        snprintf(buf, sizeof(buf), "%u", choices[i]);
        option(a, f, buf, buf);
    }

    roles_field(a, x, "muc#roomconfig_presencebroadcast", "Roles for which presence is broadcast",
                c->presence_broadcast);
    roles_field(a, x, "muc#roomconfig_getmemberlist",
                "Roles and Affiliations that May Retrieve Member List", c->get_member_list);

    bool_field(a, x, "muc#roomconfig_publicroom", "List the room publicly", c->public_room);
    bool_field(a, x, "muc#roomconfig_persistentroom", "Make the room persistent", c->persistent);
    bool_field(a, x, "muc#roomconfig_moderatedroom", "Make the room moderated", c->moderated);
    bool_field(a, x, "muc#roomconfig_membersonly", "Make the room members-only", c->members_only);
    bool_field(a, x, "muc#roomconfig_passwordprotectedroom", "Password required to enter", c->password_protected);
    text_field(a, x, "muc#roomconfig_roomsecret", "text-private", "Password", c->password);

    f = field(a, x, "muc#roomconfig_whois", "list-single", "Who may discover real JIDs");
    value(a, f, whois_names[c->whois]);
    option(a, f, "Moderators only", "moderators");
    option(a, f, "Anyone", "anyone");

    snprintf(buf, sizeof(buf), "%ld", c->max_history < 0 ? 0L : c->max_history);
    if (c->max_history < 0)
        text_field(a, x, "muc#maxhistoryfetch", "text-single", "Maximum number of history messages returned by the room", "");
    else
        text_field(a, x, "muc#maxhistoryfetch", "text-single", "Maximum number of history messages returned by the room", buf);

    f = field(a, x, "muc#roomconfig_roomadmins", "jid-multi", "Room admins");
    for (size_t i = 0; i < nadmins; i++)
        value(a, f, admins[i]);
    f = field(a, x, "muc#roomconfig_roomowners", "jid-multi", "Room owners");
    for (size_t i = 0; i < nowners; i++)
        value(a, f, owners[i]);
}

/* The text of the first <value/> of a field, NULL when none. */
static const char *first_value(struct arena *a, const struct xml_node *f)
{
    struct xml_node *v = xml_child(f, NULL, "value");
    return v ? xml_text(a, v) : NULL;
}

static int parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!*s)
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int set_text(char **dst, const char *v)
{
    if (strlen(v) > MUC_CONFIG_TEXT_MAX)
        return -1;
    free(*dst);
    *dst = pl_strdup(v);
    return 0;
}

struct bool_row {
    const char *var;
    size_t off;
};

#define BOOL_ROW(v, m) { "muc#roomconfig_" v, offsetof(struct muc_config, m) }
static const struct bool_row bool_rows[] = {
    BOOL_ROW("enablelogging", logging),
    BOOL_ROW("changesubject", change_subject),
    BOOL_ROW("allowinvites", allow_invites),
    BOOL_ROW("publicroom", public_room),
    BOOL_ROW("persistentroom", persistent),
    BOOL_ROW("moderatedroom", moderated),
    BOOL_ROW("membersonly", members_only),
    BOOL_ROW("passwordprotectedroom", password_protected),
    { MUC_FIELD_ALLOWREGISTER, offsetof(struct muc_config, allow_register) },
};

/* The stored attribute of a boolean row: the field's name after its '_'. */
static const char *row_attr(const struct bool_row *r)
{
    return strrchr(r->var, '_') + 1;
}

/* "moderator participant" <-> bits; -1 on an unknown role name. */
static int parse_bcast_word(const char *w, size_t len, unsigned *bits)
{
    for (size_t i = 0; i < NBCAST; i++) {
        const char *n = muc_role_name(bcast_roles[i]);
        if (strlen(n) == len && strncmp(w, n, len) == 0) {
            *bits |= 1u << bcast_roles[i];
            return 0;
        }
    }
    return -1;
}

/* A submitted list-multi of roles: every <value/> is a role; none at all is
 * the empty set (XEP-0004 §3.3 an empty list-multi).  *bits is set only
 * when every value is valid (at most one per role, bounding the loop). */
static int parse_roles_field(struct arena *a, const struct xml_node *f, unsigned *bits)
{
    unsigned b = 0;
    size_t n = 0;
    for (struct xml_node *val = xml_child(f, NULL, "value"); val;
         val = xml_next(val, NULL, "value")) {
        const char *t = xml_text(a, val);
        if (++n > NBCAST || parse_bcast_word(t, strlen(t), &b) < 0)
            return -1;
    }
    *bits = b;
    return 0;
}

/* Stored form of a role set: "moderator participant", "" when empty. */
static void store_roles(struct arena *a, struct xml_node *n, const char *attr, unsigned bits)
{
    struct buf rb = BUF_INIT;
    for (size_t i = 0; i < NBCAST; i++) {
        if (!(bits & (1u << bcast_roles[i])))
            continue;
        if (rb.len)
            buf_append(&rb, " ", 1);
        buf_puts(&rb, muc_role_name(bcast_roles[i]));
    }
    xml_set_attr(a, n, attr, rb.len ? arena_strndup(a, rb.data, rb.len) : "");
    buf_release(&rb);
}

/* Reads a stored role set; a missing attribute (a room stored before the
 * field existed) or an invalid one leaves *bits at its default. */
static void load_roles(const struct xml_node *cfg, const char *attr, unsigned *bits)
{
    const char *v = xml_attr(cfg, attr);
    if (!v)
        return;
    unsigned b = 0;
    for (const char *w = v; *w;) {
        size_t len = strcspn(w, " ");
        if (len && parse_bcast_word(w, len, &b) < 0)
            return;
        w += len;
        w += strspn(w, " ");
    }
    *bits = b;
}

static int collect_jids(struct arena *a, const struct xml_node *f, const char **out,
                        size_t *n_out)
{
    size_t n = 0;
    for (struct xml_node *v = xml_child(f, NULL, "value"); v; v = xml_next(v, NULL, "value")) {
        if (n == MUC_CONFIG_JIDS_MAX)
            return -1;
        const char *t = xml_text(a, v);
        if (*t)
            out[n++] = t;
    }
    *n_out = n;
    return 0;
}

/* One field onto c; -1 with *err_text when its value is invalid. */
static int apply_field(struct arena *a, struct muc_config *c, const struct xml_node *f,
                       const char *var, unsigned service_max_users,
                       struct muc_config_jids *j, const char **err_text)
{
    if (strncmp(var, "muc#roomconfig_", 15) == 0 || strcmp(var, MUC_FIELD_ALLOWREGISTER) == 0) {
        for (size_t i = 0; i < sizeof(bool_rows) / sizeof(bool_rows[0]); i++) {
            if (strcmp(var, bool_rows[i].var) != 0)
                continue;
            const char *v = first_value(a, f);
            if (!v || parse_bool(v, (bool *)((char *)c + bool_rows[i].off)) < 0) {
                *err_text = "a boolean field has an invalid value";
                return -1;
            }
            return 0;
        }
    }
    if (strcmp(var, "muc#roomconfig_presencebroadcast") == 0) {
        if (parse_roles_field(a, f, &c->presence_broadcast) < 0) {
            *err_text = "muc#roomconfig_presencebroadcast: unknown role";
            return -1;
        }
        return 0;
    }
    if (strcmp(var, "muc#roomconfig_getmemberlist") == 0) {
        /* Only role names: the label says "Roles and Affiliations" but
         * the XEP's options are the three roles, and admins and owners
         * read the member list anyway (§9.5). */
        if (parse_roles_field(a, f, &c->get_member_list) < 0) {
            *err_text = "muc#roomconfig_getmemberlist: unknown role";
            return -1;
        }
        return 0;
    }
    const char *v = first_value(a, f);
    if (strcmp(var, "muc#roomconfig_roomadmins") == 0) {
        j->admins_given = true;
        if (collect_jids(a, f, j->admins, &j->nadmins) < 0) {
            *err_text = "too many room admins";
            return -1;
        }
        return 0;
    }
    if (strcmp(var, "muc#roomconfig_roomowners") == 0) {
        j->owners_given = true;
        if (collect_jids(a, f, j->owners, &j->nowners) < 0) {
            *err_text = "too many room owners";
            return -1;
        }
        return 0;
    }
    if (!v)
        v = "";
    if (strcmp(var, "muc#roomconfig_roomname") == 0 ||
        strcmp(var, "muc#roomconfig_roomdesc") == 0 ||
        strcmp(var, "muc#roomconfig_lang") == 0 ||
        strcmp(var, "muc#roomconfig_roomsecret") == 0) {
        char **dst = var[15] == 'l' ? &c->lang
                   : strcmp(var + 15, "roomname") == 0 ? &c->name
                   : strcmp(var + 15, "roomdesc") == 0 ? &c->desc : &c->password;
        if (set_text(dst, v) < 0) {
            *err_text = "a text field is too long";
            return -1;
        }
        return 0;
    }
    if (strcmp(var, "muc#roomconfig_allowpm") == 0) {
        for (int i = 0; i < 4; i++) {
            if (strcmp(v, pm_names[i]) == 0) {
                c->allowpm = (enum muc_allowpm)i;
                return 0;
            }
        }
        *err_text = "muc#roomconfig_allowpm: unknown value";
        return -1;
    }
    if (strcmp(var, "muc#roomconfig_whois") == 0) {
        for (int i = 0; i < 2; i++) {
            if (strcmp(v, whois_names[i]) == 0) {
                c->whois = (enum muc_whois)i;
                return 0;
            }
        }
        *err_text = "muc#roomconfig_whois: unknown value";
        return -1;
    }
    if (strcmp(var, "muc#roomconfig_maxusers") == 0) {
        long n;
        if (strcmp(v, "none") == 0 || !*v) {
            c->max_users = 0;
            return 0;
        }
        if (parse_long(v, 1, (long)service_max_users, &n) < 0) {
            *err_text = "muc#roomconfig_maxusers: not a number within the service's maximum";
            return -1;
        }
        c->max_users = (unsigned)n;
        return 0;
    }
    if (strcmp(var, "muc#maxhistoryfetch") == 0) {
        long n;
        if (!*v) {
            c->max_history = -1;
            return 0;
        }
        if (parse_long(v, 0, 1000000, &n) < 0) {
            *err_text = "muc#maxhistoryfetch: not a number";
            return -1;
        }
        c->max_history = n;
        return 0;
    }
    return 0;                   /* unknown: ignored */
}

int muc_config_submit(struct muc_config *c, const struct xml_node *x,
                      unsigned service_max_users, struct muc_config_jids *jids_out,
                      const char **err_text, bool *bad_request)
{
    struct arena *a = arena_new(1024);
    struct muc_config n;
    muc_config_copy(&n, c);
    memset(jids_out, 0, sizeof(*jids_out));
    *bad_request = false;
    int rc = 0;
    for (struct xml_node *f = xml_child(x, NULL, "field"); f; f = xml_next(f, NULL, "field")) {
        const char *var = xml_attr(f, "var");
        if (!var)
            continue;
        if (strcmp(var, "FORM_TYPE") == 0) {
            const char *v = first_value(a, f);
            if (!v || strcmp(v, MUC_FORM_ROOMCONFIG) != 0) {
                *err_text = "FORM_TYPE is not " MUC_FORM_ROOMCONFIG;
                *bad_request = true;
                rc = -1;
                break;
            }
            continue;
        }
        if (apply_field(a, &n, f, var, service_max_users, jids_out, err_text) < 0) {
            rc = -1;
            break;
        }
    }
    /* A password-protected room without a password cannot be entered. */
    if (rc == 0 && n.password_protected && !*n.password) {
        *err_text = "a password-protected room needs a password";
        rc = -1;
    }
    /* The JID lists point into 'a': copy them onto the form tree's
     * lifetime by pointing at the values' text in x instead. */
    if (rc == 0) {
        muc_config_release(c);
        *c = n;
    } else {
        muc_config_release(&n);
        memset(jids_out, 0, sizeof(*jids_out));
    }
    /* jids_out strings come from 'a', which must outlive the caller's use:
     * re-collect them from the tree's own text nodes (single text child). */
    if (rc == 0) {
        size_t no = 0, na = 0;
        for (struct xml_node *f = xml_child(x, NULL, "field"); f; f = xml_next(f, NULL, "field")) {
            const char *var = xml_attr(f, "var");
            bool own = var && strcmp(var, "muc#roomconfig_roomowners") == 0;
            bool adm = var && strcmp(var, "muc#roomconfig_roomadmins") == 0;
            if (!own && !adm)
                continue;
            for (struct xml_node *v = xml_child(f, NULL, "value"); v; v = xml_next(v, NULL, "value")) {
                const char *t = v->children && v->children->kind == XML_TEXT ? v->children->text : NULL;
                if (!t || !*t)
                    continue;
                if (own && no < MUC_CONFIG_JIDS_MAX)
                    jids_out->owners[no++] = t;
                else if (adm && na < MUC_CONFIG_JIDS_MAX)
                    jids_out->admins[na++] = t;
            }
        }
        jids_out->nowners = no;
        jids_out->nadmins = na;
    }
    arena_free(a);
    return rc;
}

/* --- stored form ---------------------------------------------------------------- */

void muc_config_store(struct arena *a, struct xml_node *parent, const struct muc_config *c)
{
    struct xml_node *n = xml_add_child(a, parent, NULL, "config");
    char buf[32];
    xml_set_attr(a, n, "name", c->name);
    xml_set_attr(a, n, "desc", c->desc);
    xml_set_attr(a, n, "lang", c->lang);
    xml_set_attr(a, n, "password", c->password);
    for (size_t i = 0; i < sizeof(bool_rows) / sizeof(bool_rows[0]); i++)
        xml_set_attr(a, n, row_attr(&bool_rows[i]),
                     *(const bool *)((const char *)c + bool_rows[i].off) ? "1" : "0");
    store_roles(a, n, "presencebroadcast", c->presence_broadcast);
    store_roles(a, n, "getmemberlist", c->get_member_list);
    xml_set_attr(a, n, "whois", whois_names[c->whois]);
    xml_set_attr(a, n, "allowpm", pm_names[c->allowpm]);
    snprintf(buf, sizeof(buf), "%u", c->max_users);
    xml_set_attr(a, n, "maxusers", buf);
    snprintf(buf, sizeof(buf), "%ld", c->max_history);
    xml_set_attr(a, n, "maxhistoryfetch", buf);
}

void muc_config_load(struct muc_config *c, const struct xml_node *cfg)
{
    const char *v;
    if ((v = xml_attr(cfg, "name")))
        set_text(&c->name, v);
    if ((v = xml_attr(cfg, "desc")))
        set_text(&c->desc, v);
    if ((v = xml_attr(cfg, "lang")))
        set_text(&c->lang, v);
    if ((v = xml_attr(cfg, "password")))
        set_text(&c->password, v);
    for (size_t i = 0; i < sizeof(bool_rows) / sizeof(bool_rows[0]); i++)
        if ((v = xml_attr(cfg, row_attr(&bool_rows[i]))))
            parse_bool(v, (bool *)((char *)c + bool_rows[i].off));
    load_roles(cfg, "presencebroadcast", &c->presence_broadcast);
    load_roles(cfg, "getmemberlist", &c->get_member_list);
    if ((v = xml_attr(cfg, "whois")))
        c->whois = strcmp(v, "anyone") == 0 ? MUC_WHOIS_ANYONE : MUC_WHOIS_MODERATORS;
    if ((v = xml_attr(cfg, "allowpm")))
        for (int i = 0; i < 4; i++)
            if (strcmp(v, pm_names[i]) == 0)
                c->allowpm = (enum muc_allowpm)i;
    long n;
    if ((v = xml_attr(cfg, "maxusers")) && parse_long(v, 0, 1000000, &n) == 0)
        c->max_users = (unsigned)n;
    if ((v = xml_attr(cfg, "maxhistoryfetch")) && parse_long(v, -1, 1000000, &n) == 0)
        c->max_history = n;
}
