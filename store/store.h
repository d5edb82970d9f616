/* SPDX-License-Identifier: ISC */
/*
 * store.h: the session log, one SQLite database.  pointd records every
 * session it serves (sessions, the frames sent, requests and answers) so that
 * an agent run can be inspected, replayed and turned into a test; pointctl
 * reads it back, exports one session to a standalone file and imports it
 * elsewhere.  The schema is documented at the top of store/store.c.
 *
 * Threads.  A struct store is one SQLite connection and belongs to one
 * thread at a time (in pointd, the writer thread).  Other processes may open
 * the same database at once: WAL mode lets readers (pointctl) run while the
 * writer writes.  store/ never logs; SQLite's own log callback
 * (SQLITE_CONFIG_LOG) is installed by the program's main before any store
 * call, if at all.
 *
 * Records.  The write API takes plain data (struct store_rec) whose strings
 * and bytes are borrowed for the duration of the call.  Identifiers of
 * sessions and requests are chosen by the caller, so records can be queued
 * before anything is written: start from store_next_ids() after opening.
 * Timestamps are integer milliseconds since the Unix epoch (UTC); durations
 * are integer milliseconds.  Frames are content-addressed by the SHA-256 of
 * their bytes (64 lower-case hex digits) and stored once per database.
 *
 * Durability promise.  When store_write_batch() returns (any value other than
 * -1), the records it accepted are committed: they survive a crash of the
 * process (kill -9) at either synchronous level, and a power loss or OS
 * crash when the store was opened with STORE_SYNC_FULL.  With
 * STORE_SYNC_NORMAL a power loss may lose the last transactions committed
 * before it, never more, and never corrupts the database.  A program that
 * promises its clients that an answered request is logged must therefore
 * send the answer only after the batch holding it was committed.  A failed
 * write (-1: disk full, I/O error, lock timeout) rolls the whole batch back;
 * the database stays consistent and writing resumes when space returns.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* Schema version written to PRAGMA user_version by the last migration. */
#define STORE_SCHEMA_VERSION 1
/* Length of a SHA-256 hex digest plus its NUL. */
#define STORE_HASH_LEN 65

struct store;

/* SQLite's synchronous level
 * (https://sqlite.org/pragma.html#pragma_synchronous). */
enum store_sync {
	STORE_SYNC_NORMAL = 1, /* WAL fsync'ed at checkpoints: crash-safe */
	STORE_SYNC_FULL = 2,   /* WAL fsync'ed at every commit: power-safe */
};

struct store_params {
	enum store_sync sync; /* default STORE_SYNC_FULL */
	bool readonly;        /* open for reading; no migration (pointctl) */
	bool create;          /* create the file when missing (default true) */
	int busy_timeout_ms;  /* wait this long for another process's lock;
	                       * default 5000 */
	int64_t max_page_count; /* 0: no limit (default); else the most pages
	                         * the file may have (tests: a full disk) */
};

/* Defaults as commented above. */
struct store_params store_params_default(void);

/* ---- Records ---- */

/*
 * A session: one client connection.  On STORE_REC_SESSION_START all fields
 * but ended_ms are written (ended_ms is ignored); on STORE_REC_SESSION_END
 * only id and ended_ms are used.  Strings may be NULL.
 */
struct store_session {
	int64_t id;         /* > 0, chosen by the caller */
	const char *label;  /* the client's name for the run, or NULL */
	const char *client; /* peer address or user agent, or NULL */
	const char *model;  /* model name serving the session, or NULL */
	int64_t started_ms; /* ms since the epoch */
	int64_t ended_ms;   /* ms since the epoch; 0 while open */
	int64_t n_requests; /* reads only: requests recorded in the session */
};

/*
 * A frame: the image bytes a request carried, as received (PNG or JPEG).
 * Written only if no frame with the same hash is stored yet; a new frame's
 * bytes must hash to sha256 or the record is rejected.
 */
struct store_frame {
	char sha256[STORE_HASH_LEN]; /* hex SHA-256 of the bytes */
	const void *bytes;           /* len bytes; reads: NULL */
	size_t len;                  /* bytes */
	const char *format;          /* "png" or "jpeg" (free text, not NULL) */
	int width, height;           /* pixels, >= 0 */
	double dpr;                  /* device pixel ratio (1.0 if unknown) */
};

/*
 * A request.  frame names a frame by hash, or is empty for none; the frame
 * must be stored already or come earlier in the same batch (send it with
 * every request: a duplicate costs one index lookup).
 */
struct store_request {
	int64_t id;                 /* > 0, chosen by the caller */
	int64_t session;            /* an existing session's id */
	char frame[STORE_HASH_LEN]; /* frame hash, or "" */
	const char *kind;           /* request kind ("point", ...), not NULL */
	const char *target;         /* target or prompt text, or NULL */
	const char *options;        /* options as JSON text, or NULL */
	int64_t received_ms;        /* ms since the epoch */
};

/* The answer to one request (at most one per request). */
struct store_answer {
	int64_t request;     /* an existing request's id */
	const char *points;  /* points as JSON text, or NULL */
	bool none;           /* the model said the target is not there */
	const char *raw;     /* the model's raw text, or NULL */
	const char *model;   /* model id, or NULL */
	const char *weights; /* checksum of the weights, or NULL */
	const char *error;   /* error code if the request failed, or NULL */
	int64_t answered_ms; /* ms since the epoch */
	int64_t queue_ms;    /* waiting for the inference thread, ms */
	int64_t prep_ms;     /* decoding and preprocessing, ms */
	int64_t infer_ms;    /* running the model, ms */
	int64_t total_ms;    /* received to answered, ms */
};

enum store_rec_kind {
	STORE_REC_SESSION_START,
	STORE_REC_SESSION_END,
	STORE_REC_FRAME,
	STORE_REC_REQUEST,
	STORE_REC_ANSWER,
};

struct store_rec {
	enum store_rec_kind kind; /* which member of the union is used */
	union {
		struct store_session session; /* SESSION_START, SESSION_END */
		struct store_frame frame;     /* FRAME */
		struct store_request request; /* REQUEST */
		struct store_answer answer;   /* ANSWER */
	} u;
};

/* ---- Opening ---- */

/*
 * Open (and with p->create, create) the database at path, in WAL mode with
 * foreign keys on, and bring its schema up to STORE_SCHEMA_VERSION with the
 * migrations in store.c.  Reopening a current database changes nothing.  A
 * read-only store needs a database already at the current version.  p may be
 * NULL for the defaults.  Returns NULL with e set when the file cannot be
 * opened, is not a pointd database, or has a newer schema.
 */
struct store *store_open(const char *path, const struct store_params *p,
                         struct err *e);
/* Finalize the statements and close the connection; s may be NULL. */
void store_close(struct store *s);

/*
 * The next free session and request ids: one more than the largest ever
 * used in this database (pruning never makes an id reusable).
 */
int store_next_ids(struct store *s, int64_t *session, int64_t *request,
                   struct err *e);

/*
 * Mark every session still open as ended at its last request (or its start).
 * pointd calls it once at start-up, when no session can be live, so sessions
 * cut off by a crash can age out.  Returns the number marked or -1.
 */
ssize_t store_end_stale_sessions(struct store *s, struct err *e);

/* ---- Writing ---- */

/*
 * Write n records in one transaction, in order.  A record that breaks a
 * rule (unknown session or request, duplicate id, frame hash mismatch or
 * missing, bad field) is skipped and counted; the rest are committed.
 * Returns the number skipped (0..n), with e describing the first one when
 * non-zero; or -1 with e set when nothing was written because the database
 * could not be written (disk full, I/O error, busy past the timeout): the
 * batch was rolled back in full and may be retried later.
 */
ssize_t store_write_batch(struct store *s, const struct store_rec *recs,
                          size_t n, struct err *e);

/* Change the page limit (0: none) of an open store; for tests of a full disk.
 */
int store_set_max_page_count(struct store *s, int64_t pages, struct err *e);

/* ---- Reading ---- */

/* Callbacks: return non-zero to stop the walk (the call then returns 0). */
typedef int store_session_fn(void *arg, const struct store_session *sess);
/* answer is NULL when the request has none; frame is NULL when the request
 * has none, and its bytes are not loaded (len is set). */
typedef int store_request_fn(void *arg, const struct store_request *req,
                             const struct store_frame *frame,
                             const struct store_answer *answer);

/* Call fn for each session started at or after since_ms, oldest first.
 * Pointers passed to fn are valid only during the call. */
int store_sessions(struct store *s, int64_t since_ms, store_session_fn *fn,
                   void *arg, struct err *e);
/* Read one session into *out; its strings point into storage valid until the
 * next call on s.  Returns -1 with e set if there is no such session. */
int store_session(struct store *s, int64_t id, struct store_session *out,
                  struct err *e);
/* Call fn for each request of session id, in id order. */
int store_requests(struct store *s, int64_t id, store_request_fn *fn, void *arg,
                   struct err *e);
/* The bytes of the frame with hex hash sha256 (malloc'd, caller frees), with
 * its metadata in *meta if meta is not NULL (meta->bytes is set to the copy,
 * meta->format to a static "png", "jpeg" or "other").  Returns NULL with e
 * set if there is no such frame or the copy cannot be allocated. */
void *store_frame_bytes(struct store *s, const char *sha256, size_t *len,
                        struct store_frame *meta, struct err *e);

/* ---- Export, import and retention ---- */

/*
 * Write session id, its requests, answers and frames into a new standalone
 * database at path (same schema; path must not exist yet).  On failure the
 * partial file is removed.
 */
int store_export(struct store *s, int64_t id, const char *path, struct err *e);
/*
 * Copy every session in the exported database at path into s, in one
 * transaction, under new ids: session and request ids are shifted so that
 * the smallest imported session id becomes *first_id (one session, as
 * store_export writes, gets exactly *first_id); *count is the number of
 * sessions.  Either may be NULL.  The file is attached read-only and
 * checked first: a pointd database with the identical schema, passing
 * quick_check and a foreign key check, every frame matching its hash.
 * Frames already stored are shared.  Fails on a read-only store.
 */
int store_import(struct store *s, const char *path, int64_t *first_id,
                 int64_t *count, struct err *e);

struct store_prune_stats {
	int64_t sessions; /* sessions deleted */
	int64_t requests; /* requests deleted (with their answers) */
	int64_t frames;   /* frames deleted */
	int64_t bytes;    /* bytes in use afterwards (pages minus free pages) */
};

/*
 * Enforce retention at time now_ms: delete sessions that ended before
 * now_ms - max_age_ms and requests received before it (0: no age limit);
 * then, while the data pages exceed max_bytes (0: no size limit), delete the
 * oldest ended session, or failing that the oldest requests; then delete the
 * frames no request refers to and return free pages to the file system.
 * Open sessions are never deleted, so live clients keep their session row.
 * Each step is its own transaction.  st may be NULL.
 */
int store_prune(struct store *s, int64_t now_ms, int64_t max_age_ms,
                int64_t max_bytes, struct store_prune_stats *st, struct err *e);

/* PRAGMA integrity_check: 0 when it says ok, else -1 with its first line. */
int store_check(struct store *s, struct err *e);

#endif
