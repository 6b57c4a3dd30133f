/* sottod: settings from the command line and DIR/sottod.conf (key = value). */
#ifndef SOTTOD_CONFIG_H
#define SOTTOD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SOTTOD_PATH_MAX 1024
#define SOTTOD_CONFIG_MAX_BYTES 65536   /* a config file larger than this is refused */

typedef struct sotto_config {
    char data_dir[SOTTOD_PATH_MAX];
    char listen_host[256];
    uint16_t listen_port;
    char cert_file[SOTTOD_PATH_MAX];    /* default DATA/sottod.crt */
    char key_file[SOTTOD_PATH_MAX];     /* default DATA/sottod.key */
    int log_level;
    uint32_t max_connections;
    uint32_t max_header_bytes_preauth;
    uint32_t max_header_bytes;
    uint32_t max_body_preauth;
    uint32_t max_body;
    uint32_t max_envelope;
    uint32_t max_ws_message;
    uint32_t register_burst;
    uint32_t register_per_hour;
    uint32_t auth_fail_burst;
    uint32_t auth_fail_per_hour;
    uint32_t batch_max_envelopes;
    uint32_t batch_window_ms;
    uint32_t early_push;            /* 1: push envelopes before their commit (batch.c) */
    uint32_t early_hold_ms;         /* a batch waits this long for early pushes' acks */
    uint32_t tls_rekey_records;     /* our KeyUpdate after this many records (tls_rec.h) */
    uint32_t header_timeout_ms;
    uint32_t idle_timeout_ms;
} sotto_config;

/* The built-in defaults (limits.h); data_dir and listen empty. */
void sotto_config_defaults(sotto_config *c);

/* Applies one `key = value` setting; returns 0, or -1 with err filled. */
int sotto_config_set(sotto_config *c, const char *key, const char *value, char *err, size_t errlen);

/* Reads a config file; a missing file is fine when optional. 0 or -1 with err. */
int sotto_config_load_file(sotto_config *c, const char *path, int optional, char *err, size_t errlen);

/* Fills cert/key paths from data_dir when unset; checks required fields. */
int sotto_config_finish(sotto_config *c, char *err, size_t errlen);

#endif
