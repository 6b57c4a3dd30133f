/* sottod: listener, connections, TLS over memory BIOs, HTTP framing,
 * timeouts and draining (see server.h). */
#define _GNU_SOURCE
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <sodium.h>

#include "api_devices.h"
#include "api_lookup.h"
#include "sottod_limits.h"
#include "log.h"
#include "metrics.h"

#define READ_CHUNK     (64u << 10)  /* shared socket read buffer */
#define TLS_SCRATCH    (64u << 10)  /* shared TLS -> socket scratch */
#define IN_MIN_CAP     1024u

static uint8_t g_read_buf[READ_CHUNK];
static bool g_read_busy;
static uint8_t g_scratch[TLS_SCRATCH];

typedef struct write_req {
    uv_write_t req;
    sotto_conn *c;
    size_t len;
    uint8_t data[];
} write_req;

static void pump_http(sotto_conn *c);
static void start_reading(sotto_conn *c);
static int write_out(sotto_conn *c, const uint8_t *p, size_t n);

uint64_t sotto_srv_now_ms(const sotto_srv *s)
{
    return uv_now(s->loop);
}

/* ---- store pool ---- */

sotto_store *sotto_pool_take(sotto_store_pool *p)
{
    uv_mutex_lock(&p->mu);
    for (;;) {
        for (int i = 0; i < SOTTOD_STORE_POOL; i++) {
            if (!p->busy[i]) {
                p->busy[i] = true;
                uv_mutex_unlock(&p->mu);
                return p->h[i];
            }
        }
        uv_cond_wait(&p->cv, &p->mu);
    }
}

void sotto_pool_give(sotto_store_pool *p, sotto_store *h)
{
    uv_mutex_lock(&p->mu);
    for (int i = 0; i < SOTTOD_STORE_POOL; i++)
        if (p->h[i] == h)
            p->busy[i] = false;
    uv_cond_signal(&p->cv);
    uv_mutex_unlock(&p->mu);
}

/* ---- connection lifetime ---- */

bool sotto_conn_alive(const sotto_conn *c)
{
    return !c->handle_closed && !c->closing;
}

void sotto_conn_ref(sotto_conn *c)
{
    c->refs++;
}

static void conn_free(sotto_conn *c)
{
    sotto_ws_free(c);
    SSL_free(c->ssl); /* frees both BIOs */
    sotto_tls_rec_wipe(&c->tls);
    free(c->cin);
    if (c->pout != NULL)
        sodium_memzero(c->pout, c->pout_cap);
    free(c->pout);
    if (c->in != NULL)
        sodium_memzero(c->in, c->in_cap);
    free(c->in);
    free(c);
}

void sotto_conn_unref(sotto_conn *c)
{
    if (c->refs > 0)
        c->refs--;
    if (c->refs == 0 && c->handle_closed)
        conn_free(c);
}

static void on_closed(uv_handle_t *h)
{
    sotto_conn *c = h->data;
    sotto_srv *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    sotto_g_metrics.connections_open = s->n_conns;
    if (c->state == SOTTO_CONN_WS && sotto_g_metrics.websockets_open > 0)
        sotto_g_metrics.websockets_open--;
    sotto_dev_unregister(c);
    c->handle_closed = true;
    /* A queued Argon2id job for a gone connection is not worth its cost;
     * one already running finishes and finds the connection closed. */
    if (c->job != NULL)
        (void)uv_cancel((uv_req_t *)c->job);
    if (c->refs == 0)
        conn_free(c);
    /* Resume accepting if we had stopped at the connection limit. */
    sotto_srv_check_drain(s);
}

static void conn_abort(sotto_conn *c)
{
    if (c->handle_closed || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    sotto_conn *c = req->data;
    free(req);
    conn_abort(c);
}

void sotto_conn_close(sotto_conn *c)
{
    if (c->closing || c->handle_closed)
        return;
    c->closing = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    sotto_conn_flush(c);
    if (c->tls_on && !c->tls.write_closed) {
        size_t n = 0;
        if (sotto_tls_rec_seal_alert(&c->tls, SOTTO_TLS_ALERT_CLOSE_NOTIFY, g_scratch,
                                     sizeof g_scratch, &n) == SOTTO_OK)
            (void)write_out(c, g_scratch, n);
    }
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req == NULL) {
        conn_abort(c);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_abort(c);
    }
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    sotto_conn *c = w->c;
    free(w);
    if (status < 0) {
        conn_abort(c);
        return;
    }
    /* Room again: a WebSocket may push more. */
    if (c->state == SOTTO_CONN_WS && sotto_conn_alive(c) && !c->ws_caught_up &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < SOTTOD_MAX_WRITE_QUEUE / 2)
        sotto_ws_pump(c);
}

static int queue_write(sotto_conn *c, const uint8_t *data, size_t len)
{
    write_req *w = malloc(sizeof *w + len);
    if (w == NULL)
        return -1;
    w->c = c;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Ciphertext to the socket: straight away when nothing is queued (no
 * allocation), the rest queued. -1: the connection was aborted. */
static int write_out(sotto_conn *c, const uint8_t *p, size_t n)
{
    if (c->handle_closed || uv_is_closing((uv_handle_t *)&c->tcp))
        return -1;
    size_t done = 0;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
        int t = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (t > 0)
            done = (size_t)t;
        else if (t != UV_EAGAIN && t != UV_ENOSYS) {
            conn_abort(c);
            return -1;
        }
    }
    if (done < n && queue_write(c, p + done, n - done) != 0) {
        conn_abort(c);
        return -1;
    }
    return 0;
}

/* Grows a connection buffer to hold need bytes (geometric, from 1 KiB), of
 * which used are kept. A plaintext buffer (wipe) moves by hand, so that the
 * old copy is wiped rather than left behind by realloc. */
static int reserve(uint8_t **p, uint32_t *cap, uint32_t used, size_t need, bool wipe)
{
    if (need <= *cap)
        return 0;
    if (need > UINT32_MAX / 2)
        return -1;
    size_t n = *cap ? *cap : IN_MIN_CAP;
    while (n < need)
        n *= 2;
    uint8_t *q = wipe ? malloc(n) : realloc(*p, n);
    if (q == NULL)
        return -1;
    if (wipe && *p != NULL) {
        memcpy(q, *p, used);
        sodium_memzero(*p, *cap);
        free(*p);
    }
    *p = q;
    *cap = (uint32_t)n;
    return 0;
}

/* During the handshake: OpenSSL's records, from the memory BIO. */
static void flush_handshake(sotto_conn *c)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(c->wbio)) > 0) {
        size_t n = pending < sizeof g_scratch ? pending : sizeof g_scratch;
        int r = BIO_read(c->wbio, g_scratch, (int)n);
        if (r <= 0 || write_out(c, g_scratch, (size_t)r) != 0)
            return;
    }
}

/* Plaintext per sealing round: its records fit g_scratch. */
#define TLS_FLUSH_PLAIN (3u * SOTTO_TLS_REC_MAX_PLAIN)

void sotto_conn_flush(sotto_conn *c)
{
    if (c->handle_closed || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (!c->tls_on) {
        if (c->ssl != NULL)
            flush_handshake(c);
        return;
    }
    size_t n = 0;
    /* The peer asked for our KeyUpdate: it goes before any more data; and
     * our own, long before AES-GCM's limit. */
    if (c->tls.key_update_due ||
        (c->pout_len > 0 && sotto_tls_rec_should_rekey(&c->tls, c->srv->cfg.tls_rekey_records))) {
        if (sotto_tls_rec_seal_key_update(&c->tls, !c->tls.key_update_due, g_scratch,
                                          sizeof g_scratch, &n) != SOTTO_OK ||
            write_out(c, g_scratch, n) != 0) {
            conn_abort(c);
            return;
        }
    }
    for (size_t off = 0; off < c->pout_len;) {
        size_t k = c->pout_len - off < TLS_FLUSH_PLAIN ? c->pout_len - off : TLS_FLUSH_PLAIN;
        if (sotto_tls_rec_seal(&c->tls, g_scratch, sizeof g_scratch, &n, c->pout + off, k) !=
            SOTTO_OK) {
            sotto_metrics_error(SOTTO_ERRK_TLS);
            conn_abort(c);
            break;
        }
        if (write_out(c, g_scratch, n) != 0)
            break;
        off += k;
    }
    /* Idle connections hold no buffer. */
    if (c->pout != NULL)
        sodium_memzero(c->pout, c->pout_len);
    free(c->pout);
    c->pout = NULL;
    c->pout_len = c->pout_cap = 0;
}

int sotto_conn_write(sotto_conn *c, const void *data, size_t len)
{
    if (!c->tls_on || c->tls.write_closed)
        return -1;
    if (reserve(&c->pout, &c->pout_cap, c->pout_len, (size_t)c->pout_len + len, true) != 0)
        return -1;
    memcpy(c->pout + c->pout_len, data, len);
    c->pout_len += (uint32_t)len;
    return 0;
}

bool sotto_conn_input_pending(const sotto_conn *c)
{
    return c->cin_len > c->cin_off;
}

/* Ciphertext just read: kept until opened. */
static int cin_add(sotto_conn *c, const uint8_t *p, size_t n)
{
    if (c->cin_off > 0) {
        memmove(c->cin, c->cin + c->cin_off, c->cin_len - c->cin_off);
        c->cin_len -= c->cin_off;
        c->cin_off = 0;
    }
    if (reserve(&c->cin, &c->cin_cap, c->cin_len, (size_t)c->cin_len + n, false) != 0)
        return -1;
    memcpy(c->cin + c->cin_len, p, n);
    c->cin_len += (uint32_t)n;
    return 0;
}

static void cin_consume(sotto_conn *c, size_t n)
{
    c->cin_off += (uint32_t)n;
    if (c->cin_off >= c->cin_len) { /* all opened: give the buffer back */
        free(c->cin);
        c->cin = NULL;
        c->cin_off = c->cin_len = c->cin_cap = 0;
    }
}

int sotto_conn_pull(sotto_conn *c)
{
    if (!c->tls_on || c->closing || c->handle_closed || c->cin_len == c->cin_off)
        return c->closing || c->handle_closed ? -1 : 0;
    sotto_tls_rec_in in;
    sotto_tls_rec_result r = sotto_tls_rec_open(&c->tls, c->cin + c->cin_off,
                                                c->cin_len - c->cin_off, &in);
    switch (r) {
    case SOTTO_TLS_REC_NEED_MORE:
        return 0;
    case SOTTO_TLS_REC_DATA:
        if (in.data_len > 0) {
            if (reserve(&c->in, &c->in_cap, c->in_len, (size_t)c->in_len + in.data_len, true) != 0) {
                sotto_metrics_error(SOTTO_ERRK_STORE);
                conn_abort(c);
                return -1;
            }
            memcpy(c->in + c->in_len, in.data, in.data_len);
            c->in_len += (uint32_t)in.data_len;
            sodium_memzero(in.data, in.data_len);
        }
        cin_consume(c, in.consumed);
        return 1;
    case SOTTO_TLS_REC_KEY_UPDATE:
        cin_consume(c, in.consumed);
        if (in.update_requested)
            sotto_conn_flush(c);    /* our KeyUpdate goes out now */
        return 1;
    case SOTTO_TLS_REC_CLOSED:
        cin_consume(c, in.consumed);
        sotto_conn_close(c);        /* the peer sends nothing more */
        return -1;
    case SOTTO_TLS_REC_ERROR:
    default:
        sotto_metrics_error(SOTTO_ERRK_TLS);
        sotto_log(SOTTO_LOG_DEBUG, "tls_record_refused", " reason=\"%s\"", in.why ? in.why : "");
        if (in.alert != SOTTO_TLS_ALERT_NONE) {
            size_t n = 0;
            if (sotto_tls_rec_seal_alert(&c->tls, in.alert, g_scratch, sizeof g_scratch, &n) ==
                SOTTO_OK)
                (void)write_out(c, g_scratch, n);
        }
        conn_abort(c);
        return -1;
    }
}

/* ---- responses ---- */

/* A request's bytes hold its Authorization header (the device's secret)
 * and bodies such as registrations and link tokens: they are wiped as soon
 * as the request is answered, and so is every copy a move leaves behind. */
static void consume_request(sotto_conn *c)
{
    uint32_t n = c->cur_len <= c->in_len ? c->cur_len : c->in_len;
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    if (n > 0)
        sodium_memzero(c->in + c->in_len, n);
    c->cur_len = 0;
    c->continue_sent = false;
    if (c->in_len == 0) { /* idle connections hold no buffer */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

static void schedule_pump(sotto_conn *c)
{
    if (c->in_pump)
        c->want_pump = true;
    else
        pump_http(c);
}

void sotto_conn_respond(sotto_conn *c, int status, const char *content_type,
                        const void *body, size_t body_len, const char *extra_headers)
{
    c->paused = false;
    c->long_poll = false;
    if (c->handle_closed)
        return;
    sotto_srv *s = c->srv;
    /* A request that was framed and read whole leaves the stream intact, so
     * its 4xx keeps the connection. Refusals before framing (malformed or
     * oversized heads and bodies) and bad credentials clear cur_keep_alive
     * and close; so do 5xx answers. */
    bool keep = c->cur_keep_alive && !s->draining && status < 500;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s%s%s%s"
                     "Connection: %s\r\n\r\n",
                     status, sotto_http_status_text(status), body_len,
                     content_type ? "Content-Type: " : "", content_type ? content_type : "",
                     content_type ? "\r\n" : "",
                     status == 401 ? "WWW-Authenticate: Basic realm=\"sotto\"\r\n" : "",
                     extra_headers ? extra_headers : "", keep ? "keep-alive" : "close");
    if (n < 0 || (size_t)n >= sizeof head || sotto_conn_write(c, head, (size_t)n) != 0 ||
        (body_len > 0 && sotto_conn_write(c, body, body_len) != 0)) {
        conn_abort(c);
        return;
    }
    sotto_conn_flush(c);
    consume_request(c);
    if (!keep) {
        sotto_conn_close(c);
        return;
    }
    c->deadline_ms = sotto_srv_now_ms(s) + s->cfg.idle_timeout_ms;
    start_reading(c);
    schedule_pump(c);
}

void sotto_conn_error(sotto_conn *c, int status, const char *message)
{
    char body[256];
    /* message is a static phrase of ours: no quotes or backslashes in it. */
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", message);
    if (n < 0 || (size_t)n >= sizeof body)
        n = 0;
    sotto_conn_respond(c, status, "application/json", body, (size_t)n, NULL);
}

/* A refusal before the request could be framed: answer, then close (the rest
 * of the stream cannot be trusted). */
static void refuse_and_close(sotto_conn *c, int status, const char *why)
{
    c->cur_keep_alive = false;
    c->cur_len = c->in_len;
    sotto_conn_error(c, status, why);
}

/* ---- reading HTTP ---- */

/* Opens TLS records into c->in until it holds `want` bytes (a record's
 * plaintext goes in whole, so c->in may pass want by less than 16 KiB).
 * Returns 1 if records were used, 0 if more socket data is needed, -1 when
 * the connection is closing. Records stay sealed in c->cin until a request
 * wants them, and while a job owns the request nothing more is read. */
static int read_plain(sotto_conn *c, size_t want)
{
    int used = 0;
    while (c->in_len < want) {
        int r = sotto_conn_pull(c);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        used = 1;
    }
    return used;
}

static void pump_http(sotto_conn *c)
{
    sotto_srv *s = c->srv;
    c->in_pump = true;
    do {
        c->want_pump = false;
        while (!c->paused && !c->closing && !c->handle_closed && c->state == SOTTO_CONN_HTTP) {
            sotto_http_req req;
            int status;
            const char *why;
            size_t max_head = c->authed ? s->cfg.max_header_bytes : s->cfg.max_header_bytes_preauth;
            sotto_http_result r = sotto_http_parse_head(c->in, c->in_len, max_head, &req, &status, &why);
            if (r == SOTTO_HTTP_REFUSED) {
                sotto_metrics_error(status == 431 ? SOTTO_ERRK_HTTP_TOO_LARGE
                                                  : SOTTO_ERRK_HTTP_MALFORMED);
                sotto_log(SOTTO_LOG_INFO, "http_refused", " status=%d reason=\"%s\"", status, why);
                refuse_and_close(c, status, why);
                break;
            }
            size_t want = max_head;
            if (r == SOTTO_HTTP_COMPLETE) {
                /* Credentials first: they decide the body limit. */
                bool authed = false;
                if (req.authorization.n > 0) {
                    uint8_t tag[32];
                    sotto_auth_tag(s, req.authorization, tag);
                    if (c->authed && sodium_memcmp(tag, c->auth_tag, sizeof tag) == 0) {
                        authed = true;
                    } else {
                        c->cur_keep_alive = req.keep_alive;
                        c->cur_len = 0;
                        sotto_auth_start(c, &req);
                        break;
                    }
                }
                uint64_t max_body = c->authed ? s->cfg.max_body : s->cfg.max_body_preauth;
                if (req.content_length > max_body) {
                    sotto_metrics_error(SOTTO_ERRK_HTTP_TOO_LARGE);
                    refuse_and_close(c, 413, "request body too large");
                    break;
                }
                want = req.head_len + (size_t)req.content_length;
                /* The limits and credentials passed: a client waiting on
                 * "Expect: 100-continue" may now send its body. */
                if (c->in_len < want && !c->continue_sent &&
                    sotto_slice_ieq(sotto_http_header_get(&req, "expect"), "100-continue")) {
                    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                    c->continue_sent = true;
                    if (sotto_conn_write(c, cont, sizeof cont - 1) != 0) {
                        conn_abort(c);
                        break;
                    }
                    sotto_conn_flush(c);
                }
                if (c->in_len >= want) {
                    sotto_g_metrics.requests_total++;
                    c->cur_len = (uint32_t)want;
                    c->cur_keep_alive = req.keep_alive;
                    sotto_api_dispatch(c, &req, authed, c->in + req.head_len,
                                       (size_t)req.content_length);
                    continue;
                }
            }
            bool was_empty = c->in_len == 0;
            int got = read_plain(c, want);
            if (got <= 0)
                break;
            /* A new request started: it has header_timeout_ms to arrive whole
             * (head and body), however slowly the bytes dribble in. */
            if (was_empty)
                c->deadline_ms = sotto_srv_now_ms(s) + s->cfg.header_timeout_ms;
        }
    } while (c->want_pump && !c->handle_closed);
    c->in_pump = false;
    /* While a job owns the request, stop reading: ciphertext then waits in
     * the kernel, not in our memory. */
    if (c->paused && c->reading && !c->long_poll) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    if (g_read_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    g_read_busy = true;
    buf->base = (char *)g_read_buf;
    buf->len = sizeof g_read_buf;
}

static void handshake(sotto_conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        flush_handshake(c);
        const char *why = NULL;
        if (sotto_tls_rec_take(&c->tls, c->ssl, &why) != SOTTO_OK) {
            sotto_metrics_error(SOTTO_ERRK_TLS);
            sotto_log(SOTTO_LOG_WARN, "tls_take_failed", " reason=\"%s\"", why ? why : "");
            conn_abort(c);
            return;
        }
        /* Bytes that came after the client's Finished wait unread in the
         * rbio: they are the first records for the record layer. */
        size_t left = BIO_ctrl_pending(c->rbio);
        if (left > 0) {
            if (left > sizeof g_scratch || BIO_read(c->rbio, g_scratch, (int)left) != (int)left ||
                cin_add(c, g_scratch, left) != 0) {
                conn_abort(c);
                return;
            }
        }
        SSL_free(c->ssl); /* ~15 KiB of OpenSSL state: gone (frees both BIOs) */
        c->ssl = NULL;
        c->rbio = c->wbio = NULL;
        c->tls_on = true;
        c->state = SOTTO_CONN_HTTP;
        c->deadline_ms = sotto_srv_now_ms(c->srv) + c->srv->cfg.idle_timeout_ms;
        pump_http(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    flush_handshake(c); /* handshake records, or an alert */
    if (e == SSL_ERROR_WANT_READ)
        return;
    sotto_metrics_error(SOTTO_ERRK_TLS);
    sotto_log(SOTTO_LOG_DEBUG, "tls_handshake_failed", NULL);
    conn_abort(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    sotto_conn *c = st->data;
    if (buf->base == (char *)g_read_buf)
        g_read_busy = false;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && c->state == SOTTO_CONN_WS && c->ws_close_sent)
            conn_abort(c);
        else
            conn_abort(c);
        return;
    }
    if (c->closing)
        return;
    if (c->tls_on ? cin_add(c, (const uint8_t *)buf->base, (size_t)nread) != 0
                  : BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
        conn_abort(c);
        return;
    }
    switch (c->state) {
    case SOTTO_CONN_TLS:
        handshake(c);
        break;
    case SOTTO_CONN_HTTP:
        if (!c->paused) {
            pump_http(c);
        } else if (c->long_poll && c->reading &&
                   c->cin_len - c->cin_off > SOTTOD_LONG_POLL_INPUT) {
            /* A long poll keeps reading only to see the client leave (EOF,
             * and the sweep frees its place); a client that sends ahead
             * waits in the kernel past this much. */
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        break;
    case SOTTO_CONN_WS:
        c->ws_last_rx_ms = sotto_srv_now_ms(c->srv);
        c->ws_ping_sent = false;
        sotto_ws_on_readable(c);
        break;
    }
}

static void start_reading(sotto_conn *c)
{
    if (!c->reading && !c->closing && !c->handle_closed) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    }
}

void sotto_conn_resume(sotto_conn *c)
{
    c->paused = false;
    if (c->handle_closed || c->closing)
        return;
    start_reading(c);
    schedule_pump(c);
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *server, int status)
{
    sotto_srv *s = server->data;
    if (status < 0)
        return;
    sotto_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    c->srv = s;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    if (s->n_conns >= s->cfg.max_connections || s->draining) {
        sotto_metrics_error(SOTTO_ERRK_CONN_LIMIT);
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        c->addr_len = (uint8_t)sotto_ratelimit_key((const struct sockaddr *)&ss, c->addr);
    uv_tcp_nodelay(&c->tcp, 1);
    c->ssl = SSL_new(s->ssl_ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        c->ssl = NULL;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    sotto_g_metrics.connections_total++;
    sotto_g_metrics.connections_open = s->n_conns;
    c->deadline_ms = sotto_srv_now_ms(s) + s->cfg.header_timeout_ms;
    start_reading(c);
}

/* ---- timers and signals ---- */

static void on_sweep(uv_timer_t *t)
{
    sotto_srv *s = t->data;
    uint64_t now = sotto_srv_now_ms(s);
    sotto_api_devices_sweep(s, now); /* long polls: timeouts, expiry, shutdown */
    for (sotto_conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->state == SOTTO_CONN_WS && !c->closing) {
            /* Dead peers: ping after SOTTOD_WS_PING_MS of silence, cut after twice that. */
            if (now - c->ws_last_rx_ms >= 2u * SOTTOD_WS_PING_MS) {
                sotto_metrics_error(SOTTO_ERRK_TIMEOUT);
                sotto_ws_close(c, 1001, "no answer to ping");
            } else if (now - c->ws_last_rx_ms >= SOTTOD_WS_PING_MS && !c->ws_ping_sent) {
                sotto_ws_ping(c);
            } else {
                sotto_ws_park_idle(c, now);
            }
            continue;
        }
        if (c->paused || c->closing || c->deadline_ms == 0)
            continue;
        if (now >= c->deadline_ms) {
            sotto_metrics_error(SOTTO_ERRK_TIMEOUT);
            if (c->state == SOTTO_CONN_HTTP && c->in_len > 0)
                refuse_and_close(c, 408, "request head timed out");
            else
                sotto_conn_close(c);
        }
    }
}

typedef struct expire_job {
    uv_work_t w;
    sotto_srv *s;
    sotto_store_err rc;
    uint64_t deleted;
} expire_job;

static void expire_work(uv_work_t *w)
{
    expire_job *j = w->data;
    sotto_store *h = sotto_pool_take(&j->s->pool);
    j->rc = sotto_store_expire(h, &j->deleted);
    sotto_pool_give(&j->s->pool, h);
}

static void expire_done(uv_work_t *w, int status)
{
    (void)status;
    expire_job *j = w->data;
    j->s->jobs--;
    if (j->rc == SOTTO_STORE_OK) {
        sotto_g_metrics.messages_expired_total += j->deleted;
        sotto_log(SOTTO_LOG_INFO, "expired", " envelopes=%llu", (unsigned long long)j->deleted);
    } else {
        sotto_metrics_error(SOTTO_ERRK_STORE);
        sotto_log(SOTTO_LOG_WARN, "expire_failed", " reason=\"%s\"", sotto_store_strerror(j->rc));
    }
    sotto_srv *s = j->s;
    free(j);
    sotto_srv_check_drain(s);
}

static void on_expire(uv_timer_t *t)
{
    sotto_srv *s = t->data;
    if (s->draining)
        return;
    expire_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return;
    j->s = s;
    j->w.data = j;
    if (uv_queue_work(s->loop, &j->w, expire_work, expire_done) != 0) {
        free(j);
        return;
    }
    s->jobs++;
}

static void close_if_open(uv_handle_t *h)
{
    if (h->type != UV_UNKNOWN_HANDLE && !uv_is_closing(h))
        uv_close(h, NULL);
}

void sotto_srv_check_drain(sotto_srv *s)
{
    if (!s->draining || s->stopped)
        return;
    if (s->n_conns > 0 || s->jobs > 0 || !sotto_batch_idle(s))
        return;
    s->stopped = true;
    sotto_ws_flush_deferred(s);
    close_if_open((uv_handle_t *)&s->flush_check);
    uv_timer_stop(&s->drain_timer);
    close_if_open((uv_handle_t *)&s->sweep_timer);
    close_if_open((uv_handle_t *)&s->expire_timer);
    close_if_open((uv_handle_t *)&s->batch_timer);
    close_if_open((uv_handle_t *)&s->drain_timer);
    close_if_open((uv_handle_t *)&s->sigterm);
    close_if_open((uv_handle_t *)&s->sigint);
    sotto_log(SOTTO_LOG_INFO, "drained", NULL);
}

static void on_drain_timeout(uv_timer_t *t)
{
    sotto_srv *s = t->data;
    sotto_log(SOTTO_LOG_WARN, "drain_timeout", " conns=%u", s->n_conns);
    for (sotto_conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        conn_abort(c);
    }
}

void sotto_srv_drain(sotto_srv *s)
{
    if (s->draining)
        return;
    s->draining = true;
    sotto_log(SOTTO_LOG_INFO, "draining", " conns=%u", s->n_conns);
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->listening = false;
    }
    sotto_batch_kick(s);
    for (sotto_conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->state == SOTTO_CONN_WS) {
            /* one with sends in the batch closes after their answers (batch.c) */
            if (c->ws_sends == 0)
                sotto_ws_close(c, 1001, "server going away");
        } else if (c->state == SOTTO_CONN_TLS || (!c->paused && c->cur_len == 0 && c->in_len == 0))
            sotto_conn_close(c);
        /* else: the request in flight is answered with Connection: close */
    }
    uv_timer_start(&s->drain_timer, on_drain_timeout, SOTTOD_DRAIN_MS, 0);
    sotto_srv_check_drain(s);
}

static void on_flush_check(uv_check_t *h)
{
    sotto_ws_flush_deferred(h->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
    sotto_log(SOTTO_LOG_INFO, "signal", " signal=%d", signum);
    sotto_srv_drain(h->data);
}

/* ---- set-up ---- */

int sotto_srv_init(sotto_srv *s, uv_loop_t *loop, const sotto_config *cfg, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->cfg = *cfg;
    randombytes_buf(s->tag_key, sizeof s->tag_key);
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_storage addr;
    if (uv_ip4_addr(cfg->listen_host, cfg->listen_port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(cfg->listen_host, cfg->listen_port, (struct sockaddr_in6 *)&addr) != 0) {
        snprintf(err, errlen, "listen: '%s' is not an IP address", cfg->listen_host);
        return -1;
    }

    int generated = 0;
    s->ssl_ctx = sotto_tls_server_ctx(cfg->cert_file, cfg->key_file, s->fingerprint, &generated,
                                      err, errlen);
    if (s->ssl_ctx == NULL)
        return -1;
    if (generated)
        sotto_log(SOTTO_LOG_INFO, "certificate_generated", " file=%s", cfg->cert_file);

    sotto_store_err se;
    if ((se = sotto_store_open(&s->store, cfg->data_dir)) != SOTTO_STORE_OK ||
        (se = sotto_store_open(&s->writer, cfg->data_dir)) != SOTTO_STORE_OK) {
        snprintf(err, errlen, "store: %s", sotto_store_strerror(se));
        return -1;
    }
    if ((se = sotto_store_tune_writer(s->writer)) != SOTTO_STORE_OK) {
        snprintf(err, errlen, "store: %s", sotto_store_strerror(se));
        return -1;
    }
    /* The queue-depth gauge starts from what the database holds. */
    uint64_t queued = 0;
    if ((se = sotto_store_queue_total(s->store, &queued)) != SOTTO_STORE_OK) {
        snprintf(err, errlen, "store: %s", sotto_store_strerror(se));
        return -1;
    }
    sotto_g_metrics.queue_depth_at_start = queued;
    /* Seqs are handed out here, so envelopes can be pushed before their
     * commit with their final ids (batch.c). */
    if ((se = sotto_store_seq_start(s->writer, &s->next_seq, &s->last_ts)) != SOTTO_STORE_OK) {
        snprintf(err, errlen, "store: %s", sotto_store_strerror(se));
        return -1;
    }
    s->committed_seq = s->next_seq - 1;
    s->seq_limit = s->next_seq - 1 + SOTTO_STORE_SEQ_RESERVE;
    uv_mutex_init(&s->pool.mu);
    uv_cond_init(&s->pool.cv);
    for (int i = 0; i < SOTTOD_STORE_POOL; i++) {
        if ((se = sotto_store_open(&s->pool.h[i], cfg->data_dir)) != SOTTO_STORE_OK) {
            snprintf(err, errlen, "store: %s", sotto_store_strerror(se));
            return -1;
        }
    }
    s->rl_register = sotto_ratelimit_new("register", cfg->register_burst, cfg->register_per_hour);
    s->rl_auth_fail = sotto_ratelimit_new("auth_failures", cfg->auth_fail_burst,
                                          cfg->auth_fail_per_hour);
    s->rl_lookup = sotto_ratelimit_new("lookup", SOTTOD_LOOKUP_BURST, SOTTOD_LOOKUP_PER_HOUR);
    s->dev = calloc(SOTTOD_DEV_BUCKETS, sizeof *s->dev);
    if (s->rl_register == NULL || s->rl_auth_fail == NULL || s->rl_lookup == NULL ||
        s->dev == NULL || sotto_batch_init(s) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    int r = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (r != 0) {
        snprintf(err, errlen, "listen on %s:%u: %s", cfg->listen_host, cfg->listen_port,
                 uv_strerror(r));
        uv_close((uv_handle_t *)&s->listener, NULL);
        return -1;
    }
    s->listening = true;

    uv_check_init(loop, &s->flush_check);
    s->flush_check.data = s;
    uv_check_start(&s->flush_check, on_flush_check);
    uv_timer_init(loop, &s->sweep_timer);
    uv_timer_init(loop, &s->expire_timer);
    uv_timer_init(loop, &s->batch_timer);
    uv_timer_init(loop, &s->drain_timer);
    s->sweep_timer.data = s->expire_timer.data = s->batch_timer.data = s->drain_timer.data = s;
    uv_timer_start(&s->sweep_timer, on_sweep, SOTTOD_SWEEP_MS, SOTTOD_SWEEP_MS);
    uv_timer_start(&s->expire_timer, on_expire, 1000, SOTTOD_EXPIRE_SWEEP_MS);
    uv_signal_init(loop, &s->sigterm);
    uv_signal_init(loop, &s->sigint);
    s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    return 0;
}

void sotto_srv_free(sotto_srv *s)
{
    sotto_batch_free(s);
    sotto_store_close(s->store);
    sotto_store_close(s->writer);
    for (int i = 0; i < SOTTOD_STORE_POOL; i++)
        sotto_store_close(s->pool.h[i]);
    if (s->pool.h[0] != NULL || s->rl_register != NULL) {
        uv_mutex_destroy(&s->pool.mu);
        uv_cond_destroy(&s->pool.cv);
    }
    sotto_ratelimit_free(s->rl_register);
    sotto_ratelimit_free(s->rl_auth_fail);
    sotto_ratelimit_free(s->rl_lookup);
    s->rl_lookup = NULL;
    free(s->dev);
    SSL_CTX_free(s->ssl_ctx);
    sodium_memzero(s->tag_key, sizeof s->tag_key);
    sotto_api_cache_free(s);
    sotto_api_devices_free(s);
}
