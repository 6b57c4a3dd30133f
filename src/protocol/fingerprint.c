/* Safety numbers (include/sotto/fingerprint.h), as libsignal's fingerprint.rs.
 *
 * The cost is 2 x 5,200 SHA-512 compressions (each input, 64 + 33 bytes, fits
 * one 128-byte block). OpenSSL's SHA-512 (assembly; 0.28 us per hash here
 * against libsodium's 0.34) is used with one digest context per side
 * re-initialised per hash; the algorithm object is fetched once. The two
 * sides run on two threads. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "sotto/fingerprint.h"
#include "protocol/layers.h"
#include "layers.pb-c.h"

#define FP_HASH_BYTES      64   /* SHA-512 */
#define FP_HALF_BYTES      32   /* what the scannable form carries per side */
#define FP_DISPLAY_CHUNKS  6    /* 5-byte chunks per side */
#define FP_CHUNK_BYTES     5
#define FP_CHUNK_MOD       100000u
#define FP_HALF_DIGITS     30
#define FP_HASH_VERSION_0  0x00 /* the two leading bytes 0x0000 */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static EVP_MD *g_sha512;

static void fetch_md(void)
{
    g_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
}

/* out = the iterated hash for one side. */
static sotto_err side_hash(uint8_t out[FP_HASH_BYTES], EVP_MD_CTX *ctx, uint32_t iterations,
                           const uint8_t *id, size_t id_len,
                           const uint8_t key[SOTTO_EC_PUBLIC_BYTES])
{
    static const uint8_t version[2] = { FP_HASH_VERSION_0, FP_HASH_VERSION_0 };
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(ctx, g_sha512, NULL) != 1
        || EVP_DigestUpdate(ctx, version, sizeof version) != 1
        || EVP_DigestUpdate(ctx, key, SOTTO_EC_PUBLIC_BYTES) != 1
        || (id_len != 0 && EVP_DigestUpdate(ctx, id, id_len) != 1)
        || EVP_DigestUpdate(ctx, key, SOTTO_EC_PUBLIC_BYTES) != 1
        || EVP_DigestFinal_ex(ctx, out, &n) != 1)
        return SOTTO_ERR_CRYPTO;
    /* One buffer prev || key, hashed in one update per round. */
    uint8_t buf[FP_HASH_BYTES + SOTTO_EC_PUBLIC_BYTES];
    memcpy(buf + FP_HASH_BYTES, key, SOTTO_EC_PUBLIC_BYTES);
    for (uint32_t i = 1; i < iterations; i++) {
        memcpy(buf, out, FP_HASH_BYTES);
        if (EVP_DigestInit_ex2(ctx, NULL, NULL) != 1
            || EVP_DigestUpdate(ctx, buf, sizeof buf) != 1
            || EVP_DigestFinal_ex(ctx, out, &n) != 1)
            return SOTTO_ERR_CRYPTO;
    }
    return SOTTO_OK;
}

typedef struct side_job {
    uint8_t *out;
    uint32_t iterations;
    const uint8_t *id; size_t id_len;
    const uint8_t *key;
    sotto_err e;
} side_job;

static void *side_run(void *arg)
{
    side_job *j = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    j->e = ctx == NULL ? SOTTO_ERR_NO_MEMORY : side_hash(j->out, ctx, j->iterations, j->id, j->id_len, j->key);
    EVP_MD_CTX_free(ctx);
    return NULL;
}

/* 30 digits: six 5-byte big-endian numbers mod 100000. */
static void half_digits(char out[FP_HALF_DIGITS + 1], const uint8_t h[FP_HASH_BYTES])
{
    for (int c = 0; c < FP_DISPLAY_CHUNKS; c++) {
        uint64_t x = 0;
        for (int b = 0; b < FP_CHUNK_BYTES; b++)
            x = (x << 8) | h[c * FP_CHUNK_BYTES + b];
        uint32_t v = (uint32_t)(x % FP_CHUNK_MOD);
        for (int d = 4; d >= 0; d--) {
            out[c * 5 + d] = (char)('0' + v % 10);
            v /= 10;
        }
    }
    out[FP_HALF_DIGITS] = 0;
}

static size_t scannable_pack(uint8_t out[SOTTO_FINGERPRINT_SCANNABLE_MAX], uint32_t version,
                             const uint8_t local[FP_HALF_BYTES], const uint8_t remote[FP_HALF_BYTES])
{
    Sotto__Layers__LogicalFingerprint l = SOTTO__LAYERS__LOGICAL_FINGERPRINT__INIT;
    Sotto__Layers__LogicalFingerprint r = SOTTO__LAYERS__LOGICAL_FINGERPRINT__INIT;
    Sotto__Layers__CombinedFingerprints c = SOTTO__LAYERS__COMBINED_FINGERPRINTS__INIT;
    l.has_content = r.has_content = 1;
    l.content.data = (uint8_t *)local;
    l.content.len = FP_HALF_BYTES;
    r.content.data = (uint8_t *)remote;
    r.content.len = FP_HALF_BYTES;
    c.has_version = 1;
    c.version = version;
    c.local_fingerprint = &l;
    c.remote_fingerprint = &r;
    /* At most 6 (version) + 2 x 36 = 78 bytes: always fits. */
    return sotto__layers__combined_fingerprints__pack(&c, out);
}

_Static_assert(SOTTO_FINGERPRINT_SCANNABLE_MAX >= 6 + 2 * (2 + 2 + FP_HALF_BYTES),
               "scannable form fits");

sotto_err sotto_fingerprint_create(sotto_fingerprint *out, uint32_t version,
                                   uint32_t iterations,
                                   const uint8_t *local_id, size_t local_id_len,
                                   const uint8_t local_key[SOTTO_EC_PUBLIC_BYTES],
                                   const uint8_t *remote_id, size_t remote_id_len,
                                   const uint8_t remote_key[SOTTO_EC_PUBLIC_BYTES])
{
    if (out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    if ((local_id == NULL && local_id_len != 0) || (remote_id == NULL && remote_id_len != 0)
        || local_id_len > SOTTO_FINGERPRINT_ID_MAX_BYTES
        || remote_id_len > SOTTO_FINGERPRINT_ID_MAX_BYTES
        || iterations < SOTTO_FINGERPRINT_ITERATIONS_MIN
        || iterations > SOTTO_FINGERPRINT_ITERATIONS_MAX)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (local_key == NULL || remote_key == NULL || local_key[0] != SOTTO_KEY_TYPE_DJB
        || remote_key[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    if (pthread_once(&g_once, fetch_md) != 0 || g_sha512 == NULL)
        return SOTTO_ERR_CRYPTO;
    /* The two sides are independent: the remote one on a second thread when
     * one can be started (halves the wall time on two cores), else here. */
    uint8_t lh[FP_HASH_BYTES], rh[FP_HASH_BYTES];
    side_job remote = { rh, iterations, remote_id, remote_id_len, remote_key, SOTTO_ERR_CRYPTO };
    side_job local = { lh, iterations, local_id, local_id_len, local_key, SOTTO_ERR_CRYPTO };
    pthread_t tid;
    const int threaded = pthread_create(&tid, NULL, side_run, &remote) == 0;
    side_run(&local);
    if (threaded)
        pthread_join(tid, NULL);
    else
        side_run(&remote);
    sotto_err e = local.e != SOTTO_OK ? local.e : remote.e;
    if (e != SOTTO_OK)
        return e;
    char l[FP_HALF_DIGITS + 1], r[FP_HALF_DIGITS + 1];
    half_digits(l, lh);
    half_digits(r, rh);
    const int local_first = strcmp(l, r) < 0;
    memcpy(out->displayable, local_first ? l : r, FP_HALF_DIGITS);
    memcpy(out->displayable + FP_HALF_DIGITS, local_first ? r : l, FP_HALF_DIGITS);
    out->displayable[SOTTO_FINGERPRINT_DIGITS] = 0;
    out->scannable_len = scannable_pack(out->scannable, version, lh, rh);
    return SOTTO_OK;
}

sotto_err sotto_fingerprint_compare(const sotto_fingerprint *ours,
                                    const uint8_t *theirs, size_t theirs_len,
                                    sotto_fingerprint_match *result)
{
    if (result == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *result = SOTTO_FINGERPRINT_MISMATCH;
    if (ours == NULL || (theirs == NULL && theirs_len != 0)
        || ours->scannable_len > SOTTO_FINGERPRINT_SCANNABLE_MAX)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sotto_arena arena;
    sotto_arena_init(&arena);
    ProtobufCAllocator al = sotto_arena_allocator(&arena);
    sotto_err e = SOTTO_ERR_MALFORMED;
    Sotto__Layers__CombinedFingerprints *mine = sotto__layers__combined_fingerprints__unpack(
        &al, ours->scannable_len, ours->scannable);
    Sotto__Layers__CombinedFingerprints *them = sotto__layers__combined_fingerprints__unpack(
        &al, theirs_len, theirs);
    if (mine == NULL || !mine->has_version || mine->local_fingerprint == NULL
        || mine->remote_fingerprint == NULL) {
        e = SOTTO_ERR_INVALID_ARGUMENT; /* not made by sotto_fingerprint_create */
        goto done;
    }
    if (them == NULL)
        goto done;
    const uint32_t their_version = them->has_version ? them->version : 0;
    if (their_version != mine->version) {
        *result = SOTTO_FINGERPRINT_VERSION_MISMATCH;
        e = SOTTO_OK;
        goto done;
    }
    if (them->local_fingerprint == NULL || !them->local_fingerprint->has_content
        || them->remote_fingerprint == NULL || !them->remote_fingerprint->has_content)
        goto done;
    const ProtobufCBinaryData *tl = &them->local_fingerprint->content;
    const ProtobufCBinaryData *tr = &them->remote_fingerprint->content;
    const ProtobufCBinaryData *ml = &mine->local_fingerprint->content;
    const ProtobufCBinaryData *mr = &mine->remote_fingerprint->content;
    /* Lengths are public; contents compared in constant time. */
    int same = tl->len == mr->len && tr->len == ml->len;
    if (same)
        same = sotto_ct_equal(tl->data, mr->data, mr->len) & sotto_ct_equal(tr->data, ml->data, ml->len);
    *result = same ? SOTTO_FINGERPRINT_MATCH : SOTTO_FINGERPRINT_MISMATCH;
    e = SOTTO_OK;
done:
    sotto_arena_release(&arena);
    return e;
}
