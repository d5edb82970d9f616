/* SPDX-License-Identifier: ISC */
/*
 * bench_prep2.c: how long Molmo 2 preprocessing (model/prep2: tiling, the
 * two bilinear resizes, normalisation, crops and patches, pooling table)
 * takes for a 1920x1080 screenshot at max_crops 8 and 24, on one thread and
 * on all threads.  Medians and minima over --runs runs (on a busy machine
 * the minimum is the steadier figure); the output of every thread count is
 * checked to be bit-identical to the one-thread output.
 *
 * The input is made at run time from a golden PNG (default: the 1280x720
 * Molmo 2 golden screenshot), decoded with image/ (libpng) and scaled to
 * 1920x1080 nearest-neighbour, so the bench needs no network.
 *
 * Peers: the constants quoted in the issue (Molmo2ImageProcessor on this
 * kind of machine, 1920x1080: about 32-35 ms at 8 crops, 102 ms at 24
 * crops) and, when a peer command follows "--", the processor measured in
 * the same run (bench_prep2.sh: bench/py_prep_peer.py --serve running the
 * checkpoint's own image_processing_molmo2.py on the same 1920x1080 image,
 * case 0 at 8 crops, case 1 at 24; bench_peer in benchutil.h).  Its runs
 * are interleaved with ours, one of its runs then runs/21 of ours on one
 * thread and on all threads, 21 rounds per max_crops, so both sides see the
 * same machine.
 *
 * usage: bench_prep2 [--runs N] [--threads N] [SCREENSHOT.png]
 *                    [-- PEER ARGS...]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "image/image.h"
#include "model/pool.h"
#include "model/prep2.h"
#include "util/err.h"
#include "util/str.h"

#define PY_MS_8     33.5  /* Python processor, 1920x1080, 8 crops (32-35) */
#define PY_MS_24    102.0 /* Python processor, 1920x1080, 24 crops */
#define PEER_ROUNDS 21    /* runs of the peer per max_crops */
#define DEFAULT_PNG "../shared/golden/molmo2-tiny/images/case1_1280x720.png"

/* n runs of prep2_run: wall times into t[0..n), CPU times of the calling
 * thread into c[0..n) (meaningful with one thread); *out holds the last
 * result. */
static void
time_run(struct prep2 *p, const struct model_image *img, int max_crops,
         struct pool *pool, int n, struct prep2_out *out, double *t, double *c)
{
	struct err e;

	for (int i = 0; i < n; i++) {
		double t0 = bench_ms(CLOCK_MONOTONIC);
		double c0 = bench_ms(CLOCK_THREAD_CPUTIME_ID);
		if (prep2_run(p, img, max_crops, pool, out, &e) == -1) {
			fprintf(stderr, "bench_prep2: %s\n", e.msg);
			exit(1);
		}
		c[i] = bench_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
		t[i] = bench_ms(CLOCK_MONOTONIC) - t0;
	}
}

/* Nearest-neighbour scale of src to w x h (the bench input). */
static uint8_t *
scale_nn(const struct image *src, int w, int h)
{
	uint8_t *dst = malloc((size_t)w * h * 3);

	if (dst == NULL)
		exit(1);
	for (int y = 0; y < h; y++) {
		int sy = (int)((long)y * src->h / h);
		for (int x = 0; x < w; x++) {
			int sx = (int)((long)x * src->w / w);
			memcpy(dst + ((size_t)y * w + x) * 3,
			       src->rgb + ((size_t)sy * src->w + sx) * 3, 3);
		}
	}
	return dst;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: bench_prep2 [--runs N] [--threads N] [SCREENSHOT.png] "
	        "[-- PEER ...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const int crops[2] = {8, 24};
	static const double py_given[2] = {PY_MS_8, PY_MS_24};
	const char *png = DEFAULT_PNG, *err, *peer_ready = NULL;
	char **peer_argv = NULL;
	struct bench_peer *peer = NULL;
	long long runs = 41, nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	int rounds = 1, k1, n_cases;
	double *t, *pt;
	struct prep2_config cfg;
	struct prep2 *p;
	struct pool *pool;
	struct image src;
	struct model_image img;
	struct err e;
	void *bytes;
	size_t n;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			if (str_to_ll(argv[++i], 1, 10000, &runs, &err) == -1)
				usage();
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			if (str_to_ll(argv[++i], 1, POOL_MAX_THREADS, &nthreads,
			              &err) == -1)
				usage();
		} else if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
			peer_argv = argv + i + 1;
			break;
		} else if (argv[i][0] == '-') {
			usage();
		} else {
			png = argv[i];
		}
	}
	if (nthreads < 1)
		nthreads = 1;

	f = fopen(png, "rb");
	if (f == NULL) {
		perror(png);
		return 1;
	}
	bytes = malloc(IMAGE_MAX_BYTES);
	n = fread(bytes, 1, IMAGE_MAX_BYTES, f);
	fclose(f);
	if (image_decode(bytes, n, NULL, &src, &e) == -1) {
		fprintf(stderr, "bench_prep2: %s: %s\n", png, e.msg);
		return 1;
	}
	free(bytes);
	img.w = 1920;
	img.h = 1080;
	img.rgb = scale_nn(&src, img.w, img.h);

	prep2_config_default(&cfg);
	p = prep2_new(&cfg, &e);
	pool = pool_new((int)nthreads, &e);
	if (p == NULL || pool == NULL) {
		fprintf(stderr, "bench_prep2: %s\n", e.msg);
		return 1;
	}
	if (peer_argv != NULL) {
		peer = bench_peer_start("bench_prep2", peer_argv, &n_cases,
		                        &peer_ready);
		if (n_cases != 2) {
			fprintf(stderr,
			        "bench_prep2: the peer has %d cases, not 2\n",
			        n_cases);
			return 1;
		}
		rounds = runs < PEER_ROUNDS ? (int)runs : PEER_ROUNDS;
	}
	k1 = (int)((runs + rounds - 1) / rounds);
	runs = (long long)k1 * rounds;
	/* one thread's wall and CPU times, all threads', the peer's */
	t = calloc((size_t)runs * 4 + (size_t)rounds, sizeof(*t));
	if (t == NULL)
		return 1;
	pt = t + runs * 4;
	printf("bench_prep2: 1920x1080 (from %s), %lld runs each\n", png, runs);
	if (peer != NULL)
		printf("peer: the official Python processor (%s), %d runs "
		       "interleaved with ours\n",
		       peer_ready, rounds);
	for (int k = 0; k < 2; k++) {
		struct prep2_out a, b;
		float *ref;
		size_t nv;
		double t1, m1, c1, tn, mn, py = -1;

		/* warm up */
		time_run(p, &img, crops[k], NULL, 2, &a, t, t + runs);
		time_run(p, &img, crops[k], pool, 2, &b, t, t + runs);
		for (int r = 0; r < rounds; r++) {
			if (peer != NULL)
				bench_peer_time(peer, k, 1, pt + r);
			time_run(p, &img, crops[k], NULL, k1, &a,
			         t + (size_t)r * k1, t + runs + (size_t)r * k1);
			time_run(p, &img, crops[k], pool, k1, &b,
			         t + runs * 2 + (size_t)r * k1,
			         t + runs * 3 + (size_t)r * k1);
		}
		t1 = bench_median(t, (int)runs);
		m1 = t[0]; /* sorted by bench_median() */
		tn = bench_median(t + runs * 2, (int)runs);
		mn = t[runs * 2];
		if (peer != NULL)
			py = bench_median(pt, rounds);
		c1 = bench_median(t + runs, (int)runs);
		nv = (size_t)a.n_crops * a.n_patches * a.patch_dim;
		ref = malloc(nv * sizeof(float));
		if (ref == NULL)
			return 1;
		memcpy(ref, a.pixels, nv * sizeof(float));
		time_run(p, &img, crops[k], pool, 1, &b, t, t + runs);
		if (memcmp(ref, b.pixels, nv * sizeof(float)) != 0) {
			fprintf(stderr,
			        "bench_prep2: %d threads differ from 1\n",
			        pool_size(pool));
			return 1;
		}
		printf("max_crops %2d: tiling %dx%d, %2d crops, %4d tokens\n"
		       "  1 thread:   median %7.2f ms wall (min %7.2f), "
		       "%7.2f ms CPU\n"
		       "  %d threads: median %7.2f ms wall (min %7.2f), "
		       "bit-identical to 1 thread\n"
		       "  Python processor (issue): %.1f ms -> ratio "
		       "Python/ours: 1 thread %.2fx (min %.2fx), %d threads "
		       "%.2fx (min %.2fx)\n",
		       crops[k], a.rows, a.cols, a.n_crops, a.n_tokens, t1, m1,
		       c1, pool_size(pool), tn, mn, py_given[k],
		       py_given[k] / t1, py_given[k] / m1, pool_size(pool),
		       py_given[k] / tn, py_given[k] / mn);
		if (py > 0)
			printf(
			    "  Python processor interleaved with these runs: "
			    "%.1f ms -> ratio Python/ours: 1 thread %.2fx, "
			    "%d threads %.2fx (goal 20x)\n",
			    py, py / t1, pool_size(pool), py / tn);
		free(ref);
	}
	bench_peer_stop(peer);
	free(t);
	pool_free(pool);
	prep2_free(p);
	free((void *)img.rgb);
	image_fini(&src);
	return 0;
}
