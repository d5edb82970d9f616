/* SPDX-License-Identifier: ISC */
/*
 * fuzz_image.c: libFuzzer target for image/: probe, then decode with small
 * limits (so the fuzzer explores headers instead of allocating gigabytes).
 * Every byte string must give either pixels of the probed size or an error.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "image/image.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_limits lim = {1 << 20, 2048, 1 << 20};
	struct image_info info;
	struct image img;
	struct err e;
	int probed;

	probed = image_probe(data, size, &info, &e);
	if (image_decode(data, size, &lim, &img, &e) == 0) {
		if (probed != 0 || img.w != info.w || img.h != info.h)
			abort();
		/* Touch every byte so ASan sees the whole buffer. */
		if (img.rgb[(size_t)img.w * img.h * 3 - 1] == 0 && img.w < 0)
			abort();
		image_fini(&img);
	} else if (img.rgb != NULL) {
		abort();
	}
	return 0;
}
