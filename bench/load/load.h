/* bench/load/load.h: what the parts of sotto-load share (the tool itself is
 * described at the top of sotto_load.c).
 *
 *   sotto_load.c  options, usage, set-up of OpenSSL and epoll, main
 *   conn.c        connection I/O: sockets, TLS handshake, records (tls_rec or
 *                 OpenSSL), WebSocket frames out, set-up pacing, the loop
 *   http.c        the HTTP side: registration body and accounts, requests
 *                 that set a connection up, responses
 *   relay.c       relay: sending (closed and open loop), receiving and
 *                 acking, latency, the result line
 *   modes.c       idle, register, free-port */
#ifndef SOTTO_BENCH_LOAD_H
#define SOTTO_BENCH_LOAD_H

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

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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


extern opts O;

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

/* sotto_load.c */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);

/* conn.c: connections and the loop */
extern SSL_CTX *g_ctx;
extern int g_ep;
extern uint32_t g_setup_active, g_setup_next, g_setup_total, g_setup_done, g_failed;
extern conn **g_setup_list;
extern uint64_t g_rng;
extern bool g_keep_buffers;  /* relay: connections keep their buffers between reads */
void wbuf_add(conn *c, const char *p, size_t n);
void flush(conn *c);
void flush_later(conn *c);
void keylog_cb(const SSL *ssl, const char *line);
void conn_close(conn *c);
void conn_fail(conn *c, const char *why);
void ws_send_frame(conn *c, uint8_t opcode, const char *p, size_t n);
void setup_finished(conn *c, bool ok);
void start_next_setups(void);
bool run_until(bool (*done)(void), uint64_t deadline_ns);
bool setups_done(void);
void progress_setup(const char *what, uint64_t t0);

/* http.c: accounts, requests, responses */
extern uint64_t g_reg_ok, g_reg_taken;
void b64_into(char *out, size_t cap, const uint8_t *p, size_t n);
void make_reg_keys(void);
void account_name(char *out, size_t cap, uint32_t i);
void auth_header(char *out, size_t cap, uint32_t account);
void after_handshake(conn *c);
void http_input(conn *c);

/* relay.c */
extern client *g_cl;
extern uint32_t g_ncl;
extern uint64_t g_start_ns;
void send_puts(client *cl);
void count_answer(client *cl, const char *kind, int status, const char *what, size_t n);
void ws_input(conn *c);
uint64_t pace(uint64_t now);
int run_relay(void);

/* modes.c */
int run_register(void);
int run_idle(void);
int free_port(void);

#endif
