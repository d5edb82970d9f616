/* SPDX-License-Identifier: ISC */
/*
 * vocab_map.c: real token ids <-> pruned-checkpoint ids (see vocab_map.h).
 *
 * Regular ids: to_real[] is indexed by checkpoint id (-1 = unlisted);
 * the way back is a sorted array of (real, ckpt) pairs searched with
 * bsearch.  Extra and point ids are two ranges on each side, matched by
 * their index j or k, and need no table.
 * Every entry is checked before the map is used: ranges, types, and that
 * no id appears twice on either side.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/vocab_map.h"
#include "util/err.h"
#include "util/xmalloc.h"

struct pair {
	int32_t real, ckpt;
};

struct vocab_map {
	int32_t n_regular;       /* checkpoint vocab_size */
	int32_t n_additional;    /* extra ids, same order on both sides */
	int32_t real_vocab;      /* first real extra id */
	int32_t real_additional; /* real extra ids before the point tokens */
	int32_t *to_real;        /* [n_regular], -1 = unlisted */
	struct pair *back;       /* [n_pairs] sorted by real */
	size_t n_pairs;
};

void
vocab_map_close(struct vocab_map *m)
{
	if (m == NULL)
		return;
	free(m->to_real);
	free(m->back);
	free(m);
}

static int
cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return (x->real > y->real) - (x->real < y->real);
}

/* obj[key] as an integer in lo..hi; def when absent and def >= lo. */
static int
get_count(json_t *o, const char *key, long long lo, long long hi, long long def,
          long long *out, const char *name, struct err *e)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL) {
		if (def >= lo) {
			*out = def;
			return 0;
		}
		return err_set(e, "%s: %s missing", name, key);
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return err_set(e, "%s: %s: expected an integer %lld..%lld",
		               name, key, lo, hi);
	*out = json_integer_value(v);
	return 0;
}

static int
fill(struct vocab_map *m, json_t *root, const char *name, struct err *e)
{
	long long nv, na, rv, ra;
	json_t *reg, *ent, *extra, *v;
	const char *key;
	size_t i;

	if (!json_is_object(root))
		return err_set(e, "%s: not a JSON object", name);
	if (get_count(root, "vocab_size", 1, VOCAB_MAP_MAX_VOCAB, -1, &nv, name,
	              e) == -1 ||
	    get_count(root, "additional_vocab_size", 0, VOCAB_MAP_MAX_VOCAB, -1,
	              &na, name, e) == -1 ||
	    get_count(root, "real_vocab_size", 1, VOCAB_MAP_MAX_VOCAB,
	              VOCAB_MAP_REAL_VOCAB, &rv, name, e) == -1 ||
	    get_count(root, "real_additional_vocab_size", 0,
	              VOCAB_MAP_MAX_VOCAB, VOCAB_MAP_REAL_ADDITIONAL, &ra, name,
	              e) == -1)
		return -1;
	if (nv > rv)
		return err_set(e,
		               "%s: vocab_size %lld exceeds real_vocab_size "
		               "%lld",
		               name, nv, rv);
	m->n_regular = (int32_t)nv;
	m->n_additional = (int32_t)na;
	m->real_vocab = (int32_t)rv;
	m->real_additional = (int32_t)ra;

	reg = json_object_get(root, "regular");
	if (!json_is_array(reg))
		return err_set(e, "%s: regular: expected an array", name);
	if (json_array_size(reg) > (size_t)nv)
		return err_set(e,
		               "%s: regular: %zu entries for vocab_size %lld",
		               name, json_array_size(reg), nv);
	m->to_real = xreallocarray(NULL, (size_t)nv, sizeof(*m->to_real));
	for (long long k = 0; k < nv; k++)
		m->to_real[k] = -1;
	m->back =
	    xreallocarray(NULL, json_array_size(reg) + 1, sizeof(*m->back));
	json_array_foreach(reg, i, ent)
	{
		json_t *t = json_object_get(ent, "tiny_id");
		json_t *r = json_object_get(ent, "real_id");
		json_int_t ti, ri;

		if (!json_is_integer(t) || !json_is_integer(r))
			return err_set(e,
			               "%s: regular[%zu]: tiny_id and "
			               "real_id must be integers",
			               name, i);
		ti = json_integer_value(t);
		ri = json_integer_value(r);
		if (ti < 0 || ti >= nv)
			return err_set(e,
			               "%s: regular[%zu]: tiny_id %lld "
			               "outside 0..%lld",
			               name, i, (long long)ti, nv - 1);
		if (ri < 0 || ri >= rv)
			return err_set(e,
			               "%s: regular[%zu]: real_id %lld "
			               "outside 0..%lld",
			               name, i, (long long)ri, rv - 1);
		if (m->to_real[ti] != -1)
			return err_set(e,
			               "%s: regular[%zu]: tiny_id %lld "
			               "listed twice",
			               name, i, (long long)ti);
		m->to_real[ti] = (int32_t)ri;
		m->back[i].real = (int32_t)ri;
		m->back[i].ckpt = (int32_t)ti;
	}
	m->n_pairs = json_array_size(reg);
	qsort(m->back, m->n_pairs, sizeof(*m->back), cmp_pair);
	for (i = 1; i < m->n_pairs; i++)
		if (m->back[i].real == m->back[i - 1].real)
			return err_set(e,
			               "%s: regular: real_id %d listed twice",
			               name, m->back[i].real);

	/* extra_tokens only documents the extra ids; check they are extra. */
	extra = json_object_get(root, "extra_tokens");
	if (extra != NULL && !json_is_object(extra))
		return err_set(e, "%s: extra_tokens: expected an object", name);
	json_object_foreach(extra, key, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < nv ||
		    json_integer_value(v) >= nv + na)
			return err_set(e,
			               "%s: extra_tokens: %s: expected an id "
			               "%lld..%lld",
			               name, key, nv, nv + na - 1);
	}
	return 0;
}

struct vocab_map *
vocab_map_parse(const void *data, size_t len, const char *name, struct err *e)
{
	struct vocab_map *m;
	json_error_t jerr;
	json_t *root;

	if (len > VOCAB_MAP_MAX_FILE) {
		err_set(e, "%s: larger than %u bytes", name,
		        VOCAB_MAP_MAX_FILE);
		return NULL;
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err_set(e, "%s:%d:%d: %s", name, jerr.line, jerr.column,
		        jerr.text);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	if (fill(m, root, name, e) == -1) {
		json_decref(root);
		vocab_map_close(m);
		return NULL;
	}
	json_decref(root);
	return m;
}

struct vocab_map *
vocab_map_open(const char *path, struct err *e)
{
	struct vocab_map *m;
	struct stat st;
	FILE *f;
	char *buf;
	size_t n;

	f = fopen(path, "rb");
	if (f == NULL) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	if (st.st_size > (off_t)VOCAB_MAP_MAX_FILE) {
		err_set(e, "%s: larger than %u bytes", path,
		        VOCAB_MAP_MAX_FILE);
		fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f) || n != (size_t)st.st_size) {
		err_set(e, "%s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	m = vocab_map_parse(buf, n, path, e);
	free(buf);
	return m;
}

int32_t
vocab_map_to_ckpt(const struct vocab_map *m, int32_t r)
{
	struct pair key, *hit;
	int64_t x;

	if (r < 0)
		return -1;
	if (r < m->real_vocab) {
		key.real = r;
		hit = bsearch(&key, m->back, m->n_pairs, sizeof(*m->back),
		              cmp_pair);
		return hit != NULL ? hit->ckpt : -1;
	}
	x = (int64_t)r - m->real_vocab;
	if (x < m->real_additional) /* extra token j = x */
		return x < m->n_additional ? (int32_t)(m->n_regular + x) : -1;
	x -= m->real_additional; /* point token k = x */
	if (x >= VOCAB_MAP_MAX_POINTS)
		return -1;
	return (int32_t)(m->n_regular + m->n_additional + x);
}

int32_t
vocab_map_to_real(const struct vocab_map *m, int32_t c)
{
	int64_t x;

	if (c < 0)
		return -1;
	if (c < m->n_regular)
		return m->to_real[c];
	x = (int64_t)c - m->n_regular;
	if (x < m->n_additional) /* extra token j = x */
		return x < m->real_additional ? (int32_t)(m->real_vocab + x)
		                              : -1;
	x -= m->n_additional; /* point token k = x */
	if (x >= VOCAB_MAP_MAX_POINTS)
		return -1;
	return (int32_t)(m->real_vocab + m->real_additional + x);
}

int
vocab_map_ids_to_ckpt(const struct vocab_map *m, const int32_t *in, size_t n,
                      int32_t *out, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		int32_t v = vocab_map_to_ckpt(m, in[i]);
		if (v < 0)
			return err_set(e,
			               "real id %d (position %zu) is not in "
			               "the checkpoint's vocabulary",
			               in[i], i);
		out[i] = v;
	}
	return 0;
}

int
vocab_map_ids_to_real(const struct vocab_map *m, const int32_t *in, size_t n,
                      int32_t *out, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		int32_t v = vocab_map_to_real(m, in[i]);
		if (v < 0)
			return err_set(e,
			               "checkpoint id %d (position %zu) has "
			               "no real id",
			               in[i], i);
		out[i] = v;
	}
	return 0;
}

int32_t
vocab_map_n_regular(const struct vocab_map *m)
{
	return m->n_regular;
}

int32_t
vocab_map_n_additional(const struct vocab_map *m)
{
	return m->n_additional;
}
