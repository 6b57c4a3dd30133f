/* sottod: WebSocket connections (wslay, server side): the upgrade, pushing
 * queued envelopes in order within a window, acks, the device map. A socket
 * that is caught up gets new commits straight from the batch's memory
 * (sotto_ws_deliver); one that is behind reads the queue on a worker. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "api.h"
#include "api_pb.h"
#include "sottod_limits.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define ENVELOPE_JSON_OVERHEAD 256

/* ---- device map: (account, device) -> its WebSocket ---- */

static size_t dev_bucket(const uint8_t uuid[16], uint32_t device)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ uuid[i]) * 1099511628211ull;
    h = (h ^ device) * 1099511628211ull;
    return (size_t)(h & (SOTTOD_DEV_BUCKETS - 1));
}

static sotto_conn *dev_find(sotto_srv *s, const uint8_t uuid[16], uint32_t device)
{
    for (sotto_conn *c = s->dev[dev_bucket(uuid, device)]; c != NULL; c = c->dev_next)
        if (c->device == device && memcmp(c->uuid, uuid, 16) == 0)
            return c;
    return NULL;
}

void sotto_dev_unregister(sotto_conn *c)
{
    if (!c->ws_registered)
        return;
    sotto_conn **pp = &c->srv->dev[dev_bucket(c->uuid, c->device)];
    while (*pp != NULL && *pp != c)
        pp = &(*pp)->dev_next;
    if (*pp == c)
        *pp = c->dev_next;
    c->dev_next = NULL;
    c->ws_registered = false;
}

void sotto_dev_notify(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES], uint32_t device)
{
    sotto_conn *c = dev_find(s, uuid, device);
    if (c != NULL)
        sotto_ws_pump(c);
}

/* ---- parking ----
 * wslay keeps ~8.8 KiB per context. An idle WebSocket (nothing queued to
 * send, between two client messages) needs none of it, so its context is
 * freed and made anew when bytes arrive or something must be sent. To know
 * that the client is between frames, the bytes handed to wslay go through a
 * small frame-boundary tracker (header length, payload length, FIN). */

void sotto_ws_track(sotto_ws_tracker *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (t->payload_left > 0) {
            size_t k = n < t->payload_left ? n : (size_t)t->payload_left;
            t->payload_left -= k;
            p += k;
            n -= k;
            continue;
        }
        t->hdr[t->hdr_len++] = *p++;
        n--;
        if (t->hdr_len < 2)
            continue;
        uint8_t len7 = t->hdr[1] & 0x7f;
        size_t need = 2u + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) +
                      ((t->hdr[1] & 0x80) ? 4u : 0u);
        if (t->hdr_len < need)
            continue;
        uint64_t len = len7;
        if (len7 == 126) {
            len = ((uint64_t)t->hdr[2] << 8) | t->hdr[3];
        } else if (len7 == 127) {
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | t->hdr[2 + i];
        }
        uint8_t op = t->hdr[0] & 0x0f;
        if (op < 8) /* data frames: a message ends with FIN */
            t->fragmented = (t->hdr[0] & 0x80) == 0;
        t->payload_left = len;
        t->hdr_len = 0;
    }
}

bool sotto_ws_track_idle(const sotto_ws_tracker *t)
{
    return t->payload_left == 0 && t->hdr_len == 0 && !t->fragmented;
}

static void track(sotto_conn *c, const uint8_t *p, size_t n)
{
    sotto_ws_track(&c->ws_track, p, n);
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user);
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user);
static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user);
static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user);
static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_on_msg,
};

static void ws_send(sotto_conn *c, sotto_api_ws_msg *m);
static void ws_after_io(sotto_conn *c);

static int unpark(sotto_conn *c)
{
    if (c->ws != NULL)
        return 0;
    if (wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0) {
        c->ws = NULL;
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, c->srv->cfg.max_ws_message);
    return 0;
}

static void maybe_park(sotto_conn *c)
{
    if (c->ws == NULL || c->ws_close_sent || c->closing || !sotto_ws_track_idle(&c->ws_track) ||
        c->in_len != 0 ||
        wslay_event_want_write(c->ws) || !wslay_event_want_read(c->ws) ||
        wslay_event_get_close_received(c->ws) || sotto_conn_input_pending(c))
        return;
    wslay_event_context_free(c->ws);
    c->ws = NULL;
}

/* ---- wslay callbacks ---- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    sotto_conn *c = user;
    if (c->in_len > 0) { /* bytes that came with the upgrade request */
        size_t n = len < c->in_len ? len : c->in_len;
        memcpy(buf, c->in, n);
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= (uint32_t)n;
        sodium_memzero(c->in + c->in_len, n);
        if (c->in_len == 0) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
        track(c, buf, n);
        return (ssize_t)n;
    }
    /* Nothing plain left: open the next TLS record(s). */
    int r = 0;
    while (c->in_len == 0 && (r = sotto_conn_pull(c)) > 0) {
    }
    if (c->in_len > 0)
        return ws_recv_cb(ctx, buf, len, flags, user);
    wslay_event_set_error(ctx, r == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    (void)flags;
    sotto_conn *c = user;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > SOTTOD_MAX_WRITE_QUEUE) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (sotto_conn_write(c, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    randombytes_buf(buf, len);
    return 0;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    sotto_conn *c = user;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        c->ws_close_sent = true; /* wslay answers the close itself */
        return;
    }
    if (wslay_is_ctrl_frame(arg->opcode))
        return;
    bool binary = arg->opcode == WSLAY_BINARY_FRAME;
    if ((binary && !c->ws_pb) || (!binary && arg->opcode != WSLAY_TEXT_FRAME)) {
        sotto_metrics_error(SOTTO_ERRK_WS_PROTOCOL);
        wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
                                (const uint8_t *)"binary needs sotto.pb", 21);
        c->ws_close_sent = true;
        return;
    }
    static uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    sotto_api_ws_msg m;
    const char *why;
    int dec = binary ? sotto_api_decode_ws_pb(arg->msg, arg->msg_length, c->srv->cfg.max_envelope,
                                              ids, &m, &why)
                     : sotto_api_decode_ws_msg(arg->msg, arg->msg_length, c->srv->cfg.max_envelope,
                                               ids, &m, &why);
    if (dec != 0) {
        if (m.kind == SOTTO_API_WS_SEND && m.has_id) {
            /* A send we can name: refused under its id, the socket stays. */
            sotto_metrics_error(SOTTO_ERRK_HTTP_MALFORMED);
            sotto_ws_answer_send(c, m.send_id, strstr(why, "too large") ? 413 : 400, why, NULL);
            return;
        }
        sotto_metrics_error(SOTTO_ERRK_WS_PROTOCOL);
        sotto_log(SOTTO_LOG_INFO, "ws_bad_message", " reason=\"%s\"", why);
        wslay_event_queue_close(ctx, WSLAY_CODE_PROTOCOL_ERROR, (const uint8_t *)why, strlen(why));
        c->ws_close_sent = true;
        return;
    }
    if (m.kind == SOTTO_API_WS_SEND) {
        ws_send(c, &m);
        return;
    }
    c->ws_inflight = c->ws_inflight > m.n_ids ? c->ws_inflight - (uint32_t)m.n_ids : 0;
    sotto_batch_ack(c, (const uint8_t (*)[SOTTO_STORE_ENVELOPE_ID_BYTES])ids, m.n_ids, false);
}

/* A "send": like PUT /v1/messages/{to}, answered by "sent" after the commit.
 * Sends of one socket are committed, and answered, in the order they came. */
static void ws_send(sotto_conn *c, sotto_api_ws_msg *m)
{
    sotto_g_metrics.requests_total++;
    if (c->ws_close_sent) {
        /* Came after our close: neither committed nor answered, so the
         * client sends it again on its next connection. */
        sotto_api_submit_free(&m->submit);
        return;
    }
    if (c->srv->draining) {
        sotto_api_submit_free(&m->submit);
        sotto_ws_answer_send(c, m->send_id, 503, "server going away", NULL);
        return;
    }
    if (c->ws_sends >= SOTTOD_WS_MAX_SENDS) {
        sotto_api_submit_free(&m->submit);
        sotto_metrics_error(SOTTO_ERRK_RATE_LIMITED);
        sotto_ws_answer_send(c, m->send_id, 429, "too many sends in flight", NULL);
        return;
    }
    uint8_t recipient[SOTTO_STORE_UUID_BYTES];
    sotto_store_err e = sotto_api_resolve_cached(c->srv, (sotto_slice){ m->to, m->to_len },
                                                 recipient);
    if (e != SOTTO_STORE_OK) {
        sotto_api_submit_free(&m->submit);
        int status;
        const char *msg = sotto_api_store_status(e, &status);
        if (status >= 500)
            sotto_metrics_error(SOTTO_ERRK_STORE);
        sotto_ws_answer_send(c, m->send_id, status, msg, NULL);
        return;
    }
    /* The batch takes the bodies. */
    sotto_batch_submit_ws(c, m->send_id, recipient, m->submit.outs, m->submit.count,
                          m->submit.bodies);
}

void sotto_ws_answer_send(sotto_conn *c, uint32_t id, int status, const char *error,
                          const sotto_store_mismatch *mismatch)
{
    if (c->state != SOTTO_CONN_WS || c->handle_closed || c->ws_close_sent || unpark(c) != 0)
        return;
    static uint8_t buf[SOTTO_API_PB_SENT_MAX > 1600 ? SOTTO_API_PB_SENT_MAX : 1600];
    size_t n = 0;
    if (c->ws_pb) {
        n = sotto_api_pb_sent(id, status, error, mismatch, buf, sizeof buf);
    } else {
        char *b = (char *)buf;
        int k;
        if (status == 200)
            k = snprintf(b, sizeof buf, "{\"type\":\"sent\",\"id\":%u,\"status\":200}", (unsigned)id);
        else if (mismatch == NULL) /* error is a static phrase of ours: no quotes or backslashes */
            k = snprintf(b, sizeof buf, "{\"type\":\"sent\",\"id\":%u,\"status\":%d,\"error\":\"%s\"}",
                         (unsigned)id, status, error ? error : "");
        else
            k = snprintf(b, sizeof buf, "{\"type\":\"sent\",\"id\":%u,\"status\":%d,", (unsigned)id,
                         status);
        if (k <= 0 || (size_t)k >= sizeof buf)
            return;
        n = (size_t)k;
        if (status != 200 && mismatch != NULL) {
            size_t m = sotto_api_mismatch_json(mismatch, b + n, sizeof buf - n - 1);
            if (m == 0)
                return;
            n += m;
            b[n++] = '}';
        }
    }
    if (n == 0 || n >= sizeof buf)
        return;
    struct wslay_event_msg msg = { c->ws_pb ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, buf, n };
    (void)wslay_event_queue_msg(c->ws, &msg);
    sotto_ws_defer_flush(c);
}

/* ---- deferred flushes: one socket write per connection per event ---- */

void sotto_ws_defer_flush(sotto_conn *c)
{
    if (c->flush_queued)
        return;
    c->flush_queued = true;
    c->flush_next = c->srv->flush_list;
    c->srv->flush_list = c;
    sotto_conn_ref(c);
}

void sotto_ws_flush_deferred(sotto_srv *s)
{
    while (s->flush_list != NULL) {
        sotto_conn *c = s->flush_list;
        s->flush_list = c->flush_next;
        c->flush_next = NULL;
        c->flush_queued = false;
        if (c->state == SOTTO_CONN_WS)
            ws_after_io(c);
        sotto_conn_unref(c);
    }
}

/* ---- life ---- */

static void ws_after_io(sotto_conn *c)
{
    if (c->ws == NULL || c->handle_closed)
        return;
    if (wslay_event_want_write(c->ws) &&
        wslay_event_send(c->ws) != 0) {
        sotto_conn_flush(c);
        sotto_conn_close(c);
        return;
    }
    /* wslay answers oversized and malformed frames with a close of its own
     * (ours set ws_close_sent when queued and count themselves). */
    if (!c->ws_close_sent && wslay_event_get_close_sent(c->ws)) {
        uint16_t code = wslay_event_get_status_code_sent(c->ws);
        sotto_metrics_error(code == WSLAY_CODE_MESSAGE_TOO_BIG ? SOTTO_ERRK_WS_TOO_LARGE
                                                               : SOTTO_ERRK_WS_PROTOCOL);
        sotto_log(SOTTO_LOG_INFO, "ws_closed", " code=%u", (unsigned)code);
        c->ws_close_sent = true;
    }
    sotto_conn_flush(c);
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
        sotto_conn_close(c);
        return;
    }
    /* Parked by the sweep once quiet (sotto_ws_park_idle): parking after
     * every message would build a new context for the next one. */
}

void sotto_ws_park_idle(sotto_conn *c, uint64_t now_ms)
{
    if (c->state == SOTTO_CONN_WS && now_ms - c->ws_last_rx_ms >= SOTTOD_WS_PARK_MS)
        maybe_park(c);
}

int sotto_ws_start(sotto_conn *c, const sotto_http_req *req)
{
    uint8_t sha[20];
    char keybuf[24 + sizeof WS_GUID];
    memcpy(keybuf, req->ws_key.p, 24);
    memcpy(keybuf + 24, WS_GUID, sizeof WS_GUID - 1);
    unsigned int shalen = 0;
    if (EVP_Digest(keybuf, 24 + sizeof WS_GUID - 1, sha, &shalen, EVP_sha1(), NULL) != 1)
        return -1;
    char accept[sodium_base64_ENCODED_LEN(20, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(accept, sizeof accept, sha, sizeof sha, sodium_base64_VARIANT_ORIGINAL);

    if (unpark(c) != 0)
        return -1;

    /* Subprotocol: "sotto.pb" asks for binary messages (api_pb.h); JSON text
     * frames otherwise. */
    sotto_slice sp = sotto_http_header_get(req, "sec-websocket-protocol");
    c->ws_pb = false;
    for (size_t i = 0; i < sp.n;) {
        while (i < sp.n && (sp.p[i] == ' ' || sp.p[i] == ',' || sp.p[i] == '\t'))
            i++;
        size_t st = i;
        while (i < sp.n && sp.p[i] != ',' && sp.p[i] != ' ' && sp.p[i] != '\t')
            i++;
        if (sotto_slice_eq((sotto_slice){ sp.p + st, i - st }, SOTTO_API_PB_SUBPROTOCOL))
            c->ws_pb = true;
    }
    char head[320];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n", accept,
                     c->ws_pb ? "Sec-WebSocket-Protocol: " SOTTO_API_PB_SUBPROTOCOL "\r\n" : "");
    if (n <= 0 || sotto_conn_write(c, head, (size_t)n) != 0) {
        wslay_event_context_free(c->ws);
        c->ws = NULL;
        return -1;
    }
    /* Drop the upgrade request (and wipe it: it holds the device's secret);
     * pipelined bytes stay for wslay. */
    memmove(c->in, c->in + c->cur_len, c->in_len - c->cur_len);
    c->in_len -= c->cur_len;
    sodium_memzero(c->in + c->in_len, c->cur_len);
    c->cur_len = 0;
    c->state = SOTTO_CONN_WS;
    c->deadline_ms = 0;
    c->ws_last_rx_ms = sotto_srv_now_ms(c->srv);
    sotto_g_metrics.websockets_open++;

    /* One socket per device: a newer one replaces the older. */
    sotto_conn *old = dev_find(c->srv, c->uuid, c->device);
    if (old != NULL) {
        sotto_dev_unregister(old);
        sotto_ws_close(old, 4409, "replaced by a newer connection");
    }
    c->dev_next = c->srv->dev[dev_bucket(c->uuid, c->device)];
    c->srv->dev[dev_bucket(c->uuid, c->device)] = c;
    c->ws_registered = true;
    /* Envelopes handed out so far and not yet committed were not pushed to
     * this socket: it reads them from the queue once they are committed. */
    c->ws_gate = c->srv->next_seq - 1;
    sotto_log(SOTTO_LOG_DEBUG, "ws_open", NULL);
    sotto_conn_flush(c);
    /* Frames the client sent right behind the upgrade: plaintext already
     * read, or TLS records not yet opened. */
    if (c->in_len > 0 || sotto_conn_input_pending(c))
        sotto_ws_on_readable(c);
    sotto_ws_pump(c);
    return 0;
}

void sotto_ws_on_readable(sotto_conn *c)
{
    if (c->closing || c->state != SOTTO_CONN_WS || unpark(c) != 0)
        return;
    if (wslay_event_recv(c->ws) != 0) {
        if (!c->closing) /* not the peer's close_notify or a TLS error (counted there) */
            sotto_metrics_error(SOTTO_ERRK_WS_PROTOCOL);
        sotto_conn_close(c);
        return;
    }
    ws_after_io(c);
}

/* Renders one envelope and queues it on the WebSocket; advances the cursor. */
static int queue_envelope(sotto_conn *c, const sotto_store_envelope *e, size_t *queued_bytes)
{
    /* wslay copies what it queues: one static buffer serves every push
     * (either form), a larger envelope gets its own. */
    static uint8_t envbuf[ENVELOPE_JSON_OVERHEAD +
                          sodium_base64_ENCODED_LEN(SOTTO_STORE_MAX_ENVELOPE_BYTES,
                                                    sodium_base64_VARIANT_ORIGINAL)];
    _Static_assert(sizeof envbuf >= SOTTO_API_PB_ENVELOPE_MAX(SOTTO_STORE_MAX_ENVELOPE_BYTES),
                   "the push buffer holds the binary form too");
    size_t cap = c->ws_pb ? SOTTO_API_PB_ENVELOPE_MAX(e->body_len)
                          : ENVELOPE_JSON_OVERHEAD + sodium_base64_ENCODED_LEN(
                                                         e->body_len, sodium_base64_VARIANT_ORIGINAL);
    uint8_t *buf = cap <= sizeof envbuf ? envbuf : malloc(cap);
    if (buf == NULL)
        return -1;
    size_t n = 0;
    int rc = -1;
    if (c->ws_pb) {
        n = sotto_api_pb_envelope(e, buf, cap);
    } else {
        static const char pre[] = "{\"type\":\"envelope\",\"envelope\":";
        memcpy(buf, pre, sizeof pre - 1);
        size_t m = sotto_api_envelope_json(e, (char *)buf + sizeof pre - 1, cap - sizeof pre);
        if (m > 0) {
            n = sizeof pre - 1 + m;
            buf[n++] = '}';
        }
    }
    if (n > 0) {
        struct wslay_event_msg msg = { c->ws_pb ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, buf, n };
        if (wslay_event_queue_msg(c->ws, &msg) == 0) {
            c->ws_inflight++;
            sotto_g_metrics.messages_delivered_total++;
            *queued_bytes += n;
            rc = 0;
        }
    }
    if (buf != envbuf)
        free(buf);
    if (rc != 0)
        return -1;          /* not queued: the cursor stays, the queue has it */
    c->ws_last_seq = e->seq;
    return 0;
}

static bool deliver_to(sotto_conn *c, const sotto_store_envelope *e);

bool sotto_ws_deliver(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES], uint32_t device,
                      const sotto_store_envelope *e)
{
    sotto_conn *c = dev_find(s, uuid, device);
    if (c == NULL)
        return true;                    /* not connected: it waits in the queue */
    if (e->seq <= c->ws_last_seq)
        return true;                    /* a read of the queue already pushed it */
    return deliver_to(c, e);
}

bool sotto_ws_deliver_early(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                            uint32_t device, const sotto_store_envelope *e, bool may)
{
    sotto_conn *c = dev_find(s, uuid, device);
    if (c == NULL)
        return false;                   /* its commit puts it in the queue */
    /* Every envelope for this socket up to its gate was pushed, or is
     * committed: nothing older can come after this one. */
    if (may && s->committed_seq >= c->ws_gate && e->seq > c->ws_last_seq && deliver_to(c, e))
        return true;
    if (c->ws_gate < e->seq)
        c->ws_gate = e->seq;
    return false;
}

static bool deliver_to(sotto_conn *c, const sotto_store_envelope *e)
{
    sotto_srv *s = c->srv;
    if (!c->ws_caught_up || c->ws_inflight >= SOTTOD_WS_WINDOW ||
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >= SOTTOD_MAX_WRITE_QUEUE / 2 ||
        c->state != SOTTO_CONN_WS || !sotto_conn_alive(c) || c->ws_close_sent || s->draining ||
        unpark(c) != 0) {
        c->ws_caught_up = false;        /* from now on the queue is read (sotto_ws_pump) */
        return false;
    }
    size_t bytes = 0;
    if (queue_envelope(c, e, &bytes) != 0) {
        c->ws_caught_up = false;
        return false;
    }
    sotto_ws_defer_flush(c);
    return true;
}

void sotto_ws_flush_dev(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES], uint32_t device)
{
    sotto_conn *c = dev_find(s, uuid, device);
    if (c == NULL)
        return;
    if (!c->ws_caught_up)
        sotto_ws_pump(c);
    else
        ws_after_io(c);
}

/* Reads of the queue (a socket that is behind: after connecting, after its
 * window was full) run on a worker with a pooled handle, never on the loop
 * thread; one per socket at a time. */
typedef struct fetch_job {
    uv_work_t w;
    sotto_conn *c;
    uint64_t after;
    size_t want;
    sotto_store_envelope *env;
    size_t n;
    sotto_store_err err;
} fetch_job;

/* "queue_empty" once per socket, when its backlog has been pushed. */
static void send_empty_once(sotto_conn *c)
{
    if (c->ws_empty_sent)
        return;
    static const char empty[] = "{\"type\":\"queue_empty\"}";
    uint8_t pb[16];
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)empty, sizeof empty - 1 };
    if (c->ws_pb) {
        m.opcode = WSLAY_BINARY_FRAME;
        m.msg = pb;
        m.msg_length = sotto_api_pb_queue_empty(pb, sizeof pb);
    }
    wslay_event_queue_msg(c->ws, &m);
    c->ws_empty_sent = true;
}

/* "devices" (docs/API.md): the account's set of devices changed. Sent to
 * every open WebSocket of the account but except_device's (0: none), so
 * that their clients ask GET /v1/devices again before their next send.
 * Device changes are rare: the device map is asked once per possible id. */
void sotto_ws_devices_changed(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                              uint32_t except_device)
{
    static const char json[] = "{\"type\":\"devices\"}";
    uint8_t pb[16];
    size_t pb_len = sotto_api_pb_devices_changed(pb, sizeof pb);
    for (uint32_t d = 1; d <= SOTTO_STORE_MAX_DEVICE_ID; d++) {
        if (d == except_device)
            continue;
        sotto_conn *c = dev_find(s, uuid, d);
        if (c == NULL || c->state != SOTTO_CONN_WS || !sotto_conn_alive(c) || c->ws_close_sent ||
            unpark(c) != 0)
            continue;
        struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)json, sizeof json - 1 };
        if (c->ws_pb) {
            if (pb_len == 0)
                continue;
            m.opcode = WSLAY_BINARY_FRAME;
            m.msg = pb;
            m.msg_length = pb_len;
        }
        if (wslay_event_queue_msg(c->ws, &m) == 0)
            sotto_ws_defer_flush(c);
    }
}

static void fetch_work(uv_work_t *w)
{
    fetch_job *j = w->data;
    sotto_srv *s = j->c->srv;
    sotto_store *h = sotto_pool_take(&s->pool);
    j->err = sotto_store_fetch_queue(h, j->c->uuid, j->c->device, j->after, j->want, &j->env,
                                     &j->n);
    sotto_pool_give(&s->pool, h);
}

static void fetch_done(uv_work_t *w, int status)
{
    fetch_job *j = w->data;
    sotto_conn *c = j->c;
    sotto_srv *s = c->srv;
    s->jobs--;
    c->ws_fetching = false;
    bool again = c->ws_refetch;
    c->ws_refetch = false;
    if (status != 0 && j->err == SOTTO_STORE_OK)
        j->err = SOTTO_STORE_ERR_BUSY;
    if (c->state != SOTTO_CONN_WS || !sotto_conn_alive(c) || c->ws_close_sent || s->draining ||
        unpark(c) != 0) {
        goto out;
    }
    if (j->err != SOTTO_STORE_OK) {
        sotto_metrics_error(SOTTO_ERRK_STORE);
        sotto_log(SOTTO_LOG_WARN, "ws_fetch_failed", " reason=\"%s\"",
                  sotto_store_strerror(j->err));
        ws_after_io(c);
        goto out;
    }
    if (j->n == 0 && !again) {
        send_empty_once(c);
        c->ws_caught_up = true;
        ws_after_io(c);
        goto out;
    }
    size_t queued_bytes = 0;
    bool full = false, failed = false;
    for (size_t i = 0; i < j->n && !full; i++) {
        if (j->env[i].seq <= c->ws_last_seq)
            continue;
        if (c->ws_inflight >= SOTTOD_WS_WINDOW)
            break;              /* pushed from memory meanwhile: the rest next time */
        if ((failed = queue_envelope(c, &j->env[i], &queued_bytes) != 0))
            break;
        /* Bound what one socket holds in memory; the rest waits in the store. */
        full = queued_bytes >= SOTTOD_MAX_WRITE_QUEUE;
    }
    /* A short page, and no batch handed over while reading: nothing
     * committed is left unsent, so later commits go straight from memory. */
    c->ws_caught_up = j->n < j->want && !full && !failed && !again;
    if (c->ws_caught_up)
        send_empty_once(c);     /* the backlog is out, as an empty read would say */
    if (full)
        (void)wslay_event_send(c->ws);
    if (!c->ws_caught_up && !failed)
        sotto_ws_pump(c);       /* more to read while the window has room */
    else
        ws_after_io(c);
out:
    sotto_store_envelopes_free(j->env, j->n);
    free(j);
    sotto_conn_unref(c);
    sotto_srv_check_drain(s);
}

void sotto_ws_pump(sotto_conn *c)
{
    sotto_srv *s = c->srv;
    if (c->state != SOTTO_CONN_WS || !sotto_conn_alive(c) || c->ws_close_sent || s->draining ||
        unpark(c) != 0)
        return;
    if (c->ws_fetching) {
        c->ws_refetch = true;   /* a commit came while reading: read again after */
        return;
    }
    if (c->ws_inflight < SOTTOD_WS_WINDOW &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < SOTTOD_MAX_WRITE_QUEUE / 2) {
        size_t want = SOTTOD_WS_WINDOW - c->ws_inflight;
        if (want > SOTTO_STORE_MAX_FETCH)
            want = SOTTO_STORE_MAX_FETCH;
        fetch_job *j = calloc(1, sizeof *j);
        if (j != NULL) {
            j->c = c;
            j->after = c->ws_last_seq;
            j->want = want;
            j->w.data = j;
            /* Until the read is back, new commits are not pushed from memory. */
            c->ws_caught_up = false;
            c->ws_fetching = true;
            sotto_conn_ref(c);
            s->jobs++;
            if (uv_queue_work(s->loop, &j->w, fetch_work, fetch_done) != 0) {
                s->jobs--;
                c->ws_fetching = false;
                sotto_conn_unref(c);
                free(j);
            }
        }
    }
    ws_after_io(c);
}

void sotto_ws_ping(sotto_conn *c)
{
    if (c->state != SOTTO_CONN_WS || c->handle_closed || unpark(c) != 0)
        return;
    struct wslay_event_msg m = { WSLAY_PING, (const uint8_t *)"", 0 };
    if (wslay_event_queue_msg(c->ws, &m) == 0)
        c->ws_ping_sent = true;
    ws_after_io(c);
}

void sotto_ws_close(sotto_conn *c, uint16_t code, const char *reason)
{
    if (c->state != SOTTO_CONN_WS || c->handle_closed || unpark(c) != 0)
        return;
    if (!c->ws_close_sent) {
        /* wslay sends control frames ahead of queued messages: write those
         * first (answers to sends, pushes), so the close comes after them. */
        if (wslay_event_want_write(c->ws))
            (void)wslay_event_send(c->ws);
        wslay_event_queue_close(c->ws, code, (const uint8_t *)reason, strlen(reason));
        c->ws_close_sent = true;
    }
    if (wslay_event_want_write(c->ws))
        (void)wslay_event_send(c->ws);
    sotto_conn_flush(c);
    sotto_conn_close(c);
}

void sotto_ws_free(sotto_conn *c)
{
    if (c->ws != NULL) {
        wslay_event_context_free(c->ws);
        c->ws = NULL;
    }
}
