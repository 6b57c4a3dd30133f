/* SPQR v1 chains, one pair (send, receive) per epoch (chain.rs). Keys of a
 * chain: ctr += 1; next || key = HKDF(0^32, next, BE32(ctr) || "Signal PQ
 * Ratchet V1 Chain Next", 64) (sotto_spqr_next_key in spqr.c). A new epoch:
 * next_root || A->B || B->A = HKDF(next_root, secret, "Signal PQ Ratchet V1
 * Chain Add Epoch", 96). */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "crypto/primitives.h"
#include "protocol/spqr.h"
#include "protocol/spqr_braid.h"

static const char INFO_START[] = "Signal PQ Ratchet V1 Chain  Start"; /* two spaces */
static const char INFO_ADD[] = "Signal PQ Ratchet V1 Chain Add Epoch";
static const uint8_t ZERO_SALT[32];

/* chain.rs keeps the send epoch and this many before it. */
#define EPOCHS_TO_KEEP_PRIOR_TO_SEND_EPOCH 1

static void dir_wipe(sotto_spqr_chain_dir *d)
{
    if (d->hist != NULL) {
        sodium_memzero(d->hist, (size_t)d->cap_hist * sizeof *d->hist);
        free(d->hist);
    }
    sodium_memzero(d, sizeof *d);
}

static void link_wipe(sotto_spqr_chain_link *l)
{
    dir_wipe(&l->send);
    dir_wipe(&l->recv);
}

void sotto_spqr_chain_wipe(sotto_spqr_chain *c)
{
    for (uint32_t i = 0; i < c->n_links && i < SOTTO_SPQR_BRAID_MAX_LINKS; i++)
        link_wipe(&c->links[i]);
    sodium_memzero(c, sizeof *c);
}

static sotto_err dir_copy(sotto_spqr_chain_dir *dst, const sotto_spqr_chain_dir *src)
{
    *dst = *src;
    dst->hist = NULL;
    dst->cap_hist = dst->n_hist;
    if (src->n_hist > 0) {
        dst->hist = malloc((size_t)src->n_hist * sizeof *dst->hist);
        if (dst->hist == NULL) {
            memset(dst, 0, sizeof *dst);
            return SOTTO_ERR_NO_MEMORY;
        }
        memcpy(dst->hist, src->hist, (size_t)src->n_hist * sizeof *dst->hist);
    }
    return SOTTO_OK;
}

sotto_err sotto_spqr_chain_copy(sotto_spqr_chain *dst, const sotto_spqr_chain *src)
{
    *dst = *src;
    for (uint32_t i = 0; i < src->n_links; i++) {
        memset(&dst->links[i], 0, sizeof dst->links[i]);
    }
    for (uint32_t i = 0; i < src->n_links; i++) {
        if (dir_copy(&dst->links[i].send, &src->links[i].send) != SOTTO_OK ||
            dir_copy(&dst->links[i].recv, &src->links[i].recv) != SOTTO_OK) {
            sotto_spqr_chain_wipe(dst);
            return SOTTO_ERR_NO_MEMORY;
        }
    }
    return SOTTO_OK;
}

/* g = next_root || A->B || B->A: our send chain is our direction's. */
static void set_link(sotto_spqr_chain *c, sotto_spqr_chain_link *l, const uint8_t g[96])
{
    memset(l, 0, sizeof *l);
    const uint8_t *a2b = g + 32, *b2a = g + 64;
    memcpy(l->send.next, c->dir == SOTTO_SPQR_BRAID_DIR_A2B ? a2b : b2a, 32);
    memcpy(l->recv.next, c->dir == SOTTO_SPQR_BRAID_DIR_A2B ? b2a : a2b, 32);
    l->send.has_next = l->recv.has_next = 1;
}

sotto_err sotto_spqr_chain_init(sotto_spqr_chain *c, const uint8_t key[32], int dir)
{
    uint8_t g[96];
    memset(c, 0, sizeof *c);
    if (dir != SOTTO_SPQR_BRAID_DIR_A2B && dir != SOTTO_SPQR_BRAID_DIR_B2A)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sotto_err e = sotto_hkdf_sha256(g, sizeof g, ZERO_SALT, sizeof ZERO_SALT, key, 32,
                                    (const uint8_t *)INFO_START, sizeof INFO_START - 1);
    if (e == SOTTO_OK) {
        c->dir = (uint8_t)dir;
        memcpy(c->next_root, g, 32);
        set_link(c, &c->links[0], g);
        c->n_links = 1;
    }
    sodium_memzero(g, sizeof g);
    return e;
}

static void drop_oldest(sotto_spqr_chain *c)
{
    link_wipe(&c->links[0]);
    memmove(&c->links[0], &c->links[1], (size_t)(c->n_links - 1) * sizeof c->links[0]);
    c->n_links--;
    memset(&c->links[c->n_links], 0, sizeof c->links[0]);
}

sotto_err sotto_spqr_chain_add_epoch(sotto_spqr_chain *c, uint64_t epoch, const uint8_t secret[32])
{
    uint8_t g[96];
    if (c->current_epoch == UINT64_MAX || epoch != c->current_epoch + 1)
        return SOTTO_ERR_PQ_RATCHET;
    sotto_err e = sotto_hkdf_sha256(g, sizeof g, c->next_root, 32, secret, 32,
                                    (const uint8_t *)INFO_ADD, sizeof INFO_ADD - 1);
    if (e == SOTTO_OK) {
        if (c->n_links == SOTTO_SPQR_BRAID_MAX_LINKS)
            drop_oldest(c);
        c->current_epoch = epoch;
        memcpy(c->next_root, g, 32);
        set_link(c, &c->links[c->n_links], g);
        c->n_links++;
    }
    sodium_memzero(g, sizeof g);
    return e;
}

static sotto_err epoch_idx(const sotto_spqr_chain *c, uint64_t epoch, uint32_t *idx)
{
    if (epoch > c->current_epoch || c->current_epoch - epoch >= c->n_links)
        return SOTTO_ERR_PQ_RATCHET;
    *idx = c->n_links - 1 - (uint32_t)(c->current_epoch - epoch);
    return SOTTO_OK;
}

static sotto_err next_key(sotto_spqr_chain_dir *d, uint8_t key[32])
{
    if (!d->has_next || d->ctr == UINT32_MAX)
        return SOTTO_ERR_PQ_RATCHET;
    d->ctr++;
    return sotto_spqr_next_key(d->next, key, d->next, d->ctr);
}

sotto_err sotto_spqr_chain_send_key(sotto_spqr_chain *c, uint64_t epoch, uint32_t *index,
                                    uint8_t key[32])
{
    uint32_t at;
    if (epoch < c->send_epoch)
        return SOTTO_ERR_PQ_RATCHET; /* SendKeyEpochDecreased */
    sotto_err e = epoch_idx(c, epoch, &at);
    if (e != SOTTO_OK)
        return e;
    if (c->send_epoch != epoch) {
        c->send_epoch = epoch;
        while (at > EPOCHS_TO_KEEP_PRIOR_TO_SEND_EPOCH) {
            drop_oldest(c);
            at--;
        }
        for (uint32_t i = 0; i < at; i++) {
            sodium_memzero(c->links[i].send.next, 32);
            c->links[i].send.has_next = 0;
        }
    }
    if ((e = next_key(&c->links[at].send, key)) == SOTTO_OK)
        *index = c->links[at].send.ctr;
    return e;
}

static void hist_remove(sotto_spqr_chain_dir *d, uint32_t i)
{
    d->n_hist--;
    if (i != d->n_hist)
        d->hist[i] = d->hist[d->n_hist];
    sodium_memzero(&d->hist[d->n_hist], sizeof d->hist[0]);
}

static sotto_err hist_add(sotto_spqr_chain_dir *d, uint32_t index, const uint8_t key[32])
{
    if (d->n_hist == d->cap_hist) {
        uint32_t cap = d->cap_hist ? 2 * d->cap_hist : 16;
        sotto_spqr_braid_key *h = malloc((size_t)cap * sizeof *h);
        if (h == NULL)
            return SOTTO_ERR_NO_MEMORY;
        if (d->n_hist > 0)
            memcpy(h, d->hist, (size_t)d->n_hist * sizeof *h);
        if (d->hist != NULL) {
            sodium_memzero(d->hist, (size_t)d->cap_hist * sizeof *d->hist);
            free(d->hist);
        }
        d->hist = h;
        d->cap_hist = cap;
    }
    d->hist[d->n_hist].index = index;
    memcpy(d->hist[d->n_hist].key, key, 32);
    d->n_hist++;
    return SOTTO_OK;
}

/* ChainEpochDirection::key. The caller works on a copy: a failure part-way
 * (out of memory) leaves this direction half-advanced. */
static sotto_err dir_key(sotto_spqr_chain_dir *d, uint32_t at, uint8_t key[32])
{
    sotto_err e = SOTTO_OK;
    if (at < d->ctr) {
        if ((uint64_t)at + SOTTO_SPQR_BRAID_MAX_OOO < d->ctr)
            return SOTTO_ERR_KEY_NO_LONGER_HELD;
        for (uint32_t i = 0; i < d->n_hist; i++) {
            if (d->hist[i].index == at) {
                memcpy(key, d->hist[i].key, 32);
                hist_remove(d, i);
                return SOTTO_OK;
            }
        }
        return SOTTO_ERR_DUPLICATE_MESSAGE;
    }
    if (at == d->ctr)
        return SOTTO_ERR_DUPLICATE_MESSAGE;
    if (at - d->ctr > SOTTO_SPQR_BRAID_MAX_JUMP)
        return SOTTO_ERR_TOO_FAR_AHEAD;
    if ((uint64_t)at > (uint64_t)d->ctr + SOTTO_SPQR_BRAID_MAX_OOO) {
        sodium_memzero(d->hist, (size_t)d->n_hist * sizeof *d->hist);
        d->n_hist = 0;
    }
    uint8_t k[32];
    while (e == SOTTO_OK && at > d->ctr + 1) {
        e = next_key(d, k);
        if (e == SOTTO_OK && (uint64_t)d->ctr + SOTTO_SPQR_BRAID_MAX_OOO >= at)
            e = hist_add(d, d->ctr, k);
    }
    sodium_memzero(k, sizeof k);
    if (e != SOTTO_OK)
        return e;
    /* KeyHistory::gc */
    if (d->n_hist >= SOTTO_SPQR_BRAID_TRIM_SIZE && d->ctr >= SOTTO_SPQR_BRAID_MAX_OOO) {
        uint32_t horizon = d->ctr - SOTTO_SPQR_BRAID_MAX_OOO;
        for (uint32_t i = 0; i < d->n_hist;) {
            if (d->hist[i].index < horizon)
                hist_remove(d, i);
            else
                i++;
        }
    }
    return next_key(d, key);
}

sotto_err sotto_spqr_chain_recv_key(sotto_spqr_chain *c, uint64_t epoch, uint32_t index,
                                    uint8_t key[32])
{
    uint32_t at;
    sotto_err e = epoch_idx(c, epoch, &at);
    if (e != SOTTO_OK)
        return e;
    return dir_key(&c->links[at].recv, index, key);
}
