/* sottod: an incremental HTTP/1.1 request parser.
 *
 * The parser never allocates and never copies: it looks at the bytes the
 * connection has buffered so far and either asks for more, refuses them with
 * a status code, or describes one complete request head as slices of that
 * buffer. The caller checks the announced body length against its own limit
 * BEFORE growing its buffer, then waits for head_len + content_length bytes.
 * Pipelined requests are simply the bytes after that. */
#ifndef SOTTOD_HTTP_H
#define SOTTOD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sottod_limits.h"

typedef struct sotto_slice {
    const char *p;
    size_t n;
} sotto_slice;

typedef enum sotto_http_method {
    SOTTO_HTTP_OTHER = 0,
    SOTTO_HTTP_GET,
    SOTTO_HTTP_HEAD,
    SOTTO_HTTP_POST,
    SOTTO_HTTP_PUT,
    SOTTO_HTTP_DELETE,
} sotto_http_method;

typedef struct sotto_http_header {
    sotto_slice name;
    sotto_slice value;
} sotto_http_header;

typedef struct sotto_http_req {
    sotto_http_method method;
    sotto_slice method_str;
    sotto_slice target;   /* as sent: path [ '?' query ] */
    sotto_slice path;
    sotto_slice query;    /* without the '?'; n == 0 when absent */
    int minor;            /* HTTP/1.<minor>: 0 or 1 */
    sotto_http_header headers[SOTTOD_MAX_HEADERS];
    size_t n_headers;
    size_t head_len;      /* request line + headers + blank line */
    uint64_t content_length;
    bool keep_alive;      /* after this request */
    bool upgrade_websocket;
    sotto_slice authorization;  /* n == 0 when absent */
    sotto_slice ws_key;         /* Sec-WebSocket-Key */
    sotto_slice ws_version;     /* Sec-WebSocket-Version */
} sotto_http_req;

typedef enum sotto_http_result {
    SOTTO_HTTP_INCOMPLETE = 0, /* need more bytes (len is still within max_head) */
    SOTTO_HTTP_COMPLETE = 1,   /* *req describes a full head */
    SOTTO_HTTP_REFUSED = -1,   /* *status holds the code to answer; then close */
} sotto_http_result;

/* Parses the request head at the start of buf[0..len). max_head bounds the
 * head (431 once exceeded, even before the blank line arrives). On
 * SOTTO_HTTP_REFUSED, *status is 400, 411, 414, 431, 501 or 505 and *reason a
 * static phrase. *req is zeroed on entry. */
sotto_http_result sotto_http_parse_head(const uint8_t *buf, size_t len, size_t max_head,
                                        sotto_http_req *req, int *status, const char **reason);

/* Case-insensitive comparison of a slice with a NUL-terminated ASCII word. */
bool sotto_slice_ieq(sotto_slice s, const char *word);
/* Exact comparison. */
bool sotto_slice_eq(sotto_slice s, const char *word);

/* The value of the first header named `name` (case-insensitive); n == 0 when absent. */
sotto_slice sotto_http_header_get(const sotto_http_req *req, const char *name);

/* The reason phrase for a status code ("OK", "Bad Request", ...). */
const char *sotto_http_status_text(int status);

#endif
