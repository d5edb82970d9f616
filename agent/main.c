/* SPDX-License-Identifier: ISC */
/*
 * main.c: pointagent's shell.  It finds the page's DevTools WebSocket with a
 * libcurl GET of http://127.0.0.1:PORT/json/list, then runs one lws context
 * with no listening port and two client connections, to Chromium and to
 * pointd, feeding every message to the state machine in agent.c and
 * carrying out the actions it returns.  Single-threaded.
 *
 * Phases: parse flags; discover the page; open the lws context and both
 * connections; run the loop until the agent is done or a connection drops;
 * tear down in reverse.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "agent/agent.h"
#include "protocol/api.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define MAX_CDP_MESSAGE    (96u << 20) /* screenshots are base64 PNGs */
#define MAX_POINTD_MESSAGE (1u << 20)
#define MAX_DISCOVERY      (1u << 20)

enum peer { PEER_CDP, PEER_POINTD };

struct out {
	TAILQ_ENTRY(out) entry;
	char *msg; /* LWS_PRE headroom, then len payload bytes */
	size_t len;
	bool binary;
};

struct conn {
	struct lws *wsi;
	struct buf in;          /* message being reassembled */
	TAILQ_HEAD(, out) outq; /* messages waiting for WRITEABLE */
	bool open;
};

static struct {
	struct agent *agent;
	struct conn conn[2];
	struct lws_context *ctx;
	lws_sorted_usec_list_t timer;
	int timeout_s;
	bool started, finished;
	int status;
} g;

static void
usage(void)
{
	fprintf(stderr,
	        "usage: pointagent [-nv] [-c port] [-T seconds] [-t token] "
	        "[-u url] target ...\n");
	exit(2);
}

static size_t
on_curl_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (buf_append(b, p, size * n) == -1)
		return 0;
	return size * n;
}

/* The webSocketDebuggerUrl of the first page target of Chromium. */
static char *
discover(int port, struct err *e)
{
	char url[128], ebuf[CURL_ERROR_SIZE] = "";
	json_error_t jerr;
	struct buf b;
	CURLcode cc;
	json_t *list, *t;
	char *ws = NULL;
	size_t i;
	CURL *c;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/json/list", port);
	buf_init(&b, MAX_DISCOVERY);
	c = curl_easy_init();
	if (c == NULL) {
		err_set(e, "curl_easy_init failed");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_curl_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		buf_fini(&b);
		err_set(e, "%s: %s", url,
		        ebuf[0] ? ebuf : curl_easy_strerror(cc));
		return NULL;
	}
	list = json_loadb(b.data != NULL ? b.data : "", b.len, 0, &jerr);
	buf_fini(&b);
	if (!json_is_array(list)) {
		json_decref(list);
		err_set(e, "%s: not a JSON array of targets", url);
		return NULL;
	}
	for (i = 0; i < json_array_size(list) && ws == NULL; i++) {
		t = json_array_get(list, i);
		const char *type =
		    json_string_value(json_object_get(t, "type"));
		const char *u = json_string_value(
		    json_object_get(t, "webSocketDebuggerUrl"));
		if (type != NULL && strcmp(type, "page") == 0 && u != NULL)
			ws = xstrdup(u);
	}
	json_decref(list);
	if (ws == NULL)
		err_set(e, "%s: Chromium has no page open", url);
	return ws;
}

static void
enqueue(enum peer p, char *msg, size_t len, bool binary)
{
	struct out *o = xcalloc(1, sizeof(*o));

	o->msg = msg;
	o->len = len;
	o->binary = binary;
	TAILQ_INSERT_TAIL(&g.conn[p].outq, o, entry);
	if (g.conn[p].wsi != NULL)
		lws_callback_on_writable(g.conn[p].wsi);
}

static void arm_timer(void);

/* Feed an event to the agent and carry out what it asks. */
static void
feed(const struct agent_ev *ev)
{
	struct agent_act acts[AGENT_MAX_ACTS];
	struct err e;
	int i, n;

	if (g.finished)
		return;
	if (agent_step(g.agent, ev, acts, &n, &e) == -1)
		fprintf(stderr, "pointagent: %s\n", e.msg);
	for (i = 0; i < n; i++) {
		switch (acts[i].type) {
		case AGENT_ACT_CDP:
			enqueue(PEER_CDP, acts[i].msg, acts[i].len, false);
			break;
		case AGENT_ACT_POINTD:
			enqueue(PEER_POINTD, acts[i].msg, acts[i].len, false);
			break;
		case AGENT_ACT_POINTD_BINARY:
			enqueue(PEER_POINTD, acts[i].msg, acts[i].len, true);
			break;
		case AGENT_ACT_REPORT:
			printf("%s\n", acts[i].msg + LWS_PRE);
			fflush(stdout);
			agent_act_fini(&acts[i]);
			break;
		case AGENT_ACT_DONE:
			g.finished = true;
			g.status = acts[i].status;
			break;
		}
	}
	if (g.finished)
		lws_cancel_service(g.ctx);
	else
		arm_timer();
}

static void
on_timeout(lws_sorted_usec_list_t *sul)
{
	struct agent_ev ev = {.type = AGENT_EV_TIMEOUT};

	(void)sul;
	feed(&ev);
}

static void
arm_timer(void)
{
	lws_sul_schedule(g.ctx, 0, &g.timer, on_timeout,
	                 (lws_usec_t)g.timeout_s * LWS_USEC_PER_SEC);
}

static int
on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user,
         void *in, size_t len)
{
	struct conn *c = NULL;
	enum peer p = PEER_CDP;
	struct agent_ev ev;
	struct out *o;

	(void)user;
	if (wsi == g.conn[PEER_CDP].wsi) {
		c = &g.conn[PEER_CDP];
	} else if (wsi == g.conn[PEER_POINTD].wsi) {
		c = &g.conn[PEER_POINTD];
		p = PEER_POINTD;
	}
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "pointagent: cannot connect to %s: %s\n",
		        p == PEER_CDP ? "Chromium" : "pointd",
		        in != NULL ? (const char *)in : "connection error");
		g.finished = true;
		g.status = 1;
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c == NULL)
			break;
		c->open = true;
		if (g.conn[0].open && g.conn[1].open && !g.started) {
			g.started = true;
			ev.type = AGENT_EV_START;
			ev.msg = NULL;
			ev.len = 0;
			feed(&ev);
		}
		if (!TAILQ_EMPTY(&c->outq))
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c == NULL)
			break;
		if (buf_append(&c->in, in, len) == -1) {
			fprintf(stderr,
			        "pointagent: message from %s too large\n",
			        p == PEER_CDP ? "Chromium" : "pointd");
			g.finished = true;
			g.status = 1;
			return -1;
		}
		if (!lws_is_final_fragment(wsi) ||
		    lws_remaining_packet_payload(wsi) > 0)
			break;
		ev.type = p == PEER_CDP ? AGENT_EV_CDP : AGENT_EV_POINTD;
		ev.msg = c->in.data;
		ev.len = c->in.len;
		feed(&ev);
		buf_reset(&c->in);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c == NULL || (o = TAILQ_FIRST(&c->outq)) == NULL)
			break;
		TAILQ_REMOVE(&c->outq, o, entry);
		if (lws_write(wsi, (unsigned char *)o->msg + LWS_PRE, o->len,
		              o->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) <
		    (int)o->len) {
			free(o->msg);
			free(o);
			return -1;
		}
		free(o->msg);
		free(o);
		if (!TAILQ_EMPTY(&c->outq))
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c != NULL) {
			c->open = false;
			c->wsi = NULL;
		}
		if (!g.finished) {
			fprintf(stderr,
			        "pointagent: %s closed the connection\n",
			        p == PEER_CDP ? "Chromium" : "pointd");
			g.finished = true;
			g.status = 1;
		}
		break;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		break;
	default:
		break;
	}
	return 0;
}

/* clang-format off */
static const struct lws_protocols protocols[] = {
	{ API_SUBPROTOCOL, on_event, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};
/* clang-format on */

/* Connect to url (ws://host:port/path); url is modified in place. */
static struct lws *
connect_to(char *url, const char *subprotocol, struct lws **pwsi, struct err *e)
{
	struct lws_client_connect_info ci;
	const char *prot, *ads, *path;
	char fullpath[1024];
	int port;

	if (lws_parse_uri(url, &prot, &ads, &port, &path) != 0 ||
	    strcmp(prot, "ws") != 0) {
		err_set(e, "%s: not a ws:// URL", url);
		return NULL;
	}
	snprintf(fullpath, sizeof(fullpath), "/%s", path);
	memset(&ci, 0, sizeof(ci));
	ci.context = g.ctx;
	ci.address = ads;
	ci.port = port;
	ci.path = fullpath;
	ci.host = ads;
	ci.protocol = subprotocol;
	ci.local_protocol_name = API_SUBPROTOCOL;
	ci.pwsi = pwsi; /* set before any callback can run */
	if (lws_client_connect_via_info(&ci) == NULL) {
		err_set(e, "cannot start a connection to %s", ads);
		return NULL;
	}
	return *pwsi;
}

static void
drain(struct conn *c)
{
	struct out *o;

	while ((o = TAILQ_FIRST(&c->outq)) != NULL) {
		TAILQ_REMOVE(&c->outq, o, entry);
		free(o->msg);
		free(o);
	}
	buf_fini(&c->in);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct agent_params ap;
	const char *token = NULL, *errstr;
	char *pointd_url, *cdp_url;
	int ch, verbose = 0, i, cdp_port = 9222;
	long long v;
	struct err e;
	char client[64];

	memset(&ap, 0, sizeof(ap));
	pointd_url = xstrdup("ws://127.0.0.1:7755/v1");
	g.timeout_s = 600;
	while ((ch = getopt(argc, argv, "c:nT:t:u:v")) != -1) {
		switch (ch) {
		case 'c':
			if (str_to_ll(optarg, 1, 65535, &v, &errstr) == -1) {
				fprintf(stderr, "pointagent: -c: %s\n", errstr);
				return 2;
			}
			cdp_port = (int)v;
			break;
		case 'n':
			ap.dry_run = true;
			break;
		case 'T':
			if (str_to_ll(optarg, 1, 86400, &v, &errstr) == -1) {
				fprintf(stderr, "pointagent: -T: %s\n", errstr);
				return 2;
			}
			g.timeout_s = (int)v;
			break;
		case 't':
			token = optarg;
			break;
		case 'u':
			free(pointd_url);
			pointd_url = xstrdup(optarg);
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();

	/* Discover the page before any thread exists (curl_global_init). */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cdp_url = discover(cdp_port, &e);
	curl_global_cleanup();
	if (cdp_url == NULL) {
		fprintf(stderr, "pointagent: %s\n", e.msg);
		return 1;
	}

	snprintf(client, sizeof(client), "pointagent/%s", PACKAGE_VERSION);
	ap.targets = (const char *const *)argv;
	ap.n_targets = argc;
	ap.token = token;
	ap.client = client;
	ap.pre = LWS_PRE;
	g.agent = agent_new(&ap);
	for (i = 0; i < 2; i++) {
		buf_init(&g.conn[i].in,
		         i == PEER_CDP ? MAX_CDP_MESSAGE : MAX_POINTD_MESSAGE);
		TAILQ_INIT(&g.conn[i].outq);
	}

	lws_set_log_level(verbose > 0 ? LLL_ERR | LLL_WARN : 0, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	g.ctx = lws_create_context(&info);
	if (g.ctx == NULL) {
		fprintf(stderr, "pointagent: cannot create the lws context\n");
		return 1;
	}
	/* No Origin header: Chromium rejects Origins it does not allow. */
	if (connect_to(cdp_url, NULL, &g.conn[PEER_CDP].wsi, &e) != NULL)
		connect_to(pointd_url, API_SUBPROTOCOL,
		           &g.conn[PEER_POINTD].wsi, &e);
	if (g.conn[PEER_CDP].wsi == NULL || g.conn[PEER_POINTD].wsi == NULL) {
		fprintf(stderr, "pointagent: %s\n", e.msg);
		g.finished = true;
		g.status = 1;
	} else {
		arm_timer();
	}
	while (!g.finished && lws_service(g.ctx, 0) >= 0)
		;

	lws_sul_cancel(&g.timer);
	lws_context_destroy(g.ctx);
	for (i = 0; i < 2; i++)
		drain(&g.conn[i]);
	agent_free(g.agent);
	free(cdp_url);
	free(pointd_url);
	return g.status;
}
