/* SignalMessage and PreKeySignalMessage on the wire (protobuf-c), with an
 * arena allocator so a decrypt does not go to the heap for small messages. */
#include <stdlib.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>
#include "wire.pb-c.h"
#include "protocol/internal.h"
#include "protocol/layers.h" /* sotto_arena_allocator */

/* ---- arena --------------------------------------------------------------- */

void *sotto_arena_alloc(void *ctx, size_t size)
{
    sotto_arena *a = ctx;
    size_t need = (size + 15u) & ~(size_t)15u;
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

static void arena_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p; /* everything goes at once in sotto_arena_release */
}

ProtobufCAllocator sotto_arena_allocator(sotto_arena *a)
{
    ProtobufCAllocator al = { sotto_arena_alloc, arena_free, a };
    return al;
}

void sotto_arena_init(sotto_arena *a)
{
    a->used = 0;
    a->n_heap = 0;
}

void sotto_arena_release(sotto_arena *a)
{
    for (size_t i = 0; i < a->n_heap; i++)
        free(a->heap[i]);
    a->n_heap = 0;
    a->used = 0;
}

/* ---- parsing ------------------------------------------------------------- */

sotto_err sotto_wire_public_key(uint8_t out[SOTTO_KEY_BYTES], const uint8_t *p, size_t n)
{
    if (n < SOTTO_EC_PUBLIC_BYTES || p[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    memcpy(out, p + 1, SOTTO_KEY_BYTES);
    return SOTTO_OK;
}

static sotto_err version_check(uint8_t v)
{
    /* v3 is X3DH, which libsignal 0.103 refuses too; v5+ is unknown. */
    return v == SOTTO_MESSAGE_VERSION ? SOTTO_OK : SOTTO_ERR_UNSUPPORTED_VERSION;
}

sotto_err sotto_wire_parse_signal(sotto_signal_msg *m, sotto_arena *a,
                                  const uint8_t *buf, size_t len)
{
    ProtobufCAllocator al = sotto_arena_allocator(a);
    memset(m, 0, sizeof *m);
    if (buf == NULL || len < 1 + SOTTO_MAC_BYTES)
        return SOTTO_ERR_MALFORMED;
    m->version = buf[0] >> 4;
    sotto_err e = version_check(m->version);
    if (e != SOTTO_OK)
        return e;
    Sotto__Wire__SignalMessage *pb =
        sotto__wire__signal_message__unpack(&al, len - 1 - SOTTO_MAC_BYTES, buf + 1);
    if (pb == NULL)
        return SOTTO_ERR_MALFORMED;
    if (!pb->has_ratchet_key || !pb->has_counter || !pb->has_ciphertext)
        return SOTTO_ERR_MALFORMED;
    if ((e = sotto_wire_public_key(m->ratchet_key, pb->ratchet_key.data, pb->ratchet_key.len)) != SOTTO_OK)
        return e;
    m->counter = pb->counter;
    m->previous_counter = pb->has_previous_counter ? pb->previous_counter : 0;
    m->body = pb->ciphertext.data;
    m->body_len = pb->ciphertext.len;
    if (pb->has_pq_ratchet) {
        m->pq = pb->pq_ratchet.data;
        m->pq_len = pb->pq_ratchet.len;
    }
    if (pb->has_addresses) {
        m->has_addresses = 1;
        m->addresses = pb->addresses.data;
        m->addresses_len = pb->addresses.len;
    }
    m->serialized = buf;
    m->serialized_len = len - SOTTO_MAC_BYTES;
    m->mac = buf + len - SOTTO_MAC_BYTES;
    return SOTTO_OK;
}

sotto_err sotto_wire_parse_prekey(sotto_prekey_msg *m, sotto_arena *a,
                                  const uint8_t *buf, size_t len)
{
    ProtobufCAllocator al = sotto_arena_allocator(a);
    memset(m, 0, sizeof *m);
    if (buf == NULL || len < 1)
        return SOTTO_ERR_MALFORMED;
    m->version = buf[0] >> 4;
    sotto_err e = version_check(m->version);
    if (e != SOTTO_OK)
        return e;
    Sotto__Wire__PreKeySignalMessage *pb =
        sotto__wire__pre_key_signal_message__unpack(&al, len - 1, buf + 1);
    if (pb == NULL)
        return SOTTO_ERR_MALFORMED;
    if (!pb->has_base_key || !pb->has_identity_key || !pb->has_message ||
        !pb->has_signed_pre_key_id)
        return SOTTO_ERR_MALFORMED;
    /* Kyber id and ciphertext: both or neither, and v4 needs both. */
    if (!pb->has_kyber_pre_key_id || !pb->has_kyber_ciphertext)
        return SOTTO_ERR_MALFORMED;
    if (pb->kyber_ciphertext.len != SOTTO_KYBER_CIPHERTEXT_BYTES ||
        pb->kyber_ciphertext.data[0] != SOTTO_KEY_TYPE_KYBER1024)
        return SOTTO_ERR_INVALID_KEY;
    uint8_t u[SOTTO_KEY_BYTES];
    if ((e = sotto_wire_public_key(u, pb->base_key.data, pb->base_key.len)) != SOTTO_OK)
        return e;
    m->base_key[0] = SOTTO_KEY_TYPE_DJB;
    memcpy(m->base_key + 1, u, SOTTO_KEY_BYTES);
    if ((e = sotto_wire_public_key(u, pb->identity_key.data, pb->identity_key.len)) != SOTTO_OK)
        return e;
    m->identity_key[0] = SOTTO_KEY_TYPE_DJB;
    memcpy(m->identity_key + 1, u, SOTTO_KEY_BYTES);
    m->registration_id = pb->has_registration_id ? pb->registration_id : 0;
    m->has_pre_key = pb->has_pre_key_id;
    m->pre_key_id = pb->has_pre_key_id ? pb->pre_key_id : 0;
    m->signed_pre_key_id = pb->signed_pre_key_id;
    m->kyber_pre_key_id = pb->kyber_pre_key_id;
    m->kyber_ciphertext = pb->kyber_ciphertext.data;
    return sotto_wire_parse_signal(&m->message, a, pb->message.data, pb->message.len);
}

/* ---- packing ------------------------------------------------------------- */

static void signal_fill(Sotto__Wire__SignalMessage *pb, uint8_t rk[SOTTO_EC_PUBLIC_BYTES],
                        const sotto_signal_out *o)
{
    sotto__wire__signal_message__init(pb);
    rk[0] = SOTTO_KEY_TYPE_DJB;
    memcpy(rk + 1, o->ratchet_key, SOTTO_KEY_BYTES);
    pb->has_ratchet_key = 1;
    pb->ratchet_key.data = rk;
    pb->ratchet_key.len = SOTTO_EC_PUBLIC_BYTES;
    pb->has_counter = 1;
    pb->counter = o->counter;
    pb->has_previous_counter = 1;
    pb->previous_counter = o->previous_counter;
    pb->has_ciphertext = 1;
    pb->ciphertext.data = (uint8_t *)(uintptr_t)o->body;
    pb->ciphertext.len = o->body_len;
    if (o->pq_len > 0) {
        pb->has_pq_ratchet = 1;
        pb->pq_ratchet.data = (uint8_t *)(uintptr_t)o->pq;
        pb->pq_ratchet.len = o->pq_len;
    }
    if (o->addresses != NULL) {
        pb->has_addresses = 1;
        pb->addresses.data = (uint8_t *)(uintptr_t)o->addresses;
        pb->addresses.len = SOTTO_ADDRESSES_BYTES;
    }
}

size_t sotto_wire_signal_size(const sotto_signal_out *o)
{
    Sotto__Wire__SignalMessage pb;
    uint8_t rk[SOTTO_EC_PUBLIC_BYTES];
    signal_fill(&pb, rk, o);
    return 1 + sotto__wire__signal_message__get_packed_size(&pb);
}

sotto_err sotto_wire_signal_pack(const sotto_signal_out *o, uint8_t *out, size_t cap, size_t *len)
{
    Sotto__Wire__SignalMessage pb;
    uint8_t rk[SOTTO_EC_PUBLIC_BYTES];
    signal_fill(&pb, rk, o);
    size_t n = 1 + sotto__wire__signal_message__get_packed_size(&pb);
    if (n > cap)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    out[0] = SOTTO_VERSION_BYTE;
    *len = 1 + sotto__wire__signal_message__pack(&pb, out + 1);
    return SOTTO_OK;
}

static void prekey_fill(Sotto__Wire__PreKeySignalMessage *pb, const sotto_prekey_out *o)
{
    sotto__wire__pre_key_signal_message__init(pb);
    pb->has_registration_id = 1;
    pb->registration_id = o->registration_id;
    if (o->has_pre_key) {
        pb->has_pre_key_id = 1;
        pb->pre_key_id = o->pre_key_id;
    }
    pb->has_signed_pre_key_id = 1;
    pb->signed_pre_key_id = o->signed_pre_key_id;
    pb->has_kyber_pre_key_id = 1;
    pb->kyber_pre_key_id = o->kyber_pre_key_id;
    pb->has_kyber_ciphertext = 1;
    pb->kyber_ciphertext.data = (uint8_t *)(uintptr_t)o->kyber_ciphertext;
    pb->kyber_ciphertext.len = SOTTO_KYBER_CIPHERTEXT_BYTES;
    pb->has_base_key = 1;
    pb->base_key.data = (uint8_t *)(uintptr_t)o->base_key;
    pb->base_key.len = SOTTO_EC_PUBLIC_BYTES;
    pb->has_identity_key = 1;
    pb->identity_key.data = (uint8_t *)(uintptr_t)o->identity_key;
    pb->identity_key.len = SOTTO_EC_PUBLIC_BYTES;
    pb->has_message = 1;
    pb->message.data = (uint8_t *)(uintptr_t)o->message;
    pb->message.len = o->message_len;
}

size_t sotto_wire_prekey_size(const sotto_prekey_out *o)
{
    Sotto__Wire__PreKeySignalMessage pb;
    prekey_fill(&pb, o);
    return 1 + sotto__wire__pre_key_signal_message__get_packed_size(&pb);
}

sotto_err sotto_wire_prekey_pack(const sotto_prekey_out *o, uint8_t *out, size_t cap, size_t *len)
{
    Sotto__Wire__PreKeySignalMessage pb;
    prekey_fill(&pb, o);
    size_t n = 1 + sotto__wire__pre_key_signal_message__get_packed_size(&pb);
    if (n > cap)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    out[0] = SOTTO_VERSION_BYTE;
    *len = 1 + sotto__wire__pre_key_signal_message__pack(&pb, out + 1);
    return SOTTO_OK;
}
