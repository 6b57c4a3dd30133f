#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench.h"
#ifdef BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#endif

const char *const bench_figure_names[FIG_COUNT_] = {
    [FIG_SETUP] = "setup",
    [FIG_ENCRYPT] = "encrypt_1k",
    [FIG_DECRYPT] = "decrypt_1k",
    [FIG_PINGPONG] = "pingpong",
};

#define BENCH_MAX_PARTS 8

static clockid_t bench_clock = CLOCK_MONOTONIC;
static int callgrind_mode;

void bench_use_cpu_time(void)
{
    bench_clock = CLOCK_PROCESS_CPUTIME_ID;
}

int bench_use_callgrind(void)
{
#ifdef BENCH_HAVE_CALLGRIND
    callgrind_mode = 1;
    return 1;
#else
    return 0;
#endif
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
#ifdef BENCH_HAVE_CALLGRIND
    if (callgrind_mode)
        CALLGRIND_TOGGLE_COLLECT;
#endif
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, unsigned n)
{
    qsort(v, n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_measure(uint64_t (*fn)(void *ctx, unsigned n), void *ctx, unsigned iters,
                     unsigned batches)
{
    double per[BENCH_MAX_BATCHES];
    if (iters == 0 || iters > BENCH_MAX_ITERS || batches == 0 || batches > BENCH_MAX_BATCHES)
        return -1;
    if (fn(ctx, iters) == 0) /* warm-up */
        return -1;
    for (unsigned b = 0; b < batches; b++) {
        uint64_t ns = fn(ctx, iters);
        if (ns == 0)
            return -1;
        per[b] = (double)ns / 1000.0 / (double)iters;
    }
    return bench_median(per, batches);
}

int bench_run(bench_part *parts, size_t n_parts, const bench_cfg *cfg)
{
    static double per[BENCH_MAX_PARTS][BENCH_MAX_BATCHES];
    double ratio[BENCH_MAX_BATCHES];
    int failed[BENCH_MAX_PARTS];
    int rc = 0;
    if (n_parts > BENCH_MAX_PARTS || cfg->batches == 0 || cfg->batches > BENCH_MAX_BATCHES)
        return -1;
    for (int f = 0; f < FIG_COUNT_; f++) {
        bench_figure fig = (bench_figure)f;
        unsigned n = cfg->iters[f];
        if (!bench_want(cfg, fig))
            continue;
        if (n == 0 || n > BENCH_MAX_ITERS)
            return -1;
        for (size_t p = 0; p < n_parts; p++) /* prepare, then warm up */
            failed[p] = parts[p].prepare(parts[p].ctx, fig) != 0 ||
                        parts[p].batch(parts[p].ctx, fig, n) == 0;
        for (unsigned r = 0; r < cfg->batches; r++) {
            for (size_t p = 0; p < n_parts; p++) {
                if (failed[p])
                    continue;
                uint64_t ns = parts[p].batch(parts[p].ctx, fig, n);
                failed[p] = ns == 0;
                per[p][r] = (double)ns / 1000.0 / (double)n;
            }
        }
        for (size_t p = 1; p < n_parts; p++) {
            if (failed[0] || failed[p])
                continue;
            for (unsigned r = 0; r < cfg->batches; r++)
                ratio[r] = per[0][r] / per[p][r];
            printf("ratio %s %s %.3f\n", bench_figure_names[f], parts[p].impl,
                   bench_median(ratio, cfg->batches));
        }
        for (size_t p = 0; p < n_parts; p++) {
            if (failed[p]) {
                printf("%s %s failed\n", bench_figure_names[f], parts[p].impl);
                rc = -1;
                continue;
            }
            printf("%s %s %.2f\n", bench_figure_names[f], parts[p].impl,
                   bench_median(per[p], cfg->batches));
            if (callgrind_mode) /* the warm-up batch is collected too */
                printf("ops %s %s %lu\n", bench_figure_names[f], parts[p].impl,
                       (unsigned long)n * (cfg->batches + 1));
        }
        fflush(stdout);
    }
    return rc;
}

void bench_detail(const char *impl, const char *what, double us)
{
    printf("detail %s %s %.3f\n", impl, what, us);
    fflush(stdout);
}
