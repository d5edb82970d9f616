/* SPDX-License-Identifier: ISC */
/*
 * test_model_hparams.c: model/hparams (config.json).
 *
 * The tiny golden configs are compared with the values read here straight
 * from the JSON, and the derived sizes with the tensor shapes of the
 * matching checkpoints; configs shaped like the real 7B-D, 7B-O and
 * MolmoE-1B (without vision_backbone where the real files lack it) must get
 * the spec's hard-coded ViT-L/14-336 values; and a long list of broken
 * configs must be rejected with one line naming the key.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "model/hparams.h"
#include "model/st.h"
#include "tests/tools/testutil.h"
#include "util/xmalloc.h"

/* ---- Helpers ---- */

static json_t *
load_json(const char *rel)
{
	json_error_t jerr;
	json_t *j = json_load_file(tu_shared(rel), 0, &jerr);

	ck_assert_msg(j != NULL, "%s: %s", rel, jerr.text);
	return j;
}

/* An integer from j at key, or def when absent or null. */
static int
jint(json_t *j, const char *key, int def)
{
	json_t *v = json_object_get(j, key);

	return v == NULL || json_is_null(v) ? def : (int)json_integer_value(v);
}

static int
parse_json(struct hparams *hp, json_t *j, struct err *e)
{
	char *txt = json_dumps(j, 0);
	int rc;

	ck_assert_ptr_nonnull(txt);
	rc = hparams_parse(hp, txt, strlen(txt), e);
	free(txt);
	return rc;
}

static int n_bad;

/* j (consumed) must be rejected with a message containing needle. */
static void
expect_bad(json_t *j, const char *needle)
{
	struct hparams hp;
	struct err e;

	e.msg[0] = '\0';
	ck_assert_msg(parse_json(&hp, j, &e) == -1, "accepted (want %s)",
	              needle);
	ck_assert_msg(strncmp(e.msg, "config.json: ", 13) == 0, "%s", e.msg);
	ck_assert_msg(strchr(e.msg, '\n') == NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "'%s' not in: %s", needle,
	              e.msg);
	json_decref(j);
	n_bad++;
}

static void
expect_bad_text(const char *text, size_t len, const char *needle)
{
	struct hparams hp;
	struct err e;

	e.msg[0] = '\0';
	ck_assert_int_eq(hparams_parse(&hp, text, len, &e), -1);
	ck_assert_msg(strchr(e.msg, '\n') == NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "'%s' not in: %s", needle,
	              e.msg);
	n_bad++;
}

/* A copy of golden config rel with key set to v (stolen; NULL deletes). */
static json_t *
with(const char *rel, const char *key, json_t *v)
{
	json_t *j = load_json(rel);

	if (v == NULL)
		json_object_del(j, key);
	else
		json_object_set_new(j, key, v);
	return j;
}

static json_t *
with_vit(const char *rel, const char *key, json_t *v)
{
	json_t *j = load_json(rel);

	json_object_set_new(json_object_get(j, "vision_backbone"), key, v);
	return j;
}

static void
check_vit_hard_coded(const struct hparams_vit *v)
{
	ck_assert_int_eq(v->image_w, 336);
	ck_assert_int_eq(v->image_h, 336);
	ck_assert_int_eq(v->patch_size, 14);
	ck_assert_int_eq(v->n_pos, 577);
	ck_assert_int_eq(v->d, 1024);
	ck_assert_int_eq(v->n_heads, 16);
	ck_assert_int_eq(v->n_kv_heads, 16);
	ck_assert_int_eq(v->head_dim, 64);
	ck_assert_int_eq(v->n_layers, 23);
	ck_assert_int_eq(v->mlp_dim, 4096);
	ck_assert_int_eq(v->act, HP_ACT_QUICK_GELU);
	ck_assert_float_eq_tol(v->norm_eps, 1e-5f, 1e-12f);
}

/* ---- The tiny golden configs ---- */

static const char *const variants[] = {"qwen2-tiny", "olmo-tiny", "moe-tiny"};
static const enum hp_arch arches[] = {HP_ARCH_QWEN2, HP_ARCH_OLMO,
                                      HP_ARCH_OLMOE};

START_TEST(test_hparams_tiny_configs_match_their_files)
{
	char rel[160], dir[128];
	struct hparams hp;
	struct err e;
	json_t *j, *vb;
	bool moe = _i == 2;
	int d, heads, kv;

	snprintf(dir, sizeof(dir), "golden/%s/model", variants[_i]);
	snprintf(rel, sizeof(rel), "%s/config.json", dir);
	ck_assert_msg(hparams_load(&hp, tu_shared(dir), &e) == 0, "%s", e.msg);
	j = load_json(rel);
	d = jint(j, moe ? "d_model" : "hidden_size", -1);
	heads = jint(j, moe ? "n_heads" : "num_attention_heads", -1);
	kv = jint(j, moe ? "n_kv_heads" : "num_key_value_heads", heads);
	ck_assert_int_eq(hp.arch, arches[_i]);
	ck_assert_int_eq(hp.schema, moe ? HP_SCHEMA_MOLMOE : HP_SCHEMA_MOLMO);
	ck_assert_int_eq(hp.d_model, d);
	ck_assert_int_eq(hp.n_heads, heads);
	ck_assert_int_eq(hp.n_kv_heads, kv);
	ck_assert_int_eq(hp.head_dim, d / heads);
	ck_assert_int_eq(hp.n_layers,
	                 jint(j, moe ? "n_layers" : "num_hidden_layers", -1));
	ck_assert_int_eq(hp.vocab_size, jint(j, "vocab_size", -1));
	ck_assert_int_eq(hp.embedding_size, jint(j, "embedding_size", -1));
	ck_assert_int_eq(hp.additional_vocab_size, 128);
	if (moe) {
		ck_assert_int_eq(hp.ff_proj_rows, jint(j, "mlp_ratio", -1) * d);
		ck_assert_int_eq(hp.n_experts, jint(j, "moe_num_experts", -1));
		ck_assert_int_eq(hp.top_k, jint(j, "moe_top_k", -1));
		ck_assert_int_eq(hp.moe_hidden, hp.ffn_dim);
		ck_assert_int_eq(hp.max_pos,
		                 jint(j, "max_sequence_length", -1));
		ck_assert_int_eq(hp.pad_token_id, jint(j, "pad_token_id", -1));
	} else {
		ck_assert_int_eq(hp.ff_proj_rows,
		                 jint(j, "intermediate_size", -1));
		ck_assert_int_eq(hp.n_experts, 0);
		ck_assert_int_eq(hp.moe_hidden, 0);
		ck_assert_int_eq(hp.max_pos,
		                 jint(j, "max_position_embeddings", -1));
		ck_assert_int_eq(hp.pad_token_id, -1);
	}
	ck_assert_int_eq(hp.ffn_dim * 2, hp.ff_proj_rows);
	ck_assert_int_eq(hp.proj_dim, hp.ffn_dim);
	ck_assert(hp.qkv_bias == json_is_true(json_object_get(j, "qkv_bias")));
	ck_assert(hp.norm_after ==
	          json_is_true(json_object_get(j, "norm_after")));
	ck_assert(hp.attention_layer_norm ==
	          json_is_true(json_object_get(j, "attention_layer_norm")));
	ck_assert(!hp.weight_tying);
	ck_assert_float_eq_tol(
	    hp.layer_norm_eps,
	    (float)json_number_value(json_object_get(j, "layer_norm_eps")),
	    1e-12f);
	ck_assert_double_eq(
	    hp.rope_theta, json_number_value(json_object_get(j, "rope_theta")));
	ck_assert_float_eq(hp.clip_qkv, 0.0f);
	ck_assert_int_eq(hp.n_vit_layers, 2);
	ck_assert_int_eq(hp.vit_layers[0], -2);
	ck_assert_int_eq(hp.vit_layers[1], -9);
	ck_assert_int_eq(hp.pool_h, 2);
	ck_assert_int_eq(hp.pool_w, 2);
	/* The vision tower comes from vision_backbone here. */
	vb = json_object_get(j, "vision_backbone");
	ck_assert(hp.vit_from_config);
	ck_assert_int_eq(hp.vit.d, jint(vb, "image_emb_dim", -1));
	ck_assert_int_eq(hp.vit.n_heads, jint(vb, "image_num_heads", -1));
	ck_assert_int_eq(hp.vit.head_dim, jint(vb, "image_head_dim", -1));
	ck_assert_int_eq(hp.vit.n_layers, jint(vb, "image_num_layers", -1));
	ck_assert_int_eq(hp.vit.mlp_dim, jint(vb, "image_mlp_dim", -1));
	ck_assert_int_eq(hp.vit.n_pos, jint(vb, "image_num_pos", -1));
	ck_assert_int_eq(hp.vit.patch_size, jint(vb, "image_patch_size", -1));
	ck_assert_int_eq(hp.vit.image_w, 336);
	ck_assert_float_eq_tol(
	    hp.vit.norm_eps,
	    (float)json_number_value(json_object_get(vb, "image_norm_eps")),
	    1e-12f);
	json_decref(j);
}
END_TEST

/* The sizes derived from config.json agree with the checkpoint's tensors. */
START_TEST(test_hparams_sizes_agree_with_tiny_checkpoints)
{
	char dir[128], name[160];
	struct hparams hp;
	struct err e;
	struct st *s;
	int64_t sh[2];
	bool moe = _i == 2;

	snprintf(dir, sizeof(dir), "golden/%s/model", variants[_i]);
	ck_assert_msg(hparams_load(&hp, tu_shared(dir), &e) == 0, "%s", e.msg);
	s = st_open(tu_shared(dir), &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	sh[0] = hp.embedding_size;
	sh[1] = hp.d_model;
	ck_assert_msg(st_need(s, "model.transformer.wte.embedding", 2, sh, &e),
	              "%s", e.msg);
	sh[0] = hp.additional_vocab_size;
	ck_assert_msg(
	    st_need(s, "model.transformer.wte.new_embedding", 2, sh, &e), "%s",
	    e.msg);
	sh[0] = hp.d_model + 2 * hp.n_kv_heads * hp.head_dim;
	sh[1] = hp.d_model;
	snprintf(name, sizeof(name),
	         "model.transformer.blocks.%d.%satt_proj."
	         "weight",
	         hp.n_layers - 1, moe ? "attn." : "");
	ck_assert_msg(st_need(s, name, 2, sh, &e), "%s", e.msg);
	if (moe) {
		sh[0] = hp.moe_hidden;
		snprintf(name, sizeof(name),
		         "model.transformer.blocks.0.mlp."
		         "experts.%d.gate_proj.weight",
		         hp.n_experts - 1);
		ck_assert_msg(st_need(s, name, 2, sh, &e), "%s", e.msg);
		sh[0] = hp.n_experts;
		ck_assert_msg(st_need(s,
		                      "model.transformer.blocks.0.mlp.gate."
		                      "weight",
		                      2, sh, &e),
		              "%s", e.msg);
	} else {
		sh[0] = hp.ff_proj_rows;
		ck_assert_msg(st_need(s,
		                      "model.transformer.blocks.0.ff_proj."
		                      "weight",
		                      2, sh, &e),
		              "%s", e.msg);
	}
	sh[0] = hp.proj_dim;
	sh[1] = hp.vit.d;
	ck_assert_msg(st_need(s,
	                      "model.vision_backbone.image_projector.w1."
	                      "weight",
	                      2, sh, &e),
	              "%s", e.msg);
	sh[0] = hp.vit.n_pos;
	ck_assert_msg(st_need(s,
	                      "model.vision_backbone.image_vit.positional_"
	                      "embedding",
	                      2, sh, &e),
	              "%s", e.msg);
	sh[0] = hp.vit.d;
	sh[1] = hp.vit.patch_size * hp.vit.patch_size * 3;
	ck_assert_msg(st_need(s,
	                      "model.vision_backbone.image_vit.patch_"
	                      "embedding.weight",
	                      2, sh, &e),
	              "%s", e.msg);
	sh[0] = hp.vit.mlp_dim;
	sh[1] = hp.vit.d;
	snprintf(name, sizeof(name),
	         "model.vision_backbone.image_vit."
	         "transformer.resblocks.%d.feed_forward.w1.weight",
	         hp.vit.n_layers - 1);
	ck_assert_msg(st_need(s, name, 2, sh, &e), "%s", e.msg);
	snprintf(name, sizeof(name),
	         "model.vision_backbone.image_vit."
	         "transformer.resblocks.%d.feed_forward.w1.weight",
	         hp.vit.n_layers);
	ck_assert_ptr_null(st_find(s, name));
	sh[0] = 2;
	sh[1] = hp.vit.d * hp.n_vit_layers;
	ck_assert_msg(st_need(s, "model.vision_backbone.pad_embed", 2, sh, &e),
	              "%s", e.msg);
	st_close(s);
}
END_TEST

/* ---- Real-shaped configs: hard-coded values where the file is silent ---- */

static const char cfg_7b_d[] =
    "{\"architectures\": [\"MolmoForCausalLM\"], \"attention_layer_norm\": "
    "false, \"auto_map\": {\"AutoConfig\": \"config_molmo.MolmoConfig\", "
    "\"AutoModelForCausalLM\": \"modeling_molmo.MolmoForCausalLM\"}, "
    "\"clip_qkv\": null, \"embedding_size\": 152064, \"hidden_size\": 3584, "
    "\"initializer_range\": 0.02, \"intermediate_size\": 37888, "
    "\"layer_norm_eps\": 1e-06, \"layer_norm_type\": \"rms\", "
    "\"max_position_embeddings\": 4096, \"model_type\": \"molmo\", "
    "\"norm_after\": false, \"num_attention_heads\": 28, "
    "\"num_hidden_layers\": 28, \"num_key_value_heads\": 4, \"qkv_bias\": "
    "true, \"rope_theta\": 1000000.0, \"tie_word_embeddings\": false, "
    "\"torch_dtype\": \"float32\", \"transformers_version\": \"4.43.3\", "
    "\"use_cache\": true, \"use_position_ids\": true, \"vocab_size\": 152064, "
    "\"weight_tying\": false}";

START_TEST(test_hparams_7b_d_without_vision_backbone_gets_vit_l14_336)
{
	struct hparams hp;
	struct err e;

	ck_assert_msg(hparams_parse(&hp, cfg_7b_d, strlen(cfg_7b_d), &e) == 0,
	              "%s", e.msg);
	ck_assert_int_eq(hp.arch, HP_ARCH_QWEN2);
	ck_assert_int_eq(hp.d_model, 3584);
	ck_assert_int_eq(hp.n_heads, 28);
	ck_assert_int_eq(hp.n_kv_heads, 4);
	ck_assert_int_eq(hp.head_dim, 128);
	ck_assert_int_eq(hp.n_layers, 28);
	ck_assert_int_eq(hp.ff_proj_rows, 37888);
	ck_assert_int_eq(hp.ffn_dim, 18944);
	ck_assert_int_eq(hp.proj_dim, 18944);
	ck_assert_int_eq(hp.embedding_size, 152064);
	ck_assert_int_eq(hp.additional_vocab_size, 128);
	ck_assert(hp.qkv_bias);
	ck_assert(!hp.norm_after && !hp.attention_layer_norm);
	ck_assert_double_eq(hp.rope_theta, 1e6);
	ck_assert(!hp.vit_from_config);
	check_vit_hard_coded(&hp.vit);
	ck_assert_int_eq(hp.vit_layers[0], -2);
	ck_assert_int_eq(hp.vit_layers[1], -9);
	ck_assert_int_eq(hp.pooling, HP_POOL_ATTENTION_MEANQ);
	ck_assert_int_eq(hp.projector, HP_PROJ_MLP);
	ck_assert_int_eq(hp.image_padding, HP_PAD_AND_PARTIAL_PAD);
	ck_assert_str_eq(hparams_arch_name(hp.arch), "qwen2");
}
END_TEST

START_TEST(test_hparams_7b_o_null_kv_heads_means_mha)
{
	struct hparams hp;
	struct err e;
	json_t *j = json_loads(cfg_7b_d, 0, NULL);

	json_object_set_new(j, "hidden_size", json_integer(4096));
	json_object_set_new(j, "num_hidden_layers", json_integer(32));
	json_object_set_new(j, "num_attention_heads", json_integer(32));
	json_object_set_new(j, "num_key_value_heads", json_null());
	json_object_set_new(j, "intermediate_size", json_integer(22016));
	json_object_set_new(j, "vocab_size", json_integer(100278));
	json_object_set_new(j, "embedding_size", json_integer(100352));
	json_object_set_new(j, "rope_theta", json_real(500000.0));
	json_object_set_new(j, "qkv_bias", json_false());
	json_object_set_new(j, "attention_layer_norm", json_true());
	json_object_set_new(j, "norm_after", json_true());
	ck_assert_msg(parse_json(&hp, j, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(hp.arch, HP_ARCH_OLMO);
	ck_assert_int_eq(hp.n_kv_heads, 32);
	ck_assert_int_eq(hp.head_dim, 128);
	ck_assert_int_eq(hp.ffn_dim, 11008);
	ck_assert(hp.norm_after && hp.attention_layer_norm && !hp.qkv_bias);
	check_vit_hard_coded(&hp.vit);
	json_decref(j);
}
END_TEST

START_TEST(test_hparams_molmoe_1b_shaped_config)
{
	struct hparams hp;
	struct err e;
	json_t *j = load_json("golden/moe-tiny/model/config.json");
	json_t *vb = json_object_get(j, "vision_backbone");

	json_object_set_new(j, "d_model", json_integer(2048));
	json_object_set_new(j, "n_layers", json_integer(16));
	json_object_set_new(j, "n_heads", json_integer(16));
	json_object_set_new(j, "moe_num_experts", json_integer(64));
	json_object_set_new(j, "moe_top_k", json_integer(8));
	json_object_set_new(j, "vocab_size", json_integer(50280));
	json_object_set_new(j, "embedding_size", json_integer(50304));
	json_object_set_new(j, "pad_token_id", json_integer(1));
	json_object_set_new(vb, "image_emb_dim", json_integer(1024));
	json_object_set_new(vb, "image_num_heads", json_integer(16));
	json_object_set_new(vb, "image_num_key_value_heads", json_integer(16));
	json_object_set_new(vb, "image_head_dim", json_integer(64));
	json_object_set_new(vb, "image_num_layers", json_integer(23));
	json_object_set_new(vb, "image_mlp_dim", json_integer(4096));
	ck_assert_msg(parse_json(&hp, j, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(hp.arch, HP_ARCH_OLMOE);
	ck_assert_int_eq(hp.head_dim, 128);
	ck_assert_int_eq(hp.n_kv_heads, 16);
	ck_assert_int_eq(hp.ff_proj_rows, 2048);
	ck_assert_int_eq(hp.moe_hidden, 1024);
	ck_assert_int_eq(hp.proj_dim, 1024);
	ck_assert_int_eq(hp.n_experts, 64);
	ck_assert_int_eq(hp.top_k, 8);
	ck_assert_int_eq(hp.max_pos, 4096);
	check_vit_hard_coded(&hp.vit);
	ck_assert(hp.vit_from_config);
	/* Without vision_backbone and vit_layers: the same, hard-coded. */
	json_object_del(j, "vision_backbone");
	json_object_del(j, "vit_layers");
	json_object_set_new(j, "mlp_hidden_size", json_integer(2048));
	json_object_set_new(j, "mlp_ratio", json_integer(3));
	ck_assert_msg(parse_json(&hp, j, &e) == 0, "%s", e.msg);
	check_vit_hard_coded(&hp.vit);
	ck_assert(!hp.vit_from_config);
	ck_assert_int_eq(hp.ff_proj_rows, 2048); /* mlp_hidden_size wins */
	ck_assert_int_eq(hp.vit_layers[1], -9);
	json_decref(j);
}
END_TEST

/* ---- Rejections ---- */

START_TEST(test_hparams_rejects_bad_configs)
{
	static const char q[] = "golden/qwen2-tiny/model/config.json";
	static const char m[] = "golden/moe-tiny/model/config.json";
	char *big;

	n_bad = 0;
	/* wrong types */
	expect_bad(with(q, "hidden_size", json_string("64")), "hidden_size");
	expect_bad(with(q, "hidden_size", json_real(64.0)), "hidden_size");
	expect_bad(with(q, "num_hidden_layers", json_true()),
	           "num_hidden_layers");
	expect_bad(with(q, "qkv_bias", json_string("yes")), "qkv_bias");
	expect_bad(with(q, "norm_after", json_integer(0)), "norm_after");
	expect_bad(with(q, "rope_theta", json_string("1e6")), "rope_theta");
	expect_bad(with(q, "layer_norm_eps", json_array()), "layer_norm_eps");
	expect_bad(with(q, "vision_backbone", json_integer(5)),
	           "vision_backbone");
	expect_bad(with_vit(q, "image_num_layers", json_string("10")),
	           "vision_backbone.image_num_layers");
	expect_bad(with_vit(q, "image_default_input_size", json_integer(336)),
	           "image_default_input_size");
	/* negative, zero, missing */
	expect_bad(with(q, "hidden_size", json_integer(-64)), "hidden_size");
	expect_bad(with(q, "hidden_size", json_integer(0)), "hidden_size");
	expect_bad(with(q, "hidden_size", NULL), "neither hidden_size");
	expect_bad(with(q, "vocab_size", json_null()), "vocab_size: missing");
	expect_bad(with(q, "intermediate_size", json_integer(-256)),
	           "intermediate_size");
	expect_bad(with(q, "num_key_value_heads", json_integer(-2)),
	           "num_key_value_heads");
	expect_bad(with(q, "layer_norm_eps", json_real(0.0)), "layer_norm_eps");
	expect_bad(with(q, "rope_theta", json_real(-1.0)), "rope_theta");
	expect_bad(with_vit(q, "image_emb_dim", json_integer(-64)),
	           "image_emb_dim");
	/* absurd sizes */
	expect_bad(with(q, "hidden_size", json_integer(1000000000)),
	           "hidden_size");
	expect_bad(with(q, "num_hidden_layers", json_integer(1LL << 40)),
	           "num_hidden_layers");
	expect_bad(with(q, "vocab_size", json_integer(1LL << 31)),
	           "vocab_size");
	expect_bad(with(q, "layer_norm_eps", json_real(5.0)), "layer_norm_eps");
	expect_bad(with(q, "rope_theta", json_real(1e300)), "rope_theta");
	expect_bad(with_vit(q, "image_mlp_dim", json_integer(1LL << 40)),
	           "image_mlp_dim");
	/* heads that do not divide */
	expect_bad(with(q, "num_attention_heads", json_integer(5)),
	           "do not divide the width");
	expect_bad(with(q, "num_key_value_heads", json_integer(3)),
	           "key/value heads");
	expect_bad(with(q, "num_key_value_heads", json_integer(8)),
	           "key/value heads");
	expect_bad(with(q, "num_attention_heads", json_integer(64)),
	           "head dim 1 is odd");
	expect_bad(with(q, "intermediate_size", json_integer(255)), "odd");
	expect_bad(with_vit(q, "image_num_heads", json_integer(3)),
	           "vision_backbone");
	expect_bad(with_vit(q, "image_num_key_value_heads", json_integer(2)),
	           "key/value heads");
	/* inconsistent geometry */
	expect_bad(with(q, "embedding_size", json_integer(100)),
	           "embedding_size");
	expect_bad(with_vit(q, "image_num_pos", json_integer(500)),
	           "image_num_pos");
	expect_bad(with_vit(q, "image_patch_size", json_integer(15)),
	           "patch 15");
	/* architecture options we do not implement */
	expect_bad(with(q, "layer_norm_type", json_string("default")),
	           "layer_norm_type");
	/* Molmo 2 configs are not this schema: hparams refuses them and
	 * says where they go (model2.h; test_model_molmo2 opens them
	 * through model_open's dispatch) */
	expect_bad(with(q, "model_type", json_string("molmo2")),
	           "Molmo 2 checkpoint, read by model2.h");
	expect_bad(with(q, "model_type", json_string("molmo_point")),
	           "Molmo 2 checkpoint");
	expect_bad(with(q, "model_type", json_string("llava")),
	           "Molmo v1 only");
	expect_bad(with(q, "weight_tying", json_true()), "weight_tying");
	expect_bad(with(q, "tie_word_embeddings", json_true()),
	           "tie_word_embeddings");
	expect_bad(with_vit(q, "image_mlp_activations", json_string("gelu")),
	           "image_mlp_activations");
	expect_bad(with(m, "block_type", json_string("sequential")),
	           "block_type");
	expect_bad(with(m, "block_type", NULL), "block_type");
	expect_bad(with(m, "alibi", json_true()), "alibi");
	expect_bad(with(m, "rope_impl", json_string("gpt-neox")), "rope_impl");
	expect_bad(with(m, "moe_shared_expert", json_true()),
	           "moe_shared_expert");
	expect_bad(with(m, "attn_logit_softcapping", json_real(30.0)),
	           "attn_logit_softcapping");
	expect_bad(with(m, "image_pooling_2d", json_string("2x2")),
	           "image_pooling_2d");
	expect_bad(with(m, "moe_top_k", json_integer(9)), "moe_top_k");
	expect_bad(with(m, "moe_num_experts", NULL), "moe_num_experts");
	expect_bad(with(m, "head_dim", json_integer(17)), "head_dim");
	expect_bad(with(m, "vit_layers", json_pack("[i]", -20)), "vit_layers");
	expect_bad(with(m, "vit_layers", json_string("-2,-9")), "vit_layers");
	expect_bad(
	    with(m, "vit_layers", json_pack("[i,i,i,i,i]", -1, -2, -3, -4, -5)),
	    "vit_layers");
	expect_bad(with(m, "pad_token_id", json_integer(100000)),
	           "pad_token_id");
	expect_bad(with(m, "mlp_ratio", json_integer(0)), "mlp_ratio");
	/* not JSON / not an object / not Molmo */
	expect_bad_text("{\"hidden_size\": 64,\n \"hidden_size\": 65}", 37,
	                "duplicate");
	expect_bad_text("{\"hidden_size\": 64,\n \"hidden_size\": 65}", 37,
	                "line 2");
	expect_bad_text("{\"hidden_size\": ", 16, "line 1 column");
	expect_bad_text("[1, 2]", 6, "not a JSON object");
	expect_bad_text("", 0, "config.json: line");
	expect_bad_text("{}", 2, "not a Molmo config");
	expect_bad_text("{\"hidden_size\": 64}\0junk", 24, "config.json");
	big = xcalloc(1, HP_CONFIG_MAX + 2);
	memset(big, ' ', HP_CONFIG_MAX + 1);
	expect_bad_text(big, HP_CONFIG_MAX + 1, "at most");
	free(big);
	printf("bad configs rejected: %d\n", n_bad);
}
END_TEST

START_TEST(test_hparams_load_errors_name_the_file)
{
	struct hparams hp;
	struct err e;
	char *tmp = tu_tmpdir(), path[512];
	FILE *f;

	ck_assert_int_eq(hparams_load(&hp, tmp, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "config.json"));
	ck_assert_ptr_nonnull(strstr(e.msg, tmp));
	snprintf(path, sizeof(path), "%s/config.json", tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"hidden_size\": \"64\"}", f);
	fclose(f);
	ck_assert_int_eq(hparams_load(&hp, tmp, &e), -1);
	ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0, "%s", e.msg);
	ck_assert_ptr_nonnull(strstr(e.msg, "hidden_size"));
	ck_assert_int_eq(remove(path), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(hparams_load(&hp, tmp, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "regular file"));
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

static Suite *
hparams_suite(void)
{
	Suite *s = suite_create("model_hparams");
	TCase *tc = tcase_create("hparams");

	tcase_add_loop_test(tc, test_hparams_tiny_configs_match_their_files, 0,
	                    3);
	tcase_add_loop_test(tc, test_hparams_sizes_agree_with_tiny_checkpoints,
	                    0, 3);
	tcase_add_test(
	    tc, test_hparams_7b_d_without_vision_backbone_gets_vit_l14_336);
	tcase_add_test(tc, test_hparams_7b_o_null_kv_heads_means_mha);
	tcase_add_test(tc, test_hparams_molmoe_1b_shaped_config);
	tcase_add_test(tc, test_hparams_rejects_bad_configs);
	tcase_add_test(tc, test_hparams_load_errors_name_the_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hparams_suite());
	int nf;

	srunner_run_all(sr, CK_ENV);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
