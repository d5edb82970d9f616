/* SPDX-License-Identifier: ISC */
/*
 * bench_ws.c: pointd's service overhead under concurrent WebSocket load.
 *
 * N clients (default 50) connect to a running pointd on 127.0.0.1, say
 * hello, submit one frame each, then each sends R point requests one
 * after another (so N are in flight at once).  For every answer it takes
 * the round trip measured here and the engine's time reported in
 * timing_ms (preprocess + vision + prefill + decode) and the time queued
 * behind other requests; the daemon's overhead is
 *	round trip - queue - engine,
 * i.e. everything pointd adds: WebSocket framing, JSON, scheduling,
 * handoffs between threads and image decoding outside the engine.
 * It prints medians and 99th percentiles, requests per second, and the
 * overhead as a share of the round trip.  bench/bench_ws.sh starts pointd.
 *
 * usage: bench_ws -p port -i image.png [-n clients] [-r requests]
 *                 [-t target] [-k token]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "tests/tools/wsclient.h"
#include "util/clock.h"
#include "util/xmalloc.h"

struct client {
	struct wsc_conn *c;
	int sent, done;
	double t_sent;
};

/* The q-quantile of n sorted values. */
static double
quantile(const double *v, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);

	return n > 0 ? v[i] : 0;
}

static double
num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

int
main(int argc, char *argv[])
{
	const char *image = NULL, *target = "the Search button", *token = NULL;
	int port = 0, n = 50, r = 20, ch, i, k, total, got = 0, errors = 0;
	double *rtt, *over, *eng, *queue, t0, t1;
	struct client *cl;
	unsigned char *png;
	struct wsc *w;
	size_t len;
	json_t *j, *t;

	while ((ch = getopt(argc, argv, "i:k:n:p:r:t:")) != -1) {
		switch (ch) {
		case 'i':
			image = optarg;
			break;
		case 'k':
			token = optarg;
			break;
		case 'n':
			n = (int)strtol(optarg, NULL, 10);
			break;
		case 'p':
			port = (int)strtol(optarg, NULL, 10);
			break;
		case 'r':
			r = (int)strtol(optarg, NULL, 10);
			break;
		case 't':
			target = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (port <= 0 || image == NULL || n < 1 || n > 1000 || r < 1)
		goto usage;
	png = bench_read_file("bench_ws", image, (size_t)1 << 30, &len);
	total = n * r;
	rtt = xcalloc((size_t)total, sizeof(*rtt));
	over = xcalloc((size_t)total, sizeof(*over));
	eng = xcalloc((size_t)total, sizeof(*eng));
	queue = xcalloc((size_t)total, sizeof(*queue));
	cl = xcalloc((size_t)n, sizeof(*cl));
	w = wsc_new();
	for (i = 0; i < n; i++)
		cl[i].c = wsc_connect(w, port, "/v1", "pointd.v1", token);
	for (i = 0; i < n; i++) {
		if (wsc_wait_open(cl[i].c, 10000) == -1) {
			fprintf(stderr, "bench_ws: client %d cannot connect\n",
			        i);
			return 1;
		}
		wsc_send_text(cl[i].c, "{\"type\":\"hello\",\"protocol\":1}");
		wsc_send_text(cl[i].c, "{\"type\":\"frame\",\"id\":\"f\","
		                       "\"format\":\"png\"}");
		wsc_send_bin(cl[i].c, png, len);
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < 2; k++) {
			j = wsc_recv(cl[i].c, 30000);
			if (j == NULL ||
			    strcmp(
			        json_string_value(json_object_get(j, "type")),
			        k == 0 ? "ready" : "frame") != 0) {
				fprintf(stderr, "bench_ws: client %d: no %s\n",
				        i, k == 0 ? "ready" : "frame ack");
				return 1;
			}
			json_decref(j);
		}
	t0 = clock_ms();
	for (i = 0; i < n; i++) {
		wsc_sendf(cl[i].c,
		          "{\"type\":\"point\",\"id\":\"q0\",\"frame\":"
		          "\"f\",\"target\":\"%s\"}",
		          target);
		cl[i].t_sent = clock_ms();
		cl[i].sent = 1;
	}
	while (got + errors < total) {
		wsc_poll(w, 50);
		for (i = 0; i < n; i++) {
			while (wsc_pending(cl[i].c) > 0) {
				double now = clock_ms();

				j = wsc_recv(cl[i].c, 0);
				if (j == NULL ||
				    strcmp(json_string_value(
				               json_object_get(j, "type")),
				           "points") != 0) {
					errors++;
				} else {
					t = json_object_get(j, "timing_ms");
					rtt[got] = now - cl[i].t_sent;
					eng[got] = num(t, "preprocess") +
					           num(t, "vision") +
					           num(t, "prefill") +
					           num(t, "decode");
					queue[got] = num(t, "queue");
					over[got] =
					    rtt[got] - eng[got] - queue[got];
					got++;
				}
				json_decref(j);
				cl[i].done++;
				if (cl[i].sent < r) {
					wsc_sendf(
					    cl[i].c,
					    "{\"type\":\"point\","
					    "\"id\":\"q%d\",\"frame\":\"f\","
					    "\"target\":\"%s\"}",
					    cl[i].sent, target);
					cl[i].t_sent = clock_ms();
					cl[i].sent++;
				}
			}
			if (wsc_closed(cl[i].c) && cl[i].done < r) {
				fprintf(stderr, "bench_ws: client %d closed\n",
				        i);
				return 1;
			}
		}
	}
	t1 = clock_ms();
	qsort(rtt, (size_t)got, sizeof(*rtt), bench_cmp_double);
	qsort(over, (size_t)got, sizeof(*over), bench_cmp_double);
	qsort(eng, (size_t)got, sizeof(*eng), bench_cmp_double);
	qsort(queue, (size_t)got, sizeof(*queue), bench_cmp_double);
	printf("bench_ws: %d clients x %d requests, %d answers, %d errors, "
	       "%.1f s\n",
	       n, r, got, errors, (t1 - t0) / 1e3);
	printf("requests/s          %10.1f\n", got / ((t1 - t0) / 1e3));
	printf("round trip ms       p50 %8.3f  p99 %8.3f\n",
	       quantile(rtt, got, 0.5), quantile(rtt, got, 0.99));
	printf("queue ms            p50 %8.3f  p99 %8.3f\n",
	       quantile(queue, got, 0.5), quantile(queue, got, 0.99));
	printf("engine ms           p50 %8.3f  p99 %8.3f\n",
	       quantile(eng, got, 0.5), quantile(eng, got, 0.99));
	printf("daemon overhead ms  p50 %8.3f  p99 %8.3f\n",
	       quantile(over, got, 0.5), quantile(over, got, 0.99));
	printf("overhead / round trip (medians) %.4f\n",
	       quantile(rtt, got, 0.5) > 0
	           ? quantile(over, got, 0.5) / quantile(rtt, got, 0.5)
	           : 0);
	wsc_free(w);
	free(png);
	free(rtt);
	free(over);
	free(eng);
	free(queue);
	free(cl);
	return errors > 0 ? 1 : 0;
usage:
	fprintf(stderr, "usage: bench_ws -p port -i image.png [-n clients] "
	                "[-r requests] [-t target] [-k token]\n");
	return 2;
}
