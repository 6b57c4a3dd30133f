/* The IND-CPA public-key encryption under round-3 Kyber1024 and FIPS 203
 * ML-KEM-768 (K-PKE): key generation, encryption (whole, or as the two
 * halves u and v for libcrux's incremental form) and decryption, for any
 * rank k <= KYBER_KMAX with eta1 = eta2 = 2. Both KEMs put their own
 * Fujisaki-Okamoto transform around these. */
#include <string.h>
#include <sodium.h>
#include "crypto/kyber_poly_common.h"

uint8_t sotto_kyber_ct_verify(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t r = 0;
    for (size_t i = 0; i < len; i++)
        r |= (uint8_t)(a[i] ^ b[i]);
    return (uint8_t)((0u - (uint32_t)r) >> 31);
}

void sotto_kyber_ct_cmov(uint8_t *r, const uint8_t *x, size_t len, uint8_t b)
{
#if defined(__GNUC__) || defined(__clang__)
    /* Hide b's origin so the compiler cannot turn the mask back into a branch. */
    __asm__("" : "+r"(b) : : "memory");
#endif
    uint8_t mask = (uint8_t)(0u - b);
    for (size_t i = 0; i < len; i++)
        r[i] ^= (uint8_t)(mask & (r[i] ^ x[i]));
}

/* pk = t || rho, sk = s, (rho, sigma) = G(g_in). */
void sotto_kyber_indcpa_keypair(kyber_sym *sym, const kyber_params *p, uint8_t *pk, uint8_t *sk,
                                const uint8_t *g_in, size_t g_in_len)
{
    const unsigned k = p->k;
    uint8_t rho_sigma[2 * KYBER_SYMBYTES];
    const uint8_t *rho = rho_sigma, *sigma = rho_sigma + KYBER_SYMBYTES;
    kyber_polyvec a[KYBER_KMAX], s, e, t;
    kyber_polyvec_mulcache sc;
    uint8_t nonce = 0;

    sotto_kyber_hash_g(sym, rho_sigma, g_in, g_in_len, NULL, 0);
    KYBER_DECLASSIFY(rho_sigma, KYBER_SYMBYTES); /* rho goes into pk */

    sotto_kyber_gen_matrix(sym, a, rho, 0, k);
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_getnoise(sym, &s.vec[i], sigma, nonce++);
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_getnoise(sym, &e.vec[i], sigma, nonce++);
    sotto_kyber_polyvec_ntt(&s, k);
    sotto_kyber_polyvec_ntt(&e, k);

    /* t = A s + e, in the NTT domain */
    sotto_kyber_polyvec_mulcache(&sc, &s, k);
    for (unsigned i = 0; i < k; i++) {
        sotto_kyber_polyvec_basemul_acc_cached(&t.vec[i], &a[i], &s, &sc, k);
        sotto_kyber_poly_tomont(&t.vec[i]);
    }
    sotto_kyber_polyvec_add(&t, &t, &e, k);
    sotto_kyber_polyvec_reduce(&t, k);

    sotto_kyber_polyvec_tobytes(sk, &s, k);
    sotto_kyber_polyvec_tobytes(pk, &t, k);
    memcpy(pk + KYBER_POLYVECBYTES_K(k), rho, KYBER_SYMBYTES);

    sodium_memzero(rho_sigma, sizeof rho_sigma);
    sodium_memzero(&s, sizeof s);
    sodium_memzero(&sc, sizeof sc);
    sodium_memzero(&e, sizeof e);
}

/* r (nonces 0..k-1) to the NTT domain, with its multiplication cache. */
static void noise_r(kyber_sym *sym, unsigned k, kyber_polyvec *r, kyber_polyvec_mulcache *rc,
                    const uint8_t coins[KYBER_SYMBYTES])
{
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_getnoise(sym, &r->vec[i], coins, (uint8_t)i);
    sotto_kyber_polyvec_ntt(r, k);
    sotto_kyber_polyvec_mulcache(rc, r, k);
}

/* u = A^T r + e1 (e1: nonces k..2k-1), compressed with du bits. */
static void enc_u(kyber_sym *sym, const kyber_params *p, uint8_t *c1, const uint8_t *rho,
                  const uint8_t coins[KYBER_SYMBYTES], const kyber_polyvec *r,
                  const kyber_polyvec_mulcache *rc)
{
    const unsigned k = p->k;
    kyber_polyvec at[KYBER_KMAX], e1, u;
    sotto_kyber_gen_matrix(sym, at, rho, 1, k);
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_getnoise(sym, &e1.vec[i], coins, (uint8_t)(k + i));
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_polyvec_basemul_acc_cached(&u.vec[i], &at[i], r, rc, k);
    sotto_kyber_polyvec_invntt_tomont(&u, k);
    sotto_kyber_polyvec_add(&u, &u, &e1, k);
    sotto_kyber_polyvec_reduce(&u, k);
    sotto_kyber_polyvec_compress(c1, &u, k, p->du);
    sodium_memzero(&e1, sizeof e1);
    sodium_memzero(&u, sizeof u);
}

/* v = t^T r + e2 + Decompress_1(m) (e2: nonce 2k), compressed with dv bits. */
static void enc_v(kyber_sym *sym, const kyber_params *p, uint8_t *c2,
                  const uint8_t m[KYBER_SYMBYTES], const uint8_t *tbytes,
                  const uint8_t coins[KYBER_SYMBYTES], const kyber_polyvec *r,
                  const kyber_polyvec_mulcache *rc)
{
    const unsigned k = p->k;
    kyber_polyvec t;
    kyber_poly mp, e2, v;
    sotto_kyber_polyvec_frombytes(&t, tbytes, k);
    sotto_kyber_poly_frommsg(&mp, m);
    sotto_kyber_getnoise(sym, &e2, coins, (uint8_t)(2 * k));
    sotto_kyber_polyvec_basemul_acc_cached(&v, &t, r, rc, k);
    sotto_kyber_poly_invntt_tomont(&v);
    sotto_kyber_poly_add(&v, &v, &e2);
    sotto_kyber_poly_add(&v, &v, &mp);
    sotto_kyber_poly_reduce(&v);
    sotto_kyber_poly_compress(c2, &v, p->dv);
    sodium_memzero(&mp, sizeof mp);
    sodium_memzero(&e2, sizeof e2);
    sodium_memzero(&v, sizeof v);
}

void sotto_kyber_indcpa_enc(kyber_sym *sym, const kyber_params *p, uint8_t *c,
                            const uint8_t m[KYBER_SYMBYTES], const uint8_t *pk,
                            const uint8_t coins[KYBER_SYMBYTES])
{
    kyber_polyvec r;
    kyber_polyvec_mulcache rc;
    const size_t tlen = KYBER_POLYVECBYTES_K(p->k);
    noise_r(sym, p->k, &r, &rc, coins);
    enc_u(sym, p, c, pk + tlen, coins, &r, &rc);
    enc_v(sym, p, c + KYBER_POLYVECCOMPRESSED_KD(p->k, p->du), m, pk, coins, &r, &rc);
    sodium_memzero(&r, sizeof r);
    sodium_memzero(&rc, sizeof rc);
}

void sotto_kyber_indcpa_enc_u(kyber_sym *sym, const kyber_params *p, uint8_t *c1,
                              const uint8_t rho[KYBER_SYMBYTES],
                              const uint8_t coins[KYBER_SYMBYTES])
{
    kyber_polyvec r;
    kyber_polyvec_mulcache rc;
    noise_r(sym, p->k, &r, &rc, coins);
    enc_u(sym, p, c1, rho, coins, &r, &rc);
    sodium_memzero(&r, sizeof r);
    sodium_memzero(&rc, sizeof rc);
}

void sotto_kyber_indcpa_enc_v(kyber_sym *sym, const kyber_params *p, uint8_t *c2,
                              const uint8_t m[KYBER_SYMBYTES], const uint8_t *t,
                              const uint8_t coins[KYBER_SYMBYTES])
{
    kyber_polyvec r;
    kyber_polyvec_mulcache rc;
    noise_r(sym, p->k, &r, &rc, coins);
    enc_v(sym, p, c2, m, t, coins, &r, &rc);
    sodium_memzero(&r, sizeof r);
    sodium_memzero(&rc, sizeof rc);
}

/* m = Compress_1(v - s^T u) */
void sotto_kyber_indcpa_dec(const kyber_params *p, uint8_t m[KYBER_SYMBYTES], const uint8_t *c,
                            const uint8_t *sk)
{
    const unsigned k = p->k;
    kyber_polyvec u, s;
    kyber_poly v, w;

    sotto_kyber_polyvec_decompress(&u, c, k, p->du);
    sotto_kyber_poly_decompress(&v, c + KYBER_POLYVECCOMPRESSED_KD(k, p->du), p->dv);
    sotto_kyber_polyvec_frombytes(&s, sk, k);

    sotto_kyber_polyvec_ntt(&u, k);
    sotto_kyber_polyvec_basemul_acc_montgomery(&w, &s, &u, k); /* u is reduced, s any 12 bits */
    sotto_kyber_poly_invntt_tomont(&w);
    sotto_kyber_poly_sub(&w, &v, &w);
    sotto_kyber_poly_reduce(&w);
    sotto_kyber_poly_tomsg(m, &w);

    sodium_memzero(&s, sizeof s);
    sodium_memzero(&w, sizeof w);
}
