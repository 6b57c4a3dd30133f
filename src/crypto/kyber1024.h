/* Internal: round-3 CRYSTALS-Kyber1024 (not FIPS 203), constant time.
 * Raw sizes, without libsignal's 0x08 type byte. */
#ifndef SOTTO_CRYPTO_KYBER1024_H
#define SOTTO_CRYPTO_KYBER1024_H
#include <stdint.h>

#define KYBER1024_PUBLICKEYBYTES  1568
#define KYBER1024_SECRETKEYBYTES  3168
#define KYBER1024_CIPHERTEXTBYTES 1568
#define KYBER1024_SSBYTES         32

/* coins: d || z, as the reference implementation draws them (32 + 32). */
void sotto_kyber1024_keypair_derand(uint8_t pk[KYBER1024_PUBLICKEYBYTES],
                                    uint8_t sk[KYBER1024_SECRETKEYBYTES],
                                    const uint8_t coins[64]);
void sotto_kyber1024_keypair(uint8_t pk[KYBER1024_PUBLICKEYBYTES],
                             uint8_t sk[KYBER1024_SECRETKEYBYTES]);
/* coins: the 32 random bytes the reference draws (round 3 hashes them first). */
void sotto_kyber1024_enc_derand(uint8_t ct[KYBER1024_CIPHERTEXTBYTES], uint8_t ss[KYBER1024_SSBYTES],
                                const uint8_t pk[KYBER1024_PUBLICKEYBYTES], const uint8_t coins[32]);
void sotto_kyber1024_enc(uint8_t ct[KYBER1024_CIPHERTEXTBYTES], uint8_t ss[KYBER1024_SSBYTES],
                         const uint8_t pk[KYBER1024_PUBLICKEYBYTES]);
/* Implicit rejection: a bad ciphertext yields a pseudorandom ss, no error. */
void sotto_kyber1024_dec(uint8_t ss[KYBER1024_SSBYTES], const uint8_t ct[KYBER1024_CIPHERTEXTBYTES],
                         const uint8_t sk[KYBER1024_SECRETKEYBYTES]);
#endif
