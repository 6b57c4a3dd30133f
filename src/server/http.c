/* sottod: incremental HTTP/1.1 request head parser (see http.h). */
#include "http.h"

#include <string.h>

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool sotto_slice_ieq(sotto_slice s, const char *word)
{
    size_t n = strlen(word);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)word[i]))
            return false;
    return true;
}

bool sotto_slice_eq(sotto_slice s, const char *word)
{
    size_t n = strlen(word);
    return s.n == n && (n == 0 || memcmp(s.p, word, n) == 0);
}

sotto_slice sotto_http_header_get(const sotto_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (sotto_slice_ieq(req->headers[i].name, name))
            return req->headers[i].value;
    sotto_slice none = { NULL, 0 };
    return none;
}

const char *sotto_http_status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Splits a comma-separated header value and reports whether `token` is one
 * of its elements (case-insensitive, optional whitespace around each). */
static bool list_has(sotto_slice v, const char *token)
{
    size_t i = 0;
    while (i <= v.n) {
        size_t start = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t a = start, b = i;
        while (a < b && (v.p[a] == ' ' || v.p[a] == '\t'))
            a++;
        while (b > a && (v.p[b - 1] == ' ' || v.p[b - 1] == '\t'))
            b--;
        sotto_slice e = { v.p + a, b - a };
        if (sotto_slice_ieq(e, token))
            return true;
        i++;
    }
    return false;
}

static sotto_http_result refuse(int *status, const char **reason, int code, const char *why)
{
    *status = code;
    *reason = why;
    return SOTTO_HTTP_REFUSED;
}

/* Finds the end of the head ("\r\n\r\n") within the first `lim` bytes;
 * returns the head length or 0. A bare LF line ending is refused later. */
static size_t find_head_end(const uint8_t *buf, size_t lim)
{
    for (size_t i = 3; i < lim; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    return 0;
}

static sotto_http_method method_of(sotto_slice m)
{
    if (sotto_slice_eq(m, "GET")) return SOTTO_HTTP_GET;
    if (sotto_slice_eq(m, "HEAD")) return SOTTO_HTTP_HEAD;
    if (sotto_slice_eq(m, "POST")) return SOTTO_HTTP_POST;
    if (sotto_slice_eq(m, "PUT")) return SOTTO_HTTP_PUT;
    if (sotto_slice_eq(m, "DELETE")) return SOTTO_HTTP_DELETE;
    return SOTTO_HTTP_OTHER;
}

static bool parse_content_length(sotto_slice v, uint64_t *out)
{
    if (v.n == 0 || v.n > 15)   /* 10^15 is far past any limit; no overflow */
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        x = x * 10u + (uint64_t)(v.p[i] - '0');
    }
    *out = x;
    return true;
}

sotto_http_result sotto_http_parse_head(const uint8_t *buf, size_t len, size_t max_head,
                                        sotto_http_req *req, int *status, const char **reason)
{
    memset(req, 0, sizeof *req);
    *status = 0;
    *reason = "";
    if (len == 0)
        return SOTTO_HTTP_INCOMPLETE;

    /* Tolerate the empty lines RFC 9112 allows before a request line? No:
     * a client of ours never sends them, and a stray CRLF after a body is
     * more often a sign of a wrong Content-Length. Refuse anything that does
     * not start with a method token. */
    if (!is_tchar(buf[0]))
        return refuse(status, reason, 400, "request line does not start with a method");

    size_t scan = len < max_head ? len : max_head;
    size_t head_len = find_head_end(buf, scan);
    if (head_len == 0) {
        /* Check the request line early so garbage gets its 400 at once. */
        const uint8_t *nl = memchr(buf, '\n', scan);
        if (nl == NULL && scan >= SOTTOD_MAX_METHOD_BYTES + 1 + SOTTOD_MAX_TARGET_BYTES + 11)
            return refuse(status, reason, 414, "request line too long");
        if (len >= max_head)
            return refuse(status, reason, 431, "request head too large");
        /* A NUL or bare control character anywhere so far is fatal already. */
        for (size_t i = 0; i < scan; i++)
            if (buf[i] == 0)
                return refuse(status, reason, 400, "NUL byte in request head");
        return SOTTO_HTTP_INCOMPLETE;
    }

    const char *p = (const char *)buf;
    const char *end = p + head_len - 2; /* the final CRLF of the blank line */
    /* Request line: method SP target SP HTTP/1.x CRLF */
    const char *q = p;
    while (q < end && is_tchar((unsigned char)*q))
        q++;
    size_t mlen = (size_t)(q - p);
    if (mlen == 0 || mlen > SOTTOD_MAX_METHOD_BYTES || q >= end || *q != ' ')
        return refuse(status, reason, 400, "bad method");
    req->method_str.p = p;
    req->method_str.n = mlen;
    req->method = method_of(req->method_str);
    q++;
    const char *t = q;
    while (q < end && *q != ' ' && *q != '\r' && *q != '\n') {
        unsigned char c = (unsigned char)*q;
        if (c <= 0x20 || c >= 0x7f)
            return refuse(status, reason, 400, "bad character in request target");
        q++;
    }
    size_t tlen = (size_t)(q - t);
    if (tlen > SOTTOD_MAX_TARGET_BYTES)
        return refuse(status, reason, 414, "request target too long");
    if (tlen == 0 || t[0] != '/' || q >= end || *q != ' ')
        return refuse(status, reason, 400, "bad request target");
    req->target.p = t;
    req->target.n = tlen;
    const char *qm = memchr(t, '?', tlen);
    req->path.p = t;
    req->path.n = qm ? (size_t)(qm - t) : tlen;
    if (qm) {
        req->query.p = qm + 1;
        req->query.n = tlen - req->path.n - 1;
    }
    q++;
    if ((size_t)(end - q) < 10 || memcmp(q, "HTTP/1.", 7) != 0) {
        if ((size_t)(end - q) >= 5 && memcmp(q, "HTTP/", 5) == 0)
            return refuse(status, reason, 505, "only HTTP/1.0 and HTTP/1.1");
        return refuse(status, reason, 400, "bad HTTP version");
    }
    if (q[7] != '0' && q[7] != '1')
        return refuse(status, reason, 505, "only HTTP/1.0 and HTTP/1.1");
    req->minor = q[7] - '0';
    if (q[8] != '\r' || q[9] != '\n')
        return refuse(status, reason, 400, "bad request line ending");
    q += 10;

    /* Header lines. */
    bool have_cl = false, have_host = false, conn_close = false, conn_keep = false;
    bool conn_upgrade = false, upgrade_ws = false, have_te = false;
    while (q < end) {
        const char *ls = q;
        const char *le = memchr(q, '\n', (size_t)(end + 2 - q));
        if (le == NULL || le == ls || le[-1] != '\r')
            return refuse(status, reason, 400, "bad header line ending");
        const char *ve = le - 1; /* at '\r' */
        if (*ls == ' ' || *ls == '\t')
            return refuse(status, reason, 400, "obsolete header line folding");
        const char *c = ls;
        while (c < ve && is_tchar((unsigned char)*c))
            c++;
        if (c == ls || c >= ve || *c != ':')
            return refuse(status, reason, 400, "bad header name");
        if (req->n_headers >= SOTTOD_MAX_HEADERS)
            return refuse(status, reason, 431, "too many header lines");
        sotto_http_header *h = &req->headers[req->n_headers++];
        h->name.p = ls;
        h->name.n = (size_t)(c - ls);
        const char *v = c + 1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        const char *vend = ve;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        for (const char *x = v; x < vend; x++) {
            unsigned char ch = (unsigned char)*x;
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return refuse(status, reason, 400, "control character in header value");
        }
        h->value.p = v;
        h->value.n = (size_t)(vend - v);

        if (sotto_slice_ieq(h->name, "content-length")) {
            uint64_t cl;
            if (!parse_content_length(h->value, &cl))
                return refuse(status, reason, 400, "bad Content-Length");
            if (have_cl && cl != req->content_length)
                return refuse(status, reason, 400, "conflicting Content-Length");
            have_cl = true;
            req->content_length = cl;
        } else if (sotto_slice_ieq(h->name, "transfer-encoding")) {
            have_te = true;
        } else if (sotto_slice_ieq(h->name, "host")) {
            if (have_host)
                return refuse(status, reason, 400, "duplicate Host");
            have_host = true;
        } else if (sotto_slice_ieq(h->name, "connection")) {
            conn_close = conn_close || list_has(h->value, "close");
            conn_keep = conn_keep || list_has(h->value, "keep-alive");
            conn_upgrade = conn_upgrade || list_has(h->value, "upgrade");
        } else if (sotto_slice_ieq(h->name, "upgrade")) {
            upgrade_ws = upgrade_ws || list_has(h->value, "websocket");
        } else if (sotto_slice_ieq(h->name, "authorization")) {
            if (req->authorization.n != 0)
                return refuse(status, reason, 400, "duplicate Authorization");
            req->authorization = h->value;
        } else if (sotto_slice_ieq(h->name, "sec-websocket-key")) {
            req->ws_key = h->value;
        } else if (sotto_slice_ieq(h->name, "sec-websocket-version")) {
            req->ws_version = h->value;
        }
        q = le + 1;
    }
    if (have_te)
        return refuse(status, reason, 411, "chunked bodies are not supported; send Content-Length");
    if (req->minor == 1 && !have_host)
        return refuse(status, reason, 400, "missing Host");
    req->keep_alive = req->minor == 1 ? !conn_close : (conn_keep && !conn_close);
    req->upgrade_websocket = conn_upgrade && upgrade_ws;
    req->head_len = head_len;
    return SOTTO_HTTP_COMPLETE;
}
