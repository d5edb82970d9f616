/* SPDX-License-Identifier: ISC */
/*
 * server.h: the state pointd's threads share, and who owns each part.
 *
 * The lws service thread owns struct server, every struct session, every
 * struct frame's table slot and every struct job while the job is not on
 * the inference thread.  A job is handed to the inference thread with
 * queue_push(infer_q) and comes back through done_q, followed by
 * lws_cancel_service(); between the two the service thread touches only
 * job->cancel.  Frames are shared read-only with jobs and reference counted
 * (the last holder frees), so a session may drop a frame while a job still
 * decodes it.
 */
#ifndef DAEMON_SERVER_H
#define DAEMON_SERVER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "daemon/backend.h"
#include "daemon/conf.h"
#include "protocol/api.h"
#include "util/buf.h"
#include "util/sha256.h"

struct lws;
struct lws_context;
struct server;
struct session;
struct writer;

/* A submitted image: the encoded bytes and what the header says. */
struct frame {
	atomic_int refs; /* holders; the last frees */
	char id[API_ID_MAX];
	enum api_format format;
	double dpr;
	int w, h;       /* from the header */
	uint8_t *bytes; /* encoded image */
	size_t len;
	char sha256[SHA256_HEX_LEN];
	TAILQ_ENTRY(frame) entry; /* {service} session's frames, oldest first */
};

/* Why the service thread cancelled a job. */
enum job_cancel {
	JOB_CANCEL_NONE = 0,
	JOB_CANCEL_CLIENT,   /* cancel message */
	JOB_CANCEL_GONE,     /* the client disconnected */
	JOB_CANCEL_TIMEOUT,  /* request_timeout_ms passed */
	JOB_CANCEL_SHUTDOWN, /* drain_timeout_s passed */
};

/* One point or ask request. */
struct job {
	/* Set by the service thread before the handoff, read-only after. */
	uint64_t seq; /* daemon-wide request number */
	char id[API_ID_MAX];
	enum api_type type;  /* API_POINT or API_ASK */
	struct frame *frame; /* a reference */
	char *text;          /* target or prompt */
	int max_points;
	int max_crops; /* Molmo 2 crops asked for; 0 = the configured */
	int max_new_tokens;
	char backend[API_BACKEND_MAX]; /* the request's choice, "" = default */
	struct image_limits lim;
	double t_arrive; /* ms, monotonic */
	/* Shared. */
	atomic_bool cancel; /* service sets, inference polls */
	/* Service thread only. */
	struct session *sess; /* NULL once the session is gone */
	enum job_cancel why;
	bool running;           /* on the inference thread */
	TAILQ_ENTRY(job) entry; /* session's pending or running list */
	/* Written by the inference thread, read after the job is back. */
	double t_start, t_end; /* ms, monotonic */
	int rc;                /* 0 or -1 */
	enum api_error err;
	char errmsg[ERR_MSG_MAX + 128];
	int img_w, img_h;
	struct backend_answer ans;
};

TAILQ_HEAD(job_list, job);
TAILQ_HEAD(frame_list, frame);

/* An outgoing message with LWS_PRE bytes of headroom. */
struct out {
	TAILQ_ENTRY(out) entry;
	size_t len;    /* payload bytes after the headroom */
	char *buf;     /* LWS_PRE + len bytes */
	uint64_t wseq; /* held: the writer item that must commit first */
	double t_held; /* held: ms (monotonic) since */
};

TAILQ_HEAD(out_list, out);

/* A WebSocket session, or one HTTP one-shot request (http set). */
struct session {
	uint64_t num;  /* session number, for logs */
	char name[32]; /* "s<num>", sent in ready */
	struct server *srv;
	struct lws *wsi;    /* NULL once closed */
	bool http;          /* HTTP POST /v1/point */
	bool ready;         /* hello accepted */
	bool closing;       /* close after the queued output */
	char *header_token; /* from Authorization: Bearer */
	char *client;       /* client name from hello */
	/* A WebSocket message being gathered. */
	struct buf rx;
	bool rx_discard; /* over the limit: drop the rest */
	bool rx_binary;
	size_t rx_total; /* bytes of the message so far */
	/* A frame header waiting for its binary message. */
	struct api_request pending_frame;
	bool awaiting_binary;
	struct frame_list frames;
	int n_frames;
	struct job_list pending;   /* queued, oldest first */
	struct job_list running;   /* on the inference thread (0 or 1) */
	int n_inflight;            /* pending + running */
	bool in_ring;              /* in the server's fair ring */
	TAILQ_ENTRY(session) ring; /* {service} sessions with pending jobs */
	TAILQ_ENTRY(session) all;  /* {service} every session */
	struct out_list outq;
	size_t out_bytes;
	/* The session log (daemon/writer.c). */
	struct out_list held; /* replies waiting for their record's commit */
	uint64_t hold_seq;    /* set around a reply that must be held */
	int64_t db_id;        /* session id in the database */
	bool db_started;      /* its start is recorded, its end is not */
	double t_last;        /* ms of the last message */
	/* HTTP one-shot only. */
	int http_status;
	char *http_body; /* reply, LWS_PRE headroom */
	size_t http_len;
};

TAILQ_HEAD(session_list, session);

/* Latency histogram bucket bounds, seconds. */
#define SERVER_N_BUCKETS 12

struct metrics {
	unsigned long long requests[API_TYPE_COUNT][API_ERR_COUNT];
	unsigned long long http_requests[3]; /* healthz, metrics, point */
	unsigned long long lat_bucket[2][SERVER_N_BUCKETS]; /* point, ask */
	double lat_sum[2];
	unsigned long long lat_count[2];
	unsigned long long overhead_bucket[SERVER_N_BUCKETS];
	double overhead_sum;
	unsigned long long bad_messages[API_ERR_COUNT]; /* not decoded */
	unsigned long long sessions_total;
	unsigned long long sessions_rejected;
	/* Text backend: frames whose words were cached or read; answers by
	 * source (text, molmo). */
	unsigned long long text_cache_hits, text_cache_misses;
	unsigned long long answers_text, answers_molmo;
};

struct server_priv;

struct server {
	struct server_priv *priv; /* lws-specific state of server.c */
	struct conf *cfg;         /* {service} live, reloaded on SIGHUP */
	const char *cfg_path;
	int vflags; /* -v count, for log_level on reload */
	struct lws_context *ctx;
	struct backend *be; /* used by the inference thread */
	struct infer *inf;
	struct writer *wr; /* the session log's writer, or NULL */
	struct session_list sessions;
	struct session_list ring; /* fair round-robin of pending work */
	int n_sessions;           /* WebSocket sessions */
	int n_queued;             /* pending jobs, all sessions */
	int n_running;            /* 0 or 1 */
	uint64_t next_session, next_seq;
	double ewma_ms; /* average job time, for retry_after_ms */
	bool draining;  /* SIGTERM seen */
	double drain_deadline;
	bool done; /* the loop should end */
	double t_start;
	struct metrics m;
};

/* Set by main's signal handlers, read by the service thread's timer. */
extern volatile sig_atomic_t server_sigterm, server_sighup;

/* ---- server.c ---- */

/* Create the lws context (binds the socket).  Returns -1 with e set. */
int server_open(struct server *s, struct err *e);
/* Run the service loop until SIGTERM's drain ends. */
void server_run(struct server *s);
/* Cancel every job, stop and join the inference thread and take the jobs
 * back.  Before server_close. */
void server_stop_jobs(struct server *s);
/* Destroy the lws context (closing every connection). */
void server_close(struct server *s);
/* Queue a job of session ss (service thread); replies busy when full. */
void server_submit(struct server *s, struct session *ss, struct job *j);
/* Take a job away from the scheduler (service thread). */
void server_cancel_job(struct server *s, struct job *j, enum job_cancel why);
/* Count a finished request in the metrics. */
void server_count(struct server *s, enum api_type t, enum api_error err);

/* ---- session.c ---- */

struct session *session_new(struct server *s, struct lws *wsi, bool http);
/* Cancel its jobs (a running job is detached: it comes back with sess
 * NULL), drop its frames and output, and free it. */
void session_close(struct session *ss);
/* WebSocket receive callback: one fragment. */
int session_receive(struct session *ss, const void *in, size_t len, bool first,
                    bool final, bool binary);
/* WebSocket writeable callback: send one message.  -1 closes. */
int session_writeable(struct session *ss);
/* Queue an outgoing message (takes buf, which has LWS_PRE headroom). */
void session_send(struct session *ss, char *buf, size_t len);
void session_send_error(struct session *ss, const char *id, enum api_error err,
                        const char *msg, long long retry_after_ms);
/* A job left the scheduler (finished, or cancelled while queued) and is
 * off every list: reply if the session wants one, count it, free it. */
void session_job_done(struct session *ss, struct job *j);
/* Find the pending or running job with this id. */
struct job *session_find_job(struct session *ss, const char *id);
/* True if the running backend serves a request whose "backend" field is
 * backend ("" for none); else false with the reason in msg (size bytes). */
bool session_backend_ok(struct server *s, const char *backend, char *msg,
                        size_t size);
void frame_unref(struct frame *f);
void job_free(struct job *j);

/* ---- infer.c ---- */

struct infer;

/* Start the inference thread, which calls lws_cancel_service(ctx) after
 * each finished job. */
struct infer *infer_start(struct backend *be, struct lws_context *ctx,
                          struct err *e);
/* Hand j to the inference thread (service thread). */
void infer_push(struct infer *inf, struct job *j);
/* Take one finished job, or NULL (service thread). */
struct job *infer_done(struct infer *inf);
/* Close the input queue and join the thread; finished jobs stay in done
 * for infer_done(). */
void infer_stop(struct infer *inf);
/* Free the queues (and any job still in them). */
void infer_free(struct infer *inf);

#endif
