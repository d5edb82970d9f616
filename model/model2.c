/* SPDX-License-Identifier: ISC */
/*
 * model2.c: the Molmo 2 / MolmoPoint engine's loader and request loop
 * (docs/molmo2.md §2, §3, §7-§11): config.json (strict about the options
 * the architecture fixes), the weight table, the session's buffers, and
 * model2_run: preprocess (prep2.c) → ViT per crop → connector → embeddings
 * with features added at <im_patch> (and, MolmoPoint, <im_low>) → prefill
 * with the prefix-LM mask → greedy decode, with the MolmoPoint head and its
 * logits processor when the checkpoint has one.
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/model2.h"
#include "model/model_impl.h" /* gen_argmax */
#include "model/tok.h"
#include "model/vocab_map.h"
#include "util/clock.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define MODEL2_TEXT_MAX   (1u << 20)
#define MODEL2_MAX_POINTS 256

/* ---- config.json ---- */

static int
jint(json_t *o, const char *sec, const char *k, int lo, int hi, int *v,
     struct err *e)
{
	json_t *j = json_object_get(o, k);

	if (!json_is_integer(j) || json_integer_value(j) < lo ||
	    json_integer_value(j) > hi)
		return err_set(e,
		               "config.json: %s%s: must be an integer in "
		               "[%d, %d]",
		               sec, k, lo, hi);
	*v = (int)json_integer_value(j);
	return 0;
}

/* jint, but an absent or null key gives def (fields the released configs
 * may leave out: head sizes, kv heads, extra vocabulary). */
static int
jint_or(json_t *o, const char *sec, const char *k, int lo, int hi, int def,
        int *v, struct err *e)
{
	json_t *j = json_object_get(o, k);

	if (j == NULL || json_is_null(j)) {
		*v = def;
		return 0;
	}
	return jint(o, sec, k, lo, hi, v, e);
}

static int
jnum(json_t *o, const char *sec, const char *k, double lo, double hi, double *v,
     struct err *e)
{
	json_t *j = json_object_get(o, k);

	if (!json_is_number(j) || json_number_value(j) < lo ||
	    json_number_value(j) > hi)
		return err_set(e,
		               "config.json: %s%s: must be a number in "
		               "[%g, %g]",
		               sec, k, lo, hi);
	*v = json_number_value(j);
	return 0;
}

/* Optional boolean key that must equal want when present. */
static int
jbool_is(json_t *o, const char *sec, const char *k, bool want, struct err *e)
{
	json_t *j = json_object_get(o, k);

	if (j == NULL || json_is_null(j))
		return 0;
	if (!json_is_boolean(j) || json_is_true(j) != want)
		return err_set(e, "config.json: %s%s: only %s is supported",
		               sec, k, want ? "true" : "false");
	return 0;
}

/* Optional string key that must equal want when present. */
static int
jstr_is(json_t *o, const char *sec, const char *k, const char *want,
        struct err *e)
{
	json_t *j = json_object_get(o, k);

	if (j == NULL || json_is_null(j))
		return 0;
	if (!json_is_string(j) || strcmp(json_string_value(j), want) != 0)
		return err_set(e, "config.json: %s%s: only \"%s\" is supported",
		               sec, k, want);
	return 0;
}

static int
parse_hp(struct model2_hp *hp, json_t *root, struct err *e)
{
	json_t *v = json_object_get(root, "vit_config");
	json_t *a = json_object_get(root, "adapter_config");
	json_t *t = json_object_get(root, "text_config");
	json_t *mt = json_object_get(root, "model_type"), *j;
	double x;
	int sz[2], n = 0;
	size_t i;

	memset(hp, 0, sizeof(*hp));
	if (!json_is_string(mt))
		return err_set(e, "config.json: model_type: missing");
	if (strcmp(json_string_value(mt), "molmo_point") == 0)
		hp->point = true;
	else if (strcmp(json_string_value(mt), "molmo2") != 0)
		return err_set(e,
		               "config.json: model_type \"%s\": not a "
		               "Molmo 2 checkpoint",
		               json_string_value(mt));
	if (!json_is_object(v) || !json_is_object(a) || !json_is_object(t))
		return err_set(e, "config.json: vit_config, adapter_config and "
		                  "text_config must be objects");
	/* vision */
	if (jint(v, "vit_config.", "hidden_size", 1, 65536, &hp->vd, e) ||
	    jint(v, "vit_config.", "num_attention_heads", 1, 1024, &hp->v_heads,
	         e) ||
	    jint_or(v, "vit_config.", "head_dim", 1, 4096,
	            hp->vd / (hp->v_heads > 0 ? hp->v_heads : 1), &hp->v_hd,
	            e) ||
	    jint(v, "vit_config.", "num_hidden_layers", 1, 1024, &hp->v_layers,
	         e) ||
	    jint(v, "vit_config.", "intermediate_size", 1, 1 << 20, &hp->v_mlp,
	         e) ||
	    jint(v, "vit_config.", "image_num_pos", 1, 1 << 20, &hp->v_npos,
	         e) ||
	    jint(v, "vit_config.", "image_patch_size", 1, 256, &hp->patch, e) ||
	    jnum(v, "vit_config.", "layer_norm_eps", 0, 1, &x, e))
		return -1;
	hp->v_eps = (float)x;
	if (jstr_is(v, "vit_config.", "hidden_act", "gelu_pytorch_tanh", e))
		return -1;
	j = json_object_get(v, "image_default_input_size");
	if (json_array_size(j) != 2)
		return err_set(e, "config.json: vit_config.image_default_input_"
		                  "size: must be [h, w]");
	for (i = 0; i < 2; i++) {
		json_t *q = json_array_get(j, i);
		if (!json_is_integer(q) || json_integer_value(q) < 1 ||
		    json_integer_value(q) > 8192)
			return err_set(e, "config.json: vit_config.image_"
			                  "default_input_size: bad size");
		sz[i] = (int)json_integer_value(q);
	}
	if (sz[0] != sz[1] || sz[0] % hp->patch != 0 ||
	    (sz[0] / hp->patch) * (sz[0] / hp->patch) != hp->v_npos)
		return err_set(e, "config.json: vit_config: crops must be "
		                  "square, a multiple of the patch and match "
		                  "image_num_pos");
	hp->crop = sz[0];
	if (hp->v_heads * hp->v_hd != hp->vd)
		return err_set(e, "config.json: vit_config: heads x head_dim "
		                  "!= hidden_size");
	/* adapter */
	j = json_object_get(a, "vit_layers");
	if (!json_is_array(j) || json_array_size(j) < 1 ||
	    json_array_size(j) > MODEL2_MAX_VIT_LAYERS)
		return err_set(e,
		               "config.json: adapter_config.vit_layers: "
		               "need 1..%d entries",
		               MODEL2_MAX_VIT_LAYERS);
	json_array_foreach(j, i, mt)
	{
		if (!json_is_integer(mt))
			return err_set(e, "config.json: adapter_config.vit_"
			                  "layers: integers expected");
		hp->vit_layers[n++] = (int)json_integer_value(mt);
	}
	hp->n_vit_layers = n;
	if (jint(a, "adapter_config.", "hidden_size", 1, 65536, &hp->ad, e) ||
	    jint(a, "adapter_config.", "num_attention_heads", 1, 1024,
	         &hp->a_heads, e) ||
	    jint_or(a, "adapter_config.", "head_dim", 1, 4096,
	            hp->ad / (hp->a_heads > 0 ? hp->a_heads : 1), &hp->a_hd,
	            e) ||
	    jint(a, "adapter_config.", "intermediate_size", 1, 1 << 20,
	         &hp->a_inter, e) ||
	    jstr_is(a, "adapter_config.", "hidden_act", "silu", e))
		return -1;
	if (hp->a_heads * hp->a_hd != hp->ad)
		return err_set(e, "config.json: adapter_config: heads x "
		                  "head_dim != hidden_size");
	j = json_object_get(a, "pooling_attention_mask");
	hp->a_mask = j == NULL || json_is_true(j);
	j = json_object_get(a, "attention_pooling_out_layer");
	hp->a_wo = hp->point ? json_is_true(j) : true;
	j = json_object_get(a, "positional_embeddings");
	if (j != NULL && !json_is_null(j))
		return err_set(e, "config.json: adapter_config.positional_"
		                  "embeddings: not supported");
	/* text */
	if (jint(t, "text_config.", "hidden_size", 1, 65536, &hp->d, e) ||
	    jint(t, "text_config.", "num_attention_heads", 1, 1024,
	         &hp->n_heads, e) ||
	    jint_or(t, "text_config.", "num_key_value_heads", 1, 1024,
	            hp->n_heads, &hp->n_kv_heads, e) ||
	    jint_or(t, "text_config.", "head_dim", 2, 4096,
	            hp->d / (hp->n_heads > 0 ? hp->n_heads : 1), &hp->hd, e) ||
	    jint(t, "text_config.", "num_hidden_layers", 1, 1024, &hp->n_layers,
	         e) ||
	    jint(t, "text_config.", "intermediate_size", 1, 1 << 20, &hp->ffn,
	         e) ||
	    jint(t, "text_config.", "vocab_size", 1, 1 << 22, &hp->vocab, e) ||
	    jint_or(t, "text_config.", "additional_vocab_size", 0, 1 << 16, 128,
	            &hp->add_vocab, e) ||
	    jint(t, "text_config.", "max_position_embeddings", 1, 1 << 24,
	         &hp->max_pos, e) ||
	    jnum(t, "text_config.", "layer_norm_eps", 0, 1, &x, e))
		return -1;
	hp->eps = (float)x;
	if (jnum(t, "text_config.", "rope_theta", 1, 1e12, &hp->theta, e) ||
	    jbool_is(t, "text_config.", "qkv_bias", false, e) ||
	    jbool_is(t, "text_config.", "use_qk_norm", true, e) ||
	    jstr_is(t, "text_config.", "qk_norm_type", "qwen3", e) ||
	    jbool_is(t, "text_config.", "norm_after", false, e) ||
	    jstr_is(t, "text_config.", "hidden_act", "silu", e))
		return -1;
	j = json_object_get(t, "rope_scaling");
	if (j != NULL && !json_is_null(j))
		return err_set(e, "config.json: text_config.rope_scaling: "
		                  "not supported");
	if (hp->n_heads % hp->n_kv_heads != 0 || hp->hd < 2 || hp->hd % 2 != 0)
		return err_set(e, "config.json: text_config: heads must be a "
		                  "multiple of kv heads, head_dim even");
	/* ids */
	if (jint(root, "", "image_patch_id", 0, 1 << 22, &hp->im_patch, e))
		return -1;
	hp->im_low = -1;
	if (json_object_get(root, "image_low_res_id") != NULL &&
	    jint(root, "", "image_low_res_id", 0, 1 << 22, &hp->im_low, e))
		return -1;
	if (json_object_get(root, "image_non_indexable_patch_id") != NULL &&
	    jint(root, "", "image_non_indexable_patch_id", 0, 1 << 22,
	         &hp->im_low, e))
		return -1;
	hp->patch_token = hp->subpatch_token = hp->location_token = -1;
	if (!hp->point)
		return 0;
	if (hp->im_low < 0)
		return err_set(e, "config.json: image_non_indexable_patch_id: "
		                  "missing");
	if (jint(root, "", "patch_token_id", 0, 1 << 22, &hp->patch_token, e) ||
	    jint(root, "", "subpatch_token_id", 0, 1 << 22, &hp->subpatch_token,
	         e) ||
	    jint(root, "", "location_token_id", 0, 1 << 22, &hp->location_token,
	         e) ||
	    jint(root, "", "patch_embed_dim", 2, 65536, &hp->pd, e) ||
	    jnum(root, "", "token_prediction_rotary_theta", 1, 1e12,
	         &hp->pt_theta, e) ||
	    jstr_is(root, "", "patch_location", "3x3", e) ||
	    jbool_is(root, "", "no_more_points_class", true, e) ||
	    jstr_is(root, "", "patch_embedding_kind", "image_feature0", e) ||
	    jstr_is(root, "", "embed_selected_vit_patch", "linear", e) ||
	    jbool_is(root, "", "embed_location", false, e) ||
	    jbool_is(root, "", "layer_norm_x", true, e) ||
	    jbool_is(root, "", "norm_logits", true, e) ||
	    jstr_is(root, "", "mask_patches", "always", e) ||
	    jstr_is(root, "", "mask_subpatches", "inference", e) ||
	    jstr_is(root, "", "mask_repeats", "inference", e) ||
	    jstr_is(root, "", "token_prediction_rotary", "one_d", e))
		return -1;
	if (hp->pd % 2 != 0)
		return err_set(e, "config.json: patch_embed_dim must be even");
	return 0;
}

static json_t *
load_json(const char *dir, const char *name, struct err *e)
{
	char path[4096];
	json_error_t je;
	json_t *j;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		err_set(e, "%s: path too long", dir);
		return NULL;
	}
	j = json_load_file(path, 0, &je);
	if (j == NULL)
		err_set(e, "%s: line %d: %s", path, je.line, je.text);
	return j;
}

bool
model2_is_molmo2(const char *dir)
{
	struct err e;
	json_t *j = load_json(dir, "config.json", &e), *t;
	bool r = false;

	if (j == NULL)
		return false;
	t = json_object_get(j, "model_type");
	r = json_is_string(t) &&
	    (strcmp(json_string_value(t), "molmo2") == 0 ||
	     strcmp(json_string_value(t), "molmo_point") == 0);
	json_decref(j);
	return r;
}

/* ---- weights ---- */

static void *
own(struct model2_w *w, size_t bytes)
{
	void *p = xmalloc(bytes ? bytes : 1);

	if (w->n_owned == w->cap_owned) {
		w->cap_owned = w->cap_owned ? 2 * w->cap_owned : 64;
		w->owned = xreallocarray(w->owned, (size_t)w->cap_owned,
		                         sizeof(void *));
	}
	w->owned[w->n_owned++] = p;
	w->bytes_copied += bytes;
	return p;
}

struct loader {
	const struct st *st;
	struct model2_w *w;
	bool bf16;
	int used; /* tensors claimed */
};

static const struct st_tensor *
need(struct loader *L, const char *name, int64_t r, int64_t c, struct err *e)
{
	int64_t shape[2] = {r, c};
	const struct st_tensor *t = st_need(L->st, name, c ? 2 : 1, shape, e);

	if (t == NULL)
		return NULL;
	if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16) {
		err_set(e, "tensor %s: dtype %s not supported", name,
		        st_dtype_name(t->dtype));
		return NULL;
	}
	L->used++;
	return t;
}

static int
mat(struct loader *L, struct kern_mat *m, const char *name, int64_t r,
    int64_t c, struct err *e)
{
	const struct st_tensor *t = need(L, name, r, c, e);
	size_t n = (size_t)r * (size_t)c, i;

	if (t == NULL)
		return -1;
	m->rows = (int)r;
	m->cols = (int)c;
	m->data = t->data;
	m->dtype = t->dtype == ST_F32    ? KERN_F32
	           : t->dtype == ST_BF16 ? KERN_BF16
	                                 : KERN_F16;
	if (L->bf16 && t->dtype == ST_F32) {
		uint16_t *b = own(L->w, n * 2);
		for (i = 0; i < n; i++) {
			float f;
			memcpy(&f, (const char *)t->data + i * 4, 4);
			b[i] = kern_f32_to_bf16_1(f);
		}
		m->data = b;
		m->dtype = KERN_BF16;
	}
	return 0;
}

static int
vec(struct loader *L, float **v, const char *name, int64_t r, int64_t c,
    struct err *e)
{
	const struct st_tensor *t = need(L, name, r, c, e);
	size_t n = (size_t)r * (size_t)(c ? c : 1), i;

	if (t == NULL)
		return -1;
	*v = own(L->w, n * sizeof(float));
	if (t->dtype == ST_F32)
		memcpy(*v, t->data, n * 4);
	else if (t->dtype == ST_BF16)
		kern_bf16_to_f32(*v, t->data, n);
	else
		kern_f16_to_f32(*v, t->data, n);
	if (L->bf16)
		for (i = 0; i < n; i++)
			(*v)[i] = kern_bf16_1(kern_f32_to_bf16_1((*v)[i]));
	return 0;
}

#define NM(...) (snprintf(nm, sizeof(nm), __VA_ARGS__), nm)

static int
load_weights(struct model2 *m, bool bf16, struct err *e)
{
	const struct model2_hp *hp = &m->hp;
	struct model2_w *w = &m->w;
	struct loader L = {m->st, w, bf16, 0};
	const char *vit = hp->point ? "model.vit."
	                            : "model.vision_backbone."
	                              "image_vit.";
	const char *cn =
	    hp->point ? "model.connector." : "model.vision_backbone.";
	char nm[512];
	int vd = hp->vd, fd = m->fd, d = hp->d, l;

	if (mat(&L, &w->patch_w, NM("%spatch_embedding.weight", vit), vd,
	        m->patch_dim, e) ||
	    vec(&L, &w->patch_b, NM("%spatch_embedding.bias", vit), vd, 0, e) ||
	    vec(&L, &w->pos, NM("%spositional_embedding", vit), hp->v_npos, vd,
	        e))
		return -1;
	w->vit = xcalloc((size_t)m->vit_run, sizeof(*w->vit));
	for (l = 0; l < m->vit_run; l++) {
		struct weights_vit_layer *V = &w->vit[l];
		const char *b = "transformer.resblocks";
#define VM(f, n, r, c) mat(&L, &V->f, NM("%s%s.%d.%s", vit, b, l, n), r, c, e)
#define VV(f, n, r)    vec(&L, &V->f, NM("%s%s.%d.%s", vit, b, l, n), r, 0, e)
		if (VM(wq, "attention.wq.weight", vd, vd) ||
		    VM(wk, "attention.wk.weight", vd, vd) ||
		    VM(wv, "attention.wv.weight", vd, vd) ||
		    VM(wo, "attention.wo.weight", vd, vd) ||
		    VV(bq, "attention.wq.bias", vd) ||
		    VV(bk, "attention.wk.bias", vd) ||
		    VV(bv, "attention.wv.bias", vd) ||
		    VV(bo, "attention.wo.bias", vd) ||
		    VM(w1, "feed_forward.w1.weight", hp->v_mlp, vd) ||
		    VV(b1, "feed_forward.w1.bias", hp->v_mlp) ||
		    VM(w2, "feed_forward.w2.weight", vd, hp->v_mlp) ||
		    VV(b2, "feed_forward.w2.bias", vd) ||
		    VV(ln1_w, "attention_norm.weight", vd) ||
		    VV(ln1_b, "attention_norm.bias", vd) ||
		    VV(ln2_w, "ffn_norm.weight", vd) ||
		    VV(ln2_b, "ffn_norm.bias", vd))
			return -1;
#undef VM
#undef VV
	}
	if (mat(&L, &w->pool_wq, NM("%simage_pooling_2d.wq.weight", cn), hp->ad,
	        fd, e) ||
	    mat(&L, &w->pool_wk, NM("%simage_pooling_2d.wk.weight", cn), hp->ad,
	        fd, e) ||
	    mat(&L, &w->pool_wv, NM("%simage_pooling_2d.wv.weight", cn), hp->ad,
	        fd, e) ||
	    vec(&L, &w->pool_bq, NM("%simage_pooling_2d.wq.bias", cn), hp->ad,
	        0, e) ||
	    vec(&L, &w->pool_bk, NM("%simage_pooling_2d.wk.bias", cn), hp->ad,
	        0, e) ||
	    vec(&L, &w->pool_bv, NM("%simage_pooling_2d.wv.bias", cn), hp->ad,
	        0, e))
		return -1;
	if (hp->a_wo &&
	    (mat(&L, &w->pool_wo, NM("%simage_pooling_2d.wo.weight", cn),
	         hp->ad, hp->ad, e) ||
	     vec(&L, &w->pool_bo, NM("%simage_pooling_2d.wo.bias", cn), hp->ad,
	         0, e)))
		return -1;
	if (mat(&L, &w->proj_w1, NM("%simage_projector.w1.weight", cn),
	        hp->a_inter, hp->ad, e) ||
	    mat(&L, &w->proj_w3, NM("%simage_projector.w3.weight", cn),
	        hp->a_inter, hp->ad, e) ||
	    mat(&L, &w->proj_w2, NM("%simage_projector.w2.weight", cn), d,
	        hp->a_inter, e))
		return -1;
	if (mat(&L, &w->wte, "model.transformer.wte.embedding", hp->vocab, d,
	        e) ||
	    (hp->add_vocab > 0 &&
	     mat(&L, &w->wte_new, "model.transformer.wte.new_embedding",
	         hp->add_vocab, d, e)) ||
	    vec(&L, &w->ln_f, "model.transformer.ln_f.weight", d, 0, e))
		return -1;
	w->lm = xcalloc((size_t)hp->n_layers, sizeof(*w->lm));
	for (l = 0; l < hp->n_layers; l++) {
		struct weights_lm_layer *B = &w->lm[l];
		const char *b = "model.transformer.blocks";
#define LM(f, n, r, c) mat(&L, &B->f, NM("%s.%d.%s", b, l, n), r, c, e)
#define LV(f, n, r)    vec(&L, &B->f, NM("%s.%d.%s", b, l, n), r, 0, e)
		if (LM(att_proj, "self_attn.att_proj.weight", m->qkv_dim, d) ||
		    LM(attn_out, "self_attn.attn_out.weight", d,
		       hp->n_heads * hp->hd) ||
		    LV(q_norm, "self_attn.q_norm.weight", hp->hd) ||
		    LV(k_norm, "self_attn.k_norm.weight", hp->hd) ||
		    LV(attn_norm, "attn_norm.weight", d) ||
		    LV(ff_norm, "ff_norm.weight", d) ||
		    LM(ff_proj, "mlp.ff_proj.weight", 2 * hp->ffn, d) ||
		    LM(ff_out, "mlp.ff_out.weight", d, hp->ffn))
			return -1;
#undef LM
#undef LV
	}
	if (!hp->point) {
		if (mat(&L, &w->lm_head, "lm_head.weight", hp->vocab, d, e))
			return -1;
	} else {
		const char *pp = "model.point_predictor.";
		if (mat(&L, &w->lm_head, "lm_head.output_embeddings", hp->vocab,
		        d, e) ||
		    mat(&L, &w->lm_head_new, "lm_head.new_output_embeddings",
		        hp->add_vocab, d, e) ||
		    mat(&L, &w->build_vit, "model.build_vit_embedding.weight",
		        d, fd, e) ||
		    vec(&L, &w->build_vit_b, "model.build_vit_embedding.bias",
		        d, 0, e) ||
		    vec(&L, &w->x_norm, NM("%sx_norm.weight", pp), d, 0, e) ||
		    mat(&L, &w->patch_q, NM("%spatch_q.weight", pp), hp->pd, d,
		        e) ||
		    vec(&L, &w->patch_q_b, NM("%spatch_q.bias", pp), hp->pd, 0,
		        e) ||
		    mat(&L, &w->patch_k, NM("%spatch_k.weight", pp), hp->pd, d,
		        e) ||
		    vec(&L, &w->patch_k_b, NM("%spatch_k.bias", pp), hp->pd, 0,
		        e) ||
		    mat(&L, &w->subpatch_q, NM("%ssubpatch_q.weight", pp),
		        hp->pd, d, e) ||
		    vec(&L, &w->subpatch_q_b, NM("%ssubpatch_q.bias", pp),
		        hp->pd, 0, e) ||
		    mat(&L, &w->subpatch_k, NM("%ssubpatch_k.weight", pp),
		        hp->pd, fd, e) ||
		    vec(&L, &w->subpatch_k_b, NM("%ssubpatch_k.bias", pp),
		        hp->pd, 0, e) ||
		    mat(&L, &w->loc, NM("%ssubpatch_loc_k.weight", pp),
		        MODEL2_N_LOC, d, e) ||
		    vec(&L, &w->loc_b, NM("%ssubpatch_loc_k.bias", pp),
		        MODEL2_N_LOC, 0, e) ||
		    vec(&L, &w->nmp,
		        NM("%sadd_no_point_class_embed.vector", pp), hp->pd, 0,
		        e))
			return -1;
	}
	if ((size_t)L.used != st_count(m->st))
		return err_set(e,
		               "checkpoint has %zu tensors, a %s model "
		               "uses %d",
		               st_count(m->st),
		               hp->point ? "molmo_point" : "molmo2", L.used);
	return 0;
}

/* ---- open / close ---- */

static void plan(struct model2 *m);

struct model2_request
model2_request_default(void)
{
	struct model2_request r;

	memset(&r, 0, sizeof(r));
	r.prompt = "";
	r.max_new_tokens = 200;
	return r;
}

static int
derive(struct model2 *m, struct err *e)
{
	const struct model2_hp *hp = &m->hp;
	int i, mx = -1;

	for (i = 0; i < hp->n_vit_layers; i++) {
		int k = hp->vit_layers[i];
		k = k < 0 ? hp->v_layers + k : k;
		if (k < 0 || k >= hp->v_layers)
			return err_set(e,
			               "config.json: adapter_config."
			               "vit_layers: %d outside the %d ViT "
			               "layers",
			               hp->vit_layers[i], hp->v_layers);
		m->vit_idx[i] = k;
		mx = k > mx ? k : mx;
	}
	m->vit_run = mx + 1;
	m->n_side = hp->crop / hp->patch;
	m->n_patch = m->n_side * m->n_side;
	m->patch_dim = hp->patch * hp->patch * 3;
	m->fd = hp->n_vit_layers * hp->vd;
	m->kvd = hp->n_kv_heads * hp->hd;
	m->qkv_dim = hp->n_heads * hp->hd + 2 * m->kvd;
	m->n_embed = hp->vocab + hp->add_vocab;
	m->n_text_out = hp->point ? m->n_embed : hp->vocab;
	{
		const int32_t chk[] = {
		    hp->im_patch,           hp->im_low,         hp->patch_token,
		    hp->subpatch_token,     hp->location_token, m->ids.bos,
		    m->ids.im_start,        m->ids.im_end,      m->ids.im_col,
		    m->ids.low_res_im_start};
		for (i = 0; i < (int)(sizeof(chk) / sizeof(chk[0])); i++)
			if (chk[i] >= m->n_embed)
				return err_set(e,
				               "config.json: token id %d "
				               "outside the %d embedding rows",
				               (int)chk[i], m->n_embed);
	}
	if (m->pcfg.crop != hp->crop || m->pcfg.patch != hp->patch)
		return err_set(e,
		               "processor crop %d / patch %d differ from "
		               "the ViT's %d / %d",
		               m->pcfg.crop, m->pcfg.patch, hp->crop,
		               hp->patch);
	return 0;
}

static int
read_eos(struct model2 *m, const char *dir)
{
	struct err e;
	json_t *j = load_json(dir, "generation_config.json", &e), *t;

	m->eos_id = -1;
	if (j == NULL)
		return 0;
	t = json_object_get(j, "eos_token_id");
	if (json_is_array(t))
		t = json_array_get(t, 0);
	if (json_is_integer(t))
		m->eos_id = (int)json_integer_value(t);
	json_decref(j);
	return 0;
}

struct model2 *
model2_open(const char *dir, const struct model_params *p,
            const char *tokenizer, const char *vmap, struct err *e)
{
	struct model2 *m = xcalloc(1, sizeof(*m));
	json_t *root = load_json(dir, "config.json", e);
	char path[4096];

	m->params = p != NULL ? *p : model_params_default();
	if (root == NULL)
		goto fail;
	if (parse_hp(&m->hp, root, e) == -1) {
		json_decref(root);
		goto fail;
	}
	json_decref(root);
	if (prep2_config_load(dir, &m->pcfg, e) == -1 ||
	    prep2_ids_load(dir, &m->ids, e) == -1 || derive(m, e) == -1)
		goto fail;
	read_eos(m, dir);
	m->st = st_open(dir, e);
	if (m->st == NULL)
		goto fail;
	if (load_weights(m, m->params.weights == MODEL_WEIGHTS_BF16, e) == -1) {
		err_prefix(e, "%s", dir);
		goto fail;
	}
	if (tokenizer == NULL) {
		snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			fclose(f);
			tokenizer = dir;
		}
	}
	if (tokenizer != NULL && (m->tok = tok_open(tokenizer, e)) == NULL)
		goto fail;
	if (vmap != NULL && (m->vmap = vocab_map_open(vmap, e)) == NULL)
		goto fail;
	plan(m);
	return m;
fail:
	model2_close(m);
	return NULL;
}

void
model2_close(struct model2 *m)
{
	int i;

	if (m == NULL)
		return;
	for (i = 0; i < m->w.n_owned; i++)
		free(m->w.owned[i]);
	free(m->w.owned);
	free(m->w.vit);
	free(m->w.lm);
	st_close(m->st);
	tok_close(m->tok);
	vocab_map_close(m->vmap);
	free(m);
}

void
model2_describe(const struct model2 *m, char *buf, size_t n)
{
	const struct model2_hp *hp = &m->hp;

	snprintf(buf, n,
	         "%s qwen3 d=%d layers=%d heads=%d/%d ffn=%d vocab=%d+%d "
	         "vit %dx%d (%d run) adapter %d",
	         hp->point ? "molmo_point" : "molmo2", hp->d, hp->n_layers,
	         hp->n_heads, hp->n_kv_heads, hp->ffn, hp->vocab, hp->add_vocab,
	         hp->v_layers, hp->vd, m->vit_run, hp->ad);
}

/* ---- sessions ---- */

static int max_tokens(const struct model2 *m, int max_crops);

/* Context length of a session for images of mt pooled tokens. */
static int
ctx_len(const struct model2 *m, int mt)
{
	int n = m->params.n_ctx > 0 ? m->params.n_ctx : 2 * mt + 1024;

	return n > m->hp.max_pos ? m->hp.max_pos : n;
}

/* The memory plan of one session with the params' max_crops (the main
 * buffers of model2_session_new). */
static void
plan(struct model2 *m)
{
	const struct model2_hp *hp = &m->hp;
	int mc =
	    m->params.max_crops > 0 ? m->params.max_crops : m->pcfg.max_crops;
	uint64_t mt = (uint64_t)max_tokens(m, mc), nc = ctx_len(m, (int)mt);
	uint64_t np = (uint64_t)m->n_patch, ch = m->params.prefill_chunk > 0
	                                             ? m->params.prefill_chunk
	                                             : 256;
	uint64_t grp = (uint64_t)(hp->n_heads / hp->n_kv_heads), a;

	a = np * (6 * (uint64_t)hp->vd + hp->v_mlp) +
	    (uint64_t)(mc + 1) * np * m->fd + mt * (hp->ad + 2 * hp->d) +
	    nc * 2 * hp->d + ch * (4 * hp->d + m->qkv_dim + 3 * hp->ffn) +
	    (np * np > grp * ch * nc ? np * np : grp * ch * nc) +
	    (hp->point ? mt * 5 * (uint64_t)hp->pd : 0);
	m->mem.weights_mapped = st_mapped_bytes(m->st);
	m->mem.weights_copied = m->w.bytes_copied;
	m->mem.kv_cache = 2 * (uint64_t)hp->n_layers * m->kvd * nc * 4;
	m->mem.activations = a * 4;
	m->mem.total = m->mem.weights_mapped + m->mem.weights_copied +
	               m->mem.kv_cache + m->mem.activations;
}

/* Most pooled tokens of an image with at most max_crops hi-res crops. */
static int
max_tokens(const struct model2 *m, int max_crops)
{
	const struct prep2_config *c = &m->pcfg;
	int side = c->crop / c->patch, win = side - c->margin[0] - c->margin[1];
	int lo = ((side + c->pool_h - 1) / c->pool_h) *
	         ((side + c->pool_w - 1) / c->pool_w);
	int best = 0, r, k;

	for (r = 1; r <= max_crops; r++)
		for (k = 1; r * k <= max_crops; k++) {
			int gh = r * win + c->margin[0] + c->margin[1];
			int gw = k * win + c->margin[0] + c->margin[1];
			int t = ((gh + c->pool_h - 1) / c->pool_h) *
			        ((gw + c->pool_w - 1) / c->pool_w);
			best = t > best ? t : best;
		}
	return lo + best;
}

static float *
fbuf(size_t n, uint64_t *acc)
{
	*acc += n * sizeof(float);
	return xcalloc(n ? n : 1, sizeof(float));
}

struct model2_session *
model2_session_new(struct model2 *m, int max_crops, struct err *e)
{
	const struct model2_hp *hp = &m->hp;
	struct model2_session *s;
	uint64_t a = 0;
	size_t np, d = (size_t)hp->d, ch, grp, nctx, hdm, cmax, pd;

	if (max_crops <= 0)
		max_crops = m->pcfg.max_crops;
	if (max_crops > PREP2_MAX_CROPS) {
		err_set(e, "max_crops %d: at most %d", max_crops,
		        PREP2_MAX_CROPS);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->m = m;
	s->max_crops = max_crops;
	s->max_tok = max_tokens(m, max_crops);
	s->n_threads = m->params.n_threads;
	s->chunk = m->params.prefill_chunk > 0 ? m->params.prefill_chunk : 256;
	s->n_ctx = ctx_len(m, s->max_tok);
	s->pool = pool_new(s->n_threads, e);
	if (s->pool == NULL)
		goto fail;
	s->prep = prep2_new(&m->pcfg, e);
	if (s->prep == NULL)
		goto fail;
	np = (size_t)m->n_patch;
	nctx = (size_t)s->n_ctx;
	ch = (size_t)s->chunk;
	grp = (size_t)(hp->n_heads / hp->n_kv_heads);
	hdm = (size_t)(hp->hd > hp->v_hd ? hp->hd : hp->v_hd);
	cmax = np * np > grp * ch * nctx ? np * np : grp * ch * nctx;
	s->vx = fbuf(np * hp->vd, &a);
	s->vh = fbuf(np * hp->vd, &a);
	s->vq = fbuf(np * hp->vd, &a);
	s->vk = fbuf(np * hp->vd, &a);
	s->vv = fbuf(np * hp->vd, &a);
	s->va = fbuf(np * hp->vd, &a);
	s->vm = fbuf(np * hp->v_mlp, &a);
	s->feats = fbuf((size_t)(max_crops + 1) * np * m->fd, &a);
	s->cv = fbuf((size_t)MODEL2_CONN_BATCH * 4 * m->fd, &a);
	s->cq = fbuf((size_t)MODEL2_CONN_BATCH * m->fd, &a);
	s->pq = fbuf((size_t)MODEL2_CONN_BATCH * hp->ad, &a);
	s->pk = fbuf((size_t)MODEL2_CONN_BATCH * 4 * hp->ad, &a);
	s->pv = fbuf((size_t)MODEL2_CONN_BATCH * 4 * hp->ad, &a);
	s->pa = fbuf((size_t)MODEL2_CONN_BATCH * hp->ad, &a);
	s->po = fbuf((size_t)MODEL2_CONN_BATCH * hp->ad, &a);
	s->pg = fbuf((size_t)MODEL2_CONN_BATCH * hp->a_inter, &a);
	s->pu = fbuf((size_t)MODEL2_CONN_BATCH * hp->a_inter, &a);
	s->pooled = fbuf((size_t)s->max_tok * hp->ad, &a);
	s->conn = fbuf((size_t)s->max_tok * d, &a);
	s->x = fbuf(nctx * d, &a);
	s->qall = fbuf(nctx * (size_t)hp->n_heads * hp->hd, &a);
	s->h = fbuf(ch * d, &a);
	s->qkv = fbuf(ch * m->qkv_dim, &a);
	s->att = fbuf(ch * (size_t)hp->n_heads * hp->hd, &a);
	s->o = fbuf(ch * d, &a);
	s->ff = fbuf(ch * 2 * hp->ffn, &a);
	s->act = fbuf(ch * hp->ffn, &a);
	s->aq = fbuf((np > grp * ch ? np : grp * ch) * hdm, &a);
	s->ao = fbuf((np > grp * ch ? np : grp * ch) * hdm, &a);
	s->ak = fbuf(np * hdm, &a);
	s->avt = fbuf(hdm * (np > nctx ? np : nctx), &a);
	s->as = fbuf(cmax, &a);
	s->rope_cos = fbuf(nctx * hp->hd / 2, &a);
	s->rope_sin = fbuf(nctx * hp->hd / 2, &a);
	s->hlast = fbuf(d, &a);
	s->xlast = fbuf(d, &a);
	s->emb1 = fbuf(d, &a);
	s->logits = fbuf((size_t)m->n_text_out + s->max_tok + 14, &a);
	s->first_logits = fbuf((size_t)m->n_text_out + s->max_tok + 14, &a);
	s->kcache = fbuf((size_t)hp->n_layers * m->kvd * nctx, &a);
	s->vcache = fbuf((size_t)hp->n_layers * m->kvd * nctx, &a);
	pd = hp->point ? (size_t)hp->pd : 1;
	s->patch_k = fbuf(((size_t)s->max_tok + 1) * pd, &a);
	s->subpatch_k = fbuf((size_t)s->max_tok * 4 * pd, &a);
	s->pvec = fbuf(pd + m->fd + d, &a);
	s->pvec2 = fbuf(pd + m->fd + d, &a);
	s->pdots = fbuf((size_t)s->max_tok + 1, &a);
	s->pt.img_pos = xcalloc((size_t)s->max_tok + 1, sizeof(int32_t));
	s->pt.kpos = xcalloc((size_t)s->max_tok + 1, sizeof(int32_t));
	s->pt.sel = xcalloc((size_t)s->max_tok + 1, 1);
	s->pooling = xcalloc((size_t)s->max_tok * 4, sizeof(int32_t));
	s->grid = NULL;
	s->types = xcalloc(nctx + 1, 1);
	s->ids = xcalloc(nctx + 1, sizeof(int32_t));
	s->points = xcalloc(MODEL2_MAX_POINTS * 4, sizeof(double));
	lm3_rope_init(s);
	return s;
fail:
	model2_session_free(s);
	return NULL;
}

void
model2_session_free(struct model2_session *s)
{
	if (s == NULL)
		return;
	pool_free(s->pool);
	prep2_free(s->prep);
	free(s->vx), free(s->vh), free(s->vq), free(s->vk), free(s->vv);
	free(s->va), free(s->vm), free(s->feats);
	free(s->cv), free(s->cq), free(s->pq), free(s->pk), free(s->pv);
	free(s->pa), free(s->po), free(s->pg), free(s->pu);
	free(s->pooled), free(s->conn);
	free(s->x), free(s->qall), free(s->h), free(s->qkv), free(s->att);
	free(s->o), free(s->ff), free(s->act);
	free(s->aq), free(s->ao), free(s->ak), free(s->avt), free(s->as);
	free(s->rope_cos), free(s->rope_sin), free(s->hlast), free(s->xlast);
	free(s->emb1), free(s->logits), free(s->first_logits);
	free(s->kcache), free(s->vcache);
	free(s->patch_k), free(s->subpatch_k), free(s->pvec), free(s->pvec2);
	free(s->pdots);
	free(s->pt.img_pos), free(s->pt.kpos), free(s->pt.sel);
	free(s->pooling), free(s->grid), free(s->types), free(s->ids);
	free(s->points), free(s->text);
	free(s);
}

int
model2_n_logits(const struct model2_session *s)
{
	return s->m->hp.point ? s->m->n_text_out + s->n_tok + 1 + MODEL2_N_SUB +
	                            MODEL2_N_LOC
	                      : s->m->n_text_out;
}

const float *
model2_tensor(const struct model2_session *s, enum model_tensor which,
              int64_t shape[3], int *ndim)
{
	const struct model2 *m = s->m;
	bool img = s->n_crops > 0;

	switch (which) {
	case MODEL_T_VIT_FEATURES:
		shape[0] = s->n_crops;
		shape[1] = m->n_patch;
		shape[2] = m->fd;
		*ndim = 3;
		return img ? s->feats : NULL;
	case MODEL_T_POOLED:
		shape[0] = s->n_tok;
		shape[1] = m->hp.ad;
		*ndim = 2;
		return img ? s->pooled : NULL;
	case MODEL_T_CONNECTOR:
		shape[0] = s->n_tok;
		shape[1] = m->hp.d;
		*ndim = 2;
		return img ? s->conn : NULL;
	case MODEL_T_FIRST_LOGITS:
		shape[0] = model2_n_logits(s);
		*ndim = 1;
		return s->have_first ? s->first_logits : NULL;
	case MODEL_T_PATCH_K:
		shape[0] = s->n_tok + 1;
		shape[1] = m->hp.pd;
		*ndim = 2;
		return img && m->hp.point && s->have_first ? s->patch_k : NULL;
	case MODEL_T_SUBPATCH_K:
		shape[0] = s->n_tok;
		shape[1] = MODEL2_N_SUB;
		shape[2] = m->hp.pd;
		*ndim = 3;
		return img && m->hp.point && s->have_first ? s->subpatch_k
		                                           : NULL;
	}
	return NULL;
}

const double *
model2_points(const struct model2_session *s, int *n)
{
	*n = s->n_points;
	return s->points;
}

/* ---- the request ---- */

static int
cancelled(const struct model2_request *rq)
{
	return rq->cancel != NULL && rq->cancel(rq->cancel_arg) != 0;
}

/* Prompt ids (checkpoint vocabulary) into s->ids. */
static int
build_ids(struct model2_session *s, const struct model2_request *rq,
          const struct prep2_out *po, struct err *e)
{
	const struct model2 *m = s->m;
	size_t len;
	char *text;
	int32_t *tids = NULL;
	ssize_t nt, n;

	if (rq->prompt_ids != NULL) {
		if (rq->n_prompt_ids < 1 || rq->n_prompt_ids > s->n_ctx)
			return err_set(e,
			               "prompt: %d ids, the context holds "
			               "%d",
			               rq->n_prompt_ids, s->n_ctx);
		memcpy(s->ids, rq->prompt_ids,
		       (size_t)rq->n_prompt_ids * sizeof(int32_t));
		s->n_ids = rq->n_prompt_ids;
		return 0;
	}
	if (m->tok == NULL)
		return err_set(e, "no tokenizer: give one with --tokenizer");
	len = prep2_prompt_text(NULL, 0, rq->prompt) + 1;
	text = xmalloc(len);
	prep2_prompt_text(text, len, rq->prompt);
	nt = tok_encode_alloc(m->tok, text, len - 1, &tids, e);
	free(text);
	if (nt < 0)
		return -1;
	if (m->vmap != NULL &&
	    vocab_map_ids_to_ckpt(m->vmap, tids, (size_t)nt, tids, e) == -1) {
		free(tids);
		return -1;
	}
	n = prep2_build_input_ids(&m->pcfg, po, &m->ids, tids, (size_t)nt,
	                          s->ids, (size_t)s->n_ctx, e);
	free(tids);
	if (n < 0) {
		err_prefix(e, "prompt");
		return -1;
	}
	s->n_ids = (int)n;
	return 0;
}

/* The checkpoint id as a real id for the tokenizer, or -1. */
static int32_t
real_id(const struct model2 *m, int32_t id)
{
	if (m->vmap == NULL)
		return id;
	return vocab_map_to_real(m->vmap, id);
}

/* Bytes of one generated id (pieces of ordinary ids; <POINT_k> and
 * Molmo 2's extra tokens written out).  *special set for specials. */
static const char *
piece_of(const struct model2_session *s, int32_t id, char *tmp, size_t ntmp,
         size_t *len, bool *special)
{
	const struct model2 *m = s->m;
	int base = m->n_embed;
	int32_t r;
	const char *p;

	*special = false;
	if (m->hp.point && id >= base) {
		*len = (size_t)snprintf(tmp, ntmp, "<POINT_%d>", id - base);
		return tmp;
	}
	if (m->tok == NULL || (r = real_id(m, id)) < 0) {
		*len = 0;
		return "";
	}
	if (id >= m->hp.vocab)
		*special = true;
	p = tok_piece(m->tok, r, len);
	if (p == NULL) {
		*len = 0;
		return "";
	}
	if (tok_is_special(m->tok, r))
		*special = true;
	return p;
}

static void
decode_text(struct model2_session *s, const int32_t *gen, int n)
{
	struct buf b;
	char tmp[32];
	size_t len;
	bool sp;
	int i;

	free(s->text);
	s->text = NULL;
	buf_init(&b, MODEL2_TEXT_MAX);
	for (i = 0; i < n; i++) {
		const char *p =
		    piece_of(s, gen[i], tmp, sizeof(tmp), &len, &sp);
		if (sp && !(s->m->hp.point && gen[i] >= s->m->n_embed))
			continue;
		if (buf_append(&b, p, len) == -1)
			break;
	}
	buf_append(&b, "", 1);
	s->text = buf_steal(&b, &len);
}

static void
embed(struct model2_session *s, int32_t id, float *out)
{
	if (s->m->hp.point && id >= s->m->n_embed)
		point2_embed(s, id, out);
	else
		lm3_embed(s->m, id, out);
}

int
model2_run(struct model2_session *s, const struct model2_request *rq,
           struct model_result *res, struct err *e)
{
	struct model2 *m = s->m;
	const struct model2_hp *hp = &m->hp;
	struct prep2_out po;
	double t0 = clock_ms(), t1;
	int i, k, nl, n_gen = 0, d = hp->d, mc = rq->max_crops;
	enum model_stop stop = MODEL_STOP_LENGTH;
	bool have_img = rq->image != NULL;

	memset(&s->t, 0, sizeof(s->t));
	memset(res, 0, sizeof(*res));
	s->n_points = 0;
	s->n_tok = 0;
	s->n_crops = 0;
	s->have_first = false;
	if (rq->max_new_tokens < 1)
		return err_set(e, "max_new_tokens %d: must be at least 1",
		               rq->max_new_tokens);
	if (mc <= 0)
		mc = m->pcfg.max_crops < s->max_crops ? m->pcfg.max_crops
		                                      : s->max_crops;
	if (mc > s->max_crops)
		return err_set(e, "max_crops %d: the session allows %d", mc,
		               s->max_crops);
	if (have_img) {
		if (prep2_run(s->prep, rq->image, mc, s->pool, &po, e) == -1)
			return -1;
		if (po.n_tokens > s->max_tok || po.n_crops > s->max_crops + 1)
			return err_set(e,
			               "image: %d pooled tokens, the session "
			               "holds %d",
			               po.n_tokens, s->max_tok);
		s->n_crops = po.n_crops;
		s->n_tok = po.n_tokens;
		memcpy(s->pooling, po.pooling,
		       (size_t)po.n_tokens * 4 * sizeof(int32_t));
		free(s->grid);
		s->grid =
		    xmalloc((size_t)po.grid_h * po.grid_w * sizeof(int32_t));
		memcpy(s->grid, po.patch_grid,
		       (size_t)po.grid_h * po.grid_w * sizeof(int32_t));
		s->grid_h = po.grid_h;
		s->grid_w = po.grid_w;
		s->img_w = rq->image->w;
		s->img_h = rq->image->h;
	}
	if (build_ids(s, rq, have_img ? &po : NULL, e) == -1)
		return -1;
	s->n_prompt = s->n_ids;
	for (i = 0; i < s->n_ids; i++)
		if (s->ids[i] < 0 || s->ids[i] >= m->n_embed)
			return err_set(
			    e,
			    "prompt: id %d (position %d) outside "
			    "the checkpoint's %d embedding rows "
			    "(a pruned vocabulary needs --vocab-map)",
			    (int)s->ids[i], i, m->n_embed);
	if (s->n_prompt + 1 > s->n_ctx)
		return err_set(e, "prompt: %d tokens, the context holds %d",
		               s->n_prompt, s->n_ctx);
	prep2_token_types(&m->ids, s->ids, (size_t)s->n_ids, s->types);
	t1 = clock_ms();
	s->t.preprocess_ms = t1 - t0;
	s->t.n_crops = s->n_crops;
	s->t.n_prompt = s->n_prompt;
	/* vision */
	if (have_img) {
		for (k = 0; k < po.n_crops; k++) {
			if (cancelled(rq)) {
				stop = MODEL_STOP_CANCEL;
				goto done;
			}
			vit2_crop(s,
			          po.pixels +
			              (size_t)k * po.n_patches * po.patch_dim,
			          k);
		}
		conn2_run(s, s->pooling, s->n_tok);
	}
	t0 = clock_ms();
	s->t.vision_ms = t0 - t1;
	/* embeddings, features added at the image positions */
	for (i = 0, k = 0; i < s->n_prompt; i++) {
		int32_t id = s->ids[i];
		float *xi = s->x + (size_t)i * d;
		lm3_embed(m, id, xi);
		if (id == hp->im_patch || (hp->point && id == hp->im_low)) {
			if (k >= s->n_tok)
				return err_set(e,
				               "prompt: more image tokens "
				               "than the image's %d",
				               s->n_tok);
			for (int j = 0; j < d; j++)
				xi[j] += s->conn[(size_t)k * d + j];
			k++;
		}
	}
	if (k != s->n_tok)
		return err_set(e, "prompt: %d image tokens, the image has %d",
		               k, s->n_tok);
	s->n_past = 0;
	lm3_forward(s, s->x, s->n_prompt);
	if (hp->point && point2_prefill(s, s->ids, s->n_prompt) == -1)
		return err_set(e, "prompt: bad image token layout");
	if (hp->point)
		point2_logits(s, -1);
	t1 = clock_ms();
	s->t.prefill_ms = t1 - t0;
	nl = model2_n_logits(s);
	memcpy(s->first_logits, s->logits, (size_t)nl * sizeof(float));
	s->have_first = true;
	for (;;) {
		int32_t id;
		char tmp[32];
		size_t plen;
		bool sp;
		const char *pc;

		if (rq->raw_logits != NULL)
			memcpy(rq->raw_logits + (size_t)n_gen * nl, s->logits,
			       (size_t)nl * sizeof(float));
		if (hp->point)
			point2_process(s, s->logits, s->ids, s->n_ids);
		if (rq->on_logits != NULL)
			rq->on_logits(rq->logits_arg, s->logits, nl, s->ids,
			              s->n_ids);
		if (rq->scores != NULL)
			memcpy(rq->scores + (size_t)n_gen * nl, s->logits,
			       (size_t)nl * sizeof(float));
		id = gen_argmax(s->logits, nl);
		s->ids[s->n_ids++] = id;
		n_gen++;
		if (id == m->eos_id && !rq->ignore_eos) {
			stop = MODEL_STOP_EOS;
			break;
		}
		pc = piece_of(s, id, tmp, sizeof(tmp), &plen, &sp);
		if (rq->on_token != NULL &&
		    rq->on_token(rq->token_arg, id, pc, plen) != 0) {
			stop = MODEL_STOP_CANCEL;
			break;
		}
		if (n_gen >= rq->max_new_tokens) {
			stop = MODEL_STOP_LENGTH;
			break;
		}
		if (s->n_ids >= s->n_ctx) {
			stop = MODEL_STOP_CTX;
			break;
		}
		if (cancelled(rq)) {
			stop = MODEL_STOP_CANCEL;
			break;
		}
		embed(s, id, s->emb1);
		s->types[s->n_past] = 0;
		lm3_forward(s, s->emb1, 1);
		if (hp->point) {
			point2_logits(s, id);
			point2_advance(s, id);
		}
	}
	s->t.decode_ms = clock_ms() - t1;
done : {
	int ng = s->n_ids - s->n_prompt;
	/* EOS is not part of the result */
	if (stop == MODEL_STOP_EOS)
		ng--;
	if (hp->point && have_img)
		point2_decode(s, s->ids + s->n_prompt, ng);
	decode_text(s, s->ids + s->n_prompt, ng);
	res->ids = s->ids + s->n_prompt;
	res->n_ids = ng;
	res->text = s->text;
	res->prompt_ids = s->ids;
	res->n_prompt = s->n_prompt;
	res->stop = stop;
	s->t.n_gen = ng;
	res->t = s->t;
}
	return 0;
}
