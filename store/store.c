/* SPDX-License-Identifier: ISC */
/*
 * store.c: pointd's session log in SQLite: the schema and its migrations,
 * the prepared statements, batched writes, reads for pointctl, export and
 * import of one session, and retention.
 *
 * Schema (version 1).  Timestamps are ms since the Unix epoch, durations ms.
 *
 *   sessions  id INTEGER PRIMARY KEY AUTOINCREMENT, label, client, model,
 *             started NOT NULL, ended (NULL while open)
 *   frames    id INTEGER PRIMARY KEY, sha256 TEXT UNIQUE (64 hex digits of
 *             the bytes), format, width, height, dpr, bytes BLOB (last, so
 *             reading the metadata skips the overflow pages)
 *   requests  id INTEGER PRIMARY KEY AUTOINCREMENT,
 *             session -> sessions ON DELETE CASCADE, frame -> frames (NULL:
 *             none), kind, target, options (JSON text), received
 *   answers   request PRIMARY KEY -> requests ON DELETE CASCADE,
 *             points (JSON text), is_none, raw, model, weights, error,
 *             answered, queue_ms, prep_ms, infer_ms, total_ms
 *
 * Indexes: sessions(started), requests(session), requests(frame),
 * requests(received).  PRAGMA application_id marks a pointd database and
 * PRAGMA user_version is the number of migrations applied.  AUTOINCREMENT
 * keeps the largest id ever used in sqlite_sequence, so ids handed out by
 * store_next_ids() are never reused after pruning.
 *
 * Design.  One connection, used by one thread, in WAL mode (readers in other
 * processes don't block the writer) with foreign keys on, trusted_schema off
 * and auto_vacuum=INCREMENTAL (set before the first table, so pruning can
 * give pages back).  Every statement is prepared at open from the table
 * stmt_sql[] and run with bound parameters; the only SQL text built at run
 * time is a PRAGMA with an integer we formatted ourselves.  Migrations are an
 * array of SQL scripts indexed by user_version, applied in one IMMEDIATE
 * transaction (a concurrent opener re-reads the version inside it).
 *
 * A batch is one IMMEDIATE transaction.  A statement that fails a constraint
 * is undone by SQLite on its own (statement journal), so a bad record is
 * skipped and the rest commit; any other failure (SQLITE_FULL, I/O, busy)
 * rolls the whole transaction back, which leaves the database as it was.
 * Export and import use a second database file attached to a connection and
 * INSERT ... SELECT, after checking that the imported file has exactly our
 * schema.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "util/err.h"
#include "util/sha256.h"
#include "util/xmalloc.h"

/* "pntd" in ASCII: PRAGMA application_id of a pointd database. */
#define STORE_APP_ID 0x706e7464
/* Requests deleted per step when trimming for size. */
#define PRUNE_CHUNK 256
/* Longest database path accepted (bytes). */
#define PATH_MAX_LEN 4096

/* ---- Schema ---- */

/* migrations[i] takes user_version i to i + 1.  Append, never edit. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "PRAGMA application_id = 1886286948;\n"
    "CREATE TABLE sessions (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  label TEXT,\n"
    "  client TEXT,\n"
    "  model TEXT,\n"
    "  started INTEGER NOT NULL,\n"
    "  ended INTEGER\n"
    ");\n"
    "CREATE INDEX sessions_started ON sessions(started);\n"
    "CREATE TABLE frames (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),\n"
    "  format TEXT NOT NULL,\n"
    "  width INTEGER NOT NULL CHECK (width >= 0),\n"
    "  height INTEGER NOT NULL CHECK (height >= 0),\n"
    "  dpr REAL NOT NULL,\n"
    "  bytes BLOB NOT NULL\n"
    ");\n"
    "CREATE TABLE requests (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  frame INTEGER REFERENCES frames(id),\n"
    "  kind TEXT NOT NULL,\n"
    "  target TEXT,\n"
    "  options TEXT,\n"
    "  received INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX requests_session ON requests(session);\n"
    "CREATE INDEX requests_frame ON requests(frame);\n"
    "CREATE INDEX requests_received ON requests(received);\n"
    "CREATE TABLE answers (\n"
    "  request INTEGER PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,\n"
    "  points TEXT,\n"
    "  is_none INTEGER NOT NULL CHECK (is_none IN (0, 1)),\n"
    "  raw TEXT,\n"
    "  model TEXT,\n"
    "  weights TEXT,\n"
    "  error TEXT,\n"
    "  answered INTEGER NOT NULL,\n"
    "  queue_ms INTEGER,\n"
    "  prep_ms INTEGER,\n"
    "  infer_ms INTEGER,\n"
    "  total_ms INTEGER\n"
    ");\n",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(N_MIGRATIONS == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must count the migrations");
_Static_assert(STORE_APP_ID == 1886286948, "application_id in migration 0");

/* ---- Statements ---- */

enum stmt {
	ST_INS_SESSION,
	ST_END_SESSION,
	ST_END_STALE,
	ST_FRAME_ID,
	ST_INS_FRAME,
	ST_INS_REQUEST,
	ST_INS_ANSWER,
	ST_NEXT_IDS,
	ST_SESSIONS,
	ST_SESSION,
	ST_REQUESTS,
	ST_FRAME_BYTES,
	ST_PRUNE_AGED_SESSIONS,
	ST_PRUNE_AGED_REQUESTS,
	ST_PRUNE_OLDEST_SESSION,
	ST_PRUNE_OLDEST_REQUESTS,
	ST_PRUNE_FRAMES,
	ST_COUNTS,
	ST_PAGES,
	ST_INCR_VACUUM,
	ST_CHECKPOINT,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_N
};

/* clang-format off */
static const char *const stmt_sql[ST_N] = {
	[ST_INS_SESSION] = "INSERT INTO sessions (id, label, client, model, "
	    "started) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_END_SESSION] = "UPDATE sessions SET ended = ?2 WHERE id = ?1",
	[ST_END_STALE] = "UPDATE sessions SET ended = max(started, coalesce("
	    "(SELECT max(received) FROM requests WHERE session = sessions.id), "
	    "started)) WHERE ended IS NULL",
	[ST_FRAME_ID] = "SELECT id FROM frames WHERE sha256 = ?1",
	[ST_INS_FRAME] = "INSERT INTO frames (sha256, format, width, height, "
	    "dpr, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_INS_REQUEST] = "INSERT INTO requests (id, session, frame, kind, "
	    "target, options, received) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_INS_ANSWER] = "INSERT INTO answers (request, points, is_none, raw, "
	    "model, weights, error, answered, queue_ms, prep_ms, infer_ms, "
	    "total_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
	    "?12)",
	[ST_NEXT_IDS] = "SELECT "
	    "max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
	    "'sessions'), 0), coalesce((SELECT max(id) FROM sessions), 0)) + 1, "
	    "max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
	    "'requests'), 0), coalesce((SELECT max(id) FROM requests), 0)) + 1",
	[ST_SESSIONS] = "SELECT s.id, s.label, s.client, s.model, s.started, "
	    "s.ended, (SELECT count(*) FROM requests r WHERE r.session = s.id) "
	    "FROM sessions s WHERE s.started >= ?1 ORDER BY s.started, s.id",
	[ST_SESSION] = "SELECT s.id, s.label, s.client, s.model, s.started, "
	    "s.ended, (SELECT count(*) FROM requests r WHERE r.session = s.id) "
	    "FROM sessions s WHERE s.id = ?1",
	[ST_REQUESTS] = "SELECT r.id, r.session, r.kind, r.target, r.options, "
	    "r.received, f.sha256, f.format, f.width, f.height, f.dpr, "
	    "length(f.bytes), a.request, a.points, a.is_none, a.raw, a.model, "
	    "a.weights, a.error, a.answered, a.queue_ms, a.prep_ms, a.infer_ms, "
	    "a.total_ms FROM requests r LEFT JOIN frames f ON f.id = r.frame "
	    "LEFT JOIN answers a ON a.request = r.id WHERE r.session = ?1 "
	    "ORDER BY r.id",
	[ST_FRAME_BYTES] = "SELECT sha256, format, width, height, dpr, bytes "
	    "FROM frames WHERE sha256 = ?1",
	[ST_PRUNE_AGED_SESSIONS] = "DELETE FROM sessions WHERE ended IS NOT "
	    "NULL AND ended < ?1",
	[ST_PRUNE_AGED_REQUESTS] = "DELETE FROM requests WHERE received < ?1",
	[ST_PRUNE_OLDEST_SESSION] = "DELETE FROM sessions WHERE id = (SELECT "
	    "id FROM sessions WHERE ended IS NOT NULL ORDER BY ended, id "
	    "LIMIT 1)",
	[ST_PRUNE_OLDEST_REQUESTS] = "DELETE FROM requests WHERE id IN "
	    "(SELECT id FROM requests ORDER BY received, id LIMIT ?1)",
	[ST_PRUNE_FRAMES] = "DELETE FROM frames WHERE NOT EXISTS (SELECT 1 "
	    "FROM requests r WHERE r.frame = frames.id)",
	[ST_COUNTS] = "SELECT (SELECT count(*) FROM sessions), "
	    "(SELECT count(*) FROM requests), (SELECT count(*) FROM frames)",
	[ST_PAGES] = "SELECT (p.page_count - f.freelist_count) * s.page_size "
	    "FROM pragma_page_count() p, pragma_freelist_count() f, "
	    "pragma_page_size() s",
	[ST_INCR_VACUUM] = "PRAGMA incremental_vacuum",
	[ST_CHECKPOINT] = "PRAGMA wal_checkpoint(TRUNCATE)",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};
/* clang-format on */

struct store {
	sqlite3 *db;            /* the connection */
	char *path;             /* as given to store_open */
	bool readonly;          /* opened with p->readonly */
	sqlite3_stmt *st[ST_N]; /* prepared at open */
	char *sess_str[3];      /* store_session()'s strings, until next call */
};

struct store_params
store_params_default(void)
{
	struct store_params p;

	memset(&p, 0, sizeof(p));
	p.sync = STORE_SYNC_FULL;
	p.create = true;
	p.busy_timeout_ms = 5000;
	return p;
}

/* ---- Helpers ---- */

/* Failures that say the database could not be written now, as opposed to a
 * record that breaks a rule. */
static bool
is_resource_error(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return false;
	default:
		return true;
	}
}

static int
db_err(sqlite3 *db, struct err *e, const char *what)
{
	return err_set(e, "%s: %s", what, sqlite3_errmsg(db));
}

/* Reset a statement and drop its bindings (they may borrow caller memory). */
static void
done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run a statement that returns no rows we need.  Returns the SQLite code. */
static int
run(sqlite3_stmt *st)
{
	int rc;

	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	done(st);
	return rc;
}

/* Run constant SQL (migrations, pragmas with integers we formatted). */
static int
exec(sqlite3 *db, const char *sql, struct err *e)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		err_set(e, "%s", msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* One integer from a one-row query (constant SQL).  Returns 0 or -1. */
static int
query_int(sqlite3 *db, const char *sql, int64_t *out, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return db_err(db, e, sql);
	return 0;
}

/* One text from a one-row query into out (size n); "" if NULL. */
static int
query_text(sqlite3 *db, const char *sql, char *out, size_t n, struct err *e)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t = sqlite3_column_text(st, 0);
		snprintf(out, n, "%s", t != NULL ? (const char *)t : "");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return db_err(db, e, sql);
	return 0;
}

static int
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* A column's text, or NULL for SQL NULL. */
static const char *
col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static bool
is_hash(const char *h)
{
	size_t i;

	for (i = 0; i < 64; i++) {
		if (!((h[i] >= '0' && h[i] <= '9') ||
		      (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	}
	return h[64] == '\0';
}

/*
 * A "file:" URI for path with an optional query ("mode=ro"), so that
 * ATTACH can open a file read-only.  Everything but unreserved characters
 * and '/' is percent-encoded.  Caller frees.
 */
static char *
file_uri(const char *path, const char *query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), i, o = 0;
	unsigned char c;
	char *u;

	/* n <= PATH_MAX_LEN was checked, so this cannot overflow. */
	u = xmalloc(5 + 3 * n + 1 + (query != NULL ? strlen(query) : 0) + 1);
	memcpy(u, "file:", 5);
	o = 5;
	for (i = 0; i < n; i++) {
		c = (unsigned char)path[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '/' || c == '.' ||
		    c == '-' || c == '_' || c == '~') {
			u[o++] = (char)c;
		} else {
			u[o++] = '%';
			u[o++] = hex[c >> 4];
			u[o++] = hex[c & 15];
		}
	}
	if (query != NULL) {
		u[o++] = '?';
		memcpy(u + o, query, strlen(query));
		o += strlen(query);
	}
	u[o] = '\0';
	return u;
}

/* SQL function sha256_hex(blob): the hex digest, for checking imports. */
static void
sql_sha256_hex(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char hex[SHA256_HEX_LEN];
	const void *p;
	int n;

	(void)argc;
	p = sqlite3_value_blob(argv[0]);
	n = sqlite3_value_bytes(argv[0]);
	if (p == NULL && n > 0) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sha256_hex(p, (size_t)n, hex);
	sqlite3_result_text(ctx, hex, 64, SQLITE_TRANSIENT);
}

/* ---- Opening and migrations ---- */

/*
 * Read the schema version of db into *v, refusing a file with tables but no
 * pointd version, another application's id, or a newer schema.  Runs before
 * anything is written, so a foreign file is left as it was.
 */
static int
identify(sqlite3 *db, int64_t *v, struct err *e)
{
	int64_t app, n_objects;

	if (query_int(db, "PRAGMA user_version", v, e) == -1)
		return -1;
	if (query_int(db, "PRAGMA application_id", &app, e) == -1)
		return -1;
	if (query_int(db, "SELECT count(*) FROM sqlite_schema", &n_objects,
	              e) == -1)
		return -1;
	if ((*v == 0 && n_objects > 0) || (*v > 0 && app != STORE_APP_ID))
		return err_set(e, "not a pointd database");
	if (*v > N_MIGRATIONS)
		return err_set(e,
		               "schema version %" PRId64
		               " is newer than this program's (%d)",
		               *v, N_MIGRATIONS);
	return 0;
}

/* Bring db (already identified) to STORE_SCHEMA_VERSION. */
static int
migrate(sqlite3 *db, struct err *e)
{
	char sql[64];
	int64_t v;
	int i;

	if (identify(db, &v, e) == -1)
		return -1;
	if (v == N_MIGRATIONS)
		return 0;
	if (exec(db, "BEGIN IMMEDIATE", e) == -1)
		return -1;
	/* Another process may have migrated while we waited for the lock. */
	if (query_int(db, "PRAGMA user_version", &v, e) == -1)
		goto fail;
	for (i = (int)v; i < N_MIGRATIONS; i++) {
		if (exec(db, migrations[i], e) == -1) {
			err_prefix(e, "migration %d", i + 1);
			goto fail;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", N_MIGRATIONS);
	if (exec(db, sql, e) == -1 || exec(db, "COMMIT", e) == -1)
		goto fail;
	return 0;
fail:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Open a raw connection to path (a URI) with foreign keys and our function. */
static sqlite3 *
db_connect(const char *uri, int flags, int busy_ms, struct err *e)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(uri, &db, flags | SQLITE_OPEN_URI, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, "%s",
		        db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, busy_ms);
	if (exec(db, "PRAGMA foreign_keys = ON", e) == -1 ||
	    exec(db, "PRAGMA trusted_schema = OFF", e) == -1)
		goto fail;
	rc = sqlite3_create_function(db, "sha256_hex", 1,
	                             SQLITE_UTF8 | SQLITE_DETERMINISTIC |
	                                 SQLITE_DIRECTONLY,
	                             NULL, sql_sha256_hex, NULL, NULL);
	if (rc != SQLITE_OK) {
		db_err(db, e, "sha256_hex");
		goto fail;
	}
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

/*
 * WAL mode, synchronous level and page limit of a writable connection.  A
 * new file first gets auto_vacuum=INCREMENTAL, which can only be set before
 * anything (even the switch to WAL) writes the header.
 */
static int
configure(sqlite3 *db, const struct store_params *p, struct err *e)
{
	int64_t pages;
	char mode[16];
	char sql[64];

	if (query_int(db, "PRAGMA page_count", &pages, e) == -1)
		return -1;
	if (pages == 0 && exec(db, "PRAGMA auto_vacuum = INCREMENTAL", e) == -1)
		return -1;
	if (query_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode),
	               e) == -1)
		return -1;
	if (strcmp(mode, "wal") != 0)
		return err_set(e, "cannot use WAL mode (journal mode %s)",
		               mode);
	if (exec(db,
	         p->sync == STORE_SYNC_NORMAL ? "PRAGMA synchronous = NORMAL"
	                                      : "PRAGMA synchronous = FULL",
	         e) == -1)
		return -1;
	if (p->max_page_count > 0) {
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64,
		         p->max_page_count);
		if (exec(db, sql, e) == -1)
			return -1;
	}
	return 0;
}

struct store *
store_open(const char *path, const struct store_params *params, struct err *e)
{
	struct store_params p = store_params_default();
	struct store *s = NULL;
	int64_t v, app;
	char *uri;
	int flags, i;

	if (params != NULL)
		p = *params;
	if (strlen(path) == 0 || strlen(path) > PATH_MAX_LEN) {
		err_set(e, "database path is empty or too long");
		return NULL;
	}
	if (p.readonly)
		flags = SQLITE_OPEN_READONLY;
	else
		flags =
		    SQLITE_OPEN_READWRITE | (p.create ? SQLITE_OPEN_CREATE : 0);
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->readonly = p.readonly;
	uri = file_uri(path, NULL);
	s->db = db_connect(uri, flags, p.busy_timeout_ms, e);
	free(uri);
	if (s->db == NULL)
		goto fail;
	if (p.readonly) {
		if (query_int(s->db, "PRAGMA user_version", &v, e) == -1 ||
		    query_int(s->db, "PRAGMA application_id", &app, e) == -1)
			goto fail;
		if (app != STORE_APP_ID) {
			err_set(e, "not a pointd database");
			goto fail;
		}
		if (v != N_MIGRATIONS) {
			err_set(e,
			        "schema version %" PRId64
			        ", this program reads %d (pointd migrates it)",
			        v, N_MIGRATIONS);
			goto fail;
		}
	} else if (identify(s->db, &v, e) == -1 ||
	           configure(s->db, &p, e) == -1 || migrate(s->db, e) == -1) {
		goto fail;
	}
	for (i = 0; i < ST_N; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &s->st[i],
		                       NULL) != SQLITE_OK) {
			db_err(s->db, e, "prepare");
			goto fail;
		}
	}
	return s;
fail:
	err_prefix(e, "%s", path);
	store_close(s);
	return NULL;
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(s->st[i]);
	/* sqlite3_close (not _v2) fails only if statements are left. */
	sqlite3_close(s->db);
	for (i = 0; i < 3; i++)
		free(s->sess_str[i]);
	free(s->path);
	free(s);
}

int
store_next_ids(struct store *s, int64_t *session, int64_t *request,
               struct err *e)
{
	sqlite3_stmt *st = s->st[ST_NEXT_IDS];
	int rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*session = sqlite3_column_int64(st, 0);
		*request = sqlite3_column_int64(st, 1);
	}
	done(st);
	if (rc != SQLITE_ROW)
		return db_err(s->db, e, "next ids");
	return 0;
}

ssize_t
store_end_stale_sessions(struct store *s, struct err *e)
{
	if (run(s->st[ST_END_STALE]) != SQLITE_OK)
		return db_err(s->db, e, "end stale sessions");
	return sqlite3_changes(s->db);
}

int
store_set_max_page_count(struct store *s, int64_t pages, struct err *e)
{
	char sql[64];

	/* SQLite has no "no limit" value; its largest is 4294967294. */
	if (pages <= 0 || pages > 4294967294LL)
		pages = 4294967294LL;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64, pages);
	return exec(s->db, sql, e);
}

int
store_check(struct store *s, struct err *e)
{
	char res[256];

	if (query_text(s->db, "PRAGMA integrity_check", res, sizeof(res), e) ==
	    -1)
		return -1;
	if (strcmp(res, "ok") != 0)
		return err_set(e, "integrity check: %s", res);
	return 0;
}

/* ---- Writing ---- */

/* Write one record.  Returns the SQLite code; a rule broken before any SQL
 * runs gives SQLITE_CONSTRAINT with the reason in e. */
static int
write_rec(struct store *s, const struct store_rec *r, struct err *e)
{
	const struct store_session *ss;
	const struct store_frame *f;
	const struct store_request *q;
	const struct store_answer *a;
	char hex[SHA256_HEX_LEN];
	sqlite3_stmt *st;
	int64_t frame_id = 0;
	int rc;

	switch (r->kind) {
	case STORE_REC_SESSION_START:
		ss = &r->u.session;
		if (ss->id <= 0)
			goto bad_id;
		st = s->st[ST_INS_SESSION];
		sqlite3_bind_int64(st, 1, ss->id);
		bind_text(st, 2, ss->label);
		bind_text(st, 3, ss->client);
		bind_text(st, 4, ss->model);
		sqlite3_bind_int64(st, 5, ss->started_ms);
		rc = run(st);
		break;
	case STORE_REC_SESSION_END:
		ss = &r->u.session;
		st = s->st[ST_END_SESSION];
		sqlite3_bind_int64(st, 1, ss->id);
		sqlite3_bind_int64(st, 2, ss->ended_ms);
		rc = run(st);
		if (rc == SQLITE_OK && sqlite3_changes(s->db) == 0) {
			err_set(e, "session %" PRId64 " not found", ss->id);
			return SQLITE_CONSTRAINT;
		}
		break;
	case STORE_REC_FRAME:
		f = &r->u.frame;
		if (!is_hash(f->sha256) || f->format == NULL ||
		    (f->bytes == NULL && f->len > 0)) {
			err_set(e, "frame: bad hash, format or bytes");
			return SQLITE_CONSTRAINT;
		}
		st = s->st[ST_FRAME_ID];
		sqlite3_bind_text(st, 1, f->sha256, 64, SQLITE_STATIC);
		rc = sqlite3_step(st);
		done(st);
		if (rc == SQLITE_ROW)
			return SQLITE_OK; /* stored already */
		if (rc != SQLITE_DONE)
			break;
		sha256_hex(f->bytes, f->len, hex);
		if (strcmp(hex, f->sha256) != 0) {
			err_set(e, "frame %.12s: bytes hash to %.12s",
			        f->sha256, hex);
			return SQLITE_CONSTRAINT;
		}
		st = s->st[ST_INS_FRAME];
		sqlite3_bind_text(st, 1, f->sha256, 64, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, f->format, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, f->width);
		sqlite3_bind_int(st, 4, f->height);
		sqlite3_bind_double(st, 5, f->dpr);
		sqlite3_bind_blob64(st, 6, f->len > 0 ? f->bytes : "",
		                    (sqlite3_uint64)f->len, SQLITE_STATIC);
		rc = run(st);
		break;
	case STORE_REC_REQUEST:
		q = &r->u.request;
		if (q->id <= 0)
			goto bad_id;
		if (q->kind == NULL) {
			err_set(e, "request %" PRId64 ": no kind", q->id);
			return SQLITE_CONSTRAINT;
		}
		if (q->frame[0] != '\0') {
			st = s->st[ST_FRAME_ID];
			sqlite3_bind_text(st, 1, q->frame, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				frame_id = sqlite3_column_int64(st, 0);
			done(st);
			if (rc == SQLITE_DONE) {
				err_set(e,
				        "request %" PRId64 ": frame %.12s not "
				        "stored",
				        q->id, q->frame);
				return SQLITE_CONSTRAINT;
			}
			if (rc != SQLITE_ROW)
				break;
		}
		st = s->st[ST_INS_REQUEST];
		sqlite3_bind_int64(st, 1, q->id);
		sqlite3_bind_int64(st, 2, q->session);
		if (frame_id > 0)
			sqlite3_bind_int64(st, 3, frame_id);
		else
			sqlite3_bind_null(st, 3);
		bind_text(st, 4, q->kind);
		bind_text(st, 5, q->target);
		bind_text(st, 6, q->options);
		sqlite3_bind_int64(st, 7, q->received_ms);
		rc = run(st);
		break;
	case STORE_REC_ANSWER:
		a = &r->u.answer;
		st = s->st[ST_INS_ANSWER];
		sqlite3_bind_int64(st, 1, a->request);
		bind_text(st, 2, a->points);
		sqlite3_bind_int(st, 3, a->none ? 1 : 0);
		bind_text(st, 4, a->raw);
		bind_text(st, 5, a->model);
		bind_text(st, 6, a->weights);
		bind_text(st, 7, a->error);
		sqlite3_bind_int64(st, 8, a->answered_ms);
		sqlite3_bind_int64(st, 9, a->queue_ms);
		sqlite3_bind_int64(st, 10, a->prep_ms);
		sqlite3_bind_int64(st, 11, a->infer_ms);
		sqlite3_bind_int64(st, 12, a->total_ms);
		rc = run(st);
		break;
	default:
		err_set(e, "unknown record kind %d", (int)r->kind);
		return SQLITE_CONSTRAINT;
	}
	if (rc != SQLITE_OK)
		db_err(s->db, e, "write");
	return rc;
bad_id:
	err_set(e, "id must be positive");
	return SQLITE_CONSTRAINT;
}

static const char *
kind_name(enum store_rec_kind k)
{
	switch (k) {
	case STORE_REC_SESSION_START:
		return "session start";
	case STORE_REC_SESSION_END:
		return "session end";
	case STORE_REC_FRAME:
		return "frame";
	case STORE_REC_REQUEST:
		return "request";
	case STORE_REC_ANSWER:
		return "answer";
	}
	return "record";
}

/* Undo the open transaction, if SQLite has not already done so. */
static void
rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		run(s->st[ST_ROLLBACK]);
}

ssize_t
store_write_batch(struct store *s, const struct store_rec *recs, size_t n,
                  struct err *e)
{
	struct err re;
	ssize_t skipped = 0;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	if (run(s->st[ST_BEGIN]) != SQLITE_OK)
		return db_err(s->db, e, "begin");
	for (i = 0; i < n; i++) {
		rc = write_rec(s, &recs[i], &re);
		if (rc == SQLITE_OK)
			continue;
		if (is_resource_error(rc)) {
			rollback(s);
			return err_set(e,
			               "record %zu (%s): %s; batch rolled back",
			               i, kind_name(recs[i].kind), re.msg);
		}
		if (skipped == 0)
			err_set(e, "record %zu (%s) skipped: %s", i,
			        kind_name(recs[i].kind), re.msg);
		skipped++;
	}
	rc = run(s->st[ST_COMMIT]);
	if (rc != SQLITE_OK) {
		db_err(s->db, e, "commit");
		rollback(s);
		return -1;
	}
	return skipped;
}

/* ---- Reading ---- */

static void
read_session(sqlite3_stmt *st, struct store_session *out)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	out->label = col_text(st, 1);
	out->client = col_text(st, 2);
	out->model = col_text(st, 3);
	out->started_ms = sqlite3_column_int64(st, 4);
	out->ended_ms = sqlite3_column_int64(st, 5);
	out->n_requests = sqlite3_column_int64(st, 6);
}

int
store_sessions(struct store *s, int64_t since_ms, store_session_fn *fn,
               void *arg, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_SESSIONS];
	struct store_session ss;
	int rc;

	sqlite3_bind_int64(st, 1, since_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_session(st, &ss);
		if (fn(arg, &ss) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(st);
	if (rc != SQLITE_DONE)
		return db_err(s->db, e, "sessions");
	return 0;
}

int
store_session(struct store *s, int64_t id, struct store_session *out,
              struct err *e)
{
	sqlite3_stmt *st = s->st[ST_SESSION];
	const char **f[3];
	int rc, i;

	for (i = 0; i < 3; i++) {
		free(s->sess_str[i]);
		s->sess_str[i] = NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_session(st, out);
		f[0] = &out->label;
		f[1] = &out->client;
		f[2] = &out->model;
		for (i = 0; i < 3; i++) {
			if (*f[i] != NULL)
				s->sess_str[i] = xstrdup(*f[i]);
			*f[i] = s->sess_str[i];
		}
	}
	done(st);
	if (rc == SQLITE_DONE)
		return err_set(e, "no session %" PRId64, id);
	if (rc != SQLITE_ROW)
		return db_err(s->db, e, "session");
	return 0;
}

int
store_requests(struct store *s, int64_t id, store_request_fn *fn, void *arg,
               struct err *e)
{
	sqlite3_stmt *st = s->st[ST_REQUESTS];
	struct store_request q;
	struct store_frame f;
	struct store_answer a;
	const char *h;
	int rc;

	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&q, 0, sizeof(q));
		memset(&f, 0, sizeof(f));
		memset(&a, 0, sizeof(a));
		q.id = sqlite3_column_int64(st, 0);
		q.session = sqlite3_column_int64(st, 1);
		q.kind = col_text(st, 2);
		q.target = col_text(st, 3);
		q.options = col_text(st, 4);
		q.received_ms = sqlite3_column_int64(st, 5);
		h = col_text(st, 6);
		if (h != NULL) {
			snprintf(q.frame, sizeof(q.frame), "%s", h);
			snprintf(f.sha256, sizeof(f.sha256), "%s", h);
			f.format = col_text(st, 7);
			f.width = sqlite3_column_int(st, 8);
			f.height = sqlite3_column_int(st, 9);
			f.dpr = sqlite3_column_double(st, 10);
			f.len = (size_t)sqlite3_column_int64(st, 11);
		}
		if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
			a.request = sqlite3_column_int64(st, 12);
			a.points = col_text(st, 13);
			a.none = sqlite3_column_int(st, 14) != 0;
			a.raw = col_text(st, 15);
			a.model = col_text(st, 16);
			a.weights = col_text(st, 17);
			a.error = col_text(st, 18);
			a.answered_ms = sqlite3_column_int64(st, 19);
			a.queue_ms = sqlite3_column_int64(st, 20);
			a.prep_ms = sqlite3_column_int64(st, 21);
			a.infer_ms = sqlite3_column_int64(st, 22);
			a.total_ms = sqlite3_column_int64(st, 23);
		}
		if (fn(arg, &q, h != NULL ? &f : NULL,
		       sqlite3_column_type(st, 12) != SQLITE_NULL
		           ? &a
		           : NULL) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(st);
	if (rc != SQLITE_DONE)
		return db_err(s->db, e, "requests");
	return 0;
}

void *
store_frame_bytes(struct store *s, const char *sha256, size_t *len,
                  struct store_frame *meta, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_FRAME_BYTES];
	const void *p;
	void *copy = NULL;
	size_t n = 0;
	int rc;

	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		p = sqlite3_column_blob(st, 5);
		n = (size_t)sqlite3_column_bytes(st, 5);
		/* malloc, not xmalloc: the size comes from the file. */
		copy = malloc(n > 0 ? n : 1);
		if (copy == NULL) {
			done(st);
			err_set(e, "frame %.12s: %zu bytes: out of memory",
			        sha256, n);
			return NULL;
		}
		if (n > 0)
			memcpy(copy, p, n);
		if (meta != NULL) {
			memset(meta, 0, sizeof(*meta));
			snprintf(meta->sha256, sizeof(meta->sha256), "%s",
			         col_text(st, 0));
			/* format is a static name after the call. */
			meta->format =
			    strcmp(col_text(st, 1), "png") == 0    ? "png"
			    : strcmp(col_text(st, 1), "jpeg") == 0 ? "jpeg"
			                                           : "other";
			meta->width = sqlite3_column_int(st, 2);
			meta->height = sqlite3_column_int(st, 3);
			meta->dpr = sqlite3_column_double(st, 4);
			meta->bytes = copy;
			meta->len = n;
		}
	}
	done(st);
	if (rc == SQLITE_DONE) {
		err_set(e, "no frame %s", sha256);
		return NULL;
	}
	if (rc != SQLITE_ROW) {
		db_err(s->db, e, "frame");
		return NULL;
	}
	*len = n;
	return copy;
}

/* ---- Export and import ---- */

/* Run a one-off statement with up to two integer parameters (0: unused). */
static int
run_sql(sqlite3 *db, const char *sql, int nparam, int64_t p1, int64_t p2,
        struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "prepare");
	if (nparam >= 1)
		sqlite3_bind_int64(st, 1, p1);
	if (nparam >= 2)
		sqlite3_bind_int64(st, 2, p2);
	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(db, e, "copy");
	return 0;
}

/* ATTACH the file at path under name ("src", "x"), read-only if ro. */
static int
attach(sqlite3 *db, const char *path, const char *name, bool ro, struct err *e)
{
	sqlite3_stmt *st;
	char *uri;
	int rc;

	if (sqlite3_prepare_v2(db, "ATTACH ?1 AS ?2", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_err(db, e, "attach");
	uri = file_uri(path, ro ? "mode=ro" : NULL);
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	free(uri);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(e, "%s: %s", path, sqlite3_errmsg(db));
	return 0;
}

static void
detach(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "DETACH ?1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

int
store_export(struct store *s, int64_t id, const char *path, struct err *e)
{
	struct store_session ss;
	sqlite3 *db = NULL;
	char *uri;
	int fd;

	if (strlen(path) == 0 || strlen(path) > PATH_MAX_LEN)
		return err_set(e, "export path is empty or too long");
	if (store_session(s, id, &ss, e) == -1)
		return -1;
	/* O_EXCL: never overwrite; SQLite takes an empty file as empty db. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1)
		return err_set(e, "%s: %s", path, strerror(errno));
	close(fd);
	uri = file_uri(path, NULL);
	db = db_connect(uri, SQLITE_OPEN_READWRITE, 5000, e);
	free(uri);
	if (db == NULL)
		goto fail;
	/* A standalone file: rollback journal, so it is one file at rest. */
	if (migrate(db, e) == -1)
		goto fail;
	/* Read the source through its own read-only connection (WAL reader). */
	if (attach(db, s->path, "src", true, e) == -1)
		goto fail;
	if (exec(db, "BEGIN", e) == -1 ||
	    run_sql(db,
	            "INSERT INTO main.sessions SELECT * FROM src.sessions "
	            "WHERE id = ?1",
	            1, id, 0, e) == -1 ||
	    run_sql(db,
	            "INSERT INTO main.frames SELECT * FROM src.frames WHERE "
	            "id IN (SELECT frame FROM src.requests WHERE session = ?1)",
	            1, id, 0, e) == -1 ||
	    run_sql(db,
	            "INSERT INTO main.requests SELECT * FROM src.requests "
	            "WHERE session = ?1",
	            1, id, 0, e) == -1 ||
	    run_sql(db,
	            "INSERT INTO main.answers SELECT a.* FROM src.answers a "
	            "JOIN src.requests r ON r.id = a.request WHERE "
	            "r.session = ?1",
	            1, id, 0, e) == -1 ||
	    exec(db, "COMMIT", e) == -1)
		goto fail;
	detach(db, "src");
	if (sqlite3_close(db) != SQLITE_OK) {
		err_set(e, "close: %s", sqlite3_errmsg(db));
		db = NULL;
		goto fail;
	}
	return 0;
fail:
	err_prefix(e, "export to %s", path);
	sqlite3_close_v2(db);
	unlink(path);
	return -1;
}

/*
 * Check the attached database x before anything is copied from it: our
 * application id and version, exactly our schema (so every table name below
 * is a real table with our columns), a clean quick_check and foreign key
 * check, and frames whose bytes match their hashes.
 */
static int
check_import(struct store *s, struct err *e)
{
	sqlite3 *db = s->db;
	int64_t app, v, n;
	char res[256];

	if (query_int(db, "PRAGMA x.application_id", &app, e) == -1 ||
	    query_int(db, "PRAGMA x.user_version", &v, e) == -1)
		return -1;
	if (app != STORE_APP_ID)
		return err_set(e, "not a pointd database");
	if (v != N_MIGRATIONS)
		return err_set(e, "schema version %" PRId64 ", expected %d", v,
		               N_MIGRATIONS);
	if (query_int(db,
	              "SELECT (SELECT count(*) FROM (SELECT type, name, "
	              "tbl_name, sql FROM x.sqlite_schema EXCEPT SELECT type, "
	              "name, tbl_name, sql FROM main.sqlite_schema)) + (SELECT "
	              "count(*) FROM (SELECT type, name, tbl_name, sql FROM "
	              "main.sqlite_schema EXCEPT SELECT type, name, tbl_name, "
	              "sql FROM x.sqlite_schema))",
	              &n, e) == -1)
		return -1;
	if (n != 0)
		return err_set(e, "schema differs from this program's");
	if (query_text(db, "PRAGMA x.quick_check", res, sizeof(res), e) == -1)
		return -1;
	if (strcmp(res, "ok") != 0)
		return err_set(e, "damaged: %s", res);
	if (query_int(db,
	              "SELECT count(*) FROM pragma_foreign_key_check(NULL, "
	              "'x')",
	              &n, e) == -1)
		return -1;
	if (n != 0)
		return err_set(e, "%" PRId64 " broken references", n);
	if (query_int(db,
	              "SELECT count(*) FROM x.frames WHERE sha256_hex(bytes) "
	              "IS NOT sha256",
	              &n, e) == -1)
		return -1;
	if (n != 0)
		return err_set(e, "%" PRId64 " frames do not match their hash",
		               n);
	return 0;
}

int
store_import(struct store *s, const char *path, int64_t *first_id,
             int64_t *count, struct err *e)
{
	int64_t next_sess, next_req, min_sess, min_req, n_sess;
	int64_t sess_off, req_off;

	if (s->readonly)
		return err_set(e, "import: database opened read-only");
	if (strlen(path) == 0 || strlen(path) > PATH_MAX_LEN)
		return err_set(e, "import path is empty or too long");
	/* SQLite's message for a missing file would show our URI. */
	if (access(path, R_OK) == -1)
		return err_set(e, "import %s: %s", path, strerror(errno));
	if (attach(s->db, path, "x", true, e) == -1)
		return err_prefix(e, "import");
	if (check_import(s, e) == -1)
		goto fail_detached;
	if (run(s->st[ST_BEGIN]) != SQLITE_OK) {
		db_err(s->db, e, "begin");
		goto fail_detached;
	}
	if (store_next_ids(s, &next_sess, &next_req, e) == -1 ||
	    query_int(s->db, "SELECT count(*) FROM x.sessions", &n_sess, e) ==
	        -1 ||
	    query_int(s->db, "SELECT coalesce(min(id), 1) FROM x.sessions",
	              &min_sess, e) == -1 ||
	    query_int(s->db, "SELECT coalesce(min(id), 1) FROM x.requests",
	              &min_req, e) == -1)
		goto fail;
	/* Shift ids so the smallest imported one is the next free one. */
	sess_off = next_sess - min_sess;
	req_off = next_req - min_req;
	if (run_sql(s->db,
	            "INSERT INTO main.sessions (id, label, client, model, "
	            "started, ended) SELECT id + ?1, label, client, model, "
	            "started, ended FROM x.sessions",
	            1, sess_off, 0, e) == -1 ||
	    run_sql(s->db,
	            "INSERT INTO main.frames (sha256, format, width, height, "
	            "dpr, bytes) SELECT sha256, format, width, height, dpr, "
	            "bytes FROM x.frames WHERE true ON CONFLICT (sha256) DO "
	            "NOTHING",
	            0, 0, 0, e) == -1 ||
	    run_sql(s->db,
	            "INSERT INTO main.requests (id, session, frame, kind, "
	            "target, options, received) SELECT r.id + ?2, r.session + "
	            "?1, (SELECT m.id FROM main.frames m JOIN x.frames f ON "
	            "m.sha256 = f.sha256 WHERE f.id = r.frame), r.kind, "
	            "r.target, r.options, r.received FROM x.requests r",
	            2, sess_off, req_off, e) == -1 ||
	    run_sql(s->db,
	            "INSERT INTO main.answers (request, points, is_none, raw, "
	            "model, weights, error, answered, queue_ms, prep_ms, "
	            "infer_ms, total_ms) SELECT request + ?1, points, is_none, "
	            "raw, model, weights, error, answered, queue_ms, prep_ms, "
	            "infer_ms, total_ms FROM x.answers",
	            1, req_off, 0, e) == -1)
		goto fail;
	if (run(s->st[ST_COMMIT]) != SQLITE_OK) {
		db_err(s->db, e, "commit");
		goto fail;
	}
	detach(s->db, "x");
	if (first_id != NULL)
		*first_id = next_sess;
	if (count != NULL)
		*count = n_sess;
	return 0;
fail:
	rollback(s);
fail_detached:
	detach(s->db, "x");
	return err_prefix(e, "import %s", path);
}

/* ---- Retention ---- */

static int
used_bytes(struct store *s, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_PAGES];
	int rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	done(st);
	if (rc != SQLITE_ROW)
		return db_err(s->db, e, "page count");
	return 0;
}

static int
counts(struct store *s, int64_t c[3], struct err *e)
{
	sqlite3_stmt *st = s->st[ST_COUNTS];
	int rc, i;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		for (i = 0; i < 3; i++)
			c[i] = sqlite3_column_int64(st, i);
	}
	done(st);
	if (rc != SQLITE_ROW)
		return db_err(s->db, e, "counts");
	return 0;
}

/* Run one deleting statement, then drop unreferenced frames, in one
 * transaction.  *changed tells whether the statement deleted anything. */
static int
prune_step(struct store *s, enum stmt which, int64_t param, bool *changed,
           struct err *e)
{
	sqlite3_stmt *st = s->st[which];

	if (run(s->st[ST_BEGIN]) != SQLITE_OK)
		return db_err(s->db, e, "begin");
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, param);
	if (run(st) != SQLITE_OK)
		goto fail;
	if (changed != NULL)
		*changed = sqlite3_changes(s->db) > 0;
	if (run(s->st[ST_PRUNE_FRAMES]) != SQLITE_OK ||
	    run(s->st[ST_COMMIT]) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	db_err(s->db, e, "prune");
	rollback(s);
	return -1;
}

int
store_prune(struct store *s, int64_t now_ms, int64_t max_age_ms,
            int64_t max_bytes, struct store_prune_stats *st, struct err *e)
{
	int64_t before[3], after[3], used = 0;
	bool changed;

	if (counts(s, before, e) == -1)
		return -1;
	if (max_age_ms > 0) {
		if (prune_step(s, ST_PRUNE_AGED_SESSIONS, now_ms - max_age_ms,
		               NULL, e) == -1 ||
		    prune_step(s, ST_PRUNE_AGED_REQUESTS, now_ms - max_age_ms,
		               NULL, e) == -1)
			return -1;
	} else if (prune_step(s, ST_PRUNE_FRAMES, 0, NULL, e) == -1) {
		return -1;
	}
	if (used_bytes(s, &used, e) == -1)
		return -1;
	while (max_bytes > 0 && used > max_bytes) {
		if (prune_step(s, ST_PRUNE_OLDEST_SESSION, 0, &changed, e) ==
		    -1)
			return -1;
		if (!changed && prune_step(s, ST_PRUNE_OLDEST_REQUESTS,
		                           PRUNE_CHUNK, &changed, e) == -1)
			return -1;
		if (!changed)
			break; /* nothing left that may be deleted */
		if (used_bytes(s, &used, e) == -1)
			return -1;
	}
	/* Give the free pages back, then fold the WAL into the file. */
	if (run(s->st[ST_INCR_VACUUM]) != SQLITE_OK)
		return db_err(s->db, e, "incremental vacuum");
	/* A checkpoint blocked by a reader is not an error: it runs later. */
	run(s->st[ST_CHECKPOINT]);
	if (counts(s, after, e) == -1 || used_bytes(s, &used, e) == -1)
		return -1;
	if (st != NULL) {
		st->sessions = before[0] - after[0];
		st->requests = before[1] - after[1];
		st->frames = before[2] - after[2];
		st->bytes = used;
	}
	return 0;
}
