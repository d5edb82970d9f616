/* SPDX-License-Identifier: ISC */
/*
 * weights.h: the Molmo v1 weights, resolved from a safetensors checkpoint by
 * one table (weights.c) that maps each tensor name to a field.
 *
 * Every row of the table is checked before any data is read: the tensor is
 * present (unless the config says it is absent, e.g. the qkv bias of OLMo),
 * its shape equals the shape computed from struct hparams, and its dtype is
 * one we read (F32, BF16, F16).  A tensor in the checkpoint that no row
 * claims is an error too, so a checkpoint of another architecture never
 * loads half-understood.
 *
 * Ownership: matrices (struct kern_mat) point into the read-only mapping of
 * struct st, which must outlive struct weights; they may be unaligned.
 * Small vectors (norm weights, biases, class/positional/padding embeddings)
 * are copied into fp32 arrays owned by struct weights.  With to_bf16 set, each
 * F32 matrix is rounded to an owned bf16 copy (round to nearest even) and each
 * vector is rounded through bf16, to emulate a bf16 checkpoint; this is the
 * only case where matrices are copied.
 *
 * Threads: filled by weights_load, immutable afterwards; any thread may read.
 */
#ifndef MODEL_WEIGHTS_H
#define MODEL_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "model/hparams.h"
#include "model/kern.h"
#include "model/st.h"
#include "util/err.h"

/* One residual block of the ViT (spec §2). */
struct weights_vit_layer {
	struct kern_mat wq, wk, wv, wo; /* [vd, vd] */
	float *bq, *bk, *bv, *bo;       /* [vd] */
	struct kern_mat w1;             /* [vmlp, vd] */
	float *b1;                      /* [vmlp] */
	struct kern_mat w2;             /* [vd, vmlp] */
	float *b2;                      /* [vd] */
	float *ln1_w, *ln1_b;           /* attention_norm [vd] */
	float *ln2_w, *ln2_b;           /* ffn_norm [vd] */
};

/* One expert of an OLMoE block (spec §7), HF per-expert layout. */
struct weights_expert {
	struct kern_mat gate; /* gate_proj [eff, d] (silu branch) */
	struct kern_mat up;   /* up_proj [eff, d] */
	struct kern_mat down; /* down_proj [d, eff] */
};

/* One decoder block (spec §6). */
struct weights_lm_layer {
	struct kern_mat att_proj; /* [d + 2 kv hd, d], rows q;k;v */
	float *att_bias;          /* [d + 2 kv hd] or NULL (no qkv_bias) */
	struct kern_mat attn_out; /* [d, d] */
	float *attn_norm;         /* [d] pre- or post-attention RMSNorm */
	float *ff_norm;           /* [d] pre- or post-MLP RMSNorm */
	float *q_norm, *k_norm;   /* [d], [kv hd] or NULL (no QK-norm) */
	struct kern_mat ff_proj;  /* dense: [2 ffn, d], rows up;gate */
	struct kern_mat ff_out;   /* dense: [d, ffn] */
	struct kern_mat router;   /* MoE: [n_experts, d] */
	struct weights_expert *experts; /* MoE: [n_experts], else NULL */
};

struct weights {
	/* ---- vision tower ---- */
	struct kern_mat patch_emb;     /* [vd, p*p*3], input (dy, dx, c) */
	float *class_emb;              /* [vd] */
	float *pos_emb;                /* [n_pos, vd], row 0 = CLS */
	float *pre_ln_w, *pre_ln_b;    /* [vd] */
	struct weights_vit_layer *vit; /* [vit.n_layers] */
	/* ---- connector ---- */
	float *pad_embed;                          /* [2, n_vit_layers * vd] */
	struct kern_mat pool_wq, pool_wk, pool_wv; /* [vd, n_vit_layers vd] */
	struct kern_mat pool_wo;                   /* [vd, vd] */
	float *pool_bq, *pool_bk, *pool_bv, *pool_bo; /* [vd] */
	struct kern_mat proj_w1, proj_w3; /* [proj_dim, vd] gate, up */
	struct kern_mat proj_w2;          /* [d, proj_dim] down */
	/* ---- decoder ---- */
	struct kern_mat wte;         /* [embedding_size, d] */
	struct kern_mat wte_new;     /* [additional_vocab_size, d] */
	struct weights_lm_layer *lm; /* [n_lm] */
	int n_lm;                    /* decoder layers */
	float *ln_f;                 /* [d] */
	struct kern_mat lm_head;     /* [embedding_size, d] */

	/* ---- bookkeeping ---- */
	void **owned; /* every heap block above, freed at fini */
	int n_owned, cap_owned;
	uint64_t bytes_copied; /* bytes of owned copies (vectors, bf16) */
};

/*
 * Resolve every tensor of the checkpoint st for the architecture in hp.
 * to_bf16: round F32 matrices to owned bf16 copies (see above).  Returns 0,
 * or -1 with e naming the tensor ("tensor model.x: shape [3], expected [4]",
 * "tensor lm_head.weight: not used by a qwen2 model").  On failure *w is
 * left for weights_fini.  st must outlive w.
 */
int weights_load(struct weights *w, const struct st *st,
                 const struct hparams *hp, bool to_bf16, struct err *e);
/* Free what weights_load allocated; w may be zeroed or half-built. */
void weights_fini(struct weights *w);

/*
 * Copy row r of matrix a (dtype F32, BF16 or F16) into dst as fp32
 * (a->cols values).  Used for embedding lookups.
 */
void weights_row_f32(float *dst, const struct kern_mat *a, int r);

#endif
