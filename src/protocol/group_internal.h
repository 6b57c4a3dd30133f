/* Internal to the sender-key code (group.c, group_record.c) and its tests. */
#ifndef SOTTO_PROTOCOL_GROUP_INTERNAL_H
#define SOTTO_PROTOCOL_GROUP_INTERNAL_H
#include <stdint.h>
#include "sotto/group.h"

#define SOTTO_GROUP_KEY_BYTES      32
#define SOTTO_GROUP_RECORD_FORMAT  1    /* first byte of sotto_sender_key_record_save output */
#define SOTTO_GROUP_INFO           "WhisperGroup"
#define SOTTO_GROUP_SKIPPED_BYTES  36   /* saved: BE32 iteration || seed */

typedef struct sotto_gk_skipped {
    uint32_t iteration;
    uint8_t seed[SOTTO_GROUP_KEY_BYTES];
} sotto_gk_skipped;

/* One chain: libsignal's SenderKeyStateStructure (message version 3 only). */
typedef struct sotto_gk_state {
    uint32_t chain_id;
    uint32_t iteration;                         /* the iteration chain_key yields next */
    uint8_t chain_key[SOTTO_GROUP_KEY_BYTES];
    uint8_t signing_public[SOTTO_EC_PUBLIC_BYTES];
    int has_private;
    uint8_t signing_private[SOTTO_EC_PRIVATE_BYTES];
    sotto_gk_skipped *keys;                     /* ascending iterations, oldest first */
    uint32_t n_keys, cap_keys;
} sotto_gk_state;

struct sotto_sender_key_record {
    int has_id;
    uint8_t distribution_id[SOTTO_DISTRIBUTION_ID_BYTES];
    sotto_gk_state states[SOTTO_GROUP_MAX_STATES]; /* newest first */
    uint32_t n_states;
};

void sotto_gk_state_wipe(sotto_gk_state *st);

/* One chain step: seed = HMAC(ck, 0x01), ck' = HMAC(ck, 0x02) (in place). */
sotto_err sotto_gk_chain_step(uint8_t seed[SOTTO_GROUP_KEY_BYTES], uint8_t ck[SOTTO_GROUP_KEY_BYTES]);
/* HKDF(salt none, seed, "WhisperGroup", 48) -> iv 16 || key 32. */
sotto_err sotto_gk_message_key(uint8_t iv[16], uint8_t key[32], const uint8_t seed[SOTTO_GROUP_KEY_BYTES]);

#endif
