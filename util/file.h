/* SPDX-License-Identifier: ISC */
/* file.h: reading a whole file with a size limit. */
#ifndef UTIL_FILE_H
#define UTIL_FILE_H

#include <stddef.h>

#include "util/err.h"

/*
 * Read the whole file at path, which must hold at most max bytes, into a
 * malloc'd buffer (NUL-terminated one past *len, so text can be used as a
 * string).  Returns it, or NULL with e naming the path and the problem
 * (cannot open, read error, larger than max).  Never reads more than
 * max + 1 bytes.
 */
void *file_read(const char *path, size_t max, size_t *len, struct err *e);

#endif
