/* libFuzzer: a sender certificate from outside (nested server certificate,
 * uuid string or bytes, signer by id, keys), parsed and validated against the
 * fixture's trust root at three times. */
#include <stdint.h>
#include <stdlib.h>
#include "fuzz_layers_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fx_pki p;
    if (p.recipient == NULL) {
        if (sotto_init() != SOTTO_OK)
            abort();
        fx_pki_init(&p);
    }
    sotto_sender_certificate c;
    sotto_cert_status st;
    const sotto_err parsed = sotto_sender_certificate_parse(data, size, &c);
    const uint64_t times[] = { 0, FX_NOW_MS, UINT64_MAX };
    for (int i = 0; i < 3; i++) {
        sotto_err e = sotto_sender_certificate_validate(data, size, p.root_pub, times[i], &st);
        if ((e == SOTTO_OK) != (parsed == SOTTO_OK))
            abort();
    }
    return 0;
}
