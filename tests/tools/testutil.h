/* SPDX-License-Identifier: ISC */
/*
 * testutil.h: helpers shared by the test programs (test-only code).
 *
 * The ground-truth data lives in ../shared beside the checkout; the build
 * passes its location in POINTD_SHARED.  A test that needs it calls
 * tu_shared(), which exits with automake's SKIP status (77) and a loud
 * message when the data is missing, or with a hard error (99) when
 * POINTD_REQUIRE_SHARED=1 (CI sets it), so missing data never passes.
 */
#ifndef TESTS_TOOLS_TESTUTIL_H
#define TESTS_TOOLS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Absolute path of REL under the shared data directory, in a static buffer
 * that the next call overwrites.  Exits 77/99 if the directory is missing. */
const char *tu_shared(const char *rel);
/* Same, but returns a malloc'd copy the caller frees. */
char *tu_shared_dup(const char *rel);
/* Read a whole file; exits 99 with a message on failure.  Caller frees. */
void *tu_read_file(const char *path, size_t *len);
/* Path of REL under the source tree ($top_srcdir), static buffer. */
const char *tu_srcpath(const char *rel);
/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp), malloc'd. */
char *tu_tmpdir(void);
/* Remove a directory tree made by tu_tmpdir. */
void tu_rmtree(const char *path);

/*
 * A golden safetensors file read whole (tu_st.c; link jansson).  The
 * engine's model/st.c reads float tensors only; golden files also hold
 * I64 and U8 ones.  A malformed file exits 99 with a message.
 */
struct json_t;
struct tu_st {
	unsigned char *buf;
	size_t len, data_off;
	struct json_t *hdr;
};
void tu_st_open(struct tu_st *g, const char *path);
void tu_st_close(struct tu_st *g);
/* The data of tensor name (unaligned) and its element count in *count;
 * NULL when the file has no such tensor.  With dtype non-NULL ("F32",
 * "I64", "U8", ...) the tensor must have it; shape (4 entries) and ndim
 * may be NULL. */
const void *tu_st_get(const struct tu_st *g, const char *name,
                      const char *dtype, int64_t shape[4], int *ndim,
                      size_t *count);
/* Element i of a little-endian I64 or F32 array at p (unaligned). */
int64_t tu_i64_at(const void *p, size_t i);
float tu_f32_at(const void *p, size_t i);

#endif
