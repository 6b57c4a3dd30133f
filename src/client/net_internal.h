/* sotto client: what net.c (TLS, HTTP) and ws.c (WebSocket) share. */
#ifndef SOTTO_CLIENT_NET_INTERNAL_H
#define SOTTO_CLIENT_NET_INTERNAL_H
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

struct sotto_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    uint8_t *rb;          /* bytes read but not yet consumed */
    size_t rlen, rcap;
    char fingerprint[2 * SOTTO_PIN_BYTES + 1];
};

/* An absolute monotonic deadline timeout_ms from now (negative: none). */
int64_t sotto_net_deadline_in(int timeout_ms);
/* Waits for events on fd until deadline: 1 ready, 0 timeout, -1 error. */
int sotto_net_wait_fd(int fd, short events, int64_t deadline);
sotto_cstatus sotto_net_write_all(sotto_conn *c, const void *buf, size_t len, int64_t deadline, char *err);
/* Drops n bytes from the front of the read buffer. */
void sotto_net_consume(sotto_conn *c, size_t n);
/* Reads a response head (NUL-terminated, malloc'ed); *any = 1 once a byte arrived. */
sotto_cstatus sotto_net_read_head(sotto_conn *c, char **head, int64_t deadline, int *any, char *err);
sotto_cstatus sotto_net_parse_status(const char *head, int *status, char *err);
/* A header's value (case-insensitive name), copied into out; 1 when found. */
int sotto_net_header_value(const char *head, const char *name, char *out, size_t cap);
/* "host:port" for the Host header (IPv6 in brackets). */
void sotto_net_host_header(const sotto_url *u, char *out, size_t cap);

#endif
