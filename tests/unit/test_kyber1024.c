/* Round-3 Kyber1024: the 100 NIST known answers (PQCkemKAT_3168.rsp, as
 * shipped by the crystals-kyber npm peer), implicit rejection, round trips,
 * and the internal pieces checked against plain reference formulas. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/kyber1024.h"
#include "crypto/kyber1024_internal.h"
#include "nist_drbg.h"

#define KAT_RELPATH  "/tests/interop/node_modules/crystals-kyber/PQCkemKAT_3168.rsp"
#define KAT_COUNT    100
#define KAT_MAX_FILE (4u << 20) /* the file is ~1.3 MB */
#define ROUND_TRIPS  25

/* ---- KAT file ---- */

typedef struct {
    int count;
    uint8_t seed[SOTTO_NIST_DRBG_SEED_BYTES];
    uint8_t pk[KYBER1024_PUBLICKEYBYTES];
    uint8_t sk[KYBER1024_SECRETKEYBYTES];
    uint8_t ct[KYBER1024_CIPHERTEXTBYTES];
    uint8_t ss[KYBER1024_SSBYTES];
} kat_entry;

static kat_entry *kats;

static char *read_kat_file(void)
{
    const char *src = getenv("SOTTO_SOURCE_DIR");
#ifdef SOTTO_SOURCE_DIR
    if (src == NULL || src[0] == '\0')
        src = SOTTO_SOURCE_DIR;
#endif
    if (src == NULL)
        fail_msg("SOTTO_SOURCE_DIR is not set; cannot locate %s", KAT_RELPATH);
    char path[4096];
    int n = snprintf(path, sizeof path, "%s%s", src, KAT_RELPATH);
    assert_true(n > 0 && (size_t)n < sizeof path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("Kyber1024 known answers missing: %s not found. "
                 "Run scripts/setup.sh (it installs the npm test peers).", path);
    char *buf = malloc(KAT_MAX_FILE + 1);
    assert_non_null(buf);
    size_t len = fread(buf, 1, KAT_MAX_FILE + 1, f);
    fclose(f);
    assert_true(len > 0 && len <= KAT_MAX_FILE);
    buf[len] = '\0';
    return buf;
}

/* Finds "name = HEX" after *pos, decodes exactly out_len bytes. */
static void kat_field(char **pos, const char *name, uint8_t *out, size_t out_len)
{
    char key[32];
    snprintf(key, sizeof key, "\n%s = ", name);
    char *p = strstr(*pos, key);
    if (p == NULL)
        fail_msg("KAT file: field %s missing", name);
    p += strlen(key);
    char *end = strchr(p, '\n');
    assert_non_null(end);
    size_t bin_len = 0;
    if (sodium_hex2bin(out, out_len, p, (size_t)(end - p), "\r", &bin_len, NULL) != 0 ||
        bin_len != out_len)
        fail_msg("KAT file: field %s has the wrong length", name);
    *pos = end;
}

static int load_kats(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    char *file = read_kat_file();
    kats = calloc(KAT_COUNT, sizeof *kats);
    assert_non_null(kats);
    char *pos = file;
    for (int i = 0; i < KAT_COUNT; i++) {
        char key[32];
        snprintf(key, sizeof key, "count = %d\n", i);
        pos = strstr(pos, key);
        if (pos == NULL)
            fail_msg("KAT file: count = %d missing", i);
        pos += strlen(key) - 1;
        kats[i].count = i;
        kat_field(&pos, "seed", kats[i].seed, sizeof kats[i].seed);
        kat_field(&pos, "pk", kats[i].pk, sizeof kats[i].pk);
        kat_field(&pos, "sk", kats[i].sk, sizeof kats[i].sk);
        kat_field(&pos, "ct", kats[i].ct, sizeof kats[i].ct);
        kat_field(&pos, "ss", kats[i].ss, sizeof kats[i].ss);
    }
    free(file);
    return 0;
}

static int free_kats(void **state)
{
    (void)state;
    free(kats);
    kats = NULL;
    return 0;
}

/* ---- independent hashes (one-shot OpenSSL, not kyber1024_sym.c) ---- */

static void evp_hash(const char *alg, uint8_t *out, size_t outlen, const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen)
{
    EVP_MD *md = EVP_MD_fetch(NULL, alg, NULL);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_non_null(c);
    assert_int_equal(EVP_DigestInit_ex2(c, md, NULL), 1);
    assert_int_equal(EVP_DigestUpdate(c, a, alen), 1);
    if (blen > 0)
        assert_int_equal(EVP_DigestUpdate(c, b, blen), 1);
    if (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) {
        assert_int_equal(EVP_DigestFinalXOF(c, out, outlen), 1);
    } else {
        unsigned n = 0;
        assert_int_equal(EVP_DigestFinal_ex(c, out, &n), 1);
        assert_int_equal(n, outlen);
    }
    EVP_MD_CTX_free(c);
    EVP_MD_free(md);
}

/* ---- tests ---- */

/* The NIST driver seeds a master DRBG with bytes 0..47 and draws each
 * vector's seed from it: all 100 seeds in the file must come out. */
static void test_drbg_reproduces_kat_seeds(void **state)
{
    (void)state;
    uint8_t entropy[SOTTO_NIST_DRBG_SEED_BYTES];
    for (int i = 0; i < SOTTO_NIST_DRBG_SEED_BYTES; i++)
        entropy[i] = (uint8_t)i;
    sotto_nist_drbg master;
    assert_int_equal(sotto_nist_drbg_init(&master, entropy, NULL), 0);
    for (int i = 0; i < KAT_COUNT; i++) {
        uint8_t seed[SOTTO_NIST_DRBG_SEED_BYTES];
        assert_int_equal(sotto_nist_drbg_bytes(&master, seed, sizeof seed), 0);
        assert_memory_equal(seed, kats[i].seed, sizeof seed);
    }
}

static void test_kat_all(void **state)
{
    (void)state;
    static uint8_t pk[KYBER1024_PUBLICKEYBYTES], sk[KYBER1024_SECRETKEYBYTES];
    static uint8_t ct[KYBER1024_CIPHERTEXTBYTES];
    for (int i = 0; i < KAT_COUNT; i++) {
        const kat_entry *k = &kats[i];
        sotto_nist_drbg d;
        uint8_t kg_coins[64], enc_coins[32], ss[KYBER1024_SSBYTES], ss2[KYBER1024_SSBYTES];
        assert_int_equal(sotto_nist_drbg_init(&d, k->seed, NULL), 0);
        /* the reference draws d, then z, then the encapsulation coins */
        assert_int_equal(sotto_nist_drbg_bytes(&d, kg_coins, 32), 0);
        assert_int_equal(sotto_nist_drbg_bytes(&d, kg_coins + 32, 32), 0);
        assert_int_equal(sotto_nist_drbg_bytes(&d, enc_coins, 32), 0);

        sotto_kyber1024_keypair_derand(pk, sk, kg_coins);
        if (memcmp(pk, k->pk, sizeof pk) != 0)
            fail_msg("count %d: pk differs", i);
        if (memcmp(sk, k->sk, sizeof sk) != 0)
            fail_msg("count %d: sk differs", i);
        sotto_kyber1024_enc_derand(ct, ss, pk, enc_coins);
        if (memcmp(ct, k->ct, sizeof ct) != 0)
            fail_msg("count %d: ct differs", i);
        if (memcmp(ss, k->ss, sizeof ss) != 0)
            fail_msg("count %d: enc ss differs", i);
        sotto_kyber1024_dec(ss2, k->ct, k->sk);
        if (memcmp(ss2, k->ss, sizeof ss2) != 0)
            fail_msg("count %d: dec ss differs", i);
    }
}

/* A flipped bit anywhere in the ciphertext yields KDF(z || H(c')), the same
 * value every time, and never the real secret. */
static void test_implicit_rejection(void **state)
{
    (void)state;
    static uint8_t bad[KYBER1024_CIPHERTEXTBYTES];
    const size_t positions[] = { 0, 1, 700, KYBER1024_CIPHERTEXTBYTES - 161,
                                 KYBER1024_CIPHERTEXTBYTES - 160, KYBER1024_CIPHERTEXTBYTES - 1 };
    for (int i = 0; i < 5; i++) {
        const kat_entry *k = &kats[i * 17];
        for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
            memcpy(bad, k->ct, sizeof bad);
            bad[positions[p]] ^= (uint8_t)(1u << ((p + (size_t)i) % 8));
            uint8_t ss1[32], ss2[32], want[32], hc[32];
            sotto_kyber1024_dec(ss1, bad, k->sk);
            sotto_kyber1024_dec(ss2, bad, k->sk);
            evp_hash("SHA3-256", hc, 32, bad, sizeof bad, NULL, 0);
            evp_hash("SHAKE256", want, 32, k->sk + KYBER1024_SECRETKEYBYTES - 32, 32, hc, 32);
            assert_memory_equal(ss1, ss2, 32);
            assert_memory_equal(ss1, want, 32);
            assert_memory_not_equal(ss1, k->ss, 32);
        }
    }
}

/* The round-3 derivations, recomputed from their definitions for one vector. */
static void test_round3_derivation(void **state)
{
    (void)state;
    const kat_entry *k = &kats[3];
    sotto_nist_drbg d;
    uint8_t skip[64], coins[32], m[32], hpk[32], kr[64], hc[32], ss[32];
    assert_int_equal(sotto_nist_drbg_init(&d, k->seed, NULL), 0);
    assert_int_equal(sotto_nist_drbg_bytes(&d, skip, 32), 0);
    assert_int_equal(sotto_nist_drbg_bytes(&d, skip + 32, 32), 0);
    assert_int_equal(sotto_nist_drbg_bytes(&d, coins, 32), 0);
    /* sk = s || pk || H(pk) || z, z the second draw */
    evp_hash("SHA3-256", hpk, 32, k->pk, sizeof k->pk, NULL, 0);
    assert_memory_equal(k->sk + 1536, k->pk, sizeof k->pk);
    assert_memory_equal(k->sk + 1536 + 1568, hpk, 32);
    assert_memory_equal(k->sk + 1536 + 1568 + 32, skip + 32, 32);
    /* rho = first half of G(d), at the end of pk */
    uint8_t g[64];
    evp_hash("SHA3-512", g, 64, skip, 32, NULL, 0);
    assert_memory_equal(k->pk + 1536, g, 32);
    /* m = H(coins); (K', r) = G(m || H(pk)); ss = SHAKE256(K' || H(c), 32) */
    evp_hash("SHA3-256", m, 32, coins, 32, NULL, 0);
    evp_hash("SHA3-512", kr, 64, m, 32, hpk, 32);
    evp_hash("SHA3-256", hc, 32, k->ct, sizeof k->ct, NULL, 0);
    evp_hash("SHAKE256", ss, 32, kr, 32, hc, 32);
    assert_memory_equal(ss, k->ss, 32);
}

/* Ciphertexts of all zeros and all ones (extreme compressed values) are
 * rejected like any other. */
static void test_extreme_ciphertexts(void **state)
{
    (void)state;
    static uint8_t c[KYBER1024_CIPHERTEXTBYTES];
    const kat_entry *k = &kats[42];
    for (int fill = 0; fill < 2; fill++) {
        memset(c, fill ? 0xFF : 0x00, sizeof c);
        uint8_t ss[32], want[32], hc[32];
        sotto_kyber1024_dec(ss, c, k->sk);
        evp_hash("SHA3-256", hc, 32, c, sizeof c, NULL, 0);
        evp_hash("SHAKE256", want, 32, k->sk + KYBER1024_SECRETKEYBYTES - 32, 32, hc, 32);
        assert_memory_equal(ss, want, 32);
    }
}

/* Round 3 does not check that pk's 12-bit coefficients are below q. A key
 * whose coefficients c < 2^12 - q are replaced by c + q is the same key mod q:
 * with an sk that embeds it, enc and dec must still agree. This drives the
 * arithmetic at its largest inputs (4095), for the sanitizer build. */
static void test_noncanonical_public_key(void **state)
{
    (void)state;
    static uint8_t pk[KYBER1024_PUBLICKEYBYTES], sk[KYBER1024_SECRETKEYBYTES];
    static uint8_t ct[KYBER1024_CIPHERTEXTBYTES];
    const kat_entry *k = &kats[7];
    memcpy(pk, k->pk, sizeof pk);
    int changed = 0;
    for (size_t i = 0; i < KYBER_POLYVECBYTES; i += 3) {
        unsigned c0 = (pk[i] | (unsigned)pk[i + 1] << 8) & 0xFFF;
        unsigned c1 = (pk[i + 1] >> 4 | (unsigned)pk[i + 2] << 4) & 0xFFF;
        if (c0 < 4096 - KYBER_Q) {
            c0 += KYBER_Q;
            changed++;
        }
        if (c1 < 4096 - KYBER_Q) {
            c1 += KYBER_Q;
            changed++;
        }
        pk[i] = (uint8_t)c0;
        pk[i + 1] = (uint8_t)(c0 >> 8 | c1 << 4);
        pk[i + 2] = (uint8_t)(c1 >> 4);
    }
    assert_true(changed > 100);
    memcpy(sk, k->sk, sizeof sk);
    memcpy(sk + 1536, pk, sizeof pk);
    evp_hash("SHA3-256", sk + 1536 + 1568, 32, pk, sizeof pk, NULL, 0);
    for (int i = 0; i < 5; i++) {
        uint8_t coins[32], ss1[32], ss2[32];
        memset(coins, i, sizeof coins);
        sotto_kyber1024_enc_derand(ct, ss1, pk, coins);
        sotto_kyber1024_dec(ss2, ct, sk);
        assert_memory_equal(ss1, ss2, 32);
    }
}

static void test_round_trips(void **state)
{
    (void)state;
    static uint8_t pk[KYBER1024_PUBLICKEYBYTES], sk[KYBER1024_SECRETKEYBYTES];
    static uint8_t ct[KYBER1024_CIPHERTEXTBYTES];
    uint8_t ss1[32], ss2[32], prev[32] = { 0 };
    for (int i = 0; i < ROUND_TRIPS; i++) {
        sotto_kyber1024_keypair(pk, sk);
        sotto_kyber1024_enc(ct, ss1, pk);
        sotto_kyber1024_dec(ss2, ct, sk);
        assert_memory_equal(ss1, ss2, 32);
        assert_memory_not_equal(ss1, prev, 32);
        memcpy(prev, ss1, 32);
    }
}

static void test_derand_deterministic(void **state)
{
    (void)state;
    static uint8_t pk1[KYBER1024_PUBLICKEYBYTES], sk1[KYBER1024_SECRETKEYBYTES];
    static uint8_t pk2[KYBER1024_PUBLICKEYBYTES], sk2[KYBER1024_SECRETKEYBYTES];
    static uint8_t ct1[KYBER1024_CIPHERTEXTBYTES], ct2[KYBER1024_CIPHERTEXTBYTES];
    uint8_t coins[64], ss1[32], ss2[32];
    for (int i = 0; i < 64; i++)
        coins[i] = (uint8_t)(0xA5 ^ i);
    sotto_kyber1024_keypair_derand(pk1, sk1, coins);
    sotto_kyber1024_keypair_derand(pk2, sk2, coins);
    assert_memory_equal(pk1, pk2, sizeof pk1);
    assert_memory_equal(sk1, sk2, sizeof sk1);
    sotto_kyber1024_enc_derand(ct1, ss1, pk1, coins);
    sotto_kyber1024_enc_derand(ct2, ss2, pk1, coins);
    assert_memory_equal(ct1, ct2, sizeof ct1);
    assert_memory_equal(ss1, ss2, 32);
    coins[63] ^= 1; /* z only: same pk, different sk tail */
    sotto_kyber1024_keypair_derand(pk2, sk2, coins);
    assert_memory_equal(pk1, pk2, sizeof pk1);
    assert_memory_not_equal(sk1 + KYBER1024_SECRETKEYBYTES - 32, sk2 + KYBER1024_SECRETKEYBYTES - 32, 32);
}

static int16_t centred(int64_t x)
{
    int64_t r = x % KYBER_Q;
    if (r < 0)
        r += KYBER_Q;
    if (r > KYBER_Q / 2)
        r -= KYBER_Q;
    return (int16_t)r;
}

static int64_t powmod(int64_t b, int64_t e)
{
    int64_t r = 1;
    b %= KYBER_Q;
    while (e > 0) {
        if (e & 1)
            r = r * b % KYBER_Q;
        b = b * b % KYBER_Q;
        e >>= 1;
    }
    return r;
}

static void test_zetas_table(void **state)
{
    (void)state;
    for (int i = 0; i < 128; i++) {
        int br = 0;
        for (int b = 0; b < 7; b++)
            br |= ((i >> b) & 1) << (6 - b);
        int64_t z = (65536 % KYBER_Q) * powmod(17, br) % KYBER_Q;
        assert_int_equal(sotto_kyber_zetas[i], centred(z));
    }
}

/* Plain reference: round(x * 2^d / q) mod 2^d with a real division. */
static uint32_t ref_compress(int16_t a, unsigned d)
{
    int32_t x = a < 0 ? a + KYBER_Q : a;
    return ((((uint32_t)x << d) + KYBER_Q / 2) / KYBER_Q) & ((1u << d) - 1);
}

static void ref_pack(uint8_t *out, const uint32_t *v, size_t n, unsigned d)
{
    memset(out, 0, n * d / 8);
    for (size_t i = 0; i < n; i++)
        for (unsigned b = 0; b < d; b++)
            if ((v[i] >> b) & 1)
                out[(i * d + b) / 8] |= (uint8_t)(1u << ((i * d + b) % 8));
}

/* Every coefficient in (-q, q) through compress (d = 11, 5), tomsg (d = 1)
 * and tobytes, against the formulas above; then decompress(compress(x)). */
static void test_compress_exhaustive(void **state)
{
    (void)state;
    for (int32_t base = -(KYBER_Q - 1); base < KYBER_Q; base += KYBER_N * KYBER_K) {
        kyber_polyvec pv;
        for (int i = 0; i < KYBER_N * KYBER_K; i++) {
            int32_t x = base + i;
            pv.vec[i / KYBER_N].coeffs[i % KYBER_N] = (int16_t)(x < KYBER_Q ? x : 0);
        }
        uint32_t vals[KYBER_N * KYBER_K];
        uint8_t got[KYBER_POLYVECCOMPRESSEDBYTES], want[KYBER_POLYVECCOMPRESSEDBYTES];
        for (int i = 0; i < KYBER_N * KYBER_K; i++)
            vals[i] = ref_compress(pv.vec[i / KYBER_N].coeffs[i % KYBER_N], KYBER_DU);
        sotto_kyber_polyvec_compress(got, &pv, KYBER_K, KYBER_DU);
        ref_pack(want, vals, KYBER_N * KYBER_K, KYBER_DU);
        assert_memory_equal(got, want, sizeof got);

        kyber_polyvec back;
        sotto_kyber_polyvec_decompress(&back, got, KYBER_K, KYBER_DU);
        for (int i = 0; i < KYBER_N * KYBER_K; i++) {
            uint32_t y = vals[i];
            int16_t expect = (int16_t)((y * KYBER_Q + 1024) / 2048);
            assert_int_equal(back.vec[i / KYBER_N].coeffs[i % KYBER_N], expect);
        }

        for (int k = 0; k < KYBER_K; k++) {
            const kyber_poly *p = &pv.vec[k];
            uint8_t g5[KYBER_POLYCOMPRESSEDBYTES], w5[KYBER_POLYCOMPRESSEDBYTES];
            uint8_t g1[KYBER_SYMBYTES], w1[KYBER_SYMBYTES];
            uint8_t g12[KYBER_POLYBYTES], w12[KYBER_POLYBYTES];
            uint32_t v5[KYBER_N], v1[KYBER_N], v12[KYBER_N];
            for (int i = 0; i < KYBER_N; i++) {
                v5[i] = ref_compress(p->coeffs[i], KYBER_DV);
                v1[i] = ref_compress(p->coeffs[i], 1);
                v12[i] = (uint32_t)(p->coeffs[i] < 0 ? p->coeffs[i] + KYBER_Q : p->coeffs[i]);
            }
            sotto_kyber_poly_compress(g5, p, KYBER_DV);
            ref_pack(w5, v5, KYBER_N, KYBER_DV);
            assert_memory_equal(g5, w5, sizeof g5);
            sotto_kyber_poly_tomsg(g1, p);
            ref_pack(w1, v1, KYBER_N, 1);
            assert_memory_equal(g1, w1, sizeof g1);
            sotto_kyber_poly_tobytes(g12, p);
            ref_pack(w12, v12, KYBER_N, 12);
            assert_memory_equal(g12, w12, sizeof g12);

            kyber_poly q5, q12;
            sotto_kyber_poly_decompress(&q5, g5, KYBER_DV);
            sotto_kyber_poly_frombytes(&q12, g12);
            for (int i = 0; i < KYBER_N; i++) {
                assert_int_equal(q5.coeffs[i], (int16_t)((v5[i] * KYBER_Q + 16) / 32));
                assert_int_equal(q12.coeffs[i], (int16_t)v12[i]);
            }
        }
    }
}

static void test_msg_round_trip(void **state)
{
    (void)state;
    uint8_t m[KYBER_SYMBYTES], back[KYBER_SYMBYTES];
    for (int i = 0; i < KYBER_SYMBYTES; i++)
        m[i] = (uint8_t)(i * 37 + 11);
    kyber_poly p;
    sotto_kyber_poly_frommsg(&p, m);
    for (int i = 0; i < KYBER_N; i++)
        assert_true(p.coeffs[i] == 0 || p.coeffs[i] == (KYBER_Q + 1) / 2);
    sotto_kyber_poly_tomsg(back, &p);
    assert_memory_equal(m, back, sizeof m);
}

/* Schoolbook multiplication in Z_q[X]/(X^256 + 1) against NTT, basemul,
 * inverse NTT: checks the transform and the Montgomery factors. */
static void test_ntt_multiplication(void **state)
{
    (void)state;
    kyber_polyvec a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    uint32_t x = 12345;
    for (int i = 0; i < KYBER_N; i++) {
        x = x * 1103515245u + 12345u;
        a.vec[0].coeffs[i] = (int16_t)((x >> 8) % KYBER_Q);
        x = x * 1103515245u + 12345u;
        b.vec[0].coeffs[i] = (int16_t)((int32_t)((x >> 8) % 5) - 2);
    }
    int64_t want[KYBER_N] = { 0 };
    for (int i = 0; i < KYBER_N; i++)
        for (int j = 0; j < KYBER_N; j++) {
            int64_t prod = (int64_t)a.vec[0].coeffs[i] * b.vec[0].coeffs[j];
            if (i + j < KYBER_N)
                want[i + j] += prod;
            else
                want[i + j - KYBER_N] -= prod;
        }
    kyber_poly r;
    sotto_kyber_polyvec_ntt(&a, KYBER_K);
    sotto_kyber_polyvec_ntt(&b, KYBER_K);
    sotto_kyber_polyvec_basemul_acc_montgomery(&r, &a, &b, KYBER_K); /* times 2^-16 */
    sotto_kyber_poly_invntt_tomont(&r);                     /* times 2^16 */
    sotto_kyber_poly_reduce(&r);
    for (int i = 0; i < KYBER_N; i++)
        assert_int_equal(r.coeffs[i], centred(want[i]));
}

/* Matrix sampling against a plain sampler on one long SHAKE128 output, for
 * every KAT seed; at least one entry must have needed more than the first
 * squeeze, so the recompute path is covered. */
static void test_gen_matrix(void **state)
{
    (void)state;
    kyber_sym sym;
    sotto_kyber_sym_open(&sym);
    int extended = 0;
    static kyber_polyvec a[KYBER_KMAX];
    static uint8_t stream[KYBER_GEN_MATRIX_MAXBLOCKS * KYBER_XOF_BLOCKBYTES];
    for (int n = 0; n < KAT_COUNT; n++) {
        const uint8_t *rho = kats[n].pk + KYBER_POLYVECBYTES;
        int transposed = n & 1;
        sotto_kyber_gen_matrix(&sym, a, rho, transposed, KYBER_K);
        for (unsigned i = 0; i < KYBER_K; i++)
            for (unsigned j = 0; j < KYBER_K; j++) {
                uint8_t ij[2] = { (uint8_t)(transposed ? i : j), (uint8_t)(transposed ? j : i) };
                evp_hash("SHAKE128", stream, sizeof stream, rho, 32, ij, 2);
                int16_t want[KYBER_N];
                unsigned ctr = 0;
                size_t pos = 0;
                while (ctr < KYBER_N) {
                    assert_true(pos + 3 <= sizeof stream);
                    unsigned v0 = (stream[pos] | (unsigned)stream[pos + 1] << 8) & 0xFFF;
                    unsigned v1 = (stream[pos + 1] >> 4 | (unsigned)stream[pos + 2] << 4) & 0xFFF;
                    pos += 3;
                    if (v0 < KYBER_Q)
                        want[ctr++] = (int16_t)v0;
                    if (ctr < KYBER_N && v1 < KYBER_Q)
                        want[ctr++] = (int16_t)v1;
                }
                if (pos > KYBER_GEN_MATRIX_NBLOCKS * KYBER_XOF_BLOCKBYTES)
                    extended++;
                assert_memory_equal(a[i].vec[j].coeffs, want, sizeof want);
            }
    }
    sotto_kyber_sym_close(&sym);
    print_message("gen_matrix: %d of %d entries needed a longer squeeze\n", extended,
                  KAT_COUNT * KYBER_K * KYBER_K);
    assert_true(extended > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zetas_table),
        cmocka_unit_test(test_compress_exhaustive),
        cmocka_unit_test(test_msg_round_trip),
        cmocka_unit_test(test_ntt_multiplication),
        cmocka_unit_test(test_drbg_reproduces_kat_seeds),
        cmocka_unit_test(test_gen_matrix),
        cmocka_unit_test(test_kat_all),
        cmocka_unit_test(test_round3_derivation),
        cmocka_unit_test(test_implicit_rejection),
        cmocka_unit_test(test_extreme_ciphertexts),
        cmocka_unit_test(test_noncanonical_public_key),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_derand_deterministic),
    };
    return cmocka_run_group_tests_name("kyber1024", tests, load_kats, free_kats);
}
