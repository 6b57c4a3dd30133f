/* sotto client: TLS connections, HTTP/1.1 and WebSocket (see net.h). */
#define _GNU_SOURCE
#include "net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 16384


/* ---------- URL ---------- */

sotto_cstatus sotto_url_parse(sotto_url *u, const char *s, char *err)
{
    memset(u, 0, sizeof *u);
    if (strncmp(s, "https://", 8) != 0)
        return sotto_cfail(err, SOTTO_C_USAGE, "server URL must start with https://");
    const char *p = s + 8, *host, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return sotto_cfail(err, SOTTO_C_USAGE, "server URL: unclosed [");
        p = host_end + 1;
    } else {
        host = p;
        while (*p != '\0' && *p != ':' && *p != '/')
            p++;
        host_end = p;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl > SOTTO_URL_HOST_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "server URL: bad host");
    memcpy(u->host, host, hl);
    strcpy(u->port, "443");
    if (*p == ':') {
        p++;
        const char *ps = p;
        while (*p >= '0' && *p <= '9')
            p++;
        size_t pl = (size_t)(p - ps);
        long port = pl > 0 && pl <= 5 ? strtol(ps, NULL, 10) : 0;
        if (port < 1 || port > 65535)
            return sotto_cfail(err, SOTTO_C_USAGE, "server URL: bad port");
        snprintf(u->port, sizeof u->port, "%ld", port);
    }
    if (*p != '\0' && *p != '/')
        return sotto_cfail(err, SOTTO_C_USAGE, "server URL: unexpected '%c'", *p);
    size_t rl = strlen(p);
    while (rl > 0 && p[rl - 1] == '/')
        rl--;
    if (rl > SOTTO_URL_PREFIX_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "server URL: path too long");
    for (size_t i = 0; i < rl; i++) {
        if (p[i] <= ' ' || p[i] == '?' || p[i] == '#' || (unsigned char)p[i] >= 0x7f)
            return sotto_cfail(err, SOTTO_C_USAGE, "server URL: bad path");
    }
    memcpy(u->prefix, p, rl);
    return SOTTO_C_OK;
}

/* ---------- time ---------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (negative deadline: forever = -1). */
static int left_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t l = deadline - now_ms();
    if (l < 0)
        return 0;
    return l > 1000000 ? 1000000 : (int)l;
}

int64_t sotto_net_deadline_in(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* ---------- TLS connection ---------- */

static void ossl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    buf[0] = '\0';
    if (e != 0)
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
}

/* Waits for the socket; 1 ready, 0 timeout, -1 error. */
int sotto_net_wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int r = poll(&pfd, 1, left_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        return r > 0;
    }
}

static int tcp_connect(const sotto_url *u, int64_t deadline, char *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(u->host, u->port, &hints, &res);
    if (r != 0) {
        sotto_cfail(err, SOTTO_C_NETWORK, "cannot resolve %s: %s", u->host, gai_strerror(r));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int w = sotto_net_wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            last = w == 0 ? ETIMEDOUT : soerr ? soerr : errno;
        } else {
            last = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        sotto_cfail(err, SOTTO_C_NETWORK, "cannot connect to %s:%s: %s", u->host, u->port, strerror(last));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    return fd;
}

static void cert_fingerprint(X509 *x, char out[2 * SOTTO_PIN_BYTES + 1], uint8_t md[SOTTO_PIN_BYTES])
{
    unsigned int n = 0;
    out[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &n) == 1 && n == SOTTO_PIN_BYTES)
        sodium_bin2hex(out, 2 * SOTTO_PIN_BYTES + 1, md, SOTTO_PIN_BYTES);
}

/* Adds every certificate of a PEM text to the context's trust store. */
static int load_pem(SSL_CTX *ctx, const char *pem, size_t len)
{
    if (len > INT32_MAX)
        return -1;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (b == NULL)
        return -1;
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(st, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(b);
    return n > 0 ? 0 : -1;
}

sotto_cstatus sotto_conn_open(sotto_conn **out, const sotto_url *u, const sotto_trust *t,
                              int timeout_ms, char *err)
{
    *out = NULL;
    int64_t deadline = sotto_net_deadline_in(timeout_ms);
    sotto_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    c->fd = -1;
    sotto_cstatus rc = SOTTO_C_OK;
    char why[256];
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL || SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "TLS set-up failed");
        goto fail;
    }
    if (t->cacert != NULL) {
        if (SSL_CTX_load_verify_locations(c->ctx, t->cacert, NULL) != 1) {
            ossl_reason(why, sizeof why);
            rc = sotto_cfail(err, SOTTO_C_USAGE, "cannot load CA file %s: %s", t->cacert, why);
            goto fail;
        }
    } else if (t->cacert_pem != NULL) {
        if (load_pem(c->ctx, t->cacert_pem, t->cacert_pem_len) != 0) {
            rc = sotto_cfail(err, SOTTO_C_STORE, "the stored CA certificate does not load");
            goto fail;
        }
    } else if (!t->has_pin) {
        SSL_CTX_set_default_verify_paths(c->ctx);
    }
    int has_ca = t->cacert != NULL || t->cacert_pem != NULL;
    /* With a pin alone the chain is not checked by OpenSSL: the pin is. */
    SSL_CTX_set_verify(c->ctx, has_ca || !t->has_pin ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    c->fd = tcp_connect(u, deadline, err);
    if (c->fd < 0) {
        rc = SOTTO_C_NETWORK;
        goto fail;
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "TLS set-up failed");
        goto fail;
    }
    struct in6_addr a6;
    int is_ip = inet_pton(AF_INET, u->host, &a6) == 1 || inet_pton(AF_INET6, u->host, &a6) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, u->host);
        SSL_set1_host(c->ssl, u->host);
    }
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = sotto_net_wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (w <= 0) {
                rc = sotto_cfail(err, SOTTO_C_NETWORK, "TLS handshake with %s timed out", u->host);
                goto fail;
            }
            continue;
        }
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK) {
            rc = sotto_cfail(err, SOTTO_C_UNTRUSTED, "server certificate not trusted: %s%s",
                             X509_verify_cert_error_string(vr),
                             has_ca ? "" : " (use --cacert FILE or --pin SHA256)");
        } else {
            ossl_reason(why, sizeof why);
            rc = sotto_cfail(err, SOTTO_C_NETWORK, "TLS handshake with %s failed: %s", u->host,
                             why[0] ? why : "connection closed");
        }
        goto fail;
    }
    X509 *peer = SSL_get1_peer_certificate(c->ssl);
    if (peer == NULL) {
        rc = sotto_cfail(err, SOTTO_C_UNTRUSTED, "server sent no certificate");
        goto fail;
    }
    uint8_t md[SOTTO_PIN_BYTES] = {0};
    cert_fingerprint(peer, c->fingerprint, md);
    X509_free(peer);
    if (t->has_pin && sodium_memcmp(md, t->pin, SOTTO_PIN_BYTES) != 0) {
        rc = sotto_cfail(err, SOTTO_C_UNTRUSTED,
                         "server certificate %s does not match the pinned fingerprint", c->fingerprint);
        goto fail;
    }
    if (!t->has_pin && SSL_get_verify_result(c->ssl) != X509_V_OK) {
        rc = sotto_cfail(err, SOTTO_C_UNTRUSTED, "server certificate not trusted");
        goto fail;
    }
    *out = c;
    return SOTTO_C_OK;
fail:
    sotto_conn_close(c);
    return rc;
}

void sotto_conn_close(sotto_conn *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    if (c->rb != NULL) {
        sodium_memzero(c->rb, c->rcap);
        free(c->rb);
    }
    free(c);
}

void sotto_conn_fingerprint(const sotto_conn *c, char out[2 * SOTTO_PIN_BYTES + 1])
{
    memcpy(out, c->fingerprint, sizeof c->fingerprint);
}

sotto_cstatus sotto_net_write_all(sotto_conn *c, const void *buf, size_t len, int64_t deadline, char *err)
{
    const uint8_t *p = buf;
    while (len > 0) {
        size_t n = 0;
        int r = SSL_write_ex(c->ssl, p, len, &n);
        if (r == 1) {
            p += n;
            len -= n;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (sotto_net_wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) <= 0)
                return sotto_cfail(err, SOTTO_C_NETWORK, "timed out writing to the server");
            continue;
        }
        ERR_clear_error();
        return sotto_cfail(err, SOTTO_C_NETWORK, "connection to the server lost");
    }
    return SOTTO_C_OK;
}

/* Reads more bytes into c->rb (at most up to max total). *eof on a clean close. */
static sotto_cstatus conn_fill(sotto_conn *c, size_t max, int64_t deadline, int *eof, char *err)
{
    *eof = 0;
    if (c->rlen >= max)
        return sotto_cfail(err, SOTTO_C_SERVER, "server response too large");
    if (c->rcap - c->rlen < READ_CHUNK) {
        size_t ncap = c->rcap ? c->rcap * 2 : 2 * READ_CHUNK;
        while (ncap - c->rlen < READ_CHUNK)
            ncap *= 2;
        uint8_t *nb = realloc(c->rb, ncap);
        if (nb == NULL)
            return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        c->rb = nb;
        c->rcap = ncap;
    }
    for (;;) {
        size_t n = 0;
        int r = SSL_read_ex(c->ssl, c->rb + c->rlen, c->rcap - c->rlen, &n);
        if (r == 1) {
            c->rlen += n;
            return SOTTO_C_OK;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = sotto_net_wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (w <= 0)
                return sotto_cfail(err, SOTTO_C_NETWORK, "timed out waiting for the server");
            continue;
        }
        ERR_clear_error();
        *eof = 1;
        return SOTTO_C_OK;
    }
}

void sotto_net_consume(sotto_conn *c, size_t n)
{
    memmove(c->rb, c->rb + n, c->rlen - n);
    c->rlen -= n;
}

/* ---------- HTTP ---------- */

void sotto_http_init(sotto_http *h, const sotto_url *u, const sotto_trust *t)
{
    memset(h, 0, sizeof *h);
    h->url = *u;
    h->trust = *t;
    h->timeout_ms = SOTTO_NET_TIMEOUT_MS;
}

sotto_cstatus sotto_http_set_basic(sotto_http *h, const char *user, const char *password, char *err)
{
    char plain[SOTTO_HTTP_AUTH_MAX];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, password);
    if (n < 0 || (size_t)n >= sizeof plain ||
        sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_ORIGINAL) + 6 > sizeof h->auth) {
        sodium_memzero(plain, sizeof plain);
        return sotto_cfail(err, SOTTO_C_USAGE, "credentials too long");
    }
    memcpy(h->auth, "Basic ", 6);
    sodium_bin2base64(h->auth + 6, sizeof h->auth - 6, (const unsigned char *)plain, (size_t)n,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(plain, sizeof plain);
    return SOTTO_C_OK;
}

void sotto_http_close(sotto_http *h)
{
    sotto_conn_close(h->conn);
    h->conn = NULL;
    sodium_memzero(h->auth, sizeof h->auth);
}

void sotto_http_resp_free(sotto_http_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

sotto_cstatus sotto_http_status(int status)
{
    if (status >= 200 && status < 300)
        return SOTTO_C_OK;
    if (status == 401 || status == 403)
        return SOTTO_C_AUTH;
    if (status == 404)
        return SOTTO_C_NOT_FOUND;
    if (status == 409)
        return SOTTO_C_CONFLICT;
    return SOTTO_C_SERVER;
}

/* Finds a header value (case-insensitive name) in head; copies up to cap-1. */
int sotto_net_header_value(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p != NULL && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t l = e ? (size_t)(e - v) : strlen(v);
            while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
                l--;
            if (l >= cap)
                l = cap - 1;
            memcpy(out, v, l);
            out[l] = '\0';
            return 1;
        }
        p = strstr(p, "\r\n");
    }
    return 0;
}

/* Reads a response head into head (NUL-terminated); *any = 1 once a byte arrived. */
sotto_cstatus sotto_net_read_head(sotto_conn *c, char **head, int64_t deadline, int *any, char *err)
{
    *head = NULL;
    for (;;) {
        if (c->rlen > 0)
            *any = 1;
        uint8_t *e = c->rlen >= 4 ? memmem(c->rb, c->rlen, "\r\n\r\n", 4) : NULL;
        if (e != NULL) {
            size_t hl = (size_t)(e - c->rb) + 4;
            char *h = malloc(hl + 1);
            if (h == NULL)
                return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
            memcpy(h, c->rb, hl);
            h[hl] = '\0';
            sotto_net_consume(c, hl);
            *head = h;
            return SOTTO_C_OK;
        }
        if (c->rlen >= SOTTO_HTTP_HEAD_MAX)
            return sotto_cfail(err, SOTTO_C_SERVER, "server response head too large");
        int eof;
        sotto_cstatus rc = conn_fill(c, SOTTO_HTTP_HEAD_MAX, deadline, &eof, err);
        if (rc != SOTTO_C_OK)
            return rc;
        if (eof)
            return sotto_cfail(err, SOTTO_C_NETWORK, "the server closed the connection");
    }
}

static sotto_cstatus read_exact(sotto_conn *c, size_t n, int64_t deadline, char *err)
{
    while (c->rlen < n) {
        int eof;
        sotto_cstatus rc = conn_fill(c, n + READ_CHUNK, deadline, &eof, err);
        if (rc != SOTTO_C_OK)
            return rc;
        if (eof)
            return sotto_cfail(err, SOTTO_C_NETWORK, "the server closed the connection mid-response");
    }
    return SOTTO_C_OK;
}

static sotto_cstatus append(sotto_http_resp *r, const uint8_t *p, size_t n, char *err)
{
    if (n > SOTTO_HTTP_BODY_MAX - r->body_len)
        return sotto_cfail(err, SOTTO_C_SERVER, "server response body too large");
    char *nb = realloc(r->body, r->body_len + n + 1);
    if (nb == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    memcpy(nb + r->body_len, p, n);
    r->body = nb;
    r->body_len += n;
    nb[r->body_len] = '\0';
    return SOTTO_C_OK;
}

static sotto_cstatus read_body(sotto_conn *c, const char *head, sotto_http_resp *r, int64_t deadline,
                               int *must_close, char *err)
{
    char v[64];
    sotto_cstatus rc;
    if ((rc = append(r, (const uint8_t *)"", 0, err)) != SOTTO_C_OK)
        return rc;
    if (sotto_net_header_value(head, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0)
        *must_close = 1;
    if (r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200))
        return SOTTO_C_OK;
    if (sotto_net_header_value(head, "Transfer-Encoding", v, sizeof v) && strcasecmp(v, "chunked") == 0) {
        for (;;) {
            uint8_t *e;
            while ((e = c->rlen ? memmem(c->rb, c->rlen, "\r\n", 2) : NULL) == NULL) {
                if (c->rlen > 64)
                    return sotto_cfail(err, SOTTO_C_SERVER, "bad chunk size line");
                if ((rc = read_exact(c, c->rlen + 1, deadline, err)) != SOTTO_C_OK)
                    return rc;
            }
            char *end;
            unsigned long n = strtoul((const char *)c->rb, &end, 16);
            if (end == (char *)c->rb || n > SOTTO_HTTP_BODY_MAX)
                return sotto_cfail(err, SOTTO_C_SERVER, "bad chunk size");
            sotto_net_consume(c, (size_t)(e - c->rb) + 2);
            if ((rc = read_exact(c, n + 2, deadline, err)) != SOTTO_C_OK)
                return rc;
            if (n == 0) { /* no trailers expected: "0\r\n\r\n" */
                sotto_net_consume(c, 2);
                return SOTTO_C_OK;
            }
            if ((rc = append(r, c->rb, n, err)) != SOTTO_C_OK)
                return rc;
            sotto_net_consume(c, n + 2);
        }
    }
    if (sotto_net_header_value(head, "Content-Length", v, sizeof v)) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n > SOTTO_HTTP_BODY_MAX)
            return sotto_cfail(err, SOTTO_C_SERVER, "bad Content-Length");
        if ((rc = read_exact(c, (size_t)n, deadline, err)) != SOTTO_C_OK)
            return rc;
        rc = append(r, c->rb, (size_t)n, err);
        sotto_net_consume(c, (size_t)n);
        return rc;
    }
    /* Neither: the body runs to the end of the connection. */
    *must_close = 1;
    for (;;) {
        int eof;
        if ((rc = conn_fill(c, SOTTO_HTTP_BODY_MAX, deadline, &eof, err)) != SOTTO_C_OK)
            return rc;
        if (eof)
            break;
    }
    rc = append(r, c->rb, c->rlen, err);
    c->rlen = 0;
    return rc;
}

sotto_cstatus sotto_net_parse_status(const char *head, int *status, char *err)
{
    if (strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ' || head[9] < '1' || head[9] > '5' ||
        head[10] < '0' || head[10] > '9' || head[11] < '0' || head[11] > '9')
        return sotto_cfail(err, SOTTO_C_SERVER, "not an HTTP response");
    *status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
    return SOTTO_C_OK;
}

void sotto_net_host_header(const sotto_url *u, char *out, size_t cap)
{
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(out, cap, "%s%s%s:%s", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
}

sotto_cstatus sotto_http_request(sotto_http *h, const char *method, const char *path,
                                 const char *body, size_t body_len, sotto_http_resp *resp,
                                 char *err)
{
    memset(resp, 0, sizeof *resp);
    if (strlen(path) > SOTTO_HTTP_PATH_MAX || path[0] != '/')
        return sotto_cfail(err, SOTTO_C_USAGE, "bad request path");
    char req[SOTTO_HTTP_PATH_MAX + SOTTO_URL_PREFIX_MAX + SOTTO_HTTP_AUTH_MAX + 512];
    char host[SOTTO_URL_HOST_MAX + SOTTO_URL_PORT_MAX + 4], len_hdr[64] = "";
    sotto_net_host_header(&h->url, host, sizeof host);
    if (body != NULL || strcmp(method, "GET") != 0)
        snprintf(len_hdr, sizeof len_hdr, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    int n = snprintf(req, sizeof req, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sotto/0.1\r\n%s%s%s%s\r\n",
                     method, h->url.prefix, path, host, h->auth[0] ? "Authorization: " : "", h->auth,
                     h->auth[0] ? "\r\n" : "", len_hdr);
    if (n < 0 || (size_t)n >= sizeof req)
        return sotto_cfail(err, SOTTO_C_USAGE, "request head too long");
    sotto_cstatus rc;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = h->conn != NULL;
        if (h->conn == NULL) {
            rc = sotto_conn_open(&h->conn, &h->url, &h->trust, h->timeout_ms, err);
            if (rc != SOTTO_C_OK)
                return rc;
        }
        int64_t deadline = sotto_net_deadline_in(h->timeout_ms);
        int any = 0;
        char *head = NULL;
        rc = sotto_net_write_all(h->conn, req, strlen(req), deadline, err);
        if (rc == SOTTO_C_OK && body_len > 0)
            rc = sotto_net_write_all(h->conn, body, body_len, deadline, err);
        if (rc == SOTTO_C_OK)
            rc = sotto_net_read_head(h->conn, &head, deadline, &any, err);
        if (rc != SOTTO_C_OK) {
            sotto_conn_close(h->conn);
            h->conn = NULL;
            if (reused && !any && rc == SOTTO_C_NETWORK)
                continue; /* a stale keep-alive connection: once more on a fresh one */
            sodium_memzero(req, sizeof req);
            return rc;
        }
        int must_close = 0;
        rc = sotto_net_parse_status(head, &resp->status, err);
        if (rc == SOTTO_C_OK)
            rc = read_body(h->conn, head, resp, deadline, &must_close, err);
        free(head);
        if (rc != SOTTO_C_OK || must_close) {
            sotto_conn_close(h->conn);
            h->conn = NULL;
        }
        if (rc != SOTTO_C_OK)
            sotto_http_resp_free(resp);
        sodium_memzero(req, sizeof req);
        return rc;
    }
    sodium_memzero(req, sizeof req);
    return sotto_cfail(err, SOTTO_C_NETWORK, "the server closed the connection");
}

