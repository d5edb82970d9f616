/* SPDX-License-Identifier: ISC */
/*
 * store_fill.c: writes a small, fixed session log through store/ for the
 * pointctl store tests (test-only).  Usage: store_fill DATABASE.
 *
 * Sessions (started at 2026-01-01, -02 and -03, 00:00 UTC):
 *   1 "alpha": three point requests on two frames, all answered, ended;
 *   2 "beta": one request answered "none" with error code bad_image, ended;
 *   3 "gamma": one unanswered request, still open.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/sha256.h"

#define DAY_MS 86400000LL
#define T0     1767225600000LL /* 2026-01-01T00:00:00Z */

static struct store_rec recs[32];
static size_t n_recs;

static struct store_rec *
add(enum store_rec_kind kind)
{
	struct store_rec *r = &recs[n_recs++];

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	return r;
}

static void
session(int64_t id, const char *label, int64_t started)
{
	struct store_rec *r = add(STORE_REC_SESSION_START);

	r->u.session.id = id;
	r->u.session.label = label;
	r->u.session.client = "127.0.0.1:40000";
	r->u.session.model = "molmo-7b-d-0924";
	r->u.session.started_ms = started;
}

static void
end(int64_t id, int64_t ended)
{
	struct store_rec *r = add(STORE_REC_SESSION_END);

	r->u.session.id = id;
	r->u.session.ended_ms = ended;
}

static void
frame(const char *hex, const uint8_t *bytes, size_t len)
{
	struct store_rec *r = add(STORE_REC_FRAME);

	snprintf(r->u.frame.sha256, sizeof(r->u.frame.sha256), "%s", hex);
	r->u.frame.bytes = bytes;
	r->u.frame.len = len;
	r->u.frame.format = "png";
	r->u.frame.width = 1280;
	r->u.frame.height = 720;
	r->u.frame.dpr = 1.0;
}

static void
request(int64_t id, int64_t sess, const char *hex, const char *target,
        int64_t received)
{
	struct store_rec *r = add(STORE_REC_REQUEST);

	r->u.request.id = id;
	r->u.request.session = sess;
	if (hex != NULL)
		snprintf(r->u.request.frame, sizeof(r->u.request.frame), "%s",
		         hex);
	r->u.request.kind = "point";
	r->u.request.target = target;
	r->u.request.options = "{\"max_points\":1}";
	r->u.request.received_ms = received;
}

static void
answer(int64_t req, const char *points, bool none, const char *error,
       int64_t answered)
{
	struct store_rec *r = add(STORE_REC_ANSWER);

	r->u.answer.request = req;
	r->u.answer.points = points;
	r->u.answer.none = none;
	r->u.answer.raw = none ? "There are none."
	                       : "<point x=\"50.0\" "
	                         "y=\"25.0\">it</point>";
	r->u.answer.model = "molmo-7b-d-0924";
	r->u.answer.weights = "sha256:0123abcd";
	r->u.answer.error = error;
	r->u.answer.answered_ms = answered;
	r->u.answer.queue_ms = 1;
	r->u.answer.prep_ms = 12;
	r->u.answer.infer_ms = 480;
	r->u.answer.total_ms = 493;
}

int
main(int argc, char **argv)
{
	static uint8_t img1[3000], img2[5000];
	char h1[SHA256_HEX_LEN], h2[SHA256_HEX_LEN];
	struct store *s;
	struct err e;
	ssize_t rc;
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: store_fill DATABASE\n");
		return 2;
	}
	for (i = 0; i < sizeof(img1); i++)
		img1[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(img2); i++)
		img2[i] = (uint8_t)(i * 13 + 1);
	sha256_hex(img1, sizeof(img1), h1);
	sha256_hex(img2, sizeof(img2), h2);

	session(1, "alpha", T0);
	frame(h1, img1, sizeof(img1));
	request(1, 1, h1, "the Submit button", T0 + 100);
	answer(1, "[{\"x\":640,\"y\":180}]", false, NULL, T0 + 600);
	frame(h2, img2, sizeof(img2));
	request(2, 1, h2, "the search box", T0 + 1000);
	answer(2, "[{\"x\":320,\"y\":90}]", false, NULL, T0 + 1500);
	frame(h1, img1, sizeof(img1));
	request(3, 1, h1, "the Submit button", T0 + 2000);
	answer(3, "[{\"x\":640,\"y\":180}]", false, NULL, T0 + 2500);
	end(1, T0 + 3000);

	session(2, "beta", T0 + DAY_MS);
	frame(h2, img2, sizeof(img2));
	request(4, 2, h2, "a purple elephant", T0 + DAY_MS + 100);
	answer(4, NULL, true, "bad_image", T0 + DAY_MS + 200);
	end(2, T0 + DAY_MS + 1000);

	session(3, "gamma", T0 + 2 * DAY_MS);
	request(5, 3, NULL, "the logo", T0 + 2 * DAY_MS + 100);

	s = store_open(argv[1], NULL, &e);
	if (s == NULL) {
		fprintf(stderr, "store_fill: %s\n", e.msg);
		return 1;
	}
	rc = store_write_batch(s, recs, n_recs, &e);
	store_close(s);
	if (rc != 0) {
		fprintf(stderr, "store_fill: %s\n", e.msg);
		return 1;
	}
	return 0;
}
