/* sottod: the WebSocket's binary messages (sottod_ws.proto), for sockets
 * that chose the subprotocol "sotto.pb" (docs/API.md). The same messages as
 * the JSON text frames, decoded into the same structures (api.h). The
 * decoder is pure (no store, no I/O) and fuzzed (fuzz/server/fuzz_ws_pb.c). */
#ifndef SOTTOD_API_PB_H
#define SOTTOD_API_PB_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "store.h"

#define SOTTO_API_PB_SUBPROTOCOL "sotto.pb"

/* A binary client message: ClientMessage{send|ack}. Same contract as
 * sotto_api_decode_ws_msg: 0, or -1 with *why (static) and, for a send
 * whose id was read, out->has_id so the caller answers under it. */
int sotto_api_decode_ws_pb(const uint8_t *body, size_t len, size_t max_envelope,
                           uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES],
                           sotto_api_ws_msg *out, const char **why);

/* Server messages: bytes written, or 0 when cap is too small. */
size_t sotto_api_pb_envelope(const sotto_store_envelope *e, uint8_t *out, size_t cap);
/* SendResult: mismatch may be NULL; error NULL for none. */
size_t sotto_api_pb_sent(uint32_t id, int status, const char *error,
                         const sotto_store_mismatch *mismatch, uint8_t *out, size_t cap);
size_t sotto_api_pb_queue_empty(uint8_t *out, size_t cap);
/* ServerMessage{devices_changed}: the account's set of devices changed. */
size_t sotto_api_pb_devices_changed(uint8_t *out, size_t cap);
/* Upper bound of sotto_api_pb_envelope's output for a body of n bytes. */
#define SOTTO_API_PB_ENVELOPE_MAX(n) ((size_t)(n) + 96u)
#define SOTTO_API_PB_SENT_MAX                                                        \
    (64u + 256u + 6u * (SOTTO_STORE_MAX_DEVICES + SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION))

#endif
