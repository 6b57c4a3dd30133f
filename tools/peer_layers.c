/* sotto-peer: the message-layer commands (fingerprint, group_*, certificate,
 * seal, unseal, fanout, fingerprint_compare); docs/PEER-LAYERS.md. */
#define _POSIX_C_SOURCE 200809L
#include "peer.h"

/* fingerprint (docs/peer-protocol.md): our identity against remoteKey. */
#define PEER_MAX_FINGERPRINT_ID SOTTO_FINGERPRINT_ID_MAX_BYTES
bool cmd_fingerprint(peer_state *st, json_t *req, reply *r)
{
    if (!need_init(st, r))
        return false;
    uint8_t key[SOTTO_EC_PUBLIC_BYTES], *lid = NULL, *rid = NULL;
    size_t llen = 0, rlen = 0;
    uint32_t iterations, version;
    bool ok = get_b64_fixed(r, req, "remoteKey", key, sizeof key) &&
              get_u32(r, req, "iterations", SOTTO_FINGERPRINT_ITERATIONS_MIN,
                      SOTTO_FINGERPRINT_ITERATIONS_MAX, false, SOTTO_FINGERPRINT_ITERATIONS,
                      &iterations) &&
              get_u32(r, req, "version", 0, UINT32_MAX, false, SOTTO_FINGERPRINT_VERSION,
                      &version) &&
              get_b64(r, req, "localId", PEER_MAX_FINGERPRINT_ID, &lid, &llen) &&
              get_b64(r, req, "remoteId", PEER_MAX_FINGERPRINT_ID, &rid, &rlen);
    sotto_fingerprint fp;
    if (ok) {
        sotto_err e = sotto_fingerprint_create(&fp, version, iterations, lid, llen,
                                               st->identity_pub, rid, rlen, key);
        ok = e == SOTTO_OK ? true : fail_lib(r, "fingerprint", e);
    }
    free(lid);
    free(rid);
    if (!ok)
        return false;
    json_t *d = json_string(fp.displayable);
    if (!d || json_object_set_new(r->obj, "displayable", d) != 0)
        return fail(r, "out of memory", NULL);
    return set_b64(r, "scannable", fp.scannable, fp.scannable_len);
}

/* ---------------------------------------------------------------- groups (sender keys) */

#define PEER_MAX_GROUP_RECORDS PEER_MAX_PEERS
static bool get_dist(reply *r, json_t *req, uint8_t out[SOTTO_DISTRIBUTION_ID_BYTES])
{
    json_t *v = json_object_get(req, "distributionId");
    if (!json_is_string(v) || !parse_uuid(json_string_value(v), json_string_length(v), out))
        return fail(r, "field \"distributionId\" must be a UUID string", NULL);
    return true;
}

/* The record for (sender, device, distribution id); sender NULL is us. */
static group_entry *find_group(peer_state *st, const char *name, uint32_t device,
                               const uint8_t dist[SOTTO_DISTRIBUTION_ID_BYTES])
{
    for (size_t i = 0; i < st->n_groups; i++) {
        group_entry *g = &st->groups[i];
        if (memcmp(g->dist, dist, SOTTO_DISTRIBUTION_ID_BYTES) == 0 &&
            ((name == NULL && g->name == NULL) ||
             (name && g->name && g->device == device && strcmp(g->name, name) == 0)))
            return g;
    }
    return NULL;
}

/* Adds rec under (name, device, dist); on failure rec stays the caller's. */
static bool add_group(peer_state *st, reply *r, const char *name, uint32_t device,
                      const uint8_t dist[SOTTO_DISTRIBUTION_ID_BYTES], sotto_sender_key_record *rec)
{
    if (!reserve((void **)&st->groups, &st->cap_groups, st->n_groups, sizeof *st->groups,
                 PEER_MAX_GROUP_RECORDS))
        return fail(r, "too many sender-key records held", NULL);
    char *copy = NULL;
    if (name && !(copy = strdup(name)))
        return fail(r, "out of memory", NULL);
    group_entry *g = &st->groups[st->n_groups++];
    g->name = copy;
    g->device = device;
    memcpy(g->dist, dist, SOTTO_DISTRIBUTION_ID_BYTES);
    g->rec = rec;
    return true;
}

/* group_create {distributionId, rotate?}: our distribution message; "rotate"
 * (driver extra) starts a new chain. */
bool cmd_group_create(peer_state *st, json_t *req, reply *r)
{
    uint8_t dist[SOTTO_DISTRIBUTION_ID_BYTES], skdm[SOTTO_GROUP_SKDM_MAX_BYTES];
    size_t n = 0;
    if (!need_init(st, r) || !get_dist(r, req, dist))
        return false;
    group_entry *g = find_group(st, NULL, 0, dist);
    if (g && !get_bool(req, "rotate")) {
        sotto_err e = sotto_group_create_distribution(g->rec, dist, skdm, sizeof skdm, &n);
        return e == SOTTO_OK ? set_b64(r, "skdm", skdm, n) : fail_lib(r, "group_create", e);
    }
    sotto_sender_key_record *rec = NULL;
    sotto_err e = sotto_sender_key_record_new(&rec);
    if (e == SOTTO_OK)
        e = sotto_group_create_distribution(rec, dist, skdm, sizeof skdm, &n);
    if (e != SOTTO_OK) {
        sotto_sender_key_record_free(rec);
        return fail_lib(r, "group_create", e);
    }
    if (!set_b64(r, "skdm", skdm, n) || (!g && !add_group(st, r, NULL, 0, dist, rec))) {
        sotto_sender_key_record_free(rec);
        return false;
    }
    if (g) {
        sotto_sender_key_record_free(g->rec);
        g->rec = rec;
    }
    return true;
}

bool cmd_group_process(peer_state *st, json_t *req, reply *r)
{
    const char *name;
    uint32_t device;
    uint8_t *skdm, dist[SOTTO_DISTRIBUTION_ID_BYTES];
    size_t len;
    if (!need_init(st, r) || !get_addr(r, req, &name, &device) ||
        !get_b64(r, req, "skdm", PEER_MAX_CIPHERTEXT, &skdm, &len))
        return false;
    sotto_err e = sotto_group_distribution_message_id(skdm, len, dist);
    group_entry *g = e == SOTTO_OK ? find_group(st, name, device, dist) : NULL;
    sotto_sender_key_record *fresh = NULL;
    if (e == SOTTO_OK && !g)
        e = sotto_sender_key_record_new(&fresh);
    if (e == SOTTO_OK)
        e = sotto_group_process_distribution(g ? g->rec : fresh, skdm, len);
    free(skdm);
    if (e != SOTTO_OK) {
        sotto_sender_key_record_free(fresh);
        return fail_lib(r, "group_process", e);
    }
    if (fresh && !add_group(st, r, name, device, dist, fresh)) {
        sotto_sender_key_record_free(fresh);
        return false;
    }
    return true;
}

bool cmd_group_encrypt(peer_state *st, json_t *req, reply *r)
{
    uint8_t dist[SOTTO_DISTRIBUTION_ID_BYTES], *pt;
    size_t len;
    if (!need_init(st, r) || !get_dist(r, req, dist) ||
        !get_b64(r, req, "plaintext", SOTTO_GROUP_MAX_PLAINTEXT_BYTES, &pt, &len))
        return false;
    group_entry *g = find_group(st, NULL, 0, dist);
    size_t cap = sotto_group_ciphertext_bound(len), n = 0;
    uint8_t *out = g ? malloc(cap) : NULL;
    sotto_err e = !g ? SOTTO_ERR_NO_SESSION : !out ? SOTTO_ERR_NO_MEMORY
                : sotto_group_encrypt(g->rec, dist, pt, len, out, cap, &n);
    free(pt);
    bool ok = e == SOTTO_OK ? set_b64(r, "ciphertext", out, n)
                            : fail_lib(r, g ? "group_encrypt" : "group_encrypt (send group_create first)", e);
    free(out);
    return ok;
}

bool cmd_group_decrypt(peer_state *st, json_t *req, reply *r)
{
    const char *name;
    uint32_t device;
    uint8_t *ct, dist[SOTTO_DISTRIBUTION_ID_BYTES];
    size_t len;
    if (!need_init(st, r) || !get_addr(r, req, &name, &device) ||
        !get_b64(r, req, "ciphertext", PEER_MAX_CIPHERTEXT, &ct, &len))
        return false;
    sotto_err e = sotto_group_message_id(ct, len, dist);
    group_entry *g = e == SOTTO_OK ? find_group(st, name, device, dist) : NULL;
    uint8_t *pt = g ? malloc(len ? len : 1) : NULL;
    size_t n = 0;
    if (e == SOTTO_OK)
        e = !g ? SOTTO_ERR_NO_SESSION : !pt ? SOTTO_ERR_NO_MEMORY
            : sotto_group_decrypt(g->rec, ct, len, pt, len, &n);
    free(ct);
    bool ok = e == SOTTO_OK ? set_b64(r, "plaintext", pt, n) : fail_lib(r, "group_decrypt", e);
    if (pt) {
        sodium_memzero(pt, len);
        free(pt);
    }
    return ok;
}

/* ---------------------------------------------------------------- sealed sender (docs/PEER-LAYERS.md) */

#define PEER_MAX_SEALED        (SOTTO_SEALED_MAX_MESSAGE_BYTES + SOTTO_SEALED_V2_MAX_RECIPIENTS * 256)
#define PEER_MAX_TIMESTAMP_MS  9007199254740991LL /* 2^53 - 1: exact in JSON */
#define PEER_SERVICE_ID_STRING 41                 /* "PNI:" + 36 + NUL */

static bool get_ms(reply *r, json_t *req, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(req, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > PEER_MAX_TIMESTAMP_MS)
        return fail(r, "field \"%s\" must be a non-negative integer (ms)", key);
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool get_opt_string(reply *r, json_t *req, const char *key, const char **out)
{
    json_t *v = json_object_get(req, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > SOTTO_CERT_MAX_STRING)
        return fail(r, "field \"%s\" must be a short non-empty string", key);
    *out = json_string_value(v);
    return true;
}

static void service_id_string(char out[PEER_SERVICE_ID_STRING], const uint8_t sid[SOTTO_SERVICE_ID_BYTES])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    if (sid[0] == 1) {
        memcpy(out, PNI_PREFIX, strlen(PNI_PREFIX));
        k = strlen(PNI_PREFIX);
    }
    for (int i = 0; i < SOTTO_DISTRIBUTION_ID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[sid[1 + i] >> 4];
        out[k++] = hex[sid[1 + i] & 15];
    }
    out[k] = 0;
}

/* certificate (driver extra): a server and a sender certificate. */
bool cmd_certificate(peer_state *st, json_t *req, reply *r)
{
    if (!need_init(st, r))
        return false;
    uint8_t root[SOTTO_EC_PRIVATE_BYTES], server[SOTTO_EC_PRIVATE_BYTES], server_pub[SOTTO_EC_PUBLIC_BYTES];
    uint8_t root_pub[SOTTO_EC_PUBLIC_BYTES], key[SOTTO_EC_PUBLIC_BYTES];
    uint8_t server_cert[512], sender_cert[SOTTO_CERT_MAX_BYTES];
    size_t server_len = 0, sender_len = 0;
    uint32_t key_id, device;
    uint64_t expires;
    const char *uuid = NULL, *e164 = NULL;
    bool ok = get_b64_fixed(r, req, "trustRootPrivate", root, sizeof root) &&
              get_b64_fixed(r, req, "serverPrivate", server, sizeof server) &&
              get_u32(r, req, "serverKeyId", 0, UINT32_MAX, true, 0, &key_id) &&
              get_u32(r, req, "senderDevice", 1, PEER_MAX_DEVICE_ID, true, 0, &device) &&
              get_ms(r, req, "expires", &expires) && get_name(r, req, "senderUuid", &uuid) &&
              get_opt_string(r, req, "senderE164", &e164);
    if (ok) {
        if (json_object_get(req, "senderKey"))
            ok = get_b64_fixed(r, req, "senderKey", key, sizeof key);
        else
            memcpy(key, st->identity_pub, sizeof key);
    }
    sotto_err e = SOTTO_OK;
    if (ok) {
        e = sotto_ec_public_from_private(server_pub, server);
        if (e == SOTTO_OK)
            e = sotto_ec_public_from_private(root_pub, root);
        if (e == SOTTO_OK)
            e = sotto_server_certificate_create(server_cert, sizeof server_cert, &server_len, key_id,
                                                server_pub, root);
        /* "signerPrivate" (optional): sign the sender certificate with another
         * key than the embedded server certificate's, to make a forged one */
        uint8_t signer[SOTTO_EC_PRIVATE_BYTES];
        memcpy(signer, server, sizeof signer);
        if (e == SOTTO_OK && json_object_get(req, "signerPrivate") &&
            !get_b64_fixed(r, req, "signerPrivate", signer, sizeof signer))
            ok = false;
        if (ok && e == SOTTO_OK)
            e = sotto_sender_certificate_create(sender_cert, sizeof sender_cert, &sender_len, uuid, e164,
                                                device, key, expires, server_cert, server_len, signer);
        sodium_memzero(signer, sizeof signer);
        if (ok && e != SOTTO_OK)
            ok = fail_lib(r, "certificate", e);
    }
    sodium_memzero(root, sizeof root);
    sodium_memzero(server, sizeof server);
    return ok && set_b64(r, "senderCert", sender_cert, sender_len) &&
           set_b64(r, "serverCert", server_cert, server_len) && set_b64(r, "trustRoot", root_pub, sizeof root_pub);
}

static bool get_recipients(reply *r, json_t *req, sotto_sealed_recipient **out, size_t *n)
{
    json_t *a = json_object_get(req, "recipients");
    *out = NULL;
    *n = 0;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > SOTTO_SEALED_V2_MAX_RECIPIENTS)
        return fail(r, "field \"recipients\" must be a non-empty array", NULL);
    sotto_sealed_recipient *rc = calloc(json_array_size(a), sizeof *rc);
    if (!rc)
        return fail(r, "out of memory", NULL);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i);
        const char *sid;
        if (!json_is_object(x) || !get_name(r, x, "serviceId", &sid) || !parse_service_id(sid, rc[i].service_id) ||
            !get_u32(r, x, "device", 1, PEER_MAX_DEVICE_ID, true, 0, &rc[i].device_id) ||
            !get_u32(r, x, "registrationId", 0, 0x3FFF, true, 0, &rc[i].registration_id) ||
            !get_b64_fixed(r, x, "identityKey", rc[i].identity_key, SOTTO_EC_PUBLIC_BYTES)) {
            free(rc);
            return r->err[0] ? false : fail(r, "recipient %s: serviceId must be a UUID or PNI:UUID", "");
        }
    }
    *out = rc;
    *n = json_array_size(a);
    return true;
}

/* seal {version, senderCert, msgType, content, contentHint?, groupId?,
 * recipientKey (v1) | recipients (v2)} -> sealed */
bool cmd_seal(peer_state *st, json_t *req, reply *r)
{
    if (!need_init(st, r))
        return false;
    uint32_t version = 0, type = 0, hint = 0;
    uint8_t *cert = NULL, *content = NULL, *gid = NULL, *out = NULL;
    size_t cert_len = 0, content_len = 0, gid_len = 0, n = 0, n_rcpt = 0;
    sotto_sealed_recipient *rcpt = NULL;
    uint8_t rkey[SOTTO_EC_PUBLIC_BYTES];
    bool ok = get_u32(r, req, "version", 1, 2, true, 0, &version) &&
              get_u32(r, req, "msgType", 2, 8, true, 0, &type) &&
              get_u32(r, req, "contentHint", 0, UINT32_MAX, false, 0, &hint) &&
              get_b64(r, req, "senderCert", SOTTO_CERT_MAX_BYTES, &cert, &cert_len) &&
              get_b64(r, req, "content", SOTTO_SEALED_MAX_CONTENT_BYTES, &content, &content_len) &&
              (!json_object_get(req, "groupId") ||
               get_b64(r, req, "groupId", SOTTO_GROUP_ID_MAX_BYTES, &gid, &gid_len)) &&
              (version == 1 ? get_b64_fixed(r, req, "recipientKey", rkey, sizeof rkey)
                            : get_recipients(r, req, &rcpt, &n_rcpt));
    sotto_sealed_content c = { (int)type, cert, cert_len, content, content_len, hint, gid, gid_len };
    if (ok) {
        size_t cap = version == 1 ? sotto_sealed_v1_bound(&c) : sotto_sealed_v2_bound(&c, n_rcpt);
        sotto_err e = cap == 0 ? SOTTO_ERR_INVALID_ARGUMENT : !(out = malloc(cap)) ? SOTTO_ERR_NO_MEMORY
                    : version == 1 ? sotto_sealed_v1_seal(st->id, rkey, &c, out, cap, &n)
                                   : sotto_sealed_v2_seal(st->id, rcpt, n_rcpt, &c, out, cap, &n);
        ok = e == SOTTO_OK ? set_b64(r, "sealed", out, n) : fail_lib(r, "seal", e);
    }
    free(cert);
    free(content);
    free(gid);
    free(rcpt);
    free(out);
    return ok;
}

/* fanout (driver extra) {sealed}: the server's per-recipient copies. */
bool cmd_fanout(peer_state *st, json_t *req, reply *r)
{
    (void)st;
    uint8_t *sent, *one = NULL;
    size_t len, n = 0, shared = 0;
    if (!get_b64(r, req, "sealed", PEER_MAX_SEALED, &sent, &len))
        return false;
    sotto_sealed_v2_entry *ent = NULL;
    json_t *arr = json_array();
    sotto_err e = sotto_sealed_v2_parse(sent, len, NULL, 0, &n, &shared);
    if (e == SOTTO_OK && (!(ent = calloc(n ? n : 1, sizeof *ent)) || !arr ||
                          !(one = malloc(sotto_sealed_v2_received_len(len, shared)))))
        e = SOTTO_ERR_NO_MEMORY;
    if (e == SOTTO_OK)
        e = sotto_sealed_v2_parse(sent, len, ent, n, &n, &shared);
    bool ok = e == SOTTO_OK ? true : fail_lib(r, "fanout", e);
    for (size_t i = 0; ok && i < n; i++) {
        char sid[PEER_SERVICE_ID_STRING];
        service_id_string(sid, ent[i].service_id);
        json_t *o = json_object(), *dev = json_array(), *reg = json_array();
        for (uint32_t d = 0; o && dev && reg && d < ent[i].n_devices; d++) {
            json_array_append_new(dev, json_integer(ent[i].device_ids[d]));
            json_array_append_new(reg, json_integer(ent[i].registration_ids[d]));
        }
        size_t m = 0;
        if (!o || !dev || !reg) {
            json_decref(o); json_decref(dev); json_decref(reg);
            ok = fail(r, "out of memory", NULL);
            break;
        }
        json_object_set_new(o, "serviceId", json_string(sid));
        json_object_set_new(o, "devices", dev);
        json_object_set_new(o, "registrationIds", reg);
        if (ent[i].n_devices) {
            e = sotto_sealed_v2_received(sent, len, &ent[i], shared, one,
                                         sotto_sealed_v2_received_len(len, shared), &m);
            reply tmp = { .obj = o };
            if (e != SOTTO_OK || !set_b64(&tmp, "message", one, m)) {
                json_decref(o);
                ok = e != SOTTO_OK ? fail_lib(r, "fanout", e) : fail(r, "out of memory", NULL);
                break;
            }
        }
        json_array_append_new(arr, o);
    }
    if (ok && json_object_set(r->obj, "messages", arr) != 0)
        ok = fail(r, "out of memory", NULL);
    json_decref(arr);
    free(sent);
    free(ent);
    free(one);
    return ok;
}

static const char *cert_status_text(sotto_cert_status s)
{
    switch (s) {
    case SOTTO_CERT_VALID: return "valid";
    case SOTTO_CERT_UNTRUSTED_SERVER: return "server certificate not signed by the trust root";
    case SOTTO_CERT_BAD_SIGNATURE: return "sender certificate not signed by the server";
    case SOTTO_CERT_EXPIRED: return "sender certificate expired";
    }
    return "invalid";
}

/* unseal {sealed, trustRoot, timestamp} -> content and the sender. */
bool cmd_unseal(peer_state *st, json_t *req, reply *r)
{
    if (!need_init(st, r))
        return false;
    uint8_t *msg, root[SOTTO_EC_PUBLIC_BYTES];
    size_t len, n = 0;
    uint64_t now;
    if (!get_b64_fixed(r, req, "trustRoot", root, sizeof root) || !get_ms(r, req, "timestamp", &now) ||
        !get_b64(r, req, "sealed", PEER_MAX_SEALED, &msg, &len))
        return false;
    uint8_t *pt = malloc(len ? len : 1);
    sotto_unsealed info;
    sotto_err e = pt ? sotto_sealed_open(st->id, root, now, msg, len, pt, len, &n, &info) : SOTTO_ERR_NO_MEMORY;
    free(msg);
    bool ok;
    if (e == SOTTO_ERR_BAD_SIGNATURE) {
        snprintf(r->err, sizeof r->err, "unseal: certificate refused: %s", cert_status_text(info.cert_status));
        ok = false;
    } else if (e != SOTTO_OK) {
        ok = fail_lib(r, "unseal", e);
    } else {
        ok = set_b64(r, "content", pt, n) && set_int(r, "msgType", info.msg_type) &&
             set_int(r, "contentHint", info.content_hint) &&
             set_int(r, "senderDevice", info.sender.sender_device) &&
             set_b64(r, "senderKey", info.sender.identity_key, SOTTO_EC_PUBLIC_BYTES) &&
             (!info.has_group_id || set_b64(r, "groupId", info.group_id, info.group_id_len));
        if (ok && (json_object_set_new(r->obj, "senderUuid", json_string(info.sender.sender_uuid)) != 0 ||
                   (info.sender.has_e164 &&
                    json_object_set_new(r->obj, "senderE164", json_string(info.sender.sender_e164)) != 0)))
            ok = fail(r, "out of memory", NULL);
    }
    if (pt) {
        sodium_memzero(pt, len);
        free(pt);
    }
    return ok;
}

/* fingerprint_compare (driver extra) {localId, remoteId, remoteKey, theirs, version?} -> result */
bool cmd_fingerprint_compare(peer_state *st, json_t *req, reply *r)
{
    if (!need_init(st, r))
        return false;
    uint8_t key[SOTTO_EC_PUBLIC_BYTES], *lid = NULL, *rid = NULL, *theirs = NULL;
    size_t llen = 0, rlen = 0, tlen = 0;
    uint32_t version;
    bool ok = get_b64_fixed(r, req, "remoteKey", key, sizeof key) &&
              get_u32(r, req, "version", 0, UINT32_MAX, false, SOTTO_FINGERPRINT_VERSION, &version) &&
              get_b64(r, req, "localId", PEER_MAX_FINGERPRINT_ID, &lid, &llen) &&
              get_b64(r, req, "remoteId", PEER_MAX_FINGERPRINT_ID, &rid, &rlen) &&
              get_b64(r, req, "theirs", SOTTO_FINGERPRINT_SCANNABLE_MAX * 4, &theirs, &tlen);
    sotto_fingerprint fp;
    sotto_fingerprint_match m = SOTTO_FINGERPRINT_MISMATCH;
    if (ok) {
        sotto_err e = sotto_fingerprint_create(&fp, version, SOTTO_FINGERPRINT_ITERATIONS, lid, llen,
                                               st->identity_pub, rid, rlen, key);
        if (e == SOTTO_OK)
            e = sotto_fingerprint_compare(&fp, theirs, tlen, &m);
        ok = e == SOTTO_OK ? true : fail_lib(r, "fingerprint_compare", e);
    }
    free(lid);
    free(rid);
    free(theirs);
    if (!ok)
        return false;
    const char *s = m == SOTTO_FINGERPRINT_MATCH ? "match"
                  : m == SOTTO_FINGERPRINT_VERSION_MISMATCH ? "version mismatch" : "mismatch";
    if (json_object_set_new(r->obj, "result", json_string(s)) != 0)
        return fail(r, "out of memory", NULL);
    return true;
}
