#define _POSIX_C_SOURCE 200809L
#include "output.h"

#include <string.h>
#include <time.h>

void sotto_time_iso(char out[SOTTO_TIME_LEN], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, SOTTO_TIME_LEN, "-");
        return;
    }
    char d[24];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, SOTTO_TIME_LEN, "%s.%03dZ", d, (int)(ms % 1000));
}

const char *sotto_msg_state_name(const sotto_cmsg *m)
{
    if (!m->outgoing)
        return m->state == SOTTO_MSG_NEW ? "new" : "read";
    switch (m->state) {
    case SOTTO_MSG_PENDING: return "pending";
    case SOTTO_MSG_SENT: return "sent";
    default: return "failed";
    }
}

json_t *sotto_msg_json(const sotto_cmsg *m)
{
    char ts[SOTTO_TIME_LEN];
    sotto_time_iso(ts, m->ts);
    return json_pack("{s:I,s:s,s:s,s:s,s:I,s:s,s:s%}", "id", (json_int_t)m->id, "peer", m->peer, "direction",
                     m->outgoing ? "out" : "in", "state", sotto_msg_state_name(m), "timestamp", (json_int_t)m->ts,
                     "time", ts, "message", (const char *)m->body, m->body_len);
}

void sotto_msg_print(FILE *f, const sotto_cmsg *m)
{
    char ts[SOTTO_TIME_LEN];
    sotto_time_iso(ts, m->ts);
    fprintf(f, "%s %s %s: ", ts, m->outgoing ? "->" : "<-", m->peer);
    fwrite(m->body, 1, m->body_len, f);
    if (m->outgoing && m->state != SOTTO_MSG_SENT)
        fprintf(f, " (%s)", sotto_msg_state_name(m));
    fputc('\n', f);
}
