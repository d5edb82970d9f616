/* SPDX-License-Identifier: ISC */
/*
 * prep2_kern.c: the AVX-512 pixel kernels of the Molmo 2 preprocessor
 * (prep2.c): the bilinear resize and the normalise + patchify emitter.
 * Built only into libprep2_avx512.a (-mavx512f -mavx512bw -mavx512dq
 * -mavx512vl -mavx512vbmi, -ffp-contract=off); prep2.c calls it after
 * __builtin_cpu_supports() said yes to all five.
 *
 * Resize: sixteen output values (pixel channels, RGB-interleaved as in
 * the output row) a vector, in two passes with a float32 shortcut that is
 * checked value by value.  The horizontal pass, once per source row (two
 * rows kept per thread, reused by the next output rows), picks the bytes
 * of the left and right taps from one 128-byte window of the row
 * (vpermi2b into dword lanes) and computes h = RN(l1 v1 + RN(l0 v0)) in
 * float32.  The vertical pass computes a = RN(ly1 h1 + RN(ly0 h0)).  The
 * reference computes the weights RN(ly * lx) in float32 and the sum of the
 * four exact products in double, rounded to float32 (s).  With weights
 * <= 1 and sums < 256, each of the four float32 roundings above moves a
 * by at most 2^-16 (those of h weighted by ly0 + ly1 <= 1 + 2^-24), the
 * weight roundings move the reference's sum by at most 2^-24 of it (2^-16)
 * and its rounding to float32 by 2^-16 more, so |a - s| <= 6 * 2^-16 plus
 * a trifle (the double sum's 2^-43), < 2^-13: unless a is
 * within 2^-12 of a half-integer (checked with vreduceps), s rounds to the
 * same integer as a, which vcvtps2dq (nearest, ties to even, as the
 * reference's adding and subtracting 2^23) gives (a < 255.01, so no
 * clamp is needed).  A vector with any value near a half-integer is
 * recomputed the reference's way: weights ly * lx in float32 widened to
 * double, w00*v00 + w01*v01 + w10*v10 + w11*v11 in that order with fma
 * (the products are exact, so fma rounds as mul + add), vcvtpd2ps, clamp,
 * vcvtps2dq.  Four vectors' dwords are packed to bytes with the saturating
 * in-lane packs and one vpermd.
 * Vectors whose taps do not fit one window are computed with the
 * reference's scalar code (prep2_resize_ch); loads near the end of a
 * source row are masked, so no byte past the image is read, and nothing
 * past an output row is written.
 *
 * Emit: the output of one patch row of one crop is a contiguous run of
 * cp patches of P rows of 3P floats.  The bytes of a patch are copied
 * (masked 64-byte loads) into a byte stage laid out like the destination
 * modulo 64 bytes, so each 16 bytes of the stage become one whole cache
 * line: widened, normalised by a formula prep2_kern_norm_pick_avx512()
 * checked against the float32 table for every input, and written with a
 * non-temporal store (the run's partial first and last lines with masked
 * stores).
 */
#include "config.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "model/prep2_impl.h"

/* ---- Resize ---- */

/* Source bytes from base on, at most PREP2_WIN, as two vectors; avail is
 * the number of bytes of the row from base on. */
static inline void
window(const uint8_t *p, long avail, __m512i *lo, __m512i *hi)
{
	if (avail >= 128) {
		*lo = _mm512_loadu_si512(p);
		*hi = _mm512_loadu_si512(p + 64);
	} else {
		__mmask64 ml = avail >= 64 ? ~0ULL : (1ULL << avail) - 1;
		__mmask64 mh = avail > 64 ? (1ULL << (avail - 64)) - 1 : 0;
		*lo = _mm512_maskz_loadu_epi8(ml, p);
		*hi = _mm512_maskz_loadu_epi8(mh, p + 64);
	}
}

/* The bytes idx[4k + b] of the window lo:hi into byte b of dword k
 * (m: byte b of every dword), the other bytes zeroed. */
static inline __m512i
pick(__m512i lo, __m512i idx, __m512i hi, __mmask64 m)
{
	return _mm512_maskz_permutex2var_epi8(m, lo, idx, hi);
}

#define TAP0 0x1111111111111111ULL /* left tap: v */
#define TAP1 0x2222222222222222ULL /* right tap: 256 v */

/* The horizontal pass of source row src (stride bytes) into h: vector m
 * gets RN(l1 * v1 + RN(l0 * v0)) for its values' taps v0, v1 (zeros for
 * the vectors the plan leaves to the scalar code); l1 * v1 is computed as
 * (l1 / 256) * (256 v1), the same number.  A narrow plan's taps are all in
 * the first 64 bytes of the window: one load and two single-source
 * permutes (vpermb) instead of two loads and two two-source ones
 * (vpermi2b, three uops each), about a fifth off this pass. */
static void
hpass(const uint8_t *src, long stride, const struct prep2_xplan *xp, float *h)
{
	/* the plan in locals: the intrinsics' stores may alias anything,
	 * so fields read through xp were reloaded for every vector */
	const int32_t *bases = xp->base;
	const struct prep2_xvec *vecs = xp->vec;
	const int n_vec = xp->n_vec;
	const bool narrow = xp->narrow;

	for (int m = 0; m < n_vec; m++) {
		const struct prep2_xvec *xv = &vecs[m];
		int32_t base = bases[m];
		long avail = stride - base;
		__m512i lo, hi, ix;
		__m512 v0, v1;

		if (base < 0) {
			/* the scalar code's (the resize reads and drops it) */
			_mm512_store_ps(h + (size_t)m * PREP2_XV,
			                _mm512_setzero_ps());
			continue;
		}
		ix = _mm512_load_si512(xv->idx);
		if (narrow) {
			lo = avail >= 64 ? _mm512_loadu_si512(src + base)
			                 : _mm512_maskz_loadu_epi8(
			                       (1ULL << avail) - 1, src + base);
			v0 = _mm512_cvtepi32_ps(
			    _mm512_maskz_permutexvar_epi8(TAP0, ix, lo));
			v1 = _mm512_cvtepi32_ps(
			    _mm512_maskz_permutexvar_epi8(TAP1, ix, lo));
		} else {
			window(src + base, avail, &lo, &hi);
			v0 = _mm512_cvtepi32_ps(pick(lo, ix, hi, TAP0));
			v1 = _mm512_cvtepi32_ps(pick(lo, ix, hi, TAP1));
		}
		_mm512_store_ps(
		    h + (size_t)m * PREP2_XV,
		    _mm512_fmadd_ps(_mm512_load_ps(xv->l1s), v1,
		                    _mm512_mul_ps(_mm512_load_ps(xv->l0), v0)));
	}
}

/* Eight of the reference's sums w00*v00 + w01*v01 + w10*v10 + w11*v11 in
 * double, in that order (each product is exact, so fma rounds as mul + add),
 * rounded to float32. */
static inline __m256
exact8(__m256 w00, __m256 w01, __m256 w10, __m256 w11, __m256i p00, __m256i p01,
       __m256i p10, __m256i p11)
{
	__m512d s =
	    _mm512_mul_pd(_mm512_cvtps_pd(w00), _mm512_cvtepi32_pd(p00));

	s = _mm512_fmadd_pd(_mm512_cvtps_pd(w01), _mm512_cvtepi32_pd(p01), s);
	s = _mm512_fmadd_pd(_mm512_cvtps_pd(w10), _mm512_cvtepi32_pd(p10), s);
	s = _mm512_fmadd_pd(_mm512_cvtps_pd(w11), _mm512_cvtepi32_pd(p11), s);
	return _mm512_cvtpd_ps(s);
}

#define LO8(x)  _mm512_castps512_ps256(x)
#define HI8(x)  _mm512_extractf32x8_ps(x, 1)
#define LO8I(x) _mm512_castsi512_si256(x)
#define HI8I(x) _mm512_extracti64x4_epi64(x, 1)

/* Round to the nearest integer, ties to even, as the reference's adding
 * and subtracting 2^23 does (0 <= x < 2^23). */
static inline __m512i
round_epi32(__m512 x)
{
	return _mm512_cvt_roundps_epi32(x, _MM_FROUND_TO_NEAREST_INT |
	                                       _MM_FROUND_NO_EXC);
}

/* Vector xv of output row (r0, r1, ly0, ly1) exactly as the reference
 * computes it: the values as dwords. */
static __m512i
exact_vec(const uint8_t *r0, const uint8_t *r1, long stride, int32_t base,
          const struct prep2_xvec *xv, __m512 ly0, __m512 ly1)
{
	__m512i a0, a1, b0, b1, ix, p00, p01, p10, p11;
	__m512 l0, l1, w00, w01, w10, w11, f;

	window(r0 + base, stride - base, &a0, &a1);
	window(r1 + base, stride - base, &b0, &b1);
	ix = _mm512_load_si512(xv->idx);
	p00 = pick(a0, ix, a1, TAP0);
	p01 = _mm512_srli_epi32(pick(a0, ix, a1, TAP1), 8);
	p10 = pick(b0, ix, b1, TAP0);
	p11 = _mm512_srli_epi32(pick(b0, ix, b1, TAP1), 8);
	l0 = _mm512_load_ps(xv->l0);
	l1 = _mm512_mul_ps(_mm512_load_ps(xv->l1s), _mm512_set1_ps(256.0f));
	w00 = _mm512_mul_ps(ly0, l0);
	w01 = _mm512_mul_ps(ly0, l1);
	w10 = _mm512_mul_ps(ly1, l0);
	w11 = _mm512_mul_ps(ly1, l1);
	f = _mm512_insertf32x8(
	    _mm512_castps256_ps512(exact8(LO8(w00), LO8(w01), LO8(w10),
	                                  LO8(w11), LO8I(p00), LO8I(p01),
	                                  LO8I(p10), LO8I(p11))),
	    exact8(HI8(w00), HI8(w01), HI8(w10), HI8(w11), HI8I(p00), HI8I(p01),
	           HI8I(p10), HI8I(p11)),
	    1);
	/* Clamp to 255, then round half-to-even as the reference does. */
	return round_epi32(_mm512_min_ps(f, _mm512_set1_ps(255.0f)));
}

/* Vector m of an output row with the reference's scalar code (a vector
 * whose taps do not fit one window). */
static __m512i
scalar_vec(const uint8_t *r0, const uint8_t *r1, const struct prep2_axis *ay,
           const struct prep2_axis *ax, const double *u8d, int m, int nv)
{
	int32_t t[PREP2_XV];

	for (int k = 0; k < PREP2_XV; k++) {
		int j = m * PREP2_XV + k < nv ? m * PREP2_XV + k : nv - 1;
		t[k] = prep2_resize_ch(r0, r1, ay->l0, ay->l1, &ax[j / 3], u8d,
		                       j % 3);
	}
	return _mm512_loadu_si512(t);
}

void
prep2_kern_resize_avx512(const struct model_image *img,
                         const struct prep2_xplan *xp,
                         const struct prep2_axis *ax,
                         const struct prep2_axis *ay, int n_rows,
                         const double *u8d, uint8_t *dst, size_t dst_stride,
                         struct prep2_hrows *hr)
{
	/* After the in-lane packs of four vectors' dwords to bytes, dword
	 * 4 l + k holds lane l of vector k: put them back in order. */
	const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6,
	                                        10, 14, 3, 7, 11, 15);
	/* |a - n| above this: a is within 2^-12 of a half-integer. */
	const __m512 edge = _mm512_set1_ps(0.5f - 0x1p-12f);
	long stride = (long)img->w * 3;
	int nv = xp->n_px * 3;

	if (hr->xp != xp) {
		hr->xp = xp;
		hr->row[0] = hr->row[1] = -1;
	}
	for (int r = 0; r < n_rows; r++) {
		int32_t i0 = ay[r].i0, i1 = ay[r].i1;
		const uint8_t *r0 = img->rgb + (size_t)i0 * (size_t)stride;
		const uint8_t *r1 = img->rgb + (size_t)i1 * (size_t)stride;
		const __m512 ly0 = _mm512_set1_ps(ay[r].l0);
		const __m512 ly1 = _mm512_set1_ps(ay[r].l1);
		uint8_t *drow = dst + (size_t)r * dst_stride;
		const float *h0, *h1;
		int s0, s1;

		/* The horizontal passes of rows i0 and i1, reused while they
		 * are needed (rows only go down). */
		s0 = hr->row[0] == i0 ? 0 : hr->row[1] == i0 ? 1 : -1;
		if (s0 < 0) {
			s0 = hr->row[0] <= hr->row[1] ? 0 : 1;
			hpass(r0, stride, xp, hr->h[s0]);
			hr->row[s0] = i0;
		}
		s1 = s0;
		if (i1 != i0) {
			s1 = 1 - s0;
			if (hr->row[s1] != i1) {
				hpass(r1, stride, xp, hr->h[s1]);
				hr->row[s1] = i1;
			}
		}
		h0 = hr->h[s0];
		h1 = hr->h[s1];

		for (int m = 0; m < xp->n_vec; m += 4) {
			__m512i u[4], y;
			int left = nv - m * PREP2_XV;
			unsigned redo = 0;

			/* The separable sum in float32: within 2^-13 of the
			 * reference's float32 sum (see the top of the file),
			 * so unless a is near a half-integer, both round to
			 * the same integer.  The vectors that are near one
			 * (or that the plan leaves to the scalar code) are
			 * redone below, out of this straight line. */
#pragma GCC unroll 4
			for (int k = 0; k < 4; k++) {
				const float *g0 =
				    h0 + (size_t)(m + k) * PREP2_XV;
				const float *g1 =
				    h1 + (size_t)(m + k) * PREP2_XV;
				__m512 a, d;

				a = _mm512_fmadd_ps(
				    ly1, _mm512_load_ps(g1),
				    _mm512_mul_ps(ly0, _mm512_load_ps(g0)));
				d = _mm512_reduce_ps(a,
				                     _MM_FROUND_TO_NEAREST_INT);
				u[k] = round_epi32(a);
				if (_mm512_cmp_ps_mask(_mm512_abs_ps(d), edge,
				                       _CMP_GT_OQ) != 0 ||
				    xp->base[m + k] < 0)
					redo |= 1u << k;
			}
			for (int k = 0; __builtin_expect(redo != 0, 0) && k < 4;
			     k++) {
				if (!(redo & 1u << k))
					continue;
				if (xp->base[m + k] < 0)
					u[k] = scalar_vec(r0, r1, &ay[r], ax,
					                  u8d, m + k, nv);
				else
					u[k] = exact_vec(
					    r0, r1, stride, xp->base[m + k],
					    &xp->vec[m + k], ly0, ly1);
			}
			/* Values 0..255: the saturating packs keep them. */
			y = _mm512_permutexvar_epi32(
			    order, _mm512_packus_epi16(
			               _mm512_packus_epi32(u[0], u[1]),
			               _mm512_packus_epi32(u[2], u[3])));
			if (left >= 64)
				_mm512_storeu_si512(drow + m * PREP2_XV, y);
			else
				_mm512_mask_storeu_epi8(
				    drow + m * PREP2_XV,
				    (__mmask64)((1ULL << left) - 1), y);
		}
	}
}

/* ---- Normalise + patchify ---- */

/* q = x / d rounded: q0 = x * r, then one Newton step with the exact
 * residual x - q0 * d (fma). */
static inline __m512
div_newton(__m512 x, __m512 d, __m512 r)
{
	__m512 q = _mm512_mul_ps(x, r);
	__m512 e = _mm512_fnmadd_ps(q, d, x);

	return _mm512_fmadd_ps(e, r, q);
}

/* The normalised values of x (u8 values as floats) in channel phase ph,
 * with the formula kind. */
static inline __attribute__((always_inline)) __m512
norm(__m512 x, const struct prep2_norm *nm, int ph, enum prep2_norm_kind kind)
{
	const __m512 d255 = _mm512_set1_ps(255.0f);
	const __m512 r255 = _mm512_set1_ps(1.0f / 255.0f);
	__m512 q;

	switch (kind) {
	case PREP2_NORM_FMA:
		return _mm512_fmadd_ps(x, _mm512_loadu_ps(nm->a[ph]),
		                       _mm512_loadu_ps(nm->b[ph]));
	case PREP2_NORM_MUL_FMA:
		q = _mm512_mul_ps(x, r255);
		return _mm512_fmadd_ps(q, _mm512_loadu_ps(nm->rstd[ph]),
		                       _mm512_loadu_ps(nm->c[ph]));
	case PREP2_NORM_MUL2_FMA:
		q = _mm512_fmadd_ps(x, _mm512_set1_ps(nm->zh),
		                    _mm512_mul_ps(x, _mm512_set1_ps(nm->zl)));
		return _mm512_fmadd_ps(q, _mm512_loadu_ps(nm->rstd[ph]),
		                       _mm512_loadu_ps(nm->c[ph]));
	case PREP2_NORM_NEWTON_FMA:
		q = div_newton(x, d255, r255);
		return _mm512_fmadd_ps(q, _mm512_loadu_ps(nm->rstd[ph]),
		                       _mm512_loadu_ps(nm->c[ph]));
	default: /* PREP2_NORM_DIV */
		q = div_newton(x, d255, r255);
		return div_newton(
		    _mm512_sub_ps(q, _mm512_loadu_ps(nm->mean[ph])),
		    _mm512_loadu_ps(nm->std[ph]),
		    _mm512_loadu_ps(nm->rstd[ph]));
	}
}

/*
 * The emitter with the formula kind.  The bytes of each patch (P rows of
 * L = 3P bytes) are copied into the stage, a byte buffer whose index i
 * stands for the float at out + i (out: dst rounded down to 64 bytes), so
 * the stage's 16-byte pieces map to whole cache lines of the output: each
 * is widened, normalised and sent out with a non-temporal store (the
 * unit's first and last, partial, lines with masked stores), and what is
 * left of the last piece moves to the front for the next patch.
 */
static inline __attribute__((always_inline)) void
emit(const uint8_t *src, size_t stride, int P, int cp,
     const struct prep2_norm *nm, float *dst, enum prep2_norm_kind kind)
{
	uint8_t stage[PREP2_STAGE + 128] __attribute__((aligned(64)));
	int L = P * 3, pd = P * L;
	int ofs = (int)(((uintptr_t)dst & 63) / 4); /* dst is float-aligned */
	float *out = dst - ofs;     /* 64-byte aligned, inside the buffer */
	int fill = ofs;             /* bytes in the stage */
	int ph = (3 - ofs % 3) % 3; /* channel of the next line's lane 0 */
	size_t line = 0;            /* next line of out */
	__mmask64 tail = (__mmask64)(~0ULL >> ((64 - L % 64) % 64));

	/* The head of the first line is never stored; defined all the same. */
	_mm512_store_si512(stage, _mm512_setzero_si512());

	for (int pc = 0; pc < cp; pc++) {
		const uint8_t *s0 = src + (size_t)pc * L;
		int nl;

		for (int py = 0; py < P; py++) {
			const uint8_t *s = s0 + (size_t)py * stride;
			uint8_t *d = stage + fill + py * L;
			int q = 0;

			for (; q + 64 < L; q += 64)
				_mm512_storeu_si512(d + q,
				                    _mm512_loadu_si512(s + q));
			_mm512_storeu_si512(
			    d + q, _mm512_maskz_loadu_epi8(tail, s + q));
		}
		fill += pd;
		nl = fill / 16;
		for (int i = 0; i < nl; i++, line++) {
			__m512 v =
			    norm(_mm512_cvtepi32_ps(
			             _mm512_cvtepu8_epi32(_mm_load_si128(
			                 (const __m128i *)(stage + 16 * i)))),
			         nm, ph, kind);
			if (line == 0 && ofs > 0)
				_mm512_mask_storeu_ps(
				    out, (__mmask16)(0xFFFFu << ofs), v);
			else
				_mm512_stream_ps(out + 16 * line, v);
			ph = ph == 2 ? 0 : ph + 1;
		}
		fill -= nl * 16;
		if (fill > 0)
			_mm_store_si128(
			    (__m128i *)stage,
			    _mm_load_si128((const __m128i *)(stage + 16 * nl)));
	}
	if (fill > 0)
		_mm512_mask_storeu_ps(
		    out + 16 * line, (__mmask16)((1u << fill) - 1),
		    norm(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
		             _mm_load_si128((const __m128i *)stage))),
		         nm, ph, kind));
}

void
prep2_kern_emit_avx512(const uint8_t *src, size_t stride, int P, int cp,
                       const struct prep2_norm *nm, float *dst)
{
	switch (nm->kind) {
	case PREP2_NORM_FMA:
		emit(src, stride, P, cp, nm, dst, PREP2_NORM_FMA);
		break;
	case PREP2_NORM_MUL_FMA:
		emit(src, stride, P, cp, nm, dst, PREP2_NORM_MUL_FMA);
		break;
	case PREP2_NORM_MUL2_FMA:
		emit(src, stride, P, cp, nm, dst, PREP2_NORM_MUL2_FMA);
		break;
	case PREP2_NORM_NEWTON_FMA:
		emit(src, stride, P, cp, nm, dst, PREP2_NORM_NEWTON_FMA);
		break;
	default:
		emit(src, stride, P, cp, nm, dst, PREP2_NORM_DIV);
		break;
	}
}

void
prep2_kern_fence_avx512(void)
{
	_mm_sfence();
}

/* Does nm reproduce lut for every value and channel?  Lane l of phase ph
 * holds channel (ph + l) % 3. */
static bool
norm_matches(const struct prep2_norm *nm, const float lut[3][256])
{
	for (int ph = 0; ph < 3; ph++) {
		for (int v = 0; v < 256; v += 16) {
			float out[16];
			__m512 x = _mm512_cvtepi32_ps(_mm512_add_epi32(
			    _mm512_set1_epi32(v),
			    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
			                      11, 12, 13, 14, 15)));
			__m512 y;

			switch (nm->kind) {
			case PREP2_NORM_FMA:
				y = norm(x, nm, ph, PREP2_NORM_FMA);
				break;
			case PREP2_NORM_MUL_FMA:
				y = norm(x, nm, ph, PREP2_NORM_MUL_FMA);
				break;
			case PREP2_NORM_MUL2_FMA:
				y = norm(x, nm, ph, PREP2_NORM_MUL2_FMA);
				break;
			case PREP2_NORM_NEWTON_FMA:
				y = norm(x, nm, ph, PREP2_NORM_NEWTON_FMA);
				break;
			default:
				y = norm(x, nm, ph, PREP2_NORM_DIV);
				break;
			}
			_mm512_storeu_ps(out, y);
			for (int l = 0; l < 16; l++)
				if (memcmp(&out[l], &lut[(ph + l) % 3][v + l],
				           sizeof(float)) != 0)
					return false;
		}
	}
	return true;
}

void
prep2_kern_norm_pick_avx512(const struct prep2_config *cfg,
                            const float lut[3][256], struct prep2_norm *nm)
{
	static const enum prep2_norm_kind order[] = {
	    PREP2_NORM_FMA, PREP2_NORM_MUL_FMA, PREP2_NORM_MUL2_FMA,
	    PREP2_NORM_NEWTON_FMA, PREP2_NORM_DIV};

	memset(nm, 0, sizeof(*nm));
	nm->zh = 1.0f / 255.0f;
	nm->zl = (float)(1.0 / 255.0 - (double)nm->zh);
	for (int ph = 0; ph < 3; ph++) {
		for (int l = 0; l < 16; l++) {
			int c = (ph + l) % 3;
			double s = cfg->std[c], m = cfg->mean[c];

			nm->a[ph][l] = (float)(1.0 / (255.0 * s));
			nm->b[ph][l] = (float)(-m / s);
			nm->c[ph][l] = -cfg->mean[c] / cfg->std[c];
			nm->mean[ph][l] = cfg->mean[c];
			nm->std[ph][l] = cfg->std[c];
			nm->rstd[ph][l] = 1.0f / cfg->std[c];
		}
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		nm->kind = order[i];
		if (norm_matches(nm, lut))
			return;
	}
	nm->kind = PREP2_NORM_NONE;
}
