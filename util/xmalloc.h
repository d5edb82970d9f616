/* SPDX-License-Identifier: ISC */
/*
 * xmalloc.h: allocation that aborts on out-of-memory (the Redis and OpenSSH
 * policy).  Use only for small allocations; anything sized by outside input
 * must first meet a limit, and large buffers use malloc and report failure.
 */
#ifndef UTIL_XMALLOC_H
#define UTIL_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
