/* sottod: batched durable commits. Submissions and acks that arrive within
 * SOTTOD_BATCH_WINDOW_MS, or up to SOTTOD_BATCH_MAX_ENVELOPES envelopes plus
 * acks, are committed together in ONE transaction (one fsync) by the writer
 * handle on a worker thread; each sender (and each HTTP ack) gets its answer
 * only after that commit, then recipients' WebSockets are told. Whatever
 * arrives while a commit runs waits and goes in the next one, which starts as
 * soon as that commit returns (before its answers and pushes are written). One batch is in flight at a time, so commit order is arrival order
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

/* An envelope's way to its device (sub_meta.early). */
enum { EARLY_NO = 0, EARLY_PUSHED = 1, EARLY_ACKED = 2 };

typedef struct sub_meta {
    sotto_conn *c;
    bool ws;                        /* a WebSocket "send": answered by "sent" */
    uint32_t ws_id;
    uint8_t *bodies;
    sotto_store_outgoing outs[SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION];
    uint8_t early[SOTTO_STORE_MAX_ENVELOPES_PER_SUBMISSION];
} sub_meta;

typedef struct ack_item {
    sotto_conn *c;
    bool respond;
    uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES];  /* owned; req.ids points here */
} ack_item;

/* One writer job: submissions and acks (of any devices) committed in one
 * transaction, so an ack costs no fsync of its own. */
struct sotto_batch {
    uv_work_t w;
    sotto_srv *srv;
    sotto_store_submission *subs;
    sub_meta *meta;
    size_t n, cap;
    size_t envelopes;
    ack_item *acks;
    sotto_store_ack_req *reqs;
    size_t n_acks, cap_acks;
    sotto_store_err rc;
    uint64_t work_ns;
    uint64_t first_seq, last_seq;   /* the seqs its submissions hold (0: none yet) */
    size_t unwritten;               /* envelopes acked before the batch went */
    size_t waiting;                 /* pushed early, not acked yet */
    uint64_t oldest_ms;             /* uv_now() at its first submission */
    sotto_store_device_set *sets;   /* what the writer saw of the recipients */
    size_t n_sets, cap_sets;
    uint64_t epoch;                 /* srv->devcache_epoch when it went to the writer */
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
    for (size_t i = 0; i < b->n_acks; i++)
        free(b->acks[i].ids);
    for (size_t i = 0; i < b->n; i++)   /* only after a drain that timed out */
        free(b->meta[i].bodies);
    free(b->subs);
    free(b->meta);
    free(b->acks);
    free(b->reqs);
    free(b->sets);
    free(b);
}

/* ---- recipients' device sets, kept on the loop ----
 * An envelope is pushed before its commit only when its submission names
 * exactly the devices its recipient had at the last commit that saw them
 * (the writer checks again, and stays the judge). Filled from what each
 * commit read; an entry is dropped on any device change of its account, and
 * a commit that began before a device change fills nothing (epoch). A slot
 * per hash: a collision only costs an entry. */
#define DEVCACHE_SLOTS 16384u
struct sotto_devcache {
    sotto_store_device_set *slot[DEVCACHE_SLOTS];
};

static size_t devcache_hash(const uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    uint64_t h;
    memcpy(&h, uuid, sizeof h);         /* account uuids are random */
    return (size_t)((h * 0x9e3779b97f4a7c15u) >> 50) & (DEVCACHE_SLOTS - 1);
}

static const sotto_store_device_set *devcache_get(const sotto_srv *s,
                                                  const uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    if (s->devcache == NULL)
        return NULL;
    const sotto_store_device_set *d = s->devcache->slot[devcache_hash(uuid)];
    return d != NULL && memcmp(d->uuid, uuid, SOTTO_STORE_UUID_BYTES) == 0 ? d : NULL;
}

static void devcache_put(sotto_srv *s, const sotto_store_device_set *set)
{
    if (s->devcache == NULL && (s->devcache = calloc(1, sizeof *s->devcache)) == NULL)
        return;
    sotto_store_device_set **p = &s->devcache->slot[devcache_hash(set->uuid)];
    if (*p == NULL && (*p = malloc(sizeof **p)) == NULL)
        return;
    **p = *set;
}

void sotto_batch_devices_changed(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES])
{
    s->devcache_epoch++;
    if (s->devcache == NULL)
        return;
    sotto_store_device_set **p = &s->devcache->slot[devcache_hash(uuid)];
    if (*p != NULL && memcmp((*p)->uuid, uuid, SOTTO_STORE_UUID_BYTES) == 0) {
        free(*p);
        *p = NULL;
    }
}

static void devcache_free(sotto_srv *s)
{
    if (s->devcache == NULL)
        return;
    for (size_t i = 0; i < DEVCACHE_SLOTS; i++)
        free(s->devcache->slot[i]);
    free(s->devcache);
    s->devcache = NULL;
}

int sotto_batch_init(sotto_srv *s)
{
    s->pending = batch_new(s);
    s->spare = batch_new(s);
    s->spare2 = batch_new(s);
    return s->pending && s->spare && s->spare2 ? 0 : -1;
}

void sotto_batch_free(sotto_srv *s)
{
    batch_destroy(s->pending);
    batch_destroy(s->spare);
    batch_destroy(s->spare2);
    batch_destroy(s->inflight);
    s->pending = s->spare = s->spare2 = s->inflight = NULL;
    devcache_free(s);
}

bool sotto_batch_idle(const sotto_srv *s)
{
    return s->inflight == NULL &&
           (s->pending == NULL || (s->pending->n == 0 && s->pending->n_acks == 0));
}

static void batch_work(uv_work_t *w)
{
    sotto_batch *b = w->data;
    sotto_srv *s = b->srv;
    b->rc = SOTTO_STORE_OK;
    uint64_t t0 = uv_hrtime();
    /* The acks ride with the last slice of submissions (or go alone): an
     * ack may name an envelope pushed early from any slice of this batch,
     * so it must come after its insert. */
    size_t i = 0;
    do {
        size_t k = b->n - i < SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH
                       ? b->n - i : SOTTO_STORE_MAX_SUBMISSIONS_PER_BATCH;
        size_t na = i + k == b->n ? b->n_acks : 0;
        if (k + na == 0)
            break;
        sotto_store_err e = sotto_store_write_batch(s->writer, k ? b->subs + i : NULL, k,
                                                    na ? b->reqs : NULL, na);
        if (e != SOTTO_STORE_OK)
            b->rc = e;
        else if (k > 0 && b->n_sets + k <= b->cap_sets)
            b->n_sets += sotto_store_write_batch_devices(s->writer, b->sets + b->n_sets,
                                                         b->cap_sets - b->n_sets);
        i += k;
    } while (i < b->n);
    b->work_ns = uv_hrtime() - t0;
}

static void start(sotto_srv *s);
static void rearm(sotto_srv *s);
static void answer_submission_now(const sub_meta *m, const sotto_store_submission *sub);

static void answer_submission(const sub_meta *m, const sotto_store_submission *sub)
{
    sotto_conn *c = m->c;
    if (m->ws && c->ws_sends > 0)
        c->ws_sends--;
    if (c->handle_closed)
        return;
    if (m->ws && c->srv->draining && c->ws_sends == 0) {
        /* Draining waited for this socket's last send: answer it, then close. */
        answer_submission_now(m, sub);
        sotto_ws_close(c, 1001, "server going away");
        return;
    }
    answer_submission_now(m, sub);
}

static void answer_submission_now(const sub_meta *m, const sotto_store_submission *sub)
{
    sotto_conn *c = m->c;
    if (sub->result == SOTTO_STORE_OK) {
        if (m->ws)
            sotto_ws_answer_send(c, m->ws_id, 200, NULL, NULL);
        else
            sotto_conn_respond(c, 200, "application/json", "{}", 2, NULL);
        return;
    }
    if (sub->result == SOTTO_STORE_ERR_DEVICE_MISMATCH) {
        if (m->ws) {
            sotto_ws_answer_send(c, m->ws_id, 409, NULL, &sub->mismatch);
            return;
        }
        char body[1024];
        size_t o = sotto_api_mismatch_json(&sub->mismatch, body + 1, sizeof body - 2);
        body[0] = '{';
        body[o + 1] = '}';
        o += 2;
        sotto_conn_respond(c, 409, "application/json", body, o, NULL);
        return;
    }
    int status;
    const char *msg = sotto_api_store_status(sub->result, &status);
    if (status >= 500)
        sotto_metrics_error(SOTTO_ERRK_STORE);
    if (m->ws)
        sotto_ws_answer_send(c, m->ws_id, status, msg, NULL);
    else
        sotto_conn_error(c, status, msg);
}

/* The k-th envelope of sub as a device gets it (the body stays the batch's). */
static void envelope_of(const sotto_store_submission *sub, size_t k, sotto_store_envelope *e)
{
    const sotto_store_outgoing *o = &sub->envelopes[k];
    memset(e, 0, sizeof *e);
    e->seq = sub->seq[k];
    memcpy(e->id, sub->id[k], sizeof e->id);
    e->timestamp = sub->timestamp;
    e->type = o->type;
    e->has_sender = sub->has_sender;
    if (sub->has_sender) {
        memcpy(e->sender, sub->sender, sizeof e->sender);
        e->sender_device = sub->sender_device;
    }
    e->body = (uint8_t *)(uintptr_t)o->body;    /* read only */
    e->body_len = o->body_len;
}

/* Hands a stored submission's envelopes to their devices' WebSockets
 * straight from memory (seq and id are known): no read of the queue. One
 * pushed before the commit is skipped by its socket (seq at or below its
 * cursor), but reaches a socket that replaced it meanwhile; one acked before
 * the commit was never written and goes nowhere. */
static void push(sotto_srv *s, const sotto_store_submission *sub, const sub_meta *m)
{
    for (size_t k = 0; k < sub->count; k++) {
        if (m->early[k] == EARLY_ACKED)
            continue;
        const sotto_store_outgoing *o = &sub->envelopes[k];
        sotto_store_envelope e;
        envelope_of(sub, k, &e);
        /* Queued from memory and written once per socket at the end of this
         * loop turn; a socket that is behind reads its queue instead. */
        if (!sotto_ws_deliver(s, sub->recipient, o->device_id, &e))
            sotto_ws_flush_dev(s, sub->recipient, o->device_id);
    }
}

/* Gives a new submission its seqs and time, and pushes each envelope whose
 * device's WebSocket is ready, before the commit. A crash before the commit
 * means the sender never got its answer and sends again; the recipient's
 * client drops the copy by its message id (docs/SERVER.md). */
static void early_push(sotto_srv *s, sotto_batch *b, sotto_store_submission *sub, sub_meta *m)
{
    /* submit() checked that the seqs fit under s->seq_limit. */
    int64_t now = sotto_store_time_coarse(s->store);
    if (now > s->last_ts)
        s->last_ts = now;
    sub->preassigned = 1;
    sub->timestamp = s->last_ts;
    for (size_t j = 0; j < sub->count; j++)
        sub->seq[j] = s->next_seq++;
    if (b->first_seq == 0)
        b->first_seq = sub->seq[0];
    b->last_seq = sub->seq[sub->count - 1];
    const sotto_store_device_set *d = s->cfg.early_push ? devcache_get(s, sub->recipient) : NULL;
    bool may = sotto_store_devices_match(sub, d);
    for (size_t j = 0; j < sub->count; j++) {
        const sotto_store_outgoing *o = &sub->envelopes[j];
        bool ok = may;
        if (ok) {
            size_t i = 0;
            while (d->device_id[i] != o->device_id)
                i++;
            ok = sotto_store_make_id(s->store, sub->seq[j], d->row[i], o->body_len,
                                     sub->id[j]) == SOTTO_STORE_OK;
        }
        sotto_store_envelope e;
        envelope_of(sub, j, &e);
        if (sotto_ws_deliver_early(s, sub->recipient, o->device_id, &e, ok)) {
            m->early[j] = EARLY_PUSHED;
            b->waiting++;
            sotto_g_metrics.messages_pushed_early_total++;
        }
    }
}

static void batch_done(uv_work_t *w, int status)
{
    sotto_batch *b = w->data;
    sotto_srv *s = b->srv;
    s->jobs--;
    sotto_g_metrics.batches_total++;
    /* What came during this commit goes to the writer at once, while this
     * batch is answered and pushed here: the writer never waits for the
     * loop. Order holds: the next batch commits after this one, and its
     * answers and pushes come in a later batch_done on this same thread. */
    s->inflight = NULL;
    rearm(s);
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
            for (size_t k = 0; k < sub->count; k++)
                stored += !sub->delivered[k];
        answer_submission(&b->meta[i], sub);
    }
    sotto_g_metrics.messages_relayed_total += stored;
    if (b->rc == SOTTO_STORE_OK && status == 0)
        sotto_g_metrics.messages_unwritten_total += b->unwritten;
    /* What this commit saw of its recipients' devices, unless a device
     * changed since it began. */
    if (b->rc == SOTTO_STORE_OK && status == 0 && b->epoch == s->devcache_epoch)
        for (size_t i = 0; i < b->n_sets; i++)
            devcache_put(s, &b->sets[i]);
    /* The commit moved the store's mark past its seqs by the reserve. */
    if (b->rc == SOTTO_STORE_OK && status == 0 && b->last_seq != 0 &&
        b->last_seq + SOTTO_STORE_SEQ_RESERVE > s->seq_limit)
        s->seq_limit = b->last_seq + SOTTO_STORE_SEQ_RESERVE;
    /* Acks: answered (HTTP) only now that the deletes are on disk. */
    for (size_t i = 0; i < b->n_acks; i++) {
        ack_item *a = &b->acks[i];
        sotto_store_ack_req *r = &b->reqs[i];
        if (status != 0)
            r->result = SOTTO_STORE_ERR_BUSY;
        if (r->result == SOTTO_STORE_OK)
            sotto_g_metrics.messages_acked_total += r->deleted;
        else
            sotto_metrics_error(SOTTO_ERRK_STORE);
        if (a->respond && !a->c->handle_closed) {
            if (r->result == SOTTO_STORE_OK)
                sotto_conn_respond(a->c, 204, NULL, NULL, 0, NULL);
            else
                sotto_conn_error(a->c, 503, "try again");
        }
    }
    sotto_log(SOTTO_LOG_DEBUG, "batch_committed",
              " submissions=%zu envelopes=%zu acks=%zu commit_us=%llu",
              b->n, stored, b->n_acks, (unsigned long long)(b->work_ns / 1000u));
    /* Then the pushes: after every sender has its answer. */
    for (size_t i = 0; i < b->n; i++) {
        sotto_store_submission *sub = &b->subs[i];
        if (sub->result == SOTTO_STORE_OK)
            push(s, sub, &b->meta[i]);
        free(b->meta[i].bodies);
        b->meta[i].bodies = NULL;
        sotto_conn_unref(b->meta[i].c);
    }
    /* A WebSocket's window opened when its acks came: if envelopes wait in
     * the store for it (it was behind), read them now. A socket that is
     * caught up has nothing committed left unsent (later commits reach it
     * from memory), so a read would find nothing: it once cost a store read
     * on a worker for every ack. */
    for (size_t i = 0; i < b->n_acks; i++) {
        ack_item *a = &b->acks[i];
        if (!a->respond && b->reqs[i].result == SOTTO_STORE_OK &&
            a->c->state == SOTTO_CONN_WS && !a->c->ws_caught_up)
            sotto_ws_pump(a->c);
        free(a->ids);
        a->ids = NULL;
        sotto_conn_unref(a->c);
    }
    /* Every envelope of this batch is now pushed or in the queue: sockets
     * gated on it may take early pushes again. */
    if (b->last_seq > s->committed_seq)
        s->committed_seq = b->last_seq;
    b->n = b->envelopes = b->n_acks = 0;
    b->first_seq = b->last_seq = 0;
    b->unwritten = b->n_sets = b->waiting = 0;
    if (s->spare == NULL)
        s->spare = b;
    else
        s->spare2 = b;
    if (s->inflight == NULL && !s->batch_timer_on)
        rearm(s);           /* what came while answering */
    sotto_srv_check_drain(s);
}

static void start(sotto_srv *s)
{
    if (s->inflight != NULL)
        return;
    sotto_batch *b = s->pending;
    if (b->n == 0 && b->n_acks == 0)
        return;
    if (s->spare == NULL && s->spare2 == NULL)
        return;             /* started again at the end of the batch_done under way */
    if (s->batch_timer_on) {
        uv_timer_stop(&s->batch_timer);
        s->batch_timer_on = false;
    }
    s->batch_started_ms = uv_now(s->loop);
    b->epoch = s->devcache_epoch;
    if (b->cap_sets < b->n) {
        sotto_store_device_set *ns = realloc(b->sets, b->cap * sizeof *ns);
        if (ns != NULL) {
            b->sets = ns;
            b->cap_sets = b->cap;
        }
    }
    b->n_sets = 0;
    s->inflight = b;
    if (s->spare != NULL) {
        s->pending = s->spare;
        s->spare = NULL;
    } else {                /* the other one is being answered (batch_done) */
        s->pending = s->spare2;
        s->spare2 = NULL;
    }
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
    rearm(s);               /* the window is over; a hold may still run */
}

/* A batch holding envelopes pushed early and not acked yet waits for their
 * acks up to early_hold_ms after its first submission: an envelope acked
 * before its batch goes is never written (nor deleted). Only the senders'
 * answers wait: the recipients have their envelopes. The time it may still
 * wait, 0 if none. */
static uint64_t held(const sotto_srv *s, const sotto_batch *b, uint64_t now)
{
    if (b->waiting == 0 || s->draining || s->cfg.early_hold_ms == 0 ||
        b->n >= SOTTOD_BATCH_HARD_CAP / 2)   /* never into "server busy" for it */
        return 0;
    uint64_t until = b->oldest_ms + s->cfg.early_hold_ms;
    return now < until ? until - now : 0;
}

static void arm(sotto_srv *s)
{
    sotto_batch *b = s->pending;
    if ((b->envelopes + b->n_acks >= s->cfg.batch_max_envelopes &&
         held(s, b, uv_now(s->loop)) == 0) || s->draining ||
        (s->cfg.batch_window_ms == 0 && held(s, b, uv_now(s->loop)) == 0)) {
        start(s);
        return;
    }
    /* Idle writer: now if the last batch started a window ago (a lone
     * message after a quiet spell waits for nothing), else when it has. */
    if (s->inflight == NULL)
        rearm(s);
}

/* After a commit: what waits goes at once when it is a full batch, else no
 * sooner than batch_window_ms after the previous batch started. Every commit
 * costs a fixed ~1 ms of CPU (fsync, WAL, locks, thread hand-offs), so under
 * a steady trickle this caps commits at 1000 / batch_window_ms a second
 * instead of one per message or two, for at most that much latency. */
static void rearm(sotto_srv *s)
{
    sotto_batch *b = s->pending;
    if (b->n == 0 && b->n_acks == 0)
        return;
    uint64_t due = s->batch_started_ms + s->cfg.batch_window_ms, now = uv_now(s->loop);
    uint64_t hold = held(s, b, now);
    if (hold > 0 && now + hold > due)
        due = now + hold;
    if ((b->envelopes + b->n_acks >= s->cfg.batch_max_envelopes && hold == 0) || s->draining ||
        now >= due) {
        start(s);
        return;
    }
    if (!s->batch_timer_on) {
        uv_timer_start(&s->batch_timer, on_batch_timer, due - now, 0);
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

static void submit(sotto_conn *c, bool ws, uint32_t ws_id,
                   const uint8_t recipient[SOTTO_STORE_UUID_BYTES],
                   const sotto_store_outgoing *outs, size_t n, uint8_t *bodies)
{
    sotto_srv *s = c->srv;
    sotto_batch *b = s->pending;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        const char *why = NULL;
        if (cap > SOTTOD_BATCH_HARD_CAP) {
            why = "server busy, try again";
        } else {
            sotto_store_submission *ns = realloc(b->subs, cap * sizeof *ns);
            if (ns != NULL)
                b->subs = ns;
            sub_meta *nm = ns ? realloc(b->meta, cap * sizeof *nm) : NULL;
            if (nm == NULL) {
                why = "out of memory";
            } else {
                b->meta = nm;
                b->cap = cap;
            }
            fix_pointers(b);
        }
        if (why != NULL) {
            free(bodies);
            if (ws)
                sotto_ws_answer_send(c, ws_id, 503, why, NULL);
            else
                sotto_conn_error(c, 503, why);
            return;
        }
    }
    /* Seqs handed out must stay below the store's mark (store.h): when
     * commits fail for long, submissions wait for one to succeed. */
    if (s->next_seq + n > s->seq_limit) {
        free(bodies);
        if (ws)
            sotto_ws_answer_send(c, ws_id, 503, "server busy, try again", NULL);
        else
            sotto_conn_error(c, 503, "server busy, try again");
        return;
    }
    sub_meta *m = &b->meta[b->n];
    sotto_store_submission *sub = &b->subs[b->n];
    memset(sub, 0, sizeof *sub);
    m->c = c;
    m->ws = ws;
    m->ws_id = ws_id;
    m->bodies = bodies;
    memcpy(m->outs, outs, n * sizeof *outs);
    memcpy(sub->recipient, recipient, SOTTO_STORE_UUID_BYTES);
    sub->has_sender = 1;
    memcpy(sub->sender, c->uuid, SOTTO_STORE_UUID_BYTES);
    sub->sender_device = c->device;
    sub->envelopes = m->outs;
    sub->count = n;
    memset(m->early, EARLY_NO, sizeof m->early);
    if (b->n == 0)
        b->oldest_ms = uv_now(s->loop);
    early_push(s, b, sub, m);
    b->n++;
    b->envelopes += n;
    if (ws)
        c->ws_sends++;
    else
        c->paused = true;
    sotto_conn_ref(c);
    arm(s);
}

void sotto_batch_submit(sotto_conn *c, const uint8_t recipient[SOTTO_STORE_UUID_BYTES],
                        const sotto_store_outgoing *outs, size_t n, uint8_t *bodies)
{
    submit(c, false, 0, recipient, outs, n, bodies);
}

void sotto_batch_submit_ws(sotto_conn *c, uint32_t send_id,
                           const uint8_t recipient[SOTTO_STORE_UUID_BYTES],
                           const sotto_store_outgoing *outs, size_t n, uint8_t *bodies)
{
    submit(c, true, send_id, recipient, outs, n, bodies);
}

/* An ack (WebSocket) for an envelope pushed early and still waiting in the
 * pending batch: the envelope is on its device, so it is never written,
 * and the ack has nothing to delete. True if id was such an ack. */
static bool ack_unwritten(sotto_conn *c, sotto_batch *b,
                          const uint8_t id[SOTTO_STORE_ENVELOPE_ID_BYTES])
{
    uint64_t seq = 0;
    int64_t row = 0;
    size_t len = 0;
    if (b->first_seq == 0 || !sotto_store_open_id(c->srv->store, id, &seq, &row, &len) ||
        seq < b->first_seq || seq > b->last_seq)
        return false;
    /* The submission holding seq: seqs rise along the batch. */
    size_t lo = 0, hi = b->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->subs[mid].seq[0] <= seq)
            lo = mid;
        else
            hi = mid;
    }
    sotto_store_submission *sub = &b->subs[lo];
    sub_meta *m = &b->meta[lo];
    uint64_t k = seq - sub->seq[0];
    if (k >= sub->count || m->early[k] != EARLY_PUSHED ||
        sub->envelopes[k].device_id != c->device || sub->envelopes[k].body_len != len ||
        memcmp(sub->recipient, c->uuid, SOTTO_STORE_UUID_BYTES) != 0 ||
        memcmp(sub->id[k], id, SOTTO_STORE_ENVELOPE_ID_BYTES) != 0)
        return false;
    m->early[k] = EARLY_ACKED;
    sub->delivered[k] = 1;
    b->unwritten++;
    b->waiting--;
    return true;
}

void sotto_batch_ack(sotto_conn *c, const uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES], size_t n,
                     bool respond)
{
    sotto_srv *s = c->srv;
    sotto_batch *b = s->pending;
    if (n == 0 || n > SOTTO_STORE_MAX_ACKS)
        return;
    uint8_t rest[SOTTO_STORE_MAX_ACKS][SOTTO_STORE_ENVELOPE_ID_BYTES];
    if (!respond && b->first_seq != 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!ack_unwritten(c, b, ids[i]))
                memcpy(rest[k++], ids[i], SOTTO_STORE_ENVELOPE_ID_BYTES);
        if (b->waiting == 0 && s->inflight == NULL && s->batch_timer_on) {
            /* The last early push it waited for came back: no need to wait
             * out the hold. */
            uv_timer_stop(&s->batch_timer);
            s->batch_timer_on = false;
            rearm(s);
            b = s->pending;
        }
        if (k == 0)
            return;
        ids = (const uint8_t (*)[SOTTO_STORE_ENVELOPE_ID_BYTES])rest;
        n = k;
    }
    if (b->n_acks == b->cap_acks) {
        size_t cap = b->cap_acks ? b->cap_acks * 2 : 64;
        ack_item *na = cap <= SOTTOD_BATCH_HARD_CAP ? realloc(b->acks, cap * sizeof *na) : NULL;
        if (na != NULL)
            b->acks = na;
        sotto_store_ack_req *nr = na ? realloc(b->reqs, cap * sizeof *nr) : NULL;
        if (nr == NULL) {
            if (respond)
                sotto_conn_error(c, 503, "server busy, try again");
            return; /* a WebSocket ack lost here is redelivered later: at least once */
        }
        b->reqs = nr;
        b->cap_acks = cap;
    }
    ack_item *a = &b->acks[b->n_acks];
    sotto_store_ack_req *r = &b->reqs[b->n_acks];
    memset(a, 0, sizeof *a);
    memset(r, 0, sizeof *r);
    a->ids = malloc(n * sizeof *a->ids);
    if (a->ids == NULL) {
        if (respond)
            sotto_conn_error(c, 503, "out of memory");
        return;
    }
    memcpy(a->ids, ids, n * sizeof *a->ids);
    a->c = c;
    a->respond = respond;
    memcpy(r->uuid, c->uuid, sizeof r->uuid);
    r->device_id = c->device;
    r->ids = (const uint8_t (*)[SOTTO_STORE_ENVELOPE_ID_BYTES])a->ids;
    r->n = n;
    b->n_acks++;
    if (respond)
        c->paused = true;
    sotto_conn_ref(c);
    arm(s);
}
