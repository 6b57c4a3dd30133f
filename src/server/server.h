/* sottod: the relay's event loop, connections and their shared state.
 *
 * One libuv loop thread owns every connection. Slow or blocking work runs on
 * libuv's thread pool: Argon2id (authentication, registration) on handles
 * from a small pool, durable commits of message batches on a writer handle
 * (one batch in flight at a time, so queue order is commit order), expiry on
 * a pooled handle, key uploads and bundle fetches (they write) on pooled
 * handles, queue reads for WebSocket pushes on pooled handles. Only reads
 * (key counts, GET /v1/messages, account lookups) use the loop's own handle.
 *
 * Connection life: TLS handshake -> HTTP/1.1 (keep-alive, pipelining) ->
 * optionally WebSocket. A connection is freed only after its libuv handle is
 * closed AND no job refers to it any more (refs), never inside its own
 * callback. */
#ifndef SOTTOD_SERVER_H
#define SOTTOD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "config.h"
#include "http.h"
#include "ratelimit.h"
#include "store.h"
#include "tls.h"
#include "tls_rec.h"

#define SOTTOD_STORE_POOL      4      /* pooled handles for Argon2id / expiry jobs */
#define SOTTOD_THREADPOOL_SIZE "8"    /* libuv worker threads */
#define SOTTOD_DEV_BUCKETS     65536u /* device -> WebSocket map (power of two) */
#define SOTTOD_DRAIN_MS        10000u /* SIGTERM: connections still open after this are cut */
#define SOTTOD_SWEEP_MS        1000u  /* timeout sweep period */
#define SOTTOD_LONG_POLL_INPUT 4096u  /* bytes read ahead during a long poll, then reading stops */
#define SOTTOD_BATCH_HARD_CAP  8192u  /* submissions waiting for the writer before 503 */

typedef struct sotto_srv sotto_srv;
typedef struct sotto_conn sotto_conn;
typedef struct sotto_batch sotto_batch;

/* Follows a client's WebSocket byte stream frame by frame (header length,
 * payload length, FIN) to tell when it is between two messages. */
typedef struct sotto_ws_tracker {
    uint64_t payload_left;  /* payload bytes of the current frame still to come */
    uint8_t hdr[14];
    uint8_t hdr_len;        /* header bytes seen of the next frame */
    bool fragmented;        /* inside a fragmented data message */
} sotto_ws_tracker;

void sotto_ws_track(sotto_ws_tracker *t, const uint8_t *p, size_t n);
/* True between two complete client messages (control frames included). */
bool sotto_ws_track_idle(const sotto_ws_tracker *t);

typedef enum sotto_conn_state {
    SOTTO_CONN_TLS = 0, /* handshake */
    SOTTO_CONN_HTTP,
    SOTTO_CONN_WS,
} sotto_conn_state;

struct sotto_conn {
    uv_tcp_t tcp;
    sotto_srv *srv;
    sotto_conn *prev, *next;        /* every open connection */
    SSL *ssl;                       /* the handshake only: freed once tls is on */
    BIO *rbio, *wbio;
    sotto_tls_rec tls;              /* record layer after the handshake (tls_rec.h) */
    bool tls_on;
    uint8_t *cin;                   /* ciphertext read, not yet opened (NULL when none) */
    uint32_t cin_off, cin_len, cin_cap;
    uint8_t *pout;                  /* plaintext written, sealed at the next flush */
    uint32_t pout_len, pout_cap;
    uint8_t *in;                    /* plaintext HTTP bytes, grown on demand */
    uint32_t in_len, in_cap;
    uint32_t cur_len;               /* bytes of the request being answered */
    uint8_t state;                  /* sotto_conn_state */
    bool paused;                    /* a job owns the current request */
    bool long_poll;                 /* paused in a long poll: still read, to notice the
                                       client leaving (api_devices.c) */
    bool cur_keep_alive;
    bool closing;                   /* no more requests; close once flushed */
    bool handle_closed;
    bool reading;
    bool in_pump;
    bool want_pump;
    bool authed;                    /* auth_* valid for requests carrying auth_tag */
    bool continue_sent;             /* "100 Continue" sent for the current request */
    uint16_t refs;                  /* jobs that will come back to this conn */
    uv_work_t *job;                 /* an Argon2id job still queued: cancelled on close */
    uint8_t addr_len;
    uint8_t addr[16];               /* the peer's rate-limit key (sotto_ratelimit_key: IPv4
                                       address or IPv6 /64), never logged */
    bool ws_caught_up;              /* WebSocket: every envelope of the batches
                                       handed over so far is pushed, so the next
                                       commit's go straight from memory (here:
                                       padding before deadline_ms, no new bytes) */
    bool ws_fetching;               /* a read of the queue is on a worker */
    bool ws_refetch;                /* a commit was handed over meanwhile */
    uint64_t deadline_ms;           /* header / idle timeout; 0 = none */
    uint8_t auth_tag[32];           /* keyed hash of the accepted Authorization value */
    uint8_t uuid[SOTTO_STORE_UUID_BYTES];
    uint32_t device;
    /* WebSocket */
    wslay_event_context_ptr ws;
    sotto_conn *dev_next;           /* device map chain */
    uint64_t ws_last_seq;           /* highest queue seq pushed */
    uint32_t ws_inflight;           /* pushed, not yet acked */
    bool ws_empty_sent;
    bool ws_registered;
    bool ws_close_sent;
    bool ws_ping_sent;
    sotto_ws_tracker ws_track;      /* where the client's byte stream is: parking */
    uint64_t ws_last_rx_ms;         /* last bytes from the peer */
    uint32_t ws_sends;              /* "send" messages waiting for their commit */
    uint64_t ws_gate;               /* no early push (batch.c) until the commit of this seq:
                                       envelopes up to it may be unpushed and uncommitted */
    bool ws_pb;                     /* subprotocol "sotto.pb": binary messages (api_pb.h) */
    bool flush_queued;              /* on srv->flush_list */
    sotto_conn *flush_next;
};

typedef struct sotto_store_pool {
    uv_mutex_t mu;
    uv_cond_t cv;
    sotto_store *h[SOTTOD_STORE_POOL];
    bool busy[SOTTOD_STORE_POOL];
} sotto_store_pool;

struct sotto_srv {
    uv_loop_t *loop;
    sotto_config cfg;
    SSL_CTX *ssl_ctx;
    char fingerprint[SOTTOD_FINGERPRINT_HEX];
    uv_tcp_t listener;
    uv_signal_t sigterm, sigint;
    uv_timer_t sweep_timer, expire_timer, batch_timer, drain_timer;
    sotto_store *store;             /* loop thread */
    sotto_store *writer;            /* message commits and acks, one batch at a time */
    sotto_store_pool pool;
    sotto_ratelimit *rl_register;
    sotto_ratelimit *rl_auth_fail;
    sotto_ratelimit *rl_lookup;     /* GET /v1/accounts/{user}, per account (api_lookup.c) */
    uint64_t device_removals;       /* devices removed since start (auth.c checks a login
                                       that ran across one) */
    struct sotto_name_slot *names;  /* username -> uuid cache (api.c), made on first use */
    sotto_conn *conns;
    uint32_t n_conns;
    uint32_t jobs;                  /* thread-pool jobs in flight */
    bool listening, draining, stopped;
    sotto_conn **dev;               /* SOTTOD_DEV_BUCKETS chains */
    sotto_batch *pending, *inflight, *spare, *spare2; /* spare2: one batch is being answered
                                                         while the next commits */
    bool batch_timer_on;
    uint64_t batch_started_ms;      /* uv_now() when the last batch went to the writer */
    uint64_t next_seq;              /* the next envelope's seq (sotto_store_seq_start) */
    uint64_t committed_seq;         /* every seq up to it went through a batch_done */
    uint64_t seq_limit;             /* seqs above it may not be handed out (store's mark) */
    int64_t last_ts;                /* newest envelope time handed out (never goes back) */
    struct sotto_devcache *devcache;/* recipients' device sets as commits saw them (batch.c) */
    uint64_t devcache_epoch;        /* bumped by every device change */
    uint8_t tag_key[32];            /* keys auth_tag */
    sotto_conn *flush_list;         /* WebSockets with frames queued: written once per loop turn */
    uv_check_t flush_check;         /* runs sotto_ws_flush_deferred after each I/O round */
    struct sotto_devices_state *devices; /* linked devices: mailboxes, link tokens, in memory
                                            only (api_devices.c); NULL until first used */
};

/* server.c */
int sotto_srv_init(sotto_srv *s, uv_loop_t *loop, const sotto_config *cfg, char *err, size_t errlen);
void sotto_srv_free(sotto_srv *s);   /* after uv_run returned */
void sotto_srv_drain(sotto_srv *s);  /* what SIGTERM does */
uint64_t sotto_srv_now_ms(const sotto_srv *s);
/* Draining: stops the loop's handles once nothing is left to finish. */
void sotto_srv_check_drain(sotto_srv *s);
/* A job hands the paused request back (authentication done): go on reading. */
void sotto_conn_resume(sotto_conn *c);

/* Answers the current request: writes the response, consumes the request's
 * bytes and goes on with the next pipelined one (or closes when the request
 * or status asked for it). extra_headers: "Name: value\r\n" lines or NULL. */
void sotto_conn_respond(sotto_conn *c, int status, const char *content_type,
                        const void *body, size_t body_len, const char *extra_headers);
/* A JSON error body {"error":"..."}; statuses >= 400 other than 401/404/409/429 close. */
void sotto_conn_error(sotto_conn *c, int status, const char *message);
void sotto_conn_close(sotto_conn *c);          /* graceful: flush, close_notify, shutdown */
void sotto_conn_flush(sotto_conn *c);          /* TLS records -> socket */
/* Plaintext to send on c: sealed into TLS records by the next flush. 0 or -1. */
int sotto_conn_write(sotto_conn *c, const void *data, size_t len);
/* Opens the next whole TLS record read on c; its plaintext is appended to
 * c->in. 1: a record was used (possibly without data), 0: more ciphertext
 * is needed, -1: the connection is closing (the peer's close_notify, or a
 * bad record: an alert was sent). */
int sotto_conn_pull(sotto_conn *c);
/* Ciphertext read but not yet opened. */
bool sotto_conn_input_pending(const sotto_conn *c);
void sotto_conn_ref(sotto_conn *c);
void sotto_conn_unref(sotto_conn *c);          /* frees when closed and unreferenced */
bool sotto_conn_alive(const sotto_conn *c);    /* handle open and not closing */

sotto_store *sotto_pool_take(sotto_store_pool *p);
void sotto_pool_give(sotto_store_pool *p, sotto_store *h);

/* ws.c */
int sotto_ws_start(sotto_conn *c, const sotto_http_req *req);  /* after the 101 */
void sotto_ws_on_readable(sotto_conn *c);
void sotto_ws_pump(sotto_conn *c);            /* push queued envelopes within the window */
void sotto_ws_ping(sotto_conn *c);
void sotto_ws_close(sotto_conn *c, uint16_t code, const char *reason);
void sotto_ws_free(sotto_conn *c);
void sotto_dev_notify(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES], uint32_t device);
/* A just-committed envelope for (uuid, device): pushed from memory when that
 * device's WebSocket is caught up and has room; false when it could not be
 * (the socket reads the queue instead). Then sotto_ws_flush_dev sends. */
bool sotto_ws_deliver(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES], uint32_t device,
                      const sotto_store_envelope *e);
void sotto_ws_flush_dev(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES], uint32_t device);
/* An envelope not yet committed (batch.c): pushed now when may is true, the
 * device's WebSocket is caught up, has room, and has no earlier envelope
 * still waiting for its commit unpushed (ws_gate); true if pushed. Otherwise
 * the socket's gate moves to e->seq, so no later envelope overtakes it. */
bool sotto_ws_deliver_early(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                            uint32_t device, const sotto_store_envelope *e, bool may);
void sotto_dev_unregister(sotto_conn *c);
/* {"type":"devices"} (or its binary form) to every WebSocket of the account
 * but except_device's (0: none): a device was added or removed. */
void sotto_ws_devices_changed(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES],
                              uint32_t except_device);
/* Answers a WebSocket "send": {"type":"sent","id":id,"status":status,...} (or
 * its binary form); error (a static phrase) or mismatch (409) for failures. */
void sotto_ws_answer_send(sotto_conn *c, uint32_t id, int status, const char *error,
                          const sotto_store_mismatch *mismatch);
/* Frames queued on c are written at the end of this loop turn, together with
 * everything else queued on c meanwhile (one TLS flush, one socket write). */
void sotto_ws_defer_flush(sotto_conn *c);
void sotto_ws_flush_deferred(sotto_srv *s);
/* Frees the wslay context of a WebSocket quiet for SOTTOD_WS_PARK_MS. */
void sotto_ws_park_idle(sotto_conn *c, uint64_t now_ms);

/* api.c */
/* authed: the request carried credentials that match c->uuid/c->device. */
void sotto_api_dispatch(sotto_conn *c, const sotto_http_req *req, bool authed,
                        const uint8_t *body, size_t body_len);
/* Starts an Argon2id check of req's Authorization; the request waits (paused).
 * When it returns the connection's pump runs again. */
void sotto_auth_start(sotto_conn *c, const sotto_http_req *req);
/* Keyed hash of an Authorization value for the per-connection cache. */
void sotto_auth_tag(const sotto_srv *s, sotto_slice value, uint8_t tag[32]);
/* Renders one envelope as a JSON object into out; returns bytes or 0 if cap is short. */
size_t sotto_api_envelope_json(const sotto_store_envelope *e, char *out, size_t cap);
const char *sotto_api_store_status(sotto_store_err e, int *status);
/* The members "missingDevices":[…],"extraDevices":[…] of a 409 (no braces),
 * for the PUT answer and the WebSocket "sent". Bytes written, 0 if cap is short. */
size_t sotto_api_mismatch_json(const sotto_store_mismatch *m, char *out, size_t cap);
/* A path segment or "to" naming an account: a UUID or a username. */
sotto_store_err sotto_api_resolve_account(sotto_store *st, sotto_slice s, uint8_t uuid[16]);
/* The same on the loop thread, through a small username cache. */
sotto_store_err sotto_api_resolve_cached(sotto_srv *srv, sotto_slice s, uint8_t uuid[16]);
void sotto_api_cache_free(sotto_srv *s);

/* batch.c */
int sotto_batch_init(sotto_srv *s);
void sotto_batch_free(sotto_srv *s);
/* Takes ownership of bodies (one allocation holding every envelope body). */
void sotto_batch_submit(sotto_conn *c, const uint8_t recipient[SOTTO_STORE_UUID_BYTES],
                        const sotto_store_outgoing *outs, size_t n, uint8_t *bodies);
/* ids: n envelope ids; copied. HTTP acks (respond) get 204 after the commit. */
void sotto_batch_ack(sotto_conn *c, const uint8_t (*ids)[SOTTO_STORE_ENVELOPE_ID_BYTES], size_t n,
                     bool respond);
/* The same for a WebSocket "send": answered with sotto_ws_answer_send. */
void sotto_batch_submit_ws(sotto_conn *c, uint32_t send_id,
                           const uint8_t recipient[SOTTO_STORE_UUID_BYTES],
                           const sotto_store_outgoing *outs, size_t n, uint8_t *bodies);
/* An account's devices changed (added, removed): its device set is no longer
 * trusted for early pushes until a commit reads it again. */
void sotto_batch_devices_changed(sotto_srv *s, const uint8_t uuid[SOTTO_STORE_UUID_BYTES]);
void sotto_batch_kick(sotto_srv *s);           /* drain: commit what waits now */
bool sotto_batch_idle(const sotto_srv *s);

#endif
