/* sotto: keys and signatures in libsignal's serialization. */
#ifndef SOTTO_KEYS_H
#define SOTTO_KEYS_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"

#define SOTTO_KEY_TYPE_DJB           0x05 /* X25519 public key type byte */
#define SOTTO_KEY_TYPE_KYBER1024     0x08 /* round-3 Kyber1024 key type byte */
#define SOTTO_EC_PUBLIC_BYTES        33   /* 0x05 || u */
#define SOTTO_EC_PRIVATE_BYTES       32   /* clamped scalar */
#define SOTTO_SIGNATURE_BYTES        64   /* XEdDSA R || s, sign bit in sig[63] */
#define SOTTO_KYBER_PUBLIC_BYTES     1569 /* 0x08 || pk */
#define SOTTO_KYBER_SECRET_BYTES     3169 /* 0x08 || sk */
#define SOTTO_KYBER_CIPHERTEXT_BYTES 1569 /* 0x08 || ct */
#define SOTTO_SHARED_SECRET_BYTES    32

/* A fresh X25519 key pair; pub is 0x05 || u. */
SOTTO_API sotto_err sotto_ec_keypair(uint8_t pub[SOTTO_EC_PUBLIC_BYTES],
                                     uint8_t priv[SOTTO_EC_PRIVATE_BYTES]);
SOTTO_API sotto_err sotto_ec_public_from_private(uint8_t pub[SOTTO_EC_PUBLIC_BYTES],
                                                 const uint8_t priv[SOTTO_EC_PRIVATE_BYTES]);

/* XEdDSA as libsignal does it. verify returns SOTTO_OK or SOTTO_ERR_BAD_SIGNATURE
 * (SOTTO_ERR_INVALID_KEY for a key that is not 0x05 || 32 bytes). */
SOTTO_API sotto_err sotto_sign(uint8_t sig[SOTTO_SIGNATURE_BYTES],
                               const uint8_t priv[SOTTO_EC_PRIVATE_BYTES],
                               const uint8_t *msg, size_t msg_len);
SOTTO_API sotto_err sotto_verify(const uint8_t pub[SOTTO_EC_PUBLIC_BYTES],
                                 const uint8_t *msg, size_t msg_len,
                                 const uint8_t sig[SOTTO_SIGNATURE_BYTES]);

/* A fresh round-3 Kyber1024 key pair, both with the 0x08 type byte. */
SOTTO_API sotto_err sotto_kyber_keypair(uint8_t pub[SOTTO_KYBER_PUBLIC_BYTES],
                                        uint8_t sec[SOTTO_KYBER_SECRET_BYTES]);

#endif
