/* SPDX-License-Identifier: ISC */
/*
 * ctl_report.c: pointctl report: one recorded session as a self-contained
 * HTML page, DIR/index.html, viewable without a network.
 *
 *   report [--database PATH] [-f FILE] [--replay FILE] -o DIR SESSION
 *
 * Each request is a section: its frame (the recorded PNG or JPEG embedded
 * as a data: URI inside an SVG of the frame's pixel size) with the answer
 * drawn over it in SVG (a magenta disc at each recorded point, numbered and
 * labelled; a cyan disc at each point of a replay, given as the JSON that
 * `pointctl replay --json` prints), the target, the answer's text, "none"
 * in a red banner when the model said the target is absent, the error if
 * the request failed, and the timings.  The page has no scripts and loads
 * nothing: the header is 48 CSS pixels high and the first frame starts
 * right below it, at the left edge, drawn 1:1.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "store/store.h"
#include "util/b64.h"
#include "util/str.h"
#include "util/xmalloc.h"

struct report {
	FILE *f;
	struct store *st;
	json_t *replay; /* request id (text) -> replay entry, or NULL */
	int n;
	int failed;
};

/* Write s with HTML's special characters escaped. */
static void
esc(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\n')
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

/* Draw the points of a JSON array as discs of colour fill. */
static void
markers(FILE *f, json_t *pts, const char *fill, const char *cls)
{
	size_t i;
	json_t *p;

	json_array_foreach(pts, i, p)
	{
		double x = json_number_value(json_object_get(p, "x"));
		double y = json_number_value(json_object_get(p, "y"));
		const char *label =
		    json_string_value(json_object_get(p, "label"));

		fprintf(f,
		        "<g class=\"%s\"><circle cx=\"%.1f\" cy=\"%.1f\" "
		        "r=\"7\" fill=\"%s\" stroke=\"#ffffff\" "
		        "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\" "
		        "class=\"lbl\">%zu",
		        cls, x, y, fill, x + 10, y - 8, i + 1);
		if (label != NULL) {
			fputc(' ', f);
			esc(f, label);
		}
		fputs("</text></g>\n", f);
	}
}

static int
section(void *arg, const struct store_request *rq, const struct store_frame *fr,
        const struct store_answer *a)
{
	struct report *r = arg;
	FILE *f = r->f;
	struct store_frame meta;
	json_t *pts = NULL, *rep = NULL;
	char key[32], *uri = NULL;
	void *bytes = NULL;
	size_t len = 0;
	int w = fr != NULL ? fr->width : 0, h = fr != NULL ? fr->height : 0;
	struct err e;

	r->n++;
	if (fr != NULL)
		bytes = store_frame_bytes(r->st, rq->frame, &len, &meta, &e);
	if (bytes != NULL) {
		uri = xmalloc(b64_encoded_len(len) + 1);
		b64_encode(uri, bytes, len);
	}
	fprintf(f, "<section id=\"r%" PRId64 "\">\n", rq->id);
	if (uri != NULL && w > 0 && h > 0) {
		fprintf(f,
		        "<svg xmlns=\"http://www.w3.org/2000/svg\" "
		        "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
		        "<image x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
		        "href=\"data:image/%s;base64,%s\"/>\n",
		        w, h, w, h, w, h,
		        strcmp(meta.format, "jpeg") == 0 ? "jpeg" : "png", uri);
		if (a != NULL && a->points != NULL)
			pts = json_loads(a->points, 0, NULL);
		if (json_is_array(pts))
			markers(f, pts, "#ff00ff", "old");
		snprintf(key, sizeof(key), "%" PRId64, rq->id);
		rep =
		    r->replay != NULL ? json_object_get(r->replay, key) : NULL;
		if (rep != NULL)
			markers(f,
			        json_object_get(json_object_get(rep, "new"),
			                        "points"),
			        "#00c8ff", "new");
		if (a != NULL && a->none)
			fputs("<rect x=\"0\" y=\"0\" width=\"120\" "
			      "height=\"28\" fill=\"#d00000\"/><text x=\"8\" "
			      "y=\"20\" class=\"none\">NONE</text>\n",
			      f);
		fputs("</svg>\n", f);
	} else {
		fputs("<p class=\"err\">(frame not stored)</p>\n", f);
	}
	fprintf(f, "<p><b>%" PRId64 "</b> %s: <q>", rq->id,
	        rq->kind != NULL ? rq->kind : "");
	esc(f, rq->target);
	fputs("</q>", f);
	if (fr != NULL)
		fprintf(f, " &mdash; frame %dx%d, %.8s", w, h, rq->frame);
	fputs("</p>\n", f);
	if (a == NULL) {
		fputs("<p class=\"err\">no answer recorded</p>\n", f);
	} else {
		if (a->error != NULL) {
			fputs("<p class=\"err\">error: ", f);
			esc(f, a->error);
			fputs("</p>\n", f);
		}
		if (a->none)
			fputs("<p class=\"nonetext\">none: the model said the "
			      "target is not there</p>\n",
			      f);
		fprintf(f, "<p>%zu point(s): <code>",
		        json_is_array(pts) ? json_array_size(pts) : 0);
		esc(f, a->points);
		fprintf(f,
		        "</code></p>\n<p class=\"t\">queue %" PRId64
		        " ms, preprocess %" PRId64 " ms, inference %" PRId64
		        " ms, total %" PRId64 " ms; model ",
		        a->queue_ms, a->prep_ms, a->infer_ms, a->total_ms);
		esc(f, a->model);
		fputs("</p>\n<pre>", f);
		esc(f, a->raw);
		fputs("</pre>\n", f);
	}
	if (rep != NULL) {
		json_t *np =
		    json_object_get(json_object_get(rep, "new"), "points");
		char *s = json_dumps(np, JSON_COMPACT);

		fprintf(f, "<table><tr><th>recorded</th><th>replay</th></tr>"
		           "<tr><td><code>");
		esc(f, a != NULL ? a->points : "");
		fputs("</code></td><td><code>", f);
		esc(f, s);
		fprintf(f,
		        "</code></td></tr></table>\n<p>largest move %.1f px%s"
		        "</p>\n",
		        json_number_value(json_object_get(rep, "max_moved")),
		        json_is_true(json_object_get(rep, "changed"))
		            ? " &mdash; <b class=\"err\">changed</b>"
		            : "");
		free(s);
	}
	fputs("</section>\n", f);
	json_decref(pts);
	free(uri);
	free(bytes);
	return 0;
}

static const char *const style =
    "body{margin:0;font:14px sans-serif;background:#fff;color:#111}"
    "header{height:48px;overflow:hidden;box-sizing:border-box;"
    "padding:12px 8px;background:#222;color:#eee}"
    "section{margin:0 0 24px 0}section svg{display:block}"
    "section p,section pre,section table{margin:4px 8px}"
    ".lbl{font:bold 13px sans-serif;fill:#ff00ff;stroke:#fff;"
    "stroke-width:3px;paint-order:stroke}"
    ".new .lbl{fill:#0088aa}.none{font:bold 18px sans-serif;fill:#fff}"
    ".err,.nonetext{color:#d00000;font-weight:bold}"
    "pre{white-space:pre-wrap;color:#555}";

int
ctl_report(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"database", required_argument, NULL, 'd'},
	    {"replay", required_argument, NULL, 'r'},
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	const char *dbarg = NULL, *conf = NULL, *dir = NULL, *rpath = NULL;
	struct store_params sp = store_params_default();
	struct store_session ss;
	struct report r;
	json_t *rdoc = NULL, *it;
	long long v;
	const char *es;
	char *db = NULL, path[4096], tmp[4200];
	size_t i;
	struct err e;
	int c, rc = CTL_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dbarg = optarg;
			break;
		case 'f':
			conf = optarg;
			break;
		case 'r':
			rpath = optarg;
			break;
		case 'o':
			dir = optarg;
			break;
		default:
			return ctl_usage(argv[0]);
		}
	}
	if (optind != argc - 1 || dir == NULL)
		return ctl_usage(argv[0]);
	if (str_to_ll(argv[optind], 1, INT64_MAX, &v, &es) == -1) {
		fprintf(stderr, "pointctl: session id %s: %s\n", argv[optind],
		        es);
		return CTL_USAGE;
	}
	memset(&r, 0, sizeof(r));
	if (rpath != NULL) {
		json_error_t je;

		rdoc = json_load_file(rpath, 0, &je);
		if (rdoc == NULL) {
			fprintf(stderr, "pointctl: %s:%d: %s\n", rpath, je.line,
			        je.text);
			return CTL_FAIL;
		}
		r.replay = json_object();
		json_array_foreach(json_object_get(rdoc, "requests"), i, it)
		{
			char key[32];

			snprintf(
			    key, sizeof(key), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(json_object_get(it, "request")));
			json_object_set(r.replay, key, it);
		}
	}
	db = ctl_store_database(dbarg, conf);
	if (db == NULL) {
		rc = CTL_USAGE;
		goto done;
	}
	sp.readonly = true;
	sp.create = false;
	r.st = store_open(db, &sp, &e);
	if (r.st == NULL || store_session(r.st, v, &ss, &e) == -1) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		goto done;
	}
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "pointctl: %s: %s\n", dir, strerror(errno));
		goto done;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/index.html", dir) >=
	        sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.part", path) >=
	        sizeof(tmp)) {
		fprintf(stderr, "pointctl: %s: path too long\n", dir);
		goto done;
	}
	r.f = fopen(tmp, "w");
	if (r.f == NULL) {
		fprintf(stderr, "pointctl: %s: %s\n", tmp, strerror(errno));
		goto done;
	}
	fprintf(r.f,
	        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	        "<title>pointd session %lld</title><style>%s</style>"
	        "</head>\n<body>\n<header>pointd session <b>%lld</b> ",
	        v, style, v);
	esc(r.f, ss.label);
	fputs(" &mdash; client ", r.f);
	esc(r.f, ss.client);
	fputs(", model ", r.f);
	esc(r.f, ss.model);
	fprintf(r.f, ", %" PRId64 " requests%s</header>\n", ss.n_requests,
	        rdoc != NULL ? " (with replay)" : "");
	if (store_requests(r.st, v, section, &r, &e) == -1) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		fclose(r.f);
		remove(tmp);
		goto done;
	}
	fputs("</body></html>\n", r.f);
	if (fclose(r.f) != 0 || rename(tmp, path) == -1) {
		fprintf(stderr, "pointctl: %s: %s\n", path, strerror(errno));
		remove(tmp);
		goto done;
	}
	printf("%s\n", path);
	rc = CTL_OK;
done:
	json_decref(rdoc);
	json_decref(r.replay);
	store_close(r.st);
	free(db);
	return rc;
}
