/* The client engine against a scripted fake sottod (TLS, a thread per
 * connection, a minimal WebSocket for pushed envelopes): registration, the
 * first send to a user with two devices, the server's 409 device-set mismatch
 * (one device gone, one new), the retry, and the copies decrypted by the
 * recipient's devices with libsotto; the username lookup instead of bundle
 * fetches; a peer whose identity key changes (messages held, safety numbers,
 * trust); registration whose answer is lost, then repeated. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "client.h"
#include "content.h"
#include "sotto/fingerprint.h"
#include "sotto/keys.h"
#include "sotto/session.h"
#include "store.h"

#define ALICE_UUID "11111111-2222-4333-8444-555555555555"
#define BOB_UUID "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define DAVE_UUID "dddddddd-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define CAROL_UUID "cccccccc-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define ERIN_UUID "eeeeeeee-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define WS_QUEUE_MAX 8
#define MAX_REGS 8
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

/* Registration script and what it saw. */
static json_t *regs_seen[MAX_REGS];
static int n_regs;
static int drop_regs;        /* close instead of answering this many registrations */
static int reg_status = 200; /* the answer to the next one */
/* Lookups (GET /v1/accounts/NAME) and bundle fetches by path. */
static int lookups;
static int lookup_404;       /* answer lookups 404, as a sottod without the route */
static char fetched[16][128];
static int n_fetched;
/* WebSocket: envelopes pushed to the next connection, acks seen. */
static char *ws_queue[WS_QUEUE_MAX];
static int ws_n;
static json_t *acks_seen;
static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t acks_cv = PTHREAD_COND_INITIALIZER;

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
        if (n_regs < MAX_REGS)
            regs_seen[n_regs++] = json_incref(req);
        if (drop_regs > 0) {
            drop_regs--;
            json_decref(req);
            *out = NULL;
            return -1; /* registered by the server (it would be), answer lost */
        }
        status = json_is_string(json_object_get(req, "secret")) ? 200 : 400;
        const char *ik = json_string_value(json_object_get(req, "identityKey"));
        size_t got = 0;
        if (ik == NULL || sodium_base642bin(alice_idkey, sizeof alice_idkey, ik, strlen(ik), NULL, &got, NULL,
                                            sodium_base64_VARIANT_ORIGINAL) != 0 || got != sizeof alice_idkey)
            status = 400;
        json_decref(req);
        if (status == 200 && reg_status != 200)
            status = reg_status;
        r = status == 200 ? json_pack("{s:s,s:i}", "uuid", ALICE_UUID, "deviceId", 1)
                          : json_pack("{s:s}", "error", "refused");
    } else if (strcmp(method, "GET") == 0 && strncmp(path, "/v1/accounts/", 13) == 0) {
        lookups++;
        if (!lookup_404 && strcmp(path + 13, "bob") == 0) {
            r = json_pack("{s:s,s:[i]}", "uuid", BOB_UUID, "devices", 1);
        } else if (!lookup_404 && strcmp(path + 13, "erin") == 0) {
            r = json_pack("{s:s,s:[i,i]}", "uuid", ERIN_UUID, "devices", 1, 2);
        } else if (!lookup_404 && strcmp(path + 13, "carol") == 0) {
            r = json_pack("{s:s,s:[i,i]}", "uuid", CAROL_UUID, "devices", 1, 2);
        } else {
            status = 404;
            r = json_pack("{s:s}", "error", "no such account");
        }
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
    } else if (strcmp(method, "GET") == 0 && strncmp(path, "/v1/keys/" CAROL_UUID "/", 46) == 0) {
        if (n_fetched < 16)
            snprintf(fetched[n_fetched++], sizeof fetched[0], "%s", path);
        int d = atoi(path + 46);
        r = bundle_json(CAROL_UUID, d, d);
    } else if (strcmp(method, "PUT") == 0 && strcmp(path, "/v1/messages/" CAROL_UUID) == 0) {
        r = json_object();
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/keys/" ERIN_UUID "/1") == 0) {
        r = bundle_json(ERIN_UUID, 1, 1); /* device 2 is gone by the time its bundle is asked for */
    } else if (strcmp(method, "PUT") == 0 && strcmp(path, "/v1/messages/" ERIN_UUID) == 0) {
        json_t *m = json_loads(body, 0, NULL);
        status = json_array_size(json_object_get(m, "messages")) == 1 ? 200 : 400;
        json_decref(m);
        r = json_object();
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
        if (strncmp(path, "/v1/keys/", 9) == 0 && n_fetched < 16)
            snprintf(fetched[n_fetched++], sizeof fetched[0], "%s", path);
        status = 404;
        r = json_pack("{s:s}", "error", "not found");
    }
    *out = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return status;
}

static int ssl_read_all(SSL *ssl, uint8_t *p, size_t n)
{
    while (n > 0) {
        int r = SSL_read(ssl, p, (int)n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void ws_send(SSL *ssl, const char *msg)
{
    size_t n = strlen(msg);
    uint8_t h[4] = {0x81, 0, 0, 0};
    int hl = 2;
    if (n < 126) {
        h[1] = (uint8_t)n;
    } else {
        assert_true(n < 65536);
        h[1] = 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    }
    SSL_write(ssl, h, hl);
    SSL_write(ssl, msg, (int)n);
}

/* After the 101: every queued envelope, queue_empty, then the client's
 * (masked) frames: acks are kept in acks_seen, until the client closes. */
static void ws_serve(SSL *ssl, const char *head)
{
    const char *k = strcasestr(head, "Sec-WebSocket-Key: ");
    char key[64] = {0}, acc[64];
    assert_non_null(k);
    sscanf(k + 19, "%63s", key);
    char cat[128];
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    uint8_t sha[SHA_DIGEST_LENGTH];
    SHA1((const uint8_t *)cat, strlen(cat), sha);
    EVP_EncodeBlock((uint8_t *)acc, sha, sizeof sha);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
    SSL_write(ssl, resp, n);
    pthread_mutex_lock(&srv_mu);
    for (int i = 0; i < ws_n; i++) {
        ws_send(ssl, ws_queue[i]);
        free(ws_queue[i]);
    }
    ws_n = 0;
    pthread_mutex_unlock(&srv_mu);
    ws_send(ssl, "{\"type\":\"queue_empty\"}");
    for (;;) {
        uint8_t h[2], ext[8], mask[4];
        if (ssl_read_all(ssl, h, 2) != 0)
            return;
        uint64_t len = h[1] & 0x7f;
        if (len == 126) {
            if (ssl_read_all(ssl, ext, 2) != 0)
                return;
            len = (uint64_t)ext[0] << 8 | ext[1];
        } else if (len == 127) {
            return; /* acks are small */
        }
        if (ssl_read_all(ssl, mask, 4) != 0 || len > 65535)
            return;
        uint8_t *p = malloc(len + 1);
        if (ssl_read_all(ssl, p, len) != 0) {
            free(p);
            return;
        }
        for (uint64_t i = 0; i < len; i++)
            p[i] ^= mask[i % 4];
        p[len] = 0;
        int op = h[0] & 0x0f;
        if (op == 1) {
            json_t *j = json_loads((const char *)p, 0, NULL);
            json_t *ids = json_object_get(j, "ids");
            pthread_mutex_lock(&srv_mu);
            for (size_t i = 0; i < json_array_size(ids); i++)
                json_array_append(acks_seen, json_array_get(ids, i));
            pthread_cond_broadcast(&acks_cv);
            pthread_mutex_unlock(&srv_mu);
            json_decref(j);
        }
        free(p);
        if (op == 8)
            return;
    }
}

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    SSL *ssl = SSL_new(srv_ctx);
    SSL_set_fd(ssl, fd);
    char *buf = malloc(1 << 20);
    if (SSL_accept(ssl) == 1) {
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
                    if (strcmp(path, "/v1/websocket") == 0) {
                        buf[hl - 1] = 0;
                        ws_serve(ssl, buf);
                        break;
                    }
                    char *body = strndup(buf + hl, bl), *out;
                    pthread_mutex_lock(&srv_mu);
                    int st = route(method, path, body, &out);
                    pthread_mutex_unlock(&srv_mu);
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
            int n = SSL_read(ssl, buf + have, (int)((1 << 20) - 1 - have));
            if (n <= 0)
                break;
            have += (size_t)n;
            buf[have] = 0;
        }
    }
    free(buf);
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(srv_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static int start_server(void)
{
    static int port;
    if (port > 0)
        return port;
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
    acks_seen = json_array();
    port = ntohs(sa.sin_port);
    return port;
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
    /* A sottod without the lookup: the 404 falls back to the bundle fetch. */
    lookup_404 = 1;
    const char *text = "hello through a 409";
    int64_t id;
    assert_int_equal(sotto_client_queue(c, "bob", (const uint8_t *)text, strlen(text), &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_PENDING);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_SENT);

    /* First submission: devices 1 and 2; after the 409: 1 and 3. */
    assert_int_equal(lookups, 1);
    lookup_404 = 0;
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

    /* With the lookup: a bundle fetch for each of carol's devices, none for
     * all at once (that would spend a one-time prekey of every device). */
    n_fetched = 0;
    lookups = 0;
    assert_int_equal(sotto_client_queue(c, "carol", (const uint8_t *)"hi", 2, &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_SENT);
    assert_int_equal(lookups, 1);
    assert_int_equal(n_fetched, 2);
    assert_string_equal(fetched[0], "/v1/keys/" CAROL_UUID "/1");
    assert_string_equal(fetched[1], "/v1/keys/" CAROL_UUID "/2");
    /* The name is forgotten (as after a 404), the sessions are not: the
     * lookup finds every device with a session and nothing is fetched. */
    assert_int_equal(sotto_cstore_meta_delete(sotto_client_store(c), "uuid_of:carol", err), SOTTO_C_OK);
    assert_int_equal(sotto_client_queue(c, "carol", (const uint8_t *)"again", 5, &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_SENT);
    assert_int_equal(lookups, 2);
    assert_int_equal(n_fetched, 2);
    /* A device listed by the lookup is gone when its bundle is asked for:
     * the others get the message. */
    assert_int_equal(sotto_client_queue(c, "erin", (const uint8_t *)"hi", 2, &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_SENT);
    /* No such user: the lookup's 404, then the bundle fetch's. */
    assert_int_equal(sotto_client_queue(c, "nobody", (const uint8_t *)"x", 1, &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_NOT_FOUND);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_FAILED);
    assert_int_equal(lookups, 4);

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

/* ---- a peer whose identity key changes ---- */

static void unb64(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    assert_non_null(s);
    assert_int_equal(sodium_base642bin(out, n, s, strlen(s), NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(got, n);
}

/* Alice's bundle, from what she registered (no one-time EC key; the
 * last-resort Kyber key). */
static void alice_bundle(json_t *reg, sotto_bundle *b)
{
    memset(b, 0, sizeof *b);
    json_t *spk = json_object_get(reg, "signedPreKey"), *lr = json_object_get(reg, "pqLastResortPreKey");
    b->registration_id = (uint32_t)json_integer_value(json_object_get(reg, "registrationId"));
    b->device_id = 1;
    unb64(json_string_value(json_object_get(reg, "identityKey")), b->identity_key, SOTTO_EC_PUBLIC_BYTES);
    b->signed_pre_key_id = (uint32_t)json_integer_value(json_object_get(spk, "keyId"));
    unb64(json_string_value(json_object_get(spk, "publicKey")), b->signed_pre_key, SOTTO_EC_PUBLIC_BYTES);
    unb64(json_string_value(json_object_get(spk, "signature")), b->signed_pre_key_signature, SOTTO_SIGNATURE_BYTES);
    b->kyber_pre_key_id = (uint32_t)json_integer_value(json_object_get(lr, "keyId"));
    unb64(json_string_value(json_object_get(lr, "publicKey")), b->kyber_pre_key, SOTTO_KYBER_PUBLIC_BYTES);
    unb64(json_string_value(json_object_get(lr, "signature")), b->kyber_pre_key_signature, SOTTO_SIGNATURE_BYTES);
}

static void envelope_id(char out[37], int n)
{
    snprintf(out, 37, "%08x-0000-4000-8000-%012x", (unsigned)n, (unsigned)n);
}

/* Bob (identity from, session *s started from Alice's bundle on first use)
 * writes text; the envelope goes onto the WebSocket queue. */
static void bob_sends(sotto_identity *from, sotto_session **s, const sotto_bundle *ab, const char *text, int n)
{
    if (*s == NULL) {
        assert_int_equal(sotto_session_new(s), SOTTO_OK);
        assert_int_equal(sotto_session_process_bundle(*s, from, ab), SOTTO_OK);
    }
    uint8_t uid[SOTTO_MSG_UID_BYTES], pt[512], ct[8192];
    size_t pt_len, ct_len;
    int type;
    randombytes_buf(uid, sizeof uid);
    assert_int_equal(sotto_content_encode(pt, &pt_len, uid, 1764200000000 + n, "bob", (const uint8_t *)text,
                                          strlen(text), NULL), SOTTO_C_OK);
    assert_int_equal(sotto_session_encrypt(*s, from, pt, pt_len, ct, sizeof ct, &ct_len, &type), SOTTO_OK);
    assert_int_equal(type, SOTTO_MSG_PREKEY);
    char id[37];
    envelope_id(id, n);
    json_t *env = json_pack("{s:s,s:{s:s,s:i,s:I,s:s,s:i}}", "type", "envelope", "envelope", "id", id, "type", type,
                            "timestamp", (json_int_t)1764198000, "sourceUuid", BOB_UUID, "sourceDevice", 1);
    b64set(json_object_get(env, "envelope"), "content", ct, ct_len);
    pthread_mutex_lock(&srv_mu);
    assert_true(ws_n < WS_QUEUE_MAX);
    ws_queue[ws_n++] = json_dumps(env, JSON_COMPACT);
    pthread_mutex_unlock(&srv_mu);
    json_decref(env);
}

typedef struct got_list {
    char text[8][64];
    char from[8][64];
    int n;
} got_list;

static void on_msg(void *ctx, const sotto_incoming *m)
{
    got_list *g = ctx;
    assert_true(g->n < 8);
    snprintf(g->text[g->n], sizeof g->text[0], "%.*s", (int)m->len, (const char *)m->text);
    snprintf(g->from[g->n], sizeof g->from[0], "%s", m->from);
    g->n++;
}

/* One WebSocket session: everything queued, until queue_empty. */
static void receive_all(sotto_client *c, got_list *g)
{
    char err[SOTTO_CERR_LEN];
    assert_int_equal(sotto_client_connect(c, err), SOTTO_C_OK);
    for (;;) {
        sotto_poll_result res;
        assert_int_equal(sotto_client_poll(c, 5000, on_msg, g, &res, err), SOTTO_C_OK);
        assert_false(res.timed_out);
        if (res.idle)
            break;
    }
    sotto_client_disconnect(c);
}

static void uuid16(uint8_t out[16], const char *s)
{
    size_t got;
    assert_int_equal(sodium_hex2bin(out, 16, s, strlen(s), "-", &got, NULL), 0);
    assert_int_equal(got, 16);
}

static void expected_number(char out[61], sotto_identity *bob)
{
    uint8_t a[16], b[16], bk[SOTTO_EC_PUBLIC_BYTES];
    uuid16(a, ALICE_UUID);
    uuid16(b, BOB_UUID);
    sotto_identity_public_key(bob, bk);
    sotto_fingerprint fa, fb;
    assert_int_equal(sotto_fingerprint_create(&fa, 2, 5200, a, 16, alice_idkey, b, 16, bk), SOTTO_OK);
    /* Bob computes the same digits on his side. */
    assert_int_equal(sotto_fingerprint_create(&fb, 2, 5200, b, 16, bk, a, 16, alice_idkey), SOTTO_OK);
    assert_string_equal(fa.displayable, fb.displayable);
    memcpy(out, fa.displayable, 61);
}

static size_t acks_count(void)
{
    pthread_mutex_lock(&srv_mu);
    size_t n = json_array_size(acks_seen);
    pthread_mutex_unlock(&srv_mu);
    return n;
}

/* The acks arrive on the server's thread: waits until there are want (a
 * generous bound only against a hang), then returns how many there are. */
static size_t acks_wait(size_t want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&srv_mu);
    while (json_array_size(acks_seen) < want && pthread_cond_timedwait(&acks_cv, &srv_mu, &until) == 0) {
    }
    size_t n = json_array_size(acks_seen);
    pthread_mutex_unlock(&srv_mu);
    return n;
}

static int history_cb(void *ctx, const sotto_cmsg *m)
{
    got_list *g = ctx;
    assert_true(g->n < 8);
    assert_false(m->outgoing);
    snprintf(g->text[g->n++], sizeof g->text[0], "%.*s", (int)m->body_len, (const char *)m->body);
    return 0;
}

static void test_changed_identity(void **state)
{
    (void)state;
    int port = start_server();
    char dir[] = "/tmp/sotto-test-trust-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[64], pin[65], err[SOTTO_CERR_LEN];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    sodium_bin2hex(pin, sizeof pin, srv_pin, sizeof srv_pin);
    sotto_store_secret sec;
    memset(&sec, 0, sizeof sec);
    sec.is_raw = 1;
    randombytes_buf(sec.key, sizeof sec.key);
    sotto_register_args ra = {.server = url, .username = "alice", .pin = pin};
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_OK);
    sotto_bundle ab;
    alice_bundle(regs_seen[n_regs - 1], &ab);
    sotto_client *c;
    assert_int_equal(sotto_client_open(&c, dir, &sec, err), SOTTO_C_OK);
    sotto_identity *b1, *b2;
    assert_int_equal(sotto_identity_generate(&b1, 201), SOTTO_OK);
    assert_int_equal(sotto_identity_generate(&b2, 202), SOTTO_OK);
    sotto_session *s1 = NULL, *s2 = NULL, *s3 = NULL;
    sotto_safety sf;
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_NOT_FOUND); /* never met */

    /* 1. Bob's first key: trusted on first use; his name confirmed by the
     * lookup, not by a bundle fetch (which would spend his prekey). */
    lookups = 0;
    n_fetched = 0;
    size_t acks0 = acks_count();
    bob_sends(b1, &s1, &ab, "m1", 1);
    got_list g = {0};
    receive_all(c, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "m1");
    assert_string_equal(g.from[0], "bob");
    assert_int_equal(lookups, 1);
    assert_int_equal(n_fetched, 0);
    assert_int_equal(acks_wait(acks0 + 1), acks0 + 1);
    char n1[61], n2[61];
    expected_number(n1, b1);
    expected_number(n2, b2);
    assert_string_not_equal(n1, n2);
    assert_int_equal(sotto_client_safety(c, "Bob", &sf, err), SOTTO_C_OK);
    assert_string_equal(sf.number, n1);
    assert_int_equal(sf.trust, SOTTO_TRUST_FIRST_USE);
    assert_int_equal(sf.changed, 0);
    assert_string_equal(sf.uuid, BOB_UUID);

    /* 2. Bob's key changes: his messages are held (and acknowledged), not shown. */
    bob_sends(b2, &s2, &ab, "m2", 2);
    bob_sends(b2, &s2, &ab, "m3", 3);
    memset(&g, 0, sizeof g);
    receive_all(c, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(acks_wait(acks0 + 3), acks0 + 3);
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.changed, 1);
    assert_int_equal(sf.held, 2);
    assert_string_equal(sf.number, n1);
    assert_string_equal(sf.new_number, n2);
    assert_int_equal(sf.trust, SOTTO_TRUST_FIRST_USE);
    /* A redelivery of a held envelope is recognised. */
    bob_sends(b2, &s2, &ab, "m3bis", 3);
    memset(&g, 0, sizeof g);
    receive_all(c, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.held, 2);
    sotto_client_close(c); /* held messages outlive the process */
    assert_int_equal(sotto_client_open(&c, dir, &sec, err), SOTTO_C_OK);

    /* 3. A wrong or malformed number changes nothing. */
    char wrong[61], spaced[80];
    memcpy(wrong, n2, sizeof wrong);
    wrong[59] = wrong[59] == '0' ? '1' : '0';
    sotto_trust_result tr;
    assert_int_equal(sotto_client_trust(c, "bob", wrong, NULL, NULL, &tr, err), SOTTO_C_UNTRUSTED);
    assert_int_equal(sotto_client_trust(c, "bob", n1, NULL, NULL, &tr, err), SOTTO_C_UNTRUSTED); /* the old key's */
    assert_int_equal(sotto_client_trust(c, "bob", "12345", NULL, NULL, &tr, err), SOTTO_C_USAGE);
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.changed, 1);
    assert_int_equal(sf.held, 2);

    /* 4. The right number (grouped as printed): trusted, held messages stored in order. */
    size_t o = 0;
    for (int i = 0; i < 12; i++)
        o += (size_t)snprintf(spaced + o, sizeof spaced - o, "%.5s%s", n2 + 5 * i, i < 11 ? " " : "");
    memset(&g, 0, sizeof g);
    assert_int_equal(sotto_client_trust(c, "bob", spaced, on_msg, &g, &tr, err), SOTTO_C_OK);
    assert_int_equal(tr.released, 2);
    assert_int_equal(tr.still_held, 0);
    assert_int_equal(tr.trust, SOTTO_TRUST_VERIFIED);
    assert_int_equal(tr.new_key, 1);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.text[0], "m2");
    assert_string_equal(g.text[1], "m3");
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.changed, 0);
    assert_int_equal(sf.held, 0);
    assert_int_equal(sf.trust, SOTTO_TRUST_VERIFIED);
    assert_string_equal(sf.number, n2);
    /* Later messages with the new key are read at once. */
    bob_sends(b2, &s2, &ab, "m4", 4);
    memset(&g, 0, sizeof g);
    receive_all(c, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "m4");
    memset(&g, 0, sizeof g);
    assert_int_equal(sotto_cstore_msg_each(sotto_client_store(c), "bob", -1, -1, history_cb, &g, err), SOTTO_C_OK);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.text[0], "m1");
    assert_string_equal(g.text[1], "m2");
    assert_string_equal(g.text[2], "m3");
    assert_string_equal(g.text[3], "m4");

    /* At most 500 held from one sender: one more is dropped (and said so). */
    const uint8_t junk[] = {3, 0};
    for (int i = 0; i < 500; i++) {
        char eid[37];
        envelope_id(eid, 1000 + i);
        assert_int_equal(sotto_cstore_held_add(sotto_client_store(c), eid, BOB_UUID, 1, 3, junk, sizeof junk, err),
                         SOTTO_C_OK);
    }
    bob_sends(b1, &s3, &ab, "m5 dropped", 6);
    memset(&g, 0, sizeof g);
    receive_all(c, &g);
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.held, 500);
    int64_t *hid;
    size_t nh;
    assert_int_equal(sotto_cstore_held_ids(sotto_client_store(c), BOB_UUID, &hid, &nh, err), SOTTO_C_OK);
    for (size_t i = 0; i < nh; i++)
        assert_int_equal(sotto_cstore_held_delete(sotto_client_store(c), hid[i], err), SOTTO_C_OK);
    free(hid);
    sotto_session_free(s3);
    s3 = NULL;

    /* 5. The old key again (a new session): held; accepted without a number. */
    bob_sends(b1, &s3, &ab, "m5", 5);
    memset(&g, 0, sizeof g);
    receive_all(c, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(sotto_client_safety(c, BOB_UUID, &sf, err), SOTTO_C_OK); /* by uuid too */
    assert_int_equal(sf.changed, 1);
    assert_string_equal(sf.new_number, n1);
    memset(&g, 0, sizeof g);
    assert_int_equal(sotto_client_trust(c, "bob", NULL, on_msg, &g, &tr, err), SOTTO_C_OK);
    assert_int_equal(tr.released, 1);
    assert_int_equal(tr.trust, SOTTO_TRUST_ACCEPTED);
    assert_string_equal(g.text[0], "m5");
    assert_int_equal(sotto_client_trust(c, "bob", NULL, NULL, NULL, &tr, err), SOTTO_C_OK);
    assert_int_equal(tr.unchanged, 1);
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.trust, SOTTO_TRUST_ACCEPTED);
    assert_string_equal(sf.number, n1);
    /* Without a change, a matching number marks the key verified. */
    assert_int_equal(sotto_client_trust(c, "bob", n1, NULL, NULL, &tr, err), SOTTO_C_OK);
    assert_int_equal(tr.new_key, 0);
    assert_int_equal(tr.unchanged, 0);
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.trust, SOTTO_TRUST_VERIFIED);

    /* 6. A bundle with yet another key (b's first devices, make_bob's key)
     * is refused when sending, and noted as the new key. */
    lookup_404 = 1;
    assert_int_equal(sotto_cstore_session_delete_peer(sotto_client_store(c), BOB_UUID, err), SOTTO_C_OK);
    int64_t id;
    assert_int_equal(sotto_client_queue(c, "bob", (const uint8_t *)"out", 3, &id, err), SOTTO_C_OK);
    assert_int_equal(sotto_client_flush(c, err), SOTTO_C_UNTRUSTED);
    assert_int_equal(sotto_client_msg_state(c, id), SOTTO_MSG_FAILED);
    lookup_404 = 0;
    assert_int_equal(sotto_client_safety(c, "bob", &sf, err), SOTTO_C_OK);
    assert_int_equal(sf.changed, 1);
    assert_int_equal(sf.held, 0);

    sotto_session_free(s1);
    sotto_session_free(s2);
    sotto_session_free(s3);
    sotto_identity_free(b1);
    sotto_identity_free(b2);
    sotto_client_close(c);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- registration whose answer is lost ---- */


/* ---- sent transcripts: accepted only from our own account ---- */

/* An envelope from source.dev with content pt, encrypted by identity from
 * on session *s (started from Alice's bundle on first use). */
static void send_raw(sotto_identity *from, sotto_session **s, const sotto_bundle *ab, const char *source,
                     uint32_t dev, const uint8_t *pt, size_t pt_len, int n)
{
    if (*s == NULL) {
        assert_int_equal(sotto_session_new(s), SOTTO_OK);
        assert_int_equal(sotto_session_process_bundle(*s, from, ab), SOTTO_OK);
    }
    uint8_t ct[8192];
    size_t ct_len;
    int type;
    assert_int_equal(sotto_session_encrypt(*s, from, pt, pt_len, ct, sizeof ct, &ct_len, &type), SOTTO_OK);
    char id[37];
    envelope_id(id, n);
    json_t *env = json_pack("{s:s,s:{s:s,s:i,s:I,s:s,s:i}}", "type", "envelope", "envelope", "id", id, "type", type,
                            "timestamp", (json_int_t)1764198000, "sourceUuid", source, "sourceDevice", (int)dev);
    b64set(json_object_get(env, "envelope"), "content", ct, ct_len);
    pthread_mutex_lock(&srv_mu);
    assert_true(ws_n < WS_QUEUE_MAX);
    ws_queue[ws_n++] = json_dumps(env, JSON_COMPACT);
    pthread_mutex_unlock(&srv_mu);
    json_decref(env);
}

typedef struct msg_list {
    char text[8][64];
    char peer[8][64];
    int outgoing[8], state[8];
    int n;
} msg_list;

static int list_cb(void *ctx, const sotto_cmsg *m)
{
    msg_list *l = ctx;
    assert_true(l->n < 8);
    snprintf(l->text[l->n], sizeof l->text[0], "%.*s", (int)m->body_len, (const char *)m->body);
    snprintf(l->peer[l->n], sizeof l->peer[0], "%s", m->peer);
    l->outgoing[l->n] = m->outgoing;
    l->state[l->n] = m->state;
    l->n++;
    return 0;
}

static void test_transcript_source(void **state)
{
    (void)state;
    int port = start_server();
    char dir[] = "/tmp/sotto-test-transcript-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[64], pin[65], err[SOTTO_CERR_LEN];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    sodium_bin2hex(pin, sizeof pin, srv_pin, sizeof srv_pin);
    sotto_store_secret sec;
    memset(&sec, 0, sizeof sec);
    sec.is_raw = 1;
    randombytes_buf(sec.key, sizeof sec.key);
    sotto_register_args ra = {.server = url, .username = "alice", .pin = pin};
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_OK);
    sotto_bundle ab;
    alice_bundle(regs_seen[n_regs - 1], &ab);
    sotto_client *c;
    assert_int_equal(sotto_client_open(&c, dir, &sec, err), SOTTO_C_OK);
    /* Alice's other device holds her identity key pair (as after linking). */
    uint8_t *priv;
    size_t pn;
    assert_int_equal(sotto_cstore_meta_get(sotto_client_store(c), "identity_priv", &priv, &pn, err), SOTTO_C_OK);
    assert_int_equal(pn, SOTTO_EC_PRIVATE_BYTES);
    sotto_identity *own, *bob, *impostor;
    assert_int_equal(sotto_identity_from_keys(&own, priv, 77), SOTTO_OK);
    sotto_cstore_free_blob(priv, pn);
    assert_int_equal(sotto_identity_generate(&bob, 301), SOTTO_OK);
    assert_int_equal(sotto_identity_generate(&impostor, 302), SOTTO_OK);
    uint8_t uid[SOTTO_MSG_UID_BYTES], pt[512];
    size_t pt_len;
    randombytes_buf(uid, sizeof uid);
    size_t acks0 = acks_count();

    /* 1. A transcript from another account: dropped (and acknowledged). */
    sotto_session *sb = NULL, *so = NULL, *si = NULL;
    assert_int_equal(sotto_transcript_encode(pt, &pt_len, uid, 1, "bob", "carol", (const uint8_t *)"forged", 6, NULL),
                     SOTTO_C_OK);
    send_raw(bob, &sb, &ab, BOB_UUID, 1, pt, pt_len, 101);
    /* 2. A plain message from our own account: dropped. */
    assert_int_equal(sotto_content_encode(pt, &pt_len, uid, 2, "alice", (const uint8_t *)"to myself", 9, NULL),
                     SOTTO_C_OK);
    send_raw(own, &so, &ab, ALICE_UUID, 2, pt, pt_len, 102);
    /* 3. A transcript from our own uuid but another identity key: dropped. */
    assert_int_equal(sotto_transcript_encode(pt, &pt_len, uid, 3, "alice", "bob", (const uint8_t *)"impostor", 8, NULL),
                     SOTTO_C_OK);
    send_raw(impostor, &si, &ab, ALICE_UUID, 2, pt, pt_len, 103);
    /* 4. A transcript naming another sender: dropped. */
    assert_int_equal(sotto_transcript_encode(pt, &pt_len, uid, 4, "mallory", "bob", (const uint8_t *)"other name", 10,
                                             NULL), SOTTO_C_OK);
    send_raw(own, &so, &ab, ALICE_UUID, 2, pt, pt_len, 104);
    /* 5. Our device 2's transcript: stored as outgoing to bob, sent; twice
     * (another envelope, the same uid): stored once. */
    assert_int_equal(sotto_transcript_encode(pt, &pt_len, uid, 5, "alice", "bob", (const uint8_t *)"from my laptop", 14,
                                             NULL), SOTTO_C_OK);
    send_raw(own, &so, &ab, ALICE_UUID, 2, pt, pt_len, 105);
    send_raw(own, &so, &ab, ALICE_UUID, 2, pt, pt_len, 106);
    got_list g = {0};
    receive_all(c, &g);
    assert_int_equal(g.n, 0); /* nothing shown as a new message */
    assert_int_equal(acks_wait(acks0 + 6), acks0 + 6);
    msg_list l = {0};
    assert_int_equal(sotto_cstore_msg_each(sotto_client_store(c), NULL, -1, -1, list_cb, &l, err), SOTTO_C_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.text[0], "from my laptop");
    assert_string_equal(l.peer[0], "bob");
    assert_int_equal(l.outgoing[0], 1);
    assert_int_equal(l.state[0], SOTTO_MSG_SENT);

    sotto_session_free(sb);
    sotto_session_free(so);
    sotto_session_free(si);
    sotto_identity_free(own);
    sotto_identity_free(bob);
    sotto_identity_free(impostor);
    sotto_client_close(c);
}

static int store_exists(const char *dir)
{
    return sotto_cstore_exists(dir);
}

static const char *reg_field(int i, const char *k)
{
    return json_string_value(json_object_get(regs_seen[i], k));
}

static void test_register_retry(void **state)
{
    (void)state;
    int port = start_server();
    char dir[] = "/tmp/sotto-test-reg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[64], pin[65], err[SOTTO_CERR_LEN];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    sodium_bin2hex(pin, sizeof pin, srv_pin, sizeof srv_pin);
    sotto_store_secret sec;
    memset(&sec, 0, sizeof sec);
    sec.is_raw = 1;
    randombytes_buf(sec.key, sizeof sec.key);
    sotto_register_args ra = {.server = url, .username = "alice", .pin = pin};
    for (int i = 0; i < n_regs; i++)
        json_decref(regs_seen[i]);
    n_regs = 0;

    /* The server registers, the answer is lost (twice: the HTTP layer tries a
     * fresh connection once). The store stays, unregistered. */
    drop_regs = 2;
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_NETWORK);
    assert_non_null(strstr(err, "repeat"));
    assert_int_equal(n_regs, 2);
    assert_true(store_exists(dir));
    sotto_client *c;
    assert_int_equal(sotto_client_open(&c, dir, &sec, err), SOTTO_C_NOT_FOUND);
    /* Another name or server on that store: refused, the store kept. */
    sotto_register_args other = ra;
    other.username = "alicia";
    assert_int_equal(sotto_client_register(dir, &other, &sec, 0, err), SOTTO_C_CONFLICT);
    assert_true(store_exists(dir));
    /* The same again: the same secret, identity and ids; registered. */
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_OK);
    assert_int_equal(n_regs, 3);
    for (int i = 1; i < 3; i++) {
        assert_string_equal(reg_field(i, "secret"), reg_field(0, "secret"));
        assert_string_equal(reg_field(i, "identityKey"), reg_field(0, "identityKey"));
        assert_string_equal(reg_field(i, "username"), "alice");
        assert_int_equal(json_integer_value(json_object_get(regs_seen[i], "registrationId")),
                         json_integer_value(json_object_get(regs_seen[0], "registrationId")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(regs_seen[i], "signedPreKey"), "publicKey")),
                            json_string_value(json_object_get(json_object_get(regs_seen[0], "signedPreKey"), "publicKey")));
    }
    assert_int_equal(sotto_client_open(&c, dir, &sec, err), SOTTO_C_OK);
    assert_string_equal(sotto_client_username(c), "alice");
    sotto_client_close(c);
    /* Registered: a further register is refused and changes nothing. */
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_CONFLICT);
    assert_int_equal(n_regs, 3);
    assert_int_equal(sotto_client_open(&c, dir, &sec, err), SOTTO_C_OK);
    sotto_client_close(c);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);

    /* A first attempt refused for good: nothing is kept (the name is free to retry). */
    assert_non_null(mkdtemp(strcpy(dir, "/tmp/sotto-test-reg-XXXXXX")));
    reg_status = 400;
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_SERVER);
    assert_false(store_exists(dir));
    /* 503: may pass later; kept, and the repeat succeeds. */
    reg_status = 503;
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_SERVER);
    assert_true(store_exists(dir));
    reg_status = 200;
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_OK);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);

    /* Lost, then 409 (someone else took the name, or an old sottod): the
     * store that may hold the account is kept. */
    assert_non_null(mkdtemp(strcpy(dir, "/tmp/sotto-test-reg-XXXXXX")));
    drop_regs = 2;
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_NETWORK);
    reg_status = 409;
    assert_int_equal(sotto_client_register(dir, &ra, &sec, 0, err), SOTTO_C_CONFLICT);
    assert_true(store_exists(dir));
    reg_status = 200;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);

    /* Nothing listening: no request went out, nothing is kept. */
    assert_non_null(mkdtemp(strcpy(dir, "/tmp/sotto-test-reg-XXXXXX")));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd); /* a port nobody listens on */
    char dead[64];
    snprintf(dead, sizeof dead, "https://127.0.0.1:%d", ntohs(sa.sin_port));
    sotto_register_args rd = {.server = dead, .username = "alice", .pin = pin};
    assert_int_equal(sotto_client_register(dir, &rd, &sec, 0, err), SOTTO_C_NETWORK);
    assert_false(store_exists(dir));
    rmdir(dir);
    for (int i = 0; i < n_regs; i++)
        json_decref(regs_seen[i]);
    n_regs = 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_409),
        cmocka_unit_test(test_changed_identity),
        cmocka_unit_test(test_register_retry),
        cmocka_unit_test(test_transcript_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
