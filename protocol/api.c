/* SPDX-License-Identifier: ISC */
/*
 * api.c: protocol v1 message decoding and encoding with jansson.
 *
 * Decoding parses with JSON_REJECT_DUPLICATES (jansson also rejects
 * invalid UTF-8 and NUL characters), copies the fields into a struct
 * api_request, and drops the json_t before returning, so no JSON tree ever
 * leaves this file.  Every string and inline image meets a limit before it
 * is copied.  Encoding builds a json_t and dumps it once with json_dumpb()
 * straight after the caller's headroom.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol/api.h"
#include "util/b64.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* clang-format off */
const struct api_type_info api_types[API_TYPE_COUNT] = {
	[API_HELLO]  = { "hello",  "open the session: protocol, token, client, session label" },
	[API_FRAME]  = { "frame",  "submit a screenshot (next binary message, or inline base64 data)" },
	[API_POINT]  = { "point",  "find a target on a frame; answered by points" },
	[API_ASK]    = { "ask",    "ask a free-form question about a frame; answered by answer" },
	[API_CANCEL] = { "cancel", "cancel the request with the given id" },
	[API_BYE]    = { "bye",    "close the session after in-flight answers" },
};

const struct api_error_info api_errors[API_ERR_COUNT] = {
	[API_ERR_NONE]              = { "none",              "no error (never sent)" },
	[API_ERR_BAD_JSON]          = { "bad_json",          "the message is not valid UTF-8 JSON" },
	[API_ERR_BAD_REQUEST]       = { "bad_request",       "a field is missing, of the wrong type or out of range" },
	[API_ERR_UNKNOWN_TYPE]      = { "unknown_type",      "the type names no request" },
	[API_ERR_UNAUTHORIZED]      = { "unauthorized",      "no successful hello yet, or a wrong token" },
	[API_ERR_BAD_IMAGE]         = { "bad_image",         "the image bytes are empty, truncated or not PNG/JPEG" },
	[API_ERR_IMAGE_TOO_LARGE]   = { "image_too_large",   "the image exceeds the byte or pixel limit" },
	[API_ERR_MESSAGE_TOO_LARGE] = { "message_too_large", "the message exceeds the byte limit" },
	[API_ERR_UNKNOWN_FRAME]     = { "unknown_frame",     "the frame id names no frame of this session" },
	[API_ERR_BUSY]              = { "busy",              "the queue or the session's in-flight limit is full" },
	[API_ERR_TIMEOUT]           = { "timeout",           "the request ran past the time limit" },
	[API_ERR_CANCELLED]         = { "cancelled",         "the request was cancelled" },
	[API_ERR_SHUTTING_DOWN]     = { "shutting_down",     "the daemon is draining and takes no new requests" },
	[API_ERR_INTERNAL]          = { "internal",          "the daemon or the model failed" },
};

const char *const api_backends[] = {"molmo", "text", "auto", NULL};
/* clang-format on */

const char *
api_format_name(enum api_format f)
{
	switch (f) {
	case API_FMT_PNG:
		return "png";
	case API_FMT_JPEG:
		return "jpeg";
	default:
		return "";
	}
}

const char *
api_error_code(enum api_error err)
{
	if ((int)err < 0 || err >= API_ERR_COUNT)
		return "internal";
	return api_errors[err].code;
}

/* ---- Decoding ---- */

void
api_request_fini(struct api_request *r)
{
	if (r == NULL)
		return;
	free(r->token);
	free(r->client);
	free(r->session);
	free(r->data);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* Decoding state: where errors go and the limits. */
struct dec {
	const struct api_limits *lim;
	enum api_error *code;
	struct err *e;
};

/* Record error c with a one-sentence message; returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct dec *d, enum api_error c, const char *fmt, ...)
{
	va_list ap;

	*d->code = c;
	if (d->e != NULL) {
		va_start(ap, fmt);
		vsnprintf(d->e->msg, sizeof(d->e->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Look up the string field name of o: returns 1 with it in *v, 0 when it
 * is absent or null (an error when required), -1 when it is not a string
 * ("must be a <what>").
 */
static int
get_string(struct dec *d, json_t *o, const char *name, bool required,
           const char *what, json_t **v)
{
	*v = json_object_get(o, name);
	if (*v == NULL || json_is_null(*v)) {
		if (required)
			return fail(d, API_ERR_BAD_REQUEST,
			            "field \"%s\" is required", name);
		return 0;
	}
	if (!json_is_string(*v))
		return fail(d, API_ERR_BAD_REQUEST, "field \"%s\" must be a %s",
		            name, what);
	return 1;
}

/*
 * Copy the optional string field name into a new string (*out, NULL when
 * absent).  Longer than max bytes or not a string is an error.
 */
static int
get_str(struct dec *d, json_t *o, const char *name, size_t max, char **out,
        bool required)
{
	json_t *v;
	int rc;

	*out = NULL;
	if ((rc = get_string(d, o, name, required, "string", &v)) <= 0)
		return rc;
	if (json_string_length(v) > max)
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"%s\" is longer than %zu bytes", name, max);
	*out = xstrndup(json_string_value(v), json_string_length(v));
	return 0;
}

/* Copy an id-like string field (1..API_ID_MAX-1 bytes) into dst. */
static int
get_id(struct dec *d, json_t *o, const char *name, char dst[API_ID_MAX],
       bool required)
{
	json_t *v;
	size_t n;
	int rc;

	dst[0] = '\0';
	if ((rc = get_string(d, o, name, required, "string", &v)) <= 0)
		return rc;
	n = json_string_length(v);
	if (n == 0 || n >= API_ID_MAX)
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"%s\" must be 1 to %d bytes", name,
		            API_ID_MAX - 1);
	if (memchr(json_string_value(v), '\0', n) != NULL)
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"%s\" contains a NUL character", name);
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

/* Read an optional integer field in [min, max]; *out keeps its default
 * when the field is absent. */
static int
get_int(struct dec *d, json_t *o, const char *name, long long min,
        long long max, int *out)
{
	json_t *v = json_object_get(o, name);
	long long x;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"%s\" must be an integer", name);
	x = json_integer_value(v);
	if (x < min || x > max)
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"%s\" must be between %lld and %lld", name,
		            min, max);
	*out = (int)x;
	return 0;
}

/* Read the optional "dpr" (default 1). */
static int
get_dpr(struct dec *d, json_t *o, double *out)
{
	json_t *v = json_object_get(o, "dpr");
	double x;

	*out = 1.0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"dpr\" must be a number");
	x = json_number_value(v);
	if (!isfinite(x) || x <= 0.0 || x > API_DPR_MAX)
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"dpr\" must be above 0 and at most %g",
		            API_DPR_MAX);
	*out = x;
	return 0;
}

/* Read the optional "backend" field into dst ("" when absent). */
static int
get_backend(struct dec *d, json_t *o, char dst[API_BACKEND_MAX])
{
	json_t *v = json_object_get(o, "backend");
	int i;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		for (i = 0; api_backends[i] != NULL; i++)
			if (strcmp(json_string_value(v), api_backends[i]) ==
			    0) {
				str_copy(dst, api_backends[i], API_BACKEND_MAX);
				return 0;
			}
	return fail(d, API_ERR_BAD_REQUEST,
	            "field \"backend\" must be \"molmo\", \"text\" or "
	            "\"auto\"");
}

/* Read the image format field (required unless optional is set). */
static int
get_format(struct dec *d, json_t *o, enum api_format *out, bool required)
{
	json_t *v;
	const char *s;
	int rc;

	*out = API_FMT_NONE;
	if ((rc = get_string(d, o, "format", required, "string", &v)) <= 0)
		return rc;
	s = json_string_value(v);
	if (strcmp(s, "png") == 0)
		*out = API_FMT_PNG;
	else if (strcmp(s, "jpeg") == 0 || strcmp(s, "jpg") == 0)
		*out = API_FMT_JPEG;
	else
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"format\" must be \"png\" or \"jpeg\"");
	return 0;
}

/* Decode the base64 field name into r->data (checked against max_image). */
static int
get_data(struct dec *d, json_t *o, const char *name, struct api_request *r,
         bool required)
{
	json_t *v;
	size_t n, max;
	ssize_t got;
	int rc;

	if ((rc = get_string(d, o, name, required, "base64 string", &v)) <= 0)
		return rc;
	n = json_string_length(v);
	max = b64_decoded_max(n);
	if (max > d->lim->max_image + 2)
		return fail(d, API_ERR_IMAGE_TOO_LARGE,
		            "the inline image is larger than %zu bytes",
		            d->lim->max_image);
	r->data = malloc(max + 1);
	if (r->data == NULL)
		return fail(d, API_ERR_INTERNAL, "out of memory");
	got = b64_decode(r->data, max, json_string_value(v), n);
	if (got < 0)
		return fail(d, API_ERR_BAD_REQUEST,
		            "field \"%s\" is not valid base64", name);
	if ((size_t)got > d->lim->max_image)
		return fail(d, API_ERR_IMAGE_TOO_LARGE,
		            "the inline image is larger than %zu bytes",
		            d->lim->max_image);
	r->data_len = (size_t)got;
	r->has_data = true;
	return 0;
}

/* Parse len bytes as one JSON object. */
static json_t *
parse(struct dec *d, const void *msg, size_t len)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		fail(d, API_ERR_BAD_JSON,
		     "invalid JSON at line %d column %d: %s", jerr.line,
		     jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		fail(d, API_ERR_BAD_REQUEST,
		     "the message must be a JSON object");
		return NULL;
	}
	return root;
}

/* Fields of each request type after "type" and "id". */
static int
decode_fields(struct dec *d, json_t *o, struct api_request *r)
{
	size_t max = d->lim->max_text;

	switch (r->type) {
	case API_HELLO:
		r->protocol = 0;
		if (json_object_get(o, "protocol") == NULL)
			return fail(d, API_ERR_BAD_REQUEST,
			            "field \"protocol\" is required");
		if (get_int(d, o, "protocol", 0, 1000000, &r->protocol) == -1)
			return -1;
		if (r->protocol != API_PROTOCOL)
			return fail(d, API_ERR_BAD_REQUEST,
			            "protocol %d is not supported (this daemon "
			            "speaks %d)",
			            r->protocol, API_PROTOCOL);
		if (get_str(d, o, "token", max, &r->token, false) == -1 ||
		    get_str(d, o, "client", max, &r->client, false) == -1 ||
		    get_str(d, o, "session", max, &r->session, false) == -1)
			return -1;
		return 0;
	case API_FRAME:
		if (r->id[0] == '\0')
			return fail(d, API_ERR_BAD_REQUEST,
			            "field \"id\" is required");
		if (get_format(d, o, &r->format, true) == -1 ||
		    get_dpr(d, o, &r->dpr) == -1 ||
		    get_data(d, o, "data", r, false) == -1)
			return -1;
		return 0;
	case API_POINT:
	case API_ASK:
		if (r->id[0] == '\0')
			return fail(d, API_ERR_BAD_REQUEST,
			            "field \"id\" is required");
		if (get_id(d, o, "frame", r->frame, true) == -1)
			return -1;
		if (get_str(d, o, r->type == API_POINT ? "target" : "prompt",
		            max, &r->text, true) == -1)
			return -1;
		if (r->text[0] == '\0')
			return fail(d, API_ERR_BAD_REQUEST,
			            "field \"%s\" is empty",
			            r->type == API_POINT ? "target" : "prompt");
		if (get_backend(d, o, r->backend) == -1 ||
		    get_int(d, o, "max_crops", 0, API_MAX_CROPS,
		            &r->max_crops) == -1)
			return -1;
		return get_int(d, o, "max_points", 0, API_MAX_POINTS,
		               &r->max_points);
	case API_CANCEL:
		if (r->id[0] == '\0')
			return fail(d, API_ERR_BAD_REQUEST,
			            "field \"id\" is required");
		return 0;
	case API_BYE:
		return 0;
	default:
		break;
	}
	return fail(d, API_ERR_INTERNAL, "unhandled message type");
}

int
api_decode(struct api_request *r, const void *msg, size_t len,
           const struct api_limits *lim, enum api_error *code, struct err *e)
{
	struct dec d = {lim, code, e};
	json_t *o, *t;
	const char *type;
	int i, rc = -1;

	memset(r, 0, sizeof(*r));
	r->dpr = 1.0;
	*code = API_ERR_NONE;
	o = parse(&d, msg, len);
	if (o == NULL)
		return -1;
	/* The id first, so that any later error can echo it. */
	if (get_id(&d, o, "id", r->id, false) == -1) {
		r->id[0] = '\0';
		goto out;
	}
	t = json_object_get(o, "type");
	if (t == NULL || !json_is_string(t)) {
		fail(&d, API_ERR_BAD_REQUEST,
		     "field \"type\" is required and must be a string");
		goto out;
	}
	type = json_string_value(t);
	for (i = 0; i < API_TYPE_COUNT; i++)
		if (strcmp(type, api_types[i].name) == 0)
			break;
	if (i == API_TYPE_COUNT) {
		fail(&d, API_ERR_UNKNOWN_TYPE, "unknown message type");
		goto out;
	}
	r->type = (enum api_type)i;
	rc = decode_fields(&d, o, r);
out:
	json_decref(o);
	return rc;
}

int
api_decode_oneshot(struct api_request *r, const void *body, size_t len,
                   const struct api_limits *lim, enum api_error *code,
                   struct err *e)
{
	struct dec d = {lim, code, e};
	json_t *o;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->type = API_POINT;
	r->dpr = 1.0;
	*code = API_ERR_NONE;
	o = parse(&d, body, len);
	if (o == NULL)
		return -1;
	if (get_id(&d, o, "id", r->id, false) == -1)
		goto out;
	if (r->id[0] == '\0')
		str_copy(r->id, "http", sizeof(r->id));
	if (get_format(&d, o, &r->format, false) == -1 ||
	    get_dpr(&d, o, &r->dpr) == -1 ||
	    get_data(&d, o, "image", r, true) == -1 ||
	    get_str(&d, o, "target", lim->max_text, &r->text, true) == -1 ||
	    get_int(&d, o, "max_points", 0, API_MAX_POINTS, &r->max_points) ==
	        -1 ||
	    get_int(&d, o, "max_crops", 0, API_MAX_CROPS, &r->max_crops) ==
	        -1 ||
	    get_backend(&d, o, r->backend) == -1)
		goto out;
	if (r->text[0] == '\0') {
		fail(&d, API_ERR_BAD_REQUEST, "field \"target\" is empty");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* ---- Encoding ---- */

/* Compact, and reals with 10 significant digits (6.77, not 6.7699...). */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

/* Dump o (stolen) after pre bytes of headroom. */
static char *
dump(size_t pre, json_t *o, size_t *len)
{
	size_t n, total;
	char *p;

	n = json_dumpb(o, NULL, 0, DUMP_FLAGS);
	if (n == 0 || __builtin_add_overflow(pre, n + 1, &total)) {
		json_decref(o);
		return NULL;
	}
	p = xmalloc(total);
	memset(p, 0, pre);
	json_dumpb(o, p + pre, n, DUMP_FLAGS);
	p[pre + n] = '\0';
	json_decref(o);
	if (len != NULL)
		*len = n;
	return p;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int c = s[0], cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * A JSON string of s, with each byte that is not part of valid UTF-8
 * replaced by U+FFFD: model output may stop inside a character.
 */
static json_t *
text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n, len = strlen(s);
	json_t *j;
	char *t;

	j = json_string(s);
	if (j != NULL)
		return j;
	t = xmalloc(len * 3 + 1);
	while (i < len) {
		n = utf8_len(p + i);
		if (n == 0) {
			memcpy(t + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(t + o, p + i, n);
		o += n;
		i += n;
	}
	t[o] = '\0';
	j = json_string(t);
	free(t);
	return j != NULL ? j : json_string("");
}

/* A JSON string, or null for NULL. */
static json_t *
str_or_null(const char *s)
{
	return s == NULL ? json_null() : text(s);
}

/* Round to 4 decimals (normalised) or 2 (pixels) so replies stay short. */
static json_t *
num(double x, double scale)
{
	return json_real(round(x * scale) / scale);
}

char *
api_encode_ready(size_t pre, const struct api_ready *rd, size_t *len)
{
	json_t *o = json_object(), *m = json_object(), *l = json_object();

	json_object_set_new(o, "type", json_string("ready"));
	json_object_set_new(o, "session", str_or_null(rd->session));
	json_object_set_new(o, "protocol", json_integer(API_PROTOCOL));
	json_object_set_new(m, "name", str_or_null(rd->model));
	json_object_set_new(m, "backend", str_or_null(rd->backend));
	json_object_set_new(o, "model", m);
	json_object_set_new(l, "max_message_bytes",
	                    json_integer(rd->max_message_bytes));
	json_object_set_new(l, "max_image_bytes",
	                    json_integer(rd->max_image_bytes));
	json_object_set_new(l, "max_pixels", json_integer(rd->max_pixels));
	json_object_set_new(l, "max_inflight", json_integer(rd->max_inflight));
	json_object_set_new(l, "max_frames", json_integer(rd->max_frames));
	json_object_set_new(l, "request_timeout_ms",
	                    json_integer(rd->request_timeout_ms));
	json_object_set_new(l, "idle_timeout_s",
	                    json_integer(rd->idle_timeout_s));
	json_object_set_new(o, "limits", l);
	return dump(pre, o, len);
}

char *
api_encode_frame(size_t pre, const char *id, int width, int height,
                 const char *sha256, size_t *len)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string("frame"));
	json_object_set_new(o, "id", str_or_null(id));
	json_object_set_new(o, "width", json_integer(width));
	json_object_set_new(o, "height", json_integer(height));
	json_object_set_new(o, "sha256", str_or_null(sha256));
	return dump(pre, o, len);
}

/* The "points" array of res. */
static json_t *
points_array(const struct api_result *res)
{
	json_t *a = json_array();
	double dpr = res->dpr > 0 ? res->dpr : 1.0;
	size_t i;

	for (i = 0; i < res->n_points; i++) {
		const struct api_point *p = &res->points[i];
		json_t *o = json_object();

		json_object_set_new(o, "x", num(p->x, 100));
		json_object_set_new(o, "y", num(p->y, 100));
		json_object_set_new(
		    o, "nx",
		    num(res->width > 0 ? p->x / res->width : 0, 10000));
		json_object_set_new(
		    o, "ny",
		    num(res->height > 0 ? p->y / res->height : 0, 10000));
		json_object_set_new(o, "css_x", num(p->x / dpr, 100));
		json_object_set_new(o, "css_y", num(p->y / dpr, 100));
		json_object_set_new(o, "label",
		                    text(p->label != NULL ? p->label : ""));
		if (res->matches != NULL && res->matches[i].text != NULL) {
			json_object_set_new(o, "matched",
			                    text(res->matches[i].text));
			json_object_set_new(o, "score",
			                    num(res->matches[i].score, 1000));
		}
		json_array_append_new(a, o);
	}
	return a;
}

/* Fields shared by points and answer. */
static void
result_fields(json_t *o, const struct api_result *res)
{
	json_t *img = json_object(), *t = json_object();

	json_object_set_new(o, "id", str_or_null(res->id));
	json_object_set_new(o, "frame", str_or_null(res->frame));
	json_object_set_new(img, "width", json_integer(res->width));
	json_object_set_new(img, "height", json_integer(res->height));
	json_object_set_new(img, "dpr", json_real(res->dpr));
	json_object_set_new(o, "image", img);
	json_object_set_new(o, "points", points_array(res));
	json_object_set_new(o, "none",
	                    json_boolean(res->none && res->n_points == 0));
	json_object_set_new(o, "raw", text(res->raw != NULL ? res->raw : ""));
	json_object_set_new(o, "model", str_or_null(res->model));
	if (res->source != NULL)
		json_object_set_new(o, "source", text(res->source));
	if (res->note != NULL && res->note[0] != '\0')
		json_object_set_new(o, "note", text(res->note));
	json_object_set_new(t, "queue", num(res->timing.queue, 100));
	json_object_set_new(t, "preprocess", num(res->timing.preprocess, 100));
	json_object_set_new(t, "vision", num(res->timing.vision, 100));
	json_object_set_new(t, "prefill", num(res->timing.prefill, 100));
	json_object_set_new(t, "decode", num(res->timing.decode, 100));
	json_object_set_new(t, "total", num(res->timing.total, 100));
	json_object_set_new(o, "timing_ms", t);
}

char *
api_encode_points(size_t pre, const struct api_result *res, size_t *len)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string("points"));
	result_fields(o, res);
	return dump(pre, o, len);
}

char *
api_encode_answer(size_t pre, const struct api_result *res, size_t *len)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string("answer"));
	result_fields(o, res);
	json_object_set_new(o, "text", text(res->raw != NULL ? res->raw : ""));
	return dump(pre, o, len);
}

char *
api_encode_error(size_t pre, const char *id, enum api_error err,
                 const char *message, long long retry_after_ms, size_t *len)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string("error"));
	json_object_set_new(o, "id",
	                    id != NULL && id[0] != '\0' ? json_string(id)
	                                                : json_null());
	json_object_set_new(o, "code", json_string(api_error_code(err)));
	json_object_set_new(
	    o, "message",
	    json_string(message != NULL ? message : api_errors[err].summary));
	if (retry_after_ms >= 0)
		json_object_set_new(o, "retry_after_ms",
		                    json_integer(retry_after_ms));
	return dump(pre, o, len);
}

char *
api_encode_bye(size_t pre, size_t *len)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string("bye"));
	return dump(pre, o, len);
}

char *
api_encode_request(size_t pre, const struct api_request *r, size_t *len)
{
	json_t *o;
	char *b64;

	if ((int)r->type < 0 || r->type >= API_TYPE_COUNT)
		return NULL;
	o = json_object();
	json_object_set_new(o, "type", json_string(api_types[r->type].name));
	if (r->id[0] != '\0')
		json_object_set_new(o, "id", json_string(r->id));
	switch (r->type) {
	case API_HELLO:
		json_object_set_new(o, "protocol", json_integer(API_PROTOCOL));
		if (r->token != NULL)
			json_object_set_new(o, "token", json_string(r->token));
		if (r->client != NULL)
			json_object_set_new(o, "client",
			                    json_string(r->client));
		if (r->session != NULL)
			json_object_set_new(o, "session",
			                    json_string(r->session));
		break;
	case API_FRAME:
		json_object_set_new(o, "format",
		                    json_string(api_format_name(r->format)));
		json_object_set_new(o, "dpr",
		                    json_real(r->dpr > 0 ? r->dpr : 1));
		if (r->has_data) {
			b64 = xmalloc(b64_encoded_len(r->data_len) + 1);
			b64_encode(b64, r->data, r->data_len);
			json_object_set_new(o, "data", json_string(b64));
			free(b64);
		}
		break;
	case API_POINT:
	case API_ASK:
		json_object_set_new(o, "frame", json_string(r->frame));
		json_object_set_new(
		    o, r->type == API_POINT ? "target" : "prompt",
		    json_string(r->text != NULL ? r->text : ""));
		if (r->max_points > 0)
			json_object_set_new(o, "max_points",
			                    json_integer(r->max_points));
		if (r->max_crops > 0)
			json_object_set_new(o, "max_crops",
			                    json_integer(r->max_crops));
		if (r->backend[0] != '\0')
			json_object_set_new(o, "backend",
			                    json_string(r->backend));
		break;
	default:
		break;
	}
	return dump(pre, o, len);
}
