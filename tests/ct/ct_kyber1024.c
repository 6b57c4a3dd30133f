/* Constant-time check of Kyber1024 under valgrind: the key-generation coins,
 * the encapsulation coins and the secret key are marked undefined; memcheck
 * reports any branch or memory index that depends on them. Values that are
 * public by design are declassified: rho inside the library (it goes into
 * pk), the public key embedded in sk inside sotto_kyber1024_dec, and the
 * outputs here before they are compared. */
#include <stdio.h>
#include <string.h>
#include "ct.h"
#include "crypto/kyber1024.h"

#define ITERATIONS 2

static uint8_t pk[KYBER1024_PUBLICKEYBYTES], sk[KYBER1024_SECRETKEYBYTES];
static uint8_t ct[KYBER1024_CIPHERTEXTBYTES], bad[KYBER1024_CIPHERTEXTBYTES];

int main(void)
{
    int failures = 0;
    for (int it = 0; it < ITERATIONS; it++) {
        uint8_t kg_coins[64], enc_coins[32], ss_enc[32], ss_dec[32], ss_bad[32];
        for (size_t i = 0; i < sizeof kg_coins; i++)
            kg_coins[i] = (uint8_t)(i * 7 + (size_t)it * 131 + 1);
        for (size_t i = 0; i < sizeof enc_coins; i++)
            enc_coins[i] = (uint8_t)(i * 13 + (size_t)it * 17 + 5);

        /* key generation: d and z secret */
        CT_SECRET(kg_coins, sizeof kg_coins);
        sotto_kyber1024_keypair_derand(pk, sk, kg_coins);
        CT_PUBLIC(pk, sizeof pk);

        /* encapsulation: the coins (hence m, K', r) secret */
        CT_SECRET(enc_coins, sizeof enc_coins);
        sotto_kyber1024_enc_derand(ct, ss_enc, pk, enc_coins);
        CT_PUBLIC(ct, sizeof ct);

        /* decapsulation: the whole secret key secret */
        CT_SECRET(sk, sizeof sk);
        sotto_kyber1024_dec(ss_dec, ct, sk);

        /* a tampered ciphertext: the re-encryption check fails and the
         * implicit-rejection value is selected, still without a branch */
        memcpy(bad, ct, sizeof bad);
        bad[(size_t)it * 500 + 3] ^= 0x10;
        CT_SECRET(sk, sizeof sk);
        sotto_kyber1024_dec(ss_bad, bad, sk);

        CT_PUBLIC(ss_enc, sizeof ss_enc);
        CT_PUBLIC(ss_dec, sizeof ss_dec);
        CT_PUBLIC(ss_bad, sizeof ss_bad);
        if (memcmp(ss_enc, ss_dec, sizeof ss_enc) != 0) {
            fprintf(stderr, "ct_kyber1024: decapsulation disagrees (iteration %d)\n", it);
            failures++;
        }
        if (memcmp(ss_enc, ss_bad, sizeof ss_enc) == 0) {
            fprintf(stderr, "ct_kyber1024: tampered ciphertext accepted (iteration %d)\n", it);
            failures++;
        }
        CT_PUBLIC(sk, sizeof sk);
    }
    if (failures == 0)
        printf("ct_kyber1024: ok\n");
    return failures == 0 ? 0 : 1;
}
