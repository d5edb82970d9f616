/* SPDX-License-Identifier: ISC */
/*
 * prep_kern.c: the pixel loops of the two resizes (see prep_resize.c for
 * the arithmetic they reproduce), plus clip and normalisation.
 *
 * This file is compiled three times: into libmodel.a for any x86-64 (SSE2),
 * with -mavx2 -DPREP_AVX2 into libprep_avx2.a and with -mavx512f -mavx512bw
 * -DPREP_AVX512 into libprep_avx512.a, where every exported function gets
 * the suffix _avx2 or _avx512; prep.c picks the widest set the CPU
 * supports.  The AVX-512 build replaces the hot loops by intrinsics
 * (z_* below); its torch column pass works on 16 input rows at a time,
 * transposed so that a vector holds one value of 16 rows and every tap is
 * a broadcast weight (z_rows_in, z_cols16).  All builds use -ffp-contract=off
 * and the loops do the same IEEE float operations in the same order per
 * element (only the vector width differs), so the results are
 * bit-identical; the one exception, AVX-512's division-free normalisation
 * (two FMA corrections of a multiply by 1 / std), gives the division's
 * bits exactly (prep_norm_exact).  test_model_prep checks every variant
 * against SSE2.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "model/prep_impl.h"

#ifdef PREP_AVX512
#include <immintrin.h>

static void z_vert_u8(float *restrict dst, const uint8_t *restrict rgb,
                      size_t stride, size_t n, int start, int len,
                      const float *restrict w);
#endif

#if defined(PREP_AVX512)
#define KERN(name) name##_avx512
#elif defined(PREP_AVX2)
#define KERN(name) name##_avx2
#else
#define KERN(name) name
#endif

/* ---- The passes ---- */

/*
 * The loops below work on blocks of PREP_BLOCK values with a fixed trip
 * count, so gcc's -O2 (SLP) vectorizer turns each block into a few vector
 * instructions; the arithmetic per element is unchanged (first product,
 * then += w[k] * v in ascending k), so the result is the same as a plain
 * scalar loop, bit for bit.
 */
#define PREP_BLOCK 16

/* uint8 -> [0, 1] as the reference converts: TF's convert_image_dtype
 * multiplies by f32(1/255), torchvision's divides by 255. */
static inline float
u8_tf(uint8_t v)
{
	return (float)v * (float)(1.0 / 255.0);
}

static inline float
u8_torch(uint8_t v)
{
	return (float)v / 255.0f;
}

/*
 * TF's first pass, straight from the uint8 rows: dst[x] = sum_k w[k] *
 * u8_tf(row start+k [x]) for the n values of a row (stride bytes apart).
 */
static void
vert_u8(float *restrict dst, const uint8_t *restrict rgb, size_t stride,
        size_t n, int start, int len, const float *restrict w)
{
	float acc[PREP_BLOCK];
	const uint8_t *s;
	size_t x;
	int i, k;

#ifdef PREP_AVX512
	z_vert_u8(dst, rgb, stride, n, start, len, w);
	return;
#endif
	if (len == 0) {
		memset(dst, 0, n * sizeof(float));
		return;
	}
	rgb += (size_t)start * stride;
	for (x = 0; x + PREP_BLOCK <= n; x += PREP_BLOCK) {
		s = rgb + x;
		for (i = 0; i < PREP_BLOCK; i++)
			acc[i] = w[0] * u8_tf(s[i]);
		for (k = 1; k < len; k++) {
			s += stride;
			for (i = 0; i < PREP_BLOCK; i++)
				acc[i] += w[k] * u8_tf(s[i]);
		}
		for (i = 0; i < PREP_BLOCK; i++)
			dst[x + i] = acc[i];
	}
	for (; x < n; x++) {
		acc[0] = w[0] * u8_tf(rgb[x]);
		for (k = 1; k < len; k++)
			acc[0] += w[k] * u8_tf(rgb[(size_t)k * stride + x]);
		dst[x] = acc[0];
	}
}

#ifdef PREP_AVX512
/*
 * The hot loops written out for AVX-512: 16 values a vector, several
 * accumulators in registers, masked tails.  Per value they do exactly the
 * operations of the portable loops below, in the same order (one multiply,
 * then one add per further tap; the same conversions, clip and
 * normalisation), so the bits are the same.
 */
static inline __mmask16
z_tail(size_t left)
{
	return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* Clip and normalise 16 values of a row whose first is channel ch (with
 * the fast form when p->fast_norm, see z_finish_row). */
static inline __attribute__((always_inline)) __m512
z_finish16(__m512 v, const struct prep *p, const __m512 *m, const __m512 *sd,
           const __m512 *rs, int ch)
{
	__m512 q, r;

	v = _mm512_max_ps(_mm512_setzero_ps(), v);
	v = _mm512_min_ps(_mm512_set1_ps(1.0f), v);
	v = _mm512_sub_ps(v, m[ch]);
	if (!p->fast_norm)
		return _mm512_div_ps(v, sd[ch]);
	q = _mm512_mul_ps(v, rs[ch]);
	r = _mm512_fnmadd_ps(q, sd[ch], v);
	return _mm512_fmadd_ps(r, rs[ch], q);
}

/* The per-channel constants of z_finish16: m[ch] lane l holds the mean of
 * channel (ch + l) % 3, and so on (p->fin_*, filled by prep_new). */
static inline __attribute__((always_inline)) void
z_finish_consts(const struct prep *p, __m512 *m, __m512 *sd, __m512 *rs)
{
	int i;

	for (i = 0; i < 3; i++) {
		m[i] = _mm512_loadu_ps(p->fin_mean + 16 * i);
		sd[i] = _mm512_loadu_ps(p->fin_std + 16 * i);
		rs[i] = _mm512_loadu_ps(p->fin_inv + 16 * i);
	}
}

/* dst[x] = sum_k w[k] * rows[k][x] for x < n (len >= 1); with fin,
 * clipped and normalised too (dst is a row: value 0 is channel 0). */
static void
z_vert_ptrs(float *restrict dst, const float *const *rows, size_t n, int len,
            const float *restrict w, const struct prep *fin)
{
	__m512 a[4], wk, m[3], sd[3], rs[3];
	const float *s;
	size_t x;
	__mmask16 mk;
	int k, i;

	if (fin != NULL)
		z_finish_consts(fin, m, sd, rs);
	for (x = 0; x + 64 <= n; x += 64) {
		wk = _mm512_set1_ps(w[0]);
		s = rows[0] + x;
#pragma GCC unroll 4
		for (i = 0; i < 4; i++)
			a[i] = _mm512_mul_ps(wk, _mm512_loadu_ps(s + 16 * i));
		for (k = 1; k < len; k++) {
			wk = _mm512_set1_ps(w[k]);
			s = rows[k] + x;
#pragma GCC unroll 4
			for (i = 0; i < 4; i++)
				a[i] = _mm512_add_ps(
				    a[i], _mm512_mul_ps(
				              wk, _mm512_loadu_ps(s + 16 * i)));
		}
#pragma GCC unroll 4
		for (i = 0; i < 4; i++) {
			if (fin != NULL)
				a[i] =
				    z_finish16(a[i], fin, m, sd, rs,
				               (int)((x / 16 + (size_t)i) % 3));
			_mm512_storeu_ps(dst + x + 16 * i, a[i]);
		}
	}
	for (; x < n; x += 16) {
		mk = z_tail(n - x);
		wk = _mm512_set1_ps(w[0]);
		a[0] =
		    _mm512_mul_ps(wk, _mm512_maskz_loadu_ps(mk, rows[0] + x));
		for (k = 1; k < len; k++) {
			wk = _mm512_set1_ps(w[k]);
			a[0] = _mm512_add_ps(
			    a[0], _mm512_mul_ps(wk, _mm512_maskz_loadu_ps(
			                                mk, rows[k] + x)));
		}
		if (fin != NULL)
			a[0] = z_finish16(a[0], fin, m, sd, rs,
			                  (int)((x / 16) % 3));
		_mm512_mask_storeu_ps(dst + x, mk, a[0]);
	}
}

/*
 * uint8 to float: dst = f32(src) * f32(1/255) (TF) or f32(src) / 255
 * (torch).  The torch division is fma(v, hi, v * lo) with hi = f32(1/255)
 * and lo = f32(1/255 - hi): the fma rounds v * (hi + lo), within 2^-8 ulp
 * of v / 255, once, which gives v / 255 for each of the 256 inputs
 * (test_model_prep compares it with the portable division on an image
 * holding every value) at the cost of two operations instead of a
 * division.
 */
static inline __m512
z_div255(__m512 v)
{
	const __m512 hi = _mm512_set1_ps((float)(1.0 / 255.0));
	const __m512 lo =
	    _mm512_set1_ps((float)(1.0 / 255.0 - (float)(1.0 / 255.0)));

	return _mm512_fmadd_ps(v, hi, _mm512_mul_ps(v, lo));
}

static void
z_row_u8(float *restrict dst, const uint8_t *restrict src, size_t n, bool tf)
{
	const __m512 c = _mm512_set1_ps((float)(1.0 / 255.0));
	__m512 v;
	size_t x;

	for (x = 0; x + 16 <= n; x += 16) {
		v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
		    _mm_loadu_si128((const __m128i *)(src + x))));
		v = tf ? _mm512_mul_ps(v, c) : z_div255(v);
		_mm512_storeu_ps(dst + x, v);
	}
	for (; x < n; x++)
		dst[x] = tf ? u8_tf(src[x]) : u8_torch(src[x]);
}

/* The first tap of four accumulators, acc[q] = w * v[q], or a further
 * one, acc[q] += w * v[q]. */
static inline __attribute__((always_inline)) void
z_tap4(__m512 *acc, float w, const __m512 *v, bool first)
{
	const __m512 wk = _mm512_set1_ps(w);
	int q;

	if (first) {
#pragma GCC unroll 4
		for (q = 0; q < 4; q++)
			acc[q] = _mm512_mul_ps(wk, v[q]);
		return;
	}
#pragma GCC unroll 4
	for (q = 0; q < 4; q++)
		acc[q] = _mm512_add_ps(acc[q], _mm512_mul_ps(wk, v[q]));
}

/* TF's vertical pass straight from the uint8 rows (stride bytes apart),
 * converting as row_tf does: dst[x] = sum_k w[k] * u8_tf(row start+k [x]).
 * Same values as converting into the ring first, without the ring's
 * traffic. */
static inline __m512
z_u8_tf(const uint8_t *s, __m512 c)
{
	return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
	                         _mm_loadu_si128((const __m128i *)s))),
	                     c);
}

static void
z_vert_u8(float *restrict dst, const uint8_t *restrict rgb, size_t stride,
          size_t n, int start, int len, const float *restrict w)
{
	const __m512 c = _mm512_set1_ps((float)(1.0 / 255.0));
	__m512 acc[4], v[4], a0;
	const uint8_t *s;
	size_t x;
	float r;
	int k, q;

	if (len == 0) {
		memset(dst, 0, n * sizeof(float));
		return;
	}
	rgb += (size_t)start * stride;
	/* (the first tap sets them; this tells the compiler) */
	for (q = 0; q < 4; q++)
		acc[q] = _mm512_setzero_ps();
	for (x = 0; x + 64 <= n; x += 64) {
		s = rgb + x;
		for (k = 0; k < len; k++, s += stride) {
#pragma GCC unroll 4
			for (q = 0; q < 4; q++)
				v[q] = z_u8_tf(s + 16 * q, c);
			z_tap4(acc, w[k], v, k == 0);
		}
#pragma GCC unroll 4
		for (q = 0; q < 4; q++)
			_mm512_storeu_ps(dst + x + 16 * q, acc[q]);
	}
	for (; x + 16 <= n; x += 16) {
		s = rgb + x;
		a0 = _mm512_mul_ps(_mm512_set1_ps(w[0]), z_u8_tf(s, c));
		for (k = 1; k < len; k++) {
			s += stride;
			a0 = _mm512_add_ps(
			    a0,
			    _mm512_mul_ps(_mm512_set1_ps(w[k]), z_u8_tf(s, c)));
		}
		_mm512_storeu_ps(dst + x, a0);
	}
	for (; x < n; x++) {
		r = w[0] * u8_tf(rgb[x]);
		for (k = 1; k < len; k++)
			r += w[k] * u8_tf(rgb[(size_t)k * stride + x]);
		dst[x] = r;
	}
}

/*
 * TF's vertical pass for two output rows at once, straight from the uint8
 * input: d0 from the l0 rows at s0 with weights w0, d1 from the l1 rows at
 * s1 with w1 (1 <= l0, l1; s0 <= s1; s0 + l0 <= s1 + l1: consecutive
 * outputs of an axis).  Their spans overlap, so each input row of the
 * union is converted once per 64 values and added to whichever output
 * reads it.  Per output the same operations in the same order as
 * z_vert_u8, so the same bits; a third fewer conversions.
 */
static void
z_vert_u8_2(float *restrict d0, float *restrict d1, const uint8_t *restrict rgb,
            size_t stride, size_t n, int s0, int l0, const float *restrict w0,
            int s1, int l1, const float *restrict w1)
{
	const __m512 c = _mm512_set1_ps((float)(1.0 / 255.0));
	__m512 a[4], b[4], v[4];
	const uint8_t *s;
	size_t x;
	int r, q;

	/* (every output's first tap sets them; this tells the compiler) */
	for (q = 0; q < 4; q++)
		a[q] = b[q] = _mm512_setzero_ps();
	for (x = 0; x + 64 <= n; x += 64) {
		s = rgb + (size_t)s0 * stride + x;
		for (r = s0; r < s1 + l1; r++, s += stride) {
#pragma GCC unroll 4
			for (q = 0; q < 4; q++)
				v[q] = z_u8_tf(s + 16 * q, c);
			if (r - s0 < l0)
				z_tap4(a, w0[r - s0], v, r == s0);
			if (r >= s1)
				z_tap4(b, w1[r - s1], v, r == s1);
		}
#pragma GCC unroll 4
		for (q = 0; q < 4; q++) {
			_mm512_storeu_ps(d0 + x + 16 * q, a[q]);
			_mm512_storeu_ps(d1 + x + 16 * q, b[q]);
		}
	}
	if (x < n) {
		z_vert_u8(d0 + x, rgb + x, stride, n - x, s0, l0, w0);
		z_vert_u8(d1 + x, rgb + x, stride, n - x, s1, l1, w1);
	}
}

/* Clip to [0, 1] and (v - mean) / std over n pixels (3n values) in place. */
static void
z_finish_row(float *restrict row, int n, const struct prep *p)
{
	__m512 m[3], sd[3], rs[3], v;
	size_t x, total = (size_t)n * 3;
	__mmask16 mk;
	int i;

	z_finish_consts(p, m, sd, rs);
	for (x = 0, i = 0; x < total; x += 16, i = i == 2 ? 0 : i + 1) {
		mk = z_tail(total - x);
		v = _mm512_maskz_loadu_ps(mk, row + x);
		_mm512_mask_storeu_ps(row + x, mk,
		                      z_finish16(v, p, m, sd, rs, i));
	}
}
#endif

/* torchvision's first step: one uint8 row to float. */
static void
row_torch(float *restrict dst, const uint8_t *restrict src, size_t n)
{
	size_t x;
	int i;

#ifdef PREP_AVX512
	z_row_u8(dst, src, n, false);
	return;
#endif
	for (x = 0; x + PREP_BLOCK <= n; x += PREP_BLOCK)
		for (i = 0; i < PREP_BLOCK; i++)
			dst[x + i] = u8_torch(src[x + i]);
	for (; x < n; x++)
		dst[x] = u8_torch(src[x]);
}

/*
 * Horizontal pass over one row of float RGB with exactly t taps per output
 * (the zero-padded spans): dst gets a->n_out pixels.  Each pixel is
 * accumulated as a 4-lane vector (r, g, b, and a fourth lane that reads the
 * next value and is thrown away), so src needs one float of slack past its
 * end.  Inlined with a constant t, the loops unroll completely.
 */
static inline __attribute__((always_inline)) void
horiz_t(float *restrict dst, const float *restrict src,
        const struct prep_axis *a, int t)
{
	const float *w, *s;
	float acc[4];
	int o, k, i;

	for (o = 0; o < a->n_out; o++, dst += 3) {
		w = a->pw + (size_t)o * t;
		s = src + (size_t)a->pstart[o] * 3;
		for (i = 0; i < 4; i++)
			acc[i] = w[0] * s[i];
		for (k = 1; k < t; k++)
			for (i = 0; i < 4; i++)
				acc[i] += w[k] * s[3 * k + i];
		for (i = 0; i < 3; i++)
			dst[i] = acc[i];
	}
}

#ifdef PREP_AVX512
/* The groups of z_horiz with a constant tap count t and window mode win
 * (1, 32 or 64, see struct prep_axis); returns the first output not done. */
static inline __attribute__((always_inline)) int
z_horiz_t(float *restrict dst, const float *restrict src,
          const struct prep_axis *a, int t, int win, int G)
{
	/* output value 3 * o + c is lane 4 * c + o */
	const __m512i pack =
	    G == 4 ? _mm512_setr_epi32(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 15,
	                               15, 15, 15)
	           : _mm512_setr_epi32(0, 4, 8, 1, 5, 9, 2, 6, 10, 15, 15, 15,
	                               15, 15, 15, 15);
	const __m512i bit5 = _mm512_set1_epi32(32);
	int groups = (a->n_out + G - 1) / G, g, k, nv;
	size_t lim = (size_t)a->n_in * 3, base;
	const int *zbase = a->zbase;
	const int32_t *zidx = a->zidx;
	const float *s, *w = a->zw;
	__m512 acc, x, hi, lo16, hi16, wk;
	__m512i idx;
	__mmask16 sel;

	for (g = 0; g < groups; g++, w += (size_t)t * 4, dst += 3 * G) {
		base = (size_t)zbase[g] * 3;
		if (base + (win == 1 ? 0 : 3 * (size_t)(t - 1)) +
		        (size_t)(win == 1 ? 32 : win) >
		    lim)
			break;
		idx = _mm512_loadu_si512(zidx + (size_t)g * 16);
		s = src + base;
		sel = _mm512_test_epi32_mask(idx, bit5);
		lo16 = _mm512_loadu_ps(s);
		hi16 = _mm512_loadu_ps(s + 16);
		acc = _mm512_setzero_ps();
#pragma GCC unroll 16
		for (k = 0; k < t; k++) {
			if (win == 1)
				x = _mm512_permutex2var_ps(
				    lo16,
				    _mm512_add_epi32(idx,
				                     _mm512_set1_epi32(3 * k)),
				    hi16);
			else
				x = _mm512_permutex2var_ps(
				    _mm512_loadu_ps(s + 3 * k), idx,
				    _mm512_loadu_ps(s + 3 * k + 16));
			if (win == 64) {
				hi = _mm512_permutex2var_ps(
				    _mm512_loadu_ps(s + 3 * k + 32), idx,
				    _mm512_loadu_ps(s + 3 * k + 48));
				x = _mm512_mask_blend_ps(sel, x, hi);
			}
			wk = _mm512_broadcast_f32x4(
			    _mm_loadu_ps(w + (size_t)k * 4));
			x = _mm512_mul_ps(wk, x);
			acc = k == 0 ? x : _mm512_add_ps(acc, x);
		}
		/* lanes 3G..15 are junk that the next group (or the tail
		 * loop) overwrites, as long as they stay inside the row; near
		 * its end only this group's own values are stored */
		acc = _mm512_permutexvar_ps(pack, acc);
		if ((size_t)g * 3 * G + 16 <= (size_t)a->n_out * 3) {
			_mm512_storeu_ps(dst, acc);
		} else {
			nv = a->n_out * 3 - g * 3 * G;
			nv = nv < 3 * G ? nv : 3 * G;
			_mm512_mask_storeu_ps(dst, (__mmask16)((1u << nv) - 1),
			                      acc);
		}
	}
	return G * g;
}

/*
 * Horizontal pass, 4 outputs a vector (see struct prep_axis for the group
 * tables): lane (o, c) gets w[o][0] * v[o][0][c], then + w[o][k] *
 * v[o][k][c] for k = 1 .. taps - 1, as horiz_t does.  The groups whose
 * window would read past the row, at the right end, go through the same
 * sums one value at a time.
 */
static void
z_horiz(float *restrict dst, const float *restrict src,
        const struct prep_axis *a)
{
	int t = a->taps, o, k, c;
	const float *s, *w;
	float r;

	if (a->zg == 3) {
		switch (t) {
		case 6:
			o = z_horiz_t(dst, src, a, 6, 32, 3);
			break;
		case 8:
			o = z_horiz_t(dst, src, a, 8, 32, 3);
			break;
		case 9:
			o = z_horiz_t(dst, src, a, 9, 32, 3);
			break;
		default:
			o = z_horiz_t(dst, src, a, t, 32, 3);
			break;
		}
	} else if (a->zwin == 1) {
		switch (t) {
		case 2:
			o = z_horiz_t(dst, src, a, 2, 1, 4);
			break;
		case 3:
			o = z_horiz_t(dst, src, a, 3, 1, 4);
			break;
		case 4:
			o = z_horiz_t(dst, src, a, 4, 1, 4);
			break;
		case 5:
			o = z_horiz_t(dst, src, a, 5, 1, 4);
			break;
		default:
			o = z_horiz_t(dst, src, a, t, 1, 4);
			break;
		}
	} else if (a->zwin == 32) {
		switch (t) {
		case 2:
			o = z_horiz_t(dst, src, a, 2, 32, 4);
			break;
		case 3:
			o = z_horiz_t(dst, src, a, 3, 32, 4);
			break;
		case 4:
			o = z_horiz_t(dst, src, a, 4, 32, 4);
			break;
		case 5:
			o = z_horiz_t(dst, src, a, 5, 32, 4);
			break;
		default:
			o = z_horiz_t(dst, src, a, t, 32, 4);
			break;
		}
	} else {
		switch (t) {
		case 6:
			o = z_horiz_t(dst, src, a, 6, 64, 4);
			break;
		case 8:
			o = z_horiz_t(dst, src, a, 8, 64, 4);
			break;
		case 9:
			o = z_horiz_t(dst, src, a, 9, 64, 4);
			break;
		case 12:
			o = z_horiz_t(dst, src, a, 12, 64, 4);
			break;
		default:
			o = z_horiz_t(dst, src, a, t, 64, 4);
			break;
		}
	}
	for (; o < a->n_out; o++) {
		w = a->pw + (size_t)o * t;
		s = src + (size_t)a->pstart[o] * 3;
		for (c = 0; c < 3; c++) {
			r = w[0] * s[c];
			for (k = 1; k < t; k++)
				r += w[k] * s[3 * k + c];
			dst[(size_t)o * 3 + c] = r;
		}
	}
}

/*
 * The direct horizontal pass (a->hwin != 0, see struct prep_axis): 16
 * output values a vector, each lane w[0] * v[0] then + w[k] * v[k] over
 * the padded taps as horiz_t does; with fin, clipped and normalised too.
 * Returns the first value not done (the groups whose window would read
 * past the row are left to the caller).
 */
static inline __attribute__((always_inline)) size_t
z_horiz16_t(float *restrict dst, const float *restrict src,
            const struct prep_axis *a, int t, int win, const struct prep *fin)
{
	const __m512i bit5 = _mm512_set1_epi32(32);
	/* in locals: the intrinsics' stores may alias anything, so fields
	 * read through a would be reloaded after each of them */
	const int *hq0 = a->hq0, *hn = a->hn, *hbase = a->hbase;
	const int32_t *hidx = a->hidx;
	const float *hw = a->hw;
	const int groups = a->hgroups;
	size_t lim = (size_t)a->n_in * 3, base, q = 0;
	const int32_t *ix;
	const float *s, *w;
	__m512 acc, x, hi, lo16, hi16, lo32, hi32, m[3], sd[3], rs[3];
	__m512i idx;
	int g, k, n;

	if (fin != NULL)
		z_finish_consts(fin, m, sd, rs);
	lo32 = hi32 = _mm512_setzero_ps();
	for (g = 0; g < groups; g++) {
		q = (size_t)hq0[g];
		n = hn[g];
		base = (size_t)hbase[g] * 3;
		if (base + (size_t)win > lim)
			return q;
		s = src + base;
		w = hw + (size_t)g * t * 16;
		ix = hidx + (size_t)g * t * 16;
		lo16 = _mm512_loadu_ps(s);
		hi16 = _mm512_loadu_ps(s + 16);
		if (win == 64) {
			lo32 = _mm512_loadu_ps(s + 32);
			hi32 = _mm512_loadu_ps(s + 48);
		}
		acc = _mm512_setzero_ps();
#pragma GCC unroll 16
		for (k = 0; k < t; k++) {
			idx = _mm512_load_si512(ix + (size_t)k * 16);
			x = _mm512_permutex2var_ps(lo16, idx, hi16);
			if (win == 64) {
				hi = _mm512_permutex2var_ps(lo32, idx, hi32);
				x = _mm512_mask_blend_ps(
				    _mm512_test_epi32_mask(idx, bit5), x, hi);
			}
			x = _mm512_mul_ps(_mm512_load_ps(w + (size_t)k * 16),
			                  x);
			acc = k == 0 ? x : _mm512_add_ps(acc, x);
		}
		if (fin != NULL)
			acc = z_finish16(acc, fin, m, sd, rs, (int)(q % 3));
		_mm512_mask_storeu_ps(dst + q, z_tail((size_t)n), acc);
	}
	return (size_t)a->n_out * 3;
}

/* z_horiz16_t with the tap count and window as constants where they are
 * common, then the values left one at a time. */
static void
z_horiz16(float *restrict dst, const float *restrict src,
          const struct prep_axis *a, const struct prep *fin)
{
	size_t nq = (size_t)a->n_out * 3, q;
	int t = a->taps, k, o, c;
	const float *w, *s;
	float r;

#define Z_H16(T, W) z_horiz16_t(dst, src, a, T, W, fin)
	if (a->hwin == 32)
		q = t == 2   ? Z_H16(2, 32)
		    : t == 3 ? Z_H16(3, 32)
		    : t == 4 ? Z_H16(4, 32)
		    : t == 5 ? Z_H16(5, 32)
		             : Z_H16(t, 32);
	else
		q = t == 4   ? Z_H16(4, 64)
		    : t == 5 ? Z_H16(5, 64)
		    : t == 8 ? Z_H16(8, 64)
		    : t == 9 ? Z_H16(9, 64)
		             : Z_H16(t, 64);
#undef Z_H16
	for (; q < nq; q++) {
		o = (int)(q / 3);
		c = (int)(q % 3);
		w = a->pw + (size_t)o * t;
		s = src + (size_t)a->pstart[o] * 3 + c;
		r = w[0] * s[0];
		for (k = 1; k < t; k++)
			r += w[k] * s[3 * k];
		if (fin != NULL) {
			r = r < 0.0f ? 0.0f : r;
			r = r > 1.0f ? 1.0f : r;
			r = (r - fin->cfg.mean[c]) / fin->cfg.std[c];
		}
		dst[q] = r;
	}
}
#endif

static void
horiz(float *restrict dst, const float *restrict src, const struct prep_axis *a)
{
#ifdef PREP_AVX512
	if (a->hwin != 0) {
		z_horiz16(dst, src, a, NULL);
		return;
	}
	if (a->zwin != 0) {
		z_horiz(dst, src, a);
		return;
	}
#endif
	switch (a->taps) {
	case 1:
		horiz_t(dst, src, a, 1);
		break;
	case 2:
		horiz_t(dst, src, a, 2);
		break;
	case 3:
		horiz_t(dst, src, a, 3);
		break;
	case 4:
		horiz_t(dst, src, a, 4);
		break;
	case 5:
		horiz_t(dst, src, a, 5);
		break;
	case 8:
		horiz_t(dst, src, a, 8);
		break;
	case 9:
		horiz_t(dst, src, a, 9);
		break;
	default:
		horiz_t(dst, src, a, a->taps);
		break;
	}
}

/* Clip to [0, 1] and normalise one row of n pixels in place, four pixels
 * (12 values, a whole number of vectors) at a time. */
static void
finish_row(float *restrict row, int n, const struct prep *p)
{
	const struct prep_config *c = &p->cfg;
	float mean[12], std[12], v;
	int x, i;

#ifdef PREP_AVX512
	z_finish_row(row, n, p);
	return;
#endif
	for (i = 0; i < 12; i++) {
		mean[i] = c->mean[i % 3];
		std[i] = c->std[i % 3];
	}
	for (x = 0; x + 4 <= n; x += 4, row += 12) {
		for (i = 0; i < 12; i++) {
			v = row[i];
			v = v < 0.0f ? 0.0f : v;
			v = v > 1.0f ? 1.0f : v;
			row[i] = (v - mean[i]) / std[i];
		}
	}
	for (; x < n; x++, row += 3) {
		for (i = 0; i < 3; i++) {
			v = row[i];
			v = v < 0.0f ? 0.0f : v;
			v = v > 1.0f ? 1.0f : v;
			row[i] = (v - mean[i]) / std[i];
		}
	}
}

/* Vertical pass over rows given by pointers: dst[x] = sum_k w[k] *
 * rows[k][x] for the n values of a row. */
static void
vert_ptrs(float *restrict dst, const float *const *rows, size_t n, int len,
          const float *restrict w)
{
	float acc[PREP_BLOCK];
	const float *s;
	size_t x;
	int i, k;

	if (len == 0) {
		memset(dst, 0, n * sizeof(float));
		return;
	}
#ifdef PREP_AVX512
	z_vert_ptrs(dst, rows, n, len, w, NULL);
	return;
#endif
	for (x = 0; x + PREP_BLOCK <= n; x += PREP_BLOCK) {
		s = rows[0] + x;
		for (i = 0; i < PREP_BLOCK; i++)
			acc[i] = w[0] * s[i];
		for (k = 1; k < len; k++) {
			s = rows[k] + x;
			for (i = 0; i < PREP_BLOCK; i++)
				acc[i] += w[k] * s[i];
		}
		for (i = 0; i < PREP_BLOCK; i++)
			dst[x + i] = acc[i];
	}
	for (; x < n; x++) {
		acc[0] = w[0] * rows[0][x];
		for (k = 1; k < len; k++)
			acc[0] += w[k] * rows[k][x];
		dst[x] = acc[0];
	}
}

/* One input row converted as TF does. */
static void
row_tf(float *restrict dst, const uint8_t *restrict src, size_t n)
{
	size_t x;
	int i;

#ifdef PREP_AVX512
	z_row_u8(dst, src, n, true);
	return;
#endif
	for (x = 0; x + PREP_BLOCK <= n; x += PREP_BLOCK)
		for (i = 0; i < PREP_BLOCK; i++)
			dst[x + i] = u8_tf(src[x + i]);
	for (; x < n; x++)
		dst[x] = u8_tf(src[x]);
}

void
KERN(prep_kern_tf_in)(float *restrict dst, const uint8_t *restrict src,
                      size_t n)
{
	row_tf(dst, src, n);
}

/* TF's second pass: row (the vertical pass's result) along x into out,
 * clipped and normalised. */
static void
tf_horiz(const struct prep *p, const struct prep_view *v, const float *row,
         float *out)
{
#ifdef PREP_AVX512
	if (v->ax_x.hwin != 0) {
		z_horiz16(out, row, &v->ax_x, p);
		return;
	}
#endif
	horiz(out, row, &v->ax_x);
	finish_row(out, v->w, p);
}

/* TF, rows first: the vertical pass over the converted rows (or straight
 * from the uint8 input), then the horizontal one, then clip and
 * normalise. */
void
KERN(prep_kern_tf_row)(const struct prep *p, const struct prep_view *v,
                       const struct model_image *img, const float *const *rows,
                       int y, float *scratch, float *out)
{
	size_t in_n = (size_t)img->w * 3;
	const struct prep_axis *ay = &v->ax_y;
	const float *w = ay->w + (size_t)y * ay->taps;

	if (rows != NULL)
		vert_ptrs(scratch, rows, in_n, ay->len[y], w);
	else
		vert_u8(scratch, img->rgb, in_n, in_n, ay->start[y], ay->len[y],
		        w);
	tf_horiz(p, v, scratch, out);
}

#ifdef PREP_AVX512
/* Content rows y and y + 1 of view v like tf_row from the uint8 input, the
 * vertical pass for both at once (z_vert_u8_2) into scratch and scratch +
 * p->row1_off, into out0 and out1. */
void
prep_kern_tf_row2_avx512(const struct prep *p, const struct prep_view *v,
                         const struct model_image *img, int y, float *scratch,
                         float *out0, float *out1)
{
	size_t in_n = (size_t)img->w * 3;
	const struct prep_axis *ay = &v->ax_y;
	float *r1 = scratch + p->row1_off;
	int s0 = ay->start[y], l0 = ay->len[y];
	int s1 = ay->start[y + 1], l1 = ay->len[y + 1];

	if (l0 >= 1 && l1 >= 1 && s0 <= s1 && s0 + l0 <= s1 + l1)
		z_vert_u8_2(scratch, r1, img->rgb, in_n, in_n, s0, l0,
		            ay->w + (size_t)y * ay->taps, s1, l1,
		            ay->w + (size_t)(y + 1) * ay->taps);
	else {
		vert_u8(scratch, img->rgb, in_n, in_n, s0, l0,
		        ay->w + (size_t)y * ay->taps);
		vert_u8(r1, img->rgb, in_n, in_n, s1, l1,
		        ay->w + (size_t)(y + 1) * ay->taps);
	}
	tf_horiz(p, v, scratch, out0);
	tf_horiz(p, v, r1, out1);
}
#endif

#ifdef PREP_AVX512
/* Transpose the 16 x 16 floats v[i] (row i) in place: each step swaps bit
 * d of the row and column indices where they differ. */
static inline __attribute__((always_inline)) void
z_transpose16(__m512 *v)
{
	const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	                                       11, 12, 13, 14, 15);
	__m512i ia, ib;
	__m512 x, y;
	__mmask16 m;
	int d, i;

#pragma GCC unroll 4
	for (d = 8; d >= 1; d /= 2) {
		m = _mm512_test_epi32_mask(iota, _mm512_set1_epi32(d));
		ia = _mm512_mask_add_epi32(iota, m, iota,
		                           _mm512_set1_epi32(16 - d));
		ib = _mm512_mask_blend_epi32(
		    m, _mm512_add_epi32(iota, _mm512_set1_epi32(d)),
		    _mm512_add_epi32(iota, _mm512_set1_epi32(16)));
#pragma GCC unroll 16
		for (i = 0; i < 16; i++) {
			if (i & d)
				continue;
			x = v[i];
			y = v[i + d];
			v[i] = _mm512_permutex2var_ps(x, ia, y);
			v[i + d] = _mm512_permutex2var_ps(x, ib, y);
		}
	}
}

/* 16 uint8 values to float as row_torch converts them (z_row_u8). */
static inline __m512
z_u8_torch(const uint8_t *s)
{
	return z_div255(_mm512_cvtepi32_ps(
	    _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)s))));
}

/* t[j * 16 + r] = u8_torch(rgb[r * n + j]) for 16 rows of n values. */
static void
z_rows_in(float *restrict t, const uint8_t *restrict rgb, size_t n, size_t j)
{
	uint8_t tail[16];
	__m512 v[16];
	size_t nv, i;
	int r;

	for (; j < n; j += 16) {
		nv = n - j < 16 ? n - j : 16;
#pragma GCC unroll 16
		for (r = 0; r < 16; r++) {
			if (nv == 16) {
				v[r] = z_u8_torch(rgb + (size_t)r * n + j);
			} else {
				memset(tail, 0, sizeof(tail));
				memcpy(tail, rgb + (size_t)r * n + j, nv);
				v[r] = z_u8_torch(tail);
			}
		}
		z_transpose16(v);
#pragma GCC unroll 16
		for (i = 0; i < nv; i++)
			_mm512_storeu_ps(t + (j + i) * 16, v[i]);
	}
}

/*
 * z_rows_in with AVX512_VBMI (the caller checks the CPU): 64 values of the
 * 16 rows at a time are transposed as bytes, four to a 32-bit lane by
 * z_transpose16 and then within each vector by one byte permute, so that
 * each 16-byte quarter holds one value of the 16 rows; only then are they
 * converted.  A quarter of the permutes of transposing floats; the same
 * values.  The last n % 64 values go through z_rows_in.
 */
__attribute__((target("avx512vbmi"))) static void
z_rows_in_vbmi(float *restrict t, const uint8_t *restrict rgb, size_t n)
{
	uint8_t perm[64];
	__m512i idx, z;
	__m512 v[16];
	size_t j;
	int r, d, c;

	/* byte 16 c + r of the result is byte 4 r + c of the source */
	for (c = 0; c < 4; c++)
		for (r = 0; r < 16; r++)
			perm[16 * c + r] = (uint8_t)(4 * r + c);
	idx = _mm512_loadu_si512(perm);
	for (j = 0; j + 64 <= n; j += 64) {
#pragma GCC unroll 16
		for (r = 0; r < 16; r++)
			v[r] = _mm512_castsi512_ps(
			    _mm512_loadu_si512(rgb + (size_t)r * n + j));
		z_transpose16(v);
		for (d = 0; d < 16; d++) {
			z = _mm512_permutexvar_epi8(idx,
			                            _mm512_castps_si512(v[d]));
#pragma GCC unroll 4
			for (c = 0; c < 4; c++)
				_mm512_storeu_ps(
				    t + (j + 4 * (size_t)d + (size_t)c) * 16,
				    z_div255(
				        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
				            _mm512_extracti32x4_epi32(z, c)))));
		}
	}
	z_rows_in(t, rgb, n, j);
}

/*
 * The column pass of 16 input rows at once, lane r being row r: t holds
 * the rows transposed (z_rows_in).  Sixteen output values at a time are
 * computed as vectors over the 16 rows (value q, channel q % 3 of output
 * q / 3: w[0] * v[0], then + w[k] * v[k] over the padded taps, as horiz_t
 * does), transposed in registers and stored to row r's dst[r].
 */
static inline __attribute__((always_inline)) void
z_cols16_t(float *const *dst, const float *restrict t,
           const struct prep_axis *a, int tp)
{
	/* in locals: the intrinsics' stores may alias anything, so fields
	 * read through a or dst would be reloaded after each of them */
	const float *pw = a->pw;
	const int *pstart = a->pstart;
	float *d[16];
	size_t nq = (size_t)a->n_out * 3, q, i, nv, o;
	const float *s, *w;
	__m512 v[16], x;
	int r, k;

	for (r = 0; r < 16; r++)
		d[r] = dst[r];
	for (q = 0; q < nq; q += 16) {
		nv = nq - q < 16 ? nq - q : 16;
#pragma GCC unroll 16
		for (i = 0; i < 16; i++) {
			if (i >= nv) {
				v[i] = _mm512_setzero_ps();
				continue;
			}
			o = (q + i) / 3;
			w = pw + o * (size_t)tp;
			s = t + ((size_t)pstart[o] * 3 + (q + i) % 3) * 16;
			v[i] = _mm512_mul_ps(_mm512_set1_ps(w[0]),
			                     _mm512_loadu_ps(s));
#pragma GCC unroll 16
			for (k = 1; k < tp; k++) {
				x = _mm512_mul_ps(_mm512_set1_ps(w[k]),
				                  _mm512_loadu_ps(s + 48 * k));
				v[i] = _mm512_add_ps(v[i], x);
			}
		}
		z_transpose16(v);
#pragma GCC unroll 16
		for (r = 0; r < 16; r++)
			_mm512_mask_storeu_ps(d[r] + q, z_tail(nv), v[r]);
	}
}

static void
z_cols16(float *const *dst, const float *restrict t, const struct prep_axis *a)
{
	switch (a->taps) {
	case 3:
		z_cols16_t(dst, t, a, 3);
		break;
	case 4:
		z_cols16_t(dst, t, a, 4);
		break;
	case 8:
		z_cols16_t(dst, t, a, 8);
		break;
	case 12:
		z_cols16_t(dst, t, a, 12);
		break;
	default:
		z_cols16_t(dst, t, a, a->taps);
		break;
	}
}
#endif

void
KERN(prep_kern_torch_in)(const struct prep *p, const struct model_image *img,
                         int y, int n, float *const *g, float *const *h,
                         float *scratch)
{
	size_t in_n = (size_t)img->w * 3;
	int i;

#ifdef PREP_AVX512
	if (n == 16 && p->xrows_off != 0) {
		float *t = scratch + p->xrows_off;

		if (p->vbmi)
			z_rows_in_vbmi(t, img->rgb + (size_t)y * in_n, in_n);
		else
			z_rows_in(t, img->rgb + (size_t)y * in_n, in_n, 0);
		z_cols16(g, t, &p->global.ax_x);
		z_cols16(h, t, &p->hires.ax_x);
		return;
	}
#endif
	for (i = 0; i < n; i++) {
		row_torch(scratch, img->rgb + (size_t)(y + i) * in_n, in_n);
		horiz(g[i], scratch, &p->global.ax_x);
		horiz(h[i], scratch, &p->hires.ax_x);
	}
}

/* torchvision, columns first: the vertical pass over the resampled rows,
 * then clip and normalise. */
void
KERN(prep_kern_torch_row)(const struct prep *p, const struct prep_view *v,
                          const float *const *rows, int y, float *out)
{
	const struct prep_axis *ay = &v->ax_y;

#ifdef PREP_AVX512
	if (ay->len[y] > 0) {
		z_vert_ptrs(out, rows, (size_t)v->w * 3, ay->len[y],
		            ay->w + (size_t)y * ay->taps, p);
		return;
	}
#endif
	vert_ptrs(out, rows, (size_t)v->w * 3, ay->len[y],
	          ay->w + (size_t)y * ay->taps);
	finish_row(out, v->w, p);
}

/*
 * One patch row of a crop: dst gets, for each of the cp patches px and each
 * of its ps pixel rows dy, the ps * 3 floats at rows[dy] + x0 + px * ps * 3
 * (x0 in floats), one after the other.  With AVX-512, whole 64-byte lines
 * are assembled with masked loads and written with non-temporal stores when
 * dst is 64-byte aligned and the row a whole number of lines (the output is
 * far larger than the caches and not read back here); the caller issues the
 * store fence.  Otherwise plain copies.  Only copies: the bits are the same.
 */
void
KERN(prep_kern_emit)(float *restrict dst, const float *const *rows, size_t x0,
                     int ps, int cp, bool stream)
{
	size_t seg = (size_t)ps * 3;
	int px, dy;

#ifdef PREP_AVX512
	size_t total = (size_t)cp * (size_t)ps * seg, pos, off;
	const float *src;
	__mmask16 m;
	__m512 v;

	if (stream && seg >= 16 && (uintptr_t)dst % 64 == 0 &&
	    total % 16 == 0) {
		/* segment (px, dy) and the offset of the next line in it */
		px = 0;
		dy = 0;
		off = 0;
		src = rows[0] + x0;
		for (pos = 0; pos < total; pos += 16) {
			if (off + 16 <= seg) {
				v = _mm512_loadu_ps(src + off);
				off += 16;
			} else {
				/* the line straddles two segments */
				m = (__mmask16)((1u << (seg - off)) - 1);
				v = _mm512_maskz_loadu_ps(m, src + off);
				off = 16 - (seg - off);
				if (++dy == ps) {
					dy = 0;
					px++;
				}
				src = px < cp ? rows[dy] + x0 + (size_t)px * seg
				              : src;
				v = _mm512_mask_loadu_ps(v, (__mmask16)~m,
				                         src + off - 16);
			}
			if (off == seg) {
				off = 0;
				if (++dy == ps) {
					dy = 0;
					px++;
				}
				if (px < cp)
					src = rows[dy] + x0 + (size_t)px * seg;
			}
			_mm512_stream_ps(dst + pos, v);
		}
		return;
	}
#else
	(void)stream;
#endif
	for (px = 0; px < cp; px++)
		for (dy = 0; dy < ps; dy++, dst += seg)
			memcpy(dst, rows[dy] + x0 + (size_t)px * seg,
			       seg * sizeof(float));
}

void
KERN(prep_kern_fence)(void)
{
#ifdef PREP_AVX512
	_mm_sfence();
#endif
}
