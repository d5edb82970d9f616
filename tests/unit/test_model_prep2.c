/* SPDX-License-Identifier: ISC */
/*
 * test_model_prep2.c: model/prep2 and model/vocab_map against every case of
 * the Molmo 2 goldens (shared/golden/molmo2-tiny and
 * shared/golden/molmo2-molmopoint-tiny), which come from the official
 * processor: the two resized uint8 images exactly, the float pixels exactly
 * (element by element where stored, else their SHA-256 and per-crop sums),
 * the pooling table, grids, crop count and MolmoPoint's subpatch mapping
 * exactly, and the input ids exactly, both in the real vocabulary (real
 * Qwen tokenizer + layout) and in the checkpoint's (through tiny_vocab.json).
 * Then thread-count independence, the AVX-512 kernels against the portable
 * loops (bit for bit, on random images of many shapes and a few configs),
 * the spec's tiling examples and the error paths of bad configs and map
 * files.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "model/pool.h"
#include "model/prep2.h"
#include "model/prep2_impl.h"
#include "model/tok.h"
#include "model/vocab_map.h"
#include "tests/tools/testutil.h"
#include "util/err.h"
#include "util/sha256.h"

#define TOKENIZER "tokenizer/qwen2-7b/tokenizer.json"
/* Golden README: pre.pixel_values exact.  Per-crop sums are float64 sums
 * of 428,652 values; allow for summation order. */
#define TOL_PIXEL   0.0
#define TOL_CROPSUM 1e-6 /* relative */

/* ---- One golden case ---- */

struct ctx {
	struct tok *tok;
	struct pool *pool;
};

static json_t *
load_json(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);

	ck_assert_msg(j != NULL, "%s: %s", path, jerr.text);
	return j;
}

static void
decode_png(const char *path, struct image *img)
{
	struct err e;
	size_t n;
	void *bytes = tu_read_file(path, &n);

	ck_assert_msg(image_decode(bytes, n, NULL, img, &e) == 0, "%s: %s",
	              path, e.msg);
	free(bytes);
}

/* Compare an I64 golden tensor with our int32 array, exactly. */
static void
check_i64(const struct tu_st *g, const char *name, const int32_t *ours,
          size_t n, const char *what)
{
	int64_t shape[4];
	int nd;
	size_t cnt;
	const void *p = tu_st_get(g, name, "I64", shape, &nd, &cnt);

	ck_assert_msg(p != NULL, "%s: %s missing", what, name);
	ck_assert_msg(cnt == n, "%s: %s has %zu values, we have %zu", what,
	              name, cnt, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(tu_i64_at(p, i) == ours[i],
		              "%s: %s[%zu] = %lld, ours %d", what, name, i,
		              (long long)tu_i64_at(p, i), ours[i]);
}

static void
check_case(struct ctx *cx, const char *folder, int c)
{
	char rel[512], what[128], text[1024], hex[SHA256_HEX_LEN];
	char *mdir;
	json_t *gj, *arr, *v;
	struct tu_st g;
	struct image img;
	struct model_image mi;
	struct prep2_config cfg;
	struct prep2_ids real_ids, ck_ids;
	struct prep2_out out;
	struct prep2 *p;
	struct vocab_map *vm;
	struct err e;
	int64_t shape[4];
	int nd, max_crops;
	size_t cnt, i, n_text_cap = 256, n;
	const void *t;
	int32_t *ids, *ids2, *mapped, *text_ids;
	uint8_t *types;
	ssize_t nt, ni;
	double maxerr = 0.0;

	snprintf(what, sizeof(what), "%s case%d", folder, c);
	snprintf(rel, sizeof(rel), "golden/%s/case%d/golden.json", folder, c);
	gj = load_json(tu_shared(rel));
	snprintf(rel, sizeof(rel), "golden/%s/case%d/golden.safetensors",
	         folder, c);
	tu_st_open(&g, tu_shared(rel));
	snprintf(rel, sizeof(rel), "golden/%s/images/%s", folder,
	         json_string_value(json_object_get(gj, "image")));
	decode_png(tu_shared(rel), &img);
	snprintf(rel, sizeof(rel), "golden/%s/model", folder);
	mdir = tu_shared_dup(rel);

	/* Preprocess with the request's max_crops. */
	ck_assert_msg(prep2_config_load(mdir, &cfg, &e) == 0, "%s", e.msg);
	p = prep2_new(&cfg, &e);
	ck_assert_msg(p != NULL, "%s", e.msg);
	max_crops = (int)json_integer_value(json_object_get(gj, "max_crops"));
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	ck_assert_msg(prep2_run(p, &mi, max_crops, cx->pool, &out, &e) == 0,
	              "%s", e.msg);

	/* Crop count, grids. */
	t = tu_st_get(&g, "pre.image_num_crops", "I64", shape, &nd, &cnt);
	ck_assert_int_eq(tu_i64_at(t, 0), out.n_crops);
	ck_assert_int_eq(json_integer_value(json_object_get(gj, "n_crops")),
	                 out.n_crops);
	{
		int32_t grids[4] = {out.low_h, out.low_w, out.hi_h, out.hi_w};
		check_i64(&g, "pre.image_grids", grids, 4, what);
	}

	/* The two resized uint8 images, exactly. */
	t = tu_st_get(&g, "pre.resized_u8.0", "U8", shape, &nd, &cnt);
	ck_assert_msg(
	    t != NULL && shape[0] == out.tiled_h && shape[1] == out.tiled_w,
	    "%s: tiled image %lldx%lld, ours %dx%d", what, (long long)shape[1],
	    (long long)shape[0], out.tiled_w, out.tiled_h);
	n = 0;
	for (i = 0; i < cnt; i++)
		n += ((const uint8_t *)t)[i] != out.tiled_u8[i];
	ck_assert_msg(n == 0, "%s: %zu of %zu tiled u8 values differ", what, n,
	              cnt);
	t = tu_st_get(&g, "pre.resized_u8.1", "U8", shape, &nd, &cnt);
	ck_assert_uint_eq(cnt, (size_t)cfg.crop * cfg.crop * 3);
	n = 0;
	for (i = 0; i < cnt; i++)
		n += ((const uint8_t *)t)[i] != out.global_u8[i];
	ck_assert_msg(n == 0, "%s: %zu of %zu global u8 values differ", what, n,
	              cnt);

	/* Float pixels: element by element where stored; always the hash of
	 * the whole tensor (float32 little-endian) and the per-crop sums. */
	cnt = (size_t)out.n_crops * out.n_patches * out.patch_dim;
	t = tu_st_get(&g, "pre.pixel_values", "F32", shape, &nd, &n);
	if (t != NULL) {
		ck_assert_uint_eq(n, cnt);
		for (i = 0; i < cnt; i++) {
			float gv;
			memcpy(&gv, (const char *)t + i * 4, 4);
			if (fabs((double)gv - out.pixels[i]) > maxerr)
				maxerr = fabs((double)gv - out.pixels[i]);
		}
		ck_assert_msg(maxerr <= TOL_PIXEL, "%s: pixel max abs err %g",
		              what, maxerr);
	}
	ck_assert_int_eq(1, *(const uint8_t *)&(uint16_t){1}); /* LE host */
	sha256_hex(out.pixels, cnt * sizeof(float), hex);
	ck_assert_str_eq(hex, json_string_value(json_object_get(
	                          gj, "pixel_values_sha256_f32le")));
	arr = json_object_get(gj, "pixel_values_crop_sums");
	ck_assert_uint_eq(json_array_size(arr), (size_t)out.n_crops);
	json_array_foreach(arr, i, v)
	{
		double s = 0.0, want = json_number_value(v);
		size_t per = (size_t)out.n_patches * out.patch_dim;
		for (size_t k = 0; k < per; k++)
			s += out.pixels[i * per + k];
		ck_assert_msg(fabs(s - want) <= TOL_CROPSUM * fabs(want),
		              "%s: crop %zu sum %.9g, golden %.9g", what, i, s,
		              want);
	}

	/* Pooling table and MolmoPoint's subpatch mapping, exactly. */
	check_i64(&g, "pre.image_token_pooling", out.pooling,
	          (size_t)out.n_tokens * out.pool_size, what);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(gj, "n_image_tokens_pooled")),
	    out.n_tokens);
	if (json_object_get(g.hdr, "meta.subpatch_mapping") != NULL) {
		tu_st_get(&g, "meta.subpatch_mapping", "I64", shape, &nd, &cnt);
		ck_assert_int_eq(shape[0], out.grid_h);
		ck_assert_int_eq(shape[1], out.grid_w);
		check_i64(&g, "meta.subpatch_mapping", out.patch_grid,
		          (size_t)out.grid_h * out.grid_w, what);
		check_i64(&g, "meta.token_pooling_abs", out.pooling,
		          (size_t)out.n_tokens * out.pool_size, what);
	}

	/* The prompt text: the golden rendering is "<|image|>" + ours. */
	n = prep2_prompt_text(text, sizeof(text),
	                      json_string_value(json_object_get(gj, "prompt")));
	ck_assert_uint_lt(n, sizeof(text));
	ck_assert_str_eq(
	    json_string_value(json_object_get(gj, "rendered_prompt")) + 9,
	    text);
	ck_assert(
	    strncmp(json_string_value(json_object_get(gj, "rendered_prompt")),
	            "<|image|>", 9) == 0);

	/* Real vocabulary: tokenizer + layout. */
	text_ids = malloc(n_text_cap * sizeof(*text_ids));
	nt = tok_encode(cx->tok, text, n, text_ids, n_text_cap, &e);
	ck_assert_msg(nt > 0 && (size_t)nt <= n_text_cap, "%s", e.msg);
	prep2_ids_real(&real_ids);
	n = prep2_n_input_ids(&cfg, &out, (size_t)nt);
	ids = malloc(n * sizeof(*ids));
	ni = prep2_build_input_ids(&cfg, &out, &real_ids, text_ids, (size_t)nt,
	                           ids, n, &e);
	ck_assert_msg(ni == (ssize_t)n, "%s", e.msg);
	arr = json_object_get(gj, "input_ids_real_vocab");
	ck_assert_uint_eq(json_array_size(arr), n);
	json_array_foreach(arr, i, v)
	    ck_assert_msg(json_integer_value(v) == ids[i],
	                  "%s: real id %zu: golden %lld, ours %d", what, i,
	                  (long long)json_integer_value(v), ids[i]);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(gj, "prompt_token_count")),
	    (long long)n);

	/* Checkpoint vocabulary: the same ids through the map... */
	snprintf(rel, sizeof(rel), "golden/%s/model/tiny_vocab.json", folder);
	vm = vocab_map_open(tu_shared(rel), &e);
	ck_assert_msg(vm != NULL, "%s", e.msg);
	mapped = malloc(n * sizeof(*mapped));
	ck_assert_msg(vocab_map_ids_to_ckpt(vm, ids, n, mapped, &e) == 0, "%s",
	              e.msg);
	check_i64(&g, "pre.input_ids", mapped, n, what);
	/* ...and built directly with the checkpoint's own special ids. */
	ck_assert_msg(prep2_ids_load(mdir, &ck_ids, &e) == 0, "%s", e.msg);
	ck_assert_msg(
	    vocab_map_ids_to_ckpt(vm, text_ids, (size_t)nt, text_ids, &e) == 0,
	    "%s", e.msg);
	ids2 = malloc(n * sizeof(*ids2));
	ck_assert_int_eq(prep2_build_input_ids(&cfg, &out, &ck_ids, text_ids,
	                                       (size_t)nt, ids2, n, &e),
	                 (ssize_t)n);
	check_i64(&g, "pre.input_ids", ids2, n, what);
	/* token_type_ids (both vocabularies agree) and attention_mask. */
	types = malloc(n);
	prep2_token_types(&ck_ids, ids2, n, types);
	t = tu_st_get(&g, "pre.token_type_ids", "U8", shape, &nd, &cnt);
	ck_assert_uint_eq(cnt, n);
	ck_assert_msg(memcmp(t, types, n) == 0, "%s: token types", what);
	prep2_token_types(&real_ids, ids, n, types);
	ck_assert_msg(memcmp(t, types, n) == 0, "%s: real token types", what);
	t = tu_st_get(&g, "pre.attention_mask", "I64", shape, &nd, &cnt);
	ck_assert_uint_eq(cnt, n);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(tu_i64_at(t, i), 1);

	/* Generated ids map back to the real ones (point tokens included). */
	{
		json_t *gt = json_object_get(gj, "generated_tiny_ids");
		json_t *gr = json_object_get(gj, "generated_real_ids");
		ck_assert_uint_eq(json_array_size(gt), json_array_size(gr));
		json_array_foreach(gt, i, v)
		{
			int32_t r = vocab_map_to_real(
			    vm, (int32_t)json_integer_value(v));
			int64_t want =
			    json_integer_value(json_array_get(gr, i));
			ck_assert_int_eq(r, want);
			ck_assert_int_eq(vocab_map_to_ckpt(vm, r),
			                 json_integer_value(v));
		}
	}

	printf("%s: %dx%d max_crops %d -> tiling %dx%d, %d crops, %d pooled "
	       "tokens, %zu ids; u8 images exact, pixel max abs err %g%s, "
	       "sha256 ok, pooling/grids/ids exact\n",
	       what, img.w, img.h, max_crops, out.rows, out.cols, out.n_crops,
	       out.n_tokens, n, maxerr,
	       json_object_get(g.hdr, "pre.pixel_values") != NULL
	           ? " (element-wise)"
	           : " (hash only)");

	free(types);
	free(ids2);
	free(mapped);
	free(ids);
	free(text_ids);
	vocab_map_close(vm);
	prep2_free(p);
	free(mdir);
	image_fini(&img);
	tu_st_close(&g);
	json_decref(gj);
}

static void
check_folder(const char *folder)
{
	struct ctx cx;
	struct err e;

	cx.tok = tok_open(tu_shared(TOKENIZER), &e);
	ck_assert_msg(cx.tok != NULL, "%s", e.msg);
	cx.pool = pool_new(2, &e);
	ck_assert_msg(cx.pool != NULL, "%s", e.msg);
	for (int c = 0; c < 3; c++)
		check_case(&cx, folder, c);
	pool_free(cx.pool);
	tok_close(cx.tok);
}

START_TEST(test_molmo2_golden_cases_match_exactly)
{
	check_folder("molmo2-tiny");
}
END_TEST

START_TEST(test_molmopoint_golden_cases_match_exactly)
{
	check_folder("molmo2-molmopoint-tiny");
}
END_TEST

/* ---- Threads, reuse ---- */

START_TEST(test_results_identical_for_any_thread_count)
{
	struct prep2_config cfg;
	struct image img;
	struct model_image mi;
	struct prep2_out a, b;
	struct prep2 *p1, *p2;
	struct pool *pool;
	struct err e;
	size_t n;

	decode_png(tu_shared("golden/molmo2-tiny/images/case2_720x1280.png"),
	           &img);
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	prep2_config_default(&cfg);
	p1 = prep2_new(&cfg, &e);
	p2 = prep2_new(&cfg, &e);
	pool = pool_new(3, &e);
	ck_assert_ptr_nonnull(pool);
	ck_assert_int_eq(prep2_run(p1, &mi, 24, NULL, &a, &e), 0);
	ck_assert_int_eq(prep2_run(p2, &mi, 24, pool, &b, &e), 0);
	ck_assert_int_eq(a.n_crops, b.n_crops);
	n = (size_t)a.n_crops * a.n_patches * a.patch_dim;
	ck_assert(memcmp(a.pixels, b.pixels, n * sizeof(float)) == 0);
	ck_assert(memcmp(a.pooling, b.pooling,
	                 (size_t)a.n_tokens * a.pool_size * 4) == 0);
	/* Reuse: a smaller request after a larger one, then the large one
	 * again (its tables rebuilt), then once more (its tables kept), gives
	 * the same answer. */
	ck_assert_int_eq(prep2_run(p2, &mi, 2, pool, &b, &e), 0);
	ck_assert_int_eq(b.n_crops, 3);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(prep2_run(p2, &mi, 24, pool, &b, &e), 0);
		ck_assert_int_eq(a.n_tokens, b.n_tokens);
		ck_assert_int_eq(a.hi_h * a.hi_w, b.hi_h * b.hi_w);
		ck_assert(memcmp(a.pixels, b.pixels, n * sizeof(float)) == 0);
		ck_assert(memcmp(a.pooling, b.pooling,
		                 (size_t)a.n_tokens * a.pool_size * 4) == 0);
		ck_assert(memcmp(a.patch_grid, b.patch_grid,
		                 (size_t)a.grid_h * a.grid_w * 4) == 0);
	}
	pool_free(pool);
	prep2_free(p1);
	prep2_free(p2);
	image_fini(&img);
}
END_TEST

/* ---- The AVX-512 kernels against the portable loops ---- */

/* xorshift64*: a reproducible random image. */
static uint8_t *
random_image(int w, int h, uint64_t seed)
{
	size_t n = (size_t)w * h * 3;
	uint8_t *b = malloc(n);
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		b[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
	}
	/* Some flat and saturated runs too (rounding at 0 and 255). */
	for (size_t i = 0; i < n / 4; i++)
		b[i] = (i / 97) % 3 == 0 ? 255 : (i / 97) % 3 == 1 ? 0 : b[i];
	return b;
}

static void
expect_same_output(const struct prep2_out *a, const struct prep2_out *b,
                   const char *what)
{
	size_t np = (size_t)a->n_crops * a->n_patches * a->patch_dim;

	ck_assert_msg(a->n_crops == b->n_crops && a->tiled_w == b->tiled_w &&
	                  a->tiled_h == b->tiled_h,
	              "%s: shapes differ", what);
	ck_assert_msg(memcmp(a->tiled_u8, b->tiled_u8,
	                     (size_t)a->tiled_h * a->tiled_w * 3) == 0,
	              "%s: tiled_u8 differs", what);
	ck_assert_msg(memcmp(a->global_u8, b->global_u8,
	                     (size_t)a->n_patches * a->patch_dim) == 0,
	              "%s: global_u8 differs", what);
	ck_assert_msg(memcmp(a->pixels, b->pixels, np * sizeof(float)) == 0,
	              "%s: pixels differ", what);
}

START_TEST(test_simd_kernels_match_portable_bit_for_bit)
{
	/* Also: 756 and 189 give the global view exact 2x scales (weights
	 * 0.5, 0.25, 0.75: many sums on a half-integer, which the fast
	 * resize must recompute exactly); 4000 wide and 3840 give x
	 * down-scales whose taps do not fit one window (the scalar path). */
	static const int sizes[][2] = {{1, 1},       {2, 3},      {333, 97},
	                               {100, 50},    {1280, 720}, {1920, 1080},
	                               {3840, 2160}, {97, 2000},  {756, 756},
	                               {189, 378},   {4000, 300}};
	static const int crops[] = {1, 8, 24};
	struct prep2_config cfgs[3];
	struct pool *pool;
	struct err e;
	int n_cfg = 3;

	/* The default (Molmo 2), CLIP normalisation (another formula or the
	 * table), and 16-pixel patches. */
	prep2_config_default(&cfgs[0]);
	cfgs[1] = cfgs[0];
	cfgs[1].mean[0] = 0.48145466f;
	cfgs[1].mean[1] = 0.4578275f;
	cfgs[1].mean[2] = 0.40821073f;
	cfgs[1].std[0] = 0.26862954f;
	cfgs[1].std[1] = 0.26130258f;
	cfgs[1].std[2] = 0.27577711f;
	cfgs[2] = cfgs[0];
	cfgs[2].crop = 384;
	cfgs[2].patch = 16;
	pool = pool_new(2, &e);
	ck_assert_ptr_nonnull(pool);
	for (int c = 0; c < n_cfg; c++) {
		struct prep2 *ref = prep2_new(&cfgs[c], &e);
		struct prep2 *fast = prep2_new(&cfgs[c], &e);

		ck_assert_ptr_nonnull(ref);
		ck_assert_ptr_nonnull(fast);
		prep2_force_portable(ref, true);
		printf("config %d: %s kernels, normalisation formula %d\n", c,
		       fast->avx512 ? "AVX-512" : "portable (no AVX-512)",
		       (int)fast->norm.kind);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct model_image mi;
			uint8_t *rgb;

			/* The big images with the default config only. */
			if (c > 0 && sizes[i][0] * sizes[i][1] > 1920 * 1080)
				continue;
			rgb = random_image(sizes[i][0], sizes[i][1],
			                   (uint64_t)(i * 7 + (size_t)c));
			mi.w = sizes[i][0];
			mi.h = sizes[i][1];
			mi.rgb = rgb;
			for (size_t k = 0; k < sizeof(crops) / sizeof(crops[0]);
			     k++) {
				struct prep2_out a, b;
				char what[96];

				snprintf(what, sizeof(what),
				         "config %d, %dx%d, max_crops %d", c,
				         mi.w, mi.h, crops[k]);
				ck_assert_int_eq(
				    prep2_run(ref, &mi, crops[k], NULL, &a, &e),
				    0);
				ck_assert_int_eq(prep2_run(fast, &mi, crops[k],
				                           NULL, &b, &e),
				                 0);
				expect_same_output(&a, &b, what);
				ck_assert_int_eq(prep2_run(fast, &mi, crops[k],
				                           pool, &b, &e),
				                 0);
				expect_same_output(&a, &b, what);
			}
			free(rgb);
		}
		prep2_free(ref);
		prep2_free(fast);
	}
	pool_free(pool);
}
END_TEST

/* ---- Tiling and layout from the spec's worked examples ---- */

START_TEST(test_tiling_examples_from_spec)
{
	static const struct {
		int w, h, max, rows, cols;
	} ex[] = {
	    {200, 150, 8, 1, 1},    {1280, 720, 8, 2, 4},
	    {1920, 1080, 8, 2, 4},  {720, 1280, 8, 4, 2},
	    {640, 480, 8, 2, 2},    {1280, 720, 24, 3, 5},
	    {1920, 1080, 24, 4, 6}, {1920, 1080, 48, 4, 7},
	    {1920, 1080, 64, 4, 7}, {1280, 720, 64, 3, 5},
	    {1, 1, 8, 1, 1},        {112, 112, 8, 1, 1},
	    {112, 5000, 8, 8, 1},   {5000, 50, 8, 1, 1},
	};
	struct prep2_config cfg;

	prep2_config_default(&cfg);
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		int r, c;
		prep2_tiling(&cfg, ex[i].w, ex[i].h, ex[i].max, &r, &c);
		ck_assert_msg(r == ex[i].rows && c == ex[i].cols,
		              "%dx%d @%d: %dx%d, want %dx%d", ex[i].w, ex[i].h,
		              ex[i].max, r, c, ex[i].rows, ex[i].cols);
	}
}
END_TEST

START_TEST(test_token_counts_of_1280x720_screenshot)
{
	struct prep2_config cfg;
	struct prep2_ids ids;
	struct prep2_out out;
	struct prep2 *p;
	struct model_image mi;
	struct err e;
	uint8_t *rgb = calloc((size_t)1280 * 720, 3);
	int32_t *tok;
	ssize_t n;

	prep2_config_default(&cfg);
	prep2_ids_real(&ids);
	p = prep2_new(&cfg, &e);
	mi.w = 1280;
	mi.h = 720;
	mi.rgb = rgb;
	/* Spec 8: 23 x 42 hi-res tokens -> 1189 image tokens at 8 crops. */
	ck_assert_int_eq(prep2_run(p, &mi, 0, NULL, &out, &e), 0);
	ck_assert_int_eq(out.hi_h, 23);
	ck_assert_int_eq(out.hi_w, 42);
	ck_assert_int_eq(out.n_tokens, 1162);
	ck_assert_uint_eq(prep2_n_image_tokens(&cfg, &out), 1189);
	tok = malloc(1189 * sizeof(*tok));
	/* Too small a buffer is an error, not an overflow. */
	ck_assert_int_eq(prep2_image_tokens(&cfg, &out, &ids, tok, 1188, &e),
	                 -1);
	n = prep2_image_tokens(&cfg, &out, &ids, tok, 1189, &e);
	ck_assert_int_eq(n, 1189);
	ck_assert_int_eq(tok[0], ids.low_res_im_start);
	ck_assert_int_eq(tok[197], ids.im_end);
	ck_assert_int_eq(tok[198], ids.im_start);
	ck_assert_int_eq(tok[198 + 43], ids.im_col);
	ck_assert_int_eq(tok[1188], ids.im_end);
	/* MolmoPoint flavour: <im_low> global tokens, and column tokens in
	 * the global block when asked. */
	cfg.global_patch_low = true;
	cfg.global_col_tokens = true;
	ck_assert_uint_eq(prep2_n_image_tokens(&cfg, &out), 1189 + 14);
	free(tok);
	tok = malloc((1189 + 14) * sizeof(*tok));
	n = prep2_image_tokens(&cfg, &out, &ids, tok, 1189 + 14, &e);
	ck_assert_int_eq(tok[1], ids.im_low);
	ck_assert_int_eq(tok[15], ids.im_col);
	/* Max crops 24 -> 33 x 52 (spec 4.5). */
	ck_assert_int_eq(prep2_run(p, &mi, 24, NULL, &out, &e), 0);
	ck_assert_int_eq(out.n_tokens, 1912);
	/* Without an image, BOS is not doubled. */
	{
		int32_t text[2] = {ids.bos, 5}, dst[4];
		ck_assert_int_eq(prep2_build_input_ids(&cfg, NULL, &ids, text,
		                                       2, dst, 4, &e),
		                 2);
		text[0] = 7;
		ck_assert_int_eq(prep2_build_input_ids(&cfg, NULL, &ids, text,
		                                       2, dst, 4, &e),
		                 3);
		ck_assert_int_eq(dst[0], ids.bos);
	}
	free(tok);
	free(rgb);
	prep2_free(p);
}
END_TEST

/* Every hi-res grid cell is pooled exactly once; padding only at the
 * bottom row / right column; each crop patch kept at most once. */
START_TEST(test_pooling_covers_each_hires_patch_once)
{
	static const int sizes[][3] = {{1280, 720, 8}, {720, 1280, 24},
	                               {333, 777, 5},  {1920, 1080, 64},
	                               {5, 3, 1},      {2000, 300, 13}};
	struct prep2_config cfg;
	struct prep2 *p;
	struct err e;
	uint8_t *rgb = calloc((size_t)2000 * 1280, 3);

	prep2_config_default(&cfg);
	p = prep2_new(&cfg, &e);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct model_image mi = {sizes[s][0], sizes[s][1], rgb};
		struct prep2_out o;
		int total, *seen;
		size_t lo;

		ck_assert_int_eq(prep2_run(p, &mi, sizes[s][2], NULL, &o, &e),
		                 0);
		total = o.n_crops * o.n_patches;
		seen = calloc((size_t)total, sizeof(*seen));
		lo = (size_t)o.low_h * o.low_w * o.pool_size;
		for (size_t i = lo; i < (size_t)o.n_tokens * o.pool_size; i++) {
			int32_t v = o.pooling[i];
			if (v < 0)
				continue;
			ck_assert_int_ge(v, o.n_patches);
			ck_assert_int_lt(v, total);
			seen[v]++;
		}
		{
			int kept = 0;
			for (int v = 0; v < total; v++) {
				ck_assert_int_le(seen[v], 1);
				kept += seen[v];
			}
			ck_assert_int_eq(kept, o.grid_h * o.grid_w);
		}
		for (size_t i = 0; i < (size_t)o.grid_h * o.grid_w; i++)
			ck_assert_int_eq(seen[o.patch_grid[i]], 1);
		free(seen);
	}
	free(rgb);
	prep2_free(p);
}
END_TEST

/* ---- Error paths ---- */

static char *
write_file(const char *dir, const char *name, const char *text)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	FILE *f;

	snprintf(path, strlen(dir) + strlen(name) + 2, "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_bad_processor_configs_fail_with_one_line)
{
	static const struct {
		const char *file, *text, *needle;
	} bad[] = {
	    {"preprocessor_config.json", "{\"max_crops\": 0}", "max_crops"},
	    {"preprocessor_config.json", "{\"max_crops\": \"8\"}", "max_crops"},
	    {"preprocessor_config.json",
	     "{\"size\": {\"height\": 378, "
	     "\"width\": 336}}",
	     "square"},
	    {"preprocessor_config.json", "{\"overlap_margins\": [4]}",
	     "overlap_margins"},
	    {"preprocessor_config.json", "{\"overlap_margins\": [14, 14]}",
	     "overlap_margins"},
	    {"preprocessor_config.json", "{\"patch_size\": 16}", "multiple"},
	    {"preprocessor_config.json", "{\"resample\": 3}", "bilinear"},
	    {"preprocessor_config.json", "{\"image_std\": [0.5, 0, 0.5]}",
	     "image_std"},
	    {"preprocessor_config.json", "{\"max_crops\": 8,}", ":1:"},
	    {"preprocessor_config.json", "[1]", "object"},
	    {"processor_config.json", "{\"image_use_col_tokens\": 1}",
	     "image_use_col_tokens"},
	    {"processor_config.json", "{\"image_processor\": 3}",
	     "image_processor"},
	};
	char *dir = tu_tmpdir();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct prep2_config cfg;
		struct err e;
		char *path = write_file(dir, bad[i].file, bad[i].text);

		e.msg[0] = 0;
		ck_assert_int_eq(prep2_config_load(dir, &cfg, &e), -1);
		ck_assert_msg(strstr(e.msg, bad[i].needle) != NULL &&
		                  strchr(e.msg, '\n') == NULL,
		              "%s -> '%s'", bad[i].text, e.msg);
		remove(path);
		free(path);
	}
	/* A good pair of files: values are read, null inherits. */
	{
		struct prep2_config cfg;
		struct err e;
		char *a =
		    write_file(dir, "preprocessor_config.json",
		               "{\"max_crops\": 24, \"size\": {\"height\": "
		               "378, \"width\": 378}, \"resample\": 2, "
		               "\"image_mean\": 0.5}");
		char *b = write_file(dir, "processor_config.json",
		                     "{\"use_single_crop_col_tokens\": null, "
		                     "\"use_low_res_token_for_global_crops\": "
		                     "true}");
		ck_assert_msg(prep2_config_load(dir, &cfg, &e) == 0, "%s",
		              e.msg);
		ck_assert_int_eq(cfg.max_crops, 24);
		ck_assert(cfg.global_col_tokens);
		ck_assert(cfg.global_patch_low);
		remove(a);
		remove(b);
		free(a);
		free(b);
	}
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_requests_fail_with_message)
{
	struct prep2_config cfg;
	struct prep2_out o;
	struct prep2 *p;
	struct err e;
	uint8_t px[3] = {1, 2, 3};
	struct model_image mi = {1, 1, px};

	prep2_config_default(&cfg);
	p = prep2_new(&cfg, &e);
	ck_assert_int_eq(prep2_run(p, &mi, PREP2_MAX_CROPS + 1, NULL, &o, &e),
	                 -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "max_crops"));
	ck_assert_int_eq(prep2_run(p, &mi, -1, NULL, &o, &e), -1);
	mi.w = 0;
	ck_assert_int_eq(prep2_run(p, &mi, 0, NULL, &o, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "image size"));
	/* A 1x1 image is fine: every pixel of every crop is that pixel. */
	mi.w = 1;
	ck_assert_int_eq(prep2_run(p, &mi, 0, NULL, &o, &e), 0);
	ck_assert_int_eq(o.n_crops, 2);
	ck_assert(o.pixels[0] == (1.0f / 255.0f - 0.5f) / 0.5f);
	ck_assert(o.pixels[5] == (3.0f / 255.0f - 0.5f) / 0.5f);
	prep2_free(p);
	cfg.max_crops = 0;
	ck_assert_ptr_null(prep2_new(&cfg, &e));
}
END_TEST

START_TEST(test_bad_vocab_maps_fail_with_one_line)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
	    {"", "1:"},
	    {"[]", "object"},
	    {"{\"additional_vocab_size\": 128, \"regular\": []}", "vocab_size"},
	    {"{\"vocab_size\": 4, \"regular\": []}", "additional_vocab_size"},
	    {"{\"vocab_size\": 4, \"additional_vocab_size\": 2}", "regular"},
	    {"{\"vocab_size\": 4, \"additional_vocab_size\": 2, \"regular\": "
	     "[{\"tiny_id\": 4, \"real_id\": 1}]}",
	     "tiny_id 4"},
	    {"{\"vocab_size\": 4, \"additional_vocab_size\": 2, \"regular\": "
	     "[{\"tiny_id\": 0, \"real_id\": 151936}]}",
	     "real_id"},
	    {"{\"vocab_size\": 4, \"additional_vocab_size\": 2, \"regular\": "
	     "[{\"tiny_id\": 0, \"real_id\": 1}, {\"tiny_id\": 0, "
	     "\"real_id\": 2}]}",
	     "twice"},
	    {"{\"vocab_size\": 4, \"additional_vocab_size\": 2, \"regular\": "
	     "[{\"tiny_id\": 0, \"real_id\": 1}, {\"tiny_id\": 1, "
	     "\"real_id\": 1}]}",
	     "twice"},
	    {"{\"vocab_size\": 4, \"additional_vocab_size\": 2, \"regular\": "
	     "[{\"tiny_id\": \"0\", \"real_id\": 1}]}",
	     "integers"},
	    {"{\"vocab_size\": 4, \"additional_vocab_size\": 2, \"regular\": "
	     "[], \"extra_tokens\": {\"<im_start>\": 7}}",
	     "<im_start>"},
	    {"{\"vocab_size\": 4, \"vocab_size\": 4}", "duplicate"},
	};
	struct vocab_map *m;
	struct err e;
	int32_t in[3] = {1, 151936, 152064 + 5}, out[3];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = 0;
		m = vocab_map_parse(bad[i].text, strlen(bad[i].text),
		                    "map.json", &e);
		ck_assert_msg(m == NULL, "accepted %s", bad[i].text);
		ck_assert_msg(strstr(e.msg, bad[i].needle) != NULL &&
		                  strchr(e.msg, '\n') == NULL &&
		                  strncmp(e.msg, "map.json", 8) == 0,
		              "%s -> '%s'", bad[i].text, e.msg);
	}
	ck_assert_ptr_null(vocab_map_open("/nonexistent/map.json", &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/map.json"));

	/* A small good map: the three ranges, and unmapped ids. */
	{
		const char *t =
		    "{\"vocab_size\": 4, \"additional_vocab_size\": "
		    "2, \"regular\": [{\"tiny_id\": 0, \"real_id\": "
		    "1}, {\"tiny_id\": 2, \"real_id\": 9}]}";
		m = vocab_map_parse(t, strlen(t), "map.json", &e);
		ck_assert_msg(m != NULL, "%s", e.msg);
	}
	ck_assert_int_eq(vocab_map_to_ckpt(m, 9), 2);
	ck_assert_int_eq(vocab_map_to_ckpt(m, 2), -1);
	ck_assert_int_eq(vocab_map_to_real(m, 1), -1);
	ck_assert_int_eq(vocab_map_to_real(m, 5), 151937);
	ck_assert_int_eq(vocab_map_to_real(m, 6 + 3), 152064 + 3);
	ck_assert_int_eq(vocab_map_to_real(m, -1), -1);
	ck_assert_int_eq(vocab_map_to_real(m, 6 + VOCAB_MAP_MAX_POINTS), -1);
	ck_assert_int_eq(vocab_map_to_ckpt(m, 152064 + 31200), -1);
	ck_assert_int_eq(vocab_map_to_ckpt(m, 151936 + 5), -1);
	ck_assert_int_eq(vocab_map_to_ckpt(m, 151936 + 1), 5);
	ck_assert_int_eq(vocab_map_ids_to_ckpt(m, in, 3, out, &e), 0);
	ck_assert_int_eq(out[0], 0);
	ck_assert_int_eq(out[1], 4);
	ck_assert_int_eq(out[2], 6 + 5);
	ck_assert_int_eq(vocab_map_ids_to_real(m, out, 3, out, &e), 0);
	ck_assert(memcmp(in, out, sizeof(in)) == 0);
	in[1] = 77;
	ck_assert_int_eq(vocab_map_ids_to_ckpt(m, in, 3, out, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "real id 77"));
	vocab_map_close(m);
	vocab_map_close(NULL);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("model_prep2");
	TCase *tc = tcase_create("prep2");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_molmo2_golden_cases_match_exactly);
	tcase_add_test(tc, test_molmopoint_golden_cases_match_exactly);
	tcase_add_test(tc, test_results_identical_for_any_thread_count);
	tcase_add_test(tc, test_simd_kernels_match_portable_bit_for_bit);
	tcase_add_test(tc, test_tiling_examples_from_spec);
	tcase_add_test(tc, test_token_counts_of_1280x720_screenshot);
	tcase_add_test(tc, test_pooling_covers_each_hires_patch_once);
	tcase_add_test(tc, test_bad_processor_configs_fail_with_one_line);
	tcase_add_test(tc, test_bad_requests_fail_with_message);
	tcase_add_test(tc, test_bad_vocab_maps_fail_with_one_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int nfail;

	tu_shared("golden/molmo2-tiny/manifest.json");
	srunner_run_all(sr, CK_ENV);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
