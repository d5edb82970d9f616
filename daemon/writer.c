/* SPDX-License-Identifier: ISC */
/*
 * writer.c: the SQLite writer thread (see writer.h).
 *
 * One thread owns the store.  It waits on write_q, takes the first item and
 * then every item already queued (up to WRITER_BATCH_MAX records), writes
 * them in one transaction and reports the batch on done_q.  Group commit
 * comes for free: while one transaction syncs, the next batch gathers.
 * Session-start records of a batch that failed are carried into the next
 * one (at most WRITER_CARRY_MAX), so requests of sessions that began while
 * the disk was full can be recorded once it has room again.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <jansson.h>

#include "daemon/server.h"
#include "daemon/writer.h"
#include "util/clock.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/queue.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define WRITER_BATCH_MAX      4096  /* records in one transaction */
#define WRITER_CARRY_MAX      1024  /* session starts kept after a failure */
#define WRITER_HOLD_MAX_MS    10000 /* longest a reply waits for its commit */
#define WRITER_PRUNE_EVERY_MS 60000 /* between retention passes */

struct writer_item {
	uint64_t seq;           /* set by writer_push */
	bool prune;             /* a retention pass, no records */
	struct store_rec *recs; /* n records */
	size_t n, cap;
	char **owned; /* copies the records point into */
	size_t n_owned, cap_owned;
	struct frame **frames; /* references held for FRAME records */
	size_t n_frames, cap_frames;
};

struct writer {
	struct store *st; /* {writer thread} once started */
	struct writer_params p;
	char path[4096];
	pthread_t thread;
	bool started;
	struct lws_context *ctx;
	struct queue *in;   /* items */
	struct queue *done; /* struct writer_report */
	/* Service thread only. */
	int64_t next_session, next_request;
	uint64_t next_seq;
	atomic_ulong reported; /* items reported, for writer_backlog */
	atomic_ulong pushed;
	/* Writer thread only. */
	struct writer_item *carry; /* session starts of failed batches */
	/* Service thread only: what the reports said. */
	uint64_t done_seq; /* every item <= this is reported */
	bool failing;      /* the last batch did not commit */
	double t_prune;    /* ms (monotonic) of the last prune request */
	unsigned long long batches, errors, unrecorded, skipped, late;
	unsigned long long prunes, pruned;
	long long bytes; /* bytes in use after the last prune */
};

/* ---- Items ---- */

struct writer_item *
writer_item_new(void)
{
	return xcalloc(1, sizeof(struct writer_item));
}

struct writer_item *
writer_prune_item(void)
{
	struct writer_item *it = writer_item_new();

	it->prune = true;
	return it;
}

static void
item_free(struct writer_item *it)
{
	size_t i;

	if (it == NULL)
		return;
	for (i = 0; i < it->n_owned; i++)
		free(it->owned[i]);
	for (i = 0; i < it->n_frames; i++)
		frame_unref(it->frames[i]);
	free(it->owned);
	free(it->frames);
	free(it->recs);
	free(it);
}

static void
item_free_cb(void *p)
{
	item_free(p);
}

/* A copy of n bytes owned by it (NULL stays NULL). */
static const void *
own(struct writer_item *it, const void *p, size_t n)
{
	char *c;

	if (p == NULL)
		return NULL;
	if (it->n_owned == it->cap_owned) {
		it->cap_owned = it->cap_owned ? 2 * it->cap_owned : 8;
		it->owned =
		    xreallocarray(it->owned, it->cap_owned, sizeof(*it->owned));
	}
	c = xmalloc(n + 1);
	memcpy(c, p, n);
	c[n] = '\0';
	it->owned[it->n_owned++] = c;
	return c;
}

static const char *
own_str(struct writer_item *it, const char *s)
{
	return s != NULL ? own(it, s, strlen(s)) : NULL;
}

void
writer_item_add(struct writer_item *it, const struct store_rec *r,
                struct frame *f)
{
	struct store_rec *c;

	if (it->n == it->cap) {
		it->cap = it->cap ? 2 * it->cap : 4;
		it->recs = xreallocarray(it->recs, it->cap, sizeof(*it->recs));
	}
	c = &it->recs[it->n++];
	*c = *r;
	switch (r->kind) {
	case STORE_REC_SESSION_START:
	case STORE_REC_SESSION_END:
		c->u.session.label = own_str(it, r->u.session.label);
		c->u.session.client = own_str(it, r->u.session.client);
		c->u.session.model = own_str(it, r->u.session.model);
		break;
	case STORE_REC_FRAME:
		c->u.frame.format = own_str(it, r->u.frame.format);
		if (f != NULL) {
			if (it->n_frames == it->cap_frames) {
				it->cap_frames =
				    it->cap_frames ? 2 * it->cap_frames : 2;
				it->frames =
				    xreallocarray(it->frames, it->cap_frames,
				                  sizeof(*it->frames));
			}
			atomic_fetch_add(&f->refs, 1);
			it->frames[it->n_frames++] = f;
			/* A frame's bytes never change while it is held. */
			c->u.frame.bytes = f->bytes;
			c->u.frame.len = f->len;
		} else {
			c->u.frame.bytes =
			    own(it, r->u.frame.bytes, r->u.frame.len);
		}
		break;
	case STORE_REC_REQUEST:
		c->u.request.kind = own_str(it, r->u.request.kind);
		c->u.request.target = own_str(it, r->u.request.target);
		c->u.request.options = own_str(it, r->u.request.options);
		break;
	case STORE_REC_ANSWER:
		c->u.answer.points = own_str(it, r->u.answer.points);
		c->u.answer.raw = own_str(it, r->u.answer.raw);
		c->u.answer.model = own_str(it, r->u.answer.model);
		c->u.answer.weights = own_str(it, r->u.answer.weights);
		c->u.answer.error = own_str(it, r->u.answer.error);
		break;
	}
}

/* ---- The thread ---- */

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
report(struct writer *w, struct writer_report *r)
{
	struct writer_report *c = xmalloc(sizeof(*c));

	*c = *r;
	if (queue_push(w->done, c) == -1)
		free(c);
	if (w->ctx != NULL)
		lws_cancel_service(w->ctx);
}

/* Keep the session starts of a failed batch for the next one. */
static void
carry_starts(struct writer *w, struct writer_item **items, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k < items[i]->n; k++)
			if (items[i]->recs[k].kind == STORE_REC_SESSION_START &&
			    w->carry->n < WRITER_CARRY_MAX)
				writer_item_add(w->carry, &items[i]->recs[k],
				                NULL);
}

/* Write items[0..n-1] in one transaction and report it. */
static void
write_batch(struct writer *w, struct writer_item **items, size_t n)
{
	struct writer_report r;
	struct store_rec *recs;
	size_t i, k, total = w->carry->n;
	struct err e;
	ssize_t rc;

	for (i = 0; i < n; i++)
		total += items[i]->n;
	recs = xreallocarray(NULL, total > 0 ? total : 1, sizeof(*recs));
	total = 0;
	for (k = 0; k < w->carry->n; k++)
		recs[total++] = w->carry->recs[k];
	for (i = 0; i < n; i++)
		for (k = 0; k < items[i]->n; k++)
			recs[total++] = items[i]->recs[k];
	memset(&r, 0, sizeof(r));
	r.seq = items[n - 1]->seq;
	r.n_items = n;
	e.msg[0] = '\0';
	rc = total > 0 ? store_write_batch(w->st, recs, total, &e) : 0;
	free(recs);
	if (rc == -1) {
		r.ok = false;
		str_copy(r.msg, e.msg, sizeof(r.msg));
		/* The carried starts stay; add the new ones. */
		carry_starts(w, items, n);
	} else {
		r.ok = true;
		r.n_skipped = rc;
		if (rc > 0)
			str_copy(r.msg, e.msg, sizeof(r.msg));
		item_free(w->carry);
		w->carry = writer_item_new();
	}
	report(w, &r);
}

static void
prune(struct writer *w, uint64_t seq)
{
	struct store_prune_stats st;
	struct writer_report r;
	struct err e;

	memset(&r, 0, sizeof(r));
	memset(&st, 0, sizeof(st));
	r.seq = seq;
	r.prune = true;
	r.n_items = 1;
	if (store_prune(w->st, wall_ms(), w->p.max_age_ms, w->p.max_bytes, &st,
	                &e) == -1) {
		r.ok = false;
		str_copy(r.msg, e.msg, sizeof(r.msg));
	} else {
		r.ok = true;
		r.bytes = st.bytes;
		r.pruned = st.requests;
	}
	report(w, &r);
}

static void *
loop(void *arg)
{
	struct writer *w = arg;
	struct writer_item **items;
	struct writer_item *it;
	size_t n, nrec, i;

	items = xreallocarray(NULL, WRITER_BATCH_MAX, sizeof(*items));
	while ((it = queue_pop(w->in)) != NULL) {
		if (it->prune) {
			prune(w, it->seq);
			item_free(it);
			continue;
		}
		n = 0;
		nrec = it->n;
		items[n++] = it;
		/* Everything already waiting, up to a prune or the cap. */
		while (n < WRITER_BATCH_MAX && nrec < WRITER_BATCH_MAX) {
			it = queue_trypop(w->in);
			if (it == NULL)
				break;
			if (it->prune) {
				write_batch(w, items, n);
				for (i = 0; i < n; i++)
					item_free(items[i]);
				n = 0;
				prune(w, it->seq);
				item_free(it);
				break;
			}
			items[n++] = it;
			nrec += it->n;
		}
		if (n > 0) {
			write_batch(w, items, n);
			for (i = 0; i < n; i++)
				item_free(items[i]);
		}
	}
	free(items);
	return NULL;
}

/* ---- Main thread ---- */

struct writer *
writer_open(const struct writer_params *p, struct err *e)
{
	struct store_params sp = store_params_default();
	struct writer *w = xcalloc(1, sizeof(*w));
	ssize_t n;

	w->p = *p;
	str_copy(w->path, p->path, sizeof(w->path));
	w->p.path = w->path;
	sp.sync = p->sync;
	sp.create = true;
	sp.max_page_count = p->max_page_count;
	w->st = store_open(p->path, &sp, e);
	if (w->st == NULL)
		goto fail;
	n = store_end_stale_sessions(w->st, e);
	if (n == -1)
		goto fail;
	if (store_next_ids(w->st, &w->next_session, &w->next_request, e) == -1)
		goto fail;
	w->in = queue_new();
	w->done = queue_new();
	w->carry = writer_item_new();
	atomic_init(&w->reported, 0);
	atomic_init(&w->pushed, 0);
	return w;
fail:
	err_prefix(e, "database %s", p->path);
	store_close(w->st);
	free(w);
	return NULL;
}

int
writer_start(struct writer *w, struct lws_context *ctx, struct err *e)
{
	int rc;

	w->ctx = ctx;
	rc = pthread_create(&w->thread, NULL, loop, w);
	if (rc != 0)
		return err_set(e, "writer thread: %s", strerror(rc));
	w->started = true;
	return 0;
}

void
writer_stop(struct writer *w)
{
	if (w == NULL)
		return;
	queue_close(w->in);
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	w->ctx = NULL;
	store_close(w->st);
	w->st = NULL;
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	queue_free(w->in, item_free_cb);
	queue_free(w->done, free);
	item_free(w->carry);
	free(w);
}

/* ---- Service thread ---- */

int64_t
writer_new_session_id(struct writer *w)
{
	return w->next_session++;
}

int64_t
writer_new_request_id(struct writer *w)
{
	return w->next_request++;
}

uint64_t
writer_push(struct writer *w, struct writer_item *it)
{
	it->seq = ++w->next_seq;
	if (queue_push(w->in, it) == -1) {
		item_free(it);
		return 0;
	}
	atomic_fetch_add(&w->pushed, 1);
	return w->next_seq;
}

bool
writer_poll(struct writer *w, struct writer_report *r)
{
	struct writer_report *p = queue_trypop(w->done);

	if (p == NULL)
		return false;
	*r = *p;
	atomic_fetch_add(&w->reported, p->n_items);
	free(p);
	return true;
}

size_t
writer_backlog(struct writer *w)
{
	unsigned long a = atomic_load(&w->pushed),
	              b = atomic_load(&w->reported);

	return a > b ? a - b : 0;
}

/* ---- pointd's records (service thread) ---- */

/* Milliseconds since the epoch of a monotonic time t (ms). */
static int64_t
epoch_of(double t)
{
	return wall_ms() - (int64_t)(clock_ms() - t);
}

void
writer_rec_session_start(struct session *ss, const char *label)
{
	struct writer *w = ss->srv->wr;
	struct writer_item *it;
	struct store_rec r;

	if (w == NULL || ss->db_started)
		return;
	ss->db_id = writer_new_session_id(w);
	ss->db_started = true;
	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_SESSION_START;
	r.u.session.id = ss->db_id;
	r.u.session.label = label;
	r.u.session.client = ss->client != NULL && ss->client[0] != '\0'
	                         ? ss->client
	                     : ss->http ? "http"
	                                : NULL;
	r.u.session.model = backend_model_name(ss->srv->be);
	r.u.session.started_ms = wall_ms();
	it = writer_item_new();
	writer_item_add(it, &r, NULL);
	writer_push(w, it);
}

void
writer_rec_session_end(struct session *ss)
{
	struct writer *w = ss->srv->wr;
	struct writer_item *it;
	struct store_rec r;

	if (w == NULL || !ss->db_started)
		return;
	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_SESSION_END;
	r.u.session.id = ss->db_id;
	r.u.session.ended_ms = wall_ms();
	it = writer_item_new();
	writer_item_add(it, &r, NULL);
	writer_push(w, it);
	ss->db_started = false;
}

/* The answer's points as JSON text (malloc'd), at most n of them. */
static char *
points_json(const struct backend_answer *a, size_t n)
{
	json_t *arr = json_array(), *pt;
	char *text;
	size_t i;

	for (i = 0; i < n && i < a->n_points; i++) {
		pt = json_pack("{s:f,s:f}", "x", a->points[i].x, "y",
		               a->points[i].y);
		if (pt != NULL && a->points[i].label != NULL)
			json_object_set_new(pt, "label",
			                    json_string(a->points[i].label));
		if (pt != NULL)
			json_array_append_new(arr, pt);
	}
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

uint64_t
writer_rec_job(struct session *ss, const struct job *j, int err)
{
	struct server *s = ss->srv;
	struct writer *w = s->wr;
	struct writer_item *it;
	struct store_rec r;
	json_t *opt;
	char *options, *points = NULL;
	int64_t req;
	size_t n;

	if (w == NULL || j->frame == NULL)
		return 0;
	if (!ss->db_started)
		writer_rec_session_start(ss, NULL);
	it = writer_item_new();
	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_FRAME;
	str_copy(r.u.frame.sha256, j->frame->sha256, sizeof(r.u.frame.sha256));
	if (r.u.frame.sha256[0] == '\0')
		sha256_hex(j->frame->bytes, j->frame->len, r.u.frame.sha256);
	r.u.frame.format = j->frame->format == API_FMT_PNG ? "png" : "jpeg";
	r.u.frame.width = j->frame->w;
	r.u.frame.height = j->frame->h;
	r.u.frame.dpr = j->frame->dpr > 0 ? j->frame->dpr : 1.0;
	writer_item_add(it, &r, j->frame);

	req = writer_new_request_id(w);
	opt = json_pack("{s:s}", "id", j->id);
	if (opt != NULL && j->max_points > 0)
		json_object_set_new(opt, "max_points",
		                    json_integer(j->max_points));
	options = opt != NULL ? json_dumps(opt, JSON_COMPACT) : NULL;
	json_decref(opt);
	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_REQUEST;
	r.u.request.id = req;
	r.u.request.session = ss->db_id;
	str_copy(r.u.request.frame, j->frame->sha256,
	         sizeof(r.u.request.frame));
	if (r.u.request.frame[0] == '\0')
		sha256_hex(j->frame->bytes, j->frame->len, r.u.request.frame);
	r.u.request.kind = api_types[j->type].name;
	r.u.request.target = j->text;
	r.u.request.options = options;
	r.u.request.received_ms = epoch_of(j->t_arrive);
	writer_item_add(it, &r, NULL);
	free(options);

	memset(&r, 0, sizeof(r));
	r.kind = STORE_REC_ANSWER;
	r.u.answer.request = req;
	if (err == API_ERR_NONE) {
		n = j->ans.n_points;
		if (j->max_points > 0 && n > (size_t)j->max_points)
			n = (size_t)j->max_points;
		points = points_json(&j->ans, n);
		r.u.answer.points = points;
		r.u.answer.none = j->ans.none;
		r.u.answer.raw = j->ans.raw;
		r.u.answer.prep_ms = (int64_t)j->ans.ms_preprocess;
		r.u.answer.infer_ms =
		    (int64_t)(j->ans.ms_vision + j->ans.ms_prefill +
		              j->ans.ms_decode);
	} else {
		r.u.answer.error = api_error_code((enum api_error)err);
	}
	r.u.answer.model = backend_model_name(s->be);
	r.u.answer.answered_ms = wall_ms();
	if (j->t_start > 0)
		r.u.answer.queue_ms = (int64_t)(j->t_start - j->t_arrive);
	r.u.answer.total_ms = (int64_t)(clock_ms() - j->t_arrive);
	writer_item_add(it, &r, NULL);
	free(points);
	return writer_push(w, it);
}

void
writer_end_sessions(struct server *s)
{
	struct session *ss;

	TAILQ_FOREACH(ss, &s->sessions, all)
	writer_rec_session_end(ss);
}

int
writer_release(struct session *ss, uint64_t seq)
{
	struct out *o;
	int n = 0;

	while ((o = TAILQ_FIRST(&ss->held)) != NULL && o->wseq <= seq) {
		TAILQ_REMOVE(&ss->held, o, entry);
		session_send(ss, o->buf, o->len);
		free(o);
		n++;
	}
	return n;
}

/* Release held replies up to seq in every session; returns how many. */
static int
release_all(struct server *s, uint64_t seq)
{
	struct session *ss;
	int n = 0;

	TAILQ_FOREACH(ss, &s->sessions, all)
	n += writer_release(ss, seq);
	return n;
}

void
writer_reap(struct server *s)
{
	struct writer *w = s->wr;
	struct writer_report r;
	int n;

	if (w == NULL)
		return;
	while (writer_poll(w, &r)) {
		if (r.seq > w->done_seq)
			w->done_seq = r.seq;
		if (r.prune) {
			if (r.ok) {
				w->prunes++;
				w->pruned += (unsigned long long)r.pruned;
				w->bytes = r.bytes;
				if (r.pruned > 0)
					log_info("database: retention removed "
					         "%lld requests; %lld bytes in "
					         "use",
					         (long long)r.pruned,
					         (long long)r.bytes);
			} else {
				w->errors++;
				log_warnx("database: retention: %s", r.msg);
			}
			continue;
		}
		w->batches++;
		n = release_all(s, w->done_seq);
		if (!r.ok) {
			w->errors++;
			w->unrecorded += (unsigned long long)n;
			if (!w->failing)
				log_warnx("database: cannot write (%s); "
				          "answering without recording",
				          r.msg);
			w->failing = true;
			continue;
		}
		if (w->failing)
			log_info("database: writing again");
		w->failing = false;
		if (r.n_skipped > 0) {
			w->skipped += (unsigned long long)r.n_skipped;
			log_debug("database: %zd records skipped: %s",
			          r.n_skipped, r.msg);
		}
	}
}

void
writer_tick(struct server *s, double now_ms)
{
	struct writer *w = s->wr;
	struct session *ss;
	struct out *o;

	if (w == NULL)
		return;
	if ((w->p.max_age_ms > 0 || w->p.max_bytes > 0) &&
	    (w->t_prune == 0 || now_ms - w->t_prune > WRITER_PRUNE_EVERY_MS)) {
		w->t_prune = now_ms;
		writer_push(w, writer_prune_item());
	}
	/* A reply never waits on the disk for long. */
	TAILQ_FOREACH(ss, &s->sessions, all)
	{
		while ((o = TAILQ_FIRST(&ss->held)) != NULL &&
		       now_ms - o->t_held > WRITER_HOLD_MAX_MS) {
			TAILQ_REMOVE(&ss->held, o, entry);
			session_send(ss, o->buf, o->len);
			free(o);
			w->late++;
		}
	}
}

void
writer_metrics(struct server *s, struct buf *b)
{
	struct writer *w = s->wr;

	if (w == NULL)
		return;
	buf_printf(b,
	           "# HELP pointd_store_batches_total Transactions the "
	           "database writer committed or tried.\n"
	           "# TYPE pointd_store_batches_total counter\n"
	           "pointd_store_batches_total %llu\n",
	           w->batches);
	buf_printf(b,
	           "# HELP pointd_store_errors_total Database writes that "
	           "failed (disk full, I/O error).\n"
	           "# TYPE pointd_store_errors_total counter\n"
	           "pointd_store_errors_total %llu\n",
	           w->errors);
	buf_printf(b,
	           "# HELP pointd_store_unrecorded_total Answers sent "
	           "although their record could not be written.\n"
	           "# TYPE pointd_store_unrecorded_total counter\n"
	           "pointd_store_unrecorded_total %llu\n",
	           w->unrecorded);
	buf_printf(b,
	           "# HELP pointd_store_skipped_total Records the database "
	           "refused (e.g. of a session never recorded).\n"
	           "# TYPE pointd_store_skipped_total counter\n"
	           "pointd_store_skipped_total %llu\n",
	           w->skipped);
	buf_printf(b,
	           "# HELP pointd_store_late_total Answers sent before "
	           "their record committed (slow disk).\n"
	           "# TYPE pointd_store_late_total counter\n"
	           "pointd_store_late_total %llu\n",
	           w->late);
	buf_printf(b,
	           "# HELP pointd_store_failing 1 while database writes "
	           "fail.\n# TYPE pointd_store_failing gauge\n"
	           "pointd_store_failing %d\n",
	           w->failing ? 1 : 0);
	buf_printf(b,
	           "# HELP pointd_store_backlog Records waiting for the "
	           "database writer.\n# TYPE pointd_store_backlog gauge\n"
	           "pointd_store_backlog %zu\n",
	           writer_backlog(w));
	buf_printf(b,
	           "# HELP pointd_store_pruned_total Requests removed by "
	           "retention.\n# TYPE pointd_store_pruned_total counter\n"
	           "pointd_store_pruned_total %llu\n",
	           w->pruned);
}
