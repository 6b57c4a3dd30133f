/* Internal: XEdDSA over Curve25519 keys, libsignal's variant (the Edwards
 * sign bit travels in sig[63] & 0x80). */
#ifndef SOTTO_CRYPTO_XEDDSA_H
#define SOTTO_CRYPTO_XEDDSA_H
#include <stddef.h>
#include <stdint.h>

/* random64: 64 fresh random bytes (Z). Deterministic given the inputs. */
void sotto_xeddsa_sign(uint8_t sig[64], const uint8_t priv[32],
                       const uint8_t *msg, size_t msg_len, const uint8_t random64[64]);
/* u: the 32-byte Montgomery public key. Returns 0 when valid, -1 otherwise. */
int sotto_xeddsa_verify(const uint8_t u[32], const uint8_t *msg, size_t msg_len,
                        const uint8_t sig[64]);
#endif
