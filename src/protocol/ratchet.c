/* The Double Ratchet (message version 4) with the SPQR chain key as the
 * message-key salt. Decrypt computes a plan on the side and commits it only
 * after the MAC and the padding verified. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "crypto/primitives.h"
#include "protocol/internal.h"

static const char INFO_RATCHET[] = "WhisperRatchet";
static const char INFO_MESSAGE_KEYS[] = "WhisperMessageKeys";

sotto_err sotto_root_step(uint8_t new_root[SOTTO_KEY_BYTES], uint8_t chain[SOTTO_KEY_BYTES],
                          const uint8_t root[SOTTO_KEY_BYTES], const uint8_t priv[SOTTO_KEY_BYTES],
                          const uint8_t pub[SOTTO_KEY_BYTES])
{
    uint8_t dh[32], g[64];
    sotto_err e = sotto_x25519(dh, priv, pub);
    if (e == SOTTO_OK)
        e = sotto_hkdf_sha256(g, sizeof g, root, SOTTO_KEY_BYTES, dh, sizeof dh,
                              (const uint8_t *)INFO_RATCHET, sizeof INFO_RATCHET - 1);
    if (e == SOTTO_OK) {
        memcpy(new_root, g, 32);
        memcpy(chain, g + 32, 32);
    }
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(g, sizeof g);
    return e;
}

sotto_err sotto_chain_step(uint8_t seed[SOTTO_KEY_BYTES], uint8_t next[SOTTO_KEY_BYTES],
                           const uint8_t ck[SOTTO_KEY_BYTES])
{
    static const uint8_t one = 0x01, two = 0x02;
    sotto_iov p1 = { &one, 1 }, p2 = { &two, 1 };
    uint8_t n[SOTTO_KEY_BYTES];
    sotto_err e = SOTTO_OK;
    /* The primitives zero their output first: next may alias ck, so go
     * through a local. */
    if (seed != NULL)
        e = sotto_hmac_sha256(seed, ck, SOTTO_KEY_BYTES, &p1, 1);
    if (e == SOTTO_OK && next != NULL) {
        e = sotto_hmac_sha256(n, ck, SOTTO_KEY_BYTES, &p2, 1);
        memcpy(next, n, sizeof n);
        sodium_memzero(n, sizeof n);
    }
    return e;
}

sotto_err sotto_message_keys_derive(sotto_message_keys *mk, const uint8_t seed[SOTTO_KEY_BYTES],
                                    const uint8_t *pq_key)
{
    uint8_t g[80];
    sotto_err e = sotto_hkdf_sha256(g, sizeof g, pq_key, pq_key ? SOTTO_SPQR_KEY_BYTES : 0,
                                    seed, SOTTO_KEY_BYTES, (const uint8_t *)INFO_MESSAGE_KEYS,
                                    sizeof INFO_MESSAGE_KEYS - 1);
    if (e == SOTTO_OK) {
        memcpy(mk->cipher, g, 32);
        memcpy(mk->mac, g + 32, 32);
        memcpy(mk->iv, g + 64, 16);
    }
    sodium_memzero(g, sizeof g);
    return e;
}

sotto_err sotto_message_mac(uint8_t mac[SOTTO_MAC_BYTES], const uint8_t mac_key[32],
                            const uint8_t sender_ik[SOTTO_EC_PUBLIC_BYTES],
                            const uint8_t receiver_ik[SOTTO_EC_PUBLIC_BYTES],
                            const uint8_t *serialized, size_t len)
{
    uint8_t full[SOTTO_HMAC_SHA256_BYTES];
    sotto_iov parts[3] = {
        { sender_ik, SOTTO_EC_PUBLIC_BYTES },
        { receiver_ik, SOTTO_EC_PUBLIC_BYTES },
        { serialized, len },
    };
    sotto_err e = sotto_hmac_sha256(full, mac_key, 32, parts, 3);
    if (e == SOTTO_OK)
        memcpy(mac, full, SOTTO_MAC_BYTES);
    sodium_memzero(full, sizeof full);
    return e;
}

/* ---- decrypt plan -------------------------------------------------------- */

typedef struct dr_plan {
    int new_chain;                       /* a DH ratchet step happens */
    uint8_t root[SOTTO_KEY_BYTES];       /* root key after both half-steps */
    uint8_t send_priv[SOTTO_KEY_BYTES], send_pub[SOTTO_KEY_BYTES], send_ck[SOTTO_KEY_BYTES];
    uint32_t prev_counter;
    int chain;                           /* existing chain, when !new_chain */
    int from_skipped;
    uint32_t skipped_pos;
    uint32_t new_index;
    uint8_t new_ck[SOTTO_KEY_BYTES];
    sotto_skipped *fresh;                /* newly skipped keys to keep, ascending */
    uint32_t n_fresh;
    int has_dropped;                     /* skipped past the limit, never stored */
    uint32_t dropped_lo, dropped_hi;
    uint8_t seed[SOTTO_KEY_BYTES];
} dr_plan;

static void plan_free(dr_plan *p)
{
    if (p->fresh != NULL) {
        sodium_memzero(p->fresh, (size_t)p->n_fresh * sizeof *p->fresh);
        free(p->fresh);
    }
    sodium_memzero(p, sizeof *p);
}

static int find_chain(const sotto_state *st, const uint8_t key[SOTTO_KEY_BYTES])
{
    for (uint32_t i = 0; i < st->n_chains; i++)
        if (memcmp(st->chains[i].ratchet_key, key, SOTTO_KEY_BYTES) == 0)
            return (int)i;
    return -1;
}

/* Walk ck from index up to counter: keep the last SOTTO_MAX_MESSAGE_KEYS
 * skipped seeds, and the seed and next chain key for counter. */
static sotto_err plan_advance(dr_plan *p, const uint8_t ck_in[SOTTO_KEY_BYTES],
                              uint32_t index, uint32_t counter)
{
    uint8_t ck[SOTTO_KEY_BYTES];
    sotto_err e = SOTTO_OK;
    uint32_t jump = counter - index;
    uint32_t keep = jump < SOTTO_MAX_MESSAGE_KEYS ? jump : SOTTO_MAX_MESSAGE_KEYS;
    uint32_t keep_from = counter - keep;
    if (keep_from > index) {
        p->has_dropped = 1;
        p->dropped_lo = index;
        p->dropped_hi = keep_from - 1;
    }
    if (keep > 0) {
        p->fresh = malloc((size_t)keep * sizeof *p->fresh);
        if (p->fresh == NULL)
            return SOTTO_ERR_NO_MEMORY;
    }
    memcpy(ck, ck_in, sizeof ck);
    for (uint32_t i = index; i < counter && e == SOTTO_OK; i++) {
        if (i >= keep_from) {
            sotto_skipped *k = &p->fresh[p->n_fresh++];
            k->counter = i;
            e = sotto_chain_step(k->seed, ck, ck);
        } else {
            e = sotto_chain_step(NULL, ck, ck);
        }
    }
    if (e == SOTTO_OK)
        e = sotto_chain_step(p->seed, p->new_ck, ck);
    p->new_index = counter + 1;
    sodium_memzero(ck, sizeof ck);
    return e;
}

static sotto_err plan_make(dr_plan *p, sotto_state *st, const sotto_signal_msg *m)
{
    const uint8_t *ck;
    uint32_t index;
    sotto_err e;
    memset(p, 0, sizeof *p);
    if (!st->has_sender)
        return SOTTO_ERR_NO_SESSION;
    if (m->counter == UINT32_MAX)
        return SOTTO_ERR_TOO_FAR_AHEAD;
    p->chain = find_chain(st, m->ratchet_key);
    uint8_t r1[SOTTO_KEY_BYTES], recv_ck[SOTTO_KEY_BYTES];
    for (uint32_t i = 0; p->chain < 0 && i < st->n_dropped; i++)
        if (memcmp(st->dropped[i], m->ratchet_key, SOTTO_KEY_BYTES) == 0)
            return SOTTO_ERR_KEY_NO_LONGER_HELD; /* libsignal: a DH step, then a bad MAC */
    if (p->chain < 0 && m->counter > SOTTO_MAX_FORWARD_JUMPS)
        return SOTTO_ERR_TOO_FAR_AHEAD; /* the same answer, before any DH work */
    if (p->chain < 0) {
        /* DH ratchet step: receiving half with our current sender key, then a
         * fresh sender key for the sending half. */
        p->new_chain = 1;
        e = sotto_root_step(r1, recv_ck, st->root_key, st->sender_private, m->ratchet_key);
        if (e == SOTTO_OK) {
            sotto_x25519_keypair(p->send_pub, p->send_priv);
            e = sotto_root_step(p->root, p->send_ck, r1, p->send_priv, m->ratchet_key);
        }
        sodium_memzero(r1, sizeof r1);
        if (e != SOTTO_OK) {
            sodium_memzero(recv_ck, sizeof recv_ck);
            return e == SOTTO_ERR_INVALID_KEY ? SOTTO_ERR_BAD_MAC : e;
        }
        p->prev_counter = st->sender_index > 0 ? st->sender_index - 1 : 0;
        ck = recv_ck;
        index = 0;
    } else {
        ck = st->chains[p->chain].chain_key;
        index = st->chains[p->chain].index;
    }

    if (m->counter < index) {
        const sotto_recv_chain *c = &st->chains[p->chain]; /* only an existing chain */
        for (uint32_t i = 0; i < c->n_keys; i++) {
            if (c->keys[i].counter == m->counter) {
                p->from_skipped = 1;
                p->skipped_pos = i;
                memcpy(p->seed, c->keys[i].seed, SOTTO_KEY_BYTES);
                return SOTTO_OK;
            }
        }
        return sotto_chain_was_evicted(c, m->counter) ? SOTTO_ERR_KEY_NO_LONGER_HELD
                                                      : SOTTO_ERR_DUPLICATE_MESSAGE;
    }
    if (m->counter - index > SOTTO_MAX_FORWARD_JUMPS) {
        sodium_memzero(recv_ck, sizeof recv_ck);
        return SOTTO_ERR_TOO_FAR_AHEAD;
    }
    e = plan_advance(p, ck, index, m->counter);
    sodium_memzero(recv_ck, sizeof recv_ck);
    if (e == SOTTO_OK && !p->new_chain && p->n_fresh > 0)
        e = sotto_chain_reserve(&st->chains[p->chain], p->n_fresh);
    return e;
}

/* Append the plan's fresh keys to c, evicting the oldest past the limit. */
static void store_fresh(sotto_recv_chain *c, dr_plan *p)
{
    /* Existing keys are all older than the dropped ones: they are noted first. */
    uint32_t total = c->n_keys + p->n_fresh;
    uint32_t evict = total > SOTTO_MAX_MESSAGE_KEYS ? total - SOTTO_MAX_MESSAGE_KEYS : 0;
    uint32_t from_old = evict < c->n_keys ? evict : c->n_keys;
    for (uint32_t i = 0; i < from_old; i++)
        sotto_chain_note_evicted(c, c->keys[i].counter, c->keys[i].counter);
    if (p->has_dropped)
        sotto_chain_note_evicted(c, p->dropped_lo, p->dropped_hi);
    if (from_old > 0) {
        memmove(c->keys, c->keys + from_old, (size_t)(c->n_keys - from_old) * sizeof *c->keys);
        sodium_memzero(c->keys + (c->n_keys - from_old), (size_t)from_old * sizeof *c->keys);
        c->n_keys -= from_old;
    }
    /* n_fresh <= SOTTO_MAX_MESSAGE_KEYS, so nothing fresh is evicted here. */
    if (p->n_fresh > 0) {
        memcpy(c->keys + c->n_keys, p->fresh, (size_t)p->n_fresh * sizeof *p->fresh);
        c->n_keys += p->n_fresh;
    }
}

static void plan_commit(sotto_state *st, dr_plan *p, const sotto_signal_msg *m)
{
    sotto_recv_chain *c;
    if (p->new_chain) {
        if (st->n_chains == SOTTO_MAX_RECEIVER_CHAINS) {
            if (st->n_dropped == SOTTO_MAX_RECEIVER_CHAINS) {
                memmove(st->dropped[0], st->dropped[1], (SOTTO_MAX_RECEIVER_CHAINS - 1) * SOTTO_KEY_BYTES);
                st->n_dropped--;
            }
            memcpy(st->dropped[st->n_dropped++], st->chains[0].ratchet_key, SOTTO_KEY_BYTES);
            sotto_chain_wipe(&st->chains[0]);
            memmove(&st->chains[0], &st->chains[1],
                    (SOTTO_MAX_RECEIVER_CHAINS - 1) * sizeof st->chains[0]);
            memset(&st->chains[SOTTO_MAX_RECEIVER_CHAINS - 1], 0, sizeof st->chains[0]);
            st->n_chains--;
        }
        c = &st->chains[st->n_chains++];
        memset(c, 0, sizeof *c);
        memcpy(c->ratchet_key, m->ratchet_key, SOTTO_KEY_BYTES);
        memcpy(c->chain_key, p->new_ck, SOTTO_KEY_BYTES);
        c->index = p->new_index;
        if (p->has_dropped)
            sotto_chain_note_evicted(c, p->dropped_lo, p->dropped_hi);
        c->keys = p->fresh; /* adopt the array */
        c->n_keys = c->cap_keys = p->n_fresh;
        p->fresh = NULL;
        p->n_fresh = 0;
        memcpy(st->root_key, p->root, SOTTO_KEY_BYTES);
        memcpy(st->sender_private, p->send_priv, SOTTO_KEY_BYTES);
        memcpy(st->sender_public, p->send_pub, SOTTO_KEY_BYTES);
        memcpy(st->sender_chain_key, p->send_ck, SOTTO_KEY_BYTES);
        st->sender_index = 0;
        st->previous_counter = p->prev_counter;
        return;
    }
    c = &st->chains[p->chain];
    if (p->from_skipped) {
        sodium_memzero(&c->keys[p->skipped_pos], sizeof c->keys[0]);
        memmove(&c->keys[p->skipped_pos], &c->keys[p->skipped_pos + 1],
                (size_t)(c->n_keys - p->skipped_pos - 1) * sizeof *c->keys);
        c->n_keys--;
        sodium_memzero(&c->keys[c->n_keys], sizeof c->keys[0]);
        return;
    }
    store_fresh(c, p);
    memcpy(c->chain_key, p->new_ck, SOTTO_KEY_BYTES);
    c->index = p->new_index;
}

sotto_err sotto_state_decrypt(sotto_state *st, const sotto_session *rec,
                              const sotto_signal_msg *m,
                              uint8_t *pt, size_t pt_cap, size_t *pt_len, int *final)
{
    dr_plan p;
    sotto_spqr_recv_plan q;
    sotto_spqr_braid *pq_next = NULL;
    uint8_t pq_key[SOTTO_SPQR_BRAID_KEY_BYTES];
    int pq_has = 0;
    sotto_message_keys mk;
    uint8_t mac[SOTTO_MAC_BYTES];
    uint8_t *tmp = NULL;
    size_t n = 0;
    *pt_len = 0;
    memset(&q, 0, sizeof q);
    memset(&mk, 0, sizeof mk);

    sotto_err e = plan_make(&p, st, m);
    /* The Double Ratchet's own duplicate (libsignal's DuplicatedMessage) ends
     * the search over states; everything else lets the next state try. */
    *final = e == SOTTO_ERR_DUPLICATE_MESSAGE || e == SOTTO_ERR_KEY_NO_LONGER_HELD;
    /* SPQR: the braid, or the epoch-0 chain of a state from format version 1;
     * prepared on a copy, kept only if the message decrypts. */
    if (e == SOTTO_OK && st->braid != NULL) {
        e = sotto_spqr_braid_recv_prepare(st->braid, &pq_next, m->pq, m->pq_len, pq_key, &pq_has);
    } else if (e == SOTTO_OK) {
        e = sotto_spqr_recv_plan_make(&st->spqr, m->pq, m->pq_len, &q);
        if (e == SOTTO_OK && q.has_key) {
            memcpy(pq_key, q.key, sizeof pq_key);
            pq_has = 1;
        }
    }
    if (e == SOTTO_OK)
        e = sotto_message_keys_derive(&mk, p.seed, pq_has ? pq_key : NULL);
    if (e == SOTTO_OK)
        e = sotto_message_mac(mac, mk.mac, st->remote_identity, st->local_identity,
                              m->serialized, m->serialized_len);
    if (e == SOTTO_OK && !sotto_ct_equal(mac, m->mac, SOTTO_MAC_BYTES))
        e = SOTTO_ERR_BAD_MAC;
    if (e == SOTTO_OK && m->has_addresses && rec != NULL && rec->has_addresses) {
        /* Sent by them to us: their address first. */
        uint8_t want[SOTTO_ADDRESSES_BYTES];
        memcpy(want, rec->remote_address, SOTTO_SERVICE_ID_BYTES + 1);
        memcpy(want + SOTTO_SERVICE_ID_BYTES + 1, rec->local_address, SOTTO_SERVICE_ID_BYTES + 1);
        if (m->addresses_len != SOTTO_ADDRESSES_BYTES ||
            !sotto_ct_equal(want, m->addresses, SOTTO_ADDRESSES_BYTES))
            e = SOTTO_ERR_BAD_MAC;
    }
    if (e == SOTTO_OK) {
        uint8_t *dst = pt;
        if (pt_cap < m->body_len) {
            tmp = malloc(m->body_len ? m->body_len : 1);
            dst = tmp;
            if (tmp == NULL)
                e = SOTTO_ERR_NO_MEMORY;
        }
        if (e == SOTTO_OK) {
            e = sotto_aes256_cbc_decrypt(dst, dst == pt ? pt_cap : m->body_len, &n,
                                         mk.cipher, mk.iv, m->body, m->body_len);
            if (e != SOTTO_OK && dst == pt)
                sodium_memzero(pt, pt_cap < m->body_len ? pt_cap : m->body_len);
        }
        if (e == SOTTO_OK && dst == tmp) {
            if (n > pt_cap)
                e = SOTTO_ERR_BUFFER_TOO_SMALL;
            else if (n > 0)
                memcpy(pt, tmp, n);
        }
        if (tmp != NULL) {
            sodium_memzero(tmp, m->body_len);
            free(tmp);
        }
    }
    if (e == SOTTO_OK) {
        plan_commit(st, &p, m);
        if (st->braid != NULL) {
            sotto_spqr_braid_commit(st->braid, pq_next);
            pq_next = NULL;
        } else {
            sotto_spqr_recv_commit(&st->spqr, &q);
        }
        st->has_pending = 0; /* a reply acknowledges our prekey message */
        *pt_len = n;
    }
    plan_free(&p);
    sotto_spqr_recv_plan_free(&q);
    sotto_spqr_braid_discard(pq_next);
    sodium_memzero(pq_key, sizeof pq_key);
    sodium_memzero(&mk, sizeof mk);
    return e;
}
