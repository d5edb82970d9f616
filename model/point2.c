/* SPDX-License-Identifier: ISC */
/*
 * point2.c: the MolmoPoint pointing head (docs/molmo2.md §11).
 *
 * Extended ids: V' = vocab + additional; V' + p points at pooled image
 * token p (p < n), V' + n is the no-more-points class, V' + n + 1 + s
 * picks sub-patch s of the chosen token's 2x2 window, V' + n + 5 + l the
 * 3x3 location l inside that ViT patch.
 *
 * Prefill: keys from the final hidden states before ln_f at the image
 * token positions (x_norm RMSNorm, patch_k, 1-D RoPE with theta
 * token_prediction_rotary_theta at each token's index among the
 * selectable <im_patch> tokens; global <im_low> tokens are not selectable),
 * the no-more-points key last; sub-patch keys from the raw ViT features.
 * Each decode step: the patch query from x_norm(x), rotated by the position
 * of the patch generated before the current input token (the one-token
 * lag; scores scaled by 1/sqrt(n + 1), see point2_logits); the LM-head logit of
 * <|token_index|> goes to the best patch slot only; sub-patch scores when the
 * input was a patch token; location scores from the un-normalised x when the
 * input was a sub-patch token.  The logits processor keeps every generation a
 * valid point list, and point2_decode turns the point triples into pixels with
 * the preprocessor's pooling table and patch grid.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "model/model2.h"
#include "model/ops.h"
#include "model/tok.h"
#include "model/vocab_map.h"

/* Rotate-half RoPE of v [dim] at position pos, inv_freq = theta^(-2i/dim). */
static void
rope1(float *v, int dim, int pos, double theta)
{
	int i, half = dim / 2;

	for (i = 0; i < half; i++) {
		float ex = (float)(2 * i) / (float)dim;
		float inv = 1.0f / powf((float)theta, ex);
		float ang = (float)pos * inv, cs = cosf(ang), sn = sinf(ang);
		float a = v[i], b = v[i + half];

		v[i] = a * cs - b * sn;
		v[i + half] = b * cs + a * sn;
	}
}

int
point2_prefill(struct model2_session *s, const int32_t *ids, int n)
{
	const struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	const struct model2_w *w = &m->w;
	struct model2_point *pt = &s->pt;
	int d = hp->d, pd = hp->pd, fd = m->fd, i, k = 0, nidx = 0, t0, nb;

	for (i = 0; i < n; i++) {
		bool idx = ids[i] == hp->im_patch;
		if (!idx && ids[i] != hp->im_low)
			continue;
		if (k >= s->n_tok)
			return -1;
		if (idx)
			nidx++;
		pt->img_pos[k] = i;
		pt->kpos[k] = nidx - 1;
		pt->sel[k] = idx;
		k++;
	}
	if (k != s->n_tok)
		return -1;
	pt->n = k;
	pt->base = m->n_embed;
	pt->sel[k] = 1;
	pt->last_patch = -1;
	/* patch keys, in chunks of s->chunk rows through s->h */
	for (t0 = 0; t0 < k; t0 += s->chunk) {
		nb = k - t0 < s->chunk ? k - t0 : s->chunk;
		for (i = 0; i < nb; i++)
			ops_rms_norm(s->h + (size_t)i * d,
			             s->x + (size_t)pt->img_pos[t0 + i] * d, 1,
			             d, w->x_norm, hp->eps);
		kern_linear(s->pool, s->patch_k + (size_t)t0 * pd, s->h, nb,
		            &w->patch_k, w->patch_k_b);
		for (i = 0; i < nb; i++)
			rope1(s->patch_k + (size_t)(t0 + i) * pd, pd,
			      pt->kpos[t0 + i], hp->pt_theta);
	}
	memcpy(s->patch_k + (size_t)k * pd, w->nmp, (size_t)pd * sizeof(float));
	/* sub-patch keys from the raw features */
	for (t0 = 0; t0 < k; t0 += MODEL2_CONN_BATCH) {
		nb = k - t0 < MODEL2_CONN_BATCH ? k - t0 : MODEL2_CONN_BATCH;
		for (i = 0; i < nb * 4; i++) {
			const float *f =
			    conn2_feature(s, s->pooling[(size_t)t0 * 4 + i]);
			float *v = s->cv + (size_t)i * fd;
			if (f == NULL)
				memset(v, 0, (size_t)fd * sizeof(float));
			else
				memcpy(v, f, (size_t)fd * sizeof(float));
		}
		kern_linear(s->pool, s->subpatch_k + (size_t)t0 * 4 * pd, s->cv,
		            nb * 4, &w->subpatch_k, w->subpatch_k_b);
	}
	return 0;
}

void
point2_logits(struct model2_session *s, int32_t id)
{
	const struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	const struct model2_w *w = &m->w;
	struct model2_point *pt = &s->pt;
	int n = pt->n, pd = hp->pd, d = hp->d, V = pt->base, j, best;
	float *L = s->logits, *pl = L + V, *sl = pl + n + 1,
	      *ll = sl + MODEL2_N_SUB;
	float tau = L[hp->patch_token], sc = 1.0f / sqrtf((float)pd);
	float *xn = s->pvec, *q = s->pvec2;
	/* The official code scales the patch scores by 1/sqrt(number of
	 * keys) (n + 1), not 1/sqrt(patch_embed_dim) as the spec says
	 * (§11.3); the goldens' point.stepK.patch_logits confirm it on all
	 * three cases.  Only the argmax is used, so tokens do not depend on
	 * it.  Sub-patch scores use 1/sqrt(patch_embed_dim). */
	float psc = 1.0f / sqrtf((float)(n + 1));

	L[hp->patch_token] = MODEL2_SMALL;
	L[hp->subpatch_token] = MODEL2_SMALL;
	L[hp->location_token] = MODEL2_SMALL;
	for (j = 0; j < n + 1 + MODEL2_N_SUB + MODEL2_N_LOC; j++)
		pl[j] = MODEL2_SMALL;
	if (id < 0)
		return;
	ops_rms_norm(xn, s->xlast, 1, d, w->x_norm, hp->eps);
	/* patches */
	kern_linear(s->pool, q, xn, 1, &w->patch_q, w->patch_q_b);
	if (pt->last_patch >= 0) {
		int p = pt->kpos[pt->last_patch];
		rope1(q, pd, p > 0 ? p : 0, hp->pt_theta);
	}
	{
		struct kern_mat km = {s->patch_k, KERN_F32, n + 1, pd};
		kern_linear(s->pool, s->pdots, q, 1, &km, NULL);
	}
	for (j = 0; j <= n; j++)
		s->pdots[j] = pt->sel[j] ? s->pdots[j] * psc : MODEL2_UNSEL;
	best = 0;
	for (j = 1; j <= n; j++)
		if (s->pdots[j] > s->pdots[best])
			best = j;
	pl[best] = tau;
	/* sub-patches */
	if (id >= V && id < V + n) {
		int p = id - V;
		kern_linear(s->pool, q, xn, 1, &w->subpatch_q, w->subpatch_q_b);
		for (j = 0; j < MODEL2_N_SUB; j++) {
			const float *kk =
			    s->subpatch_k + ((size_t)p * 4 + j) * pd;
			s->sublog[j] =
			    s->pooling[(size_t)p * 4 + j] < 0
			        ? MODEL2_SMALL
			        : kern_dot_f32(q, kk, (size_t)pd) * sc;
			sl[j] = s->sublog[j];
		}
	}
	/* locations */
	if (id >= V + n + 1 && id < V + n + 1 + MODEL2_N_SUB) {
		kern_linear(s->pool, s->loclog, s->xlast, 1, &w->loc, w->loc_b);
		memcpy(ll, s->loclog, sizeof(s->loclog));
	}
}

void
point2_embed(struct model2_session *s, int32_t id, float *out)
{
	const struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	const struct model2_point *pt = &s->pt;
	int k = id - pt->base, n = pt->n, d = hp->d, j;

	if (k < n) {
		lm3_embed(m, hp->patch_token, out);
		for (j = 0; j < d; j++)
			out[j] += s->conn[(size_t)k * d + j];
	} else if (k == n) {
		lm3_embed(m, hp->patch_token, out);
	} else if (k < n + 1 + MODEL2_N_SUB) {
		int p = pt->last_patch, sub = k - n - 1;
		const float *f =
		    p >= 0 ? conn2_feature(s, s->pooling[(size_t)p * 4 + sub])
		           : NULL;
		if (f != NULL)
			memcpy(s->pvec, f, (size_t)m->fd * sizeof(float));
		else
			memset(s->pvec, 0, (size_t)m->fd * sizeof(float));
		kern_linear(s->pool, out, s->pvec, 1, &m->w.build_vit,
		            m->w.build_vit_b);
	} else {
		lm3_embed(m, hp->location_token, out);
	}
}

void
point2_advance(struct model2_session *s, int32_t id)
{
	struct model2_point *pt = &s->pt;

	if (id >= pt->base && id < pt->base + pt->n)
		pt->last_patch = id - pt->base;
}

void
point2_process(const struct model2_session *s, float *L, const int32_t *ids,
               int n_ids)
{
	const struct model2_point *pt = &s->pt;
	int V = pt->base, n = pt->n, nmp = V + n, s0 = V + n + 1;
	int l0 = s0 + MODEL2_N_SUB, end = l0 + MODEL2_N_LOC;
	int i, lp = -1, ls = -1, last = n_ids > 0 ? ids[n_ids - 1] : -1;
	bool last_patch = last >= V && last <= nmp;
	bool last_sub = last >= s0 && last < l0;

	for (i = 0; i < n_ids; i++)
		if (ids[i] == nmp) {
			for (i = V; i < end; i++)
				L[i] = -INFINITY;
			return;
		}
	for (i = 0; i < n_ids - 2; i++) {
		if (ids[i] >= V && ids[i] <= nmp)
			lp = ids[i];
		else if (ids[i] >= s0 && ids[i] < l0)
			ls = ids[i];
	}
	if (!last_patch && !last_sub) {
		for (i = s0; i < end; i++)
			L[i] = -INFINITY;
		if (lp >= 0) {
			for (i = V; i < lp; i++)
				L[i] = -INFINITY;
			if (ls == s0 + MODEL2_N_SUB - 1)
				L[lp] = -INFINITY;
		}
	} else if (last_patch) {
		for (i = 0; i < s0; i++)
			L[i] = -INFINITY;
		for (i = l0; i < end; i++)
			L[i] = -INFINITY;
		if (last == lp && ls >= 0)
			for (i = s0; i <= ls; i++)
				L[i] = -INFINITY;
	} else {
		for (i = 0; i < l0; i++)
			L[i] = -INFINITY;
	}
}

/* Digits at the start of the text of ordinary ids gen[i..]: the object id,
 * or -1. */
static long
object_id(const struct model2_session *s, const int32_t *gen, int i, int n)
{
	const struct model2 *m = s->m;
	long v = -1;
	size_t len, k;
	const char *p;

	for (; i < n; i++) {
		int32_t r = gen[i];
		if (gen[i] >= m->n_embed || m->tok == NULL)
			break;
		if (m->vmap != NULL)
			r = vocab_map_to_real(m->vmap, gen[i]);
		if (r < 0 || (p = tok_piece(m->tok, r, &len)) == NULL)
			break;
		for (k = 0; k < len; k++) {
			if (p[k] < '0' || p[k] > '9')
				return v;
			v = (v < 0 ? 0 : v) * 10 + (p[k] - '0');
			if (v > 100000000)
				return v;
		}
	}
	return v;
}

void
point2_decode(struct model2_session *s, const int32_t *gen, int n)
{
	const struct model2_point *pt = &s->pt;
	int V = pt->base, np = pt->n, i, r, c;

	s->n_points = 0;
	for (i = 0; i + 2 < n && s->n_points < 256; i++) {
		int p = gen[i] - V, sub = gen[i + 1] - V - (np + 1);
		int loc = gen[i + 2] - V - (np + 1) - MODEL2_N_SUB;
		long obj;
		int32_t vit;
		bool found = false;

		if (p < 0 || p >= np || sub < 0 || sub >= MODEL2_N_SUB ||
		    loc < 0 || loc >= MODEL2_N_LOC)
			continue;
		obj = object_id(s, gen, i + 3, n);
		if (obj < 0)
			continue;
		vit = s->pooling[(size_t)p * 4 + sub];
		for (r = 0; r < s->grid_h && !found && vit >= 0; r++)
			for (c = 0; c < s->grid_w; c++)
				if (s->grid[(size_t)r * s->grid_w + c] == vit) {
					double *o = s->points + 4 * s->n_points;
					o[0] = (double)obj;
					o[1] = 0;
					o[2] =
					    ((double)c +
					     ((double)(loc / 3) + 0.5) * 0.33) /
					    s->grid_w * s->img_w;
					o[3] =
					    ((double)r +
					     ((double)(loc % 3) + 0.5) * 0.33) /
					    s->grid_h * s->img_h;
					s->n_points++;
					found = true;
					break;
				}
		i += 2;
	}
}
