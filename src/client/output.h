/* sotto client: how messages are printed (receive, history) and turned into
 * JSON (receive --json, history --json, the daemon). */
#ifndef SOTTO_CLIENT_OUTPUT_H
#define SOTTO_CLIENT_OUTPUT_H
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "store.h"

#define SOTTO_TIME_LEN 32

/* "2026-11-27T04:20:00.123Z" */
void sotto_time_iso(char out[SOTTO_TIME_LEN], int64_t ms);

/* {"id","peer","direction":"in"|"out","state","timestamp","message"} */
json_t *sotto_msg_json(const sotto_cmsg *m);
/* One line per message: TIME <- PEER: TEXT, or TIME -> PEER: TEXT [(pending)] */
void sotto_msg_print(FILE *f, const sotto_cmsg *m);
const char *sotto_msg_state_name(const sotto_cmsg *m);

/* A safety number as 12 groups of 5 digits, 4 groups a line:
 * "12345 67890 12345 67890\n..." (3 lines, each with prefix in front). */
void sotto_safety_print_number(FILE *f, const char *prefix, const char digits[SOTTO_SAFETY_DIGITS + 1]);
/* What `sotto safety` prints. */
void sotto_safety_print(FILE *f, const sotto_safety *s);
/* {"username","uuid","trust","safetyNumber","changed","newSafetyNumber"?,"held"} */
json_t *sotto_safety_json(const sotto_safety *s);

#endif
