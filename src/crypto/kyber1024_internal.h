/* Internal to the Kyber1024 files: the round-3 (v3.0.2) CRYSTALS-Kyber1024
 * parameters on top of the shared lattice code in kyber_poly_common.h.
 * Nothing here is exported. */
#ifndef SOTTO_CRYPTO_KYBER1024_INTERNAL_H
#define SOTTO_CRYPTO_KYBER1024_INTERNAL_H
#include "crypto/kyber1024.h"
#include "crypto/kyber_poly_common.h"

#define KYBER_K          4
#define KYBER_ETA        2      /* eta1 = eta2 = 2 for Kyber1024 */
#define KYBER_DU         11     /* bits per coefficient of u */
#define KYBER_DV         5      /* bits per coefficient of v */

#define KYBER_POLYVECBYTES          KYBER_POLYVECBYTES_K(KYBER_K)             /* 1536 */
#define KYBER_POLYCOMPRESSEDBYTES   KYBER_POLYCOMPRESSED_D(KYBER_DV)          /* 160 */
#define KYBER_POLYVECCOMPRESSEDBYTES KYBER_POLYVECCOMPRESSED_KD(KYBER_K, KYBER_DU) /* 1408 */
#define KYBER_INDCPA_PUBLICKEYBYTES (KYBER_POLYVECBYTES + KYBER_SYMBYTES)     /* 1568 */
#define KYBER_INDCPA_SECRETKEYBYTES KYBER_POLYVECBYTES                        /* 1536 */

/* sk = s (1536) || pk (1568) || H(pk) (32) || z (32) */
#define KYBER_SK_PK_OFFSET   KYBER_INDCPA_SECRETKEYBYTES
#define KYBER_SK_HPK_OFFSET  (KYBER_SK_PK_OFFSET + KYBER1024_PUBLICKEYBYTES)
#define KYBER_SK_Z_OFFSET    (KYBER_SK_HPK_OFFSET + KYBER_SYMBYTES)

_Static_assert(KYBER_K <= KYBER_KMAX, "rank");
_Static_assert(KYBER1024_PUBLICKEYBYTES == KYBER_INDCPA_PUBLICKEYBYTES, "pk size");
_Static_assert(KYBER1024_SECRETKEYBYTES == KYBER_SK_Z_OFFSET + KYBER_SYMBYTES, "sk size");
_Static_assert(KYBER1024_CIPHERTEXTBYTES ==
               KYBER_POLYVECCOMPRESSEDBYTES + KYBER_POLYCOMPRESSEDBYTES, "ct size");
_Static_assert(KYBER1024_CIPHERTEXTBYTES <= KYBER_MAX_CT_BYTES, "ct bound");

#endif
