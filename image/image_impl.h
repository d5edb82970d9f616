/* SPDX-License-Identifier: ISC */
/*
 * image_impl.h: private interface between image.c and the per-format
 * decoders (png.c, jpeg.c).  Each decoder reads the header, calls
 * image_check() before allocating, and fills out->rgb with packed RGB.
 */
#ifndef IMAGE_IMAGE_IMPL_H
#define IMAGE_IMAGE_IMPL_H

#include <stddef.h>

#include "image/image.h"

int image_png_probe(const void *buf, size_t n, struct image_info *info,
                    struct err *e);
int image_png_decode(const void *buf, size_t n, const struct image_limits *lim,
                     struct image *out, struct err *e);
int image_jpeg_probe(const void *buf, size_t n, struct image_info *info,
                     struct err *e);
int image_jpeg_decode(const void *buf, size_t n, const struct image_limits *lim,
                      struct image *out, struct err *e);

#endif
