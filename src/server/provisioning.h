/* sottod: linking a new device to an account, the in-memory half
 * (docs/API.md "Linked devices").
 *
 * Two small tables, owned by the loop thread, never written to disk or logs:
 *  - provisioning mailboxes: a new device opens one (unauthenticated) and
 *    waits on it; an existing device of the account drops ONE opaque
 *    ciphertext into it (sealed to the new device's ephemeral key, so the
 *    server cannot read it). A mailbox lives SOTTOD_PROV_TTL_MS, its message
 *    is handed out once, then the mailbox is gone.
 *  - link tokens: an authenticated device asks for one; the new device
 *    registers with it (POST /v1/devices). Only a keyed hash of the token is
 *    kept, it is good for SOTTOD_LINK_TOKEN_TTL_MS and for one device.
 * A restart forgets both: a link in progress is simply started again.
 *
 * Every limit is checked before anything is allocated; the tables are
 * allocated once (sotto_prov_new). Time is passed in (milliseconds of the
 * loop clock), so the tables are tested without a server. */
#ifndef SOTTOD_PROVISIONING_H
#define SOTTOD_PROVISIONING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define SOTTOD_PROV_ADDRESS_BYTES     16u   /* random mailbox address */
#define SOTTOD_PROV_ADDRESS_CHARS     22u   /* base64url without padding */
#define SOTTOD_PROV_TTL_MS            (10u * 60u * 1000u) /* a mailbox lives 10 minutes */
#define SOTTOD_PROV_MAX_MAILBOXES     1024u /* open at once, server-wide */
#define SOTTOD_PROV_MAX_MESSAGE       4096u /* ciphertext bytes in one mailbox */
#define SOTTOD_PROV_WAIT_DEFAULT_S    30u   /* GET ?timeout= when absent */
#define SOTTOD_PROV_WAIT_MAX_S        60u   /* longest long poll */
#define SOTTOD_PROV_BURST             10u   /* mailboxes / device registrations per source address */
#define SOTTOD_PROV_PER_HOUR          60u

#define SOTTOD_LINK_TOKEN_BYTES       32u   /* random, sent base64url */
#define SOTTOD_LINK_TOKEN_CHARS       43u   /* base64url without padding */
#define SOTTOD_LINK_TOKEN_TTL_MS      (10u * 60u * 1000u)
#define SOTTOD_LINK_MAX_TOKENS        1024u /* outstanding, server-wide */
#define SOTTOD_LINK_MAX_PER_ACCOUNT   4u    /* outstanding per account */

typedef enum sotto_prov_status {
    SOTTO_PROV_OK = 0,
    SOTTO_PROV_NOT_FOUND,   /* no such mailbox or token (or it expired, or was used) */
    SOTTO_PROV_EMPTY,       /* the mailbox holds no message yet */
    SOTTO_PROV_FULL,        /* a table limit */
    SOTTO_PROV_TAKEN,       /* the mailbox already holds its one message */
    SOTTO_PROV_WAITING,     /* someone already waits on this mailbox */
    SOTTO_PROV_TOO_LARGE,   /* message over SOTTOD_PROV_MAX_MESSAGE, or empty */
    SOTTO_PROV_NO_MEMORY,
    SOTTO_PROV_TIMEOUT,     /* sweep: the wait ended without a message */
    SOTTO_PROV_EXPIRED,     /* sweep: the mailbox expired */
    SOTTO_PROV_TICK,        /* sweep: still waiting */
} sotto_prov_status;

typedef struct sotto_prov sotto_prov;

sotto_prov *sotto_prov_new(void);
/* Wipes every message and token hash. Waiters are not called. */
void sotto_prov_free(sotto_prov *p);

/* ---- mailboxes ---- */

/* Opens a mailbox with a fresh random address. OK or FULL. */
sotto_prov_status sotto_prov_open(sotto_prov *p, uint64_t now_ms,
                                  uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES]);
/* Drops msg (copied) into the mailbox. OK, NOT_FOUND, TAKEN, TOO_LARGE,
 * NO_MEMORY. On OK, *waiter (may be NULL) gets who waits on it (or NULL):
 * the caller answers that waiter with sotto_prov_take. */
sotto_prov_status sotto_prov_put(sotto_prov *p, uint64_t now_ms,
                                 const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES],
                                 const uint8_t *msg, size_t len, void **waiter);
/* Takes the message out: OK (*msg malloc'ed, the caller wipes and frees it;
 * the mailbox is gone), EMPTY, NOT_FOUND. */
sotto_prov_status sotto_prov_take(sotto_prov *p, uint64_t now_ms,
                                  const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES],
                                  uint8_t **msg, size_t *len);
/* Registers waiter (non-NULL) on an empty mailbox until until_ms. OK,
 * NOT_FOUND, WAITING (another waits), TAKEN (a message is there: take it). */
sotto_prov_status sotto_prov_wait(sotto_prov *p, uint64_t now_ms,
                                  const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES], void *waiter,
                                  uint64_t until_ms);
/* Whether someone waits on the (live) mailbox. */
bool sotto_prov_has_waiter(sotto_prov *p, uint64_t now_ms,
                           const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES]);
/* Forgets waiter wherever it waits. */
void sotto_prov_unwait(sotto_prov *p, void *waiter);

/* Called by sweep for each waiter: why is EXPIRED (mailbox gone), TIMEOUT
 * (wait over; the mailbox stays) or TICK (still waiting; return false to
 * drop the waiter, e.g. its connection closed). After EXPIRED and TIMEOUT
 * the waiter is forgotten whatever fn returns. */
typedef bool (*sotto_prov_waiter_fn)(void *ctx, void *waiter, sotto_prov_status why);
/* Expires mailboxes and tokens past their time; ends waits. */
void sotto_prov_sweep(sotto_prov *p, uint64_t now_ms, sotto_prov_waiter_fn fn, void *ctx);
size_t sotto_prov_mailboxes(const sotto_prov *p);

/* ---- link tokens ---- */

/* A new one-time token for account, asked for by its device: OK (token
 * written) or FULL. */
sotto_prov_status sotto_prov_token_new(sotto_prov *p, uint64_t now_ms,
                                       const uint8_t account[SOTTO_STORE_UUID_BYTES],
                                       uint32_t device, uint8_t token[SOTTOD_LINK_TOKEN_BYTES]);
/* Claims a token for one registration attempt: OK (*account and *slot set;
 * the token cannot be claimed again until finished), NOT_FOUND (unknown,
 * expired, used, or claimed by an attempt in flight). Constant time in the
 * token: every slot's hash is compared. */
sotto_prov_status sotto_prov_token_claim(sotto_prov *p, uint64_t now_ms,
                                         const uint8_t token[SOTTOD_LINK_TOKEN_BYTES],
                                         uint8_t account[SOTTO_STORE_UUID_BYTES], size_t *slot);
/* Ends the attempt: used (a device was added) removes the token; otherwise
 * it can be claimed again until it expires. */
void sotto_prov_token_finish(sotto_prov *p, size_t slot, bool used);
/* The device was removed: its tokens are gone (one claimed by an attempt in
 * flight when that attempt ends, whatever its outcome; the attempt itself
 * was authorised before the removal and is not undone). */
void sotto_prov_token_revoke(sotto_prov *p, const uint8_t account[SOTTO_STORE_UUID_BYTES],
                             uint32_t device);
size_t sotto_prov_tokens(const sotto_prov *p);

#endif
