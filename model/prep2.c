/* SPDX-License-Identifier: ISC */
/*
 * prep2.c: Molmo 2 / MolmoPoint image preprocessing (docs/molmo2.md
 * section 4) and the input-id layout (section 8).
 *
 * The order follows the reference (image_processing_molmo2.py):
 *   select_tiling            -> rows x cols of 266-pixel windows    (4.4.1)
 *   resize_image             -> the tiled image and the global view,
 *                               bilinear without antialias, uint8    (4.2)
 *   normalize_image          -> (u8 / 255 - mean) / std, float32     (4.3)
 *   build_overlapping_crops  -> [global, crop(0,0), crop(0,1), ...]  (4.4)
 *   batch_pixels_to_patches  -> [n_crops, 729, 588]                  (4.4.5)
 *   patch_idx_arr + arange_for_pooling -> pooling table (closed form) (4.5)
 *
 * Design: a struct prep2 owns every buffer and grows them only when a
 * request needs more (the pixels 64-byte aligned).  Each output value is
 * computed by exactly one thread with the same float operations in the
 * same order, so any thread count gives bit-identical results.  The module
 * is built with -ffp-contract=off so no FMA changes a rounding.
 *
 * With AVX-512 (avx512f/bw/dq/vl/vbmi, checked at prep2_new()) the pixel
 * work is one fork-join phase over bands of P rows (P = patch side): the
 * tiled image's bands, then the global view's.  Crops start on multiples
 * of P, so a band is one patch row of every crop that covers it (two crop
 * rows where they overlap): a thread resizes the band into tiled_u8 /
 * global_u8 and patchifies it while it is still in its cache, the float
 * output going out with non-temporal stores.  Threads claim bands from an
 * atomic counter, so a busy core does not hold the others up; each keeps
 * the horizontal resize pass of its two latest source rows in its own
 * slice of hbuf (prep2_hrows).  The kernels are in prep2_kern.c (see there
 * for how they keep the bits); the normalisation there is a short formula
 * prep2_new() checks against the float32 table for all 256 values of
 * every channel, else the table.
 *
 * Without AVX-512 (and in tests, prep2_force_portable) the portable loops
 * run in two phases (the two resizes, split by output row; then normalise
 * + patchify, split by crop patch-row), the normalisation being a
 * per-channel table of the 256 possible values computed with the
 * reference's float32 operations.  They are the reference the AVX-512
 * kernels are tested against.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/pool.h"
#include "model/prep2.h"
#include "model/prep2_impl.h"
#include "util/err.h"
#include "util/xmalloc.h"

#define CONFIG_FILE_MAX (1 << 20) /* bytes of one processor JSON file */

/* The exact resize needs float and double operations rounded to their own
 * type (SSE, not x87 extended precision). */
#if FLT_EVAL_METHOD != 0
#error "prep2.c needs FLT_EVAL_METHOD 0"
#endif

/* ---- Configuration ---- */

void
prep2_config_default(struct prep2_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->crop = 378;
	cfg->patch = 14;
	cfg->pool_h = 2;
	cfg->pool_w = 2;
	cfg->margin[0] = 4;
	cfg->margin[1] = 4;
	cfg->max_crops = 8;
	for (int c = 0; c < 3; c++) {
		cfg->mean[c] = 0.5f;
		cfg->std[c] = 0.5f;
	}
	cfg->col_tokens = true;
	cfg->global_col_tokens = false;
	cfg->global_start_low = true;
	cfg->global_patch_low = false;
}

int
prep2_config_check(const struct prep2_config *c, struct err *e)
{
	int cp;

	if (c->patch < 1 || c->patch > 64)
		return err_set(e, "patch_size %d outside 1..64", c->patch);
	if (c->crop < c->patch || c->crop > 4096 || c->crop % c->patch != 0)
		return err_set(
		    e,
		    "crop size %d unsupported (up to 4096, a multiple "
		    "of patch_size %d)",
		    c->crop, c->patch);
	cp = c->crop / c->patch;
	/* A right margin of 0 would hit numpy's x[-0:] (everything) in the
	 * reference; no checkpoint uses it. */
	if (c->margin[0] < 0 || c->margin[1] < 1 ||
	    c->margin[0] + c->margin[1] >= cp)
		return err_set(
		    e,
		    "overlap_margins [%d, %d] unsupported (left >= 0, "
		    "right >= 1, sum < %d patches per crop)",
		    c->margin[0], c->margin[1], cp);
	if (c->pool_h < 1 || c->pool_h > cp || c->pool_w < 1 || c->pool_w > cp)
		return err_set(e, "pooling_size [%d, %d] outside 1..%d",
		               c->pool_h, c->pool_w, cp);
	if (c->max_crops < 1 || c->max_crops > PREP2_MAX_CROPS)
		return err_set(e, "max_crops %d outside 1..%d", c->max_crops,
		               PREP2_MAX_CROPS);
	for (int i = 0; i < 3; i++) {
		if (!isfinite(c->mean[i]) || !isfinite(c->std[i]) ||
		    c->std[i] == 0.0f)
			return err_set(
			    e, "image_mean/image_std channel %d invalid", i);
	}
	return 0;
}

/* Parse path into *root.  Returns 1 when the file does not exist, 0 when
 * parsed, -1 on error. */
static int
load_json(const char *path, json_t **root, struct err *e)
{
	json_error_t jerr;
	struct stat st;

	*root = NULL;
	if (stat(path, &st) == -1) {
		if (errno == ENOENT)
			return 1;
		return err_set(e, "%s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return err_set(e, "%s: not a regular file", path);
	if (st.st_size > CONFIG_FILE_MAX)
		return err_set(e, "%s: larger than %d bytes", path,
		               CONFIG_FILE_MAX);
	*root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (*root == NULL)
		return err_set(e, "%s:%d:%d: %s", path, jerr.line, jerr.column,
		               jerr.text);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return err_set(e, "%s: not a JSON object", path);
	}
	return 0;
}

/* obj[key] as an int in lo..hi into *out; absent keeps *out. */
static int
get_int(json_t *obj, const char *key, int lo, int hi, int *out,
        const char *path, struct err *e)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, "%s: %s: expected an integer", path, key);
	x = json_integer_value(v);
	if (x < lo || x > hi)
		return err_set(e, "%s: %s: %lld outside %d..%d", path, key,
		               (long long)x, lo, hi);
	*out = (int)x;
	return 0;
}

/* obj[key] as a pair of ints in lo..hi; absent keeps out. */
static int
get_pair(json_t *obj, const char *key, int lo, int hi, int out[2],
         const char *path, struct err *e)
{
	json_t *v = json_object_get(obj, key);
	int tmp[2];

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) != 2)
		return err_set(e, "%s: %s: expected [int, int]", path, key);
	for (size_t i = 0; i < 2; i++) {
		json_t *x = json_array_get(v, i);
		if (!json_is_integer(x) || json_integer_value(x) < lo ||
		    json_integer_value(x) > hi)
			return err_set(e,
			               "%s: %s[%zu]: expected an integer "
			               "%d..%d",
			               path, key, i, lo, hi);
		tmp[i] = (int)json_integer_value(x);
	}
	out[0] = tmp[0];
	out[1] = tmp[1];
	return 0;
}

/* obj[key] as one number or 3 numbers (per channel); absent keeps out. */
static int
get_channels(json_t *obj, const char *key, float out[3], const char *path,
             struct err *e)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (json_is_number(v)) {
		for (int c = 0; c < 3; c++)
			out[c] = (float)json_number_value(v);
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) != 3)
		return err_set(e, "%s: %s: expected a number or 3 numbers",
		               path, key);
	for (size_t c = 0; c < 3; c++) {
		if (!json_is_number(json_array_get(v, c)))
			return err_set(e, "%s: %s[%zu]: expected a number",
			               path, key, c);
		out[c] = (float)json_number_value(json_array_get(v, c));
	}
	return 0;
}

/* obj[key] as a bool; absent or null leaves *out and clears *set. */
static int
get_bool(json_t *obj, const char *key, bool *out, bool *set, const char *path,
         struct err *e)
{
	json_t *v = json_object_get(obj, key);

	if (set != NULL)
		*set = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return err_set(e, "%s: %s: expected true or false", path, key);
	*out = json_is_true(v);
	if (set != NULL)
		*set = true;
	return 0;
}

/* The image-processor keys (preprocessor_config.json). */
static int
read_image_keys(json_t *o, struct prep2_config *c, const char *path,
                struct err *e)
{
	json_t *size = json_object_get(o, "size"), *rs;
	int h = c->crop, w = c->crop;

	if (size != NULL && json_is_integer(size)) {
		if (get_int(o, "size", 1, 4096, &h, path, e) == -1)
			return -1;
		w = h;
	} else if (size != NULL) {
		if (!json_is_object(size))
			return err_set(e, "%s: size: expected an object", path);
		if (get_int(size, "height", 1, 4096, &h, path, e) == -1 ||
		    get_int(size, "width", 1, 4096, &w, path, e) == -1)
			return -1;
	}
	if (h != w)
		return err_set(e, "%s: size %dx%d: only square crops", path, h,
		               w);
	c->crop = h;
	rs = json_object_get(o, "resample");
	/* PIL's BILINEAR is 2; other filters are not what Molmo2 uses. */
	if (rs != NULL && !(json_is_integer(rs) && json_integer_value(rs) == 2))
		return err_set(e, "%s: resample: only bilinear (2) supported",
		               path);
	if (get_int(o, "max_crops", 1, PREP2_MAX_CROPS, &c->max_crops, path,
	            e) == -1 ||
	    get_int(o, "patch_size", 1, 64, &c->patch, path, e) == -1 ||
	    get_pair(o, "overlap_margins", 0, 4096, c->margin, path, e) == -1 ||
	    get_channels(o, "image_mean", c->mean, path, e) == -1 ||
	    get_channels(o, "image_std", c->std, path, e) == -1)
		return -1;
	{
		int ps[2] = {c->pool_h, c->pool_w};
		if (get_pair(o, "pooling_size", 1, 4096, ps, path, e) == -1)
			return -1;
		c->pool_h = ps[0];
		c->pool_w = ps[1];
	}
	return 0;
}

int
prep2_config_load(const char *dir, struct prep2_config *cfg, struct err *e)
{
	struct prep2_config c;
	char path[4096];
	json_t *root = NULL, *ip;
	bool gcol_set = false;
	int r;

	prep2_config_default(&c);
	if ((size_t)snprintf(path, sizeof(path), "%s/preprocessor_config.json",
	                     dir) >= sizeof(path))
		return err_set(e, "%s: path too long", dir);
	r = load_json(path, &root, e);
	if (r == -1)
		return -1;
	if (r == 0 && read_image_keys(root, &c, path, e) == -1)
		goto fail;
	json_decref(root);
	root = NULL;

	snprintf(path, sizeof(path), "%s/processor_config.json", dir);
	r = load_json(path, &root, e);
	if (r == -1)
		return -1;
	if (r == 0) {
		ip = json_object_get(root, "image_processor");
		if (ip != NULL && !json_is_object(ip)) {
			err_set(e, "%s: image_processor: expected an object",
			        path);
			goto fail;
		}
		if (ip != NULL && read_image_keys(ip, &c, path, e) == -1)
			goto fail;
		if (get_bool(root, "image_use_col_tokens", &c.col_tokens, NULL,
		             path, e) == -1 ||
		    get_bool(root, "use_single_crop_col_tokens",
		             &c.global_col_tokens, &gcol_set, path, e) == -1 ||
		    get_bool(root, "use_single_crop_start_token",
		             &c.global_start_low, NULL, path, e) == -1 ||
		    get_bool(root, "use_low_res_token_for_global_crops",
		             &c.global_patch_low, NULL, path, e) == -1)
			goto fail;
		/* Processor code: None means "same as image_use_col_tokens". */
		if (!gcol_set)
			c.global_col_tokens = c.col_tokens;
	}
	json_decref(root);
	if (prep2_config_check(&c, e) == -1)
		return err_prefix(e, "%s", dir);
	*cfg = c;
	return 0;
fail:
	json_decref(root);
	return -1;
}

/* ---- Tiling (select_tiling) ---- */

void
prep2_tiling(const struct prep2_config *cfg, int w, int h, int max_crops,
             int *rows, int *cols)
{
	int cp = cfg->crop / cfg->patch;
	int win = (cp - cfg->margin[0] - cfg->margin[1]) * cfg->patch;
	int tot = (cfg->margin[0] + cfg->margin[1]) * cfg->patch;
	/* np.float32 sizes; may be zero or negative for tiny images. */
	float fh = (float)(h - tot), fw = (float)(w - tot);
	float best_down = 0.0f, best_up = 0.0f;
	int bi_down = 0, bj_down = 0, bi_up = 0, bj_up = 0;
	bool any_up = false, first = true;

	assert(max_crops >= 1 && max_crops <= PREP2_MAX_CROPS);
	assert(w >= 1 && h >= 1);
	/* Candidates in the reference's order: by (i*j, i).  For each crop
	 * count n, i ascending; j = n / i when it divides. */
	for (int n = 1; n <= max_crops; n++) {
		for (int i = 1; i <= n; i++) {
			int j;
			float si, sj, s;

			if (n % i != 0)
				continue;
			j = n / i;
			/* IEEE division: x/0 = inf, negative sizes give
			 * negative scales, as numpy does. */
			si = (float)(i * win) / fh;
			sj = (float)(j * win) / fw;
			s = si < sj ? si : sj;
			/* np.min propagates NaN; none can occur since the
			 * numerators are positive. */
			if (first || s > best_down) {
				best_down = s;
				bi_down = i;
				bj_down = j;
			}
			first = false;
			if (s >= 1.0f && (!any_up || s < best_up)) {
				best_up = s;
				bi_up = i;
				bj_up = j;
				any_up = true;
			}
		}
	}
	if (any_up) {
		/* argmin over scales >= 1 (those < 1 became 1e10). */
		*rows = bi_up;
		*cols = bj_up;
	} else {
		/* All down-scale: argmax, the least down-scaling. */
		*rows = bi_down;
		*cols = bj_down;
	}
}

/* ---- Buffers ---- */

struct prep2 *
prep2_new(const struct prep2_config *cfg, struct err *e)
{
	struct prep2 *p;

	if (prep2_config_check(cfg, e) == -1)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->cfg = *cfg;
	/* resize_image: float32(u8) / 255; normalize_image: (x - mean) / std,
	 * both in float32 (spec 4.3). */
	for (int c = 0; c < 3; c++)
		for (int v = 0; v < 256; v++)
			p->lut[c][v] =
			    ((float)v / 255.0f - cfg->mean[c]) / cfg->std[c];
	for (int v = 0; v < 256; v++)
		p->u8d[v] = (double)v;
	p->global = xmalloc((size_t)cfg->crop * (size_t)cfg->crop * 3);
	prep2_force_portable(p, false);
	return p;
}

void
prep2_force_portable(struct prep2 *p, bool portable)
{
	__builtin_cpu_init();
	p->avx512 = !portable && __builtin_cpu_supports("avx512f") &&
	            __builtin_cpu_supports("avx512bw") &&
	            __builtin_cpu_supports("avx512dq") &&
	            __builtin_cpu_supports("avx512vl") &&
	            __builtin_cpu_supports("avx512vbmi");
	if (p->avx512)
		prep2_kern_norm_pick_avx512(&p->cfg, p->lut, &p->norm);
	else
		memset(&p->norm, 0, sizeof(p->norm));
}

static void
xplan_free(struct prep2_xplan *xp)
{
	free(xp->base);
	free(xp->vec);
}

void
prep2_free(struct prep2 *p)
{
	if (p == NULL)
		return;
	free(p->tiled);
	free(p->global);
	free(p->pixels);
	free(p->pooling);
	free(p->grid);
	free(p->ax);
	xplan_free(&p->xt);
	xplan_free(&p->xg);
	free(p->hbuf);
	free(p);
}

const struct prep2_config *
prep2_config(const struct prep2 *p)
{
	return &p->cfg;
}

/* Make *buf hold at least n elements of size sz (contents not kept),
 * 64-byte aligned so that whole cache lines can be streamed.  Sizes come
 * from a request, so failure is an error, not an abort. */
static int
grow(void **buf, size_t *cap, size_t n, size_t sz, struct err *e)
{
	size_t bytes;
	void *q;

	if (n <= *cap)
		return 0;
	if (__builtin_mul_overflow(n, sz, &bytes) ||
	    __builtin_add_overflow(bytes, (size_t)63, &bytes))
		return err_set(e, "preprocessing buffer too large");
	q = aligned_alloc(64, bytes / 64 * 64);
	if (q == NULL)
		return err_set(e,
		               "out of memory for %zu bytes of "
		               "preprocessing buffers",
		               bytes);
	free(*buf);
	*buf = q;
	*cap = n;
	return 0;
}

/* ---- Resize (spec 4.2) ---- */

/*
 * Source taps and weights for one axis, PyTorch 1.13's bilinear
 * (align_corners false, no antialias): the scale in float32, the source
 * coordinate in float64 clamped at 0, the weights in float32.
 */
static void
axis_table(int in, int out, struct prep2_axis *t)
{
	float scale = (float)in / (float)out;

	for (int d = 0; d < out; d++) {
		double src, f;
		long long i;

		if (in == out) {
			t[d].i0 = d;
			t[d].i1 = d;
			t[d].l0 = 1.0f;
			t[d].l1 = 0.0f;
			continue;
		}
		src = (double)scale * ((double)d + 0.5) - 0.5;
		if (src < 0.0)
			src = 0.0;
		i = (long long)src;
		if (i > in - 1)
			i = in - 1;
		t[d].i0 = (int32_t)i;
		t[d].i1 = (int32_t)(i + (i < in - 1 ? 1 : 0));
		f = src - (double)i;
		if (f < 0.0)
			f = 0.0;
		if (f > 1.0)
			f = 1.0;
		t[d].l1 = (float)f;
		t[d].l0 = 1.0f - t[d].l1;
	}
}

/* The x taps ax[0..n_px-1] as vectors of values for the AVX-512 kernel
 * (prep2_impl.h): a vector's window starts at its first value's left tap;
 * a vector whose right taps reach past PREP2_WIN bytes is left to the
 * scalar code. */
static int
xplan_build(struct prep2_xplan *xp, const struct prep2_axis *ax, int n_px,
            struct err *e)
{
	int nv = n_px * 3;
	int n_vec = (nv + 4 * PREP2_XV - 1) / (4 * PREP2_XV) * 4;

	if (grow((void **)&xp->base, &xp->base_cap, (size_t)n_vec,
	         sizeof(*xp->base), e) == -1 ||
	    grow((void **)&xp->vec, &xp->vec_cap, (size_t)n_vec,
	         sizeof(*xp->vec), e) == -1)
		return -1;
	xp->n_px = n_px;
	xp->n_vec = n_vec;
	xp->narrow = true;
	for (int m = 0; m < n_vec; m++) {
		struct prep2_xvec *xv = &xp->vec[m];
		int j0 = m * PREP2_XV < nv ? m * PREP2_XV : nv - 1;
		long base = (long)ax[j0 / 3].i0 * 3 + j0 % 3;
		bool fits = true;

		memset(xv, 0, sizeof(*xv));
		for (int k = 0; k < PREP2_XV; k++) {
			int j =
			    m * PREP2_XV + k < nv ? m * PREP2_XV + k : nv - 1;
			const struct prep2_axis *a = &ax[j / 3];
			long b0 = (long)a->i0 * 3 + j % 3 - base;
			long b1 = (long)a->i1 * 3 + j % 3 - base;

			if (b0 < 0 || b1 < 0 || b0 >= PREP2_WIN ||
			    b1 >= PREP2_WIN)
				fits = false;
			xv->idx[4 * k] = (uint8_t)(b0 & 127);
			xv->idx[4 * k + 1] = (uint8_t)(b1 & 127);
			xv->l0[k] = a->l0;
			xv->l1s[k] = a->l1 / 256.0f;
		}
		xp->base[m] = fits ? (int32_t)base : -1;
		for (int k = 0; fits && k < PREP2_XV; k++)
			if (xv->idx[4 * k] >= 64 || xv->idx[4 * k + 1] >= 64)
				xp->narrow = false;
	}
	return 0;
}

/* One output row of a resize (ay: its y taps), the portable way. */
static void
resize_row(const struct model_image *img, const struct prep2_axis *ax,
           int out_w, const struct prep2_axis *ay, const double *u8d,
           uint8_t *dst)
{
	size_t stride = (size_t)img->w * 3;
	const uint8_t *r0 = img->rgb + (size_t)ay->i0 * stride;
	const uint8_t *r1 = img->rgb + (size_t)ay->i1 * stride;

	for (int x = 0; x < out_w; x++)
		prep2_resize_px(r0, r1, ay->l0, ay->l1, &ax[x], u8d,
		                dst + (size_t)x * 3);
}

/* ---- Normalise + patchify (spec 4.3, 4.4.5) ---- */

/* One patch row of one crop, the portable way: the cp patches whose
 * top-left pixels are src + pc * P * 3 (rows stride bytes apart) into
 * dst, (patch, row, col, rgb), each value through the channel's table. */
static void
emit_row(const struct prep2 *p, const uint8_t *src, size_t stride, int cp,
         float *dst)
{
	int P = p->cfg.patch;
	size_t rowlen = (size_t)P * 3; /* bytes of one patch row of pixels */

	for (int pc = 0; pc < cp; pc++) {
		for (int py = 0; py < P; py++) {
			const uint8_t *s =
			    src + (size_t)py * stride + (size_t)pc * rowlen;
			float *d = dst + (size_t)py * rowlen;
			for (size_t q = 0; q < rowlen; q += 3) {
				d[q] = p->lut[0][s[q]];
				d[q + 1] = p->lut[1][s[q + 1]];
				d[q + 2] = p->lut[2][s[q + 2]];
			}
		}
		dst += (size_t)P * rowlen;
	}
}

/* ---- The pixel phases ---- */

struct job {
	struct prep2 *p;
	const struct model_image *img;
	struct prep2_out *out;
	int th, tw;      /* tiled size */
	int n_bands;     /* AVX-512: tiled bands, then the global ones */
	atomic_int next; /* AVX-512: the next band to claim */
	size_t hlen;     /* AVX-512: floats of one prep2_hrows row */
};

/* Portable phase 1: rows 0..tiled_h-1 of the tiled image, then the rows
 * of the global view, split between threads by index. */
static void
resize_phase(void *arg, int ith, int nth)
{
	struct job *j = arg;
	struct prep2 *p = j->p;
	int crop = p->cfg.crop;
	long n = (long)j->th + crop;
	long lo = n * ith / nth, hi = n * (ith + 1) / nth;
	const struct prep2_axis *tx = p->ax, *ty = tx + j->tw;
	const struct prep2_axis *gx = ty + j->th, *gy = gx + crop;

	for (long r = lo; r < hi; r++) {
		if (r < j->th)
			resize_row(j->img, tx, j->tw, &ty[r], p->u8d,
			           p->tiled + (size_t)r * (size_t)j->tw * 3);
		else
			resize_row(j->img, gx, crop, &gy[r - j->th], p->u8d,
			           p->global + (size_t)(r - j->th) * crop * 3);
	}
}

/* Portable phase 2: normalise and patchify, one unit = one patch row of
 * one crop (crop 0 = the global view, crop 1 + i*cols + j at (i, j) *
 * window). */
static void
patch_phase(void *arg, int ith, int nth)
{
	struct job *j = arg;
	struct prep2 *p = j->p;
	const struct prep2_out *o = j->out;
	int P = p->cfg.patch, cp = p->cfg.crop / P;
	int win = (cp - p->cfg.margin[0] - p->cfg.margin[1]) * P;
	long n = (long)o->n_crops * cp;
	long lo = n * ith / nth, hi = n * (ith + 1) / nth;

	for (long u = lo; u < hi; u++) {
		int k = (int)(u / cp), pr = (int)(u % cp);
		const uint8_t *src;
		size_t stride;

		if (k == 0) {
			src = p->global;
			stride = (size_t)p->cfg.crop * 3;
		} else {
			int ti = (k - 1) / o->cols, tj = (k - 1) % o->cols;
			stride = (size_t)j->tw * 3;
			src = p->tiled + (size_t)ti * win * stride +
			      (size_t)tj * win * 3;
		}
		emit_row(p, src + (size_t)pr * P * stride, stride, cp,
		         p->pixels +
		             ((size_t)k * o->n_patches + (size_t)pr * cp) *
		                 (size_t)o->patch_dim);
	}
}

/* One patch row with the AVX-512 emitter when it applies. */
static void
emit_fast(const struct prep2 *p, const uint8_t *src, size_t stride, int cp,
          float *dst)
{
	if (p->norm.kind != PREP2_NORM_NONE &&
	    p->cfg.patch * p->cfg.patch * 3 <= PREP2_STAGE)
		prep2_kern_emit_avx512(src, stride, p->cfg.patch, cp, &p->norm,
		                       dst);
	else
		emit_row(p, src, stride, cp, dst);
}

/*
 * AVX-512, one phase: band b = P rows of the tiled image (b < th / P) or
 * of the global view.  Crops start on multiples of the window (a multiple
 * of P), so a band is patch row b - ti * wp of every crop row ti that
 * covers it: resize the band, then patchify those rows while the band is
 * still in the cache.
 */
static void
do_band(struct job *j, int b, struct prep2_hrows *hr)
{
	struct prep2 *p = j->p;
	const struct prep2_out *o = j->out;
	int P = p->cfg.patch, crop = p->cfg.crop, cp = crop / P;
	int wp = cp - p->cfg.margin[0] - p->cfg.margin[1];
	int nt = j->th / P;
	const struct prep2_axis *tx = p->ax, *ty = tx + j->tw;
	const struct prep2_axis *gx = ty + j->th, *gy = gx + crop;
	size_t pd = (size_t)o->patch_dim;

	if (b < nt) {
		size_t stride = (size_t)j->tw * 3;
		uint8_t *rows = p->tiled + (size_t)b * P * stride;

		prep2_kern_resize_avx512(j->img, &p->xt, tx, ty + b * P, P,
		                         p->u8d, rows, stride, hr);
		for (int ti = 0; ti < o->rows; ti++) {
			int pr = b - ti * wp;
			if (pr < 0 || pr >= cp)
				continue;
			for (int tj = 0; tj < o->cols; tj++) {
				size_t k = 1 + (size_t)ti * o->cols + tj;
				emit_fast(p, rows + (size_t)tj * wp * P * 3,
				          stride, cp,
				          p->pixels + (k * o->n_patches +
				                       (size_t)pr * cp) *
				                          pd);
			}
		}
	} else {
		size_t stride = (size_t)crop * 3;
		int g = b - nt;
		uint8_t *rows = p->global + (size_t)g * P * stride;

		prep2_kern_resize_avx512(j->img, &p->xg, gx, gy + g * P, P,
		                         p->u8d, rows, stride, hr);
		emit_fast(p, rows, stride, cp, p->pixels + (size_t)g * cp * pd);
	}
}

/* AVX-512: threads claim bands in order (tiled ones first: the larger),
 * each with its own resize scratch, and fence their streamed stores before
 * returning. */
static void
band_phase(void *arg, int ith, int nth)
{
	struct job *j = arg;
	float *h = j->p->hbuf + (size_t)ith * 2 * j->hlen;
	struct prep2_hrows hr = {{h, h + j->hlen}, {-1, -1}, NULL};
	int b;

	(void)nth;
	while ((b = atomic_fetch_add(&j->next, 1)) < j->n_bands)
		do_band(j, b, &hr);
	prep2_kern_fence_avx512();
}
/* ---- Patch bookkeeping (spec 4.5) ---- */

/* The hi-res grid: along one axis of t tiles, grid cell g comes from tile
 * *tile, crop patch *pos.  Tile 0 keeps its leading margin, the last tile
 * its trailing one; inner overlaps are dropped. */
static void
grid_axis(int g, int t, int cp, int ml, int mr, int *tile, int *pos)
{
	int w = cp - ml - mr;
	int first = cp - mr; /* cells of tile 0 (when t > 1) */

	if (t == 1) {
		*tile = 0;
		*pos = g;
	} else if (g < first) {
		*tile = 0;
		*pos = g;
	} else {
		int k = (g - first) / w + 1;
		if (k > t - 1)
			k = t - 1;
		*tile = k;
		*pos = ml + (g - first - (k - 1) * w);
	}
}

/* arange_for_pooling: pad ids[h][w] with -1 to multiples of the window
 * (floor(pad/2) before, the rest after) and write each window's ids
 * row-major.  The ids are already numbered globally (the global view's
 * 0..728, crop k's k*729 + patch), so nothing is added afterwards. */
static void
pool_windows(const int32_t *ids, int h, int w, int ph, int pw, int32_t *dst,
             int *oh, int *ow)
{
	int hp = (h + ph - 1) / ph * ph - h, wp = (w + pw - 1) / pw * pw - w;
	int top = hp / 2, left = wp / 2;

	*oh = (h + hp) / ph;
	*ow = (w + wp) / pw;
	for (int ty = 0; ty < *oh; ty++)
		for (int tx = 0; tx < *ow; tx++)
			for (int dy = 0; dy < ph; dy++)
				for (int dx = 0; dx < pw; dx++) {
					int y = ty * ph + dy - top;
					int x = tx * pw + dx - left;
					int32_t v = -1;
					if (y >= 0 && y < h && x >= 0 && x < w)
						v = ids[(size_t)y * w + x];
					*dst++ = v;
				}
}

/* The hi-res patch grid (patch_idx_arr in image order, global numbering)
 * and the pooling windows of both views into p->grid and p->pooling. */
static void
build_grid(struct prep2 *p, struct prep2_out *o, int rows, int cols)
{
	const struct prep2_config *c = &p->cfg;
	int cp = c->crop / c->patch, ml = c->margin[0], mr = c->margin[1];
	int lh = (cp + c->pool_h - 1) / c->pool_h;
	int lw = (cp + c->pool_w - 1) / c->pool_w;
	int32_t *gids;

	for (int gy = 0; gy < o->grid_h; gy++) {
		int ti, r;
		grid_axis(gy, rows, cp, ml, mr, &ti, &r);
		for (int gx = 0; gx < o->grid_w; gx++) {
			int tj, q;
			grid_axis(gx, cols, cp, ml, mr, &tj, &q);
			p->grid[(size_t)gy * o->grid_w + gx] =
			    (int32_t)((1 + ti * cols + tj) * o->n_patches +
			              r * cp + q);
		}
	}
	/* Global view: ids r * cp + c, pooled first. */
	gids = p->grid + (size_t)o->grid_h * o->grid_w;
	for (int i = 0; i < cp * cp; i++)
		gids[i] = i;
	pool_windows(gids, cp, cp, c->pool_h, c->pool_w, p->pooling, &o->low_h,
	             &o->low_w);
	pool_windows(p->grid, o->grid_h, o->grid_w, c->pool_h, c->pool_w,
	             p->pooling + (size_t)lh * lw * o->pool_size, &o->hi_h,
	             &o->hi_w);
}

int
prep2_run(struct prep2 *p, const struct model_image *img, int max_crops,
          struct pool *pool, struct prep2_out *out, struct err *e)
{
	const struct prep2_config *c = &p->cfg;
	int P = c->patch, cp = c->crop / P, crop = c->crop;
	int ml = c->margin[0], mr = c->margin[1];
	int wp = cp - ml - mr, win = wp * P, tot = (ml + mr) * P;
	int rows, cols, lh, lw, hh, hw;
	size_t n_px, n_tiled, n_grid, n_pool, n_ax;
	struct prep2_out o;
	struct job j;
	bool same;

	if (img == NULL || img->rgb == NULL || img->w < 1 || img->h < 1 ||
	    img->w > PREP2_MAX_SIDE || img->h > PREP2_MAX_SIDE)
		return err_set(e, "image size %dx%d outside 1..%d per side",
		               img == NULL ? 0 : img->w,
		               img == NULL ? 0 : img->h, PREP2_MAX_SIDE);
	if (max_crops == 0)
		max_crops = c->max_crops;
	if (max_crops < 1 || max_crops > PREP2_MAX_CROPS)
		return err_set(e, "max_crops %d outside 1..%d", max_crops,
		               PREP2_MAX_CROPS);
	prep2_tiling(c, img->w, img->h, max_crops, &rows, &cols);

	memset(&o, 0, sizeof(o));
	o.rows = rows;
	o.cols = cols;
	o.n_crops = 1 + rows * cols;
	o.n_patches = cp * cp;
	o.patch_dim = P * P * 3;
	o.tiled_h = rows * win + tot;
	o.tiled_w = cols * win + tot;
	o.grid_h = rows * wp + ml + mr;
	o.grid_w = cols * wp + ml + mr;
	o.pool_size = c->pool_h * c->pool_w;
	lh = (cp + c->pool_h - 1) / c->pool_h;
	lw = (cp + c->pool_w - 1) / c->pool_w;
	hh = (o.grid_h + c->pool_h - 1) / c->pool_h;
	hw = (o.grid_w + c->pool_w - 1) / c->pool_w;

	/* Sizes: crops <= 1 + PREP2_MAX_CROPS, sides <= 34k; still checked. */
	if (__builtin_mul_overflow((size_t)o.n_crops, (size_t)o.n_patches,
	                           &n_px) ||
	    __builtin_mul_overflow(n_px, (size_t)o.patch_dim, &n_px) ||
	    __builtin_mul_overflow((size_t)o.tiled_h, (size_t)o.tiled_w,
	                           &n_tiled) ||
	    __builtin_mul_overflow(n_tiled, (size_t)3, &n_tiled))
		return err_set(e, "image too large to preprocess");
	n_grid = (size_t)o.grid_h * (size_t)o.grid_w + (size_t)cp * cp;
	n_pool = ((size_t)lh * lw + (size_t)hh * hw) * (size_t)o.pool_size;
	n_ax = (size_t)o.tiled_w + (size_t)o.tiled_h + 2 * (size_t)crop;
	if (grow((void **)&p->tiled, &p->tiled_cap, n_tiled, 1, e) == -1 ||
	    grow((void **)&p->pixels, &p->pixels_cap, n_px, sizeof(float), e) ==
	        -1 ||
	    grow((void **)&p->grid, &p->grid_cap, n_grid, sizeof(int32_t), e) ==
	        -1 ||
	    grow((void **)&p->pooling, &p->pooling_cap, n_pool, sizeof(int32_t),
	         e) == -1 ||
	    grow((void **)&p->ax, &p->ax_cap, n_ax, sizeof(*p->ax), e) == -1)
		return -1;

	/* Resize tables: Resize((out_h, out_w)) of the whole image, for the
	 * tiled image and for the global view (kept from the last run of the
	 * same geometry, with the grid and pooling tables). */
	same = p->geo_w == img->w && p->geo_h == img->h &&
	       p->geo_rows == rows && p->geo_cols == cols &&
	       p->geo_avx512 == p->avx512;
	p->geo_w = 0;
	if (!same) {
		axis_table(img->w, o.tiled_w, p->ax);
		axis_table(img->h, o.tiled_h, p->ax + o.tiled_w);
		axis_table(img->w, crop, p->ax + o.tiled_w + o.tiled_h);
		axis_table(img->h, crop, p->ax + o.tiled_w + o.tiled_h + crop);
	}

	j.p = p;
	j.img = img;
	j.out = &o;
	j.th = o.tiled_h;
	j.tw = o.tiled_w;
	if (p->avx512) {
		size_t n_h;

		if (!same && (xplan_build(&p->xt, p->ax, o.tiled_w, e) == -1 ||
		              xplan_build(&p->xg, p->ax + o.tiled_w + o.tiled_h,
		                          crop, e) == -1))
			return -1;
		j.hlen = (size_t)(p->xt.n_vec > p->xg.n_vec ? p->xt.n_vec
		                                            : p->xg.n_vec) *
		         PREP2_XV;
		if (__builtin_mul_overflow(j.hlen, 2 * (size_t)pool_size(pool),
		                           &n_h) ||
		    grow((void **)&p->hbuf, &p->hbuf_cap, n_h, sizeof(float),
		         e) == -1)
			return -1;
		j.n_bands = o.tiled_h / P + cp;
		atomic_init(&j.next, 0);
		pool_run(pool, band_phase, &j);
	} else {
		pool_run(pool, resize_phase, &j);
		pool_run(pool, patch_phase, &j);
	}

	if (same) {
		o.low_h = lh;
		o.low_w = lw;
		o.hi_h = hh;
		o.hi_w = hw;
	} else {
		build_grid(p, &o, rows, cols);
	}
	assert(o.low_h == lh && o.low_w == lw && o.hi_h == hh && o.hi_w == hw);
	p->geo_w = img->w;
	p->geo_h = img->h;
	p->geo_rows = rows;
	p->geo_cols = cols;
	p->geo_avx512 = p->avx512;
	o.n_tokens = lh * lw + hh * hw;

	o.pixels = p->pixels;
	o.pooling = p->pooling;
	o.patch_grid = p->grid;
	o.tiled_u8 = p->tiled;
	o.global_u8 = p->global;
	*out = o;
	return 0;
}

/* ---- Token layout and prompt ---- */

void
prep2_ids_real(struct prep2_ids *ids)
{
	ids->bos = 151645; /* <|im_end|>, generation_config bos */
	ids->im_start = 151936;
	ids->im_end = 151937;
	ids->im_patch = 151938;
	ids->im_col = 151939;
	ids->low_res_im_start = 151940;
	ids->im_low = 151942;
	ids->frame_start = 151943;
	ids->frame_end = 151944;
}

static int
get_id(json_t *o, const char *key, int32_t *out, const char *path,
       struct err *e)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return err_set(e, "%s: %s missing", path, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > INT32_MAX)
		return err_set(e, "%s: %s: expected a token id", path, key);
	*out = (int32_t)json_integer_value(v);
	return 0;
}

int
prep2_ids_load(const char *dir, struct prep2_ids *ids, struct err *e)
{
	char path[4096];
	json_t *root;
	struct prep2_ids t;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", dir) >=
	    sizeof(path))
		return err_set(e, "%s: path too long", dir);
	r = load_json(path, &root, e);
	if (r == 1)
		return err_set(e, "%s: missing", path);
	if (r == -1)
		return -1;
	r = 0;
	if (get_id(root, "image_start_token_id", &t.im_start, path, e) == -1 ||
	    get_id(root, "image_end_token_id", &t.im_end, path, e) == -1 ||
	    get_id(root, "image_patch_id", &t.im_patch, path, e) == -1 ||
	    get_id(root, "image_col_id", &t.im_col, path, e) == -1 ||
	    get_id(root, "low_res_image_start_token_id", &t.low_res_im_start,
	           path, e) == -1 ||
	    get_id(root,
	           json_object_get(root, "image_low_res_id") != NULL
	               ? "image_low_res_id"
	               : "image_non_indexable_patch_id",
	           &t.im_low, path, e) == -1 ||
	    get_id(root, "frame_start_token_id", &t.frame_start, path, e) ==
	        -1 ||
	    get_id(root, "frame_end_token_id", &t.frame_end, path, e) == -1)
		r = -1;
	json_decref(root);
	if (r == -1)
		return -1;

	snprintf(path, sizeof(path), "%s/generation_config.json", dir);
	r = load_json(path, &root, e);
	if (r == 1)
		return err_set(e, "%s: missing", path);
	if (r == -1)
		return -1;
	r = get_id(root, "bos_token_id", &t.bos, path, e);
	json_decref(root);
	if (r == -1)
		return -1;
	*ids = t;
	return 0;
}

size_t
prep2_n_image_tokens(const struct prep2_config *cfg,
                     const struct prep2_out *out)
{
	size_t low = (size_t)out->low_h *
	             ((size_t)out->low_w + (cfg->global_col_tokens ? 1 : 0));
	size_t hi =
	    (size_t)out->hi_h * ((size_t)out->hi_w + (cfg->col_tokens ? 1 : 0));

	return 2 + low + 2 + hi;
}

/* One block: start, rows x (cols x patch [+ col]), end. */
static int32_t *
put_block(int32_t *d, int32_t start, int rows, int cols, int32_t patch,
          bool col, int32_t col_id, int32_t end)
{
	*d++ = start;
	for (int r = 0; r < rows; r++) {
		for (int c = 0; c < cols; c++)
			*d++ = patch;
		if (col)
			*d++ = col_id;
	}
	*d++ = end;
	return d;
}

ssize_t
prep2_image_tokens(const struct prep2_config *cfg, const struct prep2_out *out,
                   const struct prep2_ids *ids, int32_t *dst, size_t cap,
                   struct err *e)
{
	size_t n = prep2_n_image_tokens(cfg, out);
	int32_t *d = dst;

	if (n > cap)
		return err_set(e, "%zu image tokens do not fit in %zu", n, cap);
	d = put_block(
	    d, cfg->global_start_low ? ids->low_res_im_start : ids->im_start,
	    out->low_h, out->low_w,
	    cfg->global_patch_low ? ids->im_low : ids->im_patch,
	    cfg->global_col_tokens, ids->im_col, ids->im_end);
	d = put_block(d, ids->im_start, out->hi_h, out->hi_w, ids->im_patch,
	              cfg->col_tokens, ids->im_col, ids->im_end);
	assert((size_t)(d - dst) == n);
	return (ssize_t)n;
}

size_t
prep2_prompt_text(char *buf, size_t n, const char *prompt)
{
	int r = snprintf(buf, n,
	                 "<|im_start|>user\n%s<|im_end|>\n"
	                 "<|im_start|>assistant\n",
	                 prompt);

	return r < 0 ? 0 : (size_t)r;
}

size_t
prep2_n_input_ids(const struct prep2_config *cfg, const struct prep2_out *out,
                  size_t n_text)
{
	return 1 + (out != NULL ? prep2_n_image_tokens(cfg, out) : 0) + n_text;
}

ssize_t
prep2_build_input_ids(const struct prep2_config *cfg,
                      const struct prep2_out *out, const struct prep2_ids *tok,
                      const int32_t *text, size_t n_text, int32_t *ids,
                      size_t cap, struct err *e)
{
	size_t n = prep2_n_input_ids(cfg, out, n_text), k = 0;
	bool bos = !(out == NULL && n_text > 0 && text[0] == tok->bos);
	ssize_t m;

	if (!bos)
		n--;
	if (n > cap)
		return err_set(e, "%zu input ids do not fit in %zu", n, cap);
	if (bos)
		ids[k++] = tok->bos;
	if (out != NULL) {
		m = prep2_image_tokens(cfg, out, tok, ids + k, cap - k, e);
		if (m < 0)
			return -1;
		k += (size_t)m;
	}
	if (n_text > 0)
		memcpy(ids + k, text, n_text * sizeof(*text));
	k += n_text;
	assert(k == n);
	return (ssize_t)n;
}

void
prep2_token_types(const struct prep2_ids *t, const int32_t *ids, size_t n,
                  uint8_t *types)
{
	for (size_t i = 0; i < n; i++) {
		int32_t v = ids[i];
		types[i] = v == t->im_patch || v == t->im_col ||
		                   v == t->im_start ||
		                   v == t->low_res_im_start ||
		                   v == t->frame_start || v == t->im_end ||
		                   v == t->frame_end || v == t->im_low
		               ? 1
		               : 0;
	}
}
