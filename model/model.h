/* SPDX-License-Identifier: ISC */
/*
 * model.h: the public API of the Molmo v1 engine (Molmo-7B-D/72B with a
 * Qwen2 decoder, Molmo-7B-O with OLMo, MolmoE-1B with OLMoE), running on the
 * CPU.  Pixels and a prompt in; generated tokens, text and timings out.
 *
 * Molmo 2 and MolmoPoint checkpoints (config.json model_type "molmo2" /
 * "molmo_point") open through the same calls and run on the engine of
 * model2.h; for them the ViT / pooled / connector tensors have the shapes
 * [crops, 729, 2 vd], [tokens, vd], [tokens, d], and only greedy decoding
 * is implemented (temperature > 0 is an error).
 *
 * Use:
 *	struct model_params mp = model_params_default();
 *	mp.n_threads = 8;
 *	mp.mem_available = <MemAvailable from /proc/meminfo, bytes>;
 *	struct model *m = model_open("/path/to/Molmo-7B-D-0924", &mp, &e);
 *	struct model_session *s = model_session_new(m, &e);
 *	struct model_request rq = model_request_default();
 *	rq.image = &img; rq.prompt = "Point to the search button";
 *	struct model_result res;
 *	if (model_run(s, &rq, &res, &e) == 0)
 *		puts(res.text);
 *	model_session_free(s);
 *	model_close(m);
 *
 * A request runs preprocess (prep.h) → ViT (one crop at a time) →
 * connector → embeddings with the image features added at their positions →
 * prefill → decode, greedy by default, stopping at EOS or max_new_tokens or
 * when the cancel callback returns non-zero.  Results match the reference
 * (HF remote code, fp32) up to float rounding; see tests/unit/
 * test_model_golden.c.
 *
 * Threads and ownership: struct model is immutable after model_open and may
 * be shared by threads; it owns the read-only weight mapping.  A session
 * belongs to one thread at a time; it owns a compute pool of
 * params.n_threads threads (the calling thread included) and every buffer
 * a request needs, allocated by model_session_new, so model_run allocates
 * nothing in the forward pass (preprocessing and the tokenizer allocate
 * their own scratch).  Results are bit-identical for any thread count.
 * model/ never logs, prints or exits: errors come back in struct err.
 */
#ifndef MODEL_MODEL_H
#define MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/prep.h" /* struct model_image */
#include "util/err.h"

/* Longest context a session accepts (prompt + image + generated tokens);
 * the dense checkpoints' RoPE table ends at 4096 (spec §9.7). */
#define MODEL_MAX_CTX 32768

/* How the weights are held in memory. */
enum model_weights {
	MODEL_WEIGHTS_AS_STORED, /* as in the checkpoint, mapped, no copy */
	MODEL_WEIGHTS_BF16 /* F32 tensors rounded to an owned bf16 copy (tests
	                      of the bf16 path on fp32 checkpoints) */
};

struct model_params {
	int n_threads; /* compute threads, caller included: 1..256 */
	enum model_weights weights; /* default MODEL_WEIGHTS_AS_STORED */
	int n_ctx;                  /* tokens per request (KV cache length): 0 =
	                               min(max_position_embeddings, 2048) */
	int prefill_chunk; /* prompt rows per prefill pass (activations scale
	                      with it): default 256 */
	uint64_t mem_available; /* bytes of RAM the caller may use (e.g.
	                           /proc/meminfo MemAvailable); 0 = no check */
	/* ---- Molmo 2 / MolmoPoint checkpoints (model_type "molmo2",
	 * "molmo_point"; model2.h); ignored by v1 checkpoints ---- */
	const char *tokenizer; /* tokenizer.json or a directory holding one;
	                          NULL = the checkpoint's own (the tiny
	                          checkpoints ship none) */
	const char *vocab_map; /* vocab_map.h file mapping real ids to a
	                          pruned checkpoint's ids; NULL = none */
	int max_crops; /* most hi-res crops a session accepts per request:
	                  0 = the checkpoint's default (8) */
};

/* Defaults: 1 thread, weights as stored, n_ctx 0, chunk 256, no check. */
struct model_params model_params_default(void);

/* The memory plan computed by model_open (bytes). */
struct model_mem {
	uint64_t weights_mapped; /* safetensors files, mapped read-only */
	uint64_t weights_copied; /* owned copies: vectors, bf16 conversion */
	uint64_t kv_cache;       /* per session */
	uint64_t activations;    /* per session, all other buffers */
	uint64_t total;          /* the sum, for one session */
};

struct model;

/*
 * Open the checkpoint in dir (config.json, model.safetensors[.index.json],
 * tokenizer files, preprocessor_config.json): parse the config, map and
 * check every tensor (weights.h), open the tokenizer, and compute the memory
 * plan.  When p->mem_available is non-zero and the plan's total exceeds it,
 * fail with a message giving both sizes.  p may be NULL for the defaults.
 * Returns NULL with e set on any error.
 */
struct model *model_open(const char *dir, const struct model_params *p,
                         struct err *e);
/* Unmap and free; m may be NULL.  No session of m may remain. */
void model_close(struct model *m);

/* The memory plan (borrowed, lives as long as m). */
const struct model_mem *model_mem(const struct model *m);
/* A one-line description: "qwen2 d=3584 layers=28 ... vit 23x1024". */
void model_describe(const struct model *m, char *buf, size_t n);
/* EOS id (the stop token), or -1 if the tokenizer has none. */
int32_t model_eos(const struct model *m);

struct model_session;

/* Allocate a session (pool, activations, KV cache).  NULL with e set when
 * threads cannot start.  Small allocations abort on OOM; large ones fail. */
struct model_session *model_session_new(struct model *m, struct err *e);
/* Free a session; s may be NULL. */
void model_session_free(struct model_session *s);

/*
 * Streaming callback: one generated token, id and its raw bytes (piece,
 * len; possibly part of a UTF-8 character; specials included).  Called on
 * the session's thread.  Return non-zero to stop generating.
 */
typedef int model_token_fn(void *arg, int32_t id, const char *piece,
                           size_t len);
/* Cancellation: polled between crops, prefill chunks and tokens; non-zero
 * stops the request (model_run then returns 0 with stop MODEL_STOP_CANCEL). */
typedef int model_cancel_fn(void *arg);

struct model_request {
	const struct model_image *image; /* NULL: text only */
	const char *prompt;              /* the user's text, UTF-8; wrapped as
	                                    " User: {prompt} Assistant:" (spec §5.3) */
	int max_new_tokens;              /* >= 1; default 200 */
	bool ignore_eos;   /* keep going past EOS (golden tests) */
	float temperature; /* <= 0: greedy (default) */
	float top_p;       /* nucleus mass in (0, 1]; default 1 */
	uint64_t seed;     /* sampling PRNG seed */
	model_token_fn *on_token;
	void *token_arg;
	model_cancel_fn *cancel;
	void *cancel_arg;
	int max_crops; /* Molmo 2: most hi-res crops for this image, up to
	                  the session's params.max_crops; 0 = the
	                  checkpoint's default.  v1 ignores it. */
};

/* Defaults: no image, prompt "", 200 tokens, greedy, max_crops 0. */
struct model_request model_request_default(void);

enum model_stop {
	MODEL_STOP_EOS,    /* the model produced EOS (not included in ids) */
	MODEL_STOP_LENGTH, /* max_new_tokens reached */
	MODEL_STOP_CTX,    /* the context (n_ctx) is full */
	MODEL_STOP_CANCEL  /* cancel or on_token returned non-zero */
};

/* Wall-clock time of each stage, milliseconds. */
struct model_timings {
	double preprocess_ms; /* image preprocessing + tokenizing */
	double vision_ms;     /* ViT + connector, all crops */
	double prefill_ms;    /* decoder over the prompt */
	double decode_ms;     /* all decode steps after the first token */
	int n_crops;          /* ViT crops (0 without image) */
	int n_prompt;         /* prompt tokens (BOS + image + text) */
	int n_gen;            /* generated tokens (EOS excluded) */
};

/* Borrowed from the session; valid until its next run or free. */
struct model_result {
	const int32_t *ids; /* generated ids, EOS excluded */
	int n_ids;
	const char *text;          /* ids decoded, special tokens skipped */
	const int32_t *prompt_ids; /* the input_ids that were run */
	int n_prompt;
	enum model_stop stop;
	struct model_timings t;
	/* MolmoPoint: the generated points decoded to pixels of the image,
	 * [n_points][4] = object id, image index, x, y (borrowed, like ids);
	 * NULL / 0 for other models (their points are in the text). */
	const double *points;
	int n_points;
};

/*
 * Run one request on the session.  Returns 0 (also when cancelled, see
 * res->stop) or -1 with e set: prompt + image longer than the context,
 * an image too extreme to preprocess, a tokenizer failure.
 */
int model_run(struct model_session *s, const struct model_request *rq,
              struct model_result *res, struct err *e);

/* Intermediate tensors of the last run, for `pointctl run --dump`. */
enum model_tensor {
	MODEL_T_VIT_FEATURES, /* [crops, 576, 2 vd] */
	MODEL_T_POOLED,       /* [crops, 144, vd] */
	MODEL_T_CONNECTOR,    /* [crops, 144, d] */
	MODEL_T_FIRST_LOGITS, /* [vocab] logits of the first generated token
	                         (MolmoPoint: the extended vector) */
	MODEL_T_PATCH_K,      /* MolmoPoint: [n_tok + 1, patch_embed_dim]
	                         point-head patch keys */
	MODEL_T_SUBPATCH_K    /* MolmoPoint: [n_tok, 4, patch_embed_dim] */
};
/*
 * The tensor (borrowed, valid until the next run) and its shape in
 * shape[0..*ndim-1]; NULL when the last run had none (no image).
 */
const float *model_session_tensor(const struct model_session *s,
                                  enum model_tensor which, int64_t shape[3],
                                  int *ndim);

#endif
