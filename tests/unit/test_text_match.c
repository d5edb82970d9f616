/* SPDX-License-Identifier: ISC */
/*
 * test_text_match.c: text/match.h without OCR: label extraction,
 * normalisation, edit distance, scoring and candidate choice on hand-made
 * word lists, and the field rule on a drawn luma plane.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/match.h"
#include "util/err.h"

/* ---- A hand-made page ---- */

struct page {
	struct ocr_result r;
	struct ocr_word w[64];
	char text[64][32];
};

static void
page_init(struct page *p, int w, int h)
{
	memset(p, 0, sizeof(*p));
	p->r.words = p->w;
	p->r.w = w;
	p->r.h = h;
}

/* Add a line of words starting at (x, y); words 8 px per character, 12 px
 * tall, 6 px apart.  Returns the x after the last word. */
static int
page_line(struct page *p, int x, int y, const char *words)
{
	char buf[256];
	char *s, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", words);
	for (s = strtok_r(buf, " ", &save); s != NULL;
	     s = strtok_r(NULL, " ", &save)) {
		size_t i = p->r.n_words++;

		ck_assert_uint_lt(i, 64);
		snprintf(p->text[i], sizeof(p->text[i]), "%s", s);
		p->w[i].text = p->text[i];
		p->w[i].x0 = x;
		p->w[i].y0 = y;
		p->w[i].x1 = x + 8 * (int)strlen(s);
		p->w[i].y1 = y + 12;
		p->w[i].conf = 95;
		p->w[i].line = p->r.n_lines;
		x = p->w[i].x1 + 6;
	}
	p->r.n_lines++;
	return x;
}

static ssize_t
find(const struct page *p, const char *target, struct match_hit *hits,
     size_t max)
{
	struct match_query q;
	struct err e;
	ssize_t n;

	ck_assert_msg(match_parse(target, &q, &e) == 0, "%s", e.msg);
	n = match_find(&p->r, &q, NULL, hits, max, &e);
	ck_assert_msg(n >= 0, "%s", e.msg);
	return n;
}

/* ---- Normalisation, distance ---- */

START_TEST(test_normalise_folds_case_punctuation_and_space)
{
	char out[64];

	match_normalise("  Forgot   password? ", out, sizeof(out));
	ck_assert_str_eq(out, "forgot password");
	match_normalise("Don't STOP", out, sizeof(out));
	ck_assert_str_eq(out, "dont stop");
	match_normalise("Home/Products", out, sizeof(out));
	ck_assert_str_eq(out, "home products");
	match_normalise("?!", out, sizeof(out));
	ck_assert_str_eq(out, "");
	match_normalise("Ünïcode", out, sizeof(out));
	ck_assert_str_eq(out, "\xc3\x9cn\xc3\xaf"
	                      "code");
	match_normalise("abcdefgh", out, 4);
	ck_assert_str_eq(out, "abc");
}
END_TEST

START_TEST(test_distance_counts_edits_and_stops_at_cap)
{
	ck_assert_int_eq(match_distance("kitten", 6, "sitting", 7, 5), 3);
	ck_assert_int_eq(match_distance("abc", 3, "abc", 3, 0), 0);
	ck_assert_int_eq(match_distance("abc", 3, "", 0, 5), 3);
	ck_assert_int_eq(match_distance("kitten", 6, "sitting", 7, 1), 2);
	ck_assert_int_eq(match_distance("a", 1, "abcdef", 6, 2), 3);
}
END_TEST

/* ---- Label extraction ---- */

static void
check_parse(const char *target, const char *label, enum match_kind kind)
{
	struct match_query q;
	struct err e;

	ck_assert_msg(match_parse(target, &q, &e) == 0, "%s: %s", target,
	              e.msg);
	ck_assert_msg(strcmp(q.label, label) == 0, "%s: label '%s', want '%s'",
	              target, q.label, label);
	ck_assert_msg(q.kind == kind, "%s: kind %d, want %d", target, q.kind,
	              kind);
}

START_TEST(test_parse_takes_quoted_text_first)
{
	check_parse("click 'Sign in'", "Sign in", MATCH_PLAIN);
	check_parse("press \"Search flights\" now", "Search flights",
	            MATCH_PLAIN);
	check_parse("the \xe2\x80\x9cNext page\xe2\x80\x9d link", "Next page",
	            MATCH_PLAIN);
	check_parse("the field labelled 'E-mail'", "E-mail", MATCH_FIELD);
	/* An apostrophe inside a word is not a quote. */
	check_parse("the user's profile link", "user's profile", MATCH_PLAIN);
}
END_TEST

START_TEST(test_parse_strips_verbs_articles_roles_and_places)
{
	check_parse("the Cancel button", "Cancel", MATCH_PLAIN);
	check_parse("Privacy policy link", "Privacy policy", MATCH_PLAIN);
	check_parse("click Settings in the sidebar", "Settings", MATCH_PLAIN);
	check_parse("the Customers menu item", "Customers", MATCH_PLAIN);
	check_parse("Add to cart", "Add to cart", MATCH_PLAIN);
	check_parse("the field labelled Email", "Email", MATCH_FIELD);
	check_parse("the promo code box", "promo code", MATCH_FIELD);
	check_parse("the Phone input", "Phone", MATCH_FIELD);
	check_parse("the shopping cart icon", "shopping cart", MATCH_NONTEXT);
	check_parse("the button", "the button", MATCH_PLAIN);
}
END_TEST

START_TEST(test_parse_rejects_empty_and_oversized_targets)
{
	struct match_query q;
	struct err e;
	char *big = malloc(MATCH_MAX_TARGET + 2);

	ck_assert_int_eq(match_parse("", &q, &e), -1);
	ck_assert_int_eq(match_parse(" ?! ", &q, &e), -1);
	memset(big, 'a', MATCH_MAX_TARGET + 1);
	big[MATCH_MAX_TARGET + 1] = '\0';
	ck_assert_int_eq(match_parse(big, &q, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "longer"));
	free(big);
}
END_TEST

/* ---- Matching ---- */

START_TEST(test_standalone_label_beats_heading_and_sentence)
{
	struct page p;
	struct match_hit h[4];

	page_init(&p, 1280, 720);
	page_line(&p, 100, 50, "Sign in to your account");
	page_line(&p, 100, 80,
	          "Enter your email, then click Sign in to "
	          "continue.");
	page_line(&p, 100, 300, "Sign in");
	ck_assert_int_eq(find(&p, "click 'Sign in'", h, 4), 1);
	ck_assert_int_eq(h[0].y0, 300);
	ck_assert(h[0].x > 100 && h[0].x < 160);
	ck_assert_str_eq(h[0].text, "Sign in");
	ck_assert(h[0].score > 0.99);
}
END_TEST

START_TEST(test_heading_matches_when_alone)
{
	struct page p;
	struct match_hit h[4];

	page_init(&p, 1280, 720);
	page_line(&p, 100, 50, "Sign in to your account");
	ck_assert_int_eq(find(&p, "Sign in", h, 4), 1);
	ck_assert(h[0].score < 0.95);
}
END_TEST

START_TEST(test_long_sentence_alone_is_not_a_match)
{
	struct page p;
	struct match_hit h[4];

	page_init(&p, 1280, 720);
	page_line(&p, 10, 50,
	          "When you have read all of the terms below and agree with "
	          "them please press the button at the end");
	ck_assert_int_eq(find(&p, "press", h, 4), 0);
}
END_TEST

START_TEST(test_ocr_slips_tolerated_by_length)
{
	struct page p;
	struct match_hit h[4];

	page_init(&p, 1280, 720);
	page_line(&p, 10, 10, "Pasword");
	page_line(&p, 10, 100, "Gp");
	page_line(&p, 10, 200, "Dash board");
	ck_assert_int_eq(find(&p, "the Password field", h, 4), 1);
	ck_assert_int_eq(h[0].y0, 10);
	ck_assert(h[0].score < 1.0 && h[0].score > 0.9);
	/* Short labels must be exact. */
	ck_assert_int_eq(find(&p, "the Go button", h, 4), 0);
	/* A word split by OCR still matches. */
	ck_assert_int_eq(find(&p, "Dashboard", h, 4), 1);
	ck_assert_int_eq(h[0].y0, 200);
	ck_assert_int_eq(h[0].x0, 10);
}
END_TEST

START_TEST(test_same_label_twice_gives_both_candidates)
{
	struct page p;
	struct match_hit h[4];

	page_init(&p, 1280, 720);
	page_line(&p, 100, 300, "Add to cart");
	page_line(&p, 500, 300, "Add to cart");
	page_line(&p, 900, 300, "Notify me");
	ck_assert_int_eq(find(&p, "Add to cart", h, 4), 2);
	ck_assert(h[0].x < 300 && h[1].x > 500);
	/* Only max hits are written, the count is still 2. */
	ck_assert_int_eq(find(&p, "Add to cart", h, 1), 2);
}
END_TEST

START_TEST(test_wide_gap_splits_a_line_into_labels)
{
	struct page p;
	struct match_hit h[4];
	int x;

	page_init(&p, 1280, 720);
	x = page_line(&p, 100, 300, "Sign in");
	p.r.n_lines--; /* same line id */
	page_line(&p, x + 80, 300, "Cancel");
	page_line(&p, 100, 50, "Sign in to your account");
	ck_assert_int_eq(find(&p, "Sign in", h, 4), 1);
	ck_assert_int_eq(h[0].y0, 300);
	ck_assert(h[0].score > 0.99);
}
END_TEST

START_TEST(test_absent_and_nontext_targets_give_none)
{
	struct page p;
	struct match_hit h[4];

	page_init(&p, 1280, 720);
	page_line(&p, 100, 300, "Add to cart");
	ck_assert_int_eq(find(&p, "the Subscribe button", h, 4), 0);
	ck_assert_int_eq(find(&p, "the cart icon", h, 4), 0);
	p.r.n_words = 0;
	ck_assert_int_eq(find(&p, "Add to cart", h, 4), 0);
}
END_TEST

START_TEST(test_text_cut_at_screen_edge_matches_prefix)
{
	struct page p;
	struct match_hit h[4];

	page_init(&p, 1280, 720);
	page_line(&p, 1232, 40, "Newsle");
	ck_assert_int_eq(p.w[0].x1, 1280);
	ck_assert_int_eq(find(&p, "Newsletter", h, 4), 1);
	ck_assert(h[0].score < 0.95);
	/* The same prefix away from the edge is not enough. */
	p.w[0].x0 -= 100;
	p.w[0].x1 -= 100;
	ck_assert_int_eq(find(&p, "Newsletter", h, 4), 0);
}
END_TEST

START_TEST(test_link_inside_sentence_is_its_own_label)
{
	struct page p;
	struct match_hit h[4];
	size_t i;

	page_init(&p, 1280, 720);
	page_line(
	    &p, 10, 50,
	    "Data from the first pass will be published next month read our "
	    "methodology for how the images are processed");
	/* Same ink everywhere: a word deep inside a sentence is no label. */
	ck_assert_int_eq(find(&p, "the methodology link", h, 4), 0);
	/* The link's own colour makes it a label of its own. */
	for (i = 0; i < p.r.n_words; i++) {
		if (strcmp(p.w[i].text, "methodology") == 0) {
			p.w[i].ink[0] = 40;
			p.w[i].ink[1] = 100;
			p.w[i].ink[2] = 230;
		}
	}
	ck_assert_int_eq(find(&p, "the methodology link", h, 4), 1);
	ck_assert_str_eq(h[0].text, "methodology");
	ck_assert(h[0].score > 0.99);
}
END_TEST

START_TEST(test_words_on_one_row_join_across_ocr_line_ids)
{
	struct page p;
	struct match_hit h[4];
	int x;

	page_init(&p, 1280, 720);
	page_line(&p, 10, 50, "Some other line");
	x = page_line(&p, 100, 300, "Remember");
	/* Tesseract gave the short word a line of its own, lower by 3 px. */
	page_line(&p, x, 303, "me");
	ck_assert_int_ne(p.w[3].line, p.w[4].line);
	ck_assert_int_eq(find(&p, "Remember me", h, 4), 1);
	ck_assert_str_eq(h[0].text, "Remember me");
	ck_assert_int_eq(h[0].x0, 100);
}
END_TEST

/* ---- The field rule ---- */

/* A white page with a box outlined in grey at [x0, x1) x [y0, y1). */
static void
draw_box(uint8_t *l, int w, int x0, int y0, int x1, int y1)
{
	int x, y;

	for (x = x0; x < x1; x++) {
		l[(size_t)y0 * w + x] = 150;
		l[(size_t)(y1 - 1) * w + x] = 150;
	}
	for (y = y0; y < y1; y++) {
		l[(size_t)y * w + x0] = 150;
		l[(size_t)y * w + x1 - 1] = 150;
	}
}

START_TEST(test_field_point_moves_below_or_beside_label)
{
	struct page p;
	struct match_hit h[4];
	int w = 640, hgt = 400;
	uint8_t *l = malloc((size_t)w * hgt);

	memset(l, 255, (size_t)w * hgt);
	page_init(&p, w, hgt);
	p.r.luma = l;
	page_line(&p, 100, 100, "Email"); /* label above its input */
	draw_box(l, w, 98, 120, 400, 156);
	page_line(&p, 100, 200, "Phone"); /* label beside its input */
	draw_box(l, w, 200, 190, 450, 222);
	page_line(&p, 110, 300, "Search"); /* placeholder inside a box */
	draw_box(l, w, 100, 290, 400, 322);

	ck_assert_int_eq(find(&p, "the field labelled Email", h, 4), 1);
	ck_assert(h[0].field);
	ck_assert(h[0].y > 120 && h[0].y < 156);
	ck_assert(h[0].x > 98 && h[0].x < 400);

	ck_assert_int_eq(find(&p, "the Phone input", h, 4), 1);
	ck_assert(h[0].field);
	ck_assert(h[0].x > 200 && h[0].x < 450);
	ck_assert(h[0].y > 190 && h[0].y < 222);

	ck_assert_int_eq(find(&p, "the Search box", h, 4), 1);
	ck_assert(!h[0].field);
	ck_assert(h[0].y > 290 && h[0].y < 322);

	/* A plain target stays on the label. */
	ck_assert_int_eq(find(&p, "Email", h, 4), 1);
	ck_assert(!h[0].field);
	ck_assert(h[0].y < 112);
	free(l);
}
END_TEST

START_TEST(test_field_without_box_stays_on_label)
{
	struct page p;
	struct match_hit h[4];
	int w = 320, hgt = 200;
	uint8_t *l = malloc((size_t)w * hgt);

	memset(l, 255, (size_t)w * hgt);
	page_init(&p, w, hgt);
	p.r.luma = l;
	page_line(&p, 10, 10, "Email");
	ck_assert_int_eq(find(&p, "the Email field", h, 4), 1);
	ck_assert(!h[0].field);
	ck_assert(h[0].y >= 10 && h[0].y < 22);
	free(l);
}
END_TEST

START_TEST(test_find_rejects_bad_arguments)
{
	struct page p;
	struct match_query q;
	struct err e;

	page_init(&p, 10, 10);
	ck_assert_int_eq(match_parse("x", &q, &e), 0);
	ck_assert_int_eq(match_find(NULL, &q, NULL, NULL, 0, &e), -1);
	ck_assert_int_eq(match_find(&p.r, &q, NULL, NULL, 1, &e), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("text_match");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, test_normalise_folds_case_punctuation_and_space);
	tcase_add_test(tc, test_distance_counts_edits_and_stops_at_cap);
	tcase_add_test(tc, test_parse_takes_quoted_text_first);
	tcase_add_test(tc, test_parse_strips_verbs_articles_roles_and_places);
	tcase_add_test(tc, test_parse_rejects_empty_and_oversized_targets);
	tcase_add_test(tc, test_standalone_label_beats_heading_and_sentence);
	tcase_add_test(tc, test_heading_matches_when_alone);
	tcase_add_test(tc, test_long_sentence_alone_is_not_a_match);
	tcase_add_test(tc, test_ocr_slips_tolerated_by_length);
	tcase_add_test(tc, test_same_label_twice_gives_both_candidates);
	tcase_add_test(tc, test_wide_gap_splits_a_line_into_labels);
	tcase_add_test(tc, test_absent_and_nontext_targets_give_none);
	tcase_add_test(tc, test_text_cut_at_screen_edge_matches_prefix);
	tcase_add_test(tc, test_link_inside_sentence_is_its_own_label);
	tcase_add_test(tc, test_words_on_one_row_join_across_ocr_line_ids);
	tcase_add_test(tc, test_field_point_moves_below_or_beside_label);
	tcase_add_test(tc, test_field_without_box_stays_on_label);
	tcase_add_test(tc, test_find_rejects_bad_arguments);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
