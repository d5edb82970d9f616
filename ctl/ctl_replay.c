/* SPDX-License-Identifier: ISC */
/*
 * ctl_replay.c: pointctl replay: run every request of a recorded session
 * again, on its recorded frame, with the in-process Molmo engine (--model
 * DIR), and compare the new answers with the recorded ones.
 *
 *   replay [--database PATH] [-f FILE] --model DIR | --url URL
 *          [--token T] [--tolerance PX] [--threads N]
 *          [--max-new-tokens N] [--json] SESSION
 *
 * --url sends the requests to a running pointd instead (ws://HOST:PORT or
 * wss://, path /v1 by default; the token from --token or $POINTD_TOKEN),
 * each with its recorded frame, one at a time; pointd then uses its own
 * max_new_tokens.
 *
 * Per request it prints the number of points before and after, the
 * distance each point moved (points are paired in order), and whether the
 * answer went from some points to none or back.  A request "changed" when a
 * point moved more than --tolerance pixels (default 2), the count or the
 * none flag changed, or, when neither answer has points, its text changed
 * (then the text is the answer).  Exit status 1 when any request changed.
 * Point requests are sent as pointd's Molmo backend sends them ("Point to
 * TARGET" unless the target is already an instruction); ask requests as
 * they are.  --json prints one document, which `pointctl report --replay`
 * reads.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "ctl/ctl.h"
#include "image/image.h"
#include "model/answer.h"
#include "model/model.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* One recorded request, copied out of the store's callback. */
struct rreq {
	int64_t id;
	char frame[STORE_HASH_LEN];
	char *kind, *target, *points, *raw, *error, *options;
	bool none, answered;
};

struct rlist {
	struct rreq *v;
	size_t n;
};

static int
collect(void *arg, const struct store_request *rq, const struct store_frame *f,
        const struct store_answer *a)
{
	struct rlist *l = arg;
	struct rreq *r;

	(void)f;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	r = &l->v[l->n++];
	memset(r, 0, sizeof(*r));
	r->id = rq->id;
	str_copy(r->frame, rq->frame, sizeof(r->frame));
	r->kind = xstrdup(rq->kind != NULL ? rq->kind : "point");
	r->target = xstrdup(rq->target != NULL ? rq->target : "");
	r->options = rq->options != NULL ? xstrdup(rq->options) : NULL;
	if (a != NULL) {
		r->answered = true;
		r->none = a->none;
		r->points = a->points != NULL ? xstrdup(a->points) : NULL;
		r->raw = a->raw != NULL ? xstrdup(a->raw) : NULL;
		r->error = a->error != NULL ? xstrdup(a->error) : NULL;
	}
	return 0;
}

static void
rlist_fini(struct rlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].kind);
		free(l->v[i].target);
		free(l->v[i].points);
		free(l->v[i].raw);
		free(l->v[i].error);
		free(l->v[i].options);
	}
	free(l->v);
}

/* The prompt pointd's Molmo backend sends for a point target. */
static char *
point_prompt(const char *target)
{
	static const char *const as_is[] = {"point",  "how many", "count",
	                                    "locate", "click",    "pointing:"};
	size_t i, n;
	char *p;

	for (i = 0; i < sizeof(as_is) / sizeof(as_is[0]); i++)
		if (strncasecmp(target, as_is[i], strlen(as_is[i])) == 0)
			return xstrdup(target);
	n = strlen(target) + sizeof("Point to ");
	p = xmalloc(n);
	snprintf(p, n, "Point to %s", target);
	return p;
}

/* A JSON string that survives text that is not UTF-8. */
static json_t *
jtext(const char *s)
{
	json_t *v;
	char *c;
	size_t i;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	c = xstrdup(s);
	for (i = 0; c[i] != '\0'; i++)
		if ((unsigned char)c[i] >= 0x80)
			c[i] = '?';
	v = json_string(c);
	free(c);
	return v;
}

/* Run one request; fills *pts (a JSON array of {x,y,label}), *none and
 * *raw (malloc'd).  Returns 0 or -1 with e set. */
static int
rerun(struct model_session *ms, struct store *st, const struct rreq *r,
      int max_new_tokens, json_t **pts, bool *none, char **raw, struct err *e)
{
	struct model_request mr = model_request_default();
	struct model_result res;
	struct model_image mi;
	struct image img;
	struct answer ans;
	void *bytes;
	size_t len, i;
	char *prompt;
	int rc;

	*pts = json_array();
	*none = false;
	*raw = NULL;
	if (r->frame[0] == '\0')
		return err_set(e, "request %" PRId64 " has no frame", r->id);
	bytes = store_frame_bytes(st, r->frame, &len, NULL, e);
	if (bytes == NULL)
		return -1;
	memset(&img, 0, sizeof(img));
	rc = image_decode(bytes, len, NULL, &img, e);
	free(bytes);
	if (rc == -1)
		return -1;
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	prompt = strcmp(r->kind, "ask") == 0 ? xstrdup(r->target)
	                                     : point_prompt(r->target);
	mr.image = &mi;
	mr.prompt = prompt;
	mr.max_new_tokens = max_new_tokens;
	rc = model_run(ms, &mr, &res, e);
	free(prompt);
	if (rc == -1) {
		image_fini(&img);
		return -1;
	}
	*raw = xstrdup(res.text);
	if (answer_parse(res.text, img.w, img.h, &ans, e) == 0) {
		*none = ans.none;
		for (i = 0; i < ans.n; i++) {
			const struct answer_tag *t = &ans.tags[ans.pts[i].tag];
			const char *label = t->alt != NULL ? t->alt : t->label;
			json_t *p = json_pack("{s:f,s:f}", "x", ans.pts[i].x,
			                      "y", ans.pts[i].y);

			if (label != NULL)
				json_object_set_new(p, "label", jtext(label));
			json_array_append_new(*pts, p);
		}
		answer_fini(&ans);
	}
	image_fini(&img);
	return 0;
}

/* ---- A running pointd (--url) ---- */

#define WS_TIMEOUT_MS 300000 /* one answer, queueing included */

/* One WebSocket connection to pointd, driven synchronously. */
struct ws {
	struct lws_context *ctx;
	struct lws *wsi;
	char *token;
	bool open, closed;
	struct buf rx;
	json_t *inbox; /* messages received and not yet taken (array) */
	/* Messages to send, in order: text or binary, LWS_PRE headroom. */
	unsigned char *out[4];
	size_t out_len[4];
	bool out_bin[4];
	int n_out;
	char frame_hash[STORE_HASH_LEN]; /* the frame pointd holds as "f" */
};

static int
ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
      size_t len)
{
	struct ws *c = user;
	char **p;
	int n, i;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (c == NULL || c->token == NULL)
			return 0;
		p = in;
		n = snprintf(*p, len, "Authorization: Bearer %s\r\n", c->token);
		if (n < 0 || (size_t)n >= len)
			return -1;
		*p += n;
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->open = true;
		if (c->n_out > 0)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c != NULL) {
			c->closed = true;
			c->wsi = NULL;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi))
			buf_reset(&c->rx);
		if (len > 0 && buf_append(&c->rx, in, len) == -1)
			return -1;
		if (!lws_is_final_fragment(wsi))
			return 0;
		json_array_append_new(
		    c->inbox, json_loadb(c->rx.data != NULL ? c->rx.data : "",
		                         c->rx.len, 0, NULL));
		buf_reset(&c->rx);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->n_out == 0)
			return 0;
		n = lws_write(wsi, c->out[0] + LWS_PRE, c->out_len[0],
		              c->out_bin[0] ? LWS_WRITE_BINARY
		                            : LWS_WRITE_TEXT);
		free(c->out[0]);
		for (i = 1; i < c->n_out; i++) {
			c->out[i - 1] = c->out[i];
			c->out_len[i - 1] = c->out_len[i];
			c->out_bin[i - 1] = c->out_bin[i];
		}
		c->n_out--;
		if (n < 0)
			return -1;
		if (c->n_out > 0)
			lws_callback_on_writable(wsi);
		return 0;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols ws_protocols[] = {
    {"pointd.v1", ws_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Queue a message (copied). */
static void
ws_send(struct ws *c, const void *p, size_t n, bool binary)
{
	if (c->n_out == 4)
		return; /* never more than a frame and a request */
	c->out[c->n_out] = xmalloc(LWS_PRE + n);
	memcpy(c->out[c->n_out] + LWS_PRE, p, n);
	c->out_len[c->n_out] = n;
	c->out_bin[c->n_out] = binary;
	c->n_out++;
	if (c->open && c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
}

static void
ws_send_json(struct ws *c, json_t *o)
{
	char *t = json_dumps(o, JSON_COMPACT);

	if (t != NULL)
		ws_send(c, t, strlen(t), false);
	free(t);
	json_decref(o);
}

/* Run the loop until a message with type in types (space separated) and,
 * if id is not NULL, that id arrives; returns it or NULL with e set. */
static json_t *
ws_wait(struct ws *c, const char *types, const char *id, struct err *e)
{
	struct timespec t0, t;
	double ms;
	json_t *m;
	const char *ty, *mid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (json_array_size(c->inbox) > 0) {
			m = json_incref(json_array_get(c->inbox, 0));
			json_array_remove(c->inbox, 0);
			ty = json_string_value(json_object_get(m, "type"));
			mid = json_string_value(json_object_get(m, "id"));
			if (ty != NULL && strcmp(ty, "error") == 0 &&
			    (id == NULL || mid == NULL ||
			     strcmp(mid, id) == 0)) {
				err_set(e, "pointd: %s: %s",
				        json_string_value(
				            json_object_get(m, "code")),
				        json_string_value(
				            json_object_get(m, "message")));
				json_decref(m);
				return NULL;
			}
			if (ty != NULL && strstr(types, ty) != NULL &&
			    (id == NULL ||
			     (mid != NULL && strcmp(mid, id) == 0)))
				return m;
			json_decref(m);
			continue;
		}
		if (c->closed) {
			err_set(e, "pointd closed the connection");
			return NULL;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (double)(t.tv_sec - t0.tv_sec) * 1e3 +
		     (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
		if (ms > WS_TIMEOUT_MS) {
			err_set(e, "no answer from pointd within %d s",
			        WS_TIMEOUT_MS / 1000);
			return NULL;
		}
		lws_service(c->ctx, 0);
	}
}

static void
ws_close(struct ws *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		lws_context_destroy(c->ctx);
	while (c->n_out > 0)
		free(c->out[--c->n_out]);
	json_decref(c->inbox);
	buf_fini(&c->rx);
	free(c->token);
	free(c);
}

/* Connect to url (ws://HOST:PORT[/PATH], wss:// for TLS) and say hello.
 * Returns NULL with e set. */
static struct ws *
ws_open(const char *url, const char *token, struct err *e)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	const char *prot, *addr, *path;
	char tmp[1024];
	struct ws *c;
	json_t *m;
	int port;

	if (str_copy(tmp, url, sizeof(tmp)) >= sizeof(tmp) ||
	    lws_parse_uri(tmp, &prot, &addr, &port, &path) != 0 ||
	    (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0)) {
		err_set(e, "--url %s: expected ws://HOST:PORT[/PATH]", url);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	buf_init(&c->rx, 64u << 20);
	c->inbox = json_array();
	c->token = token != NULL ? xstrdup(token) : NULL;
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	if (strcmp(prot, "wss") == 0)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	c->ctx = lws_create_context(&info);
	if (c->ctx == NULL) {
		err_set(e, "cannot create a libwebsockets context");
		goto fail;
	}
	memset(&ci, 0, sizeof(ci));
	ci.context = c->ctx;
	ci.address = addr;
	ci.port = port;
	ci.path = path[0] != '\0' ? path : "/v1";
	if (strcmp(ci.path, "/") == 0)
		ci.path = "/v1";
	ci.host = addr;
	ci.origin = NULL;
	ci.protocol = "pointd.v1";
	ci.ietf_version_or_minus_one = -1;
	ci.userdata = c;
	ci.pwsi = &c->wsi;
	if (strcmp(prot, "wss") == 0)
		ci.ssl_connection = LCCSCF_USE_SSL;
	if (lws_client_connect_via_info(&ci) == NULL) {
		err_set(e, "%s: cannot connect", url);
		goto fail;
	}
	m = json_pack("{s:s,s:i,s:s,s:s}", "type", "hello", "protocol", 1,
	              "client", "pointctl-replay", "session", "replay");
	if (token != NULL)
		json_object_set_new(m, "token", json_string(token));
	ws_send_json(c, m);
	m = ws_wait(c, "ready", NULL, e);
	if (m == NULL) {
		err_prefix(e, "%s", url);
		goto fail;
	}
	json_decref(m);
	return c;
fail:
	ws_close(c);
	return NULL;
}

/* Send request r to pointd (its frame first when pointd lacks it). */
static int
ws_rerun(struct ws *c, struct store *st, const struct rreq *r, json_t **pts,
         bool *none, char **raw, struct err *e)
{
	struct store_frame meta;
	json_t *m, *o, *p, *src;
	const char *t;
	char id[32];
	void *bytes;
	size_t len, i;

	*pts = json_array();
	*none = false;
	*raw = NULL;
	if (r->frame[0] == '\0')
		return err_set(e, "request %" PRId64 " has no frame", r->id);
	if (strcmp(c->frame_hash, r->frame) != 0) {
		bytes = store_frame_bytes(st, r->frame, &len, &meta, e);
		if (bytes == NULL)
			return -1;
		ws_send_json(
		    c,
		    json_pack("{s:s,s:s,s:s,s:f}", "type", "frame", "id", "f",
		              "format",
		              strcmp(meta.format, "jpeg") == 0 ? "jpeg" : "png",
		              "dpr", meta.dpr > 0 ? meta.dpr : 1.0));
		ws_send(c, bytes, len, true);
		free(bytes);
		m = ws_wait(c, "frame", "f", e);
		if (m == NULL)
			return -1;
		json_decref(m);
		str_copy(c->frame_hash, r->frame, sizeof(c->frame_hash));
	}
	snprintf(id, sizeof(id), "r%" PRId64, r->id);
	o = json_pack("{s:s,s:s,s:s}", "type",
	              strcmp(r->kind, "ask") == 0 ? "ask" : "point", "id", id,
	              "frame", "f");
	json_object_set_new(o,
	                    strcmp(r->kind, "ask") == 0 ? "prompt" : "target",
	                    jtext(r->target));
	if (r->options != NULL) {
		json_t *opt = json_loads(r->options, 0, NULL);
		json_t *mp = json_object_get(opt, "max_points");

		if (json_is_integer(mp))
			json_object_set(o, "max_points", mp);
		json_decref(opt);
	}
	ws_send_json(c, o);
	m = ws_wait(c, "points answer", id, e);
	if (m == NULL)
		return -1;
	*none = json_is_true(json_object_get(m, "none"));
	t = json_string_value(json_object_get(m, "raw"));
	if (t == NULL)
		t = json_string_value(json_object_get(m, "text"));
	*raw = xstrdup(t != NULL ? t : "");
	json_array_foreach(json_object_get(m, "points"), i, src)
	{
		p = json_pack("{s:f,s:f}", "x",
		              json_number_value(json_object_get(src, "x")), "y",
		              json_number_value(json_object_get(src, "y")));
		if (json_is_string(json_object_get(src, "label")))
			json_object_set(p, "label",
			                json_object_get(src, "label"));
		json_array_append_new(*pts, p);
	}
	json_decref(m);
	return 0;
}

static double
num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

int
ctl_replay(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"database", required_argument, NULL, 'd'},
	    {"model", required_argument, NULL, 'm'},
	    {"url", required_argument, NULL, 'u'},
	    {"token", required_argument, NULL, 'k'},
	    {"tolerance", required_argument, NULL, 't'},
	    {"threads", required_argument, NULL, 'T'},
	    {"max-new-tokens", required_argument, NULL, 'M'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	const char *dbarg = NULL, *conf = NULL, *model_dir = NULL, *es;
	const char *url = NULL, *token = getenv("POINTD_TOKEN");
	struct ws *ws = NULL;
	double tol = 2.0, max_all = 0;
	long long v, threads = 0, mnt = 64;
	struct store_params sp = store_params_default();
	struct model_params mp = model_params_default();
	struct model_session *ms = NULL;
	struct model *m = NULL;
	struct store *st = NULL;
	struct rlist l = {NULL, 0};
	bool json = false;
	json_t *doc = NULL, *reqs;
	int64_t sid;
	size_t i, k, n_changed = 0, n_failed = 0;
	char *db = NULL;
	struct err e;
	int c, rc = CTL_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dbarg = optarg;
			break;
		case 'f':
			conf = optarg;
			break;
		case 'm':
			model_dir = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'k':
			token = optarg;
			break;
		case 't':
			if (str_to_double(optarg, &tol) == -1 || tol < 0) {
				fprintf(stderr,
				        "pointctl: --tolerance %s: expected "
				        "pixels >= 0\n",
				        optarg);
				return CTL_USAGE;
			}
			break;
		case 'T':
			if (str_to_ll(optarg, 0, 256, &threads, &es) == -1) {
				fprintf(stderr, "pointctl: --threads %s: %s\n",
				        optarg, es);
				return CTL_USAGE;
			}
			break;
		case 'M':
			if (str_to_ll(optarg, 1, 4096, &mnt, &es) == -1) {
				fprintf(stderr,
				        "pointctl: --max-new-tokens %s: %s\n",
				        optarg, es);
				return CTL_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		default:
			return ctl_usage(argv[0]);
		}
	}
	if (optind != argc - 1 || (model_dir == NULL) == (url == NULL))
		return ctl_usage(argv[0]);
	if (str_to_ll(argv[optind], 1, INT64_MAX, &v, &es) == -1) {
		fprintf(stderr, "pointctl: session id %s: %s\n", argv[optind],
		        es);
		return CTL_USAGE;
	}
	sid = v;
	db = ctl_store_database(dbarg, conf);
	if (db == NULL)
		return CTL_USAGE;
	sp.readonly = true;
	sp.create = false;
	st = store_open(db, &sp, &e);
	if (st == NULL || store_requests(st, sid, collect, &l, &e) == -1) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		goto done;
	}
	{
		struct store_session ss;

		if (store_session(st, sid, &ss, &e) == -1) {
			fprintf(stderr, "pointctl: %s\n", e.msg);
			goto done;
		}
	}
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n > 0 ? n : 1;
	}
	mp.n_threads = (int)threads;
	if (url != NULL) {
		ws = ws_open(url, token, &e);
		if (ws == NULL) {
			fprintf(stderr, "pointctl: %s\n", e.msg);
			goto done;
		}
	} else {
		m = model_open(model_dir, &mp, &e);
		if (m == NULL || (ms = model_session_new(m, &e)) == NULL) {
			fprintf(stderr, "pointctl: %s: %s\n", model_dir, e.msg);
			goto done;
		}
	}
	doc = json_pack("{s:I,s:s,s:f}", "session", (json_int_t)sid, "model",
	                url != NULL ? url : model_dir, "tolerance", tol);
	reqs = json_array();
	json_object_set_new(doc, "requests", reqs);
	for (i = 0; i < l.n; i++) {
		struct rreq *r = &l.v[i];
		json_t *oldp, *newp, *moved = json_array(), *o;
		bool none = false, changed = false;
		double maxd = 0;
		char *raw = NULL;
		size_t no, nn;

		oldp =
		    r->points != NULL ? json_loads(r->points, 0, NULL) : NULL;
		if (!json_is_array(oldp)) {
			json_decref(oldp);
			oldp = json_array();
		}
		if ((ws != NULL ? ws_rerun(ws, st, r, &newp, &none, &raw, &e)
		                : rerun(ms, st, r, (int)mnt, &newp, &none, &raw,
		                        &e)) == -1) {
			fprintf(stderr, "pointctl: request %" PRId64 ": %s\n",
			        r->id, e.msg);
			n_failed++;
			changed = true;
		}
		no = json_array_size(oldp);
		nn = json_array_size(newp);
		for (k = 0; k < no && k < nn; k++) {
			json_t *a = json_array_get(oldp, k),
			       *b = json_array_get(newp, k);
			double d = hypot(num(a, "x") - num(b, "x"),
			                 num(a, "y") - num(b, "y"));

			json_array_append_new(moved, json_real(d));
			if (d > maxd)
				maxd = d;
		}
		if (maxd > tol || no != nn || none != r->none)
			changed = true;
		if (no == 0 && nn == 0 &&
		    strcmp(raw != NULL ? raw : "",
		           r->raw != NULL ? r->raw : "") != 0)
			changed = true;
		if (maxd > max_all)
			max_all = maxd;
		if (changed)
			n_changed++;
		o = json_pack("{s:I,s:s,s:o,s:s}", "request", (json_int_t)r->id,
		              "kind", r->kind, "target", jtext(r->target),
		              "frame", r->frame);
		json_object_set_new(o, "old",
		                    json_pack("{s:o,s:b,s:o,s:o}", "points",
		                              oldp, "none", r->none, "raw",
		                              jtext(r->raw), "error",
		                              jtext(r->error)));
		json_object_set_new(o, "new",
		                    json_pack("{s:o,s:b,s:o}", "points", newp,
		                              "none", none, "raw", jtext(raw)));
		json_object_set_new(o, "moved", moved);
		json_object_set_new(o, "max_moved", json_real(maxd));
		json_object_set_new(o, "changed", json_boolean(changed));
		json_array_append_new(reqs, o);
		if (!json) {
			printf("request %" PRId64 " %s \"%s\": %zu -> %zu "
			       "points%s, moved %.1f px%s%s\n",
			       r->id, r->kind, r->target, no, nn,
			       none != r->none
			           ? (none ? ", now none" : ", no longer none")
			           : "",
			       maxd,
			       no == 0 && nn == 0 && changed ? ", text changed"
			                                     : "",
			       changed ? "  CHANGED" : "");
		}
		free(raw);
	}
	json_object_set_new(
	    doc, "summary",
	    json_pack("{s:I,s:I,s:I,s:f}", "requests", (json_int_t)l.n,
	              "changed", (json_int_t)n_changed, "failed",
	              (json_int_t)n_failed, "max_moved", max_all));
	if (json) {
		json_dumpf(doc, stdout, JSON_INDENT(1));
		putchar('\n');
	} else {
		printf("session %" PRId64 ": %zu requests, %zu changed, "
		       "%zu failed, largest move %.1f px (tolerance %.1f)\n",
		       sid, l.n, n_changed, n_failed, max_all, tol);
	}
	rc = n_changed == 0 ? CTL_OK : CTL_FAIL;
done:
	json_decref(doc);
	ws_close(ws);
	model_session_free(ms);
	model_close(m);
	store_close(st);
	rlist_fini(&l);
	free(db);
	return rc;
}
