/* sotto client: the SQLCipher store (see store.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#define SQLITE_HAS_CODEC 1
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_PID_MAX 32 /* bytes of a PID line in the lock file */
#define SOTTO_STR_(x) #x
#define SOTTO_STR(x) SOTTO_STR_(x)

struct sotto_cstore {
    sqlite3 *db;
    int lock_fd;
};

static sotto_cstatus check_schema(sotto_cstore *st, char *err);

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS prekeys(kind INTEGER NOT NULL, id INTEGER NOT NULL,"
    " pub BLOB NOT NULL, priv BLOB NOT NULL, PRIMARY KEY(kind, id));"
    "CREATE TABLE IF NOT EXISTS sessions(peer TEXT NOT NULL, device INTEGER NOT NULL,"
    " record BLOB NOT NULL, PRIMARY KEY(peer, device));"
    "CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " peer TEXT NOT NULL, outgoing INTEGER NOT NULL, state INTEGER NOT NULL,"
    " uid BLOB NOT NULL, ts INTEGER NOT NULL, body BLOB NOT NULL,"
    " UNIQUE(peer, outgoing, uid));"
    "CREATE INDEX IF NOT EXISTS messages_state ON messages(outgoing, state);"
    "CREATE TABLE IF NOT EXISTS seen(envelope TEXT PRIMARY KEY,"
    " at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER)));"
    /* schema 2 */
    "CREATE TABLE IF NOT EXISTS held(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " envelope TEXT NOT NULL UNIQUE, source TEXT NOT NULL, device INTEGER NOT NULL,"
    " type INTEGER NOT NULL, ct BLOB NOT NULL);";

void sotto_store_secret_wipe(sotto_store_secret *s)
{
    sodium_memzero(s, sizeof *s);
}

sotto_cstatus sotto_cstore_path(char out[SOTTO_PATH_MAX], const char *dir, const char *name, char *err)
{
    int n = snprintf(out, SOTTO_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= SOTTO_PATH_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "path too long: %s", dir);
    return SOTTO_C_OK;
}

sotto_cstatus sotto_cstore_mkdir(const char *dir, char *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sotto_cfail(err, SOTTO_C_STORE, "cannot create %s: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sotto_cfail(err, SOTTO_C_STORE, "%s is not a directory", dir);
    return SOTTO_C_OK;
}

int sotto_cstore_exists(const char *dir)
{
    char p[SOTTO_PATH_MAX];
    if (sotto_cstore_path(p, dir, SOTTO_STORE_DB_NAME, NULL) != SOTTO_C_OK)
        return 0;
    return access(p, F_OK) == 0;
}

sotto_cstatus sotto_cstore_lock(const char *dir, int *fd_out, char *err)
{
    char p[SOTTO_PATH_MAX];
    *fd_out = -1;
    sotto_cstatus rc = sotto_cstore_path(p, dir, SOTTO_STORE_LOCK_NAME, err);
    if (rc != SOTTO_C_OK)
        return rc;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return sotto_cfail(err, SOTTO_C_STORE, "cannot open %s: %s", p, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[LOCK_PID_MAX] = {0};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK)
            return sotto_cfail(err, SOTTO_C_STORE, "cannot lock %s: %s", p, strerror(e));
        long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
        if (pid > 0)
            return sotto_cfail(err, SOTTO_C_LOCKED, "store %s is in use by PID %ld", dir, pid);
        return sotto_cfail(err, SOTTO_C_LOCKED, "store %s is in use by another process", dir);
    }
    char buf[LOCK_PID_MAX];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != (ssize_t)len) {
        int e = errno;
        close(fd);
        return sotto_cfail(err, SOTTO_C_STORE, "cannot write %s: %s", p, strerror(e));
    }
    *fd_out = fd;
    return SOTTO_C_OK;
}

sotto_cstatus sotto_cstore_keyfile_create(const char *dir, uint8_t key[SOTTO_STORE_KEY_BYTES], char *err)
{
    char p[SOTTO_PATH_MAX];
    sotto_cstatus rc = sotto_cstore_path(p, dir, SOTTO_STORE_KEYFILE_NAME, err);
    if (rc != SOTTO_C_OK)
        return rc;
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return sotto_cfail(err, SOTTO_C_CONFLICT, "%s already exists", p);
        return sotto_cfail(err, SOTTO_C_STORE, "cannot create %s: %s", p, strerror(errno));
    }
    randombytes_buf(key, SOTTO_STORE_KEY_BYTES);
    ssize_t n = write(fd, key, SOTTO_STORE_KEY_BYTES);
    int ok = n == SOTTO_STORE_KEY_BYTES && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(p);
        sodium_memzero(key, SOTTO_STORE_KEY_BYTES);
        return sotto_cfail(err, SOTTO_C_STORE, "cannot write %s", p);
    }
    return SOTTO_C_OK;
}

sotto_cstatus sotto_cstore_keyfile_read(const char *dir, uint8_t key[SOTTO_STORE_KEY_BYTES], char *err)
{
    char p[SOTTO_PATH_MAX];
    memset(key, 0, SOTTO_STORE_KEY_BYTES);
    sotto_cstatus rc = sotto_cstore_path(p, dir, SOTTO_STORE_KEYFILE_NAME, err);
    if (rc != SOTTO_C_OK)
        return rc;
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return sotto_cfail(err, SOTTO_C_NOT_FOUND, "no key file %s", p);
        return sotto_cfail(err, SOTTO_C_STORE, "cannot open %s: %s", p, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
        close(fd);
        return sotto_cfail(err, SOTTO_C_STORE, "%s must be a regular file with mode 0600", p);
    }
    if (sb.st_size != SOTTO_STORE_KEY_BYTES) {
        close(fd);
        return sotto_cfail(err, SOTTO_C_STORE, "%s must hold exactly %d bytes", p, SOTTO_STORE_KEY_BYTES);
    }
    ssize_t n = read(fd, key, SOTTO_STORE_KEY_BYTES);
    close(fd);
    if (n != SOTTO_STORE_KEY_BYTES) {
        sodium_memzero(key, SOTTO_STORE_KEY_BYTES);
        return sotto_cfail(err, SOTTO_C_STORE, "cannot read %s", p);
    }
    return SOTTO_C_OK;
}

static sotto_cstatus dbfail(sotto_cstore *st, char *err, const char *what)
{
    return sotto_cfail(err, SOTTO_C_STORE, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static sotto_cstatus exec(sotto_cstore *st, const char *sql, char *err)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return dbfail(st, err, sql);
    return SOTTO_C_OK;
}

static sotto_cstatus apply_key(sqlite3 *db, const sotto_store_secret *sec)
{
    /* Raw keys go to SQLCipher as x'<64 hex>' (no KDF); passphrases as bytes. */
    char raw[2 * SOTTO_STORE_KEY_BYTES + 4];
    int rc;
    if (sec->is_raw) {
        raw[0] = 'x';
        raw[1] = '\'';
        sodium_bin2hex(raw + 2, 2 * SOTTO_STORE_KEY_BYTES + 1, sec->key, SOTTO_STORE_KEY_BYTES);
        raw[2 + 2 * SOTTO_STORE_KEY_BYTES] = '\'';
        raw[3 + 2 * SOTTO_STORE_KEY_BYTES] = '\0';
        rc = sqlite3_key(db, raw, (int)(3 + 2 * SOTTO_STORE_KEY_BYTES));
        sodium_memzero(raw, sizeof raw);
    } else {
        if (sec->pass_len == 0 || sec->pass_len > SOTTO_PASSPHRASE_MAX)
            return SOTTO_C_USAGE;
        rc = sqlite3_key(db, sec->pass, (int)sec->pass_len);
    }
    return rc == SQLITE_OK ? SOTTO_C_OK : SOTTO_C_STORE;
}

sotto_cstatus sotto_cstore_open(sotto_cstore **out, const char *dir, const sotto_store_secret *sec,
                                int create, char *err)
{
    *out = NULL;
    char p[SOTTO_PATH_MAX];
    sotto_cstatus rc = sotto_cstore_path(p, dir, SOTTO_STORE_DB_NAME, err);
    if (rc != SOTTO_C_OK)
        return rc;
    int exists = access(p, F_OK) == 0;
    if (!exists && !create)
        return sotto_cfail(err, SOTTO_C_NOT_FOUND, "no store in %s (run register first)", dir);
    sotto_cstore *st = calloc(1, sizeof *st);
    if (st == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    rc = sotto_cstore_lock(dir, &st->lock_fd, err);
    if (rc != SOTTO_C_OK) {
        free(st);
        return rc;
    }
    /* Checked again under the lock: another process may have created it. */
    exists = access(p, F_OK) == 0;
    if (exists && create) {
        rc = sotto_cfail(err, SOTTO_C_CONFLICT, "%s already holds a store", dir);
        goto fail;
    }
    if (!exists && !create) {
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no store in %s (run register first)", dir);
        goto fail;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(p, &st->db, flags, NULL) != SQLITE_OK) {
        rc = sotto_cfail(err, SOTTO_C_STORE, "cannot open %s: %s", p,
                         st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    if (create)
        chmod(p, 0600);
    if (apply_key(st->db, sec) != SOTTO_C_OK) {
        rc = sotto_cfail(err, SOTTO_C_STORE, "cannot set the store key");
        goto fail;
    }
    /* The first read checks the key: SQLCipher reports SQLITE_NOTADB. */
    if (sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sotto_cfail(err, SOTTO_C_STORE,
                         "cannot open the store in %s: wrong passphrase or key, or a damaged file", dir);
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if ((rc = exec(st, "PRAGMA journal_mode=WAL;", err)) != SOTTO_C_OK ||
        (rc = exec(st, "PRAGMA synchronous=FULL;", err)) != SOTTO_C_OK ||
        (rc = exec(st, "PRAGMA temp_store=MEMORY;", err)) != SOTTO_C_OK ||
        (rc = exec(st, "PRAGMA secure_delete=ON;", err)) != SOTTO_C_OK ||
        (rc = exec(st, "PRAGMA foreign_keys=ON;", err)) != SOTTO_C_OK ||
        (rc = exec(st, schema, err)) != SOTTO_C_OK)
        goto fail;
    if ((rc = check_schema(st, err)) != SOTTO_C_OK)
        goto fail;
    /* Envelope ids matter while the server may deliver again: keep them
     * longer than the server keeps envelopes. */
    if ((rc = exec(st, "DELETE FROM seen WHERE at < CAST(strftime('%s','now') AS INTEGER) - "
                       SOTTO_STR(SOTTO_SEEN_KEEP_SECONDS) ";", err)) != SOTTO_C_OK)
        goto fail;
    if (create) {
        /* Make sure the -wal/-shm files are private too. */
        char w[SOTTO_PATH_MAX + 8];
        snprintf(w, sizeof w, "%s-wal", p);
        chmod(w, 0600);
        snprintf(w, sizeof w, "%s-shm", p);
        chmod(w, 0600);
    }
    *out = st;
    return SOTTO_C_OK;
fail:
    sotto_cstore_close(st);
    return rc;
}

void sotto_cstore_close(sotto_cstore *st)
{
    if (st == NULL)
        return;
    if (st->db != NULL)
        sqlite3_close_v2(st->db);
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    free(st);
}

sotto_cstatus sotto_cstore_begin(sotto_cstore *st, char *err)
{
    return exec(st, "BEGIN IMMEDIATE;", err);
}

sotto_cstatus sotto_cstore_commit(sotto_cstore *st, char *err)
{
    sotto_cstatus rc = exec(st, "COMMIT;", err);
    if (rc != SOTTO_C_OK)
        sotto_cstore_rollback(st);
    return rc;
}

void sotto_cstore_rollback(sotto_cstore *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
}

static sotto_cstatus prep(sotto_cstore *st, sqlite3_stmt **s, const char *sql, char *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
        return dbfail(st, err, "prepare");
    return SOTTO_C_OK;
}

/* PRAGMA user_version holds the schema version: 0 (new) becomes ours; 1
 * (before the held table, which the schema above has just added) is
 * upgraded; a newer one is refused. */
static sotto_cstatus check_schema(sotto_cstore *st, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "PRAGMA user_version;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    if (v == 0 || v == 1)
        return exec(st, "PRAGMA user_version = " SOTTO_STR(SOTTO_STORE_SCHEMA) ";", err);
    if (v != SOTTO_STORE_SCHEMA)
        return sotto_cfail(err, SOTTO_C_STORE, "store schema %d is not %d (a newer sotto?)", v, SOTTO_STORE_SCHEMA);
    return SOTTO_C_OK;
}

/* Steps a statement that returns no rows, then finalizes it. */
static sotto_cstatus run(sotto_cstore *st, sqlite3_stmt *s, char *err)
{
    int r = sqlite3_step(s);
    sotto_cstatus rc = SOTTO_C_OK;
    if (r != SQLITE_DONE)
        rc = dbfail(st, err, "write");
    sqlite3_finalize(s);
    return rc;
}

static sotto_cstatus blob_copy(sqlite3_stmt *s, int col, uint8_t **v, size_t *len, char *err)
{
    int n = sqlite3_column_bytes(s, col);
    if (n < 0 || (size_t)n > SOTTO_BLOB_MAX)
        return sotto_cfail(err, SOTTO_C_STORE, "store: value too large");
    uint8_t *b = malloc((size_t)n + 1);
    if (b == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    if (n > 0)
        memcpy(b, sqlite3_column_blob(s, col), (size_t)n);
    b[n] = 0;
    *v = b;
    *len = (size_t)n;
    return SOTTO_C_OK;
}

void sotto_cstore_free_blob(uint8_t *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len);
    free(p);
}

sotto_cstatus sotto_cstore_meta_set(sotto_cstore *st, const char *k, const void *v, size_t len, char *err)
{
    sqlite3_stmt *s;
    if (len > SOTTO_BLOB_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "value too large");
    sotto_cstatus rc = prep(st, &s, "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2);", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, len ? v : "", (int)len, SQLITE_STATIC);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_meta_get(sotto_cstore *st, const char *k, uint8_t **v, size_t *len, char *err)
{
    sqlite3_stmt *s;
    *v = NULL;
    *len = 0;
    sotto_cstatus rc = prep(st, &s, "SELECT v FROM meta WHERE k = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        rc = blob_copy(s, 0, v, len, err);
    else if (r == SQLITE_DONE)
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "store: no %s", k);
    else
        rc = dbfail(st, err, "read");
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_meta_delete(sotto_cstore *st, const char *k, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "DELETE FROM meta WHERE k = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_meta_set_int(sotto_cstore *st, const char *k, int64_t v, char *err)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    return sotto_cstore_meta_set(st, k, buf, (size_t)n, err);
}

sotto_cstatus sotto_cstore_meta_get_int(sotto_cstore *st, const char *k, int64_t *v, char *err)
{
    uint8_t *b;
    size_t len;
    *v = 0;
    sotto_cstatus rc = sotto_cstore_meta_get(st, k, &b, &len, err);
    if (rc != SOTTO_C_OK)
        return rc;
    char *end;
    errno = 0;
    long long x = strtoll((const char *)b, &end, 10);
    int bad = errno != 0 || len == 0 || *end != '\0';
    sotto_cstore_free_blob(b, len);
    if (bad)
        return sotto_cfail(err, SOTTO_C_STORE, "store: %s is not a number", k);
    *v = (int64_t)x;
    return SOTTO_C_OK;
}

sotto_cstatus sotto_cstore_prekey_put(sotto_cstore *st, int kind, uint32_t id, const uint8_t *pub,
                                      size_t pub_len, const uint8_t *priv, size_t priv_len, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s,
        "INSERT OR REPLACE INTO prekeys(kind, id, pub, priv) VALUES(?1, ?2, ?3, ?4);", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int(s, 1, kind);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_blob(s, 3, pub, (int)pub_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, priv, (int)priv_len, SQLITE_STATIC);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_prekey_get(sotto_cstore *st, int kind, uint32_t id, uint8_t *pub,
                                      size_t pub_len, uint8_t *priv, size_t priv_len, char *err)
{
    sqlite3_stmt *s;
    memset(pub, 0, pub_len);
    memset(priv, 0, priv_len);
    sotto_cstatus rc = prep(st, &s, "SELECT pub, priv FROM prekeys WHERE kind = ?1 AND id = ?2;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int(s, 1, kind);
    sqlite3_bind_int64(s, 2, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(s, 0) != pub_len ||
            (size_t)sqlite3_column_bytes(s, 1) != priv_len) {
            rc = sotto_cfail(err, SOTTO_C_STORE, "store: prekey %u has the wrong size", id);
        } else {
            memcpy(pub, sqlite3_column_blob(s, 0), pub_len);
            memcpy(priv, sqlite3_column_blob(s, 1), priv_len);
        }
    } else if (r == SQLITE_DONE) {
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "store: no prekey %u of kind %d", id, kind);
    } else {
        rc = dbfail(st, err, "read");
    }
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_prekey_delete(sotto_cstore *st, int kind, uint32_t id, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "DELETE FROM prekeys WHERE kind = ?1 AND id = ?2;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int(s, 1, kind);
    sqlite3_bind_int64(s, 2, id);
    return run(st, s, err);
}

static sotto_cstatus count_query(sotto_cstore *st, sqlite3_stmt *s, int64_t *n, char *err)
{
    sotto_cstatus rc = SOTTO_C_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        rc = dbfail(st, err, "count");
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_prekey_count(sotto_cstore *st, int kind, int64_t *n, char *err)
{
    sqlite3_stmt *s;
    *n = 0;
    sotto_cstatus rc = prep(st, &s, "SELECT count(*) FROM prekeys WHERE kind = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int(s, 1, kind);
    return count_query(st, s, n, err);
}

sotto_cstatus sotto_cstore_session_put(sotto_cstore *st, const char *peer, uint32_t device,
                                       const uint8_t *rec, size_t len, char *err)
{
    sqlite3_stmt *s;
    if (len > SOTTO_BLOB_MAX)
        return sotto_cfail(err, SOTTO_C_FAILURE, "session record too large");
    sotto_cstatus rc = prep(st, &s,
        "INSERT OR REPLACE INTO sessions(peer, device, record) VALUES(?1, ?2, ?3);", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, device);
    sqlite3_bind_blob(s, 3, rec, (int)len, SQLITE_STATIC);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_session_get(sotto_cstore *st, const char *peer, uint32_t device,
                                       uint8_t **rec, size_t *len, char *err)
{
    sqlite3_stmt *s;
    *rec = NULL;
    *len = 0;
    sotto_cstatus rc = prep(st, &s, "SELECT record FROM sessions WHERE peer = ?1 AND device = ?2;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, device);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        rc = blob_copy(s, 0, rec, len, err);
    else if (r == SQLITE_DONE)
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no session with %s device %u", peer, device);
    else
        rc = dbfail(st, err, "read");
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_session_delete(sotto_cstore *st, const char *peer, uint32_t device, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "DELETE FROM sessions WHERE peer = ?1 AND device = ?2;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, device);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_session_devices(sotto_cstore *st, const char *peer, uint32_t *devs,
                                           size_t cap, size_t *n, char *err)
{
    sqlite3_stmt *s;
    *n = 0;
    sotto_cstatus rc = prep(st, &s, "SELECT device FROM sessions WHERE peer = ?1 ORDER BY device;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW && *n < cap)
        devs[(*n)++] = (uint32_t)sqlite3_column_int64(s, 0);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = dbfail(st, err, "read");
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_msg_add(sotto_cstore *st, const char *peer, int outgoing, int state,
                                   const uint8_t uid[SOTTO_MSG_UID_BYTES], int64_t ts,
                                   const uint8_t *body, size_t len, int64_t *id, int *dup, char *err)
{
    sqlite3_stmt *s;
    *id = 0;
    *dup = 0;
    if (len > SOTTO_BLOB_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "message too large");
    sotto_cstatus rc = prep(st, &s,
        "INSERT OR IGNORE INTO messages(peer, outgoing, state, uid, ts, body)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6);", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, outgoing ? 1 : 0);
    sqlite3_bind_int(s, 3, state);
    sqlite3_bind_blob(s, 4, uid, SOTTO_MSG_UID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, ts);
    sqlite3_bind_blob(s, 6, len ? (const void *)body : "", (int)len, SQLITE_STATIC);
    rc = run(st, s, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (sqlite3_changes(st->db) == 0)
        *dup = 1;
    else
        *id = sqlite3_last_insert_rowid(st->db);
    return SOTTO_C_OK;
}

sotto_cstatus sotto_cstore_msg_get(sotto_cstore *st, int64_t id, sotto_cmsg *m, char peer[SOTTO_PEER_MAX + 1],
                                   uint8_t **body, char *err)
{
    sqlite3_stmt *s;
    memset(m, 0, sizeof *m);
    peer[0] = '\0';
    *body = NULL;
    sotto_cstatus rc = prep(st, &s, "SELECT peer, outgoing, state, uid, ts, body FROM messages WHERE id = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 0);
        snprintf(peer, SOTTO_PEER_MAX + 1, "%s", p ? p : "");
        m->id = id;
        m->peer = peer;
        m->outgoing = sqlite3_column_int(s, 1);
        m->state = sqlite3_column_int(s, 2);
        if (sqlite3_column_bytes(s, 3) == SOTTO_MSG_UID_BYTES)
            memcpy(m->uid, sqlite3_column_blob(s, 3), SOTTO_MSG_UID_BYTES);
        m->ts = sqlite3_column_int64(s, 4);
        size_t n;
        rc = blob_copy(s, 5, body, &n, err);
        m->body = *body;
        m->body_len = n;
    } else if (r == SQLITE_DONE) {
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no message %lld", (long long)id);
    } else {
        rc = dbfail(st, err, "read");
    }
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_msg_set_state(sotto_cstore *st, int64_t id, int state, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "UPDATE messages SET state = ?1 WHERE id = ?2;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int(s, 1, state);
    sqlite3_bind_int64(s, 2, id);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_msg_each(sotto_cstore *st, const char *peer, int outgoing, int state,
                                    sotto_cmsg_cb cb, void *ctx, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s,
        "SELECT id, peer, outgoing, state, uid, ts, body FROM messages"
        " WHERE (?1 IS NULL OR peer = ?1) AND (?2 < 0 OR outgoing = ?2)"
        " AND (?3 < 0 OR state = ?3) ORDER BY id;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (peer != NULL)
        sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 1);
    sqlite3_bind_int(s, 2, outgoing);
    sqlite3_bind_int(s, 3, state);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        sotto_cmsg m;
        memset(&m, 0, sizeof m);
        m.id = sqlite3_column_int64(s, 0);
        m.peer = (const char *)sqlite3_column_text(s, 1);
        m.outgoing = sqlite3_column_int(s, 2);
        m.state = sqlite3_column_int(s, 3);
        if (sqlite3_column_bytes(s, 4) == SOTTO_MSG_UID_BYTES)
            memcpy(m.uid, sqlite3_column_blob(s, 4), SOTTO_MSG_UID_BYTES);
        m.ts = sqlite3_column_int64(s, 5);
        m.body = sqlite3_column_blob(s, 6);
        m.body_len = (size_t)sqlite3_column_bytes(s, 6);
        if (m.peer == NULL)
            m.peer = "";
        int stop = cb(ctx, &m);
        if (stop != 0) {
            sqlite3_finalize(s);
            return (sotto_cstatus)stop;
        }
    }
    if (r != SQLITE_DONE)
        rc = dbfail(st, err, "read");
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_session_delete_peer(sotto_cstore *st, const char *peer, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "DELETE FROM sessions WHERE peer = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_held_add(sotto_cstore *st, const char *envelope, const char *source,
                                    uint32_t device, uint32_t type, const uint8_t *ct, size_t len,
                                    char *err)
{
    sqlite3_stmt *s;
    if (len == 0 || len > SOTTO_BLOB_MAX || strlen(envelope) > SOTTO_PEER_MAX || strlen(source) > SOTTO_PEER_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "held envelope too large");
    sotto_cstatus rc = prep(st, &s,
        "INSERT OR IGNORE INTO held(envelope, source, device, type, ct) VALUES(?1, ?2, ?3, ?4, ?5);", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, envelope, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, device);
    sqlite3_bind_int64(s, 4, type);
    sqlite3_bind_blob(s, 5, ct, (int)len, SQLITE_STATIC);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_held_ids(sotto_cstore *st, const char *source, int64_t **ids, size_t *n, char *err)
{
    sqlite3_stmt *s;
    *ids = NULL;
    *n = 0;
    sotto_cstatus rc = prep(st, &s, "SELECT id FROM held WHERE source = ?1 ORDER BY id;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            int64_t *ni = realloc(*ids, nc * sizeof *ni);
            if (ni == NULL) {
                rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
                break;
            }
            *ids = ni;
            cap = nc;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (rc == SOTTO_C_OK && r != SQLITE_DONE)
        rc = dbfail(st, err, "read");
    sqlite3_finalize(s);
    if (rc != SOTTO_C_OK) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

sotto_cstatus sotto_cstore_held_get(sotto_cstore *st, int64_t id, sotto_cheld *out, char *err)
{
    sqlite3_stmt *s;
    memset(out, 0, sizeof *out);
    sotto_cstatus rc = prep(st, &s, "SELECT envelope, source, device, type, ct FROM held WHERE id = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *e = (const char *)sqlite3_column_text(s, 0), *src = (const char *)sqlite3_column_text(s, 1);
        sqlite3_int64 dev = sqlite3_column_int64(s, 2), type = sqlite3_column_int64(s, 3);
        if (e == NULL || src == NULL || strlen(e) > SOTTO_PEER_MAX || strlen(src) > SOTTO_PEER_MAX || dev < 0 ||
            dev > UINT32_MAX || type < 0 || type > UINT32_MAX) {
            rc = sotto_cfail(err, SOTTO_C_STORE, "store: bad held envelope %lld", (long long)id);
        } else {
            out->id = id;
            snprintf(out->envelope, sizeof out->envelope, "%s", e);
            snprintf(out->source, sizeof out->source, "%s", src);
            out->device = (uint32_t)dev;
            out->type = (uint32_t)type;
            rc = blob_copy(s, 4, &out->ct, &out->ct_len, err);
        }
    } else if (r == SQLITE_DONE) {
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no held envelope %lld", (long long)id);
    } else {
        rc = dbfail(st, err, "read");
    }
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_held_delete(sotto_cstore *st, int64_t id, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "DELETE FROM held WHERE id = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    return run(st, s, err);
}

sotto_cstatus sotto_cstore_held_count(sotto_cstore *st, const char *source, int64_t *n, char *err)
{
    sqlite3_stmt *s;
    *n = 0;
    sotto_cstatus rc = prep(st, &s, "SELECT count(*) FROM held WHERE source = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    return count_query(st, s, n, err);
}

sotto_cstatus sotto_cstore_seen_check(sotto_cstore *st, const char *envelope, int *seen, char *err)
{
    sqlite3_stmt *s;
    *seen = 0;
    sotto_cstatus rc = prep(st, &s, "SELECT 1 FROM seen WHERE envelope = ?1;", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, envelope, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        *seen = 1;
    else if (r != SQLITE_DONE)
        rc = dbfail(st, err, "read");
    sqlite3_finalize(s);
    return rc;
}

sotto_cstatus sotto_cstore_seen_add(sotto_cstore *st, const char *envelope, char *err)
{
    sqlite3_stmt *s;
    sotto_cstatus rc = prep(st, &s, "INSERT OR IGNORE INTO seen(envelope) VALUES(?1);", err);
    if (rc != SOTTO_C_OK)
        return rc;
    sqlite3_bind_text(s, 1, envelope, -1, SQLITE_STATIC);
    return run(st, s, err);
}
