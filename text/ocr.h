/* SPDX-License-Identifier: ISC */
/*
 * ocr.h: reads the words on a screenshot, with their boxes, through
 * Tesseract's C API.
 *
 * A screenshot is not a scanned page: text sits on many backgrounds at once
 * (dark sidebars, white text on coloured buttons, grey placeholders), and at
 * device pixel ratio 1 body text is 11 to 15 pixels tall, below what
 * Tesseract reads well.  ocr_read() therefore prepares the pixels first:
 *
 *   1. greyscale (BT.601 luma);
 *   2. polarity decided per region: the background level of every small tile
 *      is its own luma when it is flat, else the most common luma in its
 *      neighbourhood, and each pixel becomes its distance from that level
 *      (or from a neighbouring region's level, at a region's rim), drawn
 *      dark on white.  Light text on a dark sidebar and white text on a
 *      blue button both come out as dark text on white, which a single
 *      global inversion cannot do;
 *   3. solid dark blocks (what a region's rim leaves behind) and thin
 *      straight lines (input and button borders, separators, underlines)
 *      erased: next to text they make Tesseract drop the whole row;
 *   4. upscaling (bilinear) when the text is small, so DPR 1 screenshots are
 *      read as if they were DPR 2.
 *
 * The prepared image is cut into horizontal bands that overlap by more than
 * the tallest line, one Tesseract engine per band, each on its own thread;
 * a word belongs to the band that holds its centre, so every word is reported
 * once.  Boxes are given in the pixels of the image passed in, and each
 * word carries its ink colour, taken from the original pixels.
 *
 * Threads: a struct ocr holds its engines (about 15 MB each) and is used by
 * one thread at a time; ocr_read() starts and joins its own worker threads.
 * Use one struct ocr per thread that reads.  Results are plain data, owned by
 * the caller, and may be shared read-only.
 *
 * Caching: reading is the expensive part (hundreds of ms); matching a target
 * against a result costs microseconds.  ocr/ does not cache: the caller keeps
 * the struct ocr_result of the last frames keyed by the frame's hash (pointd:
 * util/sha256 of the image bytes) and runs text/match.h against it for every
 * further query on the same screenshot.
 *
 * Tesseract is built with OpenMP on Debian; its LSTM spawns threads of its
 * own, which fight with the band threads.  ocr_new() therefore turns
 * OpenMP parallel regions off for the whole process
 * (omp_set_max_active_levels(0), looked up with dlsym), which is harmless
 * because pointd uses no OpenMP.
 */
#ifndef TEXT_OCR_H
#define TEXT_OCR_H

#include <stddef.h>
#include <stdint.h>

struct err;

#define OCR_MAX_THREADS 16    /* engines per struct ocr */
#define OCR_MAX_SIDE    16384 /* pixels per side accepted by ocr_read */
/* Pixels after upscaling; reading needs about 14 bytes per such pixel. */
#define OCR_MAX_PIXELS ((uint64_t)48 << 20)

/* RGB pixels: h rows of w pixels, 3 bytes each, no padding (borrowed). */
struct ocr_image {
	int w, h;
	const uint8_t *rgb;
};

struct ocr_params {
	const char *lang;     /* Tesseract languages, "eng" or "eng+deu" */
	const char *datapath; /* tessdata directory; NULL: the built-in one */
	int threads;          /* engines = bands; 0: online CPUs (<= max) */
	int scale;            /* upscaling 1..4; 0: automatic (2 when the
	                         image has at most 2.5 Mpx, else 1) */
	int psm;              /* Tesseract page segmentation mode; 0: sparse
	                         text (11), which suits screen layouts */
};

/* One word as read.  Boxes are in input-image pixels, x1 and y1 exclusive. */
struct ocr_word {
	char *text;         /* UTF-8, never empty, owned by the result */
	int x0, y0, x1, y1; /* box */
	float conf;         /* Tesseract's confidence, 0..100 */
	int line;           /* words of one text line share this id; ids
	                       increase in reading order, words in a line
	                       are left to right */
	uint8_t ink[3];     /* RGB of the text itself (the most common
	                       colour away from the box's background), so a
	                       link can be told from the sentence around it */
};

/*
 * What ocr_read() found on one frame.  luma is the frame's greyscale plane
 * (w * h bytes, row-major), kept so that text/match.h can look at the pixels
 * around a label (to find the input box beside it) without the RGB frame.
 */
struct ocr_result {
	struct ocr_word *words; /* in line order, then left to right */
	size_t n_words;
	int n_lines;
	int w, h;      /* frame size, pixels */
	uint8_t *luma; /* w * h bytes */
	double ms;     /* time spent reading, milliseconds */
};

/* Defaults: "eng", built-in datapath, all CPUs, automatic scale, sparse. */
struct ocr_params ocr_params_default(void);

/*
 * Load params->threads Tesseract engines for params->lang (p may be NULL for
 * the defaults).  Returns NULL with e set when the language data is missing
 * ("tesseract: cannot load language 'deu' (apt-get install
 * tesseract-ocr-deu)") or a parameter is out of range.
 */
struct ocr *ocr_new(const struct ocr_params *p, struct err *e);

/* Free the engines; accepts NULL. */
void ocr_free(struct ocr *o);

/* The number of engines (threads) o runs. */
int ocr_threads(const struct ocr *o);

/*
 * Read the text on img.  Returns a new result that the caller frees with
 * ocr_result_free(), or NULL with e set (bad size, Tesseract failure).  An
 * image without text gives a result with no words, not an error.
 */
struct ocr_result *ocr_read(struct ocr *o, const struct ocr_image *img,
                            struct err *e);

/* Free a result; accepts NULL. */
void ocr_result_free(struct ocr_result *r);

/*
 * The prepared greyscale image that ocr_read() hands to Tesseract (dark text
 * on white, upscaled by scale): *out_w x *out_h bytes, malloc'd, caller
 * frees.  For tests and tuning.  Returns NULL with e set on a bad size.
 */
uint8_t *ocr_prepare(const struct ocr_image *img, int scale, int *out_w,
                     int *out_h, struct err *e);

#endif
