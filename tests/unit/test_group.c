/* Sender keys: a numbered case table for the receiver's state machine.
 *  1 in order            6 too far ahead (25,001) refused, 25,000 accepted
 *  2 shuffled 1,000      7 2,000 stored keys: the oldest evicted (duplicate)
 *  3 duplicate           8 rotation: old chains kept (5 states), then dropped
 *  4 forged / tampered   9 same SKDM again keeps progress; same chain id, other key replaces
 *  5 unknown chain id   10 save/load mid-stream; bad records refused
 * 11 wrong distribution id, wrong version, truncated input
 * Every refusal is checked to leave the record's saved bytes unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "sotto/sotto.h"

#define MSG_CAP 2048

static const uint8_t DIST[16] = { 0xd1, 0x5c, 0x0e, 0x11, 0x22, 0x33, 0x44, 0x55,
                                  0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd };

typedef struct blob { uint8_t *p; size_t n; } blob;

static blob save(const sotto_sender_key_record *r)
{
    blob b = { 0 };
    assert_int_equal(sotto_sender_key_record_save(r, NULL, 0, &b.n), SOTTO_OK);
    b.p = malloc(b.n);
    assert_non_null(b.p);
    assert_int_equal(sotto_sender_key_record_save(r, b.p, b.n, &b.n), SOTTO_OK);
    return b;
}

static void assert_unchanged(const sotto_sender_key_record *r, blob before)
{
    blob now = save(r);
    assert_int_equal(now.n, before.n);
    assert_memory_equal(now.p, before.p, now.n);
    free(now.p);
}

/* Decrypt must fail with want and change nothing. */
static void refuse(sotto_sender_key_record *r, const uint8_t *m, size_t n, sotto_err want)
{
    blob b = save(r);
    uint8_t pt[MSG_CAP];
    size_t len = 99;
    assert_int_equal(sotto_group_decrypt(r, m, n, pt, sizeof pt, &len), want);
    assert_int_equal(len, 0);
    assert_unchanged(r, b);
    free(b.p);
}

static void pair(sotto_sender_key_record **alice, sotto_sender_key_record **bob)
{
    uint8_t skdm[SOTTO_GROUP_SKDM_MAX_BYTES];
    size_t n;
    assert_int_equal(sotto_sender_key_record_new(alice), SOTTO_OK);
    assert_int_equal(sotto_sender_key_record_new(bob), SOTTO_OK);
    assert_int_equal(sotto_group_create_distribution(*alice, DIST, skdm, sizeof skdm, &n), SOTTO_OK);
    assert_int_equal(skdm[0], SOTTO_GROUP_VERSION_BYTE);
    uint8_t id[16];
    assert_int_equal(sotto_group_distribution_message_id(skdm, n, id), SOTTO_OK);
    assert_memory_equal(id, DIST, 16);
    assert_int_equal(sotto_group_process_distribution(*bob, skdm, n), SOTTO_OK);
}

typedef struct msg { uint8_t b[MSG_CAP]; size_t n; uint8_t pt[64]; size_t pt_len; } msg;

static void enc(sotto_sender_key_record *a, msg *m, uint32_t i)
{
    m->pt_len = (size_t)snprintf((char *)m->pt, sizeof m->pt, "group message %u", i);
    assert_int_equal(sotto_group_encrypt(a, DIST, m->pt, m->pt_len, m->b, sizeof m->b, &m->n), SOTTO_OK);
    assert_true(m->n <= sotto_group_ciphertext_bound(m->pt_len));
}

static void dec_ok(sotto_sender_key_record *b, const msg *m)
{
    uint8_t pt[MSG_CAP];
    size_t len;
    assert_int_equal(sotto_group_decrypt(b, m->b, m->n, pt, sizeof pt, &len), SOTTO_OK);
    assert_int_equal(len, m->pt_len);
    assert_memory_equal(pt, m->pt, len);
}

static void test_in_order_and_duplicate(void **state) /* cases 1, 3, 4 */
{
    (void)state;
    sotto_sender_key_record *a, *b;
    pair(&a, &b);
    msg *m = calloc(20, sizeof *m);
    for (uint32_t i = 0; i < 20; i++) {
        enc(a, &m[i], i);
        uint8_t id[16];
        assert_int_equal(sotto_group_message_id(m[i].b, m[i].n, id), SOTTO_OK);
        assert_memory_equal(id, DIST, 16);
    }
    for (uint32_t i = 0; i < 10; i++)
        dec_ok(b, &m[i]);
    refuse(b, m[3].b, m[3].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    refuse(b, m[9].b, m[9].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    /* forged: any flipped bit, in the body, header or signature */
    for (size_t pos = 0; pos < m[10].n; pos += 7) {
        msg f = m[10];
        f.b[pos] ^= 0x10;
        sotto_err e;
        uint8_t pt[MSG_CAP];
        size_t len;
        blob before = save(b);
        e = sotto_group_decrypt(b, f.b, f.n, pt, sizeof pt, &len);
        assert_int_not_equal(e, SOTTO_OK);
        assert_unchanged(b, before);
        free(before.p);
    }
    /* a signature by another key over the same bytes */
    {
        msg f = m[10];
        uint8_t pub[33], priv[32];
        assert_int_equal(sotto_ec_keypair(pub, priv), SOTTO_OK);
        assert_int_equal(sotto_sign(f.b + f.n - 64, priv, f.b, f.n - 64), SOTTO_OK);
        refuse(b, f.b, f.n, SOTTO_ERR_BAD_SIGNATURE);
    }
    for (uint32_t i = 10; i < 20; i++)
        dec_ok(b, &m[i]);
    free(m);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
}

static void test_shuffled(void **state) /* case 2 */
{
    (void)state;
    enum { N = 1000 };
    sotto_sender_key_record *a, *b;
    pair(&a, &b);
    msg *m = calloc(N, sizeof *m);
    uint32_t order[N];
    for (uint32_t i = 0; i < N; i++) {
        enc(a, &m[i], i);
        order[i] = i;
    }
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = randombytes_uniform(i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < N; i++)
        dec_ok(b, &m[order[i]]);
    for (uint32_t i = 0; i < N; i += 97)
        refuse(b, m[i].b, m[i].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    free(m);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
}

static void test_unknown_chain(void **state) /* case 5 */
{
    (void)state;
    sotto_sender_key_record *a, *b, *c, *d;
    pair(&a, &b);
    pair(&c, &d);
    msg m;
    enc(c, &m, 0);
    refuse(b, m.b, m.n, SOTTO_ERR_NO_SESSION);
    sotto_sender_key_record *empty;
    assert_int_equal(sotto_sender_key_record_new(&empty), SOTTO_OK);
    refuse(empty, m.b, m.n, SOTTO_ERR_NO_SESSION);
    /* a receiver cannot encrypt on a chain it only received */
    uint8_t out[MSG_CAP];
    size_t n;
    assert_int_equal(sotto_group_encrypt(b, DIST, (const uint8_t *)"x", 1, out, sizeof out, &n),
                     SOTTO_ERR_NO_SESSION);
    assert_int_equal(sotto_group_encrypt(empty, DIST, (const uint8_t *)"x", 1, out, sizeof out, &n),
                     SOTTO_ERR_NO_SESSION);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
    sotto_sender_key_record_free(c);
    sotto_sender_key_record_free(d);
    sotto_sender_key_record_free(empty);
}

static void test_limits(void **state) /* cases 6, 7 */
{
    (void)state;
    sotto_sender_key_record *a, *b;
    pair(&a, &b);
    msg *m = calloc(3, sizeof *m);
    msg *first = calloc(3, sizeof *first);
    for (uint32_t i = 0; i < 3; i++)
        enc(a, &first[i], i);
    for (uint32_t i = 3; i < 25003; i++)
        enc(a, &m[0], i);                 /* m[0]: iteration 25,002 */
    enc(a, &m[1], 25003);
    enc(a, &m[2], 25004);
    dec_ok(b, &first[2]);                 /* chain at 3; keys 0 and 1 stored */
    refuse(b, m[2].b, m[2].n, SOTTO_ERR_TOO_FAR_AHEAD);  /* a jump of 25,001 */
    dec_ok(b, &m[1]);                     /* a jump of exactly 25,000 */
    /* 25,000 keys passed (3..25,002): only the newest 2,000 stay, so 0, 1
     * and 3 were evicted; 25,002 is held. */
    refuse(b, first[0].b, first[0].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    refuse(b, first[1].b, first[1].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    dec_ok(b, &m[0]);
    dec_ok(b, &m[2]);                     /* now the next one */
    free(m);
    free(first);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
}

static void test_eviction_order(void **state) /* case 7, exact boundary */
{
    (void)state;
    enum { N = 2003 };
    sotto_sender_key_record *a, *b;
    pair(&a, &b);
    msg *m = calloc(N, sizeof *m);
    for (uint32_t i = 0; i < N; i++)
        enc(a, &m[i], i);
    dec_ok(b, &m[2001]);             /* skips 0..2000: 2,001 keys, the oldest (0) evicted */
    refuse(b, m[0].b, m[0].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    dec_ok(b, &m[1]);
    dec_ok(b, &m[2000]);
    dec_ok(b, &m[2002]);
    free(m);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
}

static void test_rotation(void **state) /* cases 8, 9 */
{
    (void)state;
    sotto_sender_key_record *bob;
    assert_int_equal(sotto_sender_key_record_new(&bob), SOTTO_OK);
    sotto_sender_key_record *gen[7];
    msg *held = calloc(7, sizeof *held);
    uint8_t skdm[7][SOTTO_GROUP_SKDM_MAX_BYTES];
    size_t skdm_len[7];
    for (int g = 0; g < 7; g++) {
        assert_int_equal(sotto_sender_key_record_new(&gen[g]), SOTTO_OK);
        assert_int_equal(sotto_group_create_distribution(gen[g], DIST, skdm[g], sizeof skdm[g],
                                                         &skdm_len[g]), SOTTO_OK);
        assert_int_equal(sotto_group_process_distribution(bob, skdm[g], skdm_len[g]), SOTTO_OK);
        msg now;
        enc(gen[g], &now, 0);
        dec_ok(bob, &now);
        enc(gen[g], &held[g], 1);    /* in flight across the rotations */
    }
    /* 5 states kept: generations 2..6 decrypt, 0 and 1 are gone */
    refuse(bob, held[0].b, held[0].n, SOTTO_ERR_NO_SESSION);
    refuse(bob, held[1].b, held[1].n, SOTTO_ERR_NO_SESSION);
    for (int g = 2; g < 7; g++)
        dec_ok(bob, &held[g]);
    /* the same SKDM again (iteration 0) keeps the progress: no replay */
    assert_int_equal(sotto_group_process_distribution(bob, skdm[6], skdm_len[6]), SOTTO_OK);
    refuse(bob, held[6].b, held[6].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    /* an SKDM of the same chain id with another signing key replaces it */
    uint8_t forged[SOTTO_GROUP_SKDM_MAX_BYTES];
    memcpy(forged, skdm[5], skdm_len[5]);
    uint8_t pub[33], priv[32];
    assert_int_equal(sotto_ec_keypair(pub, priv), SOTTO_OK);
    memcpy(forged + skdm_len[5] - 32, pub + 1, 32); /* signing key is the last field */
    assert_int_equal(sotto_group_process_distribution(bob, forged, skdm_len[5]), SOTTO_OK);
    msg next;
    enc(gen[5], &next, 2);
    refuse(bob, next.b, next.n, SOTTO_ERR_BAD_SIGNATURE);
    for (int g = 0; g < 7; g++)
        sotto_sender_key_record_free(gen[g]);
    sotto_sender_key_record_free(bob);
    free(held);
}

static void test_save_load(void **state) /* case 10 */
{
    (void)state;
    sotto_sender_key_record *a, *b;
    pair(&a, &b);
    msg *m = calloc(10, sizeof *m);
    for (uint32_t i = 0; i < 10; i++)
        enc(a, &m[i], i);
    dec_ok(b, &m[5]);
    blob sa = save(a), sb = save(b);
    sotto_sender_key_record *a2, *b2;
    assert_int_equal(sotto_sender_key_record_load(&a2, sa.p, sa.n), SOTTO_OK);
    assert_int_equal(sotto_sender_key_record_load(&b2, sb.p, sb.n), SOTTO_OK);
    assert_unchanged(a2, sa);
    assert_unchanged(b2, sb);
    dec_ok(b2, &m[2]);
    dec_ok(b2, &m[9]);
    refuse(b2, m[5].b, m[5].n, SOTTO_ERR_DUPLICATE_MESSAGE);
    msg x;
    enc(a2, &x, 10);
    dec_ok(b2, &x);
    /* bad records */
    sotto_sender_key_record *bad = (void *)1;
    assert_int_equal(sotto_sender_key_record_load(&bad, sb.p, 0), SOTTO_ERR_INVALID_STATE);
    assert_null(bad);
    sb.p[0] = 9;
    assert_int_equal(sotto_sender_key_record_load(&bad, sb.p, sb.n), SOTTO_ERR_UNSUPPORTED_VERSION);
    sb.p[0] = 1;
    for (size_t cut = 1; cut < sb.n; cut++)
        if (sotto_sender_key_record_load(&bad, sb.p, cut) == SOTTO_OK)
            sotto_sender_key_record_free(bad);   /* a prefix may parse; must not crash */
    free(sa.p);
    free(sb.p);
    free(m);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
    sotto_sender_key_record_free(a2);
    sotto_sender_key_record_free(b2);
}

static void test_wrong_inputs(void **state) /* case 11 */
{
    (void)state;
    sotto_sender_key_record *a, *b;
    pair(&a, &b);
    msg m;
    enc(a, &m, 0);
    uint8_t other[16] = { 1 };
    uint8_t out[MSG_CAP];
    size_t n;
    assert_int_equal(sotto_group_encrypt(a, other, m.pt, 1, out, sizeof out, &n), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_group_create_distribution(a, other, out, sizeof out, &n), SOTTO_ERR_INVALID_ARGUMENT);
    msg v = m;
    v.b[0] = 0x44;
    refuse(b, v.b, v.n, SOTTO_ERR_UNSUPPORTED_VERSION);
    v.b[0] = 0x23;
    refuse(b, v.b, v.n, SOTTO_ERR_UNSUPPORTED_VERSION);
    for (size_t cut = 0; cut < m.n; cut++) {
        blob before = save(b);
        uint8_t pt[MSG_CAP];
        size_t len;
        assert_int_not_equal(sotto_group_decrypt(b, m.b, cut, pt, sizeof pt, &len), SOTTO_OK);
        assert_unchanged(b, before);
        free(before.p);
    }
    /* buffer too small: nothing consumed */
    uint8_t small[4];
    size_t len;
    blob before = save(b);
    assert_int_equal(sotto_group_decrypt(b, m.b, m.n, small, sizeof small, &len), SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_unchanged(b, before);
    free(before.p);
    dec_ok(b, &m);
    assert_int_equal(sotto_group_encrypt(a, DIST, m.pt, 5, out, 10, &n), SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(sotto_group_process_distribution(b, m.b, m.n), SOTTO_ERR_MALFORMED);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
}

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_duplicate),
        cmocka_unit_test(test_shuffled),
        cmocka_unit_test(test_unknown_chain),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_wrong_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
