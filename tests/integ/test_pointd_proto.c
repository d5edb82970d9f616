/* SPDX-License-Identifier: ISC */
/*
 * test_pointd_proto.c: protocol v1, errors, limits and scheduling against a
 * running pointd (started by test_pointd_proto.sh with the test backend,
 * a token and small limits), through real libwebsockets clients.
 *
 * The daemon's configuration (see the .sh): token TOKEN, max_message_bytes
 * 2M, max_image_bytes 1M, max_pixels 4000000, max_inflight 3,
 * request_timeout_ms 4000, queue_depth 64.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tools/testutil.h"
#include "tests/tools/wsclient.h"
#include "util/clock.h"
#include "util/b64.h"

#define TOKEN "test-token-0123456789"

static int port;
static unsigned char *png; /* small_200x150.png */
static size_t png_len;

/* The type of j, or "error:CODE". */
static const char *
kind(json_t *j)
{
	static char k[96];
	const char *t;

	if (j == NULL)
		return "(nothing)";
	t = json_string_value(json_object_get(j, "type"));
	if (t != NULL && strcmp(t, "error") == 0) {
		snprintf(k, sizeof(k), "error:%s",
		         json_string_value(json_object_get(j, "code")));
		return k;
	}
	return t != NULL ? t : "(no type)";
}

/* Receive one message and check its kind and (if id) its id. */
static json_t *
expect(struct wsc_conn *c, const char *want, const char *id)
{
	json_t *j = wsc_recv(c, 10000), *jid;

	ck_assert_msg(j != NULL, "expected %s, got nothing", want);
	ck_assert_str_eq(kind(j), want);
	if (id != NULL) {
		jid = json_object_get(j, "id");
		ck_assert_msg(json_is_string(jid), "reply has no id");
		ck_assert_str_eq(json_string_value(jid), id);
	}
	ck_assert_str_ne(json_string_value(json_object_get(j, "type")), "");
	return j;
}

static void
expect_free(struct wsc_conn *c, const char *want, const char *id)
{
	json_decref(expect(c, want, id));
}

/* A new ready session. */
static struct wsc_conn *
session(struct wsc *w)
{
	struct wsc_conn *c = wsc_connect(w, port, "/v1", "pointd.v1", NULL);

	ck_assert_int_eq(wsc_wait_open(c, 5000), 0);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1,\"token\":\"" TOKEN
	                 "\",\"client\":\"test/1\"}");
	expect_free(c, "ready", NULL);
	return c;
}

/* Send frame id with the PNG as a binary message; expect the ack. */
static void
frame(struct wsc_conn *c, const char *id)
{
	wsc_sendf(c,
	          "{\"type\":\"frame\",\"id\":\"%s\",\"format\":\"png\","
	          "\"dpr\":2}",
	          id);
	wsc_send_bin(c, png, png_len);
	expect_free(c, "frame", id);
}

/* The session still answers a point request. */
static void
still_works(struct wsc_conn *c)
{
	json_t *j, *p;

	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"ok\",\"frame\":\"f1\","
	                 "\"target\":\"the logo\"}");
	j = expect(c, "points", "ok");
	p = json_array_get(json_object_get(j, "points"), 0);
	ck_assert_ptr_nonnull(p);
	/* The test backend points at the centre of the 200x150 image. */
	ck_assert_double_eq_tol(json_number_value(json_object_get(p, "x")),
	                        100.0, 1e-6);
	ck_assert_double_eq_tol(json_number_value(json_object_get(p, "css_y")),
	                        37.5, 1e-6);
	ck_assert_double_eq_tol(json_number_value(json_object_get(p, "nx")),
	                        0.5, 1e-6);
	json_decref(j);
}

/* Store a big-endian 32-bit value. */
static void
be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

/* A PNG signature and IHDR claiming w x h, then an empty IDAT and IEND. */
static size_t
png_header(unsigned char *out, uint32_t w, uint32_t h)
{
	static const unsigned char sig[8] = {0x89, 'P',  'N',  'G',
	                                     '\r', '\n', 0x1a, '\n'};
	unsigned char *p = out;

	memcpy(p, sig, 8);
	p += 8;
	be32(p, 13);
	memcpy(p + 4, "IHDR", 4);
	be32(p + 8, w);
	be32(p + 12, h);
	p[16] = 8; /* bit depth */
	p[17] = 2; /* RGB */
	p[18] = p[19] = p[20] = 0;
	be32(p + 21, crc32(p + 4, 17));
	p += 25;
	be32(p, 0);
	memcpy(p + 4, "IEND", 4);
	be32(p + 8, crc32(p + 4, 4));
	p += 12;
	return (size_t)(p - out);
}

START_TEST(test_healthz_and_metrics_answer)
{
	char body[65536];

	ck_assert_int_eq(wsc_http(port, "GET", "/healthz", NULL, 0, body,
	                          sizeof(body), 3000),
	                 200);
	ck_assert_ptr_nonnull(strstr(body, "\"ok\""));
	ck_assert_int_eq(wsc_http(port, "GET", "/metrics", NULL, 0, body,
	                          sizeof(body), 3000),
	                 200);
	ck_assert_ptr_nonnull(strstr(body, "pointd_requests_total"));
	ck_assert_ptr_nonnull(strstr(body, "pointd_queue_depth"));
	ck_assert_ptr_nonnull(strstr(body, "pointd_model_info"));
	ck_assert_int_eq(
	    wsc_http(port, "GET", "/nope", NULL, 0, body, sizeof(body), 3000),
	    404);
}
END_TEST

START_TEST(test_unauthorized_until_hello_with_token)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = wsc_connect(w, port, "/v1", "pointd.v1", NULL);

	ck_assert_int_eq(wsc_wait_open(c, 5000), 0);
	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"q0\",\"frame\":\"f\","
	                 "\"target\":\"x\"}");
	expect_free(c, "error:unauthorized", "q0");
	wsc_send_bin(c, "xx", 2);
	expect_free(c, "error:unauthorized", NULL);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1,\"token\":"
	                 "\"wrong-token-0123456789\"}");
	expect_free(c, "error:unauthorized", NULL);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1}");
	expect_free(c, "error:unauthorized", NULL);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1,\"token\":\"" TOKEN
	                 "\"}");
	expect_free(c, "ready", NULL);
	frame(c, "f1");
	still_works(c);
	wsc_free(w);
}
END_TEST

START_TEST(test_bearer_header_authorizes_hello)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = wsc_connect(w, port, "/v1", "pointd.v1", TOKEN);
	json_t *j;

	ck_assert_int_eq(wsc_wait_open(c, 5000), 0);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1}");
	j = expect(c, "ready", NULL);
	ck_assert_ptr_nonnull(json_object_get(j, "limits"));
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_object_get(j, "limits"), "max_inflight")),
	                 3);
	json_decref(j);
	wsc_free(w);
}
END_TEST

START_TEST(test_websocket_needs_path_and_subprotocol)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *a = wsc_connect(w, port, "/v1", NULL, NULL);
	struct wsc_conn *b = wsc_connect(w, port, "/v2", "pointd.v1", NULL);

	ck_assert_int_eq(wsc_wait_open(a, 5000), -1);
	ck_assert_int_eq(wsc_wait_open(b, 5000), -1);
	wsc_free(w);
}
END_TEST

START_TEST(test_json_errors_keep_the_session)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	static const char bad_utf8[] =
	    "{\"type\":\"point\",\"id\":\"u\","
	    "\"frame\":\"f1\",\"target\":\"\xc3\x28\"}";

	frame(c, "f1");
	wsc_send_text(c, "{\"type\": bad json");
	expect_free(c, "error:bad_json", NULL);
	still_works(c);
	wsc_send_text(c, bad_utf8);
	expect_free(c, "error:bad_json", NULL);
	still_works(c);
	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"q1\"}");
	expect_free(c, "error:bad_request", "q1");
	still_works(c);
	wsc_send_text(c, "{\"type\":\"teleport\",\"id\":\"q2\"}");
	expect_free(c, "error:unknown_type", "q2");
	still_works(c);
	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"q3\",\"frame\":\"nope\","
	                 "\"target\":\"x\"}");
	expect_free(c, "error:unknown_frame", "q3");
	still_works(c);
	wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1}");
	expect_free(c, "error:bad_request", NULL);
	still_works(c);
	wsc_send_text(c, "{\"type\":\"cancel\",\"id\":\"never\"}");
	expect_free(c, "error:bad_request", "never");
	still_works(c);
	wsc_free(w);
}
END_TEST

START_TEST(test_bad_images_give_clear_errors)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	unsigned char hdr[64], junk[4096];
	size_t n, i;
	char *b64;
	json_t *j;

	frame(c, "f1");
	/* A 40000x40000 PNG header: rejected before decoding. */
	n = png_header(hdr, 40000, 40000);
	wsc_send_text(c,
	              "{\"type\":\"frame\",\"id\":\"big\",\"format\":\"png\"}");
	wsc_send_bin(c, hdr, n);
	j = expect(c, "error:image_too_large", "big");
	ck_assert_ptr_nonnull(
	    strstr(json_string_value(json_object_get(j, "message")), "40000"));
	json_decref(j);
	still_works(c);
	/* The same inline, base64. */
	b64 = malloc(b64_encoded_len(n) + 1);
	b64_encode(b64, hdr, n);
	wsc_sendf(c,
	          "{\"type\":\"frame\",\"id\":\"big2\",\"format\":\"png\","
	          "\"data\":\"%s\"}",
	          b64);
	free(b64);
	expect_free(c, "error:image_too_large", "big2");
	still_works(c);
	/* Garbage JPEG. */
	junk[0] = 0xff;
	junk[1] = 0xd8;
	junk[2] = 0xff;
	for (i = 3; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	wsc_send_text(c,
	              "{\"type\":\"frame\",\"id\":\"g\",\"format\":\"jpeg\"}");
	wsc_send_bin(c, junk, sizeof(junk));
	expect_free(c, "error:bad_image", "g");
	still_works(c);
	/* A 0-byte frame. */
	wsc_send_text(c,
	              "{\"type\":\"frame\",\"id\":\"z\",\"format\":\"png\"}");
	wsc_send_bin(c, "", 0);
	expect_free(c, "error:bad_image", "z");
	still_works(c);
	/* A truncated PNG: the header is fine, decoding fails at use. */
	wsc_send_text(c,
	              "{\"type\":\"frame\",\"id\":\"t\",\"format\":\"png\"}");
	wsc_send_bin(c, png, png_len / 2);
	expect_free(c, "frame", "t");
	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"qt\",\"frame\":\"t\","
	                 "\"target\":\"x\"}");
	expect_free(c, "error:bad_image", "qt");
	still_works(c);
	/* A binary message with no frame before it. */
	wsc_send_bin(c, png, png_len);
	expect_free(c, "error:bad_request", NULL);
	still_works(c);
	wsc_free(w);
}
END_TEST

START_TEST(test_oversized_messages_are_dropped)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	size_t n = 10u << 20, i;
	unsigned char *big = malloc(n + 64);
	char *s;

	frame(c, "f1");
	/* A 10 MB JSON string (the limit is 2 MB). */
	s = (char *)big;
	i = (size_t)snprintf(s, 64,
	                     "{\"type\":\"ask\",\"id\":\"a\",\"prompt\":\"");
	memset(s + i, 'a', n - i - 2);
	memcpy(s + n - 2, "\"}", 3);
	wsc_send_text(c, s);
	expect_free(c, "error:message_too_large", NULL);
	still_works(c);
	/* A 1.5 MB image (the limit is 1 MB). */
	memset(big, 0x42, n);
	wsc_send_text(
	    c, "{\"type\":\"frame\",\"id\":\"huge\",\"format\":\"png\"}");
	wsc_send_bin(c, big, 1536 * 1024);
	expect_free(c, "error:image_too_large", "huge");
	still_works(c);
	free(big);
	wsc_free(w);
}
END_TEST

START_TEST(test_busy_timeout_cancel_internal)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);
	double t0;
	json_t *j;
	int i;

	frame(c, "f1");
	/* Five slow requests with max_inflight 3: two are busy at once. */
	for (i = 0; i < 5; i++)
		wsc_sendf(c,
		          "{\"type\":\"point\",\"id\":\"b%d\",\"frame\":\"f1\","
		          "\"target\":\"sleep=200\"}",
		          i);
	j = expect(c, "error:busy", "b3");
	ck_assert(json_integer_value(json_object_get(j, "retry_after_ms")) > 0);
	json_decref(j);
	expect_free(c, "error:busy", "b4");
	expect_free(c, "points", "b0");
	expect_free(c, "points", "b1");
	expect_free(c, "points", "b2");
	still_works(c);
	/* Past request_timeout_ms (4000). */
	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"slow\",\"frame\":\"f1\","
	                 "\"target\":\"sleep=20000\"}");
	expect_free(c, "error:timeout", "slow");
	still_works(c);
	/* Cancelled while running. */
	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"c1\",\"frame\":\"f1\","
	                 "\"target\":\"sleep=5000\"}");
	t0 = clock_ms();
	wsc_service(w, 200);
	ck_assert_msg(clock_ms() - t0 < 1000, "the client loop slept %.0f ms",
	              clock_ms() - t0);
	wsc_send_text(c, "{\"type\":\"cancel\",\"id\":\"c1\"}");
	expect_free(c, "error:cancelled", "c1");
	still_works(c);
	/* The engine fails. */
	wsc_send_text(c, "{\"type\":\"ask\",\"id\":\"f\",\"frame\":\"f1\","
	                 "\"prompt\":\"please fail\"}");
	expect_free(c, "error:internal", "f");
	still_works(c);
	/* An ask is answered with text. */
	wsc_send_text(c, "{\"type\":\"ask\",\"id\":\"a1\",\"frame\":\"f1\","
	                 "\"prompt\":\"what is this?\"}");
	j = expect(c, "answer", "a1");
	ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "text")));
	json_decref(j);
	/* none: no points. */
	wsc_send_text(c, "{\"type\":\"point\",\"id\":\"n\",\"frame\":\"f1\","
	                 "\"target\":\"none here\"}");
	j = expect(c, "points", "n");
	ck_assert(json_is_true(json_object_get(j, "none")));
	ck_assert_uint_eq(json_array_size(json_object_get(j, "points")), 0);
	json_decref(j);
	wsc_free(w);
}
END_TEST

START_TEST(test_fifty_concurrent_sessions)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c[50];
	char id[16];
	int i;

	for (i = 0; i < 50; i++)
		c[i] = wsc_connect(w, port, "/v1", "pointd.v1", TOKEN);
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(wsc_wait_open(c[i], 5000), 0);
		wsc_send_text(c[i], "{\"type\":\"hello\",\"protocol\":1}");
		wsc_send_text(c[i], "{\"type\":\"frame\",\"id\":\"f1\","
		                    "\"format\":\"png\"}");
		wsc_send_bin(c[i], png, png_len);
		wsc_sendf(c[i],
		          "{\"type\":\"point\",\"id\":\"p%d\",\"frame\":"
		          "\"f1\",\"target\":\"sleep=10\"}",
		          i);
	}
	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		expect_free(c[i], "ready", NULL);
		expect_free(c[i], "frame", "f1");
		expect_free(c[i], "points", id);
	}
	wsc_free(w);
}
END_TEST

START_TEST(test_sessions_take_turns)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *a = session(w), *b = session(w);
	int i;

	frame(a, "f1");
	frame(b, "f1");
	for (i = 0; i < 3; i++)
		wsc_sendf(a,
		          "{\"type\":\"point\",\"id\":\"a%d\",\"frame\":\"f1\","
		          "\"target\":\"sleep=300\"}",
		          i);
	wsc_service(w, 100);
	wsc_send_text(b, "{\"type\":\"point\",\"id\":\"b\",\"frame\":\"f1\","
	                 "\"target\":\"sleep=300\"}");
	expect_free(b, "points", "b");
	/* First come first served would answer all of a's three first. */
	ck_assert_int_lt(wsc_pending(a), 3);
	expect_free(a, "points", "a0");
	expect_free(a, "points", "a1");
	expect_free(a, "points", "a2");
	wsc_free(w);
}
END_TEST

START_TEST(test_disconnect_mid_request_cancels_it)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *a = session(w), *b = session(w);
	double t0, dt;

	frame(a, "f1");
	frame(b, "f1");
	wsc_send_text(a, "{\"type\":\"point\",\"id\":\"long\",\"frame\":\"f1\","
	                 "\"target\":\"sleep=3000\"}");
	wsc_service(w, 150);
	wsc_drop(a);
	wsc_service(w, 50);
	t0 = clock_ms();
	still_works(b);
	dt = clock_ms() - t0;
	/* Without cancellation b would wait for the rest of a's 3 s. */
	ck_assert_msg(dt < 2000, "b waited %.0f ms behind a dropped request",
	              dt);
	wsc_free(w);
}
END_TEST

START_TEST(test_client_that_never_reads)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *a = session(w), *b = session(w);
	char body[4096];
	double t0;
	int i;

	frame(a, "f1");
	frame(b, "f1");
	wsc_stall(a);
	for (i = 0; i < 400; i++) {
		wsc_sendf(a,
		          "{\"type\":\"frame\",\"id\":\"x%d\",\"format\":"
		          "\"png\"}",
		          i % 4);
		wsc_send_bin(a, png, png_len);
	}
	wsc_service(w, 500);
	t0 = clock_ms();
	ck_assert_int_eq(wsc_http(port, "GET", "/healthz", NULL, 0, body,
	                          sizeof(body), 5000),
	                 200);
	ck_assert(clock_ms() - t0 < 3000);
	still_works(b);
	wsc_drop(a);
	wsc_free(w);
}
END_TEST

START_TEST(test_bye_closes_the_session)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c = session(w);

	wsc_send_text(c, "{\"type\":\"bye\"}");
	expect_free(c, "bye", NULL);
	wsc_service(w, 300);
	ck_assert(wsc_closed(c));
	wsc_free(w);
}
END_TEST

/* A multipart/form-data body with the given fields and the PNG. */
static char *
form_body(bool with_image, size_t *len)
{
	static const char *b = "----pointdtestboundary";
	size_t cap = png_len + 1024, n;
	char *p = malloc(cap);

	n = (size_t)snprintf(p, cap,
	                     "--%s\r\nContent-Disposition: form-data; "
	                     "name=\"target\"\r\n\r\nthe logo\r\n"
	                     "--%s\r\nContent-Disposition: form-data; "
	                     "name=\"dpr\"\r\n\r\n2\r\n",
	                     b, b);
	if (with_image) {
		n += (size_t)snprintf(p + n, cap - n,
		                      "--%s\r\nContent-Disposition: form-data; "
		                      "name=\"image\"; filename=\"s.png\"\r\n"
		                      "Content-Type: image/png\r\n\r\n",
		                      b);
		memcpy(p + n, png, png_len);
		n += png_len;
		n += (size_t)snprintf(p + n, cap - n, "\r\n");
	}
	n += (size_t)snprintf(p + n, cap - n, "--%s--\r\n", b);
	*len = n;
	return p;
}

START_TEST(test_http_one_shot_point)
{
	static const char *auth = "Authorization: Bearer " TOKEN "\r\n";
	static const char *mp = "Authorization: Bearer " TOKEN "\r\n"
	                        "Content-Type: multipart/form-data; "
	                        "boundary=----pointdtestboundary\r\n";
	char *body = malloc(65536), *req, *b64;
	json_t *j, *p;
	size_t n;
	int st;

	b64 = malloc(b64_encoded_len(png_len) + 1);
	b64_encode(b64, png, png_len);
	n = strlen(b64) + 200;
	req = malloc(n);
	snprintf(req, n,
	         "{\"image\":\"%s\",\"target\":\"the logo\","
	         "\"dpr\":2}",
	         b64);
	/* No token: 401, whatever the body. */
	st = wsc_http(port, "POST", "/v1/point", req, strlen(req), body, 65536,
	              5000);
	ck_assert_int_eq(st, 401);
	ck_assert_ptr_nonnull(strstr(body, "unauthorized"));
	ck_assert_int_eq(
	    wsc_http(port, "POST", "/v1/point", "{bad", 4, body, 65536, 5000),
	    401);
	/* JSON with the token: the points object. */
	st = wsc_http_h(port, "POST", "/v1/point", auth, req, strlen(req), body,
	                65536, 5000);
	ck_assert_int_eq(st, 200);
	j = json_loads(body, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
	                 "points");
	p = json_array_get(json_object_get(j, "points"), 0);
	ck_assert_double_eq_tol(json_number_value(json_object_get(p, "css_x")),
	                        50.0, 1e-6);
	json_decref(j);
	ck_assert_int_eq(wsc_http_h(port, "POST", "/v1/point", auth, "{bad", 4,
	                            body, 65536, 5000),
	                 400);
	ck_assert_ptr_nonnull(strstr(body, "bad_json"));
	free(req);
	free(b64);
	/* multipart/form-data with the image as a file part. */
	req = form_body(true, &n);
	st = wsc_http_h(port, "POST", "/v1/point", mp, req, n, body, 65536,
	                5000);
	ck_assert_msg(st == 200, "multipart: %d %s", st, body);
	j = json_loads(body, 0, NULL);
	p = json_array_get(json_object_get(j, "points"), 0);
	ck_assert_double_eq_tol(json_number_value(json_object_get(p, "x")),
	                        100.0, 1e-6);
	ck_assert_double_eq_tol(json_number_value(json_object_get(p, "css_x")),
	                        50.0, 1e-6);
	json_decref(j);
	free(req);
	req = form_body(false, &n);
	st = wsc_http_h(port, "POST", "/v1/point", mp, req, n, body, 65536,
	                5000);
	ck_assert_int_eq(st, 400);
	ck_assert_ptr_nonnull(strstr(body, "image"));
	free(req);
	free(body);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("pointd_proto");
	TCase *tc = tcase_create("ws");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_healthz_and_metrics_answer);
	tcase_add_test(tc, test_unauthorized_until_hello_with_token);
	tcase_add_test(tc, test_bearer_header_authorizes_hello);
	tcase_add_test(tc, test_websocket_needs_path_and_subprotocol);
	tcase_add_test(tc, test_json_errors_keep_the_session);
	tcase_add_test(tc, test_bad_images_give_clear_errors);
	tcase_add_test(tc, test_oversized_messages_are_dropped);
	tcase_add_test(tc, test_busy_timeout_cancel_internal);
	tcase_add_test(tc, test_fifty_concurrent_sessions);
	tcase_add_test(tc, test_sessions_take_turns);
	tcase_add_test(tc, test_disconnect_mid_request_cancels_it);
	tcase_add_test(tc, test_client_that_never_reads);
	tcase_add_test(tc, test_bye_closes_the_session);
	tcase_add_test(tc, test_http_one_shot_point);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *p = getenv("POINTD_PORT");
	SRunner *sr;
	int failed;

	if (p == NULL) {
		fprintf(stderr, "test_pointd_proto: run through "
		                "test_pointd_proto.sh (POINTD_PORT unset)\n");
		return 99;
	}
	port = (int)strtol(p, NULL, 10);
	png = tu_read_file(tu_shared("golden/images/small_200x150.png"),
	                   &png_len);
	sr = srunner_create(suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(png);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
