/* sottod store: accounts, usernames, devices, authentication, schema. */
#include "test_store_util.h"

#include <pthread.h>
#include <sqlite3.h>
#include "store_sqlite.h"
#include <sys/stat.h>
#include <time.h>

typedef struct {
    char *dir;
    sotto_store *s;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tdir_make();
    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sotto_store_close(f->s);
    tdir_remove(f->dir);
    free(f);
    return 0;
}

static void test_username_rule(void **state)
{
    (void)state;
    char out[SOTTO_STORE_USERNAME_MAX + 1];
    static const struct {
        const char *in;
        const char *canon; /* NULL: refused */
    } cases[] = {
        {"alice", "alice"},
        {"Alice.Smith_99", "alice.smith_99"},
        {"abc", "abc"},
        {"a.b.c", "a.b.c"},
        {"abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"}, /* 32 */
        {"abcdefghijklmnopqrstuvwxyz0123456", NULL},                             /* 33 */
        {"ab", NULL},
        {"", NULL},
        {"1alice", NULL},
        {"_alice", NULL},
        {".alice", NULL},
        {"alice.", NULL},
        {"al..ice", NULL},
        {"al ice", NULL},
        {"al-ice", NULL},
        {"alice@x", NULL},
        {"\xc3\xa1lice", NULL}, /* non-ASCII */
        {"ali\xc3\xa7", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sotto_store_err e = sotto_store_username_canonical(out, cases[i].in);
        if (cases[i].canon == NULL) {
            assert_int_equal(e, SOTTO_STORE_ERR_INVALID_USERNAME);
            assert_string_equal(out, "");
        } else {
            assert_int_equal(e, SOTTO_STORE_OK);
            assert_string_equal(out, cases[i].canon);
        }
    }
    assert_int_equal(sotto_store_username_canonical(out, NULL), SOTTO_STORE_ERR_INVALID_ARGUMENT);
}

/* Random strings over a mixed alphabet: whatever is accepted is canonical
 * (lower case, within the rule, a fixed point), and case does not matter. */
static void test_username_properties(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    static const char alphabet[] = "aZz09_.-A \xc3\xa9@";
    uint32_t accepted = 0;
    for (int round = 0; round < 20000; round++) {
        char in[41], upper[41];
        size_t len = randombytes_uniform(sizeof in);
        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
        in[len] = '\0';
        for (size_t i = 0; i <= len; i++)
            upper[i] = (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 'a' + 'A') : in[i];
        char out[SOTTO_STORE_USERNAME_MAX + 1], again[SOTTO_STORE_USERNAME_MAX + 1],
            up[SOTTO_STORE_USERNAME_MAX + 1];
        sotto_store_err e = sotto_store_username_canonical(out, in);
        assert_int_equal(sotto_store_username_canonical(up, upper), e);
        if (e != SOTTO_STORE_OK) {
            assert_int_equal(e, SOTTO_STORE_ERR_INVALID_USERNAME);
            continue;
        }
        accepted++;
        size_t n = strlen(out);
        assert_true(n >= SOTTO_STORE_USERNAME_MIN && n <= SOTTO_STORE_USERNAME_MAX);
        assert_true(out[0] >= 'a' && out[0] <= 'z');
        assert_true(out[n - 1] != '.');
        assert_null(strstr(out, ".."));
        for (size_t i = 0; i < n; i++)
            assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789_.", out[i]));
        assert_string_equal(out, up);
        assert_int_equal(sotto_store_username_canonical(again, out), SOTTO_STORE_OK);
        assert_string_equal(again, out);
    }
    assert_true(accepted > 0);
}

static void test_uuid_text(void **state)
{
    (void)state;
    uint8_t u[16], v[16];
    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)(i * 17);
    char s[SOTTO_STORE_UUID_STRING_BYTES];
    sotto_store_uuid_format(s, u);
    assert_string_equal(s, "00112233-4455-6677-8899-aabbccddeeff");
    assert_int_equal(sotto_store_uuid_parse(v, "00112233-4455-6677-8899-AABBCCDDEEFF"),
                     SOTTO_STORE_OK);
    assert_memory_equal(u, v, 16);
    assert_int_equal(sotto_store_uuid_parse(v, "00112233-4455-6677-8899-aabbccddeef"),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_uuid_parse(v, "00112233x4455-6677-8899-aabbccddeeff"),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_uuid_parse(v, "0011223g-4455-6677-8899-aabbccddeeff"),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_uuid_parse(v, "00112233-4455-6677-8899-aabbccddeeff0"),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
}

static void test_register_and_unique(void **state)
{
    fx *f = *state;
    uint8_t a[16], b[16];
    tcreate(f->s, "Alice", 0, 0, a);
    /* UUID is version 4, RFC 4122 variant. */
    assert_int_equal(a[6] >> 4, 4);
    assert_int_equal(a[8] >> 6, 2);

    sotto_store_account acct;
    assert_int_equal(sotto_store_find_username(f->s, "ALICE", &acct), SOTTO_STORE_OK);
    assert_string_equal(acct.username, "alice");
    assert_memory_equal(acct.uuid, a, 16);
    assert_int_equal(acct.created % SOTTO_STORE_CREATED_GRANULARITY_SECONDS, 0);
    assert_int_equal(acct.identity_key[0], SOTTO_STORE_EC_KEY_TYPE);

    /* Same name in another case: taken, and nothing was added. */
    tkeys k;
    tkeys_make(&k, 0, 0, 1);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t secret[32];
    tsecret(secret, "x");
    assert_int_equal(sotto_store_create_account(f->s, b, "aLiCe", secret, 32, 5, k.identity, &p),
                     SOTTO_STORE_ERR_USERNAME_TAKEN);
    uint8_t zero[16] = {0};
    assert_memory_equal(b, zero, 16);
    assert_int_equal(sotto_store_create_account(f->s, b, "al..ice", secret, 32, 5, k.identity,
                                                &p),
                     SOTTO_STORE_ERR_INVALID_USERNAME);

    /* Argument checks: bad secret length, registration id, key types. */
    assert_int_equal(sotto_store_create_account(f->s, b, "bob", secret, 15, 5, k.identity, &p),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_create_account(f->s, b, "bob", secret,
                                                SOTTO_STORE_SECRET_MIN_BYTES - 1, 5, k.identity,
                                                &p),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_create_account(f->s, b, "bob", secret, 32, 0, k.identity, &p),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_create_account(f->s, b, "bob", secret, 32,
                                                SOTTO_STORE_MAX_REGISTRATION_ID + 1,
                                                k.identity, &p),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    uint8_t badid[SOTTO_STORE_EC_KEY_BYTES];
    memcpy(badid, k.identity, sizeof badid);
    badid[0] = 0x06;
    assert_int_equal(sotto_store_create_account(f->s, b, "bob", secret, 32, 5, badid, &p),
                     SOTTO_STORE_ERR_INVALID_KEY);
    sotto_store_prekeys nobundle = p;
    nobundle.last_resort = NULL;
    assert_int_equal(sotto_store_create_account(f->s, b, "bob", secret, 32, 5, k.identity,
                                                &nobundle),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_find_username(f->s, "bob", &acct), SOTTO_STORE_ERR_NOT_FOUND);

    assert_int_equal(sotto_store_create_account(f->s, b, "bob", secret, 32, 5, k.identity, &p),
                     SOTTO_STORE_OK);
    assert_memory_not_equal(a, b, 16);
    assert_int_equal(sotto_store_get_account(f->s, b, &acct), SOTTO_STORE_OK);
    assert_string_equal(acct.username, "bob");
    assert_memory_equal(acct.identity_key, k.identity, SOTTO_STORE_EC_KEY_BYTES);
    tkeys_free(&k);

    sotto_store_device d[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    assert_int_equal(sotto_store_list_devices(f->s, b, d, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].device_id, SOTTO_STORE_PRIMARY_DEVICE_ID);
    assert_int_equal(d[0].registration_id, 5);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_authenticate(void **state)
{
    fx *f = *state;
    uint8_t a[16];
    tcreate(f->s, "carol", 0, 0, a);
    uint8_t good[32], bad[32];
    tsecret(good, "carol");
    memcpy(bad, good, sizeof bad);
    bad[31] ^= 1;

    /* Measured (printed, never asserted): the cost of one login. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, good, sizeof good), SOTTO_STORE_OK);
    print_message("one Argon2id login (verify): %.1f ms\n", seconds_since(&t0) * 1e3);

    assert_int_equal(sotto_store_authenticate(f->s, a, 1, bad, sizeof bad), SOTTO_STORE_ERR_AUTH);
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, good, sizeof good - 1),
                     SOTTO_STORE_ERR_AUTH);
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, good, 15), SOTTO_STORE_ERR_AUTH);
    assert_int_equal(sotto_store_authenticate(f->s, a, 2, good, sizeof good),
                     SOTTO_STORE_ERR_AUTH); /* no such device */
    uint8_t other[16];
    memcpy(other, a, 16);
    other[0] ^= 1;
    assert_int_equal(sotto_store_authenticate(f->s, other, 1, good, sizeof good),
                     SOTTO_STORE_ERR_AUTH); /* no such account */

    /* A second device has its own secret. */
    uint32_t d2 = tadd_device(f->s, a, "carol-laptop");
    assert_int_equal(d2, 2);
    uint8_t s2[32];
    tsecret(s2, "carol-laptop");
    assert_int_equal(sotto_store_authenticate(f->s, a, d2, s2, sizeof s2), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_authenticate(f->s, a, d2, good, sizeof good),
                     SOTTO_STORE_ERR_AUTH);
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, s2, sizeof s2), SOTTO_STORE_ERR_AUTH);

    /* The database holds an Argon2id hash, not the secret. */
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT secret_hash FROM devices", -1, &st, NULL),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        assert_non_null(h);
        assert_true(strncmp(h, "$argon2id$", 10) == 0);
        rows++;
    }
    assert_int_equal(rows, 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The hash verified for unknown accounts has today's parameters, so it costs
 * what a real one does, and no secret opens it. */
static void test_dummy_hash(void **state)
{
    (void)state;
    assert_int_equal(sodium_init() >= 0, 1);
    const char *h = sotto_store_dummy_hash();
    assert_int_equal(crypto_pwhash_str_needs_rehash(h, SOTTO_STORE_PWHASH_OPSLIMIT,
                                                    SOTTO_STORE_PWHASH_MEMLIMIT), 0);
    assert_true(strncmp(h, "$argon2id$", 10) == 0);
    uint8_t secret[32] = {0};
    assert_int_not_equal(crypto_pwhash_str_verify(h, (const char *)secret, sizeof secret), 0);
}

/* The client's secret (src/client/client.c: base64 of 32 random bytes, 44
 * characters) is accepted; anything under SOTTO_STORE_SECRET_MIN_BYTES is
 * not, for registration, new devices and login alike. */
static void test_secret_length(void **state)
{
    fx *f = *state;
    assert_int_equal(SOTTO_STORE_SECRET_MIN_BYTES, 32);
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(strlen(b64), 44);
    tkeys k;
    tkeys_make(&k, 0, 0, 1);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t a[16];
    assert_int_equal(sotto_store_create_account(f->s, a, "heidi", (const uint8_t *)b64, 44, 9,
                                                k.identity, &p),
                     SOTTO_STORE_OK);
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, (const uint8_t *)b64, 44),
                     SOTTO_STORE_OK);
    const size_t short_len = SOTTO_STORE_SECRET_MIN_BYTES - 1;
    /* Too short: refused before any Argon2id, whatever the bytes are. */
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, (const uint8_t *)b64, short_len),
                     SOTTO_STORE_ERR_AUTH);
    uint32_t id = 99;
    assert_int_equal(sotto_store_add_device(f->s, a, (const uint8_t *)b64, short_len, 9, &p, &id),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(id, 0);
    assert_int_equal(sotto_store_add_device(f->s, a, (const uint8_t *)b64, 32, 9, &p, &id),
                     SOTTO_STORE_OK);
    assert_int_equal(id, 2);
    uint8_t b[16];
    assert_int_equal(sotto_store_create_account(f->s, b, "ivan", (const uint8_t *)b64, short_len,
                                                9, k.identity, &p),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    tkeys_free(&k);
}

static void set_device_hash(const char *dir, const char *hash)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE devices SET secret_hash = ?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void get_device_hash(sotto_store *s, char out[crypto_pwhash_STRBYTES])
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT secret_hash FROM devices", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, crypto_pwhash_STRBYTES, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* A hash made with other parameters (the old 64 MiB "interactive" ones, or
 * weaker ones) is replaced by one with today's on the next good login; a
 * wrong secret changes nothing. */
static void test_rehash_both_ways(void **state)
{
    fx *f = *state;
    uint8_t a[16], secret[32];
    tcreate(f->s, "judy", 0, 0, a);
    tsecret(secret, "judy");
    static const struct {
        unsigned long long ops;
        size_t mem;
    } old[] = {
        {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE}, /* down */
        {1, 64 * 1024},                                                           /* up */
    };
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        char h[crypto_pwhash_STRBYTES], now[crypto_pwhash_STRBYTES];
        assert_int_equal(crypto_pwhash_str_alg(h, (const char *)secret, sizeof secret,
                                               old[i].ops, old[i].mem,
                                               crypto_pwhash_ALG_ARGON2ID13), 0);
        set_device_hash(f->dir, h);
        uint8_t bad[32];
        memcpy(bad, secret, sizeof bad);
        bad[0] ^= 1;
        assert_int_equal(sotto_store_authenticate(f->s, a, 1, bad, sizeof bad),
                         SOTTO_STORE_ERR_AUTH);
        get_device_hash(f->s, now);
        assert_string_equal(now, h);
        assert_int_equal(sotto_store_authenticate(f->s, a, 1, secret, sizeof secret),
                         SOTTO_STORE_OK);
        get_device_hash(f->s, now);
        assert_string_not_equal(now, h);
        assert_int_equal(crypto_pwhash_str_needs_rehash(now, SOTTO_STORE_PWHASH_OPSLIMIT,
                                                        SOTTO_STORE_PWHASH_MEMLIMIT), 0);
        assert_int_equal(sotto_store_authenticate(f->s, a, 1, secret, sizeof secret),
                         SOTTO_STORE_OK);
    }
    assert_int_equal(sotto_store_stmts_busy(f->s), 0);
}

/* Retry-safe registration (store.h): a second create_account for a taken
 * name with device 1's secret and the same identity key answers with the
 * existing account and stores the new bundle keys; any other secret or
 * identity key is "taken" and changes nothing. */
static void test_register_retry(void **state)
{
    fx *f = *state;
    tkeys k1, k2;
    tkeys_make(&k1, 2, 2, 10);
    tkeys_make(&k2, 0, 0, 500);
    memcpy(k2.identity, k1.identity, sizeof k2.identity);
    sotto_store_prekeys p1 = tkeys_all(&k1), p2 = tkeys_all(&k2);
    uint8_t secret[32], other[32];
    tsecret(secret, "mallory-1");
    tsecret(other, "mallory-2");
    uint8_t a[16], b[16];
    assert_int_equal(sotto_store_create_account(f->s, a, "kim", secret, 32, 11, k1.identity, &p1),
                     SOTTO_STORE_OK);

    /* The answer was lost: the same call again (new signed prekey and
     * last-resort key, another registration id). */
    memset(b, 0xee, sizeof b);
    assert_int_equal(sotto_store_create_account(f->s, b, "KIM", secret, 32, 12, k1.identity, &p2),
                     SOTTO_STORE_OK);
    assert_memory_equal(a, b, 16);
    sotto_store_device d[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    assert_int_equal(sotto_store_list_devices(f->s, a, d, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].registration_id, 12);
    uint32_t ec = 0, kem = 0;
    assert_int_equal(sotto_store_key_counts(f->s, a, 1, &ec, &kem), SOTTO_STORE_OK);
    assert_int_equal(ec, 2); /* the first call's one-time keys are still there */
    assert_int_equal(kem, 2);
    sotto_store_bundle bundle[SOTTO_STORE_MAX_DEVICES];
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 1, bundle, &n), SOTTO_STORE_OK);
    assert_int_equal(bundle[0].signed_prekey.id, k2.spk.id);
    assert_memory_equal(bundle[0].signed_prekey.key, k2.spk.key, SOTTO_STORE_EC_KEY_BYTES);
    assert_int_equal(bundle[0].registration_id, 12);
    /* The last-resort key is the new one (take both one-time Kyber keys). */
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 1, bundle, &n), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 1, bundle, &n), SOTTO_STORE_OK);
    assert_int_equal(bundle[0].kem_is_last_resort, 1);
    assert_int_equal(bundle[0].kem.id, k2.lrk.id);
    assert_memory_equal(bundle[0].kem.key, k2.lrk.key, SOTTO_STORE_KEM_KEY_BYTES);
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, secret, 32), SOTTO_STORE_OK);

    /* Another secret: taken, nothing changed. */
    tkeys k3;
    tkeys_make(&k3, 0, 0, 900);
    memcpy(k3.identity, k1.identity, sizeof k3.identity);
    sotto_store_prekeys p3 = tkeys_all(&k3);
    uint8_t zero[16] = {0};
    assert_int_equal(sotto_store_create_account(f->s, b, "kim", other, 32, 13, k1.identity, &p3),
                     SOTTO_STORE_ERR_USERNAME_TAKEN);
    assert_memory_equal(b, zero, 16);
    /* The same secret with another identity key: taken. */
    tkeys_make(&k3, 0, 0, 900);
    p3 = tkeys_all(&k3);
    assert_int_equal(sotto_store_create_account(f->s, b, "kim", secret, 32, 13, k3.identity, &p3),
                     SOTTO_STORE_ERR_USERNAME_TAKEN);
    assert_memory_equal(b, zero, 16);
    /* A second device's secret does not count: only device 1's. */
    tkeys kd;
    tkeys_make(&kd, 0, 0, 1);
    sotto_store_prekeys pd = tkeys_all(&kd);
    uint32_t dev = 0;
    assert_int_equal(sotto_store_add_device(f->s, a, other, 32, 7, &pd, &dev), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_create_account(f->s, b, "kim", other, 32, 13, k1.identity, &p3),
                     SOTTO_STORE_ERR_USERNAME_TAKEN);
    assert_int_equal(sotto_store_list_devices(f->s, a, d, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d[0].registration_id, 12);
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 1, bundle, &n), SOTTO_STORE_OK);
    assert_int_equal(bundle[0].signed_prekey.id, k2.spk.id);
    /* A bad key in the retry is refused like any registration. */
    sotto_store_prekeys bad = p2;
    bad.last_resort = NULL;
    assert_int_equal(sotto_store_create_account(f->s, b, "kim", secret, 32, 12, k1.identity, &bad),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    sotto_store_account acct;
    assert_int_equal(sotto_store_get_account(f->s, a, &acct), SOTTO_STORE_OK);
    assert_memory_equal(acct.identity_key, k1.identity, SOTTO_STORE_EC_KEY_BYTES);
    assert_int_equal(sotto_store_stmts_busy(f->s), 0);
    tkeys_free(&k1);
    tkeys_free(&k2);
    tkeys_free(&k3);
    tkeys_free(&kd);
}

static void test_devices(void **state)
{
    fx *f = *state;
    uint8_t a[16];
    tcreate(f->s, "dave", 0, 0, a);
    uint32_t ids[SOTTO_STORE_MAX_DEVICES];
    ids[0] = 1;
    for (size_t i = 1; i < SOTTO_STORE_MAX_DEVICES; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "dave-%zu", i);
        ids[i] = tadd_device(f->s, a, tag);
        assert_int_equal(ids[i], i + 1);
    }
    /* Full: refused. */
    tkeys k;
    tkeys_make(&k, 0, 0, 1);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t secret[32];
    tsecret(secret, "dave-x");
    uint32_t id = 99;
    assert_int_equal(sotto_store_add_device(f->s, a, secret, 32, 7, &p, &id),
                     SOTTO_STORE_ERR_TOO_MANY_DEVICES);
    assert_int_equal(id, 0);

    /* Remove device 3; the next added device gets a fresh id, not 3. */
    assert_int_equal(sotto_store_device_exists(f->s, a, 3), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_remove_device(f->s, a, 3), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_device_exists(f->s, a, 3), SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(sotto_store_device_exists(f->s, a, 1), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_device_exists(f->s, a, 0), SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_remove_device(f->s, a, 3), SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(sotto_store_remove_device(f->s, a, 1), SOTTO_STORE_ERR_FORBIDDEN);
    assert_int_equal(sotto_store_add_device(f->s, a, secret, 32, 7, &p, &id), SOTTO_STORE_OK);
    assert_int_equal(id, SOTTO_STORE_MAX_DEVICES + 1);
    uint8_t s3[32];
    tsecret(s3, "dave-2");
    assert_int_equal(sotto_store_authenticate(f->s, a, 3, s3, 32), SOTTO_STORE_ERR_AUTH);

    sotto_store_device d[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    assert_int_equal(sotto_store_list_devices(f->s, a, d, &n), SOTTO_STORE_OK);
    assert_int_equal(n, SOTTO_STORE_MAX_DEVICES);
    for (size_t i = 1; i < n; i++)
        assert_true(d[i].device_id > d[i - 1].device_id);
    assert_int_equal(d[2].device_id, 4);

    /* Unknown account. */
    uint8_t other[16] = {1};
    assert_int_equal(sotto_store_add_device(f->s, other, secret, 32, 7, &p, &id),
                     SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(sotto_store_list_devices(f->s, other, d, &n), SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(n, 0);
    assert_int_equal(sotto_store_device_exists(f->s, other, 1), SOTTO_STORE_ERR_NOT_FOUND);
    tkeys_free(&k);
}

static void test_device_ids_run_out(void **state)
{
    fx *f = *state;
    uint8_t a[16];
    tcreate(f->s, "erin", 0, 0, a);
    /* Make the account look like it has used every id, then try again. */
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE accounts SET next_device_id = %d",
             SOTTO_STORE_MAX_DEVICE_ID);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    uint32_t id = tadd_device(f->s, a, "erin-last");
    assert_int_equal(id, SOTTO_STORE_MAX_DEVICE_ID);
    tkeys k;
    tkeys_make(&k, 0, 0, 1);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t secret[32];
    tsecret(secret, "erin-x");
    assert_int_equal(sotto_store_add_device(f->s, a, secret, 32, 7, &p, &id),
                     SOTTO_STORE_ERR_TOO_MANY_DEVICES);
    tkeys_free(&k);
}

static void test_identity_and_delete(void **state)
{
    fx *f = *state;
    uint8_t a[16];
    tcreate(f->s, "frank", 0, 0, a);
    uint32_t d2 = tadd_device(f->s, a, "frank-2");
    uint8_t ik[SOTTO_STORE_EC_KEY_BYTES];
    ik[0] = SOTTO_STORE_EC_KEY_TYPE;
    randombytes_buf(ik + 1, sizeof ik - 1);
    assert_int_equal(sotto_store_set_identity_key(f->s, a, d2, ik), SOTTO_STORE_ERR_FORBIDDEN);
    assert_int_equal(sotto_store_set_identity_key(f->s, a, 1, ik), SOTTO_STORE_OK);
    sotto_store_account acct;
    assert_int_equal(sotto_store_get_account(f->s, a, &acct), SOTTO_STORE_OK);
    assert_memory_equal(acct.identity_key, ik, sizeof ik);
    ik[0] = 0;
    assert_int_equal(sotto_store_set_identity_key(f->s, a, 1, ik), SOTTO_STORE_ERR_INVALID_KEY);

    assert_int_equal(sotto_store_delete_account(f->s, a), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_delete_account(f->s, a), SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(sotto_store_get_account(f->s, a, &acct), SOTTO_STORE_ERR_NOT_FOUND);
    uint8_t secret[32];
    tsecret(secret, "frank");
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, secret, 32), SOTTO_STORE_ERR_AUTH);
    /* The name is free again, for a new account with a new UUID. */
    uint8_t b[16];
    tcreate(f->s, "Frank", 0, 0, b);
    assert_memory_not_equal(a, b, 16);
}

static void test_reopen_and_schema(void **state)
{
    fx *f = *state;
    uint8_t a[16];
    tcreate(f->s, "grace", 0, 0, a);
    int v = 0;
    assert_int_equal(sotto_store_schema_version(f->s, &v), SOTTO_STORE_OK);
    assert_int_equal(v, SOTTO_STORE_SCHEMA_VERSION);
    sotto_store_close(f->s);
    f->s = NULL;

    /* Files are private. */
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0077, 0);

    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    sotto_store_account acct;
    assert_int_equal(sotto_store_find_username(f->s, "grace", &acct), SOTTO_STORE_OK);
    assert_memory_equal(acct.uuid, a, 16);
    uint8_t secret[32];
    tsecret(secret, "grace");
    assert_int_equal(sotto_store_authenticate(f->s, a, 1, secret, 32), SOTTO_STORE_OK);
    sotto_store_close(f->s);
    f->s = NULL;

    /* A database from a newer server is refused, and left alone. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    sotto_store *s2 = (sotto_store *)&v; /* must be reset to NULL */
    assert_int_equal(sotto_store_open(&s2, f->dir), SOTTO_STORE_ERR_SCHEMA);
    assert_null(s2);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char back[64];
    snprintf(back, sizeof back, "PRAGMA user_version = %d", SOTTO_STORE_SCHEMA_VERSION);
    assert_int_equal(sqlite3_exec(db, back, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_find_username(f->s, "grace", &acct), SOTTO_STORE_OK);
}

static void test_open_errors(void **state)
{
    (void)state;
    sotto_store *s = NULL;
    assert_int_equal(sotto_store_open(&s, NULL), SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_open(&s, ""), SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_open(&s, "/proc/definitely/not/here"), SOTTO_STORE_ERR_DB);
    assert_null(s);
    assert_string_equal(sotto_store_strerror(SOTTO_STORE_ERR_QUEUE_FULL),
                        "a recipient device's queue is full");
    assert_string_equal(sotto_store_strerror(SOTTO_STORE_ERR_COUNT_), "unknown error");
    sotto_store_close(NULL);
}

/* Several handles opening a fresh directory at once (WAL switch, migration)
 * all succeed, and the schema is created once. */
#define OPEN_THREADS 4

typedef struct {
    const char *dir;
    sotto_store_err err;
} opener;

static void *open_one(void *arg)
{
    opener *o = arg;
    sotto_store *s = NULL;
    o->err = sotto_store_open(&s, o->dir);
    sotto_store_close(s);
    return NULL;
}

static void test_concurrent_first_open(void **state)
{
    (void)state;
    char *dir = tdir_make();
    opener o[OPEN_THREADS];
    pthread_t t[OPEN_THREADS];
    for (int i = 0; i < OPEN_THREADS; i++) {
        o[i] = (opener){.dir = dir, .err = SOTTO_STORE_ERR_COUNT_};
        assert_int_equal(pthread_create(&t[i], NULL, open_one, &o[i]), 0);
    }
    for (int i = 0; i < OPEN_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(o[i].err, SOTTO_STORE_OK);
    }
    sotto_store *s = NULL;
    assert_int_equal(sotto_store_open(&s, dir), SOTTO_STORE_OK);
    int v = 0;
    assert_int_equal(sotto_store_schema_version(s, &v), SOTTO_STORE_OK);
    assert_int_equal(v, SOTTO_STORE_SCHEMA_VERSION);
    uint8_t a[16];
    tcreate(s, "olga", 0, 0, a);
    sotto_store_close(s);
    tdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username_rule),
        cmocka_unit_test(test_username_properties),
        cmocka_unit_test(test_uuid_text),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_dummy_hash),
        cmocka_unit_test(test_concurrent_first_open),
        cmocka_unit_test_setup_teardown(test_register_and_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authenticate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_ids_run_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rehash_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_retry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
