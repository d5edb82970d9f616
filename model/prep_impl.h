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

#define PREP_MAX_SIDE 65536 /* pixels; image/ limits are far lower */
/* Bytes: the largest TF ring of converted input rows per thread (a longer
 * span reads the uint8 input instead). */
#define PREP_RING_BYTES (8u << 20)
#define PREP_MAX_PATCH  64 /* largest patch side prep_config_check allows */

/* Resampling weights along one axis: output o reads len[o] source samples
 * from start[o] on, with weights w[o * taps ...]. */
struct prep_axis {
	int n_in, n_out;
	int taps;   /* row length of w: the longest span */
	int *start; /* [n_out] */
	int *len;   /* [n_out] */
	float *w;   /* [n_out * taps] */
	/* Column axes only (prep_axis with columns): the same spans padded
	 * with zero weights to exactly taps samples (pstart[o] + taps <=
	 * n_in).  Adding 0 * v to a sum of non-negative
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
	/* And for the direct AVX-512 horizontal kernel, which computes up to
	 * 16 output values a vector (value q is channel q % 3 of output q /
	 * 3): group g = hn[g] values from hq0[g] on.  At tap k lane l reads
	 * window[hidx[(g * taps + k) * 16 + l]], window being the hwin (32 or
	 * 64) floats from hbase[g] * 3 on, with weight hw[(g * taps + k) * 16
	 * + l] (lanes past hn[g] repeat the last value).  hwin is 0 when
	 * neither window size gives long enough groups (then the grouped
	 * kernel above runs).  hidx and hw are 64-byte aligned. */
	int hwin;
	int hgroups;
	int *hbase;    /* [hgroups], then hq0 and hn in the same block */
	int *hq0, *hn; /* [hgroups] */
	int32_t *hidx; /* [hgroups * taps * 16] */
	float *hw;     /* [hgroups * taps * 16] */
	size_t hcap;   /* groups capacity of hbase */
	size_t hwcap;  /* capacity of hw */
};

/* One resize-and-pad target (the global view or the high-res canvas). */
struct prep_view {
	int th, tw;            /* canvas size */
	int h, w;              /* resized content size */
	int top, left;         /* letterbox offsets */
	struct prep_axis ax_y; /* rows: H_in -> h */
	struct prep_axis ax_x; /* columns: W_in -> w */
};

struct prep {
	struct prep_config cfg;
	const struct prep_kern *kern; /* pixel loops for this CPU */
	float pad[3];                 /* normalised value of a padding pixel */
	float padrow[PREP_MAX_PATCH * 3]; /* a row of padding pixels */
	/* Normalise with a multiply and two FMA corrections instead of a
	 * division (prep_norm_exact: checked exact for these constants) */
	bool fast_norm;
	float inv_std[3]; /* 1 / std, correctly rounded */
	/* mean, std and inv_std of value i % 3, i < 48: three vectors
	 * whose lane l is channel (k + l) % 3 for k = 0, 1, 2 */
	float fin_mean[48], fin_std[48], fin_inv[48];
	bool stream;     /* emit with non-temporal stores where it can */
	bool vbmi;       /* the CPU has AVX512_VBMI (byte permutes) */
	size_t ring_max; /* bytes: largest TF ring per thread */
	/* Per thread scratch (scratch_row floats each), laid out as:
	 *   rows     two rows of img->w * 3 + 1 floats (the second at
	 *            row1_off): rows between the two passes
	 *   ring     ring_slots rows of ring_stride floats: TF, converted
	 *            input rows (none when ring_slots is 0); torch, each
	 *            view's input rows resampled along x (global then hires,
	 *            ring_slots each)
	 *   bands    one band (patch rows of the canvas) per view
	 *   xrows    torch with AVX-512: 16 input rows transposed (0 when
	 *            unused) */
	float *scratch;
	size_t scratch_cap;
	size_t scratch_row;
	int ring_slots;
	size_t ring_off, ring_stride, ring_stride_g; /* floats */
	size_t band_off[2];                          /* global, hires */
	size_t band_stride; /* floats per band row: widest canvas * 3 */
	size_t xrows_off;
	size_t row1_off;  /* a second row between the passes (tf_row2) */
	float *padcanvas; /* a canvas row of padding pixels (widest) */
	size_t padcanvas_cap;
	struct prep_view global, hires;
	int rows, cols, n_crops, n_image_tokens;
	/* the bands of both views, ordered by the first input row they need */
	int *order;
	double *cost;
	size_t order_cap, cost_cap;
	/* per thread: room for the row pointers of the longest span */
	const float **ptrs;
	size_t ptrs_cap;
	int ptrs_per_thread;
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

/* Compute the weights for resizing n_in samples to n_out with flavour r
 * (start, len, w, taps); with columns also the padded spans and the group
 * tables that only the horizontal kernels read. */
int prep_axis(struct prep_axis *a, int n_in, int n_out, enum prep_resize r,
              bool columns, struct err *e);

/*
 * The pixel loops (prep_kern.c).  prep.c walks the content rows of both
 * views in input order and keeps a per-thread ring of input rows ready for
 * the second pass (see struct prep); the kernels compute rows.
 * tf_in:     input row y converted to float as TF does, into dst
 *            (img->w * 3 floats).
 * tf_row:    content row y of view v, rows then columns, clipped and
 *            normalised into out (v->w * 3 floats).  rows[k] (k <
 *            ax_y.len[y]) are the converted input rows of its span, or NULL
 *            to read the uint8 input directly.  scratch: img->w * 3 + 1
 *            floats.
 * tf_row2:   content rows y and y + 1 of view v like tf_row from the
 *            uint8 input, into out0 and out1; scratch also holds a second
 *            row at p->row1_off.  NULL where the kernel set has none.
 * torch_in:  input rows [y, y + n) resampled along x into g[i] (global
 *            view, global.w * 3 floats) and h[i] (high-res, hires.w * 3);
 *            n is 16 with AVX-512 when p->xrows_off != 0 (16 rows at a
 *            time, transposed, through the room at p->xrows_off), else 1.
 *            scratch as for tf_row.
 * torch_row: content row y of view v from the resampled rows rows[k] of
 *            its span, clipped and normalised into out.
 * emit:      one patch row of a crop (cp patches of ps x ps pixels) from ps
 *            canvas rows (rows[dy] + x0 floats is the crop's left edge)
 *            into dst; stream asks for non-temporal stores, after which
 *            the thread calls fence before its work counts as done.
 * Each exists as prep_kern_NAME (SSE2), prep_kern_NAME_avx2 and
 * prep_kern_NAME_avx512.
 */
typedef void prep_tf_in_fn(float *restrict dst, const uint8_t *restrict src,
                           size_t n);
typedef void prep_tf_row_fn(const struct prep *p, const struct prep_view *v,
                            const struct model_image *img,
                            const float *const *rows, int y, float *scratch,
                            float *out);
typedef void prep_tf_row2_fn(const struct prep *p, const struct prep_view *v,
                             const struct model_image *img, int y,
                             float *scratch, float *out0, float *out1);
typedef void prep_torch_in_fn(const struct prep *p,
                              const struct model_image *img, int y, int n,
                              float *const *g, float *const *h, float *scratch);
typedef void prep_torch_row_fn(const struct prep *p, const struct prep_view *v,
                               const float *const *rows, int y, float *out);
typedef void prep_emit_fn(float *restrict dst, const float *const *rows,
                          size_t x0, int ps, int cp, bool stream);
typedef void prep_fence_fn(void);

struct prep_kern {
	const char *name;
	prep_tf_in_fn *tf_in;
	prep_tf_row_fn *tf_row;
	prep_tf_row2_fn *tf_row2;
	prep_torch_in_fn *torch_in;
	prep_torch_row_fn *torch_row;
	prep_emit_fn *emit;
	prep_fence_fn *fence;
	int torch_block; /* rows torch_in takes at once: 1 or 16 */
	/* TF: keep converted input rows in a ring (else the vertical pass
	 * converts the uint8 rows it reads, faster where the conversion is
	 * a few vector operations and the ring's traffic is not) */
	bool tf_ring;
};

prep_tf_in_fn prep_kern_tf_in, prep_kern_tf_in_avx2, prep_kern_tf_in_avx512;
prep_tf_row_fn prep_kern_tf_row, prep_kern_tf_row_avx2, prep_kern_tf_row_avx512;
prep_tf_row2_fn prep_kern_tf_row2_avx512;
prep_torch_in_fn prep_kern_torch_in, prep_kern_torch_in_avx2,
    prep_kern_torch_in_avx512;
prep_torch_row_fn prep_kern_torch_row, prep_kern_torch_row_avx2,
    prep_kern_torch_row_avx512;
prep_emit_fn prep_kern_emit, prep_kern_emit_avx2, prep_kern_emit_avx512;
prep_fence_fn prep_kern_fence, prep_kern_fence_avx2, prep_kern_fence_avx512;

/* The kernel sets (prep.c); prep_new picks the widest the CPU has. */
extern const struct prep_kern prep_kern_base, prep_kern_avx2, prep_kern_avx512;

/* Is (v - mean) / std, for every float v in [0, 1], equal to q' = fma(r,
 * inv, q) with q = (v - mean) * inv, r = fma(-q, std, v - mean), inv =
 * 1 / std?  True for the constants in prep_norm_checked[] (the CLIP ones),
 * which test_model_prep verifies for all 1,065,353,217 such v. */
bool prep_norm_exact(float mean, float std);
extern const float prep_norm_checked[][2];
extern const int prep_norm_n_checked;

#endif
