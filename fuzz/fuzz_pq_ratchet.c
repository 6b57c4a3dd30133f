/* libFuzzer: SPQR v1 payloads (the pq_ratchet field): the parser, and a
 * sequence of receives on one chain. Input: payloads separated by 0xFF 0xFE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"
#include "protocol/spqr.h"

static const uint8_t AUTH[32] = { 7 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sotto_init() != SOTTO_OK)
            abort();
        ready = 1;
    }
    sotto_spqr s;
    if (sotto_spqr_init(&s, AUTH, SOTTO_SPQR_B2A) != SOTTO_OK)
        abort();
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        int end = i == size || (i + 1 < size && data[i] == 0xFF && data[i + 1] == 0xFE);
        if (!end)
            continue;
        sotto_spqr_msg m;
        (void)sotto_spqr_parse(&m, data + start, i - start);
        sotto_spqr_recv_plan p;
        uint32_t before = s.recv_ctr;
        if (sotto_spqr_recv_plan_make(&s, data + start, i - start, &p) == SOTTO_OK) {
            sotto_spqr_recv_commit(&s, &p);
            if (p.has_key && p.kind == 2 && s.recv_ctr <= before)
                abort();
        } else if (s.recv_ctr != before) {
            abort(); /* a refused payload changed the chain */
        }
        sotto_spqr_recv_plan_free(&p);
        if (s.n_hist > 2 * SOTTO_SPQR_TRIM_SIZE + SOTTO_SPQR_MAX_OOO_KEYS)
            abort();
        start = i + 2;
        i++;
    }
    sotto_spqr_wipe(&s);
    return 0;
}
