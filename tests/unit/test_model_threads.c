/* SPDX-License-Identifier: ISC */
/*
 * test_model_threads.c: the engine gives bit-identical results for any
 * thread count (style.md §8: every value is computed by one thread in a
 * fixed order).  A tiny golden checkpoint runs the ViT and connector on
 * both crops of the small image, then the decoder over the whole prompt
 * (all-position logits) and a few decode steps, with 1, 2 and 3 threads;
 * every output is compared byte for byte.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/model_impl.h"
#include "tests/tools/testutil.h"

#define SEQ   327 /* small_200x150 prompt length */
#define CROPS 2
#define STEPS 4

struct outputs {
	float *feats, *conn, *logits, *steps;
	size_t n_feats, n_conn, n_logits, n_steps;
};

static void *
read_exact(const char *rel, size_t bytes)
{
	size_t len;
	void *p = tu_read_file(tu_shared(rel), &len);

	ck_assert_msg(len == bytes, "%s: %zu bytes, expected %zu", rel, len,
	              bytes);
	return p;
}

static void
run(const char *variant, const char *prep_dir, int threads, struct outputs *o)
{
	char rel[256];
	struct model_params mp = model_params_default();
	struct model *m;
	struct model_session *s;
	struct lm_trace tr = {0};
	struct err e;
	float *images, *masks, *emb, *x;
	int64_t *ids64;
	int32_t ids[SEQ], t;
	int c, k, d, V;

	snprintf(rel, sizeof(rel), "golden/%s/model", variant);
	mp.n_threads = threads;
	mp.prefill_chunk = 64;
	m = model_open(tu_shared(rel), &mp, &e);
	ck_assert_msg(m != NULL, "%s", e.msg);
	s = model_session_new_sized(m, 400, CROPS, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	d = m->hp.d_model;
	V = m->n_vocab_out;

	snprintf(rel, sizeof(rel), "golden/preprocess/%s/images.f32", prep_dir);
	images = read_exact(rel, (size_t)CROPS * m->n_patch * m->patch_dim * 4);
	snprintf(rel, sizeof(rel), "golden/preprocess/%s/image_masks.f32",
	         prep_dir);
	masks = read_exact(rel, (size_t)CROPS * m->n_patch * 4);
	for (c = 0; c < CROPS; c++) {
		vit_crop(s, images + (size_t)c * m->n_patch * m->patch_dim, c);
		conn_crop(s, masks + (size_t)c * m->n_patch, c);
	}
	o->n_feats = (size_t)CROPS * m->n_patch * m->feat_dim;
	o->feats = malloc(o->n_feats * 4);
	memcpy(o->feats, s->feats, o->n_feats * 4);
	o->n_conn = (size_t)CROPS * m->n_cell * d;
	o->conn = malloc(o->n_conn * 4);
	memcpy(o->conn, s->conn, o->n_conn * 4);

	snprintf(rel, sizeof(rel), "golden/%s/small_200x150/input_ids.i64",
	         variant);
	ids64 = read_exact(rel, SEQ * 8);
	for (k = 0; k < SEQ; k++)
		ids[k] = (int32_t)ids64[k];
	emb = malloc((size_t)SEQ * d * 4);
	lm_embed(m, ids, SEQ, emb);
	o->n_logits = (size_t)SEQ * V;
	o->logits = malloc(o->n_logits * 4);
	tr.logits = o->logits;
	tr.n_pos = SEQ;
	s->n_past = 0;
	lm_forward(s, emb, SEQ, &tr);
	o->n_steps = (size_t)STEPS * V;
	o->steps = malloc(o->n_steps * 4);
	x = malloc((size_t)d * 4);
	for (k = 0; k < STEPS; k++) {
		t = gen_argmax(s->logits, V);
		lm_embed(m, &t, 1, x);
		lm_forward(s, x, 1, NULL);
		memcpy(o->steps + (size_t)k * V, s->logits, (size_t)V * 4);
	}
	free(x);
	free(emb);
	free(ids64);
	free(images);
	free(masks);
	model_session_free(s);
	model_close(m);
}

static void
outputs_free(struct outputs *o)
{
	free(o->feats);
	free(o->conn);
	free(o->logits);
	free(o->steps);
}

static void
check_identical(const char *variant, const char *prep_dir)
{
	struct outputs one, many;
	int threads;

	run(variant, prep_dir, 1, &one);
	for (threads = 2; threads <= 3; threads++) {
		run(variant, prep_dir, threads, &many);
		ck_assert_msg(memcmp(one.feats, many.feats, one.n_feats * 4) ==
		                  0,
		              "%s: ViT features differ with %d threads",
		              variant, threads);
		ck_assert_msg(memcmp(one.conn, many.conn, one.n_conn * 4) == 0,
		              "%s: connector differs with %d threads", variant,
		              threads);
		ck_assert_msg(
		    memcmp(one.logits, many.logits, one.n_logits * 4) == 0,
		    "%s: prefill logits differ with %d threads", variant,
		    threads);
		ck_assert_msg(memcmp(one.steps, many.steps, one.n_steps * 4) ==
		                  0,
		              "%s: decode logits differ with %d threads",
		              variant, threads);
		printf("%s: 1 and %d threads bit-identical (features, "
		       "connector, %d x prefill logits, %d decode steps)\n",
		       variant, threads, SEQ, STEPS);
		outputs_free(&many);
	}
	outputs_free(&one);
}

START_TEST(test_qwen2_results_identical_for_any_thread_count)
{
	check_identical("qwen2-tiny", "tf/small_200x150");
}
END_TEST

START_TEST(test_moe_results_identical_for_any_thread_count)
{
	check_identical("moe-tiny", "torch/small_200x150");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("model_threads");
	TCase *tc = tcase_create("threads");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_qwen2_results_identical_for_any_thread_count);
	tcase_add_test(tc, test_moe_results_identical_for_any_thread_count);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
