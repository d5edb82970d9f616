/* SPDX-License-Identifier: ISC */
/*
 * test_model_answer.c: model/answer (answer text -> points).
 *
 * Molmo v1 <point>/<points> tags (percent), Molmo 2 coords (thousandths,
 * several images, ids), labels with character references, "none" answers,
 * and malformed text that must be reported rather than guessed.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/answer.h"
#include "util/xmalloc.h"

/* Parse for a w x h image and require success. */
static void
ok(const char *text, int w, int h, struct answer *a)
{
	struct err e;

	e.msg[0] = '\0';
	ck_assert_msg(answer_parse(text, w, h, a, &e) == 0, "%s: %s", text,
	              e.msg);
}

/* Require failure with a one-line, printable message containing needle,
 * and an empty answer. */
static void
bad(const char *text, const char *needle)
{
	struct answer a;
	struct err e;
	size_t i;

	e.msg[0] = '\0';
	ck_assert_msg(answer_parse(text, 1280, 720, &a, &e) == -1,
	              "accepted: %s", text);
	ck_assert_msg(strstr(e.msg, needle) != NULL, "'%s' not in: %s", needle,
	              e.msg);
	ck_assert_msg(strncmp(e.msg, "answer: ", 8) == 0, "%s", e.msg);
	for (i = 0; e.msg[i] != '\0'; i++)
		ck_assert_msg(e.msg[i] >= 0x20 && e.msg[i] < 0x7f,
		              "byte %zu of: %s", i, e.msg);
	ck_assert_ptr_null(a.pts);
	ck_assert_ptr_null(a.tags);
	ck_assert_uint_eq(a.n, 0);
	ck_assert(!a.none);
	answer_fini(&a);
}

START_TEST(test_answer_single_point_maps_percent_to_pixels)
{
	struct answer a;

	ok(" <point x=\"61.5\" y=\"40.3\" alt=\"search button\">search "
	   "button</point>",
	   1280, 720, &a);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_uint_eq(a.n_tags, 1);
	ck_assert(!a.none);
	/* §8.3: px = x / 100 * W, no half-pixel offset. */
	ck_assert_double_eq_tol(a.pts[0].x, 787.2, 1e-9);
	ck_assert_double_eq_tol(a.pts[0].y, 290.16, 1e-9);
	ck_assert_int_eq(a.pts[0].px, 787);
	ck_assert_int_eq(a.pts[0].py, 290);
	ck_assert_double_eq(a.pts[0].raw_x, 61.5);
	ck_assert_double_eq(a.pts[0].raw_y, 40.3);
	ck_assert_int_eq(a.pts[0].image, 1);
	ck_assert_int_eq(a.pts[0].id, 1);
	ck_assert_uint_eq(a.pts[0].tag, 0);
	ck_assert_int_eq(a.tags[0].format, ANSWER_V1_POINT);
	ck_assert_str_eq(a.label, "search button");
	ck_assert_str_eq(a.tags[0].alt, "search button");
	answer_fini(&a);
	ck_assert_ptr_null(a.pts);
	answer_fini(&a); /* twice is fine */
}
END_TEST

START_TEST(test_answer_edges_and_rounding)
{
	struct answer a;

	ok("<point x=\"0\" y=\"100\">c</point>", 1280, 720, &a);
	ck_assert_double_eq(a.pts[0].x, 0.0);
	ck_assert_double_eq(a.pts[0].y, 720.0); /* the bottom edge */
	ck_assert_int_eq(a.pts[0].py, 719);     /* clamped into the image */
	answer_fini(&a);
	ok("<point x=\"100.0\" y=\"50.0\">c</point>", 1280, 720, &a);
	ck_assert_double_eq(a.pts[0].x, 1280.0);
	ck_assert_int_eq(a.pts[0].px, 1279);
	ck_assert_double_eq(a.pts[0].y, 360.0);
	ck_assert_int_eq(a.pts[0].py, 360);
	answer_fini(&a);
	/* 0.05 % of 1000 px = 0.5 px rounds away from zero. */
	ok("<point x=\"0.05\" y=\" 0.04 \">c</point>", 1000, 1000, &a);
	ck_assert_int_eq(a.pts[0].px, 1);
	ck_assert_int_eq(a.pts[0].py, 0);
	answer_fini(&a);
	/* A 1x1 image: everything is pixel 0. */
	ok("<point x=\"99.9\" y=\"99.9\">c</point>", 1, 1, &a);
	ck_assert_int_eq(a.pts[0].px, 0);
	ck_assert_int_eq(a.pts[0].py, 0);
	answer_fini(&a);
}
END_TEST

START_TEST(test_answer_multiple_points_in_index_order)
{
	struct answer a;

	ok("<points x1=\"10.0\" y1=\"20.0\" x2=\"30.5\" y2=\"40.0\" "
	   "alt=\"cats\">cats</points>",
	   200, 100, &a);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_int_eq(a.tags[0].format, ANSWER_V1_POINTS);
	ck_assert_double_eq_tol(a.pts[0].x, 20.0, 1e-9);
	ck_assert_double_eq_tol(a.pts[0].y, 20.0, 1e-9);
	ck_assert_double_eq_tol(a.pts[1].x, 61.0, 1e-9);
	ck_assert_double_eq_tol(a.pts[1].y, 40.0, 1e-9);
	ck_assert_int_eq(a.pts[0].id, 1);
	ck_assert_int_eq(a.pts[1].id, 2);
	answer_fini(&a);
	/* Attributes in any order; points follow their numbers. */
	ok("<points alt='dogs' y2=\"5\" x2=\"6\" y1=\"1\" x1=\"2\" "
	   "x10=\"9\" y10=\"9\">dogs</points>",
	   100, 100, &a);
	ck_assert_uint_eq(a.n, 3);
	ck_assert_int_eq(a.pts[0].id, 1);
	ck_assert_double_eq(a.pts[0].raw_x, 2);
	ck_assert_int_eq(a.pts[1].id, 2);
	ck_assert_double_eq(a.pts[1].raw_y, 5);
	ck_assert_int_eq(a.pts[2].id, 10);
	ck_assert_str_eq(a.tags[0].alt, "dogs");
	answer_fini(&a);
}
END_TEST

START_TEST(test_answer_tags_inside_text_and_several_tags)
{
	struct answer a;

	ok(" Counting the <points x1=\"10.0\" y1=\"10.0\" x2=\"20.0\" "
	   "y2=\"20.0\" alt=\"apples\">apples</points> shows a total of 2.",
	   100, 100, &a);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_str_eq(a.label, "apples");
	answer_fini(&a);
	ok("The <point x=\"1\" y=\"2\" alt=\"a\">cat</point> sits left of the "
	   "<b>big</b> <point x=\"3\" y=\"4\">dog</point>.",
	   100, 100, &a);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_uint_eq(a.n_tags, 2);
	ck_assert_str_eq(a.tags[0].label, "cat");
	ck_assert_str_eq(a.tags[1].label, "dog");
	ck_assert_ptr_null(a.tags[1].alt);
	ck_assert_uint_eq(a.pts[1].tag, 1);
	ck_assert_str_eq(a.label, "cat");
	answer_fini(&a);
	/* Self-closing tag; a tag name that only starts like ours. */
	ok("<pointer> <point x=\"5\" y=\"5\"/> <pointy>", 100, 100, &a);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_str_eq(a.label, "");
	answer_fini(&a);
	/* MolmoPoint closes <points with </point>. */
	ok("<points x1=\"5\" y1=\"5\">x</point>", 100, 100, &a);
	ck_assert_uint_eq(a.n, 1);
	answer_fini(&a);
}
END_TEST

START_TEST(test_answer_labels_decode_references_and_quotes)
{
	struct answer a;

	ok("<point x=\"1\" y=\"2\" alt=\"say &quot;hi&quot; &amp; go\">  "
	   "Tom&#39;s &lt;b&gt; &#x1F600; &nbsp; &#0; &#xD800; &amp  </point>",
	   100, 100, &a);
	ck_assert_str_eq(a.tags[0].alt, "say \"hi\" & go");
	ck_assert_str_eq(a.label, "Tom's <b> \xf0\x9f\x98\x80 &nbsp; &#0; "
	                          "&#xD800; &amp");
	answer_fini(&a);
	ok("<point alt='the \"OK\" button' x='1' y='2'>the \"OK\" "
	   "button</point>",
	   100, 100, &a);
	ck_assert_str_eq(a.tags[0].alt, "the \"OK\" button");
	ck_assert_str_eq(a.label, "the \"OK\" button");
	answer_fini(&a);
	ok("<point x=\"1\" y=\"2\" alt=\"\xc3\xa9t\xc3\xa9\">\xc3\xa9t\xc3\xa9"
	   "</point>",
	   100, 100, &a);
	ck_assert_str_eq(a.label, "\xc3\xa9t\xc3\xa9");
	answer_fini(&a);
}
END_TEST

START_TEST(test_answer_recognises_none)
{
	static const char *const yes[] = {"There are none.",
	                                  " there are none",
	                                  "THERE ARE NONE!",
	                                  "This isn't in the image.",
	                                  "This isn\xe2\x80\x99t in the image.",
	                                  " None. ",
	                                  "It is not in the image",
	                                  "\nthere is none.\n"};
	static const char *const no[] = {
	    "There are none of them here.", "none of the above", "", "   ",
	    "The button is at the top.",    "There are 3."};
	struct answer a;
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		ok(yes[i], 640, 480, &a);
		ck_assert_msg(a.none, "%s", yes[i]);
		ck_assert_uint_eq(a.n, 0);
		ck_assert_ptr_null(a.label);
		answer_fini(&a);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		bad(no[i], "no point");
}
END_TEST

START_TEST(test_answer_molmo2_coords)
{
	struct answer_image two[2] = {{1000, 500}, {200, 100}};
	struct answer a;
	struct err e;

	ok("<points coords=\"1 1 523 412 2 600 300\">label</points>", 1000, 500,
	   &a);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_int_eq(a.tags[0].format, ANSWER_M2_COORDS);
	ck_assert_double_eq_tol(a.pts[0].x, 523.0, 1e-9);
	ck_assert_double_eq_tol(a.pts[0].y, 206.0, 1e-9);
	ck_assert_int_eq(a.pts[0].id, 1);
	ck_assert_double_eq_tol(a.pts[1].x, 600.0, 1e-9);
	ck_assert_double_eq_tol(a.pts[1].y, 150.0, 1e-9);
	ck_assert_int_eq(a.pts[1].id, 2);
	ck_assert_double_eq(a.pts[1].raw_x, 600);
	ck_assert_str_eq(a.label, "label");
	answer_fini(&a);
	/* Two images, ids continuing; each mapped with its own size. */
	ck_assert_msg(answer_parse_images("<points alt=\"x\" coords=\"1 1 100 "
	                                  "200;2 2 300 400\">x</points>",
	                                  two, 2, &a, &e) == 0,
	              "%s", e.msg);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_int_eq(a.pts[0].image, 1);
	ck_assert_double_eq_tol(a.pts[0].x, 100.0, 1e-9);
	ck_assert_double_eq_tol(a.pts[0].y, 100.0, 1e-9);
	ck_assert_int_eq(a.pts[1].image, 2);
	ck_assert_int_eq(a.pts[1].id, 2);
	ck_assert_double_eq_tol(a.pts[1].x, 60.0, 1e-9);
	ck_assert_double_eq_tol(a.pts[1].y, 40.0, 1e-9);
	ck_assert_str_eq(a.tags[0].alt, "x");
	answer_fini(&a);
	/* Other separators, extra spaces, 0 and 1000, count mode. */
	ok("Counting the <points coords=\"1  1 000 1000\t1 2 1000 000\">"
	   "corners</points> shows a total of 2.",
	   640, 480, &a);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_double_eq(a.pts[0].x, 0.0);
	ck_assert_double_eq(a.pts[0].y, 480.0);
	ck_assert_int_eq(a.pts[0].py, 479);
	ck_assert_double_eq(a.pts[1].x, 640.0);
	answer_fini(&a);
	ok("<points coords=\"1 3 500 500,1 4 250 250:1 5 001 999\">q</point>",
	   1000, 1000, &a);
	ck_assert_uint_eq(a.n, 3);
	ck_assert_int_eq(a.pts[2].id, 5);
	ck_assert_double_eq(a.pts[2].x, 1.0);
	answer_fini(&a);
	/* Errors. */
	bad("<points coords=\"1 1 100 200;2 2 300 400\">x</points>",
	    "image 2 of 1");
	bad("<points coords=\"0 1 100 200\">x</points>", "image 0");
	bad("<points coords=\"1 1 1001 200\">x</points>", "outside 0-1000");
	bad("<points coords=\"1 1 523\">x</points>", "malformed");
	bad("<points coords=\"1\">x</points>", "malformed");
	bad("<points coords=\"\">x</points>", "malformed");
	bad("<points coords=\"1 1 5.5 200\">x</points>", "malformed");
	bad("<points coords=\"1 1 100 200;\">x</points>", "malformed");
	bad("<points coords=\"1 1 100 -200\">x</points>", "malformed");
	bad("<points coords=\"1 1 10000 200\">x</points>", "malformed");
	bad("<points coords=\"<POINT_12><POINT_3><POINT_1>1<POINT_0>\">x"
	    "</point>",
	    "MolmoPoint");
	bad("<points coords=\"1 1 100 200\" x1=\"1\" y1=\"2\">x</points>",
	    "mixes");
	bad("<points coords=\"1 1 100 200\" coords=\"1 1 1 1\">x</points>",
	    "repeated");
}
END_TEST

START_TEST(test_answer_reports_malformed_text)
{
	char *big;
	size_t i, off;

	/* missing attributes */
	bad("<point x=\"10\">a</point>", "x without y");
	bad("<point y=\"10\">a</point>", "y without x");
	bad("<points x1=\"1\" y1=\"2\" x2=\"3\">a</points>", "x2 without y2");
	bad("<point alt=\"a\">a</point>", "without coordinates");
	bad("<point>a</point>", "without coordinates");
	bad("<point x=\"1\" y=\"2\" x1=\"3\" y1=\"4\">a</point>", "both");
	/* out of range and bad numbers */
	bad("<point x=\"100.1\" y=\"5\">a</point>", "outside 0-100");
	bad("<point x=\"5\" y=\"250\">a</point>", "y=\"250\" outside");
	bad("<point x=\"-5\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"1e2\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"5.\" y=\"5\">a</point>", "not a number");
	bad("<point x=\".5\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"nan\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"5,5\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"1.2.3\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"12345678901234567\" y=\"5\">a</point>", "not a number");
	bad("<point x=\"5\n\" y=\"5\x01\xff\">a</point>", "y=\"5??\"");
	/* repeated attributes */
	bad("<point x=\"1\" x=\"2\" y=\"3\">a</point>", "x repeated");
	bad("<point x=\"1\" y=\"2\" alt=\"a\" alt=\"b\">a</point>",
	    "alt repeated");
	/* broken tags */
	bad("<point x=\"1\" y=\"2\"", "unterminated <point tag");
	bad("<points", "unterminated <points tag");
	bad("<point x=5 y=6>a</point>", "not quoted");
	bad("<point x=\"5 y=\"6\">a</point>", "x=\"5 y=\" is not a number");
	bad("<point x=\"5\" y=\"6>a</point>", "unterminated value");
	bad("<point x>a</point>", "without a value");
	bad("<point x=\"1\" y=\"2\" &>a</point>", "unexpected '&'");
	bad("<point x=\"1\" y=\"2\" \xc3\xa9>a</point>", "unexpected '?'");
	bad("<point x=\"1\" y=\"2\">label", "never closed");
	bad("<point x=\"1\" y=\"2\">a <point x=\"3\" y=\"4\">b</point>",
	    "never closed");
	bad("just text </point>", "closing tag without");
	bad("<point x=\"1\" y=\"2\">a</point></points>", "closing tag without");
	/* garbage */
	bad("hello\nworld", "no point in \"hello?world\"");
	bad("<<<>>>", "no point");
	/* too many points */
	big = xmalloc(ANSWER_TEXT_MAX + 2);
	off = (size_t)snprintf(big, 64, "<points");
	for (i = 1; i <= ANSWER_MAX_POINTS + 1; i++)
		off += (size_t)snprintf(big + off, 64, " x%zu=\"1\" y%zu=\"1\"",
		                        i, i);
	snprintf(big + off, 64, ">a</points>");
	bad(big, "more than");
	/* too long */
	memset(big, ' ', ANSWER_TEXT_MAX + 1);
	big[ANSWER_TEXT_MAX + 1] = '\0';
	bad(big, "longer than");
	free(big);
}
END_TEST

START_TEST(test_answer_rejects_bad_image_sizes)
{
	struct answer_image im[2] = {{100, 100}, {0, 5}};
	struct answer a;
	struct err e;

	ck_assert_int_eq(
	    answer_parse("<point x=\"1\" y=\"1\">a</point>", 0, 10, &a, &e),
	    -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "size"));
	ck_assert_int_eq(answer_parse("<point x=\"1\" y=\"1\">a</point>", 10,
	                              2000000, &a, &e),
	                 -1);
	ck_assert_int_eq(answer_parse_images("None", im, 2, &a, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "image 2"));
	ck_assert_int_eq(answer_parse_images("None", im, 0, &a, &e), -1);
	ck_assert_int_eq(answer_parse_images("None", im, 1, &a, &e), 0);
	ck_assert(a.none);
	answer_fini(&a);
	answer_fini(NULL);
}
END_TEST

static Suite *
answer_suite(void)
{
	Suite *s = suite_create("model_answer");
	TCase *tc = tcase_create("answer");

	tcase_add_test(tc, test_answer_single_point_maps_percent_to_pixels);
	tcase_add_test(tc, test_answer_edges_and_rounding);
	tcase_add_test(tc, test_answer_multiple_points_in_index_order);
	tcase_add_test(tc, test_answer_tags_inside_text_and_several_tags);
	tcase_add_test(tc, test_answer_labels_decode_references_and_quotes);
	tcase_add_test(tc, test_answer_recognises_none);
	tcase_add_test(tc, test_answer_molmo2_coords);
	tcase_add_test(tc, test_answer_reports_malformed_text);
	tcase_add_test(tc, test_answer_rejects_bad_image_sizes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(answer_suite());
	int nf;

	srunner_run_all(sr, CK_ENV);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
