/* sotto-bench: libsotto's session figures next to the primitive floor and
 * libsignal-protocol-c, one machine-readable line per result:
 *     <figure> <impl> <µs per op>     (or "n/a" / "failed")
 *     detail <impl> <what> <µs>
 * bench/run.sh adds the libsignal-client (Node) anchor and prints ratios.
 *
 *   sotto-bench [--quick] [--cpu-time] [--batches B] [--scale F] [--only sotto,floor,lspc]
 *               [--figure F] [--callgrind]
 *
 * --cpu-time: process CPU time instead of CLOCK_MONOTONIC (a busy machine).
 * --figure F: only that figure (setup, encrypt_1k, decrypt_1k, pingpong).
 * --callgrind: for bench/profile.sh, under valgrind --collect-atstart=no.
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

static __attribute__((unused)) void not_built(const char *impl)
{
    for (int f = 0; f < FIG_COUNT_; f++)
        printf("%s %s n/a\n", bench_figure_names[f], impl);
}

static int usage(void)
{
    fprintf(stderr, "usage: sotto-bench [--quick] [--cpu-time] [--batches B] [--scale F] "
                    "[--only sotto,floor,lspc] [--figure F] [--callgrind]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_cfg cfg = default_cfg;
    const char *only = "sotto,floor,lspc";
    unsigned figures = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            cfg = quick_cfg;
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
            for (f = 0; f < FIG_COUNT_; f++)
                if (strcmp(name, bench_figure_names[f]) == 0)
                    break;
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
    int rc = 0;
    if (strstr(only, "sotto")) {
#ifdef BENCH_HAVE_SOTTO
        rc |= bench_sotto(&cfg) != 0;
#else
        not_built("sotto");
#endif
    }
    if (strstr(only, "floor")) {
#ifdef BENCH_HAVE_FLOOR
        rc |= bench_floor(&cfg) != 0;
#else
        not_built("floor");
#endif
    }
    if (strstr(only, "lspc")) {
#ifdef BENCH_HAVE_LSPC
        rc |= bench_lspc(&cfg) != 0;
#else
        not_built("libsignal-protocol-c");
#endif
    }
    return rc;
}
