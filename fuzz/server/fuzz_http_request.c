/* libFuzzer: the sottod HTTP/1.1 request parser, fed as one buffer and as a
 * growing prefix (the way a connection sees bytes arrive), then pipelined. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sotto_http_req req;
    int status;
    const char *why;
    size_t off = 0;
    /* Pipelined requests: parse, skip the body, parse again. */
    for (int round = 0; round < 8 && off < size; round++) {
        sotto_http_result r = sotto_http_parse_head(data + off, size - off, SOTTOD_MAX_HEADER_BYTES,
                                                    &req, &status, &why);
        if (r != SOTTO_HTTP_COMPLETE)
            break;
        if (req.head_len > size - off)
            __builtin_trap();
        for (size_t i = 0; i < req.n_headers; i++)
            if (req.headers[i].name.p < (const char *)data + off ||
                req.headers[i].value.p + req.headers[i].value.n > (const char *)data + size)
                __builtin_trap();
        uint64_t body = req.content_length;
        if (body > size - off - req.head_len)
            break;
        off += req.head_len + (size_t)body;
    }
    /* Growing prefixes must agree with the whole: once complete or refused,
     * a longer prefix never becomes incomplete. */
    if (size <= 512) {
        int seen = 0;
        for (size_t i = 0; i <= size; i++) {
            sotto_http_result r = sotto_http_parse_head(data, i, SOTTOD_MAX_HEADER_BYTES_PREAUTH,
                                                        &req, &status, &why);
            if (r != SOTTO_HTTP_INCOMPLETE)
                seen = 1;
            else if (seen)
                __builtin_trap();
        }
    }
    return 0;
}
