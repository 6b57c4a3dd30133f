/* libFuzzer: every sottod API body decoder on the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "sottod_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why;
    static sotto_api_register reg;
    if (sotto_api_decode_register(data, size, &reg, &why) == 0) {
        if (reg.secret_len < SOTTO_STORE_SECRET_MIN_BYTES || reg.secret_len > SOTTO_STORE_SECRET_MAX_BYTES)
            __builtin_trap();
        sodium_memzero(&reg, sizeof reg);
    }
    sotto_api_keys keys;
    if (sotto_api_decode_keys(data, size, &keys, &why) == 0) {
        if (keys.ec_count > SOTTO_STORE_MAX_KEYS_PER_UPLOAD || keys.kem_count > SOTTO_STORE_MAX_KEYS_PER_UPLOAD)
            __builtin_trap();
        sotto_api_keys_free(&keys);
    }
    sotto_api_submit sub;
    if (sotto_api_decode_submit(data, size, 4096, &sub, &why) == 0) {
        if (sub.count == 0 || sub.count > SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION)
            __builtin_trap();
        for (size_t i = 0; i < sub.count; i++) {
            if (sub.outs[i].body_len == 0 || sub.outs[i].body_len > 4096)
                __builtin_trap();
            volatile uint8_t x = sub.outs[i].body[sub.outs[i].body_len - 1];
            (void)x;
        }
        sotto_api_submit_free(&sub);
    }
    static uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    size_t n;
    if (sotto_api_decode_ws(data, size, ids, &n, &why) == 0 && (n == 0 || n > SOTTO_API_MAX_ACK_IDS))
        __builtin_trap();
    sotto_api_ws_msg m;
    if (sotto_api_decode_ws_msg(data, size, 4096, ids, &m, &why) == 0) {
        if (m.kind == SOTTO_API_WS_ACK && (m.n_ids == 0 || m.n_ids > SOTTO_API_MAX_ACK_IDS))
            __builtin_trap();
        if (m.kind == SOTTO_API_WS_SEND) {
            if (!m.has_id || m.to_len == 0 || m.to_len > SOTTO_API_MAX_TO || strlen(m.to) != m.to_len ||
                m.submit.count == 0 || m.submit.count > SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION)
                __builtin_trap();
            for (size_t i = 0; i < m.submit.count; i++) {
                if (m.submit.outs[i].body_len == 0 || m.submit.outs[i].body_len > 4096)
                    __builtin_trap();
                volatile uint8_t x = m.submit.outs[i].body[m.submit.outs[i].body_len - 1];
                (void)x;
            }
            sotto_api_submit_free(&m.submit);
        }
    } else if (m.submit.bodies != NULL) {
        __builtin_trap(); /* a refusal owns nothing */
    }
    return 0;
}
