/* The message layers against messages made by the real libsignal 0.103
 * (tests/unit/test_sealed_libsignal_vectors.h, written by
 * `node tests/interop/peer_layers.js --vectors`), without Node in the loop:
 * a distribution message and six SenderKeyMessages decrypted out of order
 * (replays refused); a sealed sender v1 envelope and a v2 sent form for two
 * recipients (one a PNI) fanned out and opened by each, with the certificate
 * checked against libsignal's trust root, and refused once expired. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sotto/sotto.h"
#include "test_sealed_libsignal_vectors.h"

#define BUF 4096

static const uint8_t *const CT[LS_GROUP_N] = { LS_GROUP_CT0, LS_GROUP_CT1, LS_GROUP_CT2,
                                               LS_GROUP_CT3, LS_GROUP_CT4, LS_GROUP_CT5 };
static const size_t CT_LEN[LS_GROUP_N] = { sizeof LS_GROUP_CT0, sizeof LS_GROUP_CT1, sizeof LS_GROUP_CT2,
                                           sizeof LS_GROUP_CT3, sizeof LS_GROUP_CT4, sizeof LS_GROUP_CT5 };
static const uint8_t *const PT[LS_GROUP_N] = { LS_GROUP_PT0, LS_GROUP_PT1, LS_GROUP_PT2,
                                               LS_GROUP_PT3, LS_GROUP_PT4, LS_GROUP_PT5 };
static const size_t PT_LEN[LS_GROUP_N] = { sizeof LS_GROUP_PT0, sizeof LS_GROUP_PT1, sizeof LS_GROUP_PT2,
                                           sizeof LS_GROUP_PT3, sizeof LS_GROUP_PT4, sizeof LS_GROUP_PT5 };

static void test_group(void **state)
{
    (void)state;
    sotto_sender_key_record *r;
    assert_int_equal(sotto_sender_key_record_new(&r), SOTTO_OK);
    uint8_t id[16], id2[16];
    assert_int_equal(sotto_group_distribution_message_id(LS_SKDM, sizeof LS_SKDM, id), SOTTO_OK);
    assert_int_equal(sotto_group_process_distribution(r, LS_SKDM, sizeof LS_SKDM), SOTTO_OK);
    static const int order[LS_GROUP_N] = { 3, 0, 5, 1, 4, 2 };
    uint8_t pt[BUF];
    size_t n;
    for (int k = 0; k < LS_GROUP_N; k++) {
        const int i = order[k];
        assert_int_equal(sotto_group_message_id(CT[i], CT_LEN[i], id2), SOTTO_OK);
        assert_memory_equal(id, id2, 16);
        assert_int_equal(sotto_group_decrypt(r, CT[i], CT_LEN[i], pt, sizeof pt, &n), SOTTO_OK);
        assert_int_equal(n, PT_LEN[i]);
        assert_memory_equal(pt, PT[i], n);
    }
    for (int i = 0; i < LS_GROUP_N; i++)
        assert_int_equal(sotto_group_decrypt(r, CT[i], CT_LEN[i], pt, sizeof pt, &n), SOTTO_ERR_DUPLICATE_MESSAGE);
    sotto_sender_key_record_free(r);
}

static void open_ok(const sotto_identity *us, const uint8_t *msg, size_t len)
{
    uint8_t out[BUF];
    size_t n;
    sotto_unsealed info;
    assert_int_equal(sotto_sealed_open(us, LS_TRUST_ROOT, LS_NOW_MS, msg, len, out, sizeof out, &n, &info), SOTTO_OK);
    assert_int_equal(n, sizeof LS_SEALED_CONTENT);
    assert_memory_equal(out, LS_SEALED_CONTENT, n);
    assert_int_equal(info.msg_type, SOTTO_MSG_WHISPER);
    assert_int_equal(info.content_hint, 1);
    assert_true(info.has_group_id);
    assert_int_equal(info.group_id_len, 4);
    assert_string_equal(info.sender.sender_uuid, "9d0652a3-dcc3-4d11-975f-74d61598733f");
    assert_string_equal(info.sender.sender_e164, "+14155550100");
    assert_int_equal(info.sender.sender_device, 3);
    assert_int_equal(info.sender.server_key_id, 7);
    assert_memory_equal(info.sender.identity_key, LS_SENDER_IK, 33);
    assert_int_equal(sotto_sealed_open(us, LS_TRUST_ROOT, LS_EXPIRES_MS + 1, msg, len, out, sizeof out, &n, &info),
                     SOTTO_ERR_BAD_SIGNATURE);
    assert_int_equal(info.cert_status, SOTTO_CERT_EXPIRED);
}

static void test_sealed(void **state)
{
    (void)state;
    sotto_identity *r0, *r1;
    assert_int_equal(sotto_identity_from_keys(&r0, LS_RCPT0_PRIV, 100), SOTTO_OK);
    assert_int_equal(sotto_identity_from_keys(&r1, LS_RCPT1_PRIV, 101), SOTTO_OK);
    assert_int_equal(LS_SEALED_V1[0], 0x11);
    open_ok(r0, LS_SEALED_V1, sizeof LS_SEALED_V1);
    uint8_t out[BUF];
    size_t n;
    sotto_unsealed info;
    assert_int_not_equal(sotto_sealed_open(r1, LS_TRUST_ROOT, LS_NOW_MS, LS_SEALED_V1, sizeof LS_SEALED_V1, out,
                                           sizeof out, &n, &info), SOTTO_OK);

    assert_int_equal(LS_SEALED_V2_SENT[0], 0x23);
    sotto_sealed_v2_entry ent[2];
    size_t ne, shared, m;
    assert_int_equal(sotto_sealed_v2_parse(LS_SEALED_V2_SENT, sizeof LS_SEALED_V2_SENT, ent, 2, &ne, &shared), SOTTO_OK);
    assert_int_equal(ne, 2);
    assert_int_equal(ent[0].service_id[0], 0);     /* ACI */
    assert_int_equal(ent[1].service_id[0], 1);     /* PNI */
    assert_int_equal(ent[0].registration_ids[0], 100);
    assert_int_equal(ent[1].registration_ids[0], 101);
    const sotto_identity *who[2] = { r0, r1 };
    for (int i = 0; i < 2; i++) {
        uint8_t rx[BUF];
        assert_int_equal(sotto_sealed_v2_received(LS_SEALED_V2_SENT, sizeof LS_SEALED_V2_SENT, &ent[i], shared, rx,
                                                  sizeof rx, &m), SOTTO_OK);
        open_ok(who[i], rx, m);
        assert_int_not_equal(sotto_sealed_open(who[1 - i], LS_TRUST_ROOT, LS_NOW_MS, rx, m, out, sizeof out, &n, &info),
                             SOTTO_OK);
    }
    sotto_identity_free(r0);
    sotto_identity_free(r1);
}

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group),
        cmocka_unit_test(test_sealed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
