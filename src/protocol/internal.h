/* Internal to src/protocol: the session record, its states, and the pieces
 * (wire parsing, SPQR chain, Double Ratchet) they are built from. Not exported. */
#ifndef SOTTO_PROTOCOL_INTERNAL_H
#define SOTTO_PROTOCOL_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/session.h"
#include "protocol/spqr.h"
#include "protocol/spqr_braid.h"

#define SOTTO_KEY_BYTES           32   /* root, chain, seed, X25519 u */
#define SOTTO_MESSAGE_VERSION     4    /* Double Ratchet message version (PQXDH) */
#define SOTTO_VERSION_BYTE        0x44 /* (4 << 4) | 4 */
#define SOTTO_MAC_BYTES           8    /* truncated HMAC-SHA256 after a SignalMessage */
#define SOTTO_ADDRESSES_BYTES     36   /* sender ServiceId 17 + device 1 + recipient 17 + 1 */
#define SOTTO_EVICTED_RANGES_MAX  64   /* per chain; past it the two oldest ranges merge */
#define SOTTO_STATE_FORMAT_VERSION 2   /* first byte of sotto_session_save output */
/* Version 1 records (before the SPQR braid) still load; their states keep
 * running the epoch-0 chain with None payloads (no SPQR key was kept to
 * start a braid from). */
#define SOTTO_STATE_FORMAT_VERSION_MIN 1
#define SOTTO_STATE_MAX_BYTES     (64u << 20) /* refuse larger saved records */

/* A skipped message key, kept as its seed: the SPQR key is mixed in later. */
typedef struct sotto_skipped {
    uint32_t counter;
    uint8_t seed[SOTTO_KEY_BYTES];
} sotto_skipped;

typedef struct sotto_range { uint32_t lo, hi; } sotto_range;

typedef struct sotto_recv_chain {
    uint8_t ratchet_key[SOTTO_KEY_BYTES]; /* their ratchet public key (u) */
    uint8_t chain_key[SOTTO_KEY_BYTES];
    uint32_t index;                       /* next counter the chain key yields */
    sotto_skipped *keys;                  /* ascending counters, oldest first */
    uint32_t n_keys, cap_keys;
    sotto_range evicted[SOTTO_EVICTED_RANGES_MAX]; /* counters dropped by the limit */
    uint32_t n_evicted;
} sotto_recv_chain;

typedef struct sotto_pending {
    int has_pre_key;
    uint32_t pre_key_id;
    uint32_t signed_pre_key_id;
    uint32_t kyber_pre_key_id;
    uint8_t kyber_ciphertext[SOTTO_KYBER_CIPHERTEXT_BYTES];
} sotto_pending;

/* One session state (libsignal's SessionStructure). */
typedef struct sotto_state {
    uint8_t local_identity[SOTTO_EC_PUBLIC_BYTES];
    uint8_t remote_identity[SOTTO_EC_PUBLIC_BYTES];
    uint32_t local_registration_id, remote_registration_id;
    uint8_t alice_base_key[SOTTO_EC_PUBLIC_BYTES];
    uint8_t root_key[SOTTO_KEY_BYTES];
    uint32_t previous_counter;
    int has_sender;
    uint8_t sender_private[SOTTO_KEY_BYTES];
    uint8_t sender_public[SOTTO_KEY_BYTES];
    uint8_t sender_chain_key[SOTTO_KEY_BYTES];
    uint32_t sender_index;
    sotto_recv_chain chains[SOTTO_MAX_RECEIVER_CHAINS]; /* oldest first */
    uint32_t n_chains;
    /* Ratchet keys of the last chains dropped under SOTTO_MAX_RECEIVER_CHAINS
     * (oldest first): a late message on one is "no longer held", not a
     * reason for a DH step. */
    uint8_t dropped[SOTTO_MAX_RECEIVER_CHAINS][SOTTO_KEY_BYTES];
    uint32_t n_dropped;
    int has_pending;
    sotto_pending pending;
    sotto_spqr spqr;
    /* The full SPQR v1 braid (spqr_braid.h): every state made since format
     * version 2. NULL in states loaded from version 1, which use spqr above. */
    sotto_spqr_braid *braid;
} sotto_state;

struct sotto_session {
    int has_trusted;
    uint8_t trusted_identity[SOTTO_EC_PUBLIC_BYTES];
    sotto_state *current;
    sotto_state *archived[SOTTO_ARCHIVED_STATES_MAX]; /* newest first */
    uint32_t n_archived;
    int has_addresses;
    uint8_t local_address[SOTTO_SERVICE_ID_BYTES + 1];  /* ServiceId || device */
    uint8_t remote_address[SOTTO_SERVICE_ID_BYTES + 1];
};

struct sotto_identity {
    uint8_t priv[SOTTO_EC_PRIVATE_BYTES];
    uint8_t pub[SOTTO_EC_PUBLIC_BYTES];
    uint32_t registration_id;
};

/* ---- wire (message.c) ---------------------------------------------------- */

/* A bump allocator for protobuf-c unpack: small messages never touch the heap. */
#define SOTTO_ARENA_INLINE 4096
#define SOTTO_ARENA_HEAP_MAX 16
typedef struct sotto_arena {
    _Alignas(16) uint8_t buf[SOTTO_ARENA_INLINE];
    size_t used;
    void *heap[SOTTO_ARENA_HEAP_MAX];
    size_t n_heap;
} sotto_arena;
void sotto_arena_init(sotto_arena *a);
void sotto_arena_release(sotto_arena *a);
/* A 16-byte aligned block from the arena (inline buffer first, then the heap). */
void *sotto_arena_alloc(void *ctx, size_t size);

/* A parsed SignalMessage; pointers refer into the input or the arena. */
typedef struct sotto_signal_msg {
    uint8_t version;                       /* high nibble of the first byte */
    uint8_t ratchet_key[SOTTO_KEY_BYTES];
    uint32_t counter, previous_counter;
    const uint8_t *body; size_t body_len;
    const uint8_t *pq; size_t pq_len;
    const uint8_t *addresses; size_t addresses_len; int has_addresses;
    const uint8_t *serialized; size_t serialized_len; /* version byte .. before MAC */
    const uint8_t *mac;                    /* SOTTO_MAC_BYTES */
} sotto_signal_msg;

typedef struct sotto_prekey_msg {
    uint8_t version;
    uint32_t registration_id;
    int has_pre_key; uint32_t pre_key_id;
    uint32_t signed_pre_key_id;
    uint32_t kyber_pre_key_id;
    const uint8_t *kyber_ciphertext;       /* SOTTO_KYBER_CIPHERTEXT_BYTES */
    uint8_t base_key[SOTTO_EC_PUBLIC_BYTES];
    uint8_t identity_key[SOTTO_EC_PUBLIC_BYTES];
    sotto_signal_msg message;
} sotto_prekey_msg;

/* Parse a 0x05 || u key (trailing bytes tolerated, as libsignal does). */
sotto_err sotto_wire_public_key(uint8_t out[SOTTO_KEY_BYTES], const uint8_t *p, size_t n);
sotto_err sotto_wire_parse_signal(sotto_signal_msg *m, sotto_arena *a,
                                  const uint8_t *buf, size_t len);
sotto_err sotto_wire_parse_prekey(sotto_prekey_msg *m, sotto_arena *a,
                                  const uint8_t *buf, size_t len);

typedef struct sotto_signal_out {
    const uint8_t *ratchet_key;            /* 32, written as 0x05 || u */
    uint32_t counter, previous_counter;
    const uint8_t *body; size_t body_len;
    const uint8_t *pq; size_t pq_len;
    const uint8_t *addresses;              /* NULL or SOTTO_ADDRESSES_BYTES */
} sotto_signal_out;
/* Version byte + protobuf, then room for the MAC: the size written by pack. */
size_t sotto_wire_signal_size(const sotto_signal_out *o);
/* Writes version byte || protobuf into out (cap checked); MAC not added. */
sotto_err sotto_wire_signal_pack(const sotto_signal_out *o, uint8_t *out, size_t cap, size_t *len);

typedef struct sotto_prekey_out {
    uint32_t registration_id;
    int has_pre_key; uint32_t pre_key_id;
    uint32_t signed_pre_key_id;
    uint32_t kyber_pre_key_id;
    const uint8_t *kyber_ciphertext;
    const uint8_t *base_key;               /* 33 */
    const uint8_t *identity_key;           /* 33 */
    const uint8_t *message; size_t message_len;
} sotto_prekey_out;
size_t sotto_wire_prekey_size(const sotto_prekey_out *o);
sotto_err sotto_wire_prekey_pack(const sotto_prekey_out *o, uint8_t *out, size_t cap, size_t *len);

/* ---- states (state.c) ---------------------------------------------------- */
sotto_state *sotto_state_new(void);
void sotto_state_free(sotto_state *st);
/* Make room for n more skipped keys in a chain (may reallocate, content unchanged). */
sotto_err sotto_chain_reserve(sotto_recv_chain *c, uint32_t extra);
void sotto_chain_wipe(sotto_recv_chain *c);
/* Record counter as evicted in the chain's compact eviction record. */
void sotto_chain_note_evicted(sotto_recv_chain *c, uint32_t lo, uint32_t hi);
int sotto_chain_was_evicted(const sotto_recv_chain *c, uint32_t counter);

/* ---- keys and steps (ratchet.c) ------------------------------------------ */
/* HKDF(salt = root, ikm = DH(priv, pub), "WhisperRatchet") -> root', chain. */
sotto_err sotto_root_step(uint8_t new_root[SOTTO_KEY_BYTES], uint8_t chain[SOTTO_KEY_BYTES],
                          const uint8_t root[SOTTO_KEY_BYTES], const uint8_t priv[SOTTO_KEY_BYTES],
                          const uint8_t pub[SOTTO_KEY_BYTES]);
/* seed = HMAC(ck, 0x01) and/or next = HMAC(ck, 0x02); either may be NULL. */
sotto_err sotto_chain_step(uint8_t seed[SOTTO_KEY_BYTES], uint8_t next[SOTTO_KEY_BYTES],
                           const uint8_t ck[SOTTO_KEY_BYTES]);

typedef struct sotto_message_keys {
    uint8_t cipher[32], mac[32], iv[16];
} sotto_message_keys;
/* HKDF(salt = SPQR key or none, ikm = seed, "WhisperMessageKeys", 80). */
sotto_err sotto_message_keys_derive(sotto_message_keys *mk, const uint8_t seed[SOTTO_KEY_BYTES],
                                    const uint8_t *pq_key /* NULL: no salt */);
sotto_err sotto_message_mac(uint8_t mac[SOTTO_MAC_BYTES], const uint8_t mac_key[32],
                            const uint8_t sender_ik[SOTTO_EC_PUBLIC_BYTES],
                            const uint8_t receiver_ik[SOTTO_EC_PUBLIC_BYTES],
                            const uint8_t *serialized, size_t len);

/* Decrypt one SignalMessage with one state: everything computed on the side,
 * the state changed only when the MAC and padding check out. *final is set
 * when the error must end a search over states (the Double Ratchet saw the
 * counter as used or evicted). */
sotto_err sotto_state_decrypt(sotto_state *st, const sotto_session *rec,
                              const sotto_signal_msg *m,
                              uint8_t *pt, size_t pt_cap, size_t *pt_len, int *final);

/* ---- PQXDH (pqxdh.c) ----------------------------------------------------- */
sotto_err sotto_pqxdh_alice(sotto_state **out, const sotto_identity *us, const sotto_bundle *b);
sotto_err sotto_pqxdh_bob(sotto_state **out, const sotto_identity *us,
                          const sotto_prekey_secrets *keys, const sotto_prekey_msg *m);
/* libsignal's PublicKey::is_canonical: in range and torsion free. */
int sotto_x25519_is_canonical(const uint8_t u[SOTTO_KEY_BYTES]);

/* ---- saved bytes (state_io.c) -------------------------------------------- */
sotto_err sotto_record_save(const sotto_session *s, uint8_t *buf, size_t cap, size_t *len);
sotto_err sotto_record_load(sotto_session **out, const uint8_t *buf, size_t len);
void sotto_record_clear(sotto_session *s);

#endif
