/* sottod store: per-device message queues (the database is the queue).
 *
 * Order: envelopes.seq is AUTOINCREMENT, so it only grows; a device's queue
 * is its envelopes in seq order, and envelope ids are derived from seq
 * (below). Delivery is at-least-once: fetch does not delete, ack does.
 * Restart needs nothing: the queue is the table. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
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

/* ---- envelope ids ----
 * An id is one AES-128 block under the database's key (table meta):
 *   seq (56 bits) || device row (32 bits) || body length (24 bits) || 0 (16 bits)
 * all little-endian. seq never repeats (AUTOINCREMENT), so ids are unique;
 * the same envelope has the same id after a restart; to its recipient an id
 * is 16 random-looking bytes that say nothing about traffic. An ack opens
 * the block and deletes by primary key, checking that the row belongs to
 * the acking device: a made-up id opens to a foreign device (or nonzero
 * check bits) and deletes nothing. The length lets the queue counters drop
 * the right byte count without reading the row. */
#define ID_SEQ_BITS  56             /* 2,000 years of seqs at 1,000,000 a second */
#define ID_ROW_BITS  32             /* device rows (4 billion devices ever made) */
#define ID_LEN_BITS  24
_Static_assert(SOTTO_STORE_MAX_ENVELOPE_BYTES < (1u << ID_LEN_BITS), "body length fits an id");
_Static_assert(ID_SEQ_BITS + ID_ROW_BITS + ID_LEN_BITS + 16 == 8 * SOTTO_STORE_ENVELOPE_ID_BYTES,
               "an id is one AES block");
#define ID_KEY_NAME  "envelope_id_key"
#define ID_KEY_BYTES 16

static void put_le(uint8_t *p, uint64_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

sotto_store_err sotto_store_envelope_key_ensure(sotto_store *s)
{
    uint8_t key[ID_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_META_PUT, &st);
    if (e == SOTTO_STORE_OK) {
        sqlite3_bind_text(st, 1, ID_KEY_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, key, sizeof key, SQLITE_STATIC);
        int rc = sqlite3_step(st);    /* OR IGNORE: an existing key stays */
        if (rc != SQLITE_DONE)
            e = sotto_store_db_err(rc);
        sotto_store_put(st);
    }
    sodium_memzero(key, sizeof key);
    return e;
}

/* Sets up the handle's AES contexts from the database's key. */
static sotto_store_err id_ctx(sotto_store *s)
{
    if (s->id_enc != NULL)
        return SOTTO_STORE_OK;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_META_GET, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_text(st, 1, ID_KEY_NAME, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW || sqlite3_column_bytes(st, 0) != ID_KEY_BYTES) {
        sotto_store_put(st);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? SOTTO_STORE_ERR_DB : sotto_store_db_err(rc);
    }
    EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new(), *dec = EVP_CIPHER_CTX_new();
    const uint8_t *key = sqlite3_column_blob(st, 0);
    if (enc == NULL || dec == NULL ||
        EVP_EncryptInit_ex(enc, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_DecryptInit_ex(dec, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(enc, 0) != 1 || EVP_CIPHER_CTX_set_padding(dec, 0) != 1) {
        EVP_CIPHER_CTX_free(enc);
        EVP_CIPHER_CTX_free(dec);
        e = SOTTO_STORE_ERR_CRYPTO;
    } else {
        s->id_enc = enc;
        s->id_dec = dec;
    }
    sotto_store_put(st);
    return e;
}

sotto_store_err sotto_store_envelope_id(sotto_store *s, int64_t seq, int64_t device_row,
                                        size_t body_len,
                                        uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES])
{
    memset(id, 0, SOTTO_STORE_ENVELOPE_ID_BYTES);
    if (seq <= 0 || (uint64_t)seq >> ID_SEQ_BITS || device_row <= 0 ||
        (uint64_t)device_row >> ID_ROW_BITS || body_len >> ID_LEN_BITS)
        return SOTTO_STORE_ERR_DB;     /* past the id's fields: cannot happen in practice */
    sotto_store_err e = id_ctx(s);
    if (e != SOTTO_STORE_OK)
        return e;
    uint8_t block[SOTTO_STORE_ENVELOPE_ID_BYTES] = {0};
    put_le(block, (uint64_t)seq, ID_SEQ_BITS / 8);
    put_le(block + ID_SEQ_BITS / 8, (uint64_t)device_row, ID_ROW_BITS / 8);
    put_le(block + (ID_SEQ_BITS + ID_ROW_BITS) / 8, body_len, ID_LEN_BITS / 8);
    int n = 0;
    if (EVP_EncryptUpdate(s->id_enc, id, &n, block, sizeof block) != 1 ||
        n != SOTTO_STORE_ENVELOPE_ID_BYTES)
        return SOTTO_STORE_ERR_CRYPTO;
    return SOTTO_STORE_OK;
}

/* Opens an id made by sotto_store_envelope_id. 0 when it is not one (an id
 * from before schema 5, or made up). */
static int id_open(sotto_store *s, const uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES],
                   int64_t *seq, int64_t *device_row, int64_t *body_len)
{
    uint8_t block[SOTTO_STORE_ENVELOPE_ID_BYTES];
    int n = 0;
    if (EVP_DecryptUpdate(s->id_dec, block, &n, id, SOTTO_STORE_ENVELOPE_ID_BYTES) != 1 ||
        n != SOTTO_STORE_ENVELOPE_ID_BYTES)
        return 0;
    const size_t check = (ID_SEQ_BITS + ID_ROW_BITS + ID_LEN_BITS) / 8;
    if ((block[check] | block[check + 1]) != 0)
        return 0;
    *seq = (int64_t)get_le(block, ID_SEQ_BITS / 8);
    *device_row = (int64_t)get_le(block + ID_SEQ_BITS / 8, ID_ROW_BITS / 8);
    *body_len = (int64_t)get_le(block + (ID_SEQ_BITS + ID_ROW_BITS) / 8, ID_LEN_BITS / 8);
    return *seq > 0;
}

/* ---- the batch's recipient map ----
 * Each recipient account's devices and queue counters are read once per
 * batch (one query), then kept in step in memory as envelopes are added; at
 * the end of the batch what was added goes to each device row in one update
 * (add_counters), in the same transaction. */

static sotto_store_err map_init(sotto_store *s)
{
    if (s->recipients == NULL) {
        s->recipients = malloc(SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH * sizeof *s->recipients);
        s->recipient_slot = malloc(SOTTO_STORE_RECIPIENT_SLOTS * sizeof *s->recipient_slot);
        if (s->recipients == NULL || s->recipient_slot == NULL) {
            free(s->recipients);
            free(s->recipient_slot);
            s->recipients = NULL;
            s->recipient_slot = NULL;
            return SOTTO_STORE_ERR_NO_MEMORY;
        }
    }
    memset(s->recipient_slot, 0, SOTTO_STORE_RECIPIENT_SLOTS * sizeof *s->recipient_slot);
    return SOTTO_STORE_OK;
}

/* Account UUIDs are random (and public), so their first bytes are the hash. */
static size_t map_hash(const uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    uint64_t h;
    memcpy(&h, uuid, sizeof h);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return (size_t)(h & (SOTTO_STORE_RECIPIENT_SLOTS - 1));
}

/* Reads one account's devices and counters into r. */
static sotto_store_err read_recipient(sotto_store *s, sotto_store_recipient *r)
{
    r->found = 0;
    r->n = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_DEVICES, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_blob(st, 1, r->uuid, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n == SOTTO_STORE_MAX_DEVICES) {
            e = SOTTO_STORE_ERR_DB; /* more devices than the limit: corrupt */
            break;
        }
        r->device_id[r->n] = (uint32_t)sqlite3_column_int64(st, 0);
        r->row[r->n] = sqlite3_column_int64(st, 1);
        r->queue_len[r->n] = sqlite3_column_int64(st, 2);
        r->queue_bytes[r->n] = sqlite3_column_int64(st, 3);
        r->added_len[r->n] = 0;
        r->added_bytes[r->n] = 0;
        r->n++;
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    sotto_store_put(st);
    r->found = r->n > 0;
    return e;
}

/* The map entry of uuid, read from the database on its first use in the
 * batch. At most SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH distinct accounts. */
static sotto_store_err map_get(sotto_store *s, size_t *used,
                               const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                               sotto_store_recipient **out)
{
    *out = NULL;
    size_t h = map_hash(uuid);
    for (;;) {
        uint16_t v = s->recipient_slot[h];
        if (v == 0)
            break;
        sotto_store_recipient *r = &s->recipients[v - 1];
        if (memcmp(r->uuid, uuid, SOTTO_STORE_UUID_BYTES) == 0) {
            *out = r;
            return SOTTO_STORE_OK;
        }
        h = (h + 1) & (SOTTO_STORE_RECIPIENT_SLOTS - 1);
    }
    if (*used == SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH)
        return SOTTO_STORE_ERR_DB; /* cannot happen: one per submission at most */
    sotto_store_recipient *r = &s->recipients[*used];
    memcpy(r->uuid, uuid, SOTTO_STORE_UUID_BYTES);
    sotto_store_err e = read_recipient(s, r);
    if (e != SOTTO_STORE_OK)
        return e;
    (*used)++;
    s->recipient_slot[h] = (uint16_t)*used;
    *out = r;
    return SOTTO_STORE_OK;
}

/* Index in ids[0..n) of device_id, or n. */
static size_t id_index(const uint32_t *ids, size_t n, uint32_t device_id)
{
    size_t i = 0;
    while (i < n && ids[i] != device_id)
        i++;
    return i;
}

static size_t device_index(const sotto_store_recipient *r, uint32_t device_id)
{
    return id_index(r->device_id, r->n, device_id);
}

/* Fills m with what differs between sub and the recipient's devices
 * ids[0..n); returns 1 if anything does. The recipient's devices must each
 * get one envelope, except the sender's own device when writing to its own
 * account. */
static int compare_ids(const sotto_store_submission *sub, const uint32_t *ids, size_t n,
                       sotto_store_mismatch *m)
{
    int self = sub->has_sender &&
               memcmp(sub->sender, sub->recipient, SOTTO_STORE_UUID_BYTES) == 0;
    for (size_t i = 0; i < n; i++) {
        if (self && ids[i] == sub->sender_device)
            continue;
        int seen = 0;
        for (size_t j = 0; j < sub->count; j++)
            seen |= sub->envelopes[j].device_id == ids[i];
        if (!seen)
            m->missing[m->missing_count++] = ids[i];
    }
    for (size_t j = 0; j < sub->count; j++) {
        uint32_t d = sub->envelopes[j].device_id;
        if (id_index(ids, n, d) == n || (self && d == sub->sender_device))
            m->extra[m->extra_count++] = d;
    }
    return m->missing_count > 0 || m->extra_count > 0;
}

static int compare_sets(sotto_store_submission *sub, const sotto_store_recipient *r)
{
    return compare_ids(sub, r->device_id, r->n, &sub->mismatch);
}

int sotto_store_devices_match(const sotto_store_submission *sub, const sotto_store_device_set *d)
{
    if (d == NULL || d->n == 0 || check_submission(sub) != SOTTO_STORE_OK)
        return 0;
    sotto_store_mismatch m;
    memset(&m, 0, sizeof m);
    return !compare_ids(sub, d->device_id, d->n, &m);
}

/* Inside the batch transaction. Every check comes before the first insert,
 * so a refused submission has written nothing; a failed insert fails the
 * whole batch. */
static sotto_store_err store_submission(sotto_store *s, sotto_store_submission *sub,
                                        sotto_store_recipient *r, sqlite3_stmt *insert,
                                        int64_t now_coarse)
{
    if (!r->found)
        return SOTTO_STORE_ERR_NOT_FOUND;
    if (compare_sets(sub, r))
        return SOTTO_STORE_ERR_DEVICE_MISMATCH;
    size_t at[SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION];
    const int pre = sub->preassigned;
    if (pre)
        now_coarse = sub->timestamp;
    for (size_t j = 0; j < sub->count; j++) {
        /* Device ids are distinct within a submission (check_submission). */
        size_t i = at[j] = device_index(r, sub->envelopes[j].device_id);
        if (pre && sub->delivered[j])
            continue;                       /* already on its device: no room needed */
        if (r->queue_len[i] >= SOTTO_STORE_MAX_QUEUE_PER_DEVICE ||
            r->queue_bytes[i] + (int64_t)sub->envelopes[j].body_len >
                (int64_t)SOTTO_STORE_MAX_QUEUE_BYTES_PER_DEVICE)
            return SOTTO_STORE_ERR_QUEUE_FULL;
    }
    for (size_t j = 0; j < sub->count; j++) {
        const sotto_store_outgoing *o = &sub->envelopes[j];
        size_t i = at[j];
        if (pre && sub->delivered[j]) {
            /* Its id as its device got it (same seq, row and length). */
            sotto_store_err e = sotto_store_envelope_id(s, (int64_t)sub->seq[j], r->row[i],
                                                        o->body_len, sub->id[j]);
            if (e != SOTTO_STORE_OK)
                return e;                   /* fails the batch */
            continue;
        }
        sqlite3_bind_int64(insert, 1, r->row[i]);
        sqlite3_bind_int64(insert, 2, now_coarse);
        sqlite3_bind_int64(insert, 3, o->type);
        if (sub->has_sender) {
            sqlite3_bind_blob(insert, 4, sub->sender, SOTTO_STORE_UUID_BYTES, SQLITE_STATIC);
            sqlite3_bind_int64(insert, 5, sub->sender_device);
        } else {
            sqlite3_bind_null(insert, 4);
            sqlite3_bind_null(insert, 5);
        }
        sqlite3_bind_blob64(insert, 6, o->body, o->body_len, SQLITE_STATIC);
        if (pre)
            sqlite3_bind_int64(insert, 7, (int64_t)sub->seq[j]);
        int rc = sqlite3_step(insert);
        sotto_store_put(insert);
        if (rc != SQLITE_DONE) /* fails the batch */
            return rc == SQLITE_NOMEM ? SOTTO_STORE_ERR_NO_MEMORY : SOTTO_STORE_ERR_DB;
        int64_t seq = pre ? (int64_t)sub->seq[j] : sqlite3_last_insert_rowid(s->db);
        sotto_store_err e = sotto_store_envelope_id(s, seq, r->row[i], o->body_len, sub->id[j]);
        if (e != SOTTO_STORE_OK)
            return e;                       /* fails the batch */
        sub->seq[j] = (uint64_t)seq;
        r->queue_len[i] += 1;
        r->queue_bytes[i] += (int64_t)o->body_len;
        r->added_len[i] += 1;
        r->added_bytes[i] += (int64_t)o->body_len;
    }
    sub->timestamp = now_coarse;
    return SOTTO_STORE_OK;
}

/* created never decreases along seq, even when the clock steps back: expiry
 * relies on it (it walks from the oldest seq and stops at the first young
 * envelope). A clock stepped back by T keeps new envelopes at most T longer. */
static sotto_store_err monotonic_now(sotto_store *s, int64_t *now)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_NEWEST, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t newest = sqlite3_column_int64(st, 0);
        if (newest > *now)
            *now = newest;
    } else if (rc != SQLITE_DONE) {
        e = sotto_store_db_err(rc);
    }
    sotto_store_put(st);
    return e;
}

/* Errors that belong to one submission; anything else aborts the batch. */
static int submission_error(sotto_store_err e)
{
    return e == SOTTO_STORE_ERR_NOT_FOUND || e == SOTTO_STORE_ERR_DEVICE_MISMATCH ||
           e == SOTTO_STORE_ERR_QUEUE_FULL || e == SOTTO_STORE_ERR_TOO_LARGE ||
           e == SOTTO_STORE_ERR_INVALID_ARGUMENT;
}

/* Zeroes a submission's outputs (a preassigned one keeps its seqs and time,
 * which are inputs). */
static void clear_out(sotto_store_submission *sub)
{
    memset(&sub->mismatch, 0, sizeof sub->mismatch);
    memset(sub->id, 0, sizeof sub->id);
    if (sub->preassigned)
        return;
    memset(sub->seq, 0, sizeof sub->seq);
    sub->timestamp = 0;
}

/* Preassigned seqs: positive, within an id's field, rising. */
static sotto_store_err check_preassigned(const sotto_store_submission *subs, size_t n,
                                         uint64_t *high)
{
    uint64_t last = 0;
    *high = 0;
    for (size_t i = 0; i < n; i++) {
        if (!subs[i].preassigned)
            continue;
        if (subs[i].count > SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION || subs[i].timestamp < 0)
            return SOTTO_STORE_ERR_INVALID_ARGUMENT;
        for (size_t j = 0; j < subs[i].count; j++) {
            uint64_t q = subs[i].seq[j];
            if (q <= last || q >> ID_SEQ_BITS)
                return SOTTO_STORE_ERR_INVALID_ARGUMENT;
            last = q;
        }
    }
    *high = last;
    return SOTTO_STORE_OK;
}

sotto_store_err sotto_store_seq_start(sotto_store *s, uint64_t *first, int64_t *newest)
{
    *first = 0;
    *newest = 0;
    sotto_store_err e = sotto_store_begin_write(s);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_stmt *st = NULL;
    int64_t mark = 0, has = 0;
    if ((e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_SEQ_GET, &st)) == SOTTO_STORE_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            mark = sqlite3_column_int64(st, 0);
            has = sqlite3_column_int64(st, 1);
            *newest = sqlite3_column_int64(st, 2);
        } else {
            e = sotto_store_db_err(rc);
        }
        sotto_store_put(st);
    }
    uint64_t next = (uint64_t)mark + SOTTO_STORE_SEQ_RESERVE;
    if (e == SOTTO_STORE_OK && (mark < 0 || next >> ID_SEQ_BITS))
        e = SOTTO_STORE_ERR_DB;             /* out of seqs: cannot happen in practice */
    if (e == SOTTO_STORE_OK && has) {
        if ((e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_SEQ_MARK, &st)) == SOTTO_STORE_OK) {
            sqlite3_bind_int64(st, 1, (int64_t)next);
            int rc = sqlite3_step(st);
            sotto_store_put(st);
            if (rc != SQLITE_DONE)
                e = sotto_store_db_err(rc);
        }
    } else if (e == SOTTO_STORE_OK) {
        /* No envelope was ever stored: AUTOINCREMENT has no row yet. */
        e = sotto_store_prepare(s, &st, "INSERT INTO sqlite_sequence (name, seq)"
                                        " VALUES ('envelopes', ?1)");
        if (e == SOTTO_STORE_OK) {
            sqlite3_bind_int64(st, 1, (int64_t)next);
            int rc = sqlite3_step(st);
            sqlite3_finalize(st);
            if (rc != SQLITE_DONE)
                e = sotto_store_db_err(rc);
        }
    }
    if (e == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
    if (e != SOTTO_STORE_OK) {
        sotto_store_rollback(s);
        *newest = 0;
        return e;
    }
    *first = (uint64_t)mark + 1;
    return SOTTO_STORE_OK;
}

/* Moves AUTOINCREMENT's mark to high + SOTTO_STORE_SEQ_RESERVE. */
static sotto_store_err mark_seqs(sotto_store *s, uint64_t high)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_SEQ_MARK, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, (int64_t)(high + SOTTO_STORE_SEQ_RESERVE));
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    return rc == SQLITE_DONE ? SOTTO_STORE_OK : sotto_store_db_err(rc);
}

int64_t sotto_store_time_coarse(const sotto_store *s)
{
    return sotto_store_round_down(sotto_store_now(s), SOTTO_STORE_TIME_GRANULARITY_SECONDS);
}

sotto_store_err sotto_store_make_id(sotto_store *s, uint64_t seq, int64_t device_row,
                                    size_t body_len, uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES])
{
    if (seq >> ID_SEQ_BITS) {
        memset(id, 0, SOTTO_STORE_ENVELOPE_ID_BYTES);
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    }
    return sotto_store_envelope_id(s, (int64_t)seq, device_row, body_len, id);
}

int sotto_store_open_id(sotto_store *s, const uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES],
                        uint64_t *seq, int64_t *device_row, size_t *body_len)
{
    int64_t q = 0, row = 0, len = 0;
    if (id_ctx(s) != SOTTO_STORE_OK || !id_open(s, id, &q, &row, &len))
        return 0;
    *seq = (uint64_t)q;
    *device_row = row;
    *body_len = (size_t)len;
    return 1;
}

size_t sotto_store_write_batch_devices(sotto_store *s, sotto_store_device_set *out, size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < s->recipients_done && n < cap; k++) {
        const sotto_store_recipient *r = &s->recipients[k];
        sotto_store_device_set *d = &out[n++];
        memcpy(d->uuid, r->uuid, sizeof d->uuid);
        d->n = r->found ? r->n : 0;
        for (size_t i = 0; i < d->n; i++) {
            d->device_id[i] = r->device_id[i];
            d->row[i] = r->row[i];
        }
    }
    return n;
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

/* Adds len envelopes of bytes ciphertext bytes (negative: removes) to a
 * device's queue counters (table queues). The store keeps them itself, no
 * trigger: every insert and delete of envelopes is in this file and calls
 * this in the same transaction. */
static sotto_store_err add_counters(sotto_store *s, int64_t device_row, int64_t len,
                                    int64_t bytes)
{
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_ADD, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, len);
    sqlite3_bind_int64(st, 2, bytes);
    sqlite3_bind_int64(st, 3, device_row);
    int rc = sqlite3_step(st);
    sotto_store_put(st);
    return rc == SQLITE_DONE ? SOTTO_STORE_OK : sotto_store_db_err(rc);
}

/* Writes what the batch added to each recipient device's counters. */
static sotto_store_err flush_counters(sotto_store *s, size_t used)
{
    for (size_t k = 0; k < used; k++) {
        const sotto_store_recipient *r = &s->recipients[k];
        for (size_t i = 0; i < r->n; i++) {
            if (r->added_len[i] == 0)
                continue;
            sotto_store_err e = add_counters(s, r->row[i], r->added_len[i], r->added_bytes[i]);
            if (e != SOTTO_STORE_OK)
                return e;
        }
    }
    return SOTTO_STORE_OK;
}

/* Deletes ids from one device's queue (only that device's envelopes), adding
 * how many went to *deleted. */
static sotto_store_err delete_ids(sotto_store *s, int64_t device_row,
                                  const uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES], size_t n,
                                  size_t *deleted)
{
    sqlite3_stmt *own = NULL, *find = NULL, *del = NULL;
    sotto_store_err e = id_ctx(s);
    if (e == SOTTO_STORE_OK)
        e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_DELETE_OWN, &own);
    int64_t gone = 0, gone_bytes = 0;
    for (size_t i = 0; i < n && e == SOTTO_STORE_OK; i++) {
        int64_t seq = 0, row = 0, bytes = 0;
        int rc;
        if (id_open(s, ids[i], &seq, &row, &bytes)) {
            if (row != device_row)
                continue;                   /* another device's, or made up */
            sqlite3_bind_int64(own, 1, seq);
            sqlite3_bind_int64(own, 2, device_row);
            rc = sqlite3_step(own);
            sqlite3_reset(own);
            if (rc != SQLITE_DONE) {
                e = sotto_store_db_err(rc);
                break;
            }
            if (sqlite3_changes(s->db) != 1)
                continue;                   /* no longer in the queue */
            gone++;
            gone_bytes += bytes;
            continue;
        }
        /* An id handed out before schema 5. */
        if (find == NULL && ((e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_FIND, &find)) != SOTTO_STORE_OK ||
                             (e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_DELETE, &del)) != SOTTO_STORE_OK))
            break;
        sqlite3_bind_blob(find, 1, ids[i], SOTTO_STORE_ENVELOPE_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(find, 2, device_row);
        rc = sqlite3_step(find);
        if (rc == SQLITE_ROW) {
            seq = sqlite3_column_int64(find, 0);
            bytes = sqlite3_column_int64(find, 1);
        }
        sqlite3_reset(find);
        if (rc == SQLITE_DONE)
            continue; /* not (or no longer) in this device's queue */
        if (rc != SQLITE_ROW) {
            e = sotto_store_db_err(rc);
            break;
        }
        sqlite3_bind_int64(del, 1, seq);
        rc = sqlite3_step(del);
        sqlite3_reset(del);
        if (rc != SQLITE_DONE) {
            e = sotto_store_db_err(rc);
            break;
        }
        gone++;
        gone_bytes += bytes;
    }
    sotto_store_put(own);
    sotto_store_put(find);
    sotto_store_put(del);
    if (e == SOTTO_STORE_OK && gone > 0)
        e = add_counters(s, device_row, -gone, -gone_bytes);
    if (e == SOTTO_STORE_OK)
        *deleted += (size_t)gone;
    return e;
}

/* ---- acks' device rows ----
 * Every ack names its device by (account uuid, device id); with many
 * devices acking, looking each one up again in every batch was ~12 K
 * instructions per acked envelope. The row is kept here for
 * SOTTO_STORE_ACK_ROW_SECONDS. A stale row cannot delete anything it should
 * not: delete_ids matches envelope id AND device row, and ids are
 * unforgeable and known only to their recipient. An ack that deletes fewer
 * envelopes than it names drops its entry. Device ids are never reused
 * within an account, so an entry cannot outlive its device's identity. */
struct sotto_store_ack_row {
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    uint32_t device_id;
    int64_t row;                            /* 0 = empty */
    int64_t expires;                        /* store clock, seconds */
};

static struct sotto_store_ack_row *ack_row_slot(sotto_store *s, const uint8_t uuid[16],
                                                uint32_t device_id)
{
    if (s->ack_rows == NULL) {
        s->ack_rows = calloc(SOTTO_STORE_ACK_ROW_SLOTS, sizeof *s->ack_rows);
        if (s->ack_rows == NULL)
            return NULL;
    }
    uint64_t h;
    memcpy(&h, uuid, sizeof h);             /* uuids are random */
    h = (h ^ device_id) * 0x9e3779b97f4a7c15u;
    return &s->ack_rows[(h >> 40) & (SOTTO_STORE_ACK_ROW_SLOTS - 1)];
}

/* Inside the batch transaction. Errors of this ack alone go to a->result;
 * the return is a batch-wide failure. */
static sotto_store_err apply_ack(sotto_store *s, sotto_store_ack_req *a)
{
    int64_t device_row = 0, now = sotto_store_now(s);
    struct sotto_store_ack_row *slot = ack_row_slot(s, a->uuid, a->device_id);
    bool cached = slot != NULL && slot->row != 0 && slot->expires > now &&
                  slot->device_id == a->device_id &&
                  memcmp(slot->uuid, a->uuid, SOTTO_STORE_UUID_BYTES) == 0;
    sotto_store_err e = SOTTO_STORE_OK;
    if (cached) {
        device_row = slot->row;
    } else {
        e = sotto_store_lookup(s, a->uuid, a->device_id, NULL, &device_row);
        if (e == SOTTO_STORE_ERR_NOT_FOUND) {
            a->result = e;
            return SOTTO_STORE_OK;
        }
        if (e != SOTTO_STORE_OK)
            return e;
        if (slot != NULL) {
            memcpy(slot->uuid, a->uuid, SOTTO_STORE_UUID_BYTES);
            slot->device_id = a->device_id;
            slot->row = device_row;
            slot->expires = now + SOTTO_STORE_ACK_ROW_SECONDS;
        }
    }
    size_t total = 0;
    if ((e = delete_ids(s, device_row, a->ids, a->n, &total)) != SOTTO_STORE_OK)
        return e;
    if (cached && total < a->n)
        slot->row = 0;                      /* look it up again next time */
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
    s->recipients_done = 0;
    uint64_t high = 0;
    if (check_preassigned(subs, n, &high) != SOTTO_STORE_OK) {
        fail_all(subs, n, SOTTO_STORE_ERR_INVALID_ARGUMENT);
        fail_acks(acks, n_acks, SOTTO_STORE_ERR_INVALID_ARGUMENT);
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    }
    size_t valid_subs = 0, valid_acks = 0;
    for (size_t i = 0; i < n; i++) {
        clear_out(&subs[i]);
        subs[i].result = check_submission(&subs[i]);
        valid_subs += subs[i].result == SOTTO_STORE_OK;
    }
    for (size_t i = 0; i < n_acks; i++) {
        acks[i].deleted = 0;
        acks[i].result = check_ack(&acks[i]);
        valid_acks += acks[i].result == SOTTO_STORE_OK;
    }
    if (valid_subs + valid_acks == 0 && high == 0)
        return SOTTO_STORE_OK; /* every item refused on its own; nothing to write */

    int64_t now = sotto_store_round_down(sotto_store_now(s),
                                         SOTTO_STORE_TIME_GRANULARITY_SECONDS);
    /* A batch that only deletes acknowledged envelopes need not be fsynced:
     * losing it only means a redelivery (store_sqlite.c). Any submission
     * makes it a FULL commit. */
    sotto_store_err e = valid_subs > 0 || high > 0 ? sotto_store_begin_write(s)
                                                   : sotto_store_begin_write_acks(s);
    int own_time = 0;             /* a submission without a time of its own */
    for (size_t i = 0; i < n; i++)
        own_time |= subs[i].result == SOTTO_STORE_OK && !subs[i].preassigned;
    if (e == SOTTO_STORE_OK && valid_subs > 0 && (e = map_init(s)) == SOTTO_STORE_OK && own_time)
        e = monotonic_now(s, &now);
    if (e != SOTTO_STORE_OK) {
        sotto_store_rollback(s);
        fail_all(subs, n, e);
        fail_acks(acks, n_acks, e);
        return e;
    }
    sqlite3_stmt *insert = NULL, *insert_seq = NULL;
    size_t used = 0;
    if (valid_subs > 0)
        e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_INSERT, &insert);
    if (e == SOTTO_STORE_OK && high > 0)
        e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_INSERT_SEQ, &insert_seq);
    for (size_t i = 0; i < n && e == SOTTO_STORE_OK; i++) {
        if (subs[i].result != SOTTO_STORE_OK)
            continue;
        sotto_store_recipient *r = NULL;
        if ((e = map_get(s, &used, subs[i].recipient, &r)) != SOTTO_STORE_OK)
            break;
        sotto_store_err res = store_submission(s, &subs[i], r,
                                               subs[i].preassigned ? insert_seq : insert, now);
        if (res != SOTTO_STORE_OK) {
            sotto_store_mismatch keep = subs[i].mismatch;
            clear_out(&subs[i]);
            if (res == SOTTO_STORE_ERR_DEVICE_MISMATCH)
                subs[i].mismatch = keep;
            subs[i].result = res;
            if (!submission_error(res))
                e = res;
        }
    }
    sotto_store_put(insert);
    sotto_store_put(insert_seq);
    if (e == SOTTO_STORE_OK && valid_subs > 0)
        e = flush_counters(s, used);
    /* Every seq handed out, refused or delivered ones too, stays below the
     * mark: an id never comes back for another envelope. */
    if (e == SOTTO_STORE_OK && high > 0)
        e = mark_seqs(s, high);
    /* Acks name envelopes that were delivered, so committed before this
     * transaction began: their place after the inserts changes nothing. */
    for (size_t i = 0; i < n_acks && e == SOTTO_STORE_OK; i++)
        if (acks[i].result == SOTTO_STORE_OK)
            e = apply_ack(s, &acks[i]);
    if (e == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
    if (e != SOTTO_STORE_OK) {
        sotto_store_rollback(s);
        fail_all(subs, n, e);
        fail_acks(acks, n_acks, e);
        return e;
    }
    s->recipients_done = used;
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
    e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_FETCH, &st);
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
        int legacy = sqlite3_column_type(st, 1) != SQLITE_NULL;
        if ((legacy && sqlite3_column_bytes(st, 1) != SOTTO_STORE_ENVELOPE_ID_BYTES) ||
            body_len <= 0 ||
            (size_t)body_len > SOTTO_STORE_MAX_ENVELOPE_BYTES ||
            (has_sender && sqlite3_column_bytes(st, 4) != SOTTO_STORE_UUID_BYTES)) {
            e = SOTTO_STORE_ERR_DB;
            break;
        }
        v->seq = (uint64_t)sqlite3_column_int64(st, 0);
        if (legacy)
            memcpy(v->id, sqlite3_column_blob(st, 1), SOTTO_STORE_ENVELOPE_ID_BYTES);
        else if ((e = sotto_store_envelope_id(s, (int64_t)v->seq, device_row, (size_t)body_len,
                                              v->id)) != SOTTO_STORE_OK)
            break;
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
    sotto_store_put(st);
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
    /* Only deletes: synchronous=NORMAL, as for an acks-only batch. */
    sotto_store_err e = sotto_store_begin_write_acks(s);
    if (e != SOTTO_STORE_OK)
        return e;
    int64_t device_row = 0;
    size_t total = 0;
    if ((e = sotto_store_lookup(s, uuid, device_id, NULL, &device_row)) == SOTTO_STORE_OK &&
        (e = delete_ids(s, device_row, ids, n, &total)) == SOTTO_STORE_OK)
        e = sotto_store_commit(s);
    if (e != SOTTO_STORE_OK)
        sotto_store_rollback(s);
    else if (deleted != NULL)
        *deleted = total;
    return e;
}

static sotto_store_err queue_length(sotto_store *s, int64_t device_row, int64_t *len)
{
    *len = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_LENGTH, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, device_row);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *len = sqlite3_column_int64(st, 0);
    else
        e = rc == SQLITE_DONE ? SOTTO_STORE_ERR_NOT_FOUND : sotto_store_db_err(rc);
    sotto_store_put(st);
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
        (e = queue_length(s, device_row, &len)) == SOTTO_STORE_OK)
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
    if ((e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_TOTAL, &st)) == SOTTO_STORE_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(st, 0);
            *count = v > 0 ? (uint64_t)v : 0;
        } else {
            e = sotto_store_db_err(rc);
        }
    }
    sotto_store_put(st);
    sotto_store_rollback(s);
    return e;
}

typedef struct {
    int64_t device_row;
    int64_t bytes;
} expired;

static int expired_cmp(const void *a, const void *b)
{
    int64_t x = ((const expired *)a)->device_row, y = ((const expired *)b)->device_row;
    return (x > y) - (x < y);
}

/* One chunk inside a write transaction: deletes up to
 * SOTTO_STORE_EXPIRE_CHUNK expired envelopes, the oldest seqs (created never
 * decreases along seq), and takes them off their devices' counters (one
 * update per device). Reads one envelope past the expired ones. */
static sotto_store_err expire_chunk(sotto_store *s, int64_t cutoff, expired *gone, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    sotto_store_err e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_OLDEST, &st);
    if (e != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, SOTTO_STORE_EXPIRE_CHUNK);
    int64_t last = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) { /* seq, device, created, length(body) */
        if (sqlite3_column_int64(st, 2) >= cutoff)
            break;
        if (*n == SOTTO_STORE_EXPIRE_CHUNK) {
            e = SOTTO_STORE_ERR_DB;
            break;
        }
        last = sqlite3_column_int64(st, 0);
        gone[*n].device_row = sqlite3_column_int64(st, 1);
        gone[*n].bytes = sqlite3_column_int64(st, 3);
        (*n)++;
    }
    if (e == SOTTO_STORE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = sotto_store_db_err(rc);
    sotto_store_put(st);
    if (e != SOTTO_STORE_OK || *n == 0)
        return e;
    if ((e = sotto_store_stmt(s, SOTTO_SQL_QUEUE_EXPIRE, &st)) != SOTTO_STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, last);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        e = sotto_store_db_err(rc);
    else if ((size_t)sqlite3_changes(s->db) != *n)
        e = SOTTO_STORE_ERR_DB;         /* the read and the delete disagree */
    sotto_store_put(st);
    if (e != SOTTO_STORE_OK)
        return e;
    qsort(gone, *n, sizeof *gone, expired_cmp);
    for (size_t i = 0; i < *n && e == SOTTO_STORE_OK;) {
        int64_t len = 0, bytes = 0;
        size_t j = i;
        for (; j < *n && gone[j].device_row == gone[i].device_row; j++) {
            len++;
            bytes += gone[j].bytes;
        }
        e = add_counters(s, gone[i].device_row, -len, -bytes);
        i = j;
    }
    return e;
}

sotto_store_err sotto_store_expire(sotto_store *s, uint64_t *deleted)
{
    if (deleted != NULL)
        *deleted = 0;
    if (s == NULL)
        return SOTTO_STORE_ERR_INVALID_ARGUMENT;
    expired *gone = malloc(SOTTO_STORE_EXPIRE_CHUNK * sizeof *gone);
    if (gone == NULL)
        return SOTTO_STORE_ERR_NO_MEMORY;
    /* Kept times are rounded down, so an envelope goes between
     * SOTTO_STORE_EXPIRY_SECONDS and that plus one granularity after it came. */
    int64_t cutoff = sotto_store_now(s) - SOTTO_STORE_EXPIRY_SECONDS;
    uint64_t total = 0;
    sotto_store_err e;
    for (;;) {
        /* Only deletes: synchronous=NORMAL; an expiry lost to a power cut
         * is simply done again by the next sweep. */
        if ((e = sotto_store_begin_write_acks(s)) != SOTTO_STORE_OK)
            break;
        size_t n = 0;
        if ((e = expire_chunk(s, cutoff, gone, &n)) != SOTTO_STORE_OK) {
            sotto_store_rollback(s);
            break;
        }
        if ((e = sotto_store_commit(s)) != SOTTO_STORE_OK)
            break;
        total += n;
        if (deleted != NULL)
            *deleted = total;
        if (n < SOTTO_STORE_EXPIRE_CHUNK)
            break;
    }
    free(gone);
    return e;
}
