/* sottod: Prometheus counters (no per-user labels). Updated on the loop
 * thread only; rendered by GET /metrics. */
#ifndef SOTTOD_METRICS_H
#define SOTTOD_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum sotto_err_kind {
    SOTTO_ERRK_HTTP_MALFORMED = 0, /* 400/411/414/505 from the parser */
    SOTTO_ERRK_HTTP_TOO_LARGE,     /* 413/431 */
    SOTTO_ERRK_AUTH,               /* 401 */
    SOTTO_ERRK_RATE_LIMITED,       /* 429 */
    SOTTO_ERRK_TLS,                /* handshake or record failure */
    SOTTO_ERRK_WS_PROTOCOL,        /* close 1002/1003/1007 */
    SOTTO_ERRK_WS_TOO_LARGE,       /* close 1009 */
    SOTTO_ERRK_STORE,              /* a store call failed (500/503) */
    SOTTO_ERRK_TIMEOUT,            /* header or idle timeout */
    SOTTO_ERRK_CONN_LIMIT,         /* refused: too many connections */
    SOTTO_ERRK_COUNT_
} sotto_err_kind;

typedef struct sotto_metrics {
    uint64_t connections_total;
    uint64_t connections_open;
    uint64_t websockets_open;
    uint64_t requests_total;
    uint64_t messages_relayed_total;  /* envelopes durably queued */
    uint64_t messages_delivered_total;/* envelopes pushed or fetched */
    uint64_t messages_acked_total;
    uint64_t messages_pushed_early_total; /* pushed before their commit (batch.c) */
    uint64_t messages_unwritten_total;    /* acked before their commit: never written */
    uint64_t messages_expired_total;
    uint64_t queue_depth_at_start;    /* envelopes in the database when sottod started */
    uint64_t batches_total;
    uint64_t accounts_registered_total;
    uint64_t errors[SOTTO_ERRK_COUNT_];
} sotto_metrics;

extern sotto_metrics sotto_g_metrics;

void sotto_metrics_error(sotto_err_kind k);
/* Writes the text exposition format; returns bytes written (truncated to cap). */
size_t sotto_metrics_render(char *out, size_t cap);

#endif
