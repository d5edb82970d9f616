/* SPDX-License-Identifier: ISC */
/*
 * cdp.c: building and parsing Chrome DevTools Protocol messages with
 * jansson.  Every json_t is released in the function that made it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/cdp.h"
#include "util/xmalloc.h"

/* Serialise {"id":id,"method":method,"params":params} (params stolen). */
static char *
command(size_t pre, int id, const char *method, json_t *params, size_t *len)
{
	json_t *o;
	size_t n;
	char *p;

	o = json_pack("{s:i,s:s,s:o}", "id", id, "method", method, "params",
	              params);
	if (o == NULL)
		return NULL;
	n = json_dumpb(o, NULL, 0, JSON_COMPACT);
	p = xmalloc(pre + n + 1);
	json_dumpb(o, p + pre, n, JSON_COMPACT);
	p[pre + n] = '\0';
	json_decref(o);
	*len = n;
	return p;
}

char *
cdp_screenshot(size_t pre, int id, size_t *len)
{
	return command(pre, id, "Page.captureScreenshot",
	               json_pack("{s:s}", "format", "png"), len);
}

char *
cdp_eval_dpr(size_t pre, int id, size_t *len)
{
	return command(pre, id, "Runtime.evaluate",
	               json_pack("{s:s,s:b}", "expression",
	                         "window.devicePixelRatio", "returnByValue", 1),
	               len);
}

char *
cdp_mouse(size_t pre, int id, const char *type, double x, double y, size_t *len)
{
	json_t *params;

	params = json_pack("{s:s,s:f,s:f,s:s,s:i,s:i}", "type", type, "x", x,
	                   "y", y, "button", "left", "buttons",
	                   strcmp(type, "mousePressed") == 0 ? 1 : 0,
	                   "clickCount", 1);
	return command(pre, id, "Input.dispatchMouseEvent", params, len);
}

int
cdp_parse(struct cdp_msg *m, const void *msg, size_t len, struct err *e)
{
	json_error_t jerr;
	json_t *o, *v, *res, *inner;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	o = json_loadb(msg, len, 0, &jerr);
	if (o == NULL)
		return err_set(e, "CDP: bad JSON at line %d column %d: %s",
		               jerr.line, jerr.column, jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(e, "CDP: message is not an object");
	}
	v = json_object_get(o, "id");
	if (json_is_integer(v))
		m->id = (int)json_integer_value(v);
	v = json_object_get(o, "method");
	if (json_is_string(v))
		m->method = xstrdup(json_string_value(v));
	if (m->id == 0 && m->method == NULL) {
		rc = err_set(e, "CDP: message has neither id nor method");
		goto out;
	}
	v = json_object_get(o, "error");
	if (json_is_object(v)) {
		const char *s =
		    json_string_value(json_object_get(v, "message"));
		m->error = xstrdup(s != NULL ? s : "unknown error");
	}
	res = json_object_get(o, "result");
	if (json_is_object(res)) {
		v = json_object_get(res, "data");
		if (json_is_string(v))
			m->data = xstrdup(json_string_value(v));
		inner = json_object_get(res, "result");
		v = json_object_get(inner, "value");
		if (json_is_number(v)) {
			m->value = json_number_value(v);
			m->has_value = true;
		}
	}
out:
	json_decref(o);
	return rc;
}

void
cdp_msg_fini(struct cdp_msg *m)
{
	free(m->method);
	free(m->error);
	free(m->data);
	memset(m, 0, sizeof(*m));
}
