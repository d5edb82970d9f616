/* SPDX-License-Identifier: ISC */
/*
 * png.c: PNG decoding with libpng's low-level API.
 *
 * The header is read first (image_png_probe) and the size checked against
 * the limits before libpng is involved; the pixel buffer is allocated
 * after png_read_info() confirmed that size.  libpng reports errors by
 * calling error_fn, which records the message in the caller's struct err
 * and longjmps back to image_png_decode (the only setjmp in the tree).
 *
 * Colour, as PIL's convert("RGB") gives it: palettes expanded (tRNS
 * ignored), greyscale replicated, alpha dropped (not composited), 16-bit
 * samples cut to their high byte, gAMA/sRGB/iCCP not applied.  (PIL opens
 * a 16-bit greyscale file as mode I;16, which convert("RGB") clips at 255
 * instead; that is not followed.)
 *
 * Speed: zlib's Adler-32 of the inflated data is not computed
 * (PNG_IGNORE_ADLER32; each chunk's CRC-32 is still checked), which is a
 * fifth of the decoding time of a screenshot.
 */
#include "config.h"

#include <inttypes.h>
#include <setjmp.h>
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

/* The file in memory, read by libpng through read_fn. */
struct png_src {
	const uint8_t *p;
	size_t n, off;
};

static void
read_fn(png_structp png, png_bytep out, size_t len)
{
	struct png_src *src = png_get_io_ptr(png);

	if (len > src->n - src->off)
		png_error(png, "truncated file");
	memcpy(out, src->p + src->off, len);
	src->off += len;
}

static void
error_fn(png_structp png, png_const_charp msg)
{
	err_set(png_get_error_ptr(png), "png: %s", msg);
	png_longjmp(png, 1);
}

static void
warn_fn(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

int
image_png_decode(const void *buf, size_t n, const struct image_limits *lim,
                 struct image *out, struct err *e)
{
	struct png_src src = {buf, n, 0};
	struct image_info info;
	png_structp png;
	png_infop pi;
	uint8_t *volatile px = NULL;
	png_bytep *volatile rows = NULL;
	size_t stride, size;
	png_uint_32 y;
	int ct, depth;

	if (image_png_probe(buf, n, &info, e) == -1)
		return -1;
	if (image_check(&info, n, lim, e) == -1)
		return err_prefix(e, "png");
	png =
	    png_create_read_struct(PNG_LIBPNG_VER_STRING, e, error_fn, warn_fn);
	pi = png != NULL ? png_create_info_struct(png) : NULL;
	if (pi == NULL) {
		png_destroy_read_struct(&png, NULL, NULL);
		return err_set(e, "png: out of memory");
	}
	if (setjmp(png_jmpbuf(png))) {
		/* e holds libpng's message */
		png_destroy_read_struct(&png, &pi, NULL);
		free(rows);
		free(px);
		return -1;
	}
	png_set_read_fn(png, &src, read_fn);
	png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
	png_read_info(png, pi);
	if (png_get_image_width(png, pi) != (png_uint_32)info.w ||
	    png_get_image_height(png, pi) != (png_uint_32)info.h)
		png_error(png, "inconsistent header");
	ct = png_get_color_type(png, pi);
	depth = png_get_bit_depth(png, pi);
	if (depth == 16)
		png_set_strip_16(png);
	if (ct == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA)
		png_set_gray_to_rgb(png);
	/* expanding a palette turns tRNS into alpha; drop it too */
	if ((ct & PNG_COLOR_MASK_ALPHA) != 0 ||
	    png_get_valid(png, pi, PNG_INFO_tRNS) != 0)
		png_set_strip_alpha(png);
	(void)png_set_interlace_handling(png);
	png_read_update_info(png, pi);
	/* The limits bound w*h, so these cannot overflow; check anyway. */
	if (__builtin_mul_overflow((size_t)info.w, (size_t)3, &stride) ||
	    __builtin_mul_overflow(stride, (size_t)info.h, &size))
		png_error(png, "image too large");
	if (png_get_rowbytes(png, pi) != stride)
		png_error(png, "unexpected row size after conversion");
	px = malloc(size);
	rows = malloc((size_t)info.h * sizeof(*rows));
	if (px == NULL || rows == NULL)
		png_error(png, "out of memory");
	for (y = 0; y < (png_uint_32)info.h; y++)
		rows[y] = px + (size_t)y * stride;
	png_read_image(png, rows);
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &pi, NULL);
	free(rows);
	out->w = info.w;
	out->h = info.h;
	out->rgb = px;
	return 0;
}
