/* SPDX-License-Identifier: ISC */
/*
 * replay.c: runs a libFuzzer target over its saved corpus without libFuzzer,
 * so `make check` replays every input (and every crash ever found) in a
 * normal or sanitizer build.  The program is named replay_NAME and reads
 * $top_srcdir/tests/fuzz/corpus/NAME/, or the directories given as arguments.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *f;
	uint8_t *p;
	struct stat st;

	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return 0;
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	p = xmalloc((size_t)st.st_size + 1);
	if (st.st_size > 0 &&
	    fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		fclose(f);
		free(p);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(p, (size_t)st.st_size);
	free(p);
	return 1;
}

static int
replay_dir(const char *dir, int *count)
{
	struct dirent **ents;
	char path[4096];
	int i, n, r, rc = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir,
			         ents[i]->d_name);
			r = replay_file(path);
			if (r < 0)
				rc = -1;
			else
				*count += r;
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *name, *top;
	char dir[4096];
	int i, count = 0, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_dir(argv[i], &count) == -1)
				rc = 1;
	} else {
		name = strrchr(argv[0], '/');
		name = name != NULL ? name + 1 : argv[0];
		if (strncmp(name, "lt-", 3) == 0)
			name += 3;
		if (strncmp(name, "replay_", 7) != 0) {
			fprintf(stderr,
			        "replay: cannot tell the target from "
			        "the program name %s\n",
			        name);
			return 1;
		}
		top = getenv("top_srcdir");
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
		         top != NULL ? top : ".", name + 7);
		if (replay_dir(dir, &count) == -1)
			rc = 1;
	}
	if (count == 0) {
		fprintf(stderr, "replay: empty corpus\n");
		return 1;
	}
	printf("replayed %d inputs\n", count);
	return rc;
}
