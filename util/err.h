/* SPDX-License-Identifier: ISC */
/*
 * err.h: a fixed-size error message that callers pass down as the last
 * argument.  Setting it never allocates, so it cannot fail.
 */
#ifndef UTIL_ERR_H
#define UTIL_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 512

struct err {
	char msg[ERR_MSG_MAX];
};

/*
 * Format a message into e (which may be NULL) and return -1, so a failing
 * function can end with `return err_set(e, "...", ...);`.
 */
int err_set(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the message already in e with "prefix: ". Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
