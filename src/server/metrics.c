/* sottod: Prometheus text exposition (see metrics.h). */
#include "metrics.h"

#include <inttypes.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdio.h>

sotto_metrics sotto_g_metrics;

static const char *const kind_names[SOTTO_ERRK_COUNT_] = {
    [SOTTO_ERRK_HTTP_MALFORMED] = "http_malformed",
    [SOTTO_ERRK_HTTP_TOO_LARGE] = "http_too_large",
    [SOTTO_ERRK_AUTH] = "auth",
    [SOTTO_ERRK_RATE_LIMITED] = "rate_limited",
    [SOTTO_ERRK_TLS] = "tls",
    [SOTTO_ERRK_WS_PROTOCOL] = "ws_protocol",
    [SOTTO_ERRK_WS_TOO_LARGE] = "ws_too_large",
    [SOTTO_ERRK_STORE] = "store",
    [SOTTO_ERRK_TIMEOUT] = "timeout",
    [SOTTO_ERRK_CONN_LIMIT] = "conn_limit",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == SOTTO_ERRK_COUNT_, "kind names");

void sotto_metrics_error(sotto_err_kind k)
{
    if ((unsigned)k < SOTTO_ERRK_COUNT_)
        sotto_g_metrics.errors[k]++;
}

#define PUT(...)                                                      \
    do {                                                              \
        int n_ = snprintf(out + o, cap - o, __VA_ARGS__);             \
        if (n_ < 0 || (size_t)n_ >= cap - o)                          \
            return o;                                                 \
        o += (size_t)n_;                                              \
    } while (0)

size_t sotto_metrics_render(char *out, size_t cap)
{
    const sotto_metrics *m = &sotto_g_metrics;
    size_t o = 0;
    if (cap == 0)
        return 0;
    out[0] = 0;
    PUT("# TYPE sottod_connections_total counter\nsottod_connections_total %" PRIu64 "\n",
        m->connections_total);
    PUT("# TYPE sottod_connections_open gauge\nsottod_connections_open %" PRIu64 "\n",
        m->connections_open);
    PUT("# TYPE sottod_websockets_open gauge\nsottod_websockets_open %" PRIu64 "\n",
        m->websockets_open);
    PUT("# TYPE sottod_requests_total counter\nsottod_requests_total %" PRIu64 "\n",
        m->requests_total);
    PUT("# TYPE sottod_messages_relayed_total counter\nsottod_messages_relayed_total %" PRIu64 "\n",
        m->messages_relayed_total);
    PUT("# TYPE sottod_messages_delivered_total counter\nsottod_messages_delivered_total %" PRIu64
        "\n", m->messages_delivered_total);
    PUT("# TYPE sottod_messages_acked_total counter\nsottod_messages_acked_total %" PRIu64 "\n",
        m->messages_acked_total);
    PUT("# HELP sottod_messages_pushed_early_total envelopes pushed to their device before"
        " their commit\n# TYPE sottod_messages_pushed_early_total counter\n"
        "sottod_messages_pushed_early_total %" PRIu64 "\n", m->messages_pushed_early_total);
    PUT("# HELP sottod_messages_unwritten_total envelopes acknowledged by their device before"
        " their commit, so never written\n# TYPE sottod_messages_unwritten_total counter\n"
        "sottod_messages_unwritten_total %" PRIu64 "\n", m->messages_unwritten_total);
    PUT("# TYPE sottod_messages_expired_total counter\nsottod_messages_expired_total %" PRIu64 "\n",
        m->messages_expired_total);
    uint64_t q_in = m->queue_depth_at_start + m->messages_relayed_total;
    uint64_t q_out = m->messages_acked_total + m->messages_expired_total;
    uint64_t depth = q_in > q_out ? q_in - q_out : 0;
    PUT("# HELP sottod_queue_depth_total envelopes queued: the database's count at start plus"
        " relayed minus acked and expired since\n"
        "# TYPE sottod_queue_depth_total gauge\nsottod_queue_depth_total %" PRIu64 "\n", depth);
    PUT("# TYPE sottod_commit_batches_total counter\nsottod_commit_batches_total %" PRIu64 "\n",
        m->batches_total);
    PUT("# TYPE sottod_accounts_registered_total counter\nsottod_accounts_registered_total %" PRIu64
        "\n", m->accounts_registered_total);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    PUT("# HELP sottod_heap_bytes bytes allocated on the heap (glibc, all threads)\n"
        "# TYPE sottod_heap_bytes gauge\nsottod_heap_bytes %zu\n", mi.uordblks + mi.hblkhd);
#endif
    PUT("# TYPE sottod_errors_total counter\n");
    for (int k = 0; k < SOTTO_ERRK_COUNT_; k++)
        PUT("sottod_errors_total{kind=\"%s\"} %" PRIu64 "\n", kind_names[k], m->errors[k]);
    return o;
}
