/* SPDX-License-Identifier: ISC */
/*
 * backend_text.c: the text backend: the words on the screenshot, read with
 * Tesseract (text/ocr.h), matched against the target (text/match.h).
 *
 * Reading a frame costs hundreds of milliseconds; matching a target against
 * what was read costs microseconds.  So the words of the last frames are
 * kept in a small LRU cache keyed by the SHA-256 of the encoded frame (the
 * service thread hashes every frame when it arrives), and further queries
 * on the same screenshot only match.  The cache is bounded both in frames
 * (TEXT_CACHE_FRAMES) and in bytes (TEXT_CACHE_BYTES, mostly the greyscale
 * plane each result keeps); the least recently used result goes first.
 *
 * A point answer holds the candidates match_find() returns when there are
 * no more than the request allows (max_points, 0 meaning up to
 * TEXT_MAX_POINTS); more candidates than that is an ambiguous label and
 * gives no point rather than a guess.  No candidate gives "none".  Each
 * point carries the words matched and their score.  Free-form questions
 * are refused (BACKEND_REFUSED): reading text does not answer them.
 *
 * Threads: the handle, its Tesseract engines and its cache belong to the
 * inference thread (open and close run on the main thread before and after
 * it); ocr_read() starts and joins its own band threads.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/backend.h"
#include "text/match.h"
#include "text/ocr.h"
#include "util/clock.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define TEXT_CACHE_FRAMES 16                  /* results kept */
#define TEXT_CACHE_BYTES  ((size_t)256 << 20) /* their estimated size */
#define TEXT_MAX_POINTS   16 /* candidates returned when max_points is 0 */

/* One frame's words. */
struct entry {
	char sha256[SHA256_HEX_LEN]; /* "" for a free slot */
	struct ocr_result *r;
	size_t bytes;  /* estimated memory of r */
	uint64_t used; /* tick of the last use; larger is more recent */
};

struct textbe {
	struct ocr *ocr;
	struct entry cache[TEXT_CACHE_FRAMES];
	size_t cache_bytes; /* sum of the entries' bytes */
	uint64_t tick;
};

/* ---- Cache ---- */

/* Memory held by r, roughly: the luma plane, the words and their text. */
static size_t
result_bytes(const struct ocr_result *r)
{
	size_t n = sizeof(*r) + (size_t)r->w * (size_t)r->h, i;

	for (i = 0; i < r->n_words; i++)
		n += sizeof(r->words[i]) + strlen(r->words[i].text) + 1;
	return n;
}

static void
entry_clear(struct textbe *t, struct entry *en)
{
	ocr_result_free(en->r);
	t->cache_bytes -= en->bytes;
	memset(en, 0, sizeof(*en));
}

/* The cached words of the frame with this hash, or NULL. */
static struct ocr_result *
cache_find(struct textbe *t, const char *sha256)
{
	size_t i;

	for (i = 0; i < TEXT_CACHE_FRAMES; i++) {
		struct entry *en = &t->cache[i];

		if (en->r != NULL && strcmp(en->sha256, sha256) == 0) {
			en->used = ++t->tick;
			return en->r;
		}
	}
	return NULL;
}

/* The least recently used entry, or NULL when all are free. */
static struct entry *
cache_oldest(struct textbe *t)
{
	struct entry *old = NULL;
	size_t i;

	for (i = 0; i < TEXT_CACHE_FRAMES; i++)
		if (t->cache[i].r != NULL &&
		    (old == NULL || t->cache[i].used < old->used))
			old = &t->cache[i];
	return old;
}

/*
 * Keep r (taken) for the frame with this hash, evicting the least recently
 * used results until it fits.  The caller checked that r alone fits in
 * TEXT_CACHE_BYTES.
 */
static void
cache_put(struct textbe *t, const char *sha256, struct ocr_result *r,
          size_t bytes)
{
	struct entry *en;
	size_t i;

	for (;;) {
		en = NULL;
		for (i = 0; i < TEXT_CACHE_FRAMES; i++)
			if (t->cache[i].r == NULL)
				en = &t->cache[i];
		if (en != NULL && t->cache_bytes + bytes <= TEXT_CACHE_BYTES)
			break;
		entry_clear(t, cache_oldest(t));
	}
	str_copy(en->sha256, sha256, sizeof(en->sha256));
	en->r = r;
	en->bytes = bytes;
	en->used = ++t->tick;
	t->cache_bytes += bytes;
}

/* ---- Backend ---- */

static void
text_close(void *h)
{
	struct textbe *t = h;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < TEXT_CACHE_FRAMES; i++)
		entry_clear(t, &t->cache[i]);
	ocr_free(t->ocr);
	free(t);
}

static void *
text_open(const struct backend_params *p, struct err *e)
{
	struct ocr_params op = ocr_params_default();
	struct textbe *t = xcalloc(1, sizeof(*t));

	/* One engine per compute thread, as ocr_new allows. */
	op.threads = p->threads < 1                 ? 1
	             : p->threads > OCR_MAX_THREADS ? OCR_MAX_THREADS
	                                            : p->threads;
	if (p->progress != NULL)
		p->progress(p->progress_arg, "loading tesseract", 0.0);
	t->ocr = ocr_new(&op, e);
	if (t->ocr == NULL) {
		err_prefix(e, "text backend");
		free(t);
		return NULL;
	}
	if (p->progress != NULL)
		p->progress(p->progress_arg, "tesseract loaded", 1.0);
	if (p->notice != NULL)
		p->notice(p->progress_arg,
		          "molmo is not loaded (backend text): "
		          "answers come from text alone");
	return t;
}

static const char *
text_model_name(void *h)
{
	(void)h;
	return "tesseract";
}

/*
 * The words of rq's frame: from the cache, or read now.  *owned is set
 * when the result is not in the cache (no hash) and the caller must free
 * it; otherwise the cache keeps it.
 */
static struct ocr_result *
words(struct textbe *t, const struct backend_request *rq,
      struct backend_answer *a, double *ms_read, bool *owned, struct err *e)
{
	struct ocr_result *r;
	struct ocr_image oi;
	size_t bytes;
	double t0;

	*owned = false;
	*ms_read = 0;
	if (rq->sha256 != NULL && rq->sha256[0] != '\0') {
		r = cache_find(t, rq->sha256);
		if (r != NULL) {
			a->cache = BACKEND_CACHE_HIT;
			return r;
		}
	}
	oi.w = rq->img->w;
	oi.h = rq->img->h;
	oi.rgb = rq->img->rgb;
	t0 = clock_ms();
	r = ocr_read(t->ocr, &oi, e);
	if (r == NULL)
		return NULL;
	*ms_read = clock_ms() - t0;
	a->cache = BACKEND_CACHE_MISS;
	bytes = result_bytes(r);
	if (rq->sha256 != NULL && rq->sha256[0] != '\0' &&
	    bytes <= TEXT_CACHE_BYTES) {
		cache_put(t, rq->sha256, r, bytes);
		return r;
	}
	*owned = true;
	return r;
}

int
backend_text_point(void *h, const struct backend_request *rq,
                   struct backend_answer *a, struct backend_text_verdict *v,
                   struct err *e)
{
	struct match_hit hits[TEXT_MAX_POINTS];
	struct textbe *t = h;
	struct match_query q;
	struct ocr_result *r;
	size_t i, n, limit;
	ssize_t found;
	double t0;
	bool owned;
	char msg[2 * MATCH_MAX_TEXT + 128];

	memset(v, 0, sizeof(*v));
	a->source = "text";
	if (match_parse(rq->text, &q, e) == -1)
		return BACKEND_REFUSED;
	if (atomic_load(rq->cancel))
		return err_set(e, "cancelled");
	r = words(t, rq, a, &v->ms_read, &owned, e);
	if (r == NULL)
		return err_prefix(e, "text backend");
	if (atomic_load(rq->cancel)) {
		if (owned)
			ocr_result_free(r);
		return err_set(e, "cancelled");
	}
	t0 = clock_ms();
	found = match_find(r, &q, NULL, hits, TEXT_MAX_POINTS, e);
	a->ms_vision = v->ms_read;
	a->ms_decode = clock_ms() - t0;
	if (owned)
		ocr_result_free(r);
	if (found == -1)
		return err_prefix(e, "text backend");
	v->candidates = (long)found;
	v->best = found > 0 ? hits[0].score : 0;
	v->nontext = q.kind == MATCH_NONTEXT;
	limit = rq->max_points > 0 ? (size_t)rq->max_points : TEXT_MAX_POINTS;
	if (limit > TEXT_MAX_POINTS)
		limit = TEXT_MAX_POINTS;
	if (v->nontext) {
		snprintf(msg, sizeof(msg),
		         "text: \"%s\" names something that is not text",
		         q.label);
	} else if (found == 0) {
		a->none = true;
		snprintf(msg, sizeof(msg), "text: no words match \"%s\"",
		         q.label);
	} else if ((size_t)found > limit) {
		snprintf(msg, sizeof(msg),
		         "text: \"%s\" is ambiguous (%zd candidates)", q.label,
		         found);
	} else {
		n = (size_t)found;
		a->points = xcalloc(n, sizeof(*a->points));
		for (i = 0; i < n; i++) {
			struct backend_point *pt = &a->points[i];

			pt->x = hits[i].x;
			pt->y = hits[i].y;
			pt->label = xstrdup(q.label);
			str_copy(pt->matched, hits[i].text,
			         sizeof(pt->matched));
			pt->score = hits[i].score;
			pt->scored = true;
		}
		a->n_points = n;
		snprintf(msg, sizeof(msg),
		         "text: \"%s\" matched \"%s\" (score %.2f)", q.label,
		         hits[0].text, hits[0].score);
	}
	a->raw = xstrdup(msg);
	return 0;
}

static int
text_run(void *h, const struct backend_request *rq, struct backend_answer *a,
         struct err *e)
{
	struct backend_text_verdict v;
	int rc;

	if (rq->kind == BACKEND_ASK) {
		err_set(e, "the text backend cannot answer free-form "
		           "questions; ask needs backend molmo or auto with a "
		           "model loaded");
		return BACKEND_REFUSED;
	}
	if (rq->backend != NULL && strcmp(rq->backend, "molmo") == 0) {
		err_set(e, "molmo is not loaded: this pointd runs the text "
		           "backend");
		return BACKEND_REFUSED;
	}
	rc = backend_text_point(h, rq, a, &v, e);
	if (rc == 0 && rq->backend != NULL && strcmp(rq->backend, "auto") == 0)
		str_copy(a->note,
		         "molmo is not loaded (backend text); answered from "
		         "text alone",
		         sizeof(a->note));
	return rc;
}

const struct backend_ops backend_text = {
    "text", text_open, text_close, text_model_name, text_run,
};
