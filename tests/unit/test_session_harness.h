/* Shared helpers for the session tests (included by tests/unit/test_session*.c):
 * a device with prekeys, bundles, and encrypt/decrypt/save wrappers. */
#ifndef SOTTO_TEST_SESSION_HARNESS_H
#define SOTTO_TEST_SESSION_HARNESS_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sotto/sotto.h"

#define MSG_CAP (SOTTO_CIPHERTEXT_OVERHEAD + 4096)

typedef struct dev {
    sotto_identity *id;
    uint32_t reg;
    uint8_t spk_pub[SOTTO_EC_PUBLIC_BYTES], spk_priv[SOTTO_EC_PRIVATE_BYTES];
    uint32_t spk_id;
    uint8_t spk_sig[SOTTO_SIGNATURE_BYTES];
    uint8_t opk_pub[SOTTO_EC_PUBLIC_BYTES], opk_priv[SOTTO_EC_PRIVATE_BYTES];
    uint32_t opk_id;
    uint8_t kpub[SOTTO_KYBER_PUBLIC_BYTES], ksec[SOTTO_KYBER_SECRET_BYTES];
    uint32_t kid;
    uint8_t ksig[SOTTO_SIGNATURE_BYTES];
} dev;

static inline void dev_init(dev *d, uint32_t reg)
{
    memset(d, 0, sizeof *d);
    d->reg = reg;
    assert_int_equal(sotto_identity_generate(&d->id, reg), SOTTO_OK);
    d->spk_id = reg * 10 + 1;
    d->opk_id = reg * 10 + 2;
    d->kid = reg * 10 + 3;
    assert_int_equal(sotto_ec_keypair(d->spk_pub, d->spk_priv), SOTTO_OK);
    assert_int_equal(sotto_ec_keypair(d->opk_pub, d->opk_priv), SOTTO_OK);
    assert_int_equal(sotto_kyber_keypair(d->kpub, d->ksec), SOTTO_OK);
    assert_int_equal(sotto_identity_sign(d->id, d->spk_sig, d->spk_pub, sizeof d->spk_pub), SOTTO_OK);
    assert_int_equal(sotto_identity_sign(d->id, d->ksig, d->kpub, sizeof d->kpub), SOTTO_OK);
}

static inline void dev_free(dev *d)
{
    sotto_identity_free(d->id);
    memset(d, 0, sizeof *d);
}

/* A fresh one-time prekey (a new "bundle" fetch). */
static inline void dev_new_opk(dev *d)
{
    d->opk_id++;
    assert_int_equal(sotto_ec_keypair(d->opk_pub, d->opk_priv), SOTTO_OK);
}

static inline void dev_bundle(const dev *d, sotto_bundle *b, int with_opk)
{
    memset(b, 0, sizeof *b);
    b->registration_id = d->reg;
    b->device_id = 1;
    sotto_identity_public_key(d->id, b->identity_key);
    b->has_pre_key = with_opk;
    if (with_opk) {
        b->pre_key_id = d->opk_id;
        memcpy(b->pre_key, d->opk_pub, sizeof b->pre_key);
    }
    b->signed_pre_key_id = d->spk_id;
    memcpy(b->signed_pre_key, d->spk_pub, sizeof b->signed_pre_key);
    memcpy(b->signed_pre_key_signature, d->spk_sig, SOTTO_SIGNATURE_BYTES);
    b->kyber_pre_key_id = d->kid;
    memcpy(b->kyber_pre_key, d->kpub, sizeof b->kyber_pre_key);
    memcpy(b->kyber_pre_key_signature, d->ksig, SOTTO_SIGNATURE_BYTES);
}

static inline void dev_secrets(const dev *d, sotto_prekey_secrets *k)
{
    memset(k, 0, sizeof *k);
    k->signed_pre_key_id = d->spk_id;
    memcpy(k->signed_pre_key_public, d->spk_pub, sizeof k->signed_pre_key_public);
    memcpy(k->signed_pre_key_private, d->spk_priv, sizeof k->signed_pre_key_private);
    k->has_pre_key = 1;
    k->pre_key_id = d->opk_id;
    memcpy(k->pre_key_public, d->opk_pub, sizeof k->pre_key_public);
    memcpy(k->pre_key_private, d->opk_priv, sizeof k->pre_key_private);
    k->kyber_pre_key_id = d->kid;
    memcpy(k->kyber_pre_key_secret, d->ksec, sizeof k->kyber_pre_key_secret);
}

typedef struct msg {
    uint8_t b[MSG_CAP];
    size_t n;
    int type;
} msg;

static inline void enc(sotto_session *s, const dev *d, const char *text, msg *m)
{
    sotto_err e = sotto_session_encrypt(s, d->id, (const uint8_t *)text, strlen(text), m->b,
                                        sizeof m->b, &m->n, &m->type);
    assert_int_equal(e, SOTTO_OK);
}

static inline sotto_err dec_raw(sotto_session *s, const dev *d, const msg *m, char *out, size_t cap)
{
    sotto_prekey_secrets k;
    size_t n = 0;
    dev_secrets(d, &k);
    sotto_err e = sotto_session_decrypt(s, d->id, m->type == SOTTO_MSG_PREKEY ? &k : NULL, m->type,
                                        m->b, m->n, (uint8_t *)out, cap - 1, &n);
    out[e == SOTTO_OK ? n : 0] = 0;
    return e;
}

/* Reports the caller's line on failure. */
#define dec_expect(s, d, m, want) dec_expect_at((s), (d), (m), (want), __FILE__, __LINE__)
static inline void dec_expect_at(sotto_session *s, const dev *d, const msg *m, const char *want,
                                 const char *file, int line)
{
    char out[4096];
    _assert_int_equal(dec_raw(s, d, m, out, sizeof out), SOTTO_OK, file, line);
    _assert_string_equal(out, want, file, line);
}

/* Saved bytes of a record (caller frees). */
static inline uint8_t *save_bytes(const sotto_session *s, size_t *n)
{
    size_t need = 0;
    assert_int_equal(sotto_session_save(s, NULL, 0, &need), SOTTO_OK);
    uint8_t *b = malloc(need);
    assert_non_null(b);
    assert_int_equal(sotto_session_save(s, b, need, n), SOTTO_OK);
    assert_int_equal(*n, need);
    return b;
}

/* Decrypt must fail with want (SOTTO_OK here means: with any error) and
 * leave the saved bytes identical. */
#define dec_fails_unchanged(s, d, m, want) dec_fails_unchanged_at((s), (d), (m), (want), __FILE__, __LINE__)
static inline void dec_fails_unchanged_at(sotto_session *s, const dev *d, const msg *m, sotto_err want,
                                          const char *file, int line)
{
    char out[4096];
    size_t n0, n1;
    uint8_t *before = save_bytes(s, &n0);
    sotto_err got = dec_raw(s, d, m, out, sizeof out);
    if (want == SOTTO_OK)
        _assert_int_not_equal(got, SOTTO_OK, file, line);
    else
        _assert_int_equal(got, want, file, line);
    uint8_t *after = save_bytes(s, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
}

/* Alice (a) starts with Bob's (b) bundle; returns both records after Bob
 * decrypted the first (prekey) message and replied once. */
static inline void establish(sotto_session **as, sotto_session **bs, dev *a, dev *b, int with_opk)
{
    sotto_bundle bundle;
    msg m;
    assert_int_equal(sotto_session_new(as), SOTTO_OK);
    assert_int_equal(sotto_session_new(bs), SOTTO_OK);
    dev_bundle(b, &bundle, with_opk);
    assert_int_equal(sotto_session_process_bundle(*as, a->id, &bundle), SOTTO_OK);
    enc(*as, a, "hello bob", &m);
    assert_int_equal(m.type, SOTTO_MSG_PREKEY);
    dec_expect(*bs, b, &m, "hello bob");
    enc(*bs, b, "hello alice", &m);
    assert_int_equal(m.type, SOTTO_MSG_WHISPER);
    dec_expect(*as, a, &m, "hello alice");
}

static int harness_setup(void **st)
{
    (void)st;
    return sotto_init() == SOTTO_OK ? 0 : -1;
}

#endif
