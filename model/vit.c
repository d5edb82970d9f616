/* SPDX-License-Identifier: ISC */
/*
 * vit.c: the CLIP ViT as Molmo uses it (spec molmo-v1.md §2; HF
 * modeling_molmo.py VisionTransformer / ResidualAttentionBlock).
 *
 * One crop at a time: patch embedding (a linear layer over the flattened
 * 14x14x3 patches, no bias), CLS row, positional embedding, pre_ln, then
 * pre-LN residual blocks with bidirectional multi-head attention and a
 * quick-GELU MLP.  Only blocks 0..max(vit_idx) run (the reference computes
 * the 23rd block of 7B-D and throws it away).  The outputs of the blocks in
 * vit_idx are concatenated along features, CLS dropped.
 *
 * Buffers are the session's (s->vx ...): nothing is allocated here.  The
 * matrix products split over the pool by output feature; attention splits
 * over (head, query row) pairs.  Each value is computed by one thread in a
 * fixed order, so results do not depend on the thread count.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "model/model_impl.h"
#include "model/ops.h"

/*
 * Bidirectional multi-head attention of one crop: s->vq/vk/vv [n][d] →
 * s->va [n][d], one head at a time through attn_head (q, k, v gathered
 * into contiguous per-head blocks, v transposed).
 */
static void
vit_attention(struct model_session *s)
{
	const struct hparams_vit *v = &s->m->hp.vit;
	int n = v->n_pos, d = v->d, hd = v->head_dim, h, i, c;

	for (h = 0; h < v->n_heads; h++) {
		for (i = 0; i < n; i++) {
			const float *q = s->vq + (size_t)i * d + h * hd;
			const float *k = s->vk + (size_t)i * d + h * hd;
			const float *vv = s->vv + (size_t)i * d + h * hd;

			memcpy(s->aq + (size_t)i * hd, q, (size_t)hd * 4);
			memcpy(s->ak + (size_t)i * hd, k, (size_t)hd * 4);
			for (c = 0; c < hd; c++)
				s->avt[(size_t)c * n + i] = vv[c];
		}
		attn_head(s->pool, s->ao, s->aq, n, s->ak, s->avt, n, hd, n, 1,
		          s->as);
		for (i = 0; i < n; i++)
			memcpy(s->va + (size_t)i * d + h * hd,
			       s->ao + (size_t)i * hd, (size_t)hd * 4);
	}
}

/* x += Wo·MHA(LN1(x)) + bo;  x += W2·quick_gelu(W1·LN2(x) + b1) + b2 */
static void
vit_block(struct model_session *s, const struct weights_vit_layer *L)
{
	const struct hparams_vit *v = &s->m->hp.vit;
	int n = v->n_pos, d = v->d, i;
	size_t nd = (size_t)n * d, nm = (size_t)n * v->mlp_dim;

	ops_layer_norm(s->vh, s->vx, n, d, L->ln1_w, L->ln1_b, v->norm_eps);
	kern_linear(s->pool, s->vq, s->vh, n, &L->wq, L->bq);
	kern_linear(s->pool, s->vk, s->vh, n, &L->wk, L->bk);
	kern_linear(s->pool, s->vv, s->vh, n, &L->wv, L->bv);
	vit_attention(s);
	kern_linear(s->pool, s->vh, s->va, n, &L->wo, L->bo);
	for (i = 0; i < (int)nd; i++)
		s->vx[i] += s->vh[i];

	ops_layer_norm(s->vh, s->vx, n, d, L->ln2_w, L->ln2_b, v->norm_eps);
	kern_linear(s->pool, s->vm, s->vh, n, &L->w1, L->b1);
	for (size_t k = 0; k < nm; k++) {
		float z = s->vm[k];

		s->vm[k] = z * (1.0f / (1.0f + expf(-1.702f * z)));
	}
	kern_linear(s->pool, s->vh, s->vm, n, &L->w2, L->b2);
	for (i = 0; i < (int)nd; i++)
		s->vx[i] += s->vh[i];
}

static bool
all_padding(const float *patches, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (patches[i] != -1.0f)
			return false;
	return true;
}

void
vit_crop(struct model_session *s, const float *patches, int crop)
{
	const struct model *m = s->m;
	const struct weights *w = &m->w;
	const struct hparams_vit *v = &m->hp.vit;
	int d = v->d, np = m->n_patch, fd = m->feat_dim, l, k, i;
	float *feat = s->feats + (size_t)crop * np * fd;

	if (all_padding(patches, (size_t)np * m->patch_dim)) {
		/* spec §2.7: batch-padding crops get zero features */
		memset(feat, 0, (size_t)np * fd * sizeof(float));
		return;
	}
	/* x[1:] = patches · Wpeᵀ; x[0] = class_embedding; x += pos */
	kern_linear(s->pool, s->vx + d, patches, np, &w->patch_emb, NULL);
	memcpy(s->vx, w->class_emb, (size_t)d * sizeof(float));
	for (i = 0; i < (np + 1) * d; i++)
		s->vx[i] += w->pos_emb[i];
	ops_layer_norm(s->vx, s->vx, np + 1, d, w->pre_ln_w, w->pre_ln_b,
	               v->norm_eps);

	for (l = 0; l < m->vit_run; l++) {
		vit_block(s, &w->vit[l]);
		for (k = 0; k < m->hp.n_vit_layers; k++) {
			if (m->vit_idx[k] != l)
				continue;
			/* hidden[l] rows 1..np → feature block k */
			for (i = 0; i < np; i++)
				memcpy(feat + (size_t)i * fd + (size_t)k * d,
				       s->vx + (size_t)(i + 1) * d,
				       (size_t)d * sizeof(float));
		}
	}
}
