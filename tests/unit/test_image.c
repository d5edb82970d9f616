/* SPDX-License-Identifier: ISC */
/*
 * test_image.c: image/ (PNG and JPEG decoding, limits) and util/sha256.
 * The golden PNGs must decode to the RGB bytes whose SHA-256 the golden
 * images.json records; broken and oversized inputs must fail with a message.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "image/image.h"
#include "tests/tools/testutil.h"
#include "util/err.h"
#include "util/sha256.h"

/* ---- SHA-256 ---- */

START_TEST(test_sha256_matches_fips_vectors)
{
	char hex[SHA256_HEX_LEN];
	struct sha256 c;
	uint8_t d[SHA256_LEN], d2[SHA256_LEN];
	static char million[1000000];
	size_t i;

	sha256_hex("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	                      "27ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
	                      "b00361a396177a9cb410ff61f20015ad");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	           56, hex);
	ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039"
	                      "a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', sizeof(million));
	sha256_hex(million, sizeof(million), hex);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67"
	                      "f1809a48a497200e046d39ccc7112cd0");
	/* Incremental updates in odd pieces give the same digest. */
	sha256(million, 1000, d);
	sha256_init(&c);
	for (i = 0; i < 1000; i += 7)
		sha256_update(&c, million + i, i + 7 > 1000 ? 1000 - i : 7);
	sha256_final(&c, d2);
	ck_assert_mem_eq(d, d2, SHA256_LEN);
}
END_TEST

/* ---- Golden PNGs ---- */

static void
check_golden(const char *name)
{
	char rel[256], hex[SHA256_HEX_LEN];
	json_t *root, *ent;
	json_error_t jerr;
	struct image img;
	struct image_info info;
	struct err e;
	uint8_t *bytes;
	size_t n;

	root = json_load_file(tu_shared("golden/images/images.json"), 0, &jerr);
	ck_assert_msg(root != NULL, "images.json: %s", jerr.text);
	ent = json_object_get(root, name);
	ck_assert_ptr_nonnull(ent);
	snprintf(rel, sizeof(rel), "golden/images/%s", name);
	bytes = tu_read_file(tu_shared(rel), &n);
	ck_assert_int_eq(image_probe(bytes, n, &info, &e), 0);
	ck_assert_int_eq(info.format, IMAGE_PNG);
	ck_assert_int_eq(image_decode(bytes, n, NULL, &img, &e), 0);
	ck_assert_int_eq(img.w,
	                 json_integer_value(json_object_get(ent, "width")));
	ck_assert_int_eq(img.h,
	                 json_integer_value(json_object_get(ent, "height")));
	ck_assert_int_eq(info.w, img.w);
	ck_assert_int_eq(info.h, img.h);
	sha256_hex(img.rgb, (size_t)img.w * img.h * 3, hex);
	ck_assert_str_eq(hex,
	                 json_string_value(json_object_get(ent, "rgb_sha256")));
	image_fini(&img);
	ck_assert_ptr_null(img.rgb);
	free(bytes);
	json_decref(root);
}

START_TEST(test_golden_pngs_decode_to_recorded_rgb)
{
	check_golden("small_200x150.png");
	check_golden("screenshot_1280x720.png");
	check_golden("portrait_720x1280.png");
}
END_TEST

/* ---- Encoders for synthetic inputs ---- */

static uint8_t *
encode_png(const void *px, int w, int h, png_uint_32 format, size_t *n)
{
	png_image img;
	png_alloc_size_t size = 0;
	uint8_t *out;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)w;
	img.height = (png_uint_32)h;
	img.format = format;
	ck_assert(png_image_write_get_memory_size(img, size, 0, px, 0, NULL));
	out = malloc(size);
	ck_assert_ptr_nonnull(out);
	ck_assert(png_image_write_to_memory(&img, out, &size, 0, px, 0, NULL));
	*n = size;
	return out;
}

static void
fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
}

START_TEST(test_png_alpha_is_dropped_not_composited)
{
	uint8_t rgba[5 * 3 * 4];
	struct image img;
	struct err e;
	uint8_t *png;
	size_t n, i;

	fill(rgba, sizeof(rgba), 1);
	rgba[3] = 0; /* fully transparent pixel keeps its colour */
	png = encode_png(rgba, 5, 3, PNG_FORMAT_RGBA, &n);
	ck_assert_int_eq(image_decode(png, n, NULL, &img, &e), 0);
	ck_assert_int_eq(img.w, 5);
	ck_assert_int_eq(img.h, 3);
	for (i = 0; i < 15; i++)
		ck_assert_mem_eq(img.rgb + 3 * i, rgba + 4 * i, 3);
	image_fini(&img);
	free(png);
}
END_TEST

/* A PNG written with libpng's low-level API (what the simplified one
 * cannot make): w x h pixels of colour type ct and bit depth depth, rows
 * of rowbytes bytes from px, optionally with a palette (and tRNS), a gAMA
 * chunk and Adam7 interlacing.  The memory file grows in out. */
struct membuf {
	uint8_t *p;
	size_t n, cap;
};

static void
mem_write(png_structp png, png_bytep d, size_t len)
{
	struct membuf *m = png_get_io_ptr(png);

	if (m->n + len > m->cap) {
		m->cap = (m->n + len) * 2;
		m->p = realloc(m->p, m->cap);
		ck_assert_ptr_nonnull(m->p);
	}
	memcpy(m->p + m->n, d, len);
	m->n += len;
}

static void
mem_flush(png_structp png)
{
	(void)png;
}

static uint8_t *
encode_png_ll(const uint8_t *px, int w, int h, int ct, int depth,
              size_t rowbytes, const png_color *pal, int npal,
              const png_byte *trns, int ntrns, bool gama, bool interlace,
              size_t *n)
{
	struct membuf m = {NULL, 0, 0};
	png_structp png;
	png_infop pi;
	int pass, y;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(png);
	pi = png_create_info_struct(png);
	ck_assert_ptr_nonnull(pi);
	ck_assert_int_eq(setjmp(png_jmpbuf(png)), 0);
	png_set_write_fn(png, &m, mem_write, mem_flush);
	png_set_IHDR(png, pi, (png_uint_32)w, (png_uint_32)h, depth, ct,
	             interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (pal != NULL)
		png_set_PLTE(png, pi, pal, npal);
	if (trns != NULL)
		png_set_tRNS(png, pi, trns, ntrns, NULL);
	if (gama)
		png_set_gAMA_fixed(png, pi, 100000); /* linear */
	png_write_info(png, pi);
	for (pass = png_set_interlace_handling(png); pass > 0; pass--)
		for (y = 0; y < h; y++)
			png_write_row(png, px + (size_t)y * rowbytes);
	png_write_end(png, pi);
	png_destroy_write_struct(&png, &pi);
	*n = m.n;
	return m.p;
}

/* 16-bit samples keep their high byte and a gAMA chunk is not applied, as
 * PIL's convert("RGB") does. */
START_TEST(test_png_16bit_keeps_high_byte_and_ignores_gamma)
{
	uint8_t px[6 * 4 * 6];
	struct image img;
	struct err e;
	uint8_t *png;
	size_t n, i;

	fill(px, sizeof(px), 7); /* big-endian 16-bit samples */
	png = encode_png_ll(px, 6, 4, PNG_COLOR_TYPE_RGB, 16, 6 * 6, NULL, 0,
	                    NULL, 0, true, false, &n);
	ck_assert_int_eq(image_decode(png, n, NULL, &img, &e), 0);
	for (i = 0; i < 6 * 4 * 3; i++)
		ck_assert_uint_eq(img.rgb[i], px[2 * i]);
	image_fini(&img);
	free(png);
}
END_TEST

/* A palette with tRNS gives the palette colours (no alpha, no
 * compositing); 4-bit indices are expanded. */
START_TEST(test_png_palette_with_trns_gives_palette_colours)
{
	png_color pal[16];
	png_byte trns[3] = {0, 128, 255};
	uint8_t idx[5 * 3], packed[3 * 3], rnd[48];
	struct image img;
	struct err e;
	uint8_t *png;
	size_t n;
	int i, x, y, depth;

	fill(rnd, sizeof(rnd), 3);
	for (i = 0; i < 16; i++) {
		pal[i].red = rnd[3 * i];
		pal[i].green = rnd[3 * i + 1];
		pal[i].blue = rnd[3 * i + 2];
	}
	fill(idx, sizeof(idx), 4);
	for (i = 0; i < 15; i++)
		idx[i] &= 15;
	/* the same indices as 4-bit samples, two to a byte, high first */
	memset(packed, 0, sizeof(packed));
	for (y = 0; y < 3; y++)
		for (x = 0; x < 5; x++)
			packed[y * 3 + x / 2] |=
			    (uint8_t)(idx[y * 5 + x] << (x % 2 ? 0 : 4));
	for (depth = 4; depth <= 8; depth += 4) {
		png =
		    depth == 8
		        ? encode_png_ll(idx, 5, 3, PNG_COLOR_TYPE_PALETTE, 8, 5,
		                        pal, 16, trns, 3, false, false, &n)
		        : encode_png_ll(packed, 5, 3, PNG_COLOR_TYPE_PALETTE, 4,
		                        3, pal, 16, trns, 3, false, false, &n);
		ck_assert_int_eq(image_decode(png, n, NULL, &img, &e), 0);
		for (i = 0; i < 15; i++) {
			ck_assert_uint_eq(img.rgb[3 * i], pal[idx[i]].red);
			ck_assert_uint_eq(img.rgb[3 * i + 1],
			                  pal[idx[i]].green);
			ck_assert_uint_eq(img.rgb[3 * i + 2], pal[idx[i]].blue);
		}
		image_fini(&img);
		free(png);
	}
}
END_TEST

/* An interlaced (Adam7) file decodes to the same pixels. */
START_TEST(test_png_interlaced_decodes_like_plain)
{
	uint8_t px[13 * 11 * 3];
	struct image img;
	struct err e;
	uint8_t *png;
	size_t n;

	fill(px, sizeof(px), 5);
	png = encode_png_ll(px, 13, 11, PNG_COLOR_TYPE_RGB, 8, 13 * 3, NULL, 0,
	                    NULL, 0, false, true, &n);
	ck_assert_int_eq(image_decode(png, n, NULL, &img, &e), 0);
	ck_assert_mem_eq(img.rgb, px, sizeof(px));
	image_fini(&img);
	free(png);
}
END_TEST

START_TEST(test_png_grey_is_replicated)
{
	uint8_t grey[7 * 2], ga[7 * 2 * 2];
	struct image img;
	struct err e;
	uint8_t *png;
	size_t n, i;

	fill(grey, sizeof(grey), 2);
	png = encode_png(grey, 7, 2, PNG_FORMAT_GRAY, &n);
	ck_assert_int_eq(image_decode(png, n, NULL, &img, &e), 0);
	for (i = 0; i < 14; i++) {
		ck_assert_uint_eq(img.rgb[3 * i], grey[i]);
		ck_assert_uint_eq(img.rgb[3 * i + 1], grey[i]);
		ck_assert_uint_eq(img.rgb[3 * i + 2], grey[i]);
	}
	image_fini(&img);
	free(png);
	fill(ga, sizeof(ga), 3);
	png = encode_png(ga, 7, 2, PNG_FORMAT_GA, &n);
	ck_assert_int_eq(image_decode(png, n, NULL, &img, &e), 0);
	for (i = 0; i < 14; i++) {
		ck_assert_uint_eq(img.rgb[3 * i], ga[2 * i]);
		ck_assert_uint_eq(img.rgb[3 * i + 2], ga[2 * i]);
	}
	image_fini(&img);
	free(png);
}
END_TEST

START_TEST(test_truncated_png_fails_cleanly)
{
	uint8_t *bytes;
	struct image img;
	struct err e;
	size_t n, cut;

	bytes = tu_read_file(tu_shared("golden/images/small_200x150.png"), &n);
	for (cut = 0; cut < n; cut += (cut < 64 ? 1 : n / 13)) {
		e.msg[0] = '\0';
		ck_assert_int_eq(image_decode(bytes, cut, NULL, &img, &e), -1);
		ck_assert_ptr_null(img.rgb);
		ck_assert_msg(e.msg[0] != '\0', "no message at %zu", cut);
	}
	free(bytes);
}
END_TEST

START_TEST(test_zero_bytes_and_garbage_fail)
{
	static const uint8_t junk[] = {
	    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1,
	    2,    3,    4,    5,    6,    7,    8,   9,   10,  11,  12};
	static const uint8_t text[] = "GIF89a not an image we read";
	struct image img;
	struct image_info info;
	struct err e;

	ck_assert_int_eq(image_decode("", 0, NULL, &img, &e), -1);
	ck_assert_str_eq(e.msg, "empty image");
	ck_assert_int_eq(image_probe(NULL, 0, &info, &e), -1);
	ck_assert_int_eq(image_decode(junk, sizeof(junk), NULL, &img, &e), -1);
	ck_assert_ptr_null(img.rgb);
	ck_assert_ptr_nonnull(strstr(e.msg, "jpeg"));
	ck_assert_int_eq(image_probe(junk, sizeof(junk), &info, &e), -1);
	ck_assert_int_eq(image_decode(text, sizeof(text), NULL, &img, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "unknown image format"));
}
END_TEST

/* A valid-looking PNG header claiming 40000x40000 pixels: rejected from the
 * header, before any pixel memory is allocated. */
START_TEST(test_huge_png_header_rejected_before_decoding)
{
	uint8_t grey[4] = {1, 2, 3, 4};
	struct image img;
	struct image_info info;
	struct image_limits lim = {0, 0, 0};
	struct err e;
	uint8_t *png;
	size_t n;

	png = encode_png(grey, 2, 2, PNG_FORMAT_GRAY, &n);
	png[16] = 0;
	png[17] = 0;
	png[18] = 0x9c; /* 40000 = 0x9c40 */
	png[19] = 0x40;
	memcpy(png + 20, png + 16, 4);
	ck_assert_int_eq(image_probe(png, n, &info, &e), 0);
	ck_assert_int_eq(info.w, 40000);
	ck_assert_int_eq(info.h, 40000);
	ck_assert_int_eq(image_check(&info, n, NULL, &e), -1);
	ck_assert_int_eq(image_decode(png, n, NULL, &img, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "40000x40000"));
	/* A pixel limit below the side limit applies too. */
	info.w = 1000;
	info.h = 1000;
	lim.max_pixels = 999999;
	ck_assert_int_eq(image_check(&info, n, &lim, &e), -1);
	lim.max_pixels = 1000000;
	ck_assert_int_eq(image_check(&info, n, &lim, &e), 0);
	lim.max_bytes = n - 1;
	ck_assert_int_eq(image_check(&info, n, &lim, &e), -1);
	free(png);
}
END_TEST

START_TEST(test_jpeg_round_trip_and_grey)
{
	uint8_t rgb[32 * 16 * 3], grey[32 * 16];
	unsigned char *jpg = NULL;
	unsigned long jn = 0;
	struct image img;
	struct image_info info;
	struct err e;
	tjhandle tj;
	size_t i;

	for (i = 0; i < 32 * 16; i++) {
		rgb[3 * i] = (uint8_t)(i % 32 * 8);
		rgb[3 * i + 1] = (uint8_t)(i / 32 * 16);
		rgb[3 * i + 2] = 128;
		grey[i] = (uint8_t)(i % 32 * 8);
	}
	tj = tjInitCompress();
	ck_assert_ptr_nonnull(tj);
	ck_assert_int_eq(tjCompress2(tj, rgb, 32, 0, 16, TJPF_RGB, &jpg, &jn,
	                             TJSAMP_444, 95, 0),
	                 0);
	ck_assert_int_eq(image_probe(jpg, jn, &info, &e), 0);
	ck_assert_int_eq(info.format, IMAGE_JPEG);
	ck_assert_int_eq(info.w, 32);
	ck_assert_int_eq(info.h, 16);
	ck_assert_int_eq(image_decode(jpg, jn, NULL, &img, &e), 0);
	for (i = 0; i < sizeof(rgb); i++)
		ck_assert_int_le(abs((int)img.rgb[i] - (int)rgb[i]), 8);
	image_fini(&img);
	/* A truncated JPEG is an error, not a half-grey picture. */
	ck_assert_int_eq(image_decode(jpg, jn / 2, NULL, &img, &e), -1);
	ck_assert_ptr_null(img.rgb);
	tjFree(jpg);
	jpg = NULL;
	jn = 0;
	ck_assert_int_eq(tjCompress2(tj, grey, 32, 0, 16, TJPF_GRAY, &jpg, &jn,
	                             TJSAMP_GRAY, 95, 0),
	                 0);
	ck_assert_int_eq(image_decode(jpg, jn, NULL, &img, &e), 0);
	for (i = 0; i < 32 * 16; i++) {
		ck_assert_uint_eq(img.rgb[3 * i], img.rgb[3 * i + 1]);
		ck_assert_uint_eq(img.rgb[3 * i], img.rgb[3 * i + 2]);
		ck_assert_int_le(abs((int)img.rgb[3 * i] - (int)grey[i]), 8);
	}
	image_fini(&img);
	tjFree(jpg);
	tjDestroy(tj);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("image");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sha256_matches_fips_vectors);
	tcase_add_test(tc, test_golden_pngs_decode_to_recorded_rgb);
	tcase_add_test(tc, test_png_alpha_is_dropped_not_composited);
	tcase_add_test(tc, test_png_grey_is_replicated);
	tcase_add_test(tc, test_png_16bit_keeps_high_byte_and_ignores_gamma);
	tcase_add_test(tc, test_png_palette_with_trns_gives_palette_colours);
	tcase_add_test(tc, test_png_interlaced_decodes_like_plain);
	tcase_add_test(tc, test_truncated_png_fails_cleanly);
	tcase_add_test(tc, test_zero_bytes_and_garbage_fail);
	tcase_add_test(tc, test_huge_png_header_rejected_before_decoding);
	tcase_add_test(tc, test_jpeg_round_trip_and_grey);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int nfail;

	tu_shared("golden/images");
	srunner_run_all(sr, CK_ENV);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
