/* sottod: the WebSocket's binary messages (api_pb.c): decoding with every
 * limit, and the server messages read back with protobuf-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api_pb.h"
#include "sottod_ws.pb-c.h"

static uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES];

/* A Send with n messages to devices dev[i] of content len[i] bytes. */
static size_t pack_send(uint8_t *out, bool has_id, uint32_t id, const char *to, size_t n,
                        const uint32_t *dev, const size_t *len, uint32_t type)
{
    static uint8_t content[8192];
    memset(content, 0x42, sizeof content);
    Sottows__OutgoingMessage om[8];
    Sottows__OutgoingMessage *p[8];
    for (size_t i = 0; i < n; i++) {
        sottows__outgoing_message__init(&om[i]);
        om[i].has_destination_device_id = om[i].has_type = om[i].has_content = 1;
        om[i].destination_device_id = dev[i];
        om[i].type = type;
        om[i].content.data = content;
        om[i].content.len = len[i];
        p[i] = &om[i];
    }
    Sottows__Send s = SOTTOWS__SEND__INIT;
    s.has_id = has_id;
    s.id = id;
    s.to = (char *)(uintptr_t)to;
    s.n_messages = n;
    s.messages = p;
    Sottows__ClientMessage m = SOTTOWS__CLIENT_MESSAGE__INIT;
    m.kind_case = SOTTOWS__CLIENT_MESSAGE__KIND_SEND;
    m.send = &s;
    return sottows__client_message__pack(&m, out);
}

static void send_ok(void **st)
{
    (void)st;
    uint8_t buf[16384];
    uint32_t dev[2] = { 2, 1 };
    size_t len[2] = { 300, 1 };
    size_t n = pack_send(buf, true, 77, "bob", 2, dev, len, 3);
    sotto_api_ws_msg m;
    const char *why;
    assert_int_equal(sotto_api_decode_ws_pb(buf, n, 4096, ids, &m, &why), 0);
    assert_int_equal(m.kind, SOTTO_API_WS_SEND);
    assert_true(m.has_id);
    assert_int_equal(m.send_id, 77);
    assert_string_equal(m.to, "bob");
    assert_int_equal(m.submit.count, 2);
    assert_int_equal(m.submit.outs[0].device_id, 2);
    assert_int_equal(m.submit.outs[0].type, 3);
    assert_int_equal(m.submit.outs[0].body_len, 300);
    assert_int_equal(m.submit.outs[1].body_len, 1);
    assert_int_equal(m.submit.outs[1].body[0], 0x42);
    sotto_api_submit_free(&m.submit);
}

static void send_refused(void **st)
{
    (void)st;
    uint8_t buf[16384];
    sotto_api_ws_msg m;
    const char *why;
    uint32_t one[1] = { 1 }, zero[1] = { 0 }, big[1] = { 128 }, twice[2] = { 1, 1 };
    size_t l1[1] = { 10 }, l0[1] = { 0 }, l2[2] = { 10, 10 }, lbig[1] = { 4097 };
    /* each case: the id was read, so the refusal is answered under it */
    struct { const char *to; size_t k; const uint32_t *dev; const size_t *len; uint32_t type;
             const char *needle; } bad[] = {
        { "", 1, one, l1, 1, "to" },
        { "bob", 0, one, l1, 1, "non-empty" },
        { "bob", 1, zero, l1, 1, "destinationDeviceId" },
        { "bob", 1, big, l1, 1, "destinationDeviceId" },
        { "bob", 1, one, l0, 1, "content" },
        { "bob", 2, twice, l2, 1, "twice" },
        { "bob", 1, one, lbig, 1, "too large" },
        { "bob", 1, one, l1, 70000, "type" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n = pack_send(buf, true, 5, bad[i].to, bad[i].k, bad[i].dev, bad[i].len, bad[i].type);
        assert_int_equal(sotto_api_decode_ws_pb(buf, n, 4096, ids, &m, &why), -1);
        assert_true(m.has_id);
        assert_int_equal(m.send_id, 5);
        assert_null(m.submit.bodies);
        assert_non_null(strstr(why, bad[i].needle));
    }
    /* no id: cannot be answered */
    size_t n = pack_send(buf, false, 0, "bob", 1, one, l1, 1);
    assert_int_equal(sotto_api_decode_ws_pb(buf, n, 4096, ids, &m, &why), -1);
    assert_false(m.has_id);
    /* not a protobuf, and an empty ClientMessage */
    const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    assert_int_equal(sotto_api_decode_ws_pb(junk, sizeof junk, 4096, ids, &m, &why), -1);
    assert_int_equal(sotto_api_decode_ws_pb(junk, 0, 4096, ids, &m, &why), -1);
    assert_false(m.has_id);
}

static void acks(void **st)
{
    (void)st;
    uint8_t raw[101][16];
    ProtobufCBinaryData b[101];
    for (size_t i = 0; i < 101; i++) {
        memset(raw[i], (int)i, 16);
        b[i].data = raw[i];
        b[i].len = 16;
    }
    Sottows__Ack a = SOTTOWS__ACK__INIT;
    Sottows__ClientMessage m = SOTTOWS__CLIENT_MESSAGE__INIT;
    m.kind_case = SOTTOWS__CLIENT_MESSAGE__KIND_ACK;
    m.ack = &a;
    uint8_t buf[4096];
    sotto_api_ws_msg out;
    const char *why;
    a.n_ids = 100;
    a.ids = b;
    size_t n = sottows__client_message__pack(&m, buf);
    assert_int_equal(sotto_api_decode_ws_pb(buf, n, 4096, ids, &out, &why), 0);
    assert_int_equal(out.kind, SOTTO_API_WS_ACK);
    assert_int_equal(out.n_ids, 100);
    assert_int_equal(ids[99][15], 99);
    a.n_ids = 101;
    n = sottows__client_message__pack(&m, buf);
    assert_int_equal(sotto_api_decode_ws_pb(buf, n, 4096, ids, &out, &why), -1);
    a.n_ids = 0;
    n = sottows__client_message__pack(&m, buf);
    assert_int_equal(sotto_api_decode_ws_pb(buf, n, 4096, ids, &out, &why), -1);
    a.n_ids = 1;
    b[0].len = 15;
    n = sottows__client_message__pack(&m, buf);
    assert_int_equal(sotto_api_decode_ws_pb(buf, n, 4096, ids, &out, &why), -1);
    assert_int_equal(out.n_ids, 0);
}

static void server_messages(void **st)
{
    (void)st;
    uint8_t body[300];
    memset(body, 7, sizeof body);
    sotto_store_envelope e;
    memset(&e, 0, sizeof e);
    memset(e.id, 0xab, sizeof e.id);
    e.timestamp = 1700000000;
    e.type = 3;
    e.has_sender = 1;
    memset(e.sender, 0xcd, sizeof e.sender);
    e.sender_device = 2;
    e.body = body;
    e.body_len = sizeof body;
    uint8_t out[SOTTO_API_PB_ENVELOPE_MAX(300)];
    size_t n = sotto_api_pb_envelope(&e, out, sizeof out);
    assert_true(n > 300);
    assert_int_equal(sotto_api_pb_envelope(&e, out, n - 1), 0);
    Sottows__ServerMessage *m = sottows__server_message__unpack(NULL, n, out);
    assert_non_null(m);
    assert_int_equal(m->kind_case, SOTTOWS__SERVER_MESSAGE__KIND_ENVELOPE);
    assert_int_equal(m->envelope->id.len, 16);
    assert_int_equal(m->envelope->id.data[0], 0xab);
    assert_int_equal(m->envelope->timestamp, 1700000000);
    assert_int_equal(m->envelope->type, 3);
    assert_int_equal(m->envelope->source_uuid.len, 16);
    assert_int_equal(m->envelope->source_device, 2);
    assert_memory_equal(m->envelope->content.data, body, sizeof body);
    sottows__server_message__free_unpacked(m, NULL);
    /* sealed sender: no source */
    e.has_sender = 0;
    n = sotto_api_pb_envelope(&e, out, sizeof out);
    m = sottows__server_message__unpack(NULL, n, out);
    assert_false(m->envelope->has_source_uuid);
    assert_false(m->envelope->has_source_device);
    sottows__server_message__free_unpacked(m, NULL);

    sotto_store_mismatch mm;
    memset(&mm, 0, sizeof mm);
    mm.missing[0] = 2;
    mm.missing_count = 1;
    mm.extra[0] = 5;
    mm.extra[1] = 6;
    mm.extra_count = 2;
    uint8_t sb[SOTTO_API_PB_SENT_MAX];
    n = sotto_api_pb_sent(9, 409, NULL, &mm, sb, sizeof sb);
    m = sottows__server_message__unpack(NULL, n, sb);
    assert_int_equal(m->kind_case, SOTTOWS__SERVER_MESSAGE__KIND_SENT);
    assert_int_equal(m->sent->id, 9);
    assert_int_equal(m->sent->status, 409);
    assert_int_equal(m->sent->n_missing_devices, 1);
    assert_int_equal(m->sent->n_extra_devices, 2);
    assert_int_equal(m->sent->extra_devices[1], 6);
    sottows__server_message__free_unpacked(m, NULL);
    n = sotto_api_pb_sent(10, 404, "no such account", NULL, sb, sizeof sb);
    m = sottows__server_message__unpack(NULL, n, sb);
    assert_string_equal(m->sent->error, "no such account");
    sottows__server_message__free_unpacked(m, NULL);
    n = sotto_api_pb_queue_empty(sb, sizeof sb);
    m = sottows__server_message__unpack(NULL, n, sb);
    assert_int_equal(m->kind_case, SOTTOWS__SERVER_MESSAGE__KIND_QUEUE_EMPTY);
    sottows__server_message__free_unpacked(m, NULL);
    n = sotto_api_pb_devices_changed(sb, sizeof sb);
    m = sottows__server_message__unpack(NULL, n, sb);
    assert_non_null(m);
    assert_int_equal(m->kind_case, SOTTOWS__SERVER_MESSAGE__KIND_DEVICES_CHANGED);
    assert_true(m->devices_changed);
    sottows__server_message__free_unpacked(m, NULL);
    assert_int_equal(sotto_api_pb_devices_changed(sb, 1), 0); /* too small */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(send_ok), cmocka_unit_test(send_refused), cmocka_unit_test(acks),
        cmocka_unit_test(server_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
