/* sottod: JSON bodies of the REST API and the WebSocket (docs/API.md).
 * Decoders are pure (no store, no I/O) so they can be fuzzed. Each checks
 * every length against a named limit before allocating, and returns 0, or -1
 * with *why set to a static phrase for the 400 answer. */
#ifndef SOTTOD_API_H
#define SOTTOD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct sotto_api_register {
    char username[SOTTO_STORE_USERNAME_MAX + 1];
    uint8_t secret[SOTTO_STORE_SECRET_MAX_BYTES];
    size_t secret_len;
    uint32_t registration_id;
    uint8_t identity_key[SOTTO_STORE_EC_KEY_BYTES];
    sotto_store_signed_prekey signed_prekey;
    sotto_store_kem_prekey last_resort;
} sotto_api_register;

typedef struct sotto_api_keys {
    bool has_signed;
    sotto_store_signed_prekey signed_prekey;
    bool has_last_resort;
    sotto_store_kem_prekey last_resort;
    sotto_store_ec_prekey *ec;      /* owned */
    size_t ec_count;
    sotto_store_kem_prekey *kem;    /* owned */
    size_t kem_count;
} sotto_api_keys;

typedef struct sotto_api_submit {
    sotto_store_outgoing outs[SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION];
    size_t count;
    uint8_t *bodies;                /* owned: every body, back to back */
} sotto_api_submit;

#define SOTTO_API_MAX_ACK_IDS SOTTO_STORE_MAX_ACKS

/* secret wiped by the caller (sodium_memzero) after use. */
int sotto_api_decode_register(const uint8_t *body, size_t len, sotto_api_register *out,
                              const char **why);
int sotto_api_decode_keys(const uint8_t *body, size_t len, sotto_api_keys *out, const char **why);
void sotto_api_keys_free(sotto_api_keys *k);
int sotto_api_decode_submit(const uint8_t *body, size_t len, size_t max_envelope,
                            sotto_api_submit *out, const char **why);
void sotto_api_submit_free(sotto_api_submit *m);
/* A WebSocket text message from the client: {"type":"ack","ids":[...]}. */
int sotto_api_decode_ws(const uint8_t *body, size_t len,
                        uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES],
                        size_t *count, const char **why);

/* A WebSocket text message from the client (docs/API.md):
 *   {"type":"ack","ids":[...]}                       acknowledges envelopes;
 *   {"type":"send","id":N,"to":"name|uuid","messages":[...]}  submits, like PUT
 *   /v1/messages/{to}; answered by {"type":"sent","id":N,"status":...}.
 * For a send whose id was read (has_id), a later field error is answered
 * under that id; otherwise the socket is closed as a protocol error. */
#define SOTTO_API_MAX_TO 64u
typedef enum sotto_api_ws_kind { SOTTO_API_WS_ACK = 1, SOTTO_API_WS_SEND = 2 } sotto_api_ws_kind;
typedef struct sotto_api_ws_msg {
    sotto_api_ws_kind kind;
    size_t n_ids;                   /* ack: ids written to the caller's array */
    bool has_id;                    /* send: id was read */
    uint32_t send_id;
    char to[SOTTO_API_MAX_TO + 1];
    size_t to_len;
    sotto_api_submit submit;        /* send: owned (sotto_api_submit_free) */
} sotto_api_ws_msg;
int sotto_api_decode_ws_msg(const uint8_t *body, size_t len, size_t max_envelope,
                            uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES],
                            sotto_api_ws_msg *out, const char **why);

/* Envelope ids travel as 8-4-4-4-12 hex, like UUIDs. */
int sotto_api_parse_id(uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES], const char *s, size_t n);

#endif
