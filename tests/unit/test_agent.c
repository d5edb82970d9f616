/* SPDX-License-Identifier: ISC */
/*
 * test_agent.c: pointagent's core driven by scripted events (no browser, no
 * daemon): CDP builders and parser, the pixel -> CSS mapping, pointd reply
 * decoding, and whole runs of the state machine.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/act.h"
#include "agent/agent.h"
#include "agent/cdp.h"
#include "protocol/reply.h"

#define PRE 16

START_TEST(test_act_divides_by_device_pixel_ratio)
{
	double cx, cy;
	struct err e;

	ck_assert_int_eq(act_to_css(612.5, 344, 2560, 1440, 2, &cx, &cy, &e),
	                 0);
	ck_assert_double_eq(cx, 306.25);
	ck_assert_double_eq(cy, 172);
	ck_assert_int_eq(act_to_css(10, 10, 100, 100, 1, &cx, &cy, &e), 0);
	ck_assert_double_eq(cx, 10);
	ck_assert_int_eq(act_to_css(101, 10, 100, 100, 1, &cx, &cy, &e), -1);
	ck_assert_int_eq(act_to_css(-1, 10, 100, 100, 1, &cx, &cy, &e), -1);
	ck_assert_int_eq(act_to_css(1, 1, 100, 100, 0, &cx, &cy, &e), -1);
	ck_assert_int_eq(act_to_css(1, 1, 0, 100, 1, &cx, &cy, &e), -1);
}
END_TEST

START_TEST(test_cdp_mouse_builds_a_left_click_event)
{
	json_error_t jerr;
	json_t *o, *p;
	size_t len;
	char *m;

	m = cdp_mouse(PRE, 7, "mousePressed", 306.25, 172, &len);
	o = json_loadb(m + PRE, len, 0, &jerr);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "id")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(o, "method")),
	                 "Input.dispatchMouseEvent");
	p = json_object_get(o, "params");
	ck_assert_str_eq(json_string_value(json_object_get(p, "type")),
	                 "mousePressed");
	ck_assert_double_eq(json_real_value(json_object_get(p, "x")), 306.25);
	ck_assert_str_eq(json_string_value(json_object_get(p, "button")),
	                 "left");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "buttons")), 1);
	json_decref(o);
	free(m);
}
END_TEST

START_TEST(test_cdp_parse_reply_event_and_garbage)
{
	struct cdp_msg c;
	struct err e;
	const char *r1 = "{\"id\":3,\"result\":{\"data\":\"iVBO\"}}";
	const char *r2 =
	    "{\"id\":4,\"result\":{\"result\":{\"type\":\"number\","
	    "\"value\":2}}}";
	const char *r3 = "{\"id\":5,\"error\":{\"code\":-32000,\"message\":"
	                 "\"No target\"}}";
	const char *ev = "{\"method\":\"Page.loadEventFired\",\"params\":{}}";

	ck_assert_int_eq(cdp_parse(&c, r1, strlen(r1), &e), 0);
	ck_assert_int_eq(c.id, 3);
	ck_assert_str_eq(c.data, "iVBO");
	cdp_msg_fini(&c);
	ck_assert_int_eq(cdp_parse(&c, r2, strlen(r2), &e), 0);
	ck_assert(c.has_value);
	ck_assert_double_eq(c.value, 2);
	cdp_msg_fini(&c);
	ck_assert_int_eq(cdp_parse(&c, r3, strlen(r3), &e), 0);
	ck_assert_str_eq(c.error, "No target");
	cdp_msg_fini(&c);
	ck_assert_int_eq(cdp_parse(&c, ev, strlen(ev), &e), 0);
	ck_assert_int_eq(c.id, 0);
	ck_assert_str_eq(c.method, "Page.loadEventFired");
	cdp_msg_fini(&c);
	ck_assert_int_eq(cdp_parse(&c, "[1,2", 4, &e), -1);
	cdp_msg_fini(&c);
	ck_assert_int_eq(cdp_parse(&c, "{}", 2, &e), -1);
	cdp_msg_fini(&c);
}
END_TEST

START_TEST(test_reply_decodes_points_and_errors)
{
	struct reply r;
	struct err e;
	const char *pts =
	    "{\"type\":\"points\",\"id\":\"q1\",\"frame\":\"f1\",\"image\":"
	    "{\"width\":1280,\"height\":720,\"dpr\":2},\"points\":[{\"x\":612."
	    "5,"
	    "\"y\":344.0,\"nx\":0.4785,\"ny\":0.4778,\"css_x\":306.25,"
	    "\"css_y\":172.0,\"label\":\"Search\"}],\"none\":false,\"raw\":"
	    "\"r\"}";
	const char *err = "{\"type\":\"error\",\"id\":null,\"code\":\"busy\","
	                  "\"message\":\"queue full\",\"retry_after_ms\":250}";

	ck_assert_int_eq(reply_decode(&r, pts, strlen(pts), &e), 0);
	ck_assert_int_eq(r.type, REPLY_POINTS);
	ck_assert_str_eq(r.id, "q1");
	ck_assert_int_eq(r.width, 1280);
	ck_assert_uint_eq(r.n_points, 1);
	ck_assert_double_eq(r.points[0].css_x, 306.25);
	ck_assert_str_eq(r.points[0].label, "Search");
	ck_assert(!r.none);
	reply_fini(&r);
	ck_assert_int_eq(reply_decode(&r, err, strlen(err), &e), 0);
	ck_assert_int_eq(r.type, REPLY_ERROR);
	ck_assert_ptr_null(r.id);
	ck_assert_str_eq(r.code, "busy");
	ck_assert_int_eq(r.retry_after_ms, 250);
	reply_fini(&r);
	ck_assert_int_eq(reply_decode(&r, "{\"type\":\"nope\"}", 15, &e), -1);
	reply_fini(&r);
	ck_assert_int_eq(reply_decode(&r,
	                              "{\"type\":\"points\",\"points\":"
	                              "[{\"x\":\"a\"}]}",
	                              39, &e),
	                 -1);
	reply_fini(&r);
}
END_TEST

/* ---- Scripted runs of the state machine ---- */

struct run {
	struct agent *a;
	struct agent_act acts[AGENT_MAX_ACTS];
	int n;
	char reports[8][256];
	int n_reports;
	int status; /* -1 until DONE */
};

static void
step(struct run *r, enum agent_ev_type t, const char *msg)
{
	struct agent_ev ev = {t, msg, msg != NULL ? strlen(msg) : 0};
	struct err e;
	int i;

	agent_step(r->a, &ev, r->acts, &r->n, &e);
	for (i = 0; i < r->n; i++) {
		if (r->acts[i].type == AGENT_ACT_REPORT && r->n_reports < 8)
			snprintf(r->reports[r->n_reports++], 256, "%s",
			         r->acts[i].msg + PRE);
		if (r->acts[i].type == AGENT_ACT_DONE)
			r->status = r->acts[i].status;
	}
}

static void
clear(struct run *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		agent_act_fini(&r->acts[i]);
	r->n = 0;
}

/* The JSON of action i, which must be of type t. */
static json_t *
act_json(struct run *r, int i, enum agent_act_type t)
{
	json_error_t jerr;
	json_t *o;

	ck_assert_int_lt(i, r->n);
	ck_assert_int_eq(r->acts[i].type, t);
	o = json_loadb(r->acts[i].msg + PRE, r->acts[i].len, 0, &jerr);
	ck_assert_ptr_nonnull(o);
	return o;
}

static int
cdp_id(struct run *r, int i, const char *method)
{
	json_t *o = act_json(r, i, AGENT_ACT_CDP);
	int id;

	ck_assert_str_eq(json_string_value(json_object_get(o, "method")),
	                 method);
	id = (int)json_integer_value(json_object_get(o, "id"));
	json_decref(o);
	return id;
}

static const char *targets[] = {"the Search button", "the Logo"};

static void
run_init(struct run *r, bool dry)
{
	struct agent_params p = {targets,           2,   "s3cret",
	                         "pointagent/test", dry, PRE};

	memset(r, 0, sizeof(*r));
	r->status = -1;
	r->a = agent_new(&p);
}

/* Drive one target from the screenshot request through the point reply. */
static void
one_target(struct run *r, int shot_id, const char *frame, const char *qid,
           const char *points_reply)
{
	char msg[512];
	json_t *o;

	/* A PNG signature in base64 stands for the screenshot. */
	snprintf(msg, sizeof(msg),
	         "{\"id\":%d,\"result\":{\"data\":\"iVBORw0KGgo=\"}}", shot_id);
	step(r, AGENT_EV_CDP, msg);
	ck_assert_int_eq(r->n, 2);
	o = act_json(r, 0, AGENT_ACT_POINTD);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")),
	                 "frame");
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), frame);
	ck_assert_double_eq(json_number_value(json_object_get(o, "dpr")), 2);
	json_decref(o);
	ck_assert_int_eq(r->acts[1].type, AGENT_ACT_POINTD_BINARY);
	ck_assert_uint_eq(r->acts[1].len, 8);
	ck_assert_mem_eq(r->acts[1].msg + PRE, "\x89PNG\r\n\x1a\n", 8);
	clear(r);
	snprintf(
	    msg, sizeof(msg),
	    "{\"type\":\"frame\",\"id\":\"%s\",\"width\":2560,\"height\":1440,"
	    "\"sha256\":\"00\"}",
	    frame);
	step(r, AGENT_EV_POINTD, msg);
	o = act_json(r, 0, AGENT_ACT_POINTD);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")),
	                 "point");
	ck_assert_str_eq(json_string_value(json_object_get(o, "frame")), frame);
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), qid);
	json_decref(o);
	clear(r);
	step(r, AGENT_EV_POINTD, points_reply);
}

START_TEST(test_agent_clicks_each_target_at_css_pixels)
{
	const char *p1 = "{\"type\":\"points\",\"id\":\"q1\",\"image\":{"
	                 "\"width\":2560,\"height\":1440,\"dpr\":2},\"points\":"
	                 "[{\"x\":612.5,\"y\":344}],\"none\":false}";
	const char *p2 = "{\"type\":\"points\",\"id\":\"q2\",\"points\":[],"
	                 "\"none\":true}";
	struct run r;
	json_t *o, *p;
	int id, shot;
	char msg[128];

	run_init(&r, false);
	step(&r, AGENT_EV_START, NULL);
	ck_assert_int_eq(r.n, 2);
	o = act_json(&r, 0, AGENT_ACT_POINTD);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")),
	                 "hello");
	ck_assert_str_eq(json_string_value(json_object_get(o, "token")),
	                 "s3cret");
	json_decref(o);
	id = cdp_id(&r, 1, "Runtime.evaluate");
	clear(&r);
	/* The ready and the dpr replies may come in either order. */
	snprintf(msg, sizeof(msg),
	         "{\"id\":%d,\"result\":{\"result\":{\"value\":2}}}", id);
	step(&r, AGENT_EV_CDP, msg);
	ck_assert_int_eq(r.n, 0);
	step(&r, AGENT_EV_CDP, "{\"method\":\"Page.frameNavigated\"}");
	ck_assert_int_eq(r.n, 0);
	step(&r, AGENT_EV_POINTD, "{\"type\":\"ready\",\"session\":\"s1\"}");
	shot = cdp_id(&r, 0, "Page.captureScreenshot");
	clear(&r);

	one_target(&r, shot, "f1", "q1", p1);
	ck_assert_int_eq(r.n, 2);
	ck_assert_str_eq(
	    r.reports[0],
	    "\"the Search button\": 612.5,344.0 px (css 306.2,172.0)");
	id = cdp_id(&r, 1, "Input.dispatchMouseEvent");
	o = act_json(&r, 1, AGENT_ACT_CDP);
	p = json_object_get(o, "params");
	ck_assert_str_eq(json_string_value(json_object_get(p, "type")),
	                 "mouseMoved");
	ck_assert_double_eq(json_real_value(json_object_get(p, "x")), 306.25);
	ck_assert_double_eq(json_real_value(json_object_get(p, "y")), 172);
	json_decref(o);
	clear(&r);
	snprintf(msg, sizeof(msg), "{\"id\":%d,\"result\":{}}", id);
	step(&r, AGENT_EV_CDP, msg);
	id = cdp_id(&r, 0, "Input.dispatchMouseEvent");
	clear(&r);
	snprintf(msg, sizeof(msg), "{\"id\":%d,\"result\":{}}", id);
	step(&r, AGENT_EV_CDP, msg);
	id = cdp_id(&r, 0, "Input.dispatchMouseEvent");
	clear(&r);
	snprintf(msg, sizeof(msg), "{\"id\":%d,\"result\":{}}", id);
	step(&r, AGENT_EV_CDP, msg);
	/* Clicked: a report, then a fresh screenshot for the next target. */
	ck_assert_int_eq(r.n, 2);
	ck_assert_str_eq(r.reports[1],
	                 "clicked \"the Search button\" at css 306.2,172.0");
	shot = cdp_id(&r, 1, "Page.captureScreenshot");
	clear(&r);

	one_target(&r, shot, "f2", "q2", p2);
	ck_assert_str_eq(r.reports[2], "\"the Logo\": none");
	ck_assert_int_eq(r.status, 1); /* one target was not found */
	clear(&r);
	agent_free(r.a);
}
END_TEST

START_TEST(test_agent_stops_on_pointd_error_and_timeout)
{
	struct run r;

	run_init(&r, true);
	step(&r, AGENT_EV_START, NULL);
	clear(&r);
	step(&r, AGENT_EV_POINTD,
	     "{\"type\":\"error\",\"id\":null,\"code\":\"unauthorized\","
	     "\"message\":\"wrong token\"}");
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(r.acts[0].type, AGENT_ACT_DONE);
	ck_assert_int_eq(r.status, 1);
	clear(&r);
	/* Nothing happens after DONE. */
	step(&r, AGENT_EV_POINTD, "{\"type\":\"ready\"}");
	ck_assert_int_eq(r.n, 0);
	agent_free(r.a);

	run_init(&r, true);
	step(&r, AGENT_EV_START, NULL);
	clear(&r);
	step(&r, AGENT_EV_TIMEOUT, NULL);
	ck_assert_int_eq(r.status, 1);
	clear(&r);
	agent_free(r.a);

	run_init(&r, true);
	step(&r, AGENT_EV_START, NULL);
	clear(&r);
	step(&r, AGENT_EV_CDP, "not json");
	ck_assert_int_eq(r.status, 1);
	clear(&r);
	agent_free(r.a);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("agent");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, test_act_divides_by_device_pixel_ratio);
	tcase_add_test(tc, test_cdp_mouse_builds_a_left_click_event);
	tcase_add_test(tc, test_cdp_parse_reply_event_and_garbage);
	tcase_add_test(tc, test_reply_decodes_points_and_errors);
	tcase_add_test(tc, test_agent_clicks_each_target_at_css_pixels);
	tcase_add_test(tc, test_agent_stops_on_pointd_error_and_timeout);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
