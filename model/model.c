/* SPDX-License-Identifier: ISC */
/*
 * model.c: opening a Molmo checkpoint, sessions, and one request from pixels
 * to text (spec molmo-v1.md §0, §6.1, §8.1).
 *
 * model_open: config.json → struct hparams; the safetensors mapping; THE
 * tensor table (weights.c); tokenizer; preprocessor config; derived sizes;
 * the memory plan, checked against the RAM the caller says is available.
 *
 * Sessions: every buffer is listed once in session_bufs(), which serves both
 * the memory plan and model_session_new, so the plan printed at load is what
 * a session allocates.  model_run: preprocess → ViT + connector per crop →
 * embeddings (+= image features at image_input_idx) → chunked prefill →
 * decode loop with stop tokens, callbacks and cancellation.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/model2.h"
#include "model/model_impl.h"
#include "model/tok.h"
#include "util/clock.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* Largest generated text kept (bytes). */
#define MODEL_TEXT_MAX (1u << 20)

struct model_params
model_params_default(void)
{
	struct model_params p = {
	    .n_threads = 1,
	    .weights = MODEL_WEIGHTS_AS_STORED,
	    .n_ctx = 0,
	    .prefill_chunk = 256,
	    .mem_available = 0,
	};
	return p;
}

struct model_request
model_request_default(void)
{
	struct model_request r = {
	    .image = NULL,
	    .prompt = "",
	    .max_new_tokens = 200,
	    .ignore_eos = false,
	    .temperature = 0.0f,
	    .top_p = 1.0f,
	    .seed = 0,
	};
	return r;
}

/* ---- Sizes and the session buffer list ---- */

/* Resolve derived sizes and reject shapes the kernels do not handle. */
static int
derive(struct model *m, struct err *e)
{
	const struct hparams *hp = &m->hp;
	const struct hparams_vit *v = &hp->vit;
	int i, mx = -1;

	m->kvd = hp->n_kv_heads * hp->head_dim;
	m->qkv_dim = hp->d_model + 2 * m->kvd;
	m->n_vocab_out = hp->embedding_size;
	m->n_embed_rows = hp->embedding_size + hp->additional_vocab_size;
	if (hp->n_vit_layers < 1 || hp->n_vit_layers > HP_MAX_VIT_LAYERS)
		return err_set(e, "vit_layers: need 1..%d entries",
		               HP_MAX_VIT_LAYERS);
	for (i = 0; i < hp->n_vit_layers; i++) {
		int k = hp->vit_layers[i];

		k = k < 0 ? v->n_layers + k : k;
		if (k < 0 || k >= v->n_layers)
			return err_set(e,
			               "vit_layers: %d outside the %d ViT "
			               "layers",
			               hp->vit_layers[i], v->n_layers);
		m->vit_idx[i] = k;
		if (k > mx)
			mx = k;
	}
	m->vit_run = mx + 1;
	if (v->image_w != v->image_h || v->image_w % v->patch_size != 0)
		return err_set(e, "vision_backbone: crops must be square "
		                  "multiples of the patch size");
	m->n_side = v->image_w / v->patch_size;
	m->n_patch = m->n_side * m->n_side;
	if (v->n_pos != m->n_patch + 1)
		return err_set(e,
		               "vision_backbone: image_num_pos %d, expected "
		               "%d",
		               v->n_pos, m->n_patch + 1);
	m->patch_dim = v->patch_size * v->patch_size * 3;
	if (hp->pool_h < 1 || hp->pool_w < 1 || hp->pool_h * hp->pool_w > 16 ||
	    m->n_side % hp->pool_h != 0 || m->n_side % hp->pool_w != 0)
		return err_set(e,
		               "image_pooling: %dx%d does not tile the %dx%d "
		               "patch grid",
		               hp->pool_h, hp->pool_w, m->n_side, m->n_side);
	m->n_cell = (m->n_side / hp->pool_h) * (m->n_side / hp->pool_w);
	m->feat_dim = hp->n_vit_layers * v->d;
	if (hp->head_dim % 2 != 0)
		return err_set(e, "head_dim %d: RoPE needs an even head size",
		               hp->head_dim);
	if (hp->arch == HP_ARCH_OLMOE &&
	    (hp->n_experts < 1 || hp->top_k < 1 || hp->top_k > hp->n_experts))
		return err_set(e, "moe: top_k %d of %d experts", hp->top_k,
		               hp->n_experts);
	return 0;
}

enum buf_class { B_ACT, B_KV };

struct buf_spec {
	size_t off;  /* field offset in struct model_session */
	size_t n;    /* elements */
	size_t size; /* bytes per element */
	enum buf_class cls;
};

#define SF(f)  offsetof(struct model_session, f)
#define MAXBUF 64

/* Every buffer of a session with these limits.  Returns the count. */
static int
session_bufs(const struct model *m, int n_ctx, int chunk, int max_crops,
             int n_threads, struct buf_spec *b)
{
	const struct hparams *hp = &m->hp;
	size_t vd = (size_t)hp->vit.d, np1 = (size_t)hp->vit.n_pos;
	size_t NP = (size_t)m->n_patch, NC = (size_t)m->n_cell;
	size_t fd = (size_t)m->feat_dim, d = (size_t)hp->d_model;
	size_t C = (size_t)chunk, MC = (size_t)max_crops;
	size_t ctx = (size_t)n_ctx, pd = (size_t)hp->proj_dim;
	size_t V = (size_t)m->n_vocab_out;
	size_t E = (size_t)hp->n_experts, K = (size_t)hp->top_k;
	size_t ef = (size_t)hp->moe_hidden, f = (size_t)hp->ffn_dim;
	size_t kv = (size_t)hp->n_layers * ctx * (size_t)m->kvd;
	bool moe = hp->arch == HP_ARCH_OLMOE;
	size_t vhd = (size_t)hp->vit.head_dim, hd = (size_t)hp->head_dim;
	size_t grp = (size_t)(hp->n_heads / hp->n_kv_heads);
	size_t aqn = np1 * vhd > grp * C * hd ? np1 * vhd : grp * C * hd;
	size_t avn = vhd * np1 > hd * ctx ? vhd * np1 : hd * ctx;
	size_t asn = np1 * np1 > grp * C * ctx ? np1 * np1 : grp * C * ctx;
	int n = 0;

	(void)n_threads; /* every buffer is shared by the pool's threads */
#define ADD(field, count, cls_)                                                \
	do {                                                                   \
		b[n].off = SF(field);                                          \
		b[n].n = (count);                                              \
		b[n].size = sizeof(*((struct model_session *)0)->field);       \
		b[n].cls = (cls_);                                             \
		n++;                                                           \
	} while (0)
	ADD(vx, np1 * vd, B_ACT);
	ADD(vh, np1 * vd, B_ACT);
	ADD(vq, np1 * vd, B_ACT);
	ADD(vk, np1 * vd, B_ACT);
	ADD(vv, np1 * vd, B_ACT);
	ADD(va, np1 * vd, B_ACT);
	ADD(vm, np1 * (size_t)hp->vit.mlp_dim, B_ACT);
	ADD(feats, MC * NP * fd, B_ACT);
	ADD(cells, NP * fd, B_ACT);
	ADD(cq, NC * fd, B_ACT);
	ADD(pq, NC * vd, B_ACT);
	ADD(pk, NP * vd, B_ACT);
	ADD(pv, NP * vd, B_ACT);
	ADD(pa, NC * vd, B_ACT);
	ADD(pooled, MC * NC * vd, B_ACT);
	ADD(pg, NC * pd, B_ACT);
	ADD(pu, NC * pd, B_ACT);
	ADD(conn, MC * NC * d, B_ACT);
	ADD(ones, NP, B_ACT);
	ADD(emb, ctx * d, B_ACT);
	ADD(x, C * d, B_ACT);
	ADD(h, C * d, B_ACT);
	ADD(qkv, C * (size_t)m->qkv_dim, B_ACT);
	ADD(att, C * d, B_ACT);
	ADD(o, C * d, B_ACT);
	ADD(ff, moe ? 0 : C * 2 * f, B_ACT);
	ADD(act, moe ? 0 : C * f, B_ACT);
	ADD(router, C * E, B_ACT);
	ADD(sel, C * K, B_ACT);
	ADD(rows, moe ? C : 0, B_ACT);
	ADD(eg, C * ef, B_ACT);
	ADD(eu, C * ef, B_ACT);
	ADD(ex, moe ? C * d : 0, B_ACT);
	ADD(ey, moe ? C * d : 0, B_ACT);
	ADD(moe, moe ? C * d : 0, B_ACT);
	ADD(kcache, kv, B_KV);
	ADD(vcache, kv, B_KV);
	ADD(rope_cos, ctx * (size_t)(hp->head_dim / 2), B_ACT);
	ADD(rope_sin, ctx * (size_t)(hp->head_dim / 2), B_ACT);
	ADD(logits, V, B_ACT);
	ADD(first_logits, V, B_ACT);
	ADD(aq, aqn, B_ACT);
	ADD(ao, aqn, B_ACT);
	ADD(ak, np1 * vhd, B_ACT);
	ADD(avt, avn, B_ACT);
	ADD(as, asn, B_ACT);
	ADD(cand, V, B_ACT);
	ADD(ids, ctx + 1, B_ACT); /* + the last token, never fed back */
#undef ADD
	return n;
}

static void
plan(struct model *m, int n_ctx, int chunk)
{
	struct buf_spec b[MAXBUF];
	int n = session_bufs(m, n_ctx, chunk, MODEL_MAX_CROPS,
	                     m->params.n_threads, b),
	    i;

	m->mem.weights_mapped = st_mapped_bytes(m->st);
	m->mem.weights_copied = m->w.bytes_copied;
	m->mem.kv_cache = 0;
	m->mem.activations = 0;
	for (i = 0; i < n; i++) {
		uint64_t bytes = (uint64_t)b[i].n * b[i].size;

		if (b[i].cls == B_KV)
			m->mem.kv_cache += bytes;
		else
			m->mem.activations += bytes;
	}
	m->mem.total = m->mem.weights_mapped + m->mem.weights_copied +
	               m->mem.kv_cache + m->mem.activations;
}

static int
context_len(const struct model *m)
{
	int n = m->params.n_ctx;

	if (n <= 0)
		n = m->hp.max_pos < 2048 ? m->hp.max_pos : 2048;
	if (n > m->hp.max_pos)
		n = m->hp.max_pos;
	return n;
}

/* ---- Open and close ---- */

struct model *
model_open(const char *dir, const struct model_params *p, struct err *e)
{
	struct model *m = xcalloc(1, sizeof(*m));
	char desc[64];

	m->params = p != NULL ? *p : model_params_default();
	if (m->params.n_threads < 1 || m->params.n_threads > POOL_MAX_THREADS) {
		err_set(e, "threads: %d outside 1..%d", m->params.n_threads,
		        POOL_MAX_THREADS);
		goto fail;
	}
	if (m->params.n_ctx < 0 || m->params.n_ctx > MODEL_MAX_CTX) {
		err_set(e, "context: %d outside 0..%d", m->params.n_ctx,
		        MODEL_MAX_CTX);
		goto fail;
	}
	if (m->params.prefill_chunk < 1 || m->params.prefill_chunk > 65536) {
		err_set(e, "prefill chunk: %d outside 1..65536",
		        m->params.prefill_chunk);
		goto fail;
	}
	kern_init();
	m->dir = xstrdup(dir);
	if (model2_is_molmo2(dir)) {
		m->m2 = model2_open(dir, &m->params, m->params.tokenizer,
		                    m->params.vocab_map, e);
		if (m->m2 == NULL)
			goto fail;
		if (m->params.mem_available != 0 &&
		    m->m2->mem.total > m->params.mem_available) {
			err_set(e,
			        "%s: molmo2 model needs %.2f GiB, only %.2f "
			        "GiB available",
			        dir, (double)m->m2->mem.total / (1 << 30),
			        (double)m->params.mem_available / (1 << 30));
			goto fail;
		}
		return m;
	}
	if (hparams_load(&m->hp, dir, e) == -1)
		goto fail;
	if (derive(m, e) == -1)
		goto fail;
	m->st = st_open(dir, e);
	if (m->st == NULL)
		goto fail;
	if (weights_load(&m->w, m->st, &m->hp,
	                 m->params.weights == MODEL_WEIGHTS_BF16, e) == -1) {
		err_prefix(e, "%s", dir);
		goto fail;
	}
	if (prep_config_load(dir, &m->prep_cfg, e) == -1)
		goto fail;
	m->tok = tok_open(dir, e);
	if (m->tok == NULL)
		goto fail;
	m->eos_id = tok_eos(m->tok);
	m->bos_id = tok_bos(m->tok) >= 0 ? tok_bos(m->tok) : m->eos_id;
	if (m->bos_id < 0) {
		err_set(e, "%s: tokenizer has neither BOS nor EOS", dir);
		goto fail;
	}
	m->prep_ids.bos = m->bos_id;
	m->prep_ids.im_start = tok_id(m->tok, "<im_start>");
	m->prep_ids.im_end = tok_id(m->tok, "<im_end>");
	m->prep_ids.im_patch = tok_id(m->tok, "<im_patch>");
	m->prep_ids.im_col = tok_id(m->tok, "<im_col>");
	if (m->prep_ids.im_start < 0 || m->prep_ids.im_end < 0 ||
	    m->prep_ids.im_patch < 0 || m->prep_ids.im_col < 0) {
		err_set(e,
		        "%s: tokenizer lacks the image tokens <im_start> "
		        "<im_end> <im_patch> <im_col>",
		        dir);
		goto fail;
	}
	if (tok_n_vocab(m->tok) > m->n_embed_rows) {
		err_set(e,
		        "%s: tokenizer has %d ids, the embedding only %d "
		        "rows",
		        dir, (int)tok_n_vocab(m->tok), m->n_embed_rows);
		goto fail;
	}
	plan(m, context_len(m), m->params.prefill_chunk);
	if (m->params.mem_available != 0 &&
	    m->mem.total > m->params.mem_available) {
		snprintf(desc, sizeof(desc), "%s",
		         hparams_arch_name(m->hp.arch));
		err_set(
		    e,
		    "%s: %s model needs %.2f GiB (weights %.2f, KV "
		    "cache %.2f, activations %.2f), only %.2f GiB "
		    "available",
		    dir, desc, (double)m->mem.total / (1 << 30),
		    (double)(m->mem.weights_mapped + m->mem.weights_copied) /
		        (1 << 30),
		    (double)m->mem.kv_cache / (1 << 30),
		    (double)m->mem.activations / (1 << 30),
		    (double)m->params.mem_available / (1 << 30));
		goto fail;
	}
	return m;
fail:
	model_close(m);
	return NULL;
}

void
model_close(struct model *m)
{
	if (m == NULL)
		return;
	model2_close(m->m2);
	tok_close(m->tok);
	weights_fini(&m->w);
	st_close(m->st);
	free(m->dir);
	free(m);
}

const struct model_mem *
model_mem(const struct model *m)
{
	if (m->m2 != NULL)
		return &m->m2->mem;
	return &m->mem;
}

int32_t
model_eos(const struct model *m)
{
	if (m->m2 != NULL)
		return m->m2->eos_id;
	return m->eos_id;
}

void
model_describe(const struct model *m, char *buf, size_t n)
{
	const struct hparams *hp = &m->hp;

	if (m->m2 != NULL) {
		char d2[192];
		model2_describe(m->m2, d2, sizeof(d2));
		snprintf(buf, n, "%s%s, kernels %s", d2,
		         m->params.weights == MODEL_WEIGHTS_BF16 ? " bf16" : "",
		         kern_name());
		return;
	}
	snprintf(buf, n,
	         "%s d=%d layers=%d heads=%d/%d ffn=%d vocab=%d%s%s, vit "
	         "%dx%d (runs %d), kernels %s",
	         hparams_arch_name(hp->arch), hp->d_model, hp->n_layers,
	         hp->n_heads, hp->n_kv_heads,
	         hp->arch == HP_ARCH_OLMOE ? hp->moe_hidden : hp->ffn_dim,
	         hp->embedding_size, hp->arch == HP_ARCH_OLMOE ? " moe" : "",
	         m->params.weights == MODEL_WEIGHTS_BF16 ? " bf16" : "",
	         hp->vit.n_layers, hp->vit.d, m->vit_run, kern_name());
}

/* ---- Sessions ---- */

struct model_session *
model_session_new_sized(struct model *m, int n_ctx, int max_crops,
                        struct err *e)
{
	struct model_session *s = xcalloc(1, sizeof(*s));
	struct buf_spec b[MAXBUF];
	int n, i;

	s->m = m;
	if (m->m2 != NULL) {
		s->s2 = model2_session_new(m->m2, max_crops, e);
		if (s->s2 == NULL) {
			free(s);
			return NULL;
		}
		return s;
	}
	s->n_threads = m->params.n_threads;
	s->n_ctx = n_ctx;
	s->chunk = m->params.prefill_chunk;
	s->max_crops = max_crops;
	if (s->chunk > n_ctx)
		s->chunk = n_ctx;
	s->pool = pool_new(s->n_threads, e);
	if (s->pool == NULL)
		goto fail;
	n = session_bufs(m, n_ctx, s->chunk, max_crops, s->n_threads, b);
	for (i = 0; i < n; i++) {
		void *p = calloc(b[i].n ? b[i].n : 1, b[i].size);

		if (p == NULL) {
			err_set(e, "session: out of memory (%zu bytes)",
			        b[i].n * b[i].size);
			goto fail;
		}
		memcpy((char *)s + b[i].off, &p, sizeof(p));
	}
	for (i = 0; i < m->n_patch; i++)
		s->ones[i] = 1.0f;
	lm_rope_init(s);
	s->prep = prep_new(&m->prep_cfg, e);
	if (s->prep == NULL)
		goto fail;
	return s;
fail:
	model_session_free(s);
	return NULL;
}

struct model_session *
model_session_new(struct model *m, struct err *e)
{
	if (m->m2 != NULL)
		return model_session_new_sized(m, 0, m->params.max_crops, e);
	return model_session_new_sized(m, context_len(m), MODEL_MAX_CROPS, e);
}

void
model_session_free(struct model_session *s)
{
	struct buf_spec b[MAXBUF];
	int n, i;

	if (s == NULL)
		return;
	if (s->s2 != NULL) {
		model2_session_free(s->s2);
		free(s);
		return;
	}
	n = session_bufs(s->m, s->n_ctx, s->chunk, s->max_crops, s->n_threads,
	                 b);
	for (i = 0; i < n; i++) {
		void *p;

		memcpy(&p, (char *)s + b[i].off, sizeof(p));
		free(p);
	}
	prep_free(s->prep);
	pool_free(s->pool);
	free(s->text);
	free(s);
}

/* ---- One request ---- */

static bool
cancelled(const struct model_request *rq)
{
	return rq->cancel != NULL && rq->cancel(rq->cancel_arg) != 0;
}

/* Tokenize the wrapped prompt and lay out input_ids into s->ids. */
static int
build_ids(struct model_session *s, const struct model_request *rq,
          const struct prep_out *po, struct err *e)
{
	const struct model *m = s->m;
	size_t len = prep_prompt_text(NULL, 0, rq->prompt) + 1;
	char *text = xmalloc(len);
	int32_t *tids = NULL;
	ssize_t nt, n;

	prep_prompt_text(text, len, rq->prompt);
	nt = tok_encode_alloc(m->tok, text, len - 1, &tids, e);
	free(text);
	if (nt < 0)
		return -1;
	n = prep_build_input_ids(po, &m->prep_ids, tids, (size_t)nt, s->ids,
	                         (size_t)s->n_ctx, e);
	free(tids);
	if (n < 0)
		return err_prefix(e,
		                  "prompt and image do not fit the %d-token "
		                  "context",
		                  s->n_ctx);
	s->n_prompt = (int)n;
	return 0;
}

/* Vision stage: ViT and connector of every crop, then the embeddings. */
static int
vision(struct model_session *s, const struct model_request *rq,
       const struct prep_out *po, bool *stop, struct err *e)
{
	const struct model *m = s->m;
	int c, j, d = m->hp.d_model;

	if (po->n_crops > s->max_crops)
		return err_set(e, "image: %d crops, at most %d", po->n_crops,
		               s->max_crops);
	if (po->n_patches != m->n_patch || po->patch_dim != m->patch_dim ||
	    po->n_pooled != m->n_cell)
		return err_set(e,
		               "image: preprocessing gives %dx%d patches "
		               "and %d cells, the model wants %dx%d and %d",
		               po->n_patches, po->patch_dim, po->n_pooled,
		               m->n_patch, m->patch_dim, m->n_cell);
	for (c = 0; c < po->n_crops; c++) {
		if (cancelled(rq)) {
			*stop = true;
			return 0;
		}
		vit_crop(s, po->images + (size_t)c * m->n_patch * m->patch_dim,
		         c);
		conn_crop(s,
		          po->masks != NULL ? po->masks + (size_t)c * m->n_patch
		                            : s->ones,
		          c);
	}
	s->n_crops = po->n_crops;
	/* x[image_input_idx] += connector output (spec §3.6) */
	for (c = 0; c < po->n_crops * m->n_cell; c++) {
		int32_t at = po->input_idx[c];
		float *dst;
		const float *src = s->conn + (size_t)c * d;

		if (at < 0)
			continue;
		if (at >= s->n_prompt)
			return err_set(e,
			               "image_input_idx %d beyond the %d "
			               "prompt tokens",
			               at, s->n_prompt);
		dst = s->emb + (size_t)at * d;
		for (j = 0; j < d; j++)
			dst[j] += src[j];
	}
	return 0;
}

/* s->text = the n generated ids after the prompt, decoded. */
static int
decode_text(struct model_session *s, int n, struct err *e)
{
	const struct model *m = s->m;
	int32_t *kept = xcalloc((size_t)n + 1, sizeof(*kept));
	int32_t nv = tok_n_vocab(m->tok);
	struct buf out;
	int i, k = 0;

	for (i = 0; i < n; i++) {
		int32_t id = s->ids[s->n_prompt + i];

		if (id >= 0 && id < nv && tok_token(m->tok, id) != NULL)
			kept[k++] = id;
	}
	buf_init(&out, MODEL_TEXT_MAX);
	if (tok_decode(m->tok, kept, (size_t)k, TOK_SKIP_SPECIAL, &out, e) ==
	    -1) {
		free(kept);
		return err_prefix(e, "decoding the answer");
	}
	free(kept);
	free(s->text);
	s->text = buf_steal(&out, NULL);
	if (s->text == NULL)
		s->text = xstrdup("");
	return 0;
}

static int
pick(struct model_session *s, const struct model_request *rq)
{
	return gen_sample(s, s->logits, s->m->n_vocab_out, rq->temperature,
	                  rq->top_p);
}

int
model_run(struct model_session *s, const struct model_request *rq,
          struct model_result *res, struct err *e)
{
	struct model *m = s->m;
	struct prep_out po;
	double t0 = clock_ms(), t1;
	bool stop = false;
	int tok, n_gen = 0, done, c, i;
	float *xe;

	memset(res, 0, sizeof(*res));
	if (s->s2 != NULL) {
		struct model2_request r2 = model2_request_default();
		int rc;

		if (rq->temperature > 0)
			return err_set(e,
			               "molmo2: only greedy decoding is "
			               "implemented (temperature %g)",
			               (double)rq->temperature);
		r2.image = rq->image;
		r2.prompt = rq->prompt;
		r2.max_crops = rq->max_crops;
		r2.max_new_tokens = rq->max_new_tokens;
		r2.ignore_eos = rq->ignore_eos;
		r2.on_token = rq->on_token;
		r2.token_arg = rq->token_arg;
		r2.cancel = rq->cancel;
		r2.cancel_arg = rq->cancel_arg;
		rc = model2_run(s->s2, &r2, res, e);
		if (rc == 0)
			res->points = model2_points(s->s2, &res->n_points);
		return rc;
	}
	memset(&s->t, 0, sizeof(s->t));
	s->n_crops = 0;
	s->n_ids = 0;
	s->n_past = 0;
	s->have_first = false;
	if (rq->max_new_tokens < 1)
		return err_set(e, "max_new_tokens: must be at least 1");
	if (rq->prompt == NULL)
		return err_set(e, "prompt: missing");
	if (rq->image != NULL) {
		if (prep_run(s->prep, rq->image, s->pool, &po, e) == -1)
			return err_prefix(e, "image");
		if (build_ids(s, rq, &po, e) == -1)
			return -1;
	} else if (build_ids(s, rq, NULL, e) == -1) {
		return -1;
	}
	s->n_ids = s->n_prompt;
	s->t.n_prompt = s->n_prompt;
	for (i = 0; i < s->n_prompt; i++)
		if (s->ids[i] < 0 || s->ids[i] >= m->n_embed_rows)
			return err_set(e,
			               "token id %d outside the %d-row "
			               "embedding",
			               s->ids[i], m->n_embed_rows);
	lm_embed(m, s->ids, s->n_prompt, s->emb);
	t1 = clock_ms();
	s->t.preprocess_ms = t1 - t0;

	if (rq->image != NULL) {
		if (vision(s, rq, &po, &stop, e) == -1)
			return -1;
		s->t.n_crops = s->n_crops;
	}
	t0 = clock_ms();
	s->t.vision_ms = t0 - t1;
	gen_seed(s, rq->seed);

	/* prefill, chunk by chunk so cancellation is prompt */
	for (done = 0; !stop && done < s->n_prompt; done += c) {
		c = s->n_prompt - done < s->chunk ? s->n_prompt - done
		                                  : s->chunk;
		if (cancelled(rq)) {
			stop = true;
			break;
		}
		lm_forward(s, s->emb + (size_t)done * m->hp.d_model, c, NULL);
	}
	t1 = clock_ms();
	s->t.prefill_ms = t1 - t0;
	res->stop = MODEL_STOP_CANCEL;
	if (!stop) {
		memcpy(s->first_logits, s->logits,
		       (size_t)m->n_vocab_out * sizeof(float));
		s->have_first = true;
		tok = pick(s, rq);
		for (;;) {
			size_t plen = 0;
			const char *piece;

			if (tok == m->eos_id && !rq->ignore_eos) {
				res->stop = MODEL_STOP_EOS;
				break;
			}
			s->ids[s->n_ids++] = tok;
			n_gen++;
			piece = tok_piece(m->tok, tok, &plen);
			if (rq->on_token != NULL &&
			    rq->on_token(rq->token_arg, tok,
			                 piece != NULL ? piece : "",
			                 plen) != 0) {
				res->stop = MODEL_STOP_CANCEL;
				break;
			}
			if (n_gen >= rq->max_new_tokens) {
				res->stop = MODEL_STOP_LENGTH;
				break;
			}
			if (s->n_past >= s->n_ctx) {
				res->stop = MODEL_STOP_CTX;
				break;
			}
			if (cancelled(rq)) {
				res->stop = MODEL_STOP_CANCEL;
				break;
			}
			xe = s->emb + (size_t)s->n_past * m->hp.d_model;
			lm_embed(m, &s->ids[s->n_ids - 1], 1, xe);
			lm_forward(s, xe, 1, NULL);
			tok = pick(s, rq);
		}
	}
	s->t.decode_ms = clock_ms() - t1;
	s->t.n_gen = n_gen;

	/* text: generated ids decoded, specials skipped; ids the tokenizer
	 * does not know (padding rows of the LM head, spec §6.4) have no
	 * text and are left out */
	if (decode_text(s, n_gen, e) == -1)
		return -1;
	res->ids = s->ids + s->n_prompt;
	res->n_ids = n_gen;
	res->text = s->text;
	res->prompt_ids = s->ids;
	res->n_prompt = s->n_prompt;
	res->t = s->t;
	return 0;
}

const float *
model_session_tensor(const struct model_session *s, enum model_tensor which,
                     int64_t shape[3], int *ndim)
{
	const struct model *m = s->m;

	if (s->s2 != NULL)
		return model2_tensor(s->s2, which, shape, ndim);
	switch (which) {
	case MODEL_T_VIT_FEATURES:
		if (s->n_crops == 0)
			return NULL;
		shape[0] = s->n_crops;
		shape[1] = m->n_patch;
		shape[2] = m->feat_dim;
		*ndim = 3;
		return s->feats;
	case MODEL_T_POOLED:
		if (s->n_crops == 0)
			return NULL;
		shape[0] = s->n_crops;
		shape[1] = m->n_cell;
		shape[2] = m->hp.vit.d;
		*ndim = 3;
		return s->pooled;
	case MODEL_T_CONNECTOR:
		if (s->n_crops == 0)
			return NULL;
		shape[0] = s->n_crops;
		shape[1] = m->n_cell;
		shape[2] = m->hp.d_model;
		*ndim = 3;
		return s->conn;
	case MODEL_T_FIRST_LOGITS:
		if (!s->have_first)
			return NULL;
		shape[0] = m->n_vocab_out;
		*ndim = 1;
		return s->first_logits;
	case MODEL_T_PATCH_K:
	case MODEL_T_SUBPATCH_K:
		return NULL;
	}
	return NULL;
}
