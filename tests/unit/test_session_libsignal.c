/* Known answers from the real libsignal 0.103: prekey messages its Alice sent
 * to a Bob whose keys are in test_session_libsignal_vectors.h (made by
 * gen_libsignal_vectors.mjs). libsotto, as Bob, must decrypt them: PQXDH with
 * and without a one-time prekey, the SPQR Hdr payloads of a libsignal
 * initiator, and the 36-byte addresses libsignal adds for ServiceId names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sotto/sotto.h"
#include "protocol/internal.h"
#include "test_session_libsignal_vectors.h"

static sotto_identity *bob;
static sotto_prekey_secrets keys;

static int setup(void **st)
{
    (void)st;
    if (sotto_init() != SOTTO_OK || sotto_identity_from_keys(&bob, LS_BOB_PRIV, LS_BOB_REG) != SOTTO_OK)
        return -1;
    memset(&keys, 0, sizeof keys);
    keys.signed_pre_key_id = LS_SPK_ID;
    memcpy(keys.signed_pre_key_public, LS_SPK_PUB, 33);
    memcpy(keys.signed_pre_key_private, LS_SPK_PRIV, 32);
    keys.has_pre_key = 1;
    keys.pre_key_id = LS_OPK_ID;
    memcpy(keys.pre_key_public, LS_OPK_PUB, 33);
    memcpy(keys.pre_key_private, LS_OPK_PRIV, 32);
    keys.kyber_pre_key_id = LS_KYBER_ID;
    memcpy(keys.kyber_pre_key_secret, LS_KYBER_SEC, sizeof LS_KYBER_SEC);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    sotto_identity_free(bob);
    return 0;
}

static sotto_err dec(sotto_session *s, const sotto_prekey_secrets *k, const uint8_t *m, size_t n,
                     const char *want)
{
    uint8_t pt[128];
    size_t pn = 0;
    sotto_err e = sotto_session_decrypt(s, bob, k, SOTTO_MSG_PREKEY, m, n, pt, sizeof pt, &pn);
    if (e == SOTTO_OK) {
        assert_int_equal(pn, strlen(want));
        assert_memory_equal(pt, want, pn);
    }
    return e;
}

static void test_prekey_with_opk(void **st)
{
    (void)st;
    sotto_session *s;
    sotto_prekey_ids ids;
    assert_int_equal(sotto_prekey_message_ids(LS_PLAIN_MSG0, sizeof LS_PLAIN_MSG0, &ids), SOTTO_OK);
    assert_int_equal(ids.registration_id, 1234);
    assert_true(ids.has_pre_key);
    assert_int_equal(ids.pre_key_id, LS_OPK_ID);
    assert_int_equal(ids.signed_pre_key_id, LS_SPK_ID);
    assert_int_equal(ids.kyber_pre_key_id, LS_KYBER_ID);
    assert_memory_equal(ids.identity_key, LS_PLAIN_ALICE_IK, 33);
    assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    /* The second message first (counter 1), then the first. */
    assert_int_equal(dec(s, &keys, LS_PLAIN_MSG1, sizeof LS_PLAIN_MSG1, LS_PLAIN_TEXT1), SOTTO_OK);
    assert_int_equal(dec(s, NULL, LS_PLAIN_MSG0, sizeof LS_PLAIN_MSG0, LS_PLAIN_TEXT0), SOTTO_OK);
    assert_int_equal(dec(s, NULL, LS_PLAIN_MSG0, sizeof LS_PLAIN_MSG0, LS_PLAIN_TEXT0),
                     SOTTO_ERR_DUPLICATE_MESSAGE);
    uint8_t ik[33];
    assert_int_equal(sotto_session_remote_identity(s, ik), SOTTO_OK);
    assert_memory_equal(ik, LS_PLAIN_ALICE_IK, 33);
    /* Another libsignal identity is not this record's. */
    assert_int_equal(dec(s, &keys, LS_NOOPK_MSG0, sizeof LS_NOOPK_MSG0, LS_NOOPK_TEXT0),
                     SOTTO_ERR_UNTRUSTED_IDENTITY);
    sotto_session_free(s);
}

static void test_prekey_without_opk(void **st)
{
    (void)st;
    sotto_session *s;
    sotto_prekey_secrets k = keys;
    k.has_pre_key = 0;
    assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    assert_int_equal(dec(s, &k, LS_NOOPK_MSG0, sizeof LS_NOOPK_MSG0, LS_NOOPK_TEXT0), SOTTO_OK);
    sotto_session_free(s);
}

static void test_addresses(void **st)
{
    (void)st;
    sotto_session *s;
    /* Not configured: carried but not checked. */
    assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    assert_int_equal(dec(s, &keys, LS_ADDR_MSG0, sizeof LS_ADDR_MSG0, LS_ADDR_TEXT0), SOTTO_OK);
    sotto_session_free(s);
    /* Configured as libsignal had them (Bob is local, Alice remote). */
    assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    assert_int_equal(sotto_session_set_addresses(s, LS_BOB_ACI, 1, LS_ALICE_ACI, 1), SOTTO_OK);
    assert_int_equal(dec(s, &keys, LS_ADDR_MSG0, sizeof LS_ADDR_MSG0, LS_ADDR_TEXT0), SOTTO_OK);
    sotto_session_free(s);
    /* Another device, or the two swapped: refused. */
    assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    assert_int_equal(sotto_session_set_addresses(s, LS_BOB_ACI, 2, LS_ALICE_ACI, 1), SOTTO_OK);
    assert_int_equal(dec(s, &keys, LS_ADDR_MSG0, sizeof LS_ADDR_MSG0, LS_ADDR_TEXT0), SOTTO_ERR_BAD_MAC);
    assert_int_equal(sotto_session_set_addresses(s, LS_ALICE_ACI, 1, LS_BOB_ACI, 1), SOTTO_OK);
    assert_int_equal(dec(s, &keys, LS_ADDR_MSG0, sizeof LS_ADDR_MSG0, LS_ADDR_TEXT0), SOTTO_ERR_BAD_MAC);
    uint8_t ik[33];
    assert_int_equal(sotto_session_remote_identity(s, ik), SOTTO_ERR_NO_SESSION);
    sotto_session_free(s);
}

static void test_tampered(void **st)
{
    (void)st;
    sotto_session *s;
    uint8_t m[sizeof LS_PLAIN_MSG0];
    assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    /* The Kyber ciphertext (implicit rejection gives another secret) and the
     * last MAC byte. */
    memcpy(m, LS_PLAIN_MSG0, sizeof m);
    m[200] ^= 0x01;
    assert_int_not_equal(dec(s, &keys, m, sizeof m, LS_PLAIN_TEXT0), SOTTO_OK);
    memcpy(m, LS_PLAIN_MSG0, sizeof m);
    m[sizeof m - 1] ^= 0x01;
    assert_int_equal(dec(s, &keys, m, sizeof m, LS_PLAIN_TEXT0), SOTTO_ERR_BAD_MAC);
    assert_int_equal(dec(s, &keys, LS_PLAIN_MSG0, sizeof LS_PLAIN_MSG0, LS_PLAIN_TEXT0), SOTTO_OK);
    sotto_session_free(s);
}

/* libsignal's rust/protocol/src/ratchet/keys.rs test_chain_key_derivation:
 * message keys without an SPQR salt, and the next chain key. */
static void test_chain_key_vector(void **st)
{
    (void)st;
    static const uint8_t ck[32] = {
        0x8a, 0xb7, 0x2d, 0x6f, 0x4c, 0xc5, 0xac, 0x0d, 0x38, 0x7e, 0xaf, 0x46, 0x33, 0x78, 0xdd, 0xb2,
        0x8e, 0xdd, 0x07, 0x38, 0x5b, 0x1c, 0xb0, 0x12, 0x50, 0xc7, 0x15, 0x98, 0x2e, 0x7a, 0xd4, 0x8f,
    };
    static const uint8_t cipher[32] = {
        0xbf, 0x51, 0xe9, 0xd7, 0x5e, 0x0e, 0x31, 0x03, 0x10, 0x51, 0xf8, 0x2a, 0x24, 0x91, 0xff, 0xc0,
        0x84, 0xfa, 0x29, 0x8b, 0x77, 0x93, 0xbd, 0x9d, 0xb6, 0x20, 0x05, 0x6f, 0xeb, 0xf4, 0x52, 0x17,
    };
    static const uint8_t mac[32] = {
        0xc6, 0xc7, 0x7d, 0x6a, 0x73, 0xa3, 0x54, 0x33, 0x7a, 0x56, 0x43, 0x5e, 0x34, 0x60, 0x7d, 0xfe,
        0x48, 0xe3, 0xac, 0xe1, 0x4e, 0x77, 0x31, 0x4d, 0xc6, 0xab, 0xc1, 0x72, 0xe7, 0xa7, 0x03, 0x0b,
    };
    static const uint8_t next[32] = {
        0x28, 0xe8, 0xf8, 0xfe, 0xe5, 0x4b, 0x80, 0x1e, 0xef, 0x7c, 0x5c, 0xfb, 0x2f, 0x17, 0xf3, 0x2c,
        0x7b, 0x33, 0x44, 0x85, 0xbb, 0xb7, 0x0f, 0xac, 0x6e, 0xc1, 0x03, 0x42, 0xa2, 0x46, 0xd1, 0x5d,
    };
    uint8_t seed[32], n[32];
    sotto_message_keys mk;
    memcpy(n, ck, 32);
    assert_int_equal(sotto_chain_step(seed, n, n), SOTTO_OK); /* next may alias ck */
    assert_memory_equal(n, next, 32);
    assert_int_equal(sotto_message_keys_derive(&mk, seed, NULL), SOTTO_OK);
    assert_memory_equal(mk.cipher, cipher, 32);
    assert_memory_equal(mk.mac, mac, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prekey_with_opk),
        cmocka_unit_test(test_prekey_without_opk),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_chain_key_vector),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
