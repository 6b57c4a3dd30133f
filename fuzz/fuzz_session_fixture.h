/* A fixed session for the fuzz targets: Bob's identity, prekeys and saved
 * record from fuzz_session_fixture_data.h (written by the corpus generator,
 * tests/unit/test_session_corpus.c), so the seed messages in fuzz/corpus/
 * decrypt all the way through. */
#ifndef SOTTO_FUZZ_SESSION_FIXTURE_H
#define SOTTO_FUZZ_SESSION_FIXTURE_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"
#include "fuzz_session_fixture_data.h"

typedef struct fixture {
    int ready;
    sotto_identity *bob;
    sotto_prekey_secrets bob_keys;
    const uint8_t *bob_record;
    size_t bob_record_len;
} fixture;

static void fixture_init(fixture *fx)
{
    if (sotto_init() != SOTTO_OK || sotto_identity_from_keys(&fx->bob, FX_BOB_PRIV, FX_BOB_REG) != SOTTO_OK)
        abort();
    memset(&fx->bob_keys, 0, sizeof fx->bob_keys);
    fx->bob_keys.signed_pre_key_id = FX_SPK_ID;
    memcpy(fx->bob_keys.signed_pre_key_public, FX_SPK_PUB, sizeof FX_SPK_PUB);
    memcpy(fx->bob_keys.signed_pre_key_private, FX_SPK_PRIV, sizeof FX_SPK_PRIV);
    fx->bob_keys.has_pre_key = 1;
    fx->bob_keys.pre_key_id = FX_OPK_ID;
    memcpy(fx->bob_keys.pre_key_public, FX_OPK_PUB, sizeof FX_OPK_PUB);
    memcpy(fx->bob_keys.pre_key_private, FX_OPK_PRIV, sizeof FX_OPK_PRIV);
    fx->bob_keys.kyber_pre_key_id = FX_KYBER_ID;
    memcpy(fx->bob_keys.kyber_pre_key_secret, FX_KYBER_SEC, sizeof FX_KYBER_SEC);
    fx->bob_record = FX_BOB_RECORD;
    fx->bob_record_len = sizeof FX_BOB_RECORD;
    fx->ready = 1;
}
#endif
