/* FIPS 203 ML-KEM-768: the ML-KEM Fujisaki-Okamoto transform on the shared
 * IND-CPA scheme (kyber_indcpa.c), and libcrux's incremental split of it.
 * Differences from round-3 Kyber (kyber1024_kem.c): G hashes d || k at key
 * generation, the encapsulation randomness m is used as is, the shared
 * secret is K itself, and implicit rejection returns J(z || c). */
#include <string.h>
#include <sodium.h>
#include "crypto/mlkem768.h"
#include "crypto/kyber_poly_common.h"

#define MLKEM768_K  3
#define MLKEM768_DU 10
#define MLKEM768_DV 4
#define T_BYTES     KYBER_POLYVECBYTES_K(MLKEM768_K)           /* 1152 */
/* dk = s (1152) || ek (1184) || H(ek) (32) || z (32) */
#define DK_EK_OFFSET  T_BYTES
#define DK_HEK_OFFSET (DK_EK_OFFSET + MLKEM768_EKBYTES)
#define DK_Z_OFFSET   (DK_HEK_OFFSET + KYBER_SYMBYTES)

_Static_assert(T_BYTES == MLKEM768_EK_T_BYTES, "t size");
_Static_assert(MLKEM768_EKBYTES == T_BYTES + KYBER_SYMBYTES, "ek size");
_Static_assert(MLKEM768_DKBYTES == DK_Z_OFFSET + KYBER_SYMBYTES, "dk size");
_Static_assert(MLKEM768_CT1BYTES == KYBER_POLYVECCOMPRESSED_KD(MLKEM768_K, MLKEM768_DU), "ct1");
_Static_assert(MLKEM768_CT2BYTES == KYBER_POLYCOMPRESSED_D(MLKEM768_DV), "ct2");
_Static_assert(MLKEM768_CTBYTES == MLKEM768_CT1BYTES + MLKEM768_CT2BYTES, "ct size");
_Static_assert(MLKEM768_HDRBYTES == 2 * KYBER_SYMBYTES, "header size");
_Static_assert(MLKEM768_ESBYTES == 2 * KYBER_SYMBYTES, "state size");

static const kyber_params params = { MLKEM768_K, MLKEM768_DU, MLKEM768_DV };

void sotto_mlkem768_keypair_derand(uint8_t ek[MLKEM768_EKBYTES], uint8_t dk[MLKEM768_DKBYTES],
                                   const uint8_t seed[MLKEM768_KEYGEN_SEEDBYTES])
{
    kyber_sym sym;
    uint8_t g_in[KYBER_SYMBYTES + 1];
    memcpy(g_in, seed, KYBER_SYMBYTES);
    g_in[KYBER_SYMBYTES] = MLKEM768_K; /* FIPS 203 domain separation: G(d || k) */
    sotto_kyber_sym_open(&sym);
    sotto_kyber_indcpa_keypair(&sym, &params, ek, dk, g_in, sizeof g_in);
    memcpy(dk + DK_EK_OFFSET, ek, MLKEM768_EKBYTES);
    sotto_kyber_hash_h(&sym, dk + DK_HEK_OFFSET, ek, MLKEM768_EKBYTES);
    memcpy(dk + DK_Z_OFFSET, seed + KYBER_SYMBYTES, KYBER_SYMBYTES);
    sotto_kyber_sym_close(&sym);
    sodium_memzero(g_in, sizeof g_in);
}

int sotto_mlkem768_check_ek(const uint8_t ek[MLKEM768_EKBYTES])
{
    return sotto_kyber_polyvec_bytes_canonical(ek, MLKEM768_K) ? 0 : -1;
}

int sotto_mlkem768_enc_derand(uint8_t ct[MLKEM768_CTBYTES], uint8_t ss[MLKEM768_SSBYTES],
                              const uint8_t ek[MLKEM768_EKBYTES],
                              const uint8_t m[MLKEM768_ENC_SEEDBYTES])
{
    memset(ct, 0, MLKEM768_CTBYTES);
    memset(ss, 0, MLKEM768_SSBYTES);
    if (sotto_mlkem768_check_ek(ek) != 0)
        return -1;
    kyber_sym sym;
    uint8_t kr[2 * KYBER_SYMBYTES];
    uint8_t h[KYBER_SYMBYTES];
    sotto_kyber_sym_open(&sym);
    sotto_kyber_hash_h(&sym, h, ek, MLKEM768_EKBYTES);
    sotto_kyber_hash_g(&sym, kr, m, KYBER_SYMBYTES, h, KYBER_SYMBYTES);
    sotto_kyber_indcpa_enc(&sym, &params, ct, m, ek, kr + KYBER_SYMBYTES);
    memcpy(ss, kr, KYBER_SYMBYTES);
    sotto_kyber_sym_close(&sym);
    sodium_memzero(kr, sizeof kr);
    return 0;
}

void sotto_mlkem768_dec(uint8_t ss[MLKEM768_SSBYTES], const uint8_t ct[MLKEM768_CTBYTES],
                        const uint8_t dk[MLKEM768_DKBYTES])
{
    kyber_sym sym;
    const uint8_t *ek = dk + DK_EK_OFFSET;
    uint8_t m[KYBER_SYMBYTES];
    uint8_t kr[2 * KYBER_SYMBYTES]; /* K' || r' */
    uint8_t kbar[KYBER_SYMBYTES];
    uint8_t cmp[MLKEM768_CTBYTES];

    /* ek and H(ek) inside dk are public. */
    KYBER_DECLASSIFY(ek, MLKEM768_EKBYTES + KYBER_SYMBYTES);

    sotto_kyber_sym_open(&sym);
    sotto_kyber_indcpa_dec(&params, m, ct, dk);
    sotto_kyber_hash_g(&sym, kr, m, KYBER_SYMBYTES, dk + DK_HEK_OFFSET, KYBER_SYMBYTES);
    sotto_kyber_kdf(&sym, kbar, dk + DK_Z_OFFSET, KYBER_SYMBYTES, ct, MLKEM768_CTBYTES);
    /* re-encrypt and compare, in constant time */
    sotto_kyber_indcpa_enc(&sym, &params, cmp, m, ek, kr + KYBER_SYMBYTES);
    uint8_t fail = sotto_kyber_ct_verify(ct, cmp, MLKEM768_CTBYTES);
    sotto_kyber_ct_cmov(kr, kbar, KYBER_SYMBYTES, fail);
    memcpy(ss, kr, KYBER_SYMBYTES);
    sotto_kyber_sym_close(&sym);

    sodium_memzero(m, sizeof m);
    sodium_memzero(kr, sizeof kr);
    sodium_memzero(kbar, sizeof kbar);
    sodium_memzero(cmp, sizeof cmp);
}

void sotto_mlkem768_dk_header(uint8_t hdr[MLKEM768_HDRBYTES], const uint8_t dk[MLKEM768_DKBYTES])
{
    memcpy(hdr, dk + DK_EK_OFFSET + T_BYTES, KYBER_SYMBYTES);
    memcpy(hdr + KYBER_SYMBYTES, dk + DK_HEK_OFFSET, KYBER_SYMBYTES);
}

void sotto_mlkem768_dk_ek_t(uint8_t t[MLKEM768_EK_T_BYTES], const uint8_t dk[MLKEM768_DKBYTES])
{
    memcpy(t, dk + DK_EK_OFFSET, T_BYTES);
}

int sotto_mlkem768_ek_matches_header(const uint8_t t[MLKEM768_EK_T_BYTES],
                                     const uint8_t hdr[MLKEM768_HDRBYTES])
{
    uint8_t h[KYBER_SYMBYTES];
    kyber_sym sym;
    if (!sotto_kyber_polyvec_bytes_canonical(t, MLKEM768_K))
        return 0;
    sotto_kyber_sym_open(&sym);
    /* H(t || rho): the two parts through one hash context */
    {
        uint8_t ek[MLKEM768_EKBYTES];
        memcpy(ek, t, T_BYTES);
        memcpy(ek + T_BYTES, hdr, KYBER_SYMBYTES);
        sotto_kyber_hash_h(&sym, h, ek, sizeof ek);
    }
    sotto_kyber_sym_close(&sym);
    return memcmp(h, hdr + KYBER_SYMBYTES, KYBER_SYMBYTES) == 0; /* public values */
}

void sotto_mlkem768_encaps1(uint8_t ct1[MLKEM768_CT1BYTES], uint8_t es[MLKEM768_ESBYTES],
                            uint8_t ss[MLKEM768_SSBYTES], const uint8_t hdr[MLKEM768_HDRBYTES],
                            const uint8_t m[MLKEM768_ENC_SEEDBYTES])
{
    kyber_sym sym;
    uint8_t kr[2 * KYBER_SYMBYTES];
    sotto_kyber_sym_open(&sym);
    sotto_kyber_hash_g(&sym, kr, m, KYBER_SYMBYTES, hdr + KYBER_SYMBYTES, KYBER_SYMBYTES);
    sotto_kyber_indcpa_enc_u(&sym, &params, ct1, hdr, kr + KYBER_SYMBYTES);
    sotto_kyber_sym_close(&sym);
    memcpy(ss, kr, KYBER_SYMBYTES);
    memcpy(es, m, KYBER_SYMBYTES);
    memcpy(es + KYBER_SYMBYTES, kr + KYBER_SYMBYTES, KYBER_SYMBYTES);
    sodium_memzero(kr, sizeof kr);
}

void sotto_mlkem768_encaps2(uint8_t ct2[MLKEM768_CT2BYTES], const uint8_t es[MLKEM768_ESBYTES],
                            const uint8_t t[MLKEM768_EK_T_BYTES])
{
    kyber_sym sym;
    sotto_kyber_sym_open(&sym);
    sotto_kyber_indcpa_enc_v(&sym, &params, ct2, es, t, es + KYBER_SYMBYTES);
    sotto_kyber_sym_close(&sym);
}

void sotto_mlkem768_decaps_split(uint8_t ss[MLKEM768_SSBYTES],
                                 const uint8_t ct1[MLKEM768_CT1BYTES],
                                 const uint8_t ct2[MLKEM768_CT2BYTES],
                                 const uint8_t dk[MLKEM768_DKBYTES])
{
    uint8_t ct[MLKEM768_CTBYTES];
    memcpy(ct, ct1, MLKEM768_CT1BYTES);
    memcpy(ct + MLKEM768_CT1BYTES, ct2, MLKEM768_CT2BYTES);
    sotto_mlkem768_dec(ss, ct, dk);
}
