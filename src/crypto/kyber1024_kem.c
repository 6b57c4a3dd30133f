/* Kyber1024: IND-CPA encryption and the round-3 Fujisaki-Okamoto KEM on
 * top of it, byte-compatible with the v3.0.2 reference implementation (the
 * NIST round-3 submission; not FIPS 203 ML-KEM, whose hashes differ). */
#include <string.h>
#include <sodium.h>
#include "crypto/kyber1024_internal.h"

/* ---- constant-time helpers ---- */

/* 0 when a == b, 1 otherwise; reads every byte. */
static uint8_t ct_verify(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t r = 0;
    for (size_t i = 0; i < len; i++)
        r |= (uint8_t)(a[i] ^ b[i]);
    return (uint8_t)((0u - (uint32_t)r) >> 31);
}

/* r = x when b == 1, r unchanged when b == 0, without a branch on b. */
static void ct_cmov(uint8_t *r, const uint8_t *x, size_t len, uint8_t b)
{
#if defined(__GNUC__) || defined(__clang__)
    /* Hide b's origin so the compiler cannot turn the mask back into a branch. */
    __asm__("" : "+r"(b) : : "memory");
#endif
    uint8_t mask = (uint8_t)(0u - b);
    for (size_t i = 0; i < len; i++)
        r[i] ^= (uint8_t)(mask & (r[i] ^ x[i]));
}

/* ---- IND-CPA ---- */

/* pk = t || rho, sk = s, from the 32-byte seed d. */
static void indcpa_keypair(kyber_sym *sym, uint8_t pk[KYBER_INDCPA_PUBLICKEYBYTES],
                           uint8_t sk[KYBER_INDCPA_SECRETKEYBYTES], const uint8_t d[KYBER_SYMBYTES])
{
    uint8_t rho_sigma[2 * KYBER_SYMBYTES];
    const uint8_t *rho = rho_sigma, *sigma = rho_sigma + KYBER_SYMBYTES;
    kyber_polyvec a[KYBER_K], s, e, t;
    kyber_polyvec_mulcache sc;
    uint8_t nonce = 0;

    sotto_kyber_hash_g(sym, rho_sigma, d, KYBER_SYMBYTES, NULL, 0);
    KYBER_DECLASSIFY(rho_sigma, KYBER_SYMBYTES); /* rho goes into pk */

    sotto_kyber_gen_matrix(sym, a, rho, 0);
    for (unsigned i = 0; i < KYBER_K; i++)
        sotto_kyber_getnoise(sym, &s.vec[i], sigma, nonce++);
    for (unsigned i = 0; i < KYBER_K; i++)
        sotto_kyber_getnoise(sym, &e.vec[i], sigma, nonce++);
    sotto_kyber_polyvec_ntt(&s);
    sotto_kyber_polyvec_ntt(&e);

    /* t = A s + e, in the NTT domain */
    sotto_kyber_polyvec_mulcache(&sc, &s);
    for (unsigned i = 0; i < KYBER_K; i++) {
        sotto_kyber_polyvec_basemul_acc_cached(&t.vec[i], &a[i], &s, &sc);
        sotto_kyber_poly_tomont(&t.vec[i]);
    }
    sotto_kyber_polyvec_add(&t, &t, &e);
    sotto_kyber_polyvec_reduce(&t);

    sotto_kyber_polyvec_tobytes(sk, &s);
    sotto_kyber_polyvec_tobytes(pk, &t);
    memcpy(pk + KYBER_POLYVECBYTES, rho, KYBER_SYMBYTES);

    sodium_memzero(rho_sigma, sizeof rho_sigma);
    sodium_memzero(&s, sizeof s);
    sodium_memzero(&sc, sizeof sc);
    sodium_memzero(&e, sizeof e);
}

/* c = (u, v) = (A^T r + e1, t^T r + e2 + Decompress(m)), noise from coins. */
static void indcpa_enc(kyber_sym *sym, uint8_t c[KYBER1024_CIPHERTEXTBYTES],
                       const uint8_t m[KYBER_SYMBYTES], const uint8_t pk[KYBER_INDCPA_PUBLICKEYBYTES],
                       const uint8_t coins[KYBER_SYMBYTES])
{
    kyber_polyvec at[KYBER_K], t, r, e1, u;
    kyber_polyvec_mulcache rc;
    kyber_poly k, e2, v;
    uint8_t nonce = 0;

    sotto_kyber_polyvec_frombytes(&t, pk);
    sotto_kyber_poly_frommsg(&k, m);
    sotto_kyber_gen_matrix(sym, at, pk + KYBER_POLYVECBYTES, 1);

    for (unsigned i = 0; i < KYBER_K; i++)
        sotto_kyber_getnoise(sym, &r.vec[i], coins, nonce++);
    for (unsigned i = 0; i < KYBER_K; i++)
        sotto_kyber_getnoise(sym, &e1.vec[i], coins, nonce++);
    sotto_kyber_getnoise(sym, &e2, coins, nonce++);

    sotto_kyber_polyvec_ntt(&r);
    sotto_kyber_polyvec_mulcache(&rc, &r);
    for (unsigned i = 0; i < KYBER_K; i++)
        sotto_kyber_polyvec_basemul_acc_cached(&u.vec[i], &at[i], &r, &rc);
    sotto_kyber_polyvec_basemul_acc_cached(&v, &t, &r, &rc);
    sotto_kyber_polyvec_invntt_tomont(&u);
    sotto_kyber_poly_invntt_tomont(&v);

    sotto_kyber_polyvec_add(&u, &u, &e1);
    sotto_kyber_poly_add(&v, &v, &e2);
    sotto_kyber_poly_add(&v, &v, &k);
    sotto_kyber_polyvec_reduce(&u);
    sotto_kyber_poly_reduce(&v);

    sotto_kyber_polyvec_compress(c, &u);
    sotto_kyber_poly_compress(c + KYBER_POLYVECCOMPRESSEDBYTES, &v);

    sodium_memzero(&r, sizeof r);
    sodium_memzero(&rc, sizeof rc);
    sodium_memzero(&e1, sizeof e1);
    sodium_memzero(&e2, sizeof e2);
    sodium_memzero(&k, sizeof k);
    sodium_memzero(&u, sizeof u);
    sodium_memzero(&v, sizeof v);
}

/* m = Compress_1(v - s^T u) */
static void indcpa_dec(uint8_t m[KYBER_SYMBYTES], const uint8_t c[KYBER1024_CIPHERTEXTBYTES],
                       const uint8_t sk[KYBER_INDCPA_SECRETKEYBYTES])
{
    kyber_polyvec u, s;
    kyber_poly v, w;

    sotto_kyber_polyvec_decompress(&u, c);
    sotto_kyber_poly_decompress(&v, c + KYBER_POLYVECCOMPRESSEDBYTES);
    sotto_kyber_polyvec_frombytes(&s, sk);

    sotto_kyber_polyvec_ntt(&u);
    sotto_kyber_polyvec_basemul_acc_montgomery(&w, &s, &u); /* u is reduced, s any 12 bits */
    sotto_kyber_poly_invntt_tomont(&w);
    sotto_kyber_poly_sub(&w, &v, &w);
    sotto_kyber_poly_reduce(&w);
    sotto_kyber_poly_tomsg(m, &w);

    sodium_memzero(&s, sizeof s);
    sodium_memzero(&w, sizeof w);
}

/* ---- KEM ---- */

void sotto_kyber1024_keypair_derand(uint8_t pk[KYBER1024_PUBLICKEYBYTES],
                                    uint8_t sk[KYBER1024_SECRETKEYBYTES],
                                    const uint8_t coins[64])
{
    kyber_sym sym;
    sotto_kyber_sym_open(&sym);
    indcpa_keypair(&sym, pk, sk, coins);
    /* sk = s || pk || H(pk) || z */
    memcpy(sk + KYBER_SK_PK_OFFSET, pk, KYBER1024_PUBLICKEYBYTES);
    sotto_kyber_hash_h(&sym, sk + KYBER_SK_HPK_OFFSET, pk, KYBER1024_PUBLICKEYBYTES);
    memcpy(sk + KYBER_SK_Z_OFFSET, coins + KYBER_SYMBYTES, KYBER_SYMBYTES);
    sotto_kyber_sym_close(&sym);
}

void sotto_kyber1024_keypair(uint8_t pk[KYBER1024_PUBLICKEYBYTES],
                             uint8_t sk[KYBER1024_SECRETKEYBYTES])
{
    uint8_t coins[2 * KYBER_SYMBYTES];
    randombytes_buf(coins, sizeof coins);
    sotto_kyber1024_keypair_derand(pk, sk, coins);
    sodium_memzero(coins, sizeof coins);
}

void sotto_kyber1024_enc_derand(uint8_t ct[KYBER1024_CIPHERTEXTBYTES], uint8_t ss[KYBER1024_SSBYTES],
                                const uint8_t pk[KYBER1024_PUBLICKEYBYTES], const uint8_t coins[32])
{
    kyber_sym sym;
    uint8_t m_hpk[2 * KYBER_SYMBYTES]; /* m || H(pk) */
    uint8_t kr[2 * KYBER_SYMBYTES];    /* K' || r, then K' || H(c) */

    sotto_kyber_sym_open(&sym);
    /* m = H(coins): the raw system randomness is never used directly */
    sotto_kyber_hash_h(&sym, m_hpk, coins, KYBER_SYMBYTES);
    sotto_kyber_hash_h(&sym, m_hpk + KYBER_SYMBYTES, pk, KYBER1024_PUBLICKEYBYTES);
    /* (K', r) = G(m || H(pk)) */
    sotto_kyber_hash_g(&sym, kr, m_hpk, sizeof m_hpk, NULL, 0);
    indcpa_enc(&sym, ct, m_hpk, pk, kr + KYBER_SYMBYTES);
    /* ss = KDF(K' || H(c)) */
    sotto_kyber_hash_h(&sym, kr + KYBER_SYMBYTES, ct, KYBER1024_CIPHERTEXTBYTES);
    sotto_kyber_kdf(&sym, ss, kr, sizeof kr);
    sotto_kyber_sym_close(&sym);

    sodium_memzero(m_hpk, sizeof m_hpk);
    sodium_memzero(kr, sizeof kr);
}

void sotto_kyber1024_enc(uint8_t ct[KYBER1024_CIPHERTEXTBYTES], uint8_t ss[KYBER1024_SSBYTES],
                         const uint8_t pk[KYBER1024_PUBLICKEYBYTES])
{
    uint8_t coins[KYBER_SYMBYTES];
    randombytes_buf(coins, sizeof coins);
    sotto_kyber1024_enc_derand(ct, ss, pk, coins);
    sodium_memzero(coins, sizeof coins);
}

void sotto_kyber1024_dec(uint8_t ss[KYBER1024_SSBYTES], const uint8_t ct[KYBER1024_CIPHERTEXTBYTES],
                         const uint8_t sk[KYBER1024_SECRETKEYBYTES])
{
    kyber_sym sym;
    const uint8_t *pk = sk + KYBER_SK_PK_OFFSET;
    uint8_t m_hpk[2 * KYBER_SYMBYTES]; /* m' || H(pk) */
    uint8_t kr[2 * KYBER_SYMBYTES];    /* K' || r, then K'' || H(c) */
    uint8_t cmp[KYBER1024_CIPHERTEXTBYTES];

    /* The public key and its hash inside sk are public. */
    KYBER_DECLASSIFY(pk, KYBER1024_PUBLICKEYBYTES + KYBER_SYMBYTES);

    sotto_kyber_sym_open(&sym);
    indcpa_dec(m_hpk, ct, sk);
    memcpy(m_hpk + KYBER_SYMBYTES, sk + KYBER_SK_HPK_OFFSET, KYBER_SYMBYTES);
    sotto_kyber_hash_g(&sym, kr, m_hpk, sizeof m_hpk, NULL, 0);
    /* re-encrypt and compare, in constant time */
    indcpa_enc(&sym, cmp, m_hpk, pk, kr + KYBER_SYMBYTES);
    uint8_t fail = ct_verify(ct, cmp, KYBER1024_CIPHERTEXTBYTES);
    sotto_kyber_hash_h(&sym, kr + KYBER_SYMBYTES, ct, KYBER1024_CIPHERTEXTBYTES);
    /* implicit rejection: K'' = z when the ciphertext does not re-encrypt */
    ct_cmov(kr, sk + KYBER_SK_Z_OFFSET, KYBER_SYMBYTES, fail);
    sotto_kyber_kdf(&sym, ss, kr, sizeof kr);
    sotto_kyber_sym_close(&sym);

    sodium_memzero(m_hpk, sizeof m_hpk);
    sodium_memzero(kr, sizeof kr);
    sodium_memzero(cmp, sizeof cmp);
}
