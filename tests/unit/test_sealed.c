/* Sealed sender: certificates (valid, expired, wrong trust root, forged
 * server signature, revoked server id, libsignal's known certificates by id),
 * v1 and v2 round trips, the server's v2 fan-out, and refusals: tampered
 * envelopes, the wrong recipient, a certificate whose key is not the
 * sender's. Interop with libsignal is in tests/interop/driver_layers.js. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "sotto/sotto.h"
#include "layers.pb-c.h"

#define NOW      1700000000000ull
#define EXPIRES  (NOW + 86400000ull)
#define BUF      8192

typedef struct pki {
    uint8_t root_pub[33], root_priv[32], server_pub[33], server_priv[32];
    uint8_t server_cert[512]; size_t server_cert_len;
} pki;

static void make_pki(pki *p, uint32_t id)
{
    assert_int_equal(sotto_ec_keypair(p->root_pub, p->root_priv), SOTTO_OK);
    assert_int_equal(sotto_ec_keypair(p->server_pub, p->server_priv), SOTTO_OK);
    assert_int_equal(sotto_server_certificate_create(p->server_cert, sizeof p->server_cert, &p->server_cert_len,
                                                     id, p->server_pub, p->root_priv), SOTTO_OK);
}

static size_t make_sender_cert(uint8_t *out, size_t cap, const pki *p, const sotto_identity *who,
                               uint64_t expires)
{
    uint8_t ik[33];
    size_t n;
    sotto_identity_public_key(who, ik);
    assert_int_equal(sotto_sender_certificate_create(out, cap, &n, "9d0652a3-dcc3-4d11-975f-74d61598733f",
                                                     "+14155550100", 7, ik, expires, p->server_cert,
                                                     p->server_cert_len, p->server_priv), SOTTO_OK);
    return n;
}

static void test_certificates(void **state)
{
    (void)state;
    pki p, other;
    make_pki(&p, 42);
    make_pki(&other, 43);
    sotto_identity *alice;
    assert_int_equal(sotto_identity_generate(&alice, 1), SOTTO_OK);
    uint8_t cert[1024];
    size_t n = make_sender_cert(cert, sizeof cert, &p, alice, EXPIRES);
    sotto_sender_certificate c;
    assert_int_equal(sotto_sender_certificate_parse(cert, n, &c), SOTTO_OK);
    assert_string_equal(c.sender_uuid, "9d0652a3-dcc3-4d11-975f-74d61598733f");
    assert_true(c.has_e164);
    assert_string_equal(c.sender_e164, "+14155550100");
    assert_int_equal(c.sender_device, 7);
    assert_int_equal(c.expires_ms, EXPIRES);
    assert_int_equal(c.server_key_id, 42);
    sotto_cert_status st;
    assert_int_equal(sotto_sender_certificate_validate(cert, n, p.root_pub, NOW, &st), SOTTO_OK);
    assert_int_equal(st, SOTTO_CERT_VALID);
    assert_int_equal(sotto_sender_certificate_validate(cert, n, p.root_pub, EXPIRES, &st), SOTTO_OK);
    assert_int_equal(st, SOTTO_CERT_VALID);                 /* the last valid millisecond */
    assert_int_equal(sotto_sender_certificate_validate(cert, n, p.root_pub, EXPIRES + 1, &st), SOTTO_OK);
    assert_int_equal(st, SOTTO_CERT_EXPIRED);
    assert_int_equal(sotto_sender_certificate_validate(cert, n, other.root_pub, NOW, &st), SOTTO_OK);
    assert_int_equal(st, SOTTO_CERT_UNTRUSTED_SERVER);
    /* signed by another server key than the embedded certificate's */
    uint8_t ik[33], forged[1024];
    size_t fn;
    sotto_identity_public_key(alice, ik);
    assert_int_equal(sotto_sender_certificate_create(forged, sizeof forged, &fn, "u", NULL, 1, ik, EXPIRES,
                                                     p.server_cert, p.server_cert_len, other.server_priv), SOTTO_OK);
    assert_int_equal(sotto_sender_certificate_validate(forged, fn, p.root_pub, NOW, &st), SOTTO_OK);
    assert_int_equal(st, SOTTO_CERT_BAD_SIGNATURE);
    /* the revoked test id */
    pki revoked;
    make_pki(&revoked, 0xDEADC357u);
    n = make_sender_cert(cert, sizeof cert, &revoked, alice, EXPIRES);
    assert_int_equal(sotto_sender_certificate_validate(cert, n, revoked.root_pub, NOW, &st), SOTTO_OK);
    assert_int_equal(st, SOTTO_CERT_UNTRUSTED_SERVER);
    /* malformed input */
    for (size_t cut = 0; cut < n; cut++)
        (void)sotto_sender_certificate_parse(cert, cut, &c);
    static const uint8_t junk[] = { 0x0a, 0x05, 0x01 };
    assert_int_equal(sotto_sender_certificate_parse(junk, sizeof junk, &c), SOTTO_ERR_MALFORMED);
    sotto_identity_free(alice);
}

/* A sender certificate naming its signer by id: libsignal's known production
 * server certificates (id 2 and 3, whose trust roots are public) resolve and
 * validate under their real roots up to the sender signature, which we cannot
 * make (status BAD_SIGNATURE, not UNTRUSTED_SERVER); an unknown id does not
 * parse. */
static void test_known_server_certificates(void **state)
{
    (void)state;
    static const struct { uint32_t id; const char *root_b64; } known[] = {
        { 2, "BYhU6tPjqP46KGZEzRs1OL4U39V5dlPJ/X09ha4rErkm" },
        { 3, "BUkY0I+9+oPgDCn4+Ac6Iu813yvqkDr/ga8DzLxFxuk6" },
        { 99, NULL },
    };
    uint8_t ik[33], priv[32], sig[64] = { 0 };
    assert_int_equal(sotto_ec_keypair(ik, priv), SOTTO_OK);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        Sotto__Layers__SenderCertificateData d = SOTTO__LAYERS__SENDER_CERTIFICATE_DATA__INIT;
        d.uuidstring = (char *)"9d0652a3-dcc3-4d11-975f-74d61598733f";
        d.has_senderdevice = d.has_expires = d.has_identitykey = d.has_signerid = 1;
        d.senderdevice = 1;
        d.expires = EXPIRES;
        d.identitykey.data = ik;
        d.identitykey.len = sizeof ik;
        d.signerid = known[i].id;
        uint8_t inner[256], cert[512];
        const size_t inner_len = sotto__layers__sender_certificate_data__pack(&d, inner);
        Sotto__Layers__SenderCertificate c = SOTTO__LAYERS__SENDER_CERTIFICATE__INIT;
        c.has_certificate = c.has_signature = 1;
        c.certificate.data = inner;
        c.certificate.len = inner_len;
        c.signature.data = sig;
        c.signature.len = sizeof sig;
        const size_t n = sotto__layers__sender_certificate__pack(&c, cert);
        sotto_sender_certificate out;
        sotto_cert_status st;
        if (known[i].root_b64 == NULL) {
            assert_int_equal(sotto_sender_certificate_parse(cert, n, &out), SOTTO_ERR_MALFORMED);
            continue;
        }
        uint8_t root[33];
        size_t rl = 0;
        assert_int_equal(sodium_base642bin(root, sizeof root, known[i].root_b64, strlen(known[i].root_b64), NULL,
                                           &rl, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
        assert_int_equal(rl, 33);
        assert_int_equal(sotto_sender_certificate_parse(cert, n, &out), SOTTO_OK);
        assert_int_equal(out.server_key_id, known[i].id);
        assert_int_equal(sotto_sender_certificate_validate(cert, n, root, NOW, &st), SOTTO_OK);
        assert_int_equal(st, SOTTO_CERT_BAD_SIGNATURE);
        root[5] ^= 1;  /* another root: the server certificate is not trusted */
        assert_int_equal(sotto_sender_certificate_validate(cert, n, root, NOW, &st), SOTTO_OK);
        assert_int_equal(st, SOTTO_CERT_UNTRUSTED_SERVER);
    }
}

static void test_v1(void **state)
{
    (void)state;
    pki p;
    make_pki(&p, 1);
    sotto_identity *alice, *bob, *eve;
    assert_int_equal(sotto_identity_generate(&alice, 1), SOTTO_OK);
    assert_int_equal(sotto_identity_generate(&bob, 2), SOTTO_OK);
    assert_int_equal(sotto_identity_generate(&eve, 3), SOTTO_OK);
    uint8_t cert[1024], bob_ik[33];
    size_t cert_len = make_sender_cert(cert, sizeof cert, &p, alice, EXPIRES);
    sotto_identity_public_key(bob, bob_ik);
    static const uint8_t body[] = "a sealed message body";
    static const uint8_t gid[] = { 1, 2, 3 };
    sotto_sealed_content c = { SOTTO_MSG_WHISPER, cert, cert_len, body, sizeof body, 1, gid, sizeof gid };
    uint8_t env[BUF], out[BUF];
    size_t n, m;
    assert_true(sotto_sealed_v1_bound(&c) <= sizeof env);
    assert_int_equal(sotto_sealed_v1_seal(alice, bob_ik, &c, env, sizeof env, &n), SOTTO_OK);
    assert_true(n <= sotto_sealed_v1_bound(&c));
    assert_int_equal(env[0], 0x11);
    sotto_unsealed info;
    assert_int_equal(sotto_sealed_open(bob, p.root_pub, NOW, env, n, out, sizeof out, &m, &info), SOTTO_OK);
    assert_int_equal(m, sizeof body);
    assert_memory_equal(out, body, m);
    assert_int_equal(info.msg_type, SOTTO_MSG_WHISPER);
    assert_int_equal(info.content_hint, 1);
    assert_true(info.has_group_id);
    assert_int_equal(info.group_id_len, 3);
    assert_int_equal(info.sender.sender_device, 7);
    /* not for eve; expired; tampered anywhere */
    assert_int_not_equal(sotto_sealed_open(eve, p.root_pub, NOW, env, n, out, sizeof out, &m, &info), SOTTO_OK);
    assert_int_equal(m, 0);
    assert_int_equal(sotto_sealed_open(bob, p.root_pub, EXPIRES + 1, env, n, out, sizeof out, &m, &info),
                     SOTTO_ERR_BAD_SIGNATURE);
    assert_int_equal(info.cert_status, SOTTO_CERT_EXPIRED);
    for (size_t i = 1; i < n; i++) {
        env[i] ^= 0x04;
        assert_int_not_equal(sotto_sealed_open(bob, p.root_pub, NOW, env, n, out, sizeof out, &m, &info), SOTTO_OK);
        env[i] ^= 0x04;
    }
    /* a certificate for eve's key, sealed by alice: the key does not match */
    uint8_t eve_cert[1024];
    size_t eve_cert_len = make_sender_cert(eve_cert, sizeof eve_cert, &p, eve, EXPIRES);
    sotto_sealed_content lie = c;
    lie.sender_cert = eve_cert;
    lie.sender_cert_len = eve_cert_len;
    assert_int_equal(sotto_sealed_v1_seal(alice, bob_ik, &lie, env, sizeof env, &n), SOTTO_OK);
    assert_int_equal(sotto_sealed_open(bob, p.root_pub, NOW, env, n, out, sizeof out, &m, &info),
                     SOTTO_ERR_UNTRUSTED_IDENTITY);
    sotto_identity_free(alice);
    sotto_identity_free(bob);
    sotto_identity_free(eve);
}

static void test_v2(void **state)
{
    (void)state;
    enum { PEOPLE = 4 };
    pki p;
    make_pki(&p, 1);
    sotto_identity *alice, *r[PEOPLE];
    assert_int_equal(sotto_identity_generate(&alice, 1), SOTTO_OK);
    sotto_sealed_recipient rc[PEOPLE + 1];
    size_t nr = 0;
    for (int i = 0; i < PEOPLE; i++) {
        assert_int_equal(sotto_identity_generate(&r[i], (uint32_t)(100 + i)), SOTTO_OK);
        sotto_sealed_recipient *x = &rc[nr++];
        memset(x, 0, sizeof *x);
        x->service_id[0] = (uint8_t)(i == 3);           /* the last one a PNI */
        randombytes_buf(x->service_id + 1, 16);
        x->device_id = 1;
        x->registration_id = (uint32_t)(100 + i);
        sotto_identity_public_key(r[i], x->identity_key);
        if (i == 1) {                                   /* a second device */
            rc[nr] = *x;
            rc[nr].device_id = 2;
            rc[nr].registration_id = 0x3FFF;
            nr++;
        }
    }
    uint8_t cert[1024];
    size_t cert_len = make_sender_cert(cert, sizeof cert, &p, alice, EXPIRES);
    static const uint8_t body[] = "group body sealed once for everyone";
    sotto_sealed_content c = { SOTTO_MSG_SENDER_KEY, cert, cert_len, body, sizeof body, 0, NULL, 0 };
    uint8_t sent[BUF];
    size_t n;
    assert_int_equal(sotto_sealed_v2_seal(alice, rc, nr, &c, sent, sizeof sent, &n), SOTTO_OK);
    assert_true(n <= sotto_sealed_v2_bound(&c, nr));
    assert_int_equal(sent[0], 0x23);
    sotto_sealed_v2_entry ent[PEOPLE];
    size_t ne, shared;
    assert_int_equal(sotto_sealed_v2_parse(sent, n, NULL, 0, &ne, &shared), SOTTO_OK);
    assert_int_equal(ne, PEOPLE);
    assert_int_equal(sotto_sealed_v2_parse(sent, n, ent, PEOPLE, &ne, &shared), SOTTO_OK);
    assert_int_equal(ent[1].n_devices, 2);
    assert_int_equal(ent[1].device_ids[1], 2);
    assert_int_equal(ent[1].registration_ids[1], 0x3FFF);
    uint8_t rx[PEOPLE][BUF], out[BUF];
    size_t rn[PEOPLE], m;
    for (int i = 0; i < PEOPLE; i++) {
        assert_memory_equal(ent[i].service_id, rc[i == 0 ? 0 : i + 1].service_id, 17);
        assert_int_equal(sotto_sealed_v2_received(sent, n, &ent[i], shared, rx[i], BUF, &rn[i]), SOTTO_OK);
        assert_int_equal(rx[i][0], 0x22);
        sotto_unsealed info;
        assert_int_equal(sotto_sealed_open(r[i], p.root_pub, NOW, rx[i], rn[i], out, sizeof out, &m, &info), SOTTO_OK);
        assert_int_equal(m, sizeof body);
        assert_memory_equal(out, body, m);
        assert_int_equal(info.msg_type, SOTTO_MSG_SENDER_KEY);
        assert_false(info.has_group_id);
        /* someone else's copy does not open */
        const int j = (i + 1) % PEOPLE;
        assert_int_not_equal(sotto_sealed_open(r[j], p.root_pub, NOW, rx[i], rn[i], out, sizeof out, &m, &info),
                             SOTTO_OK);
    }
    /* a service id listed twice is one recipient with the devices merged
     * (libsignal's parse), the first key material kept */
    {
        uint8_t dup[BUF];
        memcpy(dup, sent, n);
        const size_t sid_at = ent[2].key_offset - 3 * ent[2].n_devices - 17;
        memcpy(dup + sid_at, ent[0].service_id, 17);
        sotto_sealed_v2_entry merged[PEOPLE];
        size_t nm, sh2;
        assert_int_equal(sotto_sealed_v2_parse(dup, n, merged, PEOPLE, &nm, &sh2), SOTTO_OK);
        assert_int_equal(nm, PEOPLE - 1);
        assert_int_equal(merged[0].n_devices, 2);
        assert_int_equal(merged[0].key_offset, ent[0].key_offset);
        assert_int_equal(merged[0].registration_ids[1], ent[2].registration_ids[0]);
        /* too small an array is reported, not overrun */
        assert_int_equal(sotto_sealed_v2_parse(dup, n, merged, 1, &nm, &sh2), SOTTO_ERR_BUFFER_TOO_SMALL);
    }
    /* tampering anywhere in a received copy is refused */
    for (size_t i = 1; i < rn[0]; i += 3) {
        sotto_unsealed info;
        rx[0][i] ^= 0x20;
        assert_int_not_equal(sotto_sealed_open(r[0], p.root_pub, NOW, rx[0], rn[0], out, sizeof out, &m, &info),
                             SOTTO_OK);
        rx[0][i] ^= 0x20;
    }
    /* a lying certificate (someone else's key) fails the tag */
    uint8_t other[1024];
    size_t other_len = make_sender_cert(other, sizeof other, &p, r[2], EXPIRES);
    sotto_sealed_content lie = c;
    lie.sender_cert = other;
    lie.sender_cert_len = other_len;
    assert_int_equal(sotto_sealed_v2_seal(alice, rc, 1, &lie, sent, sizeof sent, &n), SOTTO_OK);
    assert_int_equal(sotto_sealed_v2_parse(sent, n, ent, PEOPLE, &ne, &shared), SOTTO_OK);
    assert_int_equal(sotto_sealed_v2_received(sent, n, &ent[0], shared, rx[0], BUF, &rn[0]), SOTTO_OK);
    sotto_unsealed info;
    assert_int_equal(sotto_sealed_open(r[0], p.root_pub, NOW, rx[0], rn[0], out, sizeof out, &m, &info),
                     SOTTO_ERR_UNTRUSTED_IDENTITY);
    /* bad recipient lists */
    rc[0].device_id = 0;
    assert_int_equal(sotto_sealed_v2_seal(alice, rc, nr, &c, sent, sizeof sent, &n), SOTTO_ERR_INVALID_ARGUMENT);
    rc[0].device_id = 1;
    rc[2].identity_key[5] ^= 1;   /* second device of recipient 1 with another key */
    assert_int_equal(sotto_sealed_v2_seal(alice, rc, nr, &c, sent, sizeof sent, &n), SOTTO_ERR_INVALID_ARGUMENT);
    /* truncated sent forms parse or fail, never crash */
    for (size_t cut = 0; cut < 200; cut++)
        (void)sotto_sealed_v2_parse(sent, cut, ent, PEOPLE, &ne, &shared);
    sotto_identity_free(alice);
    for (int i = 0; i < PEOPLE; i++)
        sotto_identity_free(r[i]);
}

/* Enough recipients for the parallel key agreements (sealed.c v2_slots):
 * every copy opens for its own recipient only. */
static void test_v2_many(void **state)
{
    (void)state;
    enum { N = 40 };
    pki p;
    make_pki(&p, 1);
    sotto_identity *alice, *r[N];
    assert_int_equal(sotto_identity_generate(&alice, 1), SOTTO_OK);
    sotto_sealed_recipient *rc = calloc(N, sizeof *rc);
    for (int i = 0; i < N; i++) {
        assert_int_equal(sotto_identity_generate(&r[i], (uint32_t)(1 + i)), SOTTO_OK);
        rc[i].service_id[1] = (uint8_t)i;
        rc[i].service_id[2] = 0x42;
        rc[i].device_id = 1;
        rc[i].registration_id = (uint32_t)(1 + i);
        sotto_identity_public_key(r[i], rc[i].identity_key);
    }
    uint8_t cert[1024];
    size_t cert_len = make_sender_cert(cert, sizeof cert, &p, alice, EXPIRES);
    static const uint8_t body[] = "many";
    sotto_sealed_content c = { SOTTO_MSG_PLAINTEXT, cert, cert_len, body, sizeof body, 0, NULL, 0 };
    size_t cap = sotto_sealed_v2_bound(&c, N), n, ne, shared, m, k;
    uint8_t *sent = malloc(cap), rx[BUF], out[BUF];
    assert_int_equal(sotto_sealed_v2_seal(alice, rc, N, &c, sent, cap, &n), SOTTO_OK);
    sotto_sealed_v2_entry *ent = calloc(N, sizeof *ent);
    assert_int_equal(sotto_sealed_v2_parse(sent, n, ent, N, &ne, &shared), SOTTO_OK);
    assert_int_equal(ne, N);
    for (int i = 0; i < N; i++) {
        sotto_unsealed info;
        assert_int_equal(sotto_sealed_v2_received(sent, n, &ent[i], shared, rx, sizeof rx, &m), SOTTO_OK);
        assert_int_equal(sotto_sealed_open(r[i], p.root_pub, NOW, rx, m, out, sizeof out, &k, &info), SOTTO_OK);
        assert_memory_equal(out, body, sizeof body);
        assert_int_not_equal(sotto_sealed_open(r[(i + 7) % N], p.root_pub, NOW, rx, m, out, sizeof out, &k, &info),
                             SOTTO_OK);
    }
    free(sent);
    free(ent);
    free(rc);
    sotto_identity_free(alice);
    for (int i = 0; i < N; i++)
        sotto_identity_free(r[i]);
}

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificates),
        cmocka_unit_test(test_known_server_certificates),
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_v2_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
