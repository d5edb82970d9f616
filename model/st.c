/* SPDX-License-Identifier: ISC */
/*
 * st.c: safetensors checkpoints (single file or sharded), mapped read-only.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes
 * of JSON ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
 * ..., "__metadata__": {"k": "v"}}), then the data; offsets are relative to
 * the start of the data.  Every number in the header comes from outside, so
 * each is checked before use (see st.h for the list), with
 * __builtin_mul_overflow on the shape products.
 *
 * Design: struct st owns one mapping per shard and one array of entries.
 * Entries are kept in file order (shard, then data offset), which also makes
 * the overlap check a single pass; a second array of entry indices sorted by
 * name serves st_find by binary search.  Nothing points into a json_t after
 * the function that parsed it returns: names are copied.  The mappings are
 * PROT_READ and MAP_PRIVATE, so the weights are never copied into our memory
 * and the page cache backs them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "model/st.h"
#include "util/xmalloc.h"

/* Largest model.safetensors.index.json read (bytes); the 72B index is about
 * 100 kB. */
#define ST_INDEX_MAX (64 << 20)
/* Longest shard file name in an index (bytes). */
#define ST_FILE_NAME_MAX 255

struct shard {
	char *path;         /* as opened, for messages and st_shard_path */
	void *map;          /* mmap'd file, or NULL (memory image / empty) */
	size_t map_len;     /* bytes mapped */
	const uint8_t *buf; /* the whole file image */
	size_t len;         /* its size in bytes */
};

struct entry {
	struct st_tensor t; /* t.name points at name */
	char *name;
	uint64_t begin; /* data offset within the shard's data */
};

struct st {
	struct shard *shards;
	int n_shards;
	struct entry *ents; /* file order */
	size_t n, cap;
	const struct entry **by_name; /* ents sorted by name */
	uint64_t mapped;              /* bytes mapped */
	char *index; /* the index path when opened through one, or NULL */
};

/* ---- Small helpers ---- */

size_t
st_dtype_size(enum st_dtype dt)
{
	return dt == ST_F32 ? 4 : 2;
}

const char *
st_dtype_name(enum st_dtype dt)
{
	switch (dt) {
	case ST_F32:
		return "F32";
	case ST_BF16:
		return "BF16";
	case ST_F16:
		return "F16";
	}
	return "?";
}

static int
dtype_parse(const char *s, enum st_dtype *dt)
{
	if (strcmp(s, "F32") == 0)
		*dt = ST_F32;
	else if (strcmp(s, "BF16") == 0)
		*dt = ST_BF16;
	else if (strcmp(s, "F16") == 0)
		*dt = ST_F16;
	else
		return -1;
	return 0;
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

/* Format a shape as "[a, b, c]" into buf (for messages). */
static const char *
shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
	size_t off;
	int i, r;

	r = snprintf(buf, n, "[");
	off = r > 0 ? (size_t)r : 0;
	for (i = 0; i < ndim && off < n; i++) {
		r = snprintf(buf + off, n - off, "%s%" PRId64,
		             i > 0 ? ", " : "", shape[i]);
		if (r < 0)
			break;
		off += (size_t)r;
	}
	if (off < n)
		snprintf(buf + off, n - off, "]");
	return buf;
}

static struct st *
st_alloc(void)
{
	return xcalloc(1, sizeof(struct st));
}

void
st_close(struct st *s)
{
	size_t i;
	int k;

	if (s == NULL)
		return;
	for (k = 0; k < s->n_shards; k++) {
		if (s->shards[k].map != NULL)
			munmap(s->shards[k].map, s->shards[k].map_len);
		free(s->shards[k].path);
	}
	free(s->shards);
	for (i = 0; i < s->n; i++)
		free(s->ents[i].name);
	free(s->ents);
	free(s->by_name);
	free(s->index);
	free(s);
}

static int
add_shard(struct st *s, const char *path)
{
	struct shard *sh;

	s->shards = xreallocarray(s->shards, (size_t)s->n_shards + 1,
	                          sizeof(*s->shards));
	sh = &s->shards[s->n_shards];
	memset(sh, 0, sizeof(*sh));
	sh->path = xstrdup(path);
	return s->n_shards++;
}

/* ---- Parsing one file image ---- */

/* Read a non-negative JSON integer. */
static int
json_u64(const json_t *j, uint64_t *out)
{
	json_int_t v;

	if (!json_is_integer(j))
		return -1;
	v = json_integer_value(j);
	if (v < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/*
 * Check one tensor entry of the header and fill ent (except the name).
 * data_len is the size of the data section.  Errors name the tensor; the
 * caller prefixes the file.
 */
static int
parse_entry(struct entry *ent, const char *name, const json_t *v,
            uint64_t data_len, struct err *e)
{
	const json_t *jd, *js, *jo, *x;
	uint64_t dim, count = 1, nbytes, begin, end;
	size_t i, nd;

	if (!json_is_object(v))
		return err_set(e, "tensor %s: entry is not an object", name);
	jd = json_object_get(v, "dtype");
	js = json_object_get(v, "shape");
	jo = json_object_get(v, "data_offsets");
	if (!json_is_string(jd))
		return err_set(e, "tensor %s: dtype missing or not a string",
		               name);
	if (dtype_parse(json_string_value(jd), &ent->t.dtype) == -1)
		return err_set(
		    e,
		    "tensor %s: unsupported dtype \"%.32s\" (F32, BF16, F16)",
		    name, json_string_value(jd));
	if (!json_is_array(js))
		return err_set(e, "tensor %s: shape missing or not an array",
		               name);
	nd = json_array_size(js);
	if (nd > ST_MAX_DIMS)
		return err_set(e, "tensor %s: %zu dimensions (at most %d)",
		               name, nd, ST_MAX_DIMS);
	ent->t.ndim = (int)nd;
	for (i = 0; i < ST_MAX_DIMS; i++)
		ent->t.shape[i] = 1;
	for (i = 0; i < nd; i++) {
		x = json_array_get(js, i);
		if (json_u64(x, &dim) == -1)
			return err_set(e,
			               "tensor %s: shape[%zu] is not a "
			               "non-negative integer",
			               name, i);
		ent->t.shape[i] = (int64_t)dim;
		if (__builtin_mul_overflow(count, dim, &count))
			return err_set(e, "tensor %s: element count overflows",
			               name);
	}
	if (__builtin_mul_overflow(count, (uint64_t)st_dtype_size(ent->t.dtype),
	                           &nbytes) ||
	    nbytes > SIZE_MAX)
		return err_set(e, "tensor %s: byte count overflows", name);
	if (!json_is_array(jo) || json_array_size(jo) != 2 ||
	    json_u64(json_array_get(jo, 0), &begin) == -1 ||
	    json_u64(json_array_get(jo, 1), &end) == -1)
		return err_set(e,
		               "tensor %s: data_offsets is not two "
		               "non-negative integers",
		               name);
	if (begin > end)
		return err_set(e,
		               "tensor %s: data offsets [%" PRIu64 ", %" PRIu64
		               "] out of order",
		               name, begin, end);
	if (end > data_len)
		return err_set(e,
		               "tensor %s: data offsets [%" PRIu64 ", %" PRIu64
		               "] past the end of the data (%" PRIu64
		               " bytes; file "
		               "truncated?)",
		               name, begin, end, data_len);
	if (end - begin != nbytes)
		return err_set(e,
		               "tensor %s: data offsets [%" PRIu64 ", %" PRIu64
		               "] hold %" PRIu64
		               " bytes, but dtype %s and shape need %" PRIu64,
		               name, begin, end, end - begin,
		               st_dtype_name(ent->t.dtype), nbytes);
	ent->t.nbytes = (size_t)nbytes;
	ent->begin = begin;
	return 0;
}

static int
check_metadata(const json_t *v, struct err *e)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v))
		return err_set(e, "__metadata__ is not an object");
	json_object_foreach((json_t *)v, k, x)
	{
		if (!json_is_string(x))
			return err_set(e, "__metadata__: %.64s is not a string",
			               k);
	}
	return 0;
}

static int
cmp_begin(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	/* Empty tensors first, so that the overlap check sees real spans. */
	if (x->t.nbytes != y->t.nbytes)
		return x->t.nbytes < y->t.nbytes ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Parse the file image of shard k (s->shards[k].buf, .len) and append its
 * tensors to s.  Errors are prefixed with the shard path.
 */
static int
parse_shard(struct st *s, int k, struct err *e)
{
	const struct shard *sh = &s->shards[k];
	const uint8_t *data;
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *name;
	uint64_t hlen, data_len, prev_end = 0;
	size_t first = s->n, i, n_new;
	const char *prev_name = NULL;
	struct entry *ent;

	if (sh->len < 8) {
		err_set(e,
		        "%s: file too short (%zu bytes) for a safetensors "
		        "header",
		        sh->path, sh->len);
		return -1;
	}
	hlen = le64(sh->buf);
	if (hlen > ST_HEADER_MAX)
		return err_set(e,
		               "%s: header length %" PRIu64 " exceeds the "
		               "limit of %d bytes",
		               sh->path, hlen, ST_HEADER_MAX);
	if (hlen > sh->len - 8)
		return err_set(e,
		               "%s: header length %" PRIu64 " exceeds the "
		               "file size %zu (file truncated?)",
		               sh->path, hlen, sh->len);
	if (hlen < 2)
		return err_set(e, "%s: header length %" PRIu64 " too small",
		               sh->path, hlen);
	data = sh->buf + 8 + hlen;
	data_len = sh->len - 8 - hlen;
	root = json_loadb((const char *)sh->buf + 8, (size_t)hlen,
	                  JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return err_set(e, "%s: header: line %d column %d: %s", sh->path,
		               jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		err_set(e, "%s: header is not a JSON object", sh->path);
		goto fail;
	}
	json_object_foreach(root, name, v)
	{
		if (strcmp(name, "__metadata__") == 0) {
			if (check_metadata(v, e) == -1) {
				err_prefix(e, "%s", sh->path);
				goto fail;
			}
			continue;
		}
		if (name[0] == '\0' || strlen(name) > ST_NAME_MAX) {
			err_set(e, "%s: tensor name of %zu bytes (1..%d)",
			        sh->path, strlen(name), ST_NAME_MAX);
			goto fail;
		}
		if (s->n >= ST_MAX_TENSORS) {
			err_set(e, "%s: more than %d tensors", sh->path,
			        ST_MAX_TENSORS);
			goto fail;
		}
		if (s->n == s->cap) {
			s->cap = s->cap == 0 ? 256 : s->cap * 2;
			s->ents =
			    xreallocarray(s->ents, s->cap, sizeof(*s->ents));
		}
		ent = &s->ents[s->n];
		memset(ent, 0, sizeof(*ent));
		if (parse_entry(ent, name, v, data_len, e) == -1) {
			err_prefix(e, "%s", sh->path);
			goto fail;
		}
		ent->name = xstrdup(name);
		ent->t.shard = k;
		s->n++;
	}
	json_decref(root);
	root = NULL;

	/* File order, and no two non-empty tensors share a byte. */
	n_new = s->n - first;
	qsort(s->ents + first, n_new, sizeof(*s->ents), cmp_begin);
	for (i = first; i < s->n; i++) {
		ent = &s->ents[i];
		ent->t.name = ent->name;
		ent->t.data = ent->t.nbytes > 0 ? data + ent->begin : NULL;
		if (ent->t.nbytes == 0)
			continue;
		if (prev_name != NULL && ent->begin < prev_end)
			return err_set(e,
			               "%s: tensor %s: data overlaps tensor "
			               "%s",
			               sh->path, ent->name, prev_name);
		prev_end = ent->begin + ent->t.nbytes;
		prev_name = ent->name;
	}
	return 0;
fail:
	json_decref(root);
	return -1;
}

/* ---- Lookup ---- */

static int
cmp_name(const void *a, const void *b)
{
	const struct entry *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/*
 * Build the name index, once every shard is parsed (s->ents no longer
 * moves), and reject a name seen twice (possible only across files:
 * JSON_REJECT_DUPLICATES catches it within one header).
 */
static int
index_names(struct st *s, struct err *e)
{
	size_t i;
	const struct entry *a, *b;

	s->by_name =
	    xreallocarray(NULL, s->n > 0 ? s->n : 1, sizeof(*s->by_name));
	for (i = 0; i < s->n; i++)
		s->by_name[i] = &s->ents[i];
	qsort(s->by_name, s->n, sizeof(*s->by_name), cmp_name);
	for (i = 1; i < s->n; i++) {
		a = s->by_name[i - 1];
		b = s->by_name[i];
		if (strcmp(a->name, b->name) == 0)
			return err_set(e, "%s: tensor %s: also in %s",
			               s->shards[b->t.shard].path, b->name,
			               s->shards[a->t.shard].path);
	}
	return 0;
}

const struct st_tensor *
st_find(const struct st *s, const char *name)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, s->by_name[mid]->name);
		if (c == 0)
			return &s->by_name[mid]->t;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t
st_count(const struct st *s)
{
	return s->n;
}

const struct st_tensor *
st_at(const struct st *s, size_t i)
{
	return i < s->n ? &s->ents[i].t : NULL;
}

uint64_t
st_mapped_bytes(const struct st *s)
{
	return s->mapped;
}

int
st_n_shards(const struct st *s)
{
	return s->n_shards;
}

const char *
st_shard_path(const struct st *s, int i)
{
	return i >= 0 && i < s->n_shards ? s->shards[i].path : NULL;
}

const struct st_tensor *
st_need(const struct st *s, const char *name, int ndim, const int64_t *shape,
        struct err *e)
{
	const struct st_tensor *t;
	char got[128], want[128];
	int i;

	t = st_find(s, name);
	if (t == NULL) {
		if (s->index != NULL)
			err_set(e, "%s: tensor %s: missing", s->index, name);
		else if (s->n_shards > 0)
			err_set(e, "%s: tensor %s: missing", s->shards[0].path,
			        name);
		else
			err_set(e, "tensor %s: missing", name);
		return NULL;
	}
	for (i = 0; i < ndim && i < ST_MAX_DIMS; i++)
		if (t->shape[i] != shape[i])
			break;
	if (t->ndim != ndim || i < ndim) {
		err_set(e, "%s: tensor %s: shape %s, expected %s",
		        s->shards[t->shard].path, name,
		        shape_str(got, sizeof(got), t->ndim, t->shape),
		        shape_str(want, sizeof(want), ndim, shape));
		return NULL;
	}
	return t;
}

/* ---- Opening ---- */

/* Map path read-only into shard k. */
static int
map_shard(struct st *s, int k, struct err *e)
{
	struct shard *sh = &s->shards[k];
	struct stat sb;
	void *p;
	int fd;

	fd = open(sh->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return err_set(e, "%s: %s", sh->path, strerror(errno));
	if (fstat(fd, &sb) == -1) {
		err_set(e, "%s: %s", sh->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return err_set(e, "%s: not a regular file", sh->path);
	}
	if ((uint64_t)sb.st_size > SIZE_MAX) {
		close(fd);
		return err_set(e, "%s: file too large", sh->path);
	}
	sh->len = (size_t)sb.st_size;
	if (sh->len == 0) {
		close(fd);
		sh->buf = (const uint8_t *)"";
		return 0;
	}
	p = mmap(NULL, sh->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return err_set(e, "%s: mmap: %s", sh->path, strerror(errno));
	sh->map = p;
	sh->map_len = sh->len;
	sh->buf = p;
	s->mapped += sh->len;
	return 0;
}

struct st *
st_parse(const void *buf, size_t len, const char *name, struct err *e)
{
	struct st *s = st_alloc();
	int k;

	k = add_shard(s, name != NULL ? name : "(memory)");
	s->shards[k].buf = buf;
	s->shards[k].len = len;
	if (parse_shard(s, k, e) == -1 || index_names(s, e) == -1) {
		st_close(s);
		return NULL;
	}
	return s;
}

struct st *
st_open_file(const char *path, struct err *e)
{
	struct st *s = st_alloc();
	int k;

	k = add_shard(s, path);
	if (map_shard(s, k, e) == -1 || parse_shard(s, k, e) == -1 ||
	    index_names(s, e) == -1) {
		st_close(s);
		return NULL;
	}
	return s;
}

/* Read a whole small file (at most max bytes) into a malloc'd buffer. */
static char *
slurp(const char *path, size_t max, size_t *len, struct err *e)
{
	struct stat sb;
	char *p;
	ssize_t r;
	size_t off = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size > max) {
		err_set(e, "%s: not a regular file of at most %zu bytes", path,
		        max);
		close(fd);
		return NULL;
	}
	p = xmalloc((size_t)sb.st_size + 1);
	while (off < (size_t)sb.st_size) {
		r = read(fd, p + off, (size_t)sb.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			err_set(e, "%s: read: %s", path,
			        r == 0 ? "unexpected end of file"
			               : strerror(errno));
			free(p);
			close(fd);
			return NULL;
		}
		off += (size_t)r;
	}
	close(fd);
	p[off] = '\0';
	*len = off;
	return p;
}

static bool
plain_file_name(const char *f)
{
	size_t n = strlen(f);

	return n > 0 && n <= ST_FILE_NAME_MAX && strchr(f, '/') == NULL &&
	       strcmp(f, ".") != 0 && strcmp(f, "..") != 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Open a sharded checkpoint through its index: map every distinct shard
 * named by weight_map (sorted by file name), then check that the index and
 * the shards agree tensor by tensor.
 */
static int
open_index(struct st *s, const char *dir, const char *ipath, struct err *e)
{
	json_error_t jerr;
	json_t *root = NULL, *wm, *v;
	const char *name, **files = NULL;
	char *text, path[4096];
	size_t len, nf = 0, i, j;
	int rc = -1, k;
	const struct entry *ent;
	const char *want;

	text = slurp(ipath, ST_INDEX_MAX, &len, e);
	if (text == NULL)
		return -1;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (root == NULL)
		return err_set(e, "%s: line %d column %d: %s", ipath, jerr.line,
		               jerr.column, jerr.text);
	wm = json_object_get(root, "weight_map");
	if (!json_is_object(root) || !json_is_object(wm)) {
		err_set(e, "%s: no \"weight_map\" object", ipath);
		goto out;
	}
	if (json_object_size(wm) == 0) {
		err_set(e, "%s: empty weight_map", ipath);
		goto out;
	}
	if (json_object_size(wm) > ST_MAX_TENSORS) {
		err_set(e, "%s: more than %d tensors", ipath, ST_MAX_TENSORS);
		goto out;
	}
	files = xreallocarray(NULL, json_object_size(wm), sizeof(*files));
	json_object_foreach(wm, name, v)
	{
		if (!json_is_string(v) ||
		    !plain_file_name(json_string_value(v))) {
			err_set(e,
			        "%s: tensor %s: shard is not a plain file "
			        "name",
			        ipath, name);
			goto out;
		}
		files[nf++] = json_string_value(v);
	}
	qsort(files, nf, sizeof(*files), cmp_str);
	for (i = 0, j = 0; i < nf; i++)
		if (j == 0 || strcmp(files[j - 1], files[i]) != 0)
			files[j++] = files[i];
	nf = j;
	if (nf > ST_MAX_SHARDS) {
		err_set(e, "%s: %zu shards (at most %d)", ipath, nf,
		        ST_MAX_SHARDS);
		goto out;
	}
	for (i = 0; i < nf; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		                     files[i]) >= sizeof(path)) {
			err_set(e, "%s/%s: path too long", dir, files[i]);
			goto out;
		}
		k = add_shard(s, path);
		if (map_shard(s, k, e) == -1 || parse_shard(s, k, e) == -1)
			goto out;
	}
	/* Every tensor of a shard is listed for that shard... */
	for (i = 0; i < s->n; i++) {
		ent = &s->ents[i];
		v = json_object_get(wm, ent->name);
		want = json_string_value(v);
		name = strrchr(s->shards[ent->t.shard].path, '/') + 1;
		if (want == NULL || strcmp(want, name) != 0) {
			err_set(e, "%s: tensor %s: %s %s",
			        s->shards[ent->t.shard].path, ent->name,
			        want == NULL ? "not listed in"
			                     : "listed for another shard in",
			        ipath);
			goto out;
		}
	}
	if (index_names(s, e) == -1)
		goto out;
	/* ...and every tensor listed is in its shard. */
	if (s->n != json_object_size(wm)) {
		json_object_foreach(wm, name, v)
		{
			if (st_find(s, name) == NULL) {
				err_set(e,
				        "%s/%s: tensor %s: missing (listed in "
				        "%s)",
				        dir, json_string_value(v), name, ipath);
				goto out;
			}
		}
		err_set(e, "%s: tensor count mismatch", ipath);
		goto out;
	}
	rc = 0;
out:
	free(files);
	json_decref(root);
	return rc;
}

struct st *
st_open(const char *dir, struct err *e)
{
	char ipath[4096], fpath[4096];
	struct stat sb;
	struct st *s;

	if ((size_t)snprintf(ipath, sizeof(ipath), "%s/%s", dir,
	                     "model.safetensors.index.json") >= sizeof(ipath) ||
	    (size_t)snprintf(fpath, sizeof(fpath), "%s/%s", dir,
	                     "model.safetensors") >= sizeof(fpath)) {
		err_set(e, "%s: path too long", dir);
		return NULL;
	}
	/* lstat: a dangling index symlink is an error, not "no index". */
	if (lstat(ipath, &sb) == 0) {
		s = st_alloc();
		s->index = xstrdup(ipath);
		if (open_index(s, dir, ipath, e) == -1) {
			st_close(s);
			return NULL;
		}
		return s;
	}
	if (lstat(fpath, &sb) == 0)
		return st_open_file(fpath, e);
	err_set(e, "%s: no model.safetensors.index.json or model.safetensors",
	        dir);
	return NULL;
}
