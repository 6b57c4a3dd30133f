/* store_bench: the sottod store alone, per relayed envelope.
 *
 *   store_bench setup DIR ACCOUNTS
 *       creates ACCOUNTS accounts ("bench0", "bench1", ...; one device each)
 *       in the store directory DIR. Pays one Argon2id hash per account: run it
 *       outside valgrind.
 *   store_bench run DIR ACCOUNTS BATCH ROUNDS
 *       ROUNDS write batches of BATCH submissions (one 256-byte envelope each,
 *       account i writes to account i+1, round robin over the accounts), the
 *       way sottod's writer uses the store: each batch also carries the acks of
 *       everything the recipients fetched after the previous batch, then every
 *       recipient of the batch fetches its queue. A last batch carries only the
 *       acks. Fails unless every envelope was fetched once and the queues end
 *       empty.
 *   store_bench smoke
 *       setup + run with tiny counts in a temporary directory (ctest).
 *
 * Instructions per envelope (enqueued + fetched + acked):
 *   valgrind --tool=callgrind --toggle-collect=run_rounds store_bench run DIR 64 64 50
 * and divide the total Ir by the envelopes printed. Wall times printed are
 * for orientation only (they are mostly fsync).
 *
 * Measured (64 accounts, callgrind, instructions per envelope enqueued,
 * fetched and acked; "before" is the store of commit 1960a51):
 *   batch    1 (500 rounds): 757 K before, 141 K after (5.4x)
 *   batch   64  (50 rounds): 522 K before, 101 K after (5.2x)
 *   batch  512  (10 rounds): 262 K before,  66 K after (4.0x)
 * Before, sqlite3_prepare_v2 was 68% (batch 64); after, what is left is
 * SQLite's b-tree work: insert with its indexes, find + delete, the queue
 * counters (one narrow row per device per transaction), the device lookups. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store.h"

#define BENCH_MAX_ACCOUNTS 4096
#define BENCH_BODY_BYTES   256
#define BENCH_NAME_MAX     (SOTTO_STORE_USERNAME_MAX + 1)
#define BENCH_SECRET_BYTES 32

static void account_name(char out[BENCH_NAME_MAX], size_t i)
{
    snprintf(out, BENCH_NAME_MAX, "bench%zu", i);
}

static void account_secret(uint8_t out[BENCH_SECRET_BYTES], const char *name)
{
    crypto_generichash(out, BENCH_SECRET_BYTES, (const uint8_t *)name, strlen(name), NULL, 0);
}

static int setup(const char *dir, size_t accounts)
{
    sotto_store *s = NULL;
    sotto_store_err e = sotto_store_open(&s, dir);
    if (e != SOTTO_STORE_OK) {
        fprintf(stderr, "open %s: %s\n", dir, sotto_store_strerror(e));
        return 1;
    }
    sotto_store_signed_prekey spk = {.id = 1};
    sotto_store_kem_prekey lrk = {.id = 2};
    uint8_t identity[SOTTO_STORE_EC_KEY_BYTES] = {SOTTO_STORE_EC_KEY_TYPE};
    spk.key[0] = SOTTO_STORE_EC_KEY_TYPE;
    lrk.key[0] = SOTTO_STORE_KEM_KEY_TYPE;
    randombytes_buf(identity + 1, sizeof identity - 1);
    sotto_store_prekeys keys = {.signed_prekey = &spk, .last_resort = &lrk};
    int rc = 0;
    for (size_t i = 0; i < accounts && rc == 0; i++) {
        char name[BENCH_NAME_MAX];
        uint8_t secret[BENCH_SECRET_BYTES], uuid[SOTTO_STORE_UUID_BYTES];
        account_name(name, i);
        account_secret(secret, name);
        e = sotto_store_create_account(s, uuid, name, secret, sizeof secret, 1, identity, &keys);
        if (e != SOTTO_STORE_OK && e != SOTTO_STORE_ERR_USERNAME_TAKEN) {
            fprintf(stderr, "create %s: %s\n", name, sotto_store_strerror(e));
            rc = 1;
        }
    }
    sotto_store_close(s);
    return rc;
}

typedef struct {
    size_t accounts, batch, rounds;
    uint8_t (*uuid)[SOTTO_STORE_UUID_BYTES];
    sotto_store_submission *subs;
    sotto_store_outgoing *outs;
    sotto_store_ack_req *acks;               /* one per account at most */
    uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES]; /* accounts * SOTTO_STORE_MAX_ACKS */
    uint8_t *touched;                        /* per account: got envelopes this batch */
    uint8_t body[BENCH_BODY_BYTES];
    uint64_t enqueued, fetched, acked;
} bench;

/* Fetches every recipient's queue and turns what came into ack requests. */
static int fetch_all(sotto_store *s, bench *b, size_t *n_acks)
{
    *n_acks = 0;
    for (size_t a = 0; a < b->accounts; a++) {
        if (!b->touched[a])
            continue;
        b->touched[a] = 0;
        sotto_store_envelope *env = NULL;
        size_t n = 0;
        sotto_store_err e = sotto_store_fetch_queue(s, b->uuid[a], SOTTO_STORE_PRIMARY_DEVICE_ID,
                                                    0, SOTTO_STORE_MAX_ACKS, &env, &n);
        if (e != SOTTO_STORE_OK) {
            fprintf(stderr, "fetch: %s\n", sotto_store_strerror(e));
            return -1;
        }
        if (n == 0)
            continue;
        uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES] = b->ids + a * SOTTO_STORE_MAX_ACKS;
        for (size_t i = 0; i < n; i++)
            memcpy(ids[i], env[i].id, SOTTO_STORE_ENVELOPE_ID_BYTES);
        sotto_store_envelopes_free(env, n);
        sotto_store_ack_req *r = &b->acks[(*n_acks)++];
        memset(r, 0, sizeof *r);
        memcpy(r->uuid, b->uuid[a], SOTTO_STORE_UUID_BYTES);
        r->device_id = SOTTO_STORE_PRIMARY_DEVICE_ID;
        r->ids = (const uint8_t (*)[SOTTO_STORE_ENVELOPE_ID_BYTES])ids;
        r->n = n;
        b->fetched += n;
    }
    return 0;
}

static int check_batch(bench *b, size_t n_subs, size_t n_acks)
{
    for (size_t i = 0; i < n_subs; i++)
        if (b->subs[i].result != SOTTO_STORE_OK) {
            fprintf(stderr, "submission: %s\n", sotto_store_strerror(b->subs[i].result));
            return -1;
        }
    for (size_t i = 0; i < n_acks; i++) {
        if (b->acks[i].result != SOTTO_STORE_OK) {
            fprintf(stderr, "ack: %s\n", sotto_store_strerror(b->acks[i].result));
            return -1;
        }
        b->acked += b->acks[i].deleted;
    }
    return 0;
}

/* The measured part (callgrind --toggle-collect=run_rounds). */
__attribute__((noinline)) static int run_rounds(sotto_store *s, bench *b)
{
    size_t n_acks = 0, next = 0;
    for (size_t r = 0; r < b->rounds; r++) {
        for (size_t j = 0; j < b->batch; j++) {
            size_t from = next++ % b->accounts, to = (from + 1) % b->accounts;
            sotto_store_submission *sub = &b->subs[j];
            memset(sub, 0, sizeof *sub);
            memcpy(sub->recipient, b->uuid[to], SOTTO_STORE_UUID_BYTES);
            sub->has_sender = 1;
            memcpy(sub->sender, b->uuid[from], SOTTO_STORE_UUID_BYTES);
            sub->sender_device = SOTTO_STORE_PRIMARY_DEVICE_ID;
            b->outs[j] = (sotto_store_outgoing){.device_id = SOTTO_STORE_PRIMARY_DEVICE_ID,
                                                .type = 1, .body = b->body,
                                                .body_len = sizeof b->body};
            sub->envelopes = &b->outs[j];
            sub->count = 1;
            b->touched[to] = 1;
        }
        sotto_store_err e = sotto_store_write_batch(s, b->subs, b->batch, b->acks, n_acks);
        if (e != SOTTO_STORE_OK) {
            fprintf(stderr, "write_batch: %s\n", sotto_store_strerror(e));
            return -1;
        }
        if (check_batch(b, b->batch, n_acks) != 0)
            return -1;
        b->enqueued += b->batch;
        if (fetch_all(s, b, &n_acks) != 0)
            return -1;
    }
    if (n_acks > 0) {
        sotto_store_err e = sotto_store_write_batch(s, NULL, 0, b->acks, n_acks);
        if (e != SOTTO_STORE_OK || check_batch(b, 0, n_acks) != 0) {
            fprintf(stderr, "write_batch (acks): %s\n", sotto_store_strerror(e));
            return -1;
        }
    }
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run(const char *dir, size_t accounts, size_t batch, size_t rounds)
{
    if (accounts < 2 || accounts > BENCH_MAX_ACCOUNTS || batch == 0 ||
        batch > SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH || rounds == 0 ||
        (batch + accounts - 1) / accounts > SOTTO_STORE_MAX_ACKS) {
        fprintf(stderr, "run: 2..%d accounts, batch 1..%d, at most %d envelopes per account"
                " per batch\n", BENCH_MAX_ACCOUNTS, SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH,
                SOTTO_STORE_MAX_ACKS);
        return 2;
    }
    sotto_store *s = NULL;
    sotto_store_err e = sotto_store_open(&s, dir);
    if (e != SOTTO_STORE_OK) {
        fprintf(stderr, "open %s: %s\n", dir, sotto_store_strerror(e));
        return 1;
    }
    bench b = {.accounts = accounts, .batch = batch, .rounds = rounds};
    b.uuid = calloc(accounts, sizeof *b.uuid);
    b.subs = calloc(batch, sizeof *b.subs);
    b.outs = calloc(batch, sizeof *b.outs);
    b.acks = calloc(accounts, sizeof *b.acks);
    b.ids = calloc(accounts * SOTTO_STORE_MAX_ACKS, sizeof *b.ids);
    b.touched = calloc(accounts, 1);
    int rc = 1;
    if (b.uuid == NULL || b.subs == NULL || b.outs == NULL || b.acks == NULL || b.ids == NULL ||
        b.touched == NULL) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    randombytes_buf(b.body, sizeof b.body);
    for (size_t i = 0; i < accounts; i++) {
        char name[BENCH_NAME_MAX];
        sotto_store_account acc;
        account_name(name, i);
        if ((e = sotto_store_find_username(s, name, &acc)) != SOTTO_STORE_OK) {
            fprintf(stderr, "%s: %s (run setup first)\n", name, sotto_store_strerror(e));
            goto out;
        }
        memcpy(b.uuid[i], acc.uuid, SOTTO_STORE_UUID_BYTES);
    }
    uint64_t before = 0, after = 0;
    if ((e = sotto_store_queue_total(s, &before)) != SOTTO_STORE_OK || before != 0) {
        fprintf(stderr, "queues not empty at the start (%" PRIu64 ")\n", before);
        goto out;
    }
    double t0 = now_s();
    if (run_rounds(s, &b) != 0)
        goto out;
    double t1 = now_s();
    if ((e = sotto_store_queue_total(s, &after)) != SOTTO_STORE_OK || after != 0 ||
        b.fetched != b.enqueued || b.acked != b.enqueued) {
        fprintf(stderr, "lost or duplicated: enqueued %" PRIu64 " fetched %" PRIu64
                " acked %" PRIu64 " left %" PRIu64 "\n", b.enqueued, b.fetched, b.acked, after);
        goto out;
    }
    printf("store_bench accounts=%zu batch=%zu rounds=%zu envelopes=%" PRIu64
           " wall_s=%.3f us_per_envelope=%.1f\n", accounts, batch, rounds, b.enqueued,
           t1 - t0, (t1 - t0) * 1e6 / (double)b.enqueued);
    rc = 0;
out:
    free(b.uuid);
    free(b.subs);
    free(b.outs);
    free(b.acks);
    free(b.ids);
    free(b.touched);
    sotto_store_close(s);
    return rc;
}

static int smoke(void)
{
    char dir[] = "/tmp/sotto-store-bench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    int rc = setup(dir, 4);
    if (rc == 0)
        rc = run(dir, 4, 8, 5);
    static const char *const files[] = {"sottod.db", "sottod.db-wal", "sottod.db-shm"};
    char p[sizeof dir + 32];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return rc;
}

static int count_arg(const char *a, size_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(a, &end, 10);
    if (end == a || *end != '\0' || v == 0 || v > 1000000)
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    size_t accounts = 0, batch = 0, rounds = 0;
    if (argc == 2 && strcmp(argv[1], "smoke") == 0)
        return smoke();
    if (argc == 4 && strcmp(argv[1], "setup") == 0 && count_arg(argv[3], &accounts) == 0 &&
        accounts <= BENCH_MAX_ACCOUNTS)
        return setup(argv[2], accounts);
    if (argc == 6 && strcmp(argv[1], "run") == 0 && count_arg(argv[3], &accounts) == 0 &&
        count_arg(argv[4], &batch) == 0 && count_arg(argv[5], &rounds) == 0)
        return run(argv[2], accounts, batch, rounds);
    fprintf(stderr, "usage: store_bench setup DIR ACCOUNTS\n"
                    "       store_bench run DIR ACCOUNTS BATCH ROUNDS\n"
                    "       store_bench smoke\n");
    return 2;
}
