/* SPDX-License-Identifier: ISC */
/*
 * session.c: one client session on the lws service thread: gathering
 * messages, the hello handshake, frames, requests and replies.
 *
 * Everything here runs on the service thread and never blocks: frames are
 * only probed (image_probe reads the header) and hashed; decoding and
 * inference happen on the inference thread.  Incoming messages are
 * gathered in a capped buf; a message over the limit is dropped as it
 * arrives and answered with one error when its last fragment comes, so
 * memory stays bounded whatever the client sends.  A bad message gets an
 * error and the session goes on.
 *
 * Output is a list of messages with LWS_PRE headroom, sent one per
 * WRITEABLE callback.  A client that stops reading fills that list; past
 * SESSION_OUT_MAX bytes the session is closed.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "daemon/server.h"
#include "daemon/writer.h"
#include "image/image.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define SESSION_OUT_MAX (8u << 20) /* queued reply bytes before we give up */

struct session *
session_new(struct server *s, struct lws *wsi, bool http)
{
	struct session *ss = xcalloc(1, sizeof(*ss));

	ss->num = ++s->next_session;
	snprintf(ss->name, sizeof(ss->name), "s%" PRIu64, ss->num);
	ss->srv = s;
	ss->wsi = wsi;
	ss->http = http;
	buf_init(&ss->rx, (size_t)s->cfg->max_message_bytes);
	TAILQ_INIT(&ss->frames);
	TAILQ_INIT(&ss->pending);
	TAILQ_INIT(&ss->running);
	TAILQ_INIT(&ss->outq);
	TAILQ_INIT(&ss->held);
	ss->t_last = clock_ms();
	TAILQ_INSERT_TAIL(&s->sessions, ss, all);
	if (!http) {
		s->n_sessions++;
		s->m.sessions_total++;
	}
	return ss;
}

void
frame_unref(struct frame *f)
{
	if (f == NULL)
		return;
	if (atomic_fetch_sub(&f->refs, 1) == 1) {
		free(f->bytes);
		free(f);
	}
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	frame_unref(j->frame);
	free(j->text);
	backend_answer_fini(&j->ans);
	free(j);
}

void
session_close(struct session *ss)
{
	struct server *s = ss->srv;
	struct job *j;
	struct frame *f;
	struct out *o;

	ss->wsi = NULL;
	while ((j = TAILQ_FIRST(&ss->pending)) != NULL)
		server_cancel_job(s, j, JOB_CANCEL_GONE);
	while ((j = TAILQ_FIRST(&ss->running)) != NULL) {
		/* It comes back through done_q with no session. */
		TAILQ_REMOVE(&ss->running, j, entry);
		j->sess = NULL;
		if (j->why == JOB_CANCEL_NONE)
			j->why = JOB_CANCEL_GONE;
		atomic_store(&j->cancel, true);
	}
	while ((f = TAILQ_FIRST(&ss->frames)) != NULL) {
		TAILQ_REMOVE(&ss->frames, f, entry);
		frame_unref(f);
	}
	while ((o = TAILQ_FIRST(&ss->outq)) != NULL) {
		TAILQ_REMOVE(&ss->outq, o, entry);
		free(o->buf);
		free(o);
	}
	while ((o = TAILQ_FIRST(&ss->held)) != NULL) {
		TAILQ_REMOVE(&ss->held, o, entry);
		free(o->buf);
		free(o);
	}
	writer_rec_session_end(ss);
	api_request_fini(&ss->pending_frame);
	buf_fini(&ss->rx);
	free(ss->header_token);
	free(ss->client);
	free(ss->http_body);
	TAILQ_REMOVE(&s->sessions, ss, all);
	if (!ss->http)
		s->n_sessions--;
	free(ss);
}

/* ---- Output ---- */

void
session_send(struct session *ss, char *buf, size_t len)
{
	struct out *o;

	if (buf == NULL)
		return;
	if (ss->wsi == NULL) {
		free(buf);
		return;
	}
	if (ss->hold_seq != 0) {
		/* Sent by writer_release once its record is committed. */
		o = xcalloc(1, sizeof(*o));
		o->buf = buf;
		o->len = len;
		o->wseq = ss->hold_seq;
		o->t_held = clock_ms();
		TAILQ_INSERT_TAIL(&ss->held, o, entry);
		return;
	}
	if (ss->http) {
		/* One reply per one-shot request; the first one wins. */
		if (ss->http_body != NULL) {
			free(buf);
			return;
		}
		ss->http_body = buf;
		ss->http_len = len;
		if (ss->http_status == 0)
			ss->http_status = 200;
		lws_callback_on_writable(ss->wsi);
		return;
	}
	if (ss->out_bytes + len > SESSION_OUT_MAX) {
		if (!ss->closing)
			log_warnx("session %" PRIu64 ": client is not reading "
			          "(%zu bytes queued); closing",
			          ss->num, ss->out_bytes);
		free(buf);
		ss->closing = true;
		lws_callback_on_writable(ss->wsi);
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->buf = buf;
	o->len = len;
	TAILQ_INSERT_TAIL(&ss->outq, o, entry);
	ss->out_bytes += len;
	lws_callback_on_writable(ss->wsi);
}

/* HTTP status for an error code (one-shot requests). */
static int
http_status(enum api_error err)
{
	switch (err) {
	case API_ERR_UNAUTHORIZED:
		return 401;
	case API_ERR_IMAGE_TOO_LARGE:
	case API_ERR_MESSAGE_TOO_LARGE:
		return 413;
	case API_ERR_BUSY:
		return 429;
	case API_ERR_SHUTTING_DOWN:
		return 503;
	case API_ERR_TIMEOUT:
		return 504;
	case API_ERR_INTERNAL:
	case API_ERR_CANCELLED:
		return 500;
	default:
		return 400;
	}
}

void
session_send_error(struct session *ss, const char *id, enum api_error err,
                   const char *msg, long long retry_after_ms)
{
	size_t len;
	char *p;

	log_debug("session %" PRIu64 ": %s%s%s: %s", ss->num,
	          id != NULL && id[0] != '\0' ? id : "",
	          id != NULL && id[0] != '\0' ? ": " : "", api_error_code(err),
	          msg != NULL ? msg : "");
	p = api_encode_error(LWS_PRE, id, err, msg, retry_after_ms, &len);
	if (ss->http && ss->http_status == 0)
		ss->http_status = http_status(err);
	session_send(ss, p, len);
}

int
session_writeable(struct session *ss)
{
	struct out *o = TAILQ_FIRST(&ss->outq);
	int n;

	if (o == NULL) {
		if (ss->closing && TAILQ_EMPTY(&ss->held)) {
			lws_close_reason(ss->wsi, LWS_CLOSE_STATUS_NORMAL, NULL,
			                 0);
			return -1;
		}
		return 0;
	}
	TAILQ_REMOVE(&ss->outq, o, entry);
	ss->out_bytes -= o->len;
	n = lws_write(ss->wsi, (unsigned char *)o->buf + LWS_PRE, o->len,
	              LWS_WRITE_TEXT);
	free(o->buf);
	free(o);
	if (n < 0)
		return -1;
	if (!TAILQ_EMPTY(&ss->outq) || ss->closing)
		lws_callback_on_writable(ss->wsi);
	return 0;
}

/* ---- Frames ---- */

static struct frame *
find_frame(struct session *ss, const char *id)
{
	struct frame *f;

	TAILQ_FOREACH(f, &ss->frames, entry)
	if (strcmp(f->id, id) == 0)
		return f;
	return NULL;
}

/* Limits a frame must meet, from the live configuration. */
static void
limits(const struct conf *c, struct image_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_bytes = (size_t)c->max_image_bytes;
	lim->max_pixels = (uint64_t)c->max_pixels;
}

/*
 * Check and keep a frame: req is the frame message, bytes (taken, may be
 * NULL when len is 0) the image.  Only the header is read here.
 */
static void
frame_add(struct session *ss, const struct api_request *req, uint8_t *bytes,
          size_t len)
{
	const struct conf *c = ss->srv->cfg;
	struct image_limits lim;
	struct image_info info;
	struct frame *f, *old;
	struct err e;
	char msg[ERR_MSG_MAX + 64];
	size_t n;
	char *p;

	if (len == 0) {
		free(bytes);
		server_count(ss->srv, API_FRAME, API_ERR_BAD_IMAGE);
		session_send_error(ss, req->id, API_ERR_BAD_IMAGE,
		                   "the image is empty (0 bytes)", -1);
		return;
	}
	if (len > (size_t)c->max_image_bytes) {
		free(bytes);
		snprintf(msg, sizeof(msg),
		         "the image is %zu bytes, above "
		         "the limit of %lld",
		         len, c->max_image_bytes);
		server_count(ss->srv, API_FRAME, API_ERR_IMAGE_TOO_LARGE);
		session_send_error(ss, req->id, API_ERR_IMAGE_TOO_LARGE, msg,
		                   -1);
		return;
	}
	if (image_probe(bytes, len, &info, &e) == -1) {
		free(bytes);
		snprintf(msg, sizeof(msg),
		         "the image is not a readable PNG "
		         "or JPEG: %s",
		         e.msg);
		server_count(ss->srv, API_FRAME, API_ERR_BAD_IMAGE);
		session_send_error(ss, req->id, API_ERR_BAD_IMAGE, msg, -1);
		return;
	}
	limits(c, &lim);
	if (image_check(&info, len, &lim, &e) == -1) {
		free(bytes);
		log_info("session %" PRIu64 ": frame %s: %s", ss->num, req->id,
		         e.msg);
		snprintf(msg, sizeof(msg), "the image is too large: %s", e.msg);
		server_count(ss->srv, API_FRAME, API_ERR_IMAGE_TOO_LARGE);
		session_send_error(ss, req->id, API_ERR_IMAGE_TOO_LARGE, msg,
		                   -1);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	atomic_init(&f->refs, 1);
	memcpy(f->id, req->id, sizeof(f->id));
	f->format = info.format == IMAGE_PNG ? API_FMT_PNG : API_FMT_JPEG;
	f->dpr = req->dpr;
	f->w = info.w;
	f->h = info.h;
	f->bytes = bytes;
	f->len = len;
	sha256_hex(bytes, len, f->sha256);
	old = find_frame(ss, f->id);
	if (old != NULL) {
		TAILQ_REMOVE(&ss->frames, old, entry);
		ss->n_frames--;
		frame_unref(old);
	}
	while (ss->n_frames >= c->max_frames) {
		old = TAILQ_FIRST(&ss->frames);
		TAILQ_REMOVE(&ss->frames, old, entry);
		ss->n_frames--;
		frame_unref(old);
	}
	TAILQ_INSERT_TAIL(&ss->frames, f, entry);
	ss->n_frames++;
	log_debug("session %" PRIu64 ": frame %s: %s %dx%d, %zu bytes", ss->num,
	          f->id, api_format_name(f->format), f->w, f->h, f->len);
	server_count(ss->srv, API_FRAME, API_ERR_NONE);
	p = api_encode_frame(LWS_PRE, f->id, f->w, f->h, f->sha256, &n);
	session_send(ss, p, n);
}

/* ---- Requests ---- */

struct job *
session_find_job(struct session *ss, const char *id)
{
	struct job *j;

	TAILQ_FOREACH(j, &ss->running, entry)
	if (strcmp(j->id, id) == 0)
		return j;
	TAILQ_FOREACH(j, &ss->pending, entry)
	if (strcmp(j->id, id) == 0)
		return j;
	return NULL;
}

/*
 * Make a job for a point or ask request on frame f and queue it.  Also
 * used for the HTTP one-shot, whose frame is made on the spot.
 */
static void
submit(struct session *ss, struct api_request *r, struct frame *f)
{
	struct server *s = ss->srv;
	struct job *j;

	j = xcalloc(1, sizeof(*j));
	j->seq = ++s->next_seq;
	memcpy(j->id, r->id, sizeof(j->id));
	j->type = r->type;
	atomic_fetch_add(&f->refs, 1);
	j->frame = f;
	j->text = r->text;
	r->text = NULL;
	j->max_points = r->max_points;
	j->max_crops = r->max_crops;
	memcpy(j->backend, r->backend, sizeof(j->backend));
	j->max_new_tokens = (int)s->cfg->max_new_tokens;
	limits(s->cfg, &j->lim);
	atomic_init(&j->cancel, false);
	j->t_arrive = clock_ms();
	j->sess = ss;
	server_submit(s, ss, j);
}

/* A client-chosen string made safe for one log line: control characters
 * become '?', and it is cut at size - 1 bytes. */
static const char *
loggable(const char *s, char *buf, size_t size)
{
	size_t i;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] =
		    (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/*
 * Whether the running backend serves a request that chose backend (""
 * for the default): auto serves every choice, text serves text and auto
 * (answering from text alone), any other only itself.  Else msg says why.
 */
bool
session_backend_ok(struct server *s, const char *backend, char *msg,
                   size_t size)
{
	const char *running = backend_name(s->be);

	if (backend[0] == '\0' || strcmp(backend, running) == 0 ||
	    strcmp(running, "auto") == 0 ||
	    (strcmp(running, "text") == 0 && strcmp(backend, "auto") == 0))
		return true;
	snprintf(msg, size,
	         "this pointd runs the %s backend; \"backend\":\"%s\" "
	         "needs backend %s or auto in pointd.conf",
	         running, backend, backend);
	return false;
}

static void
on_hello(struct session *ss, struct api_request *r)
{
	char lc[64], ll[64];
	struct server *s = ss->srv;
	struct api_ready rd;
	const char *token;
	size_t n;
	char *p;

	if (ss->ready) {
		server_count(s, API_HELLO, API_ERR_BAD_REQUEST);
		session_send_error(ss, r->id, API_ERR_BAD_REQUEST,
		                   "the session already said hello", -1);
		return;
	}
	token = r->token != NULL ? r->token : ss->header_token;
	if (!conf_token_ok(s->cfg, token)) {
		log_info("session %" PRIu64 ": hello with a %s token", ss->num,
		         token == NULL ? "missing" : "wrong");
		server_count(s, API_HELLO, API_ERR_UNAUTHORIZED);
		session_send_error(ss, r->id, API_ERR_UNAUTHORIZED,
		                   token == NULL ? "a token is required"
		                                 : "the token is not valid",
		                   -1);
		return;
	}
	ss->ready = true;
	server_count(s, API_HELLO, API_ERR_NONE);
	free(ss->client);
	ss->client = xstrdup(r->client != NULL ? r->client : "");
	writer_rec_session_start(ss, r->session);
	log_info("session %" PRIu64 ": ready, client \"%s\", label \"%s\"",
	         ss->num, loggable(ss->client, lc, sizeof(lc)),
	         loggable(r->session, ll, sizeof(ll)));
	memset(&rd, 0, sizeof(rd));
	rd.session = ss->name;
	rd.model = backend_model_name(s->be);
	rd.backend = backend_name(s->be);
	rd.max_message_bytes = s->cfg->max_message_bytes;
	rd.max_image_bytes = s->cfg->max_image_bytes;
	rd.max_pixels = s->cfg->max_pixels;
	rd.max_inflight = s->cfg->max_inflight;
	rd.max_frames = s->cfg->max_frames;
	rd.request_timeout_ms = s->cfg->request_timeout_ms;
	rd.idle_timeout_s = s->cfg->idle_timeout_s;
	p = api_encode_ready(LWS_PRE, &rd, &n);
	session_send(ss, p, n);
}

static void
on_request(struct session *ss, struct api_request *r)
{
	struct frame *f;
	struct job *j;
	char msg[256];

	switch (r->type) {
	case API_HELLO:
		on_hello(ss, r);
		return;
	case API_FRAME:
		if (r->has_data) {
			uint8_t *d = r->data;

			r->data = NULL;
			frame_add(ss, r, d, r->data_len);
			return;
		}
		/* The image comes as the next (binary) message. */
		ss->pending_frame = *r;
		memset(r, 0, sizeof(*r));
		ss->awaiting_binary = true;
		return;
	case API_POINT:
	case API_ASK:
		f = find_frame(ss, r->frame);
		if (f == NULL) {
			snprintf(msg, sizeof(msg),
			         "no frame \"%s\" in this "
			         "session",
			         r->frame);
			session_send_error(ss, r->id, API_ERR_UNKNOWN_FRAME,
			                   msg, -1);
			server_count(ss->srv, r->type, API_ERR_UNKNOWN_FRAME);
			return;
		}
		if (session_find_job(ss, r->id) != NULL) {
			snprintf(msg, sizeof(msg),
			         "a request with id \"%s\" is "
			         "already in flight",
			         r->id);
			session_send_error(ss, r->id, API_ERR_BAD_REQUEST, msg,
			                   -1);
			server_count(ss->srv, r->type, API_ERR_BAD_REQUEST);
			return;
		}
		if (!session_backend_ok(ss->srv, r->backend, msg,
		                        sizeof(msg))) {
			session_send_error(ss, r->id, API_ERR_BAD_REQUEST, msg,
			                   -1);
			server_count(ss->srv, r->type, API_ERR_BAD_REQUEST);
			return;
		}
		submit(ss, r, f);
		return;
	case API_CANCEL:
		j = session_find_job(ss, r->id);
		if (j == NULL) {
			snprintf(msg, sizeof(msg),
			         "no request with id \"%s\" "
			         "is in flight",
			         r->id);
			server_count(ss->srv, API_CANCEL, API_ERR_BAD_REQUEST);
			session_send_error(ss, r->id, API_ERR_BAD_REQUEST, msg,
			                   -1);
			return;
		}
		server_count(ss->srv, API_CANCEL, API_ERR_NONE);
		server_cancel_job(ss->srv, j, JOB_CANCEL_CLIENT);
		return;
	case API_BYE:
		server_count(ss->srv, API_BYE, API_ERR_NONE);
		while ((j = TAILQ_FIRST(&ss->pending)) != NULL)
			server_cancel_job(ss->srv, j, JOB_CANCEL_GONE);
		TAILQ_FOREACH(j, &ss->running, entry)
		server_cancel_job(ss->srv, j, JOB_CANCEL_GONE);
		{
			size_t n;
			char *p = api_encode_bye(LWS_PRE, &n);

			session_send(ss, p, n);
		}
		ss->closing = true;
		return;
	default:
		return;
	}
}

/* One complete text message. */
static void
on_text(struct session *ss, const char *msg, size_t len)
{
	const struct conf *c = ss->srv->cfg;
	struct api_limits lim;
	struct api_request r;
	enum api_error code;
	struct err e;

	if (ss->awaiting_binary) {
		session_send_error(
		    ss, ss->pending_frame.id, API_ERR_BAD_REQUEST,
		    "the frame's image must follow as a binary message", -1);
		api_request_fini(&ss->pending_frame);
		ss->awaiting_binary = false;
	}
	lim.max_text = (size_t)c->max_text_bytes;
	lim.max_image = (size_t)c->max_image_bytes;
	e.msg[0] = '\0';
	if (api_decode(&r, msg, len, &lim, &code, &e) == -1) {
		ss->srv->m.bad_messages[code]++;
		session_send_error(ss, r.id, code, e.msg, -1);
		api_request_fini(&r);
		return;
	}
	if (!ss->ready && r.type != API_HELLO)
		session_send_error(ss, r.id, API_ERR_UNAUTHORIZED,
		                   "say hello before anything else", -1);
	else
		on_request(ss, &r);
	api_request_fini(&r);
}

/* One complete binary message: the image of the pending frame. */
static void
on_binary(struct session *ss)
{
	size_t len;
	uint8_t *bytes;

	if (!ss->awaiting_binary) {
		buf_reset(&ss->rx);
		session_send_error(
		    ss, NULL,
		    ss->ready ? API_ERR_BAD_REQUEST : API_ERR_UNAUTHORIZED,
		    "a binary message must follow a frame message", -1);
		return;
	}
	bytes = (uint8_t *)buf_steal(&ss->rx, &len);
	ss->awaiting_binary = false;
	frame_add(ss, &ss->pending_frame, bytes, len);
	api_request_fini(&ss->pending_frame);
}

int
session_receive(struct session *ss, const void *in, size_t len, bool first,
                bool final, bool binary)
{
	const struct conf *c = ss->srv->cfg;
	size_t limit;
	char msg[128];

	if (first) {
		buf_fini(&ss->rx);
		buf_init(&ss->rx, (size_t)c->max_message_bytes);
		ss->rx_total = 0;
		ss->rx_discard = false;
		ss->rx_binary = binary;
	}
	limit =
	    (size_t)(ss->rx_binary ? c->max_image_bytes : c->max_message_bytes);
	ss->rx_total += len;
	if (!ss->rx_discard && ss->rx_total > limit) {
		ss->rx_discard = true;
		buf_fini(&ss->rx);
	}
	if (!ss->rx_discard && len > 0 && buf_append(&ss->rx, in, len) == -1)
		ss->rx_discard = true;
	if (!final)
		return 0;
	ss->t_last = clock_ms();
	if (ss->rx_discard) {
		buf_fini(&ss->rx);
		if (ss->rx_binary && ss->awaiting_binary) {
			snprintf(msg, sizeof(msg),
			         "the image is larger than "
			         "%lld bytes",
			         c->max_image_bytes);
			session_send_error(ss, ss->pending_frame.id,
			                   API_ERR_IMAGE_TOO_LARGE, msg, -1);
			api_request_fini(&ss->pending_frame);
			ss->awaiting_binary = false;
		} else {
			snprintf(msg, sizeof(msg),
			         "the message is larger "
			         "than %zu bytes",
			         limit);
			session_send_error(ss, NULL, API_ERR_MESSAGE_TOO_LARGE,
			                   msg, -1);
		}
		return 0;
	}
	if (ss->rx_binary)
		on_binary(ss);
	else
		on_text(ss, ss->rx.data != NULL ? ss->rx.data : "", ss->rx.len);
	buf_fini(&ss->rx);
	return 0;
}

/* ---- Replies ---- */

/* Send the answer of a finished job. */
static void
reply_result(struct session *ss, struct job *j)
{
	struct api_point pts[API_MAX_POINTS];
	struct api_match mt[API_MAX_POINTS];
	struct api_result res;
	size_t i, n;
	char *p;

	memset(&res, 0, sizeof(res));
	res.id = ss->http ? NULL : j->id;
	res.frame = ss->http ? NULL : j->frame->id;
	res.width = j->img_w;
	res.height = j->img_h;
	res.dpr = j->frame->dpr;
	n = j->ans.n_points;
	if (j->max_points > 0 && n > (size_t)j->max_points)
		n = (size_t)j->max_points;
	if (n > API_MAX_POINTS)
		n = API_MAX_POINTS;
	for (i = 0; i < n; i++) {
		pts[i].x = j->ans.points[i].x;
		pts[i].y = j->ans.points[i].y;
		pts[i].label = j->ans.points[i].label;
		mt[i].text =
		    j->ans.points[i].scored ? j->ans.points[i].matched : NULL;
		mt[i].score = j->ans.points[i].score;
	}
	res.matches = mt;
	res.points = pts;
	res.n_points = n;
	res.none = j->ans.none;
	res.raw = j->ans.raw;
	res.model = backend_model_name(ss->srv->be);
	res.source =
	    j->ans.source != NULL ? j->ans.source : backend_name(ss->srv->be);
	res.note = j->ans.note;
	res.timing.queue = j->t_start - j->t_arrive;
	res.timing.preprocess = j->ans.ms_preprocess;
	res.timing.vision = j->ans.ms_vision;
	res.timing.prefill = j->ans.ms_prefill;
	res.timing.decode = j->ans.ms_decode;
	res.timing.total = clock_ms() - j->t_arrive;
	if (j->type == API_ASK)
		p = api_encode_answer(LWS_PRE, &res, &n);
	else
		p = api_encode_points(LWS_PRE, &res, &n);
	if (p == NULL) {
		session_send_error(ss, j->id, API_ERR_INTERNAL,
		                   "the answer could not be encoded", -1);
		return;
	}
	session_send(ss, p, n);
}

void
session_job_done(struct session *ss, struct job *j)
{
	struct server *s = ss != NULL ? ss->srv : NULL;
	enum api_error err = API_ERR_NONE;
	char msg[ERR_MSG_MAX + 256];

	if (ss == NULL) {
		job_free(j);
		return;
	}
	ss->n_inflight--;
	ss->t_last = clock_ms();
	switch (j->why) {
	case JOB_CANCEL_CLIENT:
		err = API_ERR_CANCELLED;
		snprintf(msg, sizeof(msg), "request \"%s\" was cancelled",
		         j->id);
		break;
	case JOB_CANCEL_TIMEOUT:
		err = API_ERR_TIMEOUT;
		snprintf(msg, sizeof(msg),
		         "request \"%s\" took longer than "
		         "%lld ms",
		         j->id, s->cfg->request_timeout_ms);
		break;
	case JOB_CANCEL_SHUTDOWN:
		err = API_ERR_SHUTTING_DOWN;
		snprintf(msg, sizeof(msg), "the daemon is shutting down");
		break;
	case JOB_CANCEL_GONE:
		err = API_ERR_CANCELLED;
		msg[0] = '\0';
		break;
	case JOB_CANCEL_NONE:
		if (j->rc == -1) {
			err =
			    j->err != API_ERR_NONE ? j->err : API_ERR_INTERNAL;
			snprintf(msg, sizeof(msg), "%s",
			         j->errmsg[0] != '\0'
			             ? j->errmsg
			             : api_errors[err].summary);
		}
		break;
	}
	server_count(s, j->type, err);
	if (err == API_ERR_INTERNAL)
		log_warnx("session %" PRIu64 ": %s: %s", ss->num, j->id, msg);
	else
		log_info("session %" PRIu64 ": %s %s %s %.1f ms", ss->num,
		         j->id, api_types[j->type].name,
		         err == API_ERR_NONE ? "ok" : api_error_code(err),
		         clock_ms() - j->t_arrive);
	/* The reply waits for its record (durability, see writer.h). */
	ss->hold_seq = writer_rec_job(ss, j, (int)err);
	if (j->why == JOB_CANCEL_GONE)
		;
	else if (err != API_ERR_NONE)
		session_send_error(ss, j->id, err, msg, -1);
	else
		reply_result(ss, j);
	ss->hold_seq = 0;
	job_free(j);
}
