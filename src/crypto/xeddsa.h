/* Internal: XEdDSA over Curve25519 keys, libsignal's variant (the Edwards
 * sign bit travels in sig[63] & 0x80). */
#ifndef SOTTO_CRYPTO_XEDDSA_H
#define SOTTO_CRYPTO_XEDDSA_H
#include <stddef.h>
#include <stdint.h>

#define SOTTO_XEDDSA_SIGNATURE_BYTES 64
#define SOTTO_XEDDSA_RANDOM_BYTES    64

/* priv: a 32-byte X25519 private key (clamped here as libsignal clamps it on
 * load). random64: 64 fresh random bytes (Z); deterministic given the inputs.
 * Constant time in priv and random64. Returns 0, or -1 in the negligible case
 * that a scalar reduces to zero (then sig must not be used). msg may be NULL
 * when msg_len is 0. */
int sotto_xeddsa_sign(uint8_t sig[SOTTO_XEDDSA_SIGNATURE_BYTES], const uint8_t priv[32],
                      const uint8_t *msg, size_t msg_len,
                      const uint8_t random64[SOTTO_XEDDSA_RANDOM_BYTES]);
/* u: the 32-byte Montgomery public key. Returns 0 when valid, -1 otherwise.
 * Variable time (everything it reads is public). */
int sotto_xeddsa_verify(const uint8_t u[32], const uint8_t *msg, size_t msg_len,
                        const uint8_t sig[SOTTO_XEDDSA_SIGNATURE_BYTES]);
/* Internal, exposed for tests: Edwards y = (u - 1) / (u + 1) mod p, canonical,
 * for the Montgomery u read as libsignal reads it (bit 255 ignored, values
 * >= p reduced). Returns -1 for u = -1 mod p, which has no image. */
int sotto_xeddsa_mont_to_ed_y(uint8_t y[32], const uint8_t u[32]);
#endif
