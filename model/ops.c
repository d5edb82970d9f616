/* SPDX-License-Identifier: ISC */
/* ops.c: LayerNorm, RMSNorm and rotary embeddings shared by vit*.c, lm*.c
 * and point2.c. */
#include "config.h"

#include <math.h>
#include <stddef.h>

#include "model/ops.h"

void
ops_layer_norm(float *y, const float *x, int n, int d, const float *w,
               const float *b, float eps)
{
	int i, j;

	for (i = 0; i < n; i++) {
		const float *xi = x + (size_t)i * d;
		float *yi = y + (size_t)i * d;
		double mu = 0, var = 0;
		float fmu, r;

		for (j = 0; j < d; j++)
			mu += xi[j];
		mu /= d;
		for (j = 0; j < d; j++)
			var += (xi[j] - mu) * (xi[j] - mu);
		var /= d;
		fmu = (float)mu;
		r = (float)(1.0 / sqrt(var + (double)eps));
		for (j = 0; j < d; j++)
			yi[j] = (xi[j] - fmu) * r * w[j] + b[j];
	}
}

void
ops_rms_norm(float *y, const float *x, int n, int d, const float *w, float eps)
{
	int i, j;

	for (i = 0; i < n; i++) {
		const float *xi = x + (size_t)i * d;
		float *yi = y + (size_t)i * d;
		double ss = 0;
		float r;

		for (j = 0; j < d; j++)
			ss += (double)xi[j] * xi[j];
		r = (float)(1.0 / sqrt(ss / d + (double)eps));
		for (j = 0; j < d; j++)
			yi[j] = w[j] * (xi[j] * r);
	}
}

void
ops_rope_table(float *cos_t, float *sin_t, int n_ctx, int hd, double theta)
{
	int half = hd / 2, p, i;

	for (i = 0; i < half; i++) {
		/* inv_freq = 1 / θ^(2i/hd), fp32 as torch computes it */
		float ex = (float)(2 * i) / (float)hd;
		float inv = 1.0f / powf((float)theta, ex);

		for (p = 0; p < n_ctx; p++) {
			float ang = (float)p * inv;

			cos_t[(size_t)p * half + i] = cosf(ang);
			sin_t[(size_t)p * half + i] = sinf(ang);
		}
	}
}

void
ops_rope(float *x, int n_heads, int hd, const float *cs, const float *sn)
{
	int h, i, half = hd / 2;

	for (h = 0; h < n_heads; h++) {
		float *v = x + (size_t)h * hd;

		for (i = 0; i < half; i++) {
			float a = v[i], b = v[i + half];

			v[i] = a * cs[i] - b * sn[i];
			v[i + half] = b * cs[i] + a * sn[i];
		}
	}
}
