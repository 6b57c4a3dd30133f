/* libFuzzer: the client's message content and sent-transcript decoders
 * (bytes from a peer or another device of the account, after decryption).
 * Anything must give OK or a clean error; OK output must re-encode to the
 * same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t uid[SOTTO_MSG_UID_BYTES];
    int64_t ts;
    char sender[SOTTO_PEER_MAX + 1];
    const uint8_t *text;
    size_t tl;
    static uint8_t out[SOTTO_TRANSCRIPT_MAX];
    size_t n;
    char recipient[SOTTO_PEER_MAX + 1];
    /* Sent transcripts (version 0x02): the same round trip. */
    if (sotto_transcript_decode(data, size, uid, &ts, sender, recipient, &text, &tl, NULL) == SOTTO_C_OK &&
        (sotto_transcript_encode(out, &n, uid, ts, sender, recipient, text, tl, NULL) != SOTTO_C_OK ||
         n != size || memcmp(out, data, size) != 0))
        abort();
    if (sotto_content_decode(data, size, uid, &ts, sender, &text, &tl, NULL) != SOTTO_C_OK)
        return 0;
    if (sotto_content_encode(out, &n, uid, ts, sender, text, tl, NULL) != SOTTO_C_OK || n != size ||
        memcmp(out, data, size) != 0)
        abort();
    return 0;
}
