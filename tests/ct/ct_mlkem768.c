/* Constant-time check of ML-KEM-768 under valgrind: key-generation seed,
 * encapsulation randomness m and the decapsulation key are marked undefined;
 * memcheck reports any branch or memory index that depends on them. Covers
 * FIPS 203 decapsulation (good and tampered ciphertexts: implicit rejection)
 * and the incremental encaps1 / encaps2 / decaps_split that SPQR runs.
 * Declassified: ek and H(ek) inside dk (public by design), outputs before
 * they are compared. */
#include <stdio.h>
#include <string.h>
#include "ct.h"
#include "crypto/mlkem768.h"

#define ITERATIONS 2

static uint8_t ek[MLKEM768_EKBYTES], dk[MLKEM768_DKBYTES];
static uint8_t ct[MLKEM768_CTBYTES], bad[MLKEM768_CTBYTES];

int main(void)
{
    int failures = 0;
    for (int it = 0; it < ITERATIONS; it++) {
        uint8_t seed[MLKEM768_KEYGEN_SEEDBYTES], m[MLKEM768_ENC_SEEDBYTES];
        uint8_t ss_enc[32], ss_dec[32], ss_bad[32], ss_inc[32], ss_inc_dec[32];
        uint8_t hdr[MLKEM768_HDRBYTES], t[MLKEM768_EK_T_BYTES], es[MLKEM768_ESBYTES];
        uint8_t ct1[MLKEM768_CT1BYTES], ct2[MLKEM768_CT2BYTES];
        for (size_t i = 0; i < sizeof seed; i++)
            seed[i] = (uint8_t)(i * 7 + (size_t)it * 131 + 1);
        for (size_t i = 0; i < sizeof m; i++)
            m[i] = (uint8_t)(i * 13 + (size_t)it * 17 + 5);

        CT_SECRET(seed, sizeof seed);
        sotto_mlkem768_keypair_derand(ek, dk, seed);
        CT_PUBLIC(ek, sizeof ek);

        CT_SECRET(m, sizeof m);
        if (sotto_mlkem768_enc_derand(ct, ss_enc, ek, m) != 0)
            failures++;
        CT_PUBLIC(ct, sizeof ct);

        CT_SECRET(dk, sizeof dk);
        sotto_mlkem768_dec(ss_dec, ct, dk);

        memcpy(bad, ct, sizeof bad);
        bad[(size_t)it * 700 + 3] ^= 0x10;
        CT_SECRET(dk, sizeof dk);
        sotto_mlkem768_dec(ss_bad, bad, dk);

        /* incremental: header and t are public, m and the state secret */
        CT_PUBLIC(dk, sizeof dk);
        sotto_mlkem768_dk_header(hdr, dk);
        sotto_mlkem768_dk_ek_t(t, dk);
        CT_SECRET(m, sizeof m);
        sotto_mlkem768_encaps1(ct1, es, ss_inc, hdr, m);
        CT_PUBLIC(ct1, sizeof ct1);
        sotto_mlkem768_encaps2(ct2, es, t);
        CT_PUBLIC(ct2, sizeof ct2);
        CT_SECRET(dk, sizeof dk);
        sotto_mlkem768_decaps_split(ss_inc_dec, ct1, ct2, dk);

        CT_PUBLIC(ss_enc, sizeof ss_enc);
        CT_PUBLIC(ss_dec, sizeof ss_dec);
        CT_PUBLIC(ss_bad, sizeof ss_bad);
        CT_PUBLIC(ss_inc, sizeof ss_inc);
        CT_PUBLIC(ss_inc_dec, sizeof ss_inc_dec);
        if (memcmp(ss_enc, ss_dec, sizeof ss_enc) != 0 || memcmp(ss_enc, ss_inc, 32) != 0 ||
            memcmp(ss_enc, ss_inc_dec, 32) != 0) {
            fprintf(stderr, "ct_mlkem768: shared secrets disagree (iteration %d)\n", it);
            failures++;
        }
        if (memcmp(ss_enc, ss_bad, sizeof ss_enc) == 0) {
            fprintf(stderr, "ct_mlkem768: tampered ciphertext accepted (iteration %d)\n", it);
            failures++;
        }
        CT_PUBLIC(dk, sizeof dk);
    }
    if (failures == 0)
        printf("ct_mlkem768: ok\n");
    return failures == 0 ? 0 : 1;
}
