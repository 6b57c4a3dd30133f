/* sotto-peer: state, limits and reply helpers shared by the core commands
 * (sotto-peer.c) and the message-layer commands (peer_layers.c). */
#ifndef SOTTO_TOOLS_PEER_H
#define SOTTO_TOOLS_PEER_H
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sotto/sotto.h"

/* Limits on what the driver may send. */
#define PEER_MAX_LINE_BYTES      (1u << 20)  /* one request line, newline excluded */
#define PEER_MAX_NAME_BYTES      256         /* a peer or our own name */
#define PEER_MAX_DEVICE_ID       127         /* libsignal device ids are 1..127 */
#define PEER_MAX_REGISTRATION_ID 16380       /* libsignal draws 1..16380 */
#define PEER_MAX_CIPHERTEXT      (SOTTO_MAX_PLAINTEXT_BYTES + 8192)
#define PEER_MAX_SIGNED_MESSAGE  (1u << 20)
#define PEER_MAX_SESSION_RECORD  (16u << 20) /* a saved record we accept back */
#define PEER_MAX_PREKEYS         100000      /* one-time EC or Kyber prekeys held */
#define PEER_MAX_PEERS           100000      /* sessions / trusted identities held */
#define PEER_DEFAULT_NAME        "sotto"
#define PEER_DEFAULT_DEVICE      1
#define PEER_SIGNED_PREKEY_ID    1
#define PEER_LAST_RESORT_KYBER_ID 1

/* ---------------------------------------------------------------- state */

typedef struct ec_prekey {
    uint32_t id;
    uint8_t pub[SOTTO_EC_PUBLIC_BYTES];
    uint8_t priv[SOTTO_EC_PRIVATE_BYTES];
} ec_prekey;

typedef struct kyber_prekey {
    uint32_t id;
    uint8_t pub[SOTTO_KYBER_PUBLIC_BYTES];
    uint8_t sec[SOTTO_KYBER_SECRET_BYTES];
    uint8_t sig[SOTTO_SIGNATURE_BYTES];
} kyber_prekey;

/* A (signed prekey, base key) pair that used the last-resort Kyber prekey:
 * it may build a session once; later prekey messages with that base key
 * need the session it built (as libsignal's store enforces). */
typedef struct lr_use {
    uint32_t spk_id;
    uint8_t base_key[SOTTO_EC_PUBLIC_BYTES];
} lr_use;

typedef struct peer_entry {
    char *name;
    uint32_t device;
    sotto_session *session;          /* NULL until a session exists */
    bool trusted;                    /* identity below is pinned */
    uint8_t identity[SOTTO_EC_PUBLIC_BYTES];
    uint8_t *saved;                  /* last save_session bytes */
    size_t saved_len;
} peer_entry;

/* A sender-key record for (sender, device, distribution id); name NULL is us. */
typedef struct group_entry {
    char *name;
    uint32_t device;
    uint8_t dist[SOTTO_DISTRIBUTION_ID_BYTES];
    sotto_sender_key_record *rec;
} group_entry;

typedef struct peer_state {
    bool ready;
    char *name;
    uint32_t device;
    sotto_identity *id;
    uint8_t identity_pub[SOTTO_EC_PUBLIC_BYTES];
    ec_prekey spk;
    uint8_t spk_sig[SOTTO_SIGNATURE_BYTES];
    kyber_prekey last_resort;
    ec_prekey *ec;      size_t n_ec, cap_ec;
    kyber_prekey **kyb; size_t n_kyb, cap_kyb;
    peer_entry *peers;  size_t n_peers, cap_peers;
    group_entry *groups; size_t n_groups, cap_groups;
    lr_use *lr_uses;    size_t n_lr, cap_lr;
    uint32_t next_ec_id, next_kyber_id;
} peer_state;

#define PNI_PREFIX        "PNI:"

/* ---------------------------------------------------------------- replies */

typedef struct reply {
    json_t *obj;       /* fields of a successful reply */
    char err[256];     /* set on failure */
} reply;

/* Helpers (sotto-peer.c). Each get_* fills r with the error and returns false. */
bool reserve(void **arr, size_t *cap, size_t n, size_t elem, size_t max);
bool parse_uuid(const char *s, size_t n, uint8_t out[SOTTO_DISTRIBUTION_ID_BYTES]);
bool parse_service_id(const char *name, uint8_t out[SOTTO_SERVICE_ID_BYTES]);
bool fail(reply *r, const char *fmt, const char *detail);
bool fail_lib(reply *r, const char *what, sotto_err e);
bool set_b64(reply *r, const char *key, const uint8_t *bin, size_t len);
bool set_int(reply *r, const char *key, json_int_t v);
bool get_b64(reply *r, json_t *req, const char *key, size_t max, uint8_t **out, size_t *out_len);
bool get_b64_fixed(reply *r, json_t *req, const char *key, uint8_t *out, size_t len);
bool get_u32(reply *r, json_t *req, const char *key, uint32_t lo, uint32_t hi, bool required, uint32_t dflt, uint32_t *out);
bool get_name(reply *r, json_t *req, const char *key, const char **out);
bool get_addr(reply *r, json_t *req, const char **name, uint32_t *device);
bool get_bool(json_t *req, const char *key);
bool need_init(peer_state *st, reply *r);

/* Message-layer commands (peer_layers.c): safety numbers, sender keys, sealed sender. */
bool cmd_fingerprint(peer_state *st, json_t *req, reply *r);
bool cmd_group_create(peer_state *st, json_t *req, reply *r);
bool cmd_group_process(peer_state *st, json_t *req, reply *r);
bool cmd_group_encrypt(peer_state *st, json_t *req, reply *r);
bool cmd_group_decrypt(peer_state *st, json_t *req, reply *r);
bool cmd_certificate(peer_state *st, json_t *req, reply *r);
bool cmd_seal(peer_state *st, json_t *req, reply *r);
bool cmd_fanout(peer_state *st, json_t *req, reply *r);
bool cmd_unseal(peer_state *st, json_t *req, reply *r);
bool cmd_fingerprint_compare(peer_state *st, json_t *req, reply *r);

#endif
