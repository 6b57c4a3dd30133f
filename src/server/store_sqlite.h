/* sottod store, SQLite backend: internals shared by store_*.c and disclose.c.
 * Nothing outside the store includes this. */
#ifndef SOTTO_SERVER_STORE_SQLITE_H
#define SOTTO_SERVER_STORE_SQLITE_H

#include <sodium.h>
#include <sqlite3.h>
#include "store.h"

#define SOTTO_STORE_DB_FILE      "sottod.db"
#define SOTTO_STORE_PATH_MAX     4096
#define SOTTO_STORE_EXPIRE_CHUNK 1000  /* envelopes deleted per expiry transaction */
#define SOTTO_STORE_WAL_LIMIT    (64 * 1024 * 1024) /* journal_size_limit, bytes */

/* Argon2id cost for device secrets: libsodium's "interactive" limits
 * (2 passes, 64 MiB); measured cost per login in docs/PRIVACY.md. The secret
 * is a random value the device generates, not a human password, so the hash
 * only has to make a stolen database useless for logging in, not resist a
 * dictionary. Raising these rehashes old hashes on their next good login
 * (crypto_pwhash_str_needs_rehash). */
#define SOTTO_STORE_PWHASH_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define SOTTO_STORE_PWHASH_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE
#define SOTTO_STORE_PWHASH_ALG      crypto_pwhash_ALG_ARGON2ID13

/* The Argon2id string verified for unknown accounts/devices (store_accounts.c). */
const char *sotto_store_dummy_hash(void);

struct sotto_store {
    sqlite3 *db;
    sotto_store_clock_fn clock;
    void *clock_ctx;
};

/* Seconds since the epoch from the store's clock. */
int64_t sotto_store_now(const sotto_store *s);
/* t rounded down to a multiple of granularity. */
int64_t sotto_store_round_down(int64_t t, int64_t granularity);

/* Maps a SQLite result code to a store error. */
sotto_store_err sotto_store_db_err(int rc);

/* Transactions. begin_write takes the write lock at once (BEGIN IMMEDIATE),
 * so two writers never deadlock on lock upgrade. rollback is safe to call
 * when no transaction is open. */
sotto_store_err sotto_store_begin_read(sotto_store *s);
sotto_store_err sotto_store_begin_write(sotto_store *s);
sotto_store_err sotto_store_commit(sotto_store *s);
void sotto_store_rollback(sotto_store *s);

/* Prepares sql (sqlite3_prepare_v2); on failure *st is NULL. */
sotto_store_err sotto_store_prepare(sotto_store *s, sqlite3_stmt **st, const char *sql);

/* Looks up the row ids of an account and (device_id != 0) one of its devices.
 * Either output may be NULL. NOT_FOUND if either is missing. */
sotto_store_err sotto_store_lookup(sotto_store *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                   uint32_t device_id, int64_t *account_row, int64_t *device_row);

/* Keys: checks a prekey set (lengths, type bytes, per-upload limits). When
 * need_bundle, signed_prekey and last_resort must be present. */
sotto_store_err sotto_store_keys_check(const sotto_store_prekeys *k, int need_bundle);
/* Writes a checked prekey set for a device inside an open write transaction
 * and enforces the per-device limits. */
sotto_store_err sotto_store_keys_put(sotto_store *s, int64_t device_row,
                                     const sotto_store_prekeys *k);

/* Schema: brings the database to SOTTO_STORE_SCHEMA_VERSION (one
 * transaction per step). SOTTO_STORE_ERR_SCHEMA for a newer database. */
sotto_store_err sotto_store_migrate(sotto_store *s);

#endif
