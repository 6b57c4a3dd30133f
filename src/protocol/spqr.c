/* The SPQR v1 symmetric chain, epoch 0 (see spqr.h). */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "crypto/primitives.h"
#include "protocol/spqr.h"

static const char INFO_START[] = "Signal PQ Ratchet V1 Chain  Start"; /* two spaces */
static const char INFO_NEXT[] = "Signal PQ Ratchet V1 Chain Next";
static const uint8_t ZERO_SALT[32];

sotto_err sotto_spqr_init(sotto_spqr *s, const uint8_t auth_key[SOTTO_SPQR_KEY_BYTES], int dir)
{
    uint8_t g[96];
    memset(s, 0, sizeof *s);
    if (dir != SOTTO_SPQR_A2B && dir != SOTTO_SPQR_B2A)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sotto_err e = sotto_hkdf_sha256(g, sizeof g, ZERO_SALT, sizeof ZERO_SALT, auth_key,
                                    SOTTO_SPQR_KEY_BYTES, (const uint8_t *)INFO_START,
                                    sizeof INFO_START - 1);
    if (e == SOTTO_OK) {
        /* g = next_root || A->B || B->A; next_root only matters for new epochs. */
        s->dir = (uint8_t)dir;
        memcpy(s->send_next, dir == SOTTO_SPQR_A2B ? g + 32 : g + 64, 32);
        memcpy(s->recv_next, dir == SOTTO_SPQR_A2B ? g + 64 : g + 32, 32);
    }
    sodium_memzero(g, sizeof g);
    return e;
}

void sotto_spqr_wipe(sotto_spqr *s)
{
    if (s->hist != NULL) {
        sodium_memzero(s->hist, (size_t)s->cap_hist * sizeof *s->hist);
        free(s->hist);
    }
    sodium_memzero(s, sizeof *s);
}

sotto_err sotto_spqr_next_key(uint8_t next[SOTTO_SPQR_KEY_BYTES], uint8_t key[SOTTO_SPQR_KEY_BYTES],
                              const uint8_t cur[SOTTO_SPQR_KEY_BYTES], uint32_t ctr)
{
    uint8_t info[4 + sizeof INFO_NEXT - 1];
    uint8_t g[64];
    info[0] = (uint8_t)(ctr >> 24);
    info[1] = (uint8_t)(ctr >> 16);
    info[2] = (uint8_t)(ctr >> 8);
    info[3] = (uint8_t)ctr;
    memcpy(info + 4, INFO_NEXT, sizeof INFO_NEXT - 1);
    sotto_err e = sotto_hkdf_sha256(g, sizeof g, ZERO_SALT, sizeof ZERO_SALT, cur,
                                    SOTTO_SPQR_KEY_BYTES, info, sizeof info);
    if (e == SOTTO_OK) {
        memcpy(next, g, 32);
        memcpy(key, g + 32, 32);
    }
    sodium_memzero(g, sizeof g);
    return e;
}

/* ---- messages ------------------------------------------------------------ */

/* decode_varint as serialize.rs has it: up to 10 bytes, bits past 64 dropped,
 * non-minimal encodings accepted. */
static int get_varint(const uint8_t *p, size_t n, size_t *at, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *at;
    if (start >= n)
        return -1;
    size_t max = n - start < SOTTO_SPQR_VARINT_MAX ? n - start : SOTTO_SPQR_VARINT_MAX;
    for (size_t i = 0; i < max; i++) {
        uint8_t b = p[start + i];
        v |= (uint64_t)(b & 0x7f) << (i * 7); /* i <= 9: shift <= 63, high bits drop */
        if ((b & 0x80) == 0) {
            *at = start + i + 1;
            *out = v;
            return 0;
        }
    }
    return -1;
}

size_t sotto_spqr_put_varint(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}

sotto_err sotto_spqr_parse(sotto_spqr_msg *m, const uint8_t *p, size_t n)
{
    uint64_t epoch, index, chunk_index;
    size_t at = 1;
    memset(m, 0, sizeof *m);
    if (n == 0 || p[0] != SOTTO_SPQR_VERSION_V1)
        return SOTTO_ERR_PQ_RATCHET;
    m->version = p[0];
    if (get_varint(p, n, &at, &epoch) != 0 || epoch == 0)
        return SOTTO_ERR_PQ_RATCHET;
    if (get_varint(p, n, &at, &index) != 0 || index > UINT32_MAX)
        return SOTTO_ERR_PQ_RATCHET;
    if (at >= n || p[at] > SOTTO_SPQR_T_CT2)
        return SOTTO_ERR_PQ_RATCHET;
    m->epoch = epoch;
    m->index = (uint32_t)index;
    m->type = p[at++];
    if (m->type != SOTTO_SPQR_T_NONE && m->type != SOTTO_SPQR_T_CT1ACK) {
        if (get_varint(p, n, &at, &chunk_index) != 0)
            return SOTTO_ERR_PQ_RATCHET;
        if (n - at < SOTTO_SPQR_CHUNK_BYTES || chunk_index > SOTTO_SPQR_CHUNK_INDEX_MAX)
            return SOTTO_ERR_PQ_RATCHET;
        m->chunk_index = (uint16_t)chunk_index;
        m->chunk = p + at;
    }
    /* Trailing bytes are allowed (room for future versions). */
    return SOTTO_OK;
}

/* ---- send ---------------------------------------------------------------- */

sotto_err sotto_spqr_send_plan_make(const sotto_spqr *s, sotto_spqr_send_plan *p)
{
    memset(p, 0, sizeof *p);
    if (s->send_ctr == UINT32_MAX)
        return SOTTO_ERR_PQ_RATCHET;
    p->index = s->send_ctr + 1;
    sotto_err e = sotto_spqr_next_key(p->next, p->key, s->send_next, p->index);
    if (e != SOTTO_OK)
        return e;
    /* version 1 || varint epoch 1 || varint index || type None */
    size_t n = 0;
    p->msg[n++] = SOTTO_SPQR_VERSION_V1;
    n += sotto_spqr_put_varint(p->msg + n, 1);
    n += sotto_spqr_put_varint(p->msg + n, p->index);
    p->msg[n++] = SOTTO_SPQR_T_NONE;
    p->msg_len = n;
    return SOTTO_OK;
}

void sotto_spqr_send_commit(sotto_spqr *s, const sotto_spqr_send_plan *p)
{
    s->send_ctr = p->index;
    memcpy(s->send_next, p->next, sizeof s->send_next);
}

/* ---- receive ------------------------------------------------------------- */

static sotto_err reserve_hist(sotto_spqr *s, uint32_t extra)
{
    uint64_t need = (uint64_t)s->n_hist + extra;
    if (need <= s->cap_hist)
        return SOTTO_OK;
    uint64_t cap = s->cap_hist ? s->cap_hist : 16;
    while (cap < need)
        cap *= 2;
    sotto_spqr_entry *h = malloc((size_t)cap * sizeof *h);
    if (h == NULL)
        return SOTTO_ERR_NO_MEMORY;
    if (s->n_hist)
        memcpy(h, s->hist, (size_t)s->n_hist * sizeof *h);
    if (s->hist != NULL) {
        if (s->cap_hist > 0)
            sodium_memzero(s->hist, (size_t)s->cap_hist * sizeof *s->hist);
        free(s->hist);
    }
    s->hist = h;
    s->cap_hist = (uint32_t)cap;
    return SOTTO_OK;
}

void sotto_spqr_recv_plan_free(sotto_spqr_recv_plan *p)
{
    if (p->fresh != NULL) {
        sodium_memzero(p->fresh, (size_t)p->n_fresh * sizeof *p->fresh);
        free(p->fresh);
    }
    sodium_memzero(p, sizeof *p);
}

sotto_err sotto_spqr_recv_plan_make(sotto_spqr *s, const uint8_t *msg, size_t len,
                                    sotto_spqr_recv_plan *p)
{
    sotto_spqr_msg m;
    sotto_err e;
    memset(p, 0, sizeof *p);
    /* Version negotiation (lib.rs recv): an empty payload is version 0, below
     * our minimum; a version above ours is ignored (no key, no change). */
    if (len == 0 || msg[0] == 0)
        return SOTTO_ERR_PQ_RATCHET;
    if (msg[0] > SOTTO_SPQR_VERSION_V1)
        return SOTTO_OK;
    if ((e = sotto_spqr_parse(&m, msg, len)) != SOTTO_OK)
        return e;
    /* Our v1 state never leaves epoch 1: a later epoch is out of range. */
    if (m.epoch > 1)
        return SOTTO_ERR_PQ_RATCHET;
    if (m.index == 0)
        return SOTTO_OK; /* msg_key_epoch 0 and index 0: no key */

    uint32_t at = m.index, ctr = s->recv_ctr;
    if (at < ctr) {
        if ((uint64_t)at + SOTTO_SPQR_MAX_OOO_KEYS < ctr)
            return SOTTO_ERR_KEY_NO_LONGER_HELD;
        for (uint32_t i = 0; i < s->n_hist; i++) {
            if (s->hist[i].index == at) {
                p->kind = 1;
                p->hist_pos = i;
                p->has_key = 1;
                memcpy(p->key, s->hist[i].key, SOTTO_SPQR_KEY_BYTES);
                return SOTTO_OK;
            }
        }
        return SOTTO_ERR_DUPLICATE_MESSAGE;
    }
    if (at == ctr)
        return SOTTO_ERR_DUPLICATE_MESSAGE;
    if (at - ctr > SOTTO_SPQR_MAX_JUMP)
        return SOTTO_ERR_TOO_FAR_AHEAD;

    p->kind = 2;
    p->clear_hist = (uint64_t)at > (uint64_t)ctr + SOTTO_SPQR_MAX_OOO_KEYS;
    /* Keys ctr+1 .. at-1 are skipped; those within max_ooo of at are kept. */
    uint32_t keep_from = at > SOTTO_SPQR_MAX_OOO_KEYS ? at - SOTTO_SPQR_MAX_OOO_KEYS : 0;
    if (keep_from < ctr + 1)
        keep_from = ctr + 1;
    uint32_t n_keep = at - keep_from;
    if (n_keep > 0) {
        p->fresh = malloc((size_t)n_keep * sizeof *p->fresh);
        if (p->fresh == NULL)
            return SOTTO_ERR_NO_MEMORY;
    }
    uint8_t cur[SOTTO_SPQR_KEY_BYTES], key[SOTTO_SPQR_KEY_BYTES];
    memcpy(cur, s->recv_next, sizeof cur);
    for (uint64_t c64 = (uint64_t)ctr + 1; c64 <= at && e == SOTTO_OK; c64++) {
        uint32_t c = (uint32_t)c64;
        e = sotto_spqr_next_key(cur, key, cur, c);
        if (e == SOTTO_OK && c < at && c >= keep_from) {
            p->fresh[p->n_fresh].index = c;
            memcpy(p->fresh[p->n_fresh].key, key, SOTTO_SPQR_KEY_BYTES);
            p->n_fresh++;
        }
    }
    if (e == SOTTO_OK) {
        p->new_ctr = at;
        memcpy(p->new_next, cur, sizeof cur);
        memcpy(p->key, key, sizeof key);
        p->has_key = 1;
        /* Reserve now so the commit cannot fail. */
        e = reserve_hist(s, p->n_fresh);
    }
    sodium_memzero(cur, sizeof cur);
    sodium_memzero(key, sizeof key);
    if (e != SOTTO_OK)
        sotto_spqr_recv_plan_free(p);
    return e;
}

static void hist_remove(sotto_spqr *s, uint32_t i)
{
    s->n_hist--;
    if (i != s->n_hist)
        s->hist[i] = s->hist[s->n_hist];
    sodium_memzero(&s->hist[s->n_hist], sizeof s->hist[0]);
}

void sotto_spqr_recv_commit(sotto_spqr *s, sotto_spqr_recv_plan *p)
{
    if (p->kind == 1) {
        hist_remove(s, p->hist_pos);
    } else if (p->kind == 2) {
        if (p->clear_hist && s->n_hist > 0) {
            sodium_memzero(s->hist, (size_t)s->n_hist * sizeof *s->hist);
            s->n_hist = 0;
        }
        if (p->n_fresh) {
            memcpy(s->hist + s->n_hist, p->fresh, (size_t)p->n_fresh * sizeof *p->fresh);
            s->n_hist += p->n_fresh;
        }
        s->recv_ctr = p->new_ctr;
        memcpy(s->recv_next, p->new_next, sizeof s->recv_next);
        /* gc (chain.rs KeyHistory::gc): once the history reaches the trim size,
         * drop keys older than ctr - max_ooo (they are unreachable anyway). */
        if (s->n_hist >= SOTTO_SPQR_TRIM_SIZE && s->recv_ctr - 1 >= SOTTO_SPQR_MAX_OOO_KEYS) {
            uint32_t horizon = s->recv_ctr - 1 - SOTTO_SPQR_MAX_OOO_KEYS;
            for (uint32_t i = 0; i < s->n_hist;) {
                if (s->hist[i].index < horizon)
                    hist_remove(s, i);
                else
                    i++;
            }
        }
    }
}
