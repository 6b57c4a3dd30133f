/* sottod API body decoders, rate limits and config parsing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "api.h"
#include "config.h"
#include "ratelimit.h"
#include "sottod_limits.h"

#define S(x) (const uint8_t *)(x), strlen(x)

static const char *EC = "BQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; /* 33 bytes */
static const char *SIG = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

static char *kem_b64(void)
{
    uint8_t k[SOTTO_STORE_KEM_KEY_BYTES] = { 0x08 };
    size_t cap = sodium_base64_ENCODED_LEN(sizeof k, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, k, sizeof k, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

static void register_ok_and_bad(void **st)
{
    (void)st;
    char *kem = kem_b64();
    char body[8192];
    snprintf(body, sizeof body,
             "{\"username\":\"alice\",\"secret\":\"0123456789abcdefghij0123456789abcdef\",\"registrationId\":7,"
             "\"identityKey\":\"%s\",\"signedPreKey\":{\"keyId\":2,\"publicKey\":\"%s\","
             "\"signature\":\"%s\"},\"pqLastResortPreKey\":{\"keyId\":1,\"publicKey\":\"%s\","
             "\"signature\":\"%s\"}}", EC, EC, SIG, kem, SIG);
    sotto_api_register r;
    const char *why;
    assert_int_equal(sotto_api_decode_register(S(body), &r, &why), 0);
    assert_string_equal(r.username, "alice");
    assert_int_equal(r.secret_len, 36);
    assert_int_equal(r.registration_id, 7);
    assert_int_equal(r.identity_key[0], 5);
    assert_int_equal(r.last_resort.key[0], 8);
    /* each broken field is refused */
    static const char *bad[] = {
        "", "[]", "{}", "{\"username\":\"al\"}", "not json",
        "{\"username\":\"alice\",\"secret\":\"short\"}",
        "{\"username\":\"alice\",\"username\":\"bob\"}", /* duplicate key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sotto_api_decode_register(S(bad[i]), &r, &why), -1);
    /* registrationId out of range */
    char *p = strstr(body, "\"registrationId\":7");
    memcpy(p, "\"registrationId\":0", 18);
    assert_int_equal(sotto_api_decode_register(S(body), &r, &why), -1);
    free(kem);
}

static void submit_limits(void **st)
{
    (void)st;
    sotto_api_submit m;
    const char *why;
    assert_int_equal(sotto_api_decode_submit(S("{\"messages\":[{\"destinationDeviceId\":1,\"type\":1,"
                                               "\"content\":\"aGVsbG8=\"},{\"destinationDeviceId\":2,"
                                               "\"type\":3,\"content\":\"AAAA\"}]}"),
                                             16, &m, &why), 0);
    assert_int_equal(m.count, 2);
    assert_memory_equal(m.outs[0].body, "hello", 5);
    assert_int_equal(m.outs[0].body_len, 5);
    assert_int_equal(m.outs[1].device_id, 2);
    assert_int_equal(m.outs[1].body_len, 3);
    sotto_api_submit_free(&m);
    /* over the envelope limit: refused before decoding */
    assert_int_equal(sotto_api_decode_submit(S("{\"messages\":[{\"destinationDeviceId\":1,\"type\":1,"
                                               "\"content\":\"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\"}]}"),
                                             16, &m, &why), -1);
    assert_non_null(strstr(why, "too large"));
    /* a device twice, device 0, empty list, bad base64 */
    static const char *bad[] = {
        "{\"messages\":[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"},"
        "{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"}]}",
        "{\"messages\":[{\"destinationDeviceId\":0,\"type\":1,\"content\":\"AAAA\"}]}",
        "{\"messages\":[]}",
        "{\"messages\":[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"!!!!\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sotto_api_decode_submit(S(bad[i]), 16, &m, &why), -1);
}

static void keys_and_acks(void **st)
{
    (void)st;
    char body[1024];
    snprintf(body, sizeof body, "{\"preKeys\":[{\"keyId\":1,\"publicKey\":\"%s\"},"
                                "{\"keyId\":2,\"publicKey\":\"%s\"}]}", EC, EC);
    sotto_api_keys k;
    const char *why;
    assert_int_equal(sotto_api_decode_keys(S(body), &k, &why), 0);
    assert_int_equal(k.ec_count, 2);
    assert_false(k.has_signed);
    sotto_api_keys_free(&k);
    assert_int_equal(sotto_api_decode_keys(S("{}"), &k, &why), -1);
    assert_int_equal(sotto_api_decode_keys(S("{\"preKeys\":[{\"keyId\":1,\"publicKey\":\"AAAA\"}]}"),
                                           &k, &why), -1);

    static uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    size_t n;
    assert_int_equal(sotto_api_decode_ws(S("{\"type\":\"ack\",\"ids\":["
                                           "\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\"]}"), ids, &n, &why), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0][0], 0x0f);
    assert_int_equal(sotto_api_decode_ws(S("{\"type\":\"ack\",\"ids\":[]}"), ids, &n, &why), -1);
    assert_int_equal(sotto_api_decode_ws(S("{\"type\":\"ack\",\"ids\":[\"x\"]}"), ids, &n, &why), -1);
    assert_int_equal(sotto_api_decode_ws(S("{\"type\":\"hello\"}"), ids, &n, &why), -1);
    /* a send is not an ack */
    assert_int_equal(sotto_api_decode_ws(S("{\"type\":\"send\",\"id\":1,\"to\":\"bob\",\"messages\":"
                                           "[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"}]}"),
                                         ids, &n, &why), -1);
}

static void ws_send_messages(void **st)
{
    (void)st;
    static uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    sotto_api_ws_msg m;
    const char *why;
    assert_int_equal(sotto_api_decode_ws_msg(S("{\"type\":\"send\",\"id\":4294967295,\"to\":\"bob\","
                                               "\"messages\":[{\"destinationDeviceId\":2,\"type\":3,"
                                               "\"content\":\"AQID\"},{\"destinationDeviceId\":1,\"type\":1,"
                                               "\"content\":\"BA==\"}]}"),
                                             16, ids, &m, &why), 0);
    assert_int_equal(m.kind, SOTTO_API_WS_SEND);
    assert_true(m.has_id);
    assert_int_equal(m.send_id, 4294967295u);
    assert_string_equal(m.to, "bob");
    assert_int_equal(m.to_len, 3);
    assert_int_equal(m.submit.count, 2);
    assert_int_equal(m.submit.outs[0].device_id, 2);
    assert_int_equal(m.submit.outs[0].type, 3);
    assert_int_equal(m.submit.outs[0].body_len, 3);
    assert_int_equal(m.submit.outs[0].body[2], 3);
    assert_int_equal(m.submit.outs[1].body_len, 1);
    assert_int_equal(m.submit.outs[1].body[0], 4);
    sotto_api_submit_free(&m.submit);

    /* an ack through the same decoder */
    assert_int_equal(sotto_api_decode_ws_msg(S("{\"type\":\"ack\",\"ids\":["
                                               "\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\"]}"), 16, ids, &m, &why), 0);
    assert_int_equal(m.kind, SOTTO_API_WS_ACK);
    assert_int_equal(m.n_ids, 1);

    /* refusals: with the id read (answered under it) or not (protocol error) */
    const char *bad_with_id[] = {
        "{\"type\":\"send\",\"id\":5,\"messages\":[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"}]}",
        "{\"type\":\"send\",\"id\":5,\"to\":\"\",\"messages\":[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"}]}",
        "{\"type\":\"send\",\"id\":5,\"to\":\"bob\",\"messages\":[]}",
        "{\"type\":\"send\",\"id\":5,\"to\":\"bob\",\"messages\":[{\"destinationDeviceId\":0,\"type\":1,\"content\":\"AAAA\"}]}",
        "{\"type\":\"send\",\"id\":5,\"to\":\"bob\",\"messages\":[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"},"
        "{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"}]}",
        "{\"type\":\"send\",\"id\":5,\"to\":\"bob\",\"messages\":[{\"destinationDeviceId\":1,\"type\":1,"
        "\"content\":\"AAAAAAAAAAAAAAAAAAAAAAAA\"}]}", /* 18 bytes > 16 */
    };
    for (size_t i = 0; i < sizeof bad_with_id / sizeof *bad_with_id; i++) {
        assert_int_equal(sotto_api_decode_ws_msg((const uint8_t *)bad_with_id[i], strlen(bad_with_id[i]),
                                                 16, ids, &m, &why), -1);
        assert_int_equal(m.kind, SOTTO_API_WS_SEND);
        assert_true(m.has_id);
        assert_int_equal(m.send_id, 5);
        assert_null(m.submit.bodies);
        assert_true(strlen(why) > 0);
    }
    assert_non_null(strstr(why, "too large"));
    const char *bad_no_id[] = {
        "{\"type\":\"send\",\"to\":\"bob\",\"messages\":[]}",
        "{\"type\":\"send\",\"id\":-1,\"to\":\"bob\",\"messages\":[]}",
        "{\"type\":\"send\",\"id\":\"5\",\"to\":\"bob\",\"messages\":[]}",
        "{\"type\":\"send\",\"id\":4294967296,\"to\":\"bob\",\"messages\":[]}",
        "[1]", "{\"type\":7}",
        /* jansson refuses \u0000 anywhere: not even the id is read */
        "{\"type\":\"send\",\"id\":5,\"to\":\"b\\u0000ob\",\"messages\":[{\"destinationDeviceId\":1,\"type\":1,\"content\":\"AAAA\"}]}",
    };
    for (size_t i = 0; i < sizeof bad_no_id / sizeof *bad_no_id; i++) {
        assert_int_equal(sotto_api_decode_ws_msg((const uint8_t *)bad_no_id[i], strlen(bad_no_id[i]),
                                                 16, ids, &m, &why), -1);
        assert_false(m.has_id);
    }
}

static void token_bucket(void **st)
{
    (void)st;
    sotto_ratelimit *rl = sotto_ratelimit_new("register", 3, 3600); /* 1 per second */
    assert_non_null(rl);
    const uint8_t a[4] = { 10, 0, 0, 1 }, b[4] = { 10, 0, 0, 2 };
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_true(sotto_ratelimit_take(rl, a, 4, t));
    assert_false(sotto_ratelimit_take(rl, a, 4, t));
    assert_true(sotto_ratelimit_take(rl, b, 4, t)); /* another address has its own bucket */
    /* many calls 10 ms apart still refill one token per second */
    int got = 0;
    for (int i = 1; i <= 100; i++)
        got += sotto_ratelimit_take(rl, a, 4, t + (uint64_t)i * 10u);
    assert_int_equal(got, 1);
    /* peek tells without taking */
    assert_false(sotto_ratelimit_peek(rl, a, 4, t + 1000u));
    assert_true(sotto_ratelimit_peek(rl, a, 4, t + 3000u));
    assert_true(sotto_ratelimit_peek(rl, a, 4, t + 3000u));
    assert_true(sotto_ratelimit_take(rl, a, 4, t + 3000u));
    sotto_ratelimit_free(rl);
}

static void config_settings(void **st)
{
    (void)st;
    sotto_config c;
    char err[256];
    sotto_config_defaults(&c);
    assert_int_equal(sotto_config_set(&c, "listen", "127.0.0.1:8443", err, sizeof err), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8443);
    assert_int_equal(sotto_config_set(&c, "listen", "[::1]:9", err, sizeof err), 0);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(sotto_config_set(&c, "listen", "nope", err, sizeof err), -1);
    assert_int_equal(sotto_config_set(&c, "max_body", "4096", err, sizeof err), 0);
    assert_int_equal(c.max_body, 4096);
    /* a limit cannot be raised past its hard cap */
    assert_int_equal(sotto_config_set(&c, "max_body", "999999999", err, sizeof err), -1);
    assert_int_equal(sotto_config_set(&c, "no_such_thing", "1", err, sizeof err), -1);
    char path[] = "/tmp/sottod-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n\nregister_burst = 2\n  log_level=debug  \n", f);
    fclose(f);
    assert_int_equal(sotto_config_load_file(&c, path, 0, err, sizeof err), 0);
    assert_int_equal(c.register_burst, 2);
    f = fopen(path, "w");
    fputs("register_burst 2\n", f);
    fclose(f);
    assert_int_equal(sotto_config_load_file(&c, path, 0, err, sizeof err), -1);
    unlink(path);
    assert_int_equal(sotto_config_load_file(&c, path, 1, err, sizeof err), 0);
    assert_int_equal(sotto_config_load_file(&c, path, 0, err, sizeof err), -1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(register_ok_and_bad), cmocka_unit_test(submit_limits),
        cmocka_unit_test(keys_and_acks), cmocka_unit_test(ws_send_messages),
        cmocka_unit_test(token_bucket),
        cmocka_unit_test(config_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
