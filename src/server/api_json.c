/* sottod: API body decoders (see api.h). */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api_devices.h"
#include "sottod_limits.h"

#define FAIL(msg)          \
    do {                   \
        *why = (msg);      \
        goto fail;         \
    } while (0)

static json_t *load_object(const uint8_t *body, size_t len)
{
    if (len == 0)
        return NULL;
    json_error_t e;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES,
                           &e);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The request body as a JSON object, or NULL with *why said. */
static json_t *load(const uint8_t *body, size_t len, const char **why)
{
    json_t *j = load_object(body, len);
    if (j == NULL)
        *why = "body is not a JSON object";
    return j;
}

/* Decodes base64 string v (libsodium variant) into exactly `want` bytes. */
static int b64_variant(json_t *v, uint8_t *out, size_t want, int variant)
{
    if (!json_is_string(v))
        return -1;
    size_t n = json_string_length(v);
    if (n == 0 || n > (want + 2) / 3 * 4)
        return -1;
    size_t got = 0;
    if (sodium_base642bin(out, want, json_string_value(v), n, NULL, &got, NULL, variant) != 0 ||
        got != want)
        return -1;
    return 0;
}

static int b64_exact(json_t *v, uint8_t *out, size_t want)
{
    return b64_variant(v, out, want, sodium_base64_VARIANT_ORIGINAL);
}

static int get_u32(json_t *o, const char *k, uint32_t lo, uint32_t hi, uint32_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    if (x < (json_int_t)lo || x > (json_int_t)hi)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

#define KEY_ID_MAX 0xFFFFFFu  /* libsignal prekey ids are 24-bit */

static int signed_key(json_t *o, sotto_store_signed_prekey *k)
{
    return json_is_object(o) && get_u32(o, "keyId", 0, KEY_ID_MAX, &k->id) == 0 &&
                   b64_exact(json_object_get(o, "publicKey"), k->key, sizeof k->key) == 0 &&
                   b64_exact(json_object_get(o, "signature"), k->signature,
                             sizeof k->signature) == 0
               ? 0
               : -1;
}

static int kem_key(json_t *o, sotto_store_kem_prekey *k)
{
    return json_is_object(o) && get_u32(o, "keyId", 0, KEY_ID_MAX, &k->id) == 0 &&
                   b64_exact(json_object_get(o, "publicKey"), k->key, sizeof k->key) == 0 &&
                   b64_exact(json_object_get(o, "signature"), k->signature,
                             sizeof k->signature) == 0
               ? 0
               : -1;
}

static int ec_key(json_t *o, sotto_store_ec_prekey *k)
{
    return json_is_object(o) && get_u32(o, "keyId", 0, KEY_ID_MAX, &k->id) == 0 &&
                   b64_exact(json_object_get(o, "publicKey"), k->key, sizeof k->key) == 0
               ? 0
               : -1;
}

/* The device part shared by POST /v1/accounts and POST /v1/devices: its
 * secret and registration id, then its signed and
 * last-resort Kyber prekeys. 0, or -1 with *why set. */
static int device_credentials(json_t *j, uint8_t secret[SOTTO_STORE_SECRET_MAX_BYTES],
                              size_t *secret_len, uint32_t *registration_id, const char **why)
{
    json_t *s = json_object_get(j, "secret");
    if (!json_is_string(s) || json_string_length(s) < SOTTO_STORE_SECRET_MIN_BYTES ||
        json_string_length(s) > SOTTO_STORE_SECRET_MAX_BYTES) {
        *why = "secret: 32 to 128 bytes";
        return -1;
    }
    *secret_len = json_string_length(s);
    memcpy(secret, json_string_value(s), *secret_len);
    if (get_u32(j, "registrationId", 1, SOTTO_STORE_MAX_REGISTRATION_ID, registration_id) != 0) {
        *why = "registrationId: 1 to 16383";
        return -1;
    }
    return 0;
}

static int device_keys(json_t *j, sotto_store_signed_prekey *spk, sotto_store_kem_prekey *lrk,
                       const char **why)
{
    if (signed_key(json_object_get(j, "signedPreKey"), spk) != 0) {
        *why = "signedPreKey: {keyId, publicKey, signature}";
        return -1;
    }
    if (kem_key(json_object_get(j, "pqLastResortPreKey"), lrk) != 0) {
        *why = "pqLastResortPreKey: {keyId, publicKey, signature}";
        return -1;
    }
    return 0;
}

int sotto_api_decode_register(const uint8_t *body, size_t len, sotto_api_register *out,
                              const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "";
    json_t *j = load(body, len, why);
    if (j == NULL)
        return -1;
    json_t *u = json_object_get(j, "username");
    if (!json_is_string(u) || json_string_length(u) < SOTTO_STORE_USERNAME_MIN ||
        json_string_length(u) > SOTTO_STORE_USERNAME_MAX ||
        strlen(json_string_value(u)) != json_string_length(u))
        FAIL("username: 3 to 32 characters");
    memcpy(out->username, json_string_value(u), json_string_length(u) + 1);
    if (device_credentials(j, out->secret, &out->secret_len, &out->registration_id, why) != 0)
        goto fail;
    if (b64_exact(json_object_get(j, "identityKey"), out->identity_key,
                  sizeof out->identity_key) != 0)
        FAIL("identityKey: base64 of 33 bytes");
    if (device_keys(j, &out->signed_prekey, &out->last_resort, why) != 0)
        goto fail;
    json_decref(j);
    return 0;
fail:
    json_decref(j);
    sodium_memzero(out, sizeof *out);
    return -1;
}

void sotto_api_keys_free(sotto_api_keys *k)
{
    free(k->ec);
    free(k->kem);
    memset(k, 0, sizeof *k);
}

int sotto_api_decode_keys(const uint8_t *body, size_t len, sotto_api_keys *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "";
    json_t *j = load(body, len, why);
    if (j == NULL)
        return -1;
    json_t *v;
    if ((v = json_object_get(j, "signedPreKey")) != NULL && !json_is_null(v)) {
        if (signed_key(v, &out->signed_prekey) != 0)
            FAIL("signedPreKey: {keyId, publicKey, signature}");
        out->has_signed = true;
    }
    if ((v = json_object_get(j, "pqLastResortPreKey")) != NULL && !json_is_null(v)) {
        if (kem_key(v, &out->last_resort) != 0)
            FAIL("pqLastResortPreKey: {keyId, publicKey, signature}");
        out->has_last_resort = true;
    }
    json_t *pk = json_object_get(j, "preKeys");
    json_t *pq = json_object_get(j, "pqPreKeys");
    if (pk != NULL && !json_is_array(pk))
        FAIL("preKeys: an array");
    if (pq != NULL && !json_is_array(pq))
        FAIL("pqPreKeys: an array");
    size_t nec = pk ? json_array_size(pk) : 0, nkem = pq ? json_array_size(pq) : 0;
    if (nec > SOTTO_STORE_MAX_KEYS_PER_UPLOAD || nkem > SOTTO_STORE_MAX_KEYS_PER_UPLOAD)
        FAIL("at most 100 keys of each kind per upload");
    if (nec > 0 && (out->ec = calloc(nec, sizeof *out->ec)) == NULL)
        FAIL("out of memory");
    if (nkem > 0 && (out->kem = calloc(nkem, sizeof *out->kem)) == NULL)
        FAIL("out of memory");
    for (size_t i = 0; i < nec; i++)
        if (ec_key(json_array_get(pk, i), &out->ec[i]) != 0)
            FAIL("preKeys[]: {keyId, publicKey}");
    for (size_t i = 0; i < nkem; i++)
        if (kem_key(json_array_get(pq, i), &out->kem[i]) != 0)
            FAIL("pqPreKeys[]: {keyId, publicKey, signature}");
    out->ec_count = nec;
    out->kem_count = nkem;
    if (!out->has_signed && !out->has_last_resort && nec == 0 && nkem == 0)
        FAIL("no keys");
    json_decref(j);
    return 0;
fail:
    json_decref(j);
    sotto_api_keys_free(out);
    return -1;
}

void sotto_api_submit_free(sotto_api_submit *m)
{
    free(m->bodies);
    memset(m, 0, sizeof *m);
}

/* The "messages" member of a submission (a PUT body or a WebSocket "send"). */
static int decode_messages(json_t *j, size_t max_envelope, sotto_api_submit *out, const char **why)
{
    json_t *msgs = json_object_get(j, "messages");
    size_t n = json_array_size(msgs);
    if (!json_is_array(msgs) || n == 0)
        FAIL("messages: a non-empty array");
    if (n > SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION)
        FAIL("messages: too many devices");
    /* First pass: sizes, checked before any allocation. */
    size_t b64_max = (max_envelope + 2) / 3 * 4, total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        json_t *c = json_object_get(m, "content");
        if (!json_is_object(m) || !json_is_string(c) || json_string_length(c) == 0)
            FAIL("messages[]: {destinationDeviceId, type, content}");
        if (json_string_length(c) > b64_max)
            FAIL("messages[].content: envelope too large");
        total += json_string_length(c) / 4 * 3 + 3;
    }
    out->bodies = malloc(total);
    if (out->bodies == NULL)
        FAIL("out of memory");
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        json_t *c = json_object_get(m, "content");
        sotto_store_outgoing *o = &out->outs[i];
        if (get_u32(m, "destinationDeviceId", 1, SOTTO_STORE_MAX_DEVICE_ID, &o->device_id) != 0)
            FAIL("messages[].destinationDeviceId: 1 to 127");
        if (get_u32(m, "type", 0, 0xFFFF, &o->type) != 0)
            FAIL("messages[].type: 0 to 65535");
        for (size_t k = 0; k < i; k++)
            if (out->outs[k].device_id == o->device_id)
                FAIL("messages[]: a device appears twice");
        size_t got = 0;
        if (sodium_base642bin(out->bodies + off, total - off, json_string_value(c),
                              json_string_length(c), NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 || got == 0)
            FAIL("messages[].content: base64");
        if (got > max_envelope)
            FAIL("messages[].content: envelope too large");
        o->body = out->bodies + off;
        o->body_len = got;
        off += got;
    }
    out->count = n;
    return 0;
fail:
    sotto_api_submit_free(out);
    return -1;
}

int sotto_api_decode_submit(const uint8_t *body, size_t len, size_t max_envelope,
                            sotto_api_submit *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "";
    json_t *j = load(body, len, why);
    if (j == NULL)
        return -1;
    int rc = decode_messages(j, max_envelope, out, why);
    json_decref(j);
    return rc;
}

int sotto_api_parse_id(uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES], const char *s, size_t n)
{
    char tmp[SOTTO_STORE_UUID_STRING_BYTES];
    if (n != SOTTO_STORE_UUID_STRING_BYTES - 1)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    return sotto_store_uuid_parse(id, tmp) == SOTTO_STORE_OK ? 0 : -1;
}

static int decode_ack(json_t *j, uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES],
                      size_t *count, const char **why)
{
    json_t *a = json_object_get(j, "ids");
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > SOTTO_API_MAX_ACK_IDS)
        FAIL("ids: 1 to 100 envelope ids");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v) ||
            sotto_api_parse_id(ids[i], json_string_value(v), json_string_length(v)) != 0)
            FAIL("ids[]: envelope id");
    }
    *count = json_array_size(a);
    return 0;
fail:
    *count = 0;
    return -1;
}

int sotto_api_decode_ws_msg(const uint8_t *body, size_t len, size_t max_envelope,
                            uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES],
                            sotto_api_ws_msg *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "";
    json_t *j = load_object(body, len);
    if (j == NULL) {
        *why = "message is not a JSON object";
        return -1;
    }
    json_t *t = json_object_get(j, "type");
    if (!json_is_string(t))
        FAIL("unknown message type");
    if (strcmp(json_string_value(t), "ack") == 0) {
        out->kind = SOTTO_API_WS_ACK;
        if (decode_ack(j, ids, &out->n_ids, why) != 0)
            goto fail;
    } else if (strcmp(json_string_value(t), "send") == 0) {
        out->kind = SOTTO_API_WS_SEND;
        if (get_u32(j, "id", 0, UINT32_MAX, &out->send_id) != 0)
            FAIL("send: id, an integer 0 to 4294967295");
        out->has_id = true;
        json_t *to = json_object_get(j, "to");
        if (!json_is_string(to) || json_string_length(to) == 0 ||
            json_string_length(to) > SOTTO_API_MAX_TO ||
            strlen(json_string_value(to)) != json_string_length(to))
            FAIL("send: to, a username or account uuid");
        memcpy(out->to, json_string_value(to), json_string_length(to));
        out->to[json_string_length(to)] = 0;
        out->to_len = json_string_length(to);
        if (decode_messages(j, max_envelope, &out->submit, why) != 0)
            goto fail;
    } else {
        FAIL("unknown message type");
    }
    json_decref(j);
    return 0;
fail:
    json_decref(j);
    out->n_ids = 0;
    sotto_api_submit_free(&out->submit);
    return -1;
}

int sotto_api_decode_ws(const uint8_t *body, size_t len,
                        uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES],
                        size_t *count, const char **why)
{
    sotto_api_ws_msg m;
    *count = 0;
    if (sotto_api_decode_ws_msg(body, len, SOTTOD_MAX_ENVELOPE, ids, &m, why) != 0)
        return -1;
    if (m.kind != SOTTO_API_WS_ACK) {
        sotto_api_submit_free(&m.submit);
        *why = "unknown message type";
        return -1;
    }
    *count = m.n_ids;
    return 0;
}

/* ---- linked devices (api_devices.c) ---- */

int sotto_api_decode_link_device(const uint8_t *body, size_t len, sotto_api_link_device *out,
                                 const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "";
    json_t *j = load(body, len, why);
    if (j == NULL)
        return -1;
    json_t *t = json_object_get(j, "token");
    if (!json_is_string(t) || json_string_length(t) != SOTTOD_LINK_TOKEN_CHARS ||
        b64_variant(t, out->token, sizeof out->token, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        FAIL("token: 43 characters of base64url");
    if (device_credentials(j, out->secret, &out->secret_len, &out->registration_id, why) != 0)
        goto fail;
    if (device_keys(j, &out->signed_prekey, &out->last_resort, why) != 0)
        goto fail;
    json_decref(j);
    return 0;
fail:
    json_decref(j);
    sodium_memzero(out, sizeof *out);
    return -1;
}

#define PROV_PUT_BODY_MAX (64u + SOTTOD_PROV_MAX_MESSAGE / 3u * 4u + 8u) /* {"message":"…"} */

int sotto_api_decode_prov_put(const uint8_t *body, size_t len,
                              uint8_t msg[SOTTOD_PROV_MAX_MESSAGE], size_t *msg_len,
                              const char **why)
{
    *msg_len = 0;
    *why = "";
    if (len > PROV_PUT_BODY_MAX) {
        *why = "message too large";
        return -1;
    }
    json_t *j = load(body, len, why);
    if (j == NULL)
        return -1;
    json_t *m = json_object_get(j, "message");
    size_t n = json_string_length(m);
    if (!json_is_string(m) || n == 0)
        FAIL("message: base64");
    if (n > (SOTTOD_PROV_MAX_MESSAGE + 3 + 2) / 3 * 4)
        FAIL("message too large");
    /* Decoded with room for one base64 quantum more, so that a message one
     * byte over the limit is told apart from bad base64. */
    uint8_t tmp[SOTTOD_PROV_MAX_MESSAGE + 3];
    size_t got = 0;
    if (sodium_base642bin(tmp, sizeof tmp, json_string_value(m), n, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || got == 0) {
        sodium_memzero(tmp, sizeof tmp);
        FAIL("message: base64");
    }
    if (got > SOTTOD_PROV_MAX_MESSAGE) {
        sodium_memzero(tmp, sizeof tmp);
        FAIL("message too large");
    }
    memcpy(msg, tmp, got);
    *msg_len = got;
    sodium_memzero(tmp, sizeof tmp);
    json_decref(j);
    return 0;
fail:
    json_decref(j);
    return -1;
}
