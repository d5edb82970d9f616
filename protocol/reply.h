/* SPDX-License-Identifier: ISC */
/*
 * reply.h: the client side of pointd's protocol v1: decoding the messages
 * pointd sends (ready, frame, points, answer, error, bye) into plain structs.
 * Used by pointagent and by tests; pointd itself only encodes them (api.h).
 *
 * Ownership: a decoded struct reply owns its strings and points until
 * reply_fini().  Pure code: any thread, no state.
 */
#ifndef PROTOCOL_REPLY_H
#define PROTOCOL_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

enum reply_type {
	REPLY_READY,
	REPLY_FRAME,
	REPLY_POINTS,
	REPLY_ANSWER,
	REPLY_ERROR,
	REPLY_BYE,
};

/* One point of a points or answer reply. */
struct reply_point {
	double x, y;         /* pixels of the submitted image */
	double css_x, css_y; /* CSS pixels (x, y divided by the frame's dpr) */
	char *label;         /* NULL when absent */
};

struct reply {
	enum reply_type type;
	char *id; /* the request id echoed, NULL for null/absent */
	/* ready */
	char *session;
	/* frame, points */
	int width, height; /* image size in pixels */
	double dpr;        /* points: the frame's device pixel ratio */
	/* points, answer */
	struct reply_point *points;
	size_t n_points;
	bool none;  /* points: the model says the target is absent */
	char *text; /* answer: text; points: raw model text */
	/* error */
	char *code;               /* stable error code, e.g. "busy" */
	char *message;            /* one sentence */
	long long retry_after_ms; /* busy: when to retry, else -1 */
};

/*
 * Decode one message from pointd of len bytes.  Returns 0, or -1 with e
 * naming the problem (not JSON, unknown type, a field missing or
 * mistyped).  Call reply_fini() in both cases.
 */
int reply_decode(struct reply *r, const void *msg, size_t len, struct err *e);
/* Free what r owns and zero it. */
void reply_fini(struct reply *r);

#endif
