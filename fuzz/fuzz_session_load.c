/* libFuzzer: saved session records from outside. Anything that loads must
 * save, load again and save to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sotto_session *s = NULL, *t = NULL;
    sotto_err e = sotto_session_load(&s, data, size);
    if (e != SOTTO_OK) {
        if (e != SOTTO_ERR_INVALID_STATE && e != SOTTO_ERR_NO_MEMORY)
            abort();
        return 0;
    }
    size_t n1 = 0, n2 = 0;
    if (sotto_session_save(s, NULL, 0, &n1) != SOTTO_OK)
        abort();
    uint8_t *b1 = malloc(n1), *b2 = malloc(n1);
    if (b1 == NULL || b2 == NULL || sotto_session_save(s, b1, n1, &n1) != SOTTO_OK)
        abort();
    if (sotto_session_load(&t, b1, n1) != SOTTO_OK || sotto_session_save(t, b2, n1, &n2) != SOTTO_OK ||
        n1 != n2 || memcmp(b1, b2, n1) != 0)
        abort();
    /* Encrypting with whatever loaded must not crash either. */
    uint8_t out[SOTTO_CIPHERTEXT_OVERHEAD + 64];
    size_t on = 0;
    int type = 0;
    (void)sotto_session_encrypt(t, NULL, (const uint8_t *)"x", 1, out, sizeof out, &on, &type);
    free(b1);
    free(b2);
    sotto_session_free(s);
    sotto_session_free(t);
    return 0;
}
