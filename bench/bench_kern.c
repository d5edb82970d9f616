/* SPDX-License-Identifier: ISC */
/*
 * bench_kern.c: throughput of kern_linear on the Molmo-7B-D shapes, with
 * BF16 weights as in the real checkpoint, against two peers measured in
 * the same run:
 *
 *   m == 1 (decode) is bound by memory bandwidth: it reports GB/s of
 *   weight streamed and the ratio to this machine's own read bandwidth,
 *   measured by a plain streaming read of a 1 GiB buffer (16 interleaved
 *   sequential streams per thread) with the same thread count;
 *
 *   m > 1 (prefill, vision) is bound by arithmetic: it reports GFLOP/s
 *   (2·m·rows·cols per call) and the ratio to OpenBLAS cblas_sgemm on the
 *   same product with fp32 weights (when configure found OpenBLAS).
 *
 * Every figure is the median of RUNS calls after one warm-up call, from
 * wall time and, as "cpu", from process CPU time per thread (see
 * measure()); m == 1 cycles through copies of the weights totalling
 * 1 GiB, so that it reads from DRAM as decoding the real 16 GB checkpoint
 * does.
 *
 * Usage: bench_kern [-r RUNS] [-t THREADS] [-m M] [-s SHAPE] [-v VARIANT]
 *   -t 1 or 2 ... (default: 1 then 2), -m one batch size (default 1, 128,
 *   577, 1207), -s a shape name (default all), -v scalar|avx2|avx512
 *   (default: what kern_init picks).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_OPENBLAS
#include <cblas.h>
#endif

#include "bench/benchutil.h"
#include "model/kern.h"
#include "model/kern_impl.h"
#include "model/pool.h"
#include "util/clock.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define MAX_RUNS 101

/* The weight shapes of Molmo-7B-D (Qwen2-7B decoder, CLIP ViT-L/14). */
static const struct shape {
	const char *name;
	int rows, cols; /* out features, in features */
} shapes[] = {
    {"lm.att_proj", 4608, 3584}, /* fused q,k,v: 3584 + 2·512 */
    {"lm.attn_out", 3584, 3584}, /* */
    {"lm.ff_proj", 37888, 3584}, /* packed gate+up: 2·18944 */
    {"lm.ff_out", 3584, 18944},  /* */
    {"vit.fc1", 4096, 1024},     /* */
    {"vit.fc2", 1024, 4096},     /* */
};
#define N_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

static const int batch_sizes[] = {1, 128, 577, 1207};

static uint64_t rng_state = 12345;

static float
rng_float(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (float)((double)(z >> 40) / (double)(1 << 23) - 1.0);
}

static void *
xmalloc_big(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "bench_kern: cannot allocate %zu bytes\n", n);
		exit(1);
	}
	return p;
}

/* ---- Memory bandwidth: a streaming read, split over the pool ---- */

#define STREAMS 16 /* concurrent read streams per thread, like the gemv */

struct stream_job {
	const uint64_t *buf;
	size_t n; /* 64-bit words */
	uint64_t sums[POOL_MAX_THREADS];
};

/*
 * Read this thread's slice once, as STREAMS interleaved sequential
 * streams (the access pattern of a GEMV over 16 weight rows), summing
 * 64-bit words so nothing can be skipped.
 */
static void
stream_part(void *arg, int ith, int nth)
{
	struct stream_job *j = arg;
	size_t a = j->n * (size_t)ith / (size_t)nth;
	size_t len = (j->n * (size_t)(ith + 1) / (size_t)nth - a) / STREAMS;
	const uint64_t *p[STREAMS];
	uint64_t s[STREAMS] = {0}, total = 0;

	for (int q = 0; q < STREAMS; q++)
		p[q] = j->buf + a + (size_t)q * len;
	for (size_t i = 0; i < len; i += 8)
		for (int q = 0; q < STREAMS; q++)
			s[q] += p[q][i] + p[q][i + 1] + p[q][i + 2] +
			        p[q][i + 3] + p[q][i + 4] + p[q][i + 5] +
			        p[q][i + 6] + p[q][i + 7];
	for (int q = 0; q < STREAMS; q++)
		total += s[q];
	j->sums[ith] = total;
}

/* ---- Timing ---- */

/*
 * This machine may be shared, so each figure is given twice: from wall
 * time (what a user sees) and from the process's CPU time divided by the
 * thread count ("cpu"), which time slices lost to other processes do not
 * inflate.  OpenBLAS threads may spin while they wait, which counts
 * against its "cpu" figure with 2 threads; compare "wall" there.
 */
struct timing {
	double wall, cpu; /* median seconds per call */
};

typedef void call_fn(void *arg, int run);

static struct timing
measure(call_fn *fn, void *arg, int runs, int nth)
{
	double tw[MAX_RUNS], tc[MAX_RUNS];
	struct timing t;

	fn(arg, -1); /* warm-up */
	for (int r = 0; r < runs; r++) {
		double w0 = (clock_ms() / 1e3),
		       c0 = (bench_ms(CLOCK_PROCESS_CPUTIME_ID) / 1e3);

		fn(arg, r);
		tw[r] = (clock_ms() / 1e3) - w0;
		tc[r] = ((bench_ms(CLOCK_PROCESS_CPUTIME_ID) / 1e3) - c0) / nth;
	}
	t.wall = bench_median(tw, runs);
	t.cpu = bench_median(tc, runs);
	return t;
}

/* Read bandwidth of the machine, GB/s by wall and by CPU time. */
struct stream_call {
	struct pool *p;
	struct stream_job *j;
};

static void
stream_run(void *arg, int run)
{
	struct stream_call *c = arg;

	(void)run;
	pool_run(c->p, stream_part, c->j);
}

static struct timing
stream_gbs(struct pool *p, int runs)
{
	size_t bytes = (size_t)1 << 30;
	struct stream_job j = {.n = bytes / sizeof(uint64_t)};
	uint64_t *buf = xmalloc_big(bytes);
	struct stream_call c = {p, &j};
	struct timing t;

	for (size_t i = 0; i < j.n; i++)
		buf[i] = i;
	j.buf = buf;
	t = measure(stream_run, &c, runs, pool_size(p));
	free(buf);
	t.wall = (double)bytes / t.wall / 1e9;
	t.cpu = (double)bytes / t.cpu / 1e9;
	return t;
}

/* ---- One shape ---- */

struct lin_call {
	const struct kern *k;
	struct pool *p;
	float *y;
	const float *x;
	int m;
	const struct kern_mat *w; /* [n_w] copies of the same weights */
	int n_w;
	const float *bias;
};

/* Run r uses copy r + 1 (mod n_w), the warm-up copy 0: with n_w copies
 * summing past the last-level cache, every timed run reads from DRAM. */
static void
lin_run(void *arg, int run)
{
	struct lin_call *c = arg;

	kern_linear_with(c->k, c->p, c->y, c->x, c->m,
	                 &c->w[(run + 1) % c->n_w], c->bias);
}

#ifdef BENCH_OPENBLAS
struct blas_call {
	float *y;
	const float *x, *wf;
	int m, rows, cols;
};

static void
blas_run(void *arg, int run)
{
	struct blas_call *c = arg;

	(void)run;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->m, c->rows,
	            c->cols, 1.0f, c->x, c->cols, c->wf, c->cols, 0.0f, c->y,
	            c->rows);
}
#endif

/* Total bytes of weight copies for the m == 1 runs: past any L3. */
#define DECODE_BYTES ((size_t)1 << 30)

static void
bench_shape(const struct shape *s, const struct kern *k, struct pool *p,
            int nth, const int *ms, int n_ms, int runs, struct timing mem)
{
	size_t nw = (size_t)s->rows * s->cols;
	int n_w = (int)((DECODE_BYTES + 2 * nw - 1) / (2 * nw));
	struct kern_mat *w = xcalloc((size_t)n_w, sizeof(*w));
	int max_m = 1, has_decode = 0;
#ifdef BENCH_OPENBLAS
	float *wf = NULL;
#endif

	for (int i = 0; i < n_ms; i++) {
		if (ms[i] > max_m)
			max_m = ms[i];
		if (ms[i] == 1)
			has_decode = 1;
	}
	if (!has_decode)
		n_w = 1;
	for (int c = 0; c < n_w; c++) {
		uint16_t *wb = xmalloc_big(nw * sizeof(*wb));

		for (size_t i = 0; i < nw; i++)
			wb[i] = kern_f32_to_bf16_1(rng_float() * 0.05f);
		w[c] = (struct kern_mat){wb, KERN_BF16, s->rows, s->cols};
	}

	float *x = xmalloc_big((size_t)max_m * s->cols * sizeof(float));
	float *y = xmalloc_big((size_t)max_m * s->rows * sizeof(float));
	float *bias = xmalloc_big((size_t)s->rows * sizeof(float));

	for (size_t i = 0; i < (size_t)max_m * s->cols; i++)
		x[i] = rng_float();
	for (int i = 0; i < s->rows; i++)
		bias[i] = rng_float();

	for (int mi = 0; mi < n_ms; mi++) {
		int m = ms[mi];
		struct lin_call lc = {k, p, y, x, m, w, m == 1 ? n_w : 1, bias};
		struct timing t = measure(lin_run, &lc, runs, nth);
		double flops = 2.0 * m * (double)nw;

		if (m == 1) {
			double gbs = (double)nw * 2 / t.wall / 1e9;
			double gbc = (double)nw * 2 / t.cpu / 1e9;

			printf(
			    "%-12s %6s t=%d m=%-5d %8.2f ms %6.1f GB/s "
			    "(cpu %6.1f) = %.2f x stream read (cpu %.2f x)\n",
			    s->name, k->name, nth, m, t.wall * 1e3, gbs, gbc,
			    gbs / mem.wall, gbc / mem.cpu);
			continue;
		}
		printf(
		    "%-12s %6s t=%d m=%-5d %8.2f ms %6.1f GFLOP/s (cpu %6.1f)",
		    s->name, k->name, nth, m, t.wall * 1e3,
		    flops / t.wall / 1e9, flops / t.cpu / 1e9);
#ifdef BENCH_OPENBLAS
		if (wf == NULL) {
			wf = xmalloc_big(nw * sizeof(float));
			kern_bf16_to_f32(wf, w[0].data, nw);
		}
		openblas_set_num_threads(nth);
		struct blas_call bc = {y, x, wf, m, s->rows, s->cols};
		struct timing b = measure(blas_run, &bc, runs, nth);

		printf("  openblas %6.1f (cpu %6.1f) = %.2f x (cpu %.2f x)\n",
		       flops / b.wall / 1e9, flops / b.cpu / 1e9,
		       b.wall / t.wall, b.cpu / t.cpu);
#else
		printf("  (openblas not configured)\n");
#endif
	}
#ifdef BENCH_OPENBLAS
	free(wf);
#endif
	for (int c = 0; c < n_w; c++)
		free((void *)w[c].data);
	free(w);
	free(x);
	free(y);
	free(bias);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_kern [-r RUNS] [-t THREADS] [-m M] "
	                "[-s SHAPE] [-v scalar|avx2|avx512]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	long long runs = 5, threads = 0, mval = 0;
	const char *shape = NULL, *variant = NULL, *errstr;
	const struct kern *k;
	int ms[4], n_ms = 0, c;

	setvbuf(stdout, NULL, _IOLBF, 0);

	while ((c = getopt(argc, argv, "r:t:m:s:v:")) != -1) {
		switch (c) {
		case 'r':
			if (str_to_ll(optarg, 1, MAX_RUNS, &runs, &errstr))
				usage();
			break;
		case 't':
			if (str_to_ll(optarg, 1, POOL_MAX_THREADS, &threads,
			              &errstr))
				usage();
			break;
		case 'm':
			if (str_to_ll(optarg, 1, 100000, &mval, &errstr))
				usage();
			break;
		case 's':
			shape = optarg;
			break;
		case 'v':
			variant = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	kern_init();
#ifdef BENCH_OPENBLAS
	/* OpenBLAS 0.3.21 does not know newer CPUs and falls back to SSE3
	 * kernels ("Prescott"), an unfair peer: name the AVX-512 or AVX2
	 * kernels unless the caller chose, and start again so that the
	 * library reads it when it loads. */
	if (getenv("OPENBLAS_CORETYPE") == NULL) {
		const char *core = kern_variant("avx512") ? "SkylakeX"
		                   : kern_variant("avx2") ? "Haswell"
		                                          : NULL;

		if (core != NULL) {
			setenv("OPENBLAS_CORETYPE", core, 1);
			execv("/proc/self/exe", argv);
		}
	}
	printf("kernels: %s; openblas: %s\n", kern_name(),
	       openblas_get_corename());
#else
	printf("kernels: %s\n", kern_name());
#endif
	k = variant ? kern_variant(variant) : kern_active();
	if (k == NULL) {
		fprintf(stderr, "bench_kern: variant %s not available here\n",
		        variant);
		return 1;
	}
	if (mval > 0) {
		ms[n_ms++] = (int)mval;
	} else {
		for (size_t i = 0; i < 4; i++)
			ms[n_ms++] = batch_sizes[i];
	}

	for (int nth = 1; nth <= 2; nth++) {
		int n = threads > 0 ? (int)threads : nth;
		struct err e;
		struct pool *p = pool_new(n, &e);
		struct timing mem = {0, 0};

		if (p == NULL) {
			fprintf(stderr, "bench_kern: %s\n", e.msg);
			return 1;
		}
		if (ms[0] == 1) {
			mem = stream_gbs(p, (int)runs);
			printf(
			    "stream read, %d thread(s): %.1f GB/s (cpu %.1f)\n",
			    n, mem.wall, mem.cpu);
		}
		for (size_t i = 0; i < N_SHAPES; i++)
			if (shape == NULL || strcmp(shape, shapes[i].name) == 0)
				bench_shape(&shapes[i], k, p, n, ms, n_ms,
				            (int)runs, mem);
		pool_free(p);
		if (threads > 0)
			break;
	}
	return 0;
}
