/* SPDX-License-Identifier: ISC */
/*
 * prep2_impl.h: internals of the Molmo 2 preprocessor shared by prep2.c
 * (geometry, tables, scheduling, the portable reference loops) and
 * prep2_kern.c (the AVX-512 pixel kernels, built into libprep2_avx512.a),
 * and visible to white-box tests.
 */
#ifndef MODEL_PREP2_IMPL_H
#define MODEL_PREP2_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/prep2.h"

/* Bilinear taps of one output coordinate along one axis. */
struct prep2_axis {
	int32_t i0, i1; /* source taps */
	float l0, l1;   /* their weights */
};

/* Values (pixel channels) per vector of the AVX-512 resize, and the
 * window (bytes of one source row) all of a vector's taps must fall in. */
#define PREP2_XV  16
#define PREP2_WIN 128

/* The x taps of the values of one vector: idx[4k] / idx[4k + 1] is the
 * byte of the vector's window holding value k's left / right tap (a
 * vpermi2b / vpermb index vector: the other bytes are 0 and unused); l0[k] is
 * the left tap's weight, l1s[k] the right one's divided by 256 (the right tap
 * is picked into the second byte of a dword: 256 v). */
struct prep2_xvec {
	uint8_t idx[64];
	float l0[PREP2_XV], l1s[PREP2_XV];
};

/*
 * The x axis of one resize prepared for the AVX-512 kernel: the 3 n_px
 * values of an output row (pixel-interleaved RGB) in vectors of PREP2_XV,
 * their number rounded up to a multiple of 4 (the padding repeats the last
 * value).  Vector m reads the PREP2_WIN source bytes from base[m] on of a
 * source row; base[m] = -1 marks a vector whose taps span more than the
 * window (strong down-scales): the kernel computes it with
 * prep2_resize_ch().  When the taps of every vector with a window fall
 * in the first 64 bytes of it (no down-scale beyond about 3.5x), the
 * horizontal pass loads and permutes 64 bytes instead of 128 (narrow).
 */
struct prep2_xplan {
	int n_px;                 /* output pixels */
	int n_vec;                /* vectors, a multiple of 4 */
	bool narrow;              /* taps within 64 bytes of each base */
	int32_t *base;            /* [n_vec] */
	struct prep2_xvec *vec;   /* [n_vec], 64-byte aligned */
	size_t base_cap, vec_cap; /* vectors allocated */
};

/*
 * One thread's scratch for the AVX-512 resize: the horizontal pass of two
 * source rows (n_vec * PREP2_XV floats each, 64-byte aligned) and which
 * rows (of which plan) they hold; row -1: none.
 */
struct prep2_hrows {
	float *h[2];
	int32_t row[2];
	const struct prep2_xplan *xp;
};

/* Normalisation formulas the AVX-512 patch emitter can use, cheapest
 * first; prep2_new() takes the first that gives the float32 table's bits
 * for all 256 values of every channel (prep2_kern_norm_pick_avx512). */
enum prep2_norm_kind {
	PREP2_NORM_NONE = 0,   /* none matched: emit with the table */
	PREP2_NORM_FMA,        /* fma(x, a, b) */
	PREP2_NORM_MUL_FMA,    /* q = x * (1/255); fma(q, rstd, c) */
	PREP2_NORM_MUL2_FMA,   /* q = fma(x, zh, x * zl) (x / 255 in two
	                          parts); fma(q, rstd, c) */
	PREP2_NORM_NEWTON_FMA, /* q = x / 255 (multiply + Newton step);
	                          fma(q, rstd, c) */
	PREP2_NORM_DIV         /* (q - mean) / std, the division again as
	                          multiply + Newton step */
};

/* Constants of the normalisation, per output lane for the three channel
 * phases: lane l of phase ph has channel (ph + l) % 3. */
struct prep2_norm {
	enum prep2_norm_kind kind;
	float a[3][16];    /* 1 / (255 std), rounded once */
	float b[3][16];    /* -mean / std, rounded once */
	float c[3][16];    /* -mean / std in float32 */
	float mean[3][16]; /* mean */
	float std[3][16];  /* std */
	float rstd[3][16]; /* 1 / std in float32 */
	float zh, zl;      /* 1 / 255 rounded, and the rest rounded */
};

struct prep2 {
	struct prep2_config cfg;
	float lut[3][256];      /* normalised value of each u8, per channel */
	double u8d[256];        /* (double)v: a load instead of a conversion */
	bool avx512;            /* use the AVX-512 kernels (CPU has them) */
	struct prep2_norm norm; /* for the AVX-512 emitter */

	uint8_t *tiled;        /* [tiled_h, tiled_w, 3] */
	size_t tiled_cap;      /* bytes */
	uint8_t *global;       /* [crop, crop, 3] */
	float *pixels;         /* [n_crops, n_patches, patch_dim], 64-aligned */
	size_t pixels_cap;     /* floats */
	int32_t *pooling;      /* [n_tokens, pool_size] */
	size_t pooling_cap;    /* ints */
	int32_t *grid;         /* [grid_h, grid_w] */
	size_t grid_cap;       /* ints */
	struct prep2_axis *ax; /* tiled x, tiled y, global x, global y */
	size_t ax_cap;         /* entries */
	struct prep2_xplan xt, xg; /* tiled and global x, AVX-512 */
	float *hbuf;               /* AVX-512: prep2_hrows rows per thread */
	size_t hbuf_cap;           /* floats */
	/* What ax, xt, xg, grid and pooling were last built for: they depend
	 * only on the image size and the tiling (and xt, xg exist only with
	 * avx512), so a run of the same geometry reuses them.  geo_w is 0
	 * when they are not complete. */
	int geo_w, geo_h, geo_rows, geo_cols;
	bool geo_avx512;
};

/* Tests only: run the portable loops (true) or the CPU's best (false). */
void prep2_force_portable(struct prep2 *p, bool portable);

/*
 * Channel ch of one output pixel of a resize: the four float32 tap weights
 * ly * lx, the four products summed in float64 in the order (y0,x0)
 * (y0,x1) (y1,x0) (y1,x1), rounded to float32, then half-to-even to uint8
 * (adding and subtracting 2^23 leaves no fraction bits; built without
 * -ffast-math).  Weights and pixels are non-negative, so only the top needs
 * a clamp.  r0, r1: the two source rows; u8d[v] == v.
 */
static inline uint8_t
prep2_resize_ch(const uint8_t *r0, const uint8_t *r1, float ly0, float ly1,
                const struct prep2_axis *a, const double *u8d, int ch)
{
	double w00 = (double)(ly0 * a->l0), w01 = (double)(ly0 * a->l1);
	double w10 = (double)(ly1 * a->l0), w11 = (double)(ly1 * a->l1);
	size_t x0 = (size_t)a->i0 * 3 + (size_t)ch;
	size_t x1 = (size_t)a->i1 * 3 + (size_t)ch;
	double s = w00 * u8d[r0[x0]];
	int v;

	s += w01 * u8d[r0[x1]];
	s += w10 * u8d[r1[x0]];
	s += w11 * u8d[r1[x1]];
	v = (int)(((float)s + 8388608.0f) - 8388608.0f);
	return (uint8_t)(v > 255 ? 255 : v);
}

/* One output pixel of a resize (prep2_resize_ch for each channel) into
 * d[0..2]. */
static inline void
prep2_resize_px(const uint8_t *r0, const uint8_t *r1, float ly0, float ly1,
                const struct prep2_axis *a, const double *u8d, uint8_t *d)
{
	for (int ch = 0; ch < 3; ch++)
		d[ch] = prep2_resize_ch(r0, r1, ly0, ly1, a, u8d, ch);
}

/* ---- AVX-512 kernels (prep2_kern.c; need avx512f, bw, dq, vl, vbmi) ---- */

/*
 * Rows ay[0..n_rows-1] of a resize of img with the x plan xp (x taps ax for
 * the vectors the plan leaves to prep2_resize_ch) into dst, row r at
 * dst + r * dst_stride (nothing past a row's 3 * xp->n_px bytes is
 * written).  hr: this
 * thread's scratch, kept from call to call (its rows are reused while xp
 * is the same plan of the same image; set hr->xp to NULL for a new image).
 * Bit-identical to prep2_resize_ch on every value.
 */
void prep2_kern_resize_avx512(const struct model_image *img,
                              const struct prep2_xplan *xp,
                              const struct prep2_axis *ax,
                              const struct prep2_axis *ay, int n_rows,
                              const double *u8d, uint8_t *dst,
                              size_t dst_stride, struct prep2_hrows *hr);

/* Most floats of one patch (P * P * 3) the AVX-512 emitter takes. */
#define PREP2_STAGE 2048

/*
 * One patch row of one crop: the cp patches of P x P pixels whose top-left
 * pixels are src + pc * P * 3 (rows stride bytes apart), normalised with nm
 * (kind != NONE, P * P * 3 <= PREP2_STAGE) into the cp * P * P * 3 floats
 * at dst, in the patch layout (patch, row, col, rgb).  dst must be
 * float-aligned inside a 64-byte-aligned buffer (the whole 64 bytes around
 * dst's first and last float belong to it).  Whole cache lines are written
 * with non-temporal stores: call prep2_kern_fence_avx512() before the data
 * is handed to another thread.
 */
void prep2_kern_emit_avx512(const uint8_t *src, size_t stride, int P, int cp,
                            const struct prep2_norm *nm, float *dst);

/* Store fence after non-temporal stores. */
void prep2_kern_fence_avx512(void);

/* Fill nm with the cheapest formula that reproduces lut (the reference
 * float32 values) for all 256 x 3 inputs, else kind NONE. */
void prep2_kern_norm_pick_avx512(const struct prep2_config *cfg,
                                 const float lut[3][256],
                                 struct prep2_norm *nm);

#endif
