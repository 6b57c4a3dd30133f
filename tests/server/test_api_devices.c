/* Linked devices, the pure parts of api_devices.c: the POST /v1/devices and
 * PUT /v1/provisioning decoders with every limit, mailbox addresses, the
 * long poll's timeout, and the GET /v1/devices body against a real store
 * (devices added and removed; ids never reused). */
#include "test_store_util.h"

#include <jansson.h>

#include "api_devices.h"

static sotto_slice sl(const char *s)
{
    sotto_slice x = {s, strlen(s)};
    return x;
}

static char *b64(const uint8_t *p, size_t n, int variant)
{
    size_t cap = (size_t)sodium_base64_ENCODED_LEN(n, (size_t)variant);
    char *s = malloc(cap);
    assert_non_null(s);
    sodium_bin2base64(s, cap, p, n, variant);
    return s;
}

/* A valid POST /v1/devices body; fields can be overridden or removed. */
static char *link_body(const char *token, const char *secret, long regid, int drop_spk, int short_kem)
{
    uint8_t spk[SOTTO_STORE_EC_KEY_BYTES], kem[SOTTO_STORE_KEM_KEY_BYTES], sig[64];
    randombytes_buf(spk, sizeof spk);
    randombytes_buf(kem, sizeof kem);
    randombytes_buf(sig, sizeof sig);
    char *s1 = b64(spk, sizeof spk, sodium_base64_VARIANT_ORIGINAL);
    char *s2 = b64(kem, short_kem ? sizeof kem - 1 : sizeof kem, sodium_base64_VARIANT_ORIGINAL);
    char *s3 = b64(sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_object();
    if (token != NULL)
        json_object_set_new(j, "token", json_string(token));
    if (secret != NULL)
        json_object_set_new(j, "secret", json_string(secret));
    json_object_set_new(j, "registrationId", json_integer(regid));
    if (!drop_spk)
        json_object_set_new(j, "signedPreKey", json_pack("{s:i,s:s,s:s}", "keyId", 1, "publicKey", s1,
                                                         "signature", s3));
    json_object_set_new(j, "pqLastResortPreKey", json_pack("{s:i,s:s,s:s}", "keyId", 2, "publicKey", s2,
                                                           "signature", s3));
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(s1);
    free(s2);
    free(s3);
    return out;
}

static void test_decode_link_device(void **state)
{
    (void)state;
    uint8_t tok[SOTTOD_LINK_TOKEN_BYTES];
    randombytes_buf(tok, sizeof tok);
    char *t = b64(tok, sizeof tok, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_int_equal(strlen(t), SOTTOD_LINK_TOKEN_CHARS);
    const char *secret = "0123456789abcdef0123456789abcdef0123456789A=";
    sotto_api_link_device d;
    const char *why;

    char *body = link_body(t, secret, 77, 0, 0);
    assert_int_equal(sotto_api_decode_link_device((const uint8_t *)body, strlen(body), &d, &why), 0);
    assert_memory_equal(d.token, tok, sizeof tok);
    assert_int_equal(d.secret_len, strlen(secret));
    assert_int_equal(d.registration_id, 77);
    assert_int_equal(d.signed_prekey.id, 1);
    assert_int_equal(d.last_resort.id, 2);
    free(body);

    /* Each bad field: refused with a reason, output wiped. */
    struct { const char *token; const char *secret; long regid; int drop_spk, short_kem; const char *why; } bad[] = {
        {NULL, secret, 77, 0, 0, "token"},
        {"abc", secret, 77, 0, 0, "token"},
        {"0123456789012345678901234567890123456789+/=", secret, 77, 0, 0, "token"}, /* not base64url */
        {t, NULL, 77, 0, 0, "secret"},
        {t, "short", 77, 0, 0, "secret"},
        {t, secret, 0, 0, 0, "registrationId"},
        {t, secret, 16384, 0, 0, "registrationId"},
        {t, secret, 77, 1, 0, "signedPreKey"},
        {t, secret, 77, 0, 1, "pqLastResortPreKey"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = link_body(bad[i].token, bad[i].secret, bad[i].regid, bad[i].drop_spk, bad[i].short_kem);
        assert_int_equal(sotto_api_decode_link_device((const uint8_t *)body, strlen(body), &d, &why), -1);
        assert_non_null(strstr(why, bad[i].why));
        for (size_t k = 0; k < sizeof d.secret; k++)
            assert_int_equal(d.secret[k], 0);
        free(body);
    }
    assert_int_equal(sotto_api_decode_link_device((const uint8_t *)"[]", 2, &d, &why), -1);
    assert_int_equal(sotto_api_decode_link_device((const uint8_t *)"", 0, &d, &why), -1);
    const char *dup = "{\"token\":\"a\",\"token\":\"b\"}";
    assert_int_equal(sotto_api_decode_link_device((const uint8_t *)dup, strlen(dup), &d, &why), -1);
    free(t);
}

static void test_decode_prov_put(void **state)
{
    (void)state;
    static uint8_t msg[SOTTOD_PROV_MAX_MESSAGE + 1], out[SOTTOD_PROV_MAX_MESSAGE];
    randombytes_buf(msg, sizeof msg);
    size_t n;
    const char *why;
    char body[2 * SOTTOD_PROV_MAX_MESSAGE];
    /* The largest message passes, one byte more is "too large". */
    char *m = b64(msg, SOTTOD_PROV_MAX_MESSAGE, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof body, "{\"message\":\"%s\"}", m);
    free(m);
    assert_int_equal(sotto_api_decode_prov_put((const uint8_t *)body, strlen(body), out, &n, &why), 0);
    assert_int_equal(n, SOTTOD_PROV_MAX_MESSAGE);
    assert_memory_equal(out, msg, n);
    m = b64(msg, SOTTOD_PROV_MAX_MESSAGE + 1, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof body, "{\"message\":\"%s\"}", m);
    free(m);
    assert_int_equal(sotto_api_decode_prov_put((const uint8_t *)body, strlen(body), out, &n, &why), -1);
    assert_non_null(strstr(why, "too large"));
    assert_int_equal(n, 0);
    static const char *const bad[] = {"{\"message\":\"\"}", "{\"message\":\"***\"}", "{\"message\":5}",
                                      "{}", "[1]", "{\"message\":\"QQ==\",\"message\":\"QQ==\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sotto_api_decode_prov_put((const uint8_t *)bad[i], strlen(bad[i]), out, &n, &why), -1);
        assert_int_equal(n, 0);
    }
    /* A body far over the limit is refused before it is parsed. */
    static char huge[4 * SOTTOD_PROV_MAX_MESSAGE];
    memset(huge, ' ', sizeof huge);
    assert_int_equal(sotto_api_decode_prov_put((const uint8_t *)huge, sizeof huge, out, &n, &why), -1);
    assert_non_null(strstr(why, "too large"));
}

static void test_address_and_wait(void **state)
{
    (void)state;
    uint8_t a[SOTTOD_PROV_ADDRESS_BYTES], back[SOTTOD_PROV_ADDRESS_BYTES];
    randombytes_buf(a, sizeof a);
    char *s = b64(a, sizeof a, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_int_equal(strlen(s), SOTTOD_PROV_ADDRESS_CHARS);
    assert_int_equal(sotto_api_parse_prov_address(back, sl(s)), 0);
    assert_memory_equal(a, back, sizeof a);
    s[SOTTOD_PROV_ADDRESS_CHARS - 1] = '\0';
    assert_int_equal(sotto_api_parse_prov_address(back, sl(s)), -1);
    free(s);
    assert_int_equal(sotto_api_parse_prov_address(back, sl("AAAAAAAAAAAAAAAAAAAAA+")), -1);
    assert_int_equal(sotto_api_parse_prov_address(back, sl("")), -1);

    uint32_t w;
    assert_int_equal(sotto_api_parse_wait(sl(""), &w), 0);
    assert_int_equal(w, SOTTOD_PROV_WAIT_DEFAULT_S);
    assert_int_equal(sotto_api_parse_wait(sl("timeout=0"), &w), 0);
    assert_int_equal(w, 0);
    assert_int_equal(sotto_api_parse_wait(sl("x=1&timeout=60"), &w), 0);
    assert_int_equal(w, 60);
    assert_int_equal(sotto_api_parse_wait(sl("timeout=61"), &w), -1);
    assert_int_equal(sotto_api_parse_wait(sl("timeout="), &w), -1);
    assert_int_equal(sotto_api_parse_wait(sl("timeout=1a"), &w), -1);
    assert_int_equal(sotto_api_parse_wait(sl("timeout=9999"), &w), -1);
}

static void test_devices_json(void **state)
{
    (void)state;
    char *dir = tdir_make();
    sotto_store *s = NULL;
    assert_int_equal(sotto_store_open(&s, dir), SOTTO_STORE_OK);
    uint8_t a[SOTTO_STORE_UUID_BYTES];
    tcreate(s, "linda", 1, 1, a);
    uint32_t d2 = tadd_device(s, a, "linda-2");
    uint32_t d3 = tadd_device(s, a, "linda-3");
    assert_int_equal(sotto_store_remove_device(s, a, d2), SOTTO_STORE_OK);
    uint32_t d4 = tadd_device(s, a, "linda-4");
    assert_int_equal(d4, d3 + 1); /* never reused */
    sotto_store_device dev[SOTTO_STORE_MAX_DEVICES];
    size_t n;
    assert_int_equal(sotto_store_list_devices(s, a, dev, &n), SOTTO_STORE_OK);
    char body[SOTTOD_DEVICES_BODY_MAX];
    size_t len = sotto_api_devices_json(dev, n, body);
    assert_true(len > 0);
    json_t *j = json_loadb(body, len, 0, NULL);
    assert_non_null(j);
    json_t *arr = json_object_get(j, "devices");
    assert_int_equal(json_array_size(arr), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "id")), d3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 2), "id")), d4);
    json_int_t created = json_integer_value(json_object_get(json_array_get(arr, 2), "created"));
    assert_int_equal(created % SOTTO_STORE_CREATED_GRANULARITY_SECONDS, 0); /* the day only */
    json_decref(j);

    /* The largest body fits. */
    for (size_t i = 0; i < SOTTO_STORE_MAX_DEVICES; i++) {
        dev[i].device_id = SOTTO_STORE_MAX_DEVICE_ID;
        dev[i].created = INT64_MAX;
    }
    assert_true(sotto_api_devices_json(dev, SOTTO_STORE_MAX_DEVICES, body) > 0);
    assert_int_equal(sotto_api_devices_json(dev, SOTTO_STORE_MAX_DEVICES + 1, body), 0);
    sotto_store_close(s);
    tdir_remove(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_link_device),
        cmocka_unit_test(test_decode_prov_put),
        cmocka_unit_test(test_address_and_wait),
        cmocka_unit_test(test_devices_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
