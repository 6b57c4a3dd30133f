/* Helpers shared by tests/server/test_store*.c (header only; each test
 * program includes it once). */
#ifndef SOTTO_TEST_STORE_UTIL_H
#define SOTTO_TEST_STORE_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "store.h"

/* A fresh directory for one test's store. */
static inline char *tdir_make(void)
{
    char *d = strdup("/tmp/sotto-store-test-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static inline void tdir_remove(char *d)
{
    static const char *const files[] = {"sottod.db", "sottod.db-wal", "sottod.db-shm"};
    char p[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", d, files[i]);
        unlink(p);
    }
    rmdir(d);
    free(d);
}

/* Key material with the right type bytes; the rest is random (the store does
 * not verify signatures). Ids start at base. */
typedef struct {
    sotto_store_signed_prekey spk;
    sotto_store_kem_prekey lrk;
    sotto_store_ec_prekey *ec;
    size_t ec_n;
    sotto_store_kem_prekey *kem;
    size_t kem_n;
    uint8_t identity[SOTTO_STORE_EC_KEY_BYTES];
} tkeys;

static inline void tkeys_make(tkeys *k, size_t ec_n, size_t kem_n, uint32_t base)
{
    memset(k, 0, sizeof *k);
    k->identity[0] = SOTTO_STORE_EC_KEY_TYPE;
    randombytes_buf(k->identity + 1, sizeof k->identity - 1);
    k->spk.id = base;
    k->spk.key[0] = SOTTO_STORE_EC_KEY_TYPE;
    randombytes_buf(k->spk.key + 1, sizeof k->spk.key - 1);
    randombytes_buf(k->spk.signature, sizeof k->spk.signature);
    k->lrk.id = base + 1;
    k->lrk.key[0] = SOTTO_STORE_KEM_KEY_TYPE;
    randombytes_buf(k->lrk.key + 1, sizeof k->lrk.key - 1);
    randombytes_buf(k->lrk.signature, sizeof k->lrk.signature);
    if (ec_n > 0) {
        k->ec = calloc(ec_n, sizeof *k->ec);
        assert_non_null(k->ec);
    }
    if (kem_n > 0) {
        k->kem = calloc(kem_n, sizeof *k->kem);
        assert_non_null(k->kem);
    }
    k->ec_n = ec_n;
    k->kem_n = kem_n;
    for (size_t i = 0; i < ec_n; i++) {
        k->ec[i].id = base + 100 + (uint32_t)i;
        k->ec[i].key[0] = SOTTO_STORE_EC_KEY_TYPE;
        randombytes_buf(k->ec[i].key + 1, sizeof k->ec[i].key - 1);
    }
    for (size_t i = 0; i < kem_n; i++) {
        k->kem[i].id = base + 100000 + (uint32_t)i;
        k->kem[i].key[0] = SOTTO_STORE_KEM_KEY_TYPE;
        randombytes_buf(k->kem[i].key + 1, sizeof k->kem[i].key - 1);
        randombytes_buf(k->kem[i].signature, sizeof k->kem[i].signature);
    }
}

static inline void tkeys_free(tkeys *k)
{
    free(k->ec);
    free(k->kem);
    memset(k, 0, sizeof *k);
}

static inline sotto_store_prekeys tkeys_all(const tkeys *k)
{
    sotto_store_prekeys p = {.signed_prekey = &k->spk, .last_resort = &k->lrk,
                             .ec = k->ec, .ec_count = k->ec_n,
                             .kem = k->kem, .kem_count = k->kem_n};
    return p;
}

/* The secret of a test device: 32 bytes derived from a tag. */
static inline void tsecret(uint8_t out[32], const char *tag)
{
    crypto_generichash(out, 32, (const uint8_t *)tag, strlen(tag), NULL, 0);
}

/* Creates an account with ec_n / kem_n one-time keys; the secret is
 * tsecret(username). */
static inline void tcreate(sotto_store *s, const char *username, size_t ec_n, size_t kem_n,
                           uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    tkeys k;
    tkeys_make(&k, ec_n, kem_n, 1);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t secret[32];
    tsecret(secret, username);
    assert_int_equal(sotto_store_create_account(s, uuid, username, secret, sizeof secret, 42,
                                                k.identity, &p),
                     SOTTO_STORE_OK);
    tkeys_free(&k);
}

/* Adds a device; returns its id. */
static inline uint32_t tadd_device(sotto_store *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                   const char *tag)
{
    tkeys k;
    tkeys_make(&k, 0, 0, 1);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t secret[32];
    tsecret(secret, tag);
    uint32_t id = 0;
    assert_int_equal(sotto_store_add_device(s, uuid, secret, sizeof secret, 7, &p, &id),
                     SOTTO_STORE_OK);
    tkeys_free(&k);
    return id;
}

/* A fixed test clock. */
static inline int64_t tclock(void *ctx)
{
    return *(const int64_t *)ctx;
}

#endif
