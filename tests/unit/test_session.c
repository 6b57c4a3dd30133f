/* The session state machine, C to C. Numbered cases:
 *
 *   1  Alice initiates with a one-time prekey; prekey message, reply, whisper both ways
 *   2  Alice initiates without a one-time prekey
 *   3  Bob initiates (roles swapped on the same devices)
 *   4  bundles with a bad signed-prekey or Kyber-prekey signature are refused
 *   5  out of order within a chain and across DH ratchet steps
 *   6  lost messages (never delivered) do not block later ones
 *   7  forward jump: 25,000 accepted, 25,001 refused with TOO_FAR_AHEAD
 *   8  2,001 skipped keys: the oldest is evicted -> KEY_NO_LONGER_HELD, others fine,
 *      a used one -> DUPLICATE_MESSAGE
 *   9  replay of a whisper and of a prekey message -> DUPLICATE_MESSAGE, state unchanged
 *  10  tampering (body, MAC, counter, ratchet key, pq_ratchet) -> refused, state unchanged
 *  11  save/load mid-conversation (both sides), and continuing afterwards
 *  12  simultaneous initiation converges (archived state decrypts and is promoted)
 *  13  identity change -> UNTRUSTED_IDENTITY on decrypt and on process_bundle
 *  14  loading garbage -> INVALID_STATE, never a crash
 *  15  prekey message repeated before the reply (same base key: same state)
 *  16  prekey message with missing or wrong prekeys -> MISSING_PREKEY, unchanged
 *  17  ping-pong: every message a DH step; receiver chains capped at 5, a message
 *      on a recently dropped chain -> KEY_NO_LONGER_HELD
 *  18  archived states capped at 40
 *  19  addresses: carried in prekey messages and checked when set
 *  20  API misuse: NULLs, wrong type, small buffers -> clear errors, nothing changes
 */
#include "test_session_harness.h"

static void case_01_alice_with_opk(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    msg m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    for (int i = 0; i < 3; i++) {
        enc(as, &a, "a->b", &m);
        assert_int_equal(m.type, SOTTO_MSG_WHISPER);
        dec_expect(bs, &b, &m, "a->b");
        enc(bs, &b, "b->a", &m);
        dec_expect(as, &a, &m, "b->a");
    }
    uint8_t ik[33], want[33];
    assert_int_equal(sotto_session_remote_identity(as, ik), SOTTO_OK);
    sotto_identity_public_key(b.id, want);
    assert_memory_equal(ik, want, 33);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_02_alice_without_opk(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    sotto_bundle bundle;
    msg m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    dev_bundle(&b, &bundle, 0);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    enc(as, &a, "no opk", &m);
    sotto_prekey_ids ids;
    assert_int_equal(sotto_prekey_message_ids(m.b, m.n, &ids), SOTTO_OK);
    assert_false(ids.has_pre_key);
    assert_int_equal(ids.signed_pre_key_id, b.spk_id);
    assert_int_equal(ids.kyber_pre_key_id, b.kid);
    assert_int_equal(ids.registration_id, a.reg);
    /* Bob supplies no one-time prekey. */
    sotto_prekey_secrets k;
    dev_secrets(&b, &k);
    k.has_pre_key = 0;
    uint8_t pt[64];
    size_t n = 0;
    assert_int_equal(sotto_session_decrypt(bs, b.id, &k, m.type, m.b, m.n, pt, sizeof pt, &n), SOTTO_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(pt, "no opk", 6);
    enc(bs, &b, "ok", &m);
    dec_expect(as, &a, &m, "ok");
    enc(as, &a, "whisper now", &m);
    assert_int_equal(m.type, SOTTO_MSG_WHISPER);
    dec_expect(bs, &b, &m, "whisper now");
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_03_bob_initiates(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    msg m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&bs, &as, &b, &a, 1); /* Bob is the initiator now */
    enc(as, &a, "from the responder", &m);
    dec_expect(bs, &b, &m, "from the responder");
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_04_bad_signatures(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as;
    sotto_bundle bundle;
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    dev_bundle(&b, &bundle, 1);
    bundle.signed_pre_key_signature[5] ^= 1;
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_ERR_BAD_SIGNATURE);
    dev_bundle(&b, &bundle, 1);
    bundle.kyber_pre_key_signature[40] ^= 0x10;
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_ERR_BAD_SIGNATURE);
    dev_bundle(&b, &bundle, 1);
    bundle.signed_pre_key[7] ^= 1; /* the key, not the signature */
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_ERR_BAD_SIGNATURE);
    dev_bundle(&b, &bundle, 1);
    bundle.kyber_pre_key[0] = 0x0A; /* ML-KEM type byte */
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_ERR_INVALID_KEY);
    /* Nothing was set up, and the identity was not pinned. */
    uint8_t ik[33];
    assert_int_equal(sotto_session_remote_identity(as, ik), SOTTO_ERR_NO_SESSION);
    msg m;
    assert_int_equal(sotto_session_encrypt(as, a.id, (const uint8_t *)"x", 1, m.b, sizeof m.b, &m.n, &m.type),
                     SOTTO_ERR_NO_SESSION);
    dev_bundle(&b, &bundle, 1);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    sotto_session_free(as);
    dev_free(&a);
    dev_free(&b);
}

static void case_05_out_of_order(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    static msg m[8], r;
    char text[8][16];
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    for (int i = 0; i < 4; i++) {
        snprintf(text[i], sizeof text[i], "chain1-%d", i);
        enc(as, &a, text[i], &m[i]);
    }
    /* Bob sees 2, answers (Alice ratchets), Alice sends a new chain. */
    dec_expect(bs, &b, &m[2], text[2]);
    enc(bs, &b, "reply", &r);
    dec_expect(as, &a, &r, "reply");
    for (int i = 4; i < 8; i++) {
        snprintf(text[i], sizeof text[i], "chain2-%d", i);
        enc(as, &a, text[i], &m[i]);
    }
    static const int order[] = { 7, 0, 5, 3, 4, 1, 6 };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        dec_expect(bs, &b, &m[order[i]], text[order[i]]);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_06_lost_messages(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    msg m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++)
            enc(as, &a, "lost", &m); /* never delivered */
        enc(as, &a, "arrives", &m);
        dec_expect(bs, &b, &m, "arrives");
        enc(bs, &b, "lost too", &m);
        enc(bs, &b, "back", &m);
        dec_expect(as, &a, &m, "back");
    }
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

/* Encrypt n messages from s, keeping only those at the given counters. */
static void burst(sotto_session *s, const dev *d, uint32_t n, msg *keep, const uint32_t *at, size_t n_at)
{
    msg tmp;
    for (uint32_t i = 0; i < n; i++) {
        msg *dst = &tmp;
        for (size_t k = 0; k < n_at; k++)
            if (at[k] == i)
                dst = &keep[k];
        char text[32];
        snprintf(text, sizeof text, "m%u", i);
        enc(s, d, text, dst);
    }
}

static void case_07_forward_jump(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    static msg keep[3];
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    /* A fresh sending chain for Alice: counters 0, 25000, 25001 kept. The
     * jump is counted from the last message received (libsignal's SPQR chain
     * checks index - last <= 25,000; the Double Ratchet allows that many
     * skipped keys). */
    static const uint32_t at[] = { 0, 25000, 25001 };
    burst(as, &a, 25002, keep, at, 3);
    /* Before m0 the chain is new to Bob: counter 25,001 is past the Double
     * Ratchet's limit, 25,000 past the SPQR chain's (25,001 indices on). */
    dec_fails_unchanged(bs, &b, &keep[2], SOTTO_ERR_TOO_FAR_AHEAD);
    dec_fails_unchanged(bs, &b, &keep[1], SOTTO_ERR_TOO_FAR_AHEAD);
    dec_expect(bs, &b, &keep[0], "m0");
    size_t n0;
    uint8_t *before = save_bytes(bs, &n0);
    dec_fails_unchanged(bs, &b, &keep[2], SOTTO_ERR_TOO_FAR_AHEAD);
    dec_expect(bs, &b, &keep[1], "m25000");
    dec_expect(bs, &b, &keep[2], "m25001");
    free(before);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_08_evicted_keys(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    static msg start, last, keep[3];
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    enc(as, &a, "start", &start); /* counter 0 of a fresh chain */
    dec_expect(bs, &b, &start, "start");
    /* Counters 1..2001 ("m0".."m2000"), then 2002: Bob gets 2002 first, so
     * 2,001 keys are skipped and the oldest (counter 1) is evicted. */
    static const uint32_t at[] = { 0, 1, 2000 };
    burst(as, &a, 2001, keep, at, 3);
    enc(as, &a, "last", &last);
    dec_expect(bs, &b, &last, "last");
    dec_fails_unchanged(bs, &b, &keep[0], SOTTO_ERR_KEY_NO_LONGER_HELD);
    dec_expect(bs, &b, &keep[1], "m1");
    dec_fails_unchanged(bs, &b, &keep[1], SOTTO_ERR_DUPLICATE_MESSAGE);
    dec_expect(bs, &b, &keep[2], "m2000");
    dec_fails_unchanged(bs, &b, &keep[2], SOTTO_ERR_DUPLICATE_MESSAGE);
    /* Counter 0 was delivered before the gap: a duplicate, not evicted. */
    dec_fails_unchanged(bs, &b, &start, SOTTO_ERR_DUPLICATE_MESSAGE);
    dec_fails_unchanged(bs, &b, &last, SOTTO_ERR_DUPLICATE_MESSAGE);
    /* The record survives a save/load with its eviction record. */
    size_t n;
    uint8_t *bytes = save_bytes(bs, &n);
    sotto_session *l = NULL;
    assert_int_equal(sotto_session_load(&l, bytes, n), SOTTO_OK);
    dec_fails_unchanged(l, &b, &keep[0], SOTTO_ERR_KEY_NO_LONGER_HELD);
    free(bytes);
    sotto_session_free(l);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_09_replay(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    sotto_bundle bundle;
    static msg pk, m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    dev_bundle(&b, &bundle, 1);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    enc(as, &a, "first", &pk);
    dec_expect(bs, &b, &pk, "first");
    dec_fails_unchanged(bs, &b, &pk, SOTTO_ERR_DUPLICATE_MESSAGE);
    enc(bs, &b, "reply", &m);
    dec_expect(as, &a, &m, "reply");
    dec_fails_unchanged(as, &a, &m, SOTTO_ERR_DUPLICATE_MESSAGE);
    enc(as, &a, "w", &m);
    dec_expect(bs, &b, &m, "w");
    dec_fails_unchanged(bs, &b, &m, SOTTO_ERR_DUPLICATE_MESSAGE);
    dec_fails_unchanged(bs, &b, &pk, SOTTO_ERR_DUPLICATE_MESSAGE);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_10_tampering(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    static msg m, t;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    enc(as, &a, "tamper with me", &m);
    /* Every single-byte change is refused without a trace. */
    for (size_t i = 0; i < m.n; i++) {
        t = m;
        t.b[i] ^= 0x01;
        char out[64];
        size_t n0, n1;
        uint8_t *before = save_bytes(bs, &n0);
        assert_int_not_equal(dec_raw(bs, &b, &t, out, sizeof out), SOTTO_OK);
        uint8_t *after = save_bytes(bs, &n1);
        assert_int_equal(n0, n1);
        assert_memory_equal(before, after, n0);
        free(before);
        free(after);
    }
    /* Truncated and extended. */
    t = m;
    t.n = m.n - 1;
    dec_fails_unchanged(bs, &b, &t, SOTTO_OK /* any error */);
    t = m;
    t.b[t.n++] = 0;
    dec_fails_unchanged(bs, &b, &t, SOTTO_OK /* any error */);
    t = m;
    t.b[t.n - 1] ^= 0x80;
    dec_fails_unchanged(bs, &b, &t, SOTTO_ERR_BAD_MAC);
    dec_expect(bs, &b, &m, "tamper with me");
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static sotto_session *reload(sotto_session *s)
{
    size_t n;
    uint8_t *bytes = save_bytes(s, &n);
    sotto_session *l = NULL;
    assert_int_equal(sotto_session_load(&l, bytes, n), SOTTO_OK);
    size_t n2;
    uint8_t *again = save_bytes(l, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(bytes, again, n);
    free(bytes);
    free(again);
    sotto_session_free(s);
    return l;
}

static void case_11_save_load(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    sotto_bundle bundle;
    static msg m[6];
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    bs = reload(bs); /* an empty record round-trips */
    dev_bundle(&b, &bundle, 1);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    as = reload(as); /* with the pending prekey data */
    enc(as, &a, "p0", &m[0]);
    enc(as, &a, "p1", &m[1]);
    as = reload(as);
    dec_expect(bs, &b, &m[1], "p1");
    bs = reload(bs); /* with one skipped key */
    dec_expect(bs, &b, &m[0], "p0");
    enc(bs, &b, "r0", &m[2]);
    enc(bs, &b, "r1", &m[3]);
    bs = reload(bs);
    dec_expect(as, &a, &m[3], "r1");
    as = reload(as);
    dec_expect(as, &a, &m[2], "r0");
    enc(as, &a, "w", &m[4]);
    assert_int_equal(m[4].type, SOTTO_MSG_WHISPER);
    dec_expect(bs, &b, &m[4], "w");
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_12_simultaneous_initiation(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    sotto_bundle ba, bb;
    static msg ma, mb, m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    dev_bundle(&b, &bb, 1);
    dev_bundle(&a, &ba, 1);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bb), SOTTO_OK);
    assert_int_equal(sotto_session_process_bundle(bs, b.id, &ba), SOTTO_OK);
    enc(as, &a, "alice first", &ma);
    enc(bs, &b, "bob first", &mb);
    assert_int_equal(ma.type, SOTTO_MSG_PREKEY);
    assert_int_equal(mb.type, SOTTO_MSG_PREKEY);
    dec_expect(bs, &b, &ma, "alice first");
    dec_expect(as, &a, &mb, "bob first");
    /* Each now replies on the session the other started. */
    enc(as, &a, "alice second", &m);
    assert_int_equal(m.type, SOTTO_MSG_WHISPER);
    dec_expect(bs, &b, &m, "alice second"); /* Bob finds it in an archived state */
    enc(bs, &b, "bob second", &m);
    assert_int_equal(m.type, SOTTO_MSG_WHISPER);
    dec_expect(as, &a, &m, "bob second");
    for (int i = 0; i < 3; i++) {
        enc(as, &a, "a", &m);
        assert_int_equal(m.type, SOTTO_MSG_WHISPER);
        dec_expect(bs, &b, &m, "a");
        enc(bs, &b, "b", &m);
        assert_int_equal(m.type, SOTTO_MSG_WHISPER);
        dec_expect(as, &a, &m, "b");
    }
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_13_identity_change(void **st)
{
    (void)st;
    dev a, b, b2;
    sotto_session *as, *bs, *b2s;
    sotto_bundle bundle;
    static msg m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    /* Bob reinstalls: new identity, starts a session with Alice. */
    dev_init(&b2, 2);
    assert_int_equal(sotto_session_new(&b2s), SOTTO_OK);
    dev_bundle(&a, &bundle, 1);
    assert_int_equal(sotto_session_process_bundle(b2s, b2.id, &bundle), SOTTO_OK);
    enc(b2s, &b2, "it's me", &m);
    dec_fails_unchanged(as, &a, &m, SOTTO_ERR_UNTRUSTED_IDENTITY);
    dev_bundle(&b2, &bundle, 1);
    size_t n0, n1;
    uint8_t *before = save_bytes(as, &n0);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_ERR_UNTRUSTED_IDENTITY);
    uint8_t *after = save_bytes(as, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    /* The old session still works. */
    enc(as, &a, "still you?", &m);
    dec_expect(bs, &b, &m, "still you?");
    sotto_session_free(as);
    sotto_session_free(bs);
    sotto_session_free(b2s);
    dev_free(&a);
    dev_free(&b);
    dev_free(&b2);
}

static void case_14_load_garbage(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs, *l = NULL;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    size_t n;
    uint8_t *bytes = save_bytes(bs, &n);
    assert_int_equal(sotto_session_load(&l, bytes, 0), SOTTO_ERR_INVALID_STATE);
    assert_null(l);
    /* Every truncation fails cleanly (or, rarely, still parses). */
    for (size_t cut = 1; cut < n; cut += 7) {
        sotto_err e = sotto_session_load(&l, bytes, cut);
        if (e == SOTTO_OK)
            sotto_session_free(l);
        else
            assert_int_equal(e, SOTTO_ERR_INVALID_STATE);
        l = NULL;
    }
    uint8_t *bad = malloc(n);
    memcpy(bad, bytes, n);
    bad[0] = 3; /* an unknown format version (1 and 2 load) */
    assert_int_equal(sotto_session_load(&l, bad, n), SOTTO_ERR_INVALID_STATE);
    uint32_t x = 12345;
    for (int trial = 0; trial < 2000; trial++) {
        memcpy(bad, bytes, n);
        for (int k = 0; k < 4; k++) {
            x = x * 1103515245u + 12345u;
            bad[1 + (x >> 8) % (n - 1)] ^= (uint8_t)(1u << (x & 7));
        }
        sotto_err e = sotto_session_load(&l, bad, n);
        if (e == SOTTO_OK)
            sotto_session_free(l);
        else
            assert_int_equal(e, SOTTO_ERR_INVALID_STATE);
        l = NULL;
    }
    for (size_t i = 0; i < n; i++)
        bad[i] = (uint8_t)(i * 37 + 11);
    bad[0] = 1;
    assert_int_equal(sotto_session_load(&l, bad, n), SOTTO_ERR_INVALID_STATE);
    free(bad);
    free(bytes);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_15_prekey_repeated(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    sotto_bundle bundle;
    static msg m[3];
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    dev_bundle(&b, &bundle, 1);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    for (int i = 0; i < 3; i++) {
        char t[8];
        snprintf(t, sizeof t, "pk%d", i);
        enc(as, &a, t, &m[i]);
        assert_int_equal(m[i].type, SOTTO_MSG_PREKEY);
    }
    dec_expect(bs, &b, &m[1], "pk1");
    dec_expect(bs, &b, &m[2], "pk2");
    /* The session exists: no prekeys needed for the late one. */
    uint8_t pt[16];
    size_t n = 0;
    assert_int_equal(sotto_session_decrypt(bs, b.id, NULL, m[0].type, m[0].b, m[0].n, pt, sizeof pt, &n),
                     SOTTO_OK);
    assert_memory_equal(pt, "pk0", 3);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_16_missing_prekey(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    sotto_bundle bundle;
    static msg m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    dev_bundle(&b, &bundle, 1);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    enc(as, &a, "hi", &m);
    uint8_t pt[16];
    size_t n = 0;
    size_t n0, n1;
    uint8_t *before = save_bytes(bs, &n0);
    assert_int_equal(sotto_session_decrypt(bs, b.id, NULL, m.type, m.b, m.n, pt, sizeof pt, &n),
                     SOTTO_ERR_MISSING_PREKEY);
    sotto_prekey_secrets k;
    dev_secrets(&b, &k);
    k.has_pre_key = 0;
    assert_int_equal(sotto_session_decrypt(bs, b.id, &k, m.type, m.b, m.n, pt, sizeof pt, &n),
                     SOTTO_ERR_MISSING_PREKEY);
    dev_secrets(&b, &k);
    k.kyber_pre_key_id++;
    assert_int_equal(sotto_session_decrypt(bs, b.id, &k, m.type, m.b, m.n, pt, sizeof pt, &n),
                     SOTTO_ERR_MISSING_PREKEY);
    /* Right ids, wrong key material: the MAC fails. */
    dev_secrets(&b, &k);
    k.signed_pre_key_private[3] ^= 1;
    assert_int_equal(sotto_session_decrypt(bs, b.id, &k, m.type, m.b, m.n, pt, sizeof pt, &n),
                     SOTTO_ERR_BAD_MAC);
    /* As a whisper message it does not parse. */
    assert_int_not_equal(sotto_session_decrypt(bs, b.id, NULL, SOTTO_MSG_WHISPER, m.b, m.n, pt, sizeof pt, &n),
                         SOTTO_OK);
    uint8_t *after = save_bytes(bs, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    dec_expect(bs, &b, &m, "hi");
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_17_ping_pong(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    static msg m, old[7];
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    /* Keep one undelivered message from each of Alice's next 7 chains. */
    for (int i = 0; i < 7; i++) {
        enc(as, &a, "old", &old[i]);
        enc(as, &a, "ping", &m);
        dec_expect(bs, &b, &m, "ping");
        enc(bs, &b, "pong", &m);
        dec_expect(as, &a, &m, "pong");
    }
    /* Bob keeps 5 receiver chains (those of old[2..6]); the chains of old[0]
     * and old[1] were dropped, and are recognised as such. */
    dec_fails_unchanged(bs, &b, &old[0], SOTTO_ERR_KEY_NO_LONGER_HELD);
    dec_fails_unchanged(bs, &b, &old[1], SOTTO_ERR_KEY_NO_LONGER_HELD);
    dec_expect(bs, &b, &old[2], "old");
    for (int i = 0; i < 200; i++) {
        enc(as, &a, "ping", &m);
        dec_expect(bs, &b, &m, "ping");
        enc(bs, &b, "pong", &m);
        dec_expect(as, &a, &m, "pong");
    }
    /* Long gone: only the last 5 dropped chains are remembered. The DH step
     * on them would only fail at the MAC, but their SPQR epoch is long past
     * (the braid has moved on since), so the SPQR ratchet refuses them first,
     * as libsignal does. */
    dec_fails_unchanged(bs, &b, &old[0], SOTTO_ERR_PQ_RATCHET);
    dec_fails_unchanged(bs, &b, &old[3], SOTTO_ERR_PQ_RATCHET);
    sotto_session_free(as);
    sotto_session_free(bs);

    /* Within the last 5 chains, old messages still decrypt. */
    establish(&as, &bs, &a, &b, 1);
    for (int i = 0; i < 4; i++) {
        enc(as, &a, "old", &old[i]);
        enc(as, &a, "ping", &m);
        dec_expect(bs, &b, &m, "ping");
        enc(bs, &b, "pong", &m);
        dec_expect(as, &a, &m, "pong");
    }
    for (int i = 0; i < 4; i++)
        dec_expect(bs, &b, &old[i], "old");
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_18_archive_limit(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    sotto_bundle bundle;
    static msg first, m;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    enc(bs, &b, "late, from the first session", &first);
    for (int i = 0; i < SOTTO_ARCHIVED_STATES_MAX; i++) {
        dev_new_opk(&b);
        dev_bundle(&b, &bundle, 1);
        assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    }
    /* 40 archived: the first session is the oldest, still there. */
    size_t n0;
    uint8_t *x = save_bytes(as, &n0);
    free(x);
    dec_expect(as, &a, &first, "late, from the first session"); /* promoted */
    enc(as, &a, "back on the first", &m);
    dec_expect(bs, &b, &m, "back on the first");
    enc(bs, &b, "second late", &first);
    for (int i = 0; i < SOTTO_ARCHIVED_STATES_MAX + 1; i++) {
        dev_new_opk(&b);
        dev_bundle(&b, &bundle, 1);
        assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    }
    /* 41 newer states: the first session fell off the archive. */
    dec_fails_unchanged(as, &a, &first, SOTTO_ERR_BAD_MAC);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

static void case_19_addresses(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs, *bs2;
    sotto_bundle bundle;
    static msg m;
    uint8_t aci_a[17] = { 0 }, aci_b[17] = { 0 };
    memset(aci_a + 1, 0xAA, 16);
    memset(aci_b + 1, 0xBB, 16);
    dev_init(&a, 1);
    dev_init(&b, 2);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs2), SOTTO_OK);
    assert_int_equal(sotto_session_set_addresses(as, aci_a, 1, aci_b, 2), SOTTO_OK);
    assert_int_equal(sotto_session_set_addresses(bs, aci_b, 2, aci_a, 1), SOTTO_OK);
    assert_int_equal(sotto_session_set_addresses(bs2, aci_b, 3, aci_a, 1), SOTTO_OK); /* wrong device */
    assert_int_equal(sotto_session_set_addresses(bs2, aci_b, 256, aci_a, 1), SOTTO_ERR_INVALID_ARGUMENT);
    dev_bundle(&b, &bundle, 1);
    assert_int_equal(sotto_session_process_bundle(as, a.id, &bundle), SOTTO_OK);
    enc(as, &a, "addressed", &m);
    dec_fails_unchanged(bs2, &b, &m, SOTTO_ERR_BAD_MAC);
    dec_expect(bs, &b, &m, "addressed");
    bs = reload(bs);
    enc(bs, &b, "reply", &m);
    dec_expect(as, &a, &m, "reply");
    sotto_session_free(as);
    sotto_session_free(bs);
    sotto_session_free(bs2);
    dev_free(&a);
    dev_free(&b);
}

static void case_20_misuse(void **st)
{
    (void)st;
    dev a, b;
    sotto_session *as, *bs;
    static msg m;
    uint8_t pt[64], small[8];
    size_t n = 77;
    int type = 9;
    dev_init(&a, 1);
    dev_init(&b, 2);
    establish(&as, &bs, &a, &b, 1);
    assert_int_equal(sotto_session_encrypt(NULL, a.id, pt, 1, m.b, sizeof m.b, &n, &type),
                     SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(n, 0);
    assert_int_equal(type, 0);
    assert_int_equal(sotto_session_encrypt(as, b.id, pt, 1, m.b, sizeof m.b, &n, &type),
                     SOTTO_ERR_INVALID_ARGUMENT); /* not our identity */
    assert_int_equal(sotto_session_encrypt(as, a.id, pt, 1, small, sizeof small, &n, &type),
                     SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(sotto_session_encrypt(as, a.id, pt, SOTTO_MAX_PLAINTEXT_BYTES + 1, m.b, sizeof m.b, &n, &type),
                     SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_session_ciphertext_bound(SOTTO_MAX_PLAINTEXT_BYTES + 1), 0);
    enc(as, &a, "0123456789abcdef0123", &m); /* the small buffer did not advance the chain */
    size_t n0, n1;
    uint8_t *before = save_bytes(bs, &n0);
    assert_int_equal(sotto_session_decrypt(bs, b.id, NULL, 7, m.b, m.n, pt, sizeof pt, &n),
                     SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_session_decrypt(bs, b.id, NULL, m.type, m.b, m.n, small, sizeof small, &n),
                     SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(sotto_session_decrypt(bs, b.id, NULL, m.type, m.b, 0, pt, sizeof pt, &n),
                     SOTTO_ERR_MALFORMED);
    uint8_t *after = save_bytes(bs, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    /* An exact-size output buffer is enough. */
    assert_int_equal(sotto_session_decrypt(bs, b.id, NULL, m.type, m.b, m.n, pt, 20, &n), SOTTO_OK);
    assert_int_equal(n, 20);
    uint8_t tiny[4];
    assert_int_equal(sotto_session_save(bs, tiny, sizeof tiny, &n), SOTTO_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    sotto_session_free(as);
    sotto_session_free(bs);
    dev_free(&a);
    dev_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(case_01_alice_with_opk),
        cmocka_unit_test(case_02_alice_without_opk),
        cmocka_unit_test(case_03_bob_initiates),
        cmocka_unit_test(case_04_bad_signatures),
        cmocka_unit_test(case_05_out_of_order),
        cmocka_unit_test(case_06_lost_messages),
        cmocka_unit_test(case_07_forward_jump),
        cmocka_unit_test(case_08_evicted_keys),
        cmocka_unit_test(case_09_replay),
        cmocka_unit_test(case_10_tampering),
        cmocka_unit_test(case_11_save_load),
        cmocka_unit_test(case_12_simultaneous_initiation),
        cmocka_unit_test(case_13_identity_change),
        cmocka_unit_test(case_14_load_garbage),
        cmocka_unit_test(case_15_prekey_repeated),
        cmocka_unit_test(case_16_missing_prekey),
        cmocka_unit_test(case_17_ping_pong),
        cmocka_unit_test(case_18_archive_limit),
        cmocka_unit_test(case_19_addresses),
        cmocka_unit_test(case_20_misuse),
    };
    return cmocka_run_group_tests(tests, harness_setup, NULL);
}
