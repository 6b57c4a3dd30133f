/* libFuzzer: a SenderKeyDistributionMessage from outside: its distribution id,
 * then processing into an empty record and into one that already holds the
 * fixture's chain; a record that accepted it must save and load again. */
#include <stdint.h>
#include <stdlib.h>
#include "fuzz_layers_fixture.h"

static void roundtrip(const sotto_sender_key_record *rec)
{
    uint8_t buf[4096];
    size_t n = 0;
    sotto_sender_key_record *back = NULL;
    if (sotto_sender_key_record_save(rec, buf, sizeof buf, &n) != SOTTO_OK
        || sotto_sender_key_record_load(&back, buf, n) != SOTTO_OK)
        abort();
    sotto_sender_key_record_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES];
    (void)sotto_group_distribution_message_id(data, size, id);
    sotto_sender_key_record *empty = NULL, *held = fx_sender_record();
    if (sotto_sender_key_record_new(&empty) != SOTTO_OK)
        abort();
    if (sotto_group_process_distribution(empty, data, size) == SOTTO_OK)
        roundtrip(empty);
    if (sotto_group_process_distribution(held, data, size) == SOTTO_OK)
        roundtrip(held);
    sotto_sender_key_record_free(empty);
    sotto_sender_key_record_free(held);
    return 0;
}
