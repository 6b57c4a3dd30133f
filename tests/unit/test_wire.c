/* Wire messages: pack/parse round trips, field presence rules as libsignal's
 * TryFrom impls have them, version bytes, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "protocol/internal.h"
#include "wire.pb-c.h"

static uint8_t RK[32], BODY[48], PQ[4] = { 1, 1, 7, 0 }, ADDR[36];
static uint8_t KCT[SOTTO_KYBER_CIPHERTEXT_BYTES], BASE[33], IK[33];

static int setup(void **st)
{
    (void)st;
    for (int i = 0; i < 32; i++)
        RK[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 48; i++)
        BODY[i] = (uint8_t)(0xA0 ^ i);
    for (int i = 0; i < 36; i++)
        ADDR[i] = (uint8_t)i;
    memset(KCT, 0x5C, sizeof KCT);
    KCT[0] = SOTTO_KEY_TYPE_KYBER1024;
    memset(BASE, 0x11, sizeof BASE);
    BASE[0] = SOTTO_KEY_TYPE_DJB;
    memset(IK, 0x22, sizeof IK);
    IK[0] = SOTTO_KEY_TYPE_DJB;
    return sotto_init() == SOTTO_OK ? 0 : -1;
}

static size_t make_signal(uint8_t *out, size_t cap, const uint8_t *addresses)
{
    sotto_signal_out o = { RK, 7, 3, BODY, sizeof BODY, PQ, sizeof PQ, addresses };
    size_t n = 0;
    assert_int_equal(sotto_wire_signal_size(&o), sotto_wire_signal_size(&o));
    assert_int_equal(sotto_wire_signal_pack(&o, out, cap, &n), SOTTO_OK);
    assert_int_equal(n, sotto_wire_signal_size(&o));
    memset(out + n, 0xCC, SOTTO_MAC_BYTES); /* a fake MAC */
    return n + SOTTO_MAC_BYTES;
}

static void test_signal_round_trip(void **st)
{
    (void)st;
    uint8_t buf[256];
    sotto_arena a;
    sotto_signal_msg m;
    size_t n = make_signal(buf, sizeof buf, ADDR);
    assert_int_equal(buf[0], 0x44);
    sotto_arena_init(&a);
    assert_int_equal(sotto_wire_parse_signal(&m, &a, buf, n), SOTTO_OK);
    assert_int_equal(m.version, 4);
    assert_memory_equal(m.ratchet_key, RK, 32);
    assert_int_equal(m.counter, 7);
    assert_int_equal(m.previous_counter, 3);
    assert_int_equal(m.body_len, sizeof BODY);
    assert_memory_equal(m.body, BODY, sizeof BODY);
    assert_int_equal(m.pq_len, sizeof PQ);
    assert_memory_equal(m.pq, PQ, sizeof PQ);
    assert_true(m.has_addresses);
    assert_memory_equal(m.addresses, ADDR, 36);
    assert_ptr_equal(m.mac, buf + n - 8);
    assert_int_equal(m.serialized_len, n - 8);
    sotto_arena_release(&a);

    /* The bytes are a plain SignalMessage protobuf for any other decoder. */
    Sotto__Wire__SignalMessage *pb = sotto__wire__signal_message__unpack(NULL, n - 9, buf + 1);
    assert_non_null(pb);
    assert_int_equal(pb->ratchet_key.len, 33);
    assert_int_equal(pb->ratchet_key.data[0], 0x05);
    sotto__wire__signal_message__free_unpacked(pb, NULL);

    /* Too small an output buffer: refused, nothing claimed written. */
    sotto_signal_out o = { RK, 7, 3, BODY, sizeof BODY, PQ, sizeof PQ, NULL };
    size_t len = 99;
    assert_int_equal(sotto_wire_signal_pack(&o, buf, 10, &len), SOTTO_ERR_BUFFER_TOO_SMALL);
}

static void test_signal_rejects(void **st)
{
    (void)st;
    uint8_t buf[256], bad[256];
    sotto_arena a;
    sotto_signal_msg m;
    size_t n = make_signal(buf, sizeof buf, NULL);
    sotto_arena_init(&a);
    assert_int_equal(sotto_wire_parse_signal(&m, &a, buf, 8), SOTTO_ERR_MALFORMED);
    memcpy(bad, buf, n);
    bad[0] = 0x33; /* X3DH-era messages are refused */
    assert_int_equal(sotto_wire_parse_signal(&m, &a, bad, n), SOTTO_ERR_UNSUPPORTED_VERSION);
    bad[0] = 0x54;
    assert_int_equal(sotto_wire_parse_signal(&m, &a, bad, n), SOTTO_ERR_UNSUPPORTED_VERSION);
    bad[0] = 0x43; /* the low nibble is not checked, as in libsignal */
    assert_int_equal(sotto_wire_parse_signal(&m, &a, bad, n), SOTTO_OK);
    /* A ratchet key with the wrong type byte. */
    memcpy(bad, buf, n);
    assert_int_equal(bad[1], 0x0A);  /* field 1, length-delimited */
    bad[3] = 0x06;
    assert_int_equal(sotto_wire_parse_signal(&m, &a, bad, n), SOTTO_ERR_INVALID_KEY);
    /* Missing counter: field 2 rewritten to an unknown field 15. */
    memcpy(bad, buf, n);
    assert_int_equal(bad[36], 0x10);
    bad[36] = 0x78;
    assert_int_equal(sotto_wire_parse_signal(&m, &a, bad, n), SOTTO_ERR_MALFORMED);
    /* Truncated protobuf. */
    assert_int_equal(sotto_wire_parse_signal(&m, &a, buf, n - 12), SOTTO_ERR_MALFORMED);
    sotto_arena_release(&a);
}

static void test_prekey_round_trip(void **st)
{
    (void)st;
    uint8_t inner[256], buf[4096];
    sotto_arena a;
    sotto_prekey_msg m;
    size_t in = make_signal(inner, sizeof inner, NULL), n = 0;
    sotto_prekey_out o = { 1234, 1, 55, 66, 77, KCT, BASE, IK, inner, in };
    assert_int_equal(sotto_wire_prekey_pack(&o, buf, sizeof buf, &n), SOTTO_OK);
    assert_int_equal(n, sotto_wire_prekey_size(&o));
    assert_int_equal(buf[0], 0x44);
    sotto_arena_init(&a);
    assert_int_equal(sotto_wire_parse_prekey(&m, &a, buf, n), SOTTO_OK);
    assert_int_equal(m.registration_id, 1234);
    assert_true(m.has_pre_key);
    assert_int_equal(m.pre_key_id, 55);
    assert_int_equal(m.signed_pre_key_id, 66);
    assert_int_equal(m.kyber_pre_key_id, 77);
    assert_memory_equal(m.kyber_ciphertext, KCT, sizeof KCT);
    assert_memory_equal(m.base_key, BASE, 33);
    assert_memory_equal(m.identity_key, IK, 33);
    assert_int_equal(m.message.counter, 7);
    sotto_arena_release(&a);

    /* Without a one-time prekey. */
    o.has_pre_key = 0;
    assert_int_equal(sotto_wire_prekey_pack(&o, buf, sizeof buf, &n), SOTTO_OK);
    sotto_prekey_ids ids;
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_OK);
    assert_false(ids.has_pre_key);
    assert_int_equal(ids.signed_pre_key_id, 66);
    assert_int_equal(ids.kyber_pre_key_id, 77);
    assert_memory_equal(ids.identity_key, IK, 33);
}

static void test_prekey_rejects(void **st)
{
    (void)st;
    uint8_t inner[256], buf[4096];
    sotto_prekey_ids ids;
    size_t in = make_signal(inner, sizeof inner, NULL), n = 0;
    Sotto__Wire__PreKeySignalMessage pb;
    sotto__wire__pre_key_signal_message__init(&pb);
    pb.has_signed_pre_key_id = 1;
    pb.signed_pre_key_id = 1;
    pb.has_base_key = 1;
    pb.base_key.data = BASE;
    pb.base_key.len = 33;
    pb.has_identity_key = 1;
    pb.identity_key.data = IK;
    pb.identity_key.len = 33;
    pb.has_message = 1;
    pb.message.data = inner;
    pb.message.len = in;
    buf[0] = 0x44;
    /* No Kyber payload at all: v4 needs it. */
    n = 1 + sotto__wire__pre_key_signal_message__pack(&pb, buf + 1);
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_ERR_MALFORMED);
    /* Only one half of it. */
    pb.has_kyber_pre_key_id = 1;
    pb.kyber_pre_key_id = 9;
    n = 1 + sotto__wire__pre_key_signal_message__pack(&pb, buf + 1);
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_ERR_MALFORMED);
    /* Wrong ciphertext size. */
    pb.has_kyber_ciphertext = 1;
    pb.kyber_ciphertext.data = KCT;
    pb.kyber_ciphertext.len = sizeof KCT - 1;
    n = 1 + sotto__wire__pre_key_signal_message__pack(&pb, buf + 1);
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_ERR_INVALID_KEY);
    pb.kyber_ciphertext.len = sizeof KCT;
    n = 1 + sotto__wire__pre_key_signal_message__pack(&pb, buf + 1);
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_OK);
    /* Missing signed prekey id. */
    pb.has_signed_pre_key_id = 0;
    n = 1 + sotto__wire__pre_key_signal_message__pack(&pb, buf + 1);
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_ERR_MALFORMED);
    pb.has_signed_pre_key_id = 1;
    /* A broken inner message. */
    pb.message.len = 5;
    n = 1 + sotto__wire__pre_key_signal_message__pack(&pb, buf + 1);
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_ERR_MALFORMED);
    /* Wrong version, empty input. */
    buf[0] = 0x33;
    assert_int_equal(sotto_prekey_message_ids(buf, n, &ids), SOTTO_ERR_UNSUPPORTED_VERSION);
    assert_int_equal(sotto_prekey_message_ids(buf, 0, &ids), SOTTO_ERR_MALFORMED);
}

static void test_arena_large_bodies(void **st)
{
    (void)st;
    /* A body past the inline arena goes to the heap and is released. */
    size_t big = 3 * SOTTO_ARENA_INLINE;
    uint8_t *body = calloc(1, big), *buf = malloc(big + 256);
    sotto_signal_out o = { RK, 1, 0, body, big, PQ, sizeof PQ, NULL };
    size_t n = 0;
    assert_int_equal(sotto_wire_signal_pack(&o, buf, big + 256, &n), SOTTO_OK);
    sotto_arena a;
    sotto_signal_msg m;
    sotto_arena_init(&a);
    assert_int_equal(sotto_wire_parse_signal(&m, &a, buf, n + 8), SOTTO_OK);
    assert_int_equal(m.body_len, big);
    assert_true(a.n_heap >= 1);
    sotto_arena_release(&a);
    free(body);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_round_trip),
        cmocka_unit_test(test_signal_rejects),
        cmocka_unit_test(test_prekey_round_trip),
        cmocka_unit_test(test_prekey_rejects),
        cmocka_unit_test(test_arena_large_bodies),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
