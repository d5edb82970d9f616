/* SPDX-License-Identifier: ISC */
/*
 * buf.h: a growable byte buffer with a hard cap.  When an append would pass
 * the cap, or memory runs out, the buffer frees itself and the append fails,
 * so a buffer fed from outside is never left half-built (the idea of curl's
 * dynbuf).  The data is always NUL-terminated for convenience.
 */
#ifndef UTIL_BUF_H
#define UTIL_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append */
	size_t len; /* bytes used, excluding the terminating NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* most bytes the buffer may hold */
};

/* Prepare b to hold at most max bytes.  Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Free the storage; b may be reused after buf_init. */
void buf_fini(struct buf *b);
/* Forget the contents but keep the storage. */
void buf_reset(struct buf *b);
/* Append n bytes.  Returns 0, or -1 (b freed) past the cap or on ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append formatted text.  Same return as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Take the data (caller frees); b is left empty. */
char *buf_steal(struct buf *b, size_t *len);

#endif
