/* XEdDSA and the public key API, cross-checked against an independent
 * implementation: Debian's libsignal-protocol-c (curve25519_sign /
 * curve25519_verify / curve25519_donna / curve25519_keygen from its
 * curve_sigs.c), loaded with dlopen at run time so that only this test
 * touches it. Plus libsignal's own signature vector (rust/core/src/curve/
 * curve25519.rs, test_signature) and the edge cases of its verifier. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <sodium.h>

#include "sotto/keys.h"
#include "crypto/kyber1024.h"
#include "crypto/primitives.h"
#include "crypto/xeddsa.h"

#define ITERATIONS      300
#define THEIR_MAX_MSG   256 /* curve_sigs.h MAX_MSG_LEN in some versions */
#define LIBSIGNAL_C     "libsignal-protocol-c.so.2.3.3"

typedef int (*sign_fn)(unsigned char *, const unsigned char *, const unsigned char *,
                       unsigned long, const unsigned char *);
typedef int (*verify_fn)(const unsigned char *, const unsigned char *, const unsigned char *,
                         unsigned long);
typedef int (*donna_fn)(uint8_t *, const uint8_t *, const uint8_t *);
typedef void (*keygen_fn)(unsigned char *, const unsigned char *);

static struct {
    void *dl;
    sign_fn sign;
    verify_fn verify;
    donna_fn donna;
    keygen_fn keygen;
} their;

static int setup(void **state)
{
    (void)state;
    if (sotto_init() != SOTTO_OK)
        return -1;
    their.dl = dlopen(LIBSIGNAL_C, RTLD_NOW | RTLD_LOCAL);
    if (their.dl == NULL)
        their.dl = dlopen("libsignal-protocol-c.so", RTLD_NOW | RTLD_LOCAL);
    if (their.dl == NULL) {
        fprintf(stderr, "cannot load libsignal-protocol-c (Debian libsignal-protocol-c-dev): %s\n",
                dlerror());
        return -1;
    }
    /* POSIX: converting a dlsym result to a function pointer is allowed. */
    *(void **)&their.sign = dlsym(their.dl, "curve25519_sign");
    *(void **)&their.verify = dlsym(their.dl, "curve25519_verify");
    *(void **)&their.donna = dlsym(their.dl, "curve25519_donna");
    *(void **)&their.keygen = dlsym(their.dl, "curve25519_keygen");
    if (!their.sign || !their.verify || !their.donna || !their.keygen) {
        fprintf(stderr, "libsignal-protocol-c lacks the curve_sigs.c symbols\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (their.dl != NULL)
        dlclose(their.dl);
    return 0;
}

static void unhex(uint8_t *out, size_t len, const char *hex)
{
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &n, NULL), 0);
    assert_int_equal(n, len);
}

static void random_key(uint8_t pub33[SOTTO_EC_PUBLIC_BYTES], uint8_t priv[32])
{
    assert_int_equal(sotto_ec_keypair(pub33, priv), SOTTO_OK);
}

/* libsignal's own vector: Alice's identity key signs her 33-byte ephemeral key. */
static void test_libsignal_vector(void **state)
{
    (void)state;
    uint8_t priv[32], pub[33], msg[33], sig[64], derived[33];
    unhex(priv, 32, "c097248412e58bf05df487968205132794178e367637f5818f81e0e6ce73e865");
    pub[0] = SOTTO_KEY_TYPE_DJB;
    unhex(pub + 1, 32, "ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64");
    unhex(msg, 33, "05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a");
    unhex(sig, 64, "5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfb"
                   "ede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88");
    assert_int_equal(sotto_ec_public_from_private(derived, priv), SOTTO_OK);
    assert_memory_equal(derived, pub, 33);
    assert_int_equal(sotto_verify(pub, msg, sizeof msg, sig), SOTTO_OK);
    assert_int_equal(their.verify(sig, pub + 1, msg, sizeof msg), 0);
    /* Every single-bit flip of the signature fails (as in libsignal's test),
     * and so does every bit flip of the message and of the key. */
    for (size_t i = 0; i < 64 * 8; i++) {
        sig[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(sotto_verify(pub, msg, sizeof msg, sig), SOTTO_ERR_BAD_SIGNATURE);
        sig[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t i = 0; i < 33 * 8; i++) {
        msg[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(sotto_verify(pub, msg, sizeof msg, sig), SOTTO_ERR_BAD_SIGNATURE);
        msg[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t i = 8; i < 32 * 8 + 7; i++) { /* bit 255 of u is ignored: see below */
        pub[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(sotto_verify(pub, msg, sizeof msg, sig), SOTTO_ERR_BAD_SIGNATURE);
        pub[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
}

/* Signatures made by the real libsignal: @signalapp/libsignal-client 0.103.0,
 * PrivateKey.generate() / sign() (each with its own random Z), three with the
 * Edwards sign bit set and three without. */
static const struct { const char *priv, *pub, *msg, *sig; } libsignal_0103[] = {
    { "801ae5239172d44ce975ac59fe3e0c8ad99a9829e2d9a4b1e8788b95368cff50",
      "0556055c23104216e78c04e44ab40704ea68de6448dc636fa9fb0d588846690a59",
      "833c0f9d5d8f7121faebd9741f4668cce9",
      "fa51372a0b828045e53c9a8a3406e16e7f88b31c20d10a4fe1d86d5f271d0d8b"
      "d2650f73756495ba6b4ca21f45c78f2a88dde8686ca96e083687a8104c2c8787" },
    { "887be572392bc6528626807a50f758aa944af3df38f33dfa3bce81045171b857",
      "05746427bae7f9d28ec48674684edbc3c332e9be8c21b041f35dd973ab0789b730",
      "afc0d68b0993716c166772e880b17633fcf7440e16fad9fc7f8bd8402b9c35f85f",
      "39a0b389b88ed2a469985972af0f2b5768c1af387bc9f1eed9e2103f537bbfd4"
      "88fbe65a698f495c80779afc21c932a00f17130c65680d0ca910d17c0be1fe06" },
    { "2082413f861d9c0b73cbb8df15dd26c526ca577c1ad9c5e8cd2ac7c73dce6464",
      "05ea647695ec65019a803bd6ae42ce5f137c1d1a7b0fc8b2aeee21463fe1fd5c3b",
      "b113fcc33f7070544ecfcaa4c3104c9524",
      "4918a1330dbeb6a06fd6d3e63cbe22963dfb5c8a927fcb854e5025a929fbe82d"
      "8f0a22ed15b4fb03e396a8067a6bb21166eda73a591758e70c4a5821f6d12d8a" },
    { "3870c024147f600d2c2f6be562706d06d13af1e54c40f633496cf6e43881275d",
      "055655808cf16530cb6b93393080c438d259f90b4affa6d6e6d360f3fbbf14907c",
      "f9b174649689e6127cbb5e40d084cd30aa68ec1ef7f170f913d487b7a900592aa4",
      "ac0012f2d04a594495d0a1d7a6a94bb050e302aa156ed6d5b941c62232bce61b"
      "3b0ec0777a40aade15d8ba7e4d24f34a927f5ae461f4917b61232a451bbf738d" },
    { "908e7943668b60b6cce1c11fce078cab051624e8f88e7873855dab3b53af7663",
      "05b8e6d282bc67bc823889fab330ace8330874c92af23921932913c9d59f669124",
      "c160a0e3ce11fac6a94b35cf4c5fb0a72f",
      "58eb39dfa44a63809c09165a29881fd39db4837ec14de86059c08c119e8dfbe7"
      "360dcd5a7a573598162f40483bb8ae794dac9e004bc9944389812b7cae185905" },
    { "409493566ab2bcaa992a7288c73920c5d33d5ad00a33e5339fdc5101b257525f",
      "053f20451374030b73ea8d5f5e1c82c9658616090b69816a407ca75a41697d621f",
      "6be022770f9f637a39caf83b3ce3f3d20bca8e65a17c32309226c715306efd1ed8",
      "f1ca66b6647c1c97c530f8e4e0d5bfe9f1876611b553933860aa615c0ccd2fdf"
      "a43cd64c071b0b2396c8583b0d5badc9792d9ef74adafcd224d8e6d53fe2180d" },
};

static void test_libsignal_0103_signatures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof libsignal_0103 / sizeof libsignal_0103[0]; i++) {
        uint8_t priv[32], pub[33], derived[33], msg[33], sig[64];
        const size_t msg_len = strlen(libsignal_0103[i].msg) / 2;
        unhex(priv, 32, libsignal_0103[i].priv);
        unhex(pub, 33, libsignal_0103[i].pub);
        unhex(msg, msg_len, libsignal_0103[i].msg);
        unhex(sig, 64, libsignal_0103[i].sig);
        assert_int_equal(sotto_ec_public_from_private(derived, priv), SOTTO_OK);
        assert_memory_equal(derived, pub, 33);
        assert_int_equal(sotto_verify(pub, msg, msg_len, sig), SOTTO_OK);
        assert_int_equal(their.verify(sig, pub + 1, msg, msg_len), 0);
        sig[63] ^= 0x80;
        assert_int_equal(sotto_verify(pub, msg, msg_len, sig), SOTTO_ERR_BAD_SIGNATURE);
    }
}

/* Same key, message and Z: byte-identical to libsignal-protocol-c's signer,
 * which computes libsignal's variant (no negation, sign bit in sig[63]). */
static void test_same_bytes_as_libsignal_c(void **state)
{
    (void)state;
    uint8_t pub[33], priv[32], z[64], msg[THEIR_MAX_MSG], ours[64], theirs[64];
    for (int it = 0; it < ITERATIONS; it++) {
        random_key(pub, priv);
        randombytes_buf(z, sizeof z);
        size_t len = randombytes_uniform(THEIR_MAX_MSG + 1);
        randombytes_buf(msg, len);
        assert_int_equal(sotto_xeddsa_sign(ours, priv, msg, len, z), 0);
        assert_int_equal(their.sign(theirs, priv, msg, len, z), 0);
        assert_memory_equal(ours, theirs, 64);
    }
}

static void test_cross_verify(void **state)
{
    (void)state;
    uint8_t pub[33], priv[32], z[64], msg[THEIR_MAX_MSG], sig[64];
    int sign_bits = 0;
    for (int it = 0; it < ITERATIONS; it++) {
        random_key(pub, priv);
        size_t len = randombytes_uniform(THEIR_MAX_MSG + 1);
        randombytes_buf(msg, len);

        /* Theirs verifies ours. */
        assert_int_equal(sotto_sign(sig, priv, msg, len), SOTTO_OK);
        sign_bits += sig[63] >> 7;
        assert_int_equal(their.verify(sig, pub + 1, msg, len), 0);
        assert_int_equal(sotto_verify(pub, msg, len, sig), SOTTO_OK);

        /* Ours verifies theirs. */
        randombytes_buf(z, sizeof z);
        assert_int_equal(their.sign(sig, priv, msg, len, z), 0);
        assert_int_equal(sotto_verify(pub, msg, len, sig), SOTTO_OK);

        /* Tampering: a signature bit, a message bit, another key: both refuse. */
        uint8_t bad[64];
        memcpy(bad, sig, 64);
        size_t bit = randombytes_uniform(512);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(sotto_verify(pub, msg, len, bad), SOTTO_ERR_BAD_SIGNATURE);
        assert_int_not_equal(their.verify(bad, pub + 1, msg, len), 0);
        if (len > 0) {
            size_t mb = randombytes_uniform((uint32_t)(len * 8));
            msg[mb / 8] ^= (uint8_t)(1u << (mb % 8));
            assert_int_equal(sotto_verify(pub, msg, len, sig), SOTTO_ERR_BAD_SIGNATURE);
            assert_int_not_equal(their.verify(sig, pub + 1, msg, len), 0);
            msg[mb / 8] ^= (uint8_t)(1u << (mb % 8));
        }
        uint8_t other[33], other_priv[32];
        random_key(other, other_priv);
        assert_int_equal(sotto_verify(other, msg, len, sig), SOTTO_ERR_BAD_SIGNATURE);
        assert_int_not_equal(their.verify(sig, other + 1, msg, len), 0);
    }
    /* The Edwards sign bit is 0 or 1 about half the time each: both paths ran. */
    assert_true(sign_bits > 0 && sign_bits < ITERATIONS);
}

/* Longer messages than curve_sigs.h's old 256-byte limit: ours alone, and
 * theirs when its build accepts them. */
static void test_long_messages(void **state)
{
    (void)state;
    static uint8_t msg[4096];
    uint8_t pub[33], priv[32], sig[64], z[64], theirs[64];
    random_key(pub, priv);
    randombytes_buf(msg, sizeof msg);
    randombytes_buf(z, sizeof z);
    assert_int_equal(sotto_xeddsa_sign(sig, priv, msg, sizeof msg, z), 0);
    assert_int_equal(sotto_verify(pub, msg, sizeof msg, sig), SOTTO_OK);
    if (their.sign(theirs, priv, msg, sizeof msg, z) == 0)
        assert_memory_equal(sig, theirs, 64);
    assert_int_equal(their.verify(sig, pub + 1, msg, sizeof msg), 0);
    /* The Kyber prekey signature covers 0x08 || pk, 1569 bytes. */
    assert_int_equal(sotto_sign(sig, priv, msg, SOTTO_KYBER_PUBLIC_BYTES), SOTTO_OK);
    assert_int_equal(sotto_verify(pub, msg, SOTTO_KYBER_PUBLIC_BYTES, sig), SOTTO_OK);
    /* Empty message, NULL pointer. */
    assert_int_equal(sotto_sign(sig, priv, NULL, 0), SOTTO_OK);
    assert_int_equal(sotto_verify(pub, NULL, 0, sig), SOTTO_OK);
    assert_int_equal(their.verify(sig, pub + 1, (const unsigned char *)"", 0), 0);
}

/* l, little-endian. */
static const uint8_t L[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* The edges of libsignal's verifier (curve25519.rs verify_signature). The two
 * acceptances below (s + l, and u with bit 255 set) were also confirmed
 * against @signalapp/libsignal-client 0.103.0 from Node: 50 of 50 such
 * signatures made by sotto verified there, as did 50 plain ones, and 50
 * tampered ones were refused. */
static void test_verifier_edges(void **state)
{
    (void)state;
    uint8_t pub[33], priv[32], msg[40], sig[64], bad[64];
    random_key(pub, priv);
    randombytes_buf(msg, sizeof msg);
    assert_int_equal(sotto_sign(sig, priv, msg, sizeof msg), SOTTO_OK);

    /* s + l (< 2^253 since s < l < 2^253 / 2): libsignal reduces s mod l and
     * accepts it; so do we. */
    memcpy(bad, sig, 64);
    bad[63] &= 0x7F;
    sodium_add(bad + 32, L, 32);
    assert_int_equal(bad[63] & 0xE0, 0);
    bad[63] |= sig[63] & 0x80;
    assert_int_equal(sotto_verify(pub, msg, sizeof msg, bad), SOTTO_OK);
    /* Bit 253 or 254 of s set: refused before any arithmetic. */
    for (int b = 0x20; b <= 0x40; b <<= 1) {
        memcpy(bad, sig, 64);
        bad[63] |= (uint8_t)b;
        assert_int_equal(sotto_verify(pub, msg, sizeof msg, bad), SOTTO_ERR_BAD_SIGNATURE);
    }
    /* The other sign bit names the negated key: refused. */
    memcpy(bad, sig, 64);
    bad[63] ^= 0x80;
    assert_int_equal(sotto_verify(pub, msg, sizeof msg, bad), SOTTO_ERR_BAD_SIGNATURE);

    /* Bit 255 of u is ignored by libsignal (dalek FieldElement::from_bytes),
     * so the key with it set verifies the same signature. (libsignal-protocol-c
     * refuses such keys; libsignal, the peer we must match, does not.) */
    uint8_t hi[33];
    memcpy(hi, pub, 33);
    hi[32] |= 0x80;
    assert_int_equal(sotto_verify(hi, msg, sizeof msg, sig), SOTTO_OK);

    /* u = p - 1 (= -1) has no Edwards image; u = 0 and u = 1 are small order. */
    uint8_t u[33] = { SOTTO_KEY_TYPE_DJB };
    memset(u + 1, 0xFF, 32);
    u[1] = 0xEC;
    u[32] = 0x7F;
    assert_int_equal(sotto_verify(u, msg, sizeof msg, sig), SOTTO_ERR_BAD_SIGNATURE);
    memset(u + 1, 0, 32);
    assert_int_equal(sotto_verify(u, msg, sizeof msg, sig), SOTTO_ERR_BAD_SIGNATURE);
    u[1] = 1;
    assert_int_equal(sotto_verify(u, msg, sizeof msg, sig), SOTTO_ERR_BAD_SIGNATURE);
    /* A u not on the curve (on the twist): y has no x, refused. u = 2 is on
     * the twist for Curve25519 (2^3 + A*2^2 + 2 is not a square mod p). */
    u[1] = 2;
    assert_int_equal(sotto_verify(u, msg, sizeof msg, sig), SOTTO_ERR_BAD_SIGNATURE);

    /* Key format. */
    uint8_t wrong[33];
    memcpy(wrong, pub, 33);
    wrong[0] = 0x06;
    assert_int_equal(sotto_verify(wrong, msg, sizeof msg, sig), SOTTO_ERR_INVALID_KEY);
    assert_int_equal(sotto_verify(NULL, msg, sizeof msg, sig), SOTTO_ERR_INVALID_KEY);
    assert_int_equal(sotto_verify(pub, NULL, 3, sig), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_sign(sig, priv, NULL, 3), SOTTO_ERR_INVALID_ARGUMENT);
    assert_true(sodium_is_zero(sig, 64));
}

/* The Montgomery-to-Edwards map against OpenSSL BIGNUM arithmetic. */
static int reference_y(uint8_t y_out[32], const uint8_t u_in[32])
{
    uint8_t ub[32];
    memcpy(ub, u_in, 32);
    ub[31] &= 0x7F;
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p = BN_new(), *u = BN_new(), *num = BN_new(), *den = BN_new(), *y = BN_new();
    assert_non_null(ctx);
    assert_non_null(y);
    assert_true(BN_set_bit(p, 255) && BN_sub_word(p, 19));
    assert_non_null(BN_lebin2bn(ub, 32, u));
    assert_true(BN_nnmod(u, u, p, ctx));
    assert_true(BN_mod_sub(num, u, BN_value_one(), p, ctx));
    assert_true(BN_mod_add(den, u, BN_value_one(), p, ctx));
    int rc = -1;
    if (!BN_is_zero(den)) {
        assert_non_null(BN_mod_inverse(den, den, p, ctx));
        assert_true(BN_mod_mul(y, num, den, p, ctx));
        assert_int_equal(BN_bn2lebinpad(y, y_out, 32), 32);
        rc = 0;
    }
    BN_free(p); BN_free(u); BN_free(num); BN_free(den); BN_free(y);
    BN_CTX_free(ctx);
    return rc;
}

static void test_mont_to_edwards(void **state)
{
    (void)state;
    /* Edges: 0, 1, 2, p-2, p-1 (= -1), p, p+1, 2^255-1, and each with bit 255. */
    static const char *edges[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0200000000000000000000000000000000000000000000000000000000000000",
        "ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "0000000000000000000000000000000000000000000000000000000000000080",
    };
    uint8_t u[32], got[32], want[32];
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        unhex(u, 32, edges[i]);
        for (int top = 0; top < 2; top++) {
            u[31] = (uint8_t)(top ? u[31] | 0x80 : u[31] & 0x7F);
            int r1 = reference_y(want, u);
            int r2 = sotto_xeddsa_mont_to_ed_y(got, u);
            assert_int_equal(r1, r2);
            if (r1 == 0)
                assert_memory_equal(got, want, 32);
        }
    }
    for (int it = 0; it < 2000; it++) {
        randombytes_buf(u, sizeof u);
        if (it % 4 == 1) /* values just below 2^255, i.e. in [p, 2^255) often */
            memset(u + 1, 0xFF, 31);
        if (it % 4 == 2) /* small values */
            memset(u + 1, 0, 31);
        int r1 = reference_y(want, u); /* -1 when u happens to be -1 mod p */
        assert_int_equal(sotto_xeddsa_mont_to_ed_y(got, u), r1);
        if (r1 == 0)
            assert_memory_equal(got, want, 32);
    }
}

/* Signing uses the clamped key, as libsignal (which clamps on load) does. */
static void test_unclamped_key(void **state)
{
    (void)state;
    uint8_t pub[33], priv[32], raw[32], z[64], a[64], b[64];
    random_key(pub, priv);
    memcpy(raw, priv, 32);
    raw[0] |= 7;
    raw[31] |= 0x80;
    raw[31] &= (uint8_t)~0x40;
    randombytes_buf(z, sizeof z);
    assert_int_equal(sotto_xeddsa_sign(a, priv, (const uint8_t *)"m", 1, z), 0);
    assert_int_equal(sotto_xeddsa_sign(b, raw, (const uint8_t *)"m", 1, z), 0);
    assert_memory_equal(a, b, 64);
    uint8_t derived[33];
    assert_int_equal(sotto_ec_public_from_private(derived, raw), SOTTO_OK);
    assert_memory_equal(derived, pub, 33);
}

/* Key pairs and X25519 against libsignal-protocol-c's donna and keygen. */
static void test_keys_vs_libsignal_c(void **state)
{
    (void)state;
    for (int it = 0; it < ITERATIONS / 3; it++) {
        uint8_t a_pub[33], a_priv[32], b_pub[33], b_priv[32], derived[33];
        uint8_t ours[32], theirs[32], their_pub[32];
        random_key(a_pub, a_priv);
        random_key(b_pub, b_priv);
        assert_int_equal(a_pub[0], SOTTO_KEY_TYPE_DJB);
        assert_int_equal(sotto_ec_public_from_private(derived, a_priv), SOTTO_OK);
        assert_memory_equal(derived, a_pub, 33);
        their.keygen(their_pub, a_priv); /* via the Edwards map: independent */
        assert_memory_equal(their_pub, a_pub + 1, 32);
        assert_int_equal(sotto_x25519(ours, a_priv, b_pub + 1), SOTTO_OK);
        assert_int_equal(their.donna(theirs, a_priv, b_pub + 1), 0);
        assert_memory_equal(ours, theirs, 32);
    }
}

static void test_kyber_keypair(void **state)
{
    (void)state;
    static uint8_t pub[SOTTO_KYBER_PUBLIC_BYTES], sec[SOTTO_KYBER_SECRET_BYTES];
    static uint8_t ct[KYBER1024_CIPHERTEXTBYTES];
    uint8_t ss1[KYBER1024_SSBYTES], ss2[KYBER1024_SSBYTES];
    assert_int_equal(sotto_kyber_keypair(pub, sec), SOTTO_OK);
    assert_int_equal(pub[0], SOTTO_KEY_TYPE_KYBER1024);
    assert_int_equal(sec[0], SOTTO_KEY_TYPE_KYBER1024);
    /* Round-3 Kyber's secret key embeds the public key after the 1536-byte
     * polynomial vector: the two halves belong together. */
    assert_memory_equal(sec + 1 + 1536, pub + 1, KYBER1024_PUBLICKEYBYTES);
    sotto_kyber1024_enc(ct, ss1, pub + 1);
    sotto_kyber1024_dec(ss2, ct, sec + 1);
    assert_memory_equal(ss1, ss2, sizeof ss1);
    assert_int_equal(sotto_kyber_keypair(NULL, sec), SOTTO_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libsignal_vector),
        cmocka_unit_test(test_libsignal_0103_signatures),
        cmocka_unit_test(test_same_bytes_as_libsignal_c),
        cmocka_unit_test(test_cross_verify),
        cmocka_unit_test(test_long_messages),
        cmocka_unit_test(test_verifier_edges),
        cmocka_unit_test(test_mont_to_edwards),
        cmocka_unit_test(test_unclamped_key),
        cmocka_unit_test(test_keys_vs_libsignal_c),
        cmocka_unit_test(test_kyber_keypair),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
