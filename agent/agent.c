/* SPDX-License-Identifier: ISC */
/*
 * agent.c: pointagent's state machine.  Each target goes through
 * SHOT (screenshot requested) -> FRAME (frame sent to pointd) -> POINT
 * (point request sent) -> MOVE/PRESS/RELEASE (mouse events sent), then the
 * next target starts with a fresh screenshot, since a click may change
 * the page.  CDP replies are matched by id, pointd replies by request id;
 * anything else (CDP events, stray replies) is ignored.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "agent/act.h"
#include "agent/agent.h"
#include "agent/cdp.h"
#include "protocol/api.h"
#include "protocol/reply.h"
#include "util/b64.h"
#include "util/xmalloc.h"

/* Largest screenshot accepted from Chromium, decoded (bytes). */
#define AGENT_MAX_SHOT (64u << 20)

enum state {
	S_START,   /* waiting for the connections */
	S_HELLO,   /* hello and dpr query sent */
	S_SHOT,    /* screenshot requested */
	S_FRAME,   /* frame sent, waiting for its ack */
	S_POINT,   /* point request sent */
	S_MOVE,    /* mouseMoved sent */
	S_PRESS,   /* mousePressed sent */
	S_RELEASE, /* mouseReleased sent */
	S_DONE,
};

struct agent {
	struct agent_params p;
	enum state state;
	int target;      /* index of the current target */
	int cdp_id;      /* id of the CDP command awaited */
	int next_cdp_id; /* next CDP command id */
	bool got_ready, got_dpr;
	double dpr;        /* the page's devicePixelRatio */
	int width, height; /* current screenshot size */
	double cx, cy;     /* click position, CSS pixels */
	char frame_id[API_ID_MAX], req_id[API_ID_MAX];
	int failures;
};

struct agent *
agent_new(const struct agent_params *p)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->p = *p;
	a->next_cdp_id = 1;
	a->dpr = 1;
	return a;
}

void
agent_free(struct agent *a)
{
	free(a);
}

void
agent_act_fini(struct agent_act *act)
{
	free(act->msg);
	act->msg = NULL;
}

static void
push(struct agent_act *acts, int *n, enum agent_act_type t, char *msg,
     size_t len)
{
	acts[*n].type = t;
	acts[*n].msg = msg;
	acts[*n].len = len;
	acts[*n].status = 0;
	(*n)++;
}

/* A REPORT action with the formatted line (headroom included). */
static void report(struct agent *a, struct agent_act *acts, int *n,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
report(struct agent *a, struct agent_act *acts, int *n, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	char *p;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	len = strlen(line);
	p = xmalloc(a->p.pre + len + 1);
	memcpy(p + a->p.pre, line, len + 1);
	push(acts, n, AGENT_ACT_REPORT, p, len);
}

static void
done(struct agent *a, struct agent_act *acts, int *n, int status)
{
	a->state = S_DONE;
	push(acts, n, AGENT_ACT_DONE, NULL, 0);
	acts[*n - 1].status = status;
}

static void
take_screenshot(struct agent *a, struct agent_act *acts, int *n)
{
	size_t len;
	char *m;

	a->cdp_id = a->next_cdp_id++;
	m = cdp_screenshot(a->p.pre, a->cdp_id, &len);
	push(acts, n, AGENT_ACT_CDP, m, len);
	a->state = S_SHOT;
}

/* Move on to the next target, or finish. */
static void
next_target(struct agent *a, struct agent_act *acts, int *n)
{
	a->target++;
	if (a->target >= a->p.n_targets) {
		done(a, acts, n, a->failures == 0 ? 0 : 1);
		return;
	}
	take_screenshot(a, acts, n);
}

static void
send_mouse(struct agent *a, struct agent_act *acts, int *n, const char *type,
           enum state next)
{
	size_t len;
	char *m;

	a->cdp_id = a->next_cdp_id++;
	m = cdp_mouse(a->p.pre, a->cdp_id, type, a->cx, a->cy, &len);
	push(acts, n, AGENT_ACT_CDP, m, len);
	a->state = next;
}

static int
on_start(struct agent *a, struct agent_act *acts, int *n, struct err *e)
{
	struct api_request r;
	size_t len;
	char *m;

	if (a->p.n_targets <= 0) {
		done(a, acts, n, 0);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.type = API_HELLO;
	r.token = (char *)(uintptr_t)a->p.token;
	r.client = (char *)(uintptr_t)a->p.client;
	m = api_encode_request(a->p.pre, &r, &len);
	if (m == NULL)
		return err_set(e, "cannot encode hello");
	push(acts, n, AGENT_ACT_POINTD, m, len);
	a->cdp_id = a->next_cdp_id++;
	m = cdp_eval_dpr(a->p.pre, a->cdp_id, &len);
	push(acts, n, AGENT_ACT_CDP, m, len);
	a->state = S_HELLO;
	return 0;
}

static int
on_screenshot(struct agent *a, const struct cdp_msg *c, struct agent_act *acts,
              int *n, struct err *e)
{
	struct api_request r;
	size_t blen, len;
	ssize_t dlen;
	uint8_t *png;
	char *m;

	if (c->data == NULL)
		return err_set(e, "screenshot reply carries no data");
	blen = strlen(c->data);
	if (b64_decoded_max(blen) > AGENT_MAX_SHOT)
		return err_set(e, "screenshot of %zu base64 bytes is too large",
		               blen);
	png = xmalloc(a->p.pre + b64_decoded_max(blen) + 1);
	dlen = b64_decode(png + a->p.pre, b64_decoded_max(blen), c->data, blen);
	if (dlen < 0) {
		free(png);
		return err_set(e, "screenshot is not valid base64");
	}
	memset(&r, 0, sizeof(r));
	r.type = API_FRAME;
	snprintf(a->frame_id, sizeof(a->frame_id), "f%d", a->target + 1);
	snprintf(r.id, sizeof(r.id), "%s", a->frame_id);
	r.format = API_FMT_PNG;
	r.dpr = a->dpr;
	m = api_encode_request(a->p.pre, &r, &len);
	if (m == NULL) {
		free(png);
		return err_set(e, "cannot encode frame");
	}
	push(acts, n, AGENT_ACT_POINTD, m, len);
	push(acts, n, AGENT_ACT_POINTD_BINARY, (char *)png, (size_t)dlen);
	a->state = S_FRAME;
	return 0;
}

static int
on_cdp(struct agent *a, const struct agent_ev *ev, struct agent_act *acts,
       int *n, struct err *e)
{
	struct cdp_msg c;
	int rc = 0;

	if (cdp_parse(&c, ev->msg, ev->len, e) == -1) {
		cdp_msg_fini(&c);
		return -1;
	}
	if (c.id == 0 || c.id != a->cdp_id)
		goto out; /* an event, or a reply we no longer wait for */
	if (c.error != NULL) {
		rc = err_set(e, "Chromium: %s", c.error);
		goto out;
	}
	switch (a->state) {
	case S_HELLO:
		if (c.has_value && c.value > 0)
			a->dpr = c.value;
		a->got_dpr = true;
		if (a->got_ready)
			take_screenshot(a, acts, n);
		break;
	case S_SHOT:
		rc = on_screenshot(a, &c, acts, n, e);
		break;
	case S_MOVE:
		send_mouse(a, acts, n, "mousePressed", S_PRESS);
		break;
	case S_PRESS:
		send_mouse(a, acts, n, "mouseReleased", S_RELEASE);
		break;
	case S_RELEASE:
		report(a, acts, n, "clicked \"%s\" at css %.1f,%.1f",
		       a->p.targets[a->target], a->cx, a->cy);
		next_target(a, acts, n);
		break;
	default:
		break;
	}
out:
	cdp_msg_fini(&c);
	return rc;
}

static int
on_points(struct agent *a, const struct reply *r, struct agent_act *acts,
          int *n, struct err *e)
{
	const char *t = a->p.targets[a->target];

	if (r->none || r->n_points == 0) {
		report(a, acts, n, "\"%s\": none", t);
		a->failures++;
		next_target(a, acts, n);
		return 0;
	}
	if (act_to_css(r->points[0].x, r->points[0].y, a->width, a->height,
	               a->dpr, &a->cx, &a->cy, e) == -1)
		return -1;
	report(a, acts, n, "\"%s\": %.1f,%.1f px (css %.1f,%.1f)", t,
	       r->points[0].x, r->points[0].y, a->cx, a->cy);
	if (a->p.dry_run) {
		next_target(a, acts, n);
		return 0;
	}
	send_mouse(a, acts, n, "mouseMoved", S_MOVE);
	return 0;
}

static int
send_point(struct agent *a, struct agent_act *acts, int *n, struct err *e)
{
	struct api_request r;
	size_t len;
	char *m;

	memset(&r, 0, sizeof(r));
	r.type = API_POINT;
	snprintf(a->req_id, sizeof(a->req_id), "q%d", a->target + 1);
	snprintf(r.id, sizeof(r.id), "%s", a->req_id);
	snprintf(r.frame, sizeof(r.frame), "%s", a->frame_id);
	r.text = (char *)(uintptr_t)a->p.targets[a->target];
	r.max_points = 1;
	m = api_encode_request(a->p.pre, &r, &len);
	if (m == NULL)
		return err_set(e, "cannot encode point request");
	push(acts, n, AGENT_ACT_POINTD, m, len);
	a->state = S_POINT;
	return 0;
}

static int
on_pointd(struct agent *a, const struct agent_ev *ev, struct agent_act *acts,
          int *n, struct err *e)
{
	struct reply r;
	int rc = 0;

	if (reply_decode(&r, ev->msg, ev->len, e) == -1) {
		reply_fini(&r);
		return -1;
	}
	if (r.type == REPLY_ERROR) {
		rc = err_set(e, "pointd: %s: %s", r.code,
		             r.message != NULL ? r.message : "");
		goto out;
	}
	switch (a->state) {
	case S_HELLO:
		if (r.type == REPLY_READY) {
			a->got_ready = true;
			if (a->got_dpr)
				take_screenshot(a, acts, n);
		}
		break;
	case S_FRAME:
		if (r.type == REPLY_FRAME && r.id != NULL &&
		    strcmp(r.id, a->frame_id) == 0) {
			a->width = r.width;
			a->height = r.height;
			rc = send_point(a, acts, n, e);
		}
		break;
	case S_POINT:
		if (r.type == REPLY_POINTS && r.id != NULL &&
		    strcmp(r.id, a->req_id) == 0)
			rc = on_points(a, &r, acts, n, e);
		break;
	default:
		break;
	}
out:
	reply_fini(&r);
	return rc;
}

int
agent_step(struct agent *a, const struct agent_ev *ev, struct agent_act *acts,
           int *n_acts, struct err *e)
{
	int rc = 0;

	*n_acts = 0;
	if (a->state == S_DONE)
		return 0;
	switch (ev->type) {
	case AGENT_EV_START:
		rc = a->state == S_START ? on_start(a, acts, n_acts, e)
		                         : err_set(e, "started twice");
		break;
	case AGENT_EV_CDP:
		rc = on_cdp(a, ev, acts, n_acts, e);
		break;
	case AGENT_EV_POINTD:
		rc = on_pointd(a, ev, acts, n_acts, e);
		break;
	case AGENT_EV_TIMEOUT:
		rc = err_set(e, "timed out waiting for %s",
		             a->state == S_FRAME || a->state == S_POINT ||
		                     a->state == S_HELLO
		                 ? "pointd"
		                 : "Chromium");
		break;
	}
	if (rc == -1) {
		int i;

		for (i = 0; i < *n_acts; i++)
			agent_act_fini(&acts[i]);
		*n_acts = 0;
		done(a, acts, n_acts, 1);
	}
	return rc;
}
