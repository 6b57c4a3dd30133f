/* libFuzzer: the WebSocket's binary client messages (api_pb.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    sotto_api_ws_msg m;
    const char *why;
    if (sotto_api_decode_ws_pb(data, size, 4096, ids, &m, &why) == 0) {
        if (m.kind == SOTTO_API_WS_ACK && (m.n_ids == 0 || m.n_ids > SOTTO_API_MAX_ACK_IDS))
            __builtin_trap();
        if (m.kind == SOTTO_API_WS_SEND) {
            if (!m.has_id || m.to_len == 0 || m.to_len > SOTTO_API_MAX_TO || strlen(m.to) != m.to_len ||
                m.submit.count == 0 || m.submit.count > SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION)
                __builtin_trap();
            for (size_t i = 0; i < m.submit.count; i++) {
                if (m.submit.outs[i].body_len == 0 || m.submit.outs[i].body_len > 4096 ||
                    m.submit.outs[i].device_id < 1 || m.submit.outs[i].device_id > 127)
                    __builtin_trap();
                volatile uint8_t x = m.submit.outs[i].body[m.submit.outs[i].body_len - 1];
                (void)x;
            }
            sotto_api_submit_free(&m.submit);
        }
    } else if (m.submit.bodies != NULL) {
        __builtin_trap();
    }
    return 0;
}
