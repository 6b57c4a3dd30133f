/* libFuzzer: the daemon's JSON-RPC request handling up to the store (lines
 * from local clients). Every input gets a JSON answer or none, never a crash. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = sotto_rpc_handle(NULL, (const char *)data, size);
    if (out != NULL) {
        json_t *j = json_loads(out, 0, NULL);
        if (j == NULL)
            abort();
        json_decref(j);
        free(out);
    }
    return 0;
}
