/* Test-only: the AES-256-CTR DRBG of NIST's PQCgenKAT (rng.c), which draws
 * the randomness behind every PQCkemKAT_*.rsp vector. Not for keys: no
 * reseeding, no prediction resistance, and it is deterministic by design. */
#ifndef SOTTO_TESTS_NIST_DRBG_H
#define SOTTO_TESTS_NIST_DRBG_H
#include <stddef.h>
#include <stdint.h>

#define SOTTO_NIST_DRBG_SEED_BYTES 48 /* entropy_input / personalisation */

typedef struct sotto_nist_drbg {
    uint8_t key[32];
    uint8_t v[16];
    uint64_t reseed_counter;
} sotto_nist_drbg;

/* personalization may be NULL. Returns 0, or -1 when OpenSSL fails. */
int sotto_nist_drbg_init(sotto_nist_drbg *d, const uint8_t entropy[SOTTO_NIST_DRBG_SEED_BYTES],
                         const uint8_t *personalization);
/* randombytes(): out gets n bytes. Returns 0, or -1 when OpenSSL fails. */
int sotto_nist_drbg_bytes(sotto_nist_drbg *d, uint8_t *out, size_t n);
#endif
