/* SPDX-License-Identifier: ISC */
/*
 * model2.h: the Molmo 2 / MolmoPoint engine (docs/molmo2.md): SigLIP 2
 * vision encoder (vit2.c), masked attention-pooling connector with the
 * SwiGLU projector (conn2.c), Qwen3 decoder with the prefix-LM mask
 * (lm3.c), the MolmoPoint pointing head with its constrained decoding and
 * the decoding of point tokens to pixels (point2.c), and the request loop
 * (model2.c).  It shares the v1 engine's kernels (kern.h), pool, attention
 * helper, weight structs, preprocessing (prep2.h), tokenizer and vocabulary
 * map.
 *
 * The structures are public so that white-box tests
 * (tests/unit/test_model_molmo2.c) can feed golden inputs to single
 * stages.  Conventions as model_impl.h: struct model2 is immutable after
 * model2_open and may be shared by threads; a session belongs to one thread
 * at a time, owns a pool and every buffer a request needs (allocated by
 * model2_session_new), so the forward pass allocates nothing.  Results are
 * bit-identical for any thread count.  model/ never logs, prints or exits.
 */
#ifndef MODEL_MODEL2_H
#define MODEL_MODEL2_H

#include <stdbool.h>
#include <stdint.h>

#include "model/kern.h"
#include "model/model.h"
#include "model/pool.h"
#include "model/prep2.h"
#include "model/st.h"
#include "model/weights.h"
#include "util/err.h"

struct tok;
struct vocab_map;

/* Most ViT layers concatenated (Molmo 2 uses 2). */
#define MODEL2_MAX_VIT_LAYERS 4
/* Value of a forbidden point slot in the raw logits (the model's
 * "small value"), and of a non-selectable patch in the point head. */
#define MODEL2_SMALL (-1e5f)
#define MODEL2_UNSEL (-1e8f)
/* Sub-patches per pooled token and locations per ViT patch (3x3). */
#define MODEL2_N_SUB 4
#define MODEL2_N_LOC 9

/* config.json of a molmo2 / molmo_point checkpoint. */
struct model2_hp {
	bool point; /* model_type "molmo_point" */
	/* ---- vision (vit_config) ---- */
	int vd, v_heads, v_hd, v_layers, v_mlp, v_npos, patch, crop;
	float v_eps;
	/* ---- adapter (adapter_config) ---- */
	int vit_layers[MODEL2_MAX_VIT_LAYERS], n_vit_layers;
	int ad, a_heads, a_hd, a_inter; /* pooling width, heads, projector */
	bool a_mask;                    /* pooling_attention_mask */
	bool a_wo;                      /* pooling has an output layer */
	/* ---- text (text_config) ---- */
	int d, n_heads, n_kv_heads, hd, n_layers, ffn, vocab, add_vocab;
	int max_pos;
	float eps;
	double theta;
	/* ---- token ids (checkpoint's) ---- */
	int im_patch, im_low;
	int patch_token, subpatch_token, location_token; /* -1 for molmo2 */
	/* ---- MolmoPoint head ---- */
	int pd;          /* patch_embed_dim */
	double pt_theta; /* token_prediction_rotary_theta */
};

/* Weights (same conventions as weights.h). */
struct model2_w {
	struct kern_mat patch_w;       /* [vd, p*p*3] */
	float *patch_b, *pos;          /* [vd], [n_pos, vd] */
	struct weights_vit_layer *vit; /* [vit_run] */
	struct kern_mat pool_wq, pool_wk, pool_wv, pool_wo;
	float *pool_bq, *pool_bk, *pool_bv, *pool_bo; /* wo: NULL (Point) */
	struct kern_mat proj_w1, proj_w3, proj_w2;
	struct kern_mat wte, wte_new; /* [vocab, d], [add_vocab, d] */
	struct weights_lm_layer *lm;  /* [n_layers], q/k_norm [hd] */
	float *ln_f;
	struct kern_mat lm_head, lm_head_new; /* new: MolmoPoint only */
	/* ---- MolmoPoint ---- */
	struct kern_mat build_vit; /* [d, fd] */
	float *build_vit_b, *x_norm;
	struct kern_mat patch_q, patch_k, subpatch_q, subpatch_k, loc;
	float *patch_q_b, *patch_k_b, *subpatch_q_b, *subpatch_k_b, *loc_b;
	float *nmp; /* add_no_point_class_embed.vector [pd] */
	void **owned;
	int n_owned, cap_owned;
	uint64_t bytes_copied;
};

struct model2 {
	struct model2_hp hp;
	struct model_params params;
	struct st *st;
	struct model2_w w;
	struct prep2_config pcfg;
	struct prep2_ids ids;   /* checkpoint ids of the image layout */
	struct tok *tok;        /* may be NULL: no text in/out */
	struct vocab_map *vmap; /* may be NULL: tokenizer ids = ckpt ids */
	int eos_id;             /* checkpoint id, -1 if unknown */
	int vit_idx[MODEL2_MAX_VIT_LAYERS], vit_run;
	int n_side, n_patch, patch_dim, fd, kvd, qkv_dim;
	int n_text_out; /* LM-head rows: vocab (Molmo2) or vocab + add */
	int n_embed;    /* vocab + add_vocab */
	struct model_mem mem;
};

/* Per-request point-head state (MolmoPoint). */
struct model2_point {
	int n;            /* pooled image tokens this request */
	int base;         /* V' = vocab + add_vocab: first point id */
	int last_patch;   /* p of the last generated patch token, -1 */
	int prev_patch;   /* patch generated before the current input, -1 */
	int cur_patch;    /* patch of the point being generated, -1 */
	bool have_sub;    /* the input was a sub-patch token */
	int32_t *img_pos; /* [n] positions of the image tokens */
	int32_t *kpos;    /* [n] rotary position of each key */
	uint8_t *sel;     /* [n + 1] selectable */
};

struct model2_session {
	struct model2 *m;
	struct pool *pool;
	int n_threads, n_ctx, chunk, max_crops, max_tok;
	struct prep2 *prep;
	/* ViT, one crop */
	float *vx, *vh, *vq, *vk, *vv, *va, *vm;
	float *feats; /* [max_crops + 1][n_patch][fd] */
	/* connector, in batches of MODEL2_CONN_BATCH tokens */
	float *cv, *cq, *pq, *pk, *pv, *pa, *po, *pg, *pu;
	float *pooled; /* [max_tok][ad] */
	float *conn;   /* [max_tok][d] */
	/* decoder */
	float *x;    /* [n_ctx][d] residual stream of the prompt */
	float *qall; /* [n_ctx][d] queries of the current layer */
	float *h, *qkv, *att, *o, *ff, *act; /* chunk rows */
	float *kcache, *vcache;
	float *aq, *ao, *ak, *avt, *as;
	float *rope_cos, *rope_sin;
	float *hlast, *xlast; /* [d] last position after / before ln_f */
	float *logits;        /* [n_text_out + max_tok + 1 + 4 + 9] */
	float *emb1;          /* [d] one decode input */
	uint8_t *types;       /* [n_ctx] token_type_ids */
	int n_past;
	/* MolmoPoint */
	float *patch_k;      /* [max_tok + 1][pd] */
	float *subpatch_k;   /* [max_tok][4][pd] */
	float *pvec, *pvec2; /* [pd + fd + d] scratch */
	float *pdots;        /* [max_tok + 1] patch scores of the last step */
	float sublog[MODEL2_N_SUB], loclog[MODEL2_N_LOC]; /* last step's */
	struct model2_point pt;
	int32_t *pooling; /* [max_tok][4] copy of the request's pooling */
	int32_t *grid;    /* [grid cells] copy of the patch grid */
	int grid_h, grid_w, img_w, img_h;
	/* request state */
	int32_t *ids; /* [n_ctx + 1] prompt + generated (checkpoint ids) */
	int n_ids, n_prompt, n_crops, n_tok;
	float *first_logits;
	bool have_first;
	char *text;
	struct model_timings t;
	double *points; /* [max points][4]: object id, image, x, y */
	int n_points;
};

#define MODEL2_CONN_BATCH 64

/* Callback after the logits processor (tests: the goldens' forcing rule).
 * logits has n entries; ids the sequence so far. */
typedef void model2_logits_fn(void *arg, float *logits, int n,
                              const int32_t *ids, int n_ids);

/* A request (see struct model_request; the prompt is wrapped in the
 * Molmo 2 chat template). */
struct model2_request {
	const struct model_image *image;
	const char *prompt;
	const int32_t *prompt_ids; /* if not NULL: the input ids to run
	                              (checkpoint ids), image layout included;
	                              prompt is then ignored */
	int n_prompt_ids;
	int max_crops; /* 0 = the checkpoint's default */
	int max_new_tokens;
	bool ignore_eos;
	model_token_fn *on_token;
	void *token_arg;
	model_cancel_fn *cancel;
	void *cancel_arg;
	model2_logits_fn *on_logits;
	void *logits_arg;
	float *raw_logits; /* if not NULL: [max_new_tokens][n_logits] before
	                      the processor (tests) */
	float *scores;     /* same after the processors */
};

struct model2_request model2_request_default(void);

/*
 * True if dir/config.json names a Molmo 2 / MolmoPoint checkpoint
 * (model_type "molmo2" or "molmo_point").
 */
bool model2_is_molmo2(const char *dir);

/*
 * Open a checkpoint: config, weights (p->weights MODEL_WEIGHTS_BF16 rounds
 * F32 matrices to bf16), processor configs, ids.  tokenizer: a
 * tokenizer.json or directory, NULL = dir itself if it has one, else no
 * tokenizer (only prompt_ids requests); vmap: a vocab_map file (see
 * vocab_map.h) or NULL.  NULL with e set on error.
 */
struct model2 *model2_open(const char *dir, const struct model_params *p,
                           const char *tokenizer, const char *vmap,
                           struct err *e);
void model2_close(struct model2 *m);
void model2_describe(const struct model2 *m, char *buf, size_t n);

/* Session for images of up to max_crops crops (0 = checkpoint default). */
struct model2_session *model2_session_new(struct model2 *m, int max_crops,
                                          struct err *e);
void model2_session_free(struct model2_session *s);

/* Logit vector length of the current request: n_text_out for Molmo2,
 * n_text_out + n_tok + 1 + 4 + 9 for MolmoPoint. */
int model2_n_logits(const struct model2_session *s);

/*
 * Run a request.  The result's ids are checkpoint ids (MolmoPoint point
 * ids included); text is decoded with the tokenizer through the vocabulary
 * map (<POINT_k> for point ids) or NULL without tokenizer.  MolmoPoint
 * points in pixels are then in model2_points().
 */
int model2_run(struct model2_session *s, const struct model2_request *rq,
               struct model_result *res, struct err *e);

/* Decoded MolmoPoint points of the last run: [n][4] = object id, image
 * index, x px, y px (borrowed). */
const double *model2_points(const struct model2_session *s, int *n);

/* The intermediate tensors of the last run (model.h's enum model_tensor):
 * ViT features [crops, n_patch, fd], pooled [n_tok, ad], connector
 * [n_tok, d], first logits [n_logits], MolmoPoint keys.  NULL when the
 * run had none. */
const float *model2_tensor(const struct model2_session *s,
                           enum model_tensor which, int64_t shape[3],
                           int *ndim);

/* ---- stages ---- */
/* vit2.c: crop k of patches [n_patch][patch_dim] → s->feats block k. */
void vit2_crop(struct model2_session *s, const float *patches, int crop);
/* conn2.c: pooled tokens from s->feats via pooling [n_tok][4] → s->pooled,
 * s->conn. */
void conn2_run(struct model2_session *s, const int32_t *pooling, int n_tok);
/* The raw features of ViT patch id (crop * n_patch + patch), or NULL for
 * -1. */
const float *conn2_feature(const struct model2_session *s, int32_t id);
/* lm3.c */
void lm3_embed(const struct model2 *m, int32_t id, float *out);
void lm3_rope_init(struct model2_session *s);
/* Decoder over x [n][d] (in place: ends as the final residual, pre-ln_f)
 * at positions s->n_past..; types[pos] from s->types.  Writes s->hlast,
 * s->xlast and the text logits of the last row into s->logits. */
void lm3_forward(struct model2_session *s, float *x, int n);
/* point2.c */
int point2_prefill(struct model2_session *s, const int32_t *ids, int n);
/* Fill s->logits' point slots for the step whose input was id (-1 at
 * prefill). */
void point2_logits(struct model2_session *s, int32_t id);
/* The logits processor (§11.4) on logits given the sequence. */
void point2_process(const struct model2_session *s, float *logits,
                    const int32_t *ids, int n_ids);
/* Input embedding of a point id (≥ base) into out. */
void point2_embed(struct model2_session *s, int32_t id, float *out);
/* Update the head's state after id was fed. */
void point2_advance(struct model2_session *s, int32_t id);
/* Decode the generated ids to pixel points into s->points. */
void point2_decode(struct model2_session *s, const int32_t *gen, int n);

#endif
