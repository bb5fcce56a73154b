/*
 * test_mam_ids.c - mam_archived_ids() (modules/mam.h), which a Bind2
 * (XEP-0386) offline purge will rely on: a message may be purged only if
 * this says its XEP-0359 stanza id is in the user's archive.  A wrong
 * 'present' loses messages, so each answer is checked: ids of the user's
 * archive, of another user's, unknown ids, repeated ids, no ids, and a
 * host without MAM (all absent, ok false).
 *
 * It needs a real server context (storage thread, modules per host): one
 * is built from a generated config in a temporary directory, with a
 * self-signed certificate, and its loop is run until the answers come.
 * Rows are appended straight to the archive's log area ("mam").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/server.h"
#include "modules/mam.h"
#include "modules/modules.h"
#include "storage/store.h"

struct fixture {
    char dir[64];
    struct server *srv;
};

struct answer {
    bool done;
    bool ok;
    bool present[8];
    size_t n;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void run_until(struct server *srv, const bool *flag)
{
    for (int i = 0; !*flag && i < 1000; i++)
        event_base_loop(srv->base, EVLOOP_ONCE);
    assert_true(*flag);
}

static void appended(const struct store_result *res, void *ud)
{
    assert_int_equal(res->status, STORE_OK);
    ++*(int *)ud;
}

static void archive(struct server *srv, const char *user, const char *id, int *count)
{
    static const char msg[] = "<message xmlns='jabber:client'/>";
    struct store_log_append_args a = {
        .user = user, .host = "localhost", .area = "mam", .id = id,
        .with = "peer@localhost", .stamp = 1000000,
        .value = msg, .value_len = sizeof(msg) - 1,
    };
    store_log_append(srv->store, &a, appended, count);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pl-mamids-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -keyout key.pem -out crt.pem -days 2 -subj /CN=localhost "
             ">/dev/null 2>&1 && cat crt.pem key.pem > cert.pem", f->dir);
    if (system(cmd) != 0)
        return -1;
    char path[128];
    snprintf(path, sizeof(path), "%s/parley.yml", f->dir);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    fprintf(fp,
            "loglevel: error\n"
            "hosts: [localhost]\n"
            "certfiles: [%s/cert.pem]\n"
            "data_dir: %s\n"
            "listen:\n"
            "  - {module: c2s, ip: 127.0.0.1, port: %d}\n"
            "storage: {backend: sqlite, path: %s/parley.db}\n"
            "modules: {mam: {}}\n",
            f->dir, f->dir, free_port(), f->dir);
    fclose(fp);
    struct buf err = BUF_INIT;
    struct conf *c = conf_load(path, modules_all(), &err);
    if (c)
        f->srv = server_new(c, &err);
    if (!f->srv)
        fprintf(stderr, "cannot build the server: %s\n", err.data ? err.data : "?");
    buf_release(&err);
    if (!f->srv)
        return -1;
    int count = 0;
    archive(f->srv, "alice", "A1", &count);
    archive(f->srv, "alice", "A2", &count);
    archive(f->srv, "bob", "B1", &count);
    for (int i = 0; count < 3 && i < 1000; i++)
        event_base_loop(f->srv->base, EVLOOP_ONCE);
    *state = f;
    return count == 3 ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    server_free(f->srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static void answered(struct server *srv, bool ok, const bool *present, size_t n, void *ud)
{
    (void)srv;
    struct answer *a = ud;
    assert_false(a->done);      /* exactly once */
    assert_true(n <= 8);
    a->done = true;
    a->ok = ok;
    a->n = n;
    memcpy(a->present, present, n * sizeof(*present));
}

static void ask(struct fixture *f, const char *user, const char *const *ids, size_t n,
                struct answer *out)
{
    memset(out, 0, sizeof(*out));
    mam_archived_ids(f->srv, user, ids, n, answered, out);
    run_until(f->srv, &out->done);
    assert_int_equal(out->n, n);
}

static void test_present_and_absent(void **state)
{
    static const char *const ids[] = { "A2", "B1", "nope", "A1", "a1" };
    static const bool want[] = { true, false, false, true, false };
    struct answer a;
    ask(*state, "alice@localhost", ids, 5, &a);
    assert_true(a.ok);
    for (size_t i = 0; i < 5; i++)
        if (a.present[i] != want[i])
            fail_msg("id '%s': present %d, expected %d", ids[i], a.present[i], want[i]);
}

static void test_other_user(void **state)
{
    static const char *const ids[] = { "A1", "B1" };
    struct answer a;
    ask(*state, "bob@localhost", ids, 2, &a);
    assert_true(a.ok);
    assert_false(a.present[0]);     /* alice's, not bob's */
    assert_true(a.present[1]);
}

static void test_repeated_id(void **state)
{
    static const char *const ids[] = { "A1", "A1", "x" };
    struct answer a;
    ask(*state, "alice@localhost", ids, 3, &a);
    assert_true(a.ok);
    assert_true(a.present[0]);
    assert_true(a.present[1]);
    assert_false(a.present[2]);
}

static void test_no_ids(void **state)
{
    struct answer a;
    ask(*state, "alice@localhost", NULL, 0, &a);
    assert_true(a.ok);
}

static void test_without_mam(void **state)
{
    /* Not a host of ours, so no MAM instance; and not an account. */
    static const char *const ids[] = { "A1" };
    struct answer a;
    ask(*state, "alice@elsewhere.test", ids, 1, &a);
    assert_false(a.ok);
    assert_false(a.present[0]);
    ask(*state, "localhost", ids, 1, &a);
    assert_false(a.ok);
    assert_false(a.present[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_present_and_absent),
        cmocka_unit_test(test_other_user),
        cmocka_unit_test(test_repeated_id),
        cmocka_unit_test(test_no_ids),
        cmocka_unit_test(test_without_mam),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
