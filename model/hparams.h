/* SPDX-License-Identifier: ISC */
/*
 * hparams.h: a Molmo checkpoint's config.json as one plain struct.
 *
 * Molmo v1 ships two config schemas (spec molmo-v1.md §1.2-1.4): the compact
 * HF MolmoConfig of Molmo-7B-D/7B-O/72B ("hidden_size", "num_hidden_layers",
 * ...) and the training ModelConfig dump of MolmoE-1B ("d_model",
 * "n_layers", "block_type": "moe", ...).  Both land in struct hparams.  What
 * the real checkpoints leave out is filled with the values the HF remote
 * code hard-codes (§1.3): the vision tower is OpenAI CLIP ViT-L/14-336
 * truncated to 23 layers (336x336, patch 14, 577 positions, width 1024, 16
 * heads of 64, MLP 4096, quick_gelu, eps 1e-5) unless the config carries a
 * "vision_backbone" object; vit_layers [-2, -9]; 2x2 attention-meanq pooling;
 * an MLP (SwiGLU) projector; pad_and_partial_pad padding embeddings; 128
 * additional vocabulary rows.
 *
 * Parsing is strict: a key with the wrong JSON type, a size out of range, a
 * head count that does not divide the width, or an architecture option we do
 * not implement (say "layer_norm_type": "default", "alibi": true) is an
 * error, one line naming the key.  The architecture is hard-coded; the sizes
 * come from the file.  Unknown keys are ignored.
 *
 * struct hparams is plain data: copy it freely; it holds no pointers.
 */
#ifndef MODEL_HPARAMS_H
#define MODEL_HPARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Most ViT layers whose outputs are concatenated (v1 uses 2). */
#define HP_MAX_VIT_LAYERS 4
/* Largest config.json read by hparams_load (bytes). */
#define HP_CONFIG_MAX (1 << 20)

/* The decoder family; the per-feature flags below say what each implies. */
enum hp_arch {
	HP_ARCH_QWEN2, /* 7B-D, 72B: pre-norm, qkv bias, GQA */
	HP_ARCH_OLMO,  /* 7B-O: post-norm (norm_after), QK-norm, no bias */
	HP_ARCH_OLMOE  /* MolmoE-1B: pre-norm, QK-norm, MoE MLP */
};

/* Which config.json schema the file used (decides tensor names too). */
enum hp_schema {
	HP_SCHEMA_MOLMO, /* HF MolmoConfig: 7B-D, 7B-O, 72B */
	HP_SCHEMA_MOLMOE /* training ModelConfig dump: MolmoE-1B */
};

/* ViT MLP activation. */
enum hp_act {
	HP_ACT_QUICK_GELU /* x * sigmoid(1.702 x) (CLIP) */
};

/* Image feature pooling (image_pooling_2d). */
enum hp_pool {
	HP_POOL_ATTENTION_MEANQ /* attention, query = mean of the window */
};

/* Connector projector (image_projector). */
enum hp_proj {
	HP_PROJ_MLP /* SwiGLU: w2(silu(w1 x) * w3 x), no biases */
};

/* Padding embeddings (image_padding_embed). */
enum hp_pad {
	HP_PAD_AND_PARTIAL_PAD /* pad_embed rows: 0 all padding, 1 partial */
};

/* The vision tower (config "vision_backbone", else spec §1.3 values). */
struct hparams_vit {
	int image_w, image_h; /* crop size in pixels (336, 336) */
	int patch_size;       /* pixels per patch side (14) */
	int n_pos;            /* positional rows: 1 + (w/p)*(h/p) = 577 */
	int d;                /* image_emb_dim, width (1024) */
	int n_heads;          /* 16 */
	int n_kv_heads;       /* 16 (== n_heads) */
	int head_dim;         /* 64; n_heads * head_dim == d */
	int n_layers;         /* blocks stored and run (23) */
	int mlp_dim;          /* feed_forward hidden width (4096) */
	enum hp_act act;      /* quick_gelu */
	float norm_eps;       /* LayerNorm eps (1e-5) */
};

struct hparams {
	enum hp_arch arch;
	enum hp_schema schema;

	/* ---- decoder ---- */
	int d_model;        /* hidden width d */
	int n_heads;        /* query heads H */
	int n_kv_heads;     /* key/value heads (null in the file: = n_heads) */
	int head_dim;       /* d_model / n_heads (128 in every real model) */
	int n_layers;       /* blocks */
	int ff_proj_rows;   /* I: rows of ff_proj = 2 * ffn_dim (dense); for
	                       MoE mlp_hidden_size or mlp_ratio * d_model */
	int ffn_dim;        /* SwiGLU hidden width I/2 (per expert for MoE) */
	int vocab_size;     /* tokenizer vocabulary */
	int embedding_size; /* rows of wte.embedding and of the LM
	                       head (>= vocab_size) */
	int additional_vocab_size; /* rows of wte.new_embedding (128) */
	int max_pos;   /* max_position_embeddings (max_sequence_length
	                  for MolmoE), the longest sequence in tokens */
	bool qkv_bias; /* att_proj has a bias */
	bool attention_layer_norm; /* QK-norm: RMSNorm on q (width d) and k
	                              (width n_kv_heads * head_dim) */
	bool norm_after;           /* post-norm block (7B-O) */
	bool weight_tying;    /* LM head = embedding (false in every release) */
	float layer_norm_eps; /* RMSNorm eps */
	double rope_theta;    /* RoPE base; rotate-half ("llama") form */
	float clip_qkv;       /* clamp q,k,v to +-clip_qkv; 0 = none (null) */

	/* ---- mixture of experts (0 when dense) ---- */
	int n_experts;  /* moe_num_experts */
	int top_k;      /* moe_top_k */
	int moe_hidden; /* per-expert SwiGLU width (== ffn_dim), 0 if dense */

	/* ---- connector ---- */
	int vit_layers[HP_MAX_VIT_LAYERS]; /* negative indices into the ViT
	                                      hidden states ([-2, -9]) */
	int n_vit_layers;
	int pool_h, pool_w;        /* pooling window in patches (2, 2) */
	enum hp_pool pooling;      /* attention-meanq */
	enum hp_proj projector;    /* mlp */
	enum hp_pad image_padding; /* pad_and_partial_pad */
	int proj_dim; /* projector hidden (w1/w3 rows) = ff_proj_rows / 2 */

	/* ---- token ids the config carries (-1 when absent) ---- */
	int pad_token_id;

	/* ---- vision tower ---- */
	struct hparams_vit vit;
	bool vit_from_config; /* false: the hard-coded ViT-L/14-336 values */
};

/*
 * Parse config.json bytes (json, len bytes, need not be NUL-terminated) into
 * *hp.  Returns 0, or -1 with a one-line message in e ("config.json: line 3
 * column 5: ..." for JSON syntax, "config.json: hidden_size: must be an
 * integer in [1, 65536]" for values).  *hp is unspecified on failure.
 */
int hparams_parse(struct hparams *hp, const char *json, size_t len,
                  struct err *e);
/*
 * Read DIR/config.json (at most HP_CONFIG_MAX bytes; a symlink is followed)
 * and parse it.  Errors name the file.
 */
int hparams_load(struct hparams *hp, const char *dir, struct err *e);

/* Names for messages: "qwen2", "olmo", "olmoe". */
const char *hparams_arch_name(enum hp_arch arch);

#endif
