/* The primitive floor: each X25519, XEdDSA, Kyber, ML-KEM-768, HKDF, HMAC
 * and AES call and each SPQR erasure-code chunk a figure needs, timed on its
 * own with the primitives libsotto uses (src/crypto/primitives.h,
 * kyber1024.h, mlkem768.h, xeddsa.h, src/protocol/spqr_erasure.h), then
 * summed. No protobuf
 * encoding, no state copies, no allocation: what is left when the protocol
 * costs nothing. docs/BENCH.md lists what each sum holds. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "crypto/kyber1024.h"
#include "crypto/mlkem768.h"
#include "crypto/primitives.h"
#include "crypto/xeddsa.h"
#include "protocol/spqr_erasure.h"

/* Sizes of what one message MACs and encrypts (approximate protobuf sizes:
 * ratchet key 35, counters 2 x 3, ciphertext 3 + body, pq_ratchet ~8). */
#define MAC_PREFIX_BYTES  (33 + 33 + 1)
#define PROTO_OVERHEAD    (35 + 6 + 3 + 8)
#define CT_1K_BYTES       1040 /* AES-CBC of 1024 bytes with PKCS#7 */
#define CT_SETUP_BYTES    48   /* AES-CBC of the 32-byte first message */
#define MAC_1K_BYTES      (MAC_PREFIX_BYTES + PROTO_OVERHEAD + CT_1K_BYTES)
#define MAC_SETUP_BYTES   (MAC_PREFIX_BYTES + PROTO_OVERHEAD + CT_SETUP_BYTES)
#define PQXDH_IKM_BYTES   (32 + 4 * 32 + 32) /* 0xFF*32, four DH, Kyber secret */
/* SPQR braid in the ping-pong: messages per epoch, as the epoch figure
 * measures it for both libsotto and libsignal-client (87: the header, ek,
 * ct1 and ct2 chunks, 3 + 36 + 30 + 5, interleaved with the turns that carry
 * acknowledgements). Each epoch's ML-KEM-768 keygen, encapsulation and
 * decapsulation are spread over them. */
#define FLOOR_MSGS_PER_EPOCH 87
/* The chunk figure cycles through an SPQR message of the largest size (t of
 * ML-KEM-768, 36 chunks), in order, as a ping-pong delivers them. */
#define FLOOR_EC_MSG_BYTES   SOTTO_SPQR_EC_MAX_BYTES
#define FLOOR_EC_CHUNKS      (FLOOR_EC_MSG_BYTES / SOTTO_SPQR_EC_CHUNK_BYTES)

typedef enum prim {
    P_X25519_DH, P_X25519_KEYGEN, P_XEDDSA_VERIFY_SPK, P_XEDDSA_VERIFY_KYBER,
    P_KYBER_ENC, P_KYBER_DEC, P_HKDF_PQXDH, P_HKDF_ROOT, P_HKDF_SPQR_START, P_HKDF_SPQR_NEXT,
    P_HKDF_MSGKEYS, P_HMAC_CHAIN, P_HMAC_MAC_1K, P_HMAC_MAC_SETUP, P_AES_ENC_1K, P_AES_DEC_1K,
    P_AES_ENC_SETUP, P_AES_DEC_SETUP, P_MLKEM768_KEYGEN, P_MLKEM768_ENC, P_MLKEM768_DEC,
    P_EC_CHUNK, P_COUNT_
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
    [P_MLKEM768_KEYGEN] = "mlkem768_keygen",
    [P_MLKEM768_ENC] = "mlkem768_enc",
    [P_MLKEM768_DEC] = "mlkem768_dec",
    [P_EC_CHUNK] = "spqr_chunk_1152B",
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
    uint8_t mseed[MLKEM768_KEYGEN_SEEDBYTES], mm[MLKEM768_ENC_SEEDBYTES];
    uint8_t mek[MLKEM768_EKBYTES], mdk[MLKEM768_DKBYTES], mct[MLKEM768_CTBYTES];
    uint8_t mss[MLKEM768_SSBYTES];
    sotto_spqr_ec_encoder ec_enc;
    sotto_spqr_ec_decoder ec_dec;
    unsigned ec_sent;              /* chunks of the current message sent */
    uint8_t ec_chunk[SOTTO_SPQR_EC_CHUNK_BYTES], ec_out[FLOOR_EC_MSG_BYTES];
} fctx;

static const char info_pqxdh[] = "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024";
static const char info_root[] = "WhisperRatchet";
static const char info_msg[] = "WhisperMessageKeys";
static const char info_start[] = "Signal PQ Ratchet V1 Chain  Start";
static const char info_next[] = "\0\0\0\1Signal PQ Ratchet V1 Chain Next";

/* One SPQR chunk sent and received: the next chunk of the encoder, added to
 * the decoder; a message's encoder and decoder set up before its first
 * chunk and decoded after its last (so their cost is spread over its
 * chunks). */
static int ec_chunk(fctx *c)
{
    if (c->ec_sent == 0 &&
        (sotto_spqr_ec_encoder_init(&c->ec_enc, c->buf, FLOOR_EC_MSG_BYTES) != SOTTO_OK ||
         sotto_spqr_ec_decoder_init(&c->ec_dec, FLOOR_EC_MSG_BYTES) != SOTTO_OK))
        return -1;
    uint16_t idx = sotto_spqr_ec_next_chunk(&c->ec_enc, c->ec_chunk);
    sotto_spqr_ec_add_chunk(&c->ec_dec, idx, c->ec_chunk);
    if (++c->ec_sent < FLOOR_EC_CHUNKS)
        return 0;
    c->ec_sent = 0;
    return sotto_spqr_ec_decoded(&c->ec_dec, c->ec_out, sizeof c->ec_out) == 1 ? 0 : -1;
}

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
    case P_MLKEM768_KEYGEN:
        sotto_mlkem768_keypair_derand(c->mek, c->mdk, c->mseed);
        return 0;
    case P_MLKEM768_ENC:
        return sotto_mlkem768_enc_derand(c->mct, c->mss, c->mek, c->mm);
    case P_MLKEM768_DEC:
        sotto_mlkem768_dec(c->out, c->mct, c->mdk);
        return 0;
    case P_EC_CHUNK:
        return ec_chunk(c);
    case P_COUNT_:
        break;
    }
    return -1;
}

/* Ops per batch for a primitive: aim at batches of similar length. */
static unsigned iters_for(prim p, const bench_cfg *cfg)
{
    unsigned base = cfg->iters[FIG_ENCRYPT];
    switch (p) {
    case P_X25519_DH: case P_X25519_KEYGEN: case P_XEDDSA_VERIFY_SPK:
    case P_XEDDSA_VERIFY_KYBER: case P_KYBER_ENC: case P_KYBER_DEC:
    case P_MLKEM768_KEYGEN: case P_MLKEM768_ENC: case P_MLKEM768_DEC:
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
    randombytes_buf(c->mseed, sizeof c->mseed);
    randombytes_buf(c->mm, sizeof c->mm);
    sotto_mlkem768_keypair_derand(c->mek, c->mdk, c->mseed);
    if (sotto_mlkem768_enc_derand(c->mct, c->mss, c->mek, c->mm) != 0)
        return -1;
    sotto_mlkem768_dec(c->out, c->mct, c->mdk);
    if (sodium_memcmp(c->out, c->mss, MLKEM768_SSBYTES) != 0)
        return -1;
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

static uint64_t batch(void *ctx, unsigned n)
{
    fctx *c = ctx;
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++)
        if (one(c) != 0)
            return 0;
    return bench_now_ns() - t0;
}

/* What each figure sums: (primitive, calls per op). One message, sender
 * side ("sym"): chain step (seed + next chain key), the SPQR chain step,
 * message keys; then AES and the MAC. The receiver does the same with AES
 * decryption (the MAC is recomputed and compared). A DH ratchet step on
 * receipt of a new ratchet key: DH + root KDF for the receiving chain, a new
 * ratchet key pair, DH + root KDF for the sending chain. Setup: Alice
 * verifies both prekey signatures, makes her base key and first ratchet key
 * (2 key pairs), 4 PQXDH DH + 1 ratchet DH, Kyber enc, the PQXDH HKDF, one
 * root KDF, the SPQR chain start, then her first message; Bob: 4 PQXDH DH,
 * Kyber dec, the PQXDH HKDF, the SPQR chain start, one ratchet step as
 * above, then the first message. Ping-pong, besides: the SPQR braid's
 * chunk work (one erasure-code chunk encoded and added per message) and
 * each epoch's ML-KEM-768 keygen + encapsulation + decapsulation divided by
 * the messages per epoch. docs/BENCH.md has the same table. */
typedef struct term { prim p; unsigned count, per; } term; /* count / per (0: 1) calls */
#define FLOOR_MAX_TERMS 16
static const term sums[FIG_COUNT_][FLOOR_MAX_TERMS] = {
    [FIG_ENCRYPT] = {
        { P_HMAC_CHAIN, 2 }, { P_HKDF_SPQR_NEXT, 1 }, { P_HKDF_MSGKEYS, 1 },
        { P_AES_ENC_1K, 1 }, { P_HMAC_MAC_1K, 1 },
    },
    [FIG_DECRYPT] = {
        { P_HMAC_CHAIN, 2 }, { P_HKDF_SPQR_NEXT, 1 }, { P_HKDF_MSGKEYS, 1 },
        { P_AES_DEC_1K, 1 }, { P_HMAC_MAC_1K, 1 },
    },
    [FIG_PINGPONG] = {
        { P_HMAC_CHAIN, 4 }, { P_HKDF_SPQR_NEXT, 2 }, { P_HKDF_MSGKEYS, 2 },
        { P_AES_ENC_1K, 1 }, { P_AES_DEC_1K, 1 }, { P_HMAC_MAC_1K, 2 },
        { P_X25519_KEYGEN, 1 }, { P_X25519_DH, 2 }, { P_HKDF_ROOT, 2 },
        /* the SPQR braid: one chunk per message; an epoch's KEM per 87 */
        { P_EC_CHUNK, 1, 0 }, { P_MLKEM768_KEYGEN, 1, FLOOR_MSGS_PER_EPOCH },
        { P_MLKEM768_ENC, 1, FLOOR_MSGS_PER_EPOCH }, { P_MLKEM768_DEC, 1, FLOOR_MSGS_PER_EPOCH },
    },
    [FIG_SETUP] = {
        { P_XEDDSA_VERIFY_SPK, 1 }, { P_XEDDSA_VERIFY_KYBER, 1 },
        { P_X25519_KEYGEN, 3 }, { P_X25519_DH, 11 }, { P_KYBER_ENC, 1 }, { P_KYBER_DEC, 1 },
        { P_HKDF_PQXDH, 2 }, { P_HKDF_ROOT, 3 }, { P_HKDF_SPQR_START, 2 },
        { P_HMAC_CHAIN, 4 }, { P_HKDF_SPQR_NEXT, 2 }, { P_HKDF_MSGKEYS, 2 },
        { P_AES_ENC_SETUP, 1 }, { P_AES_DEC_SETUP, 1 }, { P_HMAC_MAC_SETUP, 2 },
    },
};

/* n ops of a figure: each primitive timed on its own over n calls, weighted
 * by its count, summed. */
static uint64_t part_batch(void *ctx, bench_figure f, unsigned n)
{
    fctx *c = ctx;
    uint64_t total = 0;
    for (int i = 0; i < FLOOR_MAX_TERMS && sums[f][i].count; i++) {
        c->p = sums[f][i].p;
        uint64_t ns = batch(c, n);
        if (ns == 0)
            return 0;
        total += ns * sums[f][i].count / (sums[f][i].per ? sums[f][i].per : 1);
    }
    return total;
}

static int part_prepare(void *ctx, bench_figure f)
{
    (void)ctx;
    (void)f;
    return 0;
}

static void part_close(void *ctx)
{
    sodium_memzero(ctx, sizeof(fctx));
    free(ctx);
}

int bench_floor_open(bench_part *p, const bench_cfg *cfg)
{
    fctx *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    *p = (bench_part){ .impl = "floor", .ctx = c, .prepare = part_prepare,
                       .batch = part_batch, .close = part_close };
    if (sotto_init() != SOTTO_OK || fill(c) != 0) {
        fprintf(stderr, "sotto-bench: the floor failed to set up\n");
        part_close(c);
        return -1;
    }
    /* Every primitive's cost, for the record. */
    for (int i = 0; i < P_COUNT_; i++) {
        c->p = (prim)i;
        double us = bench_measure(batch, c, iters_for((prim)i, cfg), cfg->batches);
        if (us < 0) {
            fprintf(stderr, "sotto-bench: %s failed\n", prim_names[i]);
            part_close(c);
            return -1;
        }
        bench_detail("floor", prim_names[i], us);
    }
    return 0;
}
