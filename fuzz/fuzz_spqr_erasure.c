/* libFuzzer: the SPQR erasure decoder on chunks from outside. Input: u16
 * message length, then records of u16 chunk index || 32 bytes. Whatever the
 * chunks, decoding must not crash; the decoder's saved form must load back;
 * and once the message decodes, re-encoding it must give back, for every
 * polynomial, the values of the points it was rebuilt from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "protocol/spqr_erasure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sotto_spqr_ec_decoder d, d2;
    static sotto_spqr_ec_encoder e;
    static uint8_t saved[SOTTO_SPQR_EC_DEC_SAVE_MAX], out[SOTTO_SPQR_EC_MAX_BYTES];
    if (size < 2)
        return 0;
    size_t len = (size_t)data[0] << 8 | data[1];
    if (sotto_spqr_ec_decoder_init(&d, len) != SOTTO_OK)
        return 0;
    for (size_t at = 2; size - at >= 34; at += 34)
        sotto_spqr_ec_add_chunk(&d, (uint16_t)(data[at] << 8 | data[at + 1]), data + at + 2);
    size_t n = sotto_spqr_ec_decoder_save(&d, saved, sizeof saved);
    if (n == 0 || sotto_spqr_ec_decoder_load(&d2, saved, n) != SOTTO_OK ||
        memcmp(&d, &d2, sizeof d) != 0)
        abort();
    if (!sotto_spqr_ec_decoded(&d, out, sizeof out))
        return 0;
    if (sotto_spqr_ec_encoder_init(&e, out, len) != SOTTO_OK)
        abort();
    uint8_t c[SOTTO_SPQR_EC_CHUNK_BYTES];
    unsigned words = (unsigned)len / 2;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++) {
        unsigned need = words / SOTTO_SPQR_EC_POLYS + (p < words % SOTTO_SPQR_EC_POLYS);
        for (unsigned j = 0; j < need; j++) {
            sotto_spqr_ec_chunk_at(&e, d.x[p][j], c);
            if ((uint16_t)(c[2 * p] << 8 | c[2 * p + 1]) != d.y[p][j])
                abort();
        }
    }
    return 0;
}
