/* SPDX-License-Identifier: ISC */
/* test_daemon_conf.c: daemon/conf (pointd.conf parsing, checks, reload,
 * tokens) and the documentation of every directive. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "tests/tools/testutil.h"

/* Parse text and check; returns 0 or -1 with e set. */
static int
load(struct conf *c, const char *text, struct err *e)
{
	conf_defaults(c);
	if (conf_parse(c, "t.conf", text, e) == -1)
		return -1;
	return conf_check(c, e);
}

START_TEST(test_conf_defaults_are_valid_and_in_range)
{
	struct conf c;
	struct err e;
	size_t i;

	ck_assert_int_eq(load(&c, "", &e), 0);
	ck_assert_str_eq(c.listen_host, "127.0.0.1");
	ck_assert_int_eq(c.listen_port, 7755);
	ck_assert_int_eq(c.tokens.n, 0);
	ck_assert_int_eq(c.max_image_bytes, 10 * 1024 * 1024);
	for (i = 0; i < conf_n_directives; i++) {
		const struct conf_directive *d = &conf_directives[i];

		ck_assert_ptr_nonnull(d->help);
		if (d->type == CONF_INT || d->type == CONF_SIZE)
			ck_assert(d->min <= d->max);
	}
	conf_fini(&c);
}
END_TEST

START_TEST(test_conf_parses_every_type)
{
	struct conf c;
	struct err e;

	ck_assert_int_eq(load(&c,
	                      "# comment\n"
	                      "  listen [::1]:9000   # trailing comment\n"
	                      "token aaaaaaaaaaaaaaaa\r\n"
	                      "token bbbbbbbbbbbbbbbb\n"
	                      "\n"
	                      "max_image_bytes 2M\n"
	                      "max_text_bytes 8K\n"
	                      "model \"/path with spaces/m\"\n"
	                      "log_level debug\n"
	                      "threads 8\n",
	                      &e),
	                 0);
	ck_assert_str_eq(c.listen_host, "::1");
	ck_assert_int_eq(c.listen_port, 9000);
	ck_assert_int_eq(c.tokens.n, 2);
	ck_assert_str_eq(c.tokens.v[1], "bbbbbbbbbbbbbbbb");
	ck_assert_int_eq(c.max_image_bytes, 2 * 1024 * 1024);
	ck_assert_int_eq(c.max_text_bytes, 8192);
	ck_assert_str_eq(c.model, "/path with spaces/m");
	ck_assert_str_eq(c.log_level, "debug");
	ck_assert_int_eq(c.threads, 8);
	conf_fini(&c);
}
END_TEST

/* Expect text to fail with a message containing want. */
static void
bad(const char *text, const char *want)
{
	struct conf c;
	struct err e;

	e.msg[0] = '\0';
	ck_assert_int_eq(load(&c, text, &e), -1);
	ck_assert_msg(strstr(e.msg, want) != NULL, "\"%s\" lacks \"%s\"", e.msg,
	              want);
	conf_fini(&c);
}

START_TEST(test_conf_errors_name_file_and_line)
{
	bad("threads 2\nbogus 1\n", "t.conf:2: unknown directive \"bogus\"");
	bad("threads x\n", "t.conf:1: threads: \"x\" is invalid");
	bad("threads 5000\n", "too large");
	bad("threads\n", "t.conf:1: threads: missing value");
	bad("model a b\n", "one value expected");
	bad("model \"open\n", "unterminated quote");
	bad("log_level loud\n", "not a known value");
	bad("max_pixels 0\n", "out of range");
	bad("max_image_bytes 99999999999999999999G\n", "invalid size");
	bad("listen 127.0.0.1\n", "is not ADDR:PORT");
	bad("listen 127.0.0.1:0\n", "port \"0\" is too small");
	bad("listen 10.0.0.1:80\n", "token is required");
	bad("token short\n", "shorter than 16 bytes");
	bad("tls_key /k.pem\n", "must be given together");
	bad("max_message_bytes 64K\n", "exceeds max_message_bytes");
	bad("threads 1\nthreads 2\n", "t.conf:2: threads given twice");
}
END_TEST

START_TEST(test_conf_rejects_long_lines)
{
	char *s = malloc(CONF_LINE_MAX + 64);

	memcpy(s, "model ", 6);
	memset(s + 6, 'x', CONF_LINE_MAX + 10);
	s[CONF_LINE_MAX + 16] = '\0';
	bad(s, "longer than");
	free(s);
}
END_TEST

START_TEST(test_conf_reload_copies_only_reloadable)
{
	struct conf a, b;
	struct err e;

	ck_assert_int_eq(load(&a, "token aaaaaaaaaaaaaaaa\nthreads 2\n", &e),
	                 0);
	ck_assert_int_eq(load(&b,
	                      "token cccccccccccccccc\nthreads 4\n"
	                      "max_inflight 9\nlisten 127.0.0.1:1\n",
	                      &e),
	                 0);
	ck_assert_int_eq(conf_reload(&a, &b), 2);
	ck_assert_str_eq(a.tokens.v[0], "cccccccccccccccc");
	ck_assert_int_eq(a.max_inflight, 9);
	ck_assert_int_eq(a.threads, 2);
	ck_assert_int_eq(a.listen_port, 7755);
	ck_assert_int_eq(conf_reload(&a, &b), 0);
	conf_fini(&a);
	conf_fini(&b);
}
END_TEST

START_TEST(test_conf_tokens_match_exactly)
{
	struct conf c;
	struct err e;

	ck_assert_int_eq(load(&c, "", &e), 0);
	ck_assert(conf_token_ok(&c, NULL));
	ck_assert(conf_token_ok(&c, "anything"));
	conf_fini(&c);
	ck_assert_int_eq(load(&c,
	                      "token aaaaaaaaaaaaaaaa\n"
	                      "token bbbbbbbbbbbbbbbb\n",
	                      &e),
	                 0);
	ck_assert(conf_token_ok(&c, "aaaaaaaaaaaaaaaa"));
	ck_assert(conf_token_ok(&c, "bbbbbbbbbbbbbbbb"));
	ck_assert(!conf_token_ok(&c, NULL));
	ck_assert(!conf_token_ok(&c, ""));
	ck_assert(!conf_token_ok(&c, "aaaaaaaaaaaaaaa"));
	ck_assert(!conf_token_ok(&c, "aaaaaaaaaaaaaaaab"));
	ck_assert(!conf_token_ok(&c, "aaaaaaaaaaaaaaab"));
	conf_fini(&c);
}
END_TEST

START_TEST(test_conf_print_hides_tokens)
{
	struct conf c;
	struct err e;
	char *out = NULL;
	size_t n = 0;
	FILE *f;

	ck_assert_int_eq(load(&c, "token aaaaaaaaaaaaaaaa\n", &e), 0);
	f = open_memstream(&out, &n);
	conf_print(&c, f);
	fclose(f);
	ck_assert_ptr_null(strstr(out, "aaaaaaaaaaaaaaaa"));
	ck_assert_ptr_nonnull(strstr(out, "token (hidden)"));
	ck_assert_ptr_nonnull(strstr(out, "listen 127.0.0.1:7755\n"));
	free(out);
	conf_fini(&c);
}
END_TEST

START_TEST(test_every_directive_is_documented)
{
	char *sample, *man, key[80];
	size_t i, n;

	sample = tu_read_file(tu_srcpath("etc/pointd.conf"), &n);
	man = tu_read_file(tu_srcpath("man/pointd.conf.5"), &n);
	for (i = 0; i < conf_n_directives; i++) {
		const char *name = conf_directives[i].name;

		snprintf(key, sizeof(key), "#%s ", name);
		ck_assert_msg(strstr(sample, key) != NULL,
		              "etc/pointd.conf lacks \"%s\"", key);
		snprintf(key, sizeof(key), ".It Ic %s", name);
		ck_assert_msg(strstr(man, key) != NULL,
		              "man/pointd.conf.5 lacks \"%s\"", key);
	}
	free(sample);
	free(man);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("daemon_conf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_conf_defaults_are_valid_and_in_range);
	tcase_add_test(tc, test_conf_parses_every_type);
	tcase_add_test(tc, test_conf_errors_name_file_and_line);
	tcase_add_test(tc, test_conf_rejects_long_lines);
	tcase_add_test(tc, test_conf_reload_copies_only_reloadable);
	tcase_add_test(tc, test_conf_tokens_match_exactly);
	tcase_add_test(tc, test_conf_print_hides_tokens);
	tcase_add_test(tc, test_every_directive_is_documented);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
