/*
 * parleyctl.c - the command-line client of parleyd's control socket
 * (ARCHITECTURE.md principle 7; wire format in src/admin/ctl_proto.h;
 * user documentation in docs/parleyctl.md).
 *
 *   parleyctl [-c FILE | -s SOCKET] COMMAND [ARG...]
 *   parleyctl [-c FILE | -s SOCKET] --batch < commands.txt
 *
 * The commands themselves live in the server's registry (parleyctl help);
 * this program only frames arguments, prints results and maps the status
 * to an exit code.  --batch pipelines every line of stdin on one
 * connection without waiting for each reply, which is what makes bulk
 * registration fast (the server derives keys and commits in parallel
 * with our writing).
 */
#include "admin/command.h"
#include "admin/ctl_proto.h"
#include "core/buf.h"
#include "core/conf.h"
#include "core/mem.h"
#include "modules/modules.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/parley/parley.yml"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,            /* the command failed */
    EXIT_USAGE = 2,             /* bad flags, or the server says usage error */
    EXIT_CONNECT = 3,           /* cannot reach or talk to the server */
    EXIT_CONFIG = 4,            /* cannot load the config / no control listener */
};

/* Requests in flight in --batch mode: keeps the server's per-connection
 * queue (128) busy without unbounded memory on either side. */
#define BATCH_WINDOW 256
/* Encoded requests buffered before we stop reading stdin. */
#define BATCH_OUT_MAX (256 * 1024)

static const char usage_text[] =
    "usage: parleyctl [-c FILE | -s SOCKET] COMMAND [ARG...]\n"
    "       parleyctl [-c FILE | -s SOCKET] --batch < FILE\n"
    "\n"
    "Runs admin commands on a running parleyd through its control socket.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    read the control socket path from this config\n"
    "                       (default: $PARLEY_CONFIG, else " DEFAULT_CONFIG ")\n"
    "  -s, --socket SOCKET  connect to this control socket; no config is read\n"
    "      --batch          read commands from stdin, one per line, arguments\n"
    "                       separated by spaces or tabs (no quoting: an argument\n"
    "                       cannot contain blanks); empty lines and lines\n"
    "                       starting with '#' are skipped.  Prints one line per\n"
    "                       command: 'LINE: ok[: RESULT]' on stdout, or\n"
    "                       'parleyctl: line LINE: MESSAGE' on stderr\n"
    "  -h, --help           show this help\n"
    "\n"
    "commands: 'parleyctl help' lists them, 'parleyctl help COMMAND' describes one.\n"
    "\n"
    "exit status: 0 ok, 1 command failed, 2 usage error, 3 cannot reach the\n"
    "server, 4 bad configuration.\n";

static int usage_error(const char *msg)
{
    fprintf(stderr, "parleyctl: %s\ntry 'parleyctl --help'\n", msg);
    return EXIT_USAGE;
}

/* --- finding and reaching the server ------------------------------------ */

/* The path of the first control listener in the config.  Returns a heap
 * string, or NULL after printing why. */
static char *socket_from_config(const char *file)
{
    struct buf err = BUF_INIT;
    struct conf *conf = conf_load(file, modules_all(), &err);
    if (!conf) {
        fprintf(stderr, "parleyctl: %s\n",
                err.len ? err.data : "cannot load the configuration");
        buf_release(&err);
        return NULL;
    }
    buf_release(&err);
    char *path = NULL;
    for (size_t i = 0; i < conf->nlisten; i++) {
        if (conf->listen[i].module == LISTEN_CONTROL && conf->listen[i].path) {
            path = pl_strdup(conf->listen[i].path);
            break;
        }
    }
    if (!path)
        fprintf(stderr, "parleyctl: '%s' has no control listener (a 'listen' "
                "entry with 'module: control' and a 'path'); use -s SOCKET\n", file);
    conf_free(conf);
    return path;
}

/* Returns a connected socket or -1 after printing why. */
static int connect_to(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "parleyctl: cannot connect to '%s': %s (is parleyd running?)\n",
                path, strerror(ENAMETOOLONG));
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "parleyctl: cannot connect to '%s': %s (is parleyd running?)\n",
                path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* --- results ------------------------------------------------------------- */

static bool is_usage_status(int status)
{
    return status == CMD_E_USAGE || status == CMD_E_UNKNOWN_COMMAND;
}

/* Single-command mode: text as is, lists one item per line, errors to
 * stderr.  Returns the exit code. */
static int print_reply(const struct ctl_msg *m)
{
    if (m->status != CMD_OK) {
        fputs("parleyctl: ", stderr);
        if (m->nitems)
            fwrite(m->items[0], 1, m->lens[0], stderr);
        fputc('\n', stderr);
        return is_usage_status(m->status) ? EXIT_USAGE : EXIT_FAILED;
    }
    for (size_t i = 0; i < m->nitems; i++) {
        fwrite(m->items[i], 1, m->lens[i], stdout);
        if (m->lens[i] == 0 || m->items[i][m->lens[i] - 1] != '\n')
            putchar('\n');
    }
    return EXIT_OK;
}

/* Batch mode: one line per command; newlines inside become "; ". */
static void print_flat(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') {
            if (i + 1 < len)
                fputs("; ", f);
        } else {
            fputc(s[i], f);
        }
    }
}

/* Successes go to stdout as "LINE: ok[: RESULT]" (list items separated
 * by spaces); failures to stderr as "parleyctl: line LINE: MESSAGE", as in
 * single-command mode.  stdout is flushed first so that both streams on
 * one terminal stay in input order. */
static void print_batch_error(unsigned long line, const char *msg, size_t len)
{
    fflush(stdout);
    fprintf(stderr, "parleyctl: line %lu: ", line);
    print_flat(stderr, msg, len);
    fputc('\n', stderr);
}

static void print_batch_reply(unsigned long line, const struct ctl_msg *m)
{
    if (m->status != CMD_OK) {
        print_batch_error(line, m->nitems ? m->items[0] : "",
                          m->nitems ? m->lens[0] : 0);
        return;
    }
    printf("%lu: ok", line);
    for (size_t i = 0; i < m->nitems; i++) {
        fputs(i ? " " : ": ", stdout);
        print_flat(stdout, m->items[i], m->lens[i]);
    }
    putchar('\n');
}

/* --- single command ------------------------------------------------------ */

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int run_one(int fd, const char *path, int argc, char **argv)
{
    struct buf req = BUF_INIT;
    if (ctl_encode_request(&req, (size_t)argc, (const char *const *)argv, NULL) < 0) {
        buf_release(&req);
        fprintf(stderr, "parleyctl: too many arguments (at most %d) or an "
                "argument longer than %d bytes\n", CTL_MAX_ARGS - 1, CTL_MAX_ARG_LEN);
        return EXIT_USAGE;
    }
    int rc = write_all(fd, req.data, req.len);
    explicit_bzero(req.data, req.len);  /* may hold a password */
    buf_release(&req);
    if (rc < 0) {
        fprintf(stderr, "parleyctl: cannot send to '%s': %s\n", path, strerror(errno));
        return EXIT_CONNECT;
    }

    struct ctl_decoder dec;
    ctl_decoder_init(&dec, CTL_MSG_REPLY);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "parleyctl: connection to '%s' %s before the reply\n",
                    path, n < 0 ? strerror(errno) : "closed");
            ctl_decoder_release(&dec);
            return EXIT_CONNECT;
        }
        size_t used;
        enum ctl_decode_rc drc = ctl_decode(&dec, chunk, (size_t)n, &used);
        if (drc == CTL_DECODE_ERROR) {
            fprintf(stderr, "parleyctl: bad reply from '%s': %s\n", path, dec.error);
            ctl_decoder_release(&dec);
            return EXIT_CONNECT;
        }
        if (drc == CTL_DECODE_DONE)
            break;
    }
    struct ctl_msg m;
    ctl_decoder_take(&dec, &m);
    ctl_decoder_release(&dec);
    rc = print_reply(&m);
    ctl_msg_release(&m);
    return rc;
}

/* --- batch --------------------------------------------------------------- */

/* One command of the batch, in input order.  Lines refused locally are
 * queued too, so their error prints in order with the server's replies. */
struct pending {
    unsigned long line;
    const char *local_error;    /* static; NULL when sent to the server */
};

struct batch {
    int fd;
    const char *path;
    struct pending fifo[BATCH_WINDOW];
    size_t head, count;         /* ring buffer over fifo */
    size_t remote;              /* entries sent to the server */
    struct buf out;             /* encoded requests not yet written */
    size_t out_off;
    unsigned long line;
    bool eof;
    bool failed;
    char *linebuf;
    size_t linecap;
};

static void push(struct batch *b, unsigned long line, const char *local_error)
{
    b->fifo[(b->head + b->count) % BATCH_WINDOW] =
        (struct pending){ line, local_error };
    b->count++;
    if (!local_error)
        b->remote++;
}

/* Prints the local errors waiting at the head of the FIFO. */
static void drain_local(struct batch *b)
{
    while (b->count && b->fifo[b->head].local_error) {
        const char *msg = b->fifo[b->head].local_error;
        print_batch_error(b->fifo[b->head].line, msg, strlen(msg));
        b->failed = true;
        b->head = (b->head + 1) % BATCH_WINDOW;
        b->count--;
    }
}

/* Reads one stdin line and queues it (or notes EOF). */
static void read_line(struct batch *b)
{
    ssize_t n = getline(&b->linebuf, &b->linecap, stdin);
    if (n < 0) {
        b->eof = true;
        return;
    }
    b->line++;
    const char *argv[CTL_MAX_ARGS];
    size_t argc = 0;
    bool too_many = false;
    for (char *tok = strtok(b->linebuf, " \t\r\n"); tok;
         tok = strtok(NULL, " \t\r\n")) {
        if (argc == 0 && tok[0] == '#')
            return;                     /* comment */
        if (argc == CTL_MAX_ARGS) {
            too_many = true;
            break;
        }
        argv[argc++] = tok;
    }
    if (argc == 0)
        return;                         /* blank line */
    if (too_many || ctl_encode_request(&b->out, argc, argv, NULL) < 0) {
        push(b, b->line, "too many arguments or an argument too long");
        return;
    }
    push(b, b->line, NULL);
}

static int run_batch(int fd, const char *path)
{
    struct batch b = { .fd = fd, .path = path };
    struct ctl_decoder dec;
    char chunk[65536];
    int rc = EXIT_OK;

    ctl_decoder_init(&dec, CTL_MSG_REPLY);
    for (;;) {
        /* Fill the window: stdin is a file or pipe, read as the server
         * keeps up. */
        while (!b.eof && b.count < BATCH_WINDOW && b.out.len - b.out_off < BATCH_OUT_MAX)
            read_line(&b);
        drain_local(&b);
        if (b.eof && b.count == 0)
            break;

        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (b.out_off < b.out.len)
            pfd.events |= POLLOUT;
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "parleyctl: poll: %s\n", strerror(errno));
            rc = EXIT_CONNECT;
            break;
        }
        if (pfd.revents & POLLOUT) {
            ssize_t n = send(fd, b.out.data + b.out_off, b.out.len - b.out_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                fprintf(stderr, "parleyctl: cannot send to '%s': %s\n", path,
                        strerror(errno));
                rc = EXIT_CONNECT;
                break;
            }
            if (n > 0)
                b.out_off += (size_t)n;
            if (b.out_off == b.out.len) {
                explicit_bzero(b.out.data, b.out.len);  /* passwords */
                buf_clear(&b.out);
                b.out_off = 0;
            }
        }
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            fprintf(stderr, "parleyctl: connection to '%s' %s with %zu replies "
                    "outstanding\n", path, n < 0 ? strerror(errno) : "closed",
                    b.remote);
            rc = EXIT_CONNECT;
            break;
        }
        size_t off = 0;
        while (off < (size_t)n && rc == EXIT_OK) {
            size_t used;
            enum ctl_decode_rc drc = ctl_decode(&dec, chunk + off, (size_t)n - off, &used);
            off += used;
            if (drc == CTL_DECODE_ERROR || (drc == CTL_DECODE_DONE && b.remote == 0)) {
                fprintf(stderr, "parleyctl: bad reply from '%s': %s\n", path,
                        drc == CTL_DECODE_ERROR ? dec.error : "unexpected reply");
                rc = EXIT_CONNECT;
                break;
            }
            if (drc == CTL_DECODE_MORE)
                break;
            struct ctl_msg m;
            ctl_decoder_take(&dec, &m);
            drain_local(&b);            /* the head is now the remote one */
            print_batch_reply(b.fifo[b.head].line, &m);
            if (m.status != CMD_OK)
                b.failed = true;
            b.head = (b.head + 1) % BATCH_WINDOW;
            b.count--;
            b.remote--;
            ctl_msg_release(&m);
            drain_local(&b);
        }
        if (rc != EXIT_OK)
            break;
    }
    fflush(stdout);
    ctl_decoder_release(&dec);
    if (b.out.data)
        explicit_bzero(b.out.data, b.out.len);
    buf_release(&b.out);
    free(b.linebuf);
    if (rc == EXIT_OK && b.failed)
        rc = EXIT_FAILED;
    return rc;
}

/* --- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "socket", required_argument, NULL, 's' },
        { "batch", no_argument, NULL, 'b' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *sock = NULL;
    bool batch = false;
    int opt;

    /* '+': stop at the command, so its arguments may start with '-'. */
    while ((opt = getopt_long(argc, argv, "+c:s:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sock = optarg;
            break;
        case 'b':
            batch = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            fputs("try 'parleyctl --help'\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (config && sock)
        return usage_error("-c and -s exclude each other");
    if (batch && optind < argc)
        return usage_error("--batch reads commands from stdin, not from the "
                           "command line");
    if (!batch && optind >= argc)
        return usage_error("no command given ('parleyctl help' lists them)");

    char *path;
    if (sock) {
        path = pl_strdup(sock);
    } else {
        if (!config)
            config = getenv("PARLEY_CONFIG");
        if (!config || !*config)
            config = DEFAULT_CONFIG;
        path = socket_from_config(config);
        if (!path)
            return EXIT_CONFIG;
    }

    /* A server that vanishes mid-write must give an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    int fd = connect_to(path);
    if (fd < 0) {
        free(path);
        return EXIT_CONNECT;
    }
    int rc = batch ? run_batch(fd, path)
                   : run_one(fd, path, argc - optind, argv + optind);
    close(fd);
    free(path);
    return rc;
}
