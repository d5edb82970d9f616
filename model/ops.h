/* SPDX-License-Identifier: ISC */
/*
 * ops.h: the small per-row operations both model families share: LayerNorm,
 * RMSNorm and rotary position embeddings.  Pure functions over fp32 rows;
 * any thread.  Reductions run in double, so results stay within a few ulps
 * of the exact value and are the same for every caller.
 */
#ifndef MODEL_OPS_H
#define MODEL_OPS_H

/* LayerNorm over the last dimension of x [n][d] into y (may alias x):
 * y = (x - mean) * rsqrt(var + eps) * w + b. */
void ops_layer_norm(float *y, const float *x, int n, int d, const float *w,
                    const float *b, float eps);
/* RMSNorm of x [n][d] into y (may alias x): y = w * (x * rsqrt(mean(x²) +
 * eps)). */
void ops_rms_norm(float *y, const float *x, int n, int d, const float *w,
                  float eps);
/* The rotary tables [n_ctx][hd / 2]: angle p / θ^(2i / hd), computed in
 * fp32 as torch computes it. */
void ops_rope_table(float *cos_t, float *sin_t, int n_ctx, int hd,
                    double theta);
/* x' = x·cos + rotate_half(x)·sin (the non-interleaved form) on n_heads
 * heads of hd values each; cs, sn are one position's table rows. */
void ops_rope(float *x, int n_heads, int hd, const float *cs, const float *sn);

#endif
