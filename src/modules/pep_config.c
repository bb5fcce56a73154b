/*
 * pep_config.c - PEP node configuration fields and forms (XEP-0060
 * §8.2 configure, §7.1.5 publish-options, §16.4.4 pubsub#node_config;
 * XEP-0004 boolean and list values; XEP-0163 §5 defaults).
 *
 * One table lists the fields: the same rows parse configure forms,
 * check publish-options preconditions, build the form a client reads
 * and encode the stored configuration, so the four cannot disagree.
 */
#include "modules/pep_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "xml/xml.h"

#define NS_DATA "jabber:x:data"

enum field_kind {
    F_BOOL,
    F_ACCESS,
    F_SEND_LAST,
    F_MAX_ITEMS,
    F_TITLE,
    F_FIXED,            /* behaviour we do not make configurable: only one value */
};

struct field_def {
    const char *var;
    enum field_kind kind;
    size_t offset;              /* F_BOOL: into struct pep_config */
    const char *fixed;          /* F_FIXED: the only accepted value */
    const char *type;           /* XEP-0004 field type for the form */
    const char *label;
};

#define B(field) offsetof(struct pep_config, field)

static const struct field_def fields[] = {
    { "pubsub#access_model", F_ACCESS, 0, NULL, "list-single", "Who may retrieve items" },
    { "pubsub#deliver_notifications", F_BOOL, B(deliver_notifications), NULL, "boolean",
      "Deliver event notifications" },
    { "pubsub#deliver_payloads", F_BOOL, B(deliver_payloads), NULL, "boolean",
      "Deliver payloads with event notifications" },
    { "pubsub#max_items", F_MAX_ITEMS, 0, NULL, "text-single",
      "Max # of items to persist ('max' for the server's limit)" },
    { "pubsub#notification_type", F_FIXED, 0, "headline", "list-single",
      "Delivery style of notifications" },
    { "pubsub#notify_config", F_BOOL, B(notify_config), NULL, "boolean",
      "Notify when the configuration changes" },
    { "pubsub#notify_delete", F_BOOL, B(notify_delete), NULL, "boolean",
      "Notify when the node is deleted" },
    { "pubsub#notify_retract", F_BOOL, B(notify_retract), NULL, "boolean",
      "Notify when items are removed" },
    { "pubsub#persist_items", F_BOOL, B(persist_items), NULL, "boolean",
      "Persist items to storage" },
    /* PEP delivers to available resources only (XEP-0163 §4.3.2). */
    { "pubsub#presence_based_delivery", F_FIXED, 0, "1", "boolean",
      "Deliver notifications only to available users" },
    { "pubsub#publish_model", F_FIXED, 0, "publishers", "list-single",
      "Who may publish (PEP: the owner)" },
    { "pubsub#send_last_published_item", F_SEND_LAST, 0, NULL, "list-single",
      "When to send the last published item" },
    { "pubsub#title", F_TITLE, 0, NULL, "text-single", "A friendly name for the node" },
};

static const char *const access_names[] = { "presence", "open", "whitelist" };
static const char *const send_last_names[] = { "never", "on_sub", "on_sub_and_presence" };

const char *pep_access_name(enum pep_access a)
{
    return access_names[a];
}

void pep_config_default(struct pep_config *c, unsigned limit)
{
    memset(c, 0, sizeof(*c));
    c->access = PEP_ACCESS_PRESENCE;
    c->send_last = PEP_SEND_ON_SUB_AND_PRESENCE;
    c->persist_items = true;
    c->deliver_notifications = true;
    c->deliver_payloads = true;
    c->notify_retract = true;
    c->notify_delete = true;
    c->notify_config = false;
    /* A singleton node unless asked otherwise, as most PEP payloads
     * (avatar metadata, nick, OMEMO device list) are. */
    c->max_items = 1;
    (void)limit;
}

static const struct field_def *field_find(const char *var)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(fields); i++)
        if (strcmp(fields[i].var, var) == 0)
            return &fields[i];
    return NULL;
}

/* XEP-0004 §3.3 boolean: "0"/"false" or "1"/"true". */
static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

static bool *bool_at(struct pep_config *c, const struct field_def *f)
{
    return (bool *)((char *)c + f->offset);
}

static int set_field(struct pep_config *c, const struct field_def *f, const char *value,
                     unsigned limit)
{
    switch (f->kind) {
    case F_BOOL:
        return parse_bool(value, bool_at(c, f)) == 0 ? PEP_FORM_OK : PEP_FORM_BAD;
    case F_ACCESS:
        for (size_t i = 0; i < PL_ARRAY_LEN(access_names); i++) {
            if (strcmp(access_names[i], value) == 0) {
                c->access = (enum pep_access)i;
                return PEP_FORM_OK;
            }
        }
        /* XEP-0060 §4.5 names these too; we do not implement them. */
        if (strcmp(value, "roster") == 0 || strcmp(value, "authorize") == 0)
            return PEP_FORM_REFUSED;
        return PEP_FORM_BAD;
    case F_SEND_LAST:
        for (size_t i = 0; i < PL_ARRAY_LEN(send_last_names); i++) {
            if (strcmp(send_last_names[i], value) == 0) {
                c->send_last = (enum pep_send_last)i;
                return PEP_FORM_OK;
            }
        }
        return PEP_FORM_BAD;
    case F_MAX_ITEMS: {
        if (strcmp(value, "max") == 0) {
            c->max_items = limit;
            return PEP_FORM_OK;
        }
        char *end;
        if (*value < '0' || *value > '9')
            return PEP_FORM_BAD;
        unsigned long long n = strtoull(value, &end, 10);
        if (*end != '\0')
            return PEP_FORM_BAD;
        if (n < 1 || n > limit)
            return PEP_FORM_REFUSED;    /* more than the server keeps */
        c->max_items = (unsigned)n;
        return PEP_FORM_OK;
    }
    case F_TITLE:
        snprintf(c->title, sizeof(c->title), "%s", value);
        return PEP_FORM_OK;
    case F_FIXED:
        if (f->fixed[0] == '1' || f->fixed[0] == '0') {
            bool want = f->fixed[0] == '1', got;
            if (parse_bool(value, &got) < 0)
                return PEP_FORM_BAD;
            return got == want ? PEP_FORM_OK : PEP_FORM_REFUSED;
        }
        return strcmp(value, f->fixed) == 0 ? PEP_FORM_OK : PEP_FORM_REFUSED;
    }
    return PEP_FORM_BAD;
}

int pep_config_set(struct pep_config *c, const char *var, const char *value,
                   unsigned limit)
{
    const struct field_def *f = field_find(var);
    if (!f)
        return PEP_FORM_BAD;
    return set_field(c, f, value, limit);
}

/* The single value of a field; NULL when it has none or several (every
 * field we know is single-valued). */
static const char *single_value(struct arena *a, const struct xml_node *field)
{
    struct xml_node *v = xml_child(field, NS_DATA, "value");
    if (!v || xml_next(v, NS_DATA, "value"))
        return NULL;
    return xml_text(a, v);
}

/* Walks a submitted form: checks FORM_TYPE, applies every other field to
 * c.  For preconditions (check != NULL) a value that cannot be set, or
 * sets something other than *check holds, is REFUSED. */
static int walk_form(struct pep_config *c, const struct xml_node *x, const char *form_type,
                     unsigned limit, const char **bad_var_out)
{
    *bad_var_out = NULL;
    if (!xml_is(x, NS_DATA, "x"))
        return PEP_FORM_BAD;
    const char *type = xml_attr(x, "type");
    if (!type || strcmp(type, "submit") != 0)
        return PEP_FORM_BAD;
    struct arena *a = arena_new(0);
    int rc = PEP_FORM_OK;
    bool typed = false;
    for (struct xml_node *f = xml_child(x, NS_DATA, "field"); f && rc == PEP_FORM_OK;
         f = xml_next(f, NS_DATA, "field")) {
        const char *var = xml_attr(f, "var");
        *bad_var_out = var;
        if (!var) {
            rc = PEP_FORM_BAD;
            break;
        }
        const char *value = single_value(a, f);
        if (strcmp(var, "FORM_TYPE") == 0) {
            typed = value && strcmp(value, form_type) == 0;
            if (!typed)
                rc = PEP_FORM_BAD;
            continue;
        }
        const struct field_def *def = field_find(var);
        if (!def || !value) {
            rc = PEP_FORM_BAD;
            break;
        }
        rc = set_field(c, def, value, limit);
    }
    arena_free(a);
    if (rc == PEP_FORM_OK && !typed)
        rc = PEP_FORM_BAD;          /* XEP-0068: FORM_TYPE is required */
    if (rc == PEP_FORM_OK)
        *bad_var_out = NULL;
    return rc;
}

int pep_config_apply_form(struct pep_config *c, const struct xml_node *x,
                          const char *form_type, unsigned limit,
                          const char **bad_var_out)
{
    struct pep_config tmp = *c;
    int rc = walk_form(&tmp, x, form_type, limit, bad_var_out);
    if (rc == PEP_FORM_OK)
        *c = tmp;
    return rc;
}

int pep_config_check_preconditions(const struct pep_config *c,
                                   const struct xml_node *x, unsigned limit,
                                   const char **bad_var_out)
{
    /* Each field is compared on its own, so the offending one can be
     * named: set it on a copy and see whether anything changed. */
    *bad_var_out = NULL;
    struct pep_config tmp = *c;
    int rc = walk_form(&tmp, x, NS_PUBSUB_PUBLISH_OPTIONS, limit, bad_var_out);
    if (rc != PEP_FORM_OK)
        return rc;
    if (pep_config_equal(&tmp, c))
        return PEP_FORM_OK;
    /* Find which field differs, for the <text/>. */
    struct arena *a = arena_new(0);
    for (struct xml_node *f = xml_child(x, NS_DATA, "field"); f;
         f = xml_next(f, NS_DATA, "field")) {
        const char *var = xml_attr(f, "var");
        if (!var || strcmp(var, "FORM_TYPE") == 0)
            continue;
        struct pep_config one = *c;
        pep_config_set(&one, var, single_value(a, f), limit);
        if (!pep_config_equal(&one, c)) {
            *bad_var_out = var;
            break;
        }
    }
    arena_free(a);
    return PEP_FORM_REFUSED;
}

bool pep_config_equal(const struct pep_config *a, const struct pep_config *b)
{
    return a->access == b->access && a->send_last == b->send_last &&
           a->persist_items == b->persist_items &&
           a->deliver_notifications == b->deliver_notifications &&
           a->deliver_payloads == b->deliver_payloads &&
           a->notify_retract == b->notify_retract &&
           a->notify_delete == b->notify_delete &&
           a->notify_config == b->notify_config && a->max_items == b->max_items &&
           strcmp(a->title, b->title) == 0;
}

/* The current value of a field, as a form writes it. */
static const char *field_value(const struct pep_config *c, const struct field_def *f,
                               char *tmp, size_t tmplen)
{
    switch (f->kind) {
    case F_BOOL:
        return *bool_at((struct pep_config *)c, f) ? "1" : "0";
    case F_ACCESS:
        return access_names[c->access];
    case F_SEND_LAST:
        return send_last_names[c->send_last];
    case F_MAX_ITEMS:
        snprintf(tmp, tmplen, "%u", c->max_items);
        return tmp;
    case F_TITLE:
        return c->title;
    case F_FIXED:
        return f->fixed;
    }
    return "";
}

void pep_config_form(const struct pep_config *c, struct arena *a,
                     struct xml_node *parent, unsigned limit)
{
    (void)limit;
    struct xml_node *x = xml_add_child(a, parent, NS_DATA, "x");
    xml_set_attr(a, x, "type", "form");
    struct xml_node *ft = xml_add_child(a, x, NULL, "field");
    xml_set_attr(a, ft, "var", "FORM_TYPE");
    xml_set_attr(a, ft, "type", "hidden");
    xml_add_text_child(a, ft, NULL, "value", NS_PUBSUB_NODE_CONFIG);
    for (size_t i = 0; i < PL_ARRAY_LEN(fields); i++) {
        const struct field_def *f = &fields[i];
        struct xml_node *fe = xml_add_child(a, x, NULL, "field");
        xml_set_attr(a, fe, "var", f->var);
        xml_set_attr(a, fe, "type", f->type);
        xml_set_attr(a, fe, "label", f->label);
        const char *const *opts = NULL;
        size_t nopts = 0;
        if (f->kind == F_ACCESS) {
            opts = access_names;
            nopts = PL_ARRAY_LEN(access_names);
        } else if (f->kind == F_SEND_LAST) {
            opts = send_last_names;
            nopts = PL_ARRAY_LEN(send_last_names);
        } else if (f->kind == F_FIXED && strcmp(f->type, "list-single") == 0) {
            opts = &f->fixed;
            nopts = 1;
        }
        for (size_t k = 0; k < nopts; k++)
            xml_add_text_child(a, xml_add_child(a, fe, NULL, "option"), NULL, "value",
                               opts[k]);
        char tmp[32];
        xml_add_text_child(a, fe, NULL, "value", field_value(c, f, tmp, sizeof(tmp)));
    }
}

void pep_config_encode(const struct pep_config *c, struct buf *out)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(fields); i++) {
        const struct field_def *f = &fields[i];
        if (f->kind == F_FIXED)
            continue;
        char tmp[32];
        const char *v = field_value(c, f, tmp, sizeof(tmp));
        /* A title is user text: a newline would split the record. */
        if (f->kind == F_TITLE && strchr(v, '\n'))
            continue;
        buf_printf(out, "%s=%s\n", f->var, v);
    }
}

void pep_config_decode(struct pep_config *c, const char *s, unsigned limit)
{
    pep_config_default(c, limit);
    char line[512];
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len < sizeof(line)) {
            memcpy(line, s, len);
            line[len] = '\0';
            char *eq = strchr(line, '=');
            if (eq) {
                *eq = '\0';
                /* A stored max_items above a lowered limit is clamped. */
                if (strcmp(line, "pubsub#max_items") == 0 &&
                    strtoul(eq + 1, NULL, 10) > limit)
                    c->max_items = limit;
                else
                    pep_config_set(c, line, eq + 1, limit);
            }
        }
        s += len;
        if (*s == '\n')
            s++;
    }
}
