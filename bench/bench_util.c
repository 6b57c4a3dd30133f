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

static clockid_t bench_clock = CLOCK_MONOTONIC;
static int callgrind_mode;
static unsigned long last_ops; /* ops timed by the last bench_measure */

int bench_use_callgrind(void)
{
#ifdef BENCH_HAVE_CALLGRIND
    callgrind_mode = 1;
    return 1;
#else
    return 0;
#endif
}

void bench_use_cpu_time(void)
{
    bench_clock = CLOCK_PROCESS_CPUTIME_ID;
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

double bench_measure(bench_batch_fn fn, void *ctx, unsigned iters, unsigned batches)
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
    last_ops = (unsigned long)iters * (batches + 1);
    qsort(per, batches, sizeof per[0], cmp_double);
    return batches % 2 ? per[batches / 2] : (per[batches / 2 - 1] + per[batches / 2]) / 2;
}

void bench_report(bench_figure f, const char *impl, double us)
{
    if (us < 0)
        printf("%s %s failed\n", bench_figure_names[f], impl);
    else
        printf("%s %s %.2f\n", bench_figure_names[f], impl, us);
    if (callgrind_mode) /* the warm-up batch is collected too */
        printf("ops %s %s %lu\n", bench_figure_names[f], impl, last_ops);
    fflush(stdout);
}

void bench_detail(const char *impl, const char *what, double us)
{
    printf("detail %s %s %.3f\n", impl, what, us);
    fflush(stdout);
}
