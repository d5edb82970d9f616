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

#define BACKEND_MAX_POINTS  256 /* most points one answer keeps */
#define BACKEND_MATCHED_MAX 256 /* bytes of a text match kept, NUL included */
#define BACKEND_NOTE_MAX    256 /* bytes of an answer's note, NUL included */

/*
 * Returned by backend_ops.run (instead of -1) when the request asks for
 * something this backend cannot do: a free-form question to the text
 * backend, Molmo when no model is loaded.  e says why in one sentence and
 * the client gets bad_request.
 */
#define BACKEND_REFUSED (-2)

/* What a backend needs to open. */
struct backend_params {
	const char *model_dir; /* checkpoint directory */
	const char *tokenizer; /* tokenizer override, or NULL */
	const char *vocab_map; /* pruned-vocabulary map file, or NULL */
	int max_crops;         /* Molmo 2 crops per image; 0 = default */
	int threads;           /* compute threads, >= 1 */
	/* Progress while loading, frac in [0, 1]; may be NULL. */
	void (*progress)(void *arg, const char *stage, double frac);
	void *progress_arg;
	/* A one-line notice for the log ("molmo is not loaded: ..."), with
	 * progress_arg; may be NULL.  Main thread, during open only. */
	void (*notice)(void *arg, const char *msg);
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
	int max_crops;           /* Molmo 2 crops; 0 = the configured */
	int max_new_tokens;      /* generation limit */
	atomic_bool *cancel;     /* set by the service thread */
	/* The request's own choice, "molmo", "text" or "auto"; NULL: the
	 * backend's default.  Backends other than text and auto ignore it. */
	const char *backend;
	/* SHA-256 of the encoded frame, 64 hex digits; NULL when unknown
	 * (then nothing derived from the frame is cached). */
	const char *sha256;
};

struct backend_point {
	double x, y; /* pixels of the submitted image */
	char *label; /* malloc'd, may be NULL */
	/* Text answers only (calloc'd points leave them empty): the words
	 * matched as read, and the match score in [0, 1]. */
	char matched[BACKEND_MATCHED_MAX];
	double score;
	bool scored; /* matched and score are set */
};

/* Whether an answer came from the per-frame text cache. */
enum backend_cache {
	BACKEND_CACHE_NONE = 0, /* no text reading involved */
	BACKEND_CACHE_HIT,      /* the frame's words were already read */
	BACKEND_CACHE_MISS,     /* read now (and kept when the hash is known) */
};

/* The answer, owned by the caller after backend_run() (backend_answer_fini). */
struct backend_answer {
	char *raw;                    /* the model's text, malloc'd */
	struct backend_point *points; /* malloc'd array */
	size_t n_points;
	bool none; /* the model said the target is absent */
	double ms_preprocess, ms_vision, ms_prefill,
	    ms_decode; /* stage times */
	/* Which engine produced it, "text" or "molmo" (a static string);
	 * NULL: the backend's name. */
	const char *source;
	char note[BACKEND_NOTE_MAX]; /* for the client, "" for none */
	enum backend_cache cache;    /* for the metrics */
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
/* The text backend: Tesseract words matched against the target, read once
 * per frame and cached by the frame's hash (backend_text.c). */
extern const struct backend_ops backend_text;
/* Text when one match is clearly best, else Molmo; text alone when no
 * model is loaded (backend_auto.c). */
extern const struct backend_ops backend_auto;

/* What the text backend found for one point request (backend_auto.c
 * decides with it). */
struct backend_text_verdict {
	long candidates; /* runs within the tie of the best; 0: none */
	double best;     /* score of the best, 0 when none */
	bool nontext;    /* the target names an icon, image or logo */
	double ms_read;  /* OCR time, 0 on a cache hit */
};

/*
 * backend_text_point: run a point request on text backend handle h (from
 * backend_text.open) and fill a with the text answer (source "text") and v
 * with what decided it.  Inference thread only.  Same returns as
 * backend_ops.run.
 */
int backend_text_point(void *h, const struct backend_request *rq,
                       struct backend_answer *a, struct backend_text_verdict *v,
                       struct err *e);

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
