/* SPDX-License-Identifier: ISC */
/*
 * cdp.h: the few Chrome DevTools Protocol messages pointagent uses, built
 * and parsed as plain data (pure: no sockets).  Commands are JSON objects
 * {"id":N,"method":"...","params":{...}}; replies carry the same id with a
 * "result" or an "error"; events carry a "method" and no id.
 *
 * Builders return a malloc'd buffer with `pre` bytes of headroom (lws needs
 * LWS_PRE) before the JSON text; *len is the JSON length.  Any thread.
 */
#ifndef AGENT_CDP_H
#define AGENT_CDP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Page.captureScreenshot as PNG of the visible viewport. */
char *cdp_screenshot(size_t pre, int id, size_t *len);
/* Runtime.evaluate of window.devicePixelRatio, returned by value. */
char *cdp_eval_dpr(size_t pre, int id, size_t *len);
/* Input.dispatchMouseEvent: type is "mouseMoved", "mousePressed" or
 * "mouseReleased"; x, y in CSS pixels of the viewport; left button. */
char *cdp_mouse(size_t pre, int id, const char *type, double x, double y,
                size_t *len);

/* A parsed CDP message. */
struct cdp_msg {
	int id;       /* command id of a reply; 0 for an event */
	char *method; /* event name, NULL for a reply */
	char *error;  /* the error's message when the command failed */
	char *data;   /* result.data (screenshots, base64), or NULL */
	double value; /* result.result.value when it is a number */
	bool has_value;
};

/* Parse one message.  Returns 0, or -1 with e set; call cdp_msg_fini()
 * in both cases. */
int cdp_parse(struct cdp_msg *m, const void *msg, size_t len, struct err *e);
void cdp_msg_fini(struct cdp_msg *m);

#endif
