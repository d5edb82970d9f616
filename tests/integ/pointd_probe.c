/* SPDX-License-Identifier: ISC */
/*
 * pointd_probe.c: one-shot checks against a running pointd, for the shell
 * tests (test-only code):
 *	pointd_probe health PORT           GET /healthz is 200: exit 0
 *	pointd_probe hello PORT TOKEN|-    hello gets ready: exit 0, prints
 *	                                   "ready" or the error code
 *	pointd_probe slow PORT PNG MS      hello, frame, a point that the test
 *	                                   backend works on for MS ms; prints
 *	                                   the reply's type (or error code)
 *	pointd_probe idle PORT SECONDS     hello, then silence: exit 0 if the
 *	                                   daemon sends timeout and closes
 *	                                   within SECONDS
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tools/testutil.h"
#include "tests/tools/wsclient.h"

/* The type of j, or its error code. */
static const char *
kind(json_t *j)
{
	const char *t;

	if (j == NULL)
		return "(nothing)";
	t = json_string_value(json_object_get(j, "type"));
	if (t != NULL && strcmp(t, "error") == 0)
		return json_string_value(json_object_get(j, "code"));
	return t != NULL ? t : "(no type)";
}

int
main(int argc, char *argv[])
{
	struct wsc *w;
	struct wsc_conn *c;
	json_t *j;
	void *png;
	size_t n;
	int port, ok;

	if (argc < 3)
		return 2;
	port = (int)strtol(argv[2], NULL, 10);
	if (strcmp(argv[1], "health") == 0)
		return wsc_http(port, "GET", "/healthz", NULL, 0, NULL, 0,
		                2000) == 200
		           ? 0
		           : 1;
	if (argc < 4)
		return 2;
	w = wsc_new();
	c = wsc_connect(w, port, "/v1", "pointd.v1", NULL);
	if (wsc_wait_open(c, 3000) == -1) {
		printf("(no connection)\n");
		wsc_free(w);
		return 1;
	}
	if (strcmp(argv[1], "hello") == 0) {
		if (strcmp(argv[3], "-") == 0)
			wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1}");
		else
			wsc_sendf(c,
			          "{\"type\":\"hello\",\"protocol\":1,"
			          "\"token\":\"%s\"}",
			          argv[3]);
		j = wsc_recv(c, 5000);
		printf("%s\n", kind(j));
		ok = j != NULL && strcmp(kind(j), "ready") == 0;
		json_decref(j);
		wsc_free(w);
		return ok ? 0 : 1;
	}
	if (strcmp(argv[1], "idle") == 0) {
		wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1}");
		json_decref(wsc_recv(c, 5000));
		j = wsc_recv(c, (int)strtol(argv[3], NULL, 10) * 1000);
		printf("%s\n", kind(j));
		ok = j != NULL && strcmp(kind(j), "timeout") == 0;
		json_decref(j);
		wsc_service(w, 500);
		ok = ok && wsc_closed(c);
		wsc_free(w);
		return ok ? 0 : 1;
	}
	if (strcmp(argv[1], "slow") == 0 && argc == 5) {
		png = tu_read_file(argv[3], &n);
		wsc_send_text(c, "{\"type\":\"hello\",\"protocol\":1}");
		json_decref(wsc_recv(c, 5000));
		wsc_send_text(c, "{\"type\":\"frame\",\"id\":\"f\","
		                 "\"format\":\"png\"}");
		wsc_send_bin(c, png, n);
		json_decref(wsc_recv(c, 5000));
		wsc_sendf(c,
		          "{\"type\":\"point\",\"id\":\"q\",\"frame\":\"f\","
		          "\"target\":\"sleep=%s\"}",
		          argv[4]);
		j = wsc_recv(c, 30000);
		printf("%s\n", kind(j));
		ok = j != NULL && strcmp(kind(j), "points") == 0;
		json_decref(j);
		free(png);
		wsc_free(w);
		return ok ? 0 : 1;
	}
	wsc_free(w);
	return 2;
}
