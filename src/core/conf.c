/*
 * conf.c - loading and validating parley.yml; the option tables; the
 * generated reference (docs/configuration.md).
 *
 * Implements ARCHITECTURE.md "Configuration" and STYLE.md §5: every option
 * is a row in a static table, parsed by one generic setter per conf_type
 * (the nginx ngx_conf_set_*_slot / redis static_configs[] model); unknown or
 * ill-typed options are errors reported as "file:line:col: option 'a.b': ...".
 * Host names are prepared with IDNA2008 (RFC 7622 §3.2) via jid_prep_domain.
 *
 * conf_load() is pure: it reads the file (and checks that certificate files
 * are readable) but changes nothing else, so a reload can load a new conf,
 * compare it with the running one and swap.  The first error stops the load:
 * later messages would often be consequences of the first.
 */
#include "core/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "core/jid.h"
#include "core/mem.h"
#include "parley/module.h"

/* A configuration file is written by an operator, but it is still input
 * that libyaml turns into a tree in memory: refuse absurd sizes early. */
#define CONF_FILE_MAX       (1024 * 1024)
/* Longest string or path option, resolved; PATH_MAX is what open() takes. */
#define CONF_STRING_MAX     (PATH_MAX - 1)
/* Each listener is a socket; the bound also keeps the duplicate check cheap. */
#define CONF_LISTEN_MAX     256
/* How much of an offending value is echoed back in a message. */
#define CONF_SHOW_MAX       64
/* Room for the built-in tables' "was it given" arrays (module tables, of
 * any length, get heap arrays). */
#define GIVEN_MAX           16
/* Dotted option paths in messages; keys in them are cut to CONF_SHOW_MAX. */
#define PATH_BUF            320

/* --- the tables ----------------------------------------------------------- */

static const char *const loglevel_choices[] = {
    "debug", "info", "notice", "warn", "error", NULL,   /* = enum log_level */
};
static const char *const listen_module_choices[] = {
    "c2s", "control", "http", NULL,                     /* = enum listen_module */
};
static const char *const backend_choices[] = { "sqlite", NULL };

static const struct conf_option top_opts[] = {
    { "loglevel", CONF_ENUM, offsetof(struct conf, loglevel), "info", 0, 0,
      loglevel_choices, 0, "Least severe message level written to the log" },
    { "data_dir", CONF_PATH, offsetof(struct conf, data_dir), NULL, 0, 0,
      NULL, CONF_RESTART,
      "Directory for the server secret and other state (default: the directory of storage.path)" },
    { "hosts", CONF_STRLIST, offsetof(struct conf, hosts), NULL, 0, 0,
      NULL, CONF_REQUIRED | CONF_RESTART,
      "Domain names served (virtual hosts); at least one" },
    { "certfiles", CONF_STRLIST, offsetof(struct conf, certfiles), NULL, 0, 0,
      NULL, 0,
      "PEM files, each with a certificate chain and its private key (relative paths: to the config file's directory); must be readable at load" },
    CONF_END
};

static const struct conf_option listen_opts[] = {
    { "module", CONF_ENUM, offsetof(struct conf_listen, module), NULL, 0, 0,
      listen_module_choices, CONF_REQUIRED | CONF_RESTART,
      "What the listener serves: clients (c2s), the parleyctl socket (control) or HTTP" },
    { "ip", CONF_STRING, offsetof(struct conf_listen, ip), "127.0.0.1", 0, 0,
      NULL, CONF_RESTART, "Address to bind: an IPv4 or IPv6 literal; 0.0.0.0 or :: for all (c2s, http)" },
    { "port", CONF_UINT, offsetof(struct conf_listen, port), NULL, 1, 65535,
      NULL, CONF_RESTART, "TCP port (c2s, http; required there)" },
    { "tls", CONF_BOOL, offsetof(struct conf_listen, tls), "false", 0, 0,
      NULL, CONF_RESTART, "Direct TLS from the first byte, XEP-0368 (c2s, http)" },
    { "starttls_required", CONF_BOOL, offsetof(struct conf_listen, starttls_required), "true", 0, 0,
      NULL, CONF_RESTART, "Refuse authentication before STARTTLS (c2s)" },
    { "path", CONF_PATH, offsetof(struct conf_listen, path), NULL, 0, 0,
      NULL, CONF_RESTART, "Unix socket path (control; required there)" },
    { "max_body_size", CONF_SIZE, offsetof(struct conf_listen, max_body_size), "64KiB",
      1024, 16777216, NULL, CONF_RESTART,
      "Largest request body accepted (http); a larger one is refused with 413 before it is read" },
    { "request_timeout", CONF_SECONDS, offsetof(struct conf_listen, request_timeout), "30",
      1, 3600, NULL, CONF_RESTART,
      "Seconds of inactivity while a request is read or a keep-alive connection is idle (http)" },
    CONF_END
};

static const struct conf_option storage_opts[] = {
    { "backend", CONF_ENUM, offsetof(struct conf_storage, backend), "sqlite", 0, 0,
      backend_choices, CONF_RESTART, "Storage backend" },
    { "path", CONF_PATH, offsetof(struct conf_storage, path), "parley.db", 0, 0,
      NULL, CONF_RESTART, "SQLite database file" },
    CONF_END
};

static const struct conf_option limits_opts[] = {
    { "max_stanza_size", CONF_SIZE, offsetof(struct conf_limits, max_stanza_size), "256KiB",
      1024, 16777216, NULL, 0, "Largest stanza accepted, in bytes; a larger one closes the stream" },
    { "max_depth", CONF_UINT, offsetof(struct conf_limits, max_depth), "64",
      4, 1024, NULL, 0, "Deepest XML element nesting within a stanza" },
    { "max_attrs", CONF_UINT, offsetof(struct conf_limits, max_attrs), "64",
      1, 1024, NULL, 0, "Most attributes on one element" },
    { "shaper_rate", CONF_SIZE, offsetof(struct conf_limits, shaper_rate), "0",
      0, 1073741824, NULL, CONF_RESTART,
      "Bytes per second read from one connection; 0 = unlimited (each connection keeps "
      "the shaper it was accepted with)" },
    { "max_connections_per_ip", CONF_UINT, offsetof(struct conf_limits, max_connections_per_ip), "64",
      0, 1000000, NULL, 0, "Simultaneous connections from one address; 0 = unlimited" },
    { "negotiation_timeout", CONF_SECONDS, offsetof(struct conf_limits, negotiation_timeout), "30",
      1, 3600, NULL, 0, "Seconds from connect until the session is bound" },
    { "idle_timeout", CONF_SECONDS, offsetof(struct conf_limits, idle_timeout), "0",
      0, 86400, NULL, 0, "Seconds without a byte from a client before it is disconnected; 0 = never" },
    { "detach_after", CONF_SECONDS, offsetof(struct conf_limits, detach_after), "10",
      0, 3600, NULL, 0,
      "Seconds without traffic after which a bound session's connection buffers are released (its socket and TLS state stay); 0 = never" },
    CONF_END
};

static const struct conf_option auth_opts[] = {
    /* The minimum is 1 so that tests and benchmarks can make SCRAM cheap. */
    { "scram_iterations", CONF_UINT, offsetof(struct conf_auth, scram_iterations), "4096",
      1, 1000000, NULL, 0,
      "PBKDF2 iterations for new SCRAM credentials (RFC 7677 asks for at least 4096); never lower it in production" },
    { "allow_plain", CONF_BOOL, offsetof(struct conf_auth, allow_plain), "true", 0, 0,
      NULL, 0, "Offer SASL PLAIN (only ever over TLS)" },
    { "max_failures", CONF_UINT, offsetof(struct conf_auth, max_failures), "5",
      0, 1000, NULL, 0, "Failed logins from one address within failure_window before a lockout; 0 = no limit" },
    { "failure_window", CONF_SECONDS, offsetof(struct conf_auth, failure_window), "60",
      1, 86400, NULL, 0, "Window in which failed logins are counted" },
    { "lockout", CONF_SECONDS, offsetof(struct conf_auth, lockout), "5m",
      1, 604800, NULL, 0, "How long an address is refused after max_failures" },
    /* XEP-0484 §4.2 leaves the lifetime to policy.  The minimum is 2 s so
     * that tests can watch a token expire; a reload applies to tokens
     * issued from then on (each stores its own expiry). */
    { "fast_lifetime", CONF_SECONDS, offsetof(struct conf_auth, fast_lifetime), "14d",
      2, 31536000, NULL, 0,
      "How long a FAST token (XEP-0484) stays valid; a token used when less than half of this remains is replaced by a new one" },
    CONF_END
};

enum section_kind {
    SECTION_MAP,                /* one map of options into a struct in struct conf */
    SECTION_LISTEN,             /* a list of maps, one struct conf_listen each */
    SECTION_MODULES,            /* module name -> map of that module's options */
    SECTION_ACL,                /* acl name -> {user, server, ip} (core/acl.h) */
    SECTION_ACCESS,             /* rule name -> [{allow|deny: acl}, ...] */
};

/* The top-level keys that are not options but hold sections. */
struct section {
    const char *name;
    const char *title;          /* heading in the reference */
    enum section_kind kind;
    size_t offset;              /* SECTION_MAP: into struct conf */
    const struct conf_option *opts;
    const char *doc;
};

static const struct section sections[] = {
    { "listen", "Listeners", SECTION_LISTEN, 0, listen_opts,
      "A list of listeners; each entry is a map with the options below. At least one c2s "
      "listener is required, at most one control listener is allowed, and no two listeners "
      "may share an address and port. Changing listeners needs a restart." },
    { "storage", "Storage", SECTION_MAP, offsetof(struct conf, storage), storage_opts,
      "Where accounts, rosters and other data are stored." },
    { "limits", "Limits", SECTION_MAP, offsetof(struct conf, limits), limits_opts,
      "Bounds on what a peer may make the server hold or do." },
    { "auth", "Authentication", SECTION_MAP, offsetof(struct conf, auth), auth_opts,
      "SASL mechanisms and brute-force protection." },
    { "modules", "Modules", SECTION_MODULES, 0, NULL,
      "Each key enables the module of that name; its value is a map of the module's options, "
      "or empty for the defaults. A module not listed is disabled." },
    /* 'acl' before 'access_rules': rules refer to ACLs by name. */
    { "acl", "Access control lists", SECTION_ACL, 0, NULL,
      "Named sets of subjects. Each key names an ACL; its value is a map with any of "
      "`user` (bare JIDs such as `admin@example.org`, or bare localparts such as `admin` "
      "matching that name on every host), `server` (domains: every user of that host) and "
      "`ip` (IPv4 or IPv6 addresses or CIDR ranges such as `10.0.0.0/8` or `::1/128`; host "
      "bits after the prefix are an error; IPv4-mapped IPv6 client addresses match IPv4 "
      "ranges), each a list or a single value. A subject matches the ACL if it matches any "
      "entry. `all` and `none` are built in and cannot be redefined." },
    { "access_rules", "Access rules", SECTION_ACCESS, 0, NULL,
      "Named rules: each is a list of `allow: ACL` or `deny: ACL` entries, read in order; "
      "the first entry whose ACL matches decides, and no match denies. An unknown ACL name "
      "is an error at load. A rule that is not defined denies everyone (except the built-in "
      "rules `all` and `none`). Rules the server consults: `admin` (XEP-0133 service "
      "administration), `register` (in-band registration), `api` (HTTP API calls with "
      "Basic authentication; `api_COMMAND` overrides it for one command) and `api_token` "
      "(client addresses allowed to use bearer tokens; when not defined, any address may). "
      "See docs/http-api.md." },
};

/* Which listen options each kind of listener takes, and which it needs:
 * an option that would be silently ignored is an error instead. */
static const struct listen_rule {
    const char *const *allowed;
    const char *required;       /* NULL: none beyond 'module' */
} listen_rules[] = {
    [LISTEN_C2S] = { (const char *const[]){ "module", "ip", "port", "tls",
                                            "starttls_required", NULL }, "port" },
    [LISTEN_CONTROL] = { (const char *const[]){ "module", "path", NULL }, "path" },
    [LISTEN_HTTP] = { (const char *const[]){ "module", "ip", "port", "tls", "max_body_size",
                                             "request_timeout", NULL }, "port" },
};

/* --- loader state and messages ------------------------------------------- */

struct loader {
    const char *file;           /* as given, for messages */
    char *dir;                  /* absolute directory of file; owned */
    yaml_document_t doc;
    struct buf *err;            /* borrowed */
    const struct pl_module *const *modules;     /* borrowed */
};

/* Appends "file:line:col: message" for 'node' (1:1 when NULL) to ld->err.
 * Always returns -1, so that callers can 'return fail(...)'. */
__attribute__((format(printf, 3, 4)))
static int fail(struct loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t line = node ? node->start_mark.line + 1 : 1;
    size_t col = node ? node->start_mark.column + 1 : 1;
    buf_printf(ld->err, "%s:%zu:%zu: %s", ld->file, line, col, msg);
    return -1;
}

/* Copies at most CONF_SHOW_MAX bytes of s into out for a message, with
 * control characters replaced, so that a hostile value cannot forge lines. */
static const char *show(const char *s, size_t len, char out[CONF_SHOW_MAX + 4])
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < CONF_SHOW_MAX; i++)
        out[n++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (len > CONF_SHOW_MAX) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static void join(char *out, size_t n, const char *prefix, const char *name, size_t name_len)
{
    char shown[CONF_SHOW_MAX + 4];
    show(name, name_len, shown);
    if (prefix)
        snprintf(out, n, "%s.%s", prefix, shown);
    else
        snprintf(out, n, "%s", shown);
}

static yaml_node_t *node_at(struct loader *ld, int index)
{
    return yaml_document_get_node(&ld->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty plain scalar, ~ or null. */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return false;
    if (n->data.scalar.length == 0)
        return true;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    static const char *const nulls[] = { "~", "null", "Null", "NULL" };
    for (size_t i = 0; i < PL_ARRAY_LEN(nulls); i++)
        if (strcmp(scalar(n), nulls[i]) == 0)
            return true;
    return false;
}

static const char *node_kind(const yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a map";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    return is_null(n) ? "an empty value" : "a string";
}

/* Exact match of a YAML key (which may hold NUL bytes) with a C string. */
static bool key_is(const yaml_node_t *key, const char *name)
{
    size_t len = strlen(name);
    return key->data.scalar.length == len && memcmp(key->data.scalar.value, name, len) == 0;
}

/* --- generic setters ------------------------------------------------------ */

static void *field(const struct conf_option *o, void *base)
{
    return (char *)base + o->offset;
}

static void strlist_release(struct conf_strlist *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    PL_FREE(l->items);
    l->count = 0;
}

static void strlist_push(struct conf_strlist *l, char *s /* takes ownership */)
{
    l->items = pl_realloc(l->items, (l->count + 1) * sizeof(*l->items));
    l->items[l->count++] = s;
}

static void release_one(const struct conf_option *o, void *base)
{
    switch (o->type) {
    case CONF_STRING:
    case CONF_PATH:
        PL_FREE(*(char **)field(o, base));
        break;
    case CONF_STRLIST:
        strlist_release(field(o, base));
        break;
    default:
        break;
    }
}

/* Numeric bounds; min == max == 0 in a table means the type's whole range. */
static void bounds(const struct conf_option *o, long long *lo, long long *hi)
{
    if (o->min != 0 || o->max != 0) {
        *lo = o->min;
        *hi = o->max;
        return;
    }
    switch (o->type) {
    case CONF_INT:
        *lo = LLONG_MIN;
        *hi = LLONG_MAX;
        break;
    case CONF_SIZE:
        *lo = 0;
        *hi = SIZE_MAX > LLONG_MAX ? LLONG_MAX : (long long)SIZE_MAX;
        break;
    default:
        *lo = 0;
        *hi = UINT_MAX;
        break;
    }
}

/* "an integer in 1..64": what a numeric option expects, for messages. */
static void expect_number(const struct conf_option *o, char *out, size_t n)
{
    long long lo, hi;
    bounds(o, &lo, &hi);
    if (o->type == CONF_SECONDS)
        snprintf(out, n, "a duration in %lld..%lld seconds", lo, hi);
    else
        snprintf(out, n, "an integer in %lld..%lld", lo, hi);
}

struct unit {
    const char *suffix;
    unsigned long long factor;
};

static const struct unit size_units[] = {
    { "K", 1ULL << 10 }, { "KiB", 1ULL << 10 },
    { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
    { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
    { NULL, 0 },
};
static const struct unit time_units[] = {
    { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 }, { NULL, 0 },
};

/* Parses an INT/UINT/SIZE/SECONDS scalar into *out.  Returns 0, or -1 with
 * the reason in why. */
static int parse_number(const struct conf_option *o, const char *s, long long *out, struct buf *why)
{
    char expect[96], shown[CONF_SHOW_MAX + 4];
    long long lo, hi;
    bounds(o, &lo, &hi);
    expect_number(o, expect, sizeof(expect));
    show(s, strlen(s), shown);

    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (*p < '0' || *p > '9')
        goto malformed;
    unsigned long long v = 0;
    bool overflow = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (ULLONG_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (*p == '.') {
        buf_printf(why, "expected %s, got a fractional number '%s'", expect, shown);
        return -1;
    }
    while (*p == ' ')
        p++;
    if (*p) {
        const struct unit *u = o->type == CONF_SIZE ? size_units
                             : o->type == CONF_SECONDS ? time_units : NULL;
        for (; u && u->suffix && strcmp(p, u->suffix) != 0; u++)
            ;
        if (!u || !u->suffix)
            goto malformed;
        if (v > ULLONG_MAX / u->factor)
            overflow = true;
        else
            v *= u->factor;
    }
    if (neg && v != 0 && lo >= 0) {
        buf_printf(why, "expected %s, got a negative number", expect);
        return -1;
    }
    long long val;
    if (overflow || v > (unsigned long long)LLONG_MAX + (neg ? 1 : 0))
        goto range;
    if (neg)
        val = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    else
        val = (long long)v;
    if (val < lo || val > hi)
        goto range;
    *out = val;
    return 0;

range:
    buf_printf(why, "expected %s", expect);
    return -1;
malformed:
    if (o->type == CONF_SIZE)
        buf_printf(why, "expected %s (bytes, or with a K/KiB, M/MiB or G/GiB suffix), got '%s'",
                   expect, shown);
    else if (o->type == CONF_SECONDS)
        buf_printf(why, "expected %s (or with an s, m, h or d suffix), got '%s'", expect, shown);
    else
        buf_printf(why, "expected %s, got '%s'", expect, shown);
    return -1;
}

static void set_string(char **slot, char *s /* takes ownership */)
{
    free(*slot);
    *slot = s;
}

/* Parses scalar text s (NUL-terminated, non-empty) for option o into base.
 * dir resolves relative PATHs (NULL keeps them as written).  Returns 0, or
 * -1 with the reason ("expected ...") in why and base unchanged. */
static int parse_scalar(const struct conf_option *o, const char *s, const char *dir,
                        void *base, struct buf *why)
{
    static const struct { const char *word; bool value; } bools[] = {
        { "true", true }, { "false", false }, { "yes", true },
        { "no", false }, { "on", true }, { "off", false },
    };
    char shown[CONF_SHOW_MAX + 4];
    long long num;

    switch (o->type) {
    case CONF_BOOL:
        for (size_t i = 0; i < PL_ARRAY_LEN(bools); i++) {
            if (strcasecmp(s, bools[i].word) == 0) {
                *(bool *)field(o, base) = bools[i].value;
                return 0;
            }
        }
        buf_printf(why, "expected true or false (or yes/no, on/off), got '%s'",
                   show(s, strlen(s), shown));
        return -1;
    case CONF_INT:
    case CONF_UINT:
    case CONF_SIZE:
    case CONF_SECONDS:
        if (parse_number(o, s, &num, why) < 0)
            return -1;
        if (o->type == CONF_INT)
            *(long long *)field(o, base) = num;
        else if (o->type == CONF_SIZE)
            *(size_t *)field(o, base) = (size_t)num;
        else
            *(unsigned *)field(o, base) = (unsigned)num;
        return 0;
    case CONF_STRING:
        if (strlen(s) > CONF_STRING_MAX) {
            buf_printf(why, "expected a string of at most %d bytes", CONF_STRING_MAX);
            return -1;
        }
        set_string(field(o, base), pl_strdup(s));
        return 0;
    case CONF_PATH: {
        struct buf path = BUF_INIT;
        if (s[0] != '/' && dir)
            buf_printf(&path, "%s/", strcmp(dir, "/") == 0 ? "" : dir);
        buf_puts(&path, s);
        if (path.len > CONF_STRING_MAX) {
            buf_release(&path);
            buf_printf(why, "expected a path of at most %d bytes", CONF_STRING_MAX);
            return -1;
        }
        set_string(field(o, base), buf_detach(&path));
        return 0;
    }
    case CONF_ENUM:
        for (size_t i = 0; o->choices[i]; i++) {
            if (strcmp(s, o->choices[i]) == 0) {
                *(int *)field(o, base) = (int)i;
                return 0;
            }
        }
        buf_puts(why, "expected one of ");
        for (size_t i = 0; o->choices[i]; i++)
            buf_printf(why, "%s%s", i ? ", " : "", o->choices[i]);
        return -1;
    case CONF_STRLIST:
        break;
    }
    PL_ASSERT(!"parse_scalar: not a scalar type");
}

/* The C type behind each conf_type, as conf.h documents it. */
static const size_t field_size[] = {
    [CONF_BOOL] = sizeof(bool), [CONF_INT] = sizeof(long long),
    [CONF_UINT] = sizeof(unsigned), [CONF_SIZE] = sizeof(size_t),
    [CONF_SECONDS] = sizeof(unsigned), [CONF_STRING] = sizeof(char *),
    [CONF_PATH] = sizeof(char *), [CONF_STRLIST] = sizeof(struct conf_strlist),
    [CONF_ENUM] = sizeof(int),
};

/* Resets option o of base to its table default (zero when it has none),
 * freeing what the field held: base must be zeroed or hold values set by
 * this table.  Default text is YAML; a STRLIST takes a flow list "[a, b]".
 * A default that does not parse is a bug in the table and aborts. */
static void set_default(const struct conf_option *o, void *base, const char *dir)
{
    release_one(o, base);
    if (!o->def) {
        memset(field(o, base), 0, field_size[o->type]);
        return;
    }
    if (o->type == CONF_STRLIST) {
        struct conf_strlist *l = field(o, base);
        const char *p = o->def, *end = p + strlen(p);
        if (*p == '[' && end > p && end[-1] == ']') {
            p++;
            end--;
        }
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            const char *a = p, *b = stop;
            while (a < b && *a == ' ')
                a++;
            while (b > a && b[-1] == ' ')
                b--;
            if (b > a)
                strlist_push(l, pl_strndup(a, (size_t)(b - a)));
            p = comma ? comma + 1 : end;
        }
        return;
    }
    struct buf why = BUF_INIT;
    if (parse_scalar(o, o->def, dir, base, &why) < 0) {
        /* A table bug, not a user error: say which row before dying. */
        fprintf(stderr, "parley: bad default '%s' for option '%s': %s\n", o->def, o->name, why.data);
        PL_ASSERT(!"invalid default in an option table");
    }
    buf_release(&why);
}

static void apply_defaults(const struct conf_option *opts, void *base, const char *dir)
{
    for (const struct conf_option *o = opts; o && o->name; o++)
        set_default(o, base, dir);
}

void conf_defaults(const struct conf_option *opts, void *base)
{
    apply_defaults(opts, base, NULL);
}

void conf_release(const struct conf_option *opts, void *base)
{
    for (const struct conf_option *o = opts; o && o->name; o++)
        release_one(o, base);
}

/* --- reload: restart-only options keep their running values ------------- */

static size_t value_size(enum conf_type t)
{
    switch (t) {
    case CONF_BOOL:
        return sizeof(bool);
    case CONF_INT:
        return sizeof(long long);
    case CONF_UINT:
    case CONF_SECONDS:
        return sizeof(unsigned);
    case CONF_SIZE:
        return sizeof(size_t);
    case CONF_STRING:
    case CONF_PATH:
        return sizeof(char *);
    case CONF_STRLIST:
        return sizeof(struct conf_strlist);
    case CONF_ENUM:
        return sizeof(int);
    }
    return 0;
}

static bool same_string(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_value(const struct conf_option *o, void *a, void *b)
{
    switch (o->type) {
    case CONF_STRING:
    case CONF_PATH:
        return same_string(*(char **)field(o, a), *(char **)field(o, b));
    case CONF_STRLIST: {
        const struct conf_strlist *x = field(o, a), *y = field(o, b);
        if (x->count != y->count)
            return false;
        for (size_t i = 0; i < x->count; i++)
            if (strcmp(x->items[i], y->items[i]) != 0)
                return false;
        return true;
    }
    default:
        return memcmp(field(o, a), field(o, b), value_size(o->type)) == 0;
    }
}

/* Swaps the field between the two structs: ownership moves with it, so
 * each conf frees what it holds afterwards. */
static void swap_value(const struct conf_option *o, void *a, void *b)
{
    unsigned char tmp[sizeof(struct conf_strlist)];
    size_t n = value_size(o->type);
    PL_ASSERT(n <= sizeof(tmp));
    memcpy(tmp, field(o, a), n);
    memcpy(field(o, a), field(o, b), n);
    memcpy(field(o, b), tmp, n);
}

static void keep_opts(const struct conf_option *opts, const char *section, void *nc,
                      void *old, bool warn)
{
    for (const struct conf_option *o = opts; o->name; o++) {
        if (!(o->flags & CONF_RESTART) || same_value(o, nc, old))
            continue;
        if (warn)
            log_warn("config: option '%s%s%s' changed; it needs a restart, the running value "
                 "stays until then", section ? section : "", section ? "." : "", o->name);
        swap_value(o, nc, old);
    }
}

static bool same_listeners(struct conf *a, struct conf *b)
{
    if (a->nlisten != b->nlisten)
        return false;
    for (size_t i = 0; i < a->nlisten; i++)
        for (const struct conf_option *o = listen_opts; o->name; o++)
            if (!same_value(o, &a->listen[i], &b->listen[i]))
                return false;
    return true;
}

void conf_keep_restart(struct conf *nc, struct conf *old, bool warn)
{
    keep_opts(top_opts, NULL, nc, old, warn);
    for (size_t i = 0; i < PL_ARRAY_LEN(sections); i++) {
        const struct section *sec = &sections[i];
        if (sec->kind == SECTION_MAP)
            keep_opts(sec->opts, sec->name, (char *)nc + sec->offset,
                      (char *)old + sec->offset, warn);
    }
    if (!same_listeners(nc, old)) {
        if (warn)
            log_warn("config: 'listen' changed; listeners change at a restart, the running "
                 "ones stay until then");
        struct conf_listen *l = nc->listen;
        size_t n = nc->nlisten;
        nc->listen = old->listen;
        nc->nlisten = old->nlisten;
        old->listen = l;
        old->nlisten = n;
    }
}

/* Reads one scalar value for 'path', rejecting what no option accepts. */
static int get_scalar(struct loader *ld, const yaml_node_t *val, const char *path,
                      const char *expect, const char **out)
{
    if (val->type != YAML_SCALAR_NODE || is_null(val))
        return fail(ld, val, "option '%s': expected %s, got %s", path, expect, node_kind(val));
    if (strlen(scalar(val)) != val->data.scalar.length)
        return fail(ld, val, "option '%s': expected %s, got a value with a NUL byte", path, expect);
    *out = scalar(val);
    return 0;
}

static const char *expect_text(const struct conf_option *o, char *out, size_t n)
{
    size_t used = 0;
    switch (o->type) {
    case CONF_BOOL:
        return "true or false";
    case CONF_ENUM:
        used = (size_t)snprintf(out, n, "one of");
        for (size_t i = 0; o->choices[i] && used < n; i++)
            used += (size_t)snprintf(out + used, n - used, "%s %s", i ? "," : "", o->choices[i]);
        return out;
    case CONF_STRING:
        return "a string";
    case CONF_PATH:
        return "a path";
    case CONF_STRLIST:
        return "a list of strings";
    default:
        expect_number(o, out, n);
        return out;
    }
}

/* Sets option o of base from YAML node val; 'path' names it in messages. */
static int set_node(struct loader *ld, const struct conf_option *o, void *base,
                    yaml_node_t *val, const char *path)
{
    char expect[256];
    const char *s;

    if (o->type == CONF_STRLIST) {
        struct conf_strlist *l = field(o, base);
        strlist_release(l);
        if (is_null(val))
            return 0;
        if (val->type != YAML_SEQUENCE_NODE)
            return fail(ld, val, "option '%s': expected a list of strings, got %s",
                        path, node_kind(val));
        size_t i = 0;
        for (yaml_node_item_t *it = val->data.sequence.items.start;
             it < val->data.sequence.items.top; it++, i++) {
            char item_path[PATH_BUF + 24];
            snprintf(item_path, sizeof(item_path), "%s[%zu]", path, i);
            if (get_scalar(ld, node_at(ld, *it), item_path, "a string", &s) < 0)
                return -1;
            if (strlen(s) > CONF_STRING_MAX)
                return fail(ld, node_at(ld, *it), "option '%s': expected a string of at most %d bytes",
                            item_path, CONF_STRING_MAX);
            strlist_push(l, pl_strdup(s));
        }
        return 0;
    }

    if (get_scalar(ld, val, path, expect_text(o, expect, sizeof(expect)), &s) < 0)
        return -1;
    struct buf why = BUF_INIT;
    int rc = 0;
    if (parse_scalar(o, s, ld->dir, base, &why) < 0)
        rc = fail(ld, val, "option '%s': %s", path, why.data);
    buf_release(&why);
    return rc;
}

static size_t table_len(const struct conf_option *opts)
{
    size_t n = 0;
    while (opts && opts[n].name)
        n++;
    return n;
}

/*
 * Applies the options in YAML map 'map' (NULL or null: none) to base.
 * 'prefix' is the dotted path of the map (NULL at the top level).  given[i]
 * (table_len entries, zeroed by the caller) receives the value node of
 * opts[i]; keys naming a section go to sec_nodes[] instead.  Unknown and
 * repeated keys are errors; so are missing CONF_REQUIRED options.
 */
static int apply_map(struct loader *ld, yaml_node_t *map, const char *prefix,
                     const struct conf_option *opts, void *base, yaml_node_t **given,
                     yaml_node_t **sec_nodes)
{
    char path[PATH_BUF];

    if (map && !is_null(map)) {
        if (map->type != YAML_MAPPING_NODE) {
            if (!prefix)
                return fail(ld, map, "expected a map of options at the top level, got %s",
                            node_kind(map));
            return fail(ld, map, "option '%s': expected a map of options, got %s",
                        prefix, node_kind(map));
        }
        for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
             pair < map->data.mapping.pairs.top; pair++) {
            yaml_node_t *key = node_at(ld, pair->key);
            yaml_node_t *val = node_at(ld, pair->value);
            if (key->type != YAML_SCALAR_NODE) {
                if (prefix)
                    return fail(ld, key, "option '%s': expected an option name, got %s",
                                prefix, node_kind(key));
                return fail(ld, key, "expected an option name, got %s", node_kind(key));
            }
            join(path, sizeof(path), prefix, scalar(key), key->data.scalar.length);

            yaml_node_t **slot = NULL;
            const struct conf_option *o = NULL;
            for (size_t i = 0; opts && opts[i].name; i++) {
                if (key_is(key, opts[i].name)) {
                    o = &opts[i];
                    slot = &given[i];
                    break;
                }
            }
            for (size_t i = 0; !slot && sec_nodes && i < PL_ARRAY_LEN(sections); i++)
                if (key_is(key, sections[i].name))
                    slot = &sec_nodes[i];
            if (!slot) {
                if (prefix)
                    return fail(ld, key, "option '%s': unknown option", path);
                return fail(ld, key, "unknown option '%s'", path);
            }
            if (*slot) {
                /* Name the line of the first key, not of its value (which
                 * for a block list or map starts on a later line). */
                const yaml_node_t *first = key;
                for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++)
                    if (node_at(ld, q->value) == *slot)
                        first = node_at(ld, q->key);
                return fail(ld, key, "option '%s': given twice (first on line %zu)",
                            path, first->start_mark.line + 1);
            }
            *slot = val;
            if (o && set_node(ld, o, base, val, path) < 0)
                return -1;
        }
    }

    for (size_t i = 0; opts && opts[i].name; i++) {
        if (!(opts[i].flags & CONF_REQUIRED))
            continue;
        join(path, sizeof(path), prefix, opts[i].name, strlen(opts[i].name));
        if (!given[i])
            return fail(ld, map, "missing required option '%s'", path);
        if (opts[i].type == CONF_STRLIST && ((struct conf_strlist *)field(&opts[i], base))->count == 0)
            return fail(ld, given[i], "option '%s': expected a non-empty list", path);
    }
    return 0;
}

/* --- sections ------------------------------------------------------------- */

static size_t opt_index(const struct conf_option *opts, const char *name)
{
    for (size_t i = 0; opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0)
            return i;
    PL_ASSERT(!"opt_index: no such option");
}

static bool in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

/* The bound address of a c2s/http listener, for duplicate detection. */
struct listen_addr {
    unsigned char ip[16];
    int family;
    unsigned port;
};

static int listen_entry(struct loader *ld, yaml_node_t *map, size_t index,
                        struct conf_listen *l, struct listen_addr *addr)
{
    const size_t n = table_len(listen_opts);
    yaml_node_t *given[GIVEN_MAX] = { NULL };
    char prefix[32], path[64];
    PL_ASSERT(n <= GIVEN_MAX);
    snprintf(prefix, sizeof(prefix), "listen[%zu]", index);

    apply_defaults(listen_opts, l, ld->dir);
    l->line = (int)map->start_mark.line + 1;
    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, map, "option '%s': expected a map of options, got %s", prefix, node_kind(map));
    if (apply_map(ld, map, prefix, listen_opts, l, given, NULL) < 0)
        return -1;

    const struct listen_rule *rule = &listen_rules[l->module];
    const char *mod = listen_module_choices[l->module];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s.%s", prefix, listen_opts[i].name);
        if (given[i] && !in_list(rule->allowed, listen_opts[i].name))
            return fail(ld, given[i], "option '%s': not valid for module %s", path, mod);
    }
    if (rule->required && !given[opt_index(listen_opts, rule->required)])
        return fail(ld, map, "option '%s.%s': required for module %s", prefix, rule->required, mod);

    if (l->module == LISTEN_CONTROL)
        return 0;
    addr->port = l->port;
    if (inet_pton(AF_INET, l->ip, addr->ip) == 1)
        addr->family = AF_INET;
    else if (inet_pton(AF_INET6, l->ip, addr->ip) == 1)
        addr->family = AF_INET6;
    else
        return fail(ld, given[opt_index(listen_opts, "ip")],
                    "option '%s.ip': expected an IPv4 or IPv6 address such as 127.0.0.1 or ::",
                    prefix);
    return 0;
}

static int load_listen(struct loader *ld, struct conf *c, yaml_node_t *seq, yaml_node_t *root)
{
    if (seq && !is_null(seq)) {
        if (seq->type != YAML_SEQUENCE_NODE)
            return fail(ld, seq, "option 'listen': expected a list of listeners, got %s",
                        node_kind(seq));
        size_t count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
        if (count > CONF_LISTEN_MAX)
            return fail(ld, seq, "option 'listen': at most %d listeners are allowed",
                        CONF_LISTEN_MAX);
        c->listen = pl_calloc(count ? count : 1, sizeof(*c->listen));
        struct listen_addr addrs[CONF_LISTEN_MAX];
        memset(addrs, 0, sizeof(addrs));
        size_t control = SIZE_MAX;
        for (size_t i = 0; i < count; i++) {
            yaml_node_t *entry = node_at(ld, seq->data.sequence.items.start[i]);
            struct conf_listen *l = &c->listen[i];
            c->nlisten = i + 1;   /* from here on conf_free releases the entry */
            if (listen_entry(ld, entry, i, l, &addrs[i]) < 0)
                return -1;
            if (l->module == LISTEN_CONTROL) {
                if (control != SIZE_MAX)
                    return fail(ld, entry, "option 'listen[%zu]': only one control listener "
                                "is allowed (listen[%zu] is one)", i, control);
                control = i;
                continue;
            }
            for (size_t j = 0; j < i; j++) {
                if (c->listen[j].module == LISTEN_CONTROL || addrs[j].family != addrs[i].family
                    || addrs[j].port != addrs[i].port
                    || memcmp(addrs[j].ip, addrs[i].ip, sizeof(addrs[i].ip)) != 0)
                    continue;
                return fail(ld, entry, addrs[i].family == AF_INET6
                            ? "option 'listen[%zu]': address [%s]:%u is already used by listen[%zu]"
                            : "option 'listen[%zu]': address %s:%u is already used by listen[%zu]",
                            i, l->ip, l->port, j);
            }
        }
    }
    for (size_t i = 0; i < c->nlisten; i++)
        if (c->listen[i].module == LISTEN_C2S)
            return 0;
    return fail(ld, seq ? seq : root, "option 'listen': at least one c2s listener is required");
}

static const struct pl_module *find_module(const struct pl_module *const *modules,
                                           const yaml_node_t *key)
{
    for (size_t i = 0; modules && modules[i]; i++)
        if (key_is(key, modules[i]->name))
            return modules[i];
    return NULL;
}

static int load_modules(struct loader *ld, struct conf *c, yaml_node_t *map)
{
    if (!map || is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, map, "option 'modules': expected a map of module names, got %s",
                    node_kind(map));
    size_t count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    c->modules = pl_calloc(count ? count : 1, sizeof(*c->modules));
    for (size_t i = 0; i < count; i++) {
        yaml_node_pair_t *pair = &map->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(ld, pair->key);
        yaml_node_t *val = node_at(ld, pair->value);
        char shown[CONF_SHOW_MAX + 4], prefix[128];
        if (key->type != YAML_SCALAR_NODE)
            return fail(ld, key, "option 'modules': expected a module name, got %s", node_kind(key));
        const struct pl_module *mod = find_module(ld->modules, key);
        if (!mod)
            return fail(ld, key, "unknown module '%s'",
                        show(scalar(key), key->data.scalar.length, shown));
        /* Unknown names were rejected, so this is bounded by the module count. */
        for (size_t j = 0; j < c->nmodules; j++)
            if (c->modules[j].mod == mod)
                return fail(ld, key, "option 'modules.%s': given twice (first on line %d)",
                            mod->name, c->modules[j].line);

        struct conf_module *cm = &c->modules[c->nmodules++];
        cm->mod = mod;
        cm->line = (int)key->start_mark.line + 1;
        cm->conf = mod->conf_size ? pl_calloc(1, mod->conf_size) : NULL;
        PL_ASSERT(cm->conf || !mod->options || !mod->options[0].name);
        apply_defaults(mod->options, cm->conf, ld->dir);

        size_t n = table_len(mod->options);
        yaml_node_t **given = pl_calloc(n ? n : 1, sizeof(*given));
        snprintf(prefix, sizeof(prefix), "modules.%s", mod->name);
        int rc = apply_map(ld, val, prefix, mod->options, cm->conf, given, NULL);
        free(given);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* --- acl and access_rules (core/acl.h) ------------------------------------ */

/* Bounds on what the sections may hold: each entry is checked per request. */
#define ACL_MAX         1024    /* ACLs, rules */
#define ACL_ITEMS_MAX   4096    /* entries of one list */

static bool acl_builtin(const char *name)
{
    return strcmp(name, "all") == 0 || strcmp(name, "none") == 0;
}

/* A map key that names an ACL or a rule: a plain, short, printable name. */
static int name_key(struct loader *ld, const yaml_node_t *key, const char *section,
                    const char **out)
{
    char shown[CONF_SHOW_MAX + 4];
    if (key->type != YAML_SCALAR_NODE || is_null(key))
        return fail(ld, key, "option '%s': expected a name, got %s", section, node_kind(key));
    const char *k = scalar(key);
    size_t len = key->data.scalar.length;
    if (strlen(k) != len || len > CONF_SHOW_MAX || strspn(k,
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len)
        return fail(ld, key, "option '%s': '%s' is not a valid name (letters, digits, "
                    "'_', '-', '.'; at most %d)", section, show(k, len, shown), CONF_SHOW_MAX);
    *out = k;
    return 0;
}

/* The items of a list-or-single-scalar value, each a scalar string. */
static int each_scalar(struct loader *ld, yaml_node_t *val, const char *path,
                       int (*fn)(struct loader *, yaml_node_t *, const char *, size_t, void *),
                       void *ud)
{
    if (val->type == YAML_SCALAR_NODE && !is_null(val))
        return fn(ld, val, path, 0, ud);
    if (val->type != YAML_SEQUENCE_NODE)
        return fail(ld, val, "option '%s': expected a list of strings, got %s",
                    path, node_kind(val));
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n > ACL_ITEMS_MAX)
        return fail(ld, val, "option '%s': at most %d entries", path, ACL_ITEMS_MAX);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, val->data.sequence.items.start[i]);
        char ipath[PATH_BUF + 24];
        const char *s;
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (get_scalar(ld, item, ipath, "a string", &s) < 0 || fn(ld, item, ipath, i, ud) < 0)
            return -1;
    }
    return 0;
}

static int acl_user_item(struct loader *ld, yaml_node_t *item, const char *path,
                         size_t i, void *ud)
{
    struct acl_def *d = ud;
    char shown[CONF_SHOW_MAX + 4], local[JID_PART_MAX + 1], dom[JID_PART_MAX + 1];
    const char *v = scalar(item);
    const char *at = strchr(v, '@');
    char *copy = pl_strdup(v);
    int rc = 0;
    (void)i;
    if (at)
        copy[at - v] = '\0';
    /* A bare JID or a localpart; a resource or an empty part is a mistake. */
    if (strlen(v) != item->data.scalar.length || strchr(v, '/') || !copy[0]
        || jid_prep_local(copy, local) < 0
        || (at && jid_prep_domain(at + 1, dom) < 0)) {
        rc = fail(ld, item, "option '%s': '%s' is not a bare JID or a JID localpart",
                  path, show(v, strlen(v), shown));
    } else {
        d->users = pl_realloc(d->users, (d->nusers + 1) * sizeof(*d->users));
        d->users[d->nusers++] = (struct acl_user){ pl_strdup(local),
                                                   at ? pl_strdup(dom) : NULL };
    }
    free(copy);
    return rc;
}

static int acl_server_item(struct loader *ld, yaml_node_t *item, const char *path,
                           size_t i, void *ud)
{
    struct acl_def *d = ud;
    char shown[CONF_SHOW_MAX + 4], dom[JID_PART_MAX + 1];
    (void)i;
    if (jid_prep_domain(scalar(item), dom) < 0)
        return fail(ld, item, "option '%s': '%s' is not a valid domain", path,
                    show(scalar(item), item->data.scalar.length, shown));
    d->servers = pl_realloc(d->servers, (d->nservers + 1) * sizeof(*d->servers));
    d->servers[d->nservers++] = pl_strdup(dom);
    return 0;
}

static int acl_ip_item(struct loader *ld, yaml_node_t *item, const char *path,
                       size_t i, void *ud)
{
    struct acl_def *d = ud;
    char shown[CONF_SHOW_MAX + 4];
    const char *why;
    struct acl_net net;
    (void)i;
    if (acl_parse_cidr(scalar(item), &net, &why) < 0)
        return fail(ld, item, "option '%s': '%s': %s", path,
                    show(scalar(item), item->data.scalar.length, shown), why);
    d->nets = pl_realloc(d->nets, (d->nnets + 1) * sizeof(*d->nets));
    d->nets[d->nnets++] = net;
    return 0;
}

static int load_acl(struct loader *ld, struct conf *c, yaml_node_t *map)
{
    static const struct {
        const char *key;
        int (*fn)(struct loader *, yaml_node_t *, const char *, size_t, void *);
    } kinds[] = {
        { "user", acl_user_item }, { "server", acl_server_item }, { "ip", acl_ip_item },
    };
    struct acl_config *ac = &c->acl;
    if (!map || is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, map, "option 'acl': expected a map of ACL names, got %s", node_kind(map));
    size_t count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (count > ACL_MAX)
        return fail(ld, map, "option 'acl': at most %d ACLs", ACL_MAX);
    ac->acls = pl_calloc(count ? count : 1, sizeof(*ac->acls));
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = node_at(ld, map->data.mapping.pairs.start[i].key);
        yaml_node_t *val = node_at(ld, map->data.mapping.pairs.start[i].value);
        const char *name;
        char path[PATH_BUF];
        if (name_key(ld, key, "acl", &name) < 0)
            return -1;
        if (acl_builtin(name))
            return fail(ld, key, "option 'acl.%s': '%s' is built in and cannot be redefined",
                        name, name);
        for (size_t j = 0; j < ac->nacls; j++)
            if (strcmp(ac->acls[j].name, name) == 0)
                return fail(ld, key, "option 'acl.%s': given twice (first on line %d)",
                            name, ac->acls[j].line);
        struct acl_def *d = &ac->acls[ac->nacls++];
        d->name = pl_strdup(name);
        d->line = (int)key->start_mark.line + 1;
        if (val->type != YAML_MAPPING_NODE)
            return fail(ld, val, "option 'acl.%s': expected a map with user, server or ip, got %s",
                        name, node_kind(val));
        bool seen[PL_ARRAY_LEN(kinds)] = { false };
        for (yaml_node_pair_t *p = val->data.mapping.pairs.start;
             p < val->data.mapping.pairs.top; p++) {
            yaml_node_t *k = node_at(ld, p->key);
            size_t kind = PL_ARRAY_LEN(kinds);
            for (size_t m = 0; k->type == YAML_SCALAR_NODE && m < PL_ARRAY_LEN(kinds); m++)
                if (key_is(k, kinds[m].key))
                    kind = m;
            if (kind == PL_ARRAY_LEN(kinds)) {
                char shown[CONF_SHOW_MAX + 4];
                return fail(ld, k, "option 'acl.%s': unknown key '%s' (expected user, server or ip)",
                            name, k->type == YAML_SCALAR_NODE
                            ? show(scalar(k), k->data.scalar.length, shown) : "?");
            }
            if (seen[kind])
                return fail(ld, k, "option 'acl.%s.%s': given twice", name, kinds[kind].key);
            seen[kind] = true;
            snprintf(path, sizeof(path), "acl.%s.%s", name, kinds[kind].key);
            if (each_scalar(ld, node_at(ld, p->value), path, kinds[kind].fn, d) < 0)
                return -1;
        }
    }
    return 0;
}

static int load_access(struct loader *ld, struct conf *c, yaml_node_t *map)
{
    struct acl_config *ac = &c->acl;
    if (!map || is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, map, "option 'access_rules': expected a map of rule names, got %s",
                    node_kind(map));
    size_t count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (count > ACL_MAX)
        return fail(ld, map, "option 'access_rules': at most %d rules", ACL_MAX);
    ac->rules = pl_calloc(count ? count : 1, sizeof(*ac->rules));
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = node_at(ld, map->data.mapping.pairs.start[i].key);
        yaml_node_t *val = node_at(ld, map->data.mapping.pairs.start[i].value);
        const char *name;
        if (name_key(ld, key, "access_rules", &name) < 0)
            return -1;
        if (acl_builtin(name))
            return fail(ld, key, "option 'access_rules.%s': '%s' is built in and cannot be "
                        "redefined", name, name);
        for (size_t j = 0; j < ac->nrules; j++)
            if (strcmp(ac->rules[j].name, name) == 0)
                return fail(ld, key, "option 'access_rules.%s': given twice (first on line %d)",
                            name, ac->rules[j].line);
        struct access_rule *r = &ac->rules[ac->nrules++];
        r->name = pl_strdup(name);
        r->line = (int)key->start_mark.line + 1;
        if (val->type != YAML_SEQUENCE_NODE)
            return fail(ld, val, "option 'access_rules.%s': expected a list of allow: ACL or "
                        "deny: ACL entries, got %s", name, node_kind(val));
        size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
        if (n > ACL_ITEMS_MAX)
            return fail(ld, val, "option 'access_rules.%s': at most %d entries", name, ACL_ITEMS_MAX);
        r->entries = pl_calloc(n ? n : 1, sizeof(*r->entries));
        for (size_t e = 0; e < n; e++) {
            yaml_node_t *item = node_at(ld, val->data.sequence.items.start[e]);
            char path[PATH_BUF], shown[CONF_SHOW_MAX + 4];
            snprintf(path, sizeof(path), "access_rules.%s[%zu]", name, e);
            if (item->type != YAML_MAPPING_NODE
                || item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
                return fail(ld, item, "option '%s': expected one 'allow: ACL' or 'deny: ACL', got %s",
                            path, node_kind(item));
            yaml_node_t *k = node_at(ld, item->data.mapping.pairs.start[0].key);
            yaml_node_t *v = node_at(ld, item->data.mapping.pairs.start[0].value);
            bool allow;
            if (k->type == YAML_SCALAR_NODE && key_is(k, "allow"))
                allow = true;
            else if (k->type == YAML_SCALAR_NODE && key_is(k, "deny"))
                allow = false;
            else
                return fail(ld, k, "option '%s': expected 'allow' or 'deny'", path);
            const char *acl;
            char vpath[PATH_BUF + 8];
            snprintf(vpath, sizeof(vpath), "%s.%s", path, allow ? "allow" : "deny");
            if (get_scalar(ld, v, vpath, "an ACL name", &acl) < 0)
                return -1;
            size_t idx = strcmp(acl, "all") == 0 ? ACL_ALL
                       : strcmp(acl, "none") == 0 ? ACL_NONE : SIZE_MAX - 2;
            for (size_t j = 0; idx == SIZE_MAX - 2 && j < ac->nacls; j++)
                if (strcmp(ac->acls[j].name, acl) == 0)
                    idx = j;
            if (idx == SIZE_MAX - 2)
                return fail(ld, v, "option '%s': unknown acl '%s' (define it under 'acl', or "
                            "use all or none)", vpath, show(acl, strlen(acl), shown));
            r->entries[r->nentries++] = (struct access_entry){ allow, idx };
        }
    }
    return 0;
}

struct host_ref {
    const char *name;
    size_t index;
};

static int host_cmp(const void *a, const void *b)
{
    const struct host_ref *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->index > y->index) - (x->index < y->index);
}

/* Prepares each host (IDNA2008, lower case) and rejects duplicates. */
static int check_hosts(struct loader *ld, struct conf *c, yaml_node_t *seq)
{
    char prepped[JID_PART_MAX + 1], shown[CONF_SHOW_MAX + 4];
    struct conf_strlist *h = &c->hosts;
    for (size_t i = 0; i < h->count; i++) {
        yaml_node_t *item = node_at(ld, seq->data.sequence.items.start[i]);
        /* A JID domain part may be an IP literal (RFC 7622 §3.2), but a
         * virtual host must be a name other servers can resolve. */
        bool literal = strchr(h->items[i], ':') || h->items[i][0] == '[' || strspn(h->items[i], "0123456789.") == strlen(h->items[i]);
        if (literal || jid_prep_domain(h->items[i], prepped) < 0)
            return fail(ld, item, "option 'hosts[%zu]': '%s' is not a valid domain name", i,
                        show(h->items[i], strlen(h->items[i]), shown));
        set_string(&h->items[i], pl_strdup(prepped));
    }
    /* Sort a copy so that the check stays O(n log n) however long the list. */
    struct host_ref *refs = pl_calloc(h->count ? h->count : 1, sizeof(*refs));
    for (size_t i = 0; i < h->count; i++)
        refs[i] = (struct host_ref){ h->items[i], i };
    qsort(refs, h->count, sizeof(*refs), host_cmp);
    int rc = 0;
    size_t dup = SIZE_MAX, first = 0;
    for (size_t i = 1; i < h->count; i++) {
        if (strcmp(refs[i - 1].name, refs[i].name) == 0 && refs[i].index < dup) {
            /* report the earliest repeat in file order */
            dup = refs[i].index;
            size_t k = i - 1;
            while (k > 0 && strcmp(refs[k - 1].name, refs[i].name) == 0)
                k--;
            first = refs[k].index;
        }
    }
    if (dup != SIZE_MAX)
        rc = fail(ld, node_at(ld, seq->data.sequence.items.start[dup]),
                  "option 'hosts[%zu]': duplicate host '%s' (also hosts[%zu])",
                  dup, show(h->items[dup], strlen(h->items[dup]), shown), first);
    free(refs);
    return rc;
}

/* Resolves each certificate file against the config directory and checks
 * that it can be read now, rather than when the first client connects. */
static int check_certfiles(struct loader *ld, struct conf *c, yaml_node_t *seq)
{
    static const struct conf_option path_opt = {
        "certfiles", CONF_PATH, 0, NULL, 0, 0, NULL, 0, NULL,
    };
    struct conf_strlist *l = &c->certfiles;
    for (size_t i = 0; i < l->count; i++) {
        yaml_node_t *item = node_at(ld, seq->data.sequence.items.start[i]);
        struct buf why = BUF_INIT;
        char *resolved = NULL;
        if (parse_scalar(&path_opt, l->items[i], ld->dir, &resolved, &why) < 0) {
            fail(ld, item, "option 'certfiles[%zu]': %s", i, why.data);
            buf_release(&why);
            return -1;
        }
        set_string(&l->items[i], resolved);

        int fd = open(l->items[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        int e = errno;
        struct stat st;
        if (fd >= 0) {
            e = fstat(fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
            close(fd);
        }
        if (fd < 0 || e != 0)
            return fail(ld, item, "option 'certfiles[%zu]': cannot read '%s': %s",
                        i, l->items[i], strerror(e));
    }
    return 0;
}

/* --- loading -------------------------------------------------------------- */

/* Reads the whole file into a new NUL-terminated buffer (caller frees). */
static char *read_file(const char *file, size_t *len_out /* OUT */, struct buf *err)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        buf_printf(err, "cannot read '%s': %s", file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        buf_printf(err, "cannot read '%s': %s", file, strerror(EISDIR));
        close(fd);
        return NULL;
    }
    struct buf data = BUF_INIT;
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_printf(err, "cannot read '%s': %s", file, strerror(errno));
            goto fail_release;
        }
        if (data.len + (size_t)n > CONF_FILE_MAX) {
            buf_printf(err, "cannot read '%s': larger than %d bytes", file, CONF_FILE_MAX);
            goto fail_release;
        }
        buf_append(&data, chunk, (size_t)n);
    }
    close(fd);
    *len_out = data.len;
    return buf_detach(&data);

fail_release:
    buf_release(&data);
    close(fd);
    return NULL;
}

/* The absolute directory of 'file' (caller frees), or NULL with errno. */
static char *file_dir(const char *file)
{
    char *copy = pl_strdup(file);
    char *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    char *abs = realpath(dir, NULL);
    free(copy);
    return abs;
}

static int parse_yaml(struct loader *ld, const char *text, size_t len)
{
    yaml_parser_t parser;
    int rc = 0;
    if (!yaml_parser_initialize(&parser))
        PL_ASSERT(!"yaml_parser_initialize: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ld->doc)) {
        memset(&ld->doc, 0, sizeof(ld->doc));
        goto syntax_error;
    }
    /* yaml_parser_load returns one document; a second would be ignored. */
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra))
        goto syntax_error;
    yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    if (extra_root) {
        rc = fail(ld, extra_root, "a configuration file holds one YAML document, found another");
    }
    yaml_document_delete(&extra);
    yaml_parser_delete(&parser);
    return rc;

syntax_error:
    buf_printf(ld->err, "%s:%zu:%zu: YAML syntax error: %s", ld->file,
               parser.problem_mark.line + 1, parser.problem_mark.column + 1,
               parser.problem ? parser.problem : "unknown error");
    if (parser.context)
        buf_printf(ld->err, " (%s at %zu:%zu)", parser.context,
                   parser.context_mark.line + 1, parser.context_mark.column + 1);
    yaml_parser_delete(&parser);
    return -1;
}

static int load_root(struct loader *ld, struct conf *c)
{
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    yaml_node_t *given[GIVEN_MAX] = { NULL };
    yaml_node_t *sec_nodes[PL_ARRAY_LEN(sections)] = { NULL };
    PL_ASSERT(table_len(top_opts) <= GIVEN_MAX);

    apply_defaults(top_opts, c, ld->dir);
    for (size_t i = 0; i < PL_ARRAY_LEN(sections); i++)
        if (sections[i].kind == SECTION_MAP)
            apply_defaults(sections[i].opts, (char *)c + sections[i].offset, ld->dir);

    if (apply_map(ld, root, NULL, top_opts, c, given, sec_nodes) < 0)
        return -1;
    if (check_hosts(ld, c, given[opt_index(top_opts, "hosts")]) < 0)
        return -1;
    if (c->certfiles.count && check_certfiles(ld, c, given[opt_index(top_opts, "certfiles")]) < 0)
        return -1;
    for (size_t i = 0; i < PL_ARRAY_LEN(sections); i++) {
        const struct section *s = &sections[i];
        if (s->kind == SECTION_MAP) {
            yaml_node_t *sec_given[GIVEN_MAX] = { NULL };
            PL_ASSERT(table_len(s->opts) <= GIVEN_MAX);
            if (apply_map(ld, sec_nodes[i], s->name, s->opts, (char *)c + s->offset,
                          sec_given, NULL) < 0)
                return -1;
        } else if (s->kind == SECTION_LISTEN) {
            if (load_listen(ld, c, sec_nodes[i], root) < 0)
                return -1;
        } else if (s->kind == SECTION_ACL) {
            if (load_acl(ld, c, sec_nodes[i]) < 0)
                return -1;
        } else if (s->kind == SECTION_ACCESS) {
            if (load_access(ld, c, sec_nodes[i]) < 0)
                return -1;
        } else if (load_modules(ld, c, sec_nodes[i]) < 0) {
            return -1;
        }
    }

    if (!c->data_dir) {
        char *dir = pl_strdup(c->storage.path);
        char *slash = strrchr(dir, '/');
        PL_ASSERT(slash);   /* storage.path was resolved to an absolute path */
        slash[slash == dir ? 1 : 0] = '\0';
        c->data_dir = dir;
    }
    return 0;
}

struct conf *conf_load(const char *file, const struct pl_module *const *modules,
                       struct buf *err)
{
    struct loader ld = { .file = file, .err = err, .modules = modules };
    size_t len;
    char *text = read_file(file, &len, err);
    if (!text)
        return NULL;
    struct conf *c = NULL;
    ld.dir = file_dir(file);
    if (!ld.dir) {
        buf_printf(err, "cannot read '%s': %s", file, strerror(errno));
        goto out_free_text;
    }
    if (parse_yaml(&ld, text, len) < 0)
        goto out_free_doc;

    c = pl_calloc(1, sizeof(*c));
    c->file = pl_strdup(file);
    if (load_root(&ld, c) < 0) {
        conf_free(c);
        c = NULL;
    }

out_free_doc:
    yaml_document_delete(&ld.doc);
    free(ld.dir);
out_free_text:
    free(text);
    return c;
}

void conf_free(struct conf *c)
{
    if (!c)
        return;
    conf_release(top_opts, c);
    for (size_t i = 0; i < PL_ARRAY_LEN(sections); i++)
        if (sections[i].kind == SECTION_MAP)
            conf_release(sections[i].opts, (char *)c + sections[i].offset);
    for (size_t i = 0; i < c->nlisten; i++)
        conf_release(listen_opts, &c->listen[i]);
    free(c->listen);
    for (size_t i = 0; i < c->nmodules; i++) {
        if (c->modules[i].conf)
            conf_release(c->modules[i].mod->options, c->modules[i].conf);
        free(c->modules[i].conf);
    }
    free(c->modules);
    acl_config_release(&c->acl);
    free(c->file);
    free(c);
}

const struct conf_module *conf_module(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nmodules; i++)
        if (strcmp(c->modules[i].mod->name, name) == 0)
            return &c->modules[i];
    return NULL;
}

bool conf_has_host(const struct conf *c, const char *host)
{
    for (size_t i = 0; i < c->hosts.count; i++)
        if (strcmp(c->hosts.items[i], host) == 0)
            return true;
    return false;
}

/* --- reference ------------------------------------------------------------ */

static const char *type_name(enum conf_type t)
{
    static const char *const names[] = {
        [CONF_BOOL] = "boolean", [CONF_INT] = "integer", [CONF_UINT] = "integer",
        [CONF_SIZE] = "size", [CONF_SECONDS] = "duration", [CONF_STRING] = "string",
        [CONF_PATH] = "path", [CONF_STRLIST] = "list of strings", [CONF_ENUM] = "choice",
    };
    return names[t];
}

/* Markdown table cells must not contain '|' or line breaks. */
static void put_cell(struct buf *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            buf_puts(out, "\\|");
        else
            buf_putc(out, *s == '\n' ? ' ' : *s);
    }
}

static void reference_table(const struct conf_option *opts, struct buf *out)
{
    if (!opts || !opts->name) {
        buf_puts(out, "No options.\n\n");
        return;
    }
    buf_puts(out, "| Option | Type | Default | Range / choices | Reload | Description |\n"
                  "|---|---|---|---|---|---|\n");
    for (const struct conf_option *o = opts; o->name; o++) {
        buf_printf(out, "| `%s` | %s | ", o->name, type_name(o->type));
        if (o->flags & CONF_REQUIRED)
            buf_puts(out, "required");
        else if (o->def) {
            buf_putc(out, '`');
            put_cell(out, o->def);
            buf_putc(out, '`');
        } else
            buf_puts(out, "none");
        buf_puts(out, " | ");
        if (o->type == CONF_ENUM) {
            for (size_t i = 0; o->choices[i]; i++)
                buf_printf(out, "%s`%s`", i ? ", " : "", o->choices[i]);
        } else if (o->type == CONF_INT || o->type == CONF_UINT || o->type == CONF_SIZE
                   || o->type == CONF_SECONDS) {
            long long lo, hi;
            bounds(o, &lo, &hi);
            buf_printf(out, "%lld..%lld%s", lo, hi,
                       o->type == CONF_SIZE ? " bytes" : o->type == CONF_SECONDS ? " s" : "");
        }
        buf_printf(out, " | %s | ", o->flags & CONF_RESTART ? "restart" : "yes");
        put_cell(out, o->doc);
        buf_puts(out, " |\n");
    }
    buf_putc(out, '\n');
}

void conf_reference(const struct pl_module *const *modules, struct buf *out)
{
    buf_puts(out,
        "# Configuration reference\n\n"
        "Generated by `parleyd --config-reference` from the option tables in src/core/conf.c; "
        "do not edit.\n\n"
        "Parley reads one YAML file (`parleyd -c parley.yml`). Unknown options and ill-typed "
        "values are errors, reported as `file:line:col: option 'section.name': ...`, both at "
        "start-up and on reload. Relative paths are resolved against the directory of the "
        "configuration file. Sizes take a K/KiB, M/MiB or G/GiB suffix (binary); durations "
        "take s, m, h or d; booleans are true/false, yes/no or on/off. \"Reload: restart\" "
        "means a reload keeps the running value and warns.\n\n"
        "## Top level\n\n");
    reference_table(top_opts, out);
    buf_puts(out, "Sections: ");
    for (size_t i = 0; i < PL_ARRAY_LEN(sections); i++)
        buf_printf(out, "%s`%s` (%s)", i ? ", " : "", sections[i].name, sections[i].title);
    buf_puts(out, ".\n\n");
    for (size_t i = 0; i < PL_ARRAY_LEN(sections); i++) {
        const struct section *s = &sections[i];
        buf_printf(out, "## %s (`%s`)\n\n%s\n\n", s->title, s->name, s->doc);
        if (s->kind == SECTION_ACL) {
            buf_puts(out, "```yaml\nacl:\n  admin:\n    user: [admin@example.org]\n"
                          "  local:\n    server: [example.org]\n"
                          "  lan:\n    ip: [10.0.0.0/8, \"::1/128\", 127.0.0.1]\n```\n\n");
            continue;
        }
        if (s->kind == SECTION_ACCESS) {
            buf_puts(out, "```yaml\naccess_rules:\n  register:\n    - allow: lan\n"
                          "    - deny: all\n  api:\n    - allow: admin\n"
                          "  api_registered_users:\n    - allow: admin\n    - allow: lan\n```\n\n");
            continue;
        }
        if (s->kind != SECTION_MODULES) {
            reference_table(s->opts, out);
            continue;
        }
        for (size_t m = 0; modules && modules[m]; m++) {
            buf_printf(out, "### `%s`\n\n", modules[m]->name);
            if (modules[m]->doc)
                buf_printf(out, "%s\n\n", modules[m]->doc);
            reference_table(modules[m]->options, out);
        }
    }
}
