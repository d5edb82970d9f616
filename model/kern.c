/* SPDX-License-Identifier: ISC */
/*
 * kern.c: the scalar reference kernels and the run-time dispatch.
 *
 * The scalar functions here are the specification: plain loops in the
 * reference order, one fp32 accumulator per output element summed from
 * k = 0 upwards.  libmodel.a is built with -ffp-contract=off so gcc keeps
 * them free of FMA.  The SIMD variants (kern_avx2.c, kern_avx512.c) are
 * tested against them with relative tolerances.
 *
 * Dispatch.  kern_init() fills `active` once (pthread_once) from
 * __builtin_cpu_supports(); it is the only mutable global and is written
 * before any reader can see it.  kern_linear splits the output features
 * between the pool's threads in multiples of KERN_ROW_GRAIN rows; each
 * variant computes every element the same way whatever slice it gets, so
 * results do not depend on the thread count.
 */
#include "config.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "model/kern.h"
#include "model/kern_impl.h"

/* The SIMD variants exist on x86-64 only. */
#if defined(__x86_64__)
#include <cpuid.h>
#define KERN_X86         1
#define KERN_TABLE(name) (&(name))
#else
#define KERN_X86         0
#define KERN_TABLE(name) NULL
#endif

/* ---- Scalar conversions ---- */

/* Read the i-th 16-bit value at an address of any alignment. */
static inline uint16_t
load_u16(const void *src, size_t i)
{
	uint16_t h;

	memcpy(&h, (const unsigned char *)src + 2 * i, sizeof(h));
	return h;
}

/* IEEE binary16 to binary32: exact, including subnormals, inf and NaN. */
float
kern_f16_1(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;
	uint32_t bits;
	float f;

	if (exp == 0x1f) {
		/* inf or NaN: keep the payload */
		bits = sign | 0x7f800000u | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else {
		/* subnormal: normalise; value = man * 2^-24 */
		exp = 113;
		while ((man & 0x400u) == 0) {
			man <<= 1;
			exp--;
		}
		bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
	}
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static void
bf16_to_f32_scalar(float *dst, const void *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = kern_bf16_1(load_u16(src, i));
}

static void
f16_to_f32_scalar(float *dst, const void *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = kern_f16_1(load_u16(src, i));
}

/* ---- Scalar kernels (the reference) ---- */

static float
dot_f32_scalar(const float *a, const float *b, size_t n)
{
	float acc = 0.0f;

	for (size_t i = 0; i < n; i++)
		acc += a[i] * b[i];
	return acc;
}

/* Columns converted per step by the scalar linear (floats on the stack). */
#define SCALAR_CHUNK 256

/*
 * Reference linear: for each output element, acc = Σ_k x[i][k]·W[j][k]
 * in order k = 0..cols-1 in fp32, then y = acc + bias[j].  W rows are
 * converted SCALAR_CHUNK columns at a time into a stack buffer.
 */
static void
linear_scalar(float *y, const float *x, int m, const struct kern_mat *w,
              const float *bias, int r0, int r1)
{
	const size_t cols = (size_t)w->cols;
	const size_t rows = (size_t)w->rows;
	float wbuf[SCALAR_CHUNK];

	for (int i = 0; i < m; i++) {
		const float *xi = x + (size_t)i * cols;
		float *yi = y + (size_t)i * rows;

		for (int j = r0; j < r1; j++) {
			float acc = 0.0f;

			for (size_t k0 = 0; k0 < cols; k0 += SCALAR_CHUNK) {
				size_t kn = cols - k0 < SCALAR_CHUNK
				                ? cols - k0
				                : SCALAR_CHUNK;
				size_t off = (size_t)j * cols + k0;
				const float *wr;

				switch (w->dtype) {
				case KERN_F32:
					/* memcpy: data may be unaligned */
					memcpy(wbuf,
					       (const char *)w->data + 4 * off,
					       kn * sizeof(float));
					wr = wbuf;
					break;
				case KERN_BF16:
					bf16_to_f32_scalar(
					    wbuf,
					    (const char *)w->data + 2 * off,
					    kn);
					wr = wbuf;
					break;
				case KERN_F16:
				default:
					f16_to_f32_scalar(
					    wbuf,
					    (const char *)w->data + 2 * off,
					    kn);
					wr = wbuf;
					break;
				}
				for (size_t k = 0; k < kn; k++)
					acc += xi[k0 + k] * wr[k];
			}
			yi[j] = bias != NULL ? acc + bias[j] : acc;
		}
	}
}

const struct kern kern_scalar = {
    .name = "scalar",
    .linear = linear_scalar,
    .dot_f32 = dot_f32_scalar,
    .bf16_to_f32 = bf16_to_f32_scalar,
    .f16_to_f32 = f16_to_f32_scalar,
};

/* ---- Dispatch ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static const struct kern *active = &kern_scalar; /* set once by pick() */

static bool
cpu_has_avx512(void)
{
#if KERN_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512dq");
#else
	return false;
#endif
}

/* F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports
 * does not know "f16c". */
static bool
cpu_has_f16c(void)
{
#if KERN_X86
	unsigned int a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) == 0)
		return false;
	return (c & bit_F16C) != 0;
#else
	return false;
#endif
}

static bool
cpu_has_avx2(void)
{
#if KERN_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") &&
	       __builtin_cpu_supports("fma") && cpu_has_f16c();
#else
	return false;
#endif
}

static void
pick(void)
{
	const struct kern *k = kern_variant("avx512");

	if (k == NULL)
		k = kern_variant("avx2");
	if (k == NULL)
		k = &kern_scalar;
	active = k;
}

void
kern_init(void)
{
	pthread_once(&init_once, pick);
}

const struct kern *
kern_active(void)
{
	kern_init();
	return active;
}

const char *
kern_name(void)
{
	return kern_active()->name;
}

const struct kern *
kern_variant(const char *name)
{
	if (strcmp(name, "scalar") == 0)
		return &kern_scalar;
	if (strcmp(name, "avx2") == 0 && cpu_has_avx2())
		return KERN_TABLE(kern_avx2);
	if (strcmp(name, "avx512") == 0 && cpu_has_avx512())
		return KERN_TABLE(kern_avx512);
	return NULL;
}

/* ---- kern_linear ---- */

struct linear_job {
	const struct kern *k;
	float *y;
	const float *x;
	int m;
	const struct kern_mat *w;
	const float *bias;
};

/* One thread's share: a contiguous run of KERN_ROW_GRAIN-row units. */
static void
linear_part(void *arg, int ith, int nth)
{
	const struct linear_job *job = arg;
	int rows = job->w->rows;
	int units = (rows + KERN_ROW_GRAIN - 1) / KERN_ROW_GRAIN;
	int u0 = (int)((int64_t)units * ith / nth);
	int u1 = (int)((int64_t)units * (ith + 1) / nth);
	int r0 = u0 * KERN_ROW_GRAIN;
	int r1 = u1 * KERN_ROW_GRAIN < rows ? u1 * KERN_ROW_GRAIN : rows;

	if (r0 < r1)
		job->k->linear(job->y, job->x, job->m, job->w, job->bias, r0,
		               r1);
}

void
kern_linear_with(const struct kern *k, struct pool *p, float *y, const float *x,
                 int m, const struct kern_mat *w, const float *bias)
{
	struct linear_job job = {k, y, x, m, w, bias};

	assert(m >= 1 && w->rows >= 1 && w->cols >= 1);
	if (pool_size(p) == 1 || (int64_t)m * w->rows * w->cols < 64 * 1024) {
		/* too small to be worth waking the pool */
		linear_part(&job, 0, 1);
		return;
	}
	pool_run(p, linear_part, &job);
}

void
kern_linear(struct pool *p, float *y, const float *x, int m,
            const struct kern_mat *w, const float *bias)
{
	kern_linear_with(kern_active(), p, y, x, m, w, bias);
}

float
kern_dot_f32(const float *a, const float *b, size_t n)
{
	return kern_active()->dot_f32(a, b, n);
}

void
kern_bf16_to_f32(float *dst, const void *src, size_t n)
{
	kern_active()->bf16_to_f32(dst, src, n);
}

void
kern_f16_to_f32(float *dst, const void *src, size_t n)
{
	kern_active()->f16_to_f32(dst, src, n);
}
