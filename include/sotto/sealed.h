/* sotto: sealed sender, wire-compatible with libsignal 0.103
 * (rust/protocol/src/sealed_sender.rs): server and sender certificates, the
 * v1 envelope (0x11, one recipient) and the v2 envelope (0x23 sent form with
 * many recipients, fanned out by the server into 0x22 received forms).
 *
 * The sealed payload is libsignal's UnidentifiedSenderMessageContent: a
 * message type, the sender certificate, the content (typically a
 * SignalMessage, PreKeySignalMessage or SenderKeyMessage), a content hint and
 * an optional group id. Opening an envelope authenticates the sender's
 * identity key against the one in the certificate; validating the certificate
 * (trust root, server signature, expiry) is a separate step, as in libsignal,
 * and sotto_sealed_open does both. */
#ifndef SOTTO_SEALED_H
#define SOTTO_SEALED_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"
#include "sotto/keys.h"
#include "sotto/session.h"

#define SOTTO_SEALED_V1_VERSION          0x11
#define SOTTO_SEALED_V2_UUID_VERSION     0x22  /* received form; a sent form with ACI UUIDs */
#define SOTTO_SEALED_V2_VERSION          0x23  /* sent form with 17-byte ServiceIds */
#define SOTTO_SEALED_MAX_CONTENT_BYTES   (1u << 20)
#define SOTTO_SEALED_MAX_MESSAGE_BYTES   (SOTTO_SEALED_MAX_CONTENT_BYTES + 16384) /* refuse larger */
#define SOTTO_SEALED_V2_MAX_RECIPIENTS   10000
#define SOTTO_SEALED_V2_MAX_DEVICES      127   /* device ids 1..127 */
#define SOTTO_SEALED_V2_OVERHEAD_PER_RECIPIENT (17 + 3 * SOTTO_SEALED_V2_MAX_DEVICES + 48)
#define SOTTO_CERT_MAX_BYTES             4096  /* a serialized certificate we accept */
#define SOTTO_CERT_MAX_STRING            128   /* sender UUID string or E.164 */
#define SOTTO_GROUP_ID_MAX_BYTES         256
#define SOTTO_UUID_BYTES                 16

/* Message types inside the envelope, numbered as libsignal's
 * CiphertextMessageType (SOTTO_MSG_WHISPER / SOTTO_MSG_PREKEY in session.h). */
#define SOTTO_MSG_SENDER_KEY  7
#define SOTTO_MSG_PLAINTEXT   8

/* ---- certificates ---------------------------------------------------------- */

/* A server certificate {id, key} signed by the trust root. out: cap >= 256. */
SOTTO_API sotto_err sotto_server_certificate_create(uint8_t *out, size_t cap, size_t *len,
                                                    uint32_t key_id,
                                                    const uint8_t server_key[SOTTO_EC_PUBLIC_BYTES],
                                                    const uint8_t trust_root_private[SOTTO_EC_PRIVATE_BYTES]);

/* A sender certificate for (uuid string, e164 or NULL, device, identity key,
 * expiry in ms since the epoch), embedding server_cert and signed with the
 * server's private key. */
SOTTO_API sotto_err sotto_sender_certificate_create(uint8_t *out, size_t cap, size_t *len,
                                                    const char *sender_uuid, const char *sender_e164,
                                                    uint32_t sender_device,
                                                    const uint8_t identity_key[SOTTO_EC_PUBLIC_BYTES],
                                                    uint64_t expires_ms,
                                                    const uint8_t *server_cert, size_t server_cert_len,
                                                    const uint8_t server_private[SOTTO_EC_PRIVATE_BYTES]);

typedef struct sotto_sender_certificate {
    char sender_uuid[SOTTO_CERT_MAX_STRING + 1];   /* as written (uuidBytes become a string) */
    int has_e164;
    char sender_e164[SOTTO_CERT_MAX_STRING + 1];
    uint32_t sender_device;
    uint64_t expires_ms;
    uint8_t identity_key[SOTTO_EC_PUBLIC_BYTES];
    uint32_t server_key_id;
    uint8_t server_key[SOTTO_EC_PUBLIC_BYTES];
} sotto_sender_certificate;

/* Parses without validating. SOTTO_ERR_MALFORMED for anything libsignal's
 * deserialize refuses; a certificate that names its signer by id is accepted
 * for libsignal's known production server certificates only. */
SOTTO_API sotto_err sotto_sender_certificate_parse(const uint8_t *cert, size_t len,
                                                   sotto_sender_certificate *out);

typedef enum sotto_cert_status {
    SOTTO_CERT_VALID = 0,
    SOTTO_CERT_UNTRUSTED_SERVER,  /* server certificate not signed by the trust root, or revoked */
    SOTTO_CERT_BAD_SIGNATURE,     /* sender certificate not signed by the server key */
    SOTTO_CERT_EXPIRED,           /* now_ms past expires_ms */
} sotto_cert_status;

/* libsignal's SenderCertificate::validate. Returns SOTTO_OK with the verdict
 * in *status, or an error when the certificate does not parse. */
SOTTO_API sotto_err sotto_sender_certificate_validate(const uint8_t *cert, size_t len,
                                                      const uint8_t trust_root[SOTTO_EC_PUBLIC_BYTES],
                                                      uint64_t now_ms, sotto_cert_status *status);

/* ---- sealing ----------------------------------------------------------------- */

typedef struct sotto_sealed_content {
    int msg_type;                              /* SOTTO_MSG_PREKEY, _WHISPER, _SENDER_KEY, _PLAINTEXT */
    const uint8_t *sender_cert; size_t sender_cert_len;
    const uint8_t *content; size_t content_len;
    uint32_t content_hint;                     /* 0 default, 1 resendable, 2 implicit */
    const uint8_t *group_id; size_t group_id_len; /* optional */
} sotto_sealed_content;

/* Upper bound of a v1 envelope for c (0 if c is over a limit). */
SOTTO_API size_t sotto_sealed_v1_bound(const sotto_sealed_content *c);
/* Seal c from us to the identity key recipient_key (v1, 0x11). */
SOTTO_API sotto_err sotto_sealed_v1_seal(const sotto_identity *us,
                                         const uint8_t recipient_key[SOTTO_EC_PUBLIC_BYTES],
                                         const sotto_sealed_content *c,
                                         uint8_t *out, size_t cap, size_t *len);

/* One device of a v2 recipient; consecutive entries with the same service id
 * are one recipient (their identity keys must be equal). */
typedef struct sotto_sealed_recipient {
    uint8_t service_id[SOTTO_SERVICE_ID_BYTES];   /* kind (0 ACI, 1 PNI) || UUID */
    uint32_t device_id;                           /* 1..127 */
    uint32_t registration_id;                     /* 0..0x3FFF */
    uint8_t identity_key[SOTTO_EC_PUBLIC_BYTES];
} sotto_sealed_recipient;

SOTTO_API size_t sotto_sealed_v2_bound(const sotto_sealed_content *c, size_t n_recipients);
/* The sent form (0x23) of a v2 envelope for n recipient devices. */
SOTTO_API sotto_err sotto_sealed_v2_seal(const sotto_identity *us,
                                         const sotto_sealed_recipient *recipients, size_t n,
                                         const sotto_sealed_content *c,
                                         uint8_t *out, size_t cap, size_t *len);

/* Server side: the recipients of a sent v2 envelope and the received form
 * for each. entries may be NULL to learn how many to provide (an upper bound:
 * entries of one service id repeated in the message are merged, as libsignal
 * merges them, only when entries are given). */
typedef struct sotto_sealed_v2_entry {
    uint8_t service_id[SOTTO_SERVICE_ID_BYTES];
    uint32_t n_devices;
    uint8_t device_ids[SOTTO_SEALED_V2_MAX_DEVICES];
    uint16_t registration_ids[SOTTO_SEALED_V2_MAX_DEVICES];
    size_t key_offset;                            /* C || AT in the sent form; 0 if excluded */
} sotto_sealed_v2_entry;
SOTTO_API sotto_err sotto_sealed_v2_parse(const uint8_t *sent, size_t len,
                                          sotto_sealed_v2_entry *entries, size_t cap, size_t *n,
                                          size_t *shared_offset);
/* The received form (0x22 || C || AT || E || ciphertext) for one entry. */
SOTTO_API size_t sotto_sealed_v2_received_len(size_t sent_len, size_t shared_offset);
SOTTO_API sotto_err sotto_sealed_v2_received(const uint8_t *sent, size_t len,
                                             const sotto_sealed_v2_entry *entry, size_t shared_offset,
                                             uint8_t *out, size_t cap, size_t *out_len);

/* ---- opening ----------------------------------------------------------------- */

typedef struct sotto_unsealed {
    int msg_type;
    uint32_t content_hint;
    int has_group_id;
    uint8_t group_id[SOTTO_GROUP_ID_MAX_BYTES];
    size_t group_id_len;
    sotto_sender_certificate sender;
    sotto_cert_status cert_status;
} sotto_unsealed;

/* Opens a v1 (0x11) or received v2 (0x22) envelope addressed to us, writes
 * the content (at most len bytes), checks that the sender's identity key
 * authenticated by the envelope is the certificate's, then validates the
 * certificate against trust_root at now_ms. Errors: BAD_MAC (the envelope
 * does not decrypt or authenticate), UNTRUSTED_IDENTITY (the certificate's key
 * is not the sender's), BAD_SIGNATURE (the certificate is not valid:
 * info->cert_status says why), UNSUPPORTED_VERSION, MALFORMED. */
SOTTO_API sotto_err sotto_sealed_open(const sotto_identity *us,
                                      const uint8_t trust_root[SOTTO_EC_PUBLIC_BYTES], uint64_t now_ms,
                                      const uint8_t *msg, size_t len,
                                      uint8_t *content, size_t cap, size_t *content_len,
                                      sotto_unsealed *info);

#endif
