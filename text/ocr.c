/* SPDX-License-Identifier: ISC */
/*
 * ocr.c: the Tesseract wrapper described in text/ocr.h: screenshot
 * preprocessing (luma, per-region polarity, upscaling), horizontal bands
 * read in parallel by one engine each, and the words gathered back into
 * input-image coordinates.
 *
 * Design.  struct ocr owns n engines, initialised once (loading the language
 * data takes ~100 ms per engine).  ocr_read() prepares one image, starts
 * n - 1 threads and reads band 0 itself; band i is read only by engine i,
 * so no engine is touched by two threads.  Each band's words land in its own
 * array and are concatenated in band order after the joins.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tesseract/capi.h>

#include "text/ocr.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* Background estimation: tiles of TILE_BASE * dpr pixels, each judged by the
 * luma histogram of the 3x3 tiles around it. */
#define TILE_BASE     8
#define HIST_BINS     32  /* 8 luma levels per bin */
#define CONTRAST_GAIN 2   /* distance from the background x2, clamped */
#define LINE_LUMA     176 /* darker pixels may belong to a border line */
/* Images above this many pixels are taken to be DPR 2 screenshots. */
#define DPR2_PIXELS 2500000L
/* Band overlap, in prepared pixels per unit of (dpr * scale): more than half
 * the tallest line expected (a 32 px heading). */
#define BAND_OVERLAP 40

struct ocr {
	TessBaseAPI *api[OCR_MAX_THREADS];
	int n;
	int scale; /* 0: automatic */
};

struct band {
	TessBaseAPI *api;
	const uint8_t *prep; /* whole prepared image */
	int pw, ph;          /* its size */
	int y0, y1;          /* rows read: [y0, y1) */
	int own0, own1;      /* rows whose words this band keeps */
	int s;               /* upscaling factor */
	int dpi;
	/* out */
	struct ocr_word *words;
	size_t n, cap;
	int n_lines;
	int failed;
};

struct ocr_params
ocr_params_default(void)
{
	struct ocr_params p;

	memset(&p, 0, sizeof(p));
	p.lang = "eng";
	return p;
}

void
ocr_free(struct ocr *o)
{
	int i;

	if (o == NULL)
		return;
	for (i = 0; i < o->n; i++) {
		if (o->api[i] != NULL) {
			TessBaseAPIEnd(o->api[i]);
			TessBaseAPIDelete(o->api[i]);
		}
	}
	free(o);
}

int
ocr_threads(const struct ocr *o)
{
	return o->n;
}

/*
 * Debian builds Tesseract with OpenMP, and its LSTM opens a team of threads
 * for every line.  Next to our band threads those teams only fight for the
 * cores (measured in bench/bench_text.sh: about twice slower on 2 cores), so
 * make every OpenMP region in the process run on the thread that enters it.
 * pointd itself uses no OpenMP (style.md section 4).  Looked up at run time
 * so that a Tesseract built without OpenMP needs nothing.
 */
static void
serialise_openmp(void)
{
	void (*set_levels)(int);
	void *sym = dlsym(RTLD_DEFAULT, "omp_set_max_active_levels");

	if (sym == NULL)
		return;
	memcpy(&set_levels, &sym, sizeof(set_levels));
	set_levels(0);
}

/* Create and initialise one engine; NULL with e set on failure. */
static TessBaseAPI *
engine_new(const struct ocr_params *p, struct err *e)
{
	TessBaseAPI *api;
	int psm = p->psm != 0 ? p->psm : PSM_SPARSE_TEXT;

	api = TessBaseAPICreate();
	if (api == NULL) {
		err_set(e, "tesseract: cannot create an engine");
		return NULL;
	}
	/* Tesseract prints its diagnostics to stderr unless told otherwise;
	 * only shells may talk to people. */
	TessBaseAPISetVariable(api, "debug_file", "/dev/null");
	if (TessBaseAPIInit3(api, p->datapath, p->lang) != 0) {
		TessBaseAPIDelete(api);
		err_set(e,
		        "tesseract: cannot load language '%s' (apt-get install "
		        "tesseract-ocr-%s)",
		        p->lang, p->lang);
		return NULL;
	}
	TessBaseAPISetPageSegMode(api, (TessPageSegMode)psm);
	/* Polarity is settled in preprocessing; the engine's own retry of
	 * each line inverted would double the work for nothing. */
	TessBaseAPISetVariable(api, "tessedit_do_invert", "0");
	return api;
}

struct ocr *
ocr_new(const struct ocr_params *p, struct err *e)
{
	struct ocr_params def = ocr_params_default();
	struct ocr *o;
	int i, n;

	if (p == NULL)
		p = &def;
	if (p->lang == NULL || p->lang[0] == '\0' ||
	    strspn(p->lang, "abcdefghijklmnopqrstuvwxyz_+") !=
	        strlen(p->lang)) {
		err_set(e, "tesseract: bad language list '%s'",
		        p->lang != NULL ? p->lang : "");
		return NULL;
	}
	if (p->threads < 0 || p->threads > OCR_MAX_THREADS) {
		err_set(e, "ocr: threads %d out of range 0..%d", p->threads,
		        OCR_MAX_THREADS);
		return NULL;
	}
	if (p->scale < 0 || p->scale > 4) {
		err_set(e, "ocr: scale %d out of range 0..4", p->scale);
		return NULL;
	}
	if (p->psm < 0 || p->psm >= PSM_COUNT) {
		err_set(e, "ocr: page segmentation mode %d out of range",
		        p->psm);
		return NULL;
	}
	n = p->threads;
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		n = c < 1 ? 1 : c > OCR_MAX_THREADS ? OCR_MAX_THREADS : (int)c;
	}
	serialise_openmp();
	o = xcalloc(1, sizeof(*o));
	o->scale = p->scale;
	for (i = 0; i < n; i++) {
		o->api[i] = engine_new(p, e);
		if (o->api[i] == NULL)
			goto fail;
		o->n = i + 1;
	}
	return o;
fail:
	ocr_free(o);
	return NULL;
}

/* ---- Preprocessing ---- */

/* 2 for images large enough to be DPR 2 screenshots, else 1. */
static int
guess_dpr(int w, int h)
{
	return (long)w * h > DPR2_PIXELS ? 2 : 1;
}

static int
auto_scale(int w, int h)
{
	return guess_dpr(w, h) == 1 ? 2 : 1;
}

/* Check img, and that it has at most OCR_MAX_PIXELS once upscaled by s
 * (0: automatic). */
static int
check_image(const struct ocr_image *img, int s, struct err *e)
{
	uint64_t px;

	if (img == NULL || img->rgb == NULL)
		return err_set(e, "ocr: no image");
	if (img->w < 1 || img->h < 1 || img->w > OCR_MAX_SIDE ||
	    img->h > OCR_MAX_SIDE)
		return err_set(e, "ocr: image %dx%d out of range 1..%d", img->w,
		               img->h, OCR_MAX_SIDE);
	if (s == 0)
		s = auto_scale(img->w, img->h);
	if (__builtin_mul_overflow((uint64_t)img->w * (uint64_t)s,
	                           (uint64_t)img->h * (uint64_t)s, &px) ||
	    px > OCR_MAX_PIXELS)
		return err_set(
		    e, "ocr: image %dx%d upscaled %dx exceeds %llu pixels",
		    img->w, img->h, s, (unsigned long long)OCR_MAX_PIXELS);
	return 0;
}

/* BT.601 luma of every pixel, w * h bytes. */
static uint8_t *
luma_plane(const struct ocr_image *img)
{
	size_t n = (size_t)img->w * (size_t)img->h, i;
	uint8_t *y = xmalloc(n);
	const uint8_t *p = img->rgb;

	for (i = 0; i < n; i++, p += 3)
		y[i] = (uint8_t)((77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8);
	return y;
}

/*
 * A second background level for tiles on the edge of a region (a button's
 * rim seen from the page around it, or the page seen from the rim): the
 * background of a neighbouring tile that covers at least a fifth of this
 * tile's own pixels.  Without it the part of the tile that belongs to the
 * other region would be drawn as a thick dark bar that Tesseract reads as
 * letters.  -1: none.  (Text within one tile of a region's edge whose colour
 * is the other region's background may fade; buttons pad more than that.)
 */
static int16_t *
second_level(const uint32_t *cnt, const uint8_t *bg, int tw, int th)
{
	size_t nt = (size_t)tw * (size_t)th;
	int16_t *alt = xmalloc(nt * sizeof(*alt));
	int tx, ty, b, dx, dy;

	for (ty = 0; ty < th; ty++) {
		for (tx = 0; tx < tw; tx++) {
			size_t t = (size_t)ty * (size_t)tw + (size_t)tx;
			const uint32_t *c = cnt + t * HIST_BINS;
			uint32_t tot = 0, best = 0;

			alt[t] = -1;
			for (b = 0; b < HIST_BINS; b++)
				tot += c[b];
			for (dy = -1; dy <= 1; dy++) {
				for (dx = -1; dx <= 1; dx++) {
					int ux = tx + dx, uy = ty + dy, lvl, k;
					uint32_t share = 0;

					if (ux < 0 || uy < 0 || ux >= tw ||
					    uy >= th)
						continue;
					lvl = bg[(size_t)uy * (size_t)tw +
					         (size_t)ux];
					if (abs(lvl - bg[t]) <=
					    3 * (256 / HIST_BINS))
						continue;
					k = lvl / (256 / HIST_BINS);
					for (b = k - 1; b <= k + 1; b++) {
						if (b >= 0 && b < HIST_BINS)
							share += c[b];
					}
					if (share > best && 5 * share >= tot) {
						best = share;
						alt[t] = (int16_t)lvl;
					}
				}
			}
		}
	}
	return alt;
}

/*
 * The background level of every tile: the mean luma of the most common
 * histogram bin over the 3x3 tiles around it.  Text rarely covers half of a
 * neighbourhood and is spread over many levels by anti-aliasing, while a
 * background is one flat level, so the mode finds the background whether
 * it is lighter or darker than the text.
 */
static uint8_t *
tile_background(const uint8_t *y, int w, int h, int tile, int *tw_out,
                int *th_out, int16_t **alt_out)
{
	int tw = (w + tile - 1) / tile, th = (h + tile - 1) / tile;
	size_t nt = (size_t)tw * (size_t)th;
	uint32_t *cnt = xcalloc(nt * HIST_BINS, sizeof(*cnt));
	uint32_t *sum = xcalloc(nt * HIST_BINS, sizeof(*sum));
	uint8_t *bg = xmalloc(nt);
	int tx, ty, x, yy, b;

	for (yy = 0; yy < h; yy++) {
		const uint8_t *row = y + (size_t)yy * (size_t)w;
		size_t trow = (size_t)(yy / tile) * (size_t)tw;

		for (x = 0; x < w; x++) {
			size_t k = (trow + (size_t)(x / tile)) * HIST_BINS +
			           row[x] / (256 / HIST_BINS);

			cnt[k]++;
			sum[k] += row[x];
		}
	}
	for (ty = 0; ty < th; ty++) {
		for (tx = 0; tx < tw; tx++) {
			uint32_t c[HIST_BINS] = {0}, s[HIST_BINS] = {0};
			int best = 0, dx, dy;
			size_t t = (size_t)ty * (size_t)tw + (size_t)tx;
			const uint32_t *own = cnt + t * HIST_BINS;
			uint32_t tot = 0;

			/* A flat tile (a button's fill, a sidebar) is its
			 * own background, whatever its neighbours are. */
			for (b = 0; b < HIST_BINS; b++) {
				tot += own[b];
				if (own[b] > own[best])
					best = b;
			}
			if (10 * own[best] >= 9 * tot) {
				bg[t] = (uint8_t)(sum[t * HIST_BINS +
				                      (size_t)best] /
				                  own[best]);
				continue;
			}
			best = 0;
			for (dy = -1; dy <= 1; dy++) {
				for (dx = -1; dx <= 1; dx++) {
					int ux = tx + dx, uy = ty + dy;
					size_t k;

					if (ux < 0 || uy < 0 || ux >= tw ||
					    uy >= th)
						continue;
					k = ((size_t)uy * (size_t)tw +
					     (size_t)ux) *
					    HIST_BINS;
					for (b = 0; b < HIST_BINS; b++) {
						c[b] += cnt[k + (size_t)b];
						s[b] += sum[k + (size_t)b];
					}
				}
			}
			for (b = 1; b < HIST_BINS; b++) {
				if (c[b] > c[best])
					best = b;
			}
			bg[(size_t)ty * (size_t)tw + (size_t)tx] =
			    (uint8_t)(s[best] / c[best]);
		}
	}
	*alt_out = second_level(cnt, bg, tw, th);
	free(cnt);
	free(sum);
	*tw_out = tw;
	*th_out = th;
	return bg;
}

/* Distance of every pixel from its tile's background, dark on white. */
static void
contrast(uint8_t *y, int w, int h, const uint8_t *bg, const int16_t *alt,
         int tw, int tile)
{
	int x, yy;

	for (yy = 0; yy < h; yy++) {
		uint8_t *row = y + (size_t)yy * (size_t)w;
		const uint8_t *brow = bg + (size_t)(yy / tile) * (size_t)tw;
		const int16_t *arow = alt + (size_t)(yy / tile) * (size_t)tw;

		for (x = 0; x < w; x++) {
			int d = abs((int)row[x] - (int)brow[x / tile]);
			int a = arow[x / tile];

			if (a >= 0 && abs((int)row[x] - a) < d)
				d = abs((int)row[x] - a);

			d *= CONTRAST_GAIN;
			row[x] = (uint8_t)(255 - (d > 255 ? 255 : d));
		}
	}
}

/* Sum of mask over [x0, x1) x [y0, y1) from an integral image ii of
 * (w + 1) x (h + 1) entries. */
static uint32_t
box_sum(const uint32_t *ii, int w, int x0, int y0, int x1, int y1)
{
	size_t s = (size_t)w + 1;

	return ii[(size_t)y1 * s + (size_t)x1] -
	       ii[(size_t)y0 * s + (size_t)x1] -
	       ii[(size_t)y1 * s + (size_t)x0] +
	       ii[(size_t)y0 * s + (size_t)x0];
}

/* Integral image of (p[i] < 128) or, when marks is set, of marks[i]. */
static void
integral(uint32_t *ii, const uint8_t *p, const uint8_t *marks, int w, int h)
{
	size_t s = (size_t)w + 1;
	int x, y;

	memset(ii, 0, s * sizeof(*ii));
	for (y = 0; y < h; y++) {
		uint32_t run = 0;
		size_t r = (size_t)y * (size_t)w;

		ii[(size_t)(y + 1) * s] = 0;
		for (x = 0; x < w; x++) {
			run += marks != NULL ? marks[r + (size_t)x]
			                     : p[r + (size_t)x] < 128;
			ii[(size_t)(y + 1) * s + (size_t)x + 1] =
			    ii[(size_t)y * s + (size_t)x + 1] + run;
		}
	}
}

/*
 * Erase solid dark areas at least k pixels thick in both directions (a
 * morphological opening of the dark mask): text strokes are thinner, while
 * what the per-tile background leaves at the rim of a button or a photo is a
 * thick dark block that Tesseract would read as letters.
 */
static void
erase_blocks(uint8_t *p, int w, int h, int k)
{
	size_t n = (size_t)w * (size_t)h;
	uint32_t *ii;
	uint8_t *corner;
	int x, y;

	if (w < k || h < k)
		return;
	ii =
	    xreallocarray(NULL, ((size_t)w + 1) * ((size_t)h + 1), sizeof(*ii));
	corner = xcalloc(n, 1);
	integral(ii, p, NULL, w, h);
	/* corner: the k x k square starting here is all dark */
	for (y = 0; y + k <= h; y++) {
		for (x = 0; x + k <= w; x++) {
			if (box_sum(ii, w, x, y, x + k, y + k) ==
			    (uint32_t)(k * k))
				corner[(size_t)y * (size_t)w + (size_t)x] = 1;
		}
	}
	integral(ii, NULL, corner, w, h);
	/* a pixel is erased when a full square covers it */
	for (y = 0; y < h; y++) {
		int ya = y - k + 1 < 0 ? 0 : y - k + 1;

		for (x = 0; x < w; x++) {
			int xa = x - k + 1 < 0 ? 0 : x - k + 1;

			if (box_sum(ii, w, xa, ya, x + 1, y + 1) > 0)
				p[(size_t)y * (size_t)w + (size_t)x] = 255;
		}
	}
	free(corner);
	free(ii);
}

/* Length of the run of pixels darker than LINE_LUMA through (x, y), in
 * steps of (dx, dy), counting up to cap on each side. */
static int
run_through(const uint8_t *p, int w, int h, int x, int y, int dx, int dy,
            int cap)
{
	int n = 1, i;

	for (i = 1; i <= cap; i++) {
		int u = x + i * dx, v = y + i * dy;

		if (u < 0 || v < 0 || u >= w || v >= h ||
		    p[(size_t)v * (size_t)w + (size_t)u] >= LINE_LUMA)
			break;
		n++;
	}
	for (i = 1; i <= cap; i++) {
		int u = x - i * dx, v = y - i * dy;

		if (u < 0 || v < 0 || u >= w || v >= h ||
		    p[(size_t)v * (size_t)w + (size_t)u] >= LINE_LUMA)
			break;
		n++;
	}
	return n;
}

/*
 * Erase thin straight lines: runs at least minlen long and at most thick
 * pixels thick, horizontal or vertical.  Borders of inputs and buttons,
 * separators and underlines are such lines; next to text they make
 * Tesseract reject the whole row as noise.  Letter strokes are shorter.
 */
static void
erase_lines(uint8_t *p, int w, int h, int minlen, int thick)
{
	uint8_t *mark = xcalloc((size_t)w * (size_t)h, 1);
	int x, y, a;

	for (y = 0; y < h; y++) {
		const uint8_t *row = p + (size_t)y * (size_t)w;

		for (x = 0; x < w; x = a + 1) {
			for (a = x; a < w && row[a] < LINE_LUMA; a++)
				;
			if (a - x < minlen)
				continue;
			for (; x < a; x++) {
				if (run_through(p, w, h, x, y, 0, 1, thick) <=
				    thick)
					mark[(size_t)y * (size_t)w +
					     (size_t)x] = 1;
			}
		}
	}
	for (x = 0; x < w; x++) {
		for (y = 0; y < h; y = a + 1) {
			for (a = y;
			     a < h &&
			     p[(size_t)a * (size_t)w + (size_t)x] < LINE_LUMA;
			     a++)
				;
			if (a - y < minlen)
				continue;
			for (; y < a; y++) {
				if (run_through(p, w, h, x, y, 1, 0, thick) <=
				    thick)
					mark[(size_t)y * (size_t)w +
					     (size_t)x] = 1;
			}
		}
	}
	for (x = 0; x < w * h; x++) {
		if (mark[x])
			p[x] = 255;
	}
	free(mark);
}

/* Bilinear upscaling by an integer factor s, pixel centres aligned. */
static uint8_t *
upscale(const uint8_t *src, int w, int h, int s)
{
	int ow = w * s, oh = h * s, x, y;
	uint8_t *out = xmalloc((size_t)ow * (size_t)oh);
	int *x0 = xmalloc(sizeof(*x0) * (size_t)ow);
	int *fx = xmalloc(sizeof(*fx) * (size_t)ow);

	/* Source coordinate of output pixel x: (x + 0.5) / s - 0.5, kept in
	 * 1/256 units: 256 * (2x + 1 - s) / (2s). */
	for (x = 0; x < ow; x++) {
		int q = 256 * (2 * x + 1 - s) / (2 * s);

		if (q < 0)
			q = 0;
		x0[x] = q >> 8;
		fx[x] = q & 255;
		if (x0[x] >= w - 1) {
			x0[x] = w - 1;
			fx[x] = 0;
		}
	}
	for (y = 0; y < oh; y++) {
		int q = 256 * (2 * y + 1 - s) / (2 * s), y0, fy;
		const uint8_t *r0, *r1;
		uint8_t *o = out + (size_t)y * (size_t)ow;

		if (q < 0)
			q = 0;
		y0 = q >> 8;
		fy = q & 255;
		if (y0 >= h - 1) {
			y0 = h - 1;
			fy = 0;
		}
		r0 = src + (size_t)y0 * (size_t)w;
		r1 = y0 + 1 < h ? r0 + w : r0;
		for (x = 0; x < ow; x++) {
			int a = x0[x], f = fx[x], b = a + 1 < w ? a + 1 : a;
			int top = r0[a] * (256 - f) + r0[b] * f;
			int bot = r1[a] * (256 - f) + r1[b] * f;

			o[x] =
			    (uint8_t)((top * (256 - fy) + bot * fy + 32768) >>
			              16);
		}
	}
	free(x0);
	free(fx);
	return out;
}

/* Preprocess luma y (w x h, consumed: overwritten) for reading. */
static uint8_t *
prepare(uint8_t *y, int w, int h, int s)
{
	int tile = TILE_BASE * guess_dpr(w, h), tw, th;
	int16_t *alt;
	uint8_t *bg = tile_background(y, w, h, tile, &tw, &th, &alt);

	contrast(y, w, h, bg, alt, tw, tile);
	free(bg);
	free(alt);
	erase_blocks(y, w, h, tile - 1);
	erase_lines(y, w, h, 3 * tile, tile / 4);
	if (s == 1)
		return y;
	return upscale(y, w, h, s);
}

uint8_t *
ocr_prepare(const struct ocr_image *img, int scale, int *out_w, int *out_h,
            struct err *e)
{
	uint8_t *y, *p;
	int s;

	if (scale < 0 || scale > 4) {
		err_set(e, "ocr: scale %d out of range 0..4", scale);
		return NULL;
	}
	if (check_image(img, scale, e) == -1)
		return NULL;
	s = scale != 0 ? scale : auto_scale(img->w, img->h);
	y = luma_plane(img);
	p = prepare(y, img->w, img->h, s);
	if (p != y)
		free(y);
	*out_w = img->w * s;
	*out_h = img->h * s;
	return p;
}

/* ---- Reading ---- */

static void
band_push(struct band *b, const char *text, int l, int t, int r, int bt,
          float conf, int line)
{
	struct ocr_word *w;
	int s = b->s;

	if (b->n == b->cap) {
		b->cap = b->cap != 0 ? 2 * b->cap : 64;
		b->words = xreallocarray(b->words, b->cap, sizeof(*b->words));
	}
	w = &b->words[b->n++];
	w->text = xstrdup(text);
	/* prepared pixels -> input pixels, rounding the box outwards */
	w->x0 = l / s;
	w->y0 = (t + b->y0) / s;
	w->x1 = (r + s - 1) / s;
	w->y1 = (bt + b->y0 + s - 1) / s;
	w->conf = conf;
	w->line = line;
}

/* Trim ASCII white space in place; returns the start. */
static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' ||
	                 s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Read one band with its own engine (runs on a worker thread). */
static void *
band_read(void *arg)
{
	struct band *b = arg;
	TessResultIterator *ri;
	int line = -1;

	TessBaseAPISetImage(b->api, b->prep + (size_t)b->y0 * (size_t)b->pw,
	                    b->pw, b->y1 - b->y0, 1, b->pw);
	TessBaseAPISetSourceResolution(b->api, b->dpi);
	if (TessBaseAPIRecognize(b->api, NULL) != 0) {
		b->failed = 1;
		TessBaseAPIClear(b->api);
		return NULL;
	}
	ri = TessBaseAPIGetIterator(b->api);
	if (ri != NULL) {
		do {
			TessPageIterator *pi =
			    TessResultIteratorGetPageIterator(ri);
			int l, t, r, bt, cy;
			char *txt, *s;

			if (TessPageIteratorIsAtBeginningOf(pi, RIL_TEXTLINE))
				line++;
			if (!TessPageIteratorBoundingBox(pi, RIL_WORD, &l, &t,
			                                 &r, &bt))
				continue;
			cy = b->y0 + (t + bt) / 2;
			if (cy < b->own0 || cy >= b->own1)
				continue;
			txt = TessResultIteratorGetUTF8Text(ri, RIL_WORD);
			if (txt == NULL)
				continue;
			s = trim(txt);
			if (s[0] != '\0')
				band_push(
				    b, s, l, t, r, bt,
				    TessResultIteratorConfidence(ri, RIL_WORD),
				    line < 0 ? 0 : line);
			TessDeleteText(txt);
		} while (TessResultIteratorNext(ri, RIL_WORD));
		TessResultIteratorDelete(ri);
	}
	b->n_lines = line + 1;
	TessBaseAPIClear(b->api);
	return NULL;
}

/* The ink colour of w: the mean RGB of the pixels of its box farthest from
 * the box's background (its most common luma), within 80% of the largest
 * distance.  Anti-aliased edges are thus left out, and a word's ink is
 * stable from word to word. */
static void
word_ink(const struct ocr_image *img, struct ocr_word *w)
{
	uint32_t hist[256] = {0}, sum[3] = {0, 0, 0}, n = 0;
	int x, y, b, bg = 0, dmax = 0;

	for (y = w->y0; y < w->y1; y++) {
		for (x = w->x0; x < w->x1; x++) {
			const uint8_t *p =
			    img->rgb +
			    ((size_t)y * (size_t)img->w + (size_t)x) * 3;

			hist[(77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8]++;
		}
	}
	for (b = 1; b < 256; b++) {
		if (hist[b] > hist[bg])
			bg = b;
	}
	for (b = 0; b < 256; b++) {
		if (hist[b] > 0 && abs(b - bg) > dmax)
			dmax = abs(b - bg);
	}
	for (y = w->y0; y < w->y1; y++) {
		for (x = w->x0; x < w->x1; x++) {
			const uint8_t *p =
			    img->rgb +
			    ((size_t)y * (size_t)img->w + (size_t)x) * 3;
			int l = (77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8;

			if (5 * abs(l - bg) < 4 * dmax)
				continue;
			sum[0] += p[0];
			sum[1] += p[1];
			sum[2] += p[2];
			n++;
		}
	}
	for (b = 0; b < 3; b++)
		w->ink[b] = n > 0 ? (uint8_t)(sum[b] / n) : 0;
}

void
ocr_result_free(struct ocr_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_words; i++)
		free(r->words[i].text);
	free(r->words);
	free(r->luma);
	free(r);
}

struct ocr_result *
ocr_read(struct ocr *o, const struct ocr_image *img, struct err *e)
{
	struct band bands[OCR_MAX_THREADS];
	pthread_t tid[OCR_MAX_THREADS];
	bool started[OCR_MAX_THREADS] = {false};
	struct ocr_result *res;
	uint8_t *y, *prep;
	int s, pw, ph, nb, ov, i, failed = 0, line_base = 0;
	double t0 = clock_ms();
	size_t total = 0, k;

	if (check_image(img, o->scale, e) == -1)
		return NULL;
	s = o->scale != 0 ? o->scale : auto_scale(img->w, img->h);
	y = luma_plane(img);
	res = xcalloc(1, sizeof(*res));
	res->w = img->w;
	res->h = img->h;
	res->luma = xmalloc((size_t)img->w * (size_t)img->h);
	memcpy(res->luma, y, (size_t)img->w * (size_t)img->h);
	prep = prepare(y, img->w, img->h, s);
	if (prep != y)
		free(y);
	pw = img->w * s;
	ph = img->h * s;

	/* Bands: no thinner than four overlaps, at most one per engine. */
	ov = BAND_OVERLAP * guess_dpr(img->w, img->h) * s;
	nb = ph / (4 * ov);
	if (nb < 1)
		nb = 1;
	if (nb > o->n)
		nb = o->n;
	memset(bands, 0, sizeof(bands));
	for (i = 0; i < nb; i++) {
		struct band *b = &bands[i];

		b->api = o->api[i];
		b->prep = prep;
		b->pw = pw;
		b->ph = ph;
		b->own0 = (int)((long)ph * i / nb);
		b->own1 = (int)((long)ph * (i + 1) / nb);
		b->y0 = b->own0 - ov < 0 ? 0 : b->own0 - ov;
		b->y1 = b->own1 + ov > ph ? ph : b->own1 + ov;
		b->s = s;
		b->dpi = 96 * guess_dpr(img->w, img->h) * s;
	}
	for (i = 1; i < nb; i++) {
		if (pthread_create(&tid[i], NULL, band_read, &bands[i]) == 0)
			started[i] = true;
		else
			band_read(&bands[i]); /* read it here instead */
	}
	band_read(&bands[0]);
	for (i = 1; i < nb; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
	}
	free(prep);

	for (i = 0; i < nb; i++) {
		failed |= bands[i].failed;
		total += bands[i].n;
	}
	res->words =
	    xreallocarray(NULL, total > 0 ? total : 1, sizeof(*res->words));
	for (i = 0; i < nb; i++) {
		for (k = 0; k < bands[i].n; k++) {
			struct ocr_word *w = &res->words[res->n_words++];

			*w = bands[i].words[k];
			w->line += line_base;
			if (w->x0 < 0)
				w->x0 = 0;
			if (w->y0 < 0)
				w->y0 = 0;
			if (w->x1 > img->w)
				w->x1 = img->w;
			if (w->y1 > img->h)
				w->y1 = img->h;
			word_ink(img, w);
		}
		line_base += bands[i].n_lines;
		free(bands[i].words);
	}
	res->n_lines = line_base;
	res->ms = clock_ms() - t0;
	if (failed) {
		ocr_result_free(res);
		err_set(e, "tesseract: recognition failed");
		return NULL;
	}
	return res;
}
