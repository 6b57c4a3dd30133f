/* Known answers for the symmetric primitives and X25519:
 * RFC 4231 (HMAC-SHA256), RFC 5869 (HKDF-SHA256), NIST SP 800-38A F.2.5/F.2.6
 * (AES-256-CBC) and F.5.5/F.5.6 (AES-256-CTR), PKCS#7 edge cases, RFC 7748
 * (X25519) and the low-order rejection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>
#include <sodium.h>
#include <openssl/evp.h>

#include "crypto/primitives.h"

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL), 0);
    return n;
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
    uint8_t want[512];
    size_t n = unhex(want, sizeof want, hex);
    assert_int_equal(n, len);
    assert_memory_equal(got, want, len);
}

static int setup(void **state)
{
    (void)state;
    /* Deliberately no sotto_init(): the primitives initialise lazily. */
    return 0;
}

/* ---- RFC 4231 ---- */

typedef struct { const char *key_hex; size_t key_rep; uint8_t key_byte;
                 const char *data; size_t data_rep; uint8_t data_byte;
                 const char *mac; size_t mac_len; } hmac_case;

static void run_hmac(const hmac_case *c)
{
    uint8_t key[256], data[256], mac[SOTTO_HMAC_SHA256_BYTES];
    size_t key_len, data_len;
    if (c->key_hex) {
        key_len = unhex(key, sizeof key, c->key_hex);
    } else {
        key_len = c->key_rep;
        memset(key, c->key_byte, key_len);
    }
    if (c->data) {
        data_len = strlen(c->data);
        memcpy(data, c->data, data_len);
    } else {
        data_len = c->data_rep;
        memset(data, c->data_byte, data_len);
    }
    sotto_iov one = { data, data_len };
    assert_int_equal(sotto_hmac_sha256(mac, key, key_len, &one, 1), SOTTO_OK);
    assert_hex(mac, c->mac_len, c->mac);

    /* The same MAC from the data split at every point into up to three parts. */
    for (size_t a = 0; a <= data_len; a += 7) {
        for (size_t b = a; b <= data_len; b += 11) {
            sotto_iov parts[3] = { { data, a }, { data + a, b - a }, { data + b, data_len - b } };
            uint8_t mac2[SOTTO_HMAC_SHA256_BYTES];
            assert_int_equal(sotto_hmac_sha256(mac2, key, key_len, parts, 3), SOTTO_OK);
            assert_memory_equal(mac2, mac, sizeof mac);
        }
    }
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    static const hmac_case cases[] = {
        { NULL, 20, 0x0b, "Hi There", 0, 0,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32 },
        { "4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32 },
        { NULL, 20, 0xaa, NULL, 50, 0xdd,
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32 },
        { "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL, 50, 0xcd,
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32 },
        { NULL, 20, 0x0c, "Test With Truncation", 0, 0,
          "a3b6167473100ee06e0c796c2955552b", 16 },
        { NULL, 131, 0xaa, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32 },
        { NULL, 131, 0xaa, "This is a test using a larger than block-size key and a larger "
          "than block-size data. The key needs to be hashed before being used by the HMAC "
          "algorithm.", 0, 0,
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_hmac(&cases[i]);
}

static void test_hmac_edges(void **state)
{
    (void)state;
    uint8_t mac[32], mac2[32];
    /* Empty key and empty message (checked against Python's hmac module). */
    assert_int_equal(sotto_hmac_sha256(mac, NULL, 0, NULL, 0), SOTTO_OK);
    assert_hex(mac, 32, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    /* An empty key after a keyed call must not reuse the old key. */
    const uint8_t k[3] = { 1, 2, 3 };
    assert_int_equal(sotto_hmac_sha256(mac2, k, sizeof k, NULL, 0), SOTTO_OK);
    assert_int_equal(sotto_hmac_sha256(mac2, (const uint8_t *)"", 0, NULL, 0), SOTTO_OK);
    assert_memory_equal(mac, mac2, 32);
    /* Bad arguments are refused and the output is zeroed. */
    sotto_iov bad = { NULL, 5 };
    memset(mac, 0xAA, sizeof mac);
    assert_int_equal(sotto_hmac_sha256(mac, k, 3, &bad, 1), SOTTO_ERR_INVALID_ARGUMENT);
    assert_true(sodium_is_zero(mac, sizeof mac));
    assert_int_equal(sotto_hmac_sha256(mac, NULL, 3, NULL, 0), SOTTO_ERR_INVALID_ARGUMENT);
}

/* ---- RFC 5869 ---- */

static void test_hkdf_rfc5869(void **state)
{
    (void)state;
    uint8_t ikm[80], salt[80], info[80], okm[82];
    /* Case 1 */
    memset(ikm, 0x0b, 22);
    for (int i = 0; i < 13; i++) salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++) info[i] = (uint8_t)(0xf0 + i);
    assert_int_equal(sotto_hkdf_sha256(okm, 42, salt, 13, ikm, 22, info, 10), SOTTO_OK);
    assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                        "34007208d5b887185865");
    /* Case 2 */
    for (int i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    assert_int_equal(sotto_hkdf_sha256(okm, 82, salt, 80, ikm, 80, info, 80), SOTTO_OK);
    assert_hex(okm, 82, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                        "cc30c58179ec3e87c14c01d5c1f3434f1d87");
    /* Case 3: no salt, no info. */
    memset(ikm, 0x0b, 22);
    assert_int_equal(sotto_hkdf_sha256(okm, 42, NULL, 0, ikm, 22, NULL, 0), SOTTO_OK);
    assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                        "9d201395faa4b61a96c8");
    /* An explicit zero salt of HashLen bytes is the same thing. */
    uint8_t zero[32] = { 0 }, okm2[42];
    assert_int_equal(sotto_hkdf_sha256(okm2, 42, zero, 32, ikm, 22, NULL, 0), SOTTO_OK);
    assert_memory_equal(okm, okm2, 42);
    /* A prefix of a longer output is the shorter output. */
    assert_int_equal(sotto_hkdf_sha256(okm2, 7, NULL, 0, ikm, 22, NULL, 0), SOTTO_OK);
    assert_memory_equal(okm, okm2, 7);
}

static void test_hkdf_limits(void **state)
{
    (void)state;
    static uint8_t big[255 * 32 + 1];
    uint8_t ikm[4] = { 1, 2, 3, 4 };
    assert_int_equal(sotto_hkdf_sha256(big, 255 * 32, NULL, 0, ikm, 4, NULL, 0), SOTTO_OK);
    assert_int_equal(sotto_hkdf_sha256(big, 255 * 32 + 1, NULL, 0, ikm, 4, NULL, 0),
                     SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_hkdf_sha256(big, 0, NULL, 0, ikm, 4, NULL, 0),
                     SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_hkdf_sha256(big, 32, NULL, 0, NULL, 4, NULL, 0),
                     SOTTO_ERR_INVALID_ARGUMENT);
}

/* ---- NIST SP 800-38A ---- */

static const char *nist_key = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
static const char *nist_pt = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                             "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

static void test_aes_cbc_nist(void **state)
{
    (void)state;
    uint8_t key[32], iv[16], pt[64], ct[80], back[80];
    size_t ct_len = 0, back_len = 0;
    unhex(key, sizeof key, nist_key);
    unhex(iv, sizeof iv, "000102030405060708090a0b0c0d0e0f");
    unhex(pt, sizeof pt, nist_pt);
    assert_int_equal(sotto_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, pt, 64), SOTTO_OK);
    assert_int_equal(ct_len, 80);
    /* F.2.5: the first four blocks; the fifth is our padding block. */
    assert_hex(ct, 64, "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
                       "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b");
    /* F.2.6: decryption gives the plaintext back. */
    assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 80),
                     SOTTO_OK);
    assert_int_equal(back_len, 64);
    assert_memory_equal(back, pt, 64);
    /* In place. */
    uint8_t buf[80];
    memcpy(buf, pt, 64);
    assert_int_equal(sotto_aes256_cbc_encrypt(buf, sizeof buf, &ct_len, key, iv, buf, 64), SOTTO_OK);
    assert_memory_equal(buf, ct, 80);
    assert_int_equal(sotto_aes256_cbc_decrypt(buf, sizeof buf, &back_len, key, iv, buf, 80), SOTTO_OK);
    assert_int_equal(back_len, 64);
    assert_memory_equal(buf, pt, 64);
}

static void test_aes_ctr_nist(void **state)
{
    (void)state;
    uint8_t key[32], iv[16], pt[64], ct[64];
    unhex(key, sizeof key, nist_key);
    unhex(iv, sizeof iv, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    unhex(pt, sizeof pt, nist_pt);
    assert_int_equal(sotto_aes256_ctr(ct, key, iv, pt, 64), SOTTO_OK);
    assert_hex(ct, 64, "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
                       "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
    /* F.5.6, in place, and a partial last block: decrypting 61 bytes. */
    assert_int_equal(sotto_aes256_ctr(ct, key, iv, ct, 61), SOTTO_OK);
    assert_memory_equal(ct, pt, 61);
    /* Each call starts again at the given IV (no keystream carried over). */
    uint8_t a[64], b[64];
    assert_int_equal(sotto_aes256_ctr(a, key, iv, pt, 17), SOTTO_OK);
    assert_int_equal(sotto_aes256_ctr(b, key, iv, pt, 17), SOTTO_OK);
    assert_memory_equal(a, b, 17);
}

/* ---- PKCS#7 ---- */

static void test_cbc_padding(void **state)
{
    (void)state;
    uint8_t key[32], iv[16], pt[48], ct[64], back[64];
    size_t ct_len, back_len;
    randombytes_buf(key, sizeof key);
    randombytes_buf(iv, sizeof iv);
    randombytes_buf(pt, sizeof pt);

    /* Every length 0..48 round-trips, with 1..16 bytes of padding. */
    for (size_t n = 0; n <= sizeof pt; n++) {
        assert_int_equal(sotto_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, pt, n), SOTTO_OK);
        assert_int_equal(ct_len, (n / 16 + 1) * 16);
        assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, ct_len),
                         SOTTO_OK);
        assert_int_equal(back_len, n);
        assert_memory_equal(back, pt, n);
    }
    /* Empty plaintext: one block of sixteen 0x10; exactly 16 bytes: a whole
     * extra block of padding. Both checked against OpenSSL's own padding. */
    for (size_t n = 0; n <= sizeof pt; n++) {
        uint8_t ref[64];
        int l1 = 0, l2 = 0;
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        assert_non_null(c);
        assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, iv), 1);
        assert_int_equal(EVP_EncryptUpdate(c, ref, &l1, pt, (int)n), 1);
        assert_int_equal(EVP_EncryptFinal_ex(c, ref + l1, &l2), 1);
        EVP_CIPHER_CTX_free(c);
        assert_int_equal(sotto_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, pt, n), SOTTO_OK);
        assert_int_equal(ct_len, (size_t)(l1 + l2));
        assert_memory_equal(ct, ref, ct_len);
    }
    assert_int_equal(sotto_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, NULL, 0), SOTTO_OK);
    assert_int_equal(ct_len, 16);
    assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 16), SOTTO_OK);
    assert_int_equal(back_len, 0);
    assert_int_equal(sotto_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, pt, 16), SOTTO_OK);
    assert_int_equal(ct_len, 32);

    /* Output capacity. */
    assert_int_equal(sotto_aes256_cbc_encrypt(ct, 31, &ct_len, key, iv, pt, 16),
                     SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ct_len, 0);
    assert_int_equal(sotto_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, pt, 20), SOTTO_OK);
    memset(back, 0xEE, sizeof back);
    assert_int_equal(sotto_aes256_cbc_decrypt(back, 19, &back_len, key, iv, ct, 32),
                     SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(back_len, 0);
    for (size_t i = 0; i < 19; i++) /* nothing written */
        assert_int_equal(back[i], 0xEE);
    assert_int_equal(sotto_aes256_cbc_decrypt(back, 20, &back_len, key, iv, ct, 32), SOTTO_OK);
    assert_int_equal(back_len, 20);

    /* Lengths that are not whole blocks. */
    assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 0),
                     SOTTO_ERR_MALFORMED);
    assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 31),
                     SOTTO_ERR_MALFORMED);
}

/* Encrypts 32 raw bytes (one plaintext block and a chosen last block) with
 * AES-CBC and no padding of our own: build the plaintext so our encrypt pads
 * a 32-byte input and then drop the padding block. */
static void cbc_raw(uint8_t ct[32], const uint8_t key[32], const uint8_t iv[16], const uint8_t pt[32])
{
    uint8_t tmp[48];
    size_t n;
    assert_int_equal(sotto_aes256_cbc_encrypt(tmp, sizeof tmp, &n, key, iv, pt, 32), SOTTO_OK);
    memcpy(ct, tmp, 32);
}

static void test_cbc_bad_padding(void **state)
{
    (void)state;
    uint8_t key[32], iv[16], pt[32], ct[32], back[32];
    size_t back_len;
    randombytes_buf(key, sizeof key);
    randombytes_buf(iv, sizeof iv);
    randombytes_buf(pt, 16);

    /* Every valid last block decrypts; then each kind of bad padding fails. */
    for (unsigned pad = 1; pad <= 16; pad++) {
        memset(pt + 16, 0x5A, 16);
        memset(pt + 32 - pad, (int)pad, pad);
        cbc_raw(ct, key, iv, pt);
        assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 32),
                         SOTTO_OK);
        assert_int_equal(back_len, 32 - pad);
        assert_memory_equal(back, pt, back_len);

        /* One wrong byte anywhere inside the padding run. */
        for (unsigned j = 0; j < pad - 1; j++) {
            uint8_t bad[32];
            memcpy(bad, pt, 32);
            bad[32 - pad + j] ^= 0x01;
            cbc_raw(ct, key, iv, bad);
            memset(back, 0xEE, sizeof back);
            assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 32),
                             SOTTO_ERR_BAD_MAC);
            assert_int_equal(back_len, 0);
            for (size_t k = 0; k < sizeof back; k++) /* nothing written */
                assert_int_equal(back[k], 0xEE);
        }
    }
    /* Pad byte 0, and pad bytes above 16 (17, 0x80, 0xFF), all-equal runs. */
    static const uint8_t bad_pads[] = { 0, 17, 0x20, 0x80, 0xFF };
    for (size_t i = 0; i < sizeof bad_pads; i++) {
        memset(pt + 16, bad_pads[i], 16);
        cbc_raw(ct, key, iv, pt);
        assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 32),
                         SOTTO_ERR_BAD_MAC);
        assert_int_equal(back_len, 0);
    }
    /* Sixteen bytes of 0x10 but the first is 0x0F: pad 16 with one bad byte is
     * covered above; pad 0x10 where the run is only 15 long: */
    memset(pt + 16, 0x10, 16);
    pt[16] = 0x0F;
    cbc_raw(ct, key, iv, pt);
    assert_int_equal(sotto_aes256_cbc_decrypt(back, sizeof back, &back_len, key, iv, ct, 32),
                     SOTTO_ERR_BAD_MAC);
}

/* ---- RFC 7748 ---- */

static void x25519_kat(const char *k_hex, const char *u_hex, const char *out_hex)
{
    uint8_t k[32], u[32], out[32];
    unhex(k, 32, k_hex);
    unhex(u, 32, u_hex);
    assert_int_equal(sotto_x25519(out, k, u), SOTTO_OK);
    assert_hex(out, 32, out_hex);
}

static void test_x25519_rfc7748(void **state)
{
    (void)state;
    x25519_kat("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
               "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
               "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
    /* Second vector: u has its top bit set, which X25519 ignores. */
    x25519_kat("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
               "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
               "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
    /* Section 6.1: the Diffie-Hellman example. */
    const char *a_priv = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const char *a_pub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    const char *b_priv = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    const char *b_pub = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    const char *shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    x25519_kat(a_priv, b_pub, shared);
    x25519_kat(b_priv, a_pub, shared);
    uint8_t nine[32] = { 9 };
    uint8_t k[32], out[32];
    unhex(k, 32, a_priv);
    assert_int_equal(sotto_x25519(out, k, nine), SOTTO_OK);
    assert_hex(out, 32, a_pub);

    /* Section 5.2 iterations: 1 and 1000. */
    uint8_t u[32] = { 9 }, kk[32] = { 9 }, nk[32];
    for (int i = 1; i <= 1000; i++) {
        assert_int_equal(sotto_x25519(nk, kk, u), SOTTO_OK);
        memcpy(u, kk, 32);
        memcpy(kk, nk, 32);
        if (i == 1)
            assert_hex(kk, 32, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
    assert_hex(kk, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

static void test_x25519_low_order(void **state)
{
    (void)state;
    /* Points of order 1, 2, 4 and 8, some in non-canonical encodings: each
     * gives an all-zero shared secret for every clamped scalar. */
    static const char *low[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };
    uint8_t priv[32], pub[32], u[32], out[32];
    sotto_x25519_keypair(pub, priv);
    for (size_t i = 0; i < sizeof low / sizeof low[0]; i++) {
        unhex(u, 32, low[i]);
        memset(out, 0xAB, sizeof out);
        assert_int_equal(sotto_x25519(out, priv, u), SOTTO_ERR_INVALID_KEY);
        assert_true(sodium_is_zero(out, sizeof out));
    }
}

static void test_x25519_keypair(void **state)
{
    (void)state;
    uint8_t a_pub[32], a_priv[32], b_pub[32], b_priv[32], s1[32], s2[32];
    for (int i = 0; i < 20; i++) {
        sotto_x25519_keypair(a_pub, a_priv);
        sotto_x25519_keypair(b_pub, b_priv);
        /* Stored clamped, as libsignal stores private keys. */
        assert_int_equal(a_priv[0] & 7, 0);
        assert_int_equal(a_priv[31] & 0xC0, 0x40);
        assert_int_equal(sotto_x25519(s1, a_priv, b_pub), SOTTO_OK);
        assert_int_equal(sotto_x25519(s2, b_priv, a_pub), SOTTO_OK);
        assert_memory_equal(s1, s2, 32);
    }
}

static void test_ct_equal(void **state)
{
    (void)state;
    uint8_t a[40], b[40];
    randombytes_buf(a, sizeof a);
    memcpy(b, a, sizeof a);
    assert_int_equal(sotto_ct_equal(a, b, sizeof a), 1);
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x80;
        assert_int_equal(sotto_ct_equal(a, b, sizeof a), 0);
        b[i] ^= 0x80;
    }
    assert_int_equal(sotto_ct_equal(a, b, 0), 1);
}

/* Contexts are per thread: several threads hashing at once agree. */
static void *thread_main(void *arg)
{
    uint8_t *out = arg;
    const uint8_t key[4] = { 'J', 'e', 'f', 'e' };
    const char *msg = "what do ya want for nothing?";
    sotto_iov iov = { (const uint8_t *)msg, strlen(msg) };
    for (int i = 0; i < 200; i++) {
        if (sotto_hmac_sha256(out, key, sizeof key, &iov, 1) != SOTTO_OK)
            memset(out, 0, 32);
        uint8_t okm[80];
        if (sotto_hkdf_sha256(okm, sizeof okm, NULL, 0, key, 4, NULL, 0) != SOTTO_OK)
            memset(out, 0, 32);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t th[N];
    uint8_t out[N][32];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, out[i]), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_hex(out[i], 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_edges),
        cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_hkdf_limits),
        cmocka_unit_test(test_aes_cbc_nist),
        cmocka_unit_test(test_aes_ctr_nist),
        cmocka_unit_test(test_cbc_padding),
        cmocka_unit_test(test_cbc_bad_padding),
        cmocka_unit_test(test_x25519_rfc7748),
        cmocka_unit_test(test_x25519_low_order),
        cmocka_unit_test(test_x25519_keypair),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
