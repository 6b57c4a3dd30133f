/* sotto client: sending (see client.h for the durability rules). */
#define _GNU_SOURCE
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "content.h"
#include "sotto/keys.h"
#include "sotto/session.h"

/* A peer's identity key is trusted on first use; a different key later is
 * refused (SOTTO_C_UNTRUSTED) until the user deals with it. */
sotto_cstatus sotto_cl_check_identity(sotto_client *c, const char *uuid, const uint8_t key[SOTTO_EC_PUBLIC_BYTES],
                                    const char *who, char *err)
{
    char k[META_KEY_MAX];
    sotto_cstatus rc = sotto_cl_meta_key(k, M_IDENTITY, uuid, err);
    if (rc != SOTTO_C_OK)
        return rc;
    uint8_t *v;
    size_t n;
    rc = sotto_cstore_meta_get(c->st, k, &v, &n, err);
    if (rc == SOTTO_C_NOT_FOUND)
        return sotto_cstore_meta_set(c->st, k, key, SOTTO_EC_PUBLIC_BYTES, err);
    if (rc != SOTTO_C_OK)
        return rc;
    int same = n == SOTTO_EC_PUBLIC_BYTES && sodium_memcmp(v, key, n) == 0;
    sotto_cstore_free_blob(v, n);
    if (!same)
        return sotto_cfail(err, SOTTO_C_UNTRUSTED,
                           "the identity key of %s has changed; refusing (see: sotto safety %s)", who, who);
    return SOTTO_C_OK;
}

sotto_cstatus sotto_cl_note_new_identity(sotto_client *c, const char *uuid, const uint8_t key[SOTTO_EC_PUBLIC_BYTES],
                                         char *err)
{
    char k[META_KEY_MAX];
    sotto_cstatus rc = sotto_cl_meta_key(k, M_IDENTITY_NEW, uuid, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set(c->st, k, key, SOTTO_EC_PUBLIC_BYTES, err);
    return rc;
}

sotto_cstatus sotto_cl_lookup(sotto_client *c, const char *name, char uuid[UUID_LEN + 1], uint32_t *devs, size_t cap,
                              size_t *n, char *err)
{
    uuid[0] = '\0';
    if (n != NULL)
        *n = 0;
    char path[SOTTO_PEER_MAX + 32];
    snprintf(path, sizeof path, "/v1/accounts/%s", name);
    int status;
    json_t *r;
    sotto_cstatus rc = sotto_cl_call(c, "GET", path, NULL, &status, &r, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (status == 404) {
        json_decref(r);
        return sotto_cfail(err, SOTTO_C_NOT_FOUND, "no user named %s", name);
    }
    if (status != 200) {
        rc = sotto_cl_http_fail(status, r, "user lookup", err);
        json_decref(r);
        return rc;
    }
    const char *u = json_string_value(json_object_get(r, "uuid"));
    json_t *arr = json_object_get(r, "devices");
    size_t nd = json_array_size(arr);
    if (u == NULL || !sotto_cl_uuid_ok(u) || !json_is_array(arr) || nd == 0 || nd > SOTTO_PEER_DEVICES_MAX ||
        (devs != NULL && nd > cap)) {
        json_decref(r);
        return sotto_cfail(err, SOTTO_C_SERVER, "user lookup of %s: unexpected answer", name);
    }
    for (size_t i = 0; i < nd; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 127) {
            json_decref(r);
            return sotto_cfail(err, SOTTO_C_SERVER, "user lookup of %s: unexpected answer", name);
        }
        if (devs != NULL)
            devs[i] = (uint32_t)json_integer_value(v);
    }
    if (n != NULL)
        *n = devs != NULL ? nd : 0;
    memcpy(uuid, u, UUID_LEN + 1);
    json_decref(r);
    return SOTTO_C_OK;
}

static sotto_cstatus set_mapping(sotto_client *c, const char *peer, const char *uuid, char *err)
{
    char k[META_KEY_MAX];
    sotto_cstatus rc = sotto_cl_meta_key(k, M_UUID_OF, peer, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set(c->st, k, uuid, strlen(uuid), err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cl_meta_key(k, M_NAME_OF, uuid, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_set(c->st, k, peer, strlen(peer), err);
    return rc;
}

static int parse_bundle(json_t *d, const uint8_t idkey[SOTTO_EC_PUBLIC_BYTES], sotto_bundle *b)
{
    memset(b, 0, sizeof *b);
    json_t *spk = json_object_get(d, "signedPreKey"), *pk = json_object_get(d, "preKey");
    json_t *pq = json_object_get(d, "pqPreKey");
    memcpy(b->identity_key, idkey, SOTTO_EC_PUBLIC_BYTES);
    if (sotto_cl_get_u32(d, "deviceId", 1, 127, &b->device_id) != 0 ||
        sotto_cl_get_u32(d, "registrationId", 0, 0x3FFF, &b->registration_id) != 0 ||
        sotto_cl_get_u32(spk, "keyId", 0, SOTTO_PREKEY_ID_MAX, &b->signed_pre_key_id) != 0 ||
        sotto_cl_unb64(json_object_get(spk, "publicKey"), b->signed_pre_key, SOTTO_EC_PUBLIC_BYTES) != 0 ||
        sotto_cl_unb64(json_object_get(spk, "signature"), b->signed_pre_key_signature, SOTTO_SIGNATURE_BYTES) != 0 ||
        sotto_cl_get_u32(pq, "keyId", 0, SOTTO_PREKEY_ID_MAX, &b->kyber_pre_key_id) != 0 ||
        sotto_cl_unb64(json_object_get(pq, "publicKey"), b->kyber_pre_key, SOTTO_KYBER_PUBLIC_BYTES) != 0 ||
        sotto_cl_unb64(json_object_get(pq, "signature"), b->kyber_pre_key_signature, SOTTO_SIGNATURE_BYTES) != 0)
        return -1;
    if (pk != NULL && !json_is_null(pk)) {
        if (sotto_cl_get_u32(pk, "keyId", 0, SOTTO_PREKEY_ID_MAX, &b->pre_key_id) != 0 ||
            sotto_cl_unb64(json_object_get(pk, "publicKey"), b->pre_key, SOTTO_EC_PUBLIC_BYTES) != 0)
            return -1;
        b->has_pre_key = 1;
    }
    return 0;
}

static sotto_cstatus save_session(sotto_client *c, const char *uuid, uint32_t dev, const sotto_session *s,
                                  char *err)
{
    size_t n = 0;
    sotto_cstatus rc = sotto_cl_lib(sotto_session_save(s, NULL, 0, &n), err, "session");
    if (rc != SOTTO_C_OK)
        return rc;
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    rc = sotto_cl_lib(sotto_session_save(s, buf, n, &n), err, "session");
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_session_put(c->st, uuid, dev, buf, n, err);
    sodium_memzero(buf, n);
    free(buf);
    return rc;
}

sotto_cstatus sotto_cl_fetch_sessions(sotto_client *c, const char *who, const char *peer, uint32_t device,
                                      char uuid_out[UUID_LEN + 1], char *err)
{
    char path[SOTTO_PEER_MAX + 32];
    if (device == 0)
        snprintf(path, sizeof path, "/v1/keys/%s/*", who);
    else
        snprintf(path, sizeof path, "/v1/keys/%s/%u", who, device);
    int status;
    json_t *r;
    sotto_cstatus rc = sotto_cl_call(c, "GET", path, NULL, &status, &r, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (status == 404) {
        json_decref(r);
        return sotto_cfail(err, SOTTO_C_NOT_FOUND, "no user named %s%s", peer, device ? " with that device" : "");
    }
    if (status != 200) {
        rc = sotto_cl_http_fail(status, r, "prekey bundle", err);
        json_decref(r);
        return rc;
    }
    const char *uuid = json_string_value(json_object_get(r, "uuid"));
    json_t *devs = json_object_get(r, "devices");
    uint8_t idkey[SOTTO_EC_PUBLIC_BYTES];
    size_t n = json_array_size(devs);
    if (uuid == NULL || !sotto_cl_uuid_ok(uuid) ||
        sotto_cl_unb64(json_object_get(r, "identityKey"), idkey, sizeof idkey) != 0 || n == 0 ||
        n > SOTTO_PEER_DEVICES_MAX) {
        json_decref(r);
        return sotto_cfail(err, SOTTO_C_SERVER, "prekey bundle of %s: unexpected answer", peer);
    }
    /* Our own account: only when asked for by uuid (sent transcripts to our
     * other devices); its identity key must be ours. */
    int own = strcmp(uuid, c->uuid) == 0;
    if (own && strcmp(who, c->uuid) != 0) {
        json_decref(r);
        return sotto_cfail(err, SOTTO_C_USAGE, "%s is this account; sending to yourself is not supported", peer);
    }
    if (own) {
        uint8_t mine[SOTTO_EC_PUBLIC_BYTES];
        sotto_identity_public_key(c->id, mine);
        if (sodium_memcmp(mine, idkey, sizeof mine) != 0) {
            json_decref(r);
            return sotto_cfail(err, SOTTO_C_UNTRUSTED, "the server holds another identity key for this account");
        }
    }
    if (uuid_out != NULL)
        memcpy(uuid_out, uuid, UUID_LEN + 1);
    sotto_bundle *b = malloc(sizeof *b);
    if (b == NULL) {
        json_decref(r);
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    }
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        goto out;
    rc = own ? SOTTO_C_OK : sotto_cl_check_identity(c, uuid, idkey, peer, err);
    int changed = rc == SOTTO_C_UNTRUSTED;
    if (rc == SOTTO_C_OK && !own)
        rc = set_mapping(c, peer, uuid, err);
    for (size_t i = 0; i < n && rc == SOTTO_C_OK; i++) {
        if (parse_bundle(json_array_get(devs, i), idkey, b) != 0) {
            rc = sotto_cfail(err, SOTTO_C_SERVER, "prekey bundle of %s: malformed device", peer);
            break;
        }
        if (own && b->device_id == c->device_id) /* not with ourselves */
            continue;
        uint8_t *have;
        size_t hl;
        rc = sotto_cstore_session_get(c->st, uuid, b->device_id, &have, &hl, err);
        if (rc == SOTTO_C_OK) { /* keep the session we have with this device */
            sotto_cstore_free_blob(have, hl);
            continue;
        }
        if (rc != SOTTO_C_NOT_FOUND)
            break;
        sotto_session *s = NULL;
        rc = sotto_cl_lib(sotto_session_new(&s), err, "session");
        if (rc == SOTTO_C_OK) {
            sotto_err e = sotto_session_process_bundle(s, c->id, b);
            if (e == SOTTO_ERR_BAD_SIGNATURE || e == SOTTO_ERR_INVALID_KEY)
                rc = sotto_cfail(err, SOTTO_C_UNTRUSTED, "prekey bundle of %s device %u: %s", peer,
                                 b->device_id, sotto_strerror(e));
            else
                rc = sotto_cl_lib(e, err, "prekey bundle");
        }
        if (rc == SOTTO_C_OK)
            rc = save_session(c, uuid, b->device_id, s, err);
        sotto_session_free(s);
    }
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    if (changed) {
        /* Remembered for `sotto safety` and `sotto trust` (outside the rolled-back transaction). */
        char e2[SOTTO_CERR_LEN];
        if (sotto_cl_note_new_identity(c, uuid, idkey, e2) != SOTTO_C_OK)
            fprintf(stderr, "sotto: %s\n", e2);
    }
out:
    free(b);
    json_decref(r);
    return rc;
}

/* The uuid of peer, from the store or else the server's lookup; sessions
 * are started (bundle fetches) only with devices we hold none with. A
 * sottod without the lookup: all of peer's bundles, as before. */
static sotto_cstatus resolve_peer(sotto_client *c, const char *peer, char uuid[UUID_LEN + 1], char *err)
{
    char k[META_KEY_MAX];
    sotto_cstatus rc = sotto_cl_meta_key(k, M_UUID_OF, peer, err);
    if (rc != SOTTO_C_OK)
        return rc;
    rc = sotto_cl_meta_str(c->st, k, uuid, UUID_LEN + 1, err);
    if (rc != SOTTO_C_NOT_FOUND)
        return rc;
    uint32_t devs[SOTTO_PEER_DEVICES_MAX];
    size_t n;
    rc = sotto_cl_lookup(c, peer, uuid, devs, SOTTO_PEER_DEVICES_MAX, &n, err);
    if (rc == SOTTO_C_NOT_FOUND)
        return sotto_cl_fetch_sessions(c, peer, peer, 0, uuid, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (strcmp(uuid, c->uuid) == 0)
        return sotto_cfail(err, SOTTO_C_USAGE, "%s is this account; sending to yourself is not supported", peer);
    for (size_t i = 0; i < n && rc == SOTTO_C_OK; i++) {
        uint8_t *have;
        size_t hl;
        rc = sotto_cstore_session_get(c->st, uuid, devs[i], &have, &hl, err);
        if (rc == SOTTO_C_OK) {
            sotto_cstore_free_blob(have, hl);
            continue;
        }
        if (rc == SOTTO_C_NOT_FOUND) {
            char u2[UUID_LEN + 1];
            rc = sotto_cl_fetch_sessions(c, uuid, peer, devs[i], u2, err);
            if (rc == SOTTO_C_NOT_FOUND) /* the device went meanwhile: the submission's 409 sorts it out */
                rc = SOTTO_C_OK;
        }
    }
    if (rc == SOTTO_C_OK) /* every device had a session: the mapping is still to be kept */
        rc = set_mapping(c, peer, uuid, err);
    return rc;
}

sotto_cstatus sotto_client_queue(sotto_client *c, const char *peer, const uint8_t *text, size_t len,
                                 int64_t *id, char *err)
{
    *id = 0;
    char name[SOTTO_PEER_MAX + 1];
    sotto_cstatus rc = sotto_username_canonical(name, peer, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (strcmp(name, c->username) == 0)
        return sotto_cfail(err, SOTTO_C_USAGE, "sending to yourself is not supported");
    if (len > SOTTO_TEXT_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "message longer than %u bytes", SOTTO_TEXT_MAX);
    if (!sotto_text_ok(text, len))
        return sotto_cfail(err, SOTTO_C_USAGE, "message is not UTF-8 text");
    uint8_t uid[SOTTO_MSG_UID_BYTES];
    randombytes_buf(uid, sizeof uid);
    int dup;
    return sotto_cstore_msg_add(c->st, name, 1, SOTTO_MSG_PENDING, uid, sotto_cl_now_ms(), text, len, id, &dup,
                                err);
}

/* One encrypted copy for one device. */
typedef struct copy {
    uint32_t device;
    int type;
    uint8_t *ct;
    size_t ct_len;
} copy;

static void copies_free(copy *cp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cp[i].ct);
    memset(cp, 0, n * sizeof *cp);
}

/* Encrypts content for every device we hold a session with and commits the
 * advanced records before anything is sent. */
static sotto_cstatus encrypt_all(sotto_client *c, const char *uuid, const uint8_t *pt, size_t pt_len, copy *cp,
                                 size_t *ncp, char *err)
{
    uint32_t devs[SOTTO_PEER_DEVICES_MAX];
    size_t n;
    *ncp = 0;
    sotto_cstatus rc = sotto_cstore_session_devices(c->st, uuid, devs, SOTTO_PEER_DEVICES_MAX, &n, err);
    if (rc != SOTTO_C_OK || n == 0)
        return rc;
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        return rc;
    size_t bound = sotto_session_ciphertext_bound(pt_len);
    for (size_t i = 0; i < n && rc == SOTTO_C_OK; i++) {
        uint8_t *rec;
        size_t rl;
        sotto_session *s = NULL;
        if ((rc = sotto_cstore_session_get(c->st, uuid, devs[i], &rec, &rl, err)) != SOTTO_C_OK)
            break;
        rc = sotto_cl_lib(sotto_session_load(&s, rec, rl), err, "session record");
        sotto_cstore_free_blob(rec, rl);
        cp[i].device = devs[i];
        cp[i].ct = malloc(bound ? bound : 1);
        if (rc == SOTTO_C_OK && cp[i].ct == NULL)
            rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        *ncp = i + 1;
        if (rc == SOTTO_C_OK)
            rc = sotto_cl_lib(sotto_session_encrypt(s, c->id, pt, pt_len, cp[i].ct, bound, &cp[i].ct_len,
                                                    &cp[i].type), err, "encrypt");
        if (rc == SOTTO_C_OK)
            rc = save_session(c, uuid, devs[i], s, err);
        sotto_session_free(s);
    }
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    if (rc != SOTTO_C_OK) {
        copies_free(cp, *ncp);
        *ncp = 0;
    }
    return rc;
}

static int id_in(json_t *arr, uint32_t *out, size_t cap, size_t *n)
{
    *n = 0;
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > cap)
        return -1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 127)
            return -1;
        out[(*n)++] = (uint32_t)json_integer_value(v);
    }
    return 0;
}

/* Our other devices, as the server has them, when we hold no session with
 * any: sessions are started with each (GET /v1/devices, then their bundles).
 * Asked at most every SOTTO_OWN_DEVICES_RECHECK_MS while there are none
 * (one request per send would be wasted on a one-device account); with a
 * session held, the submission's 409 tells of added and removed devices. */
static sotto_cstatus own_sessions(sotto_client *c, int *any, char *err)
{
    *any = 0;
    int64_t now = sotto_cl_now_ms();
    if (c->own_checked_ms != 0 && now - c->own_checked_ms < SOTTO_OWN_DEVICES_RECHECK_MS)
        return SOTTO_C_OK;
    int status;
    json_t *r;
    sotto_cstatus rc = sotto_cl_call(c, "GET", "/v1/devices", NULL, &status, &r, err);
    if (rc != SOTTO_C_OK)
        return rc;
    json_t *arr = json_object_get(r, "devices");
    if (status == 404) { /* a sottod without linked devices */
        json_decref(r);
        c->own_checked_ms = now;
        return SOTTO_C_OK;
    }
    if (status != 200 || !json_is_array(arr) || json_array_size(arr) > SOTTO_PEER_DEVICES_MAX) {
        rc = status == 200 ? sotto_cfail(err, SOTTO_C_SERVER, "devices: unexpected answer")
                           : sotto_cl_http_fail(status, r, "devices", err);
        json_decref(r);
        return rc;
    }
    for (size_t i = 0; i < json_array_size(arr) && rc == SOTTO_C_OK; i++) {
        uint32_t id;
        if (sotto_cl_get_u32(json_array_get(arr, i), "id", 1, 127, &id) != 0) {
            rc = sotto_cfail(err, SOTTO_C_SERVER, "devices: unexpected answer");
            break;
        }
        if (id == c->device_id)
            continue;
        char u2[UUID_LEN + 1];
        rc = sotto_cl_fetch_sessions(c, c->uuid, c->username, id, u2, err);
        if (rc == SOTTO_C_NOT_FOUND) /* gone meanwhile */
            rc = SOTTO_C_OK;
        else if (rc == SOTTO_C_OK)
            *any = 1;
    }
    json_decref(r);
    if (rc == SOTTO_C_OK && !*any)
        c->own_checked_ms = now;
    return rc;
}

/* Encrypts pt for every device of uuid we hold a session with and submits
 * it, reconciling the device set on 409 (sessions with devices that are gone
 * dropped, sessions with new ones started) and trying again. *status gets
 * the final HTTP status and *out its body (the caller frees it); *status 0
 * when own and we have no other device. */
static sotto_cstatus submit_all(sotto_client *c, const char *uuid, const char *peer, int own, const uint8_t *pt,
                                size_t pt_len, int *status, json_t **out, char *err)
{
    *status = 0;
    *out = NULL;
    sotto_cstatus rc;
    for (int attempt = 0; attempt < SOTTO_SEND_ATTEMPTS; attempt++) {
        copy cp[SOTTO_PEER_DEVICES_MAX];
        size_t ncp = 0;
        memset(cp, 0, sizeof cp);
        if ((rc = encrypt_all(c, uuid, pt, pt_len, cp, &ncp, err)) != SOTTO_C_OK)
            return rc;
        if (ncp == 0) {
            /* No session left (all devices dropped): start over from bundles. */
            if (own) {
                int any;
                if ((rc = own_sessions(c, &any, err)) != SOTTO_C_OK || !any)
                    return rc;
            } else {
                char u2[UUID_LEN + 1];
                if ((rc = sotto_cl_fetch_sessions(c, peer, peer, 0, u2, err)) != SOTTO_C_OK)
                    return rc;
            }
            continue;
        }
        json_t *body = json_object(), *arr = json_array();
        for (size_t i = 0; i < ncp; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "destinationDeviceId", json_integer(cp[i].device));
            json_object_set_new(o, "type", json_integer(cp[i].type));
            json_object_set_new(o, "content", sotto_cl_b64(cp[i].ct, cp[i].ct_len));
            json_array_append_new(arr, o);
        }
        copies_free(cp, ncp);
        json_object_set_new(body, "messages", arr);
        char path[UUID_LEN + 32];
        snprintf(path, sizeof path, "/v1/messages/%s", uuid);
        json_t *r;
        rc = sotto_cl_call(c, "PUT", path, body, status, &r, err);
        json_decref(body);
        if (rc != SOTTO_C_OK)
            return rc;
        if (*status != 409) {
            *out = r;
            return SOTTO_C_OK;
        }
        /* 409: the device set changed. Drop sessions with devices that are
         * gone, start sessions with new ones, and try again. */
        uint32_t missing[SOTTO_PEER_DEVICES_MAX], extra[SOTTO_PEER_DEVICES_MAX];
        size_t nm, ne;
        if (id_in(json_object_get(r, "missingDevices"), missing, SOTTO_PEER_DEVICES_MAX, &nm) != 0 ||
            id_in(json_object_get(r, "extraDevices"), extra, SOTTO_PEER_DEVICES_MAX, &ne) != 0 || nm + ne == 0) {
            json_decref(r);
            return sotto_cfail(err, SOTTO_C_SERVER, "send: unexpected 409 answer");
        }
        json_decref(r);
        for (size_t i = 0; i < ne && rc == SOTTO_C_OK; i++)
            rc = sotto_cstore_session_delete(c->st, uuid, extra[i], err);
        for (size_t i = 0; i < nm && rc == SOTTO_C_OK; i++) {
            char u2[UUID_LEN + 1];
            rc = sotto_cl_fetch_sessions(c, uuid, peer, missing[i], u2, err);
            if (rc == SOTTO_C_NOT_FOUND && own) /* removed meanwhile: the next 409 says so */
                rc = SOTTO_C_OK;
        }
        if (rc != SOTTO_C_OK)
            return rc;
    }
    return sotto_cfail(err, SOTTO_C_SERVER, "send to %s: the device set kept changing", peer);
}

/* The sent transcript of m to our other devices (client.h). A refusal is
 * reported and passed over (the message itself went out); a network or
 * server failure is returned, so that m stays pending and both go again
 * (each is stored once at the other end: same uid). */
static sotto_cstatus sync_own(sotto_client *c, const sotto_cmsg *m, char *err)
{
    static uint8_t pt[SOTTO_TRANSCRIPT_MAX];
    size_t pt_len;
    sotto_cstatus rc = sotto_transcript_encode(pt, &pt_len, m->uid, m->ts, c->username, m->peer, m->body,
                                               m->body_len, err);
    int status = 0;
    json_t *r = NULL;
    if (rc == SOTTO_C_OK)
        rc = submit_all(c, c->uuid, c->username, 1, pt, pt_len, &status, &r, err);
    sodium_memzero(pt, sizeof pt);
    if (rc != SOTTO_C_OK && rc != SOTTO_C_NETWORK && rc != SOTTO_C_SERVER && rc != SOTTO_C_STORE &&
        rc != SOTTO_C_FAILURE) {
        /* about our own devices only (e.g. an identity key that is not ours) */
        fprintf(stderr, "sotto: sent transcript to this account's other devices: %s\n", err);
        rc = SOTTO_C_OK;
    }
    if (rc == SOTTO_C_OK && status != 0 && status != 200 && status != 204) {
        rc = sotto_cl_http_fail(status, r, "sent transcript to this account's other devices", err);
        if (status >= 400 && status < 500 && status != 408 && status != 429) {
            fprintf(stderr, "sotto: %s\n", err);
            rc = SOTTO_C_OK;
        }
    }
    json_decref(r);
    return rc;
}

/* Sends one stored message to every device of its recipient, then its
 * transcript to our other devices. */
static sotto_cstatus deliver(sotto_client *c, const sotto_cmsg *m, char *err)
{
    static uint8_t pt[SOTTO_CONTENT_MAX];
    size_t pt_len;
    sotto_cstatus rc = sotto_content_encode(pt, &pt_len, m->uid, m->ts, c->username, m->body, m->body_len, err);
    if (rc != SOTTO_C_OK)
        return rc;
    char uuid[UUID_LEN + 1], k[META_KEY_MAX];
    int status;
    json_t *r = NULL;
    if ((rc = sotto_cl_meta_key(k, M_UUID_OF, m->peer, err)) != SOTTO_C_OK)
        goto out;
    if ((rc = resolve_peer(c, m->peer, uuid, err)) != SOTTO_C_OK)
        goto out;
    if ((rc = submit_all(c, uuid, m->peer, 0, pt, pt_len, &status, &r, err)) != SOTTO_C_OK)
        goto out;
    if (status == 200 || status == 204) {
        if ((rc = sync_own(c, m, err)) == SOTTO_C_OK)
            rc = sotto_cstore_msg_set_state(c->st, m->id, SOTTO_MSG_SENT, err);
        goto out;
    }
    if (status == 404) {
        /* Gone. Forget the uuid, so that a new account under this name
         * is looked up afresh by the next message. */
        sotto_cstore_msg_set_state(c->st, m->id, SOTTO_MSG_FAILED, NULL);
        sotto_cstore_meta_delete(c->st, k, NULL);
        rc = sotto_cfail(err, SOTTO_C_NOT_FOUND, "no user named %s", m->peer);
        goto out;
    }
    if (status == 400 || status == 413 || status == 422) {
        /* This message can never be accepted: fail it, do not block the queue. */
        sotto_cstore_msg_set_state(c->st, m->id, SOTTO_MSG_FAILED, NULL);
        (void)sotto_cl_http_fail(status, r, "send", err);
        rc = SOTTO_C_USAGE;
        goto out;
    }
    rc = sotto_cl_http_fail(status, r, "send", err);
out:
    json_decref(r);
    sodium_memzero(pt, sizeof pt);
    return rc;
}

typedef struct flush_ctx {
    sotto_client *c;
    int64_t *ids;
    size_t n, cap;
} flush_ctx;

static int collect(void *ctx, const sotto_cmsg *m)
{
    flush_ctx *f = ctx;
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 64;
        int64_t *ni = realloc(f->ids, nc * sizeof *ni);
        if (ni == NULL)
            return SOTTO_C_FAILURE;
        f->ids = ni;
        f->cap = nc;
    }
    f->ids[f->n++] = m->id;
    return 0;
}

sotto_cstatus sotto_client_flush(sotto_client *c, char *err)
{
    flush_ctx f = {.c = c};
    sotto_cstatus rc = sotto_cstore_msg_each(c->st, NULL, 1, SOTTO_MSG_PENDING, collect, &f, err);
    sotto_cstatus first_fail = SOTTO_C_OK;
    for (size_t i = 0; i < f.n && rc == SOTTO_C_OK; i++) {
        sotto_cmsg m;
        char peer[SOTTO_PEER_MAX + 1];
        uint8_t *body;
        rc = sotto_cstore_msg_get(c->st, f.ids[i], &m, peer, &body, err);
        if (rc != SOTTO_C_OK)
            break;
        if (m.state != SOTTO_MSG_PENDING) {
            sotto_cstore_free_blob(body, m.body_len);
            continue;
        }
        sotto_cstatus r = deliver(c, &m, err);
        sotto_cstore_free_blob(body, m.body_len);
        if (r == SOTTO_C_NOT_FOUND || r == SOTTO_C_UNTRUSTED || r == SOTTO_C_USAGE) {
            /* About this recipient only: say so, go on with the others. */
            fprintf(stderr, "sotto: %s\n", err);
            sotto_cstore_msg_set_state(c->st, m.id, SOTTO_MSG_FAILED, NULL);
            if (first_fail == SOTTO_C_OK)
                first_fail = r;
            continue;
        }
        rc = r;
    }
    free(f.ids);
    if (rc == SOTTO_C_OK && first_fail != SOTTO_C_OK)
        return sotto_cfail(err, first_fail, "some messages could not be sent");
    return rc;
}

int sotto_client_msg_state(sotto_client *c, int64_t id)
{
    sotto_cmsg m;
    char peer[SOTTO_PEER_MAX + 1];
    uint8_t *body;
    if (sotto_cstore_msg_get(c->st, id, &m, peer, &body, NULL) != SOTTO_C_OK)
        return -1;
    sotto_cstore_free_blob(body, m.body_len);
    return m.state;
}
