/* SPDX-License-Identifier: ISC */
/*
 * prep_kern.c: the pixel loops of the two resizes (see prep_resize.c for
 * the arithmetic they reproduce), plus clip and normalisation.
 *
 * This file is compiled twice: into libmodel.a for any x86-64 (SSE2), and
 * with -mavx2 -DPREP_AVX2 into libprep_avx2.a, where every exported
 * function gets the suffix _avx2; prep.c picks the AVX2 set when
 * __builtin_cpu_supports("avx2").  Both builds use -ffp-contract=off and
 * no FMA, and the loops do the same IEEE float operations in the same order
 * per element (only the vector width differs), so the results are
 * bit-identical; test_model_prep checks it.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "model/prep_impl.h"

#ifdef PREP_AVX2
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

/* torchvision's first step: one uint8 row to float. */
static void
row_torch(float *restrict dst, const uint8_t *restrict src, size_t n)
{
	size_t x;
	int i;

	for (x = 0; x + PREP_BLOCK <= n; x += PREP_BLOCK)
		for (i = 0; i < PREP_BLOCK; i++)
			dst[x + i] = u8_torch(src[x + i]);
	for (; x < n; x++)
		dst[x] = u8_torch(src[x]);
}

/*
 * Vertical pass over float rows: dst[x] = sum_k w[k] * rows[start + k][x]
 * for the n values of a row, rows being n floats apart.
 */
static void
vert_f32(float *restrict dst, const float *restrict rows, size_t n, int start,
         int len, const float *restrict w)
{
	float acc[PREP_BLOCK];
	const float *s;
	size_t x;
	int i, k;

	if (len == 0) {
		memset(dst, 0, n * sizeof(float));
		return;
	}
	rows += (size_t)start * n;
	for (x = 0; x + PREP_BLOCK <= n; x += PREP_BLOCK) {
		s = rows + x;
		for (i = 0; i < PREP_BLOCK; i++)
			acc[i] = w[0] * s[i];
		for (k = 1; k < len; k++) {
			s += n;
			for (i = 0; i < PREP_BLOCK; i++)
				acc[i] += w[k] * s[i];
		}
		for (i = 0; i < PREP_BLOCK; i++)
			dst[x + i] = acc[i];
	}
	for (; x < n; x++) {
		acc[0] = w[0] * rows[x];
		for (k = 1; k < len; k++)
			acc[0] += w[k] * rows[(size_t)k * n + x];
		dst[x] = acc[0];
	}
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

static void
horiz(float *restrict dst, const float *restrict src, const struct prep_axis *a)
{
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
finish_row(float *restrict row, int n, const struct prep_config *c)
{
	float mean[12], std[12], v;
	int x, i;

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

	for (x = 0; x + PREP_BLOCK <= n; x += PREP_BLOCK)
		for (i = 0; i < PREP_BLOCK; i++)
			dst[x + i] = u8_tf(src[x + i]);
	for (; x < n; x++)
		dst[x] = u8_tf(src[x]);
}

/*
 * TF, rows first, one content row at a time.  When the thread's scratch
 * holds a ring of converted input rows (p->ring_rows >= the view's taps),
 * each input row is converted to float once per view and thread; spans only
 * move down, and the rows of one span (at most taps consecutive rows) fall
 * in distinct slots row % taps.  Otherwise the rows are converted on the fly
 * (same values, more work).
 */
void
KERN(prep_kern_tf_rows)(const struct prep *p, struct prep_view *v,
                        const struct model_image *img, float *scratch, int lo,
                        int hi)
{
	size_t in_n = (size_t)img->w * 3, n = (size_t)v->w * 3;
	size_t rowlen = in_n + 1;
	const struct prep_axis *ay = &v->ax_y;
	const float *rows[PREP_RING_MAX];
	float *ring = scratch + rowlen, *row, *slot;
	int tag[PREP_RING_MAX], taps = ay->taps, y, k, r;
	bool use_ring = p->ring_rows >= taps;

	for (k = 0; k < PREP_RING_MAX; k++)
		tag[k] = -1;
	for (y = lo; y < hi; y++) {
		/* rows first: one resampled input row in scratch ... */
		if (use_ring) {
			for (k = 0; k < ay->len[y]; k++) {
				r = ay->start[y] + k;
				slot = ring + (size_t)(r % taps) * rowlen;
				if (tag[r % taps] != r) {
					row_tf(slot,
					       img->rgb + (size_t)r * in_n,
					       in_n);
					tag[r % taps] = r;
				}
				rows[k] = slot;
			}
			vert_ptrs(scratch, rows, in_n, ay->len[y],
			          ay->w + (size_t)y * taps);
		} else {
			vert_u8(scratch, img->rgb, in_n, in_n, ay->start[y],
			        ay->len[y], ay->w + (size_t)y * taps);
		}
		/* ... then its columns */
		row = v->content + (size_t)y * n;
		horiz(row, scratch, &v->ax_x);
		finish_row(row, v->w, &p->cfg);
	}
}

void
KERN(prep_kern_torch_cols)(const struct prep *p, const struct model_image *img,
                           float *scratch, int lo, int hi)
{
	size_t in_n = (size_t)img->w * 3;
	const struct prep_view *g = &p->global, *h = &p->hires;
	int y;

	for (y = lo; y < hi; y++) {
		row_torch(scratch, img->rgb + (size_t)y * in_n, in_n);
		horiz(g->tmp + (size_t)y * g->w * 3, scratch, &g->ax_x);
		horiz(h->tmp + (size_t)y * h->w * 3, scratch, &h->ax_x);
	}
}

void
KERN(prep_kern_torch_rows)(const struct prep *p, struct prep_view *v, int lo,
                           int hi)
{
	size_t n = (size_t)v->w * 3;
	const struct prep_axis *ay = &v->ax_y;
	int y;

	for (y = lo; y < hi; y++) {
		vert_f32(v->content + (size_t)y * n, v->tmp, n, ay->start[y],
		         ay->len[y], ay->w + (size_t)y * ay->taps);
		finish_row(v->content + (size_t)y * n, v->w, &p->cfg);
	}
}
