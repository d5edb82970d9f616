/* SPDX-License-Identifier: ISC */
/* file.c: read a whole file, capped. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"
#include "util/xmalloc.h"

void *
file_read(const char *path, size_t max, size_t *len, struct err *e)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0, got;

	if (f == NULL) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			if (cap > max)
				break; /* max + 1 bytes read: too large */
			cap = cap != 0 ? 2 * cap : 65536;
			if (cap > max + 1)
				cap = max + 1;
			p = xreallocarray(p, cap + 1, 1);
		}
		got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		err_set(e, "%s: read error", path);
		goto fail;
	}
	if (n > max) {
		err_set(e, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	fclose(f);
	if (p == NULL)
		p = xmalloc(1);
	p[n] = '\0';
	*len = n;
	return p;
fail:
	fclose(f);
	free(p);
	return NULL;
}
