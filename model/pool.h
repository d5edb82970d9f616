/* SPDX-License-Identifier: ISC */
/*
 * pool.h: the fork-join compute pool that splits one operation (a matrix
 * product, attention over heads) across threads.
 *
 * pool_run(p, fn, arg) calls fn(arg, ith, nth) once for every ith in
 * 0..nth-1, each on its own thread, the calling thread being ith 0, and
 * returns when all of them have returned (ggml's ith/nth convention).
 * Kernels split their output by ith without locks.  The workers own
 * nothing: they borrow one slice of one operation at a time and otherwise
 * sleep on a condition variable.
 *
 * Threads: a pool belongs to one owner (the inference thread).  pool_run
 * is safe to call from any thread and re-entrantly: when the pool is busy
 * (a nested call from inside fn, or a second caller), the new call runs
 * fn(arg, 0, 1) in the calling thread alone and returns, so it never
 * deadlocks.  Everywhere, p == NULL means "no pool": fn(arg, 0, 1) runs in
 * the caller.
 */
#ifndef MODEL_POOL_H
#define MODEL_POOL_H

#include "util/err.h"

/* Largest thread count pool_new accepts (caller included). */
#define POOL_MAX_THREADS 256

struct pool;

/*
 * The work function: ith in 0..nth-1 names the calling thread's share of
 * the work, nth is the number of threads taking part in this run.
 */
typedef void pool_fn(void *arg, int ith, int nth);

/*
 * Create a pool of n_threads threads in total, the caller included, so
 * n_threads - 1 worker threads are started (pool_new(1, e) starts none).
 * Returns NULL and fills e when n_threads is outside 1..POOL_MAX_THREADS or
 * a thread cannot be created.  Free with pool_free.
 */
struct pool *pool_new(int n_threads, struct err *e);

/* Stop and join the workers and free the pool.  p may be NULL.  Must not
 * be called while a pool_run on p is in progress. */
void pool_free(struct pool *p);

/* Number of threads taking part in a run (caller included); 1 for NULL. */
int pool_size(const struct pool *p);

/*
 * Run fn(arg, ith, nth) for ith = 0..nth-1 on all threads of the pool (the
 * caller runs ith 0) and return when every call has returned; everything
 * the calls wrote is then visible to the caller.  nth == pool_size(p),
 * except when p is NULL or busy (see the top of this file): then
 * fn(arg, 0, 1) runs in the caller.
 */
void pool_run(struct pool *p, pool_fn *fn, void *arg);

#endif
