/* SPDX-License-Identifier: ISC */
/*
 * conn2.c: the Molmo 2 connector (docs/molmo2.md §6).  For each pooled
 * image token, the ViT features of its 2x2 window (pooled_patches_idx;
 * -1 = padding, a zero vector) are gathered; one attention query, the mean
 * of the valid entries, attends over the window with the padding masked out
 * of the softmax (pooling_attention_mask); Molmo 2 then applies `wo`,
 * MolmoPoint has none; the SwiGLU projector maps the result to the LLM
 * width: out = W2 · (silu(W1 x) ⊙ (W3 x)).
 *
 * Tokens are processed in batches of MODEL2_CONN_BATCH so the buffers stay
 * small whatever the image size; the matrix products run on the pool,
 * results do not depend on the thread count.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "model/model2.h"

const float *
conn2_feature(const struct model2_session *s, int32_t id)
{
	if (id < 0)
		return NULL;
	return s->feats + (size_t)id * s->m->fd;
}

static void
batch(struct model2_session *s, const int32_t *pooling, int t0, int nb)
{
	const struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	const struct model2_w *w = &m->w;
	int fd = m->fd, ad = hp->ad, hd = hp->a_hd, t, k, h, j;
	float scale = 1.0f / sqrtf((float)hd);

	for (t = 0; t < nb; t++) {
		float *q = s->cq + (size_t)t * fd;
		int nv = 0;

		memset(q, 0, (size_t)fd * sizeof(float));
		for (k = 0; k < 4; k++) {
			const float *f =
			    conn2_feature(s, pooling[(size_t)(t0 + t) * 4 + k]);
			float *v = s->cv + ((size_t)t * 4 + k) * fd;

			if (f == NULL) {
				memset(v, 0, (size_t)fd * sizeof(float));
				continue;
			}
			memcpy(v, f, (size_t)fd * sizeof(float));
			for (j = 0; j < fd; j++)
				q[j] += v[j];
			nv++;
		}
		{
			float div =
			    hp->a_mask ? (float)(nv > 1 ? nv : 1) : 4.0f;
			for (j = 0; j < fd; j++)
				q[j] = q[j] / div;
		}
	}
	kern_linear(s->pool, s->pq, s->cq, nb, &w->pool_wq, w->pool_bq);
	kern_linear(s->pool, s->pk, s->cv, nb * 4, &w->pool_wk, w->pool_bk);
	kern_linear(s->pool, s->pv, s->cv, nb * 4, &w->pool_wv, w->pool_bv);
	for (t = 0; t < nb; t++) {
		const int32_t *ids = pooling + (size_t)(t0 + t) * 4;
		float *out = s->pa + (size_t)t * ad;

		for (h = 0; h < hp->a_heads; h++) {
			const float *q = s->pq + (size_t)t * ad + h * hd;
			float sc[4], mx = -INFINITY, sum = 0;
			bool ok[4];

			for (k = 0; k < 4; k++) {
				const float *kk =
				    s->pk + ((size_t)t * 4 + k) * ad + h * hd;
				ok[k] = !hp->a_mask || ids[k] >= 0;
				sc[k] = kern_dot_f32(q, kk, (size_t)hd) * scale;
				if (ok[k] && sc[k] > mx)
					mx = sc[k];
			}
			for (k = 0; k < 4; k++) {
				sc[k] = ok[k] ? expf(sc[k] - mx) : 0.0f;
				sum += sc[k];
			}
			for (j = 0; j < hd; j++)
				out[h * hd + j] = 0;
			if (!(sum > 0))
				continue;
			for (k = 0; k < 4; k++) {
				const float *vv =
				    s->pv + ((size_t)t * 4 + k) * ad + h * hd;
				float p = sc[k] / sum;

				if (!ok[k])
					continue;
				for (j = 0; j < hd; j++)
					out[h * hd + j] += p * vv[j];
			}
		}
	}
	{
		float *pooled = s->pooled + (size_t)t0 * ad;
		size_t i, n;

		if (hp->a_wo)
			kern_linear(s->pool, pooled, s->pa, nb, &w->pool_wo,
			            w->pool_bo);
		else
			memcpy(pooled, s->pa, (size_t)nb * ad * sizeof(float));
		kern_linear(s->pool, s->pg, pooled, nb, &w->proj_w1, NULL);
		kern_linear(s->pool, s->pu, pooled, nb, &w->proj_w3, NULL);
		n = (size_t)nb * hp->a_inter;
		for (i = 0; i < n; i++)
			s->pg[i] =
			    s->pg[i] / (1.0f + expf(-s->pg[i])) * s->pu[i];
		kern_linear(s->pool, s->conn + (size_t)t0 * hp->d, s->pg, nb,
		            &w->proj_w2, NULL);
	}
}

void
conn2_run(struct model2_session *s, const int32_t *pooling, int n_tok)
{
	int t;

	for (t = 0; t < n_tok; t += MODEL2_CONN_BATCH)
		batch(s, pooling, t,
		      n_tok - t < MODEL2_CONN_BATCH ? n_tok - t
		                                    : MODEL2_CONN_BATCH);
}
