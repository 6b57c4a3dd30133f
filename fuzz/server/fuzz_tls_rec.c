/* libFuzzer: bytes from a client fed to sotto_tls_rec_open with a fixed key
 * state, in whatever slices the input chooses.
 *
 * Input: suite byte, then commands  op(1) len(2, big-endian) bytes(len):
 *   op % 4 == 0  the bytes go to the stream as they are (garbage, headers)
 *   op % 4 == 1  the bytes are sealed here as one record's inner plaintext
 *                (content, type, padding as given) under the read side's
 *                current key and sequence number, so that authenticated
 *                records of every shape reach the parser, KeyUpdates included
 *   op % 4 == 2  the stream is offered to open in slices of (op / 4 + 1) bytes
 *   op % 4 == 3  the server seals: data of len bytes, a KeyUpdate, or an alert
 * After every command the whole stream is offered. open always gets an exact
 * heap copy of the bytes available, so any read past them is caught.
 * Invariants (abort on violation): spans inside the buffer, need > len and
 * bounded, a failed read side stays failed, sealed lengths match the bound. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tls_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_CAP (4u * SOTTO_TLS_REC_MAX_RECORD)
#define SEAL_MAX   (3u * SOTTO_TLS_REC_MAX_PLAIN)

typedef struct fz {
    sotto_tls_rec rec;
    uint8_t stream[STREAM_CAP];
    size_t len;
    int failed, closed;
} fz;

static void check(int ok)
{
    if (!ok)
        abort();
}

static const EVP_CIPHER *cipher_of(unsigned suite)
{
    switch (suite) {
    case SOTTO_TLS_AES_128_GCM_SHA256:
        return EVP_aes_128_gcm();
    case SOTTO_TLS_AES_256_GCM_SHA384:
        return EVP_aes_256_gcm();
    default:
        return EVP_chacha20_poly1305();
    }
}

/* The peer's sealer, independent of tls_rec.c: inner bytes as given. */
static void peer_seal(fz *f, const uint8_t *inner, size_t n)
{
    if (n == 0 || n + SOTTO_TLS_REC_TAG > SOTTO_TLS_REC_MAX_CIPHER ||
        f->len + SOTTO_TLS_REC_HEADER + n + SOTTO_TLS_REC_TAG > STREAM_CAP)
        return;
    const sotto_tls_rec_dir *d = &f->rec.rd;
    uint8_t *out = f->stream + f->len;
    size_t clen = n + SOTTO_TLS_REC_TAG;
    out[0] = 23;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(clen >> 8);
    out[4] = (uint8_t)clen;
    uint8_t nonce[SOTTO_TLS_REC_IV];
    memcpy(nonce, d->iv, sizeof nonce);
    for (int i = 0; i < 8; i++)
        nonce[SOTTO_TLS_REC_IV - 1 - (size_t)i] ^= (uint8_t)(d->seq >> (8 * i));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    check(c != NULL);
    check(EVP_EncryptInit_ex(c, cipher_of(f->rec.suite), NULL, d->key, nonce) == 1);
    check(EVP_EncryptUpdate(c, NULL, &l, out, 5) == 1);
    check(EVP_EncryptUpdate(c, out + 5, &l, inner, (int)n) == 1);
    check(EVP_EncryptFinal_ex(c, out + 5 + l, &l) == 1);
    check(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + n) == 1);
    EVP_CIPHER_CTX_free(c);
    f->len += SOTTO_TLS_REC_HEADER + clen;
}

/* Offers stream[0..avail) (avail <= len); drops what was consumed. */
static void offer(fz *f, size_t avail)
{
    uint8_t *b = malloc(avail ? avail : 1);
    check(b != NULL);
    memcpy(b, f->stream, avail);
    size_t off = 0;
    for (;;) {
        sotto_tls_rec_in in;
        sotto_tls_rec_result r = sotto_tls_rec_open(&f->rec, b + off, avail - off, &in);
        if (f->failed) {
            check(r == SOTTO_TLS_REC_ERROR && in.alert == SOTTO_TLS_ALERT_NONE);
            break;
        }
        if (f->closed) {
            check(r == SOTTO_TLS_REC_CLOSED && in.consumed == 0);
            break;
        }
        if (r == SOTTO_TLS_REC_NEED_MORE) {
            check(in.consumed == 0 && in.need > avail - off && in.need <= SOTTO_TLS_REC_MAX_RECORD);
            break;
        }
        if (r == SOTTO_TLS_REC_ERROR) {
            check(in.why != NULL);
            f->failed = 1;
            break;
        }
        check(in.consumed > SOTTO_TLS_REC_HEADER && in.consumed <= avail - off);
        if (r == SOTTO_TLS_REC_DATA) {
            check(in.data_len <= SOTTO_TLS_REC_MAX_PLAIN);
            check(in.data == b + off + SOTTO_TLS_REC_HEADER);
            check(in.data_len < in.consumed - SOTTO_TLS_REC_HEADER - SOTTO_TLS_REC_TAG);
        } else if (r == SOTTO_TLS_REC_KEY_UPDATE) {
            check(f->rec.rd.seq == 0);
            check(!in.update_requested || f->rec.key_update_due);
        } else {
            check(r == SOTTO_TLS_REC_CLOSED);
            f->closed = 1;
        }
        off += in.consumed;
    }
    free(b);
    memmove(f->stream, f->stream + off, f->len - off);
    f->len -= off;
}

static void server_seal(fz *f, uint8_t op, size_t n)
{
    static uint8_t pt[SEAL_MAX], out[SOTTO_TLS_REC_SEAL_BOUND(SEAL_MAX)];
    size_t len = 1;
    sotto_err e;
    switch ((op >> 2) % 3) {
    case 0:
        if (n > SEAL_MAX)
            n = SEAL_MAX;
        memset(pt, op, n);
        e = sotto_tls_rec_seal(&f->rec, out, sizeof out, &len, pt, n);
        check(e == SOTTO_OK ? len == SOTTO_TLS_REC_SEAL_BOUND(n) : len == 0);
        break;
    case 1:
        e = sotto_tls_rec_seal_key_update(&f->rec, (op & 0x80) != 0, out, sizeof out, &len);
        check(e == SOTTO_OK ? len == SOTTO_TLS_REC_KEY_UPDATE_BYTES && f->rec.wr.seq == 0 &&
                                  !f->rec.key_update_due
                            : len == 0);
        break;
    default:
        e = sotto_tls_rec_seal_alert(&f->rec, (uint8_t)n, out, sizeof out, &len);
        check(e == SOTTO_OK ? len == SOTTO_TLS_REC_ALERT_BYTES : len == 0);
        break;
    }
    check(!f->failed || e != SOTTO_OK || (op >> 2) % 3 == 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz f;
    static const uint8_t rs[48] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
                                   33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48};
    static const uint8_t ws[48] = {9};
    if (size < 1)
        return 0;
    unsigned suite = data[0] % SOTTO_TLS_SUITE_COUNT_;
    size_t slen = suite == SOTTO_TLS_AES_256_GCM_SHA384 ? 48 : 32;
    memset(&f, 0, sizeof f);
    check(sotto_tls_rec_init(&f.rec, (sotto_tls_suite)suite, rs, ws, slen) == SOTTO_OK);
    size_t i = 1;
    while (i + 3 <= size) {
        uint8_t op = data[i];
        size_t n = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        size_t avail = size - i;
        size_t take = n < avail ? n : avail;
        switch (op % 4) {
        case 0:
            if (f.len + take <= STREAM_CAP) {
                memcpy(f.stream + f.len, data + i, take);
                f.len += take;
            }
            i += take;
            break;
        case 1:
            peer_seal(&f, data + i, take);
            i += take;
            break;
        case 2: {
            size_t step = (size_t)(op >> 2) + 1;
            for (size_t a = step; a < f.len; a += step)
                offer(&f, a < f.len ? a : f.len);
            break;
        }
        default:
            server_seal(&f, op, n);
            break;
        }
        offer(&f, f.len);
    }
    sotto_tls_rec_wipe(&f.rec);
    return 0;
}
