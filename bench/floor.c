/* The primitive floor: each X25519, XEdDSA, Kyber, HKDF, HMAC and AES call a
 * figure needs, timed on its own with the primitives libsotto uses
 * (src/crypto/primitives.h, kyber1024.h, xeddsa.h), then summed. No protobuf
 * encoding, no state copies, no allocation: what is left when the protocol
 * costs nothing. docs/BENCH.md lists what each sum holds. */
#include <sodium.h>
#include <string.h>
#include "bench.h"
#include "crypto/kyber1024.h"
#include "crypto/primitives.h"
#include "crypto/xeddsa.h"

/* Sizes of what one message MACs and encrypts (approximate protobuf sizes:
 * ratchet key 35, counters 2 x 3, ciphertext 3 + body, pq_ratchet ~8). */
#define MAC_PREFIX_BYTES  (33 + 33 + 1)
#define PROTO_OVERHEAD    (35 + 6 + 3 + 8)
#define CT_1K_BYTES       1040 /* AES-CBC of 1024 bytes with PKCS#7 */
#define CT_SETUP_BYTES    48   /* AES-CBC of the 32-byte first message */
#define MAC_1K_BYTES      (MAC_PREFIX_BYTES + PROTO_OVERHEAD + CT_1K_BYTES)
#define MAC_SETUP_BYTES   (MAC_PREFIX_BYTES + PROTO_OVERHEAD + CT_SETUP_BYTES)
#define PQXDH_IKM_BYTES   (32 + 4 * 32 + 32) /* 0xFF*32, four DH, Kyber secret */

typedef enum prim {
    P_X25519_DH, P_X25519_KEYGEN, P_XEDDSA_VERIFY_SPK, P_XEDDSA_VERIFY_KYBER,
    P_KYBER_ENC, P_KYBER_DEC, P_HKDF_PQXDH, P_HKDF_ROOT, P_HKDF_SPQR_START, P_HKDF_SPQR_NEXT,
    P_HKDF_MSGKEYS, P_HMAC_CHAIN, P_HMAC_MAC_1K, P_HMAC_MAC_SETUP, P_AES_ENC_1K, P_AES_DEC_1K,
    P_AES_ENC_SETUP, P_AES_DEC_SETUP, P_COUNT_
} prim;

static const char *const prim_names[P_COUNT_] = {
    [P_X25519_DH] = "x25519_dh",
    [P_X25519_KEYGEN] = "x25519_keygen",
    [P_XEDDSA_VERIFY_SPK] = "xeddsa_verify_33B",
    [P_XEDDSA_VERIFY_KYBER] = "xeddsa_verify_1569B",
    [P_KYBER_ENC] = "kyber1024_enc",
    [P_KYBER_DEC] = "kyber1024_dec",
    [P_HKDF_PQXDH] = "hkdf_pqxdh_192to96",
    [P_HKDF_ROOT] = "hkdf_root_64",
    [P_HKDF_SPQR_START] = "hkdf_spqr_start_96",
    [P_HKDF_SPQR_NEXT] = "hkdf_spqr_next_64",
    [P_HKDF_MSGKEYS] = "hkdf_msgkeys_80",
    [P_HMAC_CHAIN] = "hmac_chain_step",
    [P_HMAC_MAC_1K] = "hmac_mac_1k",
    [P_HMAC_MAC_SETUP] = "hmac_mac_setup",
    [P_AES_ENC_1K] = "aes256cbc_enc_1k",
    [P_AES_DEC_1K] = "aes256cbc_dec_1k",
    [P_AES_ENC_SETUP] = "aes256cbc_enc_32B",
    [P_AES_DEC_SETUP] = "aes256cbc_dec_32B",
};

typedef struct fctx {
    prim p;
    uint8_t priv[32], pub[32], out[128];
    uint8_t salt[32], ikm[PQXDH_IKM_BYTES];
    uint8_t key[32], iv[16];
    uint8_t spk_msg[33], kyber_msg[1569], sig_spk[64], sig_kyber[64];
    uint8_t kpk[KYBER1024_PUBLICKEYBYTES], ksk[KYBER1024_SECRETKEYBYTES];
    uint8_t kct[KYBER1024_CIPHERTEXTBYTES], kss[32];
    uint8_t buf[2048], ct1k[CT_1K_BYTES], ct_setup[CT_SETUP_BYTES];
} fctx;

static const char info_pqxdh[] = "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024";
static const char info_root[] = "WhisperRatchet";
static const char info_msg[] = "WhisperMessageKeys";
static const char info_start[] = "Signal PQ Ratchet V1 Chain  Start";
static const char info_next[] = "\0\0\0\1Signal PQ Ratchet V1 Chain Next";

static int one(fctx *c)
{
    size_t n;
    static const uint8_t one_byte = 1;
    sotto_iov iov;
    switch (c->p) {
    case P_X25519_DH:
        return sotto_x25519(c->out, c->priv, c->pub) == SOTTO_OK ? 0 : -1;
    case P_X25519_KEYGEN:
        sotto_x25519_keypair(c->out, c->out + 32);
        return 0;
    case P_XEDDSA_VERIFY_SPK:
        return sotto_xeddsa_verify(c->pub, c->spk_msg, sizeof c->spk_msg, c->sig_spk);
    case P_XEDDSA_VERIFY_KYBER:
        return sotto_xeddsa_verify(c->pub, c->kyber_msg, sizeof c->kyber_msg, c->sig_kyber);
    case P_KYBER_ENC:
        sotto_kyber1024_enc(c->kct, c->kss, c->kpk);
        return 0;
    case P_KYBER_DEC:
        sotto_kyber1024_dec(c->out, c->kct, c->ksk);
        return 0;
    case P_HKDF_PQXDH:
        return sotto_hkdf_sha256(c->out, 96, NULL, 0, c->ikm, sizeof c->ikm,
                                 (const uint8_t *)info_pqxdh, sizeof info_pqxdh - 1) ? -1 : 0;
    case P_HKDF_ROOT:
        return sotto_hkdf_sha256(c->out, 64, c->salt, 32, c->ikm, 32,
                                 (const uint8_t *)info_root, sizeof info_root - 1) ? -1 : 0;
    case P_HKDF_SPQR_START:
        return sotto_hkdf_sha256(c->out, 96, c->salt, 32, c->ikm, 32,
                                 (const uint8_t *)info_start, sizeof info_start - 1) ? -1 : 0;
    case P_HKDF_SPQR_NEXT:
        return sotto_hkdf_sha256(c->out, 64, c->salt, 32, c->ikm, 32,
                                 (const uint8_t *)info_next, sizeof info_next - 1) ? -1 : 0;
    case P_HKDF_MSGKEYS:
        return sotto_hkdf_sha256(c->out, 80, c->salt, 32, c->ikm, 32,
                                 (const uint8_t *)info_msg, sizeof info_msg - 1) ? -1 : 0;
    case P_HMAC_CHAIN:
        iov = (sotto_iov){ &one_byte, 1 };
        return sotto_hmac_sha256(c->out, c->key, 32, &iov, 1) ? -1 : 0;
    case P_HMAC_MAC_1K:
        iov = (sotto_iov){ c->buf, MAC_1K_BYTES };
        return sotto_hmac_sha256(c->out, c->key, 32, &iov, 1) ? -1 : 0;
    case P_HMAC_MAC_SETUP:
        iov = (sotto_iov){ c->buf, MAC_SETUP_BYTES };
        return sotto_hmac_sha256(c->out, c->key, 32, &iov, 1) ? -1 : 0;
    case P_AES_ENC_1K:
        return sotto_aes256_cbc_encrypt(c->ct1k, sizeof c->ct1k, &n, c->key, c->iv, c->buf,
                                        BENCH_MSG_BYTES) ? -1 : 0;
    case P_AES_DEC_1K:
        return sotto_aes256_cbc_decrypt(c->buf, sizeof c->buf, &n, c->key, c->iv, c->ct1k,
                                        sizeof c->ct1k) ? -1 : 0;
    case P_AES_ENC_SETUP:
        return sotto_aes256_cbc_encrypt(c->ct_setup, sizeof c->ct_setup, &n, c->key, c->iv,
                                        c->buf, BENCH_SETUP_MSG_BYTES) ? -1 : 0;
    case P_AES_DEC_SETUP:
        return sotto_aes256_cbc_decrypt(c->buf, sizeof c->buf, &n, c->key, c->iv, c->ct_setup,
                                        sizeof c->ct_setup) ? -1 : 0;
    case P_COUNT_:
        break;
    }
    return -1;
}

static uint64_t batch(void *ctx, unsigned n)
{
    fctx *c = ctx;
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++)
        if (one(c) != 0)
            return 0;
    return bench_now_ns() - t0;
}

/* Ops per batch for a primitive: aim at batches of similar length. */
static unsigned iters_for(prim p, const bench_cfg *cfg)
{
    unsigned base = cfg->iters[FIG_ENCRYPT];
    switch (p) {
    case P_X25519_DH: case P_X25519_KEYGEN: case P_XEDDSA_VERIFY_SPK:
    case P_XEDDSA_VERIFY_KYBER: case P_KYBER_ENC: case P_KYBER_DEC:
        return base / 10 ? base / 10 : 1;
    default:
        return base;
    }
}

static int fill(fctx *c)
{
    randombytes_buf(c->salt, sizeof c->salt);
    randombytes_buf(c->ikm, sizeof c->ikm);
    randombytes_buf(c->key, sizeof c->key);
    randombytes_buf(c->iv, sizeof c->iv);
    randombytes_buf(c->buf, sizeof c->buf);
    sotto_x25519_keypair(c->pub, c->priv);
    randombytes_buf(c->spk_msg, sizeof c->spk_msg);
    randombytes_buf(c->kyber_msg, sizeof c->kyber_msg);
    uint8_t z[64];
    randombytes_buf(z, sizeof z);
    sotto_xeddsa_sign(c->sig_spk, c->priv, c->spk_msg, sizeof c->spk_msg, z);
    sotto_xeddsa_sign(c->sig_kyber, c->priv, c->kyber_msg, sizeof c->kyber_msg, z);
    sotto_kyber1024_keypair(c->kpk, c->ksk);
    sotto_kyber1024_enc(c->kct, c->kss, c->kpk);
    size_t n;
    if (sotto_aes256_cbc_encrypt(c->ct1k, sizeof c->ct1k, &n, c->key, c->iv, c->buf,
                                 BENCH_MSG_BYTES) != SOTTO_OK ||
        sotto_aes256_cbc_encrypt(c->ct_setup, sizeof c->ct_setup, &n, c->key, c->iv, c->buf,
                                 BENCH_SETUP_MSG_BYTES) != SOTTO_OK)
        return -1;
    /* The signatures must verify, or the timing is of a reject path. */
    if (sotto_xeddsa_verify(c->pub, c->spk_msg, sizeof c->spk_msg, c->sig_spk) != 0 ||
        sotto_xeddsa_verify(c->pub, c->kyber_msg, sizeof c->kyber_msg, c->sig_kyber) != 0)
        return -1;
    return 0;
}

int bench_floor(const bench_cfg *cfg)
{
    static const char *impl = "floor";
    static fctx c;
    double t[P_COUNT_];
    if (sotto_init() != SOTTO_OK || fill(&c) != 0)
        return -1;
    for (int p = 0; p < P_COUNT_; p++) {
        c.p = (prim)p;
        t[p] = bench_measure(batch, &c, iters_for((prim)p, cfg), cfg->batches);
        if (t[p] < 0)
            return -1;
        bench_detail(impl, prim_names[p], t[p]);
    }
    /* One message, sender side: chain step (seed + next chain key), the SPQR
     * chain step, message keys, AES, MAC. The receiver does the same with
     * AES decryption (the MAC is recomputed and compared). */
    double sym = 2 * t[P_HMAC_CHAIN] + t[P_HKDF_SPQR_NEXT] + t[P_HKDF_MSGKEYS];
    double enc = sym + t[P_AES_ENC_1K] + t[P_HMAC_MAC_1K];
    double dec = sym + t[P_AES_DEC_1K] + t[P_HMAC_MAC_1K];
    /* A DH ratchet step on receipt of a new ratchet key: DH + root KDF for
     * the receiving chain, a new ratchet key pair, DH + root KDF for the
     * sending chain. */
    double step = t[P_X25519_KEYGEN] + 2 * t[P_X25519_DH] + 2 * t[P_HKDF_ROOT];
    /* Setup: Alice verifies both prekey signatures, makes her base key and
     * first ratchet key (2 keygen), 4 PQXDH DH + 1 ratchet DH, Kyber enc,
     * PQXDH HKDF, one root KDF, SPQR chain start; then her first message.
     * Bob: 4 PQXDH DH, Kyber dec, PQXDH HKDF, SPQR chain start, one ratchet
     * step as above (keygen + 2 DH + 2 root KDF); then the first message. */
    double setup = t[P_XEDDSA_VERIFY_SPK] + t[P_XEDDSA_VERIFY_KYBER] +
                   3 * t[P_X25519_KEYGEN] + 11 * t[P_X25519_DH] +
                   t[P_KYBER_ENC] + t[P_KYBER_DEC] + 2 * t[P_HKDF_PQXDH] +
                   3 * t[P_HKDF_ROOT] + 2 * t[P_HKDF_SPQR_START] +
                   2 * sym + t[P_AES_ENC_SETUP] + t[P_AES_DEC_SETUP] + 2 * t[P_HMAC_MAC_SETUP];
    const double sums[FIG_COUNT_] = {
        [FIG_SETUP] = setup, [FIG_ENCRYPT] = enc, [FIG_DECRYPT] = dec,
        [FIG_PINGPONG] = enc + dec + step,
    };
    for (int f = 0; f < FIG_COUNT_; f++)
        if (bench_want(cfg, (bench_figure)f))
            bench_report((bench_figure)f, impl, sums[f]);
    sodium_memzero(&c, sizeof c);
    return 0;
}
