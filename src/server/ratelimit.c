/* sottod: token buckets in a fixed, set-associative table (see ratelimit.h). */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "sottod_limits.h"

#define WAYS 8u  /* a key may sit in any of 8 slots after its hash */

typedef struct bucket {
    uint8_t key[16];
    uint8_t used;
    uint64_t last_ms;   /* last refill time */
    uint64_t tokens_m;  /* tokens * 1000 (milli-tokens) */
} bucket;

struct sotto_ratelimit {
    const char *name;
    uint64_t burst_m;
    uint32_t per_hour;
    uint8_t hkey[crypto_shorthash_KEYBYTES];
    bucket slots[SOTTOD_RATELIMIT_SLOTS];
};

sotto_ratelimit *sotto_ratelimit_new(const char *name, uint32_t burst, uint32_t per_hour)
{
    sotto_ratelimit *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->name = name;
    rl->burst_m = (uint64_t)burst * 1000u;
    rl->per_hour = per_hour;
    randombytes_buf(rl->hkey, sizeof rl->hkey);
    return rl;
}

void sotto_ratelimit_free(sotto_ratelimit *rl)
{
    if (rl != NULL) {
        sodium_memzero(rl, sizeof *rl);
        free(rl);
    }
}

const char *sotto_ratelimit_name(const sotto_ratelimit *rl)
{
    return rl->name;
}

static bucket *find(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len, uint64_t now_ms);

bool sotto_ratelimit_take(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len,
                          uint64_t now_ms)
{
    bucket *b = find(rl, addr, addr_len, now_ms);
    if (b->tokens_m < 1000u)
        return false;
    b->tokens_m -= 1000u;
    return true;
}

bool sotto_ratelimit_peek(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len,
                          uint64_t now_ms)
{
    return find(rl, addr, addr_len, now_ms)->tokens_m >= 1000u;
}

/* The address's bucket, refilled up to now (a new or evicted one starts full). */
static bucket *find(sotto_ratelimit *rl, const uint8_t *addr, size_t addr_len, uint64_t now_ms)
{
    uint8_t key[16] = { 0 };
    memcpy(key, addr, addr_len < 16 ? addr_len : 16);
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, sizeof key, rl->hkey);
    uint64_t hv;
    memcpy(&hv, h, sizeof hv);
    size_t base = (size_t)(hv % SOTTOD_RATELIMIT_SLOTS);
    bucket *b = NULL, *oldest = NULL;
    for (size_t w = 0; w < WAYS; w++) {
        bucket *s = &rl->slots[(base + w) % SOTTOD_RATELIMIT_SLOTS];
        if (s->used && memcmp(s->key, key, sizeof key) == 0) {
            b = s;
            break;
        }
        if (oldest == NULL || !s->used || (oldest->used && s->last_ms < oldest->last_ms))
            oldest = s;
    }
    if (b == NULL) {
        /* Evicting the stalest slot only ever gives that address a full
         * bucket again: bounded memory, worst case a little generosity. */
        b = oldest;
        memcpy(b->key, key, sizeof key);
        b->used = 1;
        b->last_ms = now_ms;
        b->tokens_m = rl->burst_m;
    }
    if (now_ms > b->last_ms && rl->per_hour > 0) {
        uint64_t add = (now_ms - b->last_ms) * rl->per_hour / 3600u; /* milli-tokens */
        if (b->tokens_m + add >= rl->burst_m) {
            b->tokens_m = rl->burst_m;
            b->last_ms = now_ms;
        } else if (add > 0) {
            /* Advance only by the time that was turned into tokens, so
             * frequent calls do not lose the fractional remainder. */
            b->tokens_m += add;
            b->last_ms += add * 3600u / rl->per_hour;
        }
    }
    return b;
}

size_t sotto_ratelimit_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        memcpy(key, a->s6_addr + 12, 4);
        return 4;
    }
    memcpy(key, a->s6_addr, 8);         /* the /64 */
    key[15] = 6;
    return 16;
}
