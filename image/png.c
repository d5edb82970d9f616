/* SPDX-License-Identifier: ISC */
/*
 * png.c: PNG decoding with libpng's simplified API (png_image).
 *
 * The header is read first (png_image_begin_read_from_memory) and the size
 * checked against the limits before the pixel buffer is allocated and
 * png_image_finish_read() decodes.  The simplified API reports errors in
 * png_image.message, so no setjmp is needed here.
 *
 * Colour: files without alpha are read straight to 8-bit RGB (greyscale is
 * replicated, palettes expanded).  Files with alpha (RGBA, grey+alpha, tRNS)
 * are read as non-premultiplied RGBA and the alpha byte is dropped, as PIL's
 * convert("RGB") does; libpng is not asked to composite.
 * XXX libpng converts 16-bit samples to 8 bits with rounding where PIL
 * truncates (v >> 8), and applies a gAMA chunk that PIL ignores; screenshots
 * are 8-bit sRGB without gAMA, so this has not mattered.  Fix: decode with
 * the low-level API (png_set_strip_16) if it ever does.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image/image_impl.h"
#include "util/err.h"

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* IHDR is the first chunk: 8-byte signature, length 13, "IHDR", width and
 * height as big-endian 31-bit numbers (PNG specification 11.2.2). */
int
image_png_probe(const void *buf, size_t n, struct image_info *info,
                struct err *e)
{
	const uint8_t *p = buf;
	uint32_t w, h;

	if (n < 33)
		return err_set(e, "png: truncated header (%zu bytes)", n);
	if (be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4) != 0)
		return err_set(e, "png: first chunk is not IHDR");
	w = be32(p + 16);
	h = be32(p + 20);
	if (w == 0 || h == 0 || w > INT32_MAX || h > INT32_MAX)
		return err_set(e, "png: invalid size %" PRIu32 "x%" PRIu32, w,
		               h);
	info->format = IMAGE_PNG;
	info->w = (int)w;
	info->h = (int)h;
	return 0;
}

int
image_png_decode(const void *buf, size_t n, const struct image_limits *lim,
                 struct image *out, struct err *e)
{
	png_image img;
	struct image_info info;
	size_t stride, size, i, npx;
	unsigned channels;
	uint8_t *px = NULL;

	if (image_png_probe(buf, n, &info, e) == -1)
		return -1;
	if (image_check(&info, n, lim, e) == -1)
		return err_prefix(e, "png");
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	/* 16-bit files without gAMA/sRGB are sRGB, not linear. */
	img.flags = PNG_IMAGE_FLAG_16BIT_sRGB;
	if (!png_image_begin_read_from_memory(&img, buf, n)) {
		err_set(e, "png: %s", img.message);
		png_image_free(&img);
		return -1;
	}
	if (img.width != (png_uint_32)info.w ||
	    img.height != (png_uint_32)info.h) {
		png_image_free(&img);
		return err_set(e, "png: inconsistent header");
	}
	img.format = (img.format & PNG_FORMAT_FLAG_ALPHA) != 0 ? PNG_FORMAT_RGBA
	                                                       : PNG_FORMAT_RGB;
	channels = PNG_IMAGE_SAMPLE_CHANNELS(img.format);
	/* The limits bound w*h, so these cannot overflow; check anyway. */
	if (__builtin_mul_overflow((size_t)img.width, channels, &stride) ||
	    __builtin_mul_overflow(stride, (size_t)img.height, &size)) {
		png_image_free(&img);
		return err_set(e, "png: %dx%d too large", info.w, info.h);
	}
	px = malloc(size);
	if (px == NULL) {
		png_image_free(&img);
		return err_set(e, "png: out of memory for %zu bytes", size);
	}
	if (!png_image_finish_read(&img, NULL, px, (png_int_32)stride, NULL)) {
		err_set(e, "png: %s", img.message);
		png_image_free(&img);
		free(px);
		return -1;
	}
	png_image_free(&img);
	if (channels == 4) {
		/* Drop alpha in place: pixel i moves from 4i to 3i <= 4i. */
		npx = (size_t)info.w * (size_t)info.h;
		for (i = 0; i < npx; i++) {
			px[3 * i] = px[4 * i];
			px[3 * i + 1] = px[4 * i + 1];
			px[3 * i + 2] = px[4 * i + 2];
		}
	}
	out->w = info.w;
	out->h = info.h;
	out->rgb = px;
	return 0;
}
