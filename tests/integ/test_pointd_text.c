/* SPDX-License-Identifier: ISC */
/*
 * test_pointd_text.c: the text and auto backends end to end.
 * test_pointd_text.sh renders a page with headless Chromium (or uses the
 * committed demo/flights.png), measures the expected element's box, and
 * starts the real pointd three times: backend text with no model, backend
 * auto with no model, and backend auto with the tiny Molmo checkpoint.
 * This program talks to it over a real WebSocket session and HTTP and
 * checks every answer: the point lies in the element's box, the answer
 * names its source, a second query on the same frame is served from the
 * cache (pointd_text_cache_hits_total), a target that is not on screen is
 * "none" for text and falls through to Molmo under auto with a model.
 *
 * Environment (set by the script): POINTD_PORT, TEXT_SHOT (the PNG),
 * TEXT_BOX ("x0 y0 x1 y1", pixels, of the Search flights button),
 * TEXT_MODE (text, auto-nomodel or auto-model) and TEXT_LRU_DIR (17 small
 * distinct PNGs, f00.png to f16.png, for the cache bound).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tools/testutil.h"
#include "tests/tools/wsclient.h"
#include "util/b64.h"

#define PRESENT "the Search flights button"
#define ABSENT  "the Quantum teleport button"
#define CACHED  16 /* frames whose words pointd keeps (backend_text.c) */

static int port;
static unsigned char *png;
static size_t png_len;
static double box[4]; /* x0 y0 x1 y1 */

/* A ready session with frame f1 (the screenshot) submitted. */
static struct wsc_conn *
session(struct wsc *w)
{
	struct wsc_conn *c = wsc_connect(w, port, "/v1", "pointd.v1", NULL);
	json_t *j;

	ck_assert_int_eq(wsc_wait_open(c, 5000), 0);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1,\"client\":"
	                 "\"text-test/1\"}");
	j = wsc_recv(c, 10000);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	                 "ready");
	json_decref(j);
	wsc_send_text(c,
	              "{\"type\":\"frame\",\"id\":\"f1\",\"format\":\"png\"}");
	wsc_send_bin(c, png, png_len);
	j = wsc_recv(c, 10000);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	                 "frame");
	json_decref(j);
	return c;
}

/* Send a point (or ask, when kind is "ask") request and return the reply.
 * backend NULL leaves the field out. */
static json_t *
request(struct wsc_conn *c, const char *kind, const char *id, const char *text,
        const char *backend)
{
	char bk[64] = "";
	json_t *j;

	if (backend != NULL)
		snprintf(bk, sizeof(bk), ",\"backend\":\"%s\"", backend);
	wsc_sendf(c,
	          "{\"type\":\"%s\",\"id\":\"%s\",\"frame\":\"f1\","
	          "\"%s\":\"%s\",\"max_points\":1%s}",
	          kind, id, strcmp(kind, "ask") == 0 ? "prompt" : "target",
	          text, bk);
	j = wsc_recv(c, 90000);
	ck_assert_msg(j != NULL, "no reply to %s", id);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
	return j;
}

static const char *
str(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* Reply j is an error with this code; its message contains want. */
static void
check_error(json_t *j, const char *code, const char *want)
{
	ck_assert_str_eq(str(j, "type"), "error");
	ck_assert_str_eq(str(j, "code"), code);
	ck_assert_msg(strstr(str(j, "message"), want) != NULL,
	              "message \"%s\" lacks \"%s\"", str(j, "message"), want);
}

/* Reply j is one text point inside the button's box. */
static void
check_text_hit(json_t *j)
{
	json_t *p;
	double x, y;

	ck_assert_str_eq(str(j, "type"), "points");
	ck_assert_str_eq(str(j, "source"), "text");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "points")), 1);
	p = json_array_get(json_object_get(j, "points"), 0);
	x = json_number_value(json_object_get(p, "x"));
	y = json_number_value(json_object_get(p, "y"));
	ck_assert_msg(x >= box[0] && x < box[2] && y >= box[1] && y < box[3],
	              "point (%.1f, %.1f) outside the button %g %g %g %g", x, y,
	              box[0], box[1], box[2], box[3]);
	ck_assert_str_eq(str(p, "matched"), "Search flights");
	ck_assert(json_number_value(json_object_get(p, "score")) >= 0.8);
	ck_assert(json_is_false(json_object_get(j, "none")));
}

/* Reply j is a text "none": no points. */
static void
check_text_none(json_t *j)
{
	ck_assert_str_eq(str(j, "type"), "points");
	ck_assert_str_eq(str(j, "source"), "text");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "points")), 0);
	ck_assert(json_is_true(json_object_get(j, "none")));
}

/* The value of counter name in GET /metrics. */
static double
metric(const char *name)
{
	static char body[1 << 16];
	char key[128];
	const char *p;

	ck_assert_int_eq(wsc_http(port, "GET", "/metrics", NULL, 0, body,
	                          sizeof(body), 5000),
	                 200);
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(body, key);
	ck_assert_msg(p != NULL, "no %s in /metrics", name);
	return strtod(p + strlen(key), NULL);
}

/* ---- backend text, no model ---- */

START_TEST(test_text_finds_button_and_reads_each_frame_once)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	double hits = metric("pointd_text_cache_hits_total");
	double misses = metric("pointd_text_cache_misses_total");
	json_t *j, *t;

	j = request(c, "point", "q1", PRESENT, "text");
	check_text_hit(j);
	json_decref(j);
	/* The same frame again: only matching, no reading. */
	j = request(c, "point", "q2", "Search flights", NULL);
	check_text_hit(j);
	t = json_object_get(j, "timing_ms");
	ck_assert(json_number_value(json_object_get(t, "vision")) == 0);
	json_decref(j);
	ck_assert(metric("pointd_text_cache_misses_total") == misses + 1);
	ck_assert(metric("pointd_text_cache_hits_total") == hits + 1);
	wsc_free(w);
}
END_TEST

START_TEST(test_text_absent_target_is_none)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	json_t *j;

	j = request(c, "point", "q1", ABSENT, "text");
	check_text_none(j);
	json_decref(j);
	wsc_free(w);
}
END_TEST

START_TEST(test_text_refuses_questions_and_molmo)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	json_t *j;

	j = request(c, "ask", "q1", "What is this page?", NULL);
	check_error(j, "bad_request", "free-form");
	json_decref(j);
	j = request(c, "point", "q2", PRESENT, "molmo");
	check_error(j, "bad_request", "text backend");
	json_decref(j);
	j = request(c, "point", "q3", PRESENT, "gpu");
	check_error(j, "bad_request", "backend");
	json_decref(j);
	/* auto on a text pointd: text alone, and the note says why. */
	j = request(c, "point", "q4", PRESENT, "auto");
	check_text_hit(j);
	ck_assert(strstr(str(j, "note"), "not loaded") != NULL);
	json_decref(j);
	wsc_free(w);
}
END_TEST

/* POST /v1/point with the image bytes; returns the parsed reply. */
static json_t *
one_shot(const unsigned char *img, size_t len, const char *target)
{
	char *req, *b64, *body;
	size_t n;
	json_t *j;

	b64 = malloc(b64_encoded_len(len) + 1);
	b64_encode(b64, img, len);
	n = strlen(b64) + strlen(target) + 200;
	req = malloc(n);
	snprintf(req, n,
	         "{\"image\":\"%s\",\"target\":\"%s\","
	         "\"backend\":\"text\",\"max_points\":1}",
	         b64, target);
	body = malloc(1 << 20);
	ck_assert_int_eq(wsc_http(port, "POST", "/v1/point", req, strlen(req),
	                          body, 1 << 20, 60000),
	                 200);
	j = json_loads(body, 0, NULL);
	ck_assert_ptr_nonnull(j);
	free(body);
	free(req);
	free(b64);
	return j;
}

START_TEST(test_text_http_one_shot)
{
	json_t *j = one_shot(png, png_len, PRESENT);

	check_text_hit(j);
	json_decref(j);
}
END_TEST

/* Post frame i of TEXT_LRU_DIR (f00.png ...). */
static void
post_frame(const char *dir, int i)
{
	char path[4096];
	unsigned char *img;
	size_t len;
	json_t *j;

	snprintf(path, sizeof(path), "%s/f%02d.png", dir, i);
	img = tu_read_file(path, &len);
	j = one_shot(img, len, "Search");
	ck_assert_str_eq(str(j, "source"), "text");
	json_decref(j);
	free(img);
}

START_TEST(test_text_cache_keeps_the_most_recent_frames)
{
	const char *dir = getenv("TEXT_LRU_DIR");
	double hits, misses;
	int i;

	if (dir == NULL || dir[0] == '\0') {
		fprintf(stderr, "NOTE: TEXT_LRU_DIR unset: the cache bound is "
		                "NOT tested\n");
		return;
	}
	hits = metric("pointd_text_cache_hits_total");
	misses = metric("pointd_text_cache_misses_total");
	/* CACHED + 1 new frames: the first is evicted. */
	for (i = 0; i <= CACHED; i++)
		post_frame(dir, i);
	ck_assert(metric("pointd_text_cache_misses_total") ==
	          misses + CACHED + 1);
	post_frame(dir, CACHED);
	post_frame(dir, 1);
	ck_assert(metric("pointd_text_cache_hits_total") == hits + 2);
	post_frame(dir, 0);
	ck_assert(metric("pointd_text_cache_misses_total") ==
	          misses + CACHED + 2);
}
END_TEST

/* ---- backend auto, no model ---- */

START_TEST(test_auto_without_model_answers_from_text_and_says_so)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	json_t *j;

	j = request(c, "point", "q1", PRESENT, NULL);
	check_text_hit(j);
	ck_assert(strstr(str(j, "note"), "molmo is not loaded") != NULL);
	json_decref(j);
	j = request(c, "point", "q2", ABSENT, NULL);
	check_text_none(j);
	ck_assert(strstr(str(j, "note"), "molmo is not loaded") != NULL);
	json_decref(j);
	j = request(c, "point", "q3", PRESENT, "molmo");
	check_error(j, "bad_request", "molmo is not loaded");
	json_decref(j);
	j = request(c, "ask", "q4", "What is this page?", NULL);
	check_error(j, "bad_request", "molmo is not loaded");
	json_decref(j);
	wsc_free(w);
}
END_TEST

/* ---- backend auto with the tiny Molmo checkpoint ---- */

START_TEST(test_auto_sure_match_answers_from_text)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	json_t *j;

	j = request(c, "point", "q1", PRESENT, NULL);
	check_text_hit(j);
	ck_assert_ptr_null(json_object_get(j, "note"));
	json_decref(j);
	wsc_free(w);
}
END_TEST

START_TEST(test_auto_absent_target_falls_through_to_molmo)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	json_t *j, *p;
	size_t i;

	j = request(c, "point", "q1", ABSENT, NULL);
	ck_assert_str_eq(str(j, "type"), "points");
	ck_assert_str_eq(str(j, "source"), "molmo");
	ck_assert(strstr(str(j, "note"), "no text matched") != NULL);
	/* Molmo's points carry no text match. */
	json_array_foreach(json_object_get(j, "points"), i, p)
	    ck_assert_ptr_null(json_object_get(p, "matched"));
	json_decref(j);
	/* Asked for text only, the same target is none. */
	j = request(c, "point", "q2", ABSENT, "text");
	check_text_none(j);
	json_decref(j);
	j = request(c, "point", "q3", PRESENT, "molmo");
	ck_assert_str_eq(str(j, "type"), "points");
	ck_assert_str_eq(str(j, "source"), "molmo");
	json_decref(j);
	wsc_free(w);
}
END_TEST

int
main(void)
{
	const char *p = getenv("POINTD_PORT"), *mode = getenv("TEXT_MODE");
	const char *shot = getenv("TEXT_SHOT"), *b = getenv("TEXT_BOX");
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (p == NULL || mode == NULL || shot == NULL || b == NULL ||
	    sscanf(b, "%lf %lf %lf %lf", &box[0], &box[1], &box[2], &box[3]) !=
	        4) {
		fprintf(stderr, "test_pointd_text: run through "
		                "test_pointd_text.sh\n");
		return 99;
	}
	port = (int)strtol(p, NULL, 10);
	png = tu_read_file(shot, &png_len);
	s = suite_create("pointd_text");
	tc = tcase_create(mode);
	tcase_set_timeout(tc, 120);
	if (strcmp(mode, "text") == 0) {
		/* First, so that its frame is not cached yet. */
		tcase_add_test(
		    tc, test_text_finds_button_and_reads_each_frame_once);
		tcase_add_test(tc, test_text_absent_target_is_none);
		tcase_add_test(tc, test_text_refuses_questions_and_molmo);
		tcase_add_test(tc, test_text_http_one_shot);
		tcase_add_test(tc,
		               test_text_cache_keeps_the_most_recent_frames);
	} else if (strcmp(mode, "auto-nomodel") == 0) {
		tcase_add_test(
		    tc, test_auto_without_model_answers_from_text_and_says_so);
	} else if (strcmp(mode, "auto-model") == 0) {
		tcase_add_test(tc, test_auto_sure_match_answers_from_text);
		tcase_add_test(tc,
		               test_auto_absent_target_falls_through_to_molmo);
	} else {
		fprintf(stderr, "test_pointd_text: unknown TEXT_MODE %s\n",
		        mode);
		return 99;
	}
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(png);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
