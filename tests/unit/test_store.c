/* SPDX-License-Identifier: ISC */
/*
 * test_store.c: store/ against real SQLite files in a temporary directory:
 * migrations, records read back, frame deduplication, rule enforcement, a
 * full disk (PRAGMA max_page_count), retention, export/import, and kill -9
 * in the middle of a stream of committed batches.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "tests/tools/testutil.h"
#include "util/buf.h"
#include "util/sha256.h"
#include "util/xmalloc.h"

static char *tmp;

static void
setup(void)
{
	tmp = tu_tmpdir();
}

static void
teardown(void)
{
	tu_rmtree(tmp);
	free(tmp);
}

/* A path in the temporary directory (static buffer, one per slot). */
static const char *
tpath(int slot, const char *name)
{
	static char p[4][4096];

	snprintf(p[slot], sizeof(p[slot]), "%s/%s", tmp, name);
	return p[slot];
}

/* xorshift64*: a seeded PRNG for test data and kill times. */
static uint64_t
rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* One integer from a query, through a separate connection. */
static int64_t
q_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
q_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Frame bytes: n bytes from seed (caller frees), and their hash. */
static uint8_t *
frame_bytes(uint64_t seed, size_t n, char hex[STORE_HASH_LEN])
{
	uint8_t *p = xmalloc(n);
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(rng(&s) >> 56);
	sha256_hex(p, n, hex);
	return p;
}

static struct store_rec
rec_session(int64_t id, const char *label, int64_t started)
{
	struct store_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_SESSION_START;
	r.u.session.id = id;
	r.u.session.label = label;
	r.u.session.client = "127.0.0.1:5555";
	r.u.session.model = "molmo-7b-d";
	r.u.session.started_ms = started;
	return r;
}

static struct store_rec
rec_end(int64_t id, int64_t ended)
{
	struct store_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_SESSION_END;
	r.u.session.id = id;
	r.u.session.ended_ms = ended;
	return r;
}

static struct store_rec
rec_frame(const uint8_t *bytes, size_t n, const char *hex)
{
	struct store_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_FRAME;
	snprintf(r.u.frame.sha256, sizeof(r.u.frame.sha256), "%s", hex);
	r.u.frame.bytes = bytes;
	r.u.frame.len = n;
	r.u.frame.format = "png";
	r.u.frame.width = 1280;
	r.u.frame.height = 800;
	r.u.frame.dpr = 2.0;
	return r;
}

static struct store_rec
rec_request(int64_t id, int64_t session, const char *hex, int64_t received)
{
	struct store_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_REQUEST;
	r.u.request.id = id;
	r.u.request.session = session;
	if (hex != NULL)
		snprintf(r.u.request.frame, sizeof(r.u.request.frame), "%s",
		         hex);
	r.u.request.kind = "point";
	r.u.request.target = "the blue Submit button";
	r.u.request.options = "{\"max_points\":1}";
	r.u.request.received_ms = received;
	return r;
}

static struct store_rec
rec_answer(int64_t request, int64_t answered)
{
	struct store_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_ANSWER;
	r.u.answer.request = request;
	r.u.answer.points = "[{\"x\":612.5,\"y\":344}]";
	r.u.answer.raw = "<point x=\"47.9\" y=\"43.0\">Submit</point>";
	r.u.answer.model = "molmo-7b-d";
	r.u.answer.weights = "9f86d081884c7d65";
	r.u.answer.answered_ms = answered;
	r.u.answer.queue_ms = 3;
	r.u.answer.prep_ms = 40;
	r.u.answer.infer_ms = 900;
	r.u.answer.total_ms = 950;
	return r;
}

/* Open read-write with synchronous=NORMAL: these tests don't cut the power,
 * and fewer fsyncs keep them fast (the kill -9 test uses FULL). */
static struct store *
open_ok(const char *path)
{
	struct store_params p = store_params_default();
	struct err e = {""};
	struct store *s;

	p.sync = STORE_SYNC_NORMAL;
	s = store_open(path, &p, &e);

	ck_assert_msg(s != NULL, "store_open: %s", e.msg);
	return s;
}

static void
write_ok(struct store *s, const struct store_rec *r, size_t n)
{
	struct err e = {""};
	ssize_t rc = store_write_batch(s, r, n, &e);

	ck_assert_msg(rc == 0, "store_write_batch: %zd: %s", rc, e.msg);
}

/* Serialize one session's requests, answers and frames (with a digest of
 * the bytes) into text, ids relative to the session, for comparisons. */
struct dump {
	struct store *s;
	struct buf b;
	int64_t first;
};

static int
dump_req(void *arg, const struct store_request *q, const struct store_frame *f,
         const struct store_answer *a)
{
	struct dump *d = arg;
	char hex[SHA256_HEX_LEN] = "-";
	struct store_frame meta;
	struct err e;
	size_t len;
	void *p;

	if (d->first == 0)
		d->first = q->id;
	if (f != NULL) {
		p = store_frame_bytes(d->s, f->sha256, &len, &meta, &e);
		ck_assert_msg(p != NULL, "%s", e.msg);
		ck_assert_uint_eq(len, f->len);
		sha256_hex(p, len, hex);
		ck_assert_str_eq(hex, f->sha256);
		free(p);
	}
	ck_assert_int_eq(
	    buf_printf(&d->b, "req +%" PRId64 " %s|%s|%s|%" PRId64 " frame %s",
	               q->id - d->first, q->kind, q->target ? q->target : "-",
	               q->options ? q->options : "-", q->received_ms, hex),
	    0);
	if (f != NULL)
		ck_assert_int_eq(buf_printf(&d->b, " %s %dx%d@%g %zu",
		                            f->format, f->width, f->height,
		                            f->dpr, f->len),
		                 0);
	if (a != NULL)
		ck_assert_int_eq(
		    buf_printf(&d->b,
		               " ans %s|%d|%s|%s|%s|%s|%" PRId64 "|%" PRId64
		               "|%" PRId64 "|%" PRId64 "|%" PRId64,
		               a->points ? a->points : "-", a->none,
		               a->raw ? a->raw : "-", a->model ? a->model : "-",
		               a->weights ? a->weights : "-",
		               a->error ? a->error : "-", a->answered_ms,
		               a->queue_ms, a->prep_ms, a->infer_ms,
		               a->total_ms),
		    0);
	ck_assert_int_eq(buf_append(&d->b, "\n", 1), 0);
	return 0;
}

static char *
dump_session(struct store *s, int64_t id)
{
	struct store_session ss;
	struct dump d;
	struct err e;

	memset(&d, 0, sizeof(d));
	d.s = s;
	buf_init(&d.b, 1 << 20);
	ck_assert_msg(store_session(s, id, &ss, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(
	    buf_printf(&d.b,
	               "session %s|%s|%s|%" PRId64 "|%" PRId64 "|%" PRId64 "\n",
	               ss.label ? ss.label : "-", ss.client ? ss.client : "-",
	               ss.model ? ss.model : "-", ss.started_ms, ss.ended_ms,
	               ss.n_requests),
	    0);
	ck_assert_msg(store_requests(s, id, dump_req, &d, &e) == 0, "%s",
	              e.msg);
	return buf_steal(&d.b, NULL);
}

/* ---- Migrations ---- */

START_TEST(test_store_migrates_empty_file_and_reopens_unchanged)
{
	const char *db = tpath(0, "m.db");
	int64_t sess, req, objects;
	struct store *s;
	struct err e;

	s = open_ok(db);
	ck_assert_int_eq(store_next_ids(s, &sess, &req, &e), 0);
	ck_assert_int_eq(sess, 1);
	ck_assert_int_eq(req, 1);
	store_close(s);
	ck_assert_int_eq(q_int(db, "PRAGMA user_version"),
	                 STORE_SCHEMA_VERSION);
	ck_assert_int_eq(q_int(db, "PRAGMA auto_vacuum"), 2); /* incremental */
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE "
	                           "name IN ('sessions', 'frames', 'requests', "
	                           "'answers')"),
	                 4);
	objects = q_int(db, "SELECT count(*) FROM sqlite_schema");
	s = open_ok(db);
	store_close(s);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM sqlite_schema"),
	                 objects);
	ck_assert_int_eq(q_int(db, "PRAGMA user_version"),
	                 STORE_SCHEMA_VERSION);
}
END_TEST

START_TEST(test_store_refuses_foreign_and_newer_databases)
{
	const char *other = tpath(0, "other.db");
	const char *newer = tpath(1, "newer.db");
	const char *junk = tpath(2, "junk.db");
	struct store_params p = store_params_default();
	struct err e;
	FILE *f;

	q_exec(other, "CREATE TABLE t (x)");
	ck_assert_ptr_null(store_open(other, NULL, &e));
	ck_assert_msg(strstr(e.msg, "not a pointd database") != NULL, "%s",
	              e.msg);
	/* Refused before anything was written: still in rollback mode. */
	ck_assert_int_eq(q_int(other, "SELECT count(*) FROM "
	                              "pragma_journal_mode() WHERE "
	                              "journal_mode = 'delete'"),
	                 1);
	store_close(open_ok(newer));
	q_exec(newer, "PRAGMA user_version = 99");
	ck_assert_ptr_null(store_open(newer, NULL, &e));
	ck_assert_msg(strstr(e.msg, "newer") != NULL, "%s", e.msg);
	f = fopen(junk, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an SQLite file, not even close, really not", f);
	fclose(f);
	ck_assert_ptr_null(store_open(junk, NULL, &e));
	ck_assert_msg(strstr(e.msg, "not a database") != NULL, "%s", e.msg);
	p.create = false;
	ck_assert_ptr_null(store_open(tpath(3, "missing.db"), &p, &e));
	p.readonly = true;
	ck_assert_ptr_null(store_open(tpath(3, "missing.db"), &p, &e));
	ck_assert_int_ne(access(tpath(3, "missing.db"), F_OK), 0);
}
END_TEST

/* ---- Records ---- */

START_TEST(test_store_records_read_back_identically)
{
	const char *db = tpath(0, "r.db");
	char hex[STORE_HASH_LEN], want[1024];
	struct store_rec r[6];
	struct store_session ss;
	struct store_frame meta;
	struct store_params p;
	struct store *s;
	struct err e;
	uint8_t *img;
	char *d;
	size_t len;
	void *got;

	img = frame_bytes(1, 5000, hex);
	s = open_ok(db);
	r[0] = rec_session(7, "login flow", 1700000000000);
	r[1] = rec_frame(img, 5000, hex);
	r[2] = rec_request(70, 7, hex, 1700000000100);
	r[3] = rec_answer(70, 1700000001050);
	r[4] = rec_request(71, 7, NULL, 1700000002000);
	r[4].u.request.target = NULL;
	r[4].u.request.options = NULL;
	r[5] = rec_answer(71, 1700000002010);
	r[5].u.answer.points = NULL;
	r[5].u.answer.none = true;
	r[5].u.answer.error = "bad_image";
	write_ok(s, r, 6);
	r[0] = rec_end(7, 1700000009000);
	write_ok(s, r, 1);
	store_close(s);

	p = store_params_default();
	p.readonly = true;
	s = store_open(db, &p, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	ck_assert_int_eq(store_session(s, 7, &ss, &e), 0);
	ck_assert_str_eq(ss.label, "login flow");
	ck_assert_str_eq(ss.client, "127.0.0.1:5555");
	ck_assert_str_eq(ss.model, "molmo-7b-d");
	ck_assert_int_eq(ss.started_ms, 1700000000000);
	ck_assert_int_eq(ss.ended_ms, 1700000009000);
	ck_assert_int_eq(ss.n_requests, 2);
	d = dump_session(s, 7);
	snprintf(want, sizeof(want),
	         "session login flow|127.0.0.1:5555|molmo-7b-d|1700000000000|"
	         "1700000009000|2\n"
	         "req +0 point|the blue Submit button|{\"max_points\":1}|"
	         "1700000000100 frame %s png 1280x800@2 5000 ans "
	         "[{\"x\":612.5,\"y\":344}]|0|<point x=\"47.9\" "
	         "y=\"43.0\">Submit</point>|molmo-7b-d|9f86d081884c7d65|-|"
	         "1700000001050|3|40|900|950\n"
	         "req +1 point|-|-|1700000002000 frame - ans -|1|<point "
	         "x=\"47.9\" y=\"43.0\">Submit</point>|molmo-7b-d|"
	         "9f86d081884c7d65|bad_image|1700000002010|3|40|900|950\n",
	         hex);
	ck_assert_str_eq(d, want);
	free(d);
	got = store_frame_bytes(s, hex, &len, &meta, &e);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, 5000);
	ck_assert_int_eq(memcmp(got, img, 5000), 0);
	ck_assert_str_eq(meta.format, "png");
	ck_assert_int_eq(meta.width, 1280);
	ck_assert_int_eq(meta.height, 800);
	ck_assert(meta.dpr == 2.0);
	free(got);
	ck_assert_ptr_null(store_frame_bytes(s, "00", &len, NULL, &e));
	ck_assert_int_eq(store_session(s, 8, &ss, &e), -1);
	store_close(s);
	free(img);
}
END_TEST

START_TEST(test_store_same_frame_twice_is_stored_once)
{
	const char *db = tpath(0, "d.db");
	char hex[STORE_HASH_LEN];
	struct store_rec r[5];
	struct store *s;
	uint8_t *img;

	img = frame_bytes(2, 100000, hex);
	s = open_ok(db);
	r[0] = rec_session(1, NULL, 1000);
	r[1] = rec_frame(img, 100000, hex);
	r[2] = rec_request(1, 1, hex, 1001);
	r[3] = rec_frame(img, 100000, hex);
	r[4] = rec_request(2, 1, hex, 1002);
	write_ok(s, r, 5);
	r[0] = rec_frame(img, 100000, hex);
	r[1] = rec_request(3, 1, hex, 1003);
	write_ok(s, r, 2);
	store_close(s);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames"), 1);
	ck_assert_int_eq(q_int(db, "SELECT count(DISTINCT frame) FROM requests "
	                           "WHERE frame IS NOT NULL"),
	                 1);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM requests"), 3);
	/* One copy of the bytes: well under two frames' worth of pages. */
	ck_assert_int_lt(q_int(db, "SELECT page_count * page_size FROM "
	                           "pragma_page_count(), pragma_page_size()") +
	                     0,
	                 2 * 100000 + 64 * 1024);
	free(img);
}
END_TEST

START_TEST(test_store_rejects_records_that_break_rules)
{
	const char *db = tpath(0, "fk.db");
	char hex[STORE_HASH_LEN], other[STORE_HASH_LEN];
	struct store_rec r[9];
	struct store *s;
	struct err e;
	uint8_t *img, *img2;
	ssize_t n;

	img = frame_bytes(3, 1000, hex);
	img2 = frame_bytes(4, 1000, other);
	s = open_ok(db);
	r[0] = rec_session(1, "ok", 1000);
	r[1] = rec_request(10, 2, NULL, 1001);  /* no session 2 */
	r[2] = rec_answer(11, 1002);            /* no request 11 */
	r[3] = rec_frame(img2, 1000, hex);      /* bytes don't match hash */
	r[4] = rec_request(12, 1, other, 1003); /* frame never stored */
	r[5] = rec_request(13, 1, NULL, 1004);  /* fine */
	r[6] = rec_request(13, 1, NULL, 1005);  /* duplicate id */
	r[7] = rec_end(5, 2000);                /* no session 5 */
	r[8] = rec_answer(13, 1006);            /* fine */
	n = store_write_batch(s, r, 9, &e);
	ck_assert_int_eq(n, 6);
	ck_assert_msg(strstr(e.msg, "record 1 (request)") != NULL, "%s", e.msg);
	r[0] = rec_answer(13, 1007); /* a second answer to the same request */
	ck_assert_int_eq(store_write_batch(s, r, 1, &e), 1);
	store_close(s);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM sessions"), 1);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM requests"), 1);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM answers"), 1);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames"), 0);
	ck_assert_int_eq(q_int(db, "SELECT received FROM requests"), 1004);
	free(img);
	free(img2);
}
END_TEST

static int
count_session(void *arg, const struct store_session *ss)
{
	(void)ss;
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_store_reader_sees_commits_while_writer_is_open)
{
	const char *db = tpath(0, "wal.db");
	struct store_params p = store_params_default();
	struct store_rec r[2];
	struct store *w, *rd;
	struct err e;
	int n = 0;

	w = open_ok(db);
	r[0] = rec_session(1, "a", 1000);
	write_ok(w, r, 1);
	p.readonly = true;
	rd = store_open(db, &p, &e);
	ck_assert_msg(rd != NULL, "%s", e.msg);
	ck_assert_int_eq(store_sessions(rd, 0, count_session, &n, &e), 0);
	ck_assert_int_eq(n, 1);
	r[0] = rec_session(2, "b", 2000);
	r[1] = rec_request(1, 2, NULL, 2001);
	write_ok(w, r, 2);
	n = 0;
	ck_assert_int_eq(store_sessions(rd, 1500, count_session, &n, &e), 0);
	ck_assert_int_eq(n, 1);
	/* A read-only store refuses to import. */
	ck_assert_int_eq(store_import(rd, db, NULL, NULL, &e), -1);
	store_close(rd);
	store_close(w);
}
END_TEST

/* ---- A full disk ---- */

START_TEST(test_store_full_disk_rolls_back_and_resumes)
{
	const char *db = tpath(0, "full.db");
	struct store_params p = store_params_default();
	char hex[40][STORE_HASH_LEN];
	struct store_rec r[81], small;
	uint8_t *img[40];
	struct store *s;
	struct err e;
	int64_t pages;
	int i;

	store_close(open_ok(db));
	pages = q_int(db, "PRAGMA page_count");
	p.max_page_count = pages + 40; /* about 160 KB more at 4 KB pages */
	s = store_open(db, &p, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	r[0] = rec_session(1, "full", 1000);
	write_ok(s, r, 1);
	/* 40 distinct 20 KB frames with their requests: about 800 KB. */
	for (i = 0; i < 40; i++) {
		img[i] = frame_bytes(100 + (uint64_t)i, 20000, hex[i]);
		r[2 * i] = rec_frame(img[i], 20000, hex[i]);
		r[2 * i + 1] = rec_request(1 + i, 1, hex[i], 2000 + i);
	}
	r[80] = rec_end(1, 5000);
	ck_assert_int_eq(store_write_batch(s, r, 81, &e), -1);
	ck_assert_msg(strstr(e.msg, "full") != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "rolled back") != NULL, "%s", e.msg);
	ck_assert_int_eq(store_check(s, &e), 0);
	/* Nothing half-written: the session is still open, no request. */
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM requests"), 0);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames"), 0);
	ck_assert_int_eq(q_int(db, "SELECT ended IS NULL FROM sessions"), 1);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM sessions"), 1);
	/* The store is usable at once: a small batch still fits. */
	small = rec_session(2, "small", 1500);
	write_ok(s, &small, 1);
	/* Space returns: the same batch now commits on the same store. */
	ck_assert_int_eq(store_set_max_page_count(s, 0, &e), 0);
	write_ok(s, r, 81);
	ck_assert_int_eq(store_check(s, &e), 0);
	store_close(s);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM requests"), 40);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames"), 40);
	ck_assert_int_eq(q_int(db, "SELECT ended FROM sessions WHERE id = 1"),
	                 5000);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames WHERE "
	                           "length(bytes) = 20000"),
	                 40);
	for (i = 0; i < 40; i++)
		free(img[i]);
}
END_TEST

/* ---- Retention ---- */

/* Sessions 1..n, each with k requests on its own frame of fsize bytes, the
 * session i started at i * 1000 ms and ended 500 ms later. */
static void
fill(struct store *s, int n, int k, size_t fsize)
{
	char hex[STORE_HASH_LEN];
	struct store_rec r[64];
	uint8_t *img;
	int i, j, m;

	ck_assert_int_le(k, 30);
	for (i = 1; i <= n; i++) {
		img = frame_bytes((uint64_t)i, fsize, hex);
		m = 0;
		r[m++] = rec_session(i, NULL, i * 1000);
		r[m++] = rec_frame(img, fsize, hex);
		for (j = 0; j < k; j++) {
			r[m++] = rec_request(i * 100 + j, i, hex, i * 1000 + j);
			r[m++] = rec_answer(i * 100 + j, i * 1000 + j + 1);
		}
		r[m++] = rec_end(i, i * 1000 + 500);
		write_ok(s, r, (size_t)m);
		free(img);
	}
}

START_TEST(test_store_prune_by_age_removes_old_sessions_and_frames)
{
	const char *db = tpath(0, "age.db");
	struct store_prune_stats st;
	struct store_rec r[2];
	struct store *s;
	struct err e;

	s = open_ok(db);
	fill(s, 10, 3, 30000);
	/* An open session that started long ago keeps its row. */
	r[0] = rec_session(11, "open", 100);
	r[1] = rec_request(1101, 11, NULL, 150);
	write_ok(s, r, 2);
	/* Keep what ended at or after 6000 ms: sessions 6..10. */
	ck_assert_int_eq(store_prune(s, 16000, 10000, 0, &st, &e), 0);
	ck_assert_int_eq(st.sessions, 5);
	ck_assert_int_eq(st.requests, 16);
	ck_assert_int_eq(st.frames, 5);
	ck_assert_int_eq(store_check(s, &e), 0);
	store_close(s);
	ck_assert_int_eq(q_int(db, "SELECT min(id) FROM sessions WHERE id <> "
	                           "11"),
	                 6);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM sessions WHERE id = "
	                           "11"),
	                 1);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames"), 5);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM answers"), 15);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames f WHERE NOT "
	                           "EXISTS (SELECT 1 FROM requests r WHERE "
	                           "r.frame = f.id)"),
	                 0);
	/* Ids are never reused after pruning. */
	s = open_ok(db);
	{
		int64_t sess, req;

		ck_assert_int_eq(store_next_ids(s, &sess, &req, &e), 0);
		ck_assert_int_eq(sess, 12);
		ck_assert_int_eq(req, 1102);
	}
	store_close(s);
}
END_TEST

START_TEST(test_store_prune_by_size_drops_oldest_and_shrinks_file)
{
	const char *db = tpath(0, "size.db");
	struct store_prune_stats st;
	struct store *s;
	struct stat sb;
	struct err e;
	off_t before;

	s = open_ok(db);
	fill(s, 20, 2, 50000); /* about 1 MB of frames */
	ck_assert_int_eq(store_prune(s, 0, 0, 0, &st, &e), 0);
	ck_assert_int_eq(st.sessions, 0);
	ck_assert_int_eq(stat(db, &sb), 0);
	before = sb.st_size;
	ck_assert_int_gt(before, 1000000);
	ck_assert_int_eq(store_prune(s, 0, 0, 300000, &st, &e), 0);
	ck_assert_int_le(st.bytes, 300000);
	ck_assert_int_ge(st.sessions, 14);
	ck_assert_int_eq(st.frames, st.sessions);
	ck_assert_int_eq(store_check(s, &e), 0);
	store_close(s);
	/* The newest sessions survive, and the file shrank. */
	ck_assert_int_eq(q_int(db, "SELECT max(id) FROM sessions"), 20);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM sessions"),
	                 20 - st.sessions);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM frames"),
	                 20 - st.sessions);
	ck_assert_int_eq(stat(db, &sb), 0);
	ck_assert_int_lt(sb.st_size, 400000);
}
END_TEST

START_TEST(test_store_prune_by_size_trims_an_open_session_oldest_first)
{
	const char *db = tpath(0, "open.db");
	char hex[50][STORE_HASH_LEN];
	struct store_prune_stats st;
	struct store_rec r[150];
	uint8_t *img[50];
	struct store *s;
	struct err e;
	int i, j;

	s = open_ok(db);
	r[0] = rec_session(1, "live", 0);
	write_ok(s, r, 1);
	/* 600 requests, each on its own 2000-byte frame, 50 per batch. */
	for (i = 1; i <= 600; i += 50) {
		for (j = 0; j < 50; j++) {
			img[j] = frame_bytes((uint64_t)(i + j), 2000, hex[j]);
			r[3 * j] = rec_frame(img[j], 2000, hex[j]);
			r[3 * j + 1] = rec_request(i + j, 1, hex[j], i + j);
			r[3 * j + 2] = rec_answer(i + j, i + j);
		}
		write_ok(s, r, 150);
		for (j = 0; j < 50; j++)
			free(img[j]);
	}
	ck_assert_int_eq(store_prune(s, 0, 0, 600000, &st, &e), 0);
	ck_assert_int_le(st.bytes, 600000);
	ck_assert_int_eq(st.sessions, 0);
	ck_assert_int_gt(st.requests, 0);
	ck_assert_int_eq(st.frames, st.requests);
	store_close(s);
	/* The newest requests are kept, the session row too. */
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM sessions"), 1);
	ck_assert_int_eq(q_int(db, "SELECT max(id) FROM requests"), 600);
	ck_assert_int_eq(q_int(db, "SELECT min(id) FROM requests"),
	                 1 + st.requests);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM answers"),
	                 600 - st.requests);
}
END_TEST

START_TEST(test_store_ends_stale_sessions_at_last_request)
{
	const char *db = tpath(0, "stale.db");
	struct store_rec r[3];
	struct store *s;
	struct err e;

	s = open_ok(db);
	r[0] = rec_session(1, NULL, 1000);
	r[1] = rec_request(1, 1, NULL, 4000);
	r[2] = rec_session(2, NULL, 2000);
	write_ok(s, r, 3);
	ck_assert_int_eq(store_end_stale_sessions(s, &e), 2);
	ck_assert_int_eq(store_end_stale_sessions(s, &e), 0);
	store_close(s);
	ck_assert_int_eq(q_int(db, "SELECT ended FROM sessions WHERE id = 1"),
	                 4000);
	ck_assert_int_eq(q_int(db, "SELECT ended FROM sessions WHERE id = 2"),
	                 2000);
}
END_TEST

/* ---- Export and import ---- */

START_TEST(test_store_export_then_import_reproduces_session)
{
	const char *a = tpath(0, "a.db"), *b = tpath(1, "b.db");
	const char *x = tpath(2, "run.pointd");
	int64_t first, count;
	char *da, *db_;
	struct store *s, *t;
	struct err e;

	s = open_ok(a);
	fill(s, 3, 4, 10000);
	ck_assert_int_eq(store_export(s, 2, x, &e), 0);
	/* Never overwrites. */
	ck_assert_int_eq(store_export(s, 2, x, &e), -1);
	ck_assert_int_eq(store_export(s, 9, tpath(3, "none.pointd"), &e), -1);
	ck_assert_int_ne(access(tpath(3, "none.pointd"), F_OK), 0);
	da = dump_session(s, 2);
	store_close(s);
	/* A standalone file with only session 2. */
	ck_assert_int_eq(q_int(x, "SELECT count(*) FROM sessions"), 1);
	ck_assert_int_eq(q_int(x, "SELECT count(*) FROM requests"), 4);
	ck_assert_int_eq(q_int(x, "SELECT count(*) FROM frames"), 1);
	ck_assert_int_ne(access(tpath(3, "run.pointd-wal"), F_OK), 0);

	/* The target already holds sessions 1..3 and the same frames. */
	t = open_ok(b);
	fill(t, 3, 1, 10000);
	ck_assert_int_eq(store_import(t, x, &first, &count, &e), 0);
	ck_assert_int_eq(first, 4);
	ck_assert_int_eq(count, 1);
	db_ = dump_session(t, 4);
	ck_assert_str_eq(da, db_);
	free(db_);
	/* Twice: a new session again, the frame still stored once. */
	ck_assert_int_eq(store_import(t, x, &first, &count, &e), 0);
	ck_assert_int_eq(first, 5);
	db_ = dump_session(t, 5);
	ck_assert_str_eq(da, db_);
	free(db_);
	ck_assert_int_eq(store_check(t, &e), 0);
	store_close(t);
	ck_assert_int_eq(q_int(b, "SELECT count(*) FROM frames"), 3);
	ck_assert_int_eq(q_int(b, "SELECT count(*) FROM sessions"), 5);
	free(da);
}
END_TEST

START_TEST(test_store_import_rejects_bad_files)
{
	const char *a = tpath(0, "a.db"), *x = tpath(1, "x.pointd");
	const char *j = tpath(2, "junk");
	struct store *s;
	struct err e;
	FILE *f;

	s = open_ok(a);
	fill(s, 2, 1, 1000);
	ck_assert_int_eq(store_export(s, 1, x, &e), 0);
	/* A frame whose bytes no longer match its hash. */
	q_exec(x, "UPDATE frames SET bytes = zeroblob(10)");
	ck_assert_int_eq(store_import(s, x, NULL, NULL, &e), -1);
	ck_assert_msg(strstr(e.msg, "hash") != NULL, "%s", e.msg);
	/* A different schema. */
	q_exec(x, "CREATE TABLE extra (y)");
	ck_assert_int_eq(store_import(s, x, NULL, NULL, &e), -1);
	ck_assert_msg(strstr(e.msg, "schema") != NULL, "%s", e.msg);
	f = fopen(j, "w");
	ck_assert_ptr_nonnull(f);
	fputs("garbage garbage garbage garbage garbage garbage garbage", f);
	fclose(f);
	ck_assert_int_eq(store_import(s, j, NULL, NULL, &e), -1);
	ck_assert_int_eq(store_import(s, tpath(3, "nope"), NULL, NULL, &e), -1);
	/* Nothing was imported; the store still works. */
	ck_assert_int_eq(store_check(s, &e), 0);
	store_close(s);
	ck_assert_int_eq(q_int(a, "SELECT count(*) FROM sessions"), 2);
}
END_TEST

/* ---- kill -9 ---- */

/* The child: write batches (a request and its answer each) in a loop with
 * synchronous=FULL, and tell the parent each committed batch id. */
static void
crash_child(const char *db, int wfd)
{
	struct store_params p = store_params_default();
	struct store_rec r[2];
	struct store *s;
	struct err e;
	int64_t i;

	p.sync = STORE_SYNC_FULL;
	s = store_open(db, &p, &e);
	if (s == NULL)
		_exit(3);
	for (i = 1;; i++) {
		r[0] = rec_request(i, 1, NULL, i);
		r[1] = rec_answer(i, i + 1);
		if (store_write_batch(s, r, 2, &e) != 0) {
			fprintf(stderr, "crash child: %s\n", e.msg);
			_exit(4);
		}
		if (write(wfd, &i, sizeof(i)) != sizeof(i))
			_exit(5);
	}
}

START_TEST(test_store_committed_batches_survive_kill_9)
{
	const char *db = tpath(0, "crash.db");
	uint64_t seed = 0x5eed0001;
	struct store_rec r[1];
	int64_t id, last, want;
	struct store *s;
	struct err e;
	int round, fd[2], status, n;
	ssize_t got;
	pid_t pid;

	s = open_ok(db);
	r[0] = rec_session(1, "crash", 0);
	write_ok(s, r, 1);
	store_close(s);
	for (round = 0; round < 5; round++) {
		ck_assert_int_eq(pipe(fd), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fd[0]);
			crash_child(db, fd[1]);
		}
		close(fd[1]);
		/* Kill after a random number of reports plus a random pause,
		 * so the kill lands anywhere in a transaction. */
		want = 5 + (int64_t)(rng(&seed) % 60);
		last = 0;
		for (n = 0; n < want; n++) {
			got = read(fd[0], &id, sizeof(id));
			if (got != sizeof(id))
				break;
			last = id;
		}
		usleep((useconds_t)(rng(&seed) % 3000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "child exited %d",
		              WEXITSTATUS(status));
		/* Reports already in the pipe were committed too. */
		while (read(fd[0], &id, sizeof(id)) == sizeof(id))
			last = id;
		close(fd[0]);
		ck_assert_int_gt(last, 0);

		s = open_ok(db);
		ck_assert_msg(store_check(s, &e) == 0, "%s", e.msg);
		store_close(s);
		/* Every batch reported committed is there, with its answer,
		 * and at most one more (committed, killed before reporting). */
		ck_assert_int_eq(q_int(db,
		                       "SELECT count(*) FROM requests r "
		                       "JOIN answers a ON a.request = r.id"),
		                 q_int(db, "SELECT count(*) FROM requests"));
		ck_assert_int_ge(q_int(db, "SELECT count(*) FROM requests"),
		                 last);
		ck_assert_int_le(q_int(db, "SELECT count(*) FROM requests"),
		                 last + 1);
		ck_assert_int_eq(q_int(db, "SELECT max(id) FROM requests"),
		                 q_int(db, "SELECT count(*) FROM requests"));
		/* The next child starts from scratch. */
		q_exec(db, "DELETE FROM answers; DELETE FROM requests");
	}
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc,
	               test_store_migrates_empty_file_and_reopens_unchanged);
	tcase_add_test(tc, test_store_refuses_foreign_and_newer_databases);
	tcase_add_test(tc, test_store_records_read_back_identically);
	tcase_add_test(tc, test_store_same_frame_twice_is_stored_once);
	tcase_add_test(tc, test_store_rejects_records_that_break_rules);
	tcase_add_test(tc, test_store_reader_sees_commits_while_writer_is_open);
	tcase_add_test(tc, test_store_full_disk_rolls_back_and_resumes);
	tcase_add_test(tc,
	               test_store_prune_by_age_removes_old_sessions_and_frames);
	tcase_add_test(tc,
	               test_store_prune_by_size_drops_oldest_and_shrinks_file);
	tcase_add_test(
	    tc, test_store_prune_by_size_trims_an_open_session_oldest_first);
	tcase_add_test(tc, test_store_ends_stale_sessions_at_last_request);
	tcase_add_test(tc, test_store_export_then_import_reproduces_session);
	tcase_add_test(tc, test_store_import_rejects_bad_files);
	tcase_add_test(tc, test_store_committed_batches_survive_kill_9);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
