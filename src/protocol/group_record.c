/* Sender-key records: allocation, wiping, versioned save and load. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "protocol/group_internal.h"
#include "protocol/layers.h"
#include "layers.pb-c.h"

void sotto_gk_state_wipe(sotto_gk_state *st)
{
    if (st->keys) {
        sodium_memzero(st->keys, st->cap_keys * sizeof *st->keys);
        free(st->keys);
    }
    sodium_memzero(st, sizeof *st);
}

sotto_err sotto_sender_key_record_new(sotto_sender_key_record **out)
{
    if (out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out = calloc(1, sizeof **out);
    return *out ? SOTTO_OK : SOTTO_ERR_NO_MEMORY;
}

void sotto_sender_key_record_free(sotto_sender_key_record *rec)
{
    if (rec == NULL)
        return;
    for (uint32_t i = 0; i < rec->n_states; i++)
        sotto_gk_state_wipe(&rec->states[i]);
    sodium_memzero(rec, sizeof *rec);
    free(rec);
}

sotto_err sotto_sender_key_record_save(const sotto_sender_key_record *rec,
                                       uint8_t *buf, size_t cap, size_t *len)
{
    if (len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *len = 0;
    if (rec == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    Sotto__Layers__SenderKeyState pst[SOTTO_GROUP_MAX_STATES];
    Sotto__Layers__SenderKeyState *pptr[SOTTO_GROUP_MAX_STATES];
    uint8_t *skipped[SOTTO_GROUP_MAX_STATES] = { 0 };
    size_t skipped_len[SOTTO_GROUP_MAX_STATES] = { 0 };
    sotto_err e = SOTTO_OK;
    Sotto__Layers__SenderKeyRecord pr = SOTTO__LAYERS__SENDER_KEY_RECORD__INIT;
    for (uint32_t i = 0; i < rec->n_states; i++) {
        const sotto_gk_state *st = &rec->states[i];
        Sotto__Layers__SenderKeyState *p = &pst[i];
        sotto__layers__sender_key_state__init(p);
        p->chain_id = st->chain_id;
        p->iteration = st->iteration;
        p->chain_key.data = (uint8_t *)st->chain_key;
        p->chain_key.len = SOTTO_GROUP_KEY_BYTES;
        p->signing_key.data = (uint8_t *)st->signing_public;
        p->signing_key.len = SOTTO_EC_PUBLIC_BYTES;
        if (st->has_private) {
            p->has_signing_private = 1;
            p->signing_private.data = (uint8_t *)st->signing_private;
            p->signing_private.len = SOTTO_EC_PRIVATE_BYTES;
        }
        if (st->n_keys) {
            skipped_len[i] = (size_t)st->n_keys * SOTTO_GROUP_SKIPPED_BYTES;
            if ((skipped[i] = malloc(skipped_len[i])) == NULL) {
                e = SOTTO_ERR_NO_MEMORY;
                goto out;
            }
            for (uint32_t k = 0; k < st->n_keys; k++) {
                uint8_t *q = skipped[i] + (size_t)k * SOTTO_GROUP_SKIPPED_BYTES;
                layers_be32(q, st->keys[k].iteration);
                memcpy(q + 4, st->keys[k].seed, SOTTO_GROUP_KEY_BYTES);
            }
            p->has_skipped = 1;
            p->skipped.data = skipped[i];
            p->skipped.len = skipped_len[i];
        }
        pptr[i] = p;
    }
    pr.n_states = rec->n_states;
    pr.states = pptr;
    if (rec->has_id) {
        pr.has_distribution_uuid = 1;
        pr.distribution_uuid.data = (uint8_t *)rec->distribution_id;
        pr.distribution_uuid.len = SOTTO_DISTRIBUTION_ID_BYTES;
    }
    const size_t need = 1 + sotto__layers__sender_key_record__get_packed_size(&pr);
    if (buf == NULL) {
        *len = need;
        goto out;
    }
    if (cap < need) {
        e = SOTTO_ERR_BUFFER_TOO_SMALL;
        goto out;
    }
    buf[0] = SOTTO_GROUP_RECORD_FORMAT;
    sotto__layers__sender_key_record__pack(&pr, buf + 1);
    *len = need;
out:
    for (uint32_t i = 0; i < SOTTO_GROUP_MAX_STATES; i++)
        if (skipped[i]) {
            sodium_memzero(skipped[i], skipped_len[i]);
            free(skipped[i]);
        }
    return e;
}

static sotto_err load_state(sotto_gk_state *st, const Sotto__Layers__SenderKeyState *p)
{
    if (p->chain_key.len != SOTTO_GROUP_KEY_BYTES || p->signing_key.len != SOTTO_EC_PUBLIC_BYTES
        || p->signing_key.data[0] != SOTTO_KEY_TYPE_DJB
        || (p->has_signing_private && p->signing_private.len != SOTTO_EC_PRIVATE_BYTES)
        || (p->has_skipped && p->skipped.len % SOTTO_GROUP_SKIPPED_BYTES != 0)
        || (p->has_skipped && p->skipped.len / SOTTO_GROUP_SKIPPED_BYTES > SOTTO_GROUP_MAX_MESSAGE_KEYS))
        return SOTTO_ERR_INVALID_STATE;
    st->chain_id = p->chain_id;
    st->iteration = p->iteration;
    memcpy(st->chain_key, p->chain_key.data, SOTTO_GROUP_KEY_BYTES);
    memcpy(st->signing_public, p->signing_key.data, SOTTO_EC_PUBLIC_BYTES);
    if (p->has_signing_private) {
        st->has_private = 1;
        memcpy(st->signing_private, p->signing_private.data, SOTTO_EC_PRIVATE_BYTES);
    }
    const uint32_t n = p->has_skipped ? (uint32_t)(p->skipped.len / SOTTO_GROUP_SKIPPED_BYTES) : 0;
    if (n == 0)
        return SOTTO_OK;
    if ((st->keys = calloc(n, sizeof *st->keys)) == NULL)
        return SOTTO_ERR_NO_MEMORY;
    st->cap_keys = n;
    for (uint32_t k = 0; k < n; k++) {
        const uint8_t *q = p->skipped.data + (size_t)k * SOTTO_GROUP_SKIPPED_BYTES;
        st->keys[k].iteration = layers_load_be32(q);
        memcpy(st->keys[k].seed, q + 4, SOTTO_GROUP_KEY_BYTES);
        /* strictly ascending and behind the chain, as decrypt keeps them */
        if ((k > 0 && st->keys[k].iteration <= st->keys[k - 1].iteration)
            || st->keys[k].iteration >= st->iteration)
            return SOTTO_ERR_INVALID_STATE;
        st->n_keys = k + 1;
    }
    return SOTTO_OK;
}

sotto_err sotto_sender_key_record_load(sotto_sender_key_record **out, const uint8_t *buf, size_t len)
{
    if (out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (buf == NULL || len < 1 || len > SOTTO_GROUP_RECORD_MAX_BYTES)
        return SOTTO_ERR_INVALID_STATE;
    if (buf[0] != SOTTO_GROUP_RECORD_FORMAT)
        return SOTTO_ERR_UNSUPPORTED_VERSION;
    Sotto__Layers__SenderKeyRecord *pr = sotto__layers__sender_key_record__unpack(NULL, len - 1, buf + 1);
    if (pr == NULL)
        return SOTTO_ERR_INVALID_STATE;
    sotto_sender_key_record *rec = NULL;
    sotto_err e = SOTTO_ERR_INVALID_STATE;
    if (pr->n_states > SOTTO_GROUP_MAX_STATES
        || (pr->has_distribution_uuid && pr->distribution_uuid.len != SOTTO_DISTRIBUTION_ID_BYTES))
        goto out;
    if ((e = sotto_sender_key_record_new(&rec)) != SOTTO_OK)
        goto out;
    for (size_t i = 0; i < pr->n_states; i++) {
        rec->n_states = (uint32_t)i + 1;
        if ((e = load_state(&rec->states[i], pr->states[i])) != SOTTO_OK)
            goto out;
    }
    if (pr->has_distribution_uuid) {
        rec->has_id = 1;
        memcpy(rec->distribution_id, pr->distribution_uuid.data, SOTTO_DISTRIBUTION_ID_BYTES);
    }
    e = SOTTO_OK;
out:
    /* protobuf-c's default allocator: wipe the secrets it held before freeing */
    for (size_t i = 0; i < pr->n_states; i++) {
        Sotto__Layers__SenderKeyState *p = pr->states[i];
        if (p->chain_key.data)
            sodium_memzero(p->chain_key.data, p->chain_key.len);
        if (p->has_signing_private && p->signing_private.data)
            sodium_memzero(p->signing_private.data, p->signing_private.len);
        if (p->has_skipped && p->skipped.data)
            sodium_memzero(p->skipped.data, p->skipped.len);
    }
    sotto__layers__sender_key_record__free_unpacked(pr, NULL);
    if (e != SOTTO_OK) {
        sotto_sender_key_record_free(rec);
        return e;
    }
    *out = rec;
    return SOTTO_OK;
}
