/* SPDX-License-Identifier: ISC */
/*
 * test_pointd_record.c: pointd's session log, driven by
 * tests/integ/test_pointd_record.sh (pointd_testbe with a database).
 *
 *   test_pointd_record basic DB      a session recorded through the daemon
 *                                    reads back identically (Check suite)
 *   test_pointd_record load N MS OUT N clients send requests for MS ms or
 *                                    until the daemon dies; each answer a
 *                                    client received is appended to OUT as
 *                                    "target x y" (flushed at once)
 *   test_pointd_record verify DB OUT every answer listed in OUT is in DB
 *   test_pointd_record metric NAME   print the value of a /metrics line
 *
 * POINTD_PORT names the daemon's port.  The test backend answers one point
 * at the image's centre, or none when the target contains "none".
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "store/store.h"
#include "tests/tools/testutil.h"
#include "tests/tools/wsclient.h"
#include "util/clock.h"
#include "util/xmalloc.h"

static int port;
static const char *db_path;
static unsigned char *png; /* small_200x150.png */
static size_t png_len;

static struct wsc_conn *
hello(struct wsc *w, const char *label)
{
	struct wsc_conn *c = wsc_connect(w, port, "/v1", "pointd.v1", NULL);
	json_t *j;

	if (wsc_wait_open(c, 5000) == -1)
		return NULL;
	wsc_sendf(c,
	          "{\"type\":\"hello\",\"protocol\":1,\"client\":\"rec/1\","
	          "\"session\":\"%s\"}",
	          label);
	j = wsc_recv(c, 10000);
	if (j == NULL)
		return NULL;
	json_decref(j);
	return c;
}

static const char *
type_of(json_t *j)
{
	const char *t = json_string_value(json_object_get(j, "type"));

	return t != NULL ? t : "";
}

/* ---- basic ---- */

struct seen {
	int n;
	char target[8][64];
	char frame[8][STORE_HASH_LEN];
	char points[8][256];
	bool none[8];
	bool answered[8];
};

static int
on_req(void *arg, const struct store_request *rq, const struct store_frame *f,
       const struct store_answer *a)
{
	struct seen *s = arg;

	if (s->n >= 8)
		return 1;
	snprintf(s->target[s->n], sizeof(s->target[0]), "%s",
	         rq->target != NULL ? rq->target : "");
	snprintf(s->frame[s->n], sizeof(s->frame[0]), "%s",
	         f != NULL ? f->sha256 : "");
	if (a != NULL) {
		s->answered[s->n] = true;
		s->none[s->n] = a->none;
		snprintf(s->points[s->n], sizeof(s->points[0]), "%s",
		         a->points != NULL ? a->points : "");
	}
	s->n++;
	return 0;
}

struct find {
	const char *label;
	int64_t id;
	int64_t ended;
};

static int
on_sess(void *arg, const struct store_session *ss)
{
	struct find *f = arg;

	if (ss->label != NULL && strcmp(ss->label, f->label) == 0) {
		f->id = ss->id;
		f->ended = ss->ended_ms;
	}
	return 0;
}

START_TEST(test_session_reads_back_identically)
{
	static const char *targets[] = {"the logo", "a none thing", "the box"};
	struct wsc *w = wsc_new();
	struct wsc_conn *c = hello(w, "rec-basic");
	double x[3], y[3];
	bool none[3];
	struct store_params p = store_params_default();
	struct find fd = {"rec-basic", 0, 0};
	struct seen sn;
	struct store *st;
	struct err e;
	json_t *j, *pt;
	int i;

	ck_assert_ptr_nonnull(c);
	/* The same screenshot twice, under two frame ids. */
	for (i = 0; i < 2; i++) {
		wsc_sendf(c,
		          "{\"type\":\"frame\",\"id\":\"f%d\","
		          "\"format\":\"png\"}",
		          i);
		wsc_send_bin(c, png, png_len);
		j = wsc_recv(c, 10000);
		ck_assert_ptr_nonnull(j);
		ck_assert_str_eq(type_of(j), "frame");
		json_decref(j);
	}
	for (i = 0; i < 3; i++) {
		wsc_sendf(
		    c,
		    "{\"type\":\"point\",\"id\":\"r%d\",\"frame\":\"f%d\","
		    "\"target\":\"%s\"}",
		    i, i % 2, targets[i]);
		j = wsc_recv(c, 10000);
		ck_assert_ptr_nonnull(j);
		ck_assert_str_eq(type_of(j), "points");
		pt = json_array_get(json_object_get(j, "points"), 0);
		none[i] = json_is_true(json_object_get(j, "none"));
		x[i] = pt != NULL ? json_number_value(json_object_get(pt, "x"))
		                  : -1;
		y[i] = pt != NULL ? json_number_value(json_object_get(pt, "y"))
		                  : -1;
		json_decref(j);
	}
	wsc_send_text(c, "{\"type\":\"bye\"}");
	wsc_service(w, 300);
	wsc_free(w);

	/* Every answer was committed before it was sent. */
	p.readonly = true;
	p.create = false;
	st = store_open(db_path, &p, &e);
	ck_assert_msg(st != NULL, "%s", e.msg);
	ck_assert_int_eq(store_sessions(st, 0, on_sess, &fd, &e), 0);
	ck_assert_msg(fd.id > 0, "no session labelled rec-basic");
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(store_requests(st, fd.id, on_req, &sn, &e), 0);
	ck_assert_int_eq(sn.n, 3);
	for (i = 0; i < 3; i++) {
		char want[128];

		ck_assert_str_eq(sn.target[i], targets[i]);
		ck_assert(sn.answered[i]);
		ck_assert_int_eq(sn.none[i], none[i]);
		ck_assert_int_eq(strlen(sn.frame[i]), 64);
		ck_assert_str_eq(sn.frame[i], sn.frame[0]);
		if (!none[i] && x[i] >= 0) {
			snprintf(want, sizeof(want), "\"x\":%.1f", x[i]);
			ck_assert_msg(strstr(sn.points[i], want) != NULL,
			              "points %s lack %s", sn.points[i], want);
			snprintf(want, sizeof(want), "\"y\":%.1f", y[i]);
			ck_assert_msg(strstr(sn.points[i], want) != NULL,
			              "points %s lack %s", sn.points[i], want);
		} else {
			ck_assert_str_eq(sn.points[i], "[]");
		}
	}
	store_close(st);
}
END_TEST

static int
basic(void)
{
	Suite *s = suite_create("pointd_record");
	TCase *tc = tcase_create("record");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_session_reads_back_identically);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

/* ---- load ---- */

#define MAX_CLIENTS 64

static int
load(int n, int ms, const char *out_path)
{
	struct wsc *w = wsc_new();
	struct wsc_conn *c[MAX_CLIENTS];
	int next[MAX_CLIENTS], busy[MAX_CLIENTS];
	double t0 = clock_ms();
	FILE *out = fopen(out_path, "a");
	long answers = 0;
	json_t *j;
	int i, alive;
	unsigned run = (unsigned)getpid();

	if (out == NULL || n > MAX_CLIENTS)
		return 2;
	for (i = 0; i < n; i++) {
		char label[64];

		snprintf(label, sizeof(label), "load-%u-%d", run, i);
		c[i] = hello(w, label);
		next[i] = 0;
		busy[i] = 0;
		if (c[i] == NULL)
			continue;
		wsc_send_text(c[i], "{\"type\":\"frame\",\"id\":\"f\","
		                    "\"format\":\"png\"}");
		wsc_send_bin(c[i], png, png_len);
	}
	while (clock_ms() - t0 < ms) {
		alive = 0;
		for (i = 0; i < n; i++) {
			if (c[i] == NULL || wsc_closed(c[i]))
				continue;
			alive++;
			while (busy[i] < 2) {
				wsc_sendf(c[i],
				          "{\"type\":\"point\",\"id\":\"r%d\","
				          "\"frame\":\"f\",\"target\":\"t-%u-"
				          "%d-%d\"}",
				          next[i], run, i, next[i]);
				next[i]++;
				busy[i]++;
			}
			while (wsc_pending(c[i]) > 0 &&
			       (j = wsc_recv(c[i], 0)) != NULL) {
				if (strcmp(type_of(j), "points") == 0) {
					json_t *pt = json_array_get(
					    json_object_get(j, "points"), 0);
					const char *id = json_string_value(
					    json_object_get(j, "id"));

					fprintf(out, "t-%u-%d-%s %.1f %.1f\n",
					        run, i,
					        id != NULL ? id + 1 : "?",
					        json_number_value(
					            json_object_get(pt, "x")),
					        json_number_value(
					            json_object_get(pt, "y")));
					fflush(out);
					answers++;
					busy[i]--;
				} else if (strcmp(type_of(j), "error") == 0) {
					busy[i]--;
				}
				json_decref(j);
			}
		}
		if (alive == 0)
			break;
		wsc_poll(w, 20);
	}
	fclose(out);
	wsc_free(w);
	fprintf(stderr, "load: %ld answers\n", answers);
	return 0;
}

/* ---- verify ---- */

struct all {
	json_t *have; /* target -> "x y" */
};

static int
on_any_req(void *arg, const struct store_request *rq,
           const struct store_frame *f, const struct store_answer *a)
{
	struct all *al = arg;
	json_t *pts, *pt;
	char v[64];

	(void)f;
	if (a == NULL || rq->target == NULL || a->points == NULL)
		return 0;
	pts = json_loads(a->points, 0, NULL);
	pt = json_array_get(pts, 0);
	snprintf(v, sizeof(v), "%.1f %.1f",
	         json_number_value(json_object_get(pt, "x")),
	         json_number_value(json_object_get(pt, "y")));
	json_object_set_new(al->have, rq->target, json_string(v));
	json_decref(pts);
	return 0;
}

struct ids {
	int64_t *v;
	size_t n;
};

static int
on_any_sess(void *arg, const struct store_session *ss)
{
	struct ids *ids = arg;

	ids->v = xreallocarray(ids->v, ids->n + 1, sizeof(*ids->v));
	ids->v[ids->n++] = ss->id;
	return 0;
}

static int
verify(const char *path, const char *list)
{
	struct store_params p = store_params_default();
	struct all al;
	struct ids ids = {NULL, 0};
	struct store *st;
	struct err e;
	char line[256], target[128];
	double x, y;
	long n = 0, missing = 0;
	size_t i;
	FILE *f;

	p.readonly = true;
	p.create = false;
	st = store_open(path, &p, &e);
	if (st == NULL) {
		fprintf(stderr, "verify: %s\n", e.msg);
		return 1;
	}
	if (store_check(st, &e) == -1) {
		fprintf(stderr, "verify: integrity: %s\n", e.msg);
		return 1;
	}
	al.have = json_object();
	if (store_sessions(st, 0, on_any_sess, &ids, &e) == -1)
		return 1;
	for (i = 0; i < ids.n; i++)
		if (store_requests(st, ids.v[i], on_any_req, &al, &e) == -1)
			return 1;
	f = fopen(list, "r");
	if (f == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *have;
		char want[64];

		if (sscanf(line, "%127s %lf %lf", target, &x, &y) != 3)
			continue; /* a line cut by the kill */
		n++;
		snprintf(want, sizeof(want), "%.1f %.1f", x, y);
		have = json_string_value(json_object_get(al.have, target));
		if (have == NULL || strcmp(have, want) != 0) {
			if (missing < 5)
				fprintf(stderr,
				        "verify: answer %s (%s) is not in the "
				        "database (%s)\n",
				        target, want, have ? have : "absent");
			missing++;
		}
	}
	fclose(f);
	fprintf(stderr,
	        "verify: %ld answers received, %ld missing; %zu requests "
	        "recorded in %zu sessions\n",
	        n, missing, json_object_size(al.have), ids.n);
	json_decref(al.have);
	free(ids.v);
	store_close(st);
	return missing == 0 ? 0 : 1;
}

/* ---- metric ---- */

static int
metric(const char *name)
{
	static char body[1 << 20];
	char *p;
	size_t n = strlen(name);

	if (wsc_http(port, "GET", "/metrics", NULL, 0, body, sizeof(body),
	             5000) != 200)
		return 1;
	for (p = body; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			printf("%.*s\n", (int)strcspn(p + n + 1, "\n"),
			       p + n + 1);
			return 0;
		}
	}
	return 1;
}

int
main(int argc, char **argv)
{
	const char *p = getenv("POINTD_PORT");
	int rc = 2;

	if (argc < 2) {
		fprintf(stderr, "usage: test_pointd_record basic DB | load N "
		                "MS OUT | verify DB OUT | metric NAME\n");
		return 2;
	}
	if (strcmp(argv[1], "verify") == 0 && argc == 4)
		return verify(argv[2], argv[3]);
	if (p == NULL) {
		fprintf(stderr, "test_pointd_record: POINTD_PORT is unset\n");
		return 99;
	}
	port = (int)strtol(p, NULL, 10);
	if (strcmp(argv[1], "metric") == 0 && argc == 3)
		return metric(argv[2]);
	png = tu_read_file(tu_shared("golden/images/small_200x150.png"),
	                   &png_len);
	if (strcmp(argv[1], "basic") == 0 && argc == 3) {
		db_path = argv[2];
		rc = basic();
	} else if (strcmp(argv[1], "load") == 0 && argc == 5) {
		rc = load((int)strtol(argv[2], NULL, 10),
		          (int)strtol(argv[3], NULL, 10), argv[4]);
	}
	free(png);
	return rc;
}
