/* SPQR v1 erasure code over GF(2^16) (see spqr_erasure.h). */
#include <pthread.h>
#include <string.h>
#include "protocol/spqr_erasure.h"

#define GF16_POLY 0x1100Bu /* x^16 + x^12 + x^3 + x + 1 */

/* Log / antilog tables (x = 2 generates the multiplicative group of order
 * 65535), built once. Table lookups index on the operands, which is fine
 * here: everything this code encodes or decodes goes on the wire (see the
 * header). */
#define GF16_ORDER 65535u
static uint16_t gf_log[1u << 16];
static uint16_t gf_exp[2 * GF16_ORDER];
static pthread_once_t gf_once = PTHREAD_ONCE_INIT;

static void gf_tables(void)
{
    uint32_t x = 1;
    for (uint32_t i = 0; i < GF16_ORDER; i++) {
        gf_exp[i] = gf_exp[i + GF16_ORDER] = (uint16_t)x;
        gf_log[x] = (uint16_t)i;
        x <<= 1;
        if (x & 0x10000u)
            x ^= GF16_POLY;
    }
}

uint16_t sotto_gf16_mul(uint16_t a, uint16_t b)
{
    if (a == 0 || b == 0)
        return 0;
    pthread_once(&gf_once, gf_tables);
    return gf_exp[(uint32_t)gf_log[a] + gf_log[b]];
}

/* a^-1 = x^(65535 - log a), and 0 for 0. */
uint16_t sotto_gf16_inv(uint16_t a)
{
    if (a == 0)
        return 0;
    pthread_once(&gf_once, gf_tables);
    return gf_exp[GF16_ORDER - gf_log[a]];
}

/* Points that polynomial p carries for a message of `words` words. */
static unsigned points_for(unsigned words, unsigned p)
{
    return words / SOTTO_SPQR_EC_POLYS + (p < words % SOTTO_SPQR_EC_POLYS ? 1u : 0u);
}

static uint16_t horner(const uint16_t *coef, unsigned n, uint16_t x)
{
    uint16_t r = 0;
    for (unsigned k = n; k-- > 0;)
        r = (uint16_t)(sotto_gf16_mul(r, x) ^ coef[k]);
    return r;
}

/* coef[0..n) of the polynomial of degree < n through (xs[j], ys[j]), the xs
 * distinct: sum over j of ys[j] * M(X) / ((X - xs[j]) M'(xs[j])), with
 * M = prod (X - xs[m]). Characteristic 2: minus is plus. */
static void interpolate(uint16_t *coef, const uint16_t *xs, const uint16_t *ys, unsigned n)
{
    uint16_t m[SOTTO_SPQR_EC_MAX_HELD + 1], q[SOTTO_SPQR_EC_MAX_HELD];
    memset(coef, 0, n * sizeof *coef);
    if (n == 0)
        return;
    memset(m, 0, sizeof m);
    m[0] = 1;
    for (unsigned j = 0; j < n; j++) { /* m *= (X + xs[j]) */
        for (unsigned k = j + 1; k > 0; k--)
            m[k] = (uint16_t)(m[k - 1] ^ sotto_gf16_mul(m[k], xs[j]));
        m[0] = sotto_gf16_mul(m[0], xs[j]);
    }
    for (unsigned j = 0; j < n; j++) {
        q[n - 1] = m[n]; /* q = m / (X + xs[j]) */
        for (unsigned k = n - 1; k > 0; k--)
            q[k - 1] = (uint16_t)(m[k] ^ sotto_gf16_mul(xs[j], q[k]));
        uint16_t s = sotto_gf16_mul(ys[j], sotto_gf16_inv(horner(q, n, xs[j])));
        for (unsigned k = 0; k < n; k++)
            coef[k] ^= sotto_gf16_mul(s, q[k]);
    }
}

/* ---- encoder ---- */

sotto_err sotto_spqr_ec_encoder_init(sotto_spqr_ec_encoder *e, const uint8_t *msg, size_t len)
{
    memset(e, 0, sizeof *e);
    if (len < 2 || len % 2 != 0 || len > SOTTO_SPQR_EC_MAX_BYTES)
        return SOTTO_ERR_INVALID_ARGUMENT;
    e->len = (uint16_t)len;
    for (size_t i = 0; i < len / 2; i++)
        e->words[i] = (uint16_t)(msg[2 * i] << 8 | msg[2 * i + 1]);
    return SOTTO_OK;
}

static void encoder_coef(sotto_spqr_ec_encoder *e)
{
    uint16_t xs[SOTTO_SPQR_EC_MAX_POINTS], ys[SOTTO_SPQR_EC_MAX_POINTS];
    unsigned words = e->len / 2u;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++) {
        unsigned n = points_for(words, p);
        for (unsigned j = 0; j < n; j++) {
            xs[j] = (uint16_t)j;
            ys[j] = e->words[j * SOTTO_SPQR_EC_POLYS + p];
        }
        interpolate(e->coef[p], xs, ys, n);
    }
    e->have_coef = 1;
}

/* Chunk idx from the words and, past the systematic chunks, the cached coef. */
static void chunk_eval(const sotto_spqr_ec_encoder *e, uint16_t idx,
                       uint8_t out[SOTTO_SPQR_EC_CHUNK_BYTES])
{
    unsigned words = e->len / 2u;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++) {
        unsigned n = points_for(words, p);
        uint16_t v;
        if (idx < n)
            v = e->words[(unsigned)idx * SOTTO_SPQR_EC_POLYS + p];
        else
            v = horner(e->coef[p], n, idx);
        out[2 * p] = (uint8_t)(v >> 8);
        out[2 * p + 1] = (uint8_t)v;
    }
}

/* Some polynomial has no point of its own at idx (the last has the fewest). */
static int needs_coef(const sotto_spqr_ec_encoder *e, uint16_t idx)
{
    return idx >= points_for(e->len / 2u, SOTTO_SPQR_EC_POLYS - 1);
}

void sotto_spqr_ec_chunk_at(sotto_spqr_ec_encoder *e, uint16_t idx,
                            uint8_t out[SOTTO_SPQR_EC_CHUNK_BYTES])
{
    if (!e->have_coef && needs_coef(e, idx))
        encoder_coef(e);
    chunk_eval(e, idx, out);
}

int sotto_spqr_ec_chunk_peek(const sotto_spqr_ec_encoder *e, uint16_t idx,
                             uint8_t out[SOTTO_SPQR_EC_CHUNK_BYTES])
{
    if (!e->have_coef && needs_coef(e, idx))
        return 0;
    chunk_eval(e, idx, out);
    return 1;
}

uint16_t sotto_spqr_ec_next_chunk(sotto_spqr_ec_encoder *e, uint8_t out[SOTTO_SPQR_EC_CHUNK_BYTES])
{
    uint16_t idx = (uint16_t)e->next;
    sotto_spqr_ec_chunk_at(e, idx, out);
    e->next++;
    return idx;
}

/* ---- decoder ---- */

sotto_err sotto_spqr_ec_decoder_init(sotto_spqr_ec_decoder *d, size_t len)
{
    memset(d, 0, sizeof *d);
    if (len < 2 || len % 2 != 0 || len > SOTTO_SPQR_EC_MAX_BYTES)
        return SOTTO_ERR_INVALID_ARGUMENT;
    d->len = (uint16_t)len;
    return SOTTO_OK;
}

/* Inserts (x, y) in ascending order of x unless x is already held. */
static void insert_point(sotto_spqr_ec_decoder *d, unsigned p, uint16_t x, uint16_t y)
{
    unsigned n = d->n[p], at = 0;
    while (at < n && d->x[p][at] < x)
        at++;
    if ((at < n && d->x[p][at] == x) || n >= SOTTO_SPQR_EC_MAX_HELD)
        return;
    memmove(&d->x[p][at + 1], &d->x[p][at], (n - at) * sizeof d->x[p][0]);
    memmove(&d->y[p][at + 1], &d->y[p][at], (n - at) * sizeof d->y[p][0]);
    d->x[p][at] = x;
    d->y[p][at] = y;
    d->n[p] = (uint8_t)(n + 1);
}

/* PolyDecoder::add_chunk: a point is kept when it is one of the message's
 * own (x below the count needed) or while the polynomial still lacks points. */
void sotto_spqr_ec_add_chunk(sotto_spqr_ec_decoder *d, uint16_t idx,
                             const uint8_t data[SOTTO_SPQR_EC_CHUNK_BYTES])
{
    unsigned words = d->len / 2u;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++) {
        unsigned need = points_for(words, p);
        if (idx < need || d->n[p] < need)
            insert_point(d, p, idx, (uint16_t)(data[2 * p] << 8 | data[2 * p + 1]));
    }
}

int sotto_spqr_ec_decoded(const sotto_spqr_ec_decoder *d, uint8_t *out, size_t out_cap)
{
    unsigned words = d->len / 2u;
    uint16_t coef[SOTTO_SPQR_EC_MAX_POINTS];
    if (d->len == 0 || out_cap < d->len)
        return 0;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++)
        if (d->n[p] < points_for(words, p))
            return 0;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++) {
        unsigned need = points_for(words, p), have_coef = 0, j = 0;
        for (unsigned x = 0; x < need; x++) {
            uint16_t v;
            while (j < d->n[p] && d->x[p][j] < x)
                j++;
            if (j < d->n[p] && d->x[p][j] == x) {
                v = d->y[p][j];
            } else {
                if (!have_coef) { /* from the `need` lowest points, as the reference */
                    interpolate(coef, d->x[p], d->y[p], need);
                    have_coef = 1;
                }
                v = horner(coef, need, (uint16_t)x);
            }
            size_t w = (size_t)x * SOTTO_SPQR_EC_POLYS + p;
            out[2 * w] = (uint8_t)(v >> 8);
            out[2 * w + 1] = (uint8_t)v;
        }
    }
    return 1;
}

/* ---- saved forms ---- */

size_t sotto_spqr_ec_encoder_save(const sotto_spqr_ec_encoder *e, uint8_t *out, size_t cap)
{
    size_t n = 6u + e->len;
    if (cap < n)
        return 0;
    out[0] = (uint8_t)(e->len >> 8);
    out[1] = (uint8_t)e->len;
    for (unsigned i = 0; i < 4; i++)
        out[2 + i] = (uint8_t)(e->next >> (24 - 8 * i));
    for (unsigned i = 0; i < e->len / 2u; i++) {
        out[6 + 2 * i] = (uint8_t)(e->words[i] >> 8);
        out[7 + 2 * i] = (uint8_t)e->words[i];
    }
    return n;
}

sotto_err sotto_spqr_ec_encoder_load(sotto_spqr_ec_encoder *e, const uint8_t *p, size_t n)
{
    memset(e, 0, sizeof *e);
    if (n < 6)
        return SOTTO_ERR_INVALID_STATE;
    size_t len = (size_t)p[0] << 8 | p[1];
    if (n != 6 + len || sotto_spqr_ec_encoder_init(e, p + 6, len) != SOTTO_OK) {
        memset(e, 0, sizeof *e);
        return SOTTO_ERR_INVALID_STATE;
    }
    e->next = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
    return SOTTO_OK;
}

size_t sotto_spqr_ec_decoder_save(const sotto_spqr_ec_decoder *d, uint8_t *out, size_t cap)
{
    size_t n = 2;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++)
        n += 1u + 4u * d->n[p];
    if (cap < n)
        return 0;
    size_t at = 0;
    out[at++] = (uint8_t)(d->len >> 8);
    out[at++] = (uint8_t)d->len;
    for (unsigned p = 0; p < SOTTO_SPQR_EC_POLYS; p++) {
        out[at++] = d->n[p];
        for (unsigned j = 0; j < d->n[p]; j++) {
            out[at++] = (uint8_t)(d->x[p][j] >> 8);
            out[at++] = (uint8_t)d->x[p][j];
            out[at++] = (uint8_t)(d->y[p][j] >> 8);
            out[at++] = (uint8_t)d->y[p][j];
        }
    }
    return at;
}

sotto_err sotto_spqr_ec_decoder_load(sotto_spqr_ec_decoder *d, const uint8_t *p, size_t n)
{
    size_t at = 2;
    if (n < 2 || sotto_spqr_ec_decoder_init(d, (size_t)p[0] << 8 | p[1]) != SOTTO_OK)
        goto bad;
    for (unsigned q = 0; q < SOTTO_SPQR_EC_POLYS; q++) {
        if (at >= n || p[at] > SOTTO_SPQR_EC_MAX_HELD)
            goto bad;
        unsigned cnt = p[at++];
        if (n - at < 4u * cnt)
            goto bad;
        for (unsigned j = 0; j < cnt; j++, at += 4) {
            uint16_t x = (uint16_t)(p[at] << 8 | p[at + 1]);
            if (j > 0 && x <= d->x[q][j - 1]) /* strictly ascending */
                goto bad;
            d->x[q][j] = x;
            d->y[q][j] = (uint16_t)(p[at + 2] << 8 | p[at + 3]);
        }
        d->n[q] = (uint8_t)cnt;
    }
    if (at != n)
        goto bad;
    return SOTTO_OK;
bad:
    memset(d, 0, sizeof *d);
    return SOTTO_ERR_INVALID_STATE;
}
