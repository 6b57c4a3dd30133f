/* Internal: the SPQR v1 symmetric chain (signalapp/SparsePostQuantumRatchet
 * src/chain.rs), epoch 0 only. We always send payload type None, so neither
 * side ever completes a KEM exchange and the epoch never advances; incoming
 * payloads of other types are accepted and their chunks ignored, exactly as a
 * v1 state that is still waiting would. */
#ifndef SOTTO_PROTOCOL_SPQR_H
#define SOTTO_PROTOCOL_SPQR_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"

#define SOTTO_SPQR_VERSION_V1    1
#define SOTTO_SPQR_A2B           0      /* Alice (initiator) */
#define SOTTO_SPQR_B2A           1
#define SOTTO_SPQR_KEY_BYTES     32
#define SOTTO_SPQR_CHUNK_BYTES   32
#define SOTTO_SPQR_MAX_JUMP      25000  /* ChainParams max_jump (libsignal: MAX_FORWARD_JUMPS) */
#define SOTTO_SPQR_MAX_OOO_KEYS  2000   /* ChainParams max_ooo_keys (MAX_MESSAGE_KEYS) */
#define SOTTO_SPQR_TRIM_SIZE     (SOTTO_SPQR_MAX_OOO_KEYS * 11 / 10 + 1) /* history gc point */
#define SOTTO_SPQR_MSG_MAX       17     /* 1 + varint epoch(1) + varint index(<=5) + type, generous */
#define SOTTO_SPQR_VARINT_MAX    10
#define SOTTO_SPQR_CHUNK_INDEX_MAX 65535

enum {
    SOTTO_SPQR_T_NONE = 0, SOTTO_SPQR_T_HDR = 1, SOTTO_SPQR_T_EK = 2, SOTTO_SPQR_T_EKCT1ACK = 3,
    SOTTO_SPQR_T_CT1ACK = 4, SOTTO_SPQR_T_CT1 = 5, SOTTO_SPQR_T_CT2 = 6
};

typedef struct sotto_spqr_entry {
    uint32_t index;
    uint8_t key[SOTTO_SPQR_KEY_BYTES];
} sotto_spqr_entry;

typedef struct sotto_spqr {
    uint8_t dir;
    uint32_t send_ctr;
    uint8_t send_next[SOTTO_SPQR_KEY_BYTES];
    uint32_t recv_ctr;
    uint8_t recv_next[SOTTO_SPQR_KEY_BYTES];
    sotto_spqr_entry *hist;  /* skipped receive keys, any order */
    uint32_t n_hist, cap_hist;
} sotto_spqr;

/* A parsed SPQR v1 message (lib.rs / states/serialize.rs). */
typedef struct sotto_spqr_msg {
    uint8_t version;         /* first byte */
    uint64_t epoch;
    uint32_t index;
    uint8_t type;
    uint16_t chunk_index;    /* only for chunk-carrying types */
    const uint8_t *chunk;
} sotto_spqr_msg;

/* Chain start from the 32-byte PQXDH output: HKDF(0^32, key, "...Chain  Start", 96). */
sotto_err sotto_spqr_init(sotto_spqr *s, const uint8_t auth_key[SOTTO_SPQR_KEY_BYTES], int dir);
void sotto_spqr_wipe(sotto_spqr *s);

/* encode_varint of serialize.rs (at most SOTTO_SPQR_VARINT_MAX bytes); the
 * braid's writer (spqr_braid.c) uses it too. */
size_t sotto_spqr_put_varint(uint8_t *p, uint64_t v);

/* Strict V1 decode; SOTTO_ERR_PQ_RATCHET when it does not parse. */
sotto_err sotto_spqr_parse(sotto_spqr_msg *m, const uint8_t *p, size_t n);

/* Next send: the None message to put on the wire and the key; nothing changes
 * until sotto_spqr_send_commit(). */
typedef struct sotto_spqr_send_plan {
    uint32_t index;
    uint8_t next[SOTTO_SPQR_KEY_BYTES];
    uint8_t key[SOTTO_SPQR_KEY_BYTES];
    uint8_t msg[SOTTO_SPQR_MSG_MAX];
    size_t msg_len;
} sotto_spqr_send_plan;
sotto_err sotto_spqr_send_plan_make(const sotto_spqr *s, sotto_spqr_send_plan *p);
void sotto_spqr_send_commit(sotto_spqr *s, const sotto_spqr_send_plan *p);

/* Receive: the key for a message (has_key = 0 means no salt, as libsignal does
 * for unknown future versions and for epoch 1 index 0), computed without
 * changing s; sotto_spqr_recv_commit() applies it. Errors: SOTTO_ERR_PQ_RATCHET,
 * SOTTO_ERR_TOO_FAR_AHEAD (KeyJump), SOTTO_ERR_KEY_NO_LONGER_HELD (KeyTrimmed),
 * SOTTO_ERR_DUPLICATE_MESSAGE (KeyAlreadyRequested). */
typedef struct sotto_spqr_recv_plan {
    int has_key;
    uint8_t key[SOTTO_SPQR_KEY_BYTES];
    int kind;                 /* 0 nothing, 1 take from history, 2 advance */
    uint32_t hist_pos;
    uint32_t new_ctr;
    uint8_t new_next[SOTTO_SPQR_KEY_BYTES];
    int clear_hist;
    sotto_spqr_entry *fresh;  /* heap, n_fresh entries to add */
    uint32_t n_fresh;
} sotto_spqr_recv_plan;
sotto_err sotto_spqr_recv_plan_make(sotto_spqr *s, const uint8_t *msg, size_t len,
                                    sotto_spqr_recv_plan *p);
void sotto_spqr_recv_commit(sotto_spqr *s, sotto_spqr_recv_plan *p);
void sotto_spqr_recv_plan_free(sotto_spqr_recv_plan *p);

/* One chain KDF step (exposed for known-answer tests). */
sotto_err sotto_spqr_next_key(uint8_t next[SOTTO_SPQR_KEY_BYTES], uint8_t key[SOTTO_SPQR_KEY_BYTES],
                              const uint8_t cur[SOTTO_SPQR_KEY_BYTES], uint32_t ctr);

#endif
