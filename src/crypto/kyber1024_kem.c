/* Kyber1024: the round-3 Fujisaki-Okamoto KEM on top of the shared IND-CPA
 * scheme (kyber_indcpa.c), byte-compatible with the v3.0.2 reference
 * implementation (the NIST round-3 submission; not FIPS 203 ML-KEM, whose
 * hashes differ: see mlkem768.c). */
#include <string.h>
#include <sodium.h>
#include "crypto/kyber1024_internal.h"

static const kyber_params params = { KYBER_K, KYBER_DU, KYBER_DV };

/* ---- KEM ---- */

void sotto_kyber1024_keypair_derand(uint8_t pk[KYBER1024_PUBLICKEYBYTES],
                                    uint8_t sk[KYBER1024_SECRETKEYBYTES],
                                    const uint8_t coins[64])
{
    kyber_sym sym;
    sotto_kyber_sym_open(&sym);
    sotto_kyber_indcpa_keypair(&sym, &params, pk, sk, coins, KYBER_SYMBYTES);
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
    sotto_kyber_indcpa_enc(&sym, &params, ct, m_hpk, pk, kr + KYBER_SYMBYTES);
    /* ss = KDF(K' || H(c)) */
    sotto_kyber_hash_h(&sym, kr + KYBER_SYMBYTES, ct, KYBER1024_CIPHERTEXTBYTES);
    sotto_kyber_kdf(&sym, ss, kr, sizeof kr, NULL, 0);
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
    sotto_kyber_indcpa_dec(&params, m_hpk, ct, sk);
    memcpy(m_hpk + KYBER_SYMBYTES, sk + KYBER_SK_HPK_OFFSET, KYBER_SYMBYTES);
    sotto_kyber_hash_g(&sym, kr, m_hpk, sizeof m_hpk, NULL, 0);
    /* re-encrypt and compare, in constant time */
    sotto_kyber_indcpa_enc(&sym, &params, cmp, m_hpk, pk, kr + KYBER_SYMBYTES);
    uint8_t fail = sotto_kyber_ct_verify(ct, cmp, KYBER1024_CIPHERTEXTBYTES);
    sotto_kyber_hash_h(&sym, kr + KYBER_SYMBYTES, ct, KYBER1024_CIPHERTEXTBYTES);
    /* implicit rejection: K'' = z when the ciphertext does not re-encrypt */
    sotto_kyber_ct_cmov(kr, sk + KYBER_SK_Z_OFFSET, KYBER_SYMBYTES, fail);
    sotto_kyber_kdf(&sym, ss, kr, sizeof kr, NULL, 0);
    sotto_kyber_sym_close(&sym);

    sodium_memzero(m_hpk, sizeof m_hpk);
    sodium_memzero(kr, sizeof kr);
    sodium_memzero(cmp, sizeof cmp);
}
