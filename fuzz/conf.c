/*
 * conf.c - libFuzzer target for the YAML configuration loader
 * (src/core/conf.c, src/core/acl.c; ARCHITECTURE.md "Configuration").
 *
 * The input is a whole parley.yml.  conf_load() takes a file name and has
 * no buffer API, so the input is written to an anonymous memfd and loaded
 * as /proc/self/fd/N (nothing touches the disk, no temp file to clean up).
 * Relative paths then resolve against /proc/self/fd, which is harmless.
 * Two test modules with one option of every conf_type are compiled in, so
 * the 'modules:' section exercises every generic setter.
 *
 * Checks: a load either succeeds or leaves a non-empty message in err
 * (never both, never neither); a loaded conf has at least one host, and a
 * reload of the same text gives the same result.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/conf.h"
#include "parley/module.h"

struct fz_mod_conf {
    bool flag;                  /* CONF_BOOL */
    long long delta;            /* CONF_INT */
    unsigned count;             /* CONF_UINT */
    size_t size;                /* CONF_SIZE */
    unsigned interval;          /* CONF_SECONDS */
    char *name;                 /* CONF_STRING */
    char *file;                 /* CONF_PATH */
    struct conf_strlist tags;   /* CONF_STRLIST */
    int mode;                   /* CONF_ENUM */
};

static const char *const fz_modes[] = { "fast", "slow", NULL };

static const struct conf_option fz_opts[] = {
    { "flag", CONF_BOOL, offsetof(struct fz_mod_conf, flag), "yes", 0, 0, NULL, 0, "b" },
    { "delta", CONF_INT, offsetof(struct fz_mod_conf, delta), "-5", -100, 100, NULL, 0, "i" },
    { "count", CONF_UINT, offsetof(struct fz_mod_conf, count), "3", 1, 10, NULL, 0, "u" },
    { "size", CONF_SIZE, offsetof(struct fz_mod_conf, size), "1KiB", 0, 1 << 20, NULL, 0, "z" },
    { "interval", CONF_SECONDS, offsetof(struct fz_mod_conf, interval), "5m", 1, 86400,
      NULL, 0, "s" },
    { "name", CONF_STRING, offsetof(struct fz_mod_conf, name), NULL, 0, 0, NULL,
      CONF_REQUIRED, "n" },
    { "file", CONF_PATH, offsetof(struct fz_mod_conf, file), NULL, 0, 0, NULL, 0, "p" },
    { "tags", CONF_STRLIST, offsetof(struct fz_mod_conf, tags), "[a, b]", 0, 0, NULL, 0, "l" },
    { "mode", CONF_ENUM, offsetof(struct fz_mod_conf, mode), "slow", 0, 0, fz_modes,
      CONF_RESTART, "e" },
    CONF_END
};

static const struct pl_module fz_mod = {
    "fz", "fuzz module", sizeof(struct fz_mod_conf), fz_opts, NULL, NULL,
};
static const struct pl_module fz_bare = { "bare", "no options", 0, NULL, NULL, NULL };
static const struct pl_module *const fz_modules[] = { &fz_mod, &fz_bare, NULL };

/* Loads the text once; returns the conf (or NULL) and leaves err filled. */
static struct conf *load_text(const uint8_t *data, size_t size, struct buf *err)
{
    int fd = memfd_create("parley-fuzz.yml", MFD_CLOEXEC);
    FZ_CHECK(fd >= 0);
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        FZ_CHECK(n > 0);
        off += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct conf *c = conf_load(path, fz_modules, err);
    close(fd);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf err = BUF_INIT;
    struct conf *c = load_text(data, size, &err);
    if (c) {
        FZ_CHECK(err.len == 0);
        FZ_CHECK(c->hosts.count >= 1);
        FZ_CHECK(c->storage.path != NULL && c->data_dir != NULL);
    } else {
        FZ_CHECK(err.len > 0);
    }

    struct buf err2 = BUF_INIT;
    struct conf *c2 = load_text(data, size, &err2);
    FZ_CHECK((c == NULL) == (c2 == NULL));
    if (c) {
        FZ_CHECK(c2->hosts.count == c->hosts.count && c2->nmodules == c->nmodules &&
                 c2->nlisten == c->nlisten);
    }
    conf_free(c2);
    conf_free(c);
    buf_release(&err2);
    buf_release(&err);
    return 0;
}
