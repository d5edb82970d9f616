/* SPDX-License-Identifier: ISC */
/*
 * answer.h: the model's answer text -> points in pixels of the submitted
 * image, with their labels.  Pure: no model, no I/O.
 *
 * Grammars understood (spec molmo-v1.md §8.2-8.3, molmo2.md §10.1):
 *
 *   Molmo v1, percent of the image (0-100, usually one decimal):
 *     <point x="61.5" y="40.3" alt="ALT">LABEL</point>
 *     <points x1="10.0" y1="20.0" x2="30.5" y2="40.0" alt="ALT">LABEL</points>
 *   Molmo 2, thousandths of the image (0-1000, usually %03d):
 *     <points coords="1 1 523 412 2 600 300">LABEL</points>
 *       image number, then "id x y" triples;
 *     <points alt="ALT" coords="1 1 100 200;2 2 300 400">LABEL</points>
 *       several images: groups "image id x y ..." joined by ';' (or tab,
 *       ':' or ','), ids continuing across images.
 *   Nothing found: the whole answer is one of the sentences the models were
 *   trained to say ("There are none.", "This isn't in the image.", ...),
 *   compared without case, surrounding space or a final period.
 *
 * Tags may sit inside other text ("Counting the <points ...>cats</points>
 * shows a total of 2."); every tag's points are collected in order.  A tag
 * closes with </point> or </points> (MolmoPoint writes </point> after
 * <points), or is self-closing ("/>", empty label).  Attribute values are
 * double- or single-quoted; &amp; &lt; &gt; &quot; &apos; and numeric
 * character references are decoded in labels and alt text.
 *
 * Mapping (spec §8.3 and molmo2.md §10.1): coordinates are fractions of the
 * ORIGINAL image the client submitted, not of the letterboxed model input,
 * with no half-pixel offset:
 *     x_px = x_percent / 100 * img_w        (Molmo v1)
 *     x_px = x_thousandths / 1000 * img_w   (Molmo 2)
 * and likewise y with img_h.  So x = 0 is the left edge of pixel column 0
 * and 100 % is the right edge of the last column (x_px == img_w).  The
 * integer pixel px = round(x_px) (halves away from zero), clamped to
 * [0, img_w - 1] (Ai2's evaluation rounds to the nearest pixel).
 *
 * Never guessed: a value outside 0-100 (v1) or 0-1000 (Molmo 2), a number
 * that is not plain decimal digits, an x without its y, a repeated
 * attribute, an unterminated tag, an image number outside the images given,
 * MolmoPoint grounding tokens (<POINT_k>), or text with neither a point tag
 * nor a "none" sentence: each is an error with one line saying what and
 * where (byte offset), and no points are returned.
 *
 * Threads: any; no global state.
 */
#ifndef MODEL_ANSWER_H
#define MODEL_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Longest answer text accepted (bytes). */
#define ANSWER_TEXT_MAX 65536
/* Most points in one answer. */
#define ANSWER_MAX_POINTS 1024
/* Most images a Molmo 2 answer may refer to. */
#define ANSWER_MAX_IMAGES 64

/* How a tag wrote its coordinates. */
enum answer_format {
	ANSWER_V1_POINT,  /* <point x= y=>, percent */
	ANSWER_V1_POINTS, /* <points x1= y1= ...>, percent */
	ANSWER_M2_COORDS  /* <points coords="...">, thousandths */
};

struct answer_point {
	double x, y;         /* pixels, continuous: [0, w] x [0, h] */
	int px, py;          /* nearest pixel, clamped into the image */
	double raw_x, raw_y; /* the numbers as written (percent or 0-1000) */
	int image;           /* 1-based image number (1 for Molmo v1) */
	int id;              /* Molmo 2 point id; v1: N of xN (1 for <point>) */
	size_t tag;          /* index into answer.tags */
};

struct answer_tag {
	enum answer_format format;
	char
	    *label; /* text between the tags, decoded and trimmed; "" if none */
	char *alt;  /* alt attribute decoded, or NULL when absent */
};

struct answer {
	struct answer_point *pts; /* n points, in the order written */
	size_t n;
	struct answer_tag *tags; /* n_tags tags, in the order written */
	size_t n_tags;
	bool none;         /* the model said there is nothing (n == 0) */
	const char *label; /* tags[0].label, or NULL when n_tags == 0 */
};

/* The size of one submitted image in pixels. */
struct answer_image {
	int w, h;
};

/*
 * Parse text (NUL-terminated, at most ANSWER_TEXT_MAX bytes) answered about
 * one image of img_w x img_h pixels (each 1..1,000,000) into *out, which
 * the caller owns and must release with answer_fini() after a 0 return.
 * Returns 0 (points found, or out->none set), or -1 with e filled and *out
 * left empty (nothing to free).
 */
int answer_parse(const char *text, int img_w, int img_h, struct answer *out,
                 struct err *e);
/*
 * Same for an answer about n_imgs images (1..ANSWER_MAX_IMAGES): a Molmo 2
 * point on image k (1-based) is mapped with imgs[k - 1]; Molmo v1 points
 * belong to image 1.
 */
int answer_parse_images(const char *text, const struct answer_image *imgs,
                        int n_imgs, struct answer *out, struct err *e);
/* Free what answer_parse filled in; a zeroed or failed *a is fine. */
void answer_fini(struct answer *a);

#endif
