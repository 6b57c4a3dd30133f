/* sottod: WebSocket binary messages (see api_pb.h). */
#include "api_pb.h"

#include <stdlib.h>
#include <string.h>

#include "sottod_ws.pb-c.h"

#define FAIL(msg)     \
    do {              \
        *why = (msg); \
        goto fail;    \
    } while (0)

static int decode_send(const Sottows__Send *s, size_t max_envelope, sotto_api_ws_msg *out,
                       const char **why)
{
    if (!s->has_id)
        FAIL("send: id, an integer 0 to 4294967295");
    out->send_id = s->id;
    out->has_id = true;
    size_t tl = s->to != NULL ? strlen(s->to) : 0;
    if (tl == 0 || tl > SOTTO_API_MAX_TO)
        FAIL("send: to, a username or account uuid");
    memcpy(out->to, s->to, tl);
    out->to[tl] = 0;
    out->to_len = tl;
    size_t n = s->n_messages;
    if (n == 0)
        FAIL("messages: a non-empty array");
    if (n > SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION)
        FAIL("messages: too many devices");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const Sottows__OutgoingMessage *m = s->messages[i];
        if (!m->has_content || m->content.len == 0)
            FAIL("messages[]: {destinationDeviceId, type, content}");
        if (m->content.len > max_envelope)
            FAIL("messages[].content: envelope too large");
        total += m->content.len;
    }
    sotto_api_submit *sub = &out->submit;
    sub->bodies = malloc(total);
    if (sub->bodies == NULL)
        FAIL("out of memory");
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const Sottows__OutgoingMessage *m = s->messages[i];
        sotto_store_outgoing *o = &sub->outs[i];
        if (!m->has_destination_device_id || m->destination_device_id < 1 ||
            m->destination_device_id > SOTTO_STORE_MAX_DEVICE_ID)
            FAIL("messages[].destinationDeviceId: 1 to 127");
        if (!m->has_type || m->type > 0xFFFF)
            FAIL("messages[].type: 0 to 65535");
        o->device_id = m->destination_device_id;
        o->type = m->type;
        for (size_t k = 0; k < i; k++)
            if (sub->outs[k].device_id == o->device_id)
                FAIL("messages[]: a device appears twice");
        memcpy(sub->bodies + off, m->content.data, m->content.len);
        o->body = sub->bodies + off;
        o->body_len = m->content.len;
        off += m->content.len;
    }
    sub->count = n;
    return 0;
fail:
    sotto_api_submit_free(&out->submit);
    return -1;
}

int sotto_api_decode_ws_pb(const uint8_t *body, size_t len, size_t max_envelope,
                           uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES],
                           sotto_api_ws_msg *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "";
    Sottows__ClientMessage *m = sottows__client_message__unpack(NULL, len, body);
    if (m == NULL) {
        *why = "message is not a ClientMessage";
        return -1;
    }
    int rc = -1;
    if (m->kind_case == SOTTOWS__CLIENT_MESSAGE__KIND_ACK) {
        out->kind = SOTTO_API_WS_ACK;
        const Sottows__Ack *a = m->ack;
        if (a->n_ids == 0 || a->n_ids > SOTTO_API_MAX_ACK_IDS)
            FAIL("ids: 1 to 100 envelope ids");
        for (size_t i = 0; i < a->n_ids; i++) {
            if (a->ids[i].len != SOTTO_STORE_ENVELOPE_ID_BYTES)
                FAIL("ids[]: envelope id");
            memcpy(ids[i], a->ids[i].data, SOTTO_STORE_ENVELOPE_ID_BYTES);
        }
        out->n_ids = a->n_ids;
        rc = 0;
    } else if (m->kind_case == SOTTOWS__CLIENT_MESSAGE__KIND_SEND) {
        out->kind = SOTTO_API_WS_SEND;
        rc = decode_send(m->send, max_envelope, out, why);
    } else {
        FAIL("unknown message type");
    }
    sottows__client_message__free_unpacked(m, NULL);
    return rc;
fail:
    out->n_ids = 0;
    sottows__client_message__free_unpacked(m, NULL);
    return -1;
}

static size_t pack_server(const Sottows__ServerMessage *m, uint8_t *out, size_t cap)
{
    size_t n = sottows__server_message__get_packed_size(m);
    if (n > cap)
        return 0;
    return sottows__server_message__pack(m, out);
}

size_t sotto_api_pb_envelope(const sotto_store_envelope *e, uint8_t *out, size_t cap)
{
    Sottows__Envelope env = SOTTOWS__ENVELOPE__INIT;
    env.has_id = 1;
    env.id.data = (uint8_t *)(uintptr_t)e->id;
    env.id.len = SOTTO_STORE_ENVELOPE_ID_BYTES;
    env.has_timestamp = 1;
    env.timestamp = e->timestamp > 0 ? (uint64_t)e->timestamp : 0;
    env.has_type = 1;
    env.type = e->type;
    if (e->has_sender) {
        env.has_source_uuid = 1;
        env.source_uuid.data = (uint8_t *)(uintptr_t)e->sender;
        env.source_uuid.len = SOTTO_STORE_UUID_BYTES;
        env.has_source_device = 1;
        env.source_device = e->sender_device;
    }
    env.has_content = 1;
    env.content.data = e->body;
    env.content.len = e->body_len;
    Sottows__ServerMessage m = SOTTOWS__SERVER_MESSAGE__INIT;
    m.kind_case = SOTTOWS__SERVER_MESSAGE__KIND_ENVELOPE;
    m.envelope = &env;
    return pack_server(&m, out, cap);
}

size_t sotto_api_pb_sent(uint32_t id, int status, const char *error,
                         const sotto_store_mismatch *mismatch, uint8_t *out, size_t cap)
{
    Sottows__SendResult r = SOTTOWS__SEND_RESULT__INIT;
    r.has_id = 1;
    r.id = id;
    r.has_status = 1;
    r.status = status > 0 ? (uint32_t)status : 0;
    r.error = (char *)(uintptr_t)error;
    uint32_t missing[SOTTO_STORE_MAX_DEVICES], extra[SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION];
    if (mismatch != NULL) {
        size_t nm = mismatch->missing_count < SOTTO_STORE_MAX_DEVICES ? mismatch->missing_count
                                                                        : SOTTO_STORE_MAX_DEVICES;
        size_t ne = mismatch->extra_count < SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION
                        ? mismatch->extra_count : SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION;
        memcpy(missing, mismatch->missing, nm * sizeof *missing);
        memcpy(extra, mismatch->extra, ne * sizeof *extra);
        r.n_missing_devices = nm;
        r.missing_devices = missing;
        r.n_extra_devices = ne;
        r.extra_devices = extra;
    }
    Sottows__ServerMessage m = SOTTOWS__SERVER_MESSAGE__INIT;
    m.kind_case = SOTTOWS__SERVER_MESSAGE__KIND_SENT;
    m.sent = &r;
    return pack_server(&m, out, cap);
}

size_t sotto_api_pb_queue_empty(uint8_t *out, size_t cap)
{
    Sottows__ServerMessage m = SOTTOWS__SERVER_MESSAGE__INIT;
    m.kind_case = SOTTOWS__SERVER_MESSAGE__KIND_QUEUE_EMPTY;
    m.queue_empty = 1;
    return pack_server(&m, out, cap);
}

size_t sotto_api_pb_devices_changed(uint8_t *out, size_t cap)
{
    Sottows__ServerMessage m = SOTTOWS__SERVER_MESSAGE__INIT;
    m.kind_case = SOTTOWS__SERVER_MESSAGE__KIND_DEVICES_CHANGED;
    m.devices_changed = 1;
    return pack_server(&m, out, cap);
}
