/* The symmetric primitives every message uses: HMAC-SHA256, HKDF-SHA256,
 * AES-256-CBC (PKCS#7) and AES-256-CTR on OpenSSL 3; X25519 on libsodium.
 *
 * Performance choices, measured (out-of-tree loop; callgrind instructions per
 * call, deterministic, then best-of-3 wall time on the 2-core dev VM, noisy):
 *   HMAC-SHA256, 32-byte key, 167-byte message:
 *     per-thread EVP_MAC_CTX re-keyed (chosen)   16.0k Ir   ~0.6-1.1 us
 *     EVP_MAC_CTX_dup of a template per call     19.1k Ir   ~1.0-1.6 us
 *     EVP_MAC_CTX_new per call (fetched MAC)     21.5k Ir   ~1.3 us
 *     libsodium crypto_auth_hmacsha256_*         23.6k Ir   ~2.3-3.2 us
 *     EVP_Q_mac / HMAC() (implicit fetch)         -         ~2.7-4.2 us
 *   HKDF-SHA256, 80-byte output (the message-key derivation):
 *     composed from the reused HMAC ctx (chosen) 37.9k Ir   ~2.6-2.9 us
 *     EVP_KDF "HKDF", per-thread ctx reused      51.7k Ir   ~3.6-3.9 us
 *     EVP_KDF "HKDF", ctx per call               52.4k Ir   ~5.5-6.7 us
 *     composed from libsodium HMAC               48.6k Ir   ~3.5-5.2 us
 *   AES-256-CBC encrypt, 167 bytes: per-thread ctx 3.4k Ir vs ctx per call 3.9k Ir.
 * Hence:
 * - The EVP_MAC and EVP_CIPHER algorithm objects are fetched once
 *   (pthread_once), never per call: an implicit fetch costs a provider lookup.
 * - Each thread keeps one EVP_MAC_CTX and two EVP_CIPHER_CTX (CBC, CTR), created
 *   on first use and freed by a pthread key destructor at thread exit. A call
 *   only re-keys them: EVP_MAC_init with a key, EVP_CipherInit_ex2 with a NULL
 *   cipher (which keeps the provider context instead of re-allocating it).
 * - HKDF is composed from that HMAC context rather than EVP_KDF: expand re-keys
 *   once and then restarts with EVP_MAC_init(ctx, NULL, ...), which reuses the
 *   precomputed ipad/opad state, so an 80-byte output costs one key schedule.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "crypto/primitives.h"

#define HKDF_MAX_OUTPUT       (255u * SOTTO_HMAC_SHA256_BYTES) /* RFC 5869 */
#define CIPHER_CHUNK_MAX      (1u << 30) /* largest EVP update, a block multiple */
#define X25519_BYTES          32

/* ---- Global algorithm objects, fetched once ---------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static sotto_err g_init_status = SOTTO_ERR_CRYPTO;
static EVP_MAC *g_hmac;
static EVP_CIPHER *g_aes_cbc;
static EVP_CIPHER *g_aes_ctr;
static pthread_key_t g_tls_key;

/* Per-thread contexts, reused across calls. */
typedef struct tls_ctx {
    EVP_MAC_CTX *mac;
    EVP_CIPHER_CTX *cbc;
    EVP_CIPHER_CTX *ctr;
} tls_ctx;

static _Thread_local tls_ctx *t_ctx;

static void tls_free(void *p)
{
    tls_ctx *c = p;
    if (c == NULL)
        return;
    /* Runs in the exiting thread: a later destructor that calls us again
     * must not find a dangling pointer (it gets fresh contexts). */
    if (t_ctx == c)
        t_ctx = NULL;
    EVP_MAC_CTX_free(c->mac);       /* the _free functions cleanse key state */
    EVP_CIPHER_CTX_free(c->cbc);
    EVP_CIPHER_CTX_free(c->ctr);
    free(c);
}

static void do_init(void)
{
    if (sodium_init() < 0)
        return;
    if (pthread_key_create(&g_tls_key, tls_free) != 0)
        return;
    g_hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    g_aes_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    g_aes_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
    if (g_hmac == NULL || g_aes_cbc == NULL || g_aes_ctr == NULL) {
        EVP_MAC_free(g_hmac);
        EVP_CIPHER_free(g_aes_cbc);
        EVP_CIPHER_free(g_aes_ctr);
        g_hmac = NULL;
        g_aes_cbc = g_aes_ctr = NULL;
        return;
    }
    g_init_status = SOTTO_OK;
}

sotto_err sotto_crypto_init(void)
{
    if (pthread_once(&g_once, do_init) != 0)
        return SOTTO_ERR_CRYPTO;
    return g_init_status;
}

/* The calling thread's contexts, created on first use; NULL on failure. */
static tls_ctx *ctx_get(void)
{
    if (t_ctx != NULL)
        return t_ctx;
    if (sotto_crypto_init() != SOTTO_OK)
        return NULL;
    tls_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    static const uint8_t zero_key[SOTTO_AES256_KEY_BYTES];
    static const uint8_t zero_iv[SOTTO_AES_BLOCK_BYTES];
    c->mac = EVP_MAC_CTX_new(g_hmac);
    c->cbc = EVP_CIPHER_CTX_new();
    c->ctr = EVP_CIPHER_CTX_new();
    if (c->mac == NULL || c->cbc == NULL || c->ctr == NULL
        || EVP_MAC_CTX_set_params(c->mac, params) != 1
        /* Bind each cipher context to its algorithm once; later calls pass a
         * NULL cipher so OpenSSL keeps the provider context. */
        || EVP_CipherInit_ex2(c->cbc, g_aes_cbc, zero_key, zero_iv, 1, NULL) != 1
        || EVP_CIPHER_CTX_set_padding(c->cbc, 0) != 1
        || EVP_CipherInit_ex2(c->ctr, g_aes_ctr, zero_key, zero_iv, 1, NULL) != 1
        || pthread_setspecific(g_tls_key, c) != 0) {
        tls_free(c);
        return NULL;
    }
    t_ctx = c;
    return c;
}

/* ---- HMAC-SHA256 -------------------------------------------------------- */

/* key == NULL restarts with the key the context already holds. */
static int mac_init(EVP_MAC_CTX *mac, const uint8_t *key, size_t key_len)
{
    static const uint8_t empty;
    if (key != NULL && key_len == 0)
        key = &empty; /* an empty key, not "keep the old key" */
    return EVP_MAC_init(mac, key, key_len, NULL) == 1;
}

static int mac_final(EVP_MAC_CTX *mac, uint8_t out[SOTTO_HMAC_SHA256_BYTES])
{
    size_t n = 0;
    return EVP_MAC_final(mac, out, &n, SOTTO_HMAC_SHA256_BYTES) == 1
           && n == SOTTO_HMAC_SHA256_BYTES;
}

sotto_err sotto_hmac_sha256(uint8_t out[SOTTO_HMAC_SHA256_BYTES],
                            const uint8_t *key, size_t key_len,
                            const sotto_iov *parts, size_t n_parts)
{
    memset(out, 0, SOTTO_HMAC_SHA256_BYTES);
    if ((key == NULL && key_len != 0) || (parts == NULL && n_parts != 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_parts; i++)
        if (parts[i].p == NULL && parts[i].n != 0)
            return SOTTO_ERR_INVALID_ARGUMENT;
    tls_ctx *c = ctx_get();
    if (c == NULL)
        return SOTTO_ERR_CRYPTO;
    static const uint8_t empty;
    if (!mac_init(c->mac, key != NULL ? key : &empty, key_len))
        return SOTTO_ERR_CRYPTO;
    for (size_t i = 0; i < n_parts; i++)
        if (parts[i].n != 0 && EVP_MAC_update(c->mac, parts[i].p, parts[i].n) != 1)
            return SOTTO_ERR_CRYPTO;
    if (!mac_final(c->mac, out)) {
        sodium_memzero(out, SOTTO_HMAC_SHA256_BYTES);
        return SOTTO_ERR_CRYPTO;
    }
    return SOTTO_OK;
}

/* ---- HKDF-SHA256 (RFC 5869) --------------------------------------------- */

sotto_err sotto_hkdf_sha256(uint8_t *out, size_t out_len,
                            const uint8_t *salt, size_t salt_len,
                            const uint8_t *ikm, size_t ikm_len,
                            const uint8_t *info, size_t info_len)
{
    if (out == NULL || out_len == 0 || out_len > HKDF_MAX_OUTPUT)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memset(out, 0, out_len);
    if ((salt == NULL && salt_len != 0) || (ikm == NULL && ikm_len != 0)
        || (info == NULL && info_len != 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    tls_ctx *c = ctx_get();
    if (c == NULL)
        return SOTTO_ERR_CRYPTO;

    static const uint8_t zero_salt[SOTTO_HMAC_SHA256_BYTES];
    static const uint8_t empty;
    uint8_t prk[SOTTO_HMAC_SHA256_BYTES];
    uint8_t t[SOTTO_HMAC_SHA256_BYTES];
    sotto_err rc = SOTTO_ERR_CRYPTO;

    /* Extract: PRK = HMAC(salt, IKM); no salt means HashLen zero bytes. */
    if (salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof zero_salt;
    }
    if (!mac_init(c->mac, salt, salt_len)
        || (ikm_len != 0 && EVP_MAC_update(c->mac, ikm, ikm_len) != 1)
        || !mac_final(c->mac, prk))
        goto out;

    /* Expand: T(i) = HMAC(PRK, T(i-1) || info || i). */
    size_t done = 0;
    for (unsigned i = 1; done < out_len; i++) {
        const uint8_t ctr = (uint8_t)i;
        if (!mac_init(c->mac, i == 1 ? prk : NULL, sizeof prk)
            || (i > 1 && EVP_MAC_update(c->mac, t, sizeof t) != 1)
            || EVP_MAC_update(c->mac, info_len != 0 ? info : &empty, info_len) != 1
            || EVP_MAC_update(c->mac, &ctr, 1) != 1
            || !mac_final(c->mac, t))
            goto out;
        size_t take = out_len - done < sizeof t ? out_len - done : sizeof t;
        memcpy(out + done, t, take);
        done += take;
    }
    rc = SOTTO_OK;
out:
    sodium_memzero(prk, sizeof prk);
    sodium_memzero(t, sizeof t);
    if (rc != SOTTO_OK)
        sodium_memzero(out, out_len);
    return rc;
}

/* ---- AES-256 ------------------------------------------------------------- */

/* EVP_CipherUpdate takes an int length: feed it in block-multiple chunks.
 * The context was set up with padding off, so the output equals the input
 * length. */
static int cipher_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len > 0) {
        size_t n = len < CIPHER_CHUNK_MAX ? len : CIPHER_CHUNK_MAX;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 || (size_t)outl != n)
            return 0;
        out += n;
        in += n;
        len -= n;
    }
    return 1;
}

sotto_err sotto_aes256_cbc_encrypt(uint8_t *out, size_t out_cap, size_t *out_len,
                                   const uint8_t key[32], const uint8_t iv[16],
                                   const uint8_t *in, size_t in_len)
{
    if (out_len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out_len = 0;
    if (out == NULL || key == NULL || iv == NULL || (in == NULL && in_len != 0)
        || in_len > SIZE_MAX - 2 * SOTTO_AES_BLOCK_BYTES)
        return SOTTO_ERR_INVALID_ARGUMENT;
    const size_t total = sotto_aes256_cbc_padded_len(in_len);
    if (out_cap < total)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    tls_ctx *c = ctx_get();
    if (c == NULL)
        return SOTTO_ERR_CRYPTO;

    /* Full blocks straight through; the tail and its PKCS#7 padding (1..16
     * bytes of the pad length) from a stack block. */
    const size_t full = in_len - in_len % SOTTO_AES_BLOCK_BYTES;
    const size_t rest = in_len - full;
    uint8_t last[SOTTO_AES_BLOCK_BYTES];
    const uint8_t pad = (uint8_t)(SOTTO_AES_BLOCK_BYTES - rest);
    if (rest != 0)
        memcpy(last, in + full, rest);
    memset(last + rest, pad, pad);

    sotto_err rc = SOTTO_ERR_CRYPTO;
    if (EVP_CipherInit_ex2(c->cbc, NULL, key, iv, 1, NULL) != 1
        || !cipher_update(c->cbc, out, in, full)
        || !cipher_update(c->cbc, out + full, last, sizeof last))
        goto done;
    *out_len = total;
    rc = SOTTO_OK;
done:
    sodium_memzero(last, sizeof last);
    if (rc != SOTTO_OK)
        sodium_memzero(out, total);
    return rc;
}

/* All-ones when a < b, else zero; a and b below 2^31. */
static uint32_t ct_lt_mask(uint32_t a, uint32_t b)
{
    return 0u - ((a - b) >> 31);
}

/* All-ones when a == b (bytes), else zero. */
static uint32_t ct_eq_mask(uint32_t a, uint32_t b)
{
    return 0u - (((a ^ b) - 1u) >> 31);
}

sotto_err sotto_aes256_cbc_decrypt(uint8_t *out, size_t out_cap, size_t *out_len,
                                   const uint8_t key[32], const uint8_t iv[16],
                                   const uint8_t *in, size_t in_len)
{
    if (out_len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out_len = 0;
    if (out == NULL || key == NULL || iv == NULL || in == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (in_len == 0 || in_len % SOTTO_AES_BLOCK_BYTES != 0)
        return SOTTO_ERR_MALFORMED;
    const size_t head = in_len - SOTTO_AES_BLOCK_BYTES;
    tls_ctx *c = ctx_get();
    if (c == NULL)
        return SOTTO_ERR_CRYPTO;

    /* The last block first (its CBC chaining value is the ciphertext block
     * before it), into a stack block: the padding is checked and the length
     * known before anything is written to out, so a failure writes nothing. */
    uint8_t last[SOTTO_AES_BLOCK_BYTES];
    const uint8_t *chain = head == 0 ? iv : in + head - SOTTO_AES_BLOCK_BYTES;
    sotto_err rc = SOTTO_ERR_CRYPTO;
    if (EVP_CipherInit_ex2(c->cbc, NULL, key, chain, 0, NULL) != 1
        || !cipher_update(c->cbc, last, in + head, sizeof last))
        goto done;

    /* PKCS#7 check in constant time: pad in 1..16 and the last pad bytes all
     * equal to pad. No branch or index depends on the plaintext; only the
     * final verdict is revealed (it decides the return code). */
    const uint32_t pad = last[SOTTO_AES_BLOCK_BYTES - 1];
    uint32_t good = ~ct_eq_mask(pad, 0) & ct_lt_mask(pad, SOTTO_AES_BLOCK_BYTES + 1);
    for (uint32_t i = 0; i < SOTTO_AES_BLOCK_BYTES; i++) {
        /* byte i is padding when i >= 16 - pad, i.e. 15 - i < pad */
        const uint32_t in_pad = ct_lt_mask(SOTTO_AES_BLOCK_BYTES - 1 - i, pad);
        good &= ~in_pad | ct_eq_mask(last[i], pad);
    }
    if (good == 0) {
        rc = SOTTO_ERR_BAD_MAC;
        goto done;
    }
    /* Valid padding: its length is now public (it is the plaintext length). */
    const size_t tail = SOTTO_AES_BLOCK_BYTES - pad;
    if (out_cap < head + tail) {
        rc = SOTTO_ERR_BUFFER_TOO_SMALL;
        goto done;
    }
    /* The other blocks, straight into out; the key schedule is kept, only
     * the IV is reset. */
    if (head != 0
        && (EVP_CipherInit_ex2(c->cbc, NULL, NULL, iv, 0, NULL) != 1
            || !cipher_update(c->cbc, out, in, head))) {
        sodium_memzero(out, head);
        goto done;
    }
    memcpy(out + head, last, tail);
    *out_len = head + tail;
    rc = SOTTO_OK;
done:
    sodium_memzero(last, sizeof last);
    return rc;
}

sotto_err sotto_aes256_ctr(uint8_t *out, const uint8_t key[32], const uint8_t iv[16],
                           const uint8_t *in, size_t len)
{
    if (out == NULL || key == NULL || iv == NULL || (in == NULL && len != 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (len == 0)
        return SOTTO_OK;
    tls_ctx *c = ctx_get();
    if (c == NULL)
        return SOTTO_ERR_CRYPTO;
    if (EVP_CipherInit_ex2(c->ctr, NULL, key, iv, 1, NULL) != 1
        || !cipher_update(c->ctr, out, in, len)) {
        sodium_memzero(out, len);
        return SOTTO_ERR_CRYPTO;
    }
    return SOTTO_OK;
}

/* ---- X25519 ---------------------------------------------------------------- */

sotto_err sotto_x25519(uint8_t shared[32], const uint8_t priv[32], const uint8_t pub[32])
{
    (void)sotto_crypto_init(); /* picks libsodium's fastest X25519 code */
    /* libsodium clamps the scalar, refuses the small-order points in its
     * blocklist (a check on pub only) and returns -1 on an all-zero result.
     * With a clamped scalar the result is zero exactly when pub has small
     * order, so the verdict depends on the public point only; still, it is
     * turned into the return code and the wipe without a branch, so the
     * constant-time pass (tests/ct/ct_x25519.c) needs no exception here. */
    const int rc = crypto_scalarmult(shared, priv, pub);   /* 0 or -1 */
    const uint32_t fail = (uint32_t)rc & 1u;
    const uint8_t keep = (uint8_t)(fail - 1u);             /* 0xFF when ok */
    for (size_t i = 0; i < X25519_BYTES; i++)
        shared[i] &= keep;
    return (sotto_err)((uint32_t)SOTTO_ERR_INVALID_KEY * fail);
}

void sotto_x25519_keypair(uint8_t pub[32], uint8_t priv[32])
{
    (void)sotto_crypto_init();
    randombytes_buf(priv, X25519_BYTES);
    priv[0] &= 248;
    priv[31] &= 127;
    priv[31] |= 64;
    /* Cannot fail: the base point has full order and priv is clamped. */
    if (crypto_scalarmult_base(pub, priv) != 0)
        abort();
}

int sotto_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    /* sodium_memcmp is 0 when equal, -1 otherwise; map without a branch. */
    return 1 + sodium_memcmp(a, b, n);
}
