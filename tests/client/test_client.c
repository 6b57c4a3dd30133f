/* The client engine against a scripted fake sottod (TLS, in a thread):
 * registration, the first send to a user with two devices, the server's 409
 * device-set mismatch (one device gone, one new), the retry, and the copies
 * decrypted by the recipient's devices with libsotto. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "client.h"
#include "content.h"
#include "sotto/keys.h"
#include "sotto/session.h"
#include "store.h"

#define ALICE_UUID "11111111-2222-4333-8444-555555555555"
#define BOB_UUID "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define DAVE_UUID "dddddddd-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define BOB_DEVICES 3
#define MAX_PUTS 8

/* Bob: one identity, three devices with their own prekeys. */
typedef struct device {
    uint32_t regid;
    uint8_t spk_pub[SOTTO_EC_PUBLIC_BYTES], spk_priv[SOTTO_EC_PRIVATE_BYTES], spk_sig[SOTTO_SIGNATURE_BYTES];
    uint8_t pk_pub[SOTTO_EC_PUBLIC_BYTES], pk_priv[SOTTO_EC_PRIVATE_BYTES];
    uint8_t kem_pub[SOTTO_KYBER_PUBLIC_BYTES], kem_sec[SOTTO_KYBER_SECRET_BYTES], kem_sig[SOTTO_SIGNATURE_BYTES];
} device;

static sotto_identity *bob_id;
static uint8_t bob_pub[SOTTO_EC_PUBLIC_BYTES];
static device bob_dev[BOB_DEVICES + 1]; /* 1-based */

/* What the fake server saw. */
static json_t *puts_seen[MAX_PUTS];
static int n_puts;
static int bundle_fetches;
static int drop_puts; /* close the connection instead of answering this many PUTs */
static json_t *key_uploads[MAX_PUTS];
static int n_key_uploads;
static uint8_t alice_idkey[SOTTO_EC_PUBLIC_BYTES];

static SSL_CTX *srv_ctx;
static int srv_fd;
static uint8_t srv_pin[32];

static void b64set(json_t *o, const char *k, const uint8_t *p, size_t n)
{
    char *s = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));
    sodium_bin2base64(s, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), p, n,
                      sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(o, k, json_string(s));
    free(s);
}

static json_t *bundle_json(const char *uuid, int from, int to)
{
    json_t *r = json_object(), *arr = json_array();
    json_object_set_new(r, "uuid", json_string(uuid));
    b64set(r, "identityKey", bob_pub, sizeof bob_pub);
    for (int d = from; d <= to; d++) {
        json_t *o = json_object(), *spk = json_object(), *pk = json_object(), *pq = json_object();
        json_object_set_new(o, "deviceId", json_integer(d));
        json_object_set_new(o, "registrationId", json_integer(bob_dev[d].regid));
        json_object_set_new(spk, "keyId", json_integer(1));
        b64set(spk, "publicKey", bob_dev[d].spk_pub, SOTTO_EC_PUBLIC_BYTES);
        b64set(spk, "signature", bob_dev[d].spk_sig, SOTTO_SIGNATURE_BYTES);
        json_object_set_new(pk, "keyId", json_integer(7));
        b64set(pk, "publicKey", bob_dev[d].pk_pub, SOTTO_EC_PUBLIC_BYTES);
        json_object_set_new(pq, "keyId", json_integer(9));
        b64set(pq, "publicKey", bob_dev[d].kem_pub, SOTTO_KYBER_PUBLIC_BYTES);
        b64set(pq, "signature", bob_dev[d].kem_sig, SOTTO_SIGNATURE_BYTES);
        json_object_set_new(pq, "lastResort", json_false());
        json_object_set_new(o, "signedPreKey", spk);
        json_object_set_new(o, "preKey", pk);
        json_object_set_new(o, "pqPreKey", pq);
        json_array_append_new(arr, o);
    }
    json_object_set_new(r, "devices", arr);
    return r;
}

/* The script: returns the status, and the body in *out (malloc'ed). */
static int route(const char *method, const char *path, const char *body, char **out)
{
    json_t *r = NULL;
    int status = 200;
    if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/accounts") == 0) {
        json_t *req = json_loads(body, 0, NULL);
        status = json_is_string(json_object_get(req, "secret")) ? 200 : 400;
        const char *ik = json_string_value(json_object_get(req, "identityKey"));
        size_t got = 0;
        if (ik == NULL || sodium_base642bin(alice_idkey, sizeof alice_idkey, ik, strlen(ik), NULL, &got, NULL,
                                            sodium_base64_VARIANT_ORIGINAL) != 0 || got != sizeof alice_idkey)
            status = 400;
        json_decref(req);
        r = json_pack("{s:s,s:i}", "uuid", ALICE_UUID, "deviceId", 1);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/keys") == 0) {
        r = json_pack("{s:i,s:i}", "count", 100, "pqCount", 100);
    } else if (strcmp(method, "PUT") == 0 && strcmp(path, "/v1/keys") == 0 && n_key_uploads < MAX_PUTS) {
        key_uploads[n_key_uploads++] = json_loads(body, 0, NULL);
        r = json_object();
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/keys/bob/*") == 0) {
        bundle_fetches++;
        r = bundle_json(BOB_UUID, 1, 2); /* the server still lists devices 1 and 2 */
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/keys/" BOB_UUID "/3") == 0) {
        bundle_fetches++;
        r = bundle_json(BOB_UUID, 3, 3);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/keys/dave/*") == 0) {
        r = bundle_json(DAVE_UUID, 1, 1);
    } else if (strcmp(method, "PUT") == 0 && strcmp(path, "/v1/messages/" DAVE_UUID) == 0 && n_puts < MAX_PUTS) {
        puts_seen[n_puts++] = json_loads(body, 0, NULL);
        if (drop_puts > 0) {
            drop_puts--;
            *out = NULL;
            return -1; /* stored by the server, answer lost */
        }
        r = json_object();
    } else if (strcmp(method, "PUT") == 0 && strcmp(path, "/v1/messages/" BOB_UUID) == 0 && n_puts < MAX_PUTS) {
        puts_seen[n_puts++] = json_loads(body, 0, NULL);
        if (n_puts == 1) { /* device 2 was removed, device 3 added meanwhile */
            status = 409;
            r = json_pack("{s:[i],s:[i]}", "missingDevices", 3, "extraDevices", 2);
        } else {
            r = json_object();
        }
    } else {
        status = 404;
        r = json_pack("{s:s}", "error", "not found");
    }
    *out = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return status;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(srv_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        SSL *ssl = SSL_new(srv_ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            static char buf[1 << 20];
            size_t have = 0;
            for (;;) {
                char *e = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
                if (e != NULL) {
                    size_t hl = (size_t)(e - buf) + 4, bl = 0;
                    char *cl = strcasestr(buf, "Content-Length: ");
                    if (cl != NULL && cl < e)
                        bl = strtoul(cl + 16, NULL, 10);
                    if (have >= hl + bl) {
                        char method[8] = {0}, path[256] = {0};
                        sscanf(buf, "%7s %255s", method, path);
                        char *body = strndup(buf + hl, bl), *out;
                        int st = route(method, path, body, &out);
                        if (st < 0) {
                            free(body);
                            break;
                        }
                        char head[256];
                        int n = snprintf(head, sizeof head,
                                         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                         st, strlen(out));
                        SSL_write(ssl, head, n);
                        SSL_write(ssl, out, (int)strlen(out));
                        free(out);
                        free(body);
                        memmove(buf, buf + hl + bl, have - hl - bl);
                        have -= hl + bl;
                        continue;
                    }
                }
                int n = SSL_read(ssl, buf + have, (int)(sizeof buf - have));
                if (n <= 0)
                    break;
                have += (size_t)n;
            }
        }
        SSL_free(ssl);
        close(fd);
    }
}

static int start_server(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pk);
    X509_sign(x, pk, EVP_sha256());
    unsigned int n;
    X509_digest(x, EVP_sha256(), srv_pin, &n);
    srv_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(srv_ctx, x);
    SSL_CTX_use_PrivateKey(srv_ctx, pk);
    X509_free(x);
    EVP_PKEY_free(pk);
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(srv_fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(srv_fd, 8) != 0)
        return -1;
    socklen_t sl = sizeof sa;
    getsockname(srv_fd, (struct sockaddr *)&sa, &sl);
    pthread_t t;
    pthread_create(&t, NULL, serve, NULL);
    pthread_detach(t);
    return ntohs(sa.sin_port);
}

static void make_bob(void)
{
    uint8_t priv[SOTTO_EC_PRIVATE_BYTES];
    assert_int_equal(sotto_ec_keypair(bob_pub, priv), SOTTO_OK);
    assert_int_equal(sotto_identity_from_keys(&bob_id, priv, 4242), SOTTO_OK);
    for (int d = 1; d <= BOB_DEVICES; d++) {
        device *v = &bob_dev[d];
        v->regid = 100u + (uint32_t)d;
        assert_int_equal(sotto_ec_keypair(v->spk_pub, v->spk_priv), SOTTO_OK);
        assert_int_equal(sotto_identity_sign(bob_id, v->spk_sig, v->spk_pub, SOTTO_EC_PUBLIC_BYTES), SOTTO_OK);
        assert_int_equal(sotto_ec_keypair(v->pk_pub, v->pk_priv), SOTTO_OK);
        assert_int_equal(sotto_kyber_keypair(v->kem_pub, v->kem_sec), SOTTO_OK);
        assert_int_equal(sotto_identity_sign(bob_id, v->kem_sig, v->kem_pub, SOTTO_KYBER_PUBLIC_BYTES), SOTTO_OK);
    }
}

/* Bob's device d decrypts its copy in put with the session *sp (a new one
 * when NULL); *uid_out gets the message uid. Returns the decrypt result. */
static sotto_err bob_reads_in(json_t *put, uint32_t d, const char *want_text, sotto_session **sp,
                              uint8_t uid_out[SOTTO_MSG_UID_BYTES])
{
    json_t *arr = json_object_get(put, "messages"), *m = NULL;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (json_integer_value(json_object_get(json_array_get(arr, i), "destinationDeviceId")) == d)
            m = json_array_get(arr, i);
    }
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "type")), SOTTO_MSG_PREKEY);
    const char *c64 = json_string_value(json_object_get(m, "content"));
    size_t cap = strlen(c64), ct_len;
    uint8_t *ct = malloc(cap), *pt = malloc(cap);
    assert_int_equal(sodium_base642bin(ct, cap, c64, strlen(c64), NULL, &ct_len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    sotto_prekey_ids ids;
    assert_int_equal(sotto_prekey_message_ids(ct, ct_len, &ids), SOTTO_OK);
    assert_int_equal(ids.signed_pre_key_id, 1);
    assert_int_equal(ids.kyber_pre_key_id, 9);
    assert_true(ids.has_pre_key);
    assert_int_equal(ids.pre_key_id, 7);
    static sotto_prekey_secrets k;
    memset(&k, 0, sizeof k);
    k.signed_pre_key_id = 1;
    memcpy(k.signed_pre_key_public, bob_dev[d].spk_pub, SOTTO_EC_PUBLIC_BYTES);
    memcpy(k.signed_pre_key_private, bob_dev[d].spk_priv, SOTTO_EC_PRIVATE_BYTES);
    k.has_pre_key = 1;
    k.pre_key_id = 7;
    memcpy(k.pre_key_public, bob_dev[d].pk_pub, SOTTO_EC_PUBLIC_BYTES);
    memcpy(k.pre_key_private, bob_dev[d].pk_priv, SOTTO_EC_PRIVATE_BYTES);
    k.kyber_pre_key_id = 9;
    memcpy(k.kyber_pre_key_secret, bob_dev[d].kem_sec, SOTTO_KYBER_SECRET_BYTES);
    sotto_session *s = *sp;
    if (s == NULL)
        assert_int_equal(sotto_session_new(&s), SOTTO_OK);
    *sp = s;
    size_t pt_len;
    sotto_err de = sotto_session_decrypt(s, bob_id, &k, SOTTO_MSG_PREKEY, ct, ct_len, pt, cap, &pt_len);
    if (de != SOTTO_OK) {
        free(ct);
        free(pt);
        return de;
    }
    uint8_t uid[SOTTO_MSG_UID_BYTES];
    int64_t ts;
    char sender[SOTTO_PEER_MAX + 1];
    const uint8_t *text;
    size_t tl;
    assert_int_equal(sotto_content_decode(pt, pt_len, uid, &ts, sender, &text, &tl, NULL), SOTTO_C_OK);
    assert_string_equal(sender, "alice");
    assert_int_equal(tl, strlen(want_text));
    assert_memory_equal(text, want_text, tl);
    memcpy(uid_out, uid, sizeof uid);
    free(ct);
    free(pt);
    return SOTTO_OK;
}

static void bob_reads(json_t *put, uint32_t d, const char *want_text)
{
    sotto_session *s = NULL;
    uint8_t uid[SOTTO_MSG_UID_BYTES];
    assert_int_equal(bob_reads_in(put, d, want_text, &s, uid), SOTTO_OK);
    sotto_session_free(s);
}

static void test_send_409(void **state)
{
    (void)state;
    int port = start_server();
    assert_true(port > 0);
    make_bob();
    char dir[] = "/tmp/sotto-test-client-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[64], pin[65], err[SOTTO_CERR_LEN];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    sodium_bin2hex(pin, sizeof pin, srv_pin, sizeof srv_pin);
    sotto_store_secret sec;
    memset(&sec, 0, sizeof sec);
    sec.is_raw = 1;
    randombytes_buf(sec.key, sizeof sec.key);
    sotto_register_args ra = {.server = url, .username = "Alice", .pin = pin};
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_OK);

    sotto_client *c;
    assert_int_equal(sotto_client_open(&c, dir, &sec, err), SOTTO_C_OK);
    assert_string_equal(sotto_client_username(c), "alice");
    const char *text = "hello through a 409";
    int64_t id;
    assert_int_equal(sotto_client_queue(c, "bob", (const uint8_t *)text, strlen(text), &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_PENDING);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_SENT);

    /* First submission: devices 1 and 2; after the 409: 1 and 3. */
    assert_int_equal(n_puts, 2);
    assert_int_equal(bundle_fetches, 2);
    json_t *first = json_object_get(puts_seen[0], "messages"), *second = json_object_get(puts_seen[1], "messages");
    assert_int_equal(json_array_size(first), 2);
    assert_int_equal(json_array_size(second), 2);
    uint32_t devs[8];
    size_t nd;
    assert_int_equal(sotto_cstore_session_devices(sotto_client_store(c), BOB_UUID, devs, 8, &nd, err), SOTTO_C_OK);
    assert_int_equal(nd, 2);
    assert_int_equal(devs[0], 1);
    assert_int_equal(devs[1], 3);
    bob_reads(puts_seen[1], 1, text);
    bob_reads(puts_seen[1], 3, text);

    /* The server stores a submission but the answer is lost, twice (the
     * HTTP layer tries a second connection once): the message stays pending,
     * the next flush encrypts it again (a new ratchet step) and sends it; the
     * recipient sees the same uid in every copy and keeps one. */
    const char *t2 = "answer lost";
    for (int i = 0; i < n_puts; i++)
        json_decref(puts_seen[i]);
    n_puts = 0;
    drop_puts = 2;
    assert_int_equal(sotto_client_queue(c, "dave", (const uint8_t *)t2, strlen(t2), &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_NETWORK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_PENDING);
    assert_int_equal(n_puts, 2);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_SENT);
    assert_int_equal(n_puts, 3);
    sotto_session *ds = NULL;
    uint8_t u1[SOTTO_MSG_UID_BYTES], u3[SOTTO_MSG_UID_BYTES];
    assert_int_equal(bob_reads_in(puts_seen[0], 1, t2, &ds, u1), SOTTO_OK);
    assert_int_equal(bob_reads_in(puts_seen[1], 1, t2, &ds, u3), SOTTO_ERR_DUPLICATE_MESSAGE); /* same bytes */
    assert_int_equal(bob_reads_in(puts_seen[2], 1, t2, &ds, u3), SOTTO_OK);                    /* re-encrypted */
    assert_memory_equal(u1, u3, sizeof u1);
    sotto_session_free(ds);

    /* A week later the signed prekey is replaced: id 2, signed by the
     * identity registered, current once the server took it. */
    int64_t v;
    assert_int_equal(sotto_client_refill(c, err), SOTTO_C_OK);
    assert_int_equal(n_key_uploads, 0); /* counts are fine, the key is new */
    assert_int_equal(sotto_cstore_meta_set_int(sotto_client_store(c), "signed_prekey_at", 1, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_refill(c, err), SOTTO_C_OK);
    assert_int_equal(n_key_uploads, 1);
    json_t *spk = json_object_get(key_uploads[0], "signedPreKey");
    assert_int_equal(json_integer_value(json_object_get(spk, "keyId")), 2);
    uint8_t spub[SOTTO_EC_PUBLIC_BYTES], ssig[SOTTO_SIGNATURE_BYTES];
    size_t got;
    const char *pk64 = json_string_value(json_object_get(spk, "publicKey"));
    const char *sig64 = json_string_value(json_object_get(spk, "signature"));
    assert_int_equal(sodium_base642bin(spub, sizeof spub, pk64, strlen(pk64), NULL, &got, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(sodium_base642bin(ssig, sizeof ssig, sig64, strlen(sig64), NULL, &got, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(sotto_verify(alice_idkey, spub, sizeof spub, ssig), SOTTO_OK);
    assert_int_equal(sotto_cstore_meta_get_int(sotto_client_store(c), "signed_prekey_id", &v, err), SOTTO_C_OK);
    assert_int_equal(v, 2);
    assert_int_equal(sotto_client_refill(c, err), SOTTO_C_OK);
    assert_int_equal(n_key_uploads, 1); /* not again */
    json_decref(key_uploads[0]);

    /* Sending to yourself and to a bad name are refused before anything is stored. */
    assert_int_equal(sotto_client_queue(c, "alice", (const uint8_t *)"x", 1, &id, err), SOTTO_C_USAGE);
    assert_int_equal(sotto_client_queue(c, "b/ad", (const uint8_t *)"x", 1, &id, err), SOTTO_C_USAGE);
    sotto_client_close(c);
    for (int i = 0; i < n_puts; i++)
        json_decref(puts_seen[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    sotto_identity_free(bob_id);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_409),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
