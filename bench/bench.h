/* sotto-bench: shared timing helpers and the figures every part reports.
 *
 * A figure is measured as: one warm-up batch, then `batches` batches of
 * `iters` operations each, timed with clock_gettime(CLOCK_MONOTONIC); the
 * result is the median over batches of (batch time / iters), in µs per op.
 * A batch may prepare its inputs before the clock starts (bench_batch_fn
 * does both and returns only the timed nanoseconds). */
#ifndef SOTTO_BENCH_H
#define SOTTO_BENCH_H
#include <stddef.h>
#include <stdint.h>

#define BENCH_MSG_BYTES      1024 /* plaintext of the encrypt/decrypt/ping-pong figures */
#define BENCH_SETUP_MSG_BYTES 32  /* the first message of the setup figure */
#define BENCH_MAX_BATCHES    101
#define BENCH_MAX_ITERS      100000

typedef enum bench_figure {
    FIG_SETUP,     /* bundle processed, first message encrypted and decrypted */
    FIG_ENCRYPT,   /* one-direction encrypt of 1 KiB */
    FIG_DECRYPT,   /* decrypt of 1 KiB, in order */
    FIG_PINGPONG,  /* one message each way in turn: every message a DH ratchet step */
    FIG_COUNT_
} bench_figure;

extern const char *const bench_figure_names[FIG_COUNT_];

typedef struct bench_cfg {
    unsigned iters[FIG_COUNT_]; /* ops per batch, per figure */
    unsigned batches;
    unsigned figures;           /* bit f set: measure figure f */
} bench_cfg;

static inline int bench_want(const bench_cfg *cfg, bench_figure f)
{
    return (cfg->figures >> f) & 1u;
}

uint64_t bench_now_ns(void);
/* Time with CLOCK_PROCESS_CPUTIME_ID instead of CLOCK_MONOTONIC: for a
 * machine shared with other work, where wall time counts their turns too. */
void bench_use_cpu_time(void);
/* Under valgrind --tool=callgrind --collect-atstart=no: collect only the
 * timed regions (every bench_now_ns call toggles collection; the batch
 * functions call it in start/stop pairs), and report the op count with
 * each result ("ops <figure> <impl> <n>"). 0 when built without
 * valgrind/callgrind.h. */
int bench_use_callgrind(void);

/* Runs one batch of n ops; returns the timed nanoseconds, or 0 on failure. */
typedef uint64_t (*bench_batch_fn)(void *ctx, unsigned n);

/* Warm-up then cfg->batches batches; the median µs/op, or a negative value
 * on failure. */
double bench_measure(bench_batch_fn fn, void *ctx, unsigned iters, unsigned batches);

/* Prints one machine-readable result line: "<figure> <impl> <us>". */
void bench_report(bench_figure f, const char *impl, double us);
/* Extra lines (per-primitive costs): "detail <impl> <what> <us>". */
void bench_detail(const char *impl, const char *what, double us);

/* Each part fills the four figures it can measure; returns 0 on success. */
int bench_sotto(const bench_cfg *cfg);   /* libsotto's public API */
int bench_floor(const bench_cfg *cfg);   /* the primitive floor */
int bench_lspc(const bench_cfg *cfg);    /* libsignal-protocol-c 2.3.3 (v3, X3DH) */

#endif
