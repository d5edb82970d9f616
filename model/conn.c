/* SPDX-License-Identifier: ISC */
/*
 * conn.c: the connector between the ViT and the decoder (spec molmo-v1.md
 * §3; HF modeling_molmo.py OLMoVisionBackbone.forward).
 *
 * For one crop: add the padding embeddings chosen by the crop's mask row
 * (pad_and_partial_pad), gather the 24x24 patch grid into 12x12 windows of
 * 2x2 patches, pool each window by attention whose query is the window mean
 * (attention-meanq, 4 keys), then apply the SwiGLU projector.  The mask rows
 * are shifted by one crop in the reference (spec §4.7); the caller passes
 * them as the processor produced them, and that quirk is reproduced simply
 * by using row t for crop t.
 *
 * No allocation; buffers are the session's.  Matrix products split over the
 * pool; the 4-key attention is small and runs in the caller.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "model/model_impl.h"

/*
 * Pooled window attention: for each cell and head, softmax over the 4 keys
 * of q·k/sqrt(hd), then the weighted sum of the 4 values (spec §3.4).
 */
static void
pool_attention(struct model_session *s, int n_cell, int win)
{
	const struct hparams_vit *v = &s->m->hp.vit;
	int hd = v->head_dim, d = v->d, c, h, j, t;
	float scale = sqrtf((float)hd), sc[16], mx, sum;

	for (c = 0; c < n_cell; c++) {
		for (h = 0; h < v->n_heads; h++) {
			const float *q = s->pq + (size_t)c * d + h * hd;
			float *out = s->pa + (size_t)c * d + h * hd;

			mx = -INFINITY;
			for (j = 0; j < win; j++) {
				const float *k =
				    s->pk + ((size_t)c * win + j) * d + h * hd;

				sc[j] = kern_dot_f32(q, k, (size_t)hd) / scale;
				if (sc[j] > mx)
					mx = sc[j];
			}
			sum = 0;
			for (j = 0; j < win; j++) {
				sc[j] = expf(sc[j] - mx);
				sum += sc[j];
			}
			for (t = 0; t < hd; t++)
				out[t] = 0;
			for (j = 0; j < win; j++) {
				const float *vv =
				    s->pv + ((size_t)c * win + j) * d + h * hd;
				float p = sc[j] / sum;

				for (t = 0; t < hd; t++)
					out[t] += p * vv[t];
			}
		}
	}
}

void
conn_crop(struct model_session *s, const float *mask, int crop)
{
	const struct model *m = s->m;
	const struct weights *w = &m->w;
	int fd = m->feat_dim, side = m->n_side, ph = m->hp.pool_h;
	int pw = m->hp.pool_w, win = ph * pw, cs = side / pw, i, j, r, c;
	int n_cell = m->n_cell, pd = m->hp.proj_dim, dy, dx;
	const float *feat = s->feats + (size_t)crop * m->n_patch * fd;
	float *pooled = s->pooled + (size_t)crop * n_cell * m->hp.vit.d;
	float *out = s->conn + (size_t)crop * n_cell * m->hp.d_model;

	/* cells[(cell, k)] = feat[patch] + pad_embed[row by mask] (§3.1-3.3);
	 * window (r, c) takes patches (ph r + dy, pw c + dx), dy outer. */
	for (r = 0; r < side / ph; r++) {
		for (c = 0; c < cs; c++) {
			for (dy = 0; dy < ph; dy++) {
				for (dx = 0; dx < pw; dx++) {
					int p =
					    (ph * r + dy) * side + pw * c + dx;
					int k =
					    (r * cs + c) * win + dy * pw + dx;
					const float *f = feat + (size_t)p * fd;
					float *o = s->cells + (size_t)k * fd;
					const float *pe = NULL;

					if (mask[p] == 0.0f)
						pe = w->pad_embed;
					else if (mask[p] < 1.0f)
						pe = w->pad_embed + fd;
					for (j = 0; j < fd; j++)
						o[j] = pe != NULL ? f[j] + pe[j]
						                  : f[j];
				}
			}
		}
	}
	/* query = mean of the window (torch .mean: sum, then / win) */
	for (i = 0; i < n_cell; i++) {
		float *q = s->cq + (size_t)i * fd;

		for (j = 0; j < fd; j++) {
			float sum = 0;

			for (r = 0; r < win; r++)
				sum += s->cells[((size_t)i * win + r) * fd + j];
			q[j] = sum / (float)win;
		}
	}
	kern_linear(s->pool, s->pq, s->cq, n_cell, &w->pool_wq, w->pool_bq);
	kern_linear(s->pool, s->pk, s->cells, n_cell * win, &w->pool_wk,
	            w->pool_bk);
	kern_linear(s->pool, s->pv, s->cells, n_cell * win, &w->pool_wv,
	            w->pool_bv);
	pool_attention(s, n_cell, win);
	kern_linear(s->pool, pooled, s->pa, n_cell, &w->pool_wo, w->pool_bo);

	/* projector: w2 · (silu(w1 x) ⊙ w3 x) (§3.5) */
	kern_linear(s->pool, s->pg, pooled, n_cell, &w->proj_w1, NULL);
	kern_linear(s->pool, s->pu, pooled, n_cell, &w->proj_w3, NULL);
	for (i = 0; i < n_cell * pd; i++) {
		float g = s->pg[i];

		s->pg[i] = g / (1.0f + expf(-g)) * s->pu[i];
	}
	kern_linear(s->pool, out, s->pg, n_cell, &w->proj_w2, NULL);
}
