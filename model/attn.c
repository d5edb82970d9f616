/* SPDX-License-Identifier: ISC */
/*
 * attn.c: scaled dot-product attention of one head (or one GQA group of
 * heads) as two matrix products, so the ViT and the decoder use the SIMD
 * kernels of kern.h for the bulk of the work (spec §2 step 4, §6.4):
 *
 *   S = Q·Kᵀ (kern_linear)  →  P = softmax(S / √hd) over the visible keys
 *   →  O = P·V (kern_linear against Vᵀ)
 *
 * Causal masking: row r sees keys [0, min(n, base + r % period + 1)); the
 * ViT passes base = n (everything visible), the decoder its past length and
 * the chunk size (rows of several heads are stacked, period rows each).
 * Masked probabilities are exactly 0, as the reference's additive finfo.min
 * mask gives after the softmax.
 *
 * Determinism: kern_linear computes each element in one thread in a fixed
 * order; the softmax splits rows over the pool, one row per thread.
 */
#include "config.h"

#include <math.h>

#include "model/model_impl.h"

struct softmax_job {
	float *s;
	int m, n, base, period;
	float scale;
};

static void
softmax_rows(void *arg, int ith, int nth)
{
	struct softmax_job *j = arg;
	int r, c, per = (j->m + nth - 1) / nth, lo = ith * per;
	int hi = lo + per < j->m ? lo + per : j->m;

	for (r = lo; r < hi; r++) {
		float *row = j->s + (size_t)r * j->n, mx = -INFINITY, sum = 0;
		int nv = j->base + r % j->period + 1;

		if (nv > j->n)
			nv = j->n;
		for (c = 0; c < nv; c++) {
			row[c] = row[c] / j->scale;
			if (row[c] > mx)
				mx = row[c];
		}
		for (c = 0; c < nv; c++) {
			row[c] = expf(row[c] - mx);
			sum += row[c];
		}
		for (c = 0; c < nv; c++)
			row[c] = row[c] / sum;
		for (c = nv; c < j->n; c++)
			row[c] = 0;
	}
}

void
attn_head(struct pool *p, float *out, const float *q, int m, const float *k,
          const float *vt, int n, int hd, int base, int period, float *s)
{
	struct kern_mat km = {k, KERN_F32, n, hd};
	struct kern_mat vm = {vt, KERN_F32, hd, n};
	struct softmax_job j = {s, m, n, base, period, sqrtf((float)hd)};

	kern_linear(p, s, q, m, &km, NULL);
	pool_run(p, softmax_rows, &j);
	kern_linear(p, out, s, m, &vm, NULL);
}
