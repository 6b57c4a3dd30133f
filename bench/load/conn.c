/* sotto-load: connection I/O. Sockets and OpenSSL's handshake; the records
 * after it sealed and opened by tls_rec (--records own) or by OpenSSL; output
 * queued per connection and written once per loop turn; WebSocket frames out;
 * set-up pacing and the epoll loop. */
#include "load.h"

SSL_CTX *g_ctx;
int g_ep;
uint32_t g_setup_active, g_setup_next, g_setup_total, g_setup_done, g_failed;
conn **g_setup_list;
uint64_t g_rng = 0x9e3779b97f4a7c15u;
bool g_keep_buffers;         /* relay: connections keep their buffers between reads */
static uint32_t g_src_rr;
static conn *g_dirty;        /* connections with output queued during this loop turn */
static bool g_no_pwait2;     /* epoll_pwait2 said ENOSYS: epoll_wait (ms) instead */

/* ---------- output: queued per connection, written once per loop turn ---------- */

static uint32_t rng32(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)g_rng;
}

static void ep_mod(conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->want_out = out;
}

/* Room for n more bytes at c->wbuf + c->wlen (the caller adds n to wlen). */
static char *wbuf_reserve(conn *c, size_t n)
{
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->wlen + n > c->wcap) {
        if (c->woff > 0) {
            memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
            c->wlen -= c->woff;
            c->woff = 0;
        }
        size_t cap = c->wcap ? c->wcap : 4096;
        while (c->wlen + n > cap)
            cap *= 2;
        if (cap != c->wcap) {
            char *nb = realloc(c->wbuf, cap);
            if (nb == NULL)
                die("out of memory");
            c->wbuf = nb;
            c->wcap = cap;
        }
    }
    return c->wbuf + c->wlen;
}

void wbuf_add(conn *c, const char *p, size_t n)
{
    memcpy(wbuf_reserve(c, n), p, n);
    c->wlen += n;
}

static void flush_rec(conn *c);

void flush(conn *c)
{
    if (c->rec_on) {
        flush_rec(c);
        return;
    }
    while (c->woff < c->wlen) {
        size_t n = c->wlen - c->woff;
        int r = SSL_write(c->ssl, c->wbuf + c->woff, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0) {
            c->woff += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) {
            if (!c->want_out)
                ep_mod(c, true);
            return;
        }
        if (e == SSL_ERROR_WANT_READ)
            return;
        conn_fail(c, "write failed");
        return;
    }
    c->woff = c->wlen = 0;
    if (c->wcap > LOAD_BUF_KEEP) { /* do not keep a burst's buffer */
        free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    if (c->want_out)
        ep_mod(c, false);
}

/* Writes c's output at the end of this loop turn (run_until): what a client
 * has to say in one turn (acks, sends, pongs) goes out in one SSL_write, so
 * one TLS record and one write(). */
void flush_later(conn *c)
{
    if (c->dirty || (c->woff == c->wlen && !(c->rec_on && c->tls.key_update_due)))
        return;
    c->dirty = true;
    c->next_dirty = g_dirty;
    g_dirty = c;
}

static void flush_dirty(void)
{
    while (g_dirty != NULL) {
        conn *c = g_dirty;
        g_dirty = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        if (c->state != CS_FAILED && c->state != CS_DONE && (c->ssl != NULL || c->rec_on))
            flush(c);
    }
}
/* ---------- --records own: tls_rec after OpenSSL's handshake ---------- */

/* OpenSSL hands over each secret as one text line: "LABEL client_random
 * secret" in hex. Only the two application traffic secrets are kept. */
void keylog_cb(const SSL *ssl, const char *line)
{
    conn *c = SSL_get_app_data(ssl);
    bool ours = strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", LOAD_KEYLOG_LABEL) == 0;
    if (c == NULL || !O.own_records ||
        (!ours && strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", LOAD_KEYLOG_LABEL) != 0))
        return;
    const char *sec = strchr(line + LOAD_KEYLOG_LABEL, ' ');
    if (sec == NULL)
        return;
    sec++;
    if (c->kl == NULL)
        c->kl = xmalloc(sizeof *c->kl);
    uint8_t *dst = ours ? c->kl->cts : c->kl->sts;
    size_t *len = ours ? &c->kl->cts_len : &c->kl->sts_len;
    if (sodium_hex2bin(dst, SOTTO_TLS_REC_MAX_SECRET, sec, strlen(sec), NULL, len, NULL) != 0)
        *len = 0;
}

/* Wipes and frees the captured secrets, if any. */
static void keylog_drop(conn *c)
{
    if (c->kl != NULL) {
        sodium_memzero(c->kl, sizeof *c->kl);
        free(c->kl);
        c->kl = NULL;
    }
}

/* After the client's handshake: the records from now on are sealed and
 * opened by sottod's own record layer (the same one the server runs,
 * docs/TLS.md), with the server's traffic secret for reading and ours for
 * writing, both sequence numbers 0 (sottod sends no session tickets). The
 * bytes on the wire are the same TLS 1.3 records OpenSSL would write; it
 * spares OpenSSL's per-record cost (SSL_read/SSL_write, BIO, EVP parameter
 * plumbing) in the load generator. 0 or -1 (why says why). */
static int take_records(conn *c, const char **why)
{
    const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
    uint16_t id = ciph != NULL ? SSL_CIPHER_get_protocol_id(ciph) : 0;
    sotto_tls_suite suite;
    switch (id) {
    case LOAD_TLS_AES_128_GCM: suite = SOTTO_TLS_AES_128_GCM_SHA256; break;
    case LOAD_TLS_AES_256_GCM: suite = SOTTO_TLS_AES_256_GCM_SHA384; break;
    case LOAD_TLS_CHACHA20: suite = SOTTO_TLS_CHACHA20_POLY1305_SHA256; break;
    default:
        *why = "unknown TLS 1.3 suite";
        return -1;
    }
    keylog *k = c->kl;
    int rc = -1;
    if (SSL_version(c->ssl) != TLS1_3_VERSION)
        *why = "not TLS 1.3";
    else if (k == NULL || k->cts_len == 0 || k->cts_len != k->sts_len)
        *why = "traffic secrets not captured";
    else if (SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl))
        *why = "OpenSSL holds records read after the handshake";
    else if (sotto_tls_rec_init(&c->tls, suite, k->sts, k->cts, k->cts_len) != SOTTO_OK)
        *why = "tls_rec_init failed";
    else
        rc = 0;
    keylog_drop(c);
    if (rc == 0) {
        SSL_free(c->ssl); /* the socket BIO does not close the fd */
        c->ssl = NULL;
        c->rec_on = true;
    }
    return rc;
}

/* Seals what the connection has queued (our KeyUpdate first when the server
 * asked for one) and writes it. */
static void flush_rec(conn *c)
{
    size_t n = c->wlen - c->woff;
    bool ku = c->tls.key_update_due || (n > 0 && sotto_tls_rec_should_rekey(&c->tls, 0));
    if (n > 0 || ku) {
        if (c->cout_off > 0) {
            memmove(c->cout, c->cout + c->cout_off, c->cout_len - c->cout_off);
            c->cout_len -= c->cout_off;
            c->cout_off = 0;
        }
        size_t need = c->cout_len + SOTTO_TLS_REC_KEY_UPDATE_BYTES + SOTTO_TLS_REC_SEAL_BOUND(n);
        if (need > c->cout_cap) {
            uint8_t *nb = realloc(c->cout, need);
            if (nb == NULL)
                die("out of memory");
            c->cout = nb;
            c->cout_cap = need;
        }
        size_t k = 0;
        if (ku) {
            if (sotto_tls_rec_seal_key_update(&c->tls, !c->tls.key_update_due,
                                              c->cout + c->cout_len, c->cout_cap - c->cout_len,
                                              &k) != SOTTO_OK) {
                conn_fail(c, "sealing a KeyUpdate failed");
                return;
            }
            c->cout_len += k;
        }
        if (n > 0) {
            if (sotto_tls_rec_seal(&c->tls, c->cout + c->cout_len, c->cout_cap - c->cout_len, &k,
                                   (const uint8_t *)c->wbuf + c->woff, n) != SOTTO_OK) {
                conn_fail(c, "sealing failed");
                return;
            }
            c->cout_len += k;
        }
        c->woff = c->wlen = 0;
    }
    while (c->cout_off < c->cout_len) {
        ssize_t w = write(c->fd, c->cout + c->cout_off, c->cout_len - c->cout_off);
        if (w > 0) {
            c->cout_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                ep_mod(c, true);
            return;
        }
        conn_fail(c, "write failed");
        return;
    }
    c->cout_off = c->cout_len = 0;
    if (c->cout_cap > LOAD_BUF_KEEP || (!g_keep_buffers && c->cout_cap > 0)) {
        free(c->cout);
        c->cout = NULL;
        c->cout_cap = 0;
    }
    if (c->wcap > LOAD_BUF_KEEP || (!g_keep_buffers && c->wcap > 0)) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    if (c->want_out)
        ep_mod(c, false);
}

/* Room for n more plaintext bytes at c->rbuf + c->rlen; -1 when that would
 * hold more than LOAD_MAX_RBUF + LOAD_READ_CHUNK bytes not yet handled. */
static int rbuf_reserve(conn *c, size_t n)
{
    if (c->rlen + n > LOAD_MAX_RBUF + LOAD_READ_CHUNK)
        return -1;
    if (c->rlen + n > c->rcap) {
        size_t cap = c->rcap ? c->rcap : LOAD_READ_CHUNK;
        while (c->rlen + n > cap)
            cap *= 2;
        char *nb = realloc(c->rbuf, cap);
        if (nb == NULL)
            die("out of memory");
        c->rbuf = nb;
        c->rcap = cap;
    }
    return 0;
}

/* One read() of ciphertext, every whole record in it opened into c->rbuf. A
 * read that fills the buffer leaves the rest to the next turn (epoll is
 * level-triggered). 0, or -1 when the connection failed. */
static int read_rec(conn *c)
{
    if (c->cin == NULL) {
        c->cin = malloc(LOAD_CIN_CAP);
        if (c->cin == NULL)
            die("out of memory");
    }
    ssize_t r = read(c->fd, c->cin + c->cin_len, LOAD_CIN_CAP - c->cin_len);
    if (r == 0) {
        conn_fail(c, "closed by the server");
        return -1;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        conn_fail(c, "read failed");
        return -1;
    }
    c->cin_len += (size_t)r;
    size_t off = 0;
    while (off < c->cin_len) {
        sotto_tls_rec_in in;
        sotto_tls_rec_result res = sotto_tls_rec_open(&c->tls, c->cin + off, c->cin_len - off, &in);
        if (res == SOTTO_TLS_REC_NEED_MORE)
            break;
        if (res == SOTTO_TLS_REC_DATA) {
            if (rbuf_reserve(c, in.data_len) != 0) {
                conn_fail(c, "input too large");
                return -1;
            }
            memcpy(c->rbuf + c->rlen, in.data, in.data_len);
            c->rlen += in.data_len;
        } else if (res == SOTTO_TLS_REC_KEY_UPDATE) {
            if (c->tls.key_update_due) /* ours goes out at the end of this turn */
                flush_later(c);
        } else if (res == SOTTO_TLS_REC_CLOSED) {
            conn_fail(c, "closed by the server (close_notify)");
            return -1;
        } else {
            conn_fail(c, in.why != NULL ? in.why : "bad TLS record");
            return -1;
        }
        off += in.consumed;
    }
    if (off > 0) {
        memmove(c->cin, c->cin + off, c->cin_len - off);
        c->cin_len -= off;
    }
    if (c->cin_len == 0 && !g_keep_buffers) {
        free(c->cin);
        c->cin = NULL;
    }
    return 0;
}

/* ---------- opening, failing, closing ---------- */

void conn_close(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    keylog_drop(c);
    sotto_tls_rec_wipe(&c->tls);
    c->rec_on = false;
    free(c->cin);
    free(c->cout);
    c->cin = c->cout = NULL;
    c->cin_len = c->cout_len = c->cout_off = c->cout_cap = 0;
    free(c->rbuf);
    free(c->wbuf);
    c->rbuf = c->wbuf = NULL;
    c->rlen = c->rcap = c->wlen = c->wcap = c->woff = 0;
}

void conn_fail(conn *c, const char *why)
{
    if (c->state == CS_FAILED || c->state == CS_DONE)
        return;
    bool was_setup = c->in_setup;
    fprintf(stderr, "sotto-load: connection (account %" PRIu32 ", %s) failed: %s\n", c->account,
            c->is_ws ? "ws" : "http", why);
    c->state = CS_FAILED;
    g_failed++;
    conn_close(c);
    if (was_setup)
        setup_finished(c, false);
}

static int conn_open(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (O.nsrc > 0) {
        struct sockaddr_in *s = &O.src[g_src_rr++ % O.nsrc];
        if (bind(c->fd, (struct sockaddr *)s, sizeof *s) != 0) {
            close(c->fd);
            c->fd = -1;
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(O.port)};
    inet_pton(AF_INET, O.host, &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->ssl = SSL_new(g_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
        die("SSL_new failed");
    SSL_set_app_data(c->ssl, c);
    SSL_set_connect_state(c->ssl);
    c->state = CS_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl add: %s", strerror(errno));
    c->want_out = true;
    return 0;
}

/* ---------- WebSocket frames out (masked, as a client must) ---------- */

void ws_send_frame(conn *c, uint8_t opcode, const char *p, size_t n)
{
    uint8_t h[LOAD_WS_HEADER_MAX];
    size_t hl = 0;
    h[hl++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        h[hl++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t m = rng32();
    uint8_t mask[8] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24),
                       (uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24)};
    memcpy(h + hl, mask, 4);
    hl += 4;
    /* header and masked payload straight into the output buffer */
    uint8_t *dst = (uint8_t *)wbuf_reserve(c, hl + n);
    memcpy(dst, h, hl);
    dst += hl;
    uint64_t m8;
    memcpy(&m8, mask, sizeof m8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, sizeof v);
        v ^= m8;
        memcpy(dst + i, &v, sizeof v);
    }
    for (; i < n; i++)
        dst[i] = (uint8_t)((uint8_t)p[i] ^ mask[i & 3]);
    c->wlen += hl + n;
}

/* ---------- input and events ---------- */

/* --records openssl: reads what OpenSSL can give without blocking, straight
 * into c->rbuf. 0, or -1 when the connection failed. */
static int read_ssl(conn *c)
{
    for (;;) {
        if (rbuf_reserve(c, LOAD_READ_CHUNK) != 0) {
            conn_fail(c, "input too large");
            return -1;
        }
        int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)LOAD_READ_CHUNK);
        if (r > 0) {
            c->rlen += (size_t)r;
            if (SSL_has_pending(c->ssl))
                continue;
            return 0;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        conn_fail(c, e == SSL_ERROR_ZERO_RETURN ? "closed by the server" : "read failed");
        return -1;
    }
}

/* One read event: with read-ahead (or our own read()) one system call brings
 * in every record the socket holds, up to the buffer; when nothing more is
 * buffered the loop stops without the read() that would only say EAGAIN:
 * epoll is level-triggered and reports any rest. */
static void conn_readable(conn *c)
{
    if ((c->rec_on ? read_rec(c) : read_ssl(c)) != 0)
        return;
    if (c->rlen == 0)
        return;
    if (c->state == CS_READY && c->is_ws)
        ws_input(c);
    else
        http_input(c);
    /* idle connections keep no buffers */
    if (!g_keep_buffers && c->state != CS_FAILED && c->rlen == 0 && c->rcap > 0) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

static void conn_event(conn *c, uint32_t ev)
{
    if (c->state == CS_FAILED || c->state == CS_DONE)
        return;
    if (c->state == CS_CONNECTING) {
        if (ev & (EPOLLERR | EPOLLHUP)) {
            conn_fail(c, "connect failed");
            return;
        }
        c->state = CS_HANDSHAKE;
    }
    if (c->state == CS_HANDSHAKE) {
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) {
            ep_mod(c, false);
            const char *why = NULL;
            if (O.own_records && take_records(c, &why) != 0) {
                conn_fail(c, why);
                return;
            }
            after_handshake(c);
            return;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            if (c->want_out)
                ep_mod(c, false);
            return;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            if (!c->want_out)
                ep_mod(c, true);
            return;
        }
        conn_fail(c, "TLS handshake failed");
        return;
    }
    if (ev & EPOLLOUT)
        flush(c);
    if (c->state != CS_FAILED && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        conn_readable(c);
    if (c->state != CS_FAILED)
        flush_later(c);
}

/* ---------- set-up pacing ---------- */

void setup_finished(conn *c, bool ok)
{
    (void)ok;
    if (!c->in_setup)
        return;
    c->in_setup = false;
    g_setup_active--;
    g_setup_done++;
    start_next_setups();
}

void start_next_setups(void)
{
    while (g_setup_active < O.concurrency && g_setup_next < g_setup_total) {
        conn *c = g_setup_list[g_setup_next++];
        c->in_setup = true;
        g_setup_active++;
        if (conn_open(c) != 0) {
            fprintf(stderr, "sotto-load: connect: %s\n", strerror(errno));
            c->state = CS_FAILED;
            c->in_setup = false;
            g_setup_active--;
            g_setup_done++;
            g_failed++;
        }
    }
}

/* ---------- the loop ---------- */

/* Runs the loop until done() or the deadline; returns false on timeout. One
 * turn: due sends (open loop), every connection's queued output written
 * (flush_later), then wait for events (open loop: no longer than until the
 * next message is due, but at least LOAD_PACE_TICK_NS) and handle them. */
bool run_until(bool (*done)(void), uint64_t deadline_ns)
{
    struct epoll_event ev[LOAD_EPOLL_EVENTS];
    for (;;) {
        uint64_t t = now_ns();
        uint64_t wake = t + 1000000000ull;
        if (O.rate > 0 && g_start_ns != 0 && O.via_ws) {
            uint64_t due = pace(t);
            if (due < wake)
                wake = due > t + LOAD_PACE_TICK_NS ? due : t + LOAD_PACE_TICK_NS;
        }
        flush_dirty();
        if (done())
            return true;
        if (t >= deadline_ns)
            return false;
        if (deadline_ns < wake)
            wake = deadline_ns;
        uint64_t left = wake > t ? wake - t : 0;
        int n = -1;
        if (!g_no_pwait2) {
            struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u),
                                  .tv_nsec = (long)(left % 1000000000u)};
            n = epoll_pwait2(g_ep, ev, LOAD_EPOLL_EVENTS, &ts, NULL);
            if (n < 0 && errno == ENOSYS) /* old kernels, valgrind 3.19 */
                g_no_pwait2 = true;
        }
        if (g_no_pwait2) /* millisecond timeout, rounded up */
            n = epoll_wait(g_ep, ev, LOAD_EPOLL_EVENTS, (int)((left + 999999u) / 1000000u));
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++)
            conn_event(ev[i].data.ptr, ev[i].events);
    }
}

bool setups_done(void)
{
    return g_setup_done >= g_setup_total;
}

void progress_setup(const char *what, uint64_t t0)
{
    fprintf(stderr, "sotto-load: %s: %" PRIu32 " connections set up in %.1f s (%" PRIu32
            " failed; registered %" PRIu64 ", already present %" PRIu64 ")\n",
            what, g_setup_done - g_failed, (double)(now_ns() - t0) / 1e9, g_failed, g_reg_ok,
            g_reg_taken);
}

