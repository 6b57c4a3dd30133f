/* sottod: TLS context and the self-signed certificate (see tls.h). */
#define _GNU_SOURCE
#include "tls.h"
#include "tls_rec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void ossl_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, buf[0] ? buf : "failed");
    ERR_clear_error();
}

static void fingerprint_of(X509 *x, char out[SOTTOD_FINGERPRINT_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = 0;
    if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
        return;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = 0;
}

int sotto_tls_fingerprint_file(const char *cert_file, char fingerprint[SOTTOD_FINGERPRINT_HEX])
{
    fingerprint[0] = 0;
    FILE *f = fopen(cert_file, "r");
    if (f == NULL)
        return -1;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL)
        return -1;
    fingerprint_of(x, fingerprint);
    X509_free(x);
    return fingerprint[0] ? 0 : -1;
}

static int generate(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    int rc = -1, fd = -1;
    FILE *f = NULL;
    X509 *x = NULL;
    X509_EXTENSION *ext = NULL;
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    if (pk == NULL) {
        ossl_err(err, errlen, "key generation");
        goto out;
    }
    x = X509_new();
    if (x == NULL || X509_set_version(x, 2) != 1) {
        ossl_err(err, errlen, "X509_new");
        goto out;
    }
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) {
        ossl_err(err, errlen, "RAND_bytes");
        goto out;
    }
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
        BN_free(bn);
        ossl_err(err, errlen, "serial");
        goto out;
    }
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)SOTTOD_CERT_DAYS * 86400L);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sottod", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, pk);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                              "DNS:localhost,IP:127.0.0.1,IP:::1");
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
        ossl_err(err, errlen, "subjectAltName");
        goto out;
    }
    if (X509_sign(x, pk, EVP_sha256()) == 0) {
        ossl_err(err, errlen, "X509_sign");
        goto out;
    }
    /* The key first, exclusively and private; then the certificate. */
    fd = open(key_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", key_file, strerror(errno));
        goto out;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", key_file, strerror(errno));
        goto out;
    }
    fd = -1;
    if (PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        ossl_err(err, errlen, "writing the key");
        goto out;
    }
    fclose(f);
    f = NULL;
    int cfd = open(cert_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (cfd < 0) {
        snprintf(err, errlen, "%s: %s", cert_file, strerror(errno));
        goto out;
    }
    f = fdopen(cfd, "w");
    if (f == NULL) {
        close(cfd);
        snprintf(err, errlen, "%s: %s", cert_file, strerror(errno));
        goto out;
    }
    if (PEM_write_X509(f, x) != 1 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        ossl_err(err, errlen, "writing the certificate");
        goto out;
    }
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    if (fd >= 0)
        close(fd);
    X509_EXTENSION_free(ext);
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

SSL_CTX *sotto_tls_server_ctx(const char *cert_file, const char *key_file,
                              char fingerprint[SOTTOD_FINGERPRINT_HEX], int *generated,
                              char *err, size_t errlen)
{
    struct stat st;
    *generated = 0;
    fingerprint[0] = 0;
    int have_cert = stat(cert_file, &st) == 0;
    int have_key = stat(key_file, &st) == 0;
    if (!have_cert && !have_key) {
        if (generate(cert_file, key_file, err, errlen) != 0)
            return NULL;
        *generated = 1;
    } else if (!have_cert || !have_key) {
        snprintf(err, errlen, "%s without %s: restore it or remove both to generate a new pair",
                 have_cert ? cert_file : key_file, have_cert ? key_file : cert_file);
        return NULL;
    } else if ((st.st_mode & 077) != 0) {
        snprintf(err, errlen, "%s is readable by others: chmod 600 it", key_file);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ossl_err(err, errlen, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    /* Small idle footprint: free the record buffers between reads/writes. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Our order: the suite our record layer runs cheapest (tls_rec.c). */
    const char *suites = sotto_tls_rec_suites();
    if (suites == NULL || SSL_CTX_set_ciphersuites(ctx, suites) != 1) {
        ossl_err(err, errlen, "setting the TLS 1.3 cipher suites");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ossl_err(err, errlen, "loading the certificate and key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Keeps the application traffic secrets for sotto_tls_rec_take (in
     * memory only; nothing is ever written out). */
    if (sotto_tls_rec_install(ctx) != 0) {
        ossl_err(err, errlen, "installing the record-layer key capture");
        SSL_CTX_free(ctx);
        return NULL;
    }
    fingerprint_of(SSL_CTX_get0_certificate(ctx), fingerprint);
    return ctx;
}
