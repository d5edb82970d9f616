/* SPDX-License-Identifier: ISC */
/*
 * bench_tok.c: tokenizer encode throughput on one core.
 *
 *   bench/bench_tok TOKENIZER [TEXTFILE] [REPEATS]
 *
 * TOKENIZER is a tokenizer.json or a checkpoint directory.  TEXTFILE (UTF-8)
 * defaults to a built-in English paragraph repeated to about 1 MB.  Each of
 * REPEATS runs (default 7) encodes the whole text in chunks of about 4 KB
 * (cut at character boundaries), the way prompts arrive, on the calling
 * thread only; the median, minimum and maximum MB/s (10^6 bytes of input
 * per second of wall time) are printed, and the median per second of the
 * thread's CPU time, which a busy machine disturbs less.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/benchutil.h"
#include "model/tok.h"
#include "util/err.h"
#include "util/xmalloc.h"

#define CHUNK 4096

static const char para[] =
    "The quick brown fox jumps over the lazy dog. Point to the \"Search "
    "flights\" button in the top right corner of the page, next to the "
    "user's avatar. It's 12:45 and we'll need 3 more clicks, don't we? "
    "Molmo answers with <point x=\"61.5\" y=\"40.6\" alt=\"Search\">Search"
    "</point> when it finds the target.\n";

static char *
load_text(const char *path, size_t *len)
{
	char *p;

	if (path == NULL) {
		size_t k, reps = (1u << 20) / (sizeof(para) - 1) + 1;

		p = xmalloc(reps * (sizeof(para) - 1) + 1);
		for (k = 0; k < reps; k++)
			memcpy(p + k * (sizeof(para) - 1), para,
			       sizeof(para) - 1);
		*len = reps * (sizeof(para) - 1);
		return p;
	}
	return bench_read_file("bench_tok", path, (size_t)1 << 30, len);
}

int
main(int argc, char **argv)
{
	struct tok *t;
	struct err e;
	char *text;
	size_t len, ntok = 0;
	int reps = 7, r;
	double *tok_mbs, *cpu_mbs;
	int32_t *ids;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_tok tokenizer [textfile] "
		                "[repeats]\n");
		return 2;
	}
	if (argc > 3)
		reps = (int)strtol(argv[3], NULL, 10);
	if (reps < 1)
		reps = 1;
	t = tok_open(argv[1], &e);
	if (t == NULL) {
		fprintf(stderr, "bench_tok: %s\n", e.msg);
		return 1;
	}
	text = load_text(argc > 2 ? argv[2] : NULL, &len);
	ids = xreallocarray(NULL, CHUNK + 1, sizeof(*ids));
	tok_mbs = xcalloc((size_t)reps, sizeof(*tok_mbs));
	cpu_mbs = xcalloc((size_t)reps, sizeof(*cpu_mbs));
	for (r = 0; r < reps; r++) {
		double t0 = (bench_ms(CLOCK_MONOTONIC) / 1e3),
		       c0 = (bench_ms(CLOCK_THREAD_CPUTIME_ID) / 1e3);
		double t1, c1;
		size_t off = 0;

		ntok = 0;
		while (off < len) {
			size_t n = len - off < CHUNK ? len - off : CHUNK;
			ssize_t k;

			/* Cut at a character boundary. */
			while (off + n < len &&
			       ((unsigned char)text[off + n] & 0xC0) == 0x80)
				n--;
			k = tok_encode(t, text + off, n, ids, CHUNK + 1, &e);
			if (k < 0) {
				fprintf(stderr, "bench_tok: %s\n", e.msg);
				return 1;
			}
			ntok += (size_t)k;
			off += n;
		}
		t1 = (bench_ms(CLOCK_MONOTONIC) / 1e3);
		c1 = (bench_ms(CLOCK_THREAD_CPUTIME_ID) / 1e3);
		tok_mbs[r] = (double)len / (t1 - t0) / 1e6;
		cpu_mbs[r] = (double)len / (c1 - c0) / 1e6;
	}
	qsort(tok_mbs, (size_t)reps, sizeof(double), bench_cmp_double);
	qsort(cpu_mbs, (size_t)reps, sizeof(double), bench_cmp_double);
	printf("bench_tok: %zu bytes, %zu tokens (%.2f bytes/token), %d runs\n",
	       len, ntok, (double)len / (double)(ntok ? ntok : 1), reps);
	printf("encode: median %.2f MB/s (min %.2f, max %.2f)\n",
	       tok_mbs[reps / 2], tok_mbs[0], tok_mbs[reps - 1]);
	printf("encode per CPU second of this thread: median %.2f MB/s\n",
	       cpu_mbs[reps / 2]);
	free(tok_mbs);
	free(cpu_mbs);
	free(ids);
	free(text);
	tok_close(t);
	return 0;
}
