/* sottod store, SQLite backend: opening, schema, transactions, helpers.
 *
 * Durability: WAL mode with synchronous=FULL. Every commit fsyncs the WAL, so
 * a call that returned SOTTO_STORE_OK survives kill -9 and also power loss or
 * a kernel crash. synchronous=NORMAL would survive kill -9 too (the WAL is in
 * the page cache) but could lose the last commits on power loss, which would
 * break "acknowledged means stored". The fsync per commit is paid once per
 * batch: sotto_store_enqueue_batch() puts many submissions in one commit.
 *
 * Exception: transactions that only delete acknowledged (or expired)
 * envelopes run with synchronous=NORMAL (sotto_store_begin_write_acks). In WAL
 * mode NORMAL still writes the commit to the WAL in order, survives kill -9,
 * and skips only the fsync; power loss can then lose the last such commits,
 * which brings those envelopes back: the device gets them again and acks
 * them again (delivery is at least once; clients drop duplicates by id).
 * Nothing the server acknowledged to a sender can be lost that way: a
 * message commit (begin_write) always switches back to FULL first, and its
 * fsync of the WAL also covers every earlier commit in it.
 *
 * Statements: every statement a store call runs is prepared once per handle
 * (sotto_store_stmt, SQLITE_PREPARE_PERSISTENT) and reset for reuse; compiling
 * SQL again on every call was about half of sottod's instructions. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "store_sqlite.h"

static const char *const messages[] = {
    [SOTTO_STORE_OK] = "success",
    [SOTTO_STORE_ERR_INVALID_ARGUMENT] = "invalid argument",
    [SOTTO_STORE_ERR_INVALID_USERNAME] =
        ("invalid username: 3-32 characters a-z 0-9 _ ., starting with a letter, "
         "no '..', not ending in '.'"),
    [SOTTO_STORE_ERR_USERNAME_TAKEN] = "username already taken",
    [SOTTO_STORE_ERR_NOT_FOUND] = "no such account or device",
    [SOTTO_STORE_ERR_AUTH] = "authentication failed",
    [SOTTO_STORE_ERR_FORBIDDEN] = "only the primary device may do this",
    [SOTTO_STORE_ERR_TOO_MANY_DEVICES] = "too many devices on this account",
    [SOTTO_STORE_ERR_INVALID_KEY] = "invalid key: wrong length or type byte",
    [SOTTO_STORE_ERR_TOO_MANY_KEYS] = "too many prekeys in the upload or on the device",
    [SOTTO_STORE_ERR_DEVICE_MISMATCH] = "envelopes do not match the recipient's devices",
    [SOTTO_STORE_ERR_TOO_LARGE] = "too large: envelope size or count over the limit",
    [SOTTO_STORE_ERR_QUEUE_FULL] = "a recipient device's queue is full",
    [SOTTO_STORE_ERR_BUSY] = "database busy, retry",
    [SOTTO_STORE_ERR_SCHEMA] = "database schema is newer than this server, or migration failed",
    [SOTTO_STORE_ERR_DB] = "database error",
    [SOTTO_STORE_ERR_NO_MEMORY] = "out of memory",
    [SOTTO_STORE_ERR_CRYPTO] = "crypto library failure",
};
_Static_assert(sizeof messages / sizeof messages[0] == SOTTO_STORE_ERR_COUNT_,
               "every sotto_store_err needs a message");

const char *sotto_store_strerror(sotto_store_err e)
{
    if ((unsigned)e >= (unsigned)SOTTO_STORE_ERR_COUNT_ || messages[e] == NULL)
        return "unknown error";
    return messages[e];
}

/* ---- schema ----
 * migrations[i] brings user_version i to i + 1. Never edit a step that has
 * shipped; add a new one and bump SOTTO_STORE_SCHEMA_VERSION. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  uuid BLOB NOT NULL UNIQUE CHECK (length(uuid) = 16),"
    "  username TEXT NOT NULL UNIQUE,"
    "  identity_key BLOB NOT NULL CHECK (length(identity_key) = 33),"
    "  created INTEGER NOT NULL,"
    "  next_device_id INTEGER NOT NULL DEFAULT 2"
    ");"
    "CREATE TABLE devices ("
    "  id INTEGER PRIMARY KEY,"
    "  account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  device_id INTEGER NOT NULL,"
    "  registration_id INTEGER NOT NULL,"
    "  secret_hash TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  spk_id INTEGER NOT NULL,"
    "  spk BLOB NOT NULL CHECK (length(spk) = 33),"
    "  spk_sig BLOB NOT NULL CHECK (length(spk_sig) = 64),"
    "  lrk_id INTEGER NOT NULL,"
    "  lrk BLOB NOT NULL CHECK (length(lrk) = 1569),"
    "  lrk_sig BLOB NOT NULL CHECK (length(lrk_sig) = 64),"
    "  queue_len INTEGER NOT NULL DEFAULT 0," /* kept by the envelopes triggers */
    "  UNIQUE (account, device_id)"
    ");"
    "CREATE TABLE ec_prekeys ("
    "  id INTEGER PRIMARY KEY,"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  key_id INTEGER NOT NULL,"
    "  key BLOB NOT NULL CHECK (length(key) = 33),"
    "  UNIQUE (device, key_id)"
    ");"
    "CREATE INDEX ec_prekeys_order ON ec_prekeys (device, id);"
    "CREATE TABLE kem_prekeys ("
    "  id INTEGER PRIMARY KEY,"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  key_id INTEGER NOT NULL,"
    "  key BLOB NOT NULL CHECK (length(key) = 1569),"
    "  sig BLOB NOT NULL CHECK (length(sig) = 64),"
    "  UNIQUE (device, key_id)"
    ");"
    "CREATE INDEX kem_prekeys_order ON kem_prekeys (device, id);"
    /* seq: AUTOINCREMENT never reuses a value, so the per-device order and
     * the fetch cursor stay monotonic across deletes and restarts. */
    "CREATE TABLE envelopes ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  envelope_id BLOB NOT NULL UNIQUE CHECK (length(envelope_id) = 16),"
    "  created INTEGER NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  sender_uuid BLOB CHECK (sender_uuid IS NULL OR length(sender_uuid) = 16),"
    "  sender_device INTEGER,"
    "  body BLOB NOT NULL"
    ");"
    "CREATE INDEX envelopes_queue ON envelopes (device, seq);"
    "CREATE INDEX envelopes_age ON envelopes (created);"
    "CREATE INDEX envelopes_sender ON envelopes (sender_uuid) WHERE sender_uuid IS NOT NULL;"
    /* The queue length, kept in step by every insert and delete (ack,
     * expiry, cascade), so the queue limit is checked in O(1). */
    "CREATE TRIGGER envelopes_in AFTER INSERT ON envelopes BEGIN"
    "  UPDATE devices SET queue_len = queue_len + 1 WHERE id = NEW.device; END;"
    "CREATE TRIGGER envelopes_out AFTER DELETE ON envelopes BEGIN"
    "  UPDATE devices SET queue_len = queue_len - 1 WHERE id = OLD.device; END;",
    /* 1 -> 2: the queue's ciphertext bytes, for the per-device byte limit. */
    "ALTER TABLE devices ADD COLUMN queue_bytes INTEGER NOT NULL DEFAULT 0;"
    "UPDATE devices SET queue_len = (SELECT count(*) FROM envelopes WHERE device = devices.id),"
    "  queue_bytes = (SELECT coalesce(sum(length(body)), 0) FROM envelopes"
    "                 WHERE device = devices.id);"
    "DROP TRIGGER envelopes_in;"
    "DROP TRIGGER envelopes_out;"
    "CREATE TRIGGER envelopes_in AFTER INSERT ON envelopes BEGIN"
    "  UPDATE devices SET queue_len = queue_len + 1,"
    "    queue_bytes = queue_bytes + length(NEW.body) WHERE id = NEW.device; END;"
    "CREATE TRIGGER envelopes_out AFTER DELETE ON envelopes BEGIN"
    "  UPDATE devices SET queue_len = queue_len - 1,"
    "    queue_bytes = queue_bytes - length(OLD.body) WHERE id = OLD.device; END;",
    /* 2 -> 3: the queue counters move to their own narrow table, kept by
     * the store itself once per device per transaction (store_queue.c)
     * instead of by triggers that rewrote the device row (with its 1.6 KB
     * Kyber key) for every envelope in and out. Every insert and delete of
     * envelopes is in store_queue.c; removing a device takes its counters
     * with it (cascade). */
    "DROP TRIGGER envelopes_in;"
    "DROP TRIGGER envelopes_out;"
    "CREATE TABLE queues ("
    "  device INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,"
    "  len INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL"
    ");"
    "INSERT INTO queues (device, len, bytes)"
    "  SELECT d.id, count(e.seq), coalesce(sum(length(e.body)), 0)"
    "  FROM devices d JOIN envelopes e ON e.device = d.id GROUP BY d.id;"
    "ALTER TABLE devices DROP COLUMN queue_len;"
    "ALTER TABLE devices DROP COLUMN queue_bytes;",
    /* 3 -> 4: an index that every envelope paid for on the way in and out,
     * for one rare reader: `sottod disclose` now scans for what an account
     * sent (an operator's command, not a hot path). The index on created
     * stays: expiry must not depend on the clock never stepping back. */
    "DROP INDEX IF EXISTS envelopes_sender;",
    /* 4 -> 5: envelope ids are no longer stored. An id is now the envelope's
     * (seq, device row, body length) under a per-database AES key (table
     * meta, made at open: store_queue.c), so an ack deletes by primary key,
     * and the unique index every envelope paid for in and out is gone. Ids
     * handed out before this step stay valid: they move to legacy_id, with
     * an index over just those rows. The index on created goes too: created
     * now never decreases along seq (the store keeps it so), and expiry
     * walks the table from its oldest seq. SQLite cannot drop a UNIQUE
     * column, so the table is rebuilt; AUTOINCREMENT's high-water mark is
     * carried over so that no seq, hence no id, is ever handed out twice. */
    "CREATE TABLE meta ("
    "  name TEXT PRIMARY KEY,"
    "  value BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE envelopes_v5 ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  legacy_id BLOB CHECK (legacy_id IS NULL OR length(legacy_id) = 16),"
    "  created INTEGER NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  sender_uuid BLOB CHECK (sender_uuid IS NULL OR length(sender_uuid) = 16),"
    "  sender_device INTEGER,"
    "  body BLOB NOT NULL"
    ");"
    "INSERT INTO envelopes_v5 (seq, device, legacy_id, created, type, sender_uuid,"
    "  sender_device, body)"
    "  SELECT seq, device, envelope_id, created, type, sender_uuid, sender_device, body"
    "  FROM envelopes ORDER BY seq;"
    "INSERT INTO sqlite_sequence (name, seq)"
    "  SELECT 'envelopes_v5', 0 WHERE NOT EXISTS"
    "  (SELECT 1 FROM sqlite_sequence WHERE name = 'envelopes_v5');"
    "UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence"
    "  WHERE name = 'envelopes'), 0)) WHERE name = 'envelopes_v5';"
    "DROP TABLE envelopes;"
    "ALTER TABLE envelopes_v5 RENAME TO envelopes;"
    "CREATE INDEX envelopes_queue ON envelopes (device, seq);"
    "CREATE UNIQUE INDEX envelopes_legacy ON envelopes (legacy_id)"
    "  WHERE legacy_id IS NOT NULL;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == SOTTO_STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* ---- the statements every handle keeps prepared (sotto_store_sql) ---- */
static const char *const statements[] = {
    [SOTTO_SQL_BEGIN_READ] = "BEGIN DEFERRED",
    [SOTTO_SQL_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [SOTTO_SQL_COMMIT] = "COMMIT",
    [SOTTO_SQL_ROLLBACK] = "ROLLBACK",
    [SOTTO_SQL_USER_VERSION] = "PRAGMA user_version",
    [SOTTO_SQL_LOOKUP_ACCOUNT] = "SELECT id, 0 FROM accounts WHERE uuid = ?1",
    [SOTTO_SQL_LOOKUP_DEVICE] =
        "SELECT a.id, d.id FROM accounts a JOIN devices d"
        " ON d.account = a.id WHERE a.uuid = ?1 AND d.device_id = ?2",
    /* accounts and devices (store_accounts.c) */
    [SOTTO_SQL_ACCOUNT_INSERT] =
        "INSERT INTO accounts (uuid, username, identity_key, created) VALUES (?1, ?2, ?3, ?4)",
    [SOTTO_SQL_ACCOUNT_BY_UUID] =
        "SELECT uuid, username, identity_key, created FROM accounts WHERE uuid = ?1",
    [SOTTO_SQL_ACCOUNT_BY_NAME] =
        "SELECT uuid, username, identity_key, created FROM accounts WHERE username = ?1",
    [SOTTO_SQL_ACCOUNT_DELETE] = "DELETE FROM accounts WHERE uuid = ?1",
    [SOTTO_SQL_ACCOUNT_SET_IDENTITY] = "UPDATE accounts SET identity_key = ?1 WHERE id = ?2",
    [SOTTO_SQL_ACCOUNT_NEXT_DEVICE] =
        "SELECT a.id, a.next_device_id, (SELECT count(*) FROM devices d WHERE d.account = a.id)"
        " FROM accounts a WHERE a.uuid = ?1",
    [SOTTO_SQL_ACCOUNT_SET_NEXT_DEVICE] = "UPDATE accounts SET next_device_id = ?1 WHERE id = ?2",
    [SOTTO_SQL_ACCOUNT_PRIMARY] =
        "SELECT a.uuid, a.identity_key, d.id, d.secret_hash FROM accounts a JOIN devices d"
        " ON d.account = a.id WHERE a.username = ?1 AND d.device_id = ?2",
    [SOTTO_SQL_DEVICE_INSERT] =
        "INSERT INTO devices (account, device_id, registration_id, secret_hash, created,"
        " spk_id, spk, spk_sig, lrk_id, lrk, lrk_sig)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [SOTTO_SQL_DEVICE_REMOVE] =
        "DELETE FROM devices WHERE device_id = ?2 AND"
        " account = (SELECT id FROM accounts WHERE uuid = ?1)",
    [SOTTO_SQL_DEVICE_LIST] =
        "SELECT device_id, registration_id, created FROM devices WHERE account = ?1"
        " ORDER BY device_id",
    [SOTTO_SQL_DEVICE_SET_REGISTRATION] = "UPDATE devices SET registration_id = ?1 WHERE id = ?2",
    [SOTTO_SQL_AUTH_HASH] =
        "SELECT d.id, d.secret_hash FROM accounts a JOIN devices d ON d.account = a.id"
        " WHERE a.uuid = ?1 AND d.device_id = ?2",
    [SOTTO_SQL_AUTH_REHASH] =
        "UPDATE devices SET secret_hash = ?1 WHERE id = ?2 AND secret_hash = ?3",
    /* prekeys (store_keys.c) */
    [SOTTO_SQL_KEYS_COUNT] =
        "SELECT (SELECT count(*) FROM ec_prekeys WHERE device = ?1),"
        "       (SELECT count(*) FROM kem_prekeys WHERE device = ?1)",
    [SOTTO_SQL_KEYS_SET_SIGNED] =
        "UPDATE devices SET spk_id = ?1, spk = ?2, spk_sig = ?3 WHERE id = ?4",
    [SOTTO_SQL_KEYS_SET_LAST_RESORT] =
        "UPDATE devices SET lrk_id = ?1, lrk = ?2, lrk_sig = ?3 WHERE id = ?4",
    /* REPLACE: a key id the device already holds is overwritten. */
    [SOTTO_SQL_KEYS_PUT_EC] =
        "INSERT OR REPLACE INTO ec_prekeys (device, key_id, key) VALUES (?1, ?2, ?3)",
    [SOTTO_SQL_KEYS_PUT_KEM] =
        "INSERT OR REPLACE INTO kem_prekeys (device, key_id, key, sig) VALUES (?1, ?2, ?3, ?4)",
    [SOTTO_SQL_KEYS_TAKE_EC] =
        "DELETE FROM ec_prekeys WHERE id ="
        " (SELECT id FROM ec_prekeys WHERE device = ?1 ORDER BY id LIMIT 1)"
        " RETURNING key_id, key",
    [SOTTO_SQL_KEYS_TAKE_KEM] =
        "DELETE FROM kem_prekeys WHERE id ="
        " (SELECT id FROM kem_prekeys WHERE device = ?1 ORDER BY id LIMIT 1)"
        " RETURNING key_id, key, sig",
    [SOTTO_SQL_KEYS_BUNDLES] =
        "SELECT d.id, d.device_id, d.registration_id, a.identity_key,"
        " d.spk_id, d.spk, d.spk_sig, d.lrk_id, d.lrk, d.lrk_sig"
        " FROM accounts a JOIN devices d ON d.account = a.id"
        " WHERE a.uuid = ?1 AND (?2 = 0 OR d.device_id = ?2) ORDER BY d.device_id",
    /* queues (store_queue.c) */
    [SOTTO_SQL_QUEUE_DEVICES] =
        "SELECT d.device_id, d.id, coalesce(q.len, 0), coalesce(q.bytes, 0) FROM accounts a"
        " JOIN devices d ON d.account = a.id LEFT JOIN queues q ON q.device = d.id"
        " WHERE a.uuid = ?1 ORDER BY d.device_id",
    [SOTTO_SQL_QUEUE_INSERT] =
        "INSERT INTO envelopes (device, created, type, sender_uuid, sender_device, body)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SOTTO_SQL_QUEUE_INSERT_SEQ] =
        "INSERT INTO envelopes (device, created, type, sender_uuid, sender_device, body, seq)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* Seqs chosen by the server (sotto_store_seq_start): AUTOINCREMENT's mark
     * is kept above every seq handed out, stored or not. */
    [SOTTO_SQL_QUEUE_SEQ_MARK] =
        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'envelopes' AND seq < ?1",
    [SOTTO_SQL_QUEUE_SEQ_GET] =
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'envelopes'), 0),"
        " coalesce((SELECT max(seq) FROM envelopes), 0)),"
        " (SELECT count(*) FROM sqlite_sequence WHERE name = 'envelopes'),"
        " coalesce((SELECT created FROM envelopes ORDER BY seq DESC LIMIT 1), 0)",
    [SOTTO_SQL_QUEUE_ADD] =
        "INSERT INTO queues (device, len, bytes) VALUES (?3, ?1, ?2) ON CONFLICT (device)"
        " DO UPDATE SET len = len + excluded.len, bytes = bytes + excluded.bytes",
    /* An id made since schema 5 names its row: one primary-key delete. */
    [SOTTO_SQL_QUEUE_DELETE_OWN] = "DELETE FROM envelopes WHERE seq = ?1 AND device = ?2",
    /* An id handed out before schema 5 (legacy_id): two steps rather than
     * DELETE ... RETURNING, which costs more here. */
    [SOTTO_SQL_QUEUE_FIND] =
        "SELECT seq, length(body) FROM envelopes WHERE legacy_id = ?1 AND device = ?2",
    [SOTTO_SQL_QUEUE_DELETE] = "DELETE FROM envelopes WHERE seq = ?1",
    [SOTTO_SQL_QUEUE_FETCH] =
        "SELECT seq, legacy_id, created, type, sender_uuid, sender_device, body"
        " FROM envelopes WHERE device = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [SOTTO_SQL_QUEUE_LENGTH] = "SELECT coalesce((SELECT len FROM queues WHERE device = ?1), 0)",
    [SOTTO_SQL_QUEUE_TOTAL] = "SELECT coalesce(sum(len), 0) FROM queues",
    /* created never decreases along seq (store_queue.c), so the expired
     * envelopes are the oldest seqs: expiry reads from the start of the table
     * and stops at the first one still young. */
    [SOTTO_SQL_QUEUE_OLDEST] =
        "SELECT seq, device, created, length(body) FROM envelopes ORDER BY seq LIMIT ?1",
    [SOTTO_SQL_QUEUE_EXPIRE] = "DELETE FROM envelopes WHERE seq <= ?1",
    [SOTTO_SQL_QUEUE_NEWEST] = "SELECT created FROM envelopes ORDER BY seq DESC LIMIT 1",
    [SOTTO_SQL_META_GET] = "SELECT value FROM meta WHERE name = ?1",
    [SOTTO_SQL_META_PUT] = "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
};
_Static_assert(sizeof statements / sizeof statements[0] == SOTTO_SQL_COUNT_,
               "every sotto_store_sql needs its SQL");

static sotto_store_err read_version(sotto_store *s, int *version)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_USER_VERSION, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    else
        e = sotto_store_db_err(rc);
    sotto_store_put(st);
    return e;
}

sotto_store_err sotto_store_migrate(sotto_store *s)
{
    for (;;) {
        /* Re-read the version under the write lock: another handle may be
         * migrating the same file at the same time. */
        sotto_store_err e = sotto_store_begin_write(s);
        if (e != SOTTO_STORE_OK)
            return e;
        int v = 0;
        e = read_version(s, &v);
        if (e != SOTTO_STORE_OK) {
            sotto_store_rollback(s);
            return e;
        }
        if (v == SOTTO_STORE_SCHEMA_VERSION) {
            /* The envelope-id key (store_queue.c): made once, by the first
             * handle that opens the database at this version. */
            e = sotto_store_envelope_key_ensure(s);
            if (e == SOTTO_STORE_OK)
                return sotto_store_commit(s);
            sotto_store_rollback(s);
            return e;
        }
        if (v < 0 || v > SOTTO_STORE_SCHEMA_VERSION) {
            sotto_store_rollback(s);
            return SOTTO_STORE_ERR_SCHEMA;
        }
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, set, NULL, NULL, NULL) != SQLITE_OK) {
            sotto_store_rollback(s);
            return SOTTO_STORE_ERR_SCHEMA;
        }
        e = sotto_store_commit(s);
        if (e != SOTTO_STORE_OK)
            return e;
    }
}

sotto_store_err sotto_store_schema_version(sotto_store *s, int *version)
{
    if (version != NULL)
        *version = 0;
    if (s == NULL || version == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    return read_version(s, version);
}

/* ---- open / close ---- */

static sotto_store_err exec_pragma(sqlite3 *db, const char *sql, const char *expect)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sotto_store_db_err(rc);
    sotto_store_err e = SOTTO_STORE_OK;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *got = sqlite3_column_text(st, 0);
        if (expect != NULL && (got == NULL || strcmp((const char *)got, expect) != 0))
            e = SOTTO_STORE_ERR_DB;
    } else if (rc != SQLITE_DONE) {
        e = sotto_store_db_err(rc);
    }
    sqlite3_finalize(st);
    return e;
}

sotto_store_err sotto_store_tune_writer(sotto_store *s)
{
    sotto_store_err e = exec_pragma(s->db, "PRAGMA cache_size = -" SOTTO_STORE_WRITER_CACHE_KIB, NULL);
    if (e == SOTTO_STORE_OK)
        e = exec_pragma(s->db, "PRAGMA mmap_size = " SOTTO_STORE_WRITER_MMAP_BYTES, NULL);
    return e;
}


sotto_store_err sotto_store_open(sotto_store **out, const char *dir)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL || dir == NULL || dir[0] == '\0')
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (sodium_init() < 0)
        return SOTTO_STORE_ERR_CRYPTO;

    char path[SOTTO_STORE_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, SOTTO_STORE_DB_FILE);
    if (n < 0 || (size_t)n >= sizeof path)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return SOTTO_STORE_ERR_DB;
    /* Create the file ourselves so it is 0600 whatever the umask; SQLite
     * gives -wal and -shm the same mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return SOTTO_STORE_ERR_DB;
    close(fd);

    sotto_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return SOTTO_STORE_ERR_NO_MEMORY;
    /* NOMUTEX: a handle is used by one thread at a time (see store.h). */
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    sotto_store_err e = SOTTO_STORE_OK;
    if (rc != SQLITE_OK) {
        e = sotto_store_db_err(rc);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SOTTO_STORE_BUSY_TIMEOUT_MS);
    char limit[64];
    snprintf(limit, sizeof limit, "PRAGMA journal_size_limit = %d", SOTTO_STORE_WAL_LIMIT);
    /* Switching a fresh file to WAL needs an exclusive lock, and SQLite
     * answers SQLITE_BUSY at once, without the busy handler, when several
     * handles race to do it (or to recover the WAL): retry the whole set-up
     * with short sleeps, up to the same budget as the busy timeout. */
    for (int waited_ms = 0;; waited_ms += SOTTO_STORE_OPEN_RETRY_MS) {
        if ((e = exec_pragma(s->db, "PRAGMA journal_mode = WAL", "wal")) == SOTTO_STORE_OK &&
            (e = exec_pragma(s->db, "PRAGMA synchronous = FULL", NULL)) == SOTTO_STORE_OK &&
            (e = exec_pragma(s->db, "PRAGMA foreign_keys = ON", NULL)) == SOTTO_STORE_OK &&
            /* Deleted envelopes (ciphertext, sender) are overwritten with zeros
             * in the database file, not just unlinked from the b-tree. */
            (e = exec_pragma(s->db, "PRAGMA secure_delete = ON", NULL)) == SOTTO_STORE_OK &&
            (e = exec_pragma(s->db, limit, NULL)) == SOTTO_STORE_OK)
            e = sotto_store_migrate(s);
        if (e != SOTTO_STORE_ERR_BUSY || waited_ms >= SOTTO_STORE_BUSY_TIMEOUT_MS)
            break;
        struct timespec pause = {0, SOTTO_STORE_OPEN_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (e != SOTTO_STORE_OK)
        goto fail;
    *out = s;
    return SOTTO_STORE_OK;
fail:
    sotto_store_close(s);
    return e;
}

void sotto_store_close(sotto_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < SOTTO_SQL_COUNT_; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db); /* the uncached statements are finalized by their own calls */
    free(s->recipients);
    free(s->recipient_slot);
    free(s->ack_rows);
    EVP_CIPHER_CTX_free(s->id_enc);         /* clears the key schedule */
    EVP_CIPHER_CTX_free(s->id_dec);
    free(s);
}

/* ---- clock ---- */

void sotto_store_set_clock(sotto_store *s, sotto_store_clock_fn fn, void *ctx)
{
    if (s == NULL)
        return;
    s->clock = fn;
    s->clock_ctx = ctx;
}

int64_t sotto_store_now(const sotto_store *s)
{
    if (s->clock != NULL)
        return s->clock(s->clock_ctx);
    return (int64_t)time(NULL);
}

int64_t sotto_store_round_down(int64_t t, int64_t granularity)
{
    int64_t r = t % granularity;
    if (r < 0)
        r += granularity;
    return t - r;
}

/* ---- database helpers ---- */

sotto_store_err sotto_store_db_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return SOTTO_STORE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SOTTO_STORE_ERR_BUSY;
    case SQLITE_NOMEM:
        return SOTTO_STORE_ERR_NO_MEMORY;
    default:
        return SOTTO_STORE_ERR_DB;
    }
}

sotto_store_err sotto_store_prepare(sotto_store *s, sqlite3_stmt **st, const char *sql)
{
    *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return sotto_store_db_err(rc);
    }
    return SOTTO_STORE_OK;
}

sotto_store_err sotto_store_stmt(sotto_store *s, sotto_store_sql id, sqlite3_stmt **st)
{
    *st = NULL;
    if ((unsigned)id >= (unsigned)SOTTO_SQL_COUNT_)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    sqlite3_stmt *p = s->stmt[id];
    if (p == NULL) {
        int rc = sqlite3_prepare_v3(s->db, statements[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &p, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(p);
            return sotto_store_db_err(rc);
        }
        s->stmt[id] = p;
    } else {
        if (sqlite3_stmt_busy(p))
            return SOTTO_STORE_ERR_DB; /* still stepping for an outer use */
        sqlite3_reset(p);
        sqlite3_clear_bindings(p);
    }
    *st = p;
    return SOTTO_STORE_OK;
}

void sotto_store_put(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int sotto_store_stmts_busy(const sotto_store *s)
{
    int n = 0;
    for (size_t i = 0; i < SOTTO_SQL_COUNT_; i++)
        n += s->stmt[i] != NULL && sqlite3_stmt_busy(s->stmt[i]);
    return n;
}

/* Resets every cached statement left in the middle of a step. */
static void reset_busy(sotto_store *s)
{
    for (size_t i = 0; i < SOTTO_SQL_COUNT_; i++)
        if (s->stmt[i] != NULL && sqlite3_stmt_busy(s->stmt[i]))
            sotto_store_put(s->stmt[i]);
}

/* Runs one cached statement that returns no rows. */
static sotto_store_err run(sotto_store *s, sotto_store_sql id)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, id, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    return rc == SQLITE_DONE ? SOTTO_STORE_OK : sotto_store_db_err(rc);
}

/* PRAGMA synchronous takes effect when the statement is compiled, not when it
 * runs, so it cannot be a cached statement: sqlite3_exec compiles it each
 * time (once per switch, only when the kind of transaction changes). It may
 * not change inside a transaction, so it is set before BEGIN. */
static sotto_store_err set_sync(sotto_store *s, int normal)
{
    if (s->sync_normal == normal)
        return SOTTO_STORE_OK;
    int rc = sqlite3_exec(s->db, normal ? "PRAGMA synchronous = NORMAL"
                                        : "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sotto_store_db_err(rc);
    s->sync_normal = normal;
    return SOTTO_STORE_OK;
}

sotto_store_err sotto_store_begin_read(sotto_store *s)
{
    return run(s, SOTTO_SQL_BEGIN_READ);
}

sotto_store_err sotto_store_begin_write(sotto_store *s)
{
    sotto_store_err e = set_sync(s, 0);
    return e == SOTTO_STORE_OK ? run(s, SOTTO_SQL_BEGIN_WRITE) : e;
}

sotto_store_err sotto_store_begin_write_acks(sotto_store *s)
{
    sotto_store_err e = set_sync(s, 1);
    return e == SOTTO_STORE_OK ? run(s, SOTTO_SQL_BEGIN_WRITE) : e;
}

sotto_store_err sotto_store_commit(sotto_store *s)
{
    reset_busy(s);
    sotto_store_err e = run(s, SOTTO_SQL_COMMIT);
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
    return e;
}

void sotto_store_rollback(sotto_store *s)
{
    reset_busy(s);
    if (!sqlite3_get_autocommit(s->db))
        (void)run(s, SOTTO_SQL_ROLLBACK);
}

sotto_store_err sotto_store_lookup(sotto_store *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                   uint32_t device_id, int64_t *account_row, int64_t *device_row)
{
    if (account_row != NULL)
        *account_row = 0;
    if (device_row != NULL)
        *device_row = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, device_id == 0 ? SOTTO_SQL_LOOKUP_ACCOUNT
                                                           : SOTTO_SQL_LOOKUP_DEVICE, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_blob(st, 1, uuid, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    if (device_id != 0)
        sqlite3_bind_int64(st, 2, device_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (account_row != NULL)
            *account_row = sqlite3_column_int64(st, 0);
        if (device_row != NULL)
            *device_row = sqlite3_column_int64(st, 1);
    } else if (rc == SQLITE_DONE) {
        e = SOTTO_STORE_ERR_NOT_FOUND;
    } else {
        e = sotto_store_db_err(rc);
    }
    sotto_store_put(st);
    return e;
}

/* ---- helpers without a database ---- */

sotto_store_err sotto_store_username_canonical(char out[SOTTO_STORE_USERNAME_MAX + 1],
                                               const char *in)
{
    if (out == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    memset(out, 0, SOTTO_STORE_USERNAME_MAX + 1);
    if (in == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    size_t len = strnlen(in, SOTTO_STORE_USERNAME_MAX + 1);
    if (len < SOTTO_STORE_USERNAME_MIN || len > SOTTO_STORE_USERNAME_MAX)
        return SOTTO_STORE_ERR_INVALID_USERNAME;
    char tmp[SOTTO_STORE_USERNAME_MAX + 1] = {0};
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        int letter = c >= 'a' && c <= 'z';
        int ok = letter || (c >= '0' && c <= '9') || c == '_' || c == '.';
        if (!ok || (i == 0 && !letter) || (c == '.' && i > 0 && tmp[i - 1] == '.'))
            return SOTTO_STORE_ERR_INVALID_USERNAME;
        tmp[i] = (char)c;
    }
    if (tmp[len - 1] == '.')
        return SOTTO_STORE_ERR_INVALID_USERNAME;
    memcpy(out, tmp, len + 1);
    return SOTTO_STORE_OK;
}

void sotto_store_uuid_format(char out[SOTTO_STORE_UUID_STRING_BYTES],
                             const uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < SOTTO_STORE_UUID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 0x0f];
    }
    out[o] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

sotto_store_err sotto_store_uuid_parse(uint8_t uuid[SOTTO_STORE_UUID_BYTES], const char *in)
{
    if (uuid == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    memset(uuid, 0, SOTTO_STORE_UUID_BYTES);
    if (in == NULL || strnlen(in, SOTTO_STORE_UUID_STRING_BYTES) != SOTTO_STORE_UUID_STRING_BYTES - 1)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    uint8_t tmp[SOTTO_STORE_UUID_BYTES];
    size_t p = 0;
    for (size_t i = 0; i < SOTTO_STORE_UUID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (in[p] != '-')
                return SOTTO_STORE_ERR_INVALID_ARGUMENT;
            p++;
        }
        int hi = hexval(in[p]), lo = hexval(in[p + 1]);
        if (hi < 0 || lo < 0)
            return SOTTO_STORE_ERR_INVALID_ARGUMENT;
        tmp[i] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    memcpy(uuid, tmp, sizeof tmp);
    return SOTTO_STORE_OK;
}
