/* Internal to the message layers (group*.c, sealed*.c, fingerprint*.c):
 * shared helpers. Not exported. */
#ifndef SOTTO_PROTOCOL_LAYERS_H
#define SOTTO_PROTOCOL_LAYERS_H
#include <stdlib.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>
#include "protocol/internal.h"
#include "crypto/primitives.h"

/* protobuf-c allocation from a sotto_arena (message.c): small messages stay
 * on the stack, everything is released at once by sotto_arena_release. */
ProtobufCAllocator sotto_arena_allocator(sotto_arena *a);

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
