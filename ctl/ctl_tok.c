/* SPDX-License-Identifier: ISC */
/*
 * ctl_tok.c: `pointctl tokenize` and `pointctl detokenize`, a JSON-lines
 * filter around model/tok.h for checking the tokenizer against reference
 * data:
 *
 *   tokenize:   {"text": "..."}                        -> {"text": ..., "ids":
 * [...]} detokenize: {"ids": [...], "skip_special_tokens": b} -> {"text":
 * "..."}
 *
 * One object per input line; the first bad line stops the run with
 * "stdin:LINE: message" on stderr and exit status 1.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "model/tok.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* Longest input line, bytes. */
#define LINE_MAX_BYTES (64u << 20)
/* Longest decoded text, bytes. */
#define TEXT_MAX_BYTES (256u << 20)

/* Parse `--tokenizer PATH`; returns the path or NULL after a usage error. */
static const char *
parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tokenizer", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		if (c != 't')
			return NULL;
		path = optarg;
	}
	if (optind != argc)
		return NULL;
	return path;
}

/* Print one object as a compact JSON line. */
static int
emit(json_t *o)
{
	int rc = json_dumpf(o, stdout, JSON_COMPACT) == 0 &&
	                 fputc('\n', stdout) != EOF
	             ? 0
	             : -1;

	json_decref(o);
	if (rc == -1)
		fprintf(stderr, "pointctl: write error on stdout\n");
	return rc;
}

/* Encode the text of one request line into a reply, or fail with e. */
static json_t *
tokenize_line(const struct tok *t, json_t *req, struct err *e)
{
	json_t *text = json_object_get(req, "text"), *ids, *o;
	int32_t *v = NULL;
	ssize_t n, i;

	if (!json_is_string(text)) {
		err_set(e, "no \"text\" string");
		return NULL;
	}
	n = tok_encode_alloc(t, json_string_value(text),
	                     json_string_length(text), &v, e);
	if (n < 0)
		return NULL;
	ids = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(ids, json_integer(v[i]));
	free(v);
	o = json_object();
	json_object_set(o, "text", text);
	json_object_set_new(o, "ids", ids);
	return o;
}

/* Decode the ids of one request line into a reply, or fail with e. */
static json_t *
detokenize_line(const struct tok *t, json_t *req, struct err *e)
{
	json_t *ids = json_object_get(req, "ids");
	json_t *skip = json_object_get(req, "skip_special_tokens");
	struct buf out;
	int32_t *v;
	size_t i, n;
	json_t *o;

	if (!json_is_array(ids)) {
		err_set(e, "no \"ids\" array");
		return NULL;
	}
	if (skip != NULL && !json_is_boolean(skip)) {
		err_set(e, "\"skip_special_tokens\" is not a boolean");
		return NULL;
	}
	n = json_array_size(ids);
	v = xreallocarray(NULL, n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		json_t *id = json_array_get(ids, i);

		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) > INT32_MAX) {
			free(v);
			err_set(e, "ids[%zu] is not a token id", i);
			return NULL;
		}
		v[i] = (int32_t)json_integer_value(id);
	}
	buf_init(&out, TEXT_MAX_BYTES);
	if (tok_decode(t, v, n, json_is_true(skip) ? TOK_SKIP_SPECIAL : 0, &out,
	               e) == -1) {
		free(v);
		buf_fini(&out);
		return NULL;
	}
	free(v);
	o = json_object();
	json_object_set_new(o, "text",
	                    json_stringn(out.data ? out.data : "", out.len));
	buf_fini(&out);
	return o;
}

/* The shared loop: read request lines, answer each. */
static int
run(int argc, char **argv,
    json_t *(*fn)(const struct tok *, json_t *, struct err *))
{
	const char *path = parse_args(argc, argv);
	struct tok *t;
	struct err e;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int rc = CTL_OK;

	if (path == NULL)
		return ctl_usage(argv[0]);
	t = tok_open(path, &e);
	if (t == NULL) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		return CTL_FAIL;
	}
	while ((len = getline(&line, &cap, stdin)) != -1) {
		json_error_t jerr;
		json_t *req, *reply;

		lineno++;
		if ((size_t)len > LINE_MAX_BYTES) {
			fprintf(stderr, "pointctl: stdin:%zu: line too long\n",
			        lineno);
			rc = CTL_FAIL;
			break;
		}
		req = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &jerr);
		if (req == NULL) {
			fprintf(stderr, "pointctl: stdin:%zu: column %d: %s\n",
			        lineno, jerr.column, jerr.text);
			rc = CTL_FAIL;
			break;
		}
		reply = fn(t, req, &e);
		json_decref(req);
		if (reply == NULL) {
			fprintf(stderr, "pointctl: stdin:%zu: %s\n", lineno,
			        e.msg);
			rc = CTL_FAIL;
			break;
		}
		if (emit(reply) == -1) {
			rc = CTL_FAIL;
			break;
		}
	}
	free(line);
	tok_close(t);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "pointctl: write error on stdout\n");
		rc = CTL_FAIL;
	}
	return rc;
}

int
ctl_tokenize(int argc, char **argv)
{
	return run(argc, argv, tokenize_line);
}

int
ctl_detokenize(int argc, char **argv)
{
	return run(argc, argv, detokenize_line);
}
