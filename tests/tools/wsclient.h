/* SPDX-License-Identifier: ISC */
/*
 * wsclient.h: a small libwebsockets client for pointd's integration tests
 * and benchmark (test-only code).  One struct wsc is one lws context that
 * holds any number of connections; every call that waits runs the lws
 * loop, so all connections make progress while a test waits on one.
 * Single-threaded: all calls from the thread that made the wsc.
 */
#ifndef TESTS_TOOLS_WSCLIENT_H
#define TESTS_TOOLS_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct wsc;
struct wsc_conn;

struct wsc *wsc_new(void);
void wsc_free(struct wsc *w);

/*
 * Start a connection to ws://127.0.0.1:port/path with the subprotocol
 * (NULL for none) and, if token is non-NULL, an Authorization: Bearer
 * header.  Returns at once; wsc_wait_open() waits.
 */
struct wsc_conn *wsc_connect(struct wsc *w, int port, const char *path,
                             const char *subprotocol, const char *token);
/* Wait until the connection is open (0) or failed or timed out (-1). */
int wsc_wait_open(struct wsc_conn *c, int timeout_ms);
/* Queue a text or binary message (copied). */
void wsc_send_text(struct wsc_conn *c, const char *s);
void wsc_send_bin(struct wsc_conn *c, const void *p, size_t n);
/* printf into a text message. */
void wsc_sendf(struct wsc_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The next message, parsed (caller json_decref's), or NULL on timeout,
 * close or a message that is not JSON. */
json_t *wsc_recv(struct wsc_conn *c, int timeout_ms);
/* Messages received and not yet taken. */
int wsc_pending(const struct wsc_conn *c);
/* Stop reading from the socket (a client that never reads). */
void wsc_stall(struct wsc_conn *c);
/* Close the TCP connection at once, without a WebSocket close. */
void wsc_drop(struct wsc_conn *c);
/* True once the server closed the connection. */
bool wsc_closed(const struct wsc_conn *c);
/* Run the loop for about ms milliseconds. */
void wsc_service(struct wsc *w, int ms);
/* Run the loop once: until the first event, or at most ms milliseconds. */
void wsc_poll(struct wsc *w, int ms);

/* Plain blocking HTTP/1.1 request to 127.0.0.1:port with a timeout;
 * returns the status (body copied into body, NUL-terminated) or -1. */
int wsc_http(int port, const char *method, const char *path,
             const char *content, size_t content_len, char *body,
             size_t body_size, int timeout_ms);

/* The same with extra header lines (each ending in \r\n), which may set
 * Content-Type (the default is application/json). */
int wsc_http_h(int port, const char *method, const char *path,
               const char *headers, const char *content, size_t content_len,
               char *body, size_t body_size, int timeout_ms);

#endif
