/* SPDX-License-Identifier: ISC */
/*
 * backend_auto.c: the auto backend: text when one match is clearly best,
 * otherwise Molmo.
 *
 * It holds a text backend (backend_text.c) and, when a model directory is
 * configured and loads, a Molmo backend (backend_molmo.c).  A point
 * request is first matched against the frame's words (read once per frame
 * and cached, so this costs a few milliseconds after the first query);
 * when the match is sure, that is at least one and at most max_points
 * candidates (1 when max_points is 0) with the best scoring MATCH_SURE or
 * more (text/match.h), the text answer is sent.  Otherwise Molmo answers,
 * with a note saying so.  Without a model, every answer comes from text
 * and its note says that Molmo is not loaded.
 *
 * A request may choose with "backend": "text" (text only), "molmo" (Molmo
 * only, refused when no model is loaded) or "auto" (the default).
 * Free-form questions always go to Molmo.
 *
 * Threads: open and close on the main thread, run on the inference thread;
 * the two handles are only used from there.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/backend.h"
#include "text/match.h"
#include "util/str.h"
#include "util/xmalloc.h"

struct autobe {
	void *text;            /* backend_text handle */
	void *molmo;           /* backend_molmo handle, NULL when not loaded */
	char why[ERR_MSG_MAX]; /* why Molmo is not loaded */
};

static void
auto_close(void *h)
{
	struct autobe *ab = h;

	if (ab == NULL)
		return;
	if (ab->molmo != NULL)
		backend_molmo.close(ab->molmo);
	if (ab->text != NULL)
		backend_text.close(ab->text);
	free(ab);
}

/* Load Molmo when the model directory exists; else say why not. */
static void
open_molmo(struct autobe *ab, const struct backend_params *p)
{
	struct stat st;
	struct err me;

	if (p->model_dir == NULL || p->model_dir[0] == '\0') {
		str_copy(ab->why, "no model directory is configured",
		         sizeof(ab->why));
		return;
	}
	if (stat(p->model_dir, &st) == -1) {
		snprintf(ab->why, sizeof(ab->why), "model %s: %s", p->model_dir,
		         strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(ab->why, sizeof(ab->why), "model %s: not a directory",
		         p->model_dir);
		return;
	}
	me.msg[0] = '\0';
	ab->molmo = backend_molmo.open(p, &me);
	if (ab->molmo == NULL)
		snprintf(ab->why, sizeof(ab->why), "model %s: %s", p->model_dir,
		         me.msg);
}

static void *
auto_open(const struct backend_params *p, struct err *e)
{
	struct autobe *ab = xcalloc(1, sizeof(*ab));
	struct backend_params tp = *p;
	char msg[ERR_MSG_MAX + 128];

	tp.notice = NULL; /* the notice about Molmo is ours */
	ab->text = backend_text.open(&tp, e);
	if (ab->text == NULL) {
		auto_close(ab);
		return NULL;
	}
	open_molmo(ab, p);
	if (ab->molmo == NULL && p->notice != NULL) {
		snprintf(
		    msg, sizeof(msg),
		    "molmo is not loaded (%s); auto answers from text alone",
		    ab->why);
		p->notice(p->progress_arg, msg);
	}
	return ab;
}

static const char *
auto_model_name(void *h)
{
	struct autobe *ab = h;

	if (ab->molmo != NULL)
		return backend_molmo.model_name(ab->molmo);
	return backend_text.model_name(ab->text);
}

/* Molmo's answer to rq, or BACKEND_REFUSED when it is not loaded. */
static int
run_molmo(struct autobe *ab, const struct backend_request *rq,
          struct backend_answer *a, struct err *e)
{
	int rc;

	if (ab->molmo == NULL) {
		err_set(e, "molmo is not loaded (%s)%s", ab->why,
		        rq->kind == BACKEND_ASK
		            ? "; free-form questions need a model"
		            : "");
		return BACKEND_REFUSED;
	}
	rc = backend_molmo.run(ab->molmo, rq, a, e);
	if (rc == 0)
		a->source = "molmo";
	return rc;
}

/* True if the text answer is sure enough to send without asking Molmo. */
static bool
sure(const struct backend_request *rq, const struct backend_text_verdict *v)
{
	long limit = rq->max_points > 0 ? rq->max_points : 1;

	return !v->nontext && v->candidates >= 1 && v->candidates <= limit &&
	       v->best >= MATCH_SURE;
}

static int
auto_run(void *h, const struct backend_request *rq, struct backend_answer *a,
         struct err *e)
{
	struct autobe *ab = h;
	const char *mode = rq->backend != NULL ? rq->backend : "auto";
	struct backend_text_verdict v;
	enum backend_cache cache;
	int rc;

	if (rq->kind == BACKEND_ASK) {
		if (strcmp(mode, "text") == 0)
			return backend_text.run(ab->text, rq, a, e);
		return run_molmo(ab, rq, a, e);
	}
	if (strcmp(mode, "molmo") == 0)
		return run_molmo(ab, rq, a, e);
	rc = backend_text_point(ab->text, rq, a, &v, e);
	if (strcmp(mode, "text") == 0)
		return rc;
	if (rc == -1 && atomic_load(rq->cancel))
		return -1;
	if (ab->molmo == NULL) {
		if (rc == 0)
			snprintf(a->note, sizeof(a->note),
			         "molmo is not loaded (%.180s); answered from "
			         "text alone",
			         ab->why);
		return rc;
	}
	if (rc == 0 && sure(rq, &v))
		return 0;
	/* Not sure (or text failed): Molmo answers. */
	cache = a->cache;
	backend_answer_fini(a);
	rc = run_molmo(ab, rq, a, e);
	if (rc != 0)
		return rc;
	a->ms_preprocess += v.ms_read;
	a->cache = cache;
	str_copy(a->note,
	         v.nontext           ? "the target is not text; answered by "
	                               "molmo"
	         : v.candidates == 0 ? "no text matched; answered by molmo"
	         : v.candidates == 1 ? "the text match was not sure; "
	                               "answered by molmo"
	                             : "the text match was ambiguous; "
	                               "answered by molmo",
	         sizeof(a->note));
	return 0;
}

const struct backend_ops backend_auto = {
    "auto", auto_open, auto_close, auto_model_name, auto_run,
};
