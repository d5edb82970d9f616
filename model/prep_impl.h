/* SPDX-License-Identifier: ISC */
/*
 * prep_impl.h: internals of the preprocessor shared by prep.c (geometry,
 * crops, indices) and prep_resize.c (the two resize kernels), and visible to
 * white-box tests.
 */
#ifndef MODEL_PREP_IMPL_H
#define MODEL_PREP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/prep.h"

#define PREP_MAX_SIDE  65536 /* pixels; image/ limits are far lower */
#define PREP_RING_MAX  16    /* most converted input rows cached per thread */
#define PREP_MAX_PATCH 64    /* largest patch side prep_config_check allows */

/* Resampling weights along one axis: output o reads len[o] source samples
 * from start[o] on, with weights w[o * taps ...]. */
struct prep_axis {
	int n_in, n_out;
	int taps;   /* row length of w: the longest span */
	int *start; /* [n_out] */
	int *len;   /* [n_out] */
	float *w;   /* [n_out * taps] */
	/* The same spans padded with zero weights to exactly taps samples
	 * (pstart[o] + taps <= n_in).  Adding 0 * v to a sum of non-negative
	 * terms changes nothing, so the padded form gives the same bits and
	 * lets the horizontal kernel run a fixed number of taps. */
	int *pstart; /* [n_out] */
	float *pw;   /* [n_out * taps] */
	size_t cap;  /* n_out capacity of start/len/pstart */
	size_t wcap; /* capacity of w and pw */
	/* The padded spans again for the AVX-512 horizontal kernel, which
	 * computes zg (4 or 3) outputs at once (lane l: channel l / 4 of
	 * output l % 4, channel 3 a spare).  Group g = outputs zg * g ..
	 * zg * g + zg - 1 (the last one repeated past zg or n_out); at tap k
	 * lane l reads window[zidx[g * 16 + l]], window being the zwin floats
	 * from (zbase[g] + k) * 3 on, with weight zw[(g * taps + k) * 4 + l %
	 * 4].  zwin is 32 or 64, or 1: the 32 floats from zbase[g] * 3 on hold
	 * every tap (lane l reads window[zidx[g * 16 + l] + 3 * k]), or 0 when
	 * a group's outputs lie too far apart (that axis uses the portable
	 * kernel). */
	int zwin;
	int zg;
	int *zbase;    /* [groups] */
	int32_t *zidx; /* [groups * 16] */
	float *zw;     /* [groups * taps * 4] */
	size_t zcap;   /* groups capacity of zbase and zidx */
	size_t zwcap;  /* capacity of zw */
};

/* One resize-and-pad target (the global view or the high-res canvas). */
struct prep_view {
	int th, tw;            /* canvas size */
	int h, w;              /* resized content size */
	int top, left;         /* letterbox offsets */
	struct prep_axis ax_y; /* rows: H_in -> h */
	struct prep_axis ax_x; /* columns: W_in -> w */
	float *tmp;            /* torch: columns resampled, [H_in][w][3] */
	size_t tmp_cap;
};

struct prep {
	struct prep_config cfg;
	const struct prep_kern *kern; /* pixel loops for this CPU */
	float pad[3];                 /* normalised value of a padding pixel */
	float padrow[PREP_MAX_PATCH * 3]; /* a row of padding pixels */
	float *scratch;     /* per thread: see prep_tf_rows_fn, then a band */
	size_t scratch_cap; /* floats */
	size_t scratch_row; /* floats per thread */
	size_t band_off;    /* offset of the band in a thread's part */
	size_t band_stride; /* floats per band row: widest canvas * 3 */
	float *padcanvas;   /* a canvas row of padding pixels (widest) */
	bool stream;        /* emit with non-temporal stores where it can */
	size_t padcanvas_cap;
	int ring_rows; /* TF: converted input rows cached per thread */
	/* torch with AVX-512: offset in a thread's part of room for 16 input
	 * rows transposed (img->w * 3 * 16 floats) and then 16 rows of a
	 * view's column pass; 0 when the column pass goes row by row */
	size_t xrows_off;
	struct prep_view global, hires;
	int rows, cols, n_crops, n_image_tokens;
	float *images;
	size_t images_cap;
	float *masks;
	size_t masks_cap;
	int32_t *input_idx;
	size_t idx_cap;
	uint8_t *layout;
	size_t layout_cap;
};

void prep_select_tiling(int h, int w, int win, int max_crops, int *rows,
                        int *cols);
void prep_fit(int h, int w, int th, int tw, int *oh, int *ow);

/* Compute the weights for resizing n_in samples to n_out with flavour r. */
int prep_axis(struct prep_axis *a, int n_in, int n_out, enum prep_resize r,
              struct err *e);

/*
 * The pixel loops (prep_kern.c).  scratch is the calling thread's buffer:
 * a row of img->w * 3 + 1 floats, then (TF) p->ring_rows more such rows.
 * tf_rows:    content rows [lo, hi) of view v, rows then columns, clipped
 *             and normalised, row y written to out + (y - lo) * stride
 *             (v->w * 3 floats).  tag (PREP_RING_MAX ints, all -1 before a
 *             thread's first call for a view) tracks which input rows the
 *             ring holds across calls.
 * torch_cols: input rows [lo, hi) resampled along x into the tmp buffers of
 *             both views ([H_in][w][3] each); the AVX-512 set takes 16
 *             rows at a time through the room at p->xrows_off.
 * torch_rows: content rows [lo, hi) of view v from its tmp, clipped and
 *             normalised, written as by tf_rows.
 * emit:       one patch row of a crop (cp patches of ps x ps pixels) from ps
 *             canvas rows (rows[dy] + x0 floats is the crop's left edge)
 *             into dst; stream asks for non-temporal stores, after which
 *             the thread calls fence before its work counts as done.
 * Each exists as prep_kern_NAME (SSE2), prep_kern_NAME_avx2 and
 * prep_kern_NAME_avx512.
 */
typedef void prep_tf_rows_fn(const struct prep *p, const struct prep_view *v,
                             const struct model_image *img, float *scratch,
                             int *tag, int lo, int hi, float *out,
                             size_t stride);
typedef void prep_torch_cols_fn(const struct prep *p,
                                const struct model_image *img, float *scratch,
                                int lo, int hi);
typedef void prep_torch_rows_fn(const struct prep *p, const struct prep_view *v,
                                int lo, int hi, float *out, size_t stride);
typedef void prep_emit_fn(float *restrict dst, const float *const *rows,
                          size_t x0, int ps, int cp, bool stream);
typedef void prep_fence_fn(void);

struct prep_kern {
	const char *name;
	prep_tf_rows_fn *tf_rows;
	prep_torch_cols_fn *torch_cols;
	prep_torch_rows_fn *torch_rows;
	prep_emit_fn *emit;
	prep_fence_fn *fence;
};

prep_tf_rows_fn prep_kern_tf_rows, prep_kern_tf_rows_avx2,
    prep_kern_tf_rows_avx512;
prep_torch_cols_fn prep_kern_torch_cols, prep_kern_torch_cols_avx2,
    prep_kern_torch_cols_avx512;
prep_torch_rows_fn prep_kern_torch_rows, prep_kern_torch_rows_avx2,
    prep_kern_torch_rows_avx512;
prep_emit_fn prep_kern_emit, prep_kern_emit_avx2, prep_kern_emit_avx512;
prep_fence_fn prep_kern_fence, prep_kern_fence_avx2, prep_kern_fence_avx512;

/* The kernel sets (prep.c); prep_new picks the widest the CPU has. */
extern const struct prep_kern prep_kern_base, prep_kern_avx2, prep_kern_avx512;

#endif
