/* sotto client: HTTP/1.1 over TLS (OpenSSL) with server verification, and a
 * WebSocket client (wslay) on the same connection type.
 *
 * Verification is never off: either --cacert (chain + host name), or --pin
 * (the SHA-256 of the server's DER certificate must match; checked right
 * after the handshake, before a byte of request is written), or the system
 * CA store (chain + host name). */
#ifndef SOTTO_CLIENT_NET_H
#define SOTTO_CLIENT_NET_H
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define SOTTO_URL_HOST_MAX      255
#define SOTTO_URL_PORT_MAX      7
#define SOTTO_URL_PREFIX_MAX    255
#define SOTTO_PIN_BYTES         32
#define SOTTO_HTTP_HEAD_MAX     16384        /* response status line + headers */
#define SOTTO_HTTP_BODY_MAX     (8u << 20)   /* response body */
#define SOTTO_HTTP_PATH_MAX     1024
#define SOTTO_HTTP_AUTH_MAX     512
#define SOTTO_WS_MESSAGE_MAX    (4u << 20)   /* one WebSocket message from the server */
#define SOTTO_NET_TIMEOUT_MS    30000        /* connect, handshake, one request */

typedef struct sotto_url {
    char host[SOTTO_URL_HOST_MAX + 1];
    char port[SOTTO_URL_PORT_MAX + 1];
    char prefix[SOTTO_URL_PREFIX_MAX + 1]; /* path prefix without trailing '/' */
} sotto_url;

/* https://HOST[:PORT][/PREFIX]; IPv6 hosts in brackets. Nothing else. */
sotto_cstatus sotto_url_parse(sotto_url *u, const char *s, char *err);

typedef struct sotto_trust {
    const char *cacert;              /* PEM file, or NULL */
    const char *cacert_pem;          /* or PEM text in memory (as kept in the store) */
    size_t cacert_pem_len;
    int has_pin;
    uint8_t pin[SOTTO_PIN_BYTES];    /* SHA-256 of the DER certificate */
} sotto_trust;

typedef struct sotto_conn sotto_conn;
sotto_cstatus sotto_conn_open(sotto_conn **out, const sotto_url *u, const sotto_trust *t,
                              int timeout_ms, char *err);
void sotto_conn_close(sotto_conn *c);
/* Lower-case hex SHA-256 of the peer certificate (65 bytes with NUL). */
void sotto_conn_fingerprint(const sotto_conn *c, char out[2 * SOTTO_PIN_BYTES + 1]);

/* A keep-alive HTTP client for one server. */
typedef struct sotto_http {
    sotto_url url;
    sotto_trust trust;
    char auth[SOTTO_HTTP_AUTH_MAX]; /* Authorization header value, or "" */
    int timeout_ms;
    sotto_conn *conn;
} sotto_http;

typedef struct sotto_http_resp {
    int status;
    char *body;       /* NUL-terminated, body_len bytes before the NUL */
    size_t body_len;
} sotto_http_resp;

void sotto_http_init(sotto_http *h, const sotto_url *u, const sotto_trust *t);
/* Sets "Basic base64(user:password)". */
sotto_cstatus sotto_http_set_basic(sotto_http *h, const char *user, const char *password, char *err);
void sotto_http_close(sotto_http *h);
/* One request (body may be NULL; it is sent as application/json). path is
 * appended to the URL prefix. Reconnects once when a kept-alive connection
 * turns out closed before any response byte. SOTTO_C_OK means an HTTP
 * response arrived, whatever its status. */
sotto_cstatus sotto_http_request(sotto_http *h, const char *method, const char *path,
                                 const char *body, size_t body_len, sotto_http_resp *resp,
                                 char *err);
void sotto_http_resp_free(sotto_http_resp *r);

/* Maps an HTTP status to a client status: 2xx OK, 401/403 AUTH, 404
 * NOT_FOUND, 409 CONFLICT, anything else SERVER. */
sotto_cstatus sotto_http_status(int status);

/* WebSocket over a fresh TLS connection. */
typedef struct sotto_ws sotto_ws;
sotto_cstatus sotto_ws_open(sotto_ws **out, const sotto_http *h, const char *path, char *err);
/* Waits up to timeout_ms (negative: forever) for the next text or binary
 * message. OK with *msg NULL on timeout. SOTTO_C_NETWORK when the connection
 * closed. *msg is malloc'ed, NUL-terminated. */
sotto_cstatus sotto_ws_recv(sotto_ws *w, char **msg, size_t *len, int timeout_ms, char *err);
sotto_cstatus sotto_ws_send_text(sotto_ws *w, const char *msg, size_t len, char *err);
/* For poll(): readable means sotto_ws_recv(…, 0) has work. */
int sotto_ws_fd(const sotto_ws *w);
/* 1 when a message is already buffered (poll would not show it). */
int sotto_ws_pending(const sotto_ws *w);
void sotto_ws_close(sotto_ws *w);

#endif
