/* sottod store: prekeys (upload, counts, atomic bundle fetch). */
#include <string.h>

#include "store_sqlite.h"

sotto_store_err sotto_store_keys_check(const sotto_store_prekeys *k, int need_bundle)
{
    if (k == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (need_bundle && (k->signed_prekey == NULL || k->last_resort == NULL))
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if ((k->ec_count > 0 && k->ec == NULL) || (k->kem_count > 0 && k->kem == NULL))
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (k->ec_count > SOTTO_STORE_MAX_KEYS_PER_UPLOAD ||
        k->kem_count > SOTTO_STORE_MAX_KEYS_PER_UPLOAD)
        return SOTTO_STORE_ERR_TOO_MANY_KEYS;
    if (k->signed_prekey != NULL && k->signed_prekey->key[0] != SOTTO_STORE_EC_KEY_TYPE)
        return SOTTO_STORE_ERR_INVALID_KEY;
    if (k->last_resort != NULL && k->last_resort->key[0] != SOTTO_STORE_KEM_KEY_TYPE)
        return SOTTO_STORE_ERR_INVALID_KEY;
    for (size_t i = 0; i < k->ec_count; i++)
        if (k->ec[i].key[0] != SOTTO_STORE_EC_KEY_TYPE)
            return SOTTO_STORE_ERR_INVALID_KEY;
    for (size_t i = 0; i < k->kem_count; i++)
        if (k->kem[i].key[0] != SOTTO_STORE_KEM_KEY_TYPE)
            return SOTTO_STORE_ERR_INVALID_KEY;
    return SOTTO_STORE_OK;
}

static sotto_store_err step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    return rc == SQLITE_DONE ? SOTTO_STORE_OK : sotto_store_db_err(rc);
}

static sotto_store_err count_keys(sotto_store *s, int64_t device_row,
                                  uint32_t *ec, uint32_t *kem)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_KEYS_COUNT, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ec = (uint32_t)sqlite3_column_int64(st, 0);
        *kem = (uint32_t)sqlite3_column_int64(st, 1);
    } else {
        e = sotto_store_db_err(rc);
    }
    sotto_store_put(st);
    return e;
}

/* One signed key kept on the device row (signed prekey or last-resort Kyber
 * key): the statement binds id, key, signature, device row as ?1..?4. */
static sotto_store_err put_device_key(sotto_store *s, int64_t device_row, sotto_store_sql sql,
                                      int64_t id, const uint8_t *key, int key_len,
                                      const uint8_t *signature)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, sql, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_blob(st, 2, key, key_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, signature, SOTTO_STORE_SIGNATURE_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, device_row);
    return step_done(st);
}

sotto_store_err sotto_store_keys_put(sotto_store *s, int64_t device_row,
                                     const sotto_store_prekeys *k)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = SOTTO_STORE_OK;
    if (k->signed_prekey != NULL &&
        (e = put_device_key(s, device_row,
                            SOTTO_SQL_KEYS_SET_SIGNED,
                            k->signed_prekey->id, k->signed_prekey->key, SOTTO_STORE_EC_KEY_BYTES,
                            k->signed_prekey->signature)) != SOTTO_STORE_OK)
        return e;
    if (k->last_resort != NULL &&
        (e = put_device_key(s, device_row,
                            SOTTO_SQL_KEYS_SET_LAST_RESORT,
                            k->last_resort->id, k->last_resort->key, SOTTO_STORE_KEM_KEY_BYTES,
                            k->last_resort->signature)) != SOTTO_STORE_OK)
        return e;
    if (k->ec_count > 0) {
        /* REPLACE: a key id the device already holds is overwritten. */
        if ((e = sotto_store_stmt(s, SOTTO_SQL_KEYS_PUT_EC, &st)) != SOTTO_STORE_OK)
            return e;
        for (size_t i = 0; i < k->ec_count && e == SOTTO_STORE_OK; i++) {
            sqlite3_bind_int64(st, 1, device_row);
            sqlite3_bind_int64(st, 2, k->ec[i].id);
            sqlite3_bind_blob(st, 3, k->ec[i].key, SOTTO_STORE_EC_KEY_BYTES, SQLITE_STATIC);
            e = step_done(st);
        }
        if (e != SOTTO_STORE_OK)
            return e;
    }
    if (k->kem_count > 0) {
        if ((e = sotto_store_stmt(s, SOTTO_SQL_KEYS_PUT_KEM, &st)) != SOTTO_STORE_OK)
            return e;
        for (size_t i = 0; i < k->kem_count && e == SOTTO_STORE_OK; i++) {
            sqlite3_bind_int64(st, 1, device_row);
            sqlite3_bind_int64(st, 2, k->kem[i].id);
            sqlite3_bind_blob(st, 3, k->kem[i].key, SOTTO_STORE_KEM_KEY_BYTES, SQLITE_STATIC);
            sqlite3_bind_blob(st, 4, k->kem[i].signature, SOTTO_STORE_SIGNATURE_BYTES,
                              SQLITE_STATIC);
            e = step_done(st);
        }
        if (e != SOTTO_STORE_OK)
            return e;
    }
    uint32_t ec = 0, kem = 0;
    if ((e = count_keys(s, device_row, &ec, &kem)) != SOTTO_STORE_OK)
        return e;
    if (ec > SOTTO_STORE_MAX_KEYS_PER_DEVICE || kem > SOTTO_STORE_MAX_KEYS_PER_DEVICE)
        return SOTTO_STORE_ERR_TOO_MANY_KEYS;
    return SOTTO_STORE_OK;
}

sotto_store_err sotto_store_upload_keys(sotto_store *s,
                                        const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                        uint32_t device_id,
                                        const sotto_store_prekeys *keys)
{
    if (s == NULL || uuid == NULL || device_id == 0)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    sotto_store_err e = sotto_store_keys_check(keys, 0);
    if (e != SOTTO_STORE_OK)
        return e;
    if ((e = sotto_store_begin_write(s)) != SOTTO_STORE_OK)
        return e;
    int64_t device_row = 0;
    if ((e = sotto_store_lookup(s, uuid, device_id, NULL, &device_row)) == SOTTO_STORE_OK &&
        (e = sotto_store_keys_put(s, device_row, keys)) == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
    return e;
}

sotto_store_err sotto_store_key_counts(sotto_store *s,
                                       const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                       uint32_t device_id,
                                       uint32_t *ec_count, uint32_t *kem_count)
{
    if (ec_count != NULL)
        *ec_count = 0;
    if (kem_count != NULL)
        *kem_count = 0;
    if (s == NULL || uuid == NULL || device_id == 0 || ec_count == NULL || kem_count == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    sotto_store_err e = sotto_store_begin_read(s);
    if (e != SOTTO_STORE_OK)
        return e;
    int64_t device_row = 0;
    if ((e = sotto_store_lookup(s, uuid, device_id, NULL, &device_row)) == SOTTO_STORE_OK)
        e = count_keys(s, device_row, ec_count, kem_count);
    sotto_store_rollback(s);
    if (e != SOTTO_STORE_OK)
        *ec_count = *kem_count = 0;
    return e;
}

static int blob_is(sqlite3_stmt *st, int col, int len)
{
    return sqlite3_column_type(st, col) == SQLITE_BLOB && sqlite3_column_bytes(st, col) == len;
}

/* Takes the oldest one-time key of a kind from a device, deleting it.
 * *found = 0 when none is left. */
static sotto_store_err take_ec(sotto_store *s, int64_t device_row,
                               sotto_store_ec_prekey *out, int *found)
{
    *found = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_KEYS_TAKE_EC, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (!blob_is(st, 1, SOTTO_STORE_EC_KEY_BYTES)) {
            e = SOTTO_STORE_ERR_DB;
        } else {
            out->id = (uint32_t)sqlite3_column_int64(st, 0);
            memcpy(out->key, sqlite3_column_blob(st, 1), SOTTO_STORE_EC_KEY_BYTES);
            *found = 1;
            rc = sqlite3_step(st); /* finish the statement: the delete happens */
        }
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    sotto_store_put(st);
    return e;
}

static sotto_store_err take_kem(sotto_store *s, int64_t device_row,
                                sotto_store_kem_prekey *out, int *found)
{
    *found = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_KEYS_TAKE_KEM, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (!blob_is(st, 1, SOTTO_STORE_KEM_KEY_BYTES) ||
            !blob_is(st, 2, SOTTO_STORE_SIGNATURE_BYTES)) {
            e = SOTTO_STORE_ERR_DB;
        } else {
            out->id = (uint32_t)sqlite3_column_int64(st, 0);
            memcpy(out->key, sqlite3_column_blob(st, 1), SOTTO_STORE_KEM_KEY_BYTES);
            memcpy(out->signature, sqlite3_column_blob(st, 2), SOTTO_STORE_SIGNATURE_BYTES);
            *found = 1;
            rc = sqlite3_step(st);
        }
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    sotto_store_put(st);
    return e;
}

sotto_store_err sotto_store_fetch_bundles(sotto_store *s,
                                          const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                          uint32_t device_id,
                                          sotto_store_bundle out[SOTTO_STORE_MAX_DEVICES],
                                          size_t *count)
{
    if (count != NULL)
        *count = 0;
    if (out != NULL)
        memset(out, 0, sizeof(sotto_store_bundle) * SOTTO_STORE_MAX_DEVICES);
    if (s == NULL || uuid == NULL || out == NULL || count == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;

    /* Write lock first: select and delete of one-time keys are one atomic
     * step, so two fetches (any handles, any processes) never share a key. */
    sotto_store_err e = sotto_store_begin_write(s);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_stmt *st = NULL;
    int64_t rows[SOTTO_STORE_MAX_DEVICES] = {0};
    size_t n = 0;
    e = sotto_store_stmt(s, SOTTO_SQL_KEYS_BUNDLES, &st);
    if (e != SOTTO_STORE_OK)
        goto out;
    sqlite3_bind_blob(st, 1, uuid, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, device_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == SOTTO_STORE_MAX_DEVICES || !blob_is(st, 3, SOTTO_STORE_EC_KEY_BYTES) ||
            !blob_is(st, 5, SOTTO_STORE_EC_KEY_BYTES) ||
            !blob_is(st, 6, SOTTO_STORE_SIGNATURE_BYTES) ||
            !blob_is(st, 8, SOTTO_STORE_KEM_KEY_BYTES) ||
            !blob_is(st, 9, SOTTO_STORE_SIGNATURE_BYTES)) {
            e = SOTTO_STORE_ERR_DB;
            break;
        }
        sotto_store_bundle *b = &out[n];
        rows[n] = sqlite3_column_int64(st, 0);
        b->device_id = (uint32_t)sqlite3_column_int64(st, 1);
        b->registration_id = (uint32_t)sqlite3_column_int64(st, 2);
        memcpy(b->identity_key, sqlite3_column_blob(st, 3), SOTTO_STORE_EC_KEY_BYTES);
        b->signed_prekey.id = (uint32_t)sqlite3_column_int64(st, 4);
        memcpy(b->signed_prekey.key, sqlite3_column_blob(st, 5), SOTTO_STORE_EC_KEY_BYTES);
        memcpy(b->signed_prekey.signature, sqlite3_column_blob(st, 6),
               SOTTO_STORE_SIGNATURE_BYTES);
        /* The last-resort key, replaced below if a one-time key is left. */
        b->kem_is_last_resort = 1;
        b->kem.id = (uint32_t)sqlite3_column_int64(st, 7);
        memcpy(b->kem.key, sqlite3_column_blob(st, 8), SOTTO_STORE_KEM_KEY_BYTES);
        memcpy(b->kem.signature, sqlite3_column_blob(st, 9), SOTTO_STORE_SIGNATURE_BYTES);
        n++;
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = sotto_store_db_err(rc);
    sotto_store_put(st);
    if (e != SOTTO_STORE_OK)
        goto out;
    if (n == 0) {
        e = SOTTO_STORE_ERR_NOT_FOUND;
        goto out;
    }
    for (size_t i = 0; i < n && e == SOTTO_STORE_OK; i++) {
        int found = 0;
        e = take_ec(s, rows[i], &out[i].ec, &out[i].has_ec);
        if (e == SOTTO_STORE_OK) {
            sotto_store_kem_prekey one;
            e = take_kem(s, rows[i], &one, &found);
            if (e == SOTTO_STORE_OK && found) {
                out[i].kem = one;
                out[i].kem_is_last_resort = 0;
            }
        }
    }
    if (e == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
out:
    if (e != SOTTO_STORE_OK) {
        sotto_store_rollback(s);
        memset(out, 0, sizeof(sotto_store_bundle) * SOTTO_STORE_MAX_DEVICES);
    } else {
        *count = n;
    }
    return e;
}
