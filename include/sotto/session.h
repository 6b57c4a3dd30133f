/* sotto: 1:1 sessions (PQXDH + Double Ratchet v4 + SPQR), wire-compatible with
 * libsignal 0.103. State goes in and out as bytes; the application stores it.
 *
 * Limits and behaviour follow libsignal 0.103: out-of-order messages within
 * SOTTO_MAX_FORWARD_JUMPS and SOTTO_MAX_MESSAGE_KEYS per receiver chain, the
 * SPQR v1 chain (payload type None) on every message, archived states tried on
 * decrypt. Every call that fails leaves the session exactly as it was. */
#ifndef SOTTO_SESSION_H
#define SOTTO_SESSION_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"
#include "sotto/keys.h"

/* Limits, as libsignal has them. */
#define SOTTO_MAX_FORWARD_JUMPS      25000
#define SOTTO_MAX_MESSAGE_KEYS       2000
#define SOTTO_MAX_RECEIVER_CHAINS    5
#define SOTTO_ARCHIVED_STATES_MAX    40
#define SOTTO_MAX_PLAINTEXT_BYTES    (1u << 20)   /* refuse larger inputs */
#define SOTTO_CIPHERTEXT_OVERHEAD    2048         /* prekey wrapper + SignalMessage framing + MAC */
#define SOTTO_SERVICE_ID_BYTES       17           /* kind byte (0 ACI, 1 PNI) || UUID */
#define SOTTO_DEVICE_ID_MAX          255

#define SOTTO_MSG_WHISPER 2 /* SignalMessage */
#define SOTTO_MSG_PREKEY  3 /* PreKeySignalMessage */

/* Our long-term identity: an identity key pair and a registration id. */
typedef struct sotto_identity sotto_identity;
SOTTO_API sotto_err sotto_identity_generate(sotto_identity **out, uint32_t registration_id);
SOTTO_API sotto_err sotto_identity_from_keys(sotto_identity **out,
                                             const uint8_t priv[SOTTO_EC_PRIVATE_BYTES],
                                             uint32_t registration_id);
SOTTO_API void sotto_identity_public_key(const sotto_identity *id, uint8_t pub[SOTTO_EC_PUBLIC_BYTES]);
SOTTO_API uint32_t sotto_identity_registration_id(const sotto_identity *id);
SOTTO_API sotto_err sotto_identity_sign(const sotto_identity *id, uint8_t sig[SOTTO_SIGNATURE_BYTES],
                                        const uint8_t *msg, size_t msg_len);
SOTTO_API void sotto_identity_free(sotto_identity *id); /* wipes, then frees */

/* What a server hands out for one device: public values only. */
typedef struct sotto_bundle {
    uint32_t registration_id;
    uint32_t device_id;
    uint8_t identity_key[SOTTO_EC_PUBLIC_BYTES];
    int has_pre_key;                               /* one-time EC prekey present */
    uint32_t pre_key_id;
    uint8_t pre_key[SOTTO_EC_PUBLIC_BYTES];
    uint32_t signed_pre_key_id;
    uint8_t signed_pre_key[SOTTO_EC_PUBLIC_BYTES];
    uint8_t signed_pre_key_signature[SOTTO_SIGNATURE_BYTES];
    uint32_t kyber_pre_key_id;
    uint8_t kyber_pre_key[SOTTO_KYBER_PUBLIC_BYTES];
    uint8_t kyber_pre_key_signature[SOTTO_SIGNATURE_BYTES];
} sotto_bundle;

/* What an incoming PreKeySignalMessage asks for; read it first, fetch the
 * private keys it names, then decrypt. */
typedef struct sotto_prekey_ids {
    uint32_t registration_id;
    uint8_t identity_key[SOTTO_EC_PUBLIC_BYTES];
    uint8_t base_key[SOTTO_EC_PUBLIC_BYTES];
    int has_pre_key;
    uint32_t pre_key_id;
    uint32_t signed_pre_key_id;
    uint32_t kyber_pre_key_id;
} sotto_prekey_ids;
SOTTO_API sotto_err sotto_prekey_message_ids(const uint8_t *msg, size_t len, sotto_prekey_ids *out);

/* The private halves the application supplies for one prekey message (the
 * public halves must be the matching ones: the signed prekey pair becomes the
 * first ratchet key pair, as in libsignal; nothing re-derives them). */
typedef struct sotto_prekey_secrets {
    uint32_t signed_pre_key_id;
    uint8_t signed_pre_key_public[SOTTO_EC_PUBLIC_BYTES];
    uint8_t signed_pre_key_private[SOTTO_EC_PRIVATE_BYTES];
    int has_pre_key;
    uint32_t pre_key_id;
    uint8_t pre_key_public[SOTTO_EC_PUBLIC_BYTES];
    uint8_t pre_key_private[SOTTO_EC_PRIVATE_BYTES];
    uint32_t kyber_pre_key_id;
    uint8_t kyber_pre_key_secret[SOTTO_KYBER_SECRET_BYTES];
} sotto_prekey_secrets;

/* A session record with one remote device: the current state and up to
 * SOTTO_ARCHIVED_STATES_MAX archived ones. */
typedef struct sotto_session sotto_session;
SOTTO_API sotto_err sotto_session_new(sotto_session **out);
SOTTO_API void sotto_session_free(sotto_session *s); /* wipes, then frees */

/* Alice: verify both prekey signatures and start a new current state from the
 * bundle (the old one is archived). SOTTO_ERR_UNTRUSTED_IDENTITY when the
 * record already knows a different identity key for this device (a record is
 * pinned to the first remote identity it accepts; to trust a new one, start a
 * new record); SOTTO_ERR_BAD_SIGNATURE when either prekey signature fails. */
SOTTO_API sotto_err sotto_session_process_bundle(sotto_session *s, const sotto_identity *us,
                                                 const sotto_bundle *bundle);

/* Upper bound of the ciphertext size for pt_len plaintext bytes (0 when
 * pt_len > SOTTO_MAX_PLAINTEXT_BYTES). encrypt writes a SOTTO_MSG_PREKEY
 * message until the first reply decrypts, SOTTO_MSG_WHISPER after; us may be
 * NULL (when given, it must be the identity the session was made with). */
SOTTO_API size_t sotto_session_ciphertext_bound(size_t pt_len);
SOTTO_API sotto_err sotto_session_encrypt(sotto_session *s, const sotto_identity *us,
                                          const uint8_t *pt, size_t pt_len,
                                          uint8_t *out, size_t out_cap, size_t *out_len,
                                          int *msg_type);

/* type is SOTTO_MSG_WHISPER or SOTTO_MSG_PREKEY; keys may be NULL for
 * WHISPER (and for a PREKEY message whose session already exists). A WHISPER
 * message is tried on the current state, then on the archived ones; the one
 * that decrypts becomes current. On any error the record is exactly as it
 * was. Errors of note:
 *   DUPLICATE_MESSAGE   the message key was already used
 *   KEY_NO_LONGER_HELD  the skipped key was evicted (SOTTO_MAX_MESSAGE_KEYS per
 *                       chain, oldest first, as libsignal), or is older than
 *                       the SPQR chain keeps (2,000 behind the newest)
 *   TOO_FAR_AHEAD       more than SOTTO_MAX_FORWARD_JUMPS ahead: in practice a
 *                       counter 25,001 past the last message received (the
 *                       SPQR chain's limit; the Double Ratchet's alone would
 *                       allow one more)
 *   BAD_MAC             authentication failed on every state tried
 *   UNTRUSTED_IDENTITY  a prekey message from another identity key than the
 *                       one this record is pinned to
 *   MISSING_PREKEY      keys is NULL or names other prekey ids
 *   PQ_RATCHET          the pq_ratchet field is missing or refused */
SOTTO_API sotto_err sotto_session_decrypt(sotto_session *s, const sotto_identity *us,
                                          const sotto_prekey_secrets *keys, int msg_type,
                                          const uint8_t *ct, size_t ct_len,
                                          uint8_t *pt, size_t pt_cap, size_t *pt_len);

/* Optional: the two ServiceId/device addresses, as libsignal's ProtocolAddress
 * when its name is a ServiceId. When set, prekey messages we send carry the
 * 36-byte `addresses` field (local first) and an incoming message that carries
 * one must name exactly (remote, local), else SOTTO_ERR_BAD_MAC. When not set,
 * we send none (like libsignal with non-ServiceId names) and do not check
 * incoming ones (the MAC still covers them). Saved with the record. */
SOTTO_API sotto_err sotto_session_set_addresses(sotto_session *s,
                                                const uint8_t local_service_id[SOTTO_SERVICE_ID_BYTES],
                                                uint32_t local_device,
                                                const uint8_t remote_service_id[SOTTO_SERVICE_ID_BYTES],
                                                uint32_t remote_device);

/* The remote identity key of the current state; SOTTO_ERR_NO_SESSION if none. */
SOTTO_API sotto_err sotto_session_remote_identity(const sotto_session *s,
                                                  uint8_t key[SOTTO_EC_PUBLIC_BYTES]);

/* Versioned bytes. save with buf == NULL reports the size in *len. */
SOTTO_API sotto_err sotto_session_save(const sotto_session *s, uint8_t *buf, size_t cap, size_t *len);
SOTTO_API sotto_err sotto_session_load(sotto_session **out, const uint8_t *buf, size_t len);

#endif
