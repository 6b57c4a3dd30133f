/* sottod: configuration (see config.h and docs/SERVER.md). */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sottod_limits.h"
#include "tls_rec.h"
#include "log.h"

void sotto_config_defaults(sotto_config *c)
{
    memset(c, 0, sizeof *c);
    c->log_level = SOTTO_LOG_INFO;
    c->max_connections = SOTTOD_MAX_CONNECTIONS;
    c->max_header_bytes_preauth = SOTTOD_MAX_HEADER_BYTES_PREAUTH;
    c->max_header_bytes = SOTTOD_MAX_HEADER_BYTES;
    c->max_body_preauth = SOTTOD_MAX_BODY_PREAUTH;
    c->max_body = SOTTOD_MAX_BODY;
    c->max_envelope = SOTTOD_MAX_ENVELOPE;
    c->max_ws_message = SOTTOD_MAX_WS_MESSAGE;
    c->register_burst = SOTTOD_REGISTER_BURST;
    c->register_per_hour = SOTTOD_REGISTER_PER_HOUR;
    c->auth_fail_burst = SOTTOD_AUTH_FAIL_BURST;
    c->auth_fail_per_hour = SOTTOD_AUTH_FAIL_PER_HOUR;
    c->batch_max_envelopes = SOTTOD_BATCH_MAX_ENVELOPES;
    c->batch_window_ms = SOTTOD_BATCH_WINDOW_MS;
    c->early_push = 1;
    c->early_hold_ms = SOTTOD_EARLY_HOLD_MS;
    c->tls_rekey_records = (uint32_t)SOTTO_TLS_REC_REKEY_AFTER;
    c->header_timeout_ms = SOTTOD_HEADER_TIMEOUT_MS;
    c->idle_timeout_ms = SOTTOD_IDLE_TIMEOUT_MS;
}

static int parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    if (v[0] < '0' || v[0] > '9')
        return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != 0 || x < lo || x > hi)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

static int set_listen(sotto_config *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v)
        return -1;
    const char *h = v;
    size_t hl = (size_t)(colon - v);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1]:port */
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof c->listen_host)
        return -1;
    uint32_t port;
    if (parse_u32(colon + 1, 0, 65535, &port) != 0)
        return -1;
    memcpy(c->listen_host, h, hl);
    c->listen_host[hl] = 0;
    c->listen_port = (uint16_t)port;
    return 0;
}

static int set_path(char *dst, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= SOTTOD_PATH_MAX)
        return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

typedef struct u32_key {
    const char *name;
    size_t off;
    uint32_t lo, hi;  /* hi is the hard cap: a setting may lower a limit, not lift it past */
} u32_key;

#define K(n, f, lo, hi) { n, offsetof(sotto_config, f), lo, hi }
static const u32_key u32_keys[] = {
    K("max_connections", max_connections, 1, 1000000),
    K("max_header_bytes_preauth", max_header_bytes_preauth, 512, SOTTOD_MAX_HEADER_BYTES_PREAUTH),
    K("max_header_bytes", max_header_bytes, 512, SOTTOD_MAX_HEADER_BYTES),
    K("max_body_preauth", max_body_preauth, 1024, SOTTOD_MAX_BODY_PREAUTH),
    K("max_body", max_body, 1024, SOTTOD_MAX_BODY),
    K("max_envelope", max_envelope, 64, SOTTOD_MAX_ENVELOPE),
    K("max_ws_message", max_ws_message, 256, SOTTOD_MAX_WS_MESSAGE),
    K("register_burst", register_burst, 0, 1000000),
    K("register_per_hour", register_per_hour, 0, 1000000),
    K("auth_fail_burst", auth_fail_burst, 1, 1000000),
    K("auth_fail_per_hour", auth_fail_per_hour, 0, 1000000),
    K("batch_max_envelopes", batch_max_envelopes, 1, SOTTOD_BATCH_MAX_ENVELOPES),
    K("batch_window_ms", batch_window_ms, 0, 1000),
    K("early_push", early_push, 0, 1),
    K("early_hold_ms", early_hold_ms, 0, 10000),
    K("tls_rekey_records", tls_rekey_records, 16, (uint32_t)SOTTO_TLS_REC_REKEY_AFTER),
    K("header_timeout_ms", header_timeout_ms, 100, 600000),
    K("idle_timeout_ms", idle_timeout_ms, 100, 86400000),
};
#undef K

int sotto_config_set(sotto_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    if (strcmp(key, "listen") == 0) {
        if (set_listen(c, value) == 0)
            return 0;
        snprintf(err, errlen, "listen: want HOST:PORT, got '%s'", value);
        return -1;
    }
    if (strcmp(key, "data") == 0 || strcmp(key, "cert_file") == 0 || strcmp(key, "key_file") == 0) {
        char *dst = key[0] == 'd' ? c->data_dir : key[0] == 'c' ? c->cert_file : c->key_file;
        if (set_path(dst, value) == 0)
            return 0;
        snprintf(err, errlen, "%s: bad path", key);
        return -1;
    }
    if (strcmp(key, "log_level") == 0) {
        int l = sotto_log_level_parse(value);
        if (l < 0) {
            snprintf(err, errlen, "log_level: want debug, info, warn or error");
            return -1;
        }
        c->log_level = l;
        return 0;
    }
    for (size_t i = 0; i < sizeof u32_keys / sizeof u32_keys[0]; i++) {
        const u32_key *k = &u32_keys[i];
        if (strcmp(key, k->name) != 0)
            continue;
        uint32_t v;
        if (parse_u32(value, k->lo, k->hi, &v) != 0) {
            snprintf(err, errlen, "%s: want an integer in %u..%u", key, k->lo, k->hi);
            return -1;
        }
        memcpy((char *)c + k->off, &v, sizeof v);
        return 0;
    }
    snprintf(err, errlen, "unknown setting '%s'", key);
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

int sotto_config_load_file(sotto_config *c, const char *path, int optional, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (optional && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048];
    unsigned lineno = 0;
    size_t total = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        total += n;
        if (total > SOTTOD_CONFIG_MAX_BYTES || (n == sizeof line - 1 && line[n - 1] != '\n')) {
            snprintf(err, errlen, "%s:%u: file or line too long", path, lineno);
            rc = -1;
            break;
        }
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = 0;
        char *s = trim(line);
        if (s[0] == 0 || s[0] == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%u: want key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char e2[256];
        if (sotto_config_set(c, trim(s), trim(eq + 1), e2, sizeof e2) != 0) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, e2);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int sotto_config_finish(sotto_config *c, char *err, size_t errlen)
{
    if (c->data_dir[0] == 0) {
        snprintf(err, errlen, "no data directory (--data DIR)");
        return -1;
    }
    if (c->listen_host[0] == 0) {
        snprintf(err, errlen, "no listen address (--listen HOST:PORT)");
        return -1;
    }
    if (c->cert_file[0] == 0 &&
        snprintf(c->cert_file, sizeof c->cert_file, "%s/sottod.crt", c->data_dir) >=
            (int)sizeof c->cert_file) {
        snprintf(err, errlen, "data path too long");
        return -1;
    }
    if (c->key_file[0] == 0 &&
        snprintf(c->key_file, sizeof c->key_file, "%s/sottod.key", c->data_dir) >=
            (int)sizeof c->key_file) {
        snprintf(err, errlen, "data path too long");
        return -1;
    }
    if (c->max_header_bytes_preauth > c->max_header_bytes)
        c->max_header_bytes_preauth = c->max_header_bytes;
    if (c->max_body_preauth > c->max_body)
        c->max_body_preauth = c->max_body;
    return 0;
}
