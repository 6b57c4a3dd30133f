/* SPQR v1 authenticator (see spqr_auth.h). */
#include <string.h>
#include <sodium.h>
#include "crypto/primitives.h"
#include "protocol/spqr_auth.h"

#define AUTH_MAX_KEY 64 /* root || k, k an epoch secret or the initial auth key */

static const char INFO_UPDATE[] = "Signal_PQCKA_V1_MLKEM768:Authenticator Update";
static const char LABEL_HDR[] = "Signal_PQCKA_V1_MLKEM768:ekheader";
static const char LABEL_CT[] = "Signal_PQCKA_V1_MLKEM768:ciphertext";
static const uint8_t ZERO_SALT[32];

static void be64(uint8_t out[8], uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

sotto_err sotto_spqr_auth_update(sotto_spqr_auth *a, uint64_t epoch, const uint8_t *k,
                                 size_t k_len)
{
    uint8_t ikm[SOTTO_SPQR_AUTH_KEY_BYTES + AUTH_MAX_KEY];
    uint8_t info[sizeof INFO_UPDATE - 1 + 8];
    uint8_t out[2 * SOTTO_SPQR_AUTH_KEY_BYTES];
    if (k_len > AUTH_MAX_KEY)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memcpy(ikm, a->root, SOTTO_SPQR_AUTH_KEY_BYTES);
    if (k_len > 0)
        memcpy(ikm + SOTTO_SPQR_AUTH_KEY_BYTES, k, k_len);
    memcpy(info, INFO_UPDATE, sizeof INFO_UPDATE - 1);
    be64(info + sizeof INFO_UPDATE - 1, epoch);
    sotto_err e = sotto_hkdf_sha256(out, sizeof out, ZERO_SALT, sizeof ZERO_SALT, ikm,
                                    SOTTO_SPQR_AUTH_KEY_BYTES + k_len, info, sizeof info);
    if (e == SOTTO_OK) {
        memcpy(a->root, out, SOTTO_SPQR_AUTH_KEY_BYTES);
        memcpy(a->mac, out + SOTTO_SPQR_AUTH_KEY_BYTES, SOTTO_SPQR_AUTH_KEY_BYTES);
    }
    sodium_memzero(ikm, sizeof ikm);
    sodium_memzero(out, sizeof out);
    return e;
}

sotto_err sotto_spqr_auth_init(sotto_spqr_auth *a, const uint8_t *key, size_t key_len,
                               uint64_t epoch)
{
    memset(a, 0, sizeof *a);
    sotto_err e = sotto_spqr_auth_update(a, epoch, key, key_len);
    if (e != SOTTO_OK)
        sotto_spqr_auth_wipe(a);
    return e;
}

static sotto_err mac(const sotto_spqr_auth *a, const char *label, size_t label_len,
                     uint64_t epoch, const uint8_t *data, size_t len,
                     uint8_t out[SOTTO_SPQR_MAC_BYTES])
{
    uint8_t ep[8];
    be64(ep, epoch);
    sotto_iov parts[3] = { { (const uint8_t *)label, label_len }, { ep, sizeof ep },
                           { data, len } };
    return sotto_hmac_sha256(out, a->mac, SOTTO_SPQR_AUTH_KEY_BYTES, parts, 3);
}

sotto_err sotto_spqr_auth_mac_hdr(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *hdr,
                                  size_t hdr_len, uint8_t out[SOTTO_SPQR_MAC_BYTES])
{
    return mac(a, LABEL_HDR, sizeof LABEL_HDR - 1, epoch, hdr, hdr_len, out);
}

sotto_err sotto_spqr_auth_mac_ct(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *ct,
                                 size_t ct_len, uint8_t out[SOTTO_SPQR_MAC_BYTES])
{
    return mac(a, LABEL_CT, sizeof LABEL_CT - 1, epoch, ct, ct_len, out);
}

static sotto_err verify(const sotto_spqr_auth *a, const char *label, size_t label_len,
                        uint64_t epoch, const uint8_t *data, size_t len,
                        const uint8_t expect[SOTTO_SPQR_MAC_BYTES])
{
    uint8_t got[SOTTO_SPQR_MAC_BYTES];
    sotto_err e = mac(a, label, label_len, epoch, data, len, got);
    if (e == SOTTO_OK && sodium_memcmp(got, expect, sizeof got) != 0)
        e = SOTTO_ERR_BAD_MAC;
    sodium_memzero(got, sizeof got);
    return e;
}

sotto_err sotto_spqr_auth_verify_hdr(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *hdr,
                                     size_t hdr_len, const uint8_t m[SOTTO_SPQR_MAC_BYTES])
{
    return verify(a, LABEL_HDR, sizeof LABEL_HDR - 1, epoch, hdr, hdr_len, m);
}

sotto_err sotto_spqr_auth_verify_ct(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *ct,
                                    size_t ct_len, const uint8_t m[SOTTO_SPQR_MAC_BYTES])
{
    return verify(a, LABEL_CT, sizeof LABEL_CT - 1, epoch, ct, ct_len, m);
}

void sotto_spqr_auth_wipe(sotto_spqr_auth *a)
{
    sodium_memzero(a, sizeof *a);
}
