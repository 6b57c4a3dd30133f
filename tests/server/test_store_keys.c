/* sottod store: prekey upload, counts, consumption, fallback, concurrency. */
#include "test_store_util.h"

#include <pthread.h>

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

static void counts(sotto_store *s, const uint8_t *a, uint32_t dev, uint32_t ec, uint32_t kem)
{
    uint32_t e = 99, k = 99;
    assert_int_equal(sotto_store_key_counts(s, a, dev, &e, &k), SOTTO_STORE_OK);
    assert_int_equal(e, ec);
    assert_int_equal(k, kem);
}

static void test_consume_and_fallback(void **state)
{
    fx *f = *state;
    tkeys k;
    tkeys_make(&k, 2, 1, 10);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t a[16], secret[32];
    tsecret(secret, "alice");
    assert_int_equal(sotto_store_create_account(f->s, a, "alice", secret, 32, 1234, k.identity,
                                                &p),
                     SOTTO_STORE_OK);
    counts(f->s, a, 1, 2, 1);

    sotto_store_bundle b[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    /* 1st: one-time EC (oldest first) and one-time Kyber. */
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 1, b, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].device_id, 1);
    assert_int_equal(b[0].registration_id, 1234);
    assert_memory_equal(b[0].identity_key, k.identity, SOTTO_STORE_EC_KEY_BYTES);
    assert_int_equal(b[0].signed_prekey.id, k.spk.id);
    assert_memory_equal(b[0].signed_prekey.key, k.spk.key, SOTTO_STORE_EC_KEY_BYTES);
    assert_memory_equal(b[0].signed_prekey.signature, k.spk.signature, 64);
    assert_true(b[0].has_ec);
    assert_int_equal(b[0].ec.id, k.ec[0].id);
    assert_memory_equal(b[0].ec.key, k.ec[0].key, SOTTO_STORE_EC_KEY_BYTES);
    assert_false(b[0].kem_is_last_resort);
    assert_int_equal(b[0].kem.id, k.kem[0].id);
    assert_memory_equal(b[0].kem.key, k.kem[0].key, SOTTO_STORE_KEM_KEY_BYTES);
    assert_memory_equal(b[0].kem.signature, k.kem[0].signature, 64);
    counts(f->s, a, 1, 1, 0);

    /* 2nd: last EC key, Kyber falls back to the last-resort key. */
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 1, b, &n), SOTTO_STORE_OK);
    assert_true(b[0].has_ec);
    assert_int_equal(b[0].ec.id, k.ec[1].id);
    assert_true(b[0].kem_is_last_resort);
    assert_int_equal(b[0].kem.id, k.lrk.id);
    assert_memory_equal(b[0].kem.key, k.lrk.key, SOTTO_STORE_KEM_KEY_BYTES);
    counts(f->s, a, 1, 0, 0);

    /* 3rd: no EC key, last resort again (it is never consumed). */
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 1, b, &n), SOTTO_STORE_OK);
    assert_false(b[0].has_ec);
    assert_int_equal(b[0].ec.id, 0);
    assert_true(b[0].kem_is_last_resort);
    assert_int_equal(b[0].kem.id, k.lrk.id);

    /* Unknown device / account. */
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, 5, b, &n), SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(n, 0);
    uint8_t other[16] = {9};
    assert_int_equal(sotto_store_fetch_bundles(f->s, other, 0, b, &n),
                     SOTTO_STORE_ERR_NOT_FOUND);
    uint32_t e, q;
    assert_int_equal(sotto_store_key_counts(f->s, a, 5, &e, &q), SOTTO_STORE_ERR_NOT_FOUND);
    tkeys_free(&k);
}

static void test_upload_rotate_and_all_devices(void **state)
{
    fx *f = *state;
    uint8_t a[16];
    tcreate(f->s, "bob", 0, 0, a);
    uint32_t d2 = tadd_device(f->s, a, "bob-2");
    counts(f->s, a, d2, 0, 0);

    tkeys k;
    tkeys_make(&k, 5, 3, 500);
    /* One-time keys only: the bundle keys stay. */
    sotto_store_prekeys only = {.ec = k.ec, .ec_count = 5, .kem = k.kem, .kem_count = 3};
    assert_int_equal(sotto_store_upload_keys(f->s, a, d2, &only), SOTTO_STORE_OK);
    counts(f->s, a, d2, 5, 3);
    counts(f->s, a, 1, 0, 0);
    /* A retried upload (same ids) replaces, it does not add. */
    assert_int_equal(sotto_store_upload_keys(f->s, a, d2, &only), SOTTO_STORE_OK);
    counts(f->s, a, d2, 5, 3);

    /* Rotate device 2's signed prekey and last-resort key. */
    sotto_store_prekeys rot = {.signed_prekey = &k.spk, .last_resort = &k.lrk};
    assert_int_equal(sotto_store_upload_keys(f->s, a, d2, &rot), SOTTO_STORE_OK);

    sotto_store_bundle b[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, SOTTO_STORE_ALL_DEVICES, b, &n),
                     SOTTO_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].device_id, 1);
    assert_false(b[0].has_ec);
    assert_true(b[0].kem_is_last_resort);
    assert_int_equal(b[1].device_id, d2);
    assert_int_equal(b[1].registration_id, 7);
    assert_int_equal(b[1].signed_prekey.id, k.spk.id);
    assert_memory_equal(b[1].signed_prekey.key, k.spk.key, SOTTO_STORE_EC_KEY_BYTES);
    assert_true(b[1].has_ec);
    assert_int_equal(b[1].ec.id, k.ec[0].id);
    assert_false(b[1].kem_is_last_resort);
    assert_int_equal(b[1].kem.id, k.kem[0].id);
    counts(f->s, a, d2, 4, 2);
    /* Exhaust Kyber: then the rotated last-resort key is served. */
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, d2, b, &n), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, d2, b, &n), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, d2, b, &n), SOTTO_STORE_OK);
    assert_true(b[0].kem_is_last_resort);
    assert_int_equal(b[0].kem.id, k.lrk.id);
    assert_memory_equal(b[0].kem.key, k.lrk.key, SOTTO_STORE_KEM_KEY_BYTES);
    counts(f->s, a, d2, 1, 0);

    /* Removing the device removes its keys with it. */
    assert_int_equal(sotto_store_remove_device(f->s, a, d2), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_fetch_bundles(f->s, a, d2, b, &n), SOTTO_STORE_ERR_NOT_FOUND);
    tkeys_free(&k);
}

static void test_limits_and_bad_keys(void **state)
{
    fx *f = *state;
    uint8_t a[16];
    tcreate(f->s, "carol", 0, 0, a);
    tkeys k;
    tkeys_make(&k, SOTTO_STORE_MAX_KEYS_PER_UPLOAD + 1, SOTTO_STORE_MAX_KEYS_PER_UPLOAD + 1, 1);

    sotto_store_prekeys up = {.ec = k.ec, .ec_count = SOTTO_STORE_MAX_KEYS_PER_UPLOAD + 1};
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_TOO_MANY_KEYS);
    up = (sotto_store_prekeys){.kem = k.kem, .kem_count = SOTTO_STORE_MAX_KEYS_PER_UPLOAD + 1};
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_TOO_MANY_KEYS);
    counts(f->s, a, 1, 0, 0);

    /* A bad type byte anywhere refuses the whole upload. */
    k.ec[7].key[0] = SOTTO_STORE_KEM_KEY_TYPE;
    up = (sotto_store_prekeys){.ec = k.ec, .ec_count = 10, .kem = k.kem, .kem_count = 10};
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_INVALID_KEY);
    counts(f->s, a, 1, 0, 0);
    k.ec[7].key[0] = SOTTO_STORE_EC_KEY_TYPE;
    k.kem[3].key[0] = SOTTO_STORE_EC_KEY_TYPE;
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_INVALID_KEY);
    k.kem[3].key[0] = SOTTO_STORE_KEM_KEY_TYPE;
    k.spk.key[0] = 0;
    up = (sotto_store_prekeys){.signed_prekey = &k.spk, .ec = k.ec, .ec_count = 10};
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_INVALID_KEY);
    k.spk.key[0] = SOTTO_STORE_EC_KEY_TYPE;
    k.lrk.key[0] = SOTTO_STORE_EC_KEY_TYPE;
    up = (sotto_store_prekeys){.last_resort = &k.lrk};
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_INVALID_KEY);
    counts(f->s, a, 1, 0, 0);
    up = (sotto_store_prekeys){.ec = NULL, .ec_count = 1};
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, NULL), SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_upload_keys(f->s, a, 9, &(sotto_store_prekeys){0}),
                     SOTTO_STORE_ERR_NOT_FOUND);

    /* Fill up to the per-device limit, then one more upload is refused whole. */
    size_t per = SOTTO_STORE_MAX_KEYS_PER_UPLOAD;
    size_t full = SOTTO_STORE_MAX_KEYS_PER_DEVICE / per;
    for (size_t round = 0; round < full; round++) {
        for (size_t i = 0; i < per; i++)
            k.ec[i].id = (uint32_t)(round * per + i + 1);
        up = (sotto_store_prekeys){.ec = k.ec, .ec_count = per};
        assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_OK);
    }
    counts(f->s, a, 1, (uint32_t)(full * per), 0);
    k.ec[0].id = 1000000;
    k.kem[0].id = 1000000;
    up = (sotto_store_prekeys){.ec = k.ec, .ec_count = 1, .kem = k.kem, .kem_count = 1};
    assert_int_equal(sotto_store_upload_keys(f->s, a, 1, &up), SOTTO_STORE_ERR_TOO_MANY_KEYS);
    counts(f->s, a, 1, (uint32_t)(full * per), 0); /* the Kyber key did not go in either */
    tkeys_free(&k);
}

/* ---- concurrency: every thread its own handle ---- */

#define CONC_THREADS 4
#define CONC_KEYS 60
#define CONC_FETCHES 20 /* per thread: 80 fetches for 60 keys of each kind */

typedef struct {
    const char *dir;
    const uint8_t *uuid;
    uint32_t ec_ids[CONC_FETCHES];
    uint32_t kem_ids[CONC_FETCHES];
    int ec_got[CONC_FETCHES];
    int kem_one_time[CONC_FETCHES];
    sotto_store_err err;
} worker;

static void *fetch_worker(void *arg)
{
    worker *w = arg;
    sotto_store *s = NULL;
    w->err = sotto_store_open(&s, w->dir);
    if (w->err != SOTTO_STORE_OK)
        return NULL;
    sotto_store_bundle *b = calloc(SOTTO_STORE_MAX_DEVICES, sizeof *b);
    if (b == NULL) {
        w->err = SOTTO_STORE_ERR_NO_MEMORY;
        sotto_store_close(s);
        return NULL;
    }
    for (int i = 0; i < CONC_FETCHES && w->err == SOTTO_STORE_OK; i++) {
        size_t n = 0;
        w->err = sotto_store_fetch_bundles(s, w->uuid, 1, b, &n);
        if (w->err == SOTTO_STORE_OK && n == 1) {
            w->ec_got[i] = b[0].has_ec;
            w->ec_ids[i] = b[0].ec.id;
            w->kem_one_time[i] = !b[0].kem_is_last_resort;
            w->kem_ids[i] = b[0].kem.id;
        }
    }
    free(b);
    sotto_store_close(s);
    return NULL;
}

static void test_concurrent_fetch_distinct(void **state)
{
    fx *f = *state;
    tkeys k;
    tkeys_make(&k, CONC_KEYS, CONC_KEYS, 1);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t a[16], secret[32];
    tsecret(secret, "dave");
    assert_int_equal(sotto_store_create_account(f->s, a, "dave", secret, 32, 3, k.identity, &p),
                     SOTTO_STORE_OK);

    worker w[CONC_THREADS];
    pthread_t t[CONC_THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CONC_THREADS; i++) {
        w[i].dir = f->dir;
        w[i].uuid = a;
        assert_int_equal(pthread_create(&t[i], NULL, fetch_worker, &w[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);

    /* Each one-time key went to exactly one fetch; the rest got the last
     * resort key / no EC key. */
    int ec_seen[CONC_KEYS] = {0}, kem_seen[CONC_KEYS] = {0};
    int ec_total = 0, kem_total = 0, fallback = 0;
    for (int i = 0; i < CONC_THREADS; i++) {
        assert_int_equal(w[i].err, SOTTO_STORE_OK);
        for (int j = 0; j < CONC_FETCHES; j++) {
            if (w[i].ec_got[j]) {
                uint32_t idx = w[i].ec_ids[j] - k.ec[0].id;
                assert_true(idx < CONC_KEYS);
                ec_seen[idx]++;
                ec_total++;
            }
            if (w[i].kem_one_time[j]) {
                uint32_t idx = w[i].kem_ids[j] - k.kem[0].id;
                assert_true(idx < CONC_KEYS);
                kem_seen[idx]++;
                kem_total++;
            } else {
                assert_int_equal(w[i].kem_ids[j], k.lrk.id);
                fallback++;
            }
        }
    }
    for (int i = 0; i < CONC_KEYS; i++) {
        assert_int_equal(ec_seen[i], 1);
        assert_int_equal(kem_seen[i], 1);
    }
    assert_int_equal(ec_total, CONC_KEYS);
    assert_int_equal(kem_total, CONC_KEYS);
    assert_int_equal(fallback, CONC_THREADS * CONC_FETCHES - CONC_KEYS);
    counts(f->s, a, 1, 0, 0);
    tkeys_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_consume_and_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_rotate_and_all_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_bad_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_fetch_distinct, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
