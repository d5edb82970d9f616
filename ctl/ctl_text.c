/* SPDX-License-Identifier: ISC */
/*
 * ctl_text.c: `pointctl locate IMAGE TARGET...`, a one-shot query of the
 * text backend (text/ocr.h, text/match.h): the screenshot is decoded and
 * read once, then every target is matched against what was read, so a
 * second target on the same image costs only the matching.
 *
 * Output, one line per target.  Plain: "x y" of each point (separated by
 * "; "), or "none"; with --json an object:
 *
 *   {"target": "...", "source": "text", "label": "...", "kind": "plain",
 *    "points": [{"x": 168.5, "y": 459.0, "text": "Sign in", "score": 1.0,
 *                "box": [144, 452, 193, 467], "field": false}],
 *    "candidates": 1, "reason": null, "ocr_ms": 910.2, "match_ms": 0.03}
 *
 * A label that matches nothing, a non-text target (an icon) and an
 * ambiguous label with more candidates than --max-points allows give no
 * points and a reason ("no match", "not text", "ambiguous").  Coordinates
 * are pixels of IMAGE.  Exit 0 when every target was answered or declined,
 * 1 on an error (unreadable image, missing language data), 2 on usage.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "image/image.h"
#include "text/match.h"
#include "text/ocr.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/file.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define LOCATE_MAX_POINTS 64

struct locate_opts {
	bool json;
	long long max_points;
	long long threads;
	const char *lang;
};

static const char *
kind_name(enum match_kind k)
{
	switch (k) {
	case MATCH_FIELD:
		return "field";
	case MATCH_NONTEXT:
		return "not text";
	case MATCH_PLAIN:
		break;
	}
	return "plain";
}

/* Print the answer for one target; returns 0, or -1 on an output error. */
static int
answer(const struct ocr_result *r, const char *target,
       const struct locate_opts *o)
{
	struct match_hit hits[LOCATE_MAX_POINTS];
	struct match_query q;
	struct err e;
	const char *reason = NULL;
	ssize_t n;
	size_t i, shown = 0;
	double t0 = clock_ms(), ms;
	json_t *obj, *pts;
	int rc;

	if (match_parse(target, &q, &e) == -1) {
		fprintf(stderr, "pointctl locate: %s\n", e.msg);
		return -1;
	}
	n = match_find(r, &q, NULL, hits, LOCATE_MAX_POINTS, &e);
	ms = clock_ms() - t0;
	if (n == -1) {
		fprintf(stderr, "pointctl locate: %s\n", e.msg);
		return -1;
	}
	if (q.kind == MATCH_NONTEXT)
		reason = "not text";
	else if (n == 0)
		reason = "no match";
	else if (n > o->max_points)
		reason = "ambiguous";
	else
		shown = (size_t)n;

	if (!o->json) {
		if (shown == 0)
			printf("none (%s)\n", reason);
		for (i = 0; i < shown; i++)
			printf("%s%.1f %.1f", i > 0 ? "; " : "", hits[i].x,
			       hits[i].y);
		if (shown > 0)
			printf("\n");
		return ferror(stdout) ? -1 : 0;
	}
	obj = json_object();
	pts = json_array();
	for (i = 0; i < shown; i++) {
		const struct match_hit *h = &hits[i];

		json_array_append_new(
		    pts, json_pack("{s:f, s:f, s:s, s:f, s:[i,i,i,i], s:b}",
		                   "x", h->x, "y", h->y, "text", h->text,
		                   "score", h->score, "box", h->x0, h->y0,
		                   h->x1, h->y1, "field", h->field));
	}
	json_object_set_new(obj, "target", json_string(target));
	json_object_set_new(obj, "source", json_string("text"));
	json_object_set_new(obj, "label", json_string(q.label));
	json_object_set_new(obj, "kind", json_string(kind_name(q.kind)));
	json_object_set_new(obj, "points", pts);
	json_object_set_new(obj, "candidates", json_integer(n < 0 ? 0 : n));
	json_object_set_new(obj, "reason",
	                    reason != NULL ? json_string(reason) : json_null());
	json_object_set_new(obj, "ocr_ms", json_real(r->ms));
	json_object_set_new(obj, "match_ms", json_real(ms));
	rc = json_dumpf(obj, stdout, JSON_COMPACT) == 0 &&
	     fputc('\n', stdout) != EOF;
	json_decref(obj);
	return rc ? 0 : -1;
}

static int
parse_opts(int argc, char **argv, struct locate_opts *o)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"max-points", required_argument, NULL, 'm'},
	    {"threads", required_argument, NULL, 't'},
	    {"lang", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	const char *why;
	int c;

	memset(o, 0, sizeof(*o));
	o->max_points = 1;
	o->lang = "eng";
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'm':
			if (str_to_ll(optarg, 1, LOCATE_MAX_POINTS,
			              &o->max_points, &why) == -1) {
				fprintf(stderr,
				        "pointctl locate: --max-points must be "
				        "1..%d\n",
				        LOCATE_MAX_POINTS);
				return -1;
			}
			break;
		case 't':
			if (str_to_ll(optarg, 0, OCR_MAX_THREADS, &o->threads,
			              &why) == -1) {
				fprintf(stderr,
				        "pointctl locate: --threads must be "
				        "0..%d\n",
				        OCR_MAX_THREADS);
				return -1;
			}
			break;
		case 'l':
			o->lang = optarg;
			break;
		default:
			return -1;
		}
	}
	return argc - optind >= 2 ? 0 : -1;
}

/* Decode the image at path and read its words; 0, or -1 after a message. */
static int
read_words(const char *cmd, const char *path, const struct locate_opts *o,
           struct image *img, struct ocr **ocr, struct ocr_result **r)
{
	struct ocr_params p = ocr_params_default();
	struct ocr_image oi;
	struct err e;
	void *bytes;
	size_t len;

	bytes = file_read(path, IMAGE_MAX_BYTES, &len, &e);
	if (bytes == NULL) {
		fprintf(stderr, "pointctl %s: %s\n", cmd, e.msg);
		return -1;
	}
	if (image_decode(bytes, len, NULL, img, &e) == -1) {
		fprintf(stderr, "pointctl %s: %s: %s\n", cmd, path, e.msg);
		free(bytes);
		return -1;
	}
	free(bytes);
	p.lang = o->lang;
	p.threads = (int)o->threads;
	*ocr = ocr_new(&p, &e);
	if (*ocr == NULL) {
		fprintf(stderr, "pointctl %s: %s\n", cmd, e.msg);
		return -1;
	}
	oi.w = img->w;
	oi.h = img->h;
	oi.rgb = img->rgb;
	*r = ocr_read(*ocr, &oi, &e);
	if (*r == NULL) {
		fprintf(stderr, "pointctl %s: %s: %s\n", cmd, path, e.msg);
		return -1;
	}
	return 0;
}

/*
 * True when the text settles the target: it names text, one to max_points
 * places carry it, and the best match scores at least MATCH_SURE (the rule
 * of pointd's auto backend).
 */
static bool
text_is_sure(const struct ocr_result *r, const char *target, int max_points)
{
	struct match_hit hits[LOCATE_MAX_POINTS];
	struct match_query q;
	struct err e;
	ssize_t n;

	if (match_parse(target, &q, &e) == -1 || q.kind == MATCH_NONTEXT)
		return false;
	n = match_find(r, &q, NULL, hits, LOCATE_MAX_POINTS, &e);
	return n >= 1 && n <= max_points && hits[0].score >= MATCH_SURE;
}

int
ctl_text_point(const char *image, const char *target, int max_points, bool json,
               bool may_defer)
{
	struct locate_opts o;
	struct image img = {0};
	struct ocr_result *r = NULL;
	struct ocr *ocr = NULL;
	int rc = -1;

	memset(&o, 0, sizeof(o));
	o.json = json;
	o.max_points = max_points;
	o.lang = "eng";
	if (read_words("point", image, &o, &img, &ocr, &r) == -1)
		goto done;
	if (may_defer && !text_is_sure(r, target, max_points)) {
		rc = 1;
		goto done;
	}
	rc = answer(r, target, &o) == 0 && fflush(stdout) == 0 ? 0 : -1;
done:
	ocr_result_free(r);
	ocr_free(ocr);
	image_fini(&img);
	return rc;
}

int
ctl_locate(int argc, char **argv)
{
	struct locate_opts o;
	struct image img = {0};
	struct ocr_result *r = NULL;
	struct ocr *ocr = NULL;
	int i, rc = CTL_FAIL;

	if (parse_opts(argc, argv, &o) == -1)
		return ctl_usage("locate");
	if (read_words("locate", argv[optind], &o, &img, &ocr, &r) == -1)
		goto done;
	for (i = optind + 1; i < argc; i++) {
		if (answer(r, argv[i], &o) == -1)
			goto done;
	}
	rc = fflush(stdout) == 0 ? CTL_OK : CTL_FAIL;
done:
	ocr_result_free(r);
	ocr_free(ocr);
	image_fini(&img);
	return rc;
}
