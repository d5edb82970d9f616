/* SPDX-License-Identifier: ISC */
/*
 * hparams.c: config.json -> struct hparams, with the values the remote code
 * hard-codes where the file is silent (spec molmo-v1.md §1.2-1.4).
 *
 * Design: the file is parsed with jansson (duplicate keys rejected), and
 * every field goes through one of three readers (get_int, get_num,
 * get_bool) that take the key, the allowed range and a default used when
 * the key is absent or null; a present value of the wrong type or outside
 * the range is an error naming the key.  String options the reference
 * supports only one way ("layer_norm_type": "rms", "rope_impl": "llama")
 * are checked by want_str.  Cross-field checks (heads dividing the width,
 * vit_layers inside the tower, positions matching the crop) come last.
 * The json_t never leaves hparams_parse.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "model/hparams.h"
#include "util/xmalloc.h"

/* Upper bounds on sizes: far above any Molmo (72B: d 8192, I 59136, 80
 * layers, 152064 rows), low enough that products fit in 64 bits. */
#define HP_DIM_MAX     65536
#define HP_FFN_MAX     (1 << 20)
#define HP_LAYERS_MAX  1024
#define HP_HEADS_MAX   1024
#define HP_VOCAB_MAX   (1 << 24)
#define HP_POS_MAX     (1 << 24)
#define HP_EXPERTS_MAX 4096
#define HP_IMAGE_MAX   4096

/* ---- Field readers ---- */

/* The value at key, or NULL when absent or JSON null. */
static json_t *
field(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/*
 * Read integer key from obj into *out, within [min, max]; absent or null
 * gives def.  where is the prefix for messages ("vision_backbone.").
 */
static int
get_int(json_t *obj, const char *where, const char *key, long long min,
        long long max, int def, int *out, struct err *e)
{
	json_t *v = field(obj, key);
	json_int_t x;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return err_set(e, "%s%s: must be an integer in [%lld, %lld]",
		               where, key, min, max);
	x = json_integer_value(v);
	if (x < min || x > max)
		return err_set(e, "%s%s: %lld out of range [%lld, %lld]", where,
		               key, (long long)x, min, max);
	*out = (int)x;
	return 0;
}

/* Read a finite number (integer or real) in [min, max]. */
static int
get_num(json_t *obj, const char *where, const char *key, double min, double max,
        double def, double *out, struct err *e)
{
	json_t *v = field(obj, key);
	double x;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_number(v))
		return err_set(e, "%s%s: must be a number", where, key);
	x = json_number_value(v);
	if (!isfinite(x) || x < min || x > max)
		return err_set(e, "%s%s: %g out of range [%g, %g]", where, key,
		               x, min, max);
	*out = x;
	return 0;
}

static int
get_bool(json_t *obj, const char *where, const char *key, bool def, bool *out,
         struct err *e)
{
	json_t *v = field(obj, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return err_set(e, "%s%s: must be true or false", where, key);
	*out = json_is_true(v);
	return 0;
}

/* Absent/null, or a string equal to one of the '|'-separated choices. */
static int
want_str(json_t *obj, const char *where, const char *key, const char *choices,
         struct err *e)
{
	json_t *v = field(obj, key);
	const char *s, *p, *bar;
	size_t n;

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return err_set(e, "%s%s: must be a string", where, key);
	s = json_string_value(v);
	n = strlen(s);
	for (p = choices;; p = bar + 1) {
		bar = strchr(p, '|');
		if ((size_t)((bar != NULL ? bar : p + strlen(p)) - p) == n &&
		    strncmp(p, s, n) == 0)
			return 0;
		if (bar == NULL)
			break;
	}
	return err_set(e, "%s%s: \"%.40s\" not supported (want %s)", where, key,
	               s, choices);
}

/* Absent/null or false: for reference features we do not implement. */
static int
want_false(json_t *obj, const char *key, struct err *e)
{
	bool b = false;

	if (get_bool(obj, "", key, false, &b, e) == -1)
		return -1;
	if (b)
		return err_set(e, "%s: true is not supported", key);
	return 0;
}

/* Absent or null: for optional features we do not implement. */
static int
want_null(json_t *obj, const char *key, struct err *e)
{
	if (field(obj, key) != NULL)
		return err_set(e, "%s: must be null (not supported)", key);
	return 0;
}

/* ---- Sections ---- */

/* The spec's hard-coded vision tower (§1.3): CLIP ViT-L/14-336, 23 layers. */
static void
vit_defaults(struct hparams_vit *v)
{
	v->image_w = 336;
	v->image_h = 336;
	v->patch_size = 14;
	v->n_pos = 577;
	v->d = 1024;
	v->n_heads = 16;
	v->n_kv_heads = 16;
	v->head_dim = 64;
	v->n_layers = 23;
	v->mlp_dim = 4096;
	v->act = HP_ACT_QUICK_GELU;
	v->norm_eps = 1e-5f;
}

static int
parse_vit(struct hparams *hp, json_t *vb, struct err *e)
{
	static const char w[] = "vision_backbone.";
	struct hparams_vit *v = &hp->vit;
	json_t *sz;
	double eps;

	vit_defaults(v);
	hp->vit_from_config = vb != NULL;
	if (vb == NULL)
		return 0;
	if (!json_is_object(vb))
		return err_set(e, "vision_backbone: must be an object");
	sz = field(vb, "image_default_input_size");
	if (sz != NULL) {
		if (!json_is_array(sz) || json_array_size(sz) != 2 ||
		    !json_is_integer(json_array_get(sz, 0)) ||
		    !json_is_integer(json_array_get(sz, 1)) ||
		    json_integer_value(json_array_get(sz, 0)) < 1 ||
		    json_integer_value(json_array_get(sz, 0)) > HP_IMAGE_MAX ||
		    json_integer_value(json_array_get(sz, 1)) < 1 ||
		    json_integer_value(json_array_get(sz, 1)) > HP_IMAGE_MAX)
			return err_set(e,
			               "%simage_default_input_size: must be "
			               "[height, width] in [1, %d]",
			               w, HP_IMAGE_MAX);
		v->image_h = (int)json_integer_value(json_array_get(sz, 0));
		v->image_w = (int)json_integer_value(json_array_get(sz, 1));
	}
	if (get_int(vb, w, "image_patch_size", 1, 1024, v->patch_size,
	            &v->patch_size, e) == -1 ||
	    get_int(vb, w, "image_emb_dim", 1, HP_DIM_MAX, v->d, &v->d, e) ==
	        -1 ||
	    get_int(vb, w, "image_num_heads", 1, HP_HEADS_MAX, v->n_heads,
	            &v->n_heads, e) == -1 ||
	    get_int(vb, w, "image_num_key_value_heads", 1, HP_HEADS_MAX,
	            v->n_heads, &v->n_kv_heads, e) == -1 ||
	    get_int(vb, w, "image_head_dim", 1, HP_DIM_MAX, v->head_dim,
	            &v->head_dim, e) == -1 ||
	    get_int(vb, w, "image_num_layers", 1, HP_LAYERS_MAX, v->n_layers,
	            &v->n_layers, e) == -1 ||
	    get_int(vb, w, "image_mlp_dim", 1, HP_FFN_MAX, v->mlp_dim,
	            &v->mlp_dim, e) == -1 ||
	    get_int(vb, w, "image_num_pos", 1, HP_POS_MAX, v->n_pos, &v->n_pos,
	            e) == -1 ||
	    get_num(vb, w, "image_norm_eps", 1e-12, 0.1, 1e-5, &eps, e) == -1 ||
	    want_str(vb, w, "image_mlp_activations", "quick_gelu", e) == -1 ||
	    want_str(vb, w, "image_model_type", "openai", e) == -1)
		return -1;
	v->norm_eps = (float)eps;
	return 0;
}

/* Keys of the compact HF MolmoConfig (7B-D, 7B-O, 72B). */
static int
parse_molmo(struct hparams *hp, json_t *root, struct err *e)
{
	double eps, theta, clip;
	int kv;

	hp->schema = HP_SCHEMA_MOLMO;
	if (get_int(root, "", "hidden_size", 1, HP_DIM_MAX, 0, &hp->d_model,
	            e) == -1 ||
	    get_int(root, "", "num_hidden_layers", 1, HP_LAYERS_MAX, 0,
	            &hp->n_layers, e) == -1 ||
	    get_int(root, "", "num_attention_heads", 1, HP_HEADS_MAX, 0,
	            &hp->n_heads, e) == -1 ||
	    get_int(root, "", "num_key_value_heads", 1, HP_HEADS_MAX, 0, &kv,
	            e) == -1 ||
	    get_int(root, "", "intermediate_size", 2, HP_FFN_MAX, 0,
	            &hp->ff_proj_rows, e) == -1 ||
	    get_int(root, "", "vocab_size", 1, HP_VOCAB_MAX, 0, &hp->vocab_size,
	            e) == -1 ||
	    get_int(root, "", "embedding_size", 1, HP_VOCAB_MAX, 0,
	            &hp->embedding_size, e) == -1 ||
	    get_int(root, "", "max_position_embeddings", 1, HP_POS_MAX, 4096,
	            &hp->max_pos, e) == -1 ||
	    get_num(root, "", "layer_norm_eps", 1e-12, 0.1, 1e-5, &eps, e) ==
	        -1 ||
	    get_num(root, "", "rope_theta", 1.0, 1e12, 10000.0, &theta, e) ==
	        -1 ||
	    get_num(root, "", "clip_qkv", 1e-6, 1e9, 0.0, &clip, e) == -1 ||
	    get_bool(root, "", "qkv_bias", false, &hp->qkv_bias, e) == -1 ||
	    get_bool(root, "", "attention_layer_norm", false,
	             &hp->attention_layer_norm, e) == -1 ||
	    get_bool(root, "", "norm_after", false, &hp->norm_after, e) == -1 ||
	    get_bool(root, "", "weight_tying", false, &hp->weight_tying, e) ==
	        -1 ||
	    want_str(root, "", "layer_norm_type", "rms", e) == -1 ||
	    want_false(root, "tie_word_embeddings", e) == -1)
		return -1;
	if (hp->d_model == 0)
		return err_set(e, "hidden_size: missing");
	if (hp->n_layers == 0)
		return err_set(e, "num_hidden_layers: missing");
	if (hp->n_heads == 0)
		return err_set(e, "num_attention_heads: missing");
	if (hp->ff_proj_rows == 0)
		return err_set(e, "intermediate_size: missing");
	if (hp->vocab_size == 0)
		return err_set(e, "vocab_size: missing");
	/* HF MolmoConfig: embedding_size defaults to vocab_size. */
	if (hp->embedding_size == 0)
		hp->embedding_size = hp->vocab_size;
	hp->n_kv_heads = kv != 0 ? kv : hp->n_heads;
	hp->layer_norm_eps = (float)eps;
	hp->rope_theta = theta;
	hp->clip_qkv = (float)clip;
	/* §1.3: hard-coded in MolmoForCausalLM.__init__. */
	hp->additional_vocab_size = 128;
	hp->vit_layers[0] = -2;
	hp->vit_layers[1] = -9;
	hp->n_vit_layers = 2;
	hp->pool_h = 2;
	hp->pool_w = 2;
	if (hp->norm_after || hp->attention_layer_norm)
		hp->arch = HP_ARCH_OLMO;
	else
		hp->arch = HP_ARCH_QWEN2;
	return parse_vit(hp, field(root, "vision_backbone"), e);
}

/* Keys of the training ModelConfig dump (MolmoE-1B). */
static int
parse_molmoe(struct hparams *hp, json_t *root, struct err *e)
{
	double eps, theta, clip;
	int kv, hidden, ratio, hd;
	bool bias;
	json_t *vl, *x;
	size_t i;
	int64_t rows;

	hp->schema = HP_SCHEMA_MOLMOE;
	if (get_int(root, "", "d_model", 1, HP_DIM_MAX, 0, &hp->d_model, e) ==
	        -1 ||
	    get_int(root, "", "n_layers", 1, HP_LAYERS_MAX, 0, &hp->n_layers,
	            e) == -1 ||
	    get_int(root, "", "n_heads", 1, HP_HEADS_MAX, 0, &hp->n_heads, e) ==
	        -1 ||
	    get_int(root, "", "n_kv_heads", 1, HP_HEADS_MAX, 0, &kv, e) == -1 ||
	    get_int(root, "", "head_dim", 1, HP_DIM_MAX, 0, &hd, e) == -1 ||
	    get_int(root, "", "mlp_hidden_size", 2, HP_FFN_MAX, 0, &hidden,
	            e) == -1 ||
	    get_int(root, "", "mlp_ratio", 1, 64, 4, &ratio, e) == -1 ||
	    get_int(root, "", "vocab_size", 1, HP_VOCAB_MAX, 0, &hp->vocab_size,
	            e) == -1 ||
	    get_int(root, "", "embedding_size", 1, HP_VOCAB_MAX, 0,
	            &hp->embedding_size, e) == -1 ||
	    get_int(root, "", "additional_vocab_size", 0, HP_VOCAB_MAX, 128,
	            &hp->additional_vocab_size, e) == -1 ||
	    get_int(root, "", "max_sequence_length", 1, HP_POS_MAX, 4096,
	            &hp->max_pos, e) == -1 ||
	    get_int(root, "", "moe_num_experts", 1, HP_EXPERTS_MAX, 0,
	            &hp->n_experts, e) == -1 ||
	    get_int(root, "", "moe_top_k", 1, HP_EXPERTS_MAX, 0, &hp->top_k,
	            e) == -1 ||
	    get_int(root, "", "image_pooling_h", 1, 64, 2, &hp->pool_h, e) ==
	        -1 ||
	    get_int(root, "", "image_pooling_w", 1, 64, 2, &hp->pool_w, e) ==
	        -1 ||
	    get_int(root, "", "pad_token_id", 0, HP_VOCAB_MAX, -1,
	            &hp->pad_token_id, e) == -1 ||
	    get_num(root, "", "layer_norm_eps", 1e-12, 0.1, 1e-5, &eps, e) ==
	        -1 ||
	    get_num(root, "", "rope_theta", 1.0, 1e12, 10000.0, &theta, e) ==
	        -1 ||
	    get_num(root, "", "clip_qkv", 1e-6, 1e9, 0.0, &clip, e) == -1 ||
	    get_bool(root, "", "qkv_bias", false, &hp->qkv_bias, e) == -1 ||
	    get_bool(root, "", "include_bias", false, &bias, e) == -1 ||
	    get_bool(root, "", "attention_layer_norm", false,
	             &hp->attention_layer_norm, e) == -1 ||
	    get_bool(root, "", "norm_after", false, &hp->norm_after, e) == -1 ||
	    get_bool(root, "", "weight_tying", false, &hp->weight_tying, e) ==
	        -1)
		return -1;
	/* What the MolmoE engine hard-codes: check the file agrees. */
	if (want_str(root, "", "block_type", "moe", e) == -1 ||
	    want_str(root, "", "layer_norm_type", "rms", e) == -1 ||
	    want_str(root, "", "activation_type", "swiglu", e) == -1 ||
	    want_str(root, "", "rope_impl", "llama", e) == -1 ||
	    want_str(root, "", "image_pooling_2d", "attention-meanq", e) ==
	        -1 ||
	    want_str(root, "", "image_projector", "mlp", e) == -1 ||
	    want_str(root, "", "image_padding_embed", "pad_and_partial_pad",
	             e) == -1 ||
	    want_false(root, "alibi", e) == -1 ||
	    want_false(root, "moe_shared_expert", e) == -1 ||
	    want_false(root, "normalize_input_embeds", e) == -1 ||
	    want_false(root, "scale_logits", e) == -1 ||
	    want_false(root, "use_cls_feature", e) == -1 ||
	    want_false(root, "bias_for_layer_norm", e) == -1 ||
	    want_null(root, "attn_logit_softcapping", e) == -1 ||
	    want_null(root, "final_logit_softcapping", e) == -1 ||
	    want_null(root, "multi_query_attention", e) == -1)
		return -1;
	x = field(root, "rope");
	if (x != NULL && !json_is_true(x))
		return err_set(e, "rope: only true is supported");
	if (field(root, "block_type") == NULL)
		return err_set(e, "block_type: missing (want moe)");
	if (hp->d_model == 0)
		return err_set(e, "d_model: missing");
	if (hp->n_layers == 0)
		return err_set(e, "n_layers: missing");
	if (hp->n_heads == 0)
		return err_set(e, "n_heads: missing");
	if (hp->vocab_size == 0)
		return err_set(e, "vocab_size: missing");
	if (hp->n_experts == 0)
		return err_set(e, "moe_num_experts: missing");
	if (hp->top_k == 0)
		return err_set(e, "moe_top_k: missing");
	if (hp->embedding_size == 0)
		hp->embedding_size = hp->vocab_size;
	/* §1.4: mlp_hidden_size, or mlp_ratio * d_model. */
	if (hidden != 0) {
		hp->ff_proj_rows = hidden;
	} else {
		rows = (int64_t)ratio * hp->d_model;
		if (rows > HP_FFN_MAX)
			return err_set(e,
			               "mlp_ratio: %d * d_model %d too large",
			               ratio, hp->d_model);
		hp->ff_proj_rows = (int)rows;
	}
	if (hd != 0 && (int64_t)hd * hp->n_heads != hp->d_model)
		return err_set(e, "head_dim: %d * n_heads %d != d_model %d", hd,
		               hp->n_heads, hp->d_model);
	hp->n_kv_heads = kv != 0 ? kv : hp->n_heads;
	hp->qkv_bias = hp->qkv_bias || bias;
	hp->layer_norm_eps = (float)eps;
	hp->rope_theta = theta;
	hp->clip_qkv = (float)clip;
	hp->arch = HP_ARCH_OLMOE;
	vl = field(root, "vit_layers");
	if (vl == NULL) {
		hp->vit_layers[0] = -2;
		hp->vit_layers[1] = -9;
		hp->n_vit_layers = 2;
	} else {
		if (!json_is_array(vl) || json_array_size(vl) < 1 ||
		    json_array_size(vl) > HP_MAX_VIT_LAYERS)
			return err_set(e,
			               "vit_layers: must be an array of 1 to "
			               "%d integers",
			               HP_MAX_VIT_LAYERS);
		for (i = 0; i < json_array_size(vl); i++) {
			x = json_array_get(vl, i);
			if (!json_is_integer(x) ||
			    json_integer_value(x) < -HP_LAYERS_MAX ||
			    json_integer_value(x) >= HP_LAYERS_MAX)
				return err_set(e,
				               "vit_layers[%zu]: must be an "
				               "integer layer index",
				               i);
			hp->vit_layers[i] = (int)json_integer_value(x);
		}
		hp->n_vit_layers = (int)json_array_size(vl);
	}
	return parse_vit(hp, field(root, "vision_backbone"), e);
}

/* Checks across fields, common to both schemas. */
static int
check(struct hparams *hp, struct err *e)
{
	struct hparams_vit *v = &hp->vit;
	int i, gw, gh;

	if (hp->d_model % hp->n_heads != 0)
		return err_set(e,
		               "%d attention heads do not divide the width %d",
		               hp->n_heads, hp->d_model);
	hp->head_dim = hp->d_model / hp->n_heads;
	if (hp->n_kv_heads > hp->n_heads || hp->n_heads % hp->n_kv_heads != 0)
		return err_set(e, "%d key/value heads do not divide %d heads",
		               hp->n_kv_heads, hp->n_heads);
	if (hp->head_dim % 2 != 0)
		return err_set(e, "head dim %d is odd (RoPE rotates halves)",
		               hp->head_dim);
	if (hp->ff_proj_rows % 2 != 0)
		return err_set(e, "MLP width %d is odd (SwiGLU splits it)",
		               hp->ff_proj_rows);
	hp->ffn_dim = hp->ff_proj_rows / 2;
	hp->proj_dim = hp->ff_proj_rows / 2;
	if (hp->arch == HP_ARCH_OLMOE) {
		if (hp->top_k > hp->n_experts)
			return err_set(e, "moe_top_k %d exceeds %d experts",
			               hp->top_k, hp->n_experts);
		hp->moe_hidden = hp->ffn_dim;
	}
	if (hp->embedding_size < hp->vocab_size)
		return err_set(e,
		               "embedding_size %d is smaller than vocab_size "
		               "%d",
		               hp->embedding_size, hp->vocab_size);
	if (hp->pad_token_id >= hp->embedding_size + hp->additional_vocab_size)
		return err_set(e, "pad_token_id %d outside the embedding",
		               hp->pad_token_id);
	if (hp->weight_tying)
		return err_set(e, "weight_tying: true is not supported");
	/* Vision tower. */
	if ((int64_t)v->n_heads * v->head_dim != v->d)
		return err_set(e, "vision_backbone: %d heads x %d != width %d",
		               v->n_heads, v->head_dim, v->d);
	if (v->n_kv_heads != v->n_heads)
		return err_set(e,
		               "vision_backbone: %d key/value heads != %d "
		               "heads",
		               v->n_kv_heads, v->n_heads);
	if (v->image_w % v->patch_size != 0 || v->image_h % v->patch_size != 0)
		return err_set(e,
		               "vision_backbone: patch %d does not divide "
		               "%dx%d",
		               v->patch_size, v->image_w, v->image_h);
	gw = v->image_w / v->patch_size;
	gh = v->image_h / v->patch_size;
	if ((int64_t)gw * gh + 1 != v->n_pos)
		return err_set(e,
		               "vision_backbone: image_num_pos %d != 1 + "
		               "%dx%d patches",
		               v->n_pos, gw, gh);
	if (gw % hp->pool_w != 0 || gh % hp->pool_h != 0)
		return err_set(e,
		               "pooling %dx%d does not divide the %dx%d patch "
		               "grid",
		               hp->pool_w, hp->pool_h, gw, gh);
	for (i = 0; i < hp->n_vit_layers; i++)
		if (hp->vit_layers[i] < -v->n_layers ||
		    hp->vit_layers[i] >= v->n_layers)
			return err_set(e,
			               "vit_layers[%d] = %d outside the %d ViT "
			               "layers",
			               i, hp->vit_layers[i], v->n_layers);
	return 0;
}

/* ---- API ---- */

int
hparams_parse(struct hparams *hp, const char *json, size_t len, struct err *e)
{
	json_error_t jerr;
	json_t *root;
	const char *mt;
	int rc;

	memset(hp, 0, sizeof(*hp));
	hp->pad_token_id = -1;
	hp->pooling = HP_POOL_ATTENTION_MEANQ;
	hp->projector = HP_PROJ_MLP;
	hp->image_padding = HP_PAD_AND_PARTIAL_PAD;
	if (len > HP_CONFIG_MAX)
		return err_set(e, "config.json: %zu bytes (at most %d)", len,
		               HP_CONFIG_MAX);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return err_set(e, "config.json: line %d column %d: %s",
		               jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return err_set(e, "config.json: not a JSON object");
	}
	mt = json_string_value(json_object_get(root, "model_type"));
	if (mt != NULL &&
	    (strcmp(mt, "molmo2") == 0 || strcmp(mt, "molmo_point") == 0)) {
		/* Molmo 2 configs have their own schema, parsed by model2.c;
		 * model_open sends such checkpoints there */
		err_set(e,
		        "config.json: model_type \"%s\" is a Molmo 2 "
		        "checkpoint, read by model2.h (model_open dispatches "
		        "to it), not by hparams",
		        mt);
		json_decref(root);
		return -1;
	}
	if (mt != NULL && strcmp(mt, "molmo") != 0) {
		err_set(e,
		        "config.json: model_type \"%.40s\" not supported "
		        "(Molmo v1 only)",
		        mt);
		json_decref(root);
		return -1;
	}
	if (json_object_get(root, "d_model") != NULL)
		rc = parse_molmoe(hp, root, e);
	else if (json_object_get(root, "hidden_size") != NULL)
		rc = parse_molmo(hp, root, e);
	else
		rc = err_set(e, "neither hidden_size nor d_model: not a Molmo "
		                "config");
	if (rc == 0)
		rc = check(hp, e);
	json_decref(root);
	if (rc == -1)
		err_prefix(e, "config.json");
	return rc;
}

int
hparams_load(struct hparams *hp, const char *dir, struct err *e)
{
	char path[4096], *buf;
	struct stat sb;
	size_t off = 0;
	ssize_t r;
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", dir) >=
	    sizeof(path))
		return err_set(e, "%s: path too long", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return err_set(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > HP_CONFIG_MAX) {
		close(fd);
		return err_set(e, "%s: not a regular file of at most %d bytes",
		               path, HP_CONFIG_MAX);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (off < (size_t)sb.st_size) {
		r = read(fd, buf + off, (size_t)sb.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			err_set(e, "%s: read: %s", path,
			        r == 0 ? "unexpected end of file"
			               : strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		off += (size_t)r;
	}
	close(fd);
	rc = hparams_parse(hp, buf, off, e);
	free(buf);
	if (rc == -1) {
		/* Replace the bare "config.json" prefix with the path. */
		if (strncmp(e != NULL ? e->msg : "", "config.json: ", 13) ==
		    0) {
			memmove(e->msg, e->msg + 13, strlen(e->msg + 13) + 1);
			err_prefix(e, "%s", path);
		}
		return -1;
	}
	return 0;
}

const char *
hparams_arch_name(enum hp_arch arch)
{
	switch (arch) {
	case HP_ARCH_QWEN2:
		return "qwen2";
	case HP_ARCH_OLMO:
		return "olmo";
	case HP_ARCH_OLMOE:
		return "olmoe";
	}
	return "?";
}
