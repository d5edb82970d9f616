/* SPDX-License-Identifier: ISC */
/*
 * backend.h: the one small interface between pointd and an inference
 * engine.  A backend is a table of functions (struct backend_ops); the
 * program defines backend_table[], the NULL-terminated list it was built
 * with (daemon/backend_list.c for pointd), and the `backend` directive
 * picks a row by name.
 *
 * Threads: backend_open() and backend_close() run on the main thread at
 * start-up and shutdown; backend_run() runs only on the inference thread,
 * one call at a time, and may block for as long as the model computes.  It
 * must poll *rq->cancel between steps (tokens, layers, crops) and return
 * -1 soon after it becomes true.
 */
#ifndef DAEMON_BACKEND_H
#define DAEMON_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "image/image.h"
#include "util/err.h"

#define BACKEND_MAX_POINTS 256 /* most points one answer keeps */

/* What a backend needs to open. */
struct backend_params {
	const char *model_dir; /* checkpoint directory */
	int threads;           /* compute threads, >= 1 */
	/* Progress while loading, frac in [0, 1]; may be NULL. */
	void (*progress)(void *arg, const char *stage, double frac);
	void *progress_arg;
};

enum backend_kind {
	BACKEND_POINT, /* find a target: text is the target */
	BACKEND_ASK,   /* free-form question: text is the prompt */
};

/* One request, borrowed for the duration of backend_run(). */
struct backend_request {
	enum backend_kind kind;
	const struct image *img; /* decoded RGB */
	const char *text;        /* target or prompt, UTF-8 */
	int max_points;          /* 0 = all the model gives */
	int max_new_tokens;      /* generation limit */
	atomic_bool *cancel;     /* set by the service thread */
};

struct backend_point {
	double x, y; /* pixels of the submitted image */
	char *label; /* malloc'd, may be NULL */
};

/* The answer, owned by the caller after backend_run() (backend_answer_fini). */
struct backend_answer {
	char *raw;                    /* the model's text, malloc'd */
	struct backend_point *points; /* malloc'd array */
	size_t n_points;
	bool none; /* the model said the target is absent */
	double ms_preprocess, ms_vision, ms_prefill,
	    ms_decode; /* stage times */
};

struct backend_ops {
	const char *name;
	/* Load the model; returns an opaque handle or NULL with e set. */
	void *(*open)(const struct backend_params *p, struct err *e);
	void (*close)(void *h);
	/* A short model name for replies and metrics (borrowed). */
	const char *(*model_name)(void *h);
	/* Run one request; 0 with a filled answer, or -1 with e set (also when
	 * cancelled, which the caller tells apart by *rq->cancel). */
	int (*run)(void *h, const struct backend_request *rq,
	           struct backend_answer *a, struct err *e);
};

/* The Molmo backend (backend_molmo.c). */
extern const struct backend_ops backend_molmo;

/* Defined by each program: the backends it was built with, NULL-terminated. */
extern const struct backend_ops *const backend_table[];

struct backend;

/* Open the backend called name.  Returns NULL with e set when there is no
 * such backend or it fails to load. */
struct backend *backend_open(const char *name, const struct backend_params *p,
                             struct err *e);
void backend_close(struct backend *b);
const char *backend_name(const struct backend *b);
const char *backend_model_name(const struct backend *b);
/* Inference thread only.  Same returns as backend_ops.run. */
int backend_run(struct backend *b, const struct backend_request *rq,
                struct backend_answer *a, struct err *e);
/* True if name is in backend_table[]. */
bool backend_exists(const char *name);
/* Free what a holds and zero it. */
void backend_answer_fini(struct backend_answer *a);

#endif
