/* SPDX-License-Identifier: ISC */
/* test_protocol_api.c: protocol/api (decoding, encoding, tables) and
 * util/b64. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol/api.h"
#include "util/b64.h"

static const struct api_limits lim = {4096, 1 << 20};

/* Decode a NUL-terminated message; returns the decode result. */
static int
dec(struct api_request *r, const char *msg, enum api_error *code)
{
	struct err e;

	return api_decode(r, msg, strlen(msg), &lim, code, &e);
}

START_TEST(test_api_decodes_hello)
{
	struct api_request r;
	enum api_error code;

	ck_assert_int_eq(
	    dec(&r,
	        "{\"type\":\"hello\",\"protocol\":1,"
	        "\"token\":\"sekrit-sekrit-sekrit\",\"client\":\"t/1\","
	        "\"session\":\"lbl\"}",
	        &code),
	    0);
	ck_assert_int_eq(r.type, API_HELLO);
	ck_assert_str_eq(r.token, "sekrit-sekrit-sekrit");
	ck_assert_str_eq(r.client, "t/1");
	ck_assert_str_eq(r.session, "lbl");
	api_request_fini(&r);
}
END_TEST

START_TEST(test_api_rejects_wrong_protocol)
{
	struct api_request r;
	enum api_error code;

	ck_assert_int_eq(dec(&r, "{\"type\":\"hello\",\"protocol\":2}", &code),
	                 -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r, "{\"type\":\"hello\"}", &code), -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	api_request_fini(&r);
}
END_TEST

START_TEST(test_api_decodes_point_and_echoes_id_on_error)
{
	struct api_request r;
	enum api_error code;

	ck_assert_int_eq(
	    dec(&r,
	        "{\"type\":\"point\",\"id\":\"q1\","
	        "\"frame\":\"f1\",\"target\":\"the button\",\"max_points\":3}",
	        &code),
	    0);
	ck_assert_int_eq(r.type, API_POINT);
	ck_assert_str_eq(r.id, "q1");
	ck_assert_str_eq(r.frame, "f1");
	ck_assert_str_eq(r.text, "the button");
	ck_assert_int_eq(r.max_points, 3);
	api_request_fini(&r);
	/* Missing target: error, but the id is known. */
	ck_assert_int_eq(dec(&r,
	                     "{\"type\":\"point\",\"id\":\"q2\","
	                     "\"frame\":\"f1\"}",
	                     &code),
	                 -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	ck_assert_str_eq(r.id, "q2");
	api_request_fini(&r);
	ck_assert_int_eq(
	    dec(&r,
	        "{\"type\":\"point\",\"id\":\"q3\","
	        "\"frame\":\"f1\",\"target\":\"x\",\"max_points\":1000}",
	        &code),
	    -1);
	ck_assert_str_eq(r.id, "q3");
	api_request_fini(&r);
}
END_TEST

START_TEST(test_api_classifies_bad_messages)
{
	struct api_request r;
	enum api_error code;
	const char bad_utf8[] = "{\"type\":\"hello\",\"client\":\"\xff\xfe\"}";

	ck_assert_int_eq(dec(&r, "{not json", &code), -1);
	ck_assert_int_eq(code, API_ERR_BAD_JSON);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r, bad_utf8, &code), -1);
	ck_assert_int_eq(code, API_ERR_BAD_JSON);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r, "[1,2]", &code), -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r, "{\"type\":\"fly\",\"id\":\"z\"}", &code), -1);
	ck_assert_int_eq(code, API_ERR_UNKNOWN_TYPE);
	ck_assert_str_eq(r.id, "z");
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r, "{\"type\":\"bye\",\"type\":\"bye\"}", &code),
	                 -1);
	ck_assert_int_eq(code, API_ERR_BAD_JSON);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r, "{\"type\":\"cancel\",\"id\":7}", &code), -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	api_request_fini(&r);
}
END_TEST

START_TEST(test_api_rejects_text_over_limit)
{
	struct api_request r;
	enum api_error code;
	size_t n = 10000, i;
	char *msg = malloc(n + 100);

	i = (size_t)snprintf(msg, 100,
	                     "{\"type\":\"ask\",\"id\":\"a\","
	                     "\"frame\":\"f\",\"prompt\":\"");
	memset(msg + i, 'x', n);
	memcpy(msg + i + n, "\"}", 3);
	ck_assert_int_eq(dec(&r, msg, &code), -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	api_request_fini(&r);
	free(msg);
}
END_TEST

START_TEST(test_api_decodes_inline_frame)
{
	struct api_request r;
	enum api_error code;

	ck_assert_int_eq(
	    dec(&r,
	        "{\"type\":\"frame\",\"id\":\"f1\","
	        "\"format\":\"png\",\"dpr\":2,\"data\":\"aGVsbG8=\"}",
	        &code),
	    0);
	ck_assert_int_eq(r.format, API_FMT_PNG);
	ck_assert(r.has_data);
	ck_assert_uint_eq(r.data_len, 5);
	ck_assert_mem_eq(r.data, "hello", 5);
	ck_assert(r.dpr == 2.0);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r,
	                     "{\"type\":\"frame\",\"id\":\"f1\","
	                     "\"format\":\"gif\"}",
	                     &code),
	                 -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r,
	                     "{\"type\":\"frame\",\"id\":\"f1\","
	                     "\"format\":\"png\",\"dpr\":0}",
	                     &code),
	                 -1);
	api_request_fini(&r);
	ck_assert_int_eq(dec(&r,
	                     "{\"type\":\"frame\",\"id\":\"f1\","
	                     "\"format\":\"png\",\"data\":\"a$==\"}",
	                     &code),
	                 -1);
	ck_assert_int_eq(code, API_ERR_BAD_REQUEST);
	api_request_fini(&r);
}
END_TEST

START_TEST(test_api_inline_image_over_limit)
{
	struct api_limits small = {4096, 4};
	struct api_request r;
	enum api_error code;
	struct err e;
	const char *m = "{\"type\":\"frame\",\"id\":\"f1\",\"format\":\"png\","
	                "\"data\":\"aGVsbG8gd29ybGQ=\"}";

	ck_assert_int_eq(api_decode(&r, m, strlen(m), &small, &code, &e), -1);
	ck_assert_int_eq(code, API_ERR_IMAGE_TOO_LARGE);
	api_request_fini(&r);
}
END_TEST

START_TEST(test_api_encodes_points_with_derived_coordinates)
{
	struct api_point pt = {612.5, 344.0, "btn"};
	struct api_result res;
	json_t *o, *p;
	size_t len;
	char *s;

	memset(&res, 0, sizeof(res));
	res.id = "q1";
	res.frame = "f1";
	res.width = 1280;
	res.height = 720;
	res.dpr = 2;
	res.points = &pt;
	res.n_points = 1;
	res.raw = "<point x=\"47.9\" y=\"47.8\">btn</point>";
	res.model = "m";
	s = api_encode_points(16, &res, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s + 16), len);
	o = json_loads(s + 16, 0, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")),
	                 "points");
	ck_assert(json_is_false(json_object_get(o, "none")));
	p = json_array_get(json_object_get(o, "points"), 0);
	ck_assert_double_eq_tol(json_real_value(json_object_get(p, "x")), 612.5,
	                        1e-9);
	ck_assert_double_eq_tol(json_real_value(json_object_get(p, "nx")),
	                        0.4785, 1e-9);
	ck_assert_double_eq_tol(json_real_value(json_object_get(p, "css_x")),
	                        306.25, 1e-9);
	ck_assert_double_eq_tol(json_real_value(json_object_get(p, "css_y")),
	                        172.0, 1e-9);
	json_decref(o);
	free(s);
	res.n_points = 0;
	res.none = true;
	s = api_encode_points(0, &res, &len);
	o = json_loads(s, 0, NULL);
	ck_assert(json_is_true(json_object_get(o, "none")));
	ck_assert_uint_eq(json_array_size(json_object_get(o, "points")), 0);
	json_decref(o);
	free(s);
}
END_TEST

START_TEST(test_api_encodes_error_with_null_id)
{
	json_t *o;
	size_t len;
	char *s;

	s = api_encode_error(0, NULL, API_ERR_BUSY, "full", 250, &len);
	o = json_loads(s, 0, NULL);
	ck_assert(json_is_null(json_object_get(o, "id")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "code")), "busy");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(o, "retry_after_ms")), 250);
	json_decref(o);
	free(s);
}
END_TEST

START_TEST(test_api_request_round_trips)
{
	struct api_request in, out;
	enum api_error code;
	struct err e;
	size_t len;
	char *s;

	memset(&in, 0, sizeof(in));
	in.type = API_FRAME;
	memcpy(in.id, "f9", 3);
	in.format = API_FMT_JPEG;
	in.dpr = 1.5;
	in.data = (uint8_t *)"\x00\x01\x02\xff";
	in.data_len = 4;
	in.has_data = true;
	s = api_encode_request(8, &in, &len);
	ck_assert_int_eq(api_decode(&out, s + 8, len, &lim, &code, &e), 0);
	ck_assert_int_eq(out.type, API_FRAME);
	ck_assert_str_eq(out.id, "f9");
	ck_assert_int_eq(out.format, API_FMT_JPEG);
	ck_assert_uint_eq(out.data_len, 4);
	ck_assert_mem_eq(out.data, "\x00\x01\x02\xff", 4);
	api_request_fini(&out);
	free(s);
}
END_TEST

START_TEST(test_api_tables_are_complete)
{
	int i;

	for (i = 0; i < API_TYPE_COUNT; i++)
		ck_assert_ptr_nonnull(api_types[i].name);
	for (i = 0; i < API_ERR_COUNT; i++) {
		ck_assert_ptr_nonnull(api_errors[i].code);
		ck_assert_str_eq(api_error_code((enum api_error)i),
		                 api_errors[i].code);
	}
	ck_assert_str_eq(api_error_code(API_ERR_UNKNOWN_FRAME),
	                 "unknown_frame");
}
END_TEST

START_TEST(test_b64_round_trips_every_length)
{
	unsigned char src[64], back[64];
	char enc[100];
	size_t n, i;
	ssize_t got;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 37 + 11);
	for (n = 0; n <= sizeof(src); n++) {
		b64_encode(enc, src, n);
		ck_assert_uint_eq(strlen(enc), b64_encoded_len(n));
		got = b64_decode(back, sizeof(back), enc, strlen(enc));
		ck_assert_int_eq(got, (ssize_t)n);
		ck_assert(memcmp(src, back, n) == 0);
	}
	b64_encode(enc, "foobar", 6);
	ck_assert_str_eq(enc, "Zm9vYmFy");
	b64_encode(enc, "fo", 2);
	ck_assert_str_eq(enc, "Zm8=");
}
END_TEST

START_TEST(test_b64_rejects_bad_input)
{
	unsigned char out[16];

	ck_assert_int_eq(b64_decode(out, sizeof(out), "Zm8", 3), -1);
	ck_assert_int_eq(b64_decode(out, sizeof(out), "Z=8=", 4), -1);
	ck_assert_int_eq(b64_decode(out, sizeof(out), "Zm8=Zm8=", 8), -1);
	ck_assert_int_eq(b64_decode(out, sizeof(out), "Zm 8", 4), -1);
	ck_assert_int_eq(b64_decode(out, 1, "Zm9v", 4), -1);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("protocol_api");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_api_decodes_hello);
	tcase_add_test(tc, test_api_rejects_wrong_protocol);
	tcase_add_test(tc, test_api_decodes_point_and_echoes_id_on_error);
	tcase_add_test(tc, test_api_classifies_bad_messages);
	tcase_add_test(tc, test_api_rejects_text_over_limit);
	tcase_add_test(tc, test_api_decodes_inline_frame);
	tcase_add_test(tc, test_api_inline_image_over_limit);
	tcase_add_test(tc, test_api_encodes_points_with_derived_coordinates);
	tcase_add_test(tc, test_api_encodes_error_with_null_id);
	tcase_add_test(tc, test_api_request_round_trips);
	tcase_add_test(tc, test_api_tables_are_complete);
	tcase_add_test(tc, test_b64_round_trips_every_length);
	tcase_add_test(tc, test_b64_rejects_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
