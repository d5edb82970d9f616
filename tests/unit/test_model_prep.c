/* SPDX-License-Identifier: ISC */
/*
 * test_model_prep.c: model/prep against the preprocessing goldens of the
 * official processors (shared/golden/preprocess, both resize flavours) and
 * the input_ids of the model goldens.  Every file the preprocess manifest
 * lists is compared: pixel tensors within tolerance, masks, indices and the
 * token layout exactly.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "model/pool.h"
#include "model/prep.h"
#include "model/prep_impl.h"
#include "tests/tools/testutil.h"
#include "util/err.h"

/* Pixel tolerance per value (golden README: TF-exact resize gives ~1e-6;
 * the torch flavour is reproduced operation by operation too). */
#define TOL_PIXEL 1e-5
#define TOL_SUM   5e-3 /* per-patch sums of 588 values */
#define TOL_SUMSQ 5e-3 /* relative, per-patch sums of squares */

static json_t *
load_manifest(const char *rel)
{
	json_error_t jerr;
	json_t *m = json_load_file(tu_shared(rel), 0, &jerr);

	ck_assert_msg(m != NULL, "%s: %s", rel, jerr.text);
	return m;
}

static size_t
dtype_size(const char *d)
{
	if (strcmp(d, "f32") == 0 || strcmp(d, "i32") == 0)
		return 4;
	ck_assert_msg(strcmp(d, "f64") == 0 || strcmp(d, "i64") == 0,
	              "dtype %s", d);
	return 8;
}

/* Read a golden array and check its size against the manifest entry. */
static void *
read_array(const char *rel, json_t *ent, size_t *count, size_t *dim0)
{
	json_t *shape = json_object_get(ent, "shape"), *v;
	size_t n = 1, i, len;
	void *p;

	json_array_foreach(shape, i, v) n *= (size_t)json_integer_value(v);
	*dim0 = (size_t)json_integer_value(json_array_get(shape, 0));
	p = tu_read_file(tu_shared(rel), &len);
	ck_assert_uint_eq(len, n * dtype_size(json_string_value(
	                               json_object_get(ent, "dtype"))));
	*count = n;
	return p;
}

struct prepared {
	struct image img;
	struct prep *prep;
	struct prep_out out;
};

static void
prepare(struct prepared *pr, const char *flavour, const char *cname,
        struct pool *pool)
{
	char rel[256];
	struct prep_config cfg;
	struct err e;
	void *bytes;
	size_t n;
	struct model_image mi;

	snprintf(rel, sizeof(rel), "golden/images/%s.png", cname);
	bytes = tu_read_file(tu_shared(rel), &n);
	ck_assert_msg(image_decode(bytes, n, NULL, &pr->img, &e) == 0, "%s",
	              e.msg);
	free(bytes);
	prep_config_default(&cfg, strcmp(flavour, "tf") == 0
	                              ? PREP_RESIZE_TF
	                              : PREP_RESIZE_TORCH);
	pr->prep = prep_new(&cfg, &e);
	ck_assert_ptr_nonnull(pr->prep);
	mi.w = pr->img.w;
	mi.h = pr->img.h;
	mi.rgb = pr->img.rgb;
	ck_assert_msg(prep_run(pr->prep, &mi, pool, &pr->out, &e) == 0, "%s",
	              e.msg);
}

static void
release(struct prepared *pr)
{
	prep_free(pr->prep);
	image_fini(&pr->img);
}

/* Compare one golden file of case flavour/cname with our output. */
static void
compare_file(const struct prep_out *o, const char *key, json_t *ent)
{
	char rel[512];
	const char *fname = strrchr(key, '/') + 1;
	size_t n, d0, i, k, per_crop;
	double maxerr = 0, err, s, ss, v;
	void *g;

	snprintf(rel, sizeof(rel), "golden/preprocess/%s", key);
	g = read_array(rel, ent, &n, &d0);
	per_crop = (size_t)o->n_patches * o->patch_dim;
	if (strcmp(fname, "images.f32") == 0 ||
	    strcmp(fname, "images_crops_subset.f32") == 0) {
		ck_assert_uint_le(d0, (size_t)o->n_crops);
		if (strcmp(fname, "images.f32") == 0)
			ck_assert_uint_eq(d0, (size_t)o->n_crops);
		for (i = 0; i < d0 * per_crop; i++) {
			err = fabs((double)o->images[i] - ((float *)g)[i]);
			if (err > maxerr)
				maxerr = err;
		}
		printf("%s: max |diff| %.3g over %zu values\n", key, maxerr,
		       d0 * per_crop);
		ck_assert_msg(maxerr <= TOL_PIXEL, "%s: max |diff| %g", key,
		              maxerr);
	} else if (strcmp(fname, "images_patch_sum.f64") == 0 ||
	           strcmp(fname, "images_patch_sumsq.f64") == 0) {
		bool sq = strstr(fname, "sumsq") != NULL;

		ck_assert_uint_eq(d0, (size_t)o->n_crops);
		for (i = 0; i < n; i++) {
			s = 0;
			ss = 0;
			for (k = 0; k < (size_t)o->patch_dim; k++) {
				v = o->images[i * o->patch_dim + k];
				s += v;
				ss += v * v;
			}
			err = sq ? fabs(ss - ((double *)g)[i]) /
			               (1.0 + fabs(((double *)g)[i]))
			         : fabs(s - ((double *)g)[i]);
			if (err > maxerr)
				maxerr = err;
		}
		printf("%s: max %s diff %.3g over %zu patches\n", key,
		       sq ? "relative" : "absolute", maxerr, n);
		ck_assert_msg(maxerr <= (sq ? TOL_SUMSQ : TOL_SUM), "%s: %g",
		              key, maxerr);
	} else if (strcmp(fname, "image_masks.f32") == 0) {
		ck_assert_uint_eq(d0, (size_t)o->n_crops);
		ck_assert_ptr_nonnull(o->masks);
		for (i = 0; i < n; i++)
			ck_assert_msg(o->masks[i] == ((float *)g)[i],
			              "%s[%zu]: %.9g != %.9g", key, i,
			              o->masks[i], ((float *)g)[i]);
	} else if (strcmp(fname, "image_input_idx.i32") == 0) {
		ck_assert_uint_eq(d0, (size_t)o->n_crops);
		ck_assert_uint_eq(n, (size_t)o->n_crops * o->n_pooled);
		for (i = 0; i < n; i++)
			ck_assert_msg(o->input_idx[i] == ((int32_t *)g)[i],
			              "%s[%zu]: %d != %d", key, i,
			              o->input_idx[i], ((int32_t *)g)[i]);
	} else if (strcmp(fname, "image_token_layout.i64") == 0) {
		int64_t *l = g;

		ck_assert_uint_ge(n, 1 + (size_t)o->n_image_tokens);
		ck_assert_int_eq(l[0], -1); /* BOS */
		for (i = 0; i < (size_t)o->n_image_tokens; i++)
			ck_assert_msg(l[1 + i] == o->layout[i],
			              "%s[%zu]: %d != %lld", key, 1 + i,
			              o->layout[i], (long long)l[1 + i]);
		for (i = 1 + (size_t)o->n_image_tokens; i < n; i++)
			ck_assert_int_eq(l[i], -1); /* prompt text */
	} else {
		ck_abort_msg("%s: unknown golden file", key);
	}
	free(g);
}

/* Every case directory of one flavour, every file the manifest lists. */
static void
check_flavour(const char *flavour)
{
	static const char *cases[] = {"small_200x150", "screenshot_1280x720",
	                              "portrait_720x1280"};
	char prefix[128];
	json_t *m, *files, *ent;
	const char *key;
	struct prepared pr;
	size_t c, nfiles = 0;

	m = load_manifest("golden/preprocess/manifest.json");
	files = json_object_get(m, "files");
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		snprintf(prefix, sizeof(prefix), "%s/%s/", flavour, cases[c]);
		prepare(&pr, flavour, cases[c], NULL);
		json_object_foreach(files, key, ent)
		{
			if (strncmp(key, prefix, strlen(prefix)) != 0)
				continue;
			compare_file(&pr.out, key, ent);
			nfiles++;
		}
		release(&pr);
	}
	/* 3 cases: 4 files for the small image, 6 for each big one. */
	ck_assert_uint_eq(nfiles, 16);
	json_decref(m);
}

START_TEST(test_tf_flavour_matches_golden)
{
	check_flavour("tf");
}
END_TEST

START_TEST(test_torch_flavour_matches_golden)
{
	check_flavour("torch");
}
END_TEST

/* The model goldens' input_ids: BOS, image tokens, prompt ids (taken from
 * the manifest, so no tokenizer is involved), and the resize flavour that
 * prep_config_load() picks from each checkpoint. */
static void
check_model_inputs(const char *variant)
{
	char rel[512], dir[512];
	json_t *m, *tok, *cases, *cs, *v, *itok;
	const char *cname, *pdir;
	struct prep_config cfg;
	struct prep_ids ids;
	struct prepared pr;
	struct err e;
	int32_t *text, *got;
	int64_t *want;
	size_t n_text, n, i, d0;
	ssize_t k;

	snprintf(rel, sizeof(rel), "golden/%s/manifest.json", variant);
	m = load_manifest(rel);
	tok = json_object_get(m, "tokenizer");
	itok = json_object_get(tok, "image_token_ids");
	ids.bos =
	    (int32_t)json_integer_value(json_object_get(tok, "eos_token_id"));
	ids.im_start =
	    (int32_t)json_integer_value(json_object_get(itok, "<im_start>"));
	ids.im_end =
	    (int32_t)json_integer_value(json_object_get(itok, "<im_end>"));
	ids.im_patch =
	    (int32_t)json_integer_value(json_object_get(itok, "<im_patch>"));
	ids.im_col =
	    (int32_t)json_integer_value(json_object_get(itok, "<im_col>"));
	snprintf(rel, sizeof(rel), "golden/%s/model", variant);
	snprintf(dir, sizeof(dir), "%s", tu_shared(rel));
	ck_assert_msg(prep_config_load(dir, &cfg, &e) == 0, "%s", e.msg);
	cases = json_object_get(m, "cases");
	json_object_foreach(cases, cname, cs)
	{
		v = json_object_get(cs, "text_token_ids");
		n_text = json_array_size(v);
		text = calloc(n_text + 1, sizeof(*text));
		for (i = 0; i < n_text; i++)
			text[i] =
			    (int32_t)json_integer_value(json_array_get(v, i));
		pdir = json_string_value(json_object_get(cs, "preprocess_dir"));
		memset(&pr, 0, sizeof(pr));
		if (pdir != NULL) {
			ck_assert_int_eq(cfg.resize,
			                 strstr(pdir, "/torch/") != NULL
			                     ? PREP_RESIZE_TORCH
			                     : PREP_RESIZE_TF);
			prepare(&pr,
			        cfg.resize == PREP_RESIZE_TF ? "tf" : "torch",
			        cname, NULL);
			ck_assert_int_eq(
			    pr.out.n_crops,
			    json_integer_value(json_object_get(cs, "n_crops")));
		}
		n = prep_n_input_ids(pdir != NULL ? &pr.out : NULL, n_text);
		ck_assert_int_eq(
		    (long long)n,
		    json_integer_value(json_object_get(cs, "seq_len")));
		got = calloc(n, sizeof(*got));
		k = prep_build_input_ids(pdir != NULL ? &pr.out : NULL, &ids,
		                         text, n_text, got, n, &e);
		ck_assert_int_eq(k, (ssize_t)n);
		ck_assert_int_eq(
		    prep_build_input_ids(pdir != NULL ? &pr.out : NULL, &ids,
		                         text, n_text, got, n - 1, &e),
		    -1);
		snprintf(rel, sizeof(rel), "golden/%s/%s/input_ids.i64",
		         variant, cname);
		want = tu_read_file(tu_shared(rel), &d0);
		ck_assert_uint_eq(d0, n * sizeof(int64_t));
		for (i = 0; i < n; i++)
			ck_assert_msg(got[i] == want[i],
			              "%s/%s: input_ids[%zu] %d != %lld",
			              variant, cname, i, got[i],
			              (long long)want[i]);
		free(want);
		free(got);
		free(text);
		if (pdir != NULL)
			release(&pr);
	}
	json_decref(m);
}

START_TEST(test_model_golden_input_ids_match)
{
	check_model_inputs("qwen2-tiny");
	check_model_inputs("olmo-tiny");
	check_model_inputs("moe-tiny");
}
END_TEST

/* Section 4.10's worked sizes: tiling, float32-truncated content sizes. */
START_TEST(test_worked_sizes_from_spec)
{
	static const struct {
		int w, h, nr, nc, ch, cw, gh, gw;
	} t[] = {
	    {1280, 720, 3, 4, 567, 1008, 188, 336},
	    {1366, 768, 3, 4, 566, 1008, 188, 336},
	    {1440, 900, 3, 4, 630, 1008, 210, 336},
	    {1920, 1080, 3, 4, 567, 1007, 189, 336},
	    {2560, 1440, 3, 4, 567, 1008, 188, 336},
	    {1280, 800, 3, 4, 630, 1008, 209, 336},
	    {1280, 1024, 3, 4, 784, 980, 268, 336},
	    {1024, 768, 3, 4, 756, 1008, 252, 336},
	    {390, 844, 4, 2, 1008, 465, 336, 155},
	    {1280, 5000, 6, 2, 1456, 372, 336, 86},
	};
	size_t i;
	int nr, nc, h, w;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		prep_select_tiling(t[i].h - 112, t[i].w - 112, 224, 12, &nr,
		                   &nc);
		ck_assert_msg(nr == t[i].nr && nc == t[i].nc, "%dx%d: %dx%d",
		              t[i].w, t[i].h, nr, nc);
		prep_fit(t[i].h, t[i].w, nr * 224 + 112, nc * 224 + 112, &h,
		         &w);
		ck_assert_msg(h == t[i].ch && w == t[i].cw,
		              "%dx%d: content %dx%d", t[i].w, t[i].h, w, h);
		prep_fit(t[i].h, t[i].w, 336, 336, &h, &w);
		ck_assert_msg(h == t[i].gh && w == t[i].gw,
		              "%dx%d: global %dx%d", t[i].w, t[i].h, w, h);
	}
	/* The model-card puppy: 536x354 -> 2x2. */
	prep_select_tiling(354 - 112, 536 - 112, 224, 12, &nr, &nc);
	ck_assert_int_eq(nr, 2);
	ck_assert_int_eq(nc, 2);
	/* Tiny images (<= 112 px: division by zero or a negative size) still
	 * pick a tiling, as numpy does. */
	prep_select_tiling(0, -100, 224, 12, &nr, &nc);
	ck_assert_int_ge(nr * nc, 1);
}
END_TEST

/* Token counts of section 4.10 and the 536x354 layout of section 10.2. */
START_TEST(test_token_layout_of_puppy_image)
{
	struct prep_config cfg;
	struct prep *p;
	struct prep_out o;
	struct model_image mi;
	struct prep_ids ids = {151643, 152064, 152065, 152066, 152067};
	int32_t text[8] = {2657, 25, 60785, 419, 2168, 13, 21388, 25};
	int32_t *out;
	uint8_t *rgb;
	struct err e;
	ssize_t n;
	int r, c, k;

	rgb = calloc((size_t)536 * 354 * 3, 1);
	mi.w = 536;
	mi.h = 354;
	mi.rgb = rgb;
	prep_config_default(&cfg, PREP_RESIZE_TF);
	p = prep_new(&cfg, &e);
	ck_assert_int_eq(prep_run(p, &mi, NULL, &o, &e), 0);
	ck_assert_int_eq(o.n_crops, 5);
	ck_assert_int_eq(o.n_image_tokens, 580);
	out = calloc(600, sizeof(*out));
	n = prep_build_input_ids(&o, &ids, text, 8, out, 600, &e);
	ck_assert_int_eq(n, 589);
	k = 0;
	ck_assert_int_eq(out[k++], 151643);
	ck_assert_int_eq(out[k++], 152064);
	for (r = 0; r < 12; r++) {
		for (c = 0; c < 12; c++)
			ck_assert_int_eq(out[k++], 152066);
		ck_assert_int_eq(out[k++], 152067);
	}
	ck_assert_int_eq(out[k++], 152065);
	ck_assert_int_eq(out[k++], 152064);
	for (r = 0; r < 20; r++) {
		for (c = 0; c < 20; c++)
			ck_assert_int_eq(out[k++], 152066);
		ck_assert_int_eq(out[k++], 152067);
	}
	ck_assert_int_eq(out[k++], 152065);
	ck_assert_int_eq(out[k++], 2657);
	/* A black image: every real pixel normalises to -mean/std too. */
	ck_assert_float_eq(o.images[0], (0.0f - cfg.mean[0]) / cfg.std[0]);
	free(out);
	prep_free(p);
	free(rgb);
}
END_TEST

START_TEST(test_results_identical_for_any_thread_count)
{
	struct prepared a, b;
	struct pool *pool;
	struct err e;
	size_t n;
	const char *fl[2] = {"tf", "torch"};
	int f;

	pool = pool_new(3, &e);
	ck_assert_ptr_nonnull(pool);
	for (f = 0; f < 2; f++) {
		prepare(&a, fl[f], "screenshot_1280x720", NULL);
		prepare(&b, fl[f], "screenshot_1280x720", pool);
		n = (size_t)a.out.n_crops * a.out.n_patches * a.out.patch_dim;
		ck_assert_int_eq(a.out.n_crops, b.out.n_crops);
		ck_assert_int_eq(
		    memcmp(a.out.images, b.out.images, n * sizeof(float)), 0);
		ck_assert_int_eq(memcmp(a.out.masks, b.out.masks,
		                        (size_t)a.out.n_crops *
		                            a.out.n_patches * sizeof(float)),
		                 0);
		release(&a);
		release(&b);
	}
	pool_free(pool);
}
END_TEST

/* Preprocess rgb (w x h) with kernel set k, its TF ring choice flipped if
 * flip_ring, AVX512_VBMI if vbmi and the CPU has it, and a pool of nth
 * threads; returns a copy of the images. */
static float *
run_variant(const struct prep_config *cfg, const struct prep_kern *k,
            bool flip_ring, bool vbmi, int nth, const uint8_t *rgb, int w,
            int h, size_t *n)
{
	struct model_image mi = {w, h, rgb};
	struct prep_kern kk = *k;
	struct pool *pool = NULL;
	struct prep *p;
	struct prep_out o;
	struct err e;
	float *copy;

	p = prep_new(cfg, &e);
	ck_assert_ptr_nonnull(p);
	kk.tf_ring = flip_ring ? !k->tf_ring : k->tf_ring;
	p->kern = &kk;
	p->vbmi = p->vbmi && vbmi;
	if (nth > 1) {
		pool = pool_new(nth, &e);
		ck_assert_ptr_nonnull(pool);
	}
	ck_assert_int_eq(prep_run(p, &mi, pool, &o, &e), 0);
	*n = (size_t)o.n_crops * o.n_patches * o.patch_dim;
	copy = malloc(*n * sizeof(float));
	memcpy(copy, o.images, *n * sizeof(float));
	prep_free(p);
	pool_free(pool);
	return copy;
}

/* Run kernel set k on nth threads with option opt (0: as chosen, 1: the
 * other TF ring choice, 2: no AVX512_VBMI; skipped where it changes
 * nothing) and compare with first (n values). */
static void
compare_variant(const struct prep_config *cfg, const struct prep_kern *k,
                int opt, int nth, const uint8_t *rgb, int w, int h,
                const float *first, size_t n)
{
	bool tf = cfg->resize == PREP_RESIZE_TF;
	float *other;
	size_t n2;

	if ((opt == 1 && !tf) ||
	    (opt == 2 && (tf || k != &prep_kern_avx512 ||
	                  !__builtin_cpu_supports("avx512vbmi"))))
		return;
	other = run_variant(cfg, k, opt == 1, opt != 2, nth, rgb, w, h, &n2);
	ck_assert_uint_eq(n, n2);
	ck_assert_msg(memcmp(first, other, n * sizeof(float)) == 0,
	              "%s %dx%d kernels %s, %d threads, %s differ",
	              tf ? "tf" : "torch", w, h, k->name, nth,
	              opt == 0   ? "as chosen"
	              : opt == 1 ? "other ring choice"
	                         : "no VBMI");
	free(other);
}

/* Every pixel-loop variant this CPU runs (SSE2, AVX2, AVX-512), on 1, 2
 * and 3 threads, with and without TF's ring of converted rows and
 * AVX512_VBMI, gives the bits of the portable loops on one thread: both
 * flavours, odd widths (the vector tails), images lower than 16 rows (no
 * 16-row blocks), thin ones (long spans, pure-padding bands). */
START_TEST(test_simd_kernels_agree)
{
	static const int sizes[][2] = {
	    {1001, 623}, {17, 9}, {300, 40}, {40, 700}, {2000, 31}};
	const struct prep_kern *k[3] = {&prep_kern_base, NULL, NULL};
	int nk = 1, f, v, si, nth, opt;
	struct prep_config cfg;
	float *first;
	size_t n, i;
	uint8_t *rgb;
	bool seen[256];

	if (__builtin_cpu_supports("avx2"))
		k[nk++] = &prep_kern_avx2;
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw"))
		k[nk++] = &prep_kern_avx512;
	rgb = malloc((size_t)2000 * 700 * 3);
	for (i = 0; i < (size_t)2000 * 700 * 3; i++)
		rgb[i] = (uint8_t)(i * 2654435761u >> 24);
	/* the first image holds all 256 values, so the conversions (torch's
	 * division-free one included) are compared on every input */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < (size_t)sizes[0][0] * sizes[0][1] * 3; i++)
		seen[rgb[i]] = true;
	for (i = 0; i < 256; i++)
		ck_assert(seen[i]);
	for (f = 0; f < 2; f++) {
		prep_config_default(&cfg, f == 0 ? PREP_RESIZE_TF
		                                 : PREP_RESIZE_TORCH);
		for (si = 0; si < 5; si++) {
			first = run_variant(&cfg, k[0], false, false, 1, rgb,
			                    sizes[si][0], sizes[si][1], &n);
			for (v = 0; v < nk; v++)
				for (nth = 1; nth <= 3; nth++)
					for (opt = 0; opt < 3; opt++)
						compare_variant(
						    &cfg, k[v], opt, nth, rgb,
						    sizes[si][0], sizes[si][1],
						    first, n);
			free(first);
		}
	}
	free(rgb);
}
END_TEST

/* How many floats v in [0, 1] (bit patterns 0 .. top, every step-th)
 * give a fast normalisation different from (v - mean) / std. */
static long
norm_mismatches_scalar(float mean, float std, uint32_t top, uint32_t step)
{
	float v, d, q, r, inv = 1.0f / std;
	volatile float ref;
	long bad = 0;
	uint32_t u;

	for (u = 0; u <= top; u += step) {
		memcpy(&v, &u, sizeof(v));
		d = v - mean;
		q = d * inv;
		r = fmaf(-q, std, d);
		ref = d / std;
		if (fmaf(r, inv, q) != ref)
			bad++;
	}
	return bad;
}

/* The same over every value, 16 at a time, with the kernel's intrinsics. */
__attribute__((target("avx512f"))) static long
norm_mismatches_avx512(float mean, float std, uint32_t top)
{
	const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	                                       11, 12, 13, 14, 15);
	const __m512 m = _mm512_set1_ps(mean), s = _mm512_set1_ps(std);
	const __m512 rs = _mm512_set1_ps(1.0f / std);
	__m512 d, q, r;
	__m512i u;
	__mmask16 in;
	uint32_t base;
	long bad = 0;

	for (base = 0; base <= top; base += 16) {
		u = _mm512_add_epi32(_mm512_set1_epi32((int)base), iota);
		in = _mm512_cmple_epu32_mask(u, _mm512_set1_epi32((int)top));
		d = _mm512_sub_ps(_mm512_castsi512_ps(u), m);
		q = _mm512_mul_ps(d, rs);
		r = _mm512_fnmadd_ps(q, s, d);
		bad += __builtin_popcount(_mm512_mask_cmpneq_ps_mask(
		    in, _mm512_fmadd_ps(r, rs, q), _mm512_div_ps(d, s)));
	}
	return bad;
}

/* The division-free normalisation is exact: for each checked (mean, std)
 * and every float v in [0, 1], q' = fma(fma(-q, std, d), 1/std, q) with
 * d = v - mean and q = d * (1/std) equals d / std.  With AVX-512 all
 * 1,065,353,217 values per pair (under a second); otherwise every 61st. */
START_TEST(test_fast_normalisation_is_exact)
{
	float one = 1.0f, mean, std;
	uint32_t top;
	long bad;
	int i;

	memcpy(&top, &one, sizeof(top));
	for (i = 0; i < prep_norm_n_checked; i++) {
		mean = prep_norm_checked[i][0];
		std = prep_norm_checked[i][1];
		if (__builtin_cpu_supports("avx512f"))
			bad = norm_mismatches_avx512(mean, std, top);
		else
			bad = norm_mismatches_scalar(mean, std, top, 61);
		ck_assert_msg(bad == 0, "(%g, %g): %ld values differ",
		              (double)mean, (double)std, bad);
		ck_assert(prep_norm_exact(mean, std));
	}
	ck_assert(!prep_norm_exact(0.5f, 0.5f));
}
END_TEST

/* Reusing a prep for a smaller then a larger image gives the same result
 * as a fresh one. */
START_TEST(test_reuse_gives_same_result)
{
	struct prepared a, b;
	struct model_image mi;
	struct prep_out o;
	struct err e;
	size_t n;

	prepare(&a, "tf", "small_200x150", NULL);
	prepare(&b, "tf", "portrait_720x1280", NULL);
	mi.w = a.img.w;
	mi.h = a.img.h;
	mi.rgb = a.img.rgb;
	ck_assert_int_eq(prep_run(b.prep, &mi, NULL, &o, &e), 0);
	n = (size_t)o.n_crops * o.n_patches * o.patch_dim;
	ck_assert_int_eq(o.n_crops, a.out.n_crops);
	ck_assert_int_eq(memcmp(o.images, a.out.images, n * sizeof(float)), 0);
	release(&a);
	release(&b);
}
END_TEST

/* A tall thin image: the global view is mostly left and right padding, so
 * whole patches are padding and the content sits in the middle. */
START_TEST(test_tall_image_pads_left_and_right)
{
	struct prep_config cfg;
	struct prep *p;
	struct prep_out o;
	struct model_image mi;
	uint8_t *rgb;
	struct err e;
	const float *patch;
	float pad[3], want;
	int i, k;

	rgb = malloc((size_t)40 * 600 * 3);
	memset(rgb, 255, (size_t)40 * 600 * 3);
	mi.w = 40;
	mi.h = 600;
	mi.rgb = rgb;
	prep_config_default(&cfg, PREP_RESIZE_TORCH);
	for (i = 0; i < 3; i++)
		pad[i] = (0.0f - cfg.mean[i]) / cfg.std[i];
	p = prep_new(&cfg, &e);
	ck_assert_int_eq(prep_run(p, &mi, NULL, &o, &e), 0);
	ck_assert_int_eq(o.global_w, 22);
	ck_assert_int_eq(o.global_h, 336);
	/* crop 0, patch row 5, columns 0 and 23: all padding */
	for (k = 0; k < 2; k++) {
		patch = o.images + (size_t)(5 * 24 + (k ? 23 : 0)) * 588;
		for (i = 0; i < 588; i++)
			ck_assert_float_eq(patch[i], pad[i % 3]);
	}
	/* patch column 12 (pixels 168..181): content (white) is 157..178, so
	 * dx < 11 is content and the rest padding */
	patch = o.images + (size_t)(5 * 24 + 12) * 588;
	for (i = 0; i < 588; i++) {
		want = i / 3 % 14 < 11
		           ? (1.0f - cfg.mean[i % 3]) / cfg.std[i % 3]
		           : pad[i % 3];
		/* resized white is 1 up to the weights' rounding */
		ck_assert_float_eq_tol(patch[i], want, 1e-5f);
		if (i / 3 % 14 >= 11)
			ck_assert_float_eq(patch[i], want);
	}
	prep_free(p);
	free(rgb);
}
END_TEST

START_TEST(test_bad_inputs_fail_with_message)
{
	struct prep_config cfg;
	struct prep *p;
	struct prep_out o;
	struct model_image mi;
	uint8_t px[3 * 5000];
	struct err e;
	char dir[256];
	char *tmp;
	FILE *f;

	memset(px, 128, sizeof(px));
	prep_config_default(&cfg, PREP_RESIZE_TF);
	p = prep_new(&cfg, &e);
	/* 5000x1: the height would scale to 0 pixels. */
	mi.w = 5000;
	mi.h = 1;
	mi.rgb = px;
	ck_assert_int_eq(prep_run(p, &mi, NULL, &o, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "too thin"));
	/* 1x1 is fine (upscaled). */
	mi.w = 1;
	ck_assert_int_eq(prep_run(p, &mi, NULL, &o, &e), 0);
	mi.w = 0;
	ck_assert_int_eq(prep_run(p, &mi, NULL, &o, &e), -1);
	prep_free(p);

	cfg.margin[0] = 3;
	ck_assert_ptr_null(prep_new(&cfg, &e));
	ck_assert_int_eq(prep_config_load("/nonexistent/dir", &cfg, &e), -1);
	tmp = tu_tmpdir();
	snprintf(dir, sizeof(dir), "%s/preprocessor_config.json", tmp);
	f = fopen(dir, "w");
	fputs("{\"max_crops\": \"twelve\"}", f);
	fclose(f);
	ck_assert_int_eq(prep_config_load(tmp, &cfg, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "max_crops"));
	f = fopen(dir, "w");
	fputs("{\"max_crops\": 12,", f);
	fclose(f);
	ck_assert_int_eq(prep_config_load(tmp, &cfg, &e), -1);
	f = fopen(dir, "w");
	fputs("{\"max_crops\": 6}", f);
	fclose(f);
	ck_assert_int_eq(prep_config_load(tmp, &cfg, &e), 0);
	ck_assert_int_eq(cfg.max_crops, 6);
	ck_assert_int_eq(cfg.resize, PREP_RESIZE_TF);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

START_TEST(test_prompt_text_has_leading_space)
{
	char buf[64];

	ck_assert_uint_eq(prep_prompt_text(buf, sizeof(buf), "Point to x"),
	                  strlen(" User: Point to x Assistant:"));
	ck_assert_str_eq(buf, " User: Point to x Assistant:");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("model_prep");
	TCase *tc = tcase_create("prep");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tf_flavour_matches_golden);
	tcase_add_test(tc, test_torch_flavour_matches_golden);
	tcase_add_test(tc, test_model_golden_input_ids_match);
	tcase_add_test(tc, test_worked_sizes_from_spec);
	tcase_add_test(tc, test_token_layout_of_puppy_image);
	tcase_add_test(tc, test_results_identical_for_any_thread_count);
	tcase_add_test(tc, test_simd_kernels_agree);
	tcase_add_test(tc, test_fast_normalisation_is_exact);
	tcase_add_test(tc, test_reuse_gives_same_result);
	tcase_add_test(tc, test_tall_image_pads_left_and_right);
	tcase_add_test(tc, test_bad_inputs_fail_with_message);
	tcase_add_test(tc, test_prompt_text_has_leading_space);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int nfail;

	tu_shared("golden/preprocess/manifest.json");
	srunner_run_all(sr, CK_ENV);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
