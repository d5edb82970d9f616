/* SPDX-License-Identifier: ISC */
/*
 * weights.c: THE tensor table of Molmo v1 (spec molmo-v1.md §1.5) and its
 * loader.
 *
 * Each row names one safetensors tensor ("%d" stands for the ViT or decoder
 * layer, a second "%d" for the expert), the field of struct weights it fills,
 * whether it is a matrix (left in the mapping) or a vector (copied to fp32),
 * its shape as symbols computed from struct hparams, and the condition under
 * which it exists.  The HF MolmoConfig checkpoints (7B-D, 7B-O, 72B) and the
 * MolmoE checkpoint name their decoder tensors differently, so the decoder
 * has two tables; the vision tables are shared.  weights_load walks the
 * tables, checks every row, then checks that no tensor was left unclaimed.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/weights.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* Shape symbols, resolved by dim(). */
enum sym {
	Z_NONE,
	Z_TWO,   /* 2 (pad_embed rows) */
	Z_D,     /* d_model */
	Z_QKV,   /* d + 2 * kv * hd */
	Z_KVD,   /* kv * hd */
	Z_I,     /* ff_proj rows = 2 * ffn_dim */
	Z_FFN,   /* ffn_dim */
	Z_EMB,   /* embedding_size */
	Z_ADD,   /* additional_vocab_size */
	Z_NE,    /* n_experts */
	Z_EFF,   /* moe_hidden */
	Z_VD,    /* ViT width */
	Z_VMLP,  /* ViT MLP width */
	Z_VPOS,  /* ViT positions */
	Z_PATCH, /* patch_size^2 * 3 */
	Z_VCAT,  /* n_vit_layers * ViT width */
	Z_PROJ   /* projector hidden */
};

enum scope {
	SC_MODEL, /* once */
	SC_VIT,   /* per ViT layer: %d */
	SC_LM,    /* per decoder layer: %d */
	SC_EXPERT /* per decoder layer and expert: %d %d */
};

enum kind {
	K_MAT, /* struct kern_mat, left in the mapping */
	K_VEC  /* float *, copied */
};

enum cond {
	C_ALWAYS,
	C_QKV_BIAS, /* hp->qkv_bias */
	C_QK_NORM,  /* hp->attention_layer_norm */
	C_UNTIED    /* !hp->weight_tying */
};

struct row {
	enum scope scope;
	const char *fmt;
	enum kind kind;
	size_t off; /* in struct weights / _vit_layer / _lm_layer / _expert */
	enum sym dims[2];
	enum cond cond;
};

#define W(f) offsetof(struct weights, f)
#define V(f) offsetof(struct weights_vit_layer, f)
#define L(f) offsetof(struct weights_lm_layer, f)
#define X(f) offsetof(struct weights_expert, f)
#define VB   "model.vision_backbone."
#define VIT  VB "image_vit."
#define BLK  VIT "transformer.resblocks.%d."
#define TR   "model.transformer."
#define LMB  TR "blocks.%d."

/* clang-format off */
static const struct row vision_rows[] = {
	{ SC_MODEL, VIT "patch_embedding.weight", K_MAT, W(patch_emb), { Z_VD, Z_PATCH }, C_ALWAYS },
	{ SC_MODEL, VIT "class_embedding", K_VEC, W(class_emb), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_MODEL, VIT "positional_embedding", K_VEC, W(pos_emb), { Z_VPOS, Z_VD }, C_ALWAYS },
	{ SC_MODEL, VIT "pre_ln.weight", K_VEC, W(pre_ln_w), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_MODEL, VIT "pre_ln.bias", K_VEC, W(pre_ln_b), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wq.weight", K_MAT, V(wq), { Z_VD, Z_VD }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wk.weight", K_MAT, V(wk), { Z_VD, Z_VD }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wv.weight", K_MAT, V(wv), { Z_VD, Z_VD }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wo.weight", K_MAT, V(wo), { Z_VD, Z_VD }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wq.bias", K_VEC, V(bq), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wk.bias", K_VEC, V(bk), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wv.bias", K_VEC, V(bv), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "attention.wo.bias", K_VEC, V(bo), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "feed_forward.w1.weight", K_MAT, V(w1), { Z_VMLP, Z_VD }, C_ALWAYS },
	{ SC_VIT, BLK "feed_forward.w1.bias", K_VEC, V(b1), { Z_VMLP, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "feed_forward.w2.weight", K_MAT, V(w2), { Z_VD, Z_VMLP }, C_ALWAYS },
	{ SC_VIT, BLK "feed_forward.w2.bias", K_VEC, V(b2), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "attention_norm.weight", K_VEC, V(ln1_w), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "attention_norm.bias", K_VEC, V(ln1_b), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "ffn_norm.weight", K_VEC, V(ln2_w), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_VIT, BLK "ffn_norm.bias", K_VEC, V(ln2_b), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_MODEL, VB "pad_embed", K_VEC, W(pad_embed), { Z_TWO, Z_VCAT }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wq.weight", K_MAT, W(pool_wq), { Z_VD, Z_VCAT }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wk.weight", K_MAT, W(pool_wk), { Z_VD, Z_VCAT }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wv.weight", K_MAT, W(pool_wv), { Z_VD, Z_VCAT }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wo.weight", K_MAT, W(pool_wo), { Z_VD, Z_VD }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wq.bias", K_VEC, W(pool_bq), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wk.bias", K_VEC, W(pool_bk), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wv.bias", K_VEC, W(pool_bv), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_MODEL, VB "image_pooling_2d.wo.bias", K_VEC, W(pool_bo), { Z_VD, Z_NONE }, C_ALWAYS },
	{ SC_MODEL, VB "image_projector.w1.weight", K_MAT, W(proj_w1), { Z_PROJ, Z_VD }, C_ALWAYS },
	{ SC_MODEL, VB "image_projector.w3.weight", K_MAT, W(proj_w3), { Z_PROJ, Z_VD }, C_ALWAYS },
	{ SC_MODEL, VB "image_projector.w2.weight", K_MAT, W(proj_w2), { Z_D, Z_PROJ }, C_ALWAYS },
	{ SC_MODEL, TR "wte.embedding", K_MAT, W(wte), { Z_EMB, Z_D }, C_ALWAYS },
	{ SC_MODEL, TR "wte.new_embedding", K_MAT, W(wte_new), { Z_ADD, Z_D }, C_ALWAYS },
	{ SC_MODEL, TR "ln_f.weight", K_VEC, W(ln_f), { Z_D, Z_NONE }, C_ALWAYS },
};

/* HF MolmoConfig checkpoints: Molmo-7B-D, 7B-O, 72B. */
static const struct row dense_rows[] = {
	{ SC_LM, LMB "att_proj.weight", K_MAT, L(att_proj), { Z_QKV, Z_D }, C_ALWAYS },
	{ SC_LM, LMB "att_proj.bias", K_VEC, L(att_bias), { Z_QKV, Z_NONE }, C_QKV_BIAS },
	{ SC_LM, LMB "attn_out.weight", K_MAT, L(attn_out), { Z_D, Z_D }, C_ALWAYS },
	{ SC_LM, LMB "attn_norm.weight", K_VEC, L(attn_norm), { Z_D, Z_NONE }, C_ALWAYS },
	{ SC_LM, LMB "ff_norm.weight", K_VEC, L(ff_norm), { Z_D, Z_NONE }, C_ALWAYS },
	{ SC_LM, LMB "q_norm.weight", K_VEC, L(q_norm), { Z_D, Z_NONE }, C_QK_NORM },
	{ SC_LM, LMB "k_norm.weight", K_VEC, L(k_norm), { Z_KVD, Z_NONE }, C_QK_NORM },
	{ SC_LM, LMB "ff_proj.weight", K_MAT, L(ff_proj), { Z_I, Z_D }, C_ALWAYS },
	{ SC_LM, LMB "ff_out.weight", K_MAT, L(ff_out), { Z_D, Z_FFN }, C_ALWAYS },
	{ SC_MODEL, TR "ff_out.weight", K_MAT, W(lm_head), { Z_EMB, Z_D }, C_UNTIED },
};

/* MolmoE-1B (HF per-expert names, as in the golden checkpoint). */
static const struct row moe_rows[] = {
	{ SC_LM, LMB "attn.att_proj.weight", K_MAT, L(att_proj), { Z_QKV, Z_D }, C_ALWAYS },
	{ SC_LM, LMB "attn.att_proj.bias", K_VEC, L(att_bias), { Z_QKV, Z_NONE }, C_QKV_BIAS },
	{ SC_LM, LMB "attn.attn_out.weight", K_MAT, L(attn_out), { Z_D, Z_D }, C_ALWAYS },
	{ SC_LM, LMB "attn.attn_norm.weight", K_VEC, L(attn_norm), { Z_D, Z_NONE }, C_ALWAYS },
	{ SC_LM, LMB "attn.q_norm.weight", K_VEC, L(q_norm), { Z_D, Z_NONE }, C_QK_NORM },
	{ SC_LM, LMB "attn.k_norm.weight", K_VEC, L(k_norm), { Z_KVD, Z_NONE }, C_QK_NORM },
	{ SC_LM, LMB "mlp.ff_norm.weight", K_VEC, L(ff_norm), { Z_D, Z_NONE }, C_ALWAYS },
	{ SC_LM, LMB "mlp.gate.weight", K_MAT, L(router), { Z_NE, Z_D }, C_ALWAYS },
	{ SC_EXPERT, LMB "mlp.experts.%d.gate_proj.weight", K_MAT, X(gate), { Z_EFF, Z_D }, C_ALWAYS },
	{ SC_EXPERT, LMB "mlp.experts.%d.up_proj.weight", K_MAT, X(up), { Z_EFF, Z_D }, C_ALWAYS },
	{ SC_EXPERT, LMB "mlp.experts.%d.down_proj.weight", K_MAT, X(down), { Z_D, Z_EFF }, C_ALWAYS },
	{ SC_MODEL, "lm_head.weight", K_MAT, W(lm_head), { Z_EMB, Z_D }, C_UNTIED },
};
/* clang-format on */

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

static int64_t
dim(const struct hparams *hp, enum sym s)
{
	const struct hparams_vit *v = &hp->vit;

	switch (s) {
	case Z_NONE:
		return 0;
	case Z_TWO:
		return 2;
	case Z_D:
		return hp->d_model;
	case Z_QKV:
		return (int64_t)hp->d_model +
		       2 * (int64_t)hp->n_kv_heads * hp->head_dim;
	case Z_KVD:
		return (int64_t)hp->n_kv_heads * hp->head_dim;
	case Z_I:
		return hp->ff_proj_rows;
	case Z_FFN:
		return hp->ffn_dim;
	case Z_EMB:
		return hp->embedding_size;
	case Z_ADD:
		return hp->additional_vocab_size;
	case Z_NE:
		return hp->n_experts;
	case Z_EFF:
		return hp->moe_hidden;
	case Z_VD:
		return v->d;
	case Z_VMLP:
		return v->mlp_dim;
	case Z_VPOS:
		return v->n_pos;
	case Z_PATCH:
		return (int64_t)v->patch_size * v->patch_size * 3;
	case Z_VCAT:
		return (int64_t)hp->n_vit_layers * v->d;
	case Z_PROJ:
		return hp->proj_dim;
	}
	return 0;
}

static bool
row_exists(const struct row *r, const struct hparams *hp)
{
	switch (r->cond) {
	case C_ALWAYS:
		return true;
	case C_QKV_BIAS:
		return hp->qkv_bias;
	case C_QK_NORM:
		return hp->attention_layer_norm;
	case C_UNTIED:
		return !hp->weight_tying;
	}
	return false;
}

static void *
own(struct weights *w, size_t n)
{
	void *p;

	if (w->n_owned == w->cap_owned) {
		w->cap_owned = w->cap_owned ? 2 * w->cap_owned : 64;
		w->owned = xreallocarray(w->owned, (size_t)w->cap_owned,
		                         sizeof(*w->owned));
	}
	p = xmalloc(n ? n : 1);
	w->owned[w->n_owned++] = p;
	w->bytes_copied += n;
	return p;
}

/* Round-to-nearest-even fp32 -> bf16 (NaN kept quiet). */
static uint16_t
f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

static float
bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static float
f16_to_f32(uint16_t h)
{
	uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff, u;
	float f;

	if (ex == 0) {
		/* zero or subnormal: man * 2^-24 */
		f = (float)man * (1.0f / 16777216.0f);
		return s ? -f : f;
	}
	if (ex == 31)
		u = s | 0x7f800000u | (man << 13);
	else
		u = s | ((ex + 112) << 23) | (man << 13);
	memcpy(&f, &u, 4);
	return f;
}

/* n values of dtype dt at (possibly unaligned) src to fp32. */
static void
to_f32(float *dst, const void *src, enum st_dtype dt, size_t n)
{
	const unsigned char *p = src;
	uint16_t h;
	size_t i;

	switch (dt) {
	case ST_F32:
		memcpy(dst, src, n * 4);
		break;
	case ST_BF16:
		for (i = 0; i < n; i++) {
			memcpy(&h, p + 2 * i, 2);
			dst[i] = bf16_to_f32(h);
		}
		break;
	case ST_F16:
		for (i = 0; i < n; i++) {
			memcpy(&h, p + 2 * i, 2);
			dst[i] = f16_to_f32(h);
		}
		break;
	}
}

void
weights_row_f32(float *dst, const struct kern_mat *a, int r)
{
	size_t esz = a->dtype == KERN_F32 ? 4 : 2;
	const unsigned char *p =
	    (const unsigned char *)a->data + (size_t)r * a->cols * esz;
	enum st_dtype dt = a->dtype == KERN_F32    ? ST_F32
	                   : a->dtype == KERN_BF16 ? ST_BF16
	                                           : ST_F16;

	to_f32(dst, p, dt, (size_t)a->cols);
}

static enum kern_dtype
kern_type(enum st_dtype dt)
{
	switch (dt) {
	case ST_F32:
		return KERN_F32;
	case ST_BF16:
		return KERN_BF16;
	case ST_F16:
		return KERN_F16;
	}
	return KERN_F32;
}

/* Fill the field of one row from tensor t (shape already checked). */
static void
fill(struct weights *w, const struct row *r, void *base,
     const struct st_tensor *t, bool to_bf16)
{
	size_t n = t->nbytes / st_dtype_size(t->dtype), i;

	if (r->kind == K_VEC) {
		float *v = own(w, n * sizeof(float));

		to_f32(v, t->data, t->dtype, n);
		if (to_bf16)
			for (i = 0; i < n; i++)
				v[i] = bf16_to_f32(f32_to_bf16(v[i]));
		memcpy((char *)base + r->off, &v, sizeof(v));
		return;
	}
	struct kern_mat m = {
	    .data = t->data,
	    .dtype = kern_type(t->dtype),
	    .rows = (int)t->shape[0],
	    .cols = (int)t->shape[1],
	};
	if (to_bf16 && t->dtype == ST_F32) {
		uint16_t *b = own(w, n * sizeof(uint16_t));
		const unsigned char *src = t->data;
		float f;

		for (i = 0; i < n; i++) {
			memcpy(&f, src + 4 * i, 4);
			b[i] = f32_to_bf16(f);
		}
		m.data = b;
		m.dtype = KERN_BF16;
	}
	memcpy((char *)base + r->off, &m, sizeof(m));
}

static int
cmp_ptr(const void *a, const void *b)
{
	const void *x = *(const void *const *)a, *y = *(const void *const *)b;

	return x < y ? -1 : x > y;
}

/* name = fmt with its first "%d" replaced by a and the second by b. */
static void
expand(char *name, size_t n, const char *fmt, int a, int b)
{
	size_t o = 0;
	int k = 0;

	while (*fmt != '\0' && o + 12 < n) {
		if (fmt[0] == '%' && fmt[1] == 'd') {
			o += (size_t)snprintf(name + o, n - o, "%d",
			                      k++ == 0 ? a : b);
			fmt += 2;
		} else {
			name[o++] = *fmt++;
		}
	}
	name[o] = '\0';
}

/* Check and fill one row for one (layer, expert). */
static int
load_row(struct weights *w, const struct st *st, const struct hparams *hp,
         const struct row *r, void *base, int li, int ei, bool to_bf16,
         const struct st_tensor **claimed, size_t *n_claimed, struct err *e)
{
	char name[256];
	int64_t shape[2];
	int ndim = r->dims[1] == Z_NONE ? 1 : 2;
	const struct st_tensor *t;

	expand(name, sizeof(name), r->fmt, li, ei);
	shape[0] = dim(hp, r->dims[0]);
	shape[1] = dim(hp, r->dims[1]);
	if (!row_exists(r, hp)) {
		if (st_find(st, name) != NULL)
			return err_set(e,
			               "tensor %s: present, but config.json "
			               "says the model has none",
			               name);
		return 0;
	}
	t = st_need(st, name, ndim, shape, e);
	if (t == NULL)
		return -1;
	if (r->kind == K_MAT &&
	    (shape[0] > 0x7fffffff || shape[1] > 0x7fffffff))
		return err_set(e, "tensor %s: too large", name);
	fill(w, r, base, t, to_bf16);
	claimed[(*n_claimed)++] = t;
	return 0;
}

static int
load_table(struct weights *w, const struct st *st, const struct hparams *hp,
           const struct row *rows, size_t nrows, bool to_bf16,
           const struct st_tensor **claimed, size_t *n_claimed, size_t cap,
           struct err *e)
{
	size_t i;
	int l, x, nl, ne;

	for (i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		nl = r->scope == SC_VIT     ? hp->vit.n_layers
		     : r->scope == SC_MODEL ? 1
		                            : hp->n_layers;
		ne = r->scope == SC_EXPERT ? hp->n_experts : 1;
		for (l = 0; l < nl; l++) {
			for (x = 0; x < ne; x++) {
				void *base = w;

				if (*n_claimed >= cap)
					return err_set(e, "too many tensors");
				if (r->scope == SC_VIT)
					base = &w->vit[l];
				else if (r->scope == SC_LM)
					base = &w->lm[l];
				else if (r->scope == SC_EXPERT)
					base = &w->lm[l].experts[x];
				if (load_row(w, st, hp, r, base, l, x, to_bf16,
				             claimed, n_claimed, e) == -1)
					return -1;
			}
		}
	}
	return 0;
}

int
weights_load(struct weights *w, const struct st *st, const struct hparams *hp,
             bool to_bf16, struct err *e)
{
	const struct st_tensor **claimed = NULL;
	size_t n_claimed = 0, cap, i, n;
	bool moe = hp->arch == HP_ARCH_OLMOE;
	int l, rc = -1;

	memset(w, 0, sizeof(*w));
	if (moe && hp->schema != HP_SCHEMA_MOLMOE)
		return err_set(e,
		               "MoE model with the MolmoConfig schema is not "
		               "supported");
	if (hp->weight_tying)
		return err_set(e,
		               "weight_tying: tied LM heads are not supported");
	w->vit = xcalloc((size_t)hp->vit.n_layers, sizeof(*w->vit));
	w->lm = xcalloc((size_t)hp->n_layers, sizeof(*w->lm));
	w->n_lm = hp->n_layers;
	if (moe)
		for (l = 0; l < hp->n_layers; l++)
			w->lm[l].experts = xcalloc((size_t)hp->n_experts,
			                           sizeof(*w->lm[l].experts));
	n = st_count(st);
	cap = n + 1;
	claimed = xcalloc(cap, sizeof(*claimed));
	if (load_table(w, st, hp, vision_rows, NROWS(vision_rows), to_bf16,
	               claimed, &n_claimed, cap, e) == -1)
		goto out;
	if (moe) {
		if (load_table(w, st, hp, moe_rows, NROWS(moe_rows), to_bf16,
		               claimed, &n_claimed, cap, e) == -1)
			goto out;
	} else {
		if (load_table(w, st, hp, dense_rows, NROWS(dense_rows),
		               to_bf16, claimed, &n_claimed, cap, e) == -1)
			goto out;
	}
	/* Nothing left over: every tensor of the checkpoint is claimed. */
	qsort(claimed, n_claimed, sizeof(*claimed), cmp_ptr);
	for (i = 0; i < n; i++) {
		const struct st_tensor *t = st_at(st, i);

		if (str_has_suffix(t->name, "rotary_emb.inv_freq"))
			continue; /* buffers some exporters save (spec §1.6) */
		if (bsearch(&t, claimed, n_claimed, sizeof(*claimed),
		            cmp_ptr) == NULL) {
			err_set(e, "tensor %s: not used by a %s model", t->name,
			        hparams_arch_name(hp->arch));
			goto out;
		}
	}
	rc = 0;
out:
	free(claimed);
	return rc;
}

void
weights_fini(struct weights *w)
{
	int i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_owned; i++)
		free(w->owned[i]);
	free(w->owned);
	if (w->lm != NULL)
		for (i = 0; i < w->n_lm; i++)
			free(w->lm[i].experts);
	free(w->lm);
	free(w->vit);
	memset(w, 0, sizeof(*w));
}
