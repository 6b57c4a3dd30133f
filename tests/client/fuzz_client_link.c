/* libFuzzer: the decoders of linking on the client: the provisioning message
 * (bytes out of the sealed box, from whoever had the link code) and the link
 * code (typed by the user). Anything gives OK or a clean error; an accepted
 * message re-encodes to the same bytes, an accepted code formats back to
 * itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sotto_link_msg m;
    if (sotto_link_msg_decode(data, size, &m, NULL) == SOTTO_C_OK) {
        uint8_t out[SOTTO_LINK_MSG_MAX];
        size_t n;
        if (sotto_link_msg_encode(&m, out, &n, NULL) != SOTTO_C_OK || n != size || memcmp(out, data, size) != 0)
            abort();
    }
    char code[SOTTO_LINK_CODE_MAX + 8];
    if (size < sizeof code) {
        memcpy(code, data, size);
        code[size] = '\0';
        char addr[SOTTO_LINK_ADDRESS_CHARS + 1], back[SOTTO_LINK_CODE_MAX];
        uint8_t pk[SOTTO_LINK_PK_BYTES];
        if (sotto_link_code_parse(code, addr, pk, NULL) == SOTTO_C_OK &&
            (sotto_link_code_format(back, addr, pk, NULL) != SOTTO_C_OK || strstr(code, back) == NULL))
            abort();
    }
    return 0;
}
