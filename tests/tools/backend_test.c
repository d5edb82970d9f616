/* SPDX-License-Identifier: ISC */
/*
 * backend_test.c: a test-only backend for tests/tools/pointd_testbe, the
 * pointd build used by protocol, limit and scheduling tests that do not
 * need a model.  It never ships: pointd itself links daemon/backend_list.c.
 *
 * Its answers are computed from the request, so tests can check them:
 * a point at the image's centre labelled with the target; "none" in the
 * target gives no points; "fail" an internal error; "sleep=MS" works for
 * MS milliseconds first, polling the cancel flag every 2 ms like the real
 * engine does between steps.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/backend.h"
#include "util/xmalloc.h"

static void *
tb_open(const struct backend_params *p, struct err *e)
{
	(void)e;
	if (p->progress != NULL)
		p->progress(p->progress_arg, "test backend", 1.0);
	return xstrdup("test-backend");
}

static void
tb_close(void *h)
{
	free(h);
}

static const char *
tb_name(void *h)
{
	return h;
}

static int
tb_run(void *h, const struct backend_request *rq, struct backend_answer *a,
       struct err *e)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	const char *s;
	char raw[256];
	long ms = 0, i;

	(void)h;
	s = strstr(rq->text, "sleep=");
	if (s != NULL)
		ms = strtol(s + 6, NULL, 10);
	for (i = 0; i < ms / 2; i++) {
		if (atomic_load(rq->cancel))
			return err_set(e, "cancelled");
		nanosleep(&ts, NULL);
	}
	if (atomic_load(rq->cancel))
		return err_set(e, "cancelled");
	if (strstr(rq->text, "fail") != NULL)
		return err_set(e, "the test backend was asked to fail");
	a->ms_vision = (double)ms;
	if (strstr(rq->text, "none") != NULL) {
		a->raw = xstrdup(" There are none.");
		a->none = true;
		return 0;
	}
	snprintf(raw, sizeof(raw),
	         " <point x=\"50.0\" y=\"50.0\" "
	         "alt=\"%.64s\">%.64s</point>",
	         rq->text, rq->text);
	a->raw = xstrdup(raw);
	a->points = xcalloc(1, sizeof(*a->points));
	a->points[0].x = rq->img->w / 2.0;
	a->points[0].y = rq->img->h / 2.0;
	a->points[0].label = xstrdup("test");
	a->n_points = 1;
	return 0;
}

static const struct backend_ops backend_test = {
    "test", tb_open, tb_close, tb_name, tb_run,
};

const struct backend_ops *const backend_table[] = {
    &backend_test,
    NULL,
};
