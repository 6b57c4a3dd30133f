/* Constant-time check of AES-256-GCM-SIV (sealed sender v2's AEAD) under
 * valgrind: the key and the plaintext are secret; the ciphertext, the tag and
 * decrypt's verdict are public once returned. Covers key derivation, POLYVAL,
 * the keystream and the tag check (a good and a forged tag). */
#include <stdio.h>
#include <string.h>
#include "ct.h"
#include "sotto/sotto.h"
#include "crypto/gcm_siv.h"

#define PT_BYTES 300

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    uint8_t key[32], nonce[12] = { 0 }, pt[PT_BYTES], ct[PT_BYTES + 16], back[PT_BYTES];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)(i * 13 + 5);
    CT_SECRET(key, sizeof key);
    CT_SECRET(pt, sizeof pt);
    sotto_err e = sotto_aes256_gcm_siv_encrypt(ct, key, nonce, NULL, 0, pt, sizeof pt);
    CT_PUBLIC(&e, sizeof e);
    CT_PUBLIC(ct, sizeof ct);
    if (e != SOTTO_OK)
        return 1;
    sotto_err good = sotto_aes256_gcm_siv_decrypt(back, key, nonce, NULL, 0, ct, sizeof ct);
    CT_PUBLIC(&good, sizeof good);
    ct[sizeof ct - 1] ^= 1;
    sotto_err bad = sotto_aes256_gcm_siv_decrypt(back, key, nonce, NULL, 0, ct, sizeof ct);
    CT_PUBLIC(&bad, sizeof bad);
    CT_PUBLIC(back, sizeof back);
    CT_PUBLIC(pt, sizeof pt);
    printf("ct_sealed_gcm_siv: good %d, forged %d\n", (int)good, (int)bad);
    return good == SOTTO_OK && bad == SOTTO_ERR_BAD_MAC ? 0 : 1;
}
