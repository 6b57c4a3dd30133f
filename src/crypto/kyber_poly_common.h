/* Internal: the lattice arithmetic that round-3 Kyber1024 (kyber1024_kem.c)
 * and FIPS 203 ML-KEM-768 (mlkem768.c) share: q = 3329, n = 256, the same
 * NTT, polynomial serialisation and compression, CBD(eta = 2) noise, the
 * SHA-3 symmetric primitives, the matrix sampler and the IND-CPA scheme.
 * Vectors are sized for the largest module rank (KYBER_KMAX) and every
 * vector function takes the rank k of the parameter set in use.
 *
 * Constant time: every function on secret polynomials is straight-line
 * arithmetic (no branch or table index on coefficient values); the rank and
 * compression widths are public parameters. The only data-dependent loop is
 * rejection sampling of the public matrix A from the public seed rho. */
#ifndef SOTTO_CRYPTO_KYBER_POLY_COMMON_H
#define SOTTO_CRYPTO_KYBER_POLY_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define KYBER_N          256
#define KYBER_Q          3329
#define KYBER_KMAX       4      /* Kyber1024; ML-KEM-768 uses 3 */
#define KYBER_SYMBYTES   32     /* seeds, hashes, messages, shared secrets */
#define KYBER_QINV       (-3327) /* q^-1 mod 2^16 */
#define KYBER_MONT2_MOD_Q 1353  /* 2^32 mod q: to Montgomery form */
#define KYBER_INVNTT_F   1441   /* 2^32 / 128 mod q: 1/128 and back to Montgomery */

#define KYBER_POLYBYTES   384   /* 256 coefficients of 12 bits */
#define KYBER_NOISEBYTES  128   /* eta = 2: 256 coefficients of 4 bits */
#define KYBER_POLYVECBYTES_K(k)       ((size_t)(k) * KYBER_POLYBYTES)
#define KYBER_POLYCOMPRESSED_D(d)     ((size_t)KYBER_N * (d) / 8)
#define KYBER_POLYVECCOMPRESSED_KD(k, d) ((size_t)(k) * KYBER_POLYCOMPRESSED_D(d))
#define KYBER_MAX_CT_BYTES \
    (KYBER_POLYVECCOMPRESSED_KD(KYBER_KMAX, 11) + KYBER_POLYCOMPRESSED_D(5)) /* 1568 */

/* SHAKE128 rate: the matrix sampler squeezes whole blocks. */
#define KYBER_XOF_BLOCKBYTES 168
/* Blocks squeezed at first for one matrix entry, as the reference does:
 * enough for 256 accepted coefficients in all but ~1% of the entries. */
#define KYBER_GEN_MATRIX_NBLOCKS 3
/* When those run short the entry is recomputed with this many blocks; the
 * chance that even these are too few is below 2^-400. */
#define KYBER_GEN_MATRIX_MAXBLOCKS 16

/* One parameter set. eta1 = eta2 = 2 in both sets we run. */
typedef struct {
    unsigned k;   /* module rank */
    unsigned du;  /* bits per coefficient of u (10 or 11) */
    unsigned dv;  /* bits per coefficient of v (4 or 5) */
} kyber_params;

typedef struct { int16_t coeffs[KYBER_N]; } kyber_poly;
typedef struct { kyber_poly vec[KYBER_KMAX]; } kyber_polyvec;
/* For each pair (b0, b1) of a polynomial in the NTT domain: b1 * (+-zeta)
 * in Montgomery form, computed once per multiplicand and reused by every
 * row of the matrix product. */
typedef struct { int16_t coeffs[KYBER_KMAX][KYBER_N / 2]; } kyber_polyvec_mulcache;

/* Lets the valgrind constant-time check follow values that are computed from
 * secrets but public by design (rho, which goes into the public key).
 * Outside valgrind the client request is a few no-op instructions. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define KYBER_DECLASSIFY(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#endif
#endif
#ifndef KYBER_DECLASSIFY
#define KYBER_DECLASSIFY(p, n) ((void)(p), (void)(n))
#endif

/* ---- modular reduction (branch-free) ---- */

/* For |a| < q * 2^15: a * 2^-16 mod q, in (-q, q). */
static inline int16_t kyber_montgomery_reduce(int32_t a)
{
    int16_t t = (int16_t)((int16_t)a * KYBER_QINV);
    return (int16_t)((a - (int32_t)t * KYBER_Q) >> 16);
}

/* a mod q, centred: in {-(q-1)/2, ..., (q-1)/2}. */
static inline int16_t kyber_barrett_reduce(int16_t a)
{
    const int32_t v = ((1 << 26) + KYBER_Q / 2) / KYBER_Q; /* 20159 */
    int16_t t = (int16_t)((v * a + (1 << 25)) >> 26);
    return (int16_t)(a - t * KYBER_Q);
}

static inline int16_t kyber_fqmul(int16_t a, int16_t b)
{
    return kyber_montgomery_reduce((int32_t)a * b);
}

/* ---- kyber_ntt.c ---- */
extern const int16_t sotto_kyber_zetas[128];
void sotto_kyber_ntt(int16_t r[KYBER_N]);
void sotto_kyber_invntt(int16_t r[KYBER_N]);

/* ---- kyber_poly_common.c ---- */
void sotto_kyber_poly_tobytes(uint8_t r[KYBER_POLYBYTES], const kyber_poly *a);
void sotto_kyber_poly_frombytes(kyber_poly *r, const uint8_t a[KYBER_POLYBYTES]);
/* d = 4 or 5: KYBER_POLYCOMPRESSED_D(d) bytes */
void sotto_kyber_poly_compress(uint8_t *r, const kyber_poly *a, unsigned d);
void sotto_kyber_poly_decompress(kyber_poly *r, const uint8_t *a, unsigned d);
void sotto_kyber_poly_frommsg(kyber_poly *r, const uint8_t msg[KYBER_SYMBYTES]);
void sotto_kyber_poly_tomsg(uint8_t msg[KYBER_SYMBYTES], const kyber_poly *a);
void sotto_kyber_poly_cbd_eta2(kyber_poly *r, const uint8_t buf[KYBER_NOISEBYTES]);
void sotto_kyber_poly_ntt(kyber_poly *r);
void sotto_kyber_poly_invntt_tomont(kyber_poly *r);
void sotto_kyber_poly_tomont(kyber_poly *r);
void sotto_kyber_poly_reduce(kyber_poly *r);
void sotto_kyber_poly_add(kyber_poly *r, const kyber_poly *a, const kyber_poly *b);
void sotto_kyber_poly_sub(kyber_poly *r, const kyber_poly *a, const kyber_poly *b);

void sotto_kyber_polyvec_tobytes(uint8_t *r, const kyber_polyvec *a, unsigned k);
void sotto_kyber_polyvec_frombytes(kyber_polyvec *r, const uint8_t *a, unsigned k);
/* d = 10 or 11: KYBER_POLYVECCOMPRESSED_KD(k, d) bytes */
void sotto_kyber_polyvec_compress(uint8_t *r, const kyber_polyvec *a, unsigned k, unsigned d);
void sotto_kyber_polyvec_decompress(kyber_polyvec *r, const uint8_t *a, unsigned k, unsigned d);
void sotto_kyber_polyvec_ntt(kyber_polyvec *r, unsigned k);
void sotto_kyber_polyvec_invntt_tomont(kyber_polyvec *r, unsigned k);
void sotto_kyber_polyvec_reduce(kyber_polyvec *r, unsigned k);
void sotto_kyber_polyvec_add(kyber_polyvec *r, const kyber_polyvec *a, const kyber_polyvec *b,
                             unsigned k);
/* Products in the NTT domain. b must be reduced (|coefficient| <= (q-1)/2,
 * as sotto_kyber_polyvec_ntt leaves it); a may hold any 12-bit value.
 * r = sum a[i] * b[i] * 2^-16, coefficients in (-q, q). */
void sotto_kyber_polyvec_mulcache(kyber_polyvec_mulcache *c, const kyber_polyvec *b, unsigned k);
void sotto_kyber_polyvec_basemul_acc_cached(kyber_poly *r, const kyber_polyvec *a,
                                            const kyber_polyvec *b,
                                            const kyber_polyvec_mulcache *c, unsigned k);
void sotto_kyber_polyvec_basemul_acc_montgomery(kyber_poly *r, const kyber_polyvec *a,
                                                const kyber_polyvec *b, unsigned k);
/* Uniform coefficients < q from 12-bit pairs of buf (rejection sampling on
 * PUBLIC bytes only); returns how many of the len wanted it wrote. */
unsigned sotto_kyber_rej_uniform(int16_t *r, unsigned len, const uint8_t *buf, size_t buflen);
/* 1 when every 12-bit value of the k encoded polynomials is below q (the
 * FIPS 203 encapsulation-key check); reads public bytes only. */
int sotto_kyber_polyvec_bytes_canonical(const uint8_t *a, unsigned k);

/* ---- kyber_sym.c: SHA-3 on OpenSSL EVP ----
 * A kyber_sym holds one EVP_MD_CTX reused for every hash of one KEM call.
 * OpenSSL failures (allocation) abort the process: the void API has no way
 * to report them, and carrying on would produce keys from garbage. */
typedef struct { EVP_MD_CTX *ctx; } kyber_sym;
void sotto_kyber_sym_open(kyber_sym *s);
void sotto_kyber_sym_close(kyber_sym *s);   /* frees; OpenSSL wipes the Keccak state */
/* G = SHA3-512(a || b) */
void sotto_kyber_hash_g(kyber_sym *s, uint8_t out[64], const uint8_t *a, size_t alen,
                        const uint8_t *b, size_t blen);
/* H = SHA3-256(in) */
void sotto_kyber_hash_h(kyber_sym *s, uint8_t out[32], const uint8_t *in, size_t inlen);
/* SHAKE256(a || b, 32): round 3's KDF, FIPS 203's J */
void sotto_kyber_kdf(kyber_sym *s, uint8_t out[KYBER_SYMBYTES], const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen);
/* PRF = SHAKE256(key || nonce, 128): one CBD(eta=2) noise polynomial. */
void sotto_kyber_getnoise(kyber_sym *s, kyber_poly *r, const uint8_t key[KYBER_SYMBYTES],
                          uint8_t nonce);
/* A (transposed = 0) or A^T (transposed = 1) of rank k from the public seed,
 * entry (i, j) from SHAKE128(rho || j || i) for A, rho || i || j for A^T. */
void sotto_kyber_gen_matrix(kyber_sym *s, kyber_polyvec a[KYBER_KMAX],
                            const uint8_t rho[KYBER_SYMBYTES], int transposed, unsigned k);

/* ---- kyber_indcpa.c: the IND-CPA scheme both KEMs wrap ----
 * pk = t (k * 384) || rho (32), sk = s (k * 384), c = u || v. */
/* (rho, sigma) = G(g_in): round 3 hashes d alone, FIPS 203 hashes d || k. */
void sotto_kyber_indcpa_keypair(kyber_sym *sym, const kyber_params *p, uint8_t *pk, uint8_t *sk,
                                const uint8_t *g_in, size_t g_in_len);
void sotto_kyber_indcpa_enc(kyber_sym *sym, const kyber_params *p, uint8_t *c,
                            const uint8_t m[KYBER_SYMBYTES], const uint8_t *pk,
                            const uint8_t coins[KYBER_SYMBYTES]);
/* The two halves of sotto_kyber_indcpa_enc, for the incremental form:
 * u from rho alone, v from t alone; both redraw r from the same coins. */
void sotto_kyber_indcpa_enc_u(kyber_sym *sym, const kyber_params *p, uint8_t *c1,
                              const uint8_t rho[KYBER_SYMBYTES],
                              const uint8_t coins[KYBER_SYMBYTES]);
void sotto_kyber_indcpa_enc_v(kyber_sym *sym, const kyber_params *p, uint8_t *c2,
                              const uint8_t m[KYBER_SYMBYTES], const uint8_t *t,
                              const uint8_t coins[KYBER_SYMBYTES]);
void sotto_kyber_indcpa_dec(const kyber_params *p, uint8_t m[KYBER_SYMBYTES], const uint8_t *c,
                            const uint8_t *sk);

/* ---- constant-time helpers (kyber_indcpa.c) ---- */
/* 0 when a == b, 1 otherwise; reads every byte. */
uint8_t sotto_kyber_ct_verify(const uint8_t *a, const uint8_t *b, size_t len);
/* r = x when b == 1, r unchanged when b == 0, without a branch on b. */
void sotto_kyber_ct_cmov(uint8_t *r, const uint8_t *x, size_t len, uint8_t b);

#endif
