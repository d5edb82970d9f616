/* SPDX-License-Identifier: ISC */
/*
 * test_model_kern.c: every SIMD kernel variant this CPU can run against
 * the scalar reference, at the sizes {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33,
 * 63, 127, 129, 255, 1023} for rows, cols and m, with seeded inputs,
 * relative tolerances and unaligned weight pointers; plus bit-identical
 * output for 1, 2 and 3 threads and for a row alone versus in a batch.
 *
 * The error measure of a dot product is |got - ref| / (Σ|x·w| + |bias|),
 * which is what fp32 rounding bounds; both the reference and the SIMD
 * code are also checked against a double-precision sum.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/kern.h"
#include "model/kern_impl.h"
#include "model/pool.h"
#include "util/xmalloc.h"

static const int sizes[] = {1,  2,  3,  5,  7,   8,   15,  16,
                            17, 31, 33, 63, 127, 129, 255, 1023};
#define N_SIZES ((int)(sizeof(sizes) / sizeof(sizes[0])))

/* Relative tolerance of a length-k fp32 dot product (see top). */
#define REL_TOL 2e-5

/* ---- Seeded PRNG (splitmix64) ---- */

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float
rng_float(uint64_t *s)
{
	return (float)((double)(rng_next(s) >> 40) / (double)(1 << 23) - 1.0);
}

/* ---- Weight matrices in any dtype, at an odd address ---- */

struct wmat {
	unsigned char *mem; /* owned; data = mem + 1 */
	struct kern_mat mat;
	float *f; /* [rows * cols] the exact fp32 values */
};

/* Store the n-th element (2 bytes or 4) of value v at an unaligned spot. */
static void
store_elem(unsigned char *base, enum kern_dtype dt, size_t i, float v,
           uint64_t *rng)
{
	if (dt == KERN_F32) {
		memcpy(base + 4 * i, &v, 4);
	} else if (dt == KERN_BF16) {
		uint16_t h = kern_f32_to_bf16_1(v);

		memcpy(base + 2 * i, &h, 2);
	} else {
		/* a random half: sign, exponent 10..20 (|v| ~ 2^-5..2^5) or
		 * occasionally a subnormal, random mantissa */
		uint64_t r = rng_next(rng);
		uint16_t h = (uint16_t)((r & 0x83ffu) |
		                        ((r >> 20) % 16 == 0
		                             ? 0
		                             : (10 + (r >> 24) % 11) << 10));

		memcpy(base + 2 * i, &h, 2);
	}
}

static void
wmat_make(struct wmat *w, enum kern_dtype dt, int rows, int cols, uint64_t *rng)
{
	size_t n = (size_t)rows * cols;
	size_t es = dt == KERN_F32 ? 4 : 2;

	w->mem = xmalloc(n * es + 1);
	w->f = xmalloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		store_elem(w->mem + 1, dt, i, rng_float(rng), rng);
	/* the exact values, read back through the scalar conversions */
	for (size_t i = 0; i < n; i++) {
		uint16_t h;

		if (dt == KERN_F32) {
			memcpy(&w->f[i], w->mem + 1 + 4 * i, 4);
			continue;
		}
		memcpy(&h, w->mem + 1 + 2 * i, 2);
		w->f[i] = dt == KERN_BF16 ? kern_bf16_1(h) : kern_f16_1(h);
	}
	w->mat.data = w->mem + 1;
	w->mat.dtype = dt;
	w->mat.rows = rows;
	w->mat.cols = cols;
}

static void
wmat_free(struct wmat *w)
{
	free(w->mem);
	free(w->f);
}

static float *
rand_vec(size_t n, uint64_t *rng)
{
	float *v = xmalloc((n ? n : 1) * sizeof(float));

	for (size_t i = 0; i < n; i++)
		v[i] = rng_float(rng);
	return v;
}

static double worst_rel; /* largest error seen, for the log */

/*
 * Compare variant k with the scalar reference on one shape and dtype;
 * returns the number of elements out of tolerance.
 */
static int
check_linear(const struct kern *k, enum kern_dtype dt, int m, int rows,
             int cols, int with_bias, uint64_t seed)
{
	uint64_t rng = seed;
	struct wmat w;
	float *x, *bias, *yr, *ys;
	int bad = 0;

	wmat_make(&w, dt, rows, cols, &rng);
	x = rand_vec((size_t)m * cols, &rng);
	bias = with_bias ? rand_vec((size_t)rows, &rng) : NULL;
	yr = xmalloc((size_t)m * rows * sizeof(float));
	ys = xmalloc((size_t)m * rows * sizeof(float));
	for (size_t i = 0; i < (size_t)m * rows; i++)
		ys[i] = yr[i] = NAN;

	kern_linear_with(&kern_scalar, NULL, yr, x, m, &w.mat, bias);
	kern_linear_with(k, NULL, ys, x, m, &w.mat, bias);

	for (int i = 0; i < m; i++) {
		for (int j = 0; j < rows; j++) {
			double exact = bias ? bias[j] : 0.0;
			double mag = bias ? fabs(bias[j]) : 0.0;

			for (int c = 0; c < cols; c++) {
				double p = (double)x[(size_t)i * cols + c] *
				           w.f[(size_t)j * cols + c];

				exact += p;
				mag += fabs(p);
			}
			float r = yr[(size_t)i * rows + j];
			float s = ys[(size_t)i * rows + j];
			double er = fabs(r - exact) / (mag + 1e-30);
			double es = fabs(s - r) / (mag + 1e-30);
			double ee = fabs(s - exact) / (mag + 1e-30);

			if (!(er <= REL_TOL && es <= REL_TOL &&
			      ee <= REL_TOL)) {
				if (bad == 0)
					fprintf(stderr,
					        "%s dt=%d m=%d rows=%d cols=%d "
					        "[%d][%d]: ref %.9g simd %.9g "
					        "exact %.9g\n",
					        k->name, dt, m, rows, cols, i,
					        j, r, s, exact);
				bad++;
			}
			if (es > worst_rel)
				worst_rel = es;
		}
	}
	wmat_free(&w);
	free(x);
	free(bias);
	free(yr);
	free(ys);
	return bad;
}

static const char *const simd_names[] = {"avx2", "avx512"};

/* Run fn for every SIMD variant this CPU supports; returns how many. */
static int
n_variants(const struct kern *out[2])
{
	int n = 0;

	for (int i = 0; i < 2; i++) {
		const struct kern *k = kern_variant(simd_names[i]);

		if (k != NULL)
			out[n++] = k;
	}
	return n;
}

START_TEST(test_kern_variants_available)
{
	const struct kern *ks[2];
	int n = n_variants(ks);

	fprintf(stderr, "kern: active %s; SIMD variants tested:", kern_name());
	for (int i = 0; i < n; i++)
		fprintf(stderr, " %s", ks[i]->name);
	fprintf(stderr, "%s\n", n == 0 ? " none (CPU lacks AVX2)" : "");
	ck_assert_ptr_nonnull(kern_variant("scalar"));
	ck_assert_ptr_null(kern_variant("nonsense"));
	ck_assert_ptr_eq(kern_active(), kern_variant(kern_name()));
}
END_TEST

START_TEST(test_kern_linear_matches_reference)
{
	static const enum kern_dtype dts[] = {KERN_F32, KERN_BF16, KERN_F16};
	const struct kern *ks[2];
	int nk = n_variants(ks);
	int bad = 0;
	int cases = 0;

	for (int v = 0; v < nk; v++) {
		for (int d = 0; d < 3; d++) {
			for (int s = 0; s < N_SIZES; s++) {
				int z = sizes[s];
				uint64_t seed = 1000u * (unsigned)s + 10u * d;
				int b = s % 2;

				/* rows = z */
				bad += check_linear(ks[v], dts[d], 1 + s % 5, z,
				                    sizes[(s + 7) % N_SIZES], b,
				                    seed + 1);
				/* cols = z */
				bad += check_linear(ks[v], dts[d],
				                    sizes[(s + 3) % 6], 33, z,
				                    !b, seed + 2);
				/* m = z */
				bad += check_linear(ks[v], dts[d], z,
				                    sizes[(s + 5) % 9], 63, b,
				                    seed + 3);
				cases += 3;
			}
			/* beyond one k block and one row block, with tails */
			bad += check_linear(ks[v], dts[d], 6, 70,
			                    2 * KERN_KC + 37, 1, 77 + d);
			bad += check_linear(ks[v], dts[d], 1, 129, 1100, 0,
			                    78 + d);
			cases += 2;
		}
	}
	fprintf(stderr,
	        "kern: %d linear cases, worst simd-vs-ref error %.3g "
	        "(tolerance %.1g of sum |x*w|)\n",
	        cases, worst_rel, REL_TOL);
	ck_assert_int_eq(bad, 0);
}
END_TEST

/* Scalar reference against the double sum alone (also without SIMD). */
START_TEST(test_kern_reference_is_accurate)
{
	ck_assert_int_eq(
	    check_linear(&kern_scalar, KERN_BF16, 3, 31, 1023, 1, 5), 0);
	ck_assert_int_eq(check_linear(&kern_scalar, KERN_F16, 2, 17, 129, 0, 6),
	                 0);
	ck_assert_int_eq(check_linear(&kern_scalar, KERN_F32, 4, 8, 255, 1, 7),
	                 0);
}
END_TEST

START_TEST(test_kern_linear_bit_identical_across_threads)
{
	static const int shapes[][3] = {/* m, rows, cols */
	                                {1, 1023, 129},
	                                {5, 255, 129},
	                                {7, 129, 1100},
	                                {33, 63, 255}};
	const struct kern *ks[3];
	int nk = n_variants(ks);
	struct pool *pools[3];

	ks[nk++] = &kern_scalar;
	for (int t = 0; t < 3; t++) {
		pools[t] = pool_new(t + 1, NULL);
		ck_assert_ptr_nonnull(pools[t]);
	}
	for (int v = 0; v < nk; v++) {
		for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]);
		     s++) {
			int m = shapes[s][0], rows = shapes[s][1];
			int cols = shapes[s][2];
			uint64_t rng = 99 + s;
			struct wmat w;
			float *x, *bias, *y[3];

			wmat_make(&w, KERN_BF16, rows, cols, &rng);
			x = rand_vec((size_t)m * cols, &rng);
			bias = rand_vec((size_t)rows, &rng);
			for (int t = 0; t < 3; t++) {
				y[t] = xmalloc((size_t)m * rows * 4);
				kern_linear_with(ks[v], pools[t], y[t], x, m,
				                 &w.mat, bias);
			}
			ck_assert_mem_eq(y[0], y[1], (size_t)m * rows * 4);
			ck_assert_mem_eq(y[0], y[2], (size_t)m * rows * 4);
			for (int t = 0; t < 3; t++)
				free(y[t]);
			wmat_free(&w);
			free(x);
			free(bias);
		}
	}
	for (int t = 0; t < 3; t++)
		pool_free(pools[t]);
}
END_TEST

/* A row of x gives the same bits alone (decode, m == 1) as inside a batch
 * (prefill), so chunking a prompt does not change the numbers. */
START_TEST(test_kern_linear_row_same_alone_and_in_batch)
{
	static const enum kern_dtype dts[] = {KERN_F32, KERN_BF16, KERN_F16};
	static const int batch[] = {2, 7, 13, 40};
	const struct kern *ks[3];
	int nk = n_variants(ks);

	ks[nk++] = &kern_scalar;
	for (int v = 0; v < nk; v++) {
		for (int d = 0; d < 3; d++) {
			int m = batch[(v + d) % 4], rows = 77 + 64 * d;
			int cols = 2 * KERN_KC + 5 - 100 * d;
			uint64_t rng = 4242 + d;
			struct wmat w;
			float *x, *bias, *yb, *y1;

			wmat_make(&w, dts[d], rows, cols, &rng);
			x = rand_vec((size_t)m * cols, &rng);
			bias = d == 1 ? rand_vec((size_t)rows, &rng) : NULL;
			yb = xmalloc((size_t)m * rows * 4);
			y1 = xmalloc((size_t)rows * 4);
			kern_linear_with(ks[v], NULL, yb, x, m, &w.mat, bias);
			for (int i = 0; i < m; i++) {
				kern_linear_with(ks[v], NULL, y1,
				                 x + (size_t)i * cols, 1,
				                 &w.mat, bias);
				ck_assert_msg(memcmp(y1, yb + (size_t)i * rows,
				                     (size_t)rows * 4) == 0,
				              "%s dtype %d m %d row %d differs",
				              ks[v]->name, d, m, i);
			}
			wmat_free(&w);
			free(x);
			free(bias);
			free(yb);
			free(y1);
		}
	}
}
END_TEST

/* The SIMD variants do the same arithmetic in the same order (see
 * kern_avx512.c), so they agree bit for bit. */
START_TEST(test_kern_simd_variants_agree_exactly)
{
	static const enum kern_dtype dts[] = {KERN_F32, KERN_BF16, KERN_F16};
	static const int shapes[][3] = {/* m, rows, cols */
	                                {1, 100, 600},
	                                {3, 33, 257},
	                                {13, 70, 3 * KERN_KC},
	                                {1, 17, 31}};
	const struct kern *ks[2];

	if (n_variants(ks) < 2) {
		fprintf(stderr, "kern: one SIMD variant here, nothing to "
		                "compare\n");
		return;
	}
	for (int d = 0; d < 3; d++) {
		for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]);
		     s++) {
			int m = shapes[s][0], rows = shapes[s][1];
			int cols = shapes[s][2];
			uint64_t rng = 777 + 10 * s + d;
			struct wmat w;
			float *x, *bias, *y0, *y1;

			wmat_make(&w, dts[d], rows, cols, &rng);
			x = rand_vec((size_t)m * cols, &rng);
			bias = rand_vec((size_t)rows, &rng);
			y0 = xmalloc((size_t)m * rows * 4);
			y1 = xmalloc((size_t)m * rows * 4);
			kern_linear_with(ks[0], NULL, y0, x, m, &w.mat, bias);
			kern_linear_with(ks[1], NULL, y1, x, m, &w.mat, bias);
			ck_assert_msg(memcmp(y0, y1, (size_t)m * rows * 4) == 0,
			              "dtype %d m %d rows %d cols %d", d, m,
			              rows, cols);
			wmat_free(&w);
			free(x);
			free(bias);
			free(y0);
			free(y1);
		}
	}
}
END_TEST

START_TEST(test_kern_dot_matches_reference)
{
	const struct kern *ks[3];
	int nk = n_variants(ks);

	ks[nk++] = &kern_scalar;
	for (int v = 0; v < nk; v++) {
		for (int s = 0; s < N_SIZES; s++) {
			uint64_t rng = 7 + s;
			size_t n = (size_t)sizes[s];
			float *a = rand_vec(n + 1, &rng);
			float *b = rand_vec(n + 1, &rng);
			double exact = 0, mag = 0;

			/* b + 1: an unaligned start for the second operand */
			for (size_t i = 0; i < n; i++) {
				exact += (double)a[i] * b[i + 1];
				mag += fabs((double)a[i] * b[i + 1]);
			}
			float got = ks[v]->dot_f32(a, b + 1, n);
			ck_assert_msg(fabs(got - exact) <= REL_TOL * mag,
			              "%s n=%zu: %.9g vs %.9g", ks[v]->name, n,
			              got, exact);
			free(a);
			free(b);
		}
		ck_assert_float_eq(ks[v]->dot_f32(NULL, NULL, 0), 0.0f);
	}
	/* the public entry point */
	float a[3] = {1, 2, 3}, b[3] = {4, 5, 6};
	ck_assert_float_eq(kern_dot_f32(a, b, 3), 32.0f);
}
END_TEST

START_TEST(test_kern_conversions_exact)
{
	const struct kern *ks[3];
	int nk = n_variants(ks);
	size_t n = 65536;
	unsigned char *src = xmalloc(2 * n + 1);
	float *want = xmalloc(n * sizeof(float));
	float *got = xmalloc((n + 1) * sizeof(float));

	/* every 16-bit pattern, at an odd address */
	for (size_t i = 0; i < n; i++) {
		uint16_t h = (uint16_t)i;

		memcpy(src + 1 + 2 * i, &h, 2);
	}
	ks[nk++] = &kern_scalar;
	for (int v = 0; v < nk; v++) {
		for (int f16 = 0; f16 < 2; f16++) {
			for (size_t i = 0; i < n; i++)
				want[i] = f16 ? kern_f16_1((uint16_t)i)
				              : kern_bf16_1((uint16_t)i);
			/* each size, then everything */
			for (int s = 0; s <= N_SIZES; s++) {
				size_t len = s < N_SIZES ? (size_t)sizes[s] : n;

				got[len] = 12345.0f;
				if (f16)
					ks[v]->f16_to_f32(got, src + 1, len);
				else
					ks[v]->bf16_to_f32(got, src + 1, len);
				ck_assert_float_eq(got[len], 12345.0f);
				for (size_t i = 0; i < len; i++) {
					if (isnan(want[i])) {
						ck_assert(isnan(got[i]));
						continue;
					}
					ck_assert_msg(
					    memcmp(&got[i], &want[i], 4) == 0,
					    "%s f16=%d 0x%04zx: %a vs %a",
					    ks[v]->name, f16, i, got[i],
					    want[i]);
				}
			}
		}
	}
	/* spot values of the reference itself */
	ck_assert_float_eq(kern_f16_1(0x3c00), 1.0f);
	ck_assert_float_eq(kern_f16_1(0xc000), -2.0f);
	ck_assert_float_eq(kern_f16_1(0x0001), ldexpf(1.0f, -24));
	ck_assert_float_eq(kern_f16_1(0x7bff), 65504.0f);
	ck_assert(isinf(kern_f16_1(0x7c00)));
	ck_assert_float_eq(kern_bf16_1(0x3f80), 1.0f);
	ck_assert_uint_eq(kern_f32_to_bf16_1(1.0f), 0x3f80);
	/* 1 + 2^-8 is halfway: ties to even (down); a bit more rounds up */
	ck_assert_uint_eq(kern_f32_to_bf16_1(1.00390625f), 0x3f80);
	ck_assert_uint_eq(kern_f32_to_bf16_1(nextafterf(1.00390625f, 2.0f)),
	                  0x3f81);
	ck_assert(isnan(kern_bf16_1(kern_f32_to_bf16_1(NAN))));
	/* the public entry points */
	kern_bf16_to_f32(got, src + 1 + 2 * 0x3f80, 1);
	ck_assert_float_eq(got[0], 1.0f);
	kern_f16_to_f32(got, src + 1 + 2 * 0x3c00, 1);
	ck_assert_float_eq(got[0], 1.0f);
	free(src);
	free(want);
	free(got);
}
END_TEST

START_TEST(test_kern_public_linear_uses_active_variant)
{
	uint64_t rng = 31337;
	struct wmat w;
	float *x, *y0, *y1;
	struct pool *p = pool_new(2, NULL);

	wmat_make(&w, KERN_BF16, 300, 200, &rng);
	x = rand_vec(3 * 200, &rng);
	y0 = xmalloc(3 * 300 * 4);
	y1 = xmalloc(3 * 300 * 4);
	kern_linear(p, y0, x, 3, &w.mat, NULL);
	kern_linear_with(kern_active(), NULL, y1, x, 3, &w.mat, NULL);
	ck_assert_mem_eq(y0, y1, 3 * 300 * 4);
	wmat_free(&w);
	free(x);
	free(y0);
	free(y1);
	pool_free(p);
}
END_TEST

static Suite *
kern_suite(void)
{
	Suite *s = suite_create("model_kern");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_kern_variants_available);
	tcase_add_test(tc, test_kern_linear_matches_reference);
	tcase_add_test(tc, test_kern_reference_is_accurate);
	tcase_add_test(tc, test_kern_linear_bit_identical_across_threads);
	tcase_add_test(tc, test_kern_linear_row_same_alone_and_in_batch);
	tcase_add_test(tc, test_kern_simd_variants_agree_exactly);
	tcase_add_test(tc, test_kern_dot_matches_reference);
	tcase_add_test(tc, test_kern_conversions_exact);
	tcase_add_test(tc, test_kern_public_linear_uses_active_variant);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(kern_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
