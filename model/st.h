/* SPDX-License-Identifier: ISC */
/*
 * st.h: safetensors checkpoints, mapped read-only.
 *
 * st_open() reads a checkpoint directory (a plain directory or a Hugging Face
 * cache snapshot whose files are symlinks into blobs/): either one
 * model.safetensors, or model.safetensors.index.json and every shard its
 * weight_map names.  Each shard is mmap'd PROT_READ and its header checked
 * before anything is trusted: the 8-byte little-endian header length is at
 * most the file size and at most ST_HEADER_MAX; the JSON header is parsed
 * with duplicate keys rejected; every tensor has a supported dtype (F32,
 * BF16, F16), 0..4 dimensions, begin <= end <= data size, a byte count equal
 * to product(shape) * dtype size (overflow-checked), and no two tensors of a
 * file overlap.  With an index, every tensor it names must be in the named
 * shard, and every tensor of a shard must be named by the index for it.
 *
 * The weights are never copied: st_tensor.data points into the mapping, so
 * it may be unaligned (read it with memcpy or unaligned loads) and is
 * read-only (writing faults).  Every pointer handed out lives until
 * st_close().
 *
 * The mapping relies on the files staying as they are: a shard truncated
 * or rewritten in place while mapped makes later reads fault (SIGBUS).
 * Replace checkpoint files by rename (as a download to NAME.part then
 * rename does), never in place.
 *
 * Threads: st_open/st_close by one thread; between them a struct st is
 * immutable and any thread may call the const functions.
 *
 * Errors are one line naming the file, and the tensor where there is one:
 * "/path/model-00002-of-00004.safetensors: tensor model.x.weight: data
 * offsets [10, 8] out of order".  Nothing here logs or exits.
 */
#ifndef MODEL_ST_H
#define MODEL_ST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Largest safetensors JSON header accepted (bytes), as safetensors does. */
#define ST_HEADER_MAX 100000000
/* Most dimensions of one tensor. */
#define ST_MAX_DIMS 4
/* Most shards named by one index, and most tensors in one checkpoint. */
#define ST_MAX_SHARDS  4096
#define ST_MAX_TENSORS 1000000
/* Longest tensor name accepted (bytes, without the NUL). */
#define ST_NAME_MAX 1024

enum st_dtype {
	ST_F32,  /* IEEE binary32 */
	ST_BF16, /* bfloat16: the top 16 bits of a binary32 */
	ST_F16   /* IEEE binary16 */
};

struct st_tensor {
	const char *name; /* owned by struct st */
	enum st_dtype dtype;
	int ndim; /* 0..ST_MAX_DIMS; unused dims are 1 */
	/* elements per dimension, outermost first */
	int64_t shape[ST_MAX_DIMS];
	const void *data; /* inside the read-only mapping; may be
	                     unaligned; NULL only when nbytes == 0 */
	size_t nbytes;    /* product(shape) * st_dtype_size(dtype) */
	int shard;        /* index of the file it lives in (0-based) */
};

/* All shards of one checkpoint (opaque). */
struct st;

/*
 * Open the checkpoint in directory dir: model.safetensors.index.json with
 * the shards it names when that file exists, else model.safetensors.  Files
 * may be symlinks (HF cache snapshots).  Shard names in the index must be
 * plain file names (no '/', not "." or "..").  Returns NULL and fills e on
 * any missing, unreadable, truncated or inconsistent file.
 */
struct st *st_open(const char *dir, struct err *e);
/* Open one safetensors file by its path (no index).  Same checks. */
struct st *st_open_file(const char *path, struct err *e);
/*
 * Parse a whole safetensors file image held in memory (header length, JSON
 * header, data), for tests and fuzzing.  buf is borrowed and must outlive
 * the result; name is used in error messages only.  Same checks as st_open.
 */
struct st *st_parse(const void *buf, size_t len, const char *name,
                    struct err *e);
/* Unmap and free everything; s may be NULL. */
void st_close(struct st *s);

/* The tensor called name (exact match), or NULL if absent. */
const struct st_tensor *st_find(const struct st *s, const char *name);
/* Number of tensors, and the i-th (0 <= i < st_count) in file order:
 * shard by shard, and by data offset within a shard. */
size_t st_count(const struct st *s);
const struct st_tensor *st_at(const struct st *s, size_t i);
/* Total bytes mapped (the sum of the shard file sizes). */
uint64_t st_mapped_bytes(const struct st *s);
/* Number of shard files, and the path of shard i (as opened, owned by s). */
int st_n_shards(const struct st *s);
const char *st_shard_path(const struct st *s, int i);

/*
 * Look up a tensor that must exist with this shape: ndim dimensions given
 * in shape[].  Any dtype of ours is accepted (callers convert).  Returns
 * the tensor, or NULL with e naming the file and tensor ("FILE: tensor X:
 * shape [3, 4], expected [4, 4]", or "FILE: tensor X: missing" where FILE
 * is the index of a sharded checkpoint).
 */
const struct st_tensor *st_need(const struct st *s, const char *name, int ndim,
                                const int64_t *shape, struct err *e);

/* Bytes per element (4, 2, 2) and the safetensors name ("F32", "BF16",
 * "F16") of a dtype. */
size_t st_dtype_size(enum st_dtype dt);
const char *st_dtype_name(enum st_dtype dt);

#endif
