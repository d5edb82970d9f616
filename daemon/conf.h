/* SPDX-License-Identifier: ISC */
/*
 * conf.h: pointd.conf(5).  One table of directives (conf_directives[] in
 * conf.c: name, type, field offset, default, range, help) drives parsing,
 * defaults, `pointd -n -v` and the documentation checks.
 *
 * A struct conf belongs to the lws service thread once pointd runs.  The
 * inference thread never reads it: each job carries the limits it needs.
 * On SIGHUP the service thread loads the file again into a fresh struct and
 * copies the directives marked reloadable (tokens and limits) with
 * conf_reload(); the others need a restart.
 */
#ifndef DAEMON_CONF_H
#define DAEMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

#define CONF_DEFAULT_FILE "/etc/pointd.conf"
#define CONF_LINE_MAX     4096 /* bytes in one line of the file */
#define CONF_LIST_MAX     64   /* entries of a repeatable directive */
#define CONF_TOKEN_MIN    16   /* shortest token accepted, in bytes */

/* A repeatable directive's values, in file order. */
struct conf_list {
	char *v[CONF_LIST_MAX];
	int n;
};

struct conf {
	char *listen;                 /* ADDR:PORT as written */
	char listen_host[256];        /* derived from listen */
	int listen_port;              /* derived from listen */
	char *model;                  /* checkpoint directory */
	char *tokenizer;              /* tokenizer override, "" for none */
	char *vocab_map;              /* pruned-vocabulary map, "" for none */
	long long max_crops;          /* Molmo 2 crops; 0 = checkpoint's */
	char *database;               /* SQLite file, "" for none */
	char *synchronous;            /* database sync: "normal" or "full" */
	long long database_max_age;   /* seconds a session is kept; 0 = ever */
	long long database_max_bytes; /* prune above; 0 = no limit */
	long long database_max_pages; /* tests: max_page_count; 0 = none */
	struct conf_list tokens;      /* secrets; empty means no auth */
	long long threads;            /* compute threads, 0 = all cores */
	char *tls_cert, *tls_key;     /* PEM files, "" for plain ws:// */
	struct conf_list origins;     /* allowed Origin values; empty = any */
	char *user;                   /* drop privileges to this user (root) */
	char *backend;                /* "molmo", "text" or "auto" */
	char *log_level;              /* error warn info debug trace */
	long long max_message_bytes;  /* one WebSocket message or HTTP body */
	long long max_image_bytes;    /* one encoded image */
	long long max_pixels;         /* width * height of one image */
	long long max_text_bytes;     /* a target, prompt, token or label */
	long long max_sessions;       /* concurrent WebSocket sessions */
	long long max_frames;         /* frames kept per session */
	long long max_inflight; /* queued or running requests per session */
	long long queue_depth;  /* queued requests, all sessions */
	long long request_timeout_ms; /* from arrival to answer */
	long long idle_timeout_s;     /* session without messages */
	long long drain_timeout_s;    /* SIGTERM: wait for in-flight requests */
	long long max_new_tokens;     /* tokens the model may generate */
};

enum conf_type {
	CONF_STR,  /* one string */
	CONF_INT,  /* a decimal integer in [min, max] */
	CONF_SIZE, /* an integer with an optional K, M or G suffix (x1024) */
	CONF_LIST, /* repeatable string */
	CONF_ENUM, /* one of choices */
};

struct conf_directive {
	const char *name;
	enum conf_type type;
	size_t offset;      /* of the field in struct conf */
	const char *def;    /* default, parsed like the file; NULL = none */
	long long min, max; /* CONF_INT and CONF_SIZE */
	const char *const *choices; /* CONF_ENUM, NULL-terminated */
	bool reload;                /* applied by SIGHUP */
	bool secret;                /* never printed */
	const char *help;           /* one line */
};

extern const struct conf_directive conf_directives[];
extern const size_t conf_n_directives;

/* Fill c with every default.  c must be zeroed or finished. */
void conf_defaults(struct conf *c);
/*
 * Read path into c (defaults first, then the file), then check the whole
 * (listen parses, TLS files come in pairs, no tokens only on loopback).
 * Returns 0, or -1 with e set to "path:line: message".  c must be
 * conf_fini'd in both cases.
 */
int conf_load(struct conf *c, const char *path, struct err *e);
/* Parse text (a whole file's contents, NUL-terminated) named name. */
int conf_parse(struct conf *c, const char *name, const char *text,
               struct err *e);
/* Check cross-directive rules after parsing.  Returns 0 or -1. */
int conf_check(struct conf *c, struct err *e);
/* Free what c owns. */
void conf_fini(struct conf *c);
/* Copy the reloadable directives of src into dst (freeing old values).
 * Returns how many changed. */
int conf_reload(struct conf *dst, const struct conf *src);
/* Print the effective configuration, one directive per line, secrets
 * replaced by "(hidden)". */
void conf_print(const struct conf *c, FILE *f);
/* True if token matches one of c's tokens (constant time per token).  With
 * no tokens configured every token (and none) matches. */
bool conf_token_ok(const struct conf *c, const char *token);
/* log_init's verbosity for c's log_level, or vflags (-v count) if higher. */
int conf_verbosity(const struct conf *c, int vflags);
/* True if host names a loopback address (127.0.0.0/8, ::1, localhost). */
bool conf_is_loopback(const char *host);

#endif
