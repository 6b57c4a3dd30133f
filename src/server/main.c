/* sottod: the relay server's command line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "config.h"
#include "disclose.h"
#include "log.h"
#include "server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sottod --data DIR --listen HOST:PORT [--config FILE] [--log-level LEVEL]\n"
            "       sottod disclose USERNAME --data DIR\n"
            "       sottod --help\n"
            "\n"
            "Runs the sotto relay: TLS 1.3, HTTP/1.1 + WebSocket, queues in DIR.\n"
            "  --data DIR          all state: sottod.db, sottod.crt, sottod.key (0600)\n"
            "  --listen HOST:PORT  an IP address and port, e.g. 127.0.0.1:8443 or [::1]:8443\n"
            "  --config FILE       key = value settings (default DIR/sottod.conf if present)\n"
            "  --log-level LEVEL   debug, info, warn or error (default info)\n"
            "On first start without a certificate a self-signed one is created; its SHA-256\n"
            "fingerprint is printed for clients to pin. SIGTERM drains and exits 0.\n"
            "disclose prints everything the server holds about one account.\n"
            "Settings and limits: docs/SERVER.md.\n");
}

static int cmd_disclose(int argc, char **argv)
{
    const char *user = NULL, *data = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (argv[i][0] != '-' && user == NULL)
            user = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (user == NULL || data == NULL) {
        usage(stderr);
        return 2;
    }
    sotto_store *st = NULL;
    sotto_store_err e = sotto_store_open(&st, data);
    if (e != SOTTO_STORE_OK) {
        fprintf(stderr, "sottod: %s: %s\n", data, sotto_store_strerror(e));
        return 1;
    }
    e = sotto_disclose_account(st, user, stdout);
    sotto_store_close(st);
    if (e != SOTTO_STORE_OK) {
        fprintf(stderr, "sottod: disclose %s: %s\n", user, sotto_store_strerror(e));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "disclose") == 0)
        return cmd_disclose(argc, argv);

    sotto_config cfg, cli;
    sotto_config_defaults(&cfg);
    const char *config_file = NULL, *data = NULL, *listen = NULL, *level = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sottod: %s needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--data") == 0)
            data = argv[++i];
        else if (strcmp(a, "--listen") == 0)
            listen = argv[++i];
        else if (strcmp(a, "--config") == 0)
            config_file = argv[++i];
        else if (strcmp(a, "--log-level") == 0)
            level = argv[++i];
        else {
            fprintf(stderr, "sottod: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    char err[512];
    /* Command-line values win over the file: apply the file first. */
    if (data != NULL && sotto_config_set(&cfg, "data", data, err, sizeof err) != 0) {
        fprintf(stderr, "sottod: %s\n", err);
        return 2;
    }
    if (data != NULL && mkdir(data, 0700) != 0) {
        struct stat st;
        if (stat(data, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "sottod: %s: cannot create the data directory\n", data);
            return 1;
        }
    }
    if (config_file != NULL) {
        if (sotto_config_load_file(&cfg, config_file, 0, err, sizeof err) != 0) {
            fprintf(stderr, "sottod: %s\n", err);
            return 2;
        }
    } else if (data != NULL) {
        char path[SOTTOD_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/sottod.conf", data);
        if (sotto_config_load_file(&cfg, path, 1, err, sizeof err) != 0) {
            fprintf(stderr, "sottod: %s\n", err);
            return 2;
        }
    }
    cli = cfg;
    if ((data != NULL && sotto_config_set(&cli, "data", data, err, sizeof err) != 0) ||
        (listen != NULL && sotto_config_set(&cli, "listen", listen, err, sizeof err) != 0) ||
        (level != NULL && sotto_config_set(&cli, "log_level", level, err, sizeof err) != 0) ||
        sotto_config_finish(&cli, err, sizeof err) != 0) {
        fprintf(stderr, "sottod: %s\n", err);
        usage(stderr);
        return 2;
    }
    cfg = cli;
    if (data == NULL && mkdir(cfg.data_dir, 0700) != 0) {
        struct stat st;
        if (stat(cfg.data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "sottod: %s: cannot create the data directory\n", cfg.data_dir);
            return 1;
        }
    }
    sotto_log_set_level((sotto_log_level)cfg.log_level);
    if (sodium_init() < 0) {
        fprintf(stderr, "sottod: libsodium failed to initialise\n");
        return 1;
    }
    setenv("UV_THREADPOOL_SIZE", SOTTOD_THREADPOOL_SIZE, 0);

    uv_loop_t *loop = uv_default_loop();
    static sotto_srv srv;
    if (sotto_srv_init(&srv, loop, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "sottod: %s\n", err);
        sotto_srv_free(&srv);
        return 1;
    }
    printf("sottod: certificate sha256 fingerprint %s\n", srv.fingerprint);
    printf("sottod: listening on %s:%u\n", cfg.listen_host, cfg.listen_port);
    fflush(stdout);
    sotto_log(SOTTO_LOG_INFO, "started", " port=%u max_connections=%u", cfg.listen_port,
              cfg.max_connections);
    uv_run(loop, UV_RUN_DEFAULT);
    sotto_srv_free(&srv);
    uv_loop_close(loop);
    sotto_log(SOTTO_LOG_INFO, "stopped", NULL);
    return 0;
}
