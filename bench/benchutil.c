/* SPDX-License-Identifier: ISC */
/* benchutil.c: see benchutil.h. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "util/err.h"
#include "util/file.h"
#include "util/str.h"

double
bench_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void *
bench_read_file(const char *prog, const char *path, size_t max, size_t *len)
{
	struct err e;
	void *p = file_read(path, max, len, &e);

	if (p == NULL) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		exit(1);
	}
	return p;
}

long long
bench_arg(const char *prog, int argc, char **argv, int i, long long lo,
          long long hi, long long def)
{
	long long v;
	const char *err;

	if (argc <= i)
		return def;
	if (str_to_ll(argv[i], lo, hi, &v, &err) == -1) {
		fprintf(stderr, "%s: argument %d: %s: %s\n", prog, i, argv[i],
		        err);
		exit(2);
	}
	return v;
}

struct bench_peer {
	const char *prog;
	pid_t pid;
	FILE *to, *from;
	char *line; /* the last line read */
	size_t cap;
	char *ready; /* the text of its ready line */
};

static void
peer_fail(const struct bench_peer *pr, const char *why)
{
	fprintf(stderr, "%s: peer: %s\n", pr->prog, why);
	exit(1);
}

/* The peer's next line, without its newline. */
static char *
peer_line(struct bench_peer *pr)
{
	ssize_t n = getline(&pr->line, &pr->cap, pr->from);

	if (n <= 0)
		peer_fail(pr, "exited without answering");
	if (pr->line[n - 1] == '\n')
		pr->line[n - 1] = '\0';
	return pr->line;
}

struct bench_peer *
bench_peer_start(const char *prog, char *const argv[], int *n_cases,
                 const char **ready)
{
	struct bench_peer *pr = calloc(1, sizeof(*pr));
	int in[2], out[2], n, used = 0;
	char *l;

	if (pr == NULL)
		exit(1);
	pr->prog = prog;
	/* a peer that dies makes our writes fail, not kill us */
	signal(SIGPIPE, SIG_IGN);
	if (pipe(in) == -1 || pipe(out) == -1)
		peer_fail(pr, strerror(errno));
	fflush(NULL);
	pr->pid = fork();
	if (pr->pid == -1)
		peer_fail(pr, strerror(errno));
	if (pr->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: peer: %s: %s\n", prog, argv[0],
		        strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	pr->to = fdopen(in[1], "w");
	pr->from = fdopen(out[0], "r");
	if (pr->to == NULL || pr->from == NULL)
		peer_fail(pr, strerror(errno));
	l = peer_line(pr);
	if (sscanf(l, "ready %d %n", &n, &used) != 1 || used == 0 || n < 1)
		peer_fail(pr, "did not say ready");
	*n_cases = n;
	pr->ready = strdup(l + used);
	if (pr->ready == NULL)
		exit(1);
	if (ready != NULL)
		*ready = pr->ready;
	return pr;
}

void
bench_peer_time(struct bench_peer *pr, int c, int k, double *t)
{
	char *s, *end;
	int i;

	if (fprintf(pr->to, "%d %d\n", c, k) < 0 || fflush(pr->to) == EOF)
		peer_fail(pr, "exited early");
	s = peer_line(pr);
	for (i = 0; i < k; i++) {
		errno = 0;
		t[i] = strtod(s, &end);
		if (end == s || errno != 0 || !(t[i] > 0))
			peer_fail(pr, "malformed times");
		s = end;
	}
	if (strspn(s, " ") != strlen(s))
		peer_fail(pr, "more times than asked for");
}

void
bench_peer_stop(struct bench_peer *pr)
{
	int st;

	if (pr == NULL)
		return;
	fclose(pr->to);
	fclose(pr->from);
	while (waitpid(pr->pid, &st, 0) == -1 && errno == EINTR)
		;
	free(pr->line);
	free(pr->ready);
	free(pr);
}
