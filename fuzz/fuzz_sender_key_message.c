/* libFuzzer: a SenderKeyMessage from outside, decrypted by a receiver that
 * processed the fixture's distribution message (parse, chain lookup,
 * signature, forward walk and stored keys, AES-CBC). A refused message must
 * leave the record's saved bytes unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_layers_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pristine[4096], after[4096], pt[SOTTO_GROUP_MAX_MESSAGE_BYTES];
    static size_t pristine_len;
    if (pristine_len == 0) {
        if (sotto_init() != SOTTO_OK)
            abort();
        sotto_sender_key_record *sender = fx_sender_record(), *rx = NULL;
        uint8_t skdm[SOTTO_GROUP_SKDM_MAX_BYTES];
        size_t n;
        if (sotto_group_create_distribution(sender, FX_DIST, skdm, sizeof skdm, &n) != SOTTO_OK
            || sotto_sender_key_record_new(&rx) != SOTTO_OK
            || sotto_group_process_distribution(rx, skdm, n) != SOTTO_OK
            || sotto_sender_key_record_save(rx, pristine, sizeof pristine, &pristine_len) != SOTTO_OK)
            abort();
        sotto_sender_key_record_free(sender);
        sotto_sender_key_record_free(rx);
    }
    sotto_sender_key_record *rx = NULL;
    if (sotto_sender_key_record_load(&rx, pristine, pristine_len) != SOTTO_OK)
        abort();
    uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES];
    (void)sotto_group_message_id(data, size, id);
    size_t n = 0, m = 0;
    sotto_err e = sotto_group_decrypt(rx, data, size, pt, sizeof pt, &n);
    if (e != SOTTO_OK) {
        if (n != 0 || sotto_sender_key_record_save(rx, after, sizeof after, &m) != SOTTO_OK
            || m != pristine_len || memcmp(after, pristine, m) != 0)
            abort();
    }
    sotto_sender_key_record_free(rx);
    return 0;
}
