/* SPDX-License-Identifier: ISC */
/*
 * backend_molmo.c: the Molmo backend: model/ on the CPU.
 *
 * Opens the checkpoint and one session (KV cache, activations and the
 * compute pool) at start-up; each run builds the prompt, runs the model
 * with a cancel callback that reads the job's flag, and turns the answer's
 * point tags into pixels.  Pointing prompts follow the training templates
 * (docs/molmo-v1.md section 8.4): a target is sent as "Point to TARGET"
 * unless it is already a pointing or counting instruction.
 *
 * Answers become points with model/answer.c.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/backend.h"
#include "model/answer.h"
#include "model/model.h"
#include "util/str.h"
#include "util/xmalloc.h"

struct molmo {
	struct model *m;
	struct model_session *s; /* inference thread only */
	char name[128];
	int max_crops; /* Molmo 2 crops per image; 0 = checkpoint default */
};

static void
molmo_close(void *h)
{
	struct molmo *mo = h;

	if (mo == NULL)
		return;
	model_session_free(mo->s);
	model_close(mo->m);
	free(mo);
}

/*
 * The model's name: the checkpoint directory's last component, or the last
 * two when the last is the generic "model" (golden/qwen2-tiny/model).
 */
static void
model_name_of(const char *dir, char *name, size_t size)
{
	char tmp[PATH_MAX];
	char *slash;
	size_t n;

	n = str_copy(tmp, dir, sizeof(tmp));
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	slash = strrchr(tmp, '/');
	if (slash != NULL && strcmp(slash + 1, "model") == 0 && slash > tmp) {
		*slash = '\0';
		slash = strrchr(tmp, '/');
		if (slash != NULL)
			*slash = '\0';
		if (snprintf(name, size, "%s/model",
		             slash != NULL ? slash + 1 : tmp) >= (int)size)
			name[size - 1] = '\0'; /* truncated, still a name */
		return;
	}
	str_copy(name, slash != NULL ? slash + 1 : tmp, size);
}

static void *
molmo_open(const struct backend_params *p, struct err *e)
{
	struct model_params mp = model_params_default();
	struct molmo *mo = xcalloc(1, sizeof(*mo));
	mp.n_threads = p->threads;
	mp.tokenizer = p->tokenizer;
	mp.vocab_map = p->vocab_map;
	mp.max_crops = p->max_crops;
	mo->max_crops = p->max_crops;
	if (p->progress != NULL)
		p->progress(p->progress_arg, "mapping weights", 0.0);
	mo->m = model_open(p->model_dir, &mp, e);
	if (mo->m == NULL)
		goto fail;
	if (p->progress != NULL)
		p->progress(p->progress_arg, "allocating session", 0.5);
	mo->s = model_session_new(mo->m, e);
	if (mo->s == NULL)
		goto fail;
	model_name_of(p->model_dir, mo->name, sizeof(mo->name));
	if (p->progress != NULL)
		p->progress(p->progress_arg, "loaded", 1.0);
	return mo;
fail:
	molmo_close(mo);
	return NULL;
}

static const char *
molmo_model_name(void *h)
{
	return ((struct molmo *)h)->name;
}

static int
cancelled(void *arg)
{
	return atomic_load((atomic_bool *)arg) ? 1 : 0;
}

/* True if s starts with prefix, ignoring ASCII case. */
static bool
starts_with(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The prompt for a point request on target (malloc'd). */
static char *
point_prompt(const char *target)
{
	static const char *const as_is[] = {"point",  "how many", "count",
	                                    "locate", "click",    "pointing:"};
	size_t i, n;
	char *p;

	for (i = 0; i < sizeof(as_is) / sizeof(as_is[0]); i++)
		if (starts_with(target, as_is[i]))
			return xstrdup(target);
	n = strlen(target) + sizeof("Point to ");
	p = xmalloc(n);
	snprintf(p, n, "Point to %s", target);
	return p;
}

/*
 * Turn the answer text into points (model/answer.c).  Text that is neither
 * point tags nor a "none" sentence gives no points and none unset: the
 * raw text still goes to the client.
 */
static void
parse_points(const char *text, int w, int h, struct backend_answer *a)
{
	struct answer ans;
	struct err e;
	size_t i, n;

	if (answer_parse(text, w, h, &ans, &e) == -1)
		return;
	a->none = ans.none;
	n = ans.n < BACKEND_MAX_POINTS ? ans.n : BACKEND_MAX_POINTS;
	if (n > 0)
		a->points = xcalloc(n, sizeof(*a->points));
	for (i = 0; i < n; i++) {
		const struct answer_tag *t = &ans.tags[ans.pts[i].tag];
		const char *label = t->alt != NULL ? t->alt : t->label;

		a->points[i].x = ans.pts[i].x;
		a->points[i].y = ans.pts[i].y;
		a->points[i].label = label != NULL ? xstrdup(label) : NULL;
	}
	a->n_points = n;
	answer_fini(&ans);
}

/*
 * MolmoPoint points come from its pointing head, already decoded to pixels
 * of the image (model_result.points: object id, image index, x, y), not
 * from the text.
 */
static void
head_points(const struct model_result *res, struct backend_answer *a)
{
	size_t i, n;

	n = (size_t)res->n_points < BACKEND_MAX_POINTS ? (size_t)res->n_points
	                                               : BACKEND_MAX_POINTS;
	a->points = xcalloc(n, sizeof(*a->points));
	for (i = 0; i < n; i++) {
		a->points[i].x = res->points[4 * i + 2];
		a->points[i].y = res->points[4 * i + 3];
		a->points[i].label = NULL;
	}
	a->n_points = n;
}

static int
molmo_run(void *h, const struct backend_request *rq, struct backend_answer *a,
          struct err *e)
{
	struct molmo *mo = h;
	struct model_request mr = model_request_default();
	struct model_result res;
	struct model_image img;
	char *prompt;
	int rc;

	/* The session holds buffers for the configured max_crops only (with
	 * none configured, the engine checks against the checkpoint's). */
	if (mo->max_crops > 0 && rq->max_crops > mo->max_crops) {
		err_set(e,
		        "max_crops %d is more than this server's max_crops %d",
		        rq->max_crops, mo->max_crops);
		return BACKEND_REFUSED;
	}
	img.w = rq->img->w;
	img.h = rq->img->h;
	img.rgb = rq->img->rgb;
	prompt = rq->kind == BACKEND_POINT ? point_prompt(rq->text)
	                                   : xstrdup(rq->text);
	mr.image = &img;
	mr.prompt = prompt;
	mr.max_new_tokens = rq->max_new_tokens > 0 ? rq->max_new_tokens : 64;
	mr.cancel = cancelled;
	mr.cancel_arg = rq->cancel;
	mr.max_crops = rq->max_crops > 0 ? rq->max_crops : mo->max_crops;
	rc = model_run(mo->s, &mr, &res, e);
	free(prompt);
	if (rc == -1)
		return -1;
	if (res.stop == MODEL_STOP_CANCEL)
		return err_set(e, "cancelled");
	a->raw = xstrdup(res.text);
	a->ms_preprocess = res.t.preprocess_ms;
	a->ms_vision = res.t.vision_ms;
	a->ms_prefill = res.t.prefill_ms;
	a->ms_decode = res.t.decode_ms;
	if (res.n_points > 0)
		head_points(&res, a);
	else
		parse_points(res.text, img.w, img.h, a);
	return 0;
}

const struct backend_ops backend_molmo = {
    "molmo", molmo_open, molmo_close, molmo_model_name, molmo_run,
};
