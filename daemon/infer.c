/* SPDX-License-Identifier: ISC */
/*
 * infer.c: the inference thread.
 *
 * One thread takes jobs from infer_q, decodes the frame's image (image/),
 * runs the backend, and pushes the job onto done_q, then wakes the service
 * thread with lws_cancel_service(), the one lws call made off the service
 * thread.  It owns a job only between the two queues and never touches a
 * session.  The backend's compute pool does the parallel work inside each
 * run; two runs never overlap (CPU decoding is memory-bound, so a second
 * concurrent forward pass would only halve both).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "daemon/server.h"
#include "util/clock.h"
#include "util/queue.h"
#include "util/xmalloc.h"

struct infer {
	pthread_t thread;
	struct backend *be;
	struct lws_context *ctx;
	struct queue *in;   /* jobs to run */
	struct queue *done; /* jobs finished, failed or cancelled */
};

/* Decode and run one job; fills j->rc, err, errmsg, ans. */
static void
run_job(struct infer *inf, struct job *j)
{
	struct backend_request rq;
	struct image img;
	struct err e;
	double t0, ms_image;
	int rc;

	j->rc = -1;
	if (atomic_load(&j->cancel)) {
		j->err = API_ERR_CANCELLED;
		return;
	}
	t0 = clock_ms();
	memset(&img, 0, sizeof(img));
	if (image_decode(j->frame->bytes, j->frame->len, &j->lim, &img, &e) ==
	    -1) {
		j->err = API_ERR_BAD_IMAGE;
		snprintf(j->errmsg, sizeof(j->errmsg), "frame %s: %s",
		         j->frame->id, e.msg);
		return;
	}
	ms_image = clock_ms() - t0;
	j->img_w = img.w;
	j->img_h = img.h;
	memset(&rq, 0, sizeof(rq));
	rq.kind = j->type == API_ASK ? BACKEND_ASK : BACKEND_POINT;
	rq.img = &img;
	rq.text = j->text;
	rq.max_points = j->max_points;
	rq.max_crops = j->max_crops;
	rq.max_new_tokens = j->max_new_tokens;
	rq.cancel = &j->cancel;
	rq.backend = j->backend[0] != '\0' ? j->backend : NULL;
	rq.sha256 = j->frame->sha256[0] != '\0' ? j->frame->sha256 : NULL;
	e.msg[0] = '\0';
	rc = backend_run(inf->be, &rq, &j->ans, &e);
	if (rc == BACKEND_REFUSED) {
		/* The backend cannot do what was asked: the client's error. */
		backend_answer_fini(&j->ans);
		j->err = API_ERR_BAD_REQUEST;
		snprintf(j->errmsg, sizeof(j->errmsg), "%s", e.msg);
		image_fini(&img);
		return;
	}
	if (rc == -1) {
		backend_answer_fini(&j->ans);
		if (atomic_load(&j->cancel)) {
			j->err = API_ERR_CANCELLED;
		} else {
			j->err = API_ERR_INTERNAL;
			snprintf(j->errmsg, sizeof(j->errmsg), "model: %s",
			         e.msg);
		}
		image_fini(&img);
		return;
	}
	/* Image decoding counts as preprocessing. */
	j->ans.ms_preprocess += ms_image;
	image_fini(&img);
	j->rc = 0;
}

static void
free_job(void *p)
{
	job_free(p);
}

static void *
loop(void *arg)
{
	struct infer *inf = arg;
	struct job *j;

	while ((j = queue_pop(inf->in)) != NULL) {
		j->t_start = clock_ms();
		run_job(inf, j);
		j->t_end = clock_ms();
		if (queue_push(inf->done, j) == -1)
			abort(); /* done is closed only after the join */
		lws_cancel_service(inf->ctx);
	}
	return NULL;
}

struct infer *
infer_start(struct backend *be, struct lws_context *ctx, struct err *e)
{
	struct infer *inf = xcalloc(1, sizeof(*inf));
	int rc;

	inf->be = be;
	inf->ctx = ctx;
	inf->in = queue_new();
	inf->done = queue_new();
	rc = pthread_create(&inf->thread, NULL, loop, inf);
	if (rc != 0) {
		queue_free(inf->in, NULL);
		queue_free(inf->done, NULL);
		free(inf);
		err_set(e, "inference thread: %s", strerror(rc));
		return NULL;
	}
	return inf;
}

void
infer_push(struct infer *inf, struct job *j)
{
	if (queue_push(inf->in, j) == -1) {
		/* Closed: the job goes straight back, cancelled. */
		j->rc = -1;
		j->err = API_ERR_SHUTTING_DOWN;
		queue_push(inf->done, j);
	}
}

struct job *
infer_done(struct infer *inf)
{
	return queue_trypop(inf->done);
}

void
infer_stop(struct infer *inf)
{
	if (inf == NULL)
		return;
	queue_close(inf->in);
	pthread_join(inf->thread, NULL);
}

void
infer_free(struct infer *inf)
{
	if (inf == NULL)
		return;
	queue_free(inf->in, free_job);
	queue_free(inf->done, free_job);
	free(inf);
}
