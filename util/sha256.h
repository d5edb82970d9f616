/* SPDX-License-Identifier: ISC */
/*
 * sha256.h: SHA-256 (FIPS 180-4) in plain C, for hashing decoded frames,
 * downloads and test data.  Incremental (init/update/final) or one shot.
 * A context belongs to one thread; the functions keep no global state.
 */
#ifndef UTIL_SHA256_H
#define UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN     32 /* digest bytes */
#define SHA256_HEX_LEN 65 /* hex digest plus NUL */

struct sha256 {
	uint32_t h[8];   /* chaining state */
	uint64_t n;      /* bytes hashed so far */
	uint8_t blk[64]; /* pending partial block */
	size_t blk_len;  /* bytes in blk */
};

/* Start a new digest in c (caller-owned storage). */
void sha256_init(struct sha256 *c);
/* Hash n more bytes of p (p may be NULL when n is 0). */
void sha256_update(struct sha256 *c, const void *p, size_t n);
/* Finish: write the 32-byte digest to out.  c must be re-initialised to be
 * used again. */
void sha256_final(struct sha256 *c, uint8_t out[SHA256_LEN]);
/* One shot: digest of n bytes of p into out. */
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);
/* One shot, as 64 lower-case hex digits plus NUL into hex. */
void sha256_hex(const void *p, size_t n, char hex[SHA256_HEX_LEN]);

#endif
