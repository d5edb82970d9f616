/* SPDX-License-Identifier: ISC */
/*
 * prep_resize.c: the two antialiased bilinear resizes of the Molmo
 * reference processors, reproduced in float32 operation by operation
 * (docs/molmo-v1.md section 4.4; shared/golden/README.md "Preprocessing
 * goldens").
 *
 * TF (Molmo-7B-D/7B-O/72B): tf.image.resize(bilinear, antialias=True) is
 * ScaleAndTranslate with a triangle kernel (tensorflow
 * core/kernels/image/scale_and_translate_op.cc).  Per axis:
 * scale = f32(out)/f32(in), inv = f32(1/scale), ks = max(inv, 1); output o
 * samples at s = (o + 0.5f) * inv, taps ceil(s - ks - 0.5) ..
 * floor(s + ks - 0.5) clamped to the image, w = max(0, 1 - |(j + 0.5f - s) *
 * f32(1/ks)|), each multiplied by f32(1/sum) as TF does (the golden README
 * writes these as divisions; the reciprocals are what match the goldens bit
 * for bit).  Rows (height) first into a float buffer, then columns.
 *
 * TORCH (MolmoE): torchvision Resize(bilinear, antialias=True) on a float32
 * CHW tensor runs ATen's separable AA kernel (UpSampleKernel.cpp,
 * HelperInterpLinear, the Pillow-style support): scale = f32(in)/f32(out),
 * support = max(scale, 1), center = f32(scale * (o + 0.5)) with the double
 * promotions the C++ source has, xmin = trunc(center - support + 0.5), the
 * weights filter((j + xmin - center + 0.5) * invscale) normalised by their
 * float sum.  Columns (width) first, then rows.
 *
 * Both accumulate each output in float32 in ascending source order, the
 * first product being the initial value, then clip to [0, 1] and apply the
 * CLIP normalisation (v - mean) / std.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/prep_impl.h"
#include "util/err.h"

static int
axis_alloc(struct prep_axis *a, int n_out, struct err *e)
{
	int *s, *l, *ps;

	if ((size_t)n_out <= a->cap)
		return 0;
	s = realloc(a->start, (size_t)n_out * sizeof(int));
	if (s == NULL)
		return err_set(e, "preprocess: out of memory");
	a->start = s;
	l = realloc(a->len, (size_t)n_out * sizeof(int));
	if (l == NULL)
		return err_set(e, "preprocess: out of memory");
	a->len = l;
	ps = realloc(a->pstart, (size_t)n_out * sizeof(int));
	if (ps == NULL)
		return err_set(e, "preprocess: out of memory");
	a->pstart = ps;
	a->cap = (size_t)n_out;
	return 0;
}

static int
weights_alloc(struct prep_axis *a, struct err *e)
{
	size_t n = (size_t)a->n_out * (size_t)a->taps;
	float *w;

	if (n <= a->wcap)
		return 0;
	w = realloc(a->w, n * sizeof(float));
	if (w == NULL)
		return err_set(e, "preprocess: out of memory");
	a->w = w;
	w = realloc(a->pw, n * sizeof(float));
	if (w == NULL)
		return err_set(e, "preprocess: out of memory");
	a->pw = w;
	a->wcap = n;
	return 0;
}

/* Fill pstart/pw from start/len/w (see struct prep_axis). */
static void
pad_spans(struct prep_axis *a)
{
	int o, lead, k, t = a->taps;
	float *pw;

	for (o = 0; o < a->n_out; o++) {
		a->pstart[o] = a->start[o];
		if (a->pstart[o] > a->n_in - t)
			a->pstart[o] = a->n_in - t;
		lead = a->start[o] - a->pstart[o];
		pw = a->pw + (size_t)o * t;
		for (k = 0; k < t; k++)
			pw[k] = 0.0f;
		for (k = 0; k < a->len[o]; k++)
			pw[lead + k] = a->w[(size_t)o * t + k];
	}
}

/* Fill the AVX-512 group tables for groups of G outputs; returns the
 * largest window index. */
static int
group_fill(struct prep_axis *a, int G)
{
	int groups = (a->n_out + G - 1) / G, g, l, o, k, t = a->taps;
	int maxidx = 0;

	for (g = 0; g < groups; g++) {
		a->zbase[g] = a->pstart[G * g];
		/* lane l = 4 * channel + output; outputs past G or n_out and
		 * channel 3 (spare) repeat others */
		for (l = 0; l < 16; l++) {
			o = G * g + (l % 4 < G ? l % 4 : G - 1);
			if (o >= a->n_out)
				o = a->n_out - 1;
			a->zidx[g * 16 + l] = (a->pstart[o] - a->zbase[g]) * 3 +
			                      (l / 4 < 3 ? l / 4 : 2);
			if (a->zidx[g * 16 + l] > maxidx)
				maxidx = a->zidx[g * 16 + l];
			if (l < 4)
				for (k = 0; k < t; k++)
					a->zw[((size_t)g * t + k) * 4 + l] =
					    a->pw[(size_t)o * t + k];
		}
	}
	return maxidx;
}

/* Fill the AVX-512 group tables from pstart/pw (see struct prep_axis):
 * groups of 4 outputs, or of 3 when that lets one 32-float window serve
 * where 4 outputs would need 64. */
static int
group_spans(struct prep_axis *a, struct err *e)
{
	size_t groups = ((size_t)a->n_out + 2) / 3, nw;
	int t = a->taps, maxidx, *zb;
	int32_t *zi;
	float *zw;

	if (groups > a->zcap) {
		zb = realloc(a->zbase, groups * sizeof(int));
		if (zb == NULL)
			return err_set(e, "preprocess: out of memory");
		a->zbase = zb;
		zi = realloc(a->zidx, groups * 16 * sizeof(int32_t));
		if (zi == NULL)
			return err_set(e, "preprocess: out of memory");
		a->zidx = zi;
		a->zcap = groups;
	}
	nw = groups * (size_t)t * 4;
	if (nw > a->zwcap) {
		zw = realloc(a->zw, nw * sizeof(float));
		if (zw == NULL)
			return err_set(e, "preprocess: out of memory");
		a->zw = zw;
		a->zwcap = nw;
	}
	a->zg = 4;
	maxidx = group_fill(a, 4);
	if (maxidx >= 32 && group_fill(a, 3) < 32) {
		a->zg = 3;
		a->zwin = 32;
		return 0;
	}
	if (maxidx >= 32)
		group_fill(a, 4);
	/* a fixed window when every tap of a group fits in 32 floats, else
	 * one sliding by a pixel a tap */
	a->zwin = maxidx + 3 * (t - 1) < 32 ? 1
	          : maxidx < 32             ? 32
	          : maxidx < 64             ? 64
	                                    : 0;
	return 0;
}

/* The window index of value q's tap k in a group whose window starts at
 * input pixel base. */
static int
window_idx(const struct prep_axis *a, int q, int k, int base)
{
	return (a->pstart[q / 3] + k - base) * 3 + q % 3;
}

/* How many values from q0 on (at most 16) fit one group whose every tap
 * reads within win floats of the group's window. */
static int
group_len(const struct prep_axis *a, int q0, int win)
{
	int nq = a->n_out * 3, base = a->pstart[q0 / 3], n;

	for (n = 0; n < 16 && q0 + n < nq; n++)
		if (window_idx(a, q0 + n, a->taps - 1, base) >= win)
			break;
	return n;
}

/* How many groups cover the row with windows of win floats, or 0 if some
 * value does not fit one. */
static size_t
count_groups(const struct prep_axis *a, int win)
{
	int nq = a->n_out * 3, q, n;
	size_t groups = 0;

	for (q = 0; q < nq; q += n, groups++)
		if ((n = group_len(a, q, win)) == 0)
			return 0;
	return groups;
}

/*
 * Fill the direct kernel's tables (see struct prep_axis) from pstart/pw,
 * with the window size that costs fewer vector operations per value (a
 * tap is one permute, a multiply and an add with 32 floats, two permutes,
 * a mask and a blend more with 64), or none (hwin 0) when the grouped
 * kernel does better (one permute, an index add, a multiply and an add
 * per tap for 12 values; 9 when zg is 3; two permutes more with zwin 64).
 */
static int
direct_spans(struct prep_axis *a, struct err *e)
{
	int t = a->taps, nq = a->n_out * 3, q, n, win, l, k, v;
	size_t groups, g32 = count_groups(a, 32), g64 = count_groups(a, 64);
	size_t nw, g, at;
	double c32, c64, cz;
	void *m;

	c32 = g32 != 0 ? 3.0 * (double)g32 / nq : 1e9;
	c64 = g64 != 0 ? 6.0 * (double)g64 / nq : 1e9;
	cz = a->zwin == 0 ? 1e9 : (a->zwin == 64 ? 6.0 : 4.0) / (3.0 * a->zg);
	a->hwin = 0;
	if (cz <= c32 && cz <= c64)
		return 0;
	win = c32 <= c64 ? 32 : 64;
	groups = win == 32 ? g32 : g64;
	if (groups > a->hcap) {
		free(a->hbase);
		a->hcap = 0;
		a->hbase = calloc(groups * 3, sizeof(int));
		if (a->hbase == NULL)
			return err_set(e, "preprocess: out of memory");
		a->hcap = groups;
	}
	a->hq0 = a->hbase + a->hcap;
	a->hn = a->hq0 + a->hcap;
	nw = groups * (size_t)t * 16;
	if (nw > a->hwcap) {
		/* both tables are read a vector at a time: whole lines */
		free(a->hidx);
		free(a->hw);
		a->hidx = NULL;
		a->hw = NULL;
		a->hwcap = 0;
		if (posix_memalign(&m, 64, nw * sizeof(int32_t)) != 0)
			return err_set(e, "preprocess: out of memory");
		a->hidx = m;
		if (posix_memalign(&m, 64, nw * sizeof(float)) != 0)
			return err_set(e, "preprocess: out of memory");
		a->hw = m;
		a->hwcap = nw;
	}
	for (g = 0, q = 0; q < nq; q += n, g++) {
		n = group_len(a, q, win);
		a->hq0[g] = q;
		a->hn[g] = n;
		a->hbase[g] = a->pstart[q / 3];
		for (l = 0; l < 16; l++) {
			/* lanes past the group repeat its last value */
			v = q + (l < n ? l : n - 1);
			for (k = 0; k < t; k++) {
				at = (g * (size_t)t + (size_t)k) * 16 +
				     (size_t)l;
				a->hidx[at] = window_idx(a, v, k, a->hbase[g]);
				a->hw[at] = a->pw[(size_t)(v / 3) * t + k];
			}
		}
	}
	a->hgroups = (int)groups;
	a->hwin = win;
	return 0;
}

/* ---- TensorFlow ScaleAndTranslate spans ---- */

static void
tf_span(int n_in, float inv, float ks, int o, int *start, int *len)
{
	float s = ((float)o + 0.5f) * inv;
	long a, b;

	if (s < 0.0f || s > (float)n_in) {
		/* TF adds an empty span when sampling outside the image. */
		*start = 0;
		*len = 0;
		return;
	}
	a = (long)ceilf(s - ks - 0.5f);
	b = (long)floorf(s + ks - 0.5f);
	a = a < 0 ? 0 : a > n_in - 1 ? n_in - 1 : a;
	b = b < 0 ? 0 : b > n_in - 1 ? n_in - 1 : b;
	*start = (int)a;
	*len = (int)(b + 1 - a);
}

static void
tf_weights(int n_in, float inv, float ks, int o, float *w)
{
	float s = ((float)o + 0.5f) * inv, sum = 0.0f, x, rsum;
	float rks = 1.0f / ks; /* one_over_kernel_scale */
	int start, len, k;

	tf_span(n_in, inv, ks, o, &start, &len);
	for (k = 0; k < len; k++) {
		x = fabsf(((float)(start + k) + 0.5f - s) * rks);
		w[k] = x < 1.0f ? 1.0f - x : 0.0f;
		sum += w[k];
	}
	/* TF multiplies by the reciprocal of the sum (and skips tiny sums);
	 * dividing instead changes the last bit of ~1/3 of the pixels. */
	if (fabsf(sum) >= 1000.0f * FLT_MIN) {
		rsum = 1.0f / sum;
		for (k = 0; k < len; k++)
			w[k] *= rsum;
	}
}

/* ---- ATen antialiased bilinear ---- */

static float
aa_filter(float x)
{
	if (x < 0.0f)
		x = -x;
	if (x < 1.0f)
		return (float)(1.0 - (double)x);
	return 0.0f;
}

struct torch_axis {
	float scale, support, invscale;
};

static struct torch_axis
torch_axis(int n_in, int n_out)
{
	struct torch_axis t;

	/* area_pixel_compute_scale<float>: input_size / output_size */
	t.scale = (float)n_in / (float)n_out;
	/* (interp_size * 0.5) * scale with interp_size 2, stored as float */
	t.support = t.scale >= 1.0f ? (float)(1.0 * (double)t.scale) : 1.0f;
	t.invscale = t.scale >= 1.0f ? (float)(1.0 / (double)t.scale) : 1.0f;
	return t;
}

static void
torch_span(const struct torch_axis *t, int n_in, int o, int *start, int *len,
           float *center)
{
	long xmin, xmax;

	*center = (float)((double)t->scale * ((double)o + 0.5));
	xmin = (long)((double)(*center - t->support) + 0.5);
	if (xmin < 0)
		xmin = 0;
	xmax = (long)((double)(*center + t->support) + 0.5);
	if (xmax > n_in)
		xmax = n_in;
	*start = (int)xmin;
	*len = xmax > xmin ? (int)(xmax - xmin) : 0;
}

static void
torch_weights(const struct torch_axis *t, int n_in, int o, float *w)
{
	float center, total = 0.0f, arg;
	int start, len, j;

	torch_span(t, n_in, o, &start, &len, &center);
	for (j = 0; j < len; j++) {
		/* (j + xmin - center + 0.5) * invscale: int64 - float is a
		 * float subtraction, + 0.5 and * invscale are double. */
		arg = (float)(((double)((float)(j + start) - center) + 0.5) *
		              (double)t->invscale);
		w[j] = aa_filter(arg);
		total += w[j];
	}
	if (total != 0.0f)
		for (j = 0; j < len; j++)
			w[j] /= total;
}

int
prep_axis(struct prep_axis *a, int n_in, int n_out, enum prep_resize r,
          bool columns, struct err *e)
{
	struct torch_axis t = {0, 0, 0};
	float scale, inv = 0.0f, ks = 0.0f, center;
	int o, taps = 1;

	if (axis_alloc(a, n_out, e) == -1)
		return -1;
	a->n_in = n_in;
	a->n_out = n_out;
	if (r == PREP_RESIZE_TF) {
		scale = (float)n_out / (float)n_in;
		inv = (float)(1.0 / (double)scale);
		ks = inv > 1.0f ? inv : 1.0f;
	} else {
		t = torch_axis(n_in, n_out);
	}
	for (o = 0; o < n_out; o++) {
		if (r == PREP_RESIZE_TF)
			tf_span(n_in, inv, ks, o, &a->start[o], &a->len[o]);
		else
			torch_span(&t, n_in, o, &a->start[o], &a->len[o],
			           &center);
		if (a->len[o] > taps)
			taps = a->len[o];
	}
	a->taps = taps;
	if (weights_alloc(a, e) == -1)
		return -1;
	for (o = 0; o < n_out; o++) {
		if (r == PREP_RESIZE_TF)
			tf_weights(n_in, inv, ks, o, a->w + (size_t)o * taps);
		else
			torch_weights(&t, n_in, o, a->w + (size_t)o * taps);
	}
	if (!columns)
		return 0;
	pad_spans(a);
	if (group_spans(a, e) == -1)
		return -1;
	return direct_spans(a, e);
}
