/* sottod: linked devices (docs/API.md "Linked devices").
 *
 *   POST   /v1/provisioning              no auth, rate-limited: open a mailbox
 *   GET    /v1/provisioning/{address}    no auth: long poll for its one message
 *   PUT    /v1/provisioning/{address}    auth: deliver that message
 *   POST   /v1/devices/link              auth: a one-time link token
 *   POST   /v1/devices                   no auth (the token), rate-limited: add a device
 *   GET    /v1/devices                   auth: the account's devices
 *   DELETE /v1/devices/{id}               auth: remove another device of the account
 *
 * The decoders are pure (no store, no I/O) so that they can be fuzzed; each
 * checks every length against a named limit before allocating and returns 0,
 * or -1 with *why set to a static phrase for the 400 answer. */
#ifndef SOTTOD_API_DEVICES_H
#define SOTTOD_API_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "provisioning.h"
#include "store.h"

/* {"devices":[{"id":N,"created":T},…]}: ids 3 digits, times 20. */
#define SOTTOD_DEVICES_BODY_MAX (32u + 40u * SOTTO_STORE_MAX_DEVICES)

typedef struct sotto_conn sotto_conn;
typedef struct sotto_srv sotto_srv;

/* POST /v1/devices: the device part of POST /v1/accounts, with the token
 * instead of username and identity key (the account's identity key is used
 * to check the prekey signatures). */
typedef struct sotto_api_link_device {
    uint8_t token[SOTTOD_LINK_TOKEN_BYTES];
    uint8_t secret[SOTTO_STORE_SECRET_MAX_BYTES];
    size_t secret_len;
    uint32_t registration_id;
    sotto_store_signed_prekey signed_prekey;
    sotto_store_kem_prekey last_resort;
} sotto_api_link_device;

/* The token and secret are wiped by the caller after use. */
int sotto_api_decode_link_device(const uint8_t *body, size_t len, sotto_api_link_device *out,
                                 const char **why);
/* PUT /v1/provisioning/{address}: {"message":"<base64>"}, 1..SOTTOD_PROV_MAX_MESSAGE bytes. */
int sotto_api_decode_prov_put(const uint8_t *body, size_t len,
                              uint8_t msg[SOTTOD_PROV_MAX_MESSAGE], size_t *msg_len,
                              const char **why);
/* A mailbox address: exactly SOTTOD_PROV_ADDRESS_CHARS of base64url. */
int sotto_api_parse_prov_address(uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES], sotto_slice s);
/* The long poll's "timeout=S" (0..SOTTOD_PROV_WAIT_MAX_S) from a query
 * string; absent: SOTTOD_PROV_WAIT_DEFAULT_S. -1 for a bad value. */
int sotto_api_parse_wait(sotto_slice query, uint32_t *seconds);
/* GET /v1/devices body for the account's devices (200), or 0 on a short buffer. */
size_t sotto_api_devices_json(const sotto_store_device *d, size_t n,
                              char out[SOTTOD_DEVICES_BODY_MAX]);

/* Routes (loop thread). what: "provisioning" or "devices"; seg/n_seg the
 * path segments after it. Answers c's current request. */
void sotto_api_devices_route(sotto_conn *c, sotto_http_method method, bool authed, sotto_slice what,
                             const sotto_slice *seg, size_t n_seg, sotto_slice query,
                             const uint8_t *body, size_t body_len);
/* Once a sweep period: expiry, long-poll timeouts, waiters of closed
 * connections, and (draining) every waiter answered 503. */
void sotto_api_devices_sweep(sotto_srv *s, uint64_t now_ms);
/* After the loop stopped: frees the tables (wiping them). */
void sotto_api_devices_free(sotto_srv *s);

#endif
