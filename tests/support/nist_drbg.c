/* Test-only: NIST PQCgenKAT's AES-256-CTR DRBG (SP 800-90A CTR_DRBG without
 * derivation function), on OpenSSL's AES-256-ECB. See nist_drbg.h. */
#include <string.h>
#include <openssl/evp.h>
#include "nist_drbg.h"

#define AES_BLOCK 16

static int aes256_ecb(const uint8_t key[32], const uint8_t in[AES_BLOCK], uint8_t out[AES_BLOCK])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = 0;
    if (c != NULL && EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
        EVP_EncryptUpdate(c, out, &len, in, AES_BLOCK) == 1 && len == AES_BLOCK)
        ok = 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

/* V as a 128-bit big-endian counter */
static void increment_v(uint8_t v[16])
{
    for (int j = 15; j >= 0; j--) {
        if (v[j] == 0xff) {
            v[j] = 0x00;
        } else {
            v[j]++;
            break;
        }
    }
}

static int drbg_update(sotto_nist_drbg *d, const uint8_t *provided)
{
    uint8_t temp[48];
    for (int i = 0; i < 3; i++) {
        increment_v(d->v);
        if (aes256_ecb(d->key, d->v, temp + AES_BLOCK * i) != 0)
            return -1;
    }
    if (provided != NULL)
        for (int i = 0; i < 48; i++)
            temp[i] ^= provided[i];
    memcpy(d->key, temp, 32);
    memcpy(d->v, temp + 32, 16);
    return 0;
}

int sotto_nist_drbg_init(sotto_nist_drbg *d, const uint8_t entropy[SOTTO_NIST_DRBG_SEED_BYTES],
                         const uint8_t *personalization)
{
    uint8_t seed[SOTTO_NIST_DRBG_SEED_BYTES];
    memcpy(seed, entropy, sizeof seed);
    if (personalization != NULL)
        for (size_t i = 0; i < sizeof seed; i++)
            seed[i] ^= personalization[i];
    memset(d, 0, sizeof *d);
    if (drbg_update(d, seed) != 0)
        return -1;
    d->reseed_counter = 1;
    return 0;
}

int sotto_nist_drbg_bytes(sotto_nist_drbg *d, uint8_t *out, size_t n)
{
    uint8_t block[AES_BLOCK];
    while (n > 0) {
        increment_v(d->v);
        if (aes256_ecb(d->key, d->v, block) != 0)
            return -1;
        size_t take = n < AES_BLOCK ? n : AES_BLOCK;
        memcpy(out, block, take);
        out += take;
        n -= take;
    }
    if (drbg_update(d, NULL) != 0)
        return -1;
    d->reseed_counter++;
    return 0;
}
