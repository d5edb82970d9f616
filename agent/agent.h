/* SPDX-License-Identifier: ISC */
/*
 * agent.h: pointagent's core, a state machine with no I/O.
 *
 * For each target in turn the agent takes a screenshot of the page over
 * CDP, sends it to pointd as a frame, asks pointd to point at the target,
 * and clicks the first point with three mouse events (move, press,
 * release) at CSS coordinates.  The shell (agent/main.c) feeds it events
 * (start, CDP messages, pointd messages, a timeout) and carries out the
 * actions it returns (send to Chromium, send to pointd, report, done), so a
 * scripted sequence of events is a unit test.
 *
 * Ownership: actions own their buffers; the caller frees each with
 * agent_act_fini() after carrying it out.  One thread.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct agent;

struct agent_params {
	const char *const *targets; /* what to click, in order (borrowed) */
	int n_targets;
	const char *token;  /* pointd token, or NULL */
	const char *client; /* "pointagent/VERSION" */
	bool dry_run;       /* report the points but do not click */
	size_t pre;         /* headroom before each message (LWS_PRE) */
};

enum agent_ev_type {
	AGENT_EV_START,   /* both connections are open */
	AGENT_EV_CDP,     /* a text message from Chromium */
	AGENT_EV_POINTD,  /* a text message from pointd */
	AGENT_EV_TIMEOUT, /* nothing arrived in time */
};

struct agent_ev {
	enum agent_ev_type type;
	const char *msg; /* borrowed; CDP and POINTD only */
	size_t len;
};

enum agent_act_type {
	AGENT_ACT_CDP,           /* send msg to Chromium (text) */
	AGENT_ACT_POINTD,        /* send msg to pointd (text) */
	AGENT_ACT_POINTD_BINARY, /* send msg to pointd (binary) */
	AGENT_ACT_REPORT,        /* print msg (a line) on stdout */
	AGENT_ACT_DONE,          /* finished; status is the exit status */
};

struct agent_act {
	enum agent_act_type type;
	char *msg;  /* owned; `pre` bytes of headroom before the payload */
	size_t len; /* payload bytes */
	int status; /* DONE: 0 all targets clicked, 1 otherwise */
};

#define AGENT_MAX_ACTS 4

struct agent *agent_new(const struct agent_params *p);
void agent_free(struct agent *a);

/*
 * Feed one event; fills acts[0..*n_acts) (at most AGENT_MAX_ACTS).  Returns
 * 0, or -1 with e set when the event makes no sense in the current state
 * (the agent then also emits DONE with status 1).
 */
int agent_step(struct agent *a, const struct agent_ev *ev,
               struct agent_act *acts, int *n_acts, struct err *e);

void agent_act_fini(struct agent_act *act);

#endif
