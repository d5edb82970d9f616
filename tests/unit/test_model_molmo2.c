/* SPDX-License-Identifier: ISC */
/*
 * test_model_molmo2.c: the Molmo 2 / MolmoPoint engine (model/model2.h)
 * against every case of shared/golden/molmo2-tiny and
 * shared/golden/molmo2-molmopoint-tiny (official HF code, fp32), stage by
 * stage: the prompt ids built from the prompt text by the real Qwen
 * tokenizer and tiny_vocab.json, ViT features, pooled and projected
 * connector outputs, the prefill hidden state, the first-step logits, every
 * decode step's raw logits and processed scores, the greedy tokens, and for
 * MolmoPoint the point-head keys, the per-step patch / sub-patch / location
 * scores and the decoded pixel points.  Tolerances are the golden READMEs'.
 * Then the bf16-weights path must give the same tokens and points.
 *
 * Two MolmoPoint cases were generated with a harness rule after the
 * official logits processor (README "Scripted weights / forcing"): when the
 * last token is the object id "1" and a location token was already
 * generated, only the no-more-points token is allowed.  The test applies
 * the same rule through the request's on_logits hook, only for the cases
 * whose golden.json has "forced".
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "model/model2.h"
#include "tests/tools/testutil.h"
#include "util/err.h"

#define TOKENIZER  "tokenizer/qwen2-7b/tokenizer.json"
#define TOL_FEAT   1e-4
#define TOL_LOGIT  1e-4
#define TOL_PATCHK 5e-4
#define TOL_POINT  1e-6

/* Max |ours - golden| over n floats; asserts the count. */
static double
maxdiff(const struct tu_st *g, const char *name, const float *ours, size_t n)
{
	size_t cnt, i;
	const void *p = tu_st_get(g, name, NULL, NULL, NULL, &cnt);
	double mx = 0;

	ck_assert_msg(p != NULL, "%s missing", name);
	ck_assert_msg(cnt == n, "%s: %zu values, ours %zu", name, cnt, n);
	for (i = 0; i < n; i++) {
		double a = tu_f32_at(p, i), b = ours[i], dd;
		if (a <= -1e38 && b == -INFINITY)
			continue;
		dd = fabs(a - b);
		if (!(dd <= mx))
			mx = dd;
	}
	return mx;
}

/* ---- one run ---- */
struct run {
	struct model2_session *s;
	const struct tu_st *g;
	bool forced, check_steps;
	int n_prompt;
	float *hidden0;   /* [d] prefill hidden state */
	double step_diff; /* max point-head step difference */
	int32_t loc_lo, loc_hi, one_id;
};

static void
on_logits(void *arg, float *L, int n, const int32_t *ids, int n_ids)
{
	struct run *r = arg;
	struct model2_session *s = r->s;
	int k = n_ids - r->n_prompt, i;
	char nm[64];
	size_t cnt;

	if (k == 0)
		memcpy(r->hidden0, s->hlast,
		       (size_t)s->m->hp.d * sizeof(float));
	if (r->check_steps && k > 0) {
		double d;
		snprintf(nm, sizeof(nm), "point.step%d.patch_logits", k);
		if (tu_st_get(r->g, nm, NULL, NULL, NULL, &cnt) != NULL) {
			d = maxdiff(r->g, nm, s->pdots, (size_t)s->pt.n + 1);
			r->step_diff = d > r->step_diff ? d : r->step_diff;
		}
		snprintf(nm, sizeof(nm), "point.step%d.subpatch_logits", k);
		if (tu_st_get(r->g, nm, NULL, NULL, NULL, &cnt) != NULL) {
			d = maxdiff(r->g, nm, s->sublog, MODEL2_N_SUB);
			r->step_diff = d > r->step_diff ? d : r->step_diff;
		}
		snprintf(nm, sizeof(nm), "point.step%d.location_logits", k);
		if (tu_st_get(r->g, nm, NULL, NULL, NULL, &cnt) != NULL) {
			d = maxdiff(r->g, nm, s->loclog, MODEL2_N_LOC);
			r->step_diff = d > r->step_diff ? d : r->step_diff;
		}
	}
	if (r->forced && n_ids > 0 && ids[n_ids - 1] == r->one_id) {
		bool loc = false;
		int nmp = s->pt.base + s->pt.n;
		for (i = r->n_prompt; i < n_ids; i++)
			if (ids[i] >= r->loc_lo && ids[i] < r->loc_hi)
				loc = true;
		if (loc)
			for (i = 0; i < n; i++)
				if (i != nmp)
					L[i] = -INFINITY;
	}
}

static json_t *
load_json(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	ck_assert_msg(j != NULL, "%s: %s", path, je.text);
	return j;
}

struct outcome {
	int32_t tokens[64];
	int n_tokens;
	double points[16][4];
	int n_points;
	double logit_diff;
};

static void
run_case(struct model2 *m, const char *folder, int c, bool full,
         struct outcome *out)
{
	char rel[512];
	struct tu_st g;
	json_t *gj;
	struct image img;
	struct model_image mi;
	struct model2_request rq = model2_request_default();
	struct model_result res;
	struct run r;
	struct err e;
	struct model2_session *s;
	const void *p;
	size_t n, cnt, i;
	int n_gen, nl, mc;
	float *raw, *sc;
	void *bytes;

	snprintf(rel, sizeof(rel), "golden/%s/case%d/golden.json", folder, c);
	gj = load_json(tu_shared(rel));
	snprintf(rel, sizeof(rel), "golden/%s/case%d/golden.safetensors",
	         folder, c);
	tu_st_open(&g, tu_shared(rel));
	snprintf(rel, sizeof(rel), "golden/%s/images/%s", folder,
	         json_string_value(json_object_get(gj, "image")));
	bytes = tu_read_file(tu_shared(rel), &n);
	ck_assert_msg(image_decode(bytes, n, NULL, &img, &e) == 0, "%s", e.msg);
	free(bytes);
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	mc = (int)json_integer_value(json_object_get(gj, "max_crops"));
	s = model2_session_new(m, 24, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);

	p = tu_st_get(&g, "gen.tokens", NULL, NULL, NULL, &cnt);
	ck_assert(p != NULL && cnt <= 64);
	n_gen = (int)cnt;
	memset(&r, 0, sizeof(r));
	r.s = s;
	r.g = &g;
	r.forced = json_object_get(gj, "forced") != NULL;
	r.check_steps = full && m->hp.point;
	r.hidden0 = calloc((size_t)m->hp.d, sizeof(float));
	r.one_id = 0; /* tiny id of "1" (README) */
	rq.image = &mi;
	rq.prompt = json_string_value(json_object_get(gj, "prompt"));
	rq.max_crops = mc;
	rq.max_new_tokens = n_gen;
	rq.ignore_eos = true;
	rq.on_logits = on_logits;
	rq.logits_arg = &r;
	/* the logit vector length is known after preprocessing: allocate
	 * for the largest */
	nl = m->n_text_out + s->max_tok + 14;
	raw = calloc((size_t)n_gen * nl, sizeof(float));
	sc = calloc((size_t)n_gen * nl, sizeof(float));
	rq.raw_logits = raw;
	rq.scores = sc;
	/* the prompt length is needed by on_logits: golden input_ids */
	p = tu_st_get(&g, "pre.input_ids", NULL, NULL, NULL, &cnt);
	r.n_prompt = (int)cnt;
	if (m->hp.point) {
		size_t np = (size_t)json_integer_value(
		    json_object_get(gj, "n_image_tokens_pooled"));
		r.loc_lo = m->n_embed + (int32_t)np + 5;
		r.loc_hi = r.loc_lo + 9;
	}
	ck_assert_msg(model2_run(s, &rq, &res, &e) == 0, "%s case %d: %s",
	              folder, c, e.msg);

	/* prompt ids from text through the real tokenizer and the map */
	ck_assert_int_eq(res.n_prompt, (int)cnt);
	for (i = 0; i < cnt; i++)
		ck_assert_msg(res.prompt_ids[i] == tu_i64_at(p, i),
		              "%s case %d: input id %zu: ours %d, golden %lld",
		              folder, c, i, res.prompt_ids[i],
		              (long long)tu_i64_at(p, i));
	nl = model2_n_logits(s);
	if (full) {
		double dv, dp, dc, dh, dl, dr = 0, ds = 0;
		size_t fd = (size_t)m->fd, np = (size_t)m->n_patch;

		dv = maxdiff(&g, "vit.features", s->feats,
		             (size_t)s->n_crops * np * fd);
		dp = maxdiff(&g, "connector.pooled", s->pooled,
		             (size_t)s->n_tok * m->hp.ad);
		dc = maxdiff(&g, "connector.out", s->conn,
		             (size_t)s->n_tok * m->hp.d);
		dh = maxdiff(&g, "llm.prefill_last_hidden_last_pos", r.hidden0,
		             (size_t)m->hp.d);
		dl = maxdiff(&g, "logits.step0", s->first_logits, (size_t)nl);
		for (int k = 0; k < n_gen; k++) {
			char nm[2][32] = {"gen.raw_logits", "gen.scores"};
			const void *gr =
			    tu_st_get(&g, nm[0], NULL, NULL, NULL, &cnt);
			const void *gs =
			    tu_st_get(&g, nm[1], NULL, NULL, NULL, &cnt);
			ck_assert_uint_eq(cnt, (size_t)n_gen * nl);
			for (int j = 0; j < nl; j++) {
				double a = tu_f32_at(gr, (size_t)k * nl + j);
				double b = raw[(size_t)k * nl + j];
				dr = fabs(a - b) > dr ? fabs(a - b) : dr;
				a = tu_f32_at(gs, (size_t)k * nl + j);
				b = sc[(size_t)k * nl + j];
				if (a <= -1e38 || b == -INFINITY) {
					ck_assert_msg(
					    a <= -1e38 && b == -INFINITY,
					    "%s case %d step %d score "
					    "%d: golden %g ours %g",
					    folder, c, k, j, a, b);
					continue;
				}
				ds = fabs(a - b) > ds ? fabs(a - b) : ds;
			}
		}
		printf("%s case %d: vit %.2e pooled %.2e conn %.2e hidden "
		       "%.2e logits0 %.2e raw %.2e scores %.2e",
		       folder, c, dv, dp, dc, dh, dl, dr, ds);
		ck_assert_msg(dv <= TOL_FEAT && dp <= TOL_FEAT &&
		                  dc <= TOL_FEAT,
		              "%s case %d: features off", folder, c);
		ck_assert_msg(dh <= TOL_LOGIT && dl <= TOL_LOGIT &&
		                  dr <= TOL_LOGIT && ds <= TOL_LOGIT,
		              "%s case %d: logits off", folder, c);
		if (m->hp.point) {
			const void *mk = tu_st_get(&g, "point.patch_k_mask",
			                           NULL, NULL, NULL, &cnt);
			const void *kp = tu_st_get(&g, "point.image_pos_ids",
			                           NULL, NULL, NULL, &cnt);
			double dk = maxdiff(&g, "point.patch_k", s->patch_k,
			                    ((size_t)s->n_tok + 1) * m->hp.pd);
			double dsk =
			    maxdiff(&g, "point.subpatch_k", s->subpatch_k,
			            (size_t)s->n_tok * 4 * m->hp.pd);
			for (i = 0; i <= (size_t)s->n_tok; i++)
				ck_assert_int_eq(((const uint8_t *)mk)[i],
				                 s->pt.sel[i]);
			for (i = 0; i < (size_t)s->n_tok; i++)
				ck_assert_int_eq(tu_i64_at(kp, i),
				                 s->pt.kpos[i]);
			printf(" patch_k %.2e subpatch_k %.2e steps %.2e", dk,
			       dsk, r.step_diff);
			fflush(stdout);
			ck_assert(dk <= TOL_PATCHK && dsk <= TOL_LOGIT &&
			          r.step_diff <= TOL_LOGIT);
		}
		printf("\n");
		out->logit_diff = dl;
	} else {
		out->logit_diff =
		    maxdiff(&g, "logits.step0", s->first_logits, (size_t)nl);
	}
	/* tokens */
	p = tu_st_get(&g, "gen.tokens", NULL, NULL, NULL, &cnt);
	out->n_tokens = res.n_ids;
	for (i = 0; i < (size_t)res.n_ids && i < 64; i++)
		out->tokens[i] = res.ids[i];
	ck_assert_int_eq(res.n_ids, n_gen);
	for (i = 0; i < cnt; i++)
		ck_assert_msg(res.ids[i] == tu_i64_at(p, i),
		              "%s case %d: token %zu: ours %d golden %lld",
		              folder, c, i, res.ids[i],
		              (long long)tu_i64_at(p, i));
	/* points */
	{
		json_t *pts = json_object_get(gj, "points"), *v;
		int np;
		const double *ours = model2_points(s, &np);

		out->n_points = np;
		for (int k = 0; k < np && k < 16; k++)
			memcpy(out->points[k], ours + 4 * k,
			       sizeof(double) * 4);
		if (json_is_array(pts)) {
			ck_assert_int_eq(np, (int)json_array_size(pts));
			json_array_foreach(pts, i, v)
			{
				for (int k = 0; k < 4; k++) {
					double gv = json_number_value(
					    json_array_get(v, (size_t)k));
					ck_assert_msg(
					    fabs(gv - ours[4 * i + k]) <=
					        TOL_POINT,
					    "%s case %d point %zu[%d]: "
					    "golden %.6f ours %.6f",
					    folder, c, i, k, gv,
					    ours[4 * i + k]);
				}
			}
			if (full)
				printf("%s case %d: points %d, first (%.4f, "
				       "%.4f) text \"%s\"\n",
				       folder, c, np, np ? ours[2] : 0,
				       np ? ours[3] : 0, res.text);
		} else {
			ck_assert_int_eq(np, 0);
		}
	}
	free(raw);
	free(sc);
	free(r.hidden0);
	free(img.rgb);
	model2_session_free(s);
	tu_st_close(&g);
	json_decref(gj);
}

static struct model2 *
open_model(const char *folder, enum model_weights wt)
{
	char rel[256], *dir, *vm;
	struct model_params mp = model_params_default();
	struct model2 *m;
	struct err e;

	mp.weights = wt;
	snprintf(rel, sizeof(rel), "golden/%s/model", folder);
	dir = tu_shared_dup(rel);
	snprintf(rel, sizeof(rel), "golden/%s/model/tiny_vocab.json", folder);
	vm = tu_shared_dup(rel);
	ck_assert(model2_is_molmo2(dir));
	m = model2_open(dir, &mp, tu_shared(TOKENIZER), vm, &e);
	ck_assert_msg(m != NULL, "%s: %s", folder, e.msg);
	free(dir);
	free(vm);
	return m;
}

static void
check_folder(const char *folder)
{
	struct model2 *m = open_model(folder, MODEL_WEIGHTS_AS_STORED);
	struct model2 *mb = open_model(folder, MODEL_WEIGHTS_BF16);

	for (int c = 0; c < 3; c++) {
		struct outcome a, b;
		run_case(m, folder, c, true, &a);
		run_case(mb, folder, c, false, &b);
		printf("%s case %d bf16: logits0 drift %.3e, tokens and points "
		       "equal\n",
		       folder, c, b.logit_diff);
		ck_assert_int_eq(a.n_points, b.n_points);
		for (int k = 0; k < a.n_points; k++)
			for (int j = 0; j < 4; j++)
				ck_assert(fabs(a.points[k][j] -
				               b.points[k][j]) <= TOL_POINT);
	}
	model2_close(mb);
	model2_close(m);
}

START_TEST(molmo2_tiny_matches_golden_stage_by_stage)
{
	check_folder("molmo2-tiny");
}
END_TEST

START_TEST(molmopoint_tiny_matches_golden_points)
{
	check_folder("molmo2-molmopoint-tiny");
}
END_TEST

/* Through model.h (model_open dispatches on model_type), three threads,
 * max_crops per request: MolmoPoint case 1 (not forced) gives the golden
 * tokens up to EOS, its point, and first logits and point keys
 * bit-identical to a one-thread run of model2.h with another prefill
 * chunk size. */
START_TEST(model_api_runs_molmopoint_bit_identical_across_threads)
{
	char *dir = tu_shared_dup("golden/molmo2-molmopoint-tiny/model");
	char *vm = tu_shared_dup(
	    "golden/molmo2-molmopoint-tiny/model/tiny_vocab.json");
	struct model_params mp = model_params_default();
	struct model_request rq = model_request_default();
	struct model_result res;
	struct model *m;
	struct model_session *s;
	struct model2 *m1;
	struct model2_session *s1;
	struct model2_request r1 = model2_request_default();
	struct model_result res1;
	struct image img;
	struct model_image mi;
	struct tu_st g;
	struct err e;
	json_t *gj;
	void *bytes;
	size_t n, cnt;
	const void *gt;
	const float *l3;
	int64_t shape[3];
	int nd, np;

	mp.n_threads = 3;
	mp.tokenizer = tu_shared(TOKENIZER);
	mp.vocab_map = vm;
	mp.max_crops = 24;
	m = model_open(dir, &mp, &e);
	ck_assert_msg(m != NULL, "%s", e.msg);
	s = model_session_new(m, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	gj = load_json(tu_shared("golden/molmo2-molmopoint-tiny/case1/"
	                         "golden.json"));
	tu_st_open(&g, tu_shared("golden/molmo2-molmopoint-tiny/case1/"
	                         "golden.safetensors"));
	bytes = tu_read_file(
	    tu_shared(
	        "golden/molmo2-molmopoint-tiny/images/case1_1280x720.png"),
	    &n);
	ck_assert_msg(image_decode(bytes, n, NULL, &img, &e) == 0, "%s", e.msg);
	free(bytes);
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	rq.image = &mi;
	rq.prompt = json_string_value(json_object_get(gj, "prompt"));
	rq.max_crops = 24;
	rq.max_new_tokens = 64;
	ck_assert_msg(model_run(s, &rq, &res, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(res.stop, MODEL_STOP_EOS);
	gt = tu_st_get(&g, "gen.tokens", NULL, NULL, NULL, &cnt);
	ck_assert_int_eq(res.n_ids, (int)cnt - 1); /* EOS excluded */
	for (int i = 0; i < res.n_ids; i++)
		ck_assert_int_eq(res.ids[i], tu_i64_at(gt, (size_t)i));
	ck_assert_int_eq(res.n_points, 1);
	ck_assert(fabs(res.points[2] - 258.79611650485435) < TOL_POINT);
	ck_assert(fabs(res.points[3] - 1.8276923076923077) < TOL_POINT);
	l3 = model_session_tensor(s, MODEL_T_FIRST_LOGITS, shape, &nd);
	ck_assert(l3 != NULL && nd == 1);

	/* one thread, prefill chunks of 37 rows, model2.h directly */
	mp.n_threads = 1;
	mp.prefill_chunk = 37;
	m1 = model2_open(dir, &mp, tu_shared(TOKENIZER), vm, &e);
	ck_assert_msg(m1 != NULL, "%s", e.msg);
	s1 = model2_session_new(m1, 24, &e);
	ck_assert_msg(s1 != NULL, "%s", e.msg);
	r1.image = &mi;
	r1.prompt = rq.prompt;
	r1.max_crops = 24;
	r1.max_new_tokens = 64;
	ck_assert_msg(model2_run(s1, &r1, &res1, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(model2_n_logits(s1), (int)shape[0]);
	ck_assert(memcmp(l3, s1->first_logits, (size_t)shape[0] * 4) == 0);
	l3 = model_session_tensor(s, MODEL_T_PATCH_K, shape, &nd);
	ck_assert(l3 != NULL && nd == 2);
	ck_assert(memcmp(s1->patch_k, l3, (size_t)(shape[0] * shape[1]) * 4) ==
	          0);
	ck_assert_int_eq(res1.n_ids, res.n_ids);
	model2_points(s1, &np);
	ck_assert_int_eq(np, 1);

	/* max_crops above the session's limit is an error, not a crash */
	rq.max_crops = 48;
	ck_assert(model_run(s, &rq, &res, &e) == -1);
	ck_assert_msg(strstr(e.msg, "max_crops") != NULL, "%s", e.msg);

	model2_session_free(s1);
	model2_close(m1);
	tu_st_close(&g);
	json_decref(gj);
	free(img.rgb);
	model_session_free(s);
	model_close(m);
	free(dir);
	free(vm);
}
END_TEST

START_TEST(bad_config_is_one_line_error)
{
	struct err e;
	char *tmp = tu_tmpdir(), path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config.json", tmp);
	f = fopen(path, "w");
	ck_assert(f != NULL);
	fputs("{\"model_type\": \"molmo2\", \"vit_config\": {}, "
	      "\"adapter_config\": {}, \"text_config\": {}}",
	      f);
	fclose(f);
	ck_assert(model2_is_molmo2(tmp));
	ck_assert(model2_open(tmp, NULL, NULL, NULL, &e) == NULL);
	ck_assert_msg(strstr(e.msg, "hidden_size") != NULL, "%s", e.msg);
	ck_assert(strchr(e.msg, '\n') == NULL);
	tu_rmtree(tmp);
	free(tmp);
	{
		/* the pruned checkpoint without its map: real ids do not
		 * fit, a clear error instead of a read out of bounds */
		char *dir = tu_shared_dup("golden/molmo2-tiny/model");
		struct model2 *m =
		    model2_open(dir, NULL, tu_shared(TOKENIZER), NULL, &e);
		struct model2_session *ss;
		struct model2_request rq = model2_request_default();
		struct model_result res;

		ck_assert_msg(m != NULL, "%s", e.msg);
		ss = model2_session_new(m, 0, &e);
		ck_assert_msg(ss != NULL, "%s", e.msg);
		rq.prompt = "Point to the red circle";
		ck_assert(model2_run(ss, &rq, &res, &e) == -1);
		ck_assert_msg(strstr(e.msg, "--vocab-map") != NULL, "%s",
		              e.msg);
		rq.max_new_tokens = 0;
		ck_assert(model2_run(ss, &rq, &res, &e) == -1);
		model2_session_free(ss);
		model2_close(m);
		free(dir);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("model_molmo2");
	TCase *tc = tcase_create("golden");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, molmo2_tiny_matches_golden_stage_by_stage);
	tcase_add_test(tc, molmopoint_tiny_matches_golden_points);
	tcase_add_test(tc,
	               model_api_runs_molmopoint_bit_identical_across_threads);
	tcase_add_test(tc, bad_config_is_one_line_error);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
