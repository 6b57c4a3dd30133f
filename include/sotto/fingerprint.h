/* sotto: safety numbers, as libsignal 0.103 computes them (fingerprint.rs).
 *
 * Each side hashes SHA-512(0x0000 || key || id || key), then SHA-512(prev || key)
 * until `iterations` hashes were taken. The displayable form is 60 digits (the
 * two 30-digit halves sorted); the scannable form is a protobuf
 * CombinedFingerprints{version, local[0..32], remote[0..32]}, to be shown as a
 * QR code and compared on the other device. */
#ifndef SOTTO_FINGERPRINT_H
#define SOTTO_FINGERPRINT_H
#include <stddef.h>
#include <stdint.h>
#include "sotto/err.h"
#include "sotto/keys.h"

#define SOTTO_FINGERPRINT_VERSION         2      /* scannable version libsignal uses now */
#define SOTTO_FINGERPRINT_ITERATIONS      5200   /* hashes per side */
#define SOTTO_FINGERPRINT_ITERATIONS_MIN  2      /* libsignal refuses 0 and 1 */
#define SOTTO_FINGERPRINT_ITERATIONS_MAX  1000000
#define SOTTO_FINGERPRINT_ID_MAX_BYTES    4096   /* a stable identifier (e.g. ServiceId bytes) */
#define SOTTO_FINGERPRINT_DIGITS          60
#define SOTTO_FINGERPRINT_SCANNABLE_MAX   80     /* 2 x (4 + 32) + a version varint */

typedef struct sotto_fingerprint {
    char displayable[SOTTO_FINGERPRINT_DIGITS + 1];       /* NUL-terminated digits */
    uint8_t scannable[SOTTO_FINGERPRINT_SCANNABLE_MAX];
    size_t scannable_len;
} sotto_fingerprint;

/* Both sides' fingerprints for (local id, local key) and (remote id, remote
 * key); keys are 0x05 || u. iterations in [MIN, MAX] (else INVALID_ARGUMENT).
 * *out is zeroed on entry. */
SOTTO_API sotto_err sotto_fingerprint_create(sotto_fingerprint *out, uint32_t version,
                                             uint32_t iterations,
                                             const uint8_t *local_id, size_t local_id_len,
                                             const uint8_t local_key[SOTTO_EC_PUBLIC_BYTES],
                                             const uint8_t *remote_id, size_t remote_id_len,
                                             const uint8_t remote_key[SOTTO_EC_PUBLIC_BYTES]);

typedef enum sotto_fingerprint_match {
    SOTTO_FINGERPRINT_MISMATCH = 0,
    SOTTO_FINGERPRINT_MATCH = 1,
    SOTTO_FINGERPRINT_VERSION_MISMATCH = 2,   /* theirs was made with another version */
} sotto_fingerprint_match;

/* Compares our fingerprint with the scannable bytes the other device shows:
 * MATCH when their local half is our remote half and the other way round (in
 * constant time). SOTTO_ERR_MALFORMED when theirs does not parse or lacks a
 * half; *result is then MISMATCH. A missing version counts as 0, as in
 * libsignal. */
SOTTO_API sotto_err sotto_fingerprint_compare(const sotto_fingerprint *ours,
                                              const uint8_t *theirs, size_t theirs_len,
                                              sotto_fingerprint_match *result);

#endif
