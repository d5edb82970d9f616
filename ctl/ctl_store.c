/* SPDX-License-Identifier: ISC */
/*
 * ctl_store.c: the session log commands of pointctl, over store/:
 *
 *   sessions [--database PATH] [--since TIME] [--json]   list sessions
 *   show [--database PATH] [--json] SESSION              requests and answers
 *   export [--database PATH] -o FILE SESSION             one session to a file
 *   import [--database PATH] FILE                        add an exported run
 *
 * The database is --database PATH, else the `database` directive of the
 * pointd.conf named by -f FILE, else ./pointd.db (ctl_store_database).
 * Reading commands open it read-only, so they run beside a live pointd.
 * Times print as UTC ISO 8601 with milliseconds; --json prints one JSON
 * document with times as integer ms since the epoch.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "store/store.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define DEFAULT_DATABASE "pointd.db"
/* Room for any formatted time (the year may have many digits). */
#define TIME_LEN 80

/* The database a store command uses: db if given, else the `database`
 * directive of the pointd.conf at conf (only that line is read), else
 * ./pointd.db.  Returns a malloc'd path, or NULL after printing why. */
char *
ctl_store_database(const char *db, const char *conf)
{
	char line[4096], *p, *end, *found = NULL;
	FILE *f;

	if (db != NULL)
		return xstrdup(db);
	if (conf == NULL)
		return xstrdup(DEFAULT_DATABASE);
	f = fopen(conf, "r");
	if (f == NULL) {
		fprintf(stderr, "pointctl: %s: cannot open: %s\n", conf,
		        strerror(errno));
		return NULL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		p = line + strspn(line, " \t");
		if (strncmp(p, "database", 8) != 0 ||
		    (p[8] != ' ' && p[8] != '\t'))
			continue;
		p += 8 + strspn(p + 8, " \t");
		end = p + strcspn(p, "\r\n#");
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		free(found);
		found = xstrndup(p, (size_t)(end - p));
	}
	fclose(f);
	if (found == NULL || found[0] == '\0') {
		fprintf(stderr,
		        "pointctl: %s: no database directive; give "
		        "--database\n",
		        conf);
		free(found);
		return NULL;
	}
	return found;
}

struct opts {
	const char *database; /* --database */
	const char *conf;     /* -f */
	const char *since;    /* --since */
	const char *output;   /* -o */
	bool json;            /* --json */
};

/* Parse the options shared by the store commands; allowed is the set of
 * short letters this command takes.  Returns 0, or -1 on a usage error. */
static int
parse_opts(int argc, char **argv, const char *allowed, struct opts *o)
{
	static const struct option lopts[] = {
	    {"database", required_argument, NULL, 'd'},
	    {"since", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:", lopts, NULL)) != -1) {
		if (c == '?' || (c != 'f' && strchr(allowed, c) == NULL))
			return -1;
		switch (c) {
		case 'f':
			o->conf = optarg;
			break;
		case 'd':
			o->database = optarg;
			break;
		case 's':
			o->since = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		}
	}
	if (o->database == NULL) {
		static char *chosen;

		free(chosen);
		chosen = ctl_store_database(NULL, o->conf);
		if (chosen == NULL)
			return -1;
		o->database = chosen;
	}
	return 0;
}

/* Open the database: read-only and existing, or (import) read-write,
 * created when missing. */
static struct store *
open_db(const char *path, bool readonly)
{
	struct store_params p = store_params_default();
	struct store *s;
	struct err e;

	p.readonly = readonly;
	p.create = !readonly;
	s = store_open(path, &p, &e);
	if (s == NULL)
		fprintf(stderr, "pointctl: %s\n", e.msg);
	return s;
}

/* Parse a session id. */
static int
parse_id(const char *arg, int64_t *id)
{
	const char *es;
	long long v;

	if (str_to_ll(arg, 1, INT64_MAX, &v, &es) == -1) {
		fprintf(stderr, "pointctl: session id %s: %s\n", arg, es);
		return -1;
	}
	*id = v;
	return 0;
}

/*
 * Parse --since: an ISO date or UTC time (2026-01-31, 2026-01-31T12:00,
 * 2026-01-31T12:00:05Z) or an age (90s, 30m, 12h, 7d) before now.
 */
static int
parse_since(const char *arg, int64_t now_ms, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, k = 0;
	size_t len = strlen(arg);
	const char *es;
	char num[32];
	struct tm tm;
	long long v;
	int64_t mult;

	if (len >= 2 && len < sizeof(num) && strchr("smhd", arg[len - 1])) {
		memcpy(num, arg, len - 1);
		num[len - 1] = '\0';
		switch (arg[len - 1]) {
		case 's':
			mult = 1000;
			break;
		case 'm':
			mult = 60000;
			break;
		case 'h':
			mult = 3600000;
			break;
		default:
			mult = 86400000;
			break;
		}
		if (str_to_ll(num, 0, INT64_MAX / 86400000, &v, &es) == -1)
			goto bad;
		*out = now_ms - v * mult;
		return 0;
	}
	if (sscanf(arg, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		goto bad;
	if (arg[n] == 'T') {
		if (sscanf(arg + n, "T%2d:%2d%n", &h, &mi, &k) != 2)
			goto bad;
		n += k;
		if (arg[n] == ':') {
			if (sscanf(arg + n, ":%2d%n", &sec, &k) != 1)
				goto bad;
			n += k;
		}
	}
	if (arg[n] == 'Z')
		n++;
	if (arg[n] != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
	    sec > 60)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm) * 1000;
	return 0;
bad:
	fprintf(stderr,
	        "pointctl: --since %s: expected YYYY-MM-DD[THH:MM[:SS]][Z] "
	        "or an age like 30m, 12h, 7d\n",
	        arg);
	return -1;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms since the epoch as 2026-01-31T12:00:05.123Z into buf. */
static const char *
fmt_time(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, n, "%" PRId64, ms);
		return buf;
	}
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

/* A JSON string, or null for NULL. */
static json_t *
jstr(const char *s)
{
	json_t *v;
	char *c;
	size_t i;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	/* Not UTF-8 (an imported file may hold anything): keep the ASCII. */
	c = xstrdup(s);
	for (i = 0; c[i] != '\0'; i++) {
		if ((unsigned char)c[i] >= 0x80)
			c[i] = '?';
	}
	v = json_string(c);
	free(c);
	return v;
}

/* Stored JSON text (options, points) as JSON; as a string if the database
 * holds something that doesn't parse. */
static json_t *
jraw(const char *s)
{
	json_t *v;

	if (s == NULL)
		return json_null();
	v = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	return v != NULL ? v : jstr(s);
}

static json_t *
session_json(const struct store_session *ss)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:I, s:o, s:I}", "id",
	                 (json_int_t)ss->id, "label", jstr(ss->label), "client",
	                 jstr(ss->client), "model", jstr(ss->model),
	                 "started_ms", (json_int_t)ss->started_ms, "ended_ms",
	                 ss->ended_ms != 0 ? json_integer(ss->ended_ms)
	                                   : json_null(),
	                 "requests", (json_int_t)ss->n_requests);
}

/* Print a JSON document on stdout; returns CTL_OK or CTL_FAIL. */
static int
emit(json_t *v)
{
	int rc;

	if (v == NULL) {
		fprintf(stderr, "pointctl: out of memory building JSON\n");
		return CTL_FAIL;
	}
	rc = json_dumpf(v, stdout, JSON_INDENT(2)) == 0 &&
	             fputc('\n', stdout) != EOF
	         ? CTL_OK
	         : CTL_FAIL;
	json_decref(v);
	if (rc != CTL_OK)
		fprintf(stderr, "pointctl: write error on stdout\n");
	return rc;
}

/* ---- sessions ---- */

static int
print_session(void *arg, const struct store_session *ss)
{
	char a[TIME_LEN], b[TIME_LEN];

	(void)arg;
	printf("%-6" PRId64 " %-24s %-24s %6" PRId64 "  %s\n", ss->id,
	       fmt_time(ss->started_ms, a, sizeof(a)),
	       ss->ended_ms != 0 ? fmt_time(ss->ended_ms, b, sizeof(b))
	                         : "open",
	       ss->n_requests, ss->label != NULL ? ss->label : "-");
	return 0;
}

static int
add_session(void *arg, const struct store_session *ss)
{
	json_array_append_new(arg, session_json(ss));
	return 0;
}

int
ctl_sessions(int argc, char **argv)
{
	struct store *s;
	struct opts o;
	struct err e;
	int64_t since = 0;
	json_t *arr = NULL;
	int rc;

	if (parse_opts(argc, argv, "dsj", &o) == -1 || optind != argc)
		return ctl_usage(argv[0]);
	if (o.since != NULL && parse_since(o.since, now_ms(), &since) == -1)
		return CTL_USAGE;
	s = open_db(o.database, true);
	if (s == NULL)
		return CTL_FAIL;
	if (o.json) {
		arr = json_array();
		rc = store_sessions(s, since, add_session, arr, &e);
	} else {
		printf("%-6s %-24s %-24s %6s  %s\n", "ID", "STARTED", "ENDED",
		       "REQS", "LABEL");
		rc = store_sessions(s, since, print_session, NULL, &e);
	}
	store_close(s);
	if (rc == -1) {
		json_decref(arr);
		fprintf(stderr, "pointctl: %s: %s\n", o.database, e.msg);
		return CTL_FAIL;
	}
	return o.json ? emit(arr) : CTL_OK;
}

/* ---- show ---- */

static int
print_request(void *arg, const struct store_request *q,
              const struct store_frame *f, const struct store_answer *a)
{
	char t[TIME_LEN];

	(void)arg;
	printf("request %" PRId64 " at %s: %s", q->id,
	       fmt_time(q->received_ms, t, sizeof(t)), q->kind);
	if (q->target != NULL)
		printf(" \"%s\"", q->target);
	if (q->options != NULL)
		printf(" options %s", q->options);
	printf("\n");
	if (f != NULL)
		printf("  frame %s %s %dx%d dpr %g, %zu bytes\n", f->sha256,
		       f->format != NULL ? f->format : "?", f->width, f->height,
		       f->dpr, f->len);
	if (a == NULL) {
		printf("  no answer\n");
		return 0;
	}
	printf("  answer at %s: %s%s%s\n",
	       fmt_time(a->answered_ms, t, sizeof(t)),
	       a->none             ? "none"
	       : a->points != NULL ? a->points
	                           : "-",
	       a->error != NULL ? ", error " : "",
	       a->error != NULL ? a->error : "");
	if (a->raw != NULL)
		printf("  raw: %s\n", a->raw);
	printf("  model %s weights %s\n", a->model != NULL ? a->model : "-",
	       a->weights != NULL ? a->weights : "-");
	printf("  timings: queue %" PRId64 " ms, prep %" PRId64
	       " ms, infer %" PRId64 " ms, total %" PRId64 " ms\n",
	       a->queue_ms, a->prep_ms, a->infer_ms, a->total_ms);
	return 0;
}

static int
add_request(void *arg, const struct store_request *q,
            const struct store_frame *f, const struct store_answer *a)
{
	json_t *r, *fj = json_null(), *aj = json_null();

	if (f != NULL)
		fj = json_pack("{s:s, s:o, s:i, s:i, s:f, s:I}", "sha256",
		               f->sha256, "format", jstr(f->format), "width",
		               f->width, "height", f->height, "dpr", f->dpr,
		               "bytes", (json_int_t)f->len);
	if (a != NULL)
		aj = json_pack(
		    "{s:o, s:b, s:o, s:o, s:o, s:o, s:I, s:{s:I, "
		    "s:I, s:I, s:I}}",
		    "points", jraw(a->points), "none", a->none, "raw",
		    jstr(a->raw), "model", jstr(a->model), "weights",
		    jstr(a->weights), "error", jstr(a->error), "answered_ms",
		    (json_int_t)a->answered_ms, "timings", "queue_ms",
		    (json_int_t)a->queue_ms, "prep_ms", (json_int_t)a->prep_ms,
		    "infer_ms", (json_int_t)a->infer_ms, "total_ms",
		    (json_int_t)a->total_ms);
	r = json_pack("{s:I, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
	              (json_int_t)q->id, "kind", jstr(q->kind), "target",
	              jstr(q->target), "options", jraw(q->options),
	              "received_ms", (json_int_t)q->received_ms, "frame", fj,
	              "answer", aj);
	/* NULL only when out of memory: stop the walk with a null as the
	 * last element, which show() takes as the failure. */
	if (r == NULL) {
		json_array_append_new(arg, json_null());
		return -1;
	}
	json_array_append_new(arg, r);
	return 0;
}

/* Print one session and its requests, as text or JSON. */
static int
show(struct store *s, int64_t id, bool json, struct err *e)
{
	struct store_session ss;
	json_t *doc, *reqs;
	char a[TIME_LEN], b[TIME_LEN];

	if (store_session(s, id, &ss, e) == -1)
		return -1;
	if (json) {
		reqs = json_array();
		doc = json_pack("{s:o, s:o}", "session", session_json(&ss),
		                "requests", reqs);
		if (doc == NULL)
			return err_set(e, "out of memory");
		if (store_requests(s, id, add_request, reqs, e) == -1) {
			json_decref(doc);
			return -1;
		}
		if (json_array_size(reqs) > 0 &&
		    json_array_get(reqs, json_array_size(reqs) - 1) ==
		        json_null()) {
			json_decref(doc);
			return err_set(e, "out of memory building JSON");
		}
		return emit(doc) == CTL_OK ? 0 : err_set(e, "write error");
	}
	printf("session %" PRId64 " \"%s\"\n", ss.id,
	       ss.label != NULL ? ss.label : "");
	printf("  client %s, model %s\n", ss.client != NULL ? ss.client : "-",
	       ss.model != NULL ? ss.model : "-");
	printf("  started %s, %s %s, %" PRId64 " requests\n",
	       fmt_time(ss.started_ms, a, sizeof(a)),
	       ss.ended_ms != 0 ? "ended" : "still",
	       ss.ended_ms != 0 ? fmt_time(ss.ended_ms, b, sizeof(b)) : "open",
	       ss.n_requests);
	return store_requests(s, id, print_request, NULL, e);
}

int
ctl_show(int argc, char **argv)
{
	struct store *s;
	struct opts o;
	struct err e;
	int64_t id;
	int rc;

	if (parse_opts(argc, argv, "dj", &o) == -1 || optind != argc - 1)
		return ctl_usage(argv[0]);
	if (parse_id(argv[optind], &id) == -1)
		return CTL_USAGE;
	s = open_db(o.database, true);
	if (s == NULL)
		return CTL_FAIL;
	rc = show(s, id, o.json, &e);
	store_close(s);
	if (rc == -1) {
		fprintf(stderr, "pointctl: %s: %s\n", o.database, e.msg);
		return CTL_FAIL;
	}
	return CTL_OK;
}

/* ---- export and import ---- */

int
ctl_export(int argc, char **argv)
{
	struct store *s;
	struct opts o;
	struct err e;
	int64_t id;
	int rc;

	if (parse_opts(argc, argv, "do", &o) == -1 || optind != argc - 1 ||
	    o.output == NULL)
		return ctl_usage(argv[0]);
	if (parse_id(argv[optind], &id) == -1)
		return CTL_USAGE;
	s = open_db(o.database, true);
	if (s == NULL)
		return CTL_FAIL;
	rc = store_export(s, id, o.output, &e);
	store_close(s);
	if (rc == -1) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		return CTL_FAIL;
	}
	printf("exported session %" PRId64 " to %s\n", id, o.output);
	return CTL_OK;
}

int
ctl_import(int argc, char **argv)
{
	struct store *s;
	struct opts o;
	struct err e;
	int64_t first, count;
	int rc;

	if (parse_opts(argc, argv, "d", &o) == -1 || optind != argc - 1)
		return ctl_usage(argv[0]);
	s = open_db(o.database, false);
	if (s == NULL)
		return CTL_FAIL;
	rc = store_import(s, argv[optind], &first, &count, &e);
	store_close(s);
	if (rc == -1) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		return CTL_FAIL;
	}
	if (count == 1)
		printf("imported session %" PRId64 "\n", first);
	else
		printf("imported %" PRId64 " sessions from id %" PRId64 "\n",
		       count, first);
	return CTL_OK;
}
