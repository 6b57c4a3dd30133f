/* Internal: SPQR v1's authenticator (signalapp/SparsePostQuantumRatchet
 * src/authenticator.rs). Two keys, updated with every epoch secret:
 *   update(ep, k): root || mac = HKDF-SHA256(salt 0^32, ikm = root || k,
 *                  info = "Signal_PQCKA_V1_MLKEM768:Authenticator Update" || BE64(ep), 64)
 *   new(key, ep):  root = mac = 0^32, then update(ep, key)
 *   mac_hdr(ep, hdr) = HMAC-SHA256(mac, "Signal_PQCKA_V1_MLKEM768:ekheader" || BE64(ep) || hdr)
 *   mac_ct(ep, ct)   = HMAC-SHA256(mac, "Signal_PQCKA_V1_MLKEM768:ciphertext" || BE64(ep) || ct)
 * MACs are the full 32 bytes, compared in constant time. */
#ifndef SOTTO_PROTOCOL_SPQR_AUTH_H
#define SOTTO_PROTOCOL_SPQR_AUTH_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"

#define SOTTO_SPQR_AUTH_KEY_BYTES 32
#define SOTTO_SPQR_MAC_BYTES      32

typedef struct sotto_spqr_auth {
    uint8_t root[SOTTO_SPQR_AUTH_KEY_BYTES];
    uint8_t mac[SOTTO_SPQR_AUTH_KEY_BYTES];
} sotto_spqr_auth;

sotto_err sotto_spqr_auth_init(sotto_spqr_auth *a, const uint8_t *key, size_t key_len,
                               uint64_t epoch);
sotto_err sotto_spqr_auth_update(sotto_spqr_auth *a, uint64_t epoch, const uint8_t *k,
                                 size_t k_len);
sotto_err sotto_spqr_auth_mac_hdr(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *hdr,
                                  size_t hdr_len, uint8_t mac[SOTTO_SPQR_MAC_BYTES]);
sotto_err sotto_spqr_auth_mac_ct(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *ct,
                                 size_t ct_len, uint8_t mac[SOTTO_SPQR_MAC_BYTES]);
/* SOTTO_OK, or SOTTO_ERR_BAD_MAC. */
sotto_err sotto_spqr_auth_verify_hdr(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *hdr,
                                     size_t hdr_len, const uint8_t mac[SOTTO_SPQR_MAC_BYTES]);
sotto_err sotto_spqr_auth_verify_ct(const sotto_spqr_auth *a, uint64_t epoch, const uint8_t *ct,
                                    size_t ct_len, const uint8_t mac[SOTTO_SPQR_MAC_BYTES]);
void sotto_spqr_auth_wipe(sotto_spqr_auth *a);
#endif
