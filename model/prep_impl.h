/* SPDX-License-Identifier: ISC */
/*
 * prep_impl.h: internals of the preprocessor shared by prep.c (geometry,
 * crops, indices) and prep_resize.c (the two resize kernels), and visible to
 * white-box tests.
 */
#ifndef MODEL_PREP_IMPL_H
#define MODEL_PREP_IMPL_H

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
	float *content; /* [h][w][3], clipped and normalised */
	size_t content_cap;
};

struct prep {
	struct prep_config cfg;
	const struct prep_kern *kern; /* pixel loops for this CPU */
	float pad[3];                 /* normalised value of a padding pixel */
	float padrow[PREP_MAX_PATCH * 3]; /* a row of padding pixels */
	float *scratch;     /* per thread: one row of img->w * 3 + 1 floats */
	size_t scratch_cap; /* floats */
	size_t scratch_row; /* floats per thread */
	int ring_rows;      /* TF: converted input rows cached per thread */
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
 * The resize passes (prep_kern.c).  scratch is the calling thread's buffer:
 * a row of img->w * 3 + 1 floats, then (TF) p->ring_rows more such rows.
 * tf_rows:    content rows [lo, hi) of view v, rows then columns, clipped
 *             and normalised.
 * torch_cols: input rows [lo, hi) resampled along x into the tmp buffers of
 *             both views ([H_in][w][3] each).
 * torch_rows: content rows [lo, hi) of view v from its tmp, clipped and
 *             normalised.
 * Each exists as prep_kern_NAME (SSE2) and prep_kern_NAME_avx2.
 */
typedef void prep_tf_rows_fn(const struct prep *p, struct prep_view *v,
                             const struct model_image *img, float *scratch,
                             int lo, int hi);
typedef void prep_torch_cols_fn(const struct prep *p,
                                const struct model_image *img, float *scratch,
                                int lo, int hi);
typedef void prep_torch_rows_fn(const struct prep *p, struct prep_view *v,
                                int lo, int hi);

struct prep_kern {
	const char *name;
	prep_tf_rows_fn *tf_rows;
	prep_torch_cols_fn *torch_cols;
	prep_torch_rows_fn *torch_rows;
};

prep_tf_rows_fn prep_kern_tf_rows, prep_kern_tf_rows_avx2;
prep_torch_cols_fn prep_kern_torch_cols, prep_kern_torch_cols_avx2;
prep_torch_rows_fn prep_kern_torch_rows, prep_kern_torch_rows_avx2;

/* The two kernel sets (prep.c); prep_new picks avx2 when the CPU has it. */
extern const struct prep_kern prep_kern_base, prep_kern_avx2;

#endif
