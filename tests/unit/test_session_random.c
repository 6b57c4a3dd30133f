/* Randomised conversations between two C sessions (fixed seeds, so a failure
 * reproduces): both sides send in bursts, messages are delivered late, out
 * of order, dropped or delivered twice, and the records are saved and
 * reloaded now and then. Every first delivery must decrypt to its text, every
 * second one must be DUPLICATE_MESSAGE and change nothing. */
#include "test_session_harness.h"
#include "protocol/internal.h"

#define EVENTS 3000
#define IN_FLIGHT_MAX 64

typedef struct flight {
    msg m;
    char text[32];
    int delivered;
} flight;

static uint32_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state % n;
}

/* Ratchet keys each side has ever had a receiver chain for. */
#define SEEN_MAX 4096
static uint8_t seen[2][SEEN_MAX][32];
static int n_seen[2];

static void note_chains(int who, const sotto_session *s)
{
    const sotto_state *st = s->current;
    for (uint32_t i = 0; i < st->n_chains; i++) {
        int found = 0;
        for (int k = 0; k < n_seen[who] && !found; k++)
            found = memcmp(seen[who][k], st->chains[i].ratchet_key, 32) == 0;
        if (!found && n_seen[who] < SEEN_MAX)
            memcpy(seen[who][n_seen[who]++], st->chains[i].ratchet_key, 32);
    }
}

/* What libsotto must answer for m at the receiver rx (index who). */
static sotto_err expected(int who, const sotto_session *rx, const msg *m, int delivered)
{
    sotto_arena a;
    sotto_signal_msg sm;
    sotto_prekey_msg pm;
    const uint8_t *rk;
    sotto_arena_init(&a);
    if (m->type == SOTTO_MSG_PREKEY) {
        assert_int_equal(sotto_wire_parse_prekey(&pm, &a, m->b, m->n), SOTTO_OK);
        rk = pm.message.ratchet_key;
    } else {
        assert_int_equal(sotto_wire_parse_signal(&sm, &a, m->b, m->n), SOTTO_OK);
        rk = sm.ratchet_key;
    }
    const sotto_state *st = rx->current;
    /* What the SPQR braid of the current state says of the payload (epoch
     * out of range, index already used, or a key), without keeping it. */
    sotto_err spqr = SOTTO_OK;
    if (st->braid != NULL) {
        const uint8_t *pq = m->type == SOTTO_MSG_PREKEY ? pm.message.pq : sm.pq;
        size_t pq_len = m->type == SOTTO_MSG_PREKEY ? pm.message.pq_len : sm.pq_len;
        sotto_spqr_braid *next = NULL;
        uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES];
        int has = 0;
        spqr = sotto_spqr_braid_recv_prepare(st->braid, &next, pq, pq_len, key, &has);
        sotto_spqr_braid_discard(next);
    }
    sotto_err e = SOTTO_OK;
    int in_chains = 0, in_dropped = 0, in_seen = 0;
    for (uint32_t i = 0; i < st->n_chains; i++)
        in_chains |= memcmp(st->chains[i].ratchet_key, rk, 32) == 0;
    for (uint32_t i = 0; i < st->n_dropped; i++)
        in_dropped |= memcmp(st->dropped[i], rk, 32) == 0;
    for (int k = 0; k < n_seen[who]; k++)
        in_seen |= memcmp(seen[who][k], rk, 32) == 0;
    if (in_chains)
        e = delivered ? SOTTO_ERR_DUPLICATE_MESSAGE : spqr;
    else if (in_dropped)
        e = SOTTO_ERR_KEY_NO_LONGER_HELD;
    else if (in_seen) /* long gone: a DH step on garbage; the SPQR chain still
                       * knows a used index */
        e = spqr != SOTTO_OK ? spqr : SOTTO_ERR_BAD_MAC;
    else
        e = delivered ? SOTTO_ERR_DUPLICATE_MESSAGE : spqr;
    sotto_arena_release(&a);
    return e;
}

static sotto_session *reload(sotto_session *s)
{
    size_t n;
    uint8_t *b = save_bytes(s, &n);
    sotto_session *l = NULL;
    assert_int_equal(sotto_session_load(&l, b, n), SOTTO_OK);
    free(b);
    sotto_session_free(s);
    return l;
}

static void run(uint32_t seed)
{
    dev d[2];
    sotto_session *s[2];
    static flight fl[2][IN_FLIGHT_MAX]; /* fl[i]: sent by i, to 1 - i */
    int nfl[2] = { 0, 0 };
    unsigned sent = 0, delivered = 0, dups = 0, gone = 0;
    rng_state = seed;
    n_seen[0] = n_seen[1] = 0;
    dev_init(&d[0], 1);
    dev_init(&d[1], 2);
    establish(&s[0], &s[1], &d[0], &d[1], (int)(seed & 1));
    note_chains(0, s[0]);
    note_chains(1, s[1]);

    for (int ev = 0; ev < EVENTS; ev++) {
        int who = (int)rnd(2);
        uint32_t r = rnd(100);
        if (r < 45 && nfl[who] < IN_FLIGHT_MAX) {
            flight *f = &fl[who][nfl[who]++];
            snprintf(f->text, sizeof f->text, "%u:%d:%u", seed, who, sent++);
            enc(s[who], &d[who], f->text, &f->m);
            f->delivered = 0;
        } else if (r < 90 && nfl[who] > 0) {
            /* Deliver one of who's messages, mostly the oldest ones. */
            int k = rnd(4) == 0 ? (int)rnd((uint32_t)nfl[who]) : (int)rnd((uint32_t)(nfl[who] < 3 ? nfl[who] : 3));
            flight *f = &fl[who][k];
            int rx = 1 - who;
            sotto_err want = expected(rx, s[rx], &f->m, f->delivered);
            if (want == SOTTO_OK) {
                dec_expect(s[rx], &d[rx], &f->m, f->text);
                f->delivered = 1;
                delivered++;
                note_chains(rx, s[rx]);
            } else {
                dec_fails_unchanged(s[rx], &d[rx], &f->m, want);
                dups += want == SOTTO_ERR_DUPLICATE_MESSAGE;
                gone += want != SOTTO_ERR_DUPLICATE_MESSAGE;
            }
            /* Keep it around for a possible duplicate, sometimes. */
            if (rnd(3) != 0) {
                fl[who][k] = fl[who][--nfl[who]];
            }
        } else if (r < 94 && nfl[who] > 0) {
            /* Lost. */
            int k = (int)rnd((uint32_t)nfl[who]);
            fl[who][k] = fl[who][--nfl[who]];
        } else if (r < 97) {
            s[who] = reload(s[who]);
        }
    }
    assert_true(delivered > EVENTS / 4);
    assert_true(dups > 0);
    printf("seed %08x: %u sent, %u delivered, %u duplicates, %u on dropped chains\n", seed, sent, delivered, dups, gone);
    sotto_session_free(s[0]);
    sotto_session_free(s[1]);
    dev_free(&d[0]);
    dev_free(&d[1]);
}

/* The compact record of evicted counters: ascending ranges, merged when
 * adjacent; past SOTTO_EVICTED_RANGES_MAX the two oldest merge (the gap
 * between them then reads as evicted, never the other way round). */
static void test_eviction_record(void **st)
{
    (void)st;
    sotto_recv_chain c;
    memset(&c, 0, sizeof c);
    sotto_chain_note_evicted(&c, 5, 5);
    sotto_chain_note_evicted(&c, 6, 6);
    sotto_chain_note_evicted(&c, 8, 10);
    assert_int_equal(c.n_evicted, 2);
    assert_true(sotto_chain_was_evicted(&c, 5));
    assert_true(sotto_chain_was_evicted(&c, 6));
    assert_false(sotto_chain_was_evicted(&c, 7));
    assert_true(sotto_chain_was_evicted(&c, 9));
    assert_false(sotto_chain_was_evicted(&c, 11));
    for (uint32_t i = 0; i < 2 * SOTTO_EVICTED_RANGES_MAX; i++)
        sotto_chain_note_evicted(&c, 100 + 2 * i, 100 + 2 * i);
    assert_int_equal(c.n_evicted, SOTTO_EVICTED_RANGES_MAX);
    assert_true(sotto_chain_was_evicted(&c, 7));   /* merged into an old range */
    uint32_t last = 100 + 2 * (2 * SOTTO_EVICTED_RANGES_MAX - 1);
    assert_true(sotto_chain_was_evicted(&c, last));
    assert_false(sotto_chain_was_evicted(&c, last - 1)); /* recent gaps stay exact */
    assert_false(sotto_chain_was_evicted(&c, 4));
}

static void test_random_1(void **st) { (void)st; run(0x1234567u); }
static void test_random_2(void **st) { (void)st; run(0x9e3779b9u); }
static void test_random_3(void **st) { (void)st; run(0xdeadbeefu); }
static void test_random_4(void **st) { (void)st; run(77u); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eviction_record),
        cmocka_unit_test(test_random_1),
        cmocka_unit_test(test_random_2),
        cmocka_unit_test(test_random_3),
        cmocka_unit_test(test_random_4),
    };
    return cmocka_run_group_tests(tests, harness_setup, NULL);
}
