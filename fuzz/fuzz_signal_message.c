/* libFuzzer: a SignalMessage from outside, decrypted by an established
 * session (parse, state selection, DH step, counters, SPQR, MAC). The record
 * is reloaded from the same bytes for every input, so runs are independent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"
#include "fuzz_session_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fixture fx;
    static uint8_t pt[SOTTO_MAX_PLAINTEXT_BYTES];
    if (!fx.ready)
        fixture_init(&fx);
    sotto_session *s = NULL;
    if (sotto_session_load(&s, fx.bob_record, fx.bob_record_len) != SOTTO_OK)
        abort();
    size_t n = 0;
    sotto_err e = sotto_session_decrypt(s, fx.bob, NULL, SOTTO_MSG_WHISPER, data, size, pt, sizeof pt, &n);
    if (e != SOTTO_OK && n != 0)
        abort();
    sotto_session_free(s);
    return 0;
}
