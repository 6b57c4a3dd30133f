/* Kyber1024 and ML-KEM-768: the number-theoretic transform over Z_q[X]/(X^256 + 1), in
 * Montgomery arithmetic, with the layer order and output order of the round-3
 * reference (coefficients in bit-reversed order; the pointwise products of
 * coefficient pairs are in kyber_poly_common.c). Straight-line code: loop bounds and table indices
 * depend on positions only, never on coefficient values. */
#include "crypto/kyber_poly_common.h"

/* zetas[i] = 2^16 * 17^bitrev7(i) mod q, centred; 17 is a primitive 256th
 * root of unity mod 3329. tests/unit/test_kyber1024.c recomputes this table. */
const int16_t sotto_kyber_zetas[128] = {
    -1044, -758,  -359,  -1517, 1493,  1422,  287,   202,   -171,  622,   1577,  182,
    962,   -1202, -1474, 1468,  573,   -1325, 264,   383,   -829,  1458,  -1602, -130,
    -681,  1017,  732,   608,   -1542, 411,   -205,  -1571, 1223,  652,   -552,  1015,
    -1293, 1491,  -282,  -1544, 516,   -8,    -320,  -666,  -1618, -1162, 126,   1469,
    -853,  -90,   -271,  830,   107,   -1421, -247,  -951,  -398,  961,   -1508, -725,
    448,   -1065, 677,   -1275, -1103, 430,   555,   843,   -1251, 871,   1550,  105,
    422,   587,   177,   -235,  -291,  -460,  1574,  1653,  -246,  778,   1159,  -147,
    -777,  1483,  -602,  1119,  -1590, 644,   -872,  349,   418,   329,   -156,  -75,
    817,   1097,  603,   610,   1322,  -1285, -1465, 384,   -1215, -136,  1218,  -1335,
    -874,  220,   -1187, -1659, -1185, -1530, -1278, 794,   -1510, -854,  -870,  478,
    -108,  -308,  996,   991,   958,   -1460, 1522,  1628,
};

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* One layer of Cooley-Tukey butterflies with distance len, twiddles from
 * zetas[k]. Inlined with a constant len so the compiler can vectorise the
 * inner loop (GCC does at -O2 only when the trip count is known). */
static ALWAYS_INLINE void ntt_layer(int16_t r[KYBER_N], unsigned len, unsigned k)
{
    for (unsigned start = 0; start < KYBER_N; start += 2 * len) {
        int16_t zeta = sotto_kyber_zetas[k++];
        int16_t *lo = r + start, *hi = r + start + len;
        for (unsigned j = 0; j < len; j++) {
            int16_t t = kyber_fqmul(zeta, hi[j]);
            hi[j] = (int16_t)(lo[j] - t);
            lo[j] = (int16_t)(lo[j] + t);
        }
    }
}

/* Gentleman-Sande butterflies, twiddles from zetas[k] downwards. */
static ALWAYS_INLINE void invntt_layer(int16_t r[KYBER_N], unsigned len, unsigned k)
{
    for (unsigned start = 0; start < KYBER_N; start += 2 * len) {
        int16_t zeta = sotto_kyber_zetas[k--];
        int16_t *lo = r + start, *hi = r + start + len;
        for (unsigned j = 0; j < len; j++) {
            int16_t t = lo[j];
            lo[j] = kyber_barrett_reduce((int16_t)(t + hi[j]));
            hi[j] = kyber_fqmul(zeta, (int16_t)(hi[j] - t));
        }
    }
}

/* In place; input in standard order, output in bit-reversed order. Each
 * layer grows |coefficient| by at most q: callers reduce afterwards. */
void sotto_kyber_ntt(int16_t r[KYBER_N])
{
    ntt_layer(r, 128, 1);
    ntt_layer(r, 64, 2);
    ntt_layer(r, 32, 4);
    ntt_layer(r, 16, 8);
    ntt_layer(r, 8, 16);
    ntt_layer(r, 4, 32);
    ntt_layer(r, 2, 64);
}

/* In place; inverse of sotto_kyber_ntt, times 2^16 (the final scaling by
 * KYBER_INVNTT_F folds 1/128 with a move into Montgomery form). Output
 * coefficients are in (-q, q). */
void sotto_kyber_invntt(int16_t r[KYBER_N])
{
    invntt_layer(r, 2, 127);
    invntt_layer(r, 4, 63);
    invntt_layer(r, 8, 31);
    invntt_layer(r, 16, 15);
    invntt_layer(r, 32, 7);
    invntt_layer(r, 64, 3);
    invntt_layer(r, 128, 1);
    for (unsigned j = 0; j < KYBER_N; j++)
        r[j] = kyber_fqmul(r[j], KYBER_INVNTT_F);
}
