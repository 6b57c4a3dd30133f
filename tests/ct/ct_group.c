/* Constant-time check of the sender-key code under valgrind: the chain keys
 * are secret. Covers the chain step (HMAC-SHA256) walked forward as decrypt
 * walks it (seeds stored on the way), the message-key derivation (HKDF) from a
 * stored seed and AES-256-CBC encryption: the steps of sotto_group_encrypt and
 * sotto_group_decrypt that touch chain keys. Not under the check: the
 * signature over the finished message (sotto_sign branches on XEdDSA's
 * negligible zero-scalar case, which depends on the message; ct_xeddsa covers
 * the signing arithmetic), and decrypt's CBC padding verdict and length, which
 * sotto_aes256_cbc_decrypt reveals by design (the plaintext length is public).
 * A full encrypt/decrypt run checks the pieces fit. */
#include <stdio.h>
#include <string.h>
#include "ct.h"
#include "sotto/sotto.h"
#include "protocol/group_internal.h"
#include "crypto/primitives.h"

static const uint8_t DIST[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    /* the chain step and message key alone */
    uint8_t ck[32], seed[32], iv[16], key[32];
    for (int i = 0; i < 32; i++)
        ck[i] = (uint8_t)(i * 5 + 3);
    CT_SECRET(ck, sizeof ck);
    sotto_err e1 = sotto_gk_chain_step(seed, ck);
    sotto_err e2 = sotto_gk_message_key(iv, key, seed);
    CT_PUBLIC(&e1, sizeof e1);
    CT_PUBLIC(&e2, sizeof e2);
    if (e1 != SOTTO_OK || e2 != SOTTO_OK)
        return 1;

    /* decrypt's forward walk: seeds of skipped iterations kept, one used later */
    uint8_t seeds[8][32], body[64], ct[80];
    for (int i = 0; i < 8; i++)
        if (sotto_gk_chain_step(seeds[i], ck) != SOTTO_OK)
            return 1;
    size_t ct_len = 0;
    memset(body, 7, sizeof body);
    sotto_err e3 = sotto_gk_message_key(iv, key, seeds[3]);
    if (e3 == SOTTO_OK)
        e3 = sotto_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, body, sizeof body);
    CT_PUBLIC(&e3, sizeof e3);
    CT_PUBLIC(ct, sizeof ct);
    if (e3 != SOTTO_OK)
        return 1;

    /* a whole sender and receiver, not under the check */
    sotto_sender_key_record *a = NULL, *b = NULL;
    uint8_t skdm[SOTTO_GROUP_SKDM_MAX_BYTES], msg[4][256], pt[256];
    size_t n, len[4], out_len;
    if (sotto_sender_key_record_new(&a) != SOTTO_OK || sotto_sender_key_record_new(&b) != SOTTO_OK
        || sotto_group_create_distribution(a, DIST, skdm, sizeof skdm, &n) != SOTTO_OK
        || sotto_group_process_distribution(b, skdm, n) != SOTTO_OK)
        return 1;
    static const uint8_t text[] = "a group message of some length, 47 bytes long.";
    for (int i = 0; i < 4; i++) {
        sotto_err e = sotto_group_encrypt(a, DIST, text, sizeof text - (size_t)i, msg[i], sizeof msg[i], &len[i]);
        CT_PUBLIC(&e, sizeof e);
        CT_PUBLIC(msg[i], sizeof msg[i]);
        CT_PUBLIC(&len[i], sizeof len[i]);
        if (e != SOTTO_OK)
            return 1;
    }
    /* out of order: stored seeds used */
    const int order[] = { 2, 0, 3, 1 };
    int failures = 0;
    for (int k = 0; k < 4; k++) {
        const int i = order[k];
        sotto_err e = sotto_group_decrypt(b, msg[i], len[i], pt, sizeof pt, &out_len);
        if (e != SOTTO_OK || out_len != sizeof text - (size_t)i || memcmp(pt, text, out_len) != 0)
            failures++;
    }
    printf("ct_group: %d failures\n", failures);
    sotto_sender_key_record_free(a);
    sotto_sender_key_record_free(b);
    return failures == 0 ? 0 : 1;
}
