/* sotto-bench --layers: the layers above sessions (issue 4), libsotto
 * through its public API next to the primitive floor, in paired rounds:
 *     group_enc_1k, group_dec_1k   sender keys, 1 KiB
 *     seal_v1, unseal_v1           sealed sender v1, 1 KiB content
 *                                  (unseal includes certificate validation)
 *     seal_v2_10, seal_v2_100      sealed sender v2 sent form, 1 KiB content
 *     fingerprint                  version 2, 5,200 iterations per side
 * Lines: "<figure> <impl> <wall µs>", "cpu <figure> <impl> <CPU µs>" (process
 * CPU time: libsotto runs v2 and the fingerprint on threads, so its wall
 * time can be below its CPU time), "ratio <figure> floor <x>" (median of the
 * per-round wall ratios) and "cpuratio <figure> floor <x>".
 *
 * The floor: each signature, hash, DH, HKDF, HMAC and AES call the operation
 * needs, with the primitives libsotto uses, one after the other on one
 * thread; docs/BENCH.md lists what each sum holds. */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "crypto/gcm_siv.h"
#include "crypto/primitives.h"
#include "crypto/xeddsa.h"
#include "sotto/sotto.h"

#define L_MSG_BYTES       1024   /* group plaintext and sealed content */
#define L_CAP             8192   /* >= every 1 KiB group / v1 message */
#define L_MAX_RCPT        100
#define L_V2_CAP          (L_MSG_BYTES + 2048 + L_MAX_RCPT * 128)
#define L_NOW_MS          1700000000000ull
#define L_EXPIRES_MS      (L_NOW_MS + 86400000ull)
#define L_SERVER_KEY_ID   7
#define L_GROUP_SIGNED    1074   /* version byte + SenderKeyMessage protobuf of 1 KiB */
#define L_CERT_SIGNED     40     /* server certificate body: id + key */
#define L_FP_HASH_IN      (64 + SOTTO_EC_PUBLIC_BYTES)
#define L_FP_HASHES       (2 * SOTTO_FINGERPRINT_ITERATIONS)
#define L_ID_BYTES        16

typedef enum lfig_id {
    L_GROUP_ENC, L_GROUP_DEC, L_SEAL_V1, L_UNSEAL_V1, L_SEAL_V2_10, L_SEAL_V2_100,
    L_FINGERPRINT, L_COUNT_
} lfig_id;

static const char *const lfig_names[L_COUNT_] = {
    "group_enc_1k", "group_dec_1k", "seal_v1", "unseal_v1", "seal_v2_10", "seal_v2_100",
    "fingerprint",
};
static const unsigned lfig_iters[L_COUNT_] = { 2000, 2000, 1000, 1000, 100, 20, 20 };

typedef struct L {
    uint8_t msg[L_MSG_BYTES];
    uint8_t dist[SOTTO_DISTRIBUTION_ID_BYTES];
    sotto_sender_key_record *gs, *gs2, *gr; /* sender (enc), sender (dec), receiver */
    uint8_t *pending; size_t *pending_len; unsigned max_pending;
    uint8_t out[L_V2_CAP], pt[L_CAP];
    /* sealed */
    sotto_identity *sender, *recipient;
    uint8_t sender_pub[SOTTO_EC_PUBLIC_BYTES], recipient_pub[SOTTO_EC_PUBLIC_BYTES];
    uint8_t root_pub[SOTTO_EC_PUBLIC_BYTES], root_priv[SOTTO_EC_PRIVATE_BYTES];
    uint8_t cert[SOTTO_CERT_MAX_BYTES]; size_t cert_len;
    sotto_sealed_content content;
    uint8_t v1[L_CAP]; size_t v1_len;
    sotto_sealed_recipient rcpt[L_MAX_RCPT];
    /* fingerprint */
    uint8_t fp_id_a[L_ID_BYTES], fp_id_b[L_ID_BYTES];
    /* floor material */
    uint8_t priv[32], pub[32], key[32], iv[16], sig[64], random64[64];
    uint8_t signed_part[L_GROUP_SIGNED], ct1k[L_MSG_BYTES + 16];
    size_t usmc_len;
    EVP_MD_CTX *md;
    EVP_MD *sha512;
    void *lspc; /* libsignal-protocol-c (group, fingerprint), or NULL */
} L;

static uint64_t ns_of(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- libsotto ------------------------------------------------------------ */

static int ours_pre(L *l, lfig_id f, unsigned n)
{
    if (f != L_GROUP_DEC)
        return 0;
    if (n > l->max_pending)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (sotto_group_encrypt(l->gs2, l->dist, l->msg, sizeof l->msg, l->pending + (size_t)i * L_CAP,
                                L_CAP, &l->pending_len[i]) != SOTTO_OK)
            return -1;
    return 0;
}

static int ours_op(L *l, lfig_id f, unsigned i)
{
    size_t len = 0;
    sotto_unsealed info;
    switch (f) {
    case L_GROUP_ENC:
        return sotto_group_encrypt(l->gs, l->dist, l->msg, sizeof l->msg, l->out, L_CAP, &len) == SOTTO_OK
                   ? 0 : -1;
    case L_GROUP_DEC:
        return sotto_group_decrypt(l->gr, l->pending + (size_t)i * L_CAP, l->pending_len[i], l->pt,
                                   sizeof l->pt, &len) == SOTTO_OK && len == L_MSG_BYTES ? 0 : -1;
    case L_SEAL_V1:
        return sotto_sealed_v1_seal(l->sender, l->recipient_pub, &l->content, l->out, L_CAP, &len) ==
                   SOTTO_OK ? 0 : -1;
    case L_UNSEAL_V1:
        return sotto_sealed_open(l->recipient, l->root_pub, L_NOW_MS, l->v1, l->v1_len, l->pt,
                                 sizeof l->pt, &len, &info) == SOTTO_OK && len == L_MSG_BYTES ? 0 : -1;
    case L_SEAL_V2_10:
    case L_SEAL_V2_100:
        return sotto_sealed_v2_seal(l->sender, l->rcpt, f == L_SEAL_V2_10 ? 10 : 100, &l->content,
                                    l->out, sizeof l->out, &len) == SOTTO_OK ? 0 : -1;
    case L_FINGERPRINT: {
        sotto_fingerprint fp;
        return sotto_fingerprint_create(&fp, SOTTO_FINGERPRINT_VERSION, SOTTO_FINGERPRINT_ITERATIONS,
                                        l->fp_id_a, sizeof l->fp_id_a, l->sender_pub, l->fp_id_b,
                                        sizeof l->fp_id_b, l->recipient_pub) == SOTTO_OK ? 0 : -1;
    }
    case L_COUNT_: break;
    }
    return -1;
}

/* ---- libsignal-protocol-c ----------------------------------------------- */

/* Its API has the group and fingerprint figures only; -1: not this one. */
static int lspc_fig(lfig_id f)
{
    switch (f) {
    case L_GROUP_ENC: return BENCH_LSPC_GROUP_ENC;
    case L_GROUP_DEC: return BENCH_LSPC_GROUP_DEC;
    case L_FINGERPRINT: return BENCH_LSPC_FINGERPRINT;
    default: return -1;
    }
}

#ifdef BENCH_HAVE_LSPC
static int lspc_pre(L *l, lfig_id f, unsigned n)
{
    return bench_lspc_layers_pre(l->lspc, (bench_lspc_layer)lspc_fig(f), n);
}

static int lspc_op(L *l, lfig_id f, unsigned i)
{
    return bench_lspc_layers_op(l->lspc, (bench_lspc_layer)lspc_fig(f), i);
}
#endif

/* ---- the floor ----------------------------------------------------------- */

static int hkdf(L *l, size_t out_len, size_t salt_len, size_t ikm_len, size_t info_len)
{
    /* l->signed_part is only input material here (its size is enough). */
    return sotto_hkdf_sha256(l->out, out_len, salt_len ? l->signed_part : NULL, salt_len,
                             l->signed_part, ikm_len, l->signed_part, info_len) == SOTTO_OK ? 0 : -1;
}

static int hmac(L *l, size_t len)
{
    const sotto_iov part = { l->v1, len };
    return sotto_hmac_sha256(l->out, l->key, sizeof l->key, &part, 1) == SOTTO_OK ? 0 : -1;
}

static int ctr(L *l, size_t len)
{
    return sotto_aes256_ctr(l->pt, l->key, l->iv, l->v1, len) == SOTTO_OK ? 0 : -1;
}

static int dh(L *l)
{
    return sotto_x25519(l->out, l->priv, l->pub) == SOTTO_OK ? 0 : -1;
}

static int floor_op(L *l, lfig_id f, unsigned i)
{
    size_t n = 0;
    int r = 0;
    (void)i;
    switch (f) {
    case L_GROUP_ENC: /* chain step (2 HMAC), HKDF to IV || key, AES-CBC, XEdDSA sign */
    case L_GROUP_DEC: /* the same with AES-CBC decrypt and XEdDSA verify */
        r |= hmac(l, 1);
        r |= hmac(l, 1);
        r |= hkdf(l, 48, 0, 32, 12);
        if (f == L_GROUP_ENC) {
            r |= sotto_aes256_cbc_encrypt(l->pt, sizeof l->pt, &n, l->key, l->iv, l->msg,
                                          sizeof l->msg) != SOTTO_OK;
            r |= sotto_xeddsa_sign(l->sig, l->priv, l->signed_part, sizeof l->signed_part,
                                   l->random64) != 0;
        } else {
            r |= sotto_aes256_cbc_decrypt(l->pt, sizeof l->pt, &n, l->key, l->iv, l->ct1k,
                                          sizeof l->ct1k) != SOTTO_OK;
            r |= sotto_xeddsa_verify(l->pub, l->signed_part, sizeof l->signed_part, l->sig) != 0;
        }
        return r ? -1 : 0;
    case L_SEAL_V1:   /* ephemeral key, 2 DH, 2 HKDF, CTR + HMAC of the key and of the content */
    case L_UNSEAL_V1: /* 2 DH, 2 HKDF, 2 HMAC + CTR, 2 certificate signatures verified */
        if (f == L_SEAL_V1)
            sotto_x25519_keypair(l->out + 64, l->out + 96);
        r |= dh(l);
        r |= hkdf(l, 96, 16 + 2 * SOTTO_EC_PUBLIC_BYTES, 32, 0);
        r |= ctr(l, SOTTO_EC_PUBLIC_BYTES);
        r |= hmac(l, SOTTO_EC_PUBLIC_BYTES);
        r |= dh(l);
        r |= hkdf(l, 96, 32 + SOTTO_EC_PUBLIC_BYTES + 10, 32, 0);
        r |= ctr(l, l->usmc_len);
        r |= hmac(l, l->usmc_len);
        if (f == L_UNSEAL_V1) {
            /* over the certificates' signed bodies: the verdict is not
             * used (the signature is another message's), the cost is the same */
            (void)sotto_xeddsa_verify(l->pub, l->signed_part, L_CERT_SIGNED, l->sig);
            (void)sotto_xeddsa_verify(l->pub, l->cert, l->cert_len - 2 * 64, l->sig);
        }
        return r ? -1 : 0;
    case L_SEAL_V2_10:
    case L_SEAL_V2_100: { /* M -> r, K (2 HKDF), E = r.B, GCM-SIV; per recipient 2 DH + 2 HKDF */
        unsigned k = f == L_SEAL_V2_10 ? 10 : 100;
        randombytes_buf(l->out, 32);
        r |= hkdf(l, 32, 0, 32, 8);
        r |= hkdf(l, 32, 0, 32, 8);
        sotto_x25519_keypair(l->out + 64, l->out + 96); /* a base-point multiplication */
        r |= sotto_aes256_gcm_siv_encrypt(l->pt, l->key, l->iv, NULL, 0, l->v1, l->usmc_len) != SOTTO_OK;
        for (unsigned j = 0; j < k; j++) {
            r |= dh(l);
            r |= hkdf(l, 32, 0, 32 + 2 * SOTTO_EC_PUBLIC_BYTES, 2);
            r |= dh(l);
            r |= hkdf(l, 16, 0, 64 + 3 * SOTTO_EC_PUBLIC_BYTES, 9);
        }
        return r ? -1 : 0;
    }
    case L_FINGERPRINT: /* 2 x 5,200 SHA-512 of prev || key, one thread */
        for (unsigned j = 0; j < L_FP_HASHES; j++) {
            unsigned int len = 0;
            r |= EVP_DigestInit_ex2(l->md, l->sha512, NULL) != 1 ||
                 EVP_DigestUpdate(l->md, l->signed_part, L_FP_HASH_IN) != 1 ||
                 EVP_DigestFinal_ex(l->md, l->out, &len) != 1;
        }
        return r ? -1 : 0;
    case L_COUNT_: break;
    }
    return -1;
}

/* ---- set-up -------------------------------------------------------------- */

static void l_close(L *l)
{
#ifdef BENCH_HAVE_LSPC
    bench_lspc_layers_close(l->lspc);
#endif
    sotto_sender_key_record_free(l->gs);
    sotto_sender_key_record_free(l->gs2);
    sotto_sender_key_record_free(l->gr);
    sotto_identity_free(l->sender);
    sotto_identity_free(l->recipient);
    free(l->pending);
    free(l->pending_len);
    EVP_MD_CTX_free(l->md);
    EVP_MD_free(l->sha512);
    sodium_memzero(l, sizeof *l);
    free(l);
}

static int l_open(L *l, unsigned max_pending)
{
    uint8_t skdm[SOTTO_GROUP_SKDM_MAX_BYTES], server_pub[SOTTO_EC_PUBLIC_BYTES],
        server_priv[SOTTO_EC_PRIVATE_BYTES], server_cert[512];
    size_t skdm_len = 0, server_cert_len = 0;
    for (size_t i = 0; i < sizeof l->msg; i++)
        l->msg[i] = (uint8_t)i;
    randombytes_buf(l->dist, sizeof l->dist);
    l->max_pending = max_pending;
    l->pending = malloc((size_t)max_pending * L_CAP);
    l->pending_len = calloc(max_pending, sizeof *l->pending_len);
    l->md = EVP_MD_CTX_new();
    l->sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    if (!l->pending || !l->pending_len || !l->md || !l->sha512 || sotto_init() != SOTTO_OK ||
        sotto_group_ciphertext_bound(L_MSG_BYTES) > L_CAP)
        return -1;
    /* group: gs sends (encrypt figure); gs2's chain is known to gr (decrypt figure) */
    if (sotto_sender_key_record_new(&l->gs) != SOTTO_OK ||
        sotto_sender_key_record_new(&l->gs2) != SOTTO_OK ||
        sotto_sender_key_record_new(&l->gr) != SOTTO_OK ||
        sotto_group_create_distribution(l->gs, l->dist, skdm, sizeof skdm, &skdm_len) != SOTTO_OK ||
        sotto_group_create_distribution(l->gs2, l->dist, skdm, sizeof skdm, &skdm_len) != SOTTO_OK ||
        sotto_group_process_distribution(l->gr, skdm, skdm_len) != SOTTO_OK)
        return -1;
    /* sealed: trust root -> server certificate -> sender certificate */
    if (sotto_identity_generate(&l->sender, 1) != SOTTO_OK ||
        sotto_identity_generate(&l->recipient, 2) != SOTTO_OK ||
        sotto_ec_keypair(l->root_pub, l->root_priv) != SOTTO_OK ||
        sotto_ec_keypair(server_pub, server_priv) != SOTTO_OK)
        return -1;
    sotto_identity_public_key(l->sender, l->sender_pub);
    sotto_identity_public_key(l->recipient, l->recipient_pub);
    if (sotto_server_certificate_create(server_cert, sizeof server_cert, &server_cert_len,
                                        L_SERVER_KEY_ID, server_pub, l->root_priv) != SOTTO_OK ||
        sotto_sender_certificate_create(l->cert, sizeof l->cert, &l->cert_len,
                                        "9d0652a3-dcc3-4d11-975f-74d61598733f", "+14155550100", 3,
                                        l->sender_pub, L_EXPIRES_MS, server_cert, server_cert_len,
                                        server_priv) != SOTTO_OK)
        return -1;
    sodium_memzero(server_priv, sizeof server_priv);
    l->content = (sotto_sealed_content){ .msg_type = SOTTO_MSG_WHISPER, .sender_cert = l->cert,
                                         .sender_cert_len = l->cert_len, .content = l->msg,
                                         .content_len = sizeof l->msg, .content_hint = 1 };
    /* type 2, cert (3-byte length), content (3-byte length), hint */
    l->usmc_len = 2 + 3 + l->cert_len + 3 + sizeof l->msg + 2;
    if (sotto_sealed_v1_seal(l->sender, l->recipient_pub, &l->content, l->v1, sizeof l->v1,
                             &l->v1_len) != SOTTO_OK)
        return -1;
#ifdef BENCH_HAVE_LSPC
    if (!(l->lspc = bench_lspc_layers_open(max_pending)))
        return -1;
#endif
    for (unsigned i = 0; i < L_MAX_RCPT; i++) {
        uint8_t priv[SOTTO_EC_PRIVATE_BYTES];
        sotto_sealed_recipient *r = &l->rcpt[i];
        r->service_id[0] = 0; /* ACI */
        randombytes_buf(r->service_id + 1, SOTTO_SERVICE_ID_BYTES - 1);
        r->device_id = 1;
        r->registration_id = 100 + i;
        if (sotto_ec_keypair(r->identity_key, priv) != SOTTO_OK)
            return -1;
        sodium_memzero(priv, sizeof priv);
    }
    randombytes_buf(l->fp_id_a, sizeof l->fp_id_a);
    randombytes_buf(l->fp_id_b, sizeof l->fp_id_b);
    /* floor material: a valid signature over signed_part, a 1 KiB CBC body */
    size_t n = 0;
    sotto_x25519_keypair(l->pub, l->priv);
    randombytes_buf(l->key, sizeof l->key);
    randombytes_buf(l->iv, sizeof l->iv);
    randombytes_buf(l->random64, sizeof l->random64);
    randombytes_buf(l->signed_part, sizeof l->signed_part);
    if (l->usmc_len > sizeof l->v1 || l->cert_len <= 2 * 64 ||
        sotto_aes256_cbc_encrypt(l->ct1k, sizeof l->ct1k, &n, l->key, l->iv, l->msg, sizeof l->msg) !=
            SOTTO_OK ||
        n != sizeof l->ct1k ||
        sotto_xeddsa_sign(l->sig, l->priv, l->signed_part, sizeof l->signed_part, l->random64) != 0)
        return -1;
    return 0;
}

/* ---- rounds -------------------------------------------------------------- */

typedef int (*op_fn)(L *l, lfig_id f, unsigned i);
typedef int (*pre_fn)(L *l, lfig_id f, unsigned n);

/* One batch of n ops; wall and CPU nanoseconds; -1 on failure. */
static int batch(L *l, lfig_id f, pre_fn pre, op_fn op, unsigned n, uint64_t *wall, uint64_t *cpu)
{
    if (pre && pre(l, f, n) != 0)
        return -1;
    uint64_t w0 = ns_of(CLOCK_MONOTONIC), c0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
    for (unsigned i = 0; i < n; i++)
        if (op(l, f, i) != 0)
            return -1;
    *cpu = ns_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
    *wall = ns_of(CLOCK_MONOTONIC) - w0;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#ifdef BENCH_HAVE_LSPC
#define L_PARTS 3
#else
#define L_PARTS 2
#endif

int bench_layers_main(unsigned batches, double scale, int quick, const char *only_fig)
{
    static const char *const impl[3] = { "sotto", "floor", "libsignal-protocol-c" };
#ifdef BENCH_HAVE_LSPC
    static const op_fn ops[L_PARTS] = { ours_op, floor_op, lspc_op };
    static const pre_fn pres[L_PARTS] = { ours_pre, NULL, lspc_pre };
#else
    static const op_fn ops[L_PARTS] = { ours_op, floor_op };
    static const pre_fn pres[L_PARTS] = { ours_pre, NULL };
#endif
    double wall[L_PARTS][BENCH_MAX_BATCHES], cpu[L_PARTS][BENCH_MAX_BATCHES];
    double rw[BENCH_MAX_BATCHES], rc[BENCH_MAX_BATCHES];
    unsigned iters[L_COUNT_], max_iters = 1;
    int rc_all = 0;
    if (batches == 0 || batches > BENCH_MAX_BATCHES)
        return -1;
    for (int f = 0; f < L_COUNT_; f++) {
        double it = quick ? 2 : lfig_iters[f] * scale;
        iters[f] = it < 1 ? 1 : it > BENCH_MAX_ITERS ? BENCH_MAX_ITERS : (unsigned)it;
        if (iters[f] > max_iters)
            max_iters = iters[f];
    }
    L *l = calloc(1, sizeof *l);
    if (!l || l_open(l, max_iters) != 0) {
        fprintf(stderr, "sotto-bench: the layers failed to set up\n");
        if (l)
            l_close(l);
        return -1;
    }
    for (int fi = 0; fi < L_COUNT_; fi++) {
        lfig_id f = (lfig_id)fi;
        const unsigned n = iters[f];
        int failed[L_PARTS], run[L_PARTS];
        if (only_fig && strcmp(only_fig, lfig_names[f]) != 0)
            continue;
        for (int p = 0; p < L_PARTS; p++) { /* warm-up */
            uint64_t w, c;
            run[p] = p < 2 || lspc_fig(f) >= 0;
            failed[p] = run[p] && batch(l, f, pres[p], ops[p], n, &w, &c) != 0;
        }
        for (unsigned r = 0; r < batches; r++) {
            for (int p = 0; p < L_PARTS; p++) {
                uint64_t w = 0, c = 0;
                if (failed[p] || !run[p])
                    continue;
                failed[p] = batch(l, f, pres[p], ops[p], n, &w, &c) != 0;
                wall[p][r] = (double)w / 1000.0 / n;
                cpu[p][r] = (double)c / 1000.0 / n;
            }
        }
        if (!failed[0] && !failed[1]) {
            for (unsigned r = 0; r < batches; r++) {
                rw[r] = wall[0][r] / wall[1][r];
                rc[r] = cpu[0][r] / cpu[1][r];
            }
            printf("ratio %s floor %.3f\n", lfig_names[f], median(rw, batches));
            printf("cpuratio %s floor %.3f\n", lfig_names[f], median(rc, batches));
        }
        for (int p = 2; p < L_PARTS; p++) {
            if (failed[0] || failed[p] || !run[p])
                continue;
            for (unsigned r = 0; r < batches; r++) {
                rw[r] = wall[0][r] / wall[p][r];
                rc[r] = cpu[0][r] / cpu[p][r];
            }
            printf("ratio %s %s %.3f\n", lfig_names[f], impl[p], median(rw, batches));
            printf("cpuratio %s %s %.3f\n", lfig_names[f], impl[p], median(rc, batches));
        }
        for (int p = 0; p < L_PARTS; p++) {
            if (!run[p])
                continue;
            if (failed[p]) {
                printf("%s %s failed\n", lfig_names[f], impl[p]);
                rc_all = -1;
                continue;
            }
            printf("%s %s %.2f\n", lfig_names[f], impl[p], median(wall[p], batches));
            printf("cpu %s %s %.2f\n", lfig_names[f], impl[p], median(cpu[p], batches));
        }
        fflush(stdout);
    }
    l_close(l);
    return rc_all;
}
