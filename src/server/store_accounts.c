/* sottod store: accounts, devices, authentication. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_sqlite.h"

/* A hash of a random secret nobody kept, made with the same parameters:
 * verifying against it when the account or device does not exist costs the
 * same Argon2id as a wrong secret, so timing does not tell which exist.
 * tests/server/test_store_accounts.c checks it matches the parameters. */
static const char dummy_hash[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=1024,t=2,p=1$4ml9vixV4afwo1mXTD7LRw$"
    "WtustLlaINZsRKr46jtnTbjQJYvIKGkJQOZYnfRX9Ps";

const char *sotto_store_dummy_hash(void)
{
    return dummy_hash;
}

static int secret_ok(const uint8_t *secret, size_t len)
{
    return secret != NULL && len >= SOTTO_STORE_SECRET_MIN_BYTES &&
           len <= SOTTO_STORE_SECRET_MAX_BYTES;
}

static sotto_store_err hash_secret(char out[crypto_pwhash_STRBYTES],
                                   const uint8_t *secret, size_t len)
{
    if (crypto_pwhash_str_alg(out, (const char *)secret, len, SOTTO_STORE_PWHASH_OPSLIMIT,
                              SOTTO_STORE_PWHASH_MEMLIMIT, SOTTO_STORE_PWHASH_ALG) != 0)
        return SOTTO_STORE_ERR_CRYPTO;
    return SOTTO_STORE_OK;
}

static int registration_ok(uint32_t id)
{
    return id >= 1 && id <= SOTTO_STORE_MAX_REGISTRATION_ID;
}

static sotto_store_err insert_device(sotto_store *s, int64_t account_row, uint32_t device_id,
                                     uint32_t registration_id, const char *hash,
                                     const sotto_store_prekeys *keys)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_DEVICE_INSERT, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    const sotto_store_signed_prekey *spk = keys->signed_prekey;
    const sotto_store_kem_prekey *lrk = keys->last_resort;
    sqlite3_bind_int64(st, 1, account_row);
    sqlite3_bind_int64(st, 2, device_id);
    sqlite3_bind_int64(st, 3, registration_id);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, sotto_store_round_down(sotto_store_now(s),
                                                     SOTTO_STORE_CREATED_GRANULARITY_SECONDS));
    sqlite3_bind_int64(st, 6, spk->id);
    sqlite3_bind_blob(st, 7, spk->key, sizeof spk->key, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, spk->signature, sizeof spk->signature, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, lrk->id);
    sqlite3_bind_blob(st, 10, lrk->key, sizeof lrk->key, SQLITE_STATIC);
    sqlite3_bind_blob(st, 11, lrk->signature, sizeof lrk->signature, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    if (rc != SQLITE_DONE)
        return sotto_store_db_err(rc);
    /* The bundle keys are in the row; the one-time keys go to their tables. */
    sotto_store_prekeys rest = {.ec = keys->ec, .ec_count = keys->ec_count,
                                .kem = keys->kem, .kem_count = keys->kem_count};
    return sotto_store_keys_put(s, sqlite3_last_insert_rowid(s->db), &rest);
}

/* The primary device of the account called name: its account UUID and
 * identity key, the device row and its secret hash. */
typedef struct {
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    uint8_t identity_key[SOTTO_STORE_EC_KEY_BYTES];
    int64_t device_row;
    char hash[crypto_pwhash_STRBYTES];
} primary_row;

static sotto_store_err read_primary(sotto_store *s, const char *name, primary_row *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_ACCOUNT_PRIMARY, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, SOTTO_STORE_PRIMARY_DEVICE_ID);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 3);
        if (sqlite3_column_bytes(st, 0) != SOTTO_STORE_UUID_BYTES ||
            sqlite3_column_bytes(st, 1) != SOTTO_STORE_EC_KEY_BYTES || n <= 0 ||
            (size_t)n >= sizeof out->hash) {
            e = SOTTO_STORE_ERR_DB;
        } else {
            memcpy(out->uuid, sqlite3_column_blob(st, 0), SOTTO_STORE_UUID_BYTES);
            memcpy(out->identity_key, sqlite3_column_blob(st, 1), SOTTO_STORE_EC_KEY_BYTES);
            out->device_row = sqlite3_column_int64(st, 2);
            memcpy(out->hash, sqlite3_column_text(st, 3), (size_t)n);
        }
    } else {
        e = rc == SQLITE_DONE ? SOTTO_STORE_ERR_NOT_FOUND : sotto_store_db_err(rc);
    }
    sotto_store_put(st);
    return e;
}

/* create_account on a taken name (the rule is in store.h): the same identity
 * key and a secret that verifies against device 1's hash make it a retry of
 * the registration that took the name; it answers with that account and
 * stores the keys of this call. Anything else: USERNAME_TAKEN. */
static sotto_store_err reregister(sotto_store *s, uint8_t uuid_out[SOTTO_STORE_UUID_BYTES],
                                  const char *name, const uint8_t *secret, size_t secret_len,
                                  uint32_t registration_id,
                                  const uint8_t identity_key[SOTTO_STORE_EC_KEY_BYTES],
                                  const sotto_store_prekeys *keys)
{
    memset(uuid_out, 0, SOTTO_STORE_UUID_BYTES);
    primary_row before, now;
    sotto_store_err e = read_primary(s, name, &before);
    if (e == SOTTO_STORE_ERR_NOT_FOUND)
        return SOTTO_STORE_ERR_USERNAME_TAKEN; /* went meanwhile: the caller may retry */
    if (e != SOTTO_STORE_OK)
        return e;
    /* The identity key is public (every bundle carries it): checking it
     * first costs no secret and spares Argon2id for other names' squatters. */
    if (memcmp(before.identity_key, identity_key, SOTTO_STORE_EC_KEY_BYTES) != 0 ||
        crypto_pwhash_str_verify(before.hash, (const char *)secret, secret_len) != 0) {
        e = SOTTO_STORE_ERR_USERNAME_TAKEN;
        goto wipe;
    }
    /* Argon2id ran outside the write lock; the row must not have changed
     * since (deleted and taken again, secret or identity replaced). */
    if ((e = sotto_store_begin_write(s)) != SOTTO_STORE_OK)
        goto wipe;
    if ((e = read_primary(s, name, &now)) == SOTTO_STORE_ERR_NOT_FOUND ||
        (e == SOTTO_STORE_OK &&
         (now.device_row != before.device_row ||
          memcmp(now.uuid, before.uuid, SOTTO_STORE_UUID_BYTES) != 0 ||
          memcmp(now.identity_key, before.identity_key, SOTTO_STORE_EC_KEY_BYTES) != 0 ||
          strcmp(now.hash, before.hash) != 0)))
        e = SOTTO_STORE_ERR_USERNAME_TAKEN;
    if (e == SOTTO_STORE_OK)
        e = sotto_store_keys_put(s, before.device_row, keys);
    sqlite3_stmt *st = NULL;
    if (e == SOTTO_STORE_OK && (e = sotto_store_stmt(s, SOTTO_SQL_DEVICE_SET_REGISTRATION, &st))
        == SOTTO_STORE_OK) {
        sqlite3_bind_int64(st, 1, registration_id);
        sqlite3_bind_int64(st, 2, before.device_row);
        int rc = sqlite3_step(st);
        sotto_store_put(st);
        e = rc == SQLITE_DONE ? SOTTO_STORE_OK : sotto_store_db_err(rc);
    }
    if (e == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
    else
        memcpy(uuid_out, before.uuid, SOTTO_STORE_UUID_BYTES);
    sodium_memzero(&now, sizeof now);
wipe:
    sodium_memzero(&before, sizeof before);
    return e;
}

sotto_store_err sotto_store_create_account(sotto_store *s,
                                           uint8_t uuid_out[SOTTO_STORE_UUID_BYTES],
                                           const char *username,
                                           const uint8_t *secret, size_t secret_len,
                                           uint32_t registration_id,
                                           const uint8_t identity_key[SOTTO_STORE_EC_KEY_BYTES],
                                           const sotto_store_prekeys *keys)
{
    if (uuid_out != NULL)
        memset(uuid_out, 0, SOTTO_STORE_UUID_BYTES);
    if (s == NULL || uuid_out == NULL || !secret_ok(secret, secret_len) ||
        !registration_ok(registration_id) || identity_key == NULL || keys == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    char name[SOTTO_STORE_USERNAME_MAX + 1];
    sotto_store_err e = sotto_store_username_canonical(name, username);
    if (e != SOTTO_STORE_OK)
        return e;
    if (identity_key[0] != SOTTO_STORE_EC_KEY_TYPE)
        return SOTTO_STORE_ERR_INVALID_KEY;
    if ((e = sotto_store_keys_check(keys, 1)) != SOTTO_STORE_OK)
        return e;

    /* A taken name: a retry of this same registration gets the account it
     * made (store.h), anything else is refused. */
    sotto_store_account taken;
    if ((e = sotto_store_find_username(s, name, &taken)) == SOTTO_STORE_OK)
        return reregister(s, uuid_out, name, secret, secret_len, registration_id,
                          identity_key, keys);
    if (e != SOTTO_STORE_ERR_NOT_FOUND)
        return e;
    /* Hash before taking the write lock. */
    char hash[crypto_pwhash_STRBYTES];
    if ((e = hash_secret(hash, secret, secret_len)) != SOTTO_STORE_OK)
        return e;
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    randombytes_buf(uuid, sizeof uuid);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */

    int raced = 0;
    if ((e = sotto_store_begin_write(s)) != SOTTO_STORE_OK)
        goto out;
    sqlite3_stmt *st = NULL;
    if ((e = sotto_store_stmt(s, SOTTO_SQL_ACCOUNT_INSERT, &st)) != SOTTO_STORE_OK)
        goto out;
    sqlite3_bind_blob(st, 1, uuid, sizeof uuid, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, identity_key, SOTTO_STORE_EC_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, sotto_store_round_down(sotto_store_now(s),
                                                     SOTTO_STORE_CREATED_GRANULARITY_SECONDS));
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        /* The UUID is 122 random bits; the username is the unique that hits:
         * another call took the name since the check above. */
        e = SOTTO_STORE_ERR_USERNAME_TAKEN;
        raced = 1;
        goto out;
    }
    if (rc != SQLITE_DONE) {
        e = sotto_store_db_err(rc);
        goto out;
    }
    e = insert_device(s, sqlite3_last_insert_rowid(s->db), SOTTO_STORE_PRIMARY_DEVICE_ID,
                      registration_id, hash, keys);
    if (e == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
out:
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
    else
        memcpy(uuid_out, uuid, sizeof uuid);
    sodium_memzero(hash, sizeof hash);
    if (raced) /* the same rule as a name taken before */
        e = reregister(s, uuid_out, name, secret, secret_len, registration_id, identity_key,
                       keys);
    return e;
}

sotto_store_err sotto_store_add_device(sotto_store *s,
                                       const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                       const uint8_t *secret, size_t secret_len,
                                       uint32_t registration_id,
                                       const sotto_store_prekeys *keys,
                                       uint32_t *device_id_out)
{
    if (device_id_out != NULL)
        *device_id_out = 0;
    if (s == NULL || uuid == NULL || device_id_out == NULL || !secret_ok(secret, secret_len) ||
        !registration_ok(registration_id) || keys == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    sotto_store_err e = sotto_store_keys_check(keys, 1);
    if (e != SOTTO_STORE_OK)
        return e;
    char hash[crypto_pwhash_STRBYTES];
    if ((e = hash_secret(hash, secret, secret_len)) != SOTTO_STORE_OK)
        return e;

    if ((e = sotto_store_begin_write(s)) != SOTTO_STORE_OK)
        goto wipe;
    sqlite3_stmt *st = NULL;
    if ((e = sotto_store_stmt(s, SOTTO_SQL_ACCOUNT_NEXT_DEVICE, &st)) != SOTTO_STORE_OK)
        goto out;
    sqlite3_bind_blob(st, 1, uuid, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t account_row = 0, next = 0, count = 0;
    if (rc == SQLITE_ROW) {
        account_row = sqlite3_column_int64(st, 0);
        next = sqlite3_column_int64(st, 1);
        count = sqlite3_column_int64(st, 2);
    }
    sotto_store_put(st);
    if (rc != SQLITE_ROW) {
        e = rc == SQLITE_DONE ? SOTTO_STORE_ERR_NOT_FOUND : sotto_store_db_err(rc);
        goto out;
    }
    if (count >= SOTTO_STORE_MAX_DEVICES || next < 2 || next > SOTTO_STORE_MAX_DEVICE_ID) {
        e = SOTTO_STORE_ERR_TOO_MANY_DEVICES;
        goto out;
    }
    if ((e = insert_device(s, account_row, (uint32_t)next, registration_id, hash, keys)) !=
        SOTTO_STORE_OK)
        goto out;
    if ((e = sotto_store_stmt(s, SOTTO_SQL_ACCOUNT_SET_NEXT_DEVICE, &st)) != SOTTO_STORE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, next + 1);
    sqlite3_bind_int64(st, 2, account_row);
    rc = sqlite3_step(st);
    sotto_store_put(st);
    if (rc != SQLITE_DONE) {
        e = sotto_store_db_err(rc);
        goto out;
    }
    e = sotto_store_commit(s);
    if (e == SOTTO_STORE_OK)
        *device_id_out = (uint32_t)next;
out:
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
wipe:
    sodium_memzero(hash, sizeof hash);
    return e;
}

/* Runs one write statement binding (account uuid, device id if it has ?2) and reports
 * how many rows it changed. */
static sotto_store_err write_one(sotto_store *s, sotto_store_sql sql,
                                 const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                 uint32_t device_id, int *changes)
{
    *changes = 0;
    sotto_store_err e = sotto_store_begin_write(s);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_stmt *st = NULL;
    if ((e = sotto_store_stmt(s, sql, &st)) != SOTTO_STORE_OK) {
        sotto_store_rollback(s);
        return e;
    }
    sqlite3_bind_blob(st, 1, uuid, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, device_id);
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    if (rc != SQLITE_DONE) {
        sotto_store_rollback(s);
        return sotto_store_db_err(rc);
    }
    *changes = sqlite3_changes(s->db);
    return sotto_store_commit(s);
}

sotto_store_err sotto_store_remove_device(sotto_store *s,
                                          const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                          uint32_t device_id)
{
    if (s == NULL || uuid == NULL || device_id == 0)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (device_id == SOTTO_STORE_PRIMARY_DEVICE_ID)
        return SOTTO_STORE_ERR_FORBIDDEN;
    int changes = 0;
    sotto_store_err e = write_one(s, SOTTO_SQL_DEVICE_REMOVE, uuid, device_id, &changes);
    if (e == SOTTO_STORE_OK && changes == 0)
        e = SOTTO_STORE_ERR_NOT_FOUND;
    return e;
}

sotto_store_err sotto_store_delete_account(sotto_store *s,
                                           const uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    if (s == NULL || uuid == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    int changes = 0;
    sotto_store_err e = write_one(s, SOTTO_SQL_ACCOUNT_DELETE, uuid, 0, &changes);
    if (e == SOTTO_STORE_OK && changes == 0)
        e = SOTTO_STORE_ERR_NOT_FOUND;
    return e;
}

sotto_store_err sotto_store_authenticate(sotto_store *s,
                                         const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                         uint32_t device_id,
                                         const uint8_t *secret, size_t secret_len)
{
    if (s == NULL || uuid == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (!secret_ok(secret, secret_len))
        return SOTTO_STORE_ERR_AUTH;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_AUTH_HASH, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_blob(st, 1, uuid, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, device_id);
    char hash[crypto_pwhash_STRBYTES] = {0};
    int64_t device_row = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        device_row = sqlite3_column_int64(st, 0);
        const unsigned char *h = sqlite3_column_text(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        if (h != NULL && n > 0 && (size_t)n < sizeof hash)
            memcpy(hash, h, (size_t)n);
    }
    sotto_store_put(st);
    if (rc == SQLITE_DONE) {
        int never = crypto_pwhash_str_verify(dummy_hash, (const char *)secret, secret_len);
        (void)never;
        return SOTTO_STORE_ERR_AUTH;
    }
    if (rc != SQLITE_ROW)
        return sotto_store_db_err(rc);
    if (hash[0] == '\0')
        return SOTTO_STORE_ERR_DB;
    /* Constant-time comparison inside libsodium. */
    if (crypto_pwhash_str_verify(hash, (const char *)secret, secret_len) != 0) {
        sodium_memzero(hash, sizeof hash);
        return SOTTO_STORE_ERR_AUTH;
    }
    if (crypto_pwhash_str_needs_rehash(hash, SOTTO_STORE_PWHASH_OPSLIMIT,
                                       SOTTO_STORE_PWHASH_MEMLIMIT) != 0) {
        /* Best effort: the login stands even if the upgrade fails. */
        char fresh[crypto_pwhash_STRBYTES];
        if (hash_secret(fresh, secret, secret_len) == SOTTO_STORE_OK &&
            sotto_store_begin_write(s) == SOTTO_STORE_OK) {
            /* Only over the hash just verified (a concurrent change wins). */
            if (sotto_store_stmt(s, SOTTO_SQL_AUTH_REHASH, &st) == SOTTO_STORE_OK) {
                sqlite3_bind_text(st, 1, fresh, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, device_row);
                sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                sotto_store_put(st);
                if (rc == SQLITE_DONE)
                    (void)sotto_store_commit(s);
            }
            sotto_store_rollback(s);
        }
        sodium_memzero(fresh, sizeof fresh);
    }
    sodium_memzero(hash, sizeof hash);
    return SOTTO_STORE_OK;
}

static sotto_store_err read_account(sotto_store *s, sotto_store_sql sql,
                                    const void *key, int key_len, int key_is_text,
                                    sotto_store_account *out)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, sql, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    if (key_is_text)
        sqlite3_bind_text(st, 1, key, key_len, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 1, key, key_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != SOTTO_STORE_UUID_BYTES ||
            sqlite3_column_bytes(st, 1) > SOTTO_STORE_USERNAME_MAX ||
            sqlite3_column_bytes(st, 2) != SOTTO_STORE_EC_KEY_BYTES) {
            e = SOTTO_STORE_ERR_DB;
        } else {
            memcpy(out->uuid, sqlite3_column_blob(st, 0), SOTTO_STORE_UUID_BYTES);
            memcpy(out->username, sqlite3_column_text(st, 1),
                   (size_t)sqlite3_column_bytes(st, 1));
            memcpy(out->identity_key, sqlite3_column_blob(st, 2), SOTTO_STORE_EC_KEY_BYTES);
            out->created = sqlite3_column_int64(st, 3);
        }
    } else {
        e = rc == SQLITE_DONE ? SOTTO_STORE_ERR_NOT_FOUND : sotto_store_db_err(rc);
    }
    sotto_store_put(st);
    if (e != SOTTO_STORE_OK)
        memset(out, 0, sizeof *out);
    return e;
}

sotto_store_err sotto_store_get_account(sotto_store *s,
                                        const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                        sotto_store_account *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (s == NULL || uuid == NULL || out == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    return read_account(s, SOTTO_SQL_ACCOUNT_BY_UUID, uuid, SOTTO_STORE_UUID_BYTES, 0, out);
}

sotto_store_err sotto_store_find_username(sotto_store *s, const char *username,
                                          sotto_store_account *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (s == NULL || out == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    char name[SOTTO_STORE_USERNAME_MAX + 1];
    sotto_store_err e = sotto_store_username_canonical(name, username);
    if (e != SOTTO_STORE_OK)
        return e;
    return read_account(s, SOTTO_SQL_ACCOUNT_BY_NAME, name, -1, 1, out);
}

sotto_store_err sotto_store_device_exists(sotto_store *s,
                                          const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                          uint32_t device_id)
{
    if (s == NULL || uuid == NULL || device_id == 0)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    return sotto_store_lookup(s, uuid, device_id, NULL, NULL);  /* one statement: no transaction */
}

sotto_store_err sotto_store_list_devices(sotto_store *s,
                                         const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                         sotto_store_device out[SOTTO_STORE_MAX_DEVICES],
                                         size_t *count)
{
    if (count != NULL)
        *count = 0;
    if (out != NULL)
        memset(out, 0, sizeof(sotto_store_device) * SOTTO_STORE_MAX_DEVICES);
    if (s == NULL || uuid == NULL || out == NULL || count == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    sotto_store_err e = sotto_store_begin_read(s);
    if (e != SOTTO_STORE_OK)
        return e;
    int64_t account_row = 0;
    if ((e = sotto_store_lookup(s, uuid, 0, &account_row, NULL)) != SOTTO_STORE_OK)
        goto out;
    sqlite3_stmt *st = NULL;
    if ((e = sotto_store_stmt(s, SOTTO_SQL_DEVICE_LIST, &st)) != SOTTO_STORE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, account_row);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SOTTO_STORE_MAX_DEVICES) {
        out[n].device_id = (uint32_t)sqlite3_column_int64(st, 0);
        out[n].registration_id = (uint32_t)sqlite3_column_int64(st, 1);
        out[n].created = sqlite3_column_int64(st, 2);
        n++;
    }
    sotto_store_put(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = sotto_store_db_err(rc);
    else if (rc == SQLITE_ROW)
        e = SOTTO_STORE_ERR_DB; /* more devices than the limit: corrupt */
    else
        *count = n;
out:
    sotto_store_rollback(s);
    if (e != SOTTO_STORE_OK) {
        memset(out, 0, sizeof(sotto_store_device) * SOTTO_STORE_MAX_DEVICES);
        *count = 0;
    }
    return e;
}

sotto_store_err sotto_store_set_identity_key(sotto_store *s,
                                             const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                             uint32_t device_id,
                                             const uint8_t identity_key[SOTTO_STORE_EC_KEY_BYTES])
{
    if (s == NULL || uuid == NULL || identity_key == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (identity_key[0] != SOTTO_STORE_EC_KEY_TYPE)
        return SOTTO_STORE_ERR_INVALID_KEY;
    sotto_store_err e = sotto_store_begin_write(s);
    if (e != SOTTO_STORE_OK)
        return e;
    int64_t account_row = 0;
    if ((e = sotto_store_lookup(s, uuid, device_id, &account_row, NULL)) != SOTTO_STORE_OK)
        goto out;
    if (device_id != SOTTO_STORE_PRIMARY_DEVICE_ID) {
        e = SOTTO_STORE_ERR_FORBIDDEN;
        goto out;
    }
    sqlite3_stmt *st = NULL;
    if ((e = sotto_store_stmt(s, SOTTO_SQL_ACCOUNT_SET_IDENTITY, &st)) != SOTTO_STORE_OK)
        goto out;
    sqlite3_bind_blob(st, 1, identity_key, SOTTO_STORE_EC_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, account_row);
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    e = rc == SQLITE_DONE ? sotto_store_commit(s) : sotto_store_db_err(rc);
out:
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
    return e;
}
