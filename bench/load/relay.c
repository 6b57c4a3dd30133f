/* sotto-load relay: senders submit (closed loop: --window in flight; open
 * loop: --rate, each message due at its own time), recipients read, check and
 * ack; latency, CPU and the result line. */
#include "load.h"

client *g_cl;
uint32_t g_ncl;
uint64_t g_start_ns;
static uint64_t g_last_rx_ns;
static uint64_t g_committed, g_received, g_dups, g_unknown, g_http_err, g_expected;
static uint32_t *g_lat_us;
static uint64_t g_nlat, g_lat_cap;
static char *g_filler_b64; /* reused base64 of the filler (after the 16-byte header) */
static uint8_t *g_filler;  /* --format pb: header + filler, O.size bytes */
static char *g_req;        /* relay: one submission being encoded (O.size in base64 + 512) */
static size_t g_req_cap;
static uint64_t g_pace_next; /* open loop: the first message (k * S + i) not yet due */

/* ---------- the envelope header: little-endian fields ---------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---------- CPU: the server's threads and our own ---------- */

/* Sets the affinity of every thread of pid (libuv's pool threads created
 * later inherit it from the loop thread). */
static void pin_process(int pid, const cpu_set_t *set)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d == NULL)
        die("--pin-server: %s: %s", path, strerror(errno));
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (sched_setaffinity((pid_t)atoi(e->d_name), sizeof *set, set) != 0)
            die("--pin-server: sched_setaffinity: %s", strerror(errno));
        n++;
    }
    closedir(d);
    fprintf(stderr, "sotto-load: pinned %d threads of sottod\n", n);
}

/* CPU seconds (user + system) of one thread of pid; tid 0: the whole process. */
static double cpu_s(int pid, int tid)
{
    char path[96], buf[1024];
    if (tid == 0)
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
    else
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    unsigned long ut = 0, st = 0;
    /* fields after the name: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's own user and system CPU seconds so far. */
static void self_cpu(double *user, double *sys)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        *user = *sys = 0;
        return;
    }
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---------- relay: sending ---------- */

/* The sender's next message: its recipient's name, and the 18-byte header it
 * starts with (sender, seq, send time t, two filler bytes: 18 = a base64
 * quantum). Sender s writes round robin to the clients r with r % S == (s+1) % S. */
static char *next_message(client *cl, uint64_t t, uint8_t hdr[18])
{
    uint32_t seq = cl->next_seq++;
    uint32_t to = (cl->idx + 1) % O.senders + (seq % (g_ncl / O.senders)) * O.senders;
    put_u32(hdr, cl->idx);
    put_u32(hdr + 4, seq);
    put_u64(hdr + 8, t);
    hdr[16] = hdr[17] = 0xa5;
    return g_cl[to].name;
}

void send_puts(client *cl)
{
    conn *c = &cl->http;
    if (c->state != CS_READY || g_start_ns == 0)
        return;
    char *req = g_req;
    while (c->inflight < O.window && cl->next_seq < cl->to_send) {
        uint8_t hdr[18];
        const char *to_name = next_message(cl, now_ns(), hdr);
        char hb[32];
        b64_into(hb, sizeof hb, hdr, sizeof hdr); /* 24 chars, no padding */
        char auth[300];
        auth_header(auth, sizeof auth, cl->idx);
        int bl = snprintf(req, g_req_cap,
                          "{\"messages\":[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"%s%s\"}]}",
                          hb, g_filler_b64);
        char head[512];
        int hl = snprintf(head, sizeof head,
                          "PUT /v1/messages/%s HTTP/1.1\r\nHost: localhost\r\n%s"
                          "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
                          to_name, auth, bl);
        wbuf_add(c, head, (size_t)hl);
        wbuf_add(c, req, (size_t)bl);
        c->inflight++;
    }
    flush_later(c);
}

/* Open loop: message k of sender i (number g = k * S + i) is due at
 * start + g / R. */
static uint64_t due_ns(uint64_t g)
{
    return g_start_ns + g * 1000000000ull / O.rate;
}

/* --via ws: the same submissions as WebSocket "send" messages on the
 * client's own socket, answered by {"type":"sent","id":seq,"status":...}. */
static void send_ws(client *cl)
{
    conn *c = &cl->ws;
    if (c->state != CS_READY || g_start_ns == 0)
        return;
    char *req = g_req;
    uint64_t now = now_ns();
    while (c->inflight < O.window && cl->next_seq < cl->to_send) {
        uint8_t hdr[18];
        uint64_t t = now;
        if (O.rate > 0) {
            /* Open loop: message k of sender i is due at start + (k * S + i) / R.
             * Latency counts from that time, not from when the window let
             * it go (no coordinated omission). */
            t = due_ns((uint64_t)cl->next_seq * O.senders + cl->idx);
            if (t > now)
                break;
        }
        uint32_t seq = cl->next_seq;
        char *to_name = next_message(cl, t, hdr);
        if (O.pb) {
            memcpy(g_filler, hdr, sizeof hdr);  /* the header, then the filler */
            Sottows__OutgoingMessage om = SOTTOWS__OUTGOING_MESSAGE__INIT;
            om.has_destination_device_id = om.has_type = om.has_content = 1;
            om.destination_device_id = 1;
            om.type = 1;
            om.content.data = g_filler;
            om.content.len = O.size;
            Sottows__OutgoingMessage *oms[1] = { &om };
            Sottows__Send sm = SOTTOWS__SEND__INIT;
            sm.has_id = 1;
            sm.id = seq;
            sm.to = to_name;
            sm.n_messages = 1;
            sm.messages = oms;
            Sottows__ClientMessage cm = SOTTOWS__CLIENT_MESSAGE__INIT;
            cm.kind_case = SOTTOWS__CLIENT_MESSAGE__KIND_SEND;
            cm.send = &sm;
            size_t pl = sottows__client_message__pack(&cm, (uint8_t *)req);
            ws_send_frame(c, 0x2, req, pl);
        } else {
            char hb[32];
            b64_into(hb, sizeof hb, hdr, sizeof hdr); /* 24 chars, no padding */
            int bl = snprintf(req, g_req_cap,
                              "{\"type\":\"send\",\"id\":%" PRIu32 ",\"to\":\"%s\",\"messages\":"
                              "[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"%s%s\"}]}",
                              seq, to_name, hb, g_filler_b64);
            ws_send_frame(c, 0x1, req, (size_t)bl);
        }
        c->inflight++;
    }
    flush_later(c);
}

/* The answer to one submission: a WebSocket "sent" (kind "send") or the
 * response to a PUT (kind "submit"). The first five refusals are printed
 * with what came with them. */
void count_answer(client *cl, const char *kind, int status, const char *what, size_t n)
{
    if (status == 200) {
        cl->committed++;
        g_committed++;
    } else {
        g_http_err++;
        if (g_http_err <= 5)
            fprintf(stderr, "sotto-load: %s answered %d: %.*s\n", kind, status,
                    (int)(n > 200 ? 200 : n), what);
    }
}

/* A "sent" answer (either form): what is one printed. */
static void count_sent(client *cl, int status, const char *what, size_t n)
{
    if (cl->ws.inflight > 0)
        cl->ws.inflight--;
    count_answer(cl, "send", status, what, n);
}

static void on_sent(client *cl, const char *msg, size_t n)
{
    const char *st = memmem(msg, n, "\"status\":", 9);
    count_sent(cl, st != NULL ? atoi(st + 9) : 0, msg, n);
}

/* ---------- relay: receiving ---------- */

static void lat_add(uint64_t ns)
{
    if (g_nlat == g_lat_cap) {
        g_lat_cap = g_lat_cap ? g_lat_cap * 2 : 65536;
        uint32_t *n = realloc(g_lat_us, g_lat_cap * sizeof *n);
        if (n == NULL)
            die("out of memory");
        g_lat_us = n;
    }
    uint64_t us = ns / 1000;
    g_lat_us[g_nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

typedef struct ackbuf {
    char s[64 + LOAD_ACK_IDS_MAX * (LOAD_UUID_CHARS + 3)];
    size_t len;
    uint32_t n;
    ProtobufCBinaryData ids[LOAD_ACK_IDS_MAX];  /* --format pb: point into id_store */
    uint8_t id_store[LOAD_ACK_IDS_MAX][LOAD_ENVELOPE_ID_BYTES];
} ackbuf;

static void ack_flush(conn *c, ackbuf *a)
{
    if (a->n == 0)
        return;
    if (O.pb) {
        Sottows__Ack ack = SOTTOWS__ACK__INIT;
        ack.n_ids = a->n;
        ack.ids = a->ids;
        Sottows__ClientMessage m = SOTTOWS__CLIENT_MESSAGE__INIT;
        m.kind_case = SOTTOWS__CLIENT_MESSAGE__KIND_ACK;
        m.ack = &ack;
        uint8_t buf[64 + LOAD_ACK_IDS_MAX * 20];
        size_t n = sottows__client_message__pack(&m, buf);
        ws_send_frame(c, 0x2, (const char *)buf, n);
        a->n = 0;
        return;
    }
    a->s[a->len++] = ']';
    a->s[a->len++] = '}';
    ws_send_frame(c, 0x1, a->s, a->len);
    a->n = 0;
    a->len = 0;
}

static void ack_add_pb(conn *c, ackbuf *a, const uint8_t *id)
{
    if (a->n == LOAD_ACK_IDS_MAX)
        ack_flush(c, a);
    memcpy(a->id_store[a->n], id, LOAD_ENVELOPE_ID_BYTES);
    a->ids[a->n].data = a->id_store[a->n];
    a->ids[a->n].len = LOAD_ENVELOPE_ID_BYTES;
    a->n++;
}

static void ack_add(conn *c, ackbuf *a, const char *id)
{
    if (a->n == LOAD_ACK_IDS_MAX)
        ack_flush(c, a);
    if (a->n == 0) {
        static const char pre[] = "{\"type\":\"ack\",\"ids\":[";
        memcpy(a->s, pre, sizeof pre - 1);
        a->len = sizeof pre - 1;
    } else {
        a->s[a->len++] = ',';
    }
    a->s[a->len++] = '"';
    memcpy(a->s + a->len, id, LOAD_UUID_CHARS);
    a->len += LOAD_UUID_CHARS;
    a->s[a->len++] = '"';
    a->n++;
}

/* The 18-byte header every relayed envelope starts with. */
static void on_header(client *cl, const uint8_t hdr[18], uint64_t t)
{
    uint32_t from = get_u32(hdr), seq = get_u32(hdr + 4);
    uint64_t sent = get_u64(hdr + 8);
    if (from >= O.senders || (cl->idx % O.senders) != (from + 1) % O.senders ||
        seq >= g_cl[from].to_send || g_start_ns == 0 || sent < g_start_ns) {
        g_unknown++; /* a leftover of an earlier run, or not ours */
        return;
    }
    uint8_t *seen = &g_cl[from].seen[seq];
    if (*seen < UINT8_MAX)
        (*seen)++;
    if (*seen > 1) {
        g_dups++;
        return;
    }
    g_received++;
    g_last_rx_ns = t;
    lat_add(t - sent);
}

static void on_envelope(client *cl, const char *msg, size_t n, ackbuf *a)
{
    uint64_t t = now_ns();
    const char *id = memmem(msg, n, "\"id\":\"", 6);
    const char *ct = memmem(msg, n, "\"content\":\"", 11);
    if (id == NULL || ct == NULL || (size_t)(msg + n - id) < 6 + LOAD_UUID_CHARS) {
        g_unknown++;
        return;
    }
    id += 6;
    ack_add(&cl->ws, a, id);
    ct += 11;
    const char *ce = memchr(ct, '"', (size_t)(msg + n - ct));
    uint8_t hdr[18];
    size_t got = 0;
    /* decode just the first 24 chars (18 bytes) */
    if (ce == NULL || ce - ct < 24 ||
        sodium_base642bin(hdr, sizeof hdr, ct, 24, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || got != 18) {
        g_unknown++;
        return;
    }
    on_header(cl, hdr, t);
}

/* protobuf-c allocations of one unpacked ServerMessage come from a static
 * arena, emptied after each message (no malloc per received frame); a message
 * that does not fit falls back to malloc. */
static _Alignas(16) uint8_t g_pb_arena[LOAD_PB_ARENA];
static size_t g_pb_used;

static void *pb_alloc(void *data, size_t n)
{
    (void)data;
    size_t a = (n + 15u) & ~(size_t)15u;
    if (a >= n && a <= LOAD_PB_ARENA - g_pb_used) {
        void *p = g_pb_arena + g_pb_used;
        g_pb_used += a;
        return p;
    }
    return malloc(n);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)g_pb_arena;
    if (a < lo || a >= lo + LOAD_PB_ARENA)
        free(p);
}

static ProtobufCAllocator g_pb_allocator = {.alloc = pb_alloc, .free = pb_free};

/* --format pb: one ServerMessage. An envelope's id is copied into the ack
 * buffer, flushed at the end of ws_input (or when it holds 100). */
static void on_binary(client *cl, const uint8_t *p, size_t n, ackbuf *a)
{
    g_pb_used = 0;
    Sottows__ServerMessage *m = sottows__server_message__unpack(&g_pb_allocator, n, p);
    if (m == NULL) {
        g_unknown++;
        return;
    }
    if (m->kind_case == SOTTOWS__SERVER_MESSAGE__KIND_ENVELOPE) {
        const Sottows__Envelope *e = m->envelope;
        if (cl == NULL || e->id.len != LOAD_ENVELOPE_ID_BYTES || e->content.len < 18) {
            g_unknown++;
        } else {
            ack_add_pb(&cl->ws, a, e->id.data); /* copied: the arena is emptied below */
            on_header(cl, e->content.data, now_ns());
        }
    } else if (m->kind_case == SOTTOWS__SERVER_MESSAGE__KIND_SENT && cl != NULL) {
        const Sottows__SendResult *r = m->sent;
        const char *err = r->error ? r->error : "";
        count_sent(cl, (int)r->status, err, strlen(err));
    } else if (m->kind_case == SOTTOWS__SERVER_MESSAGE__KIND_QUEUE_EMPTY && cl != NULL) {
        cl->queue_empty = true;
    }
    sottows__server_message__free_unpacked(m, &g_pb_allocator);
    g_pb_used = 0;
}

void ws_input(conn *c)
{
    client *cl = c->cl; /* NULL for idle connections */
    ackbuf a = {.n = 0};
    size_t off = 0;
    while (c->rlen - off >= 2) {
        const uint8_t *h = (const uint8_t *)c->rbuf + off;
        size_t avail = c->rlen - off, hl = 2;
        uint64_t len = h[1] & 0x7f;
        if (h[1] & 0x80) {
            conn_fail(c, "masked frame from the server");
            return;
        }
        if (len == 126) {
            if (avail < 4)
                break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[2 + i];
            hl = 10;
        }
        if (len > LOAD_MAX_RBUF) {
            conn_fail(c, "frame too large");
            return;
        }
        if (avail - hl < len)
            break;
        const char *p = (const char *)h + hl;
        uint8_t op = h[0] & 0x0f;
        if (!(h[0] & 0x80)) {
            conn_fail(c, "fragmented frame (not expected from sottod)");
            return;
        }
        if (op == 0x1) {
            if (len >= 16 && memmem(p, (size_t)len, "\"type\":\"envelope\"", 17) != NULL) {
                if (cl != NULL)
                    on_envelope(cl, p, (size_t)len, &a);
                else
                    g_unknown++; /* idle: not acked, stays queued */
            } else if (cl != NULL && len >= 14 && memcmp(p, "{\"type\":\"sent\"", 14) == 0) {
                on_sent(cl, p, (size_t)len);
            } else if (cl != NULL && memmem(p, (size_t)len, "queue_empty", 11) != NULL) {
                cl->queue_empty = true;
            }
        } else if (op == 0x2) {
            if (cl != NULL || !O.pb)
                on_binary(cl, (const uint8_t *)p, (size_t)len, &a);
            else
                g_unknown++;
        } else if (op == 0x9) {
            ws_send_frame(c, 0xA, p, (size_t)len);
        } else if (op == 0x8) {
            ack_flush(c, &a);
            flush(c);
            conn_fail(c, "closed by the server");
            return;
        }
        off += hl + (size_t)len;
    }
    ack_flush(c, &a);
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (cl != NULL && O.via_ws)
        send_ws(cl);    /* answers opened the window: the next sends ride with the acks */
    flush_later(c);
}

/* Open loop: lets every sender with a message that fell due since the last
 * turn send (each sends all its due messages its window allows; a sender held
 * by its window sends from ws_input when answers open it). Touches only those
 * senders, not all of them every turn. Returns when the next message is due
 * (UINT64_MAX: none left). */
uint64_t pace(uint64_t now)
{
    uint64_t first = g_pace_next;
    while (g_pace_next < g_expected && due_ns(g_pace_next) <= now)
        g_pace_next++;
    if (g_pace_next - first >= O.senders) {
        for (uint32_t i = 0; i < O.senders; i++)
            send_ws(&g_cl[i]);
    } else {
        for (uint64_t g = first; g < g_pace_next; g++)
            send_ws(&g_cl[g % O.senders]);
    }
    return g_pace_next < g_expected ? due_ns(g_pace_next) : UINT64_MAX;
}

static bool relay_ready(void)
{
    if (!setups_done())
        return false;
    for (uint32_t i = 0; i < g_ncl; i++) {
        if (g_cl[i].ws.state == CS_READY && !g_cl[i].queue_empty)
            return false;
    }
    return true;
}

static bool relay_done(void)
{
    /* every send answered, and every committed one delivered (a refused
     * send, e.g. 503 when sottod is overloaded, is counted, not waited for) */
    return g_committed + g_http_err >= g_expected && g_received >= g_committed;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (g_nlat == 0)
        return 0;
    uint64_t i = (uint64_t)(p * (double)(g_nlat - 1) + 0.5);
    return g_lat_us[i] / 1000.0;
}

/* ---------- relay: the run ---------- */

int run_relay(void)
{
    g_ncl = O.clients;
    g_cl = xmalloc(sizeof *g_cl * g_ncl);
    uint32_t per = O.messages / O.senders, extra = O.messages % O.senders;
    g_setup_total = g_ncl + O.senders;
    g_setup_list = xmalloc(sizeof *g_setup_list * g_setup_total);
    for (uint32_t i = 0; i < g_ncl; i++) {
        client *cl = &g_cl[i];
        cl->idx = i;
        account_name(cl->name, sizeof cl->name, i);
        cl->to_send = i < O.senders ? per + (i < extra ? 1 : 0) : 0;
        cl->seen = xmalloc(cl->to_send ? cl->to_send : 1);
        cl->http.cl = cl->ws.cl = cl;
        cl->http.account = cl->ws.account = i;
        cl->http.fd = cl->ws.fd = -1;
        cl->ws.is_ws = true;
    }
    /* HTTP connections of the senders first (they register when asked), then
     * every WebSocket */
    for (uint32_t i = 0; i < O.senders; i++)
        g_setup_list[i] = &g_cl[i].http;
    for (uint32_t i = 0; i < g_ncl; i++)
        g_setup_list[O.senders + i] = &g_cl[i].ws;
    for (uint32_t i = O.senders; i < g_ncl; i++)
        g_cl[i].http.state = CS_DONE;
    if (O.via_ws && !O.do_register) { /* senders submit on their WebSocket: no HTTP
                                         * connections (--register still registers on them) */
        for (uint32_t i = 0; i < O.senders; i++)
            g_cl[i].http.state = CS_DONE;
        memmove(g_setup_list, g_setup_list + O.senders, sizeof *g_setup_list * g_ncl);
        g_setup_total = g_ncl;
    }
    /* the WebSocket of a client must not start before its account exists:
     * with --register, open all HTTP connections (registering) first */
    uint64_t t0 = now_ns();
    if (O.do_register) {
        g_setup_total = O.senders;
        start_next_setups();
        if (!run_until(setups_done, t0 + (uint64_t)O.timeout_s * 1000000000u))
            die("timed out registering");
        g_setup_total = g_ncl + O.senders;
        start_next_setups();
    } else {
        start_next_setups();
    }
    if (!run_until(relay_ready, t0 + (uint64_t)O.timeout_s * 1000000000u))
        die("timed out setting up connections");
    progress_setup("relay", t0);
    if (g_failed > 0)
        die("%" PRIu32 " connections failed to set up", g_failed);

    size_t fl = O.size - 18;
    uint8_t *filler = xmalloc(fl ? fl : 1);
    memset(filler, 0xa5, fl);
    size_t cap = sodium_base64_ENCODED_LEN(fl, sodium_base64_VARIANT_ORIGINAL);
    g_filler_b64 = xmalloc(cap);
    sodium_bin2base64(g_filler_b64, cap, filler, fl, sodium_base64_VARIANT_ORIGINAL);
    free(filler);
    g_filler = xmalloc(O.size);
    memset(g_filler, 0xa5, O.size);
    g_req_cap = sodium_base64_ENCODED_LEN(O.size, sodium_base64_VARIANT_ORIGINAL) + 512;
    g_req = xmalloc(g_req_cap);

    if (O.have_pin)
        pin_process(O.server_pid, &O.pin);
    if (O.on_start != NULL && system(O.on_start) != 0)
        fprintf(stderr, "sotto-load: --on-start command failed\n");
    g_expected = O.messages;
    double srv0 = O.server_pid ? cpu_s(O.server_pid, 0) : 0;
    double loop0 = O.server_pid ? cpu_s(O.server_pid, O.server_pid) : 0;
    double user0, sys0, user1, sys1;
    self_cpu(&user0, &sys0);
    g_start_ns = now_ns();
    for (uint32_t i = 0; i < g_ncl; i++) {
        if (O.via_ws)
            send_ws(&g_cl[i]);
        else
            send_puts(&g_cl[i]);
    }
    bool ok = run_until(relay_done, g_start_ns + (uint64_t)O.timeout_s * 1000000000u);
    uint64_t end = g_last_rx_ns > g_start_ns ? g_last_rx_ns : now_ns();
    if (O.on_end != NULL && system(O.on_end) != 0)
        fprintf(stderr, "sotto-load: --on-end command failed\n");
    self_cpu(&user1, &sys1);
    double srv1 = O.server_pid ? cpu_s(O.server_pid, 0) : 0;
    double loop1 = O.server_pid ? cpu_s(O.server_pid, O.server_pid) : 0;
    double secs = (double)(end - g_start_ns) / 1e9;
    qsort(g_lat_us, g_nlat, sizeof *g_lat_us, cmp_u32);
    uint64_t missing = 0, multi = 0;
    for (uint32_t i = 0; i < O.senders; i++) {
        for (uint32_t s = 0; s < g_cl[i].to_send; s++) {
            if (g_cl[i].seen[s] == 0)
                missing++;
            else if (g_cl[i].seen[s] > 1)
                multi++;
        }
    }
    printf("relay via=%s format=%s rate=%" PRIu32 " clients=%" PRIu32 " senders=%" PRIu32 " window=%" PRIu32 " size=%" PRIu32 " messages=%" PRIu64
           " committed=%" PRIu64 " received=%" PRIu64 " missing=%" PRIu64 " duplicates=%" PRIu64
           " submit_errors=%" PRIu64 " foreign=%" PRIu64 " seconds=%.3f msgs_per_s=%.0f"
           " p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f"
           " server_cpu_s=%.2f server_loop_cpu_s=%.2f"
           " load_user_s=%.2f load_sys_s=%.2f load_us_per_msg=%.1f%s\n",
           O.via_ws ? "ws" : "http", O.pb ? "pb" : "json", O.rate, O.clients, O.senders, O.window, O.size, g_expected, g_committed, g_received, missing, g_dups,
           g_http_err, g_unknown, secs, secs > 0 ? (double)g_received / secs : 0.0, pct(0.50),
           pct(0.90), pct(0.99), g_nlat ? g_lat_us[g_nlat - 1] / 1000.0 : 0.0,
           srv1 - srv0, loop1 - loop0, user1 - user0, sys1 - sys0,
           g_received > 0 ? (user1 - user0 + sys1 - sys0) * 1e6 / (double)g_received : 0.0,
           ok ? "" : " TIMEOUT");
    fflush(stdout);
    (void)multi;
    if (O.check && (!ok || missing != 0 || g_dups != 0 || g_http_err != 0 || g_committed != g_expected))
        return 1;
    return ok ? 0 : 1;
}

