/* End-to-end: TLS 1.3 KeyUpdate against a real sottod (docs/TLS.md).
 *
 * sottod frees OpenSSL's SSL after the handshake and runs its own record
 * layer (src/server/tls_rec.c); Node cannot send a KeyUpdate, so this is an
 * OpenSSL client. It starts sottod on a free loopback port with a fresh data
 * dir and, on HTTP keep-alive and WebSocket connections, sends KeyUpdates with
 * and without request_update between requests, back to back, in the same TCP
 * segment as the requests around them, dribbled a few bytes per segment, and
 * in the middle of a WebSocket frame. Every answer must be correct; after each requested update the client
 * must have received and applied the server's own KeyUpdate (counted by
 * OpenSSL's message callback) and read the answers sealed under the server's
 * new keys; after an update that was not requested, the server must not
 * update.
 *
 * usage: keyupdate_e2e PATH/TO/sottod (ctest: e2e/keyupdate). No timing
 * assertions: every socket read has a generous timeout so that a server that
 * stops answering fails the test instead of hanging it. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/kyber1024.h"
#include "crypto/primitives.h"
#include "crypto/xeddsa.h"

#define KU_START_TRIES      5u      /* another process may take the port first */
#define KU_START_POLLS      200u    /* x KU_POLL_US: how long sottod may take to listen */
#define KU_POLL_US          50000u
#define KU_IO_TIMEOUT_S     20      /* a socket read that waits longer fails the test */
#define KU_RBUF             65536u
#define KU_ROUNDS           12u     /* request / KeyUpdate rounds per connection */
#define KU_BACK_TO_BACK     3u      /* KeyUpdates in a row without data between them */
#define KU_DRIBBLE_MAX      7u      /* bytes per write() when dribbling records */
#define KU_WS_SENDS         8u      /* WebSocket sends from A to B */
#define KU_EC_KEY_BYTES     33u
#define KU_KYBER_KEY_BYTES  (1u + KYBER1024_PUBLICKEYBYTES)
#define KU_BODY_MAX         8192u
#define KU_WS_HEADER_MAX    14u
#define KU_MT_KEY_UPDATE    24      /* TLS handshake message type */

static const char *g_sottod;
static char g_dir[] = "/tmp/sotto-keyupdate-XXXXXX";
static pid_t g_pid = -1;
static uint16_t g_port;
static SSL_CTX *g_ctx;
static char g_reg_keys[4096]; /* the registration body after username and secret */

/* ---------- one TLS connection ---------- */

typedef struct tconn {
    int fd;
    SSL *ssl;
    unsigned srv_updates; /* KeyUpdates received from the server */
    unsigned our_updates; /* KeyUpdates this client sent */
    uint8_t rbuf[KU_RBUF];
    size_t rlen;
} tconn;

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)arg;
    tconn *c = SSL_get_app_data(ssl);
    if (c == NULL || content_type != SSL3_RT_HANDSHAKE || len < 1 ||
        ((const uint8_t *)buf)[0] != KU_MT_KEY_UPDATE)
        return;
    if (write_p)
        c->our_updates++;
    else
        c->srv_updates++;
}

static tconn *tconn_open(void)
{
    tconn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    struct timeval tv = {.tv_sec = KU_IO_TIMEOUT_S};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    c->ssl = SSL_new(g_ctx);
    assert_non_null(c->ssl);
    SSL_set_app_data(c->ssl, c);
    assert_int_equal(SSL_set_fd(c->ssl, c->fd), 1);
    assert_int_equal(SSL_connect(c->ssl), 1);
    assert_int_equal(SSL_version(c->ssl), TLS1_3_VERSION);
    return c;
}

static void tconn_close(tconn *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

static void tconn_write(tconn *c, const void *p, size_t n)
{
    size_t w = 0;
    assert_int_equal(SSL_write_ex(c->ssl, p, n, &w), 1);
    assert_int_equal(w, n);
}

/* Schedules a KeyUpdate; it goes out with the next write, or now with send_now. */
static void key_update(tconn *c, int type, bool send_now)
{
    unsigned before = c->our_updates;
    assert_int_equal(SSL_key_update(c->ssl, type), 1);
    if (send_now) {
        assert_int_equal(SSL_do_handshake(c->ssl), 1);
        assert_int_equal(c->our_updates, before + 1);
    }
}

/* Reads more plaintext into c->rbuf (fails the test on error, close or timeout). */
static void tconn_read_more(tconn *c)
{
    assert_true(c->rlen < sizeof c->rbuf);
    size_t got = 0;
    int r = SSL_read_ex(c->ssl, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, &got);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        char err[256];
        ERR_error_string_n(ERR_get_error(), err, sizeof err);
        fail_msg("SSL_read failed (SSL_get_error %d, errno %d): %s", e, errno, err);
    }
    c->rlen += got;
}

static void tconn_consume(tconn *c, size_t n)
{
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
}

/* ---------- HTTP ---------- */

/* Reads one response: status, and the body copied to body (NUL-terminated). */
static int http_read(tconn *c, char *body, size_t cap)
{
    for (;;) {
        const uint8_t *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (end != NULL) {
            size_t hl = (size_t)(end - c->rbuf) + 4;
            char head[2048];
            assert_true(hl < sizeof head);
            memcpy(head, c->rbuf, hl);
            head[hl] = 0;
            assert_memory_equal(head, "HTTP/1.1 ", 9);
            int status = atoi(head + 9);
            size_t cl = 0;
            const char *p = strcasestr(head, "\r\nContent-Length:");
            if (p != NULL)
                cl = (size_t)strtoul(p + 17, NULL, 10);
            if (status == 101)
                cl = 0;
            if (c->rlen - hl >= cl) {
                assert_true(cl < cap);
                memcpy(body, c->rbuf + hl, cl);
                body[cl] = 0;
                tconn_consume(c, hl + cl);
                return status;
            }
        }
        tconn_read_more(c);
    }
}

static void basic_auth(char *out, size_t cap, const char *user, const char *secret)
{
    char cred[256], b64[400];
    int n = snprintf(cred, sizeof cred, "%s.1:%s", user, secret);
    assert_true(n > 0 && (size_t)n < sizeof cred);
    sodium_bin2base64(b64, sizeof b64, (const uint8_t *)cred, (size_t)n,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, cap, "Authorization: Basic %s\r\n", b64);
}

static const char *secret_of(const char *user)
{
    return strcmp(user, "kualice") == 0 ? "keyupdate-secret-alice-0123456789abcdef"
                                        : "keyupdate-secret-bob-0123456789abcdefgh";
}

/* ---------- registration (one identity, as bench/load/sotto_load.c) ---------- */

static void make_reg_keys(void)
{
    uint8_t id_pub[32], id_priv[32], spk_pub[32], spk_priv[32];
    uint8_t ec[KU_EC_KEY_BYTES], kyb[KU_KYBER_KEY_BYTES], idk[KU_EC_KEY_BYTES];
    uint8_t ksk[KYBER1024_SECRETKEYBYTES], sig1[64], sig2[64], rnd[64];
    sotto_x25519_keypair(id_pub, id_priv);
    sotto_x25519_keypair(spk_pub, spk_priv);
    sotto_kyber1024_keypair(kyb + 1, ksk);
    kyb[0] = 0x08;
    ec[0] = 0x05;
    memcpy(ec + 1, spk_pub, 32);
    idk[0] = 0x05;
    memcpy(idk + 1, id_pub, 32);
    randombytes_buf(rnd, sizeof rnd);
    assert_int_equal(sotto_xeddsa_sign(sig1, id_priv, ec, sizeof ec, rnd), 0);
    randombytes_buf(rnd, sizeof rnd);
    assert_int_equal(sotto_xeddsa_sign(sig2, id_priv, kyb, sizeof kyb, rnd), 0);
    char idb[64], ecb[64], s1[100], s2[100], kb[2200];
    sodium_bin2base64(idb, sizeof idb, idk, sizeof idk, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(ecb, sizeof ecb, ec, sizeof ec, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(s1, sizeof s1, sig1, sizeof sig1, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(s2, sizeof s2, sig2, sizeof sig2, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(kb, sizeof kb, kyb, sizeof kyb, sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(g_reg_keys, sizeof g_reg_keys,
                     "\"registrationId\":4242,\"identityKey\":\"%s\","
                     "\"signedPreKey\":{\"keyId\":1,\"publicKey\":\"%s\",\"signature\":\"%s\"},"
                     "\"pqLastResortPreKey\":{\"keyId\":1000,\"publicKey\":\"%s\",\"signature\":\"%s\"}}",
                     idb, ecb, s1, kb, s2);
    assert_true(n > 0 && (size_t)n < sizeof g_reg_keys);
    sodium_memzero(id_priv, sizeof id_priv);
    sodium_memzero(spk_priv, sizeof spk_priv);
    sodium_memzero(ksk, sizeof ksk);
}

static void register_account(const char *user)
{
    char body[KU_BODY_MAX], req[KU_BODY_MAX + 256], ans[KU_BODY_MAX];
    int bl = snprintf(body, sizeof body, "{\"username\":\"%s\",\"secret\":\"%s\",%s", user,
                      secret_of(user), g_reg_keys);
    assert_true(bl > 0 && (size_t)bl < sizeof body);
    int rl = snprintf(req, sizeof req,
                      "POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", bl, body);
    assert_true(rl > 0 && (size_t)rl < sizeof req);
    tconn *c = tconn_open();
    tconn_write(c, req, (size_t)rl);
    int st = http_read(c, ans, sizeof ans);
    if (st != 200)
        fail_msg("registering %s: %d %s", user, st, ans);
    tconn_close(c);
}

/* ---------- sottod ---------- */

static int free_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t l = sizeof a;
    int r = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0) {
        *port = ntohs(a.sin_port);
        r = 0;
    }
    if (fd >= 0)
        close(fd);
    return r;
}

static bool file_has(const char *path, const char *needle)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static void stop_sottod(void)
{
    if (g_pid > 0) {
        kill(g_pid, SIGTERM);
        waitpid(g_pid, NULL, 0);
        g_pid = -1;
    }
}

static bool start_sottod(void)
{
    char out[512], err[512], listen[64];
    snprintf(out, sizeof out, "%s/out", g_dir);
    snprintf(err, sizeof err, "%s/err", g_dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", g_port);
    unlink(out);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        execl(g_sottod, g_sottod, "--data", g_dir, "--listen", listen, (char *)NULL);
        _exit(127);
    }
    g_pid = pid;
    for (unsigned i = 0; i < KU_START_POLLS; i++) {
        if (file_has(out, "listening on"))
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            g_pid = -1;
            return false;
        }
        usleep(KU_POLL_US);
    }
    stop_sottod();
    return false;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The client context every connection is made from (one per group). */
static int make_ctx(void)
{
    g_ctx = SSL_CTX_new(TLS_client_method());
    if (g_ctx == NULL)
        return -1;
    SSL_CTX_set_min_proto_version(g_ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL); /* loopback, our own sottod */
    SSL_CTX_set_msg_callback(g_ctx, msg_cb);
    SSL_CTX_set_mode(g_ctx, SSL_MODE_AUTO_RETRY);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0 || mkdtemp(g_dir) == NULL || make_ctx() != 0)
        return -1;
    bool up = false;
    for (unsigned t = 0; t < KU_START_TRIES && !up; t++)
        up = free_port(&g_port) == 0 && start_sottod();
    if (!up) {
        fprintf(stderr, "keyupdate_e2e: sottod did not start (see %s/err)\n", g_dir);
        return -1;
    }
    make_reg_keys();
    register_account("kualice");
    register_account("kubob");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_sottod();
    SSL_CTX_free(g_ctx);
    g_ctx = NULL;
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---------- HTTP keep-alive ---------- */

static const char HEALTH[] = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
static const char HEALTH_OK[] = "{\"status\":\"ok\"}";

static void expect_health(tconn *c)
{
    char body[256];
    assert_int_equal(http_read(c, body, sizeof body), 200);
    assert_string_equal(body, HEALTH_OK);
}

/* One request per round; before it a KeyUpdate of alternating kind, alone in
 * its record or (every third round) several back to back. Requested updates
 * must bring at least one KeyUpdate from the server (at most one each) before
 * the answer; updates not requested none. */
static void test_http_rounds(void **state)
{
    (void)state;
    tconn *c = tconn_open();
    tconn_write(c, HEALTH, sizeof HEALTH - 1);
    expect_health(c);
    assert_int_equal(c->srv_updates, 0);
    for (unsigned r = 0; r < KU_ROUNDS; r++) {
        bool requested = r % 2 == 0;
        unsigned n = r % 3 == 2 ? KU_BACK_TO_BACK : 1;
        unsigned srv0 = c->srv_updates;
        for (unsigned k = 0; k < n; k++)
            key_update(c, requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED,
                       true);
        tconn_write(c, HEALTH, sizeof HEALTH - 1);
        expect_health(c);
        if (requested) {
            /* RFC 8446 4.6.3: one answer at least, at most one per request */
            assert_true(c->srv_updates >= srv0 + 1);
            assert_true(c->srv_updates <= srv0 + n);
        } else {
            assert_int_equal(c->srv_updates, srv0);
        }
    }
    /* a KeyUpdate that rides with the request in one SSL_write */
    unsigned srv0 = c->srv_updates;
    key_update(c, SSL_KEY_UPDATE_REQUESTED, false);
    tconn_write(c, HEALTH, sizeof HEALTH - 1);
    expect_health(c);
    assert_true(c->srv_updates > srv0);
    tconn_close(c);
}

/* Requests and KeyUpdates in one TCP segment (corked): the server opens
 * records under the new key right behind the KeyUpdate in the same read, and
 * answers pipelined requests across its own key change. */
static void test_http_pipelined(void **state)
{
    (void)state;
    tconn *c = tconn_open();
    int one = 1, zero = 0;
    unsigned requested = 0;
    for (unsigned r = 0; r < KU_ROUNDS / 2; r++) {
        unsigned srv0 = c->srv_updates;
        assert_int_equal(setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one), 0);
        tconn_write(c, HEALTH, sizeof HEALTH - 1);
        key_update(c, SSL_KEY_UPDATE_REQUESTED, true);
        tconn_write(c, HEALTH, sizeof HEALTH - 1);
        key_update(c, SSL_KEY_UPDATE_NOT_REQUESTED, true);
        tconn_write(c, HEALTH, sizeof HEALTH - 1);
        requested++;
        if (r % 2 == 1) { /* trailing: its answer may come after the three answers */
            key_update(c, SSL_KEY_UPDATE_REQUESTED, true);
            requested++;
        }
        assert_int_equal(setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero), 0);
        for (unsigned k = 0; k < 3; k++)
            expect_health(c);
        /* the second request came behind a requested update: its answer
         * behind the server's KeyUpdate */
        assert_true(c->srv_updates >= srv0 + 1);
        assert_true(c->srv_updates <= requested);
    }
    /* one more request: its answer comes behind every KeyUpdate owed */
    tconn_write(c, HEALTH, sizeof HEALTH - 1);
    expect_health(c);
    assert_true(c->srv_updates >= KU_ROUNDS / 2);
    assert_true(c->srv_updates <= requested);
    tconn_close(c);
}

/* KeyUpdates and requests dribbled over the socket a few bytes per write()
 * (TCP_NODELAY: mostly one segment each), so the server meets the KeyUpdate
 * record, and the first record under the new key, in pieces across reads.
 * OpenSSL seals into a memory BIO; the test moves the bytes. */
static void dribble(tconn *c, BIO *mem, size_t chunk)
{
    uint8_t buf[KU_BODY_MAX];
    int n;
    while ((n = BIO_read(mem, buf, (int)sizeof buf)) > 0) {
        for (size_t off = 0; off < (size_t)n;) {
            size_t k = (size_t)n - off < chunk ? (size_t)n - off : chunk;
            ssize_t w = write(c->fd, buf + off, k);
            assert_true(w > 0);
            off += (size_t)w;
        }
    }
}

static void test_http_dribbled(void **state)
{
    (void)state;
    tconn *c = tconn_open();
    int one = 1;
    assert_int_equal(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    BIO *mem = BIO_new(BIO_s_mem());
    assert_non_null(mem);
    SSL_set0_wbio(c->ssl, mem); /* reads stay on the socket */
    for (unsigned r = 0; r < KU_ROUNDS; r++) {
        bool requested = r % 2 == 1;
        unsigned srv0 = c->srv_updates;
        key_update(c, requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED, true);
        tconn_write(c, HEALTH, sizeof HEALTH - 1);
        dribble(c, mem, 1 + r % KU_DRIBBLE_MAX);
        expect_health(c);
        assert_int_equal(c->srv_updates, srv0 + (requested ? 1u : 0u));
    }
    tconn_close(c);
}

/* ---------- WebSocket ---------- */

static void ws_frame(uint8_t *out, size_t *out_len, uint8_t opcode, const void *p, size_t n)
{
    size_t hl = 0;
    out[hl++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        out[hl++] = (uint8_t)(0x80 | n);
    } else {
        assert_true(n < 65536);
        out[hl++] = 0x80 | 126;
        out[hl++] = (uint8_t)(n >> 8);
        out[hl++] = (uint8_t)n;
    }
    uint8_t mask[4];
    randombytes_buf(mask, sizeof mask);
    memcpy(out + hl, mask, 4);
    hl += 4;
    for (size_t i = 0; i < n; i++)
        out[hl + i] = (uint8_t)(((const uint8_t *)p)[i] ^ mask[i & 3]);
    *out_len = hl + n;
}

/* Writes one masked frame; with split, its first half, a KeyUpdate, the rest:
 * the frame spans two records under two keys. */
static void ws_write(tconn *c, uint8_t opcode, const char *p, size_t n, int split_type)
{
    uint8_t f[KU_BODY_MAX + KU_WS_HEADER_MAX];
    size_t fl = 0;
    assert_true(n <= KU_BODY_MAX);
    ws_frame(f, &fl, opcode, p, n);
    if (split_type < 0) {
        tconn_write(c, f, fl);
        return;
    }
    tconn_write(c, f, fl / 2);
    key_update(c, split_type, true);
    tconn_write(c, f + fl / 2, fl - fl / 2);
}

/* Reads one unmasked, unfragmented server frame into out (NUL-terminated). */
static uint8_t ws_read(tconn *c, char *out, size_t cap, size_t *len)
{
    for (;;) {
        if (c->rlen >= 2) {
            uint8_t b0 = c->rbuf[0], b1 = c->rbuf[1];
            assert_true(b0 & 0x80);        /* FIN */
            assert_false(b1 & 0x80);       /* the server does not mask */
            size_t hl = 2, n = b1 & 0x7f;
            assert_true(n <= 126);
            if (n == 126) {
                hl = 4;
                n = c->rlen >= 4 ? ((size_t)c->rbuf[2] << 8) | c->rbuf[3] : SIZE_MAX;
            }
            if (n != SIZE_MAX && c->rlen >= hl + n) {
                assert_true(n < cap);
                memcpy(out, c->rbuf + hl, n);
                out[n] = 0;
                *len = n;
                tconn_consume(c, hl + n);
                return b0 & 0x0f;
            }
        }
        tconn_read_more(c);
    }
}

/* Reads text frames until one contains want (earlier ones must contain skip). */
static void ws_expect(tconn *c, const char *want, const char *skip, char *out, size_t cap)
{
    for (;;) {
        size_t n = 0;
        uint8_t op = ws_read(c, out, cap, &n);
        assert_int_equal(op, 0x1);
        if (strstr(out, want) != NULL)
            return;
        if (skip == NULL || strstr(out, skip) == NULL)
            fail_msg("unexpected WebSocket message (wanted %s): %s", want, out);
    }
}

static tconn *ws_open(const char *user)
{
    tconn *c = tconn_open();
    char auth[512], req[1024], body[256];
    uint8_t key[16];
    char kb[32];
    randombytes_buf(key, sizeof key);
    sodium_bin2base64(kb, sizeof kb, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    basic_auth(auth, sizeof auth, user, secret_of(user));
    int n = snprintf(req, sizeof req,
                     "GET /v1/websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n", kb, auth);
    assert_true(n > 0 && (size_t)n < sizeof req);
    /* the upgrade itself behind a requested KeyUpdate */
    key_update(c, SSL_KEY_UPDATE_REQUESTED, true);
    tconn_write(c, req, (size_t)n);
    assert_int_equal(http_read(c, body, sizeof body), 101);
    assert_int_equal(c->srv_updates, 1);
    return c;
}

/* Alice sends to Bob over her WebSocket, with KeyUpdates of both kinds
 * between frames and inside frames; pings must come back byte for byte; Bob
 * then receives every envelope, in order, on a WebSocket with its own
 * updates, and acks them. */
static void test_websocket(void **state)
{
    (void)state;
    char buf[KU_BODY_MAX];
    tconn *a = ws_open("kualice");
    ws_expect(a, "\"queue_empty\"", NULL, buf, sizeof buf);
    for (unsigned i = 0; i < KU_WS_SENDS; i++) {
        unsigned srv0 = a->srv_updates;
        int type = i % 2 == 0 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED;
        char content[64], b64[128], msg[512];
        snprintf(content, sizeof content, "keyupdate message %u", i);
        sodium_bin2base64(b64, sizeof b64, (const uint8_t *)content, strlen(content),
                          sodium_base64_VARIANT_ORIGINAL);
        int n = snprintf(msg, sizeof msg,
                         "{\"type\":\"send\",\"id\":%u,\"to\":\"kubob\",\"messages\":"
                         "[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"%s\"}]}",
                         100 + i, b64);
        assert_true(n > 0 && (size_t)n < sizeof msg);
        if (i % 4 < 2)
            key_update(a, type, true);          /* between frames */
        ws_write(a, 0x1, msg, (size_t)n, i % 4 < 2 ? -1 : type); /* or inside one */
        char want[64];
        snprintf(want, sizeof want, "\"id\":%u,", 100 + i);
        ws_expect(a, want, NULL, buf, sizeof buf);
        assert_non_null(strstr(buf, "\"type\":\"sent\""));
        assert_non_null(strstr(buf, "\"status\":200"));
        if (type == SSL_KEY_UPDATE_REQUESTED)
            assert_int_equal(a->srv_updates, srv0 + 1);
        else
            assert_int_equal(a->srv_updates, srv0);
        /* a ping split over two keys comes back as a pong with its payload */
        char ping[40];
        snprintf(ping, sizeof ping, "ping-%u-after-keyupdate", i);
        ws_write(a, 0x9, ping, strlen(ping), SSL_KEY_UPDATE_NOT_REQUESTED);
        size_t pl = 0;
        assert_int_equal(ws_read(a, buf, sizeof buf, &pl), 0xA);
        assert_int_equal(pl, strlen(ping));
        assert_memory_equal(buf, ping, pl);
    }
    assert_true(a->srv_updates >= 1 + KU_WS_SENDS / 2);
    tconn_close(a);

    tconn *b = ws_open("kubob");
    for (unsigned i = 0; i < KU_WS_SENDS; i++) {
        ws_expect(b, "\"type\":\"envelope\"", NULL, buf, sizeof buf);
        char content[64], b64[128];
        snprintf(content, sizeof content, "keyupdate message %u", i);
        sodium_bin2base64(b64, sizeof b64, (const uint8_t *)content, strlen(content),
                          sodium_base64_VARIANT_ORIGINAL);
        if (strstr(buf, b64) == NULL)
            fail_msg("envelope %u: expected content %s in %s", i, b64, buf);
        const char *id = strstr(buf, "\"id\":\"");
        assert_non_null(id);
        id += 6;
        const char *ide = strchr(id, '"');
        assert_non_null(ide);
        char ack[256];
        int n = snprintf(ack, sizeof ack, "{\"type\":\"ack\",\"ids\":[\"%.*s\"]}",
                         (int)(ide - id), id);
        assert_true(n > 0 && (size_t)n < sizeof ack);
        key_update(b, i % 2 == 0 ? SSL_KEY_UPDATE_NOT_REQUESTED : SSL_KEY_UPDATE_REQUESTED,
                   false);
        ws_write(b, 0x1, ack, (size_t)n, -1);
    }
    ws_expect(b, "\"queue_empty\"", NULL, buf, sizeof buf);
    /* the records carrying the acks and their KeyUpdates were all read: a
     * ping behind them comes back, behind every KeyUpdate the server owes */
    ws_write(b, 0x9, "after-acks", 10, -1);
    size_t pl = 0;
    assert_int_equal(ws_read(b, buf, sizeof buf, &pl), 0xA);
    assert_int_equal(pl, 10);
    assert_memory_equal(buf, "after-acks", 10);
    assert_true(b->srv_updates >= 2);
    assert_true(b->srv_updates <= 1 + KU_WS_SENDS / 2);
    tconn_close(b);
}

/* ---------- KeyUpdates the server starts itself ----------
 * A second sottod whose keys last KU_REKEY_RECORDS records
 * (tls_rekey_records; 2^24 in service) seals a KeyUpdate of its own,
 * requesting ours, every KU_REKEY_RECORDS records it writes: OpenSSL must
 * take every one, answer it, and every answer must still read right. */
#define KU_REKEY_RECORDS 16u
#define KU_REKEY_ROUNDS  200u

static int rekey_setup(void **state)
{
    (void)state;
    strcpy(g_dir, "/tmp/sotto-keyupdate-XXXXXX");
    if (sodium_init() < 0 || mkdtemp(g_dir) == NULL || make_ctx() != 0)
        return -1;
    char conf[512];
    snprintf(conf, sizeof conf, "%s/sottod.conf", g_dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "tls_rekey_records = %u\n", KU_REKEY_RECORDS);
    fclose(f);
    bool up = false;
    for (unsigned t = 0; t < KU_START_TRIES && !up; t++)
        up = free_port(&g_port) == 0 && start_sottod();
    if (!up) {
        fprintf(stderr, "keyupdate_e2e: sottod did not start (see %s/err)\n", g_dir);
        return -1;
    }
    return 0;
}

static int rekey_teardown(void **state)
{
    return group_teardown(state);
}

static void test_server_rekeys(void **state)
{
    (void)state;
    tconn *c = tconn_open();
    for (unsigned r = 0; r < KU_REKEY_ROUNDS; r++) {
        tconn_write(c, HEALTH, sizeof HEALTH - 1);
        expect_health(c);
    }
    /* One answer is at least one record: at least a KeyUpdate per
     * KU_REKEY_RECORDS answers, and not one per record (the sequence
     * restarts under each new key). */
    assert_true(c->srv_updates >= KU_REKEY_ROUNDS / KU_REKEY_RECORDS - 1);
    assert_true(c->srv_updates <= KU_REKEY_ROUNDS / 2);
    /* Each asked for ours; OpenSSL sends it with its next write, and the
     * server read every request after it. */
    assert_true(c->our_updates + 1 >= c->srv_updates);
    tconn_close(c);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: keyupdate_e2e PATH/TO/sottod\n");
        return 2;
    }
    g_sottod = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_rounds),
        cmocka_unit_test(test_http_pipelined),
        cmocka_unit_test(test_http_dribbled),
        cmocka_unit_test(test_websocket),
    };
    const struct CMUnitTest rekey_tests[] = {
        cmocka_unit_test(test_server_rekeys),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("server_rekeys", rekey_tests, rekey_setup,
                                          rekey_teardown);
    return failed;
}
