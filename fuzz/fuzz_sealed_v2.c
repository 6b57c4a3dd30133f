/* libFuzzer: a sealed sender v2 sent form as the server sees it (recipient
 * list, device entries, exclusions, duplicates, shared part), the received
 * form made for every recipient, and that form opened by the fixture's
 * recipient (v2 open: M, E check, AES-256-GCM-SIV, the sender tag). */
#include <stdint.h>
#include <stdlib.h>
#include "fuzz_layers_fixture.h"

#define FUZZ_V2_ENTRIES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fx_pki p;
    static sotto_sealed_v2_entry ent[FUZZ_V2_ENTRIES];
    static uint8_t out[SOTTO_SEALED_MAX_MESSAGE_BYTES], rx[SOTTO_SEALED_MAX_MESSAGE_BYTES];
    if (p.recipient == NULL) {
        if (sotto_init() != SOTTO_OK)
            abort();
        fx_pki_init(&p);
    }
    size_t n = 0, shared = 0, count = 0;
    sotto_unsealed info;
    if (sotto_sealed_v2_parse(data, size, NULL, 0, &count, &shared) == SOTTO_OK
        && sotto_sealed_v2_parse(data, size, ent, FUZZ_V2_ENTRIES, &n, &shared) == SOTTO_OK) {
        if (n > count)       /* the count without entries is before merging duplicates */
            abort();
        for (size_t i = 0; i < n; i++) {
            size_t m = 0;
            if (ent[i].n_devices == 0)
                continue;
            if (sotto_sealed_v2_received(data, size, &ent[i], shared, rx, sizeof rx, &m) != SOTTO_OK)
                abort();
            size_t k = 0;
            (void)sotto_sealed_open(p.recipient, p.root_pub, FX_NOW_MS, rx, m, out, sizeof out, &k, &info);
        }
    }
    /* the input as a received form too */
    size_t k = 0;
    if (sotto_sealed_open(p.recipient, p.root_pub, FX_NOW_MS, data, size, out, sizeof out, &k, &info) != SOTTO_OK
        && k != 0)
        abort();
    return 0;
}
