/* SPDX-License-Identifier: ISC */
/*
 * prep.c: Molmo v1 image preprocessing (docs/molmo-v1.md section 4) and the
 * input-id layout (sections 4.8, 5.2, 5.3).
 *
 * The order follows the reference processor (image_preprocessing_molmo.py):
 *   select_tiling  -> rows x cols of 224-pixel windows      (4.3)
 *   resize_and_pad -> the high-res canvas and the 336x336 global view, each
 *                     a letterboxed, CLIP-normalised resize of the ORIGINAL
 *                     pixels (resize: prep_resize.c)         (4.4)
 *   crops          -> [global, tile(0,0), tile(0,1), ...]    (4.5)
 *   patchify       -> [n_crops, 576, 588]                    (4.6)
 *   image_masks    -> shifted by one crop (the quirk)        (4.7)
 *   token layout and image_input_idx (closed form)           (4.8, 4.9)
 *
 * Design: a struct prep owns every buffer and grows them only when an image
 * needs more, so the steady state allocates nothing.  All pixel work is one
 * fork-join phase over "bands", the patch-high strips of canvas rows of the
 * global view and of the high-res canvas, ordered by the first input row
 * they need and cut into one contiguous run per thread by estimated cost.
 * A thread walks the content rows of its bands of both views merged in
 * input order.  Each input row it needs is prepared once into a small
 * per-thread ring that stays in cache (torch: resampled along x for both
 * views, 16 rows at a time with AVX-512; TF without AVX-512: converted to
 * float; TF with AVX-512 needs no ring, converting as it reads); each
 * content row is then finished from the ring (TF: rows, then columns;
 * torch: rows) with clip and normalisation, into the view's band buffer
 * whose columns outside the content hold the padding value.  When a band's
 * last row is done, every crop patch row made of it (one for the global
 * view; for the high-res canvas one per overlapping crop: one or two crop
 * rows times cols) is written to the output, with its masks.  No
 * intermediate image is kept, and every output value is written once.
 * Each output value is computed by exactly one thread with the same float
 * operations in the same order, so any thread count gives bit-identical
 * results.  Float arithmetic mirrors the reference in float32; the module
 * is built with -ffp-contract=off so no FMA changes a rounding (the one
 * deliberate FMA, the division-free normalisation, is exact:
 * prep_norm_exact).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdatomic.h>
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
    .name = "sse2",
    .tf_in = prep_kern_tf_in,
    .tf_row = prep_kern_tf_row,
    .torch_in = prep_kern_torch_in,
    .torch_row = prep_kern_torch_row,
    .emit = prep_kern_emit,
    .fence = prep_kern_fence,
    .torch_block = 1,
    .tf_ring = true,
};
const struct prep_kern prep_kern_avx2 = {
    .name = "avx2",
    .tf_in = prep_kern_tf_in_avx2,
    .tf_row = prep_kern_tf_row_avx2,
    .torch_in = prep_kern_torch_in_avx2,
    .torch_row = prep_kern_torch_row_avx2,
    .emit = prep_kern_emit_avx2,
    .fence = prep_kern_fence_avx2,
    .torch_block = 1,
    .tf_ring = true,
};
const struct prep_kern prep_kern_avx512 = {
    .name = "avx512",
    .tf_in = prep_kern_tf_in_avx512,
    .tf_row = prep_kern_tf_row_avx512,
    .tf_row2 = prep_kern_tf_row2_avx512,
    .torch_in = prep_kern_torch_in_avx512,
    .torch_row = prep_kern_torch_row_avx512,
    .emit = prep_kern_emit_avx512,
    .fence = prep_kern_fence_avx512,
    .torch_block = 16,
    .tf_ring = false,
};

/* Normalisation constants (mean, std) for which the multiply-and-correct
 * form of (v - mean) / std is checked exact over all of [0, 1]: the CLIP
 * ones every Molmo v1 checkpoint uses. */
const float prep_norm_checked[][2] = {
    {0.48145466f, 0.26862954f},
    {0.4578275f, 0.26130258f},
    {0.40821073f, 0.27577711f},
};
const int prep_norm_n_checked =
    (int)(sizeof(prep_norm_checked) / sizeof(prep_norm_checked[0]));

bool
prep_norm_exact(float mean, float std)
{
	int i;

	for (i = 0; i < prep_norm_n_checked; i++)
		if (prep_norm_checked[i][0] == mean &&
		    prep_norm_checked[i][1] == std)
			return true;
	return false;
}

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
	p->vbmi = __builtin_cpu_supports("avx512vbmi");
	p->ring_max = PREP_RING_BYTES;
	p->fast_norm = true;
	for (i = 0; i < 3; i++) {
		p->inv_std[i] = 1.0f / cfg->std[i];
		if (!prep_norm_exact(cfg->mean[i], cfg->std[i]))
			p->fast_norm = false;
	}
	for (i = 0; i < 48; i++) {
		p->fin_mean[i] = cfg->mean[i % 3];
		p->fin_std[i] = cfg->std[i % 3];
		p->fin_inv[i] = p->inv_std[i % 3];
	}
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
	free(v->ax_y.hbase);
	free(v->ax_y.hidx);
	free(v->ax_y.hw);
	free(v->ax_x.hbase);
	free(v->ax_x.hidx);
	free(v->ax_x.hw);
}

void
prep_free(struct prep *p)
{
	if (p == NULL)
		return;
	view_fini(&p->global);
	view_fini(&p->hires);
	free(p->scratch);
	free(p->ptrs);
	free(p->order);
	free(p->cost);
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
	/* the weights only change with the sizes */
	if ((v->ax_y.n_in != img->h || v->ax_y.n_out != v->h) &&
	    prep_axis(&v->ax_y, img->h, v->h, p->cfg.resize, false, e) == -1)
		return -1;
	if ((v->ax_x.n_in != img->w || v->ax_x.n_out != v->w) &&
	    prep_axis(&v->ax_x, img->w, v->w, p->cfg.resize, true, e) == -1)
		return -1;
	return 0;
}

/* ---- The pixel work ---- */

/*
 * One fork-join phase does all of it.  The units are the patch-high bands
 * of canvas rows of both views, ordered by the first input row they need
 * (bands of pure padding above the content first, below it last) and cut
 * into one contiguous run per thread by estimated cost.  A thread walks the
 * content rows of its bands of both views merged in input order, so every
 * input row it needs is prepared once (torch: resampled along x for both
 * views; TF without AVX-512: converted to float) into a small ring that
 * stays in its cache, and a band is emitted as soon as its last row is
 * done.  TF with AVX-512 reads the uint8 input directly and has no ring to
 * share: there the threads take the ordered units one by one as they come
 * free (bands_any).
 */
struct job {
	struct prep *p;
	const struct model_image *img;
	int n_bands[2];  /* ps-row canvas bands of the global view, the hires */
	int n_units;     /* n_bands[0] + n_bands[1] */
	double total;    /* cost of all units */
	atomic_int next; /* bands_any: the next unit of p->order to take */
};

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

/* Which view (0 global, 1 high-res) and band a unit is. */
static int
unit_view(const struct job *j, int u, int *b)
{
	if (u < j->n_bands[0]) {
		*b = u;
		return 0;
	}
	*b = u - j->n_bands[0];
	return 1;
}

static struct prep_view *
view_of(struct prep *p, int vi)
{
	return vi == 0 ? &p->global : &p->hires;
}

/* Content rows [*lo, *hi) of view v in band b (none when *lo >= *hi). */
static void
band_rows(const struct prep *p, const struct prep_view *v, int b, int *lo,
          int *hi)
{
	int ps = p->cfg.patch;

	*lo = b * ps - v->top;
	*hi = *lo + ps;
	*lo = *lo < 0 ? 0 : *lo;
	*hi = *hi > v->h ? v->h : *hi;
}

/* The first input row unit u needs: -1 for padding above the content,
 * the image height for padding below it. */
static int
unit_key(const struct job *j, int u)
{
	struct prep *p = j->p;
	const struct prep_view *v;
	int b, lo, hi;

	v = view_of(p, unit_view(j, u, &b));
	band_rows(p, v, b, &lo, &hi);
	if (lo < hi)
		return v->ax_y.start[lo];
	return b * p->cfg.patch < v->top ? -1 : j->img->h;
}

/* Patch rows of crops band b of view vi is emitted into. */
static int
unit_outputs(const struct prep *p, int vi, int b)
{
	const struct prep_config *c = &p->cfg;
	int cp = c->base_h / c->patch, wp = cp - c->margin[0] - c->margin[1];
	int i, n = 0;

	if (vi == 0)
		return 1;
	for (i = 0; i < p->rows; i++)
		if (b - i * wp >= 0 && b - i * wp < cp)
			n += p->cols;
	return n;
}

/* Rough cost of a unit (multiply-adds, conversions and values written),
 * only to balance the threads; any split gives the same bits. */
static double
unit_cost(const struct job *j, int u)
{
	const struct prep *p = j->p;
	const struct prep_config *c = &p->cfg;
	const struct prep_view *v;
	int ps = c->patch, cp = c->base_h / ps, b, y, lo, hi, vi;
	double cost = 0.0, in_n = (double)j->img->w * 3, out_n, in_rows;

	vi = unit_view(j, u, &b);
	v = view_of((struct prep *)p, vi);
	out_n = (double)v->w * 3;
	/* input rows per content row, each prepared once for both views */
	in_rows = (double)j->img->h / (double)v->h / 2.0;
	band_rows(p, v, b, &lo, &hi);
	for (y = lo; y < hi; y++) {
		if (c->resize == PREP_RESIZE_TF)
			cost += (double)v->ax_y.len[y] * in_n +
			        out_n * v->ax_x.taps * 4.0 / 3.0 +
			        in_rows * in_n;
		else
			cost += (double)v->ax_y.len[y] * out_n +
			        in_rows * (in_n * 2.0 + out_n * v->ax_x.taps);
		cost += out_n; /* clip and normalise */
	}
	return cost + (double)unit_outputs(p, vi, b) * cp * ps * ps * 3 * 2.0;
}

/* p->order: the units by first input row needed, then global before
 * high-res, then band (an insertion sort: a few hundred units at most);
 * p->cost[i]: the cost of the units order[0..i], cumulative. */
static void
order_units(struct job *j)
{
	struct prep *p = j->p;
	int i, k, u, ku, vu, bu, kk, vk, bk;

	for (i = 0; i < j->n_units; i++) {
		u = i;
		ku = unit_key(j, u);
		vu = unit_view(j, u, &bu);
		for (k = i; k > 0; k--) {
			kk = unit_key(j, p->order[k - 1]);
			vk = unit_view(j, p->order[k - 1], &bk);
			if (kk < ku ||
			    (kk == ku && (vk < vu || (vk == vu && bk < bu))))
				break;
			p->order[k] = p->order[k - 1];
		}
		p->order[k] = u;
	}
	j->total = 0.0;
	for (i = 0; i < j->n_units; i++) {
		j->total += unit_cost(j, p->order[i]);
		p->cost[i] = j->total;
	}
}

/* The run of ordered units [*lo, *hi) of thread ith of nth: cut where the
 * cumulative cost passes total * ith / nth.  Deterministic for a given nth. */
static void
split_cost(const struct job *j, int ith, int nth, int *lo, int *hi)
{
	const double *cum = j->p->cost;
	int cut[2], k, u;

	for (k = 0; k < 2; k++) {
		if (ith + k == 0) {
			cut[k] = 0;
			continue;
		}
		if (ith + k == nth) {
			cut[k] = j->n_units;
			continue;
		}
		for (u = 0; u < j->n_units; u++)
			if (cum[u] > j->total * (ith + k) / nth)
				break;
		cut[k] = u;
	}
	*lo = cut[0];
	*hi = cut[1] > cut[0] ? cut[1] : cut[0];
}

/*
 * Emit band b of view vi: the global crop's patch row b, or for each
 * high-res crop row i that covers the band its patch row b - i * wp in all
 * cols crops, with their masks.  bandbuf holds the band's content rows
 * (columns outside the content: padding); rows outside the content read
 * the padding row.
 */
static void
emit_band(struct job *j, int vi, int b, const float *bandbuf)
{
	struct prep *p = j->p;
	const struct prep_config *c = &p->cfg;
	const struct prep_view *v = view_of(p, vi);
	int ps = c->patch, cp = c->base_h / ps, wp, lo, hi, dy, i, k, t, py;
	size_t pdim = (size_t)ps * ps * 3;
	const float *rows[PREP_MAX_PATCH];

	band_rows(p, v, b, &lo, &hi);
	for (dy = 0; dy < ps; dy++) {
		k = b * ps + dy - v->top;
		rows[dy] = k >= lo && k < hi
		               ? bandbuf + (size_t)dy * p->band_stride
		               : p->padcanvas;
	}
	if (vi == 0) {
		p->kern->emit(p->images + (size_t)b * cp * pdim, rows, 0, ps,
		              cp, p->stream);
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
			    rows, (size_t)k * wp * ps * 3, ps, cp, p->stream);
			if (p->masks != NULL)
				mask_row(p, t, py);
		}
	}
}

/* A thread's walk over one view's content rows. */
struct lane {
	int y, y_end; /* next content row, end */
	float *band;  /* the band being filled */
};

/* The ring slot of input row r: TF's converted row, or torch's resampled
 * row of view vi. */
static float *
ring_row(const struct prep *p, float *scratch, int vi, int r)
{
	float *ring = scratch + p->ring_off;
	size_t slot = (size_t)(r % p->ring_slots);

	if (p->cfg.resize == PREP_RESIZE_TF)
		return ring + slot * p->ring_stride;
	if (vi == 0)
		return ring + slot * p->ring_stride_g;
	return ring + (size_t)p->ring_slots * p->ring_stride_g +
	       slot * p->ring_stride;
}

/* Make input rows [s, e) ready in the ring; *next is the first row not
 * prepared yet (rows below s are never needed again). */
static void
ring_fill(struct job *j, float *scratch, int *next, int s, int e)
{
	struct prep *p = j->p;
	const struct model_image *img = j->img;
	size_t in_n = (size_t)img->w * 3;
	float *g[16], *h[16];
	int r = *next < s ? s : *next, n, i;

	for (; r < e; r += n) {
		if (p->cfg.resize == PREP_RESIZE_TF) {
			p->kern->tf_in(ring_row(p, scratch, 0, r),
			               img->rgb + (size_t)r * in_n, in_n);
			n = 1;
			continue;
		}
		n = p->kern->torch_block;
		if (n > 1 && (p->xrows_off == 0 || r + n > img->h))
			n = 1;
		for (i = 0; i < n; i++) {
			g[i] = ring_row(p, scratch, 0, r + i);
			h[i] = ring_row(p, scratch, 1, r + i);
		}
		p->kern->torch_in(p, img, r, n, g, h, scratch);
	}
	*next = r > *next ? r : *next;
}

/*
 * TF straight from the uint8 input (no ring): a band needs nothing another
 * band prepared, so the threads take the units one at a time, in order,
 * as they come free.  On a shared machine one core often runs slower than
 * the other for a while; a fixed split would leave the faster one waiting.
 */
static void
bands_any(struct job *j, float *scratch)
{
	struct prep *p = j->p;
	const struct prep_view *v;
	float *band;
	float *out;
	int i, vi, b, y, s, e, n, ps = p->cfg.patch;

	while ((i = atomic_fetch_add_explicit(
	            &j->next, 1, memory_order_relaxed)) < j->n_units) {
		vi = unit_view(j, p->order[i], &b);
		v = view_of(p, vi);
		band = scratch + p->band_off[vi];
		band_rows(p, v, b, &s, &e);
		for (y = s; y < e; y += n) {
			out = band +
			      (size_t)((y + v->top) % ps) * p->band_stride +
			      (size_t)v->left * 3;
			n = y + 1 < e && p->kern->tf_row2 != NULL ? 2 : 1;
			if (n == 2)
				p->kern->tf_row2(p, v, j->img, y, scratch, out,
				                 out + p->band_stride);
			else
				p->kern->tf_row(p, v, j->img, NULL, y, scratch,
				                out);
		}
		emit_band(j, vi, b, band);
	}
}

static void
bands_task(void *arg, int ith, int nth)
{
	struct job *j = arg;
	struct prep *p = j->p;
	const struct prep_config *c = &p->cfg;
	float *scratch = p->scratch + (size_t)ith * p->scratch_row;
	const float **rows = p->ptrs + (size_t)ith * p->ptrs_per_thread;
	struct prep_view *v;
	struct lane ln[2];
	int lo, hi, i, u, b, vi, y, s, e, k, next = -1, ps = c->patch;
	bool tf = c->resize == PREP_RESIZE_TF;

	for (vi = 0; vi < 2; vi++) {
		ln[vi].y = INT_MAX;
		ln[vi].y_end = 0;
		ln[vi].band = scratch + p->band_off[vi];
		/* the columns outside the content are padding */
		for (k = 0; k < ps; k++)
			memcpy(ln[vi].band + (size_t)k * p->band_stride,
			       p->padcanvas,
			       (size_t)view_of(p, vi)->tw * 3 * sizeof(float));
	}
	if (tf && p->ring_slots == 0) {
		bands_any(j, scratch);
		if (p->stream)
			p->kern->fence();
		return;
	}
	split_cost(j, ith, nth, &lo, &hi);
	/* bands of pure padding now; the others' content rows into lanes
	 * (a thread's bands of one view are consecutive) */
	for (i = lo; i < hi; i++) {
		u = p->order[i];
		vi = unit_view(j, u, &b);
		band_rows(p, view_of(p, vi), b, &s, &e);
		if (s >= e) {
			emit_band(j, vi, b, ln[vi].band);
			continue;
		}
		ln[vi].y = s < ln[vi].y ? s : ln[vi].y;
		ln[vi].y_end = e > ln[vi].y_end ? e : ln[vi].y_end;
	}
	for (;;) {
		/* the lane whose next row starts earliest in the input */
		vi = -1;
		for (k = 0; k < 2; k++) {
			if (ln[k].y >= ln[k].y_end)
				continue;
			if (vi == -1 ||
			    view_of(p, k)->ax_y.start[ln[k].y] <
			        view_of(p, vi)->ax_y.start[ln[vi].y])
				vi = k;
		}
		if (vi == -1)
			break;
		v = view_of(p, vi);
		y = ln[vi].y;
		s = v->ax_y.start[y];
		e = s + v->ax_y.len[y];
		k = (y + v->top) % ps;
		if (!tf || p->ring_slots > 0) {
			ring_fill(j, scratch, &next, s, e);
			for (i = 0; i < e - s; i++)
				rows[i] = ring_row(p, scratch, vi, s + i);
		}
		if (tf)
			p->kern->tf_row(
			    p, v, j->img, p->ring_slots > 0 ? rows : NULL, y,
			    scratch,
			    ln[vi].band + (size_t)k * p->band_stride +
			        (size_t)v->left * 3);
		else
			p->kern->torch_row(p, v, rows, y,
			                   ln[vi].band +
			                       (size_t)k * p->band_stride +
			                       (size_t)v->left * 3);
		ln[vi].y = ++y;
		if (y == ln[vi].y_end || (y + v->top) % ps == 0)
			emit_band(j, vi, (y - 1 + v->top) / ps, ln[vi].band);
	}
	if (p->stream)
		p->kern->fence();
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

/* Round a float count up to whole cache lines. */
static size_t
lines(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/*
 * Lay out each thread's scratch (see struct prep) for img and grow it for
 * nth threads; also the padding canvas row and the row-pointer room.
 */
static int
scratch_plan(struct prep *p, const struct model_image *img, int nth,
             struct err *e)
{
	const struct prep_config *c = &p->cfg;
	size_t in_n = (size_t)img->w * 3, room;
	int taps, tw, t;

	taps = p->global.ax_y.taps > p->hires.ax_y.taps ? p->global.ax_y.taps
	                                                : p->hires.ax_y.taps;
	p->row1_off = lines(in_n + 1);
	p->ring_off = 2 * p->row1_off;
	p->xrows_off = 0;
	if (c->resize == PREP_RESIZE_TF) {
		/* the rows of the longest span, converted (unless the kernels
		 * do without or that is too much: then the vertical pass
		 * reads the uint8 input) */
		p->ring_slots = p->kern->tf_ring ? taps : 0;
		p->ring_stride = lines(in_n);
		p->ring_stride_g = 0;
		if ((double)taps * (double)p->ring_stride * sizeof(float) >
		    (double)p->ring_max)
			p->ring_slots = 0;
		room = (size_t)p->ring_slots * p->ring_stride;
	} else {
		/* the longest span plus a block of 16 rows resampled ahead */
		p->ring_slots = taps + 16;
		p->ring_stride_g = lines((size_t)p->global.w * 3);
		p->ring_stride = lines((size_t)p->hires.w * 3);
		room =
		    (size_t)p->ring_slots * (p->ring_stride_g + p->ring_stride);
	}
	tw = p->global.tw > p->hires.tw ? p->global.tw : p->hires.tw;
	p->band_stride = lines((size_t)tw * 3);
	p->band_off[0] = p->ring_off + room;
	p->band_off[1] = p->band_off[0] + (size_t)c->patch * p->band_stride;
	p->scratch_row = p->band_off[1] + (size_t)c->patch * p->band_stride;
	/* torch on AVX-512: 16 input rows transposed */
	if (c->resize == PREP_RESIZE_TORCH && p->kern->torch_block == 16 &&
	    img->h >= 16) {
		p->xrows_off = p->scratch_row;
		p->scratch_row += in_n * 16;
	}
	p->ptrs_per_thread = taps;
	if (grow((void **)&p->scratch, &p->scratch_cap,
	         p->scratch_row * (size_t)nth, sizeof(float), e) == -1 ||
	    grow((void **)&p->ptrs, &p->ptrs_cap, (size_t)taps * (size_t)nth,
	         sizeof(*p->ptrs), e) == -1 ||
	    grow((void **)&p->padcanvas, &p->padcanvas_cap, (size_t)tw * 3,
	         sizeof(float), e) == -1)
		return -1;
	for (t = 0; t < tw * 3; t++)
		p->padcanvas[t] = p->pad[t % 3];
	/* the slack after the rows between the passes */
	for (t = 0; t < nth; t++) {
		p->scratch[(size_t)t * p->scratch_row + in_n] = 0.0f;
		p->scratch[(size_t)t * p->scratch_row + p->row1_off + in_n] =
		    0.0f;
	}
	return 0;
}

int
prep_run(struct prep *p, const struct model_image *img, struct pool *pool,
         struct prep_out *out, struct err *e)
{
	const struct prep_config *c = &p->cfg;
	int cp = c->base_h / c->patch, wp, win, margin_px, gh, gw, t;
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
	if (scratch_plan(p, img, pool_size(pool), e) == -1)
		return -1;
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
	if (grow((void **)&p->order, &p->order_cap, (size_t)j.n_units,
	         sizeof(int), e) == -1 ||
	    grow((void **)&p->cost, &p->cost_cap, (size_t)j.n_units,
	         sizeof(double), e) == -1)
		return -1;
	order_units(&j);
	atomic_init(&j.next, 0);
	pool_run(pool, bands_task, &j);
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
