/* SPDX-License-Identifier: ISC */
/*
 * vit2.c: the SigLIP 2 vision encoder as Molmo 2 uses it (docs/molmo2.md
 * §5): per crop, a linear patch embedding with bias over the flattened
 * 14x14x3 patches, the learned positional embedding (27x27 grid, no
 * interpolation), then pre-LN blocks (LayerNorm with bias, bidirectional
 * multi-head attention with biases, GELU-tanh MLP).  No CLS token, no final
 * LayerNorm.  Only blocks 0..max(vit_layers) run; the outputs of the
 * blocks named by vit_layers are concatenated, in vit_layers order.
 *
 * Buffers are the session's; nothing is allocated here.  Each value is
 * computed by one thread in a fixed order (kern.h, attn.c), so results do
 * not depend on the thread count.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "model/model2.h"
#include "model/model_impl.h"
#include "model/ops.h"

static void
attention(struct model2_session *s)
{
	const struct model2_hp *hp = &s->m->hp;
	int n = s->m->n_patch, d = hp->vd, hd = hp->v_hd, h, i, c;

	for (h = 0; h < hp->v_heads; h++) {
		for (i = 0; i < n; i++) {
			const float *q = s->vq + (size_t)i * d + h * hd;
			const float *k = s->vk + (size_t)i * d + h * hd;
			const float *v = s->vv + (size_t)i * d + h * hd;

			memcpy(s->aq + (size_t)i * hd, q, (size_t)hd * 4);
			memcpy(s->ak + (size_t)i * hd, k, (size_t)hd * 4);
			for (c = 0; c < hd; c++)
				s->avt[(size_t)c * n + i] = v[c];
		}
		attn_head(s->pool, s->ao, s->aq, n, s->ak, s->avt, n, hd, n, 1,
		          s->as);
		for (i = 0; i < n; i++)
			memcpy(s->va + (size_t)i * d + h * hd,
			       s->ao + (size_t)i * hd, (size_t)hd * 4);
	}
}

/* gelu_pytorch_tanh */
static float
gelu_tanh(float x)
{
	const float k = 0.7978845608028654f; /* sqrt(2 / pi) */

	return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

static void
block(struct model2_session *s, const struct weights_vit_layer *L)
{
	const struct model2_hp *hp = &s->m->hp;
	int n = s->m->n_patch, d = hp->vd;
	size_t nd = (size_t)n * d, nm = (size_t)n * hp->v_mlp, i;

	ops_layer_norm(s->vh, s->vx, n, d, L->ln1_w, L->ln1_b, hp->v_eps);
	kern_linear(s->pool, s->vq, s->vh, n, &L->wq, L->bq);
	kern_linear(s->pool, s->vk, s->vh, n, &L->wk, L->bk);
	kern_linear(s->pool, s->vv, s->vh, n, &L->wv, L->bv);
	attention(s);
	kern_linear(s->pool, s->vh, s->va, n, &L->wo, L->bo);
	for (i = 0; i < nd; i++)
		s->vx[i] += s->vh[i];
	ops_layer_norm(s->vh, s->vx, n, d, L->ln2_w, L->ln2_b, hp->v_eps);
	kern_linear(s->pool, s->vm, s->vh, n, &L->w1, L->b1);
	for (i = 0; i < nm; i++)
		s->vm[i] = gelu_tanh(s->vm[i]);
	kern_linear(s->pool, s->vh, s->vm, n, &L->w2, L->b2);
	for (i = 0; i < nd; i++)
		s->vx[i] += s->vh[i];
}

void
vit2_crop(struct model2_session *s, const float *patches, int crop)
{
	const struct model2 *m = s->m;
	const struct model2_w *w = &m->w;
	int d = m->hp.vd, np = m->n_patch, fd = m->fd, l, k, i;
	float *feat = s->feats + (size_t)crop * np * fd;

	kern_linear(s->pool, s->vx, patches, np, &w->patch_w, w->patch_b);
	for (i = 0; i < np * d; i++)
		s->vx[i] += w->pos[i];
	for (l = 0; l < m->vit_run; l++) {
		block(s, &w->vit[l]);
		for (k = 0; k < m->hp.n_vit_layers; k++) {
			if (m->vit_idx[k] != l)
				continue;
			for (i = 0; i < np; i++)
				memcpy(feat + (size_t)i * fd + (size_t)k * d,
				       s->vx + (size_t)i * d,
				       (size_t)d * sizeof(float));
		}
	}
}
