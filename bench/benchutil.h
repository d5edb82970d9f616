/* SPDX-License-Identifier: ISC */
/*
 * benchutil.h: what every benchmark program in bench/ needs (bench-only
 * code, in libbench.a): clocks in milliseconds, medians, reading a file.
 */
#ifndef BENCH_BENCHUTIL_H
#define BENCH_BENCHUTIL_H

#include <stddef.h>
#include <time.h>

/* Milliseconds on clock clk: CLOCK_MONOTONIC for wall time (util/clock.h's
 * clock_ms), CLOCK_PROCESS_CPUTIME_ID or CLOCK_THREAD_CPUTIME_ID for CPU
 * time. */
double bench_ms(clockid_t clk);

/* qsort comparator for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/* Sort v[0..n) (n >= 1) ascending and return its median (the mean of the
 * middle two when n is even); v[0] is then the minimum. */
double bench_median(double *v, int n);

/* argv[i] as an integer in [lo, hi], def when argc <= i; on junk prints
 * "prog: argument i: ..." and exits 2. */
long long bench_arg(const char *prog, int argc, char **argv, int i,
                    long long lo, long long hi, long long def);

/* The whole file at path, at most max bytes, NUL-terminated one past
 * *len; on any failure prints "prog: path: reason" and exits 1.  Caller
 * frees. */
void *bench_read_file(const char *prog, const char *path, size_t max,
                      size_t *len);

#endif
