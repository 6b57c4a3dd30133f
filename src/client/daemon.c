/* sotto client: the daemon and its JSON-RPC 2.0 server (see daemon.h). */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "content.h"
#include "link.h"
#include "output.h"
#include "store.h"

typedef struct rpc_client {
    int fd;
    char *buf;
    size_t len;
} rpc_client;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------- JSON-RPC ---------- */

static char *reply(json_t *id, json_t *result, int code, const char *msg, int app_code)
{
    json_t *r = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    if (result != NULL) {
        json_object_set_new(r, "result", result);
    } else {
        json_t *e = json_pack("{s:i,s:s}", "code", code, "message", msg);
        if (app_code > 0)
            json_object_set_new(e, "data", json_pack("{s:i,s:s}", "code", app_code, "name",
                                                     sotto_cstatus_name((sotto_cstatus)app_code)));
        json_object_set_new(r, "error", e);
    }
    json_object_set(r, "id", id ? id : json_null());
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return s;
}

static int status_of(sotto_client *c, int64_t id)
{
    return sotto_client_msg_state(c, id);
}

static char *rpc_send(sotto_client *c, json_t *id, json_t *params)
{
    json_t *one = json_object_get(params, "recipient"), *many = json_object_get(params, "recipients");
    json_t *msg = json_object_get(params, "message");
    const char *names[SOTTO_CLI_MAX_RECIPIENTS];
    size_t n = 0;
    if (json_is_string(one) && many == NULL) {
        names[n++] = json_string_value(one);
    } else if (json_is_array(many) && one == NULL && json_array_size(many) > 0 &&
               json_array_size(many) <= sizeof names / sizeof names[0]) {
        for (size_t i = 0; i < json_array_size(many); i++) {
            if (!json_is_string(json_array_get(many, i)))
                return reply(id, NULL, -32602, "recipients: an array of usernames", SOTTO_C_USAGE);
            names[n++] = json_string_value(json_array_get(many, i));
        }
    } else {
        return reply(id, NULL, -32602, "give recipient (a username) or recipients (an array)", SOTTO_C_USAGE);
    }
    if (!json_is_string(msg))
        return reply(id, NULL, -32602, "message: a string", SOTTO_C_USAGE);
    char err[SOTTO_CERR_LEN];
    int64_t ids[sizeof names / sizeof names[0]];
    for (size_t i = 0; i < n; i++) {
        sotto_cstatus rc = sotto_client_queue(c, names[i], (const uint8_t *)json_string_value(msg),
                                              json_string_length(msg), &ids[i], err);
        if (rc != SOTTO_C_OK)
            return reply(id, NULL, rc == SOTTO_C_USAGE ? -32602 : SOTTO_RPC_APP_ERROR, err, (int)rc);
    }
    sotto_cstatus fr = sotto_client_flush(c, err);
    json_t *res = json_array();
    for (size_t i = 0; i < n; i++) {
        int st = status_of(c, ids[i]);
        json_array_append_new(res, json_pack("{s:s,s:I,s:s}", "recipient", names[i], "id", (json_int_t)ids[i],
                                             "status", st == SOTTO_MSG_SENT ? "sent"
                                                       : st == SOTTO_MSG_PENDING ? "pending" : "failed"));
    }
    json_t *result = json_pack("{s:o}", "results", res);
    if (fr != SOTTO_C_OK)
        json_object_set_new(result, "error", json_string(err));
    return reply(id, result, 0, NULL, 0);
}

typedef struct hist_ctx {
    json_t *arr;
} hist_ctx;

static int hist_cb(void *ctx, const sotto_cmsg *m)
{
    hist_ctx *h = ctx;
    json_t *j = sotto_msg_json(m);
    if (j == NULL)
        return SOTTO_C_FAILURE;
    json_array_append_new(h->arr, j);
    return 0;
}

static char *rpc_history(sotto_client *c, json_t *id, json_t *params)
{
    json_t *u = json_object_get(params, "username"), *lim = json_object_get(params, "limit");
    char peer[SOTTO_PEER_MAX + 1], err[SOTTO_CERR_LEN];
    if (!json_is_string(u) || sotto_username_canonical(peer, json_string_value(u), err) != SOTTO_C_OK)
        return reply(id, NULL, -32602, "username: a username", SOTTO_C_USAGE);
    json_int_t limit = SOTTO_RPC_HISTORY_MAX;
    if (lim != NULL) {
        if (!json_is_integer(lim) || json_integer_value(lim) < 1 || json_integer_value(lim) > SOTTO_RPC_HISTORY_MAX)
            return reply(id, NULL, -32602, "limit: 1 to 10000", SOTTO_C_USAGE);
        limit = json_integer_value(lim);
    }
    hist_ctx h = {.arr = json_array()};
    sotto_cstatus rc = sotto_cstore_msg_each(sotto_client_store(c), peer, -1, -1, hist_cb, &h, err);
    if (rc != SOTTO_C_OK) {
        json_decref(h.arr);
        return reply(id, NULL, SOTTO_RPC_APP_ERROR, err, (int)rc);
    }
    /* Keep the newest `limit`, oldest first. */
    while ((json_int_t)json_array_size(h.arr) > limit)
        json_array_remove(h.arr, 0);
    return reply(id, h.arr, 0, NULL, 0);
}

typedef struct daemon_ctx daemon_ctx;
static void notify(void *ctx, const sotto_incoming *in);

static char *rpc_safety(sotto_client *c, json_t *id, json_t *params)
{
    json_t *u = json_object_get(params, "username");
    char err[SOTTO_CERR_LEN];
    if (!json_is_string(u))
        return reply(id, NULL, -32602, "username: a username", SOTTO_C_USAGE);
    if (c == NULL)
        return reply(id, NULL, -32603, "internal error", SOTTO_C_FAILURE);
    sotto_safety s;
    sotto_cstatus rc = sotto_client_safety(c, json_string_value(u), &s, err);
    if (rc != SOTTO_C_OK)
        return reply(id, NULL, rc == SOTTO_C_USAGE ? -32602 : SOTTO_RPC_APP_ERROR, err, (int)rc);
    json_t *j = sotto_safety_json(&s);
    if (j == NULL)
        return reply(id, NULL, SOTTO_RPC_APP_ERROR, "out of memory", SOTTO_C_FAILURE);
    return reply(id, j, 0, NULL, 0);
}

/* Released messages are notified like received ones when d is there. */
static char *rpc_trust(sotto_client *c, daemon_ctx *d, json_t *id, json_t *params)
{
    json_t *u = json_object_get(params, "username"), *num = json_object_get(params, "safetyNumber");
    json_t *acc = json_object_get(params, "acceptNewKey");
    char err[SOTTO_CERR_LEN];
    if (!json_is_string(u))
        return reply(id, NULL, -32602, "username: a username", SOTTO_C_USAGE);
    int by_number = json_is_string(num), by_accept = json_is_true(acc);
    if ((num != NULL && !by_number) || (acc != NULL && !json_is_boolean(acc)) || by_number == by_accept)
        return reply(id, NULL, -32602, "give safetyNumber (60 digits) or acceptNewKey: true", SOTTO_C_USAGE);
    if (c == NULL)
        return reply(id, NULL, -32603, "internal error", SOTTO_C_FAILURE);
    sotto_trust_result r;
    sotto_cstatus rc = sotto_client_trust(c, json_string_value(u), by_number ? json_string_value(num) : NULL,
                                          d != NULL ? notify : NULL, d, &r, err);
    if (rc != SOTTO_C_OK)
        return reply(id, NULL, rc == SOTTO_C_USAGE ? -32602 : SOTTO_RPC_APP_ERROR, err, (int)rc);
    json_t *j = json_pack("{s:s,s:s,s:b,s:i,s:I}", "username", r.peer, "trust", sotto_trust_name(r.trust), "changed",
                          r.new_key, "released", r.released, "stillHeld", (json_int_t)r.still_held);
    if (j == NULL)
        return reply(id, NULL, SOTTO_RPC_APP_ERROR, "out of memory", SOTTO_C_FAILURE);
    return reply(id, j, 0, NULL, 0);
}

/* The account's devices as the server has them (params ignored). */
static char *rpc_devices(sotto_client *c, json_t *id)
{
    char err[SOTTO_CERR_LEN];
    if (c == NULL)
        return reply(id, NULL, -32603, "internal error", SOTTO_C_FAILURE);
    sotto_device_info dev[SOTTO_DEVICES_MAX];
    size_t n = 0;
    sotto_cstatus rc = sotto_client_devices(c, dev, &n, err);
    if (rc != SOTTO_C_OK)
        return reply(id, NULL, SOTTO_RPC_APP_ERROR, err, (int)rc);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i,s:I,s:b}", "id", (int)dev[i].id, "created",
                                             (json_int_t)dev[i].created, "current", dev[i].current));
    return reply(id, arr, 0, NULL, 0);
}

/* Removes another device of the account: {"id": N}. */
static char *rpc_unlink(sotto_client *c, json_t *id, json_t *params)
{
    char err[SOTTO_CERR_LEN];
    json_t *v = json_object_get(params, "id");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 127)
        return reply(id, NULL, -32602, "id: a device id 1 to 127", SOTTO_C_USAGE);
    if (c == NULL)
        return reply(id, NULL, -32603, "internal error", SOTTO_C_FAILURE);
    sotto_cstatus rc = sotto_client_unlink(c, (uint32_t)json_integer_value(v), err);
    if (rc != SOTTO_C_OK)
        return reply(id, NULL, rc == SOTTO_C_USAGE ? -32602 : SOTTO_RPC_APP_ERROR, err, (int)rc);
    return reply(id, json_pack("{s:I}", "removed", json_integer_value(v)), 0, NULL, 0);
}

static char *rpc_dispatch(sotto_client *c, daemon_ctx *d, const char *line, size_t len)
{
    json_error_t je;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (req == NULL)
        return reply(NULL, NULL, -32700, "parse error", 0);
    json_t *id = json_object_get(req, "id");
    const char *method = json_string_value(json_object_get(req, "method"));
    json_t *params = json_object_get(req, "params");
    const char *ver = json_string_value(json_object_get(req, "jsonrpc"));
    char *out = NULL;
    int valid_id = id == NULL || json_is_string(id) || json_is_integer(id) || json_is_null(id);
    if (!json_is_object(req) || ver == NULL || strcmp(ver, "2.0") != 0 || method == NULL || !valid_id ||
        (params != NULL && !json_is_object(params) && !json_is_array(params))) {
        out = reply(valid_id ? id : NULL, NULL, -32600, "invalid request", 0);
    } else if (strcmp(method, "version") == 0) {
        out = reply(id, json_pack("{s:s}", "version", "0.1.0"), 0, NULL, 0);
    } else if (strcmp(method, "devices") == 0) {
        out = rpc_devices(c, id);
    } else if (strcmp(method, "unlink") == 0) {
        out = json_is_object(params) ? rpc_unlink(c, id, params)
                                     : reply(id, NULL, -32602, "params: an object", SOTTO_C_USAGE);
    } else if (strcmp(method, "send") == 0 || strcmp(method, "history") == 0 || strcmp(method, "safety") == 0 ||
               strcmp(method, "trust") == 0) {
        if (!json_is_object(params))
            out = reply(id, NULL, -32602, "params: an object", SOTTO_C_USAGE);
        else if (strcmp(method, "safety") == 0)
            out = rpc_safety(c, id, params);
        else if (strcmp(method, "trust") == 0)
            out = rpc_trust(c, d, id, params);
        else if (c == NULL)
            out = reply(id, NULL, -32603, "internal error", SOTTO_C_FAILURE);
        else if (strcmp(method, "send") == 0)
            out = rpc_send(c, id, params);
        else
            out = rpc_history(c, id, params);
    } else {
        out = reply(id, NULL, -32601, "method not found", 0);
    }
    if (id == NULL && json_is_object(req) && method != NULL) { /* a notification: no answer */
        free(out);
        out = NULL;
    }
    json_decref(req);
    return out;
}

char *sotto_rpc_handle(sotto_client *c, const char *line, size_t len)
{
    return rpc_dispatch(c, NULL, line, len);
}

/* ---------- the socket server ---------- */

static int write_line(int fd, const char *s)
{
    size_t n = strlen(s);
    struct iovec iov[2] = {{(void *)s, n}, {"\n", 1}};
    size_t total = n + 1, done = 0;
    while (done < total) {
        ssize_t w = writev(fd, iov, 2);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
        size_t k = (size_t)w;
        for (int i = 0; i < 2; i++) {
            size_t t = k < iov[i].iov_len ? k : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + t;
            iov[i].iov_len -= t;
            k -= t;
        }
    }
    return 0;
}

static void client_drop(rpc_client *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    free(cl->buf);
    cl->fd = -1;
    cl->buf = NULL;
    cl->len = 0;
}

struct daemon_ctx {
    sotto_client *c;
    rpc_client clients[SOTTO_RPC_CLIENTS_MAX];
};

static void notify(void *ctx, const sotto_incoming *in)
{
    daemon_ctx *d = ctx;
    char ts[SOTTO_TIME_LEN];
    sotto_time_iso(ts, in->ts);
    json_t *n = json_pack("{s:s,s:s,s:{s:I,s:s,s:i,s:I,s:s,s:s%}}", "jsonrpc", "2.0", "method", "receive", "params",
                          "id", (json_int_t)in->id, "from", in->from, "device", (int)in->device, "timestamp",
                          (json_int_t)in->ts, "time", ts, "message", (const char *)in->text, in->len);
    char *s = n ? json_dumps(n, JSON_COMPACT) : NULL;
    json_decref(n);
    int told = 0;
    for (int i = 0; s != NULL && i < SOTTO_RPC_CLIENTS_MAX; i++) {
        if (d->clients[i].fd < 0)
            continue;
        if (write_line(d->clients[i].fd, s) == 0)
            told++;
        else
            client_drop(&d->clients[i]);
    }
    free(s);
    /* Unless someone saw it, the next `receive` shows it. */
    if (told > 0)
        sotto_cstore_msg_set_state(sotto_client_store(d->c), in->id, SOTTO_MSG_SHOWN, NULL);
}

static int listen_on(const char *path, char *err)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        sotto_cfail(err, SOTTO_C_USAGE, "socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    /* We hold the store lock: a socket file here is a stale one. */
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t old = umask(077);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    umask(old);
    if (ok)
        ok = chmod(path, 0600) == 0 && listen(fd, SOTTO_RPC_CLIENTS_MAX) == 0;
    if (!ok) {
        sotto_cfail(err, SOTTO_C_FAILURE, "cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void accept_client(daemon_ctx *d, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < SOTTO_RPC_CLIENTS_MAX; i++) {
        if (d->clients[i].fd < 0) {
            struct timeval tv = {.tv_sec = SOTTO_RPC_SEND_TIMEOUT_S};
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            d->clients[i].fd = fd;
            return;
        }
    }
    write_line(fd, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"too many clients\"},\"id\":null}");
    close(fd);
}

static void client_read(daemon_ctx *d, rpc_client *cl)
{
    char tmp[16384];
    ssize_t r = read(cl->fd, tmp, sizeof tmp);
    if (r <= 0) {
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        client_drop(cl);
        return;
    }
    if (cl->len + (size_t)r > SOTTO_RPC_LINE_MAX) {
        write_line(cl->fd, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"request too large\"},"
                           "\"id\":null}");
        client_drop(cl);
        return;
    }
    char *nb = realloc(cl->buf, cl->len + (size_t)r);
    if (nb == NULL) {
        client_drop(cl);
        return;
    }
    cl->buf = nb;
    memcpy(cl->buf + cl->len, tmp, (size_t)r);
    cl->len += (size_t)r;
    char *nl;
    while (cl->fd >= 0 && (nl = memchr(cl->buf, '\n', cl->len)) != NULL) {
        size_t ll = (size_t)(nl - cl->buf);
        if (ll > 0) {
            char *out = rpc_dispatch(d->c, d, cl->buf, ll);
            if (out != NULL && write_line(cl->fd, out) != 0) {
                free(out);
                client_drop(cl);
                return;
            }
            free(out);
        }
        memmove(cl->buf, nl + 1, cl->len - ll - 1);
        cl->len -= ll + 1;
    }
}

sotto_cstatus sotto_daemon_run(sotto_client *c, const char *dir, char *err)
{
    char path[SOTTO_PATH_MAX];
    sotto_cstatus rc = sotto_cstore_path(path, dir, SOTTO_DAEMON_SOCKET, err);
    if (rc != SOTTO_C_OK)
        return rc;
    int lfd = listen_on(path, err);
    if (lfd < 0)
        return SOTTO_C_FAILURE;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    daemon_ctx d = {.c = c};
    for (int i = 0; i < SOTTO_RPC_CLIENTS_MAX; i++)
        d.clients[i].fd = -1;
    fprintf(stderr, "sotto daemon: %s listening on %s\n", sotto_client_username(c), path);
    int connected = 0, backoff = SOTTO_RECONNECT_MIN_MS;
    int64_t next_try = 0, next_tick = mono_ms() + SOTTO_DAEMON_TICK_MS;
    char e2[SOTTO_CERR_LEN];
    while (!stop_flag && rc == SOTTO_C_OK) {
        int64_t now = mono_ms();
        if (!connected && now >= next_try) {
            sotto_cstatus r = sotto_client_connect(c, e2);
            if (r == SOTTO_C_OK) {
                connected = 1;
                backoff = SOTTO_RECONNECT_MIN_MS;
                fprintf(stderr, "sotto daemon: connected\n");
                if (sotto_client_refill(c, e2) != SOTTO_C_OK)
                    fprintf(stderr, "sotto daemon: prekey top-up failed: %s\n", e2);
                if (sotto_client_flush(c, e2) != SOTTO_C_OK)
                    fprintf(stderr, "sotto daemon: %s\n", e2);
            } else if (r == SOTTO_C_AUTH || r == SOTTO_C_UNTRUSTED) {
                rc = sotto_cfail(err, r, "%s", e2);
                break;
            } else {
                fprintf(stderr, "sotto daemon: %s; retrying in %d s\n", e2, backoff / 1000);
                next_try = now + backoff;
                backoff = backoff * 2 > SOTTO_RECONNECT_MAX_MS ? SOTTO_RECONNECT_MAX_MS : backoff * 2;
            }
        }
        if (connected && now >= next_tick) {
            next_tick = now + SOTTO_DAEMON_TICK_MS;
            if (sotto_client_flush(c, e2) != SOTTO_C_OK)
                fprintf(stderr, "sotto daemon: %s\n", e2);
        }
        struct pollfd pfd[SOTTO_RPC_CLIENTS_MAX + 2];
        int np = 0, ws_slot = -1;
        pfd[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        if (connected) {
            ws_slot = np;
            pfd[np++] = (struct pollfd){.fd = sotto_client_ws_fd(c), .events = POLLIN};
        }
        int base = np;
        for (int i = 0; i < SOTTO_RPC_CLIENTS_MAX; i++)
            pfd[np++] = (struct pollfd){.fd = d.clients[i].fd, .events = POLLIN};
        int timeout = SOTTO_DAEMON_TICK_MS;
        if (!connected)
            timeout = next_try > now ? (int)(next_try - now) : 0;
        if (connected && sotto_client_ws_pending(c))
            timeout = 0;
        int pr = poll(pfd, (nfds_t)np, timeout);
        if (pr < 0 && errno != EINTR) {
            rc = sotto_cfail(err, SOTTO_C_FAILURE, "poll: %s", strerror(errno));
            break;
        }
        if (pr < 0)
            continue;
        if (connected && (sotto_client_ws_pending(c) || (pfd[ws_slot].revents & (POLLIN | POLLHUP | POLLERR)))) {
            sotto_poll_result res;
            sotto_cstatus r = sotto_client_poll(c, 0, notify, &d, &res, e2);
            if (r == SOTTO_C_OK && res.devices_changed)
                fprintf(stderr, "sotto daemon: the account's devices changed\n");
            if (r == SOTTO_C_NETWORK || r == SOTTO_C_SERVER || r == SOTTO_C_AUTH) {
                fprintf(stderr, "sotto daemon: %s; reconnecting\n", e2);
                sotto_client_disconnect(c);
                connected = 0;
                next_try = mono_ms() + backoff;
            } else if (r != SOTTO_C_OK) {
                rc = sotto_cfail(err, r, "%s", e2);
                break;
            }
        }
        if (pfd[0].revents & POLLIN)
            accept_client(&d, lfd);
        for (int i = 0; i < SOTTO_RPC_CLIENTS_MAX; i++) {
            if (d.clients[i].fd >= 0 && pfd[base + i].fd == d.clients[i].fd &&
                (pfd[base + i].revents & (POLLIN | POLLHUP | POLLERR)))
                client_read(&d, &d.clients[i]);
        }
    }
    for (int i = 0; i < SOTTO_RPC_CLIENTS_MAX; i++)
        client_drop(&d.clients[i]);
    close(lfd);
    unlink(path);
    fprintf(stderr, "sotto daemon: stopped\n");
    return rc;
}
