/* GET /v1/accounts/{username}: the answer (api_lookup.c) against a real
 * store: uuid and device list, case-insensitive names, 404 for unknown and
 * malformed names, no prekey consumed and nothing written, and the
 * per-account rate limit (another account keeps its own budget). */
#include "test_store_util.h"

#include <sys/stat.h>

#include <jansson.h>

#include "api_lookup.h"

static sotto_slice sl(const char *s)
{
    sotto_slice x = {s, strlen(s)};
    return x;
}

static void wal_stat(const char *dir, struct stat *sb)
{
    char p[512];
    snprintf(p, sizeof p, "%s/sottod.db-wal", dir);
    memset(sb, 0, sizeof *sb);
    if (stat(p, sb) != 0)
        memset(sb, 0, sizeof *sb);
}

static void test_lookup(void **state)
{
    (void)state;
    char *dir = tdir_make();
    sotto_store *s = NULL;
    assert_int_equal(sotto_store_open(&s, dir), SOTTO_STORE_OK);
    uint8_t alice[SOTTO_STORE_UUID_BYTES], bob[SOTTO_STORE_UUID_BYTES];
    tcreate(s, "alice", 3, 3, alice);
    tcreate(s, "bob", 3, 3, bob);
    uint32_t d2 = tadd_device(s, bob, "bob-laptop");
    sotto_ratelimit *rl = sotto_ratelimit_new("lookup", SOTTOD_LOOKUP_BURST, SOTTOD_LOOKUP_PER_HOUR);
    assert_non_null(rl);

    uint32_t ec0, kem0, ec1, kem1;
    assert_int_equal(sotto_store_key_counts(s, bob, 1, &ec0, &kem0), SOTTO_STORE_OK);
    struct stat w0, w1;
    wal_stat(dir, &w0);

    char body[SOTTOD_LOOKUP_BODY_MAX];
    size_t len;
    uint64_t now = 1000;
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("BoB"), now, body, &len), 200);
    assert_int_equal(len, strlen(body));
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    char want[SOTTO_STORE_UUID_STRING_BYTES];
    sotto_store_uuid_format(want, bob);
    assert_string_equal(json_string_value(json_object_get(j, "uuid")), want);
    json_t *devs = json_object_get(j, "devices");
    assert_int_equal(json_array_size(devs), 2);
    assert_int_equal(json_integer_value(json_array_get(devs, 0)), 1);
    assert_int_equal(json_integer_value(json_array_get(devs, 1)), d2);
    assert_int_equal(json_object_size(j), 2); /* no key material, nothing else */
    json_decref(j);

    /* Unknown, malformed, too long: 404 with an error body. */
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("carol"), now, body, &len), 404);
    assert_non_null(strstr(body, "\"error\""));
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("b..ob"), now, body, &len), 404);
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl(want), now, body, &len), 404);
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("a234567890123456789012345678901234"), now,
                                             body, &len), 404);
    sotto_slice empty = {"", 0};
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, empty, now, body, &len), 404);

    /* No side effect: the same one-time key counts, the write-ahead log untouched. */
    assert_int_equal(sotto_store_key_counts(s, bob, 1, &ec1, &kem1), SOTTO_STORE_OK);
    assert_int_equal(ec1, ec0);
    assert_int_equal(kem1, kem0);
    wal_stat(dir, &w1);
    assert_int_equal(w1.st_size, w0.st_size);
    assert_int_equal(w1.st_mtim.tv_sec, w0.st_mtim.tv_sec);
    assert_int_equal(w1.st_mtim.tv_nsec, w0.st_mtim.tv_nsec);

    /* The burst is per account: alice used 6 so far. */
    for (uint32_t i = 6; i < SOTTOD_LOOKUP_BURST; i++)
        assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("bob"), now, body, &len), 200);
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("bob"), now, body, &len), 429);
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("carol"), now, body, &len), 429);
    assert_non_null(strstr(body, "\"error\""));
    assert_int_equal(sotto_api_lookup_answer(s, rl, bob, sl("alice"), now, body, &len), 200);
    /* One token comes back every 3600/SOTTOD_LOOKUP_PER_HOUR seconds. */
    now += 3600u * 1000u / SOTTOD_LOOKUP_PER_HOUR;
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("bob"), now, body, &len), 200);
    assert_int_equal(sotto_api_lookup_answer(s, rl, alice, sl("bob"), now, body, &len), 429);
    /* No limiter: refused, never unlimited. */
    assert_int_equal(sotto_api_lookup_answer(s, NULL, alice, sl("bob"), now, body, &len), 429);

    sotto_ratelimit_free(rl);
    sotto_store_close(s);
    tdir_remove(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
