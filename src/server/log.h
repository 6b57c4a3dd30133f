/* sottod: structured logs, one line per event on stderr:
 *   ts=2026-11-27T04:30:00Z level=info event=conn_open conns=3
 * Never log message bytes, envelope contents, secrets, who wrote to whom
 * (no sender/recipient pair) or addresses. Callers pass only counts, codes,
 * sizes and reasons. */
#ifndef SOTTOD_LOG_H
#define SOTTOD_LOG_H

typedef enum sotto_log_level {
    SOTTO_LOG_DEBUG = 0,
    SOTTO_LOG_INFO,
    SOTTO_LOG_WARN,
    SOTTO_LOG_ERROR,
} sotto_log_level;

void sotto_log_set_level(sotto_log_level lvl);
/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int sotto_log_level_parse(const char *s);

/* fmt holds further ` key=value` pairs (printf style, values without spaces
 * or quoted by the caller). */
void sotto_log(sotto_log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
