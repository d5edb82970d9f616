/* SPDX-License-Identifier: ISC */
/*
 * tu_st.c: a whole-file reader for the golden safetensors files, shared by
 * the test programs.  The engine's model/st.c maps float tensors only; the
 * golden files also hold I64 and U8 tensors (token ids, uint8 images), so
 * tests read them with this.  A malformed file is a broken ground truth:
 * it exits 99 with a message rather than failing one check.
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tools/testutil.h"

static void
die(const char *path, const char *what)
{
	fprintf(stderr, "tu_st: %s: %s\n", path, what);
	exit(99);
}

void
tu_st_open(struct tu_st *g, const char *path)
{
	json_error_t je;
	uint64_t n = 0;
	int i;

	g->buf = tu_read_file(path, &g->len);
	if (g->len < 8)
		die(path, "shorter than a safetensors header");
	for (i = 7; i >= 0; i--)
		n = n << 8 | g->buf[i];
	if (n > g->len - 8)
		die(path, "header longer than the file");
	g->hdr = json_loadb((char *)g->buf + 8, (size_t)n, 0, &je);
	if (g->hdr == NULL)
		die(path, je.text);
	g->data_off = 8 + (size_t)n;
}

void
tu_st_close(struct tu_st *g)
{
	json_decref(g->hdr);
	free(g->buf);
}

/* Bytes per element of a safetensors dtype, 0 if unknown. */
static size_t
dtype_size(const char *dt)
{
	static const struct {
		const char *name;
		size_t size;
	} t[] = {{"U8", 1},  {"I8", 1},  {"BOOL", 1}, {"F16", 2}, {"BF16", 2},
	         {"I16", 2}, {"F32", 4}, {"I32", 4},  {"F64", 8}, {"I64", 8}};
	size_t i;

	for (i = 0; dt != NULL && i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(dt, t[i].name) == 0)
			return t[i].size;
	return 0;
}

const void *
tu_st_get(const struct tu_st *g, const char *name, const char *dtype,
          int64_t shape[4], int *ndim, size_t *count)
{
	json_t *t = json_object_get(g->hdr, name), *v, *offs;
	const char *dt;
	size_t i, n = 1, esz, b, end;

	if (t == NULL)
		return NULL;
	dt = json_string_value(json_object_get(t, "dtype"));
	esz = dtype_size(dt);
	if (esz == 0 || (dtype != NULL && strcmp(dt, dtype) != 0)) {
		fprintf(stderr, "tu_st: tensor %s: dtype %s, expected %s\n",
		        name, dt != NULL ? dt : "(none)",
		        dtype != NULL ? dtype : "a known one");
		exit(99);
	}
	if (ndim != NULL)
		*ndim = 0;
	json_array_foreach(json_object_get(t, "shape"), i, v)
	{
		if (i >= 4 || json_integer_value(v) < 0) {
			fprintf(stderr, "tu_st: tensor %s: bad shape\n", name);
			exit(99);
		}
		if (shape != NULL)
			shape[i] = json_integer_value(v);
		if (ndim != NULL)
			*ndim = (int)i + 1;
		n *= (size_t)json_integer_value(v);
	}
	offs = json_object_get(t, "data_offsets");
	b = (size_t)json_integer_value(json_array_get(offs, 0));
	end = (size_t)json_integer_value(json_array_get(offs, 1));
	if (end < b || end - b != n * esz || g->data_off + end > g->len) {
		fprintf(stderr, "tu_st: tensor %s: bad data offsets\n", name);
		exit(99);
	}
	*count = n;
	return g->buf + g->data_off + b;
}

int64_t
tu_i64_at(const void *p, size_t i)
{
	int64_t v;

	memcpy(&v, (const char *)p + i * 8, 8);
	return v;
}

float
tu_f32_at(const void *p, size_t i)
{
	float v;

	memcpy(&v, (const char *)p + i * 4, 4);
	return v;
}
