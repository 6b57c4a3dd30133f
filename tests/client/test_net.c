/* The client's TLS/HTTP layer against a small TLS server in a child process:
 * pin accepted and refused, CA file accepted, no trust refused, HTTP bodies
 * with Content-Length and chunked, keep-alive reuse, URL parsing. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "net.h"

static char certfile[] = "/tmp/sotto-test-net-cert-XXXXXX";
static char otherfile[] = "/tmp/sotto-test-net-other-XXXXXX";
static uint8_t cert_pin[32];
static int port;
static pid_t server_pid;

static X509 *make_cert(EVP_PKEY *pk)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, pk);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, pk, EVP_sha256());
    return x;
}

static void write_pem(char *tmpl, X509 *x)
{
    int fd = mkstemp(tmpl);
    FILE *f = fdopen(fd, "w");
    PEM_write_X509(f, x);
    fclose(f);
}

static void serve(SSL_CTX *ctx, int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            char buf[8192];
            size_t have = 0;
            for (;;) {
                int n = SSL_read(ssl, buf + have, (int)(sizeof buf - 1 - have));
                if (n <= 0)
                    break;
                have += (size_t)n;
                buf[have] = 0;
                char *e;
                while ((e = strstr(buf, "\r\n\r\n")) != NULL) {
                    size_t hl = (size_t)(e - buf) + 4;
                    const char *cl = strcasestr(buf, "Content-Length: ");
                    if (cl != NULL && cl < e) {
                        size_t bl = strtoul(cl + 16, NULL, 10);
                        if (have < hl + bl)
                            break; /* read the rest of the body first */
                        hl += bl;
                    }
                    const char *resp;
                    if (strncmp(buf, "GET /chunked", 12) == 0)
                        resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
                    else if (strncmp(buf, "GET /auth", 9) == 0 && strstr(buf, "Authorization: Basic dTpw\r\n"))
                        resp = "HTTP/1.1 204 No Content\r\n\r\n";
                    else if (strncmp(buf, "GET /auth", 9) == 0)
                        resp = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
                    else
                        resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
                    SSL_write(ssl, resp, (int)strlen(resp));
                    memmove(buf, buf + hl, have - hl + 1);
                    have -= hl;
                }
            }
        }
        SSL_free(ssl);
        close(fd);
    }
}

static int setup(void **state)
{
    (void)state;
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = make_cert(pk);
    EVP_PKEY *pk2 = EVP_EC_gen("P-256");
    X509 *x2 = make_cert(pk2);
    write_pem(certfile, x);
    write_pem(otherfile, x2);
    unsigned int n;
    X509_digest(x, EVP_sha256(), cert_pin, &n);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx, x);
    SSL_CTX_use_PrivateKey(ctx, pk);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0)
        return -1;
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    server_pid = fork();
    if (server_pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        serve(ctx, lfd);
        _exit(0);
    }
    close(lfd);
    SSL_CTX_free(ctx);
    X509_free(x);
    X509_free(x2);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(pk2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
    unlink(certfile);
    unlink(otherfile);
    return 0;
}

static void url_of(sotto_url *u)
{
    char s[64];
    snprintf(s, sizeof s, "https://127.0.0.1:%d", port);
    assert_int_equal(sotto_url_parse(u, s, NULL), SOTTO_C_OK);
}

static void test_pin(void **state)
{
    (void)state;
    sotto_url u;
    url_of(&u);
    sotto_trust t = {0};
    t.has_pin = 1;
    memcpy(t.pin, cert_pin, 32);
    char err[SOTTO_CERR_LEN];
    sotto_conn *c;
    assert_int_equal(sotto_conn_open(&c, &u, &t, 5000, err), SOTTO_C_OK);
    char fp[65], want[65];
    sotto_conn_fingerprint(c, fp);
    sodium_bin2hex(want, sizeof want, cert_pin, 32);
    assert_string_equal(fp, want);
    sotto_conn_close(c);
    t.pin[5] ^= 0x40;
    assert_int_equal(sotto_conn_open(&c, &u, &t, 5000, err), SOTTO_C_UNTRUSTED);
    assert_non_null(strstr(err, want)); /* says which certificate it saw */
    assert_null(c);
}

static void test_cacert(void **state)
{
    (void)state;
    sotto_url u;
    url_of(&u);
    sotto_trust t = {0};
    char err[SOTTO_CERR_LEN];
    sotto_conn *c;
    t.cacert = certfile;
    assert_int_equal(sotto_conn_open(&c, &u, &t, 5000, err), SOTTO_C_OK);
    sotto_conn_close(c);
    t.cacert = otherfile;
    assert_int_equal(sotto_conn_open(&c, &u, &t, 5000, err), SOTTO_C_UNTRUSTED);
    /* Nothing configured: the system store, which does not know this one. */
    t.cacert = NULL;
    assert_int_equal(sotto_conn_open(&c, &u, &t, 5000, err), SOTTO_C_UNTRUSTED);
    /* cacert and pin together: both must hold. */
    t.cacert = certfile;
    t.has_pin = 1;
    memset(t.pin, 0, 32);
    assert_int_equal(sotto_conn_open(&c, &u, &t, 5000, err), SOTTO_C_UNTRUSTED);
}

static void test_http(void **state)
{
    (void)state;
    sotto_url u;
    url_of(&u);
    sotto_trust t = {.cacert = certfile};
    sotto_http h;
    sotto_http_init(&h, &u, &t);
    sotto_http_resp r;
    char err[SOTTO_CERR_LEN];
    assert_int_equal(sotto_http_request(&h, "GET", "/x", NULL, 0, &r, err), SOTTO_C_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.body, "hello");
    sotto_http_resp_free(&r);
    /* Same connection, chunked body. */
    assert_int_equal(sotto_http_request(&h, "GET", "/chunked", NULL, 0, &r, err), SOTTO_C_OK);
    assert_string_equal(r.body, "abcdefg");
    sotto_http_resp_free(&r);
    assert_int_equal(sotto_http_request(&h, "POST", "/x", "{}", 2, &r, err), SOTTO_C_OK);
    assert_int_equal(r.status, 200);
    sotto_http_resp_free(&r);
    assert_int_equal(sotto_http_request(&h, "GET", "/auth", NULL, 0, &r, err), SOTTO_C_OK);
    assert_int_equal(sotto_http_status(r.status), SOTTO_C_AUTH);
    sotto_http_resp_free(&r);
    assert_int_equal(sotto_http_set_basic(&h, "u", "p", err), SOTTO_C_OK);
    assert_int_equal(sotto_http_request(&h, "GET", "/auth", NULL, 0, &r, err), SOTTO_C_OK);
    assert_int_equal(r.status, 204);
    sotto_http_resp_free(&r);
    sotto_http_close(&h);
}

static void test_url(void **state)
{
    (void)state;
    sotto_url u;
    assert_int_equal(sotto_url_parse(&u, "https://example.org", NULL), SOTTO_C_OK);
    assert_string_equal(u.host, "example.org");
    assert_string_equal(u.port, "443");
    assert_string_equal(u.prefix, "");
    assert_int_equal(sotto_url_parse(&u, "https://[::1]:8443/api/", NULL), SOTTO_C_OK);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "8443");
    assert_string_equal(u.prefix, "/api");
    assert_int_equal(sotto_url_parse(&u, "http://example.org", NULL), SOTTO_C_USAGE);
    assert_int_equal(sotto_url_parse(&u, "https://h:99999", NULL), SOTTO_C_USAGE);
    assert_int_equal(sotto_url_parse(&u, "https://:80", NULL), SOTTO_C_USAGE);
    assert_int_equal(sotto_url_parse(&u, "https://h/a?b", NULL), SOTTO_C_USAGE);
}

static void test_refused(void **state)
{
    (void)state;
    sotto_url u;
    assert_int_equal(sotto_url_parse(&u, "https://127.0.0.1:1", NULL), SOTTO_C_OK);
    sotto_trust t = {.cacert = certfile};
    sotto_conn *c;
    char err[SOTTO_CERR_LEN];
    assert_int_equal(sotto_conn_open(&c, &u, &t, 5000, err), SOTTO_C_NETWORK);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_pin),
        cmocka_unit_test(test_cacert),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
