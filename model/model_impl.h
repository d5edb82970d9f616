/* SPDX-License-Identifier: ISC */
/*
 * model_impl.h: the engine's private structures and stage functions, shared
 * by model.c, vit.c, conn.c, lm.c and gen.c, and used by white-box tests
 * (tests/unit/test_model_golden.c feeds golden inputs to single stages).
 *
 * Design.  struct model is immutable after model_open: hyperparameters, the
 * safetensors mapping, the resolved weights and the tokenizer.  A struct
 * model_session owns everything one request needs, allocated up front from
 * the session limits (context length, crops, prefill chunk, threads): the
 * compute pool, activations of one ViT crop, the connector output of every
 * crop, the prompt embeddings, the KV cache and the logits.  The forward
 * pass never allocates.  A session is used by one thread at a time; its pool
 * borrows other threads inside one operation only.
 *
 * Numerics (spec §2, §3, §6): fp32 activations, weights of any dtype
 * converted on the fly by kern_linear; LayerNorm/RMSNorm reductions in
 * double; softmax subtracts the max; RoPE angles are fp32 products of fp32
 * positions and fp32 inverse frequencies as in the reference.  Every value
 * is computed by one thread in a fixed order, so results do not depend on
 * the thread count.
 */
#ifndef MODEL_MODEL_IMPL_H
#define MODEL_MODEL_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/hparams.h"
#include "model/kern.h"
#include "model/model.h"
#include "model/pool.h"
#include "model/prep.h"
#include "model/st.h"
#include "model/weights.h"

/* Most crops per image: max_crops 12 high-res + 1 global (spec §4.2). */
#define MODEL_MAX_CROPS 13

struct tok;
struct model2;
struct model2_session;

/* A sampling candidate (gen.c). */
struct gen_cand {
	float p; /* unnormalised probability */
	int id;  /* token id */
};

struct model {
	struct hparams hp;
	struct model_params params;
	struct st *st;               /* the mapping; owns all weight bytes */
	struct weights w;            /* tensors resolved from st */
	struct tok *tok;             /* tokenizer */
	struct prep_config prep_cfg; /* preprocessor_config.json */
	struct prep_ids prep_ids;    /* BOS and image token ids */
	char *dir;                   /* checkpoint directory */

	/* derived sizes */
	int kvd;          /* n_kv_heads * head_dim */
	int qkv_dim;      /* d + 2 kvd */
	int n_vocab_out;  /* logits per position: LM head rows */
	int n_embed_rows; /* embedding_size + additional_vocab_size */
	int vit_idx[HP_MAX_VIT_LAYERS]; /* 0-based ViT block per feature */
	int vit_run;          /* ViT blocks to run: 1 + max(vit_idx) */
	int n_side;           /* patches per crop side (24) */
	int n_patch;          /* patches per crop (576) */
	int patch_dim;        /* p*p*3 (588) */
	int n_cell;           /* pooled cells per crop (144) */
	int feat_dim;         /* n_vit_layers * vd (2048) */
	int bos_id, eos_id;   /* -1 when unknown */
	struct model_mem mem; /* the plan printed at load */
	struct model2 *m2;    /* Molmo 2 / MolmoPoint: everything above unused
	                         but params and dir */
};

/* Optional per-position outputs of lm_forward, for tests and --dump. */
struct lm_trace {
	float *hidden; /* [n_layers + 1][n_pos][d]: input of each block, last
	                  = after ln_f; NULL to skip */
	float *logits; /* [n_pos][n_vocab_out]: logits of every position;
	                  NULL to skip */
	int n_pos;     /* rows available: positions 0..n_pos-1 */
};

struct model_session {
	struct model *m;
	struct pool *pool;
	int n_threads;
	int n_ctx; /* tokens: KV cache length */
	int chunk; /* prefill rows per pass */
	int max_crops;
	struct prep *prep; /* preprocessor (its own buffers) */

	/* ---- ViT, one crop at a time ---- */
	float *vx;                /* [n_pos][vd] residual stream */
	float *vh;                /* [n_pos][vd] normed input */
	float *vq, *vk, *vv, *va; /* [n_pos][vd] */
	float *vm;                /* [n_pos][vmlp] MLP hidden */
	float *feats; /* [max_crops][n_patch][feat_dim] ViT features */

	/* ---- connector ---- */
	float *cells;   /* [n_patch][feat_dim] padded features, cell order */
	float *cq;      /* [n_cell][feat_dim] window means */
	float *pq;      /* [n_cell][vd] */
	float *pk, *pv; /* [n_patch][vd] */
	float *pa;      /* [n_cell][vd] attention output */
	float *pooled;  /* [max_crops][n_cell][vd] */
	float *pg, *pu; /* [n_cell][proj_dim] */
	float *conn;    /* [max_crops][n_cell][d] projector output */
	float *ones;    /* [n_patch] all 1: the mask when there is none */

	/* ---- decoder ---- */
	float *emb;             /* [n_ctx][d] prompt embeddings */
	float *x, *h;           /* [chunk][d] */
	float *qkv;             /* [chunk][qkv_dim] */
	float *att;             /* [chunk][d] */
	float *o;               /* [chunk][d] */
	float *ff;              /* [chunk][2 ffn] dense up;gate */
	float *act;             /* [chunk][ffn] */
	float *router;          /* [chunk][n_experts] probabilities */
	int *sel;               /* [chunk][top_k] chosen experts */
	int *rows;              /* [chunk] tokens routed to one expert */
	float *eg, *eu;         /* [chunk][moe_hidden] */
	float *ex, *ey;         /* [chunk][d] gathered input, expert output */
	float *moe;             /* [chunk][d] MoE sum */
	float *kcache, *vcache; /* [n_layers][n_kv_heads][n_ctx][head_dim] */
	float *aq, *ao; /* [max(n_pos, grp chunk)][hd] stacked queries, out */
	float *ak;      /* [n_pos][vit hd] ViT keys of one head */
	float *avt;     /* [hd][max(n_pos, n_ctx)] transposed values */
	float *as;      /* [max(n_pos n_pos, grp chunk n_ctx)] scores */
	float *rope_cos, *rope_sin; /* [n_ctx][head_dim / 2] */
	float *logits;              /* [n_vocab_out] last position */
	float *scores; /* [n_threads][max(n_ctx, n_pos)] attention rows */
	int n_past;    /* tokens in the KV cache */

	/* ---- request state ---- */
	int32_t *ids; /* [n_ctx + 1] prompt + generated ids */
	int n_ids;
	int n_prompt;
	int n_crops;
	float *first_logits; /* [n_vocab_out] logits of the first step */
	bool have_first;     /* first_logits hold this run's */
	char *text;          /* decoded generation (malloc'd per run) */
	struct model_timings t;
	uint64_t rng;              /* sampling state */
	struct gen_cand *cand;     /* [n_vocab_out] sampling scratch */
	struct model2_session *s2; /* Molmo 2: the session doing the work */
};

/* ---- vit.c ---- */
/*
 * Run the ViT on one crop: patches [n_patch][patch_dim] (normalised pixels)
 * → s->feats + crop * n_patch * feat_dim, the concatenated hidden states of
 * the blocks in m->vit_idx with the CLS row dropped (spec §2).  A crop that
 * is all −1 (batch padding) gets zero features.
 */
void vit_crop(struct model_session *s, const float *patches, int crop);

/* ---- conn.c ---- */
/*
 * Connector for one crop (spec §3): padding embeddings from mask
 * [n_patch], 2x2 attention-meanq pooling → s->pooled row block crop, then
 * the SwiGLU projector → s->conn row block crop.
 */
void conn_crop(struct model_session *s, const float *mask, int crop);

/* ---- lm.c ---- */
/* out[i] = cat(wte, wte_new)[ids[i]] for n ids (each < m->n_embed_rows). */
void lm_embed(const struct model *m, const int32_t *ids, int n, float *out);
/*
 * Run the decoder on n input embeddings x [n][d] at positions
 * s->n_past .. s->n_past + n - 1 (n_past + n <= n_ctx), append their keys
 * and values to the KV cache, advance n_past, and write the logits of the
 * last position to s->logits.  tr, if not NULL, also receives per-position
 * hidden states / logits at index = absolute position.
 */
void lm_forward(struct model_session *s, const float *x, int n,
                struct lm_trace *tr);
/* Fill the RoPE tables of a session (fp32, as the reference). */
void lm_rope_init(struct model_session *s);

/* ---- attn.c ---- */
/*
 * out [m][hd] = softmax(q kᵀ / √hd, causal) v for q [m][hd], k [n][hd] and
 * vt = vᵀ [hd][n], all contiguous fp32; row r sees keys
 * [0, min(n, base + r % period + 1)).  s [m][n] is scratch.
 */
void attn_head(struct pool *p, float *out, const float *q, int m,
               const float *k, const float *vt, int n, int hd, int base,
               int period, float *s);

/* ---- gen.c ---- */
/* Index of the largest of n logits (the first on ties, as torch.argmax). */
int gen_argmax(const float *logits, int n);
/*
 * Pick a token: greedy when temperature <= 0, else softmax(logits / T) with
 * top-p nucleus filtering, drawn from the session's seeded PRNG.  Uses
 * s->cand as scratch (n <= n_vocab_out).
 */
int gen_sample(struct model_session *s, const float *logits, int n,
               float temperature, float top_p);
/* Seed the session PRNG (splitmix64). */
void gen_seed(struct model_session *s, uint64_t seed);

/* ---- model.c ---- */
/* Allocate a session with explicit limits (tests); see model_session_new. */
struct model_session *model_session_new_sized(struct model *m, int n_ctx,
                                              int max_crops, struct err *e);

#endif
