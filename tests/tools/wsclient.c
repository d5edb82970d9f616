/* SPDX-License-Identifier: ISC */
/*
 * wsclient.c: the test WebSocket client (see wsclient.h).  Each connection
 * keeps an outgoing list (sent one message per WRITEABLE callback, with
 * LWS_PRE headroom) and an incoming list of complete messages.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "tests/tools/wsclient.h"
#include "util/clock.h"
#include "util/buf.h"
#include "util/xmalloc.h"

struct msg {
	STAILQ_ENTRY(msg) entry;
	bool binary;
	size_t len;
	unsigned char *buf; /* LWS_PRE + len */
};

STAILQ_HEAD(msg_list, msg);

struct wsc_conn {
	struct wsc *w;
	struct lws *wsi;
	char *token;
	bool open, failed, closed, drop;
	struct msg_list out;
	struct msg_list in;
	int n_in;
	struct buf rx;
	struct wsc_conn *next;
};

struct wsc {
	struct lws_context *ctx;
	struct wsc_conn *conns;
	lws_sorted_usec_list_t sul; /* wakes lws_service at a deadline */
};

static int
cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
   size_t len)
{
	struct wsc_conn *c = user;
	struct msg *m;
	char **p;
	int n;

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
		if (!STAILQ_EMPTY(&c->out))
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c != NULL) {
			c->failed = true;
			c->closed = true;
			c->wsi = NULL;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		c->closed = true;
		c->wsi = NULL;
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi)) {
			buf_fini(&c->rx);
			buf_init(&c->rx, 64u << 20);
		}
		if (len > 0 && buf_append(&c->rx, in, len) == -1)
			return -1;
		if (!lws_is_final_fragment(wsi))
			return 0;
		m = xcalloc(1, sizeof(*m));
		m->buf = (unsigned char *)buf_steal(&c->rx, &m->len);
		m->binary = lws_frame_is_binary(wsi) != 0;
		STAILQ_INSERT_TAIL(&c->in, m, entry);
		c->n_in++;
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->drop)
			return -1;
		m = STAILQ_FIRST(&c->out);
		if (m == NULL)
			return 0;
		STAILQ_REMOVE_HEAD(&c->out, entry);
		n = lws_write(wsi, m->buf + LWS_PRE, m->len,
		              m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
		free(m->buf);
		free(m);
		if (n < 0)
			return -1;
		if (!STAILQ_EMPTY(&c->out))
			lws_callback_on_writable(wsi);
		return 0;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
    {"pointd.v1", cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

struct wsc *
wsc_new(void)
{
	struct lws_context_creation_info info;
	struct wsc *w = xcalloc(1, sizeof(*w));

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.fd_limit_per_thread = 1024;
	w->ctx = lws_create_context(&info);
	if (w->ctx == NULL) {
		fprintf(stderr, "wsclient: cannot create lws context\n");
		exit(99);
	}
	return w;
}

static void
msgs_free(struct msg_list *l)
{
	struct msg *m;

	while ((m = STAILQ_FIRST(l)) != NULL) {
		STAILQ_REMOVE_HEAD(l, entry);
		free(m->buf);
		free(m);
	}
}

void
wsc_free(struct wsc *w)
{
	struct wsc_conn *c, *n;

	if (w == NULL)
		return;
	lws_sul_schedule(w->ctx, 0, &w->sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
	lws_context_destroy(w->ctx);
	for (c = w->conns; c != NULL; c = n) {
		n = c->next;
		msgs_free(&c->out);
		msgs_free(&c->in);
		buf_fini(&c->rx);
		free(c->token);
		free(c);
	}
	free(w);
}

struct wsc_conn *
wsc_connect(struct wsc *w, int port, const char *path, const char *subprotocol,
            const char *token)
{
	struct lws_client_connect_info ci;
	struct wsc_conn *c = xcalloc(1, sizeof(*c));

	c->w = w;
	STAILQ_INIT(&c->out);
	STAILQ_INIT(&c->in);
	buf_init(&c->rx, 64u << 20);
	c->token = token != NULL ? xstrdup(token) : NULL;
	c->next = w->conns;
	w->conns = c;
	memset(&ci, 0, sizeof(ci));
	ci.context = w->ctx;
	ci.address = "127.0.0.1";
	ci.port = port;
	ci.path = path;
	ci.host = "127.0.0.1";
	ci.protocol = subprotocol;
	ci.ietf_version_or_minus_one = -1;
	ci.userdata = c;
	ci.pwsi = &c->wsi;
	if (lws_client_connect_via_info(&ci) == NULL) {
		c->failed = true;
		c->closed = true;
	}
	return c;
}

static void
wake(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

/*
 * Service once, waking at the latest at end (ms).  lws 4.1 ignores the
 * timeout of lws_service() (it waits for an event or a timer), so a timer
 * bounds the wait.  A timer that is already due fires before the poll and
 * would leave it unbounded, so the last millisecond is a plain poll.
 */
static void
service_until(struct wsc *w, double end)
{
	double left = end - clock_ms();

	if (left < 2) {
		lws_service(w->ctx, -1);
		return;
	}
	lws_sul_schedule(w->ctx, 0, &w->sul, wake, (lws_usec_t)(left * 1000));
	lws_service(w->ctx, 0);
}

void
wsc_poll(struct wsc *w, int ms)
{
	service_until(w, clock_ms() + ms);
}

void
wsc_service(struct wsc *w, int ms)
{
	double end = clock_ms() + ms;

	do
		service_until(w, end);
	while (clock_ms() < end);
}

int
wsc_wait_open(struct wsc_conn *c, int timeout_ms)
{
	double end = clock_ms() + timeout_ms;

	while (!c->open && !c->failed && !c->closed && clock_ms() < end)
		service_until(c->w, end);
	return c->open && !c->closed ? 0 : -1;
}

static void
queue_msg(struct wsc_conn *c, const void *p, size_t n, bool binary)
{
	struct msg *m = xcalloc(1, sizeof(*m));

	m->buf = xmalloc(LWS_PRE + n + 1);
	if (n > 0)
		memcpy(m->buf + LWS_PRE, p, n);
	m->len = n;
	m->binary = binary;
	STAILQ_INSERT_TAIL(&c->out, m, entry);
	if (c->wsi != NULL && c->open)
		lws_callback_on_writable(c->wsi);
}

void
wsc_send_bin(struct wsc_conn *c, const void *p, size_t n)
{
	queue_msg(c, p, n, true);
}

void
wsc_send_text(struct wsc_conn *c, const char *s)
{
	queue_msg(c, s, strlen(s), false);
}

void
wsc_sendf(struct wsc_conn *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	wsc_send_text(c, s);
	free(s);
}

json_t *
wsc_recv(struct wsc_conn *c, int timeout_ms)
{
	double end = clock_ms() + timeout_ms;
	struct msg *m;
	json_t *j;

	while (STAILQ_EMPTY(&c->in) && !c->closed && clock_ms() < end)
		service_until(c->w, end);
	m = STAILQ_FIRST(&c->in);
	if (m == NULL)
		return NULL;
	STAILQ_REMOVE_HEAD(&c->in, entry);
	c->n_in--;
	j = json_loadb((const char *)m->buf, m->len, 0, NULL);
	free(m->buf);
	free(m);
	return j;
}

int
wsc_pending(const struct wsc_conn *c)
{
	return c->n_in;
}

void
wsc_stall(struct wsc_conn *c)
{
	if (c->wsi != NULL)
		lws_rx_flow_control(c->wsi, 0);
}

void
wsc_drop(struct wsc_conn *c)
{
	c->drop = true;
	if (c->wsi != NULL) {
		/* Kill the socket without a close handshake. */
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND,
		                LWS_TO_KILL_SYNC);
		c->wsi = NULL;
	}
	c->closed = true;
}

bool
wsc_closed(const struct wsc_conn *c)
{
	return c->closed;
}

/* Write all of p or fail. */
static int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t k;

	while (n > 0) {
		k = send(fd, s, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

int
wsc_http(int port, const char *method, const char *path, const char *content,
         size_t content_len, char *body, size_t body_size, int timeout_ms)
{
	return wsc_http_h(port, method, path, NULL, content, content_len, body,
	                  body_size, timeout_ms);
}

int
wsc_http_h(int port, const char *method, const char *path, const char *headers,
           const char *content, size_t content_len, char *body,
           size_t body_size, int timeout_ms)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	char hdr[2048], *resp;
	size_t got = 0, cap = 1 << 20;
	double end = clock_ms() + timeout_ms;
	int fd, status = -1, n;
	char *p;
	ssize_t k;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	if (headers == NULL)
		headers = "";
	n = snprintf(hdr, sizeof(hdr),
	             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "Connection: close\r\n%s%s"
	             "Content-Length: %zu\r\n\r\n",
	             method, path, headers,
	             strcasestr(headers, "content-type:") != NULL
	                 ? ""
	                 : "Content-Type: application/json\r\n",
	             content_len);
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		close(fd);
		return -1;
	}
	if (write_all(fd, hdr, (size_t)n) == -1 ||
	    (content_len > 0 && write_all(fd, content, content_len) == -1)) {
		close(fd);
		return -1;
	}
	resp = xmalloc(cap + 1);
	for (;;) {
		int left = (int)(end - clock_ms());

		if (left <= 0)
			break;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) <= 0)
			break;
		k = recv(fd, resp + got, cap - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
		resp[got] = '\0';
		/* Done when the body has Content-Length bytes. */
		p = strstr(resp, "\r\n\r\n");
		if (p != NULL) {
			char *cl = strcasestr(resp, "content-length:");
			if (cl != NULL && cl < p &&
			    got >= (size_t)(p + 4 - resp) +
			               strtoul(cl + 15, NULL, 10))
				break;
		}
		if (got == cap)
			break;
	}
	close(fd);
	resp[got] = '\0';
	if (got > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0)
		status = (int)strtol(resp + 9, NULL, 10);
	if (body != NULL && body_size > 0) {
		p = strstr(resp, "\r\n\r\n");
		snprintf(body, body_size, "%s", p != NULL ? p + 4 : "");
	}
	free(resp);
	return status;
}
