/* Internal to sealed sender (sealed*.c). */
#ifndef SOTTO_PROTOCOL_SEALED_INTERNAL_H
#define SOTTO_PROTOCOL_SEALED_INTERNAL_H
#include "sotto/sealed.h"

#define SOTTO_SEALED_MAC_BYTES   10          /* truncated HMAC-SHA256 of v1 */
#define SOTTO_REVOKED_SERVER_KEY_ID 0xDEADC357u
#define SOTTO_SEALED_V2_THREADS_MAX     8   /* v2 sealing: recipients' key agreements in parallel */
#define SOTTO_SEALED_V2_PER_THREAD_MIN  6   /* below this, one thread (libsignal: 6 too) */

/* Parses a serialized server certificate: id, key, and where the signed part
 * and the signature are (pointers into buf). */
typedef struct sotto_server_cert_view {
    uint32_t id;
    uint8_t key[SOTTO_EC_PUBLIC_BYTES];
    const uint8_t *certificate; size_t certificate_len;
    const uint8_t *signature; size_t signature_len;
} sotto_server_cert_view;

#endif
