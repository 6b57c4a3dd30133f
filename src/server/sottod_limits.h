/* sottod: every named limit of the relay server, in one place.
 * Each is documented in docs/SERVER.md; most can be lowered (never raised
 * past the hard cap) in sottod.conf. Every one is checked before any
 * allocation sized by outside input. */
#ifndef SOTTOD_LIMITS_H
#define SOTTOD_LIMITS_H

/* HTTP request line + headers, up to and including the blank line. */
#define SOTTOD_MAX_HEADER_BYTES_PREAUTH  4096u   /* connection not yet authenticated */
#define SOTTOD_MAX_HEADER_BYTES          16384u  /* after authentication */
#define SOTTOD_MAX_HEADERS               48u     /* header lines per request */
#define SOTTOD_MAX_TARGET_BYTES          1024u   /* request target (path + query) */
#define SOTTOD_MAX_METHOD_BYTES          16u

/* HTTP request body (Content-Length only; chunked bodies are refused). */
#define SOTTOD_MAX_BODY_PREAUTH          8192u       /* register, or unauthenticated */
#define SOTTOD_MAX_BODY                  (2u << 20)  /* 2 MiB, authenticated */

/* One envelope's content bytes (after base64 decoding). */
#define SOTTOD_MAX_ENVELOPE              (128u << 10) /* 128 KiB */
/* Envelopes (recipient devices) in one submit request. */
#define SOTTOD_MAX_DEVICES_PER_SEND      64u
/* Keys in one upload. */
#define SOTTOD_MAX_PREKEYS_PER_UPLOAD    200u

/* WebSocket: a client frame or reassembled message (only acks travel upstream). */
#define SOTTOD_MAX_WS_MESSAGE            (16u << 10)  /* 16 KiB */
/* Envelopes pushed to one WebSocket before an ack must arrive. */
#define SOTTOD_WS_WINDOW                 64u
#define SOTTOD_WS_MAX_SENDS              256u    /* WebSocket "send"s awaiting their commit */
#define SOTTOD_NAME_CACHE_MS             60000u  /* username -> uuid kept on the loop thread */
#define SOTTOD_WS_PARK_MS                1000u   /* quiet this long: wslay context freed */
/* Bytes queued for one socket before we stop producing for it. */
#define SOTTOD_MAX_WRITE_QUEUE           (256u << 10)

/* Connections open at once (the listener stops accepting past this). */
#define SOTTOD_MAX_CONNECTIONS           20000u
/* A request's head must arrive within this many ms (slow-loris guard). */
#define SOTTOD_HEADER_TIMEOUT_MS         10000u
/* An idle keep-alive HTTP connection is closed after this many ms. */
#define SOTTOD_IDLE_TIMEOUT_MS           60000u
/* A WebSocket without any traffic gets a ping after this, closed after twice. */
#define SOTTOD_WS_PING_MS                30000u

/* Batched commits: a batch is committed when it holds this many envelopes
 * or this long after its first one arrived, whichever comes first. */
#define SOTTOD_BATCH_MAX_ENVELOPES       512u
#define SOTTOD_BATCH_WINDOW_MS           4u      /* see batch.c rearm */
#define SOTTOD_EARLY_HOLD_MS             30u     /* see batch.c held */

/* Registration rate limit, per source address (token bucket). */
#define SOTTOD_REGISTER_BURST            10u
#define SOTTOD_REGISTER_PER_HOUR         60u
/* Failed authentications per source address (token bucket): once empty,
 * further attempts get 429 before any Argon2id is spent on them. */
#define SOTTOD_AUTH_FAIL_BURST           20u
#define SOTTOD_AUTH_FAIL_PER_HOUR        120u
#define SOTTOD_RATELIMIT_SLOTS           4096u  /* fixed table, least recently used evicted */

/* Queued envelopes expire after this many seconds (30 days). */
#define SOTTOD_EXPIRE_SECONDS            (30u * 24u * 3600u)
#define SOTTOD_EXPIRE_SWEEP_MS           (3600u * 1000u)

/* Messages returned by one HTTP fetch. */
#define SOTTOD_FETCH_PAGE                100u
#define SOTTOD_FETCH_MAX_BYTES           (1u << 20)  /* JSON bytes of one page, roughly */

/* Usernames: 3..32 of [a-z0-9_.-]; device secrets: 32..128 bytes. */
#define SOTTOD_USERNAME_MIN              3u
#define SOTTOD_USERNAME_MAX              32u
#define SOTTOD_SECRET_MAX                128u

#endif
