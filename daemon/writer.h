/* SPDX-License-Identifier: ISC */
/*
 * writer.h: pointd's SQLite writer thread, the one owner of the session
 * log (store/).
 *
 * The service thread never waits on disk.  It builds a struct writer_item
 * (the records of one event: a session's start, a finished request with
 * its frame and answer, a session's end) and gives it away with
 * writer_push(), which returns the item's sequence number.  The writer
 * thread takes every item waiting in write_q, writes them in one
 * transaction (store_write_batch), then reports the batch through done_q
 * (struct writer_report: the last sequence number it covered and whether
 * it committed) and wakes the service thread with lws_cancel_service(),
 * like the inference thread does.
 *
 * Durability: the service thread holds an answer until the report covering
 * its item arrives, so an answer a client received is committed (see
 * store.h for the synchronous levels).  A batch that cannot be written
 * (disk full, I/O error) is rolled back and reported with ok false; its
 * session-start records are kept and written first with the next batch, so
 * sessions resume logging when space returns.
 *
 * Retention: the service thread pushes writer_prune_item() now and then;
 * the writer then runs store_prune() with the configured limits.
 *
 * Threads: writer_open, writer_start, writer_stop and writer_free run on
 * the main thread; writer_push, writer_poll and the item builders on the
 * service thread; everything else inside writer.c runs on the writer
 * thread.
 */
#ifndef DAEMON_WRITER_H
#define DAEMON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"
#include "util/err.h"

struct lws_context;
struct frame;
struct writer;
struct writer_item;

struct writer_params {
	const char *path;       /* the SQLite file */
	enum store_sync sync;   /* STORE_SYNC_NORMAL or STORE_SYNC_FULL */
	int64_t max_age_ms;     /* retention by age; 0: none */
	int64_t max_bytes;      /* retention by size; 0: none */
	int64_t max_page_count; /* tests: a full disk; 0: no limit */
};

/* What the writer did with one batch (service thread, via writer_poll). */
struct writer_report {
	uint64_t seq;      /* every item with a sequence <= seq is done */
	bool ok;           /* committed (false: rolled back) */
	bool prune;        /* the batch was a retention pass */
	size_t n_items;    /* items in the batch */
	ssize_t n_skipped; /* records store_write_batch skipped */
	char msg[256];     /* the error when !ok or n_skipped > 0 */
	int64_t bytes;     /* after a prune: bytes in use */
	int64_t pruned;    /* after a prune: requests deleted */
};

/*
 * Open the store at p->path (creating it), end the sessions a crash left
 * open and read the next free ids.  Main thread, before dropping
 * privileges.  Returns NULL with e set.
 */
struct writer *writer_open(const struct writer_params *p, struct err *e);
/* Start the thread, which wakes ctx after each batch. */
int writer_start(struct writer *w, struct lws_context *ctx, struct err *e);
/* Close write_q, let the thread write what is left and join it, then
 * close the store.  Reports stay for writer_poll. */
void writer_stop(struct writer *w);
/* Free the writer (after writer_stop); w may be NULL. */
void writer_free(struct writer *w);

/* Service thread: a new session id (> 0) and a new request id. */
int64_t writer_new_session_id(struct writer *w);
int64_t writer_new_request_id(struct writer *w);

/* Service thread: an empty item; add records, then writer_push it. */
struct writer_item *writer_item_new(void);
/* Add a copy of r (strings and bytes copied, except a FRAME record's bytes
 * when f is given: then the item holds a reference to f instead). */
void writer_item_add(struct writer_item *it, const struct store_rec *r,
                     struct frame *f);
/* An item asking for a retention pass. */
struct writer_item *writer_prune_item(void);
/* Give it away; returns its sequence number (> 0), or 0 when the writer
 * is stopped (the item was freed). */
uint64_t writer_push(struct writer *w, struct writer_item *it);
/* Take one report, or false when none is waiting. */
bool writer_poll(struct writer *w, struct writer_report *r);
/* Items pushed and not yet reported. */
size_t writer_backlog(struct writer *w);

/* ---- pointd's records (service thread; writer.c, bottom part) ---- */

struct server;
struct session;
struct job;
struct buf;

/* Record the start of session ss (label: the client's name for the run,
 * may be NULL).  Gives ss its database id. */
void writer_rec_session_start(struct session *ss, const char *label);
/* Record a finished job of ss (its frame, request and answer, or error
 * code err when not API_ERR_NONE as an int); returns the item's sequence,
 * to hold the reply until writer_reap() sees it committed (0: not recorded,
 * send at once). */
uint64_t writer_rec_job(struct session *ss, const struct job *j, int err);
/* Record the end of ss, if its start was recorded. */
void writer_rec_session_end(struct session *ss);
/* Record the end of every session still open (shutdown, before
 * writer_stop). */
void writer_end_sessions(struct server *s);
/* Take the writer's reports: count them, log changes of state, and send
 * the replies they release (on LWS_CALLBACK_EVENT_WAIT_CANCELLED). */
void writer_reap(struct server *s);
/* The 100 ms tick: ask for retention passes, release replies held past
 * WRITER_HOLD_MAX_MS. */
void writer_tick(struct server *s, double now_ms);
/* Append the store's metrics (Prometheus text) to b. */
void writer_metrics(struct server *s, struct buf *b);
/* Move ss's held replies of sequence <= seq to its output; returns how
 * many. */
int writer_release(struct session *ss, uint64_t seq);

#endif
