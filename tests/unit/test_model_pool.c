/* SPDX-License-Identifier: ISC */
/*
 * test_model_pool.c: the fork-join compute pool: every ith runs exactly
 * once per run, runs may follow each other and nest, bad sizes fail with a
 * message, and pool_free joins the workers.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model/pool.h"

#define MAXT 8

struct count {
	atomic_int hits[MAXT];
	atomic_int calls;
	atomic_int bad_nth;
	int want_nth;
	pthread_t tid[MAXT];
};

static void
count_fn(void *arg, int ith, int nth)
{
	struct count *c = arg;

	if (nth != c->want_nth || ith < 0 || ith >= nth || ith >= MAXT) {
		atomic_fetch_add(&c->bad_nth, 1);
		return;
	}
	atomic_fetch_add(&c->hits[ith], 1);
	atomic_fetch_add(&c->calls, 1);
	c->tid[ith] = pthread_self();
}

START_TEST(test_pool_runs_every_ith_once)
{
	for (int n = 1; n <= 4; n++) {
		struct err e;
		struct pool *p = pool_new(n, &e);
		struct count c;

		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(pool_size(p), n);
		memset(&c, 0, sizeof(c));
		c.want_nth = n;
		pool_run(p, count_fn, &c);
		ck_assert_int_eq(atomic_load(&c.bad_nth), 0);
		ck_assert_int_eq(atomic_load(&c.calls), n);
		for (int i = 0; i < n; i++)
			ck_assert_int_eq(atomic_load(&c.hits[i]), 1);
		/* the caller is ith 0; the others are distinct threads */
		ck_assert(pthread_equal(c.tid[0], pthread_self()));
		for (int i = 1; i < n; i++)
			for (int j = 0; j < i; j++)
				ck_assert(!pthread_equal(c.tid[i], c.tid[j]));
		pool_free(p);
	}
}
END_TEST

START_TEST(test_pool_null_runs_in_caller)
{
	struct count c;

	memset(&c, 0, sizeof(c));
	c.want_nth = 1;
	ck_assert_int_eq(pool_size(NULL), 1);
	pool_run(NULL, count_fn, &c);
	ck_assert_int_eq(atomic_load(&c.calls), 1);
	ck_assert(pthread_equal(c.tid[0], pthread_self()));
	pool_free(NULL);
}
END_TEST

/* Each ith adds its slice of 0..n-1 into its own slot; no locks. */
struct sum {
	long *slots;
	int n;
};

static void
sum_fn(void *arg, int ith, int nth)
{
	struct sum *s = arg;
	long acc = 0;

	for (int i = s->n * ith / nth; i < s->n * (ith + 1) / nth; i++)
		acc += i;
	s->slots[ith] += acc;
}

START_TEST(test_pool_many_back_to_back_runs)
{
	struct pool *p = pool_new(3, NULL);
	long slots[3] = {0, 0, 0};
	struct sum s = {slots, 1000};
	const int iters = 20000;

	ck_assert_ptr_nonnull(p);
	for (int it = 0; it < iters; it++)
		pool_run(p, sum_fn, &s);
	/* the writes of every run are visible to the caller afterwards */
	ck_assert_int_eq(slots[0] + slots[1] + slots[2],
	                 (long)iters * (999L * 1000L / 2));
	pool_free(p);
}
END_TEST

struct nest {
	struct pool *p;
	atomic_int inner_calls;
	atomic_int inner_bad;
	atomic_int outer_calls;
};

static void
inner_fn(void *arg, int ith, int nth)
{
	struct nest *n = arg;

	if (ith != 0 || nth != 1)
		atomic_fetch_add(&n->inner_bad, 1);
	atomic_fetch_add(&n->inner_calls, 1);
}

static void
outer_fn(void *arg, int ith, int nth)
{
	struct nest *n = arg;

	(void)ith;
	(void)nth;
	atomic_fetch_add(&n->outer_calls, 1);
	/* the pool is busy: this runs inline as (0, 1) without deadlock */
	pool_run(n->p, inner_fn, n);
}

START_TEST(test_pool_nested_run_runs_inline)
{
	struct nest n;

	memset(&n, 0, sizeof(n));
	n.p = pool_new(2, NULL);
	ck_assert_ptr_nonnull(n.p);
	for (int it = 0; it < 100; it++)
		pool_run(n.p, outer_fn, &n);
	ck_assert_int_eq(atomic_load(&n.outer_calls), 200);
	ck_assert_int_eq(atomic_load(&n.inner_calls), 200);
	ck_assert_int_eq(atomic_load(&n.inner_bad), 0);
	pool_free(n.p);
}
END_TEST

START_TEST(test_pool_rejects_bad_sizes)
{
	struct err e;

	memset(&e, 0, sizeof(e));
	ck_assert_ptr_null(pool_new(0, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "threads"));
	ck_assert_ptr_null(pool_new(-3, &e));
	ck_assert_ptr_null(pool_new(POOL_MAX_THREADS + 1, NULL));
}
END_TEST

static atomic_int live_workers;

static void
mark_fn(void *arg, int ith, int nth)
{
	(void)arg;
	(void)nth;
	if (ith != 0)
		atomic_fetch_add(&live_workers, 1);
}

START_TEST(test_pool_free_joins_workers)
{
	/* create and free many pools; a leaked thread would show in TSan
	 * and ASan, and a missed join would hang or crash here */
	for (int it = 0; it < 200; it++) {
		struct pool *p = pool_new(4, NULL);

		ck_assert_ptr_nonnull(p);
		if (it % 2 == 0)
			pool_run(p, mark_fn, NULL);
		pool_free(p);
	}
	ck_assert_int_eq(atomic_load(&live_workers), 100 * 3);
}
END_TEST

static Suite *
pool_suite(void)
{
	Suite *s = suite_create("model_pool");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_pool_runs_every_ith_once);
	tcase_add_test(tc, test_pool_null_runs_in_caller);
	tcase_add_test(tc, test_pool_many_back_to_back_runs);
	tcase_add_test(tc, test_pool_nested_run_runs_inline);
	tcase_add_test(tc, test_pool_rejects_bad_sizes);
	tcase_add_test(tc, test_pool_free_joins_workers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
