/* SPDX-License-Identifier: ISC */
/*
 * kern.h: the matrix kernels of the engine, with SIMD variants chosen at
 * run time.
 *
 * Weights stay in their checkpoint dtype (BF16 for the real Molmo-7B-D,
 * about 16 GB) inside the read-only safetensors mapping; the kernels
 * convert small blocks of them to fp32 on the fly and do all arithmetic
 * in fp32.  kern_init() picks the fastest variant this CPU supports
 * (scalar, AVX2+FMA+F16C, AVX-512) once; every later call goes through
 * that variant.  The scalar code in kern.c is the reference the SIMD
 * variants are tested against.
 *
 * Threads: all functions may be called from any thread once kern_init()
 * has returned (the kernels themselves call kern_init() if needed, so
 * forgetting it is harmless).  kern_linear splits its work over a pool.
 */
#ifndef MODEL_KERN_H
#define MODEL_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "model/pool.h"

/* Element type of a weight matrix. */
enum kern_dtype {
	KERN_F32,  /* IEEE binary32 */
	KERN_BF16, /* bfloat16: the upper 16 bits of a binary32 */
	KERN_F16   /* IEEE binary16 */
};

/*
 * A weight matrix, borrowed: row-major [rows = output features][cols =
 * input features], exactly the layout of a HF nn.Linear weight.  data may
 * have any alignment (straight out of the safetensors mapping) and must
 * hold rows * cols elements of dtype.  rows, cols >= 1.
 */
struct kern_mat {
	const void *data;
	enum kern_dtype dtype;
	int rows, cols;
};

/*
 * Pick the SIMD variants from __builtin_cpu_supports().  Idempotent and
 * thread-safe (pthread_once).
 */
void kern_init(void);

/* Name of the variant in use: "scalar", "avx2" or "avx512".  Static. */
const char *kern_name(void);

/*
 * y[m][w->rows] = x[m][w->cols] · Wᵀ + bias
 *
 * x, y and bias are fp32, row-major and contiguous; bias may be NULL,
 * else it holds w->rows values.  W of any dtype is converted to fp32 a
 * block at a time (never the whole matrix).  m >= 1 rows (tokens).  y
 * must not alias x or bias.
 *
 * The work is split over the pool p (NULL: the caller alone) by output
 * features.  Every output element is computed by one thread with the same
 * operations in the same order whatever the thread count and whatever m,
 * so results are bit-identical for any pool size, and a row of x gives the
 * same y row alone (m == 1, decode) as inside a batch (prefill chunks).
 *
 * Uses about 240 KiB of stack in each thread.  Never fails, never
 * allocates.
 */
void kern_linear(struct pool *p, float *y, const float *x, int m,
                 const struct kern_mat *w, const float *bias);

/* Σ a[i]·b[i] over n fp32 values (n >= 0; 0 gives 0). */
float kern_dot_f32(const float *a, const float *b, size_t n);

/* dst[i] = fp32 value of the n bf16 values at src (any alignment). */
void kern_bf16_to_f32(float *dst, const void *src, size_t n);

/* dst[i] = fp32 value of the n IEEE half values at src (any alignment). */
void kern_f16_to_f32(float *dst, const void *src, size_t n);

/* One bf16 (raw bits) to fp32: exact. */
static inline float
kern_bf16_1(uint16_t h)
{
	union {
		uint32_t u;
		float f;
	} v = {.u = (uint32_t)h << 16};
	return v.f;
}

/* One fp32 to bf16 (raw bits), rounding to nearest even; NaN stays NaN. */
static inline uint16_t
kern_f32_to_bf16_1(float f)
{
	union {
		float f;
		uint32_t u;
	} v = {.f = f};
	if ((v.u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((v.u >> 16) | 0x40);
	v.u += 0x7fffu + ((v.u >> 16) & 1u);
	return (uint16_t)(v.u >> 16);
}

#endif
