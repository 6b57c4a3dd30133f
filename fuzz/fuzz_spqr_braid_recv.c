/* libFuzzer: SPQR v1 braid payloads (the pq_ratchet field with every message
 * type) received by both parties of a braid mid-exchange. Input: payloads
 * separated by 0xFF 0xFE; odd-numbered ones go to A, even ones to B. Checks:
 * the parser and writer agree; a refused payload changes nothing (saved
 * bytes before and after are equal); nothing crashes or leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"
#include "protocol/spqr.h"
#include "protocol/spqr_braid.h"

#define FIXTURE_ROUNDS 20 /* B holds the header, A part of ct1, B part of t */

static const uint8_t AUTH[32] = { 7 };
static sotto_spqr_braid fa, fb;

static void fixture(void)
{
    uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX], key[32];
    size_t len;
    int has;
    if (sotto_init() != SOTTO_OK ||
        sotto_spqr_braid_init(&fa, AUTH, SOTTO_SPQR_BRAID_DIR_A2B) != SOTTO_OK ||
        sotto_spqr_braid_init(&fb, AUTH, SOTTO_SPQR_BRAID_DIR_B2A) != SOTTO_OK)
        abort();
    for (int i = 0; i < FIXTURE_ROUNDS; i++) {
        if (sotto_spqr_braid_send(&fa, msg, &len, key, &has) != SOTTO_OK ||
            sotto_spqr_braid_recv(&fb, msg, len, key, &has) != SOTTO_OK ||
            sotto_spqr_braid_send(&fb, msg, &len, key, &has) != SOTTO_OK ||
            sotto_spqr_braid_recv(&fa, msg, len, key, &has) != SOTTO_OK)
            abort();
    }
}

static void one(sotto_spqr_braid *s, const uint8_t *p, size_t n)
{
    sotto_spqr_braid_msg m, m2;
    uint8_t out[SOTTO_SPQR_BRAID_MSG_MAX], key[32];
    int has = 0;
    if (sotto_spqr_braid_msg_parse(&m, p, n) == SOTTO_OK) {
        size_t len = sotto_spqr_braid_msg_write(&m, out);
        if (len > SOTTO_SPQR_BRAID_MSG_MAX || sotto_spqr_braid_msg_parse(&m2, out, len) != SOTTO_OK ||
            memcmp(&m, &m2, sizeof m) != 0)
            abort();
    }
    uint8_t *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    if (sotto_spqr_braid_save(s, &before, &nb) != SOTTO_OK)
        abort();
    sotto_err e = sotto_spqr_braid_recv(s, p, n, key, &has);
    if (e != SOTTO_OK) {
        if (has || sotto_spqr_braid_save(s, &after, &na) != SOTTO_OK || na != nb ||
            memcmp(before, after, nb) != 0)
            abort(); /* a refused payload changed the state */
    }
    free(before);
    free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        fixture();
        ready = 1;
    }
    sotto_spqr_braid a, b;
    if (sotto_spqr_braid_copy(&a, &fa) != SOTTO_OK || sotto_spqr_braid_copy(&b, &fb) != SOTTO_OK)
        abort();
    size_t start = 0;
    unsigned k = 0;
    for (size_t i = 0; i <= size; i++) {
        int end = i == size || (i + 1 < size && data[i] == 0xFF && data[i + 1] == 0xFE);
        if (!end)
            continue;
        one(k++ % 2 ? &b : &a, data + start, i - start);
        start = i + 2;
        i++;
    }
    sotto_spqr_braid_wipe(&a);
    sotto_spqr_braid_wipe(&b);
    return 0;
}
