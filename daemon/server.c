/* SPDX-License-Identifier: ISC */
/*
 * server.c: the lws service thread: the context, the protocols table, the
 * fair scheduler, the HTTP endpoints, the timer and the metrics.
 *
 * Design.  One lws context with two protocols: "http" (GET /healthz, GET
 * /metrics, POST /v1/point) and "pointd.v1" (WebSocket sessions at /v1).
 * Everything here runs on the service thread, which owns all sessions and
 * jobs not on the inference thread.  Scheduling: each session keeps its
 * queued jobs in order, and the sessions that have any sit in a ring;
 * whenever the inference thread is idle, the first session of the ring
 * gives its oldest job and moves to the back, so a session with many
 * requests cannot starve one with few.  At most one job is on the
 * inference thread, so cancelling a queued job is immediate and a timeout
 * fires on time.  A 100 ms timer checks timeouts, idle sessions and the
 * signal flags (SIGTERM drains, SIGHUP reloads tokens and limits).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libwebsockets.h>

#include "daemon/server.h"
#include "daemon/writer.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define TICK_US (100 * LWS_US_PER_MS)

volatile sig_atomic_t server_sigterm, server_sighup;

/* Latency buckets in seconds (Prometheus "le" bounds). */
static const double buckets[SERVER_N_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/* lws state that does not belong in server.h. */
struct server_priv {
	lws_sorted_usec_list_t sul; /* the 100 ms tick */
	struct server *s;
};

/* Per-connection data for both protocols. */
struct pss {
	struct session *ss; /* WebSocket session, or HTTP one-shot */
	/* HTTP only. */
	struct buf body; /* POST body, capped */
	bool body_init;
	bool discard; /* body over the limit */
	char *reply;  /* LWS_PRE headroom + body */
	size_t reply_len;
	int status;
	const char *ctype;
	long long retry_after_ms;
	bool hdr_sent;
	/* multipart/form-data bodies */
	struct lws_spa *spa; /* form parser; the image part goes to body */
	bool in_image;       /* the part being received is "image" */
	bool bad_form;       /* the form could not be parsed */
};

/* Fields of a multipart POST /v1/point (indexes into lws_spa). */
enum form_field {
	FORM_TARGET,
	FORM_DPR,
	FORM_MAX_POINTS,
	FORM_FORMAT,
	FORM_BACKEND
};
static const char *const form_names[] = {"target", "dpr", "max_points",
                                         "format", "backend"};

void
server_count(struct server *s, enum api_type t, enum api_error err)
{
	if ((int)t >= 0 && t < API_TYPE_COUNT && (int)err >= 0 &&
	    err < API_ERR_COUNT)
		s->m.requests[t][err]++;
}

/* ---- Scheduling ---- */

/* Give the inference thread the next job, round-robin over sessions. */
static void
dispatch(struct server *s)
{
	struct session *ss;
	struct job *j;

	if (s->inf == NULL)
		return;
	while (s->n_running == 0 && (ss = TAILQ_FIRST(&s->ring)) != NULL) {
		TAILQ_REMOVE(&s->ring, ss, ring);
		ss->in_ring = false;
		j = TAILQ_FIRST(&ss->pending);
		if (j == NULL)
			continue;
		TAILQ_REMOVE(&ss->pending, j, entry);
		s->n_queued--;
		if (!TAILQ_EMPTY(&ss->pending)) {
			TAILQ_INSERT_TAIL(&s->ring, ss, ring);
			ss->in_ring = true;
		}
		TAILQ_INSERT_TAIL(&ss->running, j, entry);
		j->running = true;
		s->n_running++;
		infer_push(s->inf, j);
	}
}

/* Suggested wait before retrying, from the average job time. */
static long long
retry_after(struct server *s)
{
	double ms = s->ewma_ms > 0 ? s->ewma_ms : 1000;

	return (long long)(ms * (s->n_queued + s->n_running + 1));
}

void
server_submit(struct server *s, struct session *ss, struct job *j)
{
	char msg[160];

	if (s->draining) {
		session_send_error(
		    ss, j->id, API_ERR_SHUTTING_DOWN,
		    "the daemon is shutting down and takes no new requests",
		    -1);
		server_count(s, j->type, API_ERR_SHUTTING_DOWN);
		job_free(j);
		return;
	}
	if (ss->n_inflight >= s->cfg->max_inflight) {
		snprintf(msg, sizeof(msg),
		         "the session already has %d "
		         "requests in flight",
		         ss->n_inflight);
		session_send_error(ss, j->id, API_ERR_BUSY, msg,
		                   retry_after(s));
		server_count(s, j->type, API_ERR_BUSY);
		job_free(j);
		return;
	}
	if (s->n_queued >= s->cfg->queue_depth) {
		snprintf(msg, sizeof(msg), "the queue is full (%d requests)",
		         s->n_queued);
		session_send_error(ss, j->id, API_ERR_BUSY, msg,
		                   retry_after(s));
		server_count(s, j->type, API_ERR_BUSY);
		job_free(j);
		return;
	}
	TAILQ_INSERT_TAIL(&ss->pending, j, entry);
	ss->n_inflight++;
	s->n_queued++;
	if (!ss->in_ring) {
		TAILQ_INSERT_TAIL(&s->ring, ss, ring);
		ss->in_ring = true;
	}
	dispatch(s);
}

void
server_cancel_job(struct server *s, struct job *j, enum job_cancel why)
{
	struct session *ss = j->sess;

	if (j->why == JOB_CANCEL_NONE)
		j->why = why;
	if (j->running) {
		/* The inference thread stops at its next check; the reply
		 * goes out when the job comes back. */
		atomic_store(&j->cancel, true);
		return;
	}
	TAILQ_REMOVE(&ss->pending, j, entry);
	s->n_queued--;
	if (TAILQ_EMPTY(&ss->pending) && ss->in_ring) {
		TAILQ_REMOVE(&s->ring, ss, ring);
		ss->in_ring = false;
	}
	session_job_done(ss, j);
}

/* Record a finished job's latency. */
static void
observe(struct server *s, const struct job *j)
{
	int k = j->type == API_ASK ? 1 : 0, b;
	double sec = (clock_ms() - j->t_arrive) / 1e3;
	double engine = j->t_end - j->t_start;
	double over = sec - engine / 1e3;

	for (b = 0; b < SERVER_N_BUCKETS; b++)
		if (sec <= buckets[b])
			s->m.lat_bucket[k][b]++;
	s->m.lat_sum[k] += sec;
	s->m.lat_count[k]++;
	if (over < 0)
		over = 0;
	for (b = 0; b < SERVER_N_BUCKETS; b++)
		if (over <= buckets[b])
			s->m.overhead_bucket[b]++;
	s->m.overhead_sum += over;
	if (j->rc == 0 && j->ans.cache == BACKEND_CACHE_HIT)
		s->m.text_cache_hits++;
	else if (j->rc == 0 && j->ans.cache == BACKEND_CACHE_MISS)
		s->m.text_cache_misses++;
	if (j->rc == 0 && j->ans.source != NULL &&
	    strcmp(j->ans.source, "text") == 0)
		s->m.answers_text++;
	else if (j->rc == 0 && j->ans.source != NULL &&
	         strcmp(j->ans.source, "molmo") == 0)
		s->m.answers_molmo++;
	if (j->rc == 0)
		s->ewma_ms =
		    s->ewma_ms == 0 ? engine : 0.8 * s->ewma_ms + 0.2 * engine;
}

/* Take back every finished job (on EVENT_WAIT_CANCELLED). */
static void
reap(struct server *s)
{
	struct session *ss;
	struct job *j;

	while ((j = infer_done(s->inf)) != NULL) {
		s->n_running--;
		j->running = false;
		ss = j->sess;
		observe(s, j);
		if (ss != NULL)
			TAILQ_REMOVE(&ss->running, j, entry);
		else
			server_count(s, j->type, API_ERR_CANCELLED);
		session_job_done(ss, j);
	}
}

static void
drain_done(struct server *s)
{
	reap(s);
	dispatch(s);
}

void
server_stop_jobs(struct server *s)
{
	struct session *ss;
	struct job *j;

	s->draining = true;
	TAILQ_FOREACH(ss, &s->sessions, all)
	{
		while ((j = TAILQ_FIRST(&ss->pending)) != NULL)
			server_cancel_job(s, j, JOB_CANCEL_SHUTDOWN);
		TAILQ_FOREACH(j, &ss->running, entry)
		server_cancel_job(s, j, JOB_CANCEL_SHUTDOWN);
	}
	infer_stop(s->inf);
	reap(s);
	infer_free(s->inf);
	s->inf = NULL;
}

/* ---- Timer: timeouts, idle sessions, signals ---- */

static void
reload(struct server *s)
{
	struct conf nc;
	struct err e;
	int n;

	if (conf_load(&nc, s->cfg_path, &e) == -1) {
		log_warnx("reload: %s; keeping the running configuration",
		          e.msg);
		conf_fini(&nc);
		return;
	}
	n = conf_reload(s->cfg, &nc);
	log_verbose = conf_verbosity(s->cfg, s->vflags);
	if (strcmp(nc.listen, s->cfg->listen) != 0 ||
	    strcmp(nc.model, s->cfg->model) != 0 ||
	    strcmp(nc.backend, s->cfg->backend) != 0 ||
	    nc.threads != s->cfg->threads ||
	    strcmp(nc.tls_cert, s->cfg->tls_cert) != 0 ||
	    strcmp(nc.tls_key, s->cfg->tls_key) != 0)
		log_warnx("reload: listen, model, backend, threads and TLS "
		          "changes need a restart");
	conf_fini(&nc);
	log_info("reload: %s: %d directives changed", s->cfg_path, n);
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	struct server_priv *p = lws_container_of(sul, struct server_priv, sul);
	struct server *s = p->s;
	struct session *ss;
	struct job *j, *next;
	double now = clock_ms();
	bool busy = false;

	writer_tick(s, now);
	if (server_sighup) {
		server_sighup = 0;
		reload(s);
	}
	if (server_sigterm && !s->draining) {
		s->draining = true;
		s->drain_deadline = now + (double)s->cfg->drain_timeout_s * 1e3;
		log_info("draining: %d queued, %d running", s->n_queued,
		         s->n_running);
	}
	TAILQ_FOREACH(ss, &s->sessions, all)
	{
		for (j = TAILQ_FIRST(&ss->pending); j != NULL; j = next) {
			next = TAILQ_NEXT(j, entry);
			if (now - j->t_arrive >
			    (double)s->cfg->request_timeout_ms)
				server_cancel_job(s, j, JOB_CANCEL_TIMEOUT);
		}
		TAILQ_FOREACH(j, &ss->running, entry)
		if (j->why == JOB_CANCEL_NONE &&
		    now - j->t_arrive > (double)s->cfg->request_timeout_ms)
			server_cancel_job(s, j, JOB_CANCEL_TIMEOUT);
		if (!ss->http && !ss->closing && ss->n_inflight == 0 &&
		    now - ss->t_last > (double)s->cfg->idle_timeout_s * 1e3) {
			log_info("session %" PRIu64 ": idle; closing", ss->num);
			session_send_error(
			    ss, NULL, API_ERR_TIMEOUT,
			    "the session was idle too long and is closed", -1);
			ss->closing = true;
		}
		if (ss->n_inflight > 0 || !TAILQ_EMPTY(&ss->outq) ||
		    !TAILQ_EMPTY(&ss->held))
			busy = true;
	}
	if (s->draining) {
		if (now > s->drain_deadline) {
			TAILQ_FOREACH(ss, &s->sessions, all)
			{
				while ((j = TAILQ_FIRST(&ss->pending)) != NULL)
					server_cancel_job(s, j,
					                  JOB_CANCEL_SHUTDOWN);
				TAILQ_FOREACH(j, &ss->running, entry)
				server_cancel_job(s, j, JOB_CANCEL_SHUTDOWN);
			}
		}
		if ((!busy || now > s->drain_deadline + 2000) &&
		    s->n_running == 0) {
			s->done = true;
			lws_cancel_service(s->ctx);
			return;
		}
	}
	lws_sul_schedule(s->ctx, 0, &p->sul, tick, TICK_US);
}

/* ---- HTTP ---- */

/* Queue a reply for an HTTP connection (takes body, which has headroom). */
static void
http_reply(struct lws *wsi, struct pss *pss, int status, const char *ctype,
           char *body, size_t len)
{
	free(pss->reply);
	pss->reply = body;
	pss->reply_len = len;
	pss->status = status;
	pss->ctype = ctype;
	pss->hdr_sent = false;
	lws_callback_on_writable(wsi);
}

/* Reply with a JSON error document. */
static void
http_error(struct lws *wsi, struct pss *pss, int status, enum api_error err,
           const char *msg)
{
	size_t n;
	char *p = api_encode_error(LWS_PRE, NULL, err, msg, -1, &n);

	http_reply(wsi, pss, status, "application/json", p, n);
}

/* A buffer with LWS_PRE headroom holding b's contents (b is emptied). */
static char *
with_headroom(struct buf *b, size_t *len)
{
	char *p = xmalloc(LWS_PRE + b->len + 1);

	memcpy(p + LWS_PRE, b->data != NULL ? b->data : "", b->len);
	p[LWS_PRE + b->len] = '\0';
	*len = b->len;
	buf_fini(b);
	return p;
}

static void
metric_hist(struct buf *b, const char *name, const char *labels,
            const unsigned long long *bk, double sum, unsigned long long count)
{
	int i;

	for (i = 0; i < SERVER_N_BUCKETS; i++)
		buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
		           labels[0] != '\0' ? "," : "", buckets[i], bk[i]);
	buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	           labels[0] != '\0' ? "," : "", count);
	buf_printf(b, "%s_sum{%s} %.6f\n", name, labels, sum);
	buf_printf(b, "%s_count{%s} %llu\n", name, labels, count);
}

/* The Prometheus text exposition of s's metrics. */
static char *
metrics_text(struct server *s, size_t *len)
{
	struct buf b;
	int t, k;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "# HELP pointd_requests_total Requests by type and "
	               "outcome.\n# TYPE pointd_requests_total counter\n");
	for (t = 0; t < API_TYPE_COUNT; t++)
		for (k = 0; k < API_ERR_COUNT; k++)
			if (s->m.requests[t][k] > 0 || k == API_ERR_NONE)
				buf_printf(&b,
				           "pointd_requests_total{type=\"%s"
				           "\",outcome=\"%s\"} %llu\n",
				           api_types[t].name,
				           k == API_ERR_NONE
				               ? "ok"
				               : api_errors[k].code,
				           s->m.requests[t][k]);
	buf_printf(&b,
	           "# HELP pointd_bad_messages_total Messages that did "
	           "not decode.\n# TYPE pointd_bad_messages_total counter\n");
	for (k = 1; k < API_ERR_COUNT; k++)
		if (s->m.bad_messages[k] > 0)
			buf_printf(&b,
			           "pointd_bad_messages_total{code=\"%s\"} "
			           "%llu\n",
			           api_errors[k].code, s->m.bad_messages[k]);
	buf_printf(
	    &b,
	    "# HELP pointd_queue_depth Requests waiting for the "
	    "model.\n# TYPE pointd_queue_depth gauge\npointd_queue_depth %d\n",
	    s->n_queued);
	buf_printf(&b,
	           "# HELP pointd_running Requests on the model.\n"
	           "# TYPE pointd_running gauge\npointd_running %d\n",
	           s->n_running);
	buf_printf(&b,
	           "# HELP pointd_sessions WebSocket sessions open.\n"
	           "# TYPE pointd_sessions gauge\npointd_sessions %d\n",
	           s->n_sessions);
	buf_printf(&b,
	           "# HELP pointd_sessions_total WebSocket sessions "
	           "opened.\n# TYPE pointd_sessions_total counter\n"
	           "pointd_sessions_total %llu\n",
	           s->m.sessions_total);
	buf_printf(
	    &b, "# HELP pointd_request_duration_seconds Arrival to "
	        "answer.\n# TYPE pointd_request_duration_seconds histogram\n");
	metric_hist(&b, "pointd_request_duration_seconds", "type=\"point\"",
	            s->m.lat_bucket[0], s->m.lat_sum[0], s->m.lat_count[0]);
	metric_hist(&b, "pointd_request_duration_seconds", "type=\"ask\"",
	            s->m.lat_bucket[1], s->m.lat_sum[1], s->m.lat_count[1]);
	buf_printf(&b,
	           "# HELP pointd_overhead_seconds Request time outside "
	           "the engine.\n# TYPE pointd_overhead_seconds histogram\n");
	metric_hist(&b, "pointd_overhead_seconds", "", s->m.overhead_bucket,
	            s->m.overhead_sum, s->m.lat_count[0] + s->m.lat_count[1]);
	buf_printf(&b,
	           "# HELP pointd_http_requests_total HTTP requests by "
	           "path.\n# TYPE pointd_http_requests_total counter\n"
	           "pointd_http_requests_total{path=\"/healthz\"} %llu\n"
	           "pointd_http_requests_total{path=\"/metrics\"} %llu\n"
	           "pointd_http_requests_total{path=\"/v1/point\"} %llu\n",
	           s->m.http_requests[0], s->m.http_requests[1],
	           s->m.http_requests[2]);
	buf_printf(&b,
	           "# HELP pointd_text_cache_hits_total Text requests "
	           "answered from words already read on the same frame.\n"
	           "# TYPE pointd_text_cache_hits_total counter\n"
	           "pointd_text_cache_hits_total %llu\n"
	           "# HELP pointd_text_cache_misses_total Text requests "
	           "that read the frame's words.\n"
	           "# TYPE pointd_text_cache_misses_total counter\n"
	           "pointd_text_cache_misses_total %llu\n",
	           s->m.text_cache_hits, s->m.text_cache_misses);
	buf_printf(&b,
	           "# HELP pointd_answers_total Answers by the engine that "
	           "produced them.\n# TYPE pointd_answers_total counter\n"
	           "pointd_answers_total{source=\"text\"} %llu\n"
	           "pointd_answers_total{source=\"molmo\"} %llu\n",
	           s->m.answers_text, s->m.answers_molmo);
	buf_printf(
	    &b,
	    "# HELP pointd_model_info The loaded model.\n"
	    "# TYPE pointd_model_info gauge\npointd_model_info{name=\"%s\","
	    "backend=\"%s\"} 1\n",
	    backend_model_name(s->be), backend_name(s->be));
	buf_printf(
	    &b,
	    "# HELP pointd_uptime_seconds Seconds since start.\n"
	    "# TYPE pointd_uptime_seconds gauge\npointd_uptime_seconds %.1f\n",
	    (clock_ms() - s->t_start) / 1e3);
	writer_metrics(s, &b);
	return with_headroom(&b, len);
}

static char *
health_text(struct server *s, size_t *len)
{
	struct buf b;

	buf_init(&b, 4096);
	buf_printf(&b,
	           "{\"status\":\"%s\",\"model\":\"%s\",\"sessions\":%d,"
	           "\"queue\":%d,\"running\":%d}\n",
	           s->draining ? "draining" : "ok", backend_model_name(s->be),
	           s->n_sessions, s->n_queued, s->n_running);
	return with_headroom(&b, len);
}

/* The token in "Authorization: Bearer X", malloc'd, or NULL. */
static char *
bearer(struct lws *wsi, size_t max)
{
	char hdr[4200];
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);

	if (n <= 0 || (size_t)n >= sizeof(hdr) || (size_t)n > max + 7)
		return NULL;
	if (lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) <
	    0)
		return NULL;
	if (strncmp(hdr, "Bearer ", 7) != 0)
		return NULL;
	return xstrdup(hdr + 7);
}

/* The image part of a multipart body, chunk by chunk, into pss->body. */
static int
form_upload(void *data, const char *name, const char *filename, char *buf,
            int len, enum lws_spa_fileupload_states state)
{
	struct pss *pss = data;

	(void)filename;
	switch (state) {
	case LWS_UFS_OPEN:
		pss->in_image = name != NULL && strcmp(name, "image") == 0;
		break;
	case LWS_UFS_CONTENT:
	case LWS_UFS_FINAL_CONTENT:
		if (pss->in_image && !pss->discard && len > 0 &&
		    buf_append(&pss->body, buf, (size_t)len) == -1)
			pss->discard = true;
		break;
	default:
		break;
	}
	return 0;
}

/*
 * The request of a finished multipart body: fields target, dpr,
 * max_points, format and a file part named image.  Same returns as
 * api_decode_oneshot.
 */
static int
form_decode(struct pss *pss, struct server *s, struct api_request *r,
            enum api_error *code, struct err *e)
{
	const char *v, *errstr;
	long long mp;
	double dpr;

	memset(r, 0, sizeof(*r));
	r->type = API_POINT;
	r->dpr = 1.0;
	str_copy(r->id, "http", sizeof(r->id));
	*code = API_ERR_BAD_REQUEST;
	if (pss->bad_form || lws_spa_finalize(pss->spa) != 0)
		return err_set(e, "the multipart form could not be parsed");
	v = lws_spa_get_string(pss->spa, FORM_TARGET);
	if (v == NULL || v[0] == '\0')
		return err_set(e, "field \"target\" is required");
	if (strlen(v) > (size_t)s->cfg->max_text_bytes)
		return err_set(e, "field \"target\" is longer than %lld bytes",
		               s->cfg->max_text_bytes);
	r->text = xstrdup(v);
	v = lws_spa_get_string(pss->spa, FORM_DPR);
	if (v != NULL) {
		if (str_to_double(v, &dpr) == -1 || dpr <= 0 ||
		    dpr > API_DPR_MAX)
			return err_set(e,
			               "field \"dpr\" must be above 0 and "
			               "at most %g",
			               API_DPR_MAX);
		r->dpr = dpr;
	}
	v = lws_spa_get_string(pss->spa, FORM_MAX_POINTS);
	if (v != NULL) {
		if (str_to_ll(v, 0, API_MAX_POINTS, &mp, &errstr) == -1)
			return err_set(e, "field \"max_points\" is %s", errstr);
		r->max_points = (int)mp;
	}
	v = lws_spa_get_string(pss->spa, FORM_BACKEND);
	if (v != NULL) {
		int i;

		for (i = 0; api_backends[i] != NULL; i++)
			if (strcmp(v, api_backends[i]) == 0)
				break;
		if (api_backends[i] == NULL)
			return err_set(e,
			               "field \"backend\" must be \"molmo\", "
			               "\"text\" or \"auto\"");
		str_copy(r->backend, v, sizeof(r->backend));
	}
	if (pss->body.len == 0)
		return err_set(e, "a file part named \"image\" is required");
	r->data = (uint8_t *)buf_steal(&pss->body, &r->data_len);
	r->has_data = true;
	*code = API_ERR_NONE;
	return 0;
}

/* POST /v1/point body complete: decode and queue it. */
static void
http_point(struct lws *wsi, struct pss *pss, struct server *s)
{
	struct api_limits lim;
	struct api_request r;
	enum api_error code;
	struct image_info info;
	struct image_limits il;
	struct session *ss;
	struct frame *f;
	struct job *j;
	struct err e;
	char *token;
	int rc;

	token = bearer(wsi, (size_t)s->cfg->max_text_bytes);
	if (!conf_token_ok(s->cfg, token)) {
		free(token);
		http_error(wsi, pss, 401, API_ERR_UNAUTHORIZED,
		           "a valid Authorization: Bearer token is required");
		return;
	}
	free(token);
	lim.max_text = (size_t)s->cfg->max_text_bytes;
	lim.max_image = (size_t)s->cfg->max_image_bytes;
	e.msg[0] = '\0';
	if (pss->spa != NULL)
		rc = form_decode(pss, s, &r, &code, &e);
	else
		rc = api_decode_oneshot(
		    &r, pss->body.data != NULL ? pss->body.data : "",
		    pss->body.len, &lim, &code, &e);
	if (rc == -1) {
		http_error(wsi, pss,
		           code == API_ERR_IMAGE_TOO_LARGE ? 413 : 400, code,
		           e.msg);
		api_request_fini(&r);
		return;
	}
	buf_fini(&pss->body);
	if (!session_backend_ok(s, r.backend, e.msg, sizeof(e.msg))) {
		http_error(wsi, pss, 400, API_ERR_BAD_REQUEST, e.msg);
		api_request_fini(&r);
		return;
	}
	if (r.data_len == 0 ||
	    image_probe(r.data, r.data_len, &info, &e) == -1) {
		http_error(wsi, pss, 400, API_ERR_BAD_IMAGE,
		           "the image is not a readable PNG or JPEG");
		api_request_fini(&r);
		return;
	}
	memset(&il, 0, sizeof(il));
	il.max_bytes = (size_t)s->cfg->max_image_bytes;
	il.max_pixels = (uint64_t)s->cfg->max_pixels;
	if (image_check(&info, r.data_len, &il, &e) == -1) {
		http_error(wsi, pss, 413, API_ERR_IMAGE_TOO_LARGE, e.msg);
		api_request_fini(&r);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	atomic_init(&f->refs, 1);
	str_copy(f->id, "http", sizeof(f->id));
	f->format = info.format == IMAGE_PNG ? API_FMT_PNG : API_FMT_JPEG;
	f->dpr = r.dpr;
	f->w = info.w;
	f->h = info.h;
	f->bytes = r.data;
	f->len = r.data_len;
	sha256_hex(f->bytes, f->len, f->sha256);
	r.data = NULL;
	ss = session_new(s, wsi, true);
	ss->ready = true;
	pss->ss = ss;
	j = xcalloc(1, sizeof(*j));
	j->seq = ++s->next_seq;
	memcpy(j->id, r.id, sizeof(j->id));
	j->type = API_POINT;
	j->frame = f; /* the job holds the only reference */
	j->text = r.text;
	r.text = NULL;
	j->max_points = r.max_points;
	j->max_crops = r.max_crops;
	memcpy(j->backend, r.backend, sizeof(j->backend));
	j->max_new_tokens = (int)s->cfg->max_new_tokens;
	j->lim = il;
	atomic_init(&j->cancel, false);
	j->t_arrive = clock_ms();
	j->sess = ss;
	api_request_fini(&r);
	server_submit(s, ss, j);
}

/* Write the next part of an HTTP reply: headers, then the body. */
static int
http_writeable(struct lws *wsi, struct pss *pss)
{
	unsigned char hdr[LWS_PRE + 1024], *p, *start, *end;
	char num[32];
	int n;

	if (pss->reply == NULL && pss->ss != NULL &&
	    pss->ss->http_body != NULL) {
		/* The one-shot's answer arrived. */
		pss->reply = pss->ss->http_body;
		pss->reply_len = pss->ss->http_len;
		pss->status = pss->ss->http_status;
		pss->ctype = "application/json";
		pss->ss->http_body = NULL;
		session_close(pss->ss);
		pss->ss = NULL;
	}
	if (pss->reply == NULL)
		return 0;
	if (!pss->hdr_sent) {
		start = p = hdr + LWS_PRE;
		end = hdr + sizeof(hdr) - 1;
		if (lws_add_http_common_headers(wsi, (unsigned)pss->status,
		                                pss->ctype, pss->reply_len, &p,
		                                end))
			return -1;
		if (pss->status == 429) {
			snprintf(num, sizeof(num), "%d", 1);
			if (lws_add_http_header_by_name(
			        wsi, (const unsigned char *)"retry-after:",
			        (const unsigned char *)num, (int)strlen(num),
			        &p, end))
				return -1;
		}
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		pss->hdr_sent = true;
		lws_callback_on_writable(wsi);
		return 0;
	}
	n = lws_write(wsi, (unsigned char *)pss->reply + LWS_PRE,
	              pss->reply_len, LWS_WRITE_HTTP_FINAL);
	free(pss->reply);
	pss->reply = NULL;
	if (n < 0)
		return -1;
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

/* True if the request's Content-Type is multipart/form-data. */
static bool
is_multipart(struct lws *wsi)
{
	char ct[128];

	if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
		return false;
	return strncasecmp(ct, "multipart/form-data", 19) == 0;
}

static void
pss_reset(struct pss *pss)
{
	if (pss->ss != NULL)
		session_close(pss->ss);
	pss->ss = NULL;
	if (pss->body_init)
		buf_fini(&pss->body);
	pss->body_init = false;
	pss->discard = false;
	if (pss->spa != NULL)
		lws_spa_destroy(pss->spa);
	pss->spa = NULL;
	pss->in_image = false;
	pss->bad_form = false;
	free(pss->reply);
	pss->reply = NULL;
}

static int
http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
        size_t len)
{
	struct server *s = lws_context_user(lws_get_context(wsi));
	struct pss *pss = user;
	const char *uri = in;
	size_t n;
	char *p;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		pss_reset(pss);
		if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
			if (strcmp(uri, "/v1/point") != 0) {
				http_error(wsi, pss, 404, API_ERR_BAD_REQUEST,
				           "no such endpoint");
				return 0;
			}
			s->m.http_requests[2]++;
			pss->body_init = true;
			if (!is_multipart(wsi)) {
				buf_init(&pss->body,
				         (size_t)s->cfg->max_message_bytes);
				return 0;
			}
			/* The image part is capped by max_image_bytes, the
			 * other fields by max_text_bytes each. */
			buf_init(&pss->body, (size_t)s->cfg->max_image_bytes);
			pss->spa = lws_spa_create(
			    wsi, form_names,
			    (int)(sizeof(form_names) / sizeof(form_names[0])),
			    (int)s->cfg->max_text_bytes + 256, form_upload,
			    pss);
			if (pss->spa == NULL)
				pss->bad_form = true;
			return 0;
		}
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
			http_error(wsi, pss, 405, API_ERR_BAD_REQUEST,
			           "only GET and POST are served");
			return 0;
		}
		if (strcmp(uri, "/healthz") == 0) {
			s->m.http_requests[0]++;
			p = health_text(s, &n);
			http_reply(wsi, pss, s->draining ? 503 : 200,
			           "application/json", p, n);
		} else if (strcmp(uri, "/metrics") == 0) {
			s->m.http_requests[1]++;
			p = metrics_text(s, &n);
			http_reply(wsi, pss, 200, "text/plain; version=0.0.4",
			           p, n);
		} else {
			http_error(wsi, pss, 404, API_ERR_BAD_REQUEST,
			           "no such endpoint");
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		if (!pss->body_init || pss->discard)
			return 0;
		if (pss->spa != NULL) {
			if (!pss->bad_form &&
			    lws_spa_process(pss->spa, in, (int)len) != 0)
				pss->bad_form = true;
			return 0;
		}
		if (buf_append(&pss->body, in, len) == -1)
			pss->discard = true;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!pss->body_init)
			return 0;
		if (pss->discard && pss->spa != NULL) {
			http_error(wsi, pss, 413, API_ERR_IMAGE_TOO_LARGE,
			           "the image part is larger than "
			           "max_image_bytes");
			return 0;
		}
		if (pss->discard) {
			http_error(wsi, pss, 413, API_ERR_MESSAGE_TOO_LARGE,
			           "the request body is too large");
			return 0;
		}
		if (s->draining) {
			http_error(wsi, pss, 503, API_ERR_SHUTTING_DOWN,
			           "the daemon is shutting down");
			return 0;
		}
		http_point(wsi, pss, s);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writeable(wsi, pss);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	/* lws frees the per-transaction data after this without always
	 * sending CLOSED_HTTP: release the form parser and buffers here. */
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss != NULL)
			pss_reset(pss);
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* A WebSocket upgrade without our subprotocol. */
		log_debug("websocket without subprotocol %s refused",
		          API_SUBPROTOCOL);
		return 1;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- WebSocket ---- */

/* True if the connection's Origin is allowed (no origin lines: any). */
static bool
origin_ok(struct server *s, struct lws *wsi)
{
	char origin[512];
	int i, n;

	if (s->cfg->origins.n == 0)
		return true;
	n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	if (n <= 0)
		return true; /* not a browser */
	if ((size_t)n >= sizeof(origin) ||
	    lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) < 0)
		return false;
	for (i = 0; i < s->cfg->origins.n; i++)
		if (strcmp(origin, s->cfg->origins.v[i]) == 0)
			return true;
	return false;
}

static int
ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
      size_t len)
{
	struct server *s = lws_context_user(lws_get_context(wsi));
	struct pss *pss = user;
	char uri[64];
	struct session *ss;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <
		        0 ||
		    strcmp(uri, "/v1") != 0) {
			log_debug("websocket: path is not /v1");
			return 1;
		}
		if (!origin_ok(s, wsi)) {
			log_info("websocket: origin not allowed");
			return 1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		ss = session_new(s, wsi, false);
		pss->ss = ss;
		ss->header_token = bearer(wsi, (size_t)s->cfg->max_text_bytes);
		log_info("session %" PRIu64 ": open (%d sessions)", ss->num,
		         s->n_sessions);
		if (s->draining) {
			session_send_error(ss, NULL, API_ERR_SHUTTING_DOWN,
			                   "the daemon is shutting down", -1);
			ss->closing = true;
		} else if (s->n_sessions > s->cfg->max_sessions) {
			s->m.sessions_rejected++;
			session_send_error(ss, NULL, API_ERR_BUSY,
			                   "too many sessions; try again later",
			                   1000);
			ss->closing = true;
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (pss->ss == NULL)
			return -1;
		if (pss->ss->closing)
			return 0;
		return session_receive(pss->ss, in, len,
		                       lws_is_first_fragment(wsi) != 0,
		                       lws_is_final_fragment(wsi) != 0,
		                       lws_frame_is_binary(wsi) != 0);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (pss->ss == NULL)
			return -1;
		return session_writeable(pss->ss);
	case LWS_CALLBACK_CLOSED:
		if (pss->ss != NULL) {
			log_info("session %" PRIu64 ": closed", pss->ss->num);
			session_close(pss->ss);
			pss->ss = NULL;
			dispatch(s);
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (s != NULL && s->inf != NULL)
			drain_done(s);
		if (s != NULL && s->wr != NULL)
			writer_reap(s);
		return 0;
	default:
		break;
	}
	return 0;
}

/* clang-format off */
static const struct lws_protocols protocols[] = {
	{ "http", http_cb, sizeof(struct pss), 0, 0, NULL, 0 },
	{ API_SUBPROTOCOL, ws_cb, sizeof(struct pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};
/* clang-format on */

/* lws's own log lines go to ours. */
static void
lws_emit(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

int
server_open(struct server *s, struct err *e)
{
	struct lws_context_creation_info info;

	TAILQ_INIT(&s->sessions);
	TAILQ_INIT(&s->ring);
	s->t_start = clock_ms();
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
	memset(&info, 0, sizeof(info));
	info.port = s->cfg->listen_port;
	info.iface = s->cfg->listen_host;
	info.protocols = protocols;
	info.user = s;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (strchr(s->cfg->listen_host, ':') != NULL)
		info.options = 0;
	if (s->cfg->tls_cert[0] != '\0') {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = s->cfg->tls_cert;
		info.ssl_private_key_filepath = s->cfg->tls_key;
	}
	info.timeout_secs = 30;
	info.ka_time = 0;
	s->ctx = lws_create_context(&info);
	if (s->ctx == NULL)
		return err_set(e,
		               "listen %s: cannot create the listening "
		               "socket (address in use or not available?)",
		               s->cfg->listen);
	s->priv = xcalloc(1, sizeof(*s->priv));
	s->priv->s = s;
	lws_sul_schedule(s->ctx, 0, &s->priv->sul, tick, TICK_US);
	return 0;
}

void
server_run(struct server *s)
{
	while (!s->done)
		if (lws_service(s->ctx, 0) < 0)
			break;
}

void
server_close(struct server *s)
{
	if (s->ctx != NULL) {
		lws_sul_schedule(s->ctx, 0, &s->priv->sul, NULL,
		                 LWS_SET_TIMER_USEC_CANCEL);
		lws_context_destroy(s->ctx);
	}
	s->ctx = NULL;
	free(s->priv);
	s->priv = NULL;
}
