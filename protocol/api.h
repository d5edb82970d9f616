/* SPDX-License-Identifier: ISC */
/*
 * api.h: pointd's protocol v1 messages, bytes <-> structs (pure code: no
 * sockets, no threads, no logging).  pointd(8) decodes client requests with
 * api_decode() and answers with the api_encode_*() functions; clients
 * (pointctl, pointagent, the tests) use api_encode_request() and
 * api_decode_reply().  pointd-protocol(7) documents every message.
 *
 * Two tables drive the code and the documentation checks: api_types[] (one
 * row per message type a client may send) and api_errors[] (one row per
 * stable error code sent to clients).
 *
 * Ownership: a decoded struct api_request owns its strings and image bytes
 * until api_request_fini().  Encoders return a malloc'd buffer that starts
 * with `pre` bytes of headroom (libwebsockets needs LWS_PRE bytes before the
 * payload), followed by compact JSON; *len gets the JSON length without the
 * headroom.  The buffer is also NUL-terminated.  All functions may be called
 * from any thread; none keeps state.
 */
#ifndef PROTOCOL_API_H
#define PROTOCOL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define API_PROTOCOL    1           /* the protocol version in hello */
#define API_SUBPROTOCOL "pointd.v1" /* WebSocket subprotocol name */
#define API_ID_MAX      64          /* bytes in an id, NUL included */
#define API_MAX_POINTS  256         /* most points in one answer */
#define API_DPR_MAX     16.0        /* largest device pixel ratio accepted */
#define API_MAX_CROPS   128         /* most Molmo 2 crops a request may ask */
#define API_BACKEND_MAX 16          /* bytes in a backend name, NUL included */

/* Message types a client may send (rows of api_types[]). */
enum api_type {
	API_HELLO = 0,
	API_FRAME,
	API_POINT,
	API_ASK,
	API_CANCEL,
	API_BYE,
	API_TYPE_COUNT
};

/* Error codes sent to clients; the strings in api_errors[] are stable. */
enum api_error {
	API_ERR_NONE = 0,
	API_ERR_BAD_JSON,     /* not JSON, or not UTF-8 */
	API_ERR_BAD_REQUEST,  /* a field is missing, mistyped or out of range */
	API_ERR_UNKNOWN_TYPE, /* "type" names no request */
	API_ERR_UNAUTHORIZED, /* no hello yet, or a wrong token */
	API_ERR_BAD_IMAGE,    /* the image bytes do not decode */
	API_ERR_IMAGE_TOO_LARGE,   /* over the byte or pixel limit */
	API_ERR_MESSAGE_TOO_LARGE, /* a message over the byte limit */
	API_ERR_UNKNOWN_FRAME,     /* "frame" names no frame of this session */
	API_ERR_BUSY,              /* queue or in-flight limit reached */
	API_ERR_TIMEOUT,           /* the request ran past its time limit */
	API_ERR_CANCELLED,         /* the client cancelled the request */
	API_ERR_SHUTTING_DOWN,     /* the daemon is draining */
	API_ERR_INTERNAL,          /* the daemon or the model failed */
	API_ERR_COUNT
};

/* Image formats of a frame. */
enum api_format {
	API_FMT_NONE = 0,
	API_FMT_PNG,
	API_FMT_JPEG,
};

struct api_type_info {
	const char *name;    /* value of "type" */
	const char *summary; /* one line, for docs and checks */
};

struct api_error_info {
	const char *code;    /* value of "code" */
	const char *summary; /* one line, for docs and checks */
};

extern const struct api_type_info api_types[API_TYPE_COUNT];
extern const struct api_error_info api_errors[API_ERR_COUNT];
/* Values of a request's "backend" field, NULL-terminated: "molmo",
 * "text", "auto". */
extern const char *const api_backends[];

/* "png", "jpeg" or "" for API_FMT_NONE. */
const char *api_format_name(enum api_format f);
/* Stable code string of an error ("bad_json", ...). */
const char *api_error_code(enum api_error err);

/* Limits applied while decoding, in bytes. */
struct api_limits {
	size_t max_text;  /* longest token, client, label, target, prompt */
	size_t max_image; /* largest inline image after base64 decoding */
};

/* A decoded client request.  Fields not used by the type are zero. */
struct api_request {
	enum api_type type;
	char id[API_ID_MAX]; /* client id, "" when absent */
	/* hello */
	int protocol;  /* must be API_PROTOCOL */
	char *token;   /* NULL when absent; a secret: never log it */
	char *client;  /* "name/version", NULL when absent */
	char *session; /* optional label, NULL when absent */
	/* frame */
	enum api_format format;
	double dpr;      /* device pixel ratio, (0, API_DPR_MAX], default 1 */
	uint8_t *data;   /* inline image bytes (malloc'd), or NULL */
	size_t data_len; /* bytes in data */
	bool has_data;   /* "data" was given (data_len may be 0) */
	/* point, ask */
	char frame[API_ID_MAX]; /* the frame's id */
	char *text;             /* point: target; ask: prompt */
	int max_points;         /* point: 1..API_MAX_POINTS, 0 = all */
	int max_crops;          /* point, ask: Molmo 2 crops, 1..API_MAX_CROPS;
	                           0 = pointd's max_crops */
	char backend[API_BACKEND_MAX]; /* point, ask: one of api_backends[],
	                                  "" = the daemon's default */
};

/*
 * Decode one client message of len bytes (not NUL-terminated).  Returns 0,
 * or -1 with *code set to the error to send and e naming the problem in
 * one sentence.  Even on failure r->id holds the request's id when one
 * could be read, so the error can echo it; call api_request_fini() in
 * both cases.  Unknown fields are ignored.
 */
int api_decode(struct api_request *r, const void *msg, size_t len,
               const struct api_limits *lim, enum api_error *code,
               struct err *e);

/*
 * Decode the JSON body of a one-shot HTTP POST /v1/point:
 * {"image":"<base64>","format":"png","target":"...","dpr":2,"max_points":1}.
 * The result is an API_POINT request whose data holds the image.  Same
 * returns as api_decode().
 */
int api_decode_oneshot(struct api_request *r, const void *body, size_t len,
                       const struct api_limits *lim, enum api_error *code,
                       struct err *e);

/* Free what r owns and zero it. */
void api_request_fini(struct api_request *r);

/* ---- Replies (daemon side) ---- */

/* A point in pixels of the submitted image. */
struct api_point {
	double x, y;
	const char *label; /* borrowed; NULL for none */
};

/* What a text answer matched for one point (borrowed). */
struct api_match {
	const char *text; /* the words matched; NULL omits the fields */
	double score;     /* match score, 0..1 */
};

/* Per-stage times of one request, in milliseconds. */
struct api_timing {
	double queue, preprocess, vision, prefill, decode, total;
};

/* The answer to a point or ask request (all pointers borrowed). */
struct api_result {
	const char *id;    /* request id */
	const char *frame; /* frame id, NULL for a one-shot request */
	int width, height; /* image size in pixels */
	double dpr;        /* device pixel ratio of the frame */
	const struct api_point *points;
	size_t n_points;
	bool none;         /* the model said the target is absent */
	const char *raw;   /* the model's text */
	const char *model; /* model name */
	struct api_timing timing;
	const struct api_match *matches; /* n_points entries, or NULL */
	const char *source; /* "text" or "molmo"; NULL omits the field */
	const char *note;   /* for people; NULL or "" omits the field */
};

/* What a ready message tells the client (all pointers borrowed). */
struct api_ready {
	const char *session; /* session id given by the daemon */
	const char *model;   /* model name */
	const char *backend; /* backend name */
	long long max_message_bytes, max_image_bytes, max_pixels;
	long long max_inflight, max_frames, request_timeout_ms, idle_timeout_s;
};

char *api_encode_ready(size_t pre, const struct api_ready *rd, size_t *len);
/* {"type":"frame","id","width","height","sha256"}; sha256 is 64 hex digits. */
char *api_encode_frame(size_t pre, const char *id, int width, int height,
                       const char *sha256, size_t *len);
/* {"type":"points",...}; nx, ny and css_* are computed here; "none" is
 * res->none (always false when there are points). */
char *api_encode_points(size_t pre, const struct api_result *res, size_t *len);
/* {"type":"answer","id","text","points",...}. */
char *api_encode_answer(size_t pre, const struct api_result *res, size_t *len);
/*
 * {"type":"error","id":id or null,"code","message"}; retry_after_ms is
 * added when >= 0 (used with API_ERR_BUSY).
 */
char *api_encode_error(size_t pre, const char *id, enum api_error err,
                       const char *message, long long retry_after_ms,
                       size_t *len);
/* {"type":"bye"}: the daemon's answer to bye, before it closes. */
char *api_encode_bye(size_t pre, size_t *len);

/* ---- Requests (client side) ---- */

/*
 * Encode r as a client message (the inverse of api_decode).  For a frame
 * with has_data set the image goes inline as base64; otherwise the caller
 * sends it as the next binary message.  Returns NULL if r is not valid.
 */
char *api_encode_request(size_t pre, const struct api_request *r, size_t *len);

#endif
