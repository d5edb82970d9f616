/* SPDX-License-Identifier: ISC */
/*
 * jpeg.c: JPEG decoding with the TurboJPEG 2.1 API (Debian bookworm ships
 * libjpeg-turbo 2.1, so tjInitDecompress/tjDecompressHeader3/tjDecompress2,
 * not the tj3 functions).
 *
 * Accurate defaults (no TJFLAG_FASTDCT or TJFLAG_FASTUPSAMPLE), and
 * TJFLAG_LIMITSCANS so a progressive file with thousands of scans fails
 * instead of burning CPU.  Warnings (corrupt data that libjpeg would paper
 * over) are errors, as PIL refuses truncated files by default.  Greyscale is
 * expanded to RGB by the library; CMYK files are rejected.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "image/image_impl.h"
#include "util/err.h"

static int
header(tjhandle tj, const void *buf, size_t n, struct image_info *info,
       struct err *e)
{
	int w = 0, h = 0, subsamp = -1, cs = -1;

	if (n > (size_t)0xffffffffUL)
		return err_set(e, "jpeg: %zu bytes too large", n);
	if (tjDecompressHeader3(tj, buf, (unsigned long)n, &w, &h, &subsamp,
	                        &cs) != 0)
		return err_set(e, "jpeg: %s", tjGetErrorStr2(tj));
	/* A header cut short can "succeed" without setting the size. */
	if (w < 1 || h < 1)
		return err_set(e, "jpeg: invalid header (size %dx%d)", w, h);
	if (cs == TJCS_CMYK || cs == TJCS_YCCK)
		return err_set(e, "jpeg: CMYK images are not supported");
	info->format = IMAGE_JPEG;
	info->w = w;
	info->h = h;
	return 0;
}

int
image_jpeg_probe(const void *buf, size_t n, struct image_info *info,
                 struct err *e)
{
	tjhandle tj;
	int rc;

	tj = tjInitDecompress();
	if (tj == NULL)
		return err_set(e, "jpeg: %s", tjGetErrorStr2(NULL));
	rc = header(tj, buf, n, info, e);
	tjDestroy(tj);
	return rc;
}

int
image_jpeg_decode(const void *buf, size_t n, const struct image_limits *lim,
                  struct image *out, struct err *e)
{
	struct image_info info;
	tjhandle tj;
	uint8_t *px;
	size_t size;

	tj = tjInitDecompress();
	if (tj == NULL)
		return err_set(e, "jpeg: %s", tjGetErrorStr2(NULL));
	if (header(tj, buf, n, &info, e) == -1)
		goto fail;
	if (image_check(&info, n, lim, e) == -1) {
		err_prefix(e, "jpeg");
		goto fail;
	}
	if (__builtin_mul_overflow((size_t)info.w * 3, (size_t)info.h, &size)) {
		err_set(e, "jpeg: %dx%d too large", info.w, info.h);
		goto fail;
	}
	px = malloc(size);
	if (px == NULL) {
		err_set(e, "jpeg: out of memory for %zu bytes", size);
		goto fail;
	}
	if (tjDecompress2(tj, buf, (unsigned long)n, px, info.w, 0, info.h,
	                  TJPF_RGB,
	                  TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING) != 0) {
		err_set(e, "jpeg: %s", tjGetErrorStr2(tj));
		free(px);
		goto fail;
	}
	tjDestroy(tj);
	out->w = info.w;
	out->h = info.h;
	out->rgb = px;
	return 0;
fail:
	tjDestroy(tj);
	return -1;
}
