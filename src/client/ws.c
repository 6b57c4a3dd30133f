/* sotto client: the WebSocket client (wslay) over a TLS connection (see net.h). */
#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "net_internal.h"

#define WS_KEY_BYTES 16
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 */
#define WS_CLOSE_WAIT_MS 1000

typedef struct ws_msg {
    struct ws_msg *next;
    size_t len;
    char data[];
} ws_msg;

struct sotto_ws {
    sotto_conn *c;
    wslay_event_context_ptr ctx;
    ws_msg *head, *tail;
    int failed;
};

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    sotto_ws *w = user;
    sotto_conn *c = w->c;
    if (c->rlen > 0) {
        size_t n = c->rlen < len ? c->rlen : len;
        memcpy(buf, c->rb, n);
        sotto_net_consume(c, n);
        return (ssize_t)n;
    }
    size_t n = 0;
    int r = SSL_read_ex(c->ssl, buf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        ERR_clear_error();
        w->failed = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)flags;
    sotto_ws *w = user;
    size_t n = 0;
    int r = SSL_write_ex(w->c->ssl, data, len, &n);
    if (r == 1)
        return (ssize_t)n;
    int e = SSL_get_error(w->c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        ERR_clear_error();
        w->failed = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    randombytes_buf(buf, len);
    return 0;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    (void)ctx;
    sotto_ws *w = user;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return;
    ws_msg *m = malloc(sizeof *m + arg->msg_length + 1);
    if (m == NULL) {
        w->failed = 1;
        return;
    }
    m->next = NULL;
    m->len = arg->msg_length;
    memcpy(m->data, arg->msg, arg->msg_length);
    m->data[m->len] = '\0';
    if (w->tail != NULL)
        w->tail->next = m;
    else
        w->head = m;
    w->tail = m;
}

sotto_cstatus sotto_ws_open(sotto_ws **out, const sotto_http *h, const char *path, char *err)
{
    *out = NULL;
    if (strlen(path) > SOTTO_HTTP_PATH_MAX || path[0] != '/')
        return sotto_cfail(err, SOTTO_C_USAGE, "bad WebSocket path");
    sotto_ws *w = calloc(1, sizeof *w);
    if (w == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    sotto_cstatus rc = sotto_conn_open(&w->c, &h->url, &h->trust, h->timeout_ms, err);
    if (rc != SOTTO_C_OK) {
        free(w);
        return rc;
    }
    uint8_t keyb[WS_KEY_BYTES];
    char key[sodium_base64_ENCODED_LEN(WS_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    randombytes_buf(keyb, sizeof keyb);
    sodium_bin2base64(key, sizeof key, keyb, sizeof keyb, sodium_base64_VARIANT_ORIGINAL);
    char req[SOTTO_HTTP_PATH_MAX + SOTTO_URL_PREFIX_MAX + SOTTO_HTTP_AUTH_MAX + 512];
    char host[SOTTO_URL_HOST_MAX + SOTTO_URL_PORT_MAX + 4];
    sotto_net_host_header(&h->url, host, sizeof host);
    int n = snprintf(req, sizeof req,
                     "GET %s%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: sotto/0.1\r\n"
                     "%s%s%s\r\n",
                     h->url.prefix, path, host, key, h->auth[0] ? "Authorization: " : "", h->auth,
                     h->auth[0] ? "\r\n" : "");
    int64_t deadline = sotto_net_deadline_in(h->timeout_ms);
    char *head = NULL;
    int any = 0, status = 0;
    if (n < 0 || (size_t)n >= sizeof req)
        rc = sotto_cfail(err, SOTTO_C_USAGE, "request head too long");
    else
        rc = sotto_net_write_all(w->c, req, (size_t)n, deadline, err);
    sodium_memzero(req, sizeof req);
    if (rc == SOTTO_C_OK)
        rc = sotto_net_read_head(w->c, &head, deadline, &any, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_net_parse_status(head, &status, err);
    if (rc == SOTTO_C_OK && status != 101) {
        rc = sotto_http_status(status);
        if (rc == SOTTO_C_OK)
            rc = SOTTO_C_SERVER;
        sotto_cfail(err, rc, "WebSocket upgrade refused: HTTP %d", status);
    }
    if (rc == SOTTO_C_OK) {
        /* Sec-WebSocket-Accept = base64(SHA-1(key || GUID)). */
        char cat[64], want[64], got[64];
        unsigned char md[20];
        snprintf(cat, sizeof cat, "%s%s", key, WS_GUID);
        SHA1((const unsigned char *)cat, strlen(cat), md);
        sodium_bin2base64(want, sizeof want, md, sizeof md, sodium_base64_VARIANT_ORIGINAL);
        if (!sotto_net_header_value(head, "Sec-WebSocket-Accept", got, sizeof got) || strcmp(got, want) != 0)
            rc = sotto_cfail(err, SOTTO_C_SERVER, "WebSocket upgrade: bad Sec-WebSocket-Accept");
    }
    free(head);
    if (rc != SOTTO_C_OK) {
        sotto_ws_close(w);
        return rc;
    }
    struct wslay_event_callbacks cbs = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .genmask_callback = ws_genmask_cb,
        .on_msg_recv_callback = ws_msg_cb,
    };
    if (wslay_event_context_client_init(&w->ctx, &cbs, w) != 0) {
        sotto_ws_close(w);
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    }
    wslay_event_config_set_max_recv_msg_length(w->ctx, SOTTO_WS_MESSAGE_MAX);
    *out = w;
    return SOTTO_C_OK;
}

static sotto_cstatus ws_flush(sotto_ws *w, int64_t deadline, char *err)
{
    while (wslay_event_want_write(w->ctx)) {
        if (wslay_event_send(w->ctx) != 0 || w->failed)
            return sotto_cfail(err, SOTTO_C_NETWORK, "WebSocket connection lost");
        if (wslay_event_want_write(w->ctx) && sotto_net_wait_fd(w->c->fd, POLLOUT, deadline) <= 0)
            return sotto_cfail(err, SOTTO_C_NETWORK, "timed out writing to the server");
    }
    return SOTTO_C_OK;
}

sotto_cstatus sotto_ws_recv(sotto_ws *w, char **msg, size_t *len, int timeout_ms, char *err)
{
    *msg = NULL;
    *len = 0;
    int64_t deadline = sotto_net_deadline_in(timeout_ms);
    for (;;) {
        if (w->head != NULL) {
            ws_msg *m = w->head;
            w->head = m->next;
            if (w->head == NULL)
                w->tail = NULL;
            char *out = malloc(m->len + 1);
            if (out == NULL) {
                free(m);
                return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
            }
            memcpy(out, m->data, m->len + 1);
            *msg = out;
            *len = m->len;
            sodium_memzero(m->data, m->len);
            free(m);
            return SOTTO_C_OK;
        }
        if (w->failed || !wslay_event_want_read(w->ctx))
            return sotto_cfail(err, SOTTO_C_NETWORK, "the server closed the WebSocket");
        sotto_cstatus rc = ws_flush(w, deadline, err);
        if (rc != SOTTO_C_OK)
            return rc;
        if (w->c->rlen == 0 && SSL_pending(w->c->ssl) == 0) {
            int r = sotto_net_wait_fd(w->c->fd, POLLIN, deadline);
            if (r < 0)
                return sotto_cfail(err, SOTTO_C_NETWORK, "poll failed");
            if (r == 0)
                return SOTTO_C_OK; /* timeout */
        }
        if (wslay_event_recv(w->ctx) != 0 || w->failed)
            return sotto_cfail(err, SOTTO_C_NETWORK, "WebSocket connection lost");
        if ((rc = ws_flush(w, sotto_net_deadline_in(SOTTO_NET_TIMEOUT_MS), err)) != SOTTO_C_OK)
            return rc;
    }
}

sotto_cstatus sotto_ws_send_text(sotto_ws *w, const char *msg, size_t len, char *err)
{
    struct wslay_event_msg m = {.opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)msg, .msg_length = len};
    if (wslay_event_queue_msg(w->ctx, &m) != 0)
        return sotto_cfail(err, SOTTO_C_NETWORK, "WebSocket closed");
    return ws_flush(w, sotto_net_deadline_in(SOTTO_NET_TIMEOUT_MS), err);
}

int sotto_ws_fd(const sotto_ws *w)
{
    return w->c->fd;
}

int sotto_ws_pending(const sotto_ws *w)
{
    return w->head != NULL || w->c->rlen > 0 || SSL_pending(w->c->ssl) > 0;
}

void sotto_ws_close(sotto_ws *w)
{
    if (w == NULL)
        return;
    if (w->ctx != NULL) {
        if (!w->failed && wslay_event_queue_close(w->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) == 0)
            ws_flush(w, sotto_net_deadline_in(WS_CLOSE_WAIT_MS), NULL);
        wslay_event_context_free(w->ctx);
    }
    while (w->head != NULL) {
        ws_msg *m = w->head;
        w->head = m->next;
        sodium_memzero(m->data, m->len);
        free(m);
    }
    sotto_conn_close(w->c);
    free(w);
}
