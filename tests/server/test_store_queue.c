/* sottod store: submissions, per-device queues, ack, limits, expiry,
 * restart and crash durability. */
#include "test_store_util.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "store_sqlite.h" /* statement cache, synchronous mode */

typedef struct {
    char *dir;
    sotto_store *s;
    uint8_t alice[16]; /* devices 1, 2, 3 */
    uint8_t bob[16];   /* device 1 */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tdir_make();
    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    tcreate(f->s, "alice", 0, 0, f->alice);
    assert_int_equal(tadd_device(f->s, f->alice, "alice-2"), 2);
    assert_int_equal(tadd_device(f->s, f->alice, "alice-3"), 3);
    tcreate(f->s, "bob", 0, 0, f->bob);
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

static sotto_store_submission sub_from(const uint8_t *sender, uint32_t sender_device,
                                       const uint8_t *recipient,
                                       const sotto_store_outgoing *env, size_t n)
{
    sotto_store_submission s;
    memset(&s, 0, sizeof s);
    memcpy(s.recipient, recipient, 16);
    if (sender != NULL) {
        s.has_sender = 1;
        memcpy(s.sender, sender, 16);
        s.sender_device = sender_device;
    }
    s.envelopes = env;
    s.count = n;
    s.result = SOTTO_STORE_ERR_COUNT_; /* must be overwritten */
    return s;
}

static uint32_t qcount(sotto_store *s, const uint8_t *a, uint32_t dev)
{
    uint32_t n = 0;
    assert_int_equal(sotto_store_queue_count(s, a, dev, &n), SOTTO_STORE_OK);
    return n;
}

static void assert_counters_match(const char *dir);

/* Seqs chosen by the caller (the server's early push): kept as given, the
 * time stored as given, a delivered envelope checked but never written, a
 * refused submission's seqs and every delivered seq still below the mark, so
 * neither an id nor a seq comes back; after a restart the next start is
 * above everything handed out, even with nothing committed in between. */
static void test_preassigned_seqs(void **state)
{
    fx *f = *state;
    uint64_t first = 0;
    int64_t newest = -1;
    assert_int_equal(sotto_store_seq_start(f->s, &first, &newest), SOTTO_STORE_OK);
    assert_int_equal(first, 1);            /* nothing was ever stored */
    assert_int_equal(newest, 0);
    uint8_t body[] = "pre";
    sotto_store_outgoing env[3];
    for (uint32_t d = 0; d < 3; d++)
        env[d] = (sotto_store_outgoing){.device_id = d + 1, .type = 1, .body = body,
                                        .body_len = 3};
    sotto_store_submission subs[3];
    subs[0] = sub_from(f->bob, 1, f->alice, env, 3);
    subs[1] = sub_from(f->bob, 1, f->alice, env, 2);           /* device 3 missing */
    subs[2] = sub_from(f->alice, 1, f->bob, env, 1);
    uint64_t q = first + 10;
    for (size_t i = 0; i < 3; i++) {
        subs[i].preassigned = 1;
        subs[i].timestamp = 7200;
        for (size_t j = 0; j < subs[i].count; j++)
            subs[i].seq[j] = q++;
    }
    subs[0].delivered[1] = 1;              /* alice's device 2 acked it already */
    subs[2].delivered[0] = 1;              /* and bob his */
    uint8_t want_id[SOTTO_STORE_ENVELOPE_ID_BYTES];
    assert_int_equal(sotto_store_write_batch(f->s, subs, 3, NULL, 0), SOTTO_STORE_OK);
    assert_int_equal(subs[0].result, SOTTO_STORE_OK);
    assert_int_equal(subs[1].result, SOTTO_STORE_ERR_DEVICE_MISMATCH);
    assert_int_equal(subs[2].result, SOTTO_STORE_OK);
    assert_int_equal(subs[0].seq[0], first + 10);
    assert_int_equal(subs[0].timestamp, 7200);
    /* The recipients' device sets as the batch saw them. */
    sotto_store_device_set sets[4];
    assert_int_equal(sotto_store_write_batch_devices(f->s, sets, 4), 2);
    assert_memory_equal(sets[0].uuid, f->alice, 16);
    assert_int_equal(sets[0].n, 3);
    assert_int_equal(sets[1].n, 1);
    /* The same rule on those sets, outside a batch: a duplicate device is
     * no match either, nor an account with no devices. */
    assert_true(sotto_store_devices_match(&subs[0], &sets[0]));
    assert_false(sotto_store_devices_match(&subs[1], &sets[0]));
    assert_false(sotto_store_devices_match(&subs[2], &sets[0]));
    assert_true(sotto_store_devices_match(&subs[2], &sets[1]));
    sotto_store_device_set d12 = sets[0];   /* devices 1 and 2 */
    d12.n = 2;
    sotto_store_submission pair = sub_from(f->bob, 1, f->alice, env, 2);
    assert_true(sotto_store_devices_match(&pair, &d12));
    sotto_store_outgoing dup[3] = {env[0], env[1], env[1]};
    sotto_store_submission twice = sub_from(f->bob, 1, f->alice, dup, 3);
    assert_false(sotto_store_devices_match(&twice, &d12));
    sotto_store_device_set none = sets[1];
    none.n = 0;
    assert_false(sotto_store_devices_match(&subs[2], &none));
    /* ids as the store makes them, for delivered ones too */
    for (size_t j = 0; j < 3; j++) {
        assert_int_equal(sotto_store_make_id(f->s, subs[0].seq[j], sets[0].row[j], 3, want_id),
                         SOTTO_STORE_OK);
        assert_memory_equal(want_id, subs[0].id[j], sizeof want_id);
        uint64_t oq = 0;
        int64_t orow = 0;
        size_t olen = 0;
        assert_int_equal(sotto_store_open_id(f->s, want_id, &oq, &orow, &olen), 1);
        assert_int_equal(oq, subs[0].seq[j]);
        assert_int_equal(orow, sets[0].row[j]);
        assert_int_equal(olen, 3);
    }
    want_id[3] ^= 1;
    uint64_t oq = 0;
    int64_t orow = 0;
    size_t olen = 0;
    assert_int_equal(sotto_store_open_id(f->s, want_id, &oq, &orow, &olen), 0);
    /* Written: alice 1 and 3, not 2 (delivered); nothing for bob. */
    assert_int_equal(qcount(f->s, f->alice, 1), 1);
    assert_int_equal(qcount(f->s, f->alice, 2), 0);
    assert_int_equal(qcount(f->s, f->alice, 3), 1);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->alice, 3, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].seq, first + 12);
    assert_int_equal(e[0].timestamp, 7200);
    assert_memory_equal(e[0].id, subs[0].id[2], SOTTO_STORE_ENVELOPE_ID_BYTES);
    sotto_store_envelopes_free(e, n);
    assert_counters_match(f->dir);
    /* Seqs must rise: a batch going back is refused whole. */
    sotto_store_submission back = sub_from(f->alice, 1, f->bob, env, 1);
    back.preassigned = 1;
    back.seq[0] = first + 3;
    sotto_store_submission fwd = sub_from(f->alice, 1, f->bob, env, 1);
    fwd.preassigned = 1;
    fwd.seq[0] = first + 2;
    sotto_store_submission two[2] = {back, fwd};
    assert_int_equal(sotto_store_write_batch(f->s, two, 2, NULL, 0),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
    /* A restart starts above every seq handed out (the refused and the
     * delivered ones included), twice in a row with nothing in between. */
    uint64_t high = q - 1, first2 = 0, first3 = 0;
    sotto_store_close(f->s);
    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_seq_start(f->s, &first2, &newest), SOTTO_STORE_OK);
    assert_true(first2 > high + SOTTO_STORE_SEQ_RESERVE - 1);
    assert_int_equal(newest, 7200);
    assert_int_equal(sotto_store_seq_start(f->s, &first3, &newest), SOTTO_STORE_OK);
    assert_true(first3 >= first2 + SOTTO_STORE_SEQ_RESERVE);
    /* and the store's own seqs (no preassignment) stay above too */
    sotto_store_submission plain = sub_from(f->alice, 1, f->bob, env, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &plain, 1), SOTTO_STORE_OK);
    assert_true(plain.seq[0] >= first3 + SOTTO_STORE_SEQ_RESERVE - 1);
}

static void test_device_mismatch(void **state)
{
    fx *f = *state;
    static const uint8_t body[] = "ciphertext";
    sotto_store_outgoing env[3] = {
        {.device_id = 1, .type = 1, .body = body, .body_len = sizeof body},
        {.device_id = 2, .type = 1, .body = body, .body_len = sizeof body},
        {.device_id = 4, .type = 1, .body = body, .body_len = sizeof body},
    };
    sotto_store_submission sub = sub_from(f->bob, 1, f->alice, env, 3);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_ERR_DEVICE_MISMATCH);
    assert_int_equal(sub.mismatch.missing_count, 1);
    assert_int_equal(sub.mismatch.missing[0], 3);
    assert_int_equal(sub.mismatch.extra_count, 1);
    assert_int_equal(sub.mismatch.extra[0], 4);
    for (uint32_t d = 1; d <= 3; d++)
        assert_int_equal(qcount(f->s, f->alice, d), 0);

    /* Only missing. */
    sub = sub_from(f->bob, 1, f->alice, env, 2);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_ERR_DEVICE_MISMATCH);
    assert_int_equal(sub.mismatch.missing_count, 1);
    assert_int_equal(sub.mismatch.extra_count, 0);
    assert_int_equal(qcount(f->s, f->alice, 1), 0);

    /* Exact set: stored. */
    env[2].device_id = 3;
    sub = sub_from(f->bob, 1, f->alice, env, 3);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_OK);
    assert_int_equal(sub.mismatch.missing_count + sub.mismatch.extra_count, 0);
    for (uint32_t d = 1; d <= 3; d++)
        assert_int_equal(qcount(f->s, f->alice, d), 1);

    /* To one's own account: every device but the sender's. */
    sub = sub_from(f->alice, 2, f->alice, env, 3);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_ERR_DEVICE_MISMATCH);
    assert_int_equal(sub.mismatch.missing_count, 0);
    assert_int_equal(sub.mismatch.extra_count, 1);
    assert_int_equal(sub.mismatch.extra[0], 2);
    sotto_store_outgoing self[2] = {env[0], env[2]};
    sub = sub_from(f->alice, 2, f->alice, self, 2);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_OK);
    assert_int_equal(qcount(f->s, f->alice, 1), 2);
    assert_int_equal(qcount(f->s, f->alice, 2), 1);
    assert_int_equal(qcount(f->s, f->alice, 3), 2);

    /* The same device twice, unknown recipient, empty submission. */
    sotto_store_outgoing twice[2] = {env[0], env[0]};
    sub = sub_from(f->alice, 1, f->bob, twice, 2);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_ERR_INVALID_ARGUMENT);
    uint8_t nobody[16] = {7};
    sub = sub_from(f->alice, 1, nobody, env, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_ERR_NOT_FOUND);
    sub = sub_from(f->alice, 1, f->bob, env, 0);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
}

static void test_batch_mixed(void **state)
{
    fx *f = *state;
    static const uint8_t b1[] = "one", b2[] = "two";
    sotto_store_outgoing to_bob = {.device_id = 1, .type = 3, .body = b1, .body_len = 3};
    sotto_store_outgoing to_bob2 = {.device_id = 1, .type = 1, .body = b2, .body_len = 3};
    sotto_store_outgoing wrong = {.device_id = 2, .type = 1, .body = b1, .body_len = 3};
    sotto_store_outgoing huge = {.device_id = 1, .type = 1, .body = b1,
                                 .body_len = SOTTO_STORE_MAX_ENVELOPE_BYTES + 1};
    sotto_store_submission subs[4] = {
        sub_from(f->alice, 1, f->bob, &to_bob, 1),
        sub_from(f->alice, 2, f->bob, &wrong, 1),
        sub_from(f->alice, 3, f->bob, &to_bob2, 1),
        sub_from(f->alice, 1, f->bob, &huge, 1),
    };
    assert_int_equal(sotto_store_enqueue_batch(f->s, subs, 4), SOTTO_STORE_OK);
    assert_int_equal(subs[0].result, SOTTO_STORE_OK);
    assert_int_equal(subs[1].result, SOTTO_STORE_ERR_DEVICE_MISMATCH);
    assert_int_equal(subs[1].mismatch.missing[0], 1);
    assert_int_equal(subs[1].mismatch.extra[0], 2);
    assert_int_equal(subs[2].result, SOTTO_STORE_OK);
    assert_int_equal(subs[3].result, SOTTO_STORE_ERR_TOO_LARGE);

    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(e[0].body, "one", 3);
    assert_int_equal(e[0].type, 3);
    assert_true(e[0].has_sender);
    assert_memory_equal(e[0].sender, f->alice, 16);
    assert_int_equal(e[0].sender_device, 1);
    assert_memory_equal(e[1].body, "two", 3);
    assert_int_equal(e[1].sender_device, 3);
    assert_true(e[1].seq > e[0].seq);
    assert_memory_not_equal(e[0].id, e[1].id, SOTTO_STORE_ENVELOPE_ID_BYTES);
    sotto_store_envelopes_free(e, n);

    /* Batch-level limits. */
    assert_int_equal(sotto_store_enqueue_batch(f->s, subs, 0), SOTTO_STORE_ERR_INVALID_ARGUMENT);
    sotto_store_submission *many = calloc(SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH + 1,
                                          sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH; i++)
        many[i] = sub_from(f->alice, 1, f->bob, &to_bob, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, many,
                                               SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH + 1),
                     SOTTO_STORE_ERR_TOO_LARGE);
    assert_int_equal(many[0].result, SOTTO_STORE_ERR_TOO_LARGE);
    assert_int_equal(qcount(f->s, f->bob, 1), 2);
    /* A full-size batch in one transaction. */
    assert_int_equal(sotto_store_enqueue_batch(f->s, many, SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH),
                     SOTTO_STORE_OK);
    for (size_t i = 0; i < SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH; i++)
        assert_int_equal(many[i].result, SOTTO_STORE_OK);
    assert_int_equal(qcount(f->s, f->bob, 1), 2 + SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH);
    free(many);

    /* Too many envelopes in one submission. */
    sotto_store_outgoing lots[SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION + 1];
    for (size_t i = 0; i < sizeof lots / sizeof lots[0]; i++)
        lots[i] = (sotto_store_outgoing){.device_id = (uint32_t)i + 1, .type = 1,
                                         .body = b1, .body_len = 3};
    sotto_store_submission big = sub_from(f->bob, 1, f->alice, lots,
                                          SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION + 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &big, 1), SOTTO_STORE_OK);
    assert_int_equal(big.result, SOTTO_STORE_ERR_TOO_LARGE);
    assert_int_equal(qcount(f->s, f->alice, 1), 0);

    /* The largest allowed envelope goes in and comes back whole. */
    uint8_t *max = malloc(SOTTO_STORE_MAX_ENVELOPE_BYTES);
    assert_non_null(max);
    randombytes_buf(max, SOTTO_STORE_MAX_ENVELOPE_BYTES);
    sotto_store_outgoing m = {.device_id = 1, .type = 1, .body = max,
                              .body_len = SOTTO_STORE_MAX_ENVELOPE_BYTES};
    sotto_store_submission ms = sub_from(NULL, 0, f->bob, &m, 1); /* no sender recorded */
    assert_int_equal(sotto_store_enqueue_batch(f->s, &ms, 1), SOTTO_STORE_OK);
    assert_int_equal(ms.result, SOTTO_STORE_OK);
    uint64_t after = 0;
    for (;;) {
        assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, after, SOTTO_STORE_MAX_FETCH,
                                                 &e, &n), SOTTO_STORE_OK);
        assert_true(n > 0);
        after = e[n - 1].seq;
        if (e[n - 1].body_len == SOTTO_STORE_MAX_ENVELOPE_BYTES) {
            assert_memory_equal(e[n - 1].body, max, SOTTO_STORE_MAX_ENVELOPE_BYTES);
            assert_false(e[n - 1].has_sender);
            sotto_store_envelopes_free(e, n);
            break;
        }
        sotto_store_envelopes_free(e, n);
    }
    free(max);
}

static void test_order_cursor_ack(void **state)
{
    fx *f = *state;
    enum { N = 7 };
    for (int i = 0; i < N; i++) {
        uint8_t body[16];
        snprintf((char *)body, sizeof body, "m%d", i);
        sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = 3};
        sotto_store_submission sub = sub_from(f->alice, 1 + (uint32_t)(i % 3), f->bob, &o, 1);
        assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
        assert_int_equal(sub.result, SOTTO_STORE_OK);
    }
    /* Page through with limit 3: m0..m6 in order, nothing removed. */
    uint8_t ids[N][SOTTO_STORE_ENVELOPE_ID_BYTES];
    uint64_t after = 0;
    int got = 0;
    for (int page = 0; page < 4; page++) {
        sotto_store_envelope *e = NULL;
        size_t n = 0;
        assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, after, 3, &e, &n),
                         SOTTO_STORE_OK);
        for (size_t i = 0; i < n; i++) {
            char want[16];
            snprintf(want, sizeof want, "m%d", got);
            assert_memory_equal(e[i].body, want, 3);
            assert_true(e[i].seq > after);
            after = e[i].seq;
            memcpy(ids[got], e[i].id, sizeof ids[got]);
            got++;
        }
        if (n == 0)
            assert_null(e);
        sotto_store_envelopes_free(e, n);
    }
    assert_int_equal(got, N);
    assert_int_equal(qcount(f->s, f->bob, 1), N);

    /* Another device of another account cannot ack bob's envelope. */
    size_t deleted = 99;
    assert_int_equal(sotto_store_ack(f->s, f->alice, 1, (const uint8_t(*)[16])ids[2], 1,
                                     &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(qcount(f->s, f->bob, 1), N);

    /* Ack m2 only; then the first fetch shows m0, m1, m3. */
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])ids[2], 1,
                                     &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])ids[2], 1,
                                     &deleted), SOTTO_STORE_OK); /* duplicate: harmless */
    assert_int_equal(deleted, 0);
    assert_int_equal(qcount(f->s, f->bob, 1), N - 1);
    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 3, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(e[0].body, "m0", 2);
    assert_memory_equal(e[1].body, "m1", 2);
    assert_memory_equal(e[2].body, "m3", 2);
    sotto_store_envelopes_free(e, n);

    /* Ack the rest in one call (m2 again among them). */
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])ids, N, &deleted),
                     SOTTO_STORE_OK);
    assert_int_equal(deleted, N - 1);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 3, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 0);
    assert_null(e);

    /* Argument limits. */
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, SOTTO_STORE_MAX_FETCH + 1, &e,
                                             &n), SOTTO_STORE_ERR_TOO_LARGE);
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 0, &e, &n),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 2, 0, 1, &e, &n),
                     SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])ids,
                                     SOTTO_STORE_MAX_ACKS + 1, &deleted),
                     SOTTO_STORE_ERR_TOO_LARGE);
    assert_int_equal(sotto_store_ack(f->s, f->bob, 5, (const uint8_t(*)[16])ids, 1, &deleted),
                     SOTTO_STORE_ERR_NOT_FOUND);
}

/* Fills a device queue with raw rows up to `upto` (fast), for the limit test,
 * and adds them to the device's counters as the store would. */
static void fill_queue(const char *dir, const char *username, uint32_t device, int upto)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[640];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO envelopes (device, created, type, body)"
             " SELECT d.id, 0, 1, x'00' FROM n, devices d JOIN accounts a"
             " ON d.account = a.id WHERE a.username = '%s' AND d.device_id = %u",
             upto, username, device);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "INSERT INTO queues (device, len, bytes) SELECT id, %d, %d FROM devices"
             " WHERE device_id = %u AND account = (SELECT id FROM accounts WHERE username = '%s')"
             " ON CONFLICT (device) DO UPDATE SET len = len + excluded.len,"
             " bytes = bytes + excluded.bytes",
             upto, upto, device, username);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_queue_full(void **state)
{
    fx *f = *state;
    fill_queue(f->dir, "alice", 2, SOTTO_STORE_MAX_QUEUE_PER_DEVICE - 1);
    assert_int_equal(qcount(f->s, f->alice, 2), SOTTO_STORE_MAX_QUEUE_PER_DEVICE - 1);
    static const uint8_t body[] = "x";
    sotto_store_outgoing env[3] = {
        {.device_id = 1, .type = 1, .body = body, .body_len = 1},
        {.device_id = 2, .type = 1, .body = body, .body_len = 1},
        {.device_id = 3, .type = 1, .body = body, .body_len = 1},
    };
    sotto_store_submission sub = sub_from(f->bob, 1, f->alice, env, 3);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_OK); /* the last free slot */
    assert_int_equal(qcount(f->s, f->alice, 2), SOTTO_STORE_MAX_QUEUE_PER_DEVICE);

    /* Now device 2 is full: the whole submission is refused; devices 1 and 3
     * get nothing, nothing old is dropped. */
    sotto_store_submission subs[2] = {sub_from(f->bob, 1, f->alice, env, 3),
                                      sub_from(f->alice, 1, f->bob, env, 1)};
    assert_int_equal(sotto_store_enqueue_batch(f->s, subs, 2), SOTTO_STORE_OK);
    assert_int_equal(subs[0].result, SOTTO_STORE_ERR_QUEUE_FULL);
    assert_int_equal(subs[1].result, SOTTO_STORE_OK);
    assert_int_equal(qcount(f->s, f->alice, 1), 1);
    assert_int_equal(qcount(f->s, f->alice, 2), SOTTO_STORE_MAX_QUEUE_PER_DEVICE);
    assert_int_equal(qcount(f->s, f->alice, 3), 1);
    assert_int_equal(qcount(f->s, f->bob, 1), 1);
}

static void test_expiry(void **state)
{
    fx *f = *state;
    const int64_t hour = SOTTO_STORE_TIME_GRANULARITY_SECONDS;
    const int64_t h0 = 1700000000 / hour * hour;
    int64_t now = h0 + 1800; /* mid-hour */
    sotto_store_set_clock(f->s, tclock, &now);

    /* More than one chunk: the oldest rows, created = 0, long expired. */
    fill_queue(f->dir, "alice", 1, 2500);

    static const uint8_t body[] = "old";
    sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = 3};
    sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    now = h0 + 10 * 86400;
    sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    /* The clock steps back 5 days: the next envelope keeps the newest time
     * so far (created never decreases along the queue), so it is not
     * expired early below, only kept up to 5 days longer. */
    now = h0 + 5 * 86400;
    sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);

    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(e[0].timestamp, h0); /* rounded down to the hour */
    assert_int_equal(e[1].timestamp, h0 + 10 * 86400);
    assert_int_equal(e[2].timestamp, h0 + 10 * 86400);
    sotto_store_envelopes_free(e, n);

    uint64_t deleted = 99;
    now = h0 + SOTTO_STORE_EXPIRY_SECONDS; /* exactly 30 days after the kept time */
    assert_int_equal(sotto_store_expire(f->s, &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 2500);
    assert_int_equal(qcount(f->s, f->alice, 1), 0);
    now += 1;
    assert_int_equal(sotto_store_expire(f->s, &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(qcount(f->s, f->bob, 1), 2);
    assert_int_equal(sotto_store_expire(f->s, &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 0);
    now = h0 + 10 * 86400 + SOTTO_STORE_EXPIRY_SECONDS + 1;
    assert_int_equal(sotto_store_expire(f->s, &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
    assert_counters_match(f->dir);
}

static void test_reopen_keeps_queue(void **state)
{
    fx *f = *state;
    uint8_t ids[5][SOTTO_STORE_ENVELOPE_ID_BYTES];
    for (int i = 0; i < 5; i++) {
        uint8_t body[4] = {'r', (uint8_t)('0' + i), 0, 0};
        sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = 2};
        sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
        assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    }
    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 5);
    uint64_t last_seq = e[4].seq;
    for (int i = 0; i < 5; i++)
        memcpy(ids[i], e[i].id, sizeof ids[i]);
    sotto_store_envelopes_free(e, n);
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])ids, 1, NULL),
                     SOTTO_STORE_OK);

    sotto_store_close(f->s);
    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(e[i].id, ids[i + 1], SOTTO_STORE_ENVELOPE_ID_BYTES);
        assert_int_equal(e[i].body[1], '1' + i);
    }
    sotto_store_envelopes_free(e, n);

    /* Sequence numbers keep growing after restart and deletes. */
    sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = (const uint8_t *)"z",
                              .body_len = 1};
    sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, last_seq, 10, &e, &n),
                     SOTTO_STORE_OK);
    assert_int_equal(n, 1);
    assert_true(e[0].seq > last_seq);
    sotto_store_envelopes_free(e, n);
}

/* kill -9 in the middle of a burst loses nothing that was acknowledged: a
 * child enqueues batches and reports each committed total on a pipe; the
 * parent kills it mid-burst and counts what survived. */
#define CRASH_BATCH 16
#define CRASH_ACKED_BEFORE_KILL 40

static void crash_child(const char *dir, const uint8_t *alice, const uint8_t *bob, int fd)
{
    sotto_store *s = NULL;
    if (sotto_store_open(&s, dir) != SOTTO_STORE_OK)
        _exit(2);
    uint8_t body[64];
    memset(body, 'c', sizeof body);
    sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = sizeof body};
    sotto_store_submission subs[CRASH_BATCH];
    uint32_t total = 0;
    for (int round = 0; round < 100000; round++) {
        for (int i = 0; i < CRASH_BATCH; i++) {
            memset(&subs[i], 0, sizeof subs[i]);
            memcpy(subs[i].recipient, bob, 16);
            subs[i].has_sender = 1;
            memcpy(subs[i].sender, alice, 16);
            subs[i].sender_device = 1;
            subs[i].envelopes = &o;
            subs[i].count = 1;
        }
        if (sotto_store_enqueue_batch(s, subs, CRASH_BATCH) != SOTTO_STORE_OK)
            _exit(3);
        total += CRASH_BATCH; /* acknowledged only now, after the commit */
        if (write(fd, &total, sizeof total) != (ssize_t)sizeof total)
            _exit(4);
    }
    _exit(0);
}

static void test_kill9_keeps_acknowledged(void **state)
{
    fx *f = *state;
    /* No connection crosses the fork. */
    sotto_store_close(f->s);
    f->s = NULL;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        crash_child(f->dir, f->alice, f->bob, p[1]);
    }
    close(p[1]);
    uint32_t acked = 0, v;
    int reports = 0;
    while (reports < CRASH_ACKED_BEFORE_KILL && read(p[0], &v, sizeof v) == (ssize_t)sizeof v) {
        acked = v;
        reports++;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Reports already in the pipe were acknowledged too. */
    while (read(p[0], &v, sizeof v) == (ssize_t)sizeof v)
        acked = v;
    close(p[0]);
    assert_true(acked >= CRASH_ACKED_BEFORE_KILL * CRASH_BATCH);

    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    uint32_t have = qcount(f->s, f->bob, 1);
    print_message("acknowledged %u, found %u after kill -9\n", acked, have);
    assert_true(have >= acked);
    assert_true(have % CRASH_BATCH == 0); /* batches are all-or-nothing */
}

/* Two writers and one reader, each on its own thread and handle: the reader
 * gets every envelope exactly once (fetch, then ack), each writer's in the
 * order it wrote them. */
#define PC_WRITERS 2
#define PC_PER_WRITER 120
#define PC_BATCH 8
#define PC_MAX_POLLS 200000

typedef struct {
    const char *dir;
    const uint8_t *from;
    const uint8_t *to;
    int index;
    sotto_store_err err;
} pc_writer;

static void *pc_write(void *arg)
{
    pc_writer *w = arg;
    sotto_store *s = NULL;
    if ((w->err = sotto_store_open(&s, w->dir)) != SOTTO_STORE_OK)
        return NULL;
    uint8_t bodies[PC_BATCH][8];
    sotto_store_outgoing o[PC_BATCH];
    sotto_store_submission subs[PC_BATCH];
    for (int n = 0; n < PC_PER_WRITER && w->err == SOTTO_STORE_OK; n += PC_BATCH) {
        for (int i = 0; i < PC_BATCH; i++) {
            /* body: writer index, then the writer's sequence number */
            bodies[i][0] = (uint8_t)w->index;
            uint32_t seq = (uint32_t)(n + i);
            memcpy(&bodies[i][1], &seq, sizeof seq);
            o[i] = (sotto_store_outgoing){.device_id = 1, .type = 1, .body = bodies[i],
                                          .body_len = 5};
            memset(&subs[i], 0, sizeof subs[i]);
            memcpy(subs[i].recipient, w->to, 16);
            subs[i].has_sender = 1;
            memcpy(subs[i].sender, w->from, 16);
            subs[i].sender_device = 1;
            subs[i].envelopes = &o[i];
            subs[i].count = 1;
        }
        w->err = sotto_store_enqueue_batch(s, subs, PC_BATCH);
        for (int i = 0; i < PC_BATCH && w->err == SOTTO_STORE_OK; i++)
            w->err = subs[i].result;
    }
    sotto_store_close(s);
    return NULL;
}

typedef struct {
    const char *dir;
    const uint8_t *me;
    uint32_t next[PC_WRITERS]; /* next expected sequence number per writer */
    int out_of_order;
    sotto_store_err err;
} pc_reader;

static void *pc_read(void *arg)
{
    pc_reader *r = arg;
    sotto_store *s = NULL;
    if ((r->err = sotto_store_open(&s, r->dir)) != SOTTO_STORE_OK)
        return NULL;
    int total = 0;
    for (int polls = 0; polls < PC_MAX_POLLS && total < PC_WRITERS * PC_PER_WRITER &&
                        r->err == SOTTO_STORE_OK; polls++) {
        sotto_store_envelope *e = NULL;
        size_t n = 0;
        r->err = sotto_store_fetch_queue(s, r->me, 1, 0, 20, &e, &n);
        if (r->err != SOTTO_STORE_OK)
            break;
        if (n == 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES] = calloc(n, sizeof *ids);
        if (ids == NULL) {
            r->err = SOTTO_STORE_ERR_NO_MEMORY;
            sotto_store_envelopes_free(e, n);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t seq;
            int wi = e[i].body[0];
            memcpy(&seq, &e[i].body[1], sizeof seq);
            if (e[i].body_len != 5 || wi >= PC_WRITERS || seq != r->next[wi])
                r->out_of_order++;
            else
                r->next[wi]++;
            memcpy(ids[i], e[i].id, sizeof ids[i]);
        }
        size_t deleted = 0;
        r->err = sotto_store_ack(s, r->me, 1, (const uint8_t(*)[16])ids, n, &deleted);
        if (deleted != n)
            r->out_of_order++;
        total += (int)n;
        free(ids);
        sotto_store_envelopes_free(e, n);
    }
    sotto_store_close(s);
    return NULL;
}

static void test_concurrent_writers_reader(void **state)
{
    fx *f = *state;
    pc_writer w[PC_WRITERS];
    pc_reader r;
    memset(w, 0, sizeof w);
    memset(&r, 0, sizeof r);
    r.dir = f->dir;
    r.me = f->bob;
    pthread_t tw[PC_WRITERS], tr;
    assert_int_equal(pthread_create(&tr, NULL, pc_read, &r), 0);
    for (int i = 0; i < PC_WRITERS; i++) {
        w[i] = (pc_writer){.dir = f->dir, .from = f->alice, .to = f->bob, .index = i};
        assert_int_equal(pthread_create(&tw[i], NULL, pc_write, &w[i]), 0);
    }
    for (int i = 0; i < PC_WRITERS; i++)
        assert_int_equal(pthread_join(tw[i], NULL), 0);
    assert_int_equal(pthread_join(tr, NULL), 0);
    for (int i = 0; i < PC_WRITERS; i++) {
        assert_int_equal(w[i].err, SOTTO_STORE_OK);
        assert_int_equal(r.next[i], PC_PER_WRITER);
    }
    assert_int_equal(r.err, SOTTO_STORE_OK);
    assert_int_equal(r.out_of_order, 0);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
}

static void db_exec(const char *dir, const char *sql)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

/* The counters the store keeps agree with the rows. */
static void assert_counters_match(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT count(*) FROM devices d LEFT JOIN queues q ON q.device = d.id"
        " WHERE coalesce(q.len, 0) != (SELECT count(*) FROM envelopes WHERE device = d.id)"
        " OR coalesce(q.bytes, 0) !="
        " (SELECT coalesce(sum(length(body)), 0) FROM envelopes WHERE device = d.id)",
        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_queue_bytes_limit(void **state)
{
    fx *f = *state;
    static const uint8_t body[64] = {1};
    sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = 10};
    sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_counters_match(f->dir);
    /* Pretend bob's queue holds all but 10 bytes of the limit. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE queues SET bytes = %u - 10 WHERE device IN (SELECT d.id FROM devices d"
             " JOIN accounts a ON d.account = a.id WHERE a.username = 'bob')",
             SOTTO_STORE_MAX_QUEUE_BYTES_PER_DEVICE);
    db_exec(f->dir, sql);
    o.body_len = 11;
    sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_ERR_QUEUE_FULL);
    o.body_len = 10;
    sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_OK);
    assert_int_equal(qcount(f->s, f->bob, 1), 2);
}

/* Schema 1 -> 2 -> 3: a database written by the first schema is migrated on
 * open and its queues come through whole, with the counters recomputed. */
static void test_migration_from_v1(void **state)
{
    fx *f = *state;
    static const uint8_t body[40] = {2};
    sotto_store_outgoing o[3] = {
        {.device_id = 1, .type = 1, .body = body, .body_len = 40},
        {.device_id = 2, .type = 1, .body = body, .body_len = 30},
        {.device_id = 3, .type = 1, .body = body, .body_len = 20},
    };
    sotto_store_submission sub = sub_from(f->bob, 1, f->alice, o, 3);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    sub = sub_from(f->bob, 1, f->alice, o, 3);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    sotto_store_close(f->s);
    f->s = NULL;

    /* Put the file back into the version-1 shape, counters wrong on purpose,
     * with stored random envelope ids. */
    db_exec(f->dir,
            "BEGIN;"
            "DROP TABLE meta;"
            "DROP INDEX envelopes_legacy;"
            "ALTER TABLE envelopes RENAME COLUMN legacy_id TO envelope_id;"
            "UPDATE envelopes SET envelope_id = randomblob(16);"
            "CREATE UNIQUE INDEX envelopes_id ON envelopes (envelope_id);"
            "CREATE INDEX envelopes_age ON envelopes (created);"
            "CREATE INDEX envelopes_sender ON envelopes (sender_uuid) WHERE sender_uuid IS NOT NULL;"
            "DROP TABLE queues;"
            "ALTER TABLE devices ADD COLUMN queue_len INTEGER NOT NULL DEFAULT 0;"
            "CREATE TRIGGER envelopes_in AFTER INSERT ON envelopes BEGIN"
            "  UPDATE devices SET queue_len = queue_len + 1 WHERE id = NEW.device; END;"
            "CREATE TRIGGER envelopes_out AFTER DELETE ON envelopes BEGIN"
            "  UPDATE devices SET queue_len = queue_len - 1 WHERE id = OLD.device; END;"
            "UPDATE devices SET queue_len = 12345;"
            "PRAGMA user_version = 1;"
            "COMMIT;");

    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    int v = 0;
    assert_int_equal(sotto_store_schema_version(f->s, &v), SOTTO_STORE_OK);
    assert_int_equal(v, SOTTO_STORE_SCHEMA_VERSION);
    assert_counters_match(f->dir);
    assert_int_equal(qcount(f->s, f->alice, 1), 2);
    assert_int_equal(qcount(f->s, f->alice, 2), 2);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->alice, 3, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].body_len, 20);
    assert_memory_equal(e[0].sender, f->bob, 16);
    /* The store keeps both counters from here on. */
    assert_int_equal(sotto_store_ack(f->s, f->alice, 3, (const uint8_t(*)[16])e[0].id, 1, NULL),
                     SOTTO_STORE_OK);
    sotto_store_envelopes_free(e, n);
    assert_counters_match(f->dir);
}

/* Schema 4 -> 5: ids handed out under schema 4 (random, stored) are still
 * acknowledged after the migration; AUTOINCREMENT's high-water mark comes
 * through, so a seq (hence an id) deleted before the migration is never
 * handed out again; new ids work alongside the old ones. */
static void test_migration_from_v4(void **state)
{
    fx *f = *state;
    static const uint8_t body[24] = {4};
    sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = 24};
    for (int i = 0; i < 4; i++) {
        sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
        assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
        assert_int_equal(sub.result, SOTTO_STORE_OK);
    }
    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 4);
    uint64_t top = e[3].seq;
    /* The newest is acked: its seq is only in sqlite_sequence afterwards. */
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])e[3].id, 1, NULL),
                     SOTTO_STORE_OK);
    sotto_store_envelopes_free(e, n);
    sotto_store_close(f->s);
    f->s = NULL;

    /* Back to the schema-4 shape: random ids stored in a UNIQUE column. */
    db_exec(f->dir,
            "BEGIN;"
            "DROP TABLE meta;"
            "CREATE TABLE envelopes_v4 ("
            "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
            "  envelope_id BLOB NOT NULL UNIQUE CHECK (length(envelope_id) = 16),"
            "  created INTEGER NOT NULL, type INTEGER NOT NULL,"
            "  sender_uuid BLOB, sender_device INTEGER, body BLOB NOT NULL);"
            "INSERT INTO envelopes_v4 SELECT seq, device, randomblob(16), created, type,"
            "  sender_uuid, sender_device, body FROM envelopes;"
            "CREATE TEMP TABLE hwm AS SELECT seq FROM sqlite_sequence WHERE name = 'envelopes';"
            "DROP TABLE envelopes;"
            "ALTER TABLE envelopes_v4 RENAME TO envelopes;"
            "UPDATE sqlite_sequence SET seq = (SELECT seq FROM hwm) WHERE name = 'envelopes';"
            "CREATE INDEX envelopes_queue ON envelopes (device, seq);"
            "CREATE INDEX envelopes_age ON envelopes (created);"
            "PRAGMA user_version = 4;"
            "COMMIT;");
    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    int v = 0;
    assert_int_equal(sotto_store_schema_version(f->s, &v), SOTTO_STORE_OK);
    assert_int_equal(v, SOTTO_STORE_SCHEMA_VERSION);

    sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_OK);
    assert_true(sub.seq[0] > top);
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 4);                    /* three from before, one new */
    assert_int_equal(e[3].seq, sub.seq[0]);
    assert_memory_equal(e[3].id, sub.id[0], SOTTO_STORE_ENVELOPE_ID_BYTES);
    for (size_t i = 0; i < 3; i++)
        assert_memory_not_equal(e[i].id, sub.id[0], SOTTO_STORE_ENVELOPE_ID_BYTES);
    /* An old id and the new one in one ack; the other old ones after. */
    uint8_t ids[2][SOTTO_STORE_ENVELOPE_ID_BYTES];
    memcpy(ids[0], e[1].id, sizeof ids[0]);
    memcpy(ids[1], e[3].id, sizeof ids[1]);
    size_t deleted = 0;
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])ids, 2, &deleted),
                     SOTTO_STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(qcount(f->s, f->bob, 1), 2);
    memcpy(ids[0], e[0].id, sizeof ids[0]);
    memcpy(ids[1], e[2].id, sizeof ids[1]);
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])ids, 2, &deleted),
                     SOTTO_STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(qcount(f->s, f->bob, 1), 0);
    sotto_store_envelopes_free(e, n);
    assert_counters_match(f->dir);
}

/* An id deletes only its own envelope from its own device's queue: an id
 * acked by another device, an id with one bit changed, or a made-up one
 * deletes nothing. */
static void test_ack_foreign_and_forged_ids(void **state)
{
    fx *f = *state;
    static const uint8_t body[8] = {7};
    sotto_store_outgoing o[3] = {
        {.device_id = 1, .type = 1, .body = body, .body_len = 8},
        {.device_id = 2, .type = 1, .body = body, .body_len = 8},
        {.device_id = 3, .type = 1, .body = body, .body_len = 8},
    };
    sotto_store_submission sub = sub_from(f->bob, 1, f->alice, o, 3);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_OK);
    size_t deleted = 9;
    /* Device 2 acks device 1's id. */
    assert_int_equal(sotto_store_ack(f->s, f->alice, 2, (const uint8_t(*)[16])sub.id[0], 1,
                                     &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 0);
    /* One flipped bit, anywhere. */
    for (size_t bit = 0; bit < 8 * SOTTO_STORE_ENVELOPE_ID_BYTES; bit++) {
        uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES];
        memcpy(id, sub.id[0], sizeof id);
        id[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(sotto_store_ack(f->s, f->alice, 1, (const uint8_t(*)[16])id, 1,
                                         &deleted), SOTTO_STORE_OK);
        assert_int_equal(deleted, 0);
    }
    uint8_t made_up[SOTTO_STORE_ENVELOPE_ID_BYTES] = {0};
    assert_int_equal(sotto_store_ack(f->s, f->alice, 1, (const uint8_t(*)[16])made_up, 1,
                                     &deleted), SOTTO_STORE_OK);
    assert_int_equal(deleted, 0);
    for (uint32_t d = 1; d <= 3; d++)
        assert_int_equal(qcount(f->s, f->alice, d), 1);
    /* The right device with the right id. */
    for (uint32_t d = 1; d <= 3; d++) {
        assert_int_equal(sotto_store_ack(f->s, f->alice, d, (const uint8_t(*)[16])sub.id[d - 1],
                                         1, &deleted), SOTTO_STORE_OK);
        assert_int_equal(deleted, 1);
        assert_int_equal(qcount(f->s, f->alice, d), 0);
    }
    assert_counters_match(f->dir);
}

/* enqueue_batch reports what it stored (seq, id, time) exactly as a read of
 * the queue gives it back; a refused submission reports nothing. */
static void test_enqueue_reports_stored(void **state)
{
    fx *f = *state;
    uint8_t body[] = "hi";
    sotto_store_outgoing env[3];
    for (uint32_t d = 0; d < 3; d++)
        env[d] = (sotto_store_outgoing){.device_id = d + 1, .type = 3, .body = body,
                                        .body_len = 2};
    sotto_store_submission subs[3];
    subs[0] = sub_from(f->bob, 1, f->alice, env, 3);
    subs[1] = sub_from(f->bob, 1, f->alice, env, 2);          /* device 3 missing: refused */
    subs[2] = sub_from(f->bob, 1, f->alice, env, 3);
    memset(subs[1].seq, 0xff, sizeof subs[1].seq);
    assert_int_equal(sotto_store_enqueue_batch(f->s, subs, 3), SOTTO_STORE_OK);
    assert_int_equal(subs[0].result, SOTTO_STORE_OK);
    assert_int_equal(subs[1].result, SOTTO_STORE_ERR_DEVICE_MISMATCH);
    assert_int_equal(subs[2].result, SOTTO_STORE_OK);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(subs[1].seq[k], 0);
    for (uint32_t d = 1; d <= 3; d++) {
        sotto_store_envelope *e = NULL;
        size_t n = 0;
        assert_int_equal(sotto_store_fetch_queue(f->s, f->alice, d, 0, 10, &e, &n),
                         SOTTO_STORE_OK);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < 2; i++) {
            const sotto_store_submission *sub = &subs[i * 2];
            assert_int_equal(e[i].seq, sub->seq[d - 1]);
            assert_memory_equal(e[i].id, sub->id[d - 1], SOTTO_STORE_ENVELOPE_ID_BYTES);
            assert_int_equal(e[i].timestamp, sub->timestamp);
        }
        assert_true(e[0].seq < e[1].seq);
        sotto_store_envelopes_free(e, n);
    }
    /* The total over every device (what the queue-depth gauge starts from). */
    uint64_t total = 99;
    assert_int_equal(sotto_store_queue_total(f->s, &total), SOTTO_STORE_OK);
    assert_int_equal(total, 6);
    assert_int_equal(sotto_store_queue_total(f->s, NULL), SOTTO_STORE_ERR_INVALID_ARGUMENT);
}

/* Acks of several devices and a submission in one write batch (one
 * transaction): each ack deletes only its own device's envelopes, a bad ack
 * fails alone, and the submission is stored alongside. */
static void test_write_batch_multi_device_acks(void **state)
{
    fx *f = *state;
    uint8_t body[2][3] = {{'a', '0', 0}, {'a', '1', 0}};
    for (int r = 0; r < 2; r++) {
        sotto_store_outgoing env[3];
        for (uint32_t d = 0; d < 3; d++)
            env[d] = (sotto_store_outgoing){.device_id = d + 1, .type = 1, .body = body[r],
                                            .body_len = 2};
        sotto_store_submission sub = sub_from(f->bob, 1, f->alice, env, 3);
        assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
        assert_int_equal(sub.result, SOTTO_STORE_OK);
    }
    uint8_t ids[3][2][SOTTO_STORE_ENVELOPE_ID_BYTES];
    for (uint32_t d = 1; d <= 3; d++) {
        sotto_store_envelope *e = NULL;
        size_t n = 0;
        assert_int_equal(sotto_store_fetch_queue(f->s, f->alice, d, 0, 10, &e, &n),
                         SOTTO_STORE_OK);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++)
            memcpy(ids[d - 1][i], e[i].id, SOTTO_STORE_ENVELOPE_ID_BYTES);
        sotto_store_envelopes_free(e, n);
    }

    uint8_t nb[] = "b2";
    sotto_store_outgoing env[3];
    for (uint32_t d = 0; d < 3; d++)
        env[d] = (sotto_store_outgoing){.device_id = d + 1, .type = 1, .body = nb, .body_len = 2};
    sotto_store_submission sub = sub_from(f->bob, 1, f->alice, env, 3);
    sotto_store_ack_req acks[5];
    memset(acks, 0, sizeof acks);
    for (int i = 0; i < 5; i++)
        memcpy(acks[i].uuid, f->alice, 16);
    acks[0].device_id = 1;                       /* both of device 1 */
    acks[0].ids = (const uint8_t(*)[16])ids[0];
    acks[0].n = 2;
    acks[1].device_id = 2;                       /* the first of device 2 */
    acks[1].ids = (const uint8_t(*)[16])ids[1];
    acks[1].n = 1;
    acks[2].device_id = 3;                       /* device 1's ids from device 3: nothing */
    acks[2].ids = (const uint8_t(*)[16])ids[0];
    acks[2].n = 2;
    acks[3].device_id = 9;                       /* no such device: fails alone */
    acks[3].ids = (const uint8_t(*)[16])ids[2];
    acks[3].n = 1;
    acks[4].device_id = 3;                       /* no ids: fails alone */
    acks[4].ids = (const uint8_t(*)[16])ids[2];
    acks[4].n = 0;
    assert_int_equal(sotto_store_write_batch(f->s, &sub, 1, acks, 5), SOTTO_STORE_OK);
    assert_int_equal(sub.result, SOTTO_STORE_OK);
    assert_int_equal(acks[0].result, SOTTO_STORE_OK);
    assert_int_equal(acks[0].deleted, 2);
    assert_int_equal(acks[1].result, SOTTO_STORE_OK);
    assert_int_equal(acks[1].deleted, 1);
    assert_int_equal(acks[2].result, SOTTO_STORE_OK);
    assert_int_equal(acks[2].deleted, 0);
    assert_int_equal(acks[3].result, SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(acks[4].result, SOTTO_STORE_ERR_INVALID_ARGUMENT);
    assert_int_equal(qcount(f->s, f->alice, 1), 1);
    assert_int_equal(qcount(f->s, f->alice, 2), 2);
    assert_int_equal(qcount(f->s, f->alice, 3), 3);

    /* Device 2 keeps its order: a1, then b2. */
    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->alice, 2, 0, 10, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(e[0].body, "a1", 2);
    assert_memory_equal(e[1].body, "b2", 2);
    sotto_store_envelopes_free(e, n);

    /* Acks alone work too, and a repeated one is harmless. */
    assert_int_equal(sotto_store_write_batch(f->s, NULL, 0, acks, 2), SOTTO_STORE_OK);
    assert_int_equal(acks[0].deleted, 0);
    assert_int_equal(acks[1].deleted, 0);
    assert_int_equal(sotto_store_write_batch(f->s, NULL, 0, NULL, 0),
                     SOTTO_STORE_ERR_INVALID_ARGUMENT);
    /* Over the limit: refused whole, nothing deleted. */
    sotto_store_ack_req *many = calloc(SOTTO_STORE_MAX_ACK_REQS_PER_BATCH + 1, sizeof *many);
    assert_non_null(many);
    memcpy(many, acks, sizeof acks);
    assert_int_equal(sotto_store_write_batch(f->s, NULL, 0, many,
                                             SOTTO_STORE_MAX_ACK_REQS_PER_BATCH + 1),
                     SOTTO_STORE_ERR_TOO_LARGE);
    assert_int_equal(many[0].result, SOTTO_STORE_ERR_TOO_LARGE);
    free(many);
    assert_int_equal(qcount(f->s, f->alice, 3), 3);
}

/* A queue read that fails in the middle of its rows (a corrupt row) leaves
 * no statement stepping and no transaction open; the next calls work. */
static void test_statements_reset_on_error(void **state)
{
    fx *f = *state;
    static const uint8_t body[] = "b";
    sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = 1};
    for (int i = 0; i < 3; i++) {
        sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
        assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
        assert_int_equal(sub.result, SOTTO_STORE_OK);
    }
    /* The second envelope's body is made empty (never stored so). */
    db_exec(f->dir, "UPDATE envelopes SET body = x'' WHERE seq ="
                    " (SELECT seq FROM envelopes ORDER BY seq LIMIT 1 OFFSET 1)");
    sotto_store_envelope *e = (sotto_store_envelope *)1;
    size_t n = 99;
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 10, &e, &n), SOTTO_STORE_ERR_DB);
    assert_null(e);
    assert_int_equal(n, 0);
    assert_int_equal(sotto_store_stmts_busy(f->s), 0);
    assert_int_equal(sqlite3_get_autocommit(f->s->db), 1);
    /* Nothing holds a read snapshot: a full checkpoint from another
     * connection completes and empties the WAL. */
    char path[512];
    snprintf(path, sizeof path, "%s/sottod.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int log = -1, done = -1;
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done),
                     SQLITE_OK);
    sqlite3_close(db);
    /* A page that stops before the bad row still reads. */
    assert_int_equal(sotto_store_fetch_queue(f->s, f->bob, 1, 0, 1, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 1);
    sotto_store_envelopes_free(e, n);
    assert_int_equal(sotto_store_stmts_busy(f->s), 0);

    /* Taking a statement that is still stepping is refused (nested use),
     * and the rollback that ends the call resets it. */
    assert_int_equal(sotto_store_begin_read(f->s), SOTTO_STORE_OK);
    sqlite3_stmt *st = NULL, *again = (sqlite3_stmt *)1;
    assert_int_equal(sotto_store_stmt(f->s, SOTTO_SQL_QUEUE_FETCH, &st), SOTTO_STORE_OK);
    sqlite3_bind_int64(st, 1, 1);
    sqlite3_bind_int64(st, 2, 0);
    sqlite3_bind_int64(st, 3, 10);
    int64_t bob_row = 0;
    sotto_store_rollback(f->s);
    assert_int_equal(sotto_store_begin_read(f->s), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_lookup(f->s, f->bob, 1, NULL, &bob_row), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_stmt(f->s, SOTTO_SQL_QUEUE_FETCH, &st), SOTTO_STORE_OK);
    sqlite3_bind_int64(st, 1, bob_row);
    sqlite3_bind_int64(st, 2, 0);
    sqlite3_bind_int64(st, 3, 10);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sotto_store_stmts_busy(f->s), 1);
    assert_int_equal(sotto_store_stmt(f->s, SOTTO_SQL_QUEUE_FETCH, &again), SOTTO_STORE_ERR_DB);
    assert_null(again);
    sotto_store_rollback(f->s);
    assert_int_equal(sotto_store_stmts_busy(f->s), 0);
    assert_int_equal(sqlite3_get_autocommit(f->s->db), 1);
    /* Every other kind of call after the error works. */
    assert_int_equal(qcount(f->s, f->bob, 1), 3);
    uint64_t total = 0;
    assert_int_equal(sotto_store_queue_total(f->s, &total), SOTTO_STORE_OK);
    assert_int_equal(total, 3);
    assert_int_equal(sotto_store_stmts_busy(f->s), 0);
}

static int sync_mode(sotto_store *s)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(s->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

#define SYNC_NORMAL 1
#define SYNC_FULL   2

/* A transaction that only deletes acknowledged envelopes commits with
 * synchronous=NORMAL; every transaction that stores a message (or anything
 * else) runs with FULL, also right after an ack-only one. */
static void test_sync_per_transaction(void **state)
{
    fx *f = *state;
    assert_int_equal(sync_mode(f->s), SYNC_FULL);
    static const uint8_t body[] = "b";
    sotto_store_outgoing o = {.device_id = 1, .type = 1, .body = body, .body_len = 1};
    sotto_store_submission sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sync_mode(f->s), SYNC_FULL);

    sotto_store_ack_req ack = {.device_id = 1, .ids = (const uint8_t(*)[16])sub.id, .n = 1};
    memcpy(ack.uuid, f->bob, 16);
    assert_int_equal(sotto_store_write_batch(f->s, NULL, 0, &ack, 1), SOTTO_STORE_OK);
    assert_int_equal(ack.deleted, 1);
    assert_int_equal(sync_mode(f->s), SYNC_NORMAL);

    /* Acks riding with a submission: FULL for the whole commit. */
    sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_write_batch(f->s, &sub, 1, &ack, 1), SOTTO_STORE_OK);
    assert_int_equal(sync_mode(f->s), SYNC_FULL);
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])sub.id, 1, NULL),
                     SOTTO_STORE_OK);
    assert_int_equal(sync_mode(f->s), SYNC_NORMAL);
    tcreate(f->s, "carol", 0, 0, sub.recipient);
    assert_int_equal(sync_mode(f->s), SYNC_FULL);
    assert_int_equal(sotto_store_ack(f->s, f->bob, 1, (const uint8_t(*)[16])sub.id, 1, NULL),
                     SOTTO_STORE_OK);
    uint64_t gone = 0;
    assert_int_equal(sotto_store_expire(f->s, &gone), SOTTO_STORE_OK);
    assert_int_equal(sync_mode(f->s), SYNC_NORMAL);
    sub = sub_from(f->alice, 1, f->bob, &o, 1);
    assert_int_equal(sotto_store_enqueue_batch(f->s, &sub, 1), SOTTO_STORE_OK);
    assert_int_equal(sync_mode(f->s), SYNC_FULL);
    assert_counters_match(f->dir);
}

/* One batch with every outcome (stored, mismatch, unknown recipient, full
 * queue, acks of known, unknown and foreign envelopes), then expiry and a
 * device's removal: the counters the store keeps match the rows throughout,
 * and each refused submission stored nothing. */
static void test_counters_every_path(void **state)
{
    fx *f = *state;
    static const uint8_t body[100] = {7};
    sotto_store_outgoing three[3] = {
        {.device_id = 1, .type = 1, .body = body, .body_len = 10},
        {.device_id = 2, .type = 1, .body = body, .body_len = 20},
        {.device_id = 3, .type = 1, .body = body, .body_len = 30},
    };
    sotto_store_outgoing one = {.device_id = 1, .type = 1, .body = body, .body_len = 40};
    uint8_t nobody[16];
    memset(nobody, 0x42, sizeof nobody);
    fill_queue(f->dir, "alice", 3, SOTTO_STORE_MAX_QUEUE_PER_DEVICE - 1);
    sotto_store_submission subs[6] = {
        sub_from(f->bob, 1, f->alice, three, 3),      /* alice 3 reaches the maximum */
        sub_from(f->bob, 1, f->alice, three, 2),      /* mismatch */
        sub_from(f->alice, 1, nobody, &one, 1),       /* no such account */
        sub_from(f->alice, 1, f->bob, &one, 1),
        sub_from(f->bob, 1, f->alice, three, 3),      /* alice 3 full now: refused */
        sub_from(f->alice, 1, f->bob, &one, 1),
    };
    int64_t now = 1700000000;
    sotto_store_set_clock(f->s, tclock, &now);
    assert_int_equal(sotto_store_enqueue_batch(f->s, subs, 6), SOTTO_STORE_OK);
    static const sotto_store_err want[6] = {
        SOTTO_STORE_OK, SOTTO_STORE_ERR_DEVICE_MISMATCH, SOTTO_STORE_ERR_NOT_FOUND,
        SOTTO_STORE_OK, SOTTO_STORE_ERR_QUEUE_FULL, SOTTO_STORE_OK};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(subs[i].result, want[i]);
    assert_int_equal(qcount(f->s, f->alice, 1), 1);
    assert_int_equal(qcount(f->s, f->alice, 2), 1);
    assert_int_equal(qcount(f->s, f->alice, 3), SOTTO_STORE_MAX_QUEUE_PER_DEVICE);
    assert_int_equal(qcount(f->s, f->bob, 1), 2);
    assert_counters_match(f->dir);

    /* Acks: bob's first, alice 1's own, bob's id sent as alice 2 (not hers:
     * nothing goes), an unknown device. */
    sotto_store_ack_req acks[4];
    memset(acks, 0, sizeof acks);
    memcpy(acks[0].uuid, f->bob, 16);
    acks[0].device_id = 1;
    acks[0].ids = (const uint8_t(*)[16])subs[3].id;
    acks[0].n = 1;
    memcpy(acks[1].uuid, f->alice, 16);
    acks[1].device_id = 1;
    acks[1].ids = (const uint8_t(*)[16])subs[0].id[0];
    acks[1].n = 1;
    memcpy(acks[2].uuid, f->alice, 16);
    acks[2].device_id = 2;
    acks[2].ids = (const uint8_t(*)[16])subs[5].id;
    acks[2].n = 1;
    memcpy(acks[3].uuid, f->alice, 16);
    acks[3].device_id = 9;
    acks[3].ids = (const uint8_t(*)[16])subs[5].id;
    acks[3].n = 1;
    sotto_store_submission more = sub_from(f->alice, 1, f->bob, &one, 1);
    assert_int_equal(sotto_store_write_batch(f->s, &more, 1, acks, 4), SOTTO_STORE_OK);
    assert_int_equal(more.result, SOTTO_STORE_OK);
    assert_int_equal(acks[0].deleted, 1);
    assert_int_equal(acks[1].deleted, 1);
    assert_int_equal(acks[2].deleted, 0);
    assert_int_equal(acks[3].result, SOTTO_STORE_ERR_NOT_FOUND);
    assert_int_equal(qcount(f->s, f->bob, 1), 2);
    assert_int_equal(qcount(f->s, f->alice, 1), 0);
    assert_counters_match(f->dir);

    /* Expiry (fill_queue rows are from 1970), then a device goes. */
    uint64_t gone = 0;
    assert_int_equal(sotto_store_expire(f->s, &gone), SOTTO_STORE_OK);
    assert_int_equal(gone, SOTTO_STORE_MAX_QUEUE_PER_DEVICE - 1);
    assert_int_equal(qcount(f->s, f->alice, 3), 1);
    assert_counters_match(f->dir);
    assert_int_equal(sotto_store_remove_device(f->s, f->alice, 3), SOTTO_STORE_OK);
    assert_counters_match(f->dir);
    uint64_t total = 0;
    assert_int_equal(sotto_store_queue_total(f->s, &total), SOTTO_STORE_OK);
    assert_int_equal(total, 3); /* alice 2: 1, bob: 2 */
    assert_int_equal(sotto_store_stmts_busy(f->s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_device_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_cursor_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_batch_multi_device_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_reports_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_keeps_acknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bytes_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_foreign_and_forged_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statements_reset_on_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_per_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_every_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preassigned_seqs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
