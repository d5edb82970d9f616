/* SPDX-License-Identifier: ISC */
/*
 * fuzz_answer.c: libFuzzer target for model answer text (answer_parse).
 * The first two bytes pick the image size, the rest is the text.  Every
 * point returned must lie in the image.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/answer.h"
#include "util/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answer a;
	struct err e;
	char *text;
	size_t i;
	int w = 1280, h = 720;

	if (size >= 2) {
		w = 1 + data[0] * 8;
		h = 1 + data[1] * 8;
		data += 2;
		size -= 2;
	}
	text = xstrndup((const char *)data, size);
	if (answer_parse(text, w, h, &a, &e) == 0) {
		for (i = 0; i < a.n; i++)
			if (a.pts[i].px < 0 || a.pts[i].px >= w ||
			    a.pts[i].py < 0 || a.pts[i].py >= h ||
			    !(a.pts[i].x >= 0 && a.pts[i].x <= w) ||
			    a.pts[i].tag >= a.n_tags)
				abort();
		if (a.none != (a.n == 0))
			abort();
		answer_fini(&a);
	}
	free(text);
	return 0;
}
