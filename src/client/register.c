/* sotto client: registration, safe to repeat (see client.h).
 *
 * Everything of the new account (identity, registration id, signed and
 * last-resort prekeys, device secret, server, trust anchor, username) is
 * committed to the store before the request goes out, and the request is
 * always made from what the store holds. Once the request may have reached
 * the server (the TLS connection is up), "register_sent" is committed too;
 * from then on the store is never removed by register: if the answer is lost,
 * repeating register on the same store sends the same username, secret and
 * identity key again, and sottod answers an identical registration with the
 * account it already made. */
#define _GNU_SOURCE
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client_internal.h"
#include "sotto/keys.h"
#include "sotto/session.h"

#define URL_MAX (SOTTO_URL_HOST_MAX + SOTTO_URL_PREFIX_MAX + 32)

static sotto_cstatus read_file(const char *path, uint8_t **out, size_t *len, size_t max, char *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sotto_cfail(err, SOTTO_C_USAGE, "cannot open %s: %s", path, strerror(errno));
    uint8_t *b = malloc(max + 1);
    size_t n = b ? fread(b, 1, max + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (b == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    if (bad || n == 0 || n > max) {
        free(b);
        return sotto_cfail(err, SOTTO_C_USAGE, "%s: empty, unreadable or larger than %zu bytes", path, max);
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return SOTTO_C_OK;
}

void sotto_cl_remove_store(const char *dir, int key_file)
{
    static const char *const names[] = {SOTTO_STORE_DB_NAME, SOTTO_STORE_DB_NAME "-wal",
                                        SOTTO_STORE_DB_NAME "-shm", SOTTO_STORE_DB_NAME "-journal"};
    char p[SOTTO_PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (sotto_cstore_path(p, dir, names[i], NULL) == SOTTO_C_OK)
            unlink(p);
    }
    if (key_file && sotto_cstore_path(p, dir, SOTTO_STORE_KEYFILE_NAME, NULL) == SOTTO_C_OK)
        unlink(p);
}

/* The server's trust anchor as given on the command line (--cacert file
 * contents or --pin), replacing what the store held. Inside a transaction. */
sotto_cstatus sotto_cl_trust_of(sotto_trust *t, const char *cacert, const char *pin, char *err)
{
    memset(t, 0, sizeof *t);
    t->cacert = cacert;
    if (pin == NULL)
        return SOTTO_C_OK;
    t->has_pin = 1;
    return sotto_cli_parse_pin(t->pin, pin, err);
}

sotto_cstatus sotto_cl_store_trust(sotto_client *c, const sotto_register_args *a, char *err)
{
    sotto_cstatus rc = sotto_cstore_meta_delete(c->st, M_CACERT, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_delete(c->st, M_PIN, err);
    uint8_t *ca = NULL;
    size_t ca_len = 0;
    if (rc == SOTTO_C_OK && a->cacert != NULL && (rc = read_file(a->cacert, &ca, &ca_len, CACERT_MAX, err)) == SOTTO_C_OK) {
        rc = sotto_cstore_meta_set(c->st, M_CACERT, ca, ca_len, err);
        free(ca);
    }
    if (rc == SOTTO_C_OK && a->pin != NULL) {
        uint8_t pin[SOTTO_PIN_BYTES];
        if ((rc = sotto_cli_parse_pin(pin, a->pin, err)) == SOTTO_C_OK)
            rc = sotto_cstore_meta_set(c->st, M_PIN, pin, sizeof pin, err);
    }
    return rc;
}

/* Everything of a new account (or of a new device of an account, with its
 * identity private key given) except the server round trip, in one
 * transaction. */
void sotto_cl_first_upload(sotto_client *c, const char *secret_b64, const char *done)
{
    char user[UUID_LEN + 16], why[SOTTO_CERR_LEN];
    snprintf(user, sizeof user, "%s.%u", c->uuid, c->device_id);
    sotto_cstatus rc = sotto_http_set_basic(&c->http, user, secret_b64, why);
    if (rc == SOTTO_C_OK)
        rc = sotto_client_refill(c, why);
    if (rc != SOTTO_C_OK) /* the device exists; the next receive tops the keys up */
        fprintf(stderr, "sotto: %s, but the prekey upload failed: %s\n", done, why);
}

sotto_cstatus sotto_cl_create_keys(sotto_client *c, const sotto_register_args *a, const char *name,
                                   const uint8_t *given_idpriv, char *err)
{
    sotto_cstatus rc;
    uint8_t idpriv[SOTTO_EC_PRIVATE_BYTES], idpub[SOTTO_EC_PUBLIC_BYTES];
    uint8_t spk_pub[SOTTO_EC_PUBLIC_BYTES], spk_priv[SOTTO_EC_PRIVATE_BYTES], secret[SOTTO_SECRET_BYTES];
    char secret_b64[SOTTO_SECRET_B64_MAX];
    uint8_t *kem_pub = malloc(SOTTO_KYBER_PUBLIC_BYTES);
    uint8_t *kem_sec = sodium_malloc(SOTTO_KYBER_SECRET_BYTES);
    uint32_t regid = randombytes_uniform(SOTTO_REGID_MAX) + 1;
    if (kem_pub == NULL || kem_sec == NULL) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    if (given_idpriv != NULL)
        memcpy(idpriv, given_idpriv, sizeof idpriv);
    if ((given_idpriv == NULL &&
         (rc = sotto_cl_lib(sotto_ec_keypair(idpub, idpriv), err, "identity key")) != SOTTO_C_OK) ||
        (rc = sotto_cl_lib(sotto_ec_keypair(spk_pub, spk_priv), err, "signed prekey")) != SOTTO_C_OK ||
        (rc = sotto_cl_lib(sotto_kyber_keypair(kem_pub, kem_sec), err, "Kyber key")) != SOTTO_C_OK)
        goto out;
    randombytes_buf(secret, sizeof secret);
    sodium_bin2base64(secret_b64, sizeof secret_b64, secret, sizeof secret, sodium_base64_VARIANT_ORIGINAL);
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        goto out;
    rc = sotto_cl_store_trust(c, a, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set(c->st, M_SERVER, a->server, strlen(a->server), err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set(c->st, M_USERNAME, name, strlen(name), err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set(c->st, M_SECRET, secret_b64, strlen(secret_b64), err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set(c->st, M_IDPRIV, idpriv, sizeof idpriv, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_REGID, regid, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_REGISTERED, 0, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_SPK_ID, SOTTO_REG_SIGNED_ID, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_SPK_AT, time(NULL), err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_prekey_put(c->st, SOTTO_PK_SIGNED, SOTTO_REG_SIGNED_ID, spk_pub, sizeof spk_pub, spk_priv,
                                     sizeof spk_priv, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_prekey_put(c->st, SOTTO_PK_KYBER_LR, SOTTO_REG_SIGNED_ID, kem_pub, SOTTO_KYBER_PUBLIC_BYTES,
                                     kem_sec, SOTTO_KYBER_SECRET_BYTES, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
out:
    sodium_memzero(idpriv, sizeof idpriv);
    sodium_memzero(spk_priv, sizeof spk_priv);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(secret_b64, sizeof secret_b64);
    sodium_free(kem_sec);
    free(kem_pub);
    return rc;
}

/* The registration request, made from what the store holds (the same
 * username, secret, registration id and keys on every attempt; the prekey
 * signatures are made afresh). Sets c->id; secret_b64 gets the secret. */
sotto_cstatus sotto_cl_build_request(sotto_client *c, const char *name, json_t *req,
                                    char secret_b64[SOTTO_SECRET_B64_MAX], char *err)
{
    uint8_t *priv = NULL, *kem_pub = malloc(SOTTO_KYBER_PUBLIC_BYTES);
    uint8_t *kem_sec = sodium_malloc(SOTTO_KYBER_SECRET_BYTES);
    uint8_t idpub[SOTTO_EC_PUBLIC_BYTES], spk_pub[SOTTO_EC_PUBLIC_BYTES], spk_priv[SOTTO_EC_PRIVATE_BYTES];
    uint8_t sig[SOTTO_SIGNATURE_BYTES], kem_sig[SOTTO_SIGNATURE_BYTES];
    size_t n = 0;
    int64_t regid;
    sotto_cstatus rc;
    if (kem_pub == NULL || kem_sec == NULL) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    if ((rc = sotto_cl_meta_str(c->st, M_SECRET, secret_b64, SOTTO_SECRET_B64_MAX, err)) != SOTTO_C_OK ||
        (rc = sotto_cstore_meta_get_int(c->st, M_REGID, &regid, err)) != SOTTO_C_OK ||
        (rc = sotto_cstore_meta_get(c->st, M_IDPRIV, &priv, &n, err)) != SOTTO_C_OK)
        goto out;
    if (n != SOTTO_EC_PRIVATE_BYTES || regid < 1 || regid > SOTTO_REGID_MAX) {
        rc = sotto_cfail(err, SOTTO_C_STORE, "store: bad identity key or registration id");
        goto out;
    }
    if ((rc = sotto_cl_lib(sotto_identity_from_keys(&c->id, priv, (uint32_t)regid), err, "identity")) != SOTTO_C_OK ||
        (rc = sotto_cstore_prekey_get(c->st, SOTTO_PK_SIGNED, SOTTO_REG_SIGNED_ID, spk_pub, sizeof spk_pub, spk_priv,
                                      sizeof spk_priv, err)) != SOTTO_C_OK ||
        (rc = sotto_cstore_prekey_get(c->st, SOTTO_PK_KYBER_LR, SOTTO_REG_SIGNED_ID, kem_pub, SOTTO_KYBER_PUBLIC_BYTES,
                                      kem_sec, SOTTO_KYBER_SECRET_BYTES, err)) != SOTTO_C_OK ||
        (rc = sotto_cl_lib(sotto_identity_sign(c->id, sig, spk_pub, sizeof spk_pub), err, "signing")) != SOTTO_C_OK ||
        (rc = sotto_cl_lib(sotto_identity_sign(c->id, kem_sig, kem_pub, SOTTO_KYBER_PUBLIC_BYTES), err, "signing")) !=
            SOTTO_C_OK)
        goto out;
    sotto_identity_public_key(c->id, idpub);
    json_object_set_new(req, "username", json_string(name));
    json_object_set_new(req, "secret", json_string(secret_b64));
    json_object_set_new(req, "registrationId", json_integer(regid));
    json_object_set_new(req, "identityKey", sotto_cl_b64(idpub, sizeof idpub));
    json_object_set_new(req, "signedPreKey", sotto_cl_key_json(SOTTO_REG_SIGNED_ID, spk_pub, sizeof spk_pub, sig));
    json_object_set_new(req, "pqLastResortPreKey",
                        sotto_cl_key_json(SOTTO_REG_SIGNED_ID, kem_pub, SOTTO_KYBER_PUBLIC_BYTES, kem_sig));
out:
    sotto_cstore_free_blob(priv, n);
    sodium_memzero(spk_priv, sizeof spk_priv);
    sodium_free(kem_sec);
    free(kem_pub);
    return rc;
}

/* A store left by an earlier attempt: it must be unfinished and for the
 * same username and server; the trust anchor may be corrected. */
static sotto_cstatus resume(sotto_client *c, const char *dir, const sotto_register_args *a, const char *name,
                            char *err)
{
    int64_t v;
    char have_name[SOTTO_PEER_MAX + 1], have_url[URL_MAX];
    sotto_cstatus rc = sotto_cstore_meta_get_int(c->st, M_REGISTERED, &v, err);
    if (rc == SOTTO_C_OK && v == 1)
        return sotto_cfail(err, SOTTO_C_CONFLICT, "%s already holds a registered account", dir);
    if (rc == SOTTO_C_NOT_FOUND)
        return sotto_cfail(err, SOTTO_C_CONFLICT, "%s already holds a store without an account: remove it first", dir);
    if (rc != SOTTO_C_OK || (rc = sotto_cl_meta_str(c->st, M_USERNAME, have_name, sizeof have_name, err)) != SOTTO_C_OK ||
        (rc = sotto_cl_meta_str(c->st, M_SERVER, have_url, sizeof have_url, err)) != SOTTO_C_OK)
        return rc;
    if (strcmp(have_name, name) != 0 || strcmp(have_url, a->server) != 0)
        return sotto_cfail(err, SOTTO_C_CONFLICT,
                           "%s holds an unfinished registration of %s on %s: repeat it, or remove %s to start over",
                           dir, have_name, have_url, dir);
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        return rc;
    rc = sotto_cl_store_trust(c, a, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    return rc;
}

sotto_cstatus sotto_client_register(const char *dir, const sotto_register_args *a,
                                    const sotto_store_secret *sec, int key_file, char *err)
{
    char name[SOTTO_PEER_MAX + 1];
    sotto_cstatus rc = sotto_username_canonical(name, a->username, err);
    if (rc != SOTTO_C_OK)
        return rc;
    sotto_url u;
    if ((rc = sotto_url_parse(&u, a->server, err)) != SOTTO_C_OK)
        return rc;
    sotto_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    int retry = sotto_cstore_exists(dir), removable = 0, sent_before = 0;
    char secret_b64[SOTTO_SECRET_B64_MAX] = {0};
    json_t *req = json_object(), *resp = NULL;
    if ((rc = sotto_cstore_open(&c->st, dir, sec, !retry, err)) != SOTTO_C_OK)
        goto out;
    if (retry) {
        rc = resume(c, dir, a, name, err);
        int64_t v;
        sent_before = sotto_cstore_meta_get_int(c->st, M_REG_SENT, &v, NULL) == SOTTO_C_OK;
    } else {
        removable = 1; /* ours, and nothing went out yet */
        rc = sotto_cl_create_keys(c, a, name, NULL, err);
    }
    if (rc != SOTTO_C_OK || (rc = sotto_cl_build_request(c, name, req, secret_b64, err)) != SOTTO_C_OK)
        goto out;
    sotto_trust t;
    if ((rc = sotto_cl_trust_of(&t, a->cacert, a->pin, err)) != SOTTO_C_OK)
        goto out;
    sotto_http_init(&c->http, &u, &t);
    /* Connected and the server verified: nothing was sent yet. From here on
     * the request may reach the server, so the store stays whatever happens. */
    if ((rc = sotto_conn_open(&c->http.conn, &u, &t, c->http.timeout_ms, err)) != SOTTO_C_OK)
        goto out;
    if ((rc = sotto_cstore_meta_set_int(c->st, M_REG_SENT, 1, err)) != SOTTO_C_OK)
        goto out;
    removable = 0;
    int status;
    if ((rc = sotto_cl_call(c, "POST", "/v1/accounts", req, &status, &resp, err)) != SOTTO_C_OK) {
        char why[SOTTO_CERR_LEN];
        snprintf(why, sizeof why, "%s", err);
        rc = sotto_cfail(err, rc, "%s; the registration may have reached the server: repeat the same register (%s is kept)",
                         why, dir);
        goto out;
    }
    const char *uuid = json_string_value(json_object_get(resp, "uuid"));
    uint32_t dev;
    if (status != 200) {
        if (status == 409)
            rc = sotto_cfail(err, SOTTO_C_CONFLICT, "username %s is taken", name);
        else
            rc = sotto_cl_http_fail(status, resp, "register", err);
        /* A refusal for good of a first attempt: nothing to keep. An attempt
         * after one whose answer was lost keeps the store (its secret may
         * hold the account); so does a refusal that may pass later. */
        int for_good = status >= 400 && status < 500 && status != 408 && status != 429;
        if (for_good && !sent_before) {
            removable = 1;
        } else {
            size_t l = strlen(err);
            snprintf(err + l, SOTTO_CERR_LEN - l, " (%s is kept: repeat register%s)", dir,
                     for_good ? ", or remove it to start over" : " later");
        }
        goto out;
    }
    if (uuid == NULL || !sotto_cl_uuid_ok(uuid) || sotto_cl_get_u32(resp, "deviceId", 1, 127, &dev) != 0) {
        rc = sotto_cfail(err, SOTTO_C_SERVER, "register: unexpected answer (%s is kept: repeat register)", dir);
        goto out;
    }
    memcpy(c->uuid, uuid, UUID_LEN + 1);
    c->device_id = dev;
    snprintf(c->username, sizeof c->username, "%s", name);
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        goto out;
    rc = sotto_cstore_meta_set(c->st, M_UUID, uuid, UUID_LEN, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_DEVICE, dev, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_REGISTERED, 1, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_delete(c->st, M_REG_SENT, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    if (rc != SOTTO_C_OK)
        goto out;
    sotto_cl_first_upload(c, secret_b64, "registered");
out:
    sodium_memzero(secret_b64, sizeof secret_b64);
    json_decref(req);
    json_decref(resp);
    sotto_http_close(&c->http);
    sotto_identity_free(c->id);
    sotto_cstore_close(c->st);
    free(c);
    if (removable && rc != SOTTO_C_OK)
        sotto_cl_remove_store(dir, key_file);
    return rc;
}
