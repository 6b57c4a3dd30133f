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
#define SOTTO_STORE_ACK_ROW_SLOTS     4096         /* direct-mapped, power of two */
#define SOTTO_STORE_ACK_ROW_SECONDS   60           /* an entry is looked up again after this */
#define SOTTO_STORE_WRITER_CACHE_KIB  "16384"      /* page cache of the writer handle */
#define SOTTO_STORE_WRITER_MMAP_BYTES "268435456"  /* database mapped by the writer */
#define SOTTO_STORE_WAL_LIMIT    (64 * 1024 * 1024) /* journal_size_limit, bytes */

/* Argon2id cost for device secrets: 2 passes over 1 MiB, about 1 ms of one
 * core per login here (docs/PRIVACY.md has the measurements). The secret is
 * 32 bytes the device made at random (src/client/client.c), not a human
 * password: no cost makes 2^256 guesses feasible or not, so the
 * hash only has to keep a stolen database from being a list of logins, and
 * a cheap one lets a restarted server re-authenticate 15,000 devices in
 * seconds instead of an hour. Changing these rehashes a device's old hash on
 * its next good login, up or down (crypto_pwhash_str_needs_rehash); the
 * dummy hash in store_accounts.c must be made again with the same values. */
#define SOTTO_STORE_PWHASH_OPSLIMIT 2ull
#define SOTTO_STORE_PWHASH_MEMLIMIT ((size_t)1024 * 1024)
#define SOTTO_STORE_PWHASH_ALG      crypto_pwhash_ALG_ARGON2ID13

/* The Argon2id string verified for unknown accounts/devices (store_accounts.c). */
const char *sotto_store_dummy_hash(void);

/* Statements kept prepared on each handle (sqlite3_prepare_v3 with
 * SQLITE_PREPARE_PERSISTENT, on first use; finalized by sotto_store_close).
 * Their SQL is the table in store_sqlite.c. */
typedef enum sotto_store_sql {
    /* transactions */
    SOTTO_SQL_BEGIN_READ = 0,
    SOTTO_SQL_BEGIN_WRITE,
    SOTTO_SQL_COMMIT,
    SOTTO_SQL_ROLLBACK,
    SOTTO_SQL_USER_VERSION,
    /* lookups */
    SOTTO_SQL_LOOKUP_ACCOUNT,
    SOTTO_SQL_LOOKUP_DEVICE,
    /* accounts and devices */
    SOTTO_SQL_ACCOUNT_INSERT,
    SOTTO_SQL_ACCOUNT_BY_UUID,
    SOTTO_SQL_ACCOUNT_BY_NAME,
    SOTTO_SQL_ACCOUNT_DELETE,
    SOTTO_SQL_ACCOUNT_SET_IDENTITY,
    SOTTO_SQL_ACCOUNT_NEXT_DEVICE,
    SOTTO_SQL_ACCOUNT_SET_NEXT_DEVICE,
    SOTTO_SQL_ACCOUNT_PRIMARY,
    SOTTO_SQL_DEVICE_INSERT,
    SOTTO_SQL_DEVICE_REMOVE,
    SOTTO_SQL_DEVICE_LIST,
    SOTTO_SQL_DEVICE_SET_REGISTRATION,
    SOTTO_SQL_AUTH_HASH,
    SOTTO_SQL_AUTH_REHASH,
    /* prekeys */
    SOTTO_SQL_KEYS_COUNT,
    SOTTO_SQL_KEYS_SET_SIGNED,
    SOTTO_SQL_KEYS_SET_LAST_RESORT,
    SOTTO_SQL_KEYS_PUT_EC,
    SOTTO_SQL_KEYS_PUT_KEM,
    SOTTO_SQL_KEYS_TAKE_EC,
    SOTTO_SQL_KEYS_TAKE_KEM,
    SOTTO_SQL_KEYS_BUNDLES,
    /* queues */
    SOTTO_SQL_QUEUE_DEVICES,
    SOTTO_SQL_QUEUE_INSERT,
    SOTTO_SQL_QUEUE_INSERT_SEQ,
    SOTTO_SQL_QUEUE_SEQ_MARK,
    SOTTO_SQL_QUEUE_SEQ_GET,
    SOTTO_SQL_QUEUE_ADD,
    SOTTO_SQL_QUEUE_DELETE_OWN,
    SOTTO_SQL_QUEUE_FIND,
    SOTTO_SQL_QUEUE_DELETE,
    SOTTO_SQL_QUEUE_FETCH,
    SOTTO_SQL_QUEUE_LENGTH,
    SOTTO_SQL_QUEUE_TOTAL,
    SOTTO_SQL_QUEUE_OLDEST,
    SOTTO_SQL_QUEUE_EXPIRE,
    SOTTO_SQL_QUEUE_NEWEST,
    SOTTO_SQL_META_GET,
    SOTTO_SQL_META_PUT,
    SOTTO_SQL_COUNT_ /* not a statement: the number of them */
} sotto_store_sql;

/* Per batch: a recipient account's devices and their queue counters, so a
 * batch reads each recipient once (store_queue.c). */
typedef struct sotto_store_recipient {
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    int found;                                    /* 0: no such account */
    size_t n;                                     /* devices, in device-id order */
    uint32_t device_id[SOTTO_STORE_MAX_DEVICES];
    int64_t row[SOTTO_STORE_MAX_DEVICES];
    int64_t queue_len[SOTTO_STORE_MAX_DEVICES];   /* as in the transaction so far */
    int64_t queue_bytes[SOTTO_STORE_MAX_DEVICES];
    int64_t added_len[SOTTO_STORE_MAX_DEVICES];   /* by this batch: written at its end */
    int64_t added_bytes[SOTTO_STORE_MAX_DEVICES];
} sotto_store_recipient;

/* Hash slots of the per-batch recipient map: a power of two, at least twice
 * SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH. */
#define SOTTO_STORE_RECIPIENT_SLOTS 1024
_Static_assert(SOTTO_STORE_RECIPIENT_SLOTS >= 2 * SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH &&
               (SOTTO_STORE_RECIPIENT_SLOTS & (SOTTO_STORE_RECIPIENT_SLOTS - 1)) == 0,
               "recipient map: power of two, at most half full");

struct sotto_store {
    sqlite3 *db;
    sotto_store_clock_fn clock;
    void *clock_ctx;
    sqlite3_stmt *stmt[SOTTO_SQL_COUNT_];   /* NULL until first used */
    int sync_normal;                        /* 1: PRAGMA synchronous is NORMAL (acks only) */
    /* write_batch's recipient map, allocated on the first batch and kept */
    sotto_store_recipient *recipients;      /* SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH */
    uint16_t *recipient_slot;               /* SOTTO_STORE_RECIPIENT_SLOTS: index + 1, 0 = empty */
    size_t recipients_done;                 /* read by the last batch, if it committed */
    /* acks: (account uuid, device id) -> device row, kept between batches
     * (store_queue.c ack_row), allocated on first use */
    struct sotto_store_ack_row *ack_rows;   /* SOTTO_STORE_ACK_ROW_SLOTS */
    /* envelope ids: AES-128 under the database's key (store_queue.c),
     * set up on first use */
    struct evp_cipher_ctx_st *id_enc, *id_dec;
};

/* Hands out the handle's prepared statement for id, reset and with no
 * bindings. Give it back with sotto_store_put() on every path once done;
 * commit and rollback also reset every statement still in the middle of a
 * step, so none can hold a read snapshot past its transaction. Taking a
 * statement that is still stepping (nested use of the same statement) is a
 * bug and fails with SOTTO_STORE_ERR_DB. */
sotto_store_err sotto_store_stmt(sotto_store *s, sotto_store_sql id, sqlite3_stmt **st);
/* Resets st and clears its bindings; NULL is fine. */
void sotto_store_put(sqlite3_stmt *st);
/* Tests: how many cached statements are in the middle of a step (should be 0
 * between calls). */
int sotto_store_stmts_busy(const sotto_store *s);

/* Seconds since the epoch from the store's clock. */
int64_t sotto_store_now(const sotto_store *s);
/* t rounded down to a multiple of granularity. */
int64_t sotto_store_round_down(int64_t t, int64_t granularity);

/* Maps a SQLite result code to a store error. */
sotto_store_err sotto_store_db_err(int rc);

/* Transactions (prepared once per handle). begin_write takes the write lock
 * at once (BEGIN IMMEDIATE), so two writers never deadlock on lock upgrade,
 * and always runs with synchronous=FULL. begin_write_acks is for transactions
 * that only delete acknowledged or expired envelopes: synchronous=NORMAL (see
 * store_sqlite.c). rollback is safe to call when no transaction is open. */
sotto_store_err sotto_store_begin_read(sotto_store *s);
sotto_store_err sotto_store_begin_write(sotto_store *s);
sotto_store_err sotto_store_begin_write_acks(sotto_store *s);
sotto_store_err sotto_store_commit(sotto_store *s);
void sotto_store_rollback(sotto_store *s);

/* Prepares sql (sqlite3_prepare_v2, not cached: for rare statements such as
 * disclose's); the caller finalizes it. On failure *st is NULL. */
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

/* Envelope ids (store_queue.c). An id is one AES-128 block under the
 * database's key (table meta) over (seq, device row, body length): unique
 * because seq never repeats, stable across restarts, and meaningless to
 * anyone but this server. Creates the key on first use inside the open
 * transaction (write transactions only) or fails with SOTTO_STORE_ERR_DB
 * when it is missing in a read. */
sotto_store_err sotto_store_envelope_id(sotto_store *s, int64_t seq, int64_t device_row,
                                        size_t body_len,
                                        uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES]);
/* Makes the database's envelope-id key if it has none (inside a write
 * transaction; sotto_store_migrate calls it). */
sotto_store_err sotto_store_envelope_key_ensure(sotto_store *s);

/* Schema: brings the database to SOTTO_STORE_SCHEMA_VERSION (one
 * transaction per step). SOTTO_STORE_ERR_SCHEMA for a newer database. */
sotto_store_err sotto_store_migrate(sotto_store *s);

#endif
