/* FIPS 203 ML-KEM-768: 100 known answers from @noble/post-quantum 0.7.1
 * (tests/unit/vectors/mlkem768_noble.txt, made by gen_mlkem768.mjs beside
 * it): key generation from a 64-byte seed, encapsulation from a 32-byte m,
 * decapsulation and implicit rejection; then libcrux's incremental form
 * (header || t, ct1 || ct2) against the same answers, the header check and
 * the FIPS 203 encapsulation-key check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/mlkem768.h"
#include "crypto/kyber_poly_common.h"

#define VEC_RELPATH  "/tests/unit/vectors/mlkem768_noble.txt"
#define VEC_COUNT    100
#define VEC_FULL     3
#define VEC_MAX_FILE (1u << 20)
#define ROUND_TRIPS  20

typedef struct {
    uint8_t seed[MLKEM768_KEYGEN_SEEDBYTES], m[MLKEM768_ENC_SEEDBYTES];
    uint8_t h_ek[32], h_dk[32], h_ct[32], ss[32], ss_bad[32];
    int full;
    uint8_t ek[MLKEM768_EKBYTES], dk[MLKEM768_DKBYTES], ct[MLKEM768_CTBYTES];
} vec;

static vec vecs[VEC_COUNT];

static const char *field(const char *p, uint8_t *out, size_t n)
{
    while (*p == ' ')
        p++;
    const char *end = NULL;
    size_t got = 0;
    if (sodium_hex2bin(out, n, p, 2 * n, NULL, &got, &end) != 0 || got != n)
        fail_msg("bad hex field");
    return end;
}

static int load(void **state)
{
    (void)state;
    const char *root = getenv("SOTTO_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s%s", root ? root : SOTTO_SOURCE_DIR, VEC_RELPATH);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    static char line[VEC_MAX_FILE / 8];
    int n = 0;
    while (n < VEC_COUNT && fgets(line, sizeof line, f) != NULL) {
        vec *v = &vecs[n];
        const char *p = line;
        p = field(p, v->seed, sizeof v->seed);
        p = field(p, v->m, sizeof v->m);
        p = field(p, v->h_ek, 32);
        p = field(p, v->h_dk, 32);
        p = field(p, v->h_ct, 32);
        p = field(p, v->ss, 32);
        p = field(p, v->ss_bad, 32);
        if (n < VEC_FULL) {
            p = field(p, v->ek, sizeof v->ek);
            p = field(p, v->dk, sizeof v->dk);
            field(p, v->ct, sizeof v->ct);
            v->full = 1;
        }
        n++;
    }
    fclose(f);
    return n == VEC_COUNT ? 0 : -1;
}

static void sha256(uint8_t out[32], const uint8_t *in, size_t n)
{
    crypto_hash_sha256(out, in, n);
}

static void test_known_answers(void **state)
{
    (void)state;
    for (int i = 0; i < VEC_COUNT; i++) {
        const vec *v = &vecs[i];
        uint8_t ek[MLKEM768_EKBYTES], dk[MLKEM768_DKBYTES], ct[MLKEM768_CTBYTES];
        uint8_t ss[32], ss2[32], h[32];
        sotto_mlkem768_keypair_derand(ek, dk, v->seed);
        sha256(h, ek, sizeof ek);
        assert_memory_equal(h, v->h_ek, 32);
        sha256(h, dk, sizeof dk);
        assert_memory_equal(h, v->h_dk, 32);
        assert_int_equal(sotto_mlkem768_enc_derand(ct, ss, ek, v->m), 0);
        sha256(h, ct, sizeof ct);
        assert_memory_equal(h, v->h_ct, 32);
        assert_memory_equal(ss, v->ss, 32);
        sotto_mlkem768_dec(ss2, ct, dk);
        assert_memory_equal(ss2, v->ss, 32);
        ct[(i * 37) % MLKEM768_CTBYTES] ^= 1;
        sotto_mlkem768_dec(ss2, ct, dk);
        assert_memory_equal(ss2, v->ss_bad, 32);
        if (v->full) {
            ct[(i * 37) % MLKEM768_CTBYTES] ^= 1;
            assert_memory_equal(ek, v->ek, sizeof ek);
            assert_memory_equal(dk, v->dk, sizeof dk);
            assert_memory_equal(ct, v->ct, sizeof ct);
        }
    }
}

/* The incremental form gives the same ciphertext and secret as FIPS 203. */
static void test_incremental_matches(void **state)
{
    (void)state;
    for (int i = 0; i < VEC_COUNT; i++) {
        const vec *v = &vecs[i];
        uint8_t ek[MLKEM768_EKBYTES], dk[MLKEM768_DKBYTES];
        uint8_t hdr[MLKEM768_HDRBYTES], t[MLKEM768_EK_T_BYTES], hek[32];
        uint8_t ct[MLKEM768_CTBYTES], es[MLKEM768_ESBYTES], ss[32], ss2[32], h[32];
        sotto_mlkem768_keypair_derand(ek, dk, v->seed);
        sotto_mlkem768_dk_header(hdr, dk);
        sotto_mlkem768_dk_ek_t(t, dk);
        /* header = rho || SHA3-256(ek), t = ek without rho */
        assert_memory_equal(t, ek, sizeof t);
        assert_memory_equal(hdr, ek + MLKEM768_EK_T_BYTES, 32);
        memcpy(hek, dk + MLKEM768_DKBYTES - 64, 32);
        assert_memory_equal(hdr + 32, hek, 32);
        assert_int_equal(sotto_mlkem768_ek_matches_header(t, hdr), 1);

        sotto_mlkem768_encaps1(ct, es, ss, hdr, v->m);
        sotto_mlkem768_encaps2(ct + MLKEM768_CT1BYTES, es, t);
        sha256(h, ct, sizeof ct);
        assert_memory_equal(h, v->h_ct, 32);
        assert_memory_equal(ss, v->ss, 32);
        sotto_mlkem768_decaps_split(ss2, ct, ct + MLKEM768_CT1BYTES, dk);
        assert_memory_equal(ss2, v->ss, 32);
    }
}

static void test_header_check(void **state)
{
    (void)state;
    uint8_t ek[MLKEM768_EKBYTES], dk[MLKEM768_DKBYTES], hdr[64], t[MLKEM768_EK_T_BYTES];
    sotto_mlkem768_keypair_derand(ek, dk, vecs[0].seed);
    sotto_mlkem768_dk_header(hdr, dk);
    sotto_mlkem768_dk_ek_t(t, dk);
    /* another key's t */
    uint8_t ek2[MLKEM768_EKBYTES], dk2[MLKEM768_DKBYTES], t2[MLKEM768_EK_T_BYTES];
    sotto_mlkem768_keypair_derand(ek2, dk2, vecs[1].seed);
    sotto_mlkem768_dk_ek_t(t2, dk2);
    assert_int_equal(sotto_mlkem768_ek_matches_header(t2, hdr), 0);
    /* one bit of t, of rho, of the hash */
    t[100] ^= 4;
    assert_int_equal(sotto_mlkem768_ek_matches_header(t, hdr), 0);
    t[100] ^= 4;
    hdr[5] ^= 1;
    assert_int_equal(sotto_mlkem768_ek_matches_header(t, hdr), 0);
    hdr[5] ^= 1;
    hdr[40] ^= 1;
    assert_int_equal(sotto_mlkem768_ek_matches_header(t, hdr), 0);
    hdr[40] ^= 1;
    assert_int_equal(sotto_mlkem768_ek_matches_header(t, hdr), 1);
}

/* A coefficient >= q in ek: FIPS 203 rejects it; so does the header check
 * even when the hash is recomputed over the bad bytes. */
static void test_noncanonical_ek(void **state)
{
    (void)state;
    uint8_t ek[MLKEM768_EKBYTES], dk[MLKEM768_DKBYTES], ct[MLKEM768_CTBYTES], ss[32];
    sotto_mlkem768_keypair_derand(ek, dk, vecs[2].seed);
    assert_int_equal(sotto_mlkem768_check_ek(ek), 0);
    ek[0] = 0xFF;
    ek[1] |= 0x0F; /* first coefficient 4095 */
    assert_int_equal(sotto_mlkem768_check_ek(ek), -1);
    memset(ct, 0xAA, sizeof ct);
    memset(ss, 0xAA, sizeof ss);
    assert_int_equal(sotto_mlkem768_enc_derand(ct, ss, ek, vecs[2].m), -1);
    for (size_t i = 0; i < sizeof ss; i++)
        assert_int_equal(ss[i], 0);
    uint8_t hdr[64];
    memcpy(hdr, ek + MLKEM768_EK_T_BYTES, 32);
    crypto_hash_sha256(hdr + 32, ek, sizeof ek); /* any hash: t is refused first */
    assert_int_equal(sotto_mlkem768_ek_matches_header(ek, hdr), 0);
    /* 3328 = q - 1 is still fine, 3329 is not */
    sotto_mlkem768_keypair_derand(ek, dk, vecs[2].seed);
    ek[0] = 0x00;
    ek[1] = (uint8_t)((ek[1] & 0xF0) | 0x0D); /* 0xD00 = 3328 */
    assert_int_equal(sotto_mlkem768_check_ek(ek), 0);
    ek[0] = 0x01; /* 3329 */
    assert_int_equal(sotto_mlkem768_check_ek(ek), -1);
}

/* NIST ACVP (usnistgov/ACVP-Server gen-val/json-files/ML-KEM-keyGen-FIPS203/
 * internalProjection.json, tcId 26, ML-KEM-768, in the two versions the
 * search index holds). Both are vectors of the FIPS 203 initial public
 * draft, whose key generation hashes G(d) without the rank byte; they check
 * our K-PKE key generation for k = 3 (t, rho and so H(ek), which the
 * vector's dk carries), not the final domain separation, which the noble
 * answers above cover. */
static void test_acvp_ipd_kpke_keygen(void **state)
{
    (void)state;
    static const struct { const char *d, *h_ek; } v[] = {
        { "66E9D043D75A0410A9C0A9FF6E86432FCA970E994EE85B6D06E987850469B06C",
          "E3B949E212E20A5451E20EE47B194D2CA4FA1F5E59372AD28508291413042AD8" },
        { "E26918D071A8F820D6B7DC106E7A3F72585F4EBC080722007CFBB21DBA6A7ABE",
          "9F85B646F77E79E5AA043127036D03C1EE760463BDC7A8F84669CE23F65F81AA" },
    };
    const kyber_params p = { 3, 10, 4 };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t d[32], want[32], ek[MLKEM768_EKBYTES], s[MLKEM768_EK_T_BYTES], h[32];
        assert_int_equal(sodium_hex2bin(d, 32, v[i].d, 64, NULL, NULL, NULL), 0);
        assert_int_equal(sodium_hex2bin(want, 32, v[i].h_ek, 64, NULL, NULL, NULL), 0);
        kyber_sym sym;
        sotto_kyber_sym_open(&sym);
        sotto_kyber_indcpa_keypair(&sym, &p, ek, s, d, sizeof d);
        sotto_kyber_hash_h(&sym, h, ek, sizeof ek);
        sotto_kyber_sym_close(&sym);
        assert_memory_equal(h, want, 32);
    }
}

static void test_round_trips(void **state)
{
    (void)state;
    for (int i = 0; i < ROUND_TRIPS; i++) {
        uint8_t seed[64], m[32], ek[MLKEM768_EKBYTES], dk[MLKEM768_DKBYTES];
        uint8_t hdr[64], t[MLKEM768_EK_T_BYTES], es[MLKEM768_ESBYTES];
        uint8_t ct1[MLKEM768_CT1BYTES], ct2[MLKEM768_CT2BYTES], ss[32], ss2[32];
        randombytes_buf(seed, sizeof seed);
        randombytes_buf(m, sizeof m);
        sotto_mlkem768_keypair_derand(ek, dk, seed);
        sotto_mlkem768_dk_header(hdr, dk);
        sotto_mlkem768_dk_ek_t(t, dk);
        sotto_mlkem768_encaps1(ct1, es, ss, hdr, m);
        sotto_mlkem768_encaps2(ct2, es, t);
        sotto_mlkem768_decaps_split(ss2, ct1, ct2, dk);
        assert_memory_equal(ss, ss2, 32);
        ct2[i % MLKEM768_CT2BYTES] ^= 0x80;
        sotto_mlkem768_decaps_split(ss2, ct1, ct2, dk);
        assert_memory_not_equal(ss, ss2, 32);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_incremental_matches),
        cmocka_unit_test(test_header_check),
        cmocka_unit_test(test_noncanonical_ek),
        cmocka_unit_test(test_acvp_ipd_kpke_keygen),
        cmocka_unit_test(test_round_trips),
    };
    return cmocka_run_group_tests(tests, load, NULL);
}
