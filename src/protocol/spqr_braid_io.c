/* Saved form of the SPQR v1 braid (ours; libsignal's protobuf is not needed
 * since states never cross between implementations). Version 1:
 *   u8 version
 *   scka: u8 state, u64 epoch, auth root 32, auth mac 32, dk 2400, hdr 64,
 *         es 64, ct1 960, ek 1152, u16 n + encoder, u16 n + decoder
 *   chain: u8 dir, u64 current_epoch, u64 send_epoch, next_root 32, u8 links,
 *         per link send then recv: u32 ctr, u8 has_next, next 32, u32 n_hist,
 *         n_hist * (u32 index, key 32)
 * All integers big-endian. Load checks every bound and leaves b zeroed on error. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "protocol/spqr_braid.h"

#define HIST_MAX (SOTTO_SPQR_BRAID_TRIM_SIZE + SOTTO_SPQR_BRAID_MAX_OOO)
#define DIR_FIXED (4 + 1 + 32 + 4)
#define HIST_ENTRY (4 + 32)

typedef struct {
    uint8_t *p;
    size_t n, at;
    int bad;
} cur;

static void put(cur *c, const void *src, size_t n)
{
    if (c->bad || c->n - c->at < n) {
        c->bad = 1;
        return;
    }
    memcpy(c->p + c->at, src, n);
    c->at += n;
}

static void put_uint(cur *c, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put(c, b, bytes);
}

static void get(cur *c, void *dst, size_t n)
{
    if (c->bad || c->n - c->at < n) {
        c->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, c->p + c->at, n);
    c->at += n;
}

static uint64_t get_uint(cur *c, unsigned bytes)
{
    uint8_t b[8];
    uint64_t v = 0;
    get(c, b, bytes);
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | b[i];
    return v;
}

static size_t saved_size(const sotto_spqr_braid *b)
{
    size_t n = 1 + 1 + 8 + 2 * SOTTO_SPQR_AUTH_KEY_BYTES + MLKEM768_DKBYTES + MLKEM768_HDRBYTES +
               MLKEM768_ESBYTES + MLKEM768_CT1BYTES + MLKEM768_EK_T_BYTES + 2 +
               SOTTO_SPQR_EC_ENC_SAVE_MAX + 2 + SOTTO_SPQR_EC_DEC_SAVE_MAX;
    n += 1 + 8 + 8 + 32 + 1;
    for (uint32_t i = 0; i < b->chain.n_links; i++)
        n += 2 * DIR_FIXED +
             HIST_ENTRY * ((size_t)b->chain.links[i].send.n_hist + b->chain.links[i].recv.n_hist);
    return n;
}

static void put_dir(cur *c, const sotto_spqr_chain_dir *d)
{
    put_uint(c, d->ctr, 4);
    put_uint(c, d->has_next, 1);
    put(c, d->next, 32);
    put_uint(c, d->n_hist, 4);
    for (uint32_t i = 0; i < d->n_hist; i++) {
        put_uint(c, d->hist[i].index, 4);
        put(c, d->hist[i].key, 32);
    }
}

sotto_err sotto_spqr_braid_save(const sotto_spqr_braid *b, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t cap = saved_size(b);
    cur c = { malloc(cap), cap, 0, 0 };
    if (c.p == NULL)
        return SOTTO_ERR_NO_MEMORY;
    const sotto_spqr_scka *s = &b->scka;
    uint8_t tmp[SOTTO_SPQR_EC_DEC_SAVE_MAX];
    put_uint(&c, SOTTO_SPQR_BRAID_SAVE_VERSION, 1);
    put_uint(&c, s->state, 1);
    put_uint(&c, s->epoch, 8);
    put(&c, s->auth.root, sizeof s->auth.root);
    put(&c, s->auth.mac, sizeof s->auth.mac);
    put(&c, s->dk, sizeof s->dk);
    put(&c, s->hdr, sizeof s->hdr);
    put(&c, s->es, sizeof s->es);
    put(&c, s->ct1, sizeof s->ct1);
    put(&c, s->ek, sizeof s->ek);
    size_t n = s->enc.len ? sotto_spqr_ec_encoder_save(&s->enc, tmp, sizeof tmp) : 0;
    put_uint(&c, n, 2);
    put(&c, tmp, n);
    n = s->dec.len ? sotto_spqr_ec_decoder_save(&s->dec, tmp, sizeof tmp) : 0;
    put_uint(&c, n, 2);
    put(&c, tmp, n);
    const sotto_spqr_chain *ch = &b->chain;
    put_uint(&c, ch->dir, 1);
    put_uint(&c, ch->current_epoch, 8);
    put_uint(&c, ch->send_epoch, 8);
    put(&c, ch->next_root, 32);
    put_uint(&c, ch->n_links, 1);
    for (uint32_t i = 0; i < ch->n_links; i++) {
        put_dir(&c, &ch->links[i].send);
        put_dir(&c, &ch->links[i].recv);
    }
    if (c.bad) {
        sodium_memzero(c.p, cap);
        free(c.p);
        return SOTTO_ERR_INVALID_STATE;
    }
    *out = c.p;
    *out_len = c.at;
    return SOTTO_OK;
}

static sotto_err get_dir(cur *c, sotto_spqr_chain_dir *d)
{
    d->ctr = (uint32_t)get_uint(c, 4);
    uint64_t has = get_uint(c, 1);
    get(c, d->next, 32);
    uint64_t n = get_uint(c, 4);
    if (c->bad || has > 1 || n > HIST_MAX || (c->n - c->at) / HIST_ENTRY < n)
        return SOTTO_ERR_INVALID_STATE;
    d->has_next = (uint8_t)has;
    if (n > 0) {
        d->hist = malloc((size_t)n * sizeof *d->hist);
        if (d->hist == NULL)
            return SOTTO_ERR_NO_MEMORY;
        d->cap_hist = (uint32_t)n;
    }
    for (uint32_t i = 0; i < n; i++) {
        d->hist[i].index = (uint32_t)get_uint(c, 4);
        get(c, d->hist[i].key, 32);
        if (d->hist[i].index >= d->ctr)
            c->bad = 1;
        d->n_hist = i + 1;
    }
    return c->bad ? SOTTO_ERR_INVALID_STATE : SOTTO_OK;
}

sotto_err sotto_spqr_braid_load(sotto_spqr_braid *b, const uint8_t *p, size_t n)
{
    cur c = { (uint8_t *)(uintptr_t)p, n, 0, 0 };
    sotto_err e = SOTTO_ERR_INVALID_STATE;
    memset(b, 0, sizeof *b);
    sotto_spqr_scka *s = &b->scka;
    if (get_uint(&c, 1) != SOTTO_SPQR_BRAID_SAVE_VERSION)
        goto out;
    uint64_t st = get_uint(&c, 1);
    s->epoch = get_uint(&c, 8);
    if (st >= SOTTO_BRAID_STATE_COUNT_ || s->epoch == 0)
        goto out;
    s->state = (uint8_t)st;
    get(&c, s->auth.root, sizeof s->auth.root);
    get(&c, s->auth.mac, sizeof s->auth.mac);
    get(&c, s->dk, sizeof s->dk);
    get(&c, s->hdr, sizeof s->hdr);
    get(&c, s->es, sizeof s->es);
    get(&c, s->ct1, sizeof s->ct1);
    get(&c, s->ek, sizeof s->ek);
    size_t len = (size_t)get_uint(&c, 2);
    if (c.bad || c.n - c.at < len ||
        (len > 0 && sotto_spqr_ec_encoder_load(&s->enc, c.p + c.at, len) != SOTTO_OK))
        goto out;
    c.at += len;
    len = (size_t)get_uint(&c, 2);
    if (c.bad || c.n - c.at < len ||
        (len > 0 && sotto_spqr_ec_decoder_load(&s->dec, c.p + c.at, len) != SOTTO_OK))
        goto out;
    c.at += len;
    sotto_spqr_chain *ch = &b->chain;
    uint64_t dir = get_uint(&c, 1);
    ch->current_epoch = get_uint(&c, 8);
    ch->send_epoch = get_uint(&c, 8);
    get(&c, ch->next_root, 32);
    uint64_t links = get_uint(&c, 1);
    if (c.bad || dir > SOTTO_SPQR_BRAID_DIR_B2A || links == 0 ||
        links > SOTTO_SPQR_BRAID_MAX_LINKS || ch->current_epoch < links - 1 ||
        ch->send_epoch > ch->current_epoch)
        goto out;
    ch->dir = (uint8_t)dir;
    for (uint32_t i = 0; i < links; i++) {
        ch->n_links = i + 1;
        if ((e = get_dir(&c, &ch->links[i].send)) != SOTTO_OK ||
            (e = get_dir(&c, &ch->links[i].recv)) != SOTTO_OK)
            goto out;
    }
    e = c.bad || c.at != c.n ? SOTTO_ERR_INVALID_STATE : SOTTO_OK;
out:
    if (e == SOTTO_OK && c.bad)
        e = SOTTO_ERR_INVALID_STATE;
    if (e != SOTTO_OK)
        sotto_spqr_braid_wipe(b);
    return e;
}
