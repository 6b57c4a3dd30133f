/* Internal: FIPS 203 ML-KEM-768, constant time, on the lattice code shared
 * with Kyber1024 (kyber_poly_common.h); and libcrux's incremental form of it
 * as SPQR v1 sends it (signalapp/SparsePostQuantumRatchet
 * src/incremental_mlkem768.rs over libcrux-ml-kem 0.0.10 `incremental`):
 *
 *   ek (FIPS 203, 1184)  = t (1152) || rho (32)
 *   header (64)          = rho || H(ek)          libcrux pk1
 *   encapsulation key    = t (1152)              libcrux pk2
 *   dk (2400)            = s || ek || H(ek) || z (the FIPS 203 layout)
 *   ct (1088)            = ct1 (u, 960) || ct2 (v, 128)
 *
 * encaps1 needs only the header (it yields ct1 and the shared secret);
 * encaps2 then needs only t. The pair equals FIPS 203 Encaps(ek, m) with the
 * same m. Our encapsulation state is m || r-coins (64 bytes), enough to
 * redraw r and e2 for v; it is secret and never leaves this process except
 * inside a saved session.
 *
 * Hashes: G = SHA3-512, H = SHA3-256, J = SHAKE256(z || c, 32). OpenSSL
 * failures abort (see kyber_sym.c). Thread-safe. */
#ifndef SOTTO_CRYPTO_MLKEM768_H
#define SOTTO_CRYPTO_MLKEM768_H
#include <stdint.h>

#define MLKEM768_EKBYTES       1184
#define MLKEM768_DKBYTES       2400
#define MLKEM768_CTBYTES       1088
#define MLKEM768_SSBYTES       32
#define MLKEM768_KEYGEN_SEEDBYTES 64   /* d || z */
#define MLKEM768_ENC_SEEDBYTES 32      /* m */
#define MLKEM768_HDRBYTES      64      /* rho || H(ek) */
#define MLKEM768_EK_T_BYTES    1152    /* t alone: SPQR's "encapsulation key" */
#define MLKEM768_CT1BYTES      960
#define MLKEM768_CT2BYTES      128
#define MLKEM768_ESBYTES       64      /* our encapsulation state: m || r-coins */

/* FIPS 203 ML-KEM.KeyGen_internal(d, z), seed = d || z. */
void sotto_mlkem768_keypair_derand(uint8_t ek[MLKEM768_EKBYTES], uint8_t dk[MLKEM768_DKBYTES],
                                   const uint8_t seed[MLKEM768_KEYGEN_SEEDBYTES]);
/* FIPS 203 encapsulation-key check (every coefficient of t below q);
 * 0 when it passes, -1 otherwise. Public data. */
int sotto_mlkem768_check_ek(const uint8_t ek[MLKEM768_EKBYTES]);
/* ML-KEM.Encaps_internal(ek, m). -1 (outputs zeroed) when ek fails the check. */
int sotto_mlkem768_enc_derand(uint8_t ct[MLKEM768_CTBYTES], uint8_t ss[MLKEM768_SSBYTES],
                              const uint8_t ek[MLKEM768_EKBYTES],
                              const uint8_t m[MLKEM768_ENC_SEEDBYTES]);
/* ML-KEM.Decaps_internal, implicit rejection: a bad ciphertext yields
 * J(z || c), selected without a branch. */
void sotto_mlkem768_dec(uint8_t ss[MLKEM768_SSBYTES], const uint8_t ct[MLKEM768_CTBYTES],
                        const uint8_t dk[MLKEM768_DKBYTES]);

/* ---- incremental form ---- */
/* Header and t of a key pair, from dk (which holds ek and H(ek)). */
void sotto_mlkem768_dk_header(uint8_t hdr[MLKEM768_HDRBYTES], const uint8_t dk[MLKEM768_DKBYTES]);
void sotto_mlkem768_dk_ek_t(uint8_t t[MLKEM768_EK_T_BYTES], const uint8_t dk[MLKEM768_DKBYTES]);
/* 1 when t belongs to header (H(t || rho) == hash) and passes the FIPS 203
 * check; 0 otherwise. libcrux validate_pk_bytes. Public data. */
int sotto_mlkem768_ek_matches_header(const uint8_t t[MLKEM768_EK_T_BYTES],
                                     const uint8_t hdr[MLKEM768_HDRBYTES]);
/* ct1 and the shared secret from the header alone; m is the 32-byte
 * encapsulation randomness. */
void sotto_mlkem768_encaps1(uint8_t ct1[MLKEM768_CT1BYTES], uint8_t es[MLKEM768_ESBYTES],
                            uint8_t ss[MLKEM768_SSBYTES], const uint8_t hdr[MLKEM768_HDRBYTES],
                            const uint8_t m[MLKEM768_ENC_SEEDBYTES]);
/* ct2 from the state and t (which the caller checked with
 * sotto_mlkem768_ek_matches_header). */
void sotto_mlkem768_encaps2(uint8_t ct2[MLKEM768_CT2BYTES], const uint8_t es[MLKEM768_ESBYTES],
                            const uint8_t t[MLKEM768_EK_T_BYTES]);
void sotto_mlkem768_decaps_split(uint8_t ss[MLKEM768_SSBYTES],
                                 const uint8_t ct1[MLKEM768_CT1BYTES],
                                 const uint8_t ct2[MLKEM768_CT2BYTES],
                                 const uint8_t dk[MLKEM768_DKBYTES]);
#endif
