/* SPDX-License-Identifier: ISC */
/*
 * prep2_kern.c: the AVX-512 pixel kernels of the Molmo 2 preprocessor
 * (prep2.c): the bilinear resize and the normalise + patchify emitter.
 * Built only into libprep2_avx512.a (-mavx512f -mavx512bw -mavx512dq
 * -mavx512vl -mavx512vbmi, -ffp-contract=off); prep2.c calls it after
 * __builtin_cpu_supports() said yes to all five.
 *
 * Resize: eight output pixels at a time, one channel per vector of eight
 * doubles.  The source bytes of a group come from one 128-byte window of
 * each of the two source rows (two loads), picked by vpermi2b straight into
 * the low byte of each 64-bit lane (the others zeroed) and converted with
 * vcvtqq2pd.  The weights are float32 products ly * lx widened to double
 * as in the reference; the sum is w00*v00, then + w01*v01, + w10*v10,
 * + w11*v11 in that order.  Every product of a float32 weight and an 8-bit
 * value is exact in double, so fma(w, v, s) rounds exactly as s + w * v
 * does, and the sum is rounded to float32 (vcvtpd2ps), clamped at 255 and
 * rounded half-to-even by adding 2^23 as the reference does; one vpermi2b
 * then interleaves the low bytes into RGB.  Groups whose taps do not fit
 * the window are computed with the reference's own scalar code
 * (prep2_resize_px); loads near the end of a source row are masked, so no
 * byte past the image is read.
 *
 * Emit: the output of one patch row of one crop is a contiguous run of
 * cp patches of P rows of 3P floats.  A patch is converted into a stage
 * buffer that has the destination's alignment (a row segment at a time:
 * 16-byte loads, the last one masked), normalised by a formula
 * prep2_kern_norm_pick_avx512() checked against the float32 table for
 * every input; whole cache lines of the stage then go out with
 * non-temporal stores, the run's partial first and last lines with masked
 * stores.
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

/* The byte idx (low byte of each 64-bit lane) of the window lo:hi, as
 * doubles. */
static inline __m512d
pick(__m512i lo, __m512i idx, __m512i hi)
{
	const __mmask64 q = 0x0101010101010101ULL;

	return _mm512_cvtepi64_pd(
	    _mm512_maskz_permutex2var_epi8(q, lo, idx, hi));
}

/* One channel of eight pixels: w00*v00 + w01*v01 + w10*v10 + w11*v11 in
 * that order (the products are exact, so fma rounds as mul + add). */
static inline __m256
channel(__m512d w00, __m512d w01, __m512d w10, __m512d w11, __m512i a0,
        __m512i a1, __m512i b0, __m512i b1, __m512i i0, __m512i i1)
{
	__m512d s = _mm512_mul_pd(w00, pick(a0, i0, a1));

	s = _mm512_fmadd_pd(w01, pick(a0, i1, a1), s);
	s = _mm512_fmadd_pd(w10, pick(b0, i0, b1), s);
	s = _mm512_fmadd_pd(w11, pick(b0, i1, b1), s);
	return _mm512_cvtpd_ps(s);
}

void
prep2_kern_resize_avx512(const struct model_image *img,
                         const struct prep2_xplan *xp,
                         const struct prep2_axis *ax,
                         const struct prep2_axis *ay, int n_rows,
                         const double *u8d, uint8_t *dst, size_t dst_stride)
{
	/* Low bytes of the floats c0[0..7] c1[0..7] (table 0) and c2[0..7]
	 * (table 1) -> pixel-interleaved RGB. */
	static const uint8_t ileave[64] = {0,  32, 64, 4,  36, 68, 8,  40,
	                                   72, 12, 44, 76, 16, 48, 80, 20,
	                                   52, 84, 24, 56, 88, 28, 60, 92};
	const __m512i il = _mm512_loadu_si512(ileave);
	const __m512 top = _mm512_set1_ps(255.0f);
	const __m512 magic = _mm512_set1_ps(8388608.0f); /* 2^23 */
	size_t stride = (size_t)img->w * 3;

	for (int r = 0; r < n_rows; r++) {
		const uint8_t *r0 = img->rgb + (size_t)ay[r].i0 * stride;
		const uint8_t *r1 = img->rgb + (size_t)ay[r].i1 * stride;
		__m256 ly0 = _mm256_set1_ps(ay[r].l0);
		__m256 ly1 = _mm256_set1_ps(ay[r].l1);
		uint8_t *drow = dst + (size_t)r * dst_stride;

		for (int g = 0; g < xp->n_groups; g++) {
			int n = xp->n_px - g * PREP2_XG;
			uint8_t *d = drow + (size_t)g * PREP2_XG * 3;
			const __m512i *ix =
			    (const __m512i *)(xp->idx + (size_t)g * 384);
			int32_t base = xp->base[g];
			__m256 lx0, lx1, f0, f1, f2;
			__m512d w00, w01, w10, w11;
			__m512i a0, a1, b0, b1, y;
			__m512 f01, f2z;

			if (n > PREP2_XG)
				n = PREP2_XG;
			if (base < 0) {
				for (int k = 0; k < n; k++)
					prep2_resize_px(r0, r1, ay[r].l0,
					                ay[r].l1,
					                &ax[g * PREP2_XG + k],
					                u8d, d + k * 3);
				continue;
			}
			window(r0 + base, (long)stride - base, &a0, &a1);
			window(r1 + base, (long)stride - base, &b0, &b1);
			lx0 = _mm256_loadu_ps(xp->lx + (size_t)g * 16);
			lx1 = _mm256_loadu_ps(xp->lx + (size_t)g * 16 + 8);
			w00 = _mm512_cvtps_pd(_mm256_mul_ps(ly0, lx0));
			w01 = _mm512_cvtps_pd(_mm256_mul_ps(ly0, lx1));
			w10 = _mm512_cvtps_pd(_mm256_mul_ps(ly1, lx0));
			w11 = _mm512_cvtps_pd(_mm256_mul_ps(ly1, lx1));
			f0 = channel(w00, w01, w10, w11, a0, a1, b0, b1,
			             _mm512_load_si512(ix + 0),
			             _mm512_load_si512(ix + 3));
			f1 = channel(w00, w01, w10, w11, a0, a1, b0, b1,
			             _mm512_load_si512(ix + 1),
			             _mm512_load_si512(ix + 4));
			f2 = channel(w00, w01, w10, w11, a0, a1, b0, b1,
			             _mm512_load_si512(ix + 2),
			             _mm512_load_si512(ix + 5));
			/* Clamp to 255, then round half-to-even as the
			 * reference does: adding 2^23 (default rounding mode)
			 * leaves the integer in the low byte of the float. */
			f01 = _mm512_add_ps(
			    _mm512_min_ps(
			        _mm512_insertf32x8(_mm512_castps256_ps512(f0),
			                           f1, 1),
			        top),
			    magic);
			f2z = _mm512_add_ps(
			    _mm512_min_ps(_mm512_castps256_ps512(f2), top),
			    magic);
			y = _mm512_permutex2var_epi8(_mm512_castps_si512(f01),
			                             il,
			                             _mm512_castps_si512(f2z));
			_mm512_mask_storeu_epi8(
			    d, (__mmask64)((1ULL << (3 * n)) - 1), y);
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
 * The emitter with the formula kind.  Each patch (P rows of L = 3P bytes)
 * is converted into the stage, a buffer placed at the same offset modulo
 * 64 bytes as its destination, with plain stores; then the stage's whole
 * cache lines go out with non-temporal stores (the unit's first and last,
 * partial, lines with masked stores), and what is left of the last line
 * moves to the front for the next patch.
 */
static inline __attribute__((always_inline)) void
emit(const uint8_t *src, size_t stride, int P, int cp,
     const struct prep2_norm *nm, float *dst, enum prep2_norm_kind kind)
{
	float stage[PREP2_STAGE + 32] __attribute__((aligned(64)));
	int L = P * 3, pd = P * L;
	int ofs = (int)(((uintptr_t)dst & 63) / 4); /* dst is float-aligned */
	float *out = dst - ofs; /* 64-byte aligned, inside the buffer */
	int fill = ofs;         /* floats in the stage */
	size_t line = 0;        /* next line of out */

	/* The head of the first line is never stored; defined all the same. */
	_mm512_store_ps(stage, _mm512_setzero_ps());

	for (int pc = 0; pc < cp; pc++) {
		const uint8_t *s0 = src + (size_t)pc * L;
		int nl;

		for (int py = 0; py < P; py++) {
			const uint8_t *s = s0 + (size_t)py * stride;
			float *d = stage + fill + py * L;
			int q = 0;

			for (; q + 16 <= L; q += 16) {
				__m128i b =
				    _mm_loadu_si128((const __m128i *)(s + q));
				_mm512_storeu_ps(
				    d + q, norm(_mm512_cvtepi32_ps(
				                    _mm512_cvtepu8_epi32(b)),
				                nm, q % 3, kind));
			}
			if (q < L) {
				__mmask16 m = (__mmask16)((1u << (L - q)) - 1);
				__m128i b = _mm_maskz_loadu_epi8(m, s + q);
				_mm512_mask_storeu_ps(
				    d + q, m,
				    norm(_mm512_cvtepi32_ps(
				             _mm512_cvtepu8_epi32(b)),
				         nm, q % 3, kind));
			}
		}
		fill += pd;
		nl = fill / 16;
		for (int i = 0; i < nl; i++, line++) {
			__m512 v = _mm512_load_ps(stage + 16 * i);
			if (line == 0 && ofs > 0)
				_mm512_mask_storeu_ps(
				    out, (__mmask16)(0xFFFFu << ofs), v);
			else
				_mm512_stream_ps(out + 16 * line, v);
		}
		fill -= nl * 16;
		if (fill > 0)
			_mm512_store_ps(stage, _mm512_load_ps(stage + 16 * nl));
	}
	if (fill > 0)
		_mm512_mask_storeu_ps(out + 16 * line,
		                      (__mmask16)((1u << fill) - 1),
		                      _mm512_load_ps(stage));
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
	    PREP2_NORM_FMA, PREP2_NORM_MUL_FMA, PREP2_NORM_NEWTON_FMA,
	    PREP2_NORM_DIV};

	memset(nm, 0, sizeof(*nm));
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
