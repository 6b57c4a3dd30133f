/* Internal to the Kyber1024 files: parameters, polynomial types and the
 * helpers that kyber1024_{ntt,poly,sym,kem}.c share. Round-3 (v3.0.2)
 * CRYSTALS-Kyber, parameter set Kyber1024. Nothing here is exported.
 *
 * Constant time: every function on secret polynomials is straight-line
 * arithmetic (no branch or table index on coefficient values). The only
 * data-dependent loop is rejection sampling of the public matrix A from the
 * public seed rho. */
#ifndef SOTTO_CRYPTO_KYBER1024_INTERNAL_H
#define SOTTO_CRYPTO_KYBER1024_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "crypto/kyber1024.h"

#define KYBER_N          256
#define KYBER_Q          3329
#define KYBER_K          4
#define KYBER_ETA        2      /* eta1 = eta2 = 2 for Kyber1024 */
#define KYBER_DU         11     /* bits per coefficient of u */
#define KYBER_DV         5      /* bits per coefficient of v */
#define KYBER_SYMBYTES   32     /* seeds, hashes, messages */
#define KYBER_QINV       (-3327) /* q^-1 mod 2^16 */
#define KYBER_MONT2_MOD_Q 1353  /* 2^32 mod q: to Montgomery form */
#define KYBER_INVNTT_F   1441   /* 2^32 / 128 mod q: 1/128 and back to Montgomery */

#define KYBER_POLYBYTES          384  /* 256 coefficients of 12 bits */
#define KYBER_POLYVECBYTES       (KYBER_K * KYBER_POLYBYTES)                  /* 1536 */
#define KYBER_POLYCOMPRESSEDBYTES (KYBER_N * KYBER_DV / 8)                     /* 160 */
#define KYBER_POLYVECCOMPRESSEDBYTES (KYBER_K * KYBER_N * KYBER_DU / 8)       /* 1408 */
#define KYBER_INDCPA_PUBLICKEYBYTES (KYBER_POLYVECBYTES + KYBER_SYMBYTES)     /* 1568 */
#define KYBER_INDCPA_SECRETKEYBYTES KYBER_POLYVECBYTES                        /* 1536 */
#define KYBER_NOISEBYTES (KYBER_ETA * KYBER_N / 4)                            /* 128 */

/* sk = s (1536) || pk (1568) || H(pk) (32) || z (32) */
#define KYBER_SK_PK_OFFSET   KYBER_INDCPA_SECRETKEYBYTES
#define KYBER_SK_HPK_OFFSET  (KYBER_SK_PK_OFFSET + KYBER1024_PUBLICKEYBYTES)
#define KYBER_SK_Z_OFFSET    (KYBER_SK_HPK_OFFSET + KYBER_SYMBYTES)

_Static_assert(KYBER1024_PUBLICKEYBYTES == KYBER_INDCPA_PUBLICKEYBYTES, "pk size");
_Static_assert(KYBER1024_SECRETKEYBYTES == KYBER_SK_Z_OFFSET + KYBER_SYMBYTES, "sk size");
_Static_assert(KYBER1024_CIPHERTEXTBYTES ==
               KYBER_POLYVECCOMPRESSEDBYTES + KYBER_POLYCOMPRESSEDBYTES, "ct size");

/* SHAKE128 rate: the matrix sampler squeezes whole blocks. */
#define KYBER_XOF_BLOCKBYTES 168
/* Blocks squeezed at first for one matrix entry, as the reference does:
 * enough for 256 accepted coefficients in all but ~1% of the entries. */
#define KYBER_GEN_MATRIX_NBLOCKS 3
/* When those run short the entry is recomputed with this many blocks; the
 * chance that even these are too few is below 2^-400. */
#define KYBER_GEN_MATRIX_MAXBLOCKS 16

typedef struct { int16_t coeffs[KYBER_N]; } kyber_poly;
typedef struct { kyber_poly vec[KYBER_K]; } kyber_polyvec;
/* For each pair (b0, b1) of a polynomial in the NTT domain: b1 * (+-zeta)
 * in Montgomery form, computed once per multiplicand and reused by every
 * row of the matrix product. */
typedef struct { int16_t coeffs[KYBER_K][KYBER_N / 2]; } kyber_polyvec_mulcache;

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

/* ---- kyber1024_ntt.c ---- */
extern const int16_t sotto_kyber_zetas[128];
void sotto_kyber_ntt(int16_t r[KYBER_N]);
void sotto_kyber_invntt(int16_t r[KYBER_N]);

/* ---- kyber1024_poly.c ---- */
void sotto_kyber_poly_tobytes(uint8_t r[KYBER_POLYBYTES], const kyber_poly *a);
void sotto_kyber_poly_frombytes(kyber_poly *r, const uint8_t a[KYBER_POLYBYTES]);
void sotto_kyber_poly_compress(uint8_t r[KYBER_POLYCOMPRESSEDBYTES], const kyber_poly *a);
void sotto_kyber_poly_decompress(kyber_poly *r, const uint8_t a[KYBER_POLYCOMPRESSEDBYTES]);
void sotto_kyber_poly_frommsg(kyber_poly *r, const uint8_t msg[KYBER_SYMBYTES]);
void sotto_kyber_poly_tomsg(uint8_t msg[KYBER_SYMBYTES], const kyber_poly *a);
void sotto_kyber_poly_cbd_eta2(kyber_poly *r, const uint8_t buf[KYBER_NOISEBYTES]);
void sotto_kyber_poly_ntt(kyber_poly *r);
void sotto_kyber_poly_invntt_tomont(kyber_poly *r);
void sotto_kyber_poly_tomont(kyber_poly *r);
void sotto_kyber_poly_reduce(kyber_poly *r);
void sotto_kyber_poly_add(kyber_poly *r, const kyber_poly *a, const kyber_poly *b);
void sotto_kyber_poly_sub(kyber_poly *r, const kyber_poly *a, const kyber_poly *b);

void sotto_kyber_polyvec_tobytes(uint8_t r[KYBER_POLYVECBYTES], const kyber_polyvec *a);
void sotto_kyber_polyvec_frombytes(kyber_polyvec *r, const uint8_t a[KYBER_POLYVECBYTES]);
void sotto_kyber_polyvec_compress(uint8_t r[KYBER_POLYVECCOMPRESSEDBYTES], const kyber_polyvec *a);
void sotto_kyber_polyvec_decompress(kyber_polyvec *r,
                                    const uint8_t a[KYBER_POLYVECCOMPRESSEDBYTES]);
void sotto_kyber_polyvec_ntt(kyber_polyvec *r);
void sotto_kyber_polyvec_invntt_tomont(kyber_polyvec *r);
void sotto_kyber_polyvec_reduce(kyber_polyvec *r);
void sotto_kyber_polyvec_add(kyber_polyvec *r, const kyber_polyvec *a, const kyber_polyvec *b);
/* Products in the NTT domain. b must be reduced (|coefficient| <= (q-1)/2,
 * as sotto_kyber_polyvec_ntt leaves it); a may hold any 12-bit value.
 * r = sum a[i] * b[i] * 2^-16, coefficients in (-q, q). */
void sotto_kyber_polyvec_mulcache(kyber_polyvec_mulcache *c, const kyber_polyvec *b);
void sotto_kyber_polyvec_basemul_acc_cached(kyber_poly *r, const kyber_polyvec *a,
                                            const kyber_polyvec *b,
                                            const kyber_polyvec_mulcache *c);
void sotto_kyber_polyvec_basemul_acc_montgomery(kyber_poly *r, const kyber_polyvec *a,
                                                const kyber_polyvec *b);
/* Uniform coefficients < q from 12-bit pairs of buf (rejection sampling on
 * PUBLIC bytes only); returns how many of the len wanted it wrote. */
unsigned sotto_kyber_rej_uniform(int16_t *r, unsigned len, const uint8_t *buf, size_t buflen);

/* ---- kyber1024_sym.c: SHA-3 on OpenSSL EVP ----
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
/* KDF = SHAKE256(in, 32) */
void sotto_kyber_kdf(kyber_sym *s, uint8_t out[KYBER1024_SSBYTES], const uint8_t *in, size_t inlen);
/* PRF = SHAKE256(key || nonce, 128): one CBD(eta=2) noise polynomial. */
void sotto_kyber_getnoise(kyber_sym *s, kyber_poly *r, const uint8_t key[KYBER_SYMBYTES],
                          uint8_t nonce);
/* A (transposed = 0) or A^T (transposed = 1) from the public seed, entry
 * (i, j) from SHAKE128(rho || j || i) for A, rho || i || j for A^T. */
void sotto_kyber_gen_matrix(kyber_sym *s, kyber_polyvec a[KYBER_K],
                            const uint8_t rho[KYBER_SYMBYTES], int transposed);

#endif
