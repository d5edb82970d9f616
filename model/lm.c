/* SPDX-License-Identifier: ISC */
/*
 * lm.c: the Molmo v1 decoders (spec molmo-v1.md §6, §7; HF modeling_molmo.py
 * MolmoSequentialBlock, modeling_molmoe.py for the MoE block).
 *
 * One block function serves the three families, selected by hparams:
 *   Qwen2 (7B-D, 72B): pre-norm RMSNorm, fused qkv with bias, GQA;
 *   OLMo (7B-O):       no input norms; RMSNorm after attention and after the
 *                      MLP (norm_after), QK-norm over the full q / k widths;
 *   OLMoE (MolmoE-1B): pre-norm, QK-norm, softmax router over all experts,
 *                      top-k without re-normalisation, SwiGLU experts.
 * RoPE is the rotate-half form over the whole head, attention is causal over
 * the whole sequence (image tokens included), the LM head has
 * embedding_size rows and nothing is masked.
 *
 * Prefill runs in chunks of s->chunk rows against the KV cache, so
 * activations are bounded by the chunk, not by the prompt; decoding is a
 * chunk of one.  Because kern_linear gives a row the same result alone or in
 * a batch, chunking does not change the numbers.
 *
 * KV cache layout: kcache[layer][kv_head][position][head_dim], fp32, so
 * each head's keys form one contiguous matrix for kern_linear.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "model/model_impl.h"
#include "model/ops.h"

void
lm_embed(const struct model *m, const int32_t *ids, int n, float *out)
{
	int i, e = m->hp.embedding_size, d = m->hp.d_model;

	for (i = 0; i < n; i++) {
		if (ids[i] < e)
			weights_row_f32(out + (size_t)i * d, &m->w.wte, ids[i]);
		else
			weights_row_f32(out + (size_t)i * d, &m->w.wte_new,
			                ids[i] - e);
	}
}

void
lm_rope_init(struct model_session *s)
{
	const struct hparams *hp = &s->m->hp;

	ops_rope_table(s->rope_cos, s->rope_sin, s->n_ctx, hp->head_dim,
	               hp->rope_theta);
}

/*
 * Causal attention of a chunk of n rows at positions pos0.. against the
 * cache (positions 0 .. pos0 + n - 1), one GQA group at a time: the rows of
 * the group's query heads are stacked ([grp][n][hd]) and share one K block
 * and one transposed V block (attn.c).
 */
static void
causal_attention(struct model_session *s, int l, int n, int pos0)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	int H = hp->n_heads, KV = hp->n_kv_heads, hd = hp->head_dim;
	int grp = H / KV, np = pos0 + n, g, hh, i, j, c;

	for (g = 0; g < KV; g++) {
		const float *kg =
		    s->kcache + ((size_t)l * KV + g) * s->n_ctx * hd;
		const float *vg =
		    s->vcache + ((size_t)l * KV + g) * s->n_ctx * hd;

		for (hh = 0; hh < grp; hh++)
			for (i = 0; i < n; i++)
				memcpy(s->aq + ((size_t)hh * n + i) * hd,
				       s->qkv + (size_t)i * m->qkv_dim +
				           (size_t)(g * grp + hh) * hd,
				       (size_t)hd * 4);
		for (j = 0; j < np; j++)
			for (c = 0; c < hd; c++)
				s->avt[(size_t)c * np + j] =
				    vg[(size_t)j * hd + c];
		attn_head(s->pool, s->ao, s->aq, grp * n, kg, s->avt, np, hd,
		          pos0, n, s->as);
		for (hh = 0; hh < grp; hh++)
			for (i = 0; i < n; i++)
				memcpy(s->att + (size_t)i * hp->d_model +
				           (size_t)(g * grp + hh) * hd,
				       s->ao + ((size_t)hh * n + i) * hd,
				       (size_t)hd * 4);
	}
}

/* Attention half of block l on the chunk in s->x (n rows at pos0). */
static void
attention(struct model_session *s, const struct weights_lm_layer *L, int l,
          int n, int pos0)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	int d = hp->d_model, kvd = m->kvd, hd = hp->head_dim, i, j;
	int half = hd / 2;
	int g;

	/* h = RMSNorm(x; attn_norm) (pre-norm) or x (norm_after) */
	if (hp->norm_after)
		memcpy(s->h, s->x, (size_t)n * d * sizeof(float));
	else
		ops_rms_norm(s->h, s->x, n, d, L->attn_norm,
		             hp->layer_norm_eps);
	kern_linear(s->pool, s->qkv, s->h, n, &L->att_proj, L->att_bias);
	for (i = 0; i < n; i++) {
		float *q = s->qkv + (size_t)i * m->qkv_dim, *k = q + d;
		float *v = k + kvd;
		const float *cs = s->rope_cos + (size_t)(pos0 + i) * half;
		const float *sn = s->rope_sin + (size_t)(pos0 + i) * half;

		if (hp->clip_qkv > 0)
			for (j = 0; j < m->qkv_dim; j++)
				q[j] = fminf(fmaxf(q[j], -hp->clip_qkv),
				             hp->clip_qkv);
		if (hp->attention_layer_norm) {
			/* QK-norm over the full widths, before heads (§6.3) */
			ops_rms_norm(q, q, 1, d, L->q_norm, hp->layer_norm_eps);
			ops_rms_norm(k, k, 1, kvd, L->k_norm,
			             hp->layer_norm_eps);
		}
		ops_rope(q, hp->n_heads, hd, cs, sn);
		ops_rope(k, hp->n_kv_heads, hd, cs, sn);
		for (g = 0; g < hp->n_kv_heads; g++) {
			size_t at =
			    (((size_t)l * hp->n_kv_heads + g) * s->n_ctx +
			     (size_t)(pos0 + i)) *
			    hd;

			memcpy(s->kcache + at, k + (size_t)g * hd,
			       (size_t)hd * sizeof(float));
			memcpy(s->vcache + at, v + (size_t)g * hd,
			       (size_t)hd * sizeof(float));
		}
	}
	causal_attention(s, l, n, pos0);
	kern_linear(s->pool, s->o, s->att, n, &L->attn_out, NULL);
	if (hp->norm_after)
		ops_rms_norm(s->o, s->o, n, d, L->attn_norm,
		             hp->layer_norm_eps);
	for (i = 0; i < n * d; i++)
		s->x[i] += s->o[i];
}

/* Dense SwiGLU MLP: y = ff_out(silu(gate) ⊙ up), ff_proj = [up; gate]. */
static void
mlp(struct model_session *s, const struct weights_lm_layer *L, int n)
{
	const struct hparams *hp = &s->m->hp;
	int d = hp->d_model, f = hp->ffn_dim, i, j;

	if (hp->norm_after)
		memcpy(s->h, s->x, (size_t)n * d * sizeof(float));
	else
		ops_rms_norm(s->h, s->x, n, d, L->ff_norm, hp->layer_norm_eps);
	kern_linear(s->pool, s->ff, s->h, n, &L->ff_proj, NULL);
	for (i = 0; i < n; i++) {
		const float *up = s->ff + (size_t)i * 2 * f, *gate = up + f;
		float *a = s->act + (size_t)i * f;

		for (j = 0; j < f; j++)
			a[j] = gate[j] / (1.0f + expf(-gate[j])) * up[j];
	}
	kern_linear(s->pool, s->o, s->act, n, &L->ff_out, NULL);
	if (hp->norm_after)
		ops_rms_norm(s->o, s->o, n, d, L->ff_norm, hp->layer_norm_eps);
	for (i = 0; i < n * d; i++)
		s->x[i] += s->o[i];
}

/*
 * OLMoE MLP (spec §7): p = softmax(router(h)) over all experts; the top_k
 * largest (lower index first on ties) with their unnormalised p; output =
 * Σ p_e · expert_e(h).  Tokens are grouped per expert so each expert's
 * weights are read once per chunk; each token's sum is accumulated in
 * expert-index order, whatever the thread count.
 */
static void
moe(struct model_session *s, const struct weights_lm_layer *L, int n)
{
	const struct hparams *hp = &s->m->hp;
	int d = hp->d_model, ne = hp->n_experts, k = hp->top_k;
	int ef = hp->moe_hidden, i, j, e, r, cnt;

	ops_rms_norm(s->h, s->x, n, d, L->ff_norm, hp->layer_norm_eps);
	kern_linear(s->pool, s->router, s->h, n, &L->router, NULL);
	for (i = 0; i < n; i++) {
		float *p = s->router + (size_t)i * ne, mx = -INFINITY, sum = 0;
		int *sel = s->sel + (size_t)i * k;

		for (e = 0; e < ne; e++)
			if (p[e] > mx)
				mx = p[e];
		for (e = 0; e < ne; e++) {
			p[e] = expf(p[e] - mx);
			sum += p[e];
		}
		for (e = 0; e < ne; e++)
			p[e] /= sum;
		for (j = 0; j < k; j++) {
			int best = -1;

			for (e = 0; e < ne; e++) {
				bool taken = false;

				for (r = 0; r < j; r++)
					if (sel[r] == e)
						taken = true;
				if (!taken && (best < 0 || p[e] > p[best]))
					best = e;
			}
			sel[j] = best;
		}
	}
	memset(s->moe, 0, (size_t)n * d * sizeof(float));
	for (e = 0; e < ne; e++) {
		const struct weights_expert *X = &L->experts[e];

		cnt = 0;
		for (i = 0; i < n; i++)
			for (j = 0; j < k; j++)
				if (s->sel[(size_t)i * k + j] == e)
					s->rows[cnt++] = i;
		if (cnt == 0)
			continue;
		for (r = 0; r < cnt; r++)
			memcpy(s->ex + (size_t)r * d,
			       s->h + (size_t)s->rows[r] * d,
			       (size_t)d * sizeof(float));
		kern_linear(s->pool, s->eg, s->ex, cnt, &X->gate, NULL);
		kern_linear(s->pool, s->eu, s->ex, cnt, &X->up, NULL);
		for (i = 0; i < cnt * ef; i++)
			s->eg[i] =
			    s->eg[i] / (1.0f + expf(-s->eg[i])) * s->eu[i];
		kern_linear(s->pool, s->ey, s->eg, cnt, &X->down, NULL);
		for (r = 0; r < cnt; r++) {
			int t = s->rows[r];
			float pe = s->router[(size_t)t * ne + e];
			float *o = s->moe + (size_t)t * d;
			const float *y = s->ey + (size_t)r * d;

			for (j = 0; j < d; j++)
				o[j] += pe * y[j];
		}
	}
	for (i = 0; i < n * d; i++)
		s->x[i] += s->moe[i];
}

/* ln_f and the LM head on rows [r0, r0 + n) of s->x into out. */
static void
head(struct model_session *s, int r0, int n, float *hid, float *out)
{
	const struct model *m = s->m;
	int d = m->hp.d_model;

	ops_rms_norm(s->h, s->x + (size_t)r0 * d, n, d, m->w.ln_f,
	             m->hp.layer_norm_eps);
	if (hid != NULL)
		memcpy(hid, s->h, (size_t)n * d * sizeof(float));
	kern_linear(s->pool, out, s->h, n, &m->w.lm_head, NULL);
}

static void
forward_chunk(struct model_session *s, const float *x, int n,
              struct lm_trace *tr)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	int d = hp->d_model, pos0 = s->n_past, l;
	size_t plane = tr != NULL ? (size_t)tr->n_pos * d : 0;

	memcpy(s->x, x, (size_t)n * d * sizeof(float));
	for (l = 0; l < hp->n_layers; l++) {
		const struct weights_lm_layer *L = &m->w.lm[l];

		if (tr != NULL && tr->hidden != NULL)
			memcpy(tr->hidden + l * plane + (size_t)pos0 * d, s->x,
			       (size_t)n * d * sizeof(float));
		attention(s, L, l, n, pos0);
		if (hp->arch == HP_ARCH_OLMOE)
			moe(s, L, n);
		else
			mlp(s, L, n);
	}
	s->n_past += n;
	if (tr != NULL && tr->logits != NULL) {
		float *hid =
		    tr->hidden != NULL
		        ? tr->hidden + hp->n_layers * plane + (size_t)pos0 * d
		        : NULL;

		head(s, 0, n, hid, tr->logits + (size_t)pos0 * m->n_vocab_out);
		memcpy(s->logits,
		       tr->logits + (size_t)(pos0 + n - 1) * m->n_vocab_out,
		       (size_t)m->n_vocab_out * sizeof(float));
		return;
	}
	head(s, n - 1, 1, NULL, s->logits);
}

void
lm_forward(struct model_session *s, const float *x, int n, struct lm_trace *tr)
{
	int d = s->m->hp.d_model, done = 0, c;

	while (done < n) {
		c = n - done < s->chunk ? n - done : s->chunk;
		forward_chunk(s, x + (size_t)done * d, c, tr);
		done += c;
	}
}
