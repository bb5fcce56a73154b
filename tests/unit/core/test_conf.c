/*
 * test_conf.c - parley.yml loading (src/core/conf.c): values and defaults,
 * every class of error with its exact "file:line:col: message", size and
 * duration suffixes, path resolution, module option tables, the reference.
 *
 * Each test writes YAML into a private mkdtemp() directory and loads it with
 * a small fake module list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/mem.h"
#include "parley/module.h"

/* --- a fake module with one option of each type -------------------------- */

struct ping_conf {
    unsigned interval;
    char *name;
    bool enabled;
    int mode;
    struct conf_strlist tags;
    char *file;
    size_t size;
    long long offset;
};

static const char *const ping_modes[] = { "fast", "slow", NULL };

static const struct conf_option ping_opts[] = {
    { "interval", CONF_SECONDS, offsetof(struct ping_conf, interval), "5m", 1, 86400,
      NULL, 0, "Seconds between pings" },
    { "name", CONF_STRING, offsetof(struct ping_conf, name), "pinger", 0, 0, NULL, 0, "A name" },
    { "enabled", CONF_BOOL, offsetof(struct ping_conf, enabled), "yes", 0, 0, NULL, 0, "On?" },
    { "mode", CONF_ENUM, offsetof(struct ping_conf, mode), "slow", 0, 0, ping_modes,
      CONF_RESTART, "Mode | with a pipe" },
    { "tags", CONF_STRLIST, offsetof(struct ping_conf, tags), "[a, b]", 0, 0, NULL, 0, "Tags" },
    { "file", CONF_PATH, offsetof(struct ping_conf, file), NULL, 0, 0, NULL, 0, "A file" },
    { "size", CONF_SIZE, offsetof(struct ping_conf, size), "1K", 0, 0, NULL, 0, "A size" },
    { "offset", CONF_INT, offsetof(struct ping_conf, offset), "-5", -100, 100, NULL, 0, "Signed" },
    CONF_END
};

static const struct pl_module mod_ping = {
    "ping", "Answers XEP-0199 pings", sizeof(struct ping_conf), ping_opts, NULL, NULL,
};
static const struct pl_module mod_bare = { "bare", "No options at all", 0, NULL, NULL, NULL };
static const struct pl_module *const test_modules[] = { &mod_ping, &mod_bare, NULL };

/* --- fixture -------------------------------------------------------------- */

struct fixture {
    char dir[PATH_MAX];         /* realpath of a fresh mkdtemp() directory */
    char file[PATH_MAX + 16];   /* dir/parley.yml */
    struct buf err;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    struct fixture *f = pl_calloc(1, sizeof(*f));
    char tmpl[] = "/tmp/test_conf-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->dir));
    snprintf(f->file, sizeof(f->file), "%s/parley.yml", f->dir);
    char cert[PATH_MAX + 16];
    snprintf(cert, sizeof(cert), "%s/cert.pem", f->dir);
    write_file(cert, "-----BEGIN CERTIFICATE-----\n");
    buf_init(&f->err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    buf_release(&f->err);
    free(f);
    return 0;
}

static struct conf *load(struct fixture *f, const char *text)
{
    write_file(f->file, text);
    buf_clear(&f->err);
    return conf_load(f->file, test_modules, &f->err);
}

/* Loads text, which must fail with exactly "<file>:<expected>"; prints the
 * difference and returns false otherwise. */
static bool check_error(struct fixture *f, const char *text, const char *expected)
{
    struct conf *c = load(f, text);
    char want[PATH_MAX + 512];
    snprintf(want, sizeof(want), "%s:%s", f->file, expected);
    if (!c && f->err.data && strcmp(f->err.data, want) == 0)
        return true;
    print_error("config:\n%s\nwant: %s\ngot:  %s\n\n", text, want,
                f->err.data ? f->err.data : "(no error)");
    conf_free(c);
    return false;
}

static void expect_error(struct fixture *f, const char *text, const char *expected)
{
    assert_true(check_error(f, text, expected));
}

/* Four lines: the minimal valid configuration. */
#define BASE "hosts: [example.com]\n" \
             "listen:\n" \
             "  - module: c2s\n" \
             "    port: 5222\n"

/* --- tests ---------------------------------------------------------------- */

static void full_config(void **state)
{
    struct fixture *f = *state;
    struct conf *c = load(f,
        "loglevel: debug\n"
        "data_dir: state\n"
        "hosts: [Example.COM, conference.example.com]\n"
        "certfiles: [cert.pem]\n"
        "listen:\n"
        "  - module: c2s\n"
        "    ip: \"::\"\n"
        "    port: 5222\n"
        "    starttls_required: no\n"
        "  - module: c2s\n"
        "    port: 5223\n"
        "    tls: on\n"
        "  - module: http\n"
        "    ip: 0.0.0.0\n"
        "    port: 5280\n"
        "  - module: control\n"
        "    path: /run/parley.sock\n"
        "storage:\n"
        "  backend: sqlite\n"
        "  path: db/parley.db\n"
        "limits:\n"
        "  max_stanza_size: 64KiB\n"
        "  max_depth: 32\n"
        "  max_attrs: 16\n"
        "  shaper_rate: 1M\n"
        "  max_connections_per_ip: 0\n"
        "  negotiation_timeout: 1m\n"
        "  idle_timeout: 1h\n"
        "auth:\n"
        "  scram_iterations: 10000\n"
        "  allow_plain: false\n"
        "  max_failures: 3\n"
        "  failure_window: 2m\n"
        "  lockout: 1d\n"
        "modules:\n"
        "  ping:\n"
        "    interval: 30s\n"
        "    name: \"my pinger\"\n"
        "    enabled: off\n"
        "    mode: fast\n"
        "    tags: [x]\n"
        "    file: pings.log\n"
        "    size: 2MiB\n"
        "    offset: -100\n"
        "  bare:\n");
    if (!c)
        print_error("%s\n", f->err.data);
    assert_non_null(c);
    char want[PATH_MAX + 64];

    assert_string_equal(c->file, f->file);
    assert_int_equal(c->loglevel, LOG_DEBUG);
    snprintf(want, sizeof(want), "%s/state", f->dir);
    assert_string_equal(c->data_dir, want);
    assert_int_equal(c->hosts.count, 2);
    assert_string_equal(c->hosts.items[0], "example.com");     /* prepared */
    assert_string_equal(c->hosts.items[1], "conference.example.com");
    assert_true(conf_has_host(c, "example.com"));
    assert_false(conf_has_host(c, "other.example"));
    assert_int_equal(c->certfiles.count, 1);
    snprintf(want, sizeof(want), "%s/cert.pem", f->dir);
    assert_string_equal(c->certfiles.items[0], want);

    assert_int_equal(c->nlisten, 4);
    assert_int_equal(c->listen[0].module, LISTEN_C2S);
    assert_string_equal(c->listen[0].ip, "::");
    assert_int_equal(c->listen[0].port, 5222);
    assert_false(c->listen[0].tls);
    assert_false(c->listen[0].starttls_required);
    assert_int_equal(c->listen[0].line, 6);
    assert_string_equal(c->listen[1].ip, "127.0.0.1");
    assert_int_equal(c->listen[1].port, 5223);
    assert_true(c->listen[1].tls);
    assert_true(c->listen[1].starttls_required);
    assert_int_equal(c->listen[2].module, LISTEN_HTTP);
    assert_string_equal(c->listen[2].ip, "0.0.0.0");
    assert_int_equal(c->listen[3].module, LISTEN_CONTROL);
    assert_string_equal(c->listen[3].path, "/run/parley.sock");
    assert_int_equal(c->listen[3].line, 16);

    assert_int_equal(c->storage.backend, 0);
    snprintf(want, sizeof(want), "%s/db/parley.db", f->dir);
    assert_string_equal(c->storage.path, want);

    assert_int_equal(c->limits.max_stanza_size, 65536);
    assert_int_equal(c->limits.max_depth, 32);
    assert_int_equal(c->limits.max_attrs, 16);
    assert_int_equal(c->limits.shaper_rate, 1048576);
    assert_int_equal(c->limits.max_connections_per_ip, 0);
    assert_int_equal(c->limits.negotiation_timeout, 60);
    assert_int_equal(c->limits.idle_timeout, 3600);
    assert_int_equal(c->auth.scram_iterations, 10000);
    assert_false(c->auth.allow_plain);
    assert_int_equal(c->auth.max_failures, 3);
    assert_int_equal(c->auth.failure_window, 120);
    assert_int_equal(c->auth.lockout, 86400);

    assert_int_equal(c->nmodules, 2);
    const struct conf_module *m = conf_module(c, "ping");
    assert_non_null(m);
    assert_ptr_equal(m->mod, &mod_ping);
    assert_int_equal(m->line, 36);
    const struct ping_conf *p = m->conf;
    assert_int_equal(p->interval, 30);
    assert_string_equal(p->name, "my pinger");
    assert_false(p->enabled);
    assert_int_equal(p->mode, 0);
    assert_int_equal(p->tags.count, 1);
    assert_string_equal(p->tags.items[0], "x");
    snprintf(want, sizeof(want), "%s/pings.log", f->dir);
    assert_string_equal(p->file, want);
    assert_int_equal(p->size, 2 * 1024 * 1024);
    assert_int_equal(p->offset, -100);
    m = conf_module(c, "bare");
    assert_non_null(m);
    assert_null(m->conf);
    assert_null(conf_module(c, "version"));
    conf_free(c);
}

static void defaults_applied(void **state)
{
    struct fixture *f = *state;
    struct conf *c = load(f, BASE "modules:\n  ping: {}\n");
    assert_non_null(c);
    char want[PATH_MAX + 64];

    assert_int_equal(c->loglevel, LOG_INFO);
    assert_int_equal(c->certfiles.count, 0);
    assert_int_equal(c->nlisten, 1);
    assert_string_equal(c->listen[0].ip, "127.0.0.1");
    assert_false(c->listen[0].tls);
    assert_true(c->listen[0].starttls_required);
    assert_null(c->listen[0].path);
    assert_int_equal(c->storage.backend, 0);
    snprintf(want, sizeof(want), "%s/parley.db", f->dir);
    assert_string_equal(c->storage.path, want);
    assert_string_equal(c->data_dir, f->dir);   /* the directory of storage.path */
    assert_int_equal(c->limits.max_stanza_size, 262144);
    assert_int_equal(c->limits.max_depth, 64);
    assert_int_equal(c->limits.max_attrs, 64);
    assert_int_equal(c->limits.shaper_rate, 0);
    assert_int_equal(c->limits.max_connections_per_ip, 64);
    assert_int_equal(c->limits.negotiation_timeout, 30);
    assert_int_equal(c->limits.idle_timeout, 0);
    assert_int_equal(c->auth.scram_iterations, 4096);
    assert_true(c->auth.allow_plain);
    assert_int_equal(c->auth.max_failures, 5);
    assert_int_equal(c->auth.failure_window, 60);
    assert_int_equal(c->auth.lockout, 300);

    /* Only the listed module is enabled, with its table's defaults. */
    assert_int_equal(c->nmodules, 1);
    assert_null(conf_module(c, "bare"));
    const struct ping_conf *p = conf_module(c, "ping")->conf;
    assert_int_equal(p->interval, 300);
    assert_string_equal(p->name, "pinger");
    assert_true(p->enabled);
    assert_int_equal(p->mode, 1);
    assert_int_equal(p->tags.count, 2);
    assert_string_equal(p->tags.items[1], "b");
    assert_null(p->file);
    assert_int_equal(p->size, 1024);
    assert_int_equal(p->offset, -5);
    conf_free(c);

    /* No modules key at all: none enabled. */
    c = load(f, BASE);
    assert_non_null(c);
    assert_int_equal(c->nmodules, 0);
    assert_null(conf_module(c, "ping"));
    conf_free(c);
}

/* The public generic machinery on a module table, without a file. */
static void defaults_and_release(void **state)
{
    (void)state;
    struct ping_conf p;
    memset(&p, 0, sizeof(p));
    conf_defaults(ping_opts, &p);
    assert_int_equal(p.interval, 300);
    assert_string_equal(p.name, "pinger");
    assert_int_equal(p.tags.count, 2);
    assert_string_equal(p.tags.items[0], "a");
    /* Applying defaults again must not leak the first strings (ASan). */
    conf_defaults(ping_opts, &p);
    assert_int_equal(p.tags.count, 2);
    conf_release(ping_opts, &p);
    assert_null(p.name);
    assert_null(p.tags.items);
    assert_int_equal(p.tags.count, 0);
}

struct error_case {
    const char *yaml;
    const char *error;          /* after "<file>:" */
};

static const struct error_case error_cases[] = {
    /* unknown and repeated keys */
    { "hostz: [a.example]\n", "1:1: unknown option 'hostz'" },
    { BASE "limits:\n  max_stanza_sizes: 1\n", "6:3: option 'limits.max_stanza_sizes': unknown option" },
    { BASE "loglevel: info\nloglevel: debug\n", "6:1: option 'loglevel': given twice (first on line 5)" },
    { BASE "auth:\n  lockout: 5\n  lockout: 6\n", "7:3: option 'auth.lockout': given twice (first on line 6)" },
    /* numbers */
    { BASE "limits:\n  max_stanza_size: 512\n",
      "6:20: option 'limits.max_stanza_size': expected an integer in 1024..16777216" },
    { BASE "limits:\n  max_stanza_size: 32MiB\n",
      "6:20: option 'limits.max_stanza_size': expected an integer in 1024..16777216" },
    { BASE "limits:\n  max_stanza_size: 12XB\n",
      "6:20: option 'limits.max_stanza_size': expected an integer in 1024..16777216 "
      "(bytes, or with a K/KiB, M/MiB or G/GiB suffix), got '12XB'" },
    { BASE "limits:\n  max_depth: 1.5\n",
      "6:14: option 'limits.max_depth': expected an integer in 4..1024, got a fractional number '1.5'" },
    { BASE "limits:\n  max_depth: -3\n",
      "6:14: option 'limits.max_depth': expected an integer in 4..1024, got a negative number" },
    { BASE "limits:\n  max_depth:\n",
      "6:13: option 'limits.max_depth': expected an integer in 4..1024, got an empty value" },
    { BASE "limits:\n  max_depth: ''\n",
      "6:14: option 'limits.max_depth': expected an integer in 4..1024, got an empty value" },
    { BASE "limits:\n  max_depth: {a: 1}\n",
      "6:14: option 'limits.max_depth': expected an integer in 4..1024, got a map" },
    { BASE "limits:\n  max_depth: [1]\n",
      "6:14: option 'limits.max_depth': expected an integer in 4..1024, got a list" },
    { BASE "limits:\n  max_depth: 0x10\n",
      "6:14: option 'limits.max_depth': expected an integer in 4..1024, got '0x10'" },
    { BASE "limits:\n  max_depth: 99999999999999999999999\n",
      "6:14: option 'limits.max_depth': expected an integer in 4..1024" },
    { BASE "limits:\n  idle_timeout: 5min\n",
      "6:17: option 'limits.idle_timeout': expected a duration in 0..86400 seconds "
      "(or with an s, m, h or d suffix), got '5min'" },
    { BASE "limits:\n  idle_timeout: 2d\n",
      "6:17: option 'limits.idle_timeout': expected a duration in 0..86400 seconds" },
    { BASE "auth:\n  scram_iterations: 0\n",
      "6:21: option 'auth.scram_iterations': expected an integer in 1..1000000" },
    { BASE "modules:\n  ping:\n    offset: -101\n",
      "7:13: option 'modules.ping.offset': expected an integer in -100..100" },
    /* booleans, enums, strings */
    { BASE "auth:\n  allow_plain: maybe\n",
      "6:16: option 'auth.allow_plain': expected true or false (or yes/no, on/off), got 'maybe'" },
    { BASE "loglevel: verbose\n",
      "5:11: option 'loglevel': expected one of debug, info, notice, warn, error" },
    { BASE "loglevel: [info]\n",
      "5:11: option 'loglevel': expected one of debug, info, notice, warn, error, got a list" },
    { BASE "storage:\n  path:\n", "6:8: option 'storage.path': expected a path, got an empty value" },
    /* shapes */
    { "- hosts\n", "1:1: expected a map of options at the top level, got a list" },
    { BASE "storage: [sqlite]\n", "5:10: option 'storage': expected a map of options, got a list" },
    { BASE "certfiles: cert.pem\n", "5:12: option 'certfiles': expected a list of strings, got a string" },
    { "hosts: [{a: 1}]\n", "1:9: option 'hosts[0]': expected a string, got a map" },
    { BASE "modules:\n  ping: 5\n", "6:9: option 'modules.ping': expected a map of options, got a string" },
    { "hosts: [a.example]\nlisten: {module: c2s}\n",
      "2:9: option 'listen': expected a list of listeners, got a map" },
    /* hosts */
    { "listen: [{module: c2s, port: 1}]\n", "1:1: missing required option 'hosts'" },
    { "", "1:1: missing required option 'hosts'" },
    { "hosts: []\n", "1:8: option 'hosts': expected a non-empty list" },
    { "hosts:\n  - example.com\n  - ex ample.com\n",
      "3:5: option 'hosts[1]': 'ex ample.com' is not a valid domain name" },
    { "hosts: [a.example, 192.0.2.1]\n", "1:20: option 'hosts[1]': '192.0.2.1' is not a valid domain name" },
    { "hosts: [a.example, b.example, A.Example, b.example]\n",
      "1:31: option 'hosts[2]': duplicate host 'a.example' (also hosts[0])" },
    /* certfiles */
    { BASE "certfiles: [cert.pem, /nonexistent/x.pem]\n",
      "5:23: option 'certfiles[1]': cannot read '/nonexistent/x.pem': No such file or directory" },
    /* listeners */
    { "hosts: [a.example]\n", "1:1: option 'listen': at least one c2s listener is required" },
    { "hosts: [a.example]\nlisten:\n  - module: control\n    path: s\n",
      "3:3: option 'listen': at least one c2s listener is required" },
    { "hosts: [a.example]\nlisten:\n  - module: c2s\n    port: 5222\n  - module: s2s\n    port: 5269\n",
      "5:13: option 'listen[1].module': expected one of c2s, control, http" },
    { "hosts: [a.example]\nlisten:\n  - port: 5222\n", "3:5: missing required option 'listen[0].module'" },
    { "hosts: [a.example]\nlisten:\n  - module: c2s\n    tls: true\n",
      "3:5: option 'listen[0].port': required for module c2s" },
    { BASE "  - module: control\n", "5:5: option 'listen[1].path': required for module control" },
    { BASE "  - module: control\n    path: s\n    port: 1\n",
      "7:11: option 'listen[1].port': not valid for module control" },
    { BASE "  - module: http\n    port: 80\n    starttls_required: true\n",
      "7:24: option 'listen[1].starttls_required': not valid for module http" },
    { BASE "  - module: c2s\n    port: 5222\n    path: x\n",
      "7:11: option 'listen[1].path': not valid for module c2s" },
    { BASE "  - module: c2s\n    port: 70000\n",
      "6:11: option 'listen[1].port': expected an integer in 1..65535" },
    { BASE "  - module: c2s\n    ip: localhost\n    port: 5223\n",
      "6:9: option 'listen[1].ip': expected an IPv4 or IPv6 address such as 127.0.0.1 or ::" },
    { BASE "  - module: http\n    ip: 127.0.0.1\n    port: 5222\n",
      "5:5: option 'listen[1]': address 127.0.0.1:5222 is already used by listen[0]" },
    { BASE "  - {module: c2s, ip: '::1', port: 1}\n  - {module: c2s, ip: '0::1', port: 1}\n",
      "6:5: option 'listen[2]': address [0::1]:1 is already used by listen[1]" },
    { BASE "  - module: control\n    path: a\n  - module: control\n    path: b\n",
      "7:5: option 'listen[2]': only one control listener is allowed (listen[1] is one)" },
    { BASE "  - 5\n", "5:5: option 'listen[1]': expected a map of options, got a string" },
    /* modules */
    { BASE "modules:\n  ping:\n  nosuch: {}\n", "7:3: unknown module 'nosuch'" },
    { BASE "modules:\n  ping:\n    interval2: 5\n", "7:5: option 'modules.ping.interval2': unknown option" },
    { BASE "modules:\n  bare: {x: 1}\n", "6:10: option 'modules.bare.x': unknown option" },
    { BASE "modules:\n  bare:\n  bare:\n", "7:3: option 'modules.bare': given twice (first on line 6)" },
    { BASE "storage:\n  path: a\nstorage:\n  path: b\n", "7:1: option 'storage': given twice (first on line 5)" },
    /* YAML itself */
    { "hosts: [a.example]\n---\nhosts: [b.example]\n",
      "3:1: a configuration file holds one YAML document, found another" },
    { BASE "limits:\n  max_depth: 5\n\tmax_attrs: 5\n",
      "7:1: YAML syntax error: found a tab character that violates indentation "
      "(while scanning a plain scalar at 6:14)" },
    { "hosts: [a.example\n",
      "2:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 1:8)" },
};

static void errors(void **state)
{
    struct fixture *f = *state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
        failed += !check_error(f, error_cases[i].yaml, error_cases[i].error);
    assert_int_equal(failed, 0);
}

static void unreadable_file(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    assert_null(conf_load("/nonexistent/parley.yml", test_modules, &err));
    assert_string_equal(err.data, "cannot read '/nonexistent/parley.yml': No such file or directory");
    buf_clear(&err);
    assert_null(conf_load(f->dir, test_modules, &err));
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "cannot read '%s': Is a directory", f->dir);
    assert_string_equal(err.data, want);
    buf_release(&err);
}

struct number_case {
    const char *option;         /* under limits: */
    const char *text;
    unsigned long long value;
};

static const struct number_case number_cases[] = {
    { "shaper_rate", "0", 0 },
    { "shaper_rate", "1024", 1024 },
    { "shaper_rate", "1K", 1024 },
    { "shaper_rate", "64KiB", 65536 },
    { "shaper_rate", "3M", 3 << 20 },
    { "shaper_rate", "1 MiB", 1 << 20 },
    { "shaper_rate", "1G", 1 << 30 },
    { "shaper_rate", "1GiB", 1 << 30 },
    { "idle_timeout", "45", 45 },
    { "idle_timeout", "45s", 45 },
    { "idle_timeout", "5m", 300 },
    { "idle_timeout", "2h", 7200 },
    { "idle_timeout", "1d", 86400 },
    { "max_depth", "\"17\"", 17 },
};

static void suffixes(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(number_cases) / sizeof(number_cases[0]); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), BASE "limits:\n  %s: %s\n", number_cases[i].option,
                 number_cases[i].text);
        struct conf *c = load(f, yaml);
        if (!c)
            print_error("%s: %s\n", number_cases[i].text, f->err.data);
        assert_non_null(c);
        unsigned long long got = strcmp(number_cases[i].option, "shaper_rate") == 0
            ? c->limits.shaper_rate
            : strcmp(number_cases[i].option, "idle_timeout") == 0 ? c->limits.idle_timeout
                                                                   : c->limits.max_depth;
        assert_int_equal(got, number_cases[i].value);
        conf_free(c);
    }
    /* Over the bound by one suffix step: 1GiB + 1 is not allowed. */
    expect_error(f, BASE "limits:\n  shaper_rate: 2G\n",
                 "6:16: option 'limits.shaper_rate': expected an integer in 0..1073741824");
}

static void booleans(void **state)
{
    struct fixture *f = *state;
    static const struct { const char *text; bool value; } cases[] = {
        { "true", true }, { "false", false }, { "yes", true }, { "no", false },
        { "on", true }, { "off", false }, { "True", true }, { "NO", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), BASE "auth:\n  allow_plain: %s\n", cases[i].text);
        struct conf *c = load(f, yaml);
        assert_non_null(c);
        assert_int_equal(c->auth.allow_plain, cases[i].value);
        conf_free(c);
    }
}

/* `parleyd -c var/parley.yml` with `path: parley.db` means var/parley.db. */
static void paths_relative_to_config_dir(void **state)
{
    struct fixture *f = *state;
    char sub[PATH_MAX + 16], file[PATH_MAX + 32], cert[PATH_MAX + 32], want[PATH_MAX + 64];
    snprintf(sub, sizeof(sub), "%s/var", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(file, sizeof(file), "%s/parley.yml", sub);
    snprintf(cert, sizeof(cert), "%s/cert.pem", sub);
    write_file(cert, "x");
    write_file(file, BASE
               "certfiles: [cert.pem, ../cert.pem]\n"
               "storage:\n  path: db/parley.db\n"
               "listen:\n  - module: control\n    path: /abs/ctl.sock\n");
    /* (the second 'listen' is a repeated key: that must fail) */
    struct buf err = BUF_INIT;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->dir), 0);
    assert_null(conf_load("var/parley.yml", test_modules, &err));
    assert_string_equal(err.data, "var/parley.yml:8:1: option 'listen': given twice (first on line 2)");

    write_file(file, BASE
               "  - module: control\n    path: ctl.sock\n"
               "certfiles: [cert.pem, ../cert.pem]\n"
               "storage:\n  path: db/parley.db\n");
    buf_clear(&err);
    struct conf *c = conf_load("var/parley.yml", test_modules, &err);
    assert_int_equal(chdir(cwd), 0);
    if (!c)
        print_error("%s\n", err.data);
    assert_non_null(c);
    assert_string_equal(c->file, "var/parley.yml");
    snprintf(want, sizeof(want), "%s/var/db/parley.db", f->dir);
    assert_string_equal(c->storage.path, want);
    snprintf(want, sizeof(want), "%s/var/db", f->dir);
    assert_string_equal(c->data_dir, want);
    snprintf(want, sizeof(want), "%s/var/ctl.sock", f->dir);
    assert_string_equal(c->listen[1].path, want);
    assert_string_equal(c->certfiles.items[0], cert);
    snprintf(want, sizeof(want), "%s/var/../cert.pem", f->dir);
    assert_string_equal(c->certfiles.items[1], want);
    conf_free(c);
    buf_release(&err);
}

static void missing_certfile_is_resolved_in_message(void **state)
{
    struct fixture *f = *state;
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want),
             "5:13: option 'certfiles[0]': cannot read '%s/missing.pem': No such file or directory",
             f->dir);
    expect_error(f, BASE "certfiles: [missing.pem]\n", want);
    snprintf(want, sizeof(want), "5:13: option 'certfiles[0]': cannot read '%s/.': Is a directory",
             f->dir);
    expect_error(f, BASE "certfiles: [.]\n", want);
}

static void reference(void **state)
{
    (void)state;
    struct buf a = BUF_INIT, b = BUF_INIT;
    conf_reference(test_modules, &a);
    conf_reference(test_modules, &b);
    assert_string_equal(a.data, b.data);        /* deterministic */

    static const char *const expected[] = {
        "## Top level", "`loglevel`", "`data_dir`", "`hosts`", "`certfiles`",
        "## Listeners (`listen`)", "`module`", "`ip`", "`port`", "`tls`", "`starttls_required`",
        "## Storage (`storage`)", "`backend`", "`path`",
        "## Limits (`limits`)", "`max_stanza_size`", "`max_depth`", "`max_attrs`", "`shaper_rate`",
        "`max_connections_per_ip`", "`negotiation_timeout`", "`idle_timeout`",
        "## Authentication (`auth`)", "`scram_iterations`", "`allow_plain`", "`max_failures`",
        "`failure_window`", "`lockout`", "never lower it in production",
        "## Modules", "### `ping`", "Answers XEP-0199 pings", "`interval`", "`tags`", "`offset`",
        "### `bare`", "No options.",
        "| `max_stanza_size` | size | `256KiB` | 1024..16777216 bytes | yes |",
        "| `mode` | choice | `slow` | `fast`, `slow` | restart | Mode \\| with a pipe |",
        "| `hosts` | list of strings | required |",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        if (!strstr(a.data, expected[i]))
            print_error("missing from reference: %s\n", expected[i]);
        assert_non_null(strstr(a.data, expected[i]));
    }
    /* Modules appear in the order given. */
    assert_true(strstr(a.data, "### `ping`") < strstr(a.data, "### `bare`"));
    buf_release(&a);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_config, setup, teardown),
        cmocka_unit_test_setup_teardown(defaults_applied, setup, teardown),
        cmocka_unit_test(defaults_and_release),
        cmocka_unit_test_setup_teardown(errors, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(suffixes, setup, teardown),
        cmocka_unit_test_setup_teardown(booleans, setup, teardown),
        cmocka_unit_test_setup_teardown(paths_relative_to_config_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_certfile_is_resolved_in_message, setup, teardown),
        cmocka_unit_test(reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
