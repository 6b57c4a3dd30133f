/* Internal: SPQR v1's erasure code (signalapp/SparsePostQuantumRatchet
 * src/encoding/polynomial.rs, gf.rs). A message of L bytes (L even) is read
 * as L/2 big-endian 16-bit words over GF(2^16) (x^16 + x^12 + x^3 + x + 1,
 * 0x1100b); word i is the value at x = i / 16 of polynomial i % 16, so each
 * of the 16 polynomials has degree < ceil or floor(L / 32). Chunk number c
 * (32 bytes) holds the 16 polynomials evaluated at x = c, big-endian: the
 * first L / 32 chunks are the message itself, every later one is redundancy,
 * and any L / 32 distinct chunks rebuild the message.
 *
 * Everything sent through this code is public (KEM headers, encapsulation
 * keys, ciphertexts, MACs), so the arithmetic needs no constant-time care:
 * it multiplies through log / antilog tables. */
#ifndef SOTTO_PROTOCOL_SPQR_ERASURE_H
#define SOTTO_PROTOCOL_SPQR_ERASURE_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"

#define SOTTO_SPQR_EC_CHUNK_BYTES 32
#define SOTTO_SPQR_EC_POLYS       16     /* chunk bytes / 2 */
#define SOTTO_SPQR_EC_MAX_BYTES   1152   /* the largest SPQR message: t of ML-KEM-768 */
#define SOTTO_SPQR_EC_MAX_POINTS  (SOTTO_SPQR_EC_MAX_BYTES / 2 / SOTTO_SPQR_EC_POLYS) /* 36 */
/* The decoder keeps at most the needed points plus the systematic ones. */
#define SOTTO_SPQR_EC_MAX_HELD    (2 * SOTTO_SPQR_EC_MAX_POINTS)
/* Saved forms (sotto_spqr_ec_*_save): upper bounds. */
#define SOTTO_SPQR_EC_ENC_SAVE_MAX (2 + 4 + SOTTO_SPQR_EC_MAX_BYTES)
#define SOTTO_SPQR_EC_DEC_SAVE_MAX (2 + SOTTO_SPQR_EC_POLYS * (1 + 4 * SOTTO_SPQR_EC_MAX_HELD))

/* GF(2^16), exposed for tests. */
uint16_t sotto_gf16_mul(uint16_t a, uint16_t b);
uint16_t sotto_gf16_inv(uint16_t a);            /* 0 for 0 */

typedef struct sotto_spqr_ec_encoder {
    uint16_t len;                 /* message bytes */
    uint32_t next;                /* next chunk number (wraps; sent as u16) */
    uint16_t words[SOTTO_SPQR_EC_MAX_BYTES / 2];
    uint8_t have_coef;            /* coef computed from words (a cache) */
    uint16_t coef[SOTTO_SPQR_EC_POLYS][SOTTO_SPQR_EC_MAX_POINTS];
} sotto_spqr_ec_encoder;

typedef struct sotto_spqr_ec_decoder {
    uint16_t len;                 /* expected message bytes */
    uint8_t n[SOTTO_SPQR_EC_POLYS];
    uint16_t x[SOTTO_SPQR_EC_POLYS][SOTTO_SPQR_EC_MAX_HELD]; /* ascending */
    uint16_t y[SOTTO_SPQR_EC_POLYS][SOTTO_SPQR_EC_MAX_HELD];
} sotto_spqr_ec_decoder;

/* len even, 2 <= len <= SOTTO_SPQR_EC_MAX_BYTES, else INVALID_ARGUMENT. */
sotto_err sotto_spqr_ec_encoder_init(sotto_spqr_ec_encoder *e, const uint8_t *msg, size_t len);
/* Chunk number idx, whatever has been sent. */
void sotto_spqr_ec_chunk_at(sotto_spqr_ec_encoder *e, uint16_t idx,
                            uint8_t out[SOTTO_SPQR_EC_CHUNK_BYTES]);
/* The same without changing e: 0 (out untouched) when chunk idx needs the
 * interpolation that sotto_spqr_ec_chunk_at would compute and cache. */
int sotto_spqr_ec_chunk_peek(const sotto_spqr_ec_encoder *e, uint16_t idx,
                             uint8_t out[SOTTO_SPQR_EC_CHUNK_BYTES]);
/* The next chunk in order (0, 1, 2, ...); returns its number. */
uint16_t sotto_spqr_ec_next_chunk(sotto_spqr_ec_encoder *e, uint8_t out[SOTTO_SPQR_EC_CHUNK_BYTES]);

sotto_err sotto_spqr_ec_decoder_init(sotto_spqr_ec_decoder *d, size_t len);
/* Adds what chunk idx tells; repeats and chunks past need are dropped as the
 * reference drops them. */
void sotto_spqr_ec_add_chunk(sotto_spqr_ec_decoder *d, uint16_t idx,
                             const uint8_t data[SOTTO_SPQR_EC_CHUNK_BYTES]);
/* 1 and the message in out (d->len bytes) once enough chunks arrived, 0 before. */
int sotto_spqr_ec_decoded(const sotto_spqr_ec_decoder *d, uint8_t *out, size_t out_cap);

/* Versionless byte forms for the saved session; load checks every bound. */
size_t sotto_spqr_ec_encoder_save(const sotto_spqr_ec_encoder *e, uint8_t *out, size_t cap);
sotto_err sotto_spqr_ec_encoder_load(sotto_spqr_ec_encoder *e, const uint8_t *p, size_t n);
size_t sotto_spqr_ec_decoder_save(const sotto_spqr_ec_decoder *d, uint8_t *out, size_t cap);
sotto_err sotto_spqr_ec_decoder_load(sotto_spqr_ec_decoder *d, const uint8_t *p, size_t n);
#endif
