/* Constant-time check of X25519 under valgrind: the private key is marked
 * undefined while deriving its public key and computing a shared secret, so
 * memcheck reports any branch or memory index that depends on it. Outputs
 * that are public (the public key) or that the test must compare (the shared
 * secret) are declassified after the call. */
#include <stdio.h>
#include <string.h>
#include "ct.h"
#include "sotto/keys.h"
#include "crypto/primitives.h"

#define ITERATIONS 4

int main(void)
{
    int failures = 0;
    for (int it = 0; it < ITERATIONS; it++) {
        uint8_t a_priv[32], b_priv[32], a_pub[SOTTO_EC_PUBLIC_BYTES], b_pub[SOTTO_EC_PUBLIC_BYTES];
        uint8_t s1[32], s2[32];
        for (size_t i = 0; i < 32; i++) {
            a_priv[i] = (uint8_t)(i * 31 + (size_t)it * 7 + 1);
            b_priv[i] = (uint8_t)(i * 17 + (size_t)it * 3 + 9);
        }

        /* Key pair derivation (sotto_ec_public_from_private). */
        CT_SECRET(a_priv, sizeof a_priv);
        CT_SECRET(b_priv, sizeof b_priv);
        sotto_err e1 = sotto_ec_public_from_private(a_pub, a_priv);
        sotto_err e2 = sotto_ec_public_from_private(b_pub, b_priv);
        CT_PUBLIC(&e1, sizeof e1);
        CT_PUBLIC(&e2, sizeof e2);
        CT_PUBLIC(a_pub, sizeof a_pub);
        CT_PUBLIC(b_pub, sizeof b_pub);

        /* Agreement both ways. */
        sotto_err e3 = sotto_x25519(s1, a_priv, b_pub + 1);
        sotto_err e4 = sotto_x25519(s2, b_priv, a_pub + 1);
        CT_PUBLIC(&e3, sizeof e3);
        CT_PUBLIC(&e4, sizeof e4);
        CT_PUBLIC(s1, sizeof s1);
        CT_PUBLIC(s2, sizeof s2);
        if (e1 != SOTTO_OK || e2 != SOTTO_OK || e3 != SOTTO_OK || e4 != SOTTO_OK
            || memcmp(s1, s2, sizeof s1) != 0) {
            fprintf(stderr, "ct_x25519: agreement failed (iteration %d)\n", it);
            failures++;
        }

        /* A fresh key pair from the generator: its private half is secret
         * from the moment it exists, so mark it and agree with it. */
        uint8_t c_pub[32], c_priv[32];
        sotto_x25519_keypair(c_pub, c_priv);
        CT_SECRET(c_priv, sizeof c_priv);
        sotto_err e5 = sotto_x25519(s1, c_priv, a_pub + 1);
        CT_PUBLIC(&e5, sizeof e5);
        CT_PUBLIC(a_priv, sizeof a_priv);
        sotto_err e6 = sotto_x25519(s2, a_priv, c_pub);
        CT_PUBLIC(&e6, sizeof e6);
        CT_PUBLIC(s1, sizeof s1);
        CT_PUBLIC(s2, sizeof s2);
        if (e5 != SOTTO_OK || e6 != SOTTO_OK || memcmp(s1, s2, sizeof s1) != 0) {
            fprintf(stderr, "ct_x25519: fresh key agreement failed (iteration %d)\n", it);
            failures++;
        }
    }
    return failures == 0 ? 0 : 1;
}
