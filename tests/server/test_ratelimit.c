/* sottod: rate-limit keys (an IPv6 subscriber's /64 is one key) and buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "ratelimit.h"

static size_t key6(const char *text, uint8_t key[16])
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
    return sotto_ratelimit_key((const struct sockaddr *)&a, key);
}

static size_t key4(const char *text, uint8_t key[16])
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, text, &a.sin_addr), 1);
    return sotto_ratelimit_key((const struct sockaddr *)&a, key);
}

static void test_keys(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    /* One /64: one key, whatever the interface id. */
    size_t la = key6("2001:db8:1:2::1", a), lb = key6("2001:db8:1:2:ffff:1234:5678:9abc", b);
    assert_int_equal(la, 16);
    assert_int_equal(lb, 16);
    assert_memory_equal(a, b, 16);
    /* Another /64: another key. */
    key6("2001:db8:1:3::1", b);
    assert_memory_not_equal(a, b, 16);
    /* IPv4, plain or mapped into IPv6: the same 4-byte key. */
    assert_int_equal(key4("192.0.2.7", a), 4);
    assert_int_equal(key6("::ffff:192.0.2.7", b), 4);
    assert_memory_equal(a, b, 16);
    /* An IPv6 prefix that starts with the same bytes as an IPv4 key is
     * still another key. */
    key6("c000:207::", b);
    assert_memory_not_equal(a, b, 16);
    struct sockaddr other = {.sa_family = AF_UNIX};
    assert_int_equal(sotto_ratelimit_key(&other, a), 0);
}

static void test_one_prefix_one_bucket(void **state)
{
    (void)state;
    sotto_ratelimit *rl = sotto_ratelimit_new("test", 3, 0);
    assert_non_null(rl);
    uint8_t k[16];
    char text[64];
    /* Three addresses of one /64 spend the same three tokens. */
    for (int i = 1; i <= 3; i++) {
        snprintf(text, sizeof text, "2001:db8:aa:bb::%d", i);
        size_t n = key6(text, k);
        assert_true(sotto_ratelimit_take(rl, k, n, 1000));
    }
    size_t n = key6("2001:db8:aa:bb:1:2:3:4", k);
    assert_false(sotto_ratelimit_take(rl, k, n, 1000));
    /* A neighbouring /64 has its own. */
    n = key6("2001:db8:aa:bc::1", k);
    assert_true(sotto_ratelimit_take(rl, k, n, 1000));
    sotto_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_one_prefix_one_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
