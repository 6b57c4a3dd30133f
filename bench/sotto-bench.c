/* sotto-bench: libsotto's session figures next to the primitive floor and
 * libsignal-protocol-c, one machine-readable line per result:
 *     <figure> <impl> <µs per op>     (or "n/a" / "failed")
 *     detail <impl> <what> <µs>
 * bench/run.sh adds the libsignal-client (Node) anchor and prints ratios.
 *
 *   sotto-bench [--quick] [--cpu-time] [--batches B] [--scale F] [--only sotto,floor,lspc]
 *               [--figure F] [--callgrind]
 *   sotto-bench --layers [--quick] [--batches B] [--scale F] [--figure F]
 *
 * --cpu-time: process CPU time instead of CLOCK_MONOTONIC (a busy machine).
 * --figure F: only that figure (setup, encrypt_1k, decrypt_1k, pingpong, epoch).
 * epoch (libsotto only, after the others): µs per full SPQR epoch of a 1 KiB
 *   ping-pong and messages per epoch ("epoch sotto <µs>", "epoch_msgs sotto
 *   <n>"); see bench_sotto_epoch in bench.h.
 * --callgrind: for bench/profile.sh, under valgrind --collect-atstart=no.
 * --layers: instead, the group, sealed sender and fingerprint figures
 *   (layers.c): libsotto and the floor, wall and CPU time both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#define BENCH_DEFAULT_BATCHES 11

static const bench_cfg default_cfg = {
    .iters = { [FIG_SETUP] = 100, [FIG_ENCRYPT] = 2000, [FIG_DECRYPT] = 2000,
               [FIG_PINGPONG] = 300 },
    .batches = BENCH_DEFAULT_BATCHES,
    .figures = (1u << FIG_COUNT_) - 1,
};

static const bench_cfg quick_cfg = { /* smoke test: every path once or twice */
    .iters = { [FIG_SETUP] = 2, [FIG_ENCRYPT] = 10, [FIG_DECRYPT] = 10, [FIG_PINGPONG] = 4 },
    .batches = 1,
    .figures = (1u << FIG_COUNT_) - 1,
};

static void not_built(const char *impl, const bench_cfg *cfg, const char *what)
{
    for (int f = 0; f < FIG_COUNT_; f++)
        if (bench_want(cfg, (bench_figure)f))
            printf("%s %s %s\n", bench_figure_names[f], impl, what);
}

static int usage(void)
{
    fprintf(stderr, "usage: sotto-bench [--quick] [--cpu-time] [--batches B] [--scale F] "
                    "[--only sotto,floor,lspc] [--figure F] [--callgrind]\n"
                    "       sotto-bench --layers [--quick] [--batches B] [--scale F] [--figure F]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_cfg cfg = default_cfg;
    const char *only = "sotto,floor,lspc";
    unsigned figures = 0;
    int layers = 0, quick = 0, want_epoch = 1;
    double scale = 1;
    const char *layer_fig = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--layers") == 0)
            layers = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--layers") == 0)
            continue;
        if (strcmp(argv[i], "--figure") == 0 && i + 1 < argc)
            layer_fig = argv[i + 1];

        if (strcmp(argv[i], "--quick") == 0) {
            cfg = quick_cfg;
            quick = 1;
        } else if (strcmp(argv[i], "--cpu-time") == 0) {
            bench_use_cpu_time();
        } else if (strcmp(argv[i], "--callgrind") == 0) {
            if (!bench_use_callgrind()) {
                fprintf(stderr, "sotto-bench: built without valgrind/callgrind.h\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--figure") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            int f;
            if (strcmp(name, "epoch") == 0 && !layers) {
                want_epoch = 2; /* only it */
                continue;
            }
            for (f = 0; f < FIG_COUNT_; f++)
                if (strcmp(name, bench_figure_names[f]) == 0)
                    break;
            if (f == FIG_COUNT_ && layers)
                continue; /* a layers figure: checked there */
            if (f == FIG_COUNT_)
                return usage();
            figures = 1u << f;
        } else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
            long b = strtol(argv[++i], NULL, 10);
            if (b < 1 || b > BENCH_MAX_BATCHES)
                return usage();
            cfg.batches = (unsigned)b;
        } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
            double s = strtod(argv[++i], NULL);
            if (!(s > 0 && s <= 10))
                return usage();
            scale = s;
            for (int f = 0; f < FIG_COUNT_; f++) {
                double n = cfg.iters[f] * s;
                cfg.iters[f] = n < 1 ? 1 : (unsigned)n;
            }
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            return usage();
        }
    }
    if (figures)
        cfg.figures = figures;
    if (want_epoch == 2)
        cfg.figures = figures; /* epoch plus any figure named too */
    else if (figures)
        want_epoch = 0;
    if (layers) {
#ifdef BENCH_HAVE_LAYERS
        return bench_layers_main(cfg.batches, scale, quick, layer_fig) == 0 ? 0 : 1;
#else
        (void)scale;
        (void)quick;
        (void)layer_fig;
        printf("layers n/a\n");
        return 0;
#endif
    }

    /* libsotto first: every ratio is libsotto / part. A part not built yet
     * prints n/a; one that fails to open prints failed. */
    bench_part parts[3];
    size_t n = 0;
    int rc = 0;
    struct { const char *key, *impl; int (*open)(bench_part *, const bench_cfg *); } all[] = {
#ifdef BENCH_HAVE_SOTTO
        { "sotto", "sotto", bench_sotto_open },
#else
        { "sotto", "sotto", NULL },
#endif
#ifdef BENCH_HAVE_FLOOR
        { "floor", "floor", bench_floor_open },
#else
        { "floor", "floor", NULL },
#endif
#ifdef BENCH_HAVE_LSPC
        { "lspc", "libsignal-protocol-c", bench_lspc_open },
#else
        { "lspc", "libsignal-protocol-c", NULL },
#endif
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!strstr(only, all[i].key))
            continue;
        if (!all[i].open) {
            not_built(all[i].impl, &cfg, "n/a");
        } else if (all[i].open(&parts[n], &cfg) != 0) {
            not_built(all[i].impl, &cfg, "failed");
            rc = 1;
        } else {
            n++;
        }
    }
    if (n > 0 && cfg.figures && bench_run(parts, n, &cfg) != 0)
        rc = 1;
    if (want_epoch && strstr(only, "sotto")) {
        if (n == 0 || strcmp(parts[0].impl, "sotto") != 0) {
            printf("epoch sotto n/a\nepoch_msgs sotto n/a\n");
        } else if (bench_sotto_epoch(parts[0].ctx, quick ? 1 : BENCH_EPOCH_PER_BATCH,
                                     cfg.batches) != 0) {
            printf("epoch sotto failed\nepoch_msgs sotto failed\n");
            rc = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        parts[i].close(parts[i].ctx);
    return rc;
}
