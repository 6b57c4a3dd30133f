/* sottod: REST routes (docs/API.md). Every handler answers through
 * sotto_conn_respond/sotto_conn_error, now or when its job is done. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "api_devices.h"
#include "api_lookup.h"
#include "crypto/xeddsa.h"
#include "sottod_limits.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define MAX_SEGMENTS 6
#define JSON_CT "application/json"
#define LIT(s) (s), (sizeof(s) - 1)

const char *sotto_api_store_status(sotto_store_err e, int *status)
{
    switch (e) {
    case SOTTO_STORE_OK: *status = 200; return "ok";
    case SOTTO_STORE_ERR_INVALID_ARGUMENT: *status = 400; return "invalid argument";
    case SOTTO_STORE_ERR_INVALID_USERNAME: *status = 400; return "invalid username";
    case SOTTO_STORE_ERR_USERNAME_TAKEN: *status = 409; return "username taken";
    case SOTTO_STORE_ERR_NOT_FOUND: *status = 404; return "no such account or device";
    case SOTTO_STORE_ERR_AUTH: *status = 401; return "bad credentials";
    case SOTTO_STORE_ERR_FORBIDDEN: *status = 403; return "primary device only";
    case SOTTO_STORE_ERR_TOO_MANY_DEVICES: *status = 409; return "too many devices";
    case SOTTO_STORE_ERR_INVALID_KEY: *status = 400; return "invalid key";
    case SOTTO_STORE_ERR_TOO_MANY_KEYS: *status = 413; return "too many keys";
    case SOTTO_STORE_ERR_DEVICE_MISMATCH: *status = 409; return "device mismatch";
    case SOTTO_STORE_ERR_TOO_LARGE: *status = 413; return "too large";
    case SOTTO_STORE_ERR_QUEUE_FULL: *status = 429; return "recipient queue full";
    case SOTTO_STORE_ERR_BUSY: *status = 503; return "busy, try again";
    default: *status = 500; return "internal error";
    }
}

static void respond_json(sotto_conn *c, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL) {
        sotto_conn_error(c, 500, "out of memory");
        return;
    }
    sotto_conn_respond(c, status, JSON_CT, s, strlen(s), NULL);
    free(s);
}

static void store_error(sotto_conn *c, sotto_store_err e)
{
    int status;
    const char *msg = sotto_api_store_status(e, &status);
    if (status >= 500) {
        sotto_metrics_error(SOTTO_ERRK_STORE);
        sotto_log(SOTTO_LOG_WARN, "store_error", " reason=\"%s\"", sotto_store_strerror(e));
    }
    sotto_conn_error(c, status, msg);
}

static json_t *b64(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char stackbuf[2200];
    char *buf = cap <= sizeof stackbuf ? stackbuf : malloc(cap);
    if (buf == NULL)
        return NULL;
    sodium_bin2base64(buf, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(buf);
    if (buf != stackbuf)
        free(buf);
    return j;
}

size_t sotto_api_envelope_json(const sotto_store_envelope *e, char *out, size_t cap)
{
    char id[SOTTO_STORE_UUID_STRING_BYTES], sender[SOTTO_STORE_UUID_STRING_BYTES];
    sotto_store_uuid_format(id, e->id);
    int n;
    if (e->has_sender) {
        sotto_store_uuid_format(sender, e->sender);
        n = snprintf(out, cap,
                     "{\"id\":\"%s\",\"type\":%" PRIu32 ",\"timestamp\":%" PRId64
                     ",\"sourceUuid\":\"%s\",\"sourceDevice\":%" PRIu32 ",\"content\":\"",
                     id, e->type, e->timestamp, sender, e->sender_device);
    } else {
        n = snprintf(out, cap, "{\"id\":\"%s\",\"type\":%" PRIu32 ",\"timestamp\":%" PRId64
                     ",\"content\":\"", id, e->type, e->timestamp);
    }
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t o = (size_t)n;
    size_t need = sodium_base64_ENCODED_LEN(e->body_len, sodium_base64_VARIANT_ORIGINAL);
    if (cap - o < need + 2)
        return 0;
    sodium_bin2base64(out + o, need, e->body, e->body_len, sodium_base64_VARIANT_ORIGINAL);
    o += need - 1;
    out[o++] = '"';
    out[o++] = '}';
    return o;
}

size_t sotto_api_mismatch_json(const sotto_store_mismatch *m, char *out, size_t cap)
{
    size_t o = 0;
    int k = snprintf(out, cap, "\"missingDevices\":[");
    for (size_t i = 0; k > 0 && (size_t)k < cap - o && i < m->missing_count &&
                       i < SOTTO_STORE_MAX_DEVICES; i++) {
        o += (size_t)k;
        k = snprintf(out + o, cap - o, "%s%" PRIu32, i ? "," : "", m->missing[i]);
    }
    if (k > 0 && (size_t)k < cap - o) {
        o += (size_t)k;
        k = snprintf(out + o, cap - o, "],\"extraDevices\":[");
    }
    for (size_t i = 0; k > 0 && (size_t)k < cap - o && i < m->extra_count &&
                       i < SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION; i++) {
        o += (size_t)k;
        k = snprintf(out + o, cap - o, "%s%" PRIu32, i ? "," : "", m->extra[i]);
    }
    if (k > 0 && (size_t)k < cap - o) {
        o += (size_t)k;
        k = snprintf(out + o, cap - o, "]");
    }
    if (k <= 0 || (size_t)k >= cap - o)
        return 0;
    return o + (size_t)k;
}

/* ---- path helpers ---- */

static size_t split(sotto_slice path, sotto_slice seg[MAX_SEGMENTS])
{
    size_t n = 0, i = 0;
    while (i < path.n) {
        if (path.p[i] == '/') {
            i++;
            continue;
        }
        size_t st = i;
        while (i < path.n && path.p[i] != '/')
            i++;
        if (n == MAX_SEGMENTS)
            return MAX_SEGMENTS + 1;
        seg[n].p = path.p + st;
        seg[n].n = i - st;
        n++;
    }
    return n;
}

/* A path segment naming an account: a UUID or a username. */
sotto_store_err sotto_api_resolve_account(sotto_store *st, sotto_slice s, uint8_t uuid[16])
{
    char tmp[64];
    if (s.n == 0 || s.n >= sizeof tmp)
        return SOTTO_STORE_ERR_NOT_FOUND;
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = 0;
    if (s.n == 36 && sotto_store_uuid_parse(uuid, tmp) == SOTTO_STORE_OK)
        return SOTTO_STORE_OK;
    sotto_store_account a;
    sotto_store_err e = sotto_store_find_username(st, tmp, &a);
    if (e == SOTTO_STORE_ERR_INVALID_USERNAME)
        e = SOTTO_STORE_ERR_NOT_FOUND;
    if (e == SOTTO_STORE_OK)
        memcpy(uuid, a.uuid, 16);
    return e;
}

/* Usernames resolved on the loop thread (every submission names its
 * recipient): a small direct-mapped cache, so that a busy sender costs no
 * SQL per message. Entries live SOTTOD_NAME_CACHE_MS; a stale entry can
 * only name an account that is gone, and the commit then answers 404. */
#define NAME_CACHE_SLOTS 4096u
typedef struct sotto_name_slot {
    char name[SOTTO_STORE_USERNAME_MAX + 1];   /* canonical form; "" = empty */
    uint8_t uuid[16];
    uint64_t expires_ms;
} name_slot;

sotto_store_err sotto_api_resolve_cached(sotto_srv *srv, sotto_slice s, uint8_t uuid[16])
{
    char tmp[64], canon[SOTTO_STORE_USERNAME_MAX + 1];
    if (s.n == 0 || s.n >= sizeof tmp)
        return SOTTO_STORE_ERR_NOT_FOUND;
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = 0;
    if (s.n == 36 && sotto_store_uuid_parse(uuid, tmp) == SOTTO_STORE_OK)
        return SOTTO_STORE_OK;
    if (sotto_store_username_canonical(canon, tmp) != SOTTO_STORE_OK)
        return SOTTO_STORE_ERR_NOT_FOUND;
    if (srv->names == NULL)         /* loop thread only */
        srv->names = calloc(NAME_CACHE_SLOTS, sizeof *srv->names);
    uint64_t now = sotto_srv_now_ms(srv);
    name_slot *slot = NULL;
    if (srv->names != NULL) {
        uint64_t h = 1469598103934665603ull;
        for (const char *p = canon; *p; p++)
            h = (h ^ (uint8_t)*p) * 1099511628211ull;
        slot = &srv->names[h & (NAME_CACHE_SLOTS - 1)];
        if (slot->expires_ms > now && strcmp(slot->name, canon) == 0) {
            memcpy(uuid, slot->uuid, 16);
            return SOTTO_STORE_OK;
        }
    }
    sotto_store_err e = sotto_api_resolve_account(srv->store, s, uuid);
    if (e == SOTTO_STORE_OK && slot != NULL) {
        memcpy(slot->name, canon, sizeof slot->name);
        memcpy(slot->uuid, uuid, 16);
        slot->expires_ms = now + SOTTOD_NAME_CACHE_MS;
    }
    return e;
}

void sotto_api_cache_free(sotto_srv *s)
{
    free(s->names);
    s->names = NULL;
}

/* ---- prekey signatures (XEdDSA by the identity key) ---- */

static bool sig_ok(const uint8_t ik[SOTTO_STORE_EC_KEY_BYTES], const uint8_t *msg, size_t len,
                   const uint8_t sig[SOTTO_STORE_SIGNATURE_BYTES])
{
    return ik[0] == SOTTO_STORE_EC_KEY_TYPE && sotto_xeddsa_verify(ik + 1, msg, len, sig) == 0;
}

/* Every signed key of an upload must verify; NULL when all do, else a reason. */
static const char *check_signatures(const uint8_t ik[SOTTO_STORE_EC_KEY_BYTES],
                                    const sotto_store_signed_prekey *spk,
                                    const sotto_store_kem_prekey *lr,
                                    const sotto_store_kem_prekey *kem, size_t kem_count)
{
    if (spk != NULL && !sig_ok(ik, spk->key, sizeof spk->key, spk->signature))
        return "signedPreKey: signature does not verify";
    if (lr != NULL && !sig_ok(ik, lr->key, sizeof lr->key, lr->signature))
        return "pqLastResortPreKey: signature does not verify";
    for (size_t i = 0; i < kem_count; i++)
        if (!sig_ok(ik, kem[i].key, sizeof kem[i].key, kem[i].signature))
            return "pqPreKeys[]: signature does not verify";
    return NULL;
}

/* ---- registration (Argon2id on a worker) ---- */

typedef struct register_job {
    uv_work_t w;
    sotto_conn *c;
    sotto_api_register r;
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    sotto_store_err rc;
} register_job;

static void register_work(uv_work_t *w)
{
    register_job *j = w->data;
    sotto_store *h = sotto_pool_take(&j->c->srv->pool);
    sotto_store_prekeys keys = { .signed_prekey = &j->r.signed_prekey,
                                 .last_resort = &j->r.last_resort };
    j->rc = sotto_store_create_account(h, j->uuid, j->r.username, j->r.secret, j->r.secret_len,
                                       j->r.registration_id, j->r.identity_key, &keys);
    sotto_pool_give(&j->c->srv->pool, h);
    sodium_memzero(j->r.secret, sizeof j->r.secret);
}

static void register_done(uv_work_t *w, int status)
{
    register_job *j = w->data;
    sotto_conn *c = j->c;
    sotto_srv *s = c->srv;
    s->jobs--;
    c->job = NULL;
    if (!c->handle_closed) {
        if (status != 0) {
            sotto_conn_error(c, 503, "try again");
        } else if (j->rc == SOTTO_STORE_OK) {
            char u[SOTTO_STORE_UUID_STRING_BYTES];
            sotto_store_uuid_format(u, j->uuid);
            sotto_g_metrics.accounts_registered_total++;
            sotto_log(SOTTO_LOG_INFO, "account_registered", NULL);
            respond_json(c, 200, json_pack("{s:s,s:i}", "uuid", u, "deviceId", 1));
        } else {
            store_error(c, j->rc);
        }
    }
    sodium_memzero(j, sizeof *j);
    free(j);
    sotto_conn_unref(c);
    sotto_srv_check_drain(s);
}

static void handle_register(sotto_conn *c, const uint8_t *body, size_t len)
{
    sotto_srv *s = c->srv;
    if (!sotto_ratelimit_take(s->rl_register, c->addr, c->addr_len, sotto_srv_now_ms(s))) {
        sotto_metrics_error(SOTTO_ERRK_RATE_LIMITED);
        sotto_log(SOTTO_LOG_INFO, "rate_limited", " limit=%s", sotto_ratelimit_name(s->rl_register));
        sotto_conn_respond(c, 429, JSON_CT, LIT("{\"error\":\"too many registrations\"}"),
                           "Retry-After: 60\r\n");
        return;
    }
    register_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    const char *why;
    if (sotto_api_decode_register(body, len, &j->r, &why) != 0 ||
        (why = check_signatures(j->r.identity_key, &j->r.signed_prekey, &j->r.last_resort, NULL,
                                0)) != NULL) {
        sodium_memzero(j, sizeof *j);
        free(j);
        sotto_conn_error(c, 400, why);
        return;
    }
    j->c = c;
    j->w.data = j;
    c->paused = true;
    if (uv_queue_work(s->loop, &j->w, register_work, register_done) != 0) {
        sodium_memzero(j, sizeof *j);
        free(j);
        sotto_conn_error(c, 503, "try again");
        return;
    }
    s->jobs++;
    sotto_conn_ref(c);
    c->job = &j->w;
}

/* ---- keys ---- */

/* Store writes (key uploads, bundle fetches that consume keys) and the
 * XEdDSA checks run on a worker with a pooled handle: the loop thread never
 * waits for an fsync or for SQLite's write lock. */
typedef struct keys_job {
    uv_work_t w;
    sotto_conn *c;
    sotto_api_keys k;
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    uint32_t device;
    sotto_store_err rc;
    const char *why;      /* a signature that does not verify: 400 */
} keys_job;

static void keys_work(uv_work_t *w)
{
    keys_job *j = w->data;
    sotto_store *h = sotto_pool_take(&j->c->srv->pool);
    sotto_api_keys *k = &j->k;
    j->rc = SOTTO_STORE_OK;
    if (k->has_signed || k->has_last_resort || k->kem_count > 0) {
        sotto_store_account a;
        j->rc = sotto_store_get_account(h, j->uuid, &a);
        if (j->rc == SOTTO_STORE_OK)
            j->why = check_signatures(a.identity_key, k->has_signed ? &k->signed_prekey : NULL,
                                      k->has_last_resort ? &k->last_resort : NULL, k->kem,
                                      k->kem_count);
    }
    if (j->rc == SOTTO_STORE_OK && j->why == NULL) {
        sotto_store_prekeys p = {
            .signed_prekey = k->has_signed ? &k->signed_prekey : NULL,
            .last_resort = k->has_last_resort ? &k->last_resort : NULL,
            .ec = k->ec, .ec_count = k->ec_count, .kem = k->kem, .kem_count = k->kem_count,
        };
        j->rc = sotto_store_upload_keys(h, j->uuid, j->device, &p);
    }
    sotto_pool_give(&j->c->srv->pool, h);
}

static void keys_done(uv_work_t *w, int status)
{
    keys_job *j = w->data;
    sotto_conn *c = j->c;
    sotto_srv *s = c->srv;
    s->jobs--;
    if (!c->handle_closed) {
        if (status != 0)
            sotto_conn_error(c, 503, "try again");
        else if (j->rc != SOTTO_STORE_OK)
            store_error(c, j->rc);
        else if (j->why != NULL)
            sotto_conn_error(c, 400, j->why);
        else
            sotto_conn_respond(c, 204, NULL, NULL, 0, NULL);
    }
    sotto_api_keys_free(&j->k);
    free(j);
    sotto_conn_unref(c);
    sotto_srv_check_drain(s);
}

static void handle_keys_upload(sotto_conn *c, const uint8_t *body, size_t len)
{
    keys_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    const char *why;
    if (sotto_api_decode_keys(body, len, &j->k, &why) != 0) {
        free(j);
        sotto_conn_error(c, 400, why);
        return;
    }
    j->c = c;
    j->w.data = j;
    memcpy(j->uuid, c->uuid, sizeof j->uuid);
    j->device = c->device;
    c->paused = true;
    if (uv_queue_work(c->srv->loop, &j->w, keys_work, keys_done) != 0) {
        sotto_api_keys_free(&j->k);
        free(j);
        sotto_conn_error(c, 503, "try again");
        return;
    }
    c->srv->jobs++;
    sotto_conn_ref(c);
}

static void handle_keys_count(sotto_conn *c)
{
    uint32_t ec = 0, kem = 0;
    sotto_store_err e = sotto_store_key_counts(c->srv->store, c->uuid, c->device, &ec, &kem);
    if (e != SOTTO_STORE_OK) {
        store_error(c, e);
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof body, "{\"count\":%" PRIu32 ",\"pqCount\":%" PRIu32 "}", ec, kem);
    sotto_conn_respond(c, 200, JSON_CT, body, (size_t)n, NULL);
}

static json_t *signed_json(uint32_t id, const uint8_t *key, size_t klen, const uint8_t *sig)
{
    json_t *o = json_object();
    json_object_set_new(o, "keyId", json_integer(id));
    json_object_set_new(o, "publicKey", b64(key, klen));
    if (sig != NULL)
        json_object_set_new(o, "signature", b64(sig, SOTTO_STORE_SIGNATURE_BYTES));
    return o;
}

typedef struct bundle_job {
    uv_work_t w;
    sotto_conn *c;
    char who[64];
    uint32_t device;
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    sotto_store_bundle b[SOTTO_STORE_MAX_DEVICES];
    size_t n;
    sotto_store_err rc;
} bundle_job;

static void bundle_work(uv_work_t *w)
{
    bundle_job *j = w->data;
    sotto_store *h = sotto_pool_take(&j->c->srv->pool);
    sotto_slice who = { j->who, strlen(j->who) };
    j->rc = sotto_api_resolve_account(h, who, j->uuid);
    if (j->rc == SOTTO_STORE_OK)
        j->rc = sotto_store_fetch_bundles(h, j->uuid, j->device, j->b, &j->n);
    if (j->rc == SOTTO_STORE_OK && j->n == 0)
        j->rc = SOTTO_STORE_ERR_NOT_FOUND;
    sotto_pool_give(&j->c->srv->pool, h);
}

static void bundle_done(uv_work_t *w, int status)
{
    bundle_job *j = w->data;
    sotto_conn *c = j->c;
    sotto_srv *s = c->srv;
    s->jobs--;
    if (c->handle_closed) {
        /* nothing to answer */
    } else if (status != 0) {
        sotto_conn_error(c, 503, "try again");
    } else if (j->rc != SOTTO_STORE_OK) {
        store_error(c, j->rc);
    } else {
        const sotto_store_bundle *b = j->b;
        char us[SOTTO_STORE_UUID_STRING_BYTES];
        sotto_store_uuid_format(us, j->uuid);
        json_t *root = json_object();
        json_object_set_new(root, "uuid", json_string(us));
        json_object_set_new(root, "identityKey", b64(b[0].identity_key, SOTTO_STORE_EC_KEY_BYTES));
        json_t *arr = json_array();
        for (size_t i = 0; i < j->n; i++) {
            json_t *d = json_object();
            json_object_set_new(d, "deviceId", json_integer(b[i].device_id));
            json_object_set_new(d, "registrationId", json_integer(b[i].registration_id));
            json_object_set_new(d, "signedPreKey",
                                signed_json(b[i].signed_prekey.id, b[i].signed_prekey.key,
                                            SOTTO_STORE_EC_KEY_BYTES, b[i].signed_prekey.signature));
            if (b[i].has_ec)
                json_object_set_new(d, "preKey", signed_json(b[i].ec.id, b[i].ec.key,
                                                             SOTTO_STORE_EC_KEY_BYTES, NULL));
            json_t *pq = signed_json(b[i].kem.id, b[i].kem.key, SOTTO_STORE_KEM_KEY_BYTES,
                                     b[i].kem.signature);
            json_object_set_new(pq, "lastResort", json_boolean(b[i].kem_is_last_resort));
            json_object_set_new(d, "pqPreKey", pq);
            json_array_append_new(arr, d);
        }
        json_object_set_new(root, "devices", arr);
        respond_json(c, 200, root);
    }
    free(j);
    sotto_conn_unref(c);
    sotto_srv_check_drain(s);
}

static void handle_bundle(sotto_conn *c, sotto_slice who, sotto_slice dev)
{
    uint32_t device = SOTTO_STORE_ALL_DEVICES;
    if (!sotto_slice_eq(dev, "*")) {
        bool ok = dev.n > 0 && dev.n <= 3;
        for (size_t i = 0; ok && i < dev.n; i++) {
            ok = dev.p[i] >= '0' && dev.p[i] <= '9';
            device = device * 10u + (uint32_t)(dev.p[i] - '0');
        }
        if (!ok || device < 1 || device > SOTTO_STORE_MAX_DEVICE_ID) {
            sotto_conn_error(c, 400, "device: 1 to 127 or *");
            return;
        }
    }
    bundle_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    if (who.n == 0 || who.n >= sizeof j->who) {
        free(j);
        sotto_conn_error(c, 404, "no such account or device");
        return;
    }
    memcpy(j->who, who.p, who.n);
    j->who[who.n] = 0;
    j->device = device;
    j->c = c;
    j->w.data = j;
    c->paused = true;
    if (uv_queue_work(c->srv->loop, &j->w, bundle_work, bundle_done) != 0) {
        free(j);
        sotto_conn_error(c, 503, "try again");
        return;
    }
    c->srv->jobs++;
    sotto_conn_ref(c);
}

/* ---- messages ---- */

static void handle_submit(sotto_conn *c, sotto_slice who, const uint8_t *body, size_t len)
{
    uint8_t recipient[16];
    sotto_store_err e = sotto_api_resolve_cached(c->srv, who, recipient);
    if (e != SOTTO_STORE_OK) {
        store_error(c, e);
        return;
    }
    sotto_api_submit m;
    const char *why;
    if (sotto_api_decode_submit(body, len, c->srv->cfg.max_envelope, &m, &why) != 0) {
        sotto_conn_error(c, strstr(why, "too large") ? 413 : 400, why);
        return;
    }
    /* The batch takes the bodies; the answer comes after the commit. */
    sotto_batch_submit(c, recipient, m.outs, m.count, m.bodies);
}

static void handle_fetch(sotto_conn *c)
{
    sotto_store_envelope *env = NULL;
    size_t n = 0;
    sotto_store_err e = sotto_store_fetch_queue(c->srv->store, c->uuid, c->device, 0,
                                                SOTTOD_FETCH_PAGE, &env, &n);
    if (e != SOTTO_STORE_OK) {
        store_error(c, e);
        return;
    }
    /* One page is at most SOTTOD_FETCH_PAGE envelopes and about
     * SOTTOD_FETCH_MAX_BYTES of JSON; the rest says "more". */
    size_t cap = 64, take = 0;
    for (; take < n; take++) {
        size_t one = 256 + sodium_base64_ENCODED_LEN(env[take].body_len, sodium_base64_VARIANT_ORIGINAL);
        if (take > 0 && cap + one > SOTTOD_FETCH_MAX_BYTES)
            break;
        cap += one;
    }
    char *out = malloc(cap);
    if (out == NULL) {
        sotto_store_envelopes_free(env, n);
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    size_t o = (size_t)snprintf(out, cap, "{\"messages\":[");
    for (size_t i = 0; i < take; i++) {
        if (i > 0)
            out[o++] = ',';
        o += sotto_api_envelope_json(&env[i], out + o, cap - o);
    }
    o += (size_t)snprintf(out + o, cap - o, "],\"more\":%s}",
                          n == SOTTOD_FETCH_PAGE || take < n ? "true" : "false");
    sotto_g_metrics.messages_delivered_total += take;
    sotto_store_envelopes_free(env, n);
    sotto_conn_respond(c, 200, JSON_CT, out, o, NULL);
    free(out);
}

static void handle_ack(sotto_conn *c, sotto_slice id)
{
    uint8_t ids[1][SOTTO_STORE_ENVELOPE_ID_BYTES];
    if (sotto_api_parse_id(ids[0], id.p, id.n) != 0) {
        sotto_conn_error(c, 400, "envelope id");
        return;
    }
    sotto_batch_ack(c, (const uint8_t (*)[SOTTO_STORE_ENVELOPE_ID_BYTES])ids, 1, true);
}

/* ---- dispatch ---- */

static bool method_is(const sotto_http_req *r, sotto_http_method m, sotto_conn *c)
{
    if (r->method == m)
        return true;
    sotto_conn_respond(c, 405, JSON_CT, LIT("{\"error\":\"method not allowed\"}"), NULL);
    return false;
}

void sotto_api_dispatch(sotto_conn *c, const sotto_http_req *req, bool authed,
                        const uint8_t *body, size_t body_len)
{
    sotto_slice seg[MAX_SEGMENTS];
    size_t n = split(req->path, seg);
    if (n > MAX_SEGMENTS) {
        sotto_conn_error(c, 404, "not found");
        return;
    }
    if (n == 1 && sotto_slice_eq(seg[0], "health")) {
        if (!method_is(req, SOTTO_HTTP_GET, c))
            return;
        if (c->srv->draining)
            sotto_conn_respond(c, 503, JSON_CT, LIT("{\"status\":\"draining\"}"), NULL);
        else
            sotto_conn_respond(c, 200, JSON_CT, LIT("{\"status\":\"ok\"}"), NULL);
        return;
    }
    if (n == 1 && sotto_slice_eq(seg[0], "metrics")) {
        if (!method_is(req, SOTTO_HTTP_GET, c))
            return;
        char buf[4096];
        size_t len = sotto_metrics_render(buf, sizeof buf);
        sotto_conn_respond(c, 200, "text/plain; version=0.0.4", buf, len, NULL);
        return;
    }
    if (n < 2 || !sotto_slice_eq(seg[0], "v1")) {
        sotto_conn_error(c, 404, "not found");
        return;
    }
    sotto_slice what = seg[1];
    if (n == 2 && sotto_slice_eq(what, "accounts")) {
        if (method_is(req, SOTTO_HTTP_POST, c))
            handle_register(c, body, body_len);
        return;
    }
    /* Linked devices: some routes without credentials (api_devices.c). */
    if (sotto_slice_eq(what, "provisioning") || sotto_slice_eq(what, "devices")) {
        sotto_api_devices_route(c, req->method, authed, what, seg + 2, n - 2, req->query, body,
                                body_len);
        return;
    }
    /* Everything below acts for an authenticated device. */
    if (!authed) {
        sotto_metrics_error(SOTTO_ERRK_AUTH);
        sotto_conn_error(c, 401, "authentication required");
        return;
    }
    if (n == 3 && sotto_slice_eq(what, "accounts")) {
        if (method_is(req, SOTTO_HTTP_GET, c))
            sotto_api_lookup(c, seg[2]);
        return;
    }
    if (sotto_slice_eq(what, "keys")) {
        if (n == 2) {
            if (req->method == SOTTO_HTTP_PUT)
                handle_keys_upload(c, body, body_len);
            else if (method_is(req, SOTTO_HTTP_GET, c))
                handle_keys_count(c);
            return;
        }
        if (n == 4) {
            if (method_is(req, SOTTO_HTTP_GET, c))
                handle_bundle(c, seg[2], seg[3]);
            return;
        }
    } else if (sotto_slice_eq(what, "messages")) {
        if (n == 2) {
            if (method_is(req, SOTTO_HTTP_GET, c))
                handle_fetch(c);
            return;
        }
        if (n == 3) {
            if (req->method == SOTTO_HTTP_PUT)
                handle_submit(c, seg[2], body, body_len);
            else if (method_is(req, SOTTO_HTTP_DELETE, c))
                handle_ack(c, seg[2]);
            return;
        }
    } else if (n == 2 && sotto_slice_eq(what, "websocket")) {
        if (!method_is(req, SOTTO_HTTP_GET, c))
            return;
        if (!req->upgrade_websocket) {
            sotto_conn_respond(c, 426, JSON_CT, LIT("{\"error\":\"WebSocket upgrade required\"}"),
                               "Upgrade: websocket\r\n");
            return;
        }
        if (!sotto_slice_eq(req->ws_version, "13") || req->ws_key.n != 24) {
            sotto_conn_error(c, 400, "bad WebSocket handshake");
            return;
        }
        if (sotto_ws_start(c, req) != 0)
            sotto_conn_error(c, 503, "out of memory");
        return;
    }
    sotto_conn_error(c, 404, "not found");
}
