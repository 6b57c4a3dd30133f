/* sottod store: per-device message queues (the database is the queue).
 *
 * Order: envelopes.seq is AUTOINCREMENT, so it only grows; a device's queue
 * is its envelopes in seq order. Delivery is at-least-once: fetch does not
 * delete, ack does. Restart needs nothing: the queue is the table. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_sqlite.h"

/* Checks what can be checked without the database. */
static sotto_store_err check_submission(const sotto_store_submission *sub)
{
    if (sub->count == 0 || sub->envelopes == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (sub->count > SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION)
        return SOTTO_STORE_ERR_TOO_LARGE;
    for (size_t i = 0; i < sub->count; i++) {
        const sotto_store_outgoing *o = &sub->envelopes[i];
        if (o->device_id == 0 || o->body == NULL || o->body_len == 0)
            return SOTTO_STORE_ERR_INVALID_ARGUMENT;
        if (o->body_len > SOTTO_STORE_MAX_ENVELOPE_BYTES)
            return SOTTO_STORE_ERR_TOO_LARGE;
        for (size_t j = 0; j < i; j++)
            if (sub->envelopes[j].device_id == o->device_id)
                return SOTTO_STORE_ERR_INVALID_ARGUMENT; /* one envelope per device */
    }
    if (sub->has_sender && sub->sender_device == 0)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    return SOTTO_STORE_OK;
}

typedef struct {
    uint32_t device_id;
    int64_t row;
} device_ref;

/* The recipient's devices that must receive an envelope. */
static sotto_store_err expected_devices(sotto_store *s, const sotto_store_submission *sub,
                                        device_ref out[SOTTO_STORE_MAX_DEVICES], size_t *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_prepare(s, &st,
        "SELECT d.device_id, d.id FROM accounts a JOIN devices d ON d.account = a.id"
        " WHERE a.uuid = ?1 ORDER BY d.device_id");
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_blob(st, 1, sub->recipient, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    /* Writing to one's own account: the other devices, not the sender's. */
    int self = sub->has_sender &&
               memcmp(sub->sender, sub->recipient, SOTTO_STORE_UUID_BYTES) == 0;
    int rc, any = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        any = 1;
        uint32_t id = (uint32_t)sqlite3_column_int64(st, 0);
        if (self && id == sub->sender_device)
            continue;
        if (*n == SOTTO_STORE_MAX_DEVICES) {
            e = SOTTO_STORE_ERR_DB;
            break;
        }
        out[*n].device_id = id;
        out[*n].row = sqlite3_column_int64(st, 1);
        (*n)++;
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    sqlite3_finalize(st);
    if (e == SOTTO_STORE_OK && !any)
        e = SOTTO_STORE_ERR_NOT_FOUND;
    return e;
}

/* Fills the mismatch report; returns 1 if the sets differ. */
static int compare_sets(sotto_store_submission *sub, const device_ref *want, size_t nwant)
{
    sotto_store_mismatch *m = &sub->mismatch;
    for (size_t i = 0; i < nwant; i++) {
        int seen = 0;
        for (size_t j = 0; j < sub->count; j++)
            seen |= sub->envelopes[j].device_id == want[i].device_id;
        if (!seen)
            m->missing[m->missing_count++] = want[i].device_id;
    }
    for (size_t j = 0; j < sub->count; j++) {
        int known = 0;
        for (size_t i = 0; i < nwant; i++)
            known |= sub->envelopes[j].device_id == want[i].device_id;
        if (!known)
            m->extra[m->extra_count++] = sub->envelopes[j].device_id;
    }
    return m->missing_count > 0 || m->extra_count > 0;
}

static sotto_store_err queue_length(sotto_store *s, int64_t device_row, int64_t *len,
                                    int64_t *bytes)
{
    *len = 0;
    if (bytes != NULL)
        *bytes = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_prepare(s, &st,
        "SELECT queue_len, queue_bytes FROM devices WHERE id = ?1");
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *len = sqlite3_column_int64(st, 0);
        if (bytes != NULL)
            *bytes = sqlite3_column_int64(st, 1);
    } else {
        e = rc == SQLITE_DONE ? SOTTO_STORE_ERR_NOT_FOUND : sotto_store_db_err(rc);
    }
    sqlite3_finalize(st);
    return e;
}

/* Inside the batch transaction and the submission's savepoint. */
static sotto_store_err store_submission(sotto_store *s, sotto_store_submission *sub,
                                        sqlite3_stmt *insert, int64_t now_coarse)
{
    device_ref want[SOTTO_STORE_MAX_DEVICES];
    size_t nwant = 0;
    sotto_store_err e = expected_devices(s, sub, want, &nwant);
    if (e != SOTTO_STORE_OK)
        return e;
    if (compare_sets(sub, want, nwant))
        return SOTTO_STORE_ERR_DEVICE_MISMATCH;
    for (size_t j = 0; j < sub->count; j++) {
        const sotto_store_outgoing *o = &sub->envelopes[j];
        int64_t row = 0;
        for (size_t i = 0; i < nwant; i++)
            if (want[i].device_id == o->device_id)
                row = want[i].row;
        int64_t len = 0, bytes = 0;
        if ((e = queue_length(s, row, &len, &bytes)) != SOTTO_STORE_OK)
            return e;
        if (len >= SOTTO_STORE_MAX_QUEUE_PER_DEVICE ||
            bytes + (int64_t)o->body_len > (int64_t)SOTTO_STORE_MAX_QUEUE_BYTES_PER_DEVICE)
            return SOTTO_STORE_ERR_QUEUE_FULL;
        uint8_t *id = sub->id[j];
        randombytes_buf(id, SOTTO_STORE_ENVELOPE_ID_BYTES);
        sqlite3_bind_int64(insert, 1, row);
        sqlite3_bind_blob(insert, 2, id, SOTTO_STORE_ENVELOPE_ID_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_int64(insert, 3, now_coarse);
        sqlite3_bind_int64(insert, 4, o->type);
        if (sub->has_sender) {
            sqlite3_bind_blob(insert, 5, sub->sender, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
            sqlite3_bind_int64(insert, 6, sub->sender_device);
        } else {
            sqlite3_bind_null(insert, 5);
            sqlite3_bind_null(insert, 6);
        }
        sqlite3_bind_blob64(insert, 7, o->body, o->body_len, SQLITE_STATIC);
        int rc = sqlite3_step(insert);
        sqlite3_reset(insert);
        sqlite3_clear_bindings(insert);
        if (rc != SQLITE_DONE)
            return sotto_store_db_err(rc);
        sub->seq[j] = (uint64_t)sqlite3_last_insert_rowid(s->db);
    }
    sub->timestamp = now_coarse;
    return SOTTO_STORE_OK;
}

/* Errors that belong to one submission; anything else aborts the batch. */
static int submission_error(sotto_store_err e)
{
    return e == SOTTO_STORE_ERR_NOT_FOUND || e == SOTTO_STORE_ERR_DEVICE_MISMATCH ||
           e == SOTTO_STORE_ERR_QUEUE_FULL || e == SOTTO_STORE_ERR_TOO_LARGE ||
           e == SOTTO_STORE_ERR_INVALID_ARGUMENT;
}

/* Zeroes a submission's outputs. */
static void clear_out(sotto_store_submission *sub)
{
    memset(&sub->mismatch, 0, sizeof sub->mismatch);
    memset(sub->seq, 0, sizeof sub->seq);
    memset(sub->id, 0, sizeof sub->id);
    sub->timestamp = 0;
}

static void fail_all(sotto_store_submission *subs, size_t n, sotto_store_err e)
{
    for (size_t i = 0; i < n; i++) {
        clear_out(&subs[i]);
        subs[i].result = e;
    }
}

static sotto_store_err check_ack(const sotto_store_ack_req *a)
{
    if (a->device_id == 0 || a->n == 0 || a->ids == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (a->n > SOTTO_STORE_MAX_ACKS)
        return SOTTO_STORE_ERR_TOO_LARGE;
    return SOTTO_STORE_OK;
}

/* Inside the batch transaction. Errors of this ack alone go to a->result;
 * the return is a batch-wide failure. */
static sotto_store_err apply_ack(sotto_store *s, sotto_store_ack_req *a, sqlite3_stmt *del)
{
    int64_t device_row = 0;
    sotto_store_err e = sotto_store_lookup(s, a->uuid, a->device_id, NULL, &device_row);
    if (e == SOTTO_STORE_ERR_NOT_FOUND) {
        a->result = e;
        return SOTTO_STORE_OK;
    }
    if (e != SOTTO_STORE_OK)
        return e;
    size_t total = 0;
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_bind_blob(del, 1, a->ids[i], SOTTO_STORE_ENVELOPE_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(del, 2, device_row);
        int rc = sqlite3_step(del);
        sqlite3_reset(del);
        sqlite3_clear_bindings(del);
        if (rc != SQLITE_DONE)
            return sotto_store_db_err(rc);
        total += (size_t)sqlite3_changes(s->db);
    }
    a->deleted = total;
    return SOTTO_STORE_OK;
}

static void fail_acks(sotto_store_ack_req *acks, size_t n, sotto_store_err e)
{
    for (size_t i = 0; i < n; i++) {
        acks[i].result = e;
        acks[i].deleted = 0;
    }
}

sotto_store_err sotto_store_write_batch(sotto_store *s,
                                        sotto_store_submission *subs, size_t n,
                                        sotto_store_ack_req *acks, size_t n_acks)
{
    if (s == NULL || (n > 0 && subs == NULL) || (n_acks > 0 && acks == NULL) ||
        n + n_acks == 0)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (n > SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH || n_acks > SOTTO_STORE_MAX_ACK_REQS_PER_BATCH) {
        fail_all(subs, n, SOTTO_STORE_ERR_TOO_LARGE);
        fail_acks(acks, n_acks, SOTTO_STORE_ERR_TOO_LARGE);
        return SOTTO_STORE_ERR_TOO_LARGE;
    }
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        clear_out(&subs[i]);
        subs[i].result = check_submission(&subs[i]);
        valid += subs[i].result == SOTTO_STORE_OK;
    }
    for (size_t i = 0; i < n_acks; i++) {
        acks[i].deleted = 0;
        acks[i].result = check_ack(&acks[i]);
        valid += acks[i].result == SOTTO_STORE_OK;
    }
    if (valid == 0)
        return SOTTO_STORE_OK; /* every item refused on its own; nothing to write */

    int64_t now = sotto_store_round_down(sotto_store_now(s),
                                         SOTTO_STORE_TIME_GRANULARITY_SECONDS);
    sotto_store_err e = sotto_store_begin_write(s);
    if (e != SOTTO_STORE_OK) {
        fail_all(subs, n, e);
        fail_acks(acks, n_acks, e);
        return e;
    }
    sqlite3_stmt *insert = NULL, *del = NULL;
    if (n > 0)
        e = sotto_store_prepare(s, &insert,
            "INSERT INTO envelopes (device, envelope_id, created, type, sender_uuid,"
            " sender_device, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (size_t i = 0; i < n && e == SOTTO_STORE_OK; i++) {
        if (subs[i].result != SOTTO_STORE_OK)
            continue;
        if ((e = sotto_store_db_err(sqlite3_exec(s->db, "SAVEPOINT sub", NULL, NULL, NULL)))
            != SOTTO_STORE_OK)
            break;
        sotto_store_err r = store_submission(s, &subs[i], insert, now);
        if (r != SOTTO_STORE_OK) {
            /* Undo this submission only. */
            if (sqlite3_exec(s->db, "ROLLBACK TO sub", NULL, NULL, NULL) != SQLITE_OK)
                e = SOTTO_STORE_ERR_DB;
            sotto_store_mismatch keep = subs[i].mismatch;
            clear_out(&subs[i]);
            if (r == SOTTO_STORE_ERR_DEVICE_MISMATCH)
                subs[i].mismatch = keep;
            subs[i].result = r;
            if (!submission_error(r))
                e = r;
        }
        if (e == SOTTO_STORE_OK &&
            sqlite3_exec(s->db, "RELEASE sub", NULL, NULL, NULL) != SQLITE_OK)
            e = SOTTO_STORE_ERR_DB;
    }
    /* Acks name envelopes that were delivered, so committed before this
     * transaction began: their place after the inserts changes nothing. */
    if (e == SOTTO_STORE_OK && n_acks > 0)
        e = sotto_store_prepare(s, &del,
            "DELETE FROM envelopes WHERE envelope_id = ?1 AND device = ?2");
    for (size_t i = 0; i < n_acks && e == SOTTO_STORE_OK; i++)
        if (acks[i].result == SOTTO_STORE_OK)
            e = apply_ack(s, &acks[i], del);
    sqlite3_finalize(insert);
    sqlite3_finalize(del);
    if (e == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
    if (e != SOTTO_STORE_OK) {
        sotto_store_rollback(s);
        fail_all(subs, n, e);
        fail_acks(acks, n_acks, e);
    }
    return e;
}

sotto_store_err sotto_store_enqueue_batch(sotto_store *s, sotto_store_submission *subs, size_t n)
{
    if (s == NULL || subs == NULL || n == 0)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    return sotto_store_write_batch(s, subs, n, NULL, 0);
}

void sotto_store_envelopes_free(sotto_store_envelope *e, size_t count)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        if (e[i].body != NULL)
            sodium_memzero(e[i].body, e[i].body_len);
        free(e[i].body);
    }
    sodium_memzero(e, sizeof *e * count);
    free(e);
}

sotto_store_err sotto_store_fetch_queue(sotto_store *s,
                                        const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                        uint32_t device_id,
                                        uint64_t after_seq, size_t limit,
                                        sotto_store_envelope **out, size_t *count)
{
    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (s == NULL || uuid == NULL || device_id == 0 || out == NULL || count == NULL ||
        limit == 0 || after_seq > (uint64_t)INT64_MAX)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (limit > SOTTO_STORE_MAX_FETCH)
        return SOTTO_STORE_ERR_TOO_LARGE;
    sotto_store_err e = sotto_store_begin_read(s);
    if (e != SOTTO_STORE_OK)
        return e;
    int64_t device_row = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_envelope *env = NULL;
    size_t n = 0;
    if ((e = sotto_store_lookup(s, uuid, device_id, NULL, &device_row)) != SOTTO_STORE_OK)
        goto out;
    e = sotto_store_prepare(s, &st,
        "SELECT seq, envelope_id, created, type, sender_uuid, sender_device, body"
        " FROM envelopes WHERE device = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
    if (e != SOTTO_STORE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, device_row);
    sqlite3_bind_int64(st, 2, (int64_t)after_seq);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    env = calloc(limit, sizeof *env);
    if (env == NULL) {
        e = SOTTO_STORE_ERR_NO_MEMORY;
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
        sotto_store_envelope *v = &env[n];
        int body_len = sqlite3_column_bytes(st, 6);
        int has_sender = sqlite3_column_type(st, 4) != SQLITE_NULL;
        if (sqlite3_column_bytes(st, 1) != SOTTO_STORE_ENVELOPE_ID_BYTES || body_len <= 0 ||
            (size_t)body_len > SOTTO_STORE_MAX_ENVELOPE_BYTES ||
            (has_sender && sqlite3_column_bytes(st, 4) != SOTTO_STORE_UUID_BYTES)) {
            e = SOTTO_STORE_ERR_DB;
            break;
        }
        v->seq = (uint64_t)sqlite3_column_int64(st, 0);
        memcpy(v->id, sqlite3_column_blob(st, 1), SOTTO_STORE_ENVELOPE_ID_BYTES);
        v->timestamp = sqlite3_column_int64(st, 2);
        v->type = (uint32_t)sqlite3_column_int64(st, 3);
        v->has_sender = has_sender;
        if (has_sender) {
            memcpy(v->sender, sqlite3_column_blob(st, 4), SOTTO_STORE_UUID_BYTES);
            v->sender_device = (uint32_t)sqlite3_column_int64(st, 5);
        }
        v->body = malloc((size_t)body_len);
        if (v->body == NULL) {
            e = SOTTO_STORE_ERR_NO_MEMORY;
            break;
        }
        memcpy(v->body, sqlite3_column_blob(st, 6), (size_t)body_len);
        v->body_len = (size_t)body_len;
        n++;
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = sotto_store_db_err(rc);
out:
    sqlite3_finalize(st);
    sotto_store_rollback(s);
    if (e != SOTTO_STORE_OK) {
        sotto_store_envelopes_free(env, n);
        return e;
    }
    if (n == 0) {
        free(env);
        env = NULL;
    }
    *out = env;
    *count = n;
    return SOTTO_STORE_OK;
}

sotto_store_err sotto_store_ack(sotto_store *s,
                                const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                uint32_t device_id,
                                const uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES], size_t n,
                                size_t *deleted)
{
    if (deleted != NULL)
        *deleted = 0;
    if (s == NULL || uuid == NULL || device_id == 0 || (n > 0 && ids == NULL))
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    if (n > SOTTO_STORE_MAX_ACKS)
        return SOTTO_STORE_ERR_TOO_LARGE;
    sotto_store_err e = sotto_store_begin_write(s);
    if (e != SOTTO_STORE_OK)
        return e;
    int64_t device_row = 0;
    sqlite3_stmt *st = NULL;
    size_t total = 0;
    if ((e = sotto_store_lookup(s, uuid, device_id, NULL, &device_row)) != SOTTO_STORE_OK)
        goto out;
    if ((e = sotto_store_prepare(s, &st,
             "DELETE FROM envelopes WHERE envelope_id = ?1 AND device = ?2")) != SOTTO_STORE_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_blob(st, 1, ids[i], SOTTO_STORE_ENVELOPE_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, device_row);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            e = sotto_store_db_err(rc);
            goto out;
        }
        total += (size_t)sqlite3_changes(s->db);
    }
    e = sotto_store_commit(s);
out:
    sqlite3_finalize(st);
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
    else if (deleted != NULL)
        *deleted = total;
    return e;
}

sotto_store_err sotto_store_queue_count(sotto_store *s,
                                        const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                                        uint32_t device_id, uint32_t *count)
{
    if (count != NULL)
        *count = 0;
    if (s == NULL || uuid == NULL || device_id == 0 || count == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    sotto_store_err e = sotto_store_begin_read(s);
    if (e != SOTTO_STORE_OK)
        return e;
    int64_t device_row = 0, len = 0;
    if ((e = sotto_store_lookup(s, uuid, device_id, NULL, &device_row)) == SOTTO_STORE_OK &&
        (e = queue_length(s, device_row, &len, NULL)) == SOTTO_STORE_OK)
        *count = (uint32_t)len;
    sotto_store_rollback(s);
    return e;
}

sotto_store_err sotto_store_queue_total(sotto_store *s, uint64_t *count)
{
    if (count != NULL)
        *count = 0;
    if (s == NULL || count == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    sotto_store_err e = sotto_store_begin_read(s);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_stmt *st = NULL;
    if ((e = sotto_store_prepare(s, &st, "SELECT coalesce(sum(queue_len), 0) FROM devices"))
        == SOTTO_STORE_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(st, 0);
            *count = v > 0 ? (uint64_t)v : 0;
        } else {
            e = sotto_store_db_err(rc);
        }
    }
    sqlite3_finalize(st);
    sotto_store_rollback(s);
    return e;
}

sotto_store_err sotto_store_expire(sotto_store *s, uint64_t *deleted)
{
    if (deleted != NULL)
        *deleted = 0;
    if (s == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    /* Kept times are rounded down, so an envelope goes between
     * SOTTO_STORE_EXPIRY_SECONDS and that plus one granularity after it came. */
    int64_t cutoff = sotto_store_now(s) - SOTTO_STORE_EXPIRY_SECONDS;
    uint64_t total = 0;
    for (;;) {
        sotto_store_err e = sotto_store_begin_write(s);
        if (e != SOTTO_STORE_OK)
            return e;
        sqlite3_stmt *st = NULL;
        if ((e = sotto_store_prepare(s, &st,
                 "DELETE FROM envelopes WHERE seq IN (SELECT seq FROM envelopes"
                 " WHERE created < ?1 ORDER BY created LIMIT ?2)")) != SOTTO_STORE_OK) {
            sotto_store_rollback(s);
            return e;
        }
        sqlite3_bind_int64(st, 1, cutoff);
        sqlite3_bind_int64(st, 2, SOTTO_STORE_EXPIRE_CHUNK);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            sotto_store_rollback(s);
            return sotto_store_db_err(rc);
        }
        int changes = sqlite3_changes(s->db);
        if ((e = sotto_store_commit(s)) != SOTTO_STORE_OK)
            return e;
        total += (uint64_t)changes;
        if (deleted != NULL)
            *deleted = total;
        if (changes < SOTTO_STORE_EXPIRE_CHUNK)
            return SOTTO_STORE_OK;
    }
}
