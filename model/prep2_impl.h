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

/* Output pixels per group of the AVX-512 resize, and the window (bytes of
 * one source row) all of a group's taps must fall in. */
#define PREP2_XG  8
#define PREP2_WIN 128

/*
 * The x axis of one resize prepared for the AVX-512 kernel: output pixels
 * in groups of PREP2_XG (the last one padded with its last pixel).  Group
 * g reads the PREP2_WIN source bytes from base[g] on of each source row;
 * idx[g * 384 + (tap * 3 + ch) * 64 + k * 8] is the byte of that window
 * holding channel ch of tap tap (0: i0, 1: i1) of pixel 8g + k (a vpermi2b
 * index vector: the other bytes are 0 and unused).  base[g] = -1
 * marks a group whose taps span more than the window (strong
 * down-scales): the kernel computes it with prep2_resize_px().
 */
struct prep2_xplan {
	int n_px;      /* output pixels */
	int n_groups;  /* ceil(n_px / PREP2_XG) */
	int32_t *base; /* [n_groups] */
	uint8_t *idx;  /* [n_groups * 384], 64-byte aligned */
	float *lx;     /* [n_groups * 16]: l0 of the 8 pixels, then l1 */
	size_t base_cap, idx_cap, lx_cap; /* groups allocated */
};

/* Normalisation formulas the AVX-512 patch emitter can use, cheapest
 * first; prep2_new() takes the first that gives the float32 table's bits
 * for all 256 values of every channel (prep2_kern_norm_pick_avx512). */
enum prep2_norm_kind {
	PREP2_NORM_NONE = 0,   /* none matched: emit with the table */
	PREP2_NORM_FMA,        /* fma(x, a, b) */
	PREP2_NORM_MUL_FMA,    /* q = x * (1/255); fma(q, rstd, c) */
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
};

/* Tests only: run the portable loops (true) or the CPU's best (false). */
void prep2_force_portable(struct prep2 *p, bool portable);

/*
 * One output pixel of a resize: per channel the four float32 tap weights
 * ly * lx, the four products summed in float64 in the order (y0,x0) (y0,x1)
 * (y1,x0) (y1,x1), rounded to float32, then half-to-even to uint8 (adding
 * and subtracting 2^23 leaves no fraction bits; built without
 * -ffast-math).  Weights and pixels are non-negative, so only the top needs
 * a clamp.  r0, r1: the two source rows; u8d[v] == v.
 */
static inline void
prep2_resize_px(const uint8_t *r0, const uint8_t *r1, float ly0, float ly1,
                const struct prep2_axis *a, const double *u8d, uint8_t *d)
{
	double w00 = (double)(ly0 * a->l0), w01 = (double)(ly0 * a->l1);
	double w10 = (double)(ly1 * a->l0), w11 = (double)(ly1 * a->l1);
	const uint8_t *p00 = r0 + (size_t)a->i0 * 3;
	const uint8_t *p01 = r0 + (size_t)a->i1 * 3;
	const uint8_t *p10 = r1 + (size_t)a->i0 * 3;
	const uint8_t *p11 = r1 + (size_t)a->i1 * 3;

	for (int ch = 0; ch < 3; ch++) {
		double s = w00 * u8d[p00[ch]];
		int v;

		s += w01 * u8d[p01[ch]];
		s += w10 * u8d[p10[ch]];
		s += w11 * u8d[p11[ch]];
		v = (int)(((float)s + 8388608.0f) - 8388608.0f);
		d[ch] = (uint8_t)(v > 255 ? 255 : v);
	}
}

/* ---- AVX-512 kernels (prep2_kern.c; need avx512f, bw, dq, vl, vbmi) ---- */

/*
 * Rows ay[0..n_rows-1] of a resize of img with the x plan xp (x taps ax for
 * the groups the plan leaves to prep2_resize_px) into dst, row r at
 * dst + r * dst_stride.  Bit-identical to prep2_resize_px on every pixel.
 */
void prep2_kern_resize_avx512(const struct model_image *img,
                              const struct prep2_xplan *xp,
                              const struct prep2_axis *ax,
                              const struct prep2_axis *ay, int n_rows,
                              const double *u8d, uint8_t *dst,
                              size_t dst_stride);

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
