/* Sender keys (include/sotto/group.h): distribution messages, encrypt,
 * decrypt, as libsignal's group_cipher.rs and sender_keys.rs behave.
 *
 * Decrypt computes everything on the side (the chain walked forward, the
 * skipped seeds it passes, the body decrypted into the caller's buffer) and
 * commits to the record only once the signature verified and the body
 * decrypted; capacity for new skipped keys is reserved before that point, so
 * the commit itself cannot fail. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "protocol/group_internal.h"
#include "protocol/layers.h"
#include "crypto/xeddsa.h"
#include "layers.pb-c.h"

#define SIG_BYTES        SOTTO_SIGNATURE_BYTES
#define SKM_MIN_BYTES    (1 + SIG_BYTES)
#define SKDM_MIN_BYTES   (1 + 32 + 32)        /* libsignal's short-message check */

_Static_assert(SOTTO_GROUP_KEY_BYTES == SOTTO_HMAC_SHA256_BYTES, "chain keys are HMAC outputs");

/* ---- keys ---------------------------------------------------------------- */

sotto_err sotto_gk_chain_step(uint8_t seed[SOTTO_GROUP_KEY_BYTES], uint8_t ck[SOTTO_GROUP_KEY_BYTES])
{
    static const uint8_t one = 0x01, two = 0x02;
    const sotto_iov p1 = { &one, 1 }, p2 = { &two, 1 };
    uint8_t next[SOTTO_GROUP_KEY_BYTES];
    sotto_err e = sotto_hmac_sha256(seed, ck, SOTTO_GROUP_KEY_BYTES, &p1, 1);
    if (e == SOTTO_OK)
        e = sotto_hmac_sha256(next, ck, SOTTO_GROUP_KEY_BYTES, &p2, 1);
    if (e == SOTTO_OK)
        memcpy(ck, next, sizeof next);
    sodium_memzero(next, sizeof next);
    return e;
}

sotto_err sotto_gk_message_key(uint8_t iv[16], uint8_t key[32], const uint8_t seed[SOTTO_GROUP_KEY_BYTES])
{
    uint8_t okm[48];
    sotto_err e = sotto_hkdf_sha256(okm, sizeof okm, NULL, 0, seed, SOTTO_GROUP_KEY_BYTES,
                                    (const uint8_t *)SOTTO_GROUP_INFO, sizeof SOTTO_GROUP_INFO - 1);
    memcpy(iv, okm, 16);
    memcpy(key, okm + 16, 32);
    sodium_memzero(okm, sizeof okm);
    return e;
}

/* ---- parsing ------------------------------------------------------------- */

static sotto_err version_check(const uint8_t *buf)
{
    return (buf[0] >> 4) == SOTTO_GROUP_MESSAGE_VERSION ? SOTTO_OK : SOTTO_ERR_UNSUPPORTED_VERSION;
}

typedef struct skm_view {
    const uint8_t *id;             /* 16 */
    uint32_t chain_id, iteration;
    const uint8_t *body; size_t body_len;
    const uint8_t *signed_part; size_t signed_len;
    const uint8_t *sig;            /* 64 */
} skm_view;

static sotto_err parse_skm(skm_view *v, sotto_arena *a, const uint8_t *buf, size_t len)
{
    memset(v, 0, sizeof *v);
    if (buf == NULL || len < SKM_MIN_BYTES || len > SOTTO_GROUP_MAX_MESSAGE_BYTES)
        return SOTTO_ERR_MALFORMED;
    sotto_err e = version_check(buf);
    if (e != SOTTO_OK)
        return e;
    ProtobufCAllocator al = sotto_arena_allocator(a);
    Sotto__Layers__SenderKeyMessage *pb =
        sotto__layers__sender_key_message__unpack(&al, len - 1 - SIG_BYTES, buf + 1);
    if (pb == NULL || !pb->has_distribution_uuid || pb->distribution_uuid.len != SOTTO_DISTRIBUTION_ID_BYTES
        || !pb->has_chain_id || !pb->has_iteration || !pb->has_ciphertext)
        return SOTTO_ERR_MALFORMED;
    v->id = pb->distribution_uuid.data;
    v->chain_id = pb->chain_id;
    v->iteration = pb->iteration;
    v->body = pb->ciphertext.data;
    v->body_len = pb->ciphertext.len;
    v->signed_part = buf;
    v->signed_len = len - SIG_BYTES;
    v->sig = buf + len - SIG_BYTES;
    return SOTTO_OK;
}

typedef struct skdm_view {
    const uint8_t *id;
    uint32_t chain_id, iteration;
    const uint8_t *chain_key;      /* 32 */
    const uint8_t *signing_key;    /* 33 */
} skdm_view;

static sotto_err parse_skdm(skdm_view *v, sotto_arena *a, const uint8_t *buf, size_t len)
{
    memset(v, 0, sizeof *v);
    if (buf == NULL || len < SKDM_MIN_BYTES || len > SOTTO_GROUP_MAX_MESSAGE_BYTES)
        return SOTTO_ERR_MALFORMED;
    sotto_err e = version_check(buf);
    if (e != SOTTO_OK)
        return e;
    ProtobufCAllocator al = sotto_arena_allocator(a);
    Sotto__Layers__SenderKeyDistributionMessage *pb =
        sotto__layers__sender_key_distribution_message__unpack(&al, len - 1, buf + 1);
    if (pb == NULL || !pb->has_distribution_uuid || pb->distribution_uuid.len != SOTTO_DISTRIBUTION_ID_BYTES
        || !pb->has_chain_id || !pb->has_iteration || !pb->has_chain_key || !pb->has_signing_key
        || pb->chain_key.len != SOTTO_GROUP_KEY_BYTES || pb->signing_key.len != SOTTO_EC_PUBLIC_BYTES)
        return SOTTO_ERR_MALFORMED;
    if (pb->signing_key.data[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    v->id = pb->distribution_uuid.data;
    v->chain_id = pb->chain_id;
    v->iteration = pb->iteration;
    v->chain_key = pb->chain_key.data;
    v->signing_key = pb->signing_key.data;
    return SOTTO_OK;
}

sotto_err sotto_group_distribution_message_id(const uint8_t *skdm, size_t len,
                                              uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES])
{
    if (id == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memset(id, 0, SOTTO_DISTRIBUTION_ID_BYTES);
    sotto_arena a;
    sotto_arena_init(&a);
    skdm_view v;
    sotto_err e = parse_skdm(&v, &a, skdm, len);
    if (e == SOTTO_OK)
        memcpy(id, v.id, SOTTO_DISTRIBUTION_ID_BYTES);
    sotto_arena_release(&a);
    return e;
}

sotto_err sotto_group_message_id(const uint8_t *msg, size_t len, uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES])
{
    if (id == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memset(id, 0, SOTTO_DISTRIBUTION_ID_BYTES);
    sotto_arena a;
    sotto_arena_init(&a);
    skm_view v;
    sotto_err e = parse_skm(&v, &a, msg, len);
    if (e == SOTTO_OK)
        memcpy(id, v.id, SOTTO_DISTRIBUTION_ID_BYTES);
    sotto_arena_release(&a);
    return e;
}

/* The record answers for one distribution id: bind it on first use. */
static sotto_err id_check(const sotto_sender_key_record *rec, const uint8_t *id)
{
    if (rec->has_id && memcmp(rec->distribution_id, id, SOTTO_DISTRIBUTION_ID_BYTES) != 0)
        return SOTTO_ERR_INVALID_ARGUMENT;
    return SOTTO_OK;
}

/* ---- distribution -------------------------------------------------------- */

static size_t skdm_pack(const sotto_gk_state *st, const uint8_t *id, uint8_t out[SOTTO_GROUP_SKDM_MAX_BYTES])
{
    Sotto__Layers__SenderKeyDistributionMessage pb = SOTTO__LAYERS__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
    pb.has_distribution_uuid = pb.has_chain_id = pb.has_iteration = 1;
    pb.has_chain_key = pb.has_signing_key = 1;
    pb.distribution_uuid.data = (uint8_t *)id;
    pb.distribution_uuid.len = SOTTO_DISTRIBUTION_ID_BYTES;
    pb.chain_id = st->chain_id;
    pb.iteration = st->iteration;
    pb.chain_key.data = (uint8_t *)st->chain_key;
    pb.chain_key.len = SOTTO_GROUP_KEY_BYTES;
    pb.signing_key.data = (uint8_t *)st->signing_public;
    pb.signing_key.len = SOTTO_EC_PUBLIC_BYTES;
    out[0] = SOTTO_GROUP_VERSION_BYTE;
    /* 1 + 18 + 6 + 6 + 34 + 35 = 100 bytes at most */
    return 1 + sotto__layers__sender_key_distribution_message__pack(&pb, out + 1);
}

sotto_err sotto_group_create_distribution(sotto_sender_key_record *rec,
                                          const uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES],
                                          uint8_t *out, size_t cap, size_t *len)
{
    if (len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *len = 0;
    if (rec == NULL || id == NULL || out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (cap < SOTTO_GROUP_SKDM_MAX_BYTES)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    sotto_err e = id_check(rec, id);
    if (e != SOTTO_OK)
        return e;
    if (rec->n_states == 0) {
        /* A new chain: chain id = random u32 >> 1, iteration 0. */
        sotto_gk_state *st = &rec->states[0];
        memset(st, 0, sizeof *st);
        uint32_t r = randombytes_random();
        st->chain_id = r >> 1;
        randombytes_buf(st->chain_key, sizeof st->chain_key);
        if ((e = sotto_ec_keypair(st->signing_public, st->signing_private)) != SOTTO_OK) {
            sotto_gk_state_wipe(st);
            return e;
        }
        st->has_private = 1;
        rec->n_states = 1;
        rec->has_id = 1;
        memcpy(rec->distribution_id, id, SOTTO_DISTRIBUTION_ID_BYTES);
    }
    /* As libsignal: the distribution message of the current state. */
    *len = skdm_pack(&rec->states[0], id, out);
    return SOTTO_OK;
}

sotto_err sotto_group_process_distribution(sotto_sender_key_record *rec,
                                           const uint8_t *skdm, size_t len)
{
    if (rec == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sotto_arena a;
    sotto_arena_init(&a);
    skdm_view v;
    sotto_err e = parse_skdm(&v, &a, skdm, len);
    if (e == SOTTO_OK)
        e = id_check(rec, v.id);
    if (e != SOTTO_OK)
        goto out;

    /* libsignal's add_sender_key_state: keep a state with this chain id and
     * signing key (its progress too), drop others with this chain id, drop the
     * oldest past the limit, put the state first. */
    sotto_gk_state kept;
    int have_kept = 0;
    sotto_gk_state rest[SOTTO_GROUP_MAX_STATES];
    uint32_t n_rest = 0;
    for (uint32_t i = 0; i < rec->n_states; i++) {
        sotto_gk_state *st = &rec->states[i];
        if (st->chain_id == v.chain_id) {
            if (!have_kept && memcmp(st->signing_public, v.signing_key, SOTTO_EC_PUBLIC_BYTES) == 0) {
                kept = *st;
                have_kept = 1;
            } else {
                sotto_gk_state_wipe(st);
            }
        } else {
            rest[n_rest++] = *st;
        }
    }
    if (!have_kept) {
        memset(&kept, 0, sizeof kept);
        kept.chain_id = v.chain_id;
        kept.iteration = v.iteration;
        memcpy(kept.chain_key, v.chain_key, SOTTO_GROUP_KEY_BYTES);
        memcpy(kept.signing_public, v.signing_key, SOTTO_EC_PUBLIC_BYTES);
    }
    while (n_rest >= SOTTO_GROUP_MAX_STATES)
        sotto_gk_state_wipe(&rest[--n_rest]);
    rec->states[0] = kept;
    for (uint32_t i = 0; i < n_rest; i++)
        rec->states[i + 1] = rest[i];
    for (uint32_t i = n_rest + 1; i < SOTTO_GROUP_MAX_STATES; i++)
        memset(&rec->states[i], 0, sizeof rec->states[i]);
    rec->n_states = n_rest + 1;
    if (!rec->has_id) {
        rec->has_id = 1;
        memcpy(rec->distribution_id, v.id, SOTTO_DISTRIBUTION_ID_BYTES);
    }
    sodium_memzero(&kept, sizeof kept);
    sodium_memzero(rest, sizeof rest);
out:
    sotto_arena_release(&a);
    return e;
}

/* ---- encrypt ------------------------------------------------------------- */

size_t sotto_group_ciphertext_bound(size_t pt_len)
{
    if (pt_len > SOTTO_GROUP_MAX_PLAINTEXT_BYTES)
        return 0;
    /* version 1 + uuid 18 + chain id 6 + iteration 6 + tag 1 + length 5 + body + signature */
    return 1 + 18 + 6 + 6 + 1 + 5 + sotto_aes256_cbc_padded_len(pt_len) + SIG_BYTES;
}

sotto_err sotto_group_encrypt(sotto_sender_key_record *rec,
                              const uint8_t id[SOTTO_DISTRIBUTION_ID_BYTES],
                              const uint8_t *pt, size_t pt_len,
                              uint8_t *out, size_t cap, size_t *len)
{
    if (len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *len = 0;
    if (rec == NULL || id == NULL || out == NULL || (pt == NULL && pt_len != 0)
        || pt_len > SOTTO_GROUP_MAX_PLAINTEXT_BYTES)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sotto_err e = id_check(rec, id);
    if (e != SOTTO_OK)
        return e;
    if (rec->n_states == 0)
        return SOTTO_ERR_NO_SESSION;
    sotto_gk_state *st = &rec->states[0];
    if (!st->has_private)
        return SOTTO_ERR_NO_SESSION;   /* a chain we received, not ours */
    if (st->iteration == UINT32_MAX)
        return SOTTO_ERR_INVALID_STATE; /* "sender chain is too long" */

    /* version || {1 uuid, 2 chain id, 3 iteration} packed by protobuf-c, then
     * field 4 (the body) written by hand so that the body is encrypted
     * straight into place, then the signature. */
    const size_t body_len = sotto_aes256_cbc_padded_len(pt_len);
    Sotto__Layers__SenderKeyMessage pb = SOTTO__LAYERS__SENDER_KEY_MESSAGE__INIT;
    pb.has_distribution_uuid = pb.has_chain_id = pb.has_iteration = 1;
    pb.distribution_uuid.data = (uint8_t *)id;
    pb.distribution_uuid.len = SOTTO_DISTRIBUTION_ID_BYTES;
    pb.chain_id = st->chain_id;
    pb.iteration = st->iteration;
    const size_t head_len = sotto__layers__sender_key_message__get_packed_size(&pb);
    uint8_t lenbuf[10];
    size_t lenlen = 0;
    for (size_t l = body_len; ; l >>= 7) {
        lenbuf[lenlen++] = (uint8_t)((l & 0x7f) | (l >= 0x80 ? 0x80 : 0));
        if (l < 0x80)
            break;
    }
    const size_t pb_len = head_len + 1 + lenlen + body_len;
    const size_t total = 1 + pb_len + SIG_BYTES;
    if (cap < total)
        return SOTTO_ERR_BUFFER_TOO_SMALL;

    uint8_t seed[SOTTO_GROUP_KEY_BYTES], ck[SOTTO_GROUP_KEY_BYTES], iv[16], key[32];
    memcpy(ck, st->chain_key, sizeof ck);
    e = sotto_gk_chain_step(seed, ck);
    if (e == SOTTO_OK)
        e = sotto_gk_message_key(iv, key, seed);
    if (e != SOTTO_OK)
        goto out;
    uint8_t *p = out + 1;
    p += sotto__layers__sender_key_message__pack(&pb, p);
    *p++ = (4 << 3) | 2;                 /* field 4, length-delimited */
    memcpy(p, lenbuf, lenlen);
    p += lenlen;
    size_t n = 0;
    if ((e = sotto_aes256_cbc_encrypt(p, body_len, &n, key, iv, pt, pt_len)) != SOTTO_OK)
        goto out;
    out[0] = SOTTO_GROUP_VERSION_BYTE;
    if ((e = sotto_sign(out + 1 + pb_len, st->signing_private, out, 1 + pb_len)) != SOTTO_OK)
        goto out;
    /* Commit: the chain moves on. */
    memcpy(st->chain_key, ck, sizeof ck);
    st->iteration++;
    *len = total;
out:
    if (e != SOTTO_OK)
        sodium_memzero(out, total);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(ck, sizeof ck);
    sodium_memzero(iv, sizeof iv);
    sodium_memzero(key, sizeof key);
    return e;
}

/* ---- decrypt ------------------------------------------------------------- */

/* Index of iteration in the ascending skipped list, or -1. */
static long find_skipped(const sotto_gk_state *st, uint32_t iteration)
{
    uint32_t lo = 0, hi = st->n_keys;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (st->keys[mid].iteration < iteration)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->n_keys && st->keys[lo].iteration == iteration ? (long)lo : -1;
}

static sotto_err reserve_keys(sotto_gk_state *st, uint32_t n)
{
    if (n <= st->cap_keys)
        return SOTTO_OK;
    uint32_t cap = st->cap_keys ? st->cap_keys : 16;
    while (cap < n)
        cap *= 2;
    if (cap > SOTTO_GROUP_MAX_MESSAGE_KEYS + 1)
        cap = SOTTO_GROUP_MAX_MESSAGE_KEYS + 1;
    sotto_gk_skipped *k = calloc(cap, sizeof *k);
    if (k == NULL)
        return SOTTO_ERR_NO_MEMORY;
    if (st->n_keys)
        memcpy(k, st->keys, st->n_keys * sizeof *k);
    if (st->keys) {
        sodium_memzero(st->keys, st->cap_keys * sizeof *st->keys);
        free(st->keys);
    }
    st->keys = k;
    st->cap_keys = cap;
    return SOTTO_OK;
}

sotto_err sotto_group_decrypt(sotto_sender_key_record *rec,
                              const uint8_t *msg, size_t len,
                              uint8_t *pt, size_t cap, size_t *pt_len)
{
    if (pt_len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *pt_len = 0;
    if (rec == NULL || pt == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    sotto_arena a;
    sotto_arena_init(&a);
    skm_view v;
    sotto_gk_skipped *fresh = NULL;   /* seeds passed on the way, newest kept */
    uint32_t n_fresh = 0, keep = 0;
    uint8_t ck[SOTTO_GROUP_KEY_BYTES], seed[SOTTO_GROUP_KEY_BYTES], iv[16], key[32];
    sotto_err e = parse_skm(&v, &a, msg, len);
    if (e == SOTTO_OK)
        e = id_check(rec, v.id);
    if (e != SOTTO_OK)
        goto out;
    sotto_gk_state *st = NULL;
    for (uint32_t i = 0; i < rec->n_states && st == NULL; i++)
        if (rec->states[i].chain_id == v.chain_id)
            st = &rec->states[i];
    if (st == NULL) {
        e = SOTTO_ERR_NO_SESSION;
        goto out;
    }
    if (sotto_xeddsa_verify(st->signing_public + 1, v.signed_part, v.signed_len, v.sig) != 0) {
        e = SOTTO_ERR_BAD_SIGNATURE;
        goto out;
    }

    long used = -1;
    uint32_t jump = 0;
    if (v.iteration < st->iteration) {
        used = find_skipped(st, v.iteration);
        if (used < 0) {
            e = SOTTO_ERR_DUPLICATE_MESSAGE;
            goto out;
        }
        memcpy(seed, st->keys[used].seed, sizeof seed);
    } else {
        jump = v.iteration - st->iteration;
        if (jump > SOTTO_GROUP_MAX_FORWARD_JUMPS) {
            e = SOTTO_ERR_TOO_FAR_AHEAD;
            goto out;
        }
        if (v.iteration == UINT32_MAX) {
            e = SOTTO_ERR_INVALID_STATE; /* the chain cannot move past it */
            goto out;
        }
        /* Only the newest MAX_MESSAGE_KEYS skipped seeds can survive. */
        keep = jump < SOTTO_GROUP_MAX_MESSAGE_KEYS ? jump : SOTTO_GROUP_MAX_MESSAGE_KEYS;
        if (keep != 0 && (fresh = calloc(keep, sizeof *fresh)) == NULL) {
            e = SOTTO_ERR_NO_MEMORY;
            goto out;
        }
        memcpy(ck, st->chain_key, sizeof ck);
        for (uint32_t it = st->iteration; it < v.iteration; it++) {
            sotto_gk_skipped *slot = v.iteration - it <= keep ? &fresh[n_fresh] : NULL;
            if ((e = sotto_gk_chain_step(slot ? slot->seed : seed, ck)) != SOTTO_OK)
                goto out;
            if (slot) {
                slot->iteration = it;
                n_fresh++;
            }
        }
        if ((e = sotto_gk_chain_step(seed, ck)) != SOTTO_OK)
            goto out;
        /* Room for the merged list before anything is decided. */
        const uint32_t total = st->n_keys + n_fresh;
        if ((e = reserve_keys(st, total < SOTTO_GROUP_MAX_MESSAGE_KEYS ? total : SOTTO_GROUP_MAX_MESSAGE_KEYS)) != SOTTO_OK)
            goto out;
    }
    if ((e = sotto_gk_message_key(iv, key, seed)) != SOTTO_OK)
        goto out;
    if ((e = sotto_aes256_cbc_decrypt(pt, cap, pt_len, key, iv, v.body, v.body_len)) != SOTTO_OK) {
        if (e == SOTTO_ERR_MALFORMED)
            e = SOTTO_ERR_BAD_MAC; /* a body that is not whole blocks */
        goto out;
    }

    /* Commit. */
    if (used >= 0) {
        sotto_gk_skipped *k = st->keys;
        sodium_memzero(&k[used], sizeof k[used]);
        memmove(&k[used], &k[used + 1], (st->n_keys - (uint32_t)used - 1) * sizeof *k);
        st->n_keys--;
        sodium_memzero(&k[st->n_keys], sizeof *k);
    } else {
        const uint32_t total = st->n_keys + n_fresh;
        const uint32_t drop = total > SOTTO_GROUP_MAX_MESSAGE_KEYS ? total - SOTTO_GROUP_MAX_MESSAGE_KEYS : 0;
        sotto_gk_skipped *k = st->keys;
        if (n_fresh == 0) {
            /* in order: nothing to store (and drop is 0) */
        } else if (drop >= st->n_keys) {
            /* all old keys go, and perhaps some of the fresh ones (not here:
             * fresh holds at most MAX_MESSAGE_KEYS) */
            if (st->n_keys)
                sodium_memzero(k, st->n_keys * sizeof *k);
            const uint32_t skip = drop - st->n_keys;
            memcpy(k, fresh + skip, (n_fresh - skip) * sizeof *k);
            st->n_keys = n_fresh - skip;
        } else {
            sodium_memzero(k, drop * sizeof *k);
            memmove(k, k + drop, (st->n_keys - drop) * sizeof *k);
            st->n_keys -= drop;
            if (n_fresh)
                memcpy(k + st->n_keys, fresh, n_fresh * sizeof *k);
            st->n_keys += n_fresh;
        }
        memcpy(st->chain_key, ck, sizeof ck);
        st->iteration = v.iteration + 1;
    }
out:
    if (fresh) {
        sodium_memzero(fresh, (size_t)keep * sizeof *fresh);
        free(fresh);
    }
    sodium_memzero(ck, sizeof ck);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(iv, sizeof iv);
    sodium_memzero(key, sizeof key);
    sotto_arena_release(&a);
    return e;
}
