/* SPDX-License-Identifier: ISC */
/*
 * test_model_answer_golden.c: the text side of the golden generations.
 * For every case of the three Molmo v1 tiny checkpoints that stores the
 * reference's text (some store null), the reference's
 * generated ids (which the engine reproduces, test_model_golden) decode with
 * the checkpoint's tokenizer to exactly the reference's generated_text
 * (decoded keeping added tokens such as <im_patch>, as the reference
 * text shows), and
 * parsing our text gives the same points as parsing the reference's text
 * (the same points, or the same refusal when the text holds none).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/answer.h"
#include "model/tok.h"
#include "tests/tools/testutil.h"
#include "util/buf.h"

static const char *const variants[] = {"qwen2-tiny", "olmo-tiny", "moe-tiny"};

/* Parse text; returns -1 (refused) or the number of points, filling *a. */
static int
parse(const char *text, struct answer *a)
{
	struct err e;

	if (answer_parse(text, 200, 150, a, &e) == -1)
		return -1;
	return (int)a->n;
}

static void
check_variant(const char *v)
{
	char rel[256], mdir[256];
	json_error_t jerr;
	json_t *m, *cases, *c, *ids, *gt;
	const char *name;
	struct tok *t;
	struct err e;
	struct buf out;
	int32_t id[4096];
	size_t i, n;
	int checked = 0;

	snprintf(rel, sizeof(rel), "golden/%s/manifest.json", v);
	m = json_load_file(tu_shared(rel), 0, &jerr);
	ck_assert_msg(m != NULL, "%s: %s", rel, jerr.text);
	snprintf(mdir, sizeof(mdir), "golden/%s/model", v);
	t = tok_open(tu_shared(mdir), &e);
	ck_assert_msg(t != NULL, "%s", e.msg);
	cases = json_object_get(m, "cases");
	json_object_foreach(cases, name, c)
	{
		struct answer ours, ref;
		int r1, r2;

		ids = json_object_get(c, "generated_ids");
		gt = json_object_get(c, "generated_text");
		ck_assert_msg(json_is_array(ids), "%s/%s: no generated_ids", v,
		              name);
		/* Some cases store no text (null): nothing to compare. */
		if (json_is_null(gt))
			continue;
		ck_assert_msg(json_is_string(gt), "%s/%s: bad generated_text",
		              v, name);
		n = json_array_size(ids);
		ck_assert_uint_le(n, sizeof(id) / sizeof(id[0]));
		for (i = 0; i < n; i++)
			id[i] =
			    (int32_t)json_integer_value(json_array_get(ids, i));
		buf_init(&out, 1 << 20);
		ck_assert_msg(tok_decode(t, id, n, 0, &out, &e) == 0,
		              "%s/%s: %s", v, name, e.msg);
		ck_assert_msg(strcmp(out.data != NULL ? out.data : "",
		                     json_string_value(gt)) == 0,
		              "%s/%s: decoded text differs from the reference",
		              v, name);
		memset(&ours, 0, sizeof(ours));
		memset(&ref, 0, sizeof(ref));
		r1 = parse(out.data != NULL ? out.data : "", &ours);
		r2 = parse(json_string_value(gt), &ref);
		ck_assert_int_eq(r1, r2);
		for (i = 0; r1 > 0 && i < (size_t)r1; i++) {
			ck_assert_double_eq(ours.pts[i].x, ref.pts[i].x);
			ck_assert_double_eq(ours.pts[i].y, ref.pts[i].y);
		}
		answer_fini(&ours);
		answer_fini(&ref);
		buf_fini(&out);
		checked++;
	}
	ck_assert_int_ge(checked, 1);
	tok_close(t);
	json_decref(m);
}

START_TEST(test_golden_text_decodes_and_parses_like_the_reference)
{
	check_variant(variants[_i]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("model_answer_golden");
	TCase *tc = tcase_create("golden");
	SRunner *sr;
	int nf;

	tu_shared("golden");
	tcase_add_loop_test(
	    tc, test_golden_text_decodes_and_parses_like_the_reference, 0, 3);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
