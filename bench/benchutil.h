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

/*
 * A peer program timed in the same run as ours, interleaved with our own
 * runs so that both see the same machine (on a shared machine the speed
 * drifts by up to 2x within minutes; timing the peer before or after us
 * compares different machines).  argv[0] is run (execvp) with pipes on its
 * standard input and output, and speaks lines:
 *   it:  "ready N TEXT"       once, after loading and warming up its
 *                             N cases
 *   we:  "CASE K"             run case CASE (0-based) K times
 *   it:  "T1 T2 ... TK"       the wall times of those runs, milliseconds
 * Closing its input ends it.  bench/py_prep_peer.py --serve is one.  Any
 * failure (no such program, an early exit, a malformed line) prints
 * "prog: peer: reason" and exits 1; the peer's own message, if any, is on
 * standard error before it.
 */
struct bench_peer;

/* Start the peer and wait for its "ready" line; *n_cases is N and *ready
 * (when not NULL) points at TEXT, owned by the peer, until
 * bench_peer_stop. */
struct bench_peer *bench_peer_start(const char *prog, char *const argv[],
                                    int *n_cases, const char **ready);

/* Run case c (0 <= c < N) k times (k >= 1) and store the times in
 * t[0..k). */
void bench_peer_time(struct bench_peer *pr, int c, int k, double *t);

/* Close the peer's input and wait for it to exit.  Accepts NULL. */
void bench_peer_stop(struct bench_peer *pr);

#endif
