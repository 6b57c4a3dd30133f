/* sottod: named token-bucket rate limits per source address. The table is
 * fixed (SOTTOD_RATELIMIT_SLOTS per limit, allocated once); addresses live
 * only here, in memory, never in logs. */
#ifndef SOTTOD_RATELIMIT_H
#define SOTTOD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

typedef struct sotto_ratelimit sotto_ratelimit;

/* name: for logs and metrics ("register"); burst tokens, refilled at
 * per_hour tokens an hour. NULL on allocation failure. */
sotto_ratelimit *sotto_ratelimit_new(const char *name, uint32_t burst, uint32_t per_hour);
void sotto_ratelimit_free(sotto_ratelimit *rl);
const char *sotto_ratelimit_name(const sotto_ratelimit *rl);

/* Takes one token for addr (4 or 16 bytes) at time now_ms; false when empty. */
bool sotto_ratelimit_take(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len,
                          uint64_t now_ms);

/* The key a peer is limited under, from its socket address: an IPv4
 * address (also when mapped into IPv6) as its 4 bytes, an IPv6 address as
 * its /64 prefix (8 bytes: one subscriber's network, not one of its 2^64
 * addresses), marked so it never equals an IPv4 key. Returns the key's
 * length, 0 for any other family. */
size_t sotto_ratelimit_key(const struct sockaddr *sa, uint8_t key[16]);

/* Whether a token is there, without taking it. */
bool sotto_ratelimit_peek(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len,
                          uint64_t now_ms);

#endif
