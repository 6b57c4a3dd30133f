/* Kyber1024 and ML-KEM-768: the symmetric primitives (SHA3-256, SHA3-512, SHAKE128,
 * SHAKE256) on OpenSSL 3 EVP. The EVP_MD handles are fetched once and
 * shared; each KEM call owns one EVP_MD_CTX and re-initialises it per hash.
 *
 * OpenSSL 3.0 squeezes a XOF once (EVP_DigestFinalXOF): the matrix sampler
 * asks for a fixed number of blocks and, when rejection sampling runs short,
 * hashes again asking for more. SHAKE output is a stream, so the longer
 * output starts with the shorter one and the result equals the reference's
 * incremental squeeze. Only the public seed rho goes through that path. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include "crypto/kyber_poly_common.h"

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha3_256, *md_sha3_512, *md_shake128, *md_shake256;

static void fetch_mds(void)
{
    md_sha3_256 = EVP_MD_fetch(NULL, "SHA3-256", NULL);
    md_sha3_512 = EVP_MD_fetch(NULL, "SHA3-512", NULL);
    md_shake128 = EVP_MD_fetch(NULL, "SHAKE128", NULL);
    md_shake256 = EVP_MD_fetch(NULL, "SHAKE256", NULL);
}

/* The void API cannot report an OpenSSL failure (allocation, a provider
 * without SHA-3); continuing would derive keys from uninitialised state. */
static _Noreturn void sym_fail(const char *what)
{
    fprintf(stderr, "sotto: Kyber/ML-KEM: OpenSSL %s failed; aborting\n", what);
    abort();
}

void sotto_kyber_sym_open(kyber_sym *s)
{
    if (pthread_once(&md_once, fetch_mds) != 0 || md_sha3_256 == NULL || md_sha3_512 == NULL ||
        md_shake128 == NULL || md_shake256 == NULL)
        sym_fail("EVP_MD_fetch(SHA-3)");
    s->ctx = EVP_MD_CTX_new();
    if (s->ctx == NULL)
        sym_fail("EVP_MD_CTX_new");
}

void sotto_kyber_sym_close(kyber_sym *s)
{
    EVP_MD_CTX_free(s->ctx); /* the SHA-3 provider clears its Keccak state */
    s->ctx = NULL;
}

static void digest(kyber_sym *s, const EVP_MD *md, uint8_t *out, size_t outlen, int xof,
                   const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (EVP_DigestInit_ex2(s->ctx, md, NULL) != 1)
        sym_fail("EVP_DigestInit_ex2");
    if (EVP_DigestUpdate(s->ctx, a, alen) != 1 ||
        (blen > 0 && EVP_DigestUpdate(s->ctx, b, blen) != 1))
        sym_fail("EVP_DigestUpdate");
    if (xof) {
        if (EVP_DigestFinalXOF(s->ctx, out, outlen) != 1)
            sym_fail("EVP_DigestFinalXOF");
    } else {
        unsigned n = 0;
        if (EVP_DigestFinal_ex(s->ctx, out, &n) != 1 || n != outlen)
            sym_fail("EVP_DigestFinal_ex");
    }
}

void sotto_kyber_hash_g(kyber_sym *s, uint8_t out[64], const uint8_t *a, size_t alen,
                        const uint8_t *b, size_t blen)
{
    digest(s, md_sha3_512, out, 64, 0, a, alen, b, blen);
}

void sotto_kyber_hash_h(kyber_sym *s, uint8_t out[32], const uint8_t *in, size_t inlen)
{
    digest(s, md_sha3_256, out, 32, 0, in, inlen, NULL, 0);
}

void sotto_kyber_kdf(kyber_sym *s, uint8_t out[KYBER_SYMBYTES], const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen)
{
    digest(s, md_shake256, out, KYBER_SYMBYTES, 1, a, alen, b, blen);
}

void sotto_kyber_getnoise(kyber_sym *s, kyber_poly *r, const uint8_t key[KYBER_SYMBYTES],
                          uint8_t nonce)
{
    uint8_t buf[KYBER_NOISEBYTES];
    digest(s, md_shake256, buf, sizeof buf, 1, key, KYBER_SYMBYTES, &nonce, 1);
    sotto_kyber_poly_cbd_eta2(r, buf);
    sodium_memzero(buf, sizeof buf);
}

void sotto_kyber_gen_matrix(kyber_sym *s, kyber_polyvec a[KYBER_KMAX],
                            const uint8_t rho[KYBER_SYMBYTES], int transposed, unsigned k)
{
    uint8_t buf[KYBER_GEN_MATRIX_MAXBLOCKS * KYBER_XOF_BLOCKBYTES];
    for (unsigned i = 0; i < k; i++) {
        for (unsigned j = 0; j < k; j++) {
            uint8_t ij[2];
            ij[0] = (uint8_t)(transposed ? i : j);
            ij[1] = (uint8_t)(transposed ? j : i);
            int16_t *coeffs = a[i].vec[j].coeffs;
            size_t have = KYBER_GEN_MATRIX_NBLOCKS * KYBER_XOF_BLOCKBYTES;
            digest(s, md_shake128, buf, have, 1, rho, KYBER_SYMBYTES, ij, 2);
            unsigned ctr = sotto_kyber_rej_uniform(coeffs, KYBER_N, buf, have);
            if (ctr < KYBER_N) {
                /* Rare: squeeze the longer stream and continue where the
                 * first pass stopped (a whole number of 3-byte groups). */
                size_t more = KYBER_GEN_MATRIX_MAXBLOCKS * KYBER_XOF_BLOCKBYTES;
                _Static_assert(KYBER_GEN_MATRIX_NBLOCKS * KYBER_XOF_BLOCKBYTES % 3 == 0,
                               "first squeeze ends on a 3-byte boundary");
                digest(s, md_shake128, buf, more, 1, rho, KYBER_SYMBYTES, ij, 2);
                ctr += sotto_kyber_rej_uniform(coeffs + ctr, KYBER_N - ctr, buf + have,
                                               more - have);
                if (ctr < KYBER_N) {
                    fprintf(stderr, "sotto: Kyber/ML-KEM: matrix sampler ran dry; aborting\n");
                    abort();
                }
            }
        }
    }
}
