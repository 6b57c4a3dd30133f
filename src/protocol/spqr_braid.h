/* Internal: the whole SPQR v1 ratchet as libsignal 0.103 runs it
 * (signalapp/SparsePostQuantumRatchet v1.5.3: src/v1/chunked/states.rs,
 * send_ek.rs, send_ct.rs, src/chain.rs, src/lib.rs): the ML-KEM-768 braid
 * that moves both sides to a new epoch, chunked by the erasure code, and the
 * per-epoch symmetric chains that turn each epoch secret into message keys.
 *
 * The braid, one KEM exchange per epoch (A starts as the ek sender):
 *   ek sender:  KeysUnsampled -> KeysSampled (Hdr chunks: header || MAC)
 *               -> HeaderSent (first Ct1 chunk in; Ek chunks: t)
 *               -> Ct1Received (ct1 decoded; EkCt1Ack chunks)
 *               -> EkSentCt1Received (first Ct2 chunk in; Ct1Ack)
 *               -> [ct2 || MAC decoded, decapsulated, MAC checked: epoch secret]
 *               -> ct sender of epoch + 1
 *   ct sender:  NoHeaderReceived (None; Hdr chunks in) -> HeaderReceived
 *               (header MAC checked) -> Ct1Sampled (encaps1: epoch secret;
 *               Ct1 chunks; Ek chunks in) -> EkReceivedCt1Sampled (t decoded
 *               and checked against the header, Ct1 chunks) or Ct1Acknowledged
 *               (an ack, still decoding t; None) -> Ct2Sampled (encaps2; Ct2
 *               chunks: ct2 || MAC) -> [a message of epoch + 1] -> ek sender
 *               of epoch + 1
 * Epoch secret: HKDF(0^32, ss, "Signal_PQCKA_V1_MLKEM768:SCKA Key" || BE64(epoch), 32);
 * it also updates the authenticator. A message carries the sender's braid
 * epoch; its key comes from the chain of epoch - 1.
 *
 * Every call is atomic: on error the state is as before. */
#ifndef SOTTO_PROTOCOL_SPQR_BRAID_H
#define SOTTO_PROTOCOL_SPQR_BRAID_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"
#include "crypto/mlkem768.h"
#include "protocol/spqr_auth.h"
#include "protocol/spqr_erasure.h"

#define SOTTO_SPQR_BRAID_KEY_BYTES   32
#define SOTTO_SPQR_BRAID_MSG_MAX     (1 + 10 + 5 + 1 + 3 + 32) /* version, epoch, index, type, chunk */
#define SOTTO_SPQR_BRAID_HDR_MSG     (MLKEM768_HDRBYTES + SOTTO_SPQR_MAC_BYTES)   /* 96 */
#define SOTTO_SPQR_BRAID_CT2_MSG     (MLKEM768_CT2BYTES + SOTTO_SPQR_MAC_BYTES)   /* 160 */
/* chain.rs ChainParams defaults (libsignal's MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS) */
#define SOTTO_SPQR_BRAID_MAX_JUMP    25000
#define SOTTO_SPQR_BRAID_MAX_OOO     2000
#define SOTTO_SPQR_BRAID_TRIM_SIZE   (SOTTO_SPQR_BRAID_MAX_OOO * 11 / 10 + 1)
/* Epoch chains kept. The reference keeps the send epoch, one before it and
 * every later one; a later epoch needs a full round trip of ours, so more
 * than a few never coexist. Past this the oldest is dropped. */
#define SOTTO_SPQR_BRAID_MAX_LINKS   8
#define SOTTO_SPQR_BRAID_DIR_A2B     0
#define SOTTO_SPQR_BRAID_DIR_B2A     1

typedef enum {
    SOTTO_BRAID_KEYS_UNSAMPLED = 0,
    SOTTO_BRAID_KEYS_SAMPLED,
    SOTTO_BRAID_HEADER_SENT,
    SOTTO_BRAID_CT1_RECEIVED,
    SOTTO_BRAID_EK_SENT_CT1_RECEIVED,
    SOTTO_BRAID_NO_HEADER_RECEIVED,
    SOTTO_BRAID_HEADER_RECEIVED,
    SOTTO_BRAID_CT1_SAMPLED,
    SOTTO_BRAID_EK_RECEIVED_CT1_SAMPLED,
    SOTTO_BRAID_CT1_ACKNOWLEDGED,
    SOTTO_BRAID_CT2_SAMPLED,
    SOTTO_BRAID_STATE_COUNT_
} sotto_braid_state;

/* The KEM state machine (states.rs). Fields are meaningful per state. */
typedef struct sotto_spqr_scka {
    uint8_t state;
    uint64_t epoch;
    sotto_spqr_auth auth;
    uint8_t dk[MLKEM768_DKBYTES];       /* ek sender, KeysSampled .. EkSentCt1Received */
    uint8_t hdr[MLKEM768_HDRBYTES];     /* ct sender: the header received */
    uint8_t es[MLKEM768_ESBYTES];       /* ct sender: encapsulation state */
    uint8_t ct1[MLKEM768_CT1BYTES];     /* ct1 sent (ct sender) or received (ek sender) */
    uint8_t ek[MLKEM768_EK_T_BYTES];    /* ct sender: t received */
    sotto_spqr_ec_encoder enc;          /* what we are sending in chunks */
    sotto_spqr_ec_decoder dec;          /* what we are receiving in chunks */
} sotto_spqr_scka;

typedef struct sotto_spqr_braid_key {
    uint32_t index;
    uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES];
} sotto_spqr_braid_key;

typedef struct sotto_spqr_chain_dir {
    uint32_t ctr;
    uint8_t has_next;                   /* 0 once an old send chain is closed */
    uint8_t next[SOTTO_SPQR_BRAID_KEY_BYTES];
    sotto_spqr_braid_key *hist;         /* skipped receive keys, any order */
    uint32_t n_hist, cap_hist;
} sotto_spqr_chain_dir;

typedef struct sotto_spqr_chain_link {
    sotto_spqr_chain_dir send, recv;
} sotto_spqr_chain_link;

/* chain.rs Chain: links[n_links - 1] is current_epoch. */
typedef struct sotto_spqr_chain {
    uint8_t dir;
    uint64_t current_epoch, send_epoch;
    uint8_t next_root[SOTTO_SPQR_BRAID_KEY_BYTES];
    uint32_t n_links;
    sotto_spqr_chain_link links[SOTTO_SPQR_BRAID_MAX_LINKS];
} sotto_spqr_chain;

typedef struct sotto_spqr_braid {
    sotto_spqr_scka scka;
    sotto_spqr_chain chain;
    /* Only in what prepare returns: 1 when the message leaves the scka as it
     * is but for scka.enc.next, so only that and the chain are filled in. */
    uint8_t delta;
} sotto_spqr_braid;

/* Both from the 32-byte SPQR key of PQXDH; A (the initiator) sends keys first. */
sotto_err sotto_spqr_braid_init(sotto_spqr_braid *b, const uint8_t auth_key[32], int dir);
void sotto_spqr_braid_wipe(sotto_spqr_braid *b);
/* The same on the heap (a session state holds a pointer); free wipes. */
sotto_err sotto_spqr_braid_new(sotto_spqr_braid **out, const uint8_t auth_key[32], int dir);
void sotto_spqr_braid_free(sotto_spqr_braid *b);
sotto_err sotto_spqr_braid_copy(sotto_spqr_braid *dst, const sotto_spqr_braid *src);

/* The next pq_ratchet payload (msg, msg_len <= SOTTO_SPQR_BRAID_MSG_MAX) and
 * its message key (has_key = 0 only never: every send has one). */
sotto_err sotto_spqr_braid_send(sotto_spqr_braid *b, uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX],
                                size_t *msg_len, uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES],
                                int *has_key);
/* A received payload: its message key (has_key = 0 for epoch 1 index 0, and
 * for versions above ours, which change nothing). Errors:
 * SOTTO_ERR_PQ_RATCHET (does not parse, epoch out of range, MAC, bad ek),
 * SOTTO_ERR_TOO_FAR_AHEAD, SOTTO_ERR_KEY_NO_LONGER_HELD,
 * SOTTO_ERR_DUPLICATE_MESSAGE, SOTTO_ERR_NO_MEMORY. */
sotto_err sotto_spqr_braid_recv(sotto_spqr_braid *b, const uint8_t *msg, size_t msg_len,
                                uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES], int *has_key);

/* The same in two steps, for callers that must check more before keeping
 * the result (the session's MAC, its output buffer): prepare works on a heap
 * copy and leaves b alone; commit swaps the copy in (next NULL: nothing to
 * do, as for a payload of a later version); discard drops it. When the
 * message changes no more of the KEM state than the encoder's position (most
 * messages), the copy holds only that and the chain (next->delta). */
sotto_err sotto_spqr_braid_send_prepare(const sotto_spqr_braid *b, sotto_spqr_braid **next,
                                        uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX], size_t *msg_len,
                                        uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES], int *has_key);
sotto_err sotto_spqr_braid_recv_prepare(const sotto_spqr_braid *b, sotto_spqr_braid **next,
                                        const uint8_t *msg, size_t msg_len,
                                        uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES], int *has_key);
void sotto_spqr_braid_commit(sotto_spqr_braid *b, sotto_spqr_braid *next);
void sotto_spqr_braid_discard(sotto_spqr_braid *next);

/* The epoch of the messages we send now (the braid epoch); the chain's. */
uint64_t sotto_spqr_braid_epoch(const sotto_spqr_braid *b);

/* ---- pieces, for tests and fuzzing ---- */
typedef struct sotto_spqr_braid_msg {
    uint64_t epoch;
    uint32_t index;
    uint8_t type;                       /* SOTTO_SPQR_T_* of spqr.h: 0 None .. 6 Ct2 */
    uint16_t chunk_index;
    uint8_t chunk[SOTTO_SPQR_EC_CHUNK_BYTES];
} sotto_spqr_braid_msg;
/* serialize.rs Message::deserialize: version 1, epoch >= 1, trailing bytes allowed. */
sotto_err sotto_spqr_braid_msg_parse(sotto_spqr_braid_msg *m, const uint8_t *p, size_t n);
size_t sotto_spqr_braid_msg_write(const sotto_spqr_braid_msg *m, uint8_t out[SOTTO_SPQR_BRAID_MSG_MAX]);

/* states.rs send / recv without the chain. secret_out gets the epoch secret
 * when *has_secret (then its epoch is the message epoch). */
sotto_err sotto_spqr_scka_send(sotto_spqr_scka *s, sotto_spqr_braid_msg *m,
                               uint8_t secret[32], int *has_secret);
sotto_err sotto_spqr_scka_recv(sotto_spqr_scka *s, const sotto_spqr_braid_msg *m,
                               uint8_t secret[32], int *has_secret);

/* chain.rs, in spqr_braid_chain.c */
sotto_err sotto_spqr_chain_init(sotto_spqr_chain *c, const uint8_t key[32], int dir);
sotto_err sotto_spqr_chain_add_epoch(sotto_spqr_chain *c, uint64_t epoch, const uint8_t secret[32]);
sotto_err sotto_spqr_chain_send_key(sotto_spqr_chain *c, uint64_t epoch, uint32_t *index,
                                    uint8_t key[32]);
sotto_err sotto_spqr_chain_recv_key(sotto_spqr_chain *c, uint64_t epoch, uint32_t index,
                                    uint8_t key[32]);
void sotto_spqr_chain_wipe(sotto_spqr_chain *c);
sotto_err sotto_spqr_chain_copy(sotto_spqr_chain *dst, const sotto_spqr_chain *src);

/* Saved form (spqr_braid_io.c): versioned bytes; load checks every field. */
#define SOTTO_SPQR_BRAID_SAVE_VERSION 1
sotto_err sotto_spqr_braid_save(const sotto_spqr_braid *b, uint8_t **out, size_t *out_len);
sotto_err sotto_spqr_braid_load(sotto_spqr_braid *b, const uint8_t *p, size_t n);
#endif
