/* SPDX-License-Identifier: ISC */
/*
 * image.c: format detection, limits and dispatch to the PNG and JPEG
 * decoders.  The limits are checked from the header alone, before any pixel
 * memory is allocated, so a small file claiming a huge size costs nothing.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "image/image_impl.h"
#include "util/err.h"

static const uint8_t png_magic[8] = {0x89, 'P',  'N',  'G',
                                     '\r', '\n', 0x1a, '\n'};

enum image_format
image_format_detect(const void *buf, size_t n)
{
	const uint8_t *p = buf;

	if (n >= sizeof(png_magic) &&
	    memcmp(p, png_magic, sizeof(png_magic)) == 0)
		return IMAGE_PNG;
	/* JPEG: SOI marker followed by the start of another marker. */
	if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return IMAGE_JPEG;
	return IMAGE_UNKNOWN;
}

const char *
image_format_name(enum image_format f)
{
	switch (f) {
	case IMAGE_PNG:
		return "png";
	case IMAGE_JPEG:
		return "jpeg";
	case IMAGE_UNKNOWN:
		break;
	}
	return "unknown";
}

int
image_probe(const void *buf, size_t n, struct image_info *info, struct err *e)
{
	memset(info, 0, sizeof(*info));
	if (buf == NULL || n == 0)
		return err_set(e, "empty image");
	switch (image_format_detect(buf, n)) {
	case IMAGE_PNG:
		return image_png_probe(buf, n, info, e);
	case IMAGE_JPEG:
		return image_jpeg_probe(buf, n, info, e);
	case IMAGE_UNKNOWN:
		break;
	}
	return err_set(e, "unknown image format (expected PNG or JPEG)");
}

int
image_check(const struct image_info *info, size_t n,
            const struct image_limits *lim, struct err *e)
{
	size_t max_bytes = IMAGE_MAX_BYTES;
	int max_side = IMAGE_MAX_SIDE;
	uint64_t max_pixels = IMAGE_MAX_PIXELS, px;

	if (lim != NULL && lim->max_bytes > 0)
		max_bytes = lim->max_bytes;
	if (lim != NULL && lim->max_side > 0)
		max_side = lim->max_side;
	if (lim != NULL && lim->max_pixels > 0)
		max_pixels = lim->max_pixels;
	if (n > max_bytes)
		return err_set(e, "%zu bytes exceeds the limit of %zu", n,
		               max_bytes);
	if (info->w <= 0 || info->h <= 0)
		return err_set(e, "invalid size %dx%d", info->w, info->h);
	if (info->w > max_side || info->h > max_side)
		return err_set(e, "%dx%d exceeds %d pixels per side", info->w,
		               info->h, max_side);
	px = (uint64_t)info->w * (uint64_t)info->h;
	if (px > max_pixels)
		return err_set(e,
		               "%dx%d exceeds the limit of %" PRIu64 " pixels",
		               info->w, info->h, max_pixels);
	return 0;
}

int
image_decode(const void *buf, size_t n, const struct image_limits *lim,
             struct image *out, struct err *e)
{
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || n == 0)
		return err_set(e, "empty image");
	switch (image_format_detect(buf, n)) {
	case IMAGE_PNG:
		rc = image_png_decode(buf, n, lim, out, e);
		break;
	case IMAGE_JPEG:
		rc = image_jpeg_decode(buf, n, lim, out, e);
		break;
	case IMAGE_UNKNOWN:
		return err_set(e,
		               "unknown image format (expected PNG or JPEG)");
	}
	if (rc == -1)
		image_fini(out);
	return rc;
}

void
image_fini(struct image *img)
{
	if (img == NULL)
		return;
	free(img->rgb);
	memset(img, 0, sizeof(*img));
}
