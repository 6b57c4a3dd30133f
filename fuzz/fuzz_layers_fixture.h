/* Shared by the message-layer fuzz targets (fuzz_skdm, fuzz_sender_key_message,
 * fuzz_sealed_v1, fuzz_sealed_v2, fuzz_sender_certificate): fixed keys, so the
 * seed corpora (fuzz/corpus/<target>/, made by the same keys) stay valid inputs.
 * Not secret: these keys exist only for fuzzing. */
#ifndef SOTTO_FUZZ_LAYERS_FIXTURE_H
#define SOTTO_FUZZ_LAYERS_FIXTURE_H
#include <stdlib.h>
#include <string.h>
#include "sotto/sotto.h"
#include "protocol/group_internal.h"

#define FX_NOW_MS     1700000000000ull
#define FX_EXPIRES_MS (FX_NOW_MS + 86400000ull)
#define FX_CHAIN_ID   0x1234567u

static const uint8_t FX_DIST[SOTTO_DISTRIBUTION_ID_BYTES] = {
    0xd1, 0x5c, 0x0e, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd };

static inline void fx_key(uint8_t out[32], uint8_t fill)
{
    memset(out, fill, 32);
    out[0] &= 248;
    out[31] = (uint8_t)((out[31] & 127) | 64);
}

/* A sender-key record whose chain is fixed (chain key 0x66.., signing key 0x55..). */
static inline sotto_sender_key_record *fx_sender_record(void)
{
    sotto_sender_key_record *rec = NULL;
    if (sotto_sender_key_record_new(&rec) != SOTTO_OK)
        abort();
    sotto_gk_state *st = &rec->states[0];
    st->chain_id = FX_CHAIN_ID;
    memset(st->chain_key, 0x66, sizeof st->chain_key);
    fx_key(st->signing_private, 0x55);
    if (sotto_ec_public_from_private(st->signing_public, st->signing_private) != SOTTO_OK)
        abort();
    st->has_private = 1;
    rec->n_states = 1;
    rec->has_id = 1;
    memcpy(rec->distribution_id, FX_DIST, sizeof FX_DIST);
    return rec;
}

typedef struct fx_pki {
    sotto_identity *recipient, *sender;
    uint8_t root_pub[33], root_priv[32], server_pub[33], server_priv[32];
    uint8_t server_cert[256]; size_t server_cert_len;
    uint8_t sender_cert[1024]; size_t sender_cert_len;
} fx_pki;

static inline void fx_pki_init(fx_pki *p)
{
    uint8_t k[32], ik[33];
    fx_key(k, 0x11);
    if (sotto_identity_from_keys(&p->recipient, k, 1) != SOTTO_OK)
        abort();
    fx_key(k, 0x22);
    if (sotto_identity_from_keys(&p->sender, k, 2) != SOTTO_OK)
        abort();
    fx_key(p->root_priv, 0x33);
    fx_key(p->server_priv, 0x44);
    sotto_identity_public_key(p->sender, ik);
    if (sotto_ec_public_from_private(p->root_pub, p->root_priv) != SOTTO_OK
        || sotto_ec_public_from_private(p->server_pub, p->server_priv) != SOTTO_OK
        || sotto_server_certificate_create(p->server_cert, sizeof p->server_cert, &p->server_cert_len, 7,
                                           p->server_pub, p->root_priv) != SOTTO_OK
        || sotto_sender_certificate_create(p->sender_cert, sizeof p->sender_cert, &p->sender_cert_len,
                                           "9d0652a3-dcc3-4d11-975f-74d61598733f", "+14155550100", 3, ik,
                                           FX_EXPIRES_MS, p->server_cert, p->server_cert_len,
                                           p->server_priv) != SOTTO_OK)
        abort();
}
#endif
