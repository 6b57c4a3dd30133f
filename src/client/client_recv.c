/* sotto client: receiving over the WebSocket (see client.h for the rules). */
#define _GNU_SOURCE
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "content.h"
#include "sotto/keys.h"
#include "sotto/session.h"

#define ENVELOPE_ID_LEN 36
#define ENVELOPE_MAX (256u * 1024u) /* ciphertext bytes we accept in one envelope */

sotto_cstatus sotto_client_connect(sotto_client *c, char *err)
{
    if (c->ws != NULL)
        return SOTTO_C_OK;
    return sotto_ws_open(&c->ws, &c->http, "/v1/websocket", err);
}

void sotto_client_disconnect(sotto_client *c)
{
    sotto_ws_close(c->ws);
    c->ws = NULL;
}

int sotto_client_ws_fd(const sotto_client *c)
{
    return c->ws ? sotto_ws_fd(c->ws) : -1;
}

int sotto_client_ws_pending(const sotto_client *c)
{
    return c->ws ? sotto_ws_pending(c->ws) : 0;
}

static sotto_cstatus ack(sotto_client *c, const char *id, char *err)
{
    char buf[ENVELOPE_ID_LEN + 32];
    int n = snprintf(buf, sizeof buf, "{\"type\":\"ack\",\"ids\":[\"%s\"]}", id);
    return sotto_ws_send_text(c->ws, buf, (size_t)n, err);
}

typedef struct envelope {
    const char *id;
    uint32_t type;
    const char *source;
    uint32_t device;
    uint8_t *ct;
    size_t ct_len;
    int64_t held_id; /* > 0: a held envelope read again (acknowledged long ago) */
} envelope;

/* Acknowledges e to the server, unless it is a held one (done long ago). */
static sotto_cstatus ack_env(sotto_client *c, const envelope *e, char *err)
{
    return e->held_id > 0 ? SOTTO_C_OK : ack(c, e->id, err);
}

/* An envelope we can never decrypt: remember it and acknowledge it (a held
 * one: forget it). */
static sotto_cstatus drop(sotto_client *c, const envelope *e, const char *why, char *err)
{
    fprintf(stderr, "sotto: dropped message %s: %s\n", e->id, why);
    if (e->held_id > 0)
        return sotto_cstore_held_delete(c->st, e->held_id, err);
    sotto_cstatus rc = sotto_cstore_seen_add(c->st, e->id, err);
    if (rc == SOTTO_C_OK)
        rc = ack(c, e->id, err);
    return rc;
}

sotto_cstatus sotto_cl_known_name(sotto_client *c, const char *uuid, char name[SOTTO_PEER_MAX + 1], char *err)
{
    char k[META_KEY_MAX];
    sotto_cstatus rc = sotto_cl_meta_key(k, M_NAME_OF, uuid, err);
    if (rc != SOTTO_C_OK)
        return rc;
    rc = sotto_cl_meta_str(c->st, k, name, SOTTO_PEER_MAX + 1, err);
    if (rc == SOTTO_C_NOT_FOUND) {
        snprintf(name, SOTTO_PEER_MAX + 1, "%s", uuid);
        rc = SOTTO_C_OK;
    }
    return rc;
}

/* A prekey message from an identity key we do not trust (the peer's key
 * changed): kept as it came, with the new key noted for `sotto safety`, then
 * acknowledged. `sotto trust` reads it again. */
static sotto_cstatus hold(sotto_client *c, const envelope *e, const uint8_t key[SOTTO_EC_PUBLIC_BYTES], char *err)
{
    char name[SOTTO_PEER_MAX + 1];
    int64_t n = 0;
    sotto_cstatus rc = e->held_id == 0 ? sotto_cstore_held_count(c->st, e->source, &n, err) : SOTTO_C_OK;
    if (rc != SOTTO_C_OK)
        return rc;
    if (n >= HELD_MAX_PER_PEER) {
        char why[SOTTO_CERR_LEN];
        snprintf(why, sizeof why, "%d messages from %s are already held (their identity key changed; see sotto safety)",
                 HELD_MAX_PER_PEER, e->source);
        return drop(c, e, why, err);
    }
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        return rc;
    if (e->held_id == 0)
        rc = sotto_cstore_held_add(c->st, e->id, e->source, e->device, e->type, e->ct, e->ct_len, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cl_note_new_identity(c, e->source, key, err);
    if (rc == SOTTO_C_OK && e->held_id == 0)
        rc = sotto_cstore_seen_add(c->st, e->id, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    if (rc != SOTTO_C_OK || (rc = sotto_cl_known_name(c, e->source, name, err)) != SOTTO_C_OK)
        return rc;
    fprintf(stderr, "sotto: message %s from %s is held: their identity key has changed (see: sotto safety %s)\n",
            e->id, name, name);
    return ack_env(c, e, err);
}

/* Who is behind uuid: the name we know, else the name the sender claims
 * once the server confirms that name belongs to this uuid, else the uuid. */
static sotto_cstatus resolve_sender(sotto_client *c, const char *uuid, const char *claimed, uint32_t dev,
                                    char name[SOTTO_PEER_MAX + 1], char *err)
{
    char k[META_KEY_MAX];
    sotto_cstatus rc = sotto_cl_meta_key(k, M_NAME_OF, uuid, err);
    if (rc != SOTTO_C_OK)
        return rc;
    rc = sotto_cl_meta_str(c->st, k, name, SOTTO_PEER_MAX + 1, err);
    if (rc != SOTTO_C_NOT_FOUND)
        return rc;
    snprintf(name, SOTTO_PEER_MAX + 1, "%s", uuid);
    char canon[SOTTO_PEER_MAX + 1];
    if (sotto_username_canonical(canon, claimed, NULL) != SOTTO_C_OK)
        return SOTTO_C_OK;
    /* GET /v1/accounts/NAME costs the sender nothing. A sottod without it
     * answers 404; then a bundle fetch (one of the sender's one-time prekeys)
     * confirms the name instead, and answers 404 itself for no such user. */
    char u[UUID_LEN + 1];
    rc = sotto_cl_lookup(c, canon, u, NULL, 0, NULL, err);
    if (rc == SOTTO_C_NOT_FOUND) {
        char path[SOTTO_PEER_MAX + 32];
        snprintf(path, sizeof path, "/v1/keys/%s/%u", canon, dev);
        int status;
        json_t *r;
        if ((rc = sotto_cl_call(c, "GET", path, NULL, &status, &r, err)) != SOTTO_C_OK)
            return rc;
        const char *ru = json_string_value(json_object_get(r, "uuid"));
        u[0] = '\0';
        if (status == 200 && ru != NULL && strlen(ru) == UUID_LEN)
            memcpy(u, ru, UUID_LEN + 1);
        if (status != 200 && status != 404)
            rc = sotto_cl_http_fail(status, r, "sender lookup", err);
        else
            rc = SOTTO_C_OK;
        json_decref(r);
        if (rc != SOTTO_C_OK)
            return rc;
    } else if (rc != SOTTO_C_OK) {
        return rc;
    }
    if (strcmp(u, uuid) == 0) {
        snprintf(name, SOTTO_PEER_MAX + 1, "%s", canon);
        rc = sotto_cstore_meta_set(c->st, k, canon, strlen(canon), err);
        if (rc == SOTTO_C_OK && sotto_cl_meta_key(k, M_UUID_OF, canon, err) == SOTTO_C_OK)
            rc = sotto_cstore_meta_set(c->st, k, uuid, UUID_LEN, err);
    } else {
        fprintf(stderr, "sotto: a message from %s claims to be from %s; the server disagrees\n", uuid, canon);
    }
    return rc;
}

typedef struct used_keys {
    int ec;          /* delete this one-time EC prekey */
    uint32_t ec_id;
    int kem;         /* delete this one-time Kyber prekey */
    uint32_t kem_id;
} used_keys;

/* The private keys a prekey message names. */
static sotto_cstatus load_secrets(sotto_client *c, const sotto_prekey_ids *ids, sotto_prekey_secrets *k,
                                  used_keys *used, char *err)
{
    memset(k, 0, sizeof *k);
    memset(used, 0, sizeof *used);
    k->signed_pre_key_id = ids->signed_pre_key_id;
    sotto_cstatus rc = sotto_cstore_prekey_get(c->st, SOTTO_PK_SIGNED, ids->signed_pre_key_id,
                                               k->signed_pre_key_public, SOTTO_EC_PUBLIC_BYTES,
                                               k->signed_pre_key_private, SOTTO_EC_PRIVATE_BYTES, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (ids->has_pre_key) {
        rc = sotto_cstore_prekey_get(c->st, SOTTO_PK_ONE_TIME, ids->pre_key_id, k->pre_key_public,
                                     SOTTO_EC_PUBLIC_BYTES, k->pre_key_private, SOTTO_EC_PRIVATE_BYTES, err);
        if (rc == SOTTO_C_OK) {
            k->has_pre_key = 1;
            k->pre_key_id = ids->pre_key_id;
            used->ec = 1;
            used->ec_id = ids->pre_key_id;
        } else if (rc != SOTTO_C_NOT_FOUND) {
            return rc;
        }
    }
    uint8_t *pub = malloc(SOTTO_KYBER_PUBLIC_BYTES);
    if (pub == NULL)
        return sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    k->kyber_pre_key_id = ids->kyber_pre_key_id;
    rc = sotto_cstore_prekey_get(c->st, SOTTO_PK_KYBER, ids->kyber_pre_key_id, pub, SOTTO_KYBER_PUBLIC_BYTES,
                                 k->kyber_pre_key_secret, SOTTO_KYBER_SECRET_BYTES, err);
    if (rc == SOTTO_C_OK) {
        used->kem = 1;
        used->kem_id = ids->kyber_pre_key_id;
    } else if (rc == SOTTO_C_NOT_FOUND) {
        rc = sotto_cstore_prekey_get(c->st, SOTTO_PK_KYBER_LR, ids->kyber_pre_key_id, pub,
                                     SOTTO_KYBER_PUBLIC_BYTES, k->kyber_pre_key_secret, SOTTO_KYBER_SECRET_BYTES,
                                     err);
    }
    free(pub);
    return rc;
}

/* Decrypts, stores, calls back, acknowledges. Only store and network
 * failures are returned; a message that cannot be read is dropped, one from
 * an identity key we do not trust is held. A held envelope (e->held_id) is
 * read without the network and leaves the held table when it is stored or
 * dropped. */
static sotto_cstatus process(sotto_client *c, const envelope *e, sotto_incoming_cb cb, void *ctx, int *got,
                             char *err)
{
    int seen = 0;
    sotto_cstatus rc = SOTTO_C_OK;
    if (e->held_id == 0 && (rc = sotto_cstore_seen_check(c->st, e->id, &seen, err)) != SOTTO_C_OK)
        return rc;
    if (seen)
        return ack(c, e->id, err);
    if (e->source == NULL || !sotto_cl_uuid_ok(e->source) || e->device < 1 || e->device > 127)
        return drop(c, e, "no sender (sealed sender is not supported)", err);
    if (e->type != SOTTO_MSG_WHISPER && e->type != SOTTO_MSG_PREKEY)
        return drop(c, e, "unknown envelope type", err);

    sotto_session *s = NULL;
    sotto_prekey_secrets *keys = NULL;
    sotto_prekey_ids ids;
    used_keys used = {0};
    uint8_t *pt = NULL, *rec = NULL;
    size_t pt_len = 0, rl = 0;
    char why[SOTTO_CERR_LEN];
    rc = sotto_cstore_session_get(c->st, e->source, e->device, &rec, &rl, err);
    if (rc == SOTTO_C_OK) {
        sotto_err le = sotto_session_load(&s, rec, rl);
        sotto_cstore_free_blob(rec, rl);
        if (le != SOTTO_OK) {
            rc = sotto_cfail(err, SOTTO_C_STORE, "session record of %s.%u does not load: %s", e->source,
                             e->device, sotto_strerror(le));
            goto out;
        }
    } else if (rc == SOTTO_C_NOT_FOUND) {
        if ((rc = sotto_cl_lib(sotto_session_new(&s), err, "session")) != SOTTO_C_OK)
            goto out;
    } else {
        goto out;
    }
    memset(&ids, 0, sizeof ids);
    if (e->type == SOTTO_MSG_PREKEY) {
        sotto_err le = sotto_prekey_message_ids(e->ct, e->ct_len, &ids);
        if (le != SOTTO_OK) {
            rc = drop(c, e, sotto_strerror(le), err);
            goto out;
        }
        keys = sodium_malloc(sizeof *keys);
        if (keys == NULL) {
            rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
            goto out;
        }
        rc = load_secrets(c, &ids, keys, &used, why);
        if (rc == SOTTO_C_NOT_FOUND) {
            /* Used up by an earlier message of the same session (the sender
             * repeats the prekey header until we reply): the session we hold
             * decrypts it without keys, or the library says it is missing. */
            sodium_free(keys);
            keys = NULL;
            memset(&used, 0, sizeof used);
            rc = SOTTO_C_OK;
        }
        if (rc != SOTTO_C_OK) {
            memcpy(err, why, SOTTO_CERR_LEN);
            goto out;
        }
    }
    pt = malloc(e->ct_len);
    if (pt == NULL) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    sotto_err de = sotto_session_decrypt(s, c->id, keys, (int)e->type, e->ct, e->ct_len, pt, e->ct_len, &pt_len);
    if (de == SOTTO_ERR_NO_MEMORY) {
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
        goto out;
    }
    if (de == SOTTO_ERR_DUPLICATE_MESSAGE) { /* a copy of one we stored: quietly */
        if (e->held_id > 0) {
            rc = sotto_cstore_held_delete(c->st, e->held_id, err);
            goto out;
        }
        rc = sotto_cstore_seen_add(c->st, e->id, err);
        if (rc == SOTTO_C_OK)
            rc = ack(c, e->id, err);
        goto out;
    }
    int own = strcmp(e->source, c->uuid) == 0;
    if (de == SOTTO_ERR_UNTRUSTED_IDENTITY && e->type == SOTTO_MSG_PREKEY && !own) {
        /* Our record with this device is pinned to the key we trust. */
        rc = hold(c, e, ids.identity_key, err);
        goto out;
    }
    if (de != SOTTO_OK) {
        snprintf(why, sizeof why, "cannot decrypt a message from %s device %u: %s", e->source, e->device,
                 sotto_strerror(de));
        rc = drop(c, e, why, err);
        goto out;
    }
    uint8_t uid[SOTTO_MSG_UID_BYTES];
    int64_t ts;
    char claimed[SOTTO_PEER_MAX + 1], name[SOTTO_PEER_MAX + 1];
    const uint8_t *text;
    size_t tl;
    /* A sent transcript (what another device of ours sent) only from our own
     * account, and a message only from another account. */
    int transcript = sotto_content_kind(pt, pt_len) == SOTTO_TRANSCRIPT_VERSION;
    if (own != transcript || (own && e->device == c->device_id)) {
        rc = drop(c, e, own ? "a message from this account that is not a sent transcript"
                            : "a sent transcript from another account", err);
        goto out;
    }
    if (transcript) {
        /* name: the recipient of the message our other device sent */
        if (sotto_transcript_decode(pt, pt_len, uid, &ts, claimed, name, &text, &tl, why) != SOTTO_C_OK) {
            rc = drop(c, e, why, err);
            goto out;
        }
        if (strcmp(claimed, c->username) != 0) {
            rc = drop(c, e, "a sent transcript from another username", err);
            goto out;
        }
    } else {
        if (sotto_content_decode(pt, pt_len, uid, &ts, claimed, &text, &tl, why) != SOTTO_C_OK) {
            rc = drop(c, e, why, err);
            goto out;
        }
        if (e->held_id > 0)
            rc = sotto_cl_known_name(c, e->source, name, err);
        else
            rc = resolve_sender(c, e->source, claimed, e->device, name, err);
        if (rc != SOTTO_C_OK)
            goto out;
    }
    if (own && e->type == SOTTO_MSG_PREKEY) {
        /* Our other device uses our identity key, nothing else. */
        uint8_t mine[SOTTO_EC_PUBLIC_BYTES];
        sotto_identity_public_key(c->id, mine);
        if (sodium_memcmp(mine, ids.identity_key, sizeof mine) != 0) {
            rc = drop(c, e, "a message from this account under another identity key", err);
            goto out;
        }
    }

    /* One transaction: identity, session, used prekeys, message, envelope id. */
    if ((rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        goto out;
    if (e->type == SOTTO_MSG_PREKEY && !own) {
        rc = sotto_cl_check_identity(c, e->source, ids.identity_key, name, why);
        if (rc == SOTTO_C_UNTRUSTED) {
            sotto_cstore_rollback(c->st);
            rc = hold(c, e, ids.identity_key, err);
            goto out;
        }
        if (rc != SOTTO_C_OK)
            memcpy(err, why, SOTTO_CERR_LEN);
    }
    size_t n = 0;
    if (rc == SOTTO_C_OK)
        rc = sotto_cl_lib(sotto_session_save(s, NULL, 0, &n), err, "session");
    if (rc == SOTTO_C_OK && (rec = malloc(n ? n : 1)) == NULL)
        rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
    if (rc == SOTTO_C_OK)
        rc = sotto_cl_lib(sotto_session_save(s, rec, n, &n), err, "session");
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_session_put(c->st, e->source, e->device, rec, n, err);
    if (rec != NULL) {
        sodium_memzero(rec, n);
        free(rec);
    }
    if (rc == SOTTO_C_OK && used.ec)
        rc = sotto_cstore_prekey_delete(c->st, SOTTO_PK_ONE_TIME, used.ec_id, err);
    if (rc == SOTTO_C_OK && used.kem)
        rc = sotto_cstore_prekey_delete(c->st, SOTTO_PK_KYBER, used.kem_id, err);
    int64_t mid = 0;
    int dup = 0;
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_msg_add(c->st, name, transcript, transcript ? SOTTO_MSG_SENT : SOTTO_MSG_NEW, uid, ts,
                                  text, tl, &mid, &dup, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_seen_add(c->st, e->id, err);
    if (rc == SOTTO_C_OK && e->held_id > 0)
        rc = sotto_cstore_held_delete(c->st, e->held_id, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    if (rc != SOTTO_C_OK)
        goto out;
    if (!dup && !transcript) {
        sotto_incoming in = {.id = mid, .from = name, .device = e->device, .ts = ts, .text = text, .len = tl};
        if (cb != NULL)
            cb(ctx, &in);
        (*got)++;
    }
    rc = ack_env(c, e, err);
    if (rc == SOTTO_C_OK && e->held_id == 0 && e->type == SOTTO_MSG_PREKEY && ++c->prekey_msgs >= REFILL_AFTER_PREKEY_MSGS) {
        if (sotto_client_refill(c, why) != SOTTO_C_OK)
            fprintf(stderr, "sotto: prekey top-up failed: %s\n", why);
    }
out:
    if (pt != NULL) {
        sodium_memzero(pt, e->ct_len);
        free(pt);
    }
    if (keys != NULL)
        sodium_free(keys);
    sotto_session_free(s);
    return rc;
}

static sotto_cstatus handle(sotto_client *c, const char *msg, size_t len, sotto_incoming_cb cb, void *ctx,
                            sotto_poll_result *res, char *err)
{
    int *got = &res->got;
    json_t *j = json_loadb(msg, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    sotto_cstatus rc = SOTTO_C_OK;
    if (type != NULL && strcmp(type, "queue_empty") == 0) {
        res->idle = 1;
    } else if (type != NULL && strcmp(type, "devices") == 0) {
        /* A device was added to or removed from our account: the next send
         * asks GET /v1/devices again instead of trusting the last answer. */
        c->own_checked_ms = 0;
        res->devices_changed = 1;
    } else if (type != NULL && strcmp(type, "envelope") == 0) {
        json_t *ej = json_object_get(j, "envelope");
        envelope e;
        memset(&e, 0, sizeof e);
        e.id = json_string_value(json_object_get(ej, "id"));
        e.source = json_string_value(json_object_get(ej, "sourceUuid"));
        json_t *content = json_object_get(ej, "content");
        if (e.id == NULL || strlen(e.id) != ENVELOPE_ID_LEN || !sotto_cl_uuid_ok(e.id) ||
            sotto_cl_get_u32(ej, "type", 0, 0xFFFF, &e.type) != 0 || !json_is_string(content) ||
            json_string_length(content) == 0 || json_string_length(content) > (ENVELOPE_MAX + 2) / 3 * 4) {
            fprintf(stderr, "sotto: ignored a malformed envelope from the server\n");
        } else {
            if (e.source != NULL && sotto_cl_get_u32(ej, "sourceDevice", 1, 127, &e.device) != 0)
                e.source = NULL;
            size_t cap = json_string_length(content) / 4 * 3 + 3;
            e.ct = malloc(cap);
            if (e.ct == NULL) {
                rc = sotto_cfail(err, SOTTO_C_FAILURE, "out of memory");
            } else if (sodium_base642bin(e.ct, cap, json_string_value(content), json_string_length(content), NULL,
                                         &e.ct_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || e.ct_len == 0) {
                rc = drop(c, &e, "content is not base64", err);
            } else {
                rc = process(c, &e, cb, ctx, got, err);
            }
            free(e.ct);
        }
    }
    json_decref(j);
    return rc;
}

sotto_cstatus sotto_client_poll(sotto_client *c, int timeout_ms, sotto_incoming_cb cb, void *ctx,
                                sotto_poll_result *res, char *err)
{
    memset(res, 0, sizeof *res);
    if (c->ws == NULL)
        return sotto_cfail(err, SOTTO_C_NETWORK, "not connected");
    char *msg;
    size_t len;
    sotto_cstatus rc = sotto_ws_recv(c->ws, &msg, &len, timeout_ms, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (msg == NULL) {
        res->timed_out = 1;
        return SOTTO_C_OK;
    }
    rc = handle(c, msg, len, cb, ctx, res, err);
    free(msg);
    return rc;
}

sotto_cstatus sotto_cl_release_held(sotto_client *c, const char *uuid, sotto_incoming_cb cb, void *ctx,
                                    int *released, char *err)
{
    int64_t *ids;
    size_t n;
    sotto_cstatus rc = sotto_cstore_held_ids(c->st, uuid, &ids, &n, err);
    for (size_t i = 0; i < n && rc == SOTTO_C_OK; i++) {
        sotto_cheld h;
        if ((rc = sotto_cstore_held_get(c->st, ids[i], &h, err)) != SOTTO_C_OK)
            break;
        envelope e = {.id = h.envelope, .type = h.type, .source = h.source, .device = h.device, .ct = h.ct,
                      .ct_len = h.ct_len, .held_id = h.id};
        rc = process(c, &e, cb, ctx, released, err);
        sotto_cstore_free_blob(h.ct, h.ct_len);
    }
    free(ids);
    return rc;
}
