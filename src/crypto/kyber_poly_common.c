/* Kyber1024 and ML-KEM-768: polynomials and vectors of polynomials:
 * serialisation, compression, message encoding, noise sampling and
 * arithmetic. Vector functions take the rank k of the parameter set.
 *
 * All of it runs on secret data except sotto_kyber_rej_uniform. Rounding
 * divisions by q are done by multiply-and-shift (div_q), never with `/`,
 * whose timing on many CPUs depends on the operands (KyberSlash). */
#include <sodium.h>
#include "crypto/kyber_poly_common.h"

/* floor(x / q) for x < 2^23, exact. With DIV_Q_MUL = ceil(2^48 / q) = (2^48 + e) / q,
 * 0 <= e < q: x * DIV_Q_MUL / 2^48 = x / q + x e / (q 2^48), and the error term
 * is below 2^23 / 2^48 = 2^-25 < 1/q, too small to carry the fraction of
 * x / q (at most 1 - 1/q) over an integer. One 64-bit multiply, no divide.
 * tests/unit/test_kyber1024.c checks every input the callers can produce. */
#define DIV_Q_SHIFT 48
#define DIV_Q_MUL   ((((uint64_t)1 << DIV_Q_SHIFT) + KYBER_Q - 1) / KYBER_Q)
static inline uint32_t div_q(uint32_t x)
{
    return (uint32_t)(((uint64_t)x * DIV_Q_MUL) >> DIV_Q_SHIFT);
}

/* a in (-q, q) to its representative in [0, q), without a branch. */
static inline uint32_t to_unsigned(int16_t a)
{
    int16_t m = (int16_t)(a >> 15); /* all ones when negative */
    return (uint32_t)(int32_t)(a + (m & KYBER_Q));
}

/* round(x * 2^d / q) mod 2^d, x in [0, q) */
static inline uint32_t compress_d(uint32_t x, unsigned d)
{
    return div_q((x << d) + KYBER_Q / 2) & ((1u << d) - 1);
}

/* round(y * q / 2^d), y < 2^d */
static inline int16_t decompress_d(uint32_t y, unsigned d)
{
    return (int16_t)((y * KYBER_Q + (1u << (d - 1))) >> d);
}

/* Bit packing, little-endian as the reference lays it out: 8 values of
 * 11 bits in 11 bytes, 4 values of 10 bits in 5 bytes, 8 values of d <= 8
 * bits in d bytes. The widths are public parameters. */
static inline void pack11(uint8_t r[11], const uint32_t t[8])
{
    r[0] = (uint8_t)t[0];
    r[1] = (uint8_t)((t[0] >> 8) | (t[1] << 3));
    r[2] = (uint8_t)((t[1] >> 5) | (t[2] << 6));
    r[3] = (uint8_t)(t[2] >> 2);
    r[4] = (uint8_t)((t[2] >> 10) | (t[3] << 1));
    r[5] = (uint8_t)((t[3] >> 7) | (t[4] << 4));
    r[6] = (uint8_t)((t[4] >> 4) | (t[5] << 7));
    r[7] = (uint8_t)(t[5] >> 1);
    r[8] = (uint8_t)((t[5] >> 9) | (t[6] << 2));
    r[9] = (uint8_t)((t[6] >> 6) | (t[7] << 5));
    r[10] = (uint8_t)(t[7] >> 3);
}

static inline void unpack11(uint32_t t[8], const uint8_t a[11])
{
    t[0] = ((uint32_t)a[0] | (uint32_t)a[1] << 8) & 0x7FF;
    t[1] = ((uint32_t)a[1] >> 3 | (uint32_t)a[2] << 5) & 0x7FF;
    t[2] = ((uint32_t)a[2] >> 6 | (uint32_t)a[3] << 2 | (uint32_t)a[4] << 10) & 0x7FF;
    t[3] = ((uint32_t)a[4] >> 1 | (uint32_t)a[5] << 7) & 0x7FF;
    t[4] = ((uint32_t)a[5] >> 4 | (uint32_t)a[6] << 4) & 0x7FF;
    t[5] = ((uint32_t)a[6] >> 7 | (uint32_t)a[7] << 1 | (uint32_t)a[8] << 9) & 0x7FF;
    t[6] = ((uint32_t)a[8] >> 2 | (uint32_t)a[9] << 6) & 0x7FF;
    t[7] = ((uint32_t)a[9] >> 5 | (uint32_t)a[10] << 3) & 0x7FF;
}

/* n values of d bits into n * d / 8 bytes through a 64-bit word (n * d <= 64). */
static inline void pack_word(uint8_t *r, const uint32_t *t, unsigned n, unsigned d)
{
    uint64_t v = 0;
    for (unsigned j = 0; j < n; j++)
        v |= (uint64_t)t[j] << (d * j);
    for (unsigned j = 0; j < n * d / 8; j++)
        r[j] = (uint8_t)(v >> (8 * j));
}

static inline void unpack_word(uint32_t *t, const uint8_t *a, unsigned n, unsigned d)
{
    uint64_t v = 0;
    for (unsigned j = 0; j < n * d / 8; j++)
        v |= (uint64_t)a[j] << (8 * j);
    for (unsigned j = 0; j < n; j++)
        t[j] = (uint32_t)(v >> (d * j)) & ((1u << d) - 1);
}

/* 8 values of d bits (d in 4, 5, 10, 11) into d bytes. */
static inline void pack8(uint8_t *r, const uint32_t t[8], unsigned d)
{
    if (d == 11) {
        pack11(r, t);
    } else if (d == 10) {
        pack_word(r, t, 4, 10);
        pack_word(r + 5, t + 4, 4, 10);
    } else {
        pack_word(r, t, 8, d);
    }
}

static inline void unpack8(uint32_t t[8], const uint8_t *a, unsigned d)
{
    if (d == 11) {
        unpack11(t, a);
    } else if (d == 10) {
        unpack_word(t, a, 4, 10);
        unpack_word(t + 4, a + 5, 4, 10);
    } else {
        unpack_word(t, a, 8, d);
    }
}

void sotto_kyber_poly_tobytes(uint8_t r[KYBER_POLYBYTES], const kyber_poly *a)
{
    for (unsigned i = 0; i < KYBER_N / 2; i++) {
        uint32_t t0 = to_unsigned(a->coeffs[2 * i]);
        uint32_t t1 = to_unsigned(a->coeffs[2 * i + 1]);
        r[3 * i + 0] = (uint8_t)t0;
        r[3 * i + 1] = (uint8_t)((t0 >> 8) | (t1 << 4));
        r[3 * i + 2] = (uint8_t)(t1 >> 4);
    }
}

/* No reduction: coefficients are 12-bit values, possibly >= q in a public
 * key from outside; the arithmetic below tolerates up to 2^12. */
void sotto_kyber_poly_frombytes(kyber_poly *r, const uint8_t a[KYBER_POLYBYTES])
{
    for (unsigned i = 0; i < KYBER_N / 2; i++) {
        uint32_t b0 = a[3 * i], b1 = a[3 * i + 1], b2 = a[3 * i + 2];
        r->coeffs[2 * i] = (int16_t)((b0 | (b1 << 8)) & 0xFFF);
        r->coeffs[2 * i + 1] = (int16_t)(((b1 >> 4) | (b2 << 4)) & 0xFFF);
    }
}

static void compress_poly(uint8_t *r, const kyber_poly *a, unsigned d)
{
    for (unsigned i = 0; i < KYBER_N / 8; i++) {
        uint32_t t[8];
        for (unsigned j = 0; j < 8; j++)
            t[j] = compress_d(to_unsigned(a->coeffs[8 * i + j]), d);
        pack8(r + d * i, t, d);
    }
}

static void decompress_poly(kyber_poly *r, const uint8_t *a, unsigned d)
{
    for (unsigned i = 0; i < KYBER_N / 8; i++) {
        uint32_t t[8];
        unpack8(t, a + d * i, d);
        for (unsigned j = 0; j < 8; j++)
            r->coeffs[8 * i + j] = decompress_d(t[j], d);
    }
}

void sotto_kyber_poly_compress(uint8_t *r, const kyber_poly *a, unsigned d)
{
    compress_poly(r, a, d);
}

void sotto_kyber_poly_decompress(kyber_poly *r, const uint8_t *a, unsigned d)
{
    decompress_poly(r, a, d);
}

void sotto_kyber_polyvec_compress(uint8_t *r, const kyber_polyvec *a, unsigned k, unsigned d)
{
    for (unsigned i = 0; i < k; i++)
        compress_poly(r + i * KYBER_POLYCOMPRESSED_D(d), &a->vec[i], d);
}

void sotto_kyber_polyvec_decompress(kyber_polyvec *r, const uint8_t *a, unsigned k, unsigned d)
{
    for (unsigned i = 0; i < k; i++)
        decompress_poly(&r->vec[i], a + i * KYBER_POLYCOMPRESSED_D(d), d);
}

/* Bit j of the message becomes 0 or (q+1)/2, selected with a mask. */
void sotto_kyber_poly_frommsg(kyber_poly *r, const uint8_t msg[KYBER_SYMBYTES])
{
    for (unsigned i = 0; i < KYBER_SYMBYTES; i++) {
        for (unsigned j = 0; j < 8; j++) {
            uint16_t mask = (uint16_t)(0u - (uint32_t)((msg[i] >> j) & 1));
            r->coeffs[8 * i + j] = (int16_t)(mask & ((KYBER_Q + 1) / 2));
        }
    }
}

/* Each coefficient back to the bit nearest to it: round(2x / q) mod 2. */
void sotto_kyber_poly_tomsg(uint8_t msg[KYBER_SYMBYTES], const kyber_poly *a)
{
    for (unsigned i = 0; i < KYBER_SYMBYTES; i++) {
        uint32_t byte = 0;
        for (unsigned j = 0; j < 8; j++)
            byte |= compress_d(to_unsigned(a->coeffs[8 * i + j]), 1) << j;
        msg[i] = (uint8_t)byte;
    }
}

/* Centred binomial distribution, eta = 2: each coefficient is
 * (b0 + b1) - (b2 + b3) over one nibble of buf (low nibble first), the
 * reference's layout. */
void sotto_kyber_poly_cbd_eta2(kyber_poly *r, const uint8_t buf[KYBER_NOISEBYTES])
{
    for (unsigned i = 0; i < KYBER_NOISEBYTES; i++) {
        uint32_t d = (buf[i] & 0x55u) + ((buf[i] >> 1) & 0x55u); /* four 2-bit sums */
        r->coeffs[2 * i] = (int16_t)((int32_t)(d & 3) - (int32_t)((d >> 2) & 3));
        r->coeffs[2 * i + 1] = (int16_t)((int32_t)((d >> 4) & 3) - (int32_t)((d >> 6) & 3));
    }
}

void sotto_kyber_poly_ntt(kyber_poly *r)
{
    sotto_kyber_ntt(r->coeffs);
    sotto_kyber_poly_reduce(r);
}

void sotto_kyber_poly_invntt_tomont(kyber_poly *r)
{
    sotto_kyber_invntt(r->coeffs);
}

void sotto_kyber_poly_tomont(kyber_poly *r)
{
    for (unsigned i = 0; i < KYBER_N; i++)
        r->coeffs[i] = kyber_montgomery_reduce((int32_t)r->coeffs[i] * KYBER_MONT2_MOD_Q);
}

void sotto_kyber_poly_reduce(kyber_poly *r)
{
    for (unsigned i = 0; i < KYBER_N; i++)
        r->coeffs[i] = kyber_barrett_reduce(r->coeffs[i]);
}

void sotto_kyber_poly_add(kyber_poly *r, const kyber_poly *a, const kyber_poly *b)
{
    for (unsigned i = 0; i < KYBER_N; i++)
        r->coeffs[i] = (int16_t)(a->coeffs[i] + b->coeffs[i]);
}

void sotto_kyber_poly_sub(kyber_poly *r, const kyber_poly *a, const kyber_poly *b)
{
    for (unsigned i = 0; i < KYBER_N; i++)
        r->coeffs[i] = (int16_t)(a->coeffs[i] - b->coeffs[i]);
}

void sotto_kyber_polyvec_tobytes(uint8_t *r, const kyber_polyvec *a, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_poly_tobytes(r + i * KYBER_POLYBYTES, &a->vec[i]);
}

void sotto_kyber_polyvec_frombytes(kyber_polyvec *r, const uint8_t *a, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_poly_frombytes(&r->vec[i], a + i * KYBER_POLYBYTES);
}

int sotto_kyber_polyvec_bytes_canonical(const uint8_t *a, unsigned k)
{
    unsigned bad = 0;
    for (size_t i = 0; i < KYBER_POLYVECBYTES_K(k); i += 3) {
        uint32_t b0 = a[i], b1 = a[i + 1], b2 = a[i + 2];
        bad |= ((b0 | (b1 << 8)) & 0xFFF) >= KYBER_Q;
        bad |= (((b1 >> 4) | (b2 << 4)) & 0xFFF) >= KYBER_Q;
    }
    return bad == 0;
}

void sotto_kyber_polyvec_ntt(kyber_polyvec *r, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_poly_ntt(&r->vec[i]);
}

void sotto_kyber_polyvec_invntt_tomont(kyber_polyvec *r, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_poly_invntt_tomont(&r->vec[i]);
}

void sotto_kyber_polyvec_reduce(kyber_polyvec *r, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_poly_reduce(&r->vec[i]);
}

void sotto_kyber_polyvec_add(kyber_polyvec *r, const kyber_polyvec *a, const kyber_polyvec *b,
                             unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        sotto_kyber_poly_add(&r->vec[i], &a->vec[i], &b->vec[i]);
}

/* Pair i of a polynomial in the NTT domain is a0 + a1 X mod X^2 - zeta_i,
 * with zeta_i = +-zetas[64 + i/2]; the product's constant term needs
 * b1 * zeta_i, cached here once per multiplicand. */
void sotto_kyber_polyvec_mulcache(kyber_polyvec_mulcache *c, const kyber_polyvec *b, unsigned k)
{
    for (unsigned e = 0; e < k; e++) {
        for (unsigned i = 0; i < KYBER_N / 4; i++) {
            int16_t zeta = sotto_kyber_zetas[64 + i];
            c->coeffs[e][2 * i] = kyber_fqmul(b->vec[e].coeffs[4 * i + 1], zeta);
            c->coeffs[e][2 * i + 1] = kyber_fqmul(b->vec[e].coeffs[4 * i + 3], (int16_t)-zeta);
        }
    }
}

/* (a0 + a1 X)(b0 + b1 X) mod X^2 - zeta = (a0 b0 + a1 b1 zeta) + (a0 b1 + a1 b0) X,
 * summed over the K entries in 32 bits and reduced once. Bound: |a| < 2^12,
 * |b| <= (q-1)/2, |b1 zeta| < q, so each sum stays below
 * K * 2^12 * (q-1)/2 * 3 < 2^15 q (K <= 4), the input range of kyber_montgomery_reduce.
 * Entry-major loops with constant trip counts let the compiler vectorise. */
void sotto_kyber_polyvec_basemul_acc_cached(kyber_poly *r, const kyber_polyvec *a,
                                            const kyber_polyvec *b,
                                            const kyber_polyvec_mulcache *c, unsigned k)
{
    int32_t r0[KYBER_N / 2] = { 0 }, r1[KYBER_N / 2] = { 0 };
    for (unsigned e = 0; e < k; e++) {
        const int16_t *x = a->vec[e].coeffs, *y = b->vec[e].coeffs, *yz = c->coeffs[e];
        for (unsigned i = 0; i < KYBER_N / 2; i++) {
            int32_t a0 = x[2 * i], a1 = x[2 * i + 1], b0 = y[2 * i], b1 = y[2 * i + 1];
            r0[i] += a0 * b0 + a1 * yz[i];
            r1[i] += a0 * b1 + a1 * b0;
        }
    }
    for (unsigned i = 0; i < KYBER_N / 2; i++) {
        r->coeffs[2 * i] = kyber_montgomery_reduce(r0[i]);
        r->coeffs[2 * i + 1] = kyber_montgomery_reduce(r1[i]);
    }
    sodium_memzero(r0, sizeof r0);
    sodium_memzero(r1, sizeof r1);
}

void sotto_kyber_polyvec_basemul_acc_montgomery(kyber_poly *r, const kyber_polyvec *a,
                                                const kyber_polyvec *b, unsigned k)
{
    kyber_polyvec_mulcache c;
    sotto_kyber_polyvec_mulcache(&c, b, k);
    sotto_kyber_polyvec_basemul_acc_cached(r, a, b, &c, k);
    sodium_memzero(&c, sizeof c);
}

/* The reference's sampler, with the accept test turned into an increment
 * while two slots are free (every value is stored, a rejected one is then
 * overwritten): ~19% of candidates are rejected at random, which would
 * otherwise mispredict a branch each time. Public data only. */
unsigned sotto_kyber_rej_uniform(int16_t *r, unsigned len, const uint8_t *buf, size_t buflen)
{
    unsigned ctr = 0;
    size_t pos = 0;
    while (ctr + 2 <= len && pos + 3 <= buflen) {
        uint16_t v0 = (uint16_t)((buf[pos] | (buf[pos + 1] << 8)) & 0xFFF);
        uint16_t v1 = (uint16_t)(((buf[pos + 1] >> 4) | (buf[pos + 2] << 4)) & 0xFFF);
        pos += 3;
        r[ctr] = (int16_t)v0;
        ctr += v0 < KYBER_Q;
        r[ctr] = (int16_t)v1;
        ctr += v1 < KYBER_Q;
    }
    while (ctr < len && pos + 3 <= buflen) {
        uint16_t v0 = (uint16_t)((buf[pos] | (buf[pos + 1] << 8)) & 0xFFF);
        uint16_t v1 = (uint16_t)(((buf[pos + 1] >> 4) | (buf[pos + 2] << 4)) & 0xFFF);
        pos += 3;
        if (v0 < KYBER_Q)
            r[ctr++] = (int16_t)v0;
        if (ctr < len && v1 < KYBER_Q)
            r[ctr++] = (int16_t)v1;
    }
    return ctr;
}
