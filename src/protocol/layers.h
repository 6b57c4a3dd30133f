/* Internal to the message layers (group*.c, sealed*.c, fingerprint*.c):
 * shared helpers. Not exported. */
#ifndef SOTTO_PROTOCOL_LAYERS_H
#define SOTTO_PROTOCOL_LAYERS_H
#include <stdlib.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>
#include "protocol/internal.h"
#include "crypto/primitives.h"

/* protobuf-c allocation from a sotto_arena (internal.h): small messages stay on
 * the stack, everything is released at once by sotto_arena_release. */
static inline void *layers_arena_alloc(void *ctx, size_t size)
{
    sotto_arena *a = ctx;
    const size_t need = (size + 15u) & ~(size_t)15u;
    if (need >= size && need <= SOTTO_ARENA_INLINE - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    if (a->n_heap >= SOTTO_ARENA_HEAP_MAX)
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p != NULL)
        a->heap[a->n_heap++] = p;
    return p;
}

static inline void layers_arena_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p; /* released all at once */
}

static inline ProtobufCAllocator sotto_arena_allocator(sotto_arena *a)
{
    ProtobufCAllocator al = { layers_arena_alloc, layers_arena_free, a };
    return al;
}

static inline void layers_be32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

static inline uint32_t layers_load_be32(const uint8_t p[4])
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
