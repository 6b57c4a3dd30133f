/* sottod: linked devices (see api_devices.h, provisioning.h, docs/API.md). */
#define _GNU_SOURCE
#include "api_devices.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/xeddsa.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "server.h"

#define JSON_CT "application/json"
#define LIT(s) (s), (sizeof(s) - 1)
#define CLOSE_DEVICE_REMOVED 4403   /* WebSocket close code: the device was removed */

struct sotto_devices_state {
    sotto_prov *prov;
    sotto_ratelimit *rl;    /* mailboxes and device registrations, per source address */
};

static bool device_exists(sotto_conn *c);

/* ---- decoders (pure; the JSON bodies are decoded in api_json.c) ---- */

int sotto_api_parse_prov_address(uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES], sotto_slice s)
{
    memset(addr, 0, SOTTOD_PROV_ADDRESS_BYTES);
    size_t got = 0;
    if (s.n != SOTTOD_PROV_ADDRESS_CHARS ||
        sodium_base642bin(addr, SOTTOD_PROV_ADDRESS_BYTES, s.p, s.n, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got != SOTTOD_PROV_ADDRESS_BYTES) {
        memset(addr, 0, SOTTOD_PROV_ADDRESS_BYTES);
        return -1;
    }
    return 0;
}

int sotto_api_parse_wait(sotto_slice q, uint32_t *seconds)
{
    *seconds = SOTTOD_PROV_WAIT_DEFAULT_S;
    static const char key[] = "timeout=";
    size_t i = 0;
    while (i < q.n) {
        size_t st = i;
        while (i < q.n && q.p[i] != '&')
            i++;
        sotto_slice part = {q.p + st, i - st};
        i++;
        if (part.n < sizeof key - 1 || memcmp(part.p, key, sizeof key - 1) != 0)
            continue;
        size_t d = sizeof key - 1;
        if (part.n == d || part.n - d > 3)
            return -1;
        uint32_t v = 0;
        for (; d < part.n; d++) {
            if (part.p[d] < '0' || part.p[d] > '9')
                return -1;
            v = v * 10u + (uint32_t)(part.p[d] - '0');
        }
        if (v > SOTTOD_PROV_WAIT_MAX_S)
            return -1;
        *seconds = v;
    }
    return 0;
}

size_t sotto_api_devices_json(const sotto_store_device *d, size_t n,
                              char out[SOTTOD_DEVICES_BODY_MAX])
{
    size_t o = 0;
    int w = snprintf(out, SOTTOD_DEVICES_BODY_MAX, "{\"devices\":[");
    if (w < 0 || n > SOTTO_STORE_MAX_DEVICES)
        return 0;
    o = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(out + o, SOTTOD_DEVICES_BODY_MAX - o, "%s{\"id\":%" PRIu32 ",\"created\":%" PRId64 "}",
                     i ? "," : "", d[i].device_id, d[i].created);
        if (w < 0 || (size_t)w >= SOTTOD_DEVICES_BODY_MAX - o)
            return 0;
        o += (size_t)w;
    }
    w = snprintf(out + o, SOTTOD_DEVICES_BODY_MAX - o, "]}");
    if (w < 0 || (size_t)w >= SOTTOD_DEVICES_BODY_MAX - o)
        return 0;
    return o + (size_t)w;
}

/* ---- state ---- */

static struct sotto_devices_state *state(sotto_srv *s)
{
    if (s->devices == NULL) {
        struct sotto_devices_state *d = calloc(1, sizeof *d);
        if (d == NULL)
            return NULL;
        d->prov = sotto_prov_new();
        d->rl = sotto_ratelimit_new("provisioning", SOTTOD_PROV_BURST, SOTTOD_PROV_PER_HOUR);
        if (d->prov == NULL || d->rl == NULL) {
            sotto_prov_free(d->prov);
            sotto_ratelimit_free(d->rl);
            free(d);
            return NULL;
        }
        s->devices = d;
    }
    return s->devices;
}

void sotto_api_devices_free(sotto_srv *s)
{
    if (s->devices == NULL)
        return;
    sotto_prov_free(s->devices->prov);
    sotto_ratelimit_free(s->devices->rl);
    free(s->devices);
    s->devices = NULL;
}

static bool rate_ok(sotto_conn *c, struct sotto_devices_state *d)
{
    if (sotto_ratelimit_take(d->rl, c->addr, c->addr_len, sotto_srv_now_ms(c->srv)))
        return true;
    sotto_metrics_error(SOTTO_ERRK_RATE_LIMITED);
    sotto_log(SOTTO_LOG_INFO, "rate_limited", " limit=provisioning");
    sotto_conn_respond(c, 429, JSON_CT, LIT("{\"error\":\"too many requests\"}"),
                       "Retry-After: 60\r\n");
    return false;
}

static void respond_store_error(sotto_conn *c, sotto_store_err e)
{
    int status;
    const char *msg = sotto_api_store_status(e, &status);
    if (status >= 500) {
        sotto_metrics_error(SOTTO_ERRK_STORE);
        sotto_log(SOTTO_LOG_WARN, "store_error", " route=devices reason=\"%s\"",
                  sotto_store_strerror(e));
    }
    sotto_conn_error(c, status, msg);
}

/* {"message":"<base64>"} of a mailbox's message, then wiped. */
static void respond_message(sotto_conn *c, uint8_t *msg, size_t len)
{
    size_t b64 = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    size_t cap = b64 + 32;
    char *out = malloc(cap);
    if (out == NULL) {
        sodium_memzero(msg, len);
        free(msg);
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    int n = snprintf(out, cap, "{\"message\":\"");
    sodium_bin2base64(out + n, b64, msg, len, sodium_base64_VARIANT_ORIGINAL);
    size_t o = (size_t)n + b64 - 1;
    out[o++] = '"';
    out[o++] = '}';
    sodium_memzero(msg, len);
    free(msg);
    sotto_conn_respond(c, 200, JSON_CT, out, o, NULL);
    sodium_memzero(out, cap);
    free(out);
}

/* ---- provisioning mailboxes ---- */

static void prov_open(sotto_conn *c, struct sotto_devices_state *d)
{
    if (!rate_ok(c, d))
        return;
    uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES];
    if (sotto_prov_open(d->prov, sotto_srv_now_ms(c->srv), addr) != SOTTO_PROV_OK) {
        sotto_conn_respond(c, 503, JSON_CT, LIT("{\"error\":\"too many mailboxes, try again\"}"),
                           "Retry-After: 60\r\n");
        return;
    }
    char a[SOTTOD_PROV_ADDRESS_CHARS + 1];
    sodium_bin2base64(a, sizeof a, addr, sizeof addr, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char body[64];
    int n = snprintf(body, sizeof body, "{\"address\":\"%s\"}", a);
    sotto_conn_respond(c, 200, JSON_CT, body, (size_t)n, NULL);
}

static void prov_get(sotto_conn *c, struct sotto_devices_state *d, sotto_slice seg,
                     sotto_slice query)
{
    uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES];
    uint32_t wait_s;
    if (sotto_api_parse_prov_address(addr, seg) != 0) {
        sotto_conn_error(c, 404, "no such mailbox");
        return;
    }
    if (sotto_api_parse_wait(query, &wait_s) != 0) {
        sotto_conn_error(c, 400, "timeout: 0 to 60 seconds");
        return;
    }
    uint64_t now = sotto_srv_now_ms(c->srv);
    uint8_t *msg;
    size_t len;
    sotto_prov_status st = sotto_prov_take(d->prov, now, addr, &msg, &len);
    if (st == SOTTO_PROV_OK) {
        respond_message(c, msg, len);
        return;
    }
    if (st == SOTTO_PROV_NOT_FOUND) {
        sotto_conn_error(c, 404, "no such mailbox");
        return;
    }
    if (sotto_prov_has_waiter(d->prov, now, addr)) {
        sotto_conn_error(c, 409, "someone already waits on this mailbox");
        return;
    }
    if (wait_s == 0 || c->srv->draining) {
        sotto_conn_respond(c, 204, NULL, NULL, 0, NULL);
        return;
    }
    st = sotto_prov_wait(d->prov, now, addr, c, now + (uint64_t)wait_s * 1000u);
    if (st == SOTTO_PROV_WAITING) {
        sotto_conn_error(c, 409, "someone already waits on this mailbox");
        return;
    }
    if (st != SOTTO_PROV_OK) {
        sotto_conn_error(c, 404, "no such mailbox");
        return;
    }
    /* Answered by a PUT, or by the sweep (timeout, expiry, shutdown). The
     * connection is still read: a client that goes is noticed (EOF) and its
     * place freed at the next sweep, so it can wait again at once. */
    c->paused = true;
    c->long_poll = true;
    sotto_conn_ref(c);
}

static void prov_put(sotto_conn *c, struct sotto_devices_state *d, sotto_slice seg,
                     const uint8_t *body, size_t len)
{
    uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES];
    if (sotto_api_parse_prov_address(addr, seg) != 0) {
        sotto_conn_error(c, 404, "no such mailbox");
        return;
    }
    uint8_t msg[SOTTOD_PROV_MAX_MESSAGE];
    size_t mlen;
    const char *why;
    if (sotto_api_decode_prov_put(body, len, msg, &mlen, &why) != 0) {
        sotto_conn_error(c, strstr(why, "too large") ? 413 : 400, why);
        return;
    }
    uint64_t now = sotto_srv_now_ms(c->srv);
    void *w = NULL;
    sotto_prov_status st = sotto_prov_put(d->prov, now, addr, msg, mlen, &w);
    sodium_memzero(msg, sizeof msg);
    switch (st) {
    case SOTTO_PROV_OK: break;
    case SOTTO_PROV_NOT_FOUND: sotto_conn_error(c, 404, "no such mailbox"); return;
    case SOTTO_PROV_TAKEN: sotto_conn_error(c, 409, "the mailbox already holds a message"); return;
    case SOTTO_PROV_TOO_LARGE: sotto_conn_error(c, 413, "message too large"); return;
    default: sotto_conn_error(c, 503, "try again"); return;
    }
    sotto_conn *waiter = w;
    if (waiter != NULL) {
        /* A waiter whose connection went keeps the message for its next GET. */
        if (sotto_conn_alive(waiter)) {
            uint8_t *m;
            size_t ml;
            if (sotto_prov_take(d->prov, now, addr, &m, &ml) == SOTTO_PROV_OK)
                respond_message(waiter, m, ml);
            else
                sotto_conn_respond(waiter, 204, NULL, NULL, 0, NULL);
        }
        sotto_conn_unref(waiter);
    }
    sotto_conn_respond(c, 204, NULL, NULL, 0, NULL);
}

static bool sweep_waiter(void *ctx, void *w, sotto_prov_status why)
{
    sotto_srv *s = ctx;
    sotto_conn *c = w;
    bool keep = false;
    if (c->handle_closed || c->closing) {
        /* nothing to answer */
    } else if (why == SOTTO_PROV_EXPIRED) {
        sotto_conn_error(c, 404, "no such mailbox");
    } else if (why == SOTTO_PROV_TIMEOUT) {
        sotto_conn_respond(c, 204, NULL, NULL, 0, NULL);
    } else if (s->draining) {
        sotto_conn_error(c, 503, "server shutting down");
    } else {
        keep = true;
    }
    if (!keep)
        sotto_conn_unref(c);
    return keep;
}

void sotto_api_devices_sweep(sotto_srv *s, uint64_t now_ms)
{
    if (s->devices != NULL)
        sotto_prov_sweep(s->devices->prov, now_ms, sweep_waiter, s);
}

/* ---- link tokens and new devices ---- */

static void link_token(sotto_conn *c, struct sotto_devices_state *d)
{
    if (!device_exists(c))
        return;
    uint8_t tok[SOTTOD_LINK_TOKEN_BYTES];
    if (sotto_prov_token_new(d->prov, sotto_srv_now_ms(c->srv), c->uuid, c->device, tok) !=
        SOTTO_PROV_OK) {
        sotto_conn_respond(c, 429, JSON_CT, LIT("{\"error\":\"too many link tokens outstanding\"}"),
                           "Retry-After: 600\r\n");
        return;
    }
    char t[SOTTOD_LINK_TOKEN_CHARS + 1];
    sodium_bin2base64(t, sizeof t, tok, sizeof tok, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char body[128];
    int n = snprintf(body, sizeof body, "{\"token\":\"%s\",\"expiresIn\":%u}", t,
                     SOTTOD_LINK_TOKEN_TTL_MS / 1000u);
    sodium_memzero(tok, sizeof tok);
    sodium_memzero(t, sizeof t);
    sotto_conn_respond(c, 200, JSON_CT, body, (size_t)n, NULL);
    sodium_memzero(body, sizeof body);
}

typedef struct link_job {
    uv_work_t w;
    sotto_conn *c;
    sotto_api_link_device r;
    uint8_t account[SOTTO_STORE_UUID_BYTES];
    size_t slot;
    uint32_t device;
    sotto_store_err rc;
    const char *why;            /* a signature that does not verify: 400 */
} link_job;

static bool sig_ok(const uint8_t ik[SOTTO_STORE_EC_KEY_BYTES], const uint8_t *msg, size_t len,
                   const uint8_t sig[SOTTO_STORE_SIGNATURE_BYTES])
{
    return ik[0] == SOTTO_STORE_EC_KEY_TYPE && sotto_xeddsa_verify(ik + 1, msg, len, sig) == 0;
}

static void link_work(uv_work_t *w)
{
    link_job *j = w->data;
    sotto_store *h = sotto_pool_take(&j->c->srv->pool);
    sotto_store_account a;
    j->rc = sotto_store_get_account(h, j->account, &a);
    if (j->rc == SOTTO_STORE_OK) {
        if (!sig_ok(a.identity_key, j->r.signed_prekey.key, sizeof j->r.signed_prekey.key,
                    j->r.signed_prekey.signature))
            j->why = "signedPreKey: signature does not verify";
        else if (!sig_ok(a.identity_key, j->r.last_resort.key, sizeof j->r.last_resort.key,
                         j->r.last_resort.signature))
            j->why = "pqLastResortPreKey: signature does not verify";
    }
    if (j->rc == SOTTO_STORE_OK && j->why == NULL) {
        sotto_store_prekeys keys = {.signed_prekey = &j->r.signed_prekey,
                                    .last_resort = &j->r.last_resort};
        j->rc = sotto_store_add_device(h, j->account, j->r.secret, j->r.secret_len,
                                       j->r.registration_id, &keys, &j->device);
    }
    sotto_pool_give(&j->c->srv->pool, h);
    sodium_memzero(j->r.secret, sizeof j->r.secret);
}

static void link_done(uv_work_t *w, int status)
{
    link_job *j = w->data;
    sotto_conn *c = j->c;
    sotto_srv *s = c->srv;
    s->jobs--;
    c->job = NULL;
    bool ok = status == 0 && j->rc == SOTTO_STORE_OK && j->why == NULL;
    sotto_batch_devices_changed(s, j->account);   /* whether or not it was added */
    if (s->devices != NULL)
        sotto_prov_token_finish(s->devices->prov, j->slot, ok);
    if (ok) /* the account's other sockets learn of it (the new device has none yet) */
        sotto_ws_devices_changed(s, j->account, j->device);
    if (!c->handle_closed) {
        if (status != 0) {
            sotto_conn_error(c, 503, "try again");
        } else if (j->rc != SOTTO_STORE_OK) {
            respond_store_error(c, j->rc);
        } else if (j->why != NULL) {
            sotto_conn_error(c, 400, j->why);
        } else {
            char u[SOTTO_STORE_UUID_STRING_BYTES], body[96];
            sotto_store_uuid_format(u, j->account);
            int n = snprintf(body, sizeof body, "{\"uuid\":\"%s\",\"deviceId\":%" PRIu32 "}", u,
                             j->device);
            sotto_log(SOTTO_LOG_INFO, "device_linked", NULL);
            sotto_conn_respond(c, 200, JSON_CT, body, (size_t)n, NULL);
        }
    }
    sodium_memzero(j, sizeof *j);
    free(j);
    sotto_conn_unref(c);
    sotto_srv_check_drain(s);
}

static void add_device(sotto_conn *c, struct sotto_devices_state *d, const uint8_t *body,
                       size_t len)
{
    if (!rate_ok(c, d))
        return;
    link_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    const char *why;
    if (sotto_api_decode_link_device(body, len, &j->r, &why) != 0) {
        free(j);
        sotto_conn_error(c, 400, why);
        return;
    }
    sotto_prov_status st = sotto_prov_token_claim(d->prov, sotto_srv_now_ms(c->srv), j->r.token,
                                                  j->account, &j->slot);
    sodium_memzero(j->r.token, sizeof j->r.token);
    if (st != SOTTO_PROV_OK) {
        sodium_memzero(j, sizeof *j);
        free(j);
        sotto_conn_error(c, 403, "link token unknown, expired or used");
        return;
    }
    j->c = c;
    j->w.data = j;
    c->paused = true;
    if (uv_queue_work(c->srv->loop, &j->w, link_work, link_done) != 0) {
        sotto_prov_token_finish(d->prov, j->slot, false);
        sodium_memzero(j, sizeof *j);
        free(j);
        sotto_conn_error(c, 503, "try again");
        return;
    }
    c->srv->jobs++;
    sotto_conn_ref(c);
    c->job = &j->w;
}

/* ---- listing and removing ---- */

static bool listed(const sotto_store_device *dev, size_t n, uint32_t device)
{
    for (size_t i = 0; i < n; i++)
        if (dev[i].device_id == device)
            return true;
    return false;
}

/* A connection's cached authentication may outlive its device: an Argon2id
 * check that read the device's secret before DELETE /v1/devices committed
 * finishes after the removal closed the device's connections. Acting for
 * the account (a link token, a removal, the list) needs the device to still
 * be there; otherwise 401 and the connection closes. */
static void refuse_removed(sotto_conn *c)
{
    sotto_metrics_error(SOTTO_ERRK_AUTH);
    c->authed = false;
    c->cur_keep_alive = false;
    sotto_conn_error(c, 401, "bad credentials");
}

static bool device_exists(sotto_conn *c)
{
    sotto_store_err e = sotto_store_device_exists(c->srv->store, c->uuid, c->device);
    if (e == SOTTO_STORE_ERR_NOT_FOUND)
        refuse_removed(c);
    else if (e != SOTTO_STORE_OK)
        respond_store_error(c, e);
    return e == SOTTO_STORE_OK;
}

static void list_devices(sotto_conn *c)
{
    sotto_store_device dev[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    sotto_store_err e = sotto_store_list_devices(c->srv->store, c->uuid, dev, &n);
    if (e != SOTTO_STORE_OK && e != SOTTO_STORE_ERR_NOT_FOUND) {
        respond_store_error(c, e);
        return;
    }
    if (e != SOTTO_STORE_OK || !listed(dev, n, c->device)) {
        refuse_removed(c);
        return;
    }
    char body[SOTTOD_DEVICES_BODY_MAX];
    size_t len = sotto_api_devices_json(dev, n, body);
    if (len == 0) {
        sotto_conn_error(c, 500, "internal error");
        return;
    }
    sotto_conn_respond(c, 200, JSON_CT, body, len, NULL);
}

typedef struct remove_job {
    uv_work_t w;
    sotto_conn *c;
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    uint32_t device;
    uint32_t by;                /* the requesting device */
    sotto_store_err rc;
} remove_job;

static void remove_work(uv_work_t *w)
{
    remove_job *j = w->data;
    sotto_store *h = sotto_pool_take(&j->c->srv->pool);
    /* The requester must still be a device of the account (see device_exists). */
    sotto_store_device dev[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    j->rc = sotto_store_list_devices(h, j->uuid, dev, &n);
    if (j->rc == SOTTO_STORE_ERR_NOT_FOUND || (j->rc == SOTTO_STORE_OK && !listed(dev, n, j->by)))
        j->rc = SOTTO_STORE_ERR_AUTH;
    if (j->rc == SOTTO_STORE_OK)
        j->rc = sotto_store_remove_device(h, j->uuid, j->device);
    sotto_pool_give(&j->c->srv->pool, h);
}

/* The removed device's credentials are gone; its open connections (whose
 * authentication is cached) are closed too. */
static void close_device(sotto_srv *s, const sotto_conn *except, const uint8_t uuid[16],
                         uint32_t device)
{
    for (sotto_conn *x = s->conns, *next; x != NULL; x = next) {
        next = x->next;
        if (x == except || x->device != device || !sotto_conn_alive(x) ||
            memcmp(x->uuid, uuid, SOTTO_STORE_UUID_BYTES) != 0)
            continue;
        if (x->state == SOTTO_CONN_WS)
            sotto_ws_close(x, CLOSE_DEVICE_REMOVED, "device removed");
        else if (x->authed)
            sotto_conn_close(x);
    }
}

static void remove_done(uv_work_t *w, int status)
{
    remove_job *j = w->data;
    sotto_conn *c = j->c;
    sotto_srv *s = c->srv;
    s->jobs--;
    sotto_batch_devices_changed(s, j->uuid);
    if (status == 0 && j->rc == SOTTO_STORE_OK) {
        s->device_removals++;       /* a login in flight re-checks its device (auth.c) */
        sotto_log(SOTTO_LOG_INFO, "device_removed", NULL);
        close_device(s, c, j->uuid, j->device);
        /* Link tokens the removed device asked for die with it. */
        if (s->devices != NULL)
            sotto_prov_token_revoke(s->devices->prov, j->uuid, j->device);
        sotto_ws_devices_changed(s, j->uuid, j->by);
    }
    if (!c->handle_closed) {
        if (status != 0)
            sotto_conn_error(c, 503, "try again");
        else if (j->rc == SOTTO_STORE_ERR_AUTH)
            refuse_removed(c);
        else if (j->rc == SOTTO_STORE_ERR_NOT_FOUND)
            sotto_conn_error(c, 404, "no such device");
        else if (j->rc != SOTTO_STORE_OK)
            respond_store_error(c, j->rc);
        else
            sotto_conn_respond(c, 204, NULL, NULL, 0, NULL);
    }
    free(j);
    sotto_conn_unref(c);
    sotto_srv_check_drain(s);
}

static void remove_device(sotto_conn *c, sotto_slice id)
{
    uint32_t device = 0;
    bool ok = id.n > 0 && id.n <= 3;
    for (size_t i = 0; ok && i < id.n; i++) {
        ok = id.p[i] >= '0' && id.p[i] <= '9';
        device = device * 10u + (uint32_t)(id.p[i] - '0');
    }
    if (!ok || device < 1 || device > SOTTO_STORE_MAX_DEVICE_ID) {
        sotto_conn_error(c, 400, "device: 1 to 127");
        return;
    }
    if (device == SOTTO_STORE_PRIMARY_DEVICE_ID) {
        sotto_conn_error(c, 403, "the primary device cannot be removed");
        return;
    }
    if (device == c->device) {
        sotto_conn_error(c, 403, "a device cannot remove itself: remove it from another device");
        return;
    }
    remove_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    memcpy(j->uuid, c->uuid, sizeof j->uuid);
    j->device = device;
    j->by = c->device;
    j->c = c;
    j->w.data = j;
    c->paused = true;
    if (uv_queue_work(c->srv->loop, &j->w, remove_work, remove_done) != 0) {
        free(j);
        sotto_conn_error(c, 503, "try again");
        return;
    }
    c->srv->jobs++;
    sotto_conn_ref(c);
}

/* ---- routes ---- */

static bool method_is(sotto_http_method have, sotto_http_method want, sotto_conn *c)
{
    if (have == want)
        return true;
    sotto_conn_respond(c, 405, JSON_CT, LIT("{\"error\":\"method not allowed\"}"), NULL);
    return false;
}

static bool need_auth(sotto_conn *c, bool authed)
{
    if (authed)
        return true;
    sotto_metrics_error(SOTTO_ERRK_AUTH);
    sotto_conn_error(c, 401, "authentication required");
    return false;
}

void sotto_api_devices_route(sotto_conn *c, sotto_http_method method, bool authed,
                             sotto_slice what, const sotto_slice *seg, size_t n_seg,
                             sotto_slice query, const uint8_t *body, size_t body_len)
{
    struct sotto_devices_state *d = state(c->srv);
    if (d == NULL) {
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    if (sotto_slice_eq(what, "provisioning")) {
        if (n_seg == 0) {
            if (method_is(method, SOTTO_HTTP_POST, c))
                prov_open(c, d);
        } else if (n_seg == 1 && method == SOTTO_HTTP_PUT) {
            if (need_auth(c, authed))
                prov_put(c, d, seg[0], body, body_len);
        } else if (n_seg == 1) {
            if (method_is(method, SOTTO_HTTP_GET, c))
                prov_get(c, d, seg[0], query);
        } else {
            sotto_conn_error(c, 404, "not found");
        }
        return;
    }
    /* devices */
    if (n_seg == 0 && method == SOTTO_HTTP_POST) {
        add_device(c, d, body, body_len);
    } else if (n_seg == 0) {
        if (method_is(method, SOTTO_HTTP_GET, c) && need_auth(c, authed))
            list_devices(c);
    } else if (n_seg == 1 && sotto_slice_eq(seg[0], "link")) {
        if (method_is(method, SOTTO_HTTP_POST, c) && need_auth(c, authed))
            link_token(c, d);
    } else if (n_seg == 1) {
        if (method_is(method, SOTTO_HTTP_DELETE, c) && need_auth(c, authed))
            remove_device(c, seg[0]);
    } else {
        sotto_conn_error(c, 404, "not found");
    }
}
