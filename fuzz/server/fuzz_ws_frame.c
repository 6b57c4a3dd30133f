/* libFuzzer: bytes from a client fed through wslay as the server side, with
 * sottod's limits and its text-message decoder (acks) on every message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <wslay/wslay.h>

#include "api.h"
#include "sottod_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct feed {
    const uint8_t *p;
    size_t n, off;
    size_t sent;
    unsigned chunk;   /* deliver in small pieces to exercise partial frames */
} feed;

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    feed *f = user;
    if (f->off >= f->n) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = f->n - f->off;
    if (n > len)
        n = len;
    if (f->chunk && n > f->chunk)
        n = f->chunk;
    memcpy(buf, f->p + f->off, n);
    f->off += n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)ctx;
    (void)data;
    (void)flags;
    feed *f = user;
    f->sent += len;
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    memset(buf, 0x5a, len);
    return 0;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user)
{
    (void)user;
    if (arg->opcode != WSLAY_TEXT_FRAME)
        return;
    static uint8_t ids[SOTTO_API_MAX_ACK_IDS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    size_t n;
    const char *why;
    if (sotto_api_decode_ws(arg->msg, arg->msg_length, ids, &n, &why) != 0)
        wslay_event_queue_close(ctx, WSLAY_CODE_PROTOCOL_ERROR, (const uint8_t *)why, strlen(why));
    else if (n == 0 || n > SOTTO_API_MAX_ACK_IDS)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const struct wslay_event_callbacks cb = {
        .recv_callback = recv_cb, .send_callback = send_cb,
        .genmask_callback = genmask_cb, .on_msg_recv_callback = on_msg,
    };
    feed f = { data + 1, size - 1, 0, 0, data[0] & 0x3f };
    wslay_event_context_ptr ctx;
    if (wslay_event_context_server_init(&ctx, &cb, &f) != 0)
        return 0;
    /* A small cap so the 1009 path is reached by short inputs too. */
    wslay_event_config_set_max_recv_msg_length(ctx, (data[0] & 0x40) ? 512 : SOTTOD_MAX_WS_MESSAGE);
    for (int i = 0; i < 100000 && f.off < f.n; i++) {
        if (!wslay_event_want_read(ctx))
            break;
        if (wslay_event_recv(ctx) != 0)
            break;
        if (wslay_event_want_write(ctx) && wslay_event_send(ctx) != 0)
            break;
    }
    if (wslay_event_want_write(ctx))
        (void)wslay_event_send(ctx);
    wslay_event_context_free(ctx);
    return 0;
}
