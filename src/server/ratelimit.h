/* sottod: named token-bucket rate limits per source address. The table is
 * fixed (SOTTOD_RATELIMIT_SLOTS per limit, allocated once); addresses live
 * only here, in memory, never in logs. */
#ifndef SOTTOD_RATELIMIT_H
#define SOTTOD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sotto_ratelimit sotto_ratelimit;

/* name: for logs and metrics ("register"); burst tokens, refilled at
 * per_hour tokens an hour. NULL on allocation failure. */
sotto_ratelimit *sotto_ratelimit_new(const char *name, uint32_t burst, uint32_t per_hour);
void sotto_ratelimit_free(sotto_ratelimit *rl);
const char *sotto_ratelimit_name(const sotto_ratelimit *rl);

/* Takes one token for addr (4 or 16 bytes) at time now_ms; false when empty. */
bool sotto_ratelimit_take(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len,
                          uint64_t now_ms);

/* Whether a token is there, without taking it. */
bool sotto_ratelimit_peek(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len,
                          uint64_t now_ms);

#endif
