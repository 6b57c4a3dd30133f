/* SPQR v1 symmetric chain: known answers (computed independently from
 * chain.rs's definitions with Python's hmac/hashlib), message parsing, and
 * the out-of-order rules of chain.rs (max_jump, max_ooo_keys, already used). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sotto/err.h"
#include "protocol/spqr.h"

static void unhex(uint8_t *out, const char *hex)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static const uint8_t AUTH[32] = {
    41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41,
    41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41,
};

static int setup(void **st)
{
    (void)st;
    return sotto_init() == SOTTO_OK ? 0 : -1;
}

static void pair(sotto_spqr *a, sotto_spqr *b)
{
    assert_int_equal(sotto_spqr_init(a, AUTH, SOTTO_SPQR_A2B), SOTTO_OK);
    assert_int_equal(sotto_spqr_init(b, AUTH, SOTTO_SPQR_B2A), SOTTO_OK);
}

/* Sends one message from s: returns its bytes in msg (len) and the key. */
static size_t send1(sotto_spqr *s, uint8_t msg[SOTTO_SPQR_MSG_MAX], uint8_t key[32])
{
    sotto_spqr_send_plan p;
    assert_int_equal(sotto_spqr_send_plan_make(s, &p), SOTTO_OK);
    sotto_spqr_send_commit(s, &p);
    memcpy(msg, p.msg, p.msg_len);
    memcpy(key, p.key, 32);
    return p.msg_len;
}

static sotto_err recv1(sotto_spqr *s, const uint8_t *msg, size_t len, uint8_t key[32], int *has_key)
{
    sotto_spqr_recv_plan p;
    sotto_err e = sotto_spqr_recv_plan_make(s, msg, len, &p);
    if (e == SOTTO_OK) {
        memcpy(key, p.key, 32);
        *has_key = p.has_key;
        sotto_spqr_recv_commit(s, &p);
    }
    sotto_spqr_recv_plan_free(&p);
    return e;
}

/* Encodes a None message at epoch 1 and index. */
static size_t none_msg(uint8_t *m, uint32_t index)
{
    size_t n = 0;
    m[n++] = 1;
    m[n++] = 1;
    uint64_t v = index;
    while (v >= 0x80) {
        m[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    m[n++] = (uint8_t)v;
    m[n++] = 0;
    return n;
}

static void test_known_answers(void **st)
{
    (void)st;
    sotto_spqr a, b;
    uint8_t msg[SOTTO_SPQR_MSG_MAX], key[32], got[32], want[32];
    int has;
    pair(&a, &b);
    size_t n = send1(&a, msg, key);
    static const uint8_t first[] = { 0x01, 0x01, 0x01, 0x00 }; /* v1, epoch 1, index 1, None */
    assert_int_equal(n, sizeof first);
    assert_memory_equal(msg, first, sizeof first);
    unhex(want, "9bcdfae095d09aa8ab367dd231d1d271fe580b555bcc6f64ff079d53d9a9db5d");
    assert_memory_equal(key, want, 32);
    assert_int_equal(recv1(&b, msg, n, got, &has), SOTTO_OK);
    assert_true(has);
    assert_memory_equal(got, want, 32);
    n = send1(&a, msg, key);
    unhex(want, "6af868be8ea72f8ca3bb819c9623c0c9ffebd6f8503937d8f4fac142ac42a48e");
    assert_memory_equal(key, want, 32);
    n = send1(&b, msg, key);
    unhex(want, "8ede114ee798830a3d35a383e72e96d82a9adca0ac699c12fdf99069220e2da8");
    assert_memory_equal(key, want, 32);
    assert_int_equal(recv1(&a, msg, n, got, &has), SOTTO_OK);
    assert_memory_equal(got, want, 32);
    sotto_spqr_wipe(&a);
    sotto_spqr_wipe(&b);
}

static void test_out_of_order_and_duplicates(void **st)
{
    (void)st;
    sotto_spqr a, b;
    uint8_t msgs[10][SOTTO_SPQR_MSG_MAX], keys[10][32], got[32];
    size_t lens[10];
    int has;
    pair(&a, &b);
    for (int i = 0; i < 10; i++)
        lens[i] = send1(&a, msgs[i], keys[i]);
    for (int i = 9; i >= 0; i--) {
        assert_int_equal(recv1(&b, msgs[i], lens[i], got, &has), SOTTO_OK);
        assert_memory_equal(got, keys[i], 32);
    }
    assert_int_equal(b.n_hist, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(recv1(&b, msgs[i], lens[i], got, &has), SOTTO_ERR_DUPLICATE_MESSAGE);
    sotto_spqr_wipe(&a);
    sotto_spqr_wipe(&b);
}

static void test_limits(void **st)
{
    (void)st;
    sotto_spqr b;
    uint8_t m[SOTTO_SPQR_MSG_MAX], got[32];
    int has;
    assert_int_equal(sotto_spqr_init(&b, AUTH, SOTTO_SPQR_B2A), SOTTO_OK);
    /* From ctr 0: a jump of 25,001 is refused, 25,000 accepted. */
    assert_int_equal(recv1(&b, m, none_msg(m, SOTTO_SPQR_MAX_JUMP + 1), got, &has),
                     SOTTO_ERR_TOO_FAR_AHEAD);
    assert_int_equal(b.recv_ctr, 0);
    assert_int_equal(recv1(&b, m, none_msg(m, SOTTO_SPQR_MAX_JUMP), got, &has), SOTTO_OK);
    assert_int_equal(b.recv_ctr, SOTTO_SPQR_MAX_JUMP);
    /* Only the last max_ooo skipped keys are kept. */
    assert_true(b.n_hist <= SOTTO_SPQR_MAX_OOO_KEYS);
    assert_int_equal(recv1(&b, m, none_msg(m, SOTTO_SPQR_MAX_JUMP - SOTTO_SPQR_MAX_OOO_KEYS - 1), got, &has),
                     SOTTO_ERR_KEY_NO_LONGER_HELD);
    assert_int_equal(recv1(&b, m, none_msg(m, SOTTO_SPQR_MAX_JUMP - SOTTO_SPQR_MAX_OOO_KEYS), got, &has),
                     SOTTO_OK);
    assert_int_equal(recv1(&b, m, none_msg(m, SOTTO_SPQR_MAX_JUMP - 1), got, &has), SOTTO_OK);
    assert_int_equal(recv1(&b, m, none_msg(m, SOTTO_SPQR_MAX_JUMP - 1), got, &has),
                     SOTTO_ERR_DUPLICATE_MESSAGE);
    /* Walking forward one at a time keeps the history bounded (gc). */
    for (uint32_t i = 1; i <= 3 * SOTTO_SPQR_TRIM_SIZE; i += 2)
        assert_int_equal(recv1(&b, m, none_msg(m, SOTTO_SPQR_MAX_JUMP + i + 1), got, &has), SOTTO_OK);
    assert_true(b.n_hist < SOTTO_SPQR_TRIM_SIZE + SOTTO_SPQR_MAX_OOO_KEYS);
    sotto_spqr_wipe(&b);
}

static void test_payloads(void **st)
{
    (void)st;
    sotto_spqr b;
    uint8_t got[32];
    int has = 7;
    assert_int_equal(sotto_spqr_init(&b, AUTH, SOTTO_SPQR_B2A), SOTTO_OK);
    /* Version 0 (empty or 0x00) is below our minimum. */
    assert_int_equal(recv1(&b, (const uint8_t *)"", 0, got, &has), SOTTO_ERR_PQ_RATCHET);
    static const uint8_t v0[] = { 0x00, 0x01, 0x01, 0x00 };
    assert_int_equal(recv1(&b, v0, sizeof v0, got, &has), SOTTO_ERR_PQ_RATCHET);
    /* A version above ours is ignored: no key, no change. */
    static const uint8_t v2[] = { 0x02, 0x01, 0x01, 0x00 };
    assert_int_equal(recv1(&b, v2, sizeof v2, got, &has), SOTTO_OK);
    assert_int_equal(has, 0);
    assert_int_equal(b.recv_ctr, 0);
    /* Epoch 0 does not parse, epoch 2 is out of range for our state. */
    static const uint8_t e0[] = { 0x01, 0x00, 0x01, 0x00 };
    static const uint8_t e2[] = { 0x01, 0x02, 0x01, 0x00 };
    assert_int_equal(recv1(&b, e0, sizeof e0, got, &has), SOTTO_ERR_PQ_RATCHET);
    assert_int_equal(recv1(&b, e2, sizeof e2, got, &has), SOTTO_ERR_PQ_RATCHET);
    /* Index 0 at epoch 1: no key. */
    static const uint8_t i0[] = { 0x01, 0x01, 0x00, 0x00 };
    assert_int_equal(recv1(&b, i0, sizeof i0, got, &has), SOTTO_OK);
    assert_int_equal(has, 0);
    /* Unknown type, truncated chunk. */
    static const uint8_t t7[] = { 0x01, 0x01, 0x01, 0x07 };
    assert_int_equal(recv1(&b, t7, sizeof t7, got, &has), SOTTO_ERR_PQ_RATCHET);
    uint8_t hdr[4 + 1 + 32];
    memcpy(hdr, (const uint8_t[]){ 0x01, 0x01, 0x01, SOTTO_SPQR_T_HDR, 0x00 }, 5);
    memset(hdr + 5, 0xAB, 32);
    assert_int_equal(recv1(&b, hdr, sizeof hdr - 1, got, &has), SOTTO_ERR_PQ_RATCHET);
    /* A Hdr chunk from a libsignal initiator is accepted and ignored. */
    assert_int_equal(recv1(&b, hdr, sizeof hdr, got, &has), SOTTO_OK);
    assert_int_equal(has, 1);
    assert_int_equal(b.recv_ctr, 1);
    /* Trailing bytes are allowed; a long non-minimal varint too. */
    static const uint8_t trail[] = { 0x01, 0x81, 0x00, 0x02, 0x04, 0xEE, 0xEE };
    sotto_spqr_msg pm;
    assert_int_equal(sotto_spqr_parse(&pm, trail, sizeof trail), SOTTO_OK);
    assert_int_equal(pm.epoch, 1);
    assert_int_equal(pm.index, 2);
    assert_int_equal(pm.type, SOTTO_SPQR_T_CT1ACK);
    static const uint8_t longv[] = { 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
    assert_int_equal(sotto_spqr_parse(&pm, longv, sizeof longv), SOTTO_ERR_PQ_RATCHET);
    sotto_spqr_wipe(&b);
}

static void test_plan_without_commit_changes_nothing(void **st)
{
    (void)st;
    sotto_spqr a, b, before;
    uint8_t msgs[5][SOTTO_SPQR_MSG_MAX], keys[5][32];
    size_t lens[5];
    pair(&a, &b);
    for (int i = 0; i < 5; i++)
        lens[i] = send1(&a, msgs[i], keys[i]);
    sotto_spqr_recv_plan p;
    memcpy(&before, &b, sizeof b);
    assert_int_equal(sotto_spqr_recv_plan_make(&b, msgs[4], lens[4], &p), SOTTO_OK);
    assert_int_equal(p.n_fresh, 4); /* indices 1..4 skipped */
    sotto_spqr_recv_plan_free(&p);
    assert_int_equal(b.recv_ctr, before.recv_ctr);
    assert_int_equal(b.n_hist, before.n_hist);
    assert_memory_equal(b.recv_next, before.recv_next, 32);
    sotto_spqr_wipe(&a);
    sotto_spqr_wipe(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_out_of_order_and_duplicates),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_payloads),
        cmocka_unit_test(test_plan_without_commit_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
