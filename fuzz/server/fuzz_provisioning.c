/* libFuzzer: the linked-device decoders of sottod on the same bytes
 * (POST /v1/devices and PUT /v1/provisioning bodies, mailbox addresses and
 * the long poll's query string). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "api_devices.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why;
    static sotto_api_link_device d;
    if (sotto_api_decode_link_device(data, size, &d, &why) == 0) {
        if (d.secret_len < SOTTO_STORE_SECRET_MIN_BYTES || d.secret_len > SOTTO_STORE_SECRET_MAX_BYTES ||
            d.registration_id < 1 || d.registration_id > SOTTO_STORE_MAX_REGISTRATION_ID)
            __builtin_trap();
        sodium_memzero(&d, sizeof d);
    }
    static uint8_t msg[SOTTOD_PROV_MAX_MESSAGE];
    size_t n;
    if (sotto_api_decode_prov_put(data, size, msg, &n, &why) == 0) {
        if (n == 0 || n > SOTTOD_PROV_MAX_MESSAGE)
            __builtin_trap();
    } else if (n != 0) {
        __builtin_trap();
    }
    sotto_slice s = {(const char *)data, size};
    uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES];
    if (sotto_api_parse_prov_address(addr, s) == 0 && size != SOTTOD_PROV_ADDRESS_CHARS)
        __builtin_trap();
    uint32_t w;
    if (sotto_api_parse_wait(s, &w) == 0 && w > SOTTOD_PROV_WAIT_MAX_S)
        __builtin_trap();
    return 0;
}
