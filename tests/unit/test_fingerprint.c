/* Safety numbers: libsignal's own vectors (rust/protocol/src/fingerprint.rs,
 * fingerprint_test_v2 and fingerprint_encodings), matching and mismatching
 * pairs, version mismatch, malformed scannable input, argument checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "sotto/sotto.h"

static const char ALICE_IDENTITY[] = "0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868";
static const char BOB_IDENTITY[] = "05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b";
static const char DISPLAYABLE[] = "300354477692869396892869876765458257569162576843440918079131";
static const char ALICE_SCANNABLE_V2[] =
    "080212220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df1a220a20"
    "d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d";
static const char BOB_SCANNABLE_V2[] =
    "080212220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d1a220a20"
    "1e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df";
static const char ALICE_ID[] = "+14152222222";
static const char BOB_ID[] = "+14153333333";

static void unhex(uint8_t *out, size_t n, const char *hex)
{
    size_t got = 0;
    assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
    assert_int_equal(got, n);
}

static void make(sotto_fingerprint *fp, uint32_t version, const char *lid, const uint8_t *lk,
                 const char *rid, const uint8_t *rk)
{
    assert_int_equal(sotto_fingerprint_create(fp, version, SOTTO_FINGERPRINT_ITERATIONS,
                                              (const uint8_t *)lid, strlen(lid), lk,
                                              (const uint8_t *)rid, strlen(rid), rk),
                     SOTTO_OK);
}

static void test_libsignal_vectors(void **state)
{
    (void)state;
    uint8_t a[33], b[33], want[74];
    unhex(a, sizeof a, ALICE_IDENTITY);
    unhex(b, sizeof b, BOB_IDENTITY);
    sotto_fingerprint fa, fb;
    make(&fa, 2, ALICE_ID, a, BOB_ID, b);
    make(&fb, 2, BOB_ID, b, ALICE_ID, a);
    assert_string_equal(fa.displayable, DISPLAYABLE);
    assert_string_equal(fb.displayable, DISPLAYABLE);
    unhex(want, sizeof want, ALICE_SCANNABLE_V2);
    assert_int_equal(fa.scannable_len, sizeof want);
    assert_memory_equal(fa.scannable, want, sizeof want);
    unhex(want, sizeof want, BOB_SCANNABLE_V2);
    assert_int_equal(fb.scannable_len, sizeof want);
    assert_memory_equal(fb.scannable, want, sizeof want);

    sotto_fingerprint_match m;
    assert_int_equal(sotto_fingerprint_compare(&fa, fb.scannable, fb.scannable_len, &m), SOTTO_OK);
    assert_int_equal(m, SOTTO_FINGERPRINT_MATCH);
    assert_int_equal(sotto_fingerprint_compare(&fb, fa.scannable, fa.scannable_len, &m), SOTTO_OK);
    assert_int_equal(m, SOTTO_FINGERPRINT_MATCH);
    /* our own code is not theirs */
    assert_int_equal(sotto_fingerprint_compare(&fa, fa.scannable, fa.scannable_len, &m), SOTTO_OK);
    assert_int_equal(m, SOTTO_FINGERPRINT_MISMATCH);
}

static void test_mismatch_and_version(void **state)
{
    (void)state;
    uint8_t a[33], b[33], c[33], priv[32];
    assert_int_equal(sotto_ec_keypair(a, priv), SOTTO_OK);
    assert_int_equal(sotto_ec_keypair(b, priv), SOTTO_OK);
    assert_int_equal(sotto_ec_keypair(c, priv), SOTTO_OK);
    sotto_fingerprint fa, fb, fmitm, fv1;
    make(&fa, 2, ALICE_ID, a, BOB_ID, b);
    make(&fb, 2, BOB_ID, b, ALICE_ID, a);
    make(&fmitm, 2, BOB_ID, c, ALICE_ID, a);   /* Bob's key replaced */
    make(&fv1, 1, BOB_ID, b, ALICE_ID, a);
    assert_string_equal(fa.displayable, fb.displayable);
    assert_string_not_equal(fa.displayable, fmitm.displayable);
    assert_string_equal(fb.displayable, fv1.displayable); /* display is version-free */
    sotto_fingerprint_match m;
    assert_int_equal(sotto_fingerprint_compare(&fa, fmitm.scannable, fmitm.scannable_len, &m), SOTTO_OK);
    assert_int_equal(m, SOTTO_FINGERPRINT_MISMATCH);
    assert_int_equal(sotto_fingerprint_compare(&fa, fv1.scannable, fv1.scannable_len, &m), SOTTO_OK);
    assert_int_equal(m, SOTTO_FINGERPRINT_VERSION_MISMATCH);
    /* a different identifier changes the number */
    sotto_fingerprint fother;
    make(&fother, 2, "+14150000000", a, BOB_ID, b);
    assert_string_not_equal(fa.displayable, fother.displayable);
    /* one flipped bit in their half */
    uint8_t bad[SOTTO_FINGERPRINT_SCANNABLE_MAX];
    memcpy(bad, fb.scannable, fb.scannable_len);
    bad[10] ^= 1;
    assert_int_equal(sotto_fingerprint_compare(&fa, bad, fb.scannable_len, &m), SOTTO_OK);
    assert_int_equal(m, SOTTO_FINGERPRINT_MISMATCH);
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t a[33], b[33], priv[32];
    assert_int_equal(sotto_ec_keypair(a, priv), SOTTO_OK);
    assert_int_equal(sotto_ec_keypair(b, priv), SOTTO_OK);
    sotto_fingerprint fa;
    make(&fa, 2, ALICE_ID, a, BOB_ID, b);
    sotto_fingerprint_match m = SOTTO_FINGERPRINT_MATCH;
    static const uint8_t junk[] = { 0xff, 0xff, 0xff };
    assert_int_equal(sotto_fingerprint_compare(&fa, junk, sizeof junk, &m), SOTTO_ERR_MALFORMED);
    assert_int_equal(m, SOTTO_FINGERPRINT_MISMATCH);
    static const uint8_t version_only[] = { 0x08, 0x02 };
    assert_int_equal(sotto_fingerprint_compare(&fa, version_only, sizeof version_only, &m),
                     SOTTO_ERR_MALFORMED);
    /* empty: version 0, reported as a version mismatch as libsignal does */
    assert_int_equal(sotto_fingerprint_compare(&fa, NULL, 0, &m), SOTTO_OK);
    assert_int_equal(m, SOTTO_FINGERPRINT_VERSION_MISMATCH);
    /* arguments */
    assert_int_equal(sotto_fingerprint_create(&fa, 2, 1, NULL, 0, a, NULL, 0, b),
                     SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_fingerprint_create(&fa, 2, SOTTO_FINGERPRINT_ITERATIONS_MAX + 1,
                                              NULL, 0, a, NULL, 0, b),
                     SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(fa.scannable_len, 0);
    uint8_t bad_key[33] = { 0x06 };
    assert_int_equal(sotto_fingerprint_create(&fa, 2, 5200, NULL, 0, bad_key, NULL, 0, b),
                     SOTTO_ERR_INVALID_KEY);
    /* empty identifiers are allowed (libsignal takes any bytes) */
    assert_int_equal(sotto_fingerprint_create(&fa, 2, 5200, NULL, 0, a, NULL, 0, b), SOTTO_OK);
    assert_int_equal(strlen(fa.displayable), SOTTO_FINGERPRINT_DIGITS);
}

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libsignal_vectors),
        cmocka_unit_test(test_mismatch_and_version),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
