/* XEdDSA as libsignal computes and checks it, on libsodium's Ed25519 arithmetic.
 *
 * Facts read from signalapp/libsignal rust/core/src/curve/curve25519.rs
 * (PrivateKey::calculate_signature / verify_signature, 2025-26):
 * - Private keys are clamped when loaded (PrivateKey::from clamps), and the
 *   clamped bytes are both the scalar a and the "key_data" hashed into r.
 * - Signing does NOT negate a to force the Edwards sign bit to 0 (the XEdDSA
 *   paper does): A = a*B keeps its sign, and that sign bit is stored in
 *   sig[63] & 0x80, which is free because s < l < 2^253. So there is no
 *   secret-dependent negation at all; the sign bit is public (it is in the
 *   signature).
 *     r = SHA512(0xFE || 0xFF*31 || key_data || M || Z) mod l
 *     R = r*B,  h = SHA512(R || A || M) mod l,  s = h*a + r mod l
 *     sig = R || s, then sig[63] = (sig[63] & 0x7F) | (A[31] & 0x80)
 * - Verification: u is read as a field element ignoring bit 255 and values
 *   >= p are taken mod p (curve25519-dalek FieldElement::from_bytes); u = -1
 *   is rejected; y = (u-1)/(u+1); the Edwards point is decompressed from y
 *   with the sign bit sig[63] >> 7 (no such point: reject); in s the top bit
 *   is cleared, then s is rejected if bit 253 or 254 is set, otherwise reduced
 *   mod l (so s in [l, 2^253) is accepted, unlike RFC 8032); then
 *   R' = s*B - h*A with h = SHA512(R || A || M) mod l, cofactorless, and R'
 *   compressed must equal the signature's R bytes.
 * Here: the same u handling and s handling, then libsodium's
 * crypto_sign_ed25519_verify_detached with the reduced s, which computes the
 * same h and the same byte comparison. Deliberately stricter than libsignal in
 * two cases no honest signer produces: libsodium refuses a public key whose
 * Edwards point has small order (libsignal accepts forgeries for those, they
 * need no private key) and an R of small order.
 */
#include <string.h>

#include <openssl/bn.h>
#include <sodium.h>

#include "crypto/xeddsa.h"

#define ED25519_BYTES     32
#define SCALAR_WIDE_BYTES 64
#define SIGN_BIT          0x80
#define S_HIGH_BITS       0xE0 /* bits 253..255 of s; 255 is the sign bit */

static void clamp(uint8_t k[32])
{
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
}

/* scalar*B. libsodium's crypto_scalarmult_ed25519_base_noclamp ends with a
 * branch on "result is the identity or scalar is zero" (a negligible event
 * for r, impossible for a clamped a). That one branch is the only report of
 * the constant-time pass, and tests/ct/valgrind.supp names this function to
 * suppress exactly it: keep the call alone in here, out of line and out of
 * tail position, so this frame shows in valgrind's stack. */
__attribute__((noinline))
static int ed25519_base_mult(uint8_t out[ED25519_BYTES], const uint8_t scalar[ED25519_BYTES])
{
    const int rc = crypto_scalarmult_ed25519_base_noclamp(out, scalar);
    __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
    return rc;
}

int sotto_xeddsa_sign(uint8_t sig[SOTTO_XEDDSA_SIGNATURE_BYTES], const uint8_t priv[32],
                      const uint8_t *msg, size_t msg_len,
                      const uint8_t random64[SOTTO_XEDDSA_RANDOM_BYTES])
{
    static const uint8_t prefix[32] = {
        0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    };
    static const uint8_t empty;
    uint8_t key[SCALAR_WIDE_BYTES] = { 0 }; /* clamped key_data, zero-extended */
    uint8_t a[ED25519_BYTES], A[ED25519_BYTES];
    uint8_t wide[SCALAR_WIDE_BYTES], r[ED25519_BYTES], R[ED25519_BYTES];
    uint8_t h[ED25519_BYTES], ha[ED25519_BYTES], s[ED25519_BYTES];
    crypto_hash_sha512_state st;
    int rc = 0;

    if (msg == NULL)
        msg = &empty; /* msg_len is 0 */
    memset(sig, 0, SOTTO_XEDDSA_SIGNATURE_BYTES);

    /* a: the clamped key as a scalar mod l; A = a*B with its sign bit. */
    memcpy(key, priv, 32);
    clamp(key);
    crypto_core_ed25519_scalar_reduce(a, key);
    rc |= ed25519_base_mult(A, a);
    const uint8_t sign_bit = A[31] & SIGN_BIT;

    /* r = SHA512(0xFE || 0xFF*31 || key_data || M || Z) mod l; R = r*B. */
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, prefix, sizeof prefix);
    crypto_hash_sha512_update(&st, key, 32);
    crypto_hash_sha512_update(&st, msg, msg_len);
    crypto_hash_sha512_update(&st, random64, SOTTO_XEDDSA_RANDOM_BYTES);
    crypto_hash_sha512_final(&st, wide);
    crypto_core_ed25519_scalar_reduce(r, wide);
    rc |= ed25519_base_mult(R, r);

    /* h = SHA512(R || A || M) mod l; s = h*a + r mod l. */
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, R, sizeof R);
    crypto_hash_sha512_update(&st, A, sizeof A);
    crypto_hash_sha512_update(&st, msg, msg_len);
    crypto_hash_sha512_final(&st, wide);
    crypto_core_ed25519_scalar_reduce(h, wide);
    crypto_core_ed25519_scalar_mul(ha, h, a);
    crypto_core_ed25519_scalar_add(s, ha, r);

    memcpy(sig, R, ED25519_BYTES);
    memcpy(sig + ED25519_BYTES, s, ED25519_BYTES);
    sig[63] = (uint8_t)((sig[63] & (uint8_t)~SIGN_BIT) | sign_bit);

    sodium_memzero(key, sizeof key);
    sodium_memzero(a, sizeof a);
    sodium_memzero(wide, sizeof wide);
    sodium_memzero(r, sizeof r);
    sodium_memzero(ha, sizeof ha);
    sodium_memzero(&st, sizeof st);
    return rc; /* 0, or -1 when a or r was zero mod l */
}

/* Edwards y = (u - 1) / (u + 1) mod p for the Montgomery u, little-endian,
 * bit 255 of u ignored and u taken mod p. Public data: variable time is fine.
 * Returns 0, or -1 for u = -1 (no such point) or an allocation failure. */
static int mont_u_to_ed_y(uint8_t y_out[ED25519_BYTES], const uint8_t u_in[ED25519_BYTES])
{
    uint8_t ub[ED25519_BYTES];
    int ok = 0;
    memcpy(ub, u_in, sizeof ub);
    ub[31] &= 0x7F;

    BN_CTX *ctx = BN_CTX_new();
    if (ctx == NULL)
        return -1;
    BN_CTX_start(ctx);
    BIGNUM *p = BN_CTX_get(ctx), *u = BN_CTX_get(ctx), *num = BN_CTX_get(ctx);
    BIGNUM *den = BN_CTX_get(ctx), *y = BN_CTX_get(ctx);
    if (y == NULL
        || !BN_set_bit(p, 255) || !BN_sub_word(p, 19)             /* p = 2^255 - 19 */
        || BN_lebin2bn(ub, sizeof ub, u) == NULL
        || !BN_nnmod(u, u, p, ctx)
        || !BN_mod_sub(num, u, BN_value_one(), p, ctx)
        || !BN_mod_add(den, u, BN_value_one(), p, ctx)
        || BN_is_zero(den)                                        /* u = -1 */
        || BN_mod_inverse(den, den, p, ctx) == NULL
        || !BN_mod_mul(y, num, den, p, ctx)
        || BN_bn2lebinpad(y, y_out, ED25519_BYTES) != ED25519_BYTES)
        goto out;
    ok = 1;
out:
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    return ok ? 0 : -1;
}

int sotto_xeddsa_verify(const uint8_t u[32], const uint8_t *msg, size_t msg_len,
                        const uint8_t sig[SOTTO_XEDDSA_SIGNATURE_BYTES])
{
    static const uint8_t empty;
    uint8_t A[ED25519_BYTES];
    uint8_t ed_sig[SOTTO_XEDDSA_SIGNATURE_BYTES];
    uint8_t s_wide[SCALAR_WIDE_BYTES] = { 0 };

    if (msg == NULL)
        msg = &empty;
    if (mont_u_to_ed_y(A, u) != 0)
        return -1;
    A[31] |= sig[63] & SIGN_BIT;

    memcpy(ed_sig, sig, sizeof ed_sig);
    ed_sig[63] &= (uint8_t)~SIGN_BIT;
    if ((ed_sig[63] & S_HIGH_BITS) != 0)
        return -1;
    /* s in [l, 2^253) is accepted as libsignal does: reduce it, libsodium
     * then sees the canonical s for the same point s*B. */
    memcpy(s_wide, ed_sig + ED25519_BYTES, ED25519_BYTES);
    crypto_core_ed25519_scalar_reduce(ed_sig + ED25519_BYTES, s_wide);

    return crypto_sign_ed25519_verify_detached(ed_sig, msg, msg_len, A) == 0 ? 0 : -1;
}
