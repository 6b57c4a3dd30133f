/* The client store: encryption at rest, the key check, the lock, the key
 * file, message de-duplication. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#define SQLITE_HAS_CODEC 1
#include <sqlite3.h>

#include "store.h"

static const char marker[] = "MARKER-zebra-quartz-7741 the eagle lands at noon";
static const char peer_marker[] = "contactname-xylophone";

static char *mkdir_tmp(void)
{
    char *d = strdup("/tmp/sotto-test-store-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static void rm_tree(const char *d)
{
    DIR *dir = opendir(d);
    if (dir != NULL) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[SOTTO_PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", d, e->d_name);
            unlink(p);
        }
        closedir(dir);
    }
    rmdir(d);
}

static void pass_secret(sotto_store_secret *s, const char *pass)
{
    memset(s, 0, sizeof *s);
    s->pass_len = strlen(pass);
    memcpy(s->pass, pass, s->pass_len);
}

/* 1 when any file in d contains needle. */
static int dir_contains(const char *d, const void *needle, size_t nlen)
{
    DIR *dir = opendir(d);
    assert_non_null(dir);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[SOTTO_PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        FILE *f = fopen(p, "rb");
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n > 0) {
            char *buf = malloc((size_t)n);
            assert_non_null(buf);
            assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
            if (memmem(buf, (size_t)n, needle, nlen) != NULL)
                found = 1;
            free(buf);
        }
        fclose(f);
    }
    closedir(dir);
    return found;
}

static void add_marker(sotto_cstore *st, const char *peer)
{
    char err[SOTTO_CERR_LEN];
    uint8_t uid[SOTTO_MSG_UID_BYTES];
    randombytes_buf(uid, sizeof uid);
    int64_t id;
    int dup;
    assert_int_equal(sotto_cstore_msg_add(st, peer, 1, SOTTO_MSG_PENDING, uid, 1, (const uint8_t *)marker,
                                          strlen(marker), &id, &dup, err), SOTTO_C_OK);
    assert_int_equal(dup, 0);
    assert_true(id > 0);
}

static void test_encrypted_at_rest(void **state)
{
    (void)state;
    char *d = mkdir_tmp();
    char err[SOTTO_CERR_LEN];
    sotto_store_secret sec;
    pass_secret(&sec, "correct horse battery staple");
    sotto_cstore *st;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 1, err), SOTTO_C_OK);
    add_marker(st, peer_marker);
    assert_int_equal(sotto_cstore_meta_set(st, "username", peer_marker, strlen(peer_marker), err), SOTTO_C_OK);
    /* While open (WAL present) and after close, no file holds the marker. */
    assert_false(dir_contains(d, marker, strlen(marker)));
    assert_false(dir_contains(d, peer_marker, strlen(peer_marker)));
    assert_false(dir_contains(d, "SQLite format 3", 15));
    /* The scanner does find what is there: the PID in the lock file. */
    char pidstr[32];
    snprintf(pidstr, sizeof pidstr, "%ld\n", (long)getpid());
    assert_true(dir_contains(d, pidstr, strlen(pidstr)));
    sotto_cstore_close(st);
    assert_false(dir_contains(d, marker, strlen(marker)));
    assert_false(dir_contains(d, peer_marker, strlen(peer_marker)));
    assert_false(dir_contains(d, "SQLite format 3", 15));

    /* Reopen: the marker comes back. */
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_OK);
    uint8_t *v;
    size_t len;
    assert_int_equal(sotto_cstore_meta_get(st, "username", &v, &len, err), SOTTO_C_OK);
    assert_int_equal(len, strlen(peer_marker));
    assert_memory_equal(v, peer_marker, len);
    sotto_cstore_free_blob(v, len);
    sotto_cstore_close(st);

    /* A wrong passphrase is a clear store error, and changes nothing. */
    pass_secret(&sec, "wrong horse");
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_STORE);
    assert_non_null(strstr(err, "wrong passphrase"));
    assert_null(st);
    /* Creating again over an existing store is refused. */
    pass_secret(&sec, "correct horse battery staple");
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 1, err), SOTTO_C_CONFLICT);
    sotto_store_secret_wipe(&sec);
    rm_tree(d);
    free(d);
}

static void test_newer_schema(void **state)
{
    (void)state;
    char *d = mkdir_tmp();
    char err[SOTTO_CERR_LEN];
    sotto_store_secret sec;
    pass_secret(&sec, "pw");
    sotto_cstore *st;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 1, err), SOTTO_C_OK);
    sotto_cstore_close(st);
    char p[SOTTO_PATH_MAX];
    assert_int_equal(sotto_cstore_path(p, d, SOTTO_STORE_DB_NAME, err), SOTTO_C_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_key(db, "pw", 2), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_STORE);
    assert_non_null(strstr(err, "schema 99"));
    rm_tree(d);
    free(d);
}

/* A schema 1 store (before the held table) is upgraded in place; held
 * envelopes round-trip and survive a reopen. */
static void test_schema_upgrade_and_held(void **state)
{
    (void)state;
    char *d = mkdir_tmp();
    char err[SOTTO_CERR_LEN];
    sotto_store_secret sec;
    pass_secret(&sec, "pw");
    sotto_cstore *st;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 1, err), SOTTO_C_OK);
    sotto_cstore_close(st);
    char p[SOTTO_PATH_MAX];
    assert_int_equal(sotto_cstore_path(p, d, SOTTO_STORE_DB_NAME, err), SOTTO_C_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_key(db, "pw", 2), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE held; PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_OK);
    const uint8_t ct[] = {3, 1, 2, 3};
    assert_int_equal(sotto_cstore_held_add(st, "e1", "u1", 2, 3, ct, sizeof ct, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_held_add(st, "e2", "u1", 1, 3, ct, 2, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_held_add(st, "e1", "u1", 2, 3, ct, 1, err), SOTTO_C_OK); /* kept as first */
    assert_int_equal(sotto_cstore_held_add(st, "e3", "u2", 1, 3, ct, 1, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_held_add(st, "e4", "u2", 1, 3, ct, 0, err), SOTTO_C_USAGE);
    sotto_cstore_close(st);
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_OK);
    int64_t *ids, n;
    size_t k;
    assert_int_equal(sotto_cstore_held_ids(st, "u1", &ids, &k, err), SOTTO_C_OK);
    assert_int_equal(k, 2);
    sotto_cheld h;
    assert_int_equal(sotto_cstore_held_get(st, ids[0], &h, err), SOTTO_C_OK);
    assert_string_equal(h.envelope, "e1");
    assert_string_equal(h.source, "u1");
    assert_int_equal(h.device, 2);
    assert_int_equal(h.type, 3);
    assert_int_equal(h.ct_len, sizeof ct);
    assert_memory_equal(h.ct, ct, sizeof ct);
    sotto_cstore_free_blob(h.ct, h.ct_len);
    assert_int_equal(sotto_cstore_held_delete(st, ids[0], err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_held_get(st, ids[0], &h, err), SOTTO_C_NOT_FOUND);
    free(ids);
    assert_int_equal(sotto_cstore_held_count(st, "u1", &n, err), SOTTO_C_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sotto_cstore_held_count(st, "u2", &n, err), SOTTO_C_OK);
    assert_int_equal(n, 1);
    sotto_cstore_close(st);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_key(db, "pw", 2), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version;", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), SOTTO_STORE_SCHEMA);
    sqlite3_finalize(q);
    sqlite3_close(db);
    sotto_store_secret_wipe(&sec);
    rm_tree(d);
    free(d);
}

static void test_missing_store(void **state)
{
    (void)state;
    char *d = mkdir_tmp();
    char err[SOTTO_CERR_LEN];
    sotto_store_secret sec;
    pass_secret(&sec, "x");
    sotto_cstore *st;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_NOT_FOUND);
    assert_false(sotto_cstore_exists(d));
    rm_tree(d);
    free(d);
}

static void test_lock(void **state)
{
    (void)state;
    char *d = mkdir_tmp();
    char err[SOTTO_CERR_LEN];
    sotto_store_secret sec;
    pass_secret(&sec, "pw");
    sotto_cstore *st, *st2;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 1, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_open(&st2, d, &sec, 0, err), SOTTO_C_LOCKED);
    char want[64];
    snprintf(want, sizeof want, "in use by PID %ld", (long)getpid());
    assert_non_null(strstr(err, want));

    /* Another process gets the same answer. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sotto_cstore *c;
        char e2[SOTTO_CERR_LEN];
        _exit(sotto_cstore_open(&c, d, &sec, 0, e2) == SOTTO_C_LOCKED && strstr(e2, want) ? 0 : 1);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);

    sotto_cstore_close(st);
    assert_int_equal(sotto_cstore_open(&st2, d, &sec, 0, err), SOTTO_C_OK);
    sotto_cstore_close(st2);
    rm_tree(d);
    free(d);
}

static void test_keyfile(void **state)
{
    (void)state;
    char *d = mkdir_tmp();
    char err[SOTTO_CERR_LEN];
    sotto_store_secret sec;
    memset(&sec, 0, sizeof sec);
    sec.is_raw = 1;
    assert_int_equal(sotto_cstore_keyfile_create(d, sec.key, err), SOTTO_C_OK);
    char p[SOTTO_PATH_MAX];
    assert_int_equal(sotto_cstore_path(p, d, SOTTO_STORE_KEYFILE_NAME, err), SOTTO_C_OK);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, SOTTO_STORE_KEY_BYTES);
    /* O_EXCL: never overwrite a key. */
    uint8_t k2[SOTTO_STORE_KEY_BYTES];
    assert_int_equal(sotto_cstore_keyfile_create(d, k2, err), SOTTO_C_CONFLICT);
    assert_int_equal(sotto_cstore_keyfile_read(d, k2, err), SOTTO_C_OK);
    assert_memory_equal(k2, sec.key, sizeof k2);

    sotto_cstore *st;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 1, err), SOTTO_C_OK);
    add_marker(st, "bob");
    sotto_cstore_close(st);
    assert_false(dir_contains(d, marker, strlen(marker)));
    /* The raw key never appears in the database either (it is not stored). */
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_OK);
    sotto_cstore_close(st);

    /* A readable key file is refused. */
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(sotto_cstore_keyfile_read(d, k2, err), SOTTO_C_STORE);
    assert_int_equal(chmod(p, 0600), 0);
    /* Another key does not open the store. */
    sec.key[0] ^= 1;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 0, err), SOTTO_C_STORE);
    sotto_store_secret_wipe(&sec);
    rm_tree(d);
    free(d);
}

static int count_cb(void *ctx, const sotto_cmsg *m)
{
    (void)m;
    (*(int *)ctx)++;
    return 0;
}

static void test_messages_sessions(void **state)
{
    (void)state;
    char *d = mkdir_tmp();
    char err[SOTTO_CERR_LEN];
    sotto_store_secret sec;
    pass_secret(&sec, "pw");
    sotto_cstore *st;
    assert_int_equal(sotto_cstore_open(&st, d, &sec, 1, err), SOTTO_C_OK);
    uint8_t uid[SOTTO_MSG_UID_BYTES] = {1, 2, 3};
    int64_t id, id2;
    int dup;
    assert_int_equal(sotto_cstore_msg_add(st, "alice", 0, SOTTO_MSG_NEW, uid, 5, (const uint8_t *)"hi", 2,
                                          &id, &dup, err), SOTTO_C_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(sotto_cstore_msg_add(st, "alice", 0, SOTTO_MSG_NEW, uid, 5, (const uint8_t *)"hi", 2,
                                          &id2, &dup, err), SOTTO_C_OK);
    assert_int_equal(dup, 1);
    /* Same uid, other direction or other peer: a different message. */
    assert_int_equal(sotto_cstore_msg_add(st, "alice", 1, SOTTO_MSG_PENDING, uid, 5, (const uint8_t *)"yo", 2,
                                          &id2, &dup, err), SOTTO_C_OK);
    assert_int_equal(dup, 0);
    int n = 0;
    assert_int_equal(sotto_cstore_msg_each(st, "alice", -1, -1, count_cb, &n, err), SOTTO_C_OK);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(sotto_cstore_msg_each(st, NULL, 1, SOTTO_MSG_PENDING, count_cb, &n, err), SOTTO_C_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sotto_cstore_msg_set_state(st, id2, SOTTO_MSG_SENT, err), SOTTO_C_OK);
    n = 0;
    assert_int_equal(sotto_cstore_msg_each(st, NULL, 1, SOTTO_MSG_PENDING, count_cb, &n, err), SOTTO_C_OK);
    assert_int_equal(n, 0);

    int seen;
    assert_int_equal(sotto_cstore_seen_check(st, "env-1", &seen, err), SOTTO_C_OK);
    assert_int_equal(seen, 0);
    assert_int_equal(sotto_cstore_seen_add(st, "env-1", err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_seen_check(st, "env-1", &seen, err), SOTTO_C_OK);
    assert_int_equal(seen, 1);

    /* Rolled back writes leave nothing. */
    assert_int_equal(sotto_cstore_begin(st, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_session_put(st, "bob", 2, (const uint8_t *)"rec", 3, err), SOTTO_C_OK);
    sotto_cstore_rollback(st);
    uint8_t *rec;
    size_t len;
    assert_int_equal(sotto_cstore_session_get(st, "bob", 2, &rec, &len, err), SOTTO_C_NOT_FOUND);
    assert_int_equal(sotto_cstore_begin(st, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_session_put(st, "bob", 2, (const uint8_t *)"rec", 3, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_session_put(st, "bob", 1, (const uint8_t *)"r1", 2, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_commit(st, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_session_get(st, "bob", 2, &rec, &len, err), SOTTO_C_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(rec, "rec", 3);
    sotto_cstore_free_blob(rec, len);
    uint32_t devs[4];
    size_t nd;
    assert_int_equal(sotto_cstore_session_devices(st, "bob", devs, 4, &nd, err), SOTTO_C_OK);
    assert_int_equal(nd, 2);
    assert_int_equal(devs[0], 1);
    assert_int_equal(devs[1], 2);
    assert_int_equal(sotto_cstore_session_delete(st, "bob", 1, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_session_devices(st, "bob", devs, 4, &nd, err), SOTTO_C_OK);
    assert_int_equal(nd, 1);

    uint8_t pub[33] = {5}, priv[32] = {9}, p2[33], k2[32];
    assert_int_equal(sotto_cstore_prekey_put(st, SOTTO_PK_ONE_TIME, 7, pub, 33, priv, 32, err), SOTTO_C_OK);
    int64_t cnt;
    assert_int_equal(sotto_cstore_prekey_count(st, SOTTO_PK_ONE_TIME, &cnt, err), SOTTO_C_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(sotto_cstore_prekey_get(st, SOTTO_PK_ONE_TIME, 7, p2, 33, k2, 32, err), SOTTO_C_OK);
    assert_memory_equal(p2, pub, 33);
    assert_memory_equal(k2, priv, 32);
    assert_int_equal(sotto_cstore_prekey_get(st, SOTTO_PK_ONE_TIME, 8, p2, 33, k2, 32, err), SOTTO_C_NOT_FOUND);
    assert_int_equal(sotto_cstore_prekey_delete(st, SOTTO_PK_ONE_TIME, 7, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_prekey_count(st, SOTTO_PK_ONE_TIME, &cnt, err), SOTTO_C_OK);
    assert_int_equal(cnt, 0);

    int64_t v;
    assert_int_equal(sotto_cstore_meta_set_int(st, "device_id", 3, err), SOTTO_C_OK);
    assert_int_equal(sotto_cstore_meta_get_int(st, "device_id", &v, err), SOTTO_C_OK);
    assert_int_equal(v, 3);
    assert_int_equal(sotto_cstore_meta_get_int(st, "nope", &v, err), SOTTO_C_NOT_FOUND);
    sotto_cstore_close(st);
    sotto_store_secret_wipe(&sec);
    rm_tree(d);
    free(d);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encrypted_at_rest),
        cmocka_unit_test(test_missing_store),
        cmocka_unit_test(test_newer_schema),
        cmocka_unit_test(test_schema_upgrade_and_held),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_keyfile),
        cmocka_unit_test(test_messages_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
