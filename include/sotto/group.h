/* sotto: sender keys for groups, wire-compatible with libsignal 0.103
 * (SenderKeyDistributionMessage and SenderKeyMessage, version 3, 0x33).
 *
 * One record holds the sender-key states of one (sender, distribution id)
 * pair, like libsignal's SenderKeyRecord: the application keys stored records
 * by the sender's address and the distribution id, which it reads from an
 * incoming message with sotto_group_*_distribution_id before loading the
 * record. A record is bound to the first distribution id it is used with.
 *
 * Behaviour follows libsignal: every SenderKeyMessage carries an XEdDSA
 * signature by the chain's signing key; messages may arrive out of order
 * within SOTTO_GROUP_MAX_FORWARD_JUMPS, and up to SOTTO_GROUP_MAX_MESSAGE_KEYS
 * skipped keys are kept per state (the oldest go first); a distribution
 * message with a new chain id becomes the current state and the previous
 * SOTTO_GROUP_MAX_STATES - 1 states are kept for messages still in flight
 * (one whose chain id and signing key are already held keeps its progress).
 * Every call that fails leaves the record exactly as it was. */
#ifndef SOTTO_GROUP_H
#define SOTTO_GROUP_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"
#include "sotto/keys.h"

#define SOTTO_GROUP_MESSAGE_VERSION    3
#define SOTTO_GROUP_VERSION_BYTE       0x33  /* (3 << 4) | 3 */
#define SOTTO_DISTRIBUTION_ID_BYTES    16    /* a UUID, big-endian bytes */
#define SOTTO_GROUP_MAX_FORWARD_JUMPS  25000
#define SOTTO_GROUP_MAX_MESSAGE_KEYS   2000  /* skipped keys kept per state */
#define SOTTO_GROUP_MAX_STATES         5     /* libsignal MAX_SENDER_KEY_STATES */
#define SOTTO_GROUP_SKDM_MAX_BYTES     128   /* a distribution message we write */
#define SOTTO_GROUP_MAX_PLAINTEXT_BYTES (1u << 20)
#define SOTTO_GROUP_MAX_MESSAGE_BYTES  (SOTTO_GROUP_MAX_PLAINTEXT_BYTES + 256) /* refuse larger */
#define SOTTO_GROUP_RECORD_MAX_BYTES   (1u << 20) /* refuse larger saved records */

typedef struct sotto_sender_key_record sotto_sender_key_record;

SOTTO_API sotto_err sotto_sender_key_record_new(sotto_sender_key_record **out);
SOTTO_API void sotto_sender_key_record_free(sotto_sender_key_record *rec); /* wipes, then frees */
/* Versioned bytes; save with buf == NULL reports the size in *len. */
SOTTO_API sotto_err sotto_sender_key_record_save(const sotto_sender_key_record *rec,
                                                 uint8_t *buf, size_t cap, size_t *len);
SOTTO_API sotto_err sotto_sender_key_record_load(sotto_sender_key_record **out,
                                                 const uint8_t *buf, size_t len);

/* The distribution id an incoming message names (no signature checked). */
SOTTO_API sotto_err sotto_group_distribution_message_id(const uint8_t *skdm, size_t len,
                                                        uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES]);
SOTTO_API sotto_err sotto_group_message_id(const uint8_t *msg, size_t len,
                                           uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES]);

/* Sender. create_distribution starts our chain when the record has none
 * (random chain id, chain key and signing key) and writes the distribution
 * message for the current chain and iteration; to rotate, start from a fresh
 * record. encrypt writes at most sotto_group_ciphertext_bound(pt_len) bytes.
 * SOTTO_ERR_NO_SESSION without a chain of our own. */
SOTTO_API sotto_err sotto_group_create_distribution(sotto_sender_key_record *rec,
                                                    const uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES],
                                                    uint8_t *out, size_t cap, size_t *len);
SOTTO_API size_t sotto_group_ciphertext_bound(size_t pt_len); /* 0 when pt_len is over the limit */
SOTTO_API sotto_err sotto_group_encrypt(sotto_sender_key_record *rec,
                                        const uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES],
                                        const uint8_t *pt, size_t pt_len,
                                        uint8_t *out, size_t cap, size_t *len);

/* Receiver. process takes a distribution message from the record's sender.
 * decrypt errors: NO_SESSION (unknown chain id), BAD_SIGNATURE,
 * DUPLICATE_MESSAGE (an iteration already used, or its key evicted),
 * TOO_FAR_AHEAD, BAD_MAC (the body does not decrypt), UNSUPPORTED_VERSION,
 * MALFORMED, INVALID_ARGUMENT (another distribution id than the record's). */
SOTTO_API sotto_err sotto_group_process_distribution(sotto_sender_key_record *rec,
                                                     const uint8_t *skdm, size_t len);
SOTTO_API sotto_err sotto_group_decrypt(sotto_sender_key_record *rec,
                                        const uint8_t *msg, size_t len,
                                        uint8_t *pt, size_t cap, size_t *pt_len);

#endif
