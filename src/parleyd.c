/*
 * parleyd.c - the daemon's main(): command line, config, server.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/command.h"
#include "core/buf.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/server.h"
#include "modules/modules.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "dev"
#endif

static void usage(FILE *out)
{
    fprintf(out,
        "usage: parleyd [-c FILE] [--check-config]\n"
        "       parleyd --config-reference | --commands-reference | --version\n"
        "\n"
        "Parley XMPP server.\n"
        "\n"
        "  -c, --config FILE       configuration file (default: $PARLEY_CONFIG,\n"
        "                          else /etc/parley/parley.yml)\n"
        "  -t, --check-config      validate the configuration and exit:\n"
        "                          0 if valid, 1 with file:line:col: message if not\n"
        "      --config-reference  print the configuration reference (markdown)\n"
        "      --commands-reference print the admin command reference (markdown)\n"
        "  -V, --version           print the version and exit\n"
        "  -h, --help              this text\n"
        "\n"
        "parleyd runs in the foreground and logs to standard error.\n"
        "SIGTERM or SIGINT stop it; SIGHUP reloads the configuration.\n");
}

int main(int argc, char **argv)
{
    enum { OPT_CONFREF = 256, OPT_CMDREF };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 't' },
        { "config-reference", no_argument, NULL, OPT_CONFREF },
        { "commands-reference", no_argument, NULL, OPT_CMDREF },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *file = getenv("PARLEY_CONFIG");
    if (!file || !*file)
        file = "/etc/parley/parley.yml";
    int check = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            file = optarg;
            break;
        case 't':
            check = 1;
            break;
        case OPT_CONFREF: {
            struct buf b = BUF_INIT;
            conf_reference(modules_all(), &b);
            fwrite(b.data, 1, b.len, stdout);
            buf_release(&b);
            return 0;
        }
        case OPT_CMDREF: {
            struct buf b = BUF_INIT;
            cmd_reference(&b);
            fwrite(b.data, 1, b.len, stdout);
            buf_release(&b);
            return 0;
        }
        case 'V':
            printf("parleyd %s\n", PARLEY_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "parleyd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct buf err = BUF_INIT;
    struct conf *conf = conf_load(file, modules_all(), &err);
    if (!conf) {
        fprintf(stderr, "parleyd: %s\n", err.data);
        buf_release(&err);
        return 1;
    }
    if (check) {
        printf("%s: configuration is valid\n", file);
        conf_free(conf);
        return 0;
    }
    struct server *srv = server_new(conf, &err);
    if (!srv) {
        fprintf(stderr, "parleyd: %s\n", err.data);
        buf_release(&err);
        return 1;
    }
    int rc = server_run(srv);
    server_free(srv);
    buf_release(&err);
    log_notice("parleyd stopped");
    return rc < 0 ? 1 : 0;
}
