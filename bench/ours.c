/* libsotto's four figures, through its public API only, as an application
 * would call it: Alice processes Bob's bundle and sends; Bob reads the ids
 * of the prekey message, supplies his private halves, and decrypts. Bob's
 * prekeys are reused by every setup op (an application would delete the
 * one-time ones; that costs nothing here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "bench.h"
#include "sotto/sotto.h"

#define OURS_CT_CAP 4096 /* >= sotto_session_ciphertext_bound(BENCH_MSG_BYTES) */
#define OURS_SPK_ID 3
#define OURS_OPK_ID 7
#define OURS_KPK_ID 11

typedef struct ours {
    sotto_identity *alice_id, *bob_id;
    sotto_bundle bundle;          /* Bob's, public */
    sotto_prekey_secrets secrets; /* Bob's private halves */
    sotto_session *alice, *bob;   /* Alice's record of Bob and Bob's of Alice */
    uint8_t msg[BENCH_MSG_BYTES];
    uint8_t pt[OURS_CT_CAP];
    /* Decrypt figure: the batch's ciphertexts back to back (as compact as
     * libsignal-protocol-c's heap buffers, so neither side pays for a
     * sparser layout), their offsets and lengths. */
    uint8_t *pending;
    size_t *pending_off, *pending_len;
    unsigned max_pending;
    int turn;                     /* ping-pong: 1 = Bob sends next */
} ours;

static int make_bob(ours *o)
{
    sotto_bundle *b = &o->bundle;
    sotto_prekey_secrets *k = &o->secrets;
    if (sotto_identity_generate(&o->bob_id, 4242) != SOTTO_OK ||
        sotto_identity_generate(&o->alice_id, 2424) != SOTTO_OK)
        return -1;
    b->registration_id = 4242;
    b->device_id = 1;
    sotto_identity_public_key(o->bob_id, b->identity_key);
    b->has_pre_key = k->has_pre_key = 1;
    b->pre_key_id = k->pre_key_id = OURS_OPK_ID;
    b->signed_pre_key_id = k->signed_pre_key_id = OURS_SPK_ID;
    b->kyber_pre_key_id = k->kyber_pre_key_id = OURS_KPK_ID;
    if (sotto_ec_keypair(b->pre_key, k->pre_key_private) != SOTTO_OK ||
        sotto_ec_keypair(b->signed_pre_key, k->signed_pre_key_private) != SOTTO_OK ||
        sotto_kyber_keypair(b->kyber_pre_key, k->kyber_pre_key_secret) != SOTTO_OK ||
        sotto_identity_sign(o->bob_id, b->signed_pre_key_signature, b->signed_pre_key,
                            sizeof b->signed_pre_key) != SOTTO_OK ||
        sotto_identity_sign(o->bob_id, b->kyber_pre_key_signature, b->kyber_pre_key,
                            sizeof b->kyber_pre_key) != SOTTO_OK)
        return -1;
    memcpy(k->pre_key_public, b->pre_key, sizeof b->pre_key);
    memcpy(k->signed_pre_key_public, b->signed_pre_key, sizeof b->signed_pre_key);
    return 0;
}

static int encrypt_one(ours *o, sotto_session *s, const sotto_identity *us, size_t len,
                       uint8_t *out, size_t *out_len, int *type)
{
    return sotto_session_encrypt(s, us, o->msg, len, out, OURS_CT_CAP, out_len, type) == SOTTO_OK
               ? 0 : -1;
}

static int decrypt_one(ours *o, sotto_session *s, const sotto_identity *us, int type,
                       const uint8_t *ct, size_t ct_len, size_t want)
{
    size_t n = 0;
    const sotto_prekey_secrets *keys = NULL;
    if (type == SOTTO_MSG_PREKEY) {
        sotto_prekey_ids ids;
        if (sotto_prekey_message_ids(ct, ct_len, &ids) != SOTTO_OK ||
            ids.signed_pre_key_id != OURS_SPK_ID || ids.kyber_pre_key_id != OURS_KPK_ID)
            return -1;
        keys = &o->secrets;
    }
    if (sotto_session_decrypt(s, us, keys, type, ct, ct_len, o->pt, sizeof o->pt, &n) != SOTTO_OK)
        return -1;
    return n == want ? 0 : -1;
}

/* The SPQR epoch a SignalMessage carries: version byte, protobuf, 8-byte MAC;
 * field 5 (pq_ratchet) = 0x01 || varint epoch || ... -1 when absent or not
 * parseable (tests/interop/driver.js spqrEpoch does the same). */
#define OURS_MAC_BYTES 8
#define OURS_PQ_FIELD  5
static int64_t read_varint(const uint8_t *p, size_t n, size_t *at)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *at < n && shift < 64; shift += 7) {
        uint8_t b = p[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v > INT64_MAX ? -1 : (int64_t)v;
    }
    return -1;
}

static int64_t message_epoch(const uint8_t *ct, size_t ct_len)
{
    if (ct_len < 1 + OURS_MAC_BYTES)
        return -1;
    size_t n = ct_len - OURS_MAC_BYTES, at = 1;
    while (at < n) {
        int64_t key = read_varint(ct, n, &at);
        if (key < 0)
            return -1;
        uint64_t field = (uint64_t)key >> 3, wire = (uint64_t)key & 7;
        if (wire == 0) {
            if (read_varint(ct, n, &at) < 0)
                return -1;
        } else if (wire == 2) {
            int64_t len = read_varint(ct, n, &at);
            if (len < 0 || (uint64_t)len > n - at)
                return -1;
            if (field == OURS_PQ_FIELD) {
                size_t e = at + 1, end = at + (size_t)len;
                return len >= 2 && ct[at] == 1 ? read_varint(ct, end, &e) : -1;
            }
            at += (size_t)len;
        } else {
            return -1;
        }
    }
    return -1;
}

static int send_one_epoch(ours *o, int from_bob, size_t len, int64_t *epoch);
static int send_one(ours *o, int from_bob, size_t len)
{
    return send_one_epoch(o, from_bob, len, NULL);
}

static int send_one_epoch(ours *o, int from_bob, size_t len, int64_t *epoch)
{
    uint8_t ct[OURS_CT_CAP];
    size_t ct_len = 0;
    int type = 0;
    sotto_session *src = from_bob ? o->bob : o->alice, *dst = from_bob ? o->alice : o->bob;
    const sotto_identity *sid = from_bob ? o->bob_id : o->alice_id;
    const sotto_identity *did = from_bob ? o->alice_id : o->bob_id;
    if (encrypt_one(o, src, sid, len, ct, &ct_len, &type) != 0)
        return -1;
    if (epoch)
        *epoch = type == SOTTO_MSG_WHISPER ? message_epoch(ct, ct_len) : -1;
    return decrypt_one(o, dst, did, type, ct, ct_len, len);
}

static void drop_sessions(ours *o)
{
    sotto_session_free(o->alice);
    sotto_session_free(o->bob);
    o->alice = o->bob = NULL;
}

/* Fresh records; bundle; first message; optionally Bob's reply. */
static int handshake(ours *o, size_t first_len, int reply)
{
    drop_sessions(o);
    if (sotto_session_new(&o->alice) != SOTTO_OK || sotto_session_new(&o->bob) != SOTTO_OK ||
        sotto_session_process_bundle(o->alice, o->alice_id, &o->bundle) != SOTTO_OK ||
        send_one(o, 0, first_len) != 0)
        return -1;
    return reply ? send_one(o, 1, BENCH_MSG_BYTES) : 0;
}

static uint64_t batch_setup(ours *o, unsigned n)
{
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++)
        if (handshake(o, BENCH_SETUP_MSG_BYTES, 0) != 0)
            return 0;
    return bench_now_ns() - t0;
}

static uint64_t batch_encrypt(ours *o, unsigned n)
{
    uint8_t ct[OURS_CT_CAP];
    size_t ct_len;
    int type;
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++)
        if (encrypt_one(o, o->alice, o->alice_id, BENCH_MSG_BYTES, ct, &ct_len, &type) != 0 ||
            type != SOTTO_MSG_WHISPER)
            return 0;
    return bench_now_ns() - t0;
}

static uint64_t batch_decrypt(ours *o, unsigned n)
{
    uint8_t ct[OURS_CT_CAP];
    size_t off = 0;
    int type;
    if (n > o->max_pending)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        if (encrypt_one(o, o->alice, o->alice_id, BENCH_MSG_BYTES, ct, &o->pending_len[i],
                        &type) != 0)
            return 0;
        memcpy(o->pending + off, ct, o->pending_len[i]);
        o->pending_off[i] = off;
        off += o->pending_len[i];
    }
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++)
        if (decrypt_one(o, o->bob, o->bob_id, SOTTO_MSG_WHISPER, o->pending + o->pending_off[i],
                        o->pending_len[i], BENCH_MSG_BYTES) != 0)
            return 0;
    return bench_now_ns() - t0;
}

static uint64_t batch_pingpong(ours *o, unsigned n)
{
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++) {
        if (send_one(o, o->turn, BENCH_MSG_BYTES) != 0)
            return 0;
        o->turn ^= 1;
    }
    return bench_now_ns() - t0;
}

static uint64_t part_batch(void *ctx, bench_figure f, unsigned n)
{
    ours *o = ctx;
    switch (f) {
    case FIG_SETUP: return batch_setup(o, n);
    case FIG_ENCRYPT: return batch_encrypt(o, n);
    case FIG_DECRYPT: return batch_decrypt(o, n);
    case FIG_PINGPONG: return batch_pingpong(o, n);
    case FIG_COUNT_: break;
    }
    return 0;
}

/* A session both ways, so Alice sends SignalMessages; Bob replied last, so
 * Alice starts the ping-pong and every message is a ratchet step. */
static int part_prepare(void *ctx, bench_figure f)
{
    ours *o = ctx;
    o->turn = 0;
    return f == FIG_SETUP ? 0 : handshake(o, BENCH_MSG_BYTES, 1);
}

/* Ping-pong until the highest SPQR epoch either side sends has advanced by
 * `epochs` (at least); *msgs: the messages it took. Starts and ends right
 * after a message that advanced it. The timed nanoseconds, 0 on failure. */
static uint64_t epoch_batch(ours *o, unsigned epochs, int64_t *top, unsigned *msgs)
{
    int64_t goal = *top + (int64_t)epochs, e;
    unsigned n = 0;
    uint64_t t0 = bench_now_ns();
    while (*top < goal) {
        if (n >= BENCH_EPOCH_MAX_MSGS || send_one_epoch(o, o->turn, BENCH_MSG_BYTES, &e) != 0)
            break;
        o->turn ^= 1;
        n++;
        if (e > *top)
            *top = e;
    }
    uint64_t ns = bench_now_ns() - t0;
    *msgs = n;
    return *top >= goal && ns ? ns : 0;
}

int bench_sotto_epoch(void *ctx, unsigned epochs, unsigned batches)
{
    ours *o = ctx;
    double us[BENCH_MAX_BATCHES];
    unsigned msgs = 0, all_msgs = 0, all_epochs = 0;
    int64_t top = -1;
    if (batches > BENCH_MAX_BATCHES || handshake(o, BENCH_MSG_BYTES, 1) != 0)
        return -1;
    o->turn = 0;
    /* Up to the first advance, then one warm-up batch. */
    if (epoch_batch(o, 1, &top, &msgs) == 0 || epoch_batch(o, epochs, &top, &msgs) == 0)
        return -1;
    for (unsigned b = 0; b < batches; b++) {
        int64_t before = top;
        uint64_t ns = epoch_batch(o, epochs, &top, &msgs);
        if (ns == 0)
            return -1;
        unsigned k = (unsigned)(top - before);
        us[b] = (double)ns / 1e3 / k;
        all_msgs += msgs;
        all_epochs += k;
    }
    printf("epoch sotto %.2f\n", bench_median(us, batches));
    printf("epoch_msgs sotto %.1f\n", (double)all_msgs / all_epochs);
    return 0;
}

static void part_close(void *ctx)
{
    ours *o = ctx;
    drop_sessions(o);
    sotto_identity_free(o->alice_id);
    sotto_identity_free(o->bob_id);
    free(o->pending);
    free(o->pending_off);
    free(o->pending_len);
    sodium_memzero(&o->secrets, sizeof o->secrets);
    free(o);
}

int bench_sotto_open(bench_part *p, const bench_cfg *cfg)
{
    ours *o = calloc(1, sizeof *o);
    if (!o)
        return -1;
    *p = (bench_part){ .impl = "sotto", .ctx = o, .prepare = part_prepare,
                       .batch = part_batch, .close = part_close };
    o->max_pending = cfg->iters[FIG_DECRYPT];
    for (size_t i = 0; i < sizeof o->msg; i++)
        o->msg[i] = (uint8_t)i;
    o->pending = malloc((size_t)o->max_pending * OURS_CT_CAP);
    o->pending_off = malloc((size_t)o->max_pending * sizeof *o->pending_off);
    o->pending_len = malloc((size_t)o->max_pending * sizeof *o->pending_len);
    if (sotto_session_ciphertext_bound(BENCH_MSG_BYTES) > OURS_CT_CAP || !o->pending ||
        !o->pending_off || !o->pending_len || sotto_init() != SOTTO_OK || make_bob(o) != 0) {
        fprintf(stderr, "sotto-bench: libsotto failed to set up\n");
        part_close(o);
        return -1;
    }
    return 0;
}
