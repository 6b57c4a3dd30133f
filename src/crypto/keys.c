/* The public key API (include/sotto/keys.h): X25519 key pairs in libsignal's
 * serialization, XEdDSA signatures and round-3 Kyber1024 key pairs. */
#include <string.h>

#include <sodium.h>

#include "sotto/keys.h"
#include "crypto/kyber1024.h"
#include "crypto/primitives.h"
#include "crypto/xeddsa.h"

#define X25519_BYTES 32

_Static_assert(SOTTO_EC_PUBLIC_BYTES == 1 + X25519_BYTES, "0x05 || u");
_Static_assert(SOTTO_SIGNATURE_BYTES == SOTTO_XEDDSA_SIGNATURE_BYTES, "R || s");
_Static_assert(SOTTO_KYBER_PUBLIC_BYTES == 1 + KYBER1024_PUBLICKEYBYTES, "0x08 || pk");
_Static_assert(SOTTO_KYBER_SECRET_BYTES == 1 + KYBER1024_SECRETKEYBYTES, "0x08 || sk");
_Static_assert(SOTTO_KYBER_CIPHERTEXT_BYTES == 1 + KYBER1024_CIPHERTEXTBYTES, "0x08 || ct");

sotto_err sotto_ec_keypair(uint8_t pub[SOTTO_EC_PUBLIC_BYTES],
                           uint8_t priv[SOTTO_EC_PRIVATE_BYTES])
{
    if (pub == NULL || priv == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    pub[0] = SOTTO_KEY_TYPE_DJB;
    sotto_x25519_keypair(pub + 1, priv);
    return SOTTO_OK;
}

sotto_err sotto_ec_public_from_private(uint8_t pub[SOTTO_EC_PUBLIC_BYTES],
                                       const uint8_t priv[SOTTO_EC_PRIVATE_BYTES])
{
    if (pub == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memset(pub, 0, SOTTO_EC_PUBLIC_BYTES);
    if (priv == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (sotto_crypto_init() != SOTTO_OK)
        return SOTTO_ERR_CRYPTO;
    /* crypto_scalarmult_base clamps as X25519 does; it cannot fail. */
    if (crypto_scalarmult_base(pub + 1, priv) != 0) {
        memset(pub, 0, SOTTO_EC_PUBLIC_BYTES);
        return SOTTO_ERR_CRYPTO;
    }
    pub[0] = SOTTO_KEY_TYPE_DJB;
    return SOTTO_OK;
}

sotto_err sotto_sign(uint8_t sig[SOTTO_SIGNATURE_BYTES],
                     const uint8_t priv[SOTTO_EC_PRIVATE_BYTES],
                     const uint8_t *msg, size_t msg_len)
{
    if (sig == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memset(sig, 0, SOTTO_SIGNATURE_BYTES);
    if (priv == NULL || (msg == NULL && msg_len != 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (sotto_crypto_init() != SOTTO_OK)
        return SOTTO_ERR_CRYPTO;
    uint8_t z[SOTTO_XEDDSA_RANDOM_BYTES];
    randombytes_buf(z, sizeof z);
    const int rc = sotto_xeddsa_sign(sig, priv, msg, msg_len, z);
    sodium_memzero(z, sizeof z);
    if (rc != 0) { /* a scalar was zero mod l: probability about 2^-250 */
        memset(sig, 0, SOTTO_SIGNATURE_BYTES);
        return SOTTO_ERR_CRYPTO;
    }
    return SOTTO_OK;
}

sotto_err sotto_verify(const uint8_t pub[SOTTO_EC_PUBLIC_BYTES],
                       const uint8_t *msg, size_t msg_len,
                       const uint8_t sig[SOTTO_SIGNATURE_BYTES])
{
    if (pub == NULL || pub[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    if (sig == NULL || (msg == NULL && msg_len != 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (sotto_crypto_init() != SOTTO_OK)
        return SOTTO_ERR_CRYPTO;
    return sotto_xeddsa_verify(pub + 1, msg, msg_len, sig) == 0 ? SOTTO_OK
                                                                : SOTTO_ERR_BAD_SIGNATURE;
}

sotto_err sotto_kyber_keypair(uint8_t pub[SOTTO_KYBER_PUBLIC_BYTES],
                              uint8_t sec[SOTTO_KYBER_SECRET_BYTES])
{
    if (pub == NULL || sec == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (sotto_crypto_init() != SOTTO_OK)
        return SOTTO_ERR_CRYPTO;
    pub[0] = SOTTO_KEY_TYPE_KYBER1024;
    sec[0] = SOTTO_KEY_TYPE_KYBER1024;
    sotto_kyber1024_keypair(pub + 1, sec + 1);
    return SOTTO_OK;
}
