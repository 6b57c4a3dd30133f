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

#define SAFETY_GROUP 5
#define SAFETY_GROUPS_PER_LINE 4

void sotto_safety_print_number(FILE *f, const char *prefix, const char digits[SOTTO_SAFETY_DIGITS + 1])
{
    for (int g = 0; g < SOTTO_SAFETY_DIGITS / SAFETY_GROUP; g++) {
        if (g % SAFETY_GROUPS_PER_LINE == 0)
            fputs(prefix, f);
        fprintf(f, "%.5s%s", digits + g * SAFETY_GROUP, g % SAFETY_GROUPS_PER_LINE == SAFETY_GROUPS_PER_LINE - 1 ? "\n" : " ");
    }
}

void sotto_safety_print(FILE *f, const sotto_safety *s)
{
    fprintf(f, "%s (%s): identity key trusted (%s)\n", s->peer, s->uuid, sotto_trust_name(s->trust));
    fprintf(f, "safety number%s:\n", s->changed ? " of the trusted key" : "");
    sotto_safety_print_number(f, "  ", s->number);
    if (s->changed) {
        fprintf(f, "the identity key of %s has CHANGED; the new key is not trusted (%lld message%s held)\n", s->peer,
                (long long)s->held, s->held == 1 ? "" : "s");
        fprintf(f, "safety number of the new key:\n");
        sotto_safety_print_number(f, "  ", s->new_number);
        fprintf(f, "compare it with %s, then: sotto trust %s --safety-number \"DIGITS\"\n"
                   "(or, without comparing: sotto trust %s --accept-new-key)\n", s->peer, s->peer, s->peer);
    }
}

json_t *sotto_safety_json(const sotto_safety *s)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:b,s:I}", "username", s->peer, "uuid", s->uuid, "trust",
                          sotto_trust_name(s->trust), "safetyNumber", s->number, "changed", s->changed, "held",
                          (json_int_t)s->held);
    if (j != NULL && s->changed)
        json_object_set_new(j, "newSafetyNumber", json_string(s->new_number));
    return j;
}
