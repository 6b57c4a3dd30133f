/* Sealed sender envelopes (include/sotto/sealed.h): the content
 * (UnidentifiedSenderMessageContent), v1 seal and open, v2 seal, the server's
 * fan-out of the sent form, v2 open. Facts from libsignal's sealed_sender.rs.
 *
 * v1: an ephemeral X25519 key agrees with the recipient's identity key
 *   (HKDF salt "UnidentifiedDelivery" || recipient IK || ephemeral) into a
 *   chain key and AES-256-CTR + HMAC-SHA256/10 keys that hide the sender's
 *   identity key; a second agreement between the two identity keys (salt
 *   chain || encrypted static) keys the content the same way.
 * v2: a random M gives the ephemeral key E and the AES-256-GCM-SIV key of the
 *   shared ciphertext; each recipient gets C = M xor KDF(DH(E, IK)) and a tag
 *   AT = KDF(DH(sender IK, recipient IK), E, C) that authenticates the sender.
 * Every secret lives in stack locals wiped at the single exit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "protocol/sealed_internal.h"
#include "protocol/layers.h"
#include "crypto/gcm_siv.h"
#include "layers.pb-c.h"

#define K32 32
#define PUB33 SOTTO_EC_PUBLIC_BYTES
#define V2_TAG_BYTES 16
#define V2_KEY_BYTES (K32 + V2_TAG_BYTES)  /* C || AT */
#define SALT_PREFIX "UnidentifiedDelivery"
#define LABEL_R  "Sealed Sender v2: r (2023-08)"
#define LABEL_K  "Sealed Sender v2: K"
#define LABEL_DH "Sealed Sender v2: DH"
#define LABEL_DH_S "Sealed Sender v2: DH-sender"
#define REG_ID_MASK 0x3FFFu
#define REG_ID_MORE 0x8000u
#define PROTO_PREKEY 1   /* UnidentifiedSenderMessage.Message.Type */
#define PROTO_WHISPER 2
#define PROTO_SENDER_KEY 7
#define PROTO_PLAINTEXT 8

/* ---- content ------------------------------------------------------------- */

static int type_to_proto(int t)
{
    switch (t) {
    case SOTTO_MSG_PREKEY: return PROTO_PREKEY;
    case SOTTO_MSG_WHISPER: return PROTO_WHISPER;
    case SOTTO_MSG_SENDER_KEY: return PROTO_SENDER_KEY;
    case SOTTO_MSG_PLAINTEXT: return PROTO_PLAINTEXT;
    default: return -1;
    }
}

static int type_from_proto(uint32_t t)
{
    switch (t) {
    case PROTO_PREKEY: return SOTTO_MSG_PREKEY;
    case PROTO_WHISPER: return SOTTO_MSG_WHISPER;
    case PROTO_SENDER_KEY: return SOTTO_MSG_SENDER_KEY;
    case PROTO_PLAINTEXT: return SOTTO_MSG_PLAINTEXT;
    default: return -1;
    }
}

static int content_ok(const sotto_sealed_content *c)
{
    return c != NULL && type_to_proto(c->msg_type) > 0 && c->sender_cert != NULL
           && c->sender_cert_len <= SOTTO_CERT_MAX_BYTES && (c->content != NULL || c->content_len == 0)
           && c->content_len <= SOTTO_SEALED_MAX_CONTENT_BYTES
           && (c->group_id != NULL || c->group_id_len == 0) && c->group_id_len <= SOTTO_GROUP_ID_MAX_BYTES;
}

static void usmc_init(Sotto__Layers__UnidentifiedSenderMessageContent *m, const sotto_sealed_content *c)
{
    sotto__layers__unidentified_sender_message_content__init(m);
    m->has_type = m->has_sendercertificate = m->has_content = 1;
    m->type = (uint32_t)type_to_proto(c->msg_type);
    m->sendercertificate.data = (uint8_t *)c->sender_cert;
    m->sendercertificate.len = c->sender_cert_len;
    m->content.data = (uint8_t *)c->content;
    m->content.len = c->content_len;
    if (c->content_hint != 0) {      /* Default is absent on the wire */
        m->has_contenthint = 1;
        m->contenthint = c->content_hint;
    }
    if (c->group_id_len != 0) {      /* an empty group id is absent */
        m->has_groupid = 1;
        m->groupid.data = (uint8_t *)c->group_id;
        m->groupid.len = c->group_id_len;
    }
}

static size_t usmc_bound(const sotto_sealed_content *c)
{
    /* 6 fields of tag + 5-byte length at most, plus the bytes */
    return 6 * 6 + c->sender_cert_len + c->content_len + c->group_id_len;
}

/* Parses the content into info and copies the inner content to out. */
static sotto_err usmc_parse(const uint8_t *buf, size_t len, sotto_unsealed *info,
                            uint8_t *out, size_t cap, size_t *out_len,
                            const uint8_t **cert, size_t *cert_len, sotto_arena *a)
{
    ProtobufCAllocator al = sotto_arena_allocator(a);
    Sotto__Layers__UnidentifiedSenderMessageContent *m =
        sotto__layers__unidentified_sender_message_content__unpack(&al, len, buf);
    if (m == NULL || !m->has_type || !m->has_sendercertificate || !m->has_content)
        return SOTTO_ERR_MALFORMED;
    const int t = type_from_proto(m->type);
    if (t < 0)
        return SOTTO_ERR_MALFORMED;
    if (m->has_groupid && m->groupid.len > SOTTO_GROUP_ID_MAX_BYTES)
        return SOTTO_ERR_MALFORMED;
    sotto_err e = sotto_sender_certificate_parse(m->sendercertificate.data, m->sendercertificate.len,
                                                 &info->sender);
    if (e != SOTTO_OK)
        return e;
    if (m->content.len > cap)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    info->msg_type = t;
    info->content_hint = m->has_contenthint ? m->contenthint : 0;
    if (m->has_groupid) {
        info->has_group_id = 1;
        info->group_id_len = m->groupid.len;
        memcpy(info->group_id, m->groupid.data, m->groupid.len);
    }
    if (m->content.len)
        memcpy(out, m->content.data, m->content.len);
    *out_len = m->content.len;
    *cert = m->sendercertificate.data;
    *cert_len = m->sendercertificate.len;
    return SOTTO_OK;
}

/* ---- v1 ------------------------------------------------------------------ */

/* AES-256-CTR (zero IV) then HMAC-SHA256 over the ciphertext, 10 bytes kept. */
static sotto_err ctr_mac_encrypt(uint8_t *out, const uint8_t cipher[K32], const uint8_t mac[K32],
                                 const uint8_t *in, size_t len)
{
    static const uint8_t zero_iv[16];
    uint8_t full[SOTTO_HMAC_SHA256_BYTES];
    sotto_err e = sotto_aes256_ctr(out, cipher, zero_iv, in, len);
    const sotto_iov part = { out, len };
    if (e == SOTTO_OK)
        e = sotto_hmac_sha256(full, mac, K32, &part, 1);
    memcpy(out + len, full, SOTTO_SEALED_MAC_BYTES);
    sodium_memzero(full, sizeof full);
    return e;
}

/* MAC first (constant-time compare), then decrypt into out (len - 10 bytes). */
static sotto_err ctr_mac_decrypt(uint8_t *out, const uint8_t cipher[K32], const uint8_t mac[K32],
                                 const uint8_t *in, size_t len)
{
    static const uint8_t zero_iv[16];
    if (len < SOTTO_SEALED_MAC_BYTES)
        return SOTTO_ERR_BAD_MAC;
    const size_t n = len - SOTTO_SEALED_MAC_BYTES;
    uint8_t full[SOTTO_HMAC_SHA256_BYTES];
    const sotto_iov part = { in, n };
    sotto_err e = sotto_hmac_sha256(full, mac, K32, &part, 1);
    if (e == SOTTO_OK && !sotto_ct_equal(full, in + n, SOTTO_SEALED_MAC_BYTES))
        e = SOTTO_ERR_BAD_MAC;
    if (e == SOTTO_OK)
        e = sotto_aes256_ctr(out, cipher, zero_iv, in, n);
    sodium_memzero(full, sizeof full);
    return e;
}

/* chain || cipher || mac from HKDF(salt = prefix || recipient IK || ephemeral, DH). */
static sotto_err v1_ephemeral_keys(uint8_t keys[3 * K32], const uint8_t dh[K32],
                                   const uint8_t recipient[PUB33], const uint8_t eph[PUB33])
{
    uint8_t salt[sizeof SALT_PREFIX - 1 + 2 * PUB33];
    memcpy(salt, SALT_PREFIX, sizeof SALT_PREFIX - 1);
    memcpy(salt + sizeof SALT_PREFIX - 1, recipient, PUB33);
    memcpy(salt + sizeof SALT_PREFIX - 1 + PUB33, eph, PUB33);
    return sotto_hkdf_sha256(keys, 3 * K32, salt, sizeof salt, dh, K32, NULL, 0);
}

/* cipher || mac (the last 64 of 96 bytes) from HKDF(salt = chain || enc static, DH). */
static sotto_err v1_static_keys(uint8_t keys[2 * K32], const uint8_t dh[K32], const uint8_t chain[K32],
                                const uint8_t *enc_static, size_t enc_static_len)
{
    uint8_t salt[K32 + PUB33 + SOTTO_SEALED_MAC_BYTES], okm[3 * K32];
    if (enc_static_len > sizeof salt - K32)
        return SOTTO_ERR_MALFORMED;
    memcpy(salt, chain, K32);
    memcpy(salt + K32, enc_static, enc_static_len);
    sotto_err e = sotto_hkdf_sha256(okm, sizeof okm, salt, K32 + enc_static_len, dh, K32, NULL, 0);
    memcpy(keys, okm + K32, 2 * K32);
    sodium_memzero(okm, sizeof okm);
    sodium_memzero(salt, sizeof salt);
    return e;
}

size_t sotto_sealed_v1_bound(const sotto_sealed_content *c)
{
    if (!content_ok(c))
        return 0;
    /* version, three tagged fields, the static key and the content with their MACs */
    return 1 + 3 * 6 + PUB33 + PUB33 + SOTTO_SEALED_MAC_BYTES + usmc_bound(c) + SOTTO_SEALED_MAC_BYTES;
}

sotto_err sotto_sealed_v1_seal(const sotto_identity *us, const uint8_t recipient_key[PUB33],
                               const sotto_sealed_content *c, uint8_t *out, size_t cap, size_t *len)
{
    if (len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *len = 0;
    if (us == NULL || recipient_key == NULL || out == NULL || !content_ok(c))
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (recipient_key[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    Sotto__Layers__UnidentifiedSenderMessageContent m;
    usmc_init(&m, c);
    const size_t usmc_len = sotto__layers__unidentified_sender_message_content__get_packed_size(&m);
    Sotto__Layers__UnidentifiedSenderMessage env = SOTTO__LAYERS__UNIDENTIFIED_SENDER_MESSAGE__INIT;
    env.has_ephemeralpublic = env.has_encryptedstatic = env.has_encryptedmessage = 1;
    env.ephemeralpublic.len = PUB33;
    env.encryptedstatic.len = PUB33 + SOTTO_SEALED_MAC_BYTES;
    env.encryptedmessage.len = usmc_len + SOTTO_SEALED_MAC_BYTES;
    /* Pack with placeholder contents to learn the size, then fill the
     * fields in place: the content is encrypted straight into out. */
    static const uint8_t zeros[PUB33 + SOTTO_SEALED_MAC_BYTES];
    env.ephemeralpublic.data = (uint8_t *)zeros;
    env.encryptedstatic.data = (uint8_t *)zeros;
    env.encryptedmessage.data = NULL;
    const size_t need = 1 + sotto__layers__unidentified_sender_message__get_packed_size(&env);
    if (cap < need)
        return SOTTO_ERR_BUFFER_TOO_SMALL;

    uint8_t eph_priv[K32], eph_pub[PUB33], dh[K32], ek[3 * K32], sk[2 * K32];
    uint8_t enc_static[PUB33 + SOTTO_SEALED_MAC_BYTES];
    uint8_t *usmc = NULL;
    sotto_err e = sotto_ec_keypair(eph_pub, eph_priv);
    /* ephemeral keys, then the sender's identity key under them */
    if (e == SOTTO_OK)
        e = sotto_x25519(dh, eph_priv, recipient_key + 1);
    if (e == SOTTO_OK)
        e = v1_ephemeral_keys(ek, dh, recipient_key, eph_pub);
    if (e == SOTTO_OK)
        e = ctr_mac_encrypt(enc_static, ek + K32, ek + 2 * K32, us->pub, PUB33);
    /* static keys from the two identity keys, then the content under them */
    if (e == SOTTO_OK)
        e = sotto_x25519(dh, us->priv, recipient_key + 1);
    if (e == SOTTO_OK)
        e = v1_static_keys(sk, dh, ek, enc_static, sizeof enc_static);
    if (e == SOTTO_OK && (usmc = malloc(usmc_len + SOTTO_SEALED_MAC_BYTES)) == NULL)
        e = SOTTO_ERR_NO_MEMORY;
    if (e == SOTTO_OK) {
        sotto__layers__unidentified_sender_message_content__pack(&m, usmc);
        e = ctr_mac_encrypt(usmc, sk, sk + K32, usmc, usmc_len);
    }
    if (e == SOTTO_OK) {
        env.ephemeralpublic.data = eph_pub;
        env.encryptedstatic.data = enc_static;
        env.encryptedmessage.data = usmc;
        out[0] = SOTTO_SEALED_V1_VERSION;
        *len = 1 + sotto__layers__unidentified_sender_message__pack(&env, out + 1);
    }
    if (usmc) {
        sodium_memzero(usmc, usmc_len + SOTTO_SEALED_MAC_BYTES);
        free(usmc);
    }
    sodium_memzero(eph_priv, sizeof eph_priv);
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(ek, sizeof ek);
    sodium_memzero(sk, sizeof sk);
    return e;
}

/* ---- v2 keys ------------------------------------------------------------- */

static sotto_err hkdf_label(uint8_t *out, size_t n, const uint8_t *ikm, size_t ikm_len, const char *label)
{
    return sotto_hkdf_sha256(out, n, NULL, 0, ikm, ikm_len, (const uint8_t *)label, strlen(label));
}

/* E (private r and public 0x05 || E) and K from M. */
static sotto_err v2_derive(uint8_t r[K32], uint8_t e_pub[PUB33], uint8_t k[K32], const uint8_t m[K32])
{
    sotto_err e = hkdf_label(r, K32, m, K32, LABEL_R);
    if (e == SOTTO_OK)
        e = sotto_ec_public_from_private(e_pub, r);
    if (e == SOTTO_OK)
        e = hkdf_label(k, K32, m, K32, LABEL_K);
    return e;
}

/* KDF(DH || E || recipient IK, "DH") xor in: C from M (sending) or M from C. */
static sotto_err v2_xor(uint8_t out[K32], const uint8_t dh[K32], const uint8_t e_pub[PUB33],
                        const uint8_t recipient[PUB33], const uint8_t in[K32])
{
    uint8_t ikm[K32 + 2 * PUB33], pad[K32];
    memcpy(ikm, dh, K32);
    memcpy(ikm + K32, e_pub, PUB33);
    memcpy(ikm + K32 + PUB33, recipient, PUB33);
    sotto_err e = hkdf_label(pad, K32, ikm, sizeof ikm, LABEL_DH);
    for (int i = 0; i < K32; i++)
        out[i] = pad[i] ^ in[i];
    sodium_memzero(ikm, sizeof ikm);
    sodium_memzero(pad, sizeof pad);
    return e;
}

/* AT = KDF(DH(sender IK, recipient IK) || E || C || sender IK || recipient IK, "DH-sender"). */
static sotto_err v2_tag(uint8_t at[V2_TAG_BYTES], const uint8_t dh[K32], const uint8_t e_pub[PUB33],
                        const uint8_t c[K32], const uint8_t sender[PUB33], const uint8_t recipient[PUB33])
{
    uint8_t ikm[K32 + PUB33 + K32 + 2 * PUB33];
    size_t o = 0;
    memcpy(ikm + o, dh, K32); o += K32;
    memcpy(ikm + o, e_pub, PUB33); o += PUB33;
    memcpy(ikm + o, c, K32); o += K32;
    memcpy(ikm + o, sender, PUB33); o += PUB33;
    memcpy(ikm + o, recipient, PUB33); o += PUB33;
    sotto_err e = hkdf_label(at, V2_TAG_BYTES, ikm, o, LABEL_DH_S);
    sodium_memzero(ikm, sizeof ikm);
    return e;
}

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *p, size_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* One recipient's key material: C || AT written to slot. */
typedef struct v2_job { const uint8_t *ik; uint8_t *slot; } v2_job;
typedef struct v2_ctx {
    const uint8_t *r, *e_pub, *mkey, *our_priv, *our_pub;
    v2_job *jobs;
} v2_ctx;
typedef struct v2_chunk { const v2_ctx *ctx; size_t lo, hi; sotto_err e; } v2_chunk;

static void *v2_run(void *arg)
{
    v2_chunk *c = arg;
    const v2_ctx *x = c->ctx;
    uint8_t dh[K32], ci[K32], at[V2_TAG_BYTES];
    sotto_err e = SOTTO_OK;
    for (size_t i = c->lo; i < c->hi && e == SOTTO_OK; i++) {
        const uint8_t *ik = x->jobs[i].ik;
        e = sotto_x25519(dh, x->r, ik + 1);
        if (e == SOTTO_OK)
            e = v2_xor(ci, dh, x->e_pub, ik, x->mkey);
        if (e == SOTTO_OK)
            e = sotto_x25519(dh, x->our_priv, ik + 1);
        if (e == SOTTO_OK)
            e = v2_tag(at, dh, x->e_pub, ci, x->our_pub, ik);
        memcpy(x->jobs[i].slot, ci, K32);
        memcpy(x->jobs[i].slot + K32, at, V2_TAG_BYTES);
    }
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(ci, sizeof ci);
    c->e = e;
    return NULL;
}

/* Up to SOTTO_SEALED_V2_THREADS_MAX threads (one per online core), each with
 * at least SOTTO_SEALED_V2_PER_THREAD_MIN recipients; a thread that cannot be
 * started leaves its chunk to the calling thread. */
static sotto_err v2_slots(const v2_ctx *ctx, size_t n)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cores > 1 ? (size_t)cores : 1;
    if (threads > SOTTO_SEALED_V2_THREADS_MAX)
        threads = SOTTO_SEALED_V2_THREADS_MAX;
    if (threads > n / SOTTO_SEALED_V2_PER_THREAD_MIN)
        threads = n / SOTTO_SEALED_V2_PER_THREAD_MIN;
    if (threads <= 1) {
        v2_chunk c = { ctx, 0, n, SOTTO_OK };
        v2_run(&c);
        return c.e;
    }
    v2_chunk chunk[SOTTO_SEALED_V2_THREADS_MAX];
    pthread_t tid[SOTTO_SEALED_V2_THREADS_MAX];
    int started[SOTTO_SEALED_V2_THREADS_MAX] = { 0 };
    for (size_t t = 0; t < threads; t++) {
        chunk[t] = (v2_chunk){ ctx, n * t / threads, n * (t + 1) / threads, SOTTO_OK };
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, v2_run, &chunk[t]) == 0;
    }
    v2_run(&chunk[0]);
    sotto_err e = chunk[0].e;
    for (size_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            v2_run(&chunk[t]);
        if (e == SOTTO_OK)
            e = chunk[t].e;
    }
    return e;
}

size_t sotto_sealed_v2_bound(const sotto_sealed_content *c, size_t n)
{
    if (!content_ok(c) || n == 0 || n > SOTTO_SEALED_V2_MAX_RECIPIENTS)
        return 0;
    return 1 + 10 + n * (SOTTO_SERVICE_ID_BYTES + 3 + V2_KEY_BYTES) + K32 + usmc_bound(c)
           + SOTTO_GCM_SIV_TAG_BYTES;
}

sotto_err sotto_sealed_v2_seal(const sotto_identity *us, const sotto_sealed_recipient *rcpt, size_t n,
                               const sotto_sealed_content *c, uint8_t *out, size_t cap, size_t *len)
{
    if (len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *len = 0;
    if (us == NULL || rcpt == NULL || out == NULL || !content_ok(c) || n == 0
        || n > SOTTO_SEALED_V2_MAX_RECIPIENTS)
        return SOTTO_ERR_INVALID_ARGUMENT;
    /* Check the list and count groups (consecutive entries of one service id). */
    size_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        const sotto_sealed_recipient *r = &rcpt[i];
        if (r->device_id < 1 || r->device_id > SOTTO_SEALED_V2_MAX_DEVICES
            || r->registration_id > REG_ID_MASK || r->service_id[0] > 1)
            return SOTTO_ERR_INVALID_ARGUMENT;
        if (r->identity_key[0] != SOTTO_KEY_TYPE_DJB)
            return SOTTO_ERR_INVALID_KEY;
        const int same = i > 0 && memcmp(r->service_id, rcpt[i - 1].service_id, SOTTO_SERVICE_ID_BYTES) == 0;
        if (same && memcmp(r->identity_key, rcpt[i - 1].identity_key, PUB33) != 0)
            return SOTTO_ERR_INVALID_ARGUMENT;
        groups += !same;
    }
    Sotto__Layers__UnidentifiedSenderMessageContent m;
    usmc_init(&m, c);
    const size_t usmc_len = sotto__layers__unidentified_sender_message_content__get_packed_size(&m);
    const size_t need = 1 + varint_len(groups) + groups * (SOTTO_SERVICE_ID_BYTES + V2_KEY_BYTES)
                        + n * 3 + K32 + usmc_len + SOTTO_GCM_SIV_TAG_BYTES;
    if (cap < need)
        return SOTTO_ERR_BUFFER_TOO_SMALL;

    uint8_t mkey[K32], r[K32], e_pub[PUB33], k[K32], dh[K32];
    static const uint8_t zero_nonce[SOTTO_GCM_SIV_NONCE_BYTES];
    randombytes_buf(mkey, sizeof mkey);
    sotto_err e = v2_derive(r, e_pub, k, mkey);
    uint8_t *p = out;
    *p++ = SOTTO_SEALED_V2_VERSION;
    p += put_varint(p, groups);
    /* Layout first (service ids, devices, a slot for C || AT per recipient),
     * then the slots: two X25519 per recipient, spread over threads for
     * large lists as libsignal does. */
    v2_job *jobs = malloc(groups * sizeof *jobs);
    if (jobs == NULL)
        e = SOTTO_ERR_NO_MEMORY;
    size_t g = 0;
    for (size_t i = 0; i < n && e == SOTTO_OK; g++) {
        size_t j = i + 1;
        while (j < n && memcmp(rcpt[j].service_id, rcpt[i].service_id, SOTTO_SERVICE_ID_BYTES) == 0)
            j++;
        memcpy(p, rcpt[i].service_id, SOTTO_SERVICE_ID_BYTES);
        p += SOTTO_SERVICE_ID_BYTES;
        for (size_t d = i; d < j; d++) {
            const uint32_t reg = rcpt[d].registration_id | (d + 1 < j ? REG_ID_MORE : 0);
            *p++ = (uint8_t)rcpt[d].device_id;
            *p++ = (uint8_t)(reg >> 8);
            *p++ = (uint8_t)reg;
        }
        jobs[g].ik = rcpt[i].identity_key;
        jobs[g].slot = p;
        p += V2_KEY_BYTES;
        i = j;
    }
    if (e == SOTTO_OK) {
        v2_ctx ctx = { r, e_pub, mkey, us->priv, us->pub, jobs };
        e = v2_slots(&ctx, groups);
    }
    free(jobs);
    if (e == SOTTO_OK) {
        memcpy(p, e_pub + 1, K32);
        p += K32;
        sotto__layers__unidentified_sender_message_content__pack(&m, p);
        e = sotto_aes256_gcm_siv_encrypt(p, k, zero_nonce, NULL, 0, p, usmc_len);
        p += usmc_len + SOTTO_GCM_SIV_TAG_BYTES;
    }
    if (e == SOTTO_OK)
        *len = (size_t)(p - out);
    else
        sodium_memzero(out, need);
    sodium_memzero(mkey, sizeof mkey);
    sodium_memzero(r, sizeof r);
    sodium_memzero(k, sizeof k);
    sodium_memzero(dh, sizeof dh);
    return e;
}

/* ---- v2 fan-out (server) ------------------------------------------------- */

static sotto_err get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return SOTTO_ERR_MALFORMED;
        const uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return SOTTO_OK;
    }
    return SOTTO_ERR_MALFORMED;
}

/* Index of service ids already listed (open addressing over entries[]), so
 * that merging repeated recipients stays linear in the recipient count. */
typedef struct sid_index { uint32_t *slot; size_t mask; } sid_index;
#define SID_EMPTY UINT32_MAX

static size_t sid_hash(const uint8_t sid[SOTTO_SERVICE_ID_BYTES])
{
    uint64_t h = 0xcbf29ce484222325u;           /* FNV-1a; ids are not secret */
    for (int i = 0; i < SOTTO_SERVICE_ID_BYTES; i++)
        h = (h ^ sid[i]) * 0x100000001b3u;
    return (size_t)h;
}

/* The entry with this id, or the empty slot where it would go. */
static uint32_t *sid_find(const sid_index *x, const sotto_sealed_v2_entry *entries,
                          const uint8_t sid[SOTTO_SERVICE_ID_BYTES])
{
    for (size_t h = sid_hash(sid) & x->mask;; h = (h + 1) & x->mask)
        if (x->slot[h] == SID_EMPTY
            || memcmp(entries[x->slot[h]].service_id, sid, SOTTO_SERVICE_ID_BYTES) == 0)
            return &x->slot[h];
}

sotto_err sotto_sealed_v2_parse(const uint8_t *sent, size_t len, sotto_sealed_v2_entry *entries,
                                size_t cap, size_t *n_out, size_t *shared_offset)
{
    if (n_out == NULL || shared_offset == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *n_out = 0;
    *shared_offset = 0;
    if (sent == NULL || len < 1 || len > SOTTO_SEALED_MAX_MESSAGE_BYTES
                                       + (size_t)SOTTO_SEALED_V2_MAX_RECIPIENTS * SOTTO_SEALED_V2_OVERHEAD_PER_RECIPIENT)
        return SOTTO_ERR_MALFORMED;
    const uint8_t version = sent[0];
    if (version != SOTTO_SEALED_V2_UUID_VERSION && version != SOTTO_SEALED_V2_VERSION)
        return SOTTO_ERR_UNSUPPORTED_VERSION;
    const uint8_t *p = sent + 1, *end = sent + len;
    uint64_t count;
    sotto_err e = get_varint(&p, end, &count);
    if (e != SOTTO_OK)
        return e;
    if (count > SOTTO_SEALED_V2_MAX_RECIPIENTS)
        return SOTTO_ERR_MALFORMED;
    sid_index idx = { NULL, 0 };
    if (entries != NULL && count > 0) {
        size_t size = 2;
        while (size < 2 * (size_t)count)
            size *= 2;
        if ((idx.slot = malloc(size * sizeof *idx.slot)) == NULL)
            return SOTTO_ERR_NO_MEMORY;
        memset(idx.slot, 0xff, size * sizeof *idx.slot);  /* SID_EMPTY */
        idx.mask = size - 1;
    }
    size_t n = 0;
    e = SOTTO_ERR_MALFORMED;
    for (uint64_t i = 0; i < count; i++) {
        sotto_sealed_v2_entry ent;
        memset(&ent, 0, sizeof ent);
        if (version == SOTTO_SEALED_V2_UUID_VERSION) {
            if ((size_t)(end - p) < SOTTO_UUID_BYTES)
                goto out;
            ent.service_id[0] = 0;                      /* an ACI */
            memcpy(ent.service_id + 1, p, SOTTO_UUID_BYTES);
            p += SOTTO_UUID_BYTES;
        } else {
            if ((size_t)(end - p) < SOTTO_SERVICE_ID_BYTES || p[0] > 1)
                goto out;
            memcpy(ent.service_id, p, SOTTO_SERVICE_ID_BYTES);
            p += SOTTO_SERVICE_ID_BYTES;
        }
        for (;;) {
            if (p >= end)
                goto out;
            const uint8_t dev = *p++;
            if (dev == 0) {
                if (ent.n_devices != 0)
                    goto out;
                break;                                  /* excluded recipient */
            }
            if (dev > SOTTO_SEALED_V2_MAX_DEVICES || (size_t)(end - p) < 2
                || ent.n_devices >= SOTTO_SEALED_V2_MAX_DEVICES)
                goto out;
            const uint16_t reg = (uint16_t)(p[0] << 8 | p[1]);
            p += 2;
            ent.device_ids[ent.n_devices] = dev;
            ent.registration_ids[ent.n_devices] = (uint16_t)(reg & REG_ID_MASK);
            ent.n_devices++;
            if (!(reg & REG_ID_MORE))
                break;
        }
        if (ent.n_devices != 0) {
            if ((size_t)(end - p) < V2_KEY_BYTES)
                goto out;
            ent.key_offset = (size_t)(p - sent);
            p += V2_KEY_BYTES;
        }
        if (entries == NULL) {
            n++;
            continue;
        }
        /* A service id seen before: libsignal merges the devices (keeping the
         * first key material), unless either entry is an exclusion. */
        uint32_t *slot = sid_find(&idx, entries, ent.service_id);
        if (*slot != SID_EMPTY) {
            sotto_sealed_v2_entry *old = &entries[*slot];
            if (old->n_devices == 0 || ent.n_devices == 0
                || old->n_devices + ent.n_devices > SOTTO_SEALED_V2_MAX_DEVICES)
                goto out;
            memcpy(old->device_ids + old->n_devices, ent.device_ids, ent.n_devices);
            memcpy(old->registration_ids + old->n_devices, ent.registration_ids,
                   ent.n_devices * sizeof ent.registration_ids[0]);
            old->n_devices += ent.n_devices;
            continue;
        }
        if (n >= cap) {
            e = SOTTO_ERR_BUFFER_TOO_SMALL;
            goto out;
        }
        entries[n] = ent;
        *slot = (uint32_t)n;
        n++;
    }
    if ((size_t)(end - p) < K32)
        goto out;
    *n_out = n;
    *shared_offset = (size_t)(p - sent);
    e = SOTTO_OK;
out:
    free(idx.slot);
    return e;
}

size_t sotto_sealed_v2_received_len(size_t sent_len, size_t shared_offset)
{
    return shared_offset > sent_len ? 0 : 1 + V2_KEY_BYTES + (sent_len - shared_offset);
}

sotto_err sotto_sealed_v2_received(const uint8_t *sent, size_t len, const sotto_sealed_v2_entry *ent,
                                   size_t shared_offset, uint8_t *out, size_t cap, size_t *out_len)
{
    if (out_len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *out_len = 0;
    if (sent == NULL || ent == NULL || out == NULL || ent->n_devices == 0
        || shared_offset > len || ent->key_offset == 0 || ent->key_offset + V2_KEY_BYTES > shared_offset)
        return SOTTO_ERR_INVALID_ARGUMENT;
    const size_t need = sotto_sealed_v2_received_len(len, shared_offset);
    if (cap < need)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    out[0] = SOTTO_SEALED_V2_UUID_VERSION;
    memcpy(out + 1, sent + ent->key_offset, V2_KEY_BYTES);
    memcpy(out + 1 + V2_KEY_BYTES, sent + shared_offset, len - shared_offset);
    *out_len = need;
    return SOTTO_OK;
}

/* ---- open ---------------------------------------------------------------- */

/* v1: the sender's identity key and the content bytes (into usmc, malloc'd). */
static sotto_err open_v1(const sotto_identity *us, const uint8_t *msg, size_t len, sotto_arena *a,
                         uint8_t sender_key[PUB33], uint8_t **usmc, size_t *usmc_len)
{
    ProtobufCAllocator al = sotto_arena_allocator(a);
    Sotto__Layers__UnidentifiedSenderMessage *pb =
        sotto__layers__unidentified_sender_message__unpack(&al, len - 1, msg + 1);
    if (pb == NULL || !pb->has_ephemeralpublic || !pb->has_encryptedstatic || !pb->has_encryptedmessage)
        return SOTTO_ERR_MALFORMED;
    uint8_t eph[PUB33];
    if (pb->ephemeralpublic.len < PUB33 || pb->ephemeralpublic.data[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    memcpy(eph, pb->ephemeralpublic.data, PUB33);
    const ProtobufCBinaryData *st = &pb->encryptedstatic, *em = &pb->encryptedmessage;
    if (st->len != PUB33 + SOTTO_SEALED_MAC_BYTES || em->len < SOTTO_SEALED_MAC_BYTES)
        return SOTTO_ERR_BAD_MAC;  /* libsignal: the static key would not decrypt to a key */
    uint8_t dh[K32], ek[3 * K32], sk[2 * K32];
    sotto_err e = sotto_x25519(dh, us->priv, eph + 1);
    if (e == SOTTO_OK)
        e = v1_ephemeral_keys(ek, dh, us->pub, eph);
    if (e == SOTTO_OK)
        e = ctr_mac_decrypt(sender_key, ek + K32, ek + 2 * K32, st->data, st->len);
    if (e == SOTTO_OK && sender_key[0] != SOTTO_KEY_TYPE_DJB)
        e = SOTTO_ERR_INVALID_KEY;
    if (e == SOTTO_OK)
        e = sotto_x25519(dh, us->priv, sender_key + 1);
    if (e == SOTTO_OK)
        e = v1_static_keys(sk, dh, ek, st->data, st->len);
    const size_t n = em->len - SOTTO_SEALED_MAC_BYTES;
    if (e == SOTTO_OK && (*usmc = malloc(n ? n : 1)) == NULL)
        e = SOTTO_ERR_NO_MEMORY;
    if (e == SOTTO_OK) {
        e = ctr_mac_decrypt(*usmc, sk, sk + K32, em->data, em->len);
        *usmc_len = n;
    }
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(ek, sizeof ek);
    sodium_memzero(sk, sizeof sk);
    return e;
}

/* v2 received form: M from C, E checked, content decrypted; the tag is
 * checked by the caller once the certificate's key is known (at_want). */
static sotto_err open_v2(const sotto_identity *us, const uint8_t *msg, size_t len,
                         uint8_t **usmc, size_t *usmc_len, uint8_t c_out[K32], uint8_t at_out[V2_TAG_BYTES],
                         uint8_t e_pub[PUB33])
{
    if (len < 1 + V2_KEY_BYTES + K32 + SOTTO_GCM_SIV_TAG_BYTES)
        return SOTTO_ERR_MALFORMED;
    const uint8_t *c = msg + 1, *at = msg + 1 + K32, *ep = msg + 1 + V2_KEY_BYTES;
    const uint8_t *ct = ep + K32;
    const size_t ct_len = len - (size_t)(ct - msg);
    e_pub[0] = SOTTO_KEY_TYPE_DJB;
    memcpy(e_pub + 1, ep, K32);
    memcpy(c_out, c, K32);
    memcpy(at_out, at, V2_TAG_BYTES);
    static const uint8_t zero_nonce[SOTTO_GCM_SIV_NONCE_BYTES];
    uint8_t dh[K32], m[K32], r[K32], e_want[PUB33], k[K32];
    sotto_err e = sotto_x25519(dh, us->priv, ep);
    if (e == SOTTO_OK)
        e = v2_xor(m, dh, e_pub, us->pub, c);
    if (e == SOTTO_OK)
        e = v2_derive(r, e_want, k, m);
    if (e == SOTTO_OK && !sotto_ct_equal(e_want, e_pub, PUB33))
        e = SOTTO_ERR_BAD_MAC;      /* libsignal: derived ephemeral key did not match */
    const size_t n = ct_len - SOTTO_GCM_SIV_TAG_BYTES;
    if (e == SOTTO_OK && (*usmc = malloc(n ? n : 1)) == NULL)
        e = SOTTO_ERR_NO_MEMORY;
    if (e == SOTTO_OK) {
        e = sotto_aes256_gcm_siv_decrypt(*usmc, k, zero_nonce, NULL, 0, ct, ct_len);
        *usmc_len = n;
    }
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(m, sizeof m);
    sodium_memzero(r, sizeof r);
    sodium_memzero(k, sizeof k);
    return e;
}

sotto_err sotto_sealed_open(const sotto_identity *us, const uint8_t trust_root[PUB33], uint64_t now_ms,
                            const uint8_t *msg, size_t len, uint8_t *content, size_t cap,
                            size_t *content_len, sotto_unsealed *info)
{
    if (content_len == NULL || info == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *content_len = 0;
    memset(info, 0, sizeof *info);
    info->cert_status = SOTTO_CERT_UNTRUSTED_SERVER;
    if (us == NULL || trust_root == NULL || content == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (msg == NULL || len < 1 || len > SOTTO_SEALED_MAX_MESSAGE_BYTES)
        return SOTTO_ERR_MALFORMED;
    const uint8_t major = msg[0] >> 4;
    sotto_arena a;
    sotto_arena_init(&a);
    uint8_t *usmc = NULL;
    size_t usmc_len = 0, n = 0;
    uint8_t sender_key[PUB33], c[K32], at[V2_TAG_BYTES], e_pub[PUB33], dh[K32], want[V2_TAG_BYTES];
    const uint8_t *cert = NULL;
    size_t cert_len = 0;
    sotto_err e;
    if (major == 0 || major == 1)       /* libsignal reads major version 0 as v1 too */
        e = open_v1(us, msg, len, &a, sender_key, &usmc, &usmc_len);
    else if (major == 2)
        e = open_v2(us, msg, len, &usmc, &usmc_len, c, at, e_pub);
    else
        e = SOTTO_ERR_UNSUPPORTED_VERSION;
    if (e == SOTTO_OK)
        e = usmc_parse(usmc, usmc_len, info, content, cap, &n, &cert, &cert_len, &a);
    /* The sender the envelope authenticates must be the certificate's. */
    if (e == SOTTO_OK && major != 2 && !sotto_ct_equal(sender_key, info->sender.identity_key, PUB33))
        e = SOTTO_ERR_UNTRUSTED_IDENTITY;
    if (e == SOTTO_OK && major == 2) {
        e = sotto_x25519(dh, us->priv, info->sender.identity_key + 1);
        if (e == SOTTO_OK)
            e = v2_tag(want, dh, e_pub, c, info->sender.identity_key, us->pub);
        if (e == SOTTO_OK && !sotto_ct_equal(want, at, V2_TAG_BYTES))
            e = SOTTO_ERR_UNTRUSTED_IDENTITY;
    }
    if (e == SOTTO_OK)
        e = sotto_sender_certificate_validate(cert, cert_len, trust_root, now_ms, &info->cert_status);
    if (e == SOTTO_OK && info->cert_status != SOTTO_CERT_VALID)
        e = SOTTO_ERR_BAD_SIGNATURE;
    if (e == SOTTO_OK) {
        *content_len = n;
    } else {
        sodium_memzero(content, n);
        const sotto_cert_status keep = info->cert_status;
        memset(info, 0, sizeof *info);
        info->cert_status = e == SOTTO_ERR_BAD_SIGNATURE ? keep : SOTTO_CERT_UNTRUSTED_SERVER;
        if (e == SOTTO_ERR_BAD_SIGNATURE)
            (void)sotto_sender_certificate_parse(cert, cert_len, &info->sender); /* who claimed it */
    }
    if (usmc) {
        sodium_memzero(usmc, usmc_len);
        free(usmc);
    }
    sodium_memzero(dh, sizeof dh);
    sotto_arena_release(&a);
    return e;
}
