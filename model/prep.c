/* SPDX-License-Identifier: ISC */
/*
 * prep.c: Molmo v1 image preprocessing (docs/molmo-v1.md section 4) and the
 * input-id layout (sections 4.8, 5.2, 5.3).
 *
 * The order follows the reference processor (image_preprocessing_molmo.py):
 *   select_tiling  -> rows x cols of 224-pixel windows      (4.3)
 *   resize_and_pad -> the high-res canvas and the 336x336 global view, each
 *                     a letterboxed, CLIP-normalised resize of the ORIGINAL
 *                     pixels                                 (4.4,
 * prep_resize.c) crops          -> [global, tile(0,0), tile(0,1), ...]    (4.5)
 *   patchify       -> [n_crops, 576, 588]                    (4.6)
 *   image_masks    -> shifted by one crop (the quirk)        (4.7)
 *   token layout and image_input_idx (closed form)           (4.8, 4.9)
 *
 * Design: a struct prep owns every buffer and grows them only when an image
 * needs more, so the steady state allocates nothing.  The pixel work runs in
 * fork-join phases: for torch first the column pass over the input rows
 * (into a per-view intermediate image); then, for both flavours, one phase
 * over "bands", the patch-high strips of canvas rows of the global view and
 * of the high-res canvas.  A band's content rows are resized (the rest of
 * the resize, clip, normalise) into a small per-thread buffer whose columns
 * outside the content hold the padding value, and every crop patch row made
 * of that band (one for the global view; for the high-res canvas one per
 * overlapping crop: one or two crop rows times cols) is written into the
 * output, with its masks.  No content image is kept, and every
 * output value is written once.  Bands are split between threads by
 * estimated cost; each output value is computed by exactly one thread with
 * the same float operations in the same order, so any thread count gives
 * bit-identical results.  Float arithmetic mirrors the reference in
 * float32; the module is built with -ffp-contract=off so no FMA changes a
 * rounding.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/pool.h"
#include "model/prep.h"
#include "model/prep_impl.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* ---- Configuration ---- */

void
prep_config_default(struct prep_config *cfg, enum prep_resize r)
{
	static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
	static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

	memset(cfg, 0, sizeof(*cfg));
	cfg->base_h = 336;
	cfg->base_w = 336;
	cfg->patch = 14;
	cfg->tok_h = 12;
	cfg->tok_w = 12;
	cfg->max_crops = 12;
	cfg->margin[0] = 4;
	cfg->margin[1] = 4;
	cfg->padding_mask = true;
	memcpy(cfg->mean, mean, sizeof(mean));
	memcpy(cfg->std, std, sizeof(std));
	cfg->resize = r;
}

int
prep_config_check(const struct prep_config *c, struct err *e)
{
	int cp, i;

	if (c->patch < 1 || c->patch > PREP_MAX_PATCH)
		return err_set(e, "image_patch_size %d unsupported", c->patch);
	if (c->base_h != c->base_w || c->base_h < c->patch ||
	    c->base_h > 4096 || c->base_h % c->patch != 0)
		return err_set(e,
		               "base_image_input_size %dx%d unsupported "
		               "(square, a multiple of the patch size)",
		               c->base_h, c->base_w);
	cp = c->base_h / c->patch;
	if (cp % 2 != 0 || c->tok_h != cp / 2 || c->tok_w != cp / 2)
		return err_set(e,
		               "image_token_length %dx%d does not match "
		               "2x2 pooling of %dx%d patches",
		               c->tok_h, c->tok_w, cp, cp);
	if (c->max_crops < 1 || c->max_crops > 64)
		return err_set(e, "max_crops %d out of range 1..64",
		               c->max_crops);
	if (c->margin[0] < 0 || c->margin[1] < 0 || c->margin[0] % 2 != 0 ||
	    c->margin[1] % 2 != 0 || c->margin[0] + c->margin[1] >= cp)
		return err_set(e,
		               "overlap_margins [%d, %d] unsupported "
		               "(even, smaller than the crop)",
		               c->margin[0], c->margin[1]);
	for (i = 0; i < 3; i++) {
		if (!(c->std[i] > 0.0f) || c->std[i] > 1e6f ||
		    !(c->mean[i] >= -1e6f && c->mean[i] <= 1e6f))
			return err_set(e, "image_mean/image_std invalid");
	}
	if (c->resize != PREP_RESIZE_TF && c->resize != PREP_RESIZE_TORCH)
		return err_set(e, "unknown resize flavour %d", (int)c->resize);
	return 0;
}

static int
json_int_pair(json_t *root, const char *key, int out[2], struct err *e)
{
	json_t *v = json_object_get(root, key);

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    !json_is_integer(json_array_get(v, 0)) ||
	    !json_is_integer(json_array_get(v, 1)) ||
	    json_integer_value(json_array_get(v, 0)) < 0 ||
	    json_integer_value(json_array_get(v, 0)) > 1 << 20 ||
	    json_integer_value(json_array_get(v, 1)) < 0 ||
	    json_integer_value(json_array_get(v, 1)) > 1 << 20)
		return err_set(e, "%s: expected two small integers", key);
	out[0] = (int)json_integer_value(json_array_get(v, 0));
	out[1] = (int)json_integer_value(json_array_get(v, 1));
	return 0;
}

static int
json_int(json_t *root, const char *key, int *out, struct err *e)
{
	json_t *v = json_object_get(root, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 1 << 20)
		return err_set(e, "%s: expected a small integer", key);
	*out = (int)json_integer_value(v);
	return 0;
}

static int
json_float3(json_t *root, const char *key, float out[3], struct err *e)
{
	json_t *v = json_object_get(root, key);
	size_t i;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) != 3)
		return err_set(e, "%s: expected three numbers", key);
	for (i = 0; i < 3; i++) {
		if (!json_is_number(json_array_get(v, i)))
			return err_set(e, "%s: expected three numbers", key);
		/* The reference builds np.float32 arrays from these. */
		out[i] = (float)json_number_value(json_array_get(v, i));
	}
	return 0;
}

static json_t *
load_json(const char *dir, const char *name, bool optional, struct err *e)
{
	char path[4096];
	json_error_t jerr;
	json_t *root;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		err_set(e, "%s: path too long", dir);
		return NULL;
	}
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (optional && jerr.position == 0 && errno == ENOENT) {
			e->msg[0] = '\0';
			return NULL;
		}
		err_set(e, "%s:%d:%d: %s", path, jerr.line, jerr.column,
		        jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		err_set(e, "%s: not a JSON object", path);
		return NULL;
	}
	return root;
}

/* Which reference processor the checkpoint ships: the MolmoE remote code
 * resizes with torchvision, the Molmo-7B-D/7B-O/72B code with TensorFlow. */
static enum prep_resize
resize_flavour(json_t *config)
{
	json_t *am, *v;
	const char *s;

	am = json_object_get(config, "auto_map");
	v = json_object_get(am, "AutoModelForCausalLM");
	s = json_string_value(v);
	if (s != NULL)
		return strncmp(s, "modeling_molmoe.", 16) == 0
		           ? PREP_RESIZE_TORCH
		           : PREP_RESIZE_TF;
	if (json_object_get(config, "moe_num_experts") != NULL)
		return PREP_RESIZE_TORCH;
	return PREP_RESIZE_TF;
}

int
prep_config_load(const char *dir, struct prep_config *cfg, struct err *e)
{
	struct err e2;
	json_t *pc, *mc, *v;
	int base[2];

	if (e == NULL)
		e = &e2;
	mc = load_json(dir, "config.json", true, e);
	if (mc == NULL && e->msg[0] != '\0')
		return -1;
	prep_config_default(cfg,
	                    mc != NULL ? resize_flavour(mc) : PREP_RESIZE_TF);
	json_decref(mc);
	pc = load_json(dir, "preprocessor_config.json", false, e);
	if (pc == NULL)
		return -1;
	base[0] = cfg->base_h;
	base[1] = cfg->base_w;
	if (json_int_pair(pc, "base_image_input_size", base, e) == -1 ||
	    json_int(pc, "image_patch_size", &cfg->patch, e) == -1 ||
	    json_int(pc, "image_token_length_h", &cfg->tok_h, e) == -1 ||
	    json_int(pc, "image_token_length_w", &cfg->tok_w, e) == -1 ||
	    json_int(pc, "max_crops", &cfg->max_crops, e) == -1 ||
	    json_int_pair(pc, "overlap_margins", cfg->margin, e) == -1 ||
	    json_float3(pc, "image_mean", cfg->mean, e) == -1 ||
	    json_float3(pc, "image_std", cfg->std, e) == -1)
		goto fail;
	cfg->base_h = base[0];
	cfg->base_w = base[1];
	v = json_object_get(pc, "image_padding_mask");
	if (v != NULL) {
		if (!json_is_boolean(v)) {
			err_set(e, "image_padding_mask: expected a boolean");
			goto fail;
		}
		cfg->padding_mask = json_is_true(v);
	}
	v = json_object_get(pc, "do_normalize");
	if (v != NULL && !json_is_true(v)) {
		err_set(e, "do_normalize false is not supported");
		goto fail;
	}
	json_decref(pc);
	if (prep_config_check(cfg, e) == -1)
		return err_prefix(e, "%s/preprocessor_config.json", dir);
	return 0;
fail:
	json_decref(pc);
	return err_prefix(e, "%s/preprocessor_config.json", dir);
}

/* ---- Geometry ---- */

static float
min_f(float a, float b)
{
	return b < a ? b : a;
}

/*
 * select_tiling (section 4.3): the tiling (rows x cols of win-pixel windows,
 * at most max_crops) needing the smallest up-scale, or, if every tiling
 * must shrink the image, the one shrinking it least.  h and w are the image
 * size minus the total margin; they may be zero or negative for tiny
 * images, and float division then gives inf or negative scales exactly as
 * numpy does in the reference.
 */
void
prep_select_tiling(int h, int w, int win, int max_crops, int *rows, int *cols)
{
	float fh = (float)h, fw = (float)w, s, best = 0.0f;
	int prod, i, j, bi = 1, bj = 1;
	bool found = false, all_small = true;

	/* First pass: is every scale below 1?  Candidates in the reference's
	 * sort order (i*j, i). */
	for (prod = 1; prod <= max_crops; prod++) {
		for (i = 1; i <= prod; i++) {
			if (prod % i != 0)
				continue;
			j = prod / i;
			s = min_f((float)(i * win) / fh, (float)(j * win) / fw);
			if (!(s < 1.0f))
				all_small = false;
		}
	}
	for (prod = 1; prod <= max_crops; prod++) {
		for (i = 1; i <= prod; i++) {
			if (prod % i != 0)
				continue;
			j = prod / i;
			s = min_f((float)(i * win) / fh, (float)(j * win) / fw);
			if (all_small) {
				/* argmax, first on ties */
				if (!found || s > best) {
					best = s;
					bi = i;
					bj = j;
					found = true;
				}
			} else {
				/* argmin over the scales >= 1 (others set to
				 * 1e10), first on ties */
				if (s < 1.0f)
					s = 1e10f;
				if (!found || s < best) {
					best = s;
					bi = i;
					bj = j;
					found = true;
				}
			}
		}
	}
	*rows = bi;
	*cols = bj;
}

/*
 * The size an h x w image is resized to inside a th x tw box, keeping the
 * aspect ratio: float32 scales, float32 products, truncation toward zero
 * (section 4.4 step 1; 1920x1080 into 1008x784 gives 1007x567).
 */
void
prep_fit(int h, int w, int th, int tw, int *oh, int *ow)
{
	float sy = (float)th / (float)h, sx = (float)tw / (float)w;
	float s = sx < sy ? sx : sy;

	*oh = (int)((float)h * s);
	*ow = (int)((float)w * s);
}

/* ---- The reusable preprocessor ---- */

const struct prep_kern prep_kern_base = {
    "sse2",
    prep_kern_tf_rows,
    prep_kern_torch_cols,
    prep_kern_torch_rows,
    prep_kern_emit,
    prep_kern_fence,
};
const struct prep_kern prep_kern_avx2 = {
    "avx2",
    prep_kern_tf_rows_avx2,
    prep_kern_torch_cols_avx2,
    prep_kern_torch_rows_avx2,
    prep_kern_emit_avx2,
    prep_kern_fence_avx2,
};
const struct prep_kern prep_kern_avx512 = {
    "avx512",
    prep_kern_tf_rows_avx512,
    prep_kern_torch_cols_avx512,
    prep_kern_torch_rows_avx512,
    prep_kern_emit_avx512,
    prep_kern_fence_avx512,
};

/* Grow *p to hold n elements of size sz; returns -1 on overflow or ENOMEM
 * (the old buffer is kept). */
static int
grow(void **p, size_t *cap, size_t n, size_t sz, struct err *e)
{
	size_t bytes;
	void *q;

	if (n <= *cap)
		return 0;
	if (__builtin_mul_overflow(n, sz, &bytes))
		return err_set(e, "preprocess: buffer size overflow");
	q = realloc(*p, bytes);
	if (q == NULL)
		return err_set(e, "preprocess: out of memory (%zu bytes)",
		               bytes);
	*p = q;
	*cap = n;
	return 0;
}

/* grow() for p->images: 64-byte aligned (whole cache lines for the
 * streaming stores); the old contents are not kept. */
static int
grow_aligned(float **p, size_t *cap, size_t n, struct err *e)
{
	size_t bytes;
	void *q;

	if (n <= *cap)
		return 0;
	if (__builtin_mul_overflow(n, sizeof(float), &bytes) ||
	    bytes > SIZE_MAX - 64)
		return err_set(e, "preprocess: buffer size overflow");
	bytes = (bytes + 63) & ~(size_t)63;
	q = aligned_alloc(64, bytes);
	if (q == NULL)
		return err_set(e, "preprocess: out of memory (%zu bytes)",
		               bytes);
	free(*p);
	*p = q;
	*cap = n;
	return 0;
}

struct prep *
prep_new(const struct prep_config *cfg, struct err *e)
{
	struct prep *p;
	int i;

	if (prep_config_check(cfg, e) == -1)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->cfg = *cfg;
	/* Same results either way; AVX2 and AVX-512 only do them 8 or 16
	 * at a time. */
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw"))
		p->kern = &prep_kern_avx512;
	else if (__builtin_cpu_supports("avx2"))
		p->kern = &prep_kern_avx2;
	else
		p->kern = &prep_kern_base;
	/* Non-temporal stores for the output (see prep_kern_emit). */
	p->stream = true;
	for (i = 0; i < 3; i++)
		p->pad[i] = (0.0f - cfg->mean[i]) / cfg->std[i];
	for (i = 0; i < cfg->patch * 3; i++)
		p->padrow[i] = p->pad[i % 3];
	return p;
}

static void
view_fini(struct prep_view *v)
{
	free(v->ax_y.start);
	free(v->ax_y.len);
	free(v->ax_y.w);
	free(v->ax_y.pstart);
	free(v->ax_y.pw);
	free(v->ax_x.start);
	free(v->ax_x.len);
	free(v->ax_x.w);
	free(v->ax_x.pstart);
	free(v->ax_x.pw);
	free(v->ax_y.zbase);
	free(v->ax_y.zidx);
	free(v->ax_y.zw);
	free(v->ax_x.zbase);
	free(v->ax_x.zidx);
	free(v->ax_x.zw);
	free(v->tmp);
}

void
prep_free(struct prep *p)
{
	if (p == NULL)
		return;
	view_fini(&p->global);
	view_fini(&p->hires);
	free(p->scratch);
	free(p->padcanvas);
	free(p->images);
	free(p->masks);
	free(p->input_idx);
	free(p->layout);
	free(p);
}

const struct prep_config *
prep_config(const struct prep *p)
{
	return &p->cfg;
}

/* Set up one resize-and-pad target: content size, letterbox offsets,
 * weights and buffers. */
static int
view_plan(struct prep *p, struct prep_view *v, const struct model_image *img,
          int th, int tw, struct err *e)
{
	v->th = th;
	v->tw = tw;
	prep_fit(img->h, img->w, th, tw, &v->h, &v->w);
	if (v->h < 1 || v->w < 1)
		return err_set(e,
		               "preprocess: %dx%d image is too thin to "
		               "resize into %dx%d",
		               img->w, img->h, tw, th);
	v->top = (th - v->h) / 2;
	v->left = (tw - v->w) / 2;
	if (prep_axis(&v->ax_y, img->h, v->h, p->cfg.resize, e) == -1 ||
	    prep_axis(&v->ax_x, img->w, v->w, p->cfg.resize, e) == -1)
		return -1;
	/* Torch resamples columns first into tmp [H_in][w][3]; TF needs no
	 * intermediate image (each content row is computed from the input). */
	if (p->cfg.resize == PREP_RESIZE_TORCH &&
	    grow((void **)&v->tmp, &v->tmp_cap,
	         (size_t)img->h * (size_t)v->w * 3, sizeof(float), e) == -1)
		return -1;
	return 0;
}

/* ---- Fork-join phases ---- */

enum phase {
	PHASE_TORCH_COLS, /* torch resize, first pass (columns) */
	PHASE_BANDS,      /* resize rows, clip, normalise, patchify, masks */
};

struct job {
	struct prep *p;
	const struct model_image *img;
	enum phase phase;
	int n_bands[2]; /* ps-row canvas bands of the global view, the hires */
	int n_units;    /* n_bands[0] + n_bands[1] */
};

/* Split n units into nth nearly equal contiguous ranges. */
static void
split(int n, int ith, int nth, int *lo, int *hi)
{
	*lo = (int)((long long)n * ith / nth);
	*hi = (int)((long long)n * (ith + 1) / nth);
}

/* Length of the overlap of [a, a+n) and [b, b+m). */
static int
overlap(int a, int n, int b, int m)
{
	int lo = a > b ? a : b, hi = a + n < b + m ? a + n : b + m;

	return hi > lo ? hi - lo : 0;
}

/* Masks of crop t's patch row py (section 4.7: high-res crop k = t - 1
 * writes mask row k). */
static void
mask_row(struct prep *p, int t, int py)
{
	const struct prep_config *c = &p->cfg;
	const struct prep_view *v = &p->hires;
	int ps = c->patch, cp = c->base_h / ps, win, y0, x0, px, k;

	win = (cp - c->margin[0] - c->margin[1]) * ps;
	y0 = (t - 1) / p->cols * win;
	x0 = (t - 1) % p->cols * win;
	for (px = 0; px < cp; px++) {
		k = overlap(y0 + py * ps, ps, v->top, v->h) *
		    overlap(x0 + px * ps, ps, v->left, v->w);
		p->masks[(size_t)(t - 1) * cp * cp + (size_t)py * cp + px] =
		    (float)k / (float)(ps * ps);
	}
}

/* Which view and band a unit is: the global view's canvas bands come
 * first, then the high-res canvas's. */
static struct prep_view *
unit_view(struct job *j, int u, int *b)
{
	if (u < j->n_bands[0]) {
		*b = u;
		return &j->p->global;
	}
	*b = u - j->n_bands[0];
	return &j->p->hires;
}

/* Rough cost of a unit (resize multiply-adds plus values written), only to
 * balance the threads; any split gives the same bits. */
static double
unit_cost(struct job *j, int u)
{
	const struct prep *p = j->p;
	const struct prep_config *c = &p->cfg;
	const struct prep_view *v;
	int ps = c->patch, cp = c->base_h / ps, b, y, lo, hi, n_out;
	double cost = 0.0, in_n = (double)j->img->w * 3;

	v = unit_view(j, u, &b);
	lo = b * ps - v->top;
	hi = lo + ps;
	lo = lo < 0 ? 0 : lo;
	hi = hi > v->h ? v->h : hi;
	for (y = lo; y < hi; y++) {
		cost += (double)v->w * 3 * v->ax_x.taps * 4.0 / 3.0;
		cost += (double)v->ax_y.len[y] *
		        (c->resize == PREP_RESIZE_TF ? in_n : (double)v->w * 3);
	}
	/* patch rows emitted: 1 for the global view, up to 2 crop rows x
	 * cols for the high-res one */
	n_out = 1;
	if (v == &p->hires) {
		int wp = cp - c->margin[0] - c->margin[1], i;

		n_out = 0;
		for (i = 0; i < p->rows; i++)
			if (b - i * wp >= 0 && b - i * wp < cp)
				n_out += p->cols;
	}
	return cost + (double)n_out * cp * ps * ps * 3 * 2.0;
}

/* Units [lo, hi) for thread ith of nth, cutting the running cost into
 * nearly equal parts.  Deterministic for a given nth. */
static void
split_cost(struct job *j, int ith, int nth, int *lo, int *hi)
{
	double total = 0.0, acc = 0.0;
	int u, cut[2] = {0, j->n_units}, k;

	if (nth == 1) {
		*lo = 0;
		*hi = j->n_units;
		return;
	}
	for (u = 0; u < j->n_units; u++)
		total += unit_cost(j, u);
	/* cut k (k = ith, ith + 1) is the first unit whose cost ends past
	 * total * k / nth */
	for (k = 0; k < 2; k++) {
		if (ith + k == 0 || ith + k == nth)
			continue;
		acc = 0.0;
		for (u = 0; u < j->n_units; u++) {
			acc += unit_cost(j, u);
			if (acc > total * (ith + k) / nth)
				break;
		}
		cut[k] = u;
	}
	*lo = cut[0];
	*hi = cut[1] > cut[0] ? cut[1] : cut[0];
}

/*
 * One band: canvas rows [b * ps, b * ps + ps) of view v.  Its content rows
 * are resized into the thread's band buffer (whose columns outside the
 * content hold padding), then every crop patch row made of this band is
 * emitted: the global crop's row b, or for each high-res crop row i that
 * covers the band its patch row b - i * wp in all cols crops.
 */
static void
band(struct job *j, struct prep_view *v, int b, float *scratch, int *tag)
{
	struct prep *p = j->p;
	const struct prep_config *c = &p->cfg;
	int ps = c->patch, cp = c->base_h / ps, wp, lo, hi, dy, i, k, t, py;
	size_t pdim = (size_t)ps * ps * 3;
	float *bandbuf = scratch + p->band_off, *out;
	const float *rows[PREP_MAX_PATCH];
	bool stream = p->stream;

	lo = b * ps - v->top;
	hi = lo + ps;
	lo = lo < 0 ? 0 : lo;
	hi = hi > v->h ? v->h : hi;
	for (dy = 0; dy < ps; dy++) {
		k = b * ps + dy - v->top;
		rows[dy] = k >= lo && k < hi
		               ? bandbuf + (size_t)dy * p->band_stride
		               : p->padcanvas;
	}
	if (hi > lo) {
		out = bandbuf +
		      (size_t)(lo + v->top - b * ps) * p->band_stride +
		      (size_t)v->left * 3;
		if (c->resize == PREP_RESIZE_TF)
			p->kern->tf_rows(p, v, j->img, scratch, tag, lo, hi,
			                 out, p->band_stride);
		else
			p->kern->torch_rows(p, v, lo, hi, out, p->band_stride);
	}
	if (v == &p->global) {
		p->kern->emit(p->images + (size_t)b * cp * pdim, rows, 0, ps,
		              cp, stream);
		return;
	}
	wp = cp - c->margin[0] - c->margin[1];
	for (i = 0; i < p->rows; i++) {
		py = b - i * wp;
		if (py < 0 || py >= cp)
			continue;
		for (k = 0; k < p->cols; k++) {
			t = 1 + i * p->cols + k;
			p->kern->emit(
			    p->images +
			        ((size_t)t * cp + (size_t)py) * cp * pdim,
			    rows, (size_t)k * wp * ps * 3, ps, cp, stream);
			if (p->masks != NULL)
				mask_row(p, t, py);
		}
	}
}

static void
bands_task(struct job *j, int ith, int nth)
{
	struct prep *p = j->p;
	float *scratch = p->scratch + (size_t)ith * p->scratch_row;
	struct prep_view *v, *cur = NULL;
	int tag[PREP_RING_MAX], lo, hi, u, b, k, dy;

	split_cost(j, ith, nth, &lo, &hi);
	for (u = lo; u < hi; u++) {
		v = unit_view(j, u, &b);
		if (v != cur) {
			/* a new view: the ring holds nothing of it, and the
			 * band's padding columns change */
			cur = v;
			for (k = 0; k < PREP_RING_MAX; k++)
				tag[k] = -1;
			for (dy = 0; dy < p->cfg.patch; dy++)
				memcpy(scratch + p->band_off +
				           (size_t)dy * p->band_stride,
				       p->padcanvas,
				       (size_t)v->tw * 3 * sizeof(float));
		}
		band(j, v, b, scratch, tag);
	}
	if (p->stream)
		p->kern->fence();
}

static void
task(void *arg, int ith, int nth)
{
	struct job *j = arg;
	struct prep *p = j->p;
	float *scratch = p->scratch + (size_t)ith * p->scratch_row;
	int lo, hi;

	if (j->phase == PHASE_TORCH_COLS) {
		split(j->img->h, ith, nth, &lo, &hi);
		p->kern->torch_cols(p, j->img, scratch, lo, hi);
		return;
	}
	bands_task(j, ith, nth);
}

static void
run_phase(struct pool *pool, struct job *j, enum phase phase)
{
	j->phase = phase;
	pool_run(pool, task, j);
}

/* ---- Indices and layout ---- */

/* Is pooled row (or column) r of tile i (of n) kept?  Section 4.9: the
 * first tile keeps all but its far margin, the last all but its near
 * margin, interior tiles only their window. */
static bool
cell_valid(int i, int n, int r, int cp2, int m0, int m1)
{
	if (n == 1)
		return true;
	if (i == 0)
		return r < cp2 - m1 / 2;
	if (i == n - 1)
		return r >= m0 / 2;
	return r >= m0 / 2 && r < cp2 - m1 / 2;
}

static void
build_index(struct prep *p)
{
	const struct prep_config *c = &p->cfg;
	int cp = c->base_h / c->patch, cp2 = cp / 2, wp2, gw, gh, base;
	int t, i, j, r, col, R, C;
	int32_t *idx;
	uint8_t *l;

	wp2 = (cp - c->margin[0] - c->margin[1]) / 2;
	gh = (p->rows * (cp - c->margin[0] - c->margin[1]) + c->margin[0] +
	      c->margin[1] + 1) /
	     2;
	gw = (p->cols * (cp - c->margin[0] - c->margin[1]) + c->margin[0] +
	      c->margin[1] + 1) /
	     2;
	/* Global view: BOS at 0, <im_start> at 1, rows of tok_w patches and a
	 * column token. */
	idx = p->input_idx;
	for (r = 0; r < c->tok_h; r++)
		for (col = 0; col < c->tok_w; col++)
			idx[r * c->tok_w + col] = 2 + r * (c->tok_w + 1) + col;
	base = 1 + 2 + c->tok_h * (c->tok_w + 1) + 1;
	for (t = 1; t < p->n_crops; t++) {
		idx = p->input_idx + (size_t)t * cp2 * cp2;
		i = (t - 1) / p->cols;
		j = (t - 1) % p->cols;
		for (r = 0; r < cp2; r++) {
			for (col = 0; col < cp2; col++) {
				R = wp2 * i + r;
				C = wp2 * j + col;
				if (cell_valid(i, p->rows, r, cp2, c->margin[0],
				               c->margin[1]) &&
				    cell_valid(j, p->cols, col, cp2,
				               c->margin[0], c->margin[1]))
					idx[r * cp2 + col] =
					    base + R * (gw + 1) + C;
				else
					idx[r * cp2 + col] = PREP_DROPPED;
			}
		}
	}
	l = p->layout;
	*l++ = PREP_TOK_START;
	for (r = 0; r < c->tok_h; r++) {
		memset(l, PREP_TOK_PATCH, (size_t)c->tok_w);
		l += c->tok_w;
		*l++ = PREP_TOK_COL;
	}
	*l++ = PREP_TOK_END;
	*l++ = PREP_TOK_START;
	for (r = 0; r < gh; r++) {
		memset(l, PREP_TOK_PATCH, (size_t)gw);
		l += gw;
		*l++ = PREP_TOK_COL;
	}
	*l++ = PREP_TOK_END;
	assert(l - p->layout == p->n_image_tokens);
}

/* ---- prep_run ---- */

int
prep_run(struct prep *p, const struct model_image *img, struct pool *pool,
         struct prep_out *out, struct err *e)
{
	const struct prep_config *c = &p->cfg;
	int cp = c->base_h / c->patch, wp, win, margin_px, gh, gw, t, i, tw;
	size_t n_img, n_mask;
	struct job j;

	memset(out, 0, sizeof(*out));
	if (img == NULL || img->rgb == NULL || img->w < 1 || img->h < 1 ||
	    img->w > PREP_MAX_SIDE || img->h > PREP_MAX_SIDE)
		return err_set(e, "preprocess: invalid image size %dx%d",
		               img != NULL ? img->w : 0,
		               img != NULL ? img->h : 0);
	wp = cp - c->margin[0] - c->margin[1];
	win = wp * c->patch;
	margin_px = (c->margin[0] + c->margin[1]) * c->patch;
	prep_select_tiling(img->h - margin_px, img->w - margin_px, win,
	                   c->max_crops, &p->rows, &p->cols);
	p->n_crops = 1 + p->rows * p->cols;
	if (view_plan(p, &p->hires, img, p->rows * win + margin_px,
	              p->cols * win + margin_px, e) == -1 ||
	    view_plan(p, &p->global, img, c->base_h, c->base_w, e) == -1)
		return -1;
	gh = (p->rows * wp + c->margin[0] + c->margin[1] + 1) / 2;
	gw = (p->cols * wp + c->margin[0] + c->margin[1] + 1) / 2;
	p->n_image_tokens = 2 + c->tok_h * (c->tok_w + 1) + 2 + gh * (gw + 1);
	/* Per thread: one input row plus one value of slack for the 4-lane
	 * horizontal kernel, and for TF a ring of converted input rows as
	 * deep as the longest vertical span (up to PREP_RING_MAX; the AVX-512
	 * loops convert on the fly and need none). */
	p->ring_rows = 0;
	if (c->resize == PREP_RESIZE_TF && p->kern != &prep_kern_avx512) {
		p->ring_rows = p->global.ax_y.taps > p->hires.ax_y.taps
		                   ? p->global.ax_y.taps
		                   : p->hires.ax_y.taps;
		if (p->ring_rows > PREP_RING_MAX)
			p->ring_rows = 0;
	}
	/* then a band: patch-size canvas rows of the wider canvas */
	tw = p->global.tw > p->hires.tw ? p->global.tw : p->hires.tw;
	p->band_stride = ((size_t)tw * 3 + 15) & ~(size_t)15;
	p->band_off = ((size_t)img->w * 3 + 1) * (size_t)(1 + p->ring_rows);
	p->band_off = (p->band_off + 15) & ~(size_t)15;
	p->scratch_row = p->band_off + (size_t)c->patch * p->band_stride;
	/* torch on AVX-512: the column pass takes 16 input rows at a time */
	p->xrows_off = 0;
	if (c->resize == PREP_RESIZE_TORCH && p->kern == &prep_kern_avx512 &&
	    img->h >= 16) {
		p->xrows_off = p->scratch_row;
		i = p->global.w > p->hires.w ? p->global.w : p->hires.w;
		p->scratch_row +=
		    ((size_t)img->w * 3 + (size_t)i * 3 + 16) * 16;
	}
	if (grow((void **)&p->scratch, &p->scratch_cap,
	         p->scratch_row * (size_t)pool_size(pool), sizeof(float),
	         e) == -1 ||
	    grow((void **)&p->padcanvas, &p->padcanvas_cap, (size_t)tw * 3,
	         sizeof(float), e) == -1)
		return -1;
	for (t = 0; t < tw * 3; t++)
		p->padcanvas[t] = p->pad[t % 3];
	/* the slack after every input row */
	for (t = 0; t < pool_size(pool); t++)
		for (i = 0; i < 1 + p->ring_rows; i++)
			p->scratch[(size_t)t * p->scratch_row +
			           (size_t)(i + 1) * ((size_t)img->w * 3 + 1) -
			           1] = 0.0f;
	n_mask = (size_t)p->n_crops * cp * cp;
	n_img = n_mask * c->patch * c->patch * 3;
	if (grow_aligned(&p->images, &p->images_cap, n_img, e) == -1 ||
	    grow((void **)&p->masks, &p->masks_cap, n_mask, sizeof(float), e) ==
	        -1 ||
	    grow((void **)&p->input_idx, &p->idx_cap,
	         (size_t)p->n_crops * (cp / 2) * (cp / 2), sizeof(int32_t),
	         e) == -1 ||
	    grow((void **)&p->layout, &p->layout_cap, (size_t)p->n_image_tokens,
	         1, e) == -1)
		return -1;

	j.p = p;
	j.img = img;
	j.n_bands[0] = c->base_h / c->patch;
	j.n_bands[1] = p->hires.th / c->patch;
	j.n_units = j.n_bands[0] + j.n_bands[1];
	if (c->resize == PREP_RESIZE_TORCH)
		run_phase(pool, &j, PHASE_TORCH_COLS);
	run_phase(pool, &j, PHASE_BANDS);
	/* The last mask row is -1 (section 4.7). */
	for (t = 0; t < cp * cp; t++)
		p->masks[(size_t)(p->n_crops - 1) * cp * cp + t] = -1.0f;
	build_index(p);

	out->n_crops = p->n_crops;
	out->rows = p->rows;
	out->cols = p->cols;
	out->n_patches = cp * cp;
	out->patch_dim = c->patch * c->patch * 3;
	out->n_pooled = (cp / 2) * (cp / 2);
	out->global_h = p->global.h;
	out->global_w = p->global.w;
	out->canvas_h = p->hires.th;
	out->canvas_w = p->hires.tw;
	out->content_h = p->hires.h;
	out->content_w = p->hires.w;
	out->images = p->images;
	out->masks = c->padding_mask ? p->masks : NULL;
	out->input_idx = p->input_idx;
	out->layout = p->layout;
	out->n_image_tokens = p->n_image_tokens;
	return 0;
}

/* ---- Prompt and input ids ---- */

size_t
prep_prompt_text(char *buf, size_t n, const char *prompt)
{
	int r = snprintf(buf, n, " User: %s Assistant:", prompt);

	return r < 0 ? 0 : (size_t)r;
}

size_t
prep_n_input_ids(const struct prep_out *out, size_t n_text)
{
	return 1 + (out != NULL ? (size_t)out->n_image_tokens : 0) + n_text;
}

ssize_t
prep_build_input_ids(const struct prep_out *out, const struct prep_ids *tok,
                     const int32_t *text, size_t n_text, int32_t *ids,
                     size_t cap, struct err *e)
{
	size_t n = prep_n_input_ids(out, n_text), i, k = 0;
	int32_t map[4];

	if (n > cap || n > (size_t)SSIZE_MAX)
		return err_set(e, "input ids: %zu tokens exceed room for %zu",
		               n, cap);
	map[PREP_TOK_START] = tok->im_start;
	map[PREP_TOK_END] = tok->im_end;
	map[PREP_TOK_PATCH] = tok->im_patch;
	map[PREP_TOK_COL] = tok->im_col;
	ids[k++] = tok->bos;
	if (out != NULL)
		for (i = 0; i < (size_t)out->n_image_tokens; i++)
			ids[k++] = map[out->layout[i] & 3];
	if (n_text > 0)
		memcpy(ids + k, text, n_text * sizeof(*text));
	return (ssize_t)n;
}
