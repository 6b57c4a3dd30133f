/* Session states: allocation, copies, wiping, and the per-chain record of
 * skipped keys evicted under SOTTO_MAX_MESSAGE_KEYS. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "protocol/internal.h"

sotto_state *sotto_state_new(void)
{
    return calloc(1, sizeof(sotto_state));
}

void sotto_chain_wipe(sotto_recv_chain *c)
{
    if (c->keys != NULL) {
        sodium_memzero(c->keys, (size_t)c->cap_keys * sizeof *c->keys);
        free(c->keys);
    }
    sodium_memzero(c, sizeof *c);
}

void sotto_state_free(sotto_state *st)
{
    if (st == NULL)
        return;
    for (uint32_t i = 0; i < SOTTO_MAX_RECEIVER_CHAINS; i++)
        sotto_chain_wipe(&st->chains[i]);
    sotto_spqr_wipe(&st->spqr);
    sotto_spqr_braid_free(st->braid);
    sodium_memzero(st, sizeof *st);
    free(st);
}

sotto_err sotto_chain_reserve(sotto_recv_chain *c, uint32_t extra)
{
    uint64_t need = (uint64_t)c->n_keys + extra;
    if (need > SOTTO_MAX_MESSAGE_KEYS + (uint64_t)SOTTO_MAX_MESSAGE_KEYS)
        need = 2u * SOTTO_MAX_MESSAGE_KEYS;
    if (need <= c->cap_keys)
        return SOTTO_OK;
    uint64_t cap = c->cap_keys ? c->cap_keys : 16;
    while (cap < need)
        cap *= 2;
    sotto_skipped *k = malloc((size_t)cap * sizeof *k);
    if (k == NULL)
        return SOTTO_ERR_NO_MEMORY;
    if (c->n_keys)
        memcpy(k, c->keys, (size_t)c->n_keys * sizeof *k);
    if (c->keys != NULL) {
        sodium_memzero(c->keys, (size_t)c->cap_keys * sizeof *c->keys);
        free(c->keys);
    }
    c->keys = k;
    c->cap_keys = (uint32_t)cap;
    return SOTTO_OK;
}

void sotto_chain_note_evicted(sotto_recv_chain *c, uint32_t lo, uint32_t hi)
{
    /* Evictions come in ascending counter order, so they extend the last range
     * or start a new one above it. */
    if (c->n_evicted > 0) {
        sotto_range *last = &c->evicted[c->n_evicted - 1];
        if (lo <= (uint64_t)last->hi + 1) {
            if (hi > last->hi)
                last->hi = hi;
            return;
        }
    }
    if (c->n_evicted == SOTTO_EVICTED_RANGES_MAX) {
        /* Full: merge the two oldest ranges (the gap between them then reads
         * as evicted rather than as already used). */
        c->evicted[0].hi = c->evicted[1].hi;
        memmove(&c->evicted[1], &c->evicted[2], (SOTTO_EVICTED_RANGES_MAX - 2) * sizeof c->evicted[0]);
        c->n_evicted--;
    }
    c->evicted[c->n_evicted].lo = lo;
    c->evicted[c->n_evicted].hi = hi;
    c->n_evicted++;
}

int sotto_chain_was_evicted(const sotto_recv_chain *c, uint32_t counter)
{
    for (uint32_t i = 0; i < c->n_evicted; i++)
        if (counter >= c->evicted[i].lo && counter <= c->evicted[i].hi)
            return 1;
    return 0;
}
