/* sotto client: the account engine (see client.h). */
#define _GNU_SOURCE
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client_internal.h"
#include "content.h"
#include "sotto/keys.h"
#include "sotto/session.h"

/* ---------- small helpers ---------- */

int64_t sotto_cl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

sotto_cstatus sotto_cl_lib(sotto_err e, char *err, const char *what)
{
    if (e == SOTTO_OK)
        return SOTTO_C_OK;
    if (e == SOTTO_ERR_NO_MEMORY)
        return sotto_cfail(err, SOTTO_C_FAILURE, "%s: out of memory", what);
    if (e == SOTTO_ERR_UNTRUSTED_IDENTITY)
        return sotto_cfail(err, SOTTO_C_UNTRUSTED, "%s: %s", what, sotto_strerror(e));
    return sotto_cfail(err, SOTTO_C_FAILURE, "%s: %s", what, sotto_strerror(e));
}

sotto_cstatus sotto_username_canonical(char out[SOTTO_PEER_MAX + 1], const char *in, char *err)
{
    size_t n = strlen(in);
    out[0] = '\0';
    if (n < 3 || n > 32)
        return sotto_cfail(err, SOTTO_C_USAGE, "username: 3 to 32 characters");
    for (size_t i = 0; i < n; i++) {
        char ch = (char)tolower((unsigned char)in[i]);
        int ok = (ch >= 'a' && ch <= 'z') || (i > 0 && ((ch >= '0' && ch <= '9') || ch == '_' || ch == '.'));
        if (!ok || (ch == '.' && (i + 1 == n || in[i + 1] == '.')) || (unsigned char)in[i] >= 0x80)
            return sotto_cfail(err, SOTTO_C_USAGE,
                               "username %s: [a-z0-9_.] only, a letter first, no \"..\", no final '.'", in);
        out[i] = ch;
    }
    out[n] = '\0';
    return SOTTO_C_OK;
}

json_t *sotto_cl_b64(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* Decodes a base64 JSON string into exactly want bytes. */
int sotto_cl_unb64(json_t *v, uint8_t *out, size_t want)
{
    if (!json_is_string(v))
        return -1;
    size_t n = json_string_length(v), got = 0;
    if (n == 0 || n > (want + 2) / 3 * 4)
        return -1;
    if (sodium_base642bin(out, want, json_string_value(v), n, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || got != want)
        return -1;
    return 0;
}

int sotto_cl_get_u32(json_t *o, const char *k, uint32_t lo, uint32_t hi, uint32_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo || json_integer_value(v) > (json_int_t)hi)
        return -1;
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

int sotto_cl_uuid_ok(const char *s)
{
    if (strlen(s) != UUID_LEN)
        return 0;
    for (int i = 0; i < UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

sotto_cstatus sotto_cl_meta_key(char out[META_KEY_MAX], const char *prefix, const char *v, char *err)
{
    int n = snprintf(out, META_KEY_MAX, "%s%s", prefix, v);
    if (n < 0 || n >= META_KEY_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "name too long");
    return SOTTO_C_OK;
}

/* Reads a string meta value into out (cap bytes). */
sotto_cstatus sotto_cl_meta_str(sotto_cstore *st, const char *k, char *out, size_t cap, char *err)
{
    uint8_t *v;
    size_t n;
    out[0] = '\0';
    sotto_cstatus rc = sotto_cstore_meta_get(st, k, &v, &n, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (n >= cap || memchr(v, 0, n) != NULL) {
        sotto_cstore_free_blob(v, n);
        return sotto_cfail(err, SOTTO_C_STORE, "store: bad %s", k);
    }
    memcpy(out, v, n + 1);
    sotto_cstore_free_blob(v, n);
    return SOTTO_C_OK;
}

/* ---------- the API ---------- */

/* One JSON request. *out gets the parsed body when it is a JSON object (may
 * be NULL). Returns SOTTO_C_OK for any HTTP answer; *status tells which. */
sotto_cstatus sotto_cl_call(sotto_client *c, const char *method, const char *path, json_t *body,
                          int *status, json_t **out, char *err)
{
    *status = 0;
    if (out != NULL)
        *out = NULL;
    char *text = NULL;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    }
    sotto_http_resp r;
    size_t tl = text ? strlen(text) : 0;
    sotto_cstatus rc = sotto_http_request(&c->http, method, path, text, tl, &r, err);
    if (text != NULL)
        sodium_memzero(text, tl); /* may hold the device secret */
    free(text);
    if (rc != SOTTO_C_OK)
        return rc;
    *status = r.status;
    if (out != NULL && r.body_len > 0) {
        json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
        if (j != NULL && !json_is_object(j)) {
            json_decref(j);
            j = NULL;
        }
        *out = j;
    }
    sotto_http_resp_free(&r);
    return SOTTO_C_OK;
}

/* Turns an unexpected HTTP answer into a status with the server's reason. */
sotto_cstatus sotto_cl_http_fail(int status, json_t *body, const char *what, char *err)
{
    const char *why = json_string_value(json_object_get(body, "error"));
    sotto_cstatus rc = sotto_http_status(status);
    if (rc == SOTTO_C_OK || rc == SOTTO_C_CONFLICT)
        rc = SOTTO_C_SERVER;
    if (status == 409)
        rc = SOTTO_C_CONFLICT;
    return sotto_cfail(err, rc, "%s: server answered %d%s%s", what, status, why ? ": " : "", why ? why : "");
}

/* ---------- keys ---------- */

static sotto_cstatus next_key_id(sotto_cstore *st, const char *k, uint32_t *id, char *err)
{
    int64_t v;
    sotto_cstatus rc = sotto_cstore_meta_get_int(st, k, &v, err);
    if (rc == SOTTO_C_NOT_FOUND)
        v = 2; /* id 1 is the signed / last-resort key */
    else if (rc != SOTTO_C_OK)
        return rc;
    if (v < 1 || v > SOTTO_PREKEY_ID_MAX)
        v = 2;
    *id = (uint32_t)v;
    return sotto_cstore_meta_set_int(st, k, v >= SOTTO_PREKEY_ID_MAX ? 2 : v + 1, err);
}

json_t *sotto_cl_key_json(uint32_t id, const uint8_t *pub, size_t len, const uint8_t *sig)
{
    json_t *o = json_object();
    json_object_set_new(o, "keyId", json_integer(id));
    json_object_set_new(o, "publicKey", sotto_cl_b64(pub, len));
    if (sig != NULL)
        json_object_set_new(o, "signature", sotto_cl_b64(sig, SOTTO_SIGNATURE_BYTES));
    return o;
}

/* Makes n EC or Kyber one-time prekeys, stores them (private halves) and
 * appends their public JSON to arr. One transaction. */
static sotto_cstatus make_prekeys(sotto_client *c, int kem, size_t n, json_t *arr, char *err)
{
    uint8_t *sec = sodium_malloc(SOTTO_KYBER_SECRET_BYTES);
    uint8_t *pub = malloc(SOTTO_KYBER_PUBLIC_BYTES);
    uint8_t sig[SOTTO_SIGNATURE_BYTES];
    sotto_cstatus rc = SOTTO_C_OK;
    if (sec == NULL || pub == NULL) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        goto out;
    for (size_t i = 0; i < n && rc == SOTTO_C_OK; i++) {
        uint32_t id;
        if ((rc = next_key_id(c->st, kem ? M_NEXT_KEM : M_NEXT_EC, &id, err)) != SOTTO_C_OK)
            break;
        if (kem) {
            rc = sotto_cl_lib(sotto_kyber_keypair(pub, sec), err, "Kyber key");
            if (rc == SOTTO_C_OK)
                rc = sotto_cl_lib(sotto_identity_sign(c->id, sig, pub, SOTTO_KYBER_PUBLIC_BYTES), err, "signing");
            if (rc == SOTTO_C_OK)
                rc = sotto_cstore_prekey_put(c->st, SOTTO_PK_KYBER, id, pub, SOTTO_KYBER_PUBLIC_BYTES, sec,
                                             SOTTO_KYBER_SECRET_BYTES, err);
            if (rc == SOTTO_C_OK)
                json_array_append_new(arr, sotto_cl_key_json(id, pub, SOTTO_KYBER_PUBLIC_BYTES, sig));
        } else {
            rc = sotto_cl_lib(sotto_ec_keypair(pub, sec), err, "EC key");
            if (rc == SOTTO_C_OK)
                rc = sotto_cstore_prekey_put(c->st, SOTTO_PK_ONE_TIME, id, pub, SOTTO_EC_PUBLIC_BYTES, sec,
                                             SOTTO_EC_PRIVATE_BYTES, err);
            if (rc == SOTTO_C_OK)
                json_array_append_new(arr, sotto_cl_key_json(id, pub, SOTTO_EC_PUBLIC_BYTES, NULL));
        }
    }
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
out:
    sodium_free(sec);
    free(pub);
    return rc;
}

/* A new signed prekey when the current one is SOTTO_SIGNED_PREKEY_ROTATE_S
 * old: stored (private half) at once, made current after the server took it.
 * Older ones stay in the store for prekey messages still on their way. */
static sotto_cstatus rotate_signed_prekey(sotto_client *c, json_t **spk, int64_t *new_id, char *err)
{
    *spk = NULL;
    *new_id = 0;
    int64_t at, cur;
    sotto_cstatus rc = sotto_cstore_meta_get_int(c->st, M_SPK_AT, &at, err);
    if (rc == SOTTO_C_NOT_FOUND) /* a store from before rotation: count from now */
        return sotto_cstore_meta_set_int(c->st, M_SPK_AT, time(NULL), err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (time(NULL) - at < SOTTO_SIGNED_PREKEY_ROTATE_S)
        return SOTTO_C_OK;
    rc = sotto_cstore_meta_get_int(c->st, M_SPK_ID, &cur, err);
    if (rc == SOTTO_C_NOT_FOUND)
        cur = 1;
    else if (rc != SOTTO_C_OK)
        return rc;
    /* Ids already handed out but not made current are skipped over: find a free one. */
    int64_t id = cur;
    uint8_t pub[SOTTO_EC_PUBLIC_BYTES], priv[SOTTO_EC_PRIVATE_BYTES], sig[SOTTO_SIGNATURE_BYTES];
    do {
        id = id >= SOTTO_PREKEY_ID_MAX ? 1 : id + 1;
        rc = sotto_cstore_prekey_get(c->st, SOTTO_PK_SIGNED, (uint32_t)id, pub, sizeof pub, priv, sizeof priv, NULL);
    } while (rc == SOTTO_C_OK && id != cur);
    if (rc != SOTTO_C_NOT_FOUND) {
        sodium_memzero(priv, sizeof priv);
        return sotto_cfail(err, SOTTO_C_STORE, "no free signed prekey id");
    }
    rc = sotto_cl_lib(sotto_ec_keypair(pub, priv), err, "signed prekey");
    if (rc == SOTTO_C_OK)
        rc = sotto_cl_lib(sotto_identity_sign(c->id, sig, pub, sizeof pub), err, "signing");
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_prekey_put(c->st, SOTTO_PK_SIGNED, (uint32_t)id, pub, sizeof pub, priv, sizeof priv, err);
    sodium_memzero(priv, sizeof priv);
    if (rc != SOTTO_C_OK)
        return rc;
    *spk = sotto_cl_key_json((uint32_t)id, pub, sizeof pub, sig);
    *new_id = id;
    return SOTTO_C_OK;
}

sotto_cstatus sotto_client_refill(sotto_client *c, char *err)
{
    int status;
    json_t *r;
    sotto_cstatus rc = sotto_cl_call(c, "GET", "/v1/keys", NULL, &status, &r, err);
    if (rc != SOTTO_C_OK)
        return rc;
    uint32_t ec = 0, kem = 0;
    if (status != 200 || sotto_cl_get_u32(r, "count", 0, UINT32_MAX, &ec) != 0 ||
        sotto_cl_get_u32(r, "pqCount", 0, UINT32_MAX, &kem) != 0) {
        rc = status == 200 ? sotto_cfail(err, SOTTO_C_SERVER, "key count: unexpected answer")
                           : sotto_cl_http_fail(status, r, "key count", err);
        json_decref(r);
        return rc;
    }
    json_decref(r);
    c->prekey_msgs = 0;
    json_t *spk = NULL;
    int64_t spk_id = 0;
    if ((rc = rotate_signed_prekey(c, &spk, &spk_id, err)) != SOTTO_C_OK)
        return rc;
    if (ec >= SOTTO_PREKEY_LOW && kem >= SOTTO_PREKEY_LOW && spk == NULL)
        return SOTTO_C_OK;
    json_t *body = json_object(), *pk = json_array(), *pq = json_array();
    if (ec < SOTTO_PREKEY_LOW)
        rc = make_prekeys(c, 0, SOTTO_PREKEY_BATCH, pk, err);
    if (rc == SOTTO_C_OK && kem < SOTTO_PREKEY_LOW)
        rc = make_prekeys(c, 1, SOTTO_PREKEY_BATCH, pq, err);
    json_object_set_new(body, "preKeys", pk);
    json_object_set_new(body, "pqPreKeys", pq);
    if (spk != NULL)
        json_object_set_new(body, "signedPreKey", spk);
    if (rc == SOTTO_C_OK)
        rc = sotto_cl_call(c, "PUT", "/v1/keys", body, &status, &r, err);
    json_decref(body);
    if (rc != SOTTO_C_OK)
        return rc;
    if (status != 200 && status != 204)
        rc = sotto_cl_http_fail(status, r, "key upload", err);
    json_decref(r);
    /* The server has the new signed prekey: it is current from now on. */
    if (rc == SOTTO_C_OK && spk != NULL) {
        rc = sotto_cstore_meta_set_int(c->st, M_SPK_ID, spk_id, err);
        if (rc == SOTTO_C_OK)
            rc = sotto_cstore_meta_set_int(c->st, M_SPK_AT, time(NULL), err);
    }
    return rc;
}

/* ---------- open / register ---------- */

static sotto_cstatus load_account(sotto_client *c, char *err)
{
    sotto_cstatus rc;
    char url[SOTTO_URL_HOST_MAX + SOTTO_URL_PREFIX_MAX + 32];
    int64_t v;
    if ((rc = sotto_cstore_meta_get_int(c->st, M_REGISTERED, &v, err)) != SOTTO_C_OK || v != 1)
        return sotto_cfail(err, SOTTO_C_NOT_FOUND, "this store holds no registered account");
    if ((rc = sotto_cl_meta_str(c->st, M_SERVER, url, sizeof url, err)) != SOTTO_C_OK ||
        (rc = sotto_cl_meta_str(c->st, M_USERNAME, c->username, sizeof c->username, err)) != SOTTO_C_OK ||
        (rc = sotto_cl_meta_str(c->st, M_UUID, c->uuid, sizeof c->uuid, err)) != SOTTO_C_OK ||
        (rc = sotto_cstore_meta_get_int(c->st, M_DEVICE, &v, err)) != SOTTO_C_OK)
        return rc;
    c->device_id = (uint32_t)v;
    sotto_url u;
    if ((rc = sotto_url_parse(&u, url, err)) != SOTTO_C_OK)
        return rc;
    sotto_trust t;
    memset(&t, 0, sizeof t);
    uint8_t *pin;
    size_t n;
    rc = sotto_cstore_meta_get(c->st, M_PIN, &pin, &n, err);
    if (rc == SOTTO_C_OK && n == SOTTO_PIN_BYTES) {
        t.has_pin = 1;
        memcpy(t.pin, pin, SOTTO_PIN_BYTES);
    }
    if (rc == SOTTO_C_OK)
        sotto_cstore_free_blob(pin, n);
    rc = sotto_cstore_meta_get(c->st, M_CACERT, &c->cacert, &c->cacert_len, err);
    if (rc == SOTTO_C_OK) {
        t.cacert_pem = (const char *)c->cacert;
        t.cacert_pem_len = c->cacert_len;
    } else if (rc != SOTTO_C_NOT_FOUND) {
        return rc;
    }
    sotto_http_init(&c->http, &u, &t);
    /* Identity. */
    uint8_t *priv;
    if ((rc = sotto_cstore_meta_get(c->st, M_IDPRIV, &priv, &n, err)) != SOTTO_C_OK)
        return rc;
    if ((rc = sotto_cstore_meta_get_int(c->st, M_REGID, &v, err)) != SOTTO_C_OK || n != SOTTO_EC_PRIVATE_BYTES) {
        sotto_cstore_free_blob(priv, n);
        return rc != SOTTO_C_OK ? rc : sotto_cfail(err, SOTTO_C_STORE, "store: bad identity key");
    }
    rc = sotto_cl_lib(sotto_identity_from_keys(&c->id, priv, (uint32_t)v), err, "identity");
    sotto_cstore_free_blob(priv, n);
    if (rc != SOTTO_C_OK)
        return rc;
    /* Credentials: "<uuid>.<device>:<secret>". */
    char user[UUID_LEN + 16], secret[2 * SOTTO_SECRET_BYTES + 8];
    snprintf(user, sizeof user, "%s.%u", c->uuid, c->device_id);
    if ((rc = sotto_cl_meta_str(c->st, M_SECRET, secret, sizeof secret, err)) != SOTTO_C_OK)
        return rc;
    rc = sotto_http_set_basic(&c->http, user, secret, err);
    sodium_memzero(secret, sizeof secret);
    return rc;
}

sotto_cstatus sotto_client_open(sotto_client **out, const char *dir, const sotto_store_secret *sec, char *err)
{
    *out = NULL;
    sotto_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    sotto_cstatus rc = sotto_cstore_open(&c->st, dir, sec, 0, err);
    if (rc == SOTTO_C_OK)
        rc = load_account(c, err);
    if (rc != SOTTO_C_OK) {
        sotto_client_close(c);
        return rc;
    }
    *out = c;
    return SOTTO_C_OK;
}

void sotto_client_close(sotto_client *c)
{
    if (c == NULL)
        return;
    sotto_client_disconnect(c);
    sotto_http_close(&c->http);
    sotto_identity_free(c->id);
    sotto_cstore_free_blob(c->cacert, c->cacert_len);
    sotto_cstore_close(c->st);
    sodium_memzero(c, sizeof *c);
    free(c);
}

sotto_cstore *sotto_client_store(sotto_client *c)
{
    return c->st;
}

const char *sotto_client_username(const sotto_client *c)
{
    return c->username;
}
