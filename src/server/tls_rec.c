/* sottod: TLS 1.3 record protection after OpenSSL's handshake (see tls_rec.h, docs/TLS.md).
 *
 * Record (RFC 8446 5.2):  type(23) | 0x0303 | length(2) | AEAD(inner) | tag(16)
 *   inner = content | content_type(1) | zeros
 *   nonce = iv XOR (0^4 || seq as 64-bit big-endian), AAD = the 5-byte header.
 * Keys (RFC 8446 7.1, 7.3): HKDF-Expand-Label(secret, "key" / "iv", "", len);
 * the next secret after a KeyUpdate: HKDF-Expand-Label(secret, "traffic upd", "", Hash.length). */
#define _GNU_SOURCE
#include "tls_rec.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sodium.h>

#define CT_ALERT          21u
#define CT_HANDSHAKE      22u
#define CT_APPLICATION    23u
#define CT_CCS            20u
#define HS_KEY_UPDATE     24u
#define KEY_UPDATE_BODY   1u   /* request_update flag */
#define HS_HEADER         4u   /* msg_type, 24-bit length */
#define LEGACY_VERSION    0x0303u
#define ALERT_LEVEL_WARNING 1u
#define ALERT_LEVEL_FATAL   2u
#define ALERT_BODY        2u
#define CLIENT_RANDOM_LEN 32u
#define LABEL_PREFIX      "tls13 "
#define MAX_HKDF_LABEL    (2u + 1u + 255u + 1u)  /* length, label<7..255>, context<0> */
#define SECRET_HEX_MAX    (2u * SOTTO_TLS_REC_MAX_SECRET)

/* Per suite: EVP cipher name (NULL: libsodium), hash name, key and hash length, IANA id. */
typedef struct suite_info {
    const char *cipher;
    const char *digest;
    size_t key_len;
    size_t hash_len;
    uint16_t id;
} suite_info;

static const suite_info SUITES[SOTTO_TLS_SUITE_COUNT_] = {
    [SOTTO_TLS_AES_128_GCM_SHA256] = {"AES-128-GCM", "SHA256", 16, 32, 0x1301},
    [SOTTO_TLS_AES_256_GCM_SHA384] = {"AES-256-GCM", "SHA384", 32, 48, 0x1302},
    [SOTTO_TLS_CHACHA20_POLY1305_SHA256] = {NULL, "SHA256", 32, 32, 0x1303}, /* libsodium */
};

/* ---- process-wide: fetched algorithms, the ex_data index, thread contexts ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ready;                       /* 1 when everything below was set up */
static EVP_CIPHER *g_cipher[SOTTO_TLS_SUITE_COUNT_];
static EVP_KDF *g_hkdf;
static int g_exidx = -1;
static pthread_key_t g_tkey;
/* 1 when libsodium's AES-256-GCM runs here (AES-NI and PCLMUL): it keys
 * itself per call in ~2.2 K instructions for a 300-byte record, where EVP's
 * re-keying of the thread's context costs ~4.6 K (mostly parameter
 * handling in the provider). */
static int g_sodium_aes256;

/* One EVP_CIPHER_CTX per AES suite per thread, keyed again for every record. */
typedef struct thread_ctx {
    EVP_CIPHER_CTX *c[SOTTO_TLS_SUITE_COUNT_];
} thread_ctx;
static _Thread_local thread_ctx *t_ctx;

/* Traffic secrets from the keylog lines of one handshake, hung on its SSL. */
typedef struct captured {
    uint8_t client_random[CLIENT_RANDOM_LEN];
    uint8_t cts[SOTTO_TLS_REC_MAX_SECRET];   /* CLIENT_TRAFFIC_SECRET_0 */
    uint8_t sts[SOTTO_TLS_REC_MAX_SECRET];   /* SERVER_TRAFFIC_SECRET_0 */
    size_t cts_len, sts_len;                 /* 0 = not seen */
    int have_random;
} captured;

static void captured_free(captured *cap)
{
    if (cap != NULL) {
        sodium_memzero(cap, sizeof *cap);
        free(cap);
    }
}

static void exdata_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    captured_free(ptr);
}

static void thread_ctx_free(void *p)
{
    thread_ctx *t = p;
    if (t == NULL)
        return;
    for (size_t i = 0; i < SOTTO_TLS_SUITE_COUNT_; i++)
        EVP_CIPHER_CTX_free(t->c[i]); /* clears the key schedule */
    free(t);
}

static void global_init(void)
{
    for (size_t i = 0; i < SOTTO_TLS_SUITE_COUNT_; i++) {
        if (SUITES[i].cipher == NULL)
            continue; /* libsodium */
        g_cipher[i] = EVP_CIPHER_fetch(NULL, SUITES[i].cipher, NULL);
        if (g_cipher[i] == NULL)
            return;
    }
    g_sodium_aes256 = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
    g_hkdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    if (g_hkdf == NULL)
        return;
    g_exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, exdata_free);
    if (g_exidx < 0)
        return;
    if (pthread_key_create(&g_tkey, thread_ctx_free) != 0)
        return;
    g_ready = 1;
}

static int ready(void)
{
    return pthread_once(&g_once, global_init) == 0 && g_ready;
}

/* This thread's context for the suite, created (cipher set, no key) on first use. */
static EVP_CIPHER_CTX *cipher_ctx(unsigned suite)
{
    if (t_ctx == NULL) {
        thread_ctx *t = calloc(1, sizeof *t);
        if (t == NULL)
            return NULL;
        if (pthread_setspecific(g_tkey, t) != 0) {
            free(t);
            return NULL;
        }
        t_ctx = t;
    }
    if (t_ctx->c[suite] == NULL) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        if (c == NULL)
            return NULL;
        if (EVP_CipherInit_ex(c, g_cipher[suite], NULL, NULL, NULL, 1) != 1) {
            EVP_CIPHER_CTX_free(c);
            return NULL;
        }
        t_ctx->c[suite] = c;
    }
    return t_ctx->c[suite];
}

/* ---- key schedule ---- */

/* HKDF-Expand-Label(secret, label, "", out_len) with EVP_KDF "HKDF" in EXPAND_ONLY mode. */
static int expand_label(unsigned suite, const uint8_t *secret, const char *label,
                        uint8_t *out, size_t out_len)
{
    const suite_info *si = &SUITES[suite];
    uint8_t info[MAX_HKDF_LABEL];
    size_t plen = sizeof LABEL_PREFIX - 1, llen = strlen(label);
    size_t n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(plen + llen);
    memcpy(info + n, LABEL_PREFIX, plen);
    n += plen;
    memcpy(info + n, label, llen);
    n += llen;
    info[n++] = 0; /* empty context */

    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)si->digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, si->hash_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF_CTX *k = EVP_KDF_CTX_new(g_hkdf);
    int ok = k != NULL && EVP_KDF_derive(k, out, out_len, params) == 1;
    EVP_KDF_CTX_free(k); /* the HKDF context clears its key copy */
    if (!ok) {
        sodium_memzero(out, out_len);
        ERR_clear_error();
    }
    return ok ? 0 : -1;
}

/* Fills d (secret, key, iv, seq 0) from a traffic secret; d untouched on failure. */
static int dir_set(unsigned suite, sotto_tls_rec_dir *d, const uint8_t *secret)
{
    sotto_tls_rec_dir t;
    memset(&t, 0, sizeof t);
    memcpy(t.secret, secret, SUITES[suite].hash_len);
    int rc = -1;
    if (expand_label(suite, t.secret, "key", t.key, SUITES[suite].key_len) != 0 ||
        expand_label(suite, t.secret, "iv", t.iv, SOTTO_TLS_REC_IV) != 0)
        goto out;
    *d = t;
    rc = 0;
out:
    sodium_memzero(&t, sizeof t);
    return rc;
}

/* The next generation of d's traffic secret, keys and seq 0 (RFC 8446 7.2). */
static int dir_update(unsigned suite, sotto_tls_rec_dir *d)
{
    uint8_t next[SOTTO_TLS_REC_MAX_SECRET] = {0};
    int rc = expand_label(suite, d->secret, "traffic upd", next, SUITES[suite].hash_len);
    if (rc == 0)
        rc = dir_set(suite, d, next);
    sodium_memzero(next, sizeof next);
    return rc;
}

/* ---- AEAD ---- */

static void make_nonce(const sotto_tls_rec_dir *d, uint64_t seq, uint8_t nonce[SOTTO_TLS_REC_IV])
{
    memcpy(nonce, d->iv, SOTTO_TLS_REC_IV);
    for (unsigned i = 0; i < 8; i++)
        nonce[SOTTO_TLS_REC_IV - 1 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* The suites libsodium seals and opens: its detached AEADs share one
 * signature for sealing and one for opening. */
typedef struct sodium_aead {
    int (*seal)(unsigned char *c, unsigned char *mac, unsigned long long *maclen,
                const unsigned char *m, unsigned long long mlen, const unsigned char *ad,
                unsigned long long adlen, const unsigned char *nsec, const unsigned char *npub,
                const unsigned char *k);
    int (*open)(unsigned char *m, unsigned char *nsec, const unsigned char *c,
                unsigned long long clen, const unsigned char *mac, const unsigned char *ad,
                unsigned long long adlen, const unsigned char *npub, const unsigned char *k);
} sodium_aead;

static const sodium_aead SODIUM_CHACHA = {crypto_aead_chacha20poly1305_ietf_encrypt_detached,
                                          crypto_aead_chacha20poly1305_ietf_decrypt_detached};
static const sodium_aead SODIUM_AES256 = {crypto_aead_aes256gcm_encrypt_detached,
                                          crypto_aead_aes256gcm_decrypt_detached};

static const sodium_aead *sodium_for(unsigned suite)
{
    if (suite == SOTTO_TLS_CHACHA20_POLY1305_SHA256)
        return &SODIUM_CHACHA;
    if (suite == SOTTO_TLS_AES_256_GCM_SHA384 && g_sodium_aes256)
        return &SODIUM_AES256;
    return NULL;
}

/* In place: p[0..n) is encrypted (enc) or decrypted and tag checked (!enc).
 * 0, or -1 on a bad tag or a library failure. ChaCha20-Poly1305 goes through
 * libsodium (it checks the tag before decrypting), and so does AES-256-GCM
 * where libsodium has it (a bad tag zeroes the output; the connection is
 * closed anyway); AES-GCM otherwise through this
 * thread's EVP context, keyed for this record, the expected tag handed over
 * with the key so that EVP needs no extra control call. */
static int aead(unsigned suite, const sotto_tls_rec_dir *d, uint64_t seq, int enc,
                const uint8_t aad[SOTTO_TLS_REC_HEADER], uint8_t *p, size_t n,
                uint8_t tag[SOTTO_TLS_REC_TAG])
{
    uint8_t nonce[SOTTO_TLS_REC_IV];
    make_nonce(d, seq, nonce);
    int ok;
    const sodium_aead *sa = sodium_for(suite);
    if (sa != NULL) {
        if (enc)
            ok = sa->seal(p, tag, NULL, p, n, aad, SOTTO_TLS_REC_HEADER, NULL, nonce, d->key) == 0;
        else
            ok = sa->open(p, NULL, p, n, tag, aad, SOTTO_TLS_REC_HEADER, nonce, d->key) == 0;
        sodium_memzero(nonce, sizeof nonce);
        return ok ? 0 : -1;
    }
    EVP_CIPHER_CTX *c = cipher_ctx(suite);
    if (c == NULL) {
        sodium_memzero(nonce, sizeof nonce);
        return -1;
    }
    OSSL_PARAM tp[2] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, SOTTO_TLS_REC_TAG),
        OSSL_PARAM_construct_end(),
    };
    int outl = 0, finl = 0;
    ok = EVP_CipherInit_ex2(c, NULL, d->key, nonce, enc, enc ? NULL : tp) == 1 &&
         EVP_CipherUpdate(c, NULL, &outl, aad, (int)SOTTO_TLS_REC_HEADER) == 1 &&
         EVP_CipherUpdate(c, p, &outl, p, (int)n) == 1 &&
         EVP_CipherFinal_ex(c, p + outl, &finl) == 1 &&
         (!enc || EVP_CIPHER_CTX_get_params(c, tp) == 1);
    sodium_memzero(nonce, sizeof nonce);
    if (!ok)
        ERR_clear_error();
    return ok ? 0 : -1;
}

static void put_header(uint8_t *h, size_t cipher_len)
{
    h[0] = CT_APPLICATION;
    h[1] = (uint8_t)(LEGACY_VERSION >> 8);
    h[2] = (uint8_t)LEGACY_VERSION;
    h[3] = (uint8_t)(cipher_len >> 8);
    h[4] = (uint8_t)cipher_len;
}

/* One record of content type ct holding pt[0..n) (n <= 2^14) at out, under
 * d's key with sequence seq. Writes n + SOTTO_TLS_REC_OVERHEAD bytes. */
static int seal_one(unsigned suite, const sotto_tls_rec_dir *d, uint64_t seq, uint8_t ct,
                    const uint8_t *pt, size_t n, uint8_t *out)
{
    size_t inner = n + 1;
    put_header(out, inner + SOTTO_TLS_REC_TAG);
    if (n > 0)
        memcpy(out + SOTTO_TLS_REC_HEADER, pt, n);
    out[SOTTO_TLS_REC_HEADER + n] = ct;
    return aead(suite, d, seq, 1, out, out + SOTTO_TLS_REC_HEADER, inner,
                out + SOTTO_TLS_REC_HEADER + inner);
}

/* ---- public ---- */

static void keylog_cb(const SSL *ssl, const char *line);

const char *sotto_tls_rec_suites(void)
{
    if (!ready())
        return NULL;
    return g_sodium_aes256 ? "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
                           : "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256";
}

int sotto_tls_rec_install(SSL_CTX *ctx)
{
    if (ctx == NULL || !ready())
        return -1;
    SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    return 0;
}

static int parse_hex(const char *hex, size_t hex_len, uint8_t *out, size_t cap, size_t *out_len)
{
    *out_len = 0;
    if (hex_len == 0 || hex_len % 2 != 0 || hex_len / 2 > cap)
        return -1;
    size_t n = 0;
    if (sodium_hex2bin(out, cap, hex, hex_len, NULL, &n, NULL) != 0 || n != hex_len / 2) {
        sodium_memzero(out, cap);
        return -1;
    }
    *out_len = n;
    return 0;
}

/* "<LABEL> <client_random hex> <secret hex>": keeps the two application
 * traffic secrets, ignores the handshake and exporter secrets. The line
 * itself is OpenSSL's buffer (cleared by OpenSSL after this returns). */
static void keylog_cb(const SSL *ssl, const char *line)
{
    static const char CTS[] = "CLIENT_TRAFFIC_SECRET_0 ";
    static const char STS[] = "SERVER_TRAFFIC_SECRET_0 ";
    int client;
    if (strncmp(line, CTS, sizeof CTS - 1) == 0)
        client = 1;
    else if (strncmp(line, STS, sizeof STS - 1) == 0)
        client = 0;
    else
        return;
    const char *cr = line + sizeof CTS - 1; /* both labels have the same length */
    const char *sp = strchr(cr, ' ');
    if (sp == NULL)
        return;
    const char *sec = sp + 1;
    size_t sec_len = strnlen(sec, SECRET_HEX_MAX + 1);
    if (sec_len > SECRET_HEX_MAX)
        return;

    captured *cap = SSL_get_ex_data(ssl, g_exidx);
    if (cap == NULL) {
        cap = calloc(1, sizeof *cap);
        if (cap == NULL)
            return; /* take() then refuses: secrets not captured */
        /* OpenSSL hands the callback a const SSL; ex_data needs it mutable. */
        if (SSL_set_ex_data((SSL *)ssl, g_exidx, cap) != 1) {
            captured_free(cap);
            return;
        }
    }
    uint8_t rnd[CLIENT_RANDOM_LEN];
    size_t n = 0;
    if (parse_hex(cr, (size_t)(sp - cr), rnd, sizeof rnd, &n) != 0 || n != sizeof rnd)
        return;
    if (cap->have_random && memcmp(rnd, cap->client_random, sizeof rnd) != 0) {
        /* not the same handshake: forget everything */
        sodium_memzero(cap, sizeof *cap);
    }
    memcpy(cap->client_random, rnd, sizeof rnd);
    cap->have_random = 1;
    uint8_t *dst = client ? cap->cts : cap->sts;
    size_t *dst_len = client ? &cap->cts_len : &cap->sts_len;
    if (parse_hex(sec, sec_len, dst, SOTTO_TLS_REC_MAX_SECRET, dst_len) != 0)
        *dst_len = 0;
}

sotto_err sotto_tls_rec_init(sotto_tls_rec *rec, sotto_tls_suite suite,
                             const uint8_t *read_secret, const uint8_t *write_secret,
                             size_t secret_len)
{
    if (rec == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sodium_memzero(rec, sizeof *rec);
    if ((unsigned)suite >= SOTTO_TLS_SUITE_COUNT_ || read_secret == NULL || write_secret == NULL ||
        secret_len != SUITES[suite].hash_len)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (!ready())
        return SOTTO_ERR_CRYPTO;
    sotto_tls_rec t;
    memset(&t, 0, sizeof t);
    t.suite = (uint8_t)suite;
    sotto_err e = SOTTO_ERR_CRYPTO;
    if (dir_set((unsigned)suite, &t.rd, read_secret) != 0 ||
        dir_set((unsigned)suite, &t.wr, write_secret) != 0)
        goto out;
    *rec = t;
    e = SOTTO_OK;
out:
    sodium_memzero(&t, sizeof t);
    return e;
}

sotto_err sotto_tls_rec_take(sotto_tls_rec *rec, SSL *ssl, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (rec == NULL) {
        *why = "no record state";
        return SOTTO_ERR_INVALID_ARGUMENT;
    }
    sodium_memzero(rec, sizeof *rec);
    if (ssl == NULL || !SSL_is_server(ssl)) {
        *why = "not a server SSL";
        return SOTTO_ERR_INVALID_ARGUMENT;
    }
    if (!ready()) {
        *why = "OpenSSL algorithms unavailable";
        return SOTTO_ERR_CRYPTO;
    }
    if (!SSL_is_init_finished(ssl)) {
        *why = "handshake not finished";
        return SOTTO_ERR_INVALID_STATE;
    }
    if (SSL_version(ssl) != TLS1_3_VERSION) {
        *why = "not TLS 1.3";
        return SOTTO_ERR_UNSUPPORTED_VERSION;
    }
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    uint16_t id = c != NULL ? SSL_CIPHER_get_protocol_id(c) : 0;
    unsigned suite = SOTTO_TLS_SUITE_COUNT_;
    for (unsigned i = 0; i < SOTTO_TLS_SUITE_COUNT_; i++)
        if (SUITES[i].id == id)
            suite = i;
    if (suite == SOTTO_TLS_SUITE_COUNT_) {
        *why = "cipher suite not supported";
        return SOTTO_ERR_UNSUPPORTED_VERSION;
    }
    if (SSL_pending(ssl) != 0 || SSL_has_pending(ssl)) {
        *why = "OpenSSL holds buffered record data";
        return SOTTO_ERR_INVALID_STATE;
    }
    if (SSL_get_num_tickets(ssl) != 0) {
        *why = "session tickets enabled: the write sequence would not start at 0";
        return SOTTO_ERR_INVALID_STATE;
    }
    captured *cap = SSL_get_ex_data(ssl, g_exidx);
    uint8_t cr[CLIENT_RANDOM_LEN];
    if (cap == NULL || !cap->have_random || cap->cts_len != SUITES[suite].hash_len ||
        cap->sts_len != SUITES[suite].hash_len ||
        SSL_get_client_random(ssl, cr, sizeof cr) != sizeof cr ||
        memcmp(cr, cap->client_random, sizeof cr) != 0) {
        *why = "traffic secrets not captured (sotto_tls_rec_install on the SSL_CTX?)";
        return SOTTO_ERR_INVALID_STATE;
    }
    sotto_err e = sotto_tls_rec_init(rec, (sotto_tls_suite)suite, cap->cts, cap->sts,
                                     SUITES[suite].hash_len);
    if (e != SOTTO_OK) {
        *why = "key derivation failed";
        return e;
    }
    /* The captured secrets now live only in *rec. */
    SSL_set_ex_data(ssl, g_exidx, NULL);
    captured_free(cap);
    return SOTTO_OK;
}

static sotto_tls_rec_result fail(sotto_tls_rec *rec, sotto_tls_rec_in *in, uint8_t alert,
                                 const char *why)
{
    rec->read_state = SOTTO_TLS_REC_RD_FAILED;
    in->alert = alert;
    in->why = why;
    in->consumed = 0;
    in->data = NULL;
    in->data_len = 0;
    return SOTTO_TLS_REC_ERROR;
}

sotto_tls_rec_result sotto_tls_rec_open(sotto_tls_rec *rec, uint8_t *buf, size_t len,
                                        sotto_tls_rec_in *in)
{
    memset(in, 0, sizeof *in);
    in->alert = SOTTO_TLS_ALERT_NONE;
    in->peer_alert = SOTTO_TLS_ALERT_NONE;
    if (rec->read_state == SOTTO_TLS_REC_RD_CLOSED)
        return SOTTO_TLS_REC_CLOSED;
    if (rec->read_state != SOTTO_TLS_REC_RD_OPEN || rec->suite >= SOTTO_TLS_SUITE_COUNT_) {
        in->why = "the read side already failed";
        return SOTTO_TLS_REC_ERROR;
    }
    if (len < SOTTO_TLS_REC_HEADER) {
        in->need = SOTTO_TLS_REC_HEADER;
        return SOTTO_TLS_REC_NEED_MORE;
    }
    /* The header alone decides whether this can be a record at all. */
    if (buf[0] == CT_CCS)
        return fail(rec, in, SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, "change_cipher_spec after the handshake");
    if (buf[0] != CT_APPLICATION)
        return fail(rec, in, SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, "record type is not application_data");
    if (((unsigned)buf[1] << 8 | buf[2]) != LEGACY_VERSION)
        return fail(rec, in, SOTTO_TLS_ALERT_PROTOCOL_VERSION, "record version is not 0x0303");
    size_t clen = (size_t)buf[3] << 8 | buf[4];
    if (clen > SOTTO_TLS_REC_MAX_CIPHER)
        return fail(rec, in, SOTTO_TLS_ALERT_RECORD_OVERFLOW, "record longer than 2^14+256");
    if (clen < SOTTO_TLS_REC_TAG + 1)
        return fail(rec, in, SOTTO_TLS_ALERT_BAD_RECORD_MAC, "record shorter than tag + type");
    size_t inner = clen - SOTTO_TLS_REC_TAG;
    if (inner > SOTTO_TLS_REC_MAX_PLAIN + 1)
        return fail(rec, in, SOTTO_TLS_ALERT_RECORD_OVERFLOW, "inner plaintext longer than 2^14+1");
    if (len - SOTTO_TLS_REC_HEADER < clen) {
        in->need = SOTTO_TLS_REC_HEADER + clen;
        return SOTTO_TLS_REC_NEED_MORE;
    }
    if (rec->rd.seq == UINT64_MAX)
        return fail(rec, in, SOTTO_TLS_ALERT_INTERNAL_ERROR, "read sequence number would wrap");

    uint8_t *p = buf + SOTTO_TLS_REC_HEADER;
    if (aead(rec->suite, &rec->rd, rec->rd.seq, 0, buf, p, inner, p + inner) != 0) {
        sodium_memzero(p, inner); /* unauthenticated plaintext never reaches the caller */
        return fail(rec, in, SOTTO_TLS_ALERT_BAD_RECORD_MAC, "record authentication failed");
    }
    rec->rd.seq++;

    /* Strip the zero padding; the last non-zero byte is the content type. */
    size_t n = inner;
    while (n > 0 && p[n - 1] == 0)
        n--;
    if (n == 0)
        return fail(rec, in, SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, "record without a content type");
    uint8_t ct = p[n - 1];
    n--;
    in->consumed = SOTTO_TLS_REC_HEADER + clen;

    switch (ct) {
    case CT_APPLICATION:
        in->data = p;
        in->data_len = n;
        return SOTTO_TLS_REC_DATA;
    case CT_ALERT:
        if (n != ALERT_BODY)
            return fail(rec, in, SOTTO_TLS_ALERT_DECODE_ERROR, "malformed alert");
        if (p[1] == SOTTO_TLS_ALERT_CLOSE_NOTIFY) {
            rec->read_state = SOTTO_TLS_REC_RD_CLOSED;
            return SOTTO_TLS_REC_CLOSED;
        }
        fail(rec, in, SOTTO_TLS_ALERT_NONE, "the peer sent an alert");
        in->peer_alert = p[1];
        return SOTTO_TLS_REC_ERROR;
    case CT_HANDSHAKE:
        /* Only a KeyUpdate, whole and alone in its record (RFC 8446 5.1:
         * a message before a key change must end at a record boundary). */
        if (n < 1 || p[0] != HS_KEY_UPDATE)
            return fail(rec, in, SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE,
                        "handshake message other than KeyUpdate after the handshake");
        if (n != HS_HEADER + KEY_UPDATE_BODY || p[1] != 0 || p[2] != 0 || p[3] != KEY_UPDATE_BODY)
            return fail(rec, in, SOTTO_TLS_ALERT_DECODE_ERROR, "malformed KeyUpdate");
        if (p[4] > 1)
            return fail(rec, in, SOTTO_TLS_ALERT_ILLEGAL_PARAMETER, "KeyUpdate request_update not 0 or 1");
        if (dir_update(rec->suite, &rec->rd) != 0)
            return fail(rec, in, SOTTO_TLS_ALERT_INTERNAL_ERROR, "key derivation failed");
        in->update_requested = p[4] == 1;
        if (in->update_requested)
            rec->key_update_due = 1;
        return SOTTO_TLS_REC_KEY_UPDATE;
    default:
        return fail(rec, in, SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE, "unexpected inner content type");
    }
}

/* Sealing is allowed: nothing failed, no alert sent. */
static int can_write(const sotto_tls_rec *rec)
{
    return !rec->write_closed && rec->read_state != SOTTO_TLS_REC_RD_FAILED &&
           rec->suite < SOTTO_TLS_SUITE_COUNT_;
}

sotto_err sotto_tls_rec_seal(sotto_tls_rec *rec, uint8_t *out, size_t out_cap, size_t *out_len,
                             const uint8_t *pt, size_t pt_len)
{
    *out_len = 0;
    if (pt == NULL && pt_len != 0)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (pt_len > (SIZE_MAX - SOTTO_TLS_REC_MAX_PLAIN) / 2)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (!can_write(rec) || rec->key_update_due)
        return SOTTO_ERR_INVALID_STATE;
    size_t need = SOTTO_TLS_REC_SEAL_BOUND(pt_len), nrec = SOTTO_TLS_REC_SEAL_RECORDS(pt_len);
    if (out == NULL || out_cap < need)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    if (pt_len > 0 && pt < out + need && out < pt + pt_len)
        return SOTTO_ERR_INVALID_ARGUMENT; /* overlapping */
    if ((uint64_t)nrec > UINT64_MAX - rec->wr.seq)
        return SOTTO_ERR_INVALID_STATE; /* the sequence number would wrap: KeyUpdate first */
    uint64_t seq = rec->wr.seq;
    size_t off = 0, w = 0;
    do {
        size_t n = pt_len - off > SOTTO_TLS_REC_MAX_PLAIN ? SOTTO_TLS_REC_MAX_PLAIN : pt_len - off;
        if (seal_one(rec->suite, &rec->wr, seq, CT_APPLICATION, pt + off, n, out + w) != 0) {
            sodium_memzero(out, need);
            return SOTTO_ERR_CRYPTO;
        }
        seq++;
        off += n;
        w += n + SOTTO_TLS_REC_OVERHEAD;
    } while (off < pt_len);
    rec->wr.seq = seq;
    *out_len = w;
    return SOTTO_OK;
}

sotto_err sotto_tls_rec_seal_key_update(sotto_tls_rec *rec, bool request_update,
                                        uint8_t *out, size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    if (!can_write(rec) || rec->wr.seq == UINT64_MAX)
        return SOTTO_ERR_INVALID_STATE;
    if (out == NULL || out_cap < SOTTO_TLS_REC_KEY_UPDATE_BYTES)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    const uint8_t msg[HS_HEADER + KEY_UPDATE_BODY] = {HS_KEY_UPDATE, 0, 0, KEY_UPDATE_BODY,
                                                      request_update ? 1 : 0};
    sotto_tls_rec_dir next = rec->wr;
    sotto_err e = SOTTO_ERR_CRYPTO;
    if (dir_update(rec->suite, &next) != 0)
        goto out;
    if (seal_one(rec->suite, &rec->wr, rec->wr.seq, CT_HANDSHAKE, msg, sizeof msg, out) != 0) {
        sodium_memzero(out, SOTTO_TLS_REC_KEY_UPDATE_BYTES);
        goto out;
    }
    rec->wr = next;
    rec->key_update_due = 0;
    *out_len = SOTTO_TLS_REC_KEY_UPDATE_BYTES;
    e = SOTTO_OK;
out:
    sodium_memzero(&next, sizeof next);
    return e;
}

sotto_err sotto_tls_rec_seal_alert(sotto_tls_rec *rec, uint8_t description,
                                   uint8_t *out, size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    if (description == SOTTO_TLS_ALERT_NONE)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (rec->write_closed || rec->suite >= SOTTO_TLS_SUITE_COUNT_ || rec->wr.seq == UINT64_MAX)
        return SOTTO_ERR_INVALID_STATE;
    if (out == NULL || out_cap < SOTTO_TLS_REC_ALERT_BYTES)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    const uint8_t msg[ALERT_BODY] = {
        description == SOTTO_TLS_ALERT_CLOSE_NOTIFY ? ALERT_LEVEL_WARNING : ALERT_LEVEL_FATAL,
        description};
    if (seal_one(rec->suite, &rec->wr, rec->wr.seq, CT_ALERT, msg, sizeof msg, out) != 0) {
        sodium_memzero(out, SOTTO_TLS_REC_ALERT_BYTES);
        return SOTTO_ERR_CRYPTO;
    }
    rec->wr.seq++;
    rec->write_closed = 1;
    *out_len = SOTTO_TLS_REC_ALERT_BYTES;
    return SOTTO_OK;
}

bool sotto_tls_rec_should_rekey(const sotto_tls_rec *rec, uint64_t after)
{
    if (after == 0 || after > SOTTO_TLS_REC_REKEY_AFTER)
        after = SOTTO_TLS_REC_REKEY_AFTER;
    return rec->wr.seq >= after;
}

void sotto_tls_rec_wipe(sotto_tls_rec *rec)
{
    if (rec != NULL)
        sodium_memzero(rec, sizeof *rec);
}
