/* sotto-bench: shared timing helpers and the figures every part reports.
 *
 * A figure is measured in paired rounds: every part (libsotto, the floor,
 * libsignal-protocol-c) runs one warm-up batch, then `batches` rounds in
 * each of which every part runs one batch of `iters` ops in turn, timed with
 * clock_gettime(CLOCK_MONOTONIC). A part's result is the median over rounds
 * of (batch time / iters), in µs per op; a ratio is the median over rounds
 * of the per-round ratios, so that a machine whose load drifts during the
 * run moves both sides of a ratio alike. A batch may prepare its inputs
 * before its clock starts (it returns only the timed nanoseconds). */
#ifndef SOTTO_BENCH_H
#define SOTTO_BENCH_H
#include <stddef.h>
#include <stdint.h>

#define BENCH_MSG_BYTES       1024 /* plaintext of the encrypt/decrypt/ping-pong figures */
#define BENCH_SETUP_MSG_BYTES 32   /* the first message of the setup figure */
#define BENCH_MAX_BATCHES     101
#define BENCH_MAX_ITERS       100000
/* The epoch figure: SPQR epochs per batch (quick: 1), and the most
 * messages a batch may take before it counts as failed (libsignal needs
 * about 80 per epoch). */
#define BENCH_EPOCH_PER_BATCH 5
#define BENCH_EPOCH_MAX_MSGS  100000

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
    unsigned batches;           /* timed rounds (after one warm-up) */
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

/* One implementation under test. */
typedef struct bench_part {
    const char *impl;
    void *ctx;
    /* Before a figure's batches (e.g. a fresh session); 0 on success. */
    int (*prepare)(void *ctx, bench_figure f);
    /* n ops of figure f; the timed nanoseconds, 0 on failure. */
    uint64_t (*batch)(void *ctx, bench_figure f, unsigned n);
    void (*close)(void *ctx);
} bench_part;

/* Each opens its part (0 on success) or fails with a message on stderr. */
int bench_sotto_open(bench_part *p, const bench_cfg *cfg); /* libsotto's public API */
int bench_floor_open(bench_part *p, const bench_cfg *cfg); /* the primitive floor */
int bench_lspc_open(bench_part *p, const bench_cfg *cfg);  /* libsignal-protocol-c 2.3.3 */

/* sotto-bench --layers (layers.c): the group, sealed sender and fingerprint
 * figures, libsotto and the floor; only_fig NULL for all. 0 on success. */
int bench_layers_main(unsigned batches, double scale, int quick, const char *only_fig);

/* libsignal-protocol-c in the layers (lspc_anchor.c): the figures its API
 * has. open: NULL on failure; pre: before a batch's clock starts (the
 * decrypt figure's ciphertexts); op: one op, 0 on success. */
typedef enum bench_lspc_layer {
    BENCH_LSPC_GROUP_ENC, BENCH_LSPC_GROUP_DEC, BENCH_LSPC_FINGERPRINT
} bench_lspc_layer;
void *bench_lspc_layers_open(unsigned max_pending);
int bench_lspc_layers_pre(void *ctx, bench_lspc_layer f, unsigned n);
int bench_lspc_layers_op(void *ctx, bench_lspc_layer f, unsigned i);
void bench_lspc_layers_close(void *ctx);

/* Measures the wanted figures over the parts and prints, per figure and
 * part, "<figure> <impl> <µs>" (or "failed"), and for every part after the
 * first "ratio <figure> <impl> <first/part, median of rounds>". */
int bench_run(bench_part *parts, size_t n_parts, const bench_cfg *cfg);

/* The epoch figure (libsotto only; ours.c): ctx is an opened "sotto" part.
 * On fresh sessions, ping-pong of 1 KiB messages until an SPQR epoch
 * advance (read from the pq_ratchet field of the messages sent), then one
 * warm-up batch and `batches` batches of `epochs` epoch advances each.
 * Prints "epoch sotto <median µs per epoch>" and "epoch_msgs sotto <messages
 * per epoch over all timed batches>". 0 on success. */
int bench_sotto_epoch(void *ctx, unsigned epochs, unsigned batches);
/* Median of v[0..n) (sorts v). */
double bench_median(double *v, unsigned n);

/* Extra lines (per-primitive costs): "detail <impl> <what> <µs>". */
void bench_detail(const char *impl, const char *what, double us);
/* Median µs per op of fn over one warm-up and cfg batches (floor details). */
double bench_measure(uint64_t (*fn)(void *ctx, unsigned n), void *ctx, unsigned iters,
                     unsigned batches);

#endif
