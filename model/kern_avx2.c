/* SPDX-License-Identifier: ISC */
/*
 * kern_avx2.c: the AVX2 kernels (with FMA and F16C), built into their own
 * library with -mavx2 -mfma -mf16c and called only after kern_init()
 * checked the CPU.
 *
 * The same design as kern_avx512.c (read that file's comment first) at
 * half the width, and the same arithmetic: each output element is one
 * fp32 accumulator summed by FMA in k order within blocks of KERN_KC
 * columns, the blocks then summed into y in order and the bias added
 * last.  So this variant gives the same bits as the AVX-512 one, for any
 * thread count, and for a row alone or in a batch.
 *
 * GEMM (m > 1): W blocks are converted once and packed k-major into
 * panels of NR = 16 rows (P[k][16], 16 KiB for KERN_KC = 256 columns), and
 * a 6 × 16 register tile (12 accumulators of the 16 ymm registers) sweeps
 * the rows of x past each panel: per k, two panel loads, six broadcasts,
 * twelve FMAs.
 *
 * GEMV (m == 1): 4 groups of 8 rows at a time; phase 1 converts and
 * transposes each group's next columns into T (8×8 transposes; for BF16
 * a 256-bit load holds 8 pairs of adjacent columns, so 16 columns come
 * out of one transpose), phase 2 walks those columns in order feeding 4
 * independent FMA chains.
 *
 * Tails are read through a zero-padded copy (AVX2 has no 16-bit masked
 * load) or vmaskmovps, never past the end of a row.
 *
 * Stack: about 240 KiB per call (the packed W block and the x block).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "model/kern_impl.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define NR      16             /* W rows per panel: two vectors */
#define MR      6              /* x rows per micro-kernel call, at most */
#define GEMM_NB 128            /* W rows per packed block (128 KiB) */
#define GEMM_MC 96             /* x rows copied per block (100 KiB) */
#define XLD     (KERN_KC + 16) /* xbuf row stride, floats: not 4 KiB */

/* Byte address of W[row][col]. */
static inline const char *
w_at(const struct kern_mat *w, int row, int col)
{
	size_t es = w->dtype == KERN_F32 ? 4 : 2;

	return (const char *)w->data + es * ((size_t)row * w->cols + col);
}

/* vmaskmovps mask of the first n (0..8) lanes. */
static inline __m256i
lanes(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
	                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 8 weights of any dtype at p to fp32. */
static inline __m256
load_w8(const char *p, enum kern_dtype dt)
{
	if (dt == KERN_F32)
		return _mm256_loadu_ps((const float *)(const void *)p);
	__m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
	if (dt == KERN_BF16)
		return _mm256_castsi256_ps(
		    _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
	return _mm256_cvtph_ps(h);
}

/* The first n (0..8) weights at p, zeros after; reads only n elements. */
static inline __m256
load_w_tail(const char *p, enum kern_dtype dt, int n)
{
	_Alignas(32) unsigned char tmp[32] = {0};
	size_t es = dt == KERN_F32 ? 4 : 2;

	memcpy(tmp, p, es * (size_t)n);
	return load_w8((const char *)tmp, dt);
}

/* Up to 8 weights: full vector or zero-padded tail. */
static inline __m256
load_w(const char *p, enum kern_dtype dt, int n)
{
	return n == 8 ? load_w8(p, dt) : load_w_tail(p, dt, n);
}

/* Transpose the 8×8 fp32 block r[0..7] in place (r[i][j] -> r[j][i]). */
static inline __attribute__((always_inline)) void
transpose8(__m256 r[8])
{
	__m256 t[8], u[8];

#pragma GCC unroll 4
	for (int i = 0; i < 4; i++) {
		t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
	/* u[4g + c], 128-bit half q: rows 4g..4g+3 of column 4q + c */
#pragma GCC unroll 2
	for (int g = 0; g < 2; g++) {
		__m256 a = t[4 * g], b = t[4 * g + 1];
		__m256 c = t[4 * g + 2], d = t[4 * g + 3];

		u[4 * g] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));
		u[4 * g + 1] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));
		u[4 * g + 2] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(1, 0, 1, 0));
		u[4 * g + 3] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(3, 2, 3, 2));
	}
#pragma GCC unroll 4
	for (int c = 0; c < 4; c++) {
		r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
		r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
	}
}

/* ---- GEMM: MR x rows × 16 W rows, W packed k-major ---- */

/*
 * Pack rows [j0, j0 + nr) (nr <= NR) × columns [kb, kb + kc) of W as one
 * k-major panel: P[k * NR + r] = W[j0 + r][kb + k] in fp32, rows nr..NR-1
 * zero.  dt is a compile-time constant in each caller (pack_panel).
 */
static inline __attribute__((always_inline)) void
pack_dt(const enum kern_dtype dt, float *P, const struct kern_mat *w, int j0,
        int nr, int kb, int kc)
{
	const size_t es = dt == KERN_F32 ? 4 : 2;
	const size_t ld = es * (size_t)w->cols; /* bytes per W row */

	for (int h = 0; h < NR; h += 8) {
		const char *src = w_at(w, j0 + (h < nr ? h : 0), kb);
		int nrow = nr - h < 8 ? nr - h : 8;

		for (int k = 0; k < kc; k += 8) {
			int nk = kc - k < 8 ? kc - k : 8;
			__m256 r[8];

#pragma GCC unroll 8
			for (int i = 0; i < 8; i++)
				r[i] = i < nrow ? load_w(src + i * ld + es * k,
				                         dt, nk)
				                : _mm256_setzero_ps();
			transpose8(r);
#pragma GCC unroll 8
			for (int i = 0; i < 8; i++)
				if (i < nk)
					_mm256_store_ps(
					    P + (size_t)(k + i) * NR + h, r[i]);
		}
	}
}

static void
pack_panel(float *P, const struct kern_mat *w, int j0, int nr, int kb, int kc)
{
	switch (w->dtype) {
	case KERN_F32:
		pack_dt(KERN_F32, P, w, j0, nr, kb, kc);
		break;
	case KERN_BF16:
		pack_dt(KERN_BF16, P, w, j0, nr, kb, kc);
		break;
	case KERN_F16:
	default:
		pack_dt(KERN_F16, P, w, j0, nr, kb, kc);
		break;
	}
}

/*
 * The micro-kernel: rows x_0..x_{mr-1} (x + i * ldx) times the panel P
 * over kc columns, giving an mr × 16 tile; y rows at y + i * ldy get the
 * tile (first k block) or have it added; only the first nr columns are
 * written.  Each element is one accumulator summed in k order.
 */
static inline __attribute__((always_inline)) void
micro(const int mr, const float *x, size_t ldx, const float *P, int kc,
      float *y, size_t ldy, int nr, int first)
{
	__m256 acc[MR][2];

#pragma GCC unroll 6
	for (int i = 0; i < mr; i++)
		acc[i][0] = acc[i][1] = _mm256_setzero_ps();
	for (int k = 0; k < kc; k++) {
		__m256 w0 = _mm256_load_ps(P + (size_t)k * NR);
		__m256 w1 = _mm256_load_ps(P + (size_t)k * NR + 8);

#pragma GCC unroll 6
		for (int i = 0; i < mr; i++) {
			__m256 xv =
			    _mm256_broadcast_ss(x + (size_t)i * ldx + k);

			acc[i][0] = _mm256_fmadd_ps(xv, w0, acc[i][0]);
			acc[i][1] = _mm256_fmadd_ps(xv, w1, acc[i][1]);
		}
	}
	__m256i m0 = lanes(nr < 8 ? nr : 8);
	__m256i m1 = lanes(nr > 8 ? nr - 8 : 0);

#pragma GCC unroll 6
	for (int i = 0; i < mr; i++) {
		float *yi = y + (size_t)i * ldy;

		if (!first) {
			acc[i][0] = _mm256_add_ps(_mm256_maskload_ps(yi, m0),
			                          acc[i][0]);
			acc[i][1] = _mm256_add_ps(
			    _mm256_maskload_ps(yi + 8, m1), acc[i][1]);
		}
		_mm256_maskstore_ps(yi, m0, acc[i][0]);
		_mm256_maskstore_ps(yi + 8, m1, acc[i][1]);
	}
}

/* micro() with mr a compile-time constant. */
static void
micro_any(int mr, const float *x, size_t ldx, const float *P, int kc, float *y,
          size_t ldy, int nr, int first)
{
	switch (mr) {
#define CASE(n)                                                                \
	case n:                                                                \
		micro(n, x, ldx, P, kc, y, ldy, nr, first);                    \
		break;
		CASE(1)
		CASE(2)
		CASE(3)
		CASE(4)
		CASE(5)
		CASE(6)
#undef CASE
	default:
		break;
	}
}

/*
 * y rows for W rows [r0, r1): for each block of GEMM_NB W rows and each
 * KERN_KC-column block, pack the W block into panels, then GEMM_MC rows
 * of x at a time, copy those rows' columns into xbuf (a stride that is not
 * a multiple of 4 KiB) and sweep them past each panel.
 */
static void
gemm(float *y, const float *x, int m, const struct kern_mat *w,
     const float *bias, int r0, int r1)
{
	const int K = w->cols, N = w->rows;
	_Alignas(32) float buf[GEMM_NB * KERN_KC];
	_Alignas(32) float xbuf[GEMM_MC * XLD];

	for (int jb = r0; jb < r1; jb += GEMM_NB) {
		int nb = r1 - jb < GEMM_NB ? r1 - jb : GEMM_NB;

		for (int kb = 0; kb < K; kb += KERN_KC) {
			int kc = K - kb < KERN_KC ? K - kb : KERN_KC;

			for (int p = 0; p < nb; p += NR)
				pack_panel(buf + (size_t)p * KERN_KC, w, jb + p,
				           nb - p < NR ? nb - p : NR, kb, kc);
			for (int ic = 0; ic < m; ic += GEMM_MC) {
				int mc = m - ic < GEMM_MC ? m - ic : GEMM_MC;

				for (int i = 0; i < mc; i++)
					memcpy(xbuf + (size_t)i * XLD,
					       x + (size_t)(ic + i) * K + kb,
					       (size_t)kc * sizeof(float));
				for (int p = 0; p < nb; p += NR) {
					int nr = nb - p < NR ? nb - p : NR;

					for (int i0 = 0; i0 < mc; i0 += MR)
						micro_any(
						    mc - i0 < MR ? mc - i0 : MR,
						    xbuf + (size_t)i0 * XLD,
						    XLD,
						    buf + (size_t)p * KERN_KC,
						    kc,
						    y + (size_t)(ic + i0) * N +
						        jb + p,
						    (size_t)N, nr, kb == 0);
				}
			}
		}
		if (bias != NULL)
			for (int i = 0; i < m; i++)
				for (int j = jb; j < jb + nb; j++)
					y[(size_t)i * N + j] += bias[j];
	}
}

/* ---- GEMV: 1 x row × 32 W rows, streaming W once ---- */

#define GV_GROUPS 4 /* groups of 8 rows: 32 read streams (kern_avx512.c) */

/*
 * Phase 1 for one group of 8 rows (row pointers rp, column offset k of
 * the block): T[c] = column c of the 8 rows for the next cs columns, cs =
 * 16 for BF16 (one transpose of 8 column pairs) and 8 otherwise; nk
 * (1..cs) columns are valid, the rest read as zero.
 */
static inline __attribute__((always_inline)) void
gv_phase1(const enum kern_dtype dt, __m256 T[16], const char *const rp[8],
          size_t off, int nk)
{
	__m256 r[8];

	if (dt == KERN_BF16) {
		const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);

#pragma GCC unroll 8
		for (int i = 0; i < 8; i++) {
			if (nk == 16) {
				r[i] = _mm256_loadu_ps(
				    (const float *)(const void *)(rp[i] + off));
			} else {
				_Alignas(32) unsigned char tmp[32] = {0};

				memcpy(tmp, rp[i] + off, 2 * (size_t)nk);
				r[i] =
				    _mm256_load_ps((const float *)(void *)tmp);
			}
		}
		transpose8(r);
#pragma GCC unroll 8
		for (int d = 0; d < 8; d++) {
			__m256i v = _mm256_castps_si256(r[d]);

			T[2 * d] =
			    _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
			T[2 * d + 1] =
			    _mm256_castsi256_ps(_mm256_and_si256(v, hi));
		}
		return;
	}
#pragma GCC unroll 8
	for (int i = 0; i < 8; i++)
		r[i] = load_w(rp[i] + off, dt, nk);
	transpose8(r);
#pragma GCC unroll 8
	for (int c = 0; c < 8; c++)
		T[c] = r[c];
}

static inline __attribute__((always_inline)) void
gemv_dt(const enum kern_dtype dt, float *y, const float *x,
        const struct kern_mat *w, const float *bias, int r0, int r1)
{
	const int K = w->cols;
	const int cs = dt == KERN_BF16 ? 16 : 8; /* columns per step */
	const size_t es = dt == KERN_F32 ? 4 : 2;
	const char *rowp[8 * GV_GROUPS];
	__m256 T[GV_GROUPS][16];

	for (int j0 = r0; j0 < r1; j0 += 8 * GV_GROUPS) {
		int ng = (r1 - j0 + 7) / 8;
		__m256 s[GV_GROUPS];

		if (ng > GV_GROUPS)
			ng = GV_GROUPS;
		for (int i = 0; i < 8 * GV_GROUPS; i++)
			rowp[i] = w_at(w, j0 + i < r1 ? j0 + i : r1 - 1, 0);
		for (int kb = 0; kb < K; kb += KERN_KC) {
			int kc = K - kb < KERN_KC ? K - kb : KERN_KC;
			__m256 acc[GV_GROUPS];

#pragma GCC unroll 8
			for (int g = 0; g < GV_GROUPS; g++)
				acc[g] = _mm256_setzero_ps();
			for (int k = 0; k < kc; k += cs) {
				int nk = kc - k < cs ? kc - k : cs;
				const float *xk = x + kb + k;
				size_t off = es * (size_t)(kb + k);

				for (int g = 0; g < ng; g++)
					gv_phase1(dt, T[g], rowp + 8 * g, off,
					          nk);
				for (int c = 0; c < nk; c++) {
					__m256 xv = _mm256_broadcast_ss(xk + c);

#pragma GCC unroll 8
					for (int g = 0; g < GV_GROUPS; g++) {
						if (g >= ng)
							break;
						acc[g] = _mm256_fmadd_ps(
						    xv, T[g][c], acc[g]);
					}
				}
			}
#pragma GCC unroll 8
			for (int g = 0; g < GV_GROUPS; g++)
				s[g] = kb == 0 ? acc[g]
				               : _mm256_add_ps(s[g], acc[g]);
		}
		for (int g = 0; g < ng; g++) {
			int j = j0 + 8 * g;
			int n = r1 - j < 8 ? r1 - j : 8;
			__m256i mk = lanes(n);

			if (bias != NULL)
				s[g] = _mm256_add_ps(
				    s[g], _mm256_maskload_ps(bias + j, mk));
			_mm256_maskstore_ps(y + j, mk, s[g]);
		}
	}
}

static void
gemv(float *y, const float *x, const struct kern_mat *w, const float *bias,
     int r0, int r1)
{
	switch (w->dtype) {
	case KERN_BF16:
		gemv_dt(KERN_BF16, y, x, w, bias, r0, r1);
		break;
	case KERN_F32:
		gemv_dt(KERN_F32, y, x, w, bias, r0, r1);
		break;
	case KERN_F16:
	default:
		gemv_dt(KERN_F16, y, x, w, bias, r0, r1);
		break;
	}
}

static void
linear_avx2(float *y, const float *x, int m, const struct kern_mat *w,
            const float *bias, int r0, int r1)
{
	if (m == 1)
		gemv(y, x, w, bias, r0, r1);
	else
		gemm(y, x, m, w, bias, r0, r1);
}

/* ---- Vector helpers ---- */

static float
dot_f32_avx2(const float *a, const float *b, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	float out[8], sum;
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
		                     _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
		                     _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16),
		                     _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24),
		                     _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
		                     _mm256_loadu_ps(b + i), s0);
	if (i < n) {
		__m256i mk = lanes((int)(n - i));

		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mk),
		                     _mm256_maskload_ps(b + i, mk), s1);
	}
	s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
	_mm256_storeu_ps(out, s0);
	sum = ((out[0] + out[4]) + (out[1] + out[5])) +
	      ((out[2] + out[6]) + (out[3] + out[7]));
	return sum;
}

static void
convert(float *dst, const void *src, size_t n, enum kern_dtype dt)
{
	const char *p = src;
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, load_w8(p + 2 * i, dt));
	if (i < n) {
		float out[8];

		_mm256_storeu_ps(out, load_w_tail(p + 2 * i, dt, (int)(n - i)));
		memcpy(dst + i, out, sizeof(float) * (n - i));
	}
}

static void
bf16_to_f32_avx2(float *dst, const void *src, size_t n)
{
	convert(dst, src, n, KERN_BF16);
}

static void
f16_to_f32_avx2(float *dst, const void *src, size_t n)
{
	convert(dst, src, n, KERN_F16);
}

const struct kern kern_avx2 = {
    .name = "avx2",
    .linear = linear_avx2,
    .dot_f32 = dot_f32_avx2,
    .bf16_to_f32 = bf16_to_f32_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
};

#endif /* __x86_64__ */
