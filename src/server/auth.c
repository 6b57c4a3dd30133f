/* sottod: HTTP Basic credentials checked with Argon2id on a worker thread,
 * cached per connection (see server.h). Basic user: "<uuid or username>.<device id>". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ratelimit.h"
#include "sottod_limits.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define AUTH_MAX_DECODED 256  /* "name.127:secret" fits easily */

typedef struct auth_job {
    uv_work_t w;
    sotto_conn *c;
    uint8_t tag[32];
    char user[SOTTO_STORE_USERNAME_MAX + 1];
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    bool by_uuid;
    uint32_t device;
    uint8_t secret[SOTTO_STORE_SECRET_MAX_BYTES];
    size_t secret_len;
    sotto_store_err rc;
    uint64_t removals;          /* sotto_srv.device_removals when the check started */
} auth_job;

void sotto_auth_tag(const sotto_srv *s, sotto_slice value, uint8_t tag[32])
{
    crypto_generichash(tag, 32, (const uint8_t *)value.p, value.n, s->tag_key, sizeof s->tag_key);
}

/* Parses "Basic base64(user.device:secret)". 0 or -1. */
static int parse_basic(sotto_slice v, auth_job *j)
{
    if (v.n < 6 || !sotto_slice_ieq((sotto_slice){ v.p, 6 }, "basic "))
        return -1;
    const char *b = v.p + 6;
    size_t bn = v.n - 6;
    while (bn > 0 && *b == ' ') {
        b++;
        bn--;
    }
    uint8_t dec[AUTH_MAX_DECODED];
    size_t dn = 0;
    if (bn == 0 || bn > (AUTH_MAX_DECODED / 3) * 4 ||
        sodium_base642bin(dec, sizeof dec, b, bn, NULL, &dn, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    int rc = -1;
    uint8_t *colon = memchr(dec, ':', dn);
    if (colon == NULL)
        goto out;
    size_t ulen = (size_t)(colon - dec);
    size_t slen = dn - ulen - 1;
    if (slen < SOTTO_STORE_SECRET_MIN_BYTES || slen > SOTTO_STORE_SECRET_MAX_BYTES)
        goto out;
    /* device id after the last '.' */
    size_t dot = ulen;
    while (dot > 0 && dec[dot - 1] != '.')
        dot--;
    if (dot == 0 || dot == ulen || ulen - dot > 3)
        goto out;
    uint32_t dev = 0;
    for (size_t i = dot; i < ulen; i++) {
        if (dec[i] < '0' || dec[i] > '9')
            goto out;
        dev = dev * 10u + (uint32_t)(dec[i] - '0');
    }
    if (dev < 1 || dev > SOTTO_STORE_MAX_DEVICE_ID)
        goto out;
    size_t nlen = dot - 1;
    if (nlen == 36) {
        char u[37];
        memcpy(u, dec, 36);
        u[36] = 0;
        if (sotto_store_uuid_parse(j->uuid, u) == SOTTO_STORE_OK)
            j->by_uuid = true;
    }
    if (!j->by_uuid) {
        if (nlen < SOTTO_STORE_USERNAME_MIN || nlen > SOTTO_STORE_USERNAME_MAX)
            goto out;
        memcpy(j->user, dec, nlen);
        j->user[nlen] = 0;
        if (strlen(j->user) != nlen)
            goto out;
    }
    j->device = dev;
    memcpy(j->secret, colon + 1, slen);
    j->secret_len = slen;
    rc = 0;
out:
    sodium_memzero(dec, sizeof dec);
    return rc;
}

static void auth_work(uv_work_t *w)
{
    auth_job *j = w->data;
    sotto_store *h = sotto_pool_take(&j->c->srv->pool);
    j->rc = SOTTO_STORE_OK;
    if (!j->by_uuid) {
        sotto_store_account a;
        j->rc = sotto_store_find_username(h, j->user, &a);
        if (j->rc == SOTTO_STORE_OK)
            memcpy(j->uuid, a.uuid, sizeof j->uuid);
        else if (j->rc == SOTTO_STORE_ERR_NOT_FOUND || j->rc == SOTTO_STORE_ERR_INVALID_USERNAME)
            j->rc = SOTTO_STORE_ERR_AUTH;
        /* An unknown name still costs one Argon2id, like a wrong secret, so
         * timing does not tell which names exist. */
        if (j->rc == SOTTO_STORE_ERR_AUTH) {
            static const uint8_t zero[SOTTO_STORE_UUID_BYTES];
            (void)sotto_store_authenticate(h, zero, j->device, j->secret, j->secret_len);
        }
    }
    if (j->rc == SOTTO_STORE_OK)
        j->rc = sotto_store_authenticate(h, j->uuid, j->device, j->secret, j->secret_len);
    sotto_pool_give(&j->c->srv->pool, h);
    sodium_memzero(j->secret, sizeof j->secret);
}

/* A device removed while its login was being checked: the check read the
 * secret before the removal committed, and the removal closed only the
 * connections already logged in. Looked up again (rare: only when some
 * device was removed meanwhile); gone means bad credentials. If the
 * removal finishes after this login, it closes this connection itself. */
static sotto_store_err still_there(sotto_srv *s, const auth_job *j)
{
    if (j->removals == s->device_removals)
        return SOTTO_STORE_OK;
    return sotto_store_device_exists(s->store, j->uuid, j->device);
}

static void auth_done(uv_work_t *w, int status)
{
    auth_job *j = w->data;
    sotto_conn *c = j->c;
    c->srv->jobs--;
    c->job = NULL;
    if (status == 0 && j->rc == SOTTO_STORE_OK)
        j->rc = still_there(c->srv, j);
    if (status == 0 && j->rc == SOTTO_STORE_OK) {
        c->authed = true;
        memcpy(c->auth_tag, j->tag, sizeof c->auth_tag);
        memcpy(c->uuid, j->uuid, sizeof c->uuid);
        c->device = j->device;
        sotto_conn_resume(c);
    } else if (!c->handle_closed) {
        bool busy = j->rc == SOTTO_STORE_ERR_BUSY || j->rc == SOTTO_STORE_ERR_DB ||
                    j->rc == SOTTO_STORE_ERR_NO_MEMORY || status != 0;
        sotto_metrics_error(busy ? SOTTO_ERRK_STORE : SOTTO_ERRK_AUTH);
        if (!busy)
            (void)sotto_ratelimit_take(c->srv->rl_auth_fail, c->addr, c->addr_len,
                                       sotto_srv_now_ms(c->srv));
        sotto_log(SOTTO_LOG_INFO, "auth_failed", " reason=\"%s\"",
                  busy ? "store" : "credentials");
        /* Close: the rest of the stream belongs to a request we refused. */
        c->authed = false;
        c->cur_keep_alive = false;
        c->cur_len = c->in_len;
        sotto_conn_error(c, busy ? 503 : 401, busy ? "try again" : "bad credentials");
    }
    sotto_srv *s = c->srv;
    sodium_memzero(j, sizeof *j);
    free(j);
    sotto_conn_unref(c);
    sotto_srv_check_drain(s);
}

void sotto_auth_start(sotto_conn *c, const sotto_http_req *req)
{
    sotto_srv *s = c->srv;
    auth_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        c->cur_len = c->in_len;
        c->cur_keep_alive = false;
        sotto_conn_error(c, 503, "out of memory");
        return;
    }
    j->c = c;
    j->w.data = j;
    sotto_auth_tag(s, req->authorization, j->tag);
    if (parse_basic(req->authorization, j) != 0) {
        free(j);
        sotto_metrics_error(SOTTO_ERRK_AUTH);
        c->authed = false;
        c->cur_len = c->in_len;
        c->cur_keep_alive = false;
        sotto_conn_error(c, 401, "malformed credentials");
        return;
    }
    if (!sotto_ratelimit_peek(s->rl_auth_fail, c->addr, c->addr_len, sotto_srv_now_ms(s))) {
        sodium_memzero(j, sizeof *j);
        free(j);
        sotto_metrics_error(SOTTO_ERRK_RATE_LIMITED);
        sotto_log(SOTTO_LOG_INFO, "rate_limited", " limit=%s", sotto_ratelimit_name(s->rl_auth_fail));
        c->authed = false;
        c->cur_len = c->in_len;
        c->cur_keep_alive = false;
        sotto_conn_respond(c, 429, "application/json", "{\"error\":\"too many failed logins\"}",
                           34, "Retry-After: 60\r\n");
        return;
    }
    c->paused = true;
    j->removals = s->device_removals;
    if (uv_queue_work(s->loop, &j->w, auth_work, auth_done) != 0) {
        sodium_memzero(j, sizeof *j);
        free(j);
        c->cur_len = c->in_len;
        c->cur_keep_alive = false;
        sotto_conn_error(c, 503, "try again");
        return;
    }
    s->jobs++;
    sotto_conn_ref(c);
    c->job = &j->w;
}
