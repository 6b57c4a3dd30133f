/* sottod TLS 1.3 record layer (tls_rec.c): numbered cases.
 *
 * 1-4    RFC 8448 section 3 known answers (keys, ivs, records both ways, alerts)
 * 5-7    against real OpenSSL over memory BIOs, one case per suite: data both
 *        ways at 0, 1, 16384, 16385, 100000 bytes, KeyUpdate both ways, close
 * 8      application data in the same read as the client's Finished
 * 9      a truncated record waits; a record fed one byte at a time
 * 10     a flipped bit: bad_record_mac, read side dead, the alert reaches OpenSSL
 * 11     take refuses: unfinished handshake, buffered data, tickets, no capture
 * 12     the open case table: hand-made records (a second AES-GCM sealer here)
 * 13     sequence numbers: wrap refused both ways, state unchanged
 * 14     seal bounds, buffer too small, overlap, alerts end the write side
 * 15     wipe leaves zeros; take drops the captured secrets
 *
 * With SOTTO_TLS_REC_BENCH=<n> in the environment the program instead runs
 * n open+seal steps of 256 bytes through tls_rec and n SSL_read+SSL_write
 * steps through a kept server SSL, for callgrind (see docs/TLS.md):
 *   valgrind --tool=callgrind --toggle-collect=bench_rec_step \
 *            --toggle-collect=bench_ssl_step test_tls_rec */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "tls.h"
#include "tls_rec.h"

#define BIG (100000u)
#define IO_CAP (SOTTO_TLS_REC_SEAL_BOUND(BIG) + 4096u)

static char g_dir[64];
static char g_cert[128], g_key[128];
static SSL_CTX *g_sctx;

/* ---- helpers ---- */

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        if (*s == ' ' || *s == '\n') {
            s++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(s, "%2x", &v), 1);
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31u + seed);
    return p;
}

/* A client and a server SSL joined by memory BIOs. */
typedef struct pair {
    SSL_CTX *cctx;
    SSL *cli, *srv;
    BIO *c_rd, *c_wr;  /* the client's rbio / wbio */
    BIO *s_rd, *s_wr;  /* the server's */
    sotto_tls_rec rec;
    uint8_t *in;       /* the server's ciphertext input after the switch */
    size_t in_len;
} pair;

static size_t drain(BIO *b, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int r;
    while (n < cap && (r = BIO_read(b, out + n, (int)(cap - n > INT32_MAX ? INT32_MAX : cap - n))) > 0)
        n += (size_t)r;
    return n;
}

static void move(BIO *from, BIO *to)
{
    uint8_t buf[4096];
    size_t n;
    while ((n = drain(from, buf, sizeof buf)) > 0)
        assert_int_equal(BIO_write(to, buf, (int)n), (int)n);
}

static void pair_new(pair *p, const char *suites)
{
    memset(p, 0, sizeof *p);
    p->cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->cctx);
    SSL_CTX_set_min_proto_version(p->cctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_set_ciphersuites(p->cctx, suites), 1);
    p->cli = SSL_new(p->cctx);
    p->srv = SSL_new(g_sctx);
    assert_non_null(p->cli);
    assert_non_null(p->srv);
    p->c_rd = BIO_new(BIO_s_mem());
    p->c_wr = BIO_new(BIO_s_mem());
    p->s_rd = BIO_new(BIO_s_mem());
    p->s_wr = BIO_new(BIO_s_mem());
    SSL_set_bio(p->cli, p->c_rd, p->c_wr);
    SSL_set_bio(p->srv, p->s_rd, p->s_wr);
    SSL_set_connect_state(p->cli);
    SSL_set_accept_state(p->srv);
    p->in = malloc(IO_CAP);
    assert_non_null(p->in);
}

/* Runs the handshake until the client is done and its Finished sits in the
 * server's rbio; early (if any) is written by the client right after. */
static void pair_handshake(pair *p, const uint8_t *early, size_t early_len)
{
    int cdone = 0;
    for (int i = 0; i < 16 && !cdone; i++) {
        int r = SSL_do_handshake(p->cli);
        if (r == 1)
            cdone = 1;
        else
            assert_int_equal(SSL_get_error(p->cli, r), SSL_ERROR_WANT_READ);
        if (cdone && early_len > 0)
            assert_int_equal(SSL_write(p->cli, early, (int)early_len), (int)early_len);
        move(p->c_wr, p->s_rd);
        if (!cdone) {
            r = SSL_do_handshake(p->srv);
            assert_true(r == 1 || SSL_get_error(p->srv, r) == SSL_ERROR_WANT_READ);
            move(p->s_wr, p->c_rd);
        }
    }
    assert_true(cdone);
    assert_int_equal(SSL_do_handshake(p->srv), 1);
    move(p->s_wr, p->c_rd); /* nothing, with tickets off */
}

/* The switch-over of tls_rec.h: take, keep what OpenSSL left in the rbio, free the SSL. */
static void pair_switch(pair *p)
{
    const char *why = NULL;
    sotto_err e = sotto_tls_rec_take(&p->rec, p->srv, &why);
    if (e != SOTTO_OK)
        fprintf(stderr, "take: %s\n", why);
    assert_int_equal(e, SOTTO_OK);
    assert_null(why);
    p->in_len = drain(p->s_rd, p->in, IO_CAP);
    assert_int_equal(BIO_ctrl_pending(p->s_wr), 0);
    SSL_free(p->srv);
    p->srv = NULL;
}

static void pair_free(pair *p)
{
    sotto_tls_rec_wipe(&p->rec);
    SSL_free(p->cli);
    SSL_free(p->srv);
    SSL_CTX_free(p->cctx);
    free(p->in);
}

/* Server: seal pt and hand the records to the client. */
static void srv_send(pair *p, const uint8_t *pt, size_t n)
{
    uint8_t *out = malloc(SOTTO_TLS_REC_SEAL_BOUND(n));
    size_t len = 9;
    assert_non_null(out);
    assert_int_equal(sotto_tls_rec_seal(&p->rec, out, SOTTO_TLS_REC_SEAL_BOUND(n), &len, pt, n), SOTTO_OK);
    assert_int_equal(len, SOTTO_TLS_REC_SEAL_BOUND(n));
    assert_int_equal(BIO_write(p->c_rd, out, (int)len), (int)len);
    free(out);
}

static void srv_send_raw(pair *p, const uint8_t *rec, size_t n)
{
    assert_int_equal(BIO_write(p->c_rd, rec, (int)n), (int)n);
}

/* Client: read exactly n bytes (OpenSSL skips empty records). */
static void cli_expect(pair *p, const uint8_t *want, size_t n)
{
    uint8_t *got = malloc(n + 1);
    size_t have = 0;
    assert_non_null(got);
    while (have < n) {
        int r = SSL_read(p->cli, got + have, (int)(n - have));
        if (r <= 0) {
            fprintf(stderr, "SSL_read: %d, error %d\n", r, SSL_get_error(p->cli, r));
            ERR_print_errors_fp(stderr);
            fail();
        }
        have += (size_t)r;
    }
    int r = SSL_read(p->cli, got, 1);
    assert_true(r <= 0 && SSL_get_error(p->cli, r) == SSL_ERROR_WANT_READ);
    if (n > 0)
        assert_memory_equal(got, want, n);
    free(got);
}

/* Client: write n bytes; the server's input grows by the records. */
static void cli_send(pair *p, const uint8_t *pt, size_t n)
{
    if (n > 0)
        assert_int_equal(SSL_write(p->cli, pt, (int)n), (int)n);
    size_t got = drain(p->c_wr, p->in + p->in_len, IO_CAP - p->in_len);
    p->in_len += got;
    assert_int_equal(BIO_ctrl_pending(p->c_wr), 0);
}

/* Server: open records from its input until NEED_MORE; collects data. Returns
 * the last non-DATA result (or NEED_MORE). ku counts KeyUpdates, req those asking. */
static sotto_tls_rec_result srv_read(pair *p, uint8_t *data, size_t cap, size_t *data_len,
                                     int *ku, int *req)
{
    size_t off = 0;
    *data_len = 0;
    sotto_tls_rec_result r;
    sotto_tls_rec_in in;
    for (;;) {
        r = sotto_tls_rec_open(&p->rec, p->in + off, p->in_len - off, &in);
        if (r == SOTTO_TLS_REC_DATA) {
            assert_true(in.data_len <= SOTTO_TLS_REC_MAX_PLAIN);
            assert_true(*data_len + in.data_len <= cap);
            if (in.data_len)
                memcpy(data + *data_len, in.data, in.data_len);
            *data_len += in.data_len;
        } else if (r == SOTTO_TLS_REC_KEY_UPDATE) {
            (*ku)++;
            *req += in.update_requested;
        } else {
            break;
        }
        off += in.consumed;
    }
    if (r == SOTTO_TLS_REC_CLOSED)
        off += in.consumed;
    memmove(p->in, p->in + off, p->in_len - off);
    p->in_len -= off;
    return r;
}

static void cli_to_srv(pair *p, size_t n, unsigned seed)
{
    uint8_t *pt = pattern(n, seed), *got = malloc(n + 1);
    size_t got_len;
    int ku = 0, req = 0;
    assert_non_null(got);
    cli_send(p, pt, n);
    assert_int_equal(srv_read(p, got, n, &got_len, &ku, &req), SOTTO_TLS_REC_NEED_MORE);
    assert_int_equal(got_len, n);
    assert_int_equal(p->in_len, 0);
    assert_int_equal(ku, 0);
    if (n)
        assert_memory_equal(got, pt, n);
    free(pt);
    free(got);
}

static void srv_to_cli(pair *p, size_t n, unsigned seed)
{
    uint8_t *pt = pattern(n, seed);
    srv_send(p, pt, n);
    cli_expect(p, pt, n);
    free(pt);
}

static const size_t SIZES[] = {0, 1, 16384, 16385, BIG};

/* ---- 1-4: RFC 8448 section 3 ---- */

#define RFC_C_SECRET "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"
#define RFC_S_SECRET "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"
#define RFC_C_KEY "17422dda596ed5d9acd890e3c63f5051"
#define RFC_C_IV "5b78923dee08579033e523d9"
#define RFC_S_KEY "9f02283b6c9c07efc26bb9f2ac92e356"
#define RFC_S_IV "cf782b88dd83549aadf1e984"
/* {client} send application_data record (seq 0): 00 01 .. 31 */
#define RFC_C_APP \
    "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea" \
    "42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b" \
    "62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4"
/* {server} send application_data record (seq 1: NewSessionTicket was 0) */
#define RFC_S_APP \
    "17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc" \
    "32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8" \
    "fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d"
/* close_notify alerts: client seq 1, server seq 2 */
#define RFC_C_ALERT "17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3"
#define RFC_S_ALERT "17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9"

static void rfc_server(sotto_tls_rec *s)
{
    uint8_t cs[32], ss[32];
    unhex(RFC_C_SECRET, cs, sizeof cs);
    unhex(RFC_S_SECRET, ss, sizeof ss);
    assert_int_equal(sotto_tls_rec_init(s, SOTTO_TLS_AES_128_GCM_SHA256, cs, ss, 32), SOTTO_OK);
}

/* 1. keys and ivs from both application traffic secrets */
static void rfc8448_keys(void **st)
{
    (void)st;
    sotto_tls_rec s;
    uint8_t want[16];
    rfc_server(&s);
    unhex(RFC_C_KEY, want, 16);
    assert_memory_equal(s.rd.key, want, 16);
    unhex(RFC_C_IV, want, 12);
    assert_memory_equal(s.rd.iv, want, 12);
    unhex(RFC_S_KEY, want, 16);
    assert_memory_equal(s.wr.key, want, 16);
    unhex(RFC_S_IV, want, 12);
    assert_memory_equal(s.wr.iv, want, 12);
    assert_int_equal(s.rd.seq, 0);
    assert_int_equal(s.wr.seq, 0);
    /* a wrong secret length is refused */
    assert_int_equal(sotto_tls_rec_init(&s, SOTTO_TLS_AES_256_GCM_SHA384, s.rd.secret, s.wr.secret, 32),
                     SOTTO_ERR_INVALID_ARGUMENT);
}

/* 2. the server opens the client's record and seals the same bytes as the RFC */
static void rfc8448_server_side(void **st)
{
    (void)st;
    sotto_tls_rec s;
    uint8_t rec[128], want[128], out[128], pt[50];
    size_t n = unhex(RFC_C_APP, rec, sizeof rec), len;
    for (unsigned i = 0; i < 50; i++)
        pt[i] = (uint8_t)i;
    rfc_server(&s);
    sotto_tls_rec_in in;
    assert_int_equal(sotto_tls_rec_open(&s, rec, n, &in), SOTTO_TLS_REC_DATA);
    assert_int_equal(in.consumed, 72);
    assert_int_equal(in.data_len, 50);
    assert_ptr_equal(in.data, rec + 5);
    assert_memory_equal(in.data, pt, 50);
    assert_int_equal(s.rd.seq, 1);

    s.wr.seq = 1;
    n = unhex(RFC_S_APP, want, sizeof want);
    assert_int_equal(sotto_tls_rec_seal(&s, out, sizeof out, &len, pt, 50), SOTTO_OK);
    assert_int_equal(len, n);
    assert_memory_equal(out, want, n);
    assert_int_equal(s.wr.seq, 2);
}

/* 3. the close_notify alerts both ways */
static void rfc8448_alerts(void **st)
{
    (void)st;
    sotto_tls_rec s;
    uint8_t rec[64], want[64], out[64];
    size_t n, len;
    rfc_server(&s);
    s.rd.seq = 1;
    s.wr.seq = 2;
    n = unhex(RFC_C_ALERT, rec, sizeof rec);
    sotto_tls_rec_in in;
    assert_int_equal(sotto_tls_rec_open(&s, rec, n, &in), SOTTO_TLS_REC_CLOSED);
    assert_int_equal(in.consumed, 24);
    /* later calls keep saying closed */
    assert_int_equal(sotto_tls_rec_open(&s, rec, n, &in), SOTTO_TLS_REC_CLOSED);
    assert_int_equal(in.consumed, 0);
    n = unhex(RFC_S_ALERT, want, sizeof want);
    assert_int_equal(sotto_tls_rec_seal_alert(&s, SOTTO_TLS_ALERT_CLOSE_NOTIFY, out, sizeof out, &len),
                     SOTTO_OK);
    assert_int_equal(len, SOTTO_TLS_REC_ALERT_BYTES);
    assert_int_equal(len, n);
    assert_memory_equal(out, want, n);
    /* nothing goes out after an alert */
    assert_int_equal(sotto_tls_rec_seal(&s, out, sizeof out, &len, want, 1), SOTTO_ERR_INVALID_STATE);
    assert_int_equal(len, 0);
}

/* 4. the client's direction too, from a mirrored state */
static void rfc8448_client_side(void **st)
{
    (void)st;
    sotto_tls_rec c;
    uint8_t cs[32], ss[32], rec[128], want[128], out[128], pt[50];
    unhex(RFC_C_SECRET, cs, sizeof cs);
    unhex(RFC_S_SECRET, ss, sizeof ss);
    assert_int_equal(sotto_tls_rec_init(&c, SOTTO_TLS_AES_128_GCM_SHA256, ss, cs, 32), SOTTO_OK);
    for (unsigned i = 0; i < 50; i++)
        pt[i] = (uint8_t)i;
    size_t n = unhex(RFC_C_APP, want, sizeof want), len;
    assert_int_equal(sotto_tls_rec_seal(&c, out, sizeof out, &len, pt, 50), SOTTO_OK);
    assert_int_equal(len, n);
    assert_memory_equal(out, want, n);
    c.rd.seq = 1;
    n = unhex(RFC_S_APP, rec, sizeof rec);
    sotto_tls_rec_in in;
    assert_int_equal(sotto_tls_rec_open(&c, rec, n, &in), SOTTO_TLS_REC_DATA);
    assert_int_equal(in.data_len, 50);
    assert_memory_equal(in.data, pt, 50);
}

/* ---- 5-7: against OpenSSL, per suite ---- */

static void against_openssl(const char *suite_name, unsigned suite)
{
    pair p;
    pair_new(&p, suite_name);
    pair_handshake(&p, NULL, 0);
    pair_switch(&p);
    assert_int_equal(p.rec.suite, suite);
    assert_int_equal(p.in_len, 0);
    assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(p.cli)), suite_name);

    /* data both ways */
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        srv_to_cli(&p, SIZES[i], (unsigned)i);
        if (SIZES[i] > 0)
            cli_to_srv(&p, SIZES[i], (unsigned)i + 7);
    }
    /* the number of records is what the bound says */
    assert_int_equal(p.rec.wr.seq, 1 + 1 + 1 + 2 + 7);

    uint8_t out[SOTTO_TLS_REC_KEY_UPDATE_BYTES], got[64];
    size_t len, got_len;
    int ku = 0, req = 0;

    /* client KeyUpdate, not requested: the next records use its new key */
    assert_int_equal(SSL_key_update(p.cli, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    cli_send(&p, (const uint8_t *)"after", 5);
    assert_int_equal(srv_read(&p, got, sizeof got, &got_len, &ku, &req), SOTTO_TLS_REC_NEED_MORE);
    assert_int_equal(ku, 1);
    assert_int_equal(req, 0);
    assert_int_equal(got_len, 5);
    assert_memory_equal(got, "after", 5);
    assert_int_equal(p.rec.rd.seq, 1);
    srv_to_cli(&p, 300, 1);

    /* client KeyUpdate, requested: we owe ours before any data */
    assert_int_equal(SSL_key_update(p.cli, SSL_KEY_UPDATE_REQUESTED), 1);
    cli_send(&p, (const uint8_t *)"again", 5);
    ku = req = 0;
    assert_int_equal(srv_read(&p, got, sizeof got, &got_len, &ku, &req), SOTTO_TLS_REC_NEED_MORE);
    assert_int_equal(ku, 1);
    assert_int_equal(req, 1);
    assert_int_equal(got_len, 5);
    assert_true(p.rec.key_update_due);
    assert_int_equal(sotto_tls_rec_seal(&p.rec, got, sizeof got, &len, got, 1), SOTTO_ERR_INVALID_STATE);
    uint8_t old_wkey[SOTTO_TLS_REC_MAX_KEY];
    memcpy(old_wkey, p.rec.wr.key, sizeof old_wkey);
    assert_int_equal(sotto_tls_rec_seal_key_update(&p.rec, false, out, sizeof out, &len), SOTTO_OK);
    assert_int_equal(len, SOTTO_TLS_REC_KEY_UPDATE_BYTES);
    assert_false(p.rec.key_update_due);
    assert_int_equal(p.rec.wr.seq, 0);
    assert_memory_not_equal(p.rec.wr.key, old_wkey, sizeof old_wkey);
    srv_send_raw(&p, out, len);
    srv_to_cli(&p, 20000, 2); /* the client reads under our new key */
    cli_to_srv(&p, 10, 3);

    /* our own request: the client answers with its KeyUpdate on its next write */
    assert_int_equal(sotto_tls_rec_seal_key_update(&p.rec, true, out, sizeof out, &len), SOTTO_OK);
    srv_send_raw(&p, out, len);
    srv_to_cli(&p, 5, 4);
    cli_send(&p, (const uint8_t *)"third", 5);
    ku = req = 0;
    assert_int_equal(srv_read(&p, got, sizeof got, &got_len, &ku, &req), SOTTO_TLS_REC_NEED_MORE);
    assert_int_equal(ku, 1);
    assert_int_equal(req, 0);
    assert_int_equal(got_len, 5);
    assert_memory_equal(got, "third", 5);
    srv_to_cli(&p, 1, 5);

    /* the client closes: reported as closed; our close_notify reaches it */
    assert_true(SSL_shutdown(p.cli) >= 0);
    cli_send(&p, NULL, 0);
    assert_int_equal(srv_read(&p, got, sizeof got, &got_len, &ku, &req), SOTTO_TLS_REC_CLOSED);
    assert_int_equal(p.in_len, 0);
    assert_int_equal(sotto_tls_rec_seal_alert(&p.rec, SOTTO_TLS_ALERT_CLOSE_NOTIFY, out, sizeof out, &len),
                     SOTTO_OK);
    srv_send_raw(&p, out, len);
    int r = SSL_read(p.cli, got, sizeof got);
    assert_int_equal(r, 0);
    assert_int_equal(SSL_get_error(p.cli, r), SSL_ERROR_ZERO_RETURN);
    pair_free(&p);
}

/* 5 */
static void openssl_aes128(void **st)
{
    (void)st;
    against_openssl("TLS_AES_128_GCM_SHA256", SOTTO_TLS_AES_128_GCM_SHA256);
}
/* 6 */
static void openssl_aes256(void **st)
{
    (void)st;
    against_openssl("TLS_AES_256_GCM_SHA384", SOTTO_TLS_AES_256_GCM_SHA384);
}
/* 7 */
static void openssl_chacha(void **st)
{
    (void)st;
    against_openssl("TLS_CHACHA20_POLY1305_SHA256", SOTTO_TLS_CHACHA20_POLY1305_SHA256);
}

/* 8. the client writes right after its Finished, in the same flight: OpenSSL
 * leaves those records in the server's rbio; the caller moves them over */
static void early_app_data(void **st)
{
    (void)st;
    pair p;
    pair_new(&p, "TLS_AES_128_GCM_SHA256");
    uint8_t *early = pattern(20000, 9);
    pair_handshake(&p, early, 20000);
    assert_true(BIO_ctrl_pending(p.s_rd) > 20000);
    pair_switch(&p);
    assert_int_equal(p.in_len, SOTTO_TLS_REC_SEAL_BOUND(20000));
    uint8_t *got = malloc(20000);
    size_t got_len;
    int ku = 0, req = 0;
    assert_non_null(got);
    assert_int_equal(srv_read(&p, got, 20000, &got_len, &ku, &req), SOTTO_TLS_REC_NEED_MORE);
    assert_int_equal(got_len, 20000);
    assert_memory_equal(got, early, 20000);
    srv_to_cli(&p, 100, 1);
    free(got);
    free(early);
    pair_free(&p);
}

/* 9. a truncated record waits, changing nothing; byte-by-byte feeding works */
static void partial_records(void **st)
{
    (void)st;
    pair p;
    pair_new(&p, "TLS_CHACHA20_POLY1305_SHA256");
    pair_handshake(&p, NULL, 0);
    pair_switch(&p);
    uint8_t *pt = pattern(16385, 3);
    assert_int_equal(SSL_write(p.cli, pt, 16385), 16385);
    uint8_t *wire = malloc(IO_CAP), *buf = malloc(IO_CAP);
    assert_non_null(wire);
    assert_non_null(buf);
    size_t n = drain(p.c_wr, wire, IO_CAP);
    assert_int_equal(n, SOTTO_TLS_REC_SEAL_BOUND(16385));
    size_t first = SOTTO_TLS_REC_MAX_PLAIN + SOTTO_TLS_REC_OVERHEAD;

    sotto_tls_rec_in in;
    sotto_tls_rec before = p.rec;
    /* 0..4 bytes: no header yet */
    for (size_t i = 0; i < SOTTO_TLS_REC_HEADER; i++) {
        memcpy(buf, wire, i);
        assert_int_equal(sotto_tls_rec_open(&p.rec, buf, i, &in), SOTTO_TLS_REC_NEED_MORE);
        assert_int_equal(in.need, SOTTO_TLS_REC_HEADER);
        assert_int_equal(in.consumed, 0);
    }
    /* header there, body short by one */
    memcpy(buf, wire, first - 1);
    assert_int_equal(sotto_tls_rec_open(&p.rec, buf, first - 1, &in), SOTTO_TLS_REC_NEED_MORE);
    assert_int_equal(in.need, first);
    assert_memory_equal(buf, wire, first - 1); /* not touched */
    assert_memory_equal(&p.rec, &before, sizeof before);

    /* feed one byte at a time, as many small reads would */
    size_t have = 0, off = 0, got = 0;
    int records = 0;
    while (have < n) {
        buf[have] = wire[have];
        have++;
        for (;;) {
            sotto_tls_rec_result r = sotto_tls_rec_open(&p.rec, buf + off, have - off, &in);
            if (r == SOTTO_TLS_REC_NEED_MORE)
                break;
            assert_int_equal(r, SOTTO_TLS_REC_DATA);
            assert_memory_equal(in.data, pt + got, in.data_len);
            got += in.data_len;
            off += in.consumed;
            records++;
        }
    }
    assert_int_equal(got, 16385);
    assert_int_equal(off, n);
    assert_int_equal(records, 2);
    free(wire);
    free(buf);
    free(pt);
    pair_free(&p);
}

/* 10. a flipped bit: bad_record_mac, the read side stays dead, our alert
 * reaches the client as bad_record_mac */
static void flipped_bit(void **st)
{
    (void)st;
    pair p;
    pair_new(&p, "TLS_AES_256_GCM_SHA384");
    pair_handshake(&p, NULL, 0);
    pair_switch(&p);
    cli_send(&p, (const uint8_t *)"hello world", 11);
    cli_send(&p, (const uint8_t *)"second", 6);
    size_t first = 11 + SOTTO_TLS_REC_OVERHEAD;
    p.in[SOTTO_TLS_REC_HEADER + 3] ^= 0x10;
    sotto_tls_rec_in in;
    uint64_t seq = p.rec.rd.seq;
    assert_int_equal(sotto_tls_rec_open(&p.rec, p.in, p.in_len, &in), SOTTO_TLS_REC_ERROR);
    assert_int_equal(in.alert, SOTTO_TLS_ALERT_BAD_RECORD_MAC);
    assert_non_null(in.why);
    assert_null(in.data);
    assert_int_equal(p.rec.rd.seq, seq);
    for (size_t i = SOTTO_TLS_REC_HEADER; i < first - SOTTO_TLS_REC_TAG; i++)
        assert_int_equal(p.in[i], 0); /* no unauthenticated plaintext left behind */
    /* the intact second record is refused too: the state is unusable */
    assert_int_equal(sotto_tls_rec_open(&p.rec, p.in + first, p.in_len - first, &in), SOTTO_TLS_REC_ERROR);
    assert_int_equal(in.alert, SOTTO_TLS_ALERT_NONE);
    uint8_t out[64];
    size_t len;
    assert_int_equal(sotto_tls_rec_seal(&p.rec, out, sizeof out, &len, out, 0), SOTTO_ERR_INVALID_STATE);
    assert_int_equal(sotto_tls_rec_seal_key_update(&p.rec, false, out, sizeof out, &len),
                     SOTTO_ERR_INVALID_STATE);
    assert_int_equal(sotto_tls_rec_seal_alert(&p.rec, SOTTO_TLS_ALERT_BAD_RECORD_MAC, out, sizeof out, &len),
                     SOTTO_OK);
    srv_send_raw(&p, out, len);
    ERR_clear_error();
    int r = SSL_read(p.cli, out, sizeof out);
    assert_true(r <= 0);
    assert_int_equal(SSL_get_error(p.cli, r), SSL_ERROR_SSL);
    assert_int_equal(ERR_GET_REASON(ERR_peek_error()), SSL_AD_REASON_OFFSET + SSL_AD_BAD_RECORD_MAC);
    ERR_clear_error();
    pair_free(&p);
}

/* 11. take refuses what it cannot continue */
static void take_refusals(void **st)
{
    (void)st;
    pair p;
    sotto_tls_rec rec;
    const char *why = NULL;

    /* handshake not finished */
    pair_new(&p, "TLS_AES_128_GCM_SHA256");
    assert_int_equal(sotto_tls_rec_take(&rec, p.srv, &why), SOTTO_ERR_INVALID_STATE);
    assert_non_null(why);
    assert_int_equal(sotto_tls_rec_take(&rec, p.cli, &why), SOTTO_ERR_INVALID_ARGUMENT);
    pair_free(&p);

    /* OpenSSL already holds decrypted data */
    pair_new(&p, "TLS_AES_128_GCM_SHA256");
    pair_handshake(&p, (const uint8_t *)"abcdef", 6);
    uint8_t b[2];
    assert_int_equal(SSL_read(p.srv, b, 2), 2);
    assert_int_equal(SSL_pending(p.srv), 4);
    why = NULL;
    assert_int_equal(sotto_tls_rec_take(&rec, p.srv, &why), SOTTO_ERR_INVALID_STATE);
    assert_non_null(why);
    for (size_t i = 0; i < sizeof rec; i++)
        assert_int_equal(((uint8_t *)&rec)[i], 0);
    pair_free(&p);

    /* tickets on: the write sequence would not start at 0 */
    pair_new(&p, "TLS_AES_128_GCM_SHA256");
    assert_int_equal(SSL_set_num_tickets(p.srv, 1), 1);
    pair_handshake(&p, NULL, 0);
    assert_int_equal(sotto_tls_rec_take(&rec, p.srv, &why), SOTTO_ERR_INVALID_STATE);
    pair_free(&p);

    /* a context without the keylog capture */
    SSL_CTX *bare = SSL_CTX_new(TLS_server_method());
    assert_non_null(bare);
    SSL_CTX_set_min_proto_version(bare, TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(bare, 0);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(bare, g_cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(bare, g_key, SSL_FILETYPE_PEM), 1);
    SSL_CTX *saved = g_sctx;
    g_sctx = bare;
    pair_new(&p, "TLS_AES_128_GCM_SHA256");
    g_sctx = saved;
    pair_handshake(&p, NULL, 0);
    assert_int_equal(sotto_tls_rec_take(&rec, p.srv, &why), SOTTO_ERR_INVALID_STATE);
    pair_free(&p);
    SSL_CTX_free(bare);
}

/* ---- 12: hand-made records, sealed here with EVP AES-128-GCM ---- */

/* A second, independent sealer: inner bytes as given (type and padding included). */
static size_t raw_seal(const sotto_tls_rec_dir *d, const uint8_t *inner, size_t n, uint8_t *out)
{
    size_t clen = n + 16;
    out[0] = 23;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(clen >> 8);
    out[4] = (uint8_t)clen;
    uint8_t nonce[12];
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, d->key, nonce), 1);
    assert_int_equal(EVP_EncryptUpdate(c, NULL, &l, out, 5), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out + 5, &l, inner, (int)n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + 5 + l, &l), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + n), 1);
    EVP_CIPHER_CTX_free(c);
    return 5 + clen;
}

static void fresh(sotto_tls_rec *s)
{
    uint8_t a[32], b[32];
    memset(a, 0xa5, sizeof a);
    memset(b, 0x5a, sizeof b);
    assert_int_equal(sotto_tls_rec_init(s, SOTTO_TLS_AES_128_GCM_SHA256, a, b, 32), SOTTO_OK);
}

typedef struct open_case {
    const char *name;
    const uint8_t *inner;      /* NULL: header-only case, see hdr */
    size_t inner_len;
    uint8_t hdr[5];
    sotto_tls_rec_result want;
    uint8_t alert;
    size_t data_len;
} open_case;

static void open_cases(void **st)
{
    (void)st;
    static const uint8_t app_pad[] = {'h', 'i', 23, 0, 0, 0, 0};
    static const uint8_t app_empty[] = {23};
    static const uint8_t app_empty_pad[] = {23, 0, 0};
    static const uint8_t zeros[] = {0, 0, 0, 0};
    static const uint8_t ccs_inner[] = {1, 20};
    static const uint8_t nst[] = {4, 0, 0, 1, 0, 22};
    static const uint8_t certreq[] = {13, 0, 0, 0, 22};
    static const uint8_t ku_bad_flag[] = {24, 0, 0, 1, 2, 22};
    static const uint8_t ku_bad_len[] = {24, 0, 0, 2, 0, 0, 22};
    static const uint8_t ku_two[] = {24, 0, 0, 1, 0, 24, 0, 0, 1, 0, 22};
    static const uint8_t ku_frag[] = {24, 0, 22};
    static const uint8_t alert_fatal[] = {2, 40, 21};
    static const uint8_t alert_long[] = {2, 40, 0, 21};
    static const uint8_t user_canceled[] = {1, 90, 21};
    static const uint8_t heartbeat[] = {1, 24};
    static const open_case cases[] = {
        {"app data, padded", app_pad, sizeof app_pad, {0}, SOTTO_TLS_REC_DATA, 0, 2},
        {"empty app data", app_empty, sizeof app_empty, {0}, SOTTO_TLS_REC_DATA, 0, 0},
        {"empty app data, padded", app_empty_pad, sizeof app_empty_pad, {0}, SOTTO_TLS_REC_DATA, 0, 0},
        {"all zeros: no type", zeros, sizeof zeros, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        {"protected change_cipher_spec", ccs_inner, sizeof ccs_inner, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        {"NewSessionTicket from a client", nst, sizeof nst, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        {"CertificateRequest", certreq, sizeof certreq, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        {"KeyUpdate flag 2", ku_bad_flag, sizeof ku_bad_flag, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_ILLEGAL_PARAMETER, 0},
        {"KeyUpdate length 2", ku_bad_len, sizeof ku_bad_len, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_DECODE_ERROR, 0},
        {"two KeyUpdates in a record", ku_two, sizeof ku_two, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_DECODE_ERROR, 0},
        {"KeyUpdate fragment", ku_frag, sizeof ku_frag, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_DECODE_ERROR, 0},
        {"fatal alert from the peer", alert_fatal, sizeof alert_fatal, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_NONE, 0},
        {"alert of 3 bytes", alert_long, sizeof alert_long, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_DECODE_ERROR, 0},
        {"user_canceled", user_canceled, sizeof user_canceled, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_NONE, 0},
        {"heartbeat content type", heartbeat, sizeof heartbeat, {0}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        /* header-only: refused before the body arrives */
        {"plaintext handshake record", NULL, 0, {22, 3, 3, 0, 40}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        {"change_cipher_spec record", NULL, 0, {20, 3, 3, 0, 1}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        {"plaintext alert record", NULL, 0, {21, 3, 3, 0, 2}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, 0},
        {"version 0x0301", NULL, 0, {23, 3, 1, 0, 40}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_PROTOCOL_VERSION, 0},
        {"length 2^14+257", NULL, 0, {23, 3, 3, 0x41, 0x01}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_RECORD_OVERFLOW, 0},
        {"length 65535", NULL, 0, {23, 3, 3, 0xff, 0xff}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_RECORD_OVERFLOW, 0},
        {"inner 2^14+2 (tag included: 16402)", NULL, 0, {23, 3, 3, 0x40, 0x12}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_RECORD_OVERFLOW, 0},
        {"length 16: tag only", NULL, 0, {23, 3, 3, 0, 16}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_BAD_RECORD_MAC, 0},
        {"length 2^14+256: inner too long", NULL, 0, {23, 3, 3, 0x41, 0x00}, SOTTO_TLS_REC_ERROR,
         SOTTO_TLS_ALERT_RECORD_OVERFLOW, 0},
    };
    uint8_t buf[SOTTO_TLS_REC_MAX_RECORD];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const open_case *k = &cases[i];
        sotto_tls_rec s;
        sotto_tls_rec_in in;
        fresh(&s);
        size_t n;
        if (k->inner != NULL) {
            n = raw_seal(&s.rd, k->inner, k->inner_len, buf);
        } else {
            memcpy(buf, k->hdr, 5);
            n = 5;
        }
        sotto_tls_rec_result r = sotto_tls_rec_open(&s, buf, n, &in);
        if (r != k->want || (r == SOTTO_TLS_REC_ERROR && in.alert != k->alert))
            fprintf(stderr, "case %zu (%s): result %d alert %u why %s\n", i + 1, k->name, r, in.alert,
                    in.why ? in.why : "-");
        assert_int_equal(r, k->want);
        if (r == SOTTO_TLS_REC_ERROR) {
            assert_int_equal(in.alert, k->alert);
            assert_non_null(in.why);
            assert_int_equal(s.read_state, SOTTO_TLS_REC_RD_FAILED);
        } else {
            assert_int_equal(in.data_len, k->data_len);
            assert_int_equal(in.consumed, n);
            assert_int_equal(s.rd.seq, 1);
        }
        if (k->inner == alert_fatal)
            assert_int_equal(in.peer_alert, 40);
    }

    /* the largest record: 2^14 content bytes + the type byte */
    sotto_tls_rec s;
    sotto_tls_rec_in in;
    static uint8_t inner[SOTTO_TLS_REC_MAX_PLAIN + 1];
    memset(inner, 'x', sizeof inner);
    inner[SOTTO_TLS_REC_MAX_PLAIN] = 23;
    fresh(&s);
    size_t n = raw_seal(&s.rd, inner, sizeof inner, buf);
    assert_int_equal(sotto_tls_rec_open(&s, buf, n, &in), SOTTO_TLS_REC_DATA);
    assert_int_equal(in.data_len, SOTTO_TLS_REC_MAX_PLAIN);
    /* the largest acceptable header alone waits for its body */
    fresh(&s);
    memcpy(buf, (const uint8_t[]){23, 3, 3, 0x40, 0x11}, 5); /* 2^14 + 17: the largest */
    assert_int_equal(sotto_tls_rec_open(&s, buf, 5, &in), SOTTO_TLS_REC_NEED_MORE);
    assert_int_equal(in.need, 5 + SOTTO_TLS_REC_MAX_PLAIN + 17);
}

/* 13. sequence numbers never wrap */
static void sequence_wrap(void **st)
{
    (void)st;
    sotto_tls_rec s, c;
    uint8_t a[32], b[32], out[128], buf[128];
    size_t len;
    sotto_tls_rec_in in;
    memset(a, 1, sizeof a);
    memset(b, 2, sizeof b);
    assert_int_equal(sotto_tls_rec_init(&s, SOTTO_TLS_CHACHA20_POLY1305_SHA256, a, b, 32), SOTTO_OK);
    assert_int_equal(sotto_tls_rec_init(&c, SOTTO_TLS_CHACHA20_POLY1305_SHA256, b, a, 32), SOTTO_OK);

    /* the last usable number works on both sides */
    c.wr.seq = UINT64_MAX - 1;
    s.rd.seq = UINT64_MAX - 1;
    assert_int_equal(sotto_tls_rec_seal(&c, out, sizeof out, &len, (const uint8_t *)"z", 1), SOTTO_OK);
    assert_int_equal(c.wr.seq, UINT64_MAX);
    memcpy(buf, out, len);
    assert_int_equal(sotto_tls_rec_open(&s, buf, len, &in), SOTTO_TLS_REC_DATA);
    assert_int_equal(s.rd.seq, UINT64_MAX);
    /* the next would wrap: refused, nothing written */
    memset(out, 0x77, sizeof out);
    assert_int_equal(sotto_tls_rec_seal(&c, out, sizeof out, &len, (const uint8_t *)"z", 1),
                     SOTTO_ERR_INVALID_STATE);
    assert_int_equal(len, 0);
    assert_int_equal(out[0], 0x77);
    assert_int_equal(c.wr.seq, UINT64_MAX);
    /* two records cannot start at UINT64_MAX - 1 either */
    c.wr.seq = UINT64_MAX - 1;
    uint8_t *big = pattern(16385, 1), *bout = malloc(SOTTO_TLS_REC_SEAL_BOUND(16385));
    assert_non_null(bout);
    assert_int_equal(sotto_tls_rec_seal(&c, bout, SOTTO_TLS_REC_SEAL_BOUND(16385), &len, big, 16385),
                     SOTTO_ERR_INVALID_STATE);
    assert_int_equal(c.wr.seq, UINT64_MAX - 1);
    free(big);
    free(bout);
    /* a KeyUpdate resets the number */
    assert_int_equal(sotto_tls_rec_seal_key_update(&c, false, out, sizeof out, &len), SOTTO_OK);
    assert_int_equal(c.wr.seq, 0);
    /* reading a record that is valid at UINT64_MAX is refused all the same */
    sotto_tls_rec r;
    fresh(&r);
    r.rd.seq = UINT64_MAX;
    static const uint8_t inner[] = {'w', 23};
    len = raw_seal(&r.rd, inner, sizeof inner, buf);
    assert_int_equal(sotto_tls_rec_open(&r, buf, len, &in), SOTTO_TLS_REC_ERROR);
    assert_int_equal(in.alert, SOTTO_TLS_ALERT_INTERNAL_ERROR);
    assert_non_null(strstr(in.why, "wrap"));
    /* and the same record one number earlier opens (the record is right) */
    fresh(&r);
    r.rd.seq = UINT64_MAX - 1;
    uint8_t buf2[128];
    sotto_tls_rec_dir d = r.rd;
    d.seq = UINT64_MAX - 1;
    len = raw_seal(&d, inner, sizeof inner, buf2);
    assert_int_equal(sotto_tls_rec_open(&r, buf2, len, &in), SOTTO_TLS_REC_DATA);
}

/* 14. seal: bounds and refusals */
static void seal_bounds(void **st)
{
    (void)st;
    sotto_tls_rec s, c;
    fresh(&s);
    uint8_t a[32], b[32];
    memset(a, 0xa5, sizeof a);
    memset(b, 0x5a, sizeof b);
    assert_int_equal(sotto_tls_rec_init(&c, SOTTO_TLS_AES_128_GCM_SHA256, b, a, 32), SOTTO_OK);

    assert_int_equal(SOTTO_TLS_REC_SEAL_BOUND(0), 22);
    assert_int_equal(SOTTO_TLS_REC_SEAL_BOUND(1), 23);
    assert_int_equal(SOTTO_TLS_REC_SEAL_BOUND(16384), 16384 + 22);
    assert_int_equal(SOTTO_TLS_REC_SEAL_BOUND(16385), 16385 + 44);
    assert_int_equal(SOTTO_TLS_REC_SEAL_BOUND(BIG), BIG + 7 * 22);

    uint8_t *pt = pattern(40000, 5), *out = malloc(SOTTO_TLS_REC_SEAL_BOUND(40000));
    size_t len = 1, cap = SOTTO_TLS_REC_SEAL_BOUND(40000);
    assert_non_null(out);
    memset(out, 0x33, cap);
    assert_int_equal(sotto_tls_rec_seal(&s, out, cap - 1, &len, pt, 40000), SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 0);
    assert_int_equal(out[0], 0x33);
    assert_int_equal(s.wr.seq, 0);
    /* overlapping input and output */
    assert_int_equal(sotto_tls_rec_seal(&s, out, cap, &len, out + 10, 100), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_tls_rec_seal(&s, out, cap, &len, pt, 40000), SOTTO_OK);
    assert_int_equal(len, cap);
    assert_int_equal(s.wr.seq, 3);
    /* full records first: 2^14 content + type + tag = 0x4011 */
    assert_int_equal(out[3], 0x40);
    assert_int_equal(out[4], 0x11);
    assert_int_equal(out[16384 + 22 + 3], 0x40);
    assert_int_equal(out[16384 + 22 + 4], 0x11);
    /* the mirror opens the three records: 16384, 16384, 7232 */
    size_t off = 0, got = 0;
    sotto_tls_rec_in in;
    while (off < len) {
        assert_int_equal(sotto_tls_rec_open(&c, out + off, len - off, &in), SOTTO_TLS_REC_DATA);
        assert_memory_equal(in.data, pt + got, in.data_len);
        got += in.data_len;
        off += in.consumed;
    }
    assert_int_equal(got, 40000);
    /* small buffers for the fixed-size records */
    assert_int_equal(sotto_tls_rec_seal_alert(&s, 40, out, SOTTO_TLS_REC_ALERT_BYTES - 1, &len),
                     SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(sotto_tls_rec_seal_key_update(&s, false, out, SOTTO_TLS_REC_KEY_UPDATE_BYTES - 1, &len),
                     SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(sotto_tls_rec_seal_alert(&s, SOTTO_TLS_ALERT_NONE, out, cap, &len),
                     SOTTO_ERR_INVALID_ARGUMENT);
    /* a fatal alert: level 2, then nothing more */
    assert_int_equal(sotto_tls_rec_seal_alert(&s, SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, out, cap, &len), SOTTO_OK);
    assert_int_equal(sotto_tls_rec_open(&c, out, len, &in), SOTTO_TLS_REC_ERROR);
    assert_int_equal(in.peer_alert, SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE);
    assert_int_equal(in.alert, SOTTO_TLS_ALERT_NONE);
    assert_int_equal(sotto_tls_rec_seal_alert(&s, 0, out, cap, &len), SOTTO_ERR_INVALID_STATE);
    assert_int_equal(sotto_tls_rec_seal_key_update(&s, false, out, cap, &len), SOTTO_ERR_INVALID_STATE);
    assert_false(sotto_tls_rec_should_rekey(&s, 0));
    s.wr.seq = SOTTO_TLS_REC_REKEY_AFTER - 1;
    assert_false(sotto_tls_rec_should_rekey(&s, 0));
    assert_false(sotto_tls_rec_should_rekey(&s, UINT64_MAX)); /* never past the limit */
    assert_true(sotto_tls_rec_should_rekey(&s, 16));
    s.wr.seq = SOTTO_TLS_REC_REKEY_AFTER;
    assert_true(sotto_tls_rec_should_rekey(&s, 0));
    assert_true(sotto_tls_rec_should_rekey(&s, UINT64_MAX));
    free(pt);
    free(out);
}

/* 15. wipe leaves zeros; take drops what the keylog callback captured */
static void wipe_and_capture(void **st)
{
    (void)st;
    sotto_tls_rec s;
    fresh(&s);
    s.rd.seq = 5;
    s.key_update_due = 1;
    sotto_tls_rec_wipe(&s);
    for (size_t i = 0; i < sizeof s; i++)
        assert_int_equal(((uint8_t *)&s)[i], 0);

    pair p;
    const char *why = NULL;
    pair_new(&p, "TLS_AES_256_GCM_SHA384");
    pair_handshake(&p, NULL, 0);
    assert_int_equal(sotto_tls_rec_take(&p.rec, p.srv, &why), SOTTO_OK);
    assert_int_equal(p.rec.suite, SOTTO_TLS_AES_256_GCM_SHA384);
    /* a second take finds nothing captured any more */
    sotto_tls_rec again;
    assert_int_equal(sotto_tls_rec_take(&again, p.srv, &why), SOTTO_ERR_INVALID_STATE);
    assert_non_null(strstr(why, "captured"));
    pair_free(&p);
}

/* ---- the callgrind harness ---- */

__attribute__((noinline)) void bench_rec_step(sotto_tls_rec *rec, uint8_t *rec_in, size_t in_len,
                                              const uint8_t *pt, uint8_t *out, size_t cap);
__attribute__((noinline)) void bench_ssl_step(SSL *srv, BIO *rbio, BIO *wbio, const uint8_t *rec_in,
                                              size_t in_len, const uint8_t *pt, uint8_t *out, size_t cap);

/* One 256-byte record opened in place, one 256-byte record sealed. */
__attribute__((noinline)) void bench_rec_step(sotto_tls_rec *rec, uint8_t *rec_in, size_t in_len,
                                              const uint8_t *pt, uint8_t *out, size_t cap)
{
    sotto_tls_rec_in in;
    size_t len;
    if (sotto_tls_rec_open(rec, rec_in, in_len, &in) != SOTTO_TLS_REC_DATA || in.data_len != 256 ||
        sotto_tls_rec_seal(rec, out, cap, &len, pt, 256) != SOTTO_OK)
        abort();
}

/* The same through OpenSSL as sottod does it: bytes into the rbio, SSL_read,
 * SSL_write, bytes out of the wbio. */
__attribute__((noinline)) void bench_ssl_step(SSL *srv, BIO *rbio, BIO *wbio, const uint8_t *rec_in,
                                              size_t in_len, const uint8_t *pt, uint8_t *out, size_t cap)
{
    uint8_t got[256];
    if (BIO_write(rbio, rec_in, (int)in_len) != (int)in_len || SSL_read(srv, got, sizeof got) != 256 ||
        SSL_write(srv, pt, 256) != 256 || BIO_read(wbio, out, (int)cap) != 256 + 22)
        abort();
}

static int bench(int n)
{
    uint8_t pt[256], rec[512], out[512];
    memset(pt, 7, sizeof pt);
    const char *suite = getenv("SOTTO_TLS_REC_BENCH_SUITE");
    if (suite == NULL)
        suite = "TLS_AES_128_GCM_SHA256";
    pair a, b;
    pair_new(&a, suite);
    pair_handshake(&a, NULL, 0);
    /* pair_switch by hand, to weigh what the server SSL still holds */
    const char *why;
    if (sotto_tls_rec_take(&a.rec, a.srv, &why) != SOTTO_OK)
        abort();
    struct mallinfo2 m0 = mallinfo2();
    SSL_free(a.srv);
    a.srv = NULL;
    struct mallinfo2 m1 = mallinfo2();
    printf("heap released by SSL_free after the handshake (both BIOs empty): %zu bytes\n",
           m0.uordblks - m1.uordblks);
    pair_new(&b, suite);
    pair_handshake(&b, NULL, 0);
    if (getenv("SOTTO_TLS_REC_BENCH_KEEP_BUFFERS"))
        SSL_clear_mode(b.srv, SSL_MODE_RELEASE_BUFFERS);
    for (int i = 0; i < n; i++) {
        if (SSL_write(a.cli, pt, 256) != 256)
            abort();
        size_t len = drain(a.c_wr, rec, sizeof rec);
        bench_rec_step(&a.rec, rec, len, pt, out, sizeof out);
        if (SSL_write(b.cli, pt, 256) != 256)
            abort();
        len = drain(b.c_wr, rec, sizeof rec);
        bench_ssl_step(b.srv, b.s_rd, b.s_wr, rec, len, pt, out, sizeof out);
    }
    printf("%d steps of %s: sizeof(sotto_tls_rec) = %zu\n", n, suite, sizeof(sotto_tls_rec));
    pair_free(&a);
    pair_free(&b);
    return 0;
}

/* ---- setup ---- */

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_tls_rec.XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_cert, sizeof g_cert, "%s/cert.pem", g_dir);
    snprintf(g_key, sizeof g_key, "%s/key.pem", g_dir);
    char fp[SOTTOD_FINGERPRINT_HEX], err[256];
    int gen = 0;
    g_sctx = sotto_tls_server_ctx(g_cert, g_key, fp, &gen, err, sizeof err);
    if (g_sctx == NULL) {
        fprintf(stderr, "server ctx: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    SSL_CTX_free(g_sctx);
    unlink(g_cert);
    unlink(g_key);
    rmdir(g_dir);
    return 0;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const char *b = getenv("SOTTO_TLS_REC_BENCH");
    if (b != NULL) {
        if (setup(NULL) != 0)
            return 1;
        int rc = bench(atoi(b));
        teardown(NULL);
        return rc;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8448_keys),
        cmocka_unit_test(rfc8448_server_side),
        cmocka_unit_test(rfc8448_alerts),
        cmocka_unit_test(rfc8448_client_side),
        cmocka_unit_test(openssl_aes128),
        cmocka_unit_test(openssl_aes256),
        cmocka_unit_test(openssl_chacha),
        cmocka_unit_test(early_app_data),
        cmocka_unit_test(partial_records),
        cmocka_unit_test(flipped_bit),
        cmocka_unit_test(take_refusals),
        cmocka_unit_test(open_cases),
        cmocka_unit_test(sequence_wrap),
        cmocka_unit_test(seal_bounds),
        cmocka_unit_test(wipe_and_capture),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
