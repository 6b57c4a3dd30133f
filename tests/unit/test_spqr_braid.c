/* SPQR v1 braid, both sides in C: the numbered cases of the state machine
 * (states.rs), then two parties over channels that lose, reorder and
 * duplicate messages while chunks are in flight; every message that arrives
 * once must give the sender's key, a repeat must be refused, and the epoch
 * must advance on both sides. Saved and loaded mid-way. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/primitives.h"
#include "protocol/spqr.h"
#include "protocol/spqr_braid.h"

#define MAX_INFLIGHT 4096

typedef struct {
    uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX];
    size_t len;
    uint8_t key[32];
    uint64_t epoch;
    int dup; /* a second copy: must be refused */
} pkt;

typedef struct {
    pkt q[MAX_INFLIGHT];
    size_t n;
} chan;

static const uint8_t AUTH[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static int setup(void **state)
{
    (void)state;
    return sotto_init() == SOTTO_OK ? 0 : -1;
}

static uint64_t msg_epoch(const pkt *p)
{
    sotto_spqr_braid_msg m;
    assert_int_equal(sotto_spqr_braid_msg_parse(&m, p->msg, p->len), SOTTO_OK);
    return m.epoch;
}

static void send_one(sotto_spqr_braid *b, chan *c)
{
    assert_true(c->n < MAX_INFLIGHT);
    pkt *p = &c->q[c->n++];
    int has = 0;
    memset(p, 0, sizeof *p);
    assert_int_equal(sotto_spqr_braid_send(b, p->msg, &p->len, p->key, &has), SOTTO_OK);
    assert_int_equal(has, 1);
    p->epoch = msg_epoch(p);
}

/* Delivers the first min(n, window) messages in flight in a random order
 * (window 0 or 1: in order), so no message moves more than `window` places;
 * drop_pct of them are lost, dup_pct come back once more at the end. */
static void deliver_block(sotto_spqr_braid *b, chan *c, unsigned window, unsigned drop_pct,
                          unsigned dup_pct, uint64_t *max_epoch)
{
    size_t w = window <= 1 ? 1 : (c->n < window ? c->n : window);
    static pkt block[MAX_INFLIGHT];
    if (c->n == 0)
        return;
    memcpy(block, c->q, w * sizeof c->q[0]);
    memmove(&c->q[0], &c->q[w], (c->n - w) * sizeof c->q[0]);
    c->n -= w;
    for (size_t i = w; i > 1; i--) {
        size_t j = randombytes_uniform((uint32_t)i);
        pkt t = block[i - 1];
        block[i - 1] = block[j];
        block[j] = t;
    }
    for (size_t i = 0; i < w; i++) {
        pkt p = block[i];
        if (!p.dup && randombytes_uniform(100) < drop_pct)
            continue;
        uint8_t key[32];
        int has = 0;
        sotto_err e = sotto_spqr_braid_recv(b, p.msg, p.len, key, &has);
        if (p.dup) {
            assert_int_equal(e, SOTTO_ERR_DUPLICATE_MESSAGE);
            continue;
        }
        if (e != SOTTO_OK)
            print_message("recv failed: %d, message epoch %llu, receiver braid epoch %llu "
                          "state %d chain epoch %llu send epoch %llu links %u\n", e,
                          (unsigned long long)p.epoch, (unsigned long long)b->scka.epoch,
                          b->scka.state, (unsigned long long)b->chain.current_epoch,
                          (unsigned long long)b->chain.send_epoch, b->chain.n_links);
        assert_int_equal(e, SOTTO_OK);
        assert_int_equal(has, 1);
        assert_memory_equal(key, p.key, 32);
        if (p.epoch > *max_epoch)
            *max_epoch = p.epoch;
        if (randombytes_uniform(100) < dup_pct && c->n < MAX_INFLIGHT) {
            p.dup = 1;
            c->q[c->n++] = p;
        }
    }
}

static void save_load(sotto_spqr_braid *b)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    assert_int_equal(sotto_spqr_braid_save(b, &buf, &n), SOTTO_OK);
    sotto_spqr_braid_wipe(b);
    assert_int_equal(sotto_spqr_braid_load(b, buf, n), SOTTO_OK);
    uint8_t *buf2 = NULL;
    size_t n2 = 0;
    assert_int_equal(sotto_spqr_braid_save(b, &buf2, &n2), SOTTO_OK);
    assert_int_equal(n, n2);
    assert_memory_equal(buf, buf2, n);
    free(buf);
    free(buf2);
}

/* Rounds: A sends 1..max_burst messages, B receives whole blocks of
 * `window` of them, then the same from B to A. */
static void run(unsigned rounds, unsigned max_burst, unsigned window, unsigned drop_pct,
                unsigned dup_pct, int with_save, uint64_t *ea, uint64_t *eb)
{
    static sotto_spqr_braid a, b;
    static chan ab, ba;
    ab.n = ba.n = 0;
    uint64_t max_ab = 0, max_ba = 0;
    assert_int_equal(sotto_spqr_braid_init(&a, AUTH, SOTTO_SPQR_BRAID_DIR_A2B), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_init(&b, AUTH, SOTTO_SPQR_BRAID_DIR_B2A), SOTTO_OK);
    for (unsigned r = 0; r < rounds; r++) {
        unsigned na = 1 + randombytes_uniform(max_burst), nb = 1 + randombytes_uniform(max_burst);
        for (unsigned i = 0; i < na; i++)
            send_one(&a, &ab);
        while (ab.n >= (window ? window : 1))
            deliver_block(&b, &ab, window, drop_pct, dup_pct, &max_ab);
        for (unsigned i = 0; i < nb; i++)
            send_one(&b, &ba);
        while (ba.n >= (window ? window : 1))
            deliver_block(&a, &ba, window, drop_pct, dup_pct, &max_ba);
        if (with_save && r % 37 == 5) {
            save_load(&a);
            save_load(&b);
        }
    }
    while (ab.n > 0)
        deliver_block(&b, &ab, window, drop_pct, dup_pct, &max_ab);
    while (ba.n > 0)
        deliver_block(&a, &ba, window, drop_pct, dup_pct, &max_ba);
    *ea = max_ab;
    *eb = max_ba;
    print_message("epochs seen: A->B %llu, B->A %llu; braid epochs A %llu B %llu\n",
                  (unsigned long long)max_ab, (unsigned long long)max_ba,
                  (unsigned long long)sotto_spqr_braid_epoch(&a),
                  (unsigned long long)sotto_spqr_braid_epoch(&b));
    sotto_spqr_braid_wipe(&a);
    sotto_spqr_braid_wipe(&b);
}

/* Strict ping-pong, nothing lost: an epoch every few round trips. */
static void test_ping_pong(void **state)
{
    (void)state;
    uint64_t ea, eb;
    run(300, 1, 0, 0, 0, 0, &ea, &eb);
    assert_true(ea >= 4);
    assert_true(eb >= 4);
}

/* 10% lost, the rest shuffled within blocks of 20, 5% repeated. */
static void test_lossy_reordering(void **state)
{
    (void)state;
    uint64_t ea, eb;
    run(300, 3, 20, 10, 5, 0, &ea, &eb);
    assert_true(ea >= 4);
    assert_true(eb >= 4);
}

/* Bursts (one side far ahead) with losses, saving and loading both sides. */
static void test_bursts_save_load(void **state)
{
    (void)state;
    uint64_t ea, eb;
    run(200, 12, 30, 20, 5, 1, &ea, &eb);
    assert_true(ea >= 3);
    assert_true(eb >= 3);
}

/* Case table of single transitions (states.rs). */
static void test_cases(void **state)
{
    (void)state;
    static sotto_spqr_braid a, b;
    uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX], key[32], key2[32];
    size_t len;
    int has;
    sotto_spqr_braid_msg m;
    assert_int_equal(sotto_spqr_braid_init(&a, AUTH, SOTTO_SPQR_BRAID_DIR_A2B), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_init(&b, AUTH, SOTTO_SPQR_BRAID_DIR_B2A), SOTTO_OK);
    /* 1. A starts: KeysUnsampled -> KeysSampled, a Hdr chunk 0 at epoch 1 index 1 */
    assert_int_equal(sotto_spqr_braid_send(&a, msg, &len, key, &has), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_msg_parse(&m, msg, len), SOTTO_OK);
    assert_int_equal(m.type, SOTTO_SPQR_T_HDR);
    assert_int_equal(m.epoch, 1);
    assert_int_equal(m.index, 1);
    assert_int_equal(m.chunk_index, 0);
    assert_int_equal(a.scka.state, SOTTO_BRAID_KEYS_SAMPLED);
    /* 2. B: NoHeaderReceived sends None */
    assert_int_equal(sotto_spqr_braid_send(&b, msg + 0, &len, key2, &has), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_msg_parse(&m, msg, len), SOTTO_OK);
    assert_int_equal(m.type, SOTTO_SPQR_T_NONE);
    assert_int_equal(len, 4);
    /* 3. a message of epoch 3 is out of range and changes nothing */
    m.epoch = 3;
    len = sotto_spqr_braid_msg_write(&m, msg);
    assert_int_equal(sotto_spqr_braid_recv(&a, msg, len, key, &has), SOTTO_ERR_PQ_RATCHET);
    assert_int_equal(has, 0);
    assert_int_equal(a.scka.state, SOTTO_BRAID_KEYS_SAMPLED);
    /* 4. version 2 is ignored; version 0 and empty are refused */
    msg[0] = 2;
    assert_int_equal(sotto_spqr_braid_recv(&a, msg, len, key, &has), SOTTO_OK);
    assert_int_equal(has, 0);
    msg[0] = 0;
    assert_int_equal(sotto_spqr_braid_recv(&a, msg, len, key, &has), SOTTO_ERR_PQ_RATCHET);
    assert_int_equal(sotto_spqr_braid_recv(&a, msg, 0, key, &has), SOTTO_ERR_PQ_RATCHET);
    /* 5. epoch 1 index 0: no key, no error */
    m.epoch = 1;
    m.index = 0;
    len = sotto_spqr_braid_msg_write(&m, msg);
    assert_int_equal(sotto_spqr_braid_recv(&a, msg, len, key, &has), SOTTO_OK);
    assert_int_equal(has, 0);
    /* 6. truncated chunk, epoch 0, unknown type, huge chunk index */
    static const uint8_t bad1[] = { 1, 1, 1, 1, 0 };
    static const uint8_t bad2[] = { 1, 0, 1, 0 };
    static const uint8_t bad3[] = { 1, 1, 1, 7 };
    uint8_t bad4[4 + 3 + 32] = { 1, 1, 1, 1, 0x80, 0x80, 0x04 };
    assert_int_equal(sotto_spqr_braid_recv(&a, bad1, sizeof bad1, key, &has), SOTTO_ERR_PQ_RATCHET);
    assert_int_equal(sotto_spqr_braid_recv(&a, bad2, sizeof bad2, key, &has), SOTTO_ERR_PQ_RATCHET);
    assert_int_equal(sotto_spqr_braid_recv(&a, bad3, sizeof bad3, key, &has), SOTTO_ERR_PQ_RATCHET);
    assert_int_equal(sotto_spqr_braid_recv(&a, bad4, sizeof bad4, key, &has), SOTTO_ERR_PQ_RATCHET);
    /* 7. a Hdr chunk with a corrupted MAC: B decodes 3 chunks, the MAC fails,
     * B stays in NoHeaderReceived */
    {
        static sotto_spqr_braid b2;
        assert_int_equal(sotto_spqr_braid_copy(&b2, &b), SOTTO_OK);
        sotto_spqr_ec_encoder enc = a.scka.enc; /* A's header || MAC */
        enc.words[SOTTO_SPQR_BRAID_HDR_MSG / 2 - 1] ^= 1;
        enc.have_coef = 0;
        sotto_err last = SOTTO_OK;
        for (uint16_t c = 0; c < 3; c++) {
            m.epoch = 1;
            m.index = (uint32_t)c + 1;
            m.type = SOTTO_SPQR_T_HDR;
            m.chunk_index = c;
            sotto_spqr_ec_chunk_at(&enc, c, m.chunk);
            len = sotto_spqr_braid_msg_write(&m, msg);
            last = sotto_spqr_braid_recv(&b2, msg, len, key, &has);
        }
        assert_int_equal(last, SOTTO_ERR_PQ_RATCHET);
        assert_int_equal(b2.scka.state, SOTTO_BRAID_NO_HEADER_RECEIVED);
        sotto_spqr_braid_wipe(&b2);
    }
    /* 8. the real header: B reaches HeaderReceived after 3 chunks */
    for (int i = 0; i < 3; i++) {
        if (i > 0)
            assert_int_equal(sotto_spqr_braid_send(&a, msg, &len, key, &has), SOTTO_OK);
        else {
            m.epoch = 1; m.index = 1; m.type = SOTTO_SPQR_T_HDR; m.chunk_index = 0;
            sotto_spqr_ec_chunk_at(&a.scka.enc, 0, m.chunk);
            len = sotto_spqr_braid_msg_write(&m, msg);
            memset(key, 0, sizeof key);
        }
        sotto_err e = sotto_spqr_braid_recv(&b, msg, len, key2, &has);
        if (i == 0)
            assert_int_equal(e, SOTTO_OK); /* index 1 of A, key as in case 1 */
        else
            assert_memory_equal(key, key2, 32);
    }
    assert_int_equal(b.scka.state, SOTTO_BRAID_HEADER_RECEIVED);
    /* 9. B's next send: encaps1, epoch secret, first Ct1 chunk, key of epoch 1 */
    assert_int_equal(sotto_spqr_braid_send(&b, msg, &len, key2, &has), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_msg_parse(&m, msg, len), SOTTO_OK);
    assert_int_equal(m.type, SOTTO_SPQR_T_CT1);
    assert_int_equal(b.scka.state, SOTTO_BRAID_CT1_SAMPLED);
    assert_int_equal(b.chain.current_epoch, 1);
    /* 10. A: the first Ct1 chunk moves it to HeaderSent; it sends Ek now */
    assert_int_equal(sotto_spqr_braid_recv(&a, msg, len, key, &has), SOTTO_OK);
    assert_memory_equal(key, key2, 32);
    assert_int_equal(a.scka.state, SOTTO_BRAID_HEADER_SENT);
    assert_int_equal(sotto_spqr_braid_send(&a, msg, &len, key, &has), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_msg_parse(&m, msg, len), SOTTO_OK);
    assert_int_equal(m.type, SOTTO_SPQR_T_EK);
    assert_int_equal(m.chunk_index, 0);
    /* 11. an ek that does not match the header: B refuses once t decodes */
    {
        static sotto_spqr_braid b2;
        assert_int_equal(sotto_spqr_braid_copy(&b2, &b), SOTTO_OK);
        sotto_spqr_ec_encoder enc = a.scka.enc;
        enc.words[0] ^= 1;
        enc.have_coef = 0;
        sotto_err last = SOTTO_OK;
        for (uint16_t c = 0; c < 36 && last == SOTTO_OK; c++) {
            m.epoch = 1; m.index = 100 + c; m.type = SOTTO_SPQR_T_EK; m.chunk_index = c;
            sotto_spqr_ec_chunk_at(&enc, c, m.chunk);
            len = sotto_spqr_braid_msg_write(&m, msg);
            last = sotto_spqr_braid_recv(&b2, msg, len, key, &has);
        }
        assert_int_equal(last, SOTTO_ERR_PQ_RATCHET);
        assert_int_equal(b2.scka.state, SOTTO_BRAID_CT1_SAMPLED);
        sotto_spqr_braid_wipe(&b2);
    }
    sotto_spqr_braid_wipe(&a);
    sotto_spqr_braid_wipe(&b);
}

/* Chain (chain.rs tests): directions match across epochs; repeats refused;
 * very old keys trimmed. */
static void test_chain(void **state)
{
    (void)state;
    static sotto_spqr_chain a2b, b2a;
    uint8_t k1[32], k2[32], secret[32] = { 2 };
    uint32_t idx;
    assert_int_equal(sotto_spqr_chain_init(&a2b, AUTH, SOTTO_SPQR_BRAID_DIR_A2B), SOTTO_OK);
    assert_int_equal(sotto_spqr_chain_init(&b2a, AUTH, SOTTO_SPQR_BRAID_DIR_B2A), SOTTO_OK);
    assert_int_equal(sotto_spqr_chain_send_key(&a2b, 0, &idx, k1), SOTTO_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 0, 1, k2), SOTTO_OK);
    assert_memory_equal(k1, k2, 32);
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 0, 1, k2), SOTTO_ERR_DUPLICATE_MESSAGE);
    assert_int_equal(sotto_spqr_chain_add_epoch(&a2b, 1, secret), SOTTO_OK);
    assert_int_equal(sotto_spqr_chain_add_epoch(&b2a, 1, secret), SOTTO_OK);
    assert_int_equal(sotto_spqr_chain_add_epoch(&b2a, 3, secret), SOTTO_ERR_PQ_RATCHET);
    for (int i = 0; i < 10; i++)
        assert_int_equal(sotto_spqr_chain_send_key(&a2b, 1, &idx, k1), SOTTO_OK);
    assert_int_equal(idx, 10);
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 1, 10, k2), SOTTO_OK);
    assert_memory_equal(k1, k2, 32);
    /* epoch 0 still open for receiving at B; sending at epoch 0 after 1 is refused */
    assert_int_equal(sotto_spqr_chain_send_key(&a2b, 0, &idx, k1), SOTTO_ERR_PQ_RATCHET);
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 2, 1, k2), SOTTO_ERR_PQ_RATCHET);
    /* jumps */
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 1, 10 + SOTTO_SPQR_BRAID_MAX_JUMP + 1, k2),
                     SOTTO_ERR_TOO_FAR_AHEAD);
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 1, 10 + 2100, k2), SOTTO_OK);
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 1, 11, k2), SOTTO_ERR_KEY_NO_LONGER_HELD);
    assert_int_equal(sotto_spqr_chain_recv_key(&b2a, 1, 2109, k2), SOTTO_OK);
    sotto_spqr_chain_wipe(&a2b);
    sotto_spqr_chain_wipe(&b2a);
}

/* Saved forms: every truncation and a wrong version are refused and leave
 * a zeroed state; a trailing byte too. */
static void test_load_refusals(void **state)
{
    (void)state;
    static sotto_spqr_braid a, l;
    uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX], key[32];
    size_t len;
    int has;
    assert_int_equal(sotto_spqr_braid_init(&a, AUTH, SOTTO_SPQR_BRAID_DIR_A2B), SOTTO_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sotto_spqr_braid_send(&a, msg, &len, key, &has), SOTTO_OK);
    uint8_t *buf = NULL;
    size_t n = 0;
    assert_int_equal(sotto_spqr_braid_save(&a, &buf, &n), SOTTO_OK);
    for (size_t cut = 0; cut < n; cut += (cut < 64 || n - cut < 300) ? 1 : 97) {
        assert_int_equal(sotto_spqr_braid_load(&l, buf, cut), SOTTO_ERR_INVALID_STATE);
        assert_int_equal(l.chain.n_links, 0);
    }
    uint8_t *longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, buf, n);
    longer[n] = 0;
    assert_int_equal(sotto_spqr_braid_load(&l, longer, n + 1), SOTTO_ERR_INVALID_STATE);
    free(longer);
    buf[0] = 2;
    assert_int_equal(sotto_spqr_braid_load(&l, buf, n), SOTTO_ERR_INVALID_STATE);
    buf[0] = SOTTO_SPQR_BRAID_SAVE_VERSION;
    buf[1] = SOTTO_BRAID_STATE_COUNT_;
    assert_int_equal(sotto_spqr_braid_load(&l, buf, n), SOTTO_ERR_INVALID_STATE);
    buf[1] = a.scka.state;
    assert_int_equal(sotto_spqr_braid_load(&l, buf, n), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_send(&l, msg, &len, key, &has), SOTTO_OK);
    sotto_spqr_braid_wipe(&l);
    sotto_spqr_braid_wipe(&a);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_lossy_reordering),
        cmocka_unit_test(test_bursts_save_load),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
