/* libFuzzer: a PreKeySignalMessage from outside: the id reader, then a full
 * decrypt with the prekeys it names (PQXDH as Bob, base key checks, Kyber
 * decapsulation, the inner message). */
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
    sotto_prekey_ids ids;
    if (sotto_prekey_message_ids(data, size, &ids) != SOTTO_OK)
        return 0;
    /* Answer with Bob's keys under whatever ids the message names. */
    sotto_prekey_secrets k = fx.bob_keys;
    k.signed_pre_key_id = ids.signed_pre_key_id;
    k.kyber_pre_key_id = ids.kyber_pre_key_id;
    k.has_pre_key = ids.has_pre_key;
    k.pre_key_id = ids.pre_key_id;
    sotto_session *s = NULL;
    if (sotto_session_new(&s) != SOTTO_OK)
        abort();
    size_t n = 0;
    (void)sotto_session_decrypt(s, fx.bob, &k, SOTTO_MSG_PREKEY, data, size, pt, sizeof pt, &n);
    sotto_session_free(s);
    return 0;
}
