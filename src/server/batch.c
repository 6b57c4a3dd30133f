/* sottod: batched durable commits. Submissions (and acks) that arrive within
 * SOTTOD_BATCH_WINDOW_MS, or up to SOTTOD_BATCH_MAX_ENVELOPES envelopes, are
 * committed together by the writer handle on a worker thread; each sender
 * gets its answer only after that commit, then recipients' WebSockets are
 * told. One batch is in flight at a time, so commit order is arrival order
 * and queues stay in order per device. The arrays are reused: in steady
 * state a batch allocates nothing but the decoded bodies it was handed. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sottod_limits.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

typedef struct sub_meta {
    sotto_conn *c;
    uint8_t *bodies;
    sotto_store_outgoing outs[SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION];
} sub_meta;

typedef struct ack_item {
    sotto_conn *c;
    bool respond;
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    uint32_t device;
    size_t n;
    uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES];
    sotto_store_err rc;
    size_t deleted;
} ack_item;

struct sotto_batch {
    uv_work_t w;
    sotto_srv *srv;
    sotto_store_submission *subs;
    sub_meta *meta;
    size_t n, cap;
    size_t envelopes;
    sotto_store_err rc;
    uint64_t work_ns;
};

/* Acks wait in a queue of their own and are deleted by the same writer
 * handle, in jobs that alternate with the message commits (two writing
 * handles would fight over SQLite's write lock and sleep in its busy
 * handler). Message commits go first; acks for one device within a job are
 * merged into as few store calls as SOTTO_STORE_MAX_ACKS allows. */
struct sotto_ackq {
    uv_work_t w;
    sotto_srv *srv;
    ack_item *acks;
    size_t n_acks, cap_acks;
};

static sotto_batch *batch_new(sotto_srv *s)
{
    sotto_batch *b = calloc(1, sizeof *b);
    if (b != NULL)
        b->srv = s;
    return b;
}

static void batch_destroy(sotto_batch *b)
{
    if (b == NULL)
        return;
    free(b->subs);
    free(b->meta);
    free(b);
}

static void ackq_destroy(sotto_ackq *q)
{
    if (q == NULL)
        return;
    free(q->acks);
    free(q);
}

int sotto_batch_init(sotto_srv *s)
{
    s->pending = batch_new(s);
    s->spare = batch_new(s);
    s->ack_pending = calloc(1, sizeof *s->ack_pending);
    s->ack_spare = calloc(1, sizeof *s->ack_spare);
    if (s->ack_pending)
        s->ack_pending->srv = s;
    if (s->ack_spare)
        s->ack_spare->srv = s;
    return s->pending && s->spare && s->ack_pending && s->ack_spare ? 0 : -1;
}

void sotto_batch_free(sotto_srv *s)
{
    batch_destroy(s->pending);
    batch_destroy(s->spare);
    batch_destroy(s->inflight);
    s->pending = s->spare = s->inflight = NULL;
    ackq_destroy(s->ack_pending);
    ackq_destroy(s->ack_spare);
    ackq_destroy(s->ack_inflight);
    s->ack_pending = s->ack_spare = s->ack_inflight = NULL;
}

bool sotto_batch_idle(const sotto_srv *s)
{
    return s->inflight == NULL && (s->pending == NULL || s->pending->n == 0) &&
           s->ack_inflight == NULL && (s->ack_pending == NULL || s->ack_pending->n_acks == 0);
}

static void batch_work(uv_work_t *w)
{
    sotto_batch *b = w->data;
    sotto_srv *s = b->srv;
    b->rc = SOTTO_STORE_OK;
    uint64_t t0 = uv_hrtime();
    for (size_t i = 0; i < b->n; i += SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH) {
        size_t k = b->n - i < SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH
                       ? b->n - i : SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH;
        sotto_store_err e = sotto_store_enqueue_batch(s->writer, b->subs + i, k);
        if (e != SOTTO_STORE_OK) {
            for (size_t j = i; j < i + k; j++)
                b->subs[j].result = e;
            b->rc = e;
        }
    }
    b->work_ns = uv_hrtime() - t0;
}

static void start(sotto_srv *s);
static void ack_start(sotto_srv *s);

static void answer_submission(sotto_conn *c, const sotto_store_submission *sub)
{
    if (c->handle_closed)
        return;
    if (sub->result == SOTTO_STORE_OK) {
        sotto_conn_respond(c, 200, "application/json", "{}", 2, NULL);
        return;
    }
    if (sub->result == SOTTO_STORE_ERR_DEVICE_MISMATCH) {
        char body[1024];
        size_t o = (size_t)snprintf(body, sizeof body, "{\"missingDevices\":[");
        for (size_t i = 0; i < sub->mismatch.missing_count && i < SOTTO_STORE_MAX_DEVICES; i++)
            o += (size_t)snprintf(body + o, sizeof body - o, "%s%" PRIu32, i ? "," : "",
                                  sub->mismatch.missing[i]);
        o += (size_t)snprintf(body + o, sizeof body - o, "],\"extraDevices\":[");
        for (size_t i = 0; i < sub->mismatch.extra_count &&
                           i < SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION; i++)
            o += (size_t)snprintf(body + o, sizeof body - o, "%s%" PRIu32, i ? "," : "",
                                  sub->mismatch.extra[i]);
        o += (size_t)snprintf(body + o, sizeof body - o, "]}");
        sotto_conn_respond(c, 409, "application/json", body, o, NULL);
        return;
    }
    int status;
    const char *msg = sotto_api_store_status(sub->result, &status);
    if (status >= 500)
        sotto_metrics_error(SOTTO_ERRK_STORE);
    sotto_conn_error(c, status, msg);
}

static void batch_done(uv_work_t *w, int status)
{
    sotto_batch *b = w->data;
    sotto_srv *s = b->srv;
    s->jobs--;
    sotto_g_metrics.batches_total++;
    if (status != 0 || b->rc != SOTTO_STORE_OK) {
        sotto_metrics_error(SOTTO_ERRK_STORE);
        sotto_log(SOTTO_LOG_WARN, "commit_failed", " reason=\"%s\" submissions=%zu",
                  sotto_store_strerror(b->rc), b->n);
        if (status != 0)
            for (size_t i = 0; i < b->n; i++)
                b->subs[i].result = SOTTO_STORE_ERR_BUSY;
    }
    size_t stored = 0;
    for (size_t i = 0; i < b->n; i++) {
        sotto_store_submission *sub = &b->subs[i];
        if (sub->result == SOTTO_STORE_OK)
            stored += sub->count;
        answer_submission(b->meta[i].c, sub);
    }
    sotto_g_metrics.messages_relayed_total += stored;
    sotto_log(SOTTO_LOG_DEBUG, "batch_committed", " submissions=%zu envelopes=%zu commit_us=%llu",
              b->n, stored, (unsigned long long)(b->work_ns / 1000u));
    /* Then the pushes: after every sender has its answer. */
    for (size_t i = 0; i < b->n; i++) {
        sotto_store_submission *sub = &b->subs[i];
        if (sub->result == SOTTO_STORE_OK)
            for (size_t k = 0; k < sub->count; k++)
                sotto_dev_notify(s, sub->recipient, sub->envelopes[k].device_id);
        free(b->meta[i].bodies);
        b->meta[i].bodies = NULL;
        sotto_conn_unref(b->meta[i].c);
    }
    b->n = b->envelopes = 0;
    s->inflight = NULL;
    s->spare = b;
    if (s->pending->n > 0 && s->ack_pending->n_acks == 0)
        start(s);
    else
        ack_start(s);       /* then the acks that waited, then messages again */
    sotto_srv_check_drain(s);
}

static void start(sotto_srv *s)
{
    if (s->inflight != NULL || s->ack_inflight != NULL)
        return;
    sotto_batch *b = s->pending;
    if (b->n == 0)
        return;
    if (s->batch_timer_on) {
        uv_timer_stop(&s->batch_timer);
        s->batch_timer_on = false;
    }
    s->inflight = b;
    s->pending = s->spare;
    s->spare = NULL;
    b->w.data = b;
    if (uv_queue_work(s->loop, &b->w, batch_work, batch_done) != 0) {
        /* Cannot happen with a valid loop; answer everyone rather than hang. */
        b->rc = SOTTO_STORE_ERR_BUSY;
        s->jobs++;
        batch_done(&b->w, -1);
        return;
    }
    s->jobs++;
}

static void on_batch_timer(uv_timer_t *t)
{
    sotto_srv *s = t->data;
    s->batch_timer_on = false;
    start(s);
}

static void arm(sotto_srv *s)
{
    sotto_batch *b = s->pending;
    if (b->envelopes >= s->cfg.batch_max_envelopes || s->draining || s->cfg.batch_window_ms == 0) {
        start(s);
        return;
    }
    if (!s->batch_timer_on && s->inflight == NULL) {
        uv_timer_start(&s->batch_timer, on_batch_timer, s->cfg.batch_window_ms, 0);
        s->batch_timer_on = true;
    }
}

void sotto_batch_kick(sotto_srv *s)
{
    start(s);
}

/* realloc moves meta[]; envelopes pointers must follow. */
static void fix_pointers(sotto_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->subs[i].envelopes = b->meta[i].outs;
}

void sotto_batch_submit(sotto_conn *c, const uint8_t recipient[SOTTO_STORE_UUID_BYTES],
                        const sotto_store_outgoing *outs, size_t n, uint8_t *bodies)
{
    sotto_srv *s = c->srv;
    sotto_batch *b = s->pending;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        if (cap > SOTTOD_BATCH_HARD_CAP) {
            free(bodies);
            sotto_conn_error(c, 503, "server busy, try again");
            return;
        }
        sotto_store_submission *ns = realloc(b->subs, cap * sizeof *ns);
        if (ns != NULL)
            b->subs = ns;
        sub_meta *nm = ns ? realloc(b->meta, cap * sizeof *nm) : NULL;
        if (nm == NULL) {
            free(bodies);
            sotto_conn_error(c, 503, "out of memory");
            return;
        }
        b->meta = nm;
        b->cap = cap;
        fix_pointers(b);
    }
    sub_meta *m = &b->meta[b->n];
    sotto_store_submission *sub = &b->subs[b->n];
    memset(sub, 0, sizeof *sub);
    m->c = c;
    m->bodies = bodies;
    memcpy(m->outs, outs, n * sizeof *outs);
    memcpy(sub->recipient, recipient, SOTTO_STORE_UUID_BYTES);
    sub->has_sender = 1;
    memcpy(sub->sender, c->uuid, SOTTO_STORE_UUID_BYTES);
    sub->sender_device = c->device;
    sub->envelopes = m->outs;
    sub->count = n;
    b->n++;
    b->envelopes += n;
    c->paused = true;
    sotto_conn_ref(c);
    arm(s);
}

static int cmp_ack(const void *x, const void *y)
{
    const ack_item *a = x, *b = y;
    int c = memcmp(a->uuid, b->uuid, sizeof a->uuid);
    if (c != 0)
        return c;
    return a->device < b->device ? -1 : a->device > b->device;
}

static void ack_work(uv_work_t *w)
{
    sotto_ackq *q = w->data;
    sotto_srv *s = q->srv;
    /* Group by device (a stable order is not needed: acks commute). */
    qsort(q->acks, q->n_acks, sizeof *q->acks, cmp_ack);
    uint8_t ids[SOTTO_STORE_MAX_ACKS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    size_t i = 0;
    while (i < q->n_acks) {
        size_t j = i, n = 0;
        /* Take whole items while they fit in one call. */
        while (j < q->n_acks && cmp_ack(&q->acks[i], &q->acks[j]) == 0 &&
               n + q->acks[j].n <= SOTTO_STORE_MAX_ACKS) {
            memcpy(ids + n, q->acks[j].ids, q->acks[j].n * sizeof ids[0]);
            n += q->acks[j].n;
            j++;
        }
        size_t deleted = 0;
        sotto_store_err e = sotto_store_ack(s->writer, q->acks[i].uuid, q->acks[i].device,
                                            (const uint8_t (*)[SOTTO_STORE_ENVELOPE_ID_BYTES])ids, n,
                                            &deleted);
        for (size_t k = i; k < j; k++)
            q->acks[k].rc = e;
        q->acks[i].deleted = deleted;
        i = j;
    }
}

static void ack_done(uv_work_t *w, int status)
{
    sotto_ackq *q = w->data;
    sotto_srv *s = q->srv;
    s->jobs--;
    for (size_t i = 0; i < q->n_acks; i++) {
        ack_item *a = &q->acks[i];
        if (status != 0)
            a->rc = SOTTO_STORE_ERR_BUSY;
        if (a->rc == SOTTO_STORE_OK)
            sotto_g_metrics.messages_acked_total += a->deleted;
        else
            sotto_metrics_error(SOTTO_ERRK_STORE);
        if (a->respond && !a->c->handle_closed) {
            if (a->rc == SOTTO_STORE_OK)
                sotto_conn_respond(a->c, 204, NULL, NULL, 0, NULL);
            else
                sotto_conn_error(a->c, 503, "try again");
        } else if (!a->respond && a->rc == SOTTO_STORE_OK && a->c->state == SOTTO_CONN_WS) {
            sotto_ws_pump(a->c);
        }
        free(a->ids);
        a->ids = NULL;
        sotto_conn_unref(a->c);
    }
    q->n_acks = 0;
    s->ack_inflight = NULL;
    s->ack_spare = q;
    if (s->pending->n > 0)
        start(s);           /* messages first */
    else
        ack_start(s);
    sotto_srv_check_drain(s);
}

static void ack_start(sotto_srv *s)
{
    if (s->ack_inflight != NULL || s->inflight != NULL || s->ack_pending->n_acks == 0)
        return;
    sotto_ackq *q = s->ack_pending;
    if (q->n_acks > SOTTOD_ACKS_PER_JOB) {
        /* Each device group costs a transaction: take a bounded slice so
         * message commits are never held up for long; the rest waits. */
        sotto_ackq *sl = s->ack_spare;
        if (sl->cap_acks < SOTTOD_ACKS_PER_JOB) {
            ack_item *na = realloc(sl->acks, SOTTOD_ACKS_PER_JOB * sizeof *na);
            if (na == NULL)
                goto whole;
            sl->acks = na;
            sl->cap_acks = SOTTOD_ACKS_PER_JOB;
        }
        memcpy(sl->acks, q->acks, SOTTOD_ACKS_PER_JOB * sizeof *sl->acks);
        sl->n_acks = SOTTOD_ACKS_PER_JOB;
        memmove(q->acks, q->acks + SOTTOD_ACKS_PER_JOB,
                (q->n_acks - SOTTOD_ACKS_PER_JOB) * sizeof *q->acks);
        q->n_acks -= SOTTOD_ACKS_PER_JOB;
        s->ack_spare = NULL;
        s->ack_inflight = sl;
        q = sl;
    } else {
    whole:
        s->ack_inflight = q;
        s->ack_pending = s->ack_spare;
        s->ack_spare = NULL;
    }
    q->w.data = q;
    s->jobs++;
    if (uv_queue_work(s->loop, &q->w, ack_work, ack_done) != 0)
        ack_done(&q->w, -1);
}

void sotto_batch_ack(sotto_conn *c, const uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES], size_t n,
                     bool respond)
{
    sotto_srv *s = c->srv;
    sotto_ackq *q = s->ack_pending;
    if (n == 0 || n > SOTTO_STORE_MAX_ACKS)
        return;
    if (q->n_acks == q->cap_acks) {
        size_t cap = q->cap_acks ? q->cap_acks * 2 : 64;
        ack_item *na = cap <= SOTTOD_BATCH_HARD_CAP ? realloc(q->acks, cap * sizeof *na) : NULL;
        if (na == NULL) {
            if (respond)
                sotto_conn_error(c, 503, "server busy, try again");
            return; /* a WebSocket ack lost here is redelivered later: at least once */
        }
        q->acks = na;
        q->cap_acks = cap;
    }
    ack_item *a = &q->acks[q->n_acks];
    memset(a, 0, sizeof *a);
    a->ids = malloc(n * sizeof *a->ids);
    if (a->ids == NULL) {
        if (respond)
            sotto_conn_error(c, 503, "out of memory");
        return;
    }
    memcpy(a->ids, ids, n * sizeof *a->ids);
    a->n = n;
    a->c = c;
    a->respond = respond;
    memcpy(a->uuid, c->uuid, sizeof a->uuid);
    a->device = c->device;
    q->n_acks++;
    if (respond)
        c->paused = true;
    sotto_conn_ref(c);
    ack_start(s);
}
