/* AES-256-GCM-SIV (RFC 8452) on OpenSSL's AES.
 *
 * - AES: one EVP "AES-256-ECB" context per call, padding off; the key
 *   derivation blocks and the CTR keystream are produced as ECB over counter
 *   blocks built here (GCM-SIV's counter is a 32-bit little-endian word in the
 *   first four bytes, which OpenSSL's CTR mode does not do), in batches.
 * - POLYVAL: PCLMULQDQ when the CPU has it (checked once); otherwise a
 *   portable GF(2^128) multiplication without tables or branches: 64x64
 *   carry-less products by masked integer multiplication (the bits of each
 *   operand split into four interleaved groups, so carries land in bits that
 *   are masked away), Karatsuba to 128x128, then Montgomery reduction by
 *   x^-128 for the polynomial x^128 + x^127 + x^126 + x^121 + 1.
 *   Constant time: integer multiplication is constant time on the targets we
 *   build for (x86-64, aarch64); tests/ct/ct_gcm_siv.c checks the rest.
 * - Decrypt checks the tag in constant time and zeroes the output on failure.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/gcm_siv.h"

#define BLOCK            16
#define BATCH_BLOCKS     64       /* keystream computed 1 KiB at a time */
#define KDF_BLOCKS       6        /* AES-256: 2 blocks of auth key, 4 of enc key */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *g_ecb;
static int g_clmul;           /* the CPU has PCLMULQDQ (set once) */
static int g_force_portable;  /* tests: take the portable POLYVAL */

static void fetch_ecb(void)
{
    g_ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    g_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

void sotto_gcm_siv_force_portable(int on)
{
    g_force_portable = on;
}

/* ---- POLYVAL ------------------------------------------------------------- */

static uint64_t load64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void store64_le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Low 64 bits of the carry-less product x * y. */
static uint64_t bmul64(uint64_t x, uint64_t y)
{
    const uint64_t m0 = 0x1111111111111111u, m1 = 0x2222222222222222u;
    const uint64_t m2 = 0x4444444444444444u, m3 = 0x8888888888888888u;
    const uint64_t x0 = x & m0, x1 = x & m1, x2 = x & m2, x3 = x & m3;
    const uint64_t y0 = y & m0, y1 = y & m1, y2 = y & m2, y3 = y & m3;
    uint64_t z0 = (x0 * y0) ^ (x1 * y3) ^ (x2 * y2) ^ (x3 * y1);
    uint64_t z1 = (x0 * y1) ^ (x1 * y0) ^ (x2 * y3) ^ (x3 * y2);
    uint64_t z2 = (x0 * y2) ^ (x1 * y1) ^ (x2 * y0) ^ (x3 * y3);
    uint64_t z3 = (x0 * y3) ^ (x1 * y2) ^ (x2 * y1) ^ (x3 * y0);
    return (z0 & m0) | (z1 & m1) | (z2 & m2) | (z3 & m3);
}

static uint64_t rev64(uint64_t x)
{
    x = ((x & 0x5555555555555555u) << 1) | ((x >> 1) & 0x5555555555555555u);
    x = ((x & 0x3333333333333333u) << 2) | ((x >> 2) & 0x3333333333333333u);
    x = ((x & 0x0F0F0F0F0F0F0F0Fu) << 4) | ((x >> 4) & 0x0F0F0F0F0F0F0F0Fu);
    x = ((x & 0x00FF00FF00FF00FFu) << 8) | ((x >> 8) & 0x00FF00FF00FF00FFu);
    x = ((x & 0x0000FFFF0000FFFFu) << 16) | ((x >> 16) & 0x0000FFFF0000FFFFu);
    return (x << 32) | (x >> 32);
}

/* 128-bit carry-less product of x and y: lo and hi words. */
static void clmul64(uint64_t *lo, uint64_t *hi, uint64_t x, uint64_t y)
{
    *lo = bmul64(x, y);
    *hi = rev64(bmul64(rev64(x), rev64(y))) >> 1;
}

/* s = s * h * x^-128 in POLYVAL's field; s and h as (lo, hi) words. */
static void dot(uint64_t s[2], const uint64_t h[2])
{
    uint64_t a0, a1, b0, b1, c0, c1;
    clmul64(&a0, &a1, s[0], h[0]);                       /* lo * lo */
    clmul64(&b0, &b1, s[1], h[1]);                       /* hi * hi */
    clmul64(&c0, &c1, s[0] ^ s[1], h[0] ^ h[1]);         /* Karatsuba middle */
    c0 ^= a0 ^ b0;
    c1 ^= a1 ^ b1;
    uint64_t x0 = a0, x1 = a1 ^ c0, x2 = b0 ^ c1, x3 = b1;
    /* Montgomery reduction, one 64-bit word at a time: add q * p with q the
     * low word (p is 1 mod x^64), which clears it; the x^121, x^126, x^127
     * and x^128 terms of q * p land in the next two words. */
    x1 ^= (x0 << 63) ^ (x0 << 62) ^ (x0 << 57);
    x2 ^= x0 ^ (x0 >> 1) ^ (x0 >> 2) ^ (x0 >> 7);
    x2 ^= (x1 << 63) ^ (x1 << 62) ^ (x1 << 57);
    x3 ^= x1 ^ (x1 >> 1) ^ (x1 >> 2) ^ (x1 >> 7);
    s[0] = x2;
    s[1] = x3;
}

typedef struct polyval { uint64_t h[2], s[2]; } polyval;

static void pv_init(polyval *p, const uint8_t h[BLOCK])
{
    p->h[0] = load64_le(h);
    p->h[1] = load64_le(h + 8);
    p->s[0] = p->s[1] = 0;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_CLMUL_PATH 1
/* The same dot product with PCLMULQDQ: a schoolbook 128x128 carry-less
 * product, then the Montgomery reduction as two folds by the constant
 * 0xc2 << 56 (the x^127 + x^126 + x^121 part of the polynomial, seen from
 * the other end) with the 64-bit halves swapped in between. */
__attribute__((target("pclmul,sse4.1")))
static void pv_blocks_clmul(polyval *p, const uint8_t *b, size_t n)
{
    const __m128i h = _mm_set_epi64x((long long)p->h[1], (long long)p->h[0]);
    const __m128i poly = _mm_set_epi64x((long long)0xc200000000000000ull, 1);
    __m128i s = _mm_set_epi64x((long long)p->s[1], (long long)p->s[0]);
    for (size_t i = 0; i < n; i++, b += BLOCK) {
        s = _mm_xor_si128(s, _mm_loadu_si128((const __m128i *)(const void *)b));
        __m128i lo = _mm_clmulepi64_si128(s, h, 0x00);
        __m128i hi = _mm_clmulepi64_si128(s, h, 0x11);
        __m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(s, h, 0x10), _mm_clmulepi64_si128(s, h, 0x01));
        lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
        hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
        __m128i t = _mm_clmulepi64_si128(lo, poly, 0x10);
        lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t);
        t = _mm_clmulepi64_si128(lo, poly, 0x10);
        lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t);
        s = _mm_xor_si128(hi, lo);
    }
    p->s[0] = (uint64_t)_mm_extract_epi64(s, 0);
    p->s[1] = (uint64_t)_mm_extract_epi64(s, 1);
}
#endif

static void pv_blocks(polyval *p, const uint8_t *b, size_t n)
{
#ifdef HAVE_CLMUL_PATH
    if (g_clmul && !g_force_portable) {
        pv_blocks_clmul(p, b, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++, b += BLOCK) {
        p->s[0] ^= load64_le(b);
        p->s[1] ^= load64_le(b + 8);
        dot(p->s, p->h);
    }
}

/* Whole blocks, then a zero-padded tail. */
static void pv_padded(polyval *p, const uint8_t *b, size_t len)
{
    pv_blocks(p, b, len / BLOCK);
    const size_t rest = len % BLOCK;
    if (rest != 0) {
        uint8_t last[BLOCK] = { 0 };
        memcpy(last, b + len - rest, rest);
        pv_blocks(p, last, 1);
        sodium_memzero(last, sizeof last);
    }
}

void sotto_polyval(uint8_t out[16], const uint8_t h[16], const uint8_t *blocks, size_t n_blocks)
{
    (void)pthread_once(&g_once, fetch_ecb);
    polyval p;
    pv_init(&p, h);
    pv_blocks(&p, blocks, n_blocks);
    store64_le(out, p.s[0]);
    store64_le(out + 8, p.s[1]);
    sodium_memzero(&p, sizeof p);
}

/* ---- AES blocks ----------------------------------------------------------- */

static int ecb(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len)
{
    int n = 0;
    return EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1 && (size_t)n == len;
}

static EVP_CIPHER_CTX *ecb_ctx(const uint8_t key[32])
{
    if (pthread_once(&g_once, fetch_ecb) != 0 || g_ecb == NULL)
        return NULL;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return NULL;
    if (EVP_EncryptInit_ex2(c, g_ecb, key, NULL, NULL) != 1 || EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
        EVP_CIPHER_CTX_free(c);
        return NULL;
    }
    return c;
}

/* RFC 8452 section 4: the per-nonce keys. */
static int derive_keys(uint8_t auth[16], uint8_t enc[32], const uint8_t key[32], const uint8_t nonce[12])
{
    EVP_CIPHER_CTX *c = ecb_ctx(key);
    if (c == NULL)
        return 0;
    uint8_t in[KDF_BLOCKS * BLOCK], out[KDF_BLOCKS * BLOCK];
    for (uint32_t i = 0; i < KDF_BLOCKS; i++) {
        uint8_t *b = in + i * BLOCK;
        b[0] = (uint8_t)i;
        b[1] = b[2] = b[3] = 0;
        memcpy(b + 4, nonce, SOTTO_GCM_SIV_NONCE_BYTES);
    }
    const int ok = ecb(c, out, in, sizeof in);
    EVP_CIPHER_CTX_free(c);
    for (int i = 0; i < 2; i++)
        memcpy(auth + 8 * i, out + BLOCK * i, 8);
    for (int i = 0; i < 4; i++)
        memcpy(enc + 8 * i, out + BLOCK * (2 + i), 8);
    sodium_memzero(out, sizeof out);
    return ok;
}

/* out = in xor AES-CTR keystream from the tag-derived counter block. */
static int ctr(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len, const uint8_t tag[16])
{
    uint8_t cb[BATCH_BLOCKS * BLOCK], ks[BATCH_BLOCKS * BLOCK];
    /* volatile: read once per block, so the compiler cannot turn the loop
     * over i into a loop over counter + i whose exit test compares values
     * derived from the tag (the tag is public once written, but not while
     * encrypt still computes it; tests/ct/ct_sealed_gcm_siv.c). */
    volatile uint32_t counter = (uint32_t)tag[0] | (uint32_t)tag[1] << 8 | (uint32_t)tag[2] << 16
                                | (uint32_t)tag[3] << 24;
    int ok = 1;
    while (len > 0 && ok) {
        const size_t n = len < sizeof ks ? len : sizeof ks;
        const size_t blocks = (n + BLOCK - 1) / BLOCK;
        for (size_t i = 0; i < blocks; i++) {
            /* wraps mod 2^32 as RFC 8452 requires */
            const uint32_t v = counter + (uint32_t)i;
            uint8_t *b = cb + i * BLOCK;
            b[0] = (uint8_t)v;
            b[1] = (uint8_t)(v >> 8);
            b[2] = (uint8_t)(v >> 16);
            b[3] = (uint8_t)(v >> 24);
            memcpy(b + 4, tag + 4, 12);
            b[15] |= 0x80;
        }
        counter = counter + (uint32_t)blocks;
        ok = ecb(c, ks, cb, blocks * BLOCK);
        for (size_t i = 0; i < n; i++)
            out[i] = in[i] ^ ks[i];
        out += n;
        in += n;
        len -= n;
    }
    sodium_memzero(ks, sizeof ks);
    sodium_memzero(cb, sizeof cb);
    return ok;
}

/* The tag over ad and the plaintext (RFC 8452 section 4). */
static int make_tag(uint8_t tag[16], EVP_CIPHER_CTX *c, const uint8_t auth[16],
                    const uint8_t nonce[12], const uint8_t *ad, size_t ad_len,
                    const uint8_t *pt, size_t pt_len)
{
    polyval p;
    pv_init(&p, auth);
    pv_padded(&p, ad, ad_len);
    pv_padded(&p, pt, pt_len);
    uint8_t lens[BLOCK];
    store64_le(lens, (uint64_t)ad_len * 8);
    store64_le(lens + 8, (uint64_t)pt_len * 8);
    pv_blocks(&p, lens, 1);
    uint8_t s[BLOCK];
    store64_le(s, p.s[0]);
    store64_le(s + 8, p.s[1]);
    for (int i = 0; i < SOTTO_GCM_SIV_NONCE_BYTES; i++)
        s[i] ^= nonce[i];
    s[15] &= 0x7f;
    const int ok = ecb(c, tag, s, BLOCK);
    sodium_memzero(&p, sizeof p);
    sodium_memzero(s, sizeof s);
    return ok;
}

static int args_ok(const uint8_t *key, const uint8_t *nonce, const uint8_t *ad, size_t ad_len,
                   const uint8_t *in, size_t in_len)
{
    return key != NULL && nonce != NULL && (ad != NULL || ad_len == 0)
           && (in != NULL || in_len == 0) && (uint64_t)ad_len <= SOTTO_GCM_SIV_MAX_BYTES
           && (uint64_t)in_len <= SOTTO_GCM_SIV_MAX_BYTES + SOTTO_GCM_SIV_TAG_BYTES;
}

sotto_err sotto_aes256_gcm_siv_encrypt(uint8_t *out, const uint8_t key[SOTTO_GCM_SIV_KEY_BYTES],
                                       const uint8_t nonce[SOTTO_GCM_SIV_NONCE_BYTES],
                                       const uint8_t *ad, size_t ad_len,
                                       const uint8_t *pt, size_t pt_len)
{
    if (out == NULL || !args_ok(key, nonce, ad, ad_len, pt, pt_len)
        || (uint64_t)pt_len > SOTTO_GCM_SIV_MAX_BYTES)
        return SOTTO_ERR_INVALID_ARGUMENT;
    uint8_t auth[16], enc[32], tag[16];
    EVP_CIPHER_CTX *c = NULL;
    sotto_err e = SOTTO_ERR_CRYPTO;
    if (!derive_keys(auth, enc, key, nonce) || (c = ecb_ctx(enc)) == NULL)
        goto out;
    /* The tag first (it covers the plaintext), then encrypt; out may be pt. */
    if (!make_tag(tag, c, auth, nonce, ad, ad_len, pt, pt_len) || !ctr(c, out, pt, pt_len, tag))
        goto out;
    memcpy(out + pt_len, tag, sizeof tag);
    e = SOTTO_OK;
out:
    EVP_CIPHER_CTX_free(c);
    sodium_memzero(auth, sizeof auth);
    sodium_memzero(enc, sizeof enc);
    if (e != SOTTO_OK)
        sodium_memzero(out, pt_len + SOTTO_GCM_SIV_TAG_BYTES);
    return e;
}

sotto_err sotto_aes256_gcm_siv_decrypt(uint8_t *out, const uint8_t key[SOTTO_GCM_SIV_KEY_BYTES],
                                       const uint8_t nonce[SOTTO_GCM_SIV_NONCE_BYTES],
                                       const uint8_t *ad, size_t ad_len,
                                       const uint8_t *ct, size_t ct_len)
{
    if (out == NULL || !args_ok(key, nonce, ad, ad_len, ct, ct_len))
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (ct_len < SOTTO_GCM_SIV_TAG_BYTES)
        return SOTTO_ERR_MALFORMED;
    const size_t pt_len = ct_len - SOTTO_GCM_SIV_TAG_BYTES;
    uint8_t auth[16], enc[32], tag[16], want[16];
    memcpy(tag, ct + pt_len, sizeof tag);   /* before out (which may be ct) is written */
    EVP_CIPHER_CTX *c = NULL;
    sotto_err e = SOTTO_ERR_CRYPTO;
    if (!derive_keys(auth, enc, key, nonce) || (c = ecb_ctx(enc)) == NULL
        || !ctr(c, out, ct, pt_len, tag)
        || !make_tag(want, c, auth, nonce, ad, ad_len, out, pt_len))
        goto out;
    {
        /* The verdict becomes the return code and the wipe without a branch
         * (it is public, but only once returned: tests/ct checks this path). */
        const uint32_t bad = (uint32_t)sodium_memcmp(want, tag, sizeof tag) & 1u; /* 0 or 1 */
        const uint8_t keep = (uint8_t)(bad - 1u);
        for (size_t i = 0; i < pt_len; i++)
            out[i] &= keep;
        sodium_memzero(auth, sizeof auth);
        sodium_memzero(enc, sizeof enc);
        sodium_memzero(want, sizeof want);
        EVP_CIPHER_CTX_free(c);
        return (sotto_err)((uint32_t)SOTTO_ERR_BAD_MAC * bad);
    }
out:
    EVP_CIPHER_CTX_free(c);
    sodium_memzero(auth, sizeof auth);
    sodium_memzero(enc, sizeof enc);
    sodium_memzero(want, sizeof want);
    sodium_memzero(out, pt_len);
    return e;
}
