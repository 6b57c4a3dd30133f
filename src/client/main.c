/* sotto: the command-line client (docs/CLIENT.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "content.h"
#include "daemon.h"
#include "link.h"
#include "net.h"
#include "output.h"
#include "secret.h"
#include "sotto/err.h"
#include "store.h"

#define SOTTO_CLIENT_VERSION "0.1.0"
#define MS_PER_S 1000

static sotto_cstatus default_dir(char out[SOTTO_PATH_MAX], const char *given, char *err)
{
    const char *e;
    int n;
    if (given != NULL)
        n = snprintf(out, SOTTO_PATH_MAX, "%s", given);
    else if ((e = getenv("SOTTO_CONFIG")) != NULL && e[0] != '\0')
        n = snprintf(out, SOTTO_PATH_MAX, "%s", e);
    else if ((e = getenv("XDG_DATA_HOME")) != NULL && e[0] != '\0')
        n = snprintf(out, SOTTO_PATH_MAX, "%s/sotto", e);
    else if ((e = getenv("HOME")) != NULL && e[0] != '\0')
        n = snprintf(out, SOTTO_PATH_MAX, "%s/.local/share/sotto", e);
    else
        return sotto_cfail(err, SOTTO_C_USAGE, "no config directory: use -c DIR");
    if (n < 0 || n >= SOTTO_PATH_MAX - 32)
        return sotto_cfail(err, SOTTO_C_USAGE, "config directory path too long");
    return SOTTO_C_OK;
}

static sotto_cstatus open_client(sotto_client **c, const char *dir, char *err)
{
    sotto_store_secret *sec = sodium_malloc(sizeof *sec);
    if (sec == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    if (!sotto_cstore_exists(dir)) {
        sodium_free(sec);
        return sotto_cfail(err, SOTTO_C_NOT_FOUND, "no store in %s (run sotto -c %s register, or link, first)", dir, dir);
    }
    sotto_cstatus rc = sotto_secret_get(dir, 0, 0, sec, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_client_open(c, dir, sec, err);
    sotto_store_secret_wipe(sec);
    sodium_free(sec);
    return rc;
}

static sotto_cstatus cmd_register(const sotto_cli *a, const char *dir, char *err)
{
    sotto_cstatus rc = sotto_cstore_mkdir(dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    /* A store already there: an unfinished registration is repeated with
     * its own key (passphrase or key file); a registered one is refused. */
    int again = sotto_cstore_exists(dir);
    sotto_store_secret *sec = sodium_malloc(sizeof *sec);
    if (sec == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    rc = sotto_secret_get(dir, !again, again ? 0 : a->key_file, sec, err);
    if (rc == SOTTO_C_OK) {
        sotto_register_args ra = {.server = a->server, .username = a->username, .cacert = a->cacert, .pin = a->pin};
        rc = sotto_client_register(dir, &ra, sec, again ? 0 : a->key_file, err);
    }
    sotto_store_secret_wipe(sec);
    sodium_free(sec);
    if (rc == SOTTO_C_OK)
        printf("registered %s on %s\n", a->username, a->server);
    return rc;
}

/* The message text: -m, or all of standard input less one final newline. */
static sotto_cstatus read_text(const sotto_cli *a, uint8_t **out, size_t *len, char *err)
{
    *out = NULL;
    *len = 0;
    if (a->message != NULL) {
        size_t n = strlen(a->message);
        if (n > SOTTO_TEXT_MAX)
            return sotto_cfail(err, SOTTO_C_USAGE, "message longer than %u bytes", SOTTO_TEXT_MAX);
        *out = malloc(n + 1);
        if (*out == NULL)
            return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        memcpy(*out, a->message, n + 1);
        *len = n;
        return SOTTO_C_OK;
    }
    uint8_t *b = malloc(SOTTO_TEXT_MAX + 2);
    if (b == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    size_t n = fread(b, 1, SOTTO_TEXT_MAX + 2, stdin);
    if (ferror(stdin) || n == SOTTO_TEXT_MAX + 2) {
        free(b);
        return sotto_cfail(err, SOTTO_C_USAGE, "standard input: unreadable or longer than %u bytes", SOTTO_TEXT_MAX);
    }
    if (n > 0 && b[n - 1] == '\n')
        n--;
    if (n > SOTTO_TEXT_MAX) {
        free(b);
        return sotto_cfail(err, SOTTO_C_USAGE, "message longer than %u bytes", SOTTO_TEXT_MAX);
    }
    *out = b;
    *len = n;
    return SOTTO_C_OK;
}

static sotto_cstatus cmd_send(const sotto_cli *a, const char *dir, char *err)
{
    uint8_t *text;
    size_t len;
    sotto_cstatus rc = read_text(a, &text, &len, err);
    if (rc != SOTTO_C_OK)
        return rc;
    sotto_client *c;
    if ((rc = open_client(&c, dir, err)) != SOTTO_C_OK) {
        free(text);
        return rc;
    }
    int64_t ids[SOTTO_CLI_MAX_RECIPIENTS];
    size_t n = 0;
    /* Stored first, all of them; then sent. */
    for (size_t i = 0; i < a->n_recipients && rc == SOTTO_C_OK; i++)
        rc = sotto_client_queue(c, a->recipients[i], text, len, &ids[n++], err);
    sodium_memzero(text, len);
    free(text);
    if (rc == SOTTO_C_OK) {
        char ferr[SOTTO_CERR_LEN];
        sotto_cstatus fr = sotto_client_flush(c, ferr);
        for (size_t i = 0; i < n; i++) {
            int st = sotto_client_msg_state(c, ids[i]);
            if (st != SOTTO_MSG_SENT && rc == SOTTO_C_OK) {
                rc = fr != SOTTO_C_OK ? fr : SOTTO_C_SERVER;
                snprintf(err, SOTTO_CERR_LEN, "%s", fr != SOTTO_C_OK ? ferr : "message not sent");
            }
            if (st == SOTTO_MSG_PENDING)
                fprintf(stderr, "sotto: message to %s is stored and will be sent by the next run\n",
                        a->recipients[i]);
        }
    }
    sotto_client_close(c);
    return rc;
}

typedef struct recv_ctx {
    sotto_client *c;
    int json;
} recv_ctx;

static void print_msg(recv_ctx *r, const sotto_cmsg *m)
{
    if (r->json) {
        json_t *j = sotto_msg_json(m);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s != NULL) {
            puts(s);
            free(s);
        }
        json_decref(j);
    } else {
        sotto_msg_print(stdout, m);
    }
    fflush(stdout);
}

static void on_incoming(void *ctx, const sotto_incoming *in)
{
    recv_ctx *r = ctx;
    sotto_cmsg m = {.id = in->id, .peer = in->from, .outgoing = 0, .state = SOTTO_MSG_SHOWN, .ts = in->ts,
                    .body = in->text, .body_len = in->len};
    print_msg(r, &m);
    sotto_cstore_msg_set_state(sotto_client_store(r->c), in->id, SOTTO_MSG_SHOWN, NULL);
}

typedef struct id_list {
    int64_t *ids;
    size_t n, cap;
    recv_ctx *r;
} id_list;

static int print_new(void *ctx, const sotto_cmsg *m)
{
    id_list *l = ctx;
    print_msg(l->r, m);
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        int64_t *ni = realloc(l->ids, nc * sizeof *ni);
        if (ni == NULL)
            return SOTTO_C_FAILURE;
        l->ids = ni;
        l->cap = nc;
    }
    l->ids[l->n++] = m->id;
    return 0;
}

static sotto_cstatus cmd_receive(const sotto_cli *a, const char *dir, char *err)
{
    sotto_client *c;
    sotto_cstatus rc = open_client(&c, dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    recv_ctx r = {.c = c, .json = a->json};
    /* Messages stored by an earlier run that did not get to print them. */
    id_list l = {.r = &r};
    rc = sotto_cstore_msg_each(sotto_client_store(c), NULL, 0, SOTTO_MSG_NEW, print_new, &l, err);
    for (size_t i = 0; i < l.n && rc == SOTTO_C_OK; i++)
        rc = sotto_cstore_msg_set_state(sotto_client_store(c), l.ids[i], SOTTO_MSG_SHOWN, err);
    free(l.ids);
    if (rc == SOTTO_C_OK)
        rc = sotto_client_flush(c, err); /* what an earlier send left pending */
    if (rc == SOTTO_C_NOT_FOUND || rc == SOTTO_C_UNTRUSTED) {
        fprintf(stderr, "sotto: %s\n", err);
        rc = SOTTO_C_OK;
    }
    if (rc == SOTTO_C_OK)
        rc = sotto_client_refill(c, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_client_connect(c, err);
    /* The backlog first (until the server says its queue is empty, or goes
     * quiet for the network timeout), then --timeout seconds of silence. */
    int timeout_ms = a->timeout < 0 ? -1 : (int)(a->timeout * MS_PER_S);
    int backlog_ms = timeout_ms < 0 || timeout_ms > SOTTO_NET_TIMEOUT_MS ? timeout_ms : SOTTO_NET_TIMEOUT_MS;
    int backlog_done = 0;
    while (rc == SOTTO_C_OK) {
        sotto_poll_result res;
        rc = sotto_client_poll(c, backlog_done ? timeout_ms : backlog_ms, on_incoming, &r, &res, err);
        if (rc == SOTTO_C_OK && res.idle)
            backlog_done = 1;
        if (rc == SOTTO_C_OK && res.timed_out)
            break;
    }
    if (rc == SOTTO_C_OK) {
        char e2[SOTTO_CERR_LEN];
        if (sotto_client_refill(c, e2) != SOTTO_C_OK)
            fprintf(stderr, "sotto: prekey top-up failed: %s\n", e2);
    }
    sotto_client_close(c);
    return rc;
}

static int history_cb(void *ctx, const sotto_cmsg *m)
{
    print_msg(ctx, m);
    return 0;
}

static sotto_cstatus cmd_history(const sotto_cli *a, const char *dir, char *err)
{
    char peer[SOTTO_PEER_MAX + 1];
    sotto_cstatus rc = sotto_username_canonical(peer, a->peer, err);
    if (rc != SOTTO_C_OK)
        return rc;
    sotto_client *c;
    if ((rc = open_client(&c, dir, err)) != SOTTO_C_OK)
        return rc;
    recv_ctx r = {.c = c, .json = a->json};
    rc = sotto_cstore_msg_each(sotto_client_store(c), peer, -1, -1, history_cb, &r, err);
    sotto_client_close(c);
    return rc;
}

static sotto_cstatus cmd_safety(const sotto_cli *a, const char *dir, char *err)
{
    sotto_client *c;
    sotto_cstatus rc = open_client(&c, dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    sotto_safety s;
    rc = sotto_client_safety(c, a->peer, &s, err);
    if (rc == SOTTO_C_OK && a->json) {
        json_t *j = sotto_safety_json(&s);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (t == NULL)
            rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        else
            puts(t);
        free(t);
    } else if (rc == SOTTO_C_OK) {
        sotto_safety_print(stdout, &s);
    }
    sotto_client_close(c);
    return rc;
}

static sotto_cstatus cmd_trust(const sotto_cli *a, const char *dir, char *err)
{
    sotto_client *c;
    sotto_cstatus rc = open_client(&c, dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    sotto_trust_result r;
    /* Released messages stay new: the next receive prints them. */
    rc = sotto_client_trust(c, a->peer, a->safety_number, NULL, NULL, &r, err);
    if (rc == SOTTO_C_OK && r.unchanged)
        printf("the identity key of %s has not changed; nothing to accept\n", r.peer);
    else if (rc == SOTTO_C_OK && !r.new_key)
        printf("the safety number of %s matches: their identity key is verified\n", r.peer);
    else if (rc == SOTTO_C_OK)
        printf("the identity key of %s is now trusted (%s); %d held message%s stored\n", r.peer,
               sotto_trust_name(r.trust), r.released, r.released == 1 ? "" : "s");
    if (rc == SOTTO_C_OK && r.still_held > 0)
        printf("%lld message%s from yet another key of %s still held (see: sotto safety %s)\n",
               (long long)r.still_held, r.still_held == 1 ? "" : "s", r.peer, r.peer);
    sotto_client_close(c);
    return rc;
}

static void show_code(void *ctx, const char *code)
{
    (void)ctx;
    printf("%s\n", code);
    fflush(stdout);
    fprintf(stderr, "sotto: on a device of the account run: sotto add-device %s\n"
                    "sotto: waiting for it (up to 10 minutes)...\n", code);
}

static sotto_cstatus cmd_link(const sotto_cli *a, const char *dir, char *err)
{
    sotto_cstatus rc = sotto_cstore_mkdir(dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (sotto_cstore_exists(dir))
        return sotto_cfail(err, SOTTO_C_CONFLICT, "%s already holds a store: link a new device into a new directory",
                           dir);
    sotto_store_secret *sec = sodium_malloc(sizeof *sec);
    if (sec == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    rc = sotto_secret_get(dir, 1, a->key_file, sec, err);
    char name[SOTTO_PEER_MAX + 1];
    uint32_t dev = 0;
    if (rc == SOTTO_C_OK) {
        sotto_link_args la = {.server = a->server, .cacert = a->cacert, .pin = a->pin, .name = a->device_name};
        rc = sotto_client_link(dir, &la, sec, a->key_file, show_code, NULL, name, &dev, err);
    }
    sotto_store_secret_wipe(sec);
    sodium_free(sec);
    if (rc == SOTTO_C_OK)
        printf("linked: %s device %u on %s\n", name, dev, a->server);
    return rc;
}

static sotto_cstatus cmd_add_device(const sotto_cli *a, const char *dir, char *err)
{
    sotto_client *c;
    sotto_cstatus rc = open_client(&c, dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    rc = sotto_client_add_device(c, a->link_code, err);
    if (rc == SOTTO_C_OK)
        printf("sent the account to the new device; it finishes linking on its own (see: sotto devices)\n");
    sotto_client_close(c);
    return rc;
}

static sotto_cstatus cmd_devices(const sotto_cli *a, const char *dir, char *err)
{
    sotto_client *c;
    sotto_cstatus rc = open_client(&c, dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    sotto_device_info d[SOTTO_DEVICES_MAX];
    size_t n = 0;
    char label[SOTTO_DEVICE_NAME_MAX + 1];
    rc = sotto_client_device_name(c, label, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_client_devices(c, d, &n, err);
    for (size_t i = 0; i < n && rc == SOTTO_C_OK; i++) {
        if (a->json) {
            json_t *j = json_pack("{s:i,s:I,s:b}", "id", (int)d[i].id, "created", (json_int_t)d[i].created, "current",
                                  d[i].current);
            if (j != NULL && d[i].current && label[0] != '\0')
                json_object_set_new(j, "name", json_string(label));
            char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (t == NULL) {
                rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
                break;
            }
            puts(t);
            free(t);
        } else {
            char day[32] = "?";
            time_t t = (time_t)d[i].created;
            struct tm tm;
            if (gmtime_r(&t, &tm) != NULL)
                strftime(day, sizeof day, "%Y-%m-%d", &tm);
            if (!d[i].current)
                printf("device %u  added %s\n", d[i].id, day);
            else if (label[0] == '\0')
                printf("device %u  added %s  (this device)\n", d[i].id, day);
            else
                printf("device %u  added %s  (this device: %s)\n", d[i].id, day, label);
        }
    }
    sotto_client_close(c);
    return rc;
}

static sotto_cstatus cmd_unlink(const sotto_cli *a, const char *dir, char *err)
{
    sotto_client *c;
    sotto_cstatus rc = open_client(&c, dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    rc = sotto_client_unlink(c, a->device_id, err);
    if (rc == SOTTO_C_OK)
        printf("device %u removed\n", a->device_id);
    sotto_client_close(c);
    return rc;
}

static sotto_cstatus cmd_daemon(const char *dir, char *err)
{
    sotto_client *c;
    sotto_cstatus rc = open_client(&c, dir, err);
    if (rc != SOTTO_C_OK)
        return rc;
    rc = sotto_daemon_run(c, dir, err);
    sotto_client_close(c);
    return rc;
}

int main(int argc, char **argv)
{
    char err[SOTTO_CERR_LEN] = "";
    sotto_cli a;
    umask(077);
    signal(SIGPIPE, SIG_IGN);
    sotto_cstatus rc = sotto_cli_parse(&a, argc, argv, err);
    if (rc != SOTTO_C_OK) {
        fprintf(stderr, "sotto: %s\n", err);
        if (a.cmd != SOTTO_CMD_NONE)
            fprintf(stderr, "try: sotto %s --help\n", sotto_cli_cmd_name(a.cmd));
        return (int)rc;
    }
    if (a.version) {
        printf("sotto %s\n", SOTTO_CLIENT_VERSION);
        return 0;
    }
    if (a.help) {
        sotto_cli_help(stdout, a.cmd);
        return 0;
    }
    if (sotto_init() != SOTTO_OK) {
        fprintf(stderr, "sotto: crypto libraries failed to initialise\n");
        return SOTTO_C_FAILURE;
    }
    char dir[SOTTO_PATH_MAX];
    if ((rc = default_dir(dir, a.dir, err)) == SOTTO_C_OK) {
        switch (a.cmd) {
        case SOTTO_CMD_REGISTER: rc = cmd_register(&a, dir, err); break;
        case SOTTO_CMD_SEND: rc = cmd_send(&a, dir, err); break;
        case SOTTO_CMD_RECEIVE: rc = cmd_receive(&a, dir, err); break;
        case SOTTO_CMD_HISTORY: rc = cmd_history(&a, dir, err); break;
        case SOTTO_CMD_DAEMON: rc = cmd_daemon(dir, err); break;
        case SOTTO_CMD_SAFETY: rc = cmd_safety(&a, dir, err); break;
        case SOTTO_CMD_TRUST: rc = cmd_trust(&a, dir, err); break;
        case SOTTO_CMD_LINK: rc = cmd_link(&a, dir, err); break;
        case SOTTO_CMD_ADD_DEVICE: rc = cmd_add_device(&a, dir, err); break;
        case SOTTO_CMD_DEVICES: rc = cmd_devices(&a, dir, err); break;
        case SOTTO_CMD_UNLINK: rc = cmd_unlink(&a, dir, err); break;
        case SOTTO_CMD_NONE: rc = SOTTO_C_USAGE; break;
        }
    }
    if (rc != SOTTO_C_OK)
        fprintf(stderr, "sotto: %s\n", err[0] ? err : sotto_cstatus_name(rc));
    return (int)rc;
}
