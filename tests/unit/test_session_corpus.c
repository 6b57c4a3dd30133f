/* The fuzz fixture and seed corpora, from real sessions.
 *
 * With SOTTO_WRITE_CORPUS=1 in the environment this writes
 * fuzz/fuzz_session_fixture_data.h (Bob's identity, prekeys and saved record)
 * and fuzz/corpus/<target>/ (messages Alice sent him, prekey messages, saved
 * records, SPQR payloads). Without it, it checks that the checked-in corpus
 * still decrypts with the checked-in fixture: a change to the saved format or
 * to the message code that breaks them fails here. */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "sotto/sotto.h"

#if __has_include("../../fuzz/fuzz_session_fixture_data.h")
#include "../../fuzz/fuzz_session_fixture_data.h"
#define HAVE_FIXTURE 1
#endif

static const char *srcdir(void)
{
    const char *d = getenv("SOTTO_SOURCE_DIR");
    return d ? d : SOTTO_SOURCE_DIR;
}

/* ---- writing ------------------------------------------------------------- */

static void put_array(FILE *f, const char *name, const uint8_t *p, size_t n)
{
    fprintf(f, "static const uint8_t %s[%zu] = {", name, n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s0x%02x,", i % 16 ? " " : "\n    ", p[i]);
    fprintf(f, "\n};\n");
}

static void put_file(const char *target, const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s", srcdir(), target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s/%s", srcdir(), target, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void put_record(const char *name, const sotto_session *s)
{
    size_t n = 0;
    assert_int_equal(sotto_session_save(s, NULL, 0, &n), SOTTO_OK);
    uint8_t *b = malloc(n);
    assert_int_equal(sotto_session_save(s, b, n, &n), SOTTO_OK);
    put_file("fuzz_session_load", name, b, n);
    free(b);
}

typedef struct out {
    uint8_t b[SOTTO_CIPHERTEXT_OVERHEAD + 256];
    size_t n;
    int type;
} out;

static void enc(sotto_session *s, const sotto_identity *id, const char *t, out *o)
{
    assert_int_equal(sotto_session_encrypt(s, id, (const uint8_t *)t, strlen(t), o->b, sizeof o->b,
                                           &o->n, &o->type), SOTTO_OK);
}

static void generate(void)
{
    uint8_t bob_pub[33], bob_priv[32], spk_pub[33], spk_priv[32], opk_pub[33], opk_priv[32];
    static uint8_t kpub[SOTTO_KYBER_PUBLIC_BYTES], ksec[SOTTO_KYBER_SECRET_BYTES];
    sotto_identity *bob, *alice;
    sotto_bundle bundle;
    sotto_prekey_secrets keys;
    static out o;
    uint8_t pt[256];
    size_t n;
    const uint32_t reg = 2, spk_id = 21, opk_id = 22, kid = 23;

    assert_int_equal(sotto_ec_keypair(bob_pub, bob_priv), SOTTO_OK);
    assert_int_equal(sotto_identity_from_keys(&bob, bob_priv, reg), SOTTO_OK);
    assert_int_equal(sotto_ec_keypair(spk_pub, spk_priv), SOTTO_OK);
    assert_int_equal(sotto_ec_keypair(opk_pub, opk_priv), SOTTO_OK);
    assert_int_equal(sotto_kyber_keypair(kpub, ksec), SOTTO_OK);
    memset(&bundle, 0, sizeof bundle);
    bundle.registration_id = reg;
    bundle.device_id = 1;
    memcpy(bundle.identity_key, bob_pub, 33);
    bundle.has_pre_key = 1;
    bundle.pre_key_id = opk_id;
    memcpy(bundle.pre_key, opk_pub, 33);
    bundle.signed_pre_key_id = spk_id;
    memcpy(bundle.signed_pre_key, spk_pub, 33);
    assert_int_equal(sotto_identity_sign(bob, bundle.signed_pre_key_signature, spk_pub, 33), SOTTO_OK);
    bundle.kyber_pre_key_id = kid;
    memcpy(bundle.kyber_pre_key, kpub, sizeof kpub);
    assert_int_equal(sotto_identity_sign(bob, bundle.kyber_pre_key_signature, kpub, sizeof kpub), SOTTO_OK);
    memset(&keys, 0, sizeof keys);
    keys.signed_pre_key_id = spk_id;
    memcpy(keys.signed_pre_key_public, spk_pub, 33);
    memcpy(keys.signed_pre_key_private, spk_priv, 32);
    keys.has_pre_key = 1;
    keys.pre_key_id = opk_id;
    memcpy(keys.pre_key_public, opk_pub, 33);
    memcpy(keys.pre_key_private, opk_priv, 32);
    keys.kyber_pre_key_id = kid;
    memcpy(keys.kyber_pre_key_secret, ksec, sizeof ksec);

    /* Alice and Bob talk; Bob's record after one exchange is the fixture. */
    sotto_session *as, *bs;
    assert_int_equal(sotto_identity_generate(&alice, 1), SOTTO_OK);
    assert_int_equal(sotto_session_new(&as), SOTTO_OK);
    assert_int_equal(sotto_session_new(&bs), SOTTO_OK);
    put_record("empty.bin", bs);
    assert_int_equal(sotto_session_process_bundle(as, alice, &bundle), SOTTO_OK);
    put_record("alice-pending.bin", as);
    enc(as, alice, "hello bob", &o);
    put_file("fuzz_prekey_message", "prekey-opk.bin", o.b, o.n);
    assert_int_equal(sotto_session_decrypt(bs, bob, &keys, o.type, o.b, o.n, pt, sizeof pt, &n), SOTTO_OK);
    enc(bs, bob, "hello alice", &o);
    assert_int_equal(sotto_session_decrypt(as, alice, NULL, o.type, o.b, o.n, pt, sizeof pt, &n), SOTTO_OK);

    size_t rn = 0;
    assert_int_equal(sotto_session_save(bs, NULL, 0, &rn), SOTTO_OK);
    uint8_t *rec = malloc(rn);
    assert_int_equal(sotto_session_save(bs, rec, rn, &rn), SOTTO_OK);
    put_file("fuzz_session_load", "bob.bin", rec, rn);
    put_record("alice.bin", as);

    /* Whisper messages Bob has not seen: a new chain (DH step), in order,
     * and past a gap. */
    for (int i = 0; i < 6; i++) {
        char t[16], name[32];
        snprintf(t, sizeof t, "m%d", i);
        enc(as, alice, t, &o);
        if (i == 0 || i == 1 || i == 3 || i == 5) {
            snprintf(name, sizeof name, "whisper-%d.bin", i);
            put_file("fuzz_signal_message", name, o.b, o.n);
        }
    }
    /* Keep going past more received messages so Bob's saved record has
     * skipped keys: a record for the load target. */
    assert_int_equal(sotto_session_decrypt(bs, bob, NULL, o.type, o.b, o.n, pt, sizeof pt, &n), SOTTO_OK);
    put_record("bob-skipped.bin", bs);

    /* Two more initiators: with and without the one-time prekey. */
    sotto_identity *a2;
    sotto_session *s2;
    assert_int_equal(sotto_identity_generate(&a2, 5), SOTTO_OK);
    assert_int_equal(sotto_session_new(&s2), SOTTO_OK);
    bundle.has_pre_key = 0;
    assert_int_equal(sotto_session_process_bundle(s2, a2, &bundle), SOTTO_OK);
    enc(s2, a2, "no one-time prekey", &o);
    put_file("fuzz_prekey_message", "prekey-no-opk.bin", o.b, o.n);
    enc(s2, a2, "second, still prekey", &o);
    put_file("fuzz_prekey_message", "prekey-second.bin", o.b, o.n);
    sotto_session_free(s2);
    sotto_identity_free(a2);

    /* SPQR payloads: None, a Hdr chunk (libsignal's initiator), Ct1Ack, a
     * later version, and two payloads in one input (separator 0xFF 0xFE). */
    static const uint8_t none1[] = { 1, 1, 1, 0 };
    uint8_t hdr[5 + 32] = { 1, 1, 2, 1, 0 };
    memset(hdr + 5, 0x5A, 32);
    static const uint8_t ack[] = { 1, 1, 3, 4 };
    static const uint8_t v2[] = { 2, 1, 1, 0 };
    static const uint8_t two[] = { 1, 1, 5, 0, 0xFF, 0xFE, 1, 1, 3, 0 };
    put_file("fuzz_pq_ratchet", "none.bin", none1, sizeof none1);
    put_file("fuzz_pq_ratchet", "hdr.bin", hdr, sizeof hdr);
    put_file("fuzz_pq_ratchet", "ct1ack.bin", ack, sizeof ack);
    put_file("fuzz_pq_ratchet", "v2.bin", v2, sizeof v2);
    put_file("fuzz_pq_ratchet", "two.bin", two, sizeof two);

    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz/fuzz_session_fixture_data.h", srcdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "/* Generated by tests/unit/test_session_corpus.c (SOTTO_WRITE_CORPUS=1): a\n"
               " * throwaway test identity, its prekeys and Bob's saved record. Do not edit. */\n");
    fprintf(f, "#define FX_BOB_REG %uu\n#define FX_SPK_ID %uu\n#define FX_OPK_ID %uu\n#define FX_KYBER_ID %uu\n",
            reg, spk_id, opk_id, kid);
    put_array(f, "FX_BOB_PRIV", bob_priv, 32);
    put_array(f, "FX_SPK_PUB", spk_pub, 33);
    put_array(f, "FX_SPK_PRIV", spk_priv, 32);
    put_array(f, "FX_OPK_PUB", opk_pub, 33);
    put_array(f, "FX_OPK_PRIV", opk_priv, 32);
    put_array(f, "FX_KYBER_SEC", ksec, sizeof ksec);
    put_array(f, "FX_BOB_RECORD", rec, rn);
    fclose(f);
    free(rec);
    sotto_session_free(as);
    sotto_session_free(bs);
    sotto_identity_free(alice);
    sotto_identity_free(bob);
}

/* ---- checking ------------------------------------------------------------ */

typedef void (*file_fn)(const uint8_t *p, size_t n, const char *name);

static int each_file(const char *target, file_fn fn)
{
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", srcdir(), target);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fn(buf, n, e->d_name);
        count++;
    }
    closedir(d);
    return count;
}

#ifdef HAVE_FIXTURE
static sotto_identity *fx_bob;
static sotto_prekey_secrets fx_keys;

static void check_whisper(const uint8_t *p, size_t n, const char *name)
{
    sotto_session *s = NULL;
    uint8_t pt[64];
    size_t pn = 0;
    assert_int_equal(sotto_session_load(&s, FX_BOB_RECORD, sizeof FX_BOB_RECORD), SOTTO_OK);
    sotto_err e = sotto_session_decrypt(s, fx_bob, NULL, SOTTO_MSG_WHISPER, p, n, pt, sizeof pt, &pn);
    if (e != SOTTO_OK)
        fail_msg("%s: %s", name, sotto_strerror(e));
    sotto_session_free(s);
}

static void check_prekey(const uint8_t *p, size_t n, const char *name)
{
    sotto_session *s = NULL;
    uint8_t pt[64];
    size_t pn = 0;
    sotto_prekey_ids ids;
    assert_int_equal(sotto_prekey_message_ids(p, n, &ids), SOTTO_OK);
    sotto_prekey_secrets k = fx_keys;
    k.has_pre_key = ids.has_pre_key;
    assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    sotto_err e = sotto_session_decrypt(s, fx_bob, &k, SOTTO_MSG_PREKEY, p, n, pt, sizeof pt, &pn);
    if (e != SOTTO_OK)
        fail_msg("%s: %s", name, sotto_strerror(e));
    sotto_session_free(s);
}
#endif

static void check_record(const uint8_t *p, size_t n, const char *name)
{
    sotto_session *s = NULL;
    sotto_err e = sotto_session_load(&s, p, n);
    if (e != SOTTO_OK)
        fail_msg("%s: %s", name, sotto_strerror(e));
    sotto_session_free(s);
}

static void test_corpus(void **st)
{
    (void)st;
    assert_int_equal(sotto_init(), SOTTO_OK);
    const char *w = getenv("SOTTO_WRITE_CORPUS");
    if (w != NULL && strcmp(w, "1") == 0) {
        generate();
        return;
    }
#ifdef HAVE_FIXTURE
    assert_int_equal(sotto_identity_from_keys(&fx_bob, FX_BOB_PRIV, FX_BOB_REG), SOTTO_OK);
    memset(&fx_keys, 0, sizeof fx_keys);
    fx_keys.signed_pre_key_id = FX_SPK_ID;
    memcpy(fx_keys.signed_pre_key_public, FX_SPK_PUB, 33);
    memcpy(fx_keys.signed_pre_key_private, FX_SPK_PRIV, 32);
    fx_keys.pre_key_id = FX_OPK_ID;
    memcpy(fx_keys.pre_key_public, FX_OPK_PUB, 33);
    memcpy(fx_keys.pre_key_private, FX_OPK_PRIV, 32);
    fx_keys.kyber_pre_key_id = FX_KYBER_ID;
    memcpy(fx_keys.kyber_pre_key_secret, FX_KYBER_SEC, sizeof FX_KYBER_SEC);
    assert_true(each_file("fuzz_signal_message", check_whisper) >= 3);
    assert_true(each_file("fuzz_prekey_message", check_prekey) >= 2);
    sotto_identity_free(fx_bob);
#endif
    assert_true(each_file("fuzz_session_load", check_record) >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
