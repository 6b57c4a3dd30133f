/* Anchor: Debian's libsignal-protocol-c 2.3.3 (X3DH, message v3), the same
 * four figures as libsotto. It needs a crypto provider (here on OpenSSL 3)
 * and storage callbacks (here in memory, one remote address per user). The
 * stores never delete prekeys, so one bundle serves every setup op. */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <signal_protocol.h>
#include <key_helper.h>
#include <protocol.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <curve.h>
#include <fingerprint.h>
#include <group_cipher.h>
#include <group_session_builder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#define LSPC_MAX_SESSIONS 4 /* each user talks to one remote address */
#define LSPC_PREKEY_ID    7
#define LSPC_SPK_ID       3
#define LSPC_DEVICE       1

/* ------------------------------------------------------ crypto provider */

/* Algorithms fetched once: OpenSSL 3 otherwise fetches by name on every
 * init, which would make this anchor look slower than it is. */
static EVP_MAC *g_hmac;
static EVP_MAC_CTX *g_hmac_tmpl; /* HMAC with SHA256 set; dup'ed per init */
static EVP_MD *g_sha512;
static EVP_CIPHER *g_cbc[3], *g_ctr[3]; /* AES-128/192/256 */

static int fetch_algorithms(void)
{
    static const char *const cbc[3] = { "AES-128-CBC", "AES-192-CBC", "AES-256-CBC" };
    static const char *const ctr[3] = { "AES-128-CTR", "AES-192-CTR", "AES-256-CTR" };
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!(g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) ||
        !(g_hmac_tmpl = EVP_MAC_CTX_new(g_hmac)) ||
        !EVP_MAC_CTX_set_params(g_hmac_tmpl, params) ||
        !(g_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL)))
        return -1;
    for (int i = 0; i < 3; i++)
        if (!(g_cbc[i] = EVP_CIPHER_fetch(NULL, cbc[i], NULL)) ||
            !(g_ctr[i] = EVP_CIPHER_fetch(NULL, ctr[i], NULL)))
            return -1;
    return 0;
}

static void free_algorithms(void)
{
    EVP_MAC_CTX_free(g_hmac_tmpl);
    EVP_MAC_free(g_hmac);
    EVP_MD_free(g_sha512);
    for (int i = 0; i < 3; i++) {
        EVP_CIPHER_free(g_cbc[i]);
        EVP_CIPHER_free(g_ctr[i]);
        g_cbc[i] = g_ctr[i] = NULL;
    }
    g_hmac_tmpl = NULL;
    g_hmac = NULL;
    g_sha512 = NULL;
}

static int p_random(uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    return RAND_bytes(data, (int)len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int p_hmac_init(void **ctx, const uint8_t *key, size_t key_len, void *ud)
{
    (void)ud;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(g_hmac_tmpl);
    if (!c || !EVP_MAC_init(c, key, key_len, NULL)) {
        EVP_MAC_CTX_free(c);
        return SG_ERR_UNKNOWN;
    }
    *ctx = c;
    return 0;
}

static int p_hmac_update(void *ctx, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    return EVP_MAC_update(ctx, data, len) ? 0 : SG_ERR_UNKNOWN;
}

static int p_hmac_final(void *ctx, signal_buffer **out, void *ud)
{
    (void)ud;
    uint8_t md[32];
    size_t n = 0;
    if (!EVP_MAC_final(ctx, md, &n, sizeof md))
        return SG_ERR_UNKNOWN;
    *out = signal_buffer_create(md, n);
    return *out ? 0 : SG_ERR_NOMEM;
}

static void p_hmac_cleanup(void *ctx, void *ud)
{
    (void)ud;
    EVP_MAC_CTX_free(ctx);
}

static int p_sha512_init(void **ctx, void *ud)
{
    (void)ud;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex(c, g_sha512, NULL)) {
        EVP_MD_CTX_free(c);
        return SG_ERR_UNKNOWN;
    }
    *ctx = c;
    return 0;
}

static int p_sha512_update(void *ctx, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    return EVP_DigestUpdate(ctx, data, len) ? 0 : SG_ERR_UNKNOWN;
}

static int p_sha512_final(void *ctx, signal_buffer **out, void *ud)
{
    (void)ud;
    uint8_t md[64];
    unsigned n = 0;
    if (!EVP_DigestFinal_ex(ctx, md, &n) || !EVP_DigestInit_ex(ctx, g_sha512, NULL))
        return SG_ERR_UNKNOWN;
    *out = signal_buffer_create(md, n);
    return *out ? 0 : SG_ERR_NOMEM;
}

static void p_sha512_cleanup(void *ctx, void *ud)
{
    (void)ud;
    EVP_MD_CTX_free(ctx);
}

static const EVP_CIPHER *pick_cipher(int cipher, size_t key_len)
{
    int i = key_len == 16 ? 0 : key_len == 24 ? 1 : key_len == 32 ? 2 : -1;
    if (i < 0)
        return NULL;
    return cipher == SG_CIPHER_AES_CBC_PKCS5 ? g_cbc[i]
         : cipher == SG_CIPHER_AES_CTR_NOPADDING ? g_ctr[i] : NULL;
}

static int p_crypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                   const uint8_t *iv, size_t iv_len, const uint8_t *in, size_t in_len, int enc)
{
    const EVP_CIPHER *c = pick_cipher(cipher, key_len);
    if (!c || iv_len != 16 || in_len > (size_t)INT32_MAX - 32)
        return SG_ERR_INVAL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t *buf = malloc(in_len + 32);
    int n1 = 0, n2 = 0, rc = SG_ERR_UNKNOWN;
    if (ctx && buf && EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) &&
        EVP_CIPHER_CTX_set_padding(ctx, cipher == SG_CIPHER_AES_CBC_PKCS5) &&
        EVP_CipherUpdate(ctx, buf, &n1, in, (int)in_len) &&
        EVP_CipherFinal_ex(ctx, buf + n1, &n2)) {
        *output = signal_buffer_create(buf, (size_t)(n1 + n2));
        rc = *output ? 0 : SG_ERR_NOMEM;
    }
    EVP_CIPHER_CTX_free(ctx);
    free(buf);
    return rc;
}

static int p_encrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                     const uint8_t *iv, size_t iv_len, const uint8_t *pt, size_t pt_len, void *ud)
{
    (void)ud;
    return p_crypt(output, cipher, key, key_len, iv, iv_len, pt, pt_len, 1);
}

static int p_decrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                     const uint8_t *iv, size_t iv_len, const uint8_t *ct, size_t ct_len, void *ud)
{
    (void)ud;
    return p_crypt(output, cipher, key, key_len, iv, iv_len, ct, ct_len, 0);
}

static const signal_crypto_provider provider = {
    .random_func = p_random,
    .hmac_sha256_init_func = p_hmac_init,
    .hmac_sha256_update_func = p_hmac_update,
    .hmac_sha256_final_func = p_hmac_final,
    .hmac_sha256_cleanup_func = p_hmac_cleanup,
    .sha512_digest_init_func = p_sha512_init,
    .sha512_digest_update_func = p_sha512_update,
    .sha512_digest_final_func = p_sha512_final,
    .sha512_digest_cleanup_func = p_sha512_cleanup,
    .encrypt_func = p_encrypt,
    .decrypt_func = p_decrypt,
};

/* ------------------------------------------------------ in-memory stores */

typedef struct kv { uint32_t id; signal_buffer *rec; } kv;
typedef struct sess { char name[32]; int32_t device; signal_buffer *rec; } sess;

typedef struct user {
    const char *name;
    signal_protocol_store_context *store;
    ratchet_identity_key_pair *ik;
    uint32_t regid;
    sess sessions[LSPC_MAX_SESSIONS];
    kv prekey, spk; /* one of each is all a bench needs */
    session_cipher *cipher; /* towards the other user */
} user;

static sess *find_sess(user *u, const signal_protocol_address *a, int create)
{
    for (int i = 0; i < LSPC_MAX_SESSIONS; i++) {
        sess *s = &u->sessions[i];
        if (s->rec && s->device == a->device_id && strlen(s->name) == a->name_len &&
            memcmp(s->name, a->name, a->name_len) == 0)
            return s;
    }
    if (!create || a->name_len >= sizeof u->sessions[0].name)
        return NULL;
    for (int i = 0; i < LSPC_MAX_SESSIONS; i++) {
        sess *s = &u->sessions[i];
        if (!s->rec) {
            memcpy(s->name, a->name, a->name_len);
            s->name[a->name_len] = 0;
            s->device = a->device_id;
            return s;
        }
    }
    return NULL;
}

static void clear_sessions(user *u)
{
    for (int i = 0; i < LSPC_MAX_SESSIONS; i++) {
        signal_buffer_free(u->sessions[i].rec);
        memset(&u->sessions[i], 0, sizeof u->sessions[i]);
    }
}

static int s_load(signal_buffer **record, signal_buffer **user_record,
                  const signal_protocol_address *a, void *ud)
{
    (void)user_record;
    sess *s = find_sess(ud, a, 0);
    if (!s)
        return 0;
    *record = signal_buffer_copy(s->rec);
    return *record ? 1 : SG_ERR_NOMEM;
}

static int s_sub_devices(signal_int_list **out, const char *name, size_t name_len, void *ud)
{
    user *u = ud;
    signal_int_list *l = signal_int_list_alloc();
    if (!l)
        return SG_ERR_NOMEM;
    int n = 0;
    for (int i = 0; i < LSPC_MAX_SESSIONS; i++) {
        sess *s = &u->sessions[i];
        if (s->rec && strlen(s->name) == name_len && memcmp(s->name, name, name_len) == 0) {
            signal_int_list_push_back(l, s->device);
            n++;
        }
    }
    *out = l;
    return n;
}

static int s_store(const signal_protocol_address *a, uint8_t *rec, size_t len,
                   uint8_t *user_rec, size_t user_len, void *ud)
{
    (void)user_rec;
    (void)user_len;
    sess *s = find_sess(ud, a, 1);
    if (!s)
        return SG_ERR_NOMEM;
    signal_buffer *b = signal_buffer_create(rec, len);
    if (!b)
        return SG_ERR_NOMEM;
    signal_buffer_free(s->rec);
    s->rec = b;
    return 0;
}

static int s_contains(const signal_protocol_address *a, void *ud)
{
    return find_sess(ud, a, 0) != NULL;
}

static int s_delete(const signal_protocol_address *a, void *ud)
{
    sess *s = find_sess(ud, a, 0);
    if (!s)
        return 0;
    signal_buffer_free(s->rec);
    memset(s, 0, sizeof *s);
    return 1;
}

static int s_delete_all(const char *name, size_t name_len, void *ud)
{
    user *u = ud;
    int n = 0;
    for (int i = 0; i < LSPC_MAX_SESSIONS; i++) {
        sess *s = &u->sessions[i];
        if (s->rec && strlen(s->name) == name_len && memcmp(s->name, name, name_len) == 0) {
            signal_buffer_free(s->rec);
            memset(s, 0, sizeof *s);
            n++;
        }
    }
    return n;
}

static int kv_load(kv *k, signal_buffer **record, uint32_t id)
{
    if (!k->rec || k->id != id)
        return SG_ERR_INVALID_KEY_ID;
    *record = signal_buffer_copy(k->rec);
    return *record ? SG_SUCCESS : SG_ERR_NOMEM;
}

static int kv_store(kv *k, uint32_t id, const uint8_t *rec, size_t len)
{
    signal_buffer *b = signal_buffer_create(rec, len);
    if (!b)
        return SG_ERR_NOMEM;
    signal_buffer_free(k->rec);
    k->rec = b;
    k->id = id;
    return 0;
}

static int pk_load(signal_buffer **r, uint32_t id, void *ud) { return kv_load(&((user *)ud)->prekey, r, id); }
static int pk_store(uint32_t id, uint8_t *r, size_t n, void *ud) { return kv_store(&((user *)ud)->prekey, id, r, n); }
static int pk_contains(uint32_t id, void *ud) { user *u = ud; return u->prekey.rec && u->prekey.id == id; }
/* Kept on purpose: every setup op reuses the same bundle. */
static int pk_remove(uint32_t id, void *ud) { (void)id; (void)ud; return 0; }
static int spk_load(signal_buffer **r, uint32_t id, void *ud) { return kv_load(&((user *)ud)->spk, r, id); }
static int spk_store(uint32_t id, uint8_t *r, size_t n, void *ud) { return kv_store(&((user *)ud)->spk, id, r, n); }
static int spk_contains(uint32_t id, void *ud) { user *u = ud; return u->spk.rec && u->spk.id == id; }
static int spk_remove(uint32_t id, void *ud) { (void)id; (void)ud; return 0; }

static int id_get_pair(signal_buffer **pub, signal_buffer **priv, void *ud)
{
    user *u = ud;
    if (ec_public_key_serialize(pub, ratchet_identity_key_pair_get_public(u->ik)) != 0)
        return SG_ERR_NOMEM;
    if (ec_private_key_serialize(priv, ratchet_identity_key_pair_get_private(u->ik)) != 0) {
        signal_buffer_free(*pub);
        return SG_ERR_NOMEM;
    }
    return 0;
}

static int id_get_regid(void *ud, uint32_t *regid) { *regid = ((user *)ud)->regid; return 0; }
static int id_save(const signal_protocol_address *a, uint8_t *k, size_t n, void *ud)
{ (void)a; (void)k; (void)n; (void)ud; return 0; }
static int id_trusted(const signal_protocol_address *a, uint8_t *k, size_t n, void *ud)
{ (void)a; (void)k; (void)n; (void)ud; return 1; }

/* ------------------------------------------------------ the two users */

typedef struct lspc {
    signal_context *ctx;
    user alice, bob;
    signal_protocol_address alice_addr, bob_addr;
    session_pre_key_bundle *bundle; /* Bob's */
    uint8_t msg[BENCH_MSG_BYTES];
    signal_buffer **pending; /* ciphertexts for the decrypt figure */
    unsigned max_pending;
    int turn;                /* ping-pong: 0 = Alice sends next */
} lspc;

static int user_init(lspc *L, user *u, const char *name)
{
    u->name = name;
    if (signal_protocol_key_helper_generate_identity_key_pair(&u->ik, L->ctx) != 0 ||
        signal_protocol_key_helper_generate_registration_id(&u->regid, 0, L->ctx) != 0 ||
        signal_protocol_store_context_create(&u->store, L->ctx) != 0)
        return -1;
    signal_protocol_session_store ss = {
        .load_session_func = s_load, .get_sub_device_sessions_func = s_sub_devices,
        .store_session_func = s_store, .contains_session_func = s_contains,
        .delete_session_func = s_delete, .delete_all_sessions_func = s_delete_all,
        .user_data = u,
    };
    signal_protocol_pre_key_store ps = {
        .load_pre_key = pk_load, .store_pre_key = pk_store, .contains_pre_key = pk_contains,
        .remove_pre_key = pk_remove, .user_data = u,
    };
    signal_protocol_signed_pre_key_store sps = {
        .load_signed_pre_key = spk_load, .store_signed_pre_key = spk_store,
        .contains_signed_pre_key = spk_contains, .remove_signed_pre_key = spk_remove,
        .user_data = u,
    };
    signal_protocol_identity_key_store is = {
        .get_identity_key_pair = id_get_pair, .get_local_registration_id = id_get_regid,
        .save_identity = id_save, .is_trusted_identity = id_trusted, .user_data = u,
    };
    if (signal_protocol_store_context_set_session_store(u->store, &ss) != 0 ||
        signal_protocol_store_context_set_pre_key_store(u->store, &ps) != 0 ||
        signal_protocol_store_context_set_signed_pre_key_store(u->store, &sps) != 0 ||
        signal_protocol_store_context_set_identity_key_store(u->store, &is) != 0)
        return -1;
    return 0;
}

static int make_bob_bundle(lspc *L)
{
    session_signed_pre_key *spk = NULL;
    ec_key_pair *kp = NULL;
    session_pre_key *pk = NULL;
    int rc = -1;
    if (signal_protocol_key_helper_generate_signed_pre_key(&spk, L->bob.ik, LSPC_SPK_ID, 0,
                                                           L->ctx) != 0 ||
        signal_protocol_signed_pre_key_store_key(L->bob.store, spk) != 0 ||
        curve_generate_key_pair(L->ctx, &kp) != 0 ||
        session_pre_key_create(&pk, LSPC_PREKEY_ID, kp) != 0 ||
        signal_protocol_pre_key_store_key(L->bob.store, pk) != 0)
        goto out;
    if (session_pre_key_bundle_create(&L->bundle, L->bob.regid, LSPC_DEVICE, LSPC_PREKEY_ID,
            ec_key_pair_get_public(kp), LSPC_SPK_ID,
            ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)),
            session_signed_pre_key_get_signature(spk), session_signed_pre_key_get_signature_len(spk),
            ratchet_identity_key_pair_get_public(L->bob.ik)) != 0)
        goto out;
    rc = 0;
out:
    if (spk) SIGNAL_UNREF(spk);
    if (pk) SIGNAL_UNREF(pk);
    if (kp) SIGNAL_UNREF(kp);
    return rc;
}

/* Alice encrypts msg (len bytes): the serialized ciphertext and its type. */
static signal_buffer *encrypt_one(lspc *L, user *from, size_t len, int *type)
{
    ciphertext_message *m = NULL;
    if (session_cipher_encrypt(from->cipher, L->msg, len, &m) != 0)
        return NULL;
    *type = ciphertext_message_get_type(m);
    signal_buffer *out = signal_buffer_copy(ciphertext_message_get_serialized(m));
    SIGNAL_UNREF(m);
    return out;
}

static int decrypt_one(lspc *L, user *to, const signal_buffer *ct, int type)
{
    signal_buffer *pt = NULL;
    int rc;
    if (type == CIPHERTEXT_PREKEY_TYPE) {
        pre_key_signal_message *m = NULL;
        rc = pre_key_signal_message_deserialize(&m, signal_buffer_const_data(ct),
                                                signal_buffer_len(ct), L->ctx);
        if (rc == 0) {
            rc = session_cipher_decrypt_pre_key_signal_message(to->cipher, m, NULL, &pt);
            SIGNAL_UNREF(m);
        }
    } else {
        signal_message *m = NULL;
        rc = signal_message_deserialize(&m, signal_buffer_const_data(ct), signal_buffer_len(ct),
                                        L->ctx);
        if (rc == 0) {
            rc = session_cipher_decrypt_signal_message(to->cipher, m, NULL, &pt);
            SIGNAL_UNREF(m);
        }
    }
    if (rc == 0 && signal_buffer_len(pt) == 0)
        rc = -1;
    signal_buffer_free(pt);
    return rc;
}

/* One message from -> to; 0 on success. */
static int send_one(lspc *L, user *from, user *to, size_t len)
{
    int type = 0;
    signal_buffer *ct = encrypt_one(L, from, len, &type);
    if (!ct)
        return -1;
    int rc = decrypt_one(L, to, ct, type);
    signal_buffer_free(ct);
    return rc;
}

/* A fresh session both ways: bundle, first message, first reply. */
static int handshake(lspc *L, size_t first_len, int reply)
{
    session_builder *b = NULL;
    if (session_builder_create(&b, L->alice.store, &L->bob_addr, L->ctx) != 0)
        return -1;
    int rc = session_builder_process_pre_key_bundle(b, L->bundle);
    session_builder_free(b);
    if (rc == 0)
        rc = send_one(L, &L->alice, &L->bob, first_len);
    if (rc == 0 && reply)
        rc = send_one(L, &L->bob, &L->alice, BENCH_MSG_BYTES);
    return rc;
}

static uint64_t batch_setup(void *ctx, unsigned n)
{
    lspc *L = ctx;
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        clear_sessions(&L->alice);
        clear_sessions(&L->bob);
        uint64_t t0 = bench_now_ns();
        if (handshake(L, BENCH_SETUP_MSG_BYTES, 0) != 0)
            return 0;
        total += bench_now_ns() - t0;
    }
    return total;
}

static uint64_t batch_encrypt(void *ctx, unsigned n)
{
    lspc *L = ctx;
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++) {
        int type;
        signal_buffer *ct = encrypt_one(L, &L->alice, BENCH_MSG_BYTES, &type);
        if (!ct || type != CIPHERTEXT_SIGNAL_TYPE)
            return 0;
        signal_buffer_free(ct);
    }
    return bench_now_ns() - t0;
}

static uint64_t batch_decrypt(void *ctx, unsigned n)
{
    lspc *L = ctx;
    if (n > L->max_pending)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        int type;
        if (!(L->pending[i] = encrypt_one(L, &L->alice, BENCH_MSG_BYTES, &type)))
            return 0;
    }
    uint64_t t0 = bench_now_ns();
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++)
        rc = decrypt_one(L, &L->bob, L->pending[i], CIPHERTEXT_SIGNAL_TYPE);
    uint64_t t = bench_now_ns() - t0;
    for (unsigned i = 0; i < n; i++) {
        signal_buffer_free(L->pending[i]);
        L->pending[i] = NULL;
    }
    return rc == 0 ? t : 0;
}

static uint64_t batch_pingpong(void *ctx, unsigned n)
{
    lspc *L = ctx;
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++) {
        int rc = L->turn ? send_one(L, &L->bob, &L->alice, BENCH_MSG_BYTES)
                         : send_one(L, &L->alice, &L->bob, BENCH_MSG_BYTES);
        if (rc != 0)
            return 0;
        L->turn ^= 1;
    }
    return bench_now_ns() - t0;
}

static uint64_t part_batch(void *ctx, bench_figure f, unsigned n)
{
    switch (f) {
    case FIG_SETUP: return batch_setup(ctx, n);
    case FIG_ENCRYPT: return batch_encrypt(ctx, n);
    case FIG_DECRYPT: return batch_decrypt(ctx, n);
    case FIG_PINGPONG: return batch_pingpong(ctx, n);
    case FIG_COUNT_: break;
    }
    return 0;
}

/* A fresh session both ways, so Alice sends SignalMessages; Bob replied
 * last, so Alice starts the ping-pong and every message is a ratchet step.
 * (The encrypt figure's messages would be skipped keys for Bob: each figure
 * starts over.) */
static int part_prepare(void *ctx, bench_figure f)
{
    lspc *L = ctx;
    L->turn = 0;
    if (f == FIG_SETUP)
        return 0;
    clear_sessions(&L->alice);
    clear_sessions(&L->bob);
    return handshake(L, BENCH_MSG_BYTES, 1);
}

static void part_close(void *ctx)
{
    lspc *L = ctx;
    free(L->pending);
    if (L->alice.cipher) session_cipher_free(L->alice.cipher);
    if (L->bob.cipher) session_cipher_free(L->bob.cipher);
    if (L->bundle) SIGNAL_UNREF(L->bundle);
    user *users[2] = { &L->alice, &L->bob };
    for (int i = 0; i < 2; i++) {
        user *u = users[i];
        clear_sessions(u);
        signal_buffer_free(u->prekey.rec);
        signal_buffer_free(u->spk.rec);
        if (u->ik) SIGNAL_UNREF(u->ik);
        if (u->store) signal_protocol_store_context_destroy(u->store);
    }
    if (L->ctx) signal_context_destroy(L->ctx);
    free_algorithms();
    free(L);
}

int bench_lspc_open(bench_part *p, const bench_cfg *cfg)
{
    lspc *L = calloc(1, sizeof *L);
    if (!L)
        return -1;
    *p = (bench_part){ .impl = "libsignal-protocol-c", .ctx = L, .prepare = part_prepare,
                       .batch = part_batch, .close = part_close };
    L->alice_addr = (signal_protocol_address){ "alice", 5, LSPC_DEVICE };
    L->bob_addr = (signal_protocol_address){ "bob", 3, LSPC_DEVICE };
    for (size_t i = 0; i < sizeof L->msg; i++)
        L->msg[i] = (uint8_t)i;
    L->max_pending = cfg->iters[FIG_DECRYPT];
    if (fetch_algorithms() != 0 || signal_context_create(&L->ctx, L) != 0 ||
        signal_context_set_crypto_provider(L->ctx, &provider) != 0 ||
        user_init(L, &L->alice, "alice") != 0 || user_init(L, &L->bob, "bob") != 0 ||
        make_bob_bundle(L) != 0 ||
        session_cipher_create(&L->alice.cipher, L->alice.store, &L->bob_addr, L->ctx) != 0 ||
        session_cipher_create(&L->bob.cipher, L->bob.store, &L->alice_addr, L->ctx) != 0 ||
        !(L->pending = calloc(L->max_pending, sizeof *L->pending))) {
        fprintf(stderr, "sotto-bench: libsignal-protocol-c anchor failed to set up\n");
        part_close(L);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------ layers (group, fingerprint) */

/* Sender A (encrypt figure) and sender B, whose chain receiver R knows
 * (decrypt figure); each store holds the one sender-key record its party
 * needs. */
typedef struct gstore {
    signal_protocol_store_context *store;
    signal_buffer *rec;
    group_cipher *cipher;
} gstore;

typedef struct lspc_layers {
    signal_context *ctx;
    gstore a, b, r;
    uint8_t msg[BENCH_MSG_BYTES];
    signal_buffer **pending;
    unsigned max_pending;
    fingerprint_generator *fpgen;
    ec_key_pair *fp_local, *fp_remote;
} lspc_layers;

#define LSPC_GROUP_ID "bench-group"
/* 2.3.3 knows scannable versions 0 and 1 only; the hashing (5,200 SHA-512
 * per side) is the same as version 2's. */
#define LSPC_FP_VERSION 1

static int gk_store(const signal_protocol_sender_key_name *n, uint8_t *rec, size_t len,
                    uint8_t *urec, size_t ulen, void *ud)
{
    gstore *g = ud;
    signal_buffer *b = signal_buffer_create(rec, len);
    (void)n; (void)urec; (void)ulen;
    if (!b)
        return SG_ERR_NOMEM;
    signal_buffer_free(g->rec);
    g->rec = b;
    return 0;
}

static int gk_load(signal_buffer **rec, signal_buffer **urec, const signal_protocol_sender_key_name *n,
                   void *ud)
{
    gstore *g = ud;
    (void)n; (void)urec;
    if (!g->rec)
        return 0; /* none yet */
    *rec = signal_buffer_copy(g->rec);
    return *rec ? 1 : SG_ERR_NOMEM;
}

static int gstore_init(lspc_layers *L, gstore *g, const signal_protocol_sender_key_name *name)
{
    signal_protocol_sender_key_store ks = { .store_sender_key = gk_store, .load_sender_key = gk_load,
                                            .user_data = g };
    return signal_protocol_store_context_create(&g->store, L->ctx) != 0 ||
           signal_protocol_store_context_set_sender_key_store(g->store, &ks) != 0 ||
           group_cipher_create(&g->cipher, g->store, name, L->ctx) != 0 ? -1 : 0;
}

static void gstore_free(gstore *g)
{
    if (g->cipher) group_cipher_free(g->cipher);
    if (g->store) signal_protocol_store_context_destroy(g->store);
    signal_buffer_free(g->rec);
}

void bench_lspc_layers_close(void *ctx)
{
    lspc_layers *L = ctx;
    if (!L)
        return;
    if (L->pending) {
        for (unsigned i = 0; i < L->max_pending; i++)
            signal_buffer_free(L->pending[i]);
        free(L->pending);
    }
    gstore_free(&L->a);
    gstore_free(&L->b);
    gstore_free(&L->r);
    if (L->fpgen) fingerprint_generator_free(L->fpgen);
    if (L->fp_local) SIGNAL_UNREF(L->fp_local);
    if (L->fp_remote) SIGNAL_UNREF(L->fp_remote);
    if (L->ctx) signal_context_destroy(L->ctx);
    free_algorithms();
    free(L);
}

void *bench_lspc_layers_open(unsigned max_pending)
{
    static const signal_protocol_sender_key_name name_a = {
        LSPC_GROUP_ID, sizeof LSPC_GROUP_ID - 1, { "alice", 5, LSPC_DEVICE } };
    static const signal_protocol_sender_key_name name_b = {
        LSPC_GROUP_ID, sizeof LSPC_GROUP_ID - 1, { "bob", 3, LSPC_DEVICE } };
    lspc_layers *L = calloc(1, sizeof *L);
    group_session_builder *ba = NULL, *bb = NULL, *br = NULL;
    sender_key_distribution_message *skdm = NULL;
    int ok;
    if (!L)
        return NULL;
    for (size_t i = 0; i < sizeof L->msg; i++)
        L->msg[i] = (uint8_t)i;
    L->max_pending = max_pending;
    ok = fetch_algorithms() == 0 && signal_context_create(&L->ctx, L) == 0 &&
         signal_context_set_crypto_provider(L->ctx, &provider) == 0 &&
         (L->pending = calloc(max_pending, sizeof *L->pending)) != NULL &&
         gstore_init(L, &L->a, &name_a) == 0 && gstore_init(L, &L->b, &name_b) == 0 &&
         gstore_init(L, &L->r, &name_b) == 0 &&
         group_session_builder_create(&ba, L->a.store, L->ctx) == 0 &&
         group_session_builder_create(&bb, L->b.store, L->ctx) == 0 &&
         group_session_builder_create(&br, L->r.store, L->ctx) == 0 &&
         group_session_builder_create_session(ba, &skdm, &name_a) == 0;
    if (skdm) SIGNAL_UNREF(skdm);
    skdm = NULL;
    ok = ok && group_session_builder_create_session(bb, &skdm, &name_b) == 0 &&
         group_session_builder_process_session(br, &name_b, skdm) == 0 &&
         fingerprint_generator_create(&L->fpgen, 5200, LSPC_FP_VERSION, L->ctx) == 0 &&
         curve_generate_key_pair(L->ctx, &L->fp_local) == 0 &&
         curve_generate_key_pair(L->ctx, &L->fp_remote) == 0;
    if (skdm) SIGNAL_UNREF(skdm);
    if (ba) group_session_builder_free(ba);
    if (bb) group_session_builder_free(bb);
    if (br) group_session_builder_free(br);
    if (!ok) {
        fprintf(stderr, "sotto-bench: libsignal-protocol-c layers failed to set up\n");
        bench_lspc_layers_close(L);
        return NULL;
    }
    return L;
}

int bench_lspc_layers_pre(void *ctx, bench_lspc_layer f, unsigned n)
{
    lspc_layers *L = ctx;
    if (f != BENCH_LSPC_GROUP_DEC)
        return 0;
    if (n > L->max_pending)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        ciphertext_message *m = NULL;
        if (group_cipher_encrypt(L->b.cipher, L->msg, sizeof L->msg, &m) != 0)
            return -1;
        signal_buffer_free(L->pending[i]);
        L->pending[i] = signal_buffer_copy(ciphertext_message_get_serialized(m));
        SIGNAL_UNREF(m);
        if (!L->pending[i])
            return -1;
    }
    return 0;
}

int bench_lspc_layers_op(void *ctx, bench_lspc_layer f, unsigned i)
{
    lspc_layers *L = ctx;
    int rc = -1;
    switch (f) {
    case BENCH_LSPC_GROUP_ENC: {
        ciphertext_message *m = NULL;
        rc = group_cipher_encrypt(L->a.cipher, L->msg, sizeof L->msg, &m) == 0 ? 0 : -1;
        if (m) SIGNAL_UNREF(m);
        return rc;
    }
    case BENCH_LSPC_GROUP_DEC: {
        sender_key_message *m = NULL;
        signal_buffer *pt = NULL;
        if (sender_key_message_deserialize(&m, signal_buffer_data(L->pending[i]),
                                           signal_buffer_len(L->pending[i]), L->ctx) == 0 &&
            group_cipher_decrypt(L->r.cipher, m, NULL, &pt) == 0 &&
            signal_buffer_len(pt) == BENCH_MSG_BYTES)
            rc = 0;
        if (m) SIGNAL_UNREF(m);
        signal_buffer_free(pt);
        return rc;
    }
    case BENCH_LSPC_FINGERPRINT: {
        fingerprint *fp = NULL;
        rc = fingerprint_generator_create_for(L->fpgen, "+14155550100",
                                              ec_key_pair_get_public(L->fp_local), "+14155550111",
                                              ec_key_pair_get_public(L->fp_remote), &fp) == 0 ? 0 : -1;
        if (fp) SIGNAL_UNREF(fp);
        return rc;
    }
    }
    return -1;
}
