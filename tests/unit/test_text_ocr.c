/* SPDX-License-Identifier: ISC */
/*
 * test_text_ocr.c: text/ocr.h preprocessing (polarity decided per region,
 * upscaling) on drawn images, argument checks, and one engine pass over a
 * blank frame.  Reading real text is covered by
 * tests/integ/test_text_pages.sh.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "text/ocr.h"
#include "util/err.h"

/* An RGB image: left half dark (30) with light strokes (220), right half
 * white with dark strokes (40); strokes are 2 px wide columns at x % 8 ==
 * 3, 4, rows 8..23. */
static uint8_t *
two_themes(int w, int h)
{
	uint8_t *p = malloc((size_t)w * h * 3);
	int x, y;

	for (y = 0; y < h; y++) {
		for (x = 0; x < w; x++) {
			int left = x < w / 2;
			int stroke =
			    (x % 8 == 3 || x % 8 == 4) && y >= 8 && y < 24;
			int v =
			    left ? (stroke ? 220 : 30) : (stroke ? 40 : 255);
			uint8_t *q = p + ((size_t)y * w + x) * 3;

			q[0] = q[1] = q[2] = (uint8_t)v;
		}
	}
	return p;
}

START_TEST(test_prepare_draws_text_dark_on_white_in_both_themes)
{
	int w = 128, h = 32, ow, oh;
	uint8_t *rgb = two_themes(w, h), *g;
	struct ocr_image img = {w, h, rgb};
	struct err e;

	g = ocr_prepare(&img, 1, &ow, &oh, &e);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(ow, w);
	ck_assert_int_eq(oh, h);
	/* strokes dark, background light, on both halves */
	ck_assert_int_lt(g[16 * w + 19], 80); /* light on dark */
	ck_assert_int_gt(g[16 * w + 17], 200);
	ck_assert_int_lt(g[16 * w + 64 + 19], 80); /* dark on light */
	ck_assert_int_gt(g[16 * w + 64 + 17], 200);
	ck_assert_int_gt(g[2 * w + 10], 200); /* plain backgrounds */
	ck_assert_int_gt(g[2 * w + 100], 200);
	free(g);
	free(rgb);
}
END_TEST

START_TEST(test_prepare_upscales_by_the_factor)
{
	int w = 40, h = 24, ow, oh;
	uint8_t *rgb = two_themes(w, h), *g;
	struct ocr_image img = {w, h, rgb};
	struct err e;

	g = ocr_prepare(&img, 2, &ow, &oh, &e);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(ow, 2 * w);
	ck_assert_int_eq(oh, 2 * h);
	free(g);
	/* automatic: small images are upscaled twice */
	g = ocr_prepare(&img, 0, &ow, &oh, &e);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(ow, 2 * w);
	free(g);
	free(rgb);
}
END_TEST

START_TEST(test_prepare_and_read_reject_bad_images)
{
	uint8_t px[3] = {0, 0, 0};
	struct ocr_image img = {0, 1, px};
	struct err e;
	int ow, oh;

	ck_assert_ptr_null(ocr_prepare(&img, 1, &ow, &oh, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "out of range"));
	img.w = OCR_MAX_SIDE + 1;
	ck_assert_ptr_null(ocr_prepare(&img, 1, &ow, &oh, &e));
	/* Too many pixels once upscaled: refused before reading a pixel. */
	img.w = 8192;
	img.h = 8192;
	ck_assert_ptr_null(ocr_prepare(&img, 4, &ow, &oh, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "exceeds"));
	img.w = 1;
	img.h = 1;
	ck_assert_ptr_null(ocr_prepare(&img, 9, &ow, &oh, &e));
	img.rgb = NULL;
	ck_assert_ptr_null(ocr_prepare(&img, 1, &ow, &oh, &e));
}
END_TEST

START_TEST(test_new_rejects_bad_params_and_missing_language)
{
	struct ocr_params p = ocr_params_default();
	struct err e;

	p.threads = OCR_MAX_THREADS + 1;
	ck_assert_ptr_null(ocr_new(&p, &e));
	p = ocr_params_default();
	p.lang = "../etc";
	ck_assert_ptr_null(ocr_new(&p, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "bad language"));
	p.lang = "zzqx";
	p.threads = 1;
	ck_assert_ptr_null(ocr_new(&p, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "tesseract-ocr-zzqx"));
	ocr_free(NULL);
	ocr_result_free(NULL);
}
END_TEST

START_TEST(test_blank_frame_reads_no_words)
{
	struct ocr_params p = ocr_params_default();
	struct ocr *o;
	struct ocr_result *r;
	struct err e;
	int w = 320, h = 200;
	uint8_t *rgb = malloc((size_t)w * h * 3);
	struct ocr_image img = {w, h, rgb};

	memset(rgb, 240, (size_t)w * h * 3);
	p.threads = 2;
	o = ocr_new(&p, &e);
	ck_assert_msg(o != NULL, "%s", e.msg);
	ck_assert_int_eq(ocr_threads(o), 2);
	r = ocr_read(o, &img, &e);
	ck_assert_msg(r != NULL, "%s", e.msg);
	ck_assert_uint_eq(r->n_words, 0);
	ck_assert_int_eq(r->w, w);
	ck_assert_int_eq(r->h, h);
	ck_assert_int_eq(r->luma[0], 240);
	ocr_result_free(r);
	ocr_free(o);
	free(rgb);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("text_ocr");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc,
	               test_prepare_draws_text_dark_on_white_in_both_themes);
	tcase_add_test(tc, test_prepare_upscales_by_the_factor);
	tcase_add_test(tc, test_prepare_and_read_reject_bad_images);
	tcase_add_test(tc, test_new_rejects_bad_params_and_missing_language);
	tcase_add_test(tc, test_blank_frame_reads_no_words);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
