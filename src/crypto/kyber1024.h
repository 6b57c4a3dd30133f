/* Internal: round-3 CRYSTALS-Kyber1024 (v3.0.2 reference, the NIST round-3
 * submission; NOT FIPS 203 ML-KEM), constant time. Raw sizes, without
 * libsignal's 0x08 type byte.
 *
 * Hashes: G = SHA3-512, H = SHA3-256, KDF = SHAKE256 to 32 bytes, XOF =
 * SHAKE128, PRF = SHAKE256, all from OpenSSL 3 EVP. These functions cannot
 * fail on valid buffers; if OpenSSL itself fails (out of memory, no SHA-3
 * provider) they abort the process rather than return unusable keys.
 * Thread-safe; the EVP handles are fetched once on first use. */
#ifndef SOTTO_CRYPTO_KYBER1024_H
#define SOTTO_CRYPTO_KYBER1024_H
#include <stdint.h>

#define KYBER1024_PUBLICKEYBYTES  1568 /* t (1536) || rho (32) */
#define KYBER1024_SECRETKEYBYTES  3168 /* s (1536) || pk (1568) || H(pk) (32) || z (32) */
#define KYBER1024_CIPHERTEXTBYTES 1568 /* u (1408) || v (160) */
#define KYBER1024_SSBYTES         32

/* coins: d || z, as the reference implementation draws them (32 + 32):
 * (rho, sigma) = G(d); z is the implicit-rejection secret. */
void sotto_kyber1024_keypair_derand(uint8_t pk[KYBER1024_PUBLICKEYBYTES],
                                    uint8_t sk[KYBER1024_SECRETKEYBYTES],
                                    const uint8_t coins[64]);
/* Coins from libsodium's randombytes_buf. */
void sotto_kyber1024_keypair(uint8_t pk[KYBER1024_PUBLICKEYBYTES],
                             uint8_t sk[KYBER1024_SECRETKEYBYTES]);
/* coins: the 32 random bytes the reference draws (round 3 hashes them first:
 * m = H(coins); (K', r) = G(m || H(pk)); ss = KDF(K' || H(ct))). */
void sotto_kyber1024_enc_derand(uint8_t ct[KYBER1024_CIPHERTEXTBYTES], uint8_t ss[KYBER1024_SSBYTES],
                                const uint8_t pk[KYBER1024_PUBLICKEYBYTES], const uint8_t coins[32]);
void sotto_kyber1024_enc(uint8_t ct[KYBER1024_CIPHERTEXTBYTES], uint8_t ss[KYBER1024_SSBYTES],
                         const uint8_t pk[KYBER1024_PUBLICKEYBYTES]);
/* Implicit rejection: a bad ciphertext yields a pseudorandom ss, no error:
 * ss = KDF(z || H(ct)), selected without a branch. */
void sotto_kyber1024_dec(uint8_t ss[KYBER1024_SSBYTES], const uint8_t ct[KYBER1024_CIPHERTEXTBYTES],
                         const uint8_t sk[KYBER1024_SECRETKEYBYTES]);
#endif
