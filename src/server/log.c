/* sottod: structured logs (see log.h). */
#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static sotto_log_level g_level = SOTTO_LOG_INFO;

void sotto_log_set_level(sotto_log_level lvl)
{
    g_level = lvl;
}

int sotto_log_level_parse(const char *s)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void sotto_log(sotto_log_level lvl, const char *event, const char *fmt, ...)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    if (lvl < g_level)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], event);
    if (n < 0)
        return;
    size_t o = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt != NULL && fmt[0] != 0) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + o, sizeof line - o, fmt, ap);
        va_end(ap);
        if (m > 0)
            o += (size_t)m < sizeof line - o ? (size_t)m : sizeof line - o - 1;
    }
    /* One write per line; no embedded newlines survive. */
    for (size_t i = 0; i < o; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    if (o > sizeof line - 2)
        o = sizeof line - 2;
    line[o++] = '\n';
    fwrite(line, 1, o, stderr);
}
