/* SPQR v1 erasure code over GF(2^16): the field against a plain bitwise
 * reference; the reference's own cases (src/encoding/polynomial.rs tests:
 * "abcdefghij" from chunks 1 and 2, 1088 bytes from chunks 35.., decoding
 * across save/load); systematic chunks; rebuild from any sufficient set of
 * distinct chunks (random subsets, high chunk numbers) and not from fewer;
 * redundancy chunks against direct Lagrange evaluation; saved forms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "protocol/spqr_erasure.h"

#define SUBSET_TRIALS 30

/* Plain GF(2^16) product: schoolbook, then long division by 0x1100b. */
static uint16_t ref_mul(uint16_t a, uint16_t b)
{
    uint32_t r = 0;
    for (int i = 0; i < 16; i++)
        if (b & (1u << i))
            r ^= (uint32_t)a << i;
    for (int i = 31; i >= 16; i--)
        if (r & (1u << i))
            r ^= 0x1100Bu << (i - 16);
    return (uint16_t)r;
}

static void test_gf16(void **state)
{
    (void)state;
    /* x^15 * x = x^16 = x^12 + x^3 + x + 1 */
    assert_int_equal(sotto_gf16_mul(0x8000, 2), 0x100B);
    uint32_t s = 1;
    for (int i = 0; i < 20000; i++) {
        s = s * 1664525u + 1013904223u;
        uint16_t a = (uint16_t)(s >> 16), b = (uint16_t)s;
        assert_int_equal(sotto_gf16_mul(a, b), ref_mul(a, b));
        assert_int_equal(sotto_gf16_mul(a, b), sotto_gf16_mul(b, a));
    }
    assert_int_equal(sotto_gf16_inv(0), 0);
    for (uint32_t a = 1; a < 65536; a++)
        assert_int_equal(sotto_gf16_mul((uint16_t)a, sotto_gf16_inv((uint16_t)a)), 1);
}

static void decode_expect(const sotto_spqr_ec_decoder *d, const uint8_t *msg, size_t len)
{
    uint8_t out[SOTTO_SPQR_EC_MAX_BYTES];
    assert_int_equal(sotto_spqr_ec_decoded(d, out, sizeof out), 1);
    assert_memory_equal(out, msg, len);
}

/* polynomial.rs encode_and_decode_small */
static void test_reference_small(void **state)
{
    (void)state;
    sotto_spqr_ec_encoder e;
    sotto_spqr_ec_decoder d;
    uint8_t c[32];
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, (const uint8_t *)"abcdefghij", 10), SOTTO_OK);
    assert_int_equal(sotto_spqr_ec_decoder_init(&d, 10), SOTTO_OK);
    sotto_spqr_ec_chunk_at(&e, 1, c);
    sotto_spqr_ec_add_chunk(&d, 1, c);
    sotto_spqr_ec_chunk_at(&e, 2, c);
    sotto_spqr_ec_add_chunk(&d, 2, c);
    decode_expect(&d, (const uint8_t *)"abcdefghij", 10);
}

/* polynomial.rs encode_and_decode_large: chunks 35.. of 1088 bytes of 3;
 * the message is complete after exactly 34 of them. */
static void test_reference_large(void **state)
{
    (void)state;
    uint8_t msg[1088], c[32], out[1088];
    memset(msg, 3, sizeof msg);
    sotto_spqr_ec_encoder e;
    sotto_spqr_ec_decoder d;
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, sizeof msg), SOTTO_OK);
    assert_int_equal(sotto_spqr_ec_decoder_init(&d, sizeof msg), SOTTO_OK);
    int added = 0;
    for (uint16_t i = 35; i < 35 * 2 + 1; i++) {
        sotto_spqr_ec_chunk_at(&e, i, c);
        sotto_spqr_ec_add_chunk(&d, i, c);
        added++;
        if (sotto_spqr_ec_decoded(&d, out, sizeof out))
            break;
    }
    assert_int_equal(added, 34);
    assert_memory_equal(out, msg, sizeof msg);
}

/* polynomial.rs to_and_from_pb: both ends saved and loaded mid-way. */
static void test_reference_save_load(void **state)
{
    (void)state;
    uint8_t msg[1088], c[32];
    memset(msg, 3, sizeof msg);
    static sotto_spqr_ec_encoder e, e2;
    static sotto_spqr_ec_decoder d, d2;
    static uint8_t buf[SOTTO_SPQR_EC_DEC_SAVE_MAX];
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, sizeof msg), SOTTO_OK);
    assert_int_equal(sotto_spqr_ec_decoder_init(&d, sizeof msg), SOTTO_OK);
    for (uint16_t i = 2; i < 34; i++) {
        sotto_spqr_ec_chunk_at(&e, i, c);
        sotto_spqr_ec_add_chunk(&d, i, c);
    }
    size_t n = sotto_spqr_ec_encoder_save(&e, buf, sizeof buf);
    assert_true(n > 0 && n <= SOTTO_SPQR_EC_ENC_SAVE_MAX);
    assert_int_equal(sotto_spqr_ec_encoder_load(&e2, buf, n), SOTTO_OK);
    n = sotto_spqr_ec_decoder_save(&d, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(sotto_spqr_ec_decoder_load(&d2, buf, n), SOTTO_OK);
    uint8_t out[1088];
    assert_int_equal(sotto_spqr_ec_decoded(&d2, out, sizeof out), 0);
    for (uint16_t i = 0; i < 2; i++) {
        sotto_spqr_ec_chunk_at(&e2, (uint16_t)(i + 34), c);
        sotto_spqr_ec_add_chunk(&d2, (uint16_t)(i + 34), c);
    }
    decode_expect(&d2, msg, sizeof msg);
}

/* Chunk c < len / 32 is bytes [32c, 32c + 32) of the message; next_chunk
 * counts 0, 1, 2, ... */
static void test_systematic(void **state)
{
    (void)state;
    uint8_t msg[1152], c[32];
    randombytes_buf(msg, sizeof msg);
    sotto_spqr_ec_encoder e;
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, sizeof msg), SOTTO_OK);
    for (uint16_t i = 0; i < 36; i++) {
        assert_int_equal(sotto_spqr_ec_next_chunk(&e, c), i);
        assert_memory_equal(c, msg + 32 * i, 32);
    }
}

/* Direct Lagrange evaluation at x of the points (j, words[16 j + p]). */
static uint16_t lagrange_at(const uint8_t *msg, size_t len, unsigned p, uint16_t x)
{
    unsigned words = (unsigned)len / 2, n = words / 16 + (p < words % 16);
    uint16_t acc = 0;
    for (unsigned j = 0; j < n; j++) {
        uint16_t num = 1, den = 1;
        for (unsigned m = 0; m < n; m++) {
            if (m == j)
                continue;
            num = ref_mul(num, (uint16_t)(x ^ m));
            den = ref_mul(den, (uint16_t)(j ^ m));
        }
        size_t w = (size_t)j * 16 + p;
        uint16_t y = (uint16_t)(msg[2 * w] << 8 | msg[2 * w + 1]);
        acc ^= ref_mul(ref_mul(y, num), sotto_gf16_inv(den));
    }
    return acc;
}

static void test_redundancy_chunks(void **state)
{
    (void)state;
    static const size_t sizes[] = { 96, 160, 960, 1152, 10 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint8_t msg[1152], c[32];
        randombytes_buf(msg, sizes[s]);
        sotto_spqr_ec_encoder e;
        assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, sizes[s]), SOTTO_OK);
        static const uint16_t idx[] = { 36, 37, 100, 4000, 65535 };
        for (size_t k = 0; k < sizeof idx / sizeof idx[0]; k++) {
            sotto_spqr_ec_chunk_at(&e, idx[k], c);
            for (unsigned p = 0; p < 16; p++) {
                uint16_t v = (uint16_t)(c[2 * p] << 8 | c[2 * p + 1]);
                assert_int_equal(v, lagrange_at(msg, sizes[s], p, idx[k]));
            }
        }
    }
}

/* Any needed-many distinct chunks rebuild the message, in any order, with
 * repeats; one fewer does not. */
static void test_any_subset(void **state)
{
    (void)state;
    static const size_t sizes[] = { 96, 160, 960, 1152 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len = sizes[s], need = len / 32;
        for (int t = 0; t < SUBSET_TRIALS; t++) {
            uint8_t msg[1152], c[32], out[1152];
            uint16_t pick[40];
            randombytes_buf(msg, len);
            sotto_spqr_ec_encoder e;
            sotto_spqr_ec_decoder d;
            assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, len), SOTTO_OK);
            assert_int_equal(sotto_spqr_ec_decoder_init(&d, len), SOTTO_OK);
            /* distinct indices: from a small window (mixing systematic and
             * redundancy chunks) or anywhere in 0..65535 */
            for (size_t i = 0; i < need; i++) {
                int again;
                do {
                    pick[i] = (uint16_t)(t % 2 ? randombytes_uniform(65536)
                                               : randombytes_uniform((uint32_t)(3 * need)));
                    again = 0;
                    for (size_t j = 0; j < i; j++)
                        again |= pick[j] == pick[i];
                } while (again);
            }
            for (size_t i = 0; i < need; i++) {
                sotto_spqr_ec_chunk_at(&e, pick[i], c);
                sotto_spqr_ec_add_chunk(&d, pick[i], c);
                if (i % 3 == 0) /* a repeat changes nothing */
                    sotto_spqr_ec_add_chunk(&d, pick[i], c);
                if (i + 1 < need)
                    assert_int_equal(sotto_spqr_ec_decoded(&d, out, sizeof out), 0);
            }
            assert_int_equal(sotto_spqr_ec_decoded(&d, out, sizeof out), 1);
            assert_memory_equal(out, msg, len);
        }
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    static sotto_spqr_ec_encoder e;
    static sotto_spqr_ec_decoder d;
    uint8_t msg[1154] = { 0 }, buf[64];
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, 11), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, 0), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, 1154), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_spqr_ec_decoder_init(&d, 1154), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_spqr_ec_decoder_init(&d, 7), SOTTO_ERR_INVALID_ARGUMENT);
    /* saved forms: truncated, wrong length, unsorted points, too many points */
    assert_int_equal(sotto_spqr_ec_encoder_init(&e, msg, 10), SOTTO_OK);
    size_t n = sotto_spqr_ec_encoder_save(&e, buf, sizeof buf);
    assert_int_equal(n, 16);
    assert_int_equal(sotto_spqr_ec_encoder_load(&e, buf, n - 1), SOTTO_ERR_INVALID_STATE);
    buf[1] = 11;
    assert_int_equal(sotto_spqr_ec_encoder_load(&e, buf, n), SOTTO_ERR_INVALID_STATE);
    assert_int_equal(sotto_spqr_ec_encoder_save(&e, buf, 5), 0);
    uint8_t dec[2 + 16 + 8] = { 0, 10, 2, 0, 5, 0, 0, 0, 4, 0, 0 };
    assert_int_equal(sotto_spqr_ec_decoder_load(&d, dec, sizeof dec), SOTTO_ERR_INVALID_STATE);
    uint8_t dec2[2 + 16] = { 0, 10, 200 };
    assert_int_equal(sotto_spqr_ec_decoder_load(&d, dec2, sizeof dec2), SOTTO_ERR_INVALID_STATE);
    uint8_t dec3[2 + 16] = { 0, 10 };
    assert_int_equal(sotto_spqr_ec_decoder_load(&d, dec3, sizeof dec3), SOTTO_OK);
    assert_int_equal(sotto_spqr_ec_decoder_load(&d, dec3, sizeof dec3 - 1), SOTTO_ERR_INVALID_STATE);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gf16),
        cmocka_unit_test(test_reference_small),
        cmocka_unit_test(test_reference_large),
        cmocka_unit_test(test_reference_save_load),
        cmocka_unit_test(test_systematic),
        cmocka_unit_test(test_redundancy_chunks),
        cmocka_unit_test(test_any_subset),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
