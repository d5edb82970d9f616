/* SPDX-License-Identifier: ISC */
/*
 * conf.c: reading pointd.conf(5) through one table of directives.
 *
 * The file has one directive per line, `name value`, with `#` comments and
 * blank lines.  A value may be wrapped in double quotes to keep spaces.
 * Each row of conf_directives[] names the field it fills, its type, its
 * default (a string parsed exactly like a line of the file), its range and
 * whether SIGHUP reloads it.  The same table prints the effective
 * configuration (`pointd -n -v`) and is checked against pointd.conf.5 and
 * etc/pointd.conf by the tests.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define OFF(f) offsetof(struct conf, f)
#define KIB    1024LL
#define MIB    (1024LL * 1024)
#define GIB    (1024LL * 1024 * 1024)

static const char *const levels[] = {"error", "warn",  "info",
                                     "debug", "trace", NULL};
static const char *const syncs[] = {"normal", "full", NULL};

/* clang-format off */
const struct conf_directive conf_directives[] = {
	{ "listen", CONF_STR, OFF(listen), "127.0.0.1:7755", 0, 0, NULL, false, false,
	  "address and TCP port for WebSocket and HTTP (ADDR:PORT, [V6]:PORT)" },
	{ "model", CONF_STR, OFF(model), "/var/lib/pointd/model", 0, 0, NULL, false, false,
	  "directory of the Molmo checkpoint (config.json, safetensors, tokenizer)" },
	{ "tokenizer", CONF_STR, OFF(tokenizer), "", 0, 0, NULL, false, false,
	  "tokenizer.json (or its directory) for a checkpoint that ships none; empty = the checkpoint's" },
	{ "vocab_map", CONF_STR, OFF(vocab_map), "", 0, 0, NULL, false, false,
	  "JSON map from tokenizer ids to a pruned checkpoint's ids; empty = none" },
	{ "max_crops", CONF_INT, OFF(max_crops), "0", 0, 128, NULL, false, false,
	  "Molmo 2 high-resolution crops per image; 0 = the checkpoint's default" },
	{ "database", CONF_STR, OFF(database), "", 0, 0, NULL, false, false,
	  "SQLite file recording requests; empty for none" },
	{ "synchronous", CONF_ENUM, OFF(synchronous), "full", 0, 0, syncs, false, false,
	  "database durability: full survives power loss, normal a crash of pointd" },
	{ "database_max_age", CONF_INT, OFF(database_max_age), "0", 0, 100LL * 365 * 86400, NULL, false, false,
	  "seconds a recorded session is kept after it ended; 0 = no limit" },
	{ "database_max_bytes", CONF_SIZE, OFF(database_max_bytes), "0", 0, 1LL << 50, NULL, false, false,
	  "database size above which the oldest sessions are pruned; 0 = no limit" },
	{ "database_max_pages", CONF_INT, OFF(database_max_pages), "0", 0, 1LL << 31, NULL, false, false,
	  "tests only: the most pages the database may have (a full disk); 0 = no limit" },
	{ "token", CONF_LIST, OFF(tokens), NULL, 0, 0, NULL, true, true,
	  "a client secret (repeatable, at least 16 bytes); none = no auth, loopback only" },
	{ "threads", CONF_INT, OFF(threads), "0", 0, 1024, NULL, false, false,
	  "compute threads for inference; 0 = one per online CPU" },
	{ "tls_cert", CONF_STR, OFF(tls_cert), "", 0, 0, NULL, false, false,
	  "PEM certificate chain for wss:// and https://; empty for plain" },
	{ "tls_key", CONF_STR, OFF(tls_key), "", 0, 0, NULL, false, false,
	  "PEM private key matching tls_cert" },
	{ "origin", CONF_LIST, OFF(origins), NULL, 0, 0, NULL, true, false,
	  "allowed Origin header value (repeatable); none = any origin" },
	{ "user", CONF_STR, OFF(user), "pointd", 0, 0, NULL, false, false,
	  "user to switch to after start-up when started as root" },
	{ "backend", CONF_STR, OFF(backend), "molmo", 0, 0, NULL, false, false,
	  "inference backend: molmo, text (OCR, no model) or auto (text when sure, else molmo)" },
	{ "log_level", CONF_ENUM, OFF(log_level), "info", 0, 0, levels, true, false,
	  "least severe level logged (-v raises it)" },
	{ "max_message_bytes", CONF_SIZE, OFF(max_message_bytes), "16M", 1 * KIB, 1 * GIB, NULL, true, false,
	  "largest WebSocket message or HTTP request body" },
	{ "max_image_bytes", CONF_SIZE, OFF(max_image_bytes), "10M", 1 * KIB, 1 * GIB, NULL, true, false,
	  "largest encoded PNG or JPEG" },
	{ "max_pixels", CONF_SIZE, OFF(max_pixels), "40000000", 1, 1000000000, NULL, true, false,
	  "largest width times height, checked from the header before decoding" },
	{ "max_text_bytes", CONF_SIZE, OFF(max_text_bytes), "4K", 64, 1 * MIB, NULL, true, false,
	  "longest target, prompt, token, client name or session label" },
	{ "max_sessions", CONF_INT, OFF(max_sessions), "256", 1, 100000, NULL, true, false,
	  "concurrent WebSocket sessions" },
	{ "max_frames", CONF_INT, OFF(max_frames), "4", 1, 1024, NULL, true, false,
	  "frames kept per session; the oldest is dropped" },
	{ "max_inflight", CONF_INT, OFF(max_inflight), "4", 1, 1024, NULL, true, false,
	  "queued or running requests per session" },
	{ "queue_depth", CONF_INT, OFF(queue_depth), "64", 1, 100000, NULL, true, false,
	  "queued requests over all sessions before busy" },
	{ "request_timeout_ms", CONF_INT, OFF(request_timeout_ms), "60000", 10, 3600000, NULL, true, false,
	  "time from a request's arrival to its answer before timeout" },
	{ "idle_timeout_s", CONF_INT, OFF(idle_timeout_s), "300", 1, 86400, NULL, true, false,
	  "a session with no message and nothing in flight for this long is closed" },
	{ "drain_timeout_s", CONF_INT, OFF(drain_timeout_s), "30", 0, 3600, NULL, true, false,
	  "on SIGTERM, how long in-flight requests may finish" },
	{ "max_new_tokens", CONF_INT, OFF(max_new_tokens), "64", 1, 4096, NULL, true, false,
	  "tokens the model may generate for one answer" },
};
/* clang-format on */

const size_t conf_n_directives =
    sizeof(conf_directives) / sizeof(conf_directives[0]);

/* ---- Field access ---- */

static char **
field_str(struct conf *c, const struct conf_directive *d)
{
	return (char **)(void *)((char *)c + d->offset);
}

static long long *
field_int(struct conf *c, const struct conf_directive *d)
{
	return (long long *)(void *)((char *)c + d->offset);
}

static struct conf_list *
field_list(struct conf *c, const struct conf_directive *d)
{
	return (struct conf_list *)(void *)((char *)c + d->offset);
}

static const struct conf_directive *
find(const char *name)
{
	size_t i;

	for (i = 0; i < conf_n_directives; i++)
		if (strcmp(conf_directives[i].name, name) == 0)
			return &conf_directives[i];
	return NULL;
}

static void
list_clear(struct conf_list *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	memset(l, 0, sizeof(*l));
}

/* Parse a size: digits with an optional K, M or G (binary) suffix. */
static int
parse_size(const char *s, long long min, long long max, long long *out,
           struct err *e)
{
	char num[32];
	size_t n = strlen(s);
	long long mul = 1, v;
	const char *errstr;

	if (n > 0 && strchr("kKmMgG", s[n - 1]) != NULL) {
		switch (tolower((unsigned char)s[n - 1])) {
		case 'k':
			mul = KIB;
			break;
		case 'm':
			mul = MIB;
			break;
		default:
			mul = GIB;
			break;
		}
		n--;
	}
	if (n == 0 || n >= sizeof(num))
		return err_set(e, "invalid size \"%s\"", s);
	memcpy(num, s, n);
	num[n] = '\0';
	if (str_to_ll(num, 0, INT64_MAX / GIB, &v, &errstr) == -1)
		return err_set(e, "invalid size \"%s\"", s);
	v *= mul;
	if (v < min || v > max)
		return err_set(e, "%s is out of range %lld to %lld", s, min,
		               max);
	*out = v;
	return 0;
}

/* Set directive d of c from the string value. */
static int
set_value(struct conf *c, const struct conf_directive *d, const char *value,
          struct err *e)
{
	const char *errstr;
	long long v;
	struct conf_list *l;
	int i;

	switch (d->type) {
	case CONF_STR:
		free(*field_str(c, d));
		*field_str(c, d) = xstrdup(value);
		return 0;
	case CONF_INT:
		if (str_to_ll(value, d->min, d->max, &v, &errstr) == -1)
			return err_set(e,
			               "%s: \"%s\" is %s (range %lld to %lld)",
			               d->name, value, errstr, d->min, d->max);
		*field_int(c, d) = v;
		return 0;
	case CONF_SIZE:
		if (parse_size(value, d->min, d->max, &v, e) == -1)
			return err_prefix(e, "%s", d->name);
		*field_int(c, d) = v;
		return 0;
	case CONF_LIST:
		l = field_list(c, d);
		if (l->n == CONF_LIST_MAX)
			return err_set(e, "%s: more than %d values", d->name,
			               CONF_LIST_MAX);
		l->v[l->n++] = xstrdup(value);
		return 0;
	case CONF_ENUM:
		for (i = 0; d->choices[i] != NULL; i++)
			if (strcmp(d->choices[i], value) == 0)
				break;
		if (d->choices[i] == NULL)
			return err_set(e, "%s: \"%s\" is not a known value",
			               d->name, value);
		free(*field_str(c, d));
		*field_str(c, d) = xstrdup(value);
		return 0;
	}
	return err_set(e, "%s: bad directive type", d->name);
}

void
conf_defaults(struct conf *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < conf_n_directives; i++) {
		const struct conf_directive *d = &conf_directives[i];
		struct err e;

		if (d->def == NULL)
			continue;
		/* The table's defaults are ours: a bad one is a bug. */
		if (set_value(c, d, d->def, &e) == -1)
			abort();
	}
}

void
conf_fini(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < conf_n_directives; i++) {
		const struct conf_directive *d = &conf_directives[i];

		if (d->type == CONF_STR || d->type == CONF_ENUM)
			free(*field_str(c, d));
		else if (d->type == CONF_LIST)
			list_clear(field_list(c, d));
	}
	memset(c, 0, sizeof(*c));
}

/* Split one line into name and value (in place).  Returns 1 for a
 * directive, 0 for a blank or comment line, -1 on error. */
static int
split_line(char *line, char **name, char **value, struct err *e)
{
	char *p = line, *v, *end;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	*name = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p == '\0')
		return err_set(e, "%s: missing value", *name);
	*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '"') {
		v = ++p;
		end = strchr(v, '"');
		if (end == NULL)
			return err_set(e, "%s: unterminated quote", *name);
		*end++ = '\0';
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0' && *end != '#')
			return err_set(e, "%s: text after the quoted value",
			               *name);
		*value = v;
		return 1;
	}
	v = p;
	/* A '#' after whitespace starts a comment. */
	end = v;
	while (*end != '\0' && *end != '#')
		end++;
	*end = '\0';
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (*v == '\0')
		return err_set(e, "%s: missing value", *name);
	if (strchr(v, ' ') != NULL || strchr(v, '\t') != NULL)
		return err_set(
		    e, "%s: one value expected (quote it to keep spaces)",
		    *name);
	*value = v;
	return 1;
}

int
conf_parse(struct conf *c, const char *name, const char *text, struct err *e)
{
	bool seen[sizeof(conf_directives) / sizeof(conf_directives[0])];
	char line[CONF_LINE_MAX];
	const char *p = text, *nl;
	char *dname = NULL, *value = NULL;
	size_t len;
	int lineno = 0, r;

	memset(seen, 0, sizeof(seen));
	while (*p != '\0') {
		const struct conf_directive *d;

		lineno++;
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len >= sizeof(line))
			return err_set(e, "%s:%d: line longer than %d bytes",
			               name, lineno, CONF_LINE_MAX - 1);
		memcpy(line, p, len);
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		p = nl != NULL ? nl + 1 : p + len;
		r = split_line(line, &dname, &value, e);
		if (r == -1)
			return err_prefix(e, "%s:%d", name, lineno);
		if (r == 0)
			continue;
		d = find(dname);
		if (d == NULL)
			return err_set(e, "%s:%d: unknown directive \"%s\"",
			               name, lineno, dname);
		if (d->type != CONF_LIST) {
			if (seen[d - conf_directives])
				return err_set(e, "%s:%d: %s given twice", name,
				               lineno, d->name);
			seen[d - conf_directives] = true;
		}
		if (set_value(c, d, value, e) == -1)
			return err_prefix(e, "%s:%d", name, lineno);
	}
	return 0;
}

int
conf_verbosity(const struct conf *c, int vflags)
{
	int i, v = 0;

	/* levels[] runs error, warn, info, debug, trace; info is 0. */
	for (i = 0; levels[i] != NULL; i++)
		if (strcmp(c->log_level, levels[i]) == 0)
			v = i - 2;
	return v > vflags ? v : vflags;
}

bool
conf_is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

/* Split c->listen into host and port. */
static int
parse_listen(struct conf *c, struct err *e)
{
	const char *s = c->listen, *colon, *host, *hend;
	long long port;
	const char *errstr;
	size_t n;

	if (s[0] == '[') {
		host = s + 1;
		hend = strchr(s, ']');
		if (hend == NULL || hend[1] != ':')
			return err_set(e, "listen: \"%s\" is not [ADDR]:PORT",
			               s);
		colon = hend + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return err_set(e, "listen: \"%s\" is not ADDR:PORT", s);
		host = s;
		hend = colon;
	}
	n = (size_t)(hend - host);
	if (n == 0 || n >= sizeof(c->listen_host))
		return err_set(e, "listen: \"%s\" has no usable address", s);
	memcpy(c->listen_host, host, n);
	c->listen_host[n] = '\0';
	if (str_to_ll(colon + 1, 1, 65535, &port, &errstr) == -1)
		return err_set(e,
		               "listen: port \"%s\" is %s (range 1 to 65535)",
		               colon + 1, errstr);
	c->listen_port = (int)port;
	return 0;
}

int
conf_check(struct conf *c, struct err *e)
{
	int i;

	if (parse_listen(c, e) == -1)
		return -1;
	if (c->model[0] == '\0')
		return err_set(e, "model: a checkpoint directory is required");
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0'))
		return err_set(e,
		               "tls_cert and tls_key must be given together");
	for (i = 0; i < c->tokens.n; i++)
		if (strlen(c->tokens.v[i]) < CONF_TOKEN_MIN)
			return err_set(e, "token %d is shorter than %d bytes",
			               i + 1, CONF_TOKEN_MIN);
	if (c->tokens.n == 0 && !conf_is_loopback(c->listen_host))
		return err_set(e,
		               "listen: %s is not loopback, so at least one "
		               "token is required",
		               c->listen_host);
	if (c->max_image_bytes > c->max_message_bytes)
		return err_set(e,
		               "max_image_bytes (%lld) exceeds "
		               "max_message_bytes (%lld)",
		               c->max_image_bytes, c->max_message_bytes);
	if (c->max_text_bytes > c->max_message_bytes)
		return err_set(e, "max_text_bytes exceeds max_message_bytes");
	return 0;
}

int
conf_load(struct conf *c, const char *path, struct err *e)
{
	struct buf b;
	char chunk[8192];
	FILE *f;
	size_t n;
	int rc;

	conf_defaults(c);
	f = fopen(path, "r");
	if (f == NULL)
		return err_set(e, "%s: %s", path, strerror(errno));
	buf_init(&b, 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) == -1) {
			fclose(f);
			return err_set(e, "%s: larger than 1 MiB", path);
		}
	}
	if (ferror(f)) {
		fclose(f);
		buf_fini(&b);
		return err_set(e, "%s: %s", path, strerror(errno));
	}
	fclose(f);
	if (b.len > 0 && memchr(b.data, '\0', b.len) != NULL) {
		buf_fini(&b);
		return err_set(e, "%s: contains a NUL byte", path);
	}
	rc = conf_parse(c, path, b.data != NULL ? b.data : "", e);
	buf_fini(&b);
	if (rc == -1)
		return -1;
	if (conf_check(c, e) == -1)
		return err_prefix(e, "%s", path);
	return 0;
}

/* True if lists a and b hold the same strings. */
static bool
list_equal(const struct conf_list *a, const struct conf_list *b)
{
	int i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

int
conf_reload(struct conf *dst, const struct conf *src)
{
	struct conf *s = (struct conf *)(uintptr_t)src;
	size_t i;
	int changed = 0, k;

	for (i = 0; i < conf_n_directives; i++) {
		const struct conf_directive *d = &conf_directives[i];

		if (!d->reload)
			continue;
		switch (d->type) {
		case CONF_STR:
		case CONF_ENUM:
			if (strcmp(*field_str(dst, d), *field_str(s, d)) == 0)
				break;
			free(*field_str(dst, d));
			*field_str(dst, d) = xstrdup(*field_str(s, d));
			changed++;
			break;
		case CONF_INT:
		case CONF_SIZE:
			if (*field_int(dst, d) == *field_int(s, d))
				break;
			*field_int(dst, d) = *field_int(s, d);
			changed++;
			break;
		case CONF_LIST:
			if (list_equal(field_list(dst, d), field_list(s, d)))
				break;
			list_clear(field_list(dst, d));
			for (k = 0; k < field_list(s, d)->n; k++)
				field_list(dst, d)->v[k] =
				    xstrdup(field_list(s, d)->v[k]);
			field_list(dst, d)->n = field_list(s, d)->n;
			changed++;
			break;
		}
	}
	return changed;
}

/* Print s quoted when it is empty or has spaces. */
static void
print_value(FILE *f, const char *s)
{
	if (s[0] == '\0' || strpbrk(s, " \t#") != NULL)
		fprintf(f, "\"%s\"", s);
	else
		fputs(s, f);
}

void
conf_print(const struct conf *c, FILE *f)
{
	struct conf *m = (struct conf *)(uintptr_t)c;
	size_t i;
	int k;

	for (i = 0; i < conf_n_directives; i++) {
		const struct conf_directive *d = &conf_directives[i];
		const struct conf_list *l;

		switch (d->type) {
		case CONF_STR:
		case CONF_ENUM:
			fprintf(f, "%s ", d->name);
			print_value(f, *field_str(m, d));
			fputc('\n', f);
			break;
		case CONF_INT:
		case CONF_SIZE:
			fprintf(f, "%s %lld\n", d->name, *field_int(m, d));
			break;
		case CONF_LIST:
			l = field_list(m, d);
			if (l->n == 0)
				fprintf(f, "# %s (none)\n", d->name);
			for (k = 0; k < l->n; k++) {
				fprintf(f, "%s ", d->name);
				if (d->secret)
					fputs("(hidden)", f);
				else
					print_value(f, l->v[k]);
				fputc('\n', f);
			}
			break;
		}
	}
}

/* Compare a and b in time that depends only on their lengths. */
static bool
ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return d == 0 && lb > 0;
}

bool
conf_token_ok(const struct conf *c, const char *token)
{
	bool ok = false;
	int i;

	if (c->tokens.n == 0)
		return true;
	if (token == NULL)
		return false;
	/* Try every token, without stopping early. */
	for (i = 0; i < c->tokens.n; i++)
		ok |= ct_equal(token, c->tokens.v[i]);
	return ok;
}
