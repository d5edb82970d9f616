/* SPDX-License-Identifier: ISC */
/*
 * bench_text.c: time of the text backend per screenshot.
 *
 *   bench_text [-t threads] [-n iterations] IMAGE...
 *
 * For each PNG or JPEG: the median wall time (and CPU time) of ocr_read()
 * with one engine and with `threads` engines (default: all CPUs), their
 * ratio, and the median time of one cached query (match_parse() +
 * match_find() against the result already read).  bench/bench_text.sh
 * renders the test pages at 1280x720 and 1920x1080 and runs this.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "image/image.h"
#include "text/match.h"
#include "text/ocr.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define MAX_ITERS 50

/* Median wall and CPU ms of n reads; leaves the last result in *last. */
static void
time_reads(struct ocr *o, const struct ocr_image *img, int n, double *wall,
           double *cpu, struct ocr_result **last)
{
	double w[MAX_ITERS], c[MAX_ITERS];
	struct err e;
	int i;

	for (i = 0; i < n; i++) {
		double w0 = bench_ms(CLOCK_MONOTONIC);
		double c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		struct ocr_result *r = ocr_read(o, img, &e);

		if (r == NULL) {
			fprintf(stderr, "bench_text: %s\n", e.msg);
			exit(1);
		}
		w[i] = bench_ms(CLOCK_MONOTONIC) - w0;
		c[i] = bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
		ocr_result_free(*last);
		*last = r;
	}
	*wall = bench_median(w, n);
	*cpu = bench_median(c, n);
}

/* Median microseconds of one query on a result already read. */
static double
time_query(const struct ocr_result *r)
{
	static const char *const targets[] = {
	    "click 'Sign in'",      "the field labelled Email",
	    "Add to cart",          "the Privacy policy link",
	    "the Subscribe button",
	};
	double t[MAX_ITERS];
	struct match_hit hits[8];
	struct match_query q;
	struct err e;
	int i, k;

	for (i = 0; i < MAX_ITERS; i++) {
		double t0 = bench_ms(CLOCK_MONOTONIC);

		for (k = 0; k < 5; k++) {
			if (match_parse(targets[k], &q, &e) == -1 ||
			    match_find(r, &q, NULL, hits, 8, &e) == -1) {
				fprintf(stderr, "bench_text: %s\n", e.msg);
				exit(1);
			}
		}
		t[i] = (bench_ms(CLOCK_MONOTONIC) - t0) * 1e3 / 5;
	}
	return bench_median(t, MAX_ITERS);
}

int
main(int argc, char **argv)
{
	struct ocr_params p1 = ocr_params_default(), pn = ocr_params_default();
	struct ocr *o1, *on;
	struct err e;
	long long threads = 0, iters = 5;
	const char *why;
	int c, i;

	while ((c = getopt(argc, argv, "t:n:")) != -1) {
		switch (c) {
		case 't':
			if (str_to_ll(optarg, 0, OCR_MAX_THREADS, &threads,
			              &why) == -1) {
				fprintf(stderr, "bench_text: -t: %s\n", why);
				return 2;
			}
			break;
		case 'n':
			if (str_to_ll(optarg, 1, MAX_ITERS, &iters, &why) ==
			    -1) {
				fprintf(stderr, "bench_text: -n: %s\n", why);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: bench_text [-t threads] "
			                "[-n iterations] image...\n");
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "usage: bench_text [-t threads] [-n "
		                "iterations] image...\n");
		return 2;
	}
	p1.threads = 1;
	pn.threads = (int)threads;
	o1 = ocr_new(&p1, &e);
	on = o1 != NULL ? ocr_new(&pn, &e) : NULL;
	if (on == NULL) {
		fprintf(stderr, "bench_text: %s\n", e.msg);
		ocr_free(o1);
		return 1;
	}
	printf("%-36s %9s %11s %9s %11s %6s %8s %6s\n", "image", "1 thread",
	       "(cpu)", "N threads", "(cpu)", "ratio", "query", "words");
	for (i = optind; i < argc; i++) {
		struct image img;
		struct ocr_image oi;
		struct ocr_result *r = NULL;
		double w1, c1, wn, cn;
		size_t len;
		void *bytes = bench_read_file("bench_text", argv[i],
		                              IMAGE_MAX_BYTES, &len);

		if (image_decode(bytes, len, NULL, &img, &e) == -1) {
			fprintf(stderr, "bench_text: %s: %s\n", argv[i], e.msg);
			return 1;
		}
		free(bytes);
		oi.w = img.w;
		oi.h = img.h;
		oi.rgb = img.rgb;
		time_reads(o1, &oi, (int)iters, &w1, &c1, &r);
		time_reads(on, &oi, (int)iters, &wn, &cn, &r);
		printf("%-36s %6.0f ms %8.0f ms %6.0f ms %8.0f ms %5.2fx "
		       "%5.1f us %6zu\n",
		       strrchr(argv[i], '/') != NULL ? strrchr(argv[i], '/') + 1
		                                     : argv[i],
		       w1, c1, wn, cn, w1 / wn, time_query(r), r->n_words);
		printf("  (%dx%d, N = %d engines, median of %lld)\n", img.w,
		       img.h, ocr_threads(on), iters);
		ocr_result_free(r);
		image_fini(&img);
	}
	ocr_free(o1);
	ocr_free(on);
	return 0;
}
