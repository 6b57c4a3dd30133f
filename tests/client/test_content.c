/* The client's message content framing and its UTF-8 check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "content.h"

static void test_roundtrip(void **state)
{
    (void)state;
    static uint8_t buf[SOTTO_CONTENT_MAX];
    uint8_t uid[SOTTO_MSG_UID_BYTES], uid2[SOTTO_MSG_UID_BYTES];
    for (int i = 0; i < SOTTO_MSG_UID_BYTES; i++)
        uid[i] = (uint8_t)(i * 7);
    size_t n;
    const char *txt = "h\xc3\xa9llo \xf0\x9f\x98\x80\n";
    assert_int_equal(sotto_content_encode(buf, &n, uid, 1764200000123, "alice", (const uint8_t *)txt, strlen(txt), NULL),
                     SOTTO_C_OK);
    assert_int_equal(n, SOTTO_CONTENT_HEAD + 5 + strlen(txt));
    int64_t ts;
    char who[SOTTO_PEER_MAX + 1];
    const uint8_t *t;
    size_t tl;
    assert_int_equal(sotto_content_decode(buf, n, uid2, &ts, who, &t, &tl, NULL), SOTTO_C_OK);
    assert_memory_equal(uid, uid2, sizeof uid);
    assert_int_equal(ts, 1764200000123);
    assert_string_equal(who, "alice");
    assert_int_equal(tl, strlen(txt));
    assert_memory_equal(t, txt, tl);
    /* Empty text is fine; truncation, another version and bad text are not. */
    assert_int_equal(sotto_content_encode(buf, &n, uid, 0, "bob", NULL, 0, NULL), SOTTO_C_OK);
    assert_int_equal(sotto_content_decode(buf, n, uid2, &ts, who, &t, &tl, NULL), SOTTO_C_OK);
    assert_int_equal(sotto_content_decode(buf, SOTTO_CONTENT_HEAD + 2, uid2, &ts, who, &t, &tl, NULL), SOTTO_C_SERVER);
    buf[SOTTO_CONTENT_HEAD - 1] = 200; /* sender longer than the rest */
    assert_int_equal(sotto_content_decode(buf, n, uid2, &ts, who, &t, &tl, NULL), SOTTO_C_SERVER);
    buf[SOTTO_CONTENT_HEAD - 1] = 3;
    buf[SOTTO_CONTENT_HEAD] = '/';
    assert_int_equal(sotto_content_decode(buf, n, uid2, &ts, who, &t, &tl, NULL), SOTTO_C_SERVER);
    buf[SOTTO_CONTENT_HEAD] = 'b';
    buf[0] = 2;
    assert_int_equal(sotto_content_decode(buf, n, uid2, &ts, who, &t, &tl, NULL), SOTTO_C_SERVER);
    assert_int_equal(sotto_content_encode(buf, &n, uid, 0, "bob", (const uint8_t *)"a\0b", 3, NULL), SOTTO_C_USAGE);
    static uint8_t big[SOTTO_TEXT_MAX + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(sotto_content_encode(buf, &n, uid, 0, "bob", big, sizeof big, NULL), SOTTO_C_USAGE);
    assert_int_equal(sotto_content_encode(buf, &n, uid, 0, "bob", big, sizeof big - 1, NULL), SOTTO_C_OK);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(sotto_text_ok((const uint8_t *)"plain\ttext\n", 11));
    assert_false(sotto_text_ok((const uint8_t *)"\xc0\xaf", 2));          /* overlong */
    assert_false(sotto_text_ok((const uint8_t *)"\xed\xa0\x80", 3));      /* surrogate */
    assert_false(sotto_text_ok((const uint8_t *)"\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
    assert_false(sotto_text_ok((const uint8_t *)"\xe2\x82", 2));          /* truncated */
    assert_false(sotto_text_ok((const uint8_t *)"\x1b[31m", 5));          /* escape */
    assert_true(sotto_text_ok((const uint8_t *)"\xe2\x82\xac", 3));       /* euro */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
