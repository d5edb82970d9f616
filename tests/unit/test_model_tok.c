/* SPDX-License-Identifier: ISC */
/*
 * test_model_tok.c: the tokenizer against the reference.  Every case of
 * ../shared/tokenizer/golden (Hugging Face tokenizers output for the Qwen2,
 * Molmo-7B-D, dolma2 and OLMoE tokenizer.json files, and llama.cpp's Qwen2
 * vectors) and every tokenizer_cases.json of the golden checkpoints
 * (transformers' slow tokenizers on vocab.json + merges.txt) must match
 * exactly: ids, decoded text, vocabulary size and special ids.  Also NFC
 * details, error paths for bad files and input, and sharing across threads.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "model/tok.h"
#include "model/tok_impl.h"
#include "tests/tools/testutil.h"
#include "util/buf.h"
#include "util/err.h"

static struct tok *
open_or_fail(const char *path)
{
	struct err e;
	struct tok *t = tok_open(path, &e);

	if (t == NULL)
		ck_abort_msg("tok_open %s: %s", path, e.msg);
	return t;
}

/* Call fn on each JSON line of the file; returns the number of lines. */
static size_t
each_line(const char *path, void (*fn)(json_t *, void *), void *arg)
{
	size_t len, n = 0;
	char *data = tu_read_file(path, &len);
	char *p = data, *end = data + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = (nl ? nl : end) - p;
		json_error_t jerr;
		json_t *j;

		if (ll > 0) {
			j = json_loadb(p, ll, JSON_ALLOW_NUL, &jerr);
			ck_assert_msg(j != NULL, "%s: %s", path, jerr.text);
			fn(j, arg);
			json_decref(j);
			n++;
		}
		p += ll + 1;
	}
	free(data);
	return n;
}

struct tally {
	struct tok *t;
	size_t cases, bad;
	const char *name;
};

static bool
ids_equal(json_t *want, const int32_t *ids, ssize_t n)
{
	size_t i;

	if (n < 0 || (size_t)n != json_array_size(want))
		return false;
	for (i = 0; i < (size_t)n; i++) {
		if (json_integer_value(json_array_get(want, i)) != ids[i])
			return false;
	}
	return true;
}

static void
check_encode(json_t *j, void *arg)
{
	struct tally *ta = arg;
	json_t *text = json_object_get(j, "text");
	struct err e;
	int32_t *ids;
	ssize_t n;

	n = tok_encode_alloc(ta->t, json_string_value(text),
	                     json_string_length(text), &ids, &e);
	ta->cases++;
	if (!ids_equal(json_object_get(j, "ids"), ids, n)) {
		if (ta->bad++ < 5) {
			char *s = json_dumps(j, JSON_COMPACT);
			ssize_t i;

			fprintf(stderr, "%s: mismatch on %s\n  got", ta->name,
			        s);
			for (i = 0; i < n; i++)
				fprintf(stderr, " %d", (int)ids[i]);
			fprintf(stderr, "%s\n", n < 0 ? e.msg : "");
			free(s);
		}
	}
	free(ids);
}

static void
check_decode(json_t *j, void *arg)
{
	struct tally *ta = arg;
	json_t *jids = json_object_get(j, "ids");
	json_t *want = json_object_get(j, "text");
	int32_t ids[4096];
	size_t i, n = json_array_size(jids);
	struct buf out;
	struct err e;
	int flags = json_is_true(json_object_get(j, "skip_special_tokens"))
	                ? TOK_SKIP_SPECIAL
	                : 0;

	ck_assert_uint_lt(n, 4096);
	for (i = 0; i < n; i++)
		ids[i] = (int32_t)json_integer_value(json_array_get(jids, i));
	buf_init(&out, 1 << 20);
	ta->cases++;
	if (tok_decode(ta->t, ids, n, flags, &out, &e) == -1 ||
	    out.len != json_string_length(want) ||
	    (out.len > 0 &&
	     memcmp(out.data, json_string_value(want), out.len) != 0)) {
		if (ta->bad++ < 5) {
			char *s = json_dumps(j, JSON_COMPACT);

			fprintf(stderr,
			        "%s: decode mismatch on %s\n  got \"%.*s\"\n",
			        ta->name, s, (int)out.len,
			        out.data ? out.data : "");
			free(s);
		}
	}
	buf_fini(&out);
}

/* The four reference tokenizers, opened once in the parent process (an
 * unchecked fixture) because loading a 7 MB tokenizer.json takes a while;
 * the forked tests only read them. */
static struct tok *tk_qwen2, *tk_molmo, *tk_dolma2, *tk_olmoe;

static void
open_reference(void)
{
	tk_qwen2 = open_or_fail(tu_shared("tokenizer/qwen2-7b/tokenizer.json"));
	tk_molmo =
	    open_or_fail(tu_shared("tokenizer/molmo-7b-d/tokenizer.json"));
	tk_dolma2 = open_or_fail(tu_shared("tokenizer/dolma2/tokenizer.json"));
	tk_olmoe = open_or_fail(
	    tu_shared("tokenizer/olmoe-1b-7b-0924/tokenizer.json"));
}

static void
close_reference(void)
{
	tok_close(tk_qwen2);
	tok_close(tk_molmo);
	tok_close(tk_dolma2);
	tok_close(tk_olmoe);
}

static void
golden_file(struct tok *t, const char *tokdir, const char *file, bool decode)
{
	char rel[256];
	struct tally ta;
	size_t n;

	ta.t = t;
	ta.cases = ta.bad = 0;
	ta.name = file;
	snprintf(rel, sizeof(rel), "tokenizer/golden/%s", file);
	n = each_line(tu_shared(rel), decode ? check_decode : check_encode,
	              &ta);
	printf("%s with %s: %zu/%zu cases match\n", file, tokdir,
	       ta.cases - ta.bad, ta.cases);
	fflush(stdout);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(ta.bad, 0);
}

/* ---- Hugging Face tokenizers golden data ---- */

START_TEST(test_encode_matches_hf_qwen2)
{
	golden_file(tk_qwen2, "qwen2-7b", "qwen2-7b.encode.jsonl", false);
}
END_TEST

START_TEST(test_encode_matches_hf_molmo_7b_d)
{
	golden_file(tk_molmo, "molmo-7b-d", "molmo-7b-d.encode.jsonl", false);
}
END_TEST

START_TEST(test_encode_matches_hf_dolma2)
{
	golden_file(tk_dolma2, "dolma2", "dolma2.encode.jsonl", false);
}
END_TEST

START_TEST(test_encode_matches_hf_olmoe)
{
	golden_file(tk_olmoe, "olmoe-1b-7b-0924",
	            "olmoe-1b-7b-0924.encode.jsonl", false);
}
END_TEST

START_TEST(test_encode_matches_llamacpp_qwen2_vectors)
{
	golden_file(tk_qwen2, "qwen2-7b", "llamacpp-qwen2.encode.jsonl", false);
	golden_file(tk_molmo, "molmo-7b-d", "llamacpp-qwen2.encode.jsonl",
	            false);
}
END_TEST

START_TEST(test_decode_matches_hf_qwen2)
{
	golden_file(tk_qwen2, "qwen2-7b", "qwen2-7b.decode.jsonl", true);
}
END_TEST

START_TEST(test_decode_matches_hf_molmo_7b_d)
{
	golden_file(tk_molmo, "molmo-7b-d", "molmo-7b-d.decode.jsonl", true);
}
END_TEST

START_TEST(test_decode_matches_hf_dolma2)
{
	golden_file(tk_dolma2, "dolma2", "dolma2.decode.jsonl", true);
}
END_TEST

START_TEST(test_decode_matches_hf_olmoe)
{
	golden_file(tk_olmoe, "olmoe-1b-7b-0924",
	            "olmoe-1b-7b-0924.decode.jsonl", true);
}
END_TEST

START_TEST(test_molmo_ids_and_specials)
{
	struct tok *t = tk_molmo;

	ck_assert_int_eq(tok_n_vocab(t), 152069);
	ck_assert_int_eq(tok_id(t, "<im_start>"), 152064);
	ck_assert_int_eq(tok_id(t, "<im_end>"), 152065);
	ck_assert_int_eq(tok_id(t, "<im_patch>"), 152066);
	ck_assert_int_eq(tok_id(t, "<im_col>"), 152067);
	ck_assert_int_eq(tok_id(t, "<|image|>"), 152068);
	ck_assert_int_eq(tok_id(t, "<IM_PATCH>"), -1);
	ck_assert_int_eq(tok_eos(t), 151643);
	ck_assert_int_eq(tok_pad(t), 151643);
	ck_assert_int_eq(tok_bos(t), -1);
	ck_assert(tok_is_special(t, 152066));
	ck_assert(!tok_is_special(t, 9707));
	ck_assert_str_eq(tok_token(t, 9707), "Hello");
	ck_assert_ptr_null(tok_token(t, 152069));
}
END_TEST

/* ---- Golden checkpoints (slow tokenizer files) ---- */

static void
checkpoint_cases(const char *modeldir, const char *cases_rel)
{
	struct tok *t = open_or_fail(modeldir);
	size_t len, i, bad = 0, n;
	char *data = tu_read_file(tu_shared(cases_rel), &len);
	json_error_t jerr;
	json_t *root = json_loadb(data, len, JSON_ALLOW_NUL, &jerr);
	json_t *cases, *c, *bos;

	ck_assert_msg(root != NULL, "%s: %s", cases_rel, jerr.text);
	ck_assert_int_eq(tok_n_vocab(t),
	                 json_integer_value(json_object_get(root, "len")));
	ck_assert_int_eq(tok_eos(t), json_integer_value(json_object_get(
	                                 root, "eos_token_id")));
	bos = json_object_get(root, "bos_token_id");
	ck_assert_int_eq(tok_bos(t),
	                 json_is_null(bos) ? -1 : json_integer_value(bos));
	cases = json_object_get(root, "cases");
	n = json_array_size(cases);
	json_array_foreach(cases, i, c)
	{
		json_t *text = json_object_get(c, "text");
		json_t *dec = json_object_get(c, "decoded");
		int32_t *ids;
		struct buf out;
		struct err e;
		ssize_t k;
		bool ok;

		k = tok_encode_alloc(t, json_string_value(text),
		                     json_string_length(text), &ids, &e);
		ok = ids_equal(json_object_get(c, "ids"), ids, k);
		buf_init(&out, 1 << 20);
		if (ok && (tok_decode(t, ids, (size_t)k, 0, &out, &e) == -1 ||
		           out.len != json_string_length(dec) ||
		           (out.len > 0 &&
		            memcmp(out.data, json_string_value(dec), out.len))))
			ok = false;
		if (!ok && bad++ < 5)
			fprintf(stderr,
			        "%s: case %zu (%s) mismatch: got %zd ids, "
			        "decoded \"%.*s\"\n",
			        cases_rel, i, json_string_value(text), k,
			        (int)out.len, out.data ? out.data : "");
		buf_fini(&out);
		free(ids);
	}
	printf("%s: %zu/%zu cases match\n", cases_rel, n - bad, n);
	fflush(stdout);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(bad, 0);
	json_decref(root);
	free(data);
	tok_close(t);
}

START_TEST(test_tiny_qwen2_checkpoint_cases)
{
	char *dir = tu_shared_dup("golden/qwen2-tiny/model");

	checkpoint_cases(dir, "golden/qwen2-tiny/tokenizer_cases.json");
	free(dir);
}
END_TEST

START_TEST(test_tiny_olmo_checkpoint_cases)
{
	char *dir = tu_shared_dup("golden/olmo-tiny/model");

	checkpoint_cases(dir, "golden/olmo-tiny/tokenizer_cases.json");
	free(dir);
}
END_TEST

START_TEST(test_tiny_moe_checkpoint_cases)
{
	char *dir = tu_shared_dup("golden/moe-tiny/model");

	checkpoint_cases(dir, "golden/moe-tiny/tokenizer_cases.json");
	free(dir);
}
END_TEST

/* gunzip src into dst with gzip(1) (no zlib dependency). */
static void
gunzip(const char *src, const char *dst)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd == -1 || dup2(fd, 1) == -1)
			_exit(127);
		execlp("gzip", "gzip", "-dc", src, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "gzip -dc %s failed", src);
}

static void
copy_file(const char *src, const char *dst)
{
	size_t len;
	void *p = tu_read_file(src, &len);
	FILE *f = fopen(dst, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(p);
}

START_TEST(test_real_qwen2_slow_files_cases)
{
	static const char *plain[] = {"added_tokens.json",
	                              "tokenizer_config.json",
	                              "special_tokens_map.json"};
	char *tmp = tu_tmpdir();
	char src[4096], dst[4096];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(src, sizeof(src), "golden/tokenizer-qwen2-real/%s",
		         plain[i]);
		snprintf(dst, sizeof(dst), "%s/%s", tmp, plain[i]);
		copy_file(tu_shared(src), dst);
	}
	snprintf(dst, sizeof(dst), "%s/vocab.json", tmp);
	gunzip(tu_shared("golden/tokenizer-qwen2-real/vocab.json.gz"), dst);
	snprintf(dst, sizeof(dst), "%s/merges.txt", tmp);
	gunzip(tu_shared("golden/tokenizer-qwen2-real/merges.txt.gz"), dst);
	checkpoint_cases(tmp,
	                 "golden/tokenizer-qwen2-real/tokenizer_cases.json");
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

/* ---- NFC ---- */

static void
nfc_is(const char *in, const char *want)
{
	size_t n;
	char *out = tok_nfc(in, strlen(in), &n);

	if (out == NULL) {
		ck_assert_str_eq(in, want);
		return;
	}
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_mem_eq(out, want, n);
	free(out);
}

START_TEST(test_nfc_composes_reorders_and_keeps_nfc_text)
{
	nfc_is("cafe\xcc\x81", "caf\xc3\xa9");       /* e + acute */
	nfc_is("caf\xc3\xa9", "caf\xc3\xa9");        /* unchanged */
	nfc_is("e\xcc\x82\xcc\xa3", "\xe1\xbb\x87"); /* -> U+1EC7 */
	nfc_is("e\xcc\xa3\xcc\x82", "\xe1\xbb\x87"); /* same */
	nfc_is("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8",
	       "\xea\xb0\x81");                    /* jamo */
	nfc_is("\xe2\x84\xab", "\xc3\x85");        /* Angstrom */
	nfc_is("a\xcc\x8a\xcc\x81x", "\xc7\xbbx"); /* a ring acute */
	nfc_is("\xcc\x81"
	       "abc",
	       "\xcc\x81"
	       "abc");                                          /* lone mark */
	nfc_is("x\xe0\xa5\x98y", "x\xe0\xa4\x95\xe0\xa4\xbcy"); /* exclusion */
	nfc_is("plain ascii", "plain ascii");
	{
		/* A run of 20 marks (the counting sort): o + (acute, horn) x 10
		 * becomes U+1EDB, 9 horns, 9 acutes (Python's unicodedata). */
		char in[64], want[64];
		size_t i, n = 0, m = 0;

		in[n++] = 'o';
		for (i = 0; i < 10; i++) {
			memcpy(in + n, "\xcc\x81\xcc\x9b", 4);
			n += 4;
		}
		in[n++] = 'x';
		in[n] = '\0';
		memcpy(want, "\xe1\xbb\x9b", 3);
		m = 3;
		for (i = 0; i < 9; i++, m += 2)
			memcpy(want + m, "\xcc\x9b", 2);
		for (i = 0; i < 9; i++, m += 2)
			memcpy(want + m, "\xcc\x81", 2);
		want[m++] = 'x';
		want[m] = '\0';
		nfc_is(in, want);
	}
	ck_assert_str_eq(tok_unicode_version(), "14.0.0");
}
END_TEST

/* ---- Errors and API ---- */

START_TEST(test_open_rejects_bad_tokenizers)
{
	static const char *bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"model\": 1}",
	    "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
	    "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}}",
	    "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a "
	    "c\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", "
	    "\"add_prefix_space\": false}, \"decoder\": {\"type\": "
	    "\"ByteLevel\"}}",
	    "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, "
	    "\"normalizer\": {\"type\": \"NFKC\"}, \"pre_tokenizer\": "
	    "{\"type\": \"ByteLevel\", \"add_prefix_space\": false}, "
	    "\"decoder\": {\"type\": \"ByteLevel\"}}",
	    "{\"model\": {\"vocab\": {\"a\": -3}, \"merges\": []}, "
	    "\"pre_tokenizer\": {\"type\": \"ByteLevel\", "
	    "\"add_prefix_space\": false}, \"decoder\": {\"type\": "
	    "\"ByteLevel\"}}",
	    "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, "
	    "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": "
	    "[{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
	    "\"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", "
	    "\"add_prefix_space\": false}]}, \"decoder\": {\"type\": "
	    "\"ByteLevel\"}}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e;
		struct tok *t;

		e.msg[0] = '\0';
		t = tok_open_json(bad[i], strlen(bad[i]), &e);
		ck_assert_msg(t == NULL, "case %zu loaded", i);
		ck_assert_msg(e.msg[0] != '\0', "case %zu: no message", i);
	}
	{
		struct err e;

		ck_assert_ptr_null(tok_open("/nonexistent/tokenizer.json", &e));
		ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent"));
	}
}
END_TEST

/* A tiny byte-level tokenizer.json: every byte, merges "a b" -> "ab" and
 * "ab c" -> "abc", an added special token, and a Split stage. */
static const char tiny_json[] =
    "{\"added_tokens\": [{\"id\": 300, \"content\": \"<x>\", \"special\": "
    "true, \"normalized\": false}],"
    " \"normalizer\": null,"
    " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
    "  {\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, "
    "   \"behavior\": \"Removed\", \"invert\": false},"
    "  {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
    "   \"use_regex\": false}]},"
    " \"decoder\": {\"type\": \"ByteLevel\"},"
    " \"model\": {\"type\": \"BPE\", \"merges\": [[\"a\", \"b\"], \"ab c\"],"
    "  \"vocab\": {\"a\": 64, \"b\": 65, \"c\": 66, \"ab\": 256, \"abc\": 257,"
    "  \"-\": 12, \"x\": 87}}}";

START_TEST(test_split_string_removed_and_added_token)
{
	struct err e;
	struct tok *t = tok_open_json(tiny_json, strlen(tiny_json), &e);
	int32_t ids[16];
	struct buf out;

	ck_assert_msg(t != NULL, "%s", e.msg);
	/* "-" is removed; "abc" merges fully; <x> is cut out first. */
	ck_assert_int_eq(tok_encode(t, "abc-ab<x>x", 10, ids, 16, &e), 4);
	ck_assert_int_eq(ids[0], 257);
	ck_assert_int_eq(ids[1], 256);
	ck_assert_int_eq(ids[2], 300);
	ck_assert_int_eq(ids[3], 87);
	/* A short array still reports the full count. */
	ck_assert_int_eq(tok_encode(t, "abc-ab<x>x", 10, ids, 1, &e), 4);
	ck_assert_int_eq(ids[1], 256);
	/* Invalid UTF-8 is an error, not garbage ids. */
	ck_assert_int_eq(tok_encode(t, "a\xff", 2, ids, 16, &e), -1);
	ck_assert_int_eq(tok_encode(t, "a\xed\xa0\x80", 4, ids, 16, &e), -1);
	buf_init(&out, 64);
	ids[0] = 257;
	ids[1] = 300;
	ids[2] = 87;
	ck_assert_int_eq(tok_decode(t, ids, 3, 0, &out, &e), 0);
	ck_assert_str_eq(out.data, "abc<x>x");
	buf_reset(&out);
	ck_assert_int_eq(tok_decode(t, ids, 3, TOK_SKIP_SPECIAL, &out, &e), 0);
	ck_assert_str_eq(out.data, "abcx");
	ids[0] = 5;
	ck_assert_int_eq(tok_decode(t, ids, 1, 0, &out, &e), -1);
	ids[0] = 301;
	ck_assert_int_eq(tok_decode(t, ids, 1, 0, &out, &e), -1);
	buf_fini(&out);
	tok_close(t);
}
END_TEST

struct thr {
	const struct tok *t;
	const char *text;
	int32_t ids[512];
	ssize_t n;
};

static void *
encode_thread(void *arg)
{
	struct thr *th = arg;
	struct err e;
	int k;

	for (k = 0; k < 50; k++)
		th->n = tok_encode(th->t, th->text, strlen(th->text), th->ids,
		                   512, &e);
	return NULL;
}

START_TEST(test_threads_share_one_tokenizer)
{
	struct tok *t = tk_olmoe;
	static const char text[] = " User: Point to the \"Search\"   button "
	                           "caf\xc3\xa9 e\xcc\x81 1234 Assistant:";
	struct thr th[4];
	pthread_t tid[4];
	int32_t want[512];
	struct err e;
	ssize_t n = tok_encode(t, text, strlen(text), want, 512, &e);
	int i;

	ck_assert_int_gt(n, 0);
	for (i = 0; i < 4; i++) {
		th[i].t = t;
		th[i].text = text;
		ck_assert_int_eq(
		    pthread_create(&tid[i], NULL, encode_thread, &th[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		ck_assert_int_eq(th[i].n, n);
		ck_assert_mem_eq(th[i].ids, want, (size_t)n * sizeof(int32_t));
	}
}
END_TEST

static Suite *
tok_suite(void)
{
	Suite *s = suite_create("model_tok");
	TCase *tc = tcase_create("reference");
	TCase *tc2 = tcase_create("files");

	tcase_set_timeout(tc, 60);
	tcase_set_timeout(tc2, 60);
	tcase_add_unchecked_fixture(tc, open_reference, close_reference);
	tcase_add_test(tc, test_encode_matches_hf_qwen2);
	tcase_add_test(tc, test_encode_matches_hf_molmo_7b_d);
	tcase_add_test(tc, test_encode_matches_hf_dolma2);
	tcase_add_test(tc, test_encode_matches_hf_olmoe);
	tcase_add_test(tc, test_encode_matches_llamacpp_qwen2_vectors);
	tcase_add_test(tc, test_decode_matches_hf_qwen2);
	tcase_add_test(tc, test_decode_matches_hf_molmo_7b_d);
	tcase_add_test(tc, test_decode_matches_hf_dolma2);
	tcase_add_test(tc, test_decode_matches_hf_olmoe);
	tcase_add_test(tc, test_molmo_ids_and_specials);
	tcase_add_test(tc, test_threads_share_one_tokenizer);
	tcase_add_test(tc2, test_tiny_qwen2_checkpoint_cases);
	tcase_add_test(tc2, test_tiny_olmo_checkpoint_cases);
	tcase_add_test(tc2, test_tiny_moe_checkpoint_cases);
	tcase_add_test(tc2, test_real_qwen2_slow_files_cases);
	tcase_add_test(tc2, test_nfc_composes_reorders_and_keeps_nfc_text);
	tcase_add_test(tc2, test_open_rejects_bad_tokenizers);
	tcase_add_test(tc2, test_split_string_removed_and_added_token);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tc2);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tok_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
