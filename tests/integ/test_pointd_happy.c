/* SPDX-License-Identifier: ISC */
/*
 * test_pointd_happy.c: the happy path end to end.  test_pointd_happy.sh
 * starts the real pointd with the Molmo backend on the tiny qwen2
 * checkpoint; this program sends a screenshot and point and ask requests
 * over a real WebSocket session (and a one-shot HTTP POST), and checks
 * that every answer equals what the engine gives in-process for the same
 * decoded pixels and prompt.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "model/answer.h"
#include "model/model.h"
#include "tests/tools/testutil.h"
#include "tests/tools/wsclient.h"
#include "util/b64.h"

#define MAX_NEW_TOKENS 24 /* as in test_pointd_happy.sh */

static int port;
static unsigned char *png;
static size_t png_len;

/* The engine's answer to prompt on the test image, in-process. */
static char *
engine(const char *prompt)
{
	struct model_params mp = model_params_default();
	struct model_request rq = model_request_default();
	struct model_session *s;
	struct model_result res;
	struct model_image mi;
	struct model *m;
	struct image img;
	struct err e;
	char *text;

	ck_assert_int_eq(image_decode(png, png_len, NULL, &img, &e), 0);
	mp.n_threads = 2;
	m = model_open(tu_shared("golden/qwen2-tiny/model"), &mp, &e);
	ck_assert_msg(m != NULL, "model_open: %s", e.msg);
	s = model_session_new(m, &e);
	ck_assert_ptr_nonnull(s);
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	rq.image = &mi;
	rq.prompt = prompt;
	rq.max_new_tokens = MAX_NEW_TOKENS;
	ck_assert_int_eq(model_run(s, &rq, &res, &e), 0);
	text = strdup(res.text);
	model_session_free(s);
	model_close(m);
	image_fini(&img);
	return text;
}

/* Check the derived coordinates of every point in reply j. */
static void
check_points(json_t *j, double dpr)
{
	json_t *img = json_object_get(j, "image"), *p;
	double w = (double)json_integer_value(json_object_get(img, "width"));
	double h = (double)json_integer_value(json_object_get(img, "height"));
	size_t i;

	ck_assert(w == 200 && h == 150);
	json_array_foreach(json_object_get(j, "points"), i, p)
	{
		double x = json_number_value(json_object_get(p, "x"));
		double y = json_number_value(json_object_get(p, "y"));

		ck_assert(x >= 0 && x <= w && y >= 0 && y <= h);
		ck_assert_double_eq_tol(
		    json_number_value(json_object_get(p, "nx")), x / w, 1e-3);
		ck_assert_double_eq_tol(
		    json_number_value(json_object_get(p, "ny")), y / h, 1e-3);
		ck_assert_double_eq_tol(
		    json_number_value(json_object_get(p, "css_x")), x / dpr,
		    1e-2);
	}
}

/* The points of reply j equal model/answer.c's reading of want. */
static void
check_same_points(json_t *j, const char *want)
{
	json_t *pts = json_object_get(j, "points"), *p;
	struct answer a;
	struct err e;
	size_t i;

	if (answer_parse(want, 200, 150, &a, &e) == -1) {
		ck_assert_uint_eq(json_array_size(pts), 0);
		ck_assert(json_is_false(json_object_get(j, "none")));
		return;
	}
	ck_assert_uint_eq(json_array_size(pts), a.n);
	ck_assert(json_is_true(json_object_get(j, "none")) == a.none);
	for (i = 0; i < a.n; i++) {
		p = json_array_get(pts, i);
		ck_assert_double_eq_tol(
		    json_number_value(json_object_get(p, "x")), a.pts[i].x,
		    0.01);
		ck_assert_double_eq_tol(
		    json_number_value(json_object_get(p, "y")), a.pts[i].y,
		    0.01);
	}
	answer_fini(&a);
}

START_TEST(test_ws_point_and_ask_equal_the_engine)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = wsc_connect(w, port, "/v1", "pointd.v1", NULL);
	char *want;
	json_t *j, *t;

	ck_assert_int_eq(wsc_wait_open(c, 5000), 0);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1,\"client\":"
	                 "\"happy/1\"}");
	j = wsc_recv(c, 10000);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	                 "ready");
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(j, "model"), "backend")),
	                 "molmo");
	json_decref(j);
	wsc_send_text(c, "{\"type\":\"frame\",\"id\":\"f1\",\"format\":\"png\","
	                 "\"dpr\":2}");
	wsc_send_bin(c, png, png_len);
	j = wsc_recv(c, 10000);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	                 "frame");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "width")), 200);
	ck_assert_uint_eq(
	    strlen(json_string_value(json_object_get(j, "sha256"))), 64);
	json_decref(j);

	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"q1\",\"frame\":\"f1\","
	                 "\"target\":\"the Search flights button\"}");
	j = wsc_recv(c, 60000);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	                 "points");
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "q1");
	want = engine("Point to the Search flights button");
	ck_assert_str_eq(json_string_value(json_object_get(j, "raw")), want);
	check_same_points(j, want);
	free(want);
	check_points(j, 2.0);
	t = json_object_get(j, "timing_ms");
	ck_assert(json_number_value(json_object_get(t, "vision")) > 0);
	ck_assert(json_number_value(json_object_get(t, "total")) >=
	          json_number_value(json_object_get(t, "vision")));
	json_decref(j);

	wsc_send_text(c, "{\"type\":\"ask\",\"id\":\"q2\",\"frame\":\"f1\","
	                 "\"prompt\":\"What is shown?\"}");
	j = wsc_recv(c, 60000);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	                 "answer");
	want = engine("What is shown?");
	ck_assert_str_eq(json_string_value(json_object_get(j, "text")), want);
	free(want);
	json_decref(j);
	wsc_free(w);
}
END_TEST

START_TEST(test_http_one_shot_equals_the_engine)
{
	char *req, *b64, *body, *want;
	size_t n;
	json_t *j;

	b64 = malloc(b64_encoded_len(png_len) + 1);
	b64_encode(b64, png, png_len);
	n = strlen(b64) + 200;
	req = malloc(n);
	snprintf(req, n,
	         "{\"image\":\"%s\",\"format\":\"png\",\"target\":"
	         "\"Point to the logo\",\"dpr\":1}",
	         b64);
	body = malloc(1 << 20);
	ck_assert_int_eq(wsc_http(port, "POST", "/v1/point", req, strlen(req),
	                          body, 1 << 20, 60000),
	                 200);
	j = json_loads(body, 0, NULL);
	ck_assert_ptr_nonnull(j);
	want = engine("Point to the logo");
	ck_assert_str_eq(json_string_value(json_object_get(j, "raw")), want);
	check_same_points(j, want);
	check_points(j, 1.0);
	free(want);
	json_decref(j);
	free(body);
	free(req);
	free(b64);
}
END_TEST

int
main(void)
{
	const char *p = getenv("POINTD_PORT");
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (p == NULL) {
		fprintf(stderr, "test_pointd_happy: run through "
		                "test_pointd_happy.sh (POINTD_PORT unset)\n");
		return 99;
	}
	port = (int)strtol(p, NULL, 10);
	png = tu_read_file(tu_shared("golden/images/small_200x150.png"),
	                   &png_len);
	s = suite_create("pointd_happy");
	tc = tcase_create("engine");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ws_point_and_ask_equal_the_engine);
	tcase_add_test(tc, test_http_one_shot_equals_the_engine);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(png);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
