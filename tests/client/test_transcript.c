/* Sent transcripts (content version 0x02) and the provisioning message of
 * linking (link.c): round trips, every malformed field refused, and the
 * kinds kept apart (a transcript never decodes as a message, and back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "content.h"
#include "link.h"

static void test_transcript_roundtrip(void **state)
{
    (void)state;
    static uint8_t buf[SOTTO_TRANSCRIPT_MAX];
    uint8_t uid[SOTTO_MSG_UID_BYTES], uid2[SOTTO_MSG_UID_BYTES];
    randombytes_buf(uid, sizeof uid);
    size_t n;
    const char *txt = "see you at 8 \xc3\xa9";
    assert_int_equal(sotto_transcript_encode(buf, &n, uid, 1764200000123, "alice", "bob", (const uint8_t *)txt,
                                             strlen(txt), NULL), SOTTO_C_OK);
    assert_int_equal(sotto_content_kind(buf, n), SOTTO_TRANSCRIPT_VERSION);
    int64_t ts;
    char s[SOTTO_PEER_MAX + 1], r[SOTTO_PEER_MAX + 1];
    const uint8_t *t;
    size_t tl;
    assert_int_equal(sotto_transcript_decode(buf, n, uid2, &ts, s, r, &t, &tl, NULL), SOTTO_C_OK);
    assert_memory_equal(uid, uid2, sizeof uid);
    assert_int_equal(ts, 1764200000123);
    assert_string_equal(s, "alice");
    assert_string_equal(r, "bob");
    assert_int_equal(tl, strlen(txt));
    assert_memory_equal(t, txt, tl);
    /* Not a message, and a message is not a transcript. */
    assert_int_equal(sotto_content_decode(buf, n, uid2, &ts, s, &t, &tl, NULL), SOTTO_C_SERVER);
    static uint8_t msg[SOTTO_CONTENT_MAX];
    size_t mn;
    assert_int_equal(sotto_content_encode(msg, &mn, uid, 1, "alice", (const uint8_t *)"hi", 2, NULL), SOTTO_C_OK);
    assert_int_equal(sotto_transcript_decode(msg, mn, uid2, &ts, s, r, &t, &tl, NULL), SOTTO_C_SERVER);
    /* Empty text is fine; the longest text too, one byte more is not. */
    assert_int_equal(sotto_transcript_encode(buf, &n, uid, 0, "alice", "bob", NULL, 0, NULL), SOTTO_C_OK);
    assert_int_equal(sotto_transcript_decode(buf, n, uid2, &ts, s, r, &t, &tl, NULL), SOTTO_C_OK);
    assert_int_equal(tl, 0);
    static uint8_t big[SOTTO_TEXT_MAX + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(sotto_transcript_encode(buf, &n, uid, 0, "alice", "bob", big, sizeof big, NULL), SOTTO_C_USAGE);
    assert_int_equal(sotto_transcript_encode(buf, &n, uid, 0, "alice", "bob", big, sizeof big - 1, NULL), SOTTO_C_OK);
    assert_int_equal(sotto_transcript_decode(buf, n, uid2, &ts, s, r, &t, &tl, NULL), SOTTO_C_OK);
    /* Bad names, on both sides. */
    assert_int_equal(sotto_transcript_encode(buf, &n, uid, 0, "Alice", "bob", NULL, 0, NULL), SOTTO_C_USAGE);
    assert_int_equal(sotto_transcript_encode(buf, &n, uid, 0, "alice", "b", NULL, 0, NULL), SOTTO_C_USAGE);
}

static void test_transcript_malformed(void **state)
{
    (void)state;
    static uint8_t buf[SOTTO_TRANSCRIPT_MAX];
    uint8_t uid[SOTTO_MSG_UID_BYTES] = {0};
    size_t n;
    assert_int_equal(sotto_transcript_encode(buf, &n, uid, 5, "alice", "bob", (const uint8_t *)"hey", 3, NULL),
                     SOTTO_C_OK);
    int64_t ts;
    char s[SOTTO_PEER_MAX + 1], r[SOTTO_PEER_MAX + 1];
    const uint8_t *t;
    size_t tl;
    size_t so = SOTTO_CONTENT_HEAD - 1, ro = so + 1 + 5;
    struct { size_t off; uint8_t val; } bad[] = {
        {0, 0x03},            /* unknown version */
        {so, 0},              /* empty sender */
        {so, 200},            /* sender past the end */
        {so + 1, 'A'},        /* sender not canonical */
        {ro, 2},              /* recipient too short */
        {ro, 60},             /* recipient past the end */
        {ro + 1, '1'},        /* recipient starts with a digit */
        {ro + 4, 0x01},       /* a control character in the text */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t copy[SOTTO_CONTENT_HEAD + 32];
        memcpy(copy, buf, n);
        copy[bad[i].off] = bad[i].val;
        assert_int_equal(sotto_transcript_decode(copy, n, uid, &ts, s, r, &t, &tl, NULL), SOTTO_C_SERVER);
        assert_int_equal(s[0], '\0');
        assert_null(t);
    }
    for (size_t cut = 0; cut < ro + 1 + 3; cut++)
        assert_int_equal(sotto_transcript_decode(buf, cut, uid, &ts, s, r, &t, &tl, NULL), SOTTO_C_SERVER);
}

static void test_link_message(void **state)
{
    (void)state;
    sotto_link_msg m, back;
    memset(&m, 0, sizeof m);
    memcpy(m.uuid, "0f6a2c1e-9b7d-4c3a-8e5f-1a2b3c4d5e6f", SOTTO_LINK_UUID_LEN + 1);
    randombytes_buf(m.identity_private, sizeof m.identity_private);
    randombytes_buf(m.token, sizeof m.token);
    strcpy(m.username, "alice");
    uint8_t buf[SOTTO_LINK_MSG_MAX];
    size_t n;
    assert_int_equal(sotto_link_msg_encode(&m, buf, &n, NULL), SOTTO_C_OK);
    assert_int_equal(sotto_link_msg_decode(buf, n, &back, NULL), SOTTO_C_OK);
    assert_memory_equal(&m, &back, sizeof m);
    /* Truncated, extended, wrong version, bad uuid, bad name: refused, output wiped. */
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(sotto_link_msg_decode(buf, cut, &back, NULL), SOTTO_C_SERVER);
    uint8_t longer[SOTTO_LINK_MSG_MAX + 1];
    memcpy(longer, buf, n);
    longer[n] = 'x';
    assert_int_equal(sotto_link_msg_decode(longer, n + 1, &back, NULL), SOTTO_C_SERVER);
    size_t offs[] = {0, 1 + 8, 1 + SOTTO_LINK_UUID_LEN + SOTTO_LINK_PRIV_BYTES + SOTTO_LINK_TOKEN_BYTES + 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        uint8_t copy[SOTTO_LINK_MSG_MAX];
        memcpy(copy, buf, n);
        copy[offs[i]] = '!';
        assert_int_equal(sotto_link_msg_decode(copy, n, &back, NULL), SOTTO_C_SERVER);
        for (size_t k = 0; k < sizeof back.identity_private; k++)
            assert_int_equal(back.identity_private[k], 0);
    }
}

static void test_link_code(void **state)
{
    (void)state;
    uint8_t pk[SOTTO_LINK_PK_BYTES], pk2[SOTTO_LINK_PK_BYTES];
    randombytes_buf(pk, sizeof pk);
    const char *addr = "ZhKYRLxaIryv6kh19Defrg";
    char code[SOTTO_LINK_CODE_MAX], addr2[SOTTO_LINK_ADDRESS_CHARS + 1];
    assert_int_equal(sotto_link_code_format(code, addr, pk, NULL), SOTTO_C_OK);
    assert_int_equal(strncmp(code, "sotto-link:", 11), 0);
    assert_int_equal(sotto_link_code_parse(code, addr2, pk2, NULL), SOTTO_C_OK);
    assert_string_equal(addr2, addr);
    assert_memory_equal(pk, pk2, sizeof pk);
    /* Surrounding white space (a pasted line) is fine; anything else is not. */
    char padded[SOTTO_LINK_CODE_MAX + 4];
    snprintf(padded, sizeof padded, " %s\n", code);
    assert_int_equal(sotto_link_code_parse(padded, addr2, pk2, NULL), SOTTO_C_OK);
    const char *bad[] = {"", "sotto-link:", "sotto-lnk:ZhKYRLxaIryv6kh19Defrg.AAAA",
                         "sotto-link:ZhKYRLxaIryv6kh19Defr.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "sotto-link:ZhKYRLxaIryv6kh19Defrg.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "sotto-link:ZhKYRLxaIryv6kh19Defrg.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
                         "sotto-link:ZhKYRLxaIryv6kh19Def/g.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sotto_link_code_parse(bad[i], addr2, pk2, NULL), SOTTO_C_USAGE);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transcript_roundtrip),
        cmocka_unit_test(test_transcript_malformed),
        cmocka_unit_test(test_link_message),
        cmocka_unit_test(test_link_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
