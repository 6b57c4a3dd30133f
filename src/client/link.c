/* sotto client: linked devices (see link.h). */
#define _GNU_SOURCE
#include "link.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "client_internal.h"
#include "content.h"

/* ---- the provisioning message and the link code (pure) ---- */

static int uuid_chars_ok(const uint8_t *s)
{
    for (int i = 0; i < SOTTO_LINK_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

sotto_cstatus sotto_link_msg_encode(const sotto_link_msg *m, uint8_t *out, size_t *out_len, char *err)
{
    *out_len = 0;
    size_t ul = strlen(m->uuid), nl = strlen(m->username);
    char canon[SOTTO_PEER_MAX + 1];
    if (ul != SOTTO_LINK_UUID_LEN || !uuid_chars_ok((const uint8_t *)m->uuid) ||
        sotto_username_canonical(canon, m->username, NULL) != SOTTO_C_OK || strcmp(canon, m->username) != 0)
        return sotto_cfail(err, SOTTO_C_STORE, "store: bad account uuid or username");
    size_t o = 0;
    out[o++] = SOTTO_LINK_MSG_VERSION;
    memcpy(out + o, m->uuid, SOTTO_LINK_UUID_LEN);
    o += SOTTO_LINK_UUID_LEN;
    memcpy(out + o, m->identity_private, SOTTO_LINK_PRIV_BYTES);
    o += SOTTO_LINK_PRIV_BYTES;
    memcpy(out + o, m->token, SOTTO_LINK_TOKEN_BYTES);
    o += SOTTO_LINK_TOKEN_BYTES;
    out[o++] = (uint8_t)nl;
    memcpy(out + o, m->username, nl);
    *out_len = o + nl;
    return SOTTO_C_OK;
}

sotto_cstatus sotto_link_msg_decode(const uint8_t *in, size_t len, sotto_link_msg *out, char *err)
{
    memset(out, 0, sizeof *out);
    const size_t head = 1 + SOTTO_LINK_UUID_LEN + SOTTO_LINK_PRIV_BYTES + SOTTO_LINK_TOKEN_BYTES + 1;
    if (len < head || len > SOTTO_LINK_MSG_MAX || in[0] != SOTTO_LINK_MSG_VERSION)
        return sotto_cfail(err, SOTTO_C_SERVER, "link message: bad version or length");
    size_t nl = in[head - 1];
    if (len != head + nl || nl > SOTTO_PEER_MAX || !uuid_chars_ok(in + 1))
        return sotto_cfail(err, SOTTO_C_SERVER, "link message: malformed");
    memcpy(out->username, in + head, nl);
    out->username[nl] = '\0';
    char canon[SOTTO_PEER_MAX + 1];
    if (memchr(out->username, 0, nl) != NULL || sotto_username_canonical(canon, out->username, NULL) != SOTTO_C_OK ||
        strcmp(canon, out->username) != 0) {
        sodium_memzero(out, sizeof *out);
        return sotto_cfail(err, SOTTO_C_SERVER, "link message: bad username");
    }
    size_t o = 1;
    memcpy(out->uuid, in + o, SOTTO_LINK_UUID_LEN);
    o += SOTTO_LINK_UUID_LEN;
    memcpy(out->identity_private, in + o, SOTTO_LINK_PRIV_BYTES);
    o += SOTTO_LINK_PRIV_BYTES;
    memcpy(out->token, in + o, SOTTO_LINK_TOKEN_BYTES);
    return SOTTO_C_OK;
}

static int b64url_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return 0;
    }
    return 1;
}

sotto_cstatus sotto_link_code_format(char out[SOTTO_LINK_CODE_MAX], const char *address,
                                     const uint8_t pk[SOTTO_LINK_PK_BYTES], char *err)
{
    out[0] = '\0';
    if (strlen(address) != SOTTO_LINK_ADDRESS_CHARS || !b64url_chars(address, SOTTO_LINK_ADDRESS_CHARS))
        return sotto_cfail(err, SOTTO_C_SERVER, "provisioning: bad mailbox address");
    char k[SOTTO_LINK_PK_CHARS + 1];
    sodium_bin2base64(k, sizeof k, pk, SOTTO_LINK_PK_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, SOTTO_LINK_CODE_MAX, "%s%s.%s", SOTTO_LINK_CODE_PREFIX, address, k);
    return SOTTO_C_OK;
}

sotto_cstatus sotto_link_code_parse(const char *code, char address[SOTTO_LINK_ADDRESS_CHARS + 1],
                                    uint8_t pk[SOTTO_LINK_PK_BYTES], char *err)
{
    address[0] = '\0';
    memset(pk, 0, SOTTO_LINK_PK_BYTES);
    while (isspace((unsigned char)*code))
        code++;
    size_t n = strlen(code);
    while (n > 0 && isspace((unsigned char)code[n - 1]))
        n--;
    const size_t pl = sizeof SOTTO_LINK_CODE_PREFIX - 1;
    if (n != pl + SOTTO_LINK_ADDRESS_CHARS + 1 + SOTTO_LINK_PK_CHARS)
        return sotto_cfail(err, SOTTO_C_USAGE, "not a link code (sotto-link:...; run sotto link on the new device)");
    const char *a = code + pl, *k = a + SOTTO_LINK_ADDRESS_CHARS + 1;
    size_t got = 0;
    if (strncmp(code, SOTTO_LINK_CODE_PREFIX, pl) != 0 ||
        a[SOTTO_LINK_ADDRESS_CHARS] != '.' || !b64url_chars(a, SOTTO_LINK_ADDRESS_CHARS) ||
        !b64url_chars(k, SOTTO_LINK_PK_CHARS) ||
        sodium_base642bin(pk, SOTTO_LINK_PK_BYTES, k, SOTTO_LINK_PK_CHARS, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got != SOTTO_LINK_PK_BYTES) {
        memset(pk, 0, SOTTO_LINK_PK_BYTES);
        return sotto_cfail(err, SOTTO_C_USAGE, "not a link code (sotto-link:...; run sotto link on the new device)");
    }
    memcpy(address, a, SOTTO_LINK_ADDRESS_CHARS);
    address[SOTTO_LINK_ADDRESS_CHARS] = '\0';
    return SOTTO_C_OK;
}

/* ---- the new device ---- */

/* A device label: UTF-8 text without control characters (not even newlines). */
static int label_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return sotto_text_ok((const uint8_t *)s, strlen(s));
}

/* Opens a mailbox, shows the code, waits for the sealed message and opens it. */
static sotto_cstatus receive_link(sotto_client *c, sotto_link_code_cb cb, void *ctx, sotto_link_msg *m, char *err)
{
    uint8_t pk[SOTTO_LINK_PK_BYTES];
    uint8_t *sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
    uint8_t *plain = sodium_malloc(SOTTO_LINK_MSG_MAX);
    uint8_t sealed[SOTTO_LINK_SEALED_MAX];
    json_t *r = NULL;
    int status;
    sotto_cstatus rc;
    if (sk == NULL || plain == NULL) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    crypto_box_keypair(pk, sk);
    if ((rc = sotto_cl_call(c, "POST", "/v1/provisioning", NULL, &status, &r, err)) != SOTTO_C_OK)
        goto out;
    const char *addr = json_string_value(json_object_get(r, "address"));
    if (status != 200 || addr == NULL) {
        rc = status == 200 ? sotto_cfail(err, SOTTO_C_SERVER, "provisioning: unexpected answer")
                           : sotto_cl_http_fail(status, r, "provisioning", err);
        goto out;
    }
    char code[SOTTO_LINK_CODE_MAX], path[SOTTO_HTTP_PATH_MAX];
    if ((rc = sotto_link_code_format(code, addr, pk, err)) != SOTTO_C_OK)
        goto out;
    snprintf(path, sizeof path, "/v1/provisioning/%s?timeout=%d", addr, SOTTO_LINK_POLL_S);
    json_decref(r);
    r = NULL;
    cb(ctx, code);
    time_t deadline = time(NULL) + SOTTO_LINK_WAIT_S;
    for (;;) {
        if ((rc = sotto_cl_call(c, "GET", path, NULL, &status, &r, err)) != SOTTO_C_OK)
            goto out;
        if (status == 200)
            break;
        if (status == 404) {
            rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "the link code expired (10 minutes): run sotto link again");
            goto out;
        }
        if (status != 204) {
            rc = sotto_cl_http_fail(status, r, "provisioning", err);
            goto out;
        }
        json_decref(r);
        r = NULL;
        if (time(NULL) >= deadline) {
            rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no device sent the link within 10 minutes: run sotto link again");
            goto out;
        }
    }
    json_t *mv = json_object_get(r, "message");
    size_t n = 0;
    if (!json_is_string(mv) || json_string_length(mv) > (SOTTO_LINK_SEALED_MAX + 2) / 3 * 4 ||
        sodium_base642bin(sealed, sizeof sealed, json_string_value(mv), json_string_length(mv), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n < crypto_box_SEALBYTES || n - crypto_box_SEALBYTES > SOTTO_LINK_MSG_MAX) {
        rc = sotto_cfail(err, SOTTO_C_SERVER, "provisioning: malformed message");
        goto out;
    }
    if (crypto_box_seal_open(plain, sealed, n, pk, sk) != 0) {
        rc = sotto_cfail(err, SOTTO_C_UNTRUSTED, "the link message does not open with this device's key");
        goto out;
    }
    sodium_free(sk); /* done with the ephemeral key */
    sk = NULL;
    rc = sotto_link_msg_decode(plain, n - crypto_box_SEALBYTES, m, err);
out:
    json_decref(r);
    sodium_free(sk);
    sodium_free(plain);
    sodium_memzero(sealed, sizeof sealed);
    return rc;
}

sotto_cstatus sotto_client_link(const char *dir, const sotto_link_args *a, const sotto_store_secret *sec,
                                int key_file, sotto_link_code_cb cb, void *ctx,
                                char out_username[SOTTO_PEER_MAX + 1], uint32_t *out_device, char *err)
{
    if (out_username != NULL)
        out_username[0] = '\0';
    if (out_device != NULL)
        *out_device = 0;
    sotto_url u;
    sotto_cstatus rc = sotto_url_parse(&u, a->server, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (a->name != NULL && (strlen(a->name) == 0 || strlen(a->name) > SOTTO_DEVICE_NAME_MAX ||
                            !label_ok(a->name)))
        return sotto_cfail(err, SOTTO_C_USAGE, "--name: 1 to %d printable characters", SOTTO_DEVICE_NAME_MAX);
    if (sotto_cstore_exists(dir))
        return sotto_cfail(err, SOTTO_C_CONFLICT, "%s already holds a store: link a new device into a new directory",
                           dir);
    sotto_client *c = calloc(1, sizeof *c);
    sotto_link_msg *m = sodium_malloc(sizeof *m);
    json_t *req = json_object(), *resp = NULL;
    char secret_b64[SOTTO_SECRET_B64_MAX] = {0};
    int removable = 0;
    if (c == NULL || m == NULL || req == NULL) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    memset(m, 0, sizeof *m);
    if ((rc = sotto_cstore_open(&c->st, dir, sec, 1, err)) != SOTTO_C_OK)
        goto out;
    removable = 1;
    sotto_trust t;
    if ((rc = sotto_cl_trust_of(&t, a->cacert, a->pin, err)) != SOTTO_C_OK)
        goto out;
    sotto_http_init(&c->http, &u, &t);
    if ((rc = receive_link(c, cb, ctx, m, err)) != SOTTO_C_OK)
        goto out;
    /* The account's identity, this device's own keys and secret. */
    sotto_register_args ra = {.server = a->server, .username = m->username, .cacert = a->cacert, .pin = a->pin};
    rc = sotto_cl_create_keys(c, &ra, m->username, m->identity_private, err);
    sodium_memzero(m->identity_private, sizeof m->identity_private);
    if (rc != SOTTO_C_OK || (rc = sotto_cl_build_request(c, m->username, req, secret_b64, err)) != SOTTO_C_OK)
        goto out;
    char tok[SOTTO_LINK_TOKEN_CHARS + 1];
    sodium_bin2base64(tok, sizeof tok, m->token, sizeof m->token, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(m->token, sizeof m->token);
    json_object_del(req, "username");
    json_object_del(req, "identityKey");
    json_object_set_new(req, "token", json_string(tok));
    sodium_memzero(tok, sizeof tok);
    int status;
    rc = sotto_cl_call(c, "POST", "/v1/devices", req, &status, &resp, err);
    if (rc != SOTTO_C_OK) {
        char why[SOTTO_CERR_LEN];
        snprintf(why, sizeof why, "%s", err);
        rc = sotto_cfail(err, rc, "%s; if the server added the device anyway, remove it from another device "
                                  "(sotto devices, sotto unlink N) and link again", why);
        goto out;
    }
    const char *uuid = json_string_value(json_object_get(resp, "uuid"));
    uint32_t dev;
    if (status != 200) {
        rc = status == 403 ? sotto_cfail(err, SOTTO_C_AUTH, "the server refused the link token (unknown, expired or "
                                                            "used): link again")
                           : sotto_cl_http_fail(status, resp, "link", err);
        goto out;
    }
    if (uuid == NULL || strcmp(uuid, m->uuid) != 0 || sotto_cl_get_u32(resp, "deviceId", 2, 127, &dev) != 0) {
        rc = sotto_cfail(err, SOTTO_C_SERVER, "link: unexpected answer");
        goto out;
    }
    memcpy(c->uuid, m->uuid, UUID_LEN + 1);
    c->device_id = dev;
    snprintf(c->username, sizeof c->username, "%s", m->username);
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        goto out;
    rc = sotto_cstore_meta_set(c->st, M_UUID, c->uuid, UUID_LEN, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_DEVICE, dev, err);
    if (rc == SOTTO_C_OK && a->name != NULL)
        rc = sotto_cstore_meta_set(c->st, M_DEVICE_NAME, a->name, strlen(a->name), err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set_int(c->st, M_REGISTERED, 1, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    if (rc != SOTTO_C_OK)
        goto out;
    removable = 0;
    if (out_username != NULL)
        snprintf(out_username, SOTTO_PEER_MAX + 1, "%s", c->username);
    if (out_device != NULL)
        *out_device = dev;
    sotto_cl_first_upload(c, secret_b64, "linked");
out:
    sodium_memzero(secret_b64, sizeof secret_b64);
    json_decref(req);
    json_decref(resp);
    if (m != NULL)
        sodium_free(m);
    if (c != NULL) {
        sotto_http_close(&c->http);
        sotto_identity_free(c->id);
        sotto_cstore_close(c->st);
        free(c);
    }
    if (removable && rc != SOTTO_C_OK)
        sotto_cl_remove_store(dir, key_file);
    return rc;
}

/* ---- the old device ---- */

sotto_cstatus sotto_client_add_device(sotto_client *c, const char *code, char *err)
{
    char addr[SOTTO_LINK_ADDRESS_CHARS + 1];
    uint8_t pk[SOTTO_LINK_PK_BYTES];
    sotto_cstatus rc = sotto_link_code_parse(code, addr, pk, err);
    if (rc != SOTTO_C_OK)
        return rc;
    sotto_link_msg *m = sodium_malloc(sizeof *m);
    uint8_t *plain = sodium_malloc(SOTTO_LINK_MSG_MAX);
    uint8_t sealed[SOTTO_LINK_SEALED_MAX];
    uint8_t *priv = NULL;
    size_t pn = 0, n = 0;
    json_t *r = NULL, *body = NULL;
    int status;
    if (m == NULL || plain == NULL) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    memset(m, 0, sizeof *m);
    if ((rc = sotto_cl_call(c, "POST", "/v1/devices/link", NULL, &status, &r, err)) != SOTTO_C_OK)
        goto out;
    json_t *tv = json_object_get(r, "token");
    size_t got = 0;
    if (status != 200 || !json_is_string(tv) || json_string_length(tv) != SOTTO_LINK_TOKEN_CHARS ||
        sodium_base642bin(m->token, sizeof m->token, json_string_value(tv), SOTTO_LINK_TOKEN_CHARS, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got != sizeof m->token) {
        rc = status == 200 ? sotto_cfail(err, SOTTO_C_SERVER, "link token: unexpected answer")
                           : sotto_cl_http_fail(status, r, "link token", err);
        goto out;
    }
    json_decref(r);
    r = NULL;
    if ((rc = sotto_cstore_meta_get(c->st, M_IDPRIV, &priv, &pn, err)) != SOTTO_C_OK)
        goto out;
    if (pn != SOTTO_LINK_PRIV_BYTES) {
        rc = sotto_cfail(err, SOTTO_C_STORE, "store: bad identity key");
        goto out;
    }
    memcpy(m->identity_private, priv, SOTTO_LINK_PRIV_BYTES);
    memcpy(m->uuid, c->uuid, UUID_LEN + 1);
    snprintf(m->username, sizeof m->username, "%s", c->username);
    if ((rc = sotto_link_msg_encode(m, plain, &n, err)) != SOTTO_C_OK)
        goto out;
    sodium_memzero(m, sizeof *m);
    if (crypto_box_seal(sealed, plain, n, pk) != 0) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "sealing the link message failed");
        goto out;
    }
    sodium_memzero(plain, SOTTO_LINK_MSG_MAX);
    body = json_object();
    json_object_set_new(body, "message", sotto_cl_b64(sealed, n + crypto_box_SEALBYTES));
    char path[SOTTO_HTTP_PATH_MAX];
    snprintf(path, sizeof path, "/v1/provisioning/%s", addr);
    if ((rc = sotto_cl_call(c, "PUT", path, body, &status, &r, err)) != SOTTO_C_OK)
        goto out;
    if (status == 404)
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no device waits with this link code (codes last 10 minutes)");
    else if (status == 409)
        rc = sotto_cfail(err, SOTTO_C_CONFLICT, "this link code was already used");
    else if (status != 204 && status != 200)
        rc = sotto_cl_http_fail(status, r, "link", err);
out:
    json_decref(r);
    json_decref(body);
    sotto_cstore_free_blob(priv, pn);
    if (m != NULL)
        sodium_free(m);
    if (plain != NULL)
        sodium_free(plain);
    sodium_memzero(sealed, sizeof sealed);
    return rc;
}

/* ---- listing and removing ---- */

uint32_t sotto_client_device_id(const sotto_client *c)
{
    return c->device_id;
}

sotto_cstatus sotto_client_device_name(sotto_client *c, char out[SOTTO_DEVICE_NAME_MAX + 1], char *err)
{
    sotto_cstatus rc = sotto_cl_meta_str(c->st, M_DEVICE_NAME, out, SOTTO_DEVICE_NAME_MAX + 1, err);
    if (rc == SOTTO_C_NOT_FOUND) {
        out[0] = '\0';
        rc = SOTTO_C_OK;
    }
    return rc;
}

sotto_cstatus sotto_client_devices(sotto_client *c, sotto_device_info out[SOTTO_DEVICES_MAX], size_t *n,
                                   char *err)
{
    *n = 0;
    int status;
    json_t *r;
    sotto_cstatus rc = sotto_cl_call(c, "GET", "/v1/devices", NULL, &status, &r, err);
    if (rc != SOTTO_C_OK)
        return rc;
    json_t *arr = json_object_get(r, "devices");
    if (status != 200 || !json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > SOTTO_DEVICES_MAX) {
        rc = status == 200 ? sotto_cfail(err, SOTTO_C_SERVER, "devices: unexpected answer")
                           : sotto_cl_http_fail(status, r, "devices", err);
        json_decref(r);
        return rc;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *d = json_array_get(arr, i);
        json_t *cr = json_object_get(d, "created");
        if (sotto_cl_get_u32(d, "id", 1, 127, &out[i].id) != 0 || !json_is_integer(cr)) {
            json_decref(r);
            *n = 0;
            return sotto_cfail(err, SOTTO_C_SERVER, "devices: unexpected answer");
        }
        out[i].created = json_integer_value(cr);
        out[i].current = out[i].id == c->device_id;
        *n = i + 1;
    }
    json_decref(r);
    return SOTTO_C_OK;
}

sotto_cstatus sotto_client_unlink(sotto_client *c, uint32_t id, char *err)
{
    if (id < 1 || id > 127)
        return sotto_cfail(err, SOTTO_C_USAGE, "device id: 1 to 127");
    if (id == c->device_id)
        return sotto_cfail(err, SOTTO_C_USAGE, "this is device %u: a device cannot remove itself (unlink it from "
                                               "another device)", id);
    char path[64];
    snprintf(path, sizeof path, "/v1/devices/%u", id);
    int status;
    json_t *r;
    sotto_cstatus rc = sotto_cl_call(c, "DELETE", path, NULL, &status, &r, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (status == 404)
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no device %u on this account", id);
    else if (status == 403)
        rc = sotto_cfail(err, SOTTO_C_USAGE, "device %u: %s", id,
                         json_string_value(json_object_get(r, "error")) ? json_string_value(json_object_get(r, "error"))
                                                                        : "refused");
    else if (status != 204 && status != 200)
        rc = sotto_cl_http_fail(status, r, "unlink", err);
    json_decref(r);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_session_delete(c->st, c->uuid, id, err);
    return rc;
}
