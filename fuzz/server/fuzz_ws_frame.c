/* libFuzzer: bytes from a client fed through wslay as the server side, with
 * sottod's limits and its text-message decoder (acks) on every message.
 *
 * Differential check of parking: the same bytes, arriving in the same
 * slices, go to two contexts. A lives throughout; B is freed and made anew
 * whenever sottod would park it (the frame tracker says the client is between
 * messages and nothing waits to be sent). Both must see the same messages,
 * send the same bytes and fail at the same point. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <wslay/wslay.h>

#include "api.h"
#include "server.h"
#include "sottod_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct side {
    const uint8_t *p;
    size_t avail, off;      /* bytes offered so far, bytes taken */
    size_t sent;
    uint64_t digest;        /* of every message seen */
    sotto_ws_tracker track;
    int use_track;
    size_t max_msg;
} side;

static void mix(uint64_t *h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ p[i]) * 1099511628211ull;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    side *f = user;
    if (f->off >= f->avail) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = f->avail - f->off;
    if (n > len)
        n = len;
    memcpy(buf, f->p + f->off, n);
    if (f->use_track)
        sotto_ws_track(&f->track, buf, n);
    f->off += n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)ctx;
    (void)flags;
    side *f = user;
    f->sent += len;
    mix(&f->digest, data, len > 2 ? 2 : len); /* close/pong headers; masks do not apply */
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
    side *f = user;
    uint8_t op = arg->opcode;
    mix(&f->digest, &op, 1);
    mix(&f->digest, arg->msg, arg->msg_length);
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

static const struct wslay_event_callbacks cb = {
    .recv_callback = recv_cb, .send_callback = send_cb,
    .genmask_callback = genmask_cb, .on_msg_recv_callback = on_msg,
};

static int make(wslay_event_context_ptr *ctx, side *f)
{
    if (wslay_event_context_server_init(ctx, &cb, f) != 0)
        return -1;
    wslay_event_config_set_max_recv_msg_length(*ctx, f->max_msg);
    return 0;
}

/* One step: read what is offered, send what is queued. 0 ok, -1 failed, 1 finished. */
static int step(wslay_event_context_ptr ctx)
{
    if (!wslay_event_want_read(ctx) && !wslay_event_want_write(ctx))
        return 1;
    if (wslay_event_want_read(ctx) && wslay_event_recv(ctx) != 0)
        return -1;
    if (wslay_event_want_write(ctx) && wslay_event_send(ctx) != 0)
        return -1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t slice = (size_t)(data[0] & 0x3f) + 1;
    size_t max_msg = (data[0] & 0x40) ? 512 : SOTTOD_MAX_WS_MESSAGE;
    side a = { .p = data + 1, .max_msg = max_msg, .digest = 14695981039346656037ull };
    side b = a;
    b.use_track = 1;
    wslay_event_context_ptr ca = NULL, cb_ = NULL;
    if (make(&ca, &a) != 0 || make(&cb_, &b) != 0)
        goto out;
    int ra = 0, rb = 0;
    for (size_t avail = 0; avail < size - 1 && ra == 0 && rb == 0;) {
        avail = avail + slice < size - 1 ? avail + slice : size - 1;
        a.avail = b.avail = avail;
        ra = step(ca);
        rb = step(cb_);
        if (rb == 0 && sotto_ws_track_idle(&b.track) && !wslay_event_want_write(cb_) &&
            wslay_event_want_read(cb_) && !wslay_event_get_close_sent(cb_) &&
            !wslay_event_get_close_received(cb_) && b.off == b.avail) {
            wslay_event_context_free(cb_);
            cb_ = NULL;
            if (make(&cb_, &b) != 0)
                goto out;
        }
    }
    /* Parking is invisible: same verdict, same messages, same output. */
    if (ra != rb || a.digest != b.digest || a.sent != b.sent || a.off != b.off)
        __builtin_trap();
out:
    if (ca)
        wslay_event_context_free(ca);
    if (cb_)
        wslay_event_context_free(cb_);
    return 0;
}
