/* sotto client: linking a second device to an account (docs/CLIENT.md
 * "Linked devices"), listing and removing devices.
 *
 *  new device   sotto link --server URL     creates its store, opens a
 *               provisioning mailbox on the server, makes an ephemeral X25519
 *               key pair and prints the link code
 *                 sotto-link:<mailbox address>.<ephemeral public key>
 *               (both base64url), then waits for the mailbox's message;
 *  old device   sotto add-device CODE        gets a one-time link token from
 *               the server and puts into the mailbox the provisioning message
 *               sealed to the ephemeral key (libsodium crypto_box_seal: only
 *               the new device can open it, the server cannot);
 *  new device   opens it, makes its own registration id, secret, signed and
 *               last-resort prekeys signed by the account's identity key, and
 *               registers with the token (POST /v1/devices).
 *
 * The provisioning message (inside the sealed box):
 *   version (1 byte, 0x01) || account uuid (36 ASCII characters) ||
 *   identity private key (32) || link token (32) ||
 *   username length (1 byte) || username
 * The identity private key and the ephemeral secret key are wiped
 * (sodium_memzero / sodium_free) as soon as they are used. */
#ifndef SOTTO_CLIENT_LINK_H
#define SOTTO_CLIENT_LINK_H
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"

#define SOTTO_LINK_MSG_VERSION    0x01
#define SOTTO_LINK_UUID_LEN       36
#define SOTTO_LINK_PRIV_BYTES     32   /* the identity private key (X25519 scalar) */
#define SOTTO_LINK_TOKEN_BYTES    32   /* sottod's link token */
#define SOTTO_LINK_TOKEN_CHARS    43   /* ... as base64url without padding */
#define SOTTO_LINK_PK_BYTES       32   /* crypto_box (X25519) public key */
#define SOTTO_LINK_PK_CHARS       43
#define SOTTO_LINK_ADDRESS_CHARS  22   /* sottod's mailbox address, base64url */
#define SOTTO_LINK_CODE_PREFIX    "sotto-link:"
#define SOTTO_LINK_CODE_MAX       (11 + SOTTO_LINK_ADDRESS_CHARS + 1 + SOTTO_LINK_PK_CHARS + 1)
#define SOTTO_LINK_MSG_MAX        (1 + SOTTO_LINK_UUID_LEN + SOTTO_LINK_PRIV_BYTES + SOTTO_LINK_TOKEN_BYTES + 1 + \
                                   SOTTO_PEER_MAX)
#define SOTTO_LINK_SEALED_MAX     (SOTTO_LINK_MSG_MAX + 48) /* + crypto_box_SEALBYTES */
#define SOTTO_LINK_POLL_S         20   /* one long poll (under SOTTO_NET_TIMEOUT_MS) */
#define SOTTO_LINK_WAIT_S         600  /* the mailbox lives 10 minutes on the server */
#define SOTTO_DEVICES_MAX         16   /* devices we list */
#define SOTTO_DEVICE_NAME_MAX     64   /* link --name */

typedef struct sotto_link_msg {
    char uuid[SOTTO_LINK_UUID_LEN + 1];
    uint8_t identity_private[SOTTO_LINK_PRIV_BYTES];
    uint8_t token[SOTTO_LINK_TOKEN_BYTES];
    char username[SOTTO_PEER_MAX + 1];
} sotto_link_msg;

/* out has room for SOTTO_LINK_MSG_MAX. */
sotto_cstatus sotto_link_msg_encode(const sotto_link_msg *m, uint8_t *out, size_t *out_len, char *err);
/* Bytes that came out of the sealed box. SOTTO_C_SERVER on anything
 * unexpected; *out is zeroed first and wiped on failure. */
sotto_cstatus sotto_link_msg_decode(const uint8_t *in, size_t len, sotto_link_msg *out, char *err);

/* "sotto-link:<address>.<public key>" into out (SOTTO_LINK_CODE_MAX). */
sotto_cstatus sotto_link_code_format(char out[SOTTO_LINK_CODE_MAX], const char *address,
                                     const uint8_t pk[SOTTO_LINK_PK_BYTES], char *err);
/* The reverse; white space around the code is ignored. SOTTO_C_USAGE when
 * it is not a link code. */
sotto_cstatus sotto_link_code_parse(const char *code, char address[SOTTO_LINK_ADDRESS_CHARS + 1],
                                    uint8_t pk[SOTTO_LINK_PK_BYTES], char *err);

/* ---- the commands (link.c) ---- */

typedef struct sotto_client sotto_client;

typedef struct sotto_link_args {
    const char *server;
    const char *cacert;
    const char *pin;
    const char *name;     /* a label for this device, kept in its store only; may be NULL */
} sotto_link_args;

/* Called once with the link code, which the user carries to the old device. */
typedef void (*sotto_link_code_cb)(void *ctx, const char *code);

/* The new device's side: creates the store in dir (it must not exist),
 * prints the code through cb, waits up to SOTTO_LINK_WAIT_S for the old
 * device, registers and uploads prekeys. *out_username and *out_device
 * (may be NULL) tell what it became. On failure the store is removed
 * (key_file: with its key file). */
sotto_cstatus sotto_client_link(const char *dir, const sotto_link_args *a, const sotto_store_secret *sec,
                                int key_file, sotto_link_code_cb cb, void *ctx,
                                char out_username[SOTTO_PEER_MAX + 1], uint32_t *out_device, char *err);

/* The old device's side: sends the provisioning message for code. */
sotto_cstatus sotto_client_add_device(sotto_client *c, const char *code, char *err);

typedef struct sotto_device_info {
    uint32_t id;
    int64_t created;      /* the day the server added it (seconds, rounded down to the day) */
    int current;          /* this device */
} sotto_device_info;

/* GET /v1/devices. */
sotto_cstatus sotto_client_devices(sotto_client *c, sotto_device_info out[SOTTO_DEVICES_MAX], size_t *n,
                                   char *err);
/* DELETE /v1/devices/{id}, then forgets the sessions with that device. */
sotto_cstatus sotto_client_unlink(sotto_client *c, uint32_t id, char *err);
/* This device's id. */
uint32_t sotto_client_device_id(const sotto_client *c);
/* This device's label (link --name), "" when none. */
sotto_cstatus sotto_client_device_name(sotto_client *c, char out[SOTTO_DEVICE_NAME_MAX + 1], char *err);

#endif
