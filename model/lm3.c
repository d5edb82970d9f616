/* SPDX-License-Identifier: ISC */
/*
 * lm3.c: the Qwen3 decoder as Molmo 2 stores it (docs/molmo2.md §7):
 * pre-norm RMSNorm blocks, fused att_proj [q; k; v] without bias, per-head
 * RMSNorm of q and k (q_norm / k_norm, width head_dim) before the
 * rotate-half RoPE, GQA, SwiGLU MLP with ff_proj = [up; gate], final ln_f
 * and a separate LM head (MolmoPoint: output_embeddings followed by
 * new_output_embeddings).
 *
 * The prefix-LM mask: position i may attend to j iff j <= i, or both are
 * image-structure tokens (s->types, token_type_ids = 1), so the image block
 * is bidirectional.  Because image rows see keys after them, a prompt is
 * run layer by layer: first the queries, keys and values of every row of
 * the layer (in chunks of s->chunk rows), then attention and the MLP chunk
 * by chunk.  The residual stream of the whole prompt lives in the caller's
 * x [n][d]; the other activations are bounded by the chunk.  Decoding is
 * the same with n = 1 (a new token sees everything before it).
 *
 * KV cache layout: [layer][kv_head][position][head_dim], fp32.  Results do
 * not depend on the thread count or the chunk size.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "model/model2.h"
#include "model/ops.h"

void
lm3_embed(const struct model2 *m, int32_t id, float *out)
{
	if (id < m->hp.vocab)
		weights_row_f32(out, &m->w.wte, id);
	else
		weights_row_f32(out, &m->w.wte_new, id - m->hp.vocab);
}

void
lm3_rope_init(struct model2_session *s)
{
	ops_rope_table(s->rope_cos, s->rope_sin, s->n_ctx, s->m->hp.hd,
	               s->m->hp.theta);
}

struct mask_job {
	float *s;
	const uint8_t *types;
	int m, n, rows, pos0; /* m = grp * rows score rows of n keys */
	float scale;
};

/* Softmax of score rows under the prefix-LM mask. */
static void
softmax_masked(void *arg, int ith, int nth)
{
	struct mask_job *j = arg;
	int r, c, per = (j->m + nth - 1) / nth, lo = ith * per;
	int hi = lo + per < j->m ? lo + per : j->m;

	for (r = lo; r < hi; r++) {
		float *row = j->s + (size_t)r * j->n, mx = -INFINITY, sum = 0;
		int p = j->pos0 + r % j->rows;
		bool img = j->types[p] != 0;

		for (c = 0; c < j->n; c++) {
			bool vis = c <= p || (img && j->types[c] != 0);
			row[c] = vis ? row[c] * j->scale : -INFINITY;
			if (row[c] > mx)
				mx = row[c];
		}
		for (c = 0; c < j->n; c++) {
			row[c] = row[c] == -INFINITY ? 0.0f : expf(row[c] - mx);
			sum += row[c];
		}
		for (c = 0; c < j->n; c++)
			row[c] = row[c] / sum;
	}
}

/* Attention of nc rows at positions p0.. (queries in s->qall) against keys
 * [0, nk) of layer l → s->att. */
static void
attention(struct model2_session *s, int l, int nc, int p0, int nk)
{
	const struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	int H = hp->n_heads, KV = hp->n_kv_heads, hd = hp->hd;
	int grp = H / KV, qd = H * hd, g, hh, i, j, c;

	for (g = 0; g < KV; g++) {
		const float *kg =
		    s->kcache + ((size_t)l * KV + g) * s->n_ctx * hd;
		const float *vg =
		    s->vcache + ((size_t)l * KV + g) * s->n_ctx * hd;
		struct kern_mat km = {kg, KERN_F32, nk, hd};
		struct kern_mat vm = {s->avt, KERN_F32, hd, nk};
		struct mask_job mj = {s->as,
		                      s->types,
		                      grp * nc,
		                      nk,
		                      nc,
		                      p0,
		                      1.0f / sqrtf((float)hd)};

		for (hh = 0; hh < grp; hh++)
			for (i = 0; i < nc; i++)
				memcpy(s->aq + ((size_t)hh * nc + i) * hd,
				       s->qall +
				           (size_t)(p0 - s->n_past + i) * qd +
				           (size_t)(g * grp + hh) * hd,
				       (size_t)hd * 4);
		for (j = 0; j < nk; j++)
			for (c = 0; c < hd; c++)
				s->avt[(size_t)c * nk + j] =
				    vg[(size_t)j * hd + c];
		kern_linear(s->pool, s->as, s->aq, grp * nc, &km, NULL);
		pool_run(s->pool, softmax_masked, &mj);
		kern_linear(s->pool, s->ao, s->as, grp * nc, &vm, NULL);
		for (hh = 0; hh < grp; hh++)
			for (i = 0; i < nc; i++)
				memcpy(s->att + (size_t)i * qd +
				           (size_t)(g * grp + hh) * hd,
				       s->ao + ((size_t)hh * nc + i) * hd,
				       (size_t)hd * 4);
	}
}

/* q, k, v of rows [c0, c0 + nc) of layer l. */
static void
qkv_rows(struct model2_session *s, const struct weights_lm_layer *L, int l,
         float *x, int c0, int nc)
{
	const struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	int d = hp->d, hd = hp->hd, half = hd / 2, qd = hp->n_heads * hd;
	int i, h, pos0 = s->n_past;

	ops_rms_norm(s->h, x + (size_t)c0 * d, nc, d, L->attn_norm, hp->eps);
	kern_linear(s->pool, s->qkv, s->h, nc, &L->att_proj, NULL);
	for (i = 0; i < nc; i++) {
		float *q = s->qkv + (size_t)i * m->qkv_dim, *k = q + qd;
		float *v = k + m->kvd;
		int p = pos0 + c0 + i;
		const float *cs = s->rope_cos + (size_t)p * half;
		const float *sn = s->rope_sin + (size_t)p * half;

		for (h = 0; h < hp->n_heads; h++) {
			float *qh = q + (size_t)h * hd;
			ops_rms_norm(qh, qh, 1, hd, L->q_norm, hp->eps);
			ops_rope(qh, 1, hd, cs, sn);
		}
		for (h = 0; h < hp->n_kv_heads; h++) {
			float *kh = k + (size_t)h * hd;
			size_t at =
			    (((size_t)l * hp->n_kv_heads + h) * s->n_ctx +
			     (size_t)p) *
			    hd;
			ops_rms_norm(kh, kh, 1, hd, L->k_norm, hp->eps);
			ops_rope(kh, 1, hd, cs, sn);
			memcpy(s->kcache + at, kh, (size_t)hd * 4);
			memcpy(s->vcache + at, v + (size_t)h * hd,
			       (size_t)hd * 4);
		}
		memcpy(s->qall + (size_t)(c0 + i) * qd, q, (size_t)qd * 4);
	}
}

/* Attention output, residual, MLP, residual for rows [c0, c0 + nc). */
static void
rest_rows(struct model2_session *s, const struct weights_lm_layer *L, int l,
          float *x, int c0, int nc, int nk)
{
	const struct model2_hp *hp = &s->m->hp;
	int d = hp->d, f = hp->ffn, i, j;
	float *xc = x + (size_t)c0 * d;

	attention(s, l, nc, s->n_past + c0, nk);
	kern_linear(s->pool, s->o, s->att, nc, &L->attn_out, NULL);
	for (i = 0; i < nc * d; i++)
		xc[i] += s->o[i];
	ops_rms_norm(s->h, xc, nc, d, L->ff_norm, hp->eps);
	kern_linear(s->pool, s->ff, s->h, nc, &L->ff_proj, NULL);
	for (i = 0; i < nc; i++) {
		const float *up = s->ff + (size_t)i * 2 * f, *gate = up + f;
		float *a = s->act + (size_t)i * f;
		for (j = 0; j < f; j++)
			a[j] = gate[j] / (1.0f + expf(-gate[j])) * up[j];
	}
	kern_linear(s->pool, s->o, s->act, nc, &L->ff_out, NULL);
	for (i = 0; i < nc * d; i++)
		xc[i] += s->o[i];
}

void
lm3_forward(struct model2_session *s, float *x, int n)
{
	const struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	int d = hp->d, nk = s->n_past + n, l, c0, nc;

	for (l = 0; l < hp->n_layers; l++) {
		const struct weights_lm_layer *L = &m->w.lm[l];
		for (c0 = 0; c0 < n; c0 += s->chunk) {
			nc = n - c0 < s->chunk ? n - c0 : s->chunk;
			qkv_rows(s, L, l, x, c0, nc);
		}
		for (c0 = 0; c0 < n; c0 += s->chunk) {
			nc = n - c0 < s->chunk ? n - c0 : s->chunk;
			rest_rows(s, L, l, x, c0, nc, nk);
		}
	}
	s->n_past += n;
	memcpy(s->xlast, x + (size_t)(n - 1) * d, (size_t)d * sizeof(float));
	ops_rms_norm(s->hlast, s->xlast, 1, d, m->w.ln_f, hp->eps);
	kern_linear(s->pool, s->logits, s->hlast, 1, &m->w.lm_head, NULL);
	if (hp->point)
		kern_linear(s->pool, s->logits + hp->vocab, s->hlast, 1,
		            &m->w.lm_head_new, NULL);
}
