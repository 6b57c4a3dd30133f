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
 * filler to --size bytes; the receiver checks each (sender, seq) arrives once.
 *
 * This file: options and main; load.h says what the other files hold. */

#include "load.h"

opts O;

/* ---------- small helpers ---------- */

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sotto-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
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

/* The options that take one number, with its range. */
typedef struct num_opt {
    const char *name;
    uint32_t *field;
    uint32_t lo, hi;
} num_opt;

static const num_opt NUM_OPTS[] = {
    {"--clients",     &O.clients,     2, LOAD_MAX_CLIENTS},
    {"--senders",     &O.senders,     1, LOAD_MAX_CLIENTS},
    {"--messages",    &O.messages,    1, 100000000},
    {"--rate",        &O.rate,        1, 10000000},
    {"--window",      &O.window,      1, LOAD_MAX_WINDOW},
    {"--size",        &O.size,        18, LOAD_MAX_SIZE},
    {"--conns",       &O.conns,       1, LOAD_MAX_CLIENTS},
    {"--accounts",    &O.accounts,    1, LOAD_MAX_CLIENTS},
    {"--concurrency", &O.concurrency, 1, 10000},
    {"--timeout",     &O.timeout_s,   1, 86400},
    {"--hold",        &O.hold_s,      0, 3600},
};

static const num_opt *find_num_opt(const char *a)
{
    for (size_t k = 0; k < sizeof NUM_OPTS / sizeof NUM_OPTS[0]; k++) {
        if (strcmp(a, NUM_OPTS[k].name) == 0)
            return &NUM_OPTS[k];
    }
    return NULL;
}

/* An option with two values: true for yes, false for no. */
static bool choice(const char *a, const char *v, const char *yes, const char *no)
{
    if (strcmp(v, yes) == 0)
        return true;
    if (strcmp(v, no) != 0)
        die("%s: %s or %s", a, yes, no);
    return false;
}

/* The defaults, then argv[2..], then the checks across options. */
static void parse_options(int argc, char **argv)
{
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
        const num_opt *no = find_num_opt(a);
        if (no != NULL) {
            NEEDV();
            *no->field = num(v, no->lo, no->hi, a);
        } else if (strcmp(a, "--host") == 0) {
            NEEDV();
            struct in_addr t;
            if (strlen(v) >= sizeof O.host || inet_pton(AF_INET, v, &t) != 1)
                die("--host: want an IPv4 address");
            strcpy(O.host, v);
        } else if (strcmp(a, "--port") == 0) {
            NEEDV();
            O.port = (uint16_t)num(v, 1, 65535, a);
        } else if (strcmp(a, "--format") == 0) {
            NEEDV();
            O.pb = choice(a, v, "pb", "json");
        } else if (strcmp(a, "--records") == 0) {
            NEEDV();
            O.own_records = choice(a, v, "own", "openssl");
        } else if (strcmp(a, "--via") == 0) {
            NEEDV();
            O.via_ws = choice(a, v, "ws", "http");
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
    parse_options(argc, argv);
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
