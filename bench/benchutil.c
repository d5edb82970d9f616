/* SPDX-License-Identifier: ISC */
/* benchutil.c: see benchutil.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench/benchutil.h"
#include "util/err.h"
#include "util/file.h"
#include "util/str.h"

double
bench_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void *
bench_read_file(const char *prog, const char *path, size_t max, size_t *len)
{
	struct err e;
	void *p = file_read(path, max, len, &e);

	if (p == NULL) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		exit(1);
	}
	return p;
}

long long
bench_arg(const char *prog, int argc, char **argv, int i, long long lo,
          long long hi, long long def)
{
	long long v;
	const char *err;

	if (argc <= i)
		return def;
	if (str_to_ll(argv[i], lo, hi, &v, &err) == -1) {
		fprintf(stderr, "%s: argument %d: %s: %s\n", prog, i, argv[i],
		        err);
		exit(2);
	}
	return v;
}
