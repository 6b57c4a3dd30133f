/* Internal: AES-256-GCM-SIV (RFC 8452), the AEAD of sealed sender v2. OpenSSL
 * 3.0 has no GCM-SIV, so it is composed here from OpenSSL's AES (ECB blocks,
 * AES-NI when present) and a constant-time POLYVAL. Not exported. */
#ifndef SOTTO_CRYPTO_GCM_SIV_H
#define SOTTO_CRYPTO_GCM_SIV_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"

#define SOTTO_GCM_SIV_KEY_BYTES   32
#define SOTTO_GCM_SIV_NONCE_BYTES 12
#define SOTTO_GCM_SIV_TAG_BYTES   16
#define SOTTO_GCM_SIV_MAX_BYTES   ((uint64_t)1 << 36) /* RFC 8452 P_MAX and A_MAX */

/* out: pt_len + 16 bytes (ciphertext || tag); out may equal pt. */
sotto_err sotto_aes256_gcm_siv_encrypt(uint8_t *out, const uint8_t key[SOTTO_GCM_SIV_KEY_BYTES],
                                       const uint8_t nonce[SOTTO_GCM_SIV_NONCE_BYTES],
                                       const uint8_t *ad, size_t ad_len,
                                       const uint8_t *pt, size_t pt_len);
/* ct: ciphertext || tag (ct_len >= 16); out: ct_len - 16 bytes, may equal ct.
 * SOTTO_ERR_BAD_MAC when the tag does not verify; out is then all zeros. */
sotto_err sotto_aes256_gcm_siv_decrypt(uint8_t *out, const uint8_t key[SOTTO_GCM_SIV_KEY_BYTES],
                                       const uint8_t nonce[SOTTO_GCM_SIV_NONCE_BYTES],
                                       const uint8_t *ad, size_t ad_len,
                                       const uint8_t *ct, size_t ct_len);

/* POLYVAL(H, X_1..X_n) over whole 16-byte blocks (RFC 8452 section 3),
 * exposed for the known-answer test. */
void sotto_polyval(uint8_t out[16], const uint8_t h[16], const uint8_t *blocks, size_t n_blocks);

/* Tests: 1 makes POLYVAL take the portable code even where PCLMULQDQ exists,
 * so both paths meet the vectors. Not for production use. */
void sotto_gcm_siv_force_portable(int on);

#endif
