/* sottod HTTP/1.1 request parser: numbered cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

static sotto_http_result parse(const char *s, size_t max_head, sotto_http_req *req, int *status)
{
    const char *why;
    return sotto_http_parse_head((const uint8_t *)s, strlen(s), max_head, req, status, &why);
}

/* 1. a plain GET with keep-alive by default in HTTP/1.1 */
static void simple_get(void **st)
{
    (void)st;
    sotto_http_req r;
    int status;
    const char *s = "GET /v1/keys?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_COMPLETE);
    assert_int_equal(r.method, SOTTO_HTTP_GET);
    assert_true(sotto_slice_eq(r.path, "/v1/keys"));
    assert_true(sotto_slice_eq(r.query, "x=1"));
    assert_int_equal(r.head_len, strlen(s));
    assert_true(r.keep_alive);
    assert_int_equal(r.content_length, 0);
}

/* 2. every strict prefix is incomplete, never refused */
static void prefixes_incomplete(void **st)
{
    (void)st;
    const char *s = "PUT /v1/messages/bob HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                    "Authorization: Basic eDp5\r\n\r\nhello";
    size_t head = strlen(s) - 5;
    for (size_t i = 0; i < head; i++) {
        sotto_http_req r;
        int status;
        const char *why;
        assert_int_equal(sotto_http_parse_head((const uint8_t *)s, i, 4096, &r, &status, &why),
                         SOTTO_HTTP_INCOMPLETE);
    }
    sotto_http_req r;
    int status;
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_COMPLETE);
    assert_int_equal(r.head_len, head);
    assert_int_equal(r.content_length, 5);
    assert_true(sotto_slice_eq(r.authorization, "Basic eDp5"));
}

/* 3. pipelining: two requests back to back parse one after the other */
static void pipelined(void **st)
{
    (void)st;
    const char *s = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    sotto_http_req r;
    int status;
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_COMPLETE);
    assert_int_equal(r.method, SOTTO_HTTP_POST);
    size_t used = r.head_len + (size_t)r.content_length;
    assert_memory_equal(s + r.head_len, "abc", 3);
    assert_int_equal(parse(s + used, 4096, &r, &status), SOTTO_HTTP_COMPLETE);
    assert_true(sotto_slice_eq(r.path, "/b"));
    assert_false(r.keep_alive);
    assert_int_equal(used + r.head_len, strlen(s));
}

/* 4. chunked bodies are refused with 411 */
static void chunked_refused(void **st)
{
    (void)st;
    sotto_http_req r;
    int status;
    assert_int_equal(parse("POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n0\r\n\r\n", 4096, &r, &status), SOTTO_HTTP_REFUSED);
    assert_int_equal(status, 411);
}

/* 5. oversized head: 431 before the blank line arrives */
static void oversized_head(void **st)
{
    (void)st;
    size_t n = 5000;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, "GET / HTTP/1.1\r\nX-Long: ", 24);
    memset(s + 24, 'a', n - 24);
    s[n] = 0;
    sotto_http_req r;
    int status;
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_REFUSED);
    assert_int_equal(status, 431);
    /* Under the limit it is merely incomplete. */
    s[3000] = 0;
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_INCOMPLETE);
    free(s);
}

/* 6. too many header lines: 431 */
static void too_many_headers(void **st)
{
    (void)st;
    char s[4096];
    size_t o = (size_t)snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (unsigned i = 0; i < SOTTOD_MAX_HEADERS + 1; i++)
        o += (size_t)snprintf(s + o, sizeof s - o, "X-%u: v\r\n", i);
    snprintf(s + o, sizeof s - o, "\r\n");
    sotto_http_req r;
    int status;
    assert_int_equal(parse(s, sizeof s, &r, &status), SOTTO_HTTP_REFUSED);
    assert_int_equal(status, 431);
}

/* 7. bad request lines */
static void bad_request_lines(void **st)
{
    (void)st;
    static const struct { const char *s; int status; } cases[] = {
        { "GARBAGE\r\n\r\n", 400 },
        { " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
        { "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
        { "GET x HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
        { "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505 },
        { "GET / HTTP/1.7\r\nHost: h\r\n\r\n", 505 },
        { "GET / FTP/1.1\r\nHost: h\r\n\r\n", 400 },
        { "GET / HTTP/1.1\nHost: h\r\n\r\n", 400 },
        { "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\n\r\n", 400 },                      /* no Host */
        { "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n", 400 },
        { "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sotto_http_req r;
        int status;
        if (parse(cases[i].s, 4096, &r, &status) != SOTTO_HTTP_REFUSED || status != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, status, cases[i].status);
    }
}

/* 8. request target too long: 414 */
static void long_target(void **st)
{
    (void)st;
    char s[4096];
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', 2000);
    strcpy(s + 2005, " HTTP/1.1\r\nHost: h\r\n\r\n");
    sotto_http_req r;
    int status;
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_REFUSED);
    assert_int_equal(status, 414);
    /* and without the line end yet */
    s[2005] = 0;
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_REFUSED);
    assert_int_equal(status, 414);
}

/* 9. WebSocket upgrade headers */
static void websocket_upgrade(void **st)
{
    (void)st;
    sotto_http_req r;
    int status;
    const char *s = "GET /v1/websocket HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
                    "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";
    assert_int_equal(parse(s, 4096, &r, &status), SOTTO_HTTP_COMPLETE);
    assert_true(r.upgrade_websocket);
    assert_true(sotto_slice_eq(r.ws_key, "dGhlIHNhbXBsZSBub25jZQ=="));
    assert_true(sotto_slice_eq(r.ws_version, "13"));
}

/* 10. HTTP/1.0 closes unless asked; headers are case-insensitive */
static void http10(void **st)
{
    (void)st;
    sotto_http_req r;
    int status;
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", 4096, &r, &status), SOTTO_HTTP_COMPLETE);
    assert_false(r.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\nCONNECTION: Keep-Alive\r\ncontent-LENGTH: 7\r\n\r\n",
                           4096, &r, &status), SOTTO_HTTP_COMPLETE);
    assert_true(r.keep_alive);
    assert_int_equal(r.content_length, 7);
    assert_true(sotto_slice_eq(sotto_http_header_get(&r, "Content-Length"), "7"));
}

/* 11. a NUL byte is refused even before the head is complete */
static void nul_byte(void **st)
{
    (void)st;
    static const uint8_t s[] = { 'G', 'E', 'T', ' ', '/', 0, ' ' };
    sotto_http_req r;
    int status;
    const char *why;
    assert_int_equal(sotto_http_parse_head(s, sizeof s, 4096, &r, &status, &why), SOTTO_HTTP_REFUSED);
    assert_int_equal(status, 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_get),       cmocka_unit_test(prefixes_incomplete),
        cmocka_unit_test(pipelined),        cmocka_unit_test(chunked_refused),
        cmocka_unit_test(oversized_head),   cmocka_unit_test(too_many_headers),
        cmocka_unit_test(bad_request_lines), cmocka_unit_test(long_target),
        cmocka_unit_test(websocket_upgrade), cmocka_unit_test(http10),
        cmocka_unit_test(nul_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
