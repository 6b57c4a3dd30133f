/* Provisioning mailboxes and link tokens (provisioning.c): one message per
 * mailbox, handed out once; expiry after SOTTOD_PROV_TTL_MS; the mailbox
 * and token limits; waiters ended by timeout, expiry, a put, or their own
 * departure; tokens one-time, per account limited, expired after
 * SOTTOD_LINK_TOKEN_TTL_MS, refused when forged, and given back when an
 * attempt fails. */
#include "test_store_util.h"

#include "provisioning.h"

typedef struct seen {
    int expired, timeout, tick;
    bool keep;
    void *last;
} seen;

static bool on_waiter(void *ctx, void *w, sotto_prov_status why)
{
    seen *s = ctx;
    s->last = w;
    if (why == SOTTO_PROV_EXPIRED)
        s->expired++;
    else if (why == SOTTO_PROV_TIMEOUT)
        s->timeout++;
    else if (why == SOTTO_PROV_TICK)
        s->tick++;
    return s->keep;
}

static void test_mailbox_once(void **state)
{
    (void)state;
    sotto_prov *p = sotto_prov_new();
    assert_non_null(p);
    uint8_t a[SOTTOD_PROV_ADDRESS_BYTES], b[SOTTOD_PROV_ADDRESS_BYTES];
    uint64_t now = 5000;
    assert_int_equal(sotto_prov_open(p, now, a), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_open(p, now, b), SOTTO_PROV_OK);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(sotto_prov_mailboxes(p), 2);

    uint8_t *m;
    size_t n;
    assert_int_equal(sotto_prov_take(p, now, a, &m, &n), SOTTO_PROV_EMPTY);
    assert_null(m);
    const uint8_t msg[] = "sealed bytes";
    void *w = (void *)1;
    assert_int_equal(sotto_prov_put(p, now, a, msg, 0, &w), SOTTO_PROV_TOO_LARGE);
    static uint8_t big[SOTTOD_PROV_MAX_MESSAGE + 1];
    assert_int_equal(sotto_prov_put(p, now, a, big, sizeof big, &w), SOTTO_PROV_TOO_LARGE);
    assert_int_equal(sotto_prov_put(p, now, a, msg, sizeof msg, &w), SOTTO_PROV_OK);
    assert_null(w);
    /* One message per mailbox. */
    assert_int_equal(sotto_prov_put(p, now, a, msg, sizeof msg, &w), SOTTO_PROV_TAKEN);
    assert_int_equal(sotto_prov_take(p, now, a, &m, &n), SOTTO_PROV_OK);
    assert_int_equal(n, sizeof msg);
    assert_memory_equal(m, msg, n);
    free(m);
    /* Handed out once: the mailbox is gone. */
    assert_int_equal(sotto_prov_take(p, now, a, &m, &n), SOTTO_PROV_NOT_FOUND);
    assert_int_equal(sotto_prov_put(p, now, a, msg, sizeof msg, &w), SOTTO_PROV_NOT_FOUND);
    assert_int_equal(sotto_prov_mailboxes(p), 1);
    /* A forged address is no mailbox. */
    uint8_t f[SOTTOD_PROV_ADDRESS_BYTES];
    memcpy(f, b, sizeof f);
    f[0] ^= 1;
    assert_int_equal(sotto_prov_put(p, now, f, msg, sizeof msg, &w), SOTTO_PROV_NOT_FOUND);
    sotto_prov_free(p);
}

static void test_mailbox_expiry_and_limit(void **state)
{
    (void)state;
    sotto_prov *p = sotto_prov_new();
    uint8_t a[SOTTOD_PROV_ADDRESS_BYTES], x[SOTTOD_PROV_ADDRESS_BYTES];
    uint64_t now = 1;
    assert_int_equal(sotto_prov_open(p, now, a), SOTTO_PROV_OK);
    const uint8_t msg[] = "m";
    /* One millisecond before the end it still takes a message; at the end it is gone. */
    assert_int_equal(sotto_prov_put(p, now + SOTTOD_PROV_TTL_MS - 1, a, msg, 1, NULL), SOTTO_PROV_OK);
    uint8_t *m;
    size_t n;
    assert_int_equal(sotto_prov_take(p, now + SOTTOD_PROV_TTL_MS, a, &m, &n), SOTTO_PROV_NOT_FOUND);
    sotto_prov_sweep(p, now + SOTTOD_PROV_TTL_MS, NULL, NULL);
    assert_int_equal(sotto_prov_mailboxes(p), 0);

    for (size_t i = 0; i < SOTTOD_PROV_MAX_MAILBOXES; i++)
        assert_int_equal(sotto_prov_open(p, now, x), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_open(p, now, x), SOTTO_PROV_FULL);
    for (size_t i = 0; i < sizeof x; i++)
        assert_int_equal(x[i], 0); /* output zeroed on refusal */
    sotto_prov_sweep(p, now + SOTTOD_PROV_TTL_MS, NULL, NULL);
    assert_int_equal(sotto_prov_mailboxes(p), 0);
    assert_int_equal(sotto_prov_open(p, now, x), SOTTO_PROV_OK);
    sotto_prov_free(p);
}

static void test_waiters(void **state)
{
    (void)state;
    sotto_prov *p = sotto_prov_new();
    uint8_t a[SOTTOD_PROV_ADDRESS_BYTES];
    uint64_t now = 100;
    assert_int_equal(sotto_prov_open(p, now, a), SOTTO_PROV_OK);
    int w1, w2;
    assert_false(sotto_prov_has_waiter(p, now, a));
    assert_int_equal(sotto_prov_wait(p, now, a, &w1, now + 3000), SOTTO_PROV_OK);
    assert_true(sotto_prov_has_waiter(p, now, a));
    assert_int_equal(sotto_prov_wait(p, now, a, &w2, now + 3000), SOTTO_PROV_WAITING);
    seen s = {.keep = true};
    sotto_prov_sweep(p, now + 1000, on_waiter, &s);
    assert_int_equal(s.tick, 1);
    assert_ptr_equal(s.last, &w1);
    sotto_prov_sweep(p, now + 3000, on_waiter, &s);
    assert_int_equal(s.timeout, 1);
    /* The wait ended, the mailbox stays: a new wait is possible. */
    assert_int_equal(sotto_prov_wait(p, now, a, &w2, now + 3000), SOTTO_PROV_OK);
    /* A put hands the waiter over (and forgets it). */
    void *w = NULL;
    const uint8_t msg[] = "hello";
    assert_int_equal(sotto_prov_put(p, now, a, msg, sizeof msg, &w), SOTTO_PROV_OK);
    assert_ptr_equal(w, &w2);
    assert_int_equal(sotto_prov_wait(p, now, a, &w1, now + 3000), SOTTO_PROV_TAKEN);
    uint8_t *m;
    size_t n;
    assert_int_equal(sotto_prov_take(p, now, a, &m, &n), SOTTO_PROV_OK);
    free(m);

    /* A waiter dropped by the callback (its connection went) is not called again. */
    assert_int_equal(sotto_prov_open(p, now, a), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_wait(p, now, a, &w1, now + 100000), SOTTO_PROV_OK);
    memset(&s, 0, sizeof s);
    s.keep = false;
    sotto_prov_sweep(p, now + 1, on_waiter, &s);
    sotto_prov_sweep(p, now + 2, on_waiter, &s);
    assert_int_equal(s.tick, 1);
    /* Expiry answers a waiter once. */
    assert_int_equal(sotto_prov_wait(p, now, a, &w2, now + SOTTOD_PROV_TTL_MS * 2), SOTTO_PROV_OK);
    sotto_prov_unwait(p, &w2);
    assert_int_equal(sotto_prov_wait(p, now, a, &w2, now + SOTTOD_PROV_TTL_MS * 2), SOTTO_PROV_OK);
    memset(&s, 0, sizeof s);
    sotto_prov_sweep(p, now + SOTTOD_PROV_TTL_MS, on_waiter, &s);
    assert_int_equal(s.expired, 1);
    assert_int_equal(sotto_prov_mailboxes(p), 0);
    sotto_prov_sweep(p, now + SOTTOD_PROV_TTL_MS + 1, on_waiter, &s);
    assert_int_equal(s.expired, 1);
    sotto_prov_free(p);
}

static void test_tokens(void **state)
{
    (void)state;
    sotto_prov *p = sotto_prov_new();
    uint8_t acct[SOTTO_STORE_UUID_BYTES], other[SOTTO_STORE_UUID_BYTES], got[SOTTO_STORE_UUID_BYTES];
    randombytes_buf(acct, sizeof acct);
    randombytes_buf(other, sizeof other);
    uint8_t t1[SOTTOD_LINK_TOKEN_BYTES], t2[SOTTOD_LINK_TOKEN_BYTES], forged[SOTTOD_LINK_TOKEN_BYTES];
    uint64_t now = 10;
    size_t slot, slot2;
    assert_int_equal(sotto_prov_token_new(p, now, acct, 1, t1), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_token_new(p, now, acct, 1, t2), SOTTO_PROV_OK);
    assert_memory_not_equal(t1, t2, sizeof t1);

    /* Forged: refused. */
    memcpy(forged, t1, sizeof forged);
    forged[31] ^= 0x80;
    assert_int_equal(sotto_prov_token_claim(p, now, forged, got, &slot), SOTTO_PROV_NOT_FOUND);
    memset(forged, 0, sizeof forged);
    assert_int_equal(sotto_prov_token_claim(p, now, forged, got, &slot), SOTTO_PROV_NOT_FOUND);

    /* Claimed: not claimable again while the attempt runs; a failed attempt gives it back. */
    assert_int_equal(sotto_prov_token_claim(p, now, t1, got, &slot), SOTTO_PROV_OK);
    assert_memory_equal(got, acct, sizeof acct);
    assert_int_equal(sotto_prov_token_claim(p, now, t1, got, &slot2), SOTTO_PROV_NOT_FOUND);
    sotto_prov_token_finish(p, slot, false);
    assert_int_equal(sotto_prov_token_claim(p, now, t1, got, &slot), SOTTO_PROV_OK);
    sotto_prov_token_finish(p, slot, true);
    /* Used: gone for good. */
    assert_int_equal(sotto_prov_token_claim(p, now, t1, got, &slot), SOTTO_PROV_NOT_FOUND);
    assert_int_equal(sotto_prov_tokens(p), 1);
    sotto_prov_token_finish(p, slot, true); /* a finish without a claim changes nothing */
    assert_int_equal(sotto_prov_tokens(p), 1);

    /* Expired: refused at the deadline, and swept. */
    assert_int_equal(sotto_prov_token_claim(p, now + SOTTOD_LINK_TOKEN_TTL_MS, t2, got, &slot),
                     SOTTO_PROV_NOT_FOUND);
    sotto_prov_sweep(p, now + SOTTOD_LINK_TOKEN_TTL_MS, NULL, NULL);
    assert_int_equal(sotto_prov_tokens(p), 0);

    /* Per account limit; another account keeps its own. */
    for (unsigned i = 0; i < SOTTOD_LINK_MAX_PER_ACCOUNT; i++)
        assert_int_equal(sotto_prov_token_new(p, now, acct, 1, t1), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_token_new(p, now, acct, 1, t1), SOTTO_PROV_FULL);
    assert_int_equal(sotto_prov_token_new(p, now, other, 1, t2), SOTTO_PROV_OK);
    /* Expired ones make room again. */
    assert_int_equal(sotto_prov_token_new(p, now + SOTTOD_LINK_TOKEN_TTL_MS, acct, 1, t1), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_tokens(p), 1);
    sotto_prov_free(p);
}

static void test_tokens_server_limit(void **state)
{
    (void)state;
    sotto_prov *p = sotto_prov_new();
    uint8_t acct[SOTTO_STORE_UUID_BYTES], t[SOTTOD_LINK_TOKEN_BYTES];
    uint64_t now = 10;
    for (unsigned i = 0; i < SOTTOD_LINK_MAX_TOKENS; i++) {
        randombytes_buf(acct, sizeof acct);
        assert_int_equal(sotto_prov_token_new(p, now, acct, 1, t), SOTTO_PROV_OK);
    }
    randombytes_buf(acct, sizeof acct);
    assert_int_equal(sotto_prov_token_new(p, now, acct, 1, t), SOTTO_PROV_FULL);
    /* The last one handed out still works among a full table. */
    size_t slot;
    uint8_t got[SOTTO_STORE_UUID_BYTES];
    assert_int_equal(sotto_prov_token_new(p, now + SOTTOD_LINK_TOKEN_TTL_MS, acct, 1, t), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_token_claim(p, now + SOTTOD_LINK_TOKEN_TTL_MS, t, got, &slot), SOTTO_PROV_OK);
    assert_memory_equal(got, acct, sizeof acct);
    sotto_prov_free(p);
}

/* A removed device's link tokens die with it: a ready one at once, one
 * claimed by an attempt in flight when that attempt ends (even a failed one,
 * which would otherwise give it back); the account's other devices' tokens
 * and another account's device of the same id keep theirs. */
static void test_tokens_revoked(void **state)
{
    (void)state;
    sotto_prov *p = sotto_prov_new();
    uint8_t acct[SOTTO_STORE_UUID_BYTES], other[SOTTO_STORE_UUID_BYTES], got[SOTTO_STORE_UUID_BYTES];
    randombytes_buf(acct, sizeof acct);
    randombytes_buf(other, sizeof other);
    uint8_t by2[SOTTOD_LINK_TOKEN_BYTES], by2b[SOTTOD_LINK_TOKEN_BYTES], by1[SOTTOD_LINK_TOKEN_BYTES],
        other2[SOTTOD_LINK_TOKEN_BYTES];
    uint64_t now = 10;
    size_t slot, slot_b;
    assert_int_equal(sotto_prov_token_new(p, now, acct, 2, by2), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_token_new(p, now, acct, 2, by2b), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_token_new(p, now, acct, 1, by1), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_token_new(p, now, other, 2, other2), SOTTO_PROV_OK);
    assert_int_equal(sotto_prov_token_claim(p, now, by2b, got, &slot_b), SOTTO_PROV_OK);

    sotto_prov_token_revoke(p, acct, 2);
    assert_int_equal(sotto_prov_token_claim(p, now, by2, got, &slot), SOTTO_PROV_NOT_FOUND);
    /* The claimed one fails its attempt: not given back. */
    sotto_prov_token_finish(p, slot_b, false);
    assert_int_equal(sotto_prov_token_claim(p, now, by2b, got, &slot), SOTTO_PROV_NOT_FOUND);
    assert_int_equal(sotto_prov_tokens(p), 2);
    assert_int_equal(sotto_prov_token_claim(p, now, by1, got, &slot), SOTTO_PROV_OK);
    assert_memory_equal(got, acct, sizeof acct);
    assert_int_equal(sotto_prov_token_claim(p, now, other2, got, &slot), SOTTO_PROV_OK);
    assert_memory_equal(got, other, sizeof other);
    sotto_prov_free(p);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mailbox_once),
        cmocka_unit_test(test_mailbox_expiry_and_limit),
        cmocka_unit_test(test_waiters),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_tokens_server_limit),
        cmocka_unit_test(test_tokens_revoked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
