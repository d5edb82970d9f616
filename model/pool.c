/* SPDX-License-Identifier: ISC */
/*
 * pool.c: the fork-join compute pool (see pool.h).
 *
 * Design.  One mutex guards all shared state and two condition variables
 * carry the two handoffs of a run: `start` wakes the workers when the
 * caller publishes a new job (fn, arg and a bumped generation number), and
 * `done` wakes the caller when the last worker finishes.  A worker
 * remembers the last generation it ran, so a spurious wakeup or a late
 * wakeup never runs a job twice or misses one.  The mutex hand-over gives
 * the memory ordering: what the caller wrote before pool_run is visible to
 * the workers, and what they wrote is visible to the caller afterwards.
 * No spinning: a run costs a few microseconds of wakeup, small next to a
 * matrix product.  pool_free sets `stop` and joins every worker.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/pool.h"
#include "util/xmalloc.h"

struct worker {
	struct pool *pool;
	int ith;
	pthread_t tid;
};

struct pool {
	int n;         /* threads, caller included; immutable */
	int n_started; /* worker threads created; immutable after new */
	struct worker *workers; /* [n - 1] */

	pthread_mutex_t lock;
	pthread_cond_t start; /* {lock} signalled when gen changes or stop */
	pthread_cond_t done;  /* {lock} signalled when pending reaches 0 */
	uint64_t gen;         /* {lock} number of the current job */
	int pending;          /* {lock} workers still running the job */
	bool running;         /* {lock} a pool_run is in progress */
	bool stop;            /* {lock} workers must exit */
	pool_fn *fn;          /* {lock} the current job */
	void *arg;            /* {lock} */
};

/* A worker thread: wait for a new generation, run its share, report. */
static void *
worker_main(void *varg)
{
	struct worker *w = varg;
	struct pool *p = w->pool;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->start, &p->lock);
		if (p->stop)
			break;
		seen = p->gen;
		pool_fn *fn = p->fn;
		void *arg = p->arg;
		pthread_mutex_unlock(&p->lock);

		fn(arg, w->ith, p->n);

		pthread_mutex_lock(&p->lock);
		p->pending--;
		if (p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct pool *
pool_new(int n_threads, struct err *e)
{
	struct pool *p;
	int rc;

	if (n_threads < 1 || n_threads > POOL_MAX_THREADS) {
		err_set(e, "pool: %d threads requested, must be 1..%d",
		        n_threads, POOL_MAX_THREADS);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->n = n_threads;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->start, NULL);
	pthread_cond_init(&p->done, NULL);
	if (n_threads == 1)
		return p;

	p->workers = xcalloc((size_t)n_threads - 1, sizeof(*p->workers));
	for (int i = 0; i < n_threads - 1; i++) {
		struct worker *w = &p->workers[i];

		w->pool = p;
		w->ith = i + 1;
		rc = pthread_create(&w->tid, NULL, worker_main, w);
		if (rc != 0) {
			err_set(e, "pool: cannot start thread %d of %d: %s",
			        i + 1, n_threads, strerror(rc));
			pool_free(p);
			return NULL;
		}
		p->n_started++;
	}
	return p;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->n_started; i++)
		pthread_join(p->workers[i].tid, NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->start);
	pthread_mutex_destroy(&p->lock);
	free(p->workers);
	free(p);
}

int
pool_size(const struct pool *p)
{
	return p == NULL ? 1 : p->n;
}

void
pool_run(struct pool *p, pool_fn *fn, void *arg)
{
	if (p == NULL || p->n == 1) {
		fn(arg, 0, 1);
		return;
	}

	pthread_mutex_lock(&p->lock);
	if (p->running) {
		/* Nested or concurrent call: run alone in this thread. */
		pthread_mutex_unlock(&p->lock);
		fn(arg, 0, 1);
		return;
	}
	p->running = true;
	p->fn = fn;
	p->arg = arg;
	p->pending = p->n - 1;
	p->gen++;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->lock);

	fn(arg, 0, p->n);

	pthread_mutex_lock(&p->lock);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->lock);
	p->running = false;
	p->fn = NULL;
	p->arg = NULL;
	pthread_mutex_unlock(&p->lock);
}
