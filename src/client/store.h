/* sotto client: the local store. One SQLCipher database per config
 * directory, encrypted with a key from a passphrase (SQLCipher's PBKDF2) or
 * from a random key file. Holds the account, identity, prekeys (private
 * halves), session records, peer identities and the message history.
 *
 * Files in the config directory:
 *   store.db (+ -wal, -shm)  the SQLCipher database, every page encrypted
 *   store.key                only with --key-file: 32 random bytes, mode 0600
 *   lock                     the PID of the process holding the store
 *   sotto.sock               the daemon's JSON-RPC socket, mode 0600 */
#ifndef SOTTO_CLIENT_STORE_H
#define SOTTO_CLIENT_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define SOTTO_STORE_DB_NAME      "store.db"
#define SOTTO_STORE_KEYFILE_NAME "store.key"
#define SOTTO_STORE_LOCK_NAME    "lock"
#define SOTTO_STORE_KEY_BYTES    32
#define SOTTO_PASSPHRASE_MAX     1024
#define SOTTO_PATH_MAX           4096
#define SOTTO_PEER_MAX           64      /* longest username we store */
#define SOTTO_MSG_UID_BYTES      16      /* end-to-end message id */
#define SOTTO_BLOB_MAX           (4u << 20) /* largest value we read back */
#define SOTTO_STORE_SCHEMA       2       /* PRAGMA user_version (1: no held table) */
#define SOTTO_SEEN_KEEP_SECONDS  3456000 /* 40 days: longer than sottod keeps envelopes */

/* Prekey kinds in the prekeys table. */
#define SOTTO_PK_ONE_TIME 0 /* EC one-time prekey */
#define SOTTO_PK_SIGNED   1 /* signed EC prekey */
#define SOTTO_PK_KYBER    2 /* Kyber prekey (one-time) */
#define SOTTO_PK_KYBER_LR 3 /* Kyber last-resort prekey (kept after use) */

/* Message states. */
#define SOTTO_MSG_PENDING 0 /* outgoing: stored, not yet accepted by the server */
#define SOTTO_MSG_SENT    1 /* outgoing: accepted by the server */
#define SOTTO_MSG_FAILED  2 /* outgoing: refused for good (unknown recipient) */
#define SOTTO_MSG_NEW     0 /* incoming: stored, not yet shown */
#define SOTTO_MSG_SHOWN   1 /* incoming: printed by receive or notified */

/* The store key: a passphrase or the raw key of a key file. Wipe after use
 * with sotto_store_secret_wipe. */
typedef struct sotto_store_secret {
    int is_raw;
    uint8_t key[SOTTO_STORE_KEY_BYTES];
    char pass[SOTTO_PASSPHRASE_MAX + 1];
    size_t pass_len;
} sotto_store_secret;
void sotto_store_secret_wipe(sotto_store_secret *s);

typedef struct sotto_cstore sotto_cstore;

/* Joins dir and name into out (SOTTO_PATH_MAX); SOTTO_C_USAGE when too long. */
sotto_cstatus sotto_cstore_path(char out[SOTTO_PATH_MAX], const char *dir, const char *name, char *err);

/* Creates dir with mode 0700 when missing. */
sotto_cstatus sotto_cstore_mkdir(const char *dir, char *err);

/* 1 when dir holds a store database. */
int sotto_cstore_exists(const char *dir);

/* Takes the exclusive lock on dir/lock (flock) and writes our PID into it.
 * SOTTO_C_LOCKED "store ... is in use by PID n" when another open file
 * description holds it. *fd is the lock; close it to release. */
sotto_cstatus sotto_cstore_lock(const char *dir, int *fd, char *err);

/* The key file: create writes 32 fresh random bytes with O_EXCL and mode
 * 0600; read refuses a file that is not exactly 32 bytes or that group or
 * others can access. read returns SOTTO_C_NOT_FOUND when there is none. */
sotto_cstatus sotto_cstore_keyfile_create(const char *dir, uint8_t key[SOTTO_STORE_KEY_BYTES], char *err);
sotto_cstatus sotto_cstore_keyfile_read(const char *dir, uint8_t key[SOTTO_STORE_KEY_BYTES], char *err);

/* Locks the directory, opens (create: creates) the database with the key and
 * checks the key. SOTTO_C_STORE for a wrong key; SOTTO_C_NOT_FOUND when the
 * database is missing and create is 0; SOTTO_C_CONFLICT when it exists and
 * create is 1. */
sotto_cstatus sotto_cstore_open(sotto_cstore **out, const char *dir, const sotto_store_secret *sec,
                                int create, char *err);
void sotto_cstore_close(sotto_cstore *st);

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). Nested calls are not
 * supported. */
sotto_cstatus sotto_cstore_begin(sotto_cstore *st, char *err);
sotto_cstatus sotto_cstore_commit(sotto_cstore *st, char *err);
void sotto_cstore_rollback(sotto_cstore *st);

/* Key/value settings: account name, server URL, credentials, identity key. */
sotto_cstatus sotto_cstore_meta_set(sotto_cstore *st, const char *k, const void *v, size_t len, char *err);
/* *v is malloc'ed with a trailing NUL (not counted in *len); free with
 * sotto_cstore_free_blob. SOTTO_C_NOT_FOUND when absent. */
sotto_cstatus sotto_cstore_meta_get(sotto_cstore *st, const char *k, uint8_t **v, size_t *len, char *err);
sotto_cstatus sotto_cstore_meta_delete(sotto_cstore *st, const char *k, char *err);
sotto_cstatus sotto_cstore_meta_set_int(sotto_cstore *st, const char *k, int64_t v, char *err);
sotto_cstatus sotto_cstore_meta_get_int(sotto_cstore *st, const char *k, int64_t *v, char *err);
/* Wipes, then frees. */
void sotto_cstore_free_blob(uint8_t *p, size_t len);

/* Prekeys: public and private halves by kind and id. */
sotto_cstatus sotto_cstore_prekey_put(sotto_cstore *st, int kind, uint32_t id, const uint8_t *pub,
                                      size_t pub_len, const uint8_t *priv, size_t priv_len, char *err);
/* Copies into caller buffers of exactly the stored sizes; SOTTO_C_NOT_FOUND if absent. */
sotto_cstatus sotto_cstore_prekey_get(sotto_cstore *st, int kind, uint32_t id, uint8_t *pub,
                                      size_t pub_len, uint8_t *priv, size_t priv_len, char *err);
sotto_cstatus sotto_cstore_prekey_delete(sotto_cstore *st, int kind, uint32_t id, char *err);
sotto_cstatus sotto_cstore_prekey_count(sotto_cstore *st, int kind, int64_t *n, char *err);

/* Session records (sotto_session_save bytes) by peer and device. */
sotto_cstatus sotto_cstore_session_put(sotto_cstore *st, const char *peer, uint32_t device,
                                       const uint8_t *rec, size_t len, char *err);
sotto_cstatus sotto_cstore_session_get(sotto_cstore *st, const char *peer, uint32_t device,
                                       uint8_t **rec, size_t *len, char *err);
sotto_cstatus sotto_cstore_session_delete(sotto_cstore *st, const char *peer, uint32_t device, char *err);
/* The devices we hold sessions with, ascending; at most cap are written. */
sotto_cstatus sotto_cstore_session_devices(sotto_cstore *st, const char *peer, uint32_t *devs,
                                           size_t cap, size_t *n, char *err);

/* Messages. */
typedef struct sotto_cmsg {
    int64_t id;
    const char *peer;
    int outgoing;
    int state;
    uint8_t uid[SOTTO_MSG_UID_BYTES];
    int64_t ts;          /* sender's clock, milliseconds since the epoch */
    const uint8_t *body;
    size_t body_len;
} sotto_cmsg;
/* Adds a message; *dup = 1 (and nothing changes) when the same peer already
 * has a message with this uid in this direction. */
sotto_cstatus sotto_cstore_msg_add(sotto_cstore *st, const char *peer, int outgoing, int state,
                                   const uint8_t uid[SOTTO_MSG_UID_BYTES], int64_t ts,
                                   const uint8_t *body, size_t len, int64_t *id, int *dup, char *err);
/* One message by id: m->peer points to peer, m->body to *body (malloc'ed;
 * free with sotto_cstore_free_blob(*body, m->body_len)). */
sotto_cstatus sotto_cstore_msg_get(sotto_cstore *st, int64_t id, sotto_cmsg *m, char peer[SOTTO_PEER_MAX + 1],
                                   uint8_t **body, char *err);
sotto_cstatus sotto_cstore_msg_set_state(sotto_cstore *st, int64_t id, int state, char *err);
/* Calls cb for each matching message in insertion order; peer NULL = all,
 * outgoing/state -1 = any. A non-zero return from cb stops and is returned. */
typedef int (*sotto_cmsg_cb)(void *ctx, const sotto_cmsg *m);
sotto_cstatus sotto_cstore_msg_each(sotto_cstore *st, const char *peer, int outgoing, int state,
                                    sotto_cmsg_cb cb, void *ctx, char *err);

/* All session records with peer (every device). */
sotto_cstatus sotto_cstore_session_delete_peer(sotto_cstore *st, const char *peer, char *err);

/* Held envelopes: prekey messages from a peer whose identity key changed,
 * kept as they came (Signal ciphertext, inside the encrypted store) until the
 * user trusts the new key or not. */
typedef struct sotto_cheld {
    int64_t id;
    char envelope[SOTTO_PEER_MAX + 1];  /* the server's envelope id */
    char source[SOTTO_PEER_MAX + 1];    /* sender uuid */
    uint32_t device;
    uint32_t type;
    uint8_t *ct;                        /* malloc'ed; free with sotto_cstore_free_blob(ct, ct_len) */
    size_t ct_len;
} sotto_cheld;
/* Adds one (an envelope id already held is left as it is). */
sotto_cstatus sotto_cstore_held_add(sotto_cstore *st, const char *envelope, const char *source,
                                    uint32_t device, uint32_t type, const uint8_t *ct, size_t len,
                                    char *err);
/* The ids of source's held envelopes, oldest first; *ids malloc'ed (free()). */
sotto_cstatus sotto_cstore_held_ids(sotto_cstore *st, const char *source, int64_t **ids, size_t *n,
                                    char *err);
sotto_cstatus sotto_cstore_held_get(sotto_cstore *st, int64_t id, sotto_cheld *out, char *err);
sotto_cstatus sotto_cstore_held_delete(sotto_cstore *st, int64_t id, char *err);
sotto_cstatus sotto_cstore_held_count(sotto_cstore *st, const char *source, int64_t *n, char *err);

/* Envelope ids we already stored: the duplicate filter for redelivery. */
sotto_cstatus sotto_cstore_seen_check(sotto_cstore *st, const char *envelope, int *seen, char *err);
sotto_cstatus sotto_cstore_seen_add(sotto_cstore *st, const char *envelope, char *err);

#endif
