/* SPDX-License-Identifier: ISC */
/*
 * image.h: PNG and JPEG bytes -> 8-bit RGB pixels, with size limits.
 *
 * image/ decodes for all three programs (pointd, pointctl, pointagent).  The
 * format is detected from the magic bytes, never from a file name or a MIME
 * type.  Callers that receive images from outside first call image_probe(),
 * which reads only the header, so a decompression bomb (a small file that
 * claims 40000x40000 pixels) is rejected before any pixel buffer exists;
 * image_decode() applies the same limits itself.
 *
 * Colour handling follows the Molmo reference (docs/molmo-v1.md section 4.1,
 * PIL `convert("RGB")` semantics): an alpha channel is dropped (the colour
 * values are kept as stored, not composited), greyscale is replicated to
 * three channels, palettes are expanded.  Embedded colour profiles and EXIF
 * orientation are ignored (the reference ignores EXIF too).
 *
 * All functions are reentrant; an image belongs to its caller.
 */
#ifndef IMAGE_IMAGE_H
#define IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct err;

enum image_format {
	IMAGE_UNKNOWN = 0,
	IMAGE_PNG,
	IMAGE_JPEG,
};

/* Limits on what image_decode() accepts.  Zero in a field means "use the
 * default" (IMAGE_MAX_*). */
struct image_limits {
	size_t max_bytes;    /* encoded size in bytes */
	int max_side;        /* width and height each, pixels */
	uint64_t max_pixels; /* width * height */
};

#define IMAGE_MAX_BYTES  ((size_t)64 << 20)   /* 64 MiB encoded */
#define IMAGE_MAX_SIDE   16384                /* pixels per side */
#define IMAGE_MAX_PIXELS ((uint64_t)40 << 20) /* ~41.9 Mpx, 120 MiB RGB */

/* Header facts read by image_probe(). */
struct image_info {
	enum image_format format;
	int w, h; /* pixels */
};

/* Decoded pixels: h rows of w pixels, 3 bytes (R, G, B) each, no padding.
 * rgb is malloc'd and owned by the struct; release it with image_fini(). */
struct image {
	int w, h;
	uint8_t *rgb;
};

/* The format named by the first bytes of buf (IMAGE_UNKNOWN if neither). */
enum image_format image_format_detect(const void *buf, size_t n);
/* "png", "jpeg" or "unknown". */
const char *image_format_name(enum image_format f);

/*
 * Read only the header of an encoded image: format, width and height.  Does
 * not allocate pixel memory and does not check limits.  Returns 0, or -1
 * with e set (unknown format, truncated or corrupt header).
 */
int image_probe(const void *buf, size_t n, struct image_info *info,
                struct err *e);

/*
 * Check probed facts and the encoded size n against lim (NULL = defaults).
 * Returns 0, or -1 with a message such as "40000x40000 exceeds 16384 pixels
 * per side".
 */
int image_check(const struct image_info *info, size_t n,
                const struct image_limits *lim, struct err *e);

/*
 * Decode n bytes of PNG or JPEG at buf into out (whose previous contents are
 * ignored).  Checks the limits (lim may be NULL) from the header before
 * allocating the pixel buffer.  Returns 0 and fills out, or -1 with e set and
 * out zeroed; nothing is leaked either way.
 */
int image_decode(const void *buf, size_t n, const struct image_limits *lim,
                 struct image *out, struct err *e);

/* Free the pixels and zero img (which may be zeroed or already finished). */
void image_fini(struct image *img);

#endif
