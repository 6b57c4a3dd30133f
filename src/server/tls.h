/* sottod: TLS 1.3 only, over memory BIOs (libuv does the socket I/O). */
#ifndef SOTTOD_TLS_H
#define SOTTOD_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#define SOTTOD_FINGERPRINT_HEX 65  /* SHA-256 of the DER certificate, lower-case hex + NUL */
#define SOTTOD_CERT_DAYS       3650

/* Loads cert_file/key_file, or when neither exists creates a self-signed
 * P-256 certificate (CN=sottod, SAN localhost, 127.0.0.1, ::1) with its key
 * written O_EXCL at mode 0600. *generated tells which. Fills the certificate
 * fingerprint. Returns NULL with err filled on failure. */
SSL_CTX *sotto_tls_server_ctx(const char *cert_file, const char *key_file,
                              char fingerprint[SOTTOD_FINGERPRINT_HEX], int *generated,
                              char *err, size_t errlen);

/* The SHA-256 fingerprint (hex) of a PEM certificate file. 0 or -1. */
int sotto_tls_fingerprint_file(const char *cert_file, char fingerprint[SOTTOD_FINGERPRINT_HEX]);

#endif
