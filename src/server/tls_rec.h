/* sottod: the TLS 1.3 record layer (RFC 8446 section 5) after OpenSSL's handshake.
 *
 * OpenSSL does the whole handshake. When SSL_do_handshake() has returned 1
 * on the server, sotto_tls_rec_take() moves the application traffic secrets
 * (captured by the keylog callback that sotto_tls_rec_install() put on the
 * SSL_CTX) into a small plain struct, and the caller frees the SSL object:
 * ~220 bytes per connection instead of ~15 KiB. From then on records are
 * opened and sealed here (libsodium for ChaCha20-Poly1305 and, with AES-NI,
 * AES-256-GCM; otherwise OpenSSL EVP through per-thread contexts re-keyed
 * for each record). See docs/TLS.md. The load generator (bench/load) uses
 * the same calls on the client side, with the directions swapped (it reads
 * with the server's traffic secret): keep the API usable from both ends.
 *
 * Switching over, in order (server side, memory BIOs):
 *   1. SSL_do_handshake(ssl) == 1
 *   2. flush the wbio to the socket as usual (the server's last flight);
 *   3. sotto_tls_rec_take(&rec, ssl, &why) == SOTTO_OK;
 *   4. move every byte still in the rbio (BIO_ctrl_pending / BIO_read) to
 *      the front of the connection's ciphertext input: a client may send
 *      application data in the same TCP read as its Finished, and OpenSSL
 *      (no read-ahead) leaves those bytes in the rbio unread;
 *   5. SSL_free(ssl) (frees both BIOs);
 *   6. run sotto_tls_rec_open() over that input as if just read.
 * Never call SSL_read/SSL_write/SSL_shutdown on the SSL before take.
 *
 * Reading: call sotto_tls_rec_open() on the buffered ciphertext in a loop,
 * advancing by in.consumed, until it returns SOTTO_TLS_REC_NEED_MORE (keep
 * the rest, read more) or a terminal result (CLOSED, ERROR). On
 * SOTTO_TLS_REC_KEY_UPDATE with in.update_requested, call
 * sotto_tls_rec_seal_key_update(rec, false, ...) and send that record before
 * any further application data (sotto_tls_rec_seal refuses until then).
 * On SOTTO_TLS_REC_ERROR, send sotto_tls_rec_seal_alert(rec, in.alert, ...)
 * unless in.alert == SOTTO_TLS_ALERT_NONE, then close.
 *
 * Thread safety: one sotto_tls_rec is used by one thread at a time; any
 * number of threads may use different ones. */
#ifndef SOTTOD_TLS_REC_H
#define SOTTOD_TLS_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "sotto/err.h"

/* Wire limits (RFC 8446 5.1, 5.2). */
#define SOTTO_TLS_REC_HEADER      5u                 /* type, legacy version, length */
#define SOTTO_TLS_REC_MAX_PLAIN   16384u             /* 2^14 content bytes per record */
#define SOTTO_TLS_REC_MAX_CIPHER  (16384u + 256u)    /* 2^14 + 256: the header's length field */
#define SOTTO_TLS_REC_MAX_RECORD  (SOTTO_TLS_REC_HEADER + SOTTO_TLS_REC_MAX_CIPHER)
#define SOTTO_TLS_REC_TAG         16u                /* AEAD tag (all three suites) */
#define SOTTO_TLS_REC_OVERHEAD    (SOTTO_TLS_REC_HEADER + 1u + SOTTO_TLS_REC_TAG) /* per sealed record */
#define SOTTO_TLS_REC_MAX_SECRET  48u                /* SHA-384 */
#define SOTTO_TLS_REC_MAX_KEY     32u
#define SOTTO_TLS_REC_IV          12u

/* Exact number of bytes sotto_tls_rec_seal() writes for n plaintext bytes:
 * ceil(n / 2^14) records (one empty record when n == 0), each with
 * SOTTO_TLS_REC_OVERHEAD bytes added. */
#define SOTTO_TLS_REC_SEAL_RECORDS(n) \
    ((n) == 0 ? (size_t)1 : ((size_t)(n) + SOTTO_TLS_REC_MAX_PLAIN - 1) / SOTTO_TLS_REC_MAX_PLAIN)
#define SOTTO_TLS_REC_SEAL_BOUND(n) \
    ((size_t)(n) + SOTTO_TLS_REC_SEAL_RECORDS(n) * (size_t)SOTTO_TLS_REC_OVERHEAD)
/* Bytes of an alert record and of a KeyUpdate record. */
#define SOTTO_TLS_REC_ALERT_BYTES      (SOTTO_TLS_REC_OVERHEAD + 2u)
#define SOTTO_TLS_REC_KEY_UPDATE_BYTES (SOTTO_TLS_REC_OVERHEAD + 5u)

/* Records under one key before the sender must update it. AES-GCM's limit
 * is 2^24.5 full-size records (RFC 8446 5.5); we keep a margin. The caller
 * may check sotto_tls_rec_should_rekey() after sealing. */
#define SOTTO_TLS_REC_REKEY_AFTER  (1ull << 24)

/* Alert descriptions (RFC 8446 6). */
#define SOTTO_TLS_ALERT_CLOSE_NOTIFY       0u
#define SOTTO_TLS_ALERT_UNEXPECTED_MESSAGE 10u
#define SOTTO_TLS_ALERT_BAD_RECORD_MAC     20u
#define SOTTO_TLS_ALERT_RECORD_OVERFLOW    22u
#define SOTTO_TLS_ALERT_ILLEGAL_PARAMETER  47u
#define SOTTO_TLS_ALERT_DECODE_ERROR       50u
#define SOTTO_TLS_ALERT_PROTOCOL_VERSION   70u
#define SOTTO_TLS_ALERT_INTERNAL_ERROR     80u
#define SOTTO_TLS_ALERT_NONE               255u /* not a wire value: send nothing */

typedef enum sotto_tls_suite {
    SOTTO_TLS_AES_128_GCM_SHA256 = 0,       /* 0x1301 */
    SOTTO_TLS_AES_256_GCM_SHA384 = 1,       /* 0x1302 */
    SOTTO_TLS_CHACHA20_POLY1305_SHA256 = 2, /* 0x1303 */
    SOTTO_TLS_SUITE_COUNT_
} sotto_tls_suite;

/* One direction's traffic state. */
typedef struct sotto_tls_rec_dir {
    uint8_t secret[SOTTO_TLS_REC_MAX_SECRET]; /* application_traffic_secret_N */
    uint8_t key[SOTTO_TLS_REC_MAX_KEY];
    uint8_t iv[SOTTO_TLS_REC_IV];
    uint64_t seq;                             /* next record's sequence number */
} sotto_tls_rec_dir;

/* The whole per-connection state: plain data, no heap, embed it anywhere.
 * Fields are read-only for callers (tests and the fuzz target may set seq). */
typedef struct sotto_tls_rec {
    sotto_tls_rec_dir rd;    /* client -> server on the server */
    sotto_tls_rec_dir wr;    /* server -> client on the server */
    uint8_t suite;           /* sotto_tls_suite */
    uint8_t read_state;      /* SOTTO_TLS_REC_RD_OPEN / _CLOSED / _FAILED */
    uint8_t write_closed;    /* an alert was sealed: nothing more goes out */
    uint8_t key_update_due;  /* peer asked for our KeyUpdate; seal refuses data until sent */
} sotto_tls_rec;

#define SOTTO_TLS_REC_RD_OPEN   0u
#define SOTTO_TLS_REC_RD_CLOSED 1u
#define SOTTO_TLS_REC_RD_FAILED 2u

typedef enum sotto_tls_rec_result {
    SOTTO_TLS_REC_NEED_MORE = 0,  /* no whole record at buf yet; nothing consumed, nothing changed */
    SOTTO_TLS_REC_DATA = 1,       /* application data: in.data / in.data_len (may be 0 bytes) */
    SOTTO_TLS_REC_KEY_UPDATE = 2, /* the peer's KeyUpdate was applied; see in.update_requested */
    SOTTO_TLS_REC_CLOSED = 3,     /* close_notify: the peer sends nothing more */
    SOTTO_TLS_REC_ERROR = -1,     /* fatal: send in.alert (unless NONE), then close */
} sotto_tls_rec_result;

typedef struct sotto_tls_rec_in {
    uint8_t *data;          /* DATA: the plaintext, inside the caller's buffer */
    size_t data_len;
    size_t consumed;        /* DATA, KEY_UPDATE, CLOSED: bytes of buf this record used */
    size_t need;            /* NEED_MORE: total bytes the record needs, when the header is
                             * there (<= SOTTO_TLS_REC_MAX_RECORD), else SOTTO_TLS_REC_HEADER */
    bool update_requested;  /* KEY_UPDATE: answer with sotto_tls_rec_seal_key_update() */
    uint8_t alert;          /* ERROR: the alert to send, or SOTTO_TLS_ALERT_NONE */
    uint8_t peer_alert;     /* ERROR after the peer's own fatal alert: its description */
    const char *why;        /* ERROR: a static phrase for the log */
} sotto_tls_rec_in;

/* Puts the keylog callback on a server SSL_CTX (tls.c calls it). The callback
 * keeps the CLIENT/SERVER_TRAFFIC_SECRET_0 lines' secrets (decoded, never
 * the text) in a small struct hung on the SSL as ex_data, wiped and freed
 * with the SSL or by take. Nothing is written anywhere. 0 or -1. */
int sotto_tls_rec_install(SSL_CTX *ctx);
/* The TLS 1.3 suites in the server's order of preference (for
 * SSL_CTX_set_ciphersuites with SSL_OP_CIPHER_SERVER_PREFERENCE): first the
 * one this record layer seals and opens cheapest on this machine,
 * AES-256-GCM through libsodium where the CPU has AES-NI, ChaCha20-Poly1305
 * otherwise. NULL if the record layer cannot be set up. */
const char *sotto_tls_rec_suites(void);

/* After SSL_do_handshake() returned 1 on a server SSL from an installed
 * context: checks TLS 1.3, a supported suite, no ticket sent, nothing
 * buffered inside OpenSSL (SSL_pending, SSL_has_pending), and that both
 * secrets were captured for this handshake's client_random; then fills *rec
 * (sequence numbers 0) and wipes and drops the captured secrets. On failure
 * *rec is zeroed and *why says why (static). The SSL is not freed. */
sotto_err sotto_tls_rec_take(sotto_tls_rec *rec, SSL *ssl, const char **why);

/* Fills *rec from raw application traffic secrets (secret_len must be the
 * suite's hash length: 32, 48, 32). Sequence numbers 0. Used by take, the
 * known-answer tests and the fuzz target. */
sotto_err sotto_tls_rec_init(sotto_tls_rec *rec, sotto_tls_suite suite,
                             const uint8_t *read_secret, const uint8_t *write_secret,
                             size_t secret_len);

/* Opens the record at the start of buf[0..len), decrypting IN PLACE. *in is
 * zeroed on entry. A header that is not (23, 0x0303, length <= 2^14+256) is
 * an error at once, before the body arrives. On ERROR the record's bytes in
 * buf may have been overwritten (with zeros) and rec's read side is dead:
 * every later call returns ERROR with alert NONE. After CLOSED, later calls
 * return CLOSED with consumed 0. */
sotto_tls_rec_result sotto_tls_rec_open(sotto_tls_rec *rec, uint8_t *buf, size_t len,
                                        sotto_tls_rec_in *in);

/* Seals pt[0..pt_len) as application data records of at most 2^14 bytes
 * into out (must not overlap pt); *out_len is SOTTO_TLS_REC_SEAL_BOUND(pt_len)
 * on success. pt_len == 0 writes one empty record. Nothing is written and
 * nothing changes on error: BUFFER_TOO_SMALL, INVALID_STATE (an alert was
 * sent, the read side failed, a KeyUpdate is owed, or the sequence number
 * would wrap). */
sotto_err sotto_tls_rec_seal(sotto_tls_rec *rec, uint8_t *out, size_t out_cap, size_t *out_len,
                             const uint8_t *pt, size_t pt_len);

/* Seals a KeyUpdate(request_update) under the current write key, then moves
 * the write side to the next traffic secret (sequence 0) and clears
 * key_update_due. Use request_update = false to answer the peer's request;
 * true to ask the peer to update too (its KeyUpdate then arrives as
 * SOTTO_TLS_REC_KEY_UPDATE). Writes SOTTO_TLS_REC_KEY_UPDATE_BYTES. */
sotto_err sotto_tls_rec_seal_key_update(sotto_tls_rec *rec, bool request_update,
                                        uint8_t *out, size_t out_cap, size_t *out_len);

/* Seals an alert: close_notify at level warning, any other description at
 * level fatal. Afterwards nothing more can be sealed. Works after a read
 * error (that is its point). Writes SOTTO_TLS_REC_ALERT_BYTES. */
sotto_err sotto_tls_rec_seal_alert(sotto_tls_rec *rec, uint8_t description,
                                   uint8_t *out, size_t out_cap, size_t *out_len);

/* True once the write side has sealed `after` records (at most
 * SOTTO_TLS_REC_REKEY_AFTER, which is what 0 means) under its current key:
 * seal a KeyUpdate (request_update true) soon. */
bool sotto_tls_rec_should_rekey(const sotto_tls_rec *rec, uint64_t after);

/* Wipes every secret, key, IV and counter (sodium_memzero of the struct). */
void sotto_tls_rec_wipe(sotto_tls_rec *rec);

#endif
