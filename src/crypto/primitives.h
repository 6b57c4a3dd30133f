/* Internal: the symmetric primitives every message uses, on OpenSSL 3 and
 * libsodium. Algorithm handles (EVP_MAC, EVP_CIPHER) are fetched once in
 * sotto_crypto_init() and reused; nothing here allocates per call on the hot
 * path beyond what OpenSSL itself does. Not exported from libsotto.so. */
#ifndef SOTTO_CRYPTO_PRIMITIVES_H
#define SOTTO_CRYPTO_PRIMITIVES_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"

#define SOTTO_HMAC_SHA256_BYTES 32
#define SOTTO_AES256_KEY_BYTES  32
#define SOTTO_AES_BLOCK_BYTES   16

typedef struct sotto_iov { const uint8_t *p; size_t n; } sotto_iov;

sotto_err sotto_crypto_init(void);

/* HMAC-SHA256 over the concatenation of parts. */
sotto_err sotto_hmac_sha256(uint8_t out[SOTTO_HMAC_SHA256_BYTES],
                            const uint8_t *key, size_t key_len,
                            const sotto_iov *parts, size_t n_parts);

/* RFC 5869 HKDF-SHA256; salt may be NULL/0 (then a zero salt of 32 bytes). */
sotto_err sotto_hkdf_sha256(uint8_t *out, size_t out_len,
                            const uint8_t *salt, size_t salt_len,
                            const uint8_t *ikm, size_t ikm_len,
                            const uint8_t *info, size_t info_len);

/* AES-256-CBC with PKCS#7 padding. encrypt writes exactly
 * sotto_aes256_cbc_padded_len(in_len) bytes. decrypt checks the padding
 * without branching on secret bytes and returns SOTTO_ERR_BAD_MAC on bad
 * padding (a message whose MAC verified but padding fails is malformed),
 * SOTTO_ERR_MALFORMED when in_len is not a positive multiple of 16. decrypt
 * writes nothing to out on any failure; out_cap >= in_len is always enough.
 * Both keep no state between calls; out may equal in. */
static inline size_t sotto_aes256_cbc_padded_len(size_t n) { return (n / 16 + 1) * 16; }
sotto_err sotto_aes256_cbc_encrypt(uint8_t *out, size_t out_cap, size_t *out_len,
                                   const uint8_t key[32], const uint8_t iv[16],
                                   const uint8_t *in, size_t in_len);
sotto_err sotto_aes256_cbc_decrypt(uint8_t *out, size_t out_cap, size_t *out_len,
                                   const uint8_t key[32], const uint8_t iv[16],
                                   const uint8_t *in, size_t in_len);

/* AES-256-CTR (sealed sender v1): out may equal in. */
sotto_err sotto_aes256_ctr(uint8_t *out, const uint8_t key[32], const uint8_t iv[16],
                           const uint8_t *in, size_t len);

/* X25519: fails with SOTTO_ERR_INVALID_KEY on an all-zero shared secret. */
sotto_err sotto_x25519(uint8_t shared[32], const uint8_t priv[32], const uint8_t pub[32]);
void sotto_x25519_keypair(uint8_t pub[32], uint8_t priv[32]);

/* Constant-time equality (libsodium sodium_memcmp): 1 when equal. */
int sotto_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif
