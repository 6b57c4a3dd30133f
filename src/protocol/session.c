/* The public session API: identities, the session record (current state plus
 * archived ones), encrypt and decrypt with libsignal's state selection. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "crypto/primitives.h"
#include "protocol/internal.h"

#define BODY_STACK_BYTES 2048 /* encrypt bodies up to this size stay on the stack */

/* ---- identities ---------------------------------------------------------- */

sotto_err sotto_identity_generate(sotto_identity **out, uint32_t registration_id)
{
    if (out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sotto_identity *id = calloc(1, sizeof *id);
    if (id == NULL)
        return SOTTO_ERR_NO_MEMORY;
    sotto_err e = sotto_ec_keypair(id->pub, id->priv);
    if (e != SOTTO_OK) {
        sotto_identity_free(id);
        return e;
    }
    id->registration_id = registration_id;
    *out = id;
    return SOTTO_OK;
}

sotto_err sotto_identity_from_keys(sotto_identity **out, const uint8_t priv[SOTTO_EC_PRIVATE_BYTES],
                                   uint32_t registration_id)
{
    if (out == NULL || priv == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sotto_identity *id = calloc(1, sizeof *id);
    if (id == NULL)
        return SOTTO_ERR_NO_MEMORY;
    memcpy(id->priv, priv, SOTTO_EC_PRIVATE_BYTES);
    sotto_err e = sotto_ec_public_from_private(id->pub, id->priv);
    if (e != SOTTO_OK) {
        sotto_identity_free(id);
        return e;
    }
    id->registration_id = registration_id;
    *out = id;
    return SOTTO_OK;
}

void sotto_identity_public_key(const sotto_identity *id, uint8_t pub[SOTTO_EC_PUBLIC_BYTES])
{
    memcpy(pub, id->pub, SOTTO_EC_PUBLIC_BYTES);
}

uint32_t sotto_identity_registration_id(const sotto_identity *id)
{
    return id->registration_id;
}

sotto_err sotto_identity_sign(const sotto_identity *id, uint8_t sig[SOTTO_SIGNATURE_BYTES],
                              const uint8_t *msg, size_t msg_len)
{
    if (id == NULL || sig == NULL || (msg == NULL && msg_len > 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    return sotto_sign(sig, id->priv, msg, msg_len);
}

void sotto_identity_free(sotto_identity *id)
{
    if (id == NULL)
        return;
    sodium_memzero(id, sizeof *id);
    free(id);
}

/* ---- the record ---------------------------------------------------------- */

sotto_err sotto_session_new(sotto_session **out)
{
    if (out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out = calloc(1, sizeof **out);
    return *out ? SOTTO_OK : SOTTO_ERR_NO_MEMORY;
}

void sotto_record_clear(sotto_session *s)
{
    sotto_state_free(s->current);
    for (uint32_t i = 0; i < s->n_archived; i++)
        sotto_state_free(s->archived[i]);
    sodium_memzero(s, sizeof *s);
}

void sotto_session_free(sotto_session *s)
{
    if (s == NULL)
        return;
    sotto_record_clear(s);
    free(s);
}

/* promote_state: the current state goes to the front of the archive (its
 * unacknowledged prekey data dropped), the oldest falls off past the limit. */
static void promote(sotto_session *s, sotto_state *st)
{
    if (s->current != NULL) {
        if (s->n_archived == SOTTO_ARCHIVED_STATES_MAX)
            sotto_state_free(s->archived[--s->n_archived]);
        memmove(&s->archived[1], &s->archived[0], s->n_archived * sizeof s->archived[0]);
        s->current->has_pending = 0;
        s->archived[0] = s->current;
        s->n_archived++;
    }
    s->current = st;
}

static void take_archived(sotto_session *s, uint32_t i)
{
    memmove(&s->archived[i], &s->archived[i + 1], (s->n_archived - i - 1) * sizeof s->archived[0]);
    s->archived[--s->n_archived] = NULL;
}

static void pin(sotto_session *s, const uint8_t ik[SOTTO_EC_PUBLIC_BYTES])
{
    s->has_trusted = 1;
    memcpy(s->trusted_identity, ik, SOTTO_EC_PUBLIC_BYTES);
}

sotto_err sotto_session_set_addresses(sotto_session *s,
                                      const uint8_t local_service_id[SOTTO_SERVICE_ID_BYTES],
                                      uint32_t local_device,
                                      const uint8_t remote_service_id[SOTTO_SERVICE_ID_BYTES],
                                      uint32_t remote_device)
{
    if (s == NULL || local_service_id == NULL || remote_service_id == NULL ||
        local_device > SOTTO_DEVICE_ID_MAX || remote_device > SOTTO_DEVICE_ID_MAX)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memcpy(s->local_address, local_service_id, SOTTO_SERVICE_ID_BYTES);
    s->local_address[SOTTO_SERVICE_ID_BYTES] = (uint8_t)local_device;
    memcpy(s->remote_address, remote_service_id, SOTTO_SERVICE_ID_BYTES);
    s->remote_address[SOTTO_SERVICE_ID_BYTES] = (uint8_t)remote_device;
    s->has_addresses = 1;
    return SOTTO_OK;
}

sotto_err sotto_session_process_bundle(sotto_session *s, const sotto_identity *us,
                                       const sotto_bundle *bundle)
{
    sotto_state *st;
    if (s == NULL || us == NULL || bundle == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (s->has_trusted &&
        memcmp(s->trusted_identity, bundle->identity_key, SOTTO_EC_PUBLIC_BYTES) != 0)
        return SOTTO_ERR_UNTRUSTED_IDENTITY;
    sotto_err e = sotto_pqxdh_alice(&st, us, bundle);
    if (e != SOTTO_OK)
        return e;
    promote(s, st);
    pin(s, bundle->identity_key);
    return SOTTO_OK;
}

sotto_err sotto_session_remote_identity(const sotto_session *s, uint8_t key[SOTTO_EC_PUBLIC_BYTES])
{
    if (key != NULL)
        memset(key, 0, SOTTO_EC_PUBLIC_BYTES);
    if (s == NULL || key == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (s->current == NULL)
        return SOTTO_ERR_NO_SESSION;
    memcpy(key, s->current->remote_identity, SOTTO_EC_PUBLIC_BYTES);
    return SOTTO_OK;
}

/* ---- encrypt ------------------------------------------------------------- */

size_t sotto_session_ciphertext_bound(size_t pt_len)
{
    if (pt_len > SOTTO_MAX_PLAINTEXT_BYTES)
        return 0;
    return sotto_aes256_cbc_padded_len(pt_len) + SOTTO_CIPHERTEXT_OVERHEAD;
}

sotto_err sotto_session_encrypt(sotto_session *s, const sotto_identity *us,
                                const uint8_t *pt, size_t pt_len,
                                uint8_t *out, size_t out_cap, size_t *out_len, int *msg_type)
{
    uint8_t body_stack[BODY_STACK_BYTES];
    uint8_t *body = body_stack, *inner = NULL;
    uint8_t seed[SOTTO_KEY_BYTES], next_ck[SOTTO_KEY_BYTES];
    uint8_t addresses[SOTTO_ADDRESSES_BYTES];
    sotto_spqr_send_plan q;
    sotto_spqr_braid *pq_next = NULL;
    uint8_t pq_msg[SOTTO_SPQR_BRAID_MSG_MAX], pq_key[SOTTO_SPQR_BRAID_KEY_BYTES];
    size_t pq_len = 0;
    int pq_has = 0;
    sotto_message_keys mk;
    size_t body_len = 0, n = 0;
    sotto_err e;

    if (out_len != NULL)
        *out_len = 0;
    if (msg_type != NULL)
        *msg_type = 0;
    if (s == NULL || out == NULL || out_len == NULL || msg_type == NULL ||
        (pt == NULL && pt_len > 0) || pt_len > SOTTO_MAX_PLAINTEXT_BYTES)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sotto_state *st = s->current;
    if (st == NULL || !st->has_sender)
        return SOTTO_ERR_NO_SESSION;
    if (us != NULL && memcmp(us->pub, st->local_identity, SOTTO_EC_PUBLIC_BYTES) != 0)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (st->sender_index == UINT32_MAX)
        return SOTTO_ERR_NO_SESSION;

    memset(&mk, 0, sizeof mk);
    memset(&q, 0, sizeof q);
    /* The SPQR payload and key: the braid, or the epoch-0 chain of a state
     * loaded from format version 1. Kept only once everything else worked. */
    if (st->braid != NULL) {
        e = sotto_spqr_braid_send_prepare(st->braid, &pq_next, pq_msg, &pq_len, pq_key, &pq_has);
    } else if ((e = sotto_spqr_send_plan_make(&st->spqr, &q)) == SOTTO_OK) {
        memcpy(pq_msg, q.msg, q.msg_len);
        pq_len = q.msg_len;
        memcpy(pq_key, q.key, sizeof pq_key);
        pq_has = 1;
    }
    if (e != SOTTO_OK)
        goto out;
    if ((e = sotto_chain_step(seed, next_ck, st->sender_chain_key)) != SOTTO_OK)
        goto out;
    if ((e = sotto_message_keys_derive(&mk, seed, pq_has ? pq_key : NULL)) != SOTTO_OK)
        goto out;
    size_t padded = sotto_aes256_cbc_padded_len(pt_len);
    if (padded > sizeof body_stack && (body = malloc(padded)) == NULL) {
        e = SOTTO_ERR_NO_MEMORY;
        goto out;
    }
    if ((e = sotto_aes256_cbc_encrypt(body, padded, &body_len, mk.cipher, mk.iv, pt, pt_len)) != SOTTO_OK)
        goto out;

    sotto_signal_out so = {
        .ratchet_key = st->sender_public,
        .counter = st->sender_index,
        .previous_counter = st->previous_counter,
        .body = body, .body_len = body_len,
        .pq = pq_msg, .pq_len = pq_len,
        .addresses = NULL,
    };
    if (st->has_pending && s->has_addresses) {
        /* libsignal binds both addresses into prekey messages only. */
        memcpy(addresses, s->local_address, SOTTO_SERVICE_ID_BYTES + 1);
        memcpy(addresses + SOTTO_SERVICE_ID_BYTES + 1, s->remote_address, SOTTO_SERVICE_ID_BYTES + 1);
        so.addresses = addresses;
    }
    size_t sig_len = sotto_wire_signal_size(&so) + SOTTO_MAC_BYTES;
    uint8_t *dst = out;
    size_t dst_cap = out_cap;
    if (st->has_pending) {
        if ((inner = malloc(sig_len)) == NULL) {
            e = SOTTO_ERR_NO_MEMORY;
            goto out;
        }
        dst = inner;
        dst_cap = sig_len;
    } else if (sig_len > out_cap) {
        e = SOTTO_ERR_BUFFER_TOO_SMALL;
        goto out;
    }
    if ((e = sotto_wire_signal_pack(&so, dst, dst_cap, &n)) != SOTTO_OK)
        goto out;
    if ((e = sotto_message_mac(dst + n, mk.mac, st->local_identity, st->remote_identity, dst, n)) != SOTTO_OK)
        goto out;
    n += SOTTO_MAC_BYTES;
    if (st->has_pending) {
        sotto_prekey_out po = {
            .registration_id = st->local_registration_id,
            .has_pre_key = st->pending.has_pre_key,
            .pre_key_id = st->pending.pre_key_id,
            .signed_pre_key_id = st->pending.signed_pre_key_id,
            .kyber_pre_key_id = st->pending.kyber_pre_key_id,
            .kyber_ciphertext = st->pending.kyber_ciphertext,
            .base_key = st->alice_base_key,
            .identity_key = st->local_identity,
            .message = inner, .message_len = n,
        };
        if ((e = sotto_wire_prekey_pack(&po, out, out_cap, &n)) != SOTTO_OK)
            goto out;
    }
    /* Commit. */
    memcpy(st->sender_chain_key, next_ck, SOTTO_KEY_BYTES);
    st->sender_index++;
    if (st->braid != NULL) {
        sotto_spqr_braid_commit(st->braid, pq_next);
        pq_next = NULL;
    } else {
        sotto_spqr_send_commit(&st->spqr, &q);
    }
    *out_len = n;
    *msg_type = st->has_pending ? SOTTO_MSG_PREKEY : SOTTO_MSG_WHISPER;
out:
    if (body != body_stack)
        free(body);
    free(inner);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(next_ck, sizeof next_ck);
    sodium_memzero(&mk, sizeof mk);
    sodium_memzero(&q, sizeof q);
    sotto_spqr_braid_discard(pq_next);
    sodium_memzero(pq_key, sizeof pq_key);
    return e;
}

/* ---- decrypt ------------------------------------------------------------- */

static sotto_err decrypt_whisper(sotto_session *s, const uint8_t *ct, size_t ct_len,
                                 uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
    sotto_arena a;
    sotto_signal_msg m;
    sotto_err first = SOTTO_ERR_NO_SESSION, e;
    int final = 0;
    sotto_arena_init(&a);
    e = sotto_wire_parse_signal(&m, &a, ct, ct_len);
    if (e != SOTTO_OK)
        goto out;
    /* The current state first, then the archived ones (newest first); one
     * that decrypts is promoted. A duplicate stops the search, as in libsignal. */
    if (s->current != NULL) {
        e = sotto_state_decrypt(s->current, s, &m, pt, pt_cap, pt_len, &final);
        if (e == SOTTO_OK || final || e == SOTTO_ERR_BUFFER_TOO_SMALL || e == SOTTO_ERR_NO_MEMORY)
            goto out;
        first = e;
    }
    for (uint32_t i = 0; i < s->n_archived; i++) {
        e = sotto_state_decrypt(s->archived[i], s, &m, pt, pt_cap, pt_len, &final);
        if (e == SOTTO_OK) {
            sotto_state *st = s->archived[i];
            take_archived(s, i);
            promote(s, st);
            goto out;
        }
        if (final || e == SOTTO_ERR_BUFFER_TOO_SMALL || e == SOTTO_ERR_NO_MEMORY)
            goto out;
        if (first == SOTTO_ERR_NO_SESSION)
            first = e;
    }
    e = first;
out:
    sotto_arena_release(&a);
    return e;
}

static sotto_err decrypt_prekey(sotto_session *s, const sotto_identity *us,
                                const sotto_prekey_secrets *keys, const uint8_t *ct, size_t ct_len,
                                uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
    sotto_arena a;
    sotto_prekey_msg m;
    sotto_state *target = NULL, *fresh = NULL;
    int where = -1; /* -1 new state, 0 current, i + 1 archived[i] */
    sotto_err e;
    sotto_arena_init(&a);
    if ((e = sotto_wire_parse_prekey(&m, &a, ct, ct_len)) != SOTTO_OK)
        goto out;
    if (s->has_trusted && memcmp(s->trusted_identity, m.identity_key, SOTTO_EC_PUBLIC_BYTES) != 0) {
        e = SOTTO_ERR_UNTRUSTED_IDENTITY;
        goto out;
    }
    /* promote_matching_session: a state already made from this base key. */
    if (s->current != NULL &&
        sodium_memcmp(s->current->alice_base_key, m.base_key, SOTTO_EC_PUBLIC_BYTES) == 0) {
        target = s->current;
        where = 0;
    }
    for (uint32_t i = 0; target == NULL && i < s->n_archived; i++) {
        if (sodium_memcmp(s->archived[i]->alice_base_key, m.base_key, SOTTO_EC_PUBLIC_BYTES) == 0) {
            target = s->archived[i];
            where = (int)i + 1;
        }
    }
    if (target == NULL) {
        if (us == NULL) {
            e = SOTTO_ERR_INVALID_ARGUMENT;
            goto out;
        }
        if ((e = sotto_pqxdh_bob(&fresh, us, keys, &m)) != SOTTO_OK)
            goto out;
        fresh->local_registration_id = us->registration_id;
        target = fresh;
    }
    /* A prekey message is decrypted with that one state only. */
    int final;
    if ((e = sotto_state_decrypt(target, s, &m.message, pt, pt_cap, pt_len, &final)) != SOTTO_OK)
        goto out;
    if (where == -1) {
        promote(s, fresh);
        fresh = NULL;
    } else if (where > 0) {
        take_archived(s, (uint32_t)where - 1);
        promote(s, target);
    }
    pin(s, m.identity_key);
out:
    sotto_state_free(fresh);
    sotto_arena_release(&a);
    return e;
}

sotto_err sotto_session_decrypt(sotto_session *s, const sotto_identity *us,
                                const sotto_prekey_secrets *keys, int msg_type,
                                const uint8_t *ct, size_t ct_len,
                                uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
    if (pt_len != NULL)
        *pt_len = 0;
    if (s == NULL || ct == NULL || pt_len == NULL || (pt == NULL && pt_cap > 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (ct_len > sotto_session_ciphertext_bound(SOTTO_MAX_PLAINTEXT_BYTES))
        return SOTTO_ERR_MALFORMED;
    if (msg_type == SOTTO_MSG_WHISPER)
        return decrypt_whisper(s, ct, ct_len, pt, pt_cap, pt_len);
    if (msg_type == SOTTO_MSG_PREKEY)
        return decrypt_prekey(s, us, keys, ct, ct_len, pt, pt_cap, pt_len);
    return SOTTO_ERR_INVALID_ARGUMENT;
}

sotto_err sotto_prekey_message_ids(const uint8_t *msg, size_t len, sotto_prekey_ids *out)
{
    sotto_arena a;
    sotto_prekey_msg m;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (msg == NULL || out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (len > sotto_session_ciphertext_bound(SOTTO_MAX_PLAINTEXT_BYTES))
        return SOTTO_ERR_MALFORMED;
    sotto_arena_init(&a);
    sotto_err e = sotto_wire_parse_prekey(&m, &a, msg, len);
    if (e == SOTTO_OK) {
        out->registration_id = m.registration_id;
        memcpy(out->identity_key, m.identity_key, SOTTO_EC_PUBLIC_BYTES);
        memcpy(out->base_key, m.base_key, SOTTO_EC_PUBLIC_BYTES);
        out->has_pre_key = m.has_pre_key;
        out->pre_key_id = m.pre_key_id;
        out->signed_pre_key_id = m.signed_pre_key_id;
        out->kyber_pre_key_id = m.kyber_pre_key_id;
    }
    sotto_arena_release(&a);
    return e;
}

/* ---- bytes --------------------------------------------------------------- */

sotto_err sotto_session_save(const sotto_session *s, uint8_t *buf, size_t cap, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (s == NULL || len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    return sotto_record_save(s, buf, cap, len);
}

sotto_err sotto_session_load(sotto_session **out, const uint8_t *buf, size_t len)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL || (buf == NULL && len > 0))
        return SOTTO_ERR_INVALID_ARGUMENT;
    return sotto_record_load(out, buf, len);
}
