/* SPDX-License-Identifier: ISC */
/*
 * kern_impl.h: private to the kernels (kern.c, kern_avx2.c, kern_avx512.c)
 * and their white-box tests and benchmark.
 *
 * Each variant is one `struct kern` of function pointers with the
 * reference signatures; kern.c owns the scalar one and the dispatch, and
 * each SIMD file, compiled with its own -m flags into its own convenience
 * library, defines one table.  A SIMD table is only ever called after
 * __builtin_cpu_supports() said yes.
 */
#ifndef MODEL_KERN_IMPL_H
#define MODEL_KERN_IMPL_H

#include <stddef.h>

#include "model/kern.h"

/*
 * kern_linear splits output features between threads in whole multiples
 * of this many rows, so each thread's first row is a multiple of it.
 */
#define KERN_ROW_GRAIN 16

/*
 * The SIMD kernels sum each output element in blocks of KERN_KC columns
 * (from column 0): one accumulator per block in k order, then the blocks
 * in order, then the bias (see kern_avx512.c).  Both variants use the same
 * value, so they give the same bits.
 */
#define KERN_KC 256

struct kern {
	const char *name;
	/*
	 * Rows [r0, r1) of y[m][w->rows] = x[m][w->cols] · Wᵀ + bias; the
	 * other columns of y are left alone.  0 <= r0 < r1 <= w->rows; r0 is
	 * a multiple of KERN_ROW_GRAIN.  Must give the same bits for an
	 * element whatever r0, r1 and m are.
	 */
	void (*linear)(float *y, const float *x, int m,
	               const struct kern_mat *w, const float *bias, int r0,
	               int r1);
	float (*dot_f32)(const float *a, const float *b, size_t n);
	void (*bf16_to_f32)(float *dst, const void *src, size_t n);
	void (*f16_to_f32)(float *dst, const void *src, size_t n);
};

/* The variants.  kern_avx2 and kern_avx512 live in libkern_avx2.a and
 * libkern_avx512.a. */
extern const struct kern kern_scalar;
extern const struct kern kern_avx2;
extern const struct kern kern_avx512;

/* The variant kern_init() chose. */
const struct kern *kern_active(void);

/* The variant named "scalar", "avx2" or "avx512" if this CPU can run it,
 * else NULL. */
const struct kern *kern_variant(const char *name);

/* kern_linear with an explicit variant. */
void kern_linear_with(const struct kern *k, struct pool *p, float *y,
                      const float *x, int m, const struct kern_mat *w,
                      const float *bias);

/* The scalar half-precision conversion (the reference for F16C). */
float kern_f16_1(uint16_t h);

#endif
