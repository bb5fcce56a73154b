/*
 * conf.h - parley.yml: option tables, loading, validation, reference docs.
 *
 * Every option is a row in a table (name, type, offset into a struct,
 * default, bounds, doc); generic setters parse YAML scalars into the struct.
 * There is no strcmp chain per option.  The same tables generate
 * docs/configuration.md (parleyd --config-reference), so the reference
 * cannot drift from the code.
 *
 * Errors name the file, line and column and the option:
 *   parley.yml:12:5: option 'limits.max_stanza_size': expected an integer in 1024..16777216
 * Unknown keys are errors.  Where Prosody clamps, we reject.
 */
#ifndef PARLEY_CORE_CONF_H
#define PARLEY_CORE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acl.h"
#include "core/buf.h"
#include "core/log.h"

enum conf_type {
    CONF_BOOL,          /* bool; true/false/yes/no */
    CONF_INT,           /* long long within [min,max] */
    CONF_UINT,          /* unsigned within [min,max] */
    CONF_SIZE,          /* size_t within [min,max]; plain integer or 64KiB/1MiB suffix */
    CONF_SECONDS,       /* unsigned seconds; plain integer or 30s/5m/2h suffix */
    CONF_STRING,        /* char * (heap), NULL when unset and no default */
    CONF_PATH,          /* char *, relative paths resolved against the config file's directory */
    CONF_STRLIST,       /* struct conf_strlist */
    CONF_ENUM,          /* int index into 'choices' (NULL-terminated) */
};

struct conf_strlist {
    char **items;
    size_t count;
};

/* Flags */
#define CONF_REQUIRED   0x1     /* must be present */
#define CONF_RESTART    0x2     /* a change needs a restart; reload keeps the old value and warns */

struct conf_option {
    const char *name;
    enum conf_type type;
    size_t offset;              /* into the section's struct */
    const char *def;            /* default as YAML text, NULL for none */
    long long min, max;         /* numeric bounds (inclusive) */
    const char *const *choices; /* CONF_ENUM */
    unsigned flags;
    const char *doc;            /* one line */
};

#define CONF_END { NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL }

/* --- the configuration ---------------------------------------------------- */

enum listen_module {
    LISTEN_C2S,
    LISTEN_CONTROL,
    LISTEN_HTTP,
};

struct conf_listen {
    int module;                 /* enum listen_module (CONF_ENUM) */
    char *ip;                   /* default "127.0.0.1"; "::" or "0.0.0.0" for all */
    unsigned port;              /* c2s/http */
    bool tls;                   /* direct TLS (XEP-0368) */
    bool starttls_required;     /* c2s: refuse SASL/bind before STARTTLS */
    char *path;                 /* control: Unix socket path */
    size_t max_body_size;       /* http: largest request body, bytes */
    unsigned request_timeout;   /* http: s to receive a request / idle keep-alive */
    int line;                   /* where it was declared, for messages */
};

struct conf_limits {
    size_t max_stanza_size;     /* bytes */
    unsigned max_depth;         /* XML element depth within a stanza */
    unsigned max_attrs;
    size_t shaper_rate;         /* bytes/s read per connection, 0 = unlimited */
    unsigned max_connections_per_ip;
    unsigned negotiation_timeout;   /* s from connect to bound session */
    unsigned idle_timeout;      /* s without any byte from a client, 0 = never */
    unsigned detach_after;      /* s without traffic before a bound session
                                 * drops its bufferevent (stream/c2s.c), 0 = never */
};

struct conf_auth {
    unsigned scram_iterations;
    bool allow_plain;           /* PLAIN, only ever over TLS */
    unsigned max_failures;      /* failed logins per source address ... */
    unsigned failure_window;    /* ... within this many seconds ... */
    unsigned lockout;           /* ... lock the address out for this long */
    unsigned fast_lifetime;     /* s a FAST token lives (XEP-0484); rotated
                                 * once less than half of it remains */
};

struct conf_storage {
    int backend;                /* CONF_ENUM: "sqlite" */
    char *path;                 /* sqlite database file */
};

/* One enabled module: its name and its parsed option struct. */
struct conf_module {
    const struct pl_module *mod;
    void *conf;                 /* mod->conf_size bytes, filled from options */
    int line;
};

struct conf {
    char *file;                 /* as given on the command line */
    int loglevel;               /* enum log_level (CONF_ENUM) */
    char *data_dir;             /* server secret and other state; default dir of storage.path */
    struct conf_strlist hosts;
    struct conf_strlist certfiles;      /* PEM files holding a certificate chain and key */
    struct conf_listen *listen;
    size_t nlisten;
    struct conf_storage storage;
    struct conf_limits limits;
    struct conf_auth auth;
    struct conf_module *modules;
    size_t nmodules;
    struct acl_config acl;      /* 'acl' and 'access_rules' (core/acl.h) */
};

struct pl_module;

/* Loads and validates 'file'.  'modules' is the NULL-terminated list of
 * compiled-in modules (options under 'modules:' are checked against their
 * tables).  Returns a new conf, or NULL with a message in err. */
struct conf *conf_load(const char *file, const struct pl_module *const *modules,
                       struct buf *err);
void conf_free(struct conf *c);
/* Reload: every option marked CONF_RESTART (and the listeners) that
 * differs in 'nc' gets the running value from 'old' back, with a warning
 * if 'warn'.  The values trade places, so each conf still frees what it
 * holds, and calling it again with the arguments swapped undoes it. */
void conf_keep_restart(struct conf *nc, struct conf *old, bool warn);
/* The enabled module's conf struct, or NULL if the module is not enabled. */
const struct conf_module *conf_module(const struct conf *c, const char *name);
bool conf_has_host(const struct conf *c, const char *host);

/* Generic machinery, also used for module option structs and tests. */
void conf_defaults(const struct conf_option *opts, void *base);
void conf_release(const struct conf_option *opts, void *base);  /* frees strings/lists */
/* Writes the markdown reference of every section and module. */
void conf_reference(const struct pl_module *const *modules, struct buf *out);

#endif
