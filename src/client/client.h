/* sotto client: the account engine on top of the store, libsotto sessions
 * and the sottod API (docs/API.md): register, prekey top-up, sending with
 * device-set reconciliation, receiving over the WebSocket.
 *
 * Durability rules (the reason for the order of every step):
 *  - an outgoing message is stored (pending) before anything is sent, the
 *    advanced session records are committed before the ciphertext leaves, and
 *    the message is marked sent only after the server accepted it; pending
 *    messages are sent again (same uid) by the next run;
 *  - after the recipient's server accepted a message, its sent transcript
 *    (content.h) goes to this account's other devices, and only then is the
 *    message marked sent; a transcript that could not go for a network or
 *    server reason leaves the message pending (both are sent again; each is
 *    stored once at the other end, by uid);
 *  - an incoming envelope is acknowledged only after the decrypted message,
 *    the new session record, the used prekeys' removal and the envelope id are
 *    committed in one transaction; an envelope id seen before is acknowledged
 *    and dropped, and so is a message whose uid is already stored. */
#ifndef SOTTO_CLIENT_CLIENT_H
#define SOTTO_CLIENT_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "status.h"
#include "store.h"

#define SOTTO_PREKEY_BATCH     100  /* keys per upload (the server's per-upload limit) */
#define SOTTO_PREKEY_LOW       25   /* top up when fewer are left on the server */
#define SOTTO_PREKEY_ID_MAX    0xFFFFFFu /* libsignal prekey ids are 24-bit */
#define SOTTO_SEND_ATTEMPTS    4    /* 409 rounds before giving up */
#define SOTTO_PEER_DEVICES_MAX 16   /* devices of one recipient we handle */
#define SOTTO_SECRET_BYTES     32   /* random device secret, sent base64 */
#define SOTTO_REGID_MAX        16380
#define SOTTO_SIGNED_PREKEY_ROTATE_S (7 * 86400) /* a new signed prekey every week */

typedef struct sotto_client sotto_client;

typedef struct sotto_register_args {
    const char *server;
    const char *username;
    const char *cacert;   /* file, read and kept in the store */
    const char *pin;      /* hex */
} sotto_register_args;

/* Creates the store in dir (with sec), the identity and keys, registers on
 * the server and uploads one-time prekeys (register.c). Safe to repeat: when
 * dir already holds an unfinished registration (same username and server),
 * the same secret and keys are sent again. The store is removed only when
 * no request can have reached the server (connection or verification
 * failed), or a first attempt was refused for good (4xx); otherwise it is
 * kept, and the error says to repeat register. key_file: remove dir's key
 * file too when the store is removed. */
sotto_cstatus sotto_client_register(const char *dir, const sotto_register_args *a,
                                    const sotto_store_secret *sec, int key_file, char *err);

sotto_cstatus sotto_client_open(sotto_client **out, const char *dir, const sotto_store_secret *sec, char *err);
void sotto_client_close(sotto_client *c);
sotto_cstore *sotto_client_store(sotto_client *c);
const char *sotto_client_username(const sotto_client *c);

/* Stores a message for peer as pending; *id gets its row id. */
sotto_cstatus sotto_client_queue(sotto_client *c, const char *peer, const uint8_t *text, size_t len,
                                 int64_t *id, char *err);
/* Sends every pending message, oldest first. Stops at the first failure that
 * is not about one recipient; a message to an unknown user is marked failed.
 * *failed_id (may be NULL) gets the id of the last message that failed. */
sotto_cstatus sotto_client_flush(sotto_client *c, char *err);
/* The state of one stored message, -1 when unknown. */
int sotto_client_msg_state(sotto_client *c, int64_t id);

/* Uploads fresh one-time prekeys when the server holds fewer than
 * SOTTO_PREKEY_LOW, and a new signed prekey once a week. */
sotto_cstatus sotto_client_refill(sotto_client *c, char *err);

/* One received and stored message, for printing or notifying. */
typedef struct sotto_incoming {
    int64_t id;
    const char *from;
    uint32_t device;
    int64_t ts;
    const uint8_t *text;
    size_t len;
} sotto_incoming;
typedef void (*sotto_incoming_cb)(void *ctx, const sotto_incoming *m);

sotto_cstatus sotto_client_connect(sotto_client *c, char *err);
int sotto_client_ws_fd(const sotto_client *c);   /* -1 when not connected */
int sotto_client_ws_pending(const sotto_client *c);
typedef struct sotto_poll_result {
    int got;        /* new messages stored (cb was called for each after its
                       commit and before its acknowledgement) */
    int idle;       /* the server said the queue is empty */
    int timed_out;  /* nothing arrived within the timeout */
    int devices_changed; /* the server said a device was added to or removed
                            from our account: the next send asks which */
} sotto_poll_result;
/* Waits up to timeout_ms (negative: forever) for one WebSocket message and
 * handles it. OK on timeout (res->timed_out). */
sotto_cstatus sotto_client_poll(sotto_client *c, int timeout_ms, sotto_incoming_cb cb, void *ctx,
                                sotto_poll_result *res, char *err);
void sotto_client_disconnect(sotto_client *c);

/* ---- safety numbers and changed identity keys (trust.c) ----
 * A peer's identity key is trusted on first use. When another key shows up
 * (in a bundle we fetch, or in a prekey message), it is noted as the "new"
 * key, nothing is sent to or read from it, and prekey messages made with it
 * are held (kept as they came, acknowledged to the server) until the user
 * trusts it or not. The safety number is libsignal's (version 2, 5,200
 * iterations), over both accounts' uuids (16 bytes) and identity keys. */
#define SOTTO_SAFETY_DIGITS 60

enum { SOTTO_TRUST_FIRST_USE = 0, SOTTO_TRUST_ACCEPTED = 1, SOTTO_TRUST_VERIFIED = 2 };
/* "first-use", "accepted", "verified". */
const char *sotto_trust_name(int trust);

typedef struct sotto_safety {
    char peer[SOTTO_PEER_MAX + 1];        /* username (or uuid when none is known) */
    char uuid[37];                        /* 8-4-4-4-12 hex and NUL */
    int trust;                            /* how the current key came to be trusted */
    char number[SOTTO_SAFETY_DIGITS + 1]; /* for the trusted key */
    int changed;                          /* a different key was seen since */
    char new_number[SOTTO_SAFETY_DIGITS + 1]; /* for that key, when changed */
    int64_t held;                         /* messages held until it is trusted */
} sotto_safety;

/* who: a username or a uuid. SOTTO_C_NOT_FOUND when no key of who is known. */
sotto_cstatus sotto_client_safety(sotto_client *c, const char *who, sotto_safety *out, char *err);

typedef struct sotto_trust_result {
    char peer[SOTTO_PEER_MAX + 1];
    int trust;          /* as it is now */
    int unchanged;      /* accept without a new key: nothing was done */
    int new_key;        /* a changed key was taken (else the current one was verified) */
    int released;       /* held messages now stored (cb was called for each) */
    int64_t still_held; /* held messages from yet another key */
} sotto_trust_result;

/* Trusts who's new key (or, without one, marks the current key verified).
 * digits: the 60-digit safety number the user compared (spaces allowed); it
 * must match the key being trusted, else SOTTO_C_UNTRUSTED and nothing
 * changes. digits NULL: accept the new key without comparing. Sessions with
 * who are dropped (they are pinned to the old key), then held messages are
 * read, stored and passed to cb. */
sotto_cstatus sotto_client_trust(sotto_client *c, const char *who, const char *digits, sotto_incoming_cb cb,
                                 void *ctx, sotto_trust_result *res, char *err);

/* Username syntax as the server has it (3..32 of [a-z0-9_.], a letter
 * first, no "..", not ending in '.'); writes the lower-case form. */
sotto_cstatus sotto_username_canonical(char out[SOTTO_PEER_MAX + 1], const char *in, char *err);

#endif
