/* sotto-load: drives real TLS (1.3) + HTTP/1.1 + WebSocket clients against
 * sottod from one epoll loop (many connections, one thread), and measures:
 *
 *   relay: N clients, each with one authenticated WebSocket on which it sends
 *          (WebSocket "send" messages, binary sotto.pb or JSON; or with --via
 *          http PUTs on a second connection), receives and acks. Sender s
 *          writes round robin to the clients r with r % S == (s+1) % S. A
 *          message counts once the sender's send was answered 200 (durable
 *          commit) and the recipient read it (and acked it with everything
 *          else that read brought). Closed loop (--window sends in flight per
 *          client) or open loop (--rate: each message due at its own time;
 *          latency from that due time to the read of the pushed envelope).
 *   idle:  opens --conns connections, authenticates each (GET /v1/keys, or a
 *          WebSocket upgrade with --ws), and reads sottod's RSS before and after.
 *   register: registers --clients accounts (409 "taken" counts as present:
 *          names and secrets are deterministic, so a data dir can be reused).
 *   free-port: prints a free loopback TCP port.
 *
 * One loop turn: due sends (open loop), then each connection's queued output
 * in one TLS record and one write(), then epoll and one read() per readable
 * socket. The handshake is OpenSSL's; the records after it are sealed and
 * opened by sottod's tls_rec (--records own, default) or by OpenSSL.
 *
 * The server certificate is not verified (loopback benchmark only). Content of
 * each envelope: u32 sender, u32 seq, u64 send time (ns, CLOCK_MONOTONIC), then
 * filler to --size bytes; the receiver checks each (sender, seq) arrives once. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sodium.h>

#include "sottod_ws.pb-c.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "crypto/kyber1024.h"
#include "crypto/primitives.h"
#include "crypto/xeddsa.h"
#include "tls_rec.h"

#define LOAD_MAX_CLIENTS     50000u
#define LOAD_MAX_SRC         16u
#define LOAD_READ_CHUNK      16384u
#define LOAD_MAX_RBUF        (4u << 20)   /* one HTTP response or WS frame, at most */
#define LOAD_MAX_WINDOW      256u
#define LOAD_MAX_SIZE        65536u
#define LOAD_MIN_SIZE        16u
#define LOAD_ACK_IDS_MAX     100u         /* API: 1..100 ids per ack frame */
#define LOAD_UUID_CHARS      36u
#define LOAD_ENVELOPE_ID_BYTES 16u        /* sotto.pb: envelope ids as raw bytes */
#define LOAD_NAME_MAX        32u          /* --prefix (<= 16) + a uint32 + NUL */
#define LOAD_EC_KEY_BYTES    33u
#define LOAD_KYBER_KEY_BYTES (1u + KYBER1024_PUBLICKEYBYTES)
#define LOAD_EPOLL_EVENTS    256
#define LOAD_SSL_READ_BUFFER (64u * 1024u) /* relay: OpenSSL's read-ahead buffer (one read() for many records) */
#define LOAD_PACE_TICK_NS    1000000u     /* open loop: the loop sleeps at least this long, so an
                                           * idle loop writes a due message at most this late
                                           * (250 us: ~10% more CPU per message at 100 clients) */
#define LOAD_PB_ARENA        16384u       /* protobuf-c unpacks one ServerMessage in here */
#define LOAD_WS_HEADER_MAX   14u          /* client frame header: 2 + 8 (length) + 4 (mask) */
#define LOAD_CIN_CAP         (64u * 1024u) /* --records own: ciphertext of one read() */
#define LOAD_BUF_KEEP        65536u       /* output buffers larger than this are freed once written */
#define LOAD_KEYLOG_LABEL    24u          /* "CLIENT_TRAFFIC_SECRET_0 " */
#define LOAD_TLS_AES_128_GCM 0x1301u      /* TLS 1.3 cipher suite ids (RFC 8446 B.4) */
#define LOAD_TLS_AES_256_GCM 0x1302u
#define LOAD_TLS_CHACHA20    0x1303u

_Static_assert(LOAD_CIN_CAP >= 2u * SOTTO_TLS_REC_MAX_RECORD, "a read holds a whole record");

/* ---------- small helpers ---------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sotto-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

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

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

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

/* ---------- options ---------- */

typedef enum { MODE_RELAY, MODE_IDLE, MODE_REGISTER } load_mode;

typedef struct opts {
    load_mode mode;
    char host[64];
    uint16_t port;
    uint32_t clients;     /* relay/register: accounts used */
    uint32_t senders;     /* relay: clients 0..senders-1 also submit (divides clients) */
    uint32_t messages;    /* relay: total */
    uint32_t window;      /* relay: PUTs in flight per client */
    uint32_t size;        /* relay: envelope bytes */
    uint32_t conns;       /* idle */
    uint32_t accounts;    /* idle without --ws: accounts shared by the connections */
    uint32_t concurrency; /* connections being set up at once */
    uint32_t timeout_s;
    uint32_t hold_s;      /* idle: settle time before reading RSS */
    bool ws;              /* idle: WebSocket upgrades */
    bool health;          /* idle: GET /health, no authentication */
    bool ws_ping;         /* idle --ws: send one ping after the upgrade */
    bool do_register;     /* relay/idle: register accounts first */
    int server_pid;
    char prefix[24];
    struct sockaddr_in src[LOAD_MAX_SRC];
    uint32_t nsrc;
    bool check;           /* exit 1 unless every message arrived exactly once */
    const char *on_start, *on_end; /* relay: shell commands around the sending */
    cpu_set_t pin;        /* relay: server CPUs once set up (Argon2 may use all) */
    bool have_pin;
    bool via_ws;          /* relay: submit as WebSocket "send" messages (no HTTP conns) */
    uint32_t rate;        /* relay: open loop, messages/s in all (0: closed loop, --window) */
    bool pb;              /* WebSockets ask for "sotto.pb": binary messages (sottod_ws.proto) */
    bool own_records;     /* after OpenSSL's handshake, records by tls_rec (--records own) */
} opts;

static opts O;

/* ---------- registration body (one identity, reused by every account) ---------- */

static char *g_reg_keys; /* the JSON members after username/secret */

static void b64_into(char *out, size_t cap, const uint8_t *p, size_t n)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

static void make_reg_keys(void)
{
    uint8_t id_pub[32], id_priv[32], spk_pub[32], spk_priv[32];
    uint8_t ec[LOAD_EC_KEY_BYTES], kyb[LOAD_KYBER_KEY_BYTES];
    uint8_t ksk[KYBER1024_SECRETKEYBYTES], sig1[64], sig2[64], rnd[64];
    sotto_x25519_keypair(id_pub, id_priv);
    sotto_x25519_keypair(spk_pub, spk_priv);
    sotto_kyber1024_keypair(kyb + 1, ksk);
    kyb[0] = 0x08;
    ec[0] = 0x05;
    memcpy(ec + 1, spk_pub, 32);
    randombytes_buf(rnd, sizeof rnd);
    if (sotto_xeddsa_sign(sig1, id_priv, ec, sizeof ec, rnd) != 0)
        die("xeddsa failed");
    randombytes_buf(rnd, sizeof rnd);
    if (sotto_xeddsa_sign(sig2, id_priv, kyb, sizeof kyb, rnd) != 0)
        die("xeddsa failed");
    char idb[64], ecb[64], s1[100], s2[100];
    static char kb[2200];
    uint8_t idk[LOAD_EC_KEY_BYTES];
    idk[0] = 0x05;
    memcpy(idk + 1, id_pub, 32);
    b64_into(idb, sizeof idb, idk, sizeof idk);
    b64_into(ecb, sizeof ecb, ec, sizeof ec);
    b64_into(s1, sizeof s1, sig1, sizeof sig1);
    b64_into(s2, sizeof s2, sig2, sizeof sig2);
    b64_into(kb, sizeof kb, kyb, sizeof kyb);
    size_t cap = 4096;
    g_reg_keys = xmalloc(cap);
    int n = snprintf(g_reg_keys, cap,
                     "\"registrationId\":4242,\"identityKey\":\"%s\","
                     "\"signedPreKey\":{\"keyId\":1,\"publicKey\":\"%s\",\"signature\":\"%s\"},"
                     "\"pqLastResortPreKey\":{\"keyId\":1000,\"publicKey\":\"%s\",\"signature\":\"%s\"}}",
                     idb, ecb, s1, kb, s2);
    if (n < 0 || (size_t)n >= cap)
        die("registration body too long");
    sodium_memzero(id_priv, sizeof id_priv);
    sodium_memzero(spk_priv, sizeof spk_priv);
    sodium_memzero(ksk, sizeof ksk);
}

/* Deterministic name and secret, so a kept data dir can be reused. */
static void account_name(char *out, size_t cap, uint32_t i)
{
    snprintf(out, cap, "%s%" PRIu32, O.prefix, i);
}
static void account_secret(char *out, size_t cap, uint32_t i)
{
    snprintf(out, cap, "load-secret-%s-%08" PRIu32 "-0123456789abcdef", O.prefix, i);
}

/* ---------- connections ---------- */

typedef enum {
    CS_CONNECTING, CS_HANDSHAKE, CS_REGISTER, CS_AUTH, CS_UPGRADE, CS_READY, CS_DONE, CS_FAILED
} conn_state;

struct client;

/* --records own: the application traffic secrets of one handshake, from
 * OpenSSL's keylog callback (decoded; the text is never kept). */
typedef struct keylog {
    uint8_t cts[SOTTO_TLS_REC_MAX_SECRET], sts[SOTTO_TLS_REC_MAX_SECRET];
    size_t cts_len, sts_len;
} keylog;

typedef struct conn {
    int fd;
    SSL *ssl;            /* the handshake; with --records own freed after it */
    bool rec_on;         /* records sealed and opened by tls_rec (src/server/tls_rec.c) */
    sotto_tls_rec tls;   /* read: the server's traffic secret, write: ours */
    keylog *kl;
    uint8_t *cin;        /* ciphertext read but not yet opened (LOAD_CIN_CAP) */
    size_t cin_len;
    uint8_t *cout;       /* sealed records not yet written */
    size_t cout_len, cout_off, cout_cap;
    conn_state state;
    bool is_ws;          /* becomes a WebSocket */
    bool want_out;       /* EPOLLOUT armed */
    bool in_setup;       /* counted against O.concurrency */
    bool dirty;          /* on g_dirty: output to write at the end of this loop turn */
    struct conn *next_dirty;
    struct client *cl;
    uint32_t account;
    char *rbuf;
    size_t rlen, rcap;
    char *wbuf;
    size_t wlen, woff, wcap;
    uint32_t inflight;   /* HTTP requests (or WebSocket sends) without an answer */
} conn;

typedef struct client {
    uint32_t idx;
    conn http, ws;
    uint32_t to_send, next_seq; /* seq numbers this client sends */
    uint32_t committed;         /* 200 answers */
    bool queue_empty;
    uint8_t *seen;              /* per seq this client sends: times received */
    char name[LOAD_NAME_MAX];   /* its account name (relay: written once, not per message) */
} client;

static SSL_CTX *g_ctx;
static int g_ep;
static client *g_cl;
static uint32_t g_ncl;
static uint32_t g_setup_active, g_setup_next, g_setup_total, g_setup_done, g_failed;
static conn **g_setup_list;
static uint64_t g_start_ns, g_last_rx_ns;
static uint64_t g_committed, g_received, g_dups, g_unknown, g_http_err, g_expected;
static uint32_t *g_lat_us;
static uint64_t g_nlat, g_lat_cap;
static uint32_t g_src_rr;
static uint64_t g_rng = 0x9e3779b97f4a7c15u;
static char *g_filler_b64; /* reused base64 of the filler (after the 16-byte header) */
static uint8_t *g_filler;  /* --format pb: header + filler, O.size bytes */
static uint64_t g_reg_ok, g_reg_taken;
static conn *g_dirty;      /* connections with output queued during this loop turn */
static char *g_req;        /* relay: one submission being encoded (O.size in base64 + 512) */
static size_t g_req_cap;
static uint64_t g_pace_next; /* open loop: the first message (k * S + i) not yet due */
static bool g_keep_buffers;  /* relay: connections keep their buffers between reads */
static bool g_no_pwait2;     /* epoll_pwait2 said ENOSYS: epoll_wait (ms) instead */

static uint32_t rng32(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)g_rng;
}

static void conn_fail(conn *c, const char *why);

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

static void wbuf_add(conn *c, const char *p, size_t n)
{
    memcpy(wbuf_reserve(c, n), p, n);
    c->wlen += n;
}

static void flush_rec(conn *c);

static void flush(conn *c)
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
static void flush_later(conn *c)
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
static void keylog_cb(const SSL *ssl, const char *line)
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
    if (k != NULL) {
        sodium_memzero(k, sizeof *k);
        free(k);
        c->kl = NULL;
    }
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
    bool ku = c->tls.key_update_due || (n > 0 && sotto_tls_rec_should_rekey(&c->tls));
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

static void auth_header(char *out, size_t cap, uint32_t account)
{
    char name[48], secret[64], cred[128], b64[200];
    account_name(name, sizeof name, account);
    account_secret(secret, sizeof secret, account);
    int n = snprintf(cred, sizeof cred, "%s.1:%s", name, secret);
    b64_into(b64, sizeof b64, (const uint8_t *)cred, (size_t)n);
    snprintf(out, cap, "Authorization: Basic %s\r\n", b64);
}

static void send_register(conn *c)
{
    char name[48], secret[64];
    account_name(name, sizeof name, c->account);
    account_secret(secret, sizeof secret, c->account);
    char body[4400];
    int bl = snprintf(body, sizeof body, "{\"username\":\"%s\",\"secret\":\"%s\",%s", name, secret,
                      g_reg_keys);
    if (bl < 0 || (size_t)bl >= sizeof body)
        die("registration body too long");
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", bl);
    wbuf_add(c, head, (size_t)hl);
    wbuf_add(c, body, (size_t)bl);
    c->inflight++;
    c->state = CS_REGISTER;
    flush(c);
}

static void send_auth(conn *c)
{
    char auth[300], req[512];
    auth_header(auth, sizeof auth, c->account);
    int n;
    if (c->is_ws) {
        uint8_t key[16];
        char kb[32];
        randombytes_buf(key, sizeof key);
        b64_into(kb, sizeof kb, key, sizeof key);
        n = snprintf(req, sizeof req,
                     "GET /v1/websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "%s%s\r\n", kb, auth, O.pb ? "Sec-WebSocket-Protocol: sotto.pb\r\n" : "");
        c->state = CS_UPGRADE;
    } else if (O.health) {
        n = snprintf(req, sizeof req, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
        c->state = CS_AUTH;
    } else {
        n = snprintf(req, sizeof req, "GET /v1/keys HTTP/1.1\r\nHost: localhost\r\n%s\r\n", auth);
        c->state = CS_AUTH;
    }
    wbuf_add(c, req, (size_t)n);
    c->inflight++;
    flush(c);
}

static void after_handshake(conn *c)
{
    if (O.do_register && !c->is_ws && c->cl != NULL)
        send_register(c);
    else
        send_auth(c);
}

static void setup_finished(conn *c, bool ok);
static void start_next_setups(void);
static bool never(void);

static void conn_close(conn *c)
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
    if (c->kl != NULL) {
        sodium_memzero(c->kl, sizeof *c->kl);
        free(c->kl);
        c->kl = NULL;
    }
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

static void conn_fail(conn *c, const char *why)
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

/* ---------- HTTP responses ---------- */

/* Returns the length of one whole response at the buffer's start (0: need
 * more), its status and where its body starts. */
static size_t http_frame(const char *b, size_t n, int *status, size_t *body_off, size_t *body_len)
{
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    size_t hl = (size_t)(end - b) + 4;
    if (n < 12 || memcmp(b, "HTTP/1.1 ", 9) != 0) {
        *status = -1;
        return hl;
    }
    *status = atoi(b + 9);
    size_t cl = 0;
    for (const char *p = b; p < end; ) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
            cl = (size_t)strtoul(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (*status == 101 || *status == 204)
        cl = 0;
    if (n - hl < cl)
        return 0;
    *body_off = hl;
    *body_len = cl;
    return hl + cl;
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

static void send_puts(client *cl)
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

static void ws_send_frame(conn *c, uint8_t opcode, const char *p, size_t n);

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
            t = g_start_ns + ((uint64_t)cl->next_seq * O.senders + cl->idx) * 1000000000ull / O.rate;
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

/* A "sent" answer (either form): what is one printed. */
static void count_sent(client *cl, int status, const char *what, size_t n)
{
    if (cl->ws.inflight > 0)
        cl->ws.inflight--;
    if (status == 200) {
        cl->committed++;
        g_committed++;
    } else {
        g_http_err++;
        if (g_http_err <= 5)
            fprintf(stderr, "sotto-load: send answered %d: %.*s\n", status,
                    (int)(n > 200 ? 200 : n), what);
    }
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

static void ws_send_frame(conn *c, uint8_t opcode, const char *p, size_t n)
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

static void ws_input(conn *c)
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

/* ---------- HTTP input ---------- */

static void http_input(conn *c)
{
    size_t off = 0;
    while (off < c->rlen && c->state != CS_FAILED) {
        if (c->state == CS_READY && c->is_ws)
            break;
        int status = 0;
        size_t bo = 0, bl = 0;
        size_t n = http_frame(c->rbuf + off, c->rlen - off, &status, &bo, &bl);
        if (n == 0)
            break;
        const char *body = c->rbuf + off + bo;
        off += n;
        if (c->inflight > 0)
            c->inflight--;
        switch (c->state) {
        case CS_REGISTER:
            if (status == 200)
                g_reg_ok++;
            else if (status == 409)
                g_reg_taken++;
            else {
                char why[64];
                snprintf(why, sizeof why, "registration answered %d", status);
                conn_fail(c, why);
                return;
            }
            if (O.mode == MODE_REGISTER) {
                c->state = CS_DONE;
                setup_finished(c, true);
                conn_close(c);
                return;
            }
            send_auth(c);
            break;
        case CS_AUTH:
            if (status != 200) {
                char why[64];
                snprintf(why, sizeof why, "authentication answered %d", status);
                conn_fail(c, why);
                return;
            }
            c->state = CS_READY;
            setup_finished(c, true);
            break;
        case CS_UPGRADE:
            if (status != 101) {
                char why[64];
                snprintf(why, sizeof why, "upgrade answered %d", status);
                conn_fail(c, why);
                return;
            }
            c->state = CS_READY;
            if (O.ws_ping) /* the server answers, then is between client frames */
                ws_send_frame(c, 0x9, "", 0);
            setup_finished(c, true);
            break;
        case CS_READY: {
            client *cl = c->cl;
            if (status == 200) {
                cl->committed++;
                g_committed++;
            } else {
                g_http_err++;
                if (g_http_err <= 5)
                    fprintf(stderr, "sotto-load: submit answered %d: %.*s\n", status,
                            (int)(bl > 200 ? 200 : bl), body);
            }
            break;
        }
        default:
            break;
        }
    }
    if (c->state == CS_FAILED)
        return;
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->state == CS_READY && c->is_ws && c->rlen > 0)
        ws_input(c);
    else if (c->state == CS_READY && !c->is_ws && c->cl != NULL)
        send_puts(c->cl);
}

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

static void setup_finished(conn *c, bool ok)
{
    (void)ok;
    if (!c->in_setup)
        return;
    c->in_setup = false;
    g_setup_active--;
    g_setup_done++;
    start_next_setups();
}

static void start_next_setups(void)
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

/* Open loop: message k of sender i (number g = k * S + i) is due at
 * start + g / R. */
static uint64_t due_ns(uint64_t g)
{
    return g_start_ns + g * 1000000000ull / O.rate;
}

/* Open loop: lets every sender with a message that fell due since the last
 * turn send (each sends all its due messages its window allows; a sender held
 * by its window sends from ws_input when answers open it). Touches only those
 * senders, not all of them every turn. Returns when the next message is due
 * (UINT64_MAX: none left). */
static uint64_t pace(uint64_t now)
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

/* Runs the loop until done() or the deadline; returns false on timeout. One
 * turn: due sends (open loop), every connection's queued output written
 * (flush_later), then wait for events (open loop: no longer than until the
 * next message is due, but at least LOAD_PACE_TICK_NS) and handle them. */
static bool run_until(bool (*done)(void), uint64_t deadline_ns)
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

static bool setups_done(void)
{
    return g_setup_done >= g_setup_total;
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

static void progress_setup(const char *what, uint64_t t0)
{
    fprintf(stderr, "sotto-load: %s: %" PRIu32 " connections set up in %.1f s (%" PRIu32
            " failed; registered %" PRIu64 ", already present %" PRIu64 ")\n",
            what, g_setup_done - g_failed, (double)(now_ns() - t0) / 1e9, g_failed, g_reg_ok,
            g_reg_taken);
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

/* ---------- modes ---------- */

static int run_relay(void)
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

static int run_register(void)
{
    g_ncl = O.clients;
    g_cl = xmalloc(sizeof *g_cl * g_ncl);
    g_setup_total = g_ncl;
    g_setup_list = xmalloc(sizeof *g_setup_list * g_setup_total);
    for (uint32_t i = 0; i < g_ncl; i++) {
        g_cl[i].idx = i;
        g_cl[i].http.cl = &g_cl[i];
        g_cl[i].http.account = i;
        g_cl[i].http.fd = -1;
        g_setup_list[i] = &g_cl[i].http;
    }
    uint64_t t0 = now_ns();
    start_next_setups();
    bool ok = run_until(setups_done, t0 + (uint64_t)O.timeout_s * 1000000000u);
    double s = (double)(now_ns() - t0) / 1e9;
    printf("register accounts=%" PRIu32 " new=%" PRIu64 " present=%" PRIu64 " failed=%" PRIu32
           " seconds=%.1f per_s=%.1f%s\n", O.clients, g_reg_ok, g_reg_taken, g_failed, s,
           s > 0 ? (double)g_reg_ok / s : 0.0, ok ? "" : " TIMEOUT");
    return ok && g_failed == 0 ? 0 : 1;
}

static int run_idle(void)
{
    conn *cs = xmalloc(sizeof *cs * O.conns);
    g_setup_total = O.conns;
    g_setup_list = xmalloc(sizeof *g_setup_list * O.conns);
    uint32_t acc = O.ws ? O.conns : O.accounts;
    for (uint32_t i = 0; i < O.conns; i++) {
        cs[i].fd = -1;
        cs[i].is_ws = O.ws;
        cs[i].account = i % acc;
        g_setup_list[i] = &cs[i];
    }
    long before = O.server_pid > 0 ? rss_kib(O.server_pid) : -1;
    uint64_t t0 = now_ns();
    /* half first, then the rest: the growth between the two is the marginal
     * cost of a connection, free of one-time growth (SQLite page caches, the
     * allocator's arenas, libuv's pool stacks) */
    g_setup_total = O.conns / 2;
    start_next_setups();
    bool ok = run_until(setups_done, t0 + (uint64_t)O.timeout_s * 1000000000u);
    uint64_t hold_mid = now_ns() + (uint64_t)O.hold_s * 1000000000u;
    run_until(never, hold_mid);
    long mid = O.server_pid > 0 ? rss_kib(O.server_pid) : -1;
    g_setup_total = O.conns;
    start_next_setups();
    ok = ok && run_until(setups_done, t0 + (uint64_t)O.timeout_s * 1000000000u);
    double setup_s = (double)(now_ns() - t0) / 1e9;
    progress_setup("idle", t0);
    /* settle (answer pings meanwhile) */
    uint64_t hold_end = now_ns() + (uint64_t)O.hold_s * 1000000000u;
    run_until(never, hold_end);
    if (O.on_end != NULL && system(O.on_end) != 0) /* connections still open */
        fprintf(stderr, "sotto-load: --on-end command failed\n");
    long after = O.server_pid > 0 ? rss_kib(O.server_pid) : -1;
    uint32_t open = 0;
    for (uint32_t i = 0; i < O.conns; i++)
        open += cs[i].state == CS_READY;
    double per = open > 0 && before >= 0 ? (double)(after - before) * 1024.0 / open : 0.0;
    uint32_t second = O.conns - O.conns / 2;
    double marginal = second > 0 && mid >= 0 ? (double)(after - mid) * 1024.0 / second : 0.0;
    printf("idle kind=%s conns=%" PRIu32 " open=%" PRIu32 " failed=%" PRIu32 " setup_s=%.1f"
           " rss_before_kib=%ld rss_half_kib=%ld rss_after_kib=%ld bytes_per_conn=%.0f"
           " marginal_bytes_per_conn=%.0f%s\n",
           O.ws ? "websocket" : O.health ? "tls-health" : "http-auth", O.conns, open, g_failed, setup_s,
           before, mid, after, per, marginal,
           ok ? "" : " TIMEOUT");
    fflush(stdout);
    return ok && open == O.conns ? 0 : 1;
}

static bool never(void)
{
    return false;
}

/* ---------- main ---------- */

static void usage(void)
{
    fputs("usage: sotto-load relay|idle|register|free-port [options]\n"
          "  --host IP (127.0.0.1) --port N\n"
          "  --clients N       relay/register: accounts (relay: one WS + one HTTP conn each)\n"
          "  --senders S       relay: clients 0..S-1 also submit over HTTP (default all;\n"
          "                    S divides N; sender s writes round robin to r = (s+1) % S + k*S)\n"
          "  --messages N      relay: total messages (split over the senders)\n"
          "  --window N        relay: submissions in flight per client (4)\n"
          "  --rate R          relay --via ws: open loop, R messages/s in all, each sender\n"
          "                    paced; latency counted from each message's due time\n"
          "                    (--window then caps what one sender has in flight)\n"
          "  --format pb|json  WebSocket messages: binary protobuf (subprotocol sotto.pb,\n"
          "                    default) or JSON text frames\n"
          "  --via ws|http     relay: submit as WebSocket \"send\" messages on each client's\n"
          "                    own socket (ws, default), or PUT on a second HTTP conn\n"
          "  --size N          relay: envelope bytes (256, >= 18)\n"
          "  --records own|openssl  after OpenSSL's handshake, TLS records sealed and\n"
          "                    opened by sottod's record layer (own, default) or OpenSSL\n"
          "  --conns N         idle: connections\n"
          "  --accounts N      idle (HTTP): accounts shared by the connections (100)\n"
          "  --ws              idle: WebSocket upgrades (one account per connection)\n"
          "  --health          idle: GET /health only (TLS, not authenticated)\n"
          "  --ping            idle --ws: each WebSocket sends one ping after the upgrade\n"
          "  --register        register the accounts first (409 'taken' is fine)\n"
          "  --prefix S        account names S0, S1, ... (load)\n"
          "  --src IP[,IP...]  source addresses, round robin\n"
          "  --concurrency N   connections being set up at once (64)\n"
          "  --server-pid N    idle: read this process's RSS before and after\n"
          "  --pin-server CPUS relay: pin every thread of --server-pid to CPUS (e.g. 0)\n"
          "                    once the connections are set up, before sending\n"
          "  --hold S          idle: seconds to wait before reading RSS (3)\n"
          "  --on-start CMD    relay: run CMD (sh) once set up, before sending\n"
          "  --on-end CMD      relay: run CMD after the last message (e.g. callgrind_control);\n"
          "                    idle: after --hold, while every connection is still open\n"
          "  --timeout S       give up after S seconds per phase (600)\n"
          "  --check           relay: exit 1 unless every message arrived exactly once\n",
          stderr);
    exit(2);
}

static uint32_t num(const char *s, uint32_t lo, uint32_t hi, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != 0 || s[0] < '0' || s[0] > '9' || v < lo || v > hi)
        die("%s: want %" PRIu32 "..%" PRIu32 ", got '%s'", what, lo, hi, s);
    return (uint32_t)v;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        die("free-port: %s", strerror(errno));
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "free-port") == 0)
        return free_port();
    if (strcmp(argv[1], "relay") == 0)
        O.mode = MODE_RELAY;
    else if (strcmp(argv[1], "idle") == 0)
        O.mode = MODE_IDLE;
    else if (strcmp(argv[1], "register") == 0)
        O.mode = MODE_REGISTER;
    else
        usage();
    strcpy(O.host, "127.0.0.1");
    strcpy(O.prefix, "load");
    O.clients = 100;
    O.messages = 10000;
    O.window = 4;
    O.via_ws = true;
    O.pb = true;
    O.own_records = true;
    O.size = 256;
    O.conns = 1000;
    O.accounts = 100;
    O.concurrency = 64;
    O.timeout_s = 600;
    O.hold_s = 3;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (v == NULL) usage(); i++; } while (0)
        if (strcmp(a, "--host") == 0) {
            NEEDV();
            struct in_addr t;
            if (strlen(v) >= sizeof O.host || inet_pton(AF_INET, v, &t) != 1)
                die("--host: want an IPv4 address");
            strcpy(O.host, v);
        } else if (strcmp(a, "--port") == 0) {
            NEEDV();
            O.port = (uint16_t)num(v, 1, 65535, a);
        } else if (strcmp(a, "--clients") == 0) {
            NEEDV();
            O.clients = num(v, 2, LOAD_MAX_CLIENTS, a);
        } else if (strcmp(a, "--senders") == 0) {
            NEEDV();
            O.senders = num(v, 1, LOAD_MAX_CLIENTS, a);
        } else if (strcmp(a, "--messages") == 0) {
            NEEDV();
            O.messages = num(v, 1, 100000000, a);
        } else if (strcmp(a, "--format") == 0) {
            NEEDV();
            if (strcmp(v, "pb") == 0)
                O.pb = true;
            else if (strcmp(v, "json") == 0)
                O.pb = false;
            else
                die("--format: pb or json");
        } else if (strcmp(a, "--records") == 0) {
            NEEDV();
            if (strcmp(v, "own") == 0)
                O.own_records = true;
            else if (strcmp(v, "openssl") == 0)
                O.own_records = false;
            else
                die("--records: own or openssl");
        } else if (strcmp(a, "--rate") == 0) {
            NEEDV();
            O.rate = num(v, 1, 10000000, a);
        } else if (strcmp(a, "--via") == 0) {
            NEEDV();
            if (strcmp(v, "ws") == 0)
                O.via_ws = true;
            else if (strcmp(v, "http") == 0)
                O.via_ws = false;
            else
                die("--via: ws or http");
        } else if (strcmp(a, "--window") == 0) {
            NEEDV();
            O.window = num(v, 1, LOAD_MAX_WINDOW, a);
        } else if (strcmp(a, "--size") == 0) {
            NEEDV();
            O.size = num(v, 18, LOAD_MAX_SIZE, a);
        } else if (strcmp(a, "--conns") == 0) {
            NEEDV();
            O.conns = num(v, 1, LOAD_MAX_CLIENTS, a);
        } else if (strcmp(a, "--accounts") == 0) {
            NEEDV();
            O.accounts = num(v, 1, LOAD_MAX_CLIENTS, a);
        } else if (strcmp(a, "--concurrency") == 0) {
            NEEDV();
            O.concurrency = num(v, 1, 10000, a);
        } else if (strcmp(a, "--timeout") == 0) {
            NEEDV();
            O.timeout_s = num(v, 1, 86400, a);
        } else if (strcmp(a, "--hold") == 0) {
            NEEDV();
            O.hold_s = num(v, 0, 3600, a);
        } else if (strcmp(a, "--server-pid") == 0) {
            NEEDV();
            O.server_pid = (int)num(v, 1, 1u << 30, a);
        } else if (strcmp(a, "--prefix") == 0) {
            NEEDV();
            size_t l = strlen(v);
            if (l == 0 || l > 16 || v[0] < 'a' || v[0] > 'z' || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != l)
                die("--prefix: 1..16 of [a-z0-9_], first a letter");
            strcpy(O.prefix, v);
        } else if (strcmp(a, "--src") == 0) {
            NEEDV();
            char tmp[1024];
            if (strlen(v) >= sizeof tmp)
                die("--src: too long");
            strcpy(tmp, v);
            for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (O.nsrc == LOAD_MAX_SRC)
                    die("--src: at most %u addresses", LOAD_MAX_SRC);
                struct sockaddr_in *s = &O.src[O.nsrc++];
                s->sin_family = AF_INET;
                if (inet_pton(AF_INET, t, &s->sin_addr) != 1)
                    die("--src: bad address '%s'", t);
            }
        } else if (strcmp(a, "--pin-server") == 0) {
            NEEDV();
            CPU_ZERO(&O.pin);
            char tmp[256];
            if (strlen(v) >= sizeof tmp)
                die("--pin-server: too long");
            strcpy(tmp, v);
            for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
                CPU_SET((size_t)num(t, 0, CPU_SETSIZE - 1, a), &O.pin);
            O.have_pin = true;
        } else if (strcmp(a, "--on-start") == 0) {
            NEEDV();
            O.on_start = v;
        } else if (strcmp(a, "--on-end") == 0) {
            NEEDV();
            O.on_end = v;
        } else if (strcmp(a, "--ping") == 0) {
            O.ws_ping = true;
        } else if (strcmp(a, "--health") == 0) {
            O.health = true;
        } else if (strcmp(a, "--ws") == 0) {
            O.ws = true;
        } else if (strcmp(a, "--register") == 0) {
            O.do_register = true;
        } else if (strcmp(a, "--check") == 0) {
            O.check = true;
        } else {
            usage();
        }
#undef NEEDV
    }
    if (O.port == 0)
        die("--port is required");
    if (O.have_pin && O.server_pid == 0)
        die("--pin-server needs --server-pid");
    if (O.senders == 0 || O.mode != MODE_RELAY)
        O.senders = O.clients;
    if (O.rate > 0 && !O.via_ws)
        die("--rate needs --via ws");
    if (O.senders > O.clients || O.clients % O.senders != 0)
        die("--senders must divide --clients");
    if (O.do_register && O.senders != O.clients)
        die("--register registers the senders only: use 'register' first, or no --senders");
    if (O.mode == MODE_RELAY && O.messages < O.senders)
        die("--messages must be at least --senders");
    if (sodium_init() < 0)
        die("libsodium failed to initialise");
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    randombytes_buf(&g_rng, sizeof g_rng);
    g_rng |= 1;
    g_ctx = SSL_CTX_new(TLS_client_method());
    if (g_ctx == NULL)
        die("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(g_ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL); /* loopback benchmark */
    SSL_CTX_set_mode(g_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(g_ctx, 1);
    SSL_CTX_set_keylog_callback(g_ctx, keylog_cb);
    if (O.mode == MODE_RELAY) {
        /* a few hundred busy connections: buffers stay (no malloc and free
         * of OpenSSL's record buffers around every read and write) */
        g_keep_buffers = true;
        SSL_CTX_set_default_read_buffer_len(g_ctx, LOAD_SSL_READ_BUFFER);
    } else {
        SSL_CTX_set_mode(g_ctx, SSL_MODE_RELEASE_BUFFERS); /* thousands of idle ones */
    }
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1: %s", strerror(errno));
    if (O.do_register || O.mode == MODE_REGISTER)
        make_reg_keys();
    int rc;
    if (O.mode == MODE_RELAY)
        rc = run_relay();
    else if (O.mode == MODE_REGISTER) {
        O.do_register = true;
        rc = run_register();
    } else
        rc = run_idle();
    SSL_CTX_free(g_ctx);
    return rc;
}
