/* sottod: `sottod disclose <username>`: everything held about one account.
 *
 * Every item printed here is listed, with why it is kept and for how long, in
 * docs/PRIVACY.md; keep the two in step. Keys are shown as fingerprints
 * (first SOTTO_DISCLOSE_FINGERPRINT_BYTES of SHA-256 of the serialised key);
 * ciphertext is never printed, only its size.
 *
 * The queries are the SQLite backend's (it reads the tables through
 * store_sqlite.h, in one read transaction, so the report is one snapshot). A
 * PostgreSQL backend brings its own data path for the same items and the same
 * output; the SQL here is plain enough to carry over with $n placeholders. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "disclose.h"
#include "store_sqlite.h"

#define SOTTO_DISCLOSE_FINGERPRINT_BYTES 8

static void fingerprint(char out[2 * SOTTO_DISCLOSE_FINGERPRINT_BYTES + 1],
                        const void *key, size_t len)
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, key, len);
    sodium_bin2hex(out, 2 * SOTTO_DISCLOSE_FINGERPRINT_BYTES + 1, h,
                   SOTTO_DISCLOSE_FINGERPRINT_BYTES);
}

static void when(char out[32], int64_t t, int with_hour)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, 32, with_hour ? "%Y-%m-%d %H:00 UTC" : "%Y-%m-%d UTC", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

static void print_key(FILE *out, const char *label, int64_t id, const void *key, int len)
{
    char fp[2 * SOTTO_DISCLOSE_FINGERPRINT_BYTES + 1] = "-";
    if (key != NULL && len > 0)
        fingerprint(fp, key, (size_t)len);
    fprintf(out, "%s id %lld, sha256 %s, %d bytes\n", label, (long long)id, fp, len);
}

static void print_sender(FILE *out, sqlite3_stmt *st, int col_uuid, int col_dev)
{
    if (sqlite3_column_type(st, col_uuid) == SQLITE_NULL ||
        sqlite3_column_bytes(st, col_uuid) != SOTTO_STORE_UUID_BYTES) {
        fprintf(out, "none recorded");
        return;
    }
    char u[SOTTO_STORE_UUID_STRING_BYTES];
    sotto_store_uuid_format(u, sqlite3_column_blob(st, col_uuid));
    fprintf(out, "%s device %lld", u, sqlite3_column_int64(st, col_dev));
}

static sotto_store_err print_one_time_keys(sotto_store *s, FILE *out, int64_t device_row,
                                           const char *table, const char *label)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT key_id, key FROM %s WHERE device = ?1 ORDER BY id", table);
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_prepare(s, &st, sql);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        print_key(out, label, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
                  sqlite3_column_bytes(st, 1));
    if (rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    sqlite3_finalize(st);
    return e;
}

static sotto_store_err print_queue(sotto_store *s, FILE *out, int64_t device_row)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_prepare(s, &st,
        "SELECT count(*), coalesce(sum(length(body)), 0) FROM envelopes WHERE device = ?1");
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        fprintf(out, "    queued envelopes: %lld (%lld ciphertext bytes)\n",
                sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return sotto_store_db_err(rc);

    if ((e = sotto_store_prepare(s, &st,
             "SELECT legacy_id, created, type, length(body), sender_uuid, sender_device, seq"
             " FROM envelopes WHERE device = ?1 ORDER BY seq")) != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* The id its recipient knows it by: made before schema 5 and kept,
         * or derived from the row (store_queue.c). */
        char id[2 * SOTTO_STORE_ENVELOPE_ID_BYTES + 1] = "?";
        uint8_t raw[SOTTO_STORE_ENVELOPE_ID_BYTES];
        if (sqlite3_column_bytes(st, 0) == SOTTO_STORE_ENVELOPE_ID_BYTES)
            sodium_bin2hex(id, sizeof id, sqlite3_column_blob(st, 0),
                           SOTTO_STORE_ENVELOPE_ID_BYTES);
        else if (sotto_store_envelope_id(s, sqlite3_column_int64(st, 6), device_row,
                                         (size_t)sqlite3_column_int64(st, 3), raw) == SOTTO_STORE_OK)
            sodium_bin2hex(id, sizeof id, raw, sizeof raw);
        char t[32];
        when(t, sqlite3_column_int64(st, 1), 1);
        fprintf(out, "      envelope %s: queued %s, type %lld, %lld"
                " bytes, sender ", id, t, sqlite3_column_int64(st, 2),
                sqlite3_column_int64(st, 3));
        print_sender(out, st, 4, 5);
        fputc('\n', out);
    }
    if (rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    sqlite3_finalize(st);
    return e;
}

static sotto_store_err print_devices(sotto_store *s, FILE *out, int64_t account_row)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_prepare(s, &st,
        "SELECT id, device_id, registration_id, created, spk_id, spk, lrk_id, lrk,"
        " (SELECT count(*) FROM ec_prekeys WHERE device = devices.id),"
        " (SELECT count(*) FROM kem_prekeys WHERE device = devices.id)"
        " FROM devices WHERE account = ?1 ORDER BY device_id");
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, account_row);
    int rc = SQLITE_DONE;
    while (e == SOTTO_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t row = sqlite3_column_int64(st, 0);
        char t[32];
        when(t, sqlite3_column_int64(st, 3), 0);
        fprintf(out, "  device %lld\n", sqlite3_column_int64(st, 1));
        fprintf(out, "    registration id: %lld\n", sqlite3_column_int64(st, 2));
        fprintf(out, "    created: %s\n", t);
        fprintf(out, "    secret: Argon2id hash only (the secret itself is not held)\n");
        print_key(out, "    signed prekey:", sqlite3_column_int64(st, 4),
                  sqlite3_column_blob(st, 5), sqlite3_column_bytes(st, 5));
        print_key(out, "    last-resort Kyber prekey:", sqlite3_column_int64(st, 6),
                  sqlite3_column_blob(st, 7), sqlite3_column_bytes(st, 7));
        fprintf(out, "    one-time EC prekeys: %lld\n", sqlite3_column_int64(st, 8));
        if ((e = print_one_time_keys(s, out, row, "ec_prekeys", "      EC prekey")) !=
            SOTTO_STORE_OK)
            break;
        fprintf(out, "    one-time Kyber prekeys: %lld\n", sqlite3_column_int64(st, 9));
        if ((e = print_one_time_keys(s, out, row, "kem_prekeys", "      Kyber prekey")) !=
            SOTTO_STORE_OK)
            break;
        e = print_queue(s, out, row);
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    sqlite3_finalize(st);
    return e;
}

/* Envelopes this account wrote that still wait in other queues: their sender
 * field names this account until they are delivered or expire. */
static sotto_store_err print_sent(sotto_store *s, FILE *out,
                                  const uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_prepare(s, &st,
        "SELECT a.uuid, d.device_id, e.created, length(e.body), e.sender_device"
        " FROM envelopes e JOIN devices d ON d.id = e.device JOIN accounts a ON a.id = d.account"
        " WHERE e.sender_uuid = ?1 ORDER BY e.seq");
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_blob(st, 1, uuid, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    fprintf(out, "undelivered envelopes sent by this account (sender field held until delivery):\n");
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char to[SOTTO_STORE_UUID_STRING_BYTES] = "?";
        if (sqlite3_column_bytes(st, 0) == SOTTO_STORE_UUID_BYTES)
            sotto_store_uuid_format(to, sqlite3_column_blob(st, 0));
        char t[32];
        when(t, sqlite3_column_int64(st, 2), 1);
        fprintf(out, "  from device %lld to %s device %lld, queued %s, %lld"
                " bytes\n", sqlite3_column_int64(st, 4), to, sqlite3_column_int64(st, 1), t,
                sqlite3_column_int64(st, 3));
        n++;
    }
    if (rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    else if (n == 0)
        fprintf(out, "  none\n");
    sqlite3_finalize(st);
    return e;
}

sotto_store_err sotto_disclose_account(sotto_store *s, const char *username, FILE *out)
{
    if (s == NULL || out == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    char name[SOTTO_STORE_USERNAME_MAX + 1];
    sotto_store_err e = sotto_store_username_canonical(name, username);
    if (e != SOTTO_STORE_OK)
        return e;
    /* One read transaction: a consistent snapshot of the account. */
    if ((e = sotto_store_begin_read(s)) != SOTTO_STORE_OK)
        return e;
    sotto_store_account acct;
    int64_t account_row = 0;
    if ((e = sotto_store_find_username(s, name, &acct)) != SOTTO_STORE_OK ||
        (e = sotto_store_lookup(s, acct.uuid, 0, &account_row, NULL)) != SOTTO_STORE_OK)
        goto out;

    char u[SOTTO_STORE_UUID_STRING_BYTES], t[32], fp[2 * SOTTO_DISCLOSE_FINGERPRINT_BYTES + 1];
    sotto_store_uuid_format(u, acct.uuid);
    when(t, acct.created, 0);
    fingerprint(fp, acct.identity_key, sizeof acct.identity_key);
    fprintf(out, "sottod disclosure: everything this server holds about one account\n");
    fprintf(out, "(times are rounded down: creation to the day, envelopes to the hour)\n");
    fprintf(out, "account\n");
    fprintf(out, "  uuid: %s\n", u);
    fprintf(out, "  username: %s\n", acct.username);
    fprintf(out, "  created: %s\n", t);
    fprintf(out, "  identity key: sha256 %s, %zu bytes\n", fp, sizeof acct.identity_key);
    fprintf(out, "devices\n");
    if ((e = print_devices(s, out, account_row)) != SOTTO_STORE_OK)
        goto out;
    if ((e = print_sent(s, out, acct.uuid)) != SOTTO_STORE_OK)
        goto out;
    fprintf(out, "not held: phone number, e-mail, contacts, IP addresses, delivery history\n");
    if (fflush(out) != 0 || ferror(out))
        e = SOTTO_STORE_ERR_DB;
out:
    sotto_store_rollback(s);
    return e;
}
