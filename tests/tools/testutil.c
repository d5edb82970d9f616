/* SPDX-License-Identifier: ISC */
/* testutil.c: locating ../shared and small file helpers for tests. */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tools/testutil.h"
#include "util/xmalloc.h"

static const char *
shared_root(void)
{
	static char root[4096];
	const char *env, *req;
	struct stat st;

	if (root[0] != '\0')
		return root;
	env = getenv("POINTD_SHARED");
	if (env == NULL || *env == '\0')
		env = "../shared";
	if (realpath(env, root) == NULL || stat(root, &st) == -1 ||
	    !S_ISDIR(st.st_mode)) {
		req = getenv("POINTD_REQUIRE_SHARED");
		fprintf(
		    stderr,
		    "\n*** SHARED TEST DATA NOT FOUND at '%s' ***\n"
		    "*** this test needs ../shared (golden data, tokenizers);"
		    " configure --with-shared=DIR ***\n\n",
		    env);
		exit(req != NULL && strcmp(req, "1") == 0 ? 99 : 77);
	}
	return root;
}

const char *
tu_shared(const char *rel)
{
	static char path[8192];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", shared_root(), rel);
	if (stat(path, &st) == -1) {
		fprintf(stderr, "*** shared test data missing: %s: %s ***\n",
		        path, strerror(errno));
		exit(99);
	}
	return path;
}

char *
tu_shared_dup(const char *rel)
{
	return xstrdup(tu_shared(rel));
}

void *
tu_read_file(const char *path, size_t *len)
{
	FILE *f;
	char *p;
	long n;

	f = fopen(path, "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1) {
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
		exit(99);
	}
	p = xmalloc((size_t)n + 1);
	if (n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "short read on %s\n", path);
		exit(99);
	}
	p[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return p;
}

const char *
tu_srcpath(const char *rel)
{
	static char path[8192];
	const char *top = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/%s", top != NULL ? top : ".", rel);
	return path;
}

char *
tu_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char tmpl[4096];

	snprintf(tmpl, sizeof(tmpl), "%s/pointd-test.XXXXXX",
	         t != NULL ? t : "/tmp");
	if (mkdtemp(tmpl) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		exit(99);
	}
	return xstrdup(tmpl);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
tu_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
