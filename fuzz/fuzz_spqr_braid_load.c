/* libFuzzer: loading a saved SPQR v1 braid (part of the saved session).
 * A state that loads must save back to the same bytes and survive a send
 * and a receive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"
#include "protocol/spqr_braid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sotto_init() != SOTTO_OK)
            abort();
        ready = 1;
    }
    sotto_spqr_braid b;
    if (sotto_spqr_braid_load(&b, data, size) != SOTTO_OK)
        return 0;
    uint8_t *out = NULL;
    size_t n = 0;
    if (sotto_spqr_braid_save(&b, &out, &n) != SOTTO_OK || n != size || memcmp(out, data, n) != 0)
        abort();
    free(out);
    uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX], key[32];
    size_t len;
    int has;
    if (sotto_spqr_braid_send(&b, msg, &len, key, &has) == SOTTO_OK)
        (void)sotto_spqr_braid_recv(&b, msg, len, key, &has);
    sotto_spqr_braid_wipe(&b);
    return 0;
}
