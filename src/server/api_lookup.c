/* sottod: GET /v1/accounts/{username} (see api_lookup.h). */
#define _GNU_SOURCE
#include "api_lookup.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "server.h"

#define JSON_CT "application/json"

/* Writes {"error":"<why>"} into body; returns status. */
static int fail(int status, const char *why, char *body, size_t *len)
{
    int n = snprintf(body, SOTTOD_LOOKUP_BODY_MAX, "{\"error\":\"%s\"}", why);
    *len = n > 0 && (size_t)n < SOTTOD_LOOKUP_BODY_MAX ? (size_t)n : 0;
    return status;
}

int sotto_api_lookup_answer(sotto_store *st, sotto_ratelimit *rl,
                            const uint8_t who[SOTTO_STORE_UUID_BYTES], sotto_slice username,
                            uint64_t now_ms, char body[SOTTOD_LOOKUP_BODY_MAX], size_t *body_len)
{
    *body_len = 0;
    body[0] = '\0';
    /* Every lookup costs a token, found or not: that is what stops enumeration. */
    if (rl == NULL || !sotto_ratelimit_take(rl, who, SOTTO_STORE_UUID_BYTES, now_ms))
        return fail(429, "too many lookups", body, body_len);
    if (username.n == 0 || username.n > SOTTO_STORE_USERNAME_MAX)
        return fail(404, "no such account", body, body_len);
    char name[SOTTO_STORE_USERNAME_MAX + 1];
    memcpy(name, username.p, username.n);
    name[username.n] = '\0';
    sotto_store_account a;
    sotto_store_err e = sotto_store_find_username(st, name, &a);
    if (e == SOTTO_STORE_ERR_INVALID_USERNAME || e == SOTTO_STORE_ERR_NOT_FOUND)
        return fail(404, "no such account", body, body_len);
    if (e == SOTTO_STORE_ERR_BUSY)
        return fail(503, "busy, try again", body, body_len);
    if (e != SOTTO_STORE_OK)
        return fail(500, "internal error", body, body_len);
    sotto_store_device dev[SOTTO_STORE_MAX_DEVICES];
    size_t n = 0;
    e = sotto_store_list_devices(st, a.uuid, dev, &n);
    if (e == SOTTO_STORE_ERR_BUSY)
        return fail(503, "busy, try again", body, body_len);
    if (e != SOTTO_STORE_OK || n > SOTTO_STORE_MAX_DEVICES)
        return fail(500, "internal error", body, body_len);
    if (n == 0) /* an account is created with its first device: none means gone */
        return fail(404, "no such account", body, body_len);
    char us[SOTTO_STORE_UUID_STRING_BYTES];
    sotto_store_uuid_format(us, a.uuid);
    int w = snprintf(body, SOTTOD_LOOKUP_BODY_MAX, "{\"uuid\":\"%s\",\"devices\":[", us);
    size_t o = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(body + o, SOTTOD_LOOKUP_BODY_MAX - o, "%s%" PRIu32, i ? "," : "", dev[i].device_id);
        if (w < 0 || (size_t)w >= SOTTOD_LOOKUP_BODY_MAX - o)
            return fail(500, "internal error", body, body_len);
        o += (size_t)w;
    }
    if (SOTTOD_LOOKUP_BODY_MAX - o < 3)
        return fail(500, "internal error", body, body_len);
    body[o++] = ']';
    body[o++] = '}';
    body[o] = '\0';
    *body_len = o;
    return 200;
}

void sotto_api_lookup(sotto_conn *c, sotto_slice username)
{
    char body[SOTTOD_LOOKUP_BODY_MAX];
    size_t len;
    int status = sotto_api_lookup_answer(c->srv->store, c->srv->rl_lookup, c->uuid, username,
                                         sotto_srv_now_ms(c->srv), body, &len);
    const char *extra = NULL;
    if (status == 429) {
        sotto_metrics_error(SOTTO_ERRK_RATE_LIMITED);
        sotto_log(SOTTO_LOG_INFO, "rate_limited", " limit=lookup");
        extra = "Retry-After: " SOTTOD_LOOKUP_RETRY_S "\r\n";
    } else if (status >= 500) {
        sotto_metrics_error(SOTTO_ERRK_STORE);
        sotto_log(SOTTO_LOG_WARN, "store_error", " route=lookup status=%d", status);
    }
    sotto_conn_respond(c, status, JSON_CT, body, len, extra);
}
