/* PQXDH (X25519 + round-3 Kyber1024), both roles, and the initial ratchet
 * states libsignal builds from it (ratchet.rs initialize_{alice,bob}_session). */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <openssl/bn.h>
#include "crypto/primitives.h"
#include "crypto/kyber1024.h"
#include "protocol/internal.h"

static const char INFO_PQXDH[] = "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024";
#define DISCONTINUITY_BYTES 32
#define PQXDH_IKM_MAX (DISCONTINUITY_BYTES + 4 * 32 + KYBER1024_SSBYTES)
#define PQXDH_OUT_BYTES 96 /* root || chain || SPQR key */

/* p = 2^255 - 19, little-endian */
static const uint8_t P25519[32] = {
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
};

int sotto_x25519_is_canonical(const uint8_t u[SOTTO_KEY_BYTES])
{
    /* In range: the top bit clear and u < p. */
    if (u[31] & 0x80)
        return 0;
    for (int i = 31; i >= 0; i--) {
        if (u[i] < P25519[i])
            break;
        if (u[i] > P25519[i] || i == 0)
            return 0; /* u >= p */
    }
    /* Torsion free: y = (u - 1) / (u + 1) with sign 0 must be a point of the
     * prime-order subgroup (u = -1 has no Edwards image). */
    int ok = 0;
    uint8_t be[32], y[32];
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *bu = BN_new(), *p = BN_new(), *num = BN_new(), *den = BN_new(), *by = BN_new();
    if (ctx == NULL || bu == NULL || p == NULL || num == NULL || den == NULL || by == NULL)
        goto out;
    for (int i = 0; i < 32; i++)
        be[i] = P25519[31 - i];
    if (BN_bin2bn(be, 32, p) == NULL)
        goto out;
    for (int i = 0; i < 32; i++)
        be[i] = u[31 - i];
    if (BN_bin2bn(be, 32, bu) == NULL)
        goto out;
    if (!BN_copy(num, bu) || !BN_sub_word(num, 1) || !BN_nnmod(num, num, p, ctx))
        goto out;
    if (!BN_copy(den, bu) || !BN_add_word(den, 1) || !BN_nnmod(den, den, p, ctx))
        goto out;
    if (BN_is_zero(den))
        goto out;
    if (BN_mod_inverse(den, den, p, ctx) == NULL || !BN_mod_mul(by, num, den, p, ctx))
        goto out;
    if (BN_bn2lebinpad(by, y, 32) != 32)
        goto out;
    ok = crypto_core_ed25519_is_valid_point(y) == 1;
out:
    BN_free(bu);
    BN_free(p);
    BN_free(num);
    BN_free(den);
    BN_free(by);
    BN_CTX_free(ctx);
    return ok;
}

static sotto_err derive(uint8_t out[PQXDH_OUT_BYTES], const uint8_t *ikm, size_t ikm_len)
{
    return sotto_hkdf_sha256(out, PQXDH_OUT_BYTES, NULL, 0, ikm, ikm_len,
                             (const uint8_t *)INFO_PQXDH, sizeof INFO_PQXDH - 1);
}

sotto_err sotto_pqxdh_alice(sotto_state **out, const sotto_identity *us, const sotto_bundle *b)
{
    uint8_t ikm[PQXDH_IKM_MAX], keys[PQXDH_OUT_BYTES];
    uint8_t base_priv[32], base_pub[32], send_priv[32], send_pub[32];
    uint8_t ss[KYBER1024_SSBYTES];
    size_t n = 0;
    sotto_state *st = NULL;
    sotto_err e;
    *out = NULL;

    if (b->identity_key[0] != SOTTO_KEY_TYPE_DJB || b->signed_pre_key[0] != SOTTO_KEY_TYPE_DJB ||
        (b->has_pre_key && b->pre_key[0] != SOTTO_KEY_TYPE_DJB) ||
        b->kyber_pre_key[0] != SOTTO_KEY_TYPE_KYBER1024)
        return SOTTO_ERR_INVALID_KEY;
    /* Both prekey signatures, over the serialized (type-prefixed) keys. */
    if ((e = sotto_verify(b->identity_key, b->signed_pre_key, SOTTO_EC_PUBLIC_BYTES,
                          b->signed_pre_key_signature)) != SOTTO_OK)
        return e;
    if ((e = sotto_verify(b->identity_key, b->kyber_pre_key, SOTTO_KYBER_PUBLIC_BYTES,
                          b->kyber_pre_key_signature)) != SOTTO_OK)
        return e;
    if ((st = sotto_state_new()) == NULL)
        return SOTTO_ERR_NO_MEMORY;

    const uint8_t *spk = b->signed_pre_key + 1, *ik = b->identity_key + 1;
    sotto_x25519_keypair(base_pub, base_priv);
    /* IKM = 0xFF*32 || DH(IKa, SPKb) || DH(EKa, IKb) || DH(EKa, SPKb) [|| DH(EKa, OPKb)] || ss */
    memset(ikm, 0xFF, DISCONTINUITY_BYTES);
    n = DISCONTINUITY_BYTES;
    if ((e = sotto_x25519(ikm + n, us->priv, spk)) != SOTTO_OK)
        goto out;
    n += 32;
    if ((e = sotto_x25519(ikm + n, base_priv, ik)) != SOTTO_OK)
        goto out;
    n += 32;
    if ((e = sotto_x25519(ikm + n, base_priv, spk)) != SOTTO_OK)
        goto out;
    n += 32;
    if (b->has_pre_key) {
        if ((e = sotto_x25519(ikm + n, base_priv, b->pre_key + 1)) != SOTTO_OK)
            goto out;
        n += 32;
    }
    st->pending.kyber_ciphertext[0] = SOTTO_KEY_TYPE_KYBER1024;
    sotto_kyber1024_enc(st->pending.kyber_ciphertext + 1, ss, b->kyber_pre_key + 1);
    memcpy(ikm + n, ss, sizeof ss);
    n += sizeof ss;
    if ((e = derive(keys, ikm, n)) != SOTTO_OK)
        goto out;

    /* Alice's first sending chain: a root step against Bob's signed prekey,
     * which is also his first ratchet key (receiver chain with the PQXDH CK). */
    sotto_x25519_keypair(send_pub, send_priv);
    if ((e = sotto_root_step(st->root_key, st->sender_chain_key, keys, send_priv, spk)) != SOTTO_OK)
        goto out;
    if ((e = sotto_spqr_init(&st->spqr, keys + 64, SOTTO_SPQR_A2B)) != SOTTO_OK ||
        (e = sotto_spqr_braid_new(&st->braid, keys + 64, SOTTO_SPQR_BRAID_DIR_A2B)) != SOTTO_OK)
        goto out;
    memcpy(st->local_identity, us->pub, SOTTO_EC_PUBLIC_BYTES);
    memcpy(st->remote_identity, b->identity_key, SOTTO_EC_PUBLIC_BYTES);
    st->local_registration_id = us->registration_id;
    st->remote_registration_id = b->registration_id;
    st->alice_base_key[0] = SOTTO_KEY_TYPE_DJB;
    memcpy(st->alice_base_key + 1, base_pub, 32);
    st->has_sender = 1;
    memcpy(st->sender_private, send_priv, 32);
    memcpy(st->sender_public, send_pub, 32);
    st->sender_index = 0;
    st->n_chains = 1;
    memcpy(st->chains[0].ratchet_key, spk, 32);
    memcpy(st->chains[0].chain_key, keys + 32, 32);
    st->chains[0].index = 0;
    st->has_pending = 1;
    st->pending.has_pre_key = b->has_pre_key;
    st->pending.pre_key_id = b->has_pre_key ? b->pre_key_id : 0;
    st->pending.signed_pre_key_id = b->signed_pre_key_id;
    st->pending.kyber_pre_key_id = b->kyber_pre_key_id;
    *out = st;
    st = NULL;
out:
    sotto_state_free(st);
    sodium_memzero(ikm, sizeof ikm);
    sodium_memzero(keys, sizeof keys);
    sodium_memzero(base_priv, sizeof base_priv);
    sodium_memzero(send_priv, sizeof send_priv);
    sodium_memzero(ss, sizeof ss);
    return e;
}

sotto_err sotto_pqxdh_bob(sotto_state **out, const sotto_identity *us,
                          const sotto_prekey_secrets *k, const sotto_prekey_msg *m)
{
    uint8_t ikm[PQXDH_IKM_MAX], keys[PQXDH_OUT_BYTES];
    size_t n = 0;
    sotto_state *st = NULL;
    sotto_err e;
    *out = NULL;

    if (k == NULL || k->signed_pre_key_id != m->signed_pre_key_id ||
        k->kyber_pre_key_id != m->kyber_pre_key_id ||
        (m->has_pre_key && (!k->has_pre_key || k->pre_key_id != m->pre_key_id)))
        return SOTTO_ERR_MISSING_PREKEY;
    if (k->signed_pre_key_public[0] != SOTTO_KEY_TYPE_DJB ||
        k->kyber_pre_key_secret[0] != SOTTO_KEY_TYPE_KYBER1024)
        return SOTTO_ERR_INVALID_KEY;
    const uint8_t *base = m->base_key + 1, *ik = m->identity_key + 1;
    if (!sotto_x25519_is_canonical(base))
        return SOTTO_ERR_INVALID_KEY;
    if ((st = sotto_state_new()) == NULL)
        return SOTTO_ERR_NO_MEMORY;

    memset(ikm, 0xFF, DISCONTINUITY_BYTES);
    n = DISCONTINUITY_BYTES;
    if ((e = sotto_x25519(ikm + n, k->signed_pre_key_private, ik)) != SOTTO_OK)
        goto out;
    n += 32;
    if ((e = sotto_x25519(ikm + n, us->priv, base)) != SOTTO_OK)
        goto out;
    n += 32;
    if ((e = sotto_x25519(ikm + n, k->signed_pre_key_private, base)) != SOTTO_OK)
        goto out;
    n += 32;
    if (m->has_pre_key) {
        if ((e = sotto_x25519(ikm + n, k->pre_key_private, base)) != SOTTO_OK)
            goto out;
        n += 32;
    }
    sotto_kyber1024_dec(ikm + n, m->kyber_ciphertext + 1, k->kyber_pre_key_secret + 1);
    n += KYBER1024_SSBYTES;
    if ((e = derive(keys, ikm, n)) != SOTTO_OK)
        goto out;
    if ((e = sotto_spqr_init(&st->spqr, keys + 64, SOTTO_SPQR_B2A)) != SOTTO_OK ||
        (e = sotto_spqr_braid_new(&st->braid, keys + 64, SOTTO_SPQR_BRAID_DIR_B2A)) != SOTTO_OK)
        goto out;

    /* Bob's first ratchet key is his signed prekey; the PQXDH chain key is his
     * sending chain. The receiver chain comes with Alice's first message. */
    memcpy(st->local_identity, us->pub, SOTTO_EC_PUBLIC_BYTES);
    memcpy(st->remote_identity, m->identity_key, SOTTO_EC_PUBLIC_BYTES);
    st->local_registration_id = us->registration_id;
    st->remote_registration_id = m->registration_id;
    memcpy(st->alice_base_key, m->base_key, SOTTO_EC_PUBLIC_BYTES);
    memcpy(st->root_key, keys, 32);
    st->has_sender = 1;
    memcpy(st->sender_private, k->signed_pre_key_private, 32);
    memcpy(st->sender_public, k->signed_pre_key_public + 1, 32);
    memcpy(st->sender_chain_key, keys + 32, 32);
    st->sender_index = 0;
    *out = st;
    st = NULL;
out:
    sotto_state_free(st);
    sodium_memzero(ikm, sizeof ikm);
    sodium_memzero(keys, sizeof keys);
    return e;
}
