/* Fuzzes the bundle and key checks that outside bytes reach: sotto_verify on
 * arbitrary keys and signatures, and sotto_session_process_bundle on bundles
 * whose keys are arbitrary bytes. In mode 2 the harness signs the fuzzed keys
 * with a fixed identity, so arbitrary EC and Kyber public keys get past the
 * signature checks and into X25519 and Kyber encapsulation.
 *
 * Input: mode byte, then the fields in order (short inputs are zero-filled). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"

static sotto_identity *us, *them;

static size_t take(uint8_t *dst, size_t n, const uint8_t **p, size_t *len)
{
    size_t k = *len < n ? *len : n;
    memset(dst, 0, n);
    memcpy(dst, *p, k);
    *p += k;
    *len -= k;
    return k;
}

static uint32_t take_u32(const uint8_t **p, size_t *len)
{
    uint8_t b[4];
    take(b, sizeof b, p, len);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (us == NULL) {
        uint8_t a[SOTTO_EC_PRIVATE_BYTES], b[SOTTO_EC_PRIVATE_BYTES];
        memset(a, 0x11, sizeof a);
        memset(b, 0x22, sizeof b);
        if (sotto_init() != SOTTO_OK || sotto_identity_from_keys(&us, a, 1) != SOTTO_OK ||
            sotto_identity_from_keys(&them, b, 2) != SOTTO_OK)
            abort();
    }
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 3;
    const uint8_t *p = data + 1;
    size_t len = size - 1;

    if (mode == 0) {
        uint8_t pub[SOTTO_EC_PUBLIC_BYTES], sig[SOTTO_SIGNATURE_BYTES];
        take(pub, sizeof pub, &p, &len);
        take(sig, sizeof sig, &p, &len);
        sotto_err e = sotto_verify(pub, p, len, sig);
        if (e != SOTTO_OK && e != SOTTO_ERR_BAD_SIGNATURE && e != SOTTO_ERR_INVALID_KEY)
            abort();
        return 0;
    }

    sotto_bundle *bd = calloc(1, sizeof *bd);
    if (bd == NULL)
        return 0;
    bd->registration_id = take_u32(&p, &len);
    bd->device_id = take_u32(&p, &len);
    if (mode == 2)
        sotto_identity_public_key(them, bd->identity_key);
    else
        take(bd->identity_key, sizeof bd->identity_key, &p, &len);
    uint8_t flag = 0;
    take(&flag, 1, &p, &len);
    bd->has_pre_key = flag & 1;
    bd->pre_key_id = take_u32(&p, &len);
    take(bd->pre_key, sizeof bd->pre_key, &p, &len);
    bd->signed_pre_key_id = take_u32(&p, &len);
    take(bd->signed_pre_key, sizeof bd->signed_pre_key, &p, &len);
    bd->kyber_pre_key_id = take_u32(&p, &len);
    take(bd->kyber_pre_key, sizeof bd->kyber_pre_key, &p, &len);
    if (mode == 2) {
        /* Valid signatures over arbitrary keys. */
        if (sotto_identity_sign(them, bd->signed_pre_key_signature, bd->signed_pre_key,
                                sizeof bd->signed_pre_key) != SOTTO_OK ||
            sotto_identity_sign(them, bd->kyber_pre_key_signature, bd->kyber_pre_key,
                                sizeof bd->kyber_pre_key) != SOTTO_OK)
            abort();
    } else {
        take(bd->signed_pre_key_signature, sizeof bd->signed_pre_key_signature, &p, &len);
        take(bd->kyber_pre_key_signature, sizeof bd->kyber_pre_key_signature, &p, &len);
    }

    sotto_session *s = NULL;
    if (sotto_session_new(&s) != SOTTO_OK)
        abort();
    sotto_err e = sotto_session_process_bundle(s, us, bd);
    if (e == SOTTO_OK) {
        /* A session that was accepted must be able to encrypt. */
        static const uint8_t msg[] = "fuzz";
        size_t cap = sotto_session_ciphertext_bound(sizeof msg), out_len;
        uint8_t *out = malloc(cap);
        int type;
        if (out == NULL ||
            sotto_session_encrypt(s, us, msg, sizeof msg, out, cap, &out_len, &type) != SOTTO_OK)
            abort();
        free(out);
    }
    sotto_session_free(s);
    free(bd);
    return 0;
}
