/* SPDX-License-Identifier: ISC */
/*
 * reply.c: decoding pointd's messages on the client side.  Each message is
 * parsed with jansson, copied into a struct reply, and the json_t released
 * in the same function.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol/reply.h"
#include "util/xmalloc.h"

/* clang-format off */
static const struct {
	const char *name;
	enum reply_type type;
} types[] = {
	{ "ready", REPLY_READY },
	{ "frame", REPLY_FRAME },
	{ "points", REPLY_POINTS },
	{ "answer", REPLY_ANSWER },
	{ "error", REPLY_ERROR },
	{ "bye", REPLY_BYE },
};
/* clang-format on */

/* A copy of the string member key of o, or NULL if absent or not a string. */
static char *
dup_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static int
get_num(json_t *o, const char *key, double *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return 0;
}

static int
decode_points(struct reply *r, json_t *arr, struct err *e)
{
	size_t i, n;
	json_t *p;

	if (!json_is_array(arr))
		return err_set(e, "\"points\" is not an array");
	n = json_array_size(arr);
	if (n > 65536)
		return err_set(e, "%zu points is too many", n);
	r->points = xcalloc(n, sizeof(*r->points));
	r->n_points = n;
	for (i = 0; i < n; i++) {
		struct reply_point *q = &r->points[i];

		p = json_array_get(arr, i);
		if (!json_is_object(p) || get_num(p, "x", &q->x) == -1 ||
		    get_num(p, "y", &q->y) == -1)
			return err_set(e, "point %zu lacks numeric x and y", i);
		if (get_num(p, "css_x", &q->css_x) == -1)
			q->css_x = q->x / (r->dpr > 0 ? r->dpr : 1);
		if (get_num(p, "css_y", &q->css_y) == -1)
			q->css_y = q->y / (r->dpr > 0 ? r->dpr : 1);
		q->label = dup_str(p, "label");
	}
	return 0;
}

static int
decode_obj(struct reply *r, json_t *o, struct err *e)
{
	const char *type;
	json_t *v, *img;
	double d;
	size_t i;

	type = json_string_value(json_object_get(o, "type"));
	if (type == NULL)
		return err_set(e, "message has no \"type\"");
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, type) == 0)
			break;
	if (i == sizeof(types) / sizeof(types[0]))
		return err_set(e, "unknown message type \"%.40s\"", type);
	r->type = types[i].type;
	r->id = dup_str(o, "id");
	switch (r->type) {
	case REPLY_READY:
		r->session = dup_str(o, "session");
		break;
	case REPLY_FRAME:
		if (get_num(o, "width", &d) == -1)
			return err_set(e, "frame reply lacks width");
		r->width = (int)d;
		if (get_num(o, "height", &d) == -1)
			return err_set(e, "frame reply lacks height");
		r->height = (int)d;
		break;
	case REPLY_POINTS:
	case REPLY_ANSWER:
		r->dpr = 1;
		img = json_object_get(o, "image");
		if (json_is_object(img)) {
			if (get_num(img, "width", &d) == 0)
				r->width = (int)d;
			if (get_num(img, "height", &d) == 0)
				r->height = (int)d;
			if (get_num(img, "dpr", &d) == 0 && d > 0)
				r->dpr = d;
		}
		v = json_object_get(o, "none");
		r->none = json_is_true(v);
		r->text = dup_str(o, r->type == REPLY_POINTS ? "raw" : "text");
		v = json_object_get(o, "points");
		if (v == NULL && r->type == REPLY_ANSWER)
			break;
		if (decode_points(r, v, e) == -1)
			return -1;
		break;
	case REPLY_ERROR:
		r->code = dup_str(o, "code");
		r->message = dup_str(o, "message");
		if (r->code == NULL)
			return err_set(e, "error reply lacks a code");
		r->retry_after_ms = -1;
		if (get_num(o, "retry_after_ms", &d) == 0)
			r->retry_after_ms = (long long)d;
		break;
	case REPLY_BYE:
		break;
	}
	return 0;
}

int
reply_decode(struct reply *r, const void *msg, size_t len, struct err *e)
{
	json_error_t jerr;
	json_t *o;
	int rc;

	memset(r, 0, sizeof(*r));
	r->retry_after_ms = -1;
	o = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return err_set(e, "bad JSON at line %d column %d: %s",
		               jerr.line, jerr.column, jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(e, "message is not a JSON object");
	}
	rc = decode_obj(r, o, e);
	json_decref(o);
	return rc;
}

void
reply_fini(struct reply *r)
{
	size_t i;

	for (i = 0; i < r->n_points; i++)
		free(r->points[i].label);
	free(r->points);
	free(r->id);
	free(r->session);
	free(r->text);
	free(r->code);
	free(r->message);
	memset(r, 0, sizeof(*r));
}
