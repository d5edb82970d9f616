/* SPDX-License-Identifier: ISC */
/*
 * bench_prep.c: how long it takes to turn a screenshot PNG into Molmo model
 * inputs, with PNG decoding (image/) and preprocessing (model/prep) timed
 * separately, on one thread and on all threads, for 1280x720 and 1920x1080.
 * Each figure is the median wall time, with the median CPU time of the
 * process beside it (on a busy machine the wall time grows much more).
 *
 * The 1280x720 input is the golden screenshot; the 1920x1080 one is made
 * from it at run time (nearest-neighbour upscale, encoded with libpng into
 * $TMPDIR), so the bench needs no network.  Medians (and the fastest run)
 * over --runs runs (default 101).
 *
 * Peers: the constants quoted in the issue (MolmoE processor: 41 ms at
 * 1280x720, 56 ms at 1920x1080, PNG decode excluded; PIL PNG decode 8 ms /
 * 18 ms), and, when a peer command follows "--" (bench_prep.sh:
 * bench/py_prep_peer.py --serve; bench_peer in benchutil.h), the same
 * measured in this run: its cases 0 and 1 are PIL decoding the 1280x720
 * and the 1920x1080 PNG, cases 2 and 3 (when it has 4) the official
 * processor on them.  Its runs are interleaved with ours, one of its runs
 * then runs/21 of ours (on one thread and on all threads), 21 rounds per
 * image (and flavour), so both sides see the same machine.
 * The speed-up printed is preprocessing alone against the processor alone
 * (the goal: at least 20x), decode against PIL's decode separately,
 * and decode + preprocess against PIL + processor.
 *
 * usage: bench_prep [--runs N] [--threads N] [--png-1080 FILE]
 *                   [--write-1080 FILE] SCREENSHOT.png [-- PEER ARGS...]
 * --write-1080 writes the generated 1920x1080 PNG to FILE and exits (the
 * script gives it to the peer); --png-1080 reads it instead of generating
 * it.
 */
#include "config.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "image/image.h"
#include "model/pool.h"
#include "model/prep.h"
#include "model/prep_impl.h" /* which pixel loops run */
#include "util/err.h"
#include "util/str.h"

#define PY_PREP_MS_720  41.0 /* MolmoE processor, 1280x720 (issue text) */
#define PY_PREP_MS_1080 56.0 /* MolmoE processor, 1920x1080 (issue text) */
#define PIL_MS_720      8.0  /* PIL PNG decode, 1280x720 (issue text) */
#define PIL_MS_1080     18.0 /* PIL PNG decode, 1920x1080 (issue text) */
#define PEER_ROUNDS     21   /* peer runs per image (and flavour) */

/* Nearest-neighbour upscale of src to w x h, written as a PNG file. */
static void
make_png(const struct image *src, int w, int h, const char *path)
{
	png_image pi;
	uint8_t *px;
	int x, y, sx, sy;

	px = malloc((size_t)w * h * 3);
	if (px == NULL)
		exit(1);
	for (y = 0; y < h; y++) {
		sy = (int)((long)y * src->h / h);
		for (x = 0; x < w; x++) {
			sx = (int)((long)x * src->w / w);
			memcpy(px + ((size_t)y * w + x) * 3,
			       src->rgb + ((size_t)sy * src->w + sx) * 3, 3);
		}
	}
	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	pi.width = (png_uint_32)w;
	pi.height = (png_uint_32)h;
	pi.format = PNG_FORMAT_RGB;
	if (!png_image_write_to_file(&pi, path, 0, px, 0, NULL)) {
		fprintf(stderr, "bench_prep: %s: %s\n", path, pi.message);
		exit(1);
	}
	free(px);
}

/* PNG decode of bytes[0..n): rounds of (the peer's case c once, when
 * there is a peer; k of our decodes).  Returns our median, with the median
 * CPU time in *cpu and the peer's median in *pil (or -1); *keep is the
 * last decoded image. */
static double
bench_decode(const void *bytes, size_t n, struct bench_peer *peer, int c,
             int rounds, int k, struct image *keep, double *cpu, double *pil)
{
	int runs = rounds * k, i, r;
	double *t = calloc((size_t)runs * 2 + (size_t)rounds, sizeof(double));
	double *tc = t + runs, *pt = t + runs * 2, t0, c0, m;
	struct image img;
	struct err e;

	if (t == NULL)
		exit(1);
	for (r = 0, i = 0; r < rounds; r++) {
		if (peer != NULL)
			bench_peer_time(peer, c, 1, pt + r);
		for (; i < (r + 1) * k; i++) {
			c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
			t0 = bench_ms(CLOCK_MONOTONIC);
			if (image_decode(bytes, n, NULL, &img, &e) == -1) {
				fprintf(stderr, "bench_prep: decode: %s\n",
				        e.msg);
				exit(1);
			}
			t[i] = bench_ms(CLOCK_MONOTONIC) - t0;
			tc[i] = bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
			if (i == runs - 1)
				*keep = img;
			else
				image_fini(&img);
		}
	}
	m = bench_median(t, runs);
	*cpu = bench_median(tc, runs);
	*pil = peer != NULL ? bench_median(pt, rounds) : -1;
	free(t);
	return m;
}

/* k runs of preprocessing and building the input ids (with a stand-in
 * 10-token prompt): wall times into t[0..k), CPU times of the process into
 * tc[0..k). */
static void
prep_times(struct prep *p, const struct image *img, struct pool *pool, int k,
           double *t, double *tc)
{
	static const int32_t text[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	static int32_t out[4096];
	struct prep_ids ids = {0, 1, 2, 3, 4};
	struct model_image mi = {img->w, img->h, img->rgb};
	double t0, c0;
	struct prep_out o;
	struct err e;
	int i;

	for (i = 0; i < k; i++) {
		c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		t0 = bench_ms(CLOCK_MONOTONIC);
		if (prep_run(p, &mi, pool, &o, &e) == -1 ||
		    prep_build_input_ids(&o, &ids, text, 10, out, 4096, &e) ==
		        -1) {
			fprintf(stderr, "bench_prep: %s\n", e.msg);
			exit(1);
		}
		t[i] = bench_ms(CLOCK_MONOTONIC) - t0;
		tc[i] = bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
	}
}

/* One flavour on one image: after a warm-up run each way, rounds of (the
 * peer's case s once, when there is a peer; k runs on one thread; k on
 * all threads).  Medians into m[0] (one thread), m[1] (all), CPU times
 * into cpu[], minima into min[], the peer's median into *py (or -1). */
static void
time_flavour(struct prep *p, const struct image *img, struct pool *pool,
             struct bench_peer *peer, int s, int rounds, int k, double m[2],
             double cpu[2], double min[2], double *py)
{
	int n = rounds * k, r, w;
	double *t = calloc((size_t)n * 4 + (size_t)rounds, sizeof(double));
	double *pt = t + (size_t)n * 4;

	if (t == NULL)
		exit(1);
	prep_times(p, img, NULL, 1, t, t + n);
	prep_times(p, img, pool, 1, t, t + n);
	for (r = 0; r < rounds; r++) {
		if (peer != NULL)
			bench_peer_time(peer, s, 1, pt + r);
		for (w = 0; w < 2; w++)
			prep_times(p, img, w == 0 ? NULL : pool, k,
			           t + (size_t)(2 * w) * n + (size_t)r * k,
			           t + (size_t)(2 * w + 1) * n + (size_t)r * k);
	}
	for (w = 0; w < 2; w++) {
		m[w] = bench_median(t + (size_t)(2 * w) * n, n);
		min[w] = t[(size_t)(2 * w) * n]; /* sorted by bench_median() */
		cpu[w] = bench_median(t + (size_t)(2 * w + 1) * n, n);
	}
	*py = peer != NULL ? bench_median(pt, rounds) : -1;
	free(t);
}

int
main(int argc, char **argv)
{
	const char *src_path = NULL, *tmpdir, *png1080 = NULL,
	           *write1080 = NULL;
	char **peer_argv = NULL;
	char path1080[4096];
	int runs = 101, threads = (int)sysconf(_SC_NPROCESSORS_ONLN), i, s, f;
	int rounds = 1;
	long long v;
	const char *es, *peer_ready = NULL;
	double pil, dec, m[2], cpu[2], mins[2], py, peer_ms, dcpu;
	struct bench_peer *peer = NULL;
	int n_cases = 0;
	struct image src, img[2];
	struct pool *pool;
	struct prep *prep[2];
	struct prep_config cfg;
	struct err e;
	void *bytes[2];
	size_t nbytes[2];
	static const char *fname[2] = {"tf (7B-D/7B-O/72B)", "torch (MolmoE)"};
	static const double py_prep[2] = {PY_PREP_MS_720, PY_PREP_MS_1080};
	static const double pil_given[2] = {PIL_MS_720, PIL_MS_1080};

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			if (str_to_ll(argv[++i], 1, 100000, &v, &es) == -1)
				break;
			runs = (int)v;
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			if (str_to_ll(argv[++i], 1, POOL_MAX_THREADS, &v,
			              &es) == -1)
				break;
			threads = (int)v;
		} else if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
			peer_argv = argv + i + 1;
			i = argc;
			break;
		} else if (strcmp(argv[i], "--png-1080") == 0 && i + 1 < argc) {
			png1080 = argv[++i];
		} else if (strcmp(argv[i], "--write-1080") == 0 &&
		           i + 1 < argc) {
			write1080 = argv[++i];
		} else if (argv[i][0] != '-') {
			src_path = argv[i];
		} else {
			break;
		}
	}
	if (src_path == NULL || i < argc || runs < 1 || threads < 1 ||
	    threads > POOL_MAX_THREADS) {
		fprintf(stderr, "usage: bench_prep [--runs N] [--threads N] "
		                "SCREENSHOT.png [-- PEER ...]\n");
		return 2;
	}
	bytes[0] = bench_read_file("bench_prep", src_path, (size_t)1 << 30,
	                           &nbytes[0]);
	if (image_decode(bytes[0], nbytes[0], NULL, &src, &e) == -1) {
		fprintf(stderr, "bench_prep: %s: %s\n", src_path, e.msg);
		return 1;
	}
	if (write1080 != NULL) {
		make_png(&src, 1920, 1080, write1080);
		image_fini(&src);
		free(bytes[0]);
		return 0;
	}
	if (png1080 != NULL) {
		bytes[1] = bench_read_file("bench_prep", png1080,
		                           (size_t)1 << 30, &nbytes[1]);
	} else {
		tmpdir = getenv("TMPDIR");
		snprintf(path1080, sizeof(path1080),
		         "%s/bench_prep_1920x1080_%ld.png",
		         tmpdir != NULL ? tmpdir : "/tmp", (long)getpid());
		make_png(&src, 1920, 1080, path1080);
		bytes[1] = bench_read_file("bench_prep", path1080,
		                           (size_t)1 << 30, &nbytes[1]);
		unlink(path1080);
	}
	image_fini(&src);

	pool = pool_new(threads, &e);
	if (pool == NULL) {
		fprintf(stderr, "bench_prep: %s\n", e.msg);
		return 1;
	}
	for (f = 0; f < 2; f++) {
		prep_config_default(&cfg, f == 0 ? PREP_RESIZE_TF
		                                 : PREP_RESIZE_TORCH);
		prep[f] = prep_new(&cfg, &e);
	}
	if (peer_argv != NULL) {
		peer = bench_peer_start("bench_prep", peer_argv, &n_cases,
		                        &peer_ready);
		if (n_cases != 2 && n_cases != 4) {
			fprintf(stderr,
			        "bench_prep: the peer has %d cases, "
			        "not 2 or 4\n",
			        n_cases);
			return 1;
		}
		rounds = runs < PEER_ROUNDS ? runs : PEER_ROUNDS;
	}
	runs = (runs + rounds - 1) / rounds * rounds;
	printf("bench_prep: median of %d runs; all threads = %d; pixel loops "
	       "%s\n",
	       runs, threads, prep[0]->kern->name);
	if (peer != NULL)
		printf("peer: %s (%s), %d runs interleaved with ours\n",
		       n_cases == 4 ? "PIL's PNG decode and the official "
		                      "Python processor"
		                    : "PIL's PNG decode",
		       peer_ready, rounds);
	for (s = 0; s < 2; s++) {
		dec = bench_decode(bytes[s], nbytes[s], peer, s, rounds,
		                   runs / rounds, &img[s], &dcpu, &pil);
		printf("\n%dx%d PNG (%zu bytes)\n", img[s].w, img[s].h,
		       nbytes[s]);
		printf("  decode (libpng)            %7.2f ms (cpu %.2f)", dec,
		       dcpu);
		if (pil > 0)
			printf("   PIL interleaved %.2f ms: %.2fx PIL speed\n",
			       pil, pil / dec);
		else
			printf("   PIL not measured (given: %.0f ms: %.2fx)\n",
			       pil_given[s], pil_given[s] / dec);
		for (f = 0; f < 2; f++) {
			time_flavour(prep[f], &img[s], pool,
			             n_cases == 4 ? peer : NULL, 2 + s, rounds,
			             runs / rounds, m, cpu, mins, &py);
			printf(
			    "  preprocess %-20s 1 thread %7.2f ms (min %.2f, "
			    "cpu %.2f), %d threads %7.2f ms (min %.2f, cpu "
			    "%.2f)\n",
			    fname[f], m[0], mins[0], cpu[0], threads, m[1],
			    mins[1], cpu[1]);
			printf("    preprocess alone vs the MolmoE Python "
			       "processor's %.0f ms (a given constant, decode "
			       "excluded): 1 thread %.1fx, %d threads %.1fx "
			       "(goal 20x)\n",
			       py_prep[s], py_prep[s] / m[0], threads,
			       py_prep[s] / m[1]);
			if (py > 0)
				printf("    preprocess alone vs the Python "
				       "processor interleaved with these runs, "
				       "%.1f ms: 1 thread %.1fx, %d threads "
				       "%.1fx (goal 20x)\n",
				       py, py / m[0], threads, py / m[1]);
			peer_ms = (pil > 0 ? pil : pil_given[s]) +
			          (py > 0 ? py : py_prep[s]);
			printf("    decode + preprocess: 1 thread %.2f ms, %d "
			       "threads %.2f ms (%.1fx PIL decode + processor, "
			       "%.0f ms)\n",
			       dec + m[0], threads, dec + m[1],
			       peer_ms / (dec + m[1]), peer_ms);
		}
	}
	bench_peer_stop(peer);
	for (s = 0; s < 2; s++) {
		image_fini(&img[s]);
		free(bytes[s]);
	}
	for (f = 0; f < 2; f++)
		prep_free(prep[f]);
	pool_free(pool);
	return 0;
}
