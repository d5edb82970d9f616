/* SPDX-License-Identifier: ISC */
/*
 * test_model_st.c: model/st (safetensors loader).
 *
 * The tiny golden checkpoints are opened and compared with an independent
 * reading of their headers (jansson here, not st.c); sharded checkpoints and
 * HF cache snapshot layouts are built on the fly in a temporary directory
 * from the same bytes and must give identical tensors.  Failure paths:
 * truncation at every header byte and at several data offsets, corrupted
 * shapes, dtypes, offsets, overlaps, duplicate keys and header lengths,
 * missing shards and index entries naming absent tensors.  Each must fail
 * with one line naming the file (and the tensor where there is one).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "model/st.h"
#include "tests/tools/testutil.h"
#include "util/xmalloc.h"

static const char *const variants[] = {"qwen2-tiny", "olmo-tiny", "moe-tiny"};

/* ---- Helpers ---- */

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* A file image: 8-byte LE length, header text, then dlen data bytes. */
static uint8_t *
make_image(const char *header, uint64_t hlen, const void *data, size_t dlen,
           size_t *len)
{
	size_t htext = strlen(header);
	uint8_t *p = xcalloc(1, 8 + htext + dlen + 1);
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(hlen >> (8 * i));
	memcpy(p + 8, header, htext);
	if (dlen > 0)
		memcpy(p + 8 + htext, data, dlen);
	*len = 8 + htext + dlen;
	return p;
}

/* Parse an image built from header text with 64 data bytes; expect failure
 * with a message containing every non-NULL needle. */
static int n_fail_cases;

static void
expect_parse_fail(const char *header, size_t dlen, const char *n1,
                  const char *n2)
{
	uint8_t data[256];
	struct err e;
	struct st *s;
	uint8_t *img;
	size_t len;

	memset(data, 0x3f, sizeof(data));
	ck_assert_uint_le(dlen, sizeof(data));
	img = make_image(header, strlen(header), data, dlen, &len);
	e.msg[0] = '\0';
	s = st_parse(img, len, "bad.safetensors", &e);
	ck_assert_msg(s == NULL, "accepted: %s", header);
	ck_assert_msg(strstr(e.msg, "bad.safetensors") != NULL, "%s", e.msg);
	ck_assert_msg(strchr(e.msg, '\n') == NULL, "%s", e.msg);
	if (n1 != NULL)
		ck_assert_msg(strstr(e.msg, n1) != NULL, "'%s' not in: %s", n1,
		              e.msg);
	if (n2 != NULL)
		ck_assert_msg(strstr(e.msg, n2) != NULL, "'%s' not in: %s", n2,
		              e.msg);
	free(img);
	n_fail_cases++;
}

/* Open dir expecting failure; the message must name needle1 (and 2). */
static void
expect_open_fail(const char *dir, const char *n1, const char *n2)
{
	struct err e;
	struct st *s;

	e.msg[0] = '\0';
	s = st_open(dir, &e);
	ck_assert_msg(s == NULL, "opened %s", dir);
	ck_assert_msg(strchr(e.msg, '\n') == NULL, "%s", e.msg);
	if (n1 != NULL)
		ck_assert_msg(strstr(e.msg, n1) != NULL, "'%s' not in: %s", n1,
		              e.msg);
	if (n2 != NULL)
		ck_assert_msg(strstr(e.msg, n2) != NULL, "'%s' not in: %s", n2,
		              e.msg);
	n_fail_cases++;
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The header of a golden file, parsed here with jansson. */
static json_t *
golden_header(const uint8_t *file, size_t len, uint64_t *hlen)
{
	json_error_t jerr;
	json_t *h;

	ck_assert_uint_ge(len, 8);
	*hlen = le64(file);
	ck_assert_uint_le(*hlen, len - 8);
	h = json_loadb((const char *)file + 8, *hlen, 0, &jerr);
	ck_assert_msg(h != NULL, "%s", jerr.text);
	return h;
}

/* Every tensor of the header h (over file) matches s, and s has no more. */
static void
check_against_header(const struct st *s, json_t *h, const uint8_t *file,
                     uint64_t hlen)
{
	const struct st_tensor *t;
	const char *name;
	json_t *v, *shape;
	size_t n = 0, i, b, end;

	json_object_foreach(h, name, v)
	{
		if (strcmp(name, "__metadata__") == 0)
			continue;
		n++;
		t = st_find(s, name);
		ck_assert_msg(t != NULL, "%s missing", name);
		ck_assert_str_eq(t->name, name);
		ck_assert_str_eq(
		    st_dtype_name(t->dtype),
		    json_string_value(json_object_get(v, "dtype")));
		shape = json_object_get(v, "shape");
		ck_assert_int_eq(t->ndim, (int)json_array_size(shape));
		for (i = 0; i < json_array_size(shape); i++)
			ck_assert_int_eq(
			    t->shape[i],
			    json_integer_value(json_array_get(shape, i)));
		b = (size_t)json_integer_value(
		    json_array_get(json_object_get(v, "data_offsets"), 0));
		end = (size_t)json_integer_value(
		    json_array_get(json_object_get(v, "data_offsets"), 1));
		ck_assert_uint_eq(t->nbytes, end - b);
		ck_assert_int_eq(memcmp(t->data, file + 8 + hlen + b, end - b),
		                 0);
	}
	ck_assert_uint_eq(st_count(s), n);
}

/* ---- Opening the tiny checkpoints ---- */

START_TEST(test_st_opens_each_tiny_checkpoint)
{
	char rel[128];
	const char *dir, *path;
	const struct st_tensor *t, *prev = NULL;
	struct err e;
	struct st *s;
	uint8_t *file;
	uint64_t hlen;
	size_t len, i;
	json_t *h;

	snprintf(rel, sizeof(rel), "golden/%s/model", variants[_i]);
	dir = tu_shared(rel);
	s = st_open(dir, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	ck_assert_int_eq(st_n_shards(s), 1);
	path = st_shard_path(s, 0);
	ck_assert_ptr_nonnull(strstr(path, "model.safetensors"));
	file = tu_read_file(path, &len);
	ck_assert_uint_eq(st_mapped_bytes(s), len);
	h = golden_header(file, len, &hlen);
	check_against_header(s, h, file, hlen);
	/* File order: increasing data addresses, all F32 in the goldens. */
	for (i = 0; i < st_count(s); i++) {
		t = st_at(s, i);
		ck_assert_int_eq(t->dtype, ST_F32);
		ck_assert_int_eq(t->shard, 0);
		if (prev != NULL)
			ck_assert((const uint8_t *)prev->data + prev->nbytes <=
			          (const uint8_t *)t->data);
		prev = t;
	}
	ck_assert_ptr_null(st_at(s, st_count(s)));
	ck_assert_ptr_null(st_find(s, "model.transformer.nonexistent"));
	ck_assert_ptr_null(st_find(s, ""));
	json_decref(h);
	free(file);
	st_close(s);
}
END_TEST

START_TEST(test_st_close_accepts_null)
{
	st_close(NULL);
}
END_TEST

START_TEST(test_st_need_checks_shape_and_names_tensor)
{
	const char *dir = tu_shared("golden/qwen2-tiny/model");
	int64_t good[2] = {512, 64}, bad[2] = {512, 65};
	struct err e;
	struct st *s;

	s = st_open(dir, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	ck_assert_ptr_nonnull(
	    st_need(s, "model.transformer.wte.embedding", 2, good, &e));
	ck_assert_ptr_null(
	    st_need(s, "model.transformer.wte.embedding", 2, bad, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "model.safetensors: tensor "
	                                    "model.transformer.wte.embedding: "
	                                    "shape [512, 64], expected [512, "
	                                    "65]"));
	ck_assert_ptr_null(
	    st_need(s, "model.transformer.wte.embedding", 1, good, &e));
	ck_assert_ptr_null(st_need(s, "model.nope", 2, good, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "model.nope: missing"));
	st_close(s);
}
END_TEST

/* ---- Sharded checkpoints built on the fly ---- */

/*
 * Split the golden single file into n shards (tensor k of the sorted names
 * goes to shard k % n) written into out/ (or blobs/ with symlinks from out/
 * when blobs != NULL), plus an index.  Returns the number of tensors.
 */
static size_t
write_shards(const char *out, const char *blobs, const uint8_t *file,
             size_t len, int n)
{
	json_t *h, *wm, *idx, *hdr[8], *v, *o;
	const char *name, **names;
	char fname[64], *p, *target, *link;
	uint64_t hlen, data_off[8] = {0};
	uint8_t *data[8];
	size_t nn = 0, k, b, end, i, sz;
	int j;

	ck_assert_int_le(n, 8);
	h = golden_header(file, len, &hlen);
	names = xcalloc(json_object_size(h), sizeof(*names));
	json_object_foreach(h, name, v) if (strcmp(name, "__metadata__") != 0)
	    names[nn++] = name;
	/* Insertion sort by name (a few hundred names). */
	for (i = 1; i < nn; i++)
		for (k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			name = names[k];
			names[k] = names[k - 1];
			names[k - 1] = name;
		}
	for (j = 0; j < n; j++) {
		hdr[j] = json_object();
		json_object_set_new(hdr[j], "__metadata__",
		                    json_pack("{s:s}", "format", "pt"));
		data[j] = xmalloc(len);
	}
	wm = json_object();
	for (k = 0; k < nn; k++) {
		j = (int)(k % (size_t)n);
		v = json_object_get(h, names[k]);
		b = (size_t)json_integer_value(
		    json_array_get(json_object_get(v, "data_offsets"), 0));
		end = (size_t)json_integer_value(
		    json_array_get(json_object_get(v, "data_offsets"), 1));
		memcpy(data[j] + data_off[j], file + 8 + hlen + b, end - b);
		o = json_deep_copy(v);
		json_object_set_new(
		    o, "data_offsets",
		    json_pack("[I,I]", (json_int_t)data_off[j],
		              (json_int_t)(data_off[j] + end - b)));
		json_object_set_new(hdr[j], names[k], o);
		data_off[j] += end - b;
		snprintf(fname, sizeof(fname), "model-%05d-of-%05d.safetensors",
		         j + 1, n);
		json_object_set_new(wm, names[k], json_string(fname));
	}
	for (j = 0; j < n; j++) {
		char *txt = json_dumps(hdr[j], JSON_COMPACT);
		uint8_t *img;

		img = make_image(txt, strlen(txt), data[j], data_off[j], &sz);
		snprintf(fname, sizeof(fname), "model-%05d-of-%05d.safetensors",
		         j + 1, n);
		if (blobs == NULL) {
			p = path_join(out, fname);
			write_file(p, img, sz);
		} else {
			target = path_join(blobs, fname);
			write_file(target, img, sz);
			p = path_join(out, fname);
			link = xmalloc(strlen(fname) + 32);
			snprintf(link, strlen(fname) + 32, "../../blobs/%s",
			         fname);
			ck_assert_int_eq(symlink(link, p), 0);
			free(link);
			free(target);
		}
		free(p);
		free(img);
		free(txt);
		free(data[j]);
		json_decref(hdr[j]);
	}
	idx = json_pack("{s:{s:I},s:o}", "metadata", "total_size",
	                (json_int_t)(len - 8 - hlen), "weight_map", wm);
	p = path_join(out, "model.safetensors.index.json");
	if (blobs == NULL) {
		ck_assert_int_eq(json_dump_file(idx, p, JSON_INDENT(2)), 0);
	} else {
		target = path_join(blobs, "index-blob");
		ck_assert_int_eq(json_dump_file(idx, target, JSON_INDENT(2)),
		                 0);
		ck_assert_int_eq(symlink("../../blobs/index-blob", p), 0);
		free(target);
	}
	free(p);
	json_decref(idx);
	json_decref(h);
	free(names);
	return nn;
}

/* Open dir and require the same tensors, bytes and all, as single. */
static void
check_same_tensors(const struct st *single, const char *dir, int n_shards)
{
	const struct st_tensor *a, *b;
	struct err e;
	struct st *s;
	size_t i;
	int seen[8] = {0};

	s = st_open(dir, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	ck_assert_int_eq(st_n_shards(s), n_shards);
	ck_assert_uint_eq(st_count(s), st_count(single));
	for (i = 0; i < st_count(single); i++) {
		a = st_at(single, i);
		b = st_find(s, a->name);
		ck_assert_msg(b != NULL, "%s", a->name);
		ck_assert_int_eq(a->dtype, b->dtype);
		ck_assert_int_eq(a->ndim, b->ndim);
		ck_assert_mem_eq(a->shape, b->shape, sizeof(a->shape));
		ck_assert_uint_eq(a->nbytes, b->nbytes);
		ck_assert_int_eq(memcmp(a->data, b->data, a->nbytes), 0);
		ck_assert_int_lt(b->shard, n_shards);
		seen[b->shard]++;
	}
	for (i = 0; i < (size_t)n_shards; i++)
		ck_assert_int_gt(seen[i], 0);
	ck_assert_uint_gt(st_mapped_bytes(s), 0);
	/* A missing tensor is reported against the index. */
	if (n_shards > 1) {
		int64_t sh[1] = {1};

		ck_assert_ptr_null(st_need(s, "model.nope", 1, sh, &e));
		ck_assert_msg(strstr(e.msg,
		                     "model.safetensors.index.json: "
		                     "tensor model.nope: missing") != NULL,
		              "%s", e.msg);
	}
	st_close(s);
}

START_TEST(test_st_sharded_checkpoint_gives_identical_tensors)
{
	char rel[128], *tmp, *sub;
	const char *dir;
	struct err e;
	struct st *single;
	uint8_t *file;
	size_t len;
	int n;

	snprintf(rel, sizeof(rel), "golden/%s/model", variants[_i]);
	dir = tu_shared(rel);
	single = st_open(dir, &e);
	ck_assert_msg(single != NULL, "%s", e.msg);
	file = tu_read_file(st_shard_path(single, 0), &len);
	tmp = tu_tmpdir();
	for (n = 2; n <= 3; n++) {
		snprintf(rel, sizeof(rel), "s%d", n);
		sub = path_join(tmp, rel);
		ck_assert_int_eq(mkdir(sub, 0700), 0);
		ck_assert_uint_eq(write_shards(sub, NULL, file, len, n),
		                  st_count(single));
		check_same_tensors(single, sub, n);
		free(sub);
	}
	tu_rmtree(tmp);
	free(tmp);
	free(file);
	st_close(single);
}
END_TEST

START_TEST(test_st_opens_hf_cache_snapshot_of_symlinks)
{
	char *tmp, *blobs, *snaps, *snap, *one, *p;
	const char *dir = tu_shared("golden/olmo-tiny/model");
	struct err e;
	struct st *single, *s;
	uint8_t *file;
	size_t len;

	single = st_open(dir, &e);
	ck_assert_msg(single != NULL, "%s", e.msg);
	file = tu_read_file(st_shard_path(single, 0), &len);
	tmp = tu_tmpdir();
	blobs = path_join(tmp, "blobs");
	snaps = path_join(tmp, "snapshots");
	snap = path_join(snaps, "0123abcd");
	one = path_join(snaps, "single");
	ck_assert_int_eq(mkdir(blobs, 0700), 0);
	ck_assert_int_eq(mkdir(snaps, 0700), 0);
	ck_assert_int_eq(mkdir(snap, 0700), 0);
	ck_assert_int_eq(mkdir(one, 0700), 0);
	/* Sharded snapshot: index and shards are links into blobs/. */
	write_shards(snap, blobs, file, len, 3);
	check_same_tensors(single, snap, 3);
	/* Single-file snapshot. */
	p = path_join(blobs, "deadbeef");
	write_file(p, file, len);
	free(p);
	p = path_join(one, "model.safetensors");
	ck_assert_int_eq(symlink("../../blobs/deadbeef", p), 0);
	free(p);
	check_same_tensors(single, one, 1);
	/* The snapshot directory itself reached through a link. */
	p = path_join(tmp, "current");
	ck_assert_int_eq(symlink(snap, p), 0);
	s = st_open(p, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	st_close(s);
	free(p);
	tu_rmtree(tmp);
	free(tmp);
	free(blobs);
	free(snaps);
	free(snap);
	free(one);
	free(file);
	st_close(single);
}
END_TEST

/* ---- Failure paths: truncation ---- */

START_TEST(test_st_truncated_file_fails_at_every_header_byte)
{
	const char *dir = tu_shared("golden/qwen2-tiny/model");
	char *tmp, *path, *p;
	uint8_t *file;
	uint64_t hlen;
	size_t len, cut, i, n = 0;
	size_t data_cuts[6];
	struct err e;
	struct st *s;

	p = path_join(dir, "model.safetensors");
	file = tu_read_file(p, &len);
	free(p);
	hlen = le64(file);
	/* ~26,000 truncate+open rounds: on a RAM file system when there is
	 * one, since on a disk the metadata updates dominate. */
	if (getenv("TMPDIR") == NULL && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	tmp = tu_tmpdir();
	path = path_join(tmp, "model.safetensors");
	write_file(path, file, len);
	/* Several data offsets, longest first (truncate only shrinks). */
	data_cuts[0] = len - 1;
	data_cuts[1] = len - 4;
	data_cuts[2] = 8 + hlen + (len - 8 - hlen) / 2;
	data_cuts[3] = 8 + hlen + 4097;
	data_cuts[4] = 8 + hlen + 1;
	data_cuts[5] = 8 + hlen;
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(truncate(path, (off_t)data_cuts[i]), 0);
		e.msg[0] = '\0';
		s = st_open(tmp, &e);
		ck_assert_msg(s == NULL, "cut at %zu accepted", data_cuts[i]);
		ck_assert_msg(strstr(e.msg, path) != NULL, "%s", e.msg);
		ck_assert_msg(strstr(e.msg, "tensor model.") != NULL, "%s",
		              e.msg);
		n++;
	}
	/* Every header byte, through the file path. */
	for (cut = 8 + hlen; cut-- > 0;) {
		ck_assert_int_eq(truncate(path, (off_t)cut), 0);
		e.msg[0] = '\0';
		s = st_open(tmp, &e);
		ck_assert_msg(s == NULL, "cut at %zu accepted", cut);
		ck_assert_msg(strstr(e.msg, path) != NULL, "%s", e.msg);
		ck_assert_msg(strchr(e.msg, '\n') == NULL, "%s", e.msg);
		n++;
	}
	/* And in memory: every header byte, then 64 cuts across the data
	 * (each of those parses the whole header, so fewer). */
	for (cut = 0; cut < len;
	     cut = cut < 8 + hlen ? cut + 1 : cut + (len - 8 - hlen) / 64 + 1) {
		s = st_parse(file, cut, "mem.safetensors", &e);
		ck_assert_msg(s == NULL, "cut at %zu accepted", cut);
		ck_assert_msg(strstr(e.msg, "mem.safetensors") != NULL, "%s",
		              e.msg);
		n++;
	}
	s = st_parse(file, len, "mem.safetensors", &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	st_close(s);
	printf("truncation cases: %zu\n", n);
	tu_rmtree(tmp);
	free(tmp);
	free(path);
	free(file);
}
END_TEST

/* ---- Failure paths: corrupt headers ---- */

#define T1(extra) "{\"__metadata__\":{\"format\":\"pt\"},\"model.a\":" extra "}"

START_TEST(test_st_rejects_corrupt_headers)
{
	n_fail_cases = 0;
	/* shape vs bytes */
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2,3],"
	                     "\"data_offsets\":[0,16]}"),
	                  64, "tensor model.a", "need 24");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[-2,3],"
	                     "\"data_offsets\":[0,24]}"),
	                  64, "tensor model.a", "shape[0]");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2.0,3],"
	                     "\"data_offsets\":[0,24]}"),
	                  64, "tensor model.a", "shape[0]");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":\"2,3\","
	                     "\"data_offsets\":[0,24]}"),
	                  64, "tensor model.a", "shape");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],"
	                     "\"data_offsets\":[0,4]}"),
	                  64, "tensor model.a", "5 dimensions");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[4294967296,"
	                     "4294967296],\"data_offsets\":[0,4]}"),
	                  64, "tensor model.a", "overflows");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[4611686018427387904"
	                     "],\"data_offsets\":[0,4]}"),
	                  64, "tensor model.a", "overflows");
	expect_parse_fail(
	    T1("{\"dtype\":\"F32\",\"shape\":[99999999999999999999"
	       "],\"data_offsets\":[0,4]}"),
	    64, "header", NULL);
	/* dtype */
	expect_parse_fail(T1("{\"dtype\":\"F64\",\"shape\":[2],"
	                     "\"data_offsets\":[0,16]}"),
	                  64, "tensor model.a", "F64");
	expect_parse_fail(T1("{\"dtype\":\"I8\",\"shape\":[2],"
	                     "\"data_offsets\":[0,2]}"),
	                  64, "tensor model.a", "unsupported dtype");
	expect_parse_fail(T1("{\"dtype\":32,\"shape\":[2],"
	                     "\"data_offsets\":[0,8]}"),
	                  64, "tensor model.a", "dtype");
	expect_parse_fail(T1("{\"shape\":[2],\"data_offsets\":[0,8]}"), 64,
	                  "tensor model.a", "dtype");
	expect_parse_fail(T1("{\"dtype\":\"BF16\",\"shape\":[2],"
	                     "\"data_offsets\":[0,8]}"),
	                  64, "tensor model.a", "BF16");
	/* offsets */
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2],"
	                     "\"data_offsets\":[8,0]}"),
	                  64, "tensor model.a", "out of order");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2],"
	                     "\"data_offsets\":[60,68]}"),
	                  64, "tensor model.a", "past the end");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2],"
	                     "\"data_offsets\":[-8,0]}"),
	                  64, "tensor model.a", "data_offsets");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2],"
	                     "\"data_offsets\":[0,8,16]}"),
	                  64, "tensor model.a", "data_offsets");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2],"
	                     "\"data_offsets\":[0]}"),
	                  64, "tensor model.a", "data_offsets");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2],"
	                     "\"data_offsets\":[0,18446744073709551615]}"),
	                  64, "header", NULL);
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"shape\":[2]}"), 64,
	                  "tensor model.a", "data_offsets");
	expect_parse_fail(T1("[1,2]"), 64, "tensor model.a", "not an object");
	/* overlap */
	expect_parse_fail("{\"model.a\":{\"dtype\":\"F32\",\"shape\":[4],"
	                  "\"data_offsets\":[0,16]},\"model.b\":{\"dtype\":"
	                  "\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}}",
	                  64, "model.b", "overlaps tensor model.a");
	expect_parse_fail("{\"model.a\":{\"dtype\":\"F32\",\"shape\":[4],"
	                  "\"data_offsets\":[0,16]},\"model.b\":{\"dtype\":"
	                  "\"F16\",\"shape\":[8],\"data_offsets\":[0,16]}}",
	                  64, "overlaps", NULL);
	expect_parse_fail("{\"model.a\":{\"dtype\":\"F32\",\"shape\":[8],"
	                  "\"data_offsets\":[0,32]},\"model.b\":{\"dtype\":"
	                  "\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
	                  64, "overlaps", NULL);
	/* duplicate keys, with line and column */
	expect_parse_fail("{\"model.a\":{\"dtype\":\"F32\",\"shape\":[1],"
	                  "\"data_offsets\":[0,4]},\n\"model.a\":{\"dtype\":"
	                  "\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
	                  64, "line 2", "duplicate");
	expect_parse_fail(T1("{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":"
	                     "[1],\"data_offsets\":[0,4]}"),
	                  64, "duplicate", NULL);
	/* header shape */
	expect_parse_fail("[]", 64, "not a JSON object", NULL);
	expect_parse_fail("{\"model.a\":", 64, "header: line", NULL);
	expect_parse_fail("{}garbage", 64, "header: line", NULL);
	expect_parse_fail("{\"__metadata__\":{\"format\":1}}", 64,
	                  "__metadata__", NULL);
	expect_parse_fail("{\"__metadata__\":[]}", 64, "__metadata__", NULL);
	expect_parse_fail("{\"\":{\"dtype\":\"F32\",\"shape\":[1],"
	                  "\"data_offsets\":[0,4]}}",
	                  64, "tensor name", NULL);
	expect_parse_fail("{", 0, "header", NULL);
	expect_parse_fail("{\"a\\u0000b\":1}", 0, "header", NULL);
	printf("corrupt-header cases: %d\n", n_fail_cases);
}
END_TEST

START_TEST(test_st_rejects_bad_header_lengths)
{
	static const uint64_t lens[] = {
	    0,    1, UINT64_MAX, (uint64_t)1 << 63, ST_HEADER_MAX + 1ULL,
	    1000, 19};
	const char *hdr = "{\"model.a\":{\"dtype\":\"F32\",\"shape\":[1],"
	                  "\"data_offsets\":[0,4]}}";
	uint8_t data[4] = {0};
	struct err e;
	struct st *s;
	uint8_t *img;
	size_t len, i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		img = make_image(hdr, lens[i], data, sizeof(data), &len);
		s = st_parse(img, len, "len.safetensors", &e);
		ck_assert_msg(s == NULL, "hlen %" PRIu64 " accepted", lens[i]);
		ck_assert_ptr_nonnull(strstr(e.msg, "len.safetensors"));
		free(img);
	}
	/* Huge length is refused by the cap, before any size arithmetic. */
	img = make_image(hdr, ST_HEADER_MAX + 1ULL, data, sizeof(data), &len);
	s = st_parse(img, len, "len.safetensors", &e);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(e.msg, "exceeds the limit"));
	free(img);
	/* Empty and 7-byte files. */
	ck_assert_ptr_null(st_parse("", 0, "empty.safetensors", &e));
	ck_assert_ptr_nonnull(
	    strstr(e.msg, "empty.safetensors: file too short"));
	ck_assert_ptr_null(st_parse("\2\0\0\0\0\0\0", 7, "x", &e));
	/* The exact length works; padding spaces after the JSON are fine. */
	img = make_image(hdr, strlen(hdr), data, sizeof(data), &len);
	s = st_parse(img, len, "ok.safetensors", &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	st_close(s);
	free(img);
}
END_TEST

START_TEST(test_st_accepts_bf16_f16_scalars_empty_and_unaligned)
{
	const char *hdr =
	    "{\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[1,7]},"
	    "\"h\":{\"dtype\":\"F16\",\"shape\":[2,1],\"data_offsets\":[7,11]},"
	    "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[11,15]},"
	    "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[15,15]}"
	    ",\"__metadata__\":{}}   ";
	uint8_t data[16];
	const struct st_tensor *t;
	struct err e;
	struct st *s;
	uint8_t *img;
	size_t len, i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	img = make_image(hdr, strlen(hdr), data, sizeof(data), &len);
	s = st_parse(img, len, "mixed.safetensors", &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	ck_assert_uint_eq(st_count(s), 4);
	t = st_find(s, "b");
	ck_assert_int_eq(t->dtype, ST_BF16);
	ck_assert_uint_eq(t->nbytes, 6);
	ck_assert_uint_eq(((const uint8_t *)t->data)[0], 1); /* unaligned */
	t = st_find(s, "h");
	ck_assert_int_eq(t->dtype, ST_F16);
	ck_assert_int_eq(t->ndim, 2);
	ck_assert_uint_eq(((const uint8_t *)t->data)[0], 7);
	t = st_find(s, "s");
	ck_assert_int_eq(t->ndim, 0);
	ck_assert_uint_eq(t->nbytes, 4);
	t = st_find(s, "z");
	ck_assert_uint_eq(t->nbytes, 0);
	ck_assert_ptr_null(t->data);
	ck_assert_str_eq(st_at(s, 0)->name, "b"); /* file order */
	ck_assert_uint_eq(st_dtype_size(ST_BF16), 2);
	ck_assert_uint_eq(st_dtype_size(ST_F32), 4);
	st_close(s);
	free(img);
}
END_TEST

/* ---- Failure paths: directories, indexes, shards ---- */

static void
put(const char *dir, const char *name, const char *text)
{
	char *p = path_join(dir, name);

	write_file(p, text, strlen(text));
	free(p);
}

START_TEST(test_st_rejects_broken_sharded_checkpoints)
{
	const char *dir = tu_shared("golden/moe-tiny/model");
	char *tmp, *p, *idx, *text;
	struct err e;
	struct st *single;
	uint8_t *file;
	size_t len;
	json_t *j, *wm;

	n_fail_cases = 0;
	single = st_open(dir, &e);
	ck_assert_msg(single != NULL, "%s", e.msg);
	file = tu_read_file(st_shard_path(single, 0), &len);
	tmp = tu_tmpdir();
	/* Empty directory; non-existent directory. */
	expect_open_fail(tmp, tmp, "no model.safetensors");
	p = path_join(tmp, "nope");
	expect_open_fail(p, "nope", NULL);
	free(p);
	/* model.safetensors that is a directory. */
	p = path_join(tmp, "model.safetensors");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	expect_open_fail(tmp, "model.safetensors", "regular file");
	ck_assert_int_eq(rmdir(p), 0);
	free(p);
	write_shards(tmp, NULL, file, len, 3);
	idx = path_join(tmp, "model.safetensors.index.json");
	text = tu_read_file(idx, &len);
	j = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(j);
	wm = json_object_get(j, "weight_map");

	/* Missing shard, then truncated shards. */
	{
		uint8_t *sh;
		size_t sl;
		char *q = path_join(tmp, "keep");

		p = path_join(tmp, "model-00002-of-00003.safetensors");
		ck_assert_int_eq(rename(p, q), 0);
		expect_open_fail(tmp, "model-00002-of-00003.safetensors",
		                 "No such file");
		sh = tu_read_file(q, &sl);
		write_file(p, sh, sl - 3);
		expect_open_fail(tmp, "model-00002-of-00003.safetensors",
		                 "tensor ");
		write_file(p, sh, 20);
		expect_open_fail(tmp, "model-00002-of-00003.safetensors",
		                 "header");
		write_file(p, sh, 0);
		expect_open_fail(tmp, "model-00002-of-00003.safetensors",
		                 "too short");
		ck_assert_int_eq(rename(q, p), 0);
		free(sh);
		free(q);
		free(p);
	}
	/* Index naming a tensor absent from its shard. */
	json_object_set_new(wm, "model.ghost.weight",
	                    json_string("model-00001-of-00003.safetensors"));
	ck_assert_int_eq(json_dump_file(j, idx, 0), 0);
	expect_open_fail(tmp, "model.ghost.weight",
	                 "model-00001-of-00003.safetensors");
	json_object_del(wm, "model.ghost.weight");
	/* Index naming a shard that does not exist. */
	json_object_set_new(wm, "model.ghost.weight",
	                    json_string("model-00009-of-00009.safetensors"));
	ck_assert_int_eq(json_dump_file(j, idx, 0), 0);
	expect_open_fail(tmp, "model-00009-of-00009.safetensors", NULL);
	json_object_del(wm, "model.ghost.weight");
	/* Index sending a tensor to the wrong shard. */
	json_object_set_new(wm, "model.transformer.ln_f.weight",
	                    json_string("model-00003-of-00003.safetensors"));
	json_object_set_new(wm, "model.transformer.wte.embedding",
	                    json_string("model-00003-of-00003.safetensors"));
	json_object_set_new(wm, "lm_head.weight",
	                    json_string("model-00003-of-00003.safetensors"));
	ck_assert_int_eq(json_dump_file(j, idx, 0), 0);
	expect_open_fail(tmp, "tensor ", "another shard");
	json_decref(j);
	j = json_loads(text, 0, NULL);
	wm = json_object_get(j, "weight_map");
	/* Shard holding a tensor the index does not list. */
	json_object_del(wm, "model.transformer.ln_f.weight");
	ck_assert_int_eq(json_dump_file(j, idx, 0), 0);
	expect_open_fail(tmp, "model.transformer.ln_f.weight", "not listed");
	json_decref(j);
	j = json_loads(text, 0, NULL);
	wm = json_object_get(j, "weight_map");
	/* Shard names that escape the directory. */
	json_object_set_new(wm, "lm_head.weight",
	                    json_string("../model-00001-of-00003.safetensors"));
	ck_assert_int_eq(json_dump_file(j, idx, 0), 0);
	expect_open_fail(tmp, "lm_head.weight", "plain file name");
	json_object_set_new(wm, "lm_head.weight", json_string(".."));
	ck_assert_int_eq(json_dump_file(j, idx, 0), 0);
	expect_open_fail(tmp, "lm_head.weight", "plain file name");
	json_object_set_new(wm, "lm_head.weight", json_integer(3));
	ck_assert_int_eq(json_dump_file(j, idx, 0), 0);
	expect_open_fail(tmp, "lm_head.weight", "index.json");
	json_decref(j);
	/* Broken index files. */
	put(tmp, "model.safetensors.index.json", "{\"weight_map\": {\n  \"a\"");
	expect_open_fail(tmp, "model.safetensors.index.json", "line 2");
	put(tmp, "model.safetensors.index.json", "{\"metadata\": {}}");
	expect_open_fail(tmp, "model.safetensors.index.json", "weight_map");
	put(tmp, "model.safetensors.index.json", "{\"weight_map\": {}}");
	expect_open_fail(tmp, "model.safetensors.index.json", "empty");
	put(tmp, "model.safetensors.index.json",
	    "{\"weight_map\": {\"a\": \"x.safetensors\", \"a\": "
	    "\"y.safetensors\"}}");
	expect_open_fail(tmp, "model.safetensors.index.json", "duplicate");
	put(tmp, "model.safetensors.index.json", "[]");
	expect_open_fail(tmp, "model.safetensors.index.json", "weight_map");
	/* Dangling index symlink: an error, not a silent fallback. */
	ck_assert_int_eq(unlink(idx), 0);
	ck_assert_int_eq(symlink("../../blobs/gone", idx), 0);
	expect_open_fail(tmp, "model.safetensors.index.json", NULL);
	/* Restoring the index makes the checkpoint open again. */
	ck_assert_int_eq(unlink(idx), 0);
	put(tmp, "model.safetensors.index.json", text);
	{
		struct st *ok = st_open(tmp, &e);

		ck_assert_msg(ok != NULL, "restored index: %s", e.msg);
		st_close(ok);
	}
	printf("directory/index cases: %d\n", n_fail_cases);
	free(text);
	free(idx);
	tu_rmtree(tmp);
	free(tmp);
	free(file);
	st_close(single);
}
END_TEST

/* Corrupt one golden header in place (same length) in several ways. */
START_TEST(test_st_rejects_corrupted_golden_header)
{
	static const struct {
		const char *from, *to, *needle;
	} edits[] = {
	    {"\"shape\":[512,64]", "\"shape\":[512,65]", "need"},
	    {"\"dtype\":\"F32\"", "\"dtype\":\"I32\"", "unsupported dtype"},
	    {"\"dtype\":\"F32\"", "\"dtype\":\"F16\"", "need"},
	    {"\"data_offsets\":[0,", "\"data_offsets\":[4,", NULL},
	};
	const char *dir = tu_shared("golden/qwen2-tiny/model");
	char *p, *hdr, *at;
	uint8_t *file, *copy;
	uint64_t hlen;
	size_t len, i, n = 0;
	struct err e;
	struct st *s;

	p = path_join(dir, "model.safetensors");
	file = tu_read_file(p, &len);
	free(p);
	hlen = le64(file);
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		copy = xmalloc(len);
		memcpy(copy, file, len);
		hdr = xstrndup((const char *)copy + 8, hlen);
		at = strstr(hdr, edits[i].from);
		if (at == NULL) {
			/* The golden writer may space its JSON differently. */
			free(hdr);
			free(copy);
			continue;
		}
		ck_assert_uint_eq(strlen(edits[i].from), strlen(edits[i].to));
		memcpy(copy + 8 + (size_t)(at - hdr), edits[i].to,
		       strlen(edits[i].to));
		s = st_parse(copy, len, "golden.safetensors", &e);
		ck_assert_msg(s == NULL, "edit %zu accepted", i);
		ck_assert_ptr_nonnull(strstr(e.msg, "golden.safetensors: "));
		if (edits[i].needle != NULL)
			ck_assert_msg(strstr(e.msg, edits[i].needle) != NULL,
			              "%s", e.msg);
		free(hdr);
		free(copy);
		n++;
	}
	printf("golden header edits applied: %zu\n", n);
	ck_assert_uint_gt(n, 0);
	free(file);
}
END_TEST

static Suite *
st_suite(void)
{
	Suite *s = suite_create("model_st");
	TCase *tc = tcase_create("st");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_st_opens_each_tiny_checkpoint, 0, 3);
	tcase_add_test(tc, test_st_close_accepts_null);
	tcase_add_test(tc, test_st_need_checks_shape_and_names_tensor);
	tcase_add_loop_test(
	    tc, test_st_sharded_checkpoint_gives_identical_tensors, 0, 3);
	tcase_add_test(tc, test_st_opens_hf_cache_snapshot_of_symlinks);
	tcase_add_test(tc, test_st_truncated_file_fails_at_every_header_byte);
	tcase_add_test(tc, test_st_rejects_corrupt_headers);
	tcase_add_test(tc, test_st_rejects_bad_header_lengths);
	tcase_add_test(tc,
	               test_st_accepts_bf16_f16_scalars_empty_and_unaligned);
	tcase_add_test(tc, test_st_rejects_broken_sharded_checkpoints);
	tcase_add_test(tc, test_st_rejects_corrupted_golden_header);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(st_suite());
	int nf;

	srunner_run_all(sr, CK_ENV);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
