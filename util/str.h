/* SPDX-License-Identifier: ISC */
/* str.h: bounded string copies and number parsing that reports errors. */
#ifndef UTIL_STR_H
#define UTIL_STR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Copy src into dst of size n, always NUL-terminated.  Returns strlen(src);
 * a result >= n means it was truncated. */
size_t str_copy(char *dst, const char *src, size_t n);
/* Parse a decimal integer in [min, max].  Returns 0, or -1 with *errstr set
 * to "invalid", "too small" or "too large". */
int str_to_ll(const char *s, long long min, long long max, long long *out,
              const char **errstr);
/* Parse a finite double.  Returns 0 or -1. */
int str_to_double(const char *s, double *out);
/* True if s ends with suffix. */
bool str_has_suffix(const char *s, const char *suffix);

#endif
