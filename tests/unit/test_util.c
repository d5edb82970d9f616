/* SPDX-License-Identifier: ISC */
/* test_util.c: util/ (buf, str, err, queue). */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/file.h"
#include "util/queue.h"
#include "util/sha256.h"
#include "util/str.h"

START_TEST(test_buf_frees_itself_past_cap)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_append(&b, "abcd", 4), 0);
	ck_assert_int_eq(buf_printf(&b, "%d", 123), 0);
	ck_assert_str_eq(b.data, "abcd123");
	ck_assert_int_eq(buf_append(&b, "xy", 2), -1);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	buf_fini(&b);
}
END_TEST

START_TEST(test_buf_steal_gives_terminated_data)
{
	struct buf b;
	size_t n;
	char *p;

	buf_init(&b, 100);
	p = buf_steal(&b, &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(p, "");
	free(p);
}
END_TEST

START_TEST(test_str_to_ll_reports_range)
{
	long long v;
	const char *es;

	ck_assert_int_eq(str_to_ll("42", 0, 100, &v, &es), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(str_to_ll("101", 0, 100, &v, &es), -1);
	ck_assert_str_eq(es, "too large");
	ck_assert_int_eq(str_to_ll("-1", 0, 100, &v, &es), -1);
	ck_assert_str_eq(es, "too small");
	ck_assert_int_eq(str_to_ll("4x", 0, 100, &v, &es), -1);
	ck_assert_str_eq(es, "invalid");
	ck_assert_int_eq(str_to_ll("", 0, 100, &v, &es), -1);
	ck_assert_int_eq(str_to_ll("99999999999999999999999", 0, 100, &v, &es),
	                 -1);
}
END_TEST

START_TEST(test_str_copy_truncates)
{
	char b[4];

	ck_assert_uint_eq(str_copy(b, "hello", sizeof(b)), 5);
	ck_assert_str_eq(b, "hel");
	ck_assert(str_has_suffix("a.json", ".json"));
	ck_assert(!str_has_suffix("json", ".json"));
}
END_TEST

START_TEST(test_err_set_and_prefix)
{
	struct err e;

	ck_assert_int_eq(err_set(&e, "tensor %s missing", "x"), -1);
	ck_assert_int_eq(err_prefix(&e, "%s", "model.safetensors"), -1);
	ck_assert_str_eq(e.msg, "model.safetensors: tensor x missing");
	ck_assert_int_eq(err_set(NULL, "ignored"), -1);
}
END_TEST

static void *
producer(void *arg)
{
	struct queue *q = arg;
	intptr_t i;

	for (i = 1; i <= 1000; i++)
		queue_push(q, (void *)i);
	return NULL;
}

START_TEST(test_queue_is_fifo_across_threads)
{
	struct queue *q = queue_new();
	pthread_t t;
	intptr_t i, v;

	pthread_create(&t, NULL, producer, q);
	for (i = 1; i <= 1000; i++) {
		v = (intptr_t)queue_pop(q);
		ck_assert_int_eq(v, i);
	}
	pthread_join(t, NULL);
	queue_close(q);
	ck_assert_ptr_null(queue_pop(q));
	ck_assert_int_eq(queue_push(q, (void *)1), -1);
	queue_free(q, NULL);
}
END_TEST

START_TEST(test_sha256_known_vectors)
{
	char hex[SHA256_HEX_LEN];
	struct sha256 c;
	uint8_t d[SHA256_LEN], d2[SHA256_LEN];
	static const char million_a[] =
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	char block[1001];
	int i;

	sha256_hex("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	                      "27ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
	                      "b00361a396177a9cb410ff61f20015ad");
	/* One million 'a' fed in uneven pieces equals the standard vector. */
	memset(block, 'a', sizeof(block));
	sha256_init(&c);
	for (i = 0; i < 1000; i++)
		sha256_update(&c, block, i % 2 == 0 ? 999 : 1001);
	sha256_final(&c, d);
	{
		char h2[SHA256_HEX_LEN];
		static const char *digits = "0123456789abcdef";

		for (i = 0; i < SHA256_LEN; i++) {
			h2[2 * i] = digits[d[i] >> 4];
			h2[2 * i + 1] = digits[d[i] & 15];
		}
		h2[2 * SHA256_LEN] = '\0';
		ck_assert_str_eq(h2, million_a);
	}
	sha256("abc", 3, d2);
	ck_assert_uint_eq(d2[0], 0xba);
}
END_TEST

START_TEST(test_file_read_caps_and_terminates)
{
	char path[] = "/tmp/pointd-test-file.XXXXXX";
	struct err e;
	size_t len;
	char *p;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "hello", 5), 5);
	close(fd);
	p = file_read(path, 5, &len, &e);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(p, "hello");
	free(p);
	ck_assert_ptr_null(file_read(path, 4, &len, &e));
	ck_assert(strstr(e.msg, "larger than 4 bytes") != NULL);
	unlink(path);
	ck_assert_ptr_null(file_read(path, 100, &len, &e));
	ck_assert(strstr(e.msg, path) != NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, test_buf_frees_itself_past_cap);
	tcase_add_test(tc, test_buf_steal_gives_terminated_data);
	tcase_add_test(tc, test_str_to_ll_reports_range);
	tcase_add_test(tc, test_str_copy_truncates);
	tcase_add_test(tc, test_err_set_and_prefix);
	tcase_add_test(tc, test_queue_is_fifo_across_threads);
	tcase_add_test(tc, test_sha256_known_vectors);
	tcase_add_test(tc, test_file_read_caps_and_terminates);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
