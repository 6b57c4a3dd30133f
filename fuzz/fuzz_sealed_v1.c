/* libFuzzer: a sealed sender envelope from outside opened by the fixture's
 * recipient (version dispatch, v1 protobuf, ephemeral and static keys, both
 * MACs, the content and its sender certificate, the key match, validation). */
#include <stdint.h>
#include <stdlib.h>
#include "fuzz_layers_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fx_pki p;
    static uint8_t out[SOTTO_SEALED_MAX_MESSAGE_BYTES];
    if (p.recipient == NULL) {
        if (sotto_init() != SOTTO_OK)
            abort();
        fx_pki_init(&p);
    }
    size_t n = 0;
    sotto_unsealed info;
    sotto_err e = sotto_sealed_open(p.recipient, p.root_pub, FX_NOW_MS, data, size, out, sizeof out, &n, &info);
    if (e != SOTTO_OK && n != 0)
        abort();
    return 0;
}
