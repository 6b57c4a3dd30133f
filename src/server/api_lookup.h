/* sottod: GET /v1/accounts/{username} (authenticated): who is behind a
 * username, without side effects. Answers 200 {"uuid":"…","devices":[1,…]}
 * or 404; reads the loop's store handle only (no prekey is consumed, nothing
 * is written). Lookups are rate-limited per authenticated account, so that a
 * single account cannot enumerate usernames. */
#ifndef SOTTOD_API_LOOKUP_H
#define SOTTOD_API_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "ratelimit.h"
#include "store.h"

#define SOTTOD_LOOKUP_BURST       100u  /* lookups an account may make at once */
#define SOTTOD_LOOKUP_PER_HOUR    600u  /* refill per account */
#define SOTTOD_LOOKUP_RETRY_S     "6"   /* Retry-After: one token comes back every 6 s */
/* {"uuid":"<36>","devices":[d,…]}: device ids are at most 3 digits. */
#define SOTTOD_LOOKUP_BODY_MAX    (64u + SOTTO_STORE_UUID_STRING_BYTES + 4u * SOTTO_STORE_MAX_DEVICES)

typedef struct sotto_conn sotto_conn;

/* The whole answer without a connection (tested on its own): takes a token
 * of rl for the account who, looks username up in st, and writes the JSON
 * body (success or {"error":…}) into body. Returns the HTTP status: 200, 404
 * (no such account, or a name that breaks the username rule), 429 (limit, or
 * rl NULL), 503 (store busy) or 500. */
int sotto_api_lookup_answer(sotto_store *st, sotto_ratelimit *rl,
                            const uint8_t who[SOTTO_STORE_UUID_BYTES], sotto_slice username,
                            uint64_t now_ms, char body[SOTTOD_LOOKUP_BODY_MAX], size_t *body_len);

/* The route: answers c's current request with sotto_conn_respond, limited
 * by the server's rl_lookup (made and freed with the server). */
void sotto_api_lookup(sotto_conn *c, sotto_slice username);

#endif
